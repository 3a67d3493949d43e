"""collab.store: the append-only update log, loading (snapshot + tail) and compaction."""

import sqlite3
import threading
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone
from pycrdt import Doc, Text, XmlElement, XmlFragment, XmlText

from collab import services, store
from collab.models import Document, DocumentSnapshot, DocumentUpdate
from collab.render import document_text

pytestmark = pytest.mark.django_db


class Writer:
    """A client-side Doc whose every edit yields one real incremental Yjs update."""

    def __init__(self):
        self.doc = Doc()
        self.root = self.doc.get("default", type=XmlFragment)

    def paragraph(self, text: str) -> bytes:
        before = self.doc.get_state()
        self.root.children.append(XmlElement("paragraph")).children.append(XmlText(text))
        return self.doc.get_update(before)

    def append_to_first(self, text: str) -> bytes:
        before = self.doc.get_state()
        first = self.root.children[0].children[0]
        first.insert(len(str(first)), text)
        return self.doc.get_update(before)


def pending(data: bytes, author=None, at=None) -> store.PendingUpdate:
    return store.PendingUpdate(
        data=data, author_id=author.pk if author else None, received_at=at or timezone.now()
    )


def text_updates(count: int, prefix: str = "u") -> tuple[list[bytes], Doc]:
    """count updates, each appending one token to a Y.Text; also the doc they build."""
    doc = Doc()
    text = doc.get("t", type=Text)
    updates = []
    for i in range(count):
        before = doc.get_state()
        text += f"{prefix}{i} "
        updates.append(doc.get_update(before))
    return updates, doc


def stored_seqs(document) -> list[int]:
    return list(
        DocumentUpdate.objects.filter(document=document)
        .order_by("seq")
        .values_list("seq", flat=True)
    )


@pytest.fixture
def document(ann):
    return services.document_create(owner=ann, title="Log")


def test_seqs_are_consecutive_from_one_across_batches(document, ann, bob):
    updates, _ = text_updates(6)
    t0 = timezone.now() - timedelta(minutes=5)

    assert store.updates_append(document_id=document.pk, updates=[pending(updates[0], ann)]) == 1
    last = store.updates_append(
        document_id=document.pk, updates=[pending(u, ann) for u in updates[1:4]]
    )
    assert last == 4
    last = store.updates_append(
        document_id=document.pk,
        updates=[pending(updates[4], ann, t0), pending(updates[5], bob, t0 + timedelta(1))],
    )
    assert last == 6

    assert stored_seqs(document) == [1, 2, 3, 4, 5, 6]
    rows = list(DocumentUpdate.objects.filter(document=document).order_by("seq"))
    assert [bytes(r.data) for r in rows] == updates
    assert [r.author_id for r in rows] == [ann.pk] * 5 + [bob.pk]
    assert rows[4].created_at == t0
    document.refresh_from_db()
    assert document.last_seq == 6
    # The last update of the last batch is the latest edit.
    assert document.last_edited_at == t0 + timedelta(1)
    assert document.last_edited_by_id == bob.pk


def test_seqs_are_per_document(document, ann):
    other = services.document_create(owner=ann, title="Other")
    updates, _ = text_updates(3)

    store.updates_append(document_id=document.pk, updates=[pending(u) for u in updates])
    assert store.updates_append(document_id=other.pk, updates=[pending(updates[0])]) == 1
    assert stored_seqs(other) == [1]
    assert stored_seqs(document) == [1, 2, 3]


def test_append_bumps_updated_at(document):
    before = Document.objects.get(pk=document.pk).updated_at
    store.updates_append(document_id=document.pk, updates=[pending(text_updates(1)[0][0])])
    assert Document.objects.get(pk=document.pk).updated_at > before


def test_appending_to_a_deleted_document_raises_document_gone(document):
    document_id = document.pk
    services.document_delete(document=document)

    with pytest.raises(store.DocumentGone):
        store.updates_append(document_id=document_id, updates=[pending(b"\x00\x00")])
    assert not DocumentUpdate.objects.filter(document_id=document_id).exists()


def test_load_of_an_empty_document(document):
    doc, seq = store.doc_load(document_id=document.pk)
    assert seq == 0
    assert document_text(doc) == ""


def test_load_equals_applying_every_update(document, ann):
    writer = Writer()
    updates = [writer.paragraph("alpha"), writer.paragraph("beta")]
    updates += [writer.append_to_first(f" {i}") for i in range(5)]
    store.updates_append(document_id=document.pk, updates=[pending(u, ann) for u in updates[:3]])
    store.updates_append(document_id=document.pk, updates=[pending(u, ann) for u in updates[3:]])

    doc, seq = store.doc_load(document_id=document.pk)

    assert seq == len(updates)
    assert document_text(doc) == "alpha 0 1 2 3 4\nbeta"
    assert document_text(doc) == document_text(writer.doc)
    assert doc.get_state() == writer.doc.get_state()


def test_load_up_to_a_seq_is_a_version(document):
    updates, _ = text_updates(5)
    store.updates_append(document_id=document.pk, updates=[pending(u) for u in updates])

    doc, seq = store.doc_load(document_id=document.pk, upto_seq=3)

    assert seq == 3
    assert str(doc.get("t", type=Text)) == "u0 u1 u2 "


def test_compaction_needs_a_long_enough_tail(document):
    updates, expected = text_updates(5)
    store.updates_append(document_id=document.pk, updates=[pending(u) for u in updates[:4]])

    assert store.snapshot_tail_length(document_id=document.pk) == 4
    assert store.snapshot_compact(document_id=document.pk, min_tail=5) is None
    assert not DocumentSnapshot.objects.filter(document=document).exists()

    store.updates_append(document_id=document.pk, updates=[pending(updates[4])])
    assert store.snapshot_compact(document_id=document.pk, min_tail=5) == 5

    (snapshot,) = DocumentSnapshot.objects.filter(document=document)
    assert snapshot.seq == 5
    assert store.snapshot_tail_length(document_id=document.pk) == 0
    # The snapshot alone holds everything.
    alone = Doc()
    alone.apply_update(bytes(snapshot.data))
    assert str(alone.get("t", type=Text)) == str(expected.get("t", type=Text))


def test_compaction_defaults_to_the_snapshot_every_setting(document, settings):
    settings.COLLAB = {**settings.COLLAB, "SNAPSHOT_EVERY": 3}
    updates, _ = text_updates(3)
    store.updates_append(document_id=document.pk, updates=[pending(u) for u in updates[:2]])
    assert store.snapshot_compact(document_id=document.pk) is None
    store.updates_append(document_id=document.pk, updates=[pending(updates[2])])
    assert store.snapshot_compact(document_id=document.pk) == 3


def test_compaction_of_an_empty_log_writes_nothing(document):
    assert store.snapshot_compact(document_id=document.pk, min_tail=0) is None
    assert not DocumentSnapshot.objects.exists()


def test_load_after_compaction_is_identical_and_uses_snapshot_plus_tail(document):
    updates, expected = text_updates(12)
    store.updates_append(document_id=document.pk, updates=[pending(u) for u in updates[:7]])
    before, _ = store.doc_load(document_id=document.pk, upto_seq=7)
    assert store.snapshot_compact(document_id=document.pk, min_tail=1) == 7
    store.updates_append(document_id=document.pk, updates=[pending(u) for u in updates[7:]])

    state = store.state_load(document_id=document.pk)
    assert state.snapshot is not None
    assert state.updates == updates[7:]
    assert state.last_seq == 12

    doc, seq = store.doc_load(document_id=document.pk)
    assert seq == 12
    assert str(doc.get("t", type=Text)) == str(expected.get("t", type=Text))
    # An older version is still reachable from the log below the snapshot.
    old, _ = store.doc_load(document_id=document.pk, upto_seq=7)
    assert str(old.get("t", type=Text)) == str(before.get("t", type=Text))
    older, _ = store.doc_load(document_id=document.pk, upto_seq=2)
    assert str(older.get("t", type=Text)) == "u0 u1 "


def test_compaction_never_deletes_log_rows(document):
    updates, _ = text_updates(10)
    store.updates_append(document_id=document.pk, updates=[pending(u) for u in updates[:5]])
    store.snapshot_compact(document_id=document.pk, min_tail=1)
    store.updates_append(document_id=document.pk, updates=[pending(u) for u in updates[5:]])
    store.snapshot_compact(document_id=document.pk, min_tail=1)

    assert stored_seqs(document) == list(range(1, 11))
    assert sorted(DocumentSnapshot.objects.values_list("seq", flat=True)) == [5, 10]


def test_compacting_twice_at_the_same_seq_is_harmless(document, monkeypatch):
    updates, expected = text_updates(4)
    store.updates_append(document_id=document.pk, updates=[pending(u) for u in updates])
    assert store.snapshot_compact(document_id=document.pk, min_tail=1) == 4

    # Nothing new: the tail is empty, so nothing is written.
    assert store.snapshot_compact(document_id=document.pk, min_tail=0) is None
    # A second process that saw the old tail loses the race on the unique constraint.
    monkeypatch.setattr(store, "snapshot_tail_length", lambda **kwargs: 4)
    assert store.snapshot_compact(document_id=document.pk, min_tail=1) is None

    assert DocumentSnapshot.objects.filter(document=document).count() == 1
    # The surrounding transaction is still usable and the document still loads.
    doc, seq = store.doc_load(document_id=document.pk)
    assert seq == 4
    assert str(doc.get("t", type=Text)) == str(expected.get("t", type=Text))


def test_a_row_that_no_longer_applies_is_skipped(document, caplog):
    updates, _ = text_updates(3)
    store.updates_append(
        document_id=document.pk,
        updates=[pending(updates[0]), pending(b"\xff\xfe not an update"), pending(updates[1])],
    )
    store.updates_append(document_id=document.pk, updates=[pending(updates[2])])

    with caplog.at_level("ERROR", logger="collab.store"):
        doc, seq = store.doc_load(document_id=document.pk)

    assert seq == 4
    assert str(doc.get("t", type=Text)) == "u0 u1 u2 "
    assert "does not apply" in caplog.text
    # Compaction over the bad row still works and the result loads.
    assert store.snapshot_compact(document_id=document.pk, min_tail=1) == 4
    doc, _ = store.doc_load(document_id=document.pk)
    assert str(doc.get("t", type=Text)) == "u0 u1 u2 "


def test_doc_from_state_skips_a_bad_update_between_good_ones():
    updates, _ = text_updates(2)
    state = store.StoredState(snapshot=None, updates=[updates[0], b"", updates[1]], last_seq=3)
    assert str(store.doc_from_state(state).get("t", type=Text)) == "u0 u1 "


@contextmanager
def database_for_threads(tmp_path):
    """Yield a function that points the calling thread at a database threads can share.

    PostgreSQL: the test database itself. SQLite: pytest's test database is in memory with
    a shared cache, whose table locks fail at once instead of waiting ("database table is
    locked"), so it is copied to a file, which is what the app runs on (WAL, busy timeout).
    """
    if connection.vendor != "sqlite" or not connection.is_in_memory_db():
        yield lambda: None
        return
    path = tmp_path / "threads.sqlite3"
    connection.ensure_connection()
    target = sqlite3.connect(path)
    connection.connection.backup(target)
    target.close()
    settings_dict = {**connection.settings_dict, "NAME": str(path)}
    wrapper_class = type(connections["default"])
    original = connections["default"]

    def use() -> None:
        connections["default"] = wrapper_class(settings_dict, "default")

    try:
        yield use
    finally:
        if connections["default"] is not original:
            connections["default"].close()
            connections["default"] = original


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_get_unique_gap_free_seqs(ann, tmp_path):
    document = services.document_create(owner=ann, title="Busy")
    with database_for_threads(tmp_path) as use_shared_database:
        check_concurrent_appends(document, use_shared_database)


def check_concurrent_appends(document, use_shared_database) -> None:
    threads_count, batches, batch_size = 4, 6, 3
    updates, expected = text_updates(threads_count * batches * batch_size)
    start = threading.Barrier(threads_count)
    results: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            use_shared_database()
            mine = updates[index::threads_count]
            start.wait(timeout=10)
            results[index] = [
                store.updates_append(
                    document_id=document.pk,
                    updates=[pending(u) for u in mine[b * batch_size : (b + 1) * batch_size]],
                )
                for b in range(batches)
            ]
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    use_shared_database()
    total = threads_count * batches * batch_size
    assert stored_seqs(document) == list(range(1, total + 1))
    # Each batch got a contiguous block: every returned last seq is distinct.
    lasts = sorted(seq for seqs in results.values() for seq in seqs)
    assert lasts == list(range(batch_size, total + 1, batch_size))
    document.refresh_from_db()
    assert document.last_seq == total
    # Whatever the interleaving, every update is there and the document converges.
    doc, seq = store.doc_load(document_id=document.pk)
    assert seq == total
    assert len(str(doc.get("t", type=Text))) == len(str(expected.get("t", type=Text)))
    assert set(str(doc.get("t", type=Text)).split()) == {f"u{i}" for i in range(total)}


def test_load_reports_the_seq_its_content_is_at_while_another_process_appends(
    document, monkeypatch
):
    updates, _ = text_updates(3)
    store.updates_append(document_id=document.pk, updates=[pending(updates[0])])
    real_document = store.Document

    class DocumentWithARacingWriter:
        """The first read of the document row lets another writer commit just before it."""

        class objects:
            @staticmethod
            def filter(*args, **kwargs):
                monkeypatch.setattr(store, "Document", real_document)
                store.updates_append(
                    document_id=document.pk, updates=[pending(u) for u in updates[1:]]
                )
                return real_document.objects.filter(*args, **kwargs)

    monkeypatch.setattr(store, "Document", DocumentWithARacingWriter)

    doc, seq = store.doc_load(document_id=document.pk)

    at_seq, _ = store.doc_load(document_id=document.pk, upto_seq=seq)
    assert str(doc.get("t", type=Text)) == str(at_seq.get("t", type=Text))


def test_appending_several_documents_at_once_keeps_each_log_apart(ann):
    first = services.document_create(owner=ann, title="First")
    gone = services.document_create(owner=ann, title="Gone")
    second = services.document_create(owner=ann, title="Second")
    gone_id = gone.pk
    gone.delete()
    updates, doc = text_updates(5)
    results = store.updates_append_many(
        [
            (first.pk, [pending(u, ann) for u in updates[:3]]),
            (gone_id, [pending(updates[0], ann)]),
            (second.pk, [pending(u, ann) for u in updates]),
        ]
    )
    # Per batch: its last seq, or DocumentGone for the deleted one; the others stand.
    assert results[0] == 3 and results[2] == 5
    assert isinstance(results[1], store.DocumentGone)
    assert stored_seqs(first) == [1, 2, 3] and stored_seqs(second) == [1, 2, 3, 4, 5]
    loaded, last = store.doc_load(document_id=second.pk)
    assert last == 5 and str(loaded.get("t", type=Text)) == str(doc.get("t", type=Text))
    row = DocumentUpdate.objects.get(document=first, seq=2)
    assert bytes(row.data) == updates[1] and row.author_id == ann.pk
    first.refresh_from_db()
    assert first.last_seq == 3 and first.last_edited_by_id == ann.pk
