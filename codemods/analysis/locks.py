"""Lock facts: `X.Lock()` and friends, and what a function holds where.

``lock_call`` answers "is this a call of a lock method?" once for every rule:
`X.Lock()`, `X.RLock()`, `X.Unlock()`, `X.RUnlock()`, `X.TryLock()`,
`X.TryRLock()` with no arguments. The lock is named by the receiver
expression `X` (`mu`, `s.mu`, `s` for an embedded mutex); two calls are on
the same lock when their receivers are spelled alike and start from the
same variable (``scope.same_variable``). A ``LockCall`` also says how the call
is written (parentheses around it or its callee, a comment between its
parentheses), for rules that accept only the usual spelling.

The ``Locks`` family lists each function's lock events in document order:
locks, unlocks and deferred unlocks, its own code only (a function literal
runs elsewhere, a goroutine at another time); and, for rules that look at
every call, each lock-method call of that code wherever it stands.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Callable

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.facts import Fact
from gofix_defer.codemods.analysis.nodeindex import descendants_of_types, own_descendants
from gofix_defer.codemods.analysis.scope import Scopes
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
    # How the call is written, for rules that accept only the usual spelling:
    parenthesized: bool = False  # `(X.Lock())`: the node asked about is the call in parentheses
    callee_parenthesized: bool = False  # `(X.Lock)()`
    commented: bool = False  # `X.Lock(/* … */)`: a comment in the empty argument list

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
    return LockCall(
        call,
        operand,
        method_node,
        method,
        receiver,
        b"".join(receiver.split()),
        parenthesized=call != node,
        callee_parenthesized=syntax.is_parenthesized(function),
        commented=not syntax.holds_nothing(syntax.call_arguments_node(call)),
    )


def lock_statement(source, statement: Node | None) -> LockCall | None:
    """A statement that is exactly a lock-method call: `X.Lock()` on a line of its own."""
    if statement is None or not syntax.is_expression_statement(statement) or statement.named_child_count != 1:
        return None
    return lock_call(source, statement.named_children[0])


def _may_call_lock_methods(source, body: Node | None) -> bool:
    """A cheap byte test: every lock method's name holds `Lock` or `Unlock`."""
    if body is None:
        return False
    text = source.data[body.start_byte : body.end_byte]
    return b"Lock" in text or b"Unlock" in text


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
    """Per function: the lock events of its own code, in document order; and, path by
    path, which locks it holds before each statement and at each exit once its defers
    run (``flow``, ``held_at_exits``)."""

    requires = (Scopes,)

    def __init__(self, source) -> None:
        super().__init__(source)
        self._events: dict[tuple[int, int], list[LockEvent]] = {}
        self._calls: dict[tuple[int, int], list[LockCall]] = {}
        self._flows: dict[tuple[int, int], LockFlow | None] = {}

    def flow(self, function: Node) -> "LockFlow | None":
        """The lock states of the function's paths, statement by statement (None when
        they cannot be followed: a goto, or more than MAX_PATHS states at one point)."""
        key = (function.start_byte, function.end_byte)
        if key not in self._flows:
            self._flows[key] = follow_locks(self.source, function)
        return self._flows[key]

    def held_at_exits(self, function: Node) -> "list[ExitLocks] | None":
        """Each way out of the function (its returns, and the end of its body when control
        can fall off it), with, per path, the locks held and the releases its defers will
        run: ``exit.after_defers(lock)`` is what stays held once they ran."""
        found = self.flow(function)
        return found.exits if found is not None else None

    def calls(self, function: Node) -> list[LockCall]:
        """Every lock-method call of the function's own code, wherever it stands (a
        statement, a defer or go statement, a condition), in document order."""
        key = (function.start_byte, function.end_byte)
        found = self._calls.get(key)
        if found is None:
            body = syntax.function_body(function)
            found = []
            if _may_call_lock_methods(self.source, body):
                for node in walk_no_funcs(body):
                    call = lock_call(self.source, node) if syntax.is_call(node) else None
                    if call is not None:
                        found.append(call)
            self._calls[key] = found
        return found

    def events(self, function: Node) -> list[LockEvent]:
        key = (function.start_byte, function.end_byte)
        found = self._events.get(key)
        if found is None:
            found = self._events[key] = self._find(function)
        return found

    def _find(self, function: Node) -> list[LockEvent]:
        body = syntax.function_body(function)
        if not _may_call_lock_methods(self.source, body):
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



def same_lock(scopes, a: LockCall, b: LockCall) -> bool:
    """Are two lock-method calls on the same lock? Their receivers are spelled alike
    (`s.a` and `s.b` are two locks of one variable) and start from the same variable."""
    from gofix_defer.codemods.analysis.scope import same_variable

    return a.key == b.key and same_variable(scopes, a.operand, b.operand)


# -- what a function holds where, and at each exit once its defers run ---------------

LockId = tuple[bytes, tuple[int, int]]  # the receiver's spelling, and its root variable's declaration
_DECLARED_OUTSIDE = (-1, -1)  # a root declared outside the function: named by its spelling
MAX_COUNT = 3  # how many times a path can be seen to hold one lock
MAX_PATHS = 64  # lock states one program point may carry; more and the function is not followed
_MAX_LOOP_ROUNDS = 12
_RELEASING_NAME = re.compile(rb"(?i)unlock|release")


def _counts_of(items: frozenset[tuple[LockId, int]], lock: LockId) -> int:
    return next((count for held, count in items if held == lock), 0)


def _added(items: frozenset[tuple[LockId, int]], lock: LockId, delta: int) -> frozenset[tuple[LockId, int]]:
    # Counts stop at ±MAX_COUNT (a mutex held twice is a deadlock already), so that a
    # loop that leaks one lock per turn reaches a fixpoint.
    count = max(-MAX_COUNT, min(MAX_COUNT, _counts_of(items, lock) + delta))
    rest = {(held, n) for held, n in items if held != lock}
    if count:
        rest.add((lock, count))
    return frozenset(rest)


@dataclass(frozen=True)
class PathLocks:
    """The locks of one path through a function at one point.

    ``held``: how many times the path took each lock since the function began
    (Lock and RLock alike; a release of a lock the caller holds counts -1).
    ``deferred``: how many releases of each lock the defers registered on the
    way will run when the function returns (`defer mu.Unlock()` +1, the
    `defer mu.Lock()` of an unlock-for-a-while -1)."""

    held: frozenset[tuple[LockId, int]] = frozenset()
    deferred: frozenset[tuple[LockId, int]] = frozenset()

    def holds(self, lock: LockId) -> int:
        return _counts_of(self.held, lock)

    def defers(self, lock: LockId) -> int:
        return _counts_of(self.deferred, lock)

    def after_defers(self, lock: LockId) -> int:
        """How many times the path still holds ``lock`` once the defers ran."""
        return self.holds(lock) - self.defers(lock)

    def locked(self, lock: LockId, delta: int) -> "PathLocks":
        return PathLocks(_added(self.held, lock, delta), self.deferred)

    def deferring(self, lock: LockId, releases: int) -> "PathLocks":
        return PathLocks(self.held, _added(self.deferred, lock, releases))


@dataclass(frozen=True)
class ExitLocks:
    """One way out of a function: a return statement, or its body when control falls
    off its end; with the lock state of every path that reaches it."""

    node: Node
    paths: tuple[PathLocks, ...]

    def after_defers(self, lock: LockId) -> frozenset[int]:
        """The counts ``lock`` is held with once the defers ran, over the paths."""
        return frozenset(p.after_defers(lock) for p in self.paths)


@dataclass
class LockFlow:
    """Which locks each path of a function's own code holds, statement by statement.

    Paths are followed through if/else (dead branches, `if false`, left out),
    switch, select, loops (to a fixpoint), labelled break and continue;
    panic, os.Exit, log.Fatal*, t.Fatal* and runtime.Goexit end a path. A call
    of a function literal in place, or of a local closure, counts for the lock
    calls it makes as plain statements. Calls of other functions are not
    followed: what they do with a lock is the package's call summaries'
    business."""

    exits: list[ExitLocks]
    _before: dict[tuple[int, int], tuple[PathLocks, ...]]
    _unknown: frozenset[LockId]
    _identities: dict[tuple[int, int], LockId]
    opaque: bool  # a defer or call runs releases the analysis cannot name

    def before(self, statement: Node) -> tuple[PathLocks, ...]:
        """The lock states of the paths that reach ``statement`` (none: it is not reached,
        or it is not a statement of the function's own code)."""
        return self._before.get((statement.start_byte, statement.end_byte), ())

    def identity(self, call: LockCall) -> LockId | None:
        """The lock a call of the function's own code is on (None: not followed)."""
        return self._identities.get((call.call.start_byte, call.call.end_byte))

    def known(self, lock: LockId) -> bool:
        """Is every use of ``lock`` in the function followed (no TryLock, no lock call in
        a condition or a goroutine, no release the analysis cannot name)?"""
        return not self.opaque and lock not in self._unknown


def lock_identity(scopes, call: LockCall) -> LockId | None:
    """The lock ``call`` is on, for calls whose receiver is a name or a field path."""
    if not call.plain_path:
        return None
    root = syntax.root_identifier(call.operand)
    if root is None:
        return None
    declaration = scopes.resolve(root)
    return (call.key, declaration.key if declaration is not None else _DECLARED_OUTSIDE)


@dataclass
class _Out:
    falls: set[PathLocks] = field(default_factory=set)  # states reaching the statement's end
    jumps: dict[tuple[int, int], tuple[Node, set[PathLocks]]] = field(default_factory=dict)  # break/continue/fallthrough leaving it

    def jump(self, node: Node, states: set[PathLocks]) -> None:
        key = (node.start_byte, node.end_byte)
        if key in self.jumps:
            self.jumps[key][1].update(states)
        else:
            self.jumps[key] = (node, set(states))

    def take(self, other: "_Out") -> None:
        for node, states in other.jumps.values():
            self.jump(node, states)


# What a call does to the caller's locks, as the caller's own lock counts (None for a
# lock it changes on some paths only); None for a call not followed.
# What a call (the node; True when it is deferred) does to the caller's locks: LockId ->
# net count change (None: changes on some paths only). For a call that runs now, None
# and {} mean the same: nothing known changes. For a deferred call, {} says the callee is
# known and releases nothing, None that it may release locks unseen.
CallEffects = Callable[[Node, bool], "dict[LockId, int | None] | None"]


class _Follower:
    def __init__(self, source, function: Node, calls: CallEffects | None = None) -> None:
        from gofix_defer.codemods.analysis import control

        self.control = control
        self.source = source
        self.function = function
        self.calls = calls
        outermost = syntax.outermost_function(function) or function
        self.scopes = source.scopes(outermost)
        self.tests = control.test_parameter_names(source, function)
        self.before: dict[tuple[int, int], set[PathLocks]] = {}
        self.exits: dict[tuple[int, int], tuple[Node, set[PathLocks]]] = {}
        self.unknown: set[LockId] = set()
        self.identities: dict[tuple[int, int], LockId] = {}
        self.opaque = False
        self.failed = False

    # -- helpers ------------------------------------------------------------
    def identity(self, call: LockCall) -> LockId | None:
        found = lock_identity(self.scopes, call)
        if found is not None:
            self.identities[(call.call.start_byte, call.call.end_byte)] = found
        return found

    def scan(self, node: Node | None, *, literals: bool = True) -> None:
        """Lock calls in code not followed (a condition, a goroutine, a value passed on):
        their locks are unknown from here on."""
        if node is None:
            return
        text = self.source.data[node.start_byte : node.end_byte]
        if b"Lock" not in text and b"Unlock" not in text:
            return
        finder = descendants_of_types if literals else own_descendants
        for inner in finder(self.source, node, syntax.CALL_KINDS):
            call = lock_call(self.source, inner)
            if call is not None:
                found = self.identity(call)
                if found is not None:
                    self.unknown.add(found)

    def effects_of(self, call: Node, deferred: bool = False) -> "dict[LockId, int | None] | None":
        """What a call of a function the caller's analysis follows does to the locks."""
        if self.calls is None or lock_call(self.source, call) is not None:
            return None
        return self.calls(call, deferred)

    def apply_calls(self, node: Node | None, states: set[PathLocks]) -> set[PathLocks]:
        """The states after the followed calls of ``node``'s own code (goroutines, defers
        and function literals left out) ran."""
        if node is None or self.calls is None:
            return states
        for inner in own_descendants(self.source, node, syntax.CALL_KINDS):
            if any(syntax.is_go(a) or syntax.is_defer(a) for a in _ancestors_within(inner, node)):
                continue
            effects = self.effects_of(inner)
            for found, delta in (effects or {}).items():
                if delta is None:
                    self.unknown.add(found)
                else:
                    states = {p.locked(found, delta) for p in states}
        return states

    def literal_effects(self, literal: Node) -> dict[LockId, int] | None:
        """The net lock counts a function literal's run changes, when its lock calls are
        plain statements of its body (deferred releases included); None otherwise."""
        body = syntax.function_body(literal)
        if body is None:
            return {}
        top = syntax.statements(body)
        effects: dict[LockId, int] = {}
        for node in syntax.walk(body):
            if not syntax.is_call(node):
                continue
            call = lock_call(self.source, node)
            if call is None:
                continue
            found = self.identity(call)
            if found is None:
                continue
            holder = node.parent
            while holder is not None and syntax.is_parenthesized(holder):
                holder = holder.parent
            if holder is None or holder not in top or call.method in TRY_METHODS:
                return None
            if not (syntax.is_expression_statement(holder) or (syntax.is_defer(holder) and call.releases)):
                return None
            effects[found] = effects.get(found, 0) + (1 if call.acquires else -1)
        return effects

    def closure(self, call: Node) -> Node | None:
        """The literal a call runs: `func(){…}()`, or `f()` for a local `f := func(){…}`."""
        function = syntax.callee(call)
        if function is None:
            return None
        function = syntax.unparen(function)
        if syntax.is_function_literal(function):
            return function
        if not syntax.is_identifier(function):
            return None
        declaration = self.scopes.resolve(function)
        value = declaration.value if declaration is not None else None
        value = syntax.unparen(value) if value is not None else None
        return value if syntax.is_function_literal(value) else None

    def may_release_unseen(self, call: Node) -> bool:
        """A call the analysis does not follow whose name says it releases (`unlockAll()`)
        or that runs a function value it cannot see."""
        function = syntax.callee(call)
        if function is None:
            return True
        function = syntax.unparen(function)
        if syntax.is_identifier(function):
            declaration = self.scopes.resolve(function)
            if declaration is not None and declaration.kind not in ("func", "type"):
                return True  # a function value
        name = syntax.callee_name(call)
        return name is not None and _RELEASING_NAME.search(self.source.text(name)) is not None

    # -- statements ---------------------------------------------------------
    def run(self) -> None:
        body = syntax.function_body(self.function)
        if body is None:
            return
        out = self.sequence(syntax.statements(body), {PathLocks()})
        if out.falls:
            self.exits[(body.start_byte, body.end_byte)] = (body, set(out.falls))

    def sequence(self, items: list[Node], states: set[PathLocks]) -> _Out:
        out = _Out(falls=set(states))
        for statement in items:
            if not out.falls or self.failed:
                break
            step = self.statement(statement, out.falls)
            out.take(step)
            out.falls = step.falls
        return out

    def statement(self, node: Node, states: set[PathLocks]) -> _Out:
        if self.failed or not states:
            return _Out()
        if len(states) > MAX_PATHS:
            self.failed = True
            return _Out()
        key = (node.start_byte, node.end_byte)
        self.before.setdefault(key, set()).update(states)
        if syntax.is_labeled(node):
            inner = syntax.labeled_body(node)
            return self.statement(inner, states) if inner is not None else _Out(falls=set(states))
        if syntax.is_return(node):
            self.scan(node)
            states = self.apply_calls(node, states)
            if key in self.exits:
                self.exits[key][1].update(states)
            else:
                self.exits[key] = (node, set(states))
            return _Out()
        if syntax.is_block(node):
            return self.sequence(syntax.statements(node), states)
        if syntax.is_if(node):
            return self.if_statement(node, states)
        if syntax.is_loop(node):
            return self.loop(node, states)
        if syntax.is_switch(node) or syntax.is_select(node):
            return self.cases(node, states)
        if syntax.is_break(node) or syntax.is_continue(node) or syntax.is_fallthrough(node):
            out = _Out()
            out.jump(node, states)
            return out
        if syntax.is_goto(node):
            self.failed = True
            return _Out()
        if syntax.is_defer(node):
            return _Out(falls=self.defer(node, states))
        if syntax.is_go(node):
            self.scan(node)
            return _Out(falls=set(states))
        if syntax.is_expression_statement(node):
            return _Out(falls=self.expression(node, states))
        self.scan(node, literals=False)
        for literal in (n for n in syntax.walk(node) if syntax.is_function_literal(n)):
            if syntax.how_started(literal) == "call":
                self.opaque = True  # run in place inside an expression: not followed
        return _Out(falls=self.apply_calls(node, set(states)))

    def expression(self, node: Node, states: set[PathLocks]) -> set[PathLocks]:
        call = lock_statement(self.source, node)
        if call is not None:
            found = self.identity(call)
            if found is None:
                return set(states)
            if call.method in TRY_METHODS:
                self.unknown.add(found)
                return set(states)
            delta = 1 if call.acquires else -1
            return {p.locked(found, delta) for p in states}
        expression = syntax.expression_of(node)
        expression = syntax.unparen(expression) if expression is not None else None
        if expression is not None and syntax.is_call(expression):
            kind = self.control.exit_kind(self.source, expression, self.tests)
            if kind is not None and kind is not self.control.ExitKind.RETURN:
                return set()  # the path ends here
            literal = self.closure(expression)
            if literal is not None:
                self.scan(syntax.call_arguments_node(expression))
                effects = self.literal_effects(literal)
                if effects is None:
                    self.opaque = True
                    return set(states)
                result = set(states)
                for found, delta in effects.items():
                    result = {p.locked(found, delta) for p in result}
                return result
        self.scan(node)
        return self.apply_calls(node, set(states))

    def defer(self, node: Node, states: set[PathLocks]) -> set[PathLocks]:
        call = syntax.call_of(node)
        if call is None or not syntax.is_call(call):
            return set(states)
        found_call = lock_call(self.source, call)
        if found_call is not None:
            found = self.identity(found_call)
            if found is None:
                return set(states)
            if found_call.method in TRY_METHODS:
                self.unknown.add(found)
                return set(states)
            releases = 1 if found_call.releases else -1
            return {p.deferring(found, releases) for p in states}
        literal = self.closure(call)
        if literal is not None:
            effects = self.literal_effects(literal)
            if effects is None:
                self.opaque = True
                return set(states)
            result = set(states)
            for found, delta in effects.items():
                result = {p.deferring(found, -delta) for p in result}
            return result
        followed = self.effects_of(call, deferred=True)
        if followed is not None:
            self.scan(node)
            result = set(states)
            for found, change in followed.items():
                if change is None:
                    self.unknown.add(found)
                else:
                    result = {p.deferring(found, -change) for p in result}
            return result
        if self.may_release_unseen(call):
            self.opaque = True
        self.scan(node)
        return set(states)

    def if_statement(self, node: Node, states: set[PathLocks]) -> _Out:
        out = _Out()
        init = syntax.init_statement(node)
        if init is not None:
            first = self.statement(init, states)
            states = first.falls
        self.scan(syntax.condition(node))
        states = self.apply_calls(syntax.condition(node), states)
        condition = syntax.condition(node)
        spelled = self.source.text(condition).strip() if condition is not None else b""
        then, otherwise = syntax.then_branch(node), syntax.else_branch(node)
        if then is not None and spelled != b"false":
            step = self.statement(then, states)
            out.take(step)
            out.falls |= step.falls
        if spelled != b"true":
            if otherwise is not None:
                step = self.statement(otherwise, states)
                out.take(step)
                out.falls |= step.falls
            else:
                out.falls |= states
        return out

    def loop(self, node: Node, states: set[PathLocks]) -> _Out:
        out = _Out()
        for part in node.named_children:
            if not syntax.same_node(part, syntax.body(node)):
                self.scan(part)
        body = syntax.body(node)
        seen = set(states)
        current = set(states)
        for _ in range(_MAX_LOOP_ROUNDS):
            step = self.statement(body, current) if body is not None else _Out(falls=set(current))
            again = set(step.falls)
            for jump, reached in step.jumps.values():
                target = self.control.jump_target(jump)
                if syntax.same_node(target, node) and syntax.is_continue(jump):
                    again |= reached
                elif syntax.same_node(target, node) and syntax.is_break(jump):
                    out.falls |= reached
                else:
                    out.jump(jump, reached)
            new = again - seen
            if not new:
                break
            seen |= new
            current = new
        else:
            self.failed = True
        if syntax.has_loop_header(node):
            out.falls |= seen  # the condition may fail, or the range end, at any turn
        return out

    def cases(self, node: Node, states: set[PathLocks]) -> _Out:
        out = _Out()
        init = syntax.init_statement(node) if syntax.is_switch(node) else None
        if init is not None:
            states = self.statement(init, states).falls
        clauses = syntax.switch_cases(node)
        for part in node.named_children:
            if part not in clauses and not syntax.same_node(part, init):
                self.scan(part)
                states = self.apply_calls(part, states)
        carried: set[PathLocks] = set()
        for clause in clauses:
            for part in clause.named_children:
                if part not in syntax.statements(clause):
                    self.scan(part)
            step = self.sequence(syntax.statements(clause), states | carried)
            carried = set()
            out.falls |= step.falls
            for jump, reached in step.jumps.values():
                if syntax.is_fallthrough(jump):
                    carried |= reached
                elif syntax.is_break(jump) and syntax.same_node(self.control.jump_target(jump), node):
                    out.falls |= reached
                else:
                    out.jump(jump, reached)
        if syntax.is_switch(node) and not any(syntax.is_default_clause(c) for c in clauses):
            out.falls |= states  # no case matches
        return out


def follow_locks(source, function: Node, calls: CallEffects | None = None) -> LockFlow | None:
    """The lock states of ``function``'s paths (None: a goto, or too many paths). With
    ``calls``, what a call does to the caller's locks is asked of it (the package's lock
    chains follow calls of its own functions this way)."""
    follower = _Follower(source, function, calls)
    follower.run()
    if follower.failed:
        return None
    exits = [ExitLocks(node, tuple(sorted(states, key=_state_order))) for node, states in follower.exits.values()]
    exits.sort(key=lambda e: e.node.start_byte if syntax.is_return(e.node) else e.node.end_byte)
    before = {key: tuple(sorted(states, key=_state_order)) for key, states in follower.before.items()}
    return LockFlow(exits, before, frozenset(follower.unknown), follower.identities, follower.opaque)


def _ancestors_within(node: Node, top: Node) -> list[Node]:
    """The nodes between ``node`` and ``top`` (both left out)."""
    found: list[Node] = []
    if node == top:
        return found
    for parent in syntax.ancestors(node):
        if parent == top:
            break
        found.append(parent)
    return found


def _state_order(state: PathLocks) -> tuple:
    return (sorted(state.held), sorted(state.deferred))



# -- sync.WaitGroup -------------------------------------------------------------------

WAITGROUP_METHODS = frozenset({b"Add", b"Done", b"Wait"})


def waitgroup_call(source, operand: Node) -> tuple[bytes, Node] | None:
    """For `operand.Add(…)`, `operand.Done()` or `operand.Wait()`: (the method, the call)."""
    name = syntax.method_called_on(operand)
    if name is None or name.parent is None or name.parent.parent is None:
        return None
    method = source.text(name)
    return (method, name.parent.parent) if method in WAITGROUP_METHODS else None


def states_waitgroup(source, declaration) -> bool:
    """The source says this variable (a scope Declaration) is a WaitGroup: its stated type
    is `WaitGroup` or `*WaitGroup` (any package), or it is set from `…WaitGroup{}` or
    `new(sync.WaitGroup)`."""
    if declaration.type_node is not None:
        return source.text(declaration.type_node).lstrip(b"*").split(b".")[-1] == b"WaitGroup"
    if declaration.value is not None:
        text = b"".join(source.text(declaration.value).split())
        return text.endswith((b"WaitGroup{}", b"(sync.WaitGroup)"))
    return False
