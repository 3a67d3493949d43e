"""Admin for users (email is the identity, no username) and access tokens (hashes only)."""

from django.contrib import admin, messages
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

    def get_deleted_objects(self, objs, request):
        # Documents are PROTECTed from their owner's deletion; Django lists them, this says
        # what to do. Edits in other documents stay, by "deleted user" (author NULL).
        result = super().get_deleted_objects(objs, request)
        if result[3]:
            messages.error(
                request,
                "These people still own documents. Transfer each document to another member "
                "(Documents → owner, or Share → Transfer ownership) or delete it first. "
                "Their edits stay in every document's history, shown as “deleted user”.",
            )
        return result


@admin.register(AccessToken)
class AccessTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "hint", "created_at", "expires_at", "last_used_at")
    list_select_related = ("user",)
    search_fields = ("name", "user__email", "hint")
    fields = ("user", "name", "hint", "token_hash", "created_at", "expires_at", "last_used_at")
    readonly_fields = ("user", "hint", "token_hash", "created_at", "last_used_at")
    ordering = ("-created_at",)

    def has_add_permission(self, request) -> bool:
        # A token made here could never be shown to anyone: only its hash exists. People
        # create tokens on their profile page, operators with `create_access_token`.
        return False
