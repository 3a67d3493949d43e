"""Closing the live sockets of ended sessions: the message every process acts on.

A signed-out, ended or password-changed session, or a deactivated account, must not keep
editing through a socket opened before. Document sockets have no channel of their own
(rooms hold one per document), so every room joins SESSIONS_GROUP and closes its matching
connections; the per-user socket (/ws/me) hears the same message through its user group.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

# One group for the whole site: session ends are rare, and a room cannot know in advance
# which users' sessions it will have to drop.
SESSIONS_GROUP = "accounts.sessions-ended"
MESSAGE_TYPE = "sessions.ended"


def token_key(token_id: int) -> str:
    """The key a socket opened with a personal access token carries instead of a session."""
    return f"token:{token_id}"


def credential_key(scope) -> str | None:
    """What a socket was opened with, so ending it closes the socket: the session key, or
    token_key() for a personal access token; None for a (short-lived) connect token."""
    if scope.get("auth_via_token"):
        token_id = scope.get("access_token_id")
        return token_key(token_id) if token_id is not None else None
    return getattr(scope.get("session"), "session_key", None)


def sessions_ended_message(*, user_id: int, session_keys: list[str] | None) -> dict:
    """session_keys (session keys or token_key()s) None means every socket of the user."""
    return {
        "type": MESSAGE_TYPE,
        "user_id": int(user_id),
        "session_keys": None if session_keys is None else sorted(set(session_keys)),
    }


def connection_matches(message: dict, *, user_id: int | None, session_key: str | None) -> bool:
    """Whether a connection of user_id opened with session_key (None: a token) must close."""
    if user_id is None or message.get("user_id") != user_id:
        return False
    keys = message.get("session_keys")
    return keys is None or (session_key is not None and session_key in keys)


def sessions_ended_send(*, user_id: int, session_keys: list[str] | None = None) -> None:
    """Close, in every process, the user's sockets of these sessions (None: all of them),
    once the current transaction (if any) has committed."""
    if session_keys is not None:
        session_keys = [key for key in session_keys if key]
        if not session_keys:
            return
    message = sessions_ended_message(user_id=user_id, session_keys=session_keys)

    def send() -> None:
        from collab.notifications import user_group

        layer = get_channel_layer()
        if layer is None:
            return
        for group in (SESSIONS_GROUP, user_group(user_id)):
            try:
                async_to_sync(layer.group_send)(group, dict(message))
            except Exception:
                # The session itself is gone either way; an open socket stays until it
                # reconnects (and is then refused). Logged loudly: a short security gap.
                logger.exception("could not close the sockets of user %s", user_id)

    transaction.on_commit(send)
