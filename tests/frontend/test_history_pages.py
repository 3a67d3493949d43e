"""The version history page: sessions, preview, changes, naming, restore and copy."""

from datetime import timedelta

import pytest
from django.utils import timezone
from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from collab import history, render, services, store
from collab.models import Document, DocumentKind, NamedVersion, Role


class Writer:
    """A client-side Doc whose edits are appended to the log as one update each."""

    def __init__(self, document):
        self.document = document
        self.doc = Doc()
        self.fragment = self.doc.get("default", type=XmlFragment)

    def paragraph(self, text: str, *, author, at) -> int:
        before = self.doc.get_state()
        paragraph = XmlElement("paragraph")
        self.fragment.children.append(paragraph)
        paragraph.children.append(XmlText(text))
        update = self.doc.get_update(before)
        return store.updates_append(
            document_id=self.document.pk,
            updates=[store.PendingUpdate(update, author.pk if author else None, at)],
        )


@pytest.fixture
def two_sessions(ann, bob):
    """Ann writes at 9:00, Bob an hour later: two editing sessions."""
    document = services.document_create(owner=ann, title="Plan")
    services.member_add(document=document, email=bob.email, role=Role.EDITOR, invited_by=ann)
    writer = Writer(document)
    start = timezone.now() - timedelta(hours=2)
    first = writer.paragraph("Ann wrote this", author=ann, at=start)
    second = writer.paragraph("Bob added that", author=bob, at=start + timedelta(hours=1))
    document.refresh_from_db()
    return document, first, second


def test_editor_sees_sessions_newest_first_and_the_current_content(client, two_sessions, bob):
    document, _first, _second = two_sessions
    client.force_login(bob)
    page = client.get(f"/documents/{document.pk}/history/").content.decode()
    assert page.index("Bob") < page.index("Ann wrote") or page.index("Bob") < page.rindex("Ann")
    assert "Current version" in page
    assert "<p>Ann wrote this</p><p>Bob added that</p>" in page
    # Each session links to its state and what it changed.
    assert (
        f"?seq={document.last_seq}&amp;from=1" in page or f"?seq={document.last_seq}&from=1" in page
    )


def test_preview_of_an_old_version_and_its_changes(client, two_sessions, ann):
    document, first, second = two_sessions
    client.force_login(ann)
    old = client.get(f"/documents/{document.pk}/history/?seq={first}", HTTP_HX_REQUEST="true")
    body = old.content.decode()
    assert old.status_code == 200
    assert body.lstrip().startswith('<section id="history-preview"')  # htmx gets the pane only
    assert "Ann wrote this" in body and "Bob added that" not in body
    assert "Restore this version" in body

    changes = client.get(
        f"/documents/{document.pk}/history/?seq={second}&from={first}&changes=1"
    ).content.decode()
    assert "<ins>" in changes and "Bob" in changes.split("<ins>", 1)[1]


def test_viewers_strangers_and_anonymous_get_no_history(client, two_sessions, make_user):
    document, _first, _second = two_sessions
    viewer = make_user("vic@example.com")
    services.member_add(
        document=document, email=viewer.email, role=Role.VIEWER, invited_by=document.owner
    )
    url = f"/documents/{document.pk}/history/"
    assert client.get(url).status_code == 302  # to sign in
    client.force_login(viewer)
    assert client.get(url).status_code == 403
    assert b"Version history" not in client.get(f"/documents/{document.pk}/").content
    client.force_login(make_user("sam@example.com"))
    assert client.get(url).status_code == 404


def test_restore_from_the_page_makes_a_new_change_by_the_restorer(client, two_sessions, bob):
    document, first, _second = two_sessions
    client.force_login(bob)
    response = client.post(f"/documents/{document.pk}/history/restore/", {"seq": first})
    assert response.status_code == 302
    assert response["Location"] == f"/documents/{document.pk}/"
    doc, last = store.doc_load(document_id=document.pk)
    assert render.document_text(doc) == "Ann wrote this"
    assert last == 3
    newest = history.sessions_page(document=document, limit=1)[0][0]
    assert newest.author == bob and newest.restored_from_seq == first
    page = client.get(f"/documents/{document.pk}/history/").content.decode()
    assert f"Restored version {first}" in page


def test_name_rename_and_remove_a_version(client, two_sessions, ann):
    document, first, _second = two_sessions
    client.force_login(ann)
    url = f"/documents/{document.pk}/history/names/"
    response = client.post(
        url, {"seq": first, "name": "Draft sent to legal"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "Draft sent to legal" in response.content.decode()
    version = NamedVersion.objects.get(document=document)
    assert version.seq == first and version.created_by == ann

    client.post(f"{url}{version.pk}/rename/", {"name": "Signed"})
    version.refresh_from_db()
    assert version.name == "Signed"
    client.post(f"{url}{version.pk}/delete/")
    assert not NamedVersion.objects.filter(document=document).exists()


def test_naming_with_an_empty_name_shows_an_error(client, two_sessions, ann):
    document, first, _second = two_sessions
    client.force_login(ann)
    response = client.post(
        f"/documents/{document.pk}/history/names/",
        {"seq": first, "name": "  "},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert 'role="alert"' in response.content.decode()
    assert not NamedVersion.objects.exists()


def test_copy_a_version_into_a_new_document(client, two_sessions, ann):
    document, first, _second = two_sessions
    client.force_login(ann)
    response = client.post(f"/documents/{document.pk}/history/copy/", {"seq": first})
    copy = Document.objects.exclude(pk=document.pk).get()
    assert response["Location"] == f"/documents/{copy.pk}/"
    assert copy.owner == ann
    doc, _seq = store.doc_load(document_id=copy.pk)
    assert render.document_text(doc) == "Ann wrote this"


def test_board_history_previews_as_svg_and_lists_shape_changes(client, ann):
    from pycrdt import Map

    board = services.document_create(owner=ann, title="Board", kind=DocumentKind.WHITEBOARD)
    doc = Doc()
    shapes = doc.get("shapes", type=Map)
    now = timezone.now()
    before = doc.get_state()
    shapes["a"] = Map({"type": "rect", "x": 1, "y": 2, "w": 30, "h": 20})
    store.updates_append(
        document_id=board.pk, updates=[store.PendingUpdate(doc.get_update(before), ann.pk, now)]
    )
    before = doc.get_state()
    shapes["b"] = Map({"type": "sticky", "x": 50, "y": 2, "w": 80, "h": 80, "text": "Idea"})
    store.updates_append(
        document_id=board.pk,
        updates=[store.PendingUpdate(doc.get_update(before), ann.pk, now + timedelta(hours=1))],
    )
    client.force_login(ann)
    page = client.get(f"/documents/{board.pk}/history/?seq=2&from=1&changes=1").content.decode()
    assert "Added sticky" in page and "Idea" in page
    assert f"/api/documents/{board.pk}/versions/at/1/?format=svg" in page
