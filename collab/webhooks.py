"""Webhooks: register, list, change and delete hooks; queue events for them (the outbox); sign."""

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
import uuid

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from .models import (
    DeliveryStatus,
    Document,
    DocumentKind,
    Membership,
    Role,
    Webhook,
    WebhookDelivery,
)
from .services import ServiceError

logger = logging.getLogger(__name__)

EVENTS = (
    "document.changed",
    "member.added",
    "member.removed",
    "member.role_changed",
    "version.restored",
    "document.deleted",
    "document.purged",
)
PING = "ping"
# Hooks one account may have; a runaway script must not fill the outbox.
MAX_HOOKS_PER_OWNER = 50
# document.changed content above this (bytes of JSON) is left out: fetch content_url.
MAX_CONTENT_BYTES = 512 * 1024
# Continuous typing still produces a document.changed this often (debounce multiples).
MAX_WAIT_FACTOR = 6


# ------------------------------------------------------------------ signing


def sign(*, secret: str, timestamp: int, body: bytes) -> str:
    """The X-Collab-Signature value: HMAC-SHA256 over "<timestamp>.<raw body>"."""
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_valid(*, secret: str, timestamp, body: bytes, signature: str, tolerance=300) -> bool:
    """What a receiver does (docs/webhooks.md): recompute, compare in constant time, and
    refuse old timestamps so a captured request cannot be replayed later."""
    try:
        timestamp = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = sign(secret=secret, timestamp=timestamp, body=body)
    return hmac.compare_digest(expected, signature or "")


def secret_new() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


# ------------------------------------------------------------- selectors


def _owned_document_ids(user) -> QuerySet:
    return Membership.objects.filter(user=user, role=Role.OWNER).values("document_id")


def webhooks_for(*, user) -> QuerySet[Webhook]:
    """The hooks the user manages: their workspace hooks, and the hooks of every document
    they own (whoever of its owners created them)."""
    if user is None or not user.is_authenticated:
        return Webhook.objects.none()
    return (
        Webhook.objects.filter(
            Q(document__isnull=True, owner=user) | Q(document_id__in=_owned_document_ids(user))
        )
        .select_related("document", "owner")
        .order_by("-created_at", "-id")
    )


def webhook_get(*, user, webhook_id) -> Webhook | None:
    return webhooks_for(user=user).filter(pk=webhook_id).first()


def deliveries_of(*, webhook: Webhook, limit: int = 50) -> list[WebhookDelivery]:
    return list(webhook.deliveries.order_by("-created_at")[:limit])


# --------------------------------------------------------------- services


def _events(value) -> list[str]:
    if value is None:
        return list(EVENTS)
    if not isinstance(value, list) or not all(isinstance(e, str) for e in value):
        raise ServiceError("events must be a list of event names.")
    unknown = sorted(set(value) - set(EVENTS))
    if unknown:
        raise ServiceError(f"Unknown events: {', '.join(unknown)}. Known: {', '.join(EVENTS)}.")
    if not value:
        raise ServiceError("Choose at least one event.")
    return [e for e in EVENTS if e in value]


def _url(value) -> str:
    from .webhook_delivery import WebhookURLError, url_check

    if not isinstance(value, str) or not value.strip():
        raise ServiceError("A URL is required.")
    value = value.strip()
    if len(value) > 2000:
        raise ServiceError("The URL is longer than 2000 characters.")
    try:
        url_check(value)
    except WebhookURLError as exc:
        raise ServiceError(str(exc)) from exc
    return value


def webhook_create(*, owner, url, events=None, document: Document | None = None) -> Webhook:
    """A hook for one document (its owners only) or, without a document, for every document
    the owner owns now or later. The secret is in the returned hook: show it once."""
    if document is not None:
        is_owner = Membership.objects.filter(
            document=document, user=owner, role=Role.OWNER
        ).exists()
        if not is_owner or document.deleted_at is not None:
            raise ServiceError("Only owners of a document can add webhooks to it.")
    url = _url(url)
    events = _events(events)
    if Webhook.objects.filter(owner=owner).count() >= MAX_HOOKS_PER_OWNER:
        raise ServiceError(f"An account can have at most {MAX_HOOKS_PER_OWNER} webhooks.")
    return Webhook.objects.create(
        owner=owner, document=document, url=url, events=events, secret=secret_new()
    )


def webhook_update(*, webhook: Webhook, url=None, events=None, active=None) -> Webhook:
    fields = []
    if url is not None:
        webhook.url = _url(url)
        fields.append("url")
    if events is not None:
        webhook.events = _events(events)
        fields.append("events")
    if active is not None:
        if not isinstance(active, bool):
            raise ServiceError("active must be true or false.")
        webhook.active = active
        fields.append("active")
    if fields:
        webhook.save(update_fields=fields)
    return webhook


def webhook_rotate_secret(*, webhook: Webhook) -> Webhook:
    webhook.secret = secret_new()
    webhook.save(update_fields=["secret"])
    return webhook


def webhook_delete(*, webhook: Webhook) -> None:
    webhook.delete()


def webhook_ping(*, webhook: Webhook, actor=None) -> WebhookDelivery:
    """Queue a `ping` for the hook (the worker sends it), whatever events it subscribes to."""
    payload = _payload(event=PING, document=webhook.document, actor=actor, data={})
    return WebhookDelivery.objects.create(
        webhook=webhook,
        event=PING,
        document_id=webhook.document_id,
        payload=payload,
        next_attempt_at=timezone.now(),
    )


# ---------------------------------------------------------------- outbox


def document_json(document: Document) -> dict:
    site = getattr(settings, "SITE_URL", "http://localhost:8000").rstrip("/")
    return {
        "id": str(document.pk),
        "title": document.title,
        "kind": document.kind,
        "url": f"{site}/documents/{document.pk}/",
    }


def _actor_json(actor) -> dict | None:
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.pk:
        return None
    return {"id": actor.pk, "email": actor.email}


def _payload(*, event: str, document: Document | None, actor, data: dict) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "event": event,
        "created_at": timezone.now().isoformat(),
        "document": document_json(document) if document is not None else None,
        "actor": _actor_json(actor),
        "data": data,
    }


def hooks_for(*, document: Document, event: str) -> list[Webhook]:
    """Active hooks that hear `event` about the document: its own hooks and the workspace
    hooks of its owners, each only while its creator still owns the document."""
    owner_ids = Membership.objects.filter(document=document, role=Role.OWNER).values("user_id")
    hooks = Webhook.objects.filter(active=True, owner_id__in=owner_ids).filter(
        Q(document__isnull=True) | Q(document=document)
    )
    # Filtered here: SQLite has no JSON "contains" for lists.
    return [hook for hook in hooks if event in hook.events]


def event_enqueue(*, event: str, document: Document, actor=None, data: dict | None = None) -> int:
    """Write one delivery per interested hook, in the caller's transaction (the outbox), so
    an event exists exactly when its change was committed. Never raises: a webhook problem
    must not undo the change it reports. Returns how many deliveries were queued."""
    try:
        with transaction.atomic():
            hooks = hooks_for(document=document, event=event)
            if not hooks:
                return 0
            payload = _payload(event=event, document=document, actor=actor, data=data or {})
            now = timezone.now()
            WebhookDelivery.objects.bulk_create(
                [
                    WebhookDelivery(
                        webhook=hook,
                        event=event,
                        document_id=document.pk,
                        payload=payload,
                        next_attempt_at=now,
                    )
                    for hook in hooks
                ]
            )
            return len(hooks)
    except Exception:
        logger.exception("could not queue webhook event %s for %s", event, document.pk)
        return 0


def user_json(user) -> dict:
    return {"id": user.pk, "email": user.email}


# ------------------------------------------------- document.changed (debounced)

# document id → (first unreported change, latest change), monotonic seconds. Touched only
# by the event loop's thread and the worker's flush, hence the lock (cheap, uncontended).
_changed: dict[str, tuple[float, float]] = {}
_changed_lock = threading.Lock()


def document_changed_soon(document_id) -> None:
    """Note that a document changed; the worker reports it once the changes pause.

    Called by rooms after each committed write batch: no database, no I/O, O(1).
    """
    now = time.monotonic()
    key = str(document_id)
    with _changed_lock:
        first, _ = _changed.get(key, (now, now))
        _changed[key] = (first, now)


def changed_due(*, now: float | None = None) -> list[str]:
    """Take the documents whose changes paused for the debounce period (or that kept
    changing for MAX_WAIT_FACTOR periods): their document.changed is due."""
    now = time.monotonic() if now is None else now
    quiet = settings.WEBHOOK_DEBOUNCE_SECONDS
    due = []
    with _changed_lock:
        for key, (first, last) in list(_changed.items()):
            if now - last >= quiet or now - first >= quiet * MAX_WAIT_FACTOR:
                due.append(key)
                del _changed[key]
    return due


def _content(document: Document) -> dict:
    from . import store
    from .render import document_html, document_text
    from .whiteboard import board_json

    doc, seq = store.doc_load(document_id=document.pk)
    if document.kind == DocumentKind.WHITEBOARD:
        content = {"board": board_json(doc)}
    else:
        content = {"text": document_text(doc), "html": document_html(doc)}
    size = len(json.dumps(content))
    if size > MAX_CONTENT_BYTES:
        content = {key: None for key in content} | {"content_omitted": True}
    return {"seq": seq, **content}


def document_changed_enqueue(*, document_id) -> int:
    """Queue document.changed (with the current content) for the document's interested
    hooks. A delivery still waiting for its first attempt is refreshed instead of a second
    one being added, so processes that each saw part of the edits still send one."""
    document = Document.objects.select_related("last_edited_by").filter(pk=document_id).first()
    if document is None or document.deleted_at is not None:
        return 0
    hooks = hooks_for(document=document, event="document.changed")
    if not hooks:
        return 0
    site = getattr(settings, "SITE_URL", "http://localhost:8000").rstrip("/")
    data = {
        **_content(document),
        "content_url": f"{site}/api/documents/{document.pk}/content?format="
        + ("json" if document.kind == DocumentKind.WHITEBOARD else "html"),
    }
    payload = _payload(
        event="document.changed", document=document, actor=document.last_edited_by, data=data
    )
    now = timezone.now()
    queued = 0
    with transaction.atomic():
        for hook in hooks:
            waiting = (
                WebhookDelivery.objects.select_for_update()
                .filter(
                    webhook=hook,
                    event="document.changed",
                    document_id=document.pk,
                    status=DeliveryStatus.PENDING,
                    attempts=0,
                    # A claimed delivery's next attempt is pushed past now (its lease):
                    # it is being sent and must not change under the sender.
                    next_attempt_at__lte=now,
                )
                .first()
            )
            if waiting is not None:
                waiting.payload = payload
                waiting.save(update_fields=["payload", "updated_at"])
                continue
            WebhookDelivery.objects.create(
                webhook=hook,
                event="document.changed",
                document_id=document.pk,
                payload=payload,
                next_attempt_at=now,
            )
            queued += 1
    return queued


def documents_heard(document_ids: list[str], event: str) -> set[str]:
    """The documents among ``document_ids`` that some active hook may hear ``event`` about
    (hooks_for, for many documents in two queries per 500: most documents have no hook)."""
    heard = set()
    for start in range(0, len(document_ids), 500):
        chunk = document_ids[start : start + 500]
        owners: dict[int, set[str]] = {}
        rows = Membership.objects.filter(document_id__in=chunk, role=Role.OWNER)
        for document_id, user_id in rows.values_list("document_id", "user_id"):
            owners.setdefault(user_id, set()).add(str(document_id))
        hooks = Webhook.objects.filter(active=True, owner_id__in=list(owners)).filter(
            Q(document__isnull=True) | Q(document_id__in=chunk)
        )
        for owner_id, document_id, events in hooks.values_list("owner_id", "document_id", "events"):
            if event not in events:
                continue
            owned = owners[owner_id]
            heard |= owned if document_id is None else owned & {str(document_id)}
    return heard


def changed_flush(*, now: float | None = None) -> int:
    """Queue document.changed for every document whose debounce ran out; never raises.

    Only documents a hook may hear are loaded: checking each changed document on its own
    cost two queries per document in the worker's thread, whose GIL share stalled the
    event loop for ~0.1 s when 40 rooms came due together (W2, docs/benchmarks.md)."""
    queued = 0
    due = changed_due(now=now)
    if not due:
        return 0
    try:
        heard = documents_heard(due, "document.changed")
    except Exception:
        logger.exception("could not look up the hooks of %d changed documents", len(due))
        return 0
    for document_id in due:
        if document_id not in heard:
            continue
        try:
            queued += document_changed_enqueue(document_id=document_id)
        except Exception:
            logger.exception("could not queue document.changed for %s", document_id)
    return queued
