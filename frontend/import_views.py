"""The dashboard's import form: a Markdown, HTML or board JSON file becomes a new document."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from collab import importers
from collab.api_import import import_request_read


@require_POST
@login_required
def document_import(request):
    if "file" not in request.FILES:
        messages.error(request, "Choose a file to import.")
        return redirect("document_list")
    try:
        title, fmt, content = import_request_read(request)
        document = importers.document_import(
            owner=request.user, title=title, fmt=fmt, content=content, request=request
        )
    except importers.ImportRefused as exc:
        messages.error(request, f"Could not import: {exc}")
        return redirect("document_list")
    return redirect("document_page", document_id=document.pk)
