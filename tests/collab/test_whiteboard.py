"""Whiteboards: the board model, SVG and PNG exports, and the content API, over a real Yjs board."""

import base64
import io
import math
import subprocess
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone
from PIL import Image
from pycrdt import Array, Doc, Map, Text

from accounts.services import access_token_create
from collab import services, store
from collab.whiteboard import board_json, board_shapes, render_png, render_svg

ROOT = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"


@cache
def fixture_update() -> bytes:
    """The board built by the real JS client (tests/js/board_fixture.mjs)."""
    out = subprocess.run(
        ["node", str(ROOT / "tests/js/board_fixture.mjs")],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return base64.b64decode(out.strip())


@pytest.fixture
def board() -> Doc:
    doc = Doc()
    doc.apply_update(fixture_update())
    return doc


def by_id(shapes):
    return {s["id"]: s for s in shapes}


def shape_elements(svg: str) -> dict:
    root = ET.fromstring(svg)
    found = {}
    for element in root.iter():
        if "data-id" in element.attrib:
            assert element.attrib["data-id"] not in found
            found[element.attrib["data-id"]] = element
    return found


def viewbox(svg: str) -> tuple[float, ...]:
    return tuple(float(v) for v in ET.fromstring(svg).attrib["viewBox"].split())


# The board model


def test_shapes_round_trip_from_the_js_client(board):
    shapes = board_shapes(board)

    assert [s["id"] for s in shapes] == [
        "ellipse1",
        "sticky1",
        "rect1",
        "line1",
        "arrow1",
        "free1",
        "text1",
    ]  # ascending index, not insertion order (rect1 was inserted first)
    s = by_id(shapes)
    assert s["rect1"] == {
        "id": "rect1",
        "type": "rect",
        "x": 10,
        "y": 20,
        "w": 100,
        "h": 50,
        "stroke": "#112233",
        "fill": "#ff0000",
        "strokeWidth": 2,
        "opacity": 1,
        "rotation": 0,
        "index": "a5",
        "createdBy": 1,
    }
    assert s["ellipse1"]["opacity"] == 0.5
    assert (s["ellipse1"]["fill"], s["ellipse1"]["w"], s["ellipse1"]["h"]) == ("none", 80, 40)
    assert s["line1"]["points"] == [[0, 0, 0.5], [100, 50, 0.5]]
    assert s["arrow1"]["points"] == [[0, 0, 0.5], [80, -40, 0.5]]
    assert s["arrow1"]["rotation"] == 15
    free = s["free1"]["points"]
    assert len(free) == 200
    assert free[0] == [0, 0, 0.2] and free[199][0] == 199
    assert all(0 <= p <= 1 for _x, _y, p in free)
    assert s["text1"]["text"] == "Hello & welcome <board>"
    assert s["text1"]["fontSize"] == 24
    assert s["sticky1"]["text"] == '<script>alert("x")</script>'
    assert s["sticky1"]["fontSize"] == 20  # default
    assert (s["sticky1"]["fill"], s["sticky1"]["createdBy"]) == ("#ffee88", 2)
    assert "points" in s["line1"] and "w" not in s["line1"] and "text" not in s["line1"]
    assert "points" not in s["rect1"] and "text" not in s["rect1"]


def test_board_json_has_the_background(board):
    body = board_json(board)
    assert body["background"] == "#fafafa"
    assert [s["id"] for s in body["shapes"]] == [s["id"] for s in board_shapes(board)]
    assert [s["id"] for s in board_json(board, shape_ids=["rect1"])["shapes"]] == ["rect1"]


def test_odd_data_is_normalised_never_raised():
    doc = Doc()
    shapes = doc.get("shapes", type=Map)
    shapes["nan"] = Map(
        {
            "type": "rect",
            "x": float("nan"),
            "y": 1e300,
            "w": -5,
            "h": "x",
            "stroke": "red",
            "fill": "#12345",
            "opacity": 7,
            "index": 3,
        }
    )
    shapes["weird"] = Map({"type": "hexagon", "x": 1})
    shapes["notamap"] = "rect"
    shapes["pts"] = Map({"type": "freehand", "points": Array([1, 2, 9, "a", 3, 0.5, 4, 5])})
    shapes["txt"] = Map({"type": "sticky", "text": 42, "strokeWidth": True})
    shapes["line"] = Map({"type": "line", "points": Array([0, 0, 1])})
    doc.get("board", type=Map)["background"] = "javascript:alert(1)"

    s = by_id(board_shapes(doc))
    assert set(s) == {"nan", "pts", "txt", "line"}
    assert (s["nan"]["x"], s["nan"]["y"], s["nan"]["w"], s["nan"]["h"]) == (0, 1e6, 0, 0)
    assert (s["nan"]["stroke"], s["nan"]["fill"], s["nan"]["opacity"]) == ("#000000", "none", 1)
    assert s["nan"]["index"] == ""
    assert s["pts"]["points"] == [[1, 2, 1]]  # the triplet with a non-number is dropped
    assert (s["txt"]["text"], s["txt"]["strokeWidth"], s["txt"]["fill"]) == ("", 2, "#fff59d")
    assert board_json(doc)["background"] is None
    ET.fromstring(render_svg(doc))
    Image.open(io.BytesIO(render_png(doc))).verify()


# SVG


def test_svg_is_well_formed_with_one_element_per_shape(board):
    svg = render_svg(board)
    elements = shape_elements(svg)

    assert list(elements) == [s["id"] for s in board_shapes(board)]
    tags = {i: e.tag.removeprefix(SVG) for i, e in elements.items()}
    assert tags == {
        "rect1": "rect",
        "ellipse1": "ellipse",
        "line1": "line",
        "arrow1": "line",
        "free1": "path",
        "text1": "text",
        "sticky1": "g",
    }
    assert elements["arrow1"].attrib["marker-end"].startswith("url(#arrowhead-")
    assert "rotate(15 " in elements["arrow1"].attrib["transform"]
    assert elements["ellipse1"].attrib["opacity"] == "0.5"
    assert elements["free1"].attrib["d"].count("Q") == 198  # smoothed through midpoints
    assert "".join(elements["text1"].itertext()) == "Hello & welcome <board>"
    x, y, w, h = viewbox(svg)
    assert x <= 10 - 20 and y <= 20 - 20 and x + w >= 499 and y + h >= 420


def test_svg_escapes_hostile_text_and_references_nothing(board):
    svg = render_svg(board)
    assert "<script" not in svg
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in svg
    assert "".join(shape_elements(svg)["sticky1"].itertext()) == '<script>alert("x")</script>'
    assert "href" not in svg and "http://" not in svg.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )


def test_svg_escapes_hostile_ids_and_control_characters():
    doc = Doc()
    shapes = doc.get("shapes", type=Map)
    shapes['"><script>x</script>'] = Map(
        {"type": "text", "x": 0, "y": 0, "text": Text("a\x00b\x1bc")}
    )
    svg = render_svg(doc)
    (element,) = shape_elements(svg).values()
    assert element.attrib["data-id"] == '"><script>x</script>'
    assert "".join(element.itertext()) == "abc"


def test_selection_exports_only_the_selected_shapes(board):
    svg = render_svg(board, shape_ids=["rect1", "ellipse1"], padding=10)
    assert set(shape_elements(svg)) == {"rect1", "ellipse1"}
    x, y, w, h = viewbox(svg)
    # rect1 spans 10..110 x 20..70, ellipse1 200..280 x 20..60; strokes 2 and 3 wide.
    assert (x, y) == (10 - 1 - 10, 20 - 1.5 - 10)
    assert (x + w, y + h) == (280 + 1.5 + 10, 70 + 1 + 10)


def test_empty_board_and_empty_selection_give_a_small_empty_svg(board):
    for svg in (render_svg(Doc()), render_svg(board, shape_ids=["nope"])):
        root = ET.fromstring(svg)
        assert list(root) == [] and root.attrib["viewBox"] == "0 0 1 1"


# PNG


def test_png_decodes_with_the_expected_size_and_paints_the_filled_rect(board):
    svg_w, svg_h = viewbox(render_svg(board))[2:]
    image = Image.open(io.BytesIO(render_png(board)))
    assert image.format == "PNG"
    assert image.size == (math.ceil(svg_w), math.ceil(svg_h))
    x0, y0 = viewbox(render_svg(board))[:2]
    image = image.convert("RGB")
    assert image.getpixel((60 - x0, 45 - y0)) == (255, 0, 0)  # inside rect1
    assert image.getpixel((150 - x0, 100 - y0)) == (0xFA, 0xFA, 0xFA)  # the background
    assert len(image.getcolors(maxcolors=1 << 20)) > 10  # more than a blank canvas


def test_png_selection_scale_and_pixel_cap(board):
    image = Image.open(io.BytesIO(render_png(board, shape_ids=["rect1"], scale=2)))
    assert image.size == (2 * (100 + 2 + 40), 2 * (50 + 2 + 40))
    assert image.convert("RGB").getpixel((image.size[0] // 2, image.size[1] // 2)) == (255, 0, 0)

    capped = Image.open(io.BytesIO(render_png(board, scale=50, max_pixels=10_000)))
    assert capped.size[0] * capped.size[1] <= 10_000
    assert capped.size[0] > 50


# The content API


@pytest.fixture
def whiteboard(ann):
    document = services.document_create(owner=ann, title="Sketch", kind="whiteboard")
    store.updates_append(
        document_id=document.pk,
        updates=[store.PendingUpdate(fixture_update(), ann.pk, timezone.now())],
    )
    return document


def bearer(user) -> dict:
    _token, raw = access_token_create(user=user, name="tests")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def get(user, document, **params):
    return Client().get(f"/api/documents/{document.pk}/content", params, **bearer(user))


@pytest.mark.django_db
def test_api_whiteboard_json(ann, whiteboard, board):
    response = get(ann, whiteboard, format="json")
    assert response.status_code == 200
    assert response.json() == {
        "id": str(whiteboard.pk),
        "format": "json",
        "seq": 1,
        "content": board_json(board),
    }
    assert get(ann, whiteboard).json()["format"] == "json"  # the default for a whiteboard


@pytest.mark.django_db
def test_api_whiteboard_svg(ann, whiteboard, board):
    response = get(ann, whiteboard, format="svg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response["Content-Security-Policy"] == "default-src 'none'; style-src 'unsafe-inline'"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response.content.decode() == render_svg(board)

    selected = get(ann, whiteboard, format="svg", ids="rect1, sticky1,")
    assert set(shape_elements(selected.content.decode())) == {"rect1", "sticky1"}


@pytest.mark.django_db
def test_api_whiteboard_png(ann, whiteboard, board):
    response = get(ann, whiteboard, format="png", ids="rect1")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert Image.open(io.BytesIO(response.content)).size == (142, 92)
    assert Image.open(io.BytesIO(get(ann, whiteboard, format="png", scale="2").content)).size == (
        Image.open(io.BytesIO(render_png(board, scale=2))).size
    )


@pytest.mark.django_db
def test_api_formats_must_fit_the_kind(ann, bob, whiteboard):
    text_document = services.document_create(owner=ann, title="Notes")
    for document, fmt in (
        (text_document, "svg"),
        (text_document, "png"),
        (whiteboard, "text"),
        (whiteboard, "markdown"),
        (whiteboard, "html"),
    ):
        response = get(ann, document, format=fmt)
        assert response.status_code == 400, (document.kind, fmt)
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"] == "invalid"
    for scale in ("0", "nan", "x", "100"):
        assert get(ann, whiteboard, format="png", scale=scale).status_code == 400
    assert get(ann, text_document, format="text").json()["content"] == ""
    assert get(bob, whiteboard, format="svg").status_code in (403, 404)  # not a member


def test_rotated_shapes_render_and_grow_the_viewbox():
    doc = Doc()
    shapes = doc.get("shapes", type=Map)
    for i, kind in enumerate(("rect", "ellipse", "sticky")):
        shapes[kind] = Map(
            {"type": kind, "x": 0, "y": 100 * i, "w": 80, "h": 20, "rotation": 90, "index": str(i)}
        )
        shapes[kind]["text"] = Text("hi") if kind == "sticky" else "ignored"
    svg = render_svg(doc, padding=0)
    assert len(shape_elements(svg)) == 3
    x, _y, w, _h = viewbox(svg)
    assert (x, w) == (40 - 10 - 1, 20 + 2)  # 80x20 boxes turned upright about their centres
    image = Image.open(io.BytesIO(render_png(doc)))
    assert image.size == (22 + 40, math.ceil(viewbox(render_svg(doc))[3]))
