"""Admin: documents with their members, invitations, and the read-only update log (audit)."""

from django.contrib import admin

from .models import Document, DocumentSnapshot, DocumentUpdate, Invitation, Membership


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class InvitationInline(admin.TabularInline):
    model = Invitation
    extra = 0
    readonly_fields = ["invited_by", "created_at"]


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "owner", "last_seq", "last_edited_at", "last_edited_by"]
    list_filter = ["kind"]
    search_fields = ["title", "owner__email", "id"]
    readonly_fields = ["id", "last_seq", "last_edited_at", "last_edited_by", "created_at"]
    autocomplete_fields = ["owner"]
    inlines = [MembershipInline, InvitationInline]


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
