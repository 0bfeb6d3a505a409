"""`gofix-defer [PATH…]`: report, diff or fix the Go files under the paths.

Each file gets the settings of the nearest configuration file above it
(run/config.py), with the command line's flags on top; files with equal
settings run together, and output keeps the order of discovery.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from typing import Any, Iterable, Iterator, List, NoReturn, Optional

import typer
from rich.console import Console

from gofix_defer.codemods import __version__
from gofix_defer.codemods.analysis.goversion import GoVersionError, parse_go_version
from gofix_defer.codemods.cli.options import EXIT_CLEAN, EXIT_ERROR, UsageError, default_names, split_names
from gofix_defer.codemods.engine.budget import parse_seconds, parse_size
from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.codemods.engine.verify import GO_ENV, Toolchain, Verifier
from gofix_defer.codemods.model import FileResult
from gofix_defer.codemods.output.diff import unified_diff
from gofix_defer.codemods.output.progress import progress_bar
from gofix_defer.codemods.output.text import (
    Summary,
    colour_diff,
    render_applied,
    render_statistics,
    render_text,
    render_unsafe_left,
    statistics,
    statistics_json,
)
from gofix_defer.codemods.run.cache import CACHE_DIR_ENV, CacheLocationError, ResultCache, cache_location, settings_fingerprint
from gofix_defer.codemods.run.changes import ChangedLines, ChangesError, changed_lines
from gofix_defer.codemods.run.config import ConfigError, ConfigFinder, FileSettings, Overrides, Resolver, compile_globs
from gofix_defer.codemods.run.discovery import discover
from gofix_defer.codemods.run.workers import run
from gofix_defer.codemods.run.write import Terminated, WriteError, terminate_raises, write_atomically

STDIN = "-"
COLOR_CHOICES = ("auto", "always", "never")


# Shell completion of option values (`gofix-defer --select loop<TAB>`).
def _complete_rules(incomplete: str) -> list[str]:
    from gofix_defer.rules import ALL_RULES

    done, _, last = incomplete.rpartition(",")
    prefix = done + "," if done else ""
    return [prefix + rule.name for rule in ALL_RULES if rule.name.startswith(last)]


def _complete_formats(incomplete: str) -> list[str]:
    from gofix_defer.codemods.output.formats import FORMATS

    return [name for name in FORMATS if name.startswith(incomplete)]


def _complete_colors(incomplete: str) -> list[str]:
    return [name for name in COLOR_CHOICES if name.startswith(incomplete)]



def check(
    paths: Optional[List[str]] = typer.Argument(None, metavar="PATH", help="Files and folders to check (default: .); - reads standard input."),
    diff: bool = typer.Option(False, "--diff", help="Print a unified diff of the fixes; write nothing."),
    write: bool = typer.Option(False, "--write", help="Apply fixes in place (with standard input: print the fixed source)."),
    unsafe_fixes: Optional[bool] = typer.Option(
        None, "--unsafe-fixes/--no-unsafe-fixes", show_default=False, help="Also apply fixes marked unsafe (config: unsafe-fixes)."
    ),
    select: Optional[List[str]] = typer.Option(
        None, "--select", metavar="RULES", autocompletion=_complete_rules, help="Only these rules, comma-separated (instead of the config's select and ignore)."
    ),
    ignore: Optional[List[str]] = typer.Option(None, "--ignore", metavar="RULES", autocompletion=_complete_rules, help="Skip these rules, comma-separated (besides the config's)."),
    go_version: Optional[str] = typer.Option(
        None, "--go-version", metavar="VERSION", help="Go language version for every file (else: config go-version, else the nearest go.mod)."
    ),
    config: Optional[str] = typer.Option(
        None, "--config", metavar="FILE", help="Use this configuration file for every file (else: the nearest gofix-defer.toml above each)."
    ),
    isolated: bool = typer.Option(False, "--isolated", help="Read no configuration file."),
    exclude: Optional[List[str]] = typer.Option(
        None, "--exclude", metavar="GLOBS", help="Skip files matching these globs, instead of the config's exclude (comma-separated)."
    ),
    extend_exclude: Optional[List[str]] = typer.Option(
        None, "--extend-exclude", metavar="GLOBS", help="Skip files matching these globs too (comma-separated)."
    ),
    tests: Optional[bool] = typer.Option(None, "--tests/--no-tests", show_default=False, help="Check _test.go files (default; config: tests)."),
    verify: Optional[bool] = typer.Option(
        None, "--verify/--no-verify", show_default=False, help="Compile fixed packages before writing (config: verify)."
    ),
    stdin_filename: Optional[str] = typer.Option(
        None, "--stdin-filename", metavar="PATH", help="Read the source from standard input as if it were PATH (its config and go.mod apply)."
    ),
    new_from_rev: Optional[str] = typer.Option(
        None, "--new-from-rev", metavar="REV", help="Only findings on lines changed since git revision REV (and in untracked files)."
    ),
    statistics_: bool = typer.Option(False, "--statistics", help="Print the number of findings per rule instead of the findings."),
    show_fixes: bool = typer.Option(False, "--show-fixes", help="List each fix --write applied (or would apply)."),
    exit_zero: bool = typer.Option(False, "--exit-zero", help="Exit 0 even when findings remain."),
    list_rules: bool = typer.Option(False, "--list-rules", help="List the rules and exit (as JSON with --output-format json)."),
    explain: Optional[str] = typer.Option(None, "--explain", metavar="RULE", autocompletion=_complete_rules, help="Print a rule's documentation and exit."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print findings only, no summary or notes."),
    output_format: str = typer.Option(
        "text", "--output-format", metavar="FORMAT", autocompletion=_complete_formats, help="text, json, github, rdjson or sarif (see docs/output-formats.md)."
    ),
    color: str = typer.Option("auto", "--color", metavar="WHEN", autocompletion=_complete_colors, help="Colour the report and diffs: auto (on a terminal), always or never."),
    version: bool = typer.Option(False, "--version", "-V", help="Print the version and exit."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1, metavar="N", help="Worker processes (default: one per CPU)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the result cache."),
    cache_dir: Optional[str] = typer.Option(
        None, "--cache-dir", envvar=CACHE_DIR_ENV, metavar="DIR",
        help="Where the result cache lives (default: the user cache directory; never inside the checked tree; safe to delete).",
    ),
    max_file_size: Optional[str] = typer.Option(
        None, "--max-file-size", metavar="SIZE", help="Skip files larger than this, e.g. 4MiB (default 2MiB; 0: no limit)."
    ),
    file_timeout: Optional[str] = typer.Option(
        None, "--file-timeout", metavar="SECONDS", help="Skip a file whose check takes longer (default 20; 0: no limit)."
    ),
) -> None:
    """Find goroutine and resource leaks from defer and goroutines in Go code, and fix them."""
    from gofix_defer.rules import ALL_RULES, by_name

    if color not in COLOR_CHOICES:
        _fail(_console(True, "auto"), f"--color must be one of {', '.join(COLOR_CHOICES)}, not {color!r}")
    out = _console(False, color)
    err = _console(True, color)
    if version:
        out.print(f"gofix-defer {__version__}")
        raise typer.Exit(EXIT_CLEAN)
    from gofix_defer.codemods.output.formats import FORMATS, rules_json
    from gofix_defer.codemods.output.formats import render as render_format

    if output_format not in FORMATS:
        _fail(err, f"unknown --output-format {output_format!r} (one of {', '.join(FORMATS)})")
    if list_rules:
        if output_format == "json":
            sys.stdout.write(rules_json(ALL_RULES))
        elif output_format != "text":
            _fail(err, "--list-rules prints text or json")
        else:
            for rule in ALL_RULES:
                fix = {"always": "fix", "sometimes": "fix (sometimes)", "never": "no fix"}[rule.fix_availability]
                opt_in = " (opt-in: --select it)" if rule.opt_in is not None else ""
                out.print(f"{rule.name:<32} {rule.applicability.value:<7} {fix:<16} {rule.summary}{opt_in}")
        raise typer.Exit(EXIT_CLEAN)
    if explain is not None:
        explained = by_name(explain)
        if explained is None:
            _fail(err, f"unknown rule {explain!r} (see --list-rules)")
        out.print(f"# {explained.name}\n\n{explained.summary}\n\n{explained.doc()}")
        raise typer.Exit(EXIT_CLEAN)

    arguments = list(paths or [])
    use_stdin = arguments == [STDIN] or (stdin_filename is not None and not arguments)
    problems = [
        (diff and write, "--diff and --write cannot be combined"),
        (diff and output_format != "text", "--diff prints a diff; use --output-format without it (or with --write)"),
        (statistics_ and diff, "--statistics prints counts on stdout, --diff a diff: use one"),
        (statistics_ and output_format not in ("text", "json"), "--statistics prints text or json"),
        (config is not None and isolated, "--config and --isolated cannot be combined"),
        (STDIN in arguments and arguments != [STDIN], "- (standard input) cannot be combined with other paths"),
        (stdin_filename is not None and not use_stdin, "--stdin-filename reads standard input: give - or no path"),
        (use_stdin and write and output_format != "text", "--write with standard input prints the fixed source; it takes no --output-format"),
        (use_stdin and new_from_rev is not None, "--new-from-rev compares files on disk; it does not read standard input"),
    ]
    for wrong, message in problems:
        if wrong:
            _fail(err, message)

    all_names = [rule.name for rule in ALL_RULES]
    try:
        overrides = Overrides(
            select=_rule_names(select, "--select", all_names),
            ignore=_rule_names(ignore, "--ignore", all_names) or (),
            unsafe_fixes=unsafe_fixes,
            go_version=parse_go_version(go_version) if go_version else None,
            exclude=compile_globs(split_names(exclude), os.getcwd(), "--exclude") if exclude else None,
            extend_exclude=compile_globs(split_names(extend_exclude), os.getcwd(), "--extend-exclude"),
            tests=tests,
            verify=verify,
        )
        resolver = Resolver(ConfigFinder(all_names, explicit=config, isolated=isolated), overrides, all_names, default_names())
    except (GoVersionError, ConfigError, UsageError) as error:
        _fail(err, str(error))
    changes: ChangedLines | None = None
    if new_from_rev is not None:
        try:
            changes = changed_lines(new_from_rev)
        except ChangesError as error:
            _fail(err, str(error))

    mode = "diff" if diff else "write" if write else "check"
    report = _Report(
        mode=mode,
        out=out,
        err=err,
        output_format=output_format,
        quiet=quiet,
        statistics=statistics_,
        show_fixes=show_fixes,
        colour=_wants_colour(out, color),
        changes=changes,
        to_stdout=use_stdin,
    )
    budgets: dict[str, Any] = {}
    for option, name, value, parse in (
        ("--max-file-size", "max_file_size", max_file_size, parse_size),
        ("--file-timeout", "file_timeout", file_timeout, parse_seconds),
    ):
        if value is not None:
            try:
                budgets[name] = parse(value)
            except ValueError as error:
                _fail(err, f"{option}: {error}")
    try:
        chosen_cache = None if no_cache else cache_location(cache_dir, [a for a in arguments if a != STDIN] or ["."])
    except CacheLocationError as error:
        _fail(err, str(error))
    context = _Run(
        resolver=resolver,
        rules_by_name={rule.name: rule for rule in ALL_RULES},
        apply_fixes=diff or write or show_fixes,
        cache_dir=chosen_cache,
        jobs=jobs,
        budgets=budgets,
    )
    try:
        with terminate_raises():  # SIGTERM too ends the run through the clean-up below
            if use_stdin:
                _check_stdin(stdin_filename, context, report)
            else:
                _check_paths(arguments or ["."], context, report)
    except ConfigError as error:
        _fail(err, str(error))
    except KeyboardInterrupt as stop:
        # Ctrl-C or SIGTERM: workers are stopped, no temporary file is left; say what was written.
        done = report.written_so_far()
        shown = done[:20]
        written = ", ".join(shown) + (f" and {len(done) - len(shown)} more" if len(done) > len(shown) else "") or "none"
        report.error(f"interrupted: not every file was checked; files written before it: {written}")
        report.finish()
        raise typer.Exit(128 + (stop.signal_number if isinstance(stop, Terminated) else 2)) from None

    if output_format != "text":
        if statistics_:
            import json

            sys.stdout.write(json.dumps(statistics_json(statistics(report.kept)), indent=2) + "\n")
        else:
            sys.stdout.write(render_format(output_format, report.collected, context.rules_seen(), report.run_errors))
        sys.stdout.flush()
    elif statistics_:
        sys.stdout.write(render_statistics(statistics(report.kept)))
        sys.stdout.flush()
    report.finish()
    raise typer.Exit(report.summary.exit_code(exit_zero))


# -- the parts -------------------------------------------------------------------


def _console(stderr: bool, color: str) -> Console:
    extra: dict[str, Any] = {}
    if color == "always":
        extra["force_terminal"] = True
    elif color == "never":
        extra["color_system"] = None
    return Console(stderr=stderr, highlight=False, soft_wrap=True, emoji=False, markup=False, **extra)


def _wants_colour(console: Console, color: str) -> bool:
    if color != "auto":
        return color == "always"
    return console.is_terminal and console.color_system is not None and not console.no_color


def _fail(err: Console, message: str) -> NoReturn:
    err.print(f"error: {message}")
    raise typer.Exit(EXIT_ERROR)


def _rule_names(values: Optional[List[str]], option: str, known: list[str]) -> tuple[str, ...] | None:
    if values is None:
        return None
    names = split_names(values)
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise UsageError(f"{option}: unknown rule(s): {', '.join(unknown)} (see --list-rules)")
    return tuple(names)


class _Run:
    """What every group of files shares: how to build its Settings and cache."""

    def __init__(self, resolver: Resolver, rules_by_name: dict, apply_fixes: bool, cache_dir: str | None, jobs: int | None,
                 budgets: dict[str, Any] | None = None):
        self.resolver = resolver
        self.rules_by_name = rules_by_name
        self.apply_fixes = apply_fixes
        self.cache_dir = cache_dir
        self.jobs = jobs
        self.budgets = budgets or {}  # max_file_size, file_timeout (engine/budget.py)
        self._seen: dict[str, object] = {}

    def settings(self, key: FileSettings) -> Settings:
        rules = [self.rules_by_name[name] for name in key.rules]
        for rule in rules:
            self._seen.setdefault(rule.name, rule)
        options: dict[str, Any] = {
            "rules": rules,
            "go_version": key.go_version,
            "unsafe_fixes": key.unsafe_fixes,
            "apply_fixes": self.apply_fixes,
            "verify": key.verify,  # compile-before-write (engine/verify.py)
        }
        options.update(self.budgets)
        return Settings(**options)

    def cache(self, settings: Settings) -> ResultCache | None:
        if self.cache_dir is None:
            return None
        fingerprint = settings_fingerprint(settings.rules, settings.unsafe_fixes, settings.apply_fixes, settings.max_iterations)
        return ResultCache(self.cache_dir, fingerprint)

    def rules_seen(self) -> list:
        """The rules that ran on some file (SARIF lists them), else every selected one."""
        if self._seen:
            return list(self._seen.values())
        return list(self.rules_by_name.values())


class _Report:
    """Shows each file's result as it comes, and the run's totals at the end."""

    def __init__(self, *, mode: str, out: Console, err: Console, output_format: str, quiet: bool, statistics: bool,
                 show_fixes: bool, colour: bool, changes: ChangedLines | None, to_stdout: bool):
        self.mode, self.out, self.err = mode, out, err
        self.output_format, self.quiet = output_format, quiet
        self.statistics, self.show_fixes, self.colour = statistics, show_fixes, colour
        self.changes = changes
        self.to_stdout = to_stdout  # standard input: --write prints the fixed source
        self.summary = Summary(mode=mode)
        self.collected: list[FileResult] = []  # for the machine formats
        self.kept: list[FileResult] = []  # slim copies, for the lists printed at the end
        self.notes: list[str] = []
        self.said_uncompiled = False  # the note that no toolchain compiled the fixes, once
        self.run_errors: list[str] = []  # errors that belong to no file's result
        self.written: list[str] = []  # files --write replaced, for the message after an interrupt
        self._writing: tuple[str, bytes] | None = None  # the file being written, and its new bytes
        self.stdout = sys.stdout.buffer

    def written_so_far(self) -> list[str]:
        """The files --write replaced: an interrupt may land between a file's rename and
        its entry in ``written``, so the file being written then is asked of the disk."""
        found = list(self.written)
        if self._writing is not None and self._writing[0] not in found:
            path, new = self._writing
            try:
                with open(path, "rb") as handle:
                    if handle.read() == new:
                        found.append(path)
            except OSError:
                pass
        return found

    def error(self, message: str) -> None:
        self.run_errors.append(message)
        self.summary.errors.append(message)

    def note(self, message: str) -> None:
        self.notes.append(message)

    def show(self, result: FileResult, unsafe_fixes: bool) -> None:
        for message in result.notes:
            self.note(message)
        result = self._view(result)
        rewrite = result.rewrite
        if self.mode == "diff" and rewrite is not None:
            patch = unified_diff(result.path, *rewrite)
            self.stdout.write(colour_diff(patch) if self.colour else patch)
            self.stdout.flush()
        elif self.mode == "write" and self.to_stdout:
            self.stdout.write(result.fixed if result.fixed is not None else result.original or b"")
            self.stdout.flush()
        elif self.mode == "write" and rewrite is not None:
            try:
                self._writing = (result.path, rewrite[1])
                write_atomically(result.path, *rewrite)
                self.written.append(result.path)
                self._writing = None
            except WriteError as error:
                self._writing = None
                self.run_errors.append(str(error))
                self.summary.errors.append(str(error))
                # The file on disk is still the original: report its findings with their fixes.
                result = replace(result, diagnostics=result.found, fixed=None, applied=[])
        self.summary.add(result, unsafe_fixes)
        if self.output_format != "text":
            self.collected.append(result)
        elif self.mode != "diff" and not self.statistics:
            render_text(self.err if self.to_stdout and self.mode == "write" else self.out, result)
        self.kept.append(replace(result, original=None, fixed=None, found=[]))

    def _view(self, result: FileResult) -> FileResult:
        """What to show of a result: the original findings in check mode; only the
        new ones with --new-from-rev."""
        if self.mode == "check" and (result.fixed is not None or result.applied):
            # Fixes were computed only for --show-fixes: report the file as it is.
            result = replace(result, diagnostics=result.found, fixed=None)
        if self.changes is None:
            return result
        changes = self.changes
        new = [d for d in result.found if changes.is_new(d.path, d.line)]
        old = len(result.found) - len(new)
        if old == 0:
            return result  # every finding is new: fix the file as usual
        if new and self.mode != "check":
            findings = "1 finding" if old == 1 else f"{old} findings"
            self.note(f"{result.path}: not fixed: it also has {findings} on lines unchanged since {changes.revision}; "
                      "without --new-from-rev, --write fixes them all")
        return replace(result, diagnostics=new, fixed=None, applied=[])

    def finish(self) -> None:
        err = self.err
        for message in self.summary.errors:
            err.print(f"error: {message}")
        if self.show_fixes:
            err.print(render_applied(self.kept, self.mode))
        if not self.quiet:
            for message in self.notes:
                err.print(f"note: {message}")
            if self.mode != "check":
                left = render_unsafe_left(self.kept)
                if left:
                    err.print(left)
            err.print(self.summary.render())


def _settings_for(context: _Run, cache: dict[FileSettings, tuple[Settings, ResultCache | None]], key: FileSettings):
    found = cache.get(key)
    if found is None:
        settings = context.settings(key)
        found = cache[key] = (settings, context.cache(settings))
    return found


def _check_paths(arguments: list[str], context: _Run, report: _Report) -> None:
    found = discover(arguments)
    for message in found.errors:
        report.error(message)
    for message in found.notes:
        report.note(message)
    named = {os.path.normpath(a) for a in arguments if os.path.isfile(a)}
    groups: dict[FileSettings, list[int]] = {}
    files: list[str] = []
    for path in found.files:
        decision = context.resolver.decide(path)
        if decision.settings is None:
            if os.path.normpath(path) in named:
                report.note(f"{path}: not checked: {decision.reason}")
            continue
        groups.setdefault(decision.settings, []).append(len(files))
        files.append(path)
    built: dict[FileSettings, tuple[Settings, ResultCache | None]] = {}
    waiting: dict[int, tuple[FileResult, bool]] = {}
    next_index = 0
    with progress_bar(report.err, len(files), report.quiet) as advance:
        for key, indexes in groups.items():
            settings, cache = _settings_for(context, built, key)
            results = run([files[i] for i in indexes], settings, jobs=context.jobs, cache=cache, on_result=advance)
            results = _verified(results, settings, report)
            for index, result in zip(indexes, results):
                waiting[index] = (_slim(result), settings.unsafe_fixes)
                # Results are shown in the order of discovery, whatever group they ran in.
                while next_index in waiting:
                    shown, unsafe = waiting.pop(next_index)
                    report.show(shown, unsafe)
                    next_index += 1


def _slim(result: FileResult) -> FileResult:
    """Drop the bytes of a clean file while it waits for its turn to be shown."""
    if not result.diagnostics and not result.found and result.fixed is None and not result.applied:
        result.original = None
    return result


def _check_stdin(stdin_filename: str | None, context: _Run, report: _Report) -> None:
    from gofix_defer.codemods.run.workers import Packages

    data = sys.stdin.buffer.read()
    path = stdin_filename or "<stdin>"
    decision = context.resolver.decide(path)
    if decision.settings is None:
        report.note(f"{path}: not checked: {decision.reason}")
        if report.mode == "write":
            report.stdout.write(data)  # an editor replaces the buffer with stdout: give it back unchanged
            report.stdout.flush()
        return
    settings, _ = _settings_for(context, {}, decision.settings)
    try:
        result = process(path, data, settings, Packages(settings).of(path, data))
    except RecursionError:
        result = FileResult(path=path, original=data, errors=[f"{path}: internal error: nesting too deep to analyse"])
    for verified in _verified([result], settings, report):
        report.show(verified, settings.unsafe_fixes)


def _verified(results: Iterable[FileResult], settings: Settings, report: _Report) -> Iterator[FileResult]:
    """The results, with each package's fixes compiled before they are shown or
    written (--diff, --write), unless verification is off."""
    if report.mode == "check" or settings.verify is False:
        yield from results
        return
    toolchain = Toolchain.find()
    if toolchain is None:
        for result in results:
            if result.rewrite is not None and not report.said_uncompiled:
                report.said_uncompiled = True
                report.note(f"the fixes were not compiled: no Go toolchain found (put `go` on PATH or set {GO_ENV}; --no-verify silences this)")
            yield result
        return
    check = replace(settings, apply_fixes=False)
    verifier = Verifier(toolchain, settings.allowed, lambda path, text: process(path, text, check).diagnostics)
    yield from verifier.verify(results)
    for message in verifier.notes:
        report.note(message)

