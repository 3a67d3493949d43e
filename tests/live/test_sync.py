"""Live server, real clients: JS Yjs clients under node and a pycrdt client on one document."""

import gzip
import json
import time

import pytest

from ..shared_data import trace_path
from .clients import JSClient, PyClient
from .server import LiveServer

pytestmark = pytest.mark.live

TRACE = trace_path("json-crdt-blog-post.json.gz")


def shared_document(live, title="Shared") -> str:
    tokens = live.tokens
    document_id = live.create_document(tokens["ann"], title)
    for name, role in (("bob", "editor"), ("val", "viewer")):
        status, _ = live.api(
            "POST",
            f"/api/documents/{document_id}/members/",
            tokens["ann"],
            {"email": f"{name}@example.com", "role": role},
        )
        assert status == 202
    return document_id


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


def test_two_js_clients_and_a_python_client_converge(live, clients):
    document_id = shared_document(live)
    js_ann = JSClient(live.ws_base, document_id, live.tokens["ann"])
    js_bob = JSClient(live.ws_base, document_id, live.tokens["bob"])
    py_ann = PyClient(live.ws_base, document_id, live.tokens["ann"])
    clients.extend([js_ann, js_bob, py_ann])
    js_ann.call("wait_synced")
    js_bob.call("wait_synced")
    py_ann.wait_synced()

    # Concurrent edits: nobody waits for anybody between their own edits.
    for i in range(15):
        js_ann.call("append_paragraph", text=f"js-ann {i}")
        js_bob.call("append_paragraph", text=f"js-bob {i}")
        py_ann.append_paragraph(f"py-ann {i}")
    js_ann.call("insert_text", name="notes", index=0, text="from js ")
    py_ann.insert_text("notes", 0, "from py ")

    a = js_ann.call("wait_paragraphs", count=45)["paragraphs"]
    b = js_bob.call("wait_paragraphs", count=45)["paragraphs"]
    wait_until(lambda: len(py_ann.paragraphs()) == 45, message="python client to get 45 paragraphs")
    assert a == b == py_ann.paragraphs()
    assert sorted(a) == sorted(
        [f"{who} {i}" for who in ("js-ann", "js-bob", "py-ann") for i in range(15)]
    )
    wait_until(lambda: len(py_ann.text("notes")) == 16, message="notes text")
    notes = js_bob.call("wait_text", name="notes", equals=py_ann.text("notes"))
    assert notes["ok"]

    # A later client gets the full content, and so does the API (from the stored log).
    late = JSClient(live.ws_base, document_id, live.tokens["bob"])
    clients.append(late)
    late.call("wait_synced")
    assert late.call("paragraphs")["paragraphs"] == a
    wait_until(
        lambda: live.content(live.tokens["ann"], document_id).split("\n") == a,
        message="stored content",
    )


def test_viewer_edits_are_not_applied_anywhere(live, clients):
    document_id = shared_document(live, "Viewer test")
    viewer = JSClient(live.ws_base, document_id, live.tokens["val"])
    editor = JSClient(live.ws_base, document_id, live.tokens["ann"])
    clients.extend([viewer, editor])
    viewer.call("wait_synced")
    editor.call("wait_synced")
    viewer.call("append_paragraph", text="viewer was here")
    editor.call("append_paragraph", text="editor marker")
    # The viewer still receives: its socket stayed open.
    viewer.call("wait_paragraphs", count=2)
    assert editor.call("wait_paragraphs", count=1)["paragraphs"] == ["editor marker"]
    status = viewer.call("status")
    assert status["connected"] and not status["closeCodes"]
    fresh = JSClient(live.ws_base, document_id, live.tokens["bob"])
    clients.append(fresh)
    fresh.call("wait_synced")
    assert fresh.call("paragraphs")["paragraphs"] == ["editor marker"]
    wait_until(
        lambda: live.content(live.tokens["ann"], document_id) == "editor marker",
        message="the editor's paragraph to be written",
    )
    assert live.content(live.tokens["ann"], document_id) == "editor marker"


def test_refusals_use_documented_close_codes(live, clients):
    document_id = live.create_document(live.tokens["ann"], "Private")
    outsider = JSClient(live.ws_base, document_id, live.tokens["bob"])
    clients.append(outsider)
    wait_until(lambda: 4403 in outsider.call("status")["closeCodes"], message="4403")
    bad = JSClient(live.ws_base, document_id, "cpat_not-a-token")
    clients.append(bad)
    wait_until(lambda: 4401 in bad.call("status")["closeCodes"], message="4401")


def test_connect_token_opens_the_socket(live, clients):
    document_id = live.create_document(live.tokens["ann"], "Token")
    status, body = live.api(
        "POST", f"/api/documents/{document_id}/connect-token/", live.tokens["ann"]
    )
    assert status == 200
    client = JSClient(live.ws_base, document_id, body["token"])
    clients.append(client)
    client.call("wait_synced")


@pytest.mark.parametrize("vendor", ["sqlite", "postgresql"])
def test_kill_9_right_after_the_last_edit_loses_nothing(
    vendor, live_database_factory, tmp_path, clients
):
    """Default mode (relay when accepted, write within FLUSH_DELAY): the process dies with
    edits not yet written; the clients reconnect to its successor and re-send them."""
    database = live_database_factory(vendor)
    server = LiveServer(tmp_path, database, extra_env={"COLLAB_FLUSH_DELAY": "5"})
    server.migrate()
    server.start()
    try:
        token = server.user_token("ann@example.com")
        document_id = server.create_document(token, "Durable")
        writer = JSClient(server.ws_base, document_id, token)
        watcher = JSClient(server.ws_base, document_id, token)
        clients.extend([writer, watcher])
        writer.call("wait_synced")
        watcher.call("wait_synced")
        for i in range(40):
            writer.call("append_paragraph", text=f"paragraph {i}")
        writer.call("insert_text", name="t", index=0, text="last edit")
        watcher.call("wait_text", name="t", equals="last edit")
        before = watcher.call("paragraphs")["paragraphs"]
        # Relayed but (with a 5 s gathering delay) certainly not written yet.
        server.kill9()
        server.start()
        # Both clients reconnect by themselves and sync: the successor gets everything back.
        fresh = JSClient(server.ws_base, document_id, token)
        clients.append(fresh)
        fresh.call("wait_synced")
        fresh.call("wait_text", name="t", equals="last edit", timeout=30)
        wait_until(
            lambda: fresh.call("paragraphs")["paragraphs"] == before,
            timeout=30,
            message="the re-sent paragraphs",
        )
        wait_until(
            lambda: server.content(token, document_id).split("\n") == before,
            timeout=30,
            message="the re-sent edits to be written",
        )
    finally:
        server.terminate()


@pytest.mark.parametrize("vendor", ["sqlite", "postgresql"])
def test_strict_mode_kill_9_loses_nothing_anyone_saw_even_if_every_client_leaves(
    vendor, live_database_factory, tmp_path, clients
):
    """COLLAB_RELAY_AFTER_COMMIT: what a collaborator saw is on disk, whatever happens next."""
    database = live_database_factory(vendor)
    server = LiveServer(tmp_path, database, extra_env={"COLLAB_RELAY_AFTER_COMMIT": "1"})
    server.migrate()
    server.start()
    try:
        token = server.user_token("ann@example.com")
        document_id = server.create_document(token, "Durable")
        writer = JSClient(server.ws_base, document_id, token)
        watcher = PyClient(server.ws_base, document_id, token)
        clients.extend([writer, watcher])
        writer.call("wait_synced")
        watcher.wait_synced()
        for i in range(40):
            writer.call("append_paragraph", text=f"paragraph {i}")
        writer.call("insert_text", name="t", index=0, text="last edit")
        # The last edit has reached the server once another client sees it: kill at once.
        wait_until(lambda: watcher.text("t") == "last edit", message="watcher to see the last edit")
        before = watcher.paragraphs()
        server.kill9()
        writer.close()
        watcher.close()

        server.start()
        fresh = JSClient(server.ws_base, document_id, token)
        clients.append(fresh)
        fresh.call("wait_synced")
        assert fresh.call("paragraphs")["paragraphs"] == before
        assert fresh.call("text", name="t")["text"] == "last edit"
        assert server.content(token, document_id).split("\n") == before
    finally:
        server.terminate()


def test_trace_replay_then_fresh_client_and_after_restart(tmp_path, live_database_factory, clients):
    trace = json.loads(gzip.open(TRACE).read())
    database = live_database_factory()
    server = LiveServer(tmp_path, database)
    server.migrate()
    server.start()
    try:
        token = server.user_token("ann@example.com")
        document_id = server.create_document(token, "Trace")
        typist = JSClient(server.ws_base, document_id, token)
        clients.append(typist)
        typist.call("wait_synced")
        result = typist.call("replay_trace", path=str(TRACE), name="trace", timeout=600)
        assert result["endMatches"]
        fresh = JSClient(server.ws_base, document_id, token)
        clients.append(fresh)
        fresh.call("wait_synced")
        fresh.call("wait_text", name="trace", equals=trace["endContent"], timeout=120)
        typist.close()
        fresh.close()
        # A graceful stop (SIGTERM) must flush whatever is still queued.
        assert server.terminate() == 0
        server.start()
        after = JSClient(server.ws_base, document_id, token)
        clients.append(after)
        after.call("wait_synced")
        after.call("wait_text", name="trace", equals=trace["endContent"], timeout=120)
    finally:
        server.terminate()


def test_sigterm_writes_updates_still_queued(tmp_path, live_database_factory, clients):
    database = live_database_factory()
    # A long gathering delay keeps the updates queued (received, not yet written) when
    # SIGTERM arrives; Daphne cancels consumers without disconnect(), so only the
    # shutdown hook can write them.
    server = LiveServer(tmp_path, database, extra_env={"COLLAB_FLUSH_DELAY": "60"})
    server.migrate()
    server.start()
    try:
        token = server.user_token("ann@example.com")
        document_id = server.create_document(token, "Shutdown")
        writer = PyClient(server.ws_base, document_id, token)
        writer.wait_synced()
        for i in range(20):
            writer.append_paragraph(f"queued {i}")
        time.sleep(1.0)  # let the frames arrive; nothing is written for 60 s
        assert server.terminate(timeout=30) == 0
        assert "flushed 1 rooms before shutdown" in server.log()
        writer.close()
        server.start()
        assert server.content(token, document_id).split("\n") == [f"queued {i}" for i in range(20)]
    finally:
        server.terminate()


def test_hostile_updates_do_not_take_the_server_down(live, clients):
    import asyncio

    import websockets

    from collab import protocol

    document_id = live.create_document(live.tokens["ann"], "Hostile")
    # 60k nested Any arrays (~120 KB): pycrdt's apply_update dies of a native stack
    # overflow (SIGSEGV) on it; the guard must refuse it first.
    depth = 60_000
    deep_any = b"\x75\x01" * depth + b"\x7e"
    item = b"\x08" + b"\x01" + b"\x04root" + b"\x01" + deep_any  # ContentAny in map "root"
    deep_update = b"\x01\x01\x2a\x00" + item + b"\x00"

    async def attack() -> list:
        codes = []
        url = f"{live.ws_base}/{document_id}?token={live.tokens['ann']}"
        for frame in (protocol.update_message(deep_update), b"\x00\x02\xff\xff\xff\xff", b"\x09"):
            async with websockets.connect(url, max_size=None) as ws:
                await ws.send(frame)
                try:
                    while True:
                        await asyncio.wait_for(ws.recv(), 5)
                except websockets.ConnectionClosed as exc:
                    codes.append(exc.rcvd.code if exc.rcvd else None)
        return codes

    assert asyncio.run(attack()) == [4400, 4400, 4400]
    assert live.process.poll() is None
    client = JSClient(live.ws_base, document_id, live.tokens["ann"])
    clients.append(client)
    client.call("wait_synced")
    client.call("append_paragraph", text="still alive")
    wait_until(
        lambda: live.content(live.tokens["ann"], document_id) == "still alive",
        message="the document to work after the attack",
    )


def test_a_large_paste_in_one_frame_is_accepted(live, clients):
    # ~3 MB in one update, sent as one WebSocket frame (as browsers do): Daphne's separate
    # 1 MiB frame limit must be raised along with the message limit.
    document_id = live.create_document(live.tokens["ann"], "Big paste")
    writer = PyClient(live.ws_base, document_id, live.tokens["ann"])
    clients.append(writer)
    writer.wait_synced()
    big = "lorem ipsum dolor sit amet " * 110_000
    writer.append_paragraph(big)
    wait_until(
        lambda: live.content(live.tokens["ann"], document_id) == big,
        timeout=30,
        message="the 3 MB paragraph to be stored",
    )
    assert writer.close_code is None
