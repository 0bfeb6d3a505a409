"""deferred-unblock: a lock taken in a block and released at its end, with an exit
in between (return, break, continue) that leaves without releasing it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator, NamedTuple

from tree_sitter import Node

from gofix_defer.codemods.analysis import control, syntax
from gofix_defer.codemods.analysis.index import FunctionInfo, PackageIndex
from gofix_defer.codemods.analysis.lockchains import LockChains
from gofix_defer.codemods.analysis.locks import ACQUIRE_OF, RELEASE_OF, EventKind, LockFlow, LockId, Locks, lock_call, lock_statement
from gofix_defer.codemods.analysis.nodeindex import calls_named, nodes_of_types, own_descendants
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.edits.insertion import delete_line, insert_after, insert_before
from gofix_defer.codemods.model import Applicability, Diagnostic, Fix, NoFix, Rule

# Names of functions whose job may be to return holding a lock for the caller.
_ACQUIRING_NAME = re.compile(rb"(?i)lock|acquire|grab|hold|enter|begin")
_ERROR_CONSTRUCTORS = frozenset({b"errors.New", b"fmt.Errorf"})
# Names of functions the package does not declare whose job may be to release a lock.
_RELEASING_NAME = re.compile(rb"(?i)unlock")


class _Lock(NamedTuple):
    """`X.M()` as a statement: M a lock or unlock method, X a name or field path."""

    receiver: bytes  # X
    method: bytes  # Lock, RLock, Unlock or RUnlock


@dataclass
class _Pair:
    lock: Node  # the `X.Lock()` statement
    unlock: Node  # the matching `X.Unlock()` statement later in the same block
    receiver: bytes  # X
    release: bytes  # b"Unlock" or b"RUnlock"
    block: Node


@dataclass(frozen=True)
class _HandsOver:
    """The function may return holding the lock by design: it is named for acquiring, or
    a caller unlocks after calling it. No evidence of a bug, so no report."""

    why: str


class DeferredUnblock(Rule):
    """
    ## What it does
    Finds `X.Lock()` (or `X.RLock()`) followed, in the same block, by the
    matching `X.Unlock()` (or `X.RUnlock()`), where a `return`, `break` or
    `continue` in between leaves the block on a path that never released
    the lock. This is GFix's second strategy applied to locks: the
    unblocking operation that only some paths reach is added to the paths
    that miss it.

    ## Why is this bad
    A lock left held blocks every later `Lock` on it for ever: the next
    caller, and every goroutine behind it, leaks (Cockroach584, Etcd5509,
    gRPC 3017 and Moby 17176 in GoBench).

    ## Example
    ```go
    func (g *gossip) bootstrap() {
        for {
            g.mu.Lock()
            if g.closed {
                break // leaves the loop holding g.mu
            }
            g.mu.Unlock()
        }
    }
    ```

    ## Fix
    When the lock is taken in the function's own body and only a return of
    plain values follows the final unlock, the unlock is deferred right
    after the lock and the explicit unlocks of this pair are removed, so
    every path (panics included) unlocks exactly once:
    ```go
    d.Lock()
    defer d.Unlock()
    if d.deleted == 0 {
        return nil
    }
    ```
    Inside a loop body (where a `defer` would hold the lock until the
    function returns), the lock is released on the path that misses it,
    just before the exit:
    ```go
            if g.closed {
                g.mu.Unlock()
                break
            }
    ```

    ## Fix safety
    Safe where the path cannot be a deliberate hand-over of the lock to the
    caller: a `break`/`continue`, a `return` from a function with no
    results, a `return` of a non-nil error, or any `return` of a function
    whose callers in the same file never unlock after calling it. A
    function named for acquiring (lock, acquire, hold, …) or whose callers
    unlock after calling it is not reported at all: it hands the lock over
    by design, and a `break` out of a loop whose code after the loop
    releases the lock carries it out on purpose. The return's
    values must not read shared state (only literals, variables, and
    `errors.New`/`fmt.Errorf` of those), since they are now evaluated
    after the unlock. Otherwise the finding is reported without a fix.
    Left alone: paths that already unlock, locks released by `defer`,
    blocks that lock or unlock the same lock again in between, and exits
    reached after a call that may release the lock (a function of the
    package whose own code releases a lock of that name, deferred or not,
    or an outside function named for unlocking).
    """

    name = "deferred-unblock"
    summary = "A lock is released at the end of its block, but an early exit leaves it held"
    fix_availability = "sometimes"
    applicability = Applicability.SAFE
    triggers = (b"Unlock()",)
    requires = (Locks, PackageIndex, LockChains)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        for function in nodes_of_types(source, syntax.FUNCTION_KINDS):
            body = syntax.function_body(function)
            # A cheap byte test first: most functions release no lock.
            if body is None or b"Unlock()" not in source.text(function):
                continue
            for block in own_descendants(source, body, syntax.BLOCK_KINDS):
                for pair in _pairs(source, block):
                    yield from self._check_pair(source, function, pair)

    def _check_pair(self, source: SourceFile, function: Node, pair: _Pair) -> Iterator[Diagnostic]:
        between = _statements_between(pair)
        if any(_touches_lock_elsewhere(source, s, pair) for s in between):
            return
        flow = source.facts(Locks).flow(function)
        if flow is None:
            return  # a goto, or too many paths: what each exit holds is not known
        lock_call = lock_statement(source, pair.lock)
        lock = flow.identity(lock_call) if lock_call is not None else None
        if lock is None or not flow.before(pair.lock) or not flow.known(lock):
            return  # dead code, or a lock used in ways the paths do not follow
        exits = [e for s in between for e in _exits(s, pair.block)]
        held = [e for e in exits if not _released_before(source, e, pair) and not _carried_out(source, function, e, pair)]
        if any(syntax.is_goto(e) or syntax.jump_label(e) is not None for e in held):
            return  # a labelled jump: where it lands is beyond this analysis
        # Only exits whose every path still holds the lock once the defers ran (a return),
        # or holds it once more than where the jump lands (a break or continue): an exit a
        # deferred unlock covers, or one that carries the state of an unlock/relock dance,
        # is no leak, and an unlock added there would release a lock not held.
        held = [e for e in held if _exit_holds(flow, lock, e)]
        # A call on the way (a helper that unlocks, or a deferred one) may release the lock
        # the paths above count as held: then the exit may leave nothing held, and an
        # unlock added there would crash.
        held = [e for e in held if not _released_by_call(source, function, e, pair)]
        exits = [e for e in exits if flow.before(e)]  # exits in dead branches are no paths
        lock_text = f"{pair.receiver.decode()}.{ACQUIRE_OF[pair.release].decode()}()"
        release_text = f"{pair.receiver.decode()}.{pair.release.decode()}()"
        release = pair.receiver + b"." + pair.release + b"()"
        verdicts = {e.start_byte: _verdict(source, function, e) for e in held}
        # A function named for acquiring, or whose callers unlock after it, returns
        # holding the lock by design: that is no evidence of a bug, so no report.
        held = [e for e in held if not isinstance(verdicts[e.start_byte], _HandsOver)]
        deferred = None
        if held and all(v is None for v in verdicts.values()) and _only_pair_touches(source, function, flow, lock, pair):
            deferred = _defer_fix(source, function, pair, exits, release, release_text)
        for exit_node in held:
            keyword = source.text(exit_node).split(None, 1)[0].decode()
            message = f"{keyword} leaves the block holding {pair.receiver.decode()} (locked by {lock_text}, released only at the end by {release_text})"
            if deferred is not None:
                yield self.diagnostic(exit_node, f"{message}; defer {release_text} after locking", deferred)
                continue
            blocker = verdicts[exit_node.start_byte]
            fix = blocker if isinstance(blocker, NoFix) else _release_before_exit(source, exit_node, keyword, release, release_text)
            if isinstance(fix, Fix):
                yield self.diagnostic(exit_node, f"{message}; call {release_text} first", fix)
            else:
                yield self.diagnostic(exit_node, fix.annotate(message))


RULE = DeferredUnblock()


# -- lock / unlock pairs -------------------------------------------------------------


def _lock(source: SourceFile, statement: Node | None) -> _Lock | None:
    """`X.M()` as a statement, M a lock or unlock method (not TryLock), X a plain name
    or field path, written without parentheses around the call or `X.M`, nor a comment
    between its parentheses."""
    call = lock_statement(source, statement)
    if call is None or not (call.acquires or call.releases) or not call.plain_path:
        return None
    if call.parenthesized or call.callee_parenthesized or call.commented:
        return None
    return _Lock(source.text(syntax.unparen(call.operand)), call.method)


def _pairs(source: SourceFile, block: Node) -> Iterator[_Pair]:
    items = syntax.statements(block)
    for index, statement in enumerate(items):
        call = _lock(source, statement)
        if call is None or call.method not in RELEASE_OF:
            continue
        release = RELEASE_OF[call.method]
        for later in items[index + 1 :]:
            other = _lock(source, later)
            if other is not None and other.receiver == call.receiver:
                if other.method == release:
                    yield _Pair(statement, later, call.receiver, release, block)
                break


def _statements_between(pair: _Pair) -> list[Node]:
    items = syntax.statements(pair.block)
    return items[items.index(pair.lock) + 1 : items.index(pair.unlock)]


def _mentions_lock_call(source: SourceFile, node: Node, pair: _Pair) -> list[Node]:
    found = []
    for inner in syntax.walk(node):
        if syntax.is_expression_statement(inner):
            call = _lock(source, inner)
            if call is not None and call.receiver == pair.receiver:
                found.append(inner)
        elif (syntax.is_defer(inner) or syntax.is_go(inner)) and pair.receiver + b"." in source.text(inner):
            found.append(inner)
    return found


def _touches_lock_elsewhere(source: SourceFile, statement: Node, pair: _Pair) -> bool:
    """True when the lock is taken or released in ways other than `X.Unlock()` right
    before an exit (those are the paths that already release it)."""
    for use in _mentions_lock_call(source, statement, pair):
        call = _lock(source, use)
        if call is None or call.method != pair.release:
            return True
        following = syntax.next_statement(use)
        if not (syntax.is_return(following) or syntax.is_break(following) or syntax.is_continue(following)):
            return True
    return False


def _exits(statement: Node, block: Node) -> list[Node]:
    """Returns, gotos, and breaks/continues inside ``statement`` that leave ``block``
    (labelled ones all: the caller leaves them alone)."""
    found = []
    for node in syntax.walk_no_funcs(statement):
        if syntax.is_return(node) or syntax.is_goto(node):
            found.append(node)
        elif syntax.is_break(node) or syntax.is_continue(node):
            if syntax.jump_label(node) is not None:
                found.append(node)
                continue
            target = control.unlabelled_target(node)
            if target is None or not syntax.is_inside(target, block):
                found.append(node)
    return found


def _carried_out(source: SourceFile, function: Node, exit_node: Node, pair: _Pair) -> bool:
    """A break that leaves the loop holding the lock on purpose: code after the loop
    releases it (`break` out of a retry loop, then `defer X.Unlock()`)."""
    if not syntax.is_break(exit_node):
        return False
    loop = control.innermost_loop(exit_node)
    if loop is None:
        return False
    releases = (pair.receiver + b"." + pair.release + b"(", pair.receiver + b".Unlock(", pair.receiver + b".RUnlock(")
    for node in syntax.walk_no_funcs(syntax.function_body(function)):
        if node.start_byte >= loop.end_byte and (syntax.is_expression_statement(node) or syntax.is_defer(node)):
            if any(r in source.text(node) for r in releases):
                return True
    return False


def _exit_holds(flow: LockFlow, lock: LockId, exit_node: Node) -> bool:
    """Does every path reaching ``exit_node`` leave holding ``lock`` one time too many?

    A return: once the defers ran, each path still holds it (and an added unlock
    releases a lock the path took). A break or continue: each path holds it once more
    than the paths that reach the statement it leaves or resumes (the lock state the
    loop or switch is entered with), comparing the cleanest paths of each. Paths not
    known, or that disagree: no."""
    paths = flow.before(exit_node)
    if not paths:
        return False  # a dead branch: not a path
    if syntax.is_return(exit_node):
        return all(p.holds(lock) >= 1 and p.after_defers(lock) >= 1 for p in paths)
    target = control.jump_target(exit_node)
    entry = flow.before(target) if target is not None else ()
    if not entry:
        return False
    # In a loop that leaks, later turns reach the jump (and the loop around it) holding
    # more: the fewest on each side is what one turn adds.
    return min(p.holds(lock) for p in paths) == min(p.holds(lock) for p in entry) + 1


def _only_pair_touches(source: SourceFile, function: Node, flow: LockFlow, lock: LockId, pair: _Pair) -> bool:
    """The lock is taken, released and deferred in the function by this pair alone (and
    the unlocks just before its exits), and not held when the pair takes it: deferring the
    pair's unlock then changes nothing else."""
    if any(p.holds(lock) or p.defers(lock) for p in flow.before(pair.lock)):
        return False
    ours = {pair.lock.start_byte, pair.unlock.start_byte}
    for event in source.facts(Locks).events(function):
        if flow.identity(event.lock) != lock or event.statement.start_byte in ours:
            continue
        following = syntax.next_statement(event.statement)
        if event.kind is EventKind.UNLOCK and following is not None and syntax.is_inside(following, pair.block):
            if syntax.is_return(following) or syntax.is_break(following) or syntax.is_continue(following):
                continue  # the release just before an exit, which the fix removes
        return False
    return True


def _released_by_call(source: SourceFile, function: Node, exit_node: Node, pair: _Pair) -> bool:
    """Does a call the exit's paths may run release the pair's lock: a call between the
    lock and the exit (the exit's own values included), or the call of a defer
    registered before the exit? The lock flow does not follow calls, so a helper that
    unlocks (`s.unlockAndFail()`) leaves the lock counted as held."""
    body = syntax.function_body(function)
    for node in syntax.walk_no_funcs(body):
        if node.start_byte >= exit_node.end_byte:
            break
        if syntax.is_defer(node):
            call = syntax.call_of(node)
            if call is not None and syntax.is_call(call) and _may_release(source, call, pair):
                return True
        elif syntax.is_call(node) and node.start_byte >= pair.lock.end_byte and _may_release(source, node, pair):
            return True
    return False


def _may_release(source: SourceFile, call: Node, pair: _Pair) -> bool:
    """A call that is no lock method call of its own and may release the pair's lock: a
    function or method of the package (by name) whose own code releases a lock of the
    same field (or changes one on some paths only, or does what cannot be followed), or
    a function the package does not declare named for unlocking."""
    if lock_call(source, call) is not None:
        return False  # the lock flow counts these itself
    name_node = syntax.callee_name(call)
    if name_node is None:
        return False
    name = source.text(name_node)
    candidates = _declared_named(source, name, method=syntax.selector_call(call) is not None)
    if not candidates:
        return _RELEASING_NAME.search(name) is not None
    chains = source.facts(LockChains)
    own = _field_path(pair.receiver)
    for info in candidates:
        effects = chains.effects(info)
        if effects is None:
            return True  # its locks cannot be followed
        for ref, change in effects.items():
            if (change is None or change < 0) and _same_field(ref, own, pair.receiver):
                return True
    return False


def _declared_named(source: SourceFile, name: bytes, *, method: bool) -> list[FunctionInfo]:
    """The package's functions called ``name`` and, for `x.name(…)`, its methods of that
    name on any type."""
    index = source.facts(PackageIndex)
    return index.callables_named(name) if method else index.functions_named(name)


def _field_path(receiver: bytes) -> bytes:
    """`.mu` for `s.mu`, `.conn.mu` for `s.conn.mu`, `` for `mu`."""
    root = re.split(rb"[.\[]", receiver, maxsplit=1)[0]
    return receiver[len(root) :]


def _same_field(ref: tuple, own: bytes, receiver: bytes) -> bool:
    """Could a callee's lock reference (its receiver's or a parameter's field path, or a
    package variable) be the pair's lock? Its field path ends the pair's."""
    if ref and ref[0] == "global":
        return bool(receiver.endswith(ref[1]))
    suffix = ref[-1] if ref else b""
    return isinstance(suffix, bytes) and own.endswith(suffix)


def _released_before(source: SourceFile, exit_node: Node, pair: _Pair) -> bool:
    call = _lock(source, syntax.previous_statement(exit_node))
    return call is not None and call.receiver == pair.receiver and call.method == pair.release


# -- is the fix right? ------------------------------------------------------------


def _release_before_exit(source: SourceFile, exit_node: Node, keyword: str, release: bytes, release_text: str) -> Fix | NoFix:
    """`X.Unlock()` inserted just before the exit that misses it."""
    edit = insert_before(source, exit_node, [release])
    if edit is None:
        return NoFix(f"the {keyword} does not start its own line")
    return Fix(f"Call {release_text} before the {keyword}", (edit,), Applicability.SAFE)


def _defer_fix(source: SourceFile, function: Node, pair: _Pair, exits: list[Node], release: bytes, release_text: str) -> Fix | None:
    """When the lock is taken in the function's own body: `defer X.Unlock()` right after
    the lock, and every explicit unlock of this pair removed (the final one and those
    just before exits), so each path, panics included, unlocks exactly once.

    Only when nothing but a return of lock-free values follows the final unlock: the
    deferred unlock then runs where the explicit one did, give or take evaluating those
    values. None when that does not hold: then each exit gets its own unlock."""
    if pair.block != syntax.function_body(function):
        return None
    items = syntax.statements(pair.block)
    after = items[items.index(pair.unlock) + 1 :]
    if after:
        if len(after) != 1 or not syntax.is_return(after[0]) or _values_read_shared_state(source, after[0]):
            return None
    removals = [pair.unlock] + [syntax.previous_statement(e) for e in exits if _released_before(source, e, pair)]
    edits = []
    for statement in removals:
        edit = delete_line(source, statement) if statement is not None else None
        if edit is None:
            return None
        edits.append(edit)
    insertion = insert_after(source, pair.lock, [b"defer " + release])
    if insertion is None:
        return None
    edits.append(insertion)
    return Fix(f"Defer {release_text} right after locking", tuple(edits), Applicability.SAFE)


def _values_read_shared_state(source: SourceFile, ret: Node) -> bool:
    """Does the return read anything but literals, variables and errors.New/fmt.Errorf of
    those? (Its values are evaluated after the unlock once the unlock is deferred.)"""
    return not all(_reads_no_shared_state(source, value) for value in syntax.return_values(ret))


def _verdict(source: SourceFile, function: Node, exit_node: Node) -> NoFix | _HandsOver | None:
    """May ``X.Unlock()`` be added on this exit's path? None: yes. A return may hand the
    lock to the caller on purpose; only when the function plainly does not is it fixed."""
    if not syntax.is_return(exit_node):
        return None
    if _values_read_shared_state(source, exit_node):
        return NoFix("the returned values would be read after the unlock")
    values = syntax.return_values(exit_node)
    if not values and syntax.result(function) is None:
        return None
    if values and _is_error_value(source, values[-1]):
        return None
    name = syntax.function_name(function)
    if name is None:
        return NoFix("the function may hand the lock to its caller")
    if _ACQUIRING_NAME.search(source.text(name)):
        return _HandsOver(f"{source.text(name).decode()} is named for acquiring")
    callers = calls_named(source, source.text(name))
    if not callers:
        return NoFix("no caller in this file shows whether the lock is handed over")
    if any(_unlocks_after(source, caller) for caller in callers):
        return _HandsOver("a caller unlocks after calling it")
    return None


def _reads_no_shared_state(source: SourceFile, value: Node) -> bool:
    value = syntax.unparen(value)
    if (
        syntax.is_identifier(value)
        or syntax.is_int_literal(value)
        or syntax.is_float_literal(value)
        or syntax.is_string_literal(value)
        or syntax.is_rune_literal(value)
    ):
        return True
    if syntax.is_call(value) and syntax.call_name(value, source.data) in _ERROR_CONSTRUCTORS:
        return all(_reads_no_shared_state(source, a) for a in syntax.call_arguments(value, with_comments=True))
    return False


def _is_error_value(source: SourceFile, value: Node) -> bool:
    value = syntax.unparen(value)
    if syntax.is_call(value):
        return syntax.call_name(value, source.data) in _ERROR_CONSTRUCTORS
    return syntax.is_identifier(value) and re.match(rb"(Err|err)", source.text(value)) is not None


def _unlocks_after(source: SourceFile, call: Node) -> bool:
    """Does the function holding ``call`` call an Unlock or RUnlock method after it?"""
    owner = syntax.enclosing_function(call)
    body = syntax.function_body(owner) if owner is not None else None
    if body is None:
        return False
    for node in syntax.walk_no_funcs(body):
        if syntax.is_call(node) and node.start_byte > call.start_byte:
            parts = syntax.selector_call(node)
            if parts is not None and source.text(parts[1]) in (b"Unlock", b"RUnlock"):
                return True
    return False
