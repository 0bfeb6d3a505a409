"""Which locks are held at a point of a function, and which locks a piece of code takes.

``held_at(source, function, node)`` walks the statement lists from the body
of ``function`` (a declaration or a literal) down to ``node`` and replays the
lock statements that run before it on every path the syntax shows: `X.Lock()`
takes X, `X.Unlock()` releases it, `defer X.Unlock()` keeps it held to the
end of the function (``HeldLock.deferred``). A statement before ``node`` that
releases X somewhere inside (an `if` that unlocks and does not return) makes
X not held: only locks held on every path count. Function literals in
between are a boundary: a goroutine or callback holds nothing of its
parent's.

``LockId`` names a lock across functions: the package type whose value it
belongs to and the field path from there (`s.mu` with `s *Server` is
(Server, "mu"); `c.Lock()` on an embedded mutex of `c *Conn` is (Conn, "");
`t.a.mu` with `t.a` a `*Cache` is (Cache, "mu")), or, for a local variable,
the variable itself. ``LockFinder.acquired_in(source, node)`` lists the
locks a piece of code takes, directly or through the package's functions
and methods it calls (``CallSummaries``: a callee's acquisitions of its
receiver's fields, resolved against the stated type of the call's operand).
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.calls import CallSummaries
from gofix_defer.codemods.analysis.fieldchannels import FieldChannels, TypeResolver
from gofix_defer.codemods.analysis.locks import LockCall, lock_call, lock_statement
from gofix_defer.codemods.analysis.syntax import unparen, walk_no_funcs


@dataclass(frozen=True)
class LockId:
    owner: bytes  # the package type the lock belongs to; b"" for a local or package variable
    path: bytes  # the field path from a value of that type (b"" for the value itself)
    variable: tuple[str, int, int] | None = None  # a local: (file, declaration start, end)

    def describe(self) -> str:
        if not self.owner:
            return self.path.decode()
        return f"{self.owner.decode()}.{self.path.decode()}" if self.path else f"{self.owner.decode()} (its embedded mutex)"


@dataclass(frozen=True)
class HeldLock:
    lock: LockCall  # the Lock()/RLock() call
    statement: Node  # the lock statement
    deferred: Node | None  # the `defer X.Unlock()` statement that releases it, if any


def lock_id(resolver: TypeResolver, source, operand: Node) -> LockId | None:
    """What lock ``operand`` (the X of `X.Lock()`) is, across functions (None: unknown)."""
    chain: list[bytes] = []
    node = unparen(operand)
    while True:
        owner = resolver.type_name(node)
        if owner is not None:
            return LockId(owner, b".".join(reversed(chain)))
        if syntax.is_selector(node):
            parts = syntax.selector_parts(node)
            if parts is None:
                return None
            chain.append(source.text(parts[1]))
            node = unparen(parts[0])
            continue
        if syntax.is_identifier(node):
            decl = resolver.scopes.resolve(node)
            path = b".".join([source.text(node), *reversed(chain)])
            if decl is None:
                return LockId(b"", path)  # a package-level variable
            return LockId(b"", path, (getattr(source, "path", ""), decl.ident.start_byte, decl.ident.end_byte))
        return None


def held_at(source, function: Node, node: Node) -> list[HeldLock]:
    """The locks ``function``'s own code holds, on every path, when ``node`` runs."""
    body = syntax.function_body(function) if not syntax.is_function_literal(function) else syntax.body(function)
    if body is None or not syntax.is_inside(node, body):
        return []
    chain = [a for a in syntax.ancestors(node) if syntax.is_inside(a, body) or syntax.same_node(a, body)]
    if any(syntax.is_function_literal(a) for a in chain if not syntax.same_node(a, function)):
        return []
    lists = [a for a in reversed(chain) if syntax.holds_statements(a)]
    held: dict[bytes, HeldLock] = {}
    for statement_list in lists:
        own = next((s for s in syntax.statements(statement_list) if syntax.same_node(s, node) or syntax.is_inside(node, s)), None)
        if own is None:
            break
        for statement in syntax.statements(statement_list):
            if syntax.same_node(statement, own):
                break
            _replay(source, statement, held)
    return list(held.values())


def _replay(source, statement: Node, held: dict[bytes, HeldLock]) -> None:
    target = syntax.labeled_body(statement) if syntax.is_labeled(statement) else statement
    call = lock_statement(source, target) if target is not None else None
    if call is not None:
        if call.acquires and call.method in (b"Lock", b"RLock"):
            held[call.key] = HeldLock(call, target, None)  # type: ignore[arg-type]
        elif call.releases:
            held.pop(call.key, None)
        else:
            held.pop(call.key, None)  # TryLock: maybe taken, maybe not
        return
    if target is not None and syntax.is_defer(target):
        deferred = lock_call(source, syntax.call_of(target))
        if deferred is not None and deferred.releases and deferred.key in held:
            held[deferred.key] = HeldLock(held[deferred.key].lock, held[deferred.key].statement, target)
        return
    if not held:
        return
    for inner in walk_no_funcs(statement):
        found = lock_call(source, inner) if syntax.is_call(inner) else None
        if found is None or found.key not in held or not found.releases:
            continue
        if _then_leaves(source, inner):
            continue  # `if err != nil { mu.Unlock(); return err }`: that path is gone
        if any(syntax.is_defer(a) for a in syntax.ancestors(inner) if syntax.is_inside(a, statement) or syntax.same_node(a, statement)):
            continue  # a deferred unlock nested in a block: runs at the end
        held.pop(found.key, None)


def _then_leaves(source, call: Node) -> bool:
    """The unlock is followed, in its own statement list, by a return (or panic / jump out)."""
    from gofix_defer.codemods.analysis.control import terminates

    statement = syntax.statement_of(call)
    siblings = syntax.sibling_statements(statement)
    if not siblings:
        return False
    after = siblings[siblings.index(statement) + 1 :] if statement in siblings else []
    return bool(after) and (terminates(source, after[-1]) or syntax.is_jump(after[-1]))


class LockFinder:
    """The locks a piece of code takes, through the package's calls."""

    def __init__(self, fields: FieldChannels, summaries: CallSummaries):
        self.fields = fields
        self.summaries = summaries

    def acquired_in(self, source, function: Node, region: Node) -> list[tuple[LockId, Node]]:
        """(lock, where) for every lock ``region`` (code of ``function``, nested literals
        left out) takes: `X.Lock()` itself, or a call of a package function or method
        that takes a lock of its receiver (`s.flush()` where flush locks `s.mu`)."""
        resolver = self.fields.resolver(source, function)
        found: list[tuple[LockId, Node]] = []
        for node in walk_no_funcs(region):
            if not syntax.is_call(node):
                continue
            call = lock_call(source, node)
            if call is not None:
                if call.acquires:
                    identity = lock_id(resolver, source, call.operand)
                    if identity is not None:
                        found.append((identity, node))
                continue
            callee = resolver.callee(node)
            summary = self.summaries.of_info(callee) if callee is not None else None
            if summary is None or not summary.acquires or callee is None:
                continue
            found.extend(self._argument_locks(resolver, source, node, callee, summary.acquires))
            if callee.receiver_type is None:
                continue
            function_node = syntax.callee(node)
            parts = syntax.selector_parts(unparen(function_node)) if function_node is not None else None
            if parts is None:
                continue
            owner = resolver.type_name(parts[0])
            if owner != callee.receiver_type:
                continue
            for path in summary.acquires:
                if not path.startswith(b"#"):
                    found.append((LockId(owner, path), node))
        return found

    def _argument_locks(self, resolver: TypeResolver, source, call: Node, callee, acquires: set[bytes]) -> list[tuple[LockId, Node]]:
        """The locks a callee takes on the values it is handed (`handle(c)` where handle
        runs `c.Lock()` on its pointer parameter): the caller's arguments' locks."""
        found: list[tuple[LockId, Node]] = []
        arguments = syntax.call_arguments(call)
        for path in sorted(acquires):
            if not path.startswith(b"#") or not path[1:].isdigit():
                continue
            position = int(path[1:])
            if position >= len(arguments) or not syntax.parameter_is_pointer(callee.node, position):
                continue
            identity = lock_id(resolver, source, arguments[position])
            if identity is not None:
                found.append((identity, call))
        return found
