"""Two Daphne processes on PostgreSQL and a private Redis, with faults injected while people type.

Every test types unique tokens (one paragraph each) from real JS and pycrdt clients that
connect through a round-robin proxy (a load balancer without stickiness), injects one fault,
and then requires every client, a fresh client on every surviving process, and the database
to hold each token exactly once. Bounds measured here are printed as MEASURED lines.
"""

import time
from urllib.parse import urlsplit, urlunsplit

import pytest

from .clients import JSClient
from .faults import (
    Cluster,
    PrivateRedis,
    RetryingPyClient,
    TcpProxy,
    Typist,
    assert_exactly_once,
    assert_log_causal,
    fresh_copy,
    wait_converged,
)

pytestmark = pytest.mark.live

# Fast rounds so a test sees several within seconds (defaults: 2 s, 15 s).
FAST = {
    "COLLAB_ANTI_ENTROPY_INTERVAL": "1",
    "COLLAB_PEER_TIMEOUT": "6",
}


@pytest.fixture
def make_cluster(tmp_path, live_database_factory):
    made = []

    def make(*, database_proxy: bool = False, env: dict | None = None):
        database = live_database_factory("postgresql")
        redis = PrivateRedis(tmp_path)
        redis.start()
        db_proxy = None
        direct_url = database.url
        if database_proxy:
            parts = urlsplit(database.url)
            db_proxy = TcpProxy([parts.port or 5432])
            netloc = parts.netloc.rsplit("@", 1)
            host = f"127.0.0.1:{db_proxy.port}"
            database.url = urlunsplit(
                parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host)
            )
        cluster = Cluster(tmp_path, database, redis, env={**FAST, **(env or {})})
        cluster.redis = redis
        cluster.db_proxy = db_proxy
        made.append(cluster)
        cluster.start(migrate_url=direct_url)
        cluster.token = cluster.servers[0].user_token("ann@example.com")
        cluster.document_id = cluster.servers[0].create_document(cluster.token, "Faults")
        return cluster

    yield make
    for cluster in made:
        cluster.stop()
        if cluster.db_proxy:
            cluster.db_proxy.close()
        cluster.redis.kill()


def open_clients(cluster, js: int = 6, py: int = 4) -> list:
    """Clients through the balancer: consecutive connections alternate between processes."""
    base = cluster.balancer.ws_base
    # Pairs of a kind (js js py py ...): each process gets both kinds.
    kinds = []
    while len(kinds) < js + py:
        for kind, total in (("js", js), ("py", py)):
            kinds += [kind] * min(2, total - kinds.count(kind))
    clients = []
    try:
        for kind in kinds:
            if kind == "js":
                client = JSClient(base, cluster.document_id, cluster.token)
                client.call("wait_synced", timeout=20)
            else:
                client = RetryingPyClient(base, cluster.document_id, cluster.token)
                client.wait_synced(20)
            clients.append(client)
    except BaseException:
        close_all(clients)
        raise
    return clients


def close_all(clients) -> None:
    for client in clients:
        client.close()


def type_through(clients, fault, *, before: float = 1.5, after: float = 1.5) -> list[str]:
    """Everyone types; the fault happens mid-way; returns every token typed."""
    typists = [Typist(c, f"t{i}", pause=0.1).start() for i, c in enumerate(clients)]
    time.sleep(before)
    fault()
    time.sleep(after)
    typed = [token for typist in typists for token in typist.stop()]
    errors = [e for typist in typists for e in typist.errors]
    assert not errors, errors
    return typed


def check_everywhere(cluster, clients, typed, servers) -> float:
    """Every client, a fresh client on each given process, and the database agree."""
    seconds = wait_converged(clients, typed)
    for server in servers:
        assert_exactly_once(fresh_copy(server.ws_base, cluster.document_id, cluster.token), typed)
    # Relayed updates are written within COLLAB_FLUSH_DELAY by the process that took them,
    # or, if it died first, by the survivor once the dead one is PEER_TIMEOUT silent.
    expected = sorted(typed)
    content = servers[0].content_when(
        cluster.token,
        cluster.document_id,
        "text",
        lambda c: sorted(c.split("\n")) == expected,
        timeout=30,
    )
    assert_exactly_once(content.split("\n"), typed)
    assert_log_causal(servers[0].database.url, cluster.document_id)
    for client in clients:
        assert_exactly_once(
            client.call("paragraphs")["paragraphs"]
            if isinstance(client, JSClient)
            else client.paragraphs(),
            typed,
        )
    return seconds


def test_ten_clients_on_two_processes_converge(make_cluster):
    cluster = make_cluster()
    clients = open_clients(cluster, js=6, py=4)
    try:
        typed = type_through(clients, lambda: None)
        check_everywhere(cluster, clients, typed, cluster.servers)
    finally:
        close_all(clients)


def test_kill9_of_a_process_loses_and_doubles_nothing(make_cluster):
    cluster = make_cluster()
    clients = open_clients(cluster, js=6, py=4)
    try:
        typed = type_through(clients, cluster.servers[0].kill9, after=3.0)
        seconds = check_everywhere(cluster, clients, typed, cluster.servers[1:])
        print(f"MEASURED kill9: {len(typed)} tokens, converged {seconds:.1f}s after typing")
    finally:
        close_all(clients)


def test_sigterm_loses_nothing_and_clients_continue_on_the_other_process(make_cluster):
    cluster = make_cluster()
    clients = open_clients(cluster, js=6, py=4)
    try:
        typed = type_through(clients, lambda: cluster.servers[0].terminate(), after=3.0)
        assert cluster.servers[0].process.returncode is not None
        assert "flushed" in cluster.servers[0].log()
        seconds = check_everywhere(cluster, clients, typed, cluster.servers[1:])
        print(f"MEASURED sigterm: {len(typed)} tokens, converged {seconds:.1f}s after typing")
    finally:
        close_all(clients)


def test_redis_restart_is_repaired_by_anti_entropy(make_cluster):
    cluster = make_cluster()
    clients = open_clients(cluster, js=6, py=4)
    restarted = {}

    def restart_redis():
        cluster.redis.restart(down_seconds=2.0)
        restarted["at"] = time.monotonic()

    try:
        typed = type_through(clients, restart_redis, after=2.0)
        seconds = check_everywhere(cluster, clients, typed, cluster.servers)
        since_restart = time.monotonic() - restarted["at"]  # upper bound, checks included
        print(
            f"MEASURED redis restart: {len(typed)} tokens, identical {seconds:.1f}s after "
            f"typing stopped (<= {since_restart:.1f}s after Redis was back)"
        )
        repairs = repair_rounds(cluster)
        print("MEASURED redis restart repair rounds:", repairs)
        # Relays flow through Redis again (the pub/sub layer re-subscribed): a new edit
        # reaches the other process without an anti-entropy repair (which lags a round).
        js = [c for c in clients if isinstance(c, JSClient)]
        js[0].call("append_paragraph", text="after-restart")
        for client in js[1:]:
            client.call("wait_paragraphs", count=len(typed) + 1, timeout=20)
        time.sleep(2.5)  # two anti-entropy rounds: a repair would have been logged by now
        assert repair_rounds(cluster) == repairs
    finally:
        close_all(clients)


def repair_rounds(cluster) -> int:
    logs = "".join(s.log_path.read_text(errors="replace") for s in cluster.servers)
    return logs.count("anti-entropy: applied")


def test_postgresql_cut_mid_editing_loses_nothing(make_cluster):
    cluster = make_cluster(database_proxy=True)
    clients = open_clients(cluster, js=6, py=4)

    def cut_for_a_while():
        cluster.db_proxy.cut()
        time.sleep(3.0)
        cluster.db_proxy.restore()

    try:
        typed = type_through(clients, cut_for_a_while, after=2.0)
        seconds = check_everywhere(cluster, clients, typed, cluster.servers)
        print(f"MEASURED postgres cut 3s: {len(typed)} tokens, stored {seconds:.1f}s after")
    finally:
        close_all(clients)
    logs = "".join(s.log_path.read_text(errors="replace") for s in cluster.servers)
    assert "failed (attempt" in logs  # the cut really hit the writers


def test_a_dead_process_cursors_vanish_from_the_other_process(make_cluster):
    cluster = make_cluster()
    first, second = cluster.servers
    # Directly on the first process: once it is dead this client stays away (a ghost).
    ghost = JSClient(first.ws_base, cluster.document_id, cluster.token)
    # Through a balancer that tries the first process first: this one fails over.
    balancer = TcpProxy([first.port, second.port])
    mover = JSClient(balancer.ws_base, cluster.document_id, cluster.token)
    watcher = JSClient(second.ws_base, cluster.document_id, cluster.token)
    opened = [ghost, mover, watcher]
    try:
        for client in opened:
            client.call("wait_synced", timeout=20)
        ghost.call("set_awareness", state={"user": {"name": "g", "color": "#000"}, "cursor": 7})
        mover.call("set_awareness", state={"user": {"name": "m", "color": "#000"}, "cursor": 8})

        def cursors(client):
            return sorted(p["cursor"] for p in client.call("peers")["peers"] if "cursor" in p)

        deadline = time.monotonic() + 20
        while cursors(watcher) != [7, 8]:
            assert time.monotonic() < deadline, "the cursors never crossed processes"
            time.sleep(0.1)
        first.kill9()
        killed = time.monotonic()
        # y-protocols clients drop an unrenewed state after 30 s by themselves: the server
        # must remove it well before that (PEER_TIMEOUT 6 s here, plus one round).
        while 7 in cursors(watcher):
            assert time.monotonic() - killed < 25, "ghost cursor still shown"
            time.sleep(0.2)
        vanished = time.monotonic() - killed
        # The client that reconnected to the second process keeps its cursor.
        assert cursors(watcher) == [8]
        late = JSClient(second.ws_base, cluster.document_id, cluster.token)
        opened.append(late)
        late.call("wait_synced", timeout=20)
        deadline = time.monotonic() + 10
        while cursors(late) != [8]:  # the room's states arrive right after the sync
            assert time.monotonic() < deadline, cursors(late)
            time.sleep(0.1)
        print(f"MEASURED ghost cursor vanished {vanished:.1f}s after kill -9 (PEER_TIMEOUT=6)")
    finally:
        close_all(opened)
        balancer.close()


def test_updates_relayed_during_a_database_outage_survive_their_process(make_cluster):
    cluster = make_cluster(database_proxy=True)
    first, second = cluster.servers
    author = JSClient(first.ws_base, cluster.document_id, cluster.token)
    reader = JSClient(second.ws_base, cluster.document_id, cluster.token)
    try:
        for client in (author, reader):
            client.call("wait_synced", timeout=20)
        # Both presences settled (their first awareness claims an id in the database).
        author.call("set_awareness", state={"user": {"name": "a"}, "cursor": 1})
        reader.call("set_awareness", state={"user": {"name": "r"}, "cursor": 2})
        for client in (author, reader):
            client.call("wait_peers", count=1, timeout=20)
        cluster.db_proxy.cut()
        tokens = [f"only-in-memory-{i}" for i in range(20)]
        for token in tokens:
            author.call("append_paragraph", text=token)
        reader.call("wait_paragraphs", count=len(tokens), timeout=20)
        # The author's process dies with them unwritten, and its client never comes back.
        first.kill9()
        author.close()
        # The second process adopts them after PEER_TIMEOUT, the database still down...
        deadline = time.monotonic() + 30
        while "adopting 20 uncommitted updates" not in second.log_path.read_text(errors="replace"):
            assert time.monotonic() < deadline, "the second process never adopted them"
            time.sleep(0.2)
        # ...and writes them once it is back.
        cluster.db_proxy.restore()
        deadline = time.monotonic() + 40
        while True:
            content = second.content(cluster.token, cluster.document_id)
            if content.split("\n") != [""] and len(content.split("\n")) >= len(tokens):
                break
            assert time.monotonic() < deadline, content
            time.sleep(0.5)
        assert_exactly_once(content.split("\n"), tokens)
    finally:
        author.close()
        reader.close()


def test_healthz_names_the_failing_dependency(make_cluster):
    import json
    import urllib.error
    import urllib.request

    cluster = make_cluster(database_proxy=True)
    server = cluster.servers[0]

    def health():
        url = f"http://127.0.0.1:{server.port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    status, body = health()
    assert status == 200 and body["status"] == "ok", body
    cluster.db_proxy.cut()
    status, body = health()
    assert status == 503 and not body["checks"]["database"]["ok"], body
    assert body["checks"]["channel_layer"]["ok"], body
    cluster.db_proxy.restore()
    cluster.redis.kill()
    status, body = health()
    assert status == 503 and not body["checks"]["channel_layer"]["ok"], body
    assert body["checks"]["database"]["ok"], body
    cluster.redis.start()
    deadline = time.monotonic() + 20
    while health()[0] != 200:
        assert time.monotonic() < deadline, "healthz did not recover with Redis"
        time.sleep(0.5)
