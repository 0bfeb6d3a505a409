"""Byte offsets into a file's bytes, as LSP positions and back.

The engine's edits are byte offsets into the file's UTF-8 bytes; an LSP
position is a zero-based line and a column counted in the code units of the
negotiated position encoding: UTF-16 unless client and server agreed on
UTF-8 (bytes) or UTF-32 (code points). Lines end at `\\n`, `\\r\\n` or a
lone `\\r`, as the protocol says — not at the other breaks Python's
``str.splitlines`` knows (form feed, U+2028, …), which are ordinary
characters in Go source.
"""

from __future__ import annotations

import bisect
import re

UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"
ENCODINGS = (UTF8, UTF16, UTF32)
_BREAK = re.compile(rb"\r\n|\r|\n")


def units(text: str, encoding: str) -> int:
    """How many code units of ``encoding`` spell ``text``."""
    if encoding == UTF8:
        return len(text.encode("utf-8", "surrogatepass"))
    if encoding == UTF32:
        return len(text)
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


class Positions:
    """The lines of ``data`` (bytes), for converting offsets in ``encoding``."""

    def __init__(self, data: bytes, encoding: str = UTF16):
        if encoding not in ENCODINGS:
            raise ValueError(f"unknown position encoding {encoding!r}")
        self.data = data
        self.encoding = encoding
        self.starts = [0]
        self.ends: list[int] = []  # where each line's text stops (before its break)
        for match in _BREAK.finditer(data):
            self.ends.append(match.start())
            self.starts.append(match.end())
        self.ends.append(len(data))

    def _text(self, start: int, end: int) -> str:
        return self.data[start:end].decode("utf-8", "surrogatepass")

    def position(self, offset: int) -> tuple[int, int]:
        """(line, character) of a byte offset."""
        offset = max(0, min(offset, len(self.data)))
        line = bisect.bisect_right(self.starts, offset) - 1
        start = self.starts[line]
        # An offset inside a line break (between `\r` and `\n`) stands at the line's end.
        stop = min(offset, self.ends[line])
        # An offset inside a multi-byte character stands at the character.
        while start < stop < len(self.data) and (self.data[stop] & 0xC0) == 0x80:
            stop -= 1
        return line, units(self._text(start, stop), self.encoding)

    def offset(self, line: int, character: int) -> int:
        """The byte offset of a position; past a line's end means its end, past
        the last line the end of the file (as the protocol says)."""
        if line < 0:
            return 0
        if line >= len(self.starts):
            return len(self.data)
        start, end = self.starts[line], self.ends[line]
        if character <= 0:
            return start
        counted = 0
        position = start
        for char in self._text(start, end):
            if counted >= character:
                break
            counted += units(char, self.encoding)
            position += len(char.encode("utf-8", "surrogatepass"))
        return position
