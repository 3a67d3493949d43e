"""The socket middleware stack: the session is set up as channels does, send is not wrapped."""

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client

from collab.ws_auth import SocketAuthMiddlewareStack

pytestmark = pytest.mark.django_db(transaction=True)


async def test_sockets_get_the_signed_in_user_and_the_servers_own_send(ann):
    browser = Client()
    await sync_to_async(browser.force_login)(ann)
    session_key = browser.cookies[settings.SESSION_COOKIE_NAME].value
    seen = {}

    async def inner(scope, receive, send):
        seen["user_id"] = await sync_to_async(lambda: scope["user"].pk)()
        seen["session_key"] = scope["session"].session_key
        seen["send"] = send

    async def server_send(message):
        pass

    cookie = f"{settings.SESSION_COOKIE_NAME}={session_key}".encode()
    scope = {"type": "websocket", "path": "/ws/x", "headers": [(b"cookie", cookie)]}
    await SocketAuthMiddlewareStack(inner)(scope, None, server_send)
    assert seen["user_id"] == ann.pk
    assert seen["session_key"] == session_key
    # No save-on-send wrapper: every relayed frame goes straight to the server.
    assert seen["send"] is server_send


async def test_no_cookie_is_an_anonymous_socket():
    seen = {}

    async def inner(scope, receive, send):
        seen["authenticated"] = await sync_to_async(lambda: scope["user"].is_authenticated)()

    await SocketAuthMiddlewareStack(inner)({"type": "websocket", "headers": []}, None, None)
    assert seen["authenticated"] is False
