"""Which lines a pull request changes, and where on its diff a suggestion may sit.

GitHub accepts a review comment on side RIGHT only on lines of the head file
that appear in the diff (added or context lines), and a multi-line comment
only when start_line and line are in the same hunk. A hunk's RIGHT lines are
one contiguous range, so a block fits when it lies inside one such range.
The lines the pull request *changed* are its added (``+``) lines.

The ``patch`` field comes from the API, so the parser takes anything: what
is not a hunk is skipped, never an error.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

_HUNK = re.compile(r"@@ -\d{1,10}(?:,\d{1,10})? \+(\d{1,10})(?:,(\d{1,10}))? @@")


@dataclass
class DiffLines:
    hunks: list[tuple[int, int]] = field(default_factory=list)  # RIGHT-side (first, last) per hunk
    added: list[int] = field(default_factory=list)  # sorted RIGHT-side line numbers of + lines

    def fits(self, start: int, end: int) -> bool:
        return fits(self.hunks, start, end)

    def touches(self, first: int, last: int) -> bool:
        """Does the pull request change (add) any of the lines first..last?"""
        index = bisect.bisect_left(self.added, first)
        return index < len(self.added) and self.added[index] <= last


def parse_patch(patch: object) -> DiffLines | None:
    """The hunks and added lines of a ``patch`` (GitHub's field, or git's output after the file header)."""
    if not isinstance(patch, str):
        return None
    result = DiffLines()
    added: list[int] = []
    line: int | None = None
    for text in patch.split("\n"):
        match = _HUNK.match(text)
        if match:
            start, length = int(match.group(1)), int(match.group(2) if match.group(2) is not None else 1)
            if length > 0:
                result.hunks.append((start, start + length - 1))
            line = start
            continue
        if line is None or not text:
            continue
        prefix = text[0]
        if prefix == " ":
            line += 1
        elif prefix == "+":
            added.append(line)
            line += 1
        elif prefix in "-\\":
            continue
        else:
            line = None  # a file header or junk: wait for the next hunk
    result.added = sorted(set(added))
    return result


def fits(ranges: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(first <= start and end <= last for first, last in ranges)
