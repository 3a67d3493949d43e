"""Account writes: issuing and revoking personal access tokens, updating profiles."""

import secrets

from django.utils import timezone

from .models import AccessToken, User, hash_token


def access_token_create(*, user: User, name: str) -> tuple[AccessToken, str]:
    """Create a token for user; returns the row and the raw token (shown once, never stored)."""
    raw = AccessToken.PREFIX + secrets.token_urlsafe(32)
    token = AccessToken.objects.create(
        user=user, name=name or "token", token_hash=hash_token(raw), hint=raw[:12]
    )
    return token, raw


def access_token_revoke(*, user: User, token_id: int) -> bool:
    deleted, _ = AccessToken.objects.filter(user=user, pk=token_id).delete()
    return bool(deleted)


def profile_update(*, user: User, display_name: str, cursor_color: str) -> User:
    user.display_name = display_name.strip()[:80]
    user.cursor_color = cursor_color
    user.full_clean(exclude=["password"])
    user.save(update_fields=["display_name", "cursor_color"])
    return user


def access_token_touch(token: AccessToken) -> None:
    # Only write when the stored time is stale, so a busy bot doesn't write on every request.
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        AccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
