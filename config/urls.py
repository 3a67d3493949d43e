"""HTTP routes: pages, accounts (allauth + profile), the JSON API and the admin."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("accounts/", include("accounts.urls")),
    path("api/", include("collab.api_urls")),
    path("", include("frontend.urls")),
]
