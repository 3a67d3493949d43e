"""The audit trail: record security- and content-relevant events, append-only."""

import asyncio
import logging
import sys

from channels.db import database_sync_to_async
from django.db import transaction

from .models import AuditEvent

logger = logging.getLogger(__name__)

# Audit writes started from sockets and not finished yet. Held so the tasks are not
# garbage-collected mid-flight, and so tests and shutdown can wait for them.
_in_flight: set[asyncio.Task] = set()

# Longest a shutdown waits for them (SIGTERM). They take milliseconds; a database that
# hangs must not keep a stopping process up for ever on their account.
SHUTDOWN_WAIT = 10.0


def _client_of_request(request) -> tuple[str | None, str]:
    if request is None:
        return None, ""
    ip = request.META.get("REMOTE_ADDR") or None
    agent = request.META.get("HTTP_USER_AGENT", "")
    return ip, agent[:300]


def _client_of_scope(scope) -> tuple[str | None, str]:
    if not scope:
        return None, ""
    client = scope.get("client") or (None, None)
    headers = dict(scope.get("headers") or [])
    agent = headers.get(b"user-agent", b"").decode("latin-1")
    return client[0], agent[:300]


def _actor_of(user):
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def record(action: str, *, actor=None, document_id=None, request=None, scope=None, **detail):
    """Append one event. Never raises: an audit failure must not break the action audited."""
    try:
        ip, agent = _client_of_scope(scope) if scope is not None else _client_of_request(request)
        if actor is None and request is not None:
            actor = _actor_of(getattr(request, "user", None))
        if actor is None and scope is not None:
            actor = _actor_of(scope.get("user"))
        # A savepoint: a failed insert inside the caller's transaction must not poison it
        # (PostgreSQL refuses every later statement of an aborted transaction).
        with transaction.atomic():
            return AuditEvent.objects.create(
                action=action,
                actor=actor if actor is not None and getattr(actor, "pk", None) else None,
                actor_email=getattr(actor, "email", "") or "",
                document_id=document_id,
                ip_address=ip,
                user_agent=agent,
                detail=detail,
            )
    except Exception:
        logger.exception("could not record audit event %s", action)
        return None


def record_soon(action: str, **kwargs) -> asyncio.Task:
    """record() from async code without waiting for it: the socket goes on at once, and a
    database that is down or slow costs a logged error, never the connection."""

    async def write() -> None:
        try:
            await database_sync_to_async(record)(action, **kwargs)
        except Exception:
            # database_sync_to_async's own connection housekeeping can fail too.
            logger.exception("could not record audit event %s", action)

    return _track(write())


def _track(coroutine) -> asyncio.Task:
    _hook_shutdown()
    task = asyncio.get_running_loop().create_task(coroutine)
    _in_flight.add(task)
    task.add_done_callback(_in_flight.discard)
    return task


def _socket_refused(*, scope, document_id, reason: str, **detail):
    if reason == "no access" and document_id is not None:
        # The client hears the same answer for both (existence is private); the audit
        # trail tells an administrator which one it was.
        from .models import Document

        found = Document.objects.filter(pk=document_id).values_list("deleted_at", flat=True)
        if not found:
            reason = "not found"
        elif found[0] is not None:
            reason = "deleted"
        else:
            reason = "forbidden"
    return record("socket.refused", scope=scope, document_id=document_id, reason=reason, **detail)


def socket_refused_soon(*, scope, document_id, reason: str, **detail) -> asyncio.Task:
    """Record a refused socket handshake in the background (see record_soon)."""

    async def write() -> None:
        try:
            await database_sync_to_async(_socket_refused)(
                scope=scope, document_id=document_id, reason=reason, **detail
            )
        except Exception:
            logger.exception("could not record a refused socket")

    return _track(write())


async def settle(timeout: float | None = None) -> int:
    """Wait for every audit write this event loop started with *_soon (tests, shutdown), or
    until ``timeout`` seconds passed; how many are still unfinished."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    while mine := [task for task in _in_flight if task.get_loop() is loop]:
        left = None if deadline is None else deadline - loop.time()
        if left is not None and left <= 0:
            return len(mine)
        await asyncio.wait(mine, timeout=left)
    return 0


async def settle_before_shutdown(timeout: float = SHUTDOWN_WAIT) -> None:
    """Let audit writes in flight finish while the event loop still runs (bounded): Daphne
    and Uvicorn stop the loop after SIGTERM whatever tasks are still pending."""
    loop = asyncio.get_running_loop()
    pending = sum(1 for task in _in_flight if task.get_loop() is loop)
    if not pending:
        return
    if unfinished := await settle(timeout):
        logger.error("%d audit records not written %.0f s into shutdown", unfinished, timeout)
    else:
        logger.info("wrote %d pending audit records before shutdown", pending)


_shutdown_hooked = False


def _hook_shutdown() -> None:
    """Under Daphne, run settle_before_shutdown before the reactor stops (the first audit
    write of the process installs it; Uvicorn calls it from config/asgi.py's lifespan)."""
    global _shutdown_hooked
    if _shutdown_hooked:
        return
    _shutdown_hooked = True
    if "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import defer, reactor

    def before_shutdown():
        return defer.Deferred.fromFuture(asyncio.ensure_future(settle_before_shutdown()))

    reactor.addSystemEventTrigger("before", "shutdown", before_shutdown)
