"""Whiteboards in the browser: two editors draw at the same time and converge, see each
other's pointers under their account names; a viewer can look but not draw; a reload
shows everything."""

import json
import re
import time

import pytest

from .conftest import PEOPLE, sign_in

pytestmark = pytest.mark.browser

CONNECTED = "() => !!window.board && window.board.connection.state === 'connected'"
SHAPES = "() => window.board.shapes()"
SHAPE_TYPES = "() => window.board.shapes().map((s) => s.type).sort()"
BOARD_ORIGIN = """() => {
  const r = document.querySelector('#board svg').getBoundingClientRect()
  return [Math.round(r.left), Math.round(r.top)]
}"""
CURSOR_LABELS = (
    "() => Array.from(document.querySelectorAll('#board .board-cursor__label'))"
    ".map((el) => el.textContent)"
)


def mouse(page, action: str, x: float, y: float, steps: int = 1) -> None:
    page.browser.call("mouse", page=page.name, action=action, x=x, y=y, steps=steps)


def open_board(browser, server, name: str, document_id: str):
    page = browser.page(f"board-{name}")
    sign_in(page, server, name)
    page.goto(f"{server.base_url}/documents/{document_id}/")
    page.wait(fn=CONNECTED, equals=True)
    return page


def interleaved_drags(people) -> None:
    """Each (page, [(x, y), ...]) drags along its points; the people's steps alternate."""
    for page, points in people:
        mouse(page, "down", *points[0])
    for i in range(1, max(len(points) for _, points in people)):
        for page, points in people:
            if i < len(points):
                mouse(page, "move", *points[i])
    for page, points in people:
        mouse(page, "up", *points[-1])


def test_two_editors_draw_together_and_a_viewer_only_watches(browser, e2e_server):
    server = e2e_server
    ann_token = server.tokens["ann"]
    status, body = server.api(
        "POST", "/api/documents/", ann_token, {"title": "Sketches", "kind": "whiteboard"}
    )
    assert status == 201, body
    document_id = body["id"]
    for email, role in (("bob@example.com", "editor"), ("val@example.com", "viewer")):
        status, body = server.api(
            "POST",
            f"/api/documents/{document_id}/members/",
            ann_token,
            {"email": email, "role": role},
        )
        assert status in (201, 202), body

    ann = open_board(browser, server, "ann", document_id)
    bob = open_board(browser, server, "bob", document_id)
    for page in (ann, bob):
        assert page.probe(fn="() => !!document.querySelector('#board-toolbar [data-tool=pen]')")

    ax, ay = ann.probe(fn=BOARD_ORIGIN)
    bx, by = bob.probe(fn=BOARD_ORIGIN)

    # Rectangles, drawn at the same time (the two drags' steps alternate).
    ann.click("#board-toolbar [data-tool=rect]")
    bob.click("#board-toolbar [data-tool=rect]")
    interleaved_drags(
        [
            (ann, [(ax + 60 + 20 * i, ay + 60 + 12 * i) for i in range(8)]),
            (bob, [(bx + 400 + 20 * i, by + 60 + 12 * i) for i in range(8)]),
        ]
    )

    # Freehand strokes, also at the same time.
    ann.click("#board-toolbar [data-tool=pen]")
    bob.click("#board-toolbar [data-tool=pen]")
    interleaved_drags(
        [
            (ann, [(ax + 80 + 15 * i, ay + 300 + (i % 4) * 10) for i in range(16)]),
            (bob, [(bx + 420 + 15 * i, by + 300 + (i % 3) * 12) for i in range(16)]),
        ]
    )

    expected_types = ["freehand", "freehand", "rect", "rect"]
    for page in (ann, bob):
        page.wait(fn=SHAPE_TYPES, equals=expected_types)
    # Both end with the same board, property for property.
    # (Each stroke's last point arrives with its author's mouse-up, so poll until the two
    # pages agree rather than snapshotting one page mid-stroke.)
    deadline = time.monotonic() + 10
    while (shapes := ann.probe(fn=SHAPES)) != bob.probe(fn=SHAPES):
        assert time.monotonic() < deadline, "the two boards did not converge"
        time.sleep(0.1)
    ann_id = ann.probe(fn="() => document.getElementById('board').dataset.userId")
    bob_id = bob.probe(fn="() => document.getElementById('board').dataset.userId")
    by_creator = sorted((s["createdBy"], s["type"]) for s in shapes)
    assert by_creator == sorted(
        [
            (int(ann_id), "rect"),
            (int(ann_id), "freehand"),
            (int(bob_id), "rect"),
            (int(bob_id), "freehand"),
        ]
    )
    for shape in shapes:
        if shape["type"] == "rect":
            assert shape["w"] == pytest.approx(140, abs=1) and shape["h"] == pytest.approx(
                84, abs=1
            )
        else:
            assert len(shape["points"]) % 3 == 0 and len(shape["points"]) >= 3 * 10
    # Every shape is painted on both pages.
    for page in (ann, bob):
        page.wait(fn="() => document.querySelectorAll('#board .board-shape').length", equals=4)
    # The exported SVG (rendered by the server from the stored board), fetched with each
    # person's own session, is the same and has one element per shape.
    export = (
        f"() => fetch('/api/documents/{document_id}/content?format=svg',"
        " {credentials: 'same-origin'}).then((r) => r.text())"
    )
    # The last points are written within COLLAB_FLUSH_DELAY of being relayed: read until
    # both exports agree (the stored board stops changing).
    deadline = time.monotonic() + 10
    while True:
        ann_svg, bob_svg = ann.probe(fn=export), bob.probe(fn=export)
        if ann_svg == bob_svg or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert ann_svg == bob_svg
    assert sorted(re.findall(r'data-id="([^"]+)"', ann_svg)) == sorted(s["id"] for s in shapes)

    # Each sees the other's pointer, labelled with the account's display name.
    mouse(ann, "move", ax + 300, ay + 200)
    mouse(bob, "move", bx + 320, by + 220)
    ann.wait(fn=CURSOR_LABELS, equals=[PEOPLE["bob"]["display_name"]])
    bob.wait(fn=CURSOR_LABELS, equals=[PEOPLE["ann"]["display_name"]])

    # Val (viewer): no tools, her drags change nothing, she sees both people's shapes.
    val = open_board(browser, server, "val", document_id)
    val.wait(fn=SHAPES, equals=shapes)
    assert val.probe(fn="() => document.querySelectorAll('#board-toolbar button').length") == 0
    assert val.probe(fn="() => document.getElementById('board-toolbar').hidden") is True
    assert val.probe(fn="() => !document.getElementById('view-only-badge').hidden") is True
    vx, vy = val.probe(fn=BOARD_ORIGIN)
    for key in ("r", "p"):
        val.press(key)
        interleaved_drags([(val, [(vx + 500 + 10 * i, vy + 400 + 8 * i) for i in range(8)])])
    val.wait(fn="() => document.querySelectorAll('#board .board-shape').length", equals=4)
    assert val.probe(fn=SHAPES) == shapes
    # Her drags panned her own view only; nothing reached the others.
    bob.wait(fn=CURSOR_LABELS, contains=PEOPLE["val"]["display_name"])
    assert bob.probe(fn=SHAPES) == shapes
    assert ann.probe(fn=SHAPES) == shapes

    # Ann reloads: everything is still there, painted.
    ann.goto(f"{server.base_url}/documents/{document_id}/")
    ann.wait(fn=CONNECTED, equals=True)
    ann.wait(fn=SHAPES, equals=shapes)
    ann.wait(fn="() => document.querySelectorAll('#board .board-shape').length", equals=4)

    for page in (ann, bob, val):
        errors = page.diagnostics()["errors"]
        assert not errors, json.dumps(errors)
        page.close()
