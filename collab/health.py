"""GET /healthz: is this process able to serve (database query, channel layer round trip)?"""

import asyncio
import time
import uuid

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

# Each check gets this long; a load balancer's own timeout should be longer than both.
CHECK_TIMEOUT_SECONDS = 2.0

# One channel per process for the layer check (a new channel per request would leave a
# subscription behind on the pub/sub layer), and one check at a time on it.
_probe: dict = {"channel": None, "lock": None, "loop": None}


def _database_ok() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def _check_database() -> None:
    await asyncio.wait_for(database_sync_to_async(_database_ok)(), CHECK_TIMEOUT_SECONDS)


async def _check_channel_layer() -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    loop = asyncio.get_running_loop()
    if _probe["loop"] is not loop:
        _probe.update(channel=None, lock=asyncio.Lock(), loop=loop)
    async with _probe["lock"]:
        try:
            await asyncio.wait_for(_round_trip(layer), CHECK_TIMEOUT_SECONDS)
        except BaseException:
            # A cancelled receive() unsubscribes the channel (pub/sub layer): start afresh.
            _probe["channel"] = None
            raise


async def _round_trip(layer) -> None:
    if _probe["channel"] is None:
        _probe["channel"] = await layer.new_channel(prefix="healthz.")
    nonce = uuid.uuid4().hex
    await layer.send(_probe["channel"], {"type": "healthz", "nonce": nonce})
    while (await layer.receive(_probe["channel"])).get("nonce") != nonce:
        pass  # an answer to an earlier check that timed out


@never_cache
@require_GET
async def healthz(request: HttpRequest) -> JsonResponse:
    """200 {"status": "ok", "checks": {...}} or 503 naming the checks that failed."""
    checks = {}
    for name, check in (("database", _check_database), ("channel_layer", _check_channel_layer)):
        started = time.monotonic()
        try:
            await check()
        except TimeoutError:
            checks[name] = {"ok": False, "error": "timeout"}
        except Exception as exc:
            checks[name] = {"ok": False, "error": type(exc).__name__}
        else:
            checks[name] = {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}
    healthy = all(c["ok"] for c in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "fail", "checks": checks}, status=200 if healthy else 503
    )
