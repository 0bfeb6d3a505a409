"""Merging fixes from many rules into one consistent set of edits.

Fixes are considered in a deterministic order (by span, then rule, then
title). Identical edits coalesce: two fixes that both add `"context"` add
it once. A fix with any edit overlapping an already accepted, different
edit is rejected whole, never half-applied; so is a fix whose isolation key
an accepted fix already holds. Either gets another turn when the engine
re-runs the rules on the new text.

Cost: n·log n in the number of edits. Every candidate edit is known up
front, so they are sorted once and the accepted ones are marked in a
Fenwick tree over that order. Accepted edits never overlap one another, so
in (start, end) order their ends never decrease; the accepted edits that can
overlap a new edit are then the last few accepted ones starting at or before
its end, found by predecessor search. Only edits touching its boundaries can
sit there without overlapping it, so each check looks at a handful of edits.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Sequence

from gofix_defer.codemods.model import Diagnostic, Edit


@dataclass
class MergeResult:
    accepted: list[Diagnostic]
    rejected: list[Diagnostic]
    edits: list[Edit]


def merge(diagnostics: Sequence[Diagnostic]) -> MergeResult:
    fixes = [(d, d.fix) for d in diagnostics if d.fix is not None and d.fix.edits]
    # A total order (edits last) so the outcome never depends on input order.
    fixes.sort(key=lambda pair: (pair[1].span, pair[0].rule, pair[1].title, pair[0].start, pair[0].end, pair[0].message, pair[1].edits))
    universe = sorted({edit for _, fix in fixes for edit in fix.edits})
    index = {edit: i for i, edit in enumerate(universe)}
    starts = [edit.start for edit in universe]
    chosen = _Marks(len(universe))
    accepted: list[Diagnostic] = []
    rejected: list[Diagnostic] = []
    isolated: set[str] = set()
    for diagnostic, fix in fixes:
        if fix.isolation is not None and fix.isolation in isolated:
            rejected.append(diagnostic)  # one fix per isolation key per round
            continue
        new = [index[edit] for edit in fix.edits if not chosen.has(index[edit])]
        if any(_conflicts(universe, starts, chosen, universe[i]) for i in new):
            rejected.append(diagnostic)
            continue
        if fix.isolation is not None:
            isolated.add(fix.isolation)
        accepted.append(diagnostic)
        for i in new:
            chosen.add(i)
    return MergeResult(accepted, rejected, [universe[i] for i in chosen.members()])


def _conflicts(universe: list[Edit], starts: list[int], chosen: "_Marks", edit: Edit) -> bool:
    """Does ``edit`` overlap an accepted edit?

    Any overlapping edit starts at or before ``edit.end`` and ends at or after
    ``edit.start``; among the accepted ones in sorted order those are the
    last ones before ``bisect_right(starts, edit.end)``, walked backwards until
    one ends before ``edit.start``.
    """
    position = chosen.before(bisect.bisect_right(starts, edit.end))
    while position >= 0:
        other = universe[position]
        if other.end < edit.start:
            return False
        if edit.overlaps(other):
            return True
        position = chosen.before(position)
    return False


class _Marks:
    """A set of indexes in ``range(size)`` with O(log n) insert and predecessor (a Fenwick tree)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._tree = [0] * (size + 1)
        self._marked = bytearray(size)
        self._top = 1 << max(size.bit_length() - 1, 0) if size else 0

    def has(self, i: int) -> bool:
        return bool(self._marked[i])

    def add(self, i: int) -> None:
        if self._marked[i]:
            return
        self._marked[i] = 1
        j = i + 1
        while j <= self._size:
            self._tree[j] += 1
            j += j & -j

    def _count_below(self, i: int) -> int:
        """How many marked indexes are < i."""
        total = 0
        while i > 0:
            total += self._tree[i]
            i -= i & -i
        return total

    def before(self, i: int) -> int:
        """The largest marked index < i, or -1."""
        rank = self._count_below(i)
        if rank == 0:
            return -1
        # The index of the rank-th marked element (1-based rank).
        position, step = 0, self._top
        while step:
            following = position + step
            if following <= self._size and self._tree[following] < rank:
                position = following
                rank -= self._tree[following]
            step >>= 1
        return position  # 0-based: the tree is 1-based

    def members(self) -> list[int]:
        return [i for i, marked in enumerate(self._marked) if marked]
