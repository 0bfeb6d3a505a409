"""Facts: what the analysis knows about a file or a package, computed once.

In the style of go/analysis (`Analyzer.Requires`, `Pass.ResultOf`) and
Ruff's semantic model: a rule declares the fact families it reads in
``Rule.requires``; ``source.facts(Kind)`` computes a family the first time
any rule asks and shares the same object with every later caller. Facts
about one file live on its SourceFile; facts about a whole package (its
index, call summaries) live on the Package and are shared by its files.

While the engine runs a rule, asking for a family the rule did not declare
(directly or through another family's ``requires``) is an error, as in
go/analysis: the declaration is what lets the engine know, before running a
rule, whether it needs the package's other files parsed.

A family is a class:

    class Channels(Fact):
        requires = (Scopes,)

        def made_in(self, function): ...   # cached per function inside

Families never raise on odd input: they answer "nothing known".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Iterable

if TYPE_CHECKING:  # pragma: no cover
    from gofix_defer.codemods.analysis.package import Package
    from gofix_defer.codemods.analysis.source import SourceFile


class Fact:
    """A family of facts about one file, computed lazily and cached on its SourceFile."""

    requires: ClassVar[tuple[type["Fact"], ...]] = ()
    # True for families about the whole package: cached on the Package, and
    # reading one may parse the package's other files.
    per_package: ClassVar[bool] = False

    def __init__(self, source: "SourceFile") -> None:
        self.source = source


class PackageFact(Fact):
    """A family of facts about a whole package, cached on the Package."""

    per_package = True

    def __init__(self, package: "Package") -> None:
        self.package = package


class UndeclaredFact(RuntimeError):
    """A rule read a fact family it did not list in ``requires``."""


def closure(kinds: Iterable[type[Fact]]) -> frozenset[type[Fact]]:
    """``kinds`` and every family they require, transitively."""
    seen: set[type[Fact]] = set()
    stack = list(kinds)
    while stack:
        kind = stack.pop()
        if kind in seen:
            continue
        seen.add(kind)
        stack.extend(kind.requires)
    return frozenset(seen)


def needs_package(kinds: Iterable[type[Fact]]) -> bool:
    """Does reading these families (or what they require) need the whole package?"""
    return any(kind.per_package for kind in closure(kinds))
