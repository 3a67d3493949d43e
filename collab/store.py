"""The update log and its snapshots: append batches, load a document, compact.

Plain synchronous functions over the ORM; async callers wrap them with
database_sync_to_async. Rows of the log are never deleted: they are the audit trail
and the source of versions. A snapshot is a cache of the state up to a sequence number.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from pycrdt import Doc

from . import history
from .models import Document, DocumentSnapshot, DocumentUpdate

logger = logging.getLogger(__name__)


class DocumentGone(Exception):
    """The document was deleted while updates for it were still queued."""


@dataclass(frozen=True, slots=True)
class PendingUpdate:
    data: bytes
    author_id: int | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class StoredState:
    snapshot: bytes | None
    updates: list[bytes]
    last_seq: int
    document_id: object = None


def updates_append(*, document_id, updates: list[PendingUpdate]) -> int:
    """Append updates in one transaction (a group commit); returns the last sequence used."""
    count = len(updates)
    now = timezone.now()
    with transaction.atomic():
        # Bumping the counter takes the document row's write lock (PostgreSQL) or the
        # database write lock (SQLite), so concurrent appenders in other processes queue
        # here and every row gets a distinct, gap-free sequence number.
        bumped = Document.objects.filter(pk=document_id).update(
            last_seq=F("last_seq") + count,
            last_edited_at=updates[-1].received_at,
            last_edited_by_id=updates[-1].author_id,
            updated_at=now,
        )
        if not bumped:
            raise DocumentGone(str(document_id))
        last_seq = Document.objects.filter(pk=document_id).values_list("last_seq", flat=True).get()
        first_seq = last_seq - count + 1
        DocumentUpdate.objects.bulk_create(
            [
                DocumentUpdate(
                    document_id=document_id,
                    seq=first_seq + offset,
                    author_id=update.author_id,
                    data=update.data,
                    created_at=update.received_at,
                )
                for offset, update in enumerate(updates)
            ]
        )
        # In the same transaction: history's sessions never disagree with the log.
        history.sessions_record(document_id=document_id, updates=updates, first_seq=first_seq)
    return last_seq


def state_load(*, document_id, upto_seq: int | None = None) -> StoredState:
    """The latest snapshot at or below upto_seq and the log rows after it, in order."""
    if upto_seq is None:
        # Fix the upper bound first: rows another process commits meanwhile are left out,
        # so the state is exactly "everything up to last_seq".
        upto_seq = (
            Document.objects.filter(pk=document_id).values_list("last_seq", flat=True).first() or 0
        )
    snapshot = (
        DocumentSnapshot.objects.filter(document_id=document_id, seq__lte=upto_seq)
        .order_by("-seq")
        .values_list("seq", "data")
        .first()
    )
    after = snapshot[0] if snapshot else 0
    rows = DocumentUpdate.objects.filter(
        document_id=document_id, seq__gt=after, seq__lte=upto_seq
    ).order_by("seq")
    # iterator(): a long log (hundreds of thousands of rows) streams instead of filling a
    # list of model instances first.
    updates = [
        bytes(data) for data in rows.values_list("data", flat=True).iterator(chunk_size=2000)
    ]
    return StoredState(
        snapshot=bytes(snapshot[1]) if snapshot else None,
        updates=updates,
        last_seq=upto_seq,
        document_id=document_id,
    )


def _apply(doc: Doc, update: bytes) -> bool:
    try:
        doc.apply_update(update)
        return True
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException:
        # pyo3 panics are BaseExceptions. Every row was checked before it was stored; one
        # that still fails (a pycrdt upgrade, a hand-edited database) must not make the
        # document unloadable.
        logger.exception("skipping an update that does not apply")
        return False


def doc_from_state(state: StoredState) -> Doc:
    """Apply a stored state into a fresh Doc (applying, not merge_updates: that is quadratic)."""
    doc = Doc()
    if state.snapshot and not _apply(doc, state.snapshot):
        # A snapshot is only a cache of the log, which is never deleted: rebuild from it.
        logger.error("snapshot of %s does not apply; replaying the whole log", state.document_id)
        return doc_from_state(
            StoredState(
                snapshot=None,
                updates=_all_rows(state.document_id, state.last_seq),
                last_seq=state.last_seq,
                document_id=state.document_id,
            )
        )
    for update in state.updates:
        _apply(doc, update)
    return doc


def _all_rows(document_id, upto_seq: int) -> list[bytes]:
    rows = DocumentUpdate.objects.filter(document_id=document_id, seq__lte=upto_seq)
    return [bytes(d) for d in rows.order_by("seq").values_list("data", flat=True).iterator(2000)]


def doc_load(*, document_id, upto_seq: int | None = None) -> tuple[Doc, int]:
    state = state_load(document_id=document_id, upto_seq=upto_seq)
    return doc_from_state(state), state.last_seq


def snapshot_tail_length(*, document_id) -> int:
    """How many log rows follow the latest snapshot."""
    latest = (
        DocumentSnapshot.objects.filter(document_id=document_id)
        .order_by("-seq")
        .values_list("seq", flat=True)
        .first()
        or 0
    )
    last_seq = Document.objects.filter(pk=document_id).values_list("last_seq", flat=True).first()
    return max(0, (last_seq or 0) - latest)


def snapshot_compact(*, document_id, min_tail: int | None = None) -> int | None:
    """Write a snapshot at the latest committed sequence if the tail is at least min_tail.

    Built from the database, not from a live room, so the snapshot is exactly "every row
    up to seq" whichever process wrote them. On PostgreSQL one process at a time compacts
    a document (a transaction-scoped advisory lock; the others skip); elsewhere two at
    once is only wasted work: the unique (document, seq) constraint keeps one snapshot.
    The snapshot is one row inserted in one transaction: a crash leaves none or all of it,
    and the log it caches is never touched, so the document stays loadable either way.
    """
    min_tail = settings.COLLAB["SNAPSHOT_EVERY"] if min_tail is None else min_tail
    try:
        with transaction.atomic():
            if not _compaction_lock(document_id):
                return None
            if snapshot_tail_length(document_id=document_id) < max(min_tail, 1):
                return None
            last_seq = document_last_seq(document_id=document_id)
            if not last_seq:
                return None
            doc, seq = doc_load(document_id=document_id, upto_seq=last_seq)
            with transaction.atomic():
                DocumentSnapshot.objects.create(
                    document_id=document_id, seq=seq, data=doc.get_update()
                )
    except IntegrityError:
        return None
    return seq


def _compaction_lock(document_id) -> bool:
    """Take this document's compaction lock for the current transaction (PostgreSQL only)."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"collab.compact:{document_id}"],
        )
        return bool(cursor.fetchone()[0])


def document_last_seq(*, document_id) -> int | None:
    """The highest committed log sequence of a document (None: no such document)."""
    return Document.objects.filter(pk=document_id).values_list("last_seq", flat=True).first()


def updates_between(*, document_id, after_seq: int, upto_seq: int) -> list[tuple[int, bytes]]:
    """Log rows with after_seq < seq <= upto_seq, in order, as (seq, data)."""
    rows = DocumentUpdate.objects.filter(
        document_id=document_id, seq__gt=after_seq, seq__lte=upto_seq
    ).order_by("seq")
    return [(seq, bytes(data)) for seq, data in rows.values_list("seq", "data")]
