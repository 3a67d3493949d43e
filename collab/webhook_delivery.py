"""Webhook delivery: SSRF-safe HTTP, claiming due deliveries, attempts with backoff, the worker."""

import asyncio
import functools
import http.client
import ipaddress
import json
import logging
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from .models import DeliveryStatus, WebhookDelivery
from .webhooks import changed_flush, sign

logger = logging.getLogger(__name__)

USER_AGENT = "Collab-Webhooks/1"
# Deliveries one worker claims per round.
CLAIM_BATCH = 20
# Bytes of a response read at most (the body is only shown as an error excerpt).
MAX_RESPONSE_BYTES = 4096


class WebhookURLError(ValueError):
    """A URL a webhook may not target; the message is safe to show."""


# ----------------------------------------------------------------- SSRF


def address_allowed(address: str) -> bool:
    """Only globally routable unicast addresses, unless WEBHOOK_ALLOW_PRIVATE."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if settings.WEBHOOK_ALLOW_PRIVATE:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        # ::ffff:10.0.0.1 and 6to4 (2002::/16) addresses reach IPv4 hosts: judge those.
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            ip = mapped
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def url_check(url: str, *, resolve: bool = True) -> tuple[str, str, int, str, list[str]]:
    """(scheme, host, port, path with query, addresses) of a URL a webhook may target.

    Every address the host resolves to must be allowed (one bad record is enough for an
    attacker to race), and the caller connects to one of exactly these addresses, so a
    second lookup (DNS rebinding) cannot swap in a private one.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookURLError("The URL is not valid.") from exc
    if parts.scheme not in ("http", "https"):
        raise WebhookURLError("Only http and https URLs can receive webhooks.")
    host = parts.hostname
    if not host:
        raise WebhookURLError("The URL has no host.")
    if parts.username or parts.password:
        raise WebhookURLError("Put credentials in the receiver's checks, not in the URL.")
    port = port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not resolve:
        return parts.scheme, host, port, path, []
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise WebhookURLError(f"The host {host} could not be resolved.") from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise WebhookURLError(f"The host {host} could not be resolved.")
    refused = [a for a in addresses if not address_allowed(a)]
    if refused:
        raise WebhookURLError(
            f"The host {host} resolves to a private or reserved address ({refused[0]});"
            " webhooks only go to public addresses."
        )
    return parts.scheme, host, port, path, addresses


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to a checked address while the request names the URL's host."""

    def __init__(self, host, port, *, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, *, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        # The certificate is checked against the URL's host name, not the address.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def http_post(url: str, body: bytes, headers: dict, *, timeout: float) -> tuple[int | None, str]:
    """POST without following redirects; (status code or None, error or "")."""
    try:
        scheme, host, port, path, addresses = url_check(url)
    except WebhookURLError as exc:
        return None, str(exc)
    connection_class = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    error = ""
    for address in addresses:
        conn = connection_class(host, port, address=address, timeout=timeout)
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            excerpt = response.read(MAX_RESPONSE_BYTES).decode("utf-8", "replace")
            status = response.status
            if 200 <= status < 300:
                return status, ""
            if 300 <= status < 400:
                return status, "Redirects are not followed."
            return status, f"HTTP {status}: {excerpt[:200]}".strip()
        except (OSError, http.client.HTTPException, ValueError) as exc:
            # Connection refused / timed out on this address: try the host's next one.
            error = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            conn.close()
    return None, error or "No address could be reached."


# --------------------------------------------------------------- attempts


def lease_seconds() -> float:
    """How long a claimed delivery is left to its claimer before others may retry it."""
    return settings.WEBHOOK_TIMEOUT_SECONDS * 4 + 30


def deliveries_claim(*, limit: int = CLAIM_BATCH) -> list:
    """Ids of due deliveries, now leased to the caller: their next attempt moves past the
    lease, so another worker (process) skips them until it ran out.

    On PostgreSQL rows another worker is claiming are skipped (SKIP LOCKED), never waited
    for or claimed twice; SQLite serialises the whole transaction instead.
    """
    now = timezone.now()
    with transaction.atomic():
        due = WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=now
        ).order_by("next_attempt_at")
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("pk", flat=True)[:limit])
        if ids:
            WebhookDelivery.objects.filter(pk__in=ids).update(
                next_attempt_at=now + timedelta(seconds=lease_seconds())
            )
    return ids


def _headers(delivery: WebhookDelivery, body: bytes, timestamp: int) -> dict:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Collab-Event": delivery.event,
        "X-Collab-Delivery": str(delivery.pk),
        "X-Collab-Timestamp": str(timestamp),
        "X-Collab-Signature": sign(secret=delivery.webhook.secret, timestamp=timestamp, body=body),
    }


def delivery_attempt(delivery_id) -> str | None:
    """Send one claimed delivery once and record the attempt; its new status (None if it
    vanished, e.g. its hook was deleted meanwhile)."""
    delivery = WebhookDelivery.objects.select_related("webhook").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return None
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    timestamp = int(time.time())
    started = time.monotonic()
    if delivery.webhook.active:
        status_code, error = http_post(
            delivery.webhook.url,
            body,
            _headers(delivery, body, timestamp),
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
        )
    else:
        status_code, error = None, "The webhook is paused."
    duration_ms = round((time.monotonic() - started) * 1000)
    return _attempt_record(delivery, status_code, error, duration_ms)


def _attempt_record(delivery, status_code, error: str, duration_ms: int) -> str | None:
    now = timezone.now()
    succeeded = status_code is not None and 200 <= status_code < 300
    attempts = delivery.attempts + 1
    delays = settings.WEBHOOK_RETRY_DELAYS
    if succeeded:
        status, next_at = DeliveryStatus.SUCCEEDED, None
    elif attempts > len(delays) or not delivery.webhook.active:
        status, next_at = DeliveryStatus.FAILED, None
    else:
        status, next_at = DeliveryStatus.PENDING, now + timedelta(seconds=delays[attempts - 1])
    entry = {
        "at": now.isoformat(),
        "status_code": status_code,
        "error": error,
        "duration_ms": duration_ms,
    }
    updated = WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=status,
        attempts=attempts,
        next_attempt_at=next_at,
        last_status_code=status_code,
        last_error=error[:500],
        attempts_log=[*delivery.attempts_log, entry],
        updated_at=now,
    )
    return status if updated else None


def _guarded(function, *args):
    """Run in a worker thread: database connections of threads are not reused across
    requests by Django, so open and close them here."""
    close_old_connections()
    try:
        return function(*args)
    finally:
        close_old_connections()


def deliver_due(*, limit: int = CLAIM_BATCH) -> int:
    """Claim due deliveries and attempt each once, one after another; returns how many."""
    ids = deliveries_claim(limit=limit)
    for delivery_id in ids:
        try:
            delivery_attempt(delivery_id)
        except Exception:
            logger.exception("webhook delivery %s failed unexpectedly", delivery_id)
    return len(ids)


# ----------------------------------------------------------------- worker


class Worker:
    """The delivery loop of one process: every WEBHOOK_POLL_SECONDS it queues the
    document.changed events whose debounce ran out and (when `send`) attempts the due
    deliveries, several at once. All database and network work runs in its own threads,
    so a slow receiver or a slow query never holds the event loop or the threads the
    sockets use for their database work."""

    def __init__(self, *, send: bool = True, concurrency: int = 4):
        self.send = send
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook-db")
        self._http = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="webhook")
        self._in_flight: set = set()
        self._concurrency = concurrency

    async def _in(self, pool, function, *args):
        return await asyncio.get_running_loop().run_in_executor(pool, _guarded, function, *args)

    async def run_once(self) -> None:
        await self._in(self._db, changed_flush)
        if not self.send:
            return
        room = self._concurrency - len(self._in_flight)
        if room <= 0:
            return
        for delivery_id in await self._in(
            self._db, functools.partial(deliveries_claim, limit=room)
        ):
            task = asyncio.ensure_future(self._attempt(delivery_id))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _attempt(self, delivery_id) -> None:
        try:
            await self._in(self._http, delivery_attempt, delivery_id)
        except Exception:
            logger.exception("webhook delivery %s failed unexpectedly", delivery_id)

    async def run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database may be down for a while: keep the loop alive and retry.
                logger.exception("webhook worker round failed; retrying")
            await asyncio.sleep(settings.WEBHOOK_POLL_SECONDS)


_worker_task: asyncio.Task | None = None


def worker_ensure() -> None:
    """Start this process's worker on the running loop once (see WEBHOOK_WORKER)."""
    global _worker_task
    mode = settings.WEBHOOK_WORKER
    if mode not in ("process", "external"):
        return
    if _worker_task is not None and not _worker_task.done():
        return
    loop = asyncio.get_running_loop()
    _worker_task = loop.create_task(Worker(send=mode == "process").run())


class WorkerStarter:
    """ASGI wrapper: starts the worker with the first connection or request of a process
    (Daphne has no startup hook), then only passes scopes through."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if _worker_task is None or _worker_task.done():
            try:
                worker_ensure()
            except Exception:
                logger.exception("could not start the webhook worker")
        return await self.application(scope, receive, send)
