"""collab.history and its API: versions at a time, sessions, compare, restore, copy, export."""

import importlib
import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.apps import apps
from django.db import IntegrityError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from accounts.services import access_token_create
from collab import history, services, store
from collab.broadcast import room_group
from collab.models import AuditEvent, Document, EditSession, Membership, NamedVersion
from collab.render import document_json, document_text
from collab.whiteboard import board_json

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0) - timedelta(days=1)


class Writer:
    """A client-side Doc whose every edit yields one real incremental Yjs update."""

    def __init__(self, doc: Doc | None = None):
        self.doc = doc or Doc()
        self.root = self.doc.get("default", type=XmlFragment)

    def _edit(self, change) -> bytes:
        before = self.doc.get_state()
        change()
        return self.doc.get_update(before)

    def paragraph(self, text: str, tag: str = "paragraph", attrs=None, marks=None) -> bytes:
        def change():
            element = self.root.children.append(XmlElement(tag, attrs or {}))
            run = element.children.append(XmlText())
            run.insert(0, text, marks)

        return self._edit(change)

    def set_first(self, text: str) -> bytes:
        def change():
            run = self.root.children[0].children[0]
            del run[0 : len(run)]
            run.insert(0, text)

        return self._edit(change)


def append(document, update: bytes, author=None, at=None) -> int:
    pending = store.PendingUpdate(update, author.pk if author else None, at or timezone.now())
    return store.updates_append(document_id=document.pk, updates=[pending])


def text_of(document, seq=None) -> str:
    if seq is None:
        doc, _ = store.doc_load(document_id=document.pk)
    else:
        doc = history.version_doc(document=document, seq=seq)
    return document_text(doc)


def fresh(document) -> Document:
    return Document.objects.get(pk=document.pk)


@pytest.fixture
def carl(make_user):
    return make_user("carl@example.com", display_name="Carl")


@pytest.fixture
def document(ann, bob, carl):
    """Ann's text document; Bob edits it, Carl views it."""
    document = services.document_create(owner=ann, title="Plan")
    Membership.objects.create(document=document, user=bob, role="editor")
    Membership.objects.create(document=document, user=carl, role="viewer")
    return document


@pytest.fixture
def written(document, ann, bob):
    """Three paragraphs written an hour apart; returns (writer, seqs)."""
    writer = Writer()
    seqs = [
        append(document, writer.paragraph("alpha one"), ann, T0),
        append(document, writer.paragraph("beta two"), bob, T0 + timedelta(hours=1)),
        append(document, writer.paragraph("gamma three"), ann, T0 + timedelta(hours=2)),
    ]
    return writer, seqs


# Versions in time


def test_a_version_at_a_time_is_the_content_at_that_time(document, written):
    _, seqs = written
    assert history.seq_at(document=document, when=T0 - timedelta(seconds=1)) == 0
    assert history.seq_at(document=document, when=T0) == seqs[0]
    assert history.seq_at(document=document, when=T0 + timedelta(minutes=90)) == seqs[1]
    assert history.seq_at(document=document, when=T0 + timedelta(days=3)) == seqs[2]
    at = history.seq_at(document=document, when=T0 + timedelta(minutes=90))
    assert text_of(document, at) == "alpha one\nbeta two"
    assert text_of(document, 0) == ""
    assert text_of(document, seqs[2]) == text_of(document)


def test_versions_come_from_snapshots_and_the_log_alike(document, ann):
    writer = Writer()
    expected = []
    for i in range(12):
        append(document, writer.paragraph(f"line {i}"), ann)
        expected.append(f"line {i}")
        if i in (3, 7):
            store.snapshot_compact(document_id=document.pk, min_tail=1)
    for seq in range(1, 13):
        assert text_of(document, seq) == "\n".join(expected[:seq])


@pytest.mark.parametrize("seq", [-1, 4, "2", None, True, 2.0])
def test_a_seq_outside_the_log_is_an_error(document, written, seq):
    with pytest.raises(history.HistoryError):
        history.version_doc(document=document, seq=seq)


# Sessions


def test_sessions_group_one_authors_edits_until_a_pause(document, ann, bob, settings):
    settings.COLLAB = {**settings.COLLAB, "HISTORY_SESSION_GAP": 300}
    writer = Writer()
    append(document, writer.paragraph("a"), ann, T0)
    append(document, writer.paragraph("b"), ann, T0 + timedelta(seconds=200))
    append(document, writer.paragraph("c"), ann, T0 + timedelta(seconds=400))  # within gap
    append(document, writer.paragraph("d"), ann, T0 + timedelta(seconds=800))  # pause
    append(document, writer.paragraph("e"), bob, T0 + timedelta(seconds=801))  # other author
    # One batch with two authors: split inside the batch too.
    store.updates_append(
        document_id=document.pk,
        updates=[
            store.PendingUpdate(writer.paragraph("f"), bob.pk, T0 + timedelta(seconds=802)),
            store.PendingUpdate(writer.paragraph("g"), ann.pk, T0 + timedelta(seconds=803)),
        ],
    )
    sessions, cursor = history.sessions_page(document=document)
    assert cursor is None
    assert [(s.author, s.first_seq, s.last_seq, s.update_count) for s in sessions] == [
        (ann, 7, 7, 1),
        (bob, 5, 6, 2),
        (ann, 4, 4, 1),
        (ann, 1, 3, 3),
    ]
    assert sessions[-1].started_at == T0
    assert sessions[-1].ended_at == T0 + timedelta(seconds=400)
    assert sessions[-1].byte_count > 0


def test_sessions_paginate_newest_first(document, ann, bob):
    writer = Writer()
    for i in range(7):
        append(document, writer.paragraph(str(i)), ann if i % 2 else bob)
    first, cursor = history.sessions_page(document=document, limit=3)
    assert [s.last_seq for s in first] == [7, 6, 5]
    second, cursor2 = history.sessions_page(document=document, before_seq=cursor, limit=3)
    assert [s.last_seq for s in second] == [4, 3, 2]
    third, cursor3 = history.sessions_page(document=document, before_seq=cursor2, limit=3)
    assert [s.last_seq for s in third] == [1] and cursor3 is None


def test_recording_sessions_costs_the_same_queries_whatever_the_log_length(document, ann):
    writer = Writer()

    def queries_for_one_batch() -> int:
        batch = [store.PendingUpdate(writer.paragraph("x"), ann.pk, timezone.now())] * 1
        with CaptureQueriesContext(connection) as captured:
            store.updates_append(document_id=document.pk, updates=batch)
        return len(captured)

    short = queries_for_one_batch()
    for _ in range(50):
        append(document, writer.paragraph("filler"), ann)
    assert queries_for_one_batch() == short


def test_backfill_migration_rebuilds_the_sessions(document, ann, bob):
    writer = Writer()
    for i, (who, minutes) in enumerate([(ann, 0), (ann, 1), (bob, 2), (ann, 30), (ann, 31)]):
        append(document, writer.paragraph(str(i)), who, T0 + timedelta(minutes=minutes))
    recorded = [
        (s.author_id, s.first_seq, s.last_seq, s.update_count, s.byte_count, s.started_at)
        for s in EditSession.objects.filter(document=document).order_by("first_seq")
    ]
    EditSession.objects.all().delete()
    migration = importlib.import_module("collab.migrations.0005_backfill_edit_sessions")
    migration.backfill(apps, None)
    rebuilt = [
        (s.author_id, s.first_seq, s.last_seq, s.update_count, s.byte_count, s.started_at)
        for s in EditSession.objects.filter(document=document).order_by("first_seq")
    ]
    assert rebuilt == recorded
    assert len(rebuilt) == 3


# Compare


def test_compare_text_marks_insertions_and_deletions(document, ann):
    writer = Writer()
    append(document, writer.paragraph("The quick brown fox"), ann)
    append(document, writer.paragraph("Title", "heading", {"level": 2}), ann)
    before = fresh(document).last_seq
    append(document, writer.set_first("The slow brown fox jumps <script>"), ann)
    append(document, writer.paragraph("A new paragraph here"), ann)
    result = history.versions_compare(document=document, from_seq=before, to_seq=before + 2)
    assert result["kind"] == "text"
    html = result["html"]
    assert (
        "<p>The <del>quick</del><ins>slow</ins> brown fox<ins> jumps &lt;script&gt;</ins></p>"
        in html
    )
    assert "&lt;script&gt;" in html and "<script" not in html
    assert "<h2>Title</h2>" in html
    assert "<p><ins>A new paragraph here</ins></p>" in html
    assert result["inserted"] == 1 + 2 + 4  # slow; jumps <script>; the new paragraph
    assert result["deleted"] == 1
    reverse = history.versions_compare(document=document, from_seq=before + 2, to_seq=before)
    assert reverse["inserted"] == result["deleted"] and reverse["deleted"] == result["inserted"]


def test_compare_a_long_block_line_by_line_then_word_by_word(document, ann):
    lines = [f"line {i} says something rather ordinary" for i in range(1000)]
    writer = Writer()
    append(document, writer.paragraph("\n".join(lines), "codeBlock"), ann)
    changed = [*lines]
    changed[500] = "line 500 says something quite ordinary"
    changed.insert(800, "a brand new line")
    append(document, writer.set_first("\n".join(changed)), ann)
    result = history.versions_compare(document=document, from_seq=1, to_seq=2)
    assert (result["inserted"], result["deleted"]) == (1 + 4, 1)
    assert "something <del>rather</del><ins>quite</ins> ordinary" in result["html"]
    assert "<ins>a brand new line\n</ins>" in result["html"]
    assert result["html"].startswith("<pre>line 0 says")


def board_doc(shapes: dict, background=None) -> Doc:
    doc = Doc()
    root = doc.get("shapes", type=Map)
    for key, props in shapes.items():
        root[key] = Map(props)
    if background:
        doc.get("board", type=Map)["background"] = background
    return doc


@pytest.fixture
def board(ann, bob):
    document = services.document_create(owner=ann, title="Board", kind="whiteboard")
    Membership.objects.create(document=document, user=bob, role="editor")
    return document


def board_edit(document, doc: Doc, change, author) -> int:
    before = doc.get_state()
    change()
    return append(document, doc.get_update(before), author)


def test_compare_board_lists_added_removed_and_changed_shapes(board, ann):
    doc = board_doc({})
    shapes = doc.get("shapes", type=Map)

    def first():
        shapes["a"] = Map({"type": "rect", "x": 1, "y": 1, "w": 10, "h": 10})
        shapes["b"] = Map({"type": "sticky", "x": 5, "y": 5, "text": Text("hi")})

    def second():
        shapes["a"]["x"] = 50
        del shapes["b"]
        shapes["c"] = Map({"type": "line", "points": Array([0, 0, 0.5, 10, 10, 0.5])})

    one = board_edit(board, doc, first, ann)
    two = board_edit(board, doc, second, ann)
    result = history.versions_compare(document=board, from_seq=one, to_seq=two)
    assert result["kind"] == "whiteboard"
    assert [s["id"] for s in result["added"]] == ["c"]
    assert [s["id"] for s in result["removed"]] == ["b"]
    assert [(c["id"], c["before"]["x"], c["after"]["x"]) for c in result["changed"]] == [
        ("a", 1.0, 50.0)
    ]


# Restore


def test_restore_text_brings_back_the_version_and_restoring_again_undoes_it(document, ann, bob):
    writer = Writer()
    append(document, writer.paragraph("Heading", "heading", {"level": 1}), ann)
    append(document, writer.paragraph("bold words", marks={"bold": {}}), ann)
    version = fresh(document).last_seq
    append(document, writer.set_first("rewritten"), bob)
    append(document, writer.paragraph("later"), bob)
    before_restore = fresh(document).last_seq
    later_json = document_json(store.doc_load(document_id=document.pk)[0])

    new_seq = history.version_restore(document=document, seq=version, user=ann)
    assert new_seq == before_restore + 1
    restored = store.doc_load(document_id=document.pk)[0]
    assert document_json(restored) == document_json(
        history.version_doc(document=document, seq=version)
    )
    assert document_json(restored)["content"][1]["content"][0]["marks"] == [{"type": "bold"}]
    session = EditSession.objects.get(document=document, first_seq=new_seq)
    assert (session.last_seq, session.restored_from_seq, session.author) == (new_seq, version, ann)

    again = history.version_restore(document=document, seq=before_restore, user=bob)
    assert document_json(store.doc_load(document_id=document.pk)[0]) == later_json
    assert again == new_seq + 1
    # Restoring to what is already there changes nothing.
    assert history.version_restore(document=document, seq=again, user=bob) == again


def test_restore_merges_with_offline_edits_without_duplicating(document, ann, bob):
    writer = Writer()
    append(document, writer.paragraph("one"), ann)
    version = fresh(document).last_seq
    append(document, writer.paragraph("two"), ann)
    # Bob was in sync, then edits offline while Ann restores.
    offline = Doc()
    offline.apply_update(writer.doc.get_update())
    offline_writer = Writer(offline)
    offline_edit = offline_writer.paragraph("offline")
    history.version_restore(document=document, seq=version, user=ann)
    append(document, offline_edit, bob)
    merged = store.doc_load(document_id=document.pk)[0]
    assert document_text(merged).split("\n") == ["one", "offline"]
    # And the offline client itself converges to the same once it gets the restore.
    offline.apply_update(merged.get_update(offline.get_state()))
    assert document_text(offline) == document_text(merged)


def test_restore_board_touches_only_the_shapes_that_differ(board, ann):
    doc = board_doc({})
    shapes = doc.get("shapes", type=Map)

    def first():
        shapes["keep"] = Map({"type": "rect", "x": 1, "y": 1, "w": 10, "h": 10})
        shapes["move"] = Map({"type": "rect", "x": 1, "y": 1, "w": 10, "h": 10})
        shapes["gone"] = Map({"type": "sticky", "x": 5, "y": 5, "text": Text("bye")})

    def second():
        shapes["move"]["x"] = 99
        del shapes["gone"]
        shapes["new"] = Map({"type": "line", "points": Array([0, 0, 0.5, 10, 10, 0.5])})
        doc.get("board", type=Map)["background"] = "#ffeeee"

    version = board_edit(board, doc, first, ann)
    board_edit(board, doc, second, ann)
    history.version_restore(document=board, seq=version, user=ann)
    current = store.doc_load(document_id=board.pk)[0]
    assert board_json(current) == board_json(history.version_doc(document=board, seq=version))
    # The untouched shape is the same Y item as before (not deleted and re-created).
    doc.apply_update(current.get_update(doc.get_state()))
    assert str(doc.get("shapes", type=Map)["gone"]["text"]) == "bye"
    restore_row = store.state_load(document_id=board.pk).updates[-1]
    probe = Doc()
    probe.apply_update(restore_row)
    assert set(probe.get("shapes", type=Map).keys()) <= {"move", "gone"}


# Copy, named versions


def test_copy_from_a_version_makes_a_new_document_with_that_content(document, written, bob):
    _, seqs = written
    copy = history.document_copy_from_version(document=document, seq=seqs[1], user=bob)
    assert copy.owner == bob and copy.title == "Plan (copy)" and copy.kind == "text"
    assert text_of(copy) == "alpha one\nbeta two"
    named = history.document_copy_from_version(
        document=document, seq=0, user=bob, title="Empty start"
    )
    assert named.title == "Empty start" and text_of(named) == ""


def test_named_versions(document, written, ann):
    _, seqs = written
    first = history.named_version_create(document=document, user=ann, name=" Draft ", seq=seqs[0])
    latest = history.named_version_create(document=document, user=ann, name="Final")
    assert (first.name, first.seq, latest.seq) == ("Draft", seqs[0], seqs[2])
    assert history.named_versions(document=document) == [latest, first]
    history.named_version_rename(document=document, version_id=first.pk, name="Draft 1")
    assert NamedVersion.objects.get(pk=first.pk).name == "Draft 1"
    history.named_version_delete(document=document, version_id=latest.pk)
    assert history.named_versions(document=document) == [first]
    for bad in ("", "   ", 5, "x" * 201):
        with pytest.raises(history.HistoryError):
            history.named_version_create(document=document, user=ann, name=bad)
    with pytest.raises(history.HistoryError):
        history.named_version_create(document=document, user=ann, name="x", seq=99)
    other = services.document_create(owner=ann, title="Other")
    with pytest.raises(NamedVersion.DoesNotExist):
        history.named_version_delete(document=other, version_id=first.pk)


# Export


@pytest.mark.parametrize(
    ("fmt", "check"),
    [
        ("text", lambda body: body == "Title\nhello wörld 世界 😀\none"),
        ("markdown", lambda body: body.startswith("# Title\n\nhello")),
        ("html", lambda body: body.startswith("<h1>Title</h1><p>hello")),
        ("json", lambda body: json.loads(body)["content"][0]["type"] == "heading"),
        ("pdf", lambda body: body.startswith(b"%PDF") and len(body) > 500),
    ],
)
def test_every_text_export_format(document, ann, fmt, check):
    writer = Writer()
    append(document, writer.paragraph("Title", "heading", {"level": 1}), ann)
    append(document, writer.paragraph("hello wörld 世界 😀"), ann)

    def listing():
        items = writer.root.children.append(XmlElement("bulletList"))
        item = items.children.append(XmlElement("listItem"))
        item.children.append(XmlElement("paragraph")).children.append(XmlText("one"))

    append(document, writer._edit(listing), ann)
    body, content_type = history.version_render(document=document, seq=3, fmt=fmt)
    assert check(body), body[:200]
    assert content_type == history.TEXT_FORMATS[fmt]


def test_pdf_without_unicode_fonts_replaces_what_latin1_cannot_hold(document, ann, monkeypatch):
    monkeypatch.setattr(history, "_unicode_fonts", lambda: None)
    writer = Writer()
    append(document, writer.paragraph("naïve 世界 😀 \x00\x1b\u202e"), ann)
    body, _ = history.version_render(document=document, seq=1, fmt="pdf")
    assert body.startswith(b"%PDF")


def test_pdf_of_an_empty_version_and_of_control_characters(document, ann):
    writer = Writer()
    append(document, writer.paragraph("bell \x07 escape \x1b nul \x00 end", "codeBlock"), ann)
    for seq in (0, 1):
        body, _ = history.version_render(document=document, seq=seq, fmt="pdf")
        assert body.startswith(b"%PDF")


@pytest.mark.parametrize("fmt", ["svg", "png", "json"])
def test_every_board_export_format(board, ann, fmt):
    doc = board_doc({})
    shapes = doc.get("shapes", type=Map)

    def change():
        shapes["a"] = Map({"type": "rect", "x": 1, "y": 1, "w": 10, "h": 10})

    seq = board_edit(board, doc, change, ann)
    body, content_type = history.version_render(document=board, seq=seq, fmt=fmt)
    assert content_type == history.BOARD_FORMATS[fmt]
    if fmt == "svg":
        assert body.startswith("<svg") and 'data-id="a"' in body
    elif fmt == "png":
        assert body.startswith(b"\x89PNG")
    else:
        assert [s["id"] for s in json.loads(body)["shapes"]] == ["a"]
    with pytest.raises(history.HistoryError):
        history.version_render(document=board, seq=seq, fmt="pdf")


# API


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def versions_url(document, rest: str = "") -> str:
    return f"/api/documents/{document.pk}/versions/{rest}"


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == code


API_CALLS = [
    ("get", ""),
    ("post", ""),
    ("patch", "1/"),
    ("delete", "1/"),
    ("get", "at/1/?format=text"),
    ("get", "compare/?from=0&to=1"),
    ("post", "at/1/restore/"),
    ("post", "at/1/copy/"),
]


def call(client, method, url, body=None, **headers):
    if method == "get":
        return client.get(url, **headers)
    return getattr(client, method)(
        url, data=json.dumps(body or {}), content_type="application/json", **headers
    )


@pytest.mark.parametrize(("method", "rest"), API_CALLS)
def test_api_refuses_viewers_strangers_and_anonymous(
    document, written, carl, make_user, method, rest
):
    url = versions_url(document, rest)
    assert_error(call(as_user(carl), method, url), 403, "history_forbidden")
    stranger = make_user("dan@example.com")
    assert_error(call(as_user(stranger), method, url), 404, "not_found")
    assert_error(call(Client(), method, url), 401, "not_authenticated")


def test_api_lists_sessions_and_named_versions(document, written, bob):
    client = as_user(bob)
    response = client.post(
        versions_url(document), {"name": "Milestone", "seq": 2}, content_type="application/json"
    )
    assert response.status_code == 201
    named = response.json()
    assert (named["name"], named["seq"], named["created_by"]["name"]) == ("Milestone", 2, "Bob")
    body = client.get(versions_url(document) + "?limit=2").json()
    assert [n["name"] for n in body["named"]] == ["Milestone"]
    assert [(s["first_seq"], s["author"]["name"]) for s in body["sessions"]] == [
        (3, "Ann"),
        (2, "Bob"),
    ]
    assert body["next_before_seq"] == 2
    rest = client.get(versions_url(document) + "?limit=2&before_seq=2").json()
    assert [s["first_seq"] for s in rest["sessions"]] == [1] and rest["next_before_seq"] is None
    assert_error(client.get(versions_url(document) + "?limit=101"), 400, "invalid")
    assert_error(client.get(versions_url(document) + "?before_seq=x"), 400, "invalid")

    detail = versions_url(document, f"{named['id']}/")
    renamed = call(client, "patch", detail, {"name": "Renamed"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Renamed"
    assert_error(call(client, "patch", detail, {"name": ""}), 400, "invalid")
    assert call(client, "delete", detail).status_code == 204
    assert_error(call(client, "delete", detail), 404, "not_found")
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert "version.named" in actions and "version.deleted" in actions


def test_api_version_preview_and_downloads(document, written, ann):
    client = as_user(ann)
    body = client.get(versions_url(document, "at/2/")).json()
    assert (body["seq"], body["format"]) == (2, "html")
    assert body["content"] == "<p>alpha one</p><p>beta two</p>"
    assert body["created_at"] == (T0 + timedelta(hours=1)).isoformat()
    pdf = client.get(versions_url(document, "at/2/?format=pdf&download=1"))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert pdf["Content-Disposition"] == 'attachment; filename="plan-v2.pdf"'
    page = client.get(versions_url(document, "at/1/?format=html&download=1"))
    assert page["Content-Type"] == "text/html; charset=utf-8"
    assert page.content.startswith(b"<!doctype html>") and b"<p>alpha one</p>" in page.content
    assert page["Content-Security-Policy"].startswith("default-src 'none'")
    markdown = client.get(versions_url(document, "at/1/?format=markdown&download=1"))
    assert markdown.content == b"alpha one"
    assert AuditEvent.objects.filter(action="version.exported").count() == 3
    assert_error(client.get(versions_url(document, "at/9/")), 400, "invalid")
    assert_error(client.get(versions_url(document, "at/1/?format=svg")), 400, "invalid")


def test_api_compare_restore_and_copy(document, written, bob):
    client = as_user(bob)
    diff = client.get(versions_url(document, "compare/?from=1&to=3")).json()
    assert diff["kind"] == "text" and diff["inserted"] == 4 and diff["deleted"] == 0
    assert_error(client.get(versions_url(document, "compare/?from=1")), 400, "invalid")

    restored = call(client, "post", versions_url(document, "at/1/restore/"))
    assert restored.status_code == 200 and restored.json() == {"seq": 4, "restored_from_seq": 1}
    assert text_of(document) == "alpha one"
    assert AuditEvent.objects.filter(action="version.restored", document_id=document.pk).exists()

    copied = call(client, "post", versions_url(document, "at/2/copy/"), {"title": "Fork"})
    assert copied.status_code == 201
    copy = Document.objects.get(pk=copied.json()["id"])
    assert copied.json()["url"] == f"/documents/{copy.pk}/"
    assert (copy.title, copy.owner, text_of(copy)) == ("Fork", bob, "alpha one\nbeta two")
    assert_error(
        call(client, "post", versions_url(document, "at/2/copy/"), {"title": 3}), 400, "invalid"
    )


def test_api_accepts_bearer_tokens(document, written, bob):
    _token, raw = access_token_create(user=bob, name="tests")
    response = Client().get(versions_url(document), HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200


def test_api_out_of_range_numbers_are_clear_errors(document, written, ann):
    client = as_user(ann)
    huge = "9" * 30
    assert client.get(versions_url(document) + f"?before_seq={huge}").status_code == 200
    assert_error(client.get(versions_url(document, f"at/{huge}/")), 400, "invalid")
    assert_error(call(client, "delete", versions_url(document, f"{huge}/")), 404, "not_found")
    diff = client.get(versions_url(document, f"compare/?from=0&to={huge}"))
    assert_error(diff, 400, "invalid")
    named = call(client, "post", versions_url(document), {"name": "x", "seq": 10**30})
    assert_error(named, 400, "invalid")


def test_restore_is_sent_to_live_rooms_as_one_update(document, written, ann):
    writer, seqs = written
    layer = get_channel_layer()

    async def restore_and_receive():
        channel = await layer.new_channel(prefix="room.")
        await layer.group_add(room_group(document.pk), channel)
        # sync_to_async, not database_sync_to_async: that would close the test's connection.
        await sync_to_async(history.version_restore)(document=document, seq=seqs[0], user=ann)
        return await layer.receive(channel)

    message = async_to_sync(restore_and_receive)()
    assert (message["type"], message["origin"], len(message["updates"])) == (
        "room.update",
        "history",
        1,
    )
    # A live copy holding the pre-restore state ends with exactly the version's content.
    writer.doc.apply_update(message["updates"][0])
    assert document_text(writer.doc) == "alpha one"


def test_a_writers_session_cache_gives_the_same_sessions_as_reading_them(document, ann, bob):
    """The log writer remembers the newest session per document; an append by anyone
    else in between (a restore, another process) makes it read the database again."""
    cache = history.NewestSessions()
    writer = Writer()

    def by_writer(author, at):
        update = store.PendingUpdate(writer.paragraph("w"), author.pk, at)
        (last,) = store.updates_append_many([(document.pk, [update])], cache)
        return last

    by_writer(ann, T0)
    by_writer(ann, T0 + timedelta(seconds=1))
    # Someone else appends (no cache): the cached session no longer ends at the log's end.
    append(document, writer.paragraph("other"), bob, T0 + timedelta(seconds=2))
    by_writer(ann, T0 + timedelta(seconds=3))
    by_writer(ann, T0 + timedelta(seconds=4))
    with CaptureQueriesContext(connection) as cached_round:
        by_writer(ann, T0 + timedelta(seconds=5))
    sessions, _ = history.sessions_page(document=document)
    assert [(s.author, s.first_seq, s.last_seq, s.update_count) for s in sessions] == [
        (ann, 4, 6, 3),
        (bob, 3, 3, 1),
        (ann, 1, 2, 2),
    ]
    # With the cache: no read of the newest session, one statement to extend it.
    reads = [q for q in cached_round.captured_queries if "editsession" in q["sql"].lower()]
    assert len(reads) == 1 and "UPDATE" in reads[0]["sql"] and "SELECT" not in reads[0]["sql"]


def test_a_failed_append_forgets_the_cached_sessions(document, ann):
    cache = history.NewestSessions()
    writer = Writer()
    store.updates_append_many(
        [(document.pk, [store.PendingUpdate(writer.paragraph("a"), ann.pk, T0)])], cache
    )
    with pytest.raises(IntegrityError):
        # A batch that cannot be written (no received_at) rolls the whole transaction back.
        store.updates_append_many(
            [(document.pk, [store.PendingUpdate(writer.paragraph("b"), ann.pk, None)])], cache
        )
    assert cache.get(document.pk, 2) is None
    store.updates_append_many(
        [(document.pk, [store.PendingUpdate(writer.paragraph("c"), ann.pk, T0)])], cache
    )
    sessions, _ = history.sessions_page(document=document)
    assert [(s.first_seq, s.last_seq, s.update_count) for s in sessions] == [(1, 2, 2)]
