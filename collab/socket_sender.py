"""Sending to one socket without waiting for it: a slow reader must not hold up its room.

Daphne buffers whatever a consumer sends, so its send() never waits. Uvicorn's does while
the client's TCP buffer is full (websockets' flow control), and a room relays to its
sockets one after the other: one reader that stopped reading would stall every relay and,
behind them, every writer of the document. So a send runs inline while it completes
without suspending (always under Daphne, almost always under Uvicorn); when it does
suspend, it finishes in a task and the socket's later messages queue behind it, in
order, up to a cap: a reader that far behind is cut off (it reconnects and re-syncs, which
costs one compact sync step 2 instead of every update it missed).
"""

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


class SocketSender:
    def __init__(
        self,
        send: Callable[[dict], Awaitable[None]],
        *,
        max_backlog_bytes: int,
        on_overflow: Callable[[], None],
    ) -> None:
        self._send = send
        self._max_backlog_bytes = max_backlog_bytes
        self._on_overflow = on_overflow
        self._backlog: collections.deque[dict] = collections.deque()
        self._backlog_bytes = 0
        self._task: asyncio.Task | None = None
        self.overflowed = False

    @property
    def idle(self) -> bool:
        """Nothing waits to be sent: a send now goes out in order."""
        return self._task is None

    @property
    def backlog_bytes(self) -> int:
        return self._backlog_bytes

    def send(self, message: dict) -> None:
        """Send now if the socket takes it at once, else queue it behind the waiting send.
        Raises what the send raised if it failed without waiting (a closed socket)."""
        if self.overflowed:
            return
        if self._task is not None:
            self._backlog.append(message)
            self._backlog_bytes += len(message.get("bytes") or b"")
            if self._backlog_bytes > self._max_backlog_bytes:
                self.overflowed = True
                self._backlog.clear()
                self._backlog_bytes = 0
                self._on_overflow()
            return
        sending = self._send(message)
        if not asyncio.iscoroutine(sending):
            sending = _awaited(sending)  # an awaitable that is not a coroutine
        try:
            waiting_on = sending.send(None)
        except StopIteration:
            return
        self._task = asyncio.ensure_future(self._finish(sending, waiting_on))

    async def _finish(self, sending, waiting_on) -> None:
        try:
            await _resume(sending, waiting_on)
            while self._backlog and not self.overflowed:
                message = self._backlog.popleft()
                self._backlog_bytes -= len(message.get("bytes") or b"")
                await self._send(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.debug("send to a closing socket failed", exc_info=True)
            self._backlog.clear()
            self._backlog_bytes = 0
        finally:
            self._task = None

    def cancel(self) -> None:
        self._backlog.clear()
        self._backlog_bytes = 0
        if self._task is not None:
            self._task.cancel()


async def _resume(coroutine, waiting_on) -> None:
    """Drive a coroutine that suspended (on the future ``waiting_on``) when stepped by hand,
    as its task would have: wait for each future it yields, then step it again."""
    while True:
        if waiting_on is None:
            await asyncio.sleep(0)  # a bare yield: it only gave the loop a turn
        else:
            try:
                # asyncio.wait neither raises the future's exception (the coroutine reads
                # it when stepped) nor cancels the future if this task is cancelled.
                await asyncio.wait((waiting_on,))
            except asyncio.CancelledError:
                coroutine.close()
                raise
        try:
            waiting_on = coroutine.send(None)
        except StopIteration:
            return


async def _awaited(awaitable) -> None:
    await awaitable
