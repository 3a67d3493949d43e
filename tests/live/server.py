"""A real Daphne (or Uvicorn) process on loopback with its own database, driven as a black box."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveDatabase:
    """A database of its own: a temporary SQLite file, or a fresh PostgreSQL database when
    DATABASE_URL points at PostgreSQL (dropped afterwards)."""

    def __init__(self, tmp_path: Path):
        base = os.environ.get("DATABASE_URL", "")
        self.pg_admin_url = None
        if base.startswith(("postgres://", "postgresql://")):
            name = f"collab_live_{uuid.uuid4().hex[:12]}"
            self.pg_admin_url = base
            self.name = name
            head = base.rsplit("/", 1)[0]
            self.url = f"{head}/{name}"
            self._pg(f'CREATE DATABASE "{name}"')
        else:
            tmp_path.mkdir(parents=True, exist_ok=True)
            self.url = f"sqlite:///{tmp_path / 'live.sqlite3'}"

    @property
    def vendor(self) -> str:
        return "postgresql" if self.pg_admin_url else "sqlite"

    def _pg(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.pg_admin_url, autocommit=True) as conn:
            conn.execute(sql)

    def connection_count(self) -> int:
        """Connections open to this PostgreSQL database (its server's, and nobody else's)."""
        import psycopg

        with psycopg.connect(self.pg_admin_url, autocommit=True) as admin:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (self.name,)
            ).fetchone()
        return row[0]

    def drop(self) -> None:
        if self.pg_admin_url:
            self._pg(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# Incoming message (and frame) limit, as the Procfile sets it from COLLAB_MAX_MESSAGE_BYTES.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class LiveServer:
    # "daphne" or "uvicorn"; a test module may switch the default (tests/live/test_uvicorn.py).
    default_asgi_server = "daphne"

    def __init__(
        self,
        tmp_path: Path,
        database: LiveDatabase,
        *,
        extra_env: dict | None = None,
        asgi_server: str | None = None,
        ping_interval: int | None = None,
        ping_timeout: int | None = None,
    ):
        self.tmp_path = tmp_path
        self.database = database
        self.asgi_server = asgi_server or self.default_asgi_server
        if self.asgi_server not in ("daphne", "uvicorn"):
            raise ValueError(f"unknown ASGI server {self.asgi_server!r}")
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.port = free_port()
        self.log_path = tmp_path / f"{self.asgi_server}-{self.port}.log"
        self.process: subprocess.Popen | None = None
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DEBUG": "0",
            "DATABASE_URL": database.url,
            "CHANNEL_PREFIX": f"live{uuid.uuid4().hex[:8]}",
            "PYTHONUNBUFFERED": "1",
            # Live tests replay editing traces at thousands of updates a second, far above
            # the per-socket limits (tests/live/test_hostile.py tests those on a server of
            # its own): lift them here.
            "COLLAB_UPDATES_PER_SECOND": "1000000",
            "COLLAB_UPDATE_BURST": "1000000",
            "COLLAB_FRAMES_PER_SECOND": "1000000",
            "COLLAB_FRAME_BURST": "1000000",
            # Fan-out tests open many sockets as one account.
            "COLLAB_MAX_CONNECTIONS_PER_USER": "100000",
            "COLLAB_MAX_CONNECTIONS_PER_DOCUMENT": "100000",
            **(extra_env or {}),
        }

    # ---- management

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def migrate(self) -> None:
        self.manage("migrate", "--noinput", "-v", "0")

    def user_token(self, email: str) -> str:
        return self.manage("create_access_token", email, "--create-user").strip().splitlines()[-1]

    # ---- process

    def command(self) -> list[str]:
        """The server's command line, with the flags docs/deploy.md gives for production."""
        if self.asgi_server == "uvicorn":
            command = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1"]
            command += ["--port", str(self.port), "--ws", "websockets-sansio"]
            # "on": a lifespan failure stops the server instead of being logged and ignored.
            command += ["--lifespan", "on", "--ws-max-size", str(MAX_MESSAGE_BYTES)]
            # Its access log would write each socket's ?token= query string to the log.
            command += ["--no-access-log"]
            if self.ping_interval is not None:
                command += ["--ws-ping-interval", str(self.ping_interval)]
            if self.ping_timeout is not None:
                command += ["--ws-ping-timeout", str(self.ping_timeout)]
            return [*command, "config.asgi:application"]
        command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port)]
        command += ["--websocket-max-message-size", str(MAX_MESSAGE_BYTES)]
        # Daphne ≥ 4.2.3 also caps a single frame (1 MiB by default), and clients send
        # each message as one frame: without this a 2 MB paste is dropped silently.
        command += ["--websocket-max-frame-size", str(MAX_MESSAGE_BYTES)]
        if self.ping_interval is not None:
            command += ["--ping-interval", str(self.ping_interval)]
        if self.ping_timeout is not None:
            command += ["--ping-timeout", str(self.ping_timeout)]
        return [*command, "config.asgi:application"]

    def start(self, timeout: float = 30.0) -> None:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.command(),
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.asgi_server} exited early:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.asgi_server} did not start:\n{self.log()}")

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 30.0) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)
        if code == -signal.SIGTERM and self.asgi_server == "uvicorn":
            # Uvicorn re-raises the signal once it has shut down; only its last line says
            # whether the shutdown (lifespan flush included) finished.
            return 0 if "Finished server process" in self.log() else code
        return code

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except FileNotFoundError:
            return ""

    # ---- HTTP

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/documents"

    def api(self, method: str, path: str, token: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                return response.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, (json.loads(raw) if raw else None)

    def create_document(self, token: str, title: str = "Doc") -> str:
        status, body = self.api("POST", "/api/documents/", token, {"title": title, "kind": "text"})
        assert status == 201, body
        return body["id"]

    def content(self, token: str, document_id: str, fmt: str = "text"):
        status, body = self.api("GET", f"/api/documents/{document_id}/content?format={fmt}", token)
        assert status == 200, body
        return body["content"]

    def content_when(self, token: str, document_id: str, fmt: str, ready, timeout: float = 10.0):
        """The stored content once ``ready(content)`` holds (or the last one read at the
        timeout): rooms relay updates at once and write them within COLLAB_FLUSH_DELAY."""
        deadline = time.monotonic() + timeout
        while True:
            content = self.content(token, document_id, fmt)
            if ready(content) or time.monotonic() > deadline:
                return content
            time.sleep(0.1)
