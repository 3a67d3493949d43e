"""Documents, memberships with roles, invitations, and the update log with its snapshots."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models


class DocumentKind(models.TextChoices):
    TEXT = "text", "Text document"
    WHITEBOARD = "whiteboard", "Whiteboard"


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    EDITOR = "editor", "Editor"
    VIEWER = "viewer", "Viewer"


WRITE_ROLES = {Role.OWNER, Role.EDITOR}

# How long a deleted document stays in its owners' trash before purge_trash removes it.
TRASH_RETENTION = timedelta(days=30)


class Document(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=DocumentKind.choices, default=DocumentKind.TEXT)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_documents"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The last sequence number handed out in the update log. Appends bump it inside
    # their transaction, which also serialises appends to one document across processes.
    last_seq = models.BigIntegerField(default=0)
    last_edited_at = models.DateTimeField(null=True, blank=True)
    last_edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Set when an owner deletes the document: it is then in the trash, gone for everyone
    # (lists, API, sockets) but restorable, with its update log, until it is purged.
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.title

    @property
    def in_trash(self) -> bool:
        return self.deleted_at is not None

    @property
    def trash_expires_at(self):
        """When purge_trash deletes it for good (None when not in the trash)."""
        return self.deleted_at + TRASH_RETENTION if self.deleted_at else None


class Membership(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["document", "user"], name="one_membership_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role} of {self.document}"


class Invitation(models.Model):
    """Access promised to an email address that has no verified account yet."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["document", "email"], name="one_invitation_per_email")
        ]

    def __str__(self) -> str:
        return f"{self.email} invited as {self.role} to {self.document_id}"


class DocumentUpdate(models.Model):
    """One accepted Yjs update: the audit trail and the source of versions."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="updates")
    seq = models.BigIntegerField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    data = models.BinaryField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["document", "seq"], name="one_update_per_seq")
        ]
        ordering = ["document", "seq"]

    def __str__(self) -> str:
        return f"update {self.seq} of {self.document_id}"


class DocumentSnapshot(models.Model):
    """The full encoded state of a document after every update up to and including seq."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="snapshots")
    seq = models.BigIntegerField()
    data = models.BinaryField()
    # How to apply a large `data` in pieces, so loading it does not stop the event loop
    # (collab/update_split.py, store.snapshot_plan). Null: not worked out yet (written
    # before pieces existed); {"pieces": []}: apply whole.
    pieces = models.JSONField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["document", "seq"], name="one_snapshot_per_seq")
        ]
        ordering = ["document", "-seq"]

    def __str__(self) -> str:
        return f"snapshot at {self.seq} of {self.document_id}"


def image_upload_path(instance, filename: str) -> str:
    # The stored name never comes from the client: documents/<doc>/<image uuid>.<ext>.
    return f"documents/{instance.document_id}/{instance.id}.{instance.extension}"


class DocumentImage(models.Model):
    """An image uploaded into a document; served only to the document's members."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="images")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    file = models.FileField(upload_to=image_upload_path, max_length=200)
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"image {self.id} of {self.document_id}"

    @property
    def extension(self) -> str:
        return self.content_type.split("/", 1)[1].replace("jpeg", "jpg")


class EditSession(models.Model):
    """A run of one author's consecutive edits, kept up to date as updates are appended.

    History lists these instead of scanning the update log, so listing costs the size of
    the page asked for, not the length of the document's past.
    """

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="edit_sessions")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_seq = models.BigIntegerField()
    last_seq = models.BigIntegerField()
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    update_count = models.PositiveIntegerField(default=0)
    byte_count = models.PositiveBigIntegerField(default=0)
    # Set when the session is a restore (the seq restored to), so history can say so.
    restored_from_seq = models.BigIntegerField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["document", "-last_seq"], name="edit_session_recent")]
        ordering = ["document", "-last_seq"]

    def __str__(self) -> str:
        return f"session {self.first_seq}-{self.last_seq} of {self.document_id}"


class NamedVersion(models.Model):
    """A point in a document's history that someone with edit rights gave a name."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="named_versions")
    seq = models.BigIntegerField()
    name = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["document", "-seq", "-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.seq}) of {self.document_id}"


class AuditEvent(models.Model):
    """One security- or content-relevant event. Append-only: never updated or deleted.

    The document is kept by id (not a foreign key) so events outlive the document they
    describe; the actor is kept by id and email for the same reason.
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    action = models.CharField(max_length=60, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    actor_email = models.CharField(max_length=254, blank=True)
    document_id = models.UUIDField(null=True, blank=True, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} by {self.actor_email or '-'}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("audit events are append-only")


class ClientIdOwner(models.Model):
    """The account that first wrote (or showed presence) under a Yjs client id in a document.

    Only that account may add structs under the id later (collab/client_ids.py): a
    stranger's update claiming its clock ranges would silently suppress the owner's edits.
    """

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="+")
    client_id = models.BigIntegerField()
    # A deleted account keeps its ids: nobody else may write under them either.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["document", "client_id"], name="one_owner_per_client_id"
            )
        ]

    def __str__(self) -> str:
        return f"client {self.client_id} of {self.document_id}: user {self.user_id}"


class Webhook(models.Model):
    """A URL an owner wants told about events of one document, or of every document they
    own when `document` is empty (a workspace hook). Services: collab/webhooks.py."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks"
    )
    # A document hook goes with its document when it is purged; workspace hooks hear that.
    document = models.ForeignKey(
        Document, null=True, blank=True, on_delete=models.CASCADE, related_name="webhooks"
    )
    url = models.URLField(max_length=2000)
    secret = models.CharField(max_length=100)
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"webhook {self.pk} → {self.url}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event for one hook (the outbox row), with its attempts so far.

    `attempts_log` holds one entry per attempt: {at, status_code, error, duration_ms}.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    # Kept by id, not a foreign key: deliveries about a purged document must survive it.
    document_id = models.UUIDField(null=True, blank=True)
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    attempts_log = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
            models.Index(fields=["webhook", "-created_at"], name="webhook_delivery_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → webhook {self.webhook_id} ({self.status})"
