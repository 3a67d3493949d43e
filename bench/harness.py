"""One command: every workload against this server and its peers in one run; JSON + docs out.

Usage: python bench/harness.py [--profile short|medium|full] [--servers a,b,...] [--out FILE]
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

from bench import report, servers, workloads  # noqa: E402
from tests.shared_data import trace_path  # noqa: E402

PROFILES = {
    "short": {
        "servers": [
            "ours-sqlite-memory",
            "ours-postgres-redis",
            "js-ref",
            "pycrdt-daphne",
            "relay-websockets",
            "relay-channels",
            "relay-daphne",
        ],
        "w1_readers": [1, 10, 50],
        "w1_duration": 4.0,
        "w2_steps": [10, 40, 80],
        # the raw websockets relay goes further: it shows how much the load generator drives
        "w2_ceiling_steps": [160],
        "w2_duration": 4.0,
        "w3_limit": 20_000,
        "w4_runs": 1,
        "w5_idle": 100,
        "w5_rooms": 20,
    },
    # every size the issue asks for (W1 to 200 readers, the whole trace) with shorter
    # windows and fewer servers than full: ~35 minutes on a 2-core machine
    "medium": {
        "servers": [
            "ours-sqlite-memory",
            "ours-postgres-redis",
            "ours-sqlite-memory-uvicorn",
            "js-ref",
            "pycrdt-uvicorn",
            "relay-websockets",
            "relay-daphne",
        ],
        "w1_readers": [1, 10, 50, 200],
        "w1_duration": 6.0,
        "w2_steps": [10, 20, 40, 60, 80, 120, 160],
        "w2_ceiling_steps": [240, 320],
        "w2_duration": 6.0,
        "w3_limit": None,
        "w4_runs": 3,
        "w5_idle": 300,
        "w5_rooms": 50,
    },
    "full": {
        "servers": [
            "ours-sqlite-memory",
            "ours-postgres-redis",
            "ours-sqlite-memory-uvicorn",
            "js-ref",
            "pycrdt-daphne",
            "pycrdt-uvicorn",
            "relay-websockets",
            "relay-channels",
            "relay-daphne",
        ],
        "w1_readers": [1, 10, 50, 200],
        "w1_duration": 10.0,
        # between doublings too: a server's limit is known within a third, not a half
        "w2_steps": [10, 20, 40, 60, 80, 120, 160, 240, 320],
        "w2_ceiling_steps": [480, 640],
        "w2_duration": 10.0,
        "w3_limit": None,
        "w4_runs": 3,
        "w5_idle": 1000,
        "w5_rooms": 200,
    },
    # the test suite's smoke run: every workload, seconds not minutes
    "smoke": {
        "servers": ["ours-sqlite-memory", "js-ref", "relay-websockets"],
        "w1_readers": [2],
        "w1_duration": 1.0,
        "w2_steps": [2],
        "w2_duration": 1.0,
        "w3_limit": 300,
        "w4_runs": 1,
        "w5_idle": 5,
        "w5_rooms": 2,
    },
}


def versions() -> dict:
    def run(*argv: str) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            return "missing"

    package = json.loads((ROOT / "node_modules/@y/websocket-server/package.json").read_text())
    yjs = json.loads((ROOT / "node_modules/yjs/package.json").read_text())
    import channels
    import daphne
    import pycrdt
    import websockets

    return {
        "python": platform.python_version(),
        "node": run("node", "--version"),
        "@y/websocket-server": package["version"],
        "yjs": yjs["version"],
        "pycrdt": pycrdt.__version__ if hasattr(pycrdt, "__version__") else "0.14",
        "channels": channels.__version__,
        "daphne": daphne.__version__,
        "websockets": websockets.__version__,
        "pycrdt-websocket (peers venv)": "0.16.5" if servers.PycrdtWebsocket.available() else "-",
        "postgresql": run("psql", "--version"),
        "redis": run("redis-server", "--version"),
    }


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "loadavg_at_start": os.getloadavg(),
    }


def run_server(name: str, config: dict, trace, log, only: set | None = None) -> dict:
    out: dict = {"name": name}
    with servers.running(name) as server:
        out["label"] = server.label
        w2_steps = list(config["w2_steps"])
        if name == "relay-websockets":
            w2_steps += config.get("w2_ceiling_steps", [])
        steps = [
            ("w5", lambda: workloads.w5_memory(server, config["w5_idle"], config["w5_rooms"])),
            (
                "w1",
                lambda: [
                    workloads.w1_fanout(server, n, config["w1_duration"])
                    for n in config["w1_readers"]
                ],
            ),
            ("w2", lambda: workloads.w2_ramp(server, w2_steps, config["w2_duration"])),
            ("w3", lambda: workloads.w3_replay(server, trace)),
        ]
        for key, step in steps:
            if only and key not in only:
                continue
            started = time.monotonic()
            try:
                out[key] = step()
            except Exception as exc:  # one failing workload must not lose the others
                out[key] = {"error": f"{type(exc).__name__}: {exc}"}
                traceback.print_exc()
            log(f"  {name} {key}: {time.monotonic() - started:.1f} s")
        wants_w4 = not only or "w4" in only
        if wants_w4 and isinstance(server, servers.Ours) and "room" in out.get("w3", {}):
            try:
                out["w4"] = workloads.w4_cold_open(
                    server, out["w3"]["room"], trace, config["w4_runs"]
                )
            except Exception as exc:
                out["w4"] = {"error": f"{type(exc).__name__}: {exc}"}
                traceback.print_exc()
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="short")
    parser.add_argument("--servers", help="comma-separated subset of the profile's servers")
    parser.add_argument("--out", help="results JSON (default bench/results/<profile>-<time>.json)")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/bench/*")
    parser.add_argument("--only", help="comma-separated workloads to run (w1,w2,w3,w4,w5)")
    args = parser.parse_args(argv)
    config = dict(PROFILES[args.profile])
    if args.servers:
        config["servers"] = args.servers.split(",")
    if args.only and "w4" in args.only and "w3" not in args.only:
        args.only += ",w3"  # W4 opens the document W3 leaves
    if not servers.PycrdtWebsocket.available():
        print("pycrdt-websocket peers skipped: run bench/peers.sh first")
        config["servers"] = [s for s in config["servers"] if not s.startswith("pycrdt-")]

    def log(message: str) -> None:
        print(message, flush=True)

    started = datetime.datetime.now(datetime.UTC)
    trace_file = trace_path("automerge-paper.json.gz")
    trace = workloads.load_trace(trace_file, config["w3_limit"])
    log(f"trace {trace.name}: {len(trace.updates)} updates, {len(trace.end_content)} chars")
    results = {
        "profile": args.profile,
        "started": started.isoformat(timespec="seconds"),
        "command": "python bench/harness.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "config": config,
        "machine": machine(),
        "versions": versions(),
        "trace": {"file": str(trace_file), "updates": len(trace.updates)},
        "servers": [],
    }
    out = (
        Path(args.out)
        if args.out
        else (ROOT / "bench" / "results" / f"{args.profile}-{started:%Y%m%dT%H%M%S}.json")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    for name in config["servers"]:
        log(f"server {name}")
        try:
            only = set(args.only.split(",")) if args.only else None
            results["servers"].append(run_server(name, config, trace, log, only))
        except Exception as exc:
            results["servers"].append({"name": name, "error": f"{type(exc).__name__}: {exc}"})
            traceback.print_exc()
        out.write_text(json.dumps(results, indent=1))
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    results["seconds"] = (datetime.datetime.now(datetime.UTC) - started).total_seconds()
    out.write_text(json.dumps(results, indent=1))
    markdown = report.render(results)
    out.with_suffix(".md").write_text(markdown)
    if not args.no_docs:
        from bench import plot

        plot.w1_plot(results, ROOT / "docs" / "bench" / "w1_latency.png")
    print(markdown)
    log(f"results: {out}")
    return results


if __name__ == "__main__":
    main()
