"""The Go grammar: one tree-sitter parser per process, queries, syntax errors.

The grammar is tree-sitter-golang, versioned by the Go release it covers
(1.27.x covers Go 1.27) and shaped like go/ast. tree-sitter-go, the older
grammar, stops before Go 1.26: `new(expr)` and generic methods come out of
it as syntax errors, so valid Go would be refused.
"""

from __future__ import annotations

import functools

import tree_sitter
import tree_sitter_golang


@functools.lru_cache(maxsize=1)
def go_language() -> tree_sitter.Language:
    return tree_sitter.Language(tree_sitter_golang.language())


@functools.lru_cache(maxsize=1)
def _parser() -> tree_sitter.Parser:
    return tree_sitter.Parser(go_language())


def parse(data: bytes) -> tree_sitter.Tree:
    return _parser().parse(data)


@functools.lru_cache(maxsize=None)
def query(pattern: str) -> tree_sitter.Query:
    """Queries are compiled once per process and shared by all rules."""
    return tree_sitter.Query(go_language(), pattern)


def first_syntax_error(node: tree_sitter.Node) -> tree_sitter.Node | None:
    """The first ERROR or MISSING node in document order, or None."""
    if not node.has_error:
        return None
    stack = [node]
    while stack:
        current = stack.pop()
        if current.is_error or current.is_missing:
            return current
        # Children in reverse so that the leftmost error is found first.
        stack.extend(reversed([c for c in current.children if c.has_error or c.is_missing]))
    return node
