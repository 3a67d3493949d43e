"""JSON API routes under /api/."""

urlpatterns: list = []
