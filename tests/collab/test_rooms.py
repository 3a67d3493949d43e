"""The room registry: one load for joiners arriving together, unload after the last leaves."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from collab import services, store
from collab.rooms import RoomRegistry

pytestmark = pytest.mark.django_db(transaction=True)


class FakeConnection:
    def __init__(self, user_id):
        self.user_id = user_id
        self.user_name = "Ann"
        self.user_color = "#000000"
        self.role = "owner"
        self.frames = []

    async def send_frame(self, frame):
        self.frames.append(frame)

    async def close_with(self, code, reason):
        self.closed = code


async def test_joiners_arriving_together_load_the_document_once(ann, monkeypatch):
    document = await sync_to_async(services.document_create)(owner=ann, title="Once")
    loads = []
    real_load = store.doc_load

    def counting_load(**kwargs):
        loads.append(kwargs)
        return real_load(**kwargs)

    monkeypatch.setattr(store, "doc_load", counting_load)
    registry = RoomRegistry()
    rooms = await asyncio.gather(*(registry.acquire(document.pk) for _ in range(5)))
    assert len(loads) == 1
    assert all(room is rooms[0] for room in rooms)
    for room in rooms:
        await registry.release(room)
    for _ in range(100):
        if registry.get(document.pk) is None and not registry._unloading:
            break
        await asyncio.sleep(0.02)
    assert registry.get(document.pk) is None


async def test_room_stays_until_its_updates_are_written(ann, monkeypatch):
    from pycrdt import Doc, Text

    document = await sync_to_async(services.document_create)(owner=ann, title="Pending")
    registry = RoomRegistry()
    room = await registry.acquire(document.pk)
    conn = FakeConnection(ann.pk)
    await room.join(conn)
    real_append = store.updates_append
    outage = {"on": True}

    def failing_append(**kwargs):
        if outage["on"]:
            raise RuntimeError("database down")
        return real_append(**kwargs)

    monkeypatch.setattr(store, "updates_append", failing_append)
    doc = Doc()
    doc["t"] = text = Text()
    text += "kept"
    room.accept_update(conn, doc.get_update())
    await room.leave(conn)
    await registry.release(room)
    await asyncio.sleep(0.5)
    assert registry.get(document.pk) is room  # not unloaded with unwritten updates
    outage["on"] = False
    for _ in range(200):
        if registry.get(document.pk) is None:
            break
        await asyncio.sleep(0.05)
    assert registry.get(document.pk) is None
    loaded, _ = await sync_to_async(store.doc_load)(document_id=document.pk)
    assert str(loaded.get("t", type=Text)) == "kept"
