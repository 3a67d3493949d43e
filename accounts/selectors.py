"""Account reads: resolving a raw access token to its user."""

from .models import AccessToken, User, hash_token
from .services import access_token_touch


def user_for_access_token(raw: str) -> User | None:
    if not raw or not raw.startswith(AccessToken.PREFIX):
        return None
    token = (
        AccessToken.objects.select_related("user").filter(token_hash=hash_token(raw)).first()
    )
    if token is None or not token.user.is_active:
        return None
    access_token_touch(token)
    return token.user
