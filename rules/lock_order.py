"""lock-order: two locks the package takes in one order on one path and in the
other order on another (AB-BA)."""

from __future__ import annotations

from typing import Iterable

from gofix_defer.codemods.analysis.lockchains import LockChains, OrderEdge, chain_text
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.model import Diagnostic, NoFix, Rule


class LockOrder(Rule):
    """
    ## What it does
    Finds two `sync.Mutex` / `sync.RWMutex` locks that the package takes in
    opposite orders: somewhere `B` is taken while `A` is held, elsewhere `A`
    while `B` is held, directly or down a chain of the package's calls. A
    lock is known by where it lives, the type and field holding it
    (`Store.coalescedMu`, `Replica.raftMu`, `DeviceSet` for an embedded
    mutex), whatever variable reaches it, as a lock-order checker such as
    the kernel's lockdep does. A callee that releases the held lock before
    taking the other is not taking them in order. When both sides of one
    lock are read locks, a writer of it must exist in the package.

    ## Why is this bad
    Two goroutines, one holding `A` and waiting for `B`, the other holding
    `B` and waiting for `A`, wait for each other for ever, and so does
    everything that needs either lock (GoKer's Moby4951, Cockroach7504,
    Cockroach10214; Kubernetes30872 takes the same shape through interfaces).

    ## Example
    ```go
    func (d *DeviceSet) DeleteDevice(hash string) {
        d.Lock()
        defer d.Unlock()
        info := d.lookupDevice(hash)
        info.lock.Lock() // DeviceSet, then DevInfo.lock
        defer info.lock.Unlock()
        d.deleteDevice(info) // ... which unlocks d for a while and takes it back:
    }                        // DevInfo.lock, then DeviceSet
    ```

    ## Fix
    None: report only. The message names, for each order, where the first
    lock is taken, where the second is, and the calls in between; the fix
    is to agree on one order, or to release one lock before taking the
    other.

    ## Fix safety
    No fix is offered.

    Left alone: two values of one type (`a.mu` then `b.mu`, as a transfer
    between two accounts does: their order is the values', not the
    code's), a lock taken only as its value's last reference is dropped
    (`if atomic.AddInt32(&t.refs, -1) == 0 { t.mu.Lock() … }`: a goroutine
    holding the lock in the other order still holds a reference, so it is
    never the same value), locks whose type is not stated, and chains
    through interfaces or function values.
    """

    name = "lock-order"
    summary = "Two locks taken in opposite orders on two paths (AB-BA): two goroutines can deadlock"
    fix_availability = "never"
    opt_in = (
        "3 of 9 findings on Debian's Go sources were real deadlocks (precision/lock-chains.tsv): whether two"
        " orders can meet on the same two locks at once is program logic the rule cannot see"
    )
    triggers = (b"Lock()",)
    requires = (LockChains,)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        chains = source.facts(LockChains)
        path = getattr(source, "path", "")
        for one, other in chains.lock_order_cycles():
            here = one.second.chain[0]
            if here.path != path or not _both_block(chains, one, other):
                continue
            a, b = one.classes
            message = (
                f"lock order: {a.spelled()} then {b.spelled()} here ({_order(one)}), "
                f"but {b.spelled()} then {a.spelled()} in {other.function.name.decode()} ({_order(other)}): "
                "two goroutines taking them in opposite orders wait for each other for ever"
            )
            yield self.diagnostic(here.node, NoFix("agree on one order, or release one lock before taking the other").annotate(message))


RULE = LockOrder()


def _order(edge: OrderEdge) -> str:
    first, second = edge.first.site, edge.second.lock_site
    through = f" through {chain_text(edge.second.chain)}" if len(edge.second.chain) > 1 else ""
    return f"{first.text()} at {first.where()}, then {second.text()} at {second.where()}{through}"


def _both_block(chains: LockChains, one: OrderEdge, other: OrderEdge) -> bool:
    """Read locks on both sides of one mutex block only when a writer waits: there must be one."""
    for held, taken in ((one.first, other.second), (other.first, one.second)):
        if held.method == b"RLock" and taken.method == b"RLock":
            if held.cls is None or not chains.writers(held.cls):
                return False
    return True
