"""The room registry: one load for joiners arriving together, unload after the last leaves."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from collab import protocol, services, store
from collab.rooms import RoomRegistry, flush_wait

pytestmark = pytest.mark.django_db(transaction=True)


class FakeConnection:
    def __init__(self, user_id):
        self.user_id = user_id
        self.user_name = "Ann"
        self.user_color = "#000000"
        self.role = "owner"
        self.frames = []

    def send_frame(self, frame):
        self.frames.append(frame)

    async def close_with(self, code, reason):
        self.closed = code


async def test_joiners_arriving_together_load_the_document_once(ann, monkeypatch):
    document = await sync_to_async(services.document_create)(owner=ann, title="Once")
    loads = []
    real_load = store.doc_open

    def counting_load(**kwargs):
        loads.append(kwargs)
        return real_load(**kwargs)

    monkeypatch.setattr(store, "doc_open", counting_load)
    registry = RoomRegistry()
    rooms = await asyncio.gather(*(registry.acquire(document.pk) for _ in range(5)))
    assert len(loads) == 1
    assert all(room is rooms[0] for room in rooms)
    for room in rooms:
        await registry.release(room)
    for _ in range(100):
        if registry.get(document.pk) is None and not registry._unloading:
            break
        await asyncio.sleep(0.02)
    assert registry.get(document.pk) is None


async def test_room_stays_until_its_updates_are_written(ann, monkeypatch):
    from pycrdt import Doc, Text

    document = await sync_to_async(services.document_create)(owner=ann, title="Pending")
    registry = RoomRegistry()
    room = await registry.acquire(document.pk)
    conn = FakeConnection(ann.pk)
    await room.join(conn)
    real_append = store.updates_append_many
    outage = {"on": True}

    def failing_append(*args):
        if outage["on"]:
            raise RuntimeError("database down")
        return real_append(*args)

    monkeypatch.setattr(store, "updates_append_many", failing_append)
    doc = Doc()
    doc["t"] = text = Text()
    text += "kept"
    room.accept_update(conn, doc.get_update())
    await room.leave(conn)
    await registry.release(room)
    await asyncio.sleep(0.5)
    assert registry.get(document.pk) is room  # not unloaded with unwritten updates
    outage["on"] = False
    for _ in range(200):
        if registry.get(document.pk) is None:
            break
        await asyncio.sleep(0.05)
    assert registry.get(document.pk) is None
    loaded, _ = await sync_to_async(store.doc_load)(document_id=document.pk)
    assert str(loaded.get("t", type=Text)) == "kept"


# ------------------------------------------------------------------ anti-entropy


def _text_update(base, text):
    from pycrdt import Doc, Text

    doc = Doc()
    if base:
        doc.apply_update(base)
    before = doc.get_state()
    doc.get("t", type=Text).insert(len(str(doc.get("t", type=Text))), text)
    return doc.get_update(before)


async def _wait_for(predicate, rounds=200):
    for _ in range(rounds):
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return False


@pytest.fixture
def fast_rounds(settings):
    settings.COLLAB = {
        **settings.COLLAB,
        "ANTI_ENTROPY_INTERVAL": 0.05,
        "PEER_TIMEOUT": 0.6,
        "AWARENESS_TIMEOUT": 0.6,
    }


async def test_a_lost_relay_is_repaired_from_the_log(ann, fast_rounds):
    from pycrdt import Text

    document = await sync_to_async(services.document_create)(owner=ann, title="Repair")
    registry = RoomRegistry()
    room = await registry.acquire(document.pk)
    reader = FakeConnection(ann.pk)
    await room.join(reader)
    # Another process committed this, and its relay never arrived (Redis restarted).
    update = _text_update(None, "missed")
    pending = store.PendingUpdate(update, ann.pk, timezone.now())
    await sync_to_async(store.updates_append)(document_id=document.pk, updates=[pending])
    assert await _wait_for(lambda: str(room.doc.get("t", type=Text)) == "missed")
    assert room.repaired_updates == 1
    assert room.applied_seq == 1
    assert protocol.update_message(update) in reader.frames
    await room.leave(reader)
    await registry.release(room)


async def test_rooms_check_the_log_together_in_one_query(ann, settings, monkeypatch):
    """Anti-entropy of many rooms: one read of their last sequences per round, not one each."""
    # Rounds far apart compared with a round's work, as in production (2 s).
    settings.COLLAB = {**settings.COLLAB, "ANTI_ENTROPY_INTERVAL": 0.25}
    documents = [
        await sync_to_async(services.document_create)(owner=ann, title=f"Round {i}")
        for i in range(3)
    ]
    reads = []
    real = store.documents_last_seq

    def counting(**kwargs):
        reads.append(len(kwargs["document_ids"]))
        return real(**kwargs)

    monkeypatch.setattr(store, "documents_last_seq", counting)
    registry = RoomRegistry()
    rooms = [await registry.acquire(d.pk) for d in documents]
    assert await _wait_for(lambda: len(reads) >= 4)
    for room in rooms:
        await room.stop()
    # (A round that ran late on a loaded machine may split in two.)
    assert 3 in reads


def test_rooms_tick_together():
    from collab.rooms import until_next_tick

    assert until_next_tick(1000.07, 2.0) == pytest.approx(1.93)
    assert until_next_tick(1000.0, 2.0) == 2.0  # on a tick: the next one, never at once
    # Rooms that started apart wake on the same tick.
    assert 1000.07 + until_next_tick(1000.07, 2.0) == 1001.5 + until_next_tick(1001.5, 2.0)


async def test_relayed_rows_are_not_fetched_again(ann, fast_rounds):
    from pycrdt import Text

    document = await sync_to_async(services.document_create)(owner=ann, title="Two")
    first, second = RoomRegistry(), RoomRegistry()
    room_a = await first.acquire(document.pk)
    room_b = await second.acquire(document.pk)
    writer = FakeConnection(ann.pk)
    await room_a.join(writer)
    room_a.accept_update(writer, _text_update(None, "relayed"))
    assert await _wait_for(lambda: str(room_b.doc.get("t", type=Text)) == "relayed")
    assert await _wait_for(lambda: room_b.applied_seq == 1)
    await asyncio.sleep(0.3)  # several anti-entropy rounds
    assert room_b.repaired_updates == 0
    await room_a.leave(writer)
    await first.release(room_a)
    await second.release(room_b)


def _shared_uncommitted(room, origin, update: bytes, number: int, author_id=None) -> None:
    """Another process relays update ``number`` before its commit (its database is down)."""
    message = {
        "type": "room.update",
        "origin": origin,
        "updates": [update],
        "uncommitted": [number],
    }
    if author_id is not None:
        message["authors"] = [author_id]
    room._handle_layer_message(message)


def _committed_elsewhere(room, origin, *, seq: int) -> None:
    """Another process committed log row ``seq``, which holds its relay number ``seq``."""
    room._handle_layer_message(
        {"type": "room.committed", "origin": origin, "seqs": [seq, seq], "settled": seq}
    )


async def test_a_silent_process_loses_its_presence_and_its_uncommitted_updates_are_adopted(
    ann, fast_rounds
):
    from pycrdt import Awareness, Doc, Text

    document = await sync_to_async(services.document_create)(owner=ann, title="Ghosts")
    registry = RoomRegistry()
    room = await registry.acquire(document.pk)
    reader = FakeConnection(ann.pk)
    await room.join(reader)
    # A process that relayed a cursor and an update it could not commit, then died.
    their = Awareness(Doc())
    their.set_local_state({"user": {"name": "x"}, "cursor": 3})
    update = _text_update(None, "adopted")
    dead = "dead-process"
    room._handle_layer_message(
        {
            "type": "room.awareness",
            "origin": dead,
            "update": their.encode_awareness_update([their.client_id]),
        }
    )
    _shared_uncommitted(room, dead, update, 1, author_id=ann.pk)
    assert their.client_id in room.awareness.states
    assert await _wait_for(lambda: their.client_id not in room.awareness.states)
    # Its local clients were told: a removal (state null) for that client id.
    removal = protocol.awareness_message(room.awareness.encode_awareness_update([their.client_id]))
    assert removal in reader.frames
    loaded = None

    def stored_text():
        nonlocal loaded
        loaded, _ = store.doc_load(document_id=document.pk)
        return str(loaded.get("t", type=Text))

    for _ in range(100):
        if await sync_to_async(stored_text)() == "adopted":
            break
        await asyncio.sleep(0.05)
    assert str(loaded.get("t", type=Text)) == "adopted"
    await room.leave(reader)
    await registry.release(room)


async def test_a_committed_relay_settles_what_was_relayed_uncommitted(ann, fast_rounds):
    document = await sync_to_async(services.document_create)(owner=ann, title="Settled")
    registry = RoomRegistry()
    room = await registry.acquire(document.pk)
    alive = "live-process"
    second = _text_update(None, "two")
    # Its relay of update 1 was lost (Redis blip); update 2 arrived, still uncommitted.
    _shared_uncommitted(room, alive, second, 2)
    # It committed update 1 only: update 2 must stay ours to write should it die.
    _committed_elsewhere(room, alive, seq=1)
    assert [n for n, _ in room._peers[alive].uncommitted] == [2]
    _committed_elsewhere(room, alive, seq=2)
    assert room._peers[alive].uncommitted == []
    assert room.applied_seq == 2
    await registry.release(room)


async def test_other_processes_get_an_update_with_its_commit(ann, fast_rounds, settings):
    """Local sockets get an update at once; other processes only once it is on disk, so
    their clients cannot build on it before it is in the log (causal order)."""
    from pycrdt import Text

    settings.COLLAB = {**settings.COLLAB, "PEER_TIMEOUT": 600.0}
    document = await sync_to_async(services.document_create)(owner=ann, title="Order")
    first, second = RoomRegistry(), RoomRegistry()
    room_a = await first.acquire(document.pk)
    room_b = await second.acquire(document.pk)
    # They know each other (a room greets the others when it starts).
    assert await _wait_for(lambda: room_a._peers and room_b._peers)
    gate = asyncio.Event()
    real_append = first.log_writer.append

    async def slow_append(*args):
        await gate.wait()
        return await real_append(*args)

    first.log_writer.append = slow_append
    writer, reader = FakeConnection(ann.pk), FakeConnection(ann.pk)
    await room_a.join(writer)
    await room_a.join(reader)
    update = _text_update(None, "typed")
    await room_a.receive_update(writer, update)
    assert protocol.update_message(update) in reader.frames
    await asyncio.sleep(0.3)
    assert str(room_b.doc.get("t", type=Text)) == ""
    gate.set()
    assert await _wait_for(lambda: str(room_b.doc.get("t", type=Text)) == "typed")
    assert room_b.repaired_updates == 0  # the commit brought it, not anti-entropy
    await room_a.leave(writer)
    await room_a.leave(reader)
    await first.release(room_a)
    await second.release(room_b)


async def test_a_process_alone_sends_nothing_to_the_layer(ann, fast_rounds, monkeypatch):
    """No other process holds the room: commits and cursors cost no layer message."""
    from channels.layers import get_channel_layer

    document = await sync_to_async(services.document_create)(owner=ann, title="Alone")
    registry = RoomRegistry()
    room = await registry.acquire(document.pk)
    sent = []
    layer = get_channel_layer()
    real_group_send = layer.group_send

    async def counting(group, message):
        sent.append(message["type"])
        return await real_group_send(group, message)

    monkeypatch.setattr(layer, "group_send", counting)
    conn = FakeConnection(ann.pk)
    await room.join(conn)
    await room.receive_update(conn, _text_update(None, "alone"))
    assert await room.flush(5)
    await asyncio.sleep(0.2)
    assert [kind for kind in sent if kind != "room.alive"] == []
    # A second process opens it: they greet, and from then on commits are shared.
    other = RoomRegistry()
    room_b = await other.acquire(document.pk)
    assert await _wait_for(lambda: room._peers and room_b._peers)
    await room.receive_update(conn, _text_update(None, "shared"))
    assert await room.flush(5)
    assert await _wait_for(lambda: "room.update" in sent)
    await room.leave(conn)
    await registry.release(room)
    await other.release(room_b)


async def _stored_rows(document_id) -> list[bytes]:
    from collab.models import DocumentUpdate

    def rows():
        query = DocumentUpdate.objects.filter(document_id=document_id).order_by("seq")
        return [bytes(data) for data in query.values_list("data", flat=True)]

    return await sync_to_async(rows)()


async def test_an_edit_on_an_uncommitted_update_of_another_process_is_written_after_it(
    ann, fast_rounds
):
    """While the database is down processes share updates uncommitted. An edit built on
    one of them is written after it (a copy of it, if its process has not written it yet):
    a row stored before its dependencies is dropped by every load (pycrdt)."""
    from pycrdt import Text

    document = await sync_to_async(services.document_create)(owner=ann, title="Causal")
    registry = RoomRegistry()
    room = await registry.acquire(document.pk)
    conn = FakeConnection(ann.pk)
    await room.join(conn)
    theirs = _text_update(None, "theirs ")
    _shared_uncommitted(room, "other-process", theirs, 1, author_id=ann.pk)
    assert not room.has_pending_writes  # theirs to write
    ours = _text_update(theirs, "ours")
    room.accept_update(conn, ours)
    assert await room.flush(5)
    assert await _stored_rows(document.pk) == [theirs, ours]
    loaded, _ = await sync_to_async(store.doc_load)(document_id=document.pk)
    assert str(loaded.get("t", type=Text)) == "theirs ours"
    # Written here, it is not adopted again when that process goes silent.
    await asyncio.sleep(1.0)
    assert await _stored_rows(document.pk) == [theirs, ours]
    await room.leave(conn)
    await registry.release(room)


async def test_an_update_its_process_committed_in_time_is_not_written_twice(ann, fast_rounds):
    document = await sync_to_async(services.document_create)(owner=ann, title="Once")
    registry = RoomRegistry()
    room = await registry.acquire(document.pk)
    conn = FakeConnection(ann.pk)
    await room.join(conn)
    theirs = _text_update(None, "theirs ")
    origin = "other-process"
    _shared_uncommitted(room, origin, theirs, 1)
    # Its process writes it (row 1) and says so before this one writes its own edit.
    await sync_to_async(store.updates_append)(
        document_id=document.pk, updates=[store.PendingUpdate(theirs, ann.pk, timezone.now())]
    )
    _committed_elsewhere(room, origin, seq=1)
    ours = _text_update(theirs, "ours")
    room.accept_update(conn, ours)
    assert await room.flush(5)
    assert await _stored_rows(document.pk) == [theirs, ours]
    await room.leave(conn)
    await registry.release(room)


async def test_unrenewed_remote_awareness_expires_but_local_sockets_stay(ann, fast_rounds):
    from pycrdt import Awareness, Doc

    document = await sync_to_async(services.document_create)(owner=ann, title="Outdated")
    registry = RoomRegistry()
    room = await registry.acquire(document.pk)
    local = FakeConnection(ann.pk)
    await room.join(local)
    mine = Awareness(Doc())
    mine.set_local_state({"user": {"name": "me"}})
    await room.awareness_update(local, mine.encode_awareness_update([mine.client_id]))
    # A remote state from a process that keeps talking (so only the 30 s rule applies).
    remote = Awareness(Doc())
    remote.set_local_state({"user": {"name": "r"}})
    room._handle_layer_message(
        {
            "type": "room.awareness",
            "origin": "chatty",
            "update": remote.encode_awareness_update([remote.client_id]),
        }
    )
    for _ in range(60):
        room._peer("chatty")
        if remote.client_id not in room.awareness.states:
            break
        await asyncio.sleep(0.05)
    assert remote.client_id not in room.awareness.states
    assert mine.client_id in room.awareness.states
    await room.leave(local)
    await registry.release(room)


# ------------------------------------------------------------------ compaction


def test_compaction_runs_in_one_process_at_a_time_on_postgresql(ann):
    import psycopg
    from django.db import connection
    from pycrdt import Text

    if connection.vendor != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's (SQLite keeps the unique constraint)")
    document = services.document_create(owner=ann, title="Compact")
    updates = [
        store.PendingUpdate(_text_update(None, f"{i} "), ann.pk, timezone.now()) for i in range(3)
    ]
    store.updates_append(document_id=document.pk, updates=updates)
    params = connection.get_connection_params()
    other = psycopg.connect(
        **{k: v for k, v in params.items() if k in ("dbname", "user", "host", "port", "password")}
    )
    try:
        # Another process is compacting this document: its transaction holds the lock.
        other.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"collab.compact:{document.pk}"],
        )
        assert store.snapshot_compact(document_id=document.pk, min_tail=1) is None
        other.rollback()  # that process's transaction ended (or it crashed)
        assert store.snapshot_compact(document_id=document.pk, min_tail=1) == 3
    finally:
        other.close()
    loaded, seq = store.doc_load(document_id=document.pk)
    assert seq == 3 and sorted(str(loaded.get("t", type=Text)).split()) == ["0", "1", "2"]


def test_an_interrupted_compaction_leaves_the_document_loadable(ann, monkeypatch):
    from pycrdt import Text

    from collab.models import DocumentSnapshot

    document = services.document_create(owner=ann, title="Interrupted")
    updates = [
        store.PendingUpdate(_text_update(None, f"{i} "), ann.pk, timezone.now()) for i in range(3)
    ]
    store.updates_append(document_id=document.pk, updates=updates)
    real_load = store.doc_load

    def dying_load(**kwargs):
        real_load(**kwargs)
        raise MemoryError("the process dies while building the snapshot")

    monkeypatch.setattr(store, "doc_load", dying_load)
    with pytest.raises(MemoryError):
        store.snapshot_compact(document_id=document.pk, min_tail=1)
    monkeypatch.setattr(store, "doc_load", real_load)
    assert not DocumentSnapshot.objects.filter(document_id=document.pk).exists()
    # Nothing half-written, and the lock went with the transaction: the next one works.
    assert store.snapshot_compact(document_id=document.pk, min_tail=1) == 3
    loaded, seq = store.doc_load(document_id=document.pk)
    assert seq == 3 and sorted(str(loaded.get("t", type=Text)).split()) == ["0", "1", "2"]


async def test_new_client_ids_are_claimed_in_memory_while_the_database_is_down(
    ann, bob, fast_rounds, monkeypatch
):
    """A client whose first edit uses a new id during an outage keeps editing; the claim
    is written once the database is back, and then guards the id like any other."""
    from django.db import OperationalError
    from pycrdt import Doc, Text

    from collab import client_ids
    from collab.models import ClientIdOwner
    from collab.update_guard import UpdateRejected

    document = await sync_to_async(services.document_create)(owner=ann, title="Outage")
    registry = RoomRegistry()
    room = await registry.acquire(document.pk)
    conn = FakeConnection(ann.pk)
    await room.join(conn)
    real_record = client_ids.claims_record
    outage = {"on": True}

    def record(claims):
        if outage["on"]:
            raise OperationalError("database down")
        return real_record(claims)

    monkeypatch.setattr(client_ids, "claims_record", record)
    doc = Doc()
    doc["t"] = text = Text()
    text += "typed during the outage"
    await room.receive_update(conn, doc.get_update())
    assert str(room.doc.get("t", type=Text)) == "typed during the outage"
    assert not getattr(conn, "closed", None)
    assert not await sync_to_async(ClientIdOwner.objects.filter(client_id=doc.client_id).exists)()

    outage["on"] = False
    found = await _wait_for(lambda: doc.client_id not in room._unsaved_claims, rounds=300)
    assert found
    owner = await sync_to_async(
        lambda: ClientIdOwner.objects.get(document_id=document.pk, client_id=doc.client_id).user_id
    )()
    assert owner == ann.pk
    # Someone else writing under Ann's id is refused, as for a claim made online.
    forger = FakeConnection(bob.pk)
    before = doc.get_state()
    text += " forged"
    with pytest.raises(UpdateRejected):
        room.accept_update(forger, doc.get_update(before))
    await room.leave(conn)
    await registry.release(room)


async def test_a_relay_that_arrives_before_its_dependency_waits_for_it(ann):
    """After a lost relay, newer updates arrive before the repaired older ones: the room
    holds them back and applies and forwards both in causal order once the gap is filled
    (pycrdt does not always integrate pending structs later)."""
    from pycrdt import Doc, Text

    document = await sync_to_async(services.document_create)(owner=ann, title="Order")
    registry = RoomRegistry()
    room = await registry.acquire(document.pk)
    reader = FakeConnection(ann.pk)
    await room.join(reader)
    doc = Doc()
    text = doc.get("t", type=Text)
    before = doc.get_state()
    text += "first "
    first = doc.get_update(before)
    before = doc.get_state()
    text += "second"
    second = doc.get_update(before)

    await room._relay_remote({"type": "room.update", "updates": [second], "origin": "elsewhere"})
    assert str(room.doc.get("t", type=Text)) == ""
    assert protocol.update_message(second) not in reader.frames
    await room._relay_remote({"type": "room.update", "updates": [first], "origin": "elsewhere"})
    assert str(room.doc.get("t", type=Text)) == "first second"
    sent = [
        f
        for f in reader.frames
        if f in (protocol.update_message(first), protocol.update_message(second))
    ]
    assert sent == [protocol.update_message(first), protocol.update_message(second)]
    await room.leave(reader)
    await registry.release(room)


@pytest.mark.parametrize("now", [0.0, 0.05, 0.0999, 0.1, 0.15, 1234.567, 98765.4321])
def test_rooms_write_on_one_clock_between_half_and_the_whole_delay(now):
    wait = flush_wait(now, 0.2)
    assert 0.1 - 1e-9 <= wait <= 0.2 + 1e-9
    # On a tick of the process-wide clock (every 0.1 s): rooms that gathered in the same
    # tick write in the same LogWriter round.
    phase = (now + wait) % 0.1
    assert min(phase, 0.1 - phase) < 1e-6


async def test_rooms_compact_one_at_a_time_and_claims_do_not_wait_for_all(ann, monkeypatch):
    """A meeting ends and its rooms go idle together: their compactions take turns, so the
    rooms still open get their claims (and commits) through between two of them."""
    import threading
    import time

    documents = [
        await sync_to_async(services.document_create)(owner=ann, title=f"Idle {i}")
        for i in range(4)
    ]
    running = {"now": 0, "most": 0, "started": 0}
    guard = threading.Lock()

    def slow_compact(**kwargs):
        with guard:
            running["now"] += 1
            running["started"] += 1
            running["most"] = max(running["most"], running["now"])
        time.sleep(0.1)  # a compaction's work, in its database thread
        with guard:
            running["now"] -= 1

    monkeypatch.setattr(store, "snapshot_compact", slow_compact)
    registry = RoomRegistry()
    rooms = [await registry.acquire(d.pk) for d in documents]
    compactions = [asyncio.create_task(room.compact_on_idle()) for room in rooms[:3]]
    await asyncio.sleep(0.01)
    owners = await registry.claim_writer.claim(documents[3].pk, ann.pk, [77])
    started_before_claim = running["started"]
    await asyncio.gather(*compactions)
    for room in rooms:
        await room.stop()
    assert owners == {77: ann.pk}
    assert running["most"] == 1
    assert running["started"] == 3
    assert started_before_claim < 3
