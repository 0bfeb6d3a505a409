"""Edits and fixes: byte-offset replacements over the original file, in the style of
go/analysis TextEdit / SuggestedFix and Ruff's Edit / Fix."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Sequence


class Applicability(str, enum.Enum):
    """How far a fix may be trusted, ordered from most to least."""

    SAFE = "safe"  # applied by --write
    UNSAFE = "unsafe"  # applied only with --unsafe-fixes
    DISPLAY_ONLY = "display-only"  # shown, never applied

    @property
    def rank(self) -> int:
        return {"safe": 0, "unsafe": 1, "display-only": 2}[self.value]


@dataclass(frozen=True, order=True)
class Edit:
    """Replace ``original[start:end]`` with ``text``.

    An insertion has ``start == end``; a deletion has ``text == b""``.
    """

    start: int
    end: int
    text: bytes = b""

    def __post_init__(self) -> None:
        if not isinstance(self.text, bytes):
            raise TypeError("Edit.text must be bytes")
        if self.start < 0 or self.end < self.start:
            raise ValueError(f"bad edit range {self.start}..{self.end}")

    @classmethod
    def insert(cls, at: int, text: bytes) -> "Edit":
        return cls(at, at, text)

    @classmethod
    def delete(cls, start: int, end: int) -> "Edit":
        return cls(start, end, b"")

    def overlaps(self, other: "Edit") -> bool:
        """True when the two edits cannot both be applied unambiguously.

        Two insertions at the same point conflict (their order would be
        arbitrary) unless they are identical, which the merger coalesces.
        An insertion touching the boundary of a replacement does not conflict.
        """
        if self == other:
            return False
        if self.start == self.end and other.start == other.end:
            return self.start == other.start
        if self.start == self.end:
            return other.start < self.start < other.end
        if other.start == other.end:
            return self.start < other.start < self.end
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class Fix:
    """One coherent change: all of its edits are applied, or none."""

    title: str
    edits: tuple[Edit, ...]
    applicability: Applicability = Applicability.SAFE
    # Fixes that clash in meaning though not in text (two copies of one
    # variable in one block, two `ctx, cancel` in one function) share a key:
    # one fix per key is applied per round, the others retried on the new
    # text, as Ruff's IsolationLevel does.
    isolation: str | None = None

    def __post_init__(self) -> None:
        if not self.title:
            raise ValueError("a Fix needs a title")
        ordered = tuple(sorted(set(self.edits)))
        for a, b in zip(ordered, ordered[1:]):
            if a.overlaps(b):
                raise ValueError(f"overlapping edits within one fix: {a} {b}")
        object.__setattr__(self, "edits", ordered)

    @property
    def span(self) -> tuple[int, int]:
        return (self.edits[0].start, self.edits[-1].end) if self.edits else (0, 0)


def apply_edits(data: bytes, edits: Sequence[Edit]) -> bytes:
    """Apply sorted, non-overlapping edits to ``data``."""
    out = []
    position = 0
    for edit in sorted(edits):
        if edit.start < position or edit.end > len(data):
            raise ValueError(f"edit {edit} overlaps a previous edit or runs past the end")
        out.append(data[position : edit.start])
        out.append(edit.text)
        position = edit.end
    out.append(data[position:])
    return b"".join(out)
