"""Document reads: roles, lists (live and in the trash), members, content."""

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from .models import TRASH_RETENTION, Document, Invitation, Membership, Role


def role_of(*, user, document_id) -> str | None:
    """The user's role in the document, or None (also for anonymous users and for a
    document in the trash, which nobody may open until it is restored)."""
    if user is None or not user.is_authenticated:
        return None
    return (
        Membership.objects.filter(
            document_id=document_id, user_id=user.pk, document__deleted_at__isnull=True
        )
        .values_list("role", flat=True)
        .first()
    )


def documents_for(*, user, query: str = "", owned: bool | None = None) -> QuerySet[Document]:
    """The documents the user is a member of, not in the trash, most recently changed first.

    Each carries `my_role`. query filters by title; owned=True keeps the ones the user is
    the listed owner of, owned=False the ones shared with them by someone else.
    """
    my_role = Membership.objects.filter(document=OuterRef("pk"), user=user).values("role")[:1]
    documents = (
        Document.objects.filter(memberships__user=user, deleted_at__isnull=True)
        .annotate(my_role=Subquery(my_role))
        .select_related("owner", "last_edited_by")
        .order_by("-updated_at")
    )
    query = query.strip()
    if query:
        documents = documents.filter(title__icontains=query)
    if owned is True:
        documents = documents.filter(owner=user)
    elif owned is False:
        documents = documents.exclude(owner=user)
    return documents


def document_get(*, document_id) -> Document | None:
    """The document, in the trash or not: callers decide access through role_of."""
    return Document.objects.select_related("owner", "last_edited_by").filter(pk=document_id).first()


def trash_cutoff():
    """Documents deleted before this are past restoring and due for purging."""
    return timezone.now() - TRASH_RETENTION


def trash_for(*, user) -> QuerySet[Document]:
    """The user's restorable deleted documents (those they own), most recently deleted first."""
    return (
        Document.objects.filter(
            memberships__user=user,
            memberships__role=Role.OWNER,
            deleted_at__gte=trash_cutoff(),
        )
        .select_related("owner")
        .order_by("-deleted_at")
    )


def trashed_document_get(*, user, document_id) -> Document | None:
    """One of the user's restorable deleted documents, or None."""
    return trash_for(user=user).filter(pk=document_id).first()


def trash_expired() -> QuerySet[Document]:
    return Document.objects.filter(deleted_at__lt=trash_cutoff())


def memberships_of(*, document_id) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(document_id=document_id)
        .select_related("user")
        .order_by("created_at")
    )


def invitations_of(*, document_id) -> QuerySet[Invitation]:
    return Invitation.objects.filter(document_id=document_id).order_by("created_at")
