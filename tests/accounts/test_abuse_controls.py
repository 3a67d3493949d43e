"""Enumeration prevention on signup and password reset; login rate limits in the shared cache."""

import pytest
from django.core import mail
from django.core.cache import caches

from accounts.models import User

from .conftest import PASSWORD, clear_cache

pytestmark = pytest.mark.django_db


def test_password_reset_answers_the_same_for_unknown_addresses(client, user):
    known = client.post("/accounts/password/reset/", {"email": user.email})
    unknown = client.post("/accounts/password/reset/", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    # Each address hears about it privately: a reset link, or "no account here".
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@example.com", "nobody@example.com"]
    reset_mail = next(m for m in mail.outbox if m.to == ["alice@example.com"])
    assert "/accounts/password/reset/key/" in reset_mail.body
    unknown_mail = next(m for m in mail.outbox if m.to == ["nobody@example.com"])
    assert "/accounts/password/reset/key/" not in unknown_mail.body


def test_signup_answers_the_same_for_a_taken_address(client, user):
    fresh = {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD}
    taken = {"email": user.email, "password1": PASSWORD, "password2": PASSWORD}
    first = client.post("/accounts/signup/", fresh)
    client.logout()
    second = client.post("/accounts/signup/", taken)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == "/accounts/confirm-email/"
    assert User.objects.filter(email=user.email).count() == 1
    taken_mail = next(m for m in mail.outbox if m.to == [user.email])
    assert "already" in taken_mail.body.lower()


def _login(client, password: str):
    return client.post("/accounts/login/", {"login": "alice@example.com", "password": password})


def test_failed_logins_trip_the_limit_kept_in_the_configured_cache(client, user):
    for _ in range(5):
        response = _login(client, "wrong password")
        assert response.status_code == 200
        assert "_auth_user_id" not in client.session
    # The sixth try is refused even with the right password.
    response = _login(client, PASSWORD)
    assert "_auth_user_id" not in client.session
    assert "too many failed login attempts" in response.content.decode().lower()

    # The counters live in the configured cache (Redis when REDIS_URL is set): forgetting
    # them there is what lets the right password through again.
    cache = caches["default"]
    assert type(cache).__name__ == ("RedisCache" if _redis() else "LocMemCache")
    clear_cache()
    response = _login(client, PASSWORD)
    assert response.status_code == 302 and "_auth_user_id" in client.session


def _redis() -> bool:
    import os

    return bool(os.environ.get("REDIS_URL"))
