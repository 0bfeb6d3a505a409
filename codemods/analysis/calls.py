"""Call summaries: what a function of the package does with what it is given.

For each function and method the package declares, a ``Summary`` says, for
every positional parameter and every field of the receiver (`r.f`), whether
the function sends on it, receives from it, ranges over it, closes it
(directly, deferred, or by handing it to a callee that does), or lets it go
where the analysis cannot follow (stored, returned, sent, passed to a call
outside the package); and which locks it takes and releases (receiver
fields and parameters: `r.mu.Lock()` takes `mu`).

A call is followed when it resolves inside the package: `f(x)` to the
package's function `f`, `r.m(x)` to method `m` of the receiver's type, and
`p.m(x)` to a method of a parameter's stated type. Summaries are computed
to a fixpoint over the call graph, with a bound; anything that leaves the
package is *unknown*, and unknown is no evidence either way (a rule must not
report on it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.channels import UseKind, classify_use
from gofix_defer.codemods.analysis.facts import PackageFact
from gofix_defer.codemods.analysis.index import FunctionInfo, PackageIndex
from gofix_defer.codemods.analysis.locks import lock_call
from gofix_defer.codemods.analysis.scope import FunctionScopes, Scopes
from gofix_defer.codemods.analysis.syntax import unparen

# Rounds of the fixpoint: enough for helpers of helpers; deeper chains stay unknown.
MAX_ROUNDS = 6


@dataclass
class Effects:
    """What one function does with one value it was given."""

    sends: bool = False
    receives: bool = False
    ranges: bool = False
    closes: bool = False
    deferred_close: bool = False  # closed by a defer: on every path out of the function
    escapes: bool = False  # stored, returned, sent or passed where the analysis cannot follow
    async_use: bool = False  # used by a goroutine the function starts
    # used in a func literal the function keeps as a value (not run in place, nor by `go`
    # or `defer`): the closure may be stored or returned and run at any time, anywhere
    in_closure: bool = False

    def merge_call(self, callee: "Effects") -> bool:
        """Add what a callee does with the value; True when something changed."""
        before = self.key()
        self.sends |= callee.sends
        self.receives |= callee.receives
        self.ranges |= callee.ranges
        self.closes |= callee.closes
        self.escapes |= callee.escapes
        self.async_use |= callee.async_use
        self.in_closure |= callee.in_closure
        return self.key() != before

    def key(self) -> tuple[bool, ...]:
        return (self.sends, self.receives, self.ranges, self.closes, self.deferred_close, self.escapes, self.async_use, self.in_closure)

    @property
    def used(self) -> bool:
        return any(self.key())


@dataclass
class Summary:
    function: FunctionInfo
    parameters: list[Effects] = field(default_factory=list)  # by position (unnamed and `_` included)
    fields: dict[bytes, Effects] = field(default_factory=dict)  # receiver fields, by name
    acquires: set[bytes] = field(default_factory=set)  # lock paths taken: "mu" (r.mu), "" (r itself), "#0" (parameter 0)
    releases: set[bytes] = field(default_factory=set)  # lock paths released, deferred releases included

    def parameter(self, index: int) -> Effects | None:
        return self.parameters[index] if 0 <= index < len(self.parameters) else None

    def key(self) -> tuple:
        return (
            tuple(e.key() for e in self.parameters),
            tuple(sorted((name, e.key()) for name, e in self.fields.items())),
            tuple(sorted(self.acquires)),
            tuple(sorted(self.releases)),
        )


@dataclass(frozen=True)
class _Value:
    """A parameter or receiver field being followed inside one function."""

    parameter: int = -1
    field: bytes | None = None


@dataclass(frozen=True)
class _Call:
    """A followed value handed to a package function: `helper(ch)`, `defer closeIfOpen(ch)`."""

    value: _Value
    callee: FunctionInfo
    index: int
    deferred: bool


class CallSummaries(PackageFact):
    """Summaries of every function and method of the package, to a fixpoint (computed
    for the functions a query reaches, when it is asked)."""

    requires = (PackageIndex, Scopes)

    def __init__(self, package) -> None:
        super().__init__(package)
        self.index = package.facts(PackageIndex)
        self._summaries: dict[tuple[str, int, int], Summary] = {}
        self._calls: dict[tuple[str, int, int], list[_Call]] = {}
        # Summaries are computed on demand: a query solves the function asked about and
        # the package functions it reaches through calls, not the whole package (a large
        # package has thousands of functions; a rule asks about a few), and the index
        # reads only the files those can be declared in.
        self._solved: set[tuple[str, int, int]] = set()

    # -- queries ------------------------------------------------------------
    def of(self, source, function: Node) -> Summary | None:
        """The summary of a function or method declaration of the package, in ``source``."""
        info = self.index.entry(source, function)
        return self.of_info(info) if info is not None else None

    def of_info(self, info: FunctionInfo) -> Summary | None:
        declared = self._declared(info)
        if declared is None:
            return None
        self._solve(declared)
        return self._summaries.get(_key(info))

    def resolve(self, source, scopes: FunctionScopes, call: Node) -> FunctionInfo | None:
        """The package function or method a call expression calls, when the source says."""
        return _resolve(self.index, source, scopes, call)

    def callee_effects(self, source, scopes: FunctionScopes, call: Node, argument_index: int) -> Effects | None:
        """What the called function does with its ``argument_index``-th argument (None: unknown)."""
        callee = self.resolve(source, scopes, call)
        summary = self.of_info(callee) if callee is not None else None
        return summary.parameter(argument_index) if summary is not None else None

    def passed_effects(self, source, scopes: FunctionScopes, call: Node, argument_index: int) -> tuple[FunctionInfo, Effects] | None:
        """The called function and what it does with its ``argument_index``-th argument,
        when the answer is certain: None, like ``callee_effects``, for a call that leaves
        the package, and also for a function or method declared once per build target
        (the variant summarised may not be the one built) and for a variadic argument."""
        callee = self.resolve(source, scopes, call)
        effects = self.argument_effects(callee, argument_index) if callee is not None else None
        return (callee, effects) if callee is not None and effects is not None else None

    def argument_effects(self, callee: FunctionInfo, argument_index: int) -> Effects | None:
        """What ``callee`` does with the ``argument_index``-th argument of a call, when the
        answer is certain (as ``passed_effects``, for a callee the caller resolved)."""
        if not self.index.declared_once(callee):
            return None
        summary = self.of_info(callee)
        effects = summary.parameter(argument_index) if summary is not None else None
        if effects is None or _variadic_at(callee.node, argument_index):
            return None
        return effects

    # -- computation ----------------------------------------------------------
    def _declared(self, info: FunctionInfo) -> FunctionInfo | None:
        """The index's entry for the declaration ``info`` stands for (None: not one of the
        package's, as a method hidden by an earlier variant of the same name)."""
        return self.index.entry(info.source, info.node)

    def _solve(self, info: FunctionInfo) -> None:
        """Summarise ``info`` and every package function it reaches, to a fixpoint.

        Effects only ever turn on, so the fixpoint is the same whichever functions are
        solved first (the answers of a whole-package computation); only a chain deeper
        than the rounds allow can stop short, as it did before."""
        if _key(info) in self._solved:
            return
        reached: list[FunctionInfo] = []
        seen: set[tuple[str, int, int]] = set()
        stack = [info]
        while stack:
            current = stack.pop()
            key = _key(current)
            if key in seen or key in self._solved or self._declared(current) is None:
                continue
            seen.add(key)
            reached.append(current)
            if key not in self._summaries:
                self._summaries[key] = self._local_summary(current)
            stack.extend(call.callee for call in self._calls.get(key, []))
        self._compute(sorted(reached, key=_key))
        self._solved.update(seen)

    def _compute(self, functions: list[FunctionInfo]) -> None:
        for _ in range(MAX_ROUNDS):
            changed = False
            for info in functions:
                summary = self._summaries[_key(info)]
                for call in self._calls.get(_key(info), []):
                    target = self._summaries.get(_key(call.callee))
                    effects = _effects_of(summary, call.value)
                    other = target.parameter(call.index) if target is not None else None
                    if effects is None or other is None:
                        continue
                    if effects.merge_call(other):
                        changed = True
                    if call.deferred and other.closes and not effects.deferred_close:
                        # `defer closeIfOpen(ch)`: the helper's close runs on every path.
                        effects.deferred_close = changed = True
            if not changed:
                return

    def _local_summary(self, info: FunctionInfo) -> Summary:
        source = info.source
        function = info.node
        summary = Summary(info)
        scopes = source.scopes(function)
        declared = {d.key: d for d in scopes.declarations()}
        calls: list[_Call] = []
        position = 0
        for parameter in syntax.parameters_of(syntax.parameter_list(function)):
            for name in parameter.names or (None,):
                effects = Effects()
                summary.parameters.append(effects)
                decl = declared.get((name.start_byte, name.end_byte)) if name is not None else None
                for reference in scopes.references(decl) if decl is not None else ():
                    self._follow(source, scopes, function, reference, effects, _Value(parameter=position), summary, b"#%d" % position, calls)
                position += 1
        receiver = syntax.parameters_of(syntax.receiver(function))
        if receiver and receiver[0].names:
            decl = declared.get((receiver[0].names[0].start_byte, receiver[0].names[0].end_byte))
            for reference in scopes.references(decl) if decl is not None else ():
                parent = reference.parent
                parts = syntax.selector_parts(parent) if parent is not None else None
                if parts is None or parts[0] != reference:
                    continue
                if syntax.is_part_of_call_callee(parts[0].parent):  # type: ignore[arg-type]
                    self._record_lock(source, reference, summary, b"")  # r.Lock(): an embedded mutex
                    continue
                field_name = source.text(parts[1])
                effects = summary.fields.setdefault(field_name, Effects())
                self._follow(source, scopes, function, parts[0].parent, effects, _Value(field=field_name), summary, field_name, calls)  # type: ignore[arg-type]
        self._calls[_key(info)] = calls
        return summary

    def _follow(self, source, scopes, function: Node, value: Node, effects: Effects, followed: _Value, summary: Summary, path: bytes, calls) -> None:
        """Record what one use of a followed value (`ch`, `r.ch`) does with it."""
        parent = value.parent
        if parent is not None and syntax.is_selector(parent) and syntax.same_node(syntax.operand(parent), value):
            self._record_lock(source, value, summary, path)  # `x.Lock()`, `x.f`: a use of a member, not of x
            return
        use = classify_use(source, scopes, function, value)
        if any(literal.started == "go" for literal in use.chain):
            effects.async_use = True
        if any(literal.started == "value" for literal in use.chain):
            effects.in_closure = True
        kind = use.kind
        if kind is UseKind.SEND:
            effects.sends = True
        elif kind is UseKind.RECEIVE:
            effects.receives = True
        elif kind is UseKind.RANGE:
            effects.ranges = True
        elif kind is UseKind.CLOSE:
            effects.closes = True
            effects.deferred_close |= syntax.runs_in_defer_of(use.node, function)
        elif kind is UseKind.PASSED:
            callee = _resolve(self.index, source, scopes, use.node)
            if callee is None or use.argument_index < 0:
                effects.escapes = True
            else:
                calls.append(_Call(followed, callee, use.argument_index, syntax.runs_in_defer_of(use.node, function)))
        elif kind in (UseKind.SENT, UseKind.RETURNED, UseKind.STORED):
            effects.escapes = True

    def _record_lock(self, source, operand: Node, summary: Summary, path: bytes) -> None:
        """`operand.Lock()` and friends, with ``operand`` the followed value."""
        parent = operand.parent
        call = parent.parent if parent is not None else None
        found = lock_call(source, call) if call is not None and syntax.is_call(call) else None
        if found is None or not syntax.same_node(found.operand, operand):
            return
        if found.acquires:
            summary.acquires.add(path)
        elif found.releases:
            summary.releases.add(path)


def _effects_of(summary: Summary, value: _Value) -> Effects | None:
    if value.field is not None:
        return summary.fields.get(value.field)
    return summary.parameter(value.parameter)



def _resolve(index: PackageIndex, source, scopes: FunctionScopes, call: Node) -> FunctionInfo | None:
    named = called_name(source, scopes, call)
    if named is None:
        return None
    type_name, name = named
    return index.function(name) if type_name is None else index.method(type_name, name)


def called_name(source, scopes: FunctionScopes, call: Node) -> tuple[bytes | None, bytes] | None:
    """What a call may call in the package, read from the source alone (no other file
    parsed): (None, name) for `name(…)` with ``name`` no local; (T, m) for `x.m(…)` with
    ``x`` a receiver or parameter whose stated type is the package's `T` or `*T`. None when
    the call cannot resolve to a function of the package (a local function value,
    another package's function, a method on a value of unstated type)."""
    function = syntax.callee(call)
    if function is None:
        return None
    function = unparen(function)
    if syntax.is_identifier(function):
        if scopes.resolve(function) is not None:
            return None  # a local function value
        return None, source.text(function)
    parts = syntax.selector_parts(function)
    if parts is None:
        return None
    operand, name = parts
    operand = unparen(operand)
    if not syntax.is_identifier(operand):
        return None
    decl = scopes.resolve(operand)
    if decl is None or decl.kind not in ("receiver", "param") or decl.type_node is None:
        return None
    stated = syntax.unparen_type(decl.type_node)
    if syntax.is_pointer_type(stated):
        inner = syntax.pointee(stated)
        stated = syntax.unparen_type(inner) if inner is not None else stated
    if syntax.is_qualified_type(stated):
        return None  # a type of another package
    type_name = syntax.base_type_name(stated)
    return (source.text(type_name), source.text(name)) if type_name is not None else None


def _variadic_at(function: Node, index: int) -> bool:
    """The ``index``-th argument of a call to ``function`` lands in its `...T` parameter."""
    position = 0
    for parameter in syntax.parameters_of(syntax.parameter_list(function)):
        count = max(1, len(parameter.names))
        if position <= index < position + count or (parameter.variadic and index >= position):
            return parameter.variadic
        position += count
    return True  # beyond the parameters: not a call this summary describes


def _key(info: FunctionInfo) -> tuple[str, int, int]:
    return (getattr(info.source, "path", ""), info.node.start_byte, info.node.end_byte)
