"""Suppression comments and generated-file detection.

Two spellings silence findings:

* ``//gofix-defer:ignore`` (every rule) or ``//gofix-defer:ignore rule-a,rule-b``
  on the finding's line, or alone on the line above it;
* the Go linters' ``//nolint`` directive, as golangci-lint reads it: bare
  ``//nolint``, ``//nolint:all``, ``//nolint:gofix-defer`` (also inside a list,
  ``//nolint:errcheck,gofix-defer``) or ``//nolint:<rule>``, optionally followed
  by an explanation (``//nolint:gofix-defer // closed by the caller``). It covers
  its own line; alone on a line it also covers the next one, and when a
  declaration or statement starts on the next line at the comment's column,
  all of that node, as golangci-lint does (``//nolint`` above a ``func`` silences the whole
  function; above the package clause, the whole file).

Only real comments count: the same text inside a string literal does not.
"""

from __future__ import annotations

import re

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.source import SourceFile

_IGNORE = re.compile(rb"//\s*gofix-defer:ignore(?:[ \t]+([\w\-, \t]+))?")
# golangci-lint: the comment text, with its leading slashes and spaces trimmed,
# must match ^nolint( |:|$).
_NOLINT = re.compile(rb"nolint(?::([^\s/]*))?(?=\s|//|$)")
_CANDIDATE = re.compile(rb"//[ \t]*(?:nolint|gofix-defer:ignore)")
_GENERATED = re.compile(rb"^// Code generated .* DO NOT EDIT\.\r?$", re.MULTILINE)
# Linter names in //nolint:a,b that mean this tool (besides a rule's own name).
_NOLINT_ALL = {b"all", b"gofix-defer"}


def is_generated(data: bytes) -> bool:
    """Go's convention: the comment must appear before the package clause."""
    package = re.search(rb"^package\s", data, re.MULTILINE)
    head = data[: package.start()] if package else data
    return _GENERATED.search(head) is not None


class Suppressions:
    """Which rules are silenced on which lines, read from the file's comments."""

    ALL = "*"

    def __init__(self, source: SourceFile):
        self._by_line: dict[int, set[str]] = {}
        # (first line, last line, rules): a //nolint stretched over the node below it.
        self._ranges: list[tuple[int, int, set[str]]] = []
        data = source.data
        if b"nolint" not in data and b"gofix-defer:ignore" not in data:
            return
        seen: set[int] = set()
        for match in _CANDIDATE.finditer(data):
            node = source.root.descendant_for_byte_range(match.start(), match.start() + 2)
            if node is None or not syntax.is_comment(node) or node.start_byte in seen:
                continue  # inside a string literal, or a comment already read
            seen.add(node.start_byte)
            start = node.start_byte
            comment = data[start : node.end_byte]
            line, _ = source.line_col(start)
            own_line = data[source.line_start(start) : start].strip() == b""
            rules = _ignored_rules(comment)
            if rules is not None:
                self._add(line, rules)
                if own_line:  # a comment alone on its line covers the next line too
                    self._add(line + 1, rules)
                continue
            rules = _nolint_rules(comment)
            if rules is None:
                continue
            self._add(line, rules)
            if own_line:
                self._add(line + 1, rules)
                last = _node_below(source, node)
                if last is not None:
                    self._ranges.append((line + 1, last, rules))

    def _add(self, line: int, rules: set[str]) -> None:
        self._by_line.setdefault(line, set()).update(rules)

    def suppressed(self, rule: str, line: int) -> bool:
        rules = self._by_line.get(line)
        if rules is not None and (self.ALL in rules or rule in rules):
            return True
        return any(first <= line <= last and (self.ALL in rules or rule in rules) for first, last, rules in self._ranges)


def _ignored_rules(comment: bytes) -> set[str] | None:
    match = _IGNORE.search(comment)
    if not match:
        return None
    listed = match.group(1)
    names = {n.strip().decode() for n in re.split(rb"[,\s]+", listed or b"") if n.strip()}
    return names or {Suppressions.ALL}


def _nolint_rules(comment: bytes) -> set[str] | None:
    """The rules a //nolint comment silences (ALL for every one), or None."""
    text = comment.lstrip(b"/ \t")
    match = _NOLINT.match(text)
    if match is None:
        return None
    listed = match.group(1)
    if listed is None:
        return {Suppressions.ALL}  # bare //nolint: every linter
    names = {name.strip() for name in listed.split(b",") if name.strip()}
    if names & _NOLINT_ALL:
        return {Suppressions.ALL}
    return {name.decode("utf-8", "replace") for name in names} or None


def _node_below(source: SourceFile, comment) -> int | None:
    """The last line of the node that starts on the line after ``comment`` at its
    column (golangci-lint's rule), or None when nothing starts there."""
    row, column = comment.start_point
    root = source.root
    node = root.descendant_for_point_range((row + 1, column), (row + 1, column))
    if node is None or syntax.is_comment(node) or tuple(node.start_point) != (row + 1, column):
        return None
    while node.parent is not None and node.parent != root and tuple(node.parent.start_point) == (row + 1, column):
        node = node.parent
    package = source.package_clause()
    if package is not None and package.start_byte == node.start_byte:
        return source.line_col(len(source.data))[0]  # above the package clause: the whole file
    return node.end_point[0] + 1
