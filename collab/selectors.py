"""Document reads: roles, lists, members, content."""

from django.db.models import QuerySet

from .models import Document, Invitation, Membership


def role_of(*, user, document_id) -> str | None:
    """The user's role in the document, or None (also for anonymous users)."""
    if user is None or not user.is_authenticated:
        return None
    return (
        Membership.objects.filter(document_id=document_id, user_id=user.pk)
        .values_list("role", flat=True)
        .first()
    )


def documents_for(*, user) -> QuerySet[Document]:
    return (
        Document.objects.filter(memberships__user=user)
        .select_related("owner")
        .order_by("-updated_at")
    )


def document_get(*, document_id) -> Document | None:
    return Document.objects.select_related("owner").filter(pk=document_id).first()


def memberships_of(*, document_id) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(document_id=document_id)
        .select_related("user")
        .order_by("created_at")
    )


def invitations_of(*, document_id) -> QuerySet[Invitation]:
    return Invitation.objects.filter(document_id=document_id).order_by("created_at")
