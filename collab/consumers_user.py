"""The per-user socket (/ws/me): pushes what changed for me (shared, renamed, removed) as JSON."""

import json
import logging

from channels.generic.websocket import AsyncWebsocketConsumer

from accounts.socket_sessions import connection_matches, credential_key

from . import audit
from .notifications import user_group
from .rooms import CLOSE_UNAUTHENTICATED

logger = logging.getLogger(__name__)


class UserEventsConsumer(AsyncWebsocketConsumer):
    group = None
    user_id: int | None = None
    # The session or personal access token the socket was opened with (credential_key).
    session_key: str | None = None

    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        if self.scope.get("token_error") or user is None or not user.is_authenticated:
            self._audit_refusal("not signed in")
            await self.close(code=CLOSE_UNAUTHENTICATED, reason="not signed in")
            return
        if self.scope.get("token_document_id") is not None:
            # A connect token is for one document's socket, not for someone's events.
            self._audit_refusal("token not valid here")
            await self.close(code=CLOSE_UNAUTHENTICATED, reason="token not valid here")
            return
        self.user_id = user.pk
        self.session_key = credential_key(self.scope)
        self.group = user_group(user.pk)
        try:
            await self.channel_layer.group_add(self.group, self.channel_name)
        except Exception:
            # Redis down: the dashboard still works, only without live updates; the page
            # reconnects with backoff.
            logger.warning("could not subscribe user %s to events", user.pk, exc_info=True)
            await self.close(code=1011, reason="events unavailable")
            self.group = None

    def _audit_refusal(self, reason: str) -> None:
        audit.socket_refused_soon(
            scope=self.scope,
            document_id=None,
            reason=reason,
            code=CLOSE_UNAUTHENTICATED,
            socket="user events",
        )

    async def disconnect(self, code) -> None:
        if self.group:
            try:
                await self.channel_layer.group_discard(self.group, self.channel_name)
            except Exception:
                logger.debug("group_discard failed", exc_info=True)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        # Clients only listen; a ping keeps proxies from closing an idle socket.
        if text_data == "ping":
            await self.send(text_data="pong")

    async def sessions_ended(self, message) -> None:
        """Sign-out, an ended session, a password change or deactivation (accounts)."""
        if connection_matches(message, user_id=self.user_id, session_key=self.session_key):
            await self.close(code=CLOSE_UNAUTHENTICATED, reason="session ended")

    async def user_event(self, message) -> None:
        await self.send(text_data=json.dumps(message["event"], separators=(",", ":")))
