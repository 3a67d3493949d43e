"""Markdown tables from a harness results JSON: one per workload, with ratios to ours.

Usage: python bench/report.py bench/results/<file>.json
"""

import json
import sys
from pathlib import Path

BASELINE = "ours-sqlite-memory"


def _num(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def _ratio(numerator, denominator) -> str:
    if not numerator or not denominator:
        return "-"
    return f"{numerator / denominator:.2f}"


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _servers(results: dict) -> list[dict]:
    return [s for s in results["servers"] if "error" not in s]


def _by_name(results: dict) -> dict:
    return {s["name"]: s for s in _servers(results)}


def w1_table(results: dict) -> str:
    base = {r["readers"]: r for r in _by_name(results).get(BASELINE, {}).get("w1", []) or []}
    rows = []
    for server in _servers(results):
        for row in server.get("w1", []) if isinstance(server.get("w1"), list) else []:
            ours = base.get(row["readers"], {})
            rows.append(
                [
                    server["name"],
                    row["readers"],
                    _num(row["p50_ms"]),
                    _num(row["p95_ms"]),
                    _num(row["p99_ms"]),
                    f"{row['delivered']:.3f}",
                    _ratio(ours.get("p50_ms"), row["p50_ms"]),
                    _ratio(ours.get("p99_ms"), row["p99_ms"]),
                ]
            )
    header = ["server", "readers", "p50 ms", "p95 ms", "p99 ms", "delivered"]
    header += ["ours p50 ÷ this", "ours p99 ÷ this"]
    return _table(header, rows)


def w2_table(results: dict) -> str:
    rows = []
    servers = _servers(results)
    base = _by_name(results).get(BASELINE, {}).get("w2", {})
    for server in servers:
        w2 = server.get("w2", {})
        if "steps" not in w2:
            rows.append([server["name"], w2.get("error", "-")] + ["-"] * 5)
            continue
        for step in w2["steps"]:
            rows.append(
                [
                    server["name"],
                    step["rooms"],
                    step["connections"],
                    _num(step["keys_per_s"], 0),
                    _num(step["p50_ms"]),
                    _num(step["p99_ms"]),
                    f"{step['delivered']:.3f}",
                    _num(step["cpu_per_1000_keys_s"], 2),
                ]
            )
    header = ["server", "rooms", "connections", "keys/s", "p50 ms", "p99 ms", "delivered"]
    header.append("server cores per 1,000 keys/s")
    summary = [
        [
            s["name"],
            s.get("w2", {}).get("max_rooms_within_limit", "-"),
            s.get("w2", {}).get("connections_within_limit", "-"),
            _ratio(
                base.get("max_rooms_within_limit"), s.get("w2", {}).get("max_rooms_within_limit")
            ),
        ]
        for s in servers
    ]
    head = ["server", "most rooms with p99 ≤ 100 ms (of the steps run)", "connections"]
    head.append("ours ÷ this")
    return _table(header, rows) + "\n\n" + _table(head, summary)


def w3_table(results: dict) -> str:
    base = _by_name(results).get(BASELINE, {}).get("w3", {})
    rows = []
    for server in _servers(results):
        w3 = server.get("w3", {})
        if "updates" not in w3:
            rows.append([server["name"], w3.get("error", "-")] + ["-"] * 5)
            continue
        rows.append(
            [
                server["name"],
                _num(w3["send_s"], 2),
                _num(w3["converged_s"], 2),
                _num(w3["updates_per_s"], 0),
                f"{w3['readers_match']}/{w3['readers']}",
                _ratio(base.get("updates_per_s"), w3["updates_per_s"]),
                w3["errors"] or "",
            ]
        )
    header = ["server", "sent (s)", "5 readers converged (s)", "updates/s", "readers = end"]
    header += ["ours ÷ this (updates/s)", "errors"]
    return _table(header, rows)


def w4_table(results: dict) -> str:
    rows = []
    for server in _servers(results):
        w3, w4 = server.get("w3", {}), server.get("w4", {})
        row = [server["name"], _num(w3.get("warm_open_s"), 3), w3.get("warm_open_matches", "-")]
        for key in ("as_stored", "log_only", "one_snapshot"):
            cold = w4.get(key)
            row.append(
                f"{cold['median_s']:.3f} ({'ok' if cold['matches'] else 'WRONG'})" if cold else "-"
            )
        row.append(_num(w4.get("log_rows")))
        rows.append(row)
    header = ["server", "warm open (s)", "warm = end", "cold: as stored (s)"]
    header += ["cold: log only (s)", "cold: one snapshot (s)", "log rows"]
    return _table(header, rows)


def w5_table(results: dict) -> str:
    base = _by_name(results).get(BASELINE, {}).get("w5", {})
    rows = []
    for server in _servers(results):
        w5 = server.get("w5", {})
        if "rss_per_idle_connection_kb" not in w5:
            rows.append([server["name"], w5.get("error", "-")] + ["-"] * 3)
            continue
        rows.append(
            [
                server["name"],
                _num(w5["rss_per_idle_connection_kb"]),
                _num(w5["rss_per_loaded_room_kb"]),
                _ratio(base.get("rss_per_idle_connection_kb"), w5["rss_per_idle_connection_kb"]),
                _ratio(base.get("rss_per_loaded_room_kb"), w5["rss_per_loaded_room_kb"]),
            ]
        )
    header = ["server", "RSS per idle connection (KB)", "RSS per loaded room (KB)"]
    header += ["ours ÷ this (conn)", "ours ÷ this (room)"]
    return _table(header, rows)


def w6_table(results: dict) -> str:
    rows = []
    for server in _servers(results):
        if not server["name"].startswith("ours-"):
            continue
        w3 = server.get("w3", {})
        rows.append(
            [
                server["name"],
                _num(w3.get("stored_updates_per_s"), 0),
                _num(w3.get("stored_s"), 2),
                _num(server.get("w4", {}).get("log_rows")),
                server.get("w4", {}).get("as_stored", {}).get("matches", "-"),
            ]
        )
    header = ["server", "updates/s stored", "all stored after (s)", "log rows"]
    return _table([*header, "reloaded from disk = end"], rows)


def render(results: dict) -> str:
    failed = [f"- {s['name']}: {s['error']}" for s in results["servers"] if "error" in s]
    parts = [
        f"Profile `{results['profile']}`, started {results['started']}, "
        f"`{results['command']}`; baseline for ratios: `{BASELINE}`.",
        "### W1 fan-out: one typist at 10 keys/s, N readers, keystroke → peer latency",
        w1_table(results),
        "### W2 many rooms: 5 clients per room, 5 keys/s each",
        w2_table(results),
        f"### W3 trace replay ({results['trace']['updates']:,} updates, 5 readers)",
        w3_table(results),
        "### W4 open the W3 document (fresh client until synced)",
        w4_table(results),
        "### W5 memory (server RSS)",
        w5_table(results),
        "### W6 persistence: the W3 trace written to the update log",
        w6_table(results),
    ]
    if failed:
        parts += ["Servers that failed to run:", "\n".join(failed)]
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    print(render(json.loads(Path(sys.argv[1]).read_text())))
