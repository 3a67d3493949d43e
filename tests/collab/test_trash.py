"""The trash: deleting hides a document from everyone (lists, API, page, sockets) but keeps it
and its log restorable by its owners for 30 days; purge_trash then deletes it for good."""

from datetime import timedelta
from io import StringIO

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.services import access_token_create
from collab import selectors, services, store
from collab.models import (
    TRASH_RETENTION,
    Document,
    DocumentSnapshot,
    DocumentUpdate,
    Invitation,
    Membership,
)


def bearer(user) -> dict:
    _token, raw = access_token_create(user=user, name="tests")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def events(monkeypatch):
    """Every notify_users call, as (sorted user ids, event)."""
    sent = []
    monkeypatch.setattr(
        "collab.notifications.notify_users",
        lambda user_ids, event: sent.append((sorted(user_ids), event)),
    )
    return sent


@pytest.fixture
def plan(ann, bob):
    document = services.document_create(owner=ann, title="Plan")
    Membership.objects.create(document=document, user=bob, role="editor")
    store.updates_append(
        document_id=document.pk,
        updates=[store.PendingUpdate(b"\x00\x00", bob.pk, timezone.now())],
    )
    return document


def trashed_days_ago(document, days: float) -> None:
    services.document_trash(document=document)
    Document.objects.filter(pk=document.pk).update(deleted_at=timezone.now() - timedelta(days=days))


# Trash and restore


@pytest.mark.django_db
def test_trash_hides_the_document_but_keeps_it_and_its_log(ann, bob, plan):
    services.member_add(document=plan, email="new@example.com", role="viewer", invited_by=ann)

    services.document_trash(document=plan)

    plan.refresh_from_db()
    assert plan.deleted_at is not None
    assert DocumentUpdate.objects.filter(document=plan).count() == 1
    assert Membership.objects.filter(document=plan).count() == 2
    assert Invitation.objects.filter(document=plan).exists()
    for user in (ann, bob):
        assert selectors.role_of(user=user, document_id=plan.pk) is None
        assert not selectors.documents_for(user=user).exists()
    assert list(selectors.trash_for(user=ann)) == [plan]
    assert not selectors.trash_for(user=bob).exists()


@pytest.mark.django_db
def test_trashing_twice_keeps_the_first_date(plan):
    services.document_trash(document=plan)
    first = Document.objects.get(pk=plan.pk).deleted_at
    services.document_trash(document=Document.objects.get(pk=plan.pk))
    assert Document.objects.get(pk=plan.pk).deleted_at == first


@pytest.mark.django_db
def test_restore_brings_it_back_for_every_member(ann, bob, plan):
    services.document_trash(document=plan)

    services.document_restore(document=plan)

    assert selectors.role_of(user=ann, document_id=plan.pk) == "owner"
    assert selectors.role_of(user=bob, document_id=plan.pk) == "editor"
    assert not selectors.trash_for(user=ann).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/documents/{id}/"),
        ("patch", "/api/documents/{id}/"),
        ("delete", "/api/documents/{id}/"),
        ("get", "/api/documents/{id}/members/"),
        ("post", "/api/documents/{id}/members/"),
        ("get", "/api/documents/{id}/content"),
        ("post", "/api/documents/{id}/connect-token/"),
    ],
)
def test_a_trashed_document_is_404_in_the_api_even_for_its_owner(client, ann, plan, method, path):
    services.document_trash(document=plan)

    url = path.format(id=plan.pk)
    if method == "get":
        response = client.get(url, **bearer(ann))
    else:
        body = '{"title": "x", "email": "x@example.com"}'
        response = getattr(client, method)(
            url, data=body, content_type="application/json", **bearer(ann)
        )

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.django_db
def test_api_list_and_page_leave_out_trashed_documents(client, ann, bob, plan):
    services.document_trash(document=plan)

    assert client.get("/api/documents/", **bearer(bob)).json() == {"documents": []}
    assert logged_in(ann).get(f"/documents/{plan.pk}/").status_code == 404
    assert logged_in(bob).get(f"/documents/{plan.pk}/share/").status_code == 404


@pytest.mark.django_db
def test_api_delete_moves_to_the_trash_and_the_owner_can_restore(client, ann, plan):
    assert client.delete(f"/api/documents/{plan.pk}/", **bearer(ann)).status_code == 204
    assert Document.objects.get(pk=plan.pk).deleted_at is not None

    assert logged_in(ann).post(f"/trash/{plan.pk}/restore/").status_code == 302

    assert client.get(f"/api/documents/{plan.pk}/", **bearer(ann)).json()["title"] == "Plan"


# Live events


@pytest.mark.django_db
def test_trash_tells_every_member_and_restore_shares_it_again(ann, bob, plan, events):
    services.document_trash(document=plan)
    assert events == [([ann.pk, bob.pk], {"type": "document.removed", "id": str(plan.pk)})]

    events.clear()
    services.document_restore(document=plan)

    url = f"/documents/{plan.pk}/"
    common = {"id": str(plan.pk), "title": "Plan", "kind": "text", "owner_name": "Ann", "url": url}
    assert sorted(events, key=lambda e: e[0]) == [
        ([ann.pk], {"type": "document.shared", "document": {**common, "role": "owner"}}),
        ([bob.pk], {"type": "document.shared", "document": {**common, "role": "editor"}}),
    ]


@pytest.mark.django_db
def test_trash_closes_live_sockets_of_the_document(plan, monkeypatch):
    sent = []
    monkeypatch.setattr(
        "collab.services.access_changed_send",
        lambda **kwargs: sent.append(kwargs),
    )
    services.document_trash(document=plan)
    assert sent == [{"document_id": plan.pk, "user_id": None}]


@pytest.mark.django_db
def test_events_are_sent_after_commit_only(
    ann, bob, plan, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []

    class Layer:
        async def group_send(self, group, message):
            sent.append((group, message["event"]))

    monkeypatch.setattr("collab.notifications.get_channel_layer", lambda: Layer())

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.document_trash(document=plan)
        assert sent == []

    assert len(callbacks) == 1
    event = {"type": "document.removed", "id": str(plan.pk)}
    assert sent == [(f"user.{ann.pk}", event), (f"user.{bob.pk}", event)]


# Purge


@pytest.mark.django_db
def test_purge_deletes_only_documents_trashed_more_than_30_days_ago(ann, plan):
    DocumentSnapshot.objects.create(document=plan, seq=1, data=b"\x00\x00")
    recent = services.document_create(owner=ann, title="Recent")
    live = services.document_create(owner=ann, title="Live")
    trashed_days_ago(plan, TRASH_RETENTION.days + 1)
    trashed_days_ago(recent, TRASH_RETENTION.days - 1)

    assert services.trash_purge() == 1

    assert set(Document.objects.values_list("title", flat=True)) == {"Recent", "Live"}
    assert not DocumentUpdate.objects.filter(document_id=plan.pk).exists()
    assert not DocumentSnapshot.objects.filter(document_id=plan.pk).exists()
    assert not Membership.objects.filter(document_id=plan.pk).exists()
    assert live.pk in {d.pk for d in selectors.documents_for(user=ann)}
    assert services.trash_purge() == 0


@pytest.mark.django_db
def test_purge_trash_command(ann, plan):
    trashed_days_ago(plan, 45)
    out = StringIO()

    call_command("purge_trash", stdout=out)

    assert out.getvalue().strip() == "Purged 1 document from the trash."
    assert not Document.objects.filter(pk=plan.pk).exists()


@pytest.mark.django_db
def test_a_restored_document_is_not_purged(ann, plan):
    trashed_days_ago(plan, 40)
    Document.objects.filter(pk=plan.pk).update(deleted_at=None)
    assert services.trash_purge() == 0
    assert Document.objects.filter(pk=plan.pk).exists()


# Admin


@pytest.mark.django_db
def test_admin_filters_and_moves_documents_in_and_out_of_the_trash(
    client, ann, bob, plan, make_user, events
):
    admin = make_user("admin@example.com", is_staff=True, is_superuser=True)
    client.force_login(admin)
    live = services.document_create(owner=ann, title="Live")
    url = "/admin/collab/document/"

    client.post(url, {"action": "move_to_trash", "_selected_action": [str(plan.pk)]})

    assert Document.objects.get(pk=plan.pk).deleted_at is not None
    assert events[-1] == ([ann.pk, bob.pk], {"type": "document.removed", "id": str(plan.pk)})
    in_trash = client.get(url, {"trash": "yes"}).content.decode()
    assert "Plan" in in_trash and "Live" not in in_trash
    assert "Live" in client.get(url, {"trash": "no"}).content.decode()

    client.post(url, {"action": "restore_from_trash", "_selected_action": [str(plan.pk)]})

    assert Document.objects.get(pk=plan.pk).deleted_at is None
    assert live.deleted_at is None


# Sockets


@pytest.mark.django_db(transaction=True)
async def test_sockets_to_a_trashed_document_are_refused(ann, plan):
    from collab import protocol
    from config.asgi import application

    from .ysocket import YSocket

    await sync_to_async(services.document_trash)(document=plan)
    cookie = await sync_to_async(session_cookie)(ann)

    sock = YSocket(application, plan.pk, cookie=cookie)
    assert await sock.connect()
    assert isinstance(await sock.receive(), protocol.Auth)
    assert await sock.receive() == ("close", 4403)


@pytest.mark.django_db(transaction=True)
async def test_open_sockets_are_closed_when_the_document_is_trashed(ann, plan):
    from config.asgi import application

    from .ysocket import YSocket

    cookie = await sync_to_async(session_cookie)(ann)
    sock = YSocket(application, plan.pk, cookie=cookie)
    assert await sock.connect()
    await sock.sync()

    await sync_to_async(services.document_trash)(document=plan)

    assert (await sock.drain(1.0))[-1] == ("close", 4404)
    await unloaded(plan.pk)


async def unloaded(document_id, timeout: float = 5.0) -> None:
    """Wait for the room to finish unloading: its last database work must not race the
    test database's teardown."""
    import asyncio

    from collab.rooms import registry

    deadline = asyncio.get_running_loop().time() + timeout
    while registry().get(document_id) is not None or registry()._unloading:
        assert asyncio.get_running_loop().time() < deadline, "room did not unload"
        await asyncio.sleep(0.01)


def session_cookie(user) -> str:
    return f"sessionid={logged_in(user).cookies['sessionid'].value}"
