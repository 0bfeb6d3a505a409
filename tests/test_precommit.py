"""The repository's .pre-commit-hooks.yaml: valid for pre-commit, and its hooks
do what they say when run the way pre-commit runs them (entry + args + files)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from .test_cli import FIXED, LEAKY, module

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / ".pre-commit-hooks.yaml"


def hooks() -> dict[str, dict]:
    from pre_commit.clientlib import load_manifest

    return {hook["id"]: hook for hook in load_manifest(str(MANIFEST))}


def test_manifest_passes_pre_commits_own_validation():
    done = subprocess.run([sys.executable, "-m", "pre_commit", "validate-manifest", str(MANIFEST)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    found = hooks()
    assert set(found) == {"gofix-defer", "gofix-defer-fix"}
    for hook in found.values():
        assert hook["language"] == "python" and hook["types"] == ["go"]
    assert found["gofix-defer-fix"]["require_serial"] is True


def test_a_broken_manifest_is_refused(tmp_path):
    from pre_commit.clientlib import InvalidManifestError, load_manifest

    broken = tmp_path / ".pre-commit-hooks.yaml"
    broken.write_text(MANIFEST.read_text().replace("entry: gofix-defer --write", "entry: [gofix-defer]"))
    with pytest.raises(InvalidManifestError):
        load_manifest(str(broken))


@pytest.mark.parametrize("path,checked", [("main.go", True), ("pkg/a.go", True), ("vendor/x/y.go", False), ("pkg/testdata/t.go", False), (".hidden/h.go", False), ("_tools/t.go", False)])
def test_hooks_leave_out_the_folders_the_go_tool_skips(path, checked):
    for hook in hooks().values():
        assert (re.search(hook["exclude"], path) is None) is checked


def run_hook(hook: dict, files: list[str], cwd: Path) -> subprocess.CompletedProcess:
    entry = shlex.split(hook["entry"])
    script = str(Path(sys.executable).with_name(entry[0]))
    return subprocess.run([script, *entry[1:], *hook["args"], *files], cwd=cwd, capture_output=True, text=True)


def test_report_hook_fails_on_a_leak_and_passes_when_clean(tmp_path):
    module(tmp_path, files={"main.go": LEAKY, "clean.go": "package main\n\nfunc helper() {}\n"})
    report = hooks()["gofix-defer"]
    failed = run_hook(report, ["main.go", "clean.go"], tmp_path)
    assert failed.returncode == 1 and "main.go:7:3:" in failed.stdout
    assert (tmp_path / "main.go").read_text() == LEAKY
    assert run_hook(report, ["clean.go"], tmp_path).returncode == 0


def test_fix_hook_applies_safe_fixes_and_honours_the_config(tmp_path):
    module(tmp_path, files={"main.go": LEAKY, "gen/z.go": LEAKY})
    (tmp_path / "gofix-defer.toml").write_text('exclude = ["gen/"]\n')
    fix = hooks()["gofix-defer-fix"]
    done = run_hook(fix, ["main.go", "gen/z.go"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "main.go").read_text() == FIXED
    assert (tmp_path / "gen/z.go").read_text() == LEAKY  # excluded by gofix-defer.toml
