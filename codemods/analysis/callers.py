"""Call sites: where the package calls one of its functions, and what the caller
does with the value it gets back.

``CallSites.to(info)`` lists the calls, in every file of the package, that
resolve to the function or method ``info`` the way ``CallSummaries`` resolves
them (`f(x)` to the package's function `f`, `r.m(x)` and `p.m(x)` to a method
of the receiver's or a parameter's stated type). A call through a function
value, a method called on a local variable, or a call from another package is
not seen: the list is what the package shows, not every caller there is.

``result_use(site, index)`` says what the caller does with the ``index``-th
result of one such call:

===============  =========================================================
kind             example
===============  =========================================================
``DROPPED``      ``f(x)``, ``go f(x)``, ``defer f(x)``, ``_ = f(x)``,
                 ``_, err := f(x)``, and a variable the caller declares from
                 it and never uses
``RECEIVED``     ``<-f(x)`` (``receive`` is the `<-` expression)
``BOUND``        ``ch := f(x)`` / ``var ch = f(x)``: a variable the caller
                 declares (``declaration``), in the function ``function``
``OTHER``        anything else: passed on, returned, stored, assigned
===============  =========================================================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.calls import _resolve as resolve_call
from gofix_defer.codemods.analysis.facts import PackageFact
from gofix_defer.codemods.analysis.index import FunctionInfo, PackageIndex
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.scope import Declaration, Scopes
from gofix_defer.codemods.analysis.syntax import paren_parent, unparen

if TYPE_CHECKING:  # pragma: no cover
    from gofix_defer.codemods.analysis.source import SourceFile


@dataclass(frozen=True)
class CallSite:
    source: "SourceFile"  # the file holding the call
    call: Node  # the call expression
    function: Node  # the innermost function (declaration or literal) holding it


class ResultKind(str, enum.Enum):
    DROPPED = "dropped"
    RECEIVED = "received"
    BOUND = "bound"
    OTHER = "other"


@dataclass(frozen=True)
class ResultUse:
    kind: ResultKind
    receive: Node | None = None  # RECEIVED: the `<-f(x)` expression
    declaration: Declaration | None = None  # BOUND: the caller's variable


class CallSites(PackageFact):
    """The calls of the package to each of its functions (found by name, then resolved)."""

    requires = (PackageIndex, Scopes)

    def __init__(self, package) -> None:
        super().__init__(package)
        self.index = package.facts(PackageIndex)
        self._by_name: dict[bytes, list[CallSite]] = {}

    def _candidates(self, wanted: bytes) -> list[CallSite]:
        """Every call of the package whose callee is the name ``wanted`` or a selector of
        it (`f(…)`, `x.f(…)`), in file and source order: only files that say the name are
        read."""
        if wanted not in self._by_name:
            found: list[CallSite] = []
            for source in self.package.files_mentioning(wanted):
                for call in nodes_of_types(source, syntax.CALL_KINDS):
                    function = syntax.callee(call)
                    if function is None:
                        continue
                    function = unparen(function)
                    if syntax.is_identifier(function):
                        name = source.text(function)
                    else:
                        parts = syntax.selector_parts(function)
                        if parts is None:
                            continue
                        name = source.text(parts[1])
                    if name != wanted:
                        continue
                    holder = syntax.enclosing_function(call)
                    if holder is None:
                        continue  # a package-level initialiser
                    found.append(CallSite(source, call, holder))
            self._by_name[wanted] = found
        return self._by_name[wanted]

    def to(self, info: FunctionInfo) -> list[CallSite]:
        """The calls of the package that resolve to ``info``, in file and source order."""
        found = []
        for site in self._candidates(info.name):
            outermost = syntax.outermost_function(site.call)
            if outermost is None:
                continue
            resolved = resolve_call(self.index, site.source, site.source.scopes(outermost), site.call)
            if resolved is not None and resolved.source is info.source and syntax.same_node(resolved.node, info.node):
                found.append(site)
        return found


def result_use(site: CallSite, index: int, count: int) -> ResultUse:
    """What the caller does with result ``index`` of the ``count`` results of ``site.call``."""
    node, parent = paren_parent(site.call)
    if parent is None:
        return ResultUse(ResultKind.OTHER)
    if syntax.is_expression_statement(parent) or syntax.is_go(parent) or syntax.is_defer(parent):
        return ResultUse(ResultKind.DROPPED)
    if count == 1 and syntax.is_receive(parent):
        return ResultUse(ResultKind.RECEIVED, receive=parent)
    if not syntax.is_expression_list(parent):
        return ResultUse(ResultKind.OTHER)
    holder = parent.parent
    if holder is None or [unparen(v) for v in syntax.expression_list_items(parent)] != [site.call]:
        return ResultUse(ResultKind.OTHER)
    if syntax.is_short_var_declaration(holder) or syntax.is_assignment(holder):
        if syntax.right_node(holder) != parent:
            return ResultUse(ResultKind.OTHER)
        targets = syntax.left_side(holder)
    elif syntax.is_var_spec(holder):
        targets = syntax.var_spec_names(holder)
    else:
        return ResultUse(ResultKind.OTHER)
    if len(targets) != count or not 0 <= index < count:
        return ResultUse(ResultKind.OTHER)
    target = targets[index]
    if syntax.is_identifier(target) and site.source.text(target) == b"_":
        return ResultUse(ResultKind.DROPPED)
    if syntax.is_assignment(holder) or not syntax.is_identifier(target):
        return ResultUse(ResultKind.OTHER)  # an existing variable: its other uses are not followed
    scopes = site.source.scopes(site.function)
    declaration = next((d for d in scopes.declarations() if syntax.same_node(d.ident, target)), None)
    if declaration is None:
        return ResultUse(ResultKind.OTHER)
    if not scopes.references(declaration):
        return ResultUse(ResultKind.DROPPED)
    return ResultUse(ResultKind.BOUND, declaration=declaration)
