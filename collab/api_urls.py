"""JSON API routes under /api/."""

from django.urls import path

from . import api, api_history, api_import, api_webhooks

urlpatterns = [
    # Webhooks (collab/api_webhooks.py): their owners only.
    path("webhooks/", api_webhooks.webhook_list, name="api_webhooks"),
    path("webhooks/<int:webhook_id>/", api_webhooks.webhook_detail, name="api_webhook"),
    path(
        "webhooks/<int:webhook_id>/deliveries/",
        api_webhooks.webhook_deliveries,
        name="api_webhook_deliveries",
    ),
    path("webhooks/<int:webhook_id>/test/", api_webhooks.webhook_test, name="api_webhook_test"),
    path("documents/", api.documents, name="api_documents"),
    path("documents/import/", api_import.document_import, name="api_document_import"),
    path("documents/<uuid:document_id>/", api.document_detail, name="api_document"),
    path("documents/<uuid:document_id>/members/", api.members, name="api_members"),
    path(
        "documents/<uuid:document_id>/members/<int:user_id>/",
        api.member_detail,
        name="api_member",
    ),
    path("documents/<uuid:document_id>/content", api.content, name="api_content"),
    path("documents/<uuid:document_id>/content/", api.content),
    path("documents/<uuid:document_id>/images/", api.images, name="api_images"),
    path(
        "documents/<uuid:document_id>/connect-token/",
        api.connect_token,
        name="api_connect_token",
    ),
    # Version history (collab/api_history.py): editors and owners only.
    path("documents/<uuid:document_id>/versions/", api_history.versions, name="api_versions"),
    path(
        "documents/<uuid:document_id>/versions/<int:version_id>/",
        api_history.version_detail,
        name="api_version",
    ),
    path(
        "documents/<uuid:document_id>/versions/at/<int:seq>/",
        api_history.version_at,
        name="api_version_at",
    ),
    path(
        "documents/<uuid:document_id>/versions/at/<int:seq>/restore/",
        api_history.restore,
        name="api_version_restore",
    ),
    path(
        "documents/<uuid:document_id>/versions/at/<int:seq>/copy/",
        api_history.copy,
        name="api_version_copy",
    ),
    path(
        "documents/<uuid:document_id>/versions/compare/",
        api_history.compare,
        name="api_versions_compare",
    ),
]
