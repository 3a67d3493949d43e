"""App config for accounts: connects its signal receivers and the deployment safety checks."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from config import checks

        from . import session_signals, signals  # noqa: F401

        checks.register()
