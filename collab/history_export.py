"""Streaming exports of a document's history (update log and edit sessions) as CSV and JSON.

A long-lived document has hundreds of thousands of updates, so rows are read in keyset
pages of BATCH (never the whole log, never the update bytes: only their length, computed
by the database) and written out as they are read. Under ASGI the body is an async
iterator; a sync one would be collected into memory by Django before sending.
"""

import csv
import io
import json
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db.models.functions import Length
from django.http import StreamingHttpResponse

from .models import Document, DocumentUpdate, EditSession

DELETED_USER = "deleted user"
BATCH = 5000

UPDATE_COLUMNS = ["seq", "time", "author", "bytes"]
SESSION_COLUMNS = [
    "first_seq",
    "last_seq",
    "started_at",
    "ended_at",
    "author",
    "update_count",
    "bytes",
    "restored_from_seq",
]


def _author(email: str | None) -> str:
    # The author is NULL only once their account is deleted: the row itself stays.
    return email if email else DELETED_USER


def update_rows_after(document_id, after_seq: int, limit: int | None = None) -> list[dict]:
    """The next `limit` updates of a document after seq, oldest first, without their bytes."""
    rows = (
        DocumentUpdate.objects.filter(document_id=document_id, seq__gt=after_seq)
        .order_by("seq")
        .annotate(size=Length("data"))
        .values_list("seq", "created_at", "author__email", "size")[: limit or BATCH]
    )
    return [
        {"seq": seq, "time": at.isoformat(), "author": _author(email), "bytes": size}
        for seq, at, email, size in rows
    ]


def session_rows_after(document_id, after_seq: int, limit: int | None = None) -> list[dict]:
    """The next `limit` edit sessions of a document whose last seq is after after_seq."""
    rows = (
        EditSession.objects.filter(document_id=document_id, last_seq__gt=after_seq)
        .order_by("last_seq")
        .values_list(
            "first_seq",
            "last_seq",
            "started_at",
            "ended_at",
            "author__email",
            "update_count",
            "byte_count",
            "restored_from_seq",
        )[: limit or BATCH]
    )
    return [
        {
            "first_seq": first,
            "last_seq": last,
            "started_at": started.isoformat(),
            "ended_at": ended.isoformat(),
            "author": _author(email),
            "update_count": count,
            "bytes": size,
            "restored_from_seq": restored,
        }
        for first, last, started, ended, email, count, size, restored in rows
    ]


def _pages(fetch: Callable[[object, int], list[dict]], document_id, key: str) -> Iterator[list]:
    after = -1
    while True:
        rows = fetch(document_id, after)
        if not rows:
            return
        yield rows
        after = rows[-1][key]


async def _apages(fetch, document_id, key: str) -> AsyncIterator[list]:
    after = -1
    while True:
        rows = await sync_to_async(fetch)(document_id, after)
        if not rows:
            return
        yield rows
        after = rows[-1][key]


def _csv_chunk(rows: Iterable[list]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def _csv_lines(page: list[dict], columns: list[str]) -> str:
    return _csv_chunk([_csv_safe(row[c]) for c in columns] for row in page)


def _csv_safe(value):
    # A spreadsheet runs a cell starting with = + - @ as a formula; author emails are
    # chosen by users, so such cells are prefixed with a quote.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return "" if value is None else value


def _json_lines(page: list[dict], first: bool) -> str:
    body = ",\n".join(json.dumps(row, separators=(",", ":")) for row in page)
    return body if first else ",\n" + body


def _csv_sync(document_id, fetch, key, columns) -> Iterator[str]:
    yield _csv_chunk([columns])
    for page in _pages(fetch, document_id, key):
        yield _csv_lines(page, columns)


async def _csv_async(document_id, fetch, key, columns) -> AsyncIterator[str]:
    yield _csv_chunk([columns])
    async for page in _apages(fetch, document_id, key):
        yield _csv_lines(page, columns)


def _json_head(document: Document) -> str:
    head = {
        "id": str(document.pk),
        "title": document.title,
        "kind": document.kind,
        "last_seq": document.last_seq,
    }
    return '{"document":' + json.dumps(head, separators=(",", ":")) + ',\n"sessions":[\n'


def _json_sync(document: Document) -> Iterator[str]:
    yield _json_head(document)
    first = True
    for page in _pages(session_rows_after, document.pk, "last_seq"):
        yield _json_lines(page, first)
        first = False
    yield '\n],\n"updates":[\n'
    first = True
    for page in _pages(update_rows_after, document.pk, "seq"):
        yield _json_lines(page, first)
        first = False
    yield "\n]}\n"


async def _json_async(document: Document) -> AsyncIterator[str]:
    yield _json_head(document)
    first = True
    async for page in _apages(session_rows_after, document.pk, "last_seq"):
        yield _json_lines(page, first)
        first = False
    yield '\n],\n"updates":[\n'
    first = True
    async for page in _apages(update_rows_after, document.pk, "seq"):
        yield _json_lines(page, first)
        first = False
    yield "\n]}\n"


def _attachment(body, content_type: str, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _filename(document: Document, suffix: str) -> str:
    title = re.sub(r"[^A-Za-z0-9._-]+", "_", document.title).strip("_") or "document"
    return f"{title[:60]}-{suffix}"


def updates_csv_response(request, document: Document) -> StreamingHttpResponse:
    """seq,time,author,bytes: one row per update, oldest first."""
    args = (document.pk, update_rows_after, "seq", UPDATE_COLUMNS)
    body = _csv_async(*args) if isinstance(request, ASGIRequest) else _csv_sync(*args)
    return _attachment(body, "text/csv; charset=utf-8", _filename(document, "updates.csv"))


def sessions_csv_response(request, document: Document) -> StreamingHttpResponse:
    """One row per edit session, oldest first."""
    args = (document.pk, session_rows_after, "last_seq", SESSION_COLUMNS)
    body = _csv_async(*args) if isinstance(request, ASGIRequest) else _csv_sync(*args)
    return _attachment(body, "text/csv; charset=utf-8", _filename(document, "sessions.csv"))


def history_json_response(request, document: Document) -> StreamingHttpResponse:
    """{"document": {...}, "sessions": [...], "updates": [...]}, oldest first."""
    body = _json_async(document) if isinstance(request, ASGIRequest) else _json_sync(document)
    return _attachment(body, "application/json", _filename(document, "history.json"))
