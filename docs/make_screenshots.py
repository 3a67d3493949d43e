"""Regenerate the README's screenshots: `.venv/bin/python docs/make_screenshots.py`.

Starts a live server with its own database, signs two people in through the real login
form in headless Chromium, and saves the dashboard and two people editing one document.
"""

import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import PASSWORD, PEOPLE, Browser  # noqa: E402
from tests.live.server import LiveDatabase, LiveServer  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
FOCUSED = "() => document.activeElement?.classList.contains('ProseMirror') ?? false"


def sign_in(page, server, name):
    page.goto(f"{server.base_url}/accounts/login/")
    page.fill("#id_login", f"{name}@example.com")
    page.fill("#id_password", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_url(rf"^{re.escape(server.base_url)}/$")


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
            sign_in(ann, server, "ann")
            sign_in(bob, server, "bob")
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
        finally:
            browser.close()
            server.terminate()
            database.drop()
    print("wrote", *sorted(p.name for p in OUT.glob("*.png")))


if __name__ == "__main__":
    main()
