"""Image uploads: real raster types only, stored under server names, served to members only."""

import base64

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.services import access_token_create
from collab import services
from collab.models import DocumentImage, Membership

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


@pytest.fixture(autouse=True)
def media(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def bearer(user) -> dict:
    _, raw = access_token_create(user=user, name="t")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def upload(client, document, user, data: bytes, name="x.png"):
    return client.post(
        f"/api/documents/{document.pk}/images/",
        {"file": SimpleUploadedFile(name, data, content_type="image/png")},
        **bearer(user),
    )


def test_editor_uploads_and_members_fetch(client, ann, bob, make_user):
    document = services.document_create(owner=ann, title="Pics")
    Membership.objects.create(document=document, user=bob, role="viewer")
    response = upload(client, document, ann, PNG, name="../../etc/passwd.svg")
    assert response.status_code == 201
    body = response.json()
    image = DocumentImage.objects.get(pk=body["id"])
    assert image.file.name == f"documents/{document.pk}/{image.id}.png"  # not the client's name
    client.force_login(bob)
    served = client.get(body["url"])
    assert served.status_code == 200
    assert served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert b"".join(served.streaming_content) == PNG
    stranger = make_user("sam@example.com")
    client.force_login(stranger)
    assert client.get(body["url"]).status_code == 404


@pytest.mark.parametrize(
    "data",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b"<html><script>alert(1)</script></html>",
        b"",
    ],
)
def test_non_images_are_refused(client, ann, data):
    document = services.document_create(owner=ann, title="Pics")
    response = upload(client, document, ann, data)
    assert response.status_code == 400
    assert "PNG" in response.json()["message"]
    assert not DocumentImage.objects.exists()


def test_viewers_cannot_upload_and_size_is_limited(client, ann, bob, settings):
    document = services.document_create(owner=ann, title="Pics")
    Membership.objects.create(document=document, user=bob, role="viewer")
    assert upload(client, document, bob, PNG).status_code == 403
    settings.COLLAB = {**settings.COLLAB, "IMAGE_MAX_BYTES": 10}
    assert upload(client, document, ann, PNG).status_code == 400
