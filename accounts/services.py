"""Account writes: users created by an operator, access tokens, profiles."""

import secrets
from datetime import timedelta

from allauth.account import signals as allauth_signals
from allauth.account.models import EmailAddress
from django.db import transaction
from django.utils import timezone

from collab import audit

from .models import AccessToken, User, hash_token, validate_cursor_color
from .socket_sessions import sessions_ended_send, token_key

# Longest lifetime a token may be given, in days (about five years).
MAX_TOKEN_DAYS = 5 * 366


def user_create_verified(*, email: str) -> User:
    """Create a user whose address an operator vouches for: verified, primary, no password.

    The person signs in after setting a password through the reset flow; scripts use
    access tokens.
    """
    email = User.objects.normalize_email(email).lower()
    with transaction.atomic():
        user = User.objects.create_user(email=email, password=None)
        email_address = EmailAddress.objects.create(
            user=user, email=email, verified=True, primary=True
        )
        # The signal allauth sends when an address is confirmed (its admin sends it too when
        # marking one verified), so pending invitations for the address are accepted now.
        allauth_signals.email_confirmed.send(
            sender=EmailAddress, request=None, email_address=email_address
        )
    return user


def access_token_create(
    *, user: User, name: str, expires_in_days: int | None = None, request=None
) -> tuple[AccessToken, str]:
    """Create a token for user; returns the row and the raw token (shown once, never stored).

    expires_in_days None makes a token valid until revoked.
    """
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
        raise ValueError(f"expires_in_days must be between 1 and {MAX_TOKEN_DAYS}")
    raw = AccessToken.PREFIX + secrets.token_urlsafe(32)
    expires_at = None
    if expires_in_days is not None:
        expires_at = timezone.now() + timedelta(days=expires_in_days)
    token = AccessToken.objects.create(
        user=user,
        name=name.strip() or "token",
        token_hash=hash_token(raw),
        hint=raw[:12],
        expires_at=expires_at,
    )
    audit.record(
        "token.created",
        actor=user,
        request=request,
        token_id=token.pk,
        name=token.name,
        hint=token.hint,
        expires_at=expires_at.isoformat() if expires_at else None,
    )
    return token, raw


def access_token_revoke(*, user: User, token_id: int, request=None) -> bool:
    deleted, _ = AccessToken.objects.filter(user=user, pk=token_id).delete()
    if deleted:
        audit.record("token.revoked", actor=user, request=request, token_id=token_id)
        # Sockets opened with the token close too (accounts/socket_sessions.py).
        sessions_ended_send(user_id=user.pk, session_keys=[token_key(token_id)])
    return bool(deleted)


def profile_update(*, user: User, display_name: str, cursor_color: str) -> User:
    # Checked here too, not only in the form: full_clean below does not know the rule.
    validate_cursor_color(cursor_color)
    user.display_name = display_name.strip()[:80]
    user.cursor_color = cursor_color.lower()
    user.full_clean(exclude=["password"])
    user.save(update_fields=["display_name", "cursor_color"])
    return user


def access_token_touch(token: AccessToken) -> None:
    # Only write when the stored time is stale, so a busy bot doesn't write on every request.
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        AccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
