"""Open the database connection and the channel layer when a process starts, not on the
first socket: the first person to open a document after a deploy should not wait for them."""

import asyncio
import logging
import sys

from django.conf import settings

from . import heap

logger = logging.getLogger(__name__)

WARM_UP_TIMEOUT_SECONDS = 5.0


async def warm_up() -> None:
    """The health checks' database query and channel-layer round trip (collab/health.py),
    then the garbage collector's settings for a long-running server (collab/heap.py).

    The layer's round trip also keeps one subscription open for the process: with none,
    channels-redis' pub/sub receiver sleeps 0.1 s before it reads its first message.
    A failure is logged, never raised: a server whose database or Redis is down at start
    still serves (and retries) as it does later.
    """
    from .health import _check_channel_layer, _check_database, _database_ok
    from .rooms import _in_own_thread

    async def _check_load_thread() -> None:
        # Loads run in a worker thread of their own (PostgreSQL): an idle pool thread is
        # reused, so the first load finds this connection open.
        await _in_own_thread(_database_ok)()

    for check in (_check_database, _check_load_thread, _check_channel_layer):
        try:
            await asyncio.wait_for(check(), WARM_UP_TIMEOUT_SECONDS)
        except Exception as exc:
            logger.warning("warm-up %s failed: %r", check.__name__, exc)
    # Last: what start-up and the checks loaded stays for the process's whole life.
    heap.settle(settings.COLLAB["GC_OLDEST_THRESHOLD"])


def warm_up_when_running() -> None:
    """Under Daphne (no ASGI startup event), warm up once its reactor runs; Uvicorn's
    lifespan startup calls warm_up() itself."""
    if "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import reactor

    reactor.callWhenRunning(lambda: asyncio.ensure_future(warm_up()))
