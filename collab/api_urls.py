"""JSON API routes under /api/."""

from django.urls import path

from . import api

urlpatterns = [
    path("documents/", api.documents, name="api_documents"),
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
]
