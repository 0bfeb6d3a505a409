"""defer-lock-typo: `X.Lock()` followed by `defer X.Lock()` where `defer X.Unlock()` was meant."""

from __future__ import annotations

from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.scope import FunctionScopes, same_variable
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import call_of, enclosing_function, statements, unparen, walk
from gofix_defer.codemods.model import Diagnostic, Edit, Fix, Rule

# The release each acquire method pairs with.
_RELEASE_OF = {b"Lock": b"Unlock", b"RLock": b"RUnlock"}
_LOCK_METHODS = frozenset({b"Lock", b"RLock", b"Unlock", b"RUnlock", b"TryLock", b"TryRLock"})
# Statements between the Lock and the defer that may stand there without
# casting doubt on the typo: they cannot release the lock (no calls), and
# they do not jump (a label could make the defer reachable another way).
_JUMPS = frozenset({"goto_statement", "labeled_statement"})
_ASSIGNMENTS = frozenset({"assignment", "short_var_declaration", "inc_dec_statement", "var_declaration"})


class DeferLockTypo(Rule):
    """
    ## What it does
    Finds `X.Lock()` followed, in the same block, by `defer X.Lock()` on the
    same receiver (also `X.RLock()` … `defer X.RLock()`). Only statements
    that cannot release the lock may stand between the two (no calls, no
    jumps, nothing that reassigns the receiver). `X.Unlock()` followed by
    `defer X.Lock()` is the idiom for releasing a lock for a while and is
    left alone.

    ## Why is this bad
    The deferred call locks the mutex a second time when the function
    returns, while it still holds it: sync mutexes are not re-entrant, so the
    goroutine blocks for ever in its own defer, and every later user of the
    lock blocks behind it. staticcheck reports this as SA2003 but offers no
    fix.

    ## Example
    ```go
    func (c *Counter) Inc() {
        c.mu.Lock()
        defer c.mu.Lock()
        c.n++
    }
    ```

    ## Fix
    Release instead, as the surrounding code plainly means:
    ```go
    func (c *Counter) Inc() {
        c.mu.Lock()
        defer c.mu.Unlock()
        c.n++
    }
    ```
    `defer X.RLock()` after `X.RLock()` becomes `defer X.RUnlock()`.

    ## Fix safety
    Safe: the function as written can never return normally (its deferred
    call deadlocks), so no working caller depends on the second lock; the
    fix pairs the acquire with its release, the only reading under which the
    function works.
    """

    name = "defer-lock-typo"
    summary = "`defer X.Lock()` right after `X.Lock()`: the function deadlocks on return; defer X.Unlock()"
    fix_availability = "always"
    triggers = (b"defer",)

    def applies_to(self, source) -> bool:
        # Both words must be there: most files with a defer lock nothing.
        return super().applies_to(source) and b"Lock" in source.data

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        scopes_of: dict[tuple[int, int], FunctionScopes] = {}
        for statement in nodes_of_types(source, ("defer_statement",)):
            deferred = _lock_call(source, call_of(statement))
            if deferred is None or deferred[1] not in _RELEASE_OF:
                continue
            function = enclosing_function(statement)
            if function is None:
                continue
            key = (function.start_byte, function.end_byte)
            if key not in scopes_of:
                scopes_of[key] = source.scopes(function)
            yield from self._check_defer(source, scopes_of[key], statement, deferred)

    def _check_defer(self, source: SourceFile, scopes: FunctionScopes, statement: Node, deferred: tuple) -> Iterator[Diagnostic]:
        receiver, method, operand, field = deferred
        acquire = _preceding_acquire(source, scopes, statement, receiver, operand)
        if acquire is None or acquire != method:
            return
        release = _RELEASE_OF[method]
        text = receiver.decode()
        message = (
            f"defer {text}.{method.decode()}() right after {text}.{method.decode()}(): the function locks again on return"
            f" and deadlocks; defer {text}.{release.decode()}() was meant"
        )
        fix = Fix(f"Defer {text}.{release.decode()}()", (Edit(field.start_byte, field.end_byte, release),))
        yield self.diagnostic(statement, message, fix)


RULE = DeferLockTypo()


def _lock_call(source: SourceFile, call: Node | None) -> tuple[bytes, bytes, Node, Node] | None:
    """For `X.M()` with M a lock method and no arguments: (X's text, M, X, the M identifier)."""
    if call is None or call.type != "call_expression":
        return None
    function = unparen(call.child_by_field_name("function"))
    arguments = call.child_by_field_name("arguments")
    if function.type != "selector_expression" or arguments is None or arguments.named_child_count:
        return None
    field = function.child_by_field_name("field")
    method = source.text(field)
    if method not in _LOCK_METHODS:
        return None
    operand = function.child_by_field_name("operand")
    return b"".join(source.text(operand).split()), method, operand, field


def _preceding_acquire(source: SourceFile, scopes: FunctionScopes, statement: Node, receiver: bytes, operand: Node) -> bytes | None:
    """The lock method called on ``receiver`` by the nearest earlier statement of the same block, if nothing in between can release it."""
    parent = statement.parent
    if parent is None:
        return None
    siblings = statements(parent)
    index = next((i for i, s in enumerate(siblings) if s.start_byte == statement.start_byte and s.end_byte == statement.end_byte), None)
    if index is None:
        return None
    for earlier in reversed(siblings[:index]):
        if earlier.type == "expression_statement" and earlier.named_child_count == 1:
            call = _lock_call(source, unparen(earlier.named_children[0]))
            if call is not None and call[0] == receiver:
                if not same_variable(scopes, call[2], operand):
                    return None
                return call[1]
        if not _cannot_release(source, earlier, receiver):
            return None
    return None


def _cannot_release(source: SourceFile, statement: Node, receiver: bytes) -> bool:
    """True when ``statement`` cannot unlock the mutex or change what ``receiver`` names."""
    for node in walk(statement):
        if node.type in ("call_expression", "function_literal", "go_statement", "defer_statement") or node.type in _JUMPS:
            return False
        if node.type in _ASSIGNMENTS:
            for target in _assigned(node):
                spelled = b"".join(source.text(target).split())
                if receiver == spelled or receiver.startswith(spelled + b".") or receiver.startswith(spelled + b"["):
                    return False
                if spelled.startswith(b"*"):
                    return False  # assignment through a pointer: could be to anything
    return True


def _assigned(node: Node) -> list[Node]:
    if node.type in ("inc_dec_statement",):
        return list(node.named_children[:1])
    if node.type == "var_declaration":
        return [name for spec in walk(node) if spec.type == "var_spec" for name in spec.children_by_field_name("name")]
    left = node.child_by_field_name("left")
    if left is None:
        return []
    return [c for c in left.named_children] if left.type == "expression_list" else [left]



