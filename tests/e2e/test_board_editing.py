"""Board editing with the keyboard and undo: duplicate, delete, and Ctrl+Z undoing only my
own changes while someone else draws on the same board."""

import pytest

from .test_board import BOARD_ORIGIN, SHAPE_TYPES, interleaved_drags, open_board

pytestmark = pytest.mark.browser

COUNT = "() => window.board.shapes().length"


def drag(page, x0, y0, x1, y1):
    interleaved_drags(
        [(page, [(x0 + (x1 - x0) * i / 6, y0 + (y1 - y0) * i / 6) for i in range(7)])]
    )


def test_duplicate_delete_and_undo_only_my_own_changes(browser, e2e_server):
    server = e2e_server
    token = server.tokens["ann"]
    status, body = server.api(
        "POST", "/api/documents/", token, {"title": "Undo board", "kind": "whiteboard"}
    )
    assert status == 201, body
    board_id = body["id"]
    server.api(
        "POST",
        f"/api/documents/{board_id}/members/",
        token,
        {"email": "bob@example.com", "role": "editor"},
    )
    ann = open_board(browser, server, "ann", board_id)
    bob = open_board(browser, server, "bob", board_id)
    ax, ay = ann.probe(fn=BOARD_ORIGIN)
    bx, by = bob.probe(fn=BOARD_ORIGIN)

    ann.press("r")
    drag(ann, ax + 60, ay + 60, ax + 200, ay + 160)  # Ann's rectangle, left selected
    ann.wait(fn=COUNT, equals=1)
    ann.press("Control+d")  # duplicate
    ann.wait(fn=COUNT, equals=2)

    bob.press("o")
    drag(bob, bx + 400, by + 80, bx + 520, by + 180)  # Bob's ellipse
    for page in (ann, bob):
        page.wait(fn=SHAPE_TYPES, equals=["ellipse", "rect", "rect"])

    # Ann's undo takes back her duplicate, never Bob's ellipse.
    ann.press("Control+z")
    for page in (ann, bob):
        page.wait(fn=SHAPE_TYPES, equals=["ellipse", "rect"])
    ann.press("Control+z")
    for page in (ann, bob):
        page.wait(fn=SHAPE_TYPES, equals=["ellipse"])
    ann.press("Control+Shift+z")  # redo brings her rectangle back
    for page in (ann, bob):
        page.wait(fn=SHAPE_TYPES, equals=["ellipse", "rect"])

    # Bob deletes his selected ellipse with the keyboard; Ann sees it go.
    bob.press("Delete")
    for page in (ann, bob):
        page.wait(fn=SHAPE_TYPES, equals=["rect"])
    # The stored board agrees.
    content = server.content_when(
        token, board_id, "json", lambda c: [s["type"] for s in c["shapes"]] == ["rect"]
    )
    assert [s["type"] for s in content["shapes"]] == ["rect"]
