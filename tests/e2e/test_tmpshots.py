import pytest
from .test_editor_ui import open_document, share, focus_end, button, PRESENCE, people  # noqa
pytestmark = pytest.mark.browser

def test_shots(people, e2e_server, browser):
    doc = e2e_server.create_document(e2e_server.tokens["ann"], "Quarterly plan")
    share(e2e_server, doc, "bob", "editor")
    ann = open_document(people("ann"), e2e_server, doc)
    bob = open_document(people("bob"), e2e_server, doc)
    ann.click("#editor .ProseMirror")
    ann.click(button("heading-1")); ann.type("Goals"); ann.press("Enter")
    ann.type("We ship the "); ann.click(button("bold")); ann.type("editor"); ann.click(button("bold")); ann.type(" this quarter."); ann.press("Enter")
    ann.click(button("task-list")); ann.type("Toolbar"); ann.press("Enter"); ann.type("Presence"); ann.press("Enter"); ann.press("Enter")
    ann.click(button("table")); ann.type("Who"); ann.press("Tab"); ann.type("What")
    focus_end(bob); bob.type("Notes from Bob"); bob.press("Shift+Home")
    ann.wait(fn=PRESENCE, equals=["Ann Archer (you)", "Bob Baker"])
    browser.call("hover", page="ann", selector='#presence .presence__avatar:nth-child(2)')
    browser.call("screenshot", page="ann", path="/tmp/shot-ann.png", fullPage=True)
    browser.call("screenshot", page="bob", path="/tmp/shot-bob.png", fullPage=True)
    e2e_server.terminate()
    ann.wait(fn="() => document.getElementById('connection-state').textContent.includes('reconnecting')")
    focus_end(ann); ann.type("x")
    browser.call("screenshot", page="ann", path="/tmp/shot-offline.png")
    e2e_server.start()
    ann.wait(fn="() => document.getElementById('connection-state').textContent === 'connected'", timeout=15)
    print(e2e_server.content(e2e_server.tokens["ann"], doc, "json"))
    print(e2e_server.content(e2e_server.tokens["ann"], doc, "text"))
