"""Hostile sockets against a live Daphne: forged client ids, oversized frames, floods, and
the legitimate cases next to them (real JS clients going offline and re-syncing)."""

import asyncio
import time

import pytest
import websockets
from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from collab import protocol

from .clients import JSClient
from .server import LiveDatabase, LiveServer

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def hostile_live(tmp_path_factory):
    """A server whose in-app limits are small (Daphne's stay larger), with three users."""
    tmp_path = tmp_path_factory.mktemp("hostile")
    database = LiveDatabase(tmp_path)
    server = LiveServer(
        tmp_path,
        database,
        extra_env={
            "COLLAB_MAX_MESSAGE_BYTES": "200000",
            "COLLAB_UPDATES_PER_SECOND": "20",
            "COLLAB_UPDATE_BURST": "100",
        },
    )
    server.migrate()
    server.start()
    server.tokens = {n: server.user_token(f"{n}@example.com") for n in ("ann", "bob", "eve")}
    yield server
    server.terminate()
    database.drop()


@pytest.fixture
def clients():
    opened = []
    yield opened
    for client in opened:
        client.close()


def shared_document(live, title="Hostile") -> str:
    document_id = live.create_document(live.tokens["ann"], title)
    for name in ("bob", "eve"):
        status, _ = live.api(
            "POST",
            f"/api/documents/{document_id}/members/",
            live.tokens["ann"],
            {"email": f"{name}@example.com", "role": "editor"},
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


def paragraph_update(doc: Doc, text: str) -> bytes:
    before = doc.get_state()
    doc.get("default", type=XmlFragment).children.append(
        XmlElement("paragraph", {}, [XmlText(text)])
    )
    return doc.get_update(before)


async def raw_session(url: str, frames: list[bytes], listen: float = 1.0):
    """Send frames on one socket (answering the server's step 1 first); the close code."""
    ws = await websockets.connect(url, max_size=None)
    try:
        await ws.send(protocol.sync_step2_message(protocol.EMPTY_UPDATE))
        for frame in frames:
            await ws.send(frame)
        async with asyncio.timeout(listen):
            async for _ in ws:
                pass
    except websockets.ConnectionClosed:
        pass
    except TimeoutError:
        await ws.close()
        return None
    return ws.close_code


def test_forged_client_id_is_refused_and_the_victim_keeps_editing(hostile_live, clients):
    live = hostile_live
    document_id = shared_document(live)
    ann = JSClient(live.ws_base, document_id, live.tokens["ann"])
    bob = JSClient(live.ws_base, document_id, live.tokens["bob"])
    clients += [ann, bob]
    ann.call("wait_synced")
    bob.call("wait_synced")
    ann.call("append_paragraph", text="ann one")
    bob.call("wait_paragraphs", count=1)
    victim = ann.call("status")["clientId"]
    # Eve builds a well-formed update under ann's client id, at the clocks ann uses next.
    import base64

    forger = Doc(client_id=victim)
    forger.apply_update(base64.b64decode(ann.call("encode_state")["update"]))
    forged = paragraph_update(forger, "FORGED")
    url = f"{live.ws_base}/{document_id}?token={live.tokens['eve']}"
    code = asyncio.run(raw_session(url, [protocol.update_message(forged)]))
    assert code == 4400
    # Ann's next edit (the very clocks eve tried to take) reaches bob.
    ann.call("append_paragraph", text="ann two")
    assert bob.call("wait_paragraphs", count=2)["paragraphs"] == ["ann one", "ann two"]
    assert "FORGED" not in live.content(live.tokens["ann"], document_id)
    assert ann.call("status")["closeCodes"] == []


def test_offline_js_client_resyncs_its_edits_and_others(hostile_live, clients):
    live = hostile_live
    document_id = shared_document(live)
    ann = JSClient(live.ws_base, document_id, live.tokens["ann"])
    bob = JSClient(live.ws_base, document_id, live.tokens["bob"])
    clients += [ann, bob]
    ann.call("wait_synced")
    bob.call("wait_synced")
    ann.call("append_paragraph", text="before")
    bob.call("wait_paragraphs", count=1)
    bob.call("disconnect")
    ann.call("append_paragraph", text="while bob was away")
    bob.call("append_paragraph", text="bob offline")
    bob.call("connect")
    bob.call("wait_synced")
    # Bob's step 2 carries ann's "before" (the server has it) and his own new edit.
    expected = sorted(["before", "while bob was away", "bob offline"])
    ann.call("wait_paragraphs", count=3)
    bob.call("wait_paragraphs", count=3)
    assert sorted(ann.call("paragraphs")["paragraphs"]) == expected
    assert ann.call("paragraphs")["paragraphs"] == bob.call("paragraphs")["paragraphs"]
    assert bob.call("status")["closeCodes"] == []


def test_oversized_frame_closes_4413_and_the_client_stops(hostile_live, clients):
    live = hostile_live
    document_id = shared_document(live)
    ann = JSClient(live.ws_base, document_id, live.tokens["ann"])
    clients.append(ann)
    ann.call("wait_synced")
    attempts = ann.call("status")["connectAttempts"]
    ann.call("append_paragraph", text="x" * 300_000)  # above the in-app 200 kB limit
    wait_until(lambda: 4413 in ann.call("status")["closeCodes"], message="close 4413")
    time.sleep(3)  # y-websocket would have retried within 2.5 s
    status = ann.call("status")
    assert status["connectAttempts"] == attempts
    assert not status["shouldConnect"] or not status["connected"]


def test_update_flood_closes_4429_and_others_are_unaffected(hostile_live, clients):
    live = hostile_live
    document_id = shared_document(live)
    ann = JSClient(live.ws_base, document_id, live.tokens["ann"])
    clients.append(ann)
    ann.call("wait_synced")
    doc = Doc()
    frames = [protocol.update_message(paragraph_update(doc, f"f{i}")) for i in range(400)]
    url = f"{live.ws_base}/{document_id}?token={live.tokens['eve']}"
    assert asyncio.run(raw_session(url, frames, listen=5)) == 4429
    ann.call("append_paragraph", text="still here")
    wait_until(
        lambda: "still here" in live.content(live.tokens["ann"], document_id),
        message="ann's edit stored",
    )
    assert ann.call("status")["closeCodes"] == []
