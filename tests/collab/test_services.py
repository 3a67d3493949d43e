"""collab.services: documents, members, invitations and connect tokens."""

import threading

import pytest
from allauth.account.models import EmailAddress
from django.core import signing
from django.db import connection

from accounts.models import User
from collab import selectors, services
from collab.models import Document, DocumentKind, Invitation, Membership, Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def document(ann):
    return services.document_create(owner=ann, title="Plan")


def roles(document) -> dict[str, str]:
    return {
        m.user.email: m.role
        for m in Membership.objects.filter(document=document).select_related("user")
    }


# Documents


def test_document_create_makes_the_owner_membership(ann):
    document = services.document_create(owner=ann, title="  Plan  ", kind="whiteboard")

    assert document.title == "Plan"
    assert document.kind == DocumentKind.WHITEBOARD
    assert document.owner == ann
    assert document.last_seq == 0
    assert roles(document) == {"ann@example.com": "owner"}
    assert selectors.role_of(user=ann, document_id=document.pk) == Role.OWNER


def test_document_create_defaults_to_text(ann):
    assert services.document_create(owner=ann, title="T").kind == DocumentKind.TEXT


@pytest.mark.parametrize(
    ("title", "kind"),
    [("", "text"), ("   ", "text"), (None, "text"), ("x" * 201, "text"), ("T", "spreadsheet")],
)
def test_document_create_rejects_bad_input_and_writes_nothing(ann, title, kind):
    with pytest.raises(services.ServiceError):
        services.document_create(owner=ann, title=title, kind=kind)
    assert not Document.objects.exists()
    assert not Membership.objects.exists()


def test_title_of_200_characters_is_fine(ann):
    assert len(services.document_create(owner=ann, title="x" * 200).title) == 200


def test_rename(document):
    services.document_rename(document=document, title=" New name ")
    document.refresh_from_db()
    assert document.title == "New name"
    with pytest.raises(services.ServiceError):
        services.document_rename(document=document, title=" ")
    document.refresh_from_db()
    assert document.title == "New name"


def test_delete_removes_memberships_and_invitations(document, bob):
    services.member_add(document=document, email=bob.email, role="editor", invited_by=None)
    services.member_add(document=document, email="x@example.com", role="viewer", invited_by=None)

    services.document_delete(document=document)

    assert not Document.objects.exists()
    assert not Membership.objects.exists()
    assert not Invitation.objects.exists()


def test_documents_for_lists_only_my_documents(ann, bob):
    mine = services.document_create(owner=ann, title="Mine")
    shared = services.document_create(owner=bob, title="Shared")
    services.document_create(owner=bob, title="Not mine")
    services.member_add(document=shared, email=ann.email, role="viewer", invited_by=bob)

    assert {d.title for d in selectors.documents_for(user=ann)} == {mine.title, shared.title}


# Members


def test_member_add_of_a_verified_account_makes_a_membership(document, ann, bob):
    services.member_add(document=document, email=" BOB@Example.com ", role="editor", invited_by=ann)

    assert roles(document) == {"ann@example.com": "owner", "bob@example.com": "editor"}
    assert not Invitation.objects.exists()


def test_member_add_is_idempotent_and_updates_the_role(document, ann, bob):
    for role in ["editor", "editor", "viewer"]:
        services.member_add(document=document, email=bob.email, role=role, invited_by=ann)

    assert Membership.objects.filter(document=document, user=bob).count() == 1
    assert roles(document)["bob@example.com"] == "viewer"


def test_member_add_of_an_unknown_address_makes_an_invitation(document, ann):
    services.member_add(document=document, email="New@Example.com", role="viewer", invited_by=ann)
    services.member_add(document=document, email="new@example.com", role="editor", invited_by=ann)

    (invitation,) = Invitation.objects.all()
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        "new@example.com",
        "editor",
        ann,
    )
    assert roles(document) == {"ann@example.com": "owner"}


def test_member_add_of_an_unverified_account_makes_an_invitation(document, ann):
    carol = User.objects.create_user(email="carol@example.com", password="x")
    EmailAddress.objects.create(user=carol, email=carol.email, verified=False, primary=True)

    services.member_add(document=document, email=carol.email, role="editor", invited_by=ann)

    assert Invitation.objects.filter(email="carol@example.com").exists()
    assert selectors.role_of(user=carol, document_id=document.pk) is None


@pytest.mark.parametrize(
    ("email", "role"), [("", "editor"), ("no-at-sign", "editor"), ("a@b.c", "admin")]
)
def test_member_add_rejects_bad_input(document, ann, email, role):
    with pytest.raises(services.ServiceError):
        services.member_add(document=document, email=email, role=role, invited_by=ann)
    assert not Invitation.objects.exists()
    assert Membership.objects.count() == 1


def test_member_update_role_and_remove(document, ann, bob):
    services.member_add(document=document, email=bob.email, role="viewer", invited_by=ann)

    membership = services.member_update_role(document=document, user_id=bob.pk, role="editor")
    assert membership.role == "editor"
    assert roles(document)["bob@example.com"] == "editor"

    services.member_remove(document=document, user_id=bob.pk)
    assert roles(document) == {"ann@example.com": "owner"}
    with pytest.raises(Membership.DoesNotExist):
        services.member_remove(document=document, user_id=bob.pk)
    with pytest.raises(Membership.DoesNotExist):
        services.member_update_role(document=document, user_id=bob.pk, role="editor")


def test_the_last_owner_can_be_neither_demoted_nor_removed(document, ann, bob):
    with pytest.raises(services.ServiceError):
        services.member_update_role(document=document, user_id=ann.pk, role="editor")
    with pytest.raises(services.ServiceError):
        services.member_remove(document=document, user_id=ann.pk)
    # Not through member_add either.
    with pytest.raises(services.ServiceError):
        services.member_add(document=document, email=ann.email, role="viewer", invited_by=ann)
    assert roles(document) == {"ann@example.com": "owner"}

    # With a second owner the first may step down.
    services.member_add(document=document, email=bob.email, role="owner", invited_by=ann)
    services.member_update_role(document=document, user_id=ann.pk, role="editor")
    assert roles(document) == {"ann@example.com": "editor", "bob@example.com": "owner"}


def test_update_role_rejects_an_unknown_role(document, ann):
    with pytest.raises(services.ServiceError):
        services.member_update_role(document=document, user_id=ann.pk, role="god")


# Invitations


def test_invitations_accept_for_turns_invitations_into_memberships(ann, bob):
    first = services.document_create(owner=ann, title="One")
    second = services.document_create(owner=bob, title="Two")
    other = services.document_create(owner=bob, title="Other")
    services.member_add(document=first, email="carol@example.com", role="editor", invited_by=ann)
    services.member_add(document=second, email="carol@example.com", role="viewer", invited_by=bob)
    services.member_add(document=other, email="dave@example.com", role="viewer", invited_by=bob)
    carol = User.objects.create_user(email="carol@example.com", password="x")

    assert services.invitations_accept_for(user=carol, email="Carol@Example.com") == 2

    assert selectors.role_of(user=carol, document_id=first.pk) == "editor"
    assert selectors.role_of(user=carol, document_id=second.pk) == "viewer"
    assert selectors.role_of(user=carol, document_id=other.pk) is None
    assert list(Invitation.objects.values_list("email", flat=True)) == ["dave@example.com"]
    # Nothing left to accept.
    assert services.invitations_accept_for(user=carol, email="carol@example.com") == 0


def test_accepting_keeps_an_existing_membership(document, ann, bob):
    services.member_add(document=document, email=bob.email, role="viewer", invited_by=ann)
    Invitation.objects.create(document=document, email="bob@work.example", role="editor")

    assert services.invitations_accept_for(user=bob, email="bob@work.example") == 1

    assert Membership.objects.filter(document=document, user=bob).count() == 1
    assert not Invitation.objects.exists()


def test_email_confirmed_signal_accepts_invitations(document, ann):
    from allauth.account.signals import email_confirmed

    services.member_add(document=document, email="carol@example.com", role="editor", invited_by=ann)
    carol = User.objects.create_user(email="carol@example.com", password="x")
    address = EmailAddress.objects.create(user=carol, email=carol.email, verified=False)
    assert address.set_verified()
    # set_verified alone sends nothing; allauth sends this when a link or code confirms.
    assert selectors.role_of(user=carol, document_id=document.pk) is None

    email_confirmed.send(sender=EmailAddress, request=None, email_address=address)

    assert selectors.role_of(user=carol, document_id=document.pk) == "editor"
    assert not Invitation.objects.exists()


def test_operator_created_user_accepts_pending_invitations(document, ann):
    from accounts.services import user_create_verified

    services.member_add(document=document, email="ops@example.com", role="viewer", invited_by=ann)
    user = user_create_verified(email="OPS@example.com")
    assert selectors.role_of(user=user, document_id=document.pk) == "viewer"


# Connect tokens


def test_connect_token_round_trip_is_bound_to_user_and_document(document, ann, bob):
    other = services.document_create(owner=bob, title="Other")
    token = services.connect_token_issue(user=ann, document=document)
    other_token = services.connect_token_issue(user=bob, document=other)

    assert services.connect_token_read(token) == (ann.pk, str(document.pk))
    assert services.connect_token_read(other_token) == (bob.pk, str(other.pk))
    assert token != other_token


def test_connect_token_expires(document, ann, settings):
    token = services.connect_token_issue(user=ann, document=document)
    settings.COLLAB = {**settings.COLLAB, "CONNECT_TOKEN_MAX_AGE": -1}
    assert services.connect_token_read(token) is None


def test_tampered_connect_token_is_refused(document, ann, bob):
    token = services.connect_token_issue(user=ann, document=document)
    payload, _, signature = token.partition(":")
    forged = signing.dumps({"u": bob.pk, "d": str(document.pk)}, salt="collab.connect-token")
    forged_payload = forged.partition(":")[0]
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")

    assert services.connect_token_read(flipped) is None
    assert services.connect_token_read(f"{forged_payload}:{signature}") is None
    assert services.connect_token_read("") is None
    assert services.connect_token_read("not-a-token") is None
    assert services.connect_token_read(payload) is None


def test_token_signed_for_another_purpose_is_refused(document, ann):
    other_purpose = signing.dumps({"u": ann.pk, "d": str(document.pk)})
    assert services.connect_token_read(other_purpose) is None


@pytest.mark.parametrize("payload", [{"u": 1}, {"d": "x"}, [1, 2], "s", {"u": "one", "d": "x"}])
def test_malformed_signed_payloads_are_refused(payload):
    token = signing.dumps(payload, salt=services.CONNECT_TOKEN_SALT)
    assert services.connect_token_read(token) is None


@pytest.mark.parametrize("operation", ["demote", "remove"])
@pytest.mark.django_db(transaction=True)
def test_two_owners_stepping_down_at_once_leave_an_owner(ann, bob, monkeypatch, operation):
    document = services.document_create(owner=ann, title="Race")
    services.member_add(document=document, email=bob.email, role="owner", invited_by=ann)
    both_checked = threading.Barrier(2)
    original = services._hand_over_ownership

    def check_then_wait(**kwargs):
        original(**kwargs)
        # Both transactions have passed the check before either writes.
        try:
            both_checked.wait(timeout=3)
        except threading.BrokenBarrierError:
            pass

    monkeypatch.setattr(services, "_hand_over_ownership", check_then_wait)
    outcomes: list[object] = []

    def step_down(user) -> None:
        try:
            if operation == "demote":
                services.member_update_role(document=document, user_id=user.pk, role="editor")
            else:
                services.member_remove(document=document, user_id=user.pk)
            outcomes.append("ok")
        except Exception as exc:  # the loser may fail with a rule or a lock error
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=step_down, args=(u,)) for u in (ann, bob)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(outcomes) == 2
    assert Membership.objects.filter(document=document, role=Role.OWNER).exists(), outcomes
