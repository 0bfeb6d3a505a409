"""Atomic, careful writes: no file is ever left half-written or clobbered."""

from __future__ import annotations

import os
import stat
import tempfile


class WriteError(Exception):
    pass


def write_atomically(path: str, original: bytes, new: bytes) -> None:
    """Replace ``path``'s content ``original`` by ``new``.

    Refuses when the file changed since it was read. Writes a temporary file
    in the same folder (same filesystem, so the rename is atomic), fsyncs it,
    gives it the original mode and renames it over the file: a reader (or a
    crash) sees either the old or the new content, never a mix.
    """
    try:
        with open(path, "rb") as handle:
            current = handle.read()
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError as error:
        raise WriteError(f"{path}: cannot re-read before writing: {error.strerror or error}") from error
    if current != original:
        raise WriteError(f"{path}: changed on disk since it was read; not overwritten")
    # A symlink may point outside the paths the user gave: never write through it.
    if os.path.islink(path):
        raise WriteError(f"{path}: is a symbolic link; not written (run on its target instead)")
    target = path
    directory = os.path.dirname(target) or "."
    try:
        fd, temporary = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".", suffix=".gofix-tmp", dir=directory)
    except OSError as error:
        raise WriteError(f"{path}: cannot create a temporary file beside it: {error.strerror or error}") from error
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(new)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException as error:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        if isinstance(error, OSError):
            raise WriteError(f"{path}: write failed: {error.strerror or error}") from error
        raise
