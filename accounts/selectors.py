"""Account reads: users by email, a person's access tokens, resolving a raw token."""

from django.db.models import QuerySet

from .models import AccessToken, User, hash_token
from .services import access_token_touch


def user_by_email(*, email: str) -> User | None:
    return User.objects.filter(email__iexact=email.strip()).first()


def access_tokens_for(*, user: User) -> QuerySet[AccessToken]:
    return AccessToken.objects.filter(user=user).order_by("-created_at", "-pk")


def user_for_access_token(raw: str) -> User | None:
    if not raw or not raw.startswith(AccessToken.PREFIX):
        return None
    token = AccessToken.objects.select_related("user").filter(token_hash=hash_token(raw)).first()
    if token is None or not token.user.is_active:
        return None
    access_token_touch(token)
    return token.user
