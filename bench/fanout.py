"""Fan-out cost per update against the number of connections, for each channel layer.

One Daphne process (SQLite, so the database is not the bottleneck being measured), one
typist sending real pycrdt updates at a fixed rate, K readers on the same document. For
each layer (in-memory, RedisChannelLayer, RedisPubSubChannelLayer) and K, it reports the
deliveries per second the readers saw and the server's CPU time (user + system, from
/proc) per update and per delivery. Within one process a room hands an update to its
local sockets directly; the channel layer carries one message per update to the other
processes (none here), whatever K is.

Usage: .venv/bin/python bench/fanout.py [--readers 1,10,50,200] [--updates 300] [--rate 100]
       [--layers memory,redis,pubsub]   (redis and pubsub need REDIS_URL)
"""

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pycrdt import Doc, Text  # noqa: E402

from collab import protocol  # noqa: E402
from tests.live.server import LiveDatabase, LiveServer  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def is_update(frame: bytes) -> bool:
    # y-protocols: message type 0 (sync), sync type 2 (update).
    return len(frame) > 2 and frame[0] == 0 and frame[1] == 2


async def run_case(server: LiveServer, document_id: str, token: str, k: int, updates: int, rate):
    import websockets

    url = f"{server.ws_base}/{document_id}?token={token}"
    received = [0] * k
    done = asyncio.Event()
    target = k * updates

    async def reader(index: int, ws) -> None:
        async for frame in ws:
            if is_update(frame):
                received[index] += 1
                if sum(received) >= target:
                    done.set()

    readers = [await websockets.connect(url, max_size=None) for _ in range(k)]
    tasks = [asyncio.create_task(reader(i, ws)) for i, ws in enumerate(readers)]
    typist = await websockets.connect(url, max_size=None)
    drain = asyncio.create_task(typist.wait_closed())
    await asyncio.sleep(1.0)  # everyone joined and synced
    doc = Doc()
    text = doc.get("text", type=Text)
    frames = []
    for i in range(updates):
        before = doc.get_state()
        text.insert(len(text), f"x{i} ")
        frames.append(protocol.update_message(doc.get_update(before)))
    cpu_before = cpu_seconds(server.process.pid)
    started = time.perf_counter()
    for i, frame in enumerate(frames):
        await typist.send(frame)
        pause = started + (i + 1) / rate - time.perf_counter()
        if pause > 0:
            await asyncio.sleep(pause)
    try:
        await asyncio.wait_for(done.wait(), 120)
    except TimeoutError:
        pass
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(server.process.pid) - cpu_before
    delivered = sum(received)
    for ws in [*readers, typist]:
        await ws.close()
    for task in [*tasks, drain]:
        task.cancel()
    return {
        "k": k,
        "delivered": delivered,
        "expected": target,
        "seconds": elapsed,
        "deliveries_per_s": delivered / elapsed,
        "cpu_ms_per_update": cpu * 1000 / updates,
        "cpu_us_per_delivery": cpu * 1e6 / max(delivered, 1),
    }


def bench_layer(layer: str, readers: list[int], updates: int, rate: float) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        os.environ.pop("DATABASE_URL", None)  # SQLite: measure the relay, not PostgreSQL
        database = LiveDatabase(tmp_path)
        env = {
            "DJANGO_SETTINGS_MODULE": "bench.fanout_settings",
            "FANOUT_LAYER": layer,
            # One account opens every reader socket here.
            "COLLAB_MAX_CONNECTIONS_PER_USER": "1000",
            "COLLAB_MAX_CONNECTIONS_PER_DOCUMENT": "1000",
        }
        if layer == "memory":
            env["REDIS_URL"] = ""
        server = LiveServer(tmp_path, database, extra_env=env)
        server.migrate()
        server.start()
        try:
            token = server.user_token("fanout@example.com")
            results = []
            for k in readers:
                document_id = server.create_document(token, f"fanout {k}")
                results.append(asyncio.run(run_case(server, document_id, token, k, updates, rate)))
            return results
        finally:
            server.terminate()
            database.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", default="1,10,50,200")
    parser.add_argument("--updates", type=int, default=300)
    parser.add_argument("--rate", type=float, default=100.0, help="typist updates per second")
    parser.add_argument("--layers", default="memory,redis,pubsub")
    args = parser.parse_args()
    readers = [int(k) for k in args.readers.split(",")]
    layers = args.layers.split(",")
    if any(layer != "memory" for layer in layers) and not os.environ.get("REDIS_URL"):
        sys.exit("redis and pubsub layers need REDIS_URL")
    print(f"{args.updates} updates at {args.rate:g}/s, one Daphne process, SQLite")
    print("| layer | K | delivered | deliveries/s | server CPU ms/update | CPU µs/delivery |")
    print("| --- | --- | --- | --- | --- | --- |")
    for layer in layers:
        for row in bench_layer(layer, readers, args.updates, args.rate):
            print(
                f"| {layer} | {row['k']} | {row['delivered']}/{row['expected']} "
                f"| {row['deliveries_per_s']:.0f} | {row['cpu_ms_per_update']:.2f} "
                f"| {row['cpu_us_per_delivery']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
