"""Offline in Chromium: a document opened before reloads and edits with no network, says it
is offline, and merges with what others wrote meanwhile when the network returns."""

import re

import pytest

from .conftest import sign_in

pytestmark = pytest.mark.browser

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

BADGE_STATE = "() => document.getElementById('connection-state').dataset.state"
SERVICE_WORKER_READY = """() => navigator.serviceWorker && navigator.serviceWorker.controller
  ? caches.open('collab-offline-v1').then(c => c.match(location.pathname)).then(Boolean)
  : false"""


def test_offline_reload_edit_and_merge(browser, e2e_server):
    ann = browser.page("ann-offline")
    sign_in(ann, e2e_server, "ann")
    ann.fill("form.create-form input[name=title]", "Offline notes")
    ann.click("form.create-form button[type=submit]")
    url = ann.wait_url(rf"^{re.escape(e2e_server.base_url)}/documents/{UUID}/$")
    document_id = re.search(UUID, url).group(0)
    ann.wait("status", equals="synced")
    ann.click("#editor .ProseMirror")
    ann.type("Written online.")
    ann.wait("editorText", equals="Written online.")
    # The service worker has taken over and kept this page for offline use.
    ann.wait(fn=SERVICE_WORKER_READY, timeout=15)
    ann.wait(fn="() => window.collab.local && window.collab.local.synced", timeout=10)

    status, body = e2e_server.api(
        "POST",
        f"/api/documents/{document_id}/members/",
        e2e_server.tokens["ann"],
        {"email": "bob@example.com", "role": "editor"},
    )
    assert status == 202, body
    bob = browser.page("bob-offline")
    sign_in(bob, e2e_server, "bob")
    bob.goto(url)
    bob.wait("editorText", equals="Written online.")

    # Ann's laptop leaves the network, and she reloads the page.
    ann.set_offline(True)
    assert ann.reload() == 200
    ann.wait("editorText", equals="Written online.", timeout=15)
    ann.wait(fn=BADGE_STATE, equals="offline")
    assert ann.text("#connection-state") == "offline"

    ann.click("#editor .ProseMirror")
    ann.press("Control+End")
    ann.type(" Ann offline.")
    ann.wait("editorText", equals="Written online. Ann offline.")
    bob.click("#editor .ProseMirror")
    bob.press("Control+Home")
    bob.type("Bob meanwhile. ")
    bob.wait("editorText", equals="Bob meanwhile. Written online.")
    assert ann.probe("editorText") == "Written online. Ann offline."

    # She reloads offline once more: her offline edit is still there (IndexedDB).
    ann.reload()
    ann.wait("editorText", equals="Written online. Ann offline.", timeout=15)

    # Back online: both see both edits, each once.
    ann.set_offline(False)
    merged = "Bob meanwhile. Written online. Ann offline."
    ann.wait("editorText", equals=merged, timeout=20)
    bob.wait("editorText", equals=merged, timeout=20)
    ann.wait(fn=BADGE_STATE, equals="connected")
    stored = e2e_server.content_when(
        e2e_server.tokens["ann"], document_id, "text", lambda content: content == merged
    )
    assert stored == merged
    for page in (ann, bob):
        errors = [e for e in page.diagnostics()["errors"] if "ERR_INTERNET_DISCONNECTED" not in e]
        assert not errors
        page.close()
