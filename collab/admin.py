"""Admin: documents (with the trash) and their members, invitations, and the read-only
update log (audit)."""

from django.contrib import admin

from . import services
from .models import Document, DocumentSnapshot, DocumentUpdate, Invitation, Membership


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class InvitationInline(admin.TabularInline):
    model = Invitation
    extra = 0
    readonly_fields = ["invited_by", "created_at"]


class InTrashFilter(admin.SimpleListFilter):
    title = "in the trash"
    parameter_name = "trash"

    def lookups(self, request, model_admin):
        return [("yes", "In the trash"), ("no", "Not in the trash")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        return queryset


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "kind",
        "owner",
        "last_seq",
        "last_edited_at",
        "last_edited_by",
        "deleted_at",
    ]
    list_filter = ["kind", InTrashFilter]
    search_fields = ["title", "owner__email", "id"]
    # Trash and restore go through the actions, so members are told and sockets closed.
    readonly_fields = [
        "id",
        "last_seq",
        "last_edited_at",
        "last_edited_by",
        "created_at",
        "deleted_at",
    ]
    autocomplete_fields = ["owner"]
    inlines = [MembershipInline, InvitationInline]
    actions = ["move_to_trash", "restore_from_trash"]

    @admin.action(description="Move to the trash")
    def move_to_trash(self, request, queryset):
        for document in queryset.filter(deleted_at__isnull=True):
            services.document_trash(document=document)

    @admin.action(description="Restore from the trash")
    def restore_from_trash(self, request, queryset):
        for document in queryset.filter(deleted_at__isnull=False):
            services.document_restore(document=document)


class ReadOnlyAdmin(admin.ModelAdmin):
    """The log is evidence: nobody edits or deletes it through the admin."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(DocumentUpdate)
class DocumentUpdateAdmin(ReadOnlyAdmin):
    list_display = ["document", "seq", "author", "created_at", "size"]
    list_filter = ["created_at"]
    search_fields = ["document__id", "document__title", "author__email"]
    list_select_related = ["document", "author"]
    fields = ["document", "seq", "author", "created_at", "size"]
    readonly_fields = fields

    @admin.display(description="bytes")
    def size(self, obj) -> int:
        return len(obj.data)


@admin.register(DocumentSnapshot)
class DocumentSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["document", "seq", "created_at", "size"]
    search_fields = ["document__id", "document__title"]
    fields = ["document", "seq", "created_at", "size"]
    readonly_fields = fields

    @admin.display(description="bytes")
    def size(self, obj) -> int:
        return len(obj.data)
