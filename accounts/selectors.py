"""Account reads: users by email, a person's access tokens, resolving a raw token or session."""

from importlib import import_module

from allauth.core.internal.sessionkit import get_session_user
from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from .models import AccessToken, User, hash_token
from .services import access_token_touch


def user_by_email(*, email: str) -> User | None:
    return User.objects.filter(email__iexact=email.strip()).first()


def access_tokens_for(*, user: User) -> QuerySet[AccessToken]:
    return AccessToken.objects.filter(user=user).order_by("-created_at", "-pk")


def user_for_access_token(raw: str) -> User | None:
    token = access_token_for(raw)
    return token.user if token else None


def access_token_for(raw: str) -> AccessToken | None:
    """The usable token (unexpired, of an active user) for a raw value, marked as used."""
    if not raw or not raw.startswith(AccessToken.PREFIX):
        return None
    unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    token = (
        AccessToken.objects.select_related("user")
        .filter(unexpired, token_hash=hash_token(raw))
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    access_token_touch(token)
    return token


def session_user_matches(session_key: str, user_id: int) -> bool:
    """Whether the session still exists and still signs in user_id (a changed password
    or a deactivated account invalidates it, as on the next HTTP request)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = get_session_user(store)
    return user is not None and user.pk == user_id
