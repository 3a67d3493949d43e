"""Page routes: the dashboard and its actions, the trash, sharing, and the document page."""

from django.urls import path

from . import history_views, import_views, offline_views, views, webhook_views

urlpatterns = [
    path("", views.document_list, name="document_list"),
    path("sw.js", offline_views.service_worker, name="service_worker"),
    path("documents/new/", views.document_create, name="document_create"),
    path("documents/import/", import_views.document_import, name="document_import"),
    path("documents/<uuid:document_id>/", views.document_page, name="document_page"),
    path(
        "documents/<uuid:document_id>/export.<str:extension>",
        views.document_export,
        name="document_export",
    ),
    path("documents/<uuid:document_id>/row/", views.document_row, name="document_row"),
    path(
        "documents/<uuid:document_id>/rename/",
        views.document_rename_form,
        name="document_rename_form",
    ),
    path("documents/<uuid:document_id>/title/", views.document_rename, name="document_rename"),
    path(
        "documents/<uuid:document_id>/delete/",
        views.document_delete_confirm,
        name="document_delete_confirm",
    ),
    path("documents/<uuid:document_id>/trash/", views.document_trash, name="document_trash"),
    path("trash/", views.trash_list, name="trash_list"),
    path("webhooks/", webhook_views.webhook_list, name="webhook_list"),
    path("webhooks/new/", webhook_views.webhook_create, name="webhook_create"),
    path("webhooks/<int:webhook_id>/", webhook_views.webhook_detail, name="webhook_detail"),
    path("webhooks/<int:webhook_id>/test/", webhook_views.webhook_test, name="webhook_test"),
    path("webhooks/<int:webhook_id>/toggle/", webhook_views.webhook_toggle, name="webhook_toggle"),
    path("webhooks/<int:webhook_id>/rotate/", webhook_views.webhook_rotate, name="webhook_rotate"),
    path("webhooks/<int:webhook_id>/delete/", webhook_views.webhook_delete, name="webhook_delete"),
    path("trash/<uuid:document_id>/restore/", views.document_restore, name="document_restore"),
    path("documents/<uuid:document_id>/share/", views.share_page, name="share_page"),
    path("documents/<uuid:document_id>/share/invite/", views.share_invite, name="share_invite"),
    path(
        "documents/<uuid:document_id>/share/members/<int:user_id>/role/",
        views.share_member_role,
        name="share_member_role",
    ),
    path(
        "documents/<uuid:document_id>/share/members/<int:user_id>/remove/",
        views.share_member_remove,
        name="share_member_remove",
    ),
    path(
        "documents/<uuid:document_id>/share/invitations/revoke/",
        views.share_invitation_revoke,
        name="share_invitation_revoke",
    ),
    path(
        "documents/<uuid:document_id>/share/transfer/",
        views.share_ownership_transfer,
        name="share_ownership_transfer",
    ),
    path("documents/<uuid:document_id>/history/", history_views.history_page, name="history_page"),
    path(
        "documents/<uuid:document_id>/history/sessions/",
        history_views.history_sessions,
        name="history_sessions",
    ),
    path(
        "documents/<uuid:document_id>/history/names/",
        history_views.named_version_create,
        name="history_name_create",
    ),
    path(
        "documents/<uuid:document_id>/history/names/<int:version_id>/rename/",
        history_views.named_version_rename,
        name="history_name_rename",
    ),
    path(
        "documents/<uuid:document_id>/history/names/<int:version_id>/delete/",
        history_views.named_version_delete,
        name="history_name_delete",
    ),
    path(
        "documents/<uuid:document_id>/history/restore/",
        history_views.version_restore,
        name="history_restore",
    ),
    path(
        "documents/<uuid:document_id>/history/copy/",
        history_views.version_copy,
        name="history_copy",
    ),
]
