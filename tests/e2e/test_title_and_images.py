"""The document title renamed inline reaches the other people live; images upload into the
document and are served to its members."""

import base64

import pytest

from .conftest import sign_in

pytestmark = pytest.mark.browser

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


@pytest.fixture(scope="module")
def document_pages(browser, e2e_server):
    server = e2e_server
    document_id = server.create_document(server.tokens["ann"], "Draft title")
    server.api(
        "POST",
        f"/api/documents/{document_id}/members/",
        server.tokens["ann"],
        {"email": "bob@example.com", "role": "editor"},
    )
    pages = {}
    for name in ("ann", "bob"):
        page = browser.page(f"ti-{name}")
        sign_in(page, server, name)
        page.goto(f"{server.base_url}/documents/{document_id}/")
        page.wait("status", equals="synced")
        page.wait(fn="() => document.getElementById('doc-title').dataset.live", equals="connected")
        pages[name] = page
    yield document_id, pages
    for page in pages.values():
        page.close()


def test_inline_rename_reaches_the_other_page_live(document_pages, e2e_server):
    document_id, pages = document_pages
    ann, bob = pages["ann"], pages["bob"]
    ann.click("#doc-title")
    ann.press("Control+A")
    ann.type("Final title")
    ann.press("Enter")
    bob.wait(
        fn="() => document.getElementById('doc-title').textContent.trim()",
        equals="Final title",
        timeout=10,
    )
    status, body = e2e_server.api("GET", f"/api/documents/{document_id}/", e2e_server.tokens["bob"])
    assert (status, body["title"]) == (200, "Final title")


def test_uploaded_image_is_in_the_document_for_everyone(document_pages, e2e_server, tmp_path):
    document_id, pages = document_pages
    ann, bob = pages["ann"], pages["bob"]
    image = tmp_path / "dot.png"
    image.write_bytes(PNG)
    ann.click("#editor .ProseMirror")
    ann.set_files("#image-picker", [str(image)])
    selector = "#editor img"
    src = bob.wait(
        fn=f"() => (document.querySelector('{selector}') || {{}}).getAttribute?.('src') || ''",
        contains=f"/documents/{document_id}/images/",
        timeout=10,
    )
    # The image loads for a member (the browser fetched it with Bob's session).
    bob.wait(fn=f"() => document.querySelector('{selector}').naturalWidth", equals=1, timeout=10)
    content = e2e_server.content_when(
        e2e_server.tokens["ann"],
        document_id,
        "json",
        lambda c: any(n["type"] == "image" for n in c["content"]),
    )
    images = [n for n in content["content"] if n["type"] == "image"]
    assert images and images[0]["attrs"]["src"] == src
