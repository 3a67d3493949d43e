"""App config for collab: turns on SQLite's WAL journal for every new connection."""

from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _sqlite_pragmas(sender, connection, **kwargs):
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            # WAL lets readers proceed while the update log is written; synchronous=FULL
            # keeps every committed batch across a power cut, not only a process crash.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")


class CollabConfig(AppConfig):
    name = "collab"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        connection_created.connect(_sqlite_pragmas, dispatch_uid="collab_sqlite_pragmas")
