"""double-lock: a call made holding a lock, to a function of the package that takes
the same lock again."""

from __future__ import annotations

from typing import Iterable

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.lockchains import DoubleLock, LockChains, Relock, Site, chain_text
from gofix_defer.codemods.analysis.locks import lock_call
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.edits.insertion import insert_after, insert_before
from gofix_defer.codemods.model import Applicability, Diagnostic, Fix, NoFix, Rule


class DoubleLocking(Rule):
    """
    ## What it does
    Finds a call made while the function holds a `sync.Mutex` or
    `sync.RWMutex` (on every path to the call), to a function or method of the
    same package that takes that same lock again, itself or further down a
    chain of calls the package declares, without releasing it first:
    `Lock` then `Lock`, `Lock` then `RLock`, `RLock` then `Lock`. (`RLock`
    twice is `recursive-rlock`.) The lock is the same when it is reached
    from the same variable: the callee's receiver or parameter is the
    caller's value (`m.mut` held, `m.notify()` takes `m.mut`), not another
    value of the same type.

    The call chain is followed through the package's functions, methods of
    the receiver, of parameters and of values whose type the source states
    (as `CallSummaries` resolves them, and locals set from `T{…}`, a field,
    a map or slice element, or a package function's result). Interfaces and
    function values are not followed, and nothing is reported about them.

    Within one function, it also finds a `Lock` statement reached holding
    that lock: on every path (`mu.Lock(); …; mu.Lock()`), or on the next
    turn of the loop it is a statement of, when a `continue` or the end of
    the body goes back to the top with the lock still held (a forgotten
    `Unlock` before `continue`, as in GoKer's Moby7559, or a
    `defer mu.Unlock()` in the loop, which runs only when the function
    returns). The lock must be the same mutex on every turn: a lock reached
    from a range variable, from a variable the loop moves on (`b = b.next`)
    or declared in the body is a new one each turn, and is left alone. So is
    a lock used as a signal, which another goroutine releases: an `Unlock`
    in a function literal or handed on as a value (`done(mu.Unlock)`), or
    `&mu` passed on. These are reported without a fix: whether to release
    the lock before the loop goes back, or not to take it again, depends on
    what the code after the loop expects to hold.

    ## Why is this bad
    Go's mutexes are not re-entrant: the second `Lock` waits for the first
    to be released, by the goroutine that is waiting. It blocks for ever,
    and every other user of the lock behind it (GoKer's Cockroach9935,
    Moby36114, Syncthing4829; Etcd6708 and Etcd10492 take the same shape
    through an interface and a function value).

    ## Example
    ```go
    func (l *logging) output() {
        l.mu.Lock()
        if err := l.createFile(); err != nil {
            l.exit(err) // exit takes l.mu too
        }
        l.mu.Unlock()
    }

    func (l *logging) exit(err error) {
        l.mu.Lock()
        defer l.mu.Unlock()
        ...
    }
    ```

    ## Fix
    When the callee takes the lock on every run (each step of the chain is
    a statement of its function's body, with no return before it) and the
    call is a statement of its own whose arguments are plain names or
    literals, release the lock around the call, as the upstream fix of
    Cockroach9935 did:
    ```go
        if err := l.createFile(); err != nil {
            l.mu.Unlock()
            l.exit(err)
            l.mu.Lock()
        }
    ```
    Otherwise the finding is reported without a fix.

    ## Fix safety
    Unsafe: the callee now runs outside the caller's critical section, so
    another goroutine may take the lock between the unlock and the callee's
    own lock, and between its return and the relock; whether the caller's
    invariants allow that is for a reader to decide (the other common fix is
    a `…Locked` variant of the callee that expects the lock held). As
    written, the path deadlocks on every run, so no working execution
    depends on it.

    Left alone: a callee that releases the lock before taking it again
    (`mu.Unlock(); …; mu.Lock()`), a call on another value of the same type,
    a value receiver or a by-value parameter (a copy of the mutex), a callee
    that takes the lock only under a condition on one of its parameters or
    on a lock-named flag (a re-entrancy guard), a callee reached through an
    interface or a function value, and locks of types not stated as
    `sync.Mutex` / `sync.RWMutex`.
    """

    name = "double-lock"
    summary = "A call made holding a lock, to a function that takes the same lock again: the goroutine deadlocks on its own lock"
    fix_availability = "sometimes"
    applicability = Applicability.UNSAFE
    triggers = (b"Lock()",)
    requires = (LockChains,)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        seen: set[tuple[int, int]] = set()
        for found in source.facts(LockChains).double_locks(source):
            if found.held.method == b"RLock" and found.again.method == b"RLock":
                continue  # recursive-rlock's
            key = (found.call.node.start_byte, found.held.site.node.start_byte)
            if key in seen:
                continue
            seen.add(key)
            held = found.held.site
            again = found.again.lock_site
            lock = _receiver(source, found)
            message = (
                f"{lock} is locked again while this goroutine holds it: {held.text()} at {held.where()}, "
                f"then {again.text()} at {again.where()} through {chain_text(found.again.chain)}; "
                "Go's mutexes are not re-entrant, so the goroutine blocks on its own lock for ever"
            )
            fix = _fix(source, found, lock)
            if isinstance(fix, NoFix):
                yield self.diagnostic(found.call.node, fix.annotate(message))
            else:
                yield self.diagnostic(found.call.node, message, fix)
        for relock in source.facts(LockChains).relocks(source):
            yield self.diagnostic(relock.site.node, _relock_message(relock))


RULE = DoubleLocking()


def _receiver(source: SourceFile, found: DoubleLock) -> str:
    return _spelled(found.held.site)


def _spelled(site: Site) -> str:
    call = lock_call(site.source, site.node)
    return b"".join(call.receiver.split()).decode() if call is not None else "the lock"


def _relock_message(relock: Relock) -> str:
    lock, held, again = _spelled(relock.held.site), relock.held.site, relock.site
    blocks = "Go's mutexes are not re-entrant, so the goroutine blocks on its own lock for ever"
    if relock.loop is None:
        message = (
            f"{lock} is locked again while this goroutine holds it: {held.text()} at {held.where()}, "
            f"then {again.text()} at {again.where()}, with no release between on any path; {blocks}"
        )
        reason = "which of the two lock calls is wrong is for the code to say"
    else:
        if not relock.ways_back:
            way = "the end of the loop body goes back"
        else:
            places = ", ".join(site.where() for site in relock.ways_back)
            way = f"the `continue` at {places} goes back" if len(relock.ways_back) == 1 else f"the `continue`s at {places} go back"
        if held.node == again.node:
            what = f"{again.text()} at {again.where()} is still held when {way} to the top, where it waits for itself"
        else:
            what = f"{held.text()} at {held.where()} is still held when {way} to the top, where {again.text()} at {again.where()} waits for it"
        message = f"{lock} is locked again on the loop's next turn while this goroutine still holds it: {what}; {blocks}"
        reason = "releasing the lock before the loop goes back changes what the rest of the function holds"
    return NoFix(reason).annotate(message)


def _fix(source: SourceFile, found: DoubleLock, lock: str) -> Fix | NoFix:
    if found.held.method != b"Lock":
        return NoFix("the lock is held for reading, and the callee waits for the readers to leave")
    if not found.certain:
        return NoFix("the callee takes the lock only on some of its paths")
    if not found.held_once:
        return NoFix("the lock is not held exactly once on every path to the call")
    statement = found.statement
    expression = syntax.expression_of(statement) if syntax.is_expression_statement(statement) else None
    if expression is None or syntax.unparen(expression) != found.call.node:
        return NoFix("the call is not a statement of its own")
    for argument in syntax.call_arguments(found.call.node, with_comments=True):
        value = syntax.unparen(argument)
        if not (syntax.is_identifier(value) or syntax.is_basic_literal(value) or syntax.is_string_literal(value)):
            return NoFix("an argument would be evaluated without the lock held")
    before = insert_before(source, statement, [lock.encode() + b".Unlock()"])
    after = insert_after(source, statement, [lock.encode() + b".Lock()"])
    if before is None or after is None:
        return NoFix("the call shares its line with other code")
    return Fix(f"Release {lock} around the call", (before, after), Applicability.UNSAFE)
