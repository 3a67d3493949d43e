"""Opening large documents: open time of a 5 MB text document and a 100,000-point board, and the
round-trip latency of another room of the same process while they load.

Per document and mode, on a live Daphne server (SQLite, or PostgreSQL when DATABASE_URL is
set): the document is stored once (one frame, so one large log row) and opened once (in
"after" mode the room then plans a snapshot in pieces in the background; the bench waits for
it). Then, `runs` times, while a probe edits a second room continuously (tests/live/
large_docs.py RoundTripProbe): the server is restarted and a returning client that holds
the document already opens it ("cold load": loading from the store is nearly all of it, the
sync step 2 is empty); the server is restarted again and a fresh client opens it ("cold
open": load + encode + send the whole document); then CROWD clients open the loaded room at
once. The probe's round trips are reported idle (before the opens), during the cold loads,
and during the cold opens and crowds.
Modes: "before" is the old behaviour (COLLAB_HEAVY_WORK_ON_LOOP=1: the document applied in
one call in the shared database thread, the sync work on the event loop, an encoding per
joiner); "after" is the default.

Usage: .venv/bin/python bench/large_documents.py [runs]   (default 3)
"""

import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pycrdt import Doc  # noqa: E402

from tests.live.large_docs import (  # noqa: E402
    RoundTripProbe,
    board_document,
    open_seconds,
    percentile,
    text_document,
    upload,
    wait_for_pieces,
)
from tests.live.server import LiveDatabase, LiveServer  # noqa: E402

MODES = {"before": {"COLLAB_HEAVY_WORK_ON_LOOP": "1"}, "after": {}}
# Clients opening the (loaded) document at once: a class joining a shared document.
CROWD = 8


def _window(samples: list, start: int, end: int) -> list[float]:
    return [rtt for _, rtt in samples[start:end]]


def measure(mode: str, name: str, update: bytes, runs: int) -> dict:
    """Per run: restart (cold room), one client opens (load + encode + send), then a crowd
    of CROWD clients opens the loaded room at once; a probe edits another room throughout."""
    loads, cold, crowd, idle, size = [], [], [], [], 0
    during_load, during_cold, during_crowd = [], [], []
    pieces = 0
    have = Doc()
    have.apply_update(update)
    with tempfile.TemporaryDirectory() as tmp:
        database = LiveDatabase(Path(tmp))
        server = LiveServer(Path(tmp), database, extra_env=MODES[mode])
        try:
            server.migrate()
            server.start()
            token = server.user_token("bench@example.com")
            document_id = server.create_document(token, name)
            busy = server.create_document(token, "Busy room")
            url = f"{server.ws_base}/{document_id}?token={token}"
            upload(url, update)
            server.terminate()
            server.start()
            open_seconds(url)
            if mode == "after":
                pieces = wait_for_pieces(database, document_id)
            for _ in range(runs):
                server.terminate()
                server.start()
                probe = RoundTripProbe(f"{server.ws_base}/{busy}?token={token}", pause=0.005)
                probe.start(20)
                marks = [len(probe.samples)]
                loads.append(open_seconds(url, have=have)[0])
                marks.append(len(probe.samples))
                samples = probe.stop()
                idle += _window(samples, 0, marks[0])
                during_load += _window(samples, marks[0], marks[1])

                server.terminate()
                server.start()
                probe = RoundTripProbe(f"{server.ws_base}/{busy}?token={token}", pause=0.005)
                probe.start(20)
                marks = [len(probe.samples)]
                seconds, size = open_seconds(url)
                cold.append(seconds)
                marks.append(len(probe.samples))
                crowd.append(open_seconds(url, CROWD)[0])
                marks.append(len(probe.samples))
                samples = probe.stop()
                idle += _window(samples, 0, marks[0])
                during_cold += _window(samples, marks[0], marks[1])
                during_crowd += _window(samples, marks[1], marks[2])
        finally:
            server.terminate()
            database.drop()
    during = during_cold + during_crowd

    def ms(values: list[float], fraction: float) -> float:
        return percentile(values, fraction) * 1000 if values else float("nan")

    return {
        "document": name,
        "mode": mode,
        "step 2 MB": size / 1e6,
        "pieces": pieces,
        "cold load s": statistics.median(loads),
        "load max ms": max(during_load) * 1000 if during_load else float("nan"),
        "load p99 ms": ms(during_load, 0.99),
        "cold open s": statistics.median(cold),
        f"{CROWD} at once s": statistics.median(crowd),
        "idle p50 ms": ms(idle, 0.5),
        "during p50 ms": ms(during, 0.5),
        "during p99 ms": ms(during, 0.99),
        "during max ms": max(during) * 1000 if during else float("nan"),
        "round trips during load/open": f"{len(during_load)}/{len(during)}",
    }


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    text_update, _ = text_document(5_000_000)
    documents = {"5 MB text": text_update, "100k-point board": board_document()}
    rows = [
        measure(mode, name, update, runs) for name, update in documents.items() for mode in MODES
    ]
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + " --- |" * len(columns))
    for row in rows:
        cells = [f"{v:.2f}" if isinstance(v, float) else str(v) for v in row.values()]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
