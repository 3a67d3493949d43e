"""Personal access tokens: create (shown once, stored hashed), bearer auth, revoke."""

import hashlib

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AccessToken

pytestmark = pytest.mark.django_db

CREATE = reverse("access_token_create")
PROFILE = reverse("profile")
HTMX = {"HX-Request": "true"}


def bearer(raw: str) -> dict:
    return {"Authorization": f"Bearer {raw}"}


def create(client, name="deploy bot", **kwargs):
    response = client.post(CREATE, {"name": name}, **kwargs)
    raw = response.context.get("raw_token") if response.context else None
    return response, raw


def test_create_shows_the_raw_token_once_and_stores_only_its_hash(user_client, user):
    response, raw = create(user_client)

    assert response.status_code == 200
    assert raw.startswith(AccessToken.PREFIX)
    html = response.content.decode()
    assert raw in html
    assert "will not be shown again" in html
    assert 'class="topbar"' in html  # without htmx: the full page
    assert "no-store" in response["Cache-Control"]

    token = AccessToken.objects.get(user=user)
    assert token.name == "deploy bot"
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert token.hint == raw[:12]
    stored = [str(getattr(token, f.attname)) for f in AccessToken._meta.concrete_fields]
    assert not any(raw in value for value in stored)

    later = user_client.get(PROFILE).content.decode()
    assert raw not in later
    assert f"{token.hint}…" in later
    assert "deploy bot" in later


def test_create_with_htmx_returns_the_token_partial(user_client):
    response, raw = create(user_client, headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="tokens"' in html
    assert "<html" not in html
    assert raw in html


def test_create_without_a_name_is_refused(user_client, user):
    response, raw = create(user_client, name="  ", headers=HTMX)

    assert response.status_code == 200
    assert raw is None
    assert response.context["token_form"].errors["name"]
    assert not AccessToken.objects.exists()


def test_create_requires_login(client):
    response = client.post(CREATE, {"name": "x"})

    assert response.status_code == 302
    assert not AccessToken.objects.exists()


def test_bearer_token_authenticates_as_its_user(client, user_client, user):
    _, raw = create(user_client)
    anonymous = Client()

    response = anonymous.get(PROFILE, headers=bearer(raw))

    assert response.status_code == 200
    assert response.wsgi_request.user == user
    assert user.email in response.content.decode()
    assert AccessToken.objects.get(user=user).last_used_at is not None


def test_bearer_requests_skip_csrf(user_client, user):
    _, raw = create(user_client)
    strict = Client(enforce_csrf_checks=True)

    response = strict.post(
        PROFILE, {"display_name": "Bot", "cursor_color": "#123456"}, headers=bearer(raw)
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.display_name == "Bot"


@pytest.mark.parametrize("raw", ["nonsense", "cpat_not-a-real-token", ""])
def test_invalid_bearer_token_is_a_401_json(client, user, raw):
    response = client.get(PROFILE, headers=bearer(raw))

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "invalid_token"


def test_token_of_an_inactive_user_is_refused(user_client, user):
    _, raw = create(user_client)
    user.is_active = False
    user.save()

    assert Client().get(PROFILE, headers=bearer(raw)).status_code == 401


def test_revoke_without_htmx_redirects_and_the_token_stops_working(user_client, user):
    _, raw = create(user_client)
    token = AccessToken.objects.get(user=user)

    response = user_client.post(reverse("access_token_revoke", args=[token.pk]))

    assert response.status_code == 302
    assert response.url == PROFILE
    assert not AccessToken.objects.exists()
    assert Client().get(PROFILE, headers=bearer(raw)).status_code == 401


def test_revoke_with_htmx_returns_the_partial(user_client, user):
    create(user_client, name="first")
    create(user_client, name="second")
    first = AccessToken.objects.get(name="first")

    response = user_client.post(reverse("access_token_revoke", args=[first.pk]), headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert "second" in html
    assert "first" not in html
    assert list(AccessToken.objects.values_list("name", flat=True)) == ["second"]


def test_another_user_cannot_revoke_my_token(user_client, user, other_user):
    create(user_client)
    token = AccessToken.objects.get(user=user)
    intruder = Client()
    intruder.force_login(other_user)

    response = intruder.post(reverse("access_token_revoke", args=[token.pk]))

    assert response.status_code == 404
    assert AccessToken.objects.filter(pk=token.pk).exists()


def test_revoke_only_accepts_post(user_client, user):
    create(user_client)
    token = AccessToken.objects.get(user=user)

    response = user_client.get(reverse("access_token_revoke", args=[token.pk]))

    assert response.status_code == 405
    assert AccessToken.objects.exists()
