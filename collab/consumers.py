"""The document socket: authenticate, authorize, parse a frame, hand it to the room."""

import asyncio
import logging
import time

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from accounts.selectors import session_user_matches
from accounts.socket_sessions import credential_key

from . import audit, limits, protocol
from .daphne_fanout import DaphneSocket, daphne_socket
from .permissions import can_read, can_write
from .rooms import (
    CLOSE_FORBIDDEN,
    CLOSE_MALFORMED,
    CLOSE_SERVER_ERROR,
    CLOSE_TOO_BIG,
    CLOSE_TOO_MANY,
    CLOSE_UNAUTHENTICATED,
    ApplyFailed,
    registry,
)
from .selectors import role_of
from .socket_sender import SocketSender
from .update_guard import UpdateRejected

session_still_valid = database_sync_to_async(session_user_matches)

# Frames one socket may have handled back to back before others get a turn of the loop.
FRAMES_PER_TURN = 32

logger = logging.getLogger(__name__)


class DocumentConsumer(AsyncWebsocketConsumer):
    # No per-connection channel: the room holds this process's one channel per document,
    # so a connection never talks to Redis itself (and a Redis outage can't kill it).
    channel_layer_alias = "collab.sockets-have-no-channel"
    room = None
    role: str | None = None
    user_id: int | None = None
    # The session or personal access token this socket was opened with (see Connection).
    session_key: str | None = None
    user_name = ""
    user_color = ""
    dropped_writes = 0
    # Socket limits (collab/limits.py): frame budgets, the connection count, idling.
    limiter: limits.FrameLimiter | None = None
    counted = False
    last_frame_at = 0.0
    idle_task: asyncio.Task | None = None
    expiry_task: asyncio.Task | None = None
    document_id: str | None = None
    # Relays to this socket, without waiting for a slow reader (collab/socket_sender.py).
    sender: SocketSender | None = None
    # The Daphne connection, when Daphne serves this socket (collab/daphne_fanout.py).
    daphne: DaphneSocket | None = None
    too_slow_task: asyncio.Task | None = None
    # COLLAB_SEND_BACKLOG_BYTES, read once with `daphne` (checked after every relay there).
    max_backlog_bytes = 0

    async def __call__(self, scope, receive, send) -> None:
        """AsyncConsumer.__call__ for a consumer without a channel: one loop over receive().

        channels' await_many_dispatch makes a task and an asyncio.wait() round per message,
        so each frame took a turn of the event loop of its own, and each of its relays a
        send() system call per socket. Here frames already waiting are handled in one
        turn, and what they relay leaves in one write per socket (Twisted flushes each
        transport once per turn). Every FRAMES_PER_TURN frames the loop gets a turn, so a
        burst from one socket cannot keep the others waiting.
        """
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        self.daphne = daphne_socket(send)
        self.max_backlog_bytes = settings.COLLAB["SEND_BACKLOG_BYTES"]
        handled = 0
        try:
            while True:
                await self.dispatch(await receive())
                handled += 1
                if handled % FRAMES_PER_TURN == 0:
                    await asyncio.sleep(0)
        except StopConsumer:
            pass

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
        # Frame refusals already in the audit trail: each reason once per connection.
        self.refusals_audited: set[str] = set()
        document_id = self.document_id = str(self.scope["url_route"]["kwargs"]["document_id"])
        user = self.scope.get("user")
        if self.scope.get("token_error") or user is None or not user.is_authenticated:
            await self._refuse(
                CLOSE_UNAUTHENTICATED, "not signed in", token_error=self.scope.get("token_error")
            )
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
        self.session_key = credential_key(self.scope)
        self.user_name = user.name
        self.user_color = user.cursor_color
        refusal = limits.connection_counts().admit(user_id=user.pk, document_id=document_id)
        if refusal:
            await self._refuse(CLOSE_TOO_MANY, refusal)
            return
        self.counted = True
        self.limiter = limits.FrameLimiter.from_settings()
        self.last_frame_at = time.monotonic()
        self.idle_task = asyncio.create_task(
            limits.close_when_idle(
                lambda: self.last_frame_at,
                lambda: self.close_with(limits.CLOSE_IDLE, "idle"),
                timeout=settings.COLLAB["IDLE_TIMEOUT"],
            )
        )
        expires_at = self.scope.get("access_token_expires_at")
        if expires_at is not None:
            self.expiry_task = asyncio.create_task(self._close_at_expiry(expires_at))
        try:
            room = await registry().acquire(document_id)
        except Exception:
            logger.exception("could not load document %s", document_id)
            await self.close(code=CLOSE_SERVER_ERROR, reason="could not load document")
            return
        self.room = room
        audit.record_soon(
            "socket.connected",
            scope=self.scope,
            document_id=document_id,
            role=role,
            via_token=bool(self.scope.get("auth_via_token")),
        )
        await room.join(self)
        from_session = self.session_key and not self.scope.get("auth_via_token")
        if from_session and not await session_still_valid(self.session_key, user.pk):
            # Ended between the handshake and joining the room, whose sessions-ended
            # message this socket could not hear yet.
            await self.close_with(CLOSE_UNAUTHENTICATED, "session ended")

    async def _refuse(self, code: int, reason: str, **detail) -> None:
        audit.socket_refused_soon(
            scope=self.scope, document_id=self.document_id, reason=reason, code=code, **detail
        )
        await self.send(bytes_data=protocol.permission_denied_message(reason))
        await self.close(code=code, reason=reason)

    async def _close_at_expiry(self, expires_at) -> None:
        """A personal access token that expires ends the sockets opened with it, as a
        revoked one does (nothing sent after that is applied)."""
        from django.utils import timezone

        await asyncio.sleep(max(0.0, (expires_at - timezone.now()).total_seconds()))
        await self.close_with(CLOSE_UNAUTHENTICATED, "token expired")

    async def disconnect(self, code) -> None:
        if self.idle_task is not None and self.idle_task is not asyncio.current_task():
            self.idle_task.cancel()
        if self.expiry_task is not None and self.expiry_task is not asyncio.current_task():
            self.expiry_task.cancel()
        if self.sender is not None:
            self.sender.cancel()
        if self.counted:
            self.counted = False
            limits.connection_counts().release(user_id=self.user_id, document_id=self.document_id)
        room, self.room = self.room, None
        if room is not None:
            await room.leave(self)
            await registry().release(room)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if self.room is None:
            return
        self.last_frame_at = time.monotonic()
        if refusal := self.limiter.frame():
            await self._refuse_frame(CLOSE_TOO_MANY, refusal)
            return
        if bytes_data is None:
            self._audit_refusal("text frame", CLOSE_MALFORMED)
            await self.close_with(CLOSE_MALFORMED, "binary frames only")
            return
        if len(bytes_data) > settings.COLLAB["MAX_MESSAGE_BYTES"]:
            self._audit_refusal("too big", CLOSE_TOO_BIG, bytes=len(bytes_data))
            await self.close_with(CLOSE_TOO_BIG, "message too big")
            return
        try:
            message = protocol.parse_message(bytes_data)
            await self._dispatch(message)
        except (protocol.ProtocolError, UpdateRejected, ApplyFailed) as exc:
            logger.info(
                "closing a socket of %s: %s", self.room.document_id if self.room else "?", exc
            )
            self._audit_refusal(_refusal_reason(exc), CLOSE_MALFORMED, message=str(exc)[:200])
            await self.close_with(CLOSE_MALFORMED, str(exc)[:120])
        except Exception:
            # A bug of ours must cost one socket (the client reconnects), not the process.
            logger.exception("unexpected error handling a frame; closing the socket")
            self._audit_refusal("server error", CLOSE_SERVER_ERROR)
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
                        self._audit_refusal("viewer write", None)
                    return
                # The empty step 2 every client answers a step 1 with costs nothing.
                if update != protocol.EMPTY_UPDATE and (refusal := self.limiter.update()):
                    await self._refuse_frame(CLOSE_TOO_MANY, refusal)
                    return
                await room.receive_update(self, update)
            case protocol.AwarenessUpdate(update):
                if limits.oversized_awareness(update):
                    await self._refuse_frame(CLOSE_TOO_BIG, "awareness state too big")
                    return
                await room.awareness_update(self, update)
            case protocol.QueryAwareness():
                room.query_awareness(self)
            case protocol.Auth():
                pass  # Clients never send auth messages; ignore like the reference server.

    async def _refuse_frame(self, code: int, reason: str) -> None:
        logger.info("closing a socket of %s: %s", self.document_id, reason)
        self._audit_refusal(reason, code)
        await self.close_with(code, reason)

    def _audit_refusal(self, reason: str, code: int | None, **detail) -> None:
        # Once per connection and reason: a client repeating a refused frame (a viewer's
        # editor retrying its writes) must not flood the trail.
        if reason in self.refusals_audited:
            return
        self.refusals_audited.add(reason)
        audit.record_soon(
            "frame.refused",
            scope=self.scope,
            document_id=self.document_id,
            reason=reason,
            code=code,
            role=self.role,
            **detail,
        )

    # The Connection interface rooms use.
    def send_frame(self, frame: bytes) -> None:
        # Under Daphne, straight to the connection, framed once per relay (daphne_fanout).
        # Otherwise AsyncWebsocketConsumer.send without its two layers of dispatch (this
        # runs once per relayed update per socket), and without waiting for a slow reader.
        if (
            self.daphne is not None
            and (self.sender is None or self.sender.idle)
            and self.daphne.send_now(frame)
        ):
            # Daphne's sends never wait: for a client that stopped reading, every relay
            # piles up in Twisted's buffer.
            if self.daphne.queued_bytes() > self.max_backlog_bytes and not self.too_slow_task:
                self._too_slow()
            return
        if self.sender is None:
            self.sender = SocketSender(
                self.base_send,
                max_backlog_bytes=settings.COLLAB["SEND_BACKLOG_BYTES"],
                on_overflow=self._too_slow,
            )
        self.sender.send({"type": "websocket.send", "bytes": frame})

    def _too_slow(self) -> None:
        logger.warning(
            "closing a socket of user %s on %s: %d bytes waiting to be sent",
            self.user_id,
            self.document_id,
            settings.COLLAB["SEND_BACKLOG_BYTES"],
        )
        self.too_slow_task = asyncio.ensure_future(
            self.close_with(limits.CLOSE_TOO_SLOW, "too far behind; reconnect")
        )

    async def close_with(self, code: int, reason: str) -> None:
        if 4400 <= code < 4500:
            # A refusal says why in a permission-denied message too: Daphne drops a close
            # frame's reason, and the page shows it (frontend/src/connection.js).
            await self.send(bytes_data=protocol.permission_denied_message(reason))
        await self.close(code=code, reason=reason)
        # Leave the room now: frames still in flight from this socket must not be applied,
        # and the room must not send to it any more.
        await self.disconnect(code)


def _refusal_reason(exc: Exception) -> str:
    """A short, stable name for why a frame was refused (the message carries offsets)."""
    if isinstance(exc, UpdateRejected):
        return "too deep" if "deeper than max_depth" in exc.reason else "update rejected"
    if isinstance(exc, ApplyFailed):
        return "apply failed"
    return "malformed"
