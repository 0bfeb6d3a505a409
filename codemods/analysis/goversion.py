"""The effective Go language version of a file.

As the go command decides it: the nearest go.mod's `go` line, raised by the
file's `//go:build` constraint when that requires a newer Go (a file under
`//go:build go1.22` in a `go 1.21` module gets Go 1.22's per-iteration loop
variables). `--go-version` overrides both; with no go.mod, current Go.
"""

from __future__ import annotations

import functools
import os
import re

# The semantics a file gets when no go.mod governs it: current Go.
CURRENT_GO = (1, 27)

_GO_DIRECTIVE = re.compile(rb"^\s*go\s+(\d+)\.(\d+)(?:\.\d+)?\S*\s*(?://.*)?$", re.MULTILINE)


class GoVersionError(ValueError):
    pass


class GoModError(OSError):
    """The go.mod that governs a file exists but cannot be read: its Go version is unknown."""


def parse_go_version(text: str) -> tuple[int, int]:
    """Parse '1.21', '1.21.3', 'go1.21' or '1.22rc1' into (major, minor)."""
    match = re.fullmatch(r"(?:go)?(\d+)\.(\d+)(?:\.\d+)?(?:(?:rc|beta)\d+)?", text.strip())
    if not match:
        raise GoVersionError(f"not a Go version: {text!r} (expected e.g. 1.21)")
    return int(match.group(1)), int(match.group(2))


def go_mod_version(go_mod: bytes) -> tuple[int, int] | None:
    match = _GO_DIRECTIVE.search(go_mod)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2))


@functools.lru_cache(maxsize=4096)
def _version_for_dir(directory: str) -> tuple[int, int] | None:
    """Version from the nearest go.mod at or above ``directory``.

    A go.mod without a `go` line means Go 1.16 semantics per the go command;
    one that exists but cannot be read raises GoModError (never "current Go").
    """
    current = directory
    while True:
        candidate = os.path.join(current, "go.mod")
        if os.path.isfile(candidate):
            try:
                with open(candidate, "rb") as handle:
                    found = go_mod_version(handle.read())
            except OSError as error:
                raise GoModError(
                    f"cannot read {candidate} ({error.strerror or error}): the Go version of the files under it is unknown, "
                    "so they are not checked (or give --go-version)"
                ) from error
            return found if found is not None else (1, 16)
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def effective_go_version(path: str, override: tuple[int, int] | None = None, data: bytes | None = None) -> tuple[int, int]:
    """The language version ``path`` is compiled with; ``data`` (its bytes) lets a
    `//go:build go1.N` line raise it. Raises GoModError when its go.mod cannot be read."""
    if override is not None:
        return override
    found = _version_for_dir(os.path.dirname(os.path.abspath(path)))
    version = found if found is not None else CURRENT_GO
    required = build_constraint_version(data) if data is not None else None
    return max(version, required) if required is not None else version


_BUILD_LINE = re.compile(rb"^//go:build[ \t]+(.*?)[ \t]*\r?$")
_GO_TAG = re.compile(rb"go(\d+)\.(\d+)")
_TOKEN = re.compile(rb"\s*(\|\||&&|!|\(|\)|[^\s|&!()]+)")


def build_constraint_version(data: bytes) -> tuple[int, int] | None:
    """The minimum Go version the file's `//go:build` expression requires (as
    go/build/constraint.GoVersion computes it), or None.

    `go1.22 && linux` requires 1.22; `go1.22 || go1.18` requires 1.18; a
    negation requires nothing. Only the header counts: the constraint must
    come before the package clause, after nothing but comments and blank
    lines.
    """
    if b"//go:build" not in data:
        return None
    start = 0
    while start < len(data):  # the header's lines only: splitting the whole file is waste
        end = data.find(b"\n", start)
        end = len(data) if end == -1 else end
        stripped = data[start:end].strip()
        start = end + 1
        if not stripped or stripped.startswith(b"//"):
            match = _BUILD_LINE.match(stripped)
            if match:
                return _minimum(match.group(1))
            continue
        return None  # the first line of code: no constraint after it counts
    return None


@functools.lru_cache(maxsize=1024)
def _minimum(expression: bytes) -> tuple[int, int] | None:
    # Cached: a tree repeats a few expressions (`linux`, `!windows`) in thousands of files.
    tokens = [t for t in _TOKEN.findall(expression) if t]
    position = 0

    def peek() -> bytes | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> bytes | None:
        nonlocal position
        token = peek()
        position += 1
        return token

    # Each parse returns the minimum version the sub-expression requires (None: none).
    def parse_or() -> tuple[int, int] | None:
        result = parse_and()
        while peek() == b"||":
            take()
            other = parse_and()
            result = None if result is None or other is None else min(result, other)
        return result

    def parse_and() -> tuple[int, int] | None:
        result = parse_not()
        while peek() == b"&&":
            take()
            other = parse_not()
            result = other if result is None else result if other is None else max(result, other)
        return result

    def parse_not() -> tuple[int, int] | None:
        token = take()
        if token == b"!":
            parse_not()
            return None
        if token == b"(":
            inner = parse_or()
            if take() != b")":
                raise ValueError("unbalanced parentheses")
            return inner
        if token is None or token in (b"||", b"&&", b")"):
            raise ValueError("bad build constraint")
        match = _GO_TAG.fullmatch(token)
        return (int(match.group(1)), int(match.group(2))) if match else None

    try:
        found = parse_or()
    except ValueError:
        return None  # the go command rejects the file; no version change
    return found if position == len(tokens) else None
