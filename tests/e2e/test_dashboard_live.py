"""The dashboard updates live: a document appears on B's dashboard the moment A shares it,
its new title shows up when renamed, and it disappears when A deletes it; no reload."""

import pytest

from .conftest import sign_in

pytestmark = pytest.mark.browser


def test_sharing_renaming_and_deleting_show_up_live(browser, e2e_server):
    server = e2e_server
    bob = browser.page("dash-bob")
    sign_in(bob, server, "bob")
    # The per-user socket is open before anything happens.
    bob.wait(fn="() => document.getElementById('documents').dataset.live", equals="connected")

    document_id = server.create_document(server.tokens["ann"], "Quarterly plan")
    status, _ = server.api(
        "POST",
        f"/api/documents/{document_id}/members/",
        server.tokens["ann"],
        {"email": "bob@example.com", "role": "editor"},
    )
    assert status == 202
    row = f"#doc-{document_id}"
    bob.wait(fn=f"() => !!document.querySelector('{row}')", equals=True)
    assert bob.text(f"{row} [data-field=title]") == "Quarterly plan"
    notice = bob.wait(
        fn="() => document.getElementById('notifications').textContent", contains="shared"
    )
    assert "Quarterly plan" in notice

    server.api("PATCH", f"/api/documents/{document_id}/", server.tokens["ann"], {"title": "Q3"})
    bob.wait(
        fn=f"() => document.querySelector('{row} [data-field=title]').textContent", equals="Q3"
    )

    server.api("DELETE", f"/api/documents/{document_id}/", server.tokens["ann"])
    bob.wait(fn=f"() => !document.querySelector('{row}')", equals=True)
    # Without any reload: the page is the same one the test started with.
    assert bob.url == f"{server.base_url}/"
    bob.close()
