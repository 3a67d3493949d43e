"""Client id ownership, updates with missing dependencies, one awareness id per socket."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from pycrdt import Awareness, Doc, Text

from collab import protocol, services
from collab.client_ids import (
    ClaimWriter,
    ClientIdOwners,
    ForeignClientId,
    StateVectorCache,
    awareness_entries,
    state_vector,
)
from collab.models import ClientIdOwner
from collab.rooms import MissingDependencies, RoomRegistry
from collab.update_guard import UpdateRejected, check_update

from . import test_consumers
from .test_consumers import open_socket
from .test_rooms import FakeConnection

# The consumer tests' fixtures (a document with members and cookies; rooms settled).
doc_setup = test_consumers.doc_setup
rooms_settled = test_consumers.rooms_settled

pytestmark = pytest.mark.django_db(transaction=True)


def text_doc(client_id: int) -> Doc:
    doc = Doc(client_id=client_id)
    doc["t"] = Text()
    return doc


def edit(doc: Doc, text: str, index: int | None = None) -> bytes:
    before = doc.get_state()
    t = doc["t"]
    if index is None:
        t += text
    else:
        t.insert(index, text)
    return doc.get_update(before)


@pytest.fixture
async def room(ann):
    document = await sync_to_async(services.document_create)(owner=ann, title="Ids")
    registry = RoomRegistry()
    room = await registry.acquire(document.pk)
    yield room
    await room.flush(5)
    await room.stop()


# --- the decoder's view: what an update writes and needs ------------------------------------


def test_shape_lists_groups_references_and_deletes():
    doc = text_doc(7)
    first = edit(doc, "abc")
    second = edit(doc, "X", index=1)  # origin (7, 0), right origin (7, 1): both outside
    shape = check_update(second)
    assert shape.groups == {7: (3, 4)}
    assert shape.references == frozenset({(7, 0), (7, 1)})
    assert shape.missing_dependencies({7: 3}) == []
    assert shape.missing_dependencies({}) != []  # nothing of client 7 known: pending
    assert check_update(first).missing_dependencies({}) == []
    before = doc.get_state()
    del doc["t"][0:2]
    delete_only = check_update(doc.get_update(before))
    assert delete_only.groups == {}
    assert delete_only.deletes
    assert delete_only.missing_dependencies({7: 4}) == []
    assert delete_only.missing_dependencies({7: 1}) != []


def test_a_group_starting_past_the_known_clock_is_pending():
    doc = text_doc(9)
    edit(doc, "a")
    later = edit(doc, "b")
    assert check_update(later).missing_dependencies({9: 0}) == [(9, 0)]
    assert check_update(later).missing_dependencies({9: 1}) == []


def test_an_item_depending_on_itself_counts_as_missing():
    # "ab", then "X" and "Y" inserted, one update; one byte changed so the item at clock 1
    # names (5, 1) itself as origin: yrs keeps it (and all after it) pending.
    honest = bytes.fromhex("010405000401017401618405000162c4050005010158440500015900")
    forward = bytes.fromhex("010405000401017401618405010162c4050005010158440500015900")
    assert check_update(honest).missing_dependencies({}) == []
    assert check_update(forward).missing_dependencies({}) == [(5, 1)]
    applied = Doc()
    applied.apply_update(forward)
    assert state_vector(applied.get_state()) == {5: 1}  # what the check predicts


def test_state_vector_cache_follows_applied_updates_and_foreign_changes():
    server = Doc()
    cache = StateVectorCache()
    writer = text_doc(5)
    for text in ("one", "two", "three"):
        update = edit(writer, text)
        assert cache.current(server) == state_vector(server.get_state())
        server.apply_update(update)
        cache.advanced(server, check_update(update))
        assert cache.state == state_vector(server.get_state())
    # A change that bypassed the cache (another process) is noticed through the bytes.
    server.apply_update(edit(text_doc(6), "x"))
    assert cache.current(server) == state_vector(server.get_state())


def test_awareness_entries_are_read_strictly():
    awareness = Awareness(Doc(client_id=3))
    awareness.set_local_state({"user": {"name": "A"}})
    update = awareness.encode_awareness_update([3])
    assert [cid for cid, _ in awareness_entries(update)] == [3]
    for broken in (update[:-1], update + b"\x00", b"\x05\x01", b"\xff" * 12):
        with pytest.raises(UpdateRejected):
            awareness_entries(broken)


# --- forged client ids through the room ----------------------------------------------------


async def test_an_update_under_someone_elses_client_id_is_refused(room, ann, bob):
    ann_conn, bob_conn = FakeConnection(ann.pk), FakeConnection(bob.pk)
    ann_doc = text_doc(111)
    await room.receive_update(ann_conn, edit(ann_doc, "ann "))
    # Bob forges ann's id at the clocks ann will use next.
    forger = text_doc(111)
    forger.apply_update(ann_doc.get_update())
    forged = edit(forger, "FORGED")
    before = room.doc.get_update()
    with pytest.raises(ForeignClientId):
        await room.receive_update(bob_conn, forged)
    assert room.doc.get_update() == before
    # Ann's real next edit, at the very clocks bob tried to take, still lands.
    await room.receive_update(ann_conn, edit(ann_doc, "again"))
    assert str(room.doc.get("t", type=Text)) == "ann again"


async def test_resync_carrying_other_peoples_known_edits_is_allowed(room, ann, bob):
    ann_conn, bob_conn = FakeConnection(ann.pk), FakeConnection(bob.pk)
    ann_doc = text_doc(201)
    await room.receive_update(ann_conn, edit(ann_doc, "ann"))
    # Bob was offline with ann's edit and made his own: his step 2 carries both.
    bob_doc = text_doc(202)
    bob_doc.apply_update(ann_doc.get_update())
    edit(bob_doc, " bob")
    await room.receive_update(bob_conn, bob_doc.get_update())
    assert str(room.doc.get("t", type=Text)) == "ann bob"
    assert room.client_id_owners.owners == {201: ann.pk, 202: bob.pk}


async def test_altered_copies_of_known_structs_are_neither_stored_nor_relayed(room, ann, bob):
    ann_conn, bob_conn = FakeConnection(ann.pk), FakeConnection(bob.pk)
    ann_doc = text_doc(251)
    await room.receive_update(ann_conn, edit(ann_doc, "real"))
    # Bob re-sends ann's clocks with other content, plus an edit of his own.
    fake = text_doc(251)
    fake["t"] += "FAKE"
    bob_doc = text_doc(252)
    bob_doc.apply_update(fake.get_update())
    edit(bob_doc, "!")
    await room.receive_update(bob_conn, bob_doc.get_update())
    assert str(room.doc.get("t", type=Text)) == "real!"  # Yjs kept ann's structs
    stored = room._queue[-1].pending.data
    assert b"FAKE" not in stored
    replica = text_doc(253)
    replica.apply_update(stored)  # a copy lacking ann's structs gets only bob's
    assert "FAKE" not in str(replica["t"])


async def test_a_changed_client_id_is_claimed_by_its_writer(room, ann):
    conn = FakeConnection(ann.pk)
    doc = text_doc(301)
    await room.receive_update(conn, edit(doc, "a"))
    renamed = text_doc(302)  # Yjs picks a new id after a collision: same person, new id
    renamed.apply_update(doc.get_update())
    await room.receive_update(conn, edit(renamed, "b"))
    assert room.client_id_owners.owners[302] == ann.pk


async def test_ownership_is_stored_and_survives_a_reload(room, ann, bob):
    await room.receive_update(FakeConnection(ann.pk), edit(text_doc(401), "a"))
    rows = await sync_to_async(list)(
        ClientIdOwner.objects.filter(document_id=room.document_id).values_list(
            "client_id", "user_id"
        )
    )
    assert rows == [(401, ann.pk)]
    # Another process (a fresh registry loads the document from the database).
    other = await RoomRegistry().acquire(room.document_id)
    try:
        forger = text_doc(401)
        forger.apply_update(other.doc.get_update())
        with pytest.raises(ForeignClientId):
            await other.receive_update(FakeConnection(bob.pk), edit(forger, "x"))
    finally:
        await other.stop()


async def test_claims_race_between_processes_first_insert_wins(room, ann, bob):
    mine = ClientIdOwners(room.document_id)
    theirs = ClientIdOwners(room.document_id)
    await sync_to_async(theirs.claim)(user_id=ann.pk, client_ids=[501])
    await sync_to_async(mine.claim)(user_id=bob.pk, client_ids=[501])
    assert mine.owners[501] == ann.pk


async def test_claims_waiting_together_share_one_transaction(ann, bob, monkeypatch):
    from collab import client_ids

    documents = [
        await sync_to_async(services.document_create)(owner=ann, title=f"C{i}") for i in range(4)
    ]
    rounds = []
    real = client_ids.claims_record

    def counting(claims):
        rounds.append(len(claims))
        return real(claims)

    monkeypatch.setattr(client_ids, "claims_record", counting)
    writer = ClaimWriter()
    # The first claim starts a transaction; those that arrive while it runs share one.
    results = await asyncio.gather(
        *(writer.claim(d.pk, ann.pk, [10 + i, 20 + i]) for i, d in enumerate(documents)),
        # Two accounts claim the same id of one document in one round: the first one wins.
        writer.claim(documents[3].pk, bob.pk, [13]),
    )
    assert results[:4] == [{10 + i: ann.pk, 20 + i: ann.pk} for i in range(4)]
    assert results[4] == {13: ann.pk}
    assert sum(rounds) == 5 and len(rounds) <= 2
    stored = await sync_to_async(ClientIdOwner.objects.count)()
    assert stored == 8


async def test_first_edits_of_a_rooms_new_clients_share_claim_rounds(room, ann, monkeypatch):
    """Five people open the page and type at once: their new ids are claimed together,
    not one round each while the others wait for the room."""
    from collab import client_ids

    rounds = []
    real = client_ids.claims_record

    def counting(claims):
        rounds.append(sum(len(ids) for _document, _user, ids in claims))
        return real(claims)

    monkeypatch.setattr(client_ids, "claims_record", counting)
    writers = [text_doc(600 + i) for i in range(5)]
    await asyncio.gather(
        *(room.receive_update(FakeConnection(ann.pk), edit(doc, "x")) for doc in writers)
    )
    assert sum(rounds) == 5 and len(rounds) <= 2
    assert {600 + i: ann.pk for i in range(5)}.items() <= room.client_id_owners.owners.items()
    assert str(room.doc.get("t", type=Text)) == "xxxxx"


async def test_an_update_reads_the_room_only_under_its_lock_while_another_holds_it(
    room, ann, monkeypatch
):
    """While another update holds the room (a large one applies in a worker thread), a new
    one does not read the Doc before its turn: pycrdt would hand that read the other
    thread's transaction."""
    reads = []
    real = StateVectorCache.current

    def current(cache, doc):
        reads.append(room._doc_lock.locked())
        return real(cache, doc)

    monkeypatch.setattr(StateVectorCache, "current", current)
    await room._doc_lock.acquire()
    arriving = asyncio.create_task(
        room.receive_update(FakeConnection(ann.pk), edit(text_doc(700), "x"))
    )
    for _ in range(20):
        await asyncio.sleep(0)
    assert reads == []
    room._doc_lock.release()
    await arriving
    assert reads and all(reads)
    assert str(room.doc.get("t", type=Text)) == "x"
    assert room.client_id_owners.owners[700] == ann.pk


async def test_claims_do_not_queue_behind_the_shared_database_thread(ann):
    """A new client's edit waits for its claim: on PostgreSQL that claim must not wait for
    whatever occupies channels' database thread (a crowd's sign-in queries)."""
    import threading

    from channels.db import database_sync_to_async
    from django.db import connection

    if connection.vendor == "sqlite":
        pytest.skip("SQLite keeps claims in the shared thread: its connections lock each other")
    document = await sync_to_async(services.document_create)(owner=ann, title="Busy")
    release = threading.Event()
    busy = asyncio.ensure_future(database_sync_to_async(release.wait)(5))
    await asyncio.sleep(0.05)
    try:
        owners = await asyncio.wait_for(ClaimWriter().claim(document.pk, ann.pk, [901]), 2)
    finally:
        release.set()
        await busy
    assert owners == {901: ann.pk}


async def test_a_claim_in_a_deleted_document_fails_alone(ann):
    from collab.models import Document

    kept = await sync_to_async(services.document_create)(owner=ann, title="Kept")
    gone = await sync_to_async(services.document_create)(owner=ann, title="Gone")
    gone_id = gone.pk
    await sync_to_async(Document.objects.filter(pk=gone_id).delete)()
    writer = ClaimWriter()
    results = await asyncio.gather(
        writer.claim(gone_id, ann.pk, [7]),
        writer.claim(kept.pk, ann.pk, [8]),
        return_exceptions=True,
    )
    assert isinstance(results[0], Exception)
    assert results[1] == {8: ann.pk}


# --- pending updates -----------------------------------------------------------------------


async def test_update_with_missing_dependencies_is_held_back_and_resync_asked(room, ann):
    conn = FakeConnection(ann.pk)
    doc = text_doc(601)
    missing = edit(doc, "first")
    dependent = edit(doc, " second")
    before = room.doc.get_update()
    await room.receive_update(conn, dependent)
    # Not applied (nothing pending inside pycrdt), nothing queued, and a step 1 sent.
    assert room.doc.get_update() == before
    assert not room.has_pending_writes
    assert isinstance(protocol.parse_message(conn.frames[-1]), protocol.SyncStep1)
    # The client answers with everything the room lacks: both apply.
    step2 = doc.get_update(protocol.parse_message(conn.frames[-1]).state_vector)
    await room.receive_update(conn, step2)
    assert str(room.doc.get("t", type=Text)) == "first second"
    assert missing  # (kept for clarity: it only ever reached the room inside step 2)


async def test_a_client_that_never_fills_the_gap_is_refused(room, ann, settings):
    """Refused only once the gap persists: more than MAX_RESYNC_REQUESTS refusals over more
    than RESYNC_GIVE_UP_SECONDS (the room itself may lack a lost relay for a few seconds)."""
    settings.COLLAB = {
        **settings.COLLAB,
        "MAX_RESYNC_REQUESTS": 2,
        "RESYNC_GIVE_UP_SECONDS": 0.2,
    }
    conn = FakeConnection(ann.pk)
    doc = text_doc(701)
    edit(doc, "never sent")
    dependent = edit(doc, "x")
    await room.receive_update(conn, dependent)
    await room.receive_update(conn, dependent)
    await room.receive_update(conn, dependent)  # many refusals, but not for long yet
    steps = [f for f in conn.frames if protocol.parse_message(f).__class__.__name__ == "SyncStep1"]
    assert len(steps) == 1  # asked once; asking again waits a second or for the room
    await asyncio.sleep(0.3)
    with pytest.raises(UpdateRejected):
        await room.receive_update(conn, dependent)


async def test_a_client_waiting_on_a_gap_is_asked_again_when_the_room_catches_up(room, ann):
    conn = FakeConnection(ann.pk)
    await room.join(conn)
    doc = text_doc(702)
    first = edit(doc, "lost relay")
    dependent = edit(doc, " then this")
    await room.receive_update(conn, dependent)
    conn.frames.clear()
    # The missing update reaches the room another way (a repair or a relay).
    await room._relay_remote({"type": "room.update", "updates": [first], "origin": "elsewhere"})
    kinds = [protocol.parse_message(f).__class__.__name__ for f in conn.frames]
    assert "SyncStep1" in kinds
    await room.receive_update(conn, dependent)
    assert str(room.doc.get("t", type=Text)) == "lost relay then this"
    await room.leave(conn)


def test_accept_update_raises_missing_dependencies_without_applying():
    # The sync path (no socket) refuses the same way.
    from collab.rooms import Room

    room = Room(document_id="x", registry=RoomRegistry())
    doc = text_doc(801)
    edit(doc, "a")
    with pytest.raises(MissingDependencies):
        room.accept_update(FakeConnection(1), edit(doc, "b"))
    assert room.doc.get_state() == Doc().get_state()


# --- awareness: one client id per socket ---------------------------------------------------


def awareness_of(client_id: int, state) -> Awareness:
    awareness = Awareness(Doc(client_id=client_id))
    awareness.set_local_state(state)
    return awareness


async def test_a_socket_speaks_only_for_its_own_awareness_id(doc_setup):
    ann = await open_socket(doc_setup, "ann")
    await ann.sync()
    ann_id = ann.doc.client_id
    ann.awareness.set_local_state({"user": {"name": "A"}, "cursor": 1})
    await ann.send(protocol.awareness_message(ann.awareness.encode_awareness_update([ann_id])))
    await ann.drain(0.2)
    bob = await open_socket(doc_setup, "bob")
    await bob.sync()
    await bob.drain(0.2)
    bob_id = bob.doc.client_id
    # Bob's first frame: his own state, then a forged state for ann's id and a third id.
    bob.awareness.set_local_state({"user": {"name": "B"}})
    await bob.send(protocol.awareness_message(bob.awareness.encode_awareness_update([bob_id])))
    forged = awareness_of(ann_id, {"user": {"name": "A"}, "cursor": 999})
    forged._meta[ann_id]["clock"] = 1000  # newer than ann's own
    await bob.send(protocol.awareness_message(forged.encode_awareness_update([ann_id])))
    # ...and a removal of ann's state (state null with a newer clock).
    forged.set_local_state(None)
    await bob.send(protocol.awareness_message(forged.encode_awareness_update([ann_id])))
    await ann.drain(0.3)
    assert bob.close_code is None
    states = ann.awareness.states
    assert states[ann_id]["cursor"] == 1
    assert states[bob_id]["user"]["name"] == doc_setup["bob_user"].name


async def test_a_reconnecting_socket_of_the_same_account_takes_its_id_back(doc_setup):
    first = await open_socket(doc_setup, "bob")
    await first.sync()
    first.awareness.set_local_state({"n": 1})
    frame = first.awareness.encode_awareness_update([first.doc.client_id])
    await first.send(protocol.awareness_message(frame))
    await first.drain(0.2)
    second = await open_socket(doc_setup, "bob")
    await second.sync()
    reconnected = awareness_of(first.doc.client_id, {"n": 2})
    reconnected._meta[first.doc.client_id]["clock"] = 5
    await second.send(
        protocol.awareness_message(reconnected.encode_awareness_update([first.doc.client_id]))
    )
    await second.drain(0.3)
    assert second.awareness.states[first.doc.client_id] == {"n": 2}
