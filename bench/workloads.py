"""The workloads W1-W6, each run against one started server and returning a dict of numbers."""

import asyncio
import gzip
import json
import random
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import websockets
from pycrdt import Doc, Text

from bench import loadgen
from bench.loadgen import TEXT_NAME, ClientSpec
from collab import protocol


@dataclass
class Trace:
    """An editing trace turned into one pycrdt update per patch, made once per run."""

    name: str
    updates: list
    end_content: str
    final_state: bytes


def load_trace(path: Path, limit: int | None = None) -> Trace:
    data = json.loads(gzip.open(path).read())
    doc = Doc(client_id=random.getrandbits(52))
    text = doc.get(TEXT_NAME, type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    if data.get("startContent"):
        text += data["startContent"]
    done = 0
    for txn in data["txns"]:
        for position, deleted, inserted in txn["patches"]:
            # one transaction per patch: one update message, as a typing client sends
            with doc.transaction():
                if deleted:
                    del text[position : position + deleted]
                if inserted:
                    text.insert(position, inserted)
            done += 1
            if limit and done >= limit:
                break
        if limit and done >= limit:
            break
    content = str(text)
    if not limit:
        assert content == data["endContent"], "trace replay in pycrdt does not give endContent"
    return Trace(path.name, updates, content, doc.get_state())


def w1_fanout(server, readers: int, duration: float, rate: float = 10.0) -> dict:
    """One typist at `rate` keys/s, `readers` readers in the same room: latency percentiles."""
    room = server.create_rooms(1)[0]
    url, handshake = server.url(room), server.handshake
    specs = [ClientSpec(url, rate=rate, reads=False, handshake=handshake)]
    specs += [ClientSpec(url, handshake=handshake) for _ in range(readers)]
    results = loadgen.run_clients(specs, duration=duration, processes=loadgen.default_processes())
    summary = loadgen.latency_summary(results)
    expected = summary["sent"] * readers
    summary["readers"] = readers
    summary["delivered"] = summary["stamps_received"] / expected if expected else 0.0
    return summary


def w2_rooms(server, rooms: int, duration: float, per_room: int = 5, rate: float = 5.0) -> dict:
    """`rooms` rooms of `per_room` clients, each typing `rate` keys/s and reading the others."""
    names = server.create_rooms(rooms)
    specs = [
        ClientSpec(server.url(name), rate=rate, handshake=server.handshake)
        for name in names
        for _ in range(per_room)
    ]
    cpu: dict[str, float] = {}

    def sample(key: str) -> None:
        cpu[key] = server.cpu_seconds()

    def on_ready() -> None:
        # The typing window starts 0.2 s after the start signal (loadgen.run_clients).
        threading.Timer(0.2, sample, ("start",)).start()
        threading.Timer(0.2 + duration, sample, ("end",)).start()

    results = loadgen.run_clients(
        specs, duration=duration, processes=loadgen.default_processes(), on_ready=on_ready
    )
    summary = loadgen.latency_summary(results)
    keys_per_s = rooms * per_room * rate
    cores = (cpu.get("end", 0) - cpu.get("start", 0)) / duration
    expected = summary["sent"] * (per_room - 1)
    summary.update(
        rooms=rooms,
        connections=sum(1 for r in results if r.connect_ms is not None and not r.error),
        keys_per_s=keys_per_s,
        server_cores=cores,
        cpu_per_1000_keys_s=cores / (keys_per_s / 1000),
        delivered=summary["stamps_received"] / expected if expected else 0.0,
    )
    return summary


def w2_ramp(server, steps: list[int], duration: float, p99_limit_ms: float = 100.0) -> dict:
    """Raise the room count until p99 latency passes the limit (or delivery fails)."""
    rows = []
    for rooms in steps:
        row = w2_rooms(server, rooms, duration)
        rows.append(row)
        if row["p99_ms"] is None or row["p99_ms"] > p99_limit_ms or row["delivered"] < 0.99:
            break
    within = [r for r in rows if r["p99_ms"] is not None and r["p99_ms"] <= p99_limit_ms]
    best = max(within, key=lambda r: r["rooms"]) if within else None
    return {
        "steps": rows,
        "max_rooms_within_limit": best["rooms"] if best else 0,
        "connections_within_limit": best["connections"] if best else 0,
    }


async def _open_once(url: str, handshake: bool, name: str = TEXT_NAME) -> tuple[float, str]:
    """A fresh client: connect, sync step 1, wait for sync step 2; seconds and the text."""
    doc = Doc()
    started = time.perf_counter()
    async with websockets.connect(url, max_size=None, compression=None) as ws:
        await ws.send(protocol.sync_step1_message(doc))
        async for frame in ws:
            message = protocol.parse_message(frame)
            if isinstance(message, protocol.SyncStep2):
                doc.apply_update(message.update)
                break
    return time.perf_counter() - started, str(doc.get(name, type=Text))


def open_document(url: str, handshake: bool = True) -> tuple[float, str]:
    return asyncio.run(asyncio.wait_for(_open_once(url, handshake), 300))


def w3_replay(server, trace: Trace, readers: int = 5, timeout: float = 600.0) -> dict:
    """The trace as one update per patch, as fast as accepted, with `readers` readers.

    While every reader is still connected (a room without clients may be dropped by a peer),
    a fresh client opens the document: the warm open of W4.
    """
    room = server.create_rooms(1)[0]
    url, handshake = server.url(room), server.handshake
    specs = [ClientSpec(url, reads=False, handshake=handshake, updates=trace.updates)]
    specs += [
        ClientSpec(url, reads=False, handshake=handshake, done_state=trace.final_state)
        for _ in range(readers)
    ]
    warm: dict = {}
    stored: dict = {}
    watcher = None
    clients_done = threading.Event()
    if getattr(server, "persistent", False):
        # W6: when the log holds every update (polled through the history API's last_seq).
        watcher = threading.Thread(
            target=_watch_stored,
            args=(server, room, len(trace.updates), timeout, stored, clients_done),
        )
        watcher.start()

    def open_warm() -> None:
        if handshake:
            seconds, text = open_document(url)
            warm.update(seconds=seconds, matches=text == trace.end_content)

    try:
        results = loadgen.run_clients(
            specs, drain=timeout, processes=min(readers + 1, 3), hold=open_warm
        )
    finally:
        clients_done.set()
    if watcher is not None:
        watcher.join()
    typist, reader_results = results[0], results[1:]
    done = [r.done_at for r in reader_results if r.done_at]
    all_done = len(done) == readers
    elapsed = (max(done) - typist.first_sent_at) if all_done else None
    return {
        "room": room,
        "updates": len(trace.updates),
        "chars": len(trace.end_content),
        "send_s": typist.sent_all_at - typist.first_sent_at,
        "converged_s": elapsed,
        "updates_per_s": len(trace.updates) / elapsed if elapsed else None,
        "readers_match": sum(1 for r in reader_results if r.text == trace.end_content),
        "readers": readers,
        "warm_open_s": warm.get("seconds"),
        "warm_open_matches": warm.get("matches"),
        "errors": sorted({r.error for r in results if r.error})[:5],
        # W6: from the first update sent until the log held all of them.
        "stored_s": (stored["at"] - typist.first_sent_at) if "at" in stored else None,
        "stored_updates_per_s": (
            len(trace.updates) / (stored["at"] - typist.first_sent_at) if "at" in stored else None
        ),
    }


def _watch_stored(
    server, room: str, count: int, timeout: float, out: dict, clients_done, stall: float = 30.0
) -> None:
    """Until the log holds `count` rows; once the clients are gone, only while it grows (a
    typist cut off mid-trace never sent the rest: waiting out `timeout` cost minutes)."""
    deadline = time.time() + timeout
    progress = loadgen.Progress(stall)
    while time.time() < deadline:
        status, body = server.live.api("GET", f"/api/documents/{room}/versions/", server.token)
        if status == 200 and body["last_seq"] >= count:
            out["at"] = time.time()
            return
        stored = body["last_seq"] if status == 200 else progress.value
        if progress.stalled(stored) and clients_done.is_set():
            return
        time.sleep(0.05)


def w4_cold_open(server, room: str, trace: Trace, runs: int = 3) -> dict:
    """Ours only: restart the server (every room cold) and open the W3 document, three ways."""
    out = {}

    def measure(label: str) -> None:
        times, matches = [], True
        for _ in range(runs):
            server.restart()
            seconds, text = open_document(server.url(room))
            times.append(seconds)
            matches = matches and text == trace.end_content
        out[label] = {"median_s": statistics.median(times), "runs": times, "matches": matches}

    # As the server left it: snapshots every SNAPSHOT_EVERY rows, a short tail after the last.
    measure("as_stored")
    server.manage("shell", "-c", _SNAPSHOTS_DROP.format(room=room))
    measure("log_only")
    server.snapshot(room)
    measure("one_snapshot")
    # manage.py shell may print a banner first: the count is the last line.
    printed = server.manage("shell", "-c", _ROWS_COUNT.format(room=room))
    out["log_rows"] = int(printed.strip().splitlines()[-1])
    return out


_SNAPSHOTS_DROP = (
    "from collab.models import DocumentSnapshot; "
    "DocumentSnapshot.objects.filter(document_id='{room}').delete()"
)
_ROWS_COUNT = (
    "from collab.models import DocumentUpdate; "
    "print(DocumentUpdate.objects.filter(document_id='{room}').count())"
)


def w5_memory(server, idle: int, loaded_rooms: int, chars: int = 2000) -> dict:
    """Server RSS per idle connection (one room) and per loaded room (one editor each)."""
    room = server.create_rooms(1)[0]
    base = {"before": server.rss_bytes()}
    specs = [ClientSpec(server.url(room), reads=False, handshake=server.handshake)] * idle
    idle_results = loadgen.run_clients(
        specs,
        processes=loadgen.default_processes(),
        drain=0.5,
        hold=lambda: base.update(after=server.rss_bytes()),
    )
    per_connection = (base["after"] - base["before"]) / idle
    rss_before_rooms = server.rss_bytes()
    names = server.create_rooms(loaded_rooms)
    loaded: dict[str, int] = {}
    specs = [
        ClientSpec(server.url(name), reads=False, handshake=server.handshake, insert_chars=chars)
        for name in names
    ]
    room_results = loadgen.run_clients(
        specs,
        processes=loadgen.default_processes(),
        drain=1.0,
        hold=lambda: loaded.update(after=server.rss_bytes()),
    )
    return {
        "idle_connections": idle,
        "idle_connected": sum(1 for r in idle_results if r.synced_at and not r.error),
        "rooms_edited": sum(1 for r in room_results if r.sent == 1 and not r.error),
        "rss_per_idle_connection_kb": per_connection / 1024,
        "loaded_rooms": loaded_rooms,
        "rss_per_loaded_room_kb": (loaded["after"] - rss_before_rooms) / loaded_rooms / 1024,
        "room_chars": chars,
        "rss_mb": server.rss_bytes() / 2**20,
    }
