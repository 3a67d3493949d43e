"""Export: members download the current content as Markdown, HTML or text; others get 404."""

import pytest
from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from collab import services, store


def write_heading_and_paragraph(document, author) -> None:
    doc = Doc()
    fragment = doc.get("default", type=XmlFragment)
    heading = XmlElement("heading", {"level": 1})
    fragment.children.append(heading)
    heading.children.append(XmlText("Plan <script>"))
    paragraph = XmlElement("paragraph")
    fragment.children.append(paragraph)
    paragraph.children.append(XmlText("Ship it"))
    from django.utils import timezone

    store.updates_append(
        document_id=document.pk,
        updates=[store.PendingUpdate(doc.get_update(), author.pk, timezone.now())],
    )


@pytest.mark.parametrize(
    ("extension", "content_type", "expected"),
    [
        ("md", "text/markdown", "# Plan \\<script>\n\nShip it"),
        ("txt", "text/plain", "Plan <script>\nShip it"),
        ("html", "text/html", "<h1>Plan &lt;script&gt;</h1><p>Ship it</p>"),
    ],
)
def test_member_downloads_each_format(client, ann, extension, content_type, expected):
    document = services.document_create(owner=ann, title="Q3/plan")
    write_heading_and_paragraph(document, ann)
    client.force_login(ann)
    response = client.get(f"/documents/{document.pk}/export.{extension}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith(content_type)
    assert response["Content-Disposition"] == f'attachment; filename="Q3_plan.{extension}"'
    assert expected in response.content.decode()
    assert "<script>" not in response.content.decode().replace("\\<script>", "").replace(
        "Plan <script>\nShip", ""
    )


def test_non_member_and_unknown_format_get_404(client, ann, bob):
    document = services.document_create(owner=ann, title="Private")
    client.force_login(bob)
    assert client.get(f"/documents/{document.pk}/export.md").status_code == 404
    client.force_login(ann)
    assert client.get(f"/documents/{document.pk}/export.pdf").status_code == 404
