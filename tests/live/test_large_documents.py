"""Large documents: a 5 MB text document and a 100,000-point board open from the store in a real
JS client, exactly, while another room of the same process keeps exchanging edits; once the
room has planned its snapshot, a cold load goes in pieces and the other room barely waits."""

import pytest
from pycrdt import Doc, Map

from .clients import JSClient
from .large_docs import (
    RoundTripProbe,
    board_document,
    open_seconds,
    percentile,
    text_document,
    upload,
    wait_for_pieces,
)
from .server import LiveServer

pytestmark = pytest.mark.live


@pytest.fixture
def server(tmp_path, live_database_factory):
    server = LiveServer(tmp_path, live_database_factory())
    server.migrate()
    server.start()
    yield server
    server.terminate()


def _store_cold(server: LiveServer, token: str, update: bytes, title: str) -> str:
    """A document holding `update`, sent by a client in one frame, then the server restarted
    (SIGTERM writes what is queued) so the next open loads it from the store."""
    document_id = server.create_document(token, title)
    upload(f"{server.ws_base}/{document_id}?token={token}", update)
    assert server.terminate() == 0
    server.start()
    return document_id


def _open_while_probing(server: LiveServer, token: str, document_id: str, check) -> list:
    """Open the document in a JS client (check(client) verifies the content) while a probe
    edits another room; returns the probe's round trips during the open."""
    busy = server.create_document(token, "Busy room")
    probe = RoundTripProbe(f"{server.ws_base}/{busy}?token={token}").start()
    reader = None
    try:
        opened_from = len(probe.samples)
        reader = JSClient(server.ws_base, document_id, token)
        reader.call("wait_synced", timeout=180)
        check(reader)
        during = probe.samples[opened_from:]
    finally:
        if reader is not None:
            reader.close()
        samples = probe.stop()
    baseline = [rtt for _, rtt in samples[:opened_from]]
    rtts = [rtt for _, rtt in during]
    print(f"other room before the open: {_summary(baseline)}; during it: {_summary(rtts)}")
    return rtts


def _summary(rtts: list[float]) -> str:
    if not rtts:
        return "no round trips"
    p50, worst = percentile(rtts, 0.5) * 1000, max(rtts) * 1000
    return f"{len(rtts)} round trips, p50 {p50:.0f} ms, max {worst:.0f} ms"


def test_a_5_mb_text_document_opens_exactly_while_another_room_edits(server):
    token = server.user_token("ann@example.com")
    update, content = text_document(5_000_000)
    assert len(update) >= 5_000_000
    document_id = _store_cold(server, token, update, "Five megabytes")

    def check(reader: JSClient) -> None:
        reader.call("wait_text", name="text", equals=content, timeout=180)

    during = _open_while_probing(server, token, document_id, check)
    # The other room was not stalled for the whole open: edits went round meanwhile.
    assert during
    assert "Traceback" not in server.log()


def test_a_100k_point_board_opens_exactly_while_another_room_edits(server):
    token = server.user_token("ann@example.com")
    update = board_document()
    source = Doc()
    source.apply_update(update)
    expected = source.get("shapes", type=Map).to_py()
    points = sum(
        len(s.get("points", ())) // 3 for s in expected.values() if s["type"] == "freehand"
    )
    assert (len(expected), points) == (10_000, 100_000)
    document_id = _store_cold(server, token, update, "Big board")

    def check(reader: JSClient) -> None:
        import base64

        opened = Doc()
        opened.apply_update(base64.b64decode(reader.call("encode_state")["update"]))
        assert opened.get("shapes", type=Map).to_py() == expected

    during = _open_while_probing(server, token, document_id, check)
    assert during
    assert "Traceback" not in server.log()


def test_a_planned_5_mb_document_loads_in_pieces_and_the_other_room_barely_waits(server):
    token = server.user_token("ann@example.com")
    update, content = text_document(5_000_000)
    document_id = _store_cold(server, token, update, "Five megabytes")
    url = f"{server.ws_base}/{document_id}?token={token}"
    # The first cold open applies the uploaded row whole (one pycrdt call, the loop waits
    # for all of it); the room then plans a snapshot in pieces in the background.
    open_seconds(url)
    assert wait_for_pieces(server.database, document_id) >= 20

    # Cold loads by a returning client (it holds the document: the sync step 2 is empty,
    # so the load is nearly all the server does) while another room edits.
    have = Doc()
    have.apply_update(update)
    busy = server.create_document(token, "Busy room")
    ratios = []
    for _ in range(3):
        assert server.terminate() == 0
        server.start()
        probe = RoundTripProbe(f"{server.ws_base}/{busy}?token={token}", pause=0.005).start(20)
        start = len(probe.samples)
        seconds, _ = open_seconds(url, have=have)
        end = len(probe.samples)
        samples = probe.stop()
        # Up to the round trip under way when the load ended: a stall shows there too.
        during = [rtt for _, rtt in samples[start : end + 1]]
        print(f"cold load {seconds * 1000:.0f} ms; other room during it: {_summary(during)}")
        ratios.append(max(during) / seconds)
        if ratios[-1] < 0.3:
            break
    # Relative, and the best of three (a shared CI machine has hiccups of its own): the
    # other room's worst wait is a small part of the load, not the apply of 5 MB at once.
    assert min(ratios) < 0.3

    # What loaded in pieces is exactly the document: a real JS client reads it.
    assert server.terminate() == 0
    server.start()

    def check(reader: JSClient) -> None:
        reader.call("wait_text", name="text", equals=content, timeout=180)

    assert _open_while_probing(server, token, document_id, check)
    assert "Traceback" not in server.log()
