"""Find the nodes of given types without a Python walk of the tree.

Walking a whole tree node by node in Python costs about half as much as
parsing it, and each rule that does so pays it again. Rules mostly want
statements that begin with a keyword (`defer_statement`, `go_statement`,
`for_statement`, functions): those are found from the keyword's byte
offsets (a `bytes.find` loop) and ``descendant_for_byte_range`` in C, which
is ~40x faster than a walk on the Go standard library and gives the same
nodes. Other types fall back to one tree-sitter query. Either way the index
is built once per file and type set, and every rule and every function
takes its slice by byte range.

    for statement in descendants_of_types(source, function, GO_AND_DEFER):
        ...

gives the same nodes, in the same (document) order, as
``[n for n in tree.walk(function) if n.type in GO_AND_DEFER]``.
"""

from __future__ import annotations

import bisect
from typing import Iterable

from tree_sitter import Node, QueryCursor

from gofix_defer.codemods.analysis import grammar
from gofix_defer.codemods.analysis.syntax import CALL_KINDS, FUNCTION_KINDS, callee_name

_INDEX_ATTRIBUTE = "_gofix_defer_node_index"


# Node types that begin with (and are the parent of) this keyword token.
KEYWORD_OF = {
    "defer_statement": b"defer",
    "go_statement": b"go",
    "for_statement": b"for",
    "select_statement": b"select",
    "return_statement": b"return",
    "if_statement": b"if",
    "goto_statement": b"goto",
    "function_declaration": b"func",
    "method_declaration": b"func",
    "function_literal": b"func",
}


def _by_keyword(source, types: frozenset[str]) -> list[Node]:
    """Nodes of ``types`` found from their keyword tokens, in document order."""
    data, root = source.data, source.root
    keywords = sorted({KEYWORD_OF[t] for t in types})
    offsets = []
    for keyword in keywords:
        position = data.find(keyword)
        while position != -1:
            offsets.append((position, keyword))
            position = data.find(keyword, position + len(keyword))
    found = []
    for position, keyword in sorted(offsets):
        end = position + len(keyword)
        if _word_byte(data[position - 1 : position]) or _word_byte(data[end : end + 1]):
            continue  # part of a longer word: `goroutine`, `deferred`, `x.go`
        token = root.descendant_for_byte_range(position, end)
        # In a comment or string the smallest node is that literal, not the keyword.
        if token is None or token.type != keyword.decode() or token.start_byte != position:
            continue
        parent = token.parent
        if parent is not None and parent.type in types and parent.start_byte == position:
            found.append(parent)
    return found


def _word_byte(byte: bytes) -> bool:
    return bool(byte) and (byte.isalnum() or byte == b"_" or byte >= b"\x80")


def _query_for(types: frozenset[str]):
    alternatives = " ".join(f"({name})" for name in sorted(types))
    return grammar.query(f"[{alternatives}] @node")


def nodes_of_types(source, types: Iterable[str]) -> list[Node]:
    """All nodes of these types in the file, in document (pre-)order; cached per SourceFile."""
    return _index(source, frozenset(types))[1]


def descendants_of_types(source, node: Node, types: Iterable[str]) -> list[Node]:
    """Nodes of these types inside ``node`` (itself included), in document order."""
    starts, nodes = _index(source, frozenset(types))
    low = bisect.bisect_left(starts, node.start_byte)
    high = bisect.bisect_right(starts, node.end_byte)
    found = []
    for candidate in nodes[low:high]:
        if candidate.end_byte > node.end_byte:
            continue  # an ancestor starting where ``node`` starts
        if (candidate.start_byte, candidate.end_byte) == (node.start_byte, node.end_byte) and not _is_self_or_descendant(
            candidate, node
        ):
            continue  # an ancestor with exactly the same span
        found.append(candidate)
    return found


def _is_self_or_descendant(candidate: Node, node: Node) -> bool:
    current: Node | None = candidate
    while current is not None:
        if current == node:
            return True
        if current.start_byte < node.start_byte or current.end_byte > node.end_byte:
            return False
        current = current.parent
    return False


# Types the rules and facts ask for one at a time, in most files that are parsed:
# one query finds them all in one pass over the tree, and each gets its entry.
_ASKED_TOGETHER = frozenset({"call_expression", "selector_expression", "block", "composite_literal"})


def _index(source, types: frozenset[str]) -> tuple[list[int], list[Node]]:
    cache = source.__dict__.setdefault(_INDEX_ATTRIBUTE, {})
    entry = cache.get(types)
    if entry is None:
        if all(t in KEYWORD_OF for t in types):
            captured = _by_keyword(source, types)
        elif len(types) == 1 and types <= _ASKED_TOGETHER:
            by_type: dict[str, list[Node]] = {name: [] for name in _ASKED_TOGETHER}
            for node in QueryCursor(_query_for(_ASKED_TOGETHER)).captures(source.root).get("node", []):
                by_type[node.type].append(node)
            for name, nodes in by_type.items():
                cache.setdefault(frozenset((name,)), _entry(nodes))
            return cache[types]
        else:
            captured = QueryCursor(_query_for(types)).captures(source.root).get("node", [])
        entry = cache[types] = _entry(captured)
    return entry


def _entry(captured: list[Node]) -> tuple[list[int], list[Node]]:
    # Pre-order: by start, outer (longer) first; the sort is stable for equal spans.
    nodes = sorted(captured, key=lambda n: (n.start_byte, -n.end_byte))
    return ([n.start_byte for n in nodes], nodes)


def outermost_functions(source) -> list[Node]:
    """Functions not nested in another function, in document order: function and
    method declarations, and func literals outside any function (package-level
    initialisers). Rules that resolve names build one scope per such function."""
    found: list[Node] = []
    end = -1
    for node in nodes_of_types(source, FUNCTION_KINDS):
        if node.start_byte >= end:
            found.append(node)
            end = node.end_byte
    return found


def own_descendants(source, node: Node, types: Iterable[str]) -> list[Node]:
    """Like descendants_of_types, but without those inside func literals nested in ``node``
    (the same nodes, in the same order, as ``walk_no_funcs(node)`` filtered by type)."""
    found = []
    for candidate in descendants_of_types(source, node, types):
        if candidate == node:
            found.append(candidate)
            continue
        parent = candidate.parent
        while parent is not None and parent != node and parent.type not in FUNCTION_KINDS:
            parent = parent.parent
        if parent is None or parent == node:
            found.append(candidate)
    return found


def calls_named(source, name: bytes) -> list[Node]:
    """The calls `name(…)` and `x.name(…)` of the file, in document order."""
    found = []
    for call in nodes_of_types(source, CALL_KINDS):
        callee = callee_name(call)
        if callee is not None and source.text(callee) == name:
            found.append(call)
    return found


def method_calls_named(source, name: bytes) -> list[Node]:
    """The calls `x.name(…)` of the file, in document order, found from the bytes of
    `.name` (a comment or a string saying it holds no such call node); cached per file."""
    cache = source.__dict__.setdefault(_INDEX_ATTRIBUTE, {})
    key = ("method-calls", name)
    found = cache.get(key)
    if found is None:
        data, root = source.data, source.root
        found = []
        position = data.find(b"." + name)
        while position != -1:
            start = data.find(name, position)
            end = start + len(name)
            position = data.find(b"." + name, end)
            if _word_byte(data[end : end + 1]):
                continue  # `.Waiting`
            token = root.descendant_for_byte_range(start, end)
            selector = token.parent if token is not None and token.start_byte == start and token.end_byte == end else None
            call = selector.parent if selector is not None and selector.type == "selector_expression" else None
            if call is not None and call.type == "call_expression" and call.child_by_field_name("function") == selector:
                found.append(call)
        cache[key] = found
    return found
