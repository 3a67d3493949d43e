"""Keepalive: a peer that stops answering (lid closed) is dropped by the server's pings and its
presence disappears; a live peer is kept, and the server answers a client's ping."""

import asyncio
import os
import signal
import time

import pytest

from .clients import JSClient
from .server import LiveServer
from .test_sync import wait_until

pytestmark = pytest.mark.live

# Short settings so the test takes seconds; production values are in the Procfile.
PING_INTERVAL = 1
PING_TIMEOUT = 2
# Daphne checks its sockets every 2 s; the margin absorbs a loaded CI machine. Both stay
# below y-protocols' 30 s client-side awareness timeout, so only the server can pass.
DROP_BOUND = PING_INTERVAL + 2 + PING_TIMEOUT + 10


@pytest.fixture(params=["daphne", "uvicorn"])
def pinging_server(request, tmp_path, live_database_factory):
    server = LiveServer(
        tmp_path,
        live_database_factory(),
        asgi_server=request.param,
        ping_interval=PING_INTERVAL,
        ping_timeout=PING_TIMEOUT,
    )
    server.migrate()
    server.start()
    yield server
    server.terminate()


def _server_answers_ping(url: str) -> float:
    import websockets

    async def ping() -> float:
        async with websockets.connect(url) as ws:
            await ws.recv()  # the room's sync step 1: the socket is fully open
            started = time.monotonic()
            await asyncio.wait_for(await ws.ping(), 10)
            return time.monotonic() - started

    return asyncio.run(ping())


def test_a_frozen_client_is_dropped_and_its_presence_removed(pinging_server):
    server = pinging_server
    ann = server.user_token("ann@example.com")
    bob = server.user_token("bob@example.com")
    document_id = server.create_document(ann, "Keepalive")
    status, _ = server.api(
        "POST",
        f"/api/documents/{document_id}/members/",
        ann,
        {"email": "bob@example.com", "role": "editor"},
    )
    assert status == 202

    rtt = _server_answers_ping(f"{server.ws_base}/{document_id}?token={ann}")
    print(f"{server.asgi_server}: ping answered in {rtt * 1000:.1f} ms")

    watcher = JSClient(server.ws_base, document_id, ann)
    sleeper = JSClient(server.ws_base, document_id, bob)
    opened = [watcher, sleeper]
    try:
        watcher.call("wait_synced")
        sleeper.call("wait_synced")
        sleeper.call("set_awareness", state={"user": {"name": "bob"}, "cursor": 3})
        watcher.call("wait_peers", count=1)
        sleeper_id = sleeper.call("status")["clientId"]
        assert sleeper_id in watcher.call("peers")["peerIds"]

        # Lid closed: the process keeps its TCP connection (the kernel still ACKs) but
        # never answers a ping again.
        os.kill(sleeper.process.pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        wait_until(
            lambda: sleeper_id not in watcher.call("peers")["peerIds"],
            timeout=DROP_BOUND,
            message="the frozen client's presence to go",
        )
        gone_after = time.monotonic() - frozen_at
        print(f"{server.asgi_server}: presence gone {gone_after:.1f} s after the freeze")

        # The server itself forgot it: a newcomer is told only about the watcher.
        newcomer = JSClient(server.ws_base, document_id, ann)
        opened.append(newcomer)
        newcomer.call("wait_synced")
        assert sleeper_id not in newcomer.call("peers")["peerIds"]
        # Pings do not drop a live client that was idle all along.
        watcher_status = watcher.call("status")
        assert watcher_status["connected"] and not watcher_status["closeCodes"]
    finally:
        if sleeper.process.poll() is None:
            sleeper.process.kill()
            sleeper.process.wait(5)
        for client in opened[:1] + opened[2:]:
            client.close()
