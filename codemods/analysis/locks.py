"""Lock facts: `X.Lock()` and friends, and what a function holds where.

``lock_call`` answers "is this a call of a lock method?" once for every rule:
`X.Lock()`, `X.RLock()`, `X.Unlock()`, `X.RUnlock()`, `X.TryLock()`,
`X.TryRLock()` with no arguments. The lock is named by the receiver
expression `X` (`mu`, `s.mu`, `s` for an embedded mutex); two calls are on
the same lock when their receivers are spelled alike and start from the
same variable (``scope.same_variable``).

The ``Locks`` family lists each function's lock events in document order:
locks, unlocks and deferred unlocks, its own code only (a function literal
runs elsewhere, a goroutine at another time).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.facts import Fact
from gofix_defer.codemods.analysis.syntax import unparen, walk_no_funcs

ACQUIRE_METHODS = frozenset({b"Lock", b"RLock"})
RELEASE_METHODS = frozenset({b"Unlock", b"RUnlock"})
TRY_METHODS = frozenset({b"TryLock", b"TryRLock"})
LOCK_METHODS = ACQUIRE_METHODS | RELEASE_METHODS | TRY_METHODS
RELEASE_OF = {b"Lock": b"Unlock", b"RLock": b"RUnlock"}
ACQUIRE_OF = {b"Unlock": b"Lock", b"RUnlock": b"RLock"}


@dataclass(frozen=True)
class LockCall:
    """`X.M()` with M a lock method."""

    call: Node
    operand: Node  # X
    method_node: Node  # the M identifier
    method: bytes
    receiver: bytes  # X as spelled
    key: bytes  # X without white space: `s . mu` and `s.mu` are one lock

    @property
    def acquires(self) -> bool:
        return self.method in ACQUIRE_METHODS

    @property
    def releases(self) -> bool:
        return self.method in RELEASE_METHODS

    @property
    def read(self) -> bool:
        return self.method in (b"RLock", b"RUnlock", b"TryRLock")

    @property
    def release_method(self) -> bytes | None:
        """The method that releases what this one acquires (Lock -> Unlock)."""
        return RELEASE_OF.get(self.method)

    @property
    def plain_path(self) -> bool:
        """X is a name or a field path (`mu`, `s.mu`, `s.a.mu`): no calls, no indexing."""
        node = unparen(self.operand)
        while syntax.is_selector(node):
            parts = syntax.selector_parts(node)
            if parts is None:
                return False
            node = unparen(parts[0])
        return syntax.is_identifier(node)


def lock_call(source, node: Node | None) -> LockCall | None:
    """``node`` as a lock-method call with no arguments, else None."""
    if node is None:
        return None
    call = unparen(node)
    if not syntax.is_call(call) or syntax.call_arguments(call):
        return None
    function = syntax.callee(call)
    parts = syntax.selector_parts(unparen(function)) if function is not None else None
    if parts is None:
        return None
    operand, method_node = parts
    method = source.text(method_node)
    if method not in LOCK_METHODS:
        return None
    receiver = source.text(operand)
    return LockCall(call, operand, method_node, method, receiver, b"".join(receiver.split()))


def lock_statement(source, statement: Node | None) -> LockCall | None:
    """A statement that is exactly a lock-method call: `X.Lock()` on a line of its own."""
    if statement is None or not syntax.is_expression_statement(statement) or statement.named_child_count != 1:
        return None
    return lock_call(source, statement.named_children[0])


class EventKind(str, enum.Enum):
    LOCK = "lock"  # Lock / RLock (TryLock counts: it may take the lock)
    UNLOCK = "unlock"
    DEFERRED_UNLOCK = "deferred-unlock"  # defer X.Unlock()


@dataclass(frozen=True)
class LockEvent:
    kind: EventKind
    lock: LockCall
    statement: Node  # the expression or defer statement


class Locks(Fact):
    """Per function: the lock events of its own code, in document order."""

    def __init__(self, source) -> None:
        super().__init__(source)
        self._events: dict[tuple[int, int], list[LockEvent]] = {}

    def events(self, function: Node) -> list[LockEvent]:
        key = (function.start_byte, function.end_byte)
        found = self._events.get(key)
        if found is None:
            found = self._events[key] = self._find(function)
        return found

    def _find(self, function: Node) -> list[LockEvent]:
        body = syntax.function_body(function)
        if body is None or b"Lock" not in self.source.data[body.start_byte : body.end_byte]:
            return []
        found = []
        for node in walk_no_funcs(body):
            if syntax.is_defer(node):
                call = lock_call(self.source, syntax.call_of(node))
                if call is not None and call.releases:
                    found.append(LockEvent(EventKind.DEFERRED_UNLOCK, call, node))
                continue
            call = lock_statement(self.source, node)
            if call is None:
                continue
            if call.releases:
                found.append(LockEvent(EventKind.UNLOCK, call, node))
            else:
                found.append(LockEvent(EventKind.LOCK, call, node))
        return found
