"""Fixtures for account tests: verified users and a clean cache for allauth's rate limits."""

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

PASSWORD = "correct-horse-battery-staple"


def clear_cache() -> None:
    """Forget this process's cache keys; in a shared Redis, only those (FLUSHDB would wipe
    the channel layer and other test processes' keys)."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        client = cache._cache.get_client(None, write=True)
        keys = list(client.scan_iter(match=f"{cache.key_prefix}:*"))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def _clear_cache():
    # allauth keeps rate-limit counters in the cache; one test's attempts must not
    # throttle the next.
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def user(make_user):
    return make_user("alice@example.com", password=PASSWORD, display_name="Alice")


@pytest.fixture
def other_user(make_user):
    return make_user("bob@example.com", password=PASSWORD)


@pytest.fixture
def user_client(client, user):
    client.force_login(user)
    return client
