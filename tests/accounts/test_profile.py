"""Profile page: display name and cursor colour."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.services import profile_update

pytestmark = pytest.mark.django_db

URL = reverse("profile")


def test_profile_requires_login(client):
    response = client.get(URL)

    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_profile_page_shows_the_form_in_the_layout(user_client, user):
    response = user_client.get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'type="color"' in html
    assert f'value="{user.cursor_color}"' in html
    assert 'id="tokens"' in html
    assert 'class="topbar"' in html


def test_profile_update_saves_name_and_colour(user_client, user):
    response = user_client.post(URL, {"display_name": "  Ally  ", "cursor_color": "#A1B2C3"})

    assert response.status_code == 302
    assert response.url == URL
    user.refresh_from_db()
    assert user.display_name == "Ally"
    assert user.cursor_color == "#a1b2c3"
    assert user.name == "Ally"


def test_empty_display_name_falls_back_to_the_email(user_client, user):
    user_client.post(URL, {"display_name": "", "cursor_color": "#000000"})

    user.refresh_from_db()
    assert user.display_name == ""
    assert user.name == "alice"


@pytest.mark.parametrize("colour", ["red", "#12345", "#1234567", "#12345g", "", "#fff;x"])
def test_invalid_colour_is_refused(user_client, user, colour):
    before = user.cursor_color

    response = user_client.post(URL, {"display_name": "Ally", "cursor_color": colour})

    assert response.status_code == 200
    assert response.context["profile_form"].errors["cursor_color"]
    user.refresh_from_db()
    assert user.cursor_color == before
    assert user.display_name == "Alice"


def test_service_refuses_an_invalid_colour_too(user):
    with pytest.raises(ValidationError):
        profile_update(user=user, display_name="x", cursor_color="blue")
