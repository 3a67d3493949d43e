"""The JSON API under /api/: documents, members, content and connect tokens."""

import json
import re
import uuid
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone
from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from accounts.models import User
from accounts.services import access_token_create
from collab import selectors, services, store
from collab.models import Document, DocumentUpdate, Invitation, Membership

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

PASSWORD = "correct-horse-battery-staple"


def bearer(user) -> dict:
    _token, raw = access_token_create(user=user, name="tests")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def send(client, method: str, url: str, body=None, **headers):
    """A request with a JSON body (already-encoded str/bytes are sent as they are)."""
    if method == "get":
        return client.get(url, **headers)
    data = body if isinstance(body, str | bytes) or body is None else json.dumps(body)
    return getattr(client, method)(url, data=data, content_type="application/json", **headers)


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "message"}
    assert body["message"]
    if code:
        assert body["error"] == code
    return body


def doc_url(document) -> str:
    return f"/api/documents/{document.pk}/"


def members_url(document) -> str:
    return f"/api/documents/{document.pk}/members/"


def member_url(document, user) -> str:
    return f"/api/documents/{document.pk}/members/{user.pk}/"


@pytest.fixture
def carl(make_user):
    return make_user("carl@example.com", display_name="Carl")


@pytest.fixture
def shared(ann, bob, carl):
    """Ann's document; Bob edits it, Carl views it."""
    document = services.document_create(owner=ann, title="Plan")
    Membership.objects.create(document=document, user=bob, role="editor")
    Membership.objects.create(document=document, user=carl, role="viewer")
    return document


@pytest.fixture
def as_ann(client, ann):
    client.force_login(ann)
    return client


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# Authentication


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/documents/"),
        ("post", "/api/documents/"),
        ("get", "/api/documents/{id}/"),
        ("patch", "/api/documents/{id}/"),
        ("delete", "/api/documents/{id}/"),
        ("get", "/api/documents/{id}/members/"),
        ("post", "/api/documents/{id}/members/"),
        ("patch", "/api/documents/{id}/members/1/"),
        ("delete", "/api/documents/{id}/members/1/"),
        ("get", "/api/documents/{id}/content"),
        ("post", "/api/documents/{id}/connect-token/"),
    ],
)
def test_anonymous_requests_get_401_json(client, shared, method, path):
    response = send(client, method, path.format(id=shared.pk), {"title": "x"})
    assert_error(response, 401, "not_authenticated")
    assert Document.objects.get().title == "Plan"


def test_invalid_bearer_token_is_401_json(client, shared):
    response = client.get("/api/documents/", HTTP_AUTHORIZATION="Bearer cpat_not-a-real-token")
    assert_error(response, 401, "invalid_token")


def test_bearer_token_authenticates(client, ann, shared):
    response = client.get("/api/documents/", **bearer(ann))
    assert response.status_code == 200
    assert [d["id"] for d in response.json()["documents"]] == [str(shared.pk)]


def test_session_post_without_csrf_token_is_refused_with_json():
    client = Client(enforce_csrf_checks=True)
    ann = User.objects.create_user(email="ann@example.com", password=PASSWORD)
    client.force_login(ann)

    response = send(client, "post", "/api/documents/", {"title": "Forged"})

    assert_error(response, 403, "csrf_failed")
    assert not Document.objects.exists()


def test_session_post_with_csrf_token_is_accepted():
    client = Client(enforce_csrf_checks=True)
    ann = User.objects.create_user(email="ann@example.com", password=PASSWORD)
    client.force_login(ann)
    client.get("/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value

    response = send(client, "post", "/api/documents/", {"title": "Real"}, HTTP_X_CSRFTOKEN=token)

    assert response.status_code == 201


def test_bearer_post_needs_no_csrf_token(ann):
    client = Client(enforce_csrf_checks=True)
    response = send(client, "post", "/api/documents/", {"title": "Bot doc"}, **bearer(ann))

    assert response.status_code == 201
    assert Document.objects.get().owner == ann


def test_session_patch_and_delete_need_csrf_too(ann, shared):
    client = Client(enforce_csrf_checks=True)
    client.force_login(ann)

    assert_error(send(client, "patch", doc_url(shared), {"title": "X"}), 403, "csrf_failed")
    assert_error(client.delete(doc_url(shared)), 403, "csrf_failed")
    assert Document.objects.get().title == "Plan"


# The list and create


def test_list_shows_only_my_documents_with_role_and_socket_urls(client, ann, bob, shared):
    own = services.document_create(owner=bob, title="Bob's own")
    services.document_create(owner=ann, title="Ann's private")

    response = client.get("/api/documents/", **bearer(bob))

    assert response.status_code == 200
    items = {d["title"]: d for d in response.json()["documents"]}
    assert set(items) == {"Plan", "Bob's own"}
    plan = items["Plan"]
    assert plan["id"] == str(shared.pk)
    assert plan["role"] == "editor"
    assert items["Bob's own"]["role"] == "owner"
    assert plan["kind"] == "text"
    assert plan["owner"] == {"id": ann.pk, "name": "Ann"}
    assert plan["url"] == f"/documents/{shared.pk}/"
    assert plan["ws_url"].endswith(f"/ws/documents/{shared.pk}")
    assert plan["ws_base_url"] == "ws://testserver/ws/documents"
    assert plan["ws_url"] == f"{plan['ws_base_url']}/{shared.pk}"
    assert items["Bob's own"]["id"] == str(own.pk)
    assert plan["last_edited_at"] is None


def test_list_is_empty_for_a_new_user(client, make_user):
    response = client.get("/api/documents/", **bearer(make_user("new@example.com")))
    assert response.json() == {"documents": []}


def test_secure_requests_get_wss_urls(client, ann, shared):
    response = client.get("/api/documents/", secure=True, **bearer(ann))
    (item,) = response.json()["documents"]
    assert item["ws_url"] == f"wss://testserver/ws/documents/{shared.pk}"


def test_create_returns_201_with_id_and_ws_url(client, ann):
    response = send(
        client, "post", "/api/documents/", {"title": " Board ", "kind": "whiteboard"}, **bearer(ann)
    )

    assert response.status_code == 201
    body = response.json()
    document = Document.objects.get(pk=body["id"])
    assert uuid.UUID(body["id"]) == document.pk
    assert body["ws_url"].endswith(f"/ws/documents/{document.pk}")
    assert (body["title"], body["kind"], body["role"]) == ("Board", "whiteboard", "owner")
    assert selectors.role_of(user=ann, document_id=document.pk) == "owner"


def test_create_defaults_to_a_text_document(client, ann):
    response = send(client, "post", "/api/documents/", {"title": "Notes"}, **bearer(ann))
    assert response.json()["kind"] == "text"


@pytest.mark.parametrize(
    "body",
    [
        {"title": "T", "kind": "spreadsheet"},
        {"title": ""},
        {"title": "   "},
        {},
        {"title": "x" * 201},
        "not json",
        "{",
        '["title", "T"]',
        '"just a string"',
        "42",
    ],
)
def test_create_rejects_bad_input_with_400_json(client, ann, body):
    response = send(client, "post", "/api/documents/", body, **bearer(ann))
    assert_error(response, 400, "invalid")
    assert not Document.objects.exists()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/documents/", {"title": 5}),
        ("post", "/api/documents/", {"title": ["T"]}),
        ("patch", "/api/documents/{id}/", {"title": 5}),
        ("post", "/api/documents/{id}/members/", {"email": 5, "role": "viewer"}),
        ("post", "/api/documents/{id}/members/", {"email": ["x@example.com"]}),
    ],
)
def test_non_string_fields_are_400_json(ann, shared, method, path, body):
    client = Client(raise_request_exception=False)
    response = send(client, method, path.format(id=shared.pk), body, **bearer(ann))
    assert_error(response, 400, "invalid")


def test_documents_endpoint_refuses_other_methods(client, ann):
    assert client.delete("/api/documents/", **bearer(ann)).status_code == 405


# Detail


def test_detail_for_each_role(client, ann, bob, carl, shared):
    for user, role in [(ann, "owner"), (bob, "editor"), (carl, "viewer")]:
        response = client.get(doc_url(shared), **bearer(user))
        assert response.status_code == 200
        body = response.json()
        assert (body["id"], body["title"], body["role"]) == (str(shared.pk), "Plan", role)


def test_non_member_and_unknown_id_get_the_same_404(client, make_user, shared):
    stranger = bearer(make_user("sam@example.com"))
    unknown = f"/api/documents/{uuid.uuid4()}/"

    for suffix, method in [
        ("", "get"),
        ("", "patch"),
        ("", "delete"),
        ("members/", "get"),
        ("members/", "post"),
        ("content", "get"),
        ("connect-token/", "post"),
    ]:
        theirs = send(client, method, doc_url(shared) + suffix, {"title": "x"}, **stranger)
        missing = send(client, method, unknown + suffix, {"title": "x"}, **stranger)
        assert_error(theirs, 404, "not_found")
        assert theirs.status_code == missing.status_code
        assert theirs.content == missing.content
    assert Document.objects.get().title == "Plan"


def test_editor_renames(client, bob, shared):
    response = send(client, "patch", doc_url(shared), {"title": "  Renamed "}, **bearer(bob))

    assert response.status_code == 200
    assert response.json()["title"] == "Renamed"
    assert response.json()["role"] == "editor"
    shared.refresh_from_db()
    assert shared.title == "Renamed"


def test_viewer_cannot_rename(client, carl, shared):
    response = send(client, "patch", doc_url(shared), {"title": "Mine now"}, **bearer(carl))
    assert_error(response, 403, "forbidden")
    assert Document.objects.get().title == "Plan"


@pytest.mark.parametrize("body", [{"title": ""}, {}, "nope", "[]"])
def test_rename_with_bad_input_is_400(client, ann, shared, body):
    response = send(client, "patch", doc_url(shared), body, **bearer(ann))
    assert_error(response, 400, "invalid")
    assert Document.objects.get().title == "Plan"


def test_owner_deletes_204(client, ann, shared):
    store.updates_append(
        document_id=shared.pk,
        updates=[store.PendingUpdate(b"\x00\x00", ann.pk, timezone.now())],
    )

    response = client.delete(doc_url(shared), **bearer(ann))

    assert response.status_code == 204
    assert response.content == b""
    # Moved to the trash: gone for everyone, the owner included, but restorable with its log.
    trashed = Document.objects.get(pk=shared.pk)
    assert trashed.deleted_at is not None
    assert Membership.objects.filter(document=shared).count() == 3
    assert DocumentUpdate.objects.filter(document=shared).count() == 1
    assert_error(client.get(doc_url(shared), **bearer(ann)), 404, "not_found")
    assert client.get("/api/documents/", **bearer(ann)).json() == {"documents": []}


@pytest.mark.parametrize("who", ["bob", "carl"])
def test_editors_and_viewers_cannot_delete(client, shared, who, request):
    response = client.delete(doc_url(shared), **bearer(request.getfixturevalue(who)))
    assert_error(response, 403, "forbidden")
    assert Document.objects.filter(pk=shared.pk).exists()


def test_detail_refuses_post(client, ann, shared):
    assert client.post(doc_url(shared), **bearer(ann)).status_code == 405


# Members


def test_every_member_lists_members_and_only_owners_see_invitations(client, ann, bob, carl, shared):
    services.member_add(document=shared, email="pending@example.com", role="viewer", invited_by=ann)
    expected_members = [
        {"user_id": ann.pk, "email": "ann@example.com", "name": "Ann", "role": "owner"},
        {"user_id": bob.pk, "email": "bob@example.com", "name": "Bob", "role": "editor"},
        {"user_id": carl.pk, "email": "carl@example.com", "name": "Carl", "role": "viewer"},
    ]

    owner_view = client.get(members_url(shared), **bearer(ann)).json()
    assert owner_view == {
        "members": expected_members,
        "invitations": [{"email": "pending@example.com", "role": "viewer"}],
    }
    for user in (bob, carl):
        response = client.get(members_url(shared), **bearer(user))
        assert response.status_code == 200
        assert response.json() == {"members": expected_members}
        assert b"pending@example.com" not in response.content


def test_owner_adds_an_existing_verified_user(client, ann, make_user, shared):
    dora = make_user("dora@example.com")

    response = send(
        client,
        "post",
        members_url(shared),
        {"email": "Dora@Example.com", "role": "viewer"},
        **bearer(ann),
    )

    assert response.status_code == 202
    assert response.json() == {"email": "dora@example.com", "role": "viewer"}
    assert selectors.role_of(user=dora, document_id=shared.pk) == "viewer"
    assert not Invitation.objects.exists()


def test_adding_an_unknown_email_creates_an_invitation(client, ann, shared):
    response = send(
        client, "post", members_url(shared), {"email": "nobody@example.com"}, **bearer(ann)
    )

    assert response.status_code == 202
    assert response.json() == {"email": "nobody@example.com", "role": "editor"}
    (invitation,) = Invitation.objects.all()
    assert (invitation.document, invitation.email, invitation.role, invitation.invited_by) == (
        shared,
        "nobody@example.com",
        "editor",
        ann,
    )


def test_add_responses_do_not_reveal_whether_an_account_exists(client, ann, make_user, shared):
    make_user("dora@example.com")  # same length as the unknown address below
    token = bearer(ann)

    known = send(
        client,
        "post",
        members_url(shared),
        {"email": "dora@example.com", "role": "editor"},
        **token,
    )
    unknown = send(
        client,
        "post",
        members_url(shared),
        {"email": "zoey@example.com", "role": "editor"},
        **token,
    )

    assert known.status_code == unknown.status_code == 202
    assert known.json().keys() == unknown.json().keys()
    assert known.content.replace(b"dora@", b"XXXX@") == unknown.content.replace(b"zoey@", b"XXXX@")
    assert dict(known.headers) == dict(unknown.headers)


def test_adding_an_unverified_account_is_an_invitation(client, ann, shared):
    from allauth.account.models import EmailAddress

    eve = User.objects.create_user(email="eve@example.com", password=PASSWORD)
    EmailAddress.objects.create(user=eve, email=eve.email, verified=False, primary=True)

    response = send(client, "post", members_url(shared), {"email": eve.email}, **bearer(ann))

    assert response.status_code == 202
    assert selectors.role_of(user=eve, document_id=shared.pk) is None
    assert Invitation.objects.filter(email="eve@example.com").exists()


@pytest.mark.parametrize("who", ["bob", "carl"])
def test_non_owners_cannot_add_members(client, shared, who, request):
    response = send(
        client,
        "post",
        members_url(shared),
        {"email": "x@example.com", "role": "owner"},
        **bearer(request.getfixturevalue(who)),
    )
    assert_error(response, 403, "forbidden")
    assert not Invitation.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email"},
        {"email": ""},
        {"email": "x@example.com", "role": "admin"},
        "garbage",
        "[1]",
    ],
)
def test_adding_with_bad_input_is_400(client, ann, shared, body):
    response = send(client, "post", members_url(shared), body, **bearer(ann))
    assert_error(response, 400, "invalid")
    assert not Invitation.objects.exists()


def test_owner_changes_a_role(client, ann, bob, shared):
    response = send(client, "patch", member_url(shared, bob), {"role": "viewer"}, **bearer(ann))

    assert response.status_code == 200
    assert response.json() == {
        "user_id": bob.pk,
        "email": "bob@example.com",
        "name": "Bob",
        "role": "viewer",
    }
    assert selectors.role_of(user=bob, document_id=shared.pk) == "viewer"


def test_owner_removes_a_member(client, ann, bob, shared):
    response = client.delete(member_url(shared, bob), **bearer(ann))

    assert response.status_code == 204
    assert selectors.role_of(user=bob, document_id=shared.pk) is None
    assert_error(client.get(doc_url(shared), **bearer(bob)), 404, "not_found")


def test_demoting_or_removing_the_last_owner_is_400(client, ann, shared):
    token = bearer(ann)
    assert_error(send(client, "patch", member_url(shared, ann), {"role": "editor"}, **token), 400)
    assert_error(client.delete(member_url(shared, ann), **token), 400)
    assert selectors.role_of(user=ann, document_id=shared.pk) == "owner"


def test_an_owner_may_leave_when_another_owner_remains(client, ann, bob, shared):
    send(client, "patch", member_url(shared, bob), {"role": "owner"}, **bearer(ann))

    assert client.delete(member_url(shared, ann), **bearer(ann)).status_code == 204
    assert selectors.role_of(user=bob, document_id=shared.pk) == "owner"
    assert selectors.role_of(user=ann, document_id=shared.pk) is None


def test_owner_shown_is_a_current_owner_after_the_creator_leaves(client, ann, bob, shared):
    send(client, "patch", member_url(shared, bob), {"role": "owner"}, **bearer(ann))
    assert client.delete(member_url(shared, ann), **bearer(ann)).status_code == 204

    body = client.get(doc_url(shared), **bearer(bob)).json()
    assert body["owner"]["id"] == bob.pk


def test_unknown_member_is_404(client, ann, make_user, shared):
    outsider = make_user("out@example.com")
    token = bearer(ann)

    for target in (outsider.pk, 999_999):
        url = f"/api/documents/{shared.pk}/members/{target}/"
        assert_error(send(client, "patch", url, {"role": "viewer"}, **token), 404, "not_found")
        assert_error(client.delete(url, **token), 404, "not_found")


def test_changing_to_an_unknown_role_is_400(client, ann, bob, shared):
    response = send(client, "patch", member_url(shared, bob), {"role": "admin"}, **bearer(ann))
    assert_error(response, 400, "invalid")
    assert selectors.role_of(user=bob, document_id=shared.pk) == "editor"


@pytest.mark.parametrize("who", ["bob", "carl"])
def test_non_owners_cannot_change_or_remove_members(client, ann, shared, who, request):
    token = bearer(request.getfixturevalue(who))
    response = send(client, "patch", member_url(shared, ann), {"role": "viewer"}, **token)
    assert_error(response, 403, "forbidden")
    assert_error(client.delete(member_url(shared, ann), **token), 403, "forbidden")
    assert selectors.role_of(user=ann, document_id=shared.pk) == "owner"


def confirmation_path(message) -> str:
    link = next(u for u in re.findall(r"https?://\S+", message.body) if "confirm-email" in u)
    return urlsplit(link).path


def test_invitation_becomes_membership_when_the_address_is_verified_by_link(
    client, ann, shared, mailoutbox
):
    """The real flow: invite, sign up with that address, follow the emailed link."""
    response = send(
        client,
        "post",
        members_url(shared),
        {"email": "Fay@Example.com", "role": "viewer"},
        **bearer(ann),
    )
    assert response.status_code == 202

    signup = Client()
    response = signup.post(
        "/accounts/signup/",
        {"email": "fay@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    fay = User.objects.get(email="fay@example.com")
    # Signing up alone (unverified) grants nothing.
    assert selectors.role_of(user=fay, document_id=shared.pk) is None
    assert Invitation.objects.filter(email="fay@example.com").exists()

    invitation, confirmation = mailoutbox
    # The invitation went to the address before it had an account, like to any other.
    assert invitation.to == ["fay@example.com"]
    assert f"http://testserver/documents/{shared.pk}/" in invitation.body
    link = confirmation_path(confirmation)
    assert signup.post(link).status_code == 302

    assert selectors.role_of(user=fay, document_id=shared.pk) == "viewer"
    assert not Invitation.objects.exists()
    fay_client = as_user(fay)
    assert fay_client.get(doc_url(shared)).json()["role"] == "viewer"


def test_inviting_an_account_that_verifies_later(client, ann, shared, mailoutbox):
    """Sign up first (unverified), get invited, then verify: access follows verification."""
    signup = Client()
    signup.post(
        "/accounts/signup/",
        {"email": "gus@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    send(client, "post", members_url(shared), {"email": "gus@example.com"}, **bearer(ann))
    gus = User.objects.get(email="gus@example.com")
    assert selectors.role_of(user=gus, document_id=shared.pk) is None

    confirmation, invitation = mailoutbox
    assert invitation.to == ["gus@example.com"]
    signup.post(confirmation_path(confirmation))

    assert selectors.role_of(user=gus, document_id=shared.pk) == "editor"


# Content


def paragraph_updates() -> list[bytes]:
    """Real incremental updates of a Tiptap-shaped document, as a client would send them."""
    doc = Doc()
    root = doc.get("default", type=XmlFragment)
    updates = []

    def edit(change) -> None:
        before = doc.get_state()
        change()
        updates.append(doc.get_update(before))

    edit(lambda: root.children.append(XmlElement("paragraph")).children.append(XmlText("Hello")))
    edit(lambda: root.children[0].children[0].insert(5, " world", {"bold": {}}))
    edit(lambda: root.children.append(XmlElement("heading", {"level": "2"})))
    edit(lambda: root.children[1].children.append(XmlText("Next")))
    edit(lambda: root.children.append(XmlElement("paragraph")))
    return updates


@pytest.fixture
def written(shared, bob):
    updates = paragraph_updates()
    for batch in (updates[:2], updates[2:]):
        store.updates_append(
            document_id=shared.pk,
            updates=[store.PendingUpdate(u, bob.pk, timezone.now()) for u in batch],
        )
    return shared


def test_content_as_text(client, carl, written):
    for url in (f"/api/documents/{written.pk}/content", f"/api/documents/{written.pk}/content/"):
        response = client.get(url, {"format": "text"}, **bearer(carl))
        assert response.status_code == 200
        assert response.json() == {
            "id": str(written.pk),
            "format": "text",
            "seq": 5,
            "content": "Hello world\nNext\n",
        }


def test_content_defaults_to_text(client, carl, written):
    response = client.get(f"/api/documents/{written.pk}/content", **bearer(carl))
    assert response.json()["format"] == "text"
    assert response.json()["content"] == "Hello world\nNext\n"


def test_content_as_prosemirror_json(client, ann, written):
    response = client.get(f"/api/documents/{written.pk}/content", {"format": "json"}, **bearer(ann))

    assert response.status_code == 200
    body = response.json()
    assert (body["format"], body["seq"]) == ("json", 5)
    assert body["content"] == {
        "type": "doc",
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "Hello"},
                    {"type": "text", "text": " world", "marks": [{"type": "bold"}]},
                ],
            },
            {
                "type": "heading",
                "attrs": {"level": "2"},
                "content": [{"type": "text", "text": "Next"}],
            },
            {"type": "paragraph"},
        ],
    }


def test_content_after_compaction_is_the_same(client, ann, written):
    url = f"/api/documents/{written.pk}/content"
    before = client.get(url, {"format": "json"}, **bearer(ann)).json()
    assert store.snapshot_compact(document_id=written.pk, min_tail=1) == 5
    assert client.get(url, {"format": "json"}, **bearer(ann)).json() == before


def test_content_of_an_empty_document(client, ann, shared):
    response = client.get(f"/api/documents/{shared.pk}/content", **bearer(ann))
    assert response.json()["content"] == ""
    assert response.json()["seq"] == 0


def test_content_with_a_bad_format_is_400(client, ann, written):
    response = client.get(f"/api/documents/{written.pk}/content", {"format": "pdf"}, **bearer(ann))
    assert_error(response, 400, "invalid")


def test_content_of_someone_elses_document_is_404(client, make_user, written):
    response = client.get(
        f"/api/documents/{written.pk}/content", **bearer(make_user("sam@example.com"))
    )
    assert_error(response, 404, "not_found")
    assert b"Hello" not in response.content


# Connect tokens


@pytest.mark.parametrize("who", ["ann", "bob", "carl"])
def test_connect_token_for_any_member(client, shared, who, request):
    user = request.getfixturevalue(who)
    response = client.post(f"/api/documents/{shared.pk}/connect-token/", **bearer(user))

    assert response.status_code == 200
    body = response.json()
    assert services.connect_token_read(body["token"]) == (user.pk, str(shared.pk))
    assert body["expires_in"] == 60
    assert body["ws_url"] == f"ws://testserver/ws/documents/{shared.pk}?token={body['token']}"
    assert body["role"] == {"ann": "owner", "bob": "editor", "carl": "viewer"}[who]


def test_connect_token_by_session_with_csrf(ann, shared):
    client = Client(enforce_csrf_checks=True)
    client.force_login(ann)
    url = f"/api/documents/{shared.pk}/connect-token/"

    assert_error(client.post(url), 403, "csrf_failed")
    client.get("/")
    response = client.post(url, HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    assert services.connect_token_read(response.json()["token"]) == (ann.pk, str(shared.pk))


def test_connect_token_refuses_get(client, ann, shared):
    response = client.get(f"/api/documents/{shared.pk}/connect-token/", **bearer(ann))
    assert response.status_code == 405
    assert "POST" in response["Allow"]


def test_connect_token_for_a_non_member_is_404(client, make_user, shared):
    response = client.post(
        f"/api/documents/{shared.pk}/connect-token/", **bearer(make_user("sam@example.com"))
    )
    assert_error(response, 404, "not_found")
