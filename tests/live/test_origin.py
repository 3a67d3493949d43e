"""The Origin check on a live Daphne: cookie sockets only from our origins, token sockets
from anywhere (collab/ws_auth.py OriginOrTokenValidator)."""

import asyncio

import pytest
import websockets

from collab import protocol

from .server import LiveDatabase, LiveServer

pytestmark = pytest.mark.live

SESSION_SCRIPT = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from accounts.models import User
user = User.objects.get(email="ann@example.com")
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(session.session_key)
"""


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """Two servers on one database: plain (cookies over http allowed) and one with
    HTTPS-only cookies; ann has a token, a signed-in session and a document."""
    tmp_path = tmp_path_factory.mktemp("origin")
    database = LiveDatabase(tmp_path)
    plain = LiveServer(tmp_path, database)
    secure = LiveServer(tmp_path, database, extra_env={"SESSION_COOKIE_SECURE": "1"})
    plain.migrate()
    token = plain.user_token("ann@example.com")
    session_key = plain.manage("shell", "-c", SESSION_SCRIPT).strip().splitlines()[-1]
    plain.start()
    secure.start()
    document_id = plain.create_document(token, "Origins")
    yield {
        "plain": plain,
        "secure": secure,
        "token": token,
        "cookie": f"sessionid={session_key}",
        "document_id": document_id,
    }
    plain.terminate()
    secure.terminate()
    database.drop()


def outcome(server: LiveServer, path: str, *, origin: str | None, cookie: str | None) -> str:
    """'refused' (HTTP 403 at the handshake) or 'served' (the server's sync step 1 came)."""

    async def attempt() -> str:
        headers = {"Cookie": cookie} if cookie else {}
        try:
            async with websockets.connect(
                f"ws://127.0.0.1:{server.port}{path}",
                origin=origin,
                additional_headers=headers,
                max_size=None,
            ) as ws:
                first = await asyncio.wait_for(ws.recv(), 10)
        except websockets.InvalidStatus as exc:
            assert exc.response.status_code == 403
            return "refused"
        message = protocol.parse_message(first)
        return "served" if isinstance(message, protocol.SyncStep1) else f"other: {message!r}"

    return asyncio.run(attempt())


def origin_cases(port: int) -> dict[str, str | None]:
    return {
        "missing": None,
        "null": "null",
        "foreign": "https://evil.example",
        "look-alike": "https://localhost.evil.example",
        "userinfo trick": "http://localhost@evil.example",
        "http": f"http://localhost:{port}",
        "https": "https://localhost",
    }


COOKIE_EXPECTED = {
    # host in ALLOWED_HOSTS, scheme free unless cookies are HTTPS-only
    "plain": {"http": "served", "https": "served"},
    "secure": {"http": "refused", "https": "served"},
}


@pytest.mark.parametrize("which", ["plain", "secure"])
def test_cookie_sockets_only_from_our_own_origins(servers, which):
    server = servers[which]
    path = f"/ws/documents/{servers['document_id']}"
    got = {
        name: outcome(server, path, origin=origin, cookie=servers["cookie"])
        for name, origin in origin_cases(server.port).items()
    }
    expected = {name: "refused" for name in got} | COOKIE_EXPECTED[which]
    assert got == expected


@pytest.mark.parametrize("which", ["plain", "secure"])
def test_token_sockets_from_any_origin(servers, which):
    server = servers[which]
    path = f"/ws/documents/{servers['document_id']}?token={servers['token']}"
    got = {
        name: outcome(server, path, origin=origin, cookie=None)
        for name, origin in origin_cases(server.port).items()
    }
    assert got == {name: "served" for name in got}


def test_a_foreign_page_cannot_ride_the_cookie_with_a_bad_token(servers):
    """?token= makes the token decide who connects: the cookie is ignored, so a hostile
    page adding a made-up token gets an unauthenticated socket, not the victim's."""
    server = servers["plain"]

    async def attempt():
        async with websockets.connect(
            f"ws://127.0.0.1:{server.port}/ws/documents/{servers['document_id']}?token=cpat_made_up",
            origin="https://evil.example",
            additional_headers={"Cookie": servers["cookie"]},
        ) as ws:
            first = protocol.parse_message(await asyncio.wait_for(ws.recv(), 10))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            return first, closed.value.rcvd.code

    first, code = asyncio.run(attempt())
    assert isinstance(first, protocol.Auth)
    assert code == 4401
