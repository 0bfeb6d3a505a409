"""Unified diffs as `git apply` and `patch -p1` take them.

Written by hand on top of difflib's grouping because difflib's own
unified_diff neither marks a missing final newline ("\\ No newline at end
of file") nor keeps CR bytes meaningful; both matter for patches that must
apply byte for byte. Lines end at "\n" only, as in git: a lone "\r" is a
byte inside a line (bytes.splitlines would break there, and git apply would
then reject the patch). A file name with a control character, a double
quote or a backslash is quoted as git quotes it ("a/x\ny.go").
"""

from __future__ import annotations

import difflib
import os

_ESCAPES = {0x07: "\\a", 0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0B: "\\v", 0x0C: "\\f", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"}


def _lines(data: bytes) -> list[bytes]:
    """``data`` cut after each "\\n" (the last line may lack one)."""
    lines = data.split(b"\n")
    out = [line + b"\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def quote_path(name: str) -> bytes:
    """A diff header name as git writes it: as is, or C-quoted when it holds a control
    character, a double quote or a backslash (then non-ASCII bytes become octal too)."""
    raw = name.encode("utf-8", "surrogateescape")
    if not any(byte < 0x20 or byte == 0x7F or byte in (0x22, 0x5C) for byte in raw):
        return raw
    out = ['"']
    for byte in raw:
        if byte in _ESCAPES:
            out.append(_ESCAPES[byte])
        elif byte < 0x20 or byte >= 0x7F:
            out.append(f"\\{byte:03o}")
        else:
            out.append(chr(byte))
    out.append('"')
    return "".join(out).encode("ascii")


def display_path(path: str) -> str:
    """``path`` with '/' separators and no leading '/', as diff headers name files."""
    if os.altsep:
        path = path.replace(os.altsep, "/")
    return path.replace(os.sep, "/").lstrip("/")


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
    display = display_path(path)
    out = [b"--- " + quote_path("a/" + display) + b"\n", b"+++ " + quote_path("b/" + display) + b"\n"]
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
