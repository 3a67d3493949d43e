"""Import content into new documents: Markdown or HTML into a text document, and the
JSON a whiteboard export writes into a board.

HTML is read into the editor's schema, never copied: only the node types and marks the
editor knows survive (unknown tags keep their text), links and image sources pass the same
URL checks as export, and nesting is bounded, so an import cannot create content the
editor or the renderers would choke on.
"""

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from markdown_it import MarkdownIt
from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from .render import TEXT_FIELD, safe_href, safe_src
from .services import ServiceError
from .whiteboard import COORD_LIMIT, MAX_TEXT, SHAPE_TYPES, board_shapes

MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 64
MAX_SHAPES = 100_000
_SPACES = re.compile(r"[ \t\r\n\f]+")


class ImportRefused(ServiceError):
    """The content cannot be imported; the message says why."""


# ------------------------------------------------------------------ text


BLOCK_TAGS = {
    "p": ("paragraph", {}),
    "h1": ("heading", {"level": 1}),
    "h2": ("heading", {"level": 2}),
    "h3": ("heading", {"level": 3}),
    "h4": ("heading", {"level": 4}),
    "h5": ("heading", {"level": 5}),
    "h6": ("heading", {"level": 6}),
    "blockquote": ("blockquote", {}),
    "ul": ("bulletList", {}),
    "ol": ("orderedList", {}),
    "li": ("listItem", {}),
    "pre": ("codeBlock", {}),
}
MARK_TAGS = {
    "strong": "bold",
    "b": "bold",
    "em": "italic",
    "i": "italic",
    "u": "underline",
    "s": "strike",
    "del": "strike",
    "strike": "strike",
    "code": "code",
    "a": "link",
}
# Nodes whose children are blocks; text directly inside them is wrapped in a paragraph.
CONTAINERS = {"doc", "blockquote", "listItem"}
TEXTBLOCKS = {"paragraph", "heading", "codeBlock"}
# Tags that only separate blocks: their text becomes paragraphs of its own.
BOUNDARIES = {
    "div",
    "section",
    "article",
    "header",
    "footer",
    "main",
    "aside",
    "nav",
    "figure",
    "figcaption",
    "table",
    "thead",
    "tbody",
    "tr",
    "td",
    "th",
    "dl",
    "dt",
    "dd",
    "address",
}
IGNORED = {"script", "style", "head", "title", "template", "iframe", "object", "noscript"}


@dataclass
class _Block:
    type: str
    attrs: dict
    children: list = field(default_factory=list)  # _Block | (text, marks) | ("\n", None)


class _TreeBuilder(HTMLParser):
    """HTML to a tree of editor nodes: blocks, and runs of text with their marks."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = _Block("doc", {})
        self.stack: list[_Block] = [self.root]
        self.marks: list[tuple[str, str, dict]] = []  # (html tag, mark, attrs)
        self.ignoring = 0

    # -- structure

    @property
    def top(self) -> _Block:
        return self.stack[-1]

    def _open(self, node_type: str, attrs: dict) -> None:
        if len(self.stack) >= MAX_DEPTH:
            return
        if node_type in ("bulletList", "orderedList") and self.top.type in TEXTBLOCKS:
            self._close_textblock()
        if node_type == "listItem" and self.top.type not in ("bulletList", "orderedList"):
            self._open("bulletList", {})
        if node_type not in ("listItem",) and self.top.type in ("bulletList", "orderedList"):
            self._open("listItem", {})
        if node_type in TEXTBLOCKS and self.top.type in TEXTBLOCKS:
            self._close_textblock()
        block = _Block(node_type, attrs)
        self.top.children.append(block)
        self.stack.append(block)

    def _leaf(self, node_type: str, attrs: dict) -> None:
        """A block with no content (a rule, an image), after the current textblock."""
        self._close_textblock()
        self._open(node_type, attrs)
        if self.top.type == node_type:  # _open refuses beyond MAX_DEPTH
            self.stack.pop()

    def _close(self, node_type: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].type == node_type:
                del self.stack[depth:]
                return

    def _close_textblock(self) -> None:
        while len(self.stack) > 1 and self.top.type in TEXTBLOCKS:
            self.stack.pop()

    def _textblock(self) -> _Block:
        """The textblock text goes into, opening a paragraph where text may not stand."""
        if self.top.type in TEXTBLOCKS:
            return self.top
        self._open("paragraph", {})
        return self.top

    # -- HTMLParser

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in IGNORED:
            self.ignoring += 1
            return
        if self.ignoring:
            return
        if tag in BOUNDARIES:
            self._close_textblock()
        elif tag in BLOCK_TAGS:
            node_type, node_attrs = BLOCK_TAGS[tag]
            node_attrs = dict(node_attrs)
            if tag == "ol" and (attrs.get("start") or "").isdigit():
                node_attrs["start"] = int(attrs["start"])
            self._open(node_type, node_attrs)
        elif tag == "hr":
            self._leaf("horizontalRule", {})
        elif tag == "br":
            self._textblock().children.append(("\n", None))
        elif tag == "img":
            src = safe_src(attrs.get("src"))
            if src:
                self._leaf("image", {"src": src, "alt": (attrs.get("alt") or "")[:500]})
        elif tag in MARK_TAGS:
            mark = MARK_TAGS[tag]
            mark_attrs: dict = {}
            if mark == "link":
                href = safe_href(attrs.get("href"))
                if href is None:
                    return
                mark_attrs = {"href": href}
            if mark == "code" and self.top.type == "codeBlock":
                language = (attrs.get("class") or "").removeprefix("language-")
                if language and language.replace("-", "").isalnum():
                    self.top.attrs["language"] = language[:40]
                return
            self.marks.append((tag, mark, mark_attrs))

    def handle_endtag(self, tag):
        if tag in IGNORED:
            self.ignoring = max(0, self.ignoring - 1)
            return
        if self.ignoring:
            return
        if tag in BOUNDARIES:
            self._close_textblock()
        elif tag in BLOCK_TAGS:
            self._close(BLOCK_TAGS[tag][0])
        elif tag in MARK_TAGS:
            for index in range(len(self.marks) - 1, -1, -1):
                if self.marks[index][0] == tag:
                    del self.marks[index]
                    break

    def handle_data(self, data):
        if self.ignoring or not data:
            return
        in_code = any(block.type == "codeBlock" for block in self.stack)
        if not in_code:
            if self.top.type not in TEXTBLOCKS and not data.strip():
                return
            data = _SPACES.sub(" ", data)
        marks = {} if in_code else {mark: dict(attrs) for _tag, mark, attrs in self.marks}
        block = self._textblock()
        if not in_code and block.children and block.children[-1] == ("\n", None):
            data = data.lstrip(" ")  # the newline after a <br> is not a space
            if not data:
                return
        block.children.append((data, marks))


def _tidy(block: _Block) -> None:
    """Trim whitespace at textblock edges, drop empty paragraphs, give containers a child."""
    kept = []
    for child in block.children:
        if isinstance(child, _Block):
            _tidy(child)
            if child.type == "paragraph" and not child.children:
                continue
        kept.append(child)
    block.children = kept
    if block.type in TEXTBLOCKS and block.type != "codeBlock":
        while block.children and isinstance(block.children[0], tuple):
            text, marks = block.children[0]
            stripped = text.lstrip(" ")
            if stripped:
                block.children[0] = (stripped, marks)
                break
            block.children.pop(0)
        while block.children and isinstance(block.children[-1], tuple):
            text, marks = block.children[-1]
            stripped = text.rstrip(" ")
            if stripped:
                block.children[-1] = (stripped, marks)
                break
            block.children.pop()
    if block.type == "codeBlock" and block.children:
        text, marks = block.children[-1]
        if isinstance(text, str) and text.endswith("\n"):
            block.children[-1] = (text[:-1], marks)
    if block.type in ("listItem", "blockquote") and not block.children:
        block.children.append(_Block("paragraph", {}))


def _write(parent, block: _Block) -> None:
    """Append the block's children under the Y element `parent`."""
    pending_text: list = []

    def flush_text():
        if not pending_text:
            return
        text = XmlText()
        parent.children.append(text)
        offset = 0
        for chunk, marks in pending_text:
            if chunk == "\n" and marks is None and block.type != "codeBlock":
                parent.children.append(XmlElement("hardBreak"))
                text = XmlText()
                parent.children.append(text)
                offset = 0
                continue
            text.insert(offset, chunk, marks or None)
            offset += len(chunk)
        pending_text.clear()

    for child in block.children:
        if isinstance(child, tuple):
            pending_text.append(child)
            continue
        flush_text()
        element = XmlElement(child.type, dict(child.attrs))
        parent.children.append(element)
        _write(element, child)
    flush_text()


def html_into(doc: Doc, html: str) -> None:
    """Write the HTML's content into the doc's editor fragment."""
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    _tidy(builder.root)
    fragment = doc.get(TEXT_FIELD, type=XmlFragment)
    with doc.transaction():
        if not builder.root.children:
            fragment.children.append(XmlElement("paragraph"))
        _write(fragment, builder.root)


def markdown_to_html(text: str) -> str:
    # Raw HTML inside Markdown is not rendered: it would only be filtered away again.
    return MarkdownIt("commonmark", {"html": False}).enable("strikethrough").render(text)


def text_document_update(*, content: str, fmt: str) -> bytes:
    """The first update of a text document holding the Markdown or HTML `content`."""
    if len(content.encode("utf-8", "surrogatepass")) > MAX_IMPORT_BYTES:
        raise ImportRefused(f"Imports are limited to {MAX_IMPORT_BYTES // (1024 * 1024)} MB.")
    if fmt == "markdown":
        html = markdown_to_html(content)
    elif fmt == "html":
        html = content
    else:
        raise ImportRefused("Import text documents from markdown or html.")
    doc = Doc()
    html_into(doc, html)
    return doc.get_update()


# ---------------------------------------------------------------- boards


def _finite(value, low=-COORD_LIMIT, high=COORD_LIMIT):
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value != value or not low <= value <= high:  # NaN or out of range
        return None
    return value


def _shape_props(shape: dict) -> dict | None:
    if not isinstance(shape, dict) or shape.get("type") not in SHAPE_TYPES:
        return None
    props = {}
    for key, value in shape.items():
        if key in ("id", "points", "text", "createdBy"):
            continue
        if isinstance(value, str) and len(value) <= 200:
            props[key] = value
        elif _finite(value) is not None:
            props[key] = value
    if isinstance(shape.get("points"), list):
        flat = []
        for point in shape["points"][:50_000]:
            if not isinstance(point, list | tuple) or len(point) < 2:
                continue
            x, y = _finite(point[0]), _finite(point[1])
            pressure = _finite(point[2], 0.0, 1.0) if len(point) > 2 else 0.5
            if x is None or y is None:
                continue
            flat.extend((x, y, 0.5 if pressure is None else pressure))
        props["points"] = Array(flat)
    if isinstance(shape.get("text"), str):
        props["text"] = Text(shape["text"][:MAX_TEXT])
    return props


def board_document_update(*, data) -> bytes:
    """The first update of a board holding the shapes of a board JSON export."""
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise ImportRefused('A board import is the JSON a board export writes: {"shapes": [...]}.')
    if len(data["shapes"]) > MAX_SHAPES:
        raise ImportRefused(f"A board import holds at most {MAX_SHAPES} shapes.")
    doc = Doc()
    shapes = doc.get("shapes", type=Map)
    board = doc.get("board", type=Map)
    used: set[str] = set()
    with doc.transaction():
        for number, shape in enumerate(data["shapes"]):
            props = _shape_props(shape)
            if props is None:
                continue
            shape_id = shape.get("id") if isinstance(shape.get("id"), str) else ""
            shape_id = shape_id[:200] or f"imported-{number}"
            if shape_id in used:
                shape_id = f"{shape_id}-{number}"
            used.add(shape_id)
            shapes[shape_id] = Map(props)
        background = data.get("background")
        if isinstance(background, str) and len(background) == 7 and background.startswith("#"):
            board["background"] = background
    if data["shapes"] and not board_shapes(doc):
        raise ImportRefused("None of the shapes could be read.")
    return doc.get_update()


# ---------------------------------------------------------------- service


def document_import(*, owner, title: str, fmt: str, content, request=None):
    """A new document, owned by `owner`, whose first change (by them) is the imported content.

    fmt: "markdown" or "html" (content: str) make a text document; "board-json" (content:
    the dict a board export writes, or its JSON text) makes a whiteboard.
    """
    from . import audit, services
    from .models import DocumentKind

    if fmt == "board-json":
        if isinstance(content, str | bytes):
            try:
                content = json.loads(content)
            except ValueError:
                raise ImportRefused("The board file is not valid JSON.") from None
        update, kind = board_document_update(data=content), DocumentKind.WHITEBOARD
    elif fmt in ("markdown", "html"):
        if not isinstance(content, str):
            raise ImportRefused("content must be a string.")
        update, kind = text_document_update(content=content, fmt=fmt), DocumentKind.TEXT
    else:
        raise ImportRefused("format must be one of: markdown, html, board-json.")
    document = services.document_create(
        owner=owner, title=title, kind=kind, request=request, first_update=update
    )
    audit.record(
        "document.imported", actor=owner, request=request, document_id=document.pk, format=fmt
    )
    return document
