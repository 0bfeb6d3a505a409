"""relock-before-return: `X.Lock()` where `X.Unlock()` was meant, right before a return."""

from __future__ import annotations

from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.locks import LockCall, lock_statement, same_lock
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.scope import FunctionScopes, Scopes
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.model import Diagnostic, Edit, Fix, Rule

# Calls that may stand between the two Lock calls without casting doubt on the typo.
_HARMLESS_CALLS = frozenset({b"len", b"cap"})


class RelockBeforeReturn(Rule):
    """
    ## What it does
    Finds `X.Lock()` as the statement just before a `return`, on a path where
    the same function already holds `X`: an earlier `X.Lock()` in an
    enclosing block on the same lock (spelled alike from the same variable:
    `s.a.Lock()` does not hold `s.b`), with nothing in between that could
    release it (no calls, no defers, no jumps). This is gRPC's bug 795 in the GoKer
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
    requires = (Scopes,)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        for ret in nodes_of_types(source, syntax.RETURN_KINDS):
            previous = syntax.previous_statement(ret)
            second = _lock(source, previous)
            if previous is None or second is None:
                continue
            function = syntax.enclosing_function(ret)
            if function is None:
                continue
            yield from self._check(source, source.scopes(function), function, previous, second)

    def _check(self, source: SourceFile, scopes: FunctionScopes, function: Node, statement: Node, second: LockCall) -> Iterator[Diagnostic]:
        first = _held_since(source, scopes, function, statement, second)
        if first is None:
            return
        text = second.key.decode()
        line = source.line_col(first.start_byte)[0]
        message = (
            f"{text}.Lock() right before returning, while {text} is still held (locked on line {line}): "
            f"the function deadlocks on its own lock; {text}.Unlock() was meant"
        )
        name = second.method_node
        fix = Fix(f"Call {text}.Unlock() instead", (Edit(name.start_byte, name.end_byte, b"Unlock"),))
        yield self.diagnostic(statement, message, fix)


RULE = RelockBeforeReturn()


def _lock(source: SourceFile, statement: Node | None) -> LockCall | None:
    """A statement `X.Lock()`, written without parentheses around `X.Lock` and
    without a comment between its own."""
    call = lock_statement(source, statement)
    if call is None or call.method != b"Lock" or call.callee_parenthesized or call.commented:
        return None
    return call


def _held_since(source: SourceFile, scopes: FunctionScopes, function: Node, statement: Node, second: LockCall) -> Node | None:
    """The earlier `X.Lock()` statement of an enclosing block that still holds X at ``statement``."""
    for block in syntax.ancestors(statement):
        if block == function:
            return None
        if not syntax.holds_statements(block):
            continue
        earlier = [s for s in syntax.statements(block) if s.end_byte <= statement.start_byte]
        for candidate in reversed(earlier):
            found = _lock(source, candidate)
            if found is not None and same_lock(scopes, found, second):  # `s.a` and `s.b` are two locks
                if _nothing_can_release(source, candidate.end_byte, statement.start_byte, function):
                    return candidate
                return None
    return None


def _nothing_can_release(source: SourceFile, start: int, end: int, function: Node) -> bool:
    """No call (other than len/cap), defer, go statement, label, goto or closure between the two Lock calls."""
    for node in syntax.walk(function):
        if node.end_byte <= start or node.start_byte >= end:
            continue
        if not (start <= node.start_byte and node.end_byte <= end):
            continue  # an enclosing statement (the if around the second Lock)
        if syntax.is_call(node):
            callee = syntax.callee(node)
            named = syntax.unparen(callee) if callee is not None else None
            if syntax.is_identifier(named) and source.text(named) in _HARMLESS_CALLS:
                continue
            return False
        if (
            syntax.is_defer(node)
            or syntax.is_go(node)
            or syntax.is_goto(node)
            or syntax.is_labeled(node)
            or syntax.is_function_literal(node)
        ):
            return False
    return True
