"""A document's content as plain text or ProseMirror JSON, from the `default` XmlFragment."""

from pycrdt import Doc, XmlElement, XmlFragment, XmlText

TEXT_FIELD = "default"
# Elements whose text runs on within the line rather than starting a new one.
INLINE_BREAKS = {"hardBreak", "hard_break", "br"}


def _fragment(doc: Doc) -> XmlFragment:
    return doc.get(TEXT_FIELD, type=XmlFragment)


def _plain(text: XmlText) -> str:
    return "".join(chunk for chunk, _attrs in text.diff() if isinstance(chunk, str))


def document_text(doc: Doc) -> str:
    """One line per block (paragraph, heading, list item paragraph, code block...)."""
    lines: list[str] = []

    def walk(node) -> None:
        children = list(node.children)
        if any(isinstance(c, XmlText) for c in children):
            line = []
            for child in children:
                if isinstance(child, XmlText):
                    line.append(_plain(child))
                elif isinstance(child, XmlElement) and child.tag in INLINE_BREAKS:
                    line.append("\n")
            lines.append("".join(line))
            return
        if not children and isinstance(node, XmlElement):
            lines.append("")
            return
        for child in children:
            if isinstance(child, XmlElement):
                walk(child)

    for child in _fragment(doc).children:
        if isinstance(child, XmlElement):
            walk(child)
        elif isinstance(child, XmlText):
            lines.append(_plain(child))
    return "\n".join(lines)


def _marks(attrs: dict | None) -> list[dict]:
    marks = []
    for name, value in (attrs or {}).items():
        mark = {"type": name}
        if isinstance(value, dict) and value:
            mark["attrs"] = value
        marks.append(mark)
    return marks


def _node_json(node) -> dict | list:
    if isinstance(node, XmlText):
        out = []
        for chunk, attrs in node.diff():
            if not isinstance(chunk, str) or not chunk:
                continue
            item = {"type": "text", "text": chunk}
            marks = _marks(attrs)
            if marks:
                item["marks"] = marks
            out.append(item)
        return out
    item: dict = {"type": node.tag}
    # pycrdt reads numbers as floats; ProseMirror attributes like heading levels are ints.
    attrs = {
        key: int(value) if isinstance(value, float) and value.is_integer() else value
        for key, value in dict(node.attributes).items()
    }
    if attrs:
        item["attrs"] = attrs
    content = _children_json(node)
    if content:
        item["content"] = content
    return item


def _children_json(node) -> list[dict]:
    content = []
    for child in node.children:
        rendered = _node_json(child)
        if isinstance(rendered, list):
            content.extend(rendered)
        else:
            content.append(rendered)
    return content


def document_json(doc: Doc) -> dict:
    """The ProseMirror/Tiptap JSON of the document (what `editor.getJSON()` returns)."""
    return {"type": "doc", "content": _children_json(_fragment(doc))}
