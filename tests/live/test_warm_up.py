"""A process opens its database connection and its channel layer when it starts, not when
the first person opens a document (collab/warm_up.py)."""

import os
import time

import pytest
import redis

pytestmark = pytest.mark.live


def _eventually(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("asgi_server", ["daphne", "uvicorn"])
def test_database_and_layer_are_connected_before_the_first_request(postgres_server, asgi_server):
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        if os.environ.get("CI"):
            pytest.fail("CI sets REDIS_URL")
        pytest.skip("needs REDIS_URL (CI always sets it)")
    # start() waits for the port only: no request is made
    server = postgres_server(asgi_server, extra_env={"REDIS_URL": redis_url})
    prefix = server.env["CHANNEL_PREFIX"]
    subscriptions = redis.Redis.from_url(redis_url)
    assert _eventually(lambda: subscriptions.pubsub_channels(f"*{prefix}*")), server.log()
    assert _eventually(lambda: server.database.connection_count() >= 1), server.log()
    assert "warm-up" not in server.log()
