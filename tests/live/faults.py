"""Fault injection for live tests: a private redis-server, a cuttable TCP proxy, typists."""

import asyncio
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from collab import protocol

from .clients import JSClient, PyClient
from .server import LiveServer, free_port

REDIS_SERVER = "/usr/bin/redis-server"


def require_redis_server() -> str:
    path = REDIS_SERVER if os.path.exists(REDIS_SERVER) else shutil.which("redis-server")
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail("CI must run the fault tests: redis-server is missing")
    pytest.skip("redis-server is not installed (CI always runs these)")


class PrivateRedis:
    """A redis-server of the test's own on a free loopback port, killable and restartable."""

    def __init__(self, tmp_path: Path):
        self.binary = require_redis_server()
        self.port = free_port()
        self.dir = tmp_path / f"redis-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def restart(self, down_seconds: float) -> None:
        """Kill -9 (everything in it is lost: groups, queued messages), wait, start again."""
        self.kill()
        time.sleep(down_seconds)
        self.start()


class TcpProxy:
    """A loopback TCP proxy: round-robin over targets that accept, like a load balancer with
    no stickiness; cut() closes every connection and refuses new ones until restore()."""

    def __init__(self, target_ports: list[int]):
        self.target_ports = list(target_ports)
        self.port = free_port()
        self.cut_off = False
        self._next = 0
        self._writers: set = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", self.port), self._loop
        ).result(10)

    async def _handle(self, reader, writer) -> None:
        if self.cut_off:
            writer.transport.abort()
            return
        upstream = None
        for _ in range(len(self.target_ports)):
            port = self.target_ports[self._next % len(self.target_ports)]
            self._next += 1
            try:
                upstream = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                continue
        if upstream is None:
            writer.transport.abort()
            return
        up_reader, up_writer = upstream
        self._writers.update((writer, up_writer))

        async def pipe(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))

    def _call(self, fn) -> None:
        async def run():
            fn()

        asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def cut(self) -> None:
        def do():
            self.cut_off = True
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()

        self._call(do)

    def restore(self) -> None:
        def do():
            self.cut_off = False

        self._call(do)

    def close(self) -> None:
        self.cut()
        self._call(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/documents"


class RetryingPyClient(PyClient):
    """The pycrdt client, reconnecting like y-websocket: edits made while offline stay in its
    doc and reach the server in the sync exchange after it reconnects."""

    def __init__(self, ws_base: str, document_id: str, token: str):
        self.closing = False
        self.connects = 0
        super().__init__(ws_base, document_id, token)

    async def _connect(self) -> None:
        await super()._connect()
        self.connects += 1
        self._reader.add_done_callback(lambda _task: self._schedule_reconnect())

    def _schedule_reconnect(self) -> None:
        if not self.closing:
            self._loop.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        while not self.closing:
            await asyncio.sleep(0.3)
            try:
                await self._connect()
                return
            except OSError:
                continue
            except Exception:
                continue

    def _edit_and_send(self, edit) -> None:
        async def run():
            before = self.doc.get_state()
            edit()
            try:
                await self.ws.send(protocol.update_message(self.doc.get_update(before)))
            except Exception:
                pass  # offline: the next sync carries it

        self._run(run())

    def close(self) -> None:
        self.closing = True
        super().close()


class Typist:
    """A thread appending one paragraph per unique token to a client, a little at a time."""

    def __init__(self, client, name: str, pause: float = 0.05):
        self.client = client
        self.name = name
        self.pause = pause
        self.typed: list[str] = []
        self._stop = threading.Event()
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Typist":
        self._thread.start()
        return self

    def _type(self, token: str) -> None:
        if isinstance(self.client, JSClient):
            self.client.call("append_paragraph", text=token)
        else:
            self.client.append_paragraph(token)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            token = f"{self.name}-{n}"
            try:
                self._type(token)
            except Exception as exc:
                self.errors.append(repr(exc))
                return
            self.typed.append(token)
            n += 1
            time.sleep(self.pause)

    def stop(self) -> list[str]:
        self._stop.set()
        self._thread.join(30)
        return self.typed


def paragraphs_of(client) -> list[str]:
    if isinstance(client, JSClient):
        return client.call("paragraphs")["paragraphs"]
    return client.paragraphs()


def wait_converged(clients, expected: list[str], timeout: float = 60.0) -> float:
    """Wait until every client holds each expected token exactly once; returns seconds taken."""
    want = sorted(expected)
    started = time.monotonic()
    last = {}
    while time.monotonic() - started < timeout:
        last = {i: sorted(paragraphs_of(c)) for i, c in enumerate(clients)}
        if all(p == want for p in last.values()):
            return time.monotonic() - started
        time.sleep(0.2)
    summary = {i: (len(p), len(want), sorted(set(want) - set(p))[:5]) for i, p in last.items()}
    raise AssertionError(f"clients did not converge: {summary}")


def assert_exactly_once(paragraphs: list[str], expected: list[str]) -> None:
    from collections import Counter

    counts = Counter(paragraphs)
    lost = [t for t in expected if counts[t] == 0]
    doubled = [t for t, n in counts.items() if n > 1]
    unknown = [t for t in counts if t not in set(expected)]
    assert not lost and not doubled and not unknown, (lost[:10], doubled[:10], unknown[:10])


def assert_log_causal(database_url: str, document_id: str) -> None:
    """Every row of the document's update log applies with nothing missing after the rows
    before it: a row stored before its dependencies stays pending in every load, and
    pycrdt drops structs left pending long (NOTES.md), so a load would lack them."""
    import psycopg
    from pycrdt import Doc

    from collab.client_ids import state_vector
    from collab.update_guard import check_update

    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT seq, data FROM collab_documentupdate WHERE document_id = %s ORDER BY seq",
            (document_id,),
        ).fetchall()
    assert rows, "the log is empty"
    doc = Doc()
    for seq, data in rows:
        data = bytes(data)
        missing = check_update(data, max_depth=128).missing_dependencies(
            state_vector(doc.get_state())
        )
        assert not missing, f"log row {seq} is stored before its dependencies {missing[:3]}"
        doc.apply_update(data)


class Cluster:
    """Two (or more) Daphne processes on one database and a private Redis, behind a proxy."""

    def __init__(self, tmp_path: Path, database, redis: PrivateRedis, *, count=2, env=None):
        first = None
        self.servers: list[LiveServer] = []
        for _ in range(count):
            extra = {"REDIS_URL": redis.url, **(env or {})}
            if first is not None:
                extra["CHANNEL_PREFIX"] = first.env["CHANNEL_PREFIX"]
            server = LiveServer(tmp_path, database, extra_env=extra)
            first = first or server
            self.servers.append(server)
        self.balancer: TcpProxy | None = None

    def start(self, *, migrate_url: str | None = None) -> None:
        first = self.servers[0]
        if migrate_url:
            saved = first.env["DATABASE_URL"]
            first.env["DATABASE_URL"] = migrate_url
            first.migrate()
            first.env["DATABASE_URL"] = saved
        else:
            first.migrate()
        for server in self.servers:
            server.start()
        self.balancer = TcpProxy([s.port for s in self.servers])

    def stop(self) -> None:
        if self.balancer:
            self.balancer.close()
        for server in self.servers:
            server.terminate(timeout=20)


def fresh_copy(ws_base: str, document_id: str, token: str) -> list[str]:
    """What a client that connects now to that process gets."""
    client = PyClient(ws_base, document_id, token)
    try:
        client.wait_synced(20)
        return client.paragraphs()
    finally:
        client.close()
