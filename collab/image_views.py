"""Serving uploaded images to the document's members only."""

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.views.decorators.http import require_GET

from . import permissions, selectors
from .models import DocumentImage


@require_GET
@login_required
def image_file(request, document_id, image_id):
    role = selectors.role_of(user=request.user, document_id=document_id)
    if not permissions.can_read(role):
        raise Http404("No such image.")
    image = DocumentImage.objects.filter(pk=image_id, document_id=document_id).first()
    if image is None:
        raise Http404("No such image.")
    response = FileResponse(image.file.open("rb"), content_type=image.content_type)
    # Members only, so no shared caches; the type was sniffed on upload, never guessed later.
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
