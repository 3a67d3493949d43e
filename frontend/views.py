"""Page views: one small function each, over collab's services and selectors.

Every view that htmx calls answers an htmx request (HX-Request) with the fragment it
swaps and any other request with the whole page, so each action also works as a plain
link or form post without JavaScript.
"""

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.html import escape
from django.views.decorators.http import require_GET, require_POST

from collab import permissions, selectors, services
from collab.models import TRASH_RETENTION, DocumentKind, Membership, Role

# ?show= on the dashboard: everything, what I own, what others shared with me.
DASHBOARD_FILTERS = {"all": None, "mine": True, "shared": False}
FILTER_LABELS = [("all", "All"), ("mine", "Owned by me"), ("shared", "Shared with me")]
INVITE_ROLES = [(Role.EDITOR, "Editor"), (Role.VIEWER, "Viewer")]


# ------------------------------------------------------------------ helpers


def is_htmx(request) -> bool:
    # A history-restore request wants the whole page even though htmx sends it.
    return request.headers.get("HX-Request") == "true" and not request.headers.get(
        "HX-History-Restore-Request"
    )


def render_htmx(request, page: str, partial: str, context: dict, status: int = 200):
    """The partial for htmx, the page otherwise; Vary so caches keep the two apart."""
    template = partial if is_htmx(request) else page
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def htmx_redirect(request, url: str):
    """Leave the page: HX-Redirect for htmx (a 302 would be followed and swapped in)."""
    if is_htmx(request):
        return HttpResponse(headers={"HX-Redirect": url})
    return redirect(url)


def site_url(request) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def document_for(request, document_id):
    """(document, my role); 404 when it does not exist, is in the trash, or isn't mine."""
    document = selectors.document_get(document_id=document_id)
    role = selectors.role_of(user=request.user, document_id=document_id) if document else None
    if not permissions.can_read(role):
        raise Http404("No such document.")
    return document, role


def dashboard_context(request, **extra) -> dict:
    query = request.GET.get("q", "").strip()[:200]
    show = request.GET.get("show", "all")
    if show not in DASHBOARD_FILTERS:
        show = "all"
    documents = selectors.documents_for(
        user=request.user, query=query, owned=DASHBOARD_FILTERS[show]
    )
    return {
        "documents": [(d, d.my_role) for d in documents],
        "q": query,
        "show": show,
        "filters": FILTER_LABELS,
        "kinds": DocumentKind.choices,
        **extra,
    }


def share_context(request, document, role, **extra) -> dict:
    is_owner = permissions.can_manage(role)
    memberships = list(selectors.memberships_of(document_id=document.pk))
    return {
        "document": document,
        "role": role,
        "is_owner": is_owner,
        "can_transfer": is_owner and document.owner_id == request.user.pk,
        "memberships": memberships,
        "transfer_candidates": [m for m in memberships if m.user_id != document.owner_id],
        "invitations": selectors.invitations_of(document_id=document.pk) if is_owner else [],
        "roles": Role.choices,
        "invite_roles": INVITE_ROLES,
        "invite_role": Role.EDITOR,
        "document_url": site_url(request) + services.document_url(document),
        **extra,
    }


def share_manager(request, document_id):
    """(document, role) for the share actions, which only owners may take."""
    document, role = document_for(request, document_id)
    if not permissions.can_manage(role):
        raise PermissionDenied("Only owners manage who has access.")
    return document, role


def share_done(request, document, *, message: str = "", error: str = ""):
    """After a share action: the refreshed share section (htmx) or a redirect to the page;
    away to the dashboard if the acting owner no longer has access."""
    role = selectors.role_of(user=request.user, document_id=document.pk)
    if role is None:
        if not is_htmx(request):
            messages.success(request, message)
        return htmx_redirect(request, reverse("document_list"))
    if error:
        return render_htmx(
            request,
            "frontend/share.html",
            "frontend/partials/share.html",
            share_context(request, document, role, error=error),
            status=422 if is_htmx(request) else 400,
        )
    if is_htmx(request):
        context = share_context(request, document, role, message=message)
        return render(request, "frontend/partials/share.html", context)
    messages.success(request, message)
    return redirect("share_page", document_id=document.pk)


# ---------------------------------------------------------------- dashboard


@require_GET
def document_list(request):
    if not request.user.is_authenticated:
        return render(request, "frontend/welcome.html")
    return render_htmx(
        request,
        "frontend/document_list.html",
        "frontend/partials/document_list.html",
        dashboard_context(request),
    )


@require_POST
@login_required
def document_create(request):
    try:
        document = services.document_create(
            owner=request.user,
            title=request.POST.get("title", ""),
            kind=request.POST.get("kind", DocumentKind.TEXT),
            request=request,
        )
    except services.ServiceError as exc:
        if is_htmx(request):
            context = {"kinds": DocumentKind.choices, "error": str(exc)}
            response = render(request, "frontend/partials/create_form.html", context, status=422)
            response["HX-Retarget"] = "#create-form"
            response["HX-Reswap"] = "outerHTML"
            return response
        context = dashboard_context(request, error=str(exc))
        return render(request, "frontend/document_list.html", context, status=400)
    if is_htmx(request):
        # Like every editor people know: a new document opens, ready to type in.
        response = HttpResponse(status=201)
        response["HX-Redirect"] = reverse("document_page", kwargs={"document_id": document.pk})
        return response
    return redirect("document_page", document_id=document.pk)


@require_GET
@login_required
def document_row(request, document_id):
    """One dashboard row: what "Cancel" swaps back in, and what live updates can fetch."""
    document, role = document_for(request, document_id)
    if not is_htmx(request):
        return redirect("document_list")
    return render(
        request, "frontend/partials/document_row.html", {"document": document, "role": role}
    )


@require_GET
@login_required
def document_rename_form(request, document_id):
    document, role = document_for(request, document_id)
    if not permissions.can_rename(role):
        raise PermissionDenied("Viewers cannot rename a document.")
    return render_htmx(
        request,
        "frontend/document_rename.html",
        "frontend/partials/document_row_rename.html",
        {"document": document, "role": role, "title": document.title},
    )


@require_POST
@login_required
def document_rename(request, document_id):
    document, role = document_for(request, document_id)
    if not permissions.can_rename(role):
        raise PermissionDenied("Viewers cannot rename a document.")
    title = request.POST.get("title", "")
    try:
        services.document_rename(document=document, title=title, request=request)
    except services.ServiceError as exc:
        document.refresh_from_db(fields=["title"])
        return render_htmx(
            request,
            "frontend/document_rename.html",
            "frontend/partials/document_row_rename.html",
            {"document": document, "role": role, "title": title, "error": str(exc)},
            status=422 if is_htmx(request) else 400,
        )
    if is_htmx(request):
        return render(
            request, "frontend/partials/document_row.html", {"document": document, "role": role}
        )
    messages.success(request, f"Renamed to “{document.title}”.")
    return redirect("document_list")


@require_GET
@login_required
def document_delete_confirm(request, document_id):
    """The confirmation step without JavaScript (with it, hx-confirm asks instead)."""
    document, role = document_for(request, document_id)
    if not permissions.can_manage(role):
        raise PermissionDenied("Only owners can delete a document.")
    return render(
        request,
        "frontend/document_delete.html",
        {"document": document, "retention_days": TRASH_RETENTION.days},
    )


@require_POST
@login_required
def document_trash(request, document_id):
    document, role = document_for(request, document_id)
    if not permissions.can_manage(role):
        raise PermissionDenied("Only owners can delete a document.")
    services.document_trash(document=document, request=request)
    if is_htmx(request):
        # The row's outerHTML becomes nothing; the notice (with undo) swaps in out of band.
        return render(request, "frontend/partials/trashed_notice.html", {"document": document})
    messages.success(
        request,
        f"“{document.title}” moved to the trash. You can restore it from the trash "
        f"for {TRASH_RETENTION.days} days.",
    )
    return redirect("document_list")


# -------------------------------------------------------------------- trash


@require_GET
@login_required
def trash_list(request):
    return render_htmx(
        request,
        "frontend/trash.html",
        "frontend/partials/trash_list.html",
        {"documents": selectors.trash_for(user=request.user), "retention": TRASH_RETENTION},
    )


@require_POST
@login_required
def document_restore(request, document_id):
    document = selectors.trashed_document_get(user=request.user, document_id=document_id)
    if document is None:
        raise Http404("Nothing to restore.")
    services.document_restore(document=document, request=request)
    if is_htmx(request):
        return render(request, "frontend/partials/restored_notice.html", {"document": document})
    messages.success(request, f"“{document.title}” restored.")
    # "Undo" on the dashboard's notice comes back to the dashboard; the trash page to itself.
    return redirect("document_list" if request.POST.get("next") == "dashboard" else "trash_list")


# -------------------------------------------------------------------- share


@require_GET
@login_required
def share_page(request, document_id):
    document, role = document_for(request, document_id)
    return render_htmx(
        request,
        "frontend/share.html",
        "frontend/partials/share.html",
        share_context(request, document, role),
    )


@require_POST
@login_required
def share_invite(request, document_id):
    document, role = share_manager(request, document_id)
    email = request.POST.get("email", "").strip()
    invite_role = request.POST.get("role", Role.EDITOR)
    try:
        services.member_add(
            document=document,
            email=email,
            role=invite_role,
            invited_by=request.user,
            site_url=site_url(request),
            request=request,
        )
    except services.ServiceError as exc:
        context = share_context(
            request,
            document,
            role,
            invite_error=str(exc),
            invite_email=email,
            invite_role=invite_role,
        )
        if is_htmx(request):
            return render(request, "frontend/partials/share_invite.html", context, status=422)
        return render(request, "frontend/share.html", context, status=400)
    # The same words whether or not the address has an account: nothing is revealed.
    message = f"Invitation sent to {email.lower()}."
    if is_htmx(request):
        context = share_context(request, document, role, invite_message=message)
        response = render(request, "frontend/partials/share_invite.html", context)
        # The people list refreshes itself on this event, in a request of its own.
        response["HX-Trigger"] = "share-members-changed"
        return response
    messages.success(request, message)
    return redirect("share_page", document_id=document.pk)


@require_POST
@login_required
def share_member_role(request, document_id, user_id: int):
    document, _role = share_manager(request, document_id)
    try:
        membership = services.member_update_role(
            document=document, user_id=user_id, role=request.POST.get("role", ""), request=request
        )
    except Membership.DoesNotExist as exc:
        raise Http404("No such member.") from exc
    except services.ServiceError as exc:
        return share_done(request, document, error=str(exc))
    return share_done(
        request,
        document,
        message=f"{membership.user.name} is now {services.ROLE_PHRASES[membership.role]}.",
    )


@require_POST
@login_required
def share_member_remove(request, document_id, user_id: int):
    document, _role = share_manager(request, document_id)
    member = selectors.memberships_of(document_id=document.pk).filter(user_id=user_id).first()
    if member is None:
        raise Http404("No such member.")
    try:
        services.member_remove(document=document, user_id=user_id, request=request)
    except services.ServiceError as exc:
        return share_done(request, document, error=str(exc))
    return share_done(request, document, message=f"{member.user.name} no longer has access.")


@require_POST
@login_required
def share_invitation_revoke(request, document_id):
    document, _role = share_manager(request, document_id)
    email = request.POST.get("email", "")
    if not services.invitation_revoke(document=document, email=email, request=request):
        raise Http404("No invitation for that address.")
    return share_done(request, document, message=f"Invitation to {email.strip()} revoked.")


@require_POST
@login_required
def share_ownership_transfer(request, document_id):
    document, _role = share_manager(request, document_id)
    if document.owner_id != request.user.pk:
        raise PermissionDenied("Only the document's owner can hand it over.")
    try:
        to_user_id = int(request.POST.get("user_id", ""))
    except ValueError:
        return share_done(request, document, error="Choose the member who becomes the owner.")
    try:
        services.ownership_transfer(document=document, to_user_id=to_user_id, request=request)
    except services.ServiceError as exc:
        return share_done(request, document, error=str(exc))
    return share_done(request, document, message=f"{document.owner.name} now owns this document.")


# ----------------------------------------------------------------- document


@require_GET
@login_required
def document_page(request, document_id):
    document, role = document_for(request, document_id)
    template = (
        "frontend/board.html"
        if document.kind == DocumentKind.WHITEBOARD
        else "frontend/document.html"
    )
    return render(
        request,
        template,
        {"document": document, "role": role, "can_edit": permissions.can_write(role)},
    )


EXPORT_FORMATS = {
    "md": ("text/markdown; charset=utf-8", "document_markdown"),
    "html": ("text/html; charset=utf-8", "document_html"),
    "txt": ("text/plain; charset=utf-8", "document_text"),
}


@require_GET
@login_required
def document_export(request, document_id, extension):
    """Download the current content as Markdown, HTML or plain text (members only)."""
    from collab import audit, store
    from collab import render as renderers

    document, _role = document_for(request, document_id)
    if extension not in EXPORT_FORMATS:
        raise Http404("No such format.")
    content_type, renderer = EXPORT_FORMATS[extension]
    doc, _seq = store.doc_load(document_id=document.pk)
    body = getattr(renderers, renderer)(doc)
    audit.record("document.exported", request=request, document_id=document.pk, format=extension)
    if extension == "html":
        # A standalone page: the sanitised body, a title, and nothing that could run.
        body = (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{escape(document.title)}</title></head><body>{body}</body></html>"
        )
    response = HttpResponse(body, content_type=content_type)
    safe_name = re.sub(r"[^A-Za-z0-9._ -]+", "_", document.title).strip() or "document"
    response["Content-Disposition"] = f'attachment; filename="{safe_name}.{extension}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self' https:"
    return response
