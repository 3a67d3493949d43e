"""Account pages beyond allauth's: the profile and personal access tokens."""

from django.urls import path

from . import views

urlpatterns = [
    path("profile/", views.profile, name="profile"),
]
