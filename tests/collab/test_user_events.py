"""The per-user socket: events reach exactly the users they are for, and only them."""

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from collab.notifications import notify_users
from config.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def cookie_for(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


async def connect(user=None):
    headers = [(b"origin", b"http://localhost")]
    if user is not None:
        headers.append((b"cookie", (await sync_to_async(cookie_for)(user)).encode()))
    comm = WebsocketCommunicator(application, "/ws/me", headers=headers)
    connected, _ = await comm.connect()
    assert connected
    return comm


async def test_events_reach_their_user_only(ann, bob):
    ann_socket = await connect(ann)
    bob_socket = await connect(bob)
    event = {"type": "document.renamed", "id": "x", "title": "New"}
    await sync_to_async(notify_users)([ann.pk], event)
    assert json.loads(await ann_socket.receive_from(2)) == event
    assert await bob_socket.receive_nothing(0.3)
    await ann_socket.disconnect()
    await bob_socket.disconnect()


async def test_anonymous_is_closed_4401(db):
    comm = await connect()
    assert (await comm.receive_output(2))["code"] == 4401


async def test_ping_pong(ann):
    comm = await connect(ann)
    await comm.send_to(text_data="ping")
    assert await comm.receive_from(2) == "pong"
    await comm.disconnect()
