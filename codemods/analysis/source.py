"""SourceFile: one Go file, parsed once, addressed by byte offsets."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, TypeVar

import tree_sitter

from gofix_defer.codemods.analysis import grammar as parsing
from gofix_defer.codemods.analysis.facts import Fact, UndeclaredFact
from gofix_defer.codemods.model.lines import LineIndex

if TYPE_CHECKING:  # pragma: no cover
    from gofix_defer.codemods.analysis.package import Package
    from gofix_defer.codemods.analysis.scope import FunctionScopes

F = TypeVar("F", bound=Fact)


@dataclass
class SourceFile:
    path: str
    data: bytes
    go_version: tuple[int, int]
    tree: tree_sitter.Tree = field(init=False, repr=False)
    lines: LineIndex = field(init=False, repr=False)
    _facts: dict = field(init=False, repr=False, default_factory=dict)
    _package: "Package | None" = field(init=False, repr=False, default=None)
    # While the engine runs a rule: the fact families it may read (None: any).
    _allowed: frozenset | None = field(init=False, repr=False, default=None)
    _reader: str = field(init=False, repr=False, default="")
    # A fact about the whole package was read for this file: its results depend
    # on the package's other files too.
    read_package: bool = field(init=False, repr=False, default=False)
    _syntax_error: bool | None = field(init=False, repr=False, default=None)
    # Answers of cheap syntax questions asked over and over (imports), by question.
    _memo: dict = field(init=False, repr=False, default_factory=dict)
    # What the bytes hold, by question (model.says: the rules' prefilters).
    byte_answers: dict = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.tree = parsing.parse(self.data)
        self.lines = LineIndex(self.data)

    # -- facts -------------------------------------------------------------
    def facts(self, kind: type[F]) -> F:
        """The ``kind`` facts of this file (or of its package), computed once and shared."""
        if self._allowed is not None and kind not in self._allowed:
            raise UndeclaredFact(f"rule {self._reader} reads {kind.__name__} but does not list it in requires")
        if kind.per_package:
            self.read_package = True
            return self.package.facts(kind)
        found = self._facts.get(kind)
        if found is None:
            found = self._facts[kind] = kind(self)
        return found

    def release(self) -> None:
        """Forget what was computed about the file (its facts, memos, node index, its
        package), once nothing will ask again. Facts point into the tree and back to
        the file: these cycles would keep every tree of a package alive until the
        garbage collector's next full pass; broken here, the memory is freed at once."""
        self._facts.clear()
        self._memo.clear()
        self._package = None
        for name in [key for key in self.__dict__ if key.startswith("_gofix_defer_")]:
            del self.__dict__[name]

    @contextlib.contextmanager
    def reading_for(self, reader: str, allowed: frozenset) -> Iterator[None]:
        """While a rule runs: it may read only the families in ``allowed``."""
        previous = (self._allowed, self._reader)
        self._allowed, self._reader = allowed, reader
        try:
            yield
        finally:
            self._allowed, self._reader = previous

    @property
    def package(self) -> "Package":
        """The Go package this file belongs to (a package of this file alone when
        it was built on its own, as in a unit test)."""
        if self._package is None:
            from gofix_defer.codemods.analysis.package import Package

            self._package = Package.of_file(self)
        return self._package

    def scopes(self, function: tree_sitter.Node) -> "FunctionScopes":
        """The FunctionScopes of ``function``, built once per file and shared by every rule."""
        from gofix_defer.codemods.analysis.scope import Scopes

        return self.facts(Scopes).of(function)

    @property
    def root(self) -> tree_sitter.Node:
        return self.tree.root_node

    @property
    def newline(self) -> bytes:
        """The file's line ending, as found (CRLF if its first line uses it)."""
        first = self.data.find(b"\n")
        return b"\r\n" if first > 0 and self.data[first - 1 : first] == b"\r" else b"\n"

    def text(self, node: tree_sitter.Node | None) -> bytes:
        """The bytes ``node`` spans (nothing for no node)."""
        return self.data[node.start_byte : node.end_byte] if node is not None else b""

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
        if self._syntax_error is None:
            self._syntax_error = self.root.has_error or self.package_clause() is None
        return self._syntax_error

    def package_clause(self):
        from gofix_defer.codemods.analysis.syntax import package_clause

        return package_clause(self.root)
