"""The version history JSON API: sessions, named versions, export, compare, restore, copy.

Thin over collab.history. Editors and owners only: viewers get 403 `history_forbidden`,
non-members 404 like every other document endpoint.
"""

from functools import wraps
from html import escape

from django.http import HttpResponse, JsonResponse
from django.utils.text import slugify

from . import audit, history, permissions
from .api import _body, _service_errors, _with_role, api_login_required, error, require_http_methods
from .models import DocumentKind, NamedVersion

# Formats answered inside a JSON envelope unless a download is asked for.
ENVELOPE_FORMATS = {"text", "markdown", "html", "json"}
EXTENSIONS = {"text": "txt", "markdown": "md", "html": "html", "json": "json", "pdf": "pdf"}
EXTENSIONS.update({"svg": "svg", "png": "png"})


def _history_access(view):
    """Resolve the document as _with_role does, then refuse viewers."""

    @wraps(view)
    @_with_role
    def wrapped(request, document, role, *args, **kwargs):
        if not permissions.can_write(role):
            return error(403, "history_forbidden", "Only editors and owners see version history.")
        return view(request, document, *args, **kwargs)

    return wrapped


def _int_param(request, name: str, default=None):
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise history.HistoryError(f"{name} must be a whole number.") from None


def _person(user) -> dict | None:
    return {"id": user.pk, "name": user.name} if user is not None else None


def _session_json(session) -> dict:
    return {
        "id": session.pk,
        "first_seq": session.first_seq,
        "last_seq": session.last_seq,
        "started_at": session.started_at.isoformat(),
        "ended_at": session.ended_at.isoformat(),
        "author": _person(session.author),
        "update_count": session.update_count,
        "byte_count": session.byte_count,
        "restored_from_seq": session.restored_from_seq,
    }


def _named_json(version) -> dict:
    return {
        "id": version.pk,
        "seq": version.seq,
        "name": version.name,
        "created_by": _person(version.created_by),
        "created_at": version.created_at.isoformat(),
    }


@require_http_methods(["GET", "POST"])
@api_login_required
@_history_access
@_service_errors
def versions(request, document):
    if request.method == "POST":
        data = _body(request)
        version = history.named_version_create(
            document=document, user=request.user, name=data.get("name"), seq=data.get("seq")
        )
        audit.record(
            "version.named",
            request=request,
            document_id=document.pk,
            seq=version.seq,
            name=version.name,
        )
        return JsonResponse(_named_json(version), status=201)
    before_seq = _int_param(request, "before_seq")
    limit = _int_param(request, "limit", 30)
    if not 1 <= limit <= history.MAX_PAGE:
        return error(400, "invalid", f"limit must be from 1 to {history.MAX_PAGE}.")
    sessions, next_before_seq = history.sessions_page(
        document=document, before_seq=before_seq, limit=limit
    )
    return JsonResponse(
        {
            "named": [_named_json(v) for v in history.named_versions(document=document)],
            "sessions": [_session_json(s) for s in sessions],
            "next_before_seq": next_before_seq,
            "last_seq": document.last_seq,
        }
    )


@require_http_methods(["PATCH", "DELETE"])
@api_login_required
@_history_access
@_service_errors
def version_detail(request, document, version_id):
    try:
        if request.method == "DELETE":
            version = history.named_version_delete(document=document, version_id=version_id)
            audit.record(
                "version.deleted",
                request=request,
                document_id=document.pk,
                seq=version.seq,
                name=version.name,
            )
            return HttpResponse(status=204)
        version = history.named_version_rename(
            document=document, version_id=version_id, name=_body(request).get("name")
        )
    except NamedVersion.DoesNotExist:
        return error(404, "not_found", "No such named version.")
    return JsonResponse(_named_json(version))


@require_http_methods(["GET"])
@api_login_required
@_history_access
@_service_errors
def version_at(request, document, seq):
    default = "json" if document.kind == DocumentKind.WHITEBOARD else "html"
    fmt = request.GET.get("format", default)
    download = request.GET.get("download") == "1"
    body, content_type = history.version_render(document=document, seq=seq, fmt=fmt)
    if download:
        audit.record(
            "version.exported", request=request, document_id=document.pk, seq=seq, format=fmt
        )
    if fmt in ENVELOPE_FORMATS and not download:
        created = history.seq_time(document=document, seq=seq)
        return JsonResponse(
            {
                "id": str(document.pk),
                "seq": seq,
                "format": fmt,
                "created_at": created.isoformat() if created else None,
                "content": body,
            }
        )
    if fmt == "html":
        # A download is a page of its own; the preview (JSON above) is the fragment.
        body = (
            f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{escape(document.title)}'
            f"</title></head><body>\n{body}\n</body></html>\n"
        )
    response = HttpResponse(body, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    if fmt == "svg" or fmt == "html":
        response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    if download:
        name = slugify(document.title)[:60] or "document"
        response["Content-Disposition"] = f'attachment; filename="{name}-v{seq}.{EXTENSIONS[fmt]}"'
    return response


@require_http_methods(["GET"])
@api_login_required
@_history_access
@_service_errors
def compare(request, document):
    from_seq = _int_param(request, "from")
    to_seq = _int_param(request, "to")
    if from_seq is None or to_seq is None:
        return error(400, "invalid", "from and to are required.")
    return JsonResponse(
        history.versions_compare(document=document, from_seq=from_seq, to_seq=to_seq)
    )


@require_http_methods(["POST"])
@api_login_required
@_history_access
@_service_errors
def restore(request, document, seq):
    new_seq = history.version_restore(document=document, seq=seq, user=request.user)
    audit.record(
        "version.restored", request=request, document_id=document.pk, seq=seq, new_seq=new_seq
    )
    return JsonResponse({"seq": new_seq, "restored_from_seq": seq})


@require_http_methods(["POST"])
@api_login_required
@_history_access
@_service_errors
def copy(request, document, seq):
    title = _body(request).get("title")
    if title is not None and not isinstance(title, str):
        return error(400, "invalid", "title must be a string.")
    new = history.document_copy_from_version(
        document=document, seq=seq, user=request.user, title=title
    )
    audit.record(
        "version.copied", request=request, document_id=document.pk, seq=seq, copy_id=str(new.pk)
    )
    return JsonResponse({"id": str(new.pk), "url": f"/documents/{new.pk}/"}, status=201)
