"""Lines changed since a git revision, for ``--new-from-rev`` (as golangci-lint's).

A line is new when ``git diff REV`` (the working tree against REV, staged or
not) adds or changes it; every line of a file git does not track yet (and
does not ignore) is new. Files outside the repository have no new lines.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field

_HUNK = re.compile(rb"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")
_ESCAPES = {b"a": 7, b"b": 8, b"t": 9, b"n": 10, b"v": 11, b"f": 12, b"r": 13, b'"': 34, b"\\": 92}


class ChangesError(Exception):
    pass


@dataclass
class ChangedLines:
    """The new lines of each file, by absolute real path."""

    revision: str
    root: str  # the repository's top folder
    lines: dict[str, set[int]] = field(default_factory=dict)
    untracked: set[str] = field(default_factory=set)

    def is_new(self, path: str, line: int) -> bool:
        key = os.path.realpath(path)
        if key in self.untracked:
            return True
        return line in self.lines.get(key, ())


def _git(args: list[str], cwd: str) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=300)
    except FileNotFoundError:
        raise ChangesError("--new-from-rev needs git, and git is not on PATH") from None
    except subprocess.TimeoutExpired:
        raise ChangesError(f"git {args[0]} took longer than 300 s") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ChangesError(f"git {args[0]} failed: {message[-1] if message else 'exit ' + str(done.returncode)}")
    return done.stdout


def changed_lines(revision: str, cwd: str = ".") -> ChangedLines:
    """The lines changed since ``revision`` in the repository holding ``cwd``."""
    if not revision or revision.startswith("-") or any(c in revision for c in "\0\n"):
        raise ChangesError(f"--new-from-rev: {revision!r} is not a revision")
    try:
        root = _git(["rev-parse", "--show-toplevel"], cwd).decode("utf-8", "surrogateescape").strip()
    except ChangesError:
        raise ChangesError(f"--new-from-rev: {os.path.abspath(cwd)} is not inside a git repository") from None
    try:
        commit = _git(["rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], root).strip()
    except ChangesError:
        raise ChangesError(f"--new-from-rev: unknown revision {revision!r}") from None
    result = ChangedLines(revision, os.path.realpath(root))
    diff = _git(
        ["-c", "core.quotePath=false", "diff", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames", "--unified=0", "--src-prefix=a/",
         "--dst-prefix=b/", commit.decode("ascii"), "--"],
        root,
    )
    current: set[int] | None = None
    in_header = False  # between "diff --git" and the first hunk: where "+++ " names the file
    for line in diff.split(b"\n"):
        if line.startswith(b"diff --git "):
            in_header, current = True, None
            continue
        if in_header and line.startswith(b"+++ "):
            name = line[4:]
            if name == b"/dev/null":
                current = None
                continue
            name = _unquote(name)
            if name.startswith(b"b/"):
                name = name[2:]
            path = os.path.realpath(os.path.join(result.root, os.fsdecode(name)))
            current = result.lines.setdefault(path, set())
            continue
        match = _HUNK.match(line)
        if match:
            in_header = False
        if match and current is not None:
            start = int(match.group(1))
            count = int(match.group(2)) if match.group(2) is not None else 1
            current.update(range(start, start + count))
    others = _git(["ls-files", "--others", "--exclude-standard", "-z"], root)
    for name in others.split(b"\0"):
        if name:
            result.untracked.add(os.path.realpath(os.path.join(result.root, os.fsdecode(name))))
    return result


def _unquote(name: bytes) -> bytes:
    """A path as git writes it in a diff header: C-quoted when it holds special bytes."""
    if name.endswith(b"\t"):
        name = name[:-1]  # git ends the name with a tab when it holds a space (a tab in a name is quoted)
    if not (len(name) >= 2 and name.startswith(b'"') and name.endswith(b'"')):
        return name
    body, out, index = name[1:-1], bytearray(), 0
    while index < len(body):
        byte = body[index : index + 1]
        if byte != b"\\":
            out += byte
            index += 1
            continue
        following = body[index + 1 : index + 2]
        if following in _ESCAPES:
            out.append(_ESCAPES[following])
            index += 2
        elif re.fullmatch(rb"[0-7]", following):
            out.append(int(body[index + 1 : index + 4], 8))
            index += 4
        else:
            out += following
            index += 2
    return bytes(out)
