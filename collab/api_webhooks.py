"""The webhooks JSON API: owners register, change, test and inspect their hooks. Thin over
collab/webhooks.py; anyone but a hook's owners gets 404."""

import uuid
from functools import wraps

from django.http import HttpResponse, JsonResponse

from . import selectors, webhooks
from .api import _body, _service_errors, api_login_required, error, require_http_methods
from .models import Role


def webhook_json(webhook, *, with_secret: bool = False) -> dict:
    data = {
        "id": webhook.pk,
        "url": webhook.url,
        "events": webhook.events,
        "active": webhook.active,
        "scope": "document" if webhook.document_id else "workspace",
        "document": (
            {"id": str(webhook.document_id), "title": webhook.document.title}
            if webhook.document_id
            else None
        ),
        "owner": {"id": webhook.owner_id, "email": webhook.owner.email},
        "created_at": webhook.created_at.isoformat(),
    }
    if with_secret:
        # Only when it was just made: the owner copies it into the receiver now.
        data["secret"] = webhook.secret
    return data


def delivery_json(delivery) -> dict:
    return {
        "id": str(delivery.pk),
        "event": delivery.event,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at.isoformat()
        if delivery.next_attempt_at and delivery.status == "pending"
        else None,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "attempts_log": delivery.attempts_log,
        "payload": delivery.payload,
        "created_at": delivery.created_at.isoformat(),
        "updated_at": delivery.updated_at.isoformat(),
    }


def _with_webhook(view):
    @wraps(view)
    def wrapped(request, webhook_id, *args, **kwargs):
        webhook = webhooks.webhook_get(user=request.user, webhook_id=webhook_id)
        if webhook is None:
            return error(404, "not_found", "No such webhook.")
        return view(request, webhook, *args, **kwargs)

    return wrapped


def _owned_document(user, document_id):
    """The live document the user owns with that id, or None (404 for anything else)."""
    try:
        document_id = uuid.UUID(str(document_id))
    except ValueError:
        return None
    if selectors.role_of(user=user, document_id=document_id) != Role.OWNER:
        return None
    return selectors.document_get(document_id=document_id)


@require_http_methods(["GET", "POST"])
@api_login_required
@_service_errors
def webhook_list(request):
    if request.method == "POST":
        data = _body(request)
        document = None
        if data.get("document"):
            document = _owned_document(request.user, data["document"])
            if document is None:
                return error(404, "not_found", "No such document.")
        webhook = webhooks.webhook_create(
            owner=request.user, url=data.get("url"), events=data.get("events"), document=document
        )
        return JsonResponse(webhook_json(webhook, with_secret=True), status=201)
    hooks = webhooks.webhooks_for(user=request.user)
    if request.GET.get("document"):
        try:
            hooks = hooks.filter(document_id=uuid.UUID(request.GET["document"]))
        except ValueError:
            return error(400, "invalid", "document must be a document id.")
    return JsonResponse({"webhooks": [webhook_json(w) for w in hooks], "events": webhooks.EVENTS})


@require_http_methods(["GET", "PATCH", "DELETE"])
@api_login_required
@_with_webhook
@_service_errors
def webhook_detail(request, webhook):
    if request.method == "DELETE":
        webhooks.webhook_delete(webhook=webhook)
        return HttpResponse(status=204)
    if request.method == "PATCH":
        data = _body(request)
        webhooks.webhook_update(
            webhook=webhook,
            url=data.get("url"),
            events=data.get("events"),
            active=data.get("active"),
        )
        if data.get("rotate_secret") is True:
            webhooks.webhook_rotate_secret(webhook=webhook)
            return JsonResponse(webhook_json(webhook, with_secret=True))
    return JsonResponse(webhook_json(webhook))


@require_http_methods(["GET"])
@api_login_required
@_with_webhook
def webhook_deliveries(request, webhook):
    items = webhooks.deliveries_of(webhook=webhook)
    return JsonResponse({"deliveries": [delivery_json(d) for d in items]})


@require_http_methods(["POST"])
@api_login_required
@_with_webhook
def webhook_test(request, webhook):
    """Queue a ping; the worker sends it within a poll interval (see its deliveries)."""
    delivery = webhooks.webhook_ping(webhook=webhook, actor=request.user)
    return JsonResponse(delivery_json(delivery), status=202)
