"""Merging fixes from many rules into one consistent set of edits.

Fixes are considered in a deterministic order (by span, then rule, then
title). Identical edits coalesce: two fixes that both add `"context"` add
it once. A fix with any edit overlapping an already accepted, different
edit is rejected whole, never half-applied; it gets another turn when the
engine re-runs the rules on the new text.
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
    accepted: list[Diagnostic] = []
    rejected: list[Diagnostic] = []
    chosen: list[Edit] = []  # kept sorted
    seen: set[Edit] = set()
    for diagnostic, fix in fixes:
        edits = fix.edits
        if any(_conflicts(chosen, edit) for edit in edits if edit not in seen):
            rejected.append(diagnostic)
            continue
        accepted.append(diagnostic)
        for edit in edits:
            if edit not in seen:
                seen.add(edit)
                bisect.insort(chosen, edit)
    return MergeResult(accepted, rejected, chosen)


def _conflicts(chosen: list[Edit], edit: Edit) -> bool:
    """Does ``edit`` overlap any edit in the sorted list ``chosen``?

    Later edits can only overlap while they start before ``edit`` ends; an
    earlier one may be long, so every earlier edit is checked (lists are
    per file and short).
    """
    index = bisect.bisect_left(chosen, edit)
    for other in chosen[index:]:
        if other.start > edit.end:
            break
        if edit.overlaps(other):
            return True
    return any(edit.overlaps(other) for other in chosen[:index])
