"""Which files to read: walk paths the way the go tool does.

Directories: `.go` files, skipping `vendor/`, `testdata/` and folders whose
names start with `.` or `_`, and anything a `.gitignore` ignores (those of
the walked folders and of their parents up to the repository root, matched
by gitignore.py without backtracking). Order is sorted, so output is stable.

What the command line names is always read: a named file even when a
.gitignore ignores it, a named folder even inside an ignored one (enclosing
patterns that ignore the folder or all of its content do not apply inside
it; see gitignore.wholesale). A named file must be a `.go` file. Entries
that are not regular files (FIFOs, devices, sockets) are never opened: a
walked one is skipped with a note, a named one is an error. When the named
paths hold no Go file at all, that is an error too.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Callable

from gofix_defer.codemods.run import gitignore
from gofix_defer.codemods.run.gitignore import IgnoreFile

SKIPPED_DIRS = frozenset({"vendor", "testdata"})


@dataclass
class Discovery:
    files: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # skipped entries worth a word, no failure


def _skip_dir(name: str) -> bool:
    return name in SKIPPED_DIRS or name.startswith((".", "_"))


def _parent_ignores(directory: str) -> list[IgnoreFile]:
    """.gitignore files above ``directory`` up to the enclosing git repository's root, shallowest first."""
    current = os.path.abspath(directory)
    chain = []
    while True:
        parent = os.path.dirname(current)
        if os.path.exists(os.path.join(current, ".git")) or parent == current:
            break
        chain.append(parent)
        current = parent
    if not os.path.exists(os.path.join(current, ".git")):
        return []  # not in a repository: ignore files outside the walked tree do not apply
    found = []
    for ancestor in reversed(chain):
        ignore = gitignore.load(ancestor)
        if ignore is not None:
            found.append(ignore)
    return found


def special_kind(mode: int) -> str | None:
    """What a non-regular, non-directory entry is, for messages."""
    for test, name in (
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else "not a regular file"


def discover(paths: list[str]) -> Discovery:
    result = Discovery()
    seen: set[str] = set()

    def add(path: str) -> None:
        key = os.path.normpath(path)
        if key not in seen:
            seen.add(key)
            result.files.append(key)

    for argument in paths:
        # The go tool's "./..." (a folder and everything below it) is how Go
        # users name a tree; walking a folder already means that here.
        if argument == "..." or argument.endswith(("/...", os.sep + "...")):
            argument = argument[: -len("...")].rstrip("/" + os.sep) or "."
        try:
            mode = os.stat(argument).st_mode  # follows a link named explicitly; never opens
        except OSError as error:
            if isinstance(error, FileNotFoundError) or not os.path.lexists(argument):
                result.errors.append(f"{argument}: no such file or directory")
            else:
                result.errors.append(f"{argument}: cannot read: {error.strerror or error}")
            continue
        if stat.S_ISREG(mode):
            if not argument.endswith(".go"):
                result.errors.append(f"{argument}: not a Go file (gofix-defer reads .go files)")
                continue
            add(argument)
            continue
        if not stat.S_ISDIR(mode):
            result.errors.append(f"{argument}: is {special_kind(mode)}, not a Go file or a directory; not read")
            continue
        parents = _parent_ignores(argument)
        _walk(argument, parents, gitignore.wholesale(parents, argument), add, result)
    if not result.files and not result.errors:
        named = ", ".join(paths) if paths else "."
        result.errors.append(f"no Go files to check in {named}")
    return result


def _walk(root: str, parents: list[IgnoreFile], exempt: frozenset[int], add: Callable[[str], None], result: Discovery) -> None:
    def on_error(error: OSError) -> None:
        result.errors.append(f"{error.filename}: cannot read directory: {error.strerror}")

    # Each folder's own .gitignore applies to its subtree.
    ignores: dict[str, list[IgnoreFile]] = {}
    for directory, dirnames, filenames in os.walk(root, onerror=on_error):
        here = list(ignores.get(os.path.dirname(directory), parents) if directory != root else parents)
        own = gitignore.load(directory)
        if own is not None:
            here.append(own)
        ignores[directory] = here
        kept = []
        for name in sorted(dirnames):
            path = os.path.join(directory, name)
            if _skip_dir(name) or os.path.islink(path) or gitignore.decide(here, os.path.abspath(path), True, exempt):
                continue
            kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            if not name.endswith(".go"):
                continue
            path = os.path.join(directory, name)
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue  # gone since the listing
            # Symlinked files are not followed while walking: writing through
            # them could change files outside the given paths.
            if stat.S_ISLNK(mode) or stat.S_ISDIR(mode):
                continue
            if gitignore.decide(here, os.path.abspath(path), False, exempt):
                continue
            kind = special_kind(mode)
            if kind is not None:
                result.notes.append(f"{os.path.normpath(path)}: skipped: it is {kind}, not a regular file")
                continue
            add(path)
