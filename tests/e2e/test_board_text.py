"""Whiteboard text in the browser: two people type into the same sticky note at the same
time; each open text editor takes in the other's letters live, and nobody's words are
lost."""

import json
import time

import pytest

from .test_board import BOARD_ORIGIN, mouse, open_board

pytestmark = pytest.mark.browser

EDITOR_FOCUSED = (
    "() => !!document.activeElement"
    " && document.activeElement.matches('#board textarea.board-text-editor')"
)
EDITOR_VALUE = (
    "() => { const a = document.querySelector('#board textarea.board-text-editor');"
    " return a ? a.value : null }"
)
EDITOR_OPEN = "() => !!document.querySelector('#board textarea.board-text-editor')"
STICKY_TEXTS = "() => window.board.shapes().filter((s) => s.type === 'sticky').map((s) => s.text)"
SHAPES_JSON = (
    "() => JSON.stringify(window.board.shapes().slice().sort((a, b) => (a.id < b.id ? -1 : 1)))"
)
# The driver has no double-click, so send the dblclick the browser would fire to the
# shape under the given page point (the board listens for `dblclick` on its svg).
DOUBLE_CLICK = """([x, y]) => {
  const el = document.elementFromPoint(x, y)
  if (!el) return false
  for (const detail of [1, 2]) {
    el.dispatchEvent(new MouseEvent('click', { bubbles: true, clientX: x, clientY: y, detail }))
  }
  el.dispatchEvent(new MouseEvent('dblclick', { bubbles: true, clientX: x, clientY: y, detail: 2 }))
  return !!el.closest('.board-shape')
}"""


def test_two_people_type_into_one_sticky_at_the_same_time(browser, e2e_server):
    server = e2e_server
    ann_token = server.tokens["ann"]
    status, body = server.api(
        "POST", "/api/documents/", ann_token, {"title": "Notes", "kind": "whiteboard"}
    )
    assert status == 201, body
    document_id = body["id"]
    status, body = server.api(
        "POST",
        f"/api/documents/{document_id}/members/",
        ann_token,
        {"email": "bob@example.com", "role": "editor"},
    )
    assert status in (201, 202), body

    ann = open_board(browser, server, "ann", document_id)
    bob = open_board(browser, server, "bob", document_id)
    ax, ay = ann.probe(fn=BOARD_ORIGIN)
    bx, by = bob.probe(fn=BOARD_ORIGIN)

    # Ann makes a sticky note; it opens for typing.
    ann.press("s")
    mouse(ann, "down", ax + 150, ay + 150)
    mouse(ann, "move", ax + 170, ay + 165, steps=3)
    mouse(ann, "up", ax + 170, ay + 165)
    ann.wait(fn=EDITOR_FOCUSED, equals=True)
    bob.wait(fn=STICKY_TEXTS, equals=[""])

    # Bob double-clicks the same sticky (200 x 160 from where Ann pressed) to edit it too.
    assert bob.probe(fn=DOUBLE_CLICK, arg=[bx + 250, by + 230])
    bob.wait(fn=EDITOR_FOCUSED, equals=True)
    assert ann.probe(fn=EDITOR_FOCUSED)

    ann_words = [f"ann{i}" for i in range(1, 7)]
    bob_words = [f"bob{i}" for i in range(1, 7)]
    # Both type at once: Ann at the end, Bob at the start, their keystrokes alternating.
    for ann_word, bob_word in zip(ann_words, bob_words, strict=True):
        ann.press("End")
        ann.type(ann_word + " ")
        bob.press("Home")
        bob.type(bob_word + " ")

    # While still open, each editor has taken in the other's words.
    def settled():
        return json.dumps(
            [ann.probe(fn=EDITOR_VALUE), bob.probe(fn=EDITOR_VALUE), ann.probe(fn=STICKY_TEXTS)]
        )

    final = None
    for _ in range(100):
        ann_value = ann.probe(fn=EDITOR_VALUE)
        bob_value = bob.probe(fn=EDITOR_VALUE)
        texts = ann.probe(fn=STICKY_TEXTS) + bob.probe(fn=STICKY_TEXTS)
        if ann_value == bob_value and all(t == ann_value for t in texts):
            if all(w in ann_value for w in ann_words + bob_words):
                final = ann_value
                break
        time.sleep(0.1)
    assert final is not None, settled()

    ann.press("Escape")
    bob.press("Escape")
    for page in (ann, bob):
        page.wait(fn=EDITOR_OPEN, equals=False)

    ann.wait(fn=SHAPES_JSON, equals=bob.probe(fn=SHAPES_JSON))
    bob.wait(fn=SHAPES_JSON, equals=ann.probe(fn=SHAPES_JSON))
    (text,) = ann.probe(fn=STICKY_TEXTS)
    assert bob.probe(fn=STICKY_TEXTS) == [text]
    words = text.split()
    # Every word each person typed is there, intact and in the order it was typed.
    assert sorted(words) == sorted(ann_words + bob_words), text
    assert [w for w in words if w.startswith("ann")] == ann_words, text
    assert [w for w in words if w.startswith("bob")] == sorted(bob_words, reverse=True), text
