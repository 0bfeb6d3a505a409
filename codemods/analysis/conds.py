"""sync.Cond fields, followed across the files of a package.

``CondFields.quiet(name)`` answers "can anything in the package wake a
waiter of the Cond field called ``name``?" from every use of a field of that
name, whatever its owner: a use that waits (`x.c.Wait()`), takes the Cond's
lock (`x.c.L.Lock()`) or sets it up (`x.c = sync.NewCond(&mu)`) cannot; any
other (`Signal`, `Broadcast`, `c := x.c`, `f(x.c)`, `&x.c`) may. Fields of
other types that share the name count too, so the answer errs towards "may".
"""

from __future__ import annotations

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.facts import PackageFact
from gofix_defer.codemods.analysis.index import Declarations, ValueKind
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types

# The uses `x.c.M` of a Cond field that cannot wake its waiters.
_QUIET_MEMBERS = frozenset({b"Wait", b"L"})


class CondFields(PackageFact):
    """Which sync.Cond fields of the package nothing signals."""

    def __init__(self, package) -> None:
        super().__init__(package)
        self._quiet: dict[bytes, bool] = {}
        self._declared: dict[bytes, bool] = {}

    def unsignalled(self, name: bytes) -> bool:
        """Is ``name`` a sync.Cond field of the package that nothing can signal: only the
        package reaches it (unexported, or in `package main`), and no use of it can wake
        a waiter?"""
        if name[:1].isupper() and self.package.name not in (None, b"main"):
            return False  # other packages may signal it
        return self.is_cond_field(name) and self.quiet(name)

    def is_cond_field(self, name: bytes) -> bool:
        """Does a struct of the package declare a (non-embedded) field ``name`` stated as
        `sync.Cond` or `*sync.Cond`, and no field of that name of another kind?"""
        found = self._declared.get(name)
        if found is None:
            kinds = set()
            for source in self.package.files_saying(name):
                for info in source.facts(Declarations).fields_named(name):
                    kinds.add(ValueKind.OTHER if info.embedded else info.kind)
            found = self._declared[name] = kinds == {ValueKind.COND}
        return found

    def quiet(self, name: bytes) -> bool:
        """Is every use of a field called ``name``, in every file of the package, one that
        cannot wake a waiter?"""
        found = self._quiet.get(name)
        if found is None:
            found = self._quiet[name] = all(
                _quiet_use(source, selector)
                for source in self.package.files_saying(name)
                for selector in nodes_of_types(source, syntax.SELECTOR_KINDS)
                if _member(source, selector) == name
            )
        return found


def _member(source, selector: Node) -> bytes | None:
    parts = syntax.selector_parts(selector)
    return source.text(parts[1]) if parts is not None else None


def _quiet_use(source, selector: Node) -> bool:
    parent = selector.parent
    if parent is not None and syntax.is_selector(parent) and syntax.same_node(syntax.operand(parent), selector):
        return _member(source, parent) in _QUIET_MEMBERS
    if parent is not None and syntax.is_address_of(parent):
        return False
    if syntax.is_write_target(selector):
        statement = parent.parent if parent is not None else None
        return statement is not None and b"sync.NewCond(" in source.text(statement)
    return False
