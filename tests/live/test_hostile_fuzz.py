"""Fuzzed frames against a live Daphne while real JS clients edit: no crash, no change from a
refused frame, and the honest clients still converge.

Every frame sent here is one the server must refuse (malformed, rejected by the update
guard, or a well-formed update forging another account's client id), checked locally first,
so the document must end up holding exactly what the honest clients wrote. Frames the
guard accepts (mutations that happen to be valid updates) are fuzzed in-process by
tests/collab/test_fuzz.py. COLLAB_LIVE_FUZZ_FRAMES sets the count (300 by default).
"""

import asyncio
import base64
import os
import random
from collections import Counter

import pytest
import websockets
from pycrdt import Doc

from collab import protocol
from collab.update_guard import UpdateRejected, check_update

from ..collab.test_fuzz import honest_updates
from .clients import JSClient
from .server import LiveDatabase, LiveServer
from .test_hostile import paragraph_update

pytestmark = pytest.mark.live

FRAMES = int(os.environ.get("COLLAB_LIVE_FUZZ_FRAMES", "300"))
CONCURRENCY = 8


@pytest.fixture(scope="module")
def fuzz_live(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("hostile-fuzz")
    database = LiveDatabase(tmp_path)
    server = LiveServer(tmp_path, database)
    server.migrate()
    server.start()
    server.tokens = {n: server.user_token(f"{n}@example.com") for n in ("ann", "bob", "eve")}
    yield server
    server.terminate()
    database.drop()


def mutate(rng: random.Random, update: bytes) -> bytes:
    b = bytearray(update)
    i = rng.randrange(max(1, len(b)))
    op = rng.choice(["flip", "byte", "truncate", "insert", "varint"])
    if op == "flip" and b:
        b[i] ^= 1 << rng.randrange(8)
    elif op == "byte" and b:
        b[i] = rng.choice([0x00, 0x7F, 0x80, 0xFF, 0x77, 0x76, 0x75])
    elif op == "truncate":
        del b[i:]
    elif op == "insert":
        b[i:i] = rng.randbytes(rng.randint(1, 6))
    else:
        b[i:i] = b"\xff" * rng.randint(1, 10)
    return bytes(b)


def refused_frames(rng: random.Random, own: list[bytes], forged: list[bytes], n: int):
    """n (kind, frame) pairs the server must refuse, each checked against the guard here."""
    out = []
    while len(out) < n:
        roll = rng.random()
        if roll < 0.1:
            out.append(("forged client id", protocol.update_message(rng.choice(forged))))
            continue
        if roll < 0.2:
            frame = rng.randbytes(rng.randint(1, 30))
            try:
                protocol.parse_message(frame)
            except protocol.ProtocolError:
                out.append(("malformed frame", frame))
            continue
        update = mutate(rng, rng.choice(own + forged))
        try:
            check_update(update)
        except UpdateRejected:
            wrap = rng.choice([protocol.update_message, protocol.sync_step2_message])
            out.append(("rejected update", wrap(update)))
    return out


async def send_one(url: str, frame: bytes) -> int | None:
    ws = await websockets.connect(url, max_size=None)
    try:
        await ws.send(frame)
        async with asyncio.timeout(5):
            async for _ in ws:
                pass
    except websockets.ConnectionClosed:
        pass
    except TimeoutError:
        await ws.close()
        return None
    return ws.close_code


async def fuzz(url: str, frames: list[tuple[str, bytes]]) -> Counter:
    results: Counter = Counter()
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one(kind, frame):
        async with semaphore:
            code = await send_one(url, frame)
            results[f"{kind}: close {code}"] += 1

    await asyncio.gather(*(one(kind, frame) for kind, frame in frames))
    return results


def test_live_fuzz_refused_frames_change_nothing(fuzz_live, record_property):
    live = fuzz_live
    document_id = live.create_document(live.tokens["ann"], "Live fuzz")
    for name in ("bob", "eve"):
        status, _ = live.api(
            "POST",
            f"/api/documents/{document_id}/members/",
            live.tokens["ann"],
            {"email": f"{name}@example.com", "role": "editor"},
        )
        assert status == 202
    ann = JSClient(live.ws_base, document_id, live.tokens["ann"])
    bob = JSClient(live.ws_base, document_id, live.tokens["bob"])
    try:
        ann.call("wait_synced")
        bob.call("wait_synced")
        ann.call("append_paragraph", text="ann 0")
        bob.call("wait_paragraphs", count=1)
        victim = ann.call("status")["clientId"]
        state = base64.b64decode(ann.call("encode_state")["update"])
        rng = random.Random(20261124)
        own = honest_updates(7_000_001, [("text", 0, "eve"), ("map", 1, "k")])
        forger = Doc(client_id=victim)
        forger.apply_update(state)
        forged = [paragraph_update(forger, f"FORGED {i}") for i in range(5)]
        frames = refused_frames(rng, own, forged, FRAMES)
        url = f"{live.ws_base}/{document_id}?token={live.tokens['eve']}"
        # The honest clients keep editing between the rounds of hostile frames.
        results: Counter = Counter()
        rounds = 5
        for r in range(rounds):
            chunk = frames[r * len(frames) // rounds : (r + 1) * len(frames) // rounds]
            results += asyncio.run(fuzz(url, chunk))
            (ann if r % 2 else bob).call("append_paragraph", text=f"honest {r + 1}")
        expected = 1 + rounds
        ann_paragraphs = ann.call("wait_paragraphs", count=expected)["paragraphs"]
        bob_paragraphs = bob.call("wait_paragraphs", count=expected)["paragraphs"]
        status_ann, status_bob = ann.call("status"), bob.call("status")
    finally:
        ann.close()
        bob.close()
    print("\nlive fuzz:", dict(sorted(results.items())))
    for key, value in results.items():
        record_property(key, value)
    assert sum(results.values()) == FRAMES
    # Every frame refused with a 44xx close (none answered 1011). A forged update whose
    # own dependencies are missing (a later one of the forger's chain) is not applied and
    # answered with sync step 1 instead; one whose clocks ann has used meanwhile is a
    # duplicate Yjs ignores. Either way nothing of it may reach the document (below).
    for key in results:
        assert ": close 44" in key or key == "forged client id: close None", results
    assert live.process.poll() is None, "the server process died"
    assert "unexpected error handling a frame" not in live.log()
    # Nothing but the honest edits: the refused frames changed no document.
    assert ann_paragraphs == bob_paragraphs
    assert sorted(ann_paragraphs) == sorted(["ann 0"] + [f"honest {r + 1}" for r in range(5)])
    stored = live.content(live.tokens["ann"], document_id)
    assert "FORGED" not in stored and "eve" not in stored
    assert status_ann["closeCodes"] == [] and status_bob["closeCodes"] == []
