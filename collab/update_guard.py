"""Refuse malformed or too deeply nested Yjs v1 updates before pycrdt ever sees them."""

# Why this exists: yrs (under pycrdt) decodes and converts nested values recursively. An
# update a few dozen KB long whose values nest tens of thousands of levels deep overflows
# the native stack in apply_update / merge_updates / get_state, which kills the whole
# process (SIGSEGV, nothing Python can catch); shallower ones apply and then kill whoever
# converts the value to Python. So every update from a client goes through check_update
# first. The decoder below walks the whole update with explicit stacks (never Python
# recursion, so it cannot hit RecursionError either) and mirrors what yrs would read byte
# for byte: wherever the two could disagree on where a field ends, it refuses the update,
# because a disagreement would let bytes the guard never looked at reach yrs.

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import accumulate, count
from operator import sub
from typing import NoReturn

__all__ = ["DEFAULT_MAX_DEPTH", "UpdateItems", "UpdateRejected", "UpdateShape", "check_update"]

# Far above any real editor schema (ProseMirror documents nest a dozen levels or so), far
# below what crashes pycrdt 0.14.13 here: ~13k levels once converted to Python, ~26k in
# apply_update itself (and less on a thread with a smaller stack).
DEFAULT_MAX_DEPTH = 128

# lib0 (the JS side) refuses integers above Number.MAX_SAFE_INTEGER, so no honest client
# sends one; refusing them also keeps Python's unbounded ints from growing on hostile input.
_MAX_SAFE_INTEGER = 2**53 - 1
# A 53-bit varint takes at most 8 bytes; longer runs of continuation bytes are hostile.
_MAX_VARINT_SHIFT = 56
# yrs keeps clocks and lengths in u32 and wraps silently on overflow; refusing anything that
# would wrap keeps our (client, clock) bookkeeping identical to the one yrs does.
_CLOCK_LIMIT = 2**32

# Content refs (info & 0x1F) of the v1 struct encoding, from yjs src/structs/Item.js.
_GC = 0
_DELETED = 1
_JSON = 2
_BINARY = 3
_STRING = 4
_EMBED = 5
_FORMAT = 6
_TYPE = 7
_ANY = 8
_DOC = 9
_SKIP = 10

# Type refs from yjs src/structs/ContentType.js: 0 Array, 1 Map, 2 Text, 3 XmlElement (a
# node-name key follows), 4 XmlFragment, 6 XmlText. 5 (XmlHook) is refused on purpose:
# yjs writes a hook-name key after it but yrs reads none, so the two would part ways on
# where the next struct starts and the guard could be walked around. Editors do not use
# hooks. Refs from 7 up are yrs/experimental extensions no yjs@13 client writes.
_TYPE_XML_ELEMENT = 3
_ALLOWED_TYPE_REFS = frozenset({0, 1, 2, 3, 4, 6})

# lib0 Any tags, see lib0 decoding.js readAny.
_ANY_UNDEFINED = 127
_ANY_NULL = 126
_ANY_VAR_INT = 125
_ANY_FLOAT32 = 124
_ANY_FLOAT64 = 123
_ANY_BIGINT64 = 122
_ANY_FALSE = 121
_ANY_TRUE = 120
_ANY_STRING = 119
_ANY_OBJECT = 118
_ANY_ARRAY = 117
_ANY_BYTES = 116
_ANY_FIXED_SIZE = {
    _ANY_UNDEFINED: 0,
    _ANY_NULL: 0,
    _ANY_FALSE: 0,
    _ANY_TRUE: 0,
    _ANY_FLOAT32: 4,
    _ANY_FLOAT64: 8,
    _ANY_BIGINT64: 8,
}

# A JSON string literal, written so the match can never fail once it has seen the opening
# quote (it also stops at the end of input): no backtracking, so stripping literals stays
# linear even on hostile, unterminated input.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
# After stripping literals only brackets matter: keep them as 2 (open) and 0 (close).
_BRACKETS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# Lead bytes of 4-byte UTF-8 sequences: each such code point is two UTF-16 units.
_UTF8_ASTRAL_LEADS = tuple(bytes([b]) for b in range(0xF0, 0xF5))


class UpdateRejected(ValueError):
    """The update must not be applied: it is malformed, or nests deeper than allowed."""

    def __init__(self, reason: str, offset: int | None = None) -> None:
        self.reason = reason
        self.offset = offset
        where = "" if offset is None else f" (at byte {offset})"
        super().__init__(f"Yjs update rejected: {reason}{where}")


@dataclass(frozen=True, slots=True)
class UpdateItems:
    """Every item of a checked update, as the decoder saw it (for collab/depth_map.py).

    Per client, in clock order: ``starts`` / ``ends`` (end exclusive), ``links`` (how the
    item's container is found: ``None`` for a root type, ``("parent", id)`` or
    ``("origins", origin, right_origin)``) and ``types`` (whether the item is a shared
    type). ``nested``: (client, index, value depth) of every item whose value nests,
    outside a root type. ``gcs``: GC ranges per client (no container, nothing lives there).
    Empty string items take no clock and are left out.
    """

    starts: dict[int, list[int]]
    ends: dict[int, list[int]]
    links: dict[int, list]
    types: dict[int, list[bool]]
    nested: dict[tuple[int, int], int]
    gcs: dict[int, list[tuple[int, int]]]


@dataclass(frozen=True, slots=True)
class UpdateShape:
    """What a checked update writes and what it leans on, for ownership and pending checks.

    ``groups``: client -> (first clock, end clock) of its struct group (GC and Skip
    structs included, so a range may have holes). ``references``: every (client, clock)
    an item names as origin, right origin or parent that is not inside this update.
    ``deletes``: the delete set as (client, clock, end) ranges.
    """

    groups: dict[int, tuple[int, int]]
    references: frozenset[tuple[int, int]]
    deletes: tuple[tuple[int, int, int], ...]
    # Where Skip structs start: a Skip marks clocks the update does not carry, so what
    # follows it cannot integrate until someone sends them (yjs/yrs keep it pending).
    skips: tuple[tuple[int, int], ...] = ()
    # An item of the update that (through origins, parents and its own client's earlier
    # clocks) depends on itself: yrs cannot integrate it and keeps it pending (e.g. an
    # origin pointing at a later clock of the same client). None when there is none.
    cycle_at: tuple[int, int] | None = None
    # The items themselves, for the document-wide depth bound (collab/depth_map.py).
    items: UpdateItems | None = field(default=None, compare=False, repr=False)

    def missing_dependencies(self, state: dict[int, int]) -> list[tuple[int, int]]:
        """What this update needs that a document with state vector ``state`` lacks.

        Applied there, yrs would keep the update pending (silently, see NOTES.md): a
        struct group starting past the document's clock for its client, an origin or
        parent the document does not have, or a deletion of structs it does not have.
        """
        # Where each client's known clocks end once this update's own groups are in.
        known = dict(state)
        missing = list(self.skips)
        if self.cycle_at is not None:
            missing.append(self.cycle_at)
        for client, (start, end) in self.groups.items():
            have = state.get(client, 0)
            if start > have:
                missing.append((client, have))
            elif end > have:
                known[client] = end
        missing.extend(
            (client, clock) for client, clock in self.references if clock >= known.get(client, 0)
        )
        missing.extend(
            (client, known.get(client, 0))
            for client, _clock, end in self.deletes
            if end > known.get(client, 0)
        )
        return sorted(set(missing))


def check_update(update: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> UpdateShape:
    """Raise UpdateRejected unless ``update`` is a well-formed Yjs v1 update of bounded depth.

    Returns the update's shape (what it writes and refers to) once it passed.

    The whole update is decoded: the struct groups (Items, GC and Skip structs) and the
    delete set, with nothing left over. Refused: truncation, malformed varints, integers
    beyond 2**53 - 1, clocks beyond yrs's u32, counts or lengths larger than the bytes
    left, invalid UTF-8, unknown content refs, Any tags or type refs (XmlHook included,
    see _ALLOWED_TYPE_REFS), a parent-info value other than 0 or 1, a client with two
    struct groups, a cycle among parents and origins, and trailing bytes.

    Depth counts the shared type holding a value (a root type is 1, a type nested in it 2,
    ...) plus the nesting inside the value: lib0 Any arrays and objects (ContentAny,
    ContentDoc options) and JSON brackets (ContentJSON, ContentEmbed, ContentFormat). A
    nested type's depth is its parent's + 1; its parent is the explicit parent ID or,
    when the item only carries origins, whatever its origin / right origin items live in.

    Only items inside this update are known here: a parent (or origin) that lives in the
    document already counts as depth 1, as if it were a root type. Nesting built one
    update at a time is bounded by collab/depth_map.py (``DepthMap.admit``), which knows
    the document and uses the items this returns in ``shape.items``.

    Never raises anything but UpdateRejected for any bytes; ``max_depth`` below 1 is a
    programming error (ValueError).
    """
    if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 1:
        raise ValueError("max_depth must be a positive integer")
    if isinstance(update, bytearray | memoryview):
        update = bytes(update)
    elif not isinstance(update, bytes):
        raise UpdateRejected(f"an update is bytes, not {type(update).__name__}")
    try:
        return _scan(update, max_depth)["shape"]
    except UpdateRejected:
        raise
    except Exception as exc:
        # Every read above is bounds-checked on purpose; this net only exists so that a
        # bug in the guard itself still answers a stranger's bytes with a refusal, never
        # with a 500 or a dropped consumer. The tests assert it never fires.
        raise UpdateRejected(f"internal decoder error ({type(exc).__name__})") from exc


class _Reader:
    """A cursor over the update; every read checks the bytes left first."""

    __slots__ = ("buf", "end", "pos")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0
        self.end = len(buf)

    def fail(self, reason: str, offset: int | None = None) -> NoReturn:
        raise UpdateRejected(reason, self.pos if offset is None else offset)

    def u8(self) -> int:
        pos = self.pos
        if pos >= self.end:
            self.fail("unexpected end of update")
        self.pos = pos + 1
        return self.buf[pos]

    def skip(self, n: int) -> None:
        if n > self.end - self.pos:
            self.fail("unexpected end of update")
        self.pos += n

    def var_uint(self, limit: int = _MAX_SAFE_INTEGER) -> int:
        buf, pos, end = self.buf, self.pos, self.end
        if pos >= end:
            self.fail("unexpected end of update")
        b = buf[pos]
        pos += 1
        if b < 0x80:  # the common one-byte case
            num = b
        else:
            start = pos - 1
            num = b & 0x7F
            shift = 7
            while True:
                if pos >= end:
                    self.fail("unexpected end of update inside a varUint", start)
                b = buf[pos]
                pos += 1
                num |= (b & 0x7F) << shift
                if b < 0x80:
                    break
                shift += 7
                if shift >= _MAX_VARINT_SHIFT:
                    self.fail("varUint longer than 8 bytes", start)
            if num > _MAX_SAFE_INTEGER:
                self.fail("varUint above 2**53 - 1", start)
        if num > limit:
            self.fail(f"value {num} out of range (at most {limit})", self.pos)
        self.pos = pos
        return num

    def var_int(self) -> None:
        """Skip a lib0 varInt: sign in bit 6 of the first byte, 6 value bits, then 7 per byte."""
        buf, pos, end = self.buf, self.pos, self.end
        start = pos
        if pos >= end:
            self.fail("unexpected end of update")
        b = buf[pos]
        pos += 1
        num = b & 0x3F
        shift = 6
        while b >= 0x80:
            if pos >= end:
                self.fail("unexpected end of update inside a varInt", start)
            b = buf[pos]
            pos += 1
            num |= (b & 0x7F) << shift
            shift += 7
            if shift > _MAX_VARINT_SHIFT:
                self.fail("varInt longer than 8 bytes", start)
        if num > _MAX_SAFE_INTEGER:
            self.fail("varInt beyond 2**53 - 1", start)
        self.pos = pos

    def count(self, min_bytes_each: int = 1) -> int:
        """A number of things still to read, each taking at least ``min_bytes_each`` bytes.

        yrs pre-allocates from such counts (Vec::with_capacity), so an absurd one is an
        allocation failure, which aborts the process; and no honest count can exceed the
        bytes that are left.
        """
        start = self.pos
        n = self.var_uint()
        if n * min_bytes_each > self.end - self.pos:
            self.fail(f"count {n} exceeds the bytes left", start)
        return n

    def var_bytes(self) -> bytes:
        start = self.pos
        n = self.var_uint()
        pos = self.pos
        if n > self.end - pos:
            self.fail(f"length {n} exceeds the bytes left", start)
        self.pos = pos + n
        return self.buf[pos : pos + n]

    def var_string(self) -> bytes:
        """A lib0 varString (varUint byte length, UTF-8), validated, returned as bytes."""
        start = self.pos
        raw = self.var_bytes()
        if not raw.isascii():
            # yrs builds its strings with from_utf8_unchecked: invalid UTF-8 must not reach it.
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                self.fail("string is not valid UTF-8", start)
        return raw

    def clock_id(self) -> tuple[int, int]:
        client = self.var_uint()
        clock = self.var_uint(_CLOCK_LIMIT - 1)
        return client, clock


def _utf16_length(raw: bytes) -> int:
    # Yjs (and yrs, for compatibility) count string items in UTF-16 code units; raw is valid
    # UTF-8 here, so code points are the non-continuation bytes and astral ones count twice.
    if raw.isascii():
        return len(raw)
    return len(raw.decode("utf-8")) + sum(raw.count(lead) for lead in _UTF8_ASTRAL_LEADS)


def _json_depth(raw: bytes) -> int:
    """Bracket nesting of a JSON text, outside string literals, without parsing it.

    Exact for any JSON a parser accepts; what it says about broken JSON does not matter,
    since yrs refuses that anyway.
    """
    if b"[" not in raw and b"{" not in raw:
        return 0
    brackets = _JSON_STRING.sub(b"", raw).translate(_BRACKETS, _NOT_BRACKETS)
    if not brackets:
        return 0
    # opens - closes after each bracket, all in C: prefix sums of 2/0 minus the position.
    return max(0, max(map(sub, accumulate(brackets), count(1))))


def _read_anys(r: _Reader, n: int, limit: int) -> int:
    """Skip ``n`` consecutive lib0 Any values; return the deepest nesting among them.

    Arrays and objects count one level each, scalars none. Iterative on purpose, with an
    explicit stack that gives up as soon as the nesting passes ``limit``. The common
    shapes (fixed-size scalars, short strings) are read inline: this loop is what a
    hostile update full of tiny values makes us spend time in.
    """
    if not n:
        return 0
    buf, end = r.buf, r.end
    fixed = _ANY_FIXED_SIZE
    # remaining[k]: values still to read in the k-th open container; remaining[0] is the
    # run of n top-level values, so len(remaining) is also the depth of a container
    # opened now.
    remaining = [n]
    is_object = [False]  # objects read a key string before every value
    deepest = 0
    pos = r.pos
    while True:
        if pos >= end:
            r.pos = pos
            r.fail("unexpected end of update inside an Any value")
        tag = buf[pos]
        pos += 1
        size = fixed.get(tag)
        if size is not None:
            if size:
                if size > end - pos:
                    r.pos = pos
                    r.fail("unexpected end of update inside an Any value")
                pos += size
        elif tag == _ANY_STRING:
            length = buf[pos] if pos < end else 0x80
            if length < 0x80 and length < end - pos and buf[pos + 1 : pos + 1 + length].isascii():
                pos += 1 + length  # short ASCII string: nothing to validate
            else:
                r.pos = pos
                r.var_string()
                pos = r.pos
        elif tag == _ANY_ARRAY or tag == _ANY_OBJECT:
            obj = tag == _ANY_OBJECT
            r.pos = pos
            # an array entry takes at least its tag byte; an object one a key length too
            count = r.count(2 if obj else 1)
            depth = len(remaining)
            if depth > limit:
                r.fail(f"value nests deeper than max_depth {limit + 1}", pos - 1)
            if depth > deepest:
                deepest = depth
            if count:
                remaining.append(count)
                is_object.append(obj)
                if obj:
                    r.var_string()
                pos = r.pos
                continue
            pos = r.pos
        elif tag == _ANY_VAR_INT:
            if pos < end and buf[pos] < 0x80:
                pos += 1
            else:
                r.pos = pos
                r.var_int()
                pos = r.pos
        elif tag == _ANY_BYTES:
            r.pos = pos
            r.var_bytes()
            pos = r.pos
        else:
            r.fail(f"unknown Any tag {tag}", pos - 1)
        # One value is complete: close every container it was the last entry of.
        while True:
            left = remaining[-1] - 1
            if left:
                remaining[-1] = left
                if is_object[-1]:
                    r.pos = pos
                    r.var_string()
                    pos = r.pos
                break
            remaining.pop()
            is_object.pop()
            if not remaining:
                r.pos = pos
                return deepest


def _read_json(r: _Reader, limit: int) -> int:
    start = r.pos
    depth = _json_depth(r.var_string())
    if depth > limit:
        r.fail(f"JSON nests deeper than max_depth {limit + 1}", start)
    return depth


# How an item's container is found, kept per item for the pass after decoding.
_ROOT = None  # parent is a root type: container depth 1, nothing to resolve


def _scan(update: bytes, max_depth: int) -> dict:
    """Decode ``update`` completely; raise UpdateRejected on the first problem.

    Returns a small summary (used by the tests): the end clock of each client's struct
    group, the number of structs and of delete-set ranges.
    """
    r = _Reader(update)
    # Any container depth is at least 1 (a root type), so a value alone may nest at most
    # max_depth - 1; checked while reading, so a hostile value costs only that much work.
    value_limit = max_depth - 1

    # Per client: start and end clock of each Item (GC and Skip are not Items: nothing can
    # live in them), how its container is found, and whether it is a shared type.
    starts: dict[int, list[int]] = {}
    ends: dict[int, list[int]] = {}
    links: dict[int, list] = {}
    types: dict[int, list[bool]] = {}
    # (client, index) of every type item, and of every value nesting below a non-root
    # parent, with the value's own depth: both need their container's depth, known only
    # once every struct has been read (a parent may come later in the update).
    pending: list[tuple[int, int, int]] = []
    gcs: dict[int, list[tuple[int, int]]] = {}
    group_ends: dict[int, int] = {}
    group_starts: dict[int, int] = {}
    # Every ID named as origin, right origin or parent: resolved against the update below.
    named: list[tuple[int, int]] = []
    skips: list[tuple[int, int]] = []
    n_structs = 0

    n_groups = r.count(3)  # a group is at least numStructs, client, clock
    for _ in range(n_groups):
        group_start = r.pos
        n = r.count(2)  # a struct is at least an info byte and one more
        client = r.var_uint()
        clock = r.var_uint(_CLOCK_LIMIT - 1)
        if client in group_ends:
            # yjs and yrs key groups by client; a second one would be merged or dropped
            # depending on the implementation, so it cannot be honest.
            r.fail(f"client {client} has two struct groups", group_start)
        group_starts[client] = clock
        c_starts = starts[client] = []
        c_ends = ends[client] = []
        c_links = links[client] = []
        c_types = types[client] = []
        for _ in range(n):
            struct_start = r.pos
            info = r.u8()
            ref = info & 0x1F
            if ref == _GC or ref == _SKIP:
                length = r.var_uint(_CLOCK_LIMIT)
                if ref == _SKIP:
                    skips.append((client, clock))
                elif length:
                    gcs.setdefault(client, []).append((clock, clock + length))
            else:
                if ref > _DOC:
                    r.fail(f"unknown content ref {ref}", struct_start)
                origin = r.clock_id() if info & 0x80 else None
                right = r.clock_id() if info & 0x40 else None
                if origin is None and right is None:
                    parent_info = r.var_uint()
                    if parent_info == 1:
                        r.var_string()  # root type name
                        link = _ROOT
                    elif parent_info == 0:
                        link = ("parent", r.clock_id())
                        named.append(link[1])
                    else:
                        # yrs reads anything but 1 as "an ID follows"; no encoder writes it
                        r.fail(f"parent info {parent_info} is neither 0 nor 1")
                    if info & 0x20:
                        r.var_string()  # parentSub: the map key
                else:
                    # No parent written: it is the parent of the origin / right origin.
                    link = ("origins", origin, right)
                    if origin is not None:
                        named.append(origin)
                    if right is not None:
                        named.append(right)
                value_depth = 0
                is_type = False
                if ref == _STRING:
                    length = _utf16_length(r.var_string())
                elif ref == _ANY:
                    length = r.count()
                    value_depth = _read_anys(r, length, value_limit)
                elif ref == _DELETED:
                    length = r.var_uint(_CLOCK_LIMIT)
                elif ref == _TYPE:
                    length = 1
                    is_type = True
                    type_start = r.pos
                    # yrs reads the type ref as one raw byte, yjs as a varUint: they agree
                    # on the single-byte values below 128, and only on those.
                    type_ref = r.u8()
                    if type_ref not in _ALLOWED_TYPE_REFS:
                        r.fail(f"unsupported shared type ref {type_ref}", type_start)
                    if type_ref == _TYPE_XML_ELEMENT:
                        r.var_string()  # node name
                elif ref == _FORMAT:
                    length = 1
                    r.var_string()  # attribute key
                    value_depth = _read_json(r, value_limit)
                elif ref == _EMBED:
                    length = 1
                    value_depth = _read_json(r, value_limit)
                elif ref == _JSON:
                    length = r.count()
                    for _ in range(length):
                        d = _read_json(r, value_limit)  # "undefined" has no brackets
                        if d > value_depth:
                            value_depth = d
                elif ref == _BINARY:
                    length = 1
                    r.var_bytes()
                else:  # _DOC
                    length = 1
                    r.var_string()  # guid
                    value_depth = _read_anys(r, 1, value_limit)  # options object
                # pycrdt itself writes empty string items (yrs splitting a block at a
                # non-ASCII offset), so they are legal; holding no clock, nothing can refer
                # to them and they are not recorded.
                if length:
                    c_starts.append(clock)
                    c_ends.append(clock + length)
                    c_links.append(link)
                    c_types.append(is_type)
                    if is_type:
                        pending.append((client, len(c_starts) - 1, 0))
                    elif value_depth and link is not _ROOT:
                        # (under a root the depth is 1 + value_depth, within max_depth
                        # already: _read_anys and _read_json stop at value_limit)
                        pending.append((client, len(c_starts) - 1, value_depth))
            clock += length
            if clock > _CLOCK_LIMIT:
                r.fail("struct clock beyond 2**32", struct_start)
            n_structs += 1
        group_ends[client] = clock

    # Delete set: numClients, then per client its ranges as (clock, len) pairs.
    n_delete_ranges = 0
    deletes = []
    for _ in range(r.count(2)):
        ds_client = r.var_uint()
        for _ in range(r.count(2)):
            ds_start = r.pos
            ds_clock = r.var_uint(_CLOCK_LIMIT - 1)
            ds_end = ds_clock + r.var_uint(_CLOCK_LIMIT)
            if ds_end > _CLOCK_LIMIT:
                r.fail("delete range beyond 2**32", ds_start)
            if ds_end > ds_clock:
                deletes.append((ds_client, ds_clock, ds_end))
            n_delete_ranges += 1
    if r.pos != r.end:
        r.fail(f"{r.end - r.pos} trailing bytes after the delete set")

    if pending:
        _check_container_depths(max_depth, pending, starts, ends, links, types)
    references = frozenset(
        item_id for item_id in named if _find_item(starts, ends, item_id) is None
    )
    shape = UpdateShape(
        cycle_at=_first_cycle(starts, ends, links),
        groups={c: (group_starts[c], group_ends[c]) for c in group_ends},
        references=references,
        deletes=tuple(deletes),
        skips=tuple(skips),
        items=UpdateItems(
            starts=starts,
            ends=ends,
            links=links,
            types=types,
            nested={(c, i): d for c, i, d in pending if d},
            gcs=gcs,
        ),
    )
    return {
        "clocks": group_ends,
        "structs": n_structs,
        "delete_ranges": n_delete_ranges,
        "shape": shape,
    }


def _first_cycle(starts, ends, links) -> tuple[int, int] | None:
    """The id of an item on a dependency cycle, or None.

    An item waits for the previous item of its client (yrs integrates a client's structs in
    clock order) and for the items its origins or parent name inside the update. Iterative
    three-colour depth-first search: linear, no recursion.
    """
    state: dict[tuple[int, int], int] = {}  # 1 on the stack, 2 done

    def dependencies(node):
        client, i = node
        deps = [(client, i - 1)] if i > 0 else []
        link = links[client][i]
        if link is not _ROOT:
            for item_id in link[1:]:
                if item_id is not None:
                    found = _find_item(starts, ends, item_id)
                    if found is not None:
                        deps.append(found)
        return deps

    for client, c_starts in starts.items():
        for i in range(len(c_starts)):
            root = (client, i)
            if root in state:
                continue
            state[root] = 1
            stack = [(root, iter(dependencies(root)))]
            while stack:
                node, pending = stack[-1]
                for dep in pending:
                    mark = state.get(dep)
                    if mark == 1:
                        return dep[0], starts[dep[0]][dep[1]]
                    if mark is None:
                        state[dep] = 1
                        stack.append((dep, iter(dependencies(dep))))
                        break
                else:
                    state[node] = 2
                    stack.pop()
    return None


def _find_item(starts, ends, item_id):
    """The item of the update that holds ``item_id``, as (client, index), or None."""
    client, clock = item_id
    c_starts = starts.get(client)
    if not c_starts:
        return None
    i = bisect_right(c_starts, clock) - 1
    if i < 0 or clock >= ends[client][i]:
        return None
    return client, i


def _check_container_depths(max_depth, pending, starts, ends, links, types) -> None:
    """Give every type item and nested value its container depth; refuse if too deep.

    The container of an item is its explicit parent (a root: 1; a type item of this
    update: that type's depth; anything else: 1, see check_update) or,
    for items written with origins, the container of the origin and right-origin items
    (the larger, to be safe). Items form a DAG in any update yjs or yrs can integrate; a
    cycle is refused. Memoised and iterative: linear in the number of items.
    """
    memo: dict[int, list] = {}  # client -> container depth per item; -1 while in progress

    def find(item_id):
        return _find_item(starts, ends, item_id)

    def dependencies(client, i):
        # The items whose container depth this one's derives from, and what to add to
        # theirs: 1 through a parent type (its children sit one level below it), 0 through
        # origins (neighbours share a container).
        link = links[client][i]
        if link is _ROOT:
            return (), 0
        if link[0] == "parent":
            found = find(link[1])
            if found is not None and types[found[0]][found[1]]:
                return (found,), 1
            return (), 0
        found = [find(item_id) for item_id in link[1:] if item_id is not None]
        return [f for f in found if f is not None], 0

    def container_depth(client, i) -> int:
        stack = [(client, i)]
        while stack:
            c, j = stack[-1]
            c_memo = memo.get(c)
            if c_memo is None:
                c_memo = memo[c] = [None] * len(starts[c])
            state = c_memo[j]
            if state is not None and state >= 0:  # resolved through another path
                stack.pop()
                continue
            deps, step = dependencies(c, j)
            if state is None:  # first visit: resolve what it depends on first
                c_memo[j] = -1
                for dc, dj in deps:
                    d_memo = memo.get(dc)
                    d_state = None if d_memo is None else d_memo[dj]
                    if d_state == -1:
                        raise UpdateRejected("parents and origins in the update form a cycle")
                    if d_state is None:
                        stack.append((dc, dj))
                continue
            depth = 1  # second visit: every dependency is resolved now
            for dc, dj in deps:
                d = memo[dc][dj] + step
                if d > depth:
                    depth = d
            c_memo[j] = depth
            stack.pop()
        return memo[client][i]

    for client, i, value_depth in pending:
        depth = container_depth(client, i)
        if types[client][i]:
            if depth + 1 > max_depth:
                raise UpdateRejected(f"shared types nest deeper than max_depth {max_depth}")
        elif depth + value_depth > max_depth:
            raise UpdateRejected(f"value nests deeper than max_depth {max_depth}")
