"""Image uploads: sniff the real type from the bytes, store under a server-chosen name."""

from django.conf import settings
from django.core.files.base import ContentFile

from .models import Document, DocumentImage
from .services import ServiceError

# Raster formats only: SVG can carry script, so it is never accepted.
SIGNATURES = [
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
]


def sniff_image_type(head: bytes) -> str | None:
    for signature, content_type in SIGNATURES:
        if head.startswith(signature):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_upload(*, document: Document, user, upload) -> DocumentImage:
    """Store an uploaded file if it really is a PNG, JPEG, GIF or WebP within the size limit."""
    limit = settings.COLLAB["IMAGE_MAX_BYTES"]
    if upload is None:
        raise ServiceError("Send the image as the multipart field 'file'.")
    if upload.size > limit:
        raise ServiceError(f"Images may be at most {limit // (1024 * 1024)} MB.")
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise ServiceError(f"Images may be at most {limit // (1024 * 1024)} MB.")
    content_type = sniff_image_type(data[:16])
    if content_type is None:
        raise ServiceError("Only PNG, JPEG, GIF and WebP images are accepted.")
    image = DocumentImage(
        document=document, uploaded_by=user, content_type=content_type, size=len(data)
    )
    image.file.save(f"upload.{image.extension}", ContentFile(data), save=False)
    image.save()
    return image


def image_url(image: DocumentImage) -> str:
    return f"/documents/{image.document_id}/images/{image.id}"
