"""Document writes: create, rename, trash/restore/purge, members, invitations, ownership,
connect tokens. Each write that changes what someone's dashboard shows tells them live."""

import logging
from collections import defaultdict

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from . import audit, notifications, selectors
from .broadcast import access_changed_send
from .models import Document, DocumentKind, Invitation, Membership, Role

logger = logging.getLogger(__name__)

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


def document_create(
    *,
    owner,
    title: str,
    kind: str = DocumentKind.TEXT,
    request=None,
    first_update: bytes | None = None,
) -> Document:
    """A new document owned by `owner`; `first_update` (an import, a copy of a version)
    becomes the first row of its log, authored by the owner."""
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
    audit.record(
        "document.created",
        actor=owner,
        request=request,
        document_id=document.pk,
        title=title,
        kind=kind,
    )
    if first_update:
        from . import store  # store -> history -> services: imported when needed

        store.updates_append(
            document_id=document.pk,
            updates=[store.PendingUpdate(first_update, owner.pk, timezone.now())],
        )
        document.refresh_from_db()
    return document


def document_url(document: Document) -> str:
    return f"/documents/{document.pk}/"


def _member_ids(document: Document) -> list[int]:
    return list(Membership.objects.filter(document=document).values_list("user_id", flat=True))


def _shared_event(document: Document, role: str) -> dict:
    return {
        "type": "document.shared",
        "document": {
            "id": str(document.pk),
            "title": document.title,
            "kind": document.kind,
            "role": role,
            "owner_name": document.owner.name,
            "url": document_url(document),
        },
    }


def _notify_shared(document: Document, roles: dict[int, str]) -> None:
    """document.shared to each user with their own role (one send per role)."""
    by_role = defaultdict(list)
    for user_id, role in roles.items():
        by_role[role].append(user_id)
    for role, user_ids in by_role.items():
        notifications.notify_users(user_ids, _shared_event(document, role))


def _notify_removed(document_id, user_ids) -> None:
    notifications.notify_users(user_ids, {"type": "document.removed", "id": str(document_id)})


def _webhook_event(event: str, document: Document, *, actor=None, request=None, **data) -> None:
    """Queue the event for the document's webhooks in the caller's transaction (outbox)."""
    from . import webhooks  # late: webhooks builds on this module's ServiceError

    if actor is None and request is not None:
        actor = getattr(request, "user", None)
    webhooks.event_enqueue(event=event, document=document, actor=actor, data=data)


def document_rename(*, document: Document, title: str, request=None) -> Document:
    title = _text(title, "title")
    if not title or len(title) > 200:
        raise ServiceError("A title of 1 to 200 characters is required.")
    previous, document.title = document.title, title
    document.save(update_fields=["title", "updated_at"])
    audit.record(
        "document.renamed", request=request, document_id=document.pk, old=previous, new=title
    )
    notifications.notify_users(
        _member_ids(document),
        {"type": "document.renamed", "id": str(document.pk), "title": document.title},
    )
    return document


def document_trash(*, document: Document, request=None) -> Document:
    """Delete as people mean it: gone for every member at once, restorable by its owners
    for TRASH_RETENTION. The update log stays; live sockets are closed."""
    if document.deleted_at is not None:
        return document
    with transaction.atomic():
        document.deleted_at = timezone.now()
        # updated_at stays: a restored document comes back where it was in the lists.
        document.save(update_fields=["deleted_at"])
        _notify_removed(document.pk, _member_ids(document))
        _webhook_event(
            "document.deleted",
            document,
            request=request,
            deleted_at=document.deleted_at.isoformat(),
            restorable_until=document.trash_expires_at.isoformat(),
        )
    access_changed_send(document_id=document.pk, user_id=None)
    audit.record("document.trashed", request=request, document_id=document.pk)
    return document


def document_restore(*, document: Document, request=None) -> Document:
    if document.deleted_at is None:
        return document
    with transaction.atomic():
        document.deleted_at = None
        document.save(update_fields=["deleted_at"])
        roles = dict(Membership.objects.filter(document=document).values_list("user_id", "role"))
        _notify_shared(document, roles)
    audit.record("document.restored", request=request, document_id=document.pk)
    return document


def document_delete(*, document: Document, request=None) -> None:
    """Delete for good, with memberships, invitations and the update log (purging)."""
    document_id = document.pk
    with transaction.atomic():
        # Before the delete: the document's own hooks go with it; workspace hooks hear it.
        _webhook_event("document.purged", document, request=request)
        document.delete()
    access_changed_send(document_id=document_id, user_id=None)
    audit.record("document.deleted", request=request, document_id=document_id, title=document.title)


def trash_purge() -> int:
    """Delete for good every document that has been in the trash longer than the retention
    period; returns how many. One transaction per document, each re-checked under lock so
    a restore racing the purge wins or loses as a whole."""
    purged = 0
    for document_id in list(selectors.trash_expired().values_list("pk", flat=True)):
        with transaction.atomic():
            document = selectors.trash_expired().select_for_update().filter(pk=document_id).first()
            if document is None:
                continue
            _webhook_event("document.purged", document)
            document.delete()
            audit.record("document.purged", document_id=document_id, title=document.title)
            purged += 1
    return purged


def member_add(
    *, document: Document, email: str, role: str, invited_by, site_url: str = "", request=None
) -> None:
    """Give an email address a role: a membership if it has a verified account, else an invitation.

    The caller learns nothing about whether the account exists: both paths return the same,
    and both send the address the same invitation email. site_url ("https://host") makes
    the link in it absolute.
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
        audit.record(
            "invitation.sent",
            actor=invited_by,
            request=request,
            document_id=document.pk,
            email=email,
            role=role,
        )
    else:
        _membership_set(
            document=document, user=address.user, role=role, actor=invited_by, request=request
        )
    _invitation_email_send(
        document=document, email=email, role=role, invited_by=invited_by, site_url=site_url
    )


ROLE_PHRASES = {Role.OWNER: "an owner", Role.EDITOR: "an editor", Role.VIEWER: "a viewer"}


def _invitation_email_send(*, document: Document, email: str, role: str, invited_by, site_url):
    site_url = (site_url or getattr(settings, "SITE_URL", "http://localhost:8000")).rstrip("/")
    context = {
        "document": document,
        "role": ROLE_PHRASES[role],
        "inviter_name": invited_by.name if invited_by is not None else "Someone",
        "document_url": f"{site_url}{document_url(document)}",
        "signup_url": f"{site_url}/accounts/signup/",
        "email": email,
    }
    subject = " ".join(render_to_string("collab/email/invitation_subject.txt", context).split())
    body = render_to_string("collab/email/invitation_message.txt", context)
    try:
        send_mail(subject, body, None, [email])
    except Exception:
        # The access is granted either way; the person can still be sent the link by hand.
        logger.exception("could not send the invitation email for %s", document.pk)


def _lock_document(document: Document) -> None:
    """Serialise membership changes of one document (two owners stepping down at once
    must not both see the other one as the remaining owner)."""
    Document.objects.select_for_update().filter(pk=document.pk).first()


def _membership_set(*, document: Document, user, role: str, actor=None, request=None) -> Membership:
    who = {"user_id": user.pk, "email": user.email}
    with transaction.atomic():
        _lock_document(document)
        membership = Membership.objects.filter(document=document, user=user).first()
        if membership is None:
            membership = Membership.objects.create(document=document, user=user, role=role)
            _notify_shared(document, {user.pk: role})
            audit.record(
                "member.added",
                actor=actor,
                request=request,
                document_id=document.pk,
                role=role,
                **who,
            )
            _webhook_event(
                "member.added", document, actor=actor, request=request, user=who, role=role
            )
            return membership
        if membership.role == Role.OWNER and role != Role.OWNER:
            _hand_over_ownership(document=document, leaving=user)
        previous = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        if previous != role:
            _notify_shared(document, {user.pk: role})
            audit.record(
                "member.role_changed",
                actor=actor,
                request=request,
                document_id=document.pk,
                old=previous,
                new=role,
                **who,
            )
            _webhook_event(
                "member.role_changed",
                document,
                actor=actor,
                request=request,
                user=who,
                old=previous,
                new=role,
            )
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


def member_update_role(*, document: Document, user_id: int, role: str, request=None) -> Membership:
    role = _text(role, "role")
    if role not in Role.values:
        raise ServiceError(f"role must be one of: {', '.join(Role.values)}.")
    membership = Membership.objects.filter(document=document, user_id=user_id).first()
    if membership is None:
        raise Membership.DoesNotExist
    return _membership_set(document=document, user=membership.user, role=role, request=request)


def member_remove(*, document: Document, user_id: int, request=None) -> None:
    with transaction.atomic():
        _lock_document(document)
        membership = Membership.objects.filter(document=document, user_id=user_id).first()
        if membership is None:
            raise Membership.DoesNotExist
        if membership.role == Role.OWNER:
            _hand_over_ownership(document=document, leaving=membership.user)
        membership.delete()
        _notify_removed(document.pk, [user_id])
        audit.record(
            "member.removed",
            request=request,
            document_id=document.pk,
            user_id=user_id,
            email=membership.user.email,
            role=membership.role,
        )
        _webhook_event(
            "member.removed",
            document,
            request=request,
            user={"user_id": user_id, "email": membership.user.email},
            role=membership.role,
        )
    access_changed_send(document_id=document.pk, user_id=user_id)


def ownership_transfer(*, document: Document, to_user_id: int, request=None) -> Document:
    """Make a member the document's owner; the previous (listed) owner stays as an editor."""
    with transaction.atomic():
        _lock_document(document)
        document.refresh_from_db(fields=["owner"])
        target = Membership.objects.filter(document=document, user_id=to_user_id).first()
        if target is None:
            raise ServiceError("Ownership can only go to someone who is already a member.")
        previous_id = document.owner_id
        if target.user_id == previous_id:
            raise ServiceError("They already own this document.")
        target.role = Role.OWNER
        target.save(update_fields=["role"])
        Membership.objects.update_or_create(
            document=document, user_id=previous_id, defaults={"role": Role.EDITOR}
        )
        document.owner_id = target.user_id
        document.save(update_fields=["owner", "updated_at"])
        document.refresh_from_db(fields=["owner"])
        _notify_shared(document, {target.user_id: Role.OWNER, previous_id: Role.EDITOR})
        audit.record(
            "ownership.transferred",
            request=request,
            document_id=document.pk,
            from_user_id=previous_id,
            to_user_id=target.user_id,
            to_email=document.owner.email,
        )
    for user_id in (target.user_id, previous_id):
        access_changed_send(document_id=document.pk, user_id=user_id)
    return document


def invitation_revoke(*, document: Document, email: str, request=None) -> bool:
    email = _text(email, "email")
    deleted, _ = Invitation.objects.filter(document=document, email__iexact=email).delete()
    if deleted:
        audit.record(
            "invitation.revoked", request=request, document_id=document.pk, email=email.lower()
        )
    return bool(deleted)


def invitations_accept_for(*, user, email: str, request=None) -> int:
    """Turn the invitations for a just-verified address into memberships; returns how many."""
    accepted = 0
    with transaction.atomic():
        invitations = (
            Invitation.objects.select_for_update(of=("self",))
            .filter(email__iexact=email)
            .select_related("document__owner")
        )
        for invitation in invitations:
            _membership, created = Membership.objects.get_or_create(
                document_id=invitation.document_id, user=user, defaults={"role": invitation.role}
            )
            document = invitation.document
            if created and document.deleted_at is None:
                _notify_shared(document, {user.pk: invitation.role})
                _webhook_event(
                    "member.added",
                    document,
                    actor=user,
                    user={"user_id": user.pk, "email": user.email},
                    role=invitation.role,
                )
            invitation.delete()
            audit.record(
                "invitation.accepted",
                actor=user,
                request=request,
                document_id=invitation.document_id,
                email=invitation.email,
                role=invitation.role,
            )
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
