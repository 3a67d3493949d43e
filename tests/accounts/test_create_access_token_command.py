"""`manage.py create_access_token`: prints just the raw token; --create-user vouches for EMAIL."""

from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from accounts.models import AccessToken, User, hash_token

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_access_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def works(raw: str, user: User) -> bool:
    response = Client().get(reverse("profile"), headers={"Authorization": f"Bearer {raw}"})
    return response.status_code == 200 and response.wsgi_request.user == user


def test_token_for_an_existing_user(user):
    out, err = run("ALICE@example.com", "--name", "ci")

    raw = out.strip()
    assert out == raw + "\n"
    assert err == ""
    assert raw.startswith(AccessToken.PREFIX)
    token = AccessToken.objects.get()
    assert token.user == user
    assert token.name == "ci"
    assert token.token_hash == hash_token(raw)
    assert works(raw, user)


def test_unknown_email_without_create_user_is_an_error(db):
    with pytest.raises(CommandError, match=r"nobody@example\.com"):
        run("nobody@example.com")

    assert not User.objects.exists()
    assert not AccessToken.objects.exists()


def test_create_user_makes_a_verified_passwordless_user(db, monkeypatch):
    accepted = []
    monkeypatch.setattr(
        "collab.services.invitations_accept_for",
        lambda *, user, email, **_: accepted.append((user, email)) or 0,
    )

    out, _ = run("New.Person@Example.com", "--create-user")

    raw = out.strip()
    assert out == raw + "\n"
    user = User.objects.get()
    assert user.email == "new.person@example.com"
    assert not user.has_usable_password()
    address = EmailAddress.objects.get(user=user)
    assert (address.email, address.verified, address.primary) == (user.email, True, True)
    assert accepted == [(user, user.email)]
    assert AccessToken.objects.get().name == "cli"
    assert works(raw, user)


def test_create_user_with_a_known_email_reuses_the_user(user):
    out, _ = run(user.email, "--create-user")

    assert User.objects.count() == 1
    assert works(out.strip(), user)


def test_inactive_user_gets_no_token(user):
    user.is_active = False
    user.save()

    with pytest.raises(CommandError, match="inactive"):
        run(user.email)
    assert not AccessToken.objects.exists()
