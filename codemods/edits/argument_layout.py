"""Keeping a call gofmt-clean when a fix gives it a second argument.

gofmt lays out a binary expression by how deeply it is nested: as the only
argument of a call it keeps `"DELETE FROM " + table`, but as one of two it
prints `"DELETE FROM "+table` (go/printer's `cutoff`: a call with more than
one argument prints them one level deeper). A fix that turns `Exec(q + x)`
into `ExecContext(ctx, q + x)` must therefore also re-space the old argument,
or its output fails `gofmt -l`.

This module re-prints the binary operators of one argument the way
go/printer does at that depth (its `walkBinary`, `cutoff` and `diffPrec`),
copying everything else verbatim. Where it cannot be sure (an operator over
several lines, or a binary expression inside a construct it does not model)
it answers None and the caller offers no fix rather than an unformatted one.
"""

from __future__ import annotations

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax

_PRECEDENCE = {
    b"||": 1,
    b"&&": 2,
    **dict.fromkeys((b"==", b"!=", b"<", b"<=", b">", b">="), 3),
    **dict.fromkeys((b"+", b"-", b"|", b"^"), 4),
    **dict.fromkeys((b"*", b"/", b"%", b"<<", b">>", b"&", b"&^"), 5),
}


class _Unsure(Exception):
    """The layout gofmt would choose is not one this module models."""


def respaced_text(data: bytes, argument: Node) -> bytes | None:
    """``argument`` (so far a call's only argument, ``data`` the file it is in) as gofmt
    prints it once the call has more arguments; None when unsure."""
    try:
        return _print(data, argument, depth=2)
    except _Unsure:
        return None


def _verbatim(source_data: bytes, node: Node) -> bytes:
    # Composite literals and function literals reset gofmt's depth; anything else
    # holding a binary expression is a layout this module does not model.
    if not _only_in_reset_scopes(node):
        raise _Unsure
    return source_data[node.start_byte : node.end_byte]


def _only_in_reset_scopes(node: Node) -> bool:
    """Every binary expression under ``node`` sits in a composite literal (whose elements
    gofmt prints at depth 1 whatever surrounds them)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if syntax.is_composite_literal(current):
            continue
        if syntax.is_binary(current):
            return False
        stack.extend(c for c in current.named_children if not syntax.is_function_literal(c))
    return True


def _print(data: bytes, node: Node, depth: int) -> bytes:
    if syntax.is_binary(node):
        return _binary(data, node, _cutoff(node, depth), depth)
    if syntax.is_parenthesized(node):
        inner = node.named_children[0] if node.named_child_count == 1 else None
        if inner is None:
            raise _Unsure
        # go/printer: ParenExpr prints its operand at reduceDepth(depth).
        return _around(data, node, inner, _print(data, inner, max(depth - 1, 1)))
    if syntax.is_call(node):
        callee = syntax.callee(node)
        arguments = syntax.call_arguments(node)
        if callee is None or syntax.is_function_literal(callee):
            return _verbatim(data, node)
        # go/printer: a call with several arguments prints its callee and arguments one level deeper.
        deeper = depth + 1 if len(arguments) > 1 else depth
        out, cursor = b"", node.start_byte
        for part in (callee, *arguments):
            out += data[cursor : part.start_byte] + _print(data, part, deeper)
            cursor = part.end_byte
        return out + data[cursor : node.end_byte]
    if syntax.is_selector(node):
        operand = syntax.operand(node)
        return _around(data, node, operand, _print(data, operand, depth)) if operand is not None else _verbatim(data, node)
    return _verbatim(data, node)


def _around(data: bytes, outer: Node, inner: Node, printed: bytes) -> bytes:
    return data[outer.start_byte : inner.start_byte] + printed + data[inner.end_byte : outer.end_byte]


def _parts(node: Node) -> tuple[Node, bytes, Node, int]:
    parts = syntax.binary_parts(node)
    if parts is None or parts[1] not in _PRECEDENCE:
        raise _Unsure
    left, operator, right = parts
    if left.end_point[0] != right.start_point[0]:
        raise _Unsure  # an operator at a line break: gofmt keeps the break, this module does not model it
    return left, operator, right, _PRECEDENCE[operator]


def _walk_binary(node: Node) -> tuple[bool, bool, int]:
    left, operator, right, precedence = _parts(node)
    has4, has5, max_problem = precedence == 4, precedence == 5, 0
    if syntax.is_binary(left) and _parts(left)[3] >= precedence:
        h4, h5, problem = _walk_binary(left)
        has4, has5, max_problem = has4 or h4, has5 or h5, max(max_problem, problem)
    if syntax.is_binary(right):
        if _parts(right)[3] > precedence:
            h4, h5, problem = _walk_binary(right)
            has4, has5, max_problem = has4 or h4, has5 or h5, max(max_problem, problem)
    elif syntax.is_unary(right):
        unary = next((op for op in (b"*", b"&", b"^", b"+", b"-", b"!", b"<-") if syntax.is_unary(right, op)), b"")
        pair = operator + unary
        if pair in (b"/*", b"&&", b"&^"):
            max_problem = 5
        elif pair in (b"++", b"--"):
            max_problem = max(max_problem, 4)
    return has4, has5, max_problem


def _cutoff(node: Node, depth: int) -> int:
    has4, has5, max_problem = _walk_binary(node)
    if max_problem > 0:
        return max_problem + 1
    if has4 and has5:
        return 5 if depth == 1 else 4
    return 6 if depth == 1 else 4


def _diff_precedence(operand: Node, precedence: int) -> int:
    """go/printer's diffPrec: 0 for a binary operand of the same precedence, else 1."""
    return 0 if syntax.is_binary(operand) and _parts(operand)[3] == precedence else 1


def _binary(data: bytes, node: Node, cutoff: int, depth: int) -> bytes:
    left, operator, right, precedence = _parts(node)
    if syntax.is_binary(left) and _parts(left)[3] < precedence or syntax.is_binary(right) and _parts(right)[3] <= precedence:
        raise _Unsure  # tree-sitter would have needed parentheses here: not a shape gofmt prints
    # go/printer: expr1(x.X, prec, depth+diffPrec(x.X, prec)) and expr1(x.Y, prec+1, depth+1);
    # a binary operand computes its own cutoff at that depth.
    left_text = _print(data, left, depth + _diff_precedence(left, precedence))
    right_text = _print(data, right, depth + 1)
    blank = b" " if precedence < cutoff else b""
    return left_text + blank + operator + blank + right_text
