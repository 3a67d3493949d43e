"""The update log and its snapshots: append batches, load a document, compact.

Plain synchronous functions over the ORM; async callers wrap them with
database_sync_to_async. Rows of the log are never deleted: they are the audit trail
and the source of versions. A snapshot is a cache of the state up to a sequence number.

A large snapshot is applied in pieces (collab/update_split.py, planned when it is written)
so that loading it from a worker thread lets the event loop run between two pieces.
"""

import functools
import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from pycrdt import Doc

from . import history
from .client_ids import state_vector
from .models import Document, DocumentSnapshot, DocumentUpdate
from .update_split import PIECE_BYTES, plan_pieces, split_plan

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
    # The snapshot's piece plan (DocumentSnapshot.pieces): None when never worked out.
    snapshot_plan: dict | None = None

    @property
    def applies_whole(self) -> bool:
        """Whether loading applies a large blob in one call (stopping the event loop for
        it): a snapshot without a plan, or a large log row. snapshot_prepare fixes that."""
        if self.snapshot and self.snapshot_plan is None and len(self.snapshot) > PIECE_BYTES:
            return True
        return any(len(update) > PIECE_BYTES for update in self.updates)


def updates_append(*, document_id, updates: list[PendingUpdate]) -> int:
    """Append updates in one transaction (a group commit); returns the last sequence used."""
    (result,) = updates_append_many([(document_id, updates)])
    if isinstance(result, DocumentGone):
        raise result
    return result


def updates_append_many(
    batches: list[tuple[object, list[PendingUpdate]]],
    sessions: "history.NewestSessions | None" = None,
) -> list[int | DocumentGone]:
    """Append several documents' batches in one transaction; per batch, the last sequence
    used, or DocumentGone (nothing written for that one, the others stand).

    One commit for every live room of a process (collab/log_writer.py): the commit and the
    transaction's round trips are the cost of a small batch, not its rows. ``sessions``:
    the caller's cache of newest edit sessions (only for a caller that appends in order).
    """
    results: list[int | DocumentGone] = []
    rows: list[tuple] = []
    folded: list[tuple[object, list[PendingUpdate], int]] = []
    try:
        with transaction.atomic():
            # The connection itself, not django.db.connection: that proxy looks the
            # connection up again (a context-local) on every attribute, many times per row.
            db = transaction.get_connection()
            with db.cursor() as cursor:
                results = _bump_in_lock_order(db, cursor, batches, rows, folded)
                _rows_insert(db, cursor, rows)
            # In the same transaction: history's sessions never disagree with the log.
            history.sessions_record_many(folded, cache=sessions)
    except BaseException:
        if sessions is not None:
            sessions.clear()
        raise
    return results


def _bump_in_lock_order(db, cursor, batches, rows: list, folded: list) -> list[int | DocumentGone]:
    """Hand out each batch's sequence numbers and build its rows; per batch, the last seq."""
    now = timezone.now()
    results: list[int | DocumentGone] = [DocumentGone("")] * len(batches)
    document_key = DocumentUpdate._meta.get_field("document").get_db_prep_value
    data_value = DocumentUpdate._meta.get_field("data").get_db_prep_value
    moment = db.ops.adapt_datetimefield_value
    # Row locks in one order (document id) in every process: two processes appending to
    # the same documents cannot deadlock.
    for index in sorted(range(len(batches)), key=lambda i: str(batches[i][0])):
        document_id, updates = batches[index]
        if not updates:
            last = document_last_seq(document_id=document_id)
            results[index] = DocumentGone(str(document_id)) if last is None else last
            continue
        count = len(updates)
        # Bumping the counter takes the document row's write lock (PostgreSQL) or the
        # database write lock (SQLite), so concurrent appenders in other processes queue
        # here and every row gets a distinct, gap-free sequence number.
        last_seq = _bump_last_seq(db, cursor, document_id, count, updates[-1], now)
        if last_seq is None:
            results[index] = DocumentGone(str(document_id))
            continue
        first_seq = last_seq - count + 1
        key = document_key(document_id, db)
        rows.extend(
            (
                key,
                first_seq + offset,
                update.author_id,
                data_value(update.data, db),
                moment(update.received_at),
            )
            for offset, update in enumerate(updates)
        )
        results[index] = last_seq
        folded.append((document_id, updates, first_seq))
    return results


def _rows_insert(db, cursor, rows: list[tuple]) -> None:
    """Insert log rows ``(document key, seq, author_id, data, created_at)``, each already
    in the database's form: model instances and the ORM's per-value preparation cost more
    than the insert itself in a flood of one-keystroke rows.

    SQLite runs one statement per row (executemany, a loop in C). On PostgreSQL psycopg's
    executemany is a Python loop over the rows (8 % of a process's CPU at W2's 1,000
    keys/s), so the rows go as five arrays into one INSERT ... SELECT FROM unnest(...)."""
    if not rows:
        return
    if db.vendor == "postgresql":
        cursor.execute(_unnest_insert(), [list(column) for column in zip(*rows, strict=True)])
    else:
        cursor.executemany(_append_statements(db.vendor)[0], rows)


@functools.cache
def _unnest_insert() -> str:
    """The PostgreSQL log row INSERT from one array per column."""
    quote = connection.ops.quote_name
    meta = DocumentUpdate._meta
    fields = [meta.get_field(name) for name in ("document", "seq", "author", "data", "created_at")]
    columns = ", ".join(quote(field.column) for field in fields)
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields)
    return f"INSERT INTO {quote(meta.db_table)} ({columns}) SELECT * FROM unnest({arrays})"


def _bump_last_seq(
    db, cursor, document_id, count: int, last: PendingUpdate, now: datetime
) -> int | None:
    """Hand out ``count`` sequence numbers: the new last_seq, or None if the document is gone.

    One statement (UPDATE ... RETURNING, PostgreSQL and SQLite >= 3.35) where the ORM
    needs an update and a select: it runs for every document in every batch.
    """
    moment = db.ops.adapt_datetimefield_value
    params = [
        count,
        moment(last.received_at),
        last.author_id,
        moment(now),
        Document._meta.pk.get_db_prep_value(document_id, db),
    ]
    cursor.execute(_append_statements(db.vendor)[1], params)
    row = cursor.fetchone()
    return None if row is None else int(row[0])


@functools.cache
def _append_statements(vendor: str) -> tuple[str, str]:
    """The log row INSERT and the sequence bump, written once per database vendor."""
    quote = connection.ops.quote_name
    update_meta = DocumentUpdate._meta
    columns = ", ".join(
        quote(update_meta.get_field(name).column)
        for name in ("document", "seq", "author", "data", "created_at")
    )
    insert = f"INSERT INTO {quote(update_meta.db_table)} ({columns}) VALUES (%s, %s, %s, %s, %s)"
    meta = Document._meta

    def column(name: str) -> str:
        return quote(meta.get_field(name).column)

    bump = (
        f"UPDATE {quote(meta.db_table)} SET {column('last_seq')} = {column('last_seq')} + %s, "
        f"{column('last_edited_at')} = %s, {column('last_edited_by')} = %s, "
        f"{column('updated_at')} = %s WHERE {quote(meta.pk.column)} = %s "
        f"RETURNING {column('last_seq')}"
    )
    return insert, bump


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
        .values_list("seq", "data", "pieces")
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
        snapshot_plan=snapshot[2] if snapshot else None,
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


def _apply_planned(doc: Doc, snapshot: bytes, plan: dict) -> bool:
    """Apply a snapshot piece by piece; False (doc half-built: throw it away) if the plan
    does not fit the snapshot. Each piece is one pycrdt call, and between two calls a
    thread gives the GIL back to whoever waits for it (the event loop)."""
    try:
        pieces = plan_pieces(snapshot, plan)
        for piece in pieces:
            doc.apply_update(piece)
        # A piece cut in the wrong place would fail to decode or leave structs pending;
        # pending structs do not show in the state vector, so this catches both.
        complete = state_vector(doc.get_state()) == {c: k for c, k in plan["state"]}
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException:
        logger.exception("the piece plan of a snapshot does not apply")
        return False
    if not complete:
        logger.error("the piece plan of a snapshot left a different state; applying it whole")
    return complete


def doc_from_state(state: StoredState, *, in_pieces: bool = True) -> Doc:
    """Apply a stored state into a fresh Doc (applying, not merge_updates: that is quadratic).

    A snapshot with a plan is applied in pieces unless in_pieces is False; log rows are
    applied one by one (each is a separate pycrdt call already)."""
    doc = Doc()
    plan = state.snapshot_plan
    planned = bool(in_pieces and state.snapshot and plan and plan.get("pieces"))
    if planned and not _apply_planned(doc, state.snapshot, plan):
        doc, planned = Doc(), False
    if state.snapshot and not planned and not _apply(doc, state.snapshot):
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


def doc_load(
    *, document_id, upto_seq: int | None = None, in_pieces: bool = True
) -> tuple[Doc, int]:
    state = state_load(document_id=document_id, upto_seq=upto_seq)
    return doc_from_state(state, in_pieces=in_pieces), state.last_seq


def doc_open(*, document_id, with_updates: bool = False):
    """doc_load for a room: also says whether a large blob had to be applied whole (the
    room then calls snapshot_prepare, so that the next load goes in pieces), and with
    ``with_updates`` hands back what was applied (snapshot first, then the log rows), so the
    room's depth map can learn it without encoding the Doc again."""
    state = state_load(document_id=document_id)
    doc = doc_from_state(state)
    if not with_updates:
        return doc, state.last_seq, state.applies_whole
    applied = ([state.snapshot] if state.snapshot else []) + list(state.updates)
    return doc, state.last_seq, state.applies_whole, applied


def snapshot_plan(doc: Doc, data: bytes) -> dict:
    """The piece plan of a snapshot `data` encoded from `doc` (see update_split), with the
    state vector the pieces must reach; {"pieces": []} when it is applied whole."""
    plan = split_plan(data)
    if plan is None:
        return {"pieces": []}
    plan["state"] = sorted(state_vector(doc.get_state()).items())
    return plan


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
            data = doc.get_update()
            with transaction.atomic():
                DocumentSnapshot.objects.create(
                    document_id=document_id, seq=seq, data=data, pieces=snapshot_plan(doc, data)
                )
    except IntegrityError:
        return None
    return seq


def snapshot_prepare(*, document_id) -> bool:
    """Make the next load of a document apply in pieces: compact if log rows follow the
    latest snapshot (a large row becomes part of a planned snapshot), else work out the
    plan of a snapshot written before plans existed. True if something was written.

    Walking a large snapshot costs ~0.5 s of Python per 5 MB: run it in a thread of its own
    (database_sync_to_async(thread_sensitive=False)), never in the one the rooms share.
    """
    try:
        if snapshot_compact(document_id=document_id, min_tail=1) is not None:
            return True
        latest = (
            DocumentSnapshot.objects.filter(document_id=document_id)
            .order_by("-seq")
            .values_list("pk", "seq", "data", "pieces")
            .first()
        )
        if latest is None or latest[3] is not None:
            return False
        pk, seq, data, _ = latest
        doc, _ = doc_load(document_id=document_id, upto_seq=seq)
        plan = snapshot_plan(doc, bytes(data))
        return bool(DocumentSnapshot.objects.filter(pk=pk, pieces__isnull=True).update(pieces=plan))
    except Exception:
        # Only an optimisation: the document loads either way.
        logger.exception("could not prepare the snapshot of %s for loading in pieces", document_id)
        return False


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


def documents_last_seq(*, document_ids: list[str]) -> dict[str, int]:
    """document_last_seq of many documents in one query per 500, by id as text (a deleted
    document is absent)."""
    wanted = list(dict.fromkeys(document_ids))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), 500):
        rows = Document.objects.filter(pk__in=wanted[start : start + 500]).values_list(
            "pk", "last_seq"
        )
        found.update((str(pk), seq) for pk, seq in rows)
    return found


def updates_between(*, document_id, after_seq: int, upto_seq: int) -> list[tuple[int, bytes]]:
    """Log rows with after_seq < seq <= upto_seq, in order, as (seq, data)."""
    rows = DocumentUpdate.objects.filter(
        document_id=document_id, seq__gt=after_seq, seq__lte=upto_seq
    ).order_by("seq")
    return [(seq, bytes(data)) for seq, data in rows.values_list("seq", "data")]
