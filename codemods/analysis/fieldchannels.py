"""Channels held in struct fields, followed across the functions of a package.

``FieldChannels`` (a package fact) lists, for every channel field `f` of a
struct type `T` the package declares, every place the package touches it:

- `x.f` where the source says `x` is a `T` or `*T` (a receiver or parameter
  of that stated type, a local made as `T{…}` / `&T{…}` or returned by a
  package function or method stated to return it, a field or range
  element of such a type);
- through a local alias (`c := x.f`, then `c <- v`), a getter method
  (`func (t *T) C() <-chan E { return t.f }`, then `<-x.C()`), and a package
  function the channel is passed to (its parameter's uses, two calls deep);
- how each use treats the channel (``FieldOp.kind``: send, receive, range,
  close, len/cap, made — `x.f = make(chan E, n)` or `T{f: make(…)}` — or
  set to anything else), the function literal or declaration it runs in,
  and the select case it is the communication of.

``escape(T, f)`` says why the package cannot see every use: the channel is
passed, sent, stored or returned where the analysis does not follow, it is
set from something other than a `make` (a parameter: the caller owns it),
or other packages can reach the field or a getter (both exported, outside
`package main`). A `x.f` whose `x` has no stated type counts against every
struct type with a channel field `f` (``unknown_owner``): rules must take it
as a possible use of each.

``stop_cases(source, select)`` finds the cases of a select that stop
waiting — a receive `case <-S:` whose body returns, or whatever it does when
the select is not in a loop — and ``enclosing_stop(...)`` the nearest select
around an operation whose other case stops (the operation runs in a case
body or the `default` of a select that can stop). ``TypeResolver`` answers
"which package type is this expression?" from what the source states.

``signallers(T, f)`` names the functions and methods that may signal a stop
channel field (send on it or close it, themselves or through what they call),
and ``runs_after`` / ``unconditional_after`` say whether one statement of a
function can only run after another (later in the same block, outside any loop
holding both, or deferred).
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.calls import _resolve as resolve_call
from gofix_defer.codemods.analysis.channels import MakeChannel, UseKind, classify_use, make_channel
from gofix_defer.codemods.analysis.facts import PackageFact
from gofix_defer.codemods.analysis.index import Declarations, FunctionInfo, PackageIndex, TypeInfo, ValueKind
from gofix_defer.codemods.analysis.lexical import FieldSpellings, struct_says_chan
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.scope import FunctionScopes, Scopes
from gofix_defer.codemods.analysis.syntax import ancestors, unparen

if TYPE_CHECKING:  # pragma: no cover
    from gofix_defer.codemods.analysis.source import SourceFile

_COMPOSITE_KINDS = frozenset({"composite_literal"})
_MAX_CALL_DEPTH = 2
_MAX_TYPE_DEPTH = 6


class FieldOpKind(str, enum.Enum):
    SEND = "send"
    RECEIVE = "receive"
    RANGE = "range"
    CLOSE = "close"
    LEN_CAP = "len-cap"
    MADE = "made"  # x.f = make(chan E[, n]) / T{f: make(…)}
    SET = "set"  # x.f = anything else (nil, another channel)


@dataclass(frozen=True)
class FieldOp:
    kind: FieldOpKind
    type_name: bytes
    field: bytes
    source: "SourceFile"
    expression: Node  # the channel as written where the operation is: `x.f`, an alias, `x.C()`
    node: Node  # the send statement, the `<-` expression, the for statement, the close call, the assignment
    function: Node  # the innermost function (declaration or literal) running it
    owner: Node | None = None  # the `x` of `x.f` (None through an alias in a callee, a composite literal)
    select_case: Node | None = None  # the select clause whose communication it is
    via: str = ""  # "", "alias", "getter", or "call NAME"
    make: MakeChannel | None = None  # MADE: the make call

    @property
    def line(self) -> int:
        return self.source.line_col(self.node.start_byte)[0]

    @property
    def in_select(self) -> bool:
        return self.select_case is not None


@dataclass
class _FieldFacts:
    ops: list[FieldOp] = field(default_factory=list)
    escape: str | None = None  # why the package cannot see every use


# -- types of expressions, as the source states them -------------------------------------


class TypeResolver:
    """Which package type an expression of one function is (by name), from stated types."""

    def __init__(self, index: PackageIndex, source, scopes: FunctionScopes):
        self.index = index
        self.source = source
        self.scopes = scopes

    def type_name(self, expr: Node | None) -> bytes | None:
        """The name of the package type `expr` is, or points to (`T` for `*T`)."""
        found = self.type_node(expr)
        if found is None:
            return None
        source, node = found
        return _named_package_type(self.index, source, node)

    def type_node(self, expr: Node | None, depth: int = 0) -> tuple[object, Node] | None:
        """(the file stating it, the type node) for the expression's type, when stated."""
        if expr is None or depth > _MAX_TYPE_DEPTH:
            return None
        expr = unparen(expr)
        if syntax.is_identifier(expr):
            decl = self.scopes.resolve(expr)
            if decl is None:
                variable = self.index.variables.get(self.source.text(expr))
                if variable is not None and variable.type is not None:
                    return (variable.source, variable.type)
                if variable is not None and variable.value is not None and variable.source is self.source:
                    return self.type_node(variable.value, depth + 1)
                if variable is not None and variable.value is not None:
                    return _composite_type(variable.source, variable.value)  # `var Stream = stream{}` in another file
                return None
            if decl.type_node is not None and not decl.variadic and decl.kind in ("param", "receiver", "var", "result"):
                return (self.source, decl.type_node)
            if decl.kind in ("short", "var") and decl.value is not None:
                return self.type_node(decl.value, depth + 1)
            if decl.kind in ("short", "var") and decl.value is None:
                return self._from_several(decl, depth)
            if decl.kind == "range" and decl.value is not None:
                container = self.type_node(decl.value, depth + 1)
                return _element(container, decl.index) if container is not None else None
            return None
        if syntax.is_address_of(expr):
            operand = syntax.unary_operand(expr)
            return self.type_node(operand, depth + 1) if operand is not None else None
        if syntax.is_composite_literal(expr):
            type_node = syntax.composite_type(expr)
            return (self.source, type_node) if type_node is not None else None
        if syntax.is_selector(expr):
            parts = syntax.selector_parts(expr)
            if parts is None:
                return None
            owner = self.type_name(parts[0]) if not syntax.is_package_identifier(parts[0]) else None
            info = self.index.types.get(owner) if owner is not None else None
            found = info.field(self.source.text(parts[1])) if info is not None else None
            if found is None or found.type is None:
                return None
            return (info.source, found.type)  # type: ignore[union-attr]
        if syntax.is_index(expr):
            operand = expr.child_by_field_name("operand")
            container = self.type_node(operand, depth + 1) if operand is not None else None
            return _element(container, 1) if container is not None else None
        if syntax.is_call(expr):
            return self._call_result(expr, 0, depth)
        if expr.type == "type_assertion_expression":
            asserted = expr.child_by_field_name("type")
            return (self.source, asserted) if asserted is not None else None
        return None

    def _from_several(self, decl, depth: int) -> tuple[object, Node] | None:
        """`a, b := f()`, `v, ok := m[k]`, `v, ok := x.(T)`: the type of one of the names."""
        statement = decl.statement
        if syntax.is_short_var_declaration(statement):
            right = syntax.right_side(statement)
        elif syntax.is_var_spec(statement):
            right = syntax.var_spec_values(statement)
        else:
            return None
        if len(right) != 1:
            return None
        value = unparen(right[0])
        if syntax.is_call(value):
            return self._call_result(value, decl.index, depth)
        if decl.index == 0 and (syntax.is_index(value) or value.type == "type_assertion_expression"):
            return self.type_node(value, depth + 1)
        return None

    def _call_result(self, call: Node, index: int, depth: int) -> tuple[object, Node] | None:
        callee = self.callee(call)
        if callee is None:
            return None
        types = syntax.result_types(callee.node)
        if not 0 <= index < len(types) or types[index] is None:
            return None
        return (callee.source, types[index])  # type: ignore[return-value]

    def callee(self, call: Node) -> FunctionInfo | None:
        """The package function or method a call calls: by name, or by the stated type of
        the operand (receivers, parameters and locals alike)."""
        found = resolve_call(self.index, self.source, self.scopes, call)
        if found is not None:
            return found
        function = syntax.callee(call)
        parts = syntax.selector_parts(unparen(function)) if function is not None else None
        if parts is None or syntax.is_package_identifier(parts[0]):
            return None
        owner = self.type_name(parts[0])
        return self.index.method(owner, self.source.text(parts[1])) if owner is not None else None


def _composite_type(source, value: Node) -> tuple[object, Node] | None:
    """For a value `T{…}` or `&T{…}`: (its file, T)."""
    value = unparen(value)
    if syntax.is_address_of(value):
        operand = syntax.unary_operand(value)
        value = unparen(operand) if operand is not None else value
    if not syntax.is_composite_literal(value):
        return None
    type_node = syntax.composite_type(value)
    return (source, type_node) if type_node is not None else None


def _named_package_type(index: PackageIndex, source, node: Node | None, among: "set[bytes] | None" = None) -> bytes | None:
    """The name of the package's type that ``node`` states (`T`, `*T`), else None; with
    ``among`` (names of package types), only a name among them."""
    if node is None:
        return None
    stated = syntax.unparen_type(node)
    if syntax.is_pointer_type(stated):
        inner = syntax.pointee(stated)
        stated = syntax.unparen_type(inner) if inner is not None else stated
    if syntax.is_qualified_type(stated):
        return None
    name = syntax.base_type_name(stated)
    if name is None:
        return None
    text = source.text(name)
    if among is not None:
        return text if text in among else None  # a set lookup, not the index's
    return text if text in index.types else None


def _element(container: tuple[object, Node], index: int) -> tuple[object, Node] | None:
    """The element type of a map (index 1: the value; 0: the key), slice or array."""
    source, node = container
    node = syntax.unparen_type(node)
    if syntax.is_map_type(node):
        found = syntax.map_key_type(node) if index == 0 else syntax.element_type(node)
        return (source, found) if found is not None else None
    if syntax.is_slice_or_array_type(node):
        if index == 0:
            return None  # the int index
        found = syntax.element_type(node)
        return (source, found) if found is not None else None
    return None


# -- calls, by the name of what they call -----------------------------------------------------

# (receiver type, name) for a method, (b"", name) for a function, (None, name) for a
# method called on an operand of unstated type (any method of that name).
CallKey = tuple[bytes | None, bytes]


def _key_of(info: FunctionInfo) -> CallKey:
    return (info.receiver_type if info.receiver_type is not None else b"", info.name)


def _call_key(resolver: TypeResolver, source, target: Node) -> CallKey | None:
    """The key of what ``target`` (a callee, or a value handed on) names: `f`, `x.m`."""
    target = unparen(target)
    if syntax.is_identifier(target):
        if resolver.scopes.resolve(target) is not None:
            return None  # a local: its literal's calls are the function's own
        return (b"", source.text(target))
    parts = syntax.selector_parts(target)
    if parts is None or syntax.is_package_identifier(parts[0]):
        return None
    operand = unparen(parts[0])
    if syntax.is_identifier(operand) and resolver.scopes.resolve(operand) is None and resolver.index.variables.get(source.text(operand)) is None:
        return None  # another package's function: `pkg.F`
    name = source.text(parts[1])
    found = resolver.type_node(operand)
    if found is None:
        return (None, name)  # a type the source does not state: any method of that name
    owner = _named_package_type(resolver.index, found[0], found[1])
    if owner is None:
        return None  # another package's type (or a type written out): not the package's method
    info = resolver.index.types.get(owner)
    declared = syntax.type_spec_type(info.spec) if info is not None else None
    if declared is None or not syntax.is_struct_type(syntax.unparen_type(declared)):
        return (None, name)  # an interface of the package (or a named non-struct): any method
    return (owner, name)


def calls_one_of(key: CallKey, keys: set[CallKey]) -> bool:
    """A call known by ``key`` may call one of ``keys``."""
    if key in keys:
        return True
    return key[0] is None and any(k[1] == key[1] and k[0] != b"" for k in keys)


# -- the fact ------------------------------------------------------------------------------


class FieldChannels(PackageFact):
    """Every use of every struct-field channel of the package, by (type, field)."""

    requires = (PackageIndex, Scopes)

    def __init__(self, package) -> None:
        super().__init__(package)
        self.index = package.facts(PackageIndex)
        self._fields: dict[tuple[bytes, bytes], _FieldFacts] = {}
        self._unknown: dict[bytes, list[FieldOp]] = {}  # field name -> uses whose owner is not known
        self._getters: dict[tuple[bytes, bytes], tuple[bytes, bytes]] = {}  # (type, method) -> (type, field)
        self._resolvers: dict[tuple[str, int, int], TypeResolver] = {}
        self._calls_cache: list[tuple[CallKey, list[CallKey]]] | None = None
        self._signallers: dict[tuple[bytes, bytes, bool], set[CallKey] | None] = {}
        self._about: dict[bytes, FieldSpellings] = {}  # what the package's bytes spell, by field name
        self._file_spellings: dict[str, FieldSpellings] = {}  # what each file's bytes spell
        self._shared: set[bytes] | None = None  # FieldSpellings.shared of the package's files
        self._computed = False

    # -- queries ------------------------------------------------------------------
    def channel_fields(self) -> list[tuple[bytes, bytes]]:
        self._compute()
        return sorted(self._fields)

    def ops(self, type_name: bytes, field_name: bytes) -> list[FieldOp]:
        self._compute()
        found = self._fields.get((type_name, field_name))
        return list(found.ops) if found is not None else []

    def escape(self, type_name: bytes, field_name: bytes) -> str | None:
        self._compute()
        found = self._fields.get((type_name, field_name))
        return found.escape if found is not None else "not a channel field of the package"

    def unbuffered(self, type_name: bytes, field_name: bytes) -> bool:
        """Every `make` the package assigns to the field is unbuffered (and there is one)."""
        made = [op.make for op in self.ops(type_name, field_name) if op.kind is FieldOpKind.MADE and op.make is not None]
        return bool(made) and all(m.unbuffered for m in made)

    def unknown_owner(self, field_name: bytes) -> list[FieldOp]:
        """Uses of a field called ``field_name`` whose owner's type the source does not state."""
        self._compute()
        return list(self._unknown.get(field_name, ()))

    def op_at(self, source, node: Node) -> FieldOp | None:
        """The field operation whose ``node`` is ``node`` (a send statement, a receive...)."""
        self._compute()
        for facts in self._fields.values():
            for op in facts.ops:
                if _same_file(op.source, source) and syntax.same_node(op.node, node):
                    return op
        return None

    def ops_in(self, source) -> list[FieldOp]:
        """Every field operation written in ``source``, in document order."""
        self._compute()
        found = [op for facts in self._fields.values() for op in facts.ops if _same_file(op.source, source)]
        return sorted(found, key=lambda op: op.node.start_byte)

    def resolver(self, source, function: Node) -> TypeResolver:
        """The TypeResolver of the declared function (or package-level literal) around ``function``."""
        outermost = syntax.outermost_function(function) or function
        key = (getattr(source, "path", ""), outermost.start_byte, outermost.end_byte)
        found = self._resolvers.get(key)
        if found is None:
            found = self._resolvers[key] = TypeResolver(self.index, source, source.scopes(outermost))
        return found

    def may_be_unserved(self, source) -> bool:
        """A cheap, necessary condition, asked before the package's field channels are
        computed, from the bytes alone: does ``source`` receive from (or range over) a
        selector `x.f` that the package's files declare as a channel somewhere (`f chan
        T`) and never spell a send on or a close of, or a getter call `x.g()` of a method
        ``g`` the package declares to return a field; or send on such an `x.f` that
        they never spell a receive from?"""
        own = self._spellings_of(getattr(source, "path", ""), source.data)
        received = []
        for name in sorted(own.received):
            spelled = self._spelled(name)
            if spelled.sent or spelled.closed:
                continue
            if spelled.channels or (spelled.getters and any(getter_field(info) is not None for info in self.index.methods_named(name))):
                received.append(name)
        sent = [name for name in sorted(own.blocking_sends) if not self._spelled(name).received and self._spelled(name).channels]
        if not received and not sent:
            return False
        shared = self._package_shared()
        return any(name not in shared for name in received + sent)

    def never_served(self, op: FieldOp) -> bool:
        """Can nothing in the package serve the other end of ``op``'s send or receive:
        for a receive, no send and no close of the field; for a send, no receive (and no
        buffer of a literal size: one that is never full may be meant as a box)? Asked of
        a channel the package alone can reach, made somewhere it can see; a use of `x.f`
        whose owner the analysis could not type, or one spelled through a type that
        embeds the field's, counts as a partner."""
        sending = op.kind is FieldOpKind.SEND
        key = (op.type_name, op.field)
        if self.escape(*key) is not None:
            return False
        ops = self.ops(*key)
        made = [o for o in ops if o.kind is FieldOpKind.MADE]
        if not made:
            return False  # never made: a nil channel, or set where the analysis does not see
        partners = (FieldOpKind.RECEIVE, FieldOpKind.RANGE) if sending else (FieldOpKind.SEND, FieldOpKind.CLOSE)
        if any(o.kind in partners for o in ops + self.unknown_owner(op.field)):
            return False
        if sending and any(m.make is not None and m.make.buffered and syntax.is_basic_literal(m.make.capacity) for m in made):
            return False
        if self.embedded(op.type_name):
            return False  # `outer.f` reaches the field through a type that embeds it
        return not (self.receive_spelled(op.field) if sending else self.signal_spelled(op.field))

    def signal_spelled(self, field_name: bytes) -> bool:
        """Does a file of the package spell a send on, or a close of, a selector ending in
        ``field_name`` (`x.f <- v`, `close(y.f)`), whatever owner the analysis found for
        it?"""
        spelled = self._spelled(field_name)
        return bool(spelled.sent or spelled.closed)

    def receive_spelled(self, field_name: bytes) -> bool:
        """Does a file of the package spell a receive from, or a range over, a selector
        ending in ``field_name`` (`<-x.f`, `range y.f`), whatever owner the analysis found
        for it?"""
        return bool(self._spelled(field_name).received)

    def _spelled(self, name: bytes) -> "FieldSpellings":
        """What the package's files spell about ``name`` (each set holds it or nothing).
        Only a file whose bytes say the name can spell it; asked once per name."""
        found = self._about.get(name)
        if found is None:
            found = self._about[name] = FieldSpellings()
            for path in self.package.paths:
                data = self.package.raw(path) or b""
                if name in data:
                    found.add(self._spellings_of(path, data).only(name))
        return found

    def _spellings_of(self, path: str, data: bytes) -> "FieldSpellings":
        found = self._file_spellings.get(path)
        if found is None:
            found = FieldSpellings.of(data)
            if path:
                self._file_spellings[path] = found
        return found

    def _package_shared(self) -> set[bytes]:
        """FieldSpellings.shared of the package's files (asked only when a name is left)."""
        if self._shared is None:
            self._shared = set().union(*(FieldSpellings.shared_in(self.package.raw(path) or b"") for path in self.package.paths))
        return self._shared

    def embedded(self, type_name: bytes) -> bool:
        """Does a struct of the package embed ``type_name`` (so that `outer.f` may reach
        the fields of a ``type_name`` under another type's name)?"""
        return any(
            info.embedded
            for source in self.package.files_saying(type_name)
            for info in source.facts(Declarations).fields_named(type_name)
        )

    def type_info(self, type_name: bytes) -> TypeInfo | None:
        return self.index.types.get(type_name)

    def signallers(self, type_name: bytes, field_name: bytes, *, exact: bool = False) -> set[CallKey] | None:
        """The package's functions and methods that may signal the channel of field
        ``field_name`` of ``type_name`` (send on it or close it): those that do, and those
        that call one that may, or hand it on as a value (`t.Cleanup(s.close)`), to a
        fixpoint. A method is known by its receiver type and name; a call on an operand
        whose type the source does not state, or on an interface of the package, counts
        as calling every method of that name (a method of another package's type, none of
        the package's). With ``exact``, only what the source states counts: a signal on
        the field of a value of the type (not an `x.f` of unknown type), and calls whose
        method the source names (not on an interface or an operand of unknown type). None when a
        signal sits outside a declared function (a package-level literal)."""
        self._compute()
        key = (type_name, field_name, exact)
        if key not in self._signallers:
            self._signallers[key] = self._find_signallers(type_name, field_name, exact)
        found = self._signallers[key]
        return set(found) if found is not None else None

    def _find_signallers(self, type_name: bytes, field_name: bytes, exact: bool) -> set[CallKey] | None:
        found: set[CallKey] = set()
        unknown = [] if exact else self.unknown_owner(field_name)
        signals = [o for o in self.ops(type_name, field_name) + unknown if o.kind in (FieldOpKind.SEND, FieldOpKind.CLOSE)]
        for signal in signals:
            outer = syntax.outermost_function(signal.function) or signal.function
            info = self.index.declaration(signal.source, outer)
            if info is None:
                return None
            found.add(_key_of(info))
        if not found:
            return found
        calls = self._call_keys()
        changed = True
        while changed:
            changed = False
            for key, called in calls:
                if key not in found and any(c in found if exact else calls_one_of(c, found) for c in called):
                    found.add(key)
                    changed = True
        return found

    def call_keys_in(self, source, function: Node) -> list[tuple[CallKey, Node]]:
        """Every call in ``function`` (its literals included) of a package function or
        method, and every function or method it hands on as a value, as (key, name node)."""
        resolver = self.resolver(source, function)
        found = []
        for node in syntax.walk(syntax.function_body(function)):
            if syntax.is_call(node):
                target = syntax.callee(node)
                key = _call_key(resolver, source, target) if target is not None else None
                if key is not None and target is not None:
                    found.append((key, target))
                for argument in syntax.call_arguments(node):
                    key = _call_key(resolver, source, argument)
                    if key is not None:
                        found.append((key, argument))
        return found

    def _call_keys(self) -> list[tuple[CallKey, list[CallKey]]]:
        if self._calls_cache is None:
            functions = self.index.all_functions()
            self._calls_cache = [(_key_of(info), [key for key, _ in self.call_keys_in(info.source, info.node)]) for info in functions]
        return self._calls_cache

    # -- computation -----------------------------------------------------------------
    def _compute(self) -> None:
        if self._computed:
            return
        self._computed = True
        names: dict[bytes, list[bytes]] = {}
        # A struct with a channel field says `chan` inside its braces: the types of the
        # files that do are the candidates (each looked up in the index, whose entry is
        # the first declaration of the name, as for any other question).
        candidates: set[bytes] = set()
        for source in self.package.files_matching(struct_says_chan):
            candidates.update(source.facts(Declarations).part.types)
        for type_name in sorted(candidates):
            info = self.index.types.get(type_name)
            for info_field in info.fields or () if info is not None else ():
                if info_field.kind is ValueKind.CHANNEL and not info_field.embedded and _stated_channel(info_field.type):
                    self._fields[(type_name, info_field.name)] = _FieldFacts()
                    names.setdefault(info_field.name, []).append(type_name)
        if not self._fields:
            return
        self._find_getters()
        for (type_name, field_name), facts in self._fields.items():
            if self.index.reachable_from_outside(field_name):
                facts.escape = f"other packages can reach the exported field {type_name.decode()}.{field_name.decode()}"
        getter_names = {method for (_, method) in self._getters}
        # Every use of a field, and every keyed literal that sets one, says its name; a
        # literal that sets the fields by position (`&T{make(chan int)}`) says its type's.
        type_names = {type_name for type_name, _ in self._fields}
        for source in self.package.files_saying(*sorted({*names, *getter_names, *type_names})):
            for selector in nodes_of_types(source, syntax.SELECTOR_KINDS):
                parts = syntax.selector_parts(selector)
                if parts is None:
                    continue
                name = source.text(parts[1])
                if name in names:
                    self._selector(source, selector, parts[0], name, names)
                if name in getter_names:
                    self._getter_call(source, selector, parts[0], name)
            for literal in nodes_of_types(source, _COMPOSITE_KINDS):
                self._composite(source, literal, type_names)

    def _find_getters(self) -> None:
        for type_name in sorted({type_name for type_name, _ in self._fields}):
            for method_name, info in self.index.methods_of(type_name).items():
                returned = getter_field(info)
                if returned is not None and (type_name, returned) in self._fields:
                    self._getters[(type_name, method_name)] = (type_name, returned)
                    if self.index.reachable_from_outside(method_name):
                        facts = self._fields[(type_name, returned)]
                        facts.escape = facts.escape or f"other packages can reach it through the exported method {type_name.decode()}.{method_name.decode()}"

    def _selector(self, source, selector: Node, operand: Node, name: bytes, names: dict[bytes, list[bytes]]) -> None:
        function = syntax.enclosing_function(selector)
        if function is None:
            return  # a package-level initialiser
        if syntax.is_part_of_call_callee(selector):
            return  # `x.f(…)`: a func-typed field of that name, not the channel
        owner = None if syntax.is_package_identifier(operand) else self.resolver(source, function).type_name(operand)
        if owner is not None and (owner, name) not in self._fields:
            return  # a field of that name of another type
        if owner is None:
            if syntax.is_package_identifier(operand):
                return
            candidates = names[name]
            if len(candidates) == 1 and self._unknown_is_that_type(source, function, operand, candidates[0]):
                owner = candidates[0]
            else:
                for op in self._classify(source, function, selector, operand, b"?", name, "", 0):
                    self._unknown.setdefault(name, []).append(op)
                return
        facts = self._fields[(owner, name)]
        for op in self._classify(source, function, selector, operand, owner, name, "", 0, facts):
            facts.ops.append(op)

    def _unknown_is_that_type(self, source, function: Node, operand: Node, type_name: bytes) -> bool:
        """A receiver or parameter whose stated type is not followed (an interface, an
        alias...) is not that type; an untyped local may be."""
        operand = unparen(operand)
        if not syntax.is_identifier(operand):
            return False
        decl = self.resolver(source, function).scopes.resolve(operand)
        return decl is not None and decl.type_node is None and decl.kind in ("short", "var", "range", "recv")

    def _getter_call(self, source, selector: Node, operand: Node, method: bytes) -> None:
        call = selector.parent
        if call is None or not syntax.is_call(call) or not syntax.same_node(syntax.callee(call), selector):
            return
        function = syntax.enclosing_function(call)
        if function is None or syntax.is_package_identifier(operand):
            return
        owner = self.resolver(source, function).type_name(operand)
        target = self._getters.get((owner, method)) if owner is not None else None
        if target is None:
            return
        facts = self._fields[target]
        for op in self._classify(source, function, call, operand, target[0], target[1], "getter", 0, facts):
            facts.ops.append(op)

    def _composite(self, source, literal: Node, type_names: set[bytes]) -> None:
        """The fields a literal of one of ``type_names`` (the types with channel fields) makes or sets."""
        type_name = _named_package_type(self.index, source, syntax.composite_type(literal), among=type_names)
        if type_name is None:
            return
        function = syntax.enclosing_function(literal)
        for key, value in self._keyed_elements(source, type_name, literal):
            facts = self._fields.get((type_name, key))
            if facts is None:
                continue
            made = make_channel(value)
            kind = FieldOpKind.MADE if made is not None else FieldOpKind.SET
            if made is None and not _is_nil(value):
                facts.escape = facts.escape or f"{type_name.decode()}.{key.decode()} is set from {_short(source, value)} (line {source.line_col(value.start_byte)[0]}), not made here"
            facts.ops.append(FieldOp(kind, type_name, key, source, value, literal, function or literal, None, None, "", made))

    def _keyed_elements(self, source, type_name: bytes, literal: Node) -> list[tuple[bytes, Node]]:
        """The (field name, value) pairs a struct literal sets: by key, or, when no element
        has one, by position in the type's declaration (Go then requires every field)."""
        elements = syntax.composite_elements(literal)
        if all(key is not None for key, _ in elements):
            return [(source.text(key), value) for key, value in elements if key is not None]
        info = self.index.types.get(type_name)
        declared = info.fields if info is not None else None
        if any(key is not None for key, _ in elements) or declared is None or len(declared) != len(elements):
            return []
        return [(declared_field.name, value) for declared_field, (_, value) in zip(declared, elements)]

    def _classify(
        self,
        source,
        function: Node,
        expression: Node,
        owner: Node | None,
        type_name: bytes,
        field_name: bytes,
        via: str,
        depth: int,
        facts: _FieldFacts | None = None,
    ) -> list[FieldOp]:
        """The operations one written occurrence of the channel performs (and, for an alias
        or an argument, those of the variable or parameter it is bound to)."""
        innermost = syntax.enclosing_function(expression) or function

        def op(kind: FieldOpKind, node: Node, case: Node | None = None, made: MakeChannel | None = None) -> FieldOp:
            return FieldOp(kind, type_name, field_name, source, expression, node, innermost, owner, case, via, made)

        def escape(why: str) -> list[FieldOp]:
            if facts is not None and facts.escape is None:
                facts.escape = f"{type_name.decode()}.{field_name.decode()} {why} (line {source.line_col(expression.start_byte)[0]})"
            return []

        if syntax.is_write_target(expression):
            statement = expression.parent.parent if expression.parent is not None else None
            value = _assigned_value(statement, expression) if statement is not None else None
            if syntax.is_address_of(expression.parent):
                return escape("has its address taken")
            made = make_channel(value) if value is not None else None
            if made is None and value is not None and not _is_nil(value):
                escape(f"is set from {_short(source, value)}")
            return [op(FieldOpKind.MADE if made is not None else FieldOpKind.SET, statement or expression, None, made)]
        outermost = syntax.outermost_function(innermost) or innermost
        scopes = source.scopes(outermost)
        use = classify_use(source, scopes, outermost, expression)
        kind = use.kind
        if kind is UseKind.SEND:
            return [op(FieldOpKind.SEND, use.node, use.select_case)]
        if kind is UseKind.RECEIVE:
            return [op(FieldOpKind.RECEIVE, use.node, use.select_case)]
        if kind is UseKind.RANGE:
            return [op(FieldOpKind.RANGE, use.node)]
        if kind is UseKind.CLOSE:
            return [op(FieldOpKind.CLOSE, use.node)]
        if kind is UseKind.LEN_CAP:
            return [op(FieldOpKind.LEN_CAP, use.node)]
        if kind is UseKind.RETURNED:
            if via == "" and getter_field(self.index.declaration(source, outermost)) == field_name:
                return []  # the getter itself: its calls are the uses
            return escape("is returned")
        if kind is UseKind.PASSED:
            return self._passed(source, outermost, scopes, use, type_name, field_name, depth, facts, escape)
        if kind is UseKind.STORED:
            alias = _alias_declaration(scopes, expression)
            if alias is not None and depth <= _MAX_CALL_DEPTH:
                found = []
                for reference in scopes.references(alias):
                    found += self._classify(source, outermost, reference, None, type_name, field_name, via or "alias", depth + 1, facts)
                return found
            if _compared(expression):
                return []  # `x.f == nil`, `x.f != nil`: a test, not a use
            return escape("is stored where the analysis does not follow it")
        return escape("is sent on a channel")

    def _passed(self, source, outermost: Node, scopes: FunctionScopes, use, type_name, field_name, depth, facts, escape) -> list[FieldOp]:
        if depth >= _MAX_CALL_DEPTH:
            return escape("is passed on too deep to follow")
        resolver = self.resolver(source, outermost)
        callee = resolver.callee(use.node) if use.argument_index >= 0 else None
        if callee is None:
            return escape(f"is passed to {_short(source, use.callee) if use.callee is not None else 'a call'}, which the analysis does not follow")
        name = syntax.parameter_name_at(syntax.parameter_list(callee.node), use.argument_index)
        if name is None:
            return escape(f"is passed to {callee.name.decode()} as an unnamed or variadic parameter")
        callee_scopes = callee.source.scopes(callee.node)
        decl = callee_scopes.resolve(name)
        if decl is None:
            decl = next((d for d in callee_scopes.declarations() if syntax.same_node(d.ident, name)), None)
        if decl is None:
            return escape(f"is passed to {callee.name.decode()}")
        found = []
        for reference in callee_scopes.references(decl):
            found += self._classify(callee.source, callee.node, reference, None, type_name, field_name, f"call {callee.name.decode()}", depth + 1, facts)
        return found


def _same_file(a, b) -> bool:
    if a is b:
        return True
    first, second = getattr(a, "path", None), getattr(b, "path", None)
    return first is not None and second is not None and (first == second or os.path.abspath(first) == os.path.abspath(second))


def _stated_channel(type_node: Node | None) -> bool:
    """A field whose stated type is a channel (not a pointer to one)."""
    return type_node is not None and syntax.is_channel_type(syntax.unparen_type(type_node))


def _is_nil(node: Node) -> bool:
    node = unparen(node)
    return syntax.is_identifier(node) and node.text == b"nil"


def _short(source, node: Node) -> str:
    text = source.text(node).decode("utf-8", "replace")
    text = " ".join(text.split())
    return text if len(text) <= 40 else text[:37] + "..."


def _compared(expression: Node) -> bool:
    parent = expression.parent
    while parent is not None and syntax.is_parenthesized(parent):
        parent = parent.parent
    parts = syntax.binary_parts(parent) if parent is not None and syntax.is_binary(parent) else None
    return parts is not None and parts[1] in (b"==", b"!=")


def _assigned_value(statement: Node, target: Node) -> Node | None:
    """For `a, x.f = v1, v2`: the value assigned to ``target``."""
    if not syntax.is_assignment(statement) or not syntax.is_plain_assignment(statement):
        return None
    left, right = syntax.left_side(statement), syntax.right_side(statement)
    if len(left) != len(right):
        return None
    for target_node, value in zip(left, right):
        if syntax.same_node(target_node, target):
            return value
    return None


def _alias_declaration(scopes: FunctionScopes, expression: Node):
    """`c := x.f` / `var c = x.f` (the whole value of a one-name declaration): c's declaration."""
    _, parent = syntax.paren_parent(expression)
    if parent is None or not syntax.is_expression_list(parent):
        return None
    holder = parent.parent
    if holder is None:
        return None
    if syntax.is_short_var_declaration(holder):
        if not syntax.same_node(syntax.right_node(holder), parent):
            return None
        left, right = syntax.left_side(holder), syntax.right_side(holder)
    elif syntax.is_var_spec(holder):
        left, right = syntax.var_spec_names(holder), syntax.var_spec_values(holder)
    else:
        return None
    if len(left) != 1 or len(right) != 1 or not syntax.is_identifier(left[0]):
        return None
    return next((d for d in scopes.declarations() if syntax.same_node(d.ident, left[0])), None)


def getter_field(info: FunctionInfo | None) -> bytes | None:
    """For a method whose body only returns one field of its receiver (after an optional
    `if r == nil { return nil }`): that field's name."""
    if info is None or info.receiver_name is None:
        return None
    body = syntax.function_body(info.node)
    statements = syntax.statements(body)
    if not statements or syntax.result_count(info.node) != 1:
        return None
    for statement in statements[:-1]:
        if not syntax.is_if(statement) or syntax.else_branch(statement) is not None:
            return None
        inner = syntax.statements(syntax.then_branch(statement))
        if len(inner) != 1 or not syntax.is_return(inner[0]):
            return None
    last = statements[-1]
    if not syntax.is_return(last):
        return None
    values = syntax.return_values(last)
    if len(values) != 1:
        return None
    parts = syntax.selector_parts(unparen(values[0]))
    if parts is None or not syntax.is_identifier(unparen(parts[0])) or unparen(parts[0]).text != info.receiver_name:
        return None
    return parts[1].text


# -- selects that can stop ------------------------------------------------------------------


@dataclass(frozen=True)
class StopCase:
    """A case of a select that stops waiting: `case <-S:` whose body leaves."""

    clause: Node  # the communication clause
    channel: Node  # S, as written (parentheses dropped)
    select: Node


def stop_cases(source, select: Node, besides: Node | None = None) -> list[StopCase]:
    """The cases of ``select`` (other than ``besides``) that receive without keeping a value
    (`case <-S:`, `case _, ok := <-S:`) and then leave: the body returns, or jumps out of
    the loop around the select, or the select is in no loop of its function (waiting ends
    with it). Sends and `default` never count."""
    in_loop = _loop_around(select) is not None
    found = []
    for clause in syntax.switch_cases(select):
        if besides is not None and syntax.same_node(clause, besides):
            continue
        communication = syntax.select_communication(clause)
        if communication is None or syntax.is_send(communication):
            continue
        receive = _received(communication)
        if receive is None:
            continue
        if in_loop and not _leaves_loop(source, clause, select):
            continue
        operand = syntax.unary_operand(receive)
        if operand is None:
            continue
        found.append(StopCase(clause, unparen(operand), select))
    return found


def enclosing_stop(source, node: Node, function: Node) -> list[StopCase]:
    """The stop cases of the nearest select whose case body or `default` holds ``node``
    (within ``function``): ``node`` runs after that select chose another case."""
    child = node
    for parent in ancestors(node):
        if syntax.same_node(parent, function) or syntax.is_function(parent):
            return []
        if syntax.is_select_case(parent) or syntax.is_default_clause(parent):
            communication = syntax.select_communication(parent)
            if communication is not None and (syntax.same_node(communication, child) or syntax.is_inside(child, communication)):
                child = parent
                continue  # the node is the communication itself, not in the body
            select = parent.parent
            if select is not None and syntax.is_select(select):
                return stop_cases(source, select, besides=parent)
        child = parent
    return []


def _received(communication: Node) -> Node | None:
    """The `<-S` of `<-S`, `_ = <-S`, `_, ok := <-S` (a value that is kept does not count)."""
    if syntax.is_receive(unparen(communication)):
        return unparen(communication)
    if syntax.is_expression_statement(communication):
        inner = syntax.expression_of(communication)
        return unparen(inner) if inner is not None and syntax.is_receive(unparen(inner)) else None
    right = syntax.right_node(communication)
    if right is None:
        return None
    items = syntax.expression_list_items(right) if syntax.is_expression_list(right) else [right]
    if len(items) != 1 or not syntax.is_receive(unparen(items[0])):
        return None
    left = syntax.left_side(communication)
    if left and any(not (syntax.is_identifier(n) and n.text in (b"_", b"ok")) for n in left[:1]):
        return None
    return unparen(items[0])


def _loop_around(select: Node) -> Node | None:
    for parent in ancestors(select):
        if syntax.is_function(parent):
            return None
        if syntax.is_loop(parent):
            return parent
    return None


def _leaves_loop(source, clause: Node, select: Node) -> bool:
    """The case body returns, or breaks / goes to a label outside the loop around the select."""
    from gofix_defer.codemods.analysis.control import jump_target

    loop = _loop_around(select)
    for node in syntax.walk_no_funcs(clause):
        if syntax.is_return(node) or syntax.is_goto(node):
            return True
        if syntax.is_break(node) and syntax.jump_label(node) is not None:
            target = jump_target(node)
            if target is not None and loop is not None and (syntax.same_node(target, loop) or syntax.is_inside(loop, target)):
                return True
    return False


# -- what runs after an operation ---------------------------------------------------------


def _common_ancestor(a: Node, b: Node) -> Node | None:
    """The innermost node holding both ``a`` and ``b``."""
    for parent in ancestors(b):
        if syntax.same_node(parent, a) or syntax.is_inside(a, parent):
            return parent
    return None


def runs_after(node: Node, later: Node, function: Node) -> bool:
    """In one call of ``function`` (which holds both, outside any literal of theirs),
    ``later`` can run only after ``node`` has: it is deferred by ``function``, or it
    follows ``node`` in the source and no loop of ``function`` holds them both (a loop
    would run ``later`` before ``node``'s next turn)."""
    if _deferred_by(later, function):
        return True
    if later.start_byte < node.end_byte:
        return False
    common = _common_ancestor(node, later)
    if common is None:
        return False
    for parent in [common, *ancestors(common)]:
        if syntax.same_node(parent, function):
            return True
        if syntax.is_loop(parent) or syntax.is_function(parent):
            return False
    return False


def unconditional_after(node: Node, later: Node, function: Node) -> bool:
    """``runs_after``, and nothing between ``later`` and the block it shares with ``node``
    chooses whether it runs (no if, switch, select or loop of its own)."""
    if not runs_after(node, later, function):
        return False
    common = _common_ancestor(node, later)
    for parent in ancestors(later):
        if common is not None and syntax.same_node(parent, common):
            return True
        if syntax.is_function(parent):
            return False
        if not (syntax.is_block(parent) or syntax.is_labeled(parent) or syntax.is_defer(parent) or syntax.is_expression_statement(parent) or syntax.is_call(parent)):
            return False
    return False


def _deferred_by(node: Node, function: Node) -> bool:
    for parent in ancestors(node):
        if syntax.same_node(parent, function) or syntax.is_function(parent):
            return False
        if syntax.is_defer(parent):
            return True
    return False
