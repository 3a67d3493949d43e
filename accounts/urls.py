"""Account pages beyond allauth's: the profile and personal access tokens."""

from django.urls import path

from . import views

urlpatterns = [
    path("profile/", views.profile, name="profile"),
    path("tokens/", views.access_token_create, name="access_token_create"),
    path("tokens/<int:token_id>/revoke/", views.access_token_revoke, name="access_token_revoke"),
]
