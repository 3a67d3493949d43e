"""The per-user socket (/ws/me): pushes what changed for me (shared, renamed, removed) as JSON."""

import json
import logging

from channels.generic.websocket import AsyncWebsocketConsumer

from .notifications import user_group
from .rooms import CLOSE_UNAUTHENTICATED

logger = logging.getLogger(__name__)


class UserEventsConsumer(AsyncWebsocketConsumer):
    group = None

    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        if self.scope.get("token_error") or user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED, reason="not signed in")
            return
        if self.scope.get("token_document_id") is not None:
            # A connect token is for one document's socket, not for someone's events.
            await self.close(code=CLOSE_UNAUTHENTICATED, reason="token not valid here")
            return
        self.group = user_group(user.pk)
        try:
            await self.channel_layer.group_add(self.group, self.channel_name)
        except Exception:
            # Redis down: the dashboard still works, only without live updates; the page
            # reconnects with backoff.
            logger.warning("could not subscribe user %s to events", user.pk, exc_info=True)
            await self.close(code=1011, reason="events unavailable")
            self.group = None

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

    async def user_event(self, message) -> None:
        await self.send(text_data=json.dumps(message["event"], separators=(",", ":")))
