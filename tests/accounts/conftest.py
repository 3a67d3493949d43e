"""Fixtures for account tests: verified users and a clean cache for allauth's rate limits."""

import pytest
from allauth.account.models import EmailAddress
from django.core.cache import cache

from accounts.models import User

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def _clear_cache():
    # allauth keeps rate-limit counters in the cache; one test's attempts must not
    # throttle the next.
    cache.clear()
    yield
    cache.clear()


def make_user(email: str, **extra) -> User:
    user = User.objects.create_user(email=email, password=PASSWORD, **extra)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


@pytest.fixture
def user(db) -> User:
    return make_user("alice@example.com", display_name="Alice")


@pytest.fixture
def other_user(db) -> User:
    return make_user("bob@example.com")


@pytest.fixture
def user_client(client, user):
    client.force_login(user)
    return client
