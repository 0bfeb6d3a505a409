"""What the editor is offered for a file's findings, in byte offsets.

A quick fix is one finding's fix, alone, against the text it was found in:
its title says the fix, and an unsafe fix says so and why (the reason the
finding gives, else the rule's *Fix safety* section). "Fix all" is the
engine's fixpoint over the safe fixes, sent as the few line ranges that
differ, so that the editor keeps its cursor and marks elsewhere.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Mapping, Sequence

from gofix_defer.codemods.analysis import grammar
from gofix_defer.codemods.model import Applicability, Diagnostic, Edit, FileResult, Rule, apply_edits
from gofix_defer.codemods.output.formats import doc_sections

# The reason an unsafe finding spells in its own message: "... (unsafe: why)".
_MESSAGE_REASON = re.compile(r"\(unsafe: ([^()]*(?:\([^()]*\)[^()]*)*)\)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(`])")
FALLBACK_REASON = "it may change behaviour beyond removing the bug"


@dataclass(frozen=True)
class QuickFix:
    diagnostic: Diagnostic
    title: str
    preferred: bool  # safe fixes: the editor may apply it on its own (e.g. "auto fix")
    edits: tuple[Edit, ...]


def unsafe_reason(diagnostic: Diagnostic, rule: Rule | None) -> str:
    """Why a finding's fix is unsafe, in one clause."""
    match = _MESSAGE_REASON.search(diagnostic.message)
    if match:
        return match.group(1).strip()
    if rule is not None:
        safety = " ".join(doc_sections(rule.doc()).get("fix safety", "").split())
        for sentence in _SENTENCE_END.split(safety):
            if not sentence.lower().startswith("unsafe") and "otherwise unsafe" not in sentence.lower():
                continue
            reason = re.sub(r"^(otherwise\s+)?unsafe\b\s*(\([^)]*\))?\s*:?\s*", "", sentence, flags=re.I)
            # The clause before a dash is the reason; what follows is commentary.
            reason = reason.split(" — ", 1)[0].replace("`", "").strip().rstrip(".")
            if reason:
                return reason
    return FALLBACK_REASON


def fix_title(diagnostic: Diagnostic, rule: Rule | None) -> str:
    fix = diagnostic.fix
    assert fix is not None
    if fix.applicability is Applicability.SAFE:
        return f"{fix.title} ({diagnostic.rule})"
    return f"{fix.title} ({diagnostic.rule}; {fix.applicability.value} fix: {unsafe_reason(diagnostic, rule)})"


def overlaps(diagnostic: Diagnostic, start: int, end: int) -> bool:
    """Whether a finding touches the byte range an editor asks about (a cursor is an empty range)."""
    return diagnostic.start <= end and start <= diagnostic.end


def quick_fixes(result: FileResult, rules: Mapping[str, Rule], start: int, end: int) -> list[QuickFix]:
    """The fixes of the findings that touch ``start..end``, each applicable on its own.

    Display-only fixes are never applied, so they are not offered; a fix that
    would not parse on its own (the engine drops such a fix too) is not
    offered either.
    """
    data = result.original
    if data is None:
        return []
    offered = []
    for diagnostic in result.found:
        fix = diagnostic.fix
        if fix is None or fix.applicability is Applicability.DISPLAY_ONLY or not overlaps(diagnostic, start, end):
            continue
        if grammar.parse(apply_edits(data, fix.edits)).root_node.has_error:
            continue
        rule = rules.get(diagnostic.rule)
        offered.append(QuickFix(diagnostic, fix_title(diagnostic, rule), fix.applicability is Applicability.SAFE, fix.edits))
    return offered


def line_edits(original: bytes, fixed: bytes) -> list[Edit]:
    """Edits that turn ``original`` into ``fixed``, one per run of changed lines."""
    old, new = original.splitlines(keepends=True), fixed.splitlines(keepends=True)
    starts = [0]
    for line in old:
        starts.append(starts[-1] + len(line))
    edits = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            edits.append(Edit(starts[i1], starts[i2], b"".join(new[j1:j2])))
    return edits


def fixable(diagnostics: Sequence[Diagnostic], allowed: frozenset[Applicability]) -> bool:
    return any(d.fix is not None and d.fix.applicability in allowed for d in diagnostics)
