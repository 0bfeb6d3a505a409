"""What happened to one file, as data."""

from __future__ import annotations

from dataclasses import dataclass, field

from gofix_defer.codemods.model.diagnostic import Diagnostic

# Findings that are not a rule's: the file does not parse, or a rule crashed.
SYNTAX_ERROR = "syntax-error"
INTERNAL_ERROR = "internal-error"


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
