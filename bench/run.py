"""Trace replay through the live server against the JS reference server, in the same run.

For each server: one JS client (yjs + y-websocket) replays an editing trace as one update
per patch; a second client joins when the replay is sent and waits for the final text.
Reports the median of N runs of (a) seconds until the last patch is sent, (b) seconds until
the fresh client has the final text (every update processed, for us: also committed), and
the ratio to the reference server. Usage: python bench/run.py [trace-file] [runs]
"""

import gzip
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

from tests.live.clients import JSClient  # noqa: E402
from tests.live.server import LiveDatabase, LiveServer, free_port  # noqa: E402
from tests.shared_data import trace_path  # noqa: E402

DEFAULT_TRACE = trace_path("automerge-paper.json.gz")


def replay(ws_base: str, document_id: str, token: str, trace: Path, end: str) -> tuple:
    typist = JSClient(ws_base, document_id, token)
    reader = None
    try:
        typist.call("wait_synced")
        started = time.perf_counter()
        result = typist.call("replay_trace", path=str(trace), name="trace", timeout=900)
        sent = time.perf_counter() - started
        assert result["endMatches"], result
        reader = JSClient(ws_base, document_id, token)
        reader.call("wait_synced", timeout=300)
        reader.call("wait_text", name="trace", equals=end, timeout=900)
        return sent, time.perf_counter() - started
    finally:
        typist.close()
        if reader:
            reader.close()


def bench_ours(trace: Path, end: str, runs: int) -> list[tuple]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        database = LiveDatabase(Path(tmp))
        server = LiveServer(Path(tmp), database)
        server.migrate()
        server.start()
        try:
            token = server.user_token("bench@example.com")
            for i in range(runs):
                document_id = server.create_document(token, f"bench {i}")
                results.append(replay(server.ws_base, document_id, token, trace, end))
        finally:
            server.terminate()
            database.drop()
    return results


def bench_reference(trace: Path, end: str, runs: int) -> list[tuple]:
    port = free_port()
    process = subprocess.Popen(
        ["node", "node_modules/@y/websocket-server/src/server.js"],
        cwd=ROOT,
        env={**os.environ, "HOST": "127.0.0.1", "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        return [
            replay(f"ws://127.0.0.1:{port}/ws/documents", f"bench-{i}", "unused", trace, end)
            for i in range(runs)
        ]
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    trace = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_TRACE
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    data = json.loads(gzip.open(trace).read())
    end = data["endContent"]
    patches = sum(len(t["patches"]) for t in data["txns"])
    print(f"trace {trace.name}: {patches} patches, {len(end)} chars; {runs} runs each")
    rows = {"reference (@y/websocket-server)": bench_reference(trace, end, runs)}
    rows["ours (Daphne, SQLite, in-memory layer)"] = bench_ours(trace, end, runs)
    ref_done = statistics.median(r[1] for r in rows["reference (@y/websocket-server)"])
    print(f"{'server':42} {'sent s':>8} {'converged s':>12} {'updates/s':>10} {'vs ref':>7}")
    for name, results in rows.items():
        sent = statistics.median(r[0] for r in results)
        done = statistics.median(r[1] for r in results)
        print(f"{name:42} {sent:8.2f} {done:12.2f} {patches / done:10.0f} {done / ref_done:7.2f}")


if __name__ == "__main__":
    main()
