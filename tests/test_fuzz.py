"""Fuzzing the whole pipeline with mutated fixture and standard-library files.

Properties: no exception escapes and no rule crashes; an applied fix never
leaves a syntax error; `--diff` applied with `git apply` gives exactly the
`--write` result.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gofix_defer.codemods.analysis import grammar as parsing
from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.codemods.model import INTERNAL_ERROR
from gofix_defer.codemods.output.diff import unified_diff
from gofix_defer.rules import ALL_RULES

from . import gotool
from .fixture_cases import FIXTURES

SETTINGS = Settings(rules=list(ALL_RULES), go_version=(1, 21), unsafe_fixes=True, apply_fixes=True)


def _seeds() -> list[bytes]:
    seeds = [p.read_bytes() for p in sorted(FIXTURES.rglob("*.go"))]
    bin_dir = gotool.go_bin_dir()
    if bin_dir is not None:
        leak_dir = bin_dir.parent / "src" / "runtime" / "testdata" / "testgoroutineleakprofile"
        seeds += [p.read_bytes() for p in sorted(leak_dir.rglob("*.go"))[:40]]
        for name in ("sync/once.go", "net/http/server.go", "context/context.go", "os/exec/exec.go"):
            path = bin_dir.parent / "src" / name
            if path.exists():
                seeds.append(path.read_bytes())
    return seeds


SEEDS = _seeds()
TOKENS = [b"defer ", b"go ", b"func() {", b"}", b"}()", b"(", b")", b"for i := 0; i < 3; i++ {", b"for _, v := range xs {",
          b"\r\n", b"\n", b"\t", b"\xff", b"close(ch)", b"ch <- v", b"<-ch", b"mu.Lock()", b"defer mu.Lock()", b":=", b"//", b'"']


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "delete", "duplicate"]))
        if kind == "insert":
            data[at:at] = draw(st.sampled_from(TOKENS))
        elif kind == "delete":
            data[at : at + draw(st.integers(1, 40))] = b""
        else:
            start = data.rfind(b"\n", 0, at) + 1
            end = data.find(b"\n", at)
            end = len(data) if end == -1 else end + 1
            data[start:start] = data[start:end]
    return bytes(data)


def _check(data: bytes):
    result = process("fuzz.go", data, SETTINGS)
    assert not [d for d in result.diagnostics if d.rule == INTERNAL_ERROR], result.diagnostics
    assert not [e for e in result.errors if "internal error" in e], result.errors
    if result.fixed is not None:
        assert not parsing.parse(result.fixed).root_node.has_error
    return result


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_mutated_inputs_never_crash_or_break_syntax(data):
    _check(data)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.sampled_from(SEEDS) | mutated())
def test_diff_applied_with_git_equals_write(data):
    result = _check(data)
    if result.fixed is None:
        return
    patch = unified_diff("pkg/fuzz.go", data, result.fixed)
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "pkg" / "fuzz.go"
        target.parent.mkdir()
        target.write_bytes(data)
        subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
        applied = subprocess.run(["git", "apply", "--whitespace=nowarn", "-"], cwd=folder, input=patch, capture_output=True)
        assert applied.returncode == 0, applied.stderr.decode()
        assert target.read_bytes() == result.fixed


def test_seeds_are_fixed_idempotently():
    for data in SEEDS:
        result = _check(data)
        if result.fixed is not None:
            again = process("fuzz.go", result.fixed, SETTINGS)
            assert again.fixed is None or again.fixed == result.fixed
