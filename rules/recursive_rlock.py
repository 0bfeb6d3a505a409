"""recursive-rlock: a read lock taken again, through a call, by the goroutine that
holds it, on a RWMutex the package also write-locks."""

from __future__ import annotations

from typing import Iterable

from gofix_defer.codemods.analysis.lockchains import LockChains, chain_text
from gofix_defer.codemods.analysis.locks import lock_call
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.model import Diagnostic, NoFix, Rule


class RecursiveRLock(Rule):
    """
    ## What it does
    Finds a call made while the function holds a `sync.RWMutex` for reading
    (`RLock`, on every path to the call), to a function or method of the
    same package that takes the same lock for reading again (itself or down
    a chain of the package's calls), on the same value, when the package
    also takes that mutex for writing (`Lock`) somewhere. The call chain is
    followed as `double-lock` follows it.

    ## Why is this bad
    A `Lock` call waits for the readers to leave and, from then on, makes
    new `RLock` calls wait for it (so that writers are not starved). If a
    writer comes between the two `RLock`s, the second waits for the writer,
    the writer waits for the first, and the first is held by the goroutine
    that waits: all three block for ever. The sync documentation forbids
    recursive read locking for this reason. GoKer's Kubernetes62464 and
    Cockroach6181 (and Cockroach3710 through a lock order) have this shape.

    ## Example
    ```go
    func (s *state) GetOrDefault() {
        s.RLock()
        defer s.RUnlock()
        if ok := s.Get(); ok { // Get takes s.RLock() again
            return
        }
    }

    func (s *state) Set() {
        s.Lock() // a writer waiting here deadlocks both
        defer s.Unlock()
    }
    ```

    ## Fix
    None: report only. The usual fix is a `…Locked` variant of the callee
    that expects the read lock held, or releasing the lock before the call.
    The message names the first read lock, the second and the call chain
    between them, and a write lock of the same mutex.

    ## Fix safety
    No fix is offered.
    """

    name = "recursive-rlock"
    summary = "A read lock taken again, through a call, by the goroutine holding it, while a writer may wait: deadlock"
    fix_availability = "never"
    triggers = (b"RLock()",)
    requires = (LockChains,)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        chains = source.facts(LockChains)
        seen: set[tuple[int, int]] = set()
        for found in chains.double_locks(source):
            if found.held.method != b"RLock" or found.again.method != b"RLock":
                continue
            cls = found.held.cls
            writers = chains.writers(cls) if cls is not None and cls.rw else []
            if not writers:
                continue  # no writer in the package: two read locks do not block
            key = (found.call.node.start_byte, found.held.site.node.start_byte)
            if key in seen:
                continue
            seen.add(key)
            call = lock_call(found.held.site.source, found.held.site.node)
            lock = b"".join(call.receiver.split()).decode() if call is not None else "the lock"
            held, again, writer = found.held.site, found.again.lock_site, writers[0]
            message = (
                f"{lock} is read-locked again while this goroutine holds it for reading: {held.text()} at {held.where()}, "
                f"then {again.text()} at {again.where()} through {chain_text(found.again.chain)}; "
                f"a writer waiting in between ({writer.text()} at {writer.where()}) blocks the second RLock while it waits for the first: deadlock"
            )
            yield self.diagnostic(found.call.node, NoFix("take the lock once, or call a variant that expects it held").annotate(message))


RULE = RecursiveRLock()
