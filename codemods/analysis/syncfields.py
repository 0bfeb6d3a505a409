"""sync.Cond and sync.WaitGroup fields, followed across the files of a package.

A waiter on a Cond field is woken by `Signal` or `Broadcast`; a waiter on a
WaitGroup field by the `Done` that brings its counter to zero. ``SyncFields``
answers, for a field `f` of a package type `T`, whether anything in the
package could do that, from every use `x.f` whose `x` is a `T` or may be one
(its type is not stated, or reaches `f` by embedding `T`; only a use on a
type with its own field `f` is left out, so the answer errs towards "could"):

- a Cond field is *unsignalled* when every use waits (`x.c.Wait()`), takes
  its lock (`x.c.L.Lock()`) or sets it up (`x.c = sync.NewCond(&mu)`);
- a WaitGroup field is *never done* when every use waits or adds a count
  known to be positive (`x.wg.Add(1)`, `x.wg.Add(len(items))`), and one adds.

Any other use (`Signal`, `Done`, `Go`, `Add(n)`, `c := x.c`, `f(x.c)`,
`&x.c`) could wake a waiter. A field other packages can reach (exported,
outside `package main`) is never answered for.
"""

from __future__ import annotations

from typing import Iterable

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.facts import PackageFact
from gofix_defer.codemods.analysis.fieldchannels import FieldChannels
from gofix_defer.codemods.analysis.index import PackageIndex, ValueKind
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.scope import Scopes

# What a use of a field does, as far as waking its waiters goes.
WAITS, QUIET, ADDS, MAY_WAKE = "waits", "quiet", "adds", "may-wake"


class SyncFields(PackageFact):
    """Which sync.Cond and sync.WaitGroup fields of the package nothing can release, by
    (type, field)."""

    requires = (PackageIndex, Scopes, FieldChannels)

    def __init__(self, package) -> None:
        super().__init__(package)
        self.index = package.facts(PackageIndex)
        self._types = package.facts(FieldChannels)  # its resolvers: which package type an expression is
        self._uses: dict[tuple[bytes, bytes], frozenset[str]] = {}

    def field_of(self, source, selector: Node) -> tuple[bytes, bytes] | None:
        """(T, f) for `x.f` when the source states that ``x`` is the package's `T` or `*T`."""
        parts = syntax.selector_parts(selector)
        function = syntax.enclosing_function(selector)
        if parts is None or function is None or syntax.is_package_identifier(parts[0]):
            return None
        owner = self._types.resolver(source, function).type_name(parts[0])
        return (owner, source.text(parts[1])) if owner is not None else None

    def unsignalled_cond(self, key: tuple[bytes, bytes]) -> bool:
        """Is field ``key`` a sync.Cond only the package reaches, that nothing in the
        package can signal?"""
        return self._only(key, ValueKind.COND) and MAY_WAKE not in self._use_kinds(key, ValueKind.COND)

    def never_done_waitgroup(self, key: tuple[bytes, bytes]) -> bool:
        """Is field ``key`` a sync.WaitGroup only the package reaches, that the package adds
        to and never marks done?"""
        return self._only(key, ValueKind.WAITGROUP) and never_done(self._use_kinds(key, ValueKind.WAITGROUP))

    def _only(self, key: tuple[bytes, bytes], kind: ValueKind) -> bool:
        """Is ``key`` a field of that kind (not embedded) that only the package reaches?"""
        type_name, name = key
        if self.index.reachable_from_outside(name):
            return False  # other packages may release it
        info = self.index.types.get(type_name)
        found = info.field(name) if info is not None else None
        return found is not None and not found.embedded and found.kind is kind

    def _use_kinds(self, key: tuple[bytes, bytes], kind: ValueKind) -> frozenset[str]:
        """What the package's uses of field ``key`` do: every `x.f` whose `x` is a `T`, or
        may be (its type not stated, or a type that reaches `f` by embedding)."""
        found = self._uses.get(key)
        if found is None:
            uses = set()
            for source in self.package.files_saying(key[1]):
                for selector in nodes_of_types(source, syntax.SELECTOR_KINDS):
                    if _member(source, selector) == key[1] and not self._another_field(source, selector, key):
                        uses.add(use_of(source, selector, kind))
            found = self._uses[key] = frozenset(uses)
        return found

    def _another_field(self, source, selector: Node, key: tuple[bytes, bytes]) -> bool:
        """Is `x.f` a field of another type, one that declares its own `f`?"""
        owner = self.field_of(source, selector)
        if owner is None or owner == key:
            return False
        info = self.index.types.get(owner[0])
        return info is not None and info.field(key[1]) is not None


def never_done(uses: Iterable[str]) -> bool:
    """Do these uses of one WaitGroup (``use_of``) add to it, with none that could mark it
    done?"""
    found = set(uses)
    return MAY_WAKE not in found and ADDS in found


def _member(source, selector: Node) -> bytes | None:
    parts = syntax.selector_parts(selector)
    return source.text(parts[1]) if parts is not None else None


def use_of(source, node: Node, kind: ValueKind) -> str:
    """What one use of a Cond or WaitGroup does to its waiters: ``node`` is the field's
    selector (`x.f`) or a variable's identifier; WAITS, QUIET, ADDS or MAY_WAKE."""
    selector = node
    parent = selector.parent
    if parent is not None and syntax.is_selector(parent) and syntax.same_node(syntax.operand(parent), selector):
        member = _member(source, parent)
        call = parent.parent if parent.parent is not None and syntax.is_call(parent.parent) else None
        if member == b"Wait" and call is not None:
            return WAITS
        if kind is ValueKind.COND and member == b"L":
            return QUIET
        if kind is ValueKind.WAITGROUP and member == b"Add" and call is not None and _positive(source, call):
            return ADDS
        return MAY_WAKE
    if parent is not None and syntax.is_address_of(parent):
        return MAY_WAKE
    if syntax.is_write_target(selector):
        statement = parent.parent if parent is not None else None
        return QUIET if statement is not None and b"sync.NewCond(" in source.text(statement) else MAY_WAKE
    return MAY_WAKE


def _positive(source, call: Node) -> bool:
    """`Add(1)`, `Add(len(xs))`: a count that cannot be negative (and is not a Done)."""
    arguments = syntax.call_arguments(call)
    if len(arguments) != 1:
        return False
    value = syntax.unparen(arguments[0])
    if syntax.is_basic_literal(value):
        text = source.text(value)
        return text.isdigit() and int(text) > 0
    return syntax.is_builtin_call(value, b"len")
