"""`gofix-defer [PATH…]`: report, diff or fix the Go files under the paths."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import List, Optional

import typer
from rich.console import Console

from gofix_defer.codemods import __version__
from gofix_defer.codemods.analysis.goversion import GoVersionError, parse_go_version
from gofix_defer.codemods.cli.options import EXIT_CLEAN, EXIT_ERROR, select_rules, split_names
from gofix_defer.codemods.engine.process import Settings
from gofix_defer.codemods.model import FileResult
from gofix_defer.codemods.output.diff import unified_diff
from gofix_defer.codemods.output.progress import progress_bar
from gofix_defer.codemods.output.text import Summary, render_text
from gofix_defer.codemods.run.cache import CACHE_DIR_ENV, DEFAULT_CACHE_DIR, ResultCache, settings_fingerprint
from gofix_defer.codemods.run.discovery import discover
from gofix_defer.codemods.run.workers import run
from gofix_defer.codemods.run.write import WriteError, write_atomically


def check(
    paths: Optional[List[str]] = typer.Argument(None, help="Files and folders to check (default: .)."),
    diff: bool = typer.Option(False, "--diff", help="Print a unified diff of the fixes; write nothing."),
    write: bool = typer.Option(False, "--write", help="Apply fixes in place."),
    unsafe_fixes: bool = typer.Option(False, "--unsafe-fixes", help="Also apply fixes marked unsafe."),
    select: Optional[List[str]] = typer.Option(None, "--select", help="Only these rules (comma-separated)."),
    ignore: Optional[List[str]] = typer.Option(None, "--ignore", help="Skip these rules (comma-separated)."),
    go_version: Optional[str] = typer.Option(None, "--go-version", help="Go language version for every file (else: nearest go.mod)."),
    exit_zero: bool = typer.Option(False, "--exit-zero", help="Exit 0 even when findings remain."),
    list_rules: bool = typer.Option(False, "--list-rules", help="List the rules and exit."),
    explain: Optional[str] = typer.Option(None, "--explain", metavar="RULE", help="Print a rule's documentation and exit."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print findings only, no summary."),
    output_format: str = typer.Option(
        "text", "--output-format", help="text, json, github, rdjson or sarif (see docs/output-formats.md)."
    ),
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1, help="Worker processes (default: one per CPU)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the result cache."),
    cache_dir: str = typer.Option(
        DEFAULT_CACHE_DIR, "--cache-dir", envvar=CACHE_DIR_ENV, help="Where the result cache lives (safe to delete)."
    ),
) -> None:
    """Find goroutine and resource leaks from defer and goroutines in Go code, and fix them."""
    from gofix_defer.rules import ALL_RULES, by_name

    out = Console(highlight=False, soft_wrap=True, emoji=False, markup=False)
    err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False, markup=False)
    if version:
        out.print(f"gofix-defer {__version__}", markup=False)
        raise typer.Exit(EXIT_CLEAN)
    if list_rules:
        for rule in ALL_RULES:
            fix = {"always": "fix", "sometimes": "fix (sometimes)", "never": "no fix"}[rule.fix_availability]
            out.print(f"{rule.name:<32} {rule.applicability.value:<7} {fix:<16} {rule.summary}", markup=False)
        raise typer.Exit(EXIT_CLEAN)
    if explain is not None:
        explained = by_name(explain)
        if explained is None:
            err.print(f"error: unknown rule {explain!r} (see --list-rules)", markup=False)
            raise typer.Exit(EXIT_ERROR)
        out.print(f"# {explained.name}\n\n{explained.summary}\n\n{explained.doc()}", markup=False)
        raise typer.Exit(EXIT_CLEAN)
    if diff and write:
        err.print("error: --diff and --write cannot be combined", markup=False)
        raise typer.Exit(EXIT_ERROR)
    from gofix_defer.codemods.output.formats import FORMATS
    from gofix_defer.codemods.output.formats import render as render_format

    if output_format not in FORMATS:
        err.print(f"error: unknown --output-format {output_format!r} (one of {', '.join(FORMATS)})", markup=False)
        raise typer.Exit(EXIT_ERROR)
    if diff and output_format != "text":
        err.print("error: --diff prints a diff; use --output-format without it (or with --write)", markup=False)
        raise typer.Exit(EXIT_ERROR)
    collected: list[FileResult] = []
    try:
        override = parse_go_version(go_version) if go_version else None
        rules = select_rules(split_names(select), split_names(ignore))
    except (GoVersionError, typer.BadParameter) as error:
        err.print(f"error: {error}", markup=False)
        raise typer.Exit(EXIT_ERROR) from None

    settings = Settings(rules=rules, go_version=override, unsafe_fixes=unsafe_fixes, apply_fixes=diff or write)
    found = discover(list(paths) if paths else ["."])
    summary = Summary(mode="diff" if diff else "write" if write else "check")
    for message in found.errors:
        summary.errors.append(message)
    stdout = sys.stdout.buffer
    cache = None
    if not no_cache:
        fingerprint = settings_fingerprint(rules, settings.unsafe_fixes, settings.apply_fixes, settings.max_iterations)
        cache = ResultCache(cache_dir, fingerprint)
    with progress_bar(err, len(found.files), quiet) as advance:
        for result in run(found.files, settings, jobs=jobs, cache=cache, on_result=advance):
            rewrite = result.rewrite
            if diff and rewrite is not None:
                stdout.write(unified_diff(result.path, *rewrite))
                stdout.flush()
            elif write and rewrite is not None:
                try:
                    write_atomically(result.path, *rewrite)
                except WriteError as error:
                    summary.errors.append(str(error))
                    # The file on disk is still the original: report its findings with their fixes.
                    result = replace(result, diagnostics=result.found, fixed=None, applied=[])
            summary.add(result, unsafe_fixes)
            if output_format != "text":
                collected.append(result)
            elif not diff:
                render_text(out, result)
    if output_format != "text":
        stdout.write(render_format(output_format, collected, rules).encode("utf-8"))
        stdout.flush()
    for message in summary.errors:
        err.print(f"error: {message}", markup=False)
    if not quiet:
        err.print(summary.render(), markup=False)
    raise typer.Exit(summary.exit_code(exit_zero))
