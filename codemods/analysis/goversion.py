"""The effective Go language version of a file: the nearest go.mod's `go` line."""

from __future__ import annotations

import functools
import os
import re

# The semantics a file gets when no go.mod governs it: current Go.
CURRENT_GO = (1, 27)

_GO_DIRECTIVE = re.compile(rb"^\s*go\s+(\d+)\.(\d+)(?:\.\d+)?\S*\s*(?://.*)?$", re.MULTILINE)


class GoVersionError(ValueError):
    pass


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

    A go.mod without a `go` line means Go 1.16 semantics per the go command.
    """
    current = directory
    while True:
        candidate = os.path.join(current, "go.mod")
        if os.path.isfile(candidate):
            try:
                with open(candidate, "rb") as handle:
                    found = go_mod_version(handle.read())
            except OSError:
                return None
            return found if found is not None else (1, 16)
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def effective_go_version(path: str, override: tuple[int, int] | None = None) -> tuple[int, int]:
    if override is not None:
        return override
    found = _version_for_dir(os.path.dirname(os.path.abspath(path)))
    return found if found is not None else CURRENT_GO


def format_version(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"
