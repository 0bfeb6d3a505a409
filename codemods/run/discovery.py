"""Which files to read: walk paths the way the go tool does.

Directories: `.go` files, skipping `vendor/`, `testdata/` and folders whose
names start with `.` or `_`, and anything a `.gitignore` ignores (those of
the walked folders and of their parents up to the repository root). Files
named explicitly are always read. Order is sorted, so output is stable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pathspec

SKIPPED_DIRS = frozenset({"vendor", "testdata"})


@dataclass
class Discovery:
    files: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _skip_dir(name: str) -> bool:
    return name in SKIPPED_DIRS or name.startswith((".", "_"))


def _load_ignore(directory: str) -> pathspec.PathSpec | None:
    path = os.path.join(directory, ".gitignore")
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _parent_ignores(directory: str) -> list[tuple[str, pathspec.PathSpec]]:
    """.gitignore files above ``directory`` up to the enclosing git repository's root."""
    found = []
    current = os.path.abspath(directory)
    chain = []
    while True:
        parent = os.path.dirname(current)
        if os.path.isdir(os.path.join(current, ".git")) or parent == current:
            break
        chain.append(parent)
        current = parent
    else:  # pragma: no cover
        pass
    if not os.path.isdir(os.path.join(current, ".git")):
        return []  # not in a repository: ignore files outside the walked tree do not apply
    for ancestor in chain:
        spec = _load_ignore(ancestor)
        if spec is not None:
            found.append((ancestor, spec))
    return found


def _ignored(path: str, is_dir: bool, specs: list[tuple[str, pathspec.PathSpec]]) -> bool:
    absolute = os.path.abspath(path)
    for base, spec in specs:
        relative = os.path.relpath(absolute, base).replace(os.sep, "/")
        if relative.startswith("../"):
            continue
        if spec.match_file(relative + ("/" if is_dir else "")):
            return True
    return False


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
        if os.path.isfile(argument):
            add(argument)
            continue
        if not os.path.exists(argument):
            result.errors.append(f"{argument}: no such file or directory")
            continue
        if not os.path.isdir(argument):
            result.errors.append(f"{argument}: not a regular file or directory")
            continue
        specs = _parent_ignores(argument)
        _walk(argument, specs, add, result.errors)
    return result


def _walk(root: str, specs: list[tuple[str, pathspec.PathSpec]], add, errors: list[str]) -> None:
    def on_error(error: OSError) -> None:
        errors.append(f"{error.filename}: cannot read directory: {error.strerror}")

    # Each folder's own .gitignore applies to its subtree.
    local_specs: dict[str, list[tuple[str, pathspec.PathSpec]]] = {}
    for directory, dirnames, filenames in os.walk(root, onerror=on_error):
        parent_specs = local_specs.get(os.path.dirname(directory), specs) if directory != root else specs
        here = list(parent_specs)
        spec = _load_ignore(directory)
        if spec is not None:
            here.append((os.path.abspath(directory), spec))
        local_specs[directory] = here
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not _skip_dir(d)
            and not os.path.islink(os.path.join(directory, d))
            and not _ignored(os.path.join(directory, d), True, here)
        )
        for name in sorted(filenames):
            if not name.endswith(".go"):
                continue
            path = os.path.join(directory, name)
            # Symlinked files are not followed while walking: writing through
            # them could change files outside the given paths.
            if os.path.islink(path) or os.path.isdir(path) or _ignored(path, False, here):
                continue
            add(path)
