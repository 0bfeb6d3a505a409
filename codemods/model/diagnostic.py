"""A finding: where, what, and the fix that removes it."""

from __future__ import annotations

from dataclasses import dataclass

from gofix_defer.codemods.model.fix import Fix


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
