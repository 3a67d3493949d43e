"""Per-socket limits: frame rates (token buckets), connections per user and document, idling."""

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings

# Close codes (docs/protocol.md). Refusals a client would repeat deterministically (a frame
# too big, a flood) use 44xx: y-websocket 3 stops reconnecting on 4400-4499 and the page
# shows the reason; the idle close is outside that range because a client that merely went
# quiet (a frozen tab) should come back.
CLOSE_TOO_BIG = 4413
CLOSE_TOO_MANY = 4429
CLOSE_IDLE = 4008
# A reader so far behind that its unsent messages pass COLLAB_SEND_BACKLOG_BYTES
# (collab/socket_sender.py): it reconnects and re-syncs.
CLOSE_TOO_SLOW = 4009


class TokenBucket:
    """``rate`` tokens a second, holding at most ``burst``; a take fails once it is empty.

    The clock is injectable so tests step time instead of sleeping.
    """

    __slots__ = ("burst", "clock", "rate", "tokens", "updated")

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.clock = clock
        self.updated = clock()

    def take(self, n: float = 1.0) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < n:
            return False
        self.tokens -= n
        return True


@dataclass(slots=True)
class FrameLimiter:
    """One socket's budgets: every frame takes from ``frames``, each update also from
    ``updates``. ``refusal`` says which ran out (None while both hold)."""

    frames: TokenBucket
    updates: TokenBucket

    @classmethod
    def from_settings(cls, clock: Callable[[], float] = time.monotonic) -> "FrameLimiter":
        limits = settings.COLLAB
        return cls(
            frames=TokenBucket(limits["FRAMES_PER_SECOND"], limits["FRAME_BURST"], clock),
            updates=TokenBucket(limits["UPDATES_PER_SECOND"], limits["UPDATE_BURST"], clock),
        )

    def frame(self) -> str | None:
        return None if self.frames.take() else "too many messages"

    def update(self) -> str | None:
        return None if self.updates.take() else "too many updates"


@dataclass
class ConnectionCounts:
    """Open document sockets of this process, by user and by document.

    Per process on purpose: a shared count (Redis) would leak on every crash; with N
    processes the effective limit is at most N times the setting.
    """

    by_user: Counter = field(default_factory=Counter)
    by_document: Counter = field(default_factory=Counter)

    def admit(self, *, user_id: int, document_id: str) -> str | None:
        """Count a new socket in, or say why it is refused (and count nothing)."""
        limits = settings.COLLAB
        if self.by_user[user_id] >= limits["MAX_CONNECTIONS_PER_USER"]:
            return "too many connections for this account"
        if self.by_document[document_id] >= limits["MAX_CONNECTIONS_PER_DOCUMENT"]:
            return "too many connections to this document"
        self.by_user[user_id] += 1
        self.by_document[document_id] += 1
        return None

    def release(self, *, user_id: int, document_id: str) -> None:
        self.by_user[user_id] -= 1
        if self.by_user[user_id] <= 0:
            del self.by_user[user_id]
        self.by_document[document_id] -= 1
        if self.by_document[document_id] <= 0:
            del self.by_document[document_id]


_counts: dict[asyncio.AbstractEventLoop, ConnectionCounts] = {}


def connection_counts() -> ConnectionCounts:
    """This event loop's counts (one loop per process under Daphne; tests run many)."""
    loop = asyncio.get_running_loop()
    counts = _counts.get(loop)
    if counts is None:
        # Forget counts of loops that are gone (tests create one per test).
        for old in [lp for lp in _counts if lp.is_closed()]:
            del _counts[old]
        counts = _counts[loop] = ConnectionCounts()
    return counts


async def close_when_idle(
    last_frame_at: Callable[[], float],
    close: Callable[[], object],
    *,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Await ``close()`` once no frame arrived for ``timeout`` seconds.

    Checks a few times per timeout instead of resetting a timer per frame: a frame costs
    one float assignment in the consumer.
    """
    while True:
        quiet = clock() - last_frame_at()
        if quiet >= timeout:
            await close()
            return
        await asyncio.sleep(max(timeout - quiet, timeout / 10))


def oversized_awareness(update: bytes) -> bool:
    return len(update) > settings.COLLAB["MAX_AWARENESS_BYTES"]
