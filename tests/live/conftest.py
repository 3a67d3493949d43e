"""Fixtures for live tests: a Daphne process with its own database, and users with tokens."""

import os

import pytest

from .server import LiveDatabase, LiveServer

PG_DEFAULT = "postgres://postgres@127.0.0.1:5432/postgres"


def _postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        return url
    if os.environ.get("CI"):
        pytest.fail("CI must run the PostgreSQL live tests (set DATABASE_URL)")
    try:
        import psycopg

        with psycopg.connect(PG_DEFAULT, connect_timeout=2):
            return PG_DEFAULT
    except Exception:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (CI always runs these)")


@pytest.fixture
def live_database_factory(tmp_path, monkeypatch):
    made = []

    def make(vendor: str = "default") -> LiveDatabase:
        if vendor == "postgresql":
            monkeypatch.setenv("DATABASE_URL", _postgres_url())
        elif vendor == "sqlite":
            monkeypatch.delenv("DATABASE_URL", raising=False)
        database = LiveDatabase(tmp_path / f"db{len(made)}")
        (tmp_path / f"db{len(made)}").mkdir(exist_ok=True)
        made.append(database)
        return database

    yield make
    for database in made:
        database.drop()


@pytest.fixture
def postgres_server(tmp_path, live_database_factory):
    """start(asgi_server, **LiveServer options): a migrated, started server on a PostgreSQL
    database of its own (server.database), terminated after the test."""
    started = []

    def start(asgi_server: str = "daphne", **options) -> LiveServer:
        server = LiveServer(
            tmp_path, live_database_factory("postgresql"), asgi_server=asgi_server, **options
        )
        started.append(server)
        server.migrate()
        server.start()
        return server

    yield start
    for server in started:
        server.terminate()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """One server (and database) shared by a module's tests, with three users."""
    tmp_path = tmp_path_factory.mktemp("live")
    database = LiveDatabase(tmp_path)
    server = LiveServer(tmp_path, database)
    server.migrate()
    server.start()
    server.tokens = {
        name: server.user_token(f"{name}@example.com") for name in ("ann", "bob", "val")
    }
    yield server
    server.terminate()
    database.drop()
