"""The document socket through the real ASGI stack, with channels' WebsocketCommunicator."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from collab import protocol, services, store
from collab.models import DocumentUpdate, Membership
from collab.rooms import registry
from config.asgi import application

from .ysocket import YSocket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def rooms_settled():
    """Write and unload every room before the test's database is flushed: a room still
    writing in the database thread would race the flush (and the next test's setup)."""
    yield
    reg = registry()
    for room in list(reg.rooms.values()):
        await room.flush(5)
        await room.stop()
    for task in list(reg._unloading.values()):
        await task


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.fixture
def doc_setup(ann, bob, make_user):
    document = services.document_create(owner=ann, title="Plan")
    Membership.objects.create(document=document, user=bob, role="editor")
    viewer = make_user("val@example.com", display_name="Val")
    Membership.objects.create(document=document, user=viewer, role="viewer")
    stranger = make_user("sam@example.com")
    return {
        "document": document,
        "ann": session_cookie(ann),
        "bob": session_cookie(bob),
        "val": session_cookie(viewer),
        "sam": session_cookie(stranger),
        "ann_user": ann,
        "bob_user": bob,
        "val_user": viewer,
    }


@sync_to_async
def stored_updates(document):
    return list(DocumentUpdate.objects.filter(document=document).order_by("seq"))


async def flushed(document_id):
    room = registry().get(document_id)
    if room is not None:
        assert await room.flush(5)


async def wait_stored(document, count: int, timeout: float = 5.0) -> list:
    """Poll the log: a sent frame reaches the consumer asynchronously."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        rows = await stored_updates(document)
        if len(rows) >= count or asyncio.get_running_loop().time() > deadline:
            return rows
        await asyncio.sleep(0.02)


async def open_socket(doc_setup, who, **kwargs) -> YSocket:
    sock = YSocket(application, doc_setup["document"].pk, cookie=doc_setup[who], **kwargs)
    assert await sock.connect()
    return sock


async def test_not_signed_in_is_accepted_then_closed_4401(doc_setup):
    sock = YSocket(application, doc_setup["document"].pk)
    assert await sock.connect()
    denied = await sock.receive()
    assert isinstance(denied, protocol.Auth)
    assert await sock.receive() == ("close", 4401)


async def test_non_member_closed_4403(doc_setup):
    sock = await open_socket(doc_setup, "sam")
    assert isinstance(await sock.receive(), protocol.Auth)
    assert await sock.receive() == ("close", 4403)


async def test_unknown_document_closed_4403_like_no_access(doc_setup):
    import uuid

    sock = YSocket(application, uuid.uuid4(), cookie=doc_setup["ann"])
    assert await sock.connect()
    await sock.receive()
    assert await sock.receive() == ("close", 4403)


async def test_foreign_origin_refused(doc_setup):
    sock = YSocket(
        application, doc_setup["document"].pk, cookie=doc_setup["ann"], origin="http://evil.example"
    )
    assert not await sock.connect()


async def test_cookie_without_origin_refused(doc_setup):
    sock = YSocket(application, doc_setup["document"].pk, cookie=doc_setup["ann"], origin=None)
    assert not await sock.connect()


async def test_server_sends_step1_then_answers_step1_with_step2(doc_setup):
    sock = await open_socket(doc_setup, "ann")
    first = await sock.receive()
    assert isinstance(first, protocol.SyncStep1)
    await sock.sync()
    assert sock.synced
    await sock.close()


async def test_update_is_relayed_stored_and_served_to_late_joiner(doc_setup):
    document = doc_setup["document"]
    ann = await open_socket(doc_setup, "ann")
    bob = await open_socket(doc_setup, "bob")
    await ann.sync()
    await bob.sync()
    await ann.send(protocol.update_message(ann.append_paragraph("hello from ann")))
    await bob.wait_for(lambda: bob.paragraphs() == ["hello from ann"])
    # Relayed when accepted; stored by the room's writer right after.
    rows = await wait_stored(document, 1)
    assert len(rows) == 1 and rows[0].author_id == doc_setup["ann_user"].pk
    late = await open_socket(doc_setup, "bob")
    await late.sync()
    assert late.paragraphs() == ["hello from ann"]
    for sock in (ann, bob, late):
        await sock.close()


async def test_sender_does_not_get_its_own_update_back(doc_setup):
    ann = await open_socket(doc_setup, "ann")
    await ann.sync()
    await ann.send(protocol.update_message(ann.append_paragraph("x")))
    await flushed(doc_setup["document"].pk)
    received = await ann.drain(0.3)
    assert not any(isinstance(m, protocol.SyncUpdate) for m in received)
    await ann.close()


async def test_viewer_writes_are_dropped_but_socket_stays_open(doc_setup):
    document = doc_setup["document"]
    val = await open_socket(doc_setup, "val")
    ann = await open_socket(doc_setup, "ann")
    await val.sync()
    await ann.sync()
    await val.send(protocol.update_message(val.append_paragraph("viewer edit")))
    await val.send(protocol.sync_step2_message(val.append_paragraph("viewer step2")))
    received = await ann.drain(0.5)
    assert not any(isinstance(m, protocol.SyncUpdate) for m in received)
    assert await stored_updates(document) == []
    # Still connected and still receiving: an editor's change reaches the viewer.
    await ann.send(protocol.update_message(ann.append_paragraph("editor edit")))
    await val.wait_for(lambda: "editor edit" in val.paragraphs())
    # Viewers may send awareness.
    val.awareness.set_local_state({"user": {"name": "whoever", "color": "#000000"}})
    await val.send(
        protocol.awareness_message(val.awareness.encode_awareness_update([val.doc.client_id]))
    )
    await ann.wait_for(lambda: val.doc.client_id in ann.awareness.states)
    await val.close()
    await ann.close()


async def test_malformed_frame_closes_4400_and_room_keeps_working(doc_setup):
    bad = await open_socket(doc_setup, "bob")
    await bad.sync()
    await bad.send(b"\x00\x02\x05garbage-that-is-not-an-update")
    assert (await bad.drain(0.5))[-1] == ("close", 4400)
    await bad.send(b"\x00\x02\x03\x01\x02\x03")  # ignored after close
    ann = await open_socket(doc_setup, "ann")
    await ann.sync()
    await ann.send(protocol.update_message(ann.append_paragraph("still fine")))
    assert len(await wait_stored(doc_setup["document"], 1)) == 1
    await ann.close()


async def test_malformed_update_is_refused_and_document_untouched(doc_setup):
    sock = await open_socket(doc_setup, "bob")
    await sock.sync()
    await sock.send(protocol.update_message(b"\x01\x01\x05\x00\xff\xff\xff"))
    assert (await sock.drain(0.5))[-1] == ("close", 4400)
    assert await stored_updates(doc_setup["document"]) == []


async def test_text_frame_closes_4400(doc_setup):
    sock = await open_socket(doc_setup, "bob")
    await sock.sync()
    await sock.comm.send_to(text_data="hello")
    assert (await sock.drain(0.5))[-1] == ("close", 4400)


async def test_awareness_is_echoed_relayed_named_by_account_and_removed_on_leave(doc_setup):
    ann = await open_socket(doc_setup, "ann")
    bob = await open_socket(doc_setup, "bob")
    await ann.sync()
    await bob.sync()
    ann.awareness.set_local_state(
        {"user": {"name": "I am the CEO", "color": "#123456"}, "cursor": 3}
    )
    await ann.send(
        protocol.awareness_message(ann.awareness.encode_awareness_update([ann.doc.client_id]))
    )
    client_id = ann.doc.client_id
    await bob.wait_for(lambda: client_id in bob.awareness.states)
    state = bob.awareness.states[client_id]
    assert state["user"]["name"] == "Ann"
    assert state["user"]["color"] == doc_setup["ann_user"].cursor_color
    assert state["cursor"] == 3
    echoed = await ann.drain(0.3)
    assert any(isinstance(m, protocol.AwarenessUpdate) for m in echoed)
    # A joiner gets every current state at once; query-awareness answers with them again.
    late = await open_socket(doc_setup, "bob")
    await late.wait_for(lambda: client_id in late.awareness.states)
    await late.send(b"\x03")
    assert any(isinstance(m, protocol.AwarenessUpdate) for m in await late.drain(0.3))
    await ann.close()
    await bob.wait_for(lambda: client_id not in bob.awareness.states)
    await bob.close()
    await late.close()


async def test_updates_queued_when_sender_leaves_are_stored(doc_setup):
    document = doc_setup["document"]
    sock = await open_socket(doc_setup, "bob")
    await sock.sync()
    for i in range(50):
        await sock.send(protocol.update_message(sock.append_paragraph(f"line {i}")))
    await sock.close()
    for _ in range(200):
        if len(await stored_updates(document)) == 50 and registry().get(document.pk) is None:
            break
        await asyncio.sleep(0.02)
    assert len(await stored_updates(document)) == 50
    doc, _ = await sync_to_async(store.doc_load)(document_id=document.pk)
    from collab.render import document_text

    assert document_text(doc).splitlines() == [f"line {i}" for i in range(50)]


async def test_failed_writes_are_retried_and_nothing_is_lost(doc_setup, monkeypatch):
    document = doc_setup["document"]
    real_append = store.updates_append_many
    failures = {"left": 3}

    def flaky_append(*args):
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("database is down")
        return real_append(*args)

    monkeypatch.setattr(store, "updates_append_many", flaky_append)
    ann = await open_socket(doc_setup, "ann")
    bob = await open_socket(doc_setup, "bob")
    await ann.sync()
    await bob.sync()
    await ann.send(protocol.update_message(ann.append_paragraph("survives an outage")))
    # Collaboration continues during the outage...
    await bob.wait_for(lambda: bob.paragraphs() == ["survives an outage"])
    # ...and the update is written once the database is back.
    await flushed(document.pk)
    assert failures["left"] == 0
    assert len(await stored_updates(document)) == 1
    await ann.close()
    await bob.close()


async def test_removing_a_member_closes_their_socket_4403(doc_setup):
    bob = await open_socket(doc_setup, "bob")
    await bob.sync()
    await sync_to_async(services.member_remove)(
        document=doc_setup["document"], user_id=doc_setup["bob_user"].pk
    )
    assert (await bob.drain(1.0))[-1] == ("close", 4403)


async def test_demoted_editor_is_told_and_can_no_longer_write(doc_setup):
    bob = await open_socket(doc_setup, "bob")
    await bob.sync()
    await sync_to_async(services.member_update_role)(
        document=doc_setup["document"], user_id=doc_setup["bob_user"].pk, role="viewer"
    )
    # 4100: role changed, reconnect (y-websocket retries codes outside 4400-4499).
    assert (await bob.drain(1.0))[-1] == ("close", 4100)
    again = await open_socket(doc_setup, "bob")
    await again.sync()
    await again.send(protocol.update_message(again.append_paragraph("after demotion")))
    await asyncio.sleep(0.3)
    assert await stored_updates(doc_setup["document"]) == []
    await again.close()


async def test_access_token_without_origin(doc_setup):
    from accounts.services import access_token_create

    _, raw = await sync_to_async(access_token_create)(user=doc_setup["bob_user"], name="bot")
    sock = YSocket(application, doc_setup["document"].pk, token=raw, origin=None)
    assert await sock.connect()
    await sock.sync()
    await sock.close()


async def test_bad_token_closes_4401(doc_setup):
    sock = YSocket(application, doc_setup["document"].pk, token="cpat_nope", origin=None)
    assert await sock.connect()
    await sock.receive()
    assert await sock.receive() == ("close", 4401)


async def test_connect_token_is_bound_to_its_document(doc_setup):
    other = await sync_to_async(services.document_create)(owner=doc_setup["bob_user"], title="B")
    token = services.connect_token_issue(user=doc_setup["bob_user"], document=other)
    sock = YSocket(application, doc_setup["document"].pk, token=token, origin=None)
    assert await sock.connect()
    await sock.receive()
    assert await sock.receive() == ("close", 4403)
    ok = YSocket(application, other.pk, token=token, origin=None)
    assert await ok.connect()
    await ok.sync()
    await ok.close()


async def test_expired_connect_token_closes_4401(doc_setup, settings):
    settings.COLLAB = {**settings.COLLAB, "CONNECT_TOKEN_MAX_AGE": -1}
    token = services.connect_token_issue(user=doc_setup["bob_user"], document=doc_setup["document"])
    sock = YSocket(application, doc_setup["document"].pk, token=token, origin=None)
    assert await sock.connect()
    await sock.receive()
    assert await sock.receive() == ("close", 4401)


async def test_oversized_frame_closes_4413(doc_setup, settings):
    settings.COLLAB = {**settings.COLLAB, "MAX_MESSAGE_BYTES": 1000}
    sock = await open_socket(doc_setup, "bob")
    await sock.sync()
    await sock.send(protocol.update_message(sock.append_paragraph("x" * 2000)))
    # 4413, not 1009: a stock client retries 1009 forever with the same frame.
    assert (await sock.drain(0.5))[-1] == ("close", 4413)
    assert await stored_updates(doc_setup["document"]) == []
