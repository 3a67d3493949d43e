"""Deployment safety checks: refuse a production setup that would silently be insecure or broken."""

from django.conf import settings
from django.core import checks

IN_MEMORY_LAYER = "channels.layers.InMemoryChannelLayer"


def deployment_safety(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """With DEBUG off: no in-memory channel layer and no wildcard host."""
    if settings.DEBUG:
        return []
    errors = []
    backend = getattr(settings, "CHANNEL_LAYERS", {}).get("default", {}).get("BACKEND", "")
    if backend == IN_MEMORY_LAYER:
        errors.append(
            checks.Error(
                "The in-memory channel layer is in use with DEBUG off.",
                hint="Set REDIS_URL: with more than one process, editors in different "
                "processes would not see each other's changes, and ending a session "
                "would not close its sockets in other processes.",
                id="collab.E001",
            )
        )
    if "*" in settings.ALLOWED_HOSTS:
        errors.append(
            checks.Error(
                'ALLOWED_HOSTS contains "*" with DEBUG off.',
                hint="List the exact host names: a wildcard disables Host header checks "
                "and the Origin check that guards cookie-authenticated sockets.",
                id="collab.E002",
            )
        )
    return errors


def register() -> None:
    # A deployment check (`manage.py check --deploy`, like Django's own security checks):
    # local runs with DEBUG=0 on one process (the live tests' Daphne, `migrate`) stay legal.
    checks.register(deployment_safety, checks.Tags.security, deploy=True)
