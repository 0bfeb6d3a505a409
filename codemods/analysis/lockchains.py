"""Lock chains: which sync locks a function of the package takes, itself or through
the package's functions it calls, and which locks it holds meanwhile.

For every function and method of the package, an ``Acquisition`` lists each
`Lock()` / `RLock()` it runs on a `sync.Mutex` or `sync.RWMutex` (the field
or variable's stated type says so), directly or down a chain of calls the
package declares, with:

- the lock in the function's own terms (its receiver's field `r.mu`, a
  parameter's `p.mu`, a package variable; locals stay inside);
- its class, for lock order: the type and field that hold the mutex
  (`Store.coalescedMu`), whatever variable reaches it;
- whether it is *fresh* (no path of the function released that lock before,
  so a caller holding it deadlocks), *certain* (every step runs whenever
  the function does), or *guarded* (a step sits under a condition on a
  parameter or on a flag named for locking, as re-entrancy guards do);
- the caller locks released on the way (a callee that unlocks first and
  relocks, as `removeDeviceAndWait` does, takes the lock back knowingly);
- whether it is taken only as the value's last reference is dropped
  (`if atomic.AddInt32(&v.refs, -1) == 0 {`): no order edge is drawn to or
  from such a lock, since no other goroutine can still reach that value.

Calls are followed when the source says what they call: `f(x)`, `r.m(x)`,
`p.m(x)` for a parameter's stated type (as ``CallSummaries.resolve``), and
method calls on values whose type the source states or builds (locals set
from `T{…}`, `&T{…}`, `new(T)`, a field, a map or slice element, the result
of a package function). A method with a value receiver and a parameter
passed by value lock copies: they are not the caller's locks. Interfaces
and function values are not followed: nothing is said about them.

The lock state at each call is read from the function's paths
(``locks.follow_locks``), with what each followed callee does to the
caller's locks (a `unlock()` helper releases it): ``DoubleLock`` findings
are calls made holding a lock the callee takes again, fresh, on the same
instance; ``OrderEdge``s are "B taken while A is held", by class, from
which ``lock_order_cycles`` are two classes taken in both orders.
"""

from __future__ import annotations

import os
import re
import weakref
from dataclasses import dataclass, field

from tree_sitter import Node

from gofix_defer.codemods.analysis import control, syntax
from gofix_defer.codemods.analysis.access import Access, access
from gofix_defer.codemods.analysis.calls import CallSummaries
from gofix_defer.codemods.analysis.facts import PackageFact
from gofix_defer.codemods.analysis.index import Declarations, FunctionInfo, PackageIndex, ValueKind, value_kind
from gofix_defer.codemods.analysis.lexical import ANY_FIELD, lock_fields_taken, names_called
from gofix_defer.codemods.analysis.locks import LockCall, LockFlow, LockId, Locks, follow_locks, lock_call, lock_statement
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types, own_descendants
from gofix_defer.codemods.analysis.scope import Scopes
from gofix_defer.codemods.analysis.syntax import unparen, walk_no_funcs

MAX_CHAIN = 8  # calls followed down from one function
_GUARD_NAME = re.compile(rb"(?i)lock|held|hold")
_OUTSIDE = (-1, -1)

Ref = tuple  # ("recv", b".mu") | ("param", 0, b".mu") | ("global", b"mu")


@dataclass(frozen=True)
class Site:
    """A place in the package: a lock call, or a call of a package function."""

    source: object  # the SourceFile
    node: Node

    @property
    def path(self) -> str:
        return getattr(self.source, "path", "")

    @property
    def line(self) -> int:
        return self.source.line_col(self.node.start_byte)[0]  # type: ignore[attr-defined]

    def where(self) -> str:
        return f"{os.path.basename(self.path)}:{self.line}"

    def text(self) -> str:
        spelled = self.source.text(self.node).decode("utf-8", "replace")  # type: ignore[attr-defined]
        spelled = " ".join(spelled.split())
        return spelled if len(spelled) <= 60 else spelled[:57] + "..."


@dataclass(frozen=True)
class LockClass:
    """The mutex a lock is, whatever reaches it: the type holding it and the field path
    (`Store` / `coalescedMu`; `DeviceSet` / `` for an embedded mutex; `` / `mu` for a
    package variable)."""

    owner: bytes
    path: bytes
    rw: bool  # a sync.RWMutex

    def spelled(self) -> str:
        if not self.owner:
            return self.path.decode()
        return self.owner.decode() + ("." + self.path.decode() if self.path else "")


@dataclass(frozen=True)
class Acquisition:
    ref: Ref | None  # the lock in the function's own terms (None: a local of the function)
    lock: LockId  # the lock in the function's flow
    method: bytes  # Lock or RLock
    cls: LockClass | None
    fresh: bool
    certain: bool
    guarded: bool
    released: frozenset  # refs of caller locks released before it on some path
    chain: tuple[Site, ...]  # the calls from the function down, then the lock call
    last_reference: bool = False  # taken only when the value's last reference is dropped (no one else can hold it)

    @property
    def lock_site(self) -> Site:
        return self.chain[-1]


@dataclass(frozen=True)
class Held:
    """A lock every path holds at some point of a function, and where it was taken."""

    lock: LockId
    method: bytes  # Lock or RLock
    site: Site  # the lock call
    cls: LockClass | None
    last_reference: bool = False  # taken only when the value's last reference is dropped


@dataclass(frozen=True)
class DoubleLock:
    """A call made holding ``held`` to a function that takes the same lock again."""

    function: FunctionInfo
    call: Site  # the call in ``function``
    statement: Node  # the statement holding the call
    held: Held
    again: Acquisition  # in the callee's terms, mapped: chain starts with ``call``
    certain: bool  # the callee takes it whenever it is called (every step unconditional)
    held_once: bool  # every path holds it exactly once at the call


@dataclass(frozen=True)
class Relock:
    """A lock statement of a function that a path of the function's own code reaches
    holding that lock already: every path (`mu.Lock(); …; mu.Lock()`), or the loop the
    statement belongs to coming back to it (a `continue`, or the end of the body) with
    the lock still held."""

    function: FunctionInfo
    site: Site  # the lock call taken again
    statement: Node
    held: Held  # where the lock held was taken (on the loop's last turn: perhaps ``site`` itself)
    loop: Node | None  # the loop whose next turn takes it again (None: every path holds it)
    ways_back: tuple[Site, ...]  # the `continue`s that go back holding it (none: the end of the body)


@dataclass(frozen=True)
class OrderEdge:
    """``second`` taken (directly or down a chain) while ``first`` is held."""

    function: FunctionInfo
    first: Held
    second: Acquisition  # chain from ``function``

    @property
    def classes(self) -> tuple[LockClass, LockClass]:
        assert self.first.cls is not None and self.second.cls is not None
        return (self.first.cls, self.second.cls)


@dataclass
class FunctionLocks:
    """What one function does with locks: its acquisitions (own and through calls), what
    it leaves its callers holding, and the double locks and order edges found in it."""

    info: FunctionInfo
    flow: LockFlow | None
    acquisitions: list[Acquisition] = field(default_factory=list)
    effects: dict = field(default_factory=dict)  # Ref -> net count change left to the caller (None: varies)
    doubles: list[DoubleLock] = field(default_factory=list)
    relocks: list[Relock] = field(default_factory=list)
    edges: list[OrderEdge] = field(default_factory=list)
    locks_nothing: bool = False  # neither it nor anything it calls touches a lock


class LockChains(PackageFact):
    """Lock acquisitions through the package's calls, double locks, and lock order."""

    requires = (PackageIndex, CallSummaries, Scopes, Locks)

    def __init__(self, package) -> None:
        super().__init__(package)
        self.index = package.facts(PackageIndex)
        self.summaries = package.facts(CallSummaries)
        self._analyses: dict[tuple[str, int, int], _Analysis] = {}
        self._acquisitions: dict[tuple[str, int, int], list[Acquisition]] = {}
        self._effects: dict[tuple[str, int, int], dict | None] = {}
        self._busy: set[tuple[str, int, int]] = set()
        self._all: list[FunctionLocks] | None = None
        self._writers: dict[LockClass, list[Site]] | None = None
        self._taken_fields: dict[bytes, frozenset[bytes]] = {}  # name -> fields it may lock (_fields_taken)
        self._fields_cache: dict = {}
        self._lockers: dict[bytes, bool] = {}  # name -> its own code locks (_own_locker)
        self._info_list: list[FunctionInfo] | None = None
        self._calls: dict[tuple[str, int, int], list[tuple[Node, LockCall | None]]] = {}  # _own_calls, per function

    # -- queries ------------------------------------------------------------
    def of(self, info: FunctionInfo) -> FunctionLocks:
        """The function's locks, double locks and order edges found in it."""
        analysis = self._analysis(info)
        analysis.report()
        return analysis.result

    def acquisitions(self, info: FunctionInfo) -> list[Acquisition]:
        """The locks the function takes while it runs, itself or down its calls, that a
        caller's lock could meet: those not held by the function when taken."""
        key = _key(info)
        found = self._acquisitions.get(key)
        if found is None:
            if not self._fields_taken(info.name):
                found = self._acquisitions[key] = []
            elif key in self._busy or len(self._busy) >= MAX_CHAIN:
                return []  # a recursive call, or too deep: not followed
            else:
                self._busy.add(key)
                try:
                    found = self._analysis(info).acquisitions()
                finally:
                    self._busy.discard(key)
                self._acquisitions[key] = found
        return found

    def effects(self, info: FunctionInfo) -> dict | None:
        """The net change the function leaves its caller's locks with, by its own lock
        calls (a `func (s *S) unlock() { s.mu.Unlock() }` releases `s.mu`): Ref -> count,
        None for a lock it changes on some paths only; None when not known."""
        key = _key(info)
        if key not in self._effects:
            if not _body_mentions_locks(info):
                self._effects[key] = {}  # its own code calls no lock method
            else:
                self._effects[key] = self._analysis(info).own_effects()
        return self._effects[key]

    def _analysis(self, info: FunctionInfo) -> "_Analysis":
        key = _key(info)
        found = self._analyses.get(key)
        if found is None:
            found = self._analyses[key] = _Analysis(self, info)
        return found

    def functions(self) -> list[FunctionLocks]:
        """Every function of the package whose own code takes or releases a lock, analysed."""
        if self._all is None:
            found = []
            for info in self._infos():
                if _body_mentions_locks(info):
                    found.append(self.of(info))
            self._all = found
        return self._all

    def double_locks(self, source) -> list[DoubleLock]:
        """Double locks whose call lies in ``source`` (only its functions are analysed,
        and what they call)."""
        found = []
        for info in self._locking_infos_in(source):
            found.extend(self.of(info).doubles)
        return found

    def relocks(self, source) -> list[Relock]:
        """Lock statements of ``source``'s functions reached holding their lock already."""
        found = []
        for info in _declared_in(source):
            if _body_mentions_locks(info) and _may_relock(info.source, self.own_calls(info)) and self.index.entry(info.source, info.node) is not None:
                found.extend(self.of(info).relocks)
        return found

    def own_calls(self, info: FunctionInfo) -> list[tuple[Node, LockCall | None]]:
        """``_own_calls`` of the function, found once (the gates, the paths and the report
        each go over them)."""
        key = _key(info)
        found = self._calls.get(key)
        if found is None:
            found = self._calls[key] = list(_own_calls(info.source, info.node))
        return found

    def _calls_a_locker(self, info: FunctionInfo) -> bool:
        """Does the function's own code make a call that may take again a lock the function
        itself takes? Only such a call can be a double lock: without one, the function's
        paths need not be followed. Asked of the code, not of its paths: the callee's
        name may take a lock ending in the same field (``_fields_taken``), and the call
        hands the callee the lock's owner (``_hands_on``: `s.flush()` or `f(s)` may reach
        `s.mu`, `s.conn.Close()` cannot), unless the lock may be a package variable's,
        which a callee reaches by name."""
        body = syntax.function_body(info.node)
        if body is None or not lock_fields_taken(info.source.text(body)):
            return False  # the bytes take no lock (an Unlock-only helper): nothing is held
        held: list[tuple[bytes, bytes | None, Node | None]] = []  # each lock taken: key, field, root identifier
        called: list[tuple[bytes, Node]] = []
        for node, found in self.own_calls(info):
            if found is not None:
                if found.method in (b"Lock", b"RLock"):
                    operand = unparen(found.operand)
                    parts = syntax.selector_parts(operand) if syntax.is_selector(operand) else None
                    held.append((found.key, info.source.text(parts[1]) if parts is not None else None, syntax.root_identifier(found.operand)))
                continue
            name = syntax.callee_name(node)
            if name is not None:
                called.append((info.source.text(name), node))
        if not held:
            return False
        outside: dict[int, bool] = {}  # per lock taken: may it be a package variable's (asked once)
        for called_name, call in called:
            # The questions of the call's syntax first: the callee's fields read the
            # declarations of the whole package (once per package and name).
            handed = []
            for index, (key, ends_in, root) in enumerate(held):
                if index not in outside:
                    outside[index] = _declared_outside(info, root)
                if outside[index] or _hands_on(info.source, call, key):
                    handed.append(ends_in)
            if handed and _may_meet(set(handed), self._fields_taken(called_name)):
                return True
        return False

    def _locking_infos_in(self, source) -> list[FunctionInfo]:
        """The package's entries for the functions and methods declared in ``source``
        whose code says `Lock` or `Unlock` and calls a name that may lock, in source
        order. (The cheap questions first: whether a declaration is the index's entry
        reads every file that may declare its name.)"""
        return [
            info
            for info in _declared_in(source)
            if _body_mentions_locks(info) and self._calls_a_locker(info) and self.index.entry(info.source, info.node) is not None
        ]

    def order_edges(self) -> list[OrderEdge]:
        return [e for f in self.functions() for e in f.edges]

    def lock_order_cycles(self) -> list[tuple[OrderEdge, OrderEdge]]:
        """Pairs of edges A→B and B→A between two different classes, one pair per two
        classes (the witnesses first in the package's file order)."""
        by_classes: dict[tuple[LockClass, LockClass], list[OrderEdge]] = {}
        for edge in self.order_edges():
            by_classes.setdefault(edge.classes, []).append(edge)
        found = []
        for (a, b), edges in sorted(by_classes.items(), key=lambda item: _class_order(item[0])):
            if _class_order((a, b)) > _class_order((b, a)) or (b, a) not in by_classes:
                continue
            first = min(edges, key=_edge_order)
            second = min(by_classes[(b, a)], key=_edge_order)
            found.append((first, second))
        return found

    def writers(self, cls: LockClass) -> list[Site]:
        """`Lock()` calls (write locks) on mutexes of ``cls`` anywhere in the package's code,
        function literals included, in file order."""
        if self._writers is None:
            found: dict[LockClass, list[Site]] = {}
            for source in self.package.files_mentioning(b".Lock()"):
                for call_node in nodes_of_types(source, syntax.CALL_KINDS):
                    call = lock_call(source, call_node)
                    if call is None or call.method != b"Lock":
                        continue
                    function = syntax.enclosing_function(call_node)
                    outermost = syntax.outermost_function(call_node) if function is not None else None
                    if outermost is None:
                        continue
                    types = _Types(self.index, source, source.scopes(outermost))
                    kind = types.mutex_kind(call.operand)
                    owner = types.lock_class(call.operand, kind) if kind is not None else None
                    if owner is not None:
                        found.setdefault(owner, []).append(Site(source, call_node))
            self._writers = found
        return self._writers.get(cls, [])

    def _fields_taken(self, name: bytes) -> frozenset[bytes]:
        """The fields (`mu` of `s.mu.Lock()`) of the locks a package function or method
        called ``name`` may take, itself or down the names it calls, from the bytes of
        their declarations; ``ANY_FIELD`` when the bytes do not say. A lock held as `s.mu`
        can be taken again only as a lock ending in `mu`: a call that takes none such
        cannot be a double lock of it."""
        known = self._taken_fields.get(name)
        if known is not None:
            return known
        calls: dict[bytes, set[bytes]] = {}
        taken: dict[bytes, set[bytes]] = {}
        stack = [name]
        while stack:
            current = stack.pop()
            if current in calls or current in self._taken_fields:
                continue
            called: set[bytes] = set()
            fields: set[bytes] = set()
            for text in self._declaration_texts(current):
                fields |= lock_fields_taken(text)
                called |= names_called(text)
            calls[current], taken[current] = called, fields
            if ANY_FIELD not in fields:
                stack.extend(called)  # a name that may take any lock needs no more
        changed = True
        while changed:  # each name takes what the names it calls take
            changed = False
            for current, called in calls.items():
                fields = taken[current]
                if ANY_FIELD in fields:
                    continue
                before = len(fields)
                for other in called:
                    fields |= taken[other] if other in taken else self._taken_fields.get(other, frozenset())
                changed |= len(fields) != before
        for current in calls:
            self._taken_fields[current] = frozenset(taken[current])
        return self._taken_fields[name]

    def _declaration_texts(self, name: bytes) -> list[bytes]:
        """The text of each declaration of ``name`` (a superset of each body: the whole
        declaration, every build variant), from the bytes, else from the parse."""
        texts = self.package.declaration_texts(name)
        if texts is None:
            texts = []
            for info in self.index.callables_named(name):
                body = syntax.function_body(info.node)
                texts.append(info.source.text(body) if body is not None else b"")
        return texts

    def _own_locker(self, name: bytes) -> bool:
        """Does the code of a package function or method called ``name`` say `Lock`? (Only
        the files that declare the name in a declaration that says `Lock` are read.)"""
        known = self._lockers.get(name)
        if known is None:
            known = False
            if not any(_mentions_locks(text) for text in self._declaration_texts(name)):
                self._lockers[name] = known
                return known
            for source in self.package.files_declaring(name, mentioning=b"Lock"):
                part = source.facts(Declarations).part
                for info in [*part.functions.get(name, ()), *(methods[name] for methods in part.methods.values() if name in methods)]:
                    if not _body_mentions_locks(info):
                        continue
                    if self.index.entry(info.source, info.node) is not None:  # not a variant the index hides
                        known = True
                        break
                if known:
                    break
            self._lockers[name] = known
        return known

    def _declared(self, name: bytes) -> bool:
        """Does the package declare a function or method called ``name``?"""
        return bool(self.index.callables_named(name))

    def _infos(self) -> list[FunctionInfo]:
        if self._info_list is None:
            self._info_list = sorted(self.index.all_functions(), key=_key)
        return self._info_list


def _declared_in(source) -> list[FunctionInfo]:
    """The functions and methods ``source`` declares, in source order."""
    part = source.facts(Declarations).part
    declared = [info for infos in part.functions.values() for info in infos]
    for methods in part.methods.values():
        declared.extend(methods.values())
    return sorted(declared, key=_key)


def _body_mentions_locks(info: FunctionInfo) -> bool:
    body = syntax.function_body(info.node)
    return body is not None and _mentions_locks(info.source.text(body))


def _declared_outside(info: FunctionInfo, root: Node | None) -> bool:
    """May a lock path starting at the name ``root`` be a package variable's: does the name
    resolve outside the function (its LockId rooted outside, the one kind of lock a
    callee reaches without being handed it, ``_Analysis._map``)? The receiver, the
    parameters and the locals resolve inside."""
    if root is None:
        return True
    name = info.source.text(root)
    if any(info.source.text(declared) == name for declared in syntax.signature_names(info.node)):
        return False  # the receiver, a parameter or a named result, or a local that shadows one: no scopes needed
    return info.source.scopes(info.node).resolve(root) is None


def _hands_on(source, call: Node, key: bytes) -> bool:
    """May ``call`` give its callee the lock ``key`` in the callee's own terms: is its
    receiver or one of its arguments (`&` aside) the lock's path or a prefix of it? A
    callee's lock on its receiver or a parameter is the caller's `<that operand><the
    callee's path>` (``_Analysis._map``), so a call that hands on neither cannot take
    ``key`` again through them."""
    operands = list(syntax.call_arguments(call))
    function = syntax.callee(call)
    parts = syntax.selector_parts(unparen(function)) if function is not None else None
    if parts is not None:
        operands.append(parts[0])
    for operand in operands:
        node = _handed_path(operand)
        if node is not None and _on_path(key, b"".join(source.text(node).split())):
            return True
    return False


def _handed_path(expression: Node) -> Node | None:
    """The path an operand hands a callee: `x.a` of `x.a` and of `&x.a`, parentheses
    aside (None for an `&` of nothing)."""
    node = unparen(expression)
    if syntax.is_address_of(node):
        inner = syntax.unary_operand(node)
        if inner is None:
            return None
        node = unparen(inner)
    return node


def _on_path(key: bytes, path: bytes) -> bool:
    """Is the lock path ``key`` the path ``path`` itself or reached through it (`path.f`,
    `path[i]`), both spelled without white space?"""
    return key == path or key.startswith(path + b".") or key.startswith(path + b"[")


def _may_meet(held: set[bytes | None], taken: frozenset[bytes]) -> bool:
    """May a lock held, by the fields its operands end in (None: a plain name), be one of
    the locks of fields ``taken``? A lock reached through a field is taken again only by
    a lock call ending in the same field; one held as a plain name, only by a call the
    bytes say less about."""
    if ANY_FIELD in taken:
        return bool(held)
    return any(found is not None and found in taken for found in held)


def _mentions_locks(text: bytes) -> bool:
    """A cheap byte test: every lock method's name holds `Lock` or `Unlock`."""
    return b"Lock" in text or b"Unlock" in text


def _key(info: FunctionInfo) -> tuple[str, int, int]:
    return (getattr(info.source, "path", ""), info.node.start_byte, info.node.end_byte)


def _class_order(pair: tuple[LockClass, LockClass]) -> tuple:
    return ((pair[0].owner, pair[0].path), (pair[1].owner, pair[1].path))


def _edge_order(edge: OrderEdge) -> tuple:
    site = edge.second.chain[0]
    return (site.path, site.node.start_byte)


# -- one function -------------------------------------------------------------------


class _Analysis:
    def __init__(self, chains: LockChains, info: FunctionInfo) -> None:
        # A weak reference: the chains own their analyses (a cycle would keep the
        # package's trees alive until the collector's next full pass).
        self.chains = weakref.proxy(chains)
        self.index = chains.index
        self.info = info
        self.source = info.source
        self.function = info.node
        self.scopes = self.source.scopes(self.function)
        self.types = _Types(self.index, self.source, self.scopes, chains._fields_cache)
        self.receiver = _receiver_declaration(self.scopes, self.function)
        self.parameters = _parameter_positions(self.scopes, self.function)
        self.result = FunctionLocks(info, None)
        self._callees: dict[tuple[int, int], FunctionInfo | None] = {}
        self._acquires: list[LockCall] | None = None
        self._flow_done = False
        self._acquisitions: list[Acquisition] | None = None
        self._reported = False

    # -- the function's paths ---------------------------------------------------
    def flow(self) -> LockFlow | None:
        if not self._flow_done:
            self._flow_done = True
            flow = follow_locks(self.source, self.function, self._call_effects)
            self.result.flow = flow if flow is not None and not flow.opaque else None
        return self.result.flow

    # -- what this function leaves its callers with ---------------------------
    def own_effects(self) -> dict | None:
        flow = self.source.facts(Locks).flow(self.function)
        if flow is None or flow.opaque:
            return None
        effects: dict = {}
        locks = {lock for e in flow.exits for p in e.paths for lock, _ in p.held | p.deferred}
        for lock in locks:
            ref = self._ref(lock)
            if ref is None:
                continue
            counts: set[int] = {count for e in flow.exits for count in e.after_defers(lock)}
            if not flow.known(lock) or len(counts) > 1:
                effects[ref] = None
            elif counts:
                (held,) = counts
                if held:
                    effects[ref] = held
        return effects

    def _call_effects(self, call: Node, deferred: bool) -> dict[LockId, int | None] | None:
        name = syntax.callee_name(call)
        if name is None or not self.chains._own_locker(self.source.text(name)):
            if not deferred:
                return None  # the same as {} for a call that runs now (CallEffects)
            return {} if name is not None and self.chains._declared(self.source.text(name)) else None
        callee = self._callee(call)
        if callee is None:
            return None
        effects = self.chains.effects(callee)
        if effects is None:
            return None
        mapped: dict[LockId, int | None] = {}
        for ref, change in effects.items():
            lock = self._map(call, callee, ref)
            if lock is not None:
                mapped[lock] = change
        return mapped

    # -- what the function takes, for its callers ---------------------------------
    def acquisitions(self) -> list[Acquisition]:
        if self._acquisitions is None:
            self._acquisitions = []
            flow = self.flow()
            if flow is not None:
                for node, found in self.chains.own_calls(self.info):
                    if found is not None:
                        if found.method in (b"Lock", b"RLock"):
                            acquisition = self._own_acquisition(flow, found)
                            if acquisition is not None:
                                self._acquisitions.append(acquisition)
                        continue
                    self._acquisitions.extend(self._through(flow, node, report=False))
            self.result.acquisitions = self._acquisitions
        return self._acquisitions

    # -- what is wrong in it ------------------------------------------------------
    def report(self) -> None:
        if self._reported:
            return
        self._reported = True
        flow = self.flow()
        if flow is None:
            return
        for node, found in self.chains.own_calls(self.info):
            if found is not None:
                if found.method in (b"Lock", b"RLock"):
                    self._own_edges(flow, found)
                    self._own_relock(flow, found)
                continue
            self._through(flow, node, report=True)

    # -- the function's own lock calls ----------------------------------------------
    def _own_acquisition(self, flow: LockFlow, call: LockCall) -> Acquisition | None:
        statement = call.call.parent
        if statement is None or lock_statement(self.source, statement) is None:
            return None
        lock = flow.identity(call)
        if lock is None or not flow.known(lock):
            return None
        paths = flow.before(statement)
        if not paths:
            return None  # not reached
        counts = [p.holds(lock) for p in paths]
        if not all(c <= 0 for c in counts):
            return None  # held already: a double lock of the function itself, not its callers'
        kind = self.types.mutex_kind(call.operand)
        if kind is None:
            return None  # not a sync mutex the source states
        return Acquisition(
            ref=self._ref(lock),
            lock=lock,
            method=call.method,
            cls=self.types.lock_class(call.operand, kind),
            fresh=all(c == 0 for c in counts),
            certain=_unconditional(self.source, self.function, statement),
            guarded=_guarded(self.source, self.function, statement, self.parameters),
            released=self._released(flow, statement),
            chain=(Site(self.source, call.call),),
            last_reference=_last_reference(self.source, self.scopes, self.function, statement, lock),
        )

    def _own_edges(self, flow: LockFlow, call: LockCall) -> None:
        statement = call.call.parent
        if statement is None:
            return
        held = self._held(flow, statement)
        if not held:
            return
        acquisition = self._own_acquisition(flow, call)
        if acquisition is None:
            return
        for other in held:
            if other.lock != acquisition.lock:
                self._edge(other, acquisition)

    def _own_relock(self, flow: LockFlow, call: LockCall) -> None:
        """A lock statement reached holding its lock: on every path, or on the next turn
        of the loop whose body it is a statement of. A lock held on some paths only,
        elsewhere, is not reported: the conditions that took it and would release it
        may be one."""
        statement = call.call.parent
        if statement is None or lock_statement(self.source, statement) is None:
            return
        lock = flow.identity(call)
        if lock is None or not flow.known(lock):
            return
        paths = flow.before(statement)
        holding = [p for p in paths if p.holds(lock) >= 1]
        if not holding:
            return
        loop = None
        if len(holding) < len(paths):
            loop = syntax.loop_of_body_statement(statement)
            if loop is None or any(p.holds(lock) >= 1 for p in flow.before(loop)):
                return  # held on some paths only, not by the loop's last turn
        else:
            following = syntax.next_statement(statement)
            if following is not None and syntax.is_return(following):
                return  # `X.Lock()` where `X.Unlock()` was meant: relock-before-return's
        if self._released_unseen(call):
            return  # a lock used as a signal: another goroutine releases it
        if loop is not None and not self._same_mutex_each_turn(lock, loop):
            return  # `for _, mb := range blks { mb.mu.Lock() }`: a new mutex each turn
        kind = self.types.mutex_kind(call.operand)
        if kind is None:
            return
        taken = self._taken_before(flow, lock, statement) if loop is None else self._taken_last_in(flow, lock, loop)
        if taken is None:
            return
        if taken.method == b"RLock" and call.method == b"RLock":
            return  # two readers deadlock only with a writer waiting: recursive-rlock's
        held = Held(lock, taken.method, Site(self.source, taken.call), self.types.lock_class(taken.operand, kind))
        ways_back: tuple[Site, ...] = ()
        if loop is not None:
            ways_back = tuple(
                Site(self.source, node)
                for node in walk_no_funcs(syntax.body(loop))
                if syntax.is_continue(node)
                and syntax.same_node(control.jump_target(node), loop)
                and any(p.holds(lock) >= 1 for p in flow.before(node))
            )
        self.result.relocks.append(Relock(self.info, Site(self.source, call.call), statement, held, loop, ways_back))

    def _released_unseen(self, call: LockCall) -> bool:
        """May code the function's paths do not follow release the lock: an `X.Unlock` in
        a function literal (a callback, a goroutine), not called (`Done: mu.Unlock`), or
        started by `go`; or `&X` handed on? (A mutex may be unlocked by a goroutine other
        than the one that locked it: `mu.Lock(); go work(mu.Unlock); mu.Lock()` waits.)"""
        body = syntax.function_body(self.function)
        for node in syntax.walk(body):
            if syntax.is_address_of(node):
                inner = syntax.unary_operand(node)
                spelled = b"".join(self.source.text(inner).split()) if inner is not None else b""
                if spelled and (call.key == spelled or call.key.startswith(spelled + b".")):
                    return True
                continue
            parts = syntax.selector_parts(node) if syntax.is_selector(node) else None
            if parts is None or self.source.text(parts[1]) not in (b"Unlock", b"RUnlock"):
                continue
            if b"".join(self.source.text(parts[0]).split()) != call.key:
                continue
            caller = node.parent
            statement = caller.parent if caller is not None and syntax.is_call(caller) and syntax.same_node(syntax.callee(caller), node) else None
            if statement is None or not (syntax.is_expression_statement(statement) or syntax.is_defer(statement)):
                return True
            if not syntax.same_node(syntax.enclosing_function(statement), self.function):
                return True
        return False

    def _same_mutex_each_turn(self, lock: LockId, loop: Node) -> bool:
        """Is the lock's path the same mutex on every turn of ``loop``: its variable
        declared outside the loop, and neither it nor a field on the way to the mutex
        assigned in the loop (`y = y.next`), nor its address taken there?"""
        key, root = lock
        if root == _OUTSIDE:
            return True
        declaration = next((d for d in self.scopes.declarations() if d.key == root), None)
        if declaration is None or syntax.is_inside(declaration.ident, loop):
            return False
        for reference in self.scopes.references(declaration, within=loop):
            use = access(reference)
            if use is Access.ADDRESS:
                return False
            if use is Access.WRITE:
                path = reference
                while path.parent is not None and syntax.is_selector(path.parent) and syntax.same_node(syntax.operand(path.parent), path):
                    path = path.parent
                spelled = b"".join(self.source.text(path).split())
                if _on_path(key, spelled):
                    return False
        return True

    def _taken_last_in(self, flow: LockFlow, lock: LockId, loop: Node) -> LockCall | None:
        """The last Lock or RLock statement on ``lock`` in ``loop``'s body."""
        best = None
        for found in self._acquiring_statements():
            if syntax.is_inside(found.call, loop) and flow.identity(found) == lock:
                best = found
        return best

    # -- calls of the package's functions -------------------------------------------
    def _through(self, flow: LockFlow, call: Node, *, report: bool) -> list[Acquisition]:
        """The callee's acquisitions in this function's terms (for its callers), or, with
        ``report``, the double locks and order edges the call makes."""
        name = syntax.callee_name(call)
        if name is None or not self.chains._fields_taken(self.source.text(name)):
            return []  # asked first: a question of bytes, memoized per name
        statement = _statement_of(call, self.function)
        if statement is None:
            return []
        paths = flow.before(statement)
        if not paths:
            return []
        held = self._held(flow, statement) if report else []
        if report and not held:
            return []  # most calls are made holding nothing
        callee = self._callee(call)
        if callee is None:
            return []
        acquisitions = self.chains.acquisitions(callee)
        if not acquisitions:
            return []
        held_locks = {h.lock: h for h in held}
        released_here = self._released(flow, statement)
        certain_here = _unconditional(self.source, self.function, statement)
        guarded_here = _guarded(self.source, self.function, statement, self.parameters)
        site = Site(self.source, call)
        found = []
        for acquisition in acquisitions:
            if len(acquisition.chain) >= MAX_CHAIN:
                continue
            lock = self._map(call, callee, acquisition.ref) if acquisition.ref is not None else None
            released_locks = {r for r in (self._map(call, callee, x) for x in acquisition.released) if r is not None}
            released = frozenset(r for r in (self._ref(x) for x in released_locks) if r is not None)
            mapped = Acquisition(
                ref=self._ref(lock) if lock is not None else None,
                lock=lock if lock is not None else acquisition.lock,
                method=acquisition.method,
                cls=acquisition.cls,
                fresh=acquisition.fresh and (lock is None or all(p.holds(lock) == 0 for p in paths)),
                certain=acquisition.certain and certain_here,
                guarded=acquisition.guarded or guarded_here,
                released=released | released_here,
                chain=(site, *acquisition.chain),
                last_reference=acquisition.last_reference or (lock is not None and _last_reference(self.source, self.scopes, self.function, statement, lock)),
            )
            if not report:
                if lock is None or all(p.holds(lock) <= 0 for p in paths):
                    found.append(mapped)  # a local's lock too: its class counts for order
                continue
            if lock is not None and lock in held_locks and acquisition.fresh:
                if flow.known(lock) and not acquisition.guarded:  # a guard: taken only when not held
                    once = all(p.holds(lock) == 1 for p in paths)
                    certain = acquisition.certain and not acquisition.guarded
                    self.result.doubles.append(DoubleLock(self.info, site, statement, held_locks[lock], mapped, certain, once))
                continue
            for other in held:
                if other.lock != lock and other.lock not in released_locks:
                    self._edge(other, mapped)
        return found

    def _edge(self, first: Held, second: Acquisition) -> None:
        if first.cls is None or second.cls is None or first.cls == second.cls:
            return  # two instances of one class, or a lock with no class: no order to say
        if first.last_reference or second.last_reference:
            return  # a value whose last reference is being dropped: no other goroutine can hold its lock
        self.result.edges.append(OrderEdge(self.info, first, second))

    def _callee(self, call: Node) -> FunctionInfo | None:
        key = (call.start_byte, call.end_byte)
        if key not in self._callees:
            self._callees[key] = self.chains.summaries.resolve(self.source, self.scopes, call) or self.types.method_called(call)
        return self._callees[key]

    # -- locks in this function's terms ------------------------------------------
    def _held(self, flow: LockFlow, statement: Node) -> list[Held]:
        """The locks every path holds at ``statement``, with where they were taken."""
        paths = flow.before(statement)
        if not paths:
            return []
        locks = {lock for p in paths for lock, count in p.held if count >= 1}
        found = []
        for lock in sorted(locks):
            if not flow.known(lock) or not all(p.holds(lock) >= 1 for p in paths):
                continue
            taken = self._taken_before(flow, lock, statement)
            if taken is None:
                continue
            kind = self.types.mutex_kind(taken.operand)
            if kind is None:
                continue
            last = taken.call.parent is not None and _last_reference(self.source, self.scopes, self.function, taken.call.parent, lock)
            found.append(Held(lock, taken.method, Site(self.source, taken.call), self.types.lock_class(taken.operand, kind), last))
        return found

    def _taken_before(self, flow: LockFlow, lock: LockId, statement: Node) -> LockCall | None:
        """The nearest Lock or RLock statement on ``lock`` before ``statement``."""
        best = None
        for found in self._acquiring_statements():
            if found.call.start_byte >= statement.start_byte:
                break
            if flow.identity(found) == lock:
                best = found
        return best

    def _acquiring_statements(self) -> list[LockCall]:
        """The Lock and RLock statements of the function's own code, in order."""
        if self._acquires is None:
            self._acquires = []
            body = syntax.function_body(self.function)
            for node in walk_no_funcs(body) if body is not None else ():
                found = lock_statement(self.source, node)
                if found is not None and found.method in (b"Lock", b"RLock"):
                    self._acquires.append(found)
        return self._acquires

    def _released(self, flow: LockFlow, statement: Node) -> frozenset:
        refs = set()
        for path in flow.before(statement):
            for lock, count in path.held:
                ref = self._ref(lock) if count < 0 else None
                if ref is not None:
                    refs.add(ref)
        return frozenset(refs)

    def _ref(self, lock: LockId) -> Ref | None:
        key, root = lock
        name = re.split(rb"[.\[]", key, maxsplit=1)[0]
        suffix = key[len(name) :]
        if root == _OUTSIDE:
            return ("global", key) if name in self.index.variables else None
        if self.receiver is not None and root == self.receiver.key:
            return ("recv", suffix) if self.info.pointer_receiver else None  # a value receiver is a copy
        position = self.parameters.get(root)
        if position is not None:
            return ("param", position, suffix)
        return None

    def _map(self, call: Node, callee: FunctionInfo, ref: Ref) -> LockId | None:
        """A lock of the callee's terms as this function's lock, through the call."""
        if ref[0] == "global":
            return (ref[1], _OUTSIDE)
        if ref[0] == "recv":
            function = syntax.callee(call)
            parts = syntax.selector_parts(unparen(function)) if function is not None else None
            if parts is None or not callee.pointer_receiver:
                return None
            return self._plain(parts[0], ref[1])
        if ref[0] == "param":
            if syntax.is_spread_call(call):
                return None
            arguments = syntax.call_arguments(call)
            position = ref[1]
            if position >= len(arguments) or not syntax.parameter_is_pointer(callee.node, position):
                return None
            return self._plain(arguments[position], ref[2])
        return None

    def _plain(self, expression: Node, suffix: bytes) -> LockId | None:
        """`x.a` as a lock path of this function, `&x.a` too."""
        node = _handed_path(expression)
        if node is None:
            return None
        current = node
        while syntax.is_selector(current):
            parts = syntax.selector_parts(current)
            if parts is None:
                return None
            current = unparen(parts[0])
        if not syntax.is_identifier(current):
            return None
        declaration = self.scopes.resolve(current)
        key = b"".join(self.source.text(node).split()) + suffix
        return (key, declaration.key if declaration is not None else _OUTSIDE)


def _receiver_declaration(scopes, function: Node):
    receiver = syntax.parameters_of(syntax.receiver(function)) if syntax.is_method(function) else []
    if not receiver or not receiver[0].names:
        return None
    name = receiver[0].names[0]
    return next((d for d in scopes.declarations() if d.key == (name.start_byte, name.end_byte)), None)


def _parameter_positions(scopes, function: Node) -> dict[tuple[int, int], int]:
    found = {}
    position = 0
    for parameter in syntax.parameters_of(syntax.parameter_list(function)):
        for name in parameter.names or (None,):
            if name is not None and not parameter.variadic:
                found[(name.start_byte, name.end_byte)] = position
            position += 1
    return found


def _own_calls(source, function: Node):
    """The calls of the function's own code (not in goroutines, defers or literals): lock-
    method calls as (node, LockCall), others as (node, None)."""
    body = syntax.function_body(function)
    for node in own_descendants(source, body, syntax.CALL_KINDS) if body is not None else ():
        if _in_go_or_defer(node, function):
            continue
        yield node, lock_call(source, node)


def _may_relock(source, calls: list[tuple[Node, LockCall | None]]) -> bool:
    """Can a lock statement of the function meet its own lock held: are two of them
    spelled alike, or is one inside a loop?"""
    spelled = []
    for node, found in calls:
        if found is None or found.method not in (b"Lock", b"RLock"):
            continue
        if control.innermost_loop(node) is not None:
            return True
        spelled.append(b"".join(source.text(found.operand).split()))
    return len(spelled) != len(set(spelled))


def _in_go_or_defer(node: Node, function: Node) -> bool:
    for parent in syntax.ancestors(node):
        if parent == function:
            return False
        if syntax.is_go(parent) or syntax.is_defer(parent):
            return True
    return False


def _statement_of(node: Node, function: Node) -> Node | None:
    """The statement of ``function``'s own code holding ``node`` (one of a block's or a
    case's statements, or the header of an if, for or switch around it)."""
    current = node
    for parent in syntax.ancestors(node):
        if syntax.holds_statements(parent):
            return current
        if parent == function:
            return None
        current = parent
    return None


def _unconditional(source, function: Node, statement: Node) -> bool:
    """Does ``statement`` run whenever the function runs: a statement of its body itself,
    with no statement before it that can leave the function?"""
    body = syntax.function_body(function)
    if body is None or statement.parent != body:
        return False
    tests = control.test_parameter_names(source, function)
    for earlier in syntax.statements(body):
        if earlier == statement:
            return True
        for node in walk_no_funcs(earlier):
            if syntax.is_return(node) or syntax.is_goto(node):
                return False
            if syntax.is_call(node) and control.exit_kind(source, node, tests) is not None:
                return False
        if control.never_ends(source, earlier):
            return False
    return False


def _guarded(source, function: Node, statement: Node, parameters: dict) -> bool:
    """Is ``statement`` under a condition on a parameter of the function, or on a name
    that speaks of locking (`if !locked`, `if s.holdsLock`)? Such conditions are how code
    that may be called holding the lock avoids taking it again."""
    names = {source.text(_ident_at(function, key)) for key in parameters}
    for parent in syntax.ancestors(statement):
        if parent == function:
            return False
        if syntax.is_if(parent) or syntax.is_switch(parent) or syntax.is_loop(parent):
            if syntax.is_switch(parent):
                header = list(_switch_header(parent))
            else:
                header = [n for part in (syntax.init_statement(parent), syntax.condition(parent)) if part is not None for n in syntax.walk(part)]
            for node in header:
                if syntax.is_identifier(node) or syntax.is_field_identifier(node):
                    spelled = source.text(node)
                    if (syntax.is_identifier(node) and spelled in names) or _GUARD_NAME.search(spelled):
                        return True
    return False


_ATOMIC_ADD = re.compile(rb"Add(Int32|Int64|Uint32|Uint64|Uintptr)?")


def _last_reference(source, scopes, function: Node, statement: Node, lock: LockId) -> bool:
    """Is ``statement`` in the branch of an `if` that runs when a reference count of the
    lock's own value drops to zero (`if atomic.AddInt32(&tr.refs, -1) == 0 {`,
    `if x.refs.Add(-1) == 0 {`)? Then the goroutine drops the value's last reference:
    by the count's contract no other goroutine still reaches the value, nor holds its lock."""
    key, root = lock
    if root == _OUTSIDE or len(re.split(rb"[.\[]", key)) > 2:
        return False  # a package variable, or a lock reached through another value (`v.pool.mu`)
    current = statement
    for parent in syntax.ancestors(statement):
        if parent == function or syntax.is_function(parent):
            return False
        if syntax.is_if(parent) and syntax.same_node(syntax.then_branch(parent), current):
            test = syntax.condition(parent)
            counted = _dropped_to_zero(source, test) if test is not None else None
            if counted is not None:
                declaration = scopes.resolve(counted)
                if declaration is not None and declaration.key == root:
                    return True
        current = parent
    return False


def _dropped_to_zero(source, test: Node) -> Node | None:
    """For `atomic.AddT(&v.n, -1) == 0` or `v.n.Add(-1) == 0` (also `<= 0`, `0 == …`):
    the variable ``v`` whose count is decremented."""
    parts = syntax.binary_parts(unparen(test))
    if parts is None:
        return None
    left, operator, right = parts
    left, right = unparen(left), unparen(right)
    if source.text(left) == b"0" and operator in (b"==", b">="):
        left, right = right, left
    elif not (source.text(right) == b"0" and operator in (b"==", b"<=")):
        return None
    if not syntax.is_call(left):
        return None
    function = syntax.callee(left)
    selector = syntax.selector_parts(unparen(function)) if function is not None else None
    arguments = syntax.call_arguments(left)
    if selector is None:
        return None
    operand, name = selector
    spelled = source.text(name)
    if source.text(unparen(operand)) == b"atomic" and _ATOMIC_ADD.fullmatch(spelled) and len(arguments) == 2:
        counter, delta = arguments
    elif spelled == b"Add" and len(arguments) == 1:
        counter, delta = operand, arguments[0]
    else:
        return None
    if not source.text(unparen(delta)).lstrip().startswith((b"-", b"^")):
        return None  # not a decrement
    return syntax.root_identifier(counter)


def _switch_header(switch: Node):
    cases = syntax.switch_cases(switch)
    for child in switch.named_children:
        if child not in cases:
            yield from syntax.walk(child)
    for case in cases:
        for child in case.named_children:
            if child not in syntax.statements(case):
                yield from syntax.walk(child)


def _ident_at(function: Node, key: tuple[int, int]) -> Node | None:
    for node in syntax.walk(syntax.parameter_list(function)):
        if (node.start_byte, node.end_byte) == key:
            return node
    return None


# -- types the source states ------------------------------------------------------

_Type = tuple  # (SourceFile, type node)
_MAX_DEPTH = 8


class _Types:
    """The type of an expression, when the source states or builds it."""

    def __init__(self, index: PackageIndex, source, scopes, cache: dict | None = None) -> None:
        self.index = index
        self.source = source
        self.scopes = scopes
        self._cache = cache if cache is not None else {}

    # -- locks ------------------------------------------------------------
    def mutex_kind(self, operand: Node) -> ValueKind | None:
        """MUTEX or RWMUTEX when ``operand`` is a sync mutex, or a struct embedding one."""
        found = self.type_of(operand)
        if found is None:
            return None
        source, node = found
        kind = value_kind(source, node)
        if kind in (ValueKind.MUTEX, ValueKind.RWMUTEX):
            return kind
        for field_info, field_source in self._fields(found):
            if field_info[2] and field_info[1] is not None:
                kind = value_kind(field_source, field_info[1])
                if kind in (ValueKind.MUTEX, ValueKind.RWMUTEX):
                    return kind
        return None

    def lock_class(self, operand: Node, kind: ValueKind) -> LockClass | None:
        place = self._place(unparen(operand), 0)
        if place is None:
            return None
        return LockClass(place[0], place[1], kind is ValueKind.RWMUTEX)

    def _place(self, node: Node, depth: int) -> tuple[bytes, bytes] | None:
        if depth > _MAX_DEPTH:
            return None
        node = unparen(node)
        if syntax.is_identifier(node):
            declaration = self.scopes.resolve(node)
            name = self.source.text(node)
            if declaration is None:
                return (b"", name) if name in self.index.variables else None
            named = self._named(self.type_of(node))
            return (named, b"") if named is not None else None
        if syntax.is_selector(node):
            parts = syntax.selector_parts(node)
            if parts is None:
                return None
            operand, name = parts
            owner = self._named(self.type_of(operand))
            if owner is not None:
                return (owner, self.source.text(name))
            inner = self._place(operand, depth + 1)
            if inner is None:
                return None
            return (inner[0], (inner[1] + b"." if inner[1] else b"") + self.source.text(name))
        return None

    # -- methods ------------------------------------------------------------
    def method_called(self, call: Node) -> FunctionInfo | None:
        """The package method `x.m(…)` calls, `x` of a type the source states."""
        function = syntax.callee(call)
        parts = syntax.selector_parts(unparen(function)) if function is not None else None
        if parts is None:
            return None
        operand, name = parts
        if syntax.is_identifier(unparen(operand)) and self.scopes.resolve(unparen(operand)) is None:
            if self.source.text(unparen(operand)) not in self.index.variables:
                return None  # a package name
        named = self._named(self.type_of(operand))
        return self.index.method(named, self.source.text(name)) if named is not None else None

    # -- expressions ----------------------------------------------------------
    def type_of(self, node: Node, depth: int = 0) -> _Type | None:
        if depth > _MAX_DEPTH:
            return None
        node = unparen(node)
        if syntax.is_identifier(node):
            return self._variable(node, depth)
        if syntax.is_selector(node):
            parts = syntax.selector_parts(node)
            if parts is None:
                return None
            owner = self.type_of(parts[0], depth + 1)
            return self._field(owner, self.source.text(parts[1])) if owner is not None else None
        if syntax.is_index(node):
            operand = node.child_by_field_name("operand")
            container = self.type_of(operand, depth + 1) if operand is not None else None
            return self._element(container, depth)
        if syntax.is_receive(node):
            inner = syntax.unary_operand(node)
            channel = self._resolved(self.type_of(inner, depth + 1)) if inner is not None else None
            element = syntax.channel_element(channel[1]) if channel is not None else None
            return (channel[0], element) if channel is not None and element is not None else None
        if syntax.is_unary(node) or syntax.is_address_of(node):
            inner = syntax.unary_operand(node)
            return self.type_of(inner, depth + 1) if inner is not None else None
        if syntax.is_composite_literal(node):
            kind = syntax.composite_type(node)
            return (self.source, kind) if kind is not None else None
        if node.type == "type_assertion_expression":
            kind = node.child_by_field_name("type")
            return (self.source, kind) if kind is not None else None
        if syntax.is_call(node):
            return self._call_result(node, 0, depth)
        return None

    def _variable(self, ident: Node, depth: int) -> _Type | None:
        declaration = self.scopes.resolve(ident)
        if declaration is None:
            variable = self.index.variables.get(self.source.text(ident))
            if variable is None:
                return None
            if variable.type is not None:
                return (variable.source, variable.type)
            if variable.value is not None and variable.source is self.source:
                return self.type_of(variable.value, depth + 1)
            return None
        if declaration.type_node is not None and declaration.kind in ("param", "receiver", "var", "result"):
            if declaration.kind == "param" and declaration.variadic:
                return None
            return (self.source, declaration.type_node)
        if declaration.kind == "range" and declaration.value is not None:
            container = self.type_of(declaration.value, depth + 1)
            if container is None or declaration.index != 1:
                return None
            return self._element(container, depth)
        if declaration.kind in ("short", "var"):
            value = declaration.value
            if value is not None:
                return self.type_of(value, depth + 1)
            statement = declaration.statement
            values = syntax.right_side(statement) if syntax.is_short_var_declaration(statement) else []
            if len(values) == 1 and syntax.is_call(unparen(values[0])):
                return self._call_result(unparen(values[0]), declaration.index, depth)
            if len(values) == 1 and declaration.index == 0:
                return self.type_of(values[0], depth + 1)  # `v, ok := m[k]`, `x.(T)`, `<-ch`
        return None

    def _call_result(self, call: Node, position: int, depth: int) -> _Type | None:
        function = syntax.callee(call)
        function = unparen(function) if function is not None else None
        if syntax.is_identifier(function) and self.source.text(function) == b"new" and self.scopes.resolve(function) is None:
            arguments = syntax.call_arguments(call)
            return (self.source, arguments[0]) if len(arguments) == 1 else None
        info = None
        if syntax.is_identifier(function) and self.scopes.resolve(function) is None:
            info = self.index.function(self.source.text(function))
        elif function is not None and syntax.is_selector(function):
            info = self.method_called(call)
        if info is None:
            return None
        results = syntax.result(info.node)
        if results is None:
            return None
        if syntax.parameters_of(results) or results.type == "parameters":
            index = 0
            for parameter in syntax.parameters_of(results):
                for _ in parameter.names or (None,):
                    if index == position:
                        return (info.source, parameter.type) if parameter.type is not None else None
                    index += 1
            return None
        return (info.source, results) if position == 0 else None

    # -- types ------------------------------------------------------------------
    def _resolved(self, found: _Type | None) -> _Type | None:
        """Pointers looked through; a named type of the package to its definition."""
        for _ in range(_MAX_DEPTH):
            if found is None:
                return None
            source, node = found
            node = syntax.unparen_type(node)
            if syntax.is_pointer_type(node):
                inner = syntax.pointee(node)
                if inner is None:
                    return None
                found = (source, inner)
                continue
            if syntax.is_type_identifier(node):
                info = self.index.types.get(source.text(node))
                if info is None:
                    return None
                defined = syntax.type_spec_type(info.spec)
                if defined is None or syntax.is_alias_spec(info.spec):
                    return None
                if syntax.is_type_identifier(syntax.unparen_type(defined)) or syntax.is_pointer_type(syntax.unparen_type(defined)):
                    found = (info.source, defined)
                    continue
                return (info.source, defined)
            return (source, node)
        return None

    def _named(self, found: _Type | None) -> bytes | None:
        """The package type a type names, pointers looked through (None: not one)."""
        if found is None:
            return None
        source, node = found
        node = syntax.unparen_type(node)
        if syntax.is_pointer_type(node):
            inner = syntax.pointee(node)
            node = syntax.unparen_type(inner) if inner is not None else node
        if syntax.is_type_identifier(node):
            name = source.text(node)
            return name if name in self.index.types else None
        return None

    def _fields(self, found: _Type) -> list[tuple[tuple[bytes, Node | None, bool], object]]:
        key = (getattr(found[0], "path", ""), found[1].start_byte, found[1].end_byte)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self._fields_uncached(found)
        return cached

    def _fields_uncached(self, found: _Type) -> list[tuple[tuple[bytes, Node | None, bool], object]]:
        resolved = self._resolved(found)
        if resolved is None or not syntax.is_struct_type(resolved[1]):
            return []
        source, struct = resolved
        fields = []
        for names, kind, embedded in syntax.struct_fields(struct):
            if embedded:
                base = syntax.base_type_name(kind)
                if base is not None:
                    fields.append(((source.text(base), kind, True), source))
                continue
            for name in names:
                fields.append(((source.text(name), kind, False), source))
        return fields

    def _field(self, owner: _Type, name: bytes) -> _Type | None:
        for (field_name, kind, _embedded), source in self._fields(owner):
            if field_name == name and kind is not None:
                return (source, kind)
        return None

    def _element(self, container: _Type | None, depth: int) -> _Type | None:
        resolved = self._resolved(container)
        if resolved is None:
            return None
        source, node = resolved
        if syntax.is_map_type(node) or syntax.is_slice_or_array_type(node):
            element = syntax.element_type(node)
            return (source, element) if element is not None else None
        return None


def chain_text(chain: tuple[Site, ...]) -> str:
    """The calls of a chain, in order: `l.exit(err)` (log.go:36) → `l.flush()` (log.go:52)."""
    return " → ".join(f"{site.text()} ({site.where()})" for site in chain[:-1]) or "the function itself"
