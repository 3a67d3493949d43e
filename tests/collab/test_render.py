"""collab.render: a Tiptap document (the `default` XmlFragment) as text, JSON, HTML, Markdown."""

import json
import re
from html.parser import HTMLParser

import pytest
from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from collab.render import document_html, document_json, document_markdown, document_text


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


# HTML and Markdown: helpers


def doc_of(*builders) -> Doc:
    doc = Doc()
    for build in builders:
        build(fragment(doc))
    return doc


def runs(parent, tag: str, parts: list, attrs: dict | None = None) -> XmlElement:
    """A textblock whose text is several runs: [(text, marks-or-None), ...]."""
    element = parent.children.append(XmlElement(tag, attrs or {}))
    text = element.children.append(XmlText())
    offset = 0
    for chunk, marks in parts:
        text.insert(offset, chunk, marks)
        offset += len(chunk)
    return element


def paragraph_doc(parts: list) -> Doc:
    return doc_of(lambda root: runs(root, "paragraph", parts))


def rendered(doc: Doc) -> tuple[str, str]:
    return document_html(doc), document_markdown(doc)


REL = 'rel="noopener noreferrer nofollow"'


# Blocks


def test_empty_document_html_and_markdown():
    assert rendered(Doc()) == ("", "")


def test_sample_document_as_html_and_markdown():
    html, markdown = rendered(sample_doc())
    assert html == (
        "<h1>Plan</h1><p>Ship <strong>today</strong> please</p><p></p>"
        "<ul><li><p>one</p><ul><li><p>one.a</p></li><li><p>one.b</p></li></ul></li>"
        "<li><p>two</p></li></ul><h2>Notes</h2>"
    )
    # The empty paragraph has no Markdown; blocks are separated by one blank line.
    assert markdown == (
        "# Plan\n\nShip **today** please\n\n- one\n  - one.a\n  - one.b\n- two\n\n## Notes"
    )


@pytest.mark.parametrize(
    ("level", "tag", "hashes"),
    [
        (1.0, "h1", "#"),
        (2, "h2", "##"),
        ("3", "h3", "###"),
        (6.0, "h6", "######"),
        (9.0, "h6", "######"),
        (0, "h1", "#"),
        ("x", "h1", "#"),
        (None, "h1", "#"),
    ],
)
def test_heading_levels(level, tag, hashes):
    attrs = {} if level is None else {"level": level}
    doc = doc_of(lambda root: block(root, "heading", "Title", attrs))
    assert rendered(doc) == (f"<{tag}>Title</{tag}>", f"{hashes} Title")


def test_heading_text_that_markdown_would_eat():
    doc = doc_of(
        lambda root: block(root, "heading", "C#", {"level": 1.0}),
        lambda root: block(root, "heading", "# x ##", {"level": 2.0}),
        lambda root: block(root, "heading", "", {"level": 3.0}),
    )
    assert document_markdown(doc) == "# C\\#\n\n## \\# x #\\#\n\n###"


def test_bullet_list_nested_three_deep():
    def build(root):
        items = block(root, "bulletList")
        first = block(items, "listItem")
        block(first, "paragraph", "a")
        inner = block(block(first, "bulletList"), "listItem")
        block(inner, "paragraph", "b")
        block(block(block(inner, "bulletList"), "listItem"), "paragraph", "c")
        block(block(items, "listItem"), "paragraph", "d")

    html, markdown = rendered(doc_of(build))
    assert html == (
        "<ul><li><p>a</p><ul><li><p>b</p><ul><li><p>c</p></li></ul></li></ul></li>"
        "<li><p>d</p></li></ul>"
    )
    assert markdown == "- a\n  - b\n    - c\n- d"


def test_ordered_list_start_and_marker_widths():
    def build(root):
        items = block(root, "orderedList", attrs={"start": 9.0})
        block(block(items, "listItem"), "paragraph", "nine")
        ten = block(items, "listItem")
        block(ten, "paragraph", "ten")
        block(block(block(ten, "bulletList"), "listItem"), "paragraph", "sub")

    html, markdown = rendered(doc_of(build))
    assert html == (
        '<ol start="9"><li><p>nine</p></li><li><p>ten</p><ul><li><p>sub</p></li></ul></li></ol>'
    )
    # Continuation lines are indented to the item's own content column.
    assert markdown == "9. nine\n10. ten\n    - sub"


def test_ordered_list_starting_at_one_has_no_start_attribute():
    def build(root):
        items = block(root, "orderedList", attrs={"start": 1.0})
        block(block(items, "listItem"), "paragraph", "a")
        block(block(items, "listItem"), "paragraph", "b")

    assert rendered(doc_of(build)) == ("<ol><li><p>a</p></li><li><p>b</p></li></ol>", "1. a\n2. b")


def test_nested_ordered_list_not_starting_at_one_gets_a_blank_line():
    # "3." cannot interrupt a paragraph: without the blank line it would be its text.
    def build(root):
        item = block(block(root, "bulletList"), "listItem")
        block(item, "paragraph", "one")
        block(block(block(item, "orderedList", attrs={"start": 3}), "listItem"), "paragraph", "x")

    assert document_markdown(doc_of(build)) == "- one\n\n  3. x"


def test_task_list():
    def build(root):
        tasks = block(root, "taskList")
        block(block(tasks, "taskItem", attrs={"checked": False}), "paragraph", "todo")
        done = block(tasks, "taskItem", attrs={"checked": True})
        block(done, "paragraph", "done")
        sub = block(block(done, "taskList"), "taskItem", attrs={"checked": "true"})
        block(sub, "paragraph", "sub")

    html, markdown = rendered(doc_of(build))
    unchecked = '<label><input type="checkbox" disabled></label>'
    checked = '<label><input type="checkbox" disabled checked></label>'
    assert html == (
        '<ul data-type="taskList">'
        f'<li data-type="taskItem" data-checked="false">{unchecked}<div><p>todo</p></div></li>'
        f'<li data-type="taskItem" data-checked="true">{checked}<div><p>done</p>'
        '<ul data-type="taskList">'
        f'<li data-type="taskItem" data-checked="true">{checked}<div><p>sub</p></div></li>'
        "</ul></div></li></ul>"
    )
    assert markdown == "- [ ] todo\n- [x] done\n  - [x] sub"
    assert document_text(doc_of(build)) == "[ ] todo\n[x] done\n[x] sub"


def test_adjacent_lists_alternate_markers_so_they_stay_apart():
    def build(root):
        block(block(block(root, "bulletList"), "listItem"), "paragraph", "a")
        block(block(block(root, "taskList"), "taskItem"), "paragraph", "b")
        block(block(block(root, "orderedList"), "listItem"), "paragraph", "c")
        block(block(block(root, "orderedList"), "listItem"), "paragraph", "d")

    assert document_markdown(doc_of(build)) == "- a\n\n* [ ] b\n\n1. c\n\n1) d"


def test_empty_list_item():
    def build(root):
        items = block(root, "bulletList")
        block(block(items, "listItem"), "paragraph", "a")
        block(block(items, "listItem"), "paragraph")
        block(block(items, "listItem"), "paragraph", "b")

    html, markdown = rendered(doc_of(build))
    assert html == "<ul><li><p>a</p></li><li><p></p></li><li><p>b</p></li></ul>"
    assert markdown == "- a\n-\n- b"


def test_blockquotes_nested_and_holding_a_list():
    def build(root):
        quote = block(root, "blockquote")
        block(quote, "paragraph", "quoted")
        block(block(quote, "blockquote"), "paragraph", "deeper")
        items = block(quote, "bulletList")
        block(block(items, "listItem"), "paragraph", "a")

    html, markdown = rendered(doc_of(build))
    assert html == (
        "<blockquote><p>quoted</p><blockquote><p>deeper</p></blockquote>"
        "<ul><li><p>a</p></li></ul></blockquote>"
    )
    assert markdown == "> quoted\n>\n> > deeper\n>\n> - a"


def test_code_block_with_language():
    doc = doc_of(
        lambda root: block(root, "codeBlock", "if a < b:\n    print('*x*')", {"language": "python"})
    )
    html, markdown = rendered(doc)
    assert html == (
        '<pre><code class="language-python">if a &lt; b:\n    print(&#x27;*x*&#x27;)</code></pre>'
    )
    assert markdown == "```python\nif a < b:\n    print('*x*')\n```"
    assert document_text(doc) == "if a < b:\n    print('*x*')"


def test_code_block_containing_fences_gets_a_longer_fence():
    doc = doc_of(lambda root: block(root, "codeBlock", "```\n````"))
    assert document_markdown(doc) == "`````\n```\n````\n`````"
    assert document_html(doc) == "<pre><code>```\n````</code></pre>"


def test_code_block_language_is_sanitised_and_marks_ignored():
    def build(root):
        runs(root, "codeBlock", [("x", {"bold": {}})], {"language": '"><script>js'})
        block(root, "codeBlock")

    html, markdown = rendered(doc_of(build))
    assert html == '<pre><code class="language-scriptjs">x</code></pre><pre><code></code></pre>'
    assert markdown == "```scriptjs\nx\n```\n\n```\n```"


def test_horizontal_rule():
    def build(root):
        block(root, "paragraph", "above")
        block(root, "horizontalRule")
        block(root, "paragraph", "below")

    assert rendered(doc_of(build)) == ("<p>above</p><hr><p>below</p>", "above\n\n---\n\nbelow")


def test_horizontal_rule_first_in_a_list_item_is_not_read_as_a_rule_of_the_list():
    doc = doc_of(
        lambda root: block(block(root, "bulletList"), "listItem").children.append(
            XmlElement("horizontalRule")
        )
    )
    assert document_markdown(doc) == "- ___"


def test_hard_breaks():
    def build(root):
        paragraph = block(root, "paragraph", "first")
        paragraph.children.append(XmlElement("hardBreak"))
        paragraph.children.append(XmlText("second"))
        paragraph.children.append(XmlElement("hardBreak"))  # trailing: nothing to break
        heading = block(root, "heading", "a", {"level": 1})
        heading.children.append(XmlElement("hardBreak"))
        heading.children.append(XmlText("b"))

    html, markdown = rendered(doc_of(build))
    assert html == "<p>first<br>second<br></p><h1>a<br>b</h1>"
    assert markdown == "first\\\nsecond\n\n# a b"


def test_text_after_a_hard_break_is_escaped_as_a_line_start():
    def build(root):
        paragraph = block(root, "paragraph", "title")
        paragraph.children.append(XmlElement("hardBreak"))
        paragraph.children.append(XmlText("==="))

    # Unescaped, "===" would turn "title" into a setext heading.
    assert document_markdown(doc_of(build)) == "title\\\n\\==="


def test_table():
    def build(root):
        table = block(root, "table")
        head = block(table, "tableRow")
        block(block(head, "tableHeader", attrs={"colwidth": [120.0]}), "paragraph", "Name")
        block(block(head, "tableHeader", attrs={"colspan": 2.0}), "paragraph", "a|b")
        row = block(table, "tableRow")
        block(block(row, "tableCell", attrs={"rowspan": 2}), "paragraph", "Ann")
        cell = block(row, "tableCell", attrs={"colspan": 1, "rowspan": 1})
        runs(cell, "paragraph", [("x", {"bold": {}}), (" and ", None), ("a|b", {"code": {}})])
        block(cell, "paragraph", "second")
        block(row, "tableCell")

    doc = doc_of(build)
    html, markdown = rendered(doc)
    assert html == (
        '<table><tbody><tr><th colwidth="120"><p>Name</p></th><th colspan="2"><p>a|b</p></th></tr>'
        '<tr><td rowspan="2"><p>Ann</p></td><td><p><strong>x</strong> and <code>a|b</code></p>'
        "<p>second</p></td><td></td></tr></tbody></table>"
    )
    # GFM: the first row is the header; spans are padded; "|" escaped, even in code.
    assert markdown == (
        "| Name | a\\|b |  |\n| --- | --- | --- |\n| Ann | **x** and `a\\|b`<br>second |  |"
    )
    assert document_text(doc) == "Name\ta|b\nAnn\tx and a|b second\t"


def test_images():
    def build(root):
        block(
            root, "image", attrs={"src": "/media/a b.png", "alt": "A [chart]", "title": 'say "hi"'}
        )
        block(root, "image", attrs={"src": "https://cdn.example.com/x.png"})

    html, markdown = rendered(doc_of(build))
    assert html == (
        '<img src="/media/a b.png" alt="A [chart]" title="say &quot;hi&quot;">'
        '<img src="https://cdn.example.com/x.png">'
    )
    assert markdown == (
        '![A \\[chart\\]](/media/a%20b.png "say \\"hi\\"")\n\n![](https://cdn.example.com/x.png)'
    )


@pytest.mark.parametrize(
    "src",
    [
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "java\tscript:alert(1)",
        "data:image/svg+xml,<svg onload=alert(1)>",
        "//evil.example/x.png",
        "/\\evil.example/x.png",
        "relative.png",
        "ftp://example.com/x.png",
        "",
        42,
    ],
)
def test_images_with_other_sources_keep_only_their_alt_text(src):
    doc = doc_of(lambda root: block(root, "image", attrs={"src": src, "alt": "<chart>"}))
    assert rendered(doc) == ("&lt;chart&gt;", "\\<chart>")


def test_inline_image_in_a_paragraph():
    def build(root):
        paragraph = block(root, "paragraph", "see ")
        paragraph.children.append(XmlElement("image", {"src": "/i.png", "alt": "i"}))

    assert rendered(doc_of(build)) == ('<p>see <img src="/i.png" alt="i"></p>', "see ![i](/i.png)")


# Marks


@pytest.mark.parametrize(
    ("marks", "html", "markdown"),
    [
        ({"bold": {}}, "<strong>x</strong>", "**x**"),
        ({"bold": True}, "<strong>x</strong>", "**x**"),
        ({"italic": {}}, "<em>x</em>", "*x*"),
        ({"strike": {}}, "<s>x</s>", "~~x~~"),
        ({"code": {}}, "<code>x</code>", "`x`"),
        ({"underline": {}}, "<u>x</u>", "<u>x</u>"),
        ({"highlight": {}}, "<mark>x</mark>", "<mark>x</mark>"),
        (
            {"highlight": {"color": "#ffcc00"}},
            '<mark data-color="#ffcc00" style="background-color: #ffcc00">x</mark>',
            "<mark>x</mark>",
        ),
        ({"highlight": {"color": "red;x:url(y)"}}, "<mark>x</mark>", "<mark>x</mark>"),
        ({"subscript": {}}, "<sub>x</sub>", "<sub>x</sub>"),
        ({"superscript": {}}, "<sup>x</sup>", "<sup>x</sup>"),
        ({"textStyle": {"color": "#00ff00"}}, '<span style="color: #00ff00">x</span>', "x"),
        ({"textStyle": {"color": None, "fontFamily": "x"}}, "x", "x"),
        (
            {"link": {"href": "https://example.com/"}},
            f'<a href="https://example.com/" {REL}>x</a>',
            "[x](https://example.com/)",
        ),
        ({"link--Ab12+/=x": {"href": "/a"}}, f'<a href="/a" {REL}>x</a>', "[x](/a)"),
        ({"comment--abcdefgh": {"id": 1}}, "x", "x"),
        ({"onclick": {"x": "alert(1)"}}, "x", "x"),
    ],
)
def test_each_mark(marks, html, markdown):
    assert rendered(paragraph_doc([("x", marks)])) == (f"<p>{html}</p>", markdown)


def test_overlapping_marks_nest_and_reopen():
    doc = paragraph_doc(
        [("bold ", {"bold": {}}), ("both", {"bold": {}, "italic": {}}), (" italic", {"italic": {}})]
    )
    html, markdown = rendered(doc)
    assert html == "<p><strong>bold <em>both</em></strong><em> italic</em></p>"
    # Whitespace never sits just inside a delimiter, where it would stop it working.
    assert markdown == "**bold *both*** *italic*"


def test_mark_that_lasts_longer_is_opened_outside():
    doc = paragraph_doc([("a", {"bold": {}, "italic": {}}), (" b", {"italic": {}})])
    assert rendered(doc) == ("<p><em><strong>a</strong> b</em></p>", "***a** b*")

    doc = paragraph_doc([("a", {"bold": {}, "italic": {}}), ("b", {"italic": {}})])
    # In Markdown "**" between two letters could open as well as close: written as HTML.
    assert rendered(doc) == ("<p><em><strong>a</strong>b</em></p>", "*<strong>a</strong>b*")


def test_trailing_space_moves_out_of_the_delimiters():
    assert document_markdown(paragraph_doc([("bold ", {"bold": {}}), ("x", None)])) == "**bold** x"
    assert document_markdown(paragraph_doc([("x", None), (" it", {"italic": {}})])) == "x *it*"


def test_emphasis_that_markdown_cannot_express_falls_back_to_inline_html():
    # "un**believ**able" would be fine, but "**Note:**x" is not emphasis in CommonMark.
    doc = paragraph_doc([("Note:", {"bold": {}}), ("x", None)])
    assert document_markdown(doc) == "<strong>Note:</strong>x"
    assert document_markdown(paragraph_doc([("(", None), ("a", {"strike": {}})])) == "(~~a~~"
    assert document_markdown(paragraph_doc([("a", None), ("(b)", {"italic": {}})])) == (
        "a<em>(b)</em>"
    )


@pytest.mark.parametrize(
    ("code", "markdown"),
    [
        ("a`b", "``a`b``"),
        ("`start", "`` `start ``"),
        ("end`", "`` end` ``"),
        ("a``b`c", "```a``b`c```"),
        (" padded ", "`  padded  `"),
        ("*not* [a](link)", "`*not* [a](link)`"),
    ],
)
def test_inline_code_fencing(code, markdown):
    assert document_markdown(paragraph_doc([(code, {"code": {}})])) == markdown


def test_code_inside_other_marks():
    doc = paragraph_doc([("see ", None), ("x", {"code": {}, "bold": {}}), (" now", None)])
    assert document_markdown(doc) == "see **`x`** now"

    doc = paragraph_doc([("x", {"code": {}, "bold": {}, "link": {"href": "/x"}})])
    assert rendered(doc) == (
        f'<p><a href="/x" {REL}><strong><code>x</code></strong></a></p>',
        # "**" between "[" and "`" (both punctuation) could also close: HTML is unambiguous.
        "[<strong>`x`</strong>](/x)",
    )


def test_link_attributes_are_whitelisted():
    marks = {
        "link": {
            "href": "https://e.com/?a=1&b=2",
            "target": "_blank",
            "rel": "opener",
            "class": "x",
        }
    }
    html, markdown = rendered(paragraph_doc([("x", marks)]))
    assert html == f'<p><a href="https://e.com/?a=1&amp;b=2" target="_blank" {REL}>x</a></p>'
    assert markdown == "[x](https://e.com/?a=1&b=2)"
    other_target = {"link": {"href": "/a", "target": "_parent"}}
    assert document_html(paragraph_doc([("x", other_target)])) == f'<p><a href="/a" {REL}>x</a></p>'


@pytest.mark.parametrize(
    "href",
    [
        "https://example.com/a",
        "http://example.com",
        "mailto:ann@example.com",
        "/docs/1",
        "#top",
        "?q=1",
        "page.html",
        "//example.com/x",
        "HTTPS://EXAMPLE.COM",
    ],
)
def test_allowed_link_targets(href):
    html, markdown = rendered(paragraph_doc([("x", {"link": {"href": href}})]))
    assert html == f'<p><a href="{href}" {REL}>x</a></p>'
    assert markdown == f"[x]({href})"


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\nscript:alert(1)",
        "\x01javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "",
        None,
        7,
        {"x": 1},
    ],
)
def test_other_link_targets_drop_the_link_and_keep_the_text(href):
    assert rendered(paragraph_doc([("click", {"link": {"href": href}})])) == (
        "<p>click</p>",
        "click",
    )


def test_link_destination_is_escaped_in_markdown():
    doc = paragraph_doc([("x", {"link": {"href": "/a b(c)<d>"}})])
    assert document_markdown(doc) == "[x](/a%20b\\(c\\)\\<d\\>)"


def test_bang_before_a_link_does_not_make_an_image():
    assert document_markdown(paragraph_doc([("Wow!", None), ("x", {"link": {"href": "/x"}})])) == (
        "Wow\\![x](/x)"
    )


# Markdown escaping


@pytest.mark.parametrize(
    ("text", "markdown"),
    [
        ("# not a heading", "\\# not a heading"),
        ("> not a quote", "\\> not a quote"),
        ("- not a list", "\\- not a list"),
        ("+ not a list", "\\+ not a list"),
        ("1. not a list", "1\\. not a list"),
        ("2) not a list", "2\\) not a list"),
        ("1.5 million", "1.5 million"),
        ("---", "\\---"),
        ("*stars* and _under_", "\\*stars\\* and \\_under\\_"),
        ("[not](a link)", "\\[not\\](a link)"),
        ("![not](an image)", "!\\[not\\](an image)"),
        ("`not code`", "\\`not code\\`"),
        ("<b>not html</b>", "\\<b>not html\\</b>"),
        ("~~not struck~~", "\\~\\~not struck\\~\\~"),
        ("a | b", "a \\| b"),
        ("back\\slash", "back\\\\slash"),
        ("AT&T &amp; co", "AT&T \\&amp; co"),
        ("    not code", "&#32;&#32;&#32;&#32;not code"),
        ("mid # and > and - are fine", "mid # and > and - are fine"),
    ],
)
def test_markdown_special_characters_in_text_are_escaped(text, markdown):
    assert document_markdown(doc_of(lambda root: block(root, "paragraph", text))) == markdown


def test_escaping_applies_inside_list_items_and_quotes():
    def build(root):
        block(block(block(root, "bulletList"), "listItem"), "paragraph", "# x")
        block(block(root, "blockquote"), "paragraph", "1. y")

    assert document_markdown(doc_of(build)) == "- \\# x\n\n> 1\\. y"


# Unknown and hostile content


def test_unknown_nodes_render_their_content_in_a_neutral_container():
    def build(root):
        block(root, "callout", "note", {"kind": "info"})
        wrapper = block(root, "columns", attrs={"onclick": "x"})
        block(wrapper, "paragraph", "inside")
        paragraph = block(root, "paragraph", "a ")
        mention = paragraph.children.append(XmlElement("mention", {"id": "u1"}))
        mention.children.append(XmlText("@ann"))

    html, markdown = rendered(doc_of(build))
    assert html == "<div>note</div><div><p>inside</p></div><p>a <span>@ann</span></p>"
    assert markdown == "note\n\ninside\n\na @ann"
    assert document_text(doc_of(build)) == "note\ninside\na @ann"


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


ALLOWED_TAGS = {
    "p": set(),
    "h1": set(),
    "h2": set(),
    "h3": set(),
    "h4": set(),
    "h5": set(),
    "h6": set(),
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
SCRIPT = '"><script>alert(1)</script>'


def hostile_doc() -> Doc:
    def build(root):
        script = root.children.append(XmlElement("script", {"src": "https://evil.example/x.js"}))
        script.children.append(XmlText("alert(document.cookie)"))
        iframe = root.children.append(XmlElement("iframe", {"srcdoc": "<script>alert(1)</script>"}))
        block(iframe, "paragraph", "framed")
        root.children.append(XmlElement('img src=x onerror="alert(1)"', {"x": "y"}))
        block(root, "paragraph", SCRIPT, {"onclick": "alert(1)", "style": "x:expression(1)"})
        block(root, "heading", "h", {"level": SCRIPT, "onmouseover": "alert(1)"})
        block(root, "image", attrs={"src": "x", "onerror": "alert(1)", "alt": SCRIPT})
        block(root, "image", attrs={"src": f"/ok.png{SCRIPT}", "alt": SCRIPT, "title": SCRIPT})
        block(root, "codeBlock", "</code></pre><script>x</script>", {"language": SCRIPT})
        block(root, "orderedList", attrs={"start": SCRIPT})
        block(block(root, "taskList"), "taskItem", SCRIPT, {"checked": SCRIPT})
        cell = block(
            block(block(root, "table"), "tableRow"),
            "tableCell",
            attrs={"colspan": SCRIPT, "colwidth": [SCRIPT], "onclick": "x"},
        )
        block(cell, "paragraph", "cell")
        runs(
            root,
            "paragraph",
            [
                ("js", {"link": {"href": "javascript:alert(1)", "onclick": "alert(1)"}}),
                ("data", {"link": {"href": "data:text/html;base64,PHNjcmlwdD4="}}),
                (
                    "quote",
                    {
                        "link": {
                            "href": f"https://ok.example/{SCRIPT}",
                            "target": SCRIPT,
                            "rel": SCRIPT,
                            "class": SCRIPT,
                        }
                    },
                ),
                ("mark", {"script": {"src": "x"}, "onerror": {}, "highlight": {"color": SCRIPT}}),
                ("style", {"textStyle": {"color": "red;background:url(javascript:alert(1))"}}),
                (SCRIPT, {"bold": {}, 'img src=x onerror="alert(1)"': {}}),
            ],
        )

    return doc_of(build)


def test_hostile_content_renders_no_executable_markup():
    html = document_html(hostile_doc())
    parser = _Tags()
    parser.feed(html)
    parser.close()

    assert parser.tags
    for tag, attrs in parser.tags:
        assert tag in ALLOWED_TAGS, (tag, html)
        assert set(attrs) <= ALLOWED_TAGS[tag], (tag, attrs)
        assert not any(name.startswith("on") for name in attrs)
        if "href" in attrs:
            assert attrs["href"].startswith(("https://", "http://", "mailto:", "/", "#")), attrs
            assert attrs["rel"] == "noopener noreferrer nofollow"
        if "src" in attrs:
            assert attrs["src"].startswith(("https://", "http://", "/")), attrs
            assert not attrs["src"].startswith("//")
        if "style" in attrs:
            assert re.fullmatch(r"(background-)?color: #[0-9a-fA-F]{3,8}", attrs["style"]), attrs
        if "target" in attrs:
            assert attrs["target"] == "_blank"
    assert "script" not in {tag for tag, _ in parser.tags}
    assert "<script" not in html and "<iframe" not in html
    # The hostile strings are still there, as text.
    text = "".join(parser.text)
    assert SCRIPT in text and "alert(document.cookie)" in text and "framed" in text
    assert "js" in text and "data" in text
    # Attribute values that were kept are the escaped originals, never markup.
    assert (
        f'<a href="https://ok.example/&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" {REL}>'
        in html
    )


def test_hostile_content_in_markdown_is_inert_text():
    markdown = document_markdown(hostile_doc())
    # Code is verbatim inside its fence (which Markdown never reads as markup)...
    fenced = "```scriptalert1script\n</code></pre><script>x</script>\n```"
    assert fenced in markdown
    markdown = markdown.replace(fenced, "")
    # ...and everywhere else "<" is escaped, so no renderer sees a tag.
    assert not re.search(r"(?<!\\)<(script|iframe|img)", markdown), markdown
    assert "javascript:" not in markdown and "data:text" not in markdown
    assert "\\<script>alert(1)\\</script>" in markdown


def test_deep_nesting_renders_without_recursion_errors():
    doc = Doc()
    node = fragment(doc)
    for depth in range(1000):
        node = node.children.append(XmlElement(("blockquote", "bulletList", "listItem")[depth % 3]))
    block(node, "paragraph", "bottom")

    assert document_text(doc).strip() == "bottom"
    assert "bottom" in document_html(doc)
    assert document_markdown(doc).endswith("bottom")
    assert "bottom" in json.dumps(document_json(doc))


def test_text_lines_for_the_other_nodes():
    def build(root):
        block(root, "codeBlock", "a\nb")
        block(root, "horizontalRule")
        block(root, "image", attrs={"src": "/x.png", "alt": "chart"})
        table = block(root, "table")
        for cells in (("h1", "h2"), ("c1", "c2")):
            row = block(table, "tableRow")
            for value in cells:
                block(block(row, "tableCell"), "paragraph", value)

    assert document_text(doc_of(build)) == "a\nb\n\nchart\nh1\th2\nc1\tc2"


# The content API


@pytest.fixture
def rich_document(ann, bob):
    from django.utils import timezone

    from collab import services, store

    document = services.document_create(owner=ann, title="Rich")
    client_doc = Doc()
    root = fragment(client_doc)
    updates = []

    def edit(change) -> None:
        before = client_doc.get_state()
        change()
        updates.append(client_doc.get_update(before))

    edit(lambda: block(root, "heading", "Plan", {"level": 1.0}))
    edit(lambda: runs(root, "paragraph", [("Ship ", None), ("today", {"bold": {}})]))
    edit(lambda: runs(root, "paragraph", [("bad", {"link": {"href": "javascript:alert(1)"}})]))
    edit(
        lambda: block(
            block(block(root, "taskList"), "taskItem", attrs={"checked": True}), "paragraph", "done"
        )
    )
    store.updates_append(
        document_id=document.pk,
        updates=[store.PendingUpdate(update, bob.pk, timezone.now()) for update in updates],
    )
    return document


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("text", "Plan\nShip today\nbad\n[x] done"),
        ("markdown", "# Plan\n\nShip **today**\n\nbad\n\n- [x] done"),
        (
            "html",
            "<h1>Plan</h1><p>Ship <strong>today</strong></p><p>bad</p>"
            '<ul data-type="taskList"><li data-type="taskItem" data-checked="true">'
            '<label><input type="checkbox" disabled checked></label><div><p>done</p></div>'
            "</li></ul>",
        ),
    ],
)
def test_content_api_renders_the_stored_updates(client, ann, rich_document, fmt, expected):
    client.force_login(ann)
    response = client.get(f"/api/documents/{rich_document.pk}/content", {"format": fmt})

    assert response.status_code == 200
    assert response.json() == {
        "id": str(rich_document.pk),
        "format": fmt,
        "seq": 4,
        "content": expected,
    }


@pytest.mark.django_db
def test_content_api_json_still_works_and_unknown_formats_are_400(client, ann, rich_document):
    client.force_login(ann)
    url = f"/api/documents/{rich_document.pk}/content"
    body = client.get(url, {"format": "json"}).json()
    assert body["content"]["content"][0] == {
        "type": "heading",
        "attrs": {"level": 1},
        "content": [{"type": "text", "text": "Plan"}],
    }
    response = client.get(url, {"format": "pdf"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"


@pytest.mark.django_db
def test_content_api_is_404_for_non_members(client, make_user, rich_document):
    client.force_login(make_user("sam@example.com"))
    response = client.get(f"/api/documents/{rich_document.pk}/content", {"format": "html"})
    assert response.status_code == 404
    assert b"Plan" not in response.content
