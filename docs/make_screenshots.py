"""Regenerate the README's screenshots: `.venv/bin/python docs/make_screenshots.py`.

Starts a live server with its own database, signs two people in through the real login
form in headless Chromium, and saves the dashboard and two people editing one document.
"""

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import PASSWORD, PEOPLE, Browser, sign_in  # noqa: E402
from tests.live.server import LiveDatabase, LiveServer  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
FOCUSED = "() => document.activeElement?.classList.contains('ProseMirror') ?? false"


def board_screenshot(server, ann, bob) -> None:
    """Two people drawing on one whiteboard, each seeing the other's pointer."""
    from tests.e2e.test_board import BOARD_ORIGIN, CONNECTED, interleaved_drags, mouse

    _status, body = server.api(
        "POST",
        "/api/documents/",
        server.tokens["ann"],
        {"title": "Sprint board", "kind": "whiteboard"},
    )
    board_id = body["id"]
    server.api(
        "POST",
        f"/api/documents/{board_id}/members/",
        server.tokens["ann"],
        {"email": "bob@example.com", "role": "editor"},
    )
    for page in (ann, bob):
        page.goto(f"{server.base_url}/documents/{board_id}/")
        page.wait(fn=CONNECTED, equals=True)
    ax, ay = ann.probe(fn=BOARD_ORIGIN)
    bx, by = bob.probe(fn=BOARD_ORIGIN)
    ann.press("s")  # sticky note
    bob.press("o")  # ellipse
    interleaved_drags(
        [
            (ann, [(ax + 80 + 20 * i, ay + 60 + 14 * i) for i in range(9)]),
            (bob, [(bx + 420 + 22 * i, by + 80 + 12 * i) for i in range(9)]),
        ]
    )
    ann.press("Escape")  # a new sticky note opens for typing; leave it
    ann.press("Escape")
    ann.press("p")
    bob.press("a")
    interleaved_drags(
        [
            (ann, [(ax + 120 + 18 * i, ay + 330 + (i % 5) * 9) for i in range(20)]),
            (bob, [(bx + 330 + 20 * i, by + 260 - 6 * i) for i in range(10)]),
        ]
    )
    ann.wait(fn="() => window.board.shapes().length", equals=4)
    mouse(bob, "move", bx + 560, by + 300)
    mouse(ann, "move", ax + 300, ay + 240)
    ann.wait(fn="() => document.querySelectorAll('#board .board-cursor__label').length", equals=1)
    ann.screenshot(str(OUT / "board.png"))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        database = LiveDatabase(Path(tmp))
        server = LiveServer(Path(tmp), database)
        server.migrate()
        server.tokens = {n: server.user_token(f"{n}@example.com") for n in PEOPLE}
        setup = "from accounts.models import User\n"
        for name, person in PEOPLE.items():
            setup += (
                f"u = User.objects.get(email='{name}@example.com'); u.set_password({PASSWORD!r}); "
                f"u.display_name = {person['display_name']!r}; "
                f"u.cursor_color = {person['color']!r}; u.save()\n"
            )
        server.manage("shell", "-c", setup)
        server.start()
        server.base_url = f"http://127.0.0.1:{server.port}"
        browser = Browser()
        try:
            ann_token = server.tokens["ann"]
            ids = [server.create_document(ann_token, t) for t in ("Launch plan", "Team notes")]
            server.create_document(server.tokens["bob"], "Bob's board")
            for document_id in ids:
                server.api(
                    "POST",
                    f"/api/documents/{document_id}/members/",
                    ann_token,
                    {"email": "bob@example.com", "role": "editor"},
                )
            ann = browser.page("ann")
            bob = browser.page("bob")
            sign_in(ann, server, "ann", check_name=False)
            sign_in(bob, server, "bob", check_name=False)
            bob.screenshot(str(OUT / "dashboard.png"))
            url = f"{server.base_url}/documents/{ids[0]}/"
            for page in (ann, bob):
                page.goto(url)
                page.wait("status", equals="synced")
            ann.click("#editor .ProseMirror")
            ann.probe(
                fn="() => window.collab.editor.chain().focus().toggleHeading({level: 2}).run()"
            )
            ann.type("Launch plan")
            ann.press("Enter")
            ann.type("We ship on Monday. Everyone reviews the checklist below.")
            ann.press("Enter")
            ann.probe(fn="() => window.collab.editor.chain().focus().toggleTaskList().run()")
            ann.wait(fn=FOCUSED, equals=True)
            ann.type("Final copy review")
            bob.wait("modelText", contains="Final copy review")
            bob.probe(fn="() => window.collab.editor.chain().focus('end').run()")
            # Tiptap focuses on the next animation frame: keys sent before that are lost.
            bob.wait(fn=FOCUSED, equals=True)
            bob.press("Enter")
            bob.type("Press kit ready")
            ann.wait("modelText", contains="Press kit ready")
            ann.screenshot(str(OUT / "editing-ann.png"))
            bob.screenshot(str(OUT / "editing-bob.png"))
            board_screenshot(server, ann, bob)
        finally:
            browser.close()
            server.terminate()
            database.drop()
    print("wrote", *sorted(p.name for p in OUT.glob("*.png")))


if __name__ == "__main__":
    main()
