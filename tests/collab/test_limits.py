"""Socket limits: token buckets, connection counts, idle sockets, oversized awareness."""

import asyncio

import pytest
from pycrdt import Doc, Text

from collab import protocol
from collab.limits import (
    CLOSE_IDLE,
    CLOSE_TOO_BIG,
    CLOSE_TOO_MANY,
    ConnectionCounts,
    TokenBucket,
    close_when_idle,
)

from . import test_consumers
from .test_consumers import flushed, open_socket, stored_updates

# The consumer tests' fixtures (a document with members and cookies; rooms settled).
doc_setup = test_consumers.doc_setup
rooms_settled = test_consumers.rooms_settled

pytestmark = pytest.mark.django_db(transaction=True)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- pure parts ----------------------------------------------------------------------------


def test_bucket_allows_its_burst_then_refuses_until_time_refills_it():
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=5, clock=clock)
    assert all(bucket.take() for _ in range(5))
    assert not bucket.take()
    clock.now += 0.1  # one token back at 10/s
    assert bucket.take()
    assert not bucket.take()
    clock.now += 60  # refills to the burst, never beyond
    assert sum(bucket.take() for _ in range(20)) == 5


def test_bucket_sustains_its_rate():
    clock = FakeClock()
    bucket = TokenBucket(rate=50, burst=50, clock=clock)
    taken = 0
    for _ in range(1000):  # 10 s at 100 attempts a second: half of them fit
        clock.now += 0.01
        taken += bucket.take()
    assert 500 <= taken <= 550


def test_bucket_rejects_nonsense_settings():
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=10)
    with pytest.raises(ValueError):
        TokenBucket(rate=1, burst=0)


def test_connection_counts_per_user_and_per_document(settings):
    settings.COLLAB = {
        **settings.COLLAB,
        "MAX_CONNECTIONS_PER_USER": 2,
        "MAX_CONNECTIONS_PER_DOCUMENT": 3,
    }
    counts = ConnectionCounts()
    assert counts.admit(user_id=1, document_id="a") is None
    assert counts.admit(user_id=1, document_id="b") is None
    assert "account" in counts.admit(user_id=1, document_id="c")
    assert counts.admit(user_id=2, document_id="a") is None
    assert counts.admit(user_id=3, document_id="a") is None
    assert "document" in counts.admit(user_id=4, document_id="a")
    # A refusal counted nothing; a release frees the slot.
    counts.release(user_id=3, document_id="a")
    assert counts.admit(user_id=4, document_id="a") is None
    counts.release(user_id=1, document_id="a")
    counts.release(user_id=1, document_id="b")
    assert 1 not in counts.by_user


async def test_idle_watch_closes_only_after_the_timeout_without_frames():
    clock = FakeClock()
    last = {"at": clock.now}
    closed = []

    async def close():
        closed.append(clock.now)

    watch = asyncio.create_task(
        close_when_idle(lambda: last["at"], close, timeout=0.05, clock=clock)
    )
    await asyncio.sleep(0.02)
    clock.now += 0.04
    last["at"] = clock.now  # a frame arrived: the quiet period restarts
    await asyncio.sleep(0.08)
    assert not closed
    clock.now += 0.06
    await asyncio.wait_for(watch, 1)
    assert closed == [clock.now]


# --- through the consumer -----------------------------------------------------------------


async def stored_text(document) -> str:
    """The text root "t" as the update log has it (the log may merge a batch into a row)."""
    await flushed(document.pk)
    stored = Doc()
    for row in await stored_updates(document):
        stored.apply_update(bytes(row.data))
    return str(stored.get("t", type=Text))


def _text_update(doc: Doc, text: str) -> bytes:
    before = doc.get_state()
    doc["t"] += text
    return doc.get_update(before)


def _fresh_text_doc() -> Doc:
    doc = Doc()
    doc["t"] = Text()
    return doc


async def test_update_flood_closes_4429_after_the_burst(doc_setup, settings):
    settings.COLLAB = {**settings.COLLAB, "UPDATES_PER_SECOND": 0.001, "UPDATE_BURST": 20}
    sock = await open_socket(doc_setup, "bob")
    await sock.sync()
    doc = _fresh_text_doc()
    for i in range(25):
        await sock.send(protocol.update_message(_text_update(doc, str(i % 10))))
    received = await sock.drain(0.5)
    assert received[-1] == ("close", CLOSE_TOO_MANY)
    # The burst went through and was stored; nothing after the limit was.
    assert await stored_text(doc_setup["document"]) == "01234567890123456789"


async def test_a_fast_typist_and_a_paste_stay_within_the_defaults(doc_setup):
    sock = await open_socket(doc_setup, "bob")
    await sock.sync()
    doc = _fresh_text_doc()
    await sock.send(protocol.update_message(_text_update(doc, "pasted " * 10_000)))
    for _ in range(300):  # 300 keystrokes sent as fast as the test can
        await sock.send(protocol.update_message(_text_update(doc, "k")))
    await sock.drain(0.3)
    assert sock.close_code is None
    assert await stored_text(doc_setup["document"]) == "pasted " * 10_000 + "k" * 300


async def test_frame_flood_of_awareness_closes_4429(doc_setup, settings):
    settings.COLLAB = {**settings.COLLAB, "FRAMES_PER_SECOND": 0.001, "FRAME_BURST": 10}
    sock = await open_socket(doc_setup, "bob")
    for _ in range(12):
        await sock.send(protocol.awareness_message(b"\x00"))
    assert (await sock.drain(0.5))[-1] == ("close", CLOSE_TOO_MANY)


async def test_connections_per_user_are_limited_with_4429(doc_setup, settings):
    settings.COLLAB = {**settings.COLLAB, "MAX_CONNECTIONS_PER_USER": 2}
    first = await open_socket(doc_setup, "bob")
    second = await open_socket(doc_setup, "bob")
    third = await open_socket(doc_setup, "bob")
    received = await third.drain(0.5)
    assert received[-1] == ("close", CLOSE_TOO_MANY)
    # Told why first, with the protocol's permission-denied message.
    assert isinstance(received[0], protocol.Auth)
    assert first.close_code is None and second.close_code is None
    # Another account is not affected; a closed socket frees its slot.
    other = await open_socket(doc_setup, "ann")
    await other.sync()
    await first.comm.disconnect()
    await asyncio.sleep(0.05)
    fourth = await open_socket(doc_setup, "bob")
    await fourth.sync()


async def test_connections_per_document_are_limited_with_4429(doc_setup, settings):
    settings.COLLAB = {**settings.COLLAB, "MAX_CONNECTIONS_PER_DOCUMENT": 1}
    first = await open_socket(doc_setup, "bob")
    await first.sync()
    second = await open_socket(doc_setup, "ann")
    assert (await second.drain(0.5))[-1] == ("close", CLOSE_TOO_MANY)


async def test_oversized_awareness_closes_4413(doc_setup, settings):
    settings.COLLAB = {**settings.COLLAB, "MAX_AWARENESS_BYTES": 100}
    sock = await open_socket(doc_setup, "bob")
    await sock.sync()
    sock.awareness.set_local_state({"user": {"name": "x" * 200}})
    update = sock.awareness.encode_awareness_update([sock.doc.client_id])
    await sock.send(protocol.awareness_message(update))
    assert (await sock.drain(0.5))[-1] == ("close", CLOSE_TOO_BIG)


async def test_idle_socket_is_closed_with_a_retryable_code(doc_setup, settings):
    settings.COLLAB = {**settings.COLLAB, "IDLE_TIMEOUT": 0.3}
    quiet = await open_socket(doc_setup, "bob")
    chatty = await open_socket(doc_setup, "ann")
    await chatty.sync()
    # ann keeps sending; bob says nothing at all.
    for _ in range(8):
        await chatty.send(protocol.sync_step1_message(chatty.doc))
        await asyncio.sleep(0.06)
    received = await quiet.drain(0.5)
    assert received[-1] == ("close", CLOSE_IDLE)
    assert not 4400 <= CLOSE_IDLE < 4500  # y-websocket reconnects: a frozen tab comes back
    assert chatty.close_code is None


async def test_refused_frames_change_nothing_stored(doc_setup, settings):
    settings.COLLAB = {**settings.COLLAB, "UPDATES_PER_SECOND": 0.001, "UPDATE_BURST": 1}
    sock = await open_socket(doc_setup, "bob")
    await sock.sync()
    doc = _fresh_text_doc()
    await sock.send(protocol.update_message(_text_update(doc, "kept")))
    await sock.send(protocol.update_message(_text_update(doc, "refused")))
    assert (await sock.drain(0.5))[-1] == ("close", CLOSE_TOO_MANY)
    assert await stored_text(doc_setup["document"]) == "kept"
