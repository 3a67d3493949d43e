"""Ending a session, signing out, changing a password or deactivating closes live sockets."""

import json

import pytest
from allauth.usersessions.models import UserSession
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts.models import User
from collab import protocol, services
from collab.models import Membership
from collab.rooms import registry
from config.asgi import application
from tests.collab.ysocket import YSocket

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def rooms_settled():
    """Unload every room before the database is flushed (see tests/collab/test_consumers)."""
    yield
    reg = registry()
    for room in list(reg.rooms.values()):
        await room.flush(5)
        await room.stop()
    for task in list(reg._unloading.values()):
        await task


def signed_in_client(user) -> Client:
    """Signed in through the sign-in form, as a browser is (usersessions records it)."""
    client = Client()
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302 and "_auth_user_id" in client.session
    return client


def cookie_of(client: Client) -> str:
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.fixture
def shared(user, other_user):
    document = services.document_create(owner=user, title="Plan")
    Membership.objects.create(document=document, user=other_user, role="editor")
    return document


async def open_synced(document, client: Client) -> YSocket:
    sock = YSocket(application, document.pk, cookie=cookie_of(client))
    assert await sock.connect()
    await sock.sync()
    return sock


async def assert_closed_4401(sock: YSocket) -> None:
    """The server says why (a permission-denied frame), then closes with 4401."""
    seen = []
    while True:
        message = await sock.receive(timeout=2.0)
        seen.append(message)
        if isinstance(message, tuple):
            break
    assert message == ("close", 4401), seen
    assert any(isinstance(m, protocol.Auth) for m in seen), seen


async def assert_still_open(sock: YSocket) -> None:
    """Still served: an edit sent now comes back applied (a step 2 answers a step 1)."""
    sock.synced = False
    await sock.sync()
    assert sock.close_code is None


async def test_sign_out_closes_that_sessions_socket_only(shared, user, other_user):
    laptop = await sync_to_async(signed_in_client)(user)
    phone = await sync_to_async(signed_in_client)(user)
    bobs = await sync_to_async(signed_in_client)(other_user)
    laptop_socket = await open_synced(shared, laptop)
    phone_socket = await open_synced(shared, phone)
    bob_socket = await open_synced(shared, bobs)

    response = await sync_to_async(laptop.post)("/accounts/logout/")
    assert response.status_code == 302

    await assert_closed_4401(laptop_socket)
    await assert_still_open(phone_socket)
    await assert_still_open(bob_socket)
    # Reconnecting with the signed-out cookie is refused.
    again = YSocket(application, shared.pk, cookie=cookie_of(laptop))
    assert await again.connect()
    await assert_closed_4401(again)
    for sock in (phone_socket, bob_socket):
        await sock.close()


async def test_ending_other_sessions_closes_their_sockets(shared, user, other_user):
    laptop = await sync_to_async(signed_in_client)(user)
    phone = await sync_to_async(signed_in_client)(user)
    phone_socket = await open_synced(shared, phone)
    laptop_socket = await open_synced(shared, laptop)
    bob_socket = await open_synced(shared, await sync_to_async(signed_in_client)(other_user))

    page = await sync_to_async(laptop.get)("/accounts/sessions/")
    assert page.status_code == 200
    sessions = await sync_to_async(list)(UserSession.objects.filter(user=user))
    assert len(sessions) == 2
    assert page.content.decode().count("Current") == 1  # this one is marked as current
    response = await sync_to_async(laptop.post)("/accounts/sessions/")
    assert response.status_code == 302

    await assert_closed_4401(phone_socket)
    await assert_still_open(laptop_socket)
    await assert_still_open(bob_socket)
    for sock in (laptop_socket, bob_socket):
        await sock.close()


async def test_password_change_closes_every_socket_of_the_user(shared, user, other_user):
    laptop = await sync_to_async(signed_in_client)(user)
    phone = await sync_to_async(signed_in_client)(user)
    laptop_socket = await open_synced(shared, laptop)
    phone_socket = await open_synced(shared, phone)
    bob_socket = await open_synced(shared, await sync_to_async(signed_in_client)(other_user))

    new_password = "a-quite-different-passphrase"
    response = await sync_to_async(laptop.post)(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": new_password, "password2": new_password},
    )
    assert response.status_code == 302, response.content[:500]

    await assert_closed_4401(laptop_socket)
    await assert_closed_4401(phone_socket)
    await assert_still_open(bob_socket)
    # The browser that changed it stays signed in and reconnects; the other one cannot.
    await (await open_synced(shared, laptop)).close()
    refused = YSocket(application, shared.pk, cookie=cookie_of(phone))
    assert await refused.connect()
    await assert_closed_4401(refused)
    await bob_socket.close()


async def test_deactivation_closes_all_sockets_including_token_ones(shared, user, other_user):
    from accounts.services import access_token_create

    _token, raw = await sync_to_async(access_token_create)(user=user, name="bot")
    cookie_socket = await open_synced(shared, await sync_to_async(signed_in_client)(user))
    token_socket = YSocket(application, shared.pk, token=raw, origin=None)
    assert await token_socket.connect()
    await token_socket.sync()
    bob_socket = await open_synced(shared, await sync_to_async(signed_in_client)(other_user))

    def deactivate():
        account = User.objects.get(pk=user.pk)
        account.is_active = False
        account.save()

    await sync_to_async(deactivate)()

    await assert_closed_4401(cookie_socket)
    await assert_closed_4401(token_socket)
    await assert_still_open(bob_socket)
    await bob_socket.close()


async def test_revoking_a_token_closes_the_sockets_opened_with_it(shared, user):
    from accounts.services import access_token_create

    revoked, revoked_raw = await sync_to_async(access_token_create)(user=user, name="old bot")
    _kept, kept_raw = await sync_to_async(access_token_create)(user=user, name="new bot")
    sockets = {}
    for name, raw in (("revoked", revoked_raw), ("kept", kept_raw)):
        sockets[name] = YSocket(application, shared.pk, token=raw, origin=None)
        assert await sockets[name].connect()
        await sockets[name].sync()
    browser = await open_synced(shared, await sync_to_async(signed_in_client)(user))

    response = await sync_to_async(browser_client_post)(
        user, f"/accounts/tokens/{revoked.pk}/revoke/"
    )
    assert response.status_code == 302

    await assert_closed_4401(sockets["revoked"])
    await assert_still_open(sockets["kept"])
    await assert_still_open(browser)
    await sockets["kept"].close()
    await browser.close()


def browser_client_post(user, url):
    client = signed_in_client(user)
    return client.post(url)


async def test_sign_out_closes_the_per_user_socket(user, other_user):
    laptop = await sync_to_async(signed_in_client)(user)
    bobs = await sync_to_async(signed_in_client)(other_user)

    async def events_socket(client):
        headers = [(b"origin", b"http://localhost"), (b"cookie", cookie_of(client).encode())]
        comm = WebsocketCommunicator(application, "/ws/me", headers=headers)
        assert (await comm.connect())[0]
        return comm

    mine = await events_socket(laptop)
    bob = await events_socket(bobs)
    await sync_to_async(laptop.post)("/accounts/logout/")
    closed = await mine.receive_output(2)
    assert closed == {"type": "websocket.close", "code": 4401, "reason": "session ended"}
    await bob.send_to(text_data="ping")
    assert await bob.receive_from(2) == "pong"
    await bob.disconnect()


async def test_frames_after_the_close_are_not_applied(shared, user):
    from collab.models import DocumentUpdate

    laptop = await sync_to_async(signed_in_client)(user)
    sock = await open_synced(shared, laptop)
    await sync_to_async(laptop.post)("/accounts/logout/")
    await assert_closed_4401(sock)
    # The consumer has left the room: a frame still in flight from it is dropped.
    consumer_room = registry().get(shared.pk)
    assert consumer_room is None or not any(c.user_id == user.pk for c in consumer_room.connections)
    count = await sync_to_async(DocumentUpdate.objects.filter(document=shared).count)()
    assert count == 0


def test_message_shape_is_json_safe():
    from accounts.socket_sessions import connection_matches, sessions_ended_message

    message = sessions_ended_message(user_id=3, session_keys=["b", "a", "a"])
    assert json.loads(json.dumps(message)) == {
        "type": "sessions.ended",
        "user_id": 3,
        "session_keys": ["a", "b"],
    }
    assert connection_matches(message, user_id=3, session_key="a")
    assert not connection_matches(message, user_id=3, session_key="c")
    assert not connection_matches(message, user_id=3, session_key=None)  # a token socket
    assert not connection_matches(message, user_id=4, session_key="a")
    token_message = sessions_ended_message(user_id=3, session_keys=["token:7"])
    assert connection_matches(token_message, user_id=3, session_key="token:7")
    assert not connection_matches(token_message, user_id=3, session_key="a")
    everything = sessions_ended_message(user_id=3, session_keys=None)
    assert connection_matches(everything, user_id=3, session_key=None)
