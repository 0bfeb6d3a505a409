"""Input that must not stall, exhaust or mislead: per-file budgets, lone CRs, odd file
names, unreadable go.mod files, and what the command line names."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import unidiff

from gofix_defer.codemods.analysis import goversion
from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.codemods.model.lines import LineIndex
from gofix_defer.codemods.output.diff import unified_diff
from gofix_defer.rules import by_name

from .test_cli import FIXED, LEAKY, invoke, module

CLI = "from gofix_defer.codemods.cli import main; main()"
LVC = [by_name("loop-var-capture")]


def dense(functions: int) -> str:
    """A file that is all findings and fixes: the most memory per byte."""
    return "package main\n\n" + "".join(
        f"func f{i}() {{\n\tfor i := 0; i < 3; i++ {{\n\t\tdefer func() {{ println(i) }}()\n\t}}\n}}\n\n" for i in range(functions)
    )


# -- per-file budgets ------------------------------------------------------------


def test_a_file_over_the_size_budget_is_skipped_with_a_message(tmp_path):
    module(tmp_path, files={"small.go": LEAKY, "big.go": LEAKY.replace("package main", "package main\n\n" + "// padding\n" * 400)})
    from gofix_defer.codemods.engine import budget

    result = invoke(".", "--write", "--max-file-size", "2KiB", cwd=tmp_path)
    assert result.exit_code == 2
    size = budget.size_text((tmp_path / "big.go").stat().st_size)
    assert f"big.go: skipped: {size} is over the 2 KiB per-file budget (raise it with --max-file-size)" in result.stderr
    assert "padding" in (tmp_path / "big.go").read_text() and "func() {" in (tmp_path / "big.go").read_text()
    assert (tmp_path / "small.go").read_text() == FIXED
    # 0 lifts the limit; the default (2 MiB) lets both through.
    assert invoke(".", "--diff", "--max-file-size", "0", cwd=tmp_path).exit_code == 1
    assert invoke(".", "--diff", cwd=tmp_path).exit_code == 1
    bad = invoke(".", "--max-file-size", "lots", cwd=tmp_path)
    assert bad.exit_code == 2 and "--max-file-size: not a size: 'lots'" in bad.stderr


def test_the_default_size_budget_skips_a_huge_file_fast_and_small(tmp_path):
    """Before the budget, a 50 MB file took 350 s and 11.7 GB; this one is 6 MB of fixes."""
    module(tmp_path, files={"huge.go": dense(76_000)})
    assert (tmp_path / "huge.go").stat().st_size > 6_000_000
    with open(tmp_path / "err.txt", "wb") as err:
        child = subprocess.Popen([sys.executable, "-c", CLI, "--write", "--no-cache", "."], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=err)
        watchdog = threading.Timer(120, child.kill)  # the old code took minutes and gigabytes here
        watchdog.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)  # this child's own peak memory
        finally:
            watchdog.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)
    stderr = (tmp_path / "err.txt").read_bytes()
    assert child.returncode == 2, stderr
    assert b"huge.go: skipped:" in stderr and b"over the 2 MiB per-file budget" in stderr
    peak = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    assert peak < 1024**3


def test_a_file_over_the_time_budget_is_skipped_with_a_message(tmp_path):
    module(tmp_path, files={"slow.go": dense(3000), "quick.go": LEAKY})
    done = subprocess.run(
        [sys.executable, "-c", CLI, "--write", "--no-cache", "--file-timeout", "0.5", "."], cwd=tmp_path, capture_output=True, timeout=300
    )
    assert done.returncode == 2, done.stderr
    assert b"slow.go: skipped: checking it took longer than the 0.5 s per-file budget (raise it with --file-timeout)" in done.stderr
    assert (tmp_path / "slow.go").read_text() == dense(3000)  # not half-fixed
    assert (tmp_path / "quick.go").read_text() == FIXED


def test_time_budget_in_the_engine_and_off_the_main_thread():
    data = dense(3000).encode()
    on_main = process("slow.go", data, Settings(rules=LVC, go_version=(1, 21), apply_fixes=True, file_timeout=0.3))
    assert on_main.skipped == "timeout" and on_main.fixed is None and on_main.errors
    found: list = []
    # An editor's worker thread has no timer: the engine checks the clock between rules and rounds.
    worker = threading.Thread(
        target=lambda: found.append(process("slow.go", data, Settings(rules=LVC * 30, go_version=(1, 21), file_timeout=0.3)))
    )
    worker.start()
    worker.join(120)
    assert found and found[0].skipped == "timeout"
    assert not process("ok.go", LEAKY.encode(), Settings(rules=LVC, go_version=(1, 21), file_timeout=5)).errors


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no POSIX interval timer")
def test_a_lost_alarm_rings_again_and_leaves_no_timer_behind():
    from gofix_defer.codemods.engine.budget import BudgetExceeded, deadline

    lost = 0
    with pytest.raises(BudgetExceeded):
        with deadline(0.05):
            try:
                while True:
                    pass
            except BudgetExceeded:
                lost += 1  # as Python drops one raised in a finaliser or a gc callback
            started = time.monotonic()
            while time.monotonic() - started < 5:
                pass
            pytest.fail("the alarm did not ring again")
    assert lost == 1
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0) and signal.getsignal(signal.SIGALRM) is signal.SIG_DFL


def test_budget_values_parse():
    from gofix_defer.codemods.engine import budget

    assert budget.parse_size("2MiB") == budget.parse_size("2M") == 2 * 1024 * 1024 == budget.MAX_FILE_SIZE
    assert budget.parse_size("512k") == 512 * 1024 and budget.parse_size("100") == 100 and budget.parse_size(0) == 0
    assert budget.parse_seconds("20") == budget.parse_seconds("20s") == budget.FILE_TIMEOUT
    for bad in ("-1", "nan", "inf", "x"):
        with pytest.raises(ValueError):
            budget.parse_seconds(bad)
    with pytest.raises(ValueError):
        budget.parse_size("2 parsecs")


# -- lines end at \n only ---------------------------------------------------------


LONE_CR = LEAKY.replace("i++ {", "i++ { // a lone \r carriage return")


def test_a_lone_cr_is_not_a_line_break_in_diffs_and_git_applies_them(tmp_path):
    project = module(tmp_path / "p", files={"main.go": LONE_CR})
    diff = invoke(".", "--diff", cwd=project)
    assert diff.exit_code == 1
    patch = diff.stdout_bytes
    assert b" \tfor i := 0; i < 3; i++ { // a lone \r carriage return\n" in patch  # one context line, CR inside
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    applied = subprocess.run(["git", "apply", "-"], cwd=project, input=patch, capture_output=True)
    assert applied.returncode == 0, applied.stderr
    assert (project / "main.go").read_bytes() == FIXED.replace("i++ {", "i++ { // a lone \r carriage return").encode()
    hunks = unidiff.PatchSet(patch.decode())[0]
    assert hunks[0].source_start == 4  # line numbers count \n only


def test_line_index_counts_lines_as_git_does():
    index = LineIndex(b"a\rb\nc\r\r\nd\r")
    assert index.line_col(2) == (1, 3)  # the \r did not start a line
    assert index.line_text(1) == b"a\rb"
    assert index.line_text(2) == b"c\r"  # only the CR of the final CRLF goes
    assert index.line_text(3) == b"d\r"  # no line ending after it: the CR is text
    assert len(index.starts) == 3


# -- file names -------------------------------------------------------------------


def test_a_newline_in_a_file_name_is_quoted_as_git_does(tmp_path):
    project = module(tmp_path / "p", files={"odd\nname.go": LEAKY, "back\\slash.go": LEAKY})
    diff = invoke(".", "--diff", cwd=project)
    assert b'--- "a/odd\\nname.go"\n+++ "b/odd\\nname.go"\n' in diff.stdout_bytes
    assert b'--- "a/back\\\\slash.go"\n' in diff.stdout_bytes
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    applied = subprocess.run(["git", "apply", "-"], cwd=project, input=diff.stdout_bytes, capture_output=True)
    assert applied.returncode == 0, applied.stderr
    assert (project / "odd\nname.go").read_text() == FIXED
    assert (project / "back\\slash.go").read_text() == FIXED


def test_quote_path_matches_git():
    from gofix_defer.codemods.output.diff import quote_path

    assert quote_path("a/plain name ü.go") == "a/plain name ü.go".encode()
    assert quote_path('a/x\ty"z.go') == b'"a/x\\ty\\"z.go"'
    assert quote_path("a/\x01\xfc.go") == b'"a/\\001\\303\\274.go"'
    assert unified_diff("x\ny.go", b"a\n", b"b\n").startswith(b'--- "a/x\\ny.go"\n+++ "b/x\\ny.go"\n')


# -- go.mod ---------------------------------------------------------------------


def test_an_unreadable_go_mod_is_an_error_not_current_go(tmp_path, monkeypatch):
    module(tmp_path, version="1.21")
    real_open = open

    def guarded(path, *args, **kwargs):  # root can read anything: simulate EACCES
        if str(path).endswith("go.mod"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(goversion, "open", guarded, raising=False)
    goversion._version_for_dir.cache_clear()
    try:
        result = invoke(".", cwd=tmp_path)
        assert result.exit_code == 2
        assert f"main.go: cannot read {tmp_path / 'go.mod'} (Permission denied)" in result.stderr
        assert "loop-var-capture" not in result.stdout
        # --go-version says what go.mod would have said: the file is checked.
        assert invoke(".", "--go-version", "1.21", cwd=tmp_path).exit_code == 1
    finally:
        goversion._version_for_dir.cache_clear()


# -- what the command line names -------------------------------------------------


def test_a_folder_named_review_can_be_checked(tmp_path):
    """Issue 15 item 18 (verified): a folder that shares the sub-command's name."""
    module(tmp_path, files={"review/main.go": LEAKY})
    for args in (["./review"], ["--", "review"], ["review/"]):
        result = invoke(*args, cwd=tmp_path)
        assert result.exit_code == 1, (args, result.stdout, result.stderr)
        assert "review/main.go:7:3:" in result.stdout


def test_named_folder_inside_an_ignored_folder_is_checked(tmp_path):
    module(tmp_path, files={"build/gen/main.go": LEAKY, "build/gen/api.pb.go": LEAKY, "build/gen/deep/x.go": LEAKY, "main.go": LEAKY})
    (tmp_path / ".gitignore").write_text("build/\n*.pb.go\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    walked = invoke(".", cwd=tmp_path)
    assert {line.split(":", 1)[0] for line in walked.stdout.splitlines()} == {"main.go"}
    named = invoke("build/gen", cwd=tmp_path)
    assert named.exit_code == 1, named.stderr
    # The named folder is checked; patterns of the enclosing .gitignore still apply to what is walked in it.
    assert {line.split(":", 1)[0] for line in named.stdout.splitlines()} == {"build/gen/main.go", "build/gen/deep/x.go"}
    # A pattern that ignores all of the folder's content amounts to ignoring the folder.
    (tmp_path / ".gitignore").write_text("build/**\n")
    assert invoke("build/gen", cwd=tmp_path).exit_code == 1


def test_named_paths_without_go_files_are_an_error(tmp_path):
    module(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("no Go here\n")
    for args in (["empty"], ["empty", "docs"]):
        result = invoke(*args, cwd=tmp_path)
        assert result.exit_code == 2
        assert f"error: no Go files to check in {', '.join(args)}" in result.stderr
    # One named path with Go files is enough.
    assert invoke("empty", ".", cwd=tmp_path).exit_code == 1


def test_a_non_go_file_named_explicitly_is_an_error_not_a_finding(tmp_path):
    module(tmp_path)
    (tmp_path / "README.md").write_text("# hello\n\ndefer this\n")
    result = invoke("README.md", cwd=tmp_path)
    assert result.exit_code == 2
    assert "README.md: not a Go file (gofix-defer reads .go files)" in result.stderr
    assert "syntax-error" not in result.stdout
    both = invoke("README.md", "main.go", cwd=tmp_path)
    assert both.exit_code == 2 and "main.go:7:3:" in both.stdout  # the rest of the run still happens


def test_pathological_gitignore_pattern_does_not_stall(tmp_path):
    """`a*a*a*…ab` against a long name took minutes in a backtracking matcher."""
    module(tmp_path, files={"main.go": LEAKY, ("a" * 60) + ".go": LEAKY, ("a" * 80) + "/x.go": LEAKY})
    (tmp_path / ".gitignore").write_text("a*a*a*a*a*a*a*a*a*a*ab\n/a*a*a*a*a*a*a*a*a*a*ab/\n")
    done = subprocess.run([sys.executable, "-c", CLI, "--no-cache", "."], cwd=tmp_path, capture_output=True, timeout=60)
    assert done.returncode == 1, done.stderr
    reported = {line.split(b":", 1)[0] for line in done.stdout.splitlines()}
    assert reported == {b"main.go", ("a" * 60).encode() + b".go", ("a" * 80).encode() + b"/x.go"}


def test_special_kinds_are_named(tmp_path):
    from gofix_defer.codemods.run.discovery import special_kind

    assert special_kind(0o010644) == "a named pipe (FIFO)"
    assert special_kind(0o020644) == "a character device"
    assert special_kind(0o140644) == "a socket"
    assert special_kind(0o100644) is None


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="no /dev/null")
def test_a_device_named_explicitly_is_never_read(tmp_path):
    os.symlink("/dev/zero", tmp_path / "zero.go")
    done = subprocess.run([sys.executable, "-c", CLI, "zero.go"], cwd=tmp_path, capture_output=True, timeout=60)
    assert done.returncode == 2
    assert b"zero.go: is a character device, not a Go file or a directory; not read" in done.stderr


def test_a_generated_file_over_the_size_budget_is_skipped_as_generated_not_an_error(tmp_path):
    from gofix_defer.codemods.engine.process import Settings
    from gofix_defer.codemods.run.workers import read_and_process

    big = tmp_path / "tables.go"
    big.write_bytes(b"// Code generated by gen; DO NOT EDIT.\n\npackage p\n\n" + b"var x = 1\n" * 300_000)
    result = read_and_process(str(big), Settings(rules=[], max_file_size=1 << 20))
    assert result.skipped == "generated" and result.errors == []
