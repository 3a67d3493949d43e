"""The audit trail: record security- and content-relevant events, append-only."""

import logging

from .models import AuditEvent

logger = logging.getLogger(__name__)


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


def record(action: str, *, actor=None, document_id=None, request=None, scope=None, **detail):
    """Append one event. Never raises: an audit failure must not break the action audited."""
    ip, agent = _client_of_scope(scope) if scope is not None else _client_of_request(request)
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        actor = user if user is not None and user.is_authenticated else None
    try:
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
