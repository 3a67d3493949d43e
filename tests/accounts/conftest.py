"""Fixtures for account tests: verified users and a clean cache for allauth's rate limits."""

import pytest

from tests.conftest import clear_cache

PASSWORD = "correct-horse-battery-staple"

__all__ = ["PASSWORD", "clear_cache"]


@pytest.fixture(autouse=True)
def _fresh_cache(fresh_cache):
    """Every account test starts with no rate-limit counters (tests/conftest.py)."""


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
