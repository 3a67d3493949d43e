"""Webhooks on a live Daphne: a real JS client's edits reach a real receiver, signed; member
events arrive; a hanging or failing receiver never holds up editing."""

import json
import time

import pytest

from collab.webhooks import signature_valid
from tests.collab.test_webhooks import Receiver

from .clients import JSClient
from .server import LiveDatabase, LiveServer

pytestmark = pytest.mark.live


def wait_until(predicate, timeout=30.0, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {message}")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A server whose webhook worker runs in-process with short debounce and retry delays;
    local settings allow the loopback receivers."""
    tmp_path = tmp_path_factory.mktemp("live-webhooks")
    database = LiveDatabase(tmp_path)
    server = LiveServer(
        tmp_path,
        database,
        extra_env={
            "WEBHOOK_WORKER": "process",
            "WEBHOOK_DEBOUNCE_SECONDS": "0.5",
            "WEBHOOK_POLL_SECONDS": "0.2",
            "WEBHOOK_RETRY_DELAYS": "0.5,1,1,1,1",
            "WEBHOOK_TIMEOUT_SECONDS": "30",
        },
    )
    server.migrate()
    server.start()
    server.tokens = {name: server.user_token(f"{name}@example.com") for name in ("ann", "bob")}
    yield server
    server.terminate()
    database.drop()


@pytest.fixture
def receiver():
    made = []

    def make(statuses=()):
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for item in made:
        item.close()


@pytest.fixture
def clients():
    opened = []
    yield opened
    for client in opened:
        client.close()


def hook_create(live, url: str, document_id=None, events=None) -> dict:
    body = {"url": url}
    if document_id:
        body["document"] = document_id
    if events:
        body["events"] = events
    status, hook = live.api("POST", "/api/webhooks/", live.tokens["ann"], body)
    assert status == 201, hook
    return hook


def received(target, event: str) -> list[dict]:
    return [
        {"payload": json.loads(r["body"]), **r}
        for r in target.requests
        if r["headers"].get("X-Collab-Event") == event
    ]


def test_js_edit_reaches_the_receiver_as_signed_document_changed(live, receiver, clients):
    target = receiver()
    document_id = live.create_document(live.tokens["ann"], "Hooked live")
    hook = hook_create(live, target.url, document_id, ["document.changed"])
    ann = JSClient(live.ws_base, document_id, live.tokens["ann"])
    clients.append(ann)
    ann.call("wait_synced")
    ann.call("append_paragraph", text="hello from yjs")

    def has_text():
        return any(
            "hello from yjs" in (r["payload"]["data"].get("text") or "")
            for r in received(target, "document.changed")
        )

    wait_until(has_text, message="document.changed with the new text")
    request = next(
        r for r in received(target, "document.changed") if "hello" in r["payload"]["data"]["text"]
    )
    headers = request["headers"]
    assert signature_valid(
        secret=hook["secret"],
        timestamp=headers["X-Collab-Timestamp"],
        body=request["body"],
        signature=headers["X-Collab-Signature"],
    )
    payload = request["payload"]
    assert payload["document"]["id"] == document_id
    assert payload["actor"]["email"] == "ann@example.com"
    assert "<p>hello from yjs</p>" in payload["data"]["html"]

    def log_shows_success():
        status, body = live.api(
            "GET", f"/api/webhooks/{hook['id']}/deliveries/", live.tokens["ann"]
        )
        assert status == 200, body
        return any(d["status"] == "succeeded" for d in body["deliveries"])

    wait_until(log_shows_success, message="a succeeded delivery in the owner's log")


def test_member_added_reaches_a_workspace_hook(live, receiver):
    target = receiver()
    hook_create(live, target.url, events=["member.added", "member.removed"])
    document_id = live.create_document(live.tokens["ann"], "Members live")
    status, _ = live.api(
        "POST",
        f"/api/documents/{document_id}/members/",
        live.tokens["ann"],
        {"email": "bob@example.com", "role": "editor"},
    )
    assert status == 202
    wait_until(lambda: received(target, "member.added"), message="member.added")
    payload = received(target, "member.added")[0]["payload"]
    assert payload["document"]["id"] == document_id
    assert payload["data"]["user"]["email"] == "bob@example.com"
    assert payload["data"]["role"] == "editor"
    assert payload["actor"]["email"] == "ann@example.com"


@pytest.mark.parametrize("mode", ["hang", "fail"])
def test_a_hanging_or_failing_receiver_never_holds_up_editing(live, receiver, clients, mode):
    target = receiver([500] * 1000 if mode == "fail" else [])
    if mode == "hang":
        target.hang.set()
    document_id = live.create_document(live.tokens["ann"], f"Slow receiver {mode}")
    hook_create(live, target.url, document_id)
    live.api(
        "POST",
        f"/api/documents/{document_id}/members/",
        live.tokens["ann"],
        {"email": "bob@example.com", "role": "editor"},
    )
    ann = JSClient(live.ws_base, document_id, live.tokens["ann"])
    bob = JSClient(live.ws_base, document_id, live.tokens["bob"])
    clients.extend([ann, bob])
    ann.call("wait_synced")
    bob.call("wait_synced")
    # The receiver is now busy (hanging on, or refusing, the member.added delivery).
    wait_until(lambda: target.requests, message="the worker reached the receiver")

    round_trips = []
    for index in range(10):
        started = time.monotonic()
        ann.call("append_paragraph", text=f"edit {index}")
        bob.call("wait_paragraphs", count=index + 1)
        round_trips.append(time.monotonic() - started)
    assert [p for p in bob.call("paragraphs")["paragraphs"]] == [f"edit {i}" for i in range(10)]
    # Stored as well: the write path does not wait for webhooks either.
    wait_until(
        lambda: live.content(live.tokens["ann"], document_id).count("edit ") == 10,
        message="edits stored",
    )
    if mode == "hang":
        # Still hanging: every edit above went through while the worker waited on it.
        assert not target.release.is_set()
    print(f"\n{mode}: edit round trip median {sorted(round_trips)[5] * 1000:.1f} ms")
