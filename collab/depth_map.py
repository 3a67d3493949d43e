"""How deep every item of a live document sits, so that nesting stays bounded across updates."""

# Why this exists: check_update (collab/update_guard.py) bounds the nesting one update adds,
# but a parent that is already in the document counts there as a root. 250 updates of 120
# nested elements each pass it and build a 30,000-level document that pycrdt applies and
# encodes, and whose first recursive conversion (str(), to_py(), a render) overflows the
# native stack and kills the process. A room therefore keeps this map of its document and
# refuses, before pycrdt sees it, an update that would put a shared type or a nested value
# deeper than COLLAB_MAX_UPDATE_DEPTH from the root.
#
# What is kept: for every Yjs item id (client, clock), the depth of the shared type the item
# lives in (its container: 1 for a root type). An item written with origins lives in the
# container of its origin (or right origin); one written with a parent id lives one level
# below that parent item's container. Consecutive clocks of a client nearly always share a
# container (a run of typing, one pasted paragraph), so each client's clocks are stored as
# runs: an array of (first clock << 20 | depth) entries closed by a sentinel (end clock <<
# 20 | _END). A keystroke costs a binary search per neighbour and, usually, one array write.

import logging
import sys
from array import array
from bisect import bisect_right
from typing import Any

from .update_guard import UpdateItems, UpdateRejected, UpdateShape, check_update

__all__ = ["DepthMap"]

logger = logging.getLogger(__name__)

_BITS = 20
_MASK = (1 << _BITS) - 1
_END = _MASK  # the depth field of the sentinel that closes a client's runs
# Deeper containers are recorded as this: still far beyond any limit a room runs with.
_MAX_RECORDED = _MASK - 1
# A container depth for what lives in no type: GC ranges (the content of deleted types) and
# items whose parent is one (yrs turns those into GC too, so nothing can nest below them).
_ORPHAN = 0
_UNRESOLVED = -1  # the item builds on ids neither the map nor the update holds
_IN_PROGRESS = -2
# Updates the map only learns from were checked elsewhere (another process, the stored log,
# this process's own earlier checks): decode them without a depth limit of their own.
_NO_LIMIT = 1 << 62


class DepthMap:
    """Container depth of every item of one document, by Yjs id, as runs per client.

    Fed by everything applied to the room's Doc: the document as loaded (``of_doc``),
    clients' updates (``admit`` before the apply, ``record`` after) and updates from other
    processes or the log (``learn``). Not thread-safe: the room uses it under its doc lock.
    """

    __slots__ = ("_built_from", "_planned", "_runs", "rebuilds", "undecodable")

    def __init__(self) -> None:
        self._runs: dict[int, array] = {}
        # (shape, segments) resolved by the last admit, for the record that follows it.
        self._planned: tuple[UpdateShape, dict] | None = None
        # The state vector of the Doc the map was last rebuilt from (see _rebuild).
        self._built_from: bytes | None = None
        self.rebuilds = 0
        # Set when the Doc's own encoding did not decode (never seen; a document stored
        # before the update guard existed could hold what it refuses): no more rebuilds.
        self.undecodable = False

    @classmethod
    def of_doc(cls, doc) -> "DepthMap":
        """The map of a whole Doc: decodes its full state, O(document). Run it off the loop."""
        depths = cls()
        if not depths.learn(doc.get_update()):
            depths.undecodable = True
            logger.warning("the depth map could not decode a document's state")
        return depths

    # ------------------------------------------------------------------ reading

    def depth_of(self, client: int, clock: int) -> int | None:
        """Depth of the type holding item (client, clock); 0 for GC; None if not known."""
        runs = self._runs.get(client)
        if runs is None or clock >= runs[-1] >> _BITS:
            return None
        return runs[bisect_right(runs, (clock << _BITS) | _MASK) - 1] & _MASK

    def known(self) -> dict[int, int]:
        """Where each client's known clocks end (the state vector the map covers)."""
        return {client: runs[-1] >> _BITS for client, runs in self._runs.items()}

    def deepest(self) -> int:
        """The deepest container of any item (1: everything sits in root types)."""
        return max(
            (runs[i] & _MASK for runs in self._runs.values() for i in range(len(runs) - 1)),
            default=0,
        )

    def runs(self) -> int:
        return sum(len(runs) - 1 for runs in self._runs.values())

    def nbytes(self) -> int:
        """Memory held, roughly: the arrays, their keys, and the dict's slots."""
        return sys.getsizeof(self._runs) + sum(
            sys.getsizeof(c) + sys.getsizeof(r) for c, r in self._runs.items()
        )

    # ------------------------------------------------------------------ updating

    def admit(self, shape: UpdateShape, *, max_depth: int, doc=None) -> None:
        """Raise UpdateRejected if ``shape`` would nest deeper than ``max_depth`` in the doc.

        Call it after the missing-dependency check (the update builds only on what the
        document has), then ``record`` once the update is applied. O(update): one lookup
        per id the update names outside itself. If the update names ids the map does not
        hold although the Doc does (an update integrated behind the map's back, e.g. one
        yrs kept pending), the map is rebuilt from ``doc`` once per state of the Doc.
        """
        self._planned = None
        segments, unresolved = self._resolve(shape.items, max_depth)
        if unresolved and doc is not None and self._rebuild(doc):
            segments, unresolved = self._resolve(shape.items, max_depth)
        if unresolved == "checked":
            # Not even the Doc knows where it would go: never guess low.
            raise UpdateRejected("cannot tell how deep a shared type of the update would nest")
        self._planned = (shape, segments)

    def record(self, shape: UpdateShape) -> None:
        """``shape`` (admitted just before, or not) is now applied to the Doc."""
        planned, self._planned = self._planned, None
        if planned is not None and planned[0] is shape:
            segments = planned[1]
        else:
            segments = self._resolve(shape.items, None)[0]
        self._write(segments)

    def learn(self, update: bytes, shape: UpdateShape | None = None) -> bool:
        """``update`` (checked elsewhere) was applied to the Doc: note where its items are.

        Items yrs keeps pending (their dependencies missing) are not noted; if yrs
        integrates them later, the first update that names them rebuilds the map.
        """
        if shape is None:
            try:
                shape = check_update(update, max_depth=_NO_LIMIT)
            except UpdateRejected:
                return False  # pycrdt refused it too, or a later lookup misses and rebuilds
        self._write(self._resolve(shape.items, None)[0])
        return True

    def _rebuild(self, doc) -> bool:
        """Start over from the Doc's own encoding; False if it has not changed since the
        last rebuild (an update naming ids nobody has must not cost O(document) each)."""
        state = doc.get_state()
        if state == self._built_from or self.undecodable:
            return False
        logger.warning("depth map out of step with its document: rebuilding it")
        fresh = DepthMap.of_doc(doc)
        self._runs = fresh._runs
        self.undecodable = fresh.undecodable
        self._built_from = state
        self.rebuilds += 1
        return True

    # ------------------------------------------------------------------ internals

    def _resolve(self, items: UpdateItems, max_depth: int | None) -> tuple[dict, Any]:
        """Container depth of every item the map does not hold yet, as runs to write.

        Returns ({client: [(start, end, depth), ...]}, unresolved), where unresolved is
        False, True (some item's container is unknown) or "checked" (a shared type's or a
        nested value's is, and max_depth was given). Raises UpdateRejected, when max_depth
        is given, for a shared type or value that would nest deeper.
        """
        runs_of = self._runs
        starts_of, ends_of, links_of = items.starts, items.ends, items.links
        gcs_of = items.gcs

        def where(item_id):
            """Depth of the container of the item holding ``item_id``, or (client, index)
            of the update's item holding it, or _UNRESOLVED."""
            client, clock = item_id
            runs = runs_of.get(client)
            # What the Doc holds already wins over what the update says about it: yrs
            # ignores the update's copy of a struct it has.
            if runs is not None and clock < runs[-1] >> _BITS:
                return runs[bisect_right(runs, (clock << _BITS) | _MASK) - 1] & _MASK
            starts = starts_of.get(client)
            if starts:
                i = bisect_right(starts, clock) - 1
                if i >= 0 and clock < ends_of[client][i]:
                    return client, i
            for start, end in gcs_of.get(client, ()):
                if start <= clock < end:
                    return _ORPHAN
            return _UNRESOLVED

        memo: dict[int, list] = {}
        segments: dict[int, list] = {}
        unresolved: Any = False
        types_of, nested = items.types, items.nested
        for client, starts in starts_of.items():
            runs = runs_of.get(client)
            known = runs[-1] >> _BITS if runs is not None else 0
            ends = ends_of[client]
            first = bisect_right(ends, known)  # items ending at or before `known` are held
            if first == len(starts):
                continue
            c_memo = memo.setdefault(client, [None] * len(starts))
            c_segments = segments[client] = []
            c_types = types_of[client]
            c_links = links_of[client]
            for i in range(first, len(starts)):
                depth = c_memo[i]
                if depth is None:
                    link = c_links[i]
                    if link is None:
                        depth = c_memo[i] = 1
                    elif link[0] == "origins":
                        # The common case, typing: the neighbours are in the Doc or earlier
                        # in the update, resolved already (yrs integrates a client's items
                        # in clock order, and so does this loop).
                        depth = _UNRESOLVED
                        for item_id in link[1:]:
                            if item_id is None:
                                continue
                            found = where(item_id)
                            if type(found) is tuple:
                                f_memo = memo.get(found[0])
                                found = None if f_memo is None else f_memo[found[1]]
                            if found is None or found == _IN_PROGRESS:
                                depth = _container(client, i, memo, starts_of, links_of, where)
                                break
                            if found == _UNRESOLVED:
                                depth = c_memo[i] = _UNRESOLVED
                                break
                            if found > depth:
                                depth = found
                        else:
                            c_memo[i] = depth
                    else:
                        depth = _container(client, i, memo, starts_of, links_of, where)
                c_segments.append((starts[i], ends[i], depth))
                if depth == _UNRESOLVED:
                    if max_depth is not None and (c_types[i] or (client, i) in nested):
                        unresolved = "checked"
                    elif not unresolved:
                        unresolved = True
                elif max_depth is not None and depth != _ORPHAN:
                    if c_types[i] and depth + 1 > max_depth:
                        raise UpdateRejected(
                            f"shared types nest deeper than max_depth {max_depth} in the document"
                        )
                    value_depth = nested.get((client, i))
                    if value_depth and depth + value_depth > max_depth:
                        raise UpdateRejected(
                            f"value nests deeper than max_depth {max_depth} in the document"
                        )
        for client, gcs in gcs_of.items():
            c_segments = segments.setdefault(client, [])
            c_segments.extend((start, end, _ORPHAN) for start, end in gcs)
            c_segments.sort()
        return segments, unresolved

    def _write(self, segments: dict) -> None:
        runs_of = self._runs
        for client, c_segments in segments.items():
            runs = runs_of.get(client)
            known = runs[-1] >> _BITS if runs is not None else 0
            for start, end, depth in c_segments:
                if end <= known:
                    continue
                if start > known or depth < 0:
                    # A gap (a Skip, or structs yrs keeps pending) or an unknown container:
                    # everything after it is unknown too.
                    break
                if depth > _MAX_RECORDED:
                    depth = _MAX_RECORDED
                if runs is None:
                    runs = runs_of[client] = array("Q", [depth, (end << _BITS) | _END])
                elif runs[-2] & _MASK == depth:
                    runs[-1] = (end << _BITS) | _END
                else:
                    runs[-1] = (known << _BITS) | depth
                    runs.append((end << _BITS) | _END)
                known = end


def _container(client, index, memo, starts_of, links_of, where) -> int:
    """Container depth of the update's item (client, index), resolving the update's items
    it builds on first. Iterative (an update may chain thousands of items); memoised in
    ``memo`` (client -> list); a cycle leaves its items _UNRESOLVED (yrs keeps them pending).
    """
    stack = [(client, index)]
    while stack:
        c, i = stack[-1]
        c_memo = memo.get(c)
        if c_memo is None:
            c_memo = memo[c] = [None] * len(starts_of[c])
        state = c_memo[i]
        if state is not None and state != _IN_PROGRESS:
            stack.pop()
            continue
        link = links_of[c][i]
        if link is None:  # in a root type
            c_memo[i] = 1
            stack.pop()
            continue
        found = [where(item_id) for item_id in link[1:] if item_id is not None]
        waiting = []
        for f in found:
            if type(f) is tuple:
                d_memo = memo.get(f[0])
                d = None if d_memo is None else d_memo[f[1]]
                if d is None:
                    waiting.append(f)
        if waiting and state is None:
            c_memo[i] = _IN_PROGRESS
            stack.extend(waiting)
            continue
        depths = []
        for f in found:
            if type(f) is tuple:
                d = memo[f[0]][f[1]]
                # still in progress or never started: a cycle through this item
                depths.append(_UNRESOLVED if d is None or d < 0 else d)
            else:
                depths.append(f)
        if _UNRESOLVED in depths:
            depth = _UNRESOLVED
        elif link[0] == "parent":
            # One level below the parent type; nothing lives below GC (or an orphan).
            depth = depths[0] + 1 if depths[0] != _ORPHAN else _ORPHAN
        else:
            # Neighbours share a container. yrs takes the origin's, or the right origin's
            # when the origin is GC; the larger of the two is never lower than that.
            depth = max(depths)
        c_memo[i] = depth
        stack.pop()
    return memo[client][index]
