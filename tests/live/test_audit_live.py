"""The audit trail and the admin's history export on a live Daphne with the real JS client."""

import json
import time
import urllib.request

import pytest

from .clients import JSClient

pytestmark = pytest.mark.live

# Prints the audit events of one action as JSON lines (run with `manage.py shell -c`).
EVENTS_SCRIPT = """
import json
from collab.models import AuditEvent
for e in AuditEvent.objects.filter(action={action!r}).order_by("id"):
    print(json.dumps({{"actor": e.actor_email, "document": str(e.document_id),
                      "ip": e.ip_address, "detail": e.detail}}))
"""

STAFF_SESSION_SCRIPT = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from accounts.models import User
user = User.objects.filter(email="root@example.com").first() or User.objects.create_superuser(
    email="root@example.com", password=None)
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(session.session_key)
"""


def audit_events(live, action: str) -> list[dict]:
    out = live.manage("shell", "-c", EVENTS_SCRIPT.format(action=action))
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def wait_for_events(live, action: str, count: int, timeout: float = 20.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        found = audit_events(live, action)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def shared_with_viewer(live, title: str) -> str:
    document_id = live.create_document(live.tokens["ann"], title)
    status, _ = live.api(
        "POST",
        f"/api/documents/{document_id}/members/",
        live.tokens["ann"],
        {"email": "val@example.com", "role": "viewer"},
    )
    assert status == 202
    return document_id


def test_socket_sign_in_and_repeated_viewer_writes_are_audited_once(live):
    document_id = shared_with_viewer(live, "Audited")
    viewer = JSClient(live.ws_base, document_id, live.tokens["val"])
    editor = JSClient(live.ws_base, document_id, live.tokens["ann"])
    try:
        viewer.call("wait_synced")
        editor.call("wait_synced")
        for n in range(3):
            viewer.call("append_paragraph", text=f"viewer edit {n}")
        editor.call("append_paragraph", text="editor marker")
        viewer.call("wait_paragraphs", count=4)
    finally:
        viewer.close()
        editor.close()

    connected = [
        e for e in wait_for_events(live, "socket.connected", 2) if e["document"] == document_id
    ]
    roles = sorted((e["actor"], e["detail"]["role"]) for e in connected)
    assert roles == [("ann@example.com", "owner"), ("val@example.com", "viewer")]
    assert all(e["ip"] == "127.0.0.1" and e["detail"]["via_token"] for e in connected)

    refused = [e for e in wait_for_events(live, "frame.refused", 1) if e["document"] == document_id]
    assert [(e["actor"], e["detail"]["reason"]) for e in refused] == [
        ("val@example.com", "viewer write")
    ]
    created = audit_events(live, "document.created")
    assert [e["actor"] for e in created if e["document"] == document_id] == ["ann@example.com"]


def test_history_export_streams_through_daphne(live):
    document_id = live.create_document(live.tokens["ann"], "Exported")
    writer = JSClient(live.ws_base, document_id, live.tokens["ann"])
    try:
        writer.call("wait_synced")
        for n in range(5):
            writer.call("append_paragraph", text=f"line {n}")
    finally:
        writer.close()
    session_key = live.manage("shell", "-c", STAFF_SESSION_SCRIPT).strip().splitlines()[-1]

    deadline = time.monotonic() + 20
    while True:
        request = urllib.request.Request(
            f"http://127.0.0.1:{live.port}/admin/collab/document/{document_id}/export/history.json",
            headers={"Cookie": f"sessionid={session_key}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
            body = json.loads(response.read())
        if len(body["updates"]) >= 5 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert body["document"]["id"] == document_id
    seqs = [u["seq"] for u in body["updates"]]
    assert len(seqs) >= 5 and seqs == sorted(seqs)
    assert {u["author"] for u in body["updates"]} == {"ann@example.com"}
    assert all(u["bytes"] > 0 for u in body["updates"])
