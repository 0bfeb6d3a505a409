"""Unified diffs as `git apply` and `patch -p1` take them.

Written by hand on top of difflib's grouping because difflib's own
unified_diff neither marks a missing final newline ("\\ No newline at end
of file") nor keeps CR bytes meaningful; both matter for patches that must
apply byte for byte.
"""

from __future__ import annotations

import difflib


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def _range(start: int, length: int) -> str:
    if length == 1:
        return f"{start + 1}"
    if length == 0:
        return f"{start},0"
    return f"{start + 1},{length}"


def _emit(prefix: bytes, line: bytes, out: list[bytes]) -> None:
    out.append(prefix + line)
    if not line.endswith(b"\n"):
        out.append(b"\n\\ No newline at end of file\n")


def unified_diff(path: str, old: bytes, new: bytes, context: int = 3) -> bytes:
    """The diff of one file, with a/ and b/ prefixes; empty when equal."""
    if old == new:
        return b""
    a, b = _lines(old), _lines(new)
    display = path.replace("\\", "/").lstrip("/")
    out = [f"--- a/{display}\n".encode(), f"+++ b/{display}\n".encode()]
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        first, last = group[0], group[-1]
        i1, i2, j1, j2 = first[1], last[2], first[3], last[4]
        out.append(f"@@ -{_range(i1, i2 - i1)} +{_range(j1, j2 - j1)} @@\n".encode())
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                for line in a[a1:a2]:
                    _emit(b" ", line, out)
                continue
            for line in a[a1:a2]:
                _emit(b"-", line, out)
            for line in b[b1:b2]:
                _emit(b"+", line, out)
    return b"".join(out)
