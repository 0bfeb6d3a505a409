"""The base class of every rule: metadata plus one `check`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable, ClassVar, Iterable

from gofix_defer.codemods.model.diagnostic import Diagnostic
from gofix_defer.codemods.model.fix import Applicability, Fix

if TYPE_CHECKING:  # pragma: no cover
    from gofix_defer.codemods.analysis.facts import Fact
    from gofix_defer.codemods.analysis.source import SourceFile


def says(source, question: "bytes | re.Pattern[bytes] | Callable[[bytes], bool]") -> bool:
    """Do the file's bytes hold ``question`` (a byte string, a match of a pattern, or a yes
    from a scan of the bytes such as ``lexical.defer_inside_loop``)? Answered once per
    file (``source.byte_answers``, kept from the prefilter to the rules' checks): the
    prefilters of many rules ask the same (`defer`, `go `, `make(chan`), and each asking
    is a pass over the bytes."""
    answers = source.byte_answers
    found = answers.get(question)
    if found is None:
        if isinstance(question, bytes):
            found = question in source.data
        elif isinstance(question, re.Pattern):
            found = question.search(source.data) is not None
        else:
            found = bool(question(source.data))
        answers[question] = found
    return found


class Rule:
    """Base class for rules: declarative metadata plus one ``check``.

    Subclasses set the class attributes and implement ``check``. The doc
    (``__doc__``) carries the sections What it does / Why is this bad /
    Example / Fix / Fix safety; ``gofix-defer explain RULE`` prints it.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    # "always", "sometimes" or "never": whether findings carry a fix.
    fix_availability: ClassVar[str] = "sometimes"
    # Default applicability of this rule's fixes (for docs and harness checks).
    applicability: ClassVar[Applicability] = Applicability.SAFE
    # The rule only runs on files whose Go version is strictly below this.
    max_go_version: ClassVar[tuple[int, int] | None] = None
    # A file lacking every one of these byte strings cannot match: the engine
    # skips parsing it for this rule.
    triggers: ClassVar[tuple[bytes, ...]] = ()
    # True when ``applies_to`` (overridden) makes a pass over the file's bytes, such as
    # a lexical scan, rather than substring tests: to decide whether a file needs a parse
    # at all, the engine asks such rules last, and not when a cheaper one said yes.
    scans_bytes: ClassVar[bool] = False
    # The fact families (analysis.facts.Fact subclasses) the rule reads through
    # ``source.facts(...)``; the engine lets it read nothing else. None means
    # "not declared" (allowed for test rules; every built-in rule declares).
    requires: ClassVar["tuple[type[Fact], ...] | None"] = None
    # Why the rule runs only when selected by name (`--select`, or `select` in a
    # config file): its measured precision on real code is below the bar a
    # default rule must meet. None: the rule runs by default.
    opt_in: ClassVar[str | None] = None

    def check(self, source: "SourceFile") -> Iterable[Diagnostic]:  # pragma: no cover
        raise NotImplementedError

    @classmethod
    def doc(cls) -> str:
        import inspect

        return inspect.cleandoc(cls.__doc__ or cls.summary)

    def applies_to(self, source: "SourceFile") -> bool:
        if self.max_go_version is not None and source.go_version >= self.max_go_version:
            return False
        return not self.triggers or any(says(source, t) for t in self.triggers)

    def diagnostic(self, node_or_range, message: str, fix: Fix | None = None) -> Diagnostic:
        """Build a diagnostic for a tree-sitter node or a (start, end) pair."""
        if isinstance(node_or_range, tuple):
            start, end = node_or_range
        else:
            start, end = node_or_range.start_byte, node_or_range.end_byte
        return Diagnostic(rule=self.name, start=start, end=end, message=message, fix=fix)
