"""allauth flows in our layout: signup with mandatory verification, login, password reset."""

import re
from urllib.parse import urlsplit

import pytest
from allauth.account.models import EmailAddress
from django.urls import reverse

from accounts.models import User

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db

LINK = re.compile(r"https?://\S+")


def link_in(message, fragment: str) -> str:
    for url in LINK.findall(message.body):
        if fragment in url:
            return urlsplit(url).path
    raise AssertionError(f"no link containing {fragment!r} in:\n{message.body}")


def signup(client, email: str):
    return client.post(
        reverse("account_signup"),
        {"email": email, "password1": PASSWORD, "password2": PASSWORD},
    )


def login(client, email: str, password: str = PASSWORD):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def logged_in_user_id(client):
    return client.session.get("_auth_user_id")


@pytest.mark.parametrize("url_name", ["account_login", "account_signup", "account_reset_password"])
def test_allauth_pages_render_inside_the_site_layout(client, url_name):
    response = client.get(reverse(url_name))

    assert response.status_code == 200
    names = [t.name for t in response.templates]
    assert "base.html" in names, (
        "allauth's pages do not use frontend's base.html: accounts/templates/allauth/layouts/"
        "base.html is shadowed by allauth's own copy. List 'accounts' before 'allauth' in "
        "INSTALLED_APPS so its template overrides win."
    )
    html = response.content.decode()
    assert 'class="topbar"' in html
    assert "· Collab</title>" in html


@pytest.mark.parametrize("url_name", ["account_email", "account_change_password"])
def test_account_management_pages_render_inside_the_site_layout(user_client, url_name):
    response = user_client.get(reverse(url_name))

    assert response.status_code == 200
    assert "base.html" in [t.name for t in response.templates]


def test_signup_sends_verification_and_the_link_verifies_then_login_works(client, mailoutbox):
    response = signup(client, "new@example.com")

    assert response.status_code == 302
    assert response.url == reverse("account_email_verification_sent")
    assert logged_in_user_id(client) is None
    user = User.objects.get(email="new@example.com")
    assert not EmailAddress.objects.get(user=user).verified
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["new@example.com"]

    confirm_url = link_in(mailoutbox[0], "/accounts/confirm-email/")
    page = client.get(confirm_url)
    assert page.status_code == 200
    assert b"new@example.com" in page.content
    assert client.post(confirm_url).status_code == 302
    assert EmailAddress.objects.get(user=user).verified

    client.logout()
    response = login(client, "new@example.com")
    assert response.status_code == 302
    assert response.url == "/"
    assert logged_in_user_id(client) == str(user.pk)


def test_verification_sent_page_uses_the_layout(client, mailoutbox):
    signup(client, "new@example.com")

    response = client.get(reverse("account_email_verification_sent"))

    assert response.status_code == 200
    assert "base.html" in [t.name for t in response.templates]


def test_login_is_refused_until_the_email_is_verified(client, mailoutbox):
    signup(client, "new@example.com")
    client.logout()

    response = login(client, "new@example.com")

    assert response.status_code == 302
    assert response.url == reverse("account_email_verification_sent")
    assert logged_in_user_id(client) is None
    assert client.get(reverse("profile")).status_code == 302


def test_wrong_password_is_refused(client, user):
    response = login(client, user.email, "not-the-password")

    assert response.status_code == 200
    assert logged_in_user_id(client) is None


def test_password_reset_sends_an_email_whose_link_sets_a_new_password(client, user, mailoutbox):
    response = client.post(reverse("account_reset_password"), {"email": user.email})

    assert response.status_code == 302
    assert response.url == reverse("account_reset_password_done")
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [user.email]

    key_url = link_in(mailoutbox[0], "/accounts/password/reset/key/")
    # allauth moves the key into the session and redirects to a key-less URL.
    form_url = client.get(key_url, follow=True).redirect_chain[-1][0]
    new_password = "another-long-passphrase-42"
    response = client.post(form_url, {"password1": new_password, "password2": new_password})
    assert response.status_code == 302

    client.logout()
    login(client, user.email, new_password)
    assert logged_in_user_id(client) == str(user.pk)
