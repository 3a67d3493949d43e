"""Version history in Chromium: browse sessions, preview an old version, restore it while
a collaborator's editor is open, and see it arrive there live with nothing duplicated."""

import re

import pytest

from .conftest import sign_in

pytestmark = pytest.mark.browser

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def test_restore_from_the_history_page_reaches_open_editors(browser, e2e_server):
    ann = browser.page("ann-history")
    sign_in(ann, e2e_server, "ann")
    ann.fill("form.create-form input[name=title]", "History notes")
    ann.select("form.create-form select[name=kind]", "text")
    ann.click("form.create-form button[type=submit]")
    url = ann.wait_url(rf"^{re.escape(e2e_server.base_url)}/documents/{UUID}/$")
    document_id = re.search(UUID, url).group(0)
    ann.wait("status", equals="synced")
    ann.click("#editor .ProseMirror")
    ann.type("First draft")
    ann.wait("editorText", equals="First draft")

    status, body = e2e_server.api(
        "POST",
        f"/api/documents/{document_id}/members/",
        e2e_server.tokens["ann"],
        {"email": "bob@example.com", "role": "editor"},
    )
    assert status == 202, body
    bob = browser.page("bob-history")
    sign_in(bob, e2e_server, "bob")
    bob.goto(url)
    bob.wait("status", equals="synced")
    bob.wait("editorText", equals="First draft")
    bob.click("#editor .ProseMirror")
    bob.press("End")
    bob.type(" and more from Bob")
    ann.wait("editorText", equals="First draft and more from Bob")

    # Ann opens the history from the document page: Bob's session is newest.
    history = browser.page("ann-history-tab")
    sign_in(history, e2e_server, "ann", check_name=False)
    history.goto(url)
    history.click("a.history-link")
    history.wait_url(rf"/documents/{document_id}/history/$")
    sessions = history.probe(
        fn="() => [...document.querySelectorAll('#history-sessions .edit-session')]"
        ".map(li => li.querySelector('.history-item__who').textContent.trim())"
    )
    assert sessions[:2] == ["Bob Baker", "Ann Archer"], sessions
    assert "First draft and more from Bob" in history.text("#history-preview .history-content")

    # Preview Ann's session: the document as it was then, without touching the live one.
    history.click("#history-sessions .edit-session:nth-child(2) a")
    history.wait(
        fn="() => document.querySelector('#history-preview .history-content')?.textContent.trim()",
        equals="First draft",
    )
    assert bob.probe("editorText") == "First draft and more from Bob"

    history.accept_dialogs()
    history.click("#history-preview button.restore-version")
    history.wait_url(rf"^{re.escape(url)}$")

    # Both open editors show the restored version, once.
    bob.wait("editorText", equals="First draft", timeout=15)
    ann.wait("editorText", equals="First draft", timeout=15)
    history.wait("editorText", equals="First draft", timeout=15)

    # Bob keeps typing after the restore: it merges normally, nothing comes back.
    bob.press("End")
    bob.type("!")
    ann.wait("editorText", equals="First draft!")

    history.goto(f"{url}history/")
    restored = history.text("#history-sessions .edit-session--restore .history-item__meta")
    assert restored.startswith("Restored version")
    stored = e2e_server.content_when(
        e2e_server.tokens["ann"], document_id, "text", lambda c: c == "First draft!"
    )
    assert stored == "First draft!"
    for page in (ann, bob, history):
        assert not page.diagnostics()["errors"]
        page.close()
