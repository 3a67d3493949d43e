"""Socket limits in Chromium: a refused frame (4413) or a flood (4429) shows the page's error,
the socket stays closed instead of reconnecting in a loop, and nothing typed is lost."""

import json
import re
import time

import pytest

from .conftest import people_server, sign_in

pytestmark = pytest.mark.browser

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

# frontend/src/connection.js LIMIT_TEXT
TOO_LARGE = "The server refused a change that is too large"
TOO_MANY = "The server refused: too many changes or connections at once"

# In-app limits far below the defaults (Daphne's own frame limit stays at 16 MiB, so the
# app, not Daphne, answers): a 30 kB paste is too big, typing fast is a flood.
LIMITS = {
    "COLLAB_MAX_MESSAGE_BYTES": "20000",
    "COLLAB_UPDATES_PER_SECOND": "5",
    "COLLAB_UPDATE_BURST": "40",
    "COLLAB_MAX_CONNECTIONS_PER_USER": "2",
}

# y-websocket retries after at most 2.5 s; watching twice that long would see a loop.
LOOP_WINDOW = 5.0

ALERT = """() => { const a = document.getElementById('editor-alert')
  return a && !a.hidden ? {kind: a.dataset.kind, text: a.textContent} : null }"""
BADGE = "() => document.getElementById('connection-state').dataset.state"
SOCKET = """() => ({connected: window.collab.provider.wsconnected,
  connecting: window.collab.provider.wsconnecting,
  shouldConnect: window.collab.provider.shouldConnect})"""

# A paste as the browser delivers one: a paste event carrying text/plain.
PASTE = """(text) => {
  const dt = new DataTransfer()
  dt.setData('text/plain', text)
  document.querySelector('#editor .ProseMirror').dispatchEvent(
    new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true}))
  return true
}"""

# The text this browser keeps for the document (IndexedDB, frontend/src/offline.js).
LOCAL_COPY = """(documentId) => new Promise((resolve, reject) => {
  const open = indexedDB.open('collab-doc-' + documentId)
  open.onerror = () => reject(open.error)
  open.onsuccess = () => {
    const all = open.result.transaction('updates').objectStore('updates').getAll()
    all.onerror = () => reject(all.error)
    all.onsuccess = () => {
      const { Y } = window.collab
      const doc = new Y.Doc()
      for (const update of all.result) Y.applyUpdate(doc, update)
      const text = []
      const walk = (node) => node instanceof Y.XmlText
        ? text.push(node.toString().replace(/<[^>]*>/g, ''))
        : node.toArray().forEach(walk)
      walk(doc.getXmlFragment('default'))
      open.result.close()
      resolve(text.join(''))
    }
  }
})"""

AUDIT_SCRIPT = """
import json
from collab.models import AuditEvent
rows = AuditEvent.objects.filter(document_id={document_id!r}).order_by("id")
print(json.dumps([[e.action, e.actor_email, e.detail.get("reason")] for e in rows]))
"""


@pytest.fixture(scope="module")
def limited_server(browser_prerequisites, tmp_path_factory):
    with people_server(tmp_path_factory.mktemp("limits"), extra_env=LIMITS) as server:
        yield server


def audit(server, document_id: str) -> list[list]:
    out = server.manage("shell", "-c", AUDIT_SCRIPT.format(document_id=document_id))
    return json.loads(out.strip().splitlines()[-1])


def connections(server, document_id: str, action: str = "socket.connected") -> int:
    return sum(1 for row in audit(server, document_id) if row[0] == action)


def stored_text(server, name: str, document_id: str) -> str:
    status, body = server.api(
        "GET", f"/api/documents/{document_id}/content?format=text", server.tokens[name]
    )
    assert status == 200, body
    return body["content"]


def wait_stored(server, name, document_id, predicate, timeout=15.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = stored_text(server, name, document_id)
        if predicate(text) or time.monotonic() > deadline:
            return text
        time.sleep(0.2)


def new_document(page, server, title: str) -> str:
    page.fill("form.create-form input[name=title]", title)
    page.click("form.create-form button[type=submit]")
    url = page.wait_url(rf"^{re.escape(server.base_url)}/documents/{UUID}/$")
    page.wait("status", equals="synced")
    return re.search(UUID, url).group(0)


def assert_stays_closed(page, server, document_id: str, sockets: int) -> None:
    """No new socket for LOOP_WINDOW seconds, counted by the server, and the page agrees."""
    time.sleep(LOOP_WINDOW)
    # A loop would open a socket every backoff step (0.2 s, 0.4 s, ...: a dozen in the
    # window). One extra was seen once in a full parallel run on 2 busy cores (not
    # understood yet: docs/security.md "Known gaps"); none when run alone.
    assert sockets <= connections(server, document_id) <= sockets + 1
    assert page.probe(fn=SOCKET) == {
        "connected": False,
        "connecting": False,
        "shouldConnect": False,
    }
    assert page.probe(fn=BADGE) == "disconnected"


def test_an_oversized_paste_shows_4413_and_does_not_reconnect(browser, limited_server):
    server = limited_server
    ann = browser.page("ann-limits")
    sign_in(ann, server, "ann")
    document_id = new_document(ann, server, "Big paste")
    ann.click("#editor .ProseMirror")
    ann.type("Typed first.")
    assert wait_stored(server, "ann", document_id, lambda t: t == "Typed first.") == (
        "Typed first."
    )
    assert connections(server, document_id) == 1

    big = "P" * 30_000
    ann.probe(fn=PASTE, arg=big)
    alert = ann.wait(fn=ALERT, timeout=15)
    assert alert["kind"] == "refused"
    assert TOO_LARGE in alert["text"] and "message too big" in alert["text"]
    assert ann.probe("editable") == "false"
    assert_stays_closed(ann, server, document_id, sockets=1)
    refused = [r for r in audit(server, document_id) if r[0] == "frame.refused"]
    assert refused == [["frame.refused", "ann@example.com", "too big"]]

    # What was typed before is stored; the refused paste is still on the screen, so it
    # can be copied out, and in this browser's copy.
    assert stored_text(server, "ann", document_id) == "Typed first."
    assert ann.probe("editorText") == "Typed first." + big
    assert ann.probe(fn=LOCAL_COPY, arg=document_id) == "Typed first." + big

    # Sending that copy again could only be refused again: the page's button forgets it and
    # starts over from the server's copy (without it every reload would end here again).
    assert "Copy anything you need" in alert["text"]
    ann.click("#editor-alert button[data-action=reload]")
    ann.wait(fn=BADGE, equals="connected", timeout=15)
    ann.wait("editorText", equals="Typed first.")
    assert ann.probe(fn=ALERT) is None
    assert ann.probe(fn=LOCAL_COPY, arg=document_id) == "Typed first."
    assert connections(server, document_id) == 2
    assert sum(1 for r in audit(server, document_id) if r[0] == "frame.refused") == 1
    ann.close()


def test_typing_too_fast_shows_4429_and_reload_sends_the_rest(browser, limited_server):
    server = limited_server
    bob = browser.page("bob-limits")
    sign_in(bob, server, "bob")
    document_id = new_document(bob, server, "Fast typing")
    bob.click("#editor .ProseMirror")
    # One update per key: far more than the burst of 40 at once.
    typed = "".join(f"{n:03d} " for n in range(60))
    bob.type(typed)
    alert = bob.wait(fn=ALERT, timeout=15)
    assert alert["kind"] == "refused"
    assert TOO_MANY in alert["text"] and "too many updates" in alert["text"]
    assert_stays_closed(bob, server, document_id, sockets=1)
    # The editor turned read-only at the refusal, so the keys after it typed nothing. The
    # server stored the burst; the refused update and the few after it are in the page and
    # in this browser's copy.
    shown = bob.probe("editorText")
    assert bob.probe("editable") == "false"
    partial = stored_text(server, "bob", document_id)
    assert typed.startswith(shown) and shown.startswith(partial) and len(partial) < len(shown)
    bob.wait(fn=LOCAL_COPY, arg=document_id, equals=shown)

    # The page's Reload: the local copy goes out as one sync step 2, within the limits.
    bob.click("#editor-alert button[data-action=reload]")
    bob.wait(fn=BADGE, equals="connected", timeout=15)
    bob.wait("editorText", equals=shown)
    assert wait_stored(server, "bob", document_id, lambda t: t == shown) == shown
    assert bob.probe(fn=ALERT) is None
    assert connections(server, document_id) == 2
    bob.close()


def test_one_socket_too_many_shows_4429_and_does_not_reconnect(browser, limited_server):
    server = limited_server
    tabs = [browser.page(f"val-tab-{n}") for n in range(3)]
    first = tabs[0]
    sign_in(first, server, "val")
    document_id = new_document(first, server, "Many tabs")
    url = f"{server.base_url}/documents/{document_id}/"
    sign_in(tabs[1], server, "val")
    tabs[1].goto(url)
    tabs[1].wait("status", equals="synced")

    sign_in(tabs[2], server, "val")
    tabs[2].goto(url)
    alert = tabs[2].wait(fn=ALERT, timeout=15)
    assert alert["kind"] == "refused"
    assert TOO_MANY in alert["text"] and "too many connections for this account" in alert["text"]
    assert_stays_closed(tabs[2], server, document_id, sockets=2)
    refused = [r for r in audit(server, document_id) if r[0] == "socket.refused"]
    # One refusal per socket the page opened: assert_stays_closed allows the one extra
    # socket seen under load (docs/security.md "Known gaps"), so one extra refusal too.
    assert 1 <= len(refused) <= 2
    assert all(
        r == ["socket.refused", "val@example.com", "too many connections for this account"]
        for r in refused
    )
    # The two tabs that got in still edit together.
    tabs[0].click("#editor .ProseMirror")
    tabs[0].type("Still fine.")
    tabs[1].wait("editorText", equals="Still fine.")
    for tab in tabs:
        tab.close()
