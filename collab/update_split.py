"""Cut a large Yjs v1 update into pieces that, applied in order, give the same document."""

# Why this exists: pycrdt holds the GIL for the whole of Doc.apply_update (pycrdt 0.14.13
# has no allow_threads anywhere), so applying a multi-megabyte snapshot in a worker thread
# still stops the event loop, and every other room of the process, for the whole apply.
# Applied piece by piece from a worker thread, the loop gets the GIL back between two
# pieces (Python's switch interval), so its worst stall is one piece's apply.
#
# A v1 update is: struct groups (per client: count, client, first clock, then the structs,
# whose clocks follow from the first one and each struct's length), then the delete set.
# A struct's bytes do not depend on where its group starts, so a run of a client's
# consecutive structs behind a header of its own is a valid group. Pieces are cut from a
# causal order of the structs (every origin, right origin and parent a struct names comes
# first), so each piece integrates completely once the ones before it are in: nothing
# waits in yrs's pending store. The delete set goes with the last piece.
#
# Finding struct boundaries means walking every struct in Python (~4 µs each, several
# times pycrdt's apply), so it is done once, when a snapshot is written (store.py), and
# kept as a plan: byte ranges of the update plus the few header bytes each piece needs.
# The input is our own (pycrdt's encoding of a document), so the walker trusts it; on
# anything it does not know (Skip structs, unknown content or type refs, trailing bytes)
# it gives up and there is no plan: the update is applied whole, never guessed at.

from bisect import bisect_right

from pycrdt import write_var_uint

__all__ = ["PIECE_BYTES", "plan_pieces", "split_plan"]

# Struct bytes per piece: ~1-2 ms of apply here (a text of small items, a board of maps),
# which bounds the loop's stall while a large document loads (docs/benchmarks.md).
PIECE_BYTES = 128 * 1024

_GC, _DELETED, _JSON, _BINARY, _STRING, _EMBED, _FORMAT, _TYPE, _ANY, _DOC, _SKIP = range(11)
_XML_ELEMENT = 3
# Type refs yjs@13 writes and yrs reads alike (collab/update_guard.py refuses the others).
_TYPE_REFS = frozenset({0, 1, 2, 3, 4, 6})
# lib0 Any tags (lib0 decoding.js readAny) and the payload size of the fixed ones.
_ANY_FIXED = {127: 0, 126: 0, 124: 4, 123: 8, 122: 8, 121: 0, 120: 0}
_ANY_VAR_INT, _ANY_STRING, _ANY_OBJECT, _ANY_ARRAY, _ANY_BYTES = 125, 119, 118, 117, 116
_ASTRAL_LEADS = tuple(bytes([b]) for b in range(0xF0, 0xF5))


class _CannotSplit(Exception):
    pass


def split_plan(update: bytes, *, piece_bytes: int = PIECE_BYTES) -> dict | None:
    """How to cut `update` into pieces of about piece_bytes of structs (a single struct may
    be larger), as JSON-able data for plan_pieces; None when it is not worth it (small) or
    not possible (a shape the walker does not know)."""
    if len(update) <= piece_bytes:
        return None
    try:
        groups, delete_start = _walk(update)
        runs = _causal_runs(groups)
    except (_CannotSplit, IndexError, UnicodeDecodeError):
        return None
    pieces = _cut(groups, runs, piece_bytes)
    if len(pieces) < 2:
        return None
    return {"pieces": pieces, "delete_set": delete_start}


def plan_pieces(update: bytes, plan: dict) -> list[bytes]:
    """The pieces a plan describes: each span [client, clock, structs, start, end] is a
    group header and update[start:end]; the last piece also carries the delete set."""
    pieces = []
    last = len(plan["pieces"]) - 1
    for number, spans in enumerate(plan["pieces"]):
        out = [write_var_uint(len(spans))]
        for client, clock, count, start, end in spans:
            out += (write_var_uint(count), write_var_uint(client), write_var_uint(clock))
            out.append(update[start:end])
        out.append(update[plan["delete_set"] :] if number == last else b"\x00")
        pieces.append(b"".join(out))
    return pieces


def _var_uint(buf: bytes, pos: int) -> tuple[int, int]:
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    num = b & 0x7F
    shift = 7
    while True:
        pos += 1
        b = buf[pos]
        num |= (b & 0x7F) << shift
        if b < 0x80:
            return num, pos + 1
        shift += 7
        if shift > 63:
            raise _CannotSplit("varUint too long")


def _skip_string(buf: bytes, pos: int) -> int:
    n, pos = _var_uint(buf, pos)
    return pos + n


def _skip_anys(buf: bytes, pos: int, n: int) -> int:
    """Skip n lib0 Any values, iteratively (nested arrays and objects use a stack)."""
    todo = [(n, False)]  # (values left, they are object entries with a key before each)
    while todo:
        left, is_object = todo.pop()
        while left:
            left -= 1
            if is_object:
                pos = _skip_string(buf, pos)
            tag = buf[pos]
            pos += 1
            size = _ANY_FIXED.get(tag)
            if size is not None:
                pos += size
            elif tag == _ANY_STRING or tag == _ANY_BYTES:
                pos = _skip_string(buf, pos)
            elif tag == _ANY_VAR_INT:
                while buf[pos] >= 0x80:
                    pos += 1
                pos += 1
            elif tag == _ANY_ARRAY or tag == _ANY_OBJECT:
                count, pos = _var_uint(buf, pos)
                if count:
                    todo.append((left, is_object))
                    todo.append((count, tag == _ANY_OBJECT))
                    break
            else:
                raise _CannotSplit(f"unknown Any tag {tag}")
    return pos


def _string_length(raw: bytes) -> int:
    """A string item's clock length: UTF-16 code units, as yjs and yrs count them."""
    if raw.isascii():
        return len(raw)
    return len(raw.decode("utf-8")) + sum(raw.count(lead) for lead in _ASTRAL_LEADS)


class _Group:
    """One client's structs, in units that are never cut apart: a struct and the
    zero-length structs after it (pycrdt writes empty string items when it splits a block
    inside a multi-byte character; alone in a piece, one makes yrs panic). Per unit: the
    clock, the index of its first struct, its end offset, the ids its structs name."""

    __slots__ = ("client", "clocks", "end_clock", "ends", "firsts", "named", "start", "structs")

    def __init__(self, client: int, start: int, structs: int) -> None:
        self.client = client
        self.start = start  # offset of the first struct
        self.structs = structs
        self.clocks: list[int] = []
        self.firsts: list[int] = []
        self.ends: list[int] = []
        # The (client, clock) ids a unit's structs name (origins, parents), or None.
        self.named: list[tuple | None] = []
        self.end_clock = 0

    def count(self, first: int, end: int) -> int:
        """The number of structs in units first..end-1."""
        return (self.firsts[end] if end < len(self.firsts) else self.structs) - self.firsts[first]


def _walk(buf: bytes) -> tuple[list[_Group], int]:
    """Every struct's boundaries and the ids it names; the offset of the delete set."""
    var_uint = _var_uint
    n_groups, pos = var_uint(buf, 0)
    groups = []
    for _ in range(n_groups):
        n_structs, pos = var_uint(buf, pos)
        client, pos = var_uint(buf, pos)
        clock, pos = var_uint(buf, pos)
        if any(g.client == client for g in groups):
            raise _CannotSplit("a client with two groups")
        group = _Group(client, pos, n_structs)
        clocks, ends, names, firsts = group.clocks, group.ends, group.named, group.firsts
        zero_only = False  # the last unit holds only zero-length structs so far
        for index in range(n_structs):
            info = buf[pos]
            pos += 1
            ref = info & 0x1F
            named = None
            if ref == _GC:
                length, pos = var_uint(buf, pos)
            elif ref == _SKIP:
                # A gap: what follows cannot integrate yet (yrs keeps it pending).
                raise _CannotSplit("skip struct")
            else:
                if info & 0xC0:
                    if info & 0x80:  # origin
                        c, pos = var_uint(buf, pos)
                        k, pos = var_uint(buf, pos)
                        named = ((c, k),)
                    if info & 0x40:  # right origin
                        c, pos = var_uint(buf, pos)
                        k, pos = var_uint(buf, pos)
                        named = ((c, k),) if named is None else (*named, (c, k))
                else:  # no origins: the parent is written
                    parent_info, pos = var_uint(buf, pos)
                    if parent_info == 1:
                        pos = _skip_string(buf, pos)  # a root type's name
                    elif parent_info == 0:
                        c, pos = var_uint(buf, pos)
                        k, pos = var_uint(buf, pos)
                        named = ((c, k),)
                    else:
                        raise _CannotSplit("parent info")
                    if info & 0x20:
                        pos = _skip_string(buf, pos)  # the map key
                if ref == _STRING:
                    n, pos = var_uint(buf, pos)
                    length = _string_length(buf[pos : pos + n])
                    pos += n
                elif ref == _DELETED:
                    length, pos = var_uint(buf, pos)
                elif ref == _ANY:
                    length, pos = var_uint(buf, pos)
                    pos = _skip_anys(buf, pos, length)
                elif ref == _JSON:
                    length, pos = var_uint(buf, pos)
                    for _ in range(length):
                        pos = _skip_string(buf, pos)
                elif ref == _TYPE:
                    length = 1
                    type_ref = buf[pos]
                    pos += 1
                    if type_ref not in _TYPE_REFS:
                        raise _CannotSplit(f"type ref {type_ref}")
                    if type_ref == _XML_ELEMENT:
                        pos = _skip_string(buf, pos)  # node name
                elif ref == _FORMAT:
                    length = 1
                    pos = _skip_string(buf, _skip_string(buf, pos))  # key, JSON value
                elif ref == _EMBED or ref == _BINARY:
                    length = 1
                    pos = _skip_string(buf, pos)
                elif ref == _DOC:
                    length = 1
                    pos = _skip_anys(buf, _skip_string(buf, pos), 1)  # guid, options
                else:
                    raise _CannotSplit(f"content ref {ref}")
            if clocks and zero_only:
                ends[-1] = pos
                if named is not None:
                    names[-1] = named if names[-1] is None else (*names[-1], *named)
                zero_only = zero_only and length == 0
            else:
                clocks.append(clock)
                firsts.append(index)
                ends.append(pos)
                names.append(named)
                zero_only = length == 0
            clock += length
        if pos > len(buf):
            raise _CannotSplit("truncated")
        group.end_clock = clock
        groups.append(group)
    delete_start = pos
    n_clients, pos = var_uint(buf, pos)
    for _ in range(n_clients):
        _client, pos = var_uint(buf, pos)
        n_ranges, pos = var_uint(buf, pos)
        for _ in range(2 * n_ranges):
            _, pos = var_uint(buf, pos)
    if pos != len(buf):
        raise _CannotSplit("trailing bytes")
    return groups, delete_start


def _causal_runs(groups: list[_Group]) -> list[tuple[int, int, int]]:
    """(group index, first struct, end struct) runs, in an order where every struct comes
    after the structs of this update it names. Greedy: each client advances as far as it
    can, round after round, so a document with one writer is one run."""
    # Per client in the update, the clock below which its structs are in (below its first
    # clock: in the document already, or missing either way, as for a whole apply).
    known = {g.client: g.clocks[0] if g.clocks else g.end_clock for g in groups}
    position = [0] * len(groups)
    runs: list[tuple[int, int, int]] = []
    left = sum(len(g.clocks) for g in groups)  # units not placed yet
    while left:
        progress = False
        for index, group in enumerate(groups):
            i = first = position[index]
            clocks, names, client = group.clocks, group.named, group.client
            count = len(clocks)
            while i < count:
                named = names[i]
                if named is not None:
                    blocked = False
                    for c, k in named:
                        have = known.get(c)
                        if have is not None and k >= have:
                            blocked = True
                            break
                    if blocked:
                        break
                i += 1
                known[client] = clocks[i] if i < count else group.end_clock
            if i > first:
                runs.append((index, first, i))
                position[index] = i
                left -= i - first
                progress = True
        if not progress:
            raise _CannotSplit("structs that wait on each other")
    return runs


def _cut(groups: list[_Group], runs: list[tuple[int, int, int]], piece_bytes: int) -> list:
    """The runs cut into pieces of about piece_bytes of struct bytes, as span lists."""
    pieces: list[list[list[int]]] = []
    # The piece being filled: group index -> [first struct, end struct]. A client's
    # structs in one piece are contiguous, since each client's come in order.
    current: dict[int, list[int]] = {}
    size = 0

    def struct_start(group: _Group, i: int) -> int:
        return group.ends[i - 1] if i else group.start

    def close() -> None:
        spans = []
        for index, (first, end) in current.items():
            group = groups[index]
            spans.append(
                [
                    group.client,
                    group.clocks[first],
                    group.count(first, end),
                    struct_start(group, first),
                    group.ends[end - 1],
                ]
            )
        pieces.append(spans)
        current.clear()

    for index, first, end in runs:
        group = groups[index]
        i = first
        while i < end:
            start = struct_start(group, i)
            # The structs of this run that still fit (at least one per piece).
            j = bisect_right(group.ends, start + piece_bytes - size, i, end)
            if j == i:
                if size:
                    close()
                    size = 0
                    continue
                j = i + 1
            span = current.get(index)
            if span is not None:
                span[1] = j
            else:
                current[index] = [i, j]
            size += group.ends[j - 1] - start
            i = j
    if current or not pieces:
        close()
    return pieces
