"""The audit trail: an append-only row for every audited event, sockets included."""

import uuid
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.db import OperationalError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccessToken
from accounts.services import user_create_verified
from collab import audit, protocol, services
from collab.models import AuditEvent, Document, Membership, Role
from collab.rooms import CLOSE_TOO_BIG, registry
from config.asgi import application

from .ysocket import YSocket

PASSWORD = "correct horse battery"


def events(action: str, **filters) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, **filters).order_by("id"))


def only_event(action: str, **filters) -> AuditEvent:
    found = events(action, **filters)
    assert len(found) == 1, [(e.action, e.detail) for e in AuditEvent.objects.all()]
    return found[0]


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# ----------------------------------------------------------------- the model


@pytest.mark.django_db
def test_audit_rows_cannot_be_edited_or_deleted_through_the_model(ann):
    event = audit.record("document.created", actor=ann, title="x")
    event.action = "something else"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.action == "document.created"
    assert stored.actor_email == "ann@example.com"


@pytest.mark.django_db
def test_record_never_raises_when_the_database_refuses(ann, monkeypatch, caplog):
    def refuse(*args, **kwargs):
        raise OperationalError("database is down")

    monkeypatch.setattr(AuditEvent.objects, "create", refuse)
    assert audit.record("document.created", actor=ann) is None
    assert "could not record audit event document.created" in caplog.text


# ------------------------------------------------------------ documents


@pytest.mark.django_db
def test_document_created_renamed_trashed_restored_through_http(ann):
    client = signed_in(ann)
    response = client.post(
        "/api/documents/",
        {"title": "Plan"},
        content_type="application/json",
        HTTP_USER_AGENT="pytest-agent",
    )
    assert response.status_code == 201
    document_id = response.json()["id"]

    created = only_event("document.created", document_id=document_id)
    assert created.actor == ann and created.actor_email == ann.email
    assert created.ip_address == "127.0.0.1"
    assert created.user_agent == "pytest-agent"
    assert created.detail == {"title": "Plan", "kind": "text"}

    url = f"/api/documents/{document_id}/"
    assert (
        client.patch(url, {"title": "Plan B"}, content_type="application/json").status_code == 200
    )
    renamed = only_event("document.renamed", document_id=document_id)
    assert renamed.detail == {"old": "Plan", "new": "Plan B"} and renamed.actor == ann

    assert client.delete(url).status_code == 204
    assert only_event("document.trashed", document_id=document_id).actor == ann

    response = client.post(reverse("document_restore", args=[document_id]))
    assert response.status_code == 302
    assert only_event("document.restored", document_id=document_id).actor == ann


@pytest.mark.django_db
def test_document_deleted_and_purged(ann):
    kept = services.document_create(owner=ann, title="Deleted now")
    kept_id = kept.pk
    services.document_delete(document=kept)
    deleted = only_event("document.deleted", document_id=kept_id)
    assert deleted.detail == {"title": "Deleted now"}

    old = services.document_create(owner=ann, title="Old trash")
    old_id = old.pk
    Document.objects.filter(pk=old_id).update(deleted_at=timezone.now() - timedelta(days=31))
    assert services.trash_purge() == 1
    purged = only_event("document.purged", document_id=old_id)
    assert purged.actor is None and purged.detail == {"title": "Old trash"}


# -------------------------------------------------------------- sharing


@pytest.fixture
def plan(ann):
    return services.document_create(owner=ann, title="Plan")


@pytest.mark.django_db
def test_member_added_role_changed_and_removed(ann, bob, plan):
    client = signed_in(ann)
    members = f"/api/documents/{plan.pk}/members/"
    response = client.post(
        members, {"email": bob.email, "role": "viewer"}, content_type="application/json"
    )
    assert response.status_code == 202
    added = only_event("member.added", document_id=plan.pk)
    assert added.actor == ann
    assert added.detail == {"user_id": bob.pk, "email": bob.email, "role": "viewer"}

    member = f"{members}{bob.pk}/"
    assert (
        client.patch(member, {"role": "editor"}, content_type="application/json").status_code == 200
    )
    changed = only_event("member.role_changed", document_id=plan.pk)
    assert changed.actor == ann
    assert changed.detail == {
        "user_id": bob.pk,
        "email": bob.email,
        "old": "viewer",
        "new": "editor",
    }

    assert client.delete(member).status_code == 204
    removed = only_event("member.removed", document_id=plan.pk)
    assert removed.actor == ann
    assert removed.detail == {"user_id": bob.pk, "email": bob.email, "role": "editor"}


@pytest.mark.django_db
def test_invitation_sent_revoked_and_accepted(ann, plan):
    client = signed_in(ann)
    share = reverse("share_invite", args=[plan.pk])
    assert client.post(share, {"email": "New@Example.com", "role": "editor"}).status_code == 302
    sent = only_event("invitation.sent", document_id=plan.pk)
    assert sent.actor == ann and sent.detail == {"email": "new@example.com", "role": "editor"}

    revoke = reverse("share_invitation_revoke", args=[plan.pk])
    assert client.post(revoke, {"email": "new@example.com"}).status_code == 302
    revoked = only_event("invitation.revoked", document_id=plan.pk)
    assert revoked.actor == ann and revoked.detail == {"email": "new@example.com"}

    client.post(share, {"email": "carl@example.com", "role": "viewer"})
    carl = user_create_verified(email="carl@example.com")
    accepted = only_event("invitation.accepted", document_id=plan.pk)
    assert accepted.actor == carl
    assert accepted.detail == {"email": "carl@example.com", "role": "viewer"}
    assert Membership.objects.get(document=plan, user=carl).role == Role.VIEWER


@pytest.mark.django_db
def test_ownership_transfer(ann, bob, plan):
    Membership.objects.create(document=plan, user=bob, role=Role.EDITOR)
    response = signed_in(ann).post(
        reverse("share_ownership_transfer", args=[plan.pk]), {"user_id": bob.pk}
    )
    assert response.status_code == 302
    moved = only_event("ownership.transferred", document_id=plan.pk)
    assert moved.actor == ann
    assert moved.detail == {"from_user_id": ann.pk, "to_user_id": bob.pk, "to_email": bob.email}


# -------------------------------------------------------------- exports


@pytest.mark.django_db
def test_exports_of_live_content_are_recorded(ann):
    client = signed_in(ann)
    text = services.document_create(owner=ann, title="Text")
    board = services.document_create(owner=ann, title="Board", kind="whiteboard")

    assert client.get(f"/api/documents/{text.pk}/content/?format=markdown").status_code == 200
    assert client.get(f"/api/documents/{board.pk}/content/?format=svg").status_code == 200
    response = client.get(reverse("document_export", args=[text.pk, "html"]))
    assert response.status_code == 200

    assert [e.detail["format"] for e in events("document.exported", document_id=text.pk)] == [
        "markdown",
        "html",
    ]
    board_export = only_event("document.exported", document_id=board.pk)
    assert board_export.actor == ann and board_export.detail["format"] == "svg"


@pytest.mark.django_db
def test_refused_export_is_not_recorded(ann, bob):
    text = services.document_create(owner=ann, title="Text")
    response = signed_in(bob).get(f"/api/documents/{text.pk}/content/")
    assert response.status_code == 404
    assert events("document.exported") == []


# ------------------------------------------------------- tokens, sign-in


@pytest.mark.django_db
def test_access_token_created_and_revoked(ann):
    client = signed_in(ann)
    response = client.post(reverse("access_token_create"), {"name": "deploy bot", "expires": "30"})
    assert response.status_code == 200
    token = AccessToken.objects.get(user=ann)
    created = only_event("token.created")
    assert created.actor == ann
    assert created.detail["token_id"] == token.pk and created.detail["name"] == "deploy bot"
    assert created.detail["hint"] == token.hint
    # The raw token never reaches the trail, only the hint that is shown anyway.
    assert len(token.hint) < 20

    response = client.post(reverse("access_token_revoke", args=[token.pk]))
    assert response.status_code == 302
    assert only_event("token.revoked").detail == {"token_id": token.pk}


@pytest.mark.django_db
def test_site_sign_in_failure_and_sign_out(ann):
    client = Client()
    login = reverse("account_login")
    response = client.post(login, {"login": ann.email, "password": "wrong"})
    assert response.status_code == 200
    failed = only_event("signin.failed")
    assert failed.actor is None and failed.detail == {"email": ann.email}
    assert failed.ip_address == "127.0.0.1"
    assert "wrong" not in str(failed.detail)

    response = client.post(login, {"login": ann.email, "password": PASSWORD})
    assert response.status_code == 302
    assert only_event("signin").actor == ann

    assert client.post(reverse("account_logout")).status_code == 302
    assert only_event("signout").actor == ann


# -------------------------------------------------------------- sockets

socket_db = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def sockets_settled():
    """Let audit writes and rooms finish before the test database is flushed."""
    yield
    await audit.settle()
    reg = registry()
    for room in list(reg.rooms.values()):
        await room.flush(5)
        await room.stop()
    for task in list(reg._unloading.values()):
        await task


def cookie_of(user) -> str:
    return f"sessionid={signed_in(user).cookies['sessionid'].value}"


@pytest.fixture
def board(ann, bob, make_user, sockets_settled):
    document = services.document_create(owner=ann, title="Plan")
    Membership.objects.create(document=document, user=bob, role=Role.EDITOR)
    val = make_user("val@example.com", display_name="Val")
    Membership.objects.create(document=document, user=val, role=Role.VIEWER)
    sam = make_user("sam@example.com")
    return {
        "document": document,
        "ann": ann,
        "bob": bob,
        "val": val,
        "sam": sam,
        "cookies": {u.email: cookie_of(u) for u in (ann, bob, val, sam)},
    }


async def connected(board, user, document_id=None, **kwargs) -> YSocket:
    sock = YSocket(
        application,
        document_id or board["document"].pk,
        cookie=board["cookies"][user.email],
        **kwargs,
    )
    assert await sock.connect()
    return sock


# database_sync_to_async, not sync_to_async: it closes the thread's connection afterwards,
# which must not outlive the test database.
@database_sync_to_async
def socket_events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).select_related("actor").order_by("id"))


async def settled_events(action: str) -> list[AuditEvent]:
    await audit.settle()
    return await socket_events(action)


@socket_db
async def test_socket_sign_in_is_recorded_with_role(board):
    sock = await connected(board, board["val"])
    await sock.sync()
    [event] = await settled_events("socket.connected")
    assert event.actor_id == board["val"].pk
    assert event.document_id == board["document"].pk
    assert event.detail == {"role": "viewer", "via_token": False}
    await sock.close()


@socket_db
async def test_socket_refusals_are_recorded_with_their_reason(board):
    trashed = await sync_to_async(services.document_create)(owner=board["ann"], title="Old")
    await sync_to_async(services.document_trash)(document=trashed)
    unknown = uuid.uuid4()

    anonymous = YSocket(application, board["document"].pk)
    assert await anonymous.connect()
    stranger = await connected(board, board["sam"])
    nowhere = await connected(board, board["ann"], document_id=unknown)
    binned = await connected(board, board["ann"], document_id=trashed.pk)
    for sock in (anonymous, stranger, nowhere, binned):
        await sock.drain(0.2)
        assert sock.close_code in (4401, 4403)
    foreign = YSocket(
        application,
        board["document"].pk,
        cookie=board["cookies"][board["ann"].email],
        origin="http://evil.example",
    )
    assert not await foreign.connect()
    no_origin = YSocket(
        application, board["document"].pk, cookie=board["cookies"][board["ann"].email], origin=None
    )
    assert not await no_origin.connect()

    refused = await settled_events("socket.refused")
    by_reason = {e.detail["reason"]: e for e in refused}
    assert len(refused) == 6, [e.detail for e in refused]
    assert by_reason["not signed in"].actor_id is None
    assert by_reason["not signed in"].detail["code"] == 4401
    assert by_reason["forbidden"].actor_id == board["sam"].pk
    assert by_reason["forbidden"].document_id == board["document"].pk
    assert by_reason["not found"].document_id == unknown
    assert by_reason["deleted"].document_id == trashed.pk
    assert by_reason["bad origin"].detail["origin"] == "http://evil.example"
    assert by_reason["bad origin"].detail["path"] == f"/ws/documents/{board['document'].pk}"
    assert "no origin and no token" in by_reason
    assert await socket_events("socket.connected") == []


@socket_db
async def test_token_for_another_document_is_recorded(board):
    other = await sync_to_async(services.document_create)(owner=board["ann"], title="Other")
    token = await sync_to_async(services.connect_token_issue)(user=board["ann"], document=other)
    sock = YSocket(application, board["document"].pk, token=token, origin=None)
    assert await sock.connect()
    await sock.drain(0.2)
    assert sock.close_code == 4403
    [event] = await settled_events("socket.refused")
    assert event.detail["reason"] == "token is for another document"
    assert event.actor_id == board["ann"].pk


@socket_db
async def test_viewer_writes_are_recorded_once_per_connection(board):
    first = await connected(board, board["val"])
    await first.sync()
    for n in range(3):
        await first.send(protocol.update_message(first.append_paragraph(f"edit {n}")))
    await first.drain(0.2)
    assert first.close_code is None  # dropped, not closed
    second = await connected(board, board["val"])
    await second.sync()
    await second.send(protocol.update_message(second.append_paragraph("again")))
    await second.drain(0.2)

    refused = await settled_events("frame.refused")
    assert [e.detail["reason"] for e in refused] == ["viewer write", "viewer write"]
    assert {e.actor_id for e in refused} == {board["val"].pk}
    assert refused[0].detail["role"] == "viewer"
    for sock in (first, second):
        await sock.close()


async def refused_frame_reason(board, frame=None, text=None) -> AuditEvent:
    sock = await connected(board, board["bob"])
    await sock.sync()
    if text is not None:
        await sock.comm.send_to(text_data=text)
    else:
        await sock.send(frame)
    await sock.drain(0.3)
    assert sock.close_code is not None
    [event] = await settled_events("frame.refused")
    assert event.actor_id == board["bob"].pk
    assert event.document_id == board["document"].pk
    return event


@socket_db
async def test_malformed_frame_is_recorded(board):
    event = await refused_frame_reason(board, b"\x00\x02\x05garbage-that-is-not-an-update")
    assert event.detail["reason"] == "malformed" and event.detail["code"] == 4400


@socket_db
async def test_rejected_update_is_recorded(board):
    event = await refused_frame_reason(
        board, protocol.update_message(b"\x01\x01\x05\x00\xff\xff\xff")
    )
    assert event.detail["reason"] in ("update rejected", "malformed")
    assert event.detail["message"]


@socket_db
async def test_too_deep_update_is_recorded(board):
    from .test_update_guard import deep_any_update

    event = await refused_frame_reason(board, protocol.update_message(deep_any_update(500)))
    assert event.detail["reason"] == "too deep"
    assert "max_depth" in event.detail["message"]


@socket_db
async def test_oversized_frame_is_recorded(board, settings):
    settings.COLLAB = {**settings.COLLAB, "MAX_MESSAGE_BYTES": 1000}
    event = await refused_frame_reason(board, protocol.update_message(b"\x00" * 2000))
    assert event.detail["reason"] == "too big" and event.detail["code"] == CLOSE_TOO_BIG
    assert event.detail["bytes"] > 1000


@socket_db
async def test_text_frame_is_recorded(board):
    event = await refused_frame_reason(board, text="hello")
    assert event.detail["reason"] == "text frame"


@socket_db
async def test_a_database_outage_never_breaks_the_socket(board, monkeypatch, caplog):
    def refuse(*args, **kwargs):
        raise OperationalError("database is down")

    monkeypatch.setattr(AuditEvent.objects, "create", refuse)
    sock = await connected(board, board["val"])
    await sock.sync()
    await sock.send(protocol.update_message(sock.append_paragraph("dropped")))
    ann = await connected(board, board["ann"])
    await ann.sync()
    await ann.send(protocol.update_message(ann.append_paragraph("still works")))
    await sock.wait_for(lambda: "still works" in sock.paragraphs())
    assert sock.close_code is None
    await audit.settle()
    assert await socket_events("socket.connected") == []
    assert "could not record audit event socket.connected" in caplog.text
    for s in (sock, ann):
        await s.close()


@socket_db
async def test_user_events_socket_refusal_is_recorded(sockets_settled):
    from channels.testing import WebsocketCommunicator

    comm = WebsocketCommunicator(application, "/ws/me", headers=[(b"origin", b"http://localhost")])
    connected, _ = await comm.connect()
    assert connected
    closed = await comm.receive_output(2)
    assert closed["type"] == "websocket.close" and closed["code"] == 4401
    [event] = await settled_events("socket.refused")
    assert event.detail == {"reason": "not signed in", "code": 4401, "socket": "user events"}
    assert event.document_id is None and event.actor_id is None
