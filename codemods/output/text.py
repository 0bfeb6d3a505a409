"""Human-readable text output: findings, the run summary, statistics, fixes.

Nothing here reads the command line: the CLI decides what to show and where.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from rich.console import Console
from rich.text import Text

from gofix_defer.codemods.model import INTERNAL_ERROR, Applicability, Diagnostic, FileResult

# The marker after a finding whose fix --write applies ([fix]) or applies
# only with --unsafe-fixes ([unsafe fix]). Findings without a fix get none.
SAFE_MARKER = "[fix]"
UNSAFE_MARKER = "[unsafe fix]"


def fix_marker(diagnostic: Diagnostic) -> str:
    fix = diagnostic.fix
    if fix is None:
        return ""
    if fix.applicability is Applicability.SAFE:
        return SAFE_MARKER
    if fix.applicability is Applicability.UNSAFE:
        return UNSAFE_MARKER
    return ""


def format_diagnostic(diagnostic: Diagnostic) -> str:
    """``path:line:col: message [rule]``, then the fix marker when there is a fix."""
    text = f"{diagnostic.path}:{diagnostic.line}:{diagnostic.column}: {diagnostic.message} [{diagnostic.rule}]"
    marker = fix_marker(diagnostic)
    return f"{text} {marker}" if marker else text


def styled_diagnostic(diagnostic: Diagnostic) -> Text:
    """The same text as format_diagnostic, with styles Rich drops when not on a TTY."""
    text = Text()
    text.append(f"{diagnostic.path}:{diagnostic.line}:{diagnostic.column}:", style="bold")
    text.append(f" {diagnostic.message} ")
    marker = fix_marker(diagnostic)
    text.append(f"[{diagnostic.rule}]", style="cyan" if marker else "yellow")
    if marker:
        text.append(" ")
        text.append(marker, style="green" if marker == SAFE_MARKER else "magenta")
    return text


def render_text(console: Console, result: FileResult) -> None:
    for diagnostic in result.diagnostics:
        console.print(styled_diagnostic(diagnostic))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}es" if word.endswith("x") else f"{count} {word}s"


@dataclass
class Summary:
    mode: str  # check, diff or write
    findings: int = 0
    safe_fixable: int = 0
    unsafe_fixable: int = 0
    applied: int = 0
    files_changed: int = 0
    files_read: int = 0
    files_with_findings: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, result: FileResult, unsafe_fixes: bool) -> None:
        self.files_read += 1
        self.errors.extend(result.errors)
        self.applied += len(result.applied)
        self.files_changed += 1 if result.changed else 0
        counted = 0
        for diagnostic in result.diagnostics:
            if diagnostic.rule == INTERNAL_ERROR:
                self.errors.append(f"{diagnostic.path}: {diagnostic.message}")
                continue
            counted += 1
            fix = diagnostic.fix
            if fix is None:
                continue
            if fix.applicability is Applicability.SAFE:
                self.safe_fixable += 1
            elif fix.applicability is Applicability.UNSAFE:
                self.unsafe_fixable += 1
        self.findings += counted
        self.files_with_findings += 1 if counted else 0

    def render(self) -> str:
        checked = _plural(self.files_read, "file")
        if self.mode == "check":
            if not self.findings:
                return f"No findings ({checked} checked)."
            fixable = f"{self.safe_fixable} fixable with --write"
            if self.unsafe_fixable:
                fixable += f", {self.unsafe_fixable} more with --unsafe-fixes"
            where = _plural(self.files_with_findings, "file")
            return f"Found {_plural(self.findings, 'finding')} in {where} ({checked} checked); {fixable}."
        verb = "Would apply" if self.mode == "diff" else "Applied"
        text = f"{verb} {_plural(self.applied, 'fix')} in {_plural(self.files_changed, 'file')}, {self.findings} left"
        if self.findings:
            text += f" in {_plural(self.files_with_findings, 'file')}"
        if self.unsafe_fixable:
            text += f" ({self.unsafe_fixable} need --unsafe-fixes)"
        return text + f" ({checked} checked)."

    def exit_code(self, exit_zero: bool) -> int:
        if self.errors:
            return 2
        if exit_zero:
            return 0
        if self.findings or (self.mode == "diff" and self.applied):
            return 1
        return 0


# -- --show-fixes and what --write left --------------------------------------------


def _fix_line(diagnostic: Diagnostic) -> str:
    fix = diagnostic.fix
    title = fix.title if fix is not None else "(no fix)"
    safety = f" ({fix.applicability.value})" if fix is not None and fix.applicability is not Applicability.SAFE else ""
    return f"  {diagnostic.path}:{diagnostic.line}:{diagnostic.column}: {diagnostic.rule}: {title}{safety}"


def render_applied(results: Iterable[FileResult], mode: str) -> str:
    """``--show-fixes``: each fix --write applied (``write``) or would apply (``check``, ``diff``).

    Lines of fixes found in a later round of the fixpoint refer to the text the
    earlier rounds produced.
    """
    lines: list[str] = []
    files = 0
    for result in results:
        if result.applied:
            files += 1
            lines.extend(_fix_line(d) for d in result.applied)
    if not lines:
        return "No fixes applied." if mode == "write" else "No fixes to apply."
    count = f"{_plural(len(lines), 'fix')} in {_plural(files, 'file')}"
    head = f"Applied {count}:" if mode == "write" else f"Would apply {count} with --write:"
    return "\n".join([head, *lines])


def render_unsafe_left(results: Iterable[FileResult]) -> str:
    """The findings left whose fix needs ``--unsafe-fixes``, one a line; empty when none."""
    lines = [
        _fix_line(d)
        for result in results
        for d in result.diagnostics
        if d.fix is not None and d.fix.applicability is Applicability.UNSAFE
    ]
    if not lines:
        return ""
    head = f"{_plural(len(lines), 'finding')} left with an unsafe fix; --unsafe-fixes applies it (see --explain RULE for what it changes):"
    return "\n".join([head, *lines])


# -- --statistics -----------------------------------------------------------------


@dataclass
class RuleCount:
    rule: str
    count: int = 0
    safe: int = 0  # fix applied by --write
    unsafe: int = 0  # fix applied with --unsafe-fixes
    no_fix: int = 0


def statistics(results: Iterable[FileResult]) -> list[RuleCount]:
    """Findings per rule (most frequent first), split by what can fix them."""
    counts: dict[str, RuleCount] = {}
    for result in results:
        for d in result.diagnostics:
            if d.rule == INTERNAL_ERROR:
                continue
            row = counts.setdefault(d.rule, RuleCount(d.rule))
            row.count += 1
            if d.fix is not None and d.fix.applicability is Applicability.SAFE:
                row.safe += 1
            elif d.fix is not None and d.fix.applicability is Applicability.UNSAFE:
                row.unsafe += 1
            else:
                row.no_fix += 1
    return sorted(counts.values(), key=lambda r: (-r.count, r.rule))


def render_statistics(rows: Sequence[RuleCount]) -> str:
    if not rows:
        return "No findings.\n"
    lines = [f"{'count':>5}  {'fix':>4}  {'unsafe':>6}  {'no fix':>6}  rule"]
    for r in rows:
        lines.append(f"{r.count:>5}  {r.safe:>4}  {r.unsafe:>6}  {r.no_fix:>6}  {r.rule}")
    total = RuleCount("(total)", *(sum(getattr(r, name) for r in rows) for name in ("count", "safe", "unsafe", "no_fix")))
    if len(rows) > 1:
        lines.append(f"{total.count:>5}  {total.safe:>4}  {total.unsafe:>6}  {total.no_fix:>6}  {total.rule}")
    return "\n".join(lines) + "\n"


def statistics_json(rows: Sequence[RuleCount]) -> list[dict]:
    return [
        {"rule": r.rule, "count": r.count, "fixable": r.safe, "unsafe_fixable": r.unsafe, "no_fix": r.no_fix}
        for r in rows
    ]


# -- coloured diffs -----------------------------------------------------------------

_RESET = b"\x1b[0m"
_BOLD, _CYAN, _GREEN, _RED = b"\x1b[1m", b"\x1b[36m", b"\x1b[32m", b"\x1b[31m"
_HUNK = re.compile(rb"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")


def colour_diff(diff: bytes) -> bytes:
    """A unified diff with git's colours (bold headers, cyan hunk lines, green
    and red lines), for a terminal only.

    The escapes go around each line's text, never inside it, and line endings
    are kept. Hunk lengths are followed, so a removed line that reads
    ``-- x`` is still a removed line, not a header.
    """
    out = []
    old_left = new_left = 0
    for line in diff.splitlines(keepends=True):
        body = line.rstrip(b"\r\n")
        ending = line[len(body) :]
        style: bytes | None = None
        if old_left or new_left:
            marker = body[:1]
            if marker == b"-":
                style, old_left = _RED, old_left - 1
            elif marker == b"+":
                style, new_left = _GREEN, new_left - 1
            elif marker == b" " or not body:
                old_left, new_left = old_left - 1, new_left - 1
        else:
            hunk = _HUNK.match(body)
            if hunk:
                style = _CYAN
                old_left = int(hunk.group(1)) if hunk.group(1) is not None else 1
                new_left = int(hunk.group(2)) if hunk.group(2) is not None else 1
            elif body.startswith((b"--- ", b"+++ ")):
                style = _BOLD
        out.append(style + body + _RESET + ending if style is not None and body else line)
    return b"".join(out)
