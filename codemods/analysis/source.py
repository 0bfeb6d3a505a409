"""SourceFile: one Go file, parsed once, addressed by byte offsets."""

from __future__ import annotations

from dataclasses import dataclass, field

import tree_sitter

from gofix_defer.codemods.analysis import grammar as parsing
from gofix_defer.codemods.model.lines import LineIndex


@dataclass
class SourceFile:
    path: str
    data: bytes
    go_version: tuple[int, int]
    tree: tree_sitter.Tree = field(init=False, repr=False)
    lines: LineIndex = field(init=False, repr=False)
    _scopes: dict = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.tree = parsing.parse(self.data)
        self.lines = LineIndex(self.data)

    def scopes(self, function: tree_sitter.Node):
        """The FunctionScopes of ``function``, built once per file and shared by every rule."""
        from gofix_defer.codemods.analysis.scope import FunctionScopes

        key = (function.start_byte, function.end_byte, function.type)
        found = self._scopes.get(key)
        if found is None:
            found = self._scopes[key] = FunctionScopes(self.data, function)
        return found

    @property
    def root(self) -> tree_sitter.Node:
        return self.tree.root_node

    @property
    def newline(self) -> bytes:
        """The file's line ending, as found (CRLF if its first line uses it)."""
        first = self.data.find(b"\n")
        return b"\r\n" if first > 0 and self.data[first - 1 : first] == b"\r" else b"\n"

    def text(self, node: tree_sitter.Node) -> bytes:
        return self.data[node.start_byte : node.end_byte]

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and 1-based byte column of ``offset`` (as the go tool reports)."""
        return self.lines.line_col(offset)

    def line_start(self, offset: int) -> int:
        return self.lines.line_start(offset)

    def line_end(self, offset: int) -> int:
        """Offset of the newline ending the line holding ``offset`` (or EOF)."""
        return self.lines.line_end(offset)

    def indentation(self, offset: int) -> bytes:
        """The leading whitespace of the line holding ``offset``."""
        start = self.line_start(offset)
        end = start
        while end < len(self.data) and self.data[end : end + 1] in (b" ", b"\t"):
            end += 1
        return self.data[start:end]

    def has_syntax_error(self) -> bool:
        # Go requires a package clause; tree-sitter accepts a file without one.
        return self.root.has_error or self.package_clause() is None

    def package_clause(self):
        return next((c for c in self.root.named_children if c.type == "package_clause"), None)
