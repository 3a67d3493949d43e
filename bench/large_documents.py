"""Opening large documents: open time of a 5 MB text document and a 100,000-point board, and the
round-trip latency of another room of the same process while they load.

Per document and mode, on a live Daphne server (SQLite, or PostgreSQL when DATABASE_URL is
set): the document is stored once; then, `runs` times, the server is restarted (cold room),
a probe edits a second room continuously (tests/live/large_docs.py RoundTripProbe), and a
client opens the large document: connect, sync step 1, until the whole sync step 2 arrived
("cold open": load from the store + encode + send); then CROWD clients open the loaded room
at once. The probe's round trips are reported idle (before the opens) and during them.
Modes: "before" keeps the sync work on the event loop and encodes for every joiner
(COLLAB_HEAVY_WORK_ON_LOOP=1, the old behaviour), "after" is the default.

Usage: .venv/bin/python bench/large_documents.py [runs]   (default 3)
"""

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pycrdt import Doc  # noqa: E402

from collab import protocol  # noqa: E402
from tests.live.large_docs import (  # noqa: E402
    RoundTripProbe,
    board_document,
    percentile,
    text_document,
    upload,
)
from tests.live.server import LiveDatabase, LiveServer  # noqa: E402

MODES = {"before": {"COLLAB_HEAVY_WORK_ON_LOOP": "1"}, "after": {}}
# Clients opening the (loaded) document at once: a class joining a shared document.
CROWD = 8


def open_seconds(url: str, clients: int = 1) -> tuple[float, int]:
    """`clients` sockets at once: connect, send an empty sync step 1, wait for the whole sync
    step 2. Returns (seconds until the last one has it, bytes of one step 2)."""
    import websockets

    async def one() -> int:
        async with websockets.connect(url, max_size=None) as ws:
            await ws.send(protocol.sync_step1_message(Doc()))
            while True:
                frame = await asyncio.wait_for(ws.recv(), 300)
                if isinstance(protocol.parse_message(frame), protocol.SyncStep2):
                    return len(frame)

    async def run() -> tuple[float, int]:
        started = time.perf_counter()
        sizes = await asyncio.gather(*(one() for _ in range(clients)))
        return time.perf_counter() - started, sizes[0]

    return asyncio.run(run())


def _window(samples: list, start: int, end: int) -> list[float]:
    return [rtt for _, rtt in samples[start:end]]


def measure(mode: str, name: str, update: bytes, runs: int) -> dict:
    """Per run: restart (cold room), one client opens (load + encode + send), then a crowd
    of CROWD clients opens the loaded room at once; a probe edits another room throughout."""
    cold, crowd, during_cold, during_crowd, idle, size = [], [], [], [], [], 0
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
            for _ in range(runs):
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
        "cold open s": statistics.median(cold),
        f"{CROWD} at once s": statistics.median(crowd),
        "idle p50 ms": ms(idle, 0.5),
        "during p50 ms": ms(during, 0.5),
        "during p99 ms": ms(during, 0.99),
        "round trips during": len(during),
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
