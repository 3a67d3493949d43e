"""The admin: a read-only audit trail and update log, document history timeline and exports,
and deleting a user without losing any document's history."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from collab import audit, history_export, services
from collab.models import (
    AuditEvent,
    Document,
    DocumentUpdate,
    EditSession,
    Membership,
    NamedVersion,
    Role,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client():
    root = User.objects.create_superuser(email="root@example.com", password="x")
    client = Client()
    client.force_login(root)
    return client


@pytest.fixture
def history(ann, bob):
    """A document with updates by two authors, their edit sessions and a named version."""
    document = services.document_create(owner=ann, title="Plan")
    Membership.objects.create(document=document, user=bob, role=Role.EDITOR)
    start = timezone.now() - timedelta(hours=1)
    authors = [ann, ann, ann, bob, bob]
    for seq, author in enumerate(authors, start=1):
        DocumentUpdate.objects.create(
            document=document,
            seq=seq,
            author=author,
            data=b"u" * (10 * seq),
            created_at=start + timedelta(seconds=seq),
        )
    Document.objects.filter(pk=document.pk).update(last_seq=len(authors))
    EditSession.objects.create(
        document=document,
        author=ann,
        first_seq=1,
        last_seq=3,
        started_at=start + timedelta(seconds=1),
        ended_at=start + timedelta(seconds=3),
        update_count=3,
        byte_count=60,
    )
    EditSession.objects.create(
        document=document,
        author=bob,
        first_seq=4,
        last_seq=5,
        started_at=start + timedelta(seconds=4),
        ended_at=start + timedelta(seconds=5),
        update_count=2,
        byte_count=90,
    )
    NamedVersion.objects.create(document=document, seq=3, name="First draft", created_by=ann)
    return document


def admin_urls(document, event, update) -> list[str]:
    return [
        reverse("admin:collab_auditevent_changelist"),
        reverse("admin:collab_auditevent_change", args=[event.pk]),
        reverse("admin:collab_document_changelist"),
        reverse("admin:collab_document_change", args=[document.pk]),
        reverse("admin:collab_document_timeline", args=[document.pk]),
        reverse("admin:collab_document_history_csv", args=[document.pk]),
        reverse("admin:collab_document_sessions_csv", args=[document.pk]),
        reverse("admin:collab_document_history_json", args=[document.pk]),
        reverse("admin:collab_documentupdate_changelist"),
        reverse("admin:collab_documentupdate_change", args=[update.pk]),
        reverse("admin:collab_documentsnapshot_changelist"),
    ]


@pytest.fixture
def pages(history):
    event = audit.record("document.created", document_id=history.pk, title="Plan")
    return admin_urls(history, event, DocumentUpdate.objects.filter(document=history).first())


def test_every_page_loads_for_staff(staff_client, pages):
    for url in pages:
        response = staff_client.get(url)
        assert response.status_code == 200, url


def test_anonymous_and_non_staff_are_sent_to_the_admin_login(ann, pages):
    signed_in = Client()
    signed_in.force_login(ann)
    for client in (Client(), signed_in):
        for url in pages:
            response = client.get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith(reverse("admin:login")), url


def test_staff_without_view_permission_is_forbidden(pages):
    clerk = User.objects.create_user(email="clerk@example.com", password="x", is_staff=True)
    client = Client()
    client.force_login(clerk)
    for url in pages:
        assert client.get(url).status_code == 403, url


def test_staff_with_view_permissions_only_can_read_but_not_change(pages, history):
    clerk = User.objects.create_user(email="clerk@example.com", password="x", is_staff=True)
    clerk.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="collab", codename__startswith="view_")
    )
    client = Client()
    client.force_login(clerk)
    for url in pages:
        assert client.get(url).status_code == 200, url
    change = reverse("admin:collab_document_change", args=[history.pk])
    assert client.post(change, {"title": "Hijacked"}).status_code == 403
    history.refresh_from_db()
    assert history.title == "Plan"


# ------------------------------------------------------------ audit trail


def test_audit_changelist_lists_searches_and_filters(staff_client, ann):
    audit.record("document.created", actor=ann, title="x")
    audit.record("signin.failed", email="who@example.com")
    url = reverse("admin:collab_auditevent_changelist")

    response = staff_client.get(url)
    page = response.content.decode()
    assert "document.created" in page and "signin.failed" in page and ann.email in page

    found = staff_client.get(url, {"q": ann.email}).context["cl"].result_list
    assert [e.action for e in found] == ["document.created"]
    filtered = staff_client.get(url, {"action": "signin.failed"}).context["cl"].result_list
    assert [e.action for e in filtered] == ["signin.failed"]
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    dated = staff_client.get(url, {"created_at__gte": str(midnight)}).context["cl"].result_list
    assert {e.action for e in dated} == {"document.created", "signin.failed", "signin"}
    tomorrow = str(midnight + timedelta(days=1))
    assert not staff_client.get(url, {"created_at__gte": tomorrow}).context["cl"].result_list


def test_audit_search_by_document_id_and_ip(staff_client, history):
    factory_request = type("R", (), {"META": {"REMOTE_ADDR": "203.0.113.9"}, "user": None})()
    audit.record("document.exported", document_id=history.pk, request=factory_request)
    audit.record("signin.failed", email="x@example.com")
    url = reverse("admin:collab_auditevent_changelist")
    by_document = staff_client.get(url, {"q": str(history.pk)}).context["cl"].result_list
    assert {e.action for e in by_document} == {"document.created", "document.exported"}
    by_ip = staff_client.get(url, {"q": "203.0.113.9"}).context["cl"].result_list
    assert [e.action for e in by_ip] == ["document.exported"]
    # A search that is not a document id finds nothing there instead of failing.
    assert staff_client.get(url, {"q": "not-a-uuid"}).status_code == 200


def test_nothing_in_the_audit_admin_is_editable(staff_client, ann):
    event = audit.record("document.created", actor=ann, title="x")
    change = reverse("admin:collab_auditevent_change", args=[event.pk])

    page = staff_client.get(change)
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    html = page.content.decode()
    assert 'name="_save"' not in html and 'name="action"' not in html
    assert staff_client.post(change, {"action": "edited"}).status_code == 403
    assert staff_client.get(reverse("admin:collab_auditevent_add")).status_code == 403
    assert staff_client.post(reverse("admin:collab_auditevent_add"), {}).status_code == 403
    delete = reverse("admin:collab_auditevent_delete", args=[event.pk])
    assert staff_client.get(delete).status_code == 403
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403

    changelist = staff_client.get(reverse("admin:collab_auditevent_changelist"))
    assert "delete_selected" not in changelist.content.decode()
    bulk = staff_client.post(
        reverse("admin:collab_auditevent_changelist"),
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)
    assert AuditEvent.objects.get(pk=event.pk).action == "document.created"


# ------------------------------------------------------------ update log


def test_update_log_shows_sizes_computed_without_loading_blobs(staff_client, history):
    response = staff_client.get(reverse("admin:collab_documentupdate_changelist"))
    rows = list(response.context["cl"].result_list)
    assert sorted(r.size_bytes for r in rows) == [10, 20, 30, 40, 50]
    assert all("data" in r.get_deferred_fields() for r in rows)
    page = response.content.decode()
    assert '<td class="field-size">50</td>' in page
    assert "bob@example.com" in page


def test_update_log_filters_by_document_author_and_date(staff_client, history, ann, bob):
    other = services.document_create(owner=ann, title="Other")
    DocumentUpdate.objects.create(
        document=other,
        seq=1,
        author=ann,
        data=b"x",
        created_at=timezone.now() - timedelta(days=40),
    )
    url = reverse("admin:collab_documentupdate_changelist")

    def seqs(**params) -> list[tuple[str, int]]:
        response = staff_client.get(url, params)
        assert response.status_code == 200
        return sorted((r.document.title, r.seq) for r in response.context["cl"].result_list)

    assert seqs(document__id__exact=str(history.pk)) == [("Plan", n) for n in range(1, 6)]
    assert seqs(author=str(bob.pk)) == [("Plan", 4), ("Plan", 5)]
    assert seqs(document__id__exact=str(other.pk), author=str(ann.pk)) == [("Other", 1)]
    week_ago = str(timezone.now() - timedelta(days=7))
    assert len(seqs(created_at__gte=week_ago)) == 5
    assert seqs(author="none") == []
    assert seqs(author="not-a-number") == []


def test_update_log_admin_is_read_only(staff_client, history):
    update = DocumentUpdate.objects.filter(document=history).first()
    change = reverse("admin:collab_documentupdate_change", args=[update.pk])
    assert staff_client.post(change, {"seq": 99}).status_code == 403
    assert staff_client.get(reverse("admin:collab_documentupdate_add")).status_code == 403
    delete = reverse("admin:collab_documentupdate_delete", args=[update.pk])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    update.refresh_from_db()
    assert update.seq == 1


# ---------------------------------------------------- documents and history


def test_document_page_shows_members_named_versions_and_history_links(staff_client, history):
    response = staff_client.get(reverse("admin:collab_document_change", args=[history.pk]))
    page = response.content.decode()
    assert "bob@example.com" in page  # members inline
    assert "First draft" in page  # named versions inline
    assert reverse("admin:collab_document_timeline", args=[history.pk]) in page
    assert reverse("admin:collab_document_history_csv", args=[history.pk]) in page


def test_timeline_lists_sessions_newest_first(staff_client, history, bob):
    bob.delete()
    response = staff_client.get(reverse("admin:collab_document_timeline", args=[history.pk]))
    sessions = list(response.context["page"].object_list)
    assert [(s.first_seq, s.last_seq) for s in sessions] == [(4, 5), (1, 3)]
    page = response.content.decode()
    assert page.index("4\N{EN DASH}5") < page.index("1\N{EN DASH}3")
    assert "deleted user" in page and "ann@example.com" in page
    assert "First draft" in page


def test_timeline_of_an_unknown_document_is_404(staff_client):
    url = reverse("admin:collab_document_timeline", args=["00000000-0000-0000-0000-000000000000"])
    assert staff_client.get(url).status_code == 404


def streamed(response) -> str:
    assert response.status_code == 200
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def test_history_csv_has_one_row_per_update(staff_client, history):
    response = staff_client.get(reverse("admin:collab_document_history_csv", args=[history.pk]))
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(streamed(response))))
    assert rows[0] == ["seq", "time", "author", "bytes"]
    assert [(r[0], r[2], r[3]) for r in rows[1:]] == [
        ("1", "ann@example.com", "10"),
        ("2", "ann@example.com", "20"),
        ("3", "ann@example.com", "30"),
        ("4", "bob@example.com", "40"),
        ("5", "bob@example.com", "50"),
    ]


def test_sessions_csv(staff_client, history):
    url = reverse("admin:collab_document_sessions_csv", args=[history.pk])
    rows = list(csv.DictReader(io.StringIO(streamed(staff_client.get(url)))))
    assert [(r["first_seq"], r["last_seq"], r["author"], r["update_count"]) for r in rows] == [
        ("1", "3", "ann@example.com", "3"),
        ("4", "5", "bob@example.com", "2"),
    ]


def test_history_json_has_sessions_and_updates(staff_client, history):
    url = reverse("admin:collab_document_history_json", args=[history.pk])
    body = json.loads(streamed(staff_client.get(url)))
    assert body["document"]["id"] == str(history.pk)
    assert [s["last_seq"] for s in body["sessions"]] == [3, 5]
    assert [(u["seq"], u["author"], u["bytes"]) for u in body["updates"]] == [
        (1, "ann@example.com", 10),
        (2, "ann@example.com", 20),
        (3, "ann@example.com", 30),
        (4, "bob@example.com", 40),
        (5, "bob@example.com", 50),
    ]


def test_exports_read_the_log_in_pages(staff_client, history, monkeypatch):
    fetched = []
    real = history_export.update_rows_after

    def counting(document_id, after_seq, limit=None):
        rows = real(document_id, after_seq, limit)
        fetched.append(len(rows))
        return rows

    monkeypatch.setattr(history_export, "BATCH", 2)
    monkeypatch.setattr(history_export, "update_rows_after", counting)
    response = staff_client.get(reverse("admin:collab_document_history_csv", args=[history.pk]))
    rows = list(csv.reader(io.StringIO(streamed(response))))
    assert [r[0] for r in rows[1:]] == ["1", "2", "3", "4", "5"]
    assert fetched == [2, 2, 1, 0]

    body = json.loads(
        streamed(staff_client.get(reverse("admin:collab_document_history_json", args=[history.pk])))
    )
    assert [u["seq"] for u in body["updates"]] == [1, 2, 3, 4, 5]


def test_empty_document_exports_are_valid(staff_client, ann):
    empty = services.document_create(owner=ann, title="=cmd|' /C calc'!A0")
    url = reverse("admin:collab_document_history_json", args=[empty.pk])
    body = json.loads(streamed(staff_client.get(url)))
    assert body["sessions"] == [] and body["updates"] == []
    csv_url = reverse("admin:collab_document_history_csv", args=[empty.pk])
    response = staff_client.get(csv_url)
    assert streamed(response) == "seq,time,author,bytes\r\n"
    assert "=" not in response["Content-Disposition"].split("filename=")[1]


@pytest.mark.django_db(transaction=True)
async def test_exports_stream_through_asgi(async_client, history):
    from asgiref.sync import sync_to_async

    root = await sync_to_async(User.objects.create_superuser)(
        email="root@example.com", password="x"
    )
    await async_client.aforce_login(root)
    url = reverse("admin:collab_document_history_json", args=[history.pk])
    response = await async_client.get(url)
    assert response.status_code == 200 and response.is_async
    chunks = [chunk async for chunk in response.streaming_content]
    body = json.loads(b"".join(chunks))
    assert [u["seq"] for u in body["updates"]] == [1, 2, 3, 4, 5]


def test_admin_delete_of_a_document_goes_through_the_service(staff_client, ann):
    document = services.document_create(owner=ann, title="Gone")
    document_id = document.pk
    delete = reverse("admin:collab_document_delete", args=[document_id])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 302
    assert not Document.objects.filter(pk=document_id).exists()
    event = AuditEvent.objects.get(action="document.deleted", document_id=document_id)
    assert event.actor_email == "root@example.com"


def test_admin_trash_action_is_audited(staff_client, ann):
    document = services.document_create(owner=ann, title="Binned")
    response = staff_client.post(
        reverse("admin:collab_document_changelist"),
        {"action": "move_to_trash", "_selected_action": [document.pk]},
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="document.trashed", document_id=document.pk)
    assert event.actor_email == "root@example.com"


# ---------------------------------------------------------- deleting users


def test_deleting_an_author_keeps_their_history(staff_client, history, bob):
    audit.record("document.exported", actor=bob, document_id=history.pk)
    delete = reverse("admin:accounts_user_delete", args=[bob.pk])
    assert staff_client.get(delete).status_code == 200
    assert staff_client.post(delete, {"post": "yes"}).status_code == 302
    assert not User.objects.filter(email="bob@example.com").exists()

    updates = DocumentUpdate.objects.filter(document=history).order_by("seq")
    assert [u.seq for u in updates] == [1, 2, 3, 4, 5]
    assert [u.author_id is None for u in updates] == [False, False, False, True, True]
    assert [bytes(u.data) for u in updates][3] == b"u" * 40
    assert EditSession.objects.filter(document=history, author__isnull=True).count() == 1
    event = AuditEvent.objects.get(action="document.exported")
    assert event.actor_id is None and event.actor_email == "bob@example.com"

    log = staff_client.get(reverse("admin:collab_documentupdate_changelist"), {"author": "none"})
    assert sorted(r.seq for r in log.context["cl"].result_list) == [4, 5]
    assert "deleted user" in log.content.decode()
    csv_url = reverse("admin:collab_document_history_csv", args=[history.pk])
    rows = list(csv.reader(io.StringIO(streamed(staff_client.get(csv_url)))))
    assert [r[2] for r in rows[1:]] == ["ann@example.com"] * 3 + ["deleted user"] * 2


def test_deleting_an_owner_is_refused_with_a_clear_message(staff_client, history, ann):
    delete = reverse("admin:accounts_user_delete", args=[ann.pk])
    response = staff_client.post(delete, {"post": "yes"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Transfer each document to another member" in page
    assert "Plan" in page  # Django lists the protected documents
    assert User.objects.filter(pk=ann.pk).exists()
    assert DocumentUpdate.objects.filter(document=history).count() == 5

    bulk = staff_client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "delete_selected", "_selected_action": [ann.pk], "post": "yes"},
    )
    assert bulk.status_code == 200
    assert "Transfer each document to another member" in bulk.content.decode()
    assert User.objects.filter(pk=ann.pk).exists()


def test_after_transferring_ownership_the_former_owner_can_be_deleted(
    staff_client, history, ann, bob
):
    services.ownership_transfer(document=history, to_user_id=bob.pk)
    delete = reverse("admin:accounts_user_delete", args=[ann.pk])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 302
    history.refresh_from_db()
    assert history.owner == bob
    assert DocumentUpdate.objects.filter(document=history, author__isnull=True).count() == 3


def change_form_data(client, document, **changes) -> dict:
    """The document's admin change form as the browser would post it back, with changes."""
    response = client.get(reverse("admin:collab_document_change", args=[document.pk]))
    form = response.context["adminform"].form
    data = {name: form.initial.get(name) for name in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[f"{formset.prefix}-{name}"] = management.initial.get(name, 0)
        for sub in formset.forms:
            for name in sub.fields:
                value = sub[name].value()
                if value is not None:
                    data[f"{sub.prefix}-{name}"] = value
    data.update(changes)
    return data


def test_admin_rename_and_owner_change_go_through_the_services(staff_client, history, ann, bob):
    carl = User.objects.create_user(email="carl@example.com", password="x")
    data = change_form_data(staff_client, history, title="Plan v2", owner=carl.pk)
    response = staff_client.post(reverse("admin:collab_document_change", args=[history.pk]), data)
    assert response.status_code == 302
    history.refresh_from_db()
    assert history.title == "Plan v2" and history.owner == carl
    roles = dict(Membership.objects.filter(document=history).values_list("user__email", "role"))
    assert roles == {
        "ann@example.com": Role.EDITOR,
        "bob@example.com": Role.EDITOR,
        "carl@example.com": Role.OWNER,
    }
    renamed = AuditEvent.objects.get(action="document.renamed", document_id=history.pk)
    assert renamed.detail == {"old": "Plan", "new": "Plan v2"}
    moved = AuditEvent.objects.get(action="ownership.transferred", document_id=history.pk)
    assert moved.actor_email == "root@example.com"
    assert moved.detail["from_user_id"] == ann.pk and moved.detail["to_user_id"] == carl.pk
    # ann no longer owns anything, so her account can go; her edits stay.
    delete = reverse("admin:accounts_user_delete", args=[ann.pk])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 302
    assert DocumentUpdate.objects.filter(document=history).count() == 5
