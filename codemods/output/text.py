"""Human-readable text output and the run summary."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.text import Text

from gofix_defer.codemods.model import INTERNAL_ERROR, Applicability, Diagnostic, FileResult


def format_diagnostic(diagnostic: Diagnostic) -> str:
    return f"{diagnostic.path}:{diagnostic.line}:{diagnostic.column}: {diagnostic.message} [{diagnostic.rule}]"


def styled_diagnostic(diagnostic: Diagnostic) -> Text:
    """The same text as format_diagnostic, with styles Rich drops when not on a TTY."""
    text = Text()
    text.append(f"{diagnostic.path}:{diagnostic.line}:{diagnostic.column}:", style="bold")
    text.append(f" {diagnostic.message} ")
    fixable = diagnostic.fix is not None and diagnostic.fix.applicability is not Applicability.DISPLAY_ONLY
    text.append(f"[{diagnostic.rule}]", style="cyan" if fixable else "yellow")
    return text


def render_text(console: Console, result: FileResult) -> None:
    for diagnostic in result.diagnostics:
        console.print(styled_diagnostic(diagnostic))


@dataclass
class Summary:
    mode: str  # check, diff or write
    findings: int = 0
    safe_fixable: int = 0
    unsafe_fixable: int = 0
    applied: int = 0
    files_changed: int = 0
    files_read: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, result: FileResult, unsafe_fixes: bool) -> None:
        self.files_read += 1
        self.errors.extend(result.errors)
        self.applied += len(result.applied)
        self.files_changed += 1 if result.changed else 0
        for diagnostic in result.diagnostics:
            if diagnostic.rule == INTERNAL_ERROR:
                self.errors.append(f"{diagnostic.path}: {diagnostic.message}")
                continue
            self.findings += 1
            fix = diagnostic.fix
            if fix is None:
                continue
            if fix.applicability is Applicability.SAFE:
                self.safe_fixable += 1
            elif fix.applicability is Applicability.UNSAFE:
                self.unsafe_fixable += 1

    def render(self) -> str:
        if self.mode == "check":
            if not self.findings:
                return f"No findings in {self.files_read} file(s)."
            fixable = f"{self.safe_fixable} fixable with --write"
            if self.unsafe_fixable:
                fixable += f", {self.unsafe_fixable} more with --unsafe-fixes"
            return f"Found {self.findings} finding(s) in {self.files_read} file(s); {fixable}."
        verb = "Would apply" if self.mode == "diff" else "Applied"
        text = f"{verb} {self.applied} fix(es) in {self.files_changed} file(s), {self.findings} left"
        if self.unsafe_fixable:
            text += f" ({self.unsafe_fixable} need --unsafe-fixes)"
        return text + "."

    def exit_code(self, exit_zero: bool) -> int:
        if self.errors:
            return 2
        if exit_zero:
            return 0
        if self.findings or (self.mode == "diff" and self.applied):
            return 1
        return 0
