"""The servers under test, each started on loopback by the harness: ours, its peers, raw relays."""

import concurrent.futures
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))

from tests.live.server import LiveDatabase, LiveServer, free_port  # noqa: E402

PEERS_VENV = Path(os.environ.get("BENCH_PEERS_DIR", "/tmp/bench-peers"))
_PG_ENV = os.environ.get("DATABASE_URL", "")
# Where to create the throwaway databases: BENCH_PG_URL, else DATABASE_URL when it is
# PostgreSQL (CI), else the local server.
PG_ADMIN_URL = (
    os.environ.get("BENCH_PG_URL")
    or (_PG_ENV if _PG_ENV.startswith(("postgres://", "postgresql://")) else "")
    or "postgres://postgres@127.0.0.1:5432/postgres"
)
# The per-socket and per-account abuse limits (collab/limits.py) would close the load
# generator's sockets (4429: 20 sockets per account, 200 updates/s per socket): the bench
# measures the engine, so they are raised out of the way.
UNLIMITED = {
    "COLLAB_MAX_CONNECTIONS_PER_USER": "1000000",
    "COLLAB_MAX_CONNECTIONS_PER_DOCUMENT": "1000000",
    "COLLAB_UPDATES_PER_SECOND": "1000000000",
    "COLLAB_UPDATE_BURST": "1000000000",
    "COLLAB_FRAMES_PER_SECOND": "1000000000",
    "COLLAB_FRAME_BURST": "1000000000",
}
REDIS_URL = (
    os.environ.get("BENCH_REDIS_URL") or os.environ.get("REDIS_URL") or ("redis://127.0.0.1:6379/0")
)


def wait_port(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited early ({process.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.3).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start in {timeout} s")


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of one process, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Server:
    """One server process; rooms are names (peers) or documents created through the API (ours)."""

    name = "server"
    label = "server"
    handshake = True  # speaks y-websocket sync (raw relays do not)
    persistent = False

    def __init__(self):
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def command(self) -> tuple[list[str], dict, Path]:
        raise NotImplementedError

    def start(self) -> None:
        argv, env, cwd = self.command()
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port, self.process)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def pids(self) -> list[int]:
        return [self.process.pid] if self.process else []

    def create_rooms(self, count: int) -> list[str]:
        """Fresh room names for this run."""
        return [f"bench-{uuid.uuid4().hex[:12]}" for _ in range(count)]

    def url(self, room: str) -> str:
        return f"ws://127.0.0.1:{self.port}/{room}"

    def cpu_seconds(self) -> float:
        return sum(process_cpu_seconds(pid) for pid in self.pids())

    def rss_bytes(self) -> int:
        return sum(process_rss_bytes(pid) for pid in self.pids())


class JSReference(Server):
    name = "js-ref"
    label = "@y/websocket-server 0.1.1 (node)"

    def command(self):
        return (
            ["node", "node_modules/@y/websocket-server/src/server.js"],
            {"HOST": "127.0.0.1", "PORT": str(self.port)},
            ROOT,
        )


class PycrdtWebsocket(Server):
    """pycrdt-websocket's ASGIServer (bench/peer_pycrdt_asgi.py) from the throwaway venv."""

    def __init__(self, runner: str):
        super().__init__()
        self.runner = runner
        self.name = f"pycrdt-{runner}"
        self.label = f"pycrdt-websocket 0.16.5 ({runner})"

    @staticmethod
    def available() -> bool:
        return (PEERS_VENV / "bin" / "python").exists()

    def command(self):
        python = str(PEERS_VENV / "bin" / "python")
        if self.runner == "daphne":
            argv = [python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port)]
            argv.append("peer_pycrdt_asgi:app")
        else:
            argv = [python, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(self.port)]
            argv += ["--log-level", "warning", "--ws", "websockets", "peer_pycrdt_asgi:app"]
        return argv, {"PYTHONPATH": str(BENCH)}, BENCH


class RelayWebsockets(Server):
    name = "relay-websockets"
    label = "raw relay: websockets broadcast()"
    handshake = False

    def command(self):
        argv = [sys.executable, str(BENCH / "relay_websockets.py"), str(self.port)]
        return argv, {}, ROOT


class RelayChannels(Server):
    name = "relay-channels"
    label = "raw relay: Channels consumer on Daphne"
    handshake = False

    def command(self):
        argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port)]
        argv.append("relay_channels_asgi:application")
        return argv, {"PYTHONPATH": str(BENCH)}, BENCH


class RelayDaphne(Server):
    name = "relay-daphne"
    label = "raw relay: bare ASGI app on Daphne (no Channels)"
    handshake = False

    def command(self):
        argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port)]
        argv.append("relay_daphne_asgi:application")
        return argv, {"PYTHONPATH": str(BENCH)}, BENCH


class Ours(Server):
    """This project under Daphne, through tests/live/server.py (own database, token auth)."""

    persistent = True

    def __init__(
        self, database: str = "sqlite", layer: str = "memory", extra_env=None, asgi="daphne"
    ):
        super().__init__()
        self.database_kind = database
        self.layer = layer
        self.asgi = asgi
        self.extra_env = dict(extra_env or {})
        self.name = f"ours-{database}-{layer}" + ("" if asgi == "daphne" else f"-{asgi}")
        db_label = "SQLite" if database == "sqlite" else "PostgreSQL"
        layer_label = "in-memory layer" if layer == "memory" else "Redis pub/sub layer"
        self.label = f"ours ({asgi.capitalize()}, {db_label}, {layer_label})"
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-ours-"))
        self.database: LiveDatabase | None = None
        self.live: LiveServer | None = None
        self.token = ""

    def start(self) -> None:
        if self.live is None:
            saved = os.environ.get("DATABASE_URL")
            os.environ["DATABASE_URL"] = PG_ADMIN_URL if self.database_kind == "postgres" else ""
            try:
                self.database = LiveDatabase(self.tmp)
            finally:
                if saved is None:
                    os.environ.pop("DATABASE_URL", None)
                else:
                    os.environ["DATABASE_URL"] = saved
            env = {**UNLIMITED, **self.extra_env}
            if self.layer == "redis":
                env["REDIS_URL"] = REDIS_URL
            self.live = LiveServer(self.tmp, self.database, extra_env=env, asgi_server=self.asgi)
            if self.layer != "redis":
                self.live.env.pop("REDIS_URL", None)
            self.live.env["LOG_LEVEL"] = "WARNING"
            self.live.port = self.port
            self.live.migrate()
            self.token = self.live.user_token(f"bench-{uuid.uuid4().hex[:8]}@example.com")
        self.live.start()
        self.process = self.live.process

    def restart(self) -> None:
        """Stop and start the same server on the same database: every room is cold.

        Returns once /healthz answers 200, as a load balancer waits for a new process
        before sending it traffic (and its warm-up, collab/warm_up.py, has run)."""
        self.live.terminate()
        self.live.start()
        self.process = self.live.process
        deadline = time.monotonic() + 30
        while self.live.api("GET", "/healthz", self.token)[0] != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not healthy after a restart")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.live:
            self.live.terminate()

    def cleanup(self) -> None:
        self.stop()
        if self.database:
            self.database.drop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def create_rooms(self, count: int) -> list[str]:
        def create(i: int) -> str:
            return self.live.create_document(self.token, f"bench {i}")

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            return list(pool.map(create, range(count)))

    def url(self, room: str) -> str:
        return f"{self.live.ws_base}/{room}?token={self.token}"

    def manage(self, *args: str) -> str:
        return self.live.manage(*args)

    def snapshot(self, room: str) -> None:
        """Write a snapshot of the whole log now (the server does so every SNAPSHOT_EVERY rows)."""
        code = (
            "from collab import store; "
            f"print(store.snapshot_compact(document_id='{room}', min_tail=1))"
        )
        self.manage("shell", "-c", code)


def make_server(name: str) -> Server:
    if name.startswith("ours-"):
        # ours-<sqlite|postgres>-<memory|redis>[-uvicorn]
        _, database, layer, *asgi = name.split("-")
        return Ours(database, layer, asgi=asgi[0] if asgi else "daphne")
    if name == "js-ref":
        return JSReference()
    if name in ("pycrdt-daphne", "pycrdt-uvicorn"):
        return PycrdtWebsocket(name.split("-")[1])
    if name == "relay-websockets":
        return RelayWebsockets()
    if name == "relay-channels":
        return RelayChannels()
    if name == "relay-daphne":
        return RelayDaphne()
    raise ValueError(f"unknown server {name!r}")


@contextlib.contextmanager
def running(name: str):
    server = make_server(name)
    try:
        server.start()
        yield server
    finally:
        if isinstance(server, Ours):
            server.cleanup()
        else:
            server.stop()
