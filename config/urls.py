"""HTTP routes: pages, accounts (allauth + profile), the JSON API and the admin."""

from django.contrib import admin
from django.urls import include, path

from collab.health import healthz
from collab.image_views import image_file

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("accounts/", include("accounts.urls")),
    path("api/", include("collab.api_urls")),
    path(
        "documents/<uuid:document_id>/images/<uuid:image_id>",
        image_file,
        name="document_image",
    ),
    path("", include("frontend.urls")),
]
