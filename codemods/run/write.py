"""Atomic, careful writes: no file is ever left half-written, clobbered or changed in kind.

``write_atomically`` replaces a file's content by a temporary file renamed
over it, and refuses (WriteError, the file untouched) whenever the rename
would lose something a direct write keeps, or the new text is not Go:

* a symbolic link, or a path that reaches outside the checked tree through a
  symlinked directory (the checked tree: the current directory for paths
  below it, else the deepest folder of the path that is not reached through
  a link);
* not a regular file; a read-only file (no write permission bit, or not
  writable by this user);
* a file with more than one hard link (the rename would split the links);
* a file owned by another user, or by a group, that this user cannot give
  to the new file (root keeps any owner and group); extended attributes
  (ACLs, SELinux labels, ``user.*``) are copied, and a file whose
  attributes cannot all be kept is refused;
* new text whose grammar tree has an error, or that ``gofmt -e`` rejects
  when a Go toolchain (``GOFIX_DEFER_GO``, else ``go`` on PATH) at least as
  new as the file's Go version is found;
* a file that changed since it was read: compared before the temporary file
  is written and again right before the rename (device and inode, size,
  mtime, and a hash of the content), so the window is the rename itself.

The temporary file gets the original's mode, owner, group and attributes
before the rename, is fsynced, and is removed on any failure, including
SIGINT and SIGTERM arriving while it exists.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import secrets
import shutil
import signal
import stat
import subprocess
import threading
from typing import Iterator

GO_ENV = "GOFIX_DEFER_GO"
GOFMT_TIMEOUT = 60.0


class WriteError(Exception):
    pass


class Terminated(KeyboardInterrupt):
    """SIGTERM (or SIGHUP) turned into an exception, so that clean-up code runs."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(signal_number)
        self.signal_number = signal_number


def _raise_terminated(signal_number: int, frame: object) -> None:
    raise Terminated(signal_number)


@contextlib.contextmanager
def terminate_raises() -> Iterator[None]:
    """While active, SIGTERM and SIGHUP raise Terminated (a KeyboardInterrupt) in the main thread.

    Handlers someone else installed are left alone; off the main thread this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, object] = {}
    for number in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)):
        if number is None:
            continue
        try:
            if signal.getsignal(number) is signal.SIG_DFL:
                previous[number] = signal.signal(number, _raise_terminated)
        except (ValueError, OSError):  # pragma: no cover - not the main thread after all
            pass
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)  # type: ignore[arg-type]


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back for a few instructions (POSIX), so a temporary file is never orphaned."""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None:
        yield
        return
    wanted = {signal.SIGINT, signal.SIGTERM}
    previous = mask(signal.SIG_BLOCK, wanted)
    try:
        yield
    finally:
        mask(signal.SIG_SETMASK, previous)


def write_atomically(path: str, original: bytes, new: bytes) -> None:
    """Replace ``path``'s content ``original`` by ``new``, or raise WriteError (see the module doc)."""
    with terminate_raises():
        _write(path, original, new)


def _write(path: str, original: bytes, new: bytes) -> None:
    try:
        link = os.lstat(path)
    except OSError as error:
        raise WriteError(f"{path}: cannot re-read before writing: {error.strerror or error}") from error
    # A symlink may point outside the paths the user gave: never write through it.
    if stat.S_ISLNK(link.st_mode):
        raise WriteError(f"{path}: is a symbolic link; not written (run on its target instead)")
    escape = outside_checked_tree(path)
    if escape is not None:
        raise WriteError(f"{path}: {escape}; not written (run on the real path instead)")
    before, current = _read_regular(path)
    if current != original:
        raise WriteError(f"{path}: changed on disk since it was read; not overwritten")
    _check_replaceable(path, before)
    _check_go(path, new)
    digest = hashlib.sha256(original).digest()
    directory = os.path.dirname(path) or "."
    temporary = None
    try:
        with _signals_blocked():
            fd = -1
            for _ in range(100):
                # The name is known before the file exists: an interrupt delivered at any
                # point from here on finds it in `temporary` and removes it (blocking the
                # signal covers only this thread; with -j a pool thread may take it).
                temporary = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(4)}.gofix-tmp")
                try:
                    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0), 0o600)
                    break
                except FileExistsError:
                    temporary = None
                    continue
                except OSError as error:
                    temporary = None
                    raise WriteError(f"{path}: cannot create a temporary file beside it: {error.strerror or error}") from error
            if fd < 0 or temporary is None:
                raise WriteError(f"{path}: cannot create a temporary file beside it: every name tried exists")
        created: str = temporary
        with os.fdopen(fd, "wb") as handle:
            handle.write(new)
            handle.flush()
            _keep_owner(path, handle.fileno(), before)
            _keep_attributes(path, handle.fileno())
            if hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), stat.S_IMODE(before.st_mode))
            os.fsync(handle.fileno())
        if not hasattr(os, "fchmod"):  # pragma: no cover - Windows before Python 3.13
            os.chmod(created, stat.S_IMODE(before.st_mode))
        # Right before the rename: is the file still the one that was read?
        try:
            now = os.lstat(path)
            unchanged = _same_file(before, now) and _content_hash(path) == digest
        except OSError:
            unchanged = False
        if not unchanged:
            raise WriteError(f"{path}: changed on disk since it was read; not overwritten")
        os.replace(created, path)
        temporary = None
        _sync_directory(directory)
    except BaseException as error:
        if temporary is not None:
            try:
                os.unlink(temporary)
            except OSError:
                pass
        if isinstance(error, OSError):
            raise WriteError(f"{path}: write failed: {error.strerror or error}") from error
        raise


def _read_regular(path: str) -> tuple[os.stat_result, bytes]:
    """The stat and content of ``path``, opened without following a link or blocking on a FIFO."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise WriteError(f"{path}: is a symbolic link; not written (run on its target instead)") from error
        raise WriteError(f"{path}: cannot re-read before writing: {error.strerror or error}") from error
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise WriteError(f"{path}: is not a regular file; not written")
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError as error:
        raise WriteError(f"{path}: cannot re-read before writing: {error.strerror or error}") from error
    finally:
        os.close(fd)
    return info, b"".join(chunks)


def _content_hash(path: str) -> bytes:
    _, data = _read_regular(path)
    return hashlib.sha256(data).digest()


def _same_file(before: os.stat_result, now: os.stat_result) -> bool:
    return (before.st_dev, before.st_ino, before.st_size, before.st_mtime_ns, stat.S_IFMT(before.st_mode)) == (
        now.st_dev,
        now.st_ino,
        now.st_size,
        now.st_mtime_ns,
        stat.S_IFMT(now.st_mode),
    )


def _check_replaceable(path: str, info: os.stat_result) -> None:
    mode = stat.S_IMODE(info.st_mode)
    if not mode & 0o222 or not os.access(path, os.W_OK):
        raise WriteError(f"{path}: is read-only (mode {mode:04o}); not written (make it writable to fix it)")
    if info.st_nlink > 1:
        raise WriteError(
            f"{path}: has {info.st_nlink} hard links; not written (replacing it would leave the other links with the old text)"
        )
    if os.name == "posix":
        uid = os.geteuid()
        if uid != 0 and info.st_uid != uid:
            raise WriteError(f"{path}: belongs to another user (uid {info.st_uid}); not written (the new file would be yours)")
        if uid != 0 and info.st_gid not in (os.getegid(), *os.getgroups()):
            raise WriteError(f"{path}: belongs to group {info.st_gid}, which this user is not in; not written (the group would change)")


def _keep_owner(path: str, fd: int, info: os.stat_result) -> None:
    if os.name != "posix":
        return
    mine = os.fstat(fd)
    if (mine.st_uid, mine.st_gid) == (info.st_uid, info.st_gid):
        return
    try:
        os.fchown(fd, info.st_uid, info.st_gid)
    except OSError as error:
        raise WriteError(f"{path}: cannot keep its owner and group ({error.strerror or error}); not written") from error


def _keep_attributes(path: str, fd: int) -> None:
    """Copy every extended attribute of ``path`` to ``fd``; refuse when one cannot be kept."""
    lister = getattr(os, "listxattr", None)
    if lister is None:
        return  # no extended attributes through os on this platform
    try:
        names = lister(path, follow_symlinks=False)
    except OSError as error:
        if error.errno in (errno.ENOTSUP, getattr(errno, "EOPNOTSUPP", errno.ENOTSUP), errno.ENOSYS):
            return
        raise WriteError(f"{path}: cannot read its extended attributes ({error.strerror or error}); not written") from error
    for name in names:
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError as error:
            raise WriteError(f"{path}: cannot read extended attribute {name} ({error.strerror or error}); not written") from error
        try:
            if os.getxattr(fd, name) == value:
                continue  # inherited already (e.g. an SELinux label)
        except OSError:
            pass
        try:
            os.setxattr(fd, name, value)
        except OSError as error:
            raise WriteError(f"{path}: cannot keep extended attribute {name} ({error.strerror or error}); not written") from error


def _sync_directory(directory: str) -> None:
    """Make the rename durable (POSIX); failures only cost durability."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- where a write may go ---------------------------------------------------------


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def outside_checked_tree(path: str) -> str | None:
    """Why writing ``path`` would leave the checked tree through a symlinked folder, or None.

    The checked tree is the current directory for a path below it (as
    written; ``$PWD`` counts as the current directory when it is the same
    folder); for any other path, the deepest of its folders reached without
    passing a symbolic link.
    """
    absolute = os.path.abspath(path)
    real = os.path.realpath(path)
    cwd = os.getcwd()
    roots = [cwd]
    pwd = os.environ.get("PWD")
    if pwd and os.path.isabs(pwd) and pwd != cwd and os.path.realpath(pwd) == cwd:
        roots.append(os.path.normpath(pwd))
    for root in roots:
        if _within(absolute, root):
            if _within(real, os.path.realpath(root)):
                return None
            return f"resolves to {real} through a symbolic link, outside the checked tree {root}"
    # Elsewhere: the folders above the first symlinked one are the tree.
    parts = os.path.dirname(absolute).split(os.sep)
    current = os.sep
    for part in parts:
        if not part:
            continue
        following = os.path.join(current, part)
        if os.path.islink(following):
            if _within(real, os.path.realpath(current)):
                return None
            return f"resolves to {real} through the symbolic link {following}, outside {current}"
        current = following
    return None


# -- is the new text Go? -------------------------------------------------------------


def _check_go(path: str, new: bytes) -> None:
    from gofix_defer.codemods.analysis import grammar

    if grammar.parse(new).root_node.has_error:
        raise WriteError(f"{path}: internal error: the fixed text does not parse; not written")
    checker = gofmt_for(path)
    if checker is None:
        return
    try:
        done = subprocess.run([checker, "-e"], input=new, capture_output=True, timeout=GOFMT_TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        return  # gofmt could not run: the grammar check above stands
    if done.returncode != 0:
        first = done.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = first[0].replace("<standard input>", os.path.basename(path)) if first else f"exit status {done.returncode}"
        raise WriteError(f"{path}: gofmt -e rejects the fixed text ({reason}); not written")


def gofmt_for(path: str) -> str | None:
    """The gofmt of the Go toolchain in use, when it knows the file's Go version; else None."""
    found = _toolchain_gofmt()
    if found is None:
        return None
    gofmt, release = found
    from gofix_defer.codemods.analysis.goversion import effective_go_version

    try:
        wanted = effective_go_version(path, None, None)
    except (OSError, ValueError):
        return None
    return gofmt if release >= wanted else None  # an older parser would reject newer syntax


@functools.lru_cache(maxsize=1)
def _toolchain_gofmt() -> tuple[str, tuple[int, int]] | None:
    go = os.environ.get(GO_ENV) or shutil.which("go")
    if not go:
        return None
    env = dict(os.environ)
    env.setdefault("GOTOOLCHAIN", "local")  # never download a toolchain to answer
    try:
        done = subprocess.run([go, "env", "GOROOT", "GOVERSION"], capture_output=True, text=True, timeout=60, env=env)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = done.stdout.split("\n")
    if done.returncode != 0 or len(lines) < 2:
        return None
    goroot, version = lines[0].strip(), lines[1].strip()
    from gofix_defer.codemods.analysis.goversion import GoVersionError, parse_go_version

    try:
        release = parse_go_version(version.split()[0].split("-")[0]) if version else None
    except GoVersionError:
        return None
    gofmt = os.path.join(goroot, "bin", "gofmt" + (".exe" if os.name == "nt" else ""))
    if release is None or not os.path.isfile(gofmt):
        return None
    return gofmt, release
