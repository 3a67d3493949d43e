"""The JSON API: documents, members, content and connect tokens. Thin over services."""

import json
from functools import wraps

from django.conf import settings
from django.http import HttpResponse, JsonResponse

from . import audit, permissions, selectors, services, store
from .models import Membership
from .render import document_json, document_text


def error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": code, "message": message}, status=status)


def require_http_methods(methods):
    """Like Django's, but the 405 is JSON like every other API error."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method not in methods:
                response = error(405, "method_not_allowed", f"Use {', '.join(methods)}.")
                response["Allow"] = ", ".join(methods)
                return response
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def api_login_required(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return error(401, "not_authenticated", "Sign in or send a bearer token.")
        return view(request, *args, **kwargs)

    return wrapped


def _body(request) -> dict:
    if not request.body:
        return {}
    try:
        data = json.loads(request.body)
    except (ValueError, RecursionError) as exc:
        raise services.ServiceError("The body must be a JSON object.") from exc
    if not isinstance(data, dict):
        raise services.ServiceError("The body must be a JSON object.")
    return data


def ws_base_url(request) -> str:
    scheme = "wss" if request.is_secure() else "ws"
    return f"{scheme}://{request.get_host()}/ws/documents"


def _document_json(request, document, role: str) -> dict:
    base = ws_base_url(request)
    return {
        "id": str(document.pk),
        "title": document.title,
        "kind": document.kind,
        "role": role,
        "owner": {"id": document.owner_id, "name": document.owner.name},
        "created_at": document.created_at.isoformat(),
        "updated_at": document.updated_at.isoformat(),
        "last_edited_at": document.last_edited_at.isoformat() if document.last_edited_at else None,
        "url": f"/documents/{document.pk}/",
        "ws_url": f"{base}/{document.pk}",
        "ws_base_url": base,
    }


def _with_role(view):
    """Resolve <document_id> to (document, role); 404 when absent or not a member."""

    @wraps(view)
    def wrapped(request, document_id, *args, **kwargs):
        document = selectors.document_get(document_id=document_id)
        role = selectors.role_of(user=request.user, document_id=document_id) if document else None
        if not permissions.can_read(role):
            # Not found either way: non-members learn nothing about which ids exist.
            return error(404, "not_found", "No such document.")
        return view(request, document, role, *args, **kwargs)

    return wrapped


def _service_errors(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except services.ServiceError as exc:
            return error(400, "invalid", str(exc))

    return wrapped


@require_http_methods(["GET", "POST"])
@api_login_required
@_service_errors
def documents(request):
    if request.method == "POST":
        data = _body(request)
        document = services.document_create(
            owner=request.user,
            title=data.get("title", ""),
            kind=data.get("kind", "text"),
            request=request,
        )
        return JsonResponse(_document_json(request, document, "owner"), status=201)
    items = [
        _document_json(request, d, d.my_role) for d in selectors.documents_for(user=request.user)
    ]
    return JsonResponse({"documents": items})


@require_http_methods(["GET", "PATCH", "DELETE"])
@api_login_required
@_with_role
@_service_errors
def document_detail(request, document, role):
    if request.method == "PATCH":
        if not permissions.can_rename(role):
            return error(403, "forbidden", "Viewers cannot rename a document.")
        data = _body(request)
        services.document_rename(document=document, title=data.get("title", ""), request=request)
    elif request.method == "DELETE":
        if not permissions.can_manage(role):
            return error(403, "forbidden", "Only owners can delete a document.")
        # To the trash: 404 from now on for everyone; its owners can restore it from /trash/.
        services.document_trash(document=document, request=request)
        return HttpResponse(status=204)
    return JsonResponse(_document_json(request, document, role))


def _member_json(membership) -> dict:
    return {
        "user_id": membership.user_id,
        "email": membership.user.email,
        "name": membership.user.name,
        "role": membership.role,
    }


@require_http_methods(["GET", "POST", "DELETE"])
@api_login_required
@_with_role
@_service_errors
def members(request, document, role):
    if request.method == "POST":
        if not permissions.can_manage(role):
            return error(403, "forbidden", "Only owners manage members.")
        data = _body(request)
        email, new_role = data.get("email", ""), data.get("role", "editor")
        services.member_add(
            document=document,
            email=email,
            role=new_role,
            invited_by=request.user,
            site_url=request.build_absolute_uri("/"),
            request=request,
        )
        # The same answer whether or not the address has an account.
        return JsonResponse({"email": email.strip().lower(), "role": new_role}, status=202)
    if request.method == "DELETE":
        # Revoking an invitation: {"email"}. Members are removed at members/<user_id>/.
        if not permissions.can_manage(role):
            return error(403, "forbidden", "Only owners manage members.")
        email = _body(request).get("email")
        if not services.invitation_revoke(document=document, email=email, request=request):
            return error(404, "not_found", "No invitation for that address.")
        return HttpResponse(status=204)
    payload = {
        "members": [_member_json(m) for m in selectors.memberships_of(document_id=document.pk)]
    }
    if permissions.can_manage(role):
        payload["invitations"] = [
            {"email": i.email, "role": i.role}
            for i in selectors.invitations_of(document_id=document.pk)
        ]
    return JsonResponse(payload)


@require_http_methods(["PATCH", "DELETE"])
@api_login_required
@_with_role
@_service_errors
def member_detail(request, document, role, user_id):
    if not permissions.can_manage(role):
        return error(403, "forbidden", "Only owners manage members.")
    try:
        if request.method == "DELETE":
            services.member_remove(document=document, user_id=user_id, request=request)
            return HttpResponse(status=204)
        membership = services.member_update_role(
            document=document, user_id=user_id, role=_body(request).get("role", ""), request=request
        )
    except Membership.DoesNotExist:
        return error(404, "not_found", "No such member.")
    return JsonResponse(_member_json(membership))


@require_http_methods(["GET"])
@api_login_required
@_with_role
def content(request, document, role):
    """text/json/html/markdown of a text document; json (board model), svg or png of a
    whiteboard, where `ids=a,b` exports a selection and `scale` sizes the png."""
    from .models import DocumentKind
    from .render import document_html, document_markdown
    from .whiteboard import board_json, render_png, render_svg

    if document.kind != DocumentKind.WHITEBOARD:
        renderers = {
            "text": document_text,
            "json": document_json,
            "html": document_html,
            "markdown": document_markdown,
        }
        fmt = request.GET.get("format", "text")
        if fmt not in renderers:
            return error(400, "invalid", "format must be text, json, html or markdown.")
        doc, seq = store.doc_load(document_id=document.pk)
        body = renderers[fmt](doc)
        audit.record("document.exported", request=request, document_id=document.pk, format=fmt)
        return JsonResponse({"id": str(document.pk), "format": fmt, "seq": seq, "content": body})

    fmt = request.GET.get("format", "json")
    if fmt not in ("json", "svg", "png"):
        return error(400, "invalid", "format must be json, svg or png for a whiteboard.")
    ids = None
    if "ids" in request.GET:
        ids = [i.strip() for i in request.GET["ids"].split(",") if i.strip()][:1000]
    scale = 1.0
    if fmt == "png" and "scale" in request.GET:
        try:
            scale = float(request.GET["scale"])
        except ValueError:
            scale = 0.0
        if not 0.1 <= scale <= 4:
            return error(400, "invalid", "scale must be a number from 0.1 to 4.")
    doc, seq = store.doc_load(document_id=document.pk)
    audit.record(
        "document.exported",
        request=request,
        document_id=document.pk,
        format=fmt,
        shapes=len(ids) if ids is not None else None,
    )
    if fmt == "json":
        body = board_json(doc, shape_ids=ids)
        return JsonResponse({"id": str(document.pk), "format": fmt, "seq": seq, "content": body})
    if fmt == "svg":
        response = HttpResponse(render_svg(doc, shape_ids=ids), content_type="image/svg+xml")
        response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    else:
        png = render_png(doc, shape_ids=ids, scale=scale)
        response = HttpResponse(png, content_type="image/png")
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_http_methods(["POST"])
@api_login_required
@_with_role
def connect_token(request, document, role):
    token = services.connect_token_issue(user=request.user, document=document)
    return JsonResponse(
        {
            "token": token,
            "expires_in": settings.COLLAB["CONNECT_TOKEN_MAX_AGE"],
            "ws_url": f"{ws_base_url(request)}/{document.pk}?token={token}",
            "role": role,
        }
    )


@require_http_methods(["POST"])
@api_login_required
@_with_role
@_service_errors
def images(request, document, role):
    """Upload an image (multipart field `file`); editors and owners only."""
    from .images import image_upload, image_url

    if not permissions.can_write(role):
        return error(403, "forbidden", "Viewers cannot add images.")
    image = image_upload(document=document, user=request.user, upload=request.FILES.get("file"))
    return JsonResponse(
        {"id": str(image.id), "url": image_url(image), "content_type": image.content_type},
        status=201,
    )


def csrf_failure(request, reason=""):
    """JSON for API clients; Django's own page for everything else."""
    if request.path.startswith("/api/"):
        return error(403, "csrf_failed", f"CSRF check failed: {reason}")
    from django.views.csrf import csrf_failure as default

    return default(request, reason=reason)
