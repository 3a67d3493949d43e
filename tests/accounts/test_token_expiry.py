"""Personal access tokens expire; connect tokens are bound to one document and one user."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.utils import timezone

from accounts.models import AccessToken
from accounts.services import access_token_create
from collab import services
from collab.models import Membership
from collab.rooms import registry
from config.asgi import application
from tests.collab.ysocket import YSocket

from .test_session_sockets import rooms_settled  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def expire(token: AccessToken) -> None:
    AccessToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))


def test_expiry_is_chosen_on_the_tokens_page(user_client, user):
    response = user_client.post("/accounts/tokens/", {"name": "ci", "expires": "7"})
    assert response.status_code == 200
    token = AccessToken.objects.get(user=user)
    remaining = token.expires_at - timezone.now()
    assert timedelta(days=6, hours=23) < remaining <= timedelta(days=7)
    user_client.post("/accounts/tokens/", {"name": "forever", "expires": "never"})
    assert AccessToken.objects.get(user=user, name="forever").expires_at is None
    bad = user_client.post("/accounts/tokens/", {"name": "x", "expires": "3650"})
    assert bad.status_code == 200 and AccessToken.objects.filter(user=user).count() == 2
    assert "Expires" in user_client.get("/accounts/profile/").content.decode()


def test_expiry_is_chosen_in_the_command(user, capsys):
    call_command("create_access_token", user.email, "--expires-in-days", "30")
    token = AccessToken.objects.get(user=user)
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("create_access_token", user.email, "--expires-in-days", "0")


def test_expired_token_is_refused_over_http(client, user):
    token, raw = access_token_create(user=user, name="bot", expires_in_days=1)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    assert client.get("/api/documents/", **auth).status_code == 200
    expire(token)
    response = client.get("/api/documents/", **auth)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


async def test_expired_token_is_refused_for_sockets(user):
    document = await sync_to_async(services.document_create)(owner=user, title="Plan")
    token, raw = await sync_to_async(access_token_create)(user=user, name="bot", expires_in_days=1)
    ok = YSocket(application, document.pk, token=raw, origin=None)
    assert await ok.connect()
    await ok.sync()
    await ok.close()
    await sync_to_async(expire)(token)
    refused = YSocket(application, document.pk, token=raw, origin=None)
    assert await refused.connect()
    await refused.receive()  # the permission-denied frame
    assert await refused.receive() == ("close", 4401)


async def test_connect_token_is_bound_to_its_document_and_user(user, other_user):
    doc_a = await sync_to_async(services.document_create)(owner=user, title="A")
    doc_b = await sync_to_async(services.document_create)(owner=user, title="B")
    await sync_to_async(Membership.objects.create)(document=doc_a, user=other_user, role="editor")
    await sync_to_async(Membership.objects.create)(document=doc_b, user=other_user, role="editor")
    token = await sync_to_async(services.connect_token_issue)(user=other_user, document=doc_a)

    # Doc B is refused although its holder may edit B: the token was issued for A.
    on_b = YSocket(application, doc_b.pk, token=token, origin=None)
    assert await on_b.connect()
    await on_b.receive()
    assert await on_b.receive() == ("close", 4403)

    on_a = YSocket(application, doc_a.pk, token=token, origin=None)
    assert await on_a.connect()
    await on_a.sync()
    room_users = {c.user_id for c in registry().get(doc_a.pk).connections}
    assert room_users == {other_user.pk}  # it acts as the user it was issued to, no one else
    await on_a.close()

    # Changing the user inside the token breaks its signature.
    import base64
    import json

    payload, rest = token.split(":", 1)
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["u"] = user.pk
    forged_payload = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
    forged = forged_payload.decode().rstrip("=") + ":" + rest
    as_owner = YSocket(application, doc_a.pk, token=forged, origin=None)
    assert await as_owner.connect()
    await as_owner.receive()
    assert await as_owner.receive() == ("close", 4401)


async def test_an_open_socket_closes_when_its_token_expires(user):
    document = await sync_to_async(services.document_create)(owner=user, title="Plan")
    token, raw = await sync_to_async(access_token_create)(user=user, name="bot", expires_in_days=1)
    token.expires_at = timezone.now() + timedelta(seconds=1)
    await sync_to_async(token.save)(update_fields=["expires_at"])
    socket = YSocket(application, document.pk, token=raw, origin=None)
    assert await socket.connect()
    await socket.sync()
    # Open until the expiry, then closed as unauthenticated (after any frames before it).
    message = None
    for _ in range(20):
        message = await socket.receive(timeout=5)
        if isinstance(message, tuple) and message[0] == "close":
            break
    assert message == ("close", 4401)
    await socket.close()
