"""One group commit for every room of a process: appends queued together share a transaction."""

from . import history, store
from .group_commit import GroupCommit


class LogWriter(GroupCommit):
    """Coalesces rooms' appends to the update log (one commit per round, not per room)."""

    def __init__(self) -> None:
        super().__init__()
        # Its appends are in order per document: it may remember the newest edit sessions.
        self._sessions = history.NewestSessions()

    async def append(self, document_id, updates: list[store.PendingUpdate]) -> int:
        """The last sequence number of ``updates`` once committed; raises DocumentGone, or
        what the transaction raised (the database is down: nothing was written)."""
        return await self.submit((document_id, updates))

    def write_many(self, items: list) -> list:
        return store.updates_append_many(items, self._sessions)
