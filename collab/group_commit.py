"""Group commit: database writes that arrive while a transaction runs share the next one."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async


class GroupCommit:
    """Coalesces callers' writes into one transaction per round, in channels' database thread.

    Each caller hands over its item and waits; whatever arrives while a transaction runs
    goes into the next one. With many rooms each writing a little, that is one commit per
    round instead of one per caller (the database thread is shared, so per-caller
    transactions would queue behind each other anyway). Subclasses say how a round is
    written (`write_many`, sync).
    """

    def __init__(self) -> None:
        self._waiting: list[tuple[object, asyncio.Future]] = []
        self._task: asyncio.Task | None = None

    def executor(self) -> ThreadPoolExecutor | None:
        """Where rounds run: None for channels' database thread (the default); a subclass
        may give them a thread of their own."""
        return None

    def write_many(self, items: list) -> list:
        """Write ``items`` in one transaction; one result (or Exception) per item, in order.
        Raising fails every item of the round (the database is down: nothing was written)."""
        raise NotImplementedError

    async def submit(self, item):
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        while self._waiting:
            round_, self._waiting = self._waiting, []
            # A caller cancelled meanwhile (its room stopped): nothing of its is written.
            round_ = [entry for entry in round_ if not entry[1].done()]
            if not round_:
                continue
            executor = self.executor()
            write = database_sync_to_async(
                self.write_many, thread_sensitive=executor is None, executor=executor
            )
            try:
                results = await write([item for item, _ in round_])
            except asyncio.CancelledError:
                for _, future in round_:
                    if not future.done():
                        future.cancel()
                raise
            except Exception as exc:
                for _, future in round_:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(round_, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
