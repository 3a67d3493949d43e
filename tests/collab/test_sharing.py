"""Sharing: the share page and its actions (htmx partials and plain form posts), invitation
emails, ownership transfer, and the live events services send to the people affected."""

import re
from urllib.parse import urlsplit

import pytest
from django.test import Client

from accounts.models import User
from collab import selectors, services
from collab.models import Document, Invitation, Membership

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

HTMX = {"HTTP_HX_REQUEST": "true"}
PASSWORD = "correct-horse-battery-staple"
CSRF_VALUE = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


@pytest.fixture
def carl(make_user):
    return make_user("carl@example.com", display_name="Carl")


@pytest.fixture
def plan(ann, bob, carl):
    """Ann's document; Bob edits it, Carl views it."""
    document = services.document_create(owner=ann, title="Plan")
    Membership.objects.create(document=document, user=bob, role="editor")
    Membership.objects.create(document=document, user=carl, role="viewer")
    return document


@pytest.fixture
def events(monkeypatch):
    """Every notify_users call, as (sorted user ids, event)."""
    sent = []
    monkeypatch.setattr(
        "collab.notifications.notify_users",
        lambda user_ids, event: sent.append((sorted(user_ids), event)),
    )
    return sent


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def share_url(document, action: str = "") -> str:
    return f"/documents/{document.pk}/share/{action}"


def is_partial(response) -> bool:
    return b"<html" not in response.content


def roles(document) -> dict[str, str]:
    return dict(Membership.objects.filter(document=document).values_list("user__email", "role"))


def shared_event(document, role: str) -> dict:
    document = Document.objects.select_related("owner").get(pk=document.pk)
    return {
        "type": "document.shared",
        "document": {
            "id": str(document.pk),
            "title": document.title,
            "kind": document.kind,
            "role": role,
            "owner_name": document.owner.name,
            "url": f"/documents/{document.pk}/",
        },
    }


# The page


def test_owner_sees_the_management_forms_and_the_link(ann, plan):
    services.member_add(document=plan, email="pending@example.com", role="viewer", invited_by=ann)

    response = logged_in(ann).get(share_url(plan))

    assert response.status_code == 200
    assert not is_partial(response)
    html = response.content.decode()
    assert f'action="/documents/{plan.pk}/share/invite/"' in html
    assert html.count("/role/") >= 3
    assert "pending@example.com" in html
    assert f'action="/documents/{plan.pk}/share/transfer/"' in html
    # Copy link: the absolute URL as text and on a clipboard button.
    absolute = f"http://testserver/documents/{plan.pk}/"
    assert f">{absolute}</code>" in html
    assert f'data-url="{absolute}"' in html
    # The copying itself is in frontend/static/frontend/behaviours.js (no inline script).
    assert f'data-copy-fallback="share-url-{plan.pk}"' in html


def test_share_page_for_htmx_is_the_partial(ann, plan):
    response = logged_in(ann).get(share_url(plan), **HTMX)
    assert is_partial(response)
    assert '<section id="share"' in response.content.decode()


@pytest.mark.parametrize("who", ["bob", "carl"])
def test_other_members_see_the_list_read_only(plan, who, request):
    response = logged_in(request.getfixturevalue(who)).get(share_url(plan))

    assert response.status_code == 200
    html = response.content.decode()
    for name in ("Ann", "Bob", "Carl"):
        assert name in html
    assert "<form" not in html.split('<section id="share"')[1]
    assert "Copy link" in html


def test_non_members_get_404(make_user, plan):
    stranger = logged_in(make_user("sam@example.com"))
    assert stranger.get(share_url(plan)).status_code == 404
    response = stranger.post(share_url(plan, "invite/"), {"email": "x@example.com"})
    assert response.status_code == 404


@pytest.mark.parametrize("who", ["bob", "carl"])
def test_non_owners_are_forbidden_every_action(ann, carl, plan, who, request):
    client = logged_in(request.getfixturevalue(who))
    services.member_add(document=plan, email="pending@example.com", role="viewer", invited_by=ann)
    actions = [
        ("invite/", {"email": "x@example.com", "role": "editor"}),
        (f"members/{carl.pk}/role/", {"role": "editor"}),
        (f"members/{carl.pk}/remove/", {}),
        ("invitations/revoke/", {"email": "pending@example.com"}),
        ("transfer/", {"user_id": carl.pk}),
    ]
    for action, data in actions:
        assert client.post(share_url(plan, action), data).status_code == 403, action
        assert client.post(share_url(plan, action), data, **HTMX).status_code == 403, action
    assert roles(plan) == {
        "ann@example.com": "owner",
        "bob@example.com": "editor",
        "carl@example.com": "viewer",
    }
    assert Invitation.objects.filter(email="pending@example.com").exists()
    assert not Invitation.objects.filter(email="x@example.com").exists()


# Invite


def test_inviting_an_account_and_an_unknown_address_answer_the_same(
    ann, plan, make_user, mailoutbox
):
    make_user("dora@example.com", display_name="Dora")
    client = logged_in(ann)

    known = client.post(share_url(plan, "invite/"), {"email": "dora@example.com"}, **HTMX)
    unknown = client.post(share_url(plan, "invite/"), {"email": "eve@example.com"}, **HTMX)

    assert known.status_code == unknown.status_code == 200
    assert is_partial(known)
    assert known["HX-Trigger"] == unknown["HX-Trigger"] == "share-members-changed"

    def normalised(response) -> str:
        html = CSRF_VALUE.sub("csrf", response.content.decode())
        return html.replace("dora@example.com", "ADDRESS").replace("eve@example.com", "ADDRESS")

    assert normalised(known) == normalised(unknown)
    assert "Invitation sent to dora@example.com." in known.content.decode()
    # Dora (verified) is a member now; Eve has an invitation waiting.
    assert roles(plan)["dora@example.com"] == "editor"
    assert Invitation.objects.get(document=plan).email == "eve@example.com"
    # Both got the same email: the document's URL and who invited them.
    assert [m.to for m in mailoutbox] == [["dora@example.com"], ["eve@example.com"]]
    for message in mailoutbox:
        assert message.subject == "Ann shared “Plan” with you"
        assert f"http://testserver/documents/{plan.pk}/" in message.body
        assert "Ann invited you" in message.body
        assert "as an editor" in message.body


def test_invite_without_javascript_redirects_with_the_same_message(
    ann, plan, make_user, mailoutbox
):
    make_user("dora@example.com")
    client = logged_in(ann)

    known = client.post(share_url(plan, "invite/"), {"email": "dora@example.com", "role": "viewer"})
    unknown = client.post(
        share_url(plan, "invite/"), {"email": "eve@example.com", "role": "viewer"}
    )

    assert known.status_code == unknown.status_code == 302
    assert known.url == unknown.url == share_url(plan)
    assert roles(plan)["dora@example.com"] == "viewer"
    assert len(mailoutbox) == 2
    page = client.get(share_url(plan)).content.decode()
    assert "Invitation sent to eve@example.com." in page


@pytest.mark.parametrize("data", [{"email": "not-an-address"}, {"email": "x@y.z", "role": "god"}])
def test_invite_with_bad_input_shows_the_error(ann, plan, mailoutbox, data):
    client = logged_in(ann)

    htmx = client.post(share_url(plan, "invite/"), data, **HTMX)
    plain = client.post(share_url(plan, "invite/"), data)

    assert htmx.status_code == 422
    assert is_partial(htmx)
    assert 'class="error"' in htmx.content.decode()
    assert plain.status_code == 400
    assert not is_partial(plain)
    assert not Invitation.objects.exists()
    assert mailoutbox == []


def test_invited_person_gets_access_by_signing_up_and_confirming(ann, plan, mailoutbox):
    """The real flow: invited on the share page, sign up, follow the emailed link."""
    logged_in(ann).post(share_url(plan, "invite/"), {"email": "Fay@Example.com", "role": "viewer"})
    (invitation,) = mailoutbox
    assert invitation.to == ["fay@example.com"]
    assert "http://testserver/accounts/signup/" in invitation.body

    fay_client = Client()
    response = fay_client.post(
        "/accounts/signup/",
        {"email": "fay@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    fay = User.objects.get(email="fay@example.com")
    assert selectors.role_of(user=fay, document_id=plan.pk) is None

    confirmation = mailoutbox[-1]
    link = next(u for u in re.findall(r"https?://\S+", confirmation.body) if "confirm-email" in u)
    assert fay_client.post(urlsplit(link).path).status_code == 302

    assert selectors.role_of(user=fay, document_id=plan.pk) == "viewer"
    assert not Invitation.objects.exists()
    fay_client.force_login(fay)
    assert f'id="doc-{plan.pk}"' in fay_client.get("/").content.decode()


# Roles, removal, revocation


def test_change_a_role_with_htmx(ann, carl, plan, events):
    response = logged_in(ann).post(
        share_url(plan, f"members/{carl.pk}/role/"), {"role": "editor"}, **HTMX
    )

    assert response.status_code == 200
    assert is_partial(response)
    assert "Carl is now an editor." in response.content.decode()
    assert roles(plan)["carl@example.com"] == "editor"
    assert events == [([carl.pk], shared_event(plan, "editor"))]


def test_change_a_role_without_javascript(ann, carl, plan):
    client = logged_in(ann)

    response = client.post(share_url(plan, f"members/{carl.pk}/role/"), {"role": "editor"})

    assert response.status_code == 302
    assert response.url == share_url(plan)
    assert "Carl is now an editor." in client.get(share_url(plan)).content.decode()


def test_change_role_of_a_non_member_is_404(ann, plan, make_user):
    sam = make_user("sam@example.com")
    response = logged_in(ann).post(share_url(plan, f"members/{sam.pk}/role/"), {"role": "editor"})
    assert response.status_code == 404


def test_remove_a_member(ann, bob, plan, events):
    client = logged_in(ann)

    response = client.post(share_url(plan, f"members/{bob.pk}/remove/"), **HTMX)

    assert response.status_code == 200
    assert "Bob no longer has access." in response.content.decode()
    assert "bob@example.com" not in roles(plan)
    assert events == [([bob.pk], {"type": "document.removed", "id": str(plan.pk)})]
    assert logged_in(bob).get(f"/documents/{plan.pk}/").status_code == 404


def test_the_last_owner_cannot_remove_themselves(ann, plan):
    response = logged_in(ann).post(share_url(plan, f"members/{ann.pk}/remove/"), **HTMX)

    assert response.status_code == 422
    assert "at least one owner" in response.content.decode()
    assert roles(plan)["ann@example.com"] == "owner"


def test_an_owner_who_steps_down_leaves_the_page(ann, bob, plan):
    Membership.objects.filter(document=plan, user=bob).update(role="owner")
    client = logged_in(ann)

    response = client.post(share_url(plan, f"members/{ann.pk}/remove/"), **HTMX)

    assert response["HX-Redirect"] == "/"
    assert client.get(share_url(plan)).status_code == 404


def test_revoke_an_invitation(ann, plan):
    services.member_add(document=plan, email="pending@example.com", role="viewer", invited_by=ann)
    client = logged_in(ann)

    response = client.post(
        share_url(plan, "invitations/revoke/"), {"email": "pending@example.com"}, **HTMX
    )

    assert response.status_code == 200
    assert "Invitation to pending@example.com revoked." in response.content.decode()
    assert not Invitation.objects.exists()
    again = client.post(share_url(plan, "invitations/revoke/"), {"email": "pending@example.com"})
    assert again.status_code == 404


# Ownership transfer


def test_ownership_transfer_service(ann, bob, plan, events):
    services.ownership_transfer(document=plan, to_user_id=bob.pk)

    plan.refresh_from_db()
    assert plan.owner == bob
    assert roles(plan) == {
        "ann@example.com": "editor",
        "bob@example.com": "owner",
        "carl@example.com": "viewer",
    }
    assert sorted(events, key=lambda e: e[0]) == sorted(
        [([bob.pk], shared_event(plan, "owner")), ([ann.pk], shared_event(plan, "editor"))],
        key=lambda e: e[0],
    )
    assert events[0][1]["document"]["owner_name"] == "Bob"


def test_ownership_transfer_needs_a_member_other_than_the_owner(ann, plan, make_user):
    sam = make_user("sam@example.com")
    with pytest.raises(services.ServiceError):
        services.ownership_transfer(document=plan, to_user_id=sam.pk)
    with pytest.raises(services.ServiceError):
        services.ownership_transfer(document=plan, to_user_id=ann.pk)
    assert Document.objects.get(pk=plan.pk).owner == ann


def test_transfer_on_the_share_page(ann, carl, plan):
    client = logged_in(ann)

    response = client.post(share_url(plan, "transfer/"), {"user_id": carl.pk}, **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Carl now owns this document." in html
    # Ann is an editor now: the section she gets back is read-only.
    assert "<form" not in html
    assert Document.objects.get(pk=plan.pk).owner == carl
    assert selectors.role_of(user=ann, document_id=plan.pk) == "editor"


def test_transfer_without_javascript_and_with_bad_input(ann, bob, plan, make_user):
    client = logged_in(ann)
    sam = make_user("sam@example.com")

    assert client.post(share_url(plan, "transfer/"), {"user_id": "x"}).status_code == 400
    assert client.post(share_url(plan, "transfer/"), {"user_id": sam.pk}).status_code == 400
    response = client.post(share_url(plan, "transfer/"), {"user_id": bob.pk})

    assert response.status_code == 302
    assert Document.objects.get(pk=plan.pk).owner == bob


def test_a_co_owner_cannot_take_the_listed_owners_place(ann, bob, carl, plan):
    Membership.objects.filter(document=plan, user=bob).update(role="owner")

    response = logged_in(bob).post(share_url(plan, "transfer/"), {"user_id": carl.pk})

    assert response.status_code == 403
    assert Document.objects.get(pk=plan.pk).owner == ann


# Live events from services


def test_member_add_of_an_account_tells_them(ann, bob, carl, plan, make_user, events):
    dora = make_user("dora@example.com")

    services.member_add(document=plan, email="dora@example.com", role="viewer", invited_by=ann)
    services.member_add(document=plan, email="nobody@example.com", role="viewer", invited_by=ann)
    # Same role again: nothing changed, nothing to tell.
    services.member_add(document=plan, email="carl@example.com", role="viewer", invited_by=ann)

    assert events == [([dora.pk], shared_event(plan, "viewer"))]


def test_accepted_invitation_tells_the_new_member(ann, plan, events):
    services.member_add(document=plan, email="gil@example.com", role="editor", invited_by=ann)
    gil = User.objects.create_user(email="gil@example.com", password="x")

    services.invitations_accept_for(user=gil, email="gil@example.com")

    assert events == [([gil.pk], shared_event(plan, "editor"))]


def test_accepting_an_invitation_to_a_trashed_document_tells_nobody(ann, plan, events):
    services.member_add(document=plan, email="gil@example.com", role="editor", invited_by=ann)
    services.document_trash(document=plan)
    events.clear()
    gil = User.objects.create_user(email="gil@example.com", password="x")

    services.invitations_accept_for(user=gil, email="gil@example.com")

    assert events == []


def test_rename_tells_every_member(ann, bob, carl, plan, events):
    logged_in(bob).post(f"/documents/{plan.pk}/title/", {"title": "Roadmap"}, **HTMX)

    assert events == [
        (
            sorted([ann.pk, bob.pk, carl.pk]),
            {"type": "document.renamed", "id": str(plan.pk), "title": "Roadmap"},
        )
    ]


def test_trash_from_the_dashboard_tells_every_member(ann, bob, carl, plan, events):
    logged_in(ann).post(f"/documents/{plan.pk}/trash/", **HTMX)

    assert events == [
        (sorted([ann.pk, bob.pk, carl.pk]), {"type": "document.removed", "id": str(plan.pk)})
    ]


def test_member_events_wait_for_the_commit(
    ann, plan, make_user, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []

    class Layer:
        async def group_send(self, group, message):
            sent.append((group, message["event"]))

    monkeypatch.setattr("collab.notifications.get_channel_layer", lambda: Layer())
    dora = make_user("dora@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        services.member_add(document=plan, email=dora.email, role="editor", invited_by=ann)
        assert sent == []

    assert sent == [(f"user.{dora.pk}", shared_event(plan, "editor"))]
