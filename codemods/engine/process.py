"""Run rules over one file and apply their fixes to a fixpoint.

Per file the result never raises: every failure (unreadable file, syntax
error, a crashing rule, a fix that breaks the syntax) becomes data on the
FileResult, in the spirit of LibCST's codemod results.
"""

from __future__ import annotations

import functools
import traceback
from dataclasses import dataclass, field, replace
from typing import Sequence

from gofix_defer.codemods.analysis import grammar as parsing
from gofix_defer.codemods.analysis.facts import closure
from gofix_defer.codemods.analysis.package import Package
from gofix_defer.codemods.analysis.scope import declaration_conflicts
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.engine.budget import FILE_TIMEOUT, MAX_FILE_SIZE, BudgetExceeded, checkpoint, deadline, too_large, too_slow
from gofix_defer.codemods.engine.merge import merge
from gofix_defer.codemods.engine.suppress import Suppressions, is_generated
from gofix_defer.codemods.model import INTERNAL_ERROR, SYNTAX_ERROR, Applicability, Diagnostic, FileResult, Rule, apply_edits

MAX_ITERATIONS = 8


@dataclass
class Settings:
    rules: Sequence[Rule]
    go_version: tuple[int, int] | None = None  # --go-version override
    unsafe_fixes: bool = False
    apply_fixes: bool = False  # compute the fixed text (for --diff / --write)
    max_iterations: int = MAX_ITERATIONS
    # Per-file budgets (engine/budget.py): bytes and seconds; 0 turns one off.
    max_file_size: int = MAX_FILE_SIZE
    file_timeout: float = FILE_TIMEOUT
    # Compile the fixed packages before they are written or shown (--diff,
    # --write): None means when a Go toolchain is found, False never.
    verify: bool | None = None
    allowed: frozenset[Applicability] = field(init=False)

    def __post_init__(self) -> None:
        allowed = {Applicability.SAFE}
        if self.unsafe_fixes:
            allowed.add(Applicability.UNSAFE)
        self.allowed = frozenset(allowed)


def check_source(source: SourceFile, rules: Sequence[Rule]) -> list[Diagnostic]:
    """Diagnostics of ``rules`` (those that apply to the file: ``applicable_rules``),
    located, unsuppressed and sorted."""
    suppressions = Suppressions(source)
    found: list[Diagnostic] = []
    for rule in rules:
        checkpoint()  # the time budget, where no timer can interrupt (off the main thread)
        try:
            if rule.requires is None:
                produced = list(rule.check(source))
            else:
                with source.reading_for(rule.name, closure(rule.requires)):
                    produced = list(rule.check(source))
        except Exception:  # a rule bug must not stop the run
            found.append(
                Diagnostic(
                    rule=INTERNAL_ERROR,
                    start=0,
                    end=0,
                    message=f"rule {rule.name} crashed: {traceback.format_exc(limit=-1).strip().splitlines()[-1]}",
                    path=source.path,
                    line=1,
                    column=1,
                    end_line=1,
                    end_column=1,
                )
            )
            continue
        for diagnostic in produced:
            located = locate(source, diagnostic)
            if not suppressions.suppressed(located.rule, located.line):
                found.append(located)
    found.sort(key=Diagnostic.sort_key)
    return _dedupe(found)


def _dedupe(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    out, seen = [], set()
    for d in diagnostics:
        key = (d.rule, d.start, d.end, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def locate(source: SourceFile, diagnostic: Diagnostic) -> Diagnostic:
    line, column = source.line_col(diagnostic.start)
    end_line, end_column = source.line_col(diagnostic.end)
    return replace(diagnostic, path=source.path, line=line, column=column, end_line=end_line, end_column=end_column)


def syntax_error_diagnostic(source: SourceFile) -> Diagnostic:
    node = parsing.first_syntax_error(source.root)
    start = node.start_byte if node is not None else 0
    what = f"missing {node.type}" if node is not None and node.is_missing else "unexpected input"
    if node is None and source.package_clause() is None:
        what = "expected 'package' clause" + (", found an empty file" if not source.data.strip() else "")
    if node is not None and not node.is_missing:
        head = source.data[node.start_byte : min(node.end_byte, node.start_byte + 20)]
        snippet = head.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
        if snippet:
            what = f"unexpected {snippet!r}"
    diagnostic = Diagnostic(
        rule=SYNTAX_ERROR,
        start=start,
        end=start,
        message=f"cannot parse file ({what}); it will not be changed",
    )
    return locate(source, diagnostic)


@dataclass(frozen=True)
class RawFile:
    """A file before parsing: what ``Rule.applies_to`` needs (``data``, ``go_version``, and
    the answers ``model.says`` keeps, so that rules sharing a trigger scan for it once)."""

    path: str
    data: bytes
    go_version: tuple[int, int]
    byte_answers: dict = field(default_factory=dict, compare=False, repr=False)


def applicable_rules(path: str, data: bytes, version: tuple[int, int], rules: Sequence[Rule], answers: dict | None = None) -> list[Rule]:
    """The rules whose trigger bytes and Go version gate let them match ``data``.

    Decided from the raw bytes, before any parse: the prefilter that lets most
    files of a large tree go unparsed. ``answers``: what the bytes were already
    found to hold (``RawFile.byte_answers`` of the prefilter, for the same bytes),
    added to as the rules ask.
    """
    raw = RawFile(path, data, version, answers if answers is not None else {})
    return [rule for rule in rules if rule.applies_to(raw)]  # type: ignore[arg-type]


def any_rule_applies(path: str, data: bytes, version: tuple[int, int], rules: Sequence[Rule], answers: dict | None = None) -> bool:
    """Is ``applicable_rules`` non-empty? The question a file must answer to be parsed at
    all (or looked up in the cache): asked of the rules cheapest first, up to the first
    yes, so a rule's scan of the bytes (``Rule.scans_bytes``) runs only for files no
    cheaper rule wants."""
    raw = RawFile(path, data, version, answers if answers is not None else {})
    return any(rule.applies_to(raw) for rule in _cheapest_first(tuple(rules)))  # type: ignore[arg-type]


@functools.lru_cache(maxsize=8)
def _cheapest_first(rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
    """Plain trigger rules, then refined ones, then those that scan the bytes (sorted once
    per rule set, not per file)."""
    return tuple(sorted(rules, key=lambda rule: 0 if type(rule).applies_to is Rule.applies_to else 2 if rule.scans_bytes else 1))


def unparsed_result(path: str, data: bytes, settings: Settings) -> FileResult | None:
    """The final result of a file that needs no parse, or None when it must be parsed.

    Generated files are skipped. Prefilter: when no selected rule can match
    these bytes at this Go version, the file is never parsed (so a syntax
    error in it goes unreported).
    """
    decided = _prefilter(path, data, settings)
    return decided if isinstance(decided, FileResult) else None


# The last file's prefilter verdict: the caller that asked unparsed_result and then
# process() for the same bytes gets it once, not three times (a scan per trigger).
_last_verdict: tuple = (None, None, None, None)


def _prefilter(path: str, data: bytes, settings: Settings) -> "FileResult | RawFile":
    """The result of a file that needs no parse, or the file before its parse: its Go
    version, and what the prefilter found its bytes to hold (kept for the rules' own
    questions, so that each is a pass over the bytes once per file)."""
    global _last_verdict
    from gofix_defer.codemods.analysis.goversion import GoModError, effective_go_version

    last_path, last_data, last_settings, verdict = _last_verdict
    if last_data is data and last_path == path and last_settings is settings:
        return verdict
    if is_generated(data):
        verdict = FileResult(path=path, original=data, skipped="generated")
    elif (oversize := too_large(path, len(data), settings.max_file_size)) is not None:
        verdict = FileResult(path=path, original=data, skipped="too large", errors=[oversize])
    else:
        try:
            version = effective_go_version(path, settings.go_version, data)
        except GoModError as error:  # an unreadable go.mod: the file's Go version is unknown
            verdict = FileResult(path=path, original=data, errors=[f"{path}: {error}"])
        else:
            raw = RawFile(path, data, version)
            applies = any_rule_applies(path, data, version, settings.rules, raw.byte_answers)
            verdict = raw if applies else FileResult(path=path, original=data)
    if isinstance(verdict, FileResult):
        _last_verdict = (None, None, None, None)  # a result is mutated by its consumers: never shared
    else:
        _last_verdict = (path, data, settings, verdict)
    return verdict


def process(path: str, data: bytes, settings: Settings, package: Package | None = None) -> FileResult:
    """Check one file, and when asked, fix it to a fixpoint.

    ``package`` is the Go package the file belongs to (its other files are
    read only when a rule needs a package fact); without one, the file is a
    package of its own. Beyond its time budget (``settings.file_timeout``)
    the file is reported as skipped.
    """
    try:
        with deadline(settings.file_timeout):
            return _process(path, data, settings, package)
    except BudgetExceeded:
        return FileResult(path=path, original=data, skipped="timeout", errors=[too_slow(path, settings.file_timeout)])


def _process(path: str, data: bytes, settings: Settings, package: Package | None) -> FileResult:
    decided = _prefilter(path, data, settings)
    if isinstance(decided, FileResult):
        return decided
    version = decided.go_version
    applicable = applicable_rules(path, data, version, settings.rules, decided.byte_answers)
    result = FileResult(path=path, original=data)
    known = package.parse_of(path, data, version) if package is not None else None
    source = known if known is not None else SourceFile(path, data, version)
    if source.has_syntax_error():
        result.diagnostics = result.found = [syntax_error_diagnostic(source)]
        return result
    if package is not None:
        source = package.adopt(source)
    source.byte_answers.update(decided.byte_answers)  # a parse of these very bytes: the same answers
    diagnostics = check_source(source, applicable)
    result.diagnostics = result.found = diagnostics
    read_package = source.read_package
    if settings.apply_fixes:
        current = source
        pending = diagnostics
        rounds: list[tuple[SourceFile, Package]] = []  # each round's fixed file, in its package
        for _ in range(settings.max_iterations):
            checkpoint()
            fixable = [d for d in pending if d.fix is not None and d.fix.applicability in settings.allowed]
            if not fixable:
                break
            new_data, accepted = _apply_checked(current, fixable, result)
            if not accepted:
                break
            result.applied.extend(accepted)
            fixed = SourceFile(path, new_data, version)
            rounds.append((fixed, current.package.with_file(fixed)))  # the fixed text in its package, for package facts
            current = fixed
            pending = check_source(current, applicable_rules(path, new_data, version, settings.rules))
            read_package = read_package or current.read_package
        else:
            result.errors.append(f"fixes did not converge after {settings.max_iterations} rounds; the last round is kept")
        if current.data != data:
            result.fixed = current.data
            # What is left is reported against the fixed text.
            result.diagnostics = pending
        for fixed, variant in rounds:  # their facts point back at them: free them now
            variant.forget_facts()
            fixed.release()
    if read_package:
        result.dependencies = source.package.dependencies(path)
    return result


def _apply_checked(source: SourceFile, fixable: list[Diagnostic], result: FileResult) -> tuple[bytes, list[Diagnostic]]:
    """Merge and apply; drop fixes whose result would not compile as far as the
    grammar and scopes tell (a syntax error, a name declared twice in one scope,
    a `:=` declaring nothing new), naming their rules."""
    merged = merge(fixable)
    new_data = apply_edits(source.data, merged.edits)
    conflicts_before: list[int] = []

    def broken(data: bytes) -> str | None:
        if parsing.parse(data).root_node.has_error:
            return "a syntax error"
        if not conflicts_before:
            conflicts_before.append(declaration_conflicts(source))
        fixed = SourceFile(source.path, data, source.go_version)
        conflicts = declaration_conflicts(fixed)
        fixed.release()
        if conflicts > conflicts_before[0]:
            return "a name declared twice in one scope"
        return None

    if broken(new_data) is None:
        return new_data, merged.accepted
    # Keep the fixes one at a time, in the merge's order, as long as the text stays sound.
    kept: list[Diagnostic] = []
    text = source.data
    for diagnostic in merged.accepted:
        trial = merge([*kept, diagnostic])
        candidate = apply_edits(source.data, trial.edits)
        problem = broken(candidate)
        if problem is None:
            kept.append(diagnostic)
            text = candidate
            continue
        alone = broken(apply_edits(source.data, diagnostic.fix.edits if diagnostic.fix is not None else ()))
        if alone is not None:
            result.errors.append(
                f"internal error: a fix from rule {diagnostic.rule} at line {diagnostic.line} would introduce {alone}; it was dropped"
            )
        else:
            others = ", ".join(sorted({d.rule for d in kept})) or diagnostic.rule
            result.notes.append(
                f"{source.path}:{diagnostic.line}: the fix from rule {diagnostic.rule} would give {problem} together with "
                f"fixes from {others}; it is left for another run"
            )
    return text, kept
