"""Import: Markdown and HTML into text documents, a board's JSON export into a board."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pycrdt import Doc

from collab import importers, render, store, whiteboard
from collab.models import Document, DocumentKind, DocumentUpdate


def imported_html(content: str, fmt: str) -> str:
    doc = Doc()
    doc.apply_update(importers.text_document_update(content=content, fmt=fmt))
    return render.document_html(doc)


MARKDOWN = """# Plan

Ship **today** please, see [docs](https://example.com) and `code`.

- one
- two
  1. nested

> quoted

```python
print(1)
```

---

line\\
break ~~gone~~
"""


def test_markdown_becomes_editor_nodes_and_marks():
    assert imported_html(MARKDOWN, "markdown") == (
        "<h1>Plan</h1>"
        '<p>Ship <strong>today</strong> please, see <a href="https://example.com" '
        'rel="noopener noreferrer nofollow">docs</a> and <code>code</code>.</p>'
        "<ul><li><p>one</p></li><li><p>two</p><ol><li><p>nested</p></li></ol></li></ul>"
        "<blockquote><p>quoted</p></blockquote>"
        '<pre><code class="language-python">print(1)</code></pre>'
        "<hr><p>line<br>break <s>gone</s></p>"
    )


def test_markdown_round_trips_through_export():
    doc = Doc()
    doc.apply_update(importers.text_document_update(content=MARKDOWN, fmt="markdown"))
    exported = render.document_markdown(doc)
    again = Doc()
    again.apply_update(importers.text_document_update(content=exported, fmt="markdown"))
    assert render.document_html(again) == render.document_html(doc)


def test_html_keeps_only_what_the_editor_knows_and_nothing_that_runs():
    html = (
        "<div>hello <b>big</b> <script>alert(1)</script>world"
        "<img src='javascript:alert(1)' onerror='x()'><a href='javascript:1'>link</a></div>"
        "<table><tr><td>cell one</td><td>cell two</td></tr></table>"
        "<style>p{}</style><p onclick='x()'>para <em>it</em><u>under</u></p>"
        "<img src='https://example.com/a.png' alt='pic'>"
    )
    assert imported_html(html, "html") == (
        "<p>hello <strong>big</strong> worldlink</p><p>cell one</p><p>cell two</p>"
        "<p>para <em>it</em><u>under</u></p>"
        '<img src="https://example.com/a.png" alt="pic">'
    )


def test_empty_and_deeply_nested_html_import_safely():
    assert imported_html("", "html") == "<p></p>"
    deep = "<blockquote>" * 5000 + "deep" + "</blockquote>" * 5000
    html = imported_html(deep, "html")
    assert "deep" in html
    assert html.count("<blockquote>") <= importers.MAX_DEPTH


def test_board_export_imports_into_an_equal_board():
    from pycrdt import Array, Map, Text

    source = Doc()
    shapes = source.get("shapes", type=Map)
    shapes["r1"] = Map({"type": "rect", "x": 10, "y": 20, "w": 100, "h": 50, "index": "a0"})
    shapes["s1"] = Map({"type": "sticky", "x": 5, "y": 5, "w": 80, "h": 80, "index": "a1"})
    shapes["s1"]["text"] = Text("Idea")
    shapes["f1"] = Map({"type": "freehand", "x": 0, "y": 0, "index": "a2"})
    shapes["f1"]["points"] = Array([0, 0, 0.5, 10, 10, 0.7, 20, 5, 0.4])
    exported = whiteboard.board_json(source)

    copy = Doc()
    copy.apply_update(importers.board_document_update(data=json.loads(json.dumps(exported))))
    assert whiteboard.board_json(copy) == exported


def test_board_import_refuses_what_is_not_a_board_export():
    for bad in ([], {"shapes": "x"}, {"nope": []}):
        with pytest.raises(importers.ImportRefused):
            importers.board_document_update(data=bad)
    with pytest.raises(importers.ImportRefused):
        importers.board_document_update(data={"shapes": [{"type": "hexagon"}]})


def test_api_imports_markdown_as_a_text_document_authored_by_the_importer(client, ann):
    client.force_login(ann)
    response = client.post(
        "/api/documents/import/",
        {"title": "Notes", "format": "markdown", "content": "# Hi\n\nthere"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    document = Document.objects.get(pk=response.json()["id"])
    assert (document.title, document.kind, document.owner) == ("Notes", "text", ann)
    assert DocumentUpdate.objects.get(document=document).author == ann
    doc, _seq = store.doc_load(document_id=document.pk)
    assert render.document_html(doc) == "<h1>Hi</h1><p>there</p>"


def test_api_imports_an_uploaded_board_file(client, ann):
    client.force_login(ann)
    upload = SimpleUploadedFile(
        "Team board.json",
        json.dumps(
            {"shapes": [{"id": "a", "type": "ellipse", "x": 1, "y": 2, "w": 3, "h": 4}]}
        ).encode(),
        content_type="application/json",
    )
    response = client.post("/api/documents/import/", {"file": upload})
    assert response.status_code == 201, response.content
    document = Document.objects.get(pk=response.json()["id"])
    assert (document.title, document.kind) == ("Team board", DocumentKind.WHITEBOARD)
    doc, _seq = store.doc_load(document_id=document.pk)
    assert [s["type"] for s in whiteboard.board_shapes(doc)] == ["ellipse"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"title": "x", "format": "docx", "content": "a"}, "format must be one of"),
        ({"title": "", "format": "html", "content": "a"}, "title is required"),
        ({"title": "x", "format": "html", "content": 5}, "content must be a string"),
        ({"title": "x", "format": "board-json", "content": "{not json"}, "not valid JSON"),
    ],
)
def test_api_import_errors_are_clear_and_create_nothing(client, ann, body, message):
    client.force_login(ann)
    response = client.post("/api/documents/import/", body, content_type="application/json")
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert not Document.objects.exists()


def test_api_import_needs_a_signed_in_user(client):
    response = client.post(
        "/api/documents/import/",
        {"title": "x", "format": "html", "content": "a"},
        content_type="application/json",
    )
    assert response.status_code == 401


def test_dashboard_import_form_opens_the_new_document(client, ann):
    client.force_login(ann)
    assert b'action="/documents/import/"' in client.get("/").content
    upload = SimpleUploadedFile(
        "minutes.md", b"# Minutes\n\n- decided", content_type="text/markdown"
    )
    response = client.post("/documents/import/", {"file": upload})
    document = Document.objects.get(title="minutes")
    assert response.status_code == 302 and response["Location"] == f"/documents/{document.pk}/"

    bad = SimpleUploadedFile("slides.pptx", b"PK", content_type="application/octet-stream")
    response = client.post("/documents/import/", {"file": bad}, follow=True)
    assert b"Could not import" in response.content
