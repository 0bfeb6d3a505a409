"""Line and column positions of byte offsets in one file's bytes.

Shared by SourceFile (rules, text output) and the machine output formats,
which index the fixed file's bytes without parsing them. Lines end at "\n"
only, as in git and on GitHub: a lone "\r" is a byte inside a line, and a
CRLF line's text is the line without its one final "\r".
"""

from __future__ import annotations

import bisect
from itertools import accumulate


class LineIndex:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self._starts: list[int] | None = None

    @property
    def starts(self) -> list[int]:
        """The offset each line starts at (computed when a position is first asked:
        most files parsed in a run report nothing)."""
        if self._starts is None:
            self._starts = [0, *accumulate(len(line) + 1 for line in self.data.split(b"\n")[:-1])]
        return self._starts

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and 1-based byte column (as the go tool and reviewdog count)."""
        index = bisect.bisect_right(self.starts, offset) - 1
        return index + 1, offset - self.starts[index] + 1

    def char_col(self, offset: int) -> int:
        """1-based column in Unicode code points (SARIF's unicodeCodePoints)."""
        line, _ = self.line_col(offset)
        prefix = self.data[self.starts[line - 1] : offset]
        return len(prefix.decode("utf-8", "replace")) + 1

    def line_start(self, offset: int) -> int:
        return self.starts[bisect.bisect_right(self.starts, offset) - 1]

    def line_end(self, offset: int) -> int:
        """Offset of the newline ending the line holding ``offset`` (or EOF)."""
        end = self.data.find(b"\n", offset)
        return len(self.data) if end == -1 else end

    def line_text(self, line: int) -> bytes:
        """The bytes of 1-based ``line`` without its line ending ("\\n", or the "\\r\\n" of CRLF)."""
        start = self.starts[line - 1]
        end = self.line_end(start)
        text = self.data[start:end]
        return text[:-1] if end < len(self.data) and text.endswith(b"\r") else text
