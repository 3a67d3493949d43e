"""Admin for users (email is the identity, no username) and access tokens (hashes only)."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from .models import AccessToken, User


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)

    def clean_email(self) -> str:
        # Stored lower-case everywhere (the manager and allauth agree), so compare that way.
        return User.objects.normalize_email(self.cleaned_data["email"]).lower()


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("display_name", "cursor_color", "first_name", "last_name")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "usable_password", "password1", "password2"),
            },
        ),
    )
    list_display = ("email", "display_name", "is_staff", "date_joined")
    search_fields = ("email", "display_name")
    ordering = ("email",)


@admin.register(AccessToken)
class AccessTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "hint", "created_at", "last_used_at")
    list_select_related = ("user",)
    search_fields = ("name", "user__email", "hint")
    fields = ("user", "name", "hint", "token_hash", "created_at", "last_used_at")
    readonly_fields = ("user", "hint", "token_hash", "created_at", "last_used_at")
    ordering = ("-created_at",)

    def has_add_permission(self, request) -> bool:
        # A token made here could never be shown to anyone: only its hash exists. People
        # create tokens on their profile page, operators with `create_access_token`.
        return False
