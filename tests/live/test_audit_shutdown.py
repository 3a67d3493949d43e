"""Audit records still being written when the server gets SIGTERM reach the database, and
the shutdown waits for them while its event loop still runs (collab/audit.py)."""

import asyncio
import signal
import threading

import psycopg
import pytest
import websockets

from collab import protocol

pytestmark = pytest.mark.live

AUDIT_TABLE = "collab_auditevent"


async def refused_text_frame(url: str) -> int | None:
    """Open a socket, send a text frame (refused: binary frames only), return the close code."""
    async with websockets.connect(url) as ws:
        await ws.send(protocol.sync_step2_message(protocol.EMPTY_UPDATE))
        await ws.send("not a binary frame")
        try:
            async with asyncio.timeout(10):
                async for _ in ws:
                    pass
        except websockets.ConnectionClosed:
            pass
        return ws.close_code


def audit_rows(database_url: str) -> list[tuple[str, str | None]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            f"SELECT action, detail->>'reason' FROM {AUDIT_TABLE}"
            " WHERE action LIKE 'socket.%%' OR action LIKE 'frame.%%' ORDER BY id"
        ).fetchall()


@pytest.mark.parametrize("asgi_server", ["daphne", "uvicorn"])
def test_sigterm_waits_for_pending_audit_records(postgres_server, asgi_server):
    server = postgres_server(asgi_server)
    database = server.database
    token = server.user_token("ann@example.com")
    document_id = server.create_document(token, "Shut down")
    url = f"{server.ws_base}/{document_id}?token={token}"
    # The inserts must still be running when the signal comes: hold the audit table
    # (inserts wait, reads go on) until a moment after SIGTERM.
    blocker = psycopg.connect(database.url)
    blocker.execute(f"LOCK TABLE {AUDIT_TABLE} IN SHARE MODE")
    assert asyncio.run(refused_text_frame(url)) == 4400
    assert audit_rows(database.url) == []
    server.process.send_signal(signal.SIGTERM)
    release = threading.Timer(1.0, blocker.commit)
    release.start()
    try:
        exit_code = server.process.wait(30)
    finally:
        release.join()
        blocker.close()
    # Uvicorn re-raises the signal once it has shut down.
    assert exit_code in (0, -signal.SIGTERM), server.log()
    assert audit_rows(database.url) == [("socket.connected", None), ("frame.refused", "text frame")]
    if asgi_server == "daphne":
        # Written during the shutdown's own wait, not left to the database thread finishing
        # its queue as the interpreter exits. (Uvicorn first waits for the socket's teardown,
        # which queues behind those inserts on the same database thread.)
        assert "wrote 2 pending audit records before shutdown" in server.log()
