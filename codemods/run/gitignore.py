""".gitignore patterns, matched as git matches them, in time linear in the name.

Why not a regular expression per pattern (as pathspec builds): a line such
as ``a*a*a*a*a*a*a*a*ab`` makes a backtracking engine try every way of
splitting a long name between the stars, which takes minutes; a pull request
that adds one can stall CI. Here a pattern is split at its slashes, and each
part becomes an expression whose stars cannot backtrack: the text between
two stars has a fixed length, so its leftmost occurrence is always the right
one to take, and it is taken atomically (a look-ahead, then a
back-reference), as CPython's ``fnmatch`` does. Parts are matched one path
component at a time, with ``**`` handled by a walk over the components.

Semantics (gitignore(5) and git's wildmatch): blank lines and ``#`` lines are
skipped; trailing spaces are dropped unless escaped; ``!`` negates; a
trailing ``/`` matches directories only; a pattern with no other slash
matches a name at any depth, otherwise it is anchored at the folder of its
``.gitignore``; ``*``, ``?`` and ``[…]`` (``!``/``^`` negation, ranges,
``[:alpha:]`` classes) never match ``/``; ``**`` as a whole component matches
any number of folders (``a/**`` needs at least one name below ``a``); a
backslash escapes the next character. An unterminated ``[`` or a trailing
backslash makes the pattern match nothing, as in git. The last matching
pattern wins, deeper ``.gitignore`` files over shallower ones.

Matching is by the entry's own path: whether a parent folder is ignored is
the walker's business (it does not descend into one), as in git, where a
file cannot be re-included below an ignored folder.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

_GLOBSTAR = object()  # a whole `**` component
_STAR = object()  # one `*` (or a run of them) inside a component


@dataclass(frozen=True)
class IgnorePattern:
    text: str  # the line as written, for messages
    negated: bool
    directory_only: bool
    anchored: bool  # matched against the path from the .gitignore's folder, else the name
    parts: tuple  # compiled component matchers, or _GLOBSTAR
    valid: bool = True

    def matches(self, relative: str, is_dir: bool) -> bool:
        """Does the pattern match ``relative`` (a '/'-separated path below its base)?"""
        if not self.valid or (self.directory_only and not is_dir):
            return False
        names = relative.split("/")
        if not self.anchored:
            return self.parts[0].fullmatch(names[-1]) is not None
        return _match_components(self.parts, names)


def _match_components(parts: tuple, names: Sequence[str]) -> bool:
    reachable = {0}  # how many names the parts so far can have consumed
    count = len(names)
    last = len(parts) - 1
    for position, part in enumerate(parts):
        if not reachable:
            return False
        if part is _GLOBSTAR:
            lowest = min(reachable)
            if position == last:
                return lowest < count  # `a/**`: at least one more name
            reachable = set(range(lowest, count + 1))
            continue
        reachable = {j + 1 for j in reachable if j < count and part.fullmatch(names[j]) is not None}
    return count in reachable


def parse_line(line: str) -> IgnorePattern | None:
    """One .gitignore line as a pattern, or None for blank and comment lines."""
    if line.endswith("\r"):
        line = line[:-1]
    if not line or line.startswith("#"):
        return None
    text = line
    line = _strip_trailing_spaces(line)
    if not line:
        return None
    negated = line.startswith("!")
    if negated:
        line = line[1:]
    directory_only = line.endswith("/") and not line.endswith("\\/")
    if directory_only:
        line = line[:-1]
    if not line:
        return None
    anchored = "/" in line
    if line.startswith("/"):
        line = line[1:]
    try:
        if anchored:
            parts = tuple(_GLOBSTAR if component == "**" else _compile_component(component) for component in line.split("/"))
        else:
            parts = (_compile_component(line),)
    except _Invalid:
        return IgnorePattern(text, negated, directory_only, anchored, (), valid=False)
    return IgnorePattern(text, negated, directory_only, anchored, parts)


def _strip_trailing_spaces(line: str) -> str:
    end = len(line)
    while end > 0 and line[end - 1] == " ":
        # An escaped space stays: count the backslashes before it.
        slashes = 0
        while end - 2 - slashes >= 0 and line[end - 2 - slashes] == "\\":
            slashes += 1
        if slashes % 2:
            break
        end -= 1
    return line[:end]


class _Invalid(Exception):
    pass


_POSIX_CLASSES = {
    "alnum": "a-zA-Z0-9",
    "alpha": "a-zA-Z",
    "blank": " \\t",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "\\x21-\\x7e",
    "lower": "a-z",
    "print": "\\x20-\\x7e",
    "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    "space": " \\t\\n\\r\\f\\v",
    "upper": "A-Z",
    "xdigit": "0-9A-Fa-f",
}


def _tokens(component: str) -> list:
    """Literal regex pieces, with _STAR for each run of stars."""
    out: list = []
    i, size = 0, len(component)
    while i < size:
        char = component[i]
        if char == "*":
            while i < size and component[i] == "*":
                i += 1
            if not out or out[-1] is not _STAR:
                out.append(_STAR)
            continue
        if char == "?":
            out.append(".")
        elif char == "\\":
            if i + 1 >= size:
                raise _Invalid  # a trailing backslash matches nothing
            i += 1
            out.append(re.escape(component[i]))
        elif char == "[":
            piece, i = _bracket(component, i)
            out.append(piece)
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return out


def _bracket(component: str, start: int) -> tuple[str, int]:
    """A `[...]` class as a regex class, and the index after it."""
    i = start + 1
    size = len(component)
    negate = i < size and component[i] in "!^"
    if negate:
        i += 1
    members: list[str] = []
    first = True
    while True:
        if i >= size:
            raise _Invalid  # unterminated: git's wildmatch matches nothing
        char = component[i]
        if char == "]" and not first:
            i += 1
            break
        first = False
        if char == "[" and component.startswith("[:", i):
            end = component.find(":]", i + 2)
            if end == -1:
                raise _Invalid
            name = component[i + 2 : end]
            if name not in _POSIX_CLASSES:
                raise _Invalid
            members.append(_POSIX_CLASSES[name])
            i = end + 2
            continue
        if char == "\\":
            if i + 1 >= size:
                raise _Invalid
            i += 1
            char = component[i]
        low = char
        i += 1
        if i + 1 < size and component[i] == "-" and component[i + 1] != "]":
            high = component[i + 1]
            i += 2
            if high == "\\":
                if i >= size:
                    raise _Invalid
                high = component[i]
                i += 1
            if ord(high) < ord(low):
                continue  # an empty range matches nothing
            members.append(f"{_class_escape(low)}-{_class_escape(high)}")
        else:
            members.append(_class_escape(low))
    if not members:
        return ("." if negate else "(?!)"), i
    return f"[{'^' if negate else ''}{''.join(members)}]", i


def _class_escape(char: str) -> str:
    return "\\" + char if char in "\\]^-[" else char


def _compile_component(component: str) -> "re.Pattern[str]":
    """A component glob as an expression whose stars never backtrack."""
    chunks: list[list[str]] = [[]]
    for token in _tokens(component):
        if token is _STAR:
            chunks.append([])
        else:
            chunks[-1].append(token)
    if len(chunks) == 1:
        return re.compile("".join(chunks[0]), re.DOTALL)
    pieces = ["".join(chunks[0])]
    for number, middle in enumerate(chunks[1:-1]):
        if middle:
            # The leftmost occurrence, taken atomically: no way back into it.
            pieces.append(f"(?=(?P<g{number}>.*?{''.join(middle)}))(?P=g{number})")
    pieces.append(".*" + "".join(chunks[-1]))
    return re.compile("".join(pieces), re.DOTALL)


@dataclass
class IgnoreFile:
    """The patterns of one .gitignore, relative to its folder ``base`` (absolute)."""

    base: str
    patterns: list[IgnorePattern]

    @classmethod
    def parse(cls, base: str, lines: Iterable[str]) -> "IgnoreFile":
        patterns = [p for p in (parse_line(line) for line in lines) if p is not None]
        return cls(base, patterns)


def load(directory: str) -> IgnoreFile | None:
    """The .gitignore of ``directory``, or None when it has none (or it cannot be read)."""
    path = os.path.join(directory, ".gitignore")
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    text = data.decode("utf-8", "surrogateescape")
    return IgnoreFile.parse(os.path.abspath(directory), text.split("\n"))


def decide(files: Sequence[IgnoreFile], path: str, is_dir: bool, exempt: frozenset[int] = frozenset()) -> bool:
    """Is ``path`` (absolute) ignored by ``files`` (shallowest first)?

    The last matching pattern wins, deeper files first. ``exempt`` holds the
    ids of patterns that do not apply (see ``Walker``).
    """
    for ignore in reversed(files):
        relative = _relative(path, ignore.base)
        if relative == "." or relative.startswith("../"):
            continue
        for pattern in reversed(ignore.patterns):
            if id(pattern) in exempt:
                continue
            if pattern.matches(relative, is_dir):
                return not pattern.negated
    return False


def _relative(path: str, base: str) -> str:
    """``os.path.relpath(path, base)`` with `/` separators. Discovery asks it of every file
    against every .gitignore above it: a path under ``base`` that is already normal (no
    `.` or `..` component, no doubled or trailing separator) is cut, not recomputed."""
    prefix = base if base == os.sep else base + os.sep
    if len(path) > len(prefix) and path.startswith(prefix) and _normal(path) and _normal(base):
        return path[len(prefix) :].replace(os.sep, "/")
    return os.path.relpath(path, base).replace(os.sep, "/")


def _normal(path: str) -> bool:
    """Is ``path`` absolute and surely what ``os.path.normpath`` makes of it (a no only
    sends the caller to relpath)?"""
    if path == os.sep:
        return True
    sep = os.sep
    return (
        os.path.isabs(path)
        and (os.altsep is None or os.altsep not in path)  # the other separator: normpath rewrites it
        and sep + sep not in path
        and f"{sep}.{sep}" not in path
        and f"{sep}..{sep}" not in path
        and not path.endswith((sep, f"{sep}.", f"{sep}.."))
    )


# A name no file can have: patterns that match it match anything in a folder.
PROBE = "\x00"


def wholesale(files: Sequence[IgnoreFile], folder: str) -> frozenset[int]:
    """Patterns of ``files`` that ignore everything directly inside ``folder``.

    A folder named on the command line is checked even when an enclosing
    .gitignore ignores it; patterns that would ignore all of its content
    (``build/**``, ``build/*``, ``*``) amount to ignoring the folder, so they do
    not apply inside it either.
    """
    probe = os.path.join(os.path.abspath(folder), PROBE)
    out = set()
    for ignore in files:
        relative = os.path.relpath(probe, ignore.base).replace(os.sep, "/")
        if relative.startswith("../"):
            continue
        for pattern in ignore.patterns:
            if not pattern.negated and (pattern.matches(relative, False) or pattern.matches(relative, True)):
                out.add(id(pattern))
    return frozenset(out)
