"""--new-from-rev REV: only findings on lines changed since REV, as golangci-lint's."""

from __future__ import annotations

import json
import subprocess

from gofix_defer.codemods.run.changes import _unquote, changed_lines

from .test_cli import LEAKY, invoke, module

NEWER = """
func newer() {
	for j := 0; j < 3; j++ {
		defer func() { fmt.Println(j) }()
	}
}
"""


def git(cwd, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def repository(tmp_path):
    module(tmp_path, files={"old.go": LEAKY, "pkg/same.go": LEAKY.replace("package main", "package pkg")})
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "base")
    return tmp_path


def test_only_new_lines_are_reported(tmp_path):
    repo = repository(tmp_path)
    (repo / "old.go").write_text(LEAKY + NEWER)  # a new function below an old finding
    (repo / "untracked.go").write_text(LEAKY.replace("func main()", "func third()"))
    everything = invoke(".", "--no-cache", cwd=repo)
    assert len(everything.stdout.splitlines()) == 4
    new = invoke(".", "--no-cache", "--new-from-rev", "HEAD", cwd=repo)
    assert new.exit_code == 1
    assert [line.split(": ", 1)[0] for line in new.stdout.splitlines()] == ["old.go:13:3", "untracked.go:7:3"]
    as_json = json.loads(invoke(".", "--no-cache", "--new-from-rev", "HEAD", "--output-format", "json", cwd=repo).stdout)
    assert [(d["path"], d["range"]["start"]["line"]) for d in as_json["diagnostics"]] == [("old.go", 13), ("untracked.go", 7)]
    # Committed, nothing is new any more.
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "more")
    assert invoke(".", "--no-cache", "--new-from-rev", "HEAD", cwd=repo).exit_code == 0
    assert invoke(".", "--no-cache", "--new-from-rev", "HEAD~1", cwd=repo).exit_code == 1


def test_write_fixes_only_files_whose_findings_are_all_new(tmp_path):
    repo = repository(tmp_path)
    (repo / "old.go").write_text(LEAKY + NEWER)
    (repo / "fresh.go").write_text(LEAKY.replace("func main()", "func fresh()"))
    result = invoke(".", "--no-cache", "--write", "--new-from-rev", "HEAD", cwd=repo)
    assert (repo / "fresh.go").read_text() != LEAKY.replace("func main()", "func fresh()")  # all new: fixed
    assert (repo / "old.go").read_text() == LEAKY + NEWER  # mixed: left alone, and said why
    assert (repo / "pkg/same.go").read_text() == LEAKY.replace("package main", "package pkg")  # only old findings
    assert "note: old.go: not fixed: it also has 1 finding on lines unchanged since HEAD" in result.stderr
    assert result.stdout.splitlines()[0].startswith("old.go:13:3:")
    assert result.exit_code == 1


def test_bad_revisions_and_no_repository_are_usage_errors(tmp_path):
    repo = repository(tmp_path / "repo")
    unknown = invoke(".", "--new-from-rev", "no-such-branch", cwd=repo)
    assert unknown.exit_code == 2 and "unknown revision 'no-such-branch'" in unknown.stderr
    option = invoke(".", "--new-from-rev=--output=/tmp/x", cwd=repo)
    assert option.exit_code == 2 and "is not a revision" in option.stderr
    module(tmp_path / "plain")
    outside = invoke(".", "--new-from-rev", "HEAD", cwd=tmp_path / "plain")
    assert outside.exit_code == 2 and "not inside a git repository" in outside.stderr


def test_changed_lines_of_odd_file_names(tmp_path):
    repo = repository(tmp_path)
    odd = 'tab\there "quoted" ü.go'
    (repo / odd).write_text("package main\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "odd")
    (repo / odd).write_text("package main\n\nfunc x() {}\n++ not a header\n")
    changes = changed_lines("HEAD", str(repo))
    assert changes.is_new(str(repo / odd), 3) and changes.is_new(str(repo / odd), 4)
    assert not changes.is_new(str(repo / odd), 1)
    assert _unquote(b'"a\\tb\\303\\274.go"') == "a\tbü.go".encode()
