"""Page routes: the document list, creating a document, and the document page."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.document_list, name="document_list"),
    path("documents/new/", views.document_create, name="document_create"),
    path("documents/<uuid:document_id>/", views.document_page, name="document_page"),
]
