"""blocked-holding-lock: a send or receive on a struct's channel field, made while holding
a lock that every goroutine at the other end of the channel must take first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.callers import CallSites
from gofix_defer.codemods.analysis.calls import CallSummaries
from gofix_defer.codemods.analysis.control import enclosing_loops, terminates
from gofix_defer.codemods.analysis.fieldchannels import FieldChannels, FieldOp, FieldOpKind
from gofix_defer.codemods.analysis.goroutines import blocking_operation
from gofix_defer.codemods.analysis.held import HeldLock, LockFinder, LockId, held_at, lock_id
from gofix_defer.codemods.analysis.index import PackageIndex
from gofix_defer.codemods.analysis.lexical import SELECTOR_CHANNEL_OPERATION, names_called
from gofix_defer.codemods.analysis.lockchains import Site
from gofix_defer.codemods.analysis.locks import lock_statement
from gofix_defer.codemods.analysis.nodeindex import calls_named, nodes_of_types
from gofix_defer.codemods.analysis.scope import Scopes
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.edits.insertion import ends_line, insert_before, starts_line
from gofix_defer.codemods.model import Applicability, Diagnostic, Edit, Fix, NoFix, Rule, says

_PARTNERS = {
    FieldOpKind.SEND: (FieldOpKind.RECEIVE, FieldOpKind.RANGE),
    FieldOpKind.RECEIVE: (FieldOpKind.SEND, FieldOpKind.CLOSE),
}


class BlockedHoldingLock(Rule):
    """
    ## What it does
    Finds a send on, or a receive from, a channel held in a struct field
    (`s.ch`) made while the function holds a lock (`s.mu.Lock()` earlier,
    not yet released, or released by a `defer`), when every goroutine at
    the other end of the channel takes that same lock before it can get
    there: the receive (for a send) or the send or close (for a receive)
    runs with the lock held, or after the function it runs in took the lock,
    or in a loop, or a function called in a loop, that takes it each turn.

    The lock may also be a caller's: a function of the file that holds it
    calls, directly or through up to three calls of the file, the function
    that makes the operation (GoKer's Moby28462: `StateChanged` locks the
    container, and `CloseMonitorChannel` two calls down sends on an
    unbuffered channel). A call in a `go` or `defer` statement does not
    count, nor a chain through a function that spells an `Unlock`. Such a
    finding names the chain and has no fix: the lock is the caller's.

    The package is read as a whole: the methods of the type, its
    constructors, the functions the channel is passed to, and the locks the
    package's functions and methods take (their call summaries). Left alone:
    a channel some other package can reach, a use of `x.ch` whose `x` has
    no stated type, an operation inside a `select`, and a channel whose
    other end does not need the lock (it may serve the operation).

    ## Why is this bad
    The function waits for the other goroutine while holding the lock; the
    other goroutine waits for the lock before it can serve the channel.
    Neither moves again: a deadlock of both goroutines (GoKer's etcd#6873,
    kubernetes#10182, grpc#1460; kubernetes#1321, #6632 and moby#28462
    report only).

    ## Example
    ```go
    func (s *statusManager) SetPodStatus(status bool) {
        s.podStatusesLock.Lock()
        defer s.podStatusesLock.Unlock()
        s.podStatusChannel <- status // syncBatch takes podStatusesLock after each receive
    }
    ```

    ## Fix
    Release the lock before the channel operation, as the upstream fixes
    did:
    ```go
        s.podStatusesLock.Lock()
        s.podStatusesLock.Unlock()
        s.podStatusChannel <- status
    ```
    The `defer X.Unlock()` is replaced by an `X.Unlock()` just before the
    operation when the operation is the function's last statement (a bare
    `return` may follow) and no `return` comes between; an explicit
    `X.Unlock()` that follows the operation moves before it when the code in
    between does not touch the value the lock belongs to. No fix (report
    only) when the package ever sets the field to another channel or `nil`
    (reading it outside the lock could race), for a send when the package
    closes the channel (outside the lock the send could hit the close), or
    when the operation sits inside an expression.

    ## Fix safety
    Unsafe: the channel operation no longer happens under the lock, so
    state read under the lock may change before the value is handed over,
    and a panic between the `Lock` and the new `Unlock` no longer releases
    the lock. Opt in with `--unsafe-fixes`.
    """

    name = "blocked-holding-lock"
    summary = "Channel operation made while holding a lock the other end of the channel must take first"
    fix_availability = "sometimes"
    applicability = Applicability.UNSAFE
    triggers = (b"<-",)  # every send and receive spells it
    requires = (Scopes, PackageIndex, FieldChannels, CallSummaries, CallSites)

    def applies_to(self, source) -> bool:
        # The file takes a lock too (held_at sees only a function's own lock calls).
        return super().applies_to(source) and says(source, b"Lock()")

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        direct = _may_block_holding_a_lock(source) and _operation_under_lock(source)
        through = _blocking_callees_called_locking(source)
        if not direct and not through:
            return  # decided on this file alone: the package's facts are not needed
        fields = source.facts(FieldChannels)
        if not fields.channel_fields():
            return
        finder = LockFinder(fields, source.facts(CallSummaries))
        sites = source.facts(CallSites)
        for op in fields.ops_in(source):
            if op.kind not in _PARTNERS or op.in_select:
                continue
            found = self._check(source, fields, finder, sites, op) if direct else None
            if found is None and _declared_name(source, op.function) in through:
                found = self._check_through_callers(source, fields, finder, sites, op)
            if found is not None:
                yield found

    def _check(self, source: SourceFile, fields: FieldChannels, finder: LockFinder, sites: CallSites, op: FieldOp) -> Diagnostic | None:
        held = held_at(source, op.function, op.node)
        if not held or not _may_wait_for_ever(fields, op):
            return None
        wanted = _PARTNERS[op.kind]
        ops = fields.ops(op.type_name, op.field)
        partners = [p for p in ops if p.kind in wanted and not syntax.same_node(p.node, op.node)]
        closes_only = False
        if not partners and op.kind is FieldOpKind.SEND:
            # Nothing in the package receives: only a close can end the wait (with a panic).
            partners = [p for p in ops if p.kind is FieldOpKind.CLOSE]
            closes_only = True
        if not partners:
            return None
        resolver = fields.resolver(source, op.function)
        for lock in held:
            identity = lock_id(resolver, source, lock.lock.operand)
            if identity is None:
                continue
            reasons = [_needs(fields, finder, sites, partner, identity) for partner in partners]
            if any(r is None for r in reasons):
                continue
            what, channel = _described(source, op)
            held_line = source.line_col(lock.statement.start_byte)[0]
            more = f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""
            if closes_only:
                message = (
                    f"{what} {channel} waits while holding {source.text(lock.lock.operand).decode()} (locked on line {held_line}): "
                    f"nothing in the package receives from it, and the close that would end the wait needs the lock first: {reasons[0]}{more}"
                )
                return self.diagnostic(op.node, NoFix("no receiver to hand the value to; the close under the lock needs a redesign (a stop channel)").annotate(message), None)
            message = (
                f"{what} {channel} waits while holding {source.text(lock.lock.operand).decode()} (locked on line {held_line}), "
                f"which the other end needs first: {reasons[0]}{more}: a deadlock"
            )
            fix = self._fix(source, fields, op, lock)
            if isinstance(fix, NoFix):
                return self.diagnostic(op.node, fix.annotate(message), None)
            return self.diagnostic(op.node, message, fix)
        return None

    def _check_through_callers(self, source: SourceFile, fields: FieldChannels, finder: LockFinder, sites: CallSites, op: FieldOp) -> Diagnostic | None:
        """The operation's own function holds no lock, but a caller in the file calls it
        (or a function that calls it) holding one the other end needs first."""
        if held_at(source, op.function, op.node) or _spells_unlock(source, op.function) or not _may_wait_for_ever(fields, op):
            return None
        wanted = _PARTNERS[op.kind]
        partners: list[FieldOp] = []
        for partner in fields.ops(op.type_name, op.field):
            if partner.kind in wanted and not any(syntax.same_node(partner.node, n) for n in [op.node, *(p.node for p in partners)]):
                partners.append(partner)  # one receive reached two ways (a getter, an alias) counts once
        if not partners:
            return None
        for locked in _locking_callers(source, fields, op.function):
            lock = locked.lock
            identity = lock_id(fields.resolver(source, locked.holder), source, lock.lock.operand)
            if identity is None:
                continue
            reasons = [_needs(fields, finder, sites, partner, identity) for partner in partners]
            if any(r is None for r in reasons):
                continue
            what, channel = _described(source, op)
            held_line = source.line_col(lock.statement.start_byte)[0]
            calls = " → ".join(f"{Site(source, c).text()} (line {source.line_col(c.start_byte)[0]})" for c in locked.calls)
            more = f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""
            holder = _declared_name(source, locked.holder).decode() or "a function literal"
            message = (
                f"{what} {channel} waits while a caller holds {source.text(lock.lock.operand).decode()}: "
                f"{holder} locks it on line {held_line}, then calls {calls}; "
                f"the other end needs it first: {reasons[0]}{more}: a deadlock"
            )
            return self.diagnostic(op.node, NoFix("a caller holds the lock: release it before the call, or give the operation a stop channel").annotate(message), None)
        return None

    # -- the fix ----------------------------------------------------------------------
    def _fix(self, source: SourceFile, fields: FieldChannels, op: FieldOp, lock: HeldLock) -> Fix | NoFix:
        ops = fields.ops(op.type_name, op.field)
        if any(o.kind is FieldOpKind.SET for o in ops):
            return NoFix(f"the package sets {op.field.decode()} to another value, and reading it outside the lock could race")
        if op.kind is FieldOpKind.SEND and any(o.kind is FieldOpKind.CLOSE for o in ops):
            return NoFix("the package closes the channel: outside the lock the send could meet the close")
        operation = blocking_operation(source, op.node)
        if operation is None or not operation.standalone:
            return NoFix("the operation sits inside an expression")
        statement = operation.statement
        release = lock.lock.release_method or b"Unlock"
        unlock_line = source.text(lock.lock.operand) + b"." + release + b"()"
        if b"\n" in unlock_line:
            return NoFix("the lock's name spans several lines")
        insert = insert_before(source, statement, [unlock_line])
        if insert is None:
            return NoFix("the operation does not start its own line")
        if lock.deferred is not None:
            removal = self._without_deferred(source, op, lock, statement)
        else:
            removal = self._without_later_unlock(source, lock, statement)
        if isinstance(removal, NoFix):
            return removal
        return Fix(f"Release {source.text(lock.lock.operand).decode()} before the channel operation", (removal, insert), Applicability.UNSAFE)

    def _without_deferred(self, source: SourceFile, op: FieldOp, lock: HeldLock, statement: Node) -> Edit | NoFix:
        deferred = lock.deferred
        assert deferred is not None
        body = syntax.body(op.function)
        top = syntax.statements(body)
        if statement not in top or deferred not in top:
            return NoFix("the deferred unlock and the operation are not both in the function's own block")
        after = top[top.index(statement) + 1 :]
        if after and not (len(after) == 1 and syntax.is_return(after[0]) and not syntax.return_values(after[0])):
            return NoFix("code follows the operation, which the deferred unlock still covers")
        between = top[top.index(deferred) + 1 : top.index(statement)]
        for node in between:
            for inner in syntax.walk_no_funcs(node):
                if syntax.is_return(inner):
                    return NoFix("a return before the operation relies on the deferred unlock")
                if syntax.is_goto(inner) or (syntax.is_expression_statement(inner) and terminates(source, inner)):
                    return NoFix("a jump or panic before the operation relies on the deferred unlock")
        return _delete_line(source, deferred)

    def _without_later_unlock(self, source: SourceFile, lock: HeldLock, statement: Node) -> Edit | NoFix:
        siblings = syntax.sibling_statements(statement)
        if siblings is None:
            return NoFix("the operation is not a statement of a block")
        index = siblings.index(statement)
        root = syntax.root_identifier(lock.lock.operand)
        root_name = source.text(root) if root is not None else None
        for later in siblings[index + 1 :]:
            call = lock_statement(source, later)
            if call is not None and call.key == lock.lock.key and call.releases:
                return _delete_line(source, later)
            if root_name is not None and any(source.text(n) == root_name for n in syntax.identifiers(later)):
                return NoFix(f"the code between the operation and the unlock uses {root_name.decode()}")
            if any(syntax.is_return(n) or syntax.is_jump(n) for n in syntax.walk_no_funcs(later)):
                return NoFix("the code between the operation and the unlock may leave")
        return NoFix("no unlock follows the operation in its block")


def _may_block_holding_a_lock(source: SourceFile) -> bool:
    """Some function of the file both takes a lock and sends or receives: a cheap,
    necessary condition (held_at sees only a function's own lock calls), checked before
    the package's channel fields, which parse every file of the package."""
    return any(
        b"Lock()" in text and b"<-" in text for text in (source.text(f) for f in nodes_of_types(source, syntax.FUNCTION_KINDS))
    )


def _operation_under_lock(source: SourceFile) -> bool:
    """Does some send or receive of the file run while its function's own code holds a
    lock (held_at)? Only such an operation is ever reported (_check asks first), so
    without one the package's channel fields need not be computed."""
    for node in nodes_of_types(source, syntax.CHANNEL_OPERATION_KINDS):
        if syntax.is_send(node) or syntax.is_receive(node):
            function = syntax.enclosing_function(node)
            if function is not None and held_at(source, function, node):
                return True
    return False


RULE = BlockedHoldingLock()


def _may_wait_for_ever(fields: FieldChannels, op: FieldOp) -> bool:
    """The operation's channel is one the package alone can reach, unbuffered (a buffered
    one is a queue, a pool or a semaphore, whose protocol is its own), and no `x.f` of
    unknown type may be its other end."""
    if fields.escape(op.type_name, op.field) is not None or not fields.unbuffered(op.type_name, op.field):
        return False
    wanted = _PARTNERS[op.kind]
    return not any(u.kind in wanted for u in fields.unknown_owner(op.field))


def _described(source: SourceFile, op: FieldOp) -> tuple[str, str]:
    """("the send on" or "the receive from", the channel as written) for a message."""
    what = "the send on" if op.kind is FieldOpKind.SEND else "the receive from"
    return what, " ".join(source.text(op.expression).decode("utf-8", "replace").split())

_MAX_CALLERS = 3  # calls followed up from the operation to the caller holding the lock


def _declared_name(source: SourceFile, function: Node) -> bytes:
    """The name a declared function or method declares (b"" for a literal)."""
    name = syntax.function_name(function) if syntax.is_declared_function(function) else None
    return source.text(name) if name is not None else b""


def _spells_unlock(source: SourceFile, function: Node) -> bool:
    return b"Unlock" in source.text(function)


def _blocking_callees_called_locking(source: SourceFile) -> set[bytes]:
    """The names of the file's declared functions that send on or receive from a selector
    (`x.f <- v`, `<-x.f`) and are called, in the file, by a function that takes a lock,
    directly or through another function of the file: a cheap, necessary condition for
    an operation made while a caller holds a lock, read from the bytes alone."""
    declared = [f for f in nodes_of_types(source, syntax.DECLARED_FUNCTION_KINDS)]
    texts = {f: source.text(f) for f in declared}
    blockers = {_declared_name(source, f) for f in declared if SELECTOR_CHANNEL_OPERATION.search(texts[f]) is not None} - {b""}
    if not blockers:
        return set()
    called = {f: names_called(texts[f]) for f in declared}  # one scan per function, not one per name
    reached: dict[bytes, set[bytes]] = {name: {name} for name in blockers}  # caller name -> blockers it reaches
    for _ in range(_MAX_CALLERS - 1):
        for f in declared:
            name = _declared_name(source, f)
            for callee in called[f] & set(reached):
                if callee != name:
                    reached.setdefault(name, set()).update(reached[callee])
    found: set[bytes] = set()
    for f in declared:
        if b"Lock()" in texts[f]:
            for callee in called[f] & set(reached):
                if callee != _declared_name(source, f):
                    found |= reached[callee]
    return found


@dataclass(frozen=True)
class _LockedCall:
    holder: Node  # the function that holds the lock at the first call
    lock: HeldLock
    calls: tuple[Node, ...]  # the calls from the holder down to the operation's function


def _locking_callers(source: SourceFile, fields: FieldChannels, function: Node) -> list[_LockedCall]:
    """Calls in the file that reach ``function`` from a function holding a lock at the
    call, up to _MAX_CALLERS calls up. A call in a `go` or `defer` statement does not count
    (the lock is not held where it runs), nor a chain through a function that spells an
    Unlock (it may release the caller's lock before calling on)."""
    # A work list, not a recursive closure: a closure that calls itself is a reference
    # cycle, and it would keep the file's parse alive after the run.
    found: list[_LockedCall] = []
    pending: list[tuple[Node, tuple[Node, ...], int]] = [(function, (), 0)]
    while pending:
        callee, below, depth = pending.pop(0)
        name = _declared_name(source, callee)
        if not name or depth >= _MAX_CALLERS:
            continue
        for call in calls_named(source, name):
            caller = syntax.enclosing_function(call)
            if caller is None or any(syntax.is_go(a) or syntax.is_defer(a) for a in syntax.ancestors(call) if syntax.is_inside(a, caller)):
                continue
            resolved = fields.resolver(source, caller).callee(call)
            if resolved is None or resolved.source is not source or not syntax.same_node(resolved.node, callee):
                continue
            calls = (call, *below)
            held = held_at(source, caller, call)
            if held:
                found.extend(_LockedCall(caller, lock, calls) for lock in held)
            elif syntax.is_declared_function(caller) and not _spells_unlock(source, caller):
                pending.append((caller, calls, depth + 1))
    return found


def _delete_line(source: SourceFile, statement: Node) -> Edit | NoFix:
    if not (starts_line(source, statement) and ends_line(source, statement)):
        return NoFix("the unlock shares its line with other code")
    start = source.line_start(statement.start_byte)
    end = min(source.line_end(statement.end_byte) + 1, len(source.data))
    return Edit.delete(start, end)


def _needs(fields: FieldChannels, finder: LockFinder, sites: CallSites, partner: FieldOp, identity: LockId) -> str | None:
    """How the other end needs the lock before it can serve (None: it may not)."""
    where = f"line {partner.line}"
    resolver = fields.resolver(partner.source, partner.function)
    for held in held_at(partner.source, partner.function, partner.node):
        if lock_id(resolver, partner.source, held.lock.operand) == identity:
            return f"{where} runs with it held"
    body = syntax.body(partner.function)
    if body is None:
        return None
    taken = [node for found, node in finder.acquired_in(partner.source, partner.function, body) if found == identity]
    if not taken:
        return None
    if any(node.start_byte < partner.node.start_byte for node in taken):
        return f"{where} comes after it is taken (line {partner.source.line_col(taken[0].start_byte)[0]})"
    if any(syntax.is_defer(a) for a in syntax.ancestors(partner.node) if syntax.is_inside(a, partner.function)):
        return f"{where} is deferred after code that takes it"
    loops = enclosing_loops(partner.node)
    if partner.kind is FieldOpKind.RANGE:
        loops = [partner.node, *loops]  # `for v := range s.ch { … }`: its body runs between receives
    if any(syntax.is_inside(node, loop) for loop in loops for node in taken):
        return f"{where} is in a loop that takes it each turn"
    info = fields.index.named_entry(partner.source, partner.function)
    if info is not None:
        for site in sites.to(info):
            if enclosing_loops(site.call):
                return f"{where} is in a function called in a loop, and takes it before returning"
    return None
