"""collab.render: a Tiptap document (the `default` XmlFragment) as plain text and as JSON."""

import json

from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from collab.render import document_json, document_text


def fragment(doc: Doc) -> XmlFragment:
    return doc.get("default", type=XmlFragment)


def block(parent, tag: str, text: str | None = None, attrs: dict | None = None) -> XmlElement:
    element = parent.children.append(XmlElement(tag, attrs or {}))
    if text is not None:
        element.children.append(XmlText(text))
    return element


def sample_doc() -> Doc:
    """Heading, formatted paragraph, empty paragraph and a nested bullet list."""
    doc = Doc()
    root = fragment(doc)
    block(root, "heading", "Plan", {"level": "1"})
    paragraph = block(root, "paragraph")
    text = paragraph.children.append(XmlText())
    text.insert(0, "Ship ")
    text.insert(5, "today", {"bold": {}})
    text.insert(10, " please")
    block(root, "paragraph")
    items = block(root, "bulletList")
    first = block(items, "listItem")
    block(first, "paragraph", "one")
    inner = block(first, "bulletList")
    block(block(inner, "listItem"), "paragraph", "one.a")
    block(block(inner, "listItem"), "paragraph", "one.b")
    block(block(items, "listItem"), "paragraph", "two")
    block(root, "heading", "Notes", {"level": "2"})
    return doc


def test_empty_document():
    doc = Doc()
    assert document_text(doc) == ""
    assert document_json(doc) == {"type": "doc", "content": []}


def test_text_has_one_line_per_block_including_empty_paragraphs_and_nested_items():
    assert document_text(sample_doc()).split("\n") == [
        "Plan",
        "Ship today please",
        "",
        "one",
        "one.a",
        "one.b",
        "two",
        "Notes",
    ]


def test_json_is_prosemirror_shaped():
    assert document_json(sample_doc()) == {
        "type": "doc",
        "content": [
            {
                "type": "heading",
                "attrs": {"level": "1"},
                "content": [{"type": "text", "text": "Plan"}],
            },
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "Ship "},
                    {"type": "text", "text": "today", "marks": [{"type": "bold"}]},
                    {"type": "text", "text": " please"},
                ],
            },
            {"type": "paragraph"},
            {
                "type": "bulletList",
                "content": [
                    {
                        "type": "listItem",
                        "content": [
                            {"type": "paragraph", "content": [{"type": "text", "text": "one"}]},
                            {
                                "type": "bulletList",
                                "content": [
                                    {
                                        "type": "listItem",
                                        "content": [
                                            {
                                                "type": "paragraph",
                                                "content": [{"type": "text", "text": "one.a"}],
                                            }
                                        ],
                                    },
                                    {
                                        "type": "listItem",
                                        "content": [
                                            {
                                                "type": "paragraph",
                                                "content": [{"type": "text", "text": "one.b"}],
                                            }
                                        ],
                                    },
                                ],
                            },
                        ],
                    },
                    {
                        "type": "listItem",
                        "content": [
                            {"type": "paragraph", "content": [{"type": "text", "text": "two"}]}
                        ],
                    },
                ],
            },
            {
                "type": "heading",
                "attrs": {"level": "2"},
                "content": [{"type": "text", "text": "Notes"}],
            },
        ],
    }


def test_json_is_serialisable():
    assert json.loads(json.dumps(document_json(sample_doc()))) == document_json(sample_doc())


def test_numeric_heading_level_keeps_its_value():
    doc = Doc()
    block(fragment(doc), "heading", "Title", {"level": 3})

    (heading,) = document_json(doc)["content"]
    assert heading["attrs"]["level"] == 3
    assert document_text(doc) == "Title"


def test_marks_with_attributes_and_several_marks_on_one_run():
    doc = Doc()
    text = block(fragment(doc), "paragraph").children.append(XmlText())
    text.insert(0, "see ")
    text.insert(4, "docs", {"link": {"href": "https://example.com"}, "italic": {}})

    (paragraph,) = document_json(doc)["content"]
    plain, linked = paragraph["content"]
    assert plain == {"type": "text", "text": "see "}
    assert linked["text"] == "docs"
    assert sorted(linked["marks"], key=lambda m: m["type"]) == [
        {"type": "italic"},
        {"type": "link", "attrs": {"href": "https://example.com"}},
    ]
    assert document_text(doc) == "see docs"


def test_removing_a_mark_leaves_plain_text():
    doc = Doc()
    text = block(fragment(doc), "paragraph").children.append(XmlText())
    text.insert(0, "bold", {"bold": {}})
    text.format(0, 4, {"bold": None})

    (paragraph,) = document_json(doc)["content"]
    assert paragraph["content"] == [{"type": "text", "text": "bold"}]


def test_hard_break_stays_within_the_block():
    doc = Doc()
    paragraph = block(fragment(doc), "paragraph", "first")
    paragraph.children.append(XmlElement("hardBreak"))
    paragraph.children.append(XmlText("second"))
    block(fragment(doc), "paragraph", "next")

    assert document_text(doc) == "first\nsecond\nnext"
    (first, _next) = document_json(doc)["content"]
    assert first["content"] == [
        {"type": "text", "text": "first"},
        {"type": "hardBreak"},
        {"type": "text", "text": "second"},
    ]


def test_paragraph_whose_text_was_deleted_is_an_empty_line():
    doc = Doc()
    block(fragment(doc), "paragraph", "a")
    gone = block(fragment(doc), "paragraph", "temporary")
    block(fragment(doc), "paragraph", "b")
    text = gone.children[0]
    del text[0 : len("temporary")]

    assert document_text(doc) == "a\n\nb"
    assert document_json(doc)["content"][1] == {"type": "paragraph"}


def test_other_root_types_are_ignored():
    doc = Doc()
    block(fragment(doc), "paragraph", "kept")
    doc.get("board", type=XmlFragment).children.append(XmlElement("shape"))

    assert document_text(doc) == "kept"
    assert len(document_json(doc)["content"]) == 1
