"""Hostile frames through the real consumer code into a real room: nothing crashes, refused
frames change nothing, the honest peer still converges, and the stored log still loads.

Quick by default (a few thousand frames, for CI). The full run:

    COLLAB_FUZZ_FRAMES=100000 .venv/bin/pytest -p no:xdist -q -s tests/collab/test_fuzz.py

prints the figures docs/security.md quotes (frames, crashes, refusals by kind, the share of
frames that got past framing into the update guard and into pycrdt).
"""

import asyncio
import json
import os
from collections import Counter

import pytest
from channels.db import database_sync_to_async
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pycrdt import Array, Awareness, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from collab import audit, protocol, rooms, services, store
from collab.client_ids import state_vector
from collab.consumers import DocumentConsumer
from collab.depth_map import DepthMap
from collab.limits import FrameLimiter, TokenBucket

from .test_rooms import FakeConnection

pytestmark = pytest.mark.django_db(transaction=True)

FRAMES_PER_EXAMPLE = 50
TOTAL_FRAMES = int(os.environ.get("COLLAB_FUZZ_FRAMES", "2000"))
EXAMPLES = max(1, TOTAL_FRAMES // FRAMES_PER_EXAMPLE)
# The honest peer's and the attacker's Yjs client ids.
PEER_CLIENT = 1_000_001
ATTACKER_CLIENTS = (2_000_001, 2_000_002)

STATS: Counter = Counter()
# Updates that reached the guard / pycrdt from the hostile socket (not the honest peer's).
REACHED: Counter = Counter()
COUNTING = {"on": False}


# --- material: honest updates, then mutations of them ---------------------------------------

edits = st.lists(
    st.tuples(
        st.sampled_from(["text", "delete", "map", "xml", "array"]),
        st.integers(0, 40),
        # ASCII: pycrdt's Text indexes are neither UTF-16 units nor code points (NOTES.md),
        # and the honest script must stay honest.
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12),
    ),
    min_size=1,
    max_size=12,
)


def honest_updates(client_id: int, script, base: bytes | None = None) -> list[bytes]:
    """One update per edit of a real pycrdt document, as a client would send them."""
    doc = Doc(client_id=client_id)
    if base:
        doc.apply_update(base)
    text = doc.get("t", type=Text)
    meta = doc.get("m", type=Map)
    frag = doc.get("default", type=XmlFragment)
    updates = []
    for kind, n, s in script:
        before = doc.get_state()
        if kind == "text":
            text.insert(min(n, len(text)), s or "x")
        elif kind == "delete" and len(text):
            start = min(n, len(text) - 1)
            del text[start : min(len(text), start + 1 + n % 3)]
        elif kind == "map":
            meta[s or "k"] = {"n": n, "list": [n, s, None, True], "nested": {"deep": [s]}}
        elif kind == "xml":
            para = XmlElement("paragraph", {}, [XmlText(s or "p")])
            frag.children.insert(min(n, len(frag.children)), para)
        else:
            meta["arr"] = Array([n, s, [1, [2, [3]]]])
        update = doc.get_update(before)
        if update != protocol.EMPTY_UPDATE:
            updates.append(update)
    return updates


def mutate(data: st.DataObject, update: bytes, pool: list[bytes]) -> bytes:
    op = data.draw(
        st.sampled_from(
            ["flip", "byte", "truncate", "insert", "splice", "duplicate", "varint", "client"]
        )
    )
    b = bytearray(update)
    i = data.draw(st.integers(0, max(0, len(b) - 1)))
    if op == "flip" and b:
        b[i] ^= 1 << data.draw(st.integers(0, 7))
    elif op == "byte" and b:
        b[i] = data.draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF, 0x77, 0x76, 0x75]))
    elif op == "truncate":
        del b[i:]
    elif op == "insert":
        b[i:i] = data.draw(st.binary(min_size=1, max_size=8))
    elif op == "splice":
        other = data.draw(st.sampled_from(pool))
        j = data.draw(st.integers(0, len(other)))
        b = b[:i] + bytearray(other[j:])
    elif op == "duplicate":
        k = data.draw(st.integers(i, len(b)))
        b[k:k] = b[i:k]
    elif op == "varint":
        b[i:i] = b"\xff" * data.draw(st.integers(1, 10))
    else:  # rewrite the first struct group's client id: forging someone else's
        forged = honest_updates(data.draw(st.sampled_from([PEER_CLIENT, 7, 2**53 - 1])), [])
        del forged
        prefix = bytes(b[:1])
        client = data.draw(st.sampled_from([PEER_CLIENT, 7, 2**32 + 5]))
        b = bytearray(prefix + bytes(b[1:2]) + _var_uint(client) + bytes(b[2 + _skip(b, 2) :]))
    return bytes(b)


def _var_uint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _skip(b: bytes, pos: int) -> int:
    """Length of the varUint at pos (or what is left)."""
    n = 0
    while pos + n < len(b) and b[pos + n] >= 0x80:
        n += 1
    return min(n + 1, max(0, len(b) - pos))


def awareness_frame(data: st.DataObject, client_id: int) -> bytes:
    awareness = Awareness(Doc(client_id=client_id))
    awareness.set_local_state(
        data.draw(
            st.sampled_from(
                [{"user": {"name": "x"}}, {"cursor": {"a": 1}}, None, {"big": "y" * 300}]
            )
        )
    )
    return awareness.encode_awareness_update([client_id])


def frames_for(
    data: st.DataObject, attacker: list[bytes], pool: list[bytes], forged: list[bytes]
) -> list[bytes]:
    """FRAMES_PER_EXAMPLE frames, most of them update frames built from real updates."""
    frames = []
    for _ in range(FRAMES_PER_EXAMPLE):
        kind = data.draw(
            st.sampled_from(
                ["valid"] * 3
                + ["mutated"] * 10
                + ["replay", "forge"]
                + ["awareness"] * 2
                + ["raw", "sv"]
            )
        )
        if kind == "valid":
            payload = data.draw(st.sampled_from(attacker))
        elif kind == "replay":  # the peer's own updates, re-sent: known, so allowed
            payload = data.draw(st.sampled_from(pool))
        elif kind == "forge":  # well-formed, new structs under the peer's client id
            payload = data.draw(st.sampled_from(forged))
        elif kind == "mutated":
            payload = mutate(data, data.draw(st.sampled_from(attacker + pool)), pool)
        elif kind == "awareness":
            client = data.draw(st.sampled_from([*ATTACKER_CLIENTS, PEER_CLIENT]))
            update = awareness_frame(data, client)
            if data.draw(st.booleans()):
                update = mutate(data, update, [update])
            frames.append(protocol.awareness_message(update))
            continue
        elif kind == "sv":
            frames.append(protocol.create_sync_message_raw(data.draw(st.binary(max_size=20))))
            continue
        else:
            frames.append(data.draw(st.binary(max_size=40)))
            continue
        wrap = data.draw(st.sampled_from([protocol.update_message, protocol.sync_step2_message]))
        frames.append(wrap(payload))
    return frames


# Sync step 1 with arbitrary state vector bytes (pycrdt's helper wants a Doc).
protocol.create_sync_message_raw = lambda sv: b"\x00\x00" + _var_uint(len(sv)) + sv


# --- the harness: the real consumer's receive(), without a socket ---------------------------


class Harness:
    """A DocumentConsumer wired to a room, its ASGI send captured; reconnects when closed."""

    def __init__(self, room, user) -> None:
        self.room_ref = room
        self.user = user
        self.sent: list[dict] = []
        self.consumer = None

    async def connect(self) -> None:
        consumer = DocumentConsumer()
        consumer.scope = {"type": "websocket", "user": self.user, "client": ("127.0.0.1", 1)}
        consumer.document_id = self.room_ref.document_id
        consumer.refusals_audited = set()
        consumer.role = "editor"
        consumer.user_id = self.user.pk
        consumer.user_name = self.user.name
        consumer.user_color = self.user.cursor_color
        # Rates out of the way: the fuzz is about content (test_limits covers rates).
        consumer.limiter = FrameLimiter(frames=TokenBucket(1e9, 1e9), updates=TokenBucket(1e9, 1e9))

        async def capture(message):
            self.sent.append(message)

        consumer.base_send = capture
        consumer.room = await rooms.registry().acquire(self.room_ref.document_id)
        await consumer.room.join(consumer)
        self.consumer = consumer

    async def send(self, frame: bytes) -> dict | None:
        """Feed one frame; the close message if the consumer closed the socket."""
        self.sent.clear()
        await self.consumer.receive(bytes_data=frame)
        for message in self.sent:
            if message["type"] == "websocket.close":
                await self.connect()
                return message
        return None

    def asked_resync(self) -> bool:
        return any(
            m["type"] == "websocket.send" and m.get("bytes", b"")[:2] == b"\x00\x00"
            for m in self.sent
        )


def frame_kind(frame: bytes) -> str:
    try:
        message = protocol.parse_message(frame)
    except protocol.ProtocolError:
        return "not a protocol message"
    if isinstance(message, protocol.SyncUpdate | protocol.SyncStep2):
        return "update (past framing)"
    return type(message).__name__


def refusal_kind(close: dict) -> str:
    reason = close.get("reason", "")
    if "another account" in reason:
        return "foreign client id"
    if "never sent" in reason:
        return "missing dependencies, no repair"
    if "deeper than" in reason:
        return "too deep"
    if "state vector refused" in reason:
        return "malformed state vector (pycrdt)"
    if "update refused" in reason:
        return "update refused by pycrdt (after the guard)"
    if "Yjs update rejected" in reason:
        return "malformed update (guard)"
    if "awareness" in reason:
        return "malformed awareness"
    return f"malformed frame ({close.get('code')})"


def plain(value):
    """A shared value as plain data. Not to_py(): a map may hold an XML type (a mutated type
    ref), which has no Python equivalent and reads as its XML string here."""
    if isinstance(value, Map):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, Array):
        return [plain(item) for item in value]
    if isinstance(value, Text | XmlFragment | XmlElement | XmlText):
        return str(value)
    if isinstance(value, Doc):
        return f"subdocument {value.guid}"
    return value


async def run_example(document_id: str, attacker_user, peer_user, data) -> None:
    room = await rooms.registry().acquire(document_id)  # held: the room stays loaded
    peer = FakeConnection(peer_user.pk)
    await room.join(peer)
    peer_doc = Doc(client_id=PEER_CLIENT)
    pool = honest_updates(PEER_CLIENT, data.draw(edits))
    for update in pool:
        await room.receive_update(peer, update)
        peer_doc.apply_update(update)
    peer_awareness = Awareness(peer_doc)
    peer_awareness.set_local_state({"user": {"name": "peer"}})
    await room.awareness_update(peer, peer_awareness.encode_awareness_update([PEER_CLIENT]))
    peer_state = dict(room.awareness.states[PEER_CLIENT])
    attacker = []
    for client in ATTACKER_CLIENTS:
        attacker += honest_updates(client, data.draw(edits), base=peer_doc.get_update())
    forged = honest_updates(PEER_CLIENT, data.draw(edits), base=peer_doc.get_update())
    hostile = Harness(room, attacker_user)
    await hostile.connect()
    # Some of the attacker's honest updates arrive out of order: missing dependencies.
    COUNTING["on"] = True
    for frame in frames_for(data, attacker, pool, forged):
        before = room.doc.get_update()
        STATS["frames"] += 1
        STATS["kind: " + frame_kind(frame)] += 1
        try:
            close = await hostile.send(frame)
        except BaseException as exc:
            STATS["crashes"] += 1
            raise AssertionError(f"consumer raised {exc!r} on {frame.hex()}") from exc
        if close is not None:
            if close.get("code") == rooms.CLOSE_SERVER_ERROR:
                STATS["crashes"] += 1
                raise AssertionError(f"server error on {frame.hex()}")
            STATS["refused: " + refusal_kind(close)] += 1
        elif hostile.asked_resync():
            STATS["refused: missing dependencies, resync asked"] += 1
        else:
            STATS["accepted"] += 1
            continue
        # (Anything queued was applied first, so an unchanged Doc means nothing was queued.)
        if room.doc.get_update() != before:
            STATS["documents changed by refused frames"] += 1
            raise AssertionError(f"a refused frame changed the document: {frame.hex()}")
        # Nobody but the peer speaks for the peer's presence.
        assert room.awareness.states.get(PEER_CLIENT) == peer_state
    COUNTING["on"] = False
    # The peer still converges: what was relayed to it (after commit) makes its doc the room's.
    assert await room.flush(10)
    for frame in peer.frames:
        message = protocol.parse_message(frame)
        if isinstance(message, protocol.SyncUpdate):
            peer_doc.apply_update(message.update)
    assert state_vector(peer_doc.get_state()) == state_vector(room.doc.get_state())
    for root in ("t", "m"):
        kind = Text if root == "t" else Map
        # As JSON: a mutated float may be NaN, which never equals itself in Python.
        mine, theirs = (plain(d.get(root, type=kind)) for d in (peer_doc, room.doc))
        as_json = {"sort_keys": True, "default": repr}  # mutated values may be bytes
        assert json.dumps(mine, **as_json) == json.dumps(theirs, **as_json)
    assert state_vector(room.doc.get_state()) == room._state_cache.current(room.doc)
    # The depth map followed every applied update: it covers exactly the Doc's clocks.
    await room._depths_ready.wait()
    assert room._depths.known() == DepthMap.of_doc(room.doc).known()
    # The stored log loads into the same document, and compacts.
    loaded, _seq = await database_sync_to_async(store.doc_load)(document_id=document_id)
    assert state_vector(loaded.get_state()) == state_vector(room.doc.get_state())
    await database_sync_to_async(store.snapshot_compact)(document_id=document_id, min_tail=1)
    compacted, _seq = await database_sync_to_async(store.doc_load)(document_id=document_id)
    assert state_vector(compacted.get_state()) == state_vector(room.doc.get_state())
    await hostile.consumer.disconnect(1000)
    await room.leave(peer)
    await rooms.registry().release(room)


@pytest.fixture
def quiet_audit(monkeypatch):
    # The fuzz is about the socket path; the audit trail has its own tests.
    monkeypatch.setattr(audit, "record_soon", lambda *a, **k: None)


def test_fuzz_frames_through_the_consumer(ann, bob, quiet_audit, record_property):
    loop = asyncio.new_event_loop()
    # A refused frame's mutations applied through apply_safely count as "reached pycrdt".
    reached = REACHED
    real_apply, real_check = rooms.apply_safely, rooms.check_update

    def counting_apply(doc, update):
        reached["apply"] += COUNTING["on"]
        return real_apply(doc, update)

    def counting_check(update, **kwargs):
        reached["guard"] += COUNTING["on"]
        return real_check(update, **kwargs)

    rooms.apply_safely, rooms.check_update = counting_apply, counting_check
    try:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            # No shrinking: every assertion names the offending frame, and shrinking a
            # stateful run through a database takes minutes.
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
        )
        @given(data=st.data())
        def example(data):
            document_id = loop.run_until_complete(database_sync_to_async(new_document)(ann, bob))
            loop.run_until_complete(run_example(document_id, bob, ann, data))

        example()
    finally:
        rooms.apply_safely, rooms.check_update = real_apply, real_check
        loop.run_until_complete(_settle())
        loop.close()
    frames = STATS["frames"]
    summary = {
        **dict(sorted(STATS.items())),
        "reached update guard": reached["guard"],
        "reached pycrdt apply": reached["apply"],
    }
    print("\nfuzz:", json.dumps(summary, indent=1))
    for key, value in summary.items():
        record_property(key, value)
    assert frames >= TOTAL_FRAMES * 0.9
    assert STATS["crashes"] == 0
    assert STATS["documents changed by refused frames"] == 0
    # Most frames must get past framing into the guard, and many into pycrdt itself.
    assert reached["guard"] > frames / 2
    assert STATS["accepted"] > 0


def new_document(owner, editor) -> str:
    from collab.models import Membership

    document = services.document_create(owner=owner, title="Fuzz")
    Membership.objects.create(document=document, user=editor, role="editor")
    return str(document.pk)


async def _settle():
    reg = rooms.registry()
    for room in list(reg.rooms.values()):
        await room.flush(5)
        await room.stop()
    for task in list(reg._unloading.values()):
        await task
