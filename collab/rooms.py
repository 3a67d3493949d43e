"""Live rooms: one pycrdt Doc and awareness per document per process, and the registry of them.

A room is the only path in and out of a live document in this process. Client updates
are checked, applied to the Doc, queued for the store, and relayed to the room's other
connections and to every other process's copy of the room once their batch is committed
(so anything a collaborator has seen is already on disk). Updates from other processes
arrive through the channel layer and go only to local connections: the process that
received an update from a client is the one that stores it.
"""

import asyncio
import logging
import os
import time
import uuid
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import DatabaseError, connections
from django.utils import timezone
from pycrdt import Awareness, Doc

from accounts.socket_sessions import SESSIONS_GROUP, connection_matches

from . import protocol, store, webhooks
from .broadcast import room_group
from .client_ids import (
    ClaimWriter,
    ClientIdOwners,
    StateVectorCache,
    awareness_entries,
    awareness_update_of,
)
from .depth_map import DepthMap
from .last_seq_reader import LastSeqReader
from .limits import CLOSE_IDLE, CLOSE_TOO_BIG, CLOSE_TOO_MANY  # noqa: F401 (close codes)
from .log_writer import LogWriter
from .update_guard import UpdateRejected, UpdateShape, check_update

logger = logging.getLogger(__name__)

# Documented close codes (docs/protocol.md).
CLOSE_ROLE_CHANGED = 4100
CLOSE_MALFORMED = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_DOCUMENT_GONE = 4404
CLOSE_SERVER_ERROR = 1011

# Updates written per transaction at most; a bigger backlog is written in several.
MAX_BATCH = 2000
# Updates above this size are checked and applied off the event loop (Room.receive_update).
LARGE_UPDATE_BYTES = 64 * 1024
# Diagnostic switch for bench/large_documents.py's "before" run: keep the heavy pycrdt work
# of sync (encoding sync step 2, applying large updates) on the event loop and encode for
# every joiner, as it once was.
HEAVY_WORK_ON_LOOP = os.environ.get("COLLAB_HEAVY_WORK_ON_LOOP") == "1"
# The state vector of a client that has nothing yet (no client ids).
EMPTY_STATE_VECTOR = b"\x00"
# How often a room re-joins its group: Redis may have restarted and forgotten it.
GROUP_REFRESH_SECONDS = 60.0


# Seconds after a load at most before the room's depth map is built, and after the first
# joiner's sync step 2 (see Room._build_depths).
DEPTH_MAP_DELAY = 1.0
DEPTH_MAP_SETTLE = 0.25

# Log rows one anti-entropy round fetches at most; a longer gap takes several rounds.
REPAIR_BATCH = 5000


def flush_wait(now: float, flush_delay: float) -> float:
    """How long a room gathers before writing: until the first tick of one clock for the
    whole process that is at least half the delay away (ticks every half delay), so
    between flush_delay / 2 and flush_delay.

    Rooms that gathered during the same tick write together: their batches meet in one
    LogWriter round, one transaction. Each room waiting its own full delay spread the
    commits out, one per room (W2 at 12 rooms: ~60 transactions/s instead of ~10; fewer
    transactions cut the server's CPU per keystroke by ~20 %, docs/benchmarks.md)."""
    tick = flush_delay / 2
    return tick + (-(now + tick)) % tick


def until_next_tick(now: float, period: float) -> float:
    """Seconds until the next tick of a clock that ticks every ``period`` (never 0): the
    process's rooms run their anti-entropy rounds together, so that their reads coalesce
    (collab/last_seq_reader.py)."""
    return period - now % period


def _in_own_thread(work):
    """database_sync_to_async in a worker thread of its own, for loads and compaction that
    take long: not in the one thread where every room's commits (and every socket's
    sign-in) queue. SQLite keeps to that thread: its connections lock each other out
    (and an in-memory test database's shared cache fails at once instead of waiting)."""
    shared = connections["default"].vendor == "sqlite"
    return database_sync_to_async(work, thread_sensitive=shared)


def _setting(name: str, default: float) -> float:
    return float(settings.COLLAB.get(name, default))


class Connection(Protocol):
    """What a room needs from a socket (the consumer implements it)."""

    user_id: int | None
    # The session or personal access token the socket was opened with, as
    # accounts.socket_sessions.credential_key gives it: ending that closes the socket.
    session_key: str | None
    user_name: str
    user_color: str
    role: str

    def send_frame(self, frame: bytes) -> None:
        """Send or queue ``frame``; never waits (rooms send relays in order without locks)."""

    async def close_with(self, code: int, reason: str) -> None: ...


class MissingDependencies(ValueError):
    """The update builds on structs this room lacks: yrs would keep it pending, silently."""


class ApplyFailed(ValueError):
    """pycrdt refused an update (malformed), or panicked on it."""


def apply_safely(doc: Doc, update: bytes) -> None:
    """Apply an update, turning every pycrdt failure (including Rust panics) into ApplyFailed."""
    try:
        doc.apply_update(update)
    except (KeyboardInterrupt, SystemExit, asyncio.CancelledError, GeneratorExit):
        raise
    except BaseException as exc:
        # pyo3's PanicException derives from BaseException, not Exception.
        raise ApplyFailed(f"update refused: {exc}") from exc


def diff_safely(doc: Doc, state_vector: bytes) -> bytes:
    try:
        return doc.get_update(state_vector)
    except (KeyboardInterrupt, SystemExit, asyncio.CancelledError, GeneratorExit):
        raise
    except BaseException as exc:
        raise ApplyFailed(f"state vector refused: {exc}") from exc


@dataclass(slots=True, eq=False)
class _Queued:
    pending: store.PendingUpdate
    sender: Connection | None
    # Sent to this process's sockets.
    relayed: bool = False
    # Sent to other processes: with its commit, or before it while the database is down.
    shared: bool = False
    # Numbered when shared before it was committed (the database was down); 0 otherwise.
    uncommitted_no: int = 0
    # Another process's update, shared before its commit and applied here: queued only to
    # keep the log in causal order (see _next_batch). Ours to write once that process
    # goes silent (_expire_peers).
    foreign: bool = False
    # A foreign update that is on disk (its process announced the commit, or we wrote it).
    settled: bool = False
    queued: bool = False


@dataclass(slots=True)
class _Peer:
    """Another process holding this room, as seen through the channel layer."""

    last_heard: float
    # Awareness client ids whose latest state came through that process.
    client_ids: set = field(default_factory=set)
    # (number, _Queued) it shared before committing them, oldest first: ours to write if
    # it dies.
    uncommitted: list = field(default_factory=list)


@dataclass(eq=False)
class Room:
    document_id: str
    registry: "RoomRegistry"
    doc: Doc = field(default_factory=Doc)
    connections: set = field(default_factory=set)
    channel_name: str | None = None
    loaded: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        # The awareness only borrows the doc's client id; the server has no presence itself.
        self._new_awareness(self.doc)
        self._client_ids: dict[Connection, set[int]] = {}
        self._owner_of_client: dict[int, Connection] = {}
        # What to write, in the order it entered self.doc (see _next_batch).
        self._queue: list[_Queued] = []
        self._foreign_queued = False
        # Accepted client updates not yet sent to local sockets (receive_update does it at
        # once).
        self._unrelayed: list[_Queued] = []
        # Update and commit messages for other processes, in order, sent by one task
        # (_drain_outbox) that merges what queued up while the previous send ran.
        self._outbox: list[dict] = []
        self._outbox_task: asyncio.Task | None = None
        self._early_messages: list[dict] = []
        self._wake = asyncio.Event()
        # Set while someone waits for the queue to be written: skip the gathering delay.
        self._urgent = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.write_failures = 0
        self._written_since_compaction = 0
        self._compaction: asyncio.Task | None = None
        self._group_joined = True
        self.gone = False
        # Hostile-socket guards (collab/client_ids.py): who owns which Yjs client id, the
        # one awareness id each socket speaks for, and re-sync requests per socket.
        self.client_id_owners = ClientIdOwners(self.document_id)
        self._state_cache = StateVectorCache()
        # How deep each item of the Doc sits: nesting is bounded per document, not only
        # per update (collab/depth_map.py). Built from the loaded Doc in the background
        # (_build_depths); meanwhile what is applied waits in the backlog.
        self._depths = DepthMap()
        self._depth_backlog: list[tuple[bytes, UpdateShape | None]] | None = None
        self._depths_ready = asyncio.Event()
        self._depths_ready.set()
        # Set when the first joiner has its sync step 2 (build soon), and when an update
        # needs the map (build now): see _build_depths.
        self._depths_wanted = asyncio.Event()
        self._depths_needed = asyncio.Event()
        self._awareness_id: dict[Connection, int] = {}
        # Missing-dependency refusals per socket: (first, last step 1 sent, count), and the
        # sockets to ask again once the room's state advances (see _request_resync).
        self._resync_requests: dict[Connection, tuple[float, float, int]] = {}
        self._resync_waiting: set[Connection] = set()
        # Relayed updates waiting for their dependencies (see _held_back).
        self._held_updates: list[tuple[bytes, UpdateShape, _Queued | None]] = []
        # Client id -> user id claimed while the database was down (see _claim).
        self._unsaved_claims: dict[int, int | None] = {}
        # Anti-entropy: every log row up to applied_seq is in self.doc; _seen_seqs holds
        # the rows above it that are too (committed here or relayed with their seqs).
        self.applied_seq = 0
        self._seen_seqs: set[int] = set()
        self._db_seq_last_check: int | None = None
        self.repaired_updates = 0
        self._peers: dict[str, _Peer] = {}
        self._last_group_send = 0.0
        self._uncommitted_relays = 0
        # pycrdt Docs are not thread-safe, and heavy work on self.doc runs in a worker
        # thread (_off_loop): every coroutine that touches the doc holds this lock.
        self._doc_lock = asyncio.Lock()
        # The whole document encoded (a fresh joiner's sync step 2), until the next change:
        # a crowd opening a large document pays for one encoding, not one each.
        self._doc_version = 0
        self._full_update: tuple[int, bytes] | None = None

    def _new_awareness(self, doc: Doc) -> None:
        # The awareness only borrows the doc's client id; the server has no presence itself.
        self.awareness = Awareness(doc)
        self.awareness.set_local_state(None)
        self._awareness_changes: dict | None = None
        self.awareness.observe(self._record_awareness_change)

    def _record_awareness_change(self, topic: str, event) -> None:
        if topic == "update":
            self._awareness_changes = event[0]

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Join the group, then load: no update committed elsewhere can fall in between."""
        layer = get_channel_layer()
        if layer is not None:
            self.channel_name = await layer.new_channel(prefix="room.")
            try:
                await layer.group_add(room_group(self.document_id), self.channel_name)
                await layer.group_add(SESSIONS_GROUP, self.channel_name)
            except Exception:
                # Redis down: serve this process's clients anyway; the listener keeps
                # re-joining the group, and clients re-sync when they reconnect.
                logger.warning("could not join group for %s", self.document_id, exc_info=True)
                self._group_joined = False
            else:
                # Processes holding the room answer, so each knows the other is there
                # (_send_to_peers sends nothing while no other process is known).
                await self._group_send({"type": "room.alive", "hello": True})
            self._tasks.append(asyncio.create_task(self._listen(layer)))
            self._tasks.append(asyncio.create_task(self._keep_group_membership(layer)))
        applied_whole = False
        try:
            if HEAVY_WORK_ON_LOOP:
                # The old way (bench/large_documents.py "before"): one apply, in the
                # thread that every room's database calls share.
                doc, seq = await database_sync_to_async(store.doc_load)(
                    document_id=self.document_id, in_pieces=False
                )
            else:
                # A thread of its own: fetching and applying megabytes must not hold up
                # the other rooms' commits, which queue for the shared database thread;
                # and a planned snapshot goes in pieces, between which the loop runs.
                doc, seq, applied_whole, applied = await _in_own_thread(store.doc_open)(
                    document_id=self.document_id, with_updates=True
                )
            await database_sync_to_async(self.client_id_owners.load)()
        except BaseException:
            await self.stop()
            raise
        if applied_whole:
            # A large blob went in one apply (a big row, an old snapshot): plan it in the
            # background, so that the next load of this document goes in pieces.
            prepare = _in_own_thread(store.snapshot_prepare)
            self._tasks.append(asyncio.create_task(prepare(document_id=self.document_id)))
        # Decoding the loaded state is O(document) Python (0.1 s for a 260k-edit text): it
        # must not delay the first sync, so it runs after the room goes live, from the
        # snapshot and rows the load applied (no second encoding of the Doc).
        self._depth_backlog = []
        self._depths_ready.clear()
        self._tasks.append(asyncio.create_task(self._build_depths(applied)))
        self.doc = doc
        self.applied_seq = seq
        self._new_awareness(doc)
        for message in self._early_messages:
            self._handle_layer_message(message)
        self._early_messages.clear()
        self._tasks.append(asyncio.create_task(self._write_loop()))
        self._tasks.append(asyncio.create_task(self._maintain()))
        self.loaded.set()

    async def _build_depths(self, applied: list[bytes]) -> None:
        """Build the depth map from what the load applied, then catch up with the backlog.

        The decode is Python and holds the GIL in its thread for ~0.1 s per 260k-edit
        text: started at once it would share the loop's GIL with the first joiner's sync
        and double a cold open. So it waits until that sync step 2 is sent, an update
        needs the map, or DEPTH_MAP_DELAY passes.
        """
        await _first_of((self._depths_wanted, self._depths_needed), DEPTH_MAP_DELAY)
        # The step 2 is queued, not yet written: let the socket have the loop for a moment.
        await _first_of((self._depths_needed,), DEPTH_MAP_SETTLE)
        fresh = DepthMap()
        try:
            learned = await asyncio.to_thread(lambda: [fresh.learn(u) for u in applied])
            if not all(learned):
                # Rows that did not decode did not apply either (or a lookup rebuilds).
                logger.warning("the depth map could not decode all of %s", self.document_id)
        except Exception:
            # An empty map still holds the bound: an update naming what it lacks makes it
            # rebuild from the Doc (DepthMap.admit).
            logger.exception("building the depth map of %s failed", self.document_id)
            fresh = DepthMap()
        async with self._doc_lock:
            if self._depth_backlog is None:
                return  # superseded by _depths_now
            for update, shape in self._depth_backlog:
                fresh.learn(update, shape)
            self._depths = fresh
            self._depth_backlog = None
            self._depths_ready.set()

    def _depths_now(self) -> None:
        """Build the depth map from the Doc as it is now, on the loop (supersedes the
        background build)."""
        self._depths = DepthMap.of_doc(self.doc)
        self._depth_backlog = None
        self._depths_ready.set()

    def _depths_learn(self, update: bytes, shape: UpdateShape | None = None) -> None:
        """An update (checked elsewhere) was applied to the Doc: tell the depth map."""
        if self._depth_backlog is not None:
            self._depth_backlog.append((update, shape))
        else:
            self._depths.learn(update, shape)

    async def stop(self) -> None:
        layer = get_channel_layer()
        if self._outbox_task is not None and not self._outbox_task.done():
            # Bounded: what is committed reaches other processes' copies through
            # anti-entropy if this last send does not make it.
            await asyncio.wait([self._outbox_task], timeout=2)
        if self._compaction is not None:
            self._tasks.append(self._compaction)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Bounded: a layer's receive() that is slow to honour cancellation must not
            # keep a room (and its shutdown) alive.
            await asyncio.wait(self._tasks, timeout=5)
        self._tasks.clear()
        if layer is not None and self.channel_name:
            try:
                await layer.group_discard(room_group(self.document_id), self.channel_name)
                await layer.group_discard(SESSIONS_GROUP, self.channel_name)
            except Exception:
                logger.warning("could not leave group for %s", self.document_id, exc_info=True)

    @property
    def has_pending_writes(self) -> bool:
        """Whether updates this process must write are queued (other processes' updates
        queued for order only are theirs to write)."""
        return any(not entry.foreign for entry in self._queue)

    async def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued update is committed; False if that did not happen in time."""
        deadline = time.monotonic() + timeout
        self._urgent.set()
        try:
            while self.has_pending_writes and not self.gone:
                if time.monotonic() > deadline:
                    return False
                self._wake.set()
                await asyncio.sleep(0.005)
            return True
        finally:
            self._urgent.clear()

    # ------------------------------------------------------------ connections

    async def join(self, conn: Connection) -> None:
        self.connections.add(conn)
        self._client_ids[conn] = set()
        async with self._doc_lock:
            step1 = protocol.sync_step1_message(self.doc)
        conn.send_frame(step1)
        if self.awareness.states:
            update = self.awareness.encode_awareness_update(list(self.awareness.states))
            conn.send_frame(protocol.awareness_message(update))

    async def leave(self, conn: Connection) -> None:
        self.connections.discard(conn)
        client_ids = self._client_ids.pop(conn, set())
        self._awareness_id.pop(conn, None)
        self._resync_requests.pop(conn, None)
        self._resync_waiting.discard(conn)
        for client_id in client_ids:
            if self._owner_of_client.get(client_id) is conn:
                self._owner_of_client.pop(client_id, None)
        present = [cid for cid in client_ids if cid in self.awareness.states]
        if present:
            self.awareness.remove_awareness_states(present, conn)
            update = self.awareness.encode_awareness_update(present)
            self._send_local(protocol.awareness_message(update), exclude=None)
            if self._peers:
                await self._group_send({"type": "room.awareness", "update": update})

    # --------------------------------------------------------------- messages

    async def sync_step1(self, conn: Connection, state_vector: bytes) -> None:
        """Answer with what the client lacks. Encoding a large document takes long (0.2 s
        for 5 MB of small items): it runs in a worker thread, and a client that has nothing
        yet gets the cached encoding of the whole document when nothing changed since."""
        async with self._doc_lock:
            fresh = state_vector == EMPTY_STATE_VECTOR
            cached = self._full_update
            if fresh and cached is not None and cached[0] == self._doc_version:
                update = cached[1]
            else:
                version = self._doc_version
                update = await self._off_loop(diff_safely, self.doc, state_vector)
                if fresh and len(update) > LARGE_UPDATE_BYTES and not HEAVY_WORK_ON_LOOP:
                    self._full_update = (version, update)
        conn.send_frame(protocol.sync_step2_message(update))
        self._depths_wanted.set()

    async def _off_loop(self, work, *args):
        """Run pycrdt work in a worker thread (the caller holds _doc_lock).

        pycrdt keeps the GIL while it works, so this does not free the loop for the whole
        call; it lets the loop run around it, in the Python parts of the work."""
        if HEAVY_WORK_ON_LOOP:
            return work(*args)
        return await asyncio.to_thread(work, *args)

    def _doc_changed(self) -> None:
        self._doc_version += 1
        self._full_update = None

    async def receive_update(self, conn: Connection, update: bytes) -> None:
        """accept_update for a socket: a large update is checked in a worker thread, so a
        hostile multi-megabyte frame shares the CPU with the other sockets instead of
        stopping the event loop for the whole check (the apply stays on the loop).

        Client ids the update writes under that nobody owns yet are claimed in the
        database first (other processes see the claim), before the room's lock is taken:
        the first edits of a room's new clients (every page load is a new client id) then
        share one ClaimWriter round instead of queueing for one round each behind the
        lock (W2: the first keystrokes of 5 new clients per room waited up to ~100 ms).
        An update with missing dependencies is not applied: the client is sent sync
        step 1 and answers with a step 2 holding everything the room lacks, that update
        included.
        """
        if update == protocol.EMPTY_UPDATE:
            return
        max_depth = settings.COLLAB["MAX_UPDATE_DEPTH"]
        large = len(update) > LARGE_UPDATE_BYTES
        if large:
            shape = await asyncio.to_thread(check_update, update, max_depth=max_depth)
        else:
            shape = check_update(update, max_depth=max_depth)
        if not self._depths_ready.is_set() and _nests(shape):
            # The first type or nested value after a load waits for the depth map.
            self._depths_needed.set()
            await self._depths_ready.wait()
        checked_at = None
        if not self._doc_lock.locked():
            # Only while nobody holds the lock: a large update may be applying in a worker
            # thread then, and pycrdt hands any read of the Doc that thread's transaction.
            checked_at = self._doc_version
            await self._claim_written_ids(conn, shape)
        async with self._doc_lock:
            if checked_at != self._doc_version:
                # Not checked, or the room changed meanwhile (the update's dependencies
                # may have arrived): claim what is left.
                await self._claim_written_ids(conn, shape)
            try:
                if large:
                    unknown = self._admit(conn, shape)
                    await self._off_loop(apply_safely, self.doc, update)
                    self._accepted(conn, update, shape, unknown)
                else:
                    self.accept_update(conn, update, shape=shape)
            except MissingDependencies as exc:
                self._request_resync(conn, exc)
                return
        self._relay_unrelayed()

    def _relay_unrelayed(self) -> None:
        """Pass accepted updates on to this process's sockets now, before the commit.

        Waiting for the commit would add a database round trip to every keystroke's
        latency and protect nothing: until the commit, the update lives in the sender's
        client either way, and relayed it also lives in every reader's client. Whoever
        holds it re-sends it on reconnect (sync step 1/2).

        Other processes get it with its commit (_share_committed). Shared earlier, their
        clients could build on it and they could commit those edits before this process
        commits it: the log would no longer be in causal order, and pycrdt silently drops
        structs that wait long for their dependencies (NOTES.md): a load would lack them.
        """
        if settings.COLLAB["RELAY_AFTER_COMMIT"]:
            # Strict mode: the writer relays each batch after its commit.
            self._unrelayed.clear()
            return
        if self._unrelayed:
            entries, self._unrelayed = self._unrelayed, []
            self._relay_local(entries)

    async def _claim_written_ids(self, conn: Connection, shape: UpdateShape) -> None:
        """Claim the ids an applicable update writes under that nobody owns yet (raises
        ForeignClientId for an id another account owns). An update that cannot apply
        claims nothing: it is refused, and must not squat ids."""
        state = self._state_cache.current(self.doc)
        if shape.missing_dependencies(state):
            return
        unknown = self.client_id_owners.check_writes(user_id=conn.user_id, shape=shape, state=state)
        if unknown:
            await self._claim(conn, unknown)

    async def _claim(self, conn: Connection, client_ids: list[int]) -> None:
        """Record the socket's account as owner of new client ids, in the database first.

        With the database down the claim holds in this process (accept_update claims in
        memory) and `_save_claims` writes it once the database is back: edits keep flowing
        through an outage, as they do for the update log itself.
        """
        try:
            await self._claim_owners(conn.user_id, client_ids)
        except DatabaseError:
            logger.warning(
                "could not record owners of client ids %s of %s; kept in memory until the "
                "database is back",
                client_ids,
                self.document_id,
            )
            for client_id in client_ids:
                self._unsaved_claims.setdefault(client_id, conn.user_id)

    async def _claim_owners(self, user_id: int | None, client_ids: list[int]) -> None:
        """Record the claim (shared with other rooms' claims, collab/client_ids.py
        ClaimWriter) and learn the owners the database has: whoever claimed first wins."""
        owners = await self.registry.claim_writer.claim(self.document_id, user_id, client_ids)
        self.client_id_owners.recorded(owners)

    async def _save_claims(self) -> None:
        """Write the client id claims made while the database was down."""
        for client_id, user_id in list(self._unsaved_claims.items()):
            # Whoever the database already records wins: if another process claimed the
            # id meanwhile, its owner wins from now on.
            await self._claim_owners(user_id, [client_id])
            self._unsaved_claims.pop(client_id, None)

    def _request_resync(self, conn: Connection, exc: MissingDependencies) -> None:
        """Ask the client for what the room lacks (sync step 1), at most once a second.

        The gap is not always the client's: when a relay was lost the room itself lacks
        other people's structs until anti-entropy fetches them, and a client's updates
        carry the structs it holds pending on top of them (Yjs encodes pending structs).
        So the client is asked again whenever the room's state advances
        (`_resync_waiting`), and it is closed only when the gap persists: more than
        MAX_RESYNC_REQUESTS refusals over more than RESYNC_GIVE_UP_SECONDS since the
        last update of its that was accepted.
        """
        now = time.monotonic()
        first, last, asked = self._resync_requests.get(conn, (now, 0.0, 0))
        asked += 1
        if asked > settings.COLLAB["MAX_RESYNC_REQUESTS"] and now - first > _setting(
            "RESYNC_GIVE_UP_SECONDS", 30.0
        ):
            # An honest client fills the gap with its step 2 once the room caught up;
            # this one cannot or will not.
            raise UpdateRejected("update depends on structs the client never sent") from exc
        self._resync_waiting.add(conn)
        if now - last < 1.0:
            self._resync_requests[conn] = (first, last, asked)
            return
        self._resync_requests[conn] = (first, now, asked)
        conn.send_frame(protocol.sync_step1_message(self.doc))

    def _resync_waiting_clients(self) -> None:
        """The room's state advanced: ask clients whose updates had a gap to send again."""
        if not self._resync_waiting:
            return
        waiting, self._resync_waiting = self._resync_waiting, set()
        frame = protocol.sync_step1_message(self.doc)
        for conn in waiting:
            if conn in self.connections:
                conn.send_frame(frame)

    def accept_update(
        self, conn: Connection, update: bytes, *, shape: UpdateShape | None = None
    ) -> None:
        """Check, apply and queue a client's update; raises UpdateRejected (ForeignClientId
        among them), MissingDependencies (nothing applied) or ApplyFailed."""
        if update == protocol.EMPTY_UPDATE:
            return
        if shape is None:
            shape = check_update(update, max_depth=settings.COLLAB["MAX_UPDATE_DEPTH"])
        unknown = self._admit(conn, shape)
        apply_safely(self.doc, update)
        self._accepted(conn, update, shape, unknown)

    def _admit(self, conn: Connection, shape: UpdateShape) -> list:
        """Refuse an update that cannot be applied yet or writes as someone else; returns the
        client ids it writes under that nobody owns yet."""
        state = self._state_cache.current(self.doc)
        missing = shape.missing_dependencies(state)
        if missing:
            # Kept out of the Doc and the log: a pending update would sit in every load and
            # compaction, invisible to pycrdt's API (NOTES.md). The client still holds it.
            raise MissingDependencies(f"update needs {missing[:3]} first")
        unknown = self.client_id_owners.check_writes(user_id=conn.user_id, shape=shape, state=state)
        # Depth from the root, document-wide (check_update saw only the update itself).
        # While the map is being built only updates without types or nested values get
        # here (receive_update waits for the map otherwise): they cannot nest.
        if self._depth_backlog is not None and _nests(shape):
            self._depths_now()  # a caller that cannot wait for the background build
        if self._depth_backlog is None:
            self._depths.admit(shape, max_depth=settings.COLLAB["MAX_UPDATE_DEPTH"], doc=self.doc)
        return unknown

    def _accepted(self, conn: Connection, update: bytes, shape: UpdateShape, unknown) -> None:
        """Bookkeeping after a client's update is in the Doc: claim, cache, queue for the store."""
        self._doc_changed()
        self._resync_requests.pop(conn, None)
        self._resync_waiting.discard(conn)
        self.client_id_owners.claim_in_memory(user_id=conn.user_id, client_ids=unknown)
        state_before = self._state_cache.encoded
        if self.client_id_owners.repeats_others(
            user_id=conn.user_id, shape=shape, state=self._state_cache.state
        ):
            # It re-sends structs of other accounts the room already has. Yjs ignored them
            # here, but stored or relayed as sent, possibly altered copies would reach a
            # copy that lacks the originals (another process): keep only what was new.
            update = self.doc.get_update(state_before)
        self._state_cache.advanced(self.doc, shape)
        if self._depth_backlog is None:
            self._depths.record(shape)
        else:
            self._depth_backlog.append((update, shape))
        pending = store.PendingUpdate(update, conn.user_id, timezone.now())
        entry = _Queued(pending, conn, queued=True)
        self._queue.append(entry)
        self._unrelayed.append(entry)
        self._wake.set()

    async def awareness_update(self, conn: Connection, update: bytes) -> None:
        update = await self._own_awareness_only(conn, update)
        if update is None:
            return
        own = self._awareness_id.get(conn)
        if own is not None:
            # A client that moved here from a dead process re-sends its state with the
            # same clock (no change below): it is this process's now, not a ghost of that one.
            for peer in self._peers.values():
                peer.client_ids.discard(own)
        self._awareness_changes = None
        try:
            self.awareness.apply_awareness_update(update, conn)
        except (ValueError, RecursionError, IndexError, RuntimeError, UnicodeDecodeError) as exc:
            raise protocol.ProtocolError("malformed awareness update") from exc
        changes, self._awareness_changes = self._awareness_changes, None
        if not changes:
            return  # stale or echoed states (a stock client re-sends other people's)
        fresh = changes["added"] + changes["updated"]
        mine = self._client_ids.setdefault(conn, set())
        for client_id in fresh:
            # A newer clock for an id means its own client sent it, through this socket:
            # clients only relay states they received, which the room already has. So
            # a reconnecting client re-claims its id even before its old socket is gone.
            previous = self._owner_of_client.get(client_id)
            if previous is not None and previous is not conn:
                self._client_ids.get(previous, set()).discard(client_id)
            mine.add(client_id)
            self._owner_of_client[client_id] = conn
            for peer in self._peers.values():
                peer.client_ids.discard(client_id)
            state = self.awareness.states.get(client_id)
            if isinstance(state, dict) and isinstance(state.get("user"), dict):
                # Names and colours come from accounts, not from what a client claims.
                state["user"] = {
                    **state["user"],
                    "name": conn.user_name,
                    "color": conn.user_color,
                }
        for client_id in changes["removed"]:
            if self._owner_of_client.get(client_id) is conn:
                del self._owner_of_client[client_id]
                mine.discard(client_id)
        changed = [c for c in fresh + changes["removed"] if c in self.awareness.meta]
        if not changed:
            return
        encoded = self.awareness.encode_awareness_update(changed)
        # Echo to the sender too: a y-websocket client drops a socket silent for 30 s.
        self._send_local(protocol.awareness_message(encoded), exclude=None)
        if self._peers:
            await self._group_send({"type": "room.awareness", "update": encoded})

    async def _own_awareness_only(self, conn: Connection, update: bytes) -> bytes | None:
        """The entries of ``update`` for the one awareness client id ``conn`` speaks for.

        A socket's own id is the first one it publishes that no other account owns
        (collab/client_ids.py) and no other account's live socket holds; other entries
        (a stock client echoes everyone's states, a hostile one forges or removes them)
        are dropped. None when nothing is left.
        """
        try:
            entries = awareness_entries(update)
        except UpdateRejected as exc:
            raise protocol.ProtocolError("malformed awareness update") from exc
        own = self._awareness_id.get(conn)
        if own is None and entries:
            candidate = entries[0][0]
            holder = self._owner_of_client.get(candidate)
            if holder is not None and holder is not conn and holder.user_id != conn.user_id:
                return None
            owners = self.client_id_owners
            if owners.unknown([candidate]):
                try:
                    await self._claim_owners(conn.user_id, [candidate])
                except DatabaseError:
                    # Database down: this presence waits for the client's next renewal
                    # (15 s) instead of costing the socket, whose edits still flow.
                    logger.warning("could not claim awareness id %s; dropped", candidate)
                    return None
            if owners.owned_by_other(user_id=conn.user_id, client_id=candidate):
                return None
            own = self._awareness_id[conn] = candidate
        kept = [entry for client_id, entry in entries if client_id == own]
        if not kept:
            return None
        return update if len(kept) == len(entries) else awareness_update_of(kept)

    def query_awareness(self, conn: Connection) -> None:
        if self.awareness.states:
            update = self.awareness.encode_awareness_update(list(self.awareness.states))
            conn.send_frame(protocol.awareness_message(update))

    # ------------------------------------------------------------------ relay

    def _send_local(self, frame: bytes, exclude: Connection | None) -> None:
        for conn in list(self.connections):
            if conn is exclude:
                continue
            try:
                conn.send_frame(frame)
            except Exception:
                logger.debug("send to a closing connection failed", exc_info=True)

    async def _group_send(self, message: dict) -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        message["origin"] = self.registry.process_id
        self._last_group_send = time.monotonic()
        try:
            await layer.group_send(room_group(self.document_id), message)
        except Exception:
            # Other processes' copies miss this message; their clients still converge
            # on reconnect (sync step 1/2 against this process's state or the log).
            logger.warning("group_send failed for %s", self.document_id, exc_info=True)

    def _relay_local(self, entries: Iterable[_Queued]) -> None:
        """Send entries not yet sent to this process's sockets, in order (sends never wait,
        so two relays cannot interleave)."""
        for entry in entries:
            if not entry.relayed:
                entry.relayed = True
                self._send_local(protocol.update_message(entry.pending.data), entry.sender)

    def _share_committed(self, batch: list[_Queued], seqs: tuple[int, int]) -> None:
        """A batch is on disk as log rows ``seqs``: tell other processes, with the updates
        they have not had yet.

        The message also carries the highest relay number now on disk ("settled": commits
        follow relay order), so they stop holding updates shared before their commit, and
        those numbers ("relayed"); receivers mark the rows as held only if they got every
        one of those relays and no row came from elsewhere ("adopted", see
        _committed_elsewhere): otherwise anti-entropy fetches them.
        """
        updates = []
        authors = []
        settled = 0
        relayed_before = []
        adopted = False
        for entry in batch:
            if entry.foreign:
                adopted = True  # written here, in its place in the causal order
                continue
            if entry.shared:
                settled = max(settled, entry.uncommitted_no)
                if entry.uncommitted_no:
                    relayed_before.append(entry.uncommitted_no)
                else:
                    adopted = True
                continue
            entry.shared = True
            updates.append(entry.pending.data)
            authors.append(entry.pending.author_id)
        message = {"type": "room.committed", "seqs": seqs, "settled": settled}
        if updates:
            message.update(type="room.update", updates=updates)
        if relayed_before:
            message["relayed"] = relayed_before
        if adopted:
            message["adopted"] = True
        self._send_to_peers(message)
        self._relay_local(batch)

    def _share_uncommitted(self, batch: list[_Queued]) -> None:
        """The database is down: pass the batch on uncommitted and numbered, so collaboration
        goes on across processes and the others write it should this process die first."""
        updates = []
        authors = []
        numbers = []
        for entry in batch:
            if entry.shared or entry.foreign:
                continue
            entry.shared = True
            self._uncommitted_relays += 1
            entry.uncommitted_no = self._uncommitted_relays
            numbers.append(entry.uncommitted_no)
            updates.append(entry.pending.data)
            authors.append(entry.pending.author_id)
        if updates:
            self._send_to_peers(
                {
                    "type": "room.update",
                    "updates": updates,
                    "uncommitted": numbers,
                    "authors": authors,
                }
            )
        self._relay_local(batch)

    def _next_batch(self) -> list[_Queued]:
        """The next rows to write: a prefix of the queue, which is in the order updates
        entered self.doc (a causal order).

        Another process's uncommitted updates sit in the queue where they entered the Doc
        (only while the database is down do processes share updates before their commit).
        Our own updates after one may build on it, so if it is not on disk yet when we
        write those, it is written here too, in its place: a row twice in the log changes
        nothing, a row before its dependencies would be lost to every load. Queued after
        our last own update, it is left to its process.
        """
        if not self._foreign_queued:
            return self._queue[:MAX_BATCH]
        self._queue = [e for e in self._queue if not (e.foreign and e.settled)]
        own = [i for i, entry in enumerate(self._queue) if not entry.foreign]
        self._foreign_queued = len(own) < len(self._queue)
        if not own:
            return []
        return self._queue[: min(MAX_BATCH, own[-1] + 1)]

    def _send_to_peers(self, message: dict) -> None:
        """Queue a message for other processes; one task sends the queue in order.

        Nothing is sent while no other process is known to hold the room: a room greets
        the others when it starts and they answer (room.alive), and each announces itself
        when silent, so a process that holds the room is known within a message or two.
        One that the layer lost the greeting of is known at its next announcement;
        meanwhile anti-entropy brings its copy what it missed, as after any lost relay.
        Alone, a process would otherwise pay a layer message per commit for nobody (with
        the in-memory layer it is always alone).
        """
        if get_channel_layer() is None or not self._peers:
            return
        self._outbox.append(message)
        if self._outbox_task is None or self._outbox_task.done():
            self._outbox_task = asyncio.create_task(self._drain_outbox())

    async def _drain_outbox(self) -> None:
        while self._outbox:
            messages, self._outbox = self._outbox, []
            for message in _merge_uncommitted(messages):
                await self._group_send(message)

    # ----------------------------------------------------------------- writer

    async def _write_loop(self) -> None:
        """Group commit: write what queued up at the process's next flush tick, in the same
        transaction as every other room's (flush_wait), or at once when not gathering."""
        backoff = 0.05
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._gathers():
                delay = flush_wait(
                    asyncio.get_running_loop().time(), settings.COLLAB["FLUSH_DELAY"]
                )
                try:
                    await asyncio.wait_for(self._urgent.wait(), delay)
                except TimeoutError:
                    pass
            while batch := self._next_batch():
                try:
                    last_seq = await self.registry.log_writer.append(
                        self.document_id, [e.pending for e in batch]
                    )
                except store.DocumentGone:
                    logger.info(
                        "document %s deleted; dropping its queued updates", self.document_id
                    )
                    self._queue.clear()
                    await self._document_gone()
                    return
                except Exception:
                    self.write_failures += 1
                    logger.exception(
                        "writing %d updates of %s failed (attempt %d); retrying",
                        len(batch),
                        self.document_id,
                        self.write_failures,
                    )
                    # Keep collaboration going while the database is down; the updates
                    # stay queued (and the room loaded) until a write succeeds.
                    self._share_uncommitted(batch)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                backoff = 0.05
                logger.debug("wrote %d updates of %s", len(batch), self.document_id)
                del self._queue[: len(batch)]
                seqs = (last_seq - len(batch) + 1, last_seq)
                self._mark_applied(*seqs)
                # In memory only: the webhook worker debounces and checks for hooks.
                webhooks.document_changed_soon(self.document_id)
                for entry in batch:
                    entry.queued = False
                self._share_committed(batch, seqs)
                for entry in batch:
                    entry.settled = True  # on disk: not to be adopted or queued again
                # Counted locally: one less database round trip per batch. Rows written
                # by other processes are compacted by them or when the room goes idle.
                self._written_since_compaction += len(batch)
                if self._written_since_compaction >= settings.COLLAB["SNAPSHOT_EVERY"]:
                    self._written_since_compaction = 0
                    self._compact_soon()
                if self._queue and self._gathers():
                    # What came in during the commit waits for the next tick, with the
                    # other rooms' updates, rather than taking a transaction of its own.
                    self._wake.set()
                    break

    def _gathers(self) -> bool:
        """Whether queued updates wait for the next flush tick before they are written.

        Not in strict mode (the wait would add to every keystroke's latency), nor while
        another process has the room open (they get updates with their commit), nor while
        someone waits for a flush."""
        if settings.COLLAB["RELAY_AFTER_COMMIT"] or self._peers or self._urgent.is_set():
            return False
        return settings.COLLAB["FLUSH_DELAY"] > 0

    def _compact_soon(self) -> None:
        """Compact in the background once SNAPSHOT_EVERY rows follow the last snapshot: the
        writer goes on writing meanwhile instead of waiting for its turn (_compact)."""
        if self._compaction is None or self._compaction.done():
            self._compaction = asyncio.create_task(self._compact())

    async def compact_on_idle(self) -> None:
        await self._compact(min_tail=1)

    async def _compact(self, min_tail: int | None = None) -> None:
        """store.snapshot_compact, one room at a time per process.

        A compaction is mostly Python (load, encode, insert) in a database thread, holding
        the GIL much of the time. Rooms going idle together (a meeting ends) compacted all
        at once: the rooms still open had their claims and commits queued behind every one
        of them in the shared database thread (SQLite), and the loop shared the GIL with
        them: their next keystrokes waited up to 0.3 s (W2, docs/benchmarks.md)."""
        async with self.registry.compaction_turn:
            try:
                await _in_own_thread(store.snapshot_compact)(
                    document_id=self.document_id, min_tail=min_tail
                )
            except Exception:
                logger.exception("compaction of %s failed; the log is intact", self.document_id)

    async def _document_gone(self) -> None:
        self.gone = True
        for conn in list(self.connections):
            await conn.close_with(CLOSE_DOCUMENT_GONE, "document deleted")

    # ---------------------------------------------------------- other processes

    async def _keep_group_membership(self, layer) -> None:
        """Re-join the group now and then: Redis may have restarted and forgotten it."""
        while True:
            await asyncio.sleep(GROUP_REFRESH_SECONDS if self._group_joined else 2.0)
            try:
                await layer.group_add(room_group(self.document_id), self.channel_name)
                await layer.group_add(SESSIONS_GROUP, self.channel_name)
                self._group_joined = True
            except Exception:
                self._group_joined = False
                logger.warning("could not join group for %s", self.document_id, exc_info=True)

    async def _listen(self, layer) -> None:
        while True:
            try:
                message = await layer.receive(self.channel_name)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("channel layer receive failed; retrying", exc_info=True)
                await asyncio.sleep(1.0)
                continue
            origin = message.get("origin")
            if origin is not None and origin == self.registry.process_id:
                continue  # our own message, back from the group
            if message.get("hello"):
                # A process just opened the room: tell it this one is here too.
                await self._group_send({"type": "room.alive"})
            if message.get("type") == "access.changed":
                await self._access_changed(message.get("user_id"))
            elif message.get("type") == "sessions.ended":
                await self._sessions_ended(message)
            elif not self.loaded.is_set():
                self._early_messages.append(message)
            else:
                await self._relay_remote(message)

    def _handle_layer_message(self, message: dict) -> list[bytes]:
        """Apply a message from another process; returns the frames to pass to local clients."""
        origin = message.get("origin")
        if origin == self.registry.process_id:
            return []
        peer = self._peer(origin)
        frames = []
        kind = message.get("type")
        if kind == "room.update":
            numbers = message.get("uncommitted")
            authors = message.get("authors") or []
            # Rows right after what the room holds depend only on rows it has (the log is
            # in causal order): only a relay past a gap, or one not yet in the log (the
            # database is down), needs the dependency check.
            seqs = message.get("seqs")
            in_order = bool(seqs) and int(seqs[0]) <= self.applied_seq + 1
            for index, update in enumerate(message.get("updates", [])):
                entry = None
                if peer is not None and isinstance(numbers, list) and index < len(numbers):
                    # Kept until its commit is announced (held back or not): ours to write
                    # if that process dies first.
                    author = authors[index] if index < len(authors) else None
                    pending = store.PendingUpdate(update, author, timezone.now())
                    entry = _Queued(pending, None, relayed=True, shared=True, foreign=True)
                    peer.uncommitted.append((numbers[index], entry))
                if not in_order and self._held_back(update, entry):
                    continue
                try:
                    apply_safely(self.doc, update)
                except ApplyFailed:
                    logger.exception("an update from another process did not apply")
                    continue
                self._depths_learn(update)  # checked by its process; the map must know it
                self._doc_changed()
                self._queue_foreign(entry)
                frames.append(protocol.update_message(update))
            self._committed_elsewhere(peer, message)
        elif kind == "room.committed":
            self._committed_elsewhere(peer, message)
        elif kind == "room.awareness":
            update = message.get("update", b"")
            self._awareness_changes = None
            try:
                self.awareness.apply_awareness_update(update, "remote")
            except Exception:
                logger.warning("bad awareness update from another process", exc_info=True)
                return []
            changes, self._awareness_changes = self._awareness_changes, None
            if changes and peer is not None:
                for client_id in changes["added"] + changes["updated"]:
                    for other in self._peers.values():
                        other.client_ids.discard(client_id)
                    peer.client_ids.add(client_id)
                for client_id in changes["removed"]:
                    peer.client_ids.discard(client_id)
            frames.append(protocol.awareness_message(update))
        return frames

    def _queue_foreign(self, entry: _Queued | None) -> None:
        """Another process's uncommitted update entered the Doc: note its place in the
        causal order (see _next_batch)."""
        if entry is None or entry.settled:
            return
        entry.queued = True
        self._queue.append(entry)
        self._foreign_queued = True

    def _peer(self, origin) -> _Peer | None:
        if not isinstance(origin, str):
            return None
        peer = self._peers.get(origin)
        if peer is None:
            peer = self._peers[origin] = _Peer(last_heard=time.monotonic())
        peer.last_heard = time.monotonic()
        return peer

    def _committed_elsewhere(self, peer: _Peer | None, message: dict) -> None:
        seqs = message.get("seqs")
        if isinstance(seqs, (list, tuple)) and len(seqs) == 2 and _holds_relays(peer, message):
            self._mark_applied(int(seqs[0]), int(seqs[1]))
        settled = message.get("settled")
        if peer is not None and isinstance(settled, int) and settled > 0:
            # Numbers, not counts: a relay lost on the way must not settle another one.
            held = []
            for number, entry in peer.uncommitted:
                if number > settled:
                    held.append((number, entry))
                else:
                    entry.settled = True
            peer.uncommitted = held

    def _mark_applied(self, first: int, last: int) -> None:
        """Log rows first..last are in self.doc; advance the contiguous mark over them."""
        if last <= self.applied_seq:
            return
        if first <= self.applied_seq + 1:
            self.applied_seq = last
        else:
            self._seen_seqs.update(range(first, last + 1))
        while self.applied_seq + 1 in self._seen_seqs:
            self.applied_seq += 1
            self._seen_seqs.discard(self.applied_seq)

    def _held_back(self, update: bytes, entry: _Queued | None = None) -> bool:
        """Keep a relayed update whose dependencies the room lacks out of the Doc for now.

        After a lost relay (Redis restarted) newer updates arrive before anti-entropy
        fetches the older ones. Applied at once they would sit pending in the room's Doc
        (and in clients' Docs, once forwarded), and pycrdt does not always integrate
        pending structs when the gap is filled: the room then serves a state without
        them. Held here, they are applied and forwarded in causal order by
        `_apply_held` once the gap is filled (the log has them in that order too).
        """
        try:
            shape = check_update(update, max_depth=settings.COLLAB["MAX_UPDATE_DEPTH"])
        except UpdateRejected:
            return False  # apply_safely reports it
        if not shape.missing_dependencies(self._state_cache.current(self.doc)):
            return False
        self._held_updates.append((update, shape, entry))
        return True

    def _apply_held(self) -> list[bytes]:
        """Apply held relayed updates whose dependencies are now in the Doc; their frames."""
        frames = []
        progress = True
        while progress and self._held_updates:
            progress = False
            for held in list(self._held_updates):
                update, shape, entry = held
                if shape.missing_dependencies(self._state_cache.current(self.doc)):
                    continue
                self._held_updates.remove(held)
                try:
                    apply_safely(self.doc, update)
                except ApplyFailed:
                    logger.exception("a held update from another process did not apply")
                    continue
                self._depths_learn(update, shape)
                self._doc_changed()
                self._queue_foreign(entry)
                frames.append(protocol.update_message(update))
                progress = True
        return frames

    async def _relay_remote(self, message: dict) -> None:
        async with self._doc_lock:
            frames = self._handle_layer_message(message)
            frames += self._apply_held()
        for frame in frames:
            self._send_local(frame, exclude=None)
        if frames:
            self._resync_waiting_clients()

    # ------------------------------------------------------------ anti-entropy

    async def _maintain(self) -> None:
        """Repair what the channel layer lost, and forget what dead processes left behind.

        Every ANTI_ENTROPY_INTERVAL: announce this process if it was silent, fetch log rows
        another process committed but whose relay never arrived, drop the presence of
        processes not heard from for PEER_TIMEOUT (adopting their uncommitted updates), and
        drop remote awareness states not renewed for AWARENESS_TIMEOUT.
        """
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(
                until_next_tick(loop.time(), _setting("ANTI_ENTROPY_INTERVAL", 2.0))
            )
            # Each step on its own: with the database down, dead processes' cursors must
            # still go and their uncommitted updates still be adopted.
            steps = (
                self._announce,
                self._repair,
                self._expire_peers,
                self._expire_awareness,
                self._save_claims,
            )
            for step in steps:
                try:
                    await step()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    # The database or Redis is down: the next round tries again.
                    logger.warning(
                        "anti-entropy %s for %s failed: %r", step.__name__, self.document_id, exc
                    )

    async def _announce(self) -> None:
        if get_channel_layer() is None:
            return
        if time.monotonic() - self._last_group_send >= _setting("PEER_TIMEOUT", 15.0) / 3:
            await self._group_send({"type": "room.alive"})

    async def _repair(self) -> None:
        db_seq = await self.registry.last_seq_reader.last_seq(self.document_id)
        if db_seq is None:
            return
        # Only rows already committed at the previous round are repaired: a relay that is
        # merely in flight gets one round to arrive before the rows are fetched instead.
        previous, self._db_seq_last_check = self._db_seq_last_check, db_seq
        if previous is None or min(previous, db_seq) <= self.applied_seq:
            return
        upto = min(previous, db_seq, self.applied_seq + REPAIR_BATCH)
        rows = await database_sync_to_async(store.updates_between)(
            document_id=self.document_id, after_seq=self.applied_seq, upto_seq=upto
        )
        frames = []
        async with self._doc_lock:
            for seq, data in rows:
                if seq in self._seen_seqs:
                    continue
                try:
                    apply_safely(self.doc, data)
                except ApplyFailed:
                    logger.exception("log row %s of %s does not apply", seq, self.document_id)
                    continue
                self._depths_learn(data)
                self._doc_changed()
                frames.append(protocol.update_message(data))
            frames += self._apply_held()
        self._mark_applied(self.applied_seq + 1, upto)
        if frames:
            self.repaired_updates += len(frames)
            logger.info(
                "anti-entropy: applied %d missed updates of %s", len(frames), self.document_id
            )
            for frame in frames:
                self._send_local(frame, exclude=None)
            self._resync_waiting_clients()

    async def _expire_peers(self) -> None:
        deadline = time.monotonic() - _setting("PEER_TIMEOUT", 15.0)
        for origin, peer in list(self._peers.items()):
            if peer.last_heard > deadline:
                continue
            del self._peers[origin]
            adopted = [entry for _n, entry in peer.uncommitted if not entry.settled]
            if adopted:
                # It shared these while the database was down and died (or is cut off)
                # before writing them: write them here, those in the Doc in their place in
                # the queue. Rows twice in the log are harmless (applying an update twice
                # changes nothing).
                logger.warning(
                    "adopting %d uncommitted updates of a silent process for %s",
                    len(adopted),
                    self.document_id,
                )
                for entry in adopted:
                    entry.foreign = False
                    entry.uncommitted_no = 0
                    if not entry.queued:
                        entry.queued = True
                        self._queue.append(entry)
                self._wake.set()
            ghosts = [
                cid
                for cid in peer.client_ids
                if cid in self.awareness.states and cid not in self._owner_of_client
            ]
            self._remove_presence(ghosts)

    async def _expire_awareness(self) -> None:
        # y-protocols: clients renew every 15 s; a state unrenewed for 30 s is outdated.
        # pycrdt's Awareness only does this inside its own start() task, which a room
        # does not run; states of local sockets go when the socket does.
        now_ms = time.time() * 1000
        timeout_ms = _setting("AWARENESS_TIMEOUT", 30.0) * 1000
        outdated = [
            cid
            for cid, meta in self.awareness.meta.items()
            if cid in self.awareness.states
            and cid not in self._owner_of_client
            and now_ms - meta["lastUpdated"] >= timeout_ms
        ]
        self._remove_presence(outdated)

    def _remove_presence(self, client_ids: list[int]) -> None:
        if not client_ids:
            return
        self.awareness.remove_awareness_states(client_ids, "expired")
        for peer in self._peers.values():
            peer.client_ids.difference_update(client_ids)
        # Same clock, no state: clients remove it (y-protocols applies an equal-clock removal).
        update = self.awareness.encode_awareness_update(client_ids)
        self._send_local(protocol.awareness_message(update), exclude=None)

    async def _access_changed(self, user_id: int | None) -> None:
        from .selectors import role_of

        if user_id is None:
            self.gone = True
            for conn in list(self.connections):
                await conn.close_with(CLOSE_DOCUMENT_GONE, "document deleted")
            return
        affected = [c for c in self.connections if c.user_id == user_id]
        if not affected:
            return
        role = await database_sync_to_async(_role_by_id)(user_id, self.document_id, role_of)
        for conn in affected:
            if role is None:
                await conn.close_with(CLOSE_FORBIDDEN, "access revoked")
            elif role != conn.role:
                # Enforced at once (writes are checked against conn.role); the close tells
                # the client, whose page was rendered for the old role, to reconnect.
                conn.role = role
                await conn.close_with(CLOSE_ROLE_CHANGED, "role changed")

    async def _sessions_ended(self, message: dict) -> None:
        """Close the sockets of ended sessions (sign-out, password change, deactivation)."""
        for conn in list(self.connections):
            if connection_matches(
                message, user_id=conn.user_id, session_key=getattr(conn, "session_key", None)
            ):
                await conn.close_with(CLOSE_UNAUTHENTICATED, "session ended")


async def _first_of(events, timeout: float) -> None:
    """Return when one of ``events`` is set, or after ``timeout`` seconds."""
    if any(event.is_set() for event in events):
        return
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _nests(shape: UpdateShape) -> bool:
    """Whether an update creates shared types or nested values (what the depth map bounds)."""
    items = shape.items
    if items is None:
        return True
    return bool(items.nested) or any(any(flags) for flags in items.types.values())


def _holds_relays(peer: _Peer | None, message: dict) -> bool:
    """Whether every update of a committed batch that was relayed before its commit reached
    this room (a relay lost while Redis restarted must not count as held: anti-entropy
    fetches those rows instead)."""
    if message.get("adopted"):
        return False
    numbers = message.get("relayed") or []
    if not numbers:
        return True
    if peer is None:
        return False
    received = {number for number, _ in peer.uncommitted}
    return all(number in received for number in numbers)


def _merge_uncommitted(messages: list[dict]) -> list[dict]:
    """Consecutive uncommitted update relays as one message (a flood costs one publish per
    send, not one per update); everything else as it was, in order."""
    merged: list[dict] = []
    for message in messages:
        last = merged[-1] if merged else None
        if (
            last is not None
            and "uncommitted" in message
            and "uncommitted" in last
            and message.get("type") == last.get("type") == "room.update"
        ):
            last["updates"] = last["updates"] + message["updates"]
            last["uncommitted"] = last["uncommitted"] + message["uncommitted"]
            last["authors"] = last["authors"] + message["authors"]
        else:
            merged.append(dict(message))
    return merged


def _role_by_id(user_id, document_id, role_of):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    return role_of(user=user, document_id=document_id) if user else None


class RoomRegistry:
    """The live rooms of this process (one event loop): load once, refcount, unload idle."""

    def __init__(self) -> None:
        self.process_id = uuid.uuid4().hex
        self.log_writer = LogWriter()
        self.claim_writer = ClaimWriter()
        self.last_seq_reader = LastSeqReader()
        # Rooms compact one at a time (Room._compact).
        self.compaction_turn = asyncio.Lock()
        self._rooms: dict[str, Room] = {}
        self._refs: dict[str, int] = {}
        self._loading: dict[str, asyncio.Task] = {}
        self._unloading: dict[str, asyncio.Task] = {}
        self._shutdown_hooked = False

    def get(self, document_id) -> Room | None:
        return self._rooms.get(str(document_id))

    @property
    def rooms(self) -> dict[str, Room]:
        return dict(self._rooms)

    async def acquire(self, document_id) -> Room:
        """The live room for a document, loading it if needed; two joiners load it once."""
        key = str(document_id)
        self._hook_shutdown()
        self._refs[key] = self._refs.get(key, 0) + 1
        try:
            while True:
                room = self._rooms.get(key)
                if room is not None and not room.gone:
                    await room.loaded.wait()
                    return room
                if key in self._unloading:
                    # Its queued writes must be on disk before a new copy loads from disk.
                    await asyncio.shield(self._unloading[key])
                    continue
                if key not in self._loading:
                    self._loading[key] = asyncio.create_task(self._load(key))
                await asyncio.shield(self._loading[key])
        except BaseException:
            self._refs[key] -= 1
            raise

    async def _load(self, key: str) -> None:
        room = Room(document_id=key, registry=self)
        try:
            await room.start()
            self._rooms[key] = room
        finally:
            self._loading.pop(key, None)

    async def release(self, room: Room) -> None:
        key = room.document_id
        self._refs[key] = self._refs.get(key, 1) - 1
        if self._refs[key] > 0:
            return
        self._refs.pop(key, None)
        delay = settings.COLLAB.get("ROOM_UNLOAD_DELAY", 2.0)
        if key not in self._unloading:
            self._unloading[key] = asyncio.create_task(self._unload_when_idle(room, delay))

    async def _unload_when_idle(self, room: Room, delay: float) -> None:
        key = room.document_id
        try:
            await asyncio.sleep(delay)
            if self._refs.get(key, 0) > 0 and not room.gone:
                return  # someone joined during the delay; the room stays
            # The room stays loaded until its queued updates are on disk, however long.
            while not await room.flush(timeout=30.0):
                logger.error("room %s still has unwritten updates; keeping it", key)
            if self._refs.get(key, 0) > 0 and not room.gone:
                return
            self._rooms.pop(key, None)
            await room.compact_on_idle()
            await room.stop()
        finally:
            self._unloading.pop(key, None)

    async def flush_all(self, timeout: float = 20.0) -> None:
        """Commit every room's queued updates (SIGTERM: Daphne won't call disconnect())."""
        results = await asyncio.gather(
            *(room.flush(timeout) for room in list(self._rooms.values())), return_exceptions=True
        )
        failed = [r for r in results if r is not True]
        if failed:
            logger.error("%d rooms could not flush before shutdown", len(failed))
        else:
            logger.info("flushed %d rooms before shutdown", len(results))

    def _hook_shutdown(self) -> None:
        """Under Daphne, flush all rooms before the reactor stops."""
        if self._shutdown_hooked:
            return
        self._shutdown_hooked = True
        import sys

        if "twisted.internet.reactor" not in sys.modules:
            return
        from twisted.internet import defer, reactor

        def before_shutdown():
            return defer.Deferred.fromFuture(asyncio.ensure_future(self.flush_all()))

        reactor.addSystemEventTrigger("before", "shutdown", before_shutdown)


_registries: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RoomRegistry]" = (
    weakref.WeakKeyDictionary()
)


def registry() -> RoomRegistry:
    """This event loop's registry (a process runs one loop under Daphne; tests run many)."""
    loop = asyncio.get_running_loop()
    found = _registries.get(loop)
    if found is None:
        found = _registries[loop] = RoomRegistry()
    return found


__all__ = [
    "ApplyFailed",
    "Room",
    "RoomRegistry",
    "UpdateRejected",
    "registry",
]
