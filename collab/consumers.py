"""The document socket: authenticate, authorize, parse a frame, hand it to the room."""

import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from . import protocol
from .permissions import can_read, can_write
from .rooms import (
    CLOSE_FORBIDDEN,
    CLOSE_MALFORMED,
    CLOSE_SERVER_ERROR,
    CLOSE_TOO_BIG,
    CLOSE_UNAUTHENTICATED,
    ApplyFailed,
    registry,
)
from .selectors import role_of
from .update_guard import UpdateRejected

logger = logging.getLogger(__name__)


class DocumentConsumer(AsyncWebsocketConsumer):
    # No per-connection channel: the room holds this process's one channel per document,
    # so a connection never talks to Redis itself (and a Redis outage can't kill it).
    channel_layer_alias = "collab.sockets-have-no-channel"
    room = None
    role: str | None = None
    user_id: int | None = None
    user_name = ""
    user_color = ""
    dropped_writes = 0

    async def dispatch(self, message) -> None:
        # channels runs close_old_connections() in the shared database thread before
        # every message; for frames (which never touch the database here) that would
        # queue each keystroke behind the room's current write and serialise the
        # socket with the store. Frames skip it; connect/disconnect keep it.
        if message["type"] == "websocket.receive":
            await self.websocket_receive(message)
        else:
            await super().dispatch(message)

    async def connect(self) -> None:
        # Accept first: Daphne turns a close before accept() into a bare HTTP 403, and the
        # client deserves a close code saying why.
        await self.accept()
        document_id = str(self.scope["url_route"]["kwargs"]["document_id"])
        user = self.scope.get("user")
        if self.scope.get("token_error") or user is None or not user.is_authenticated:
            await self._refuse(CLOSE_UNAUTHENTICATED, "not signed in")
            return
        token_document = self.scope.get("token_document_id")
        if token_document is not None and token_document != document_id:
            await self._refuse(CLOSE_FORBIDDEN, "token is for another document")
            return
        role = await database_sync_to_async(role_of)(user=user, document_id=document_id)
        if not can_read(role):
            # The same answer for "no such document" and "not yours": existence is private.
            await self._refuse(CLOSE_FORBIDDEN, "no access")
            return
        self.role = role
        self.user_id = user.pk
        self.user_name = user.name
        self.user_color = user.cursor_color
        try:
            room = await registry().acquire(document_id)
        except Exception:
            logger.exception("could not load document %s", document_id)
            await self.close(code=CLOSE_SERVER_ERROR, reason="could not load document")
            return
        self.room = room
        await room.join(self)

    async def _refuse(self, code: int, reason: str) -> None:
        await self.send(bytes_data=protocol.permission_denied_message(reason))
        await self.close(code=code, reason=reason)

    async def disconnect(self, code) -> None:
        room, self.room = self.room, None
        if room is not None:
            await room.leave(self)
            await registry().release(room)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if self.room is None:
            return
        if bytes_data is None:
            await self.close_with(CLOSE_MALFORMED, "binary frames only")
            return
        if len(bytes_data) > settings.COLLAB["MAX_MESSAGE_BYTES"]:
            await self.close_with(CLOSE_TOO_BIG, "message too big")
            return
        try:
            message = protocol.parse_message(bytes_data)
            await self._dispatch(message)
        except (protocol.ProtocolError, UpdateRejected, ApplyFailed) as exc:
            logger.info(
                "closing a socket of %s: %s", self.room.document_id if self.room else "?", exc
            )
            await self.close_with(CLOSE_MALFORMED, str(exc)[:120])
        except Exception:
            # A bug of ours must cost one socket (the client reconnects), not the process.
            logger.exception("unexpected error handling a frame; closing the socket")
            await self.close_with(CLOSE_SERVER_ERROR, "server error")

    async def _dispatch(self, message: protocol.Message) -> None:
        room = self.room
        match message:
            case protocol.SyncStep1(state_vector):
                await room.sync_step1(self, state_vector)
            case protocol.SyncStep2(update) | protocol.SyncUpdate(update):
                if not can_write(self.role):
                    # A viewer's client answers every step 1 with a step 2 and would
                    # reconnect forever if closed, so its writes are dropped silently.
                    if update != protocol.EMPTY_UPDATE:
                        self.dropped_writes += 1
                    return
                await room.receive_update(self, update)
            case protocol.AwarenessUpdate(update):
                await room.awareness_update(self, update)
            case protocol.QueryAwareness():
                await room.query_awareness(self)
            case protocol.Auth():
                pass  # Clients never send auth messages; ignore like the reference server.

    # The Connection interface rooms use.
    async def send_frame(self, frame: bytes) -> None:
        await self.send(bytes_data=frame)

    async def close_with(self, code: int, reason: str) -> None:
        if code in (CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED):
            await self.send(bytes_data=protocol.permission_denied_message(reason))
        await self.close(code=code, reason=reason)
        # Leave the room now: frames still in flight from this socket must not be applied,
        # and the room must not send to it any more.
        await self.disconnect(code)
