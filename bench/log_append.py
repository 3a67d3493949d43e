"""CPU per round of the process-wide group commit (store.updates_append_many).

Usage: DATABASE_URL=... python bench/log_append.py [updates per document] [documents] [rounds]
(default: SQLite in a temporary file). One round = what the LogWriter writes when that many
rooms each hand over a batch of that size; "cached" passes the writer's NewestSessions.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{tempfile.mkdtemp()}/log_append.sqlite3")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from collab import history, services, store  # noqa: E402


def main(per_document: int = 1, documents: int = 20, rounds: int = 50) -> None:
    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(email="bench-append@example.com")
    ids = [services.document_create(owner=user, title=f"d{i}").pk for i in range(documents)]
    for label, cache in (("uncached", None), ("cached", history.NewestSessions())):

        def one_round(cache=cache) -> None:
            now = timezone.now()
            batch = [store.PendingUpdate(b"\x01" * 24, user.pk, now)] * per_document
            store.updates_append_many([(i, batch) for i in ids], cache)

        one_round()
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(rounds):
            one_round()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        per_update = 1e6 * cpu / (rounds * documents * per_document)
        print(
            f"{label:9} {documents} documents x {per_document} updates: "
            f"{1e3 * cpu / rounds:.2f} ms CPU per round ({1e3 * wall / rounds:.2f} ms wall), "
            f"{per_update:.0f} us CPU per update"
        )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:4]))
