"""A tiny run of every benchmark workload against real servers, so the harness keeps working.

Nothing here times anything: the tests check that every message arrived and every
document matched; the numbers themselves belong to `make bench`.
"""

import json
import os

import pytest

from bench import harness, loadgen, report, servers, workloads
from tests.shared_data import trace_path

pytestmark = pytest.mark.live


def _ours_kind() -> tuple[str, str]:
    """PostgreSQL and the Redis layer when the environment names them (CI), else SQLite."""
    database_url = os.environ.get("DATABASE_URL", "")
    database = "postgres" if database_url.startswith(("postgres://", "postgresql://")) else "sqlite"
    return database, ("redis" if os.environ.get("REDIS_URL") else "memory")


@pytest.fixture(scope="module")
def ours():
    server = servers.Ours(*_ours_kind())
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="module")
def trace():
    return workloads.load_trace(trace_path("automerge-paper.json.gz"), limit=300)


@pytest.mark.parametrize("name", ["js-ref", "relay-websockets", "relay-channels", "pycrdt-daphne"])
def test_w1_every_peer_gets_every_keystroke(name):
    if name.startswith("pycrdt-") and not servers.PycrdtWebsocket.available():
        pytest.skip("pycrdt-websocket peers are not installed (bench/peers.sh)")
    with servers.running(name) as server:
        row = workloads.w1_fanout(server, readers=3, duration=1.0)
    assert row["errors"] == []
    assert row["sent"] == 10
    assert row["stamps_received"] == 30
    assert row["samples"] == 30 and row["p99_ms"] is not None


def test_w1_ours(ours):
    row = workloads.w1_fanout(ours, readers=3, duration=1.0)
    assert row["errors"] == []
    assert row["sent"] == 10 and row["stamps_received"] == 30


def test_w2_rooms_deliver_to_every_other_client(ours):
    row = workloads.w2_rooms(ours, rooms=2, duration=1.0)
    assert row["errors"] == []
    assert row["connections"] == 10
    # 10 typists x 5 keys each, each keystroke read by the 4 others in its room
    assert row["sent"] == 50
    assert row["stamps_received"] == 200
    assert row["server_cores"] >= 0


def test_w3_w4_replay_is_stored_and_reopens(ours, trace):
    row = workloads.w3_replay(ours, trace, readers=5, timeout=120)
    assert row["errors"] == []
    assert row["readers_match"] == 5
    assert row["warm_open_matches"] is True
    cold = workloads.w4_cold_open(ours, row["room"], trace, runs=1)
    assert cold["as_stored"]["matches"]
    assert cold["log_only"]["matches"]
    assert cold["one_snapshot"]["matches"]
    assert cold["log_rows"] >= 1


def test_w3_on_the_reference_server(trace):
    with servers.running("js-ref") as server:
        row = workloads.w3_replay(server, trace, readers=2, timeout=60)
    assert row["readers_match"] == 2 and row["warm_open_matches"] is True


def test_w5_memory_connects_every_client(ours):
    row = workloads.w5_memory(ours, idle=5, loaded_rooms=2, chars=100)
    assert row["idle_connected"] == 5
    assert row["rooms_edited"] == 2
    assert row["rss_mb"] > 0


def test_harness_writes_results_report_and_plot(tmp_path):
    out = tmp_path / "results.json"
    harness.main(
        ["--profile", "smoke", "--servers", "relay-websockets", "--out", str(out), "--no-docs"]
    )
    results = json.loads(out.read_text())
    assert [s["name"] for s in results["servers"]] == ["relay-websockets"]
    assert results["servers"][0]["w1"][0]["stamps_received"] > 0
    markdown = report.render(results)
    assert "### W1 fan-out" in markdown and "relay-websockets" in markdown
    from bench import plot

    png = plot.w1_plot(results, tmp_path / "w1.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_percentile_picks_from_the_samples():
    assert loadgen.percentile([], 50) is None
    assert loadgen.percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert loadgen.percentile(list(range(101)), 99) == 99
