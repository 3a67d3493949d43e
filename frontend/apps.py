"""App config for frontend (templates, static files and page views)."""

from django.apps import AppConfig


class FrontendConfig(AppConfig):
    name = "frontend"
