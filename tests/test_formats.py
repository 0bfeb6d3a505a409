"""--output-format json|github|rdjson|sarif, run through the real CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gofix_defer.codemods.cli import app
from gofix_defer.codemods.model import Applicability, Edit, Fix, Rule
from gofix_defer.codemods.output.formats import doc_sections, github_annotation

REPO_ROOT = Path(__file__).resolve().parent.parent
SARIF_SCHEMA = REPO_ROOT.parent / "shared" / "schemas" / "sarif-schema-2.1.0.json"


class LockTypoTestRule(Rule):
    """Test-only rule: `mu.Lock()` followed by `defer mu.Lock()` (meant Unlock).

    What it does:
    Finds a deferred Lock right after a Lock of the same mutex.

    Why is this bad:
    The second Lock blocks forever: the function deadlocks on return.

    Example:
        mu.Lock()
        defer mu.Lock()

    Fix:
    `defer mu.Unlock()`.

    Fix safety:
    Safe.
    """

    name = "test-lock-typo"
    summary = "deferred Lock right after Lock: meant Unlock"
    fix_availability = "always"
    triggers = (b"defer",)

    def check(self, source):
        pattern = rb"([A-Za-z_][\w.]*)\.Lock\(\)(\r?\n[^\n]*?)defer (\1)\.Lock\(\)"
        for match in re.finditer(pattern, source.data):
            lock = match.end(3) + 1  # the "Lock" after "mu."
            fix = Fix("Defer Unlock instead of Lock", (Edit(lock, lock + 4, b"Unlock"),), Applicability.SAFE)
            yield self.diagnostic((match.end(2), match.end()), "deferred Lock after Lock deadlocks; meant Unlock", fix)


LOCK_TYPO = LockTypoTestRule()

GO_SOURCE = """package demo

import "sync"

var mu sync.Mutex

// Count is a counter: déjà vu for non-ASCII columns.
func Count(n *int) {
\tmu.Lock()
\t/* é */ defer mu.Lock()
\t*n++
}
""".encode()


@pytest.fixture
def with_test_rule(monkeypatch):
    import gofix_defer.rules as registry

    monkeypatch.setattr(registry, "ALL_RULES", tuple(registry.ALL_RULES) + (LOCK_TYPO,))
    return LOCK_TYPO


@pytest.fixture
def go_file(tmp_path):
    path = tmp_path / "demo.go"
    path.write_bytes(GO_SOURCE)
    return path


def run_cli(*args: str):
    """The real CLI in-process (so the test-only rule is visible); no result cache."""
    extra = [] if "--no-cache" in args else ["--no-cache"]
    return CliRunner().invoke(app, [*args, *extra])


def apply(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    for start, end, text in sorted(edits, reverse=True):
        data = data[:start] + text + data[end:]
    return data


def fixed_by_write(path: Path) -> bytes:
    copy = path.with_name("copy.go")
    copy.write_bytes(path.read_bytes())
    assert run_cli(str(copy), "--write", "--select", "test-lock-typo").exit_code == 0
    return copy.read_bytes()


def test_json_schema_and_offsets(with_test_rule, go_file):
    result = run_cli(str(go_file), "--output-format", "json", "--select", "test-lock-typo", "-q")
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["version"] == 1 and document["tool"]["name"] == "gofix-defer"
    [diagnostic] = document["diagnostics"]
    assert diagnostic["rule"] == "test-lock-typo"
    assert diagnostic["path"] == str(go_file)
    start, end = diagnostic["range"]["start"], diagnostic["range"]["end"]
    assert GO_SOURCE[start["offset"] : end["offset"]] == b"defer mu.Lock()"
    # line/column agree with the byte offset (1-based byte columns)
    line_start = GO_SOURCE.rfind(b"\n", 0, start["offset"]) + 1
    assert start["line"] == GO_SOURCE[: start["offset"]].count(b"\n") + 1 == 10
    assert start["column"] == start["offset"] - line_start + 1 == len("\t/* é */ ".encode()) + 1
    fix = diagnostic["fix"]
    assert fix["title"] == "Defer Unlock instead of Lock" and fix["applicability"] == "safe"
    edits = [(e["start"]["offset"], e["end"]["offset"], e["text"].encode()) for e in fix["edits"]]
    assert apply(GO_SOURCE, edits) == fixed_by_write(go_file)
    assert re.fullmatch(r"[0-9a-f]{32}", diagnostic["fingerprint"])


def test_json_after_write_reports_what_is_left(with_test_rule, go_file):
    result = run_cli(str(go_file), "--write", "--output-format", "json", "--select", "test-lock-typo", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["diagnostics"] == []
    assert b"defer mu.Unlock()" in go_file.read_bytes()


def test_failed_write_reports_the_file_as_it_stayed(with_test_rule, go_file, monkeypatch):
    import gofix_defer.codemods.cli.check as cli
    from gofix_defer.codemods.run.write import WriteError

    def refuse(path, original, fixed):
        raise WriteError(f"{path}: changed since it was read; not written")

    monkeypatch.setattr(cli, "write_atomically", refuse)
    result = run_cli(str(go_file), "--write", "--no-cache", "--output-format", "json", "--select", "test-lock-typo", "-q")
    assert result.exit_code == 2
    [diagnostic] = json.loads(result.stdout)["diagnostics"]
    assert diagnostic["fix"]["edits"][0]["text"] == "Unlock"
    assert go_file.read_bytes() == GO_SOURCE


def test_diff_cannot_mix_with_machine_formats(with_test_rule, go_file):
    result = run_cli(str(go_file), "--diff", "--output-format", "json")
    assert result.exit_code == 2
    assert run_cli(str(go_file), "--output-format", "xml").exit_code == 2


def test_output_is_deterministic(with_test_rule, go_file, tmp_path):
    other = tmp_path / "a_first.go"
    other.write_bytes(GO_SOURCE.replace(b"Count", b"Other"))
    outputs = {
        fmt: [run_cli(str(tmp_path), "--output-format", fmt, "--select", "test-lock-typo", "-q").stdout for _ in range(2)]
        for fmt in ("json", "github", "rdjson", "sarif")
    }
    for fmt, (first, second) in outputs.items():
        assert first == second, fmt
    paths = [d["path"] for d in json.loads(outputs["json"][0])["diagnostics"]]
    assert paths == sorted(paths) and len(paths) == 2


def test_github_annotation_escaping():
    line = github_annotation("dir/a,b:c.go", 3, 4, 2, "t: x, y", "50% done\r\nnext: line, more")
    assert line == ("::warning file=dir/a%2Cb%3Ac.go,line=3,endLine=4,col=2,title=t%3A x%2C y"
                    "::50%25 done%0D%0Anext: line, more")


def test_github_format(with_test_rule, go_file):
    result = run_cli(str(go_file), "--output-format", "github", "--select", "test-lock-typo", "-q")
    [line] = result.stdout.splitlines()
    assert line.startswith("::warning file=")
    assert ",line=10,endLine=10,col=" in line and "title=gofix-defer%3A test-lock-typo::" in line
    assert line.endswith("meant Unlock%0AFix (safe): Defer Unlock instead of Lock")


def test_rdjson_suggestions_carry_the_fix(with_test_rule, go_file):
    result = run_cli(str(go_file), "--output-format", "rdjson", "--select", "test-lock-typo", "-q")
    document = json.loads(result.stdout)
    assert document["source"]["name"] == "gofix-defer"
    [diagnostic] = document["diagnostics"]
    assert diagnostic["code"]["value"] == "test-lock-typo" and diagnostic["severity"] == "WARNING"
    lines = GO_SOURCE.split(b"\n")

    def offset(pos):  # rdjson columns are 1-based UTF-8 byte counts
        return sum(len(line) + 1 for line in lines[: pos["line"] - 1]) + pos["column"] - 1

    edits = [(offset(s["range"]["start"]), offset(s["range"]["end"]), s["text"].encode()) for s in diagnostic["suggestions"]]
    assert apply(GO_SOURCE, edits) == fixed_by_write(go_file)


def test_sarif_rules_fingerprints_and_fixes(with_test_rule, go_file):
    result = run_cli(str(go_file), "--output-format", "sarif", "--select", "test-lock-typo", "-q")
    document = json.loads(result.stdout)
    run = document["runs"][0]
    descriptors = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    rule = descriptors["test-lock-typo"]
    assert rule["shortDescription"]["text"] == LOCK_TYPO.summary
    assert rule["fullDescription"]["text"] == "Finds a deferred Lock right after a Lock of the same mutex."
    assert "Fix safety" in rule["help"]["text"]
    [finding] = run["results"]
    assert run["tool"]["driver"]["rules"][finding["ruleIndex"]]["id"] == "test-lock-typo"
    assert finding["partialFingerprints"]["gofixDefer/v1"]
    region = finding["locations"][0]["physicalLocation"]["region"]
    assert GO_SOURCE[region["byteOffset"] : region["byteOffset"] + region["byteLength"]] == b"defer mu.Lock()"
    assert region["startColumn"] == len("\t/* é */ ") + 1  # code points, per columnKind
    replacements = finding["fixes"][0]["artifactChanges"][0]["replacements"]
    edits = [(r["deletedRegion"]["byteOffset"], r["deletedRegion"]["byteOffset"] + r["deletedRegion"]["byteLength"],
              r["insertedContent"]["text"].encode()) for r in replacements]
    assert apply(GO_SOURCE, edits) == fixed_by_write(go_file)


@pytest.mark.skipif(not SARIF_SCHEMA.exists(), reason="SARIF 2.1.0 schema not beside the checkout")
def test_sarif_validates_against_the_official_schema(with_test_rule, go_file, tmp_path):
    import jsonschema

    broken = tmp_path / "broken.go"
    broken.write_bytes(b"package demo\n\nfunc f() {\n\tdefer x(\n}\n")  # a syntax-error result (it has a trigger)
    result = run_cli(str(tmp_path), "--output-format", "sarif", "-q")
    document = json.loads(result.stdout)
    assert {r["ruleId"] for r in document["runs"][0]["results"]} >= {"test-lock-typo", "syntax-error"}
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = sorted(validator_class(schema).iter_errors(document), key=str)
    assert not errors, errors[0]


def test_doc_sections():
    sections = doc_sections(LOCK_TYPO.doc())
    assert sections["why is this bad"].startswith("The second Lock blocks")
    assert sections["fix safety"] == "Safe."


def test_errors_of_the_run_reach_every_machine_format(with_test_rule, go_file, tmp_path):
    missing = str(tmp_path / "missing.go")
    github = run_cli(str(go_file), missing, "--output-format", "github", "--select", "test-lock-typo", "-q")
    assert github.exit_code == 2
    assert f"::error title=gofix-defer::{missing}: no such file or directory" in github.stdout.splitlines()
    document = json.loads(run_cli(str(go_file), missing, "--output-format", "json", "--select", "test-lock-typo", "-q").stdout)
    assert document["errors"] == [f"{missing}: no such file or directory"] and len(document["diagnostics"]) == 1
    rdjson = json.loads(run_cli(str(go_file), missing, "--output-format", "rdjson", "--select", "test-lock-typo", "-q").stdout)
    assert len(rdjson["diagnostics"]) == 1  # rdjson has no place for them: stderr only


def test_render_json_puts_the_runs_errors_first():
    from gofix_defer.codemods.model import FileResult
    from gofix_defer.codemods.output.formats import render

    results = [FileResult(path="a.go", errors=["a.go: write failed: disk full"])]
    document = json.loads(render("json", results, [], ["b: no such file or directory"]))
    assert document["errors"] == ["b: no such file or directory", "a.go: write failed: disk full"]
