"""One finding's fix as one block of head lines: what a GitHub suggestion can carry.

A GitHub suggestion replaces whole lines start_line..line of the head file,
and each suggestion is committed on its own. So the unit here is a finding's
whole fix, never a diff hunk: the block runs from the first head line any of
its edits touches to the last, and its replacement is what those lines become
with this fix alone applied. Committing the block gives exactly the head file
with that one fix. A fix whose edits lie far apart (an import at the top and
a change further down) still makes one block; the planner decides whether
that block can be anchored as one suggestion or must go whole into the body.

Lines end at ``\\n`` only, as git and GitHub count them; a lone ``\\r`` is part
of its line.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from gofix_defer.codemods.model import Diagnostic, Edit, apply_edits


def split_lines(data: bytes) -> list[bytes]:
    """``data`` as git's lines (``\\n``-terminated; the last may lack it)."""
    if not data:
        return []
    lines = data.split(b"\n")
    out = [line + b"\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def line_of(data: bytes, offset: int) -> int:
    """The 1-based git line holding byte ``offset``."""
    return data.count(b"\n", 0, max(0, min(offset, len(data)))) + 1


def finding_lines(data: bytes, diagnostic: Diagnostic) -> tuple[int, int]:
    """The head lines a finding covers, counted from its byte range."""
    first = line_of(data, diagnostic.start)
    last = line_of(data, max(diagnostic.start, diagnostic.end - 1))
    return first, max(first, last)


def _line_start(data: bytes, offset: int) -> int:
    return data.rfind(b"\n", 0, offset) + 1


def _line_end(data: bytes, offset: int) -> int:
    """The offset just past the line holding byte ``offset``."""
    newline = data.find(b"\n", offset)
    return len(data) if newline < 0 else newline + 1


@dataclass
class FixBlock:
    """Head lines start..end (1-based, inclusive) and what one fix makes of them."""

    path: str
    start: int
    end: int
    old: bytes  # the head bytes of lines start..end
    new: bytes  # what replaces them
    fixed: bytes  # the whole head file with this one fix applied
    unchanged_inside: int  # head lines inside the block that no edit touches
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # 1 for the first block in the file with this exact text, 2 for the next:
    # identical fixes in one file (the same loop pasted twice) stay distinct.
    occurrence: int = 1

    @property
    def replacement(self) -> bytes:
        return self.new

    @property
    def rules(self) -> list[str]:
        return sorted({d.rule for d in self.diagnostics})

    @property
    def fingerprint(self) -> str:
        """Stable across re-runs: path, rules, replaced text, replacement, occurrence; not line numbers."""
        digest = hashlib.sha256()
        for part in (self.path.encode(), ",".join(self.rules).encode(), self.old, self.new, str(self.occurrence).encode()):
            digest.update(hashlib.sha256(part).digest())
        return digest.hexdigest()[:20]


def fix_block(path: str, head: bytes, edits: tuple[Edit, ...] | list[Edit]) -> FixBlock | None:
    """The one block that carries all of ``edits`` (a single fix), or None when they change nothing."""
    if not edits:
        return None
    fixed = apply_edits(head, list(edits))
    if fixed == head:
        return None
    low = min(edit.start for edit in edits)
    high = max(edit.end for edit in edits)
    start = _line_start(head, low)
    if high > low:
        end = _line_end(head, high - 1)
    elif low < len(head):
        end = _line_end(head, low)  # an insertion: carry the line it is inserted into (or before)
    else:
        end = len(head)
    if start == end:  # an insertion at the very end of a file ending in a newline: carry the last line
        start = _line_start(head, max(0, len(head) - 1))
    tail = len(head) - end
    new = fixed[start : len(fixed) - tail]
    # A suggestion replaces whole lines: grow the block until its replacement ends a line too.
    while end < len(head) and new and not new.endswith(b"\n"):
        end = _line_end(head, end)
        tail = len(head) - end
        new = fixed[start : len(fixed) - tail]
    first, last = line_of(head, start), line_of(head, max(start, end - 1))
    touched: set[int] = set()
    for edit in edits:
        touched.update(range(line_of(head, edit.start), line_of(head, max(edit.start, edit.end - 1)) + 1))
    unchanged = sum(1 for number in range(first, last + 1) if number not in touched)
    return FixBlock(path, first, last, head[start:end], new, fixed, unchanged)


def assign_occurrences(blocks: list[FixBlock]) -> None:
    seen: dict[tuple[str, str, bytes, bytes], int] = {}
    for block in sorted(blocks, key=lambda b: (b.start, b.end)):
        key = (block.path, ",".join(block.rules), block.old, block.new)
        seen[key] = block.occurrence = seen.get(key, 0) + 1


def apply_block(head: bytes, block: FixBlock) -> bytes:
    """``head`` with the block's lines replaced (what committing its suggestion does)."""
    lines = split_lines(head)
    lines[block.start - 1 : block.end] = split_lines(block.new)
    return b"".join(lines)


def fence_for(text: str) -> str:
    """A backtick fence longer than any backtick run inside ``text`` (at least 3)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)
