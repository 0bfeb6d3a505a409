"""Core value types shared by the engine and every rule.

All offsets are byte offsets into the original file bytes (never indexes
into a decoded ``str``), in the style of go/analysis TextEdit and Ruff's Edit.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Iterable

if TYPE_CHECKING:  # pragma: no cover
    from .source import SourceFile


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


@dataclass(frozen=True)
class Diagnostic:
    """A finding, located by byte range, with an optional fix."""

    rule: str
    start: int
    end: int
    message: str
    fix: Fix | None = None
    # Filled in by the engine from the SourceFile's line index (1-based).
    line: int = 0
    column: int = 0
    end_line: int = 0
    end_column: int = 0
    path: str = ""

    def sort_key(self) -> tuple:
        return (self.path, self.start, self.end, self.rule, self.message)


class Rule:
    """Base class for rules: declarative metadata plus one ``check``.

    Subclasses set the class attributes and implement ``check``. The doc
    (``__doc__``) carries the sections What it does / Why is this bad /
    Example / Fix / Fix safety; ``gofix-defer explain RULE`` prints it.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    # "always", "sometimes" or "never": whether findings carry a fix.
    fix_availability: ClassVar[str] = "sometimes"
    # Default applicability of this rule's fixes (for docs and harness checks).
    applicability: ClassVar[Applicability] = Applicability.SAFE
    # The rule only runs on files whose Go version is strictly below this.
    max_go_version: ClassVar[tuple[int, int] | None] = None
    # A file lacking every one of these byte strings cannot match: the engine
    # skips parsing it for this rule.
    triggers: ClassVar[tuple[bytes, ...]] = ()

    def check(self, source: "SourceFile") -> Iterable[Diagnostic]:  # pragma: no cover
        raise NotImplementedError

    @classmethod
    def doc(cls) -> str:
        import inspect

        return inspect.cleandoc(cls.__doc__ or cls.summary)

    def applies_to(self, source: "SourceFile") -> bool:
        if self.max_go_version is not None and source.go_version >= self.max_go_version:
            return False
        return not self.triggers or any(t in source.data for t in self.triggers)

    def diagnostic(self, node_or_range, message: str, fix: Fix | None = None) -> Diagnostic:
        """Build a diagnostic for a tree-sitter node or a (start, end) pair."""
        if isinstance(node_or_range, tuple):
            start, end = node_or_range
        else:
            start, end = node_or_range.start_byte, node_or_range.end_byte
        return Diagnostic(rule=self.name, start=start, end=end, message=message, fix=fix)


@dataclass
class FileResult:
    """What happened to one file. Never raises: failures are data (as in LibCST)."""

    path: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    original: bytes | None = None
    fixed: bytes | None = None  # None when nothing changed
    applied: list[Diagnostic] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: str | None = None  # reason, e.g. "generated"

    @property
    def changed(self) -> bool:
        return self.fixed is not None and self.fixed != self.original
