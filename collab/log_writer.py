"""One group commit for every room of a process: appends queued together share a transaction."""

import asyncio
import logging

from channels.db import database_sync_to_async

from . import history, store

logger = logging.getLogger(__name__)


class LogWriter:
    """Coalesces rooms' appends to the update log.

    Each room's writer hands over its batch and waits; whatever batches arrive while a
    transaction runs go into the next one. With many rooms each typing a few keys a
    second, that is one commit per round instead of one per room (the database thread
    is shared, so per-room transactions queued behind each other anyway).
    """

    def __init__(self) -> None:
        self._waiting: list[tuple[object, list[store.PendingUpdate], asyncio.Future]] = []
        self._task: asyncio.Task | None = None
        # Its appends are in order per document: it may remember the newest edit sessions.
        self._sessions = history.NewestSessions()

    async def append(self, document_id, updates: list[store.PendingUpdate]) -> int:
        """The last sequence number of ``updates`` once committed; raises DocumentGone, or
        what the transaction raised (the database is down: nothing was written)."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((document_id, updates, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        while self._waiting:
            round_, self._waiting = self._waiting, []
            # A caller cancelled meanwhile (its room stopped): nothing of its is written.
            round_ = [entry for entry in round_ if not entry[2].done()]
            if not round_:
                continue
            try:
                results = await database_sync_to_async(store.updates_append_many)(
                    [(document_id, updates) for document_id, updates, _ in round_],
                    self._sessions,
                )
            except asyncio.CancelledError:
                for *_, future in round_:
                    if not future.done():
                        future.cancel()
                raise
            except Exception as exc:
                for *_, future in round_:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, _, future), result in zip(round_, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
