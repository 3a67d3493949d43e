"""Admin: documents (members, named versions, history timeline and exports, the trash), the
read-only update log and snapshots, and the read-only audit trail."""

from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models.functions import Length
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from . import history_export, services
from .models import (
    AuditEvent,
    Document,
    DocumentSnapshot,
    DocumentUpdate,
    EditSession,
    Invitation,
    Membership,
    NamedVersion,
    Role,
)

DELETED_USER = history_export.DELETED_USER
TIMELINE_PAGE_SIZE = 100


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class InvitationInline(admin.TabularInline):
    model = Invitation
    extra = 0
    readonly_fields = ["invited_by", "created_at"]


class NamedVersionInline(admin.TabularInline):
    """Shown for context; named versions are made and removed from the history page."""

    model = NamedVersion
    extra = 0
    fields = ["seq", "name", "created_by", "created_at"]
    readonly_fields = fields
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


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
        "history_links",
    ]
    autocomplete_fields = ["owner"]
    inlines = [MembershipInline, InvitationInline, NamedVersionInline]
    actions = ["move_to_trash", "restore_from_trash"]

    @admin.action(description="Move to the trash")
    def move_to_trash(self, request, queryset):
        for document in queryset.filter(deleted_at__isnull=True):
            services.document_trash(document=document, request=request)

    @admin.action(description="Restore from the trash")
    def restore_from_trash(self, request, queryset):
        for document in queryset.filter(deleted_at__isnull=False):
            services.document_restore(document=document, request=request)

    def save_model(self, request, obj, form, change):
        """A new title or owner goes through the services, like everywhere else: members
        are told, the previous owner stays as an editor, and both are audited."""
        if not change:
            return super().save_model(request, obj, form, change)
        stored = Document.objects.only("title", "owner").get(pk=obj.pk)
        title, owner_id = obj.title, obj.owner_id
        obj.title, obj.owner_id = stored.title, stored.owner_id
        super().save_model(request, obj, form, change)
        if title != stored.title:
            services.document_rename(document=obj, title=title, request=request)
        if owner_id != stored.owner_id:
            # The admin may hand a document to someone who is not a member yet.
            Membership.objects.get_or_create(
                document=obj, user_id=owner_id, defaults={"role": Role.EDITOR}
            )
            services.ownership_transfer(document=obj, to_user_id=owner_id, request=request)
        return None

    # Deleting for good goes through the service too: sockets are closed and it is audited.
    def delete_model(self, request, obj):
        services.document_delete(document=obj, request=request)

    def delete_queryset(self, request, queryset):
        for document in queryset:
            services.document_delete(document=document, request=request)

    @admin.display(description="history")
    def history_links(self, obj):
        if obj.pk is None:
            return "-"
        return format_html(
            '<a href="{}">Timeline</a> · <a href="{}">update log</a> · export '
            '<a href="{}">updates CSV</a>, <a href="{}">sessions CSV</a>, <a href="{}">JSON</a>',
            reverse("admin:collab_document_timeline", args=[obj.pk]),
            reverse("admin:collab_documentupdate_changelist") + f"?document__id__exact={obj.pk}",
            reverse("admin:collab_document_history_csv", args=[obj.pk]),
            reverse("admin:collab_document_sessions_csv", args=[obj.pk]),
            reverse("admin:collab_document_history_json", args=[obj.pk]),
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        mine = [
            ("timeline/", self.timeline_view, "timeline"),
            ("export/updates.csv", self.history_csv_view, "history_csv"),
            ("export/sessions.csv", self.sessions_csv_view, "sessions_csv"),
            ("export/history.json", self.history_json_view, "history_json"),
        ]
        return [
            *(
                path(f"<uuid:object_id>/{route}", view(method), name=f"collab_document_{name}")
                for route, method, name in mine
            ),
            *super().get_urls(),
        ]

    def _viewable(self, request, object_id) -> Document:
        from django.core.exceptions import PermissionDenied

        document = get_object_or_404(Document, pk=object_id)
        if not self.has_view_permission(request, document):
            raise PermissionDenied
        return document

    def timeline_view(self, request, object_id):
        """The document's edit sessions, newest first, a page at a time."""
        document = self._viewable(request, object_id)
        sessions = (
            EditSession.objects.filter(document=document)
            .select_related("author")
            .order_by("-last_seq")
        )
        page = Paginator(sessions, TIMELINE_PAGE_SIZE).get_page(request.GET.get("page"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": document,
            "title": f"History of “{document.title}”",
            "page": page,
            "deleted_user": DELETED_USER,
            "named_versions": NamedVersion.objects.filter(document=document).select_related(
                "created_by"
            )[:50],
            "csv_url": reverse("admin:collab_document_history_csv", args=[document.pk]),
            "sessions_csv_url": reverse("admin:collab_document_sessions_csv", args=[document.pk]),
            "json_url": reverse("admin:collab_document_history_json", args=[document.pk]),
        }
        return TemplateResponse(request, "admin/collab/document/timeline.html", context)

    def history_csv_view(self, request, object_id):
        document = self._viewable(request, object_id)
        return history_export.updates_csv_response(request, document)

    def sessions_csv_view(self, request, object_id):
        document = self._viewable(request, object_id)
        return history_export.sessions_csv_response(request, document)

    def history_json_view(self, request, object_id):
        document = self._viewable(request, object_id)
        return history_export.history_json_response(request, document)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Evidence: nobody adds, edits or deletes it through the admin (viewing is allowed)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RecentChoiceFilter(admin.SimpleListFilter):
    """A filter over a foreign key that offers only recent choices (plus the chosen one),
    so the sidebar never lists every document or user of a large site. Any id can still be
    filtered on through the URL, which is how the document page links here."""

    limit = 15

    def recent(self, request, model_admin):  # pragma: no cover - subclasses say
        raise NotImplementedError

    def chosen(self, value):  # pragma: no cover - subclasses say
        raise NotImplementedError

    def lookups(self, request, model_admin):
        choices = list(self.recent(request, model_admin))
        value = self.value()
        if value and all(str(key) != value for key, _label in choices):
            try:
                choices.insert(0, self.chosen(value))
            except (ValueError, LookupError):
                pass
        return choices


class UpdateDocumentFilter(RecentChoiceFilter):
    title = "document"
    parameter_name = "document__id__exact"

    def recent(self, request, model_admin):
        documents = Document.objects.order_by("-last_edited_at", "-pk")[: self.limit]
        return [(str(d.pk), d.title) for d in documents.only("pk", "title")]

    def chosen(self, value):
        document = Document.objects.only("pk", "title").get(pk=value)
        return str(document.pk), document.title

    def queryset(self, request, queryset):
        if self.value():
            try:
                return queryset.filter(document_id=self.value())
            except Exception:
                return queryset.none()
        return queryset


class UpdateAuthorFilter(RecentChoiceFilter):
    title = "author"
    parameter_name = "author"

    def recent(self, request, model_admin):
        from django.contrib.auth import get_user_model

        users = get_user_model().objects.order_by("-last_login", "-pk")[: self.limit]
        return [("none", DELETED_USER)] + [(str(u.pk), u.email) for u in users.only("pk", "email")]

    def chosen(self, value):
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.only("pk", "email").get(pk=int(value))
        return str(user.pk), user.email

    def queryset(self, request, queryset):
        value = self.value()
        if value == "none":
            return queryset.filter(author__isnull=True)
        if value:
            try:
                return queryset.filter(author_id=int(value))
            except ValueError:
                return queryset.none()
        return queryset


@admin.register(DocumentUpdate)
class DocumentUpdateAdmin(ReadOnlyAdmin):
    list_display = ["seq", "document_title", "author_email", "created_at", "size"]
    list_filter = [
        UpdateDocumentFilter,
        UpdateAuthorFilter,
        ("created_at", admin.DateFieldListFilter),
    ]
    search_fields = ["=document__id", "author__email"]
    fields = ["document", "seq", "author_email", "created_at", "size"]
    readonly_fields = fields
    # Newest first by primary key: an index, where sorting by time would scan the log.
    ordering = ["-id"]
    # No second COUNT(*) over the whole log on every page.
    show_full_result_count = False

    def get_queryset(self, request):
        # The update bytes never leave the database here: only their length does.
        return (
            super()
            .get_queryset(request)
            .select_related("document", "author")
            .only("id", "seq", "created_at", "document__id", "document__title", "author__email")
            .annotate(size_bytes=Length("data"))
        )

    @admin.display(description="document", ordering="document__title")
    def document_title(self, obj) -> str:
        return obj.document.title

    @admin.display(description="author")
    def author_email(self, obj) -> str:
        return obj.author.email if obj.author_id else DELETED_USER

    @admin.display(description="bytes", ordering="size_bytes")
    def size(self, obj) -> int:
        return obj.size_bytes


@admin.register(DocumentSnapshot)
class DocumentSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["document", "seq", "created_at", "size"]
    search_fields = ["=document__id", "document__title"]
    fields = ["document", "seq", "created_at", "size"]
    readonly_fields = fields
    list_select_related = ["document"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("data").annotate(size_bytes=Length("data"))

    @admin.display(description="bytes", ordering="size_bytes")
    def size(self, obj) -> int:
        return obj.size_bytes


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "action", "actor_email", "document_id", "ip_address"]
    list_filter = ["action", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["actor_email", "action", "=document_id", "ip_address"]
    date_hierarchy = "created_at"
    fields = [
        "created_at",
        "action",
        "actor_email",
        "actor",
        "document_link",
        "ip_address",
        "user_agent",
        "detail_pretty",
    ]
    readonly_fields = fields
    show_full_result_count = False

    @admin.display(description="document")
    def document_link(self, obj):
        if obj.document_id is None:
            return "-"
        if Document.objects.filter(pk=obj.document_id).exists():
            url = reverse("admin:collab_document_change", args=[obj.document_id])
            return format_html('<a href="{}">{}</a>', url, obj.document_id)
        return f"{obj.document_id} (no longer exists)"

    @admin.display(description="detail")
    def detail_pretty(self, obj):
        import json

        return format_html(
            "<pre>{}</pre>", json.dumps(obj.detail, indent=2, ensure_ascii=False, sort_keys=True)
        )
