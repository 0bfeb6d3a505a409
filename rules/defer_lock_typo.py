"""defer-lock-typo: `X.Lock()` followed by `defer X.Lock()` where `defer X.Unlock()` was meant."""

from __future__ import annotations

from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.lexical import DEFERRED_LOCK
from gofix_defer.codemods.analysis.locks import LockCall, lock_call, lock_statement
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.scope import FunctionScopes, Scopes, same_variable
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.model import Diagnostic, Edit, Fix, Rule, says


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
    requires = (Scopes,)

    def applies_to(self, source) -> bool:
        # `defer X.Lock()` must be there: most files with a defer lock nothing.
        return super().applies_to(source) and says(source, DEFERRED_LOCK)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        for statement in nodes_of_types(source, syntax.DEFER_KINDS):
            deferred = _plain(lock_call(source, syntax.call_of(statement)))
            if deferred is None or not deferred.acquires:
                continue
            function = syntax.enclosing_function(statement)
            if function is None:
                continue
            yield from self._check_defer(source, source.scopes(function), statement, deferred)

    def _check_defer(self, source: SourceFile, scopes: FunctionScopes, statement: Node, deferred: LockCall) -> Iterator[Diagnostic]:
        acquire = _preceding_acquire(source, scopes, statement, deferred)
        if acquire is None or acquire != deferred.method:
            return
        method, release = deferred.method.decode(), (deferred.release_method or b"").decode()
        text = deferred.key.decode()
        message = (
            f"defer {text}.{method}() right after {text}.{method}(): the function locks again on return"
            f" and deadlocks; defer {text}.{release}() was meant"
        )
        name = deferred.method_node
        fix = Fix(f"Defer {text}.{release}()", (Edit(name.start_byte, name.end_byte, release.encode()),))
        yield self.diagnostic(statement, message, fix)


RULE = DeferLockTypo()


def _plain(call: LockCall | None) -> LockCall | None:
    """A lock-method call written without a comment between its parentheses."""
    return call if call is not None and not call.commented else None


def _preceding_acquire(source: SourceFile, scopes: FunctionScopes, statement: Node, deferred: LockCall) -> bytes | None:
    """The lock method called on the deferred call's receiver by the nearest earlier
    statement of the same block, if nothing in between can release it."""
    siblings = syntax.sibling_statements(statement)
    if siblings is None:
        return None
    for earlier in reversed(siblings[: siblings.index(statement)]):
        call = _plain(lock_statement(source, earlier))
        if call is not None and call.key == deferred.key:
            if not same_variable(scopes, call.operand, deferred.operand):
                return None
            return call.method
        if not _cannot_release(source, earlier, deferred.key):
            return None
    return None


def _cannot_release(source: SourceFile, statement: Node, receiver: bytes) -> bool:
    """True when ``statement`` cannot unlock the mutex or change what ``receiver`` names:
    no calls, closures, go or defer statements, and no jumps (a label could make the
    defer reachable another way)."""
    for node in syntax.walk(statement):
        if (
            syntax.is_call(node)
            or syntax.is_function_literal(node)
            or syntax.is_go(node)
            or syntax.is_defer(node)
            or syntax.is_goto(node)
            or syntax.is_labeled(node)
        ):
            return False
        for target in _assigned(node):
            spelled = b"".join(source.text(target).split())
            if receiver == spelled or receiver.startswith(spelled + b".") or receiver.startswith(spelled + b"["):
                return False
            if spelled.startswith(b"*"):
                return False  # assignment through a pointer: could be to anything
    return True


def _assigned(node: Node) -> list[Node]:
    """What an assignment, `x++`, `:=` or var declaration writes (nothing for other nodes)."""
    if syntax.is_var_declaration(node):
        return [name for spec in syntax.var_specs(node) for name in syntax.var_spec_names(spec)]
    if syntax.is_assignment(node) or syntax.is_short_var_declaration(node) or syntax.is_inc_dec(node):
        return syntax.left_side(node)
    return []
