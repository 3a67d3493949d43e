"""Forms for the profile page: display name and cursor colour, and naming a new access token."""

from django import forms

from .models import AccessToken, User, validate_cursor_color


class ProfileForm(forms.Form):
    display_name = forms.CharField(
        max_length=User._meta.get_field("display_name").max_length,
        required=False,
        help_text="Shown to collaborators. Leave empty to use the start of your email address.",
    )
    cursor_color = forms.CharField(
        label="Cursor colour",
        validators=[validate_cursor_color],
        widget=forms.TextInput(attrs={"type": "color"}),
    )

    def clean_cursor_color(self) -> str:
        return self.cleaned_data["cursor_color"].lower()


class AccessTokenCreateForm(forms.Form):
    EXPIRY_CHOICES = [
        ("7", "7 days"),
        ("30", "30 days"),
        ("90", "90 days"),
        ("365", "1 year"),
        ("never", "Never (until revoked)"),
    ]
    DEFAULT_EXPIRY = "30"

    name = forms.CharField(
        max_length=AccessToken._meta.get_field("name").max_length,
        help_text="What the token is for, e.g. “deploy bot”.",
    )
    # Not required: a client that posts only a name (older pages, scripts) gets the default.
    expires = forms.ChoiceField(
        label="Expires after", choices=EXPIRY_CHOICES, initial=DEFAULT_EXPIRY, required=False
    )

    def clean_expires(self) -> int | None:
        """Days until the token expires, or None for a token valid until revoked."""
        value = self.cleaned_data["expires"] or self.DEFAULT_EXPIRY
        return None if value == "never" else int(value)
