"""POST /api/documents/import/: a new document from Markdown, HTML or a board's JSON export."""

from pathlib import PurePath

from django.http import JsonResponse

from . import importers
from .api import (
    _body,
    _document_json,
    _service_errors,
    api_login_required,
    error,
    require_http_methods,
)

# A file's extension decides its format when a file is uploaded.
FORMATS_BY_EXTENSION = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "markdown",
    ".html": "html",
    ".htm": "html",
    ".json": "board-json",
}


def import_request_read(request) -> tuple[str, str, object]:
    """(title, format, content) from a multipart upload (`file`) or a JSON body."""
    upload = request.FILES.get("file")
    if upload is not None:
        if upload.size > importers.MAX_IMPORT_BYTES:
            raise importers.ImportRefused("Imports are limited to 5 MB.")
        extension = PurePath(upload.name or "").suffix.lower()
        fmt = request.POST.get("format") or FORMATS_BY_EXTENSION.get(extension)
        if fmt is None:
            raise importers.ImportRefused(
                "Upload a .md, .html or board .json file (or say its format)."
            )
        try:
            content = upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise importers.ImportRefused("The file is not UTF-8 text.") from None
        title = request.POST.get("title") or PurePath(upload.name or "Imported").stem
        return title[:200], fmt, content
    data = _body(request)
    return data.get("title", ""), data.get("format", ""), data.get("content")


@require_http_methods(["POST"])
@api_login_required
@_service_errors
def document_import(request):
    if request.content_type == "application/json" and len(request.body) > (
        importers.MAX_IMPORT_BYTES * 2
    ):
        return error(413, "too_large", "Imports are limited to 5 MB.")
    title, fmt, content = import_request_read(request)
    document = importers.document_import(
        owner=request.user, title=title, fmt=fmt, content=content, request=request
    )
    return JsonResponse(_document_json(request, document, "owner"), status=201)
