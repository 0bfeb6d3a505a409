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
    # What is left to report: the findings against the file as it will be
    # (the fixed text when fixes were applied, else the original).
    diagnostics: list[Diagnostic] = field(default_factory=list)
    original: bytes | None = None
    fixed: bytes | None = None  # None when nothing changed
    applied: list[Diagnostic] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: str | None = None  # reason, e.g. "generated"
    # The findings against the original bytes, with their fixes: what the file
    # on disk holds while the fixes are not written (a failed write, a review).
    found: list[Diagnostic] = field(default_factory=list)
    # Other files the result depends on (path -> content hash; a directory's
    # entry hashes its list of Go files): set when package facts were read.
    dependencies: dict[str, str] = field(default_factory=dict)
    # Things the user should know that are no failure: a fix dropped because
    # the package would not compile with it, fixes left uncompiled.
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.fixed is not None and self.fixed != self.original

    @property
    def rewrite(self) -> tuple[bytes, bytes] | None:
        """(original, fixed) when the fixes change the file, else None."""
        if self.original is None or self.fixed is None or self.fixed == self.original:
            return None
        return self.original, self.fixed
