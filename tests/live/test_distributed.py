"""Two Daphne processes sharing one database and Redis: clients on either converge."""

import os

import pytest

from .clients import JSClient, PyClient
from .server import LiveServer
from .test_sync import wait_until

pytestmark = pytest.mark.live


@pytest.fixture
def two_servers(tmp_path, live_database_factory):
    if not os.environ.get("REDIS_URL"):
        pytest.skip("needs REDIS_URL (CI always sets it)")
    database = live_database_factory()
    first = LiveServer(tmp_path, database)
    # Same channel prefix: both processes must meet in the same Redis groups.
    second = LiveServer(
        tmp_path, database, extra_env={"CHANNEL_PREFIX": first.env["CHANNEL_PREFIX"]}
    )
    first.migrate()
    first.start()
    second.start()
    yield first, second
    first.terminate()
    second.terminate()


def test_clients_on_two_processes_converge(two_servers):
    first, second = two_servers
    token = first.user_token("ann@example.com")
    document_id = first.create_document(token, "Distributed")
    a = JSClient(first.ws_base, document_id, token)
    b = JSClient(second.ws_base, document_id, token)
    c = PyClient(second.ws_base, document_id, token)
    try:
        for client in (a, b):
            client.call("wait_synced")
        c.wait_synced()
        for i in range(10):
            a.call("append_paragraph", text=f"a {i}")
            b.call("append_paragraph", text=f"b {i}")
            c.append_paragraph(f"c {i}")
        pa = a.call("wait_paragraphs", count=30)["paragraphs"]
        pb = b.call("wait_paragraphs", count=30)["paragraphs"]
        wait_until(lambda: len(c.paragraphs()) == 30, message="python client on process 2")
        assert pa == pb == c.paragraphs()
        # Presence crosses processes too.
        a.call("set_awareness", state={"user": {"name": "x", "color": "#000000"}, "cursor": 1})
        peers = b.call("wait_peers", count=1)["peers"]
        assert any(p.get("cursor") == 1 for p in peers)
        # Each process stored only what its own clients sent: nothing twice, nothing lost.
        wait_until(
            lambda: first.content(token, document_id).split("\n") == pa, message="stored content"
        )
    finally:
        for client in (a, b, c):
            client.close()

    # A client that comes back on the other process loses nothing.
    late = JSClient(first.ws_base, document_id, token)
    try:
        late.call("wait_synced")
        assert late.call("paragraphs")["paragraphs"] == pa
    finally:
        late.close()
