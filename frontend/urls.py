"""Page routes: the dashboard and its actions, the trash, sharing, and the document page."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.document_list, name="document_list"),
    path("documents/new/", views.document_create, name="document_create"),
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
]
