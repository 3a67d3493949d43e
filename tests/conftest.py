"""Shared fixtures: users with verified addresses, logged-in clients, and services in CI."""

import os

import pytest


def clear_cache() -> None:
    """Forget this process's cache keys (allauth's rate-limit counters). In a shared Redis
    only those: Django's RedisCache.clear() is FLUSHDB, which would also wipe other test
    processes' counters mid-test and the channel layer's keys."""
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    cache = caches["default"]
    if isinstance(cache, RedisCache):
        client = cache._cache.get_client(None, write=True)
        keys = list(client.scan_iter(match=f"{cache.key_prefix}:*"))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


@pytest.fixture
def fresh_cache():
    """allauth keeps rate-limit counters in the cache: one test's attempts must not throttle
    the next."""
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def make_user(db):
    from allauth.account.models import EmailAddress

    from accounts.models import User

    def make(email: str = "ann@example.com", password: str = "correct horse battery", **extra):
        user = User.objects.create_user(email=email, password=password, **extra)
        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        return user

    return make


@pytest.fixture
def ann(make_user):
    return make_user("ann@example.com", display_name="Ann")


@pytest.fixture
def bob(make_user):
    return make_user("bob@example.com", display_name="Bob")


def pytest_sessionstart(session):
    # In CI a missing service must fail the run, never skip it.
    if os.environ.get("CI") and not (
        os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")
    ):
        raise pytest.UsageError("CI must set DATABASE_URL and REDIS_URL")
