"""Version history cost against log length: the automerge-paper trace in the update log.

Replays the trace (260k patches) into a text document as one update per patch, written
with store.updates_append in batches of SNAPSHOT_EVERY with a snapshot after each batch
(as a live server compacts), over simulated time: one second per patch, a ten-minute
pause every 500 patches and the author switching every 1000, so there are many sessions.
The same is done for the first 10% of the trace in a second document. Then, on both
documents, times listing sessions, previewing versions, comparing, finding a seq by time
and restoring, and prints a Markdown table (median of RUNS runs, milliseconds).

Usage: python bench/history.py [runs]   (DATABASE_URL=postgres://... for PostgreSQL)
"""

import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.live.server import LiveDatabase  # noqa: E402
from tests.shared_data import trace_path  # noqa: E402

TRACE = trace_path("automerge-paper.json.gz")
PAUSE_EVERY = 500
AUTHOR_EVERY = 1000
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def patches() -> list:
    with gzip.open(TRACE) as handle:
        trace = json.load(handle)
    return [patch for txn in trace["txns"] for patch in txn["patches"]], trace["endContent"]


def received_at(index: int) -> datetime:
    return T0 + timedelta(seconds=index + (index // PAUSE_EVERY) * 600)


def replay(document, users, trace: list, batch_size: int) -> float:
    """Write the trace into the log; returns seconds taken."""
    from pycrdt import Doc, XmlElement, XmlFragment, XmlText

    from collab import store

    doc = Doc()
    captured: list[bytes] = []
    doc.observe(lambda event: captured.append(event.update))
    fragment = doc.get("default", type=XmlFragment)
    text = fragment.children.append(XmlElement("paragraph")).children.append(XmlText())
    started = time.perf_counter()
    batch: list = []
    for index, (position, deleted, inserted) in enumerate(trace):
        with doc.transaction():
            if deleted:
                del text[position : position + deleted]
            if inserted:
                text.insert(position, inserted)
        author = users[(index // AUTHOR_EVERY) % len(users)]
        for update in captured:
            batch.append(store.PendingUpdate(update, author.pk, received_at(index)))
        captured.clear()
        if len(batch) >= batch_size:
            store.updates_append(document_id=document.pk, updates=batch)
            store.snapshot_compact(document_id=document.pk)
            batch = []
    if batch:
        store.updates_append(document_id=document.pk, updates=batch)
    return time.perf_counter() - started


def timed(runs: int, action, warm: bool = True) -> float:
    if warm:
        action()  # first use: caches, connection, query plans
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def measure(document, user, runs: int) -> dict:
    from collab import history
    from collab.models import Document

    document = Document.objects.get(pk=document.pk)
    last = document.last_seq
    deep_before = max(2, last // 10)  # a page 90% of the way down the history
    middle = last // 2
    results = {
        "log rows": last,
        "sessions": document.edit_sessions.count(),
        "sessions: first page": timed(runs, lambda: history.sessions_page(document=document)),
        "sessions: deep page": timed(
            runs, lambda: history.sessions_page(document=document, before_seq=deep_before)
        ),
        "seq_at (binary search)": timed(
            runs, lambda: history.seq_at(document=document, when=received_at(middle))
        ),
        "preview html @ seq 1000": timed(
            runs, lambda: history.version_render(document=document, seq=1000, fmt="html")
        ),
        "preview html @ middle": timed(
            runs, lambda: history.version_render(document=document, seq=middle, fmt="html")
        ),
        "build version @ last (version_doc)": timed(
            runs, lambda: history.version_doc(document=document, seq=last)
        ),
        "compare 1000 → 2000": timed(
            runs,
            lambda: history.versions_compare(document=document, from_seq=1000, to_seq=2000),
        ),
        "compare last-500 → last": timed(
            runs,
            lambda: history.versions_compare(document=document, from_seq=last - 500, to_seq=last),
        ),
    }
    # Restore an early version, then restore back (each appends one update).
    results["restore seq 1000"] = timed(
        1, lambda: history.version_restore(document=document, seq=1000, user=user), warm=False
    )
    results["restore back (undo)"] = timed(
        1, lambda: history.version_restore(document=document, seq=last, user=user), warm=False
    )
    return results


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as tmp:
        database = LiveDatabase(Path(tmp))
        os.environ["DATABASE_URL"] = database.url
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        from accounts.models import User
        from collab import services, store
        from collab.render import document_text

        try:
            call_command("migrate", verbosity=0)
            users = [
                User.objects.create_user(email=f"{name}@example.com", password="x" * 12)
                for name in ("ann", "bob")
            ]
            trace, end = patches()
            batch = settings.COLLAB["SNAPSHOT_EVERY"]
            columns = {}
            for label, share in (("10% of trace", 0.1), ("100% of trace", 1.0)):
                document = services.document_create(owner=users[0], title=label)
                part = trace[: int(len(trace) * share)]
                seconds = replay(document, users, part, batch)
                print(f"{label}: wrote {len(part)} updates in {seconds:.1f} s", flush=True)
                if share == 1.0:
                    doc, _ = store.doc_load(document_id=document.pk)
                    assert document_text(doc) == end, "the replayed log does not end as the trace"
                columns[label] = measure(document, users[0], runs)
            print(f"\n{database.vendor}, median of {runs} runs (restores: 1 run), ms\n")
            labels = list(columns)
            print(f"| operation | {' | '.join(labels)} |")
            print(f"|---|{'---|' * len(labels)}")
            for key in columns[labels[0]]:
                cells = [columns[label][key] for label in labels]
                shown = [
                    f"{c:.0f}" if key in ("log rows", "sessions") else f"{c:.1f}" for c in cells
                ]
                print(f"| {key} | {' | '.join(shown)} |")
        finally:
            from django.db import connections

            connections.close_all()
            database.drop()


if __name__ == "__main__":
    main()
