"""Version history over the update log: edit sessions, past versions, compare, restore, copy.

A version is "every update up to seq": built from the nearest snapshot at or below seq
plus at most SNAPSHOT_EVERY log rows, so its cost depends on the document's size, not on
the length of its past. Snapshots are never deleted for that reason.

A restore never writes old state back: it computes one Yjs update against today's stored
state that turns today's content into the version's, appends it to the log like any edit,
and sends it to every process's live room, so connected and offline clients merge it.
"""

import difflib
import json
import logging
import re
from datetime import datetime, timedelta
from functools import lru_cache
from html import escape
from pathlib import Path

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from . import broadcast, protocol, services, store, webhooks
from .models import Document, DocumentKind, DocumentUpdate, EditSession, NamedVersion
from .render import (
    CODE_BLOCKS,
    IMAGES,
    INLINE_BREAKS,
    LIST_ITEMS,
    TASK_ITEMS,
    TEXT_FIELD,
    _inline_text,
    _is_textblock,
    _Node,
    _Run,
    _tree,
    document_html,
    document_json,
    document_markdown,
    document_text,
)
from .whiteboard import board_background, board_json, board_shapes, render_png, render_svg

logger = logging.getLogger(__name__)

TEXT_FORMATS = {
    "text": "text/plain; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "json": "application/json",
    "pdf": "application/pdf",
}
BOARD_FORMATS = {
    "svg": "image/svg+xml",
    "png": "image/png",
    "json": "application/json",
}
MAX_PAGE = 100
NAME_MAX = 200


class HistoryError(services.ServiceError):
    """A history request that cannot be served (bad seq, format, name); safe to show."""


# ------------------------------------------------------------------ sessions


def sessions_record(*, document_id, updates: list, first_seq: int) -> None:
    """Fold a just-appended batch into the document's edit sessions (see sessions_record_many)."""
    sessions_record_many([(document_id, updates, first_seq)])


class NewestSessions:
    """This process's last-written session per document, so a writer need not read it back.

    Only the log writer's own appends use it (store.updates_append_many with a cache); a
    cached session is trusted only while the log is still where that writer left it
    (its last_seq is the row just before the batch), so an append by anyone else (another
    process, a restore, an import) makes it read the database again.
    """

    MAX_DOCUMENTS = 10_000

    def __init__(self) -> None:
        self._by_document: dict[str, EditSession] = {}

    def get(self, document_id, first_seq: int) -> EditSession | None:
        session = self._by_document.get(str(document_id))
        if session is None or session.pk is None or session.last_seq != first_seq - 1:
            return None
        return session

    def put(self, document_id, session: EditSession) -> None:
        if len(self._by_document) >= self.MAX_DOCUMENTS:
            self._by_document.clear()
        self._by_document[str(document_id)] = session

    def clear(self) -> None:
        """After a failed transaction: cached objects may hold changes that were rolled back."""
        self._by_document.clear()


def sessions_record_many(batches: list, cache: NewestSessions | None = None) -> None:
    """Fold just-appended batches, ``(document_id, updates, first_seq)`` each, into edit sessions.

    Called inside the append's transaction (which holds the documents' row locks), so a
    document's batches are folded one at a time. At most one read per document (none when
    ``cache`` knows its newest session) and two writes for all of them together.
    """
    gap = timedelta(seconds=settings.COLLAB["HISTORY_SESSION_GAP"])
    extended: dict[int, EditSession] = {}
    created: list[EditSession] = []
    newest_after: dict[str, EditSession] = {}
    for document_id, updates, first_seq in batches:
        if not updates:
            continue
        newest = cache.get(document_id, first_seq) if cache is not None else None
        if newest is None:
            newest = (
                EditSession.objects.filter(document_id=document_id).order_by("-last_seq").first()
            )
        current = newest
        for offset, update in enumerate(updates):
            seq = first_seq + offset
            size = len(update.data)
            if (
                current is not None
                and current.author_id == update.author_id
                # A restore stays a session of its own, so history can show it as one.
                and current.restored_from_seq is None
                and current.last_seq == seq - 1
                and update.received_at - current.ended_at <= gap
            ):
                current.last_seq = seq
                current.ended_at = max(current.ended_at, update.received_at)
                current.update_count += 1
                current.byte_count += size
                if current.pk is not None:
                    extended[current.pk] = current
            else:
                current = EditSession(
                    document_id=document_id,
                    author_id=update.author_id,
                    first_seq=seq,
                    last_seq=seq,
                    started_at=update.received_at,
                    ended_at=update.received_at,
                    update_count=1,
                    byte_count=size,
                )
                created.append(current)
        newest_after[str(document_id)] = current
    if extended:
        _sessions_extend(list(extended.values()))
    if created:
        # PostgreSQL and SQLite >= 3.35 return the new primary keys: the cache can use them.
        EditSession.objects.bulk_create(created)
    if cache is not None:
        for document_id, session in newest_after.items():
            cache.put(document_id, session)


def _sessions_extend(sessions: list[EditSession]) -> None:
    """Write extended sessions with one statement run for each (executemany): the ORM's
    bulk_update builds a CASE per field and row, which costs more than the rows."""
    db = transaction.get_connection()  # not the proxy: it looks itself up per attribute
    meta = EditSession._meta
    quote = db.ops.quote_name
    fields = [
        meta.get_field(name) for name in ("last_seq", "ended_at", "update_count", "byte_count")
    ]
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"
    params = [
        [field.get_db_prep_value(getattr(session, field.attname), db) for field in fields]
        + [session.pk]
        for session in sessions
    ]
    with db.cursor() as cursor:
        cursor.executemany(sql, params)


def sessions_page(
    *, document: Document, before_seq: int | None = None, limit: int = 30
) -> tuple[list[EditSession], int | None]:
    """Sessions newest first, those ending before before_seq; and the cursor of the next page."""
    limit = max(1, min(int(limit), MAX_PAGE))
    rows = EditSession.objects.filter(document=document).select_related("author")
    if before_seq is not None:
        rows = rows.filter(last_seq__lt=before_seq)
    page = list(rows.order_by("-last_seq")[: limit + 1])
    if len(page) > limit:
        page = page[:limit]
        return page, page[-1].first_seq
    return page, None


# ------------------------------------------------------------------ versions


def _last_seq(document: Document) -> int:
    return Document.objects.filter(pk=document.pk).values_list("last_seq", flat=True).get()


def _check_seq(document: Document, seq) -> int:
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise HistoryError("seq must be a whole number.")
    last = _last_seq(document)
    if not 0 <= seq <= last:
        raise HistoryError(f"seq must be from 0 to {last}.")
    return seq


def version_doc(*, document: Document, seq: int) -> Doc:
    """The document as it was after every update up to and including seq (0: empty)."""
    seq = _check_seq(document, seq)
    if seq == 0:
        return Doc()
    doc, _ = store.doc_load(document_id=document.pk, upto_seq=seq)
    return doc


def seq_at(*, document: Document, when: datetime) -> int:
    """The last seq created at or before `when` (0 if none).

    A binary search over seq with one indexed lookup per step (O(log n) queries), since
    the log has no index on time. Rows are appended in time order by each process;
    across processes a clock skew of a few milliseconds can make the answer that close.
    """
    rows = DocumentUpdate.objects.filter(document=document)
    low, high = 0, _last_seq(document)
    while low < high:
        middle = (low + high + 1) // 2
        created = rows.filter(seq=middle).values_list("created_at", flat=True).first()
        if created is not None and created <= when:
            low = middle
        else:
            high = middle - 1
    return low


def seq_time(*, document: Document, seq: int):
    """When the update seq was received (None for 0 or a missing row)."""
    return (
        DocumentUpdate.objects.filter(document=document, seq=seq)
        .values_list("created_at", flat=True)
        .first()
    )


# ------------------------------------------------------------------ rendering


def _formats_of(document: Document) -> dict[str, str]:
    return BOARD_FORMATS if document.kind == DocumentKind.WHITEBOARD else TEXT_FORMATS


def version_render(*, document: Document, seq: int, fmt: str) -> tuple[bytes | str, str]:
    """The version exported as fmt; returns (body, content type)."""
    formats = _formats_of(document)
    if fmt not in formats:
        raise HistoryError(f"format must be one of: {', '.join(formats)}.")
    doc = version_doc(document=document, seq=seq)
    content_type = formats[fmt]
    if document.kind == DocumentKind.WHITEBOARD:
        if fmt == "svg":
            return render_svg(doc), content_type
        if fmt == "png":
            return render_png(doc), content_type
        return json.dumps(board_json(doc)), content_type
    if fmt == "pdf":
        return document_pdf(doc, title=document.title), content_type
    if fmt == "json":
        return json.dumps(document_json(doc)), content_type
    renderers = {"text": document_text, "markdown": document_markdown, "html": document_html}
    return renderers[fmt](doc), content_type


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\u200e\u200f\u202a-\u202e]")
_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu")


@lru_cache(maxsize=1)
def _unicode_fonts() -> dict[str, str] | None:
    """DejaVu's regular, bold and mono faces when installed, else None (Latin-1 only)."""
    for folder in _FONT_DIRS:
        faces = {
            "": Path(folder) / "DejaVuSans.ttf",
            "B": Path(folder) / "DejaVuSans-Bold.ttf",
            "mono": Path(folder) / "DejaVuSansMono.ttf",
        }
        if all(path.is_file() for path in faces.values()):
            return {style: str(path) for style, path in faces.items()}
    return None


def _image_label(node: _Node) -> str:
    alt = node.attrs.get("alt")
    return f"[image: {alt}]" if isinstance(alt, str) and alt else "[image]"


def _pdf_blocks(node: _Node, depth: int = 0, ordered: bool = False) -> list[tuple]:
    """(kind, text, indent level, list marker) per block, iteratively bounded by _tree."""
    blocks: list[tuple] = []
    number = 1
    for child in node.children:
        if isinstance(child, _Run):
            blocks.append(("p", child.text, depth, ""))
            continue
        kind = child.type
        if kind in LIST_ITEMS | TASK_ITEMS:
            if kind in TASK_ITEMS:
                marker = "[x]" if child.attrs.get("checked") in (True, "true") else "[ ]"
            else:
                marker = f"{number}." if ordered else "\u2022"
            number += 1
            inner = _pdf_blocks(child, depth + 1)
            if inner:
                first = inner[0]
                inner[0] = (first[0], first[1], first[2], marker)
            else:
                inner = [("p", "", depth + 1, marker)]
            blocks.extend(inner)
        elif kind == "heading":
            level = child.attrs.get("level")
            level = int(level) if isinstance(level, int | float) and 1 <= level <= 6 else 1
            blocks.append((f"h{level}", _inline_text(child.children), depth, ""))
        elif kind in CODE_BLOCKS:
            blocks.append(("code", _inline_text(child.children), depth, ""))
        elif kind in IMAGES:
            blocks.append(("p", _image_label(child), depth, ""))
        elif kind in {"horizontalRule", "horizontal_rule"}:
            blocks.append(("hr", "", depth, ""))
        elif _is_textblock(child):
            blocks.append(("p", _inline_text(child.children), depth, ""))
        else:
            nested = kind in {"orderedList", "ordered_list"}
            blocks.extend(_pdf_blocks(child, depth, ordered=nested))
    return blocks


def document_pdf(doc: Doc, *, title: str = "") -> bytes:
    """A text document as a simple PDF: headings, paragraphs, lists, code blocks."""
    from fpdf import FPDF

    # fontTools logs every step of subsetting the font at INFO: a dozen lines per export.
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    pdf = FPDF(format="A4")
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(True, margin=20)
    pdf.set_title(title[:200])
    fonts = _unicode_fonts()
    loaded: set[tuple[str, str]] = set()

    def use_font(mono: bool, style: str, size: float) -> None:
        if not fonts:
            pdf.set_font("courier" if mono else "helvetica", style, size)
            return
        # Parsing a TrueType font costs ~0.1-0.3 s: only the faces a document uses.
        family, path = ("mono", fonts["mono"]) if mono else ("body", fonts[style])
        if (family, style) not in loaded:
            pdf.add_font(family, style, path)
            loaded.add((family, style))
        pdf.set_font(family, style, size)

    def clean(text: str) -> str:
        # Control characters have no glyph anywhere; the core fonts are Latin-1 only, so
        # without DejaVu anything else becomes "?" rather than an error.
        text = _CONTROL.sub("", text.replace("\t", "    "))
        return text if fonts else text.encode("latin-1", "replace").decode("latin-1")

    pdf.add_page()
    sizes = {"h1": 22, "h2": 18, "h3": 15, "h4": 13, "h5": 12, "h6": 11}
    for kind, text, depth, marker in _pdf_blocks(_tree(doc)):
        indent = min(depth, 8) * 7
        pdf.set_x(pdf.l_margin + indent)
        width = pdf.epw - indent
        if kind == "hr":
            y = pdf.get_y() + 2
            pdf.line(pdf.l_margin, y, pdf.l_margin + pdf.epw, y)
            pdf.ln(5)
            continue
        if kind in sizes:
            use_font(False, "B", sizes[kind])
            pdf.ln(2)
        elif kind == "code":
            use_font(True, "", 10)
        else:
            use_font(False, "", 11)
        line_height = pdf.font_size * 1.4
        text = clean(text)
        if marker:
            marker_width = 7
            pdf.cell(marker_width, line_height, clean(marker))
            width -= marker_width
        # new_x/new_y: the next block starts on a fresh line at the left margin.
        pdf.multi_cell(width, line_height, text or " ", new_x="LMARGIN", new_y="NEXT")
        if kind in sizes or kind == "code":
            pdf.ln(1)
    return bytes(pdf.output())


# ------------------------------------------------------------------ compare

_TOKEN = re.compile(r"\w+|\s+|[^\w\s]+")
_WORD = re.compile(r"\w", re.UNICODE)
# Characters above which a block is diffed line by line first.
LONG_BLOCK = 20_000


def _list_block_tag(kind: str, in_list: bool, in_quote: bool, attrs: dict) -> str:
    if kind == "heading":
        level = attrs.get("level")
        level = int(level) if isinstance(level, int | float) and 1 <= level <= 6 else 1
        return f"h{level}"
    if kind in CODE_BLOCKS:
        return "pre"
    if in_list:
        return "li"
    return "blockquote" if in_quote else "p"


def _text_blocks(doc: Doc) -> list[tuple[str, str]]:
    """(HTML tag, text) per text block, in reading order."""
    blocks: list[tuple[str, str]] = []
    stack = [(iter(_tree(doc).children), False, False)]
    while stack:
        items, in_list, in_quote = stack[-1]
        child = next(items, None)
        if child is None:
            stack.pop()
        elif isinstance(child, _Run):
            blocks.append(("p", child.text))
        elif child.type in INLINE_BREAKS:
            continue
        elif child.type in IMAGES:
            blocks.append(("p", _image_label(child)))
        elif _is_textblock(child):
            tag = _list_block_tag(child.type, in_list, in_quote, child.attrs)
            blocks.append((tag, _inline_text(child.children)))
        else:
            stack.append(
                (
                    iter(child.children),
                    in_list or child.type in LIST_ITEMS | TASK_ITEMS,
                    in_quote or child.type == "blockquote",
                )
            )
    return blocks


def _words(tokens) -> int:
    return sum(1 for token in tokens if _WORD.search(token))


def _inline_diff(before: str, after: str) -> tuple[str, int, int]:
    """HTML of a changed block with <del>/<ins> at word granularity, and the word counts.

    A long block with line breaks (a code block, a pasted text) is first diffed line by
    line, then word by word inside the changed stretches: a word diff over tens of
    thousands of tokens would take seconds.
    """
    if len(before) + len(after) <= LONG_BLOCK or "\n" not in before + after:
        return _word_diff(before, after)
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    parts: list[str] = []
    inserted = deleted = 0
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b).get_opcodes():
        if op == "equal":
            parts.append(escape("".join(a[i1:i2])))
            continue
        html, plus, minus = _word_diff("".join(a[i1:i2]), "".join(b[j1:j2]))
        parts.append(html)
        inserted += plus
        deleted += minus
    return "".join(parts), inserted, deleted


def _word_diff(before: str, after: str) -> tuple[str, int, int]:
    a, b = _TOKEN.findall(before), _TOKEN.findall(after)
    # Trim the common ends first: most edits touch a small middle of a long block.
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    head, tail = "".join(a[:start]), "".join(a[len(a) - end :])
    a_mid, b_mid = a[start : len(a) - end], b[start : len(b) - end]
    parts = [escape(head)]
    inserted = deleted = 0
    matcher = difflib.SequenceMatcher(None, a_mid, b_mid)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            parts.append(escape("".join(a_mid[i1:i2])))
            continue
        if i2 > i1:
            parts.append(f"<del>{escape(''.join(a_mid[i1:i2]))}</del>")
            deleted += _words(a_mid[i1:i2])
        if j2 > j1:
            parts.append(f"<ins>{escape(''.join(b_mid[j1:j2]))}</ins>")
            inserted += _words(b_mid[j1:j2])
    parts.append(escape(tail))
    return "".join(parts), inserted, deleted


def _compare_text(before: Doc, after: Doc) -> dict:
    a, b = _text_blocks(before), _text_blocks(after)
    html: list[str] = []
    inserted = deleted = 0

    def whole(tag: str, text: str, mark: str) -> str:
        return f"<{tag}><{mark}>{escape(text)}</{mark}></{tag}>" if text else f"<{tag}></{tag}>"

    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            html.extend(f"<{tag}>{escape(text)}</{tag}>" for tag, text in a[i1:i2])
            continue
        pairs = min(i2 - i1, j2 - j1) if op == "replace" else 0
        for k in range(pairs):
            (_, old), (tag, new) = a[i1 + k], b[j1 + k]
            body, plus, minus = _inline_diff(old, new)
            html.append(f"<{tag}>{body}</{tag}>")
            inserted += plus
            deleted += minus
        for tag, text in a[i1 + pairs : i2]:
            html.append(whole(tag, text, "del"))
            deleted += _words(_TOKEN.findall(text))
        for tag, text in b[j1 + pairs : j2]:
            html.append(whole(tag, text, "ins"))
            inserted += _words(_TOKEN.findall(text))
    return {"kind": "text", "html": "\n".join(html), "inserted": inserted, "deleted": deleted}


def _compare_board(before: Doc, after: Doc) -> dict:
    old = {shape["id"]: shape for shape in board_shapes(before)}
    new = {shape["id"]: shape for shape in board_shapes(after)}
    return {
        "kind": "whiteboard",
        "added": [shape for key, shape in new.items() if key not in old],
        "removed": [shape for key, shape in old.items() if key not in new],
        "changed": [
            {"id": key, "before": old[key], "after": shape}
            for key, shape in new.items()
            if key in old and old[key] != shape
        ],
        "background": {"before": board_background(before), "after": board_background(after)},
    }


def versions_compare(*, document: Document, from_seq: int, to_seq: int) -> dict:
    """What changed from one version to another."""
    before = version_doc(document=document, seq=from_seq)
    after = version_doc(document=document, seq=to_seq)
    if document.kind == DocumentKind.WHITEBOARD:
        result = _compare_board(before, after)
    else:
        result = _compare_text(before, after)
    return {"from_seq": from_seq, "to_seq": to_seq, **result}


# ------------------------------------------------------------------ restore


def _copy_children(source, target) -> None:
    """Append copies of source's Xml children (with attributes and formatting) to target.

    Iterative: a deeply nested version cannot overflow the stack here.
    """
    pending = [(source, target)]
    while pending:
        src, dst = pending.pop()
        for child in src.children:
            if isinstance(child, XmlText):
                text = dst.children.append(XmlText())
                for chunk, attrs in child.diff():
                    if isinstance(chunk, str):
                        # pycrdt indexes are UTF-8 bytes; len() of an XmlText counts them.
                        text.insert(len(text), chunk, dict(attrs) if attrs else None)
                    else:
                        text.insert_embed(len(text), chunk, dict(attrs) if attrs else None)
            elif isinstance(child, XmlElement):
                element = dst.children.append(XmlElement(child.tag, dict(child.attributes)))
                pending.append((child, element))


def _restore_text(current: Doc, version: Doc) -> None:
    fragment = current.get(TEXT_FIELD, type=XmlFragment)
    with current.transaction():
        count = len(fragment.children)
        if count:
            del fragment.children[0:count]
        _copy_children(version.get(TEXT_FIELD, type=XmlFragment), fragment)


def _plain(value):
    """A Y value as plain data, for deciding whether a shape differs."""
    if isinstance(value, Map):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, Array):
        return [_plain(item) for item in value]
    if isinstance(value, Text):
        return ("text", str(value))
    return value


def _prelim(value):
    """A fresh (not yet integrated) copy of a Y value for inserting into another doc."""
    if isinstance(value, Map):
        return Map({key: _prelim(item) for key, item in value.items()})
    if isinstance(value, Array):
        return Array([_prelim(item) for item in value])
    if isinstance(value, Text):
        return Text(str(value))
    return value


def _restore_map(current: Map, version: Map) -> None:
    old = dict(current.items())
    new = dict(version.items())
    for key in old:
        if key not in new:
            del current[key]
    for key, value in new.items():
        if key not in old or _plain(old[key]) != _plain(value):
            current[key] = _prelim(value)


def _restore_board(current: Doc, version: Doc) -> None:
    with current.transaction():
        for name in ("shapes", "board"):
            _restore_map(current.get(name, type=Map), version.get(name, type=Map))


def _room_send(document_id, update: bytes) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            broadcast.room_group(document_id),
            {"type": "room.update", "updates": [update], "origin": "history"},
        )
    except Exception:
        # Stored either way: live clients get it when they next sync with a fresh room.
        logger.exception("could not send a restore of %s to live rooms", document_id)


def version_restore(*, document: Document, seq: int, user) -> int:
    """Make the document's content what it was at seq, as one new update; returns its seq."""
    version = version_doc(document=document, seq=seq)
    current, current_seq = store.doc_load(document_id=document.pk)
    if document.kind == DocumentKind.WHITEBOARD:
        same = board_json(current) == board_json(version) and _plain(
            current.get("shapes", type=Map)
        ) == _plain(version.get("shapes", type=Map))
    else:
        same = document_json(current) == document_json(version)
    if same:
        return current_seq
    before = current.get_state()
    if document.kind == DocumentKind.WHITEBOARD:
        _restore_board(current, version)
    else:
        _restore_text(current, version)
    update = current.get_update(before)
    if update == protocol.EMPTY_UPDATE:
        return current_seq
    pending = store.PendingUpdate(update, getattr(user, "pk", None), timezone.now())
    with transaction.atomic():
        new_seq = store.updates_append(document_id=document.pk, updates=[pending])
        _mark_restore(document_id=document.pk, seq=new_seq, restored_from_seq=seq)
    _room_send(document.pk, update)
    webhooks.event_enqueue(
        event="version.restored",
        document=document,
        actor=user,
        data={"restored_from_seq": seq, "seq": new_seq},
    )
    return new_seq


def _mark_restore(*, document_id, seq: int, restored_from_seq: int) -> None:
    """Make the restore's update a session of its own, marked with the seq restored to."""
    session = EditSession.objects.filter(
        document_id=document_id, first_seq__lte=seq, last_seq__gte=seq
    ).first()
    if session is None:
        return
    if session.first_seq < seq:
        # It extended the restorer's ongoing session: split the restore off it.
        session.last_seq = seq - 1
        session.update_count = max(1, session.update_count - 1)
        session.save(update_fields=["last_seq", "update_count"])
        row = DocumentUpdate.objects.filter(document_id=document_id, seq=seq).values_list(
            "created_at", flat=True
        )
        when = row.first() or timezone.now()
        EditSession.objects.create(
            document_id=document_id,
            author_id=session.author_id,
            first_seq=seq,
            last_seq=seq,
            started_at=when,
            ended_at=when,
            update_count=1,
            restored_from_seq=restored_from_seq,
        )
        return
    session.restored_from_seq = restored_from_seq
    session.save(update_fields=["restored_from_seq"])


def document_copy_from_version(*, document: Document, seq: int, user, title=None) -> Document:
    """A new document owned by user whose content is the version at seq."""
    version = version_doc(document=document, seq=seq)
    if title is None or (isinstance(title, str) and not title.strip()):
        title = f"{document.title} (copy)"[:NAME_MAX]
    # A fresh document: the version's whole state is a valid first update for it.
    update = version.get_update()
    return services.document_create(
        owner=user,
        title=title,
        kind=document.kind,
        first_update=update if update != protocol.EMPTY_UPDATE else None,
    )


# ------------------------------------------------------------------ named versions


def _name(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise HistoryError("A name is required.")
    value = value.strip()
    if len(value) > NAME_MAX:
        raise HistoryError(f"The name is longer than {NAME_MAX} characters.")
    return value


def named_version_create(*, document: Document, user, name, seq=None) -> NamedVersion:
    name = _name(name)
    seq = _last_seq(document) if seq is None else _check_seq(document, seq)
    return NamedVersion.objects.create(
        document=document, seq=seq, name=name, created_by=user if user else None
    )


def named_version_rename(*, document: Document, version_id: int, name) -> NamedVersion:
    """Raises NamedVersion.DoesNotExist for an id of another document."""
    version = NamedVersion.objects.get(document=document, pk=version_id)
    version.name = _name(name)
    version.save(update_fields=["name"])
    return version


def named_version_delete(*, document: Document, version_id: int) -> NamedVersion:
    """Raises NamedVersion.DoesNotExist for an id of another document."""
    version = NamedVersion.objects.get(document=document, pk=version_id)
    NamedVersion.objects.filter(pk=version.pk).delete()
    return version


def named_versions(*, document: Document) -> list[NamedVersion]:
    return list(
        NamedVersion.objects.filter(document=document)
        .select_related("created_by")
        .order_by("-seq", "-created_at")
    )
