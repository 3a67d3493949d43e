"""The core live scenarios of test_sync.py again, with Uvicorn instead of Daphne serving."""

import asyncio

import pytest

from .clients import JSClient
from .server import LiveServer
from .test_sync import (  # noqa: F401 (fixtures and scenarios collected here as well)
    clients,
    shared_document,
    test_a_large_paste_in_one_frame_is_accepted,
    test_kill_9_right_after_the_last_edit_loses_nothing,
    test_sigterm_writes_updates_still_queued,
    test_strict_mode_kill_9_loses_nothing_anyone_saw_even_if_every_client_leaves,
    test_two_js_clients_and_a_python_client_converge,
    test_viewer_edits_are_not_applied_anywhere,
)

pytestmark = pytest.mark.live


@pytest.fixture(scope="module", autouse=True)
def _serve_with_uvicorn():
    """Every LiveServer of this module (the shared `live` one and those the scenarios start
    themselves) runs Uvicorn; autouse, so it is in place before `live` starts."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LiveServer, "default_asgi_server", "uvicorn")
        yield


def test_the_server_is_uvicorn_with_lifespan(live):
    assert live.asgi_server == "uvicorn"
    log = live.log()
    assert "Uvicorn running on" in log
    # ProtocolTypeRouter without a "lifespan" key would fail startup under --lifespan on.
    assert "Application startup complete." in log
    assert "Traceback" not in log


def test_proxy_headers_and_origin_check_behind_a_proxy(live, clients):  # noqa: F811
    """A browser behind a TLS proxy on 127.0.0.1 (trusted by default): the socket opens."""
    import websockets

    document_id = shared_document(live, "Behind a proxy")
    url = f"{live.ws_base}/{document_id}?token={live.tokens['ann']}"

    async def open_and_ping() -> bool:
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
        async with websockets.connect(url, additional_headers=headers) as ws:
            await ws.recv()  # sync step 1 from the room
            pong = await ws.ping()
            await asyncio.wait_for(pong, 10)
            return True

    assert asyncio.run(open_and_ping())
    client = JSClient(live.ws_base, document_id, live.tokens["bob"])
    clients.append(client)
    client.call("wait_synced")
