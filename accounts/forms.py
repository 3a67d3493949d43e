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
    name = forms.CharField(
        max_length=AccessToken._meta.get_field("name").max_length,
        help_text="What the token is for, e.g. “deploy bot”.",
    )
