"""The version history page: sessions and named versions, preview, changes, restore, copy.

Thin over collab.history. Editors and owners only; a viewer gets a 403 page, like the
history API. Every action works as a plain form post and, under htmx, swaps the part
of the page it changes.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from collab import audit, history, permissions, services
from collab.models import DocumentKind, NamedVersion

from .views import document_for, htmx_redirect, is_htmx, render_htmx

SESSIONS_PER_PAGE = 30

TEXT_EXPORTS = [("markdown", "Markdown"), ("html", "HTML"), ("text", "Plain text"), ("pdf", "PDF")]
BOARD_EXPORTS = [("svg", "SVG"), ("png", "PNG"), ("json", "JSON")]


def history_document(request, document_id):
    document, role = document_for(request, document_id)
    if not permissions.can_see_history(role):
        raise PermissionDenied("Only editors and owners see a document's history.")
    return document, role


def _int_param(value, default=None):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _selected(request, document) -> tuple[int, int | None]:
    """The version shown (?seq=, default: now) and what its changes are shown against."""
    last = document.last_seq
    seq = _int_param(request.GET.get("seq"), last)
    seq = min(max(seq, 0), last)
    base = _int_param(request.GET.get("from"))
    if base is not None:
        base = min(max(base, 0), last)
    return seq, base


def _preview_context(request, document, seq: int, base: int | None, named=None) -> dict:
    is_board = document.kind == DocumentKind.WHITEBOARD
    show_changes = request.GET.get("changes") == "1" and base is not None and base != seq
    context = {
        "document": document,
        "seq": seq,
        "base": base,
        "is_current": seq == document.last_seq,
        "is_board": is_board,
        "show_changes": show_changes,
        "exports": BOARD_EXPORTS if is_board else TEXT_EXPORTS,
        "named_here": [
            v
            for v in (history.named_versions(document=document) if named is None else named)
            if v.seq == seq
        ],
    }
    if show_changes:
        context["comparison"] = history.versions_compare(
            document=document, from_seq=base, to_seq=seq
        )
    elif not is_board:
        body, _content_type = history.version_render(document=document, seq=seq, fmt="html")
        context["preview_html"] = body
    return context


def _sidebar_context(document, before_seq=None) -> dict:
    sessions, next_before = history.sessions_page(
        document=document, before_seq=before_seq, limit=SESSIONS_PER_PAGE
    )
    return {
        "document": document,
        "sessions": sessions,
        "next_before_seq": next_before,
        "named_versions": history.named_versions(document=document),
    }


@require_GET
@login_required
def history_page(request, document_id):
    document, role = history_document(request, document_id)
    seq, base = _selected(request, document)
    if is_htmx(request):
        # Clicking a version swaps the preview pane only: the sidebar is not read again.
        context = {"role": role, **_preview_context(request, document, seq, base)}
    else:
        sidebar = _sidebar_context(document)
        named = sidebar["named_versions"]
        context = {"role": role, **sidebar, **_preview_context(request, document, seq, base, named)}
    return render_htmx(
        request, "frontend/history.html", "frontend/partials/history_preview.html", context
    )


@require_GET
@login_required
def history_sessions(request, document_id):
    """The next page of editing sessions (the sidebar's "Older" button)."""
    document, _role = history_document(request, document_id)
    before = _int_param(request.GET.get("before_seq"))
    return render(
        request,
        "frontend/partials/history_sessions.html",
        _sidebar_context(document, before_seq=before),
    )


def _named_done(request, document, *, error: str = ""):
    if is_htmx(request):
        context = {**_sidebar_context(document), "named_error": error}
        return render(
            request,
            "frontend/partials/history_named.html",
            context,
            status=422 if error else 200,
        )
    if error:
        messages.error(request, error)
    return redirect("history_page", document_id=document.pk)


@require_POST
@login_required
def named_version_create(request, document_id):
    document, _role = history_document(request, document_id)
    seq = _int_param(request.POST.get("seq"), document.last_seq)
    try:
        history.named_version_create(
            document=document, user=request.user, name=request.POST.get("name", ""), seq=seq
        )
    except services.ServiceError as exc:
        return _named_done(request, document, error=str(exc))
    return _named_done(request, document)


@require_POST
@login_required
def named_version_rename(request, document_id, version_id: int):
    document, _role = history_document(request, document_id)
    try:
        history.named_version_rename(
            document=document, version_id=version_id, name=request.POST.get("name", "")
        )
    except NamedVersion.DoesNotExist:
        raise Http404("No such version.") from None
    except services.ServiceError as exc:
        return _named_done(request, document, error=str(exc))
    return _named_done(request, document)


@require_POST
@login_required
def named_version_delete(request, document_id, version_id: int):
    document, _role = history_document(request, document_id)
    try:
        history.named_version_delete(document=document, version_id=version_id)
    except NamedVersion.DoesNotExist:
        raise Http404("No such version.") from None
    return _named_done(request, document)


@require_POST
@login_required
def version_restore(request, document_id):
    """Restore: a new change by me that turns today's content into the chosen version's."""
    document, _role = history_document(request, document_id)
    seq = _int_param(request.POST.get("seq"))
    if seq is None or not 0 <= seq <= document.last_seq:
        raise Http404("No such version.")
    history.version_restore(document=document, seq=seq, user=request.user)
    audit.record("version.restored", request=request, document_id=document.pk, seq=seq)
    messages.success(request, "Version restored. Everyone editing sees it now.")
    return htmx_redirect(request, reverse("document_page", args=[document.pk]))


@require_POST
@login_required
def version_copy(request, document_id):
    document, _role = history_document(request, document_id)
    seq = _int_param(request.POST.get("seq"))
    if seq is None or not 0 <= seq <= document.last_seq:
        raise Http404("No such version.")
    copy = history.document_copy_from_version(
        document=document,
        seq=seq,
        user=request.user,
        title=request.POST.get("title") or None,
    )
    audit.record(
        "version.copied", request=request, document_id=document.pk, seq=seq, copy_id=str(copy.pk)
    )
    messages.success(request, f"Copied into “{copy.title}”.")
    return htmx_redirect(request, reverse("document_page", args=[copy.pk]))
