"""Turn a file's fixes into line blocks that GitHub suggestions can carry.

A GitHub suggestion replaces whole lines start_line..line of the head file.
So the unit here is not a single Edit but a *block*: a run of head lines and
the lines the fixed file (the exact `--write` result) has in their place.
Applying every block of a file to the head file gives the fixed file.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field

from gofix_defer.codemods.model import Diagnostic
from gofix_defer.codemods.output.diff import unified_diff


@dataclass
class Block:
    path: str
    start: int  # first head line replaced, 1-based
    end: int  # last head line replaced, inclusive (>= start)
    old_lines: list[bytes]  # head lines start..end, with line endings
    new_lines: list[bytes]  # what replaces them
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # 1 for the first block in the file with this exact text, 2 for the next:
    # identical fixes in one file (the same loop pasted twice) stay distinct.
    occurrence: int = 1

    @property
    def replacement(self) -> bytes:
        return b"".join(self.new_lines)

    @property
    def fingerprint(self) -> str:
        """Stable across re-runs: path, replaced text, replacement, occurrence; not line numbers."""
        digest = hashlib.sha256()
        for part in (self.path.encode(), b"".join(self.old_lines), self.replacement, str(self.occurrence).encode()):
            digest.update(hashlib.sha256(part).digest())
        return digest.hexdigest()[:20]


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def change_blocks(path: str, head: bytes, fixed: bytes) -> list[Block]:
    """The line blocks turning ``head`` into ``fixed``, each replacing >= 1 head line.

    A pure insertion is widened to the line before it (or after, at the top
    of the file), because a suggestion must replace at least one line.
    Blocks that touch after widening are merged so none overlap.
    """
    a, b = _lines(head), _lines(fixed)
    spans: list[list[int]] = []  # [i1, i2, j1, j2] half-open, 0-based
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if i1 == i2:  # insertion: carry a neighbouring unchanged line along
            if i1 > 0:
                i1, j1 = i1 - 1, j1 - 1
            else:
                i2, j2 = i2 + 1, j2 + 1
        if spans and i1 <= spans[-1][1]:
            last = spans[-1]
            # Overlapping or adjacent: one block; both sides stay contiguous.
            last[1], last[3] = max(last[1], i2), max(last[3], j2)
        else:
            spans.append([i1, i2, j1, j2])
    blocks = [Block(path, i1 + 1, i2, a[i1:i2], b[j1:j2]) for i1, i2, j1, j2 in spans if i2 > i1]
    seen: dict[tuple[bytes, bytes], int] = {}
    for block in blocks:
        key = (b"".join(block.old_lines), block.replacement)
        seen[key] = block.occurrence = seen.get(key, 0) + 1
    return blocks


def apply_blocks(head: bytes, blocks: list[Block]) -> bytes:
    """``head`` with the given (non-overlapping) blocks applied."""
    lines = _lines(head)
    for block in sorted(blocks, key=lambda blk: blk.start, reverse=True):
        lines[block.start - 1 : block.end] = block.new_lines
    return b"".join(lines)


def fence_for(text: str) -> str:
    """A backtick fence longer than any backtick run inside ``text`` (at least 3)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def block_diff(block: Block, head: bytes) -> bytes:
    return unified_diff(block.path, head, apply_blocks(head, [block]))


def attach_diagnostics(blocks: list[Block], diagnostics: list[Diagnostic]) -> None:
    """Give each block the original-file findings whose fix or range lies on its lines."""
    for diagnostic in diagnostics:
        first = diagnostic.line
        last = max(diagnostic.end_line, diagnostic.line)
        for block in blocks:
            if first <= block.end and last >= block.start:
                block.diagnostics.append(diagnostic)
                break
