"""Webhooks: signing, SSRF refusal, retries with backoff, debounce, the outbox, permissions, API."""

import asyncio
import json
import socket
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from collab import history, services, store, webhook_delivery, webhooks
from collab.models import Document, Webhook, WebhookDelivery

pytestmark = pytest.mark.django_db


class Receiver:
    """A real HTTP endpoint on loopback that records what it is sent and answers with the
    next status of `statuses` (then 200); `hang` makes it wait before answering."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        self.hang = threading.Event()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                if receiver.hang.is_set():
                    receiver.release.wait(30)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[str]:
        return [json.loads(r["body"])["event"] for r in self.requests]

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(statuses=()):
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for item in made:
        item.close()


@pytest.fixture
def document(ann):
    return services.document_create(owner=ann, title="Hooked")


def write_text(document, text: str) -> None:
    """Append one update making the document hold `text` in one paragraph."""
    doc = Doc()
    fragment = doc.get("default", type=XmlFragment)
    fragment.children.append(XmlElement("paragraph", {}, [XmlText(text)]))
    store.updates_append(
        document_id=document.pk,
        updates=[store.PendingUpdate(doc.get_update(), document.owner_id, timezone.now())],
    )


def make_due():
    WebhookDelivery.objects.filter(status="pending").update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


# ------------------------------------------------------------------ signing


def test_signature_covers_timestamp_and_body_and_verifies():
    body = b'{"event":"ping"}'
    now = int(time.time())
    signature = webhooks.sign(secret="s3cret", timestamp=now, body=body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert webhooks.signature_valid(secret="s3cret", timestamp=now, body=body, signature=signature)
    assert not webhooks.signature_valid(
        secret="other", timestamp=now, body=body, signature=signature
    )
    assert not webhooks.signature_valid(
        secret="s3cret", timestamp=now, body=body + b" ", signature=signature
    )
    # The same body under another timestamp has another signature (no replay by re-dating).
    assert webhooks.sign(secret="s3cret", timestamp=now + 1, body=body) != signature
    old = now - 3600
    stale = webhooks.sign(secret="s3cret", timestamp=old, body=body)
    assert not webhooks.signature_valid(secret="s3cret", timestamp=old, body=body, signature=stale)


# --------------------------------------------------------------------- SSRF


def fake_dns(monkeypatch, addresses):
    def getaddrinfo(host, port, *args, **kwargs):
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    monkeypatch.setattr(webhook_delivery.socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "169.254.169.254",
        "::1",
        "192.168.0.5",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::ffff:10.0.0.1",
        "fe80::1",
        "fc00::1",
        "240.0.0.1",
    ],
)
@override_settings(WEBHOOK_ALLOW_PRIVATE=False)
def test_hosts_resolving_to_private_addresses_are_refused(monkeypatch, address):
    fake_dns(monkeypatch, [address])
    with pytest.raises(webhook_delivery.WebhookURLError, match="private or reserved"):
        webhook_delivery.url_check("https://hooks.example.com/in")


@override_settings(WEBHOOK_ALLOW_PRIVATE=False)
def test_one_private_address_among_public_ones_is_enough_to_refuse(monkeypatch):
    fake_dns(monkeypatch, ["93.184.216.34", "10.0.0.7"])
    with pytest.raises(webhook_delivery.WebhookURLError):
        webhook_delivery.url_check("https://hooks.example.com/in")


@override_settings(WEBHOOK_ALLOW_PRIVATE=False)
def test_public_address_passes_and_is_the_one_connected_to(monkeypatch):
    fake_dns(monkeypatch, ["93.184.216.34"])
    scheme, host, port, path, addresses = webhook_delivery.url_check(
        "https://hooks.example.com/in?x=1"
    )
    assert (scheme, host, port, path, addresses) == (
        "https",
        "hooks.example.com",
        443,
        "/in?x=1",
        ["93.184.216.34"],
    )


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "file:///etc/passwd", "http://", "http://u:p@example.com/"]
)
def test_only_plain_http_and_https_urls(url):
    with pytest.raises(webhook_delivery.WebhookURLError):
        webhook_delivery.url_check(url)


@override_settings(WEBHOOK_ALLOW_PRIVATE=False)
def test_delivery_to_a_host_that_rebinds_to_loopback_is_refused_at_send_time(
    monkeypatch, receiver, ann, document
):
    target = receiver()
    hook = Webhook.objects.create(owner=ann, url=target.url, events=["member.added"], secret="x")
    # Registered while it resolved publicly; now it resolves to the receiver on loopback.
    hook.url = f"http://rebind.example.com:{target.server.server_address[1]}/hook"
    hook.save()
    fake_dns(monkeypatch, ["127.0.0.1"])
    webhooks.webhook_ping(webhook=hook)
    webhook_delivery.deliver_due()
    delivery = WebhookDelivery.objects.get()
    assert target.requests == []
    assert delivery.last_status_code is None
    assert "private or reserved" in delivery.last_error


@override_settings(WEBHOOK_ALLOW_PRIVATE=False)
def test_registering_a_private_url_is_refused(ann):
    client = Client()
    client.force_login(ann)
    response = client.post(
        "/api/webhooks/",
        data=json.dumps({"url": "http://127.0.0.1:9/hook"}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "private or reserved" in response.json()["message"]


def test_redirects_are_not_followed(receiver, ann):
    target = receiver([302])
    hook = webhooks.webhook_create(owner=ann, url=target.url)
    webhooks.webhook_ping(webhook=hook)
    webhook_delivery.deliver_due()
    delivery = WebhookDelivery.objects.get()
    assert len(target.requests) == 1
    assert delivery.status == "pending" and delivery.last_status_code == 302
    assert "not followed" in delivery.last_error


# ----------------------------------------------------------- delivery, retries


@override_settings(WEBHOOK_RETRY_DELAYS=[10.0, 30.0, 60.0])
def test_a_500_is_retried_with_backoff_then_a_200_succeeds(receiver, ann, document):
    target = receiver([500])
    hook = webhooks.webhook_create(owner=ann, url=target.url, events=["member.added"])
    services.member_add(document=document, email="x@example.com", role="editor", invited_by=ann)
    assert WebhookDelivery.objects.count() == 0  # an invitation is not a membership
    bob = type(ann).objects.create_user(email="bob2@example.com", password="x")
    services._membership_set(document=document, user=bob, role="editor", actor=ann)
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "member.added" and delivery.webhook == hook

    assert webhook_delivery.deliver_due() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    first_at = datetime.fromisoformat(delivery.attempts_log[0]["at"])
    assert delivery.next_attempt_at - first_at == timedelta(seconds=10)
    # Not due yet: nothing is sent.
    assert webhook_delivery.deliver_due() == 0

    make_due()
    assert webhook_delivery.deliver_due() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 2, 200)
    assert [a["status_code"] for a in delivery.attempts_log] == [500, 200]
    assert all(a["duration_ms"] >= 0 for a in delivery.attempts_log)
    # Both attempts carried the same delivery id and the same body.
    assert len({r["headers"]["X-Collab-Delivery"] for r in target.requests}) == 1
    assert target.requests[0]["body"] == target.requests[1]["body"]


@override_settings(WEBHOOK_RETRY_DELAYS=[10.0, 30.0, 60.0])
def test_delivery_fails_after_the_last_attempt_with_growing_delays(receiver, ann):
    target = receiver([500] * 10)
    hook = webhooks.webhook_create(owner=ann, url=target.url)
    webhooks.webhook_ping(webhook=hook)
    gaps = []
    for _ in range(4):
        make_due()
        webhook_delivery.deliver_due()
        delivery = WebhookDelivery.objects.get()
        if delivery.next_attempt_at:
            at = datetime.fromisoformat(delivery.attempts_log[-1]["at"])
            gaps.append((delivery.next_attempt_at - at).total_seconds())
    assert gaps == [10.0, 30.0, 60.0]
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 4, None)
    make_due()
    assert webhook_delivery.deliver_due() == 0
    assert len(target.requests) == 4


def test_unreachable_endpoint_records_the_error(ann):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    hook = webhooks.webhook_create(owner=ann, url=f"http://127.0.0.1:{port}/closed")
    webhooks.webhook_ping(webhook=hook)
    webhook_delivery.deliver_due()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.last_status_code is None
    assert "Refused" in delivery.last_error or "refused" in delivery.last_error


def test_claimed_deliveries_are_leased_so_a_second_worker_skips_them(receiver, ann):
    hook = webhooks.webhook_create(owner=ann, url=receiver().url)
    webhooks.webhook_ping(webhook=hook)
    first = webhook_delivery.deliveries_claim()
    assert len(first) == 1
    assert webhook_delivery.deliveries_claim() == []


def test_signed_request_headers_and_payload(receiver, ann, document):
    target = receiver()
    hook = webhooks.webhook_create(owner=ann, url=target.url, document=document)
    webhooks.webhook_ping(webhook=hook, actor=ann)
    webhook_delivery.deliver_due()
    (request,) = target.requests
    headers = request["headers"]
    assert headers["X-Collab-Event"] == "ping"
    assert headers["Content-Type"] == "application/json"
    assert webhooks.signature_valid(
        secret=hook.secret,
        timestamp=headers["X-Collab-Timestamp"],
        body=request["body"],
        signature=headers["X-Collab-Signature"],
    )
    payload = json.loads(request["body"])
    assert set(payload) == {"id", "event", "created_at", "document", "actor", "data"}
    assert payload["document"]["id"] == str(document.pk)
    assert payload["document"]["kind"] == "text"
    assert payload["actor"] == {"id": ann.pk, "email": ann.email}
    assert headers["X-Collab-Delivery"] == str(WebhookDelivery.objects.get().pk)


# ------------------------------------------------------------------ outbox


def test_member_events_reach_document_and_workspace_hooks(ann, bob, document):
    doc_hook = webhooks.webhook_create(owner=ann, url="http://127.0.0.1:9/d", document=document)
    workspace = webhooks.webhook_create(owner=ann, url="http://127.0.0.1:9/w")
    other = services.document_create(owner=ann, title="Other")
    webhooks.webhook_create(owner=ann, url="http://127.0.0.1:9/o", document=other)
    bobs_hook = webhooks.webhook_create(owner=bob, url="http://127.0.0.1:9/b")

    services.member_add(document=document, email=bob.email, role="editor", invited_by=ann)
    services.member_update_role(document=document, user_id=bob.pk, role="viewer")
    services.member_remove(document=document, user_id=bob.pk)

    rows = WebhookDelivery.objects.order_by("created_at")
    assert sorted((d.webhook_id, d.event) for d in rows) == sorted(
        (hook.pk, event)
        for hook in (doc_hook, workspace)
        for event in ("member.added", "member.role_changed", "member.removed")
    )
    assert not rows.filter(webhook=bobs_hook).exists()
    added = rows.filter(event="member.added").first().payload
    assert added["data"] == {"user": {"user_id": bob.pk, "email": bob.email}, "role": "editor"}
    assert added["actor"] == {"id": ann.pk, "email": ann.email}
    changed = rows.filter(event="member.role_changed").first().payload["data"]
    assert (changed["old"], changed["new"]) == ("editor", "viewer")


def test_hooks_hear_only_their_events_and_paused_hooks_nothing(ann, bob, document):
    only_removed = webhooks.webhook_create(
        owner=ann, url="http://127.0.0.1:9/r", events=["member.removed"]
    )
    paused = webhooks.webhook_create(owner=ann, url="http://127.0.0.1:9/p")
    webhooks.webhook_update(webhook=paused, active=False)
    services.member_add(document=document, email=bob.email, role="editor", invited_by=ann)
    services.member_remove(document=document, user_id=bob.pk)
    assert [d.event for d in WebhookDelivery.objects.all()] == ["member.removed"]
    assert WebhookDelivery.objects.get().webhook == only_removed


def test_trash_and_purge_events(ann, document):
    doc_hook = webhooks.webhook_create(owner=ann, url="http://127.0.0.1:9/d", document=document)
    workspace = webhooks.webhook_create(owner=ann, url="http://127.0.0.1:9/w")
    services.document_trash(document=document)
    deleted = WebhookDelivery.objects.filter(event="document.deleted")
    assert {d.webhook_id for d in deleted} == {doc_hook.pk, workspace.pk}
    assert "restorable_until" in deleted.first().payload["data"]

    Document.objects.filter(pk=document.pk).update(deleted_at=timezone.now() - timedelta(days=31))
    assert services.trash_purge() == 1
    # The document's own hook went with it; the workspace hook hears the purge.
    assert not Webhook.objects.filter(pk=doc_hook.pk).exists()
    purged = WebhookDelivery.objects.get(event="document.purged")
    assert purged.webhook == workspace and purged.document_id == document.pk


def test_version_restore_event(ann, document):
    hook = webhooks.webhook_create(owner=ann, url="http://127.0.0.1:9/v", document=document)
    write_text(document, "one")
    write_text(document, "two")
    history.version_restore(document=document, seq=1, user=ann)
    delivery = WebhookDelivery.objects.get(event="version.restored")
    assert delivery.webhook == hook
    assert delivery.payload["data"]["restored_from_seq"] == 1
    assert delivery.payload["actor"]["email"] == ann.email


def test_a_hook_stops_hearing_a_document_its_owner_no_longer_owns(ann, bob, document):
    services.member_add(document=document, email=bob.email, role="owner", invited_by=ann)
    bobs = webhooks.webhook_create(owner=bob, url="http://127.0.0.1:9/b")
    services.member_update_role(document=document, user_id=bob.pk, role="editor")
    WebhookDelivery.objects.all().delete()
    services.document_trash(document=document)
    assert not WebhookDelivery.objects.filter(webhook=bobs).exists()


# ---------------------------------------------------------------- debounce


@pytest.fixture
def clean_changes():
    webhooks.changed_due(now=float("inf"))
    yield
    webhooks.changed_due(now=float("inf"))


@override_settings(WEBHOOK_DEBOUNCE_SECONDS=10.0)
def test_document_changed_waits_for_a_pause_and_sends_once(clean_changes, ann, document):
    hook = webhooks.webhook_create(owner=ann, url="http://127.0.0.1:9/c", document=document)
    write_text(document, "hello hooks")
    start = time.monotonic()
    for _ in range(5):
        webhooks.document_changed_soon(document.pk)
    last = time.monotonic()
    assert webhooks.changed_due(now=last + 5) == []
    assert webhooks.changed_flush(now=last + 9) == 0
    assert webhooks.changed_flush(now=last + 10.5) == 1
    assert webhooks.changed_flush(now=last + 30) == 0
    delivery = WebhookDelivery.objects.get()
    assert delivery.webhook == hook and delivery.event == "document.changed"
    data = delivery.payload["data"]
    assert data["text"] == "hello hooks"
    assert "<p>hello hooks</p>" in data["html"]
    assert data["content_url"].endswith(f"/api/documents/{document.pk}/content?format=html")
    assert delivery.payload["actor"]["email"] == ann.email
    assert start <= last


@override_settings(WEBHOOK_DEBOUNCE_SECONDS=10.0)
def test_continuous_changes_still_report_after_the_maximum_wait(clean_changes, ann, document):
    webhooks.webhook_create(owner=ann, url="http://127.0.0.1:9/c", document=document)
    webhooks.document_changed_soon(document.pk)
    first = time.monotonic()
    # Changes keep coming every few seconds; only the maximum wait makes it due.
    assert webhooks.changed_due(now=first + 5) == []
    webhooks.document_changed_soon(document.pk)
    due = webhooks.changed_due(now=first + 10 * webhooks.MAX_WAIT_FACTOR + 1)
    assert due == [str(document.pk)]


def test_unsent_document_changed_is_refreshed_not_duplicated(clean_changes, ann, document):
    webhooks.webhook_create(owner=ann, url="http://127.0.0.1:9/c", document=document)
    write_text(document, "first")
    assert webhooks.document_changed_enqueue(document_id=document.pk) == 1
    write_text(document, "second")
    assert webhooks.document_changed_enqueue(document_id=document.pk) == 0
    delivery = WebhookDelivery.objects.get()
    # Two writers' paragraphs: their order is the CRDT's, the content is both.
    assert sorted(delivery.payload["data"]["text"].split("\n")) == ["first", "second"]
    # Once claimed (being sent), a new change gets a delivery of its own.
    webhook_delivery.deliveries_claim()
    assert webhooks.document_changed_enqueue(document_id=document.pk) == 1


def test_document_changed_without_hooks_queues_nothing(clean_changes, document):
    webhooks.document_changed_soon(document.pk)
    assert webhooks.changed_flush(now=time.monotonic() + 3600) == 0
    assert WebhookDelivery.objects.count() == 0


def test_changed_documents_are_checked_for_hooks_together(
    clean_changes, ann, bob, django_assert_max_num_queries
):
    """A round of changed documents costs two queries to find the few with hooks, not two
    per document; it finds the same documents hooks_for would."""
    docs = {name: services.document_create(owner=ann, title=name) for name in "abcdef"}
    services.member_add(document=docs["b"], email=bob.email, role="owner", invited_by=ann)
    services.member_add(document=docs["c"], email=bob.email, role="editor", invited_by=ann)
    bobs_workspace = webhooks.webhook_create(owner=bob, url="http://127.0.0.1:9/w")
    webhooks.webhook_create(owner=ann, url="http://127.0.0.1:9/d", document=docs["d"])
    webhooks.webhook_create(
        owner=ann, url="http://127.0.0.1:9/e", document=docs["e"], events=["document.deleted"]
    )
    off = webhooks.webhook_create(owner=ann, url="http://127.0.0.1:9/f", document=docs["f"])
    Webhook.objects.filter(pk=off.pk).update(active=False)
    ids = [str(d.pk) for d in docs.values()]
    with django_assert_max_num_queries(2):
        heard = webhooks.documents_heard(ids, "document.changed")
    expected = {
        str(d.pk) for d in docs.values() if webhooks.hooks_for(document=d, event="document.changed")
    }
    assert heard == expected == {str(docs["b"].pk), str(docs["d"].pk)}
    assert bobs_workspace.document is None
    for document in docs.values():
        webhooks.document_changed_soon(document.pk)
    assert webhooks.changed_flush(now=time.monotonic() + 3600) == 2


def test_board_documents_send_the_board_json(clean_changes, ann):
    board = services.document_create(owner=ann, title="Board", kind="whiteboard")
    webhooks.webhook_create(owner=ann, url="http://127.0.0.1:9/c", document=board)
    webhooks.document_changed_enqueue(document_id=board.pk)
    data = WebhookDelivery.objects.get().payload["data"]
    assert "board" in data and "text" not in data
    assert data["content_url"].endswith("format=json")


@pytest.mark.django_db(transaction=True)
def test_the_async_worker_sends_from_its_own_threads(receiver, ann):
    target = receiver()
    hook = webhooks.webhook_create(owner=ann, url=target.url)
    webhooks.webhook_ping(webhook=hook)

    async def run():
        worker = webhook_delivery.Worker()
        await worker.run_once()
        await asyncio.gather(*worker._in_flight)

    asyncio.run(run())
    assert target.events() == ["ping"]
    assert WebhookDelivery.objects.get().status == "succeeded"


# -------------------------------------------------------------------- API


@pytest.fixture
def ann_client(ann):
    client = Client()
    client.force_login(ann)
    return client


@pytest.fixture
def bob_client(bob):
    client = Client()
    client.force_login(bob)
    return client


def post(client, url, body=None, method="post"):
    return getattr(client, method)(
        url, data=json.dumps(body or {}), content_type="application/json"
    )


def test_api_create_list_update_rotate_delete(ann_client, receiver, document):
    target = receiver()
    created = post(
        ann_client,
        "/api/webhooks/",
        {"url": target.url, "events": ["document.changed"], "document": str(document.pk)},
    )
    assert created.status_code == 201, created.content
    hook = created.json()
    assert hook["secret"].startswith("whsec_") and hook["scope"] == "document"
    listed = ann_client.get("/api/webhooks/").json()["webhooks"]
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]

    url = f"/api/webhooks/{hook['id']}/"
    patched = post(ann_client, url, {"active": False, "events": ["member.added"]}, "patch")
    assert patched.json()["active"] is False and patched.json()["events"] == ["member.added"]
    rotated = post(ann_client, url, {"rotate_secret": True}, "patch").json()
    assert rotated["secret"] != hook["secret"]
    assert post(ann_client, url, {"events": ["nope"]}, "patch").status_code == 400
    assert post(ann_client, url, {"active": "yes"}, "patch").status_code == 400
    assert ann_client.delete(url).status_code == 204
    assert ann_client.get(url).status_code == 404


def test_api_test_ping_and_delivery_log(ann_client, receiver):
    target = receiver([500])
    hook = post(ann_client, "/api/webhooks/", {"url": target.url}).json()
    queued = post(ann_client, f"/api/webhooks/{hook['id']}/test/")
    assert queued.status_code == 202 and queued.json()["event"] == "ping"
    # Off the request path: nothing was sent yet.
    assert target.requests == []
    webhook_delivery.deliver_due()
    (delivery,) = ann_client.get(f"/api/webhooks/{hook['id']}/deliveries/").json()["deliveries"]
    assert delivery["status"] == "pending" and delivery["last_status_code"] == 500
    assert delivery["attempts_log"][0]["status_code"] == 500
    assert "duration_ms" in delivery["attempts_log"][0]


def test_api_bad_input_gets_clear_errors(ann_client):
    assert post(ann_client, "/api/webhooks/", {"url": "ftp://x/"}).status_code == 400
    assert post(ann_client, "/api/webhooks/", {"url": 5}).status_code == 400
    assert (
        post(
            ann_client, "/api/webhooks/", {"url": "http://127.0.0.1:9/", "events": "x"}
        ).status_code
        == 400
    )
    assert (
        ann_client.post("/api/webhooks/", data="[", content_type="application/json").status_code
        == 400
    )
    missing = post(ann_client, "/api/webhooks/", {"url": "http://127.0.0.1:9/", "document": "nope"})
    assert missing.status_code == 404
    assert Client().get("/api/webhooks/").status_code == 401


def test_api_only_owners_see_and_manage_hooks(ann_client, bob_client, ann, bob, document):
    services.member_add(document=document, email=bob.email, role="editor", invited_by=ann)
    # An editor cannot hook the document, and learns nothing about it.
    denied = post(
        bob_client, "/api/webhooks/", {"url": "http://127.0.0.1:9/", "document": str(document.pk)}
    )
    assert denied.status_code == 404
    workspace = post(ann_client, "/api/webhooks/", {"url": "http://127.0.0.1:9/w"}).json()
    doc_hook = post(
        ann_client, "/api/webhooks/", {"url": "http://127.0.0.1:9/d", "document": str(document.pk)}
    ).json()
    for hook in (workspace, doc_hook):
        for path in ("", "deliveries/"):
            assert bob_client.get(f"/api/webhooks/{hook['id']}/{path}").status_code == 404
        assert bob_client.delete(f"/api/webhooks/{hook['id']}/").status_code == 404
        assert post(bob_client, f"/api/webhooks/{hook['id']}/test/").status_code == 404
    assert bob_client.get("/api/webhooks/").json()["webhooks"] == []
    # Made an owner, Bob manages the document's hooks, not Ann's workspace hook.
    services.member_update_role(document=document, user_id=bob.pk, role="owner")
    seen = [h["id"] for h in bob_client.get("/api/webhooks/").json()["webhooks"]]
    assert seen == [doc_hook["id"]]
    assert bob_client.get(f"/api/webhooks/{workspace['id']}/").status_code == 404


# ------------------------------------------------------------------- pages


def test_page_creates_a_hook_and_shows_its_secret_once(ann_client, document):
    page = ann_client.get("/webhooks/")
    assert page.status_code == 200 and "Add a webhook" in page.content.decode()
    created = ann_client.post(
        "/webhooks/new/",
        {"url": "http://127.0.0.1:9/p", "document": str(document.pk), "events": ["member.added"]},
    )
    assert created.status_code == 302
    hook = Webhook.objects.get()
    assert (hook.document, hook.events) == (document, ["member.added"])
    first = ann_client.get(created["Location"]).content.decode()
    assert hook.secret in first
    assert hook.secret not in ann_client.get(created["Location"]).content.decode()
    assert hook.url in ann_client.get("/webhooks/").content.decode()


def test_page_shows_errors_and_the_delivery_log(ann_client, receiver, ann):
    bad = ann_client.post("/webhooks/new/", {"url": "ftp://example.com/"})
    assert bad.status_code == 400 and "Only http and https" in bad.content.decode()
    target = receiver([503])
    hook = webhooks.webhook_create(owner=ann, url=target.url)
    assert ann_client.post(f"/webhooks/{hook.pk}/test/").status_code == 302
    webhook_delivery.deliver_due()
    page = ann_client.get(f"/webhooks/{hook.pk}/").content.decode()
    assert "HTTP 503" in page and "ping" in page
    ann_client.post(f"/webhooks/{hook.pk}/toggle/")
    hook.refresh_from_db()
    assert hook.active is False
    ann_client.post(f"/webhooks/{hook.pk}/delete/")
    assert not Webhook.objects.exists()


def test_pages_are_for_owners_only(bob_client, ann, bob, document):
    services.member_add(document=document, email=bob.email, role="editor", invited_by=ann)
    hook = webhooks.webhook_create(owner=ann, url="http://127.0.0.1:9/x", document=document)
    assert bob_client.get(f"/webhooks/{hook.pk}/").status_code == 404
    assert bob_client.post(f"/webhooks/{hook.pk}/delete/").status_code == 404
    refused = bob_client.post(
        "/webhooks/new/", {"url": "http://127.0.0.1:9/y", "document": str(document.pk)}
    )
    assert refused.status_code == 404
    assert Webhook.objects.count() == 1
    share = bob_client.get(f"/documents/{document.pk}/share/").content.decode()
    assert "/webhooks/?document=" not in share
    assert Client().get("/webhooks/").status_code == 302


def test_owners_find_webhooks_from_the_share_page_and_dashboard(ann_client, document):
    share = ann_client.get(f"/documents/{document.pk}/share/").content.decode()
    assert f"/webhooks/?document={document.pk}" in share
    assert 'href="/webhooks/"' in ann_client.get("/").content.decode()
