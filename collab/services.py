"""Document writes: create, rename, delete, members and invitations, connect tokens."""

from django.conf import settings
from django.core import signing
from django.db import transaction

from .broadcast import access_changed_send
from .models import Document, DocumentKind, Invitation, Membership, Role

CONNECT_TOKEN_SALT = "collab.connect-token"


class ServiceError(ValueError):
    """A request that breaks a rule; the message is safe to show."""


def _text(value, field: str) -> str:
    """A string field from a request body; anything else (a number, a list) is refused."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ServiceError(f"{field} must be a string.")
    return value.strip()


def document_create(*, owner, title: str, kind: str = DocumentKind.TEXT) -> Document:
    title = _text(title, "title")
    kind = _text(kind, "kind") or DocumentKind.TEXT
    if not title:
        raise ServiceError("A title is required.")
    if len(title) > 200:
        raise ServiceError("The title is longer than 200 characters.")
    if kind not in DocumentKind.values:
        raise ServiceError(f"kind must be one of: {', '.join(DocumentKind.values)}.")
    with transaction.atomic():
        document = Document.objects.create(owner=owner, title=title, kind=kind)
        Membership.objects.create(document=document, user=owner, role=Role.OWNER)
    return document


def document_rename(*, document: Document, title: str) -> Document:
    title = _text(title, "title")
    if not title or len(title) > 200:
        raise ServiceError("A title of 1 to 200 characters is required.")
    document.title = title
    document.save(update_fields=["title", "updated_at"])
    return document


def document_delete(*, document: Document) -> None:
    document_id = document.pk
    document.delete()
    access_changed_send(document_id=document_id, user_id=None)


def member_add(*, document: Document, email: str, role: str, invited_by) -> None:
    """Give an email address a role: a membership if it has a verified account, else an invitation.

    The caller learns nothing about whether the account exists: both paths return the same.
    """
    from allauth.account.models import EmailAddress

    email = _text(email, "email").lower()
    role = _text(role, "role")
    if "@" not in email or len(email) > 254:
        raise ServiceError("A valid email address is required.")
    if role not in Role.values:
        raise ServiceError(f"role must be one of: {', '.join(Role.values)}.")
    address = (
        EmailAddress.objects.filter(email__iexact=email, verified=True)
        .select_related("user")
        .first()
    )
    if address is None:
        Invitation.objects.update_or_create(
            document=document, email=email, defaults={"role": role, "invited_by": invited_by}
        )
        return
    _membership_set(document=document, user=address.user, role=role)


def _lock_document(document: Document) -> None:
    """Serialise membership changes of one document (two owners stepping down at once
    must not both see the other one as the remaining owner)."""
    Document.objects.select_for_update().filter(pk=document.pk).first()


def _membership_set(*, document: Document, user, role: str) -> Membership:
    with transaction.atomic():
        _lock_document(document)
        membership = Membership.objects.filter(document=document, user=user).first()
        if membership is None:
            return Membership.objects.create(document=document, user=user, role=role)
        if membership.role == Role.OWNER and role != Role.OWNER:
            _hand_over_ownership(document=document, leaving=user)
        membership.role = role
        membership.save(update_fields=["role"])
    access_changed_send(document_id=document.pk, user_id=user.pk)
    return membership


def _hand_over_ownership(*, document: Document, leaving) -> None:
    """Before an owner stops being one: refuse if nobody else owns the document, and make
    another owner the document's listed owner if the leaving one was it."""
    other = (
        Membership.objects.filter(document=document, role=Role.OWNER)
        .exclude(user=leaving)
        .order_by("created_at")
        .first()
    )
    if other is None:
        raise ServiceError("A document needs at least one owner.")
    if document.owner_id == leaving.pk:
        document.owner_id = other.user_id
        document.save(update_fields=["owner", "updated_at"])


def member_update_role(*, document: Document, user_id: int, role: str) -> Membership:
    role = _text(role, "role")
    if role not in Role.values:
        raise ServiceError(f"role must be one of: {', '.join(Role.values)}.")
    membership = Membership.objects.filter(document=document, user_id=user_id).first()
    if membership is None:
        raise Membership.DoesNotExist
    return _membership_set(document=document, user=membership.user, role=role)


def member_remove(*, document: Document, user_id: int) -> None:
    with transaction.atomic():
        _lock_document(document)
        membership = Membership.objects.filter(document=document, user_id=user_id).first()
        if membership is None:
            raise Membership.DoesNotExist
        if membership.role == Role.OWNER:
            _hand_over_ownership(document=document, leaving=membership.user)
        membership.delete()
    access_changed_send(document_id=document.pk, user_id=user_id)


def invitation_revoke(*, document: Document, email: str) -> bool:
    deleted, _ = Invitation.objects.filter(
        document=document, email__iexact=_text(email, "email")
    ).delete()
    return bool(deleted)


def invitations_accept_for(*, user, email: str) -> int:
    """Turn the invitations for a just-verified address into memberships; returns how many."""
    accepted = 0
    with transaction.atomic():
        for invitation in Invitation.objects.select_for_update().filter(email__iexact=email):
            Membership.objects.get_or_create(
                document_id=invitation.document_id, user=user, defaults={"role": invitation.role}
            )
            invitation.delete()
            accepted += 1
    return accepted


def connect_token_issue(*, user, document: Document) -> str:
    """A short-lived signed token letting a non-browser client open the document's socket."""
    return signing.dumps({"u": user.pk, "d": str(document.pk)}, salt=CONNECT_TOKEN_SALT)


def connect_token_read(token: str) -> tuple[int, str] | None:
    """(user id, document id) of a valid, unexpired connect token, else None."""
    try:
        payload = signing.loads(
            token, salt=CONNECT_TOKEN_SALT, max_age=settings.COLLAB["CONNECT_TOKEN_MAX_AGE"]
        )
        return int(payload["u"]), str(payload["d"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
