"""A socket whose client stops reading holds up nobody: the room's other readers and its
writer go on, and the stuck socket is cut off once COLLAB_SEND_BACKLOG_BYTES of messages
wait for it (Uvicorn: collab/socket_sender.py; Daphne: collab/daphne_fanout.py)."""

import asyncio
import base64
import os
import socket
from urllib.parse import urlsplit

import pytest
import websockets
from pycrdt import Doc, Text

from collab import protocol

from .server import LiveServer

pytestmark = pytest.mark.live

UPDATES = 4000
CHUNK = "x" * 4000  # 16 MB in all: past every buffer on the way (up to 4 MB) and the cap


def _stuck_socket(url: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads (its receive
    buffer kept small: a loopback socket may otherwise grow it to tens of megabytes)."""
    parts = urlsplit(url)
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    raw.connect(("127.0.0.1", parts.port))
    key = base64.b64encode(os.urandom(16)).decode()
    raw.sendall(
        (
            f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: 127.0.0.1:{parts.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += raw.recv(1)
    assert response.startswith(b"HTTP/1.1 101"), response
    return raw


async def _scenario(url: str) -> int:
    slow = _stuck_socket(url)
    good = await websockets.connect(url, max_size=None)
    writer = await websockets.connect(url, max_size=None)
    doc = Doc()
    text = doc.get("slow", type=Text)

    async def write() -> None:
        for _ in range(UPDATES):
            before = doc.get_state()
            text.insert(0, CHUNK)
            await writer.send(protocol.update_message(doc.get_update(before)))

    async def read() -> int:
        seen = 0
        async for frame in good:
            if isinstance(protocol.parse_message(frame), protocol.SyncUpdate):
                seen += 1
                if seen == UPDATES:
                    return seen
        return seen

    try:
        reading = asyncio.ensure_future(read())
        await asyncio.wait_for(write(), 120)
        return await asyncio.wait_for(reading, 120)
    finally:
        slow.close()
        for client in (good, writer):
            client.transport.abort()


@pytest.mark.parametrize("asgi_server", ["daphne", "uvicorn"])
def test_a_reader_that_stops_reading_holds_up_nobody(tmp_path, live_database_factory, asgi_server):
    database = live_database_factory()
    server = LiveServer(
        tmp_path,
        database,
        asgi_server=asgi_server,
        extra_env={"COLLAB_SEND_BACKLOG_BYTES": str(1024 * 1024)},
    )
    server.migrate()
    server.start()
    try:
        token = server.user_token("ann@example.com")
        document_id = server.create_document(token, "Slow reader")
        url = f"{server.ws_base}/{document_id}?token={token}"
        assert asyncio.run(_scenario(url)) == UPDATES
        # Cut off: under Uvicorn its sends wait in SocketSender's backlog; under Daphne they
        # pile up in Twisted's buffer (collab/daphne_fanout.py).
        assert "waiting to be sent" in server.log()
    finally:
        server.terminate()
