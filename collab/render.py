"""A document's content as plain text, ProseMirror JSON, HTML or Markdown.

The content is the Tiptap/ProseMirror tree in the `default` XmlFragment: one XmlElement
per node (its tag is the node type, its attributes the node's attrs) and XmlText for text,
whose formatting attributes are the marks (`{"bold": {}, "link": {"href": ...}}`).

The Y tree is first read into plain `_Node`/`_Run` objects, iteratively and at most
`MAX_DEPTH` elements deep (deeper content is kept as the plain text of its subtree), so
the recursive renderers below are bounded whatever a client managed to nest.

HTML is sanitised by construction: it is written by this module from a whitelist of node
types and marks (`HTML_ALLOWED` lists every tag and attribute it can emit), never from the
document's tag or attribute names; every text and attribute value is escaped; links keep
only http(s), mailto and relative URLs and images only http(s) and same-site (`/...`)
sources; unknown node types become a neutral `<div>`/`<span>` around their content.
"""

import itertools
import re
import unicodedata
from dataclasses import dataclass, field
from html import escape

from pycrdt import Doc, XmlElement, XmlFragment, XmlText

TEXT_FIELD = "default"
# Elements whose text runs on within the line rather than starting a new one.
INLINE_BREAKS = {"hardBreak", "hard_break", "br"}
# Elements nested deeper than this are rendered as the plain text of their subtree.
MAX_DEPTH = 128

TEXTBLOCKS = {"paragraph", "heading", "codeBlock", "code_block"}
CODE_BLOCKS = {"codeBlock", "code_block"}
IMAGES = {"image"}
ORDERED_LISTS = {"orderedList", "ordered_list"}
BULLET_LISTS = {"bulletList", "bullet_list"}
TASK_LISTS = {"taskList"}
LIST_ITEMS = {"listItem", "list_item"}
TASK_ITEMS = {"taskItem"}
CELLS = {"tableCell": "td", "table_cell": "td", "tableHeader": "th", "table_header": "th"}

# Every tag and attribute document_html can write (tests check the output against it).
HTML_ALLOWED: dict[str, set[str]] = {
    "p": set(),
    **{f"h{level}": set() for level in range(1, 7)},
    "blockquote": set(),
    "ul": {"data-type"},
    "ol": {"start"},
    "li": {"data-type", "data-checked"},
    "label": set(),
    "input": {"type", "checked", "disabled"},
    "div": set(),
    "span": {"style"},
    "pre": set(),
    "code": {"class"},
    "hr": set(),
    "br": set(),
    "img": {"src", "alt", "title"},
    "table": set(),
    "tbody": set(),
    "tr": set(),
    "th": {"colspan", "rowspan", "colwidth"},
    "td": {"colspan", "rowspan", "colwidth"},
    "a": {"href", "target", "rel"},
    "strong": set(),
    "em": set(),
    "s": set(),
    "u": set(),
    "mark": {"data-color", "style"},
    "sub": set(),
    "sup": set(),
}

LINK_REL = "noopener noreferrer nofollow"
LINK_SCHEMES = {"http", "https", "mailto"}
IMAGE_SCHEMES = {"http", "https"}


@dataclass(slots=True)
class _Run:
    text: str
    marks: dict  # the formatting attributes as stored: mark name -> attrs


@dataclass(slots=True)
class _Node:
    type: str
    attrs: dict
    children: list = field(default_factory=list)  # of _Node | _Run


def _fragment(doc: Doc) -> XmlFragment:
    return doc.get(TEXT_FIELD, type=XmlFragment)


def _runs(text: XmlText) -> list[_Run]:
    return [
        _Run(chunk, dict(attrs or {}))
        for chunk, attrs in text.diff()
        if isinstance(chunk, str) and chunk
    ]


def _subtree_text(element) -> str:
    """All the text under a Y element, without recursion."""
    parts: list[str] = []
    stack = [iter(element.children)]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
        elif isinstance(child, XmlText):
            parts.extend(run.text for run in _runs(child))
        elif isinstance(child, XmlElement):
            if child.tag in INLINE_BREAKS:
                parts.append("\n")
            stack.append(iter(child.children))
    return "".join(parts)


def _tree(doc: Doc) -> _Node:
    """The fragment as plain objects, read iteratively and at most MAX_DEPTH deep."""
    root = _Node("doc", {})
    pending = [(_fragment(doc), root, 0)]
    while pending:
        source, node, depth = pending.pop()
        for child in source.children:
            if isinstance(child, XmlText):
                node.children.extend(_runs(child))
            elif isinstance(child, XmlElement):
                element = _Node(child.tag, dict(child.attributes))
                node.children.append(element)
                if depth + 1 >= MAX_DEPTH:
                    text = _subtree_text(child)
                    if text:
                        element.children.append(_Run(text, {}))
                else:
                    pending.append((child, element, depth + 1))
    return root


# Attribute values


def _int(value, default: int, low: int, high: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,12}", value.strip()):
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        return default
    return min(max(value, low), high)


def _truthy(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "checked", "1"}
    return bool(value) if isinstance(value, bool | int | float) else False


def _string(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _language(value) -> str:
    return re.sub(r"[^A-Za-z0-9_+#.\-]", "", value)[:40] if isinstance(value, str) else ""


def _color(value) -> str | None:
    if isinstance(value, str) and re.fullmatch(r"#[0-9A-Fa-f]{3,8}", value.strip()):
        return value.strip()
    return None


_C0_AND_SPACE = "".join(map(chr, range(0x21)))
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")


def _clean_url(value) -> str | None:
    """The URL as a browser would read it (outer C0/space stripped, tabs and newlines
    removed), or None when it is not a string or still holds control characters."""
    if not isinstance(value, str):
        return None
    url = re.sub(r"[\t\n\r]", "", value).strip(_C0_AND_SPACE)
    if not url or re.search(r"[\x00-\x1f\x7f]", url):
        return None
    return url


def safe_href(value) -> str | None:
    """An http(s), mailto or relative link target, else None."""
    url = _clean_url(value)
    if url is None:
        return None
    scheme = _SCHEME.match(url)
    if scheme and scheme.group(1).lower() not in LINK_SCHEMES:
        return None
    return url


def safe_src(value) -> str | None:
    """An http(s) or same-site (`/path`) image source, else None."""
    url = _clean_url(value)
    if url is None:
        return None
    scheme = _SCHEME.match(url)
    if scheme:
        return url if scheme.group(1).lower() in IMAGE_SCHEMES else None
    if url.startswith("/") and not url.startswith(("//", "/\\")):
        return url
    return None


# Marks

# Simple marks and their HTML tags; link, highlight and textStyle carry attributes.
SIMPLE_MARKS = {
    "bold": "strong",
    "italic": "em",
    "underline": "u",
    "strike": "s",
    "code": "code",
    "subscript": "sub",
    "superscript": "sup",
}
MARK_ORDER = (
    "link",
    "bold",
    "italic",
    "underline",
    "strike",
    "highlight",
    "textStyle",
    "subscript",
    "superscript",
    "code",
)
# y-prosemirror stores marks that may overlap themselves as "name--<8 chars of hash>".
_HASHED_MARK = re.compile(r"--[A-Za-z0-9+/=]{8}$")


def _clean_marks(raw: dict) -> dict[str, tuple]:
    """The whitelisted marks of a run: name -> a tuple of cleaned attribute values."""
    marks: dict[str, tuple] = {}
    for stored_name, value in raw.items():
        if value is None or value is False:
            continue
        name = _HASHED_MARK.sub("", stored_name)
        attrs = value if isinstance(value, dict) else {}
        if name in marks:
            continue
        if name == "link":
            href = safe_href(attrs.get("href"))
            if href is not None:
                marks[name] = (href, "_blank" if attrs.get("target") == "_blank" else None)
        elif name == "highlight":
            marks[name] = (_color(attrs.get("color")),)
        elif name == "textStyle":
            color = _color(attrs.get("color"))
            if color:
                marks[name] = (color,)
        elif name in SIMPLE_MARKS:
            marks[name] = ()
    return marks


@dataclass(slots=True)
class _Inline:
    """A run of text with cleaned marks, or an inline node (marks empty)."""

    text: str | None
    marks: dict
    node: _Node | None = None


def _inline_items(children: list) -> list[_Inline]:
    items: list[_Inline] = []
    for child in children:
        if isinstance(child, _Run):
            marks = _clean_marks(child.marks)
            if items and items[-1].node is None and items[-1].marks == marks:
                items[-1].text += child.text
            else:
                items.append(_Inline(child.text, marks))
        else:
            items.append(_Inline(None, {}, child))
    return items


class _MarkStack:
    """Opens and closes marks so that each is opened once per stretch where it holds.

    Marks that last longer are opened outside shorter ones; marks already open stay
    open as long as nothing opened after them has to close.
    """

    def __init__(self, items: list[_Inline], skip: frozenset = frozenset()):
        self.open: list[tuple[str, tuple]] = []
        # extents[i][mark]: for how many items from i on the mark holds unchanged
        self.extents: list[dict] = [{} for _ in items]
        following: dict = {}
        for index in range(len(items) - 1, -1, -1):
            current = {
                (name, attrs): following.get((name, attrs), 0) + 1
                for name, attrs in items[index].marks.items()
                if name not in skip
            }
            self.extents[index] = current
            following = current

    def step(self, index: int, wanted: dict) -> tuple[list, list]:
        """Marks to close (innermost first) and to open (outermost first) for an item."""
        keys = {(name, attrs) for name, attrs in wanted.items()}
        keep = 0
        while keep < len(self.open) and self.open[keep] in keys:
            keep += 1
        closing = list(reversed(self.open[keep:]))
        extents = self.extents[index] if index < len(self.extents) else {}
        opening = sorted(
            keys - set(self.open[:keep]),
            key=lambda mark: (-extents.get(mark, 0), MARK_ORDER.index(mark[0])),
        )
        self.open = self.open[:keep] + opening
        return closing, opening

    def close_all(self) -> list:
        closing, self.open = list(reversed(self.open)), []
        return closing


# Plain text


def _inline_text(children: list) -> str:
    parts = []
    for child in children:
        if isinstance(child, _Run):
            parts.append(child.text)
        elif child.type in INLINE_BREAKS:
            parts.append("\n")
        elif child.type in IMAGES:
            parts.append(_string(child.attrs.get("alt")) or "")
        else:
            parts.append(_inline_text(child.children))
    return "".join(parts)


def _is_textblock(node: _Node) -> bool:
    return node.type in TEXTBLOCKS or any(isinstance(c, _Run) for c in node.children)


def _is_inline(child) -> bool:
    return isinstance(child, _Run) or child.type in INLINE_BREAKS


def _block_groups(children: list) -> list:
    """Block children, with consecutive inline children gathered into a list each."""
    groups: list = []
    for child in children:
        if _is_inline(child):
            if groups and isinstance(groups[-1], list):
                groups[-1].append(child)
            else:
                groups.append([child])
        else:
            groups.append(child)
    return groups


def _cell_text(cell) -> str:
    if isinstance(cell, _Run):
        return cell.text.replace("\n", " ")
    return " ".join(line.replace("\n", " ") for line in _text_lines(cell) if line)


def _text_lines(node: _Node) -> list[str]:
    lines: list[str] = []
    for group in _block_groups(node.children):
        if isinstance(group, list):
            lines.append(_inline_text(group))
        elif group.type in IMAGES:
            lines.append(_string(group.attrs.get("alt")) or "")
        elif _is_textblock(group):
            lines.append(_inline_text(group.children))
        elif group.type == "tableRow" or group.type == "table_row":
            lines.append("\t".join(_cell_text(cell) for cell in group.children))
        elif group.type in TASK_ITEMS:
            inner = _text_lines(group) or [""]
            box = "[x]" if _truthy(group.attrs.get("checked")) else "[ ]"
            lines.append(f"{box} {inner[0]}" if inner[0] else box)
            lines.extend(inner[1:])
        elif not group.children:
            lines.append("")
        else:
            lines.extend(_text_lines(group))
    return lines


def document_text(doc: Doc) -> str:
    """One line per block: paragraphs, headings, list items ("[ ] "/"[x] " before task
    items), a code block's lines; a table row per line with its cells tab-separated."""
    return "\n".join(_text_lines(_tree(doc)))


# ProseMirror JSON


def _marks(attrs: dict | None) -> list[dict]:
    marks = []
    for name, value in (attrs or {}).items():
        mark = {"type": name}
        if isinstance(value, dict) and value:
            mark["attrs"] = value
        marks.append(mark)
    return marks


def _node_json(node: _Node) -> dict:
    item: dict = {"type": node.type}
    # pycrdt reads numbers as floats; ProseMirror attributes like heading levels are ints.
    attrs = {
        key: int(value) if isinstance(value, float) and value.is_integer() else value
        for key, value in node.attrs.items()
    }
    if attrs:
        item["attrs"] = attrs
    content = _children_json(node)
    if content:
        item["content"] = content
    return item


def _children_json(node: _Node) -> list[dict]:
    content = []
    for child in node.children:
        if isinstance(child, _Run):
            item = {"type": "text", "text": child.text}
            marks = _marks(child.marks)
            if marks:
                item["marks"] = marks
            content.append(item)
        else:
            content.append(_node_json(child))
    return content


def document_json(doc: Doc) -> dict:
    """The ProseMirror/Tiptap JSON of the document (what `editor.getJSON()` returns)."""
    return {"type": "doc", "content": _children_json(_tree(doc))}


# HTML


def _e(value: str) -> str:
    return escape(value, quote=True)


def _html_open(mark: tuple[str, tuple]) -> str:
    name, attrs = mark
    if name == "link":
        href, target = attrs
        target_attr = f' target="{_e(target)}"' if target else ""
        return f'<a href="{_e(href)}"{target_attr} rel="{LINK_REL}">'
    if name == "highlight":
        (color,) = attrs
        if color:
            return f'<mark data-color="{_e(color)}" style="background-color: {_e(color)}">'
        return "<mark>"
    if name == "textStyle":
        return f'<span style="color: {_e(attrs[0])}">'
    return f"<{SIMPLE_MARKS[name]}>"


def _html_close(mark: tuple[str, tuple]) -> str:
    name = mark[0]
    tag = {"link": "a", "highlight": "mark", "textStyle": "span"}.get(name) or SIMPLE_MARKS[name]
    return f"</{tag}>"


def _html_image(node: _Node) -> str:
    src = safe_src(node.attrs.get("src"))
    alt = node.attrs.get("alt") if isinstance(node.attrs.get("alt"), str) else None
    if src is None:
        return _e(alt or "")
    parts = [f'src="{_e(src)}"']
    if alt is not None:
        parts.append(f'alt="{_e(alt)}"')
    if _string(node.attrs.get("title")):
        parts.append(f'title="{_e(node.attrs["title"])}"')
    return f"<img {' '.join(parts)}>"


def _html_inline(children: list) -> str:
    items = _inline_items(children)
    stack = _MarkStack(items)
    out: list[str] = []
    for index, item in enumerate(items):
        closing, opening = stack.step(index, item.marks)
        out.extend(_html_close(mark) for mark in closing)
        out.extend(_html_open(mark) for mark in opening)
        if item.node is None:
            out.append(_e(item.text))
        elif item.node.type in INLINE_BREAKS:
            out.append("<br>")
        elif item.node.type in IMAGES:
            out.append(_html_image(item.node))
        else:
            out.append(f"<span>{_html_inline(item.node.children)}</span>")
    out.extend(_html_close(mark) for mark in stack.close_all())
    return "".join(out)


def _html_blocks(children: list) -> str:
    out = []
    for group in _block_groups(children):
        if isinstance(group, list):
            out.append(f"<p>{_html_inline(group)}</p>")
        else:
            out.append(_html_block(group))
    return "".join(out)


def _html_list_items(node: _Node) -> str:
    out = []
    for child in node.children:
        if isinstance(child, _Node) and child.type in LIST_ITEMS:
            out.append(f"<li>{_html_blocks(child.children)}</li>")
        elif isinstance(child, _Node) and child.type in TASK_ITEMS:
            checked = _truthy(child.attrs.get("checked"))
            box = '<input type="checkbox" disabled checked>' if checked else ""
            box = box or '<input type="checkbox" disabled>'
            out.append(
                f'<li data-type="taskItem" data-checked="{"true" if checked else "false"}">'
                f"<label>{box}</label><div>{_html_blocks(child.children)}</div></li>"
            )
        else:
            out.append(f"<li>{_html_blocks([child])}</li>")
    return "".join(out)


def _html_cell(node: _Node) -> str:
    tag = CELLS[node.type]
    attrs = []
    for name, high in (("colspan", 1000), ("rowspan", 65534)):
        span = _int(node.attrs.get(name), 1, 1, high)
        if span != 1:
            attrs.append(f' {name}="{span}"')
    widths = node.attrs.get("colwidth")
    if isinstance(widths, list) and widths:
        values = [_int(width, 0, 0, 100000) for width in widths]
        if all(values):
            attrs.append(f' colwidth="{",".join(map(str, values))}"')
    return f"<{tag}{''.join(attrs)}>{_html_blocks(node.children)}</{tag}>"


def _html_row(node: _Node) -> str:
    cells = []
    for child in node.children:
        if isinstance(child, _Node) and child.type in CELLS:
            cells.append(_html_cell(child))
        else:
            cells.append(f"<td>{_html_blocks([child])}</td>")
    return f"<tr>{''.join(cells)}</tr>"


def _html_table(node: _Node) -> str:
    rows = []
    for child in node.children:
        if isinstance(child, _Node) and child.type in {"tableRow", "table_row"}:
            rows.append(_html_row(child))
        else:
            rows.append(f"<tr><td>{_html_blocks([child])}</td></tr>")
    return f"<table><tbody>{''.join(rows)}</tbody></table>"


def _html_block(node: _Node) -> str:
    kind = node.type
    if kind == "paragraph":
        return f"<p>{_html_inline(node.children)}</p>"
    if kind == "heading":
        level = _int(node.attrs.get("level"), 1, 1, 6)
        return f"<h{level}>{_html_inline(node.children)}</h{level}>"
    if kind in CODE_BLOCKS:
        language = _language(node.attrs.get("language"))
        code_class = f' class="language-{_e(language)}"' if language else ""
        return f"<pre><code{code_class}>{_e(_inline_text(node.children))}</code></pre>"
    if kind == "blockquote":
        return f"<blockquote>{_html_blocks(node.children)}</blockquote>"
    if kind in BULLET_LISTS:
        return f"<ul>{_html_list_items(node)}</ul>"
    if kind in TASK_LISTS:
        return f'<ul data-type="taskList">{_html_list_items(node)}</ul>'
    if kind in ORDERED_LISTS:
        start = _int(node.attrs.get("start"), 1, 0, 999_999_999)
        start_attr = f' start="{start}"' if start != 1 else ""
        return f"<ol{start_attr}>{_html_list_items(node)}</ol>"
    if kind in {"horizontalRule", "horizontal_rule"}:
        return "<hr>"
    if kind in IMAGES:
        return _html_image(node)
    if kind == "table":
        return _html_table(node)
    if kind in CELLS or kind in {"tableRow", "table_row"}:
        # A row or cell outside a table: keep the content, not the (invalid) structure.
        return f"<div>{_html_blocks(node.children)}</div>"
    if kind in INLINE_BREAKS:
        return "<br>"
    # Anything else, e.g. a node type from a newer client or a hostile one: its content
    # in a neutral container, never its tag name or attributes.
    if _is_textblock(node):
        return f"<div>{_html_inline(node.children)}</div>"
    return f"<div>{_html_blocks(node.children)}</div>"


def document_html(doc: Doc) -> str:
    """The document as sanitised HTML, in the shape Tiptap's `getHTML()` writes."""
    return _html_blocks(_tree(doc).children)


# Markdown

_MD_ESCAPE = re.compile(r"([\\`*_\[\]<|~])")
_MD_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
_MD_ORDERED_MARKER = re.compile(r"^([0-9]{1,9})([.)])(?=\s|$)")
# Marks written with Markdown delimiters, and the HTML written instead when the
# delimiters would not be read as emphasis at that place (CommonMark flanking rules).
_MD_DELIMITERS = {"bold": "**", "italic": "*", "strike": "~~"}
_MD_FALLBACK = {"bold": "strong", "italic": "em", "strike": "del"}
_MD_HTML_MARKS = {"underline": "u", "highlight": "mark", "subscript": "sub", "superscript": "sup"}


def _md_escape(text: str) -> str:
    return _MD_ENTITY.sub(r"\\&", _MD_ESCAPE.sub(r"\\\1", text))


def _md_line_start(text: str) -> str:
    """Escape what would start a block construct at the beginning of a line."""
    stripped = text.lstrip(" \t")
    indent = text[: len(text) - len(stripped)]
    # Leading blanks would be dropped, or with four make an indented code block.
    indent = indent.replace(" ", "&#32;").replace("\t", "&#9;")
    if stripped[:1] in {"#", ">", "-", "+", "="}:
        stripped = "\\" + stripped
    else:
        stripped = _MD_ORDERED_MARKER.sub(r"\1\\\2", stripped)
    return indent + stripped


def _md_code_span(text: str, in_cell: bool) -> str:
    text = text.replace("\n", " ")
    if in_cell:
        text = text.replace("|", "\\|")
    lengths = {len(run) for run in re.findall(r"`+", text)}
    size = 1
    while size in lengths:
        size += 1
    fence = "`" * size
    pad = (
        text.startswith("`")
        or text.endswith("`")
        or (text.startswith(" ") and text.endswith(" ") and text.strip(" ") != "")
    )
    return f"{fence} {text} {fence}" if pad else f"{fence}{text}{fence}"


def _md_destination(url: str, in_cell: bool) -> str:
    url = re.sub(r"([\\()<>])", r"\\\1", url).replace(" ", "%20")
    return url.replace("|", "\\|") if in_cell else url


def _md_image(node: _Node, in_cell: bool) -> tuple[str, str]:
    """("raw", markdown) for a safe image, else ("text", its alt text)."""
    alt = node.attrs.get("alt") if isinstance(node.attrs.get("alt"), str) else ""
    src = safe_src(node.attrs.get("src"))
    if src is None:
        return ("text", alt)
    title = _string(node.attrs.get("title"))
    title_part = ""
    if title:
        quoted = re.sub(r'([\\"\[\]<>])', r"\\\1", title.replace("\n", " "))
        title_part = f' "{quoted}"'.replace("|", "\\|") if in_cell else f' "{quoted}"'
    alt_text = _md_escape(alt.replace("\n", " "))
    return ("raw", f"![{alt_text}]({_md_destination(src, in_cell)}{title_part})")


def _is_punctuation(char: str) -> bool:
    return unicodedata.category(char)[0] in {"P", "S"}


def _flanking(before: str, after: str) -> tuple[bool, bool]:
    """(left-flanking, right-flanking) for a delimiter run between two characters."""
    before_space = before.isspace()
    after_space = after.isspace()
    left = not after_space and (
        not _is_punctuation(after) or before_space or _is_punctuation(before)
    )
    right = not before_space and (
        not _is_punctuation(before) or after_space or _is_punctuation(after)
    )
    return left, right


def _md_inline_tokens(children: list, in_cell: bool) -> list[tuple]:
    """Tokens: ("text", raw), ("raw", markdown), ("open"|"close", mark, pair), ("br",)."""
    items = _inline_items(children)
    stack = _MarkStack(items, skip=frozenset({"code", "textStyle"}))
    tokens: list[tuple] = []
    pairs: dict = {}
    counter = itertools.count()

    def close(marks: list) -> None:
        if not marks:
            return
        # Whitespace before a closing delimiter would stop it closing: move it after.
        trailing = ""
        if tokens and tokens[-1][0] == "text":
            text = tokens[-1][1]
            kept = text.rstrip()
            trailing = text[len(kept) :]
            if trailing:
                tokens[-1] = ("text", kept)
        for mark in marks:
            tokens.append(("close", mark, pairs.pop(mark)))
        if trailing:
            tokens.append(("text", trailing))

    def open_(marks: list) -> None:
        for mark in marks:
            pairs[mark] = next(counter)
            tokens.append(("open", mark, pairs[mark]))

    for index, item in enumerate(items):
        if item.node is None and not item.text.strip() and "code" not in item.marks:
            tokens.append(("text", item.text))  # blanks need no marks of their own
            continue
        wanted = {k: v for k, v in item.marks.items() if k not in {"code", "textStyle"}}
        closing, opening = stack.step(index, wanted)
        close(closing)
        if item.node is None:
            text = item.text
            if opening and "code" not in item.marks:
                # Whitespace after an opening delimiter would stop it opening.
                body = text.lstrip()
                if len(body) < len(text):
                    tokens.append(("text", text[: len(text) - len(body)]))
                text = body
            open_(opening)
            if "code" in item.marks:
                tokens.append(("raw", _md_code_span(text, in_cell)))
            else:
                tokens.append(("text", text))
        elif item.node.type in INLINE_BREAKS:
            open_(opening)
            tokens.append(("br",))
        elif item.node.type in IMAGES:
            open_(opening)
            tokens.append(_md_image(item.node, in_cell))
        else:
            open_(opening)
            tokens.append(("text", _inline_text(item.node.children)))
    close(stack.close_all())
    while tokens and tokens[-1][0] == "br":
        tokens.pop()
    return tokens


def _md_inline(children: list, mode: str) -> list[str]:
    """Inline content as Markdown lines; mode is "block", "heading" or "cell"."""
    in_cell = mode == "cell"
    tokens = _md_inline_tokens(children, in_cell)
    # Escape text; only the first text of a line can start a block construct.
    rendered: list[str | None] = []
    line_empty = True
    for position, token in enumerate(tokens):
        kind = token[0]
        if kind == "text":
            text = _md_escape(re.sub(r"[\r\n]", " ", token[1]))
            following = tokens[position + 1] if position + 1 < len(tokens) else None
            if (
                text.endswith("!")
                and following
                and following[0] == "open"
                and following[1][0] == "link"
            ):
                text = text[:-1] + "\\!"  # "!" then "[" would make an image
            if line_empty and mode != "cell" and token[1]:
                text = _md_line_start(text)
            if token[1]:
                line_empty = False
            rendered.append(text)
        elif kind == "br":
            rendered.append(None)
            line_empty = mode == "block"  # elsewhere a break does not start a line
        else:
            rendered.append(token[1] if kind == "raw" else "")
            line_empty = False

    html_pairs: set = set()

    # A "]" in a code span ends a link's label early where "[label]: x" reads as a
    # link reference definition: write such links as HTML.
    link = None
    for token in tokens:
        if token[0] == "open" and token[1][0] == "link":
            link = token[2]
        elif token[0] == "close" and token[1][0] == "link":
            link = None
        elif token[0] == "raw" and link is not None and "]" in token[1]:
            html_pairs.add(link)

    def delimiter(token) -> str:
        kind, (name, attrs), pair = token
        if name == "link" and pair in html_pairs:
            target = f' target="{_e(attrs[1])}"' if attrs[1] else ""
            opening = f'<a href="{_e(attrs[0])}"{target} rel="{LINK_REL}">'
            return opening if kind == "open" else "</a>"
        if name == "link":
            if kind == "open":
                return "["
            return f"]({_md_destination(attrs[0], in_cell)})"
        if name in _MD_DELIMITERS and pair not in html_pairs:
            return _MD_DELIMITERS[name]
        tag = _MD_FALLBACK.get(name) or _MD_HTML_MARKS[name]
        return f"<{tag}>" if kind == "open" else f"</{tag}>"

    line_break = {"block": "\\\n", "heading": " ", "cell": "<br>"}[mode]

    def text_of(position: int) -> str:
        token = tokens[position]
        if token[0] in {"open", "close"}:
            return delimiter(token)
        return line_break if rendered[position] is None else rendered[position]

    # Emphasis delimiters that CommonMark would not read as opening/closing there
    # become HTML tags (both ends of the pair). Converting one only turns a "*" or "~"
    # next to another run into "<" or ">", also punctuation, so a second pass finds
    # nothing new; the loop is bounded all the same.
    for _pass in range(len(tokens) + 1):
        strings = [text_of(position) for position in range(len(tokens))]
        failing: set = set()
        position = 0
        while position < len(tokens):
            char = strings[position][:1] if tokens[position][0] in {"open", "close"} else ""
            if char not in {"*", "~"}:
                position += 1
                continue
            end = position
            while (
                end < len(tokens)
                and tokens[end][0] in {"open", "close"}
                and strings[end][:1] == char
            ):
                end += 1
            before = next((strings[i][-1] for i in range(position - 1, -1, -1) if strings[i]), " ")
            after = next((strings[i][0] for i in range(end, len(strings)) if strings[i]), " ")
            left, right = _flanking(before, after)
            kinds = {token[0] for token in tokens[position:end]}
            sound = (kinds == {"open"} and left and not right) or (
                kinds == {"close"} and right and not left
            )
            if not sound:
                failing.update(token[2] for token in tokens[position:end])
            position = end
        if not failing:
            break
        html_pairs |= failing

    # Nothing but a hard break in block mode writes a newline (text had them replaced).
    markdown = "".join(text_of(position) for position in range(len(tokens)))
    return markdown.split("\n") if markdown else []


def _md_heading(node: _Node) -> list[str]:
    level = _int(node.attrs.get("level"), 1, 1, 6)
    lines = _md_inline(node.children, "heading")
    text = lines[0] if lines else ""
    body = text.rstrip("#")
    if len(body) < len(text) and (len(body) - len(body.rstrip("\\"))) % 2 == 0:
        text = text[:-1] + "\\#"  # an unescaped closing sequence would be dropped
    return [f"{'#' * level} {text}" if text.strip() else "#" * level]


def _md_code_block(node: _Node) -> list[str]:
    code = _inline_text(node.children)
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    body = code.split("\n") if code else []
    return [fence + _language(node.attrs.get("language")), *body, fence]


def _md_item(marker: str, lines: list[str]) -> list[str]:
    if not lines:
        return [marker]
    indent = " " * (len(marker) + 1)
    first = lines[0]
    if first in {"---", "***"}:
        first = "___"  # "- ---" would be a thematic break, not an item holding one
    head = f"{marker} {first}" if first else marker
    return [head, *(indent + line if line else "" for line in lines[1:])]


def _md_list(node: _Node, alternate: bool) -> list[str]:
    lines: list[str] = []
    ordered = node.type in ORDERED_LISTS
    number = _int(node.attrs.get("start"), 1, 0, 999_999_999) if ordered else 0
    for child in node.children:
        if ordered:
            marker = f"{number}{')' if alternate else '.'}"
            number += 1
        else:
            marker = "*" if alternate else "-"
        if isinstance(child, _Node) and child.type in TASK_ITEMS:
            box = "[x]" if _truthy(child.attrs.get("checked")) else "[ ]"
            content = _md_blocks(child.children, tight=True)
            first = child.children[:1]
            if (
                first
                and (_is_inline(first[0]) or first[0].type == "paragraph")
                and (_md_blocks(first))
            ):
                content[0] = f"{box} {content[0]}"
            else:
                # The box starts a paragraph: what is not one goes on its own lines.
                content = [box, "", *content] if content else [box]
            lines.extend(_md_item(marker, content))
        elif isinstance(child, _Node) and child.type in LIST_ITEMS:
            lines.extend(_md_item(marker, _md_blocks(child.children, tight=True)))
        else:
            lines.extend(_md_item(marker, _md_blocks([child], tight=True)))
    return lines


def _md_cell_parts(node: _Node) -> list[str]:
    parts = []
    for group in _block_groups(node.children):
        if isinstance(group, list):
            parts.extend(_md_inline(group, "cell"))
        elif group.type in IMAGES:
            kind, value = _md_image(group, in_cell=True)
            parts.append(value if kind == "raw" else _md_escape(value))
        elif group.type in CODE_BLOCKS:
            code = _inline_text(group.children)
            if code:
                parts.append(_md_code_span(code, in_cell=True))
        elif _is_textblock(group):
            parts.extend(_md_inline(group.children, "cell"))
        else:
            parts.extend(_md_cell_parts(group))
    return [part for part in parts if part]


def _md_table(node: _Node) -> list[str]:
    grid: list[list[str]] = []
    for row in node.children:
        cells: list[str] = []
        for cell in row.children if isinstance(row, _Node) else [row]:
            if isinstance(cell, _Node):
                cells.append("<br>".join(_md_cell_parts(cell)) if cell.children else "")
                span = _int(cell.attrs.get("colspan"), 1, 1, 1000)
                cells.extend([""] * (span - 1))  # GFM has no spans: pad the row
            else:
                cells.append(_md_escape(cell.text))
        grid.append(cells)
    width = max((len(row) for row in grid), default=0)
    if not width:
        return []

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cells + [""] * (width - len(cells))) + " |"

    return [line(grid[0]), line(["---"] * width), *(line(row) for row in grid[1:])]


def _md_block(node: _Node, alternate: bool) -> list[str]:
    kind = node.type
    if kind == "heading":
        return _md_heading(node)
    if kind in CODE_BLOCKS:
        return _md_code_block(node)
    if kind == "blockquote":
        return ["> " + line if line else ">" for line in _md_blocks(node.children)] or [">"]
    if kind in BULLET_LISTS | ORDERED_LISTS | TASK_LISTS:
        return _md_list(node, alternate)
    if kind in {"horizontalRule", "horizontal_rule"}:
        return ["---"]
    if kind in IMAGES:
        image_kind, value = _md_image(node, in_cell=False)
        if image_kind == "raw":
            return [value]
        return [_md_line_start(_md_escape(value))] if value else []
    if kind == "table":
        return _md_table(node)
    if kind in INLINE_BREAKS:
        return []
    # Paragraphs, and unknown nodes holding text (_md_flatten unwrapped the others).
    return _md_inline(node.children, "block")


_BARE_MARKER = re.compile(r"[-*]|[0-9]+[.)]")


def _list_family(node) -> str | None:
    if not isinstance(node, _Node):
        return None
    if node.type in BULLET_LISTS | TASK_LISTS:
        return "bullet"
    return "ordered" if node.type in ORDERED_LISTS else None


_MD_BLOCKS = (
    {"heading", "blockquote", "horizontalRule", "horizontal_rule", "table"}
    | CODE_BLOCKS
    | IMAGES
    | BULLET_LISTS
    | ORDERED_LISTS
    | TASK_LISTS
)


def _md_flatten(children: list) -> list:
    """Children with containers Markdown has no syntax for (unknown node types, stray
    list items or cells) replaced by their content, so that adjacent lists are seen."""
    flat: list = []
    stack = [iter(children)]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
        elif isinstance(child, _Node) and not (
            child.type in _MD_BLOCKS or child.type in INLINE_BREAKS or _is_textblock(child)
        ):
            stack.append(iter(child.children))
        else:
            flat.append(child)
    return flat


def _md_blocks(children: list, tight: bool = False) -> list[str]:
    """Blocks separated by a blank line; in a list item, a list that may interrupt a
    paragraph follows it directly so the list stays tight."""
    lines: list[str] = []
    previous_family = None
    alternate = False
    for group in _block_groups(_md_flatten(children)):
        if isinstance(group, list):
            block = _md_inline(group, "block")
            family = None
        else:
            family = _list_family(group)
            # Two lists in a row with the same marker would merge into one.
            alternate = family is not None and family == previous_family and not alternate
            block = _md_block(group, alternate)
        if not block:
            continue
        if lines:
            # An empty item ("-" alone) cannot interrupt a paragraph: it would underline
            # it into a heading.
            interrupts = not _BARE_MARKER.fullmatch(block[0]) and (
                family == "bullet"
                or (family == "ordered" and _int(group.attrs.get("start"), 1, 0, 10**9) == 1)
            )
            if not (tight and interrupts and previous_family is None):
                lines.append("")
        lines.extend(block)
        previous_family = family
    return lines


def document_markdown(doc: Doc) -> str:
    """The document as CommonMark with GFM tables, task lists and strikethrough."""
    return "\n".join(_md_blocks(_tree(doc).children))
