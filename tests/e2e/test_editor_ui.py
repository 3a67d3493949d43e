"""The editor's UI in headless Chromium: the toolbar, the presence bar, undo that undoes only
my own edits, losing access live, editing through a server outage and through an expired
session (docs/editor.md).

Each test makes its own document through the API; the pages (one browser context per person)
are signed in once and shared by the tests of this module.
"""

import json
import time

import pytest

from .conftest import PASSWORD, PEOPLE, sign_in

pytestmark = pytest.mark.browser

ANN, BOB, VAL = (PEOPLE[name]["display_name"] for name in ("ann", "bob", "val"))

PRESENCE = """() => Array.from(document.querySelectorAll('#presence .presence__avatar'))
    .map((a) => a.title)"""
BADGE = """() => { const b = document.getElementById('connection-state')
    return b && b.checkVisibility() ? b.textContent.trim() : null }"""
ALERT = """() => { const a = document.getElementById('editor-alert')
    return a && a.checkVisibility() ? a.textContent.replace(/\\s+/g, ' ').trim() : null }"""
# Rendered, whatever the reason it might not be (the hidden attribute, CSS).
VISIBLE = """(selector) => { const el = document.querySelector(selector)
    return !!el && el.checkVisibility() }"""
EDITOR_JSON = "() => window.collab.editor.getJSON()"
PRESSED = """(command) => document.querySelector(
    `#editor-toolbar [data-command="${command}"]`).getAttribute('aria-pressed')"""


def button(command: str) -> str:
    return f'#editor-toolbar button[data-command="{command}"]'


def focus_end(page) -> None:
    """Put the caret at the end of the document (as Ctrl+End would, without racing the click)."""
    page.probe(fn="() => { window.collab.editor.commands.focus('end'); return true }")
    # Tiptap focuses the view on the next animation frame: keys sent before would be lost.
    page.wait(
        fn="""() => { const { editor } = window.collab
        return document.activeElement === editor.view.dom && editor.view.hasFocus() &&
            editor.state.selection.empty &&
            editor.state.selection.to >= editor.state.doc.content.size - 2 }"""
    )


def assert_no_page_errors(*pages) -> None:
    for page in pages:
        errors = page.diagnostics()["errors"]
        assert not errors, f"uncaught errors on {page.name}'s page: {errors}"


def server_json(server, document_id: str, expected, timeout: float = 5.0):
    """The content API's ProseMirror JSON once it equals `expected` (writes are batched)."""
    deadline = time.monotonic() + timeout
    while True:
        content = server.content(server.tokens["ann"], document_id, "json")
        if content == expected or time.monotonic() > deadline:
            return content
        time.sleep(0.1)


def server_text(server, document_id: str, expected: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        content = server.content(server.tokens["ann"], document_id, "text")
        if content == expected or time.monotonic() > deadline:
            return content
        time.sleep(0.1)


MARKS = {"bold", "italic", "underline", "strike", "code", "link"}


def stored_form(node):
    """Editor JSON as the server returns it: nodes keep only their non-null attributes (the
    Yjs binding does not store nulls); marks keep all of theirs."""
    if isinstance(node, list):
        return [stored_form(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "attrs" and node.get("type") not in MARKS:
            value = {k: v for k, v in value.items() if v is not None}
            if not value:
                continue
        out[key] = stored_form(value)
    return out


def share(server, document_id: str, name: str, role: str) -> None:
    status, body = server.api(
        "POST",
        f"/api/documents/{document_id}/members/",
        server.tokens["ann"],
        {"email": f"{name}@example.com", "role": role},
    )
    assert status == 202, body


@pytest.fixture(scope="module")
def people(browser, e2e_server):
    """One signed-in page per person, opened lazily."""
    opened = {}

    def get(name: str):
        if name not in opened:
            page = browser.page(name)
            sign_in(page, e2e_server, name, check_name=False)
            opened[name] = page
        return opened[name]

    return get


def open_document(page, server, document_id: str, status: str = "synced"):
    assert page.goto(f"{server.base_url}/documents/{document_id}/")["status"] == 200
    page.wait("status", equals=status)
    return page


def test_toolbar_makes_a_heading_bold_text_and_a_bullet_list(people, e2e_server):
    doc = e2e_server.create_document(e2e_server.tokens["ann"], "Toolbar")
    ann = open_document(people("ann"), e2e_server, doc)
    assert ann.probe(fn=BADGE) == "connected"
    assert ann.probe(fn=VISIBLE, arg="#view-only-badge") is False
    labels = ann.probe(
        fn="""() => Array.from(document.querySelectorAll('#editor-toolbar button'))
            .map((b) => b.getAttribute('aria-label'))"""
    )
    for label in [
        "Paragraph",
        "Heading 1",
        "Heading 2",
        "Heading 3",
        "Bold",
        "Italic",
        "Strikethrough",
        "Inline code",
        "Link",
        "Bullet list",
        "Numbered list",
        "Task list",
        "Quote",
        "Code block",
        "Horizontal rule",
        "Insert table",
        "Add row below",
        "Delete row",
        "Add column right",
        "Delete column",
        "Undo",
        "Redo",
    ]:
        assert label in labels

    ann.click("#editor .ProseMirror")
    ann.click(button("heading-1"))
    ann.type("Plan")
    ann.wait(fn=PRESSED, arg="heading-1", equals="true")
    ann.press("Enter")
    ann.wait(fn=PRESSED, arg="heading-1", equals="false")
    ann.type("plain ")
    ann.click(button("bold"))
    ann.wait(fn=PRESSED, arg="bold", equals="true")
    ann.type("bold")
    ann.click(button("bold"))
    ann.wait(fn=PRESSED, arg="bold", equals="false")
    ann.press("Enter")
    ann.click(button("bullet-list"))
    ann.type("one")
    ann.wait(fn=PRESSED, arg="bullet-list", equals="true")
    ann.press("Enter")
    ann.type("two")

    def item(text):
        return {
            "type": "listItem",
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
        }

    expected_blocks = [
        {"type": "heading", "attrs": {"level": 1}, "content": [{"type": "text", "text": "Plan"}]},
        {
            "type": "paragraph",
            "content": [
                {"type": "text", "text": "plain "},
                {"type": "text", "text": "bold", "marks": [{"type": "bold"}]},
            ],
        },
        {"type": "bulletList", "content": [item("one"), item("two")]},
    ]
    in_page = ann.wait(
        fn="""(n) => { const json = window.collab.editor.getJSON()
            return json.content.length >= n ? json : null }""",
        arg=len(expected_blocks),
    )
    # Tiptap's trailing-node plugin keeps an empty paragraph after a final list.
    assert in_page["content"][: len(expected_blocks)] == expected_blocks, json.dumps(in_page)
    assert all(block == {"type": "paragraph"} for block in in_page["content"][3:])

    stored = server_json(e2e_server, doc, in_page)
    assert stored == in_page
    # The bold and heading buttons show the state at the caret: inside the list, neither.
    assert ann.probe(fn=PRESSED, arg="bold") == "false"
    assert ann.probe(fn=PRESSED, arg="heading-1") == "false"
    assert_no_page_errors(ann)


def test_every_block_of_the_toolbar_is_stored_as_the_editor_has_it(people, e2e_server):
    doc = e2e_server.create_document(e2e_server.tokens["ann"], "Blocks")
    ann = open_document(people("ann"), e2e_server, doc)
    ann.click("#editor .ProseMirror")
    ann.click(button("task-list"))
    ann.type("todo")
    ann.click("#editor ul[data-type=taskList] input[type=checkbox]")
    # The checkbox hands the focus back to the editor, caret where it was.
    ann.wait(fn="() => window.collab.editor.view.hasFocus()")
    ann.press("Enter")
    ann.press("Enter")  # an empty item leaves the list
    ann.click(button("blockquote"))
    ann.type("quoted")
    ann.press("Enter")
    ann.click(button("blockquote"))  # the new empty paragraph leaves the quote
    ann.click(button("code-block"))
    ann.type("x = 1")
    for _ in range(3):
        ann.press("Enter")  # a third Enter on two empty lines leaves the code block
    ann.click(button("horizontal-rule"))
    ann.click(button("table"))
    ann.type("head")
    ann.click(button("italic"))
    ann.type("!")
    ann.click(button("add-row"))
    ann.click(button("add-column"))
    ann.press("Tab")  # into the new column, which goes again
    ann.click(button("delete-column"))

    in_page = ann.wait(
        fn="""() => { const json = window.collab.editor.getJSON()
            return json.content.some((b) => b.type === 'table') ? json : null }"""
    )
    types = [block["type"] for block in in_page["content"]]
    assert types[:5] == ["taskList", "blockquote", "codeBlock", "horizontalRule", "table"], types
    assert in_page["content"][0]["content"][0]["attrs"] == {"checked": True}
    assert in_page["content"][2]["content"] == [{"type": "text", "text": "x = 1"}]
    rows = in_page["content"][4]["content"]
    assert [len(row["content"]) for row in rows] == [3, 3, 3, 3]
    assert [cell["type"] for cell in rows[0]["content"]] == ["tableHeader"] * 3
    assert rows[0]["content"][0]["content"][0]["content"] == [
        {"type": "text", "text": "head"},
        {"type": "text", "text": "!", "marks": [{"type": "italic"}]},
    ]
    # The server's JSON is the editor's, attribute for attribute, except that null node
    # attributes (a cell's colwidth and align) are not stored at all (docs/editor.md).
    expected = stored_form(in_page)
    assert server_json(e2e_server, doc, expected) == expected
    assert_no_page_errors(ann)


def test_javascript_links_are_refused(people, e2e_server):
    doc = e2e_server.create_document(e2e_server.tokens["ann"], "Links")
    ann = open_document(people("ann"), e2e_server, doc)
    ann.click("#editor .ProseMirror")
    ann.type("docs")
    ann.press("Shift+Home")
    ann.click(button("link"))
    ann.fill(".link-form input[name=href]", "  JavaScript:alert(1)")
    ann.click(".link-form button[type=submit]")
    assert "allowed" in ann.wait(fn="() => document.querySelector('.link-form__error').textContent")
    ann.fill(".link-form input[name=href]", "example.com/guide")
    ann.click(".link-form button[type=submit]")
    link = ann.wait(
        fn="""() => { const a = document.querySelector('#editor .ProseMirror a')
            return a ? [a.getAttribute('href'), a.textContent] : null }"""
    )
    assert link == ["https://example.com/guide", "docs"]
    in_page = ann.probe(fn=EDITOR_JSON)
    assert in_page["content"][0]["content"] == [
        {
            "type": "text",
            "text": "docs",
            "marks": [
                {
                    "type": "link",
                    "attrs": {
                        "href": "https://example.com/guide",
                        "target": "_blank",
                        "rel": "noopener noreferrer nofollow",
                        "class": None,
                        "title": None,
                    },
                }
            ],
        }
    ]
    assert server_json(e2e_server, doc, stored_form(in_page)) == stored_form(in_page)
    # The extension refuses such a mark even when a script asks for it.
    assert (
        ann.probe(
            fn="""() => window.collab.editor.chain().selectAll()
            .setLink({ href: 'javascript:alert(1)' }).run()"""
        )
        is False
    )
    assert_no_page_errors(ann)


def test_presence_and_undo_of_only_my_own_edits(people, e2e_server):
    doc = e2e_server.create_document(e2e_server.tokens["ann"], "Together")
    share(e2e_server, doc, "bob", "editor")
    ann = open_document(people("ann"), e2e_server, doc)
    bob = open_document(people("bob"), e2e_server, doc)

    # Both pages list both people, by their account names, me first and marked.
    assert ann.wait(fn=PRESENCE, equals=[f"{ANN} (you)", BOB]) == [f"{ANN} (you)", BOB]
    assert bob.wait(fn=PRESENCE, equals=[f"{BOB} (you)", ANN]) == [f"{BOB} (you)", ANN]
    colours = bob.probe(
        fn="""() => Array.from(document.querySelectorAll('#presence .presence__avatar'))
            .map((a) => [a.textContent.slice(0, 2), getComputedStyle(a).backgroundColor])"""
    )
    assert colours == [["BB", "rgb(67, 99, 216)"], ["AA", "rgb(230, 25, 75)"]]

    ann.click("#editor .ProseMirror")
    ann.type("Alpha")
    bob.wait("editorText", equals="Alpha")
    focus_end(bob)
    bob.press("Enter")
    bob.type("Bravo")
    ann.wait("editorText", equals="Alpha\nBravo")
    # Close Ann's undo step (edits within 500 ms are one step) and make a second one.
    ann.probe(fn="() => { window.collab.undoManager.stopCapturing(); return true }")
    ann.type(" again")
    bob.wait("editorText", equals="Alpha again\nBravo")

    ann.click(button("undo"))
    assert ann.wait("editorText", equals="Alpha\nBravo") == "Alpha\nBravo"
    assert bob.wait("editorText", equals="Alpha\nBravo") == "Alpha\nBravo"
    # Undoing further removes Ann's first edit and never Bob's.
    ann.click(button("undo"))
    bob.wait(fn="() => !window.collab.editor.getText().includes('Alpha')")
    assert "Bravo" in ann.probe("editorText")
    assert "Bravo" in bob.probe("editorText")
    assert ann.probe(fn="() => document.querySelector('[data-command=undo]').disabled") is True
    ann.click(button("redo"))
    ann.click(button("redo"))
    assert bob.wait("editorText", equals="Alpha again\nBravo") == "Alpha again\nBravo"
    # Bob's undo undoes Bob's paragraph, not Ann's text.
    bob.click(button("undo"))
    assert ann.wait("editorText", equals="Alpha again") == "Alpha again"

    # A viewer joining sees everyone under their account names; then Bob leaves, and both
    # remaining pages drop him live.
    share(e2e_server, doc, "val", "viewer")
    val = open_document(people("val"), e2e_server, doc, status="synced · read-only")
    assert val.wait(fn=PRESENCE, equals=[f"{VAL} (you)", ANN, BOB])
    assert ann.wait(fn=PRESENCE, equals=[f"{ANN} (you)", BOB, VAL])
    bob.goto(f"{e2e_server.base_url}/")
    assert ann.wait(fn=PRESENCE, equals=[f"{ANN} (you)", VAL], timeout=5)
    assert val.wait(fn=PRESENCE, equals=[f"{VAL} (you)", ANN], timeout=5)
    val.goto(f"{e2e_server.base_url}/")
    assert ann.wait(fn=PRESENCE, equals=[f"{ANN} (you)"], timeout=5)
    assert_no_page_errors(ann, bob, val)


# What a stock y-websocket client sends after applying someone else's awareness state: that
# state again, same clock (the provider re-sends every awareness change it applies). Our
# editor page no longer does (editor.js, sendOnlyMyAwareness); this sends it by hand.
ECHO_OTHERS_AWARENESS = """() => {
    const { provider } = window.collab
    const { awareness } = provider
    const varUint = (out, n) => {
        while (n > 127) { out.push((n & 127) | 128); n = Math.floor(n / 128) }
        out.push(n)
    }
    const others = Array.from(awareness.getStates().keys())
        .filter((id) => id !== awareness.clientID)
    const update = []
    varUint(update, others.length)
    for (const id of others) {
        varUint(update, id)
        varUint(update, awareness.meta.get(id).clock)
        const text = new TextEncoder().encode(JSON.stringify(awareness.getStates().get(id)))
        varUint(update, text.length)
        update.push(...text)
    }
    const frame = [1]  // messageAwareness, then the update as a varUint8Array
    varUint(frame, update.length)
    frame.push(...update)
    provider.ws.send(new Uint8Array(frame))
    return others.length
}"""


def test_a_stock_client_echo_does_not_keep_a_departed_person_present(people, e2e_server):
    doc = e2e_server.create_document(e2e_server.tokens["ann"], "Echo")
    share(e2e_server, doc, "bob", "editor")
    ann = open_document(people("ann"), e2e_server, doc)
    bob = open_document(people("bob"), e2e_server, doc)
    assert ann.wait(fn=PRESENCE, equals=[f"{ANN} (you)", BOB])
    assert ann.probe(fn=ECHO_OTHERS_AWARENESS) == 1
    time.sleep(0.3)
    bob.goto(f"{e2e_server.base_url}/")
    # y-protocols drops a silent remote state only after 30 s; the server should say at once.
    ann.wait(fn=PRESENCE, equals=[f"{ANN} (you)"], timeout=4)


def test_viewer_gets_the_view_only_badge_and_no_toolbar(people, e2e_server):
    doc = e2e_server.create_document(e2e_server.tokens["ann"], "Read me")
    share(e2e_server, doc, "val", "viewer")
    val = open_document(people("val"), e2e_server, doc, status="synced · read-only")
    assert val.probe("editable") == "false"
    assert val.probe(fn=VISIBLE, arg="#view-only-badge") is True
    assert val.text("#view-only-badge").strip() == "view only"
    assert val.probe(fn=VISIBLE, arg="#editor-toolbar") is False
    assert val.probe(fn=BADGE) == "connected"
    assert val.wait(fn=PRESENCE, equals=[f"{VAL} (you)"])
    assert_no_page_errors(val)


def test_removed_member_switches_to_read_only_live(people, e2e_server):
    doc = e2e_server.create_document(e2e_server.tokens["ann"], "Revocable")
    share(e2e_server, doc, "bob", "editor")
    ann = open_document(people("ann"), e2e_server, doc)
    bob = open_document(people("bob"), e2e_server, doc)
    bob.click("#editor .ProseMirror")
    bob.type("Bob was here")
    ann.wait("editorText", equals="Bob was here")
    ann.wait(fn=PRESENCE, equals=[f"{ANN} (you)", BOB])
    status, body = e2e_server.api("GET", f"/api/documents/{doc}/members/", e2e_server.tokens["ann"])
    assert status == 200, body
    bob_id = next(m["user_id"] for m in body["members"] if m["email"] == "bob@example.com")

    status, _ = e2e_server.api(
        "DELETE", f"/api/documents/{doc}/members/{bob_id}/", e2e_server.tokens["ann"]
    )
    assert status == 204

    message = bob.wait(fn=ALERT, contains="You no longer have access to this document")
    assert "You no longer have access to this document" in message
    assert bob.wait("editable", equals="false") == "false"
    assert bob.probe(fn=BADGE) == "disconnected"
    assert bob.probe(fn=VISIBLE, arg="#view-only-badge") is True
    assert bob.probe(fn=VISIBLE, arg="#editor-toolbar") is False
    assert ann.wait(fn=PRESENCE, equals=[f"{ANN} (you)"])
    # The client stopped: no socket now, nor after y-websocket's longest backoff.
    stopped = "() => window.collab.provider.ws === null && !window.collab.provider.shouldConnect"
    assert bob.wait(fn=stopped)
    time.sleep(3.0)
    assert bob.probe(fn=stopped) is True
    bob.type("more")  # typing does nothing now
    assert bob.probe("modelText") == "Bob was here"
    assert ann.probe("editorText") == "Bob was here"
    assert_no_page_errors(ann, bob)


def test_demoted_editor_gets_a_view_only_page_live(people, e2e_server):
    doc = e2e_server.create_document(e2e_server.tokens["ann"], "Demotion")
    share(e2e_server, doc, "bob", "editor")
    bob = open_document(people("bob"), e2e_server, doc)
    assert bob.probe(fn=VISIBLE, arg="#editor-toolbar") is True
    bob.probe(fn="() => { window.__before_role_change = true; return true }")
    status, body = e2e_server.api("GET", f"/api/documents/{doc}/members/", e2e_server.tokens["ann"])
    assert status == 200, body
    bob_id = next(m["user_id"] for m in body["members"] if m["email"] == "bob@example.com")

    status, body = e2e_server.api(
        "PATCH",
        f"/api/documents/{doc}/members/{bob_id}/",
        e2e_server.tokens["ann"],
        {"role": "viewer"},
    )
    assert status == 200, body
    # 4100: the page reloads and renders for a viewer.
    bob.wait(fn="() => window.__before_role_change === undefined")
    assert bob.wait("status", equals="synced · read-only")
    assert bob.probe("editable") == "false"
    assert bob.probe(fn=VISIBLE, arg="#view-only-badge") is True
    assert bob.probe(fn=VISIBLE, arg="#editor-toolbar") is False
    assert bob.probe(fn=ALERT) is None
    assert_no_page_errors(bob)


def test_editing_through_a_server_outage_syncs_once(people, e2e_server):
    doc = e2e_server.create_document(e2e_server.tokens["ann"], "Outage")
    ann = open_document(people("ann"), e2e_server, doc)
    ann.click("#editor .ProseMirror")
    ann.type("before")
    assert server_text(e2e_server, doc, "before") == "before"

    e2e_server.terminate()
    try:
        assert ann.wait(fn=BADGE, contains="reconnecting") == "reconnecting…"
        assert ann.probe("editable") == "true"
        ann.press("End")
        ann.type(" during")
        ann.press("Enter")
        ann.type("second line")
        assert ann.probe("editorText") == "before during\nsecond line"
        assert ann.wait(fn=VISIBLE, arg="#unsent-changes")
        assert ann.probe(fn=BADGE) == "reconnecting…"
    finally:
        e2e_server.start()

    expected = "before during\nsecond line"
    assert ann.wait(fn=BADGE, equals="connected", timeout=15) == "connected"
    assert server_text(e2e_server, doc, expected) == expected
    assert ann.probe(fn=VISIBLE, arg="#unsent-changes") is False
    # A second page sees the text exactly once.
    bob_view = e2e_server.content(e2e_server.tokens["ann"], doc, "json")
    assert json.dumps(bob_view).count("during") == 1
    assert ann.probe("editorText") == expected
    assert_no_page_errors(ann)


def test_expired_session_keeps_edits_and_sends_them_after_signing_in(people, e2e_server):
    doc = e2e_server.create_document(e2e_server.tokens["ann"], "Session")
    ann = open_document(people("ann"), e2e_server, doc)
    ann.click("#editor .ProseMirror")
    ann.type("kept")
    assert server_text(e2e_server, doc, "kept") == "kept"

    # Ann's session ends on the server; her socket drops and reconnects without one.
    e2e_server.manage(
        "shell",
        "-c",
        "from django.contrib.sessions.models import Session\n"
        "from accounts.models import User\n"
        "ann = str(User.objects.get(email='ann@example.com').pk)\n"
        "for s in Session.objects.all():\n"
        "    if s.get_decoded().get('_auth_user_id') == ann:\n"
        "        s.delete()\n",
    )
    ann.probe(fn="() => { window.collab.provider.ws.close(); return true }")
    message = ann.wait(fn=ALERT, contains="Your session expired")
    assert "Your session expired — sign in again" in message
    assert ann.probe(fn=BADGE) == "signed out"
    assert ann.probe("editable") == "true"
    assert ann.attr("#editor-alert a", "href") == f"/accounts/login/?next=%2Fdocuments%2F{doc}%2F"
    assert ann.attr("#editor-alert a", "target") == "_blank"

    focus_end(ann)
    ann.type(" and unsent")
    assert ann.probe("editorText") == "kept and unsent"
    time.sleep(0.5)
    assert e2e_server.content(e2e_server.tokens["ann"], doc, "text") == "kept"

    # Sign in again (what the new tab does), then Reconnect.
    signed_in = ann.probe(
        fn="""async (password) => {
        const form = await (await fetch('/accounts/login/')).text()
        const token = /name="csrfmiddlewaretoken" value="([^"]+)"/.exec(form)[1]
        const body = new URLSearchParams({ csrfmiddlewaretoken: token,
            login: 'ann@example.com', password })
        const response = await fetch('/accounts/login/', { method: 'POST', body })
        return new URL(response.url).pathname
    }""",
        arg=PASSWORD,
    )
    assert signed_in == "/"
    ann.click('#editor-alert button[data-action="reconnect"]')
    assert ann.wait(fn=BADGE, equals="connected") == "connected"
    assert ann.wait(fn=ALERT, equals=None) is None
    assert server_text(e2e_server, doc, "kept and unsent") == "kept and unsent"
    assert_no_page_errors(ann)

    log = e2e_server.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-6000:]
