"""Two-factor sign-in: enrolling an authenticator app, then codes and recovery codes."""

import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.test import Client

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db


def totp_code(secret: str, step_offset: int = 0) -> str:
    """What an authenticator app shows now (or step_offset periods from now)."""
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30 + step_offset))


def sign_in(email: str, password: str = PASSWORD) -> tuple[Client, object]:
    client = Client()
    response = client.post("/accounts/login/", {"login": email, "password": password})
    return client, response


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def enrolled(user, settings):
    """The user with TOTP active (enrolled through the pages); returns the secret."""
    # One period either side, so sign-in can use a code other than the one just used to
    # enrol (allauth refuses a code twice).
    settings.MFA_TOTP_TOLERANCE = 1
    client, response = sign_in(user.email)
    assert response.status_code == 302 and signed_in(client)
    page = client.get("/accounts/2fa/totp/activate/")
    # Enrolling asks for the password again (allauth's reauthentication).
    assert page.status_code == 302 and page["Location"].startswith("/accounts/reauthenticate/")
    response = client.post(page["Location"], {"password": PASSWORD})
    assert response.status_code == 302
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    secret = client.session["mfa.totp.secret"]
    assert secret in page.content.decode()  # shown for manual entry beside the QR code
    response = client.post("/accounts/2fa/totp/activate/", {"code": totp_code(secret)})
    assert response.status_code == 302, response.content[:400]
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    return secret


def test_enrolment_refuses_a_wrong_code(user):
    client, _ = sign_in(user.email)
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    client.get("/accounts/2fa/totp/activate/")
    secret = client.session["mfa.totp.secret"]
    wrong = f"{(int(totp_code(secret)) + 1) % 1_000_000:06d}"
    response = client.post("/accounts/2fa/totp/activate/", {"code": wrong})
    assert response.status_code == 200
    assert not Authenticator.objects.filter(user=user).exists()


def test_password_alone_no_longer_signs_in(user, enrolled):
    client, response = sign_in(user.email)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert not signed_in(client)
    assert client.get("/accounts/profile/").status_code == 302  # still anonymous

    wrong = f"{(int(totp_code(enrolled, 1)) + 1) % 1_000_000:06d}"
    response = client.post("/accounts/2fa/authenticate/", {"code": wrong})
    assert response.status_code == 200 and not signed_in(client)

    response = client.post("/accounts/2fa/authenticate/", {"code": totp_code(enrolled, 1)})
    assert response.status_code == 302 and signed_in(client)
    assert client.get("/accounts/profile/").status_code == 200


def test_recovery_code_works_once(user, enrolled):
    codes = RecoveryCodes(
        Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    ).get_unused_codes()
    assert len(codes) == 10

    client, _ = sign_in(user.email)
    response = client.post("/accounts/2fa/authenticate/", {"code": codes[0]})
    assert response.status_code == 302 and signed_in(client)

    again, _ = sign_in(user.email)
    response = again.post("/accounts/2fa/authenticate/", {"code": codes[0]})
    assert response.status_code == 200 and not signed_in(again)
    response = again.post("/accounts/2fa/authenticate/", {"code": codes[1]})
    assert response.status_code == 302 and signed_in(again)


def test_profile_links_two_factor_and_sessions(user_client):
    page = user_client.get("/accounts/profile/").content.decode()
    assert 'href="/accounts/2fa/"' in page
    assert 'href="/accounts/sessions/"' in page


def test_allauth_security_pages_use_the_site_layout(user_client):
    for url in ("/accounts/2fa/", "/accounts/sessions/"):
        page = user_client.get(url)
        assert page.status_code == 200, url
        html = page.content.decode()
        assert 'class="topbar"' in html and 'class="auth-card"' in html, url
