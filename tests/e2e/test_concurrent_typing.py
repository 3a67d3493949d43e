"""Two people typing at the same moment, in different paragraphs and in the same one, end
with identical text holding both inputs intact; each sees the other's caret label."""

import threading

import pytest

from .conftest import PEOPLE, Browser, sign_in

pytestmark = pytest.mark.browser

# Tiptap's focus command focuses on the next animation frame: keys sent before are lost.
FOCUSED = "() => document.activeElement?.classList.contains('ProseMirror') ?? false"


def at_once(*actions) -> None:
    """Run each action in its own thread (each page has its own browser process)."""
    errors = []

    def run(action):
        try:
            action()
        except Exception as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if errors:
        raise errors[0]


def test_typing_at_the_same_time(browser, e2e_server):
    server = e2e_server
    document_id = server.create_document(server.tokens["ann"], "Together")
    server.api(
        "POST",
        f"/api/documents/{document_id}/members/",
        server.tokens["ann"],
        {"email": "bob@example.com", "role": "editor"},
    )
    # A second browser process, so both people really type concurrently.
    other_browser = Browser()
    try:
        ann = browser.page("ct-ann")
        bob = other_browser.page("ct-bob")
        for page, name in ((ann, "ann"), (bob, "bob")):
            sign_in(page, server, name, check_name=False)
            page.goto(f"{server.base_url}/documents/{document_id}/")
            page.wait("status", equals="synced")
        ann.click("#editor .ProseMirror")
        ann.type("first")
        ann.press("Enter")
        ann.type("second")
        bob.wait("modelText", contains="second")

        # Different paragraphs, at the same time.
        # Caret at the end of the first paragraph. (Set directly: under CPU load a click's
        # caret could land after Bob's first keys had re-rendered the paragraph, sending
        # Ann's words to the end of the document.)
        to_first_end = (
            "() => { const e = window.collab.editor;"
            " return e.chain().focus().setTextSelection(e.state.doc.child(0).nodeSize - 1).run() }"
        )

        def ann_types_in_first():
            ann.probe(fn=to_first_end)
            ann.wait(fn=FOCUSED, equals=True)
            ann.type(" alpha-alpha-alpha", delay=15)

        # Caret at the end of the document (the end of the second paragraph), as a click
        # after the last word would put it.
        to_end = "() => window.collab.editor.commands.focus('end')"

        def bob_types_in_second():
            bob.probe(fn=to_end)
            bob.wait(fn=FOCUSED, equals=True)
            bob.type(" bravo-bravo-bravo", delay=15)

        at_once(ann_types_in_first, bob_types_in_second)

        # The same paragraph, at the same time.
        # Ann at the start of the second paragraph while Bob types at its end. (Two carets
        # at the very same spot have no single right answer for whose next letter goes
        # first; different spots in one paragraph are what people do.)
        to_second_start = (
            "() => { const e = window.collab.editor;"
            " return e.chain().focus().setTextSelection(e.state.doc.child(0).nodeSize + 1).run() }"
        )

        def ann_types_in_second():
            ann.probe(fn=to_second_start)
            ann.wait(fn=FOCUSED, equals=True)
            ann.type("[ann-was-here] ", delay=15)

        def bob_types_in_second_too():
            bob.probe(fn=to_end)
            bob.wait(fn=FOCUSED, equals=True)
            bob.type(" [bob-was-here]", delay=15)

        at_once(ann_types_in_second, bob_types_in_second_too)

        def both_inputs(text):
            return text and all(
                part in text
                for part in (
                    "alpha-alpha-alpha",
                    "bravo-bravo-bravo",
                    "[ann-was-here]",
                    "[bob-was-here]",
                )
            )

        probe = "() => window.collab.editor.getText()"
        for page in (ann, bob):
            page.wait(
                fn=probe + " && ['alpha-alpha-alpha','bravo-bravo-bravo','[ann-was-here]',"
                "'[bob-was-here]'].every((p) => window.collab.editor.getText().includes(p))",
                equals=True,
                timeout=15,
            )
        ann_text = ann.probe(fn=probe)
        bob_text = bob.probe(fn=probe)
        assert ann_text == bob_text
        assert both_inputs(ann_text)
        first, second = ann_text.split("\n\n") if "\n\n" in ann_text else ann_text.split("\n")
        # Each input is intact and where its author typed it. (Spaces typed at the very end
        # of a paragraph are the browser's to normalise, so only the words are compared.)
        assert first.startswith("first") and "alpha-alpha-alpha" in first
        assert second.startswith("[ann-was-here]") and "second" in second
        assert "bravo-bravo-bravo" in second and "[bob-was-here]" in second

        # Each sees the other's caret label, named from the account.
        labels = (
            "() => Array.from(document.querySelectorAll('.collaboration-carets__label'))"
            ".map((l) => l.textContent)"
        )
        assert PEOPLE["bob"]["display_name"] in ann.wait(fn=labels + ".join('|')", contains="Bob")
        assert PEOPLE["ann"]["display_name"] in bob.wait(fn=labels + ".join('|')", contains="Ann")
        # And the stored document matches what both pages show.
        flat = ann_text.replace("\n", "")
        stored = server.content_when(
            server.tokens["ann"], document_id, "text", lambda c: c.replace("\n", "") == flat
        )
        assert stored.replace("\n", "") == flat
    finally:
        other_browser.close()
