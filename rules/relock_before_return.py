"""relock-before-return: `X.Lock()` where `X.Unlock()` was meant, right before a return."""

from __future__ import annotations

from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.scope import FunctionScopes, same_variable
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import FUNCTION_KINDS, ancestors, selector_call, unparen, walk
from gofix_defer.codemods.model import Diagnostic, Edit, Fix, Rule

# Nodes that may stand between the two Lock calls without casting doubt on
# the typo must not release the lock or jump: no calls (other than len/cap),
# no defers, no labels or gotos, no func literals.
_BLOCKING_NODES = frozenset({"call_expression", "defer_statement", "go_statement", "goto_statement", "labeled_statement", "function_literal"})
_HARMLESS_CALLS = frozenset({b"len", b"cap"})


class RelockBeforeReturn(Rule):
    """
    ## What it does
    Finds `X.Lock()` as the statement just before a `return`, on a path where
    the same function already holds `X`: an earlier `X.Lock()` in an
    enclosing block, with nothing in between that could release it (no
    calls, no defers, no jumps). This is gRPC's bug 795 in the GoKer
    catalogue: an early-return branch that was meant to unlock.

    ## Why is this bad
    sync mutexes are not re-entrant: locking a mutex the goroutine already
    holds blocks it for ever, inside the function, and every later user of
    the lock blocks behind it.

    ## Example
    ```go
    func (s *Server) GracefulStop() {
        s.mu.Lock()
        if s.drain {
            s.mu.Lock()
            return
        }
        s.drain = true
        s.mu.Unlock()
    }
    ```

    ## Fix
    Release before returning, as the other path does:
    ```go
        if s.drain {
            s.mu.Unlock()
            return
        }
    ```

    ## Fix safety
    Safe: as written, the path can never return (it deadlocks on its own
    lock), so no working caller depends on it; the fix makes it release the
    lock it holds, the only reading under which the path works. Read locks
    (`RLock`) are left alone: taking one twice only deadlocks when a writer
    is waiting.
    """

    name = "relock-before-return"
    summary = "`X.Lock()` on a lock the function already holds, right before a return: X.Unlock() was meant"
    fix_availability = "always"
    triggers = (b".Lock()",)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        scopes_of: dict[tuple[int, int], FunctionScopes] = {}
        for ret in nodes_of_types(source, ("return_statement",)):
            previous = ret.prev_named_sibling
            while previous is not None and previous.type == "comment":
                previous = previous.prev_named_sibling
            second = _lock_call(source, previous)
            if second is None:
                continue
            function = _enclosing_function(ret)
            if function is None:
                continue
            key = (function.start_byte, function.end_byte)
            if key not in scopes_of:
                scopes_of[key] = source.scopes(function)
            yield from self._check(source, scopes_of[key], function, previous, second)

    def _check(self, source: SourceFile, scopes: FunctionScopes, function: Node, statement: Node, second: tuple) -> Iterator[Diagnostic]:
        operand, field = second
        first = _held_since(source, scopes, function, statement, operand)
        if first is None:
            return
        text = b"".join(source.text(operand).split()).decode()
        line = source.line_col(first.start_byte)[0]
        message = (
            f"{text}.Lock() right before returning, while {text} is still held (locked on line {line}): "
            f"the function deadlocks on its own lock; {text}.Unlock() was meant"
        )
        fix = Fix(f"Call {text}.Unlock() instead", (Edit(field.start_byte, field.end_byte, b"Unlock"),))
        yield self.diagnostic(statement, message, fix)


RULE = RelockBeforeReturn()


def _enclosing_function(node: Node) -> Node | None:
    return next((a for a in ancestors(node) if a.type in FUNCTION_KINDS), None)


def _lock_call(source: SourceFile, statement: Node | None) -> tuple[Node, Node] | None:
    """(operand, field) for a statement `operand.Lock()`, else None."""
    if statement is None or statement.type != "expression_statement" or statement.named_child_count != 1:
        return None
    parts = selector_call(statement.named_children[0])
    if parts is None:
        return None
    operand, field, call = parts
    arguments = call.child_by_field_name("arguments")
    if arguments is None or arguments.named_child_count or source.text(field) != b"Lock":
        return None
    return operand, field


def _held_since(source: SourceFile, scopes: FunctionScopes, function: Node, statement: Node, operand: Node) -> Node | None:
    """The earlier `X.Lock()` statement of an enclosing block that still holds X at ``statement``."""
    for block in ancestors(statement):
        if block == function:
            return None
        if not syntax.holds_statements(block):
            continue
        earlier = [s for s in syntax.statements(block) if s.end_byte <= statement.start_byte]
        for candidate in reversed(earlier):
            found = _lock_call(source, candidate)
            if found is not None and same_variable(scopes, found[0], operand):
                if _nothing_can_release(source, candidate.end_byte, statement.start_byte, function):
                    return candidate
                return None
    return None


def _nothing_can_release(source: SourceFile, start: int, end: int, function: Node) -> bool:
    """No call, defer, jump or closure between the two Lock calls."""
    for node in walk(function):
        if node.end_byte <= start or node.start_byte >= end:
            continue
        if not (start <= node.start_byte and node.end_byte <= end):
            continue  # an enclosing statement (the if around the second Lock)
        if node.type in _BLOCKING_NODES:
            if node.type == "call_expression":
                callee = unparen(node.child_by_field_name("function"))
                if callee.type == "identifier" and source.text(callee) in _HARMLESS_CALLS:
                    continue
            return False
    return True
