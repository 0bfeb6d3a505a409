"""--write keeps what a direct write keeps, or refuses: modes, owners, links, attributes,
files changed meanwhile, signals, symlinked folders, special files, text that is not Go."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gofix_defer.codemods.run import write
from gofix_defer.codemods.run.write import WriteError, write_atomically

from .test_cli import FIXED, LEAKY, invoke, module

ROOT = os.name == "posix" and os.geteuid() == 0


def test_read_only_file_is_refused_not_replaced(tmp_path):
    module(tmp_path, files={"a.go": LEAKY, "b.go": LEAKY})
    (tmp_path / "a.go").chmod(0o444)
    result = invoke(".", "--write", cwd=tmp_path)
    assert result.exit_code == 2
    assert "a.go: is read-only (mode 0444); not written" in result.stderr
    assert (tmp_path / "a.go").read_text() == LEAKY
    assert stat.S_IMODE((tmp_path / "a.go").stat().st_mode) == 0o444
    assert (tmp_path / "b.go").read_text() == FIXED


@pytest.mark.skipif(not ROOT, reason="only root can give a file to another user")
def test_owner_and_group_are_kept(tmp_path):
    module(tmp_path)
    path = tmp_path / "main.go"
    os.chown(path, 12345, 23456)
    path.chmod(0o640)
    result = invoke(".", "--write", cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    info = path.stat()
    assert path.read_text() == FIXED
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (12345, 23456, 0o640)


def test_hard_linked_file_is_refused_never_split(tmp_path):
    module(tmp_path)
    os.link(tmp_path / "main.go", tmp_path / "other-name")
    result = invoke(".", "--write", cwd=tmp_path)
    assert result.exit_code == 2
    assert "main.go: has 2 hard links; not written" in result.stderr
    assert (tmp_path / "main.go").read_text() == LEAKY == (tmp_path / "other-name").read_text()
    assert (tmp_path / "main.go").stat().st_ino == (tmp_path / "other-name").stat().st_ino


def _xattrs_supported(path: Path) -> bool:
    try:
        os.setxattr(path, "user.gofix-probe", b"1")
        os.removexattr(path, "user.gofix-probe")
        return True
    except (AttributeError, OSError):
        return False


def test_extended_attributes_are_kept(tmp_path):
    module(tmp_path)
    path = tmp_path / "main.go"
    if not _xattrs_supported(path):
        pytest.skip("no user extended attributes on this filesystem")
    os.setxattr(path, "user.origin", b"generated-by-hand")
    result = invoke(".", "--write", cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert path.read_text() == FIXED
    assert os.getxattr(path, "user.origin") == b"generated-by-hand"


def test_an_attribute_that_cannot_be_kept_refuses_the_file(tmp_path, monkeypatch):
    module(tmp_path)
    path = tmp_path / "main.go"
    if not _xattrs_supported(path):
        pytest.skip("no user extended attributes on this filesystem")
    os.setxattr(path, "user.origin", b"x")

    def refuse(target, name, value, *args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(write.os, "setxattr", refuse)
    result = invoke(".", "--write", cwd=tmp_path)
    assert result.exit_code == 2
    assert "main.go: cannot keep extended attribute user.origin" in result.stderr
    assert path.read_text() == LEAKY
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".gofix-tmp")]


def test_a_change_right_before_the_rename_is_detected(tmp_path, monkeypatch):
    """The file is saved by someone else after the temporary file was written, before the rename."""
    module(tmp_path)
    path = tmp_path / "main.go"
    real_fsync = os.fsync
    edited = []

    def fsync_then_edit(fd):
        real_fsync(fd)
        if not edited:
            edited.append(True)
            path.write_text(LEAKY.replace("fmt.Println(i)", "fmt.Println(i, i)"))  # same moment, other text

    monkeypatch.setattr(write.os, "fsync", fsync_then_edit)
    with pytest.raises(WriteError, match="changed on disk since it was read"):
        write_atomically(str(path), LEAKY.encode(), FIXED.encode())
    assert path.read_text() == LEAKY.replace("fmt.Println(i)", "fmt.Println(i, i)")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".gofix-tmp")] == []


def test_same_size_same_mtime_change_is_caught_by_the_hash(tmp_path, monkeypatch):
    module(tmp_path)
    path = tmp_path / "main.go"
    real_fsync = os.fsync

    def swap_bytes(fd):
        real_fsync(fd)
        info = path.stat()
        path.write_bytes(LEAKY.replace("i < 3", "i < 4").encode())  # same size
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))  # and the same mtime

    monkeypatch.setattr(write.os, "fsync", swap_bytes)
    with pytest.raises(WriteError, match="changed on disk"):
        write_atomically(str(path), LEAKY.encode(), FIXED.encode())
    assert "i < 4" in path.read_text()


_HOLDING_WRITER = textwrap.dedent(
    """
    import os, stat, sys, time
    from pathlib import Path
    from gofix_defer.codemods.run import write
    folder = Path(sys.argv[1])
    old, new = Path(sys.argv[2]).read_bytes(), Path(sys.argv[3]).read_bytes()
    real_fsync = os.fsync
    count = [0]
    def slow_fsync(fd):
        real_fsync(fd)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return  # the folder, after a rename
        count[0] += 1
        if count[0] == 3:  # the third file's temporary copy exists now
            print("holding", flush=True)
            time.sleep(60)
    write.os.fsync = slow_fsync
    for path in sorted(folder.glob("*.go")):
        write.write_atomically(str(path), old, new)
    """
)


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_mid_write_leave_no_temporary_file(tmp_path, signal_number):
    folder = tmp_path / "files"
    folder.mkdir()
    for i in range(5):
        (folder / f"f{i}.go").write_text(LEAKY)
    (tmp_path / "old").write_text(LEAKY)
    (tmp_path / "new").write_text(FIXED)
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDING_WRITER, str(folder), str(tmp_path / "old"), str(tmp_path / "new")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout.readline().strip() == b"holding"
    assert [p for p in folder.iterdir() if p.name.endswith(".gofix-tmp")], "a temporary file exists while held"
    child.send_signal(signal_number)
    child.wait(timeout=30)
    assert child.returncode != 0
    assert [p.name for p in folder.iterdir() if not p.name.endswith(".go")] == []
    contents = sorted(p.read_text() for p in folder.glob("*.go"))
    assert contents == sorted([FIXED, FIXED, LEAKY, LEAKY, LEAKY])


def test_ctrl_c_with_two_jobs_stops_workers_quietly_and_names_what_was_written(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "go.mod").write_text("module m\n\ngo 1.21\n")
    body = "".join(f"func f{i}() {{\n\tfor i := 0; i < 3; i++ {{\n\t\tdefer func() {{ println(i) }}()\n\t}}\n}}\n\n" for i in range(40))
    for n in range(300):
        (tree / f"f{n:03}.go").write_text("package main\n\n" + body)
    original = {p: p.read_bytes() for p in tree.glob("*.go")}
    code = "from gofix_defer.codemods.cli import main; main()"
    child = subprocess.Popen(
        [sys.executable, "-c", code, "--write", "-j", "2", "--no-cache", "--no-verify", str(tree)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the terminal's Ctrl-C reaches every worker too
    )
    deadline = time.time() + 120
    changed: list[Path] = []
    while time.time() < deadline and len(changed) < 3:
        changed = [p for p, data in original.items() if p.read_bytes() != data]
        time.sleep(0.01)
    assert len(changed) >= 3
    os.killpg(child.pid, signal.SIGINT)
    _, err = child.communicate(timeout=120)
    text = err.decode()
    assert child.returncode == 130, text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text
    assert "error: interrupted: not every file was checked; files written before it:" in text
    written = [p for p, data in original.items() if p.read_bytes() != data]
    assert written and all(str(p) in text for p in written)
    assert not [p for p in tree.iterdir() if p.name.endswith(".gofix-tmp")]


def test_an_interrupt_right_after_the_rename_still_names_the_file_written(tmp_path, monkeypatch):
    root = module(tmp_path / "m", files={"a.go": LEAKY})

    def interrupted(directory):
        raise KeyboardInterrupt  # Ctrl-C while the folder is synced: the file is already replaced

    monkeypatch.setattr(write, "_sync_directory", interrupted)
    result = invoke("--write", "--no-cache", "--no-verify", str(root))
    assert result.exit_code == 130
    assert (root / "a.go").read_text() == FIXED
    assert f"files written before it: {root / 'a.go'}" in result.output


def test_write_never_goes_through_a_symlinked_folder_out_of_the_tree(tmp_path):
    outside = module(tmp_path / "outside")
    project = module(tmp_path / "project")
    (project / "out").symlink_to(outside, target_is_directory=True)
    for argument in ("out/main.go", "out", "./out/"):
        result = invoke(argument, "--write", cwd=project)
        assert result.exit_code == 2, (argument, result.stderr)
        assert "through a symbolic link, outside the checked tree" in result.stderr
        assert (outside / "main.go").read_text() == LEAKY
    # Reporting and diffs through the link are fine: nothing is written.
    assert invoke("out/main.go", cwd=project).exit_code == 1
    # Named by its real path, the file is fixed.
    assert invoke(str(outside), "--write", cwd=project).exit_code == 0
    assert (outside / "main.go").read_text() == FIXED


def test_a_symlinked_folder_inside_the_tree_may_be_written_through(tmp_path):
    project = module(tmp_path / "project", files={"real/main.go": LEAKY})
    (project / "alias").symlink_to(project / "real", target_is_directory=True)
    result = invoke("alias/main.go", "--write", cwd=project)
    assert result.exit_code == 0, result.stderr
    assert (project / "real" / "main.go").read_text() == FIXED


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_named_like_a_go_file_is_skipped_never_opened(tmp_path):
    module(tmp_path)
    os.mkfifo(tmp_path / "pipe.go")
    code = "from gofix_defer.codemods.cli import main; main()"
    # Opening a FIFO for reading blocks until a writer comes: the timeout proves it is never opened.
    # (--no-verify: `go build` itself would open it; compile-before-write must skip such a package.)
    walked = subprocess.run([sys.executable, "-c", code, "--write", "--no-verify", "."], cwd=tmp_path, capture_output=True, timeout=120)
    assert walked.returncode == 0, walked.stderr
    assert b"note: pipe.go: skipped: it is a named pipe (FIFO), not a regular file" in walked.stderr
    assert (tmp_path / "main.go").read_text() == FIXED
    named = subprocess.run([sys.executable, "-c", code, "pipe.go"], cwd=tmp_path, capture_output=True, timeout=120)
    assert named.returncode == 2
    assert b"pipe.go: is a named pipe (FIFO), not a Go file or a directory; not read" in named.stderr


def test_a_fifo_swapped_in_after_discovery_is_not_read(tmp_path):
    from gofix_defer.codemods.engine.process import Settings
    from gofix_defer.codemods.run.workers import read_and_process
    from gofix_defer.rules import by_name

    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    fifo = tmp_path / "late.go"
    os.mkfifo(fifo)

    def feed() -> None:  # serve a reader, should one ever open it, so that a failing run ends
        end = time.time() + 2
        while time.time() < end:
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                time.sleep(0.01)
                continue
            os.write(fd, LEAKY.encode())
            os.close(fd)
            return

    import threading

    feeder = threading.Thread(target=feed)
    feeder.start()
    result = read_and_process(str(fifo), Settings(rules=[by_name("loop-var-capture")]))
    feeder.join()
    assert result.errors == [f"{fifo}: is not a regular file (a FIFO, device or socket); not read"]


def test_text_that_does_not_parse_is_never_written(tmp_path):
    path = tmp_path / "main.go"
    path.write_text(LEAKY)
    broken = LEAKY.replace("func main() {", "func main() {{").encode()
    with pytest.raises(WriteError, match="the fixed text does not parse; not written"):
        write_atomically(str(path), LEAKY.encode(), broken)
    assert path.read_text() == LEAKY


def test_gofmt_rejecting_the_fixed_text_refuses_the_write(tmp_path, monkeypatch):
    module(tmp_path)
    fake = tmp_path / "fake-gofmt"
    fake.write_text("#!/bin/sh\ncat >/dev/null\necho '<standard input>:3:1: expected declaration, found x' >&2\nexit 2\n")
    fake.chmod(0o755)
    monkeypatch.setattr(write, "_toolchain_gofmt", lambda: (str(fake), (1, 99)))
    result = invoke(".", "--write", cwd=tmp_path)
    assert result.exit_code == 2
    assert "main.go: gofmt -e rejects the fixed text (main.go:3:1: expected declaration, found x); not written" in result.stderr
    assert (tmp_path / "main.go").read_text() == LEAKY


def test_gofmt_older_than_the_file_is_not_asked(tmp_path, monkeypatch):
    module(tmp_path, version="1.21")
    monkeypatch.setattr(write, "_toolchain_gofmt", lambda: ("/nonexistent/gofmt", (1, 20)))
    assert write.gofmt_for(str(tmp_path / "main.go")) is None
    monkeypatch.setattr(write, "_toolchain_gofmt", lambda: ("/some/gofmt", (1, 27)))
    assert write.gofmt_for(str(tmp_path / "main.go")) == "/some/gofmt"


def test_the_real_gofmt_is_found_and_accepts_the_fix(tmp_path):
    from .gotool import go_available, go_bin_dir

    if not go_available():
        pytest.skip("no Go toolchain")
    write._toolchain_gofmt.cache_clear()
    old_path = os.environ["PATH"]
    os.environ["PATH"] = f"{go_bin_dir()}{os.pathsep}{old_path}"
    try:
        found = write._toolchain_gofmt()
    finally:
        os.environ["PATH"] = old_path
        write._toolchain_gofmt.cache_clear()
    assert found is not None and found[1] >= (1, 27) and os.path.basename(found[0]).startswith("gofmt")
    done = subprocess.run([found[0], "-e"], input=FIXED.encode(), capture_output=True)
    assert done.returncode == 0


def test_after_a_failed_write_the_summary_counts_what_is_left(tmp_path):
    """Issue 15 item 19 (verified): a refused write leaves the finding, and the summary says so."""
    module(tmp_path)
    (tmp_path / "main.go").chmod(0o444)
    result = invoke(".", "--write", cwd=tmp_path)
    assert result.exit_code == 2
    assert "Applied 0 fixes in 0 files, 1 left in 1 file" in result.stderr
    assert "0 left" not in result.stderr
