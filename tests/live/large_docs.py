"""Tools for large-document scenarios (tests and bench): build, upload, and a round-trip probe."""

import asyncio
import base64
import json
import sqlite3
import subprocess
import threading
import time
import uuid
from pathlib import Path

from pycrdt import Doc, Text

from collab import protocol

ROOT = Path(__file__).resolve().parents[2]


def text_document(target_bytes: int = 5_000_000, chunk: int = 36) -> tuple[bytes, str]:
    """A text document of about target_bytes of state, made of many small items (each
    inserted at the front, so none merges with its neighbour: the expensive shape, like a
    long editing history). Returns (update, content)."""
    doc = Doc()
    text = doc.get("text", type=Text)
    with doc.transaction():
        for i in range(target_bytes // (chunk + 7)):
            text.insert(0, f"{i:08d} " + "lorem ipsum dolor sit amet"[: chunk - 9] + "\n")
    return doc.get_update(), str(text)


def board_document() -> bytes:
    """bench/board_fixture.mjs's board (10,000 shapes, 100,000 stroke points), one update."""
    result = subprocess.run(
        ["node", str(ROOT / "bench" / "board_fixture.mjs")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return base64.b64decode(result.stdout.strip())


def upload(url: str, update: bytes, timeout: float = 300.0) -> None:
    """Send `update` as one frame, and return once the room has applied it (its answer to
    the sync step 1 that follows comes after the update is in: a socket's frames are
    handled in order)."""
    import websockets

    async def run() -> None:
        doc = Doc()
        doc.apply_update(update)
        async with websockets.connect(url, max_size=None) as ws:
            await ws.send(protocol.update_message(update))
            await ws.send(protocol.sync_step1_message(doc))
            while True:
                message = protocol.parse_message(await asyncio.wait_for(ws.recv(), timeout))
                if isinstance(message, protocol.SyncStep2):
                    return

    asyncio.run(run())


def open_seconds(url: str, clients: int = 1, have: Doc | None = None) -> tuple[float, int]:
    """`clients` sockets at once: connect, send sync step 1 (of `have`: a returning client
    that holds the document already; else empty), wait for the whole sync step 2. Returns
    (seconds until the last one has it, bytes of one step 2)."""
    import websockets

    step1 = protocol.sync_step1_message(have if have is not None else Doc())

    async def one() -> int:
        async with websockets.connect(url, max_size=None) as ws:
            await ws.send(step1)
            while True:
                frame = await asyncio.wait_for(ws.recv(), 300)
                if isinstance(protocol.parse_message(frame), protocol.SyncStep2):
                    return len(frame)

    async def run() -> tuple[float, int]:
        started = time.perf_counter()
        sizes = await asyncio.gather(*(one() for _ in range(clients)))
        return time.perf_counter() - started, sizes[0]

    return asyncio.run(run())


def snapshot_pieces(database, document_id: str) -> int | None:
    """How many pieces the latest snapshot of a live server's document is applied in (0:
    whole; None: no snapshot, or no plan yet), read from its database directly."""
    sql = "SELECT pieces FROM collab_documentsnapshot WHERE document_id = {} ORDER BY seq DESC"
    if database.vendor == "sqlite":
        with sqlite3.connect(database.url.removeprefix("sqlite:///")) as conn:
            # Django keeps UUIDs in SQLite as 32 hex digits.
            row = conn.execute(sql.format("?"), [uuid.UUID(document_id).hex]).fetchone()
    else:
        import psycopg

        with psycopg.connect(database.url) as conn:
            row = conn.execute(sql.format("%s"), [document_id]).fetchone()
    if row is None or row[0] is None:
        return None
    plan = json.loads(row[0]) if isinstance(row[0], str) else row[0]
    return len(plan["pieces"])


def wait_for_pieces(database, document_id: str, timeout: float = 120.0) -> int:
    """Wait until the room has planned the document's snapshot (Room.start asks for it in
    the background after applying a large row whole); returns the number of pieces."""
    deadline = time.monotonic() + timeout
    while True:
        pieces = snapshot_pieces(database, document_id)
        if pieces is not None:
            return pieces
        if time.monotonic() > deadline:
            raise AssertionError("the snapshot was not planned in time")
        time.sleep(0.2)


class RoundTripProbe:
    """Two sockets on one room: one edits, the other waits for the edit; repeated in a
    background thread until stopped. `samples` holds (sent at, round trip) in seconds."""

    def __init__(self, url: str, pause: float = 0.02, timeout: float = 120.0):
        self.url = url
        self.pause = pause
        self.timeout = timeout
        self.samples: list[tuple[float, float]] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def start(self, warmup: int = 5) -> "RoundTripProbe":
        self._thread.start()
        deadline = time.monotonic() + 60
        while len(self.samples) < warmup and self.error is None:
            if time.monotonic() > deadline:
                raise AssertionError("the probe made no round trips")
            time.sleep(0.01)
        if self.error is not None:
            raise self.error
        return self

    def stop(self) -> list[tuple[float, float]]:
        self._stop.set()
        self._thread.join(self.timeout + 10)
        if self.error is not None:
            raise AssertionError(f"round-trip probe failed: {self.error!r}")
        return list(self.samples)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # reported by stop()
            self.error = exc

    async def _run(self) -> None:
        import websockets

        arrived: asyncio.Queue = asyncio.Queue()

        async def read(ws, forward: bool) -> None:
            async for frame in ws:
                if forward and isinstance(protocol.parse_message(frame), protocol.SyncUpdate):
                    arrived.put_nowait(time.perf_counter())

        doc = Doc()
        text = doc.get("probe", type=Text)
        async with (
            websockets.connect(self.url, max_size=None) as editor,
            websockets.connect(self.url, max_size=None) as watcher,
        ):
            readers = [
                asyncio.create_task(read(editor, False)),
                asyncio.create_task(read(watcher, True)),
            ]
            while not self._stop.is_set():
                before = doc.get_state()
                text.insert(0, "x")
                sent = time.perf_counter()
                await editor.send(protocol.update_message(doc.get_update(before)))
                received = await asyncio.wait_for(arrived.get(), self.timeout)
                self.samples.append((time.monotonic(), received - sent))
                await asyncio.sleep(self.pause)
            for task in readers:
                task.cancel()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
