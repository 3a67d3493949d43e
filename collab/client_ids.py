"""Which account owns each Yjs client id of a document, and refusing writes under others' ids.

Why: Yjs identifies every struct by (client id, clock) and ignores a struct whose id it
already has. An update that writes structs under another person's client id, at clocks
that person has not used yet, makes the server and every peer drop that person's real
edits later as duplicates. So the first account to write (or to show presence) under a
client id in a document owns it, and only it may add structs beyond what the server
already has under that id.

What stays allowed: structs the server already has (a reconnecting or offline client's
sync step 2 carries everyone's edits; yrs ignores the ones it knows), deletions of anyone's
structs (that is editing), and a client that changed its id (Yjs does on a collision): a
new id is unowned and its first writer claims it. Refused: structs beyond the server's
clock for an id another account owns. Consequence, documented in docs/security.md: edits
under someone else's id that the server never saw (it lost data and a peer re-sends
them) are refused too.
"""

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.db import IntegrityError, connections, transaction
from django.db.models import Q
from pycrdt import Decoder, write_var_uint

from .group_commit import GroupCommit
from .models import ClientIdOwner
from .update_guard import UpdateRejected, UpdateShape, _Reader

_UNKNOWN = object()


class ForeignClientId(UpdateRejected):
    """The update writes new structs under a client id another account owns."""

    def __init__(self, client_id: int) -> None:
        super().__init__(f"writes under client id {client_id}, which another account owns")
        self.client_id = client_id


def state_vector(encoded: bytes) -> dict[int, int]:
    """A state vector (as Doc.get_state() encodes it) as client -> next clock."""
    decoder = Decoder(encoded)
    return {
        decoder.read_var_uint(): decoder.read_var_uint() for _ in range(decoder.read_var_uint())
    }


class StateVectorCache:
    """A Doc's state vector as a dict, without decoding it for every update.

    Decoding a state vector of thousands of clients (every page load is a new client id)
    costs milliseconds in Python; encoding it in yrs costs microseconds. So the decoded
    dict is kept with the bytes it came from and reused while they match, and advanced by
    what an update wrote once it applied with nothing missing (its clocks then all
    integrate). Any other change to the Doc (another process, a repair) changes the bytes
    and forces a fresh decode.
    """

    __slots__ = ("encoded", "state")

    def __init__(self) -> None:
        self.encoded = b""
        self.state: dict[int, int] = {}

    def current(self, doc) -> dict[int, int]:
        encoded = doc.get_state()
        if encoded != self.encoded:
            self.encoded = encoded
            self.state = state_vector(encoded)
        return self.state

    def advanced(self, doc, shape: UpdateShape) -> None:
        """``shape`` (checked to depend on nothing missing) was just applied to ``doc``."""
        state = self.state
        for client, (_start, end) in shape.groups.items():
            if end > state.get(client, 0):
                state[client] = end
        self.encoded = doc.get_state()


def written_clients(shape: UpdateShape, state: dict[int, int]) -> list[int]:
    """The client ids under which ``shape`` adds structs a document at ``state`` lacks."""
    return [c for c, (_start, end) in shape.groups.items() if end > state.get(c, 0)]


@dataclass
class ClientIdOwners:
    """One document's client id -> owning user id (None: the account was deleted)."""

    document_id: str
    owners: dict[int, int | None] = field(default_factory=dict)

    def load(self) -> None:
        """Read every recorded owner (sync: call through database_sync_to_async)."""
        rows = ClientIdOwner.objects.filter(document_id=self.document_id)
        self.owners.update(rows.values_list("client_id", "user_id"))

    def unknown(self, client_ids) -> list[int]:
        return [c for c in client_ids if c not in self.owners]

    def claim(self, *, user_id: int, client_ids: list[int]) -> None:
        """Record ``user_id`` as owner of ids nobody owns yet, in the database first.

        Sync (database). The unique constraint arbitrates between processes: whoever
        inserted first owns the id, and this process learns that owner either way.
        """
        for client_id in client_ids:
            try:
                with transaction.atomic():
                    row, _created = ClientIdOwner.objects.get_or_create(
                        document_id=self.document_id,
                        client_id=client_id,
                        defaults={"user_id": user_id},
                    )
            except IntegrityError:
                # Inserted by another process between our read and insert.
                row = ClientIdOwner.objects.get(document_id=self.document_id, client_id=client_id)
            self.owners[client_id] = row.user_id

    def recorded(self, owners: dict[int, int | None]) -> None:
        """Owners a ClaimWriter round read back from the database."""
        self.owners.update(owners)

    def owned_by_other(self, *, user_id: int, client_id: int) -> bool:
        owner = self.owners.get(client_id, _UNKNOWN)
        return owner is not _UNKNOWN and owner != user_id

    def check_writes(
        self, *, user_id: int | None, shape: UpdateShape, state: dict[int, int]
    ) -> list[int]:
        """Raise ForeignClientId if ``shape`` adds structs under an id another account owns;
        otherwise return the written ids nobody owns yet (for the caller to claim)."""
        unknown = []
        for client_id in written_clients(shape, state):
            owner = self.owners.get(client_id, _UNKNOWN)
            if owner is _UNKNOWN:
                unknown.append(client_id)
            elif owner != user_id:
                raise ForeignClientId(client_id)
        return unknown

    def repeats_others(
        self, *, user_id: int | None, shape: UpdateShape, state: dict[int, int]
    ) -> bool:
        """Whether ``shape`` carries structs the document already has under an id that is
        not ``user_id``'s (honest step 2s never do: they start at the server's clocks)."""
        return any(
            start < state.get(client, 0) and self.owners.get(client, _UNKNOWN) != user_id
            for client, (start, _end) in shape.groups.items()
        )

    def claim_in_memory(self, *, user_id: int | None, client_ids: list[int]) -> None:
        """Claim without the database (a caller that has none; the socket path claims in
        the database first, see Room.receive_update)."""
        for client_id in client_ids:
            self.owners.setdefault(client_id, user_id)


def awareness_entries(update: bytes) -> list[tuple[int, bytes]]:
    """An awareness update's entries as (client id, encoded entry); UpdateRejected if malformed.

    Read strictly (bounded varUints, lengths checked, UTF-8 validated, nothing left over):
    pycrdt's Decoder silently returns a short slice for a length past the end.
    """
    reader = _Reader(update)
    entries = []
    for _ in range(reader.count(3)):  # an entry is at least client, clock, state length
        start = reader.pos
        client_id = reader.var_uint()
        reader.var_uint()  # clock
        reader.var_string()  # state as JSON ("null" removes it)
        entries.append((client_id, update[start : reader.pos]))
    if reader.pos != reader.end:
        reader.fail("trailing bytes after the awareness entries")
    return entries


def awareness_update_of(entries: list[bytes]) -> bytes:
    """Encode entries (as awareness_entries returns them) back into one awareness update."""
    return write_var_uint(len(entries)) + b"".join(entries)


@functools.cache
def _claims_thread() -> ThreadPoolExecutor:
    """The process's one thread for client id claims (ClaimWriter.executor)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="collab-claims")


def claims_record(claims: list[tuple[str, int | None, list[int]]]) -> list:
    """Record each (document id, user id, client ids) claim in one transaction; per claim,
    the owners of its ids as the database has them (whoever inserted first wins), or the
    exception that claim alone raised.

    Sync (database): two queries for the whole round, whatever its size.
    """
    try:
        with transaction.atomic():
            ClientIdOwner.objects.bulk_create(
                [
                    ClientIdOwner(document_id=document_id, client_id=client_id, user_id=user_id)
                    for document_id, user_id, client_ids in claims
                    for client_id in client_ids
                ],
                ignore_conflicts=True,
            )
            wanted = Q()
            for document_id, _user_id, client_ids in claims:
                wanted |= Q(document_id=document_id, client_id__in=client_ids)
            found: dict[tuple[str, int], int | None] = {
                (str(document_id), client_id): user_id
                for document_id, client_id, user_id in ClientIdOwner.objects.filter(
                    wanted
                ).values_list("document_id", "client_id", "user_id")
            }
    except IntegrityError:
        # A document deleted meanwhile fails the whole insert: each claim on its own.
        return [_claim_alone(*claim) for claim in claims]
    return [
        {client_id: found[(str(document_id), client_id)] for client_id in client_ids}
        for document_id, _user_id, client_ids in claims
    ]


def _claim_alone(document_id, user_id, client_ids):
    owners = ClientIdOwners(str(document_id))
    try:
        owners.claim(user_id=user_id, client_ids=client_ids)
    except (IntegrityError, ClientIdOwner.DoesNotExist) as exc:
        return exc
    return owners.owners


class ClaimWriter(GroupCommit):
    """Coalesces the client id claims of a process's rooms: a crowd joining at once (every
    page load is a new client id) costs a few commits, not one each in the shared database
    thread, ahead of everyone's next keystroke."""

    def executor(self) -> ThreadPoolExecutor | None:
        """On PostgreSQL claims have a thread of their own. A new client's edit waits for its
        claim, and in channels' database thread the claim queued behind every connecting
        socket's sign-in queries (W2 on PostgreSQL: ~0.3 s for the first keystrokes after
        200 sockets connected). SQLite keeps to that thread: its connections lock each
        other out."""
        if connections["default"].vendor == "sqlite":
            return None
        return _claims_thread()

    async def claim(self, document_id, user_id: int | None, client_ids: list[int]) -> dict:
        """The owners of ``client_ids`` once recorded (the claimant's, or an earlier one's)."""
        return await self.submit((str(document_id), user_id, list(client_ids)))

    def write_many(self, items: list) -> list:
        return claims_record(items)
