"""Restoring a version on a live server: connected and offline JS clients converge on it."""

import time

import pytest

from .clients import JSClient

pytestmark = pytest.mark.live


def wait_until(predicate, timeout=20.0, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {message}")


@pytest.fixture
def clients():
    opened = []
    yield opened
    for client in opened:
        client.close()


def paragraphs(client) -> list[str]:
    return client.call("paragraphs")["paragraphs"]


def stored(live, document_id) -> list[str]:
    text = live.content(live.tokens["ann"], document_id)
    return text.split("\n") if text else []


def stored_seq(live, document_id, expected: list[str]) -> int:
    """Wait until the log holds exactly `expected`, then the seq that version has."""
    wait_until(lambda: stored(live, document_id) == expected, message=f"stored {expected}")
    status, body = live.api("GET", f"/api/documents/{document_id}/versions/", live.tokens["ann"])
    assert status == 200, body
    return body["last_seq"]


def restore(live, document_id, seq: int, who: str = "ann") -> int:
    status, body = live.api(
        "POST", f"/api/documents/{document_id}/versions/at/{seq}/restore/", live.tokens[who]
    )
    assert status == 200, body
    return body["seq"]


def test_restore_reaches_connected_and_offline_clients_without_duplication(live, clients):
    document_id = live.create_document(live.tokens["ann"], "Restore live")
    status, _ = live.api(
        "POST",
        f"/api/documents/{document_id}/members/",
        live.tokens["ann"],
        {"email": "bob@example.com", "role": "editor"},
    )
    assert status == 202
    ann = JSClient(live.ws_base, document_id, live.tokens["ann"])
    bob = JSClient(live.ws_base, document_id, live.tokens["bob"])
    clients.extend([ann, bob])
    ann.call("wait_synced")
    bob.call("wait_synced")

    ann.call("append_paragraph", text="v1 a")
    bob.call("append_paragraph", text="v1 b")
    version = ["v1 a", "v1 b"]
    wait_until(lambda: sorted(stored(live, document_id)) == sorted(version), message="v1 stored")
    version = stored(live, document_id)
    version_seq = stored_seq(live, document_id, version)

    bob.call("append_paragraph", text="later bob")
    ann.call("append_paragraph", text="later ann")
    ann.call("wait_paragraphs", count=4)
    bob.call("wait_paragraphs", count=4)
    later = paragraphs(ann)
    assert paragraphs(bob) == later
    later_seq = stored_seq(live, document_id, later)

    # Restore while both are connected: both show exactly the version, once.
    new_seq = restore(live, document_id, version_seq)
    assert new_seq == later_seq + 1
    for client in (ann, bob):
        wait_until(lambda c=client: paragraphs(c) == version, message="clients to show v1")
    assert stored(live, document_id) == version

    # Bob goes offline and edits; meanwhile Ann edits and the later version is restored.
    bob.call("disconnect")
    bob.call("append_paragraph", text="offline bob")
    ann.call("append_paragraph", text="online ann")
    stored_seq(live, document_id, [*version, "online ann"])
    restore(live, document_id, later_seq)
    wait_until(lambda: paragraphs(ann) == later, message="ann to show the later version")

    bob.call("connect")
    bob.call("wait_synced")
    expected = sorted([*later, "offline bob"])
    for client in (ann, bob):
        wait_until(
            lambda c=client: sorted(paragraphs(c)) == expected,
            message="both to hold the restored text and the offline edit once",
        )
    assert paragraphs(ann) == paragraphs(bob)
    wait_until(lambda: stored(live, document_id) == paragraphs(ann), message="stored = clients")
    # A fresh client loading from the log sees the same, with nothing duplicated.
    late = JSClient(live.ws_base, document_id, live.tokens["ann"])
    clients.append(late)
    late.call("wait_synced")
    assert paragraphs(late) == paragraphs(ann)
    assert sorted(paragraphs(late)) == expected

    # History shows both restores as sessions of their own.
    status, body = live.api("GET", f"/api/documents/{document_id}/versions/", live.tokens["bob"])
    assert status == 200
    restores = [s["restored_from_seq"] for s in body["sessions"] if s["restored_from_seq"]]
    assert restores == [later_seq, version_seq]
    status, body = live.api("GET", f"/api/documents/{document_id}/versions/", live.tokens["val"])
    assert status == 404  # val is not a member of this document
