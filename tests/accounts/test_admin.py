"""Admin: email-based user admin and a token admin that never exposes raw tokens."""

import pytest
from django.urls import reverse

from accounts.models import User
from accounts.services import access_token_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, user):
    superuser = User.objects.create_superuser(email="root@example.com", password="x")
    client.force_login(superuser)
    return client


def test_user_changelist_and_search(admin_client, user):
    response = admin_client.get(reverse("admin:accounts_user_changelist"), {"q": "alice@"})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [user]
    assert user.email in response.content.decode()


def test_user_add_and_change_pages_load(admin_client, user):
    assert admin_client.get(reverse("admin:accounts_user_add")).status_code == 200
    response = admin_client.get(reverse("admin:accounts_user_change", args=[user.pk]))
    assert response.status_code == 200
    assert "username" not in response.context["adminform"].form.fields


def test_admin_can_add_a_user_by_email(admin_client):
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {"email": "Carol@Example.com", "usable_password": "false"},
    )

    assert response.status_code == 302
    carol = User.objects.get(email="carol@example.com")
    assert not carol.has_usable_password()


def test_token_changelist_shows_hints_not_raw_tokens(admin_client, user):
    token, raw = access_token_create(user=user, name="deploy")

    response = admin_client.get(reverse("admin:accounts_accesstoken_changelist"))
    assert response.status_code == 200
    assert token.hint in response.content.decode()
    assert raw not in response.content.decode()

    change = admin_client.get(reverse("admin:accounts_accesstoken_change", args=[token.pk]))
    assert change.status_code == 200
    assert raw not in change.content.decode()
    assert "token_hash" not in change.context["adminform"].form.fields  # read-only


def test_tokens_cannot_be_added_in_the_admin(admin_client):
    assert admin_client.get(reverse("admin:accounts_accesstoken_add")).status_code == 403
