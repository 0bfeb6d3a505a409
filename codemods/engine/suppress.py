"""Suppression comments and generated-file detection."""

from __future__ import annotations

import re

from gofix_defer.codemods.analysis.source import SourceFile

_IGNORE = re.compile(rb"//\s*gofix-defer:ignore(?:[ \t]+([\w\-, \t]+))?")
_NOLINT = re.compile(rb"//\s*nolint:([\w\-,]+)")
_GENERATED = re.compile(rb"^// Code generated .* DO NOT EDIT\.\r?$", re.MULTILINE)


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
        data = source.data
        if b"gofix-defer" not in data:
            return
        for match in re.finditer(rb"//[^\n]*", data):
            comment = match.group(0)
            rules = _rules_in(comment)
            if rules is None:
                continue
            line, _ = source.line_col(match.start())
            own_line = source.data[source.line_start(match.start()) : match.start()].strip() == b""
            self._by_line.setdefault(line, set()).update(rules)
            if own_line:  # a comment alone on its line covers the next line too
                self._by_line.setdefault(line + 1, set()).update(rules)

    def suppressed(self, rule: str, line: int) -> bool:
        rules = self._by_line.get(line)
        return rules is not None and (self.ALL in rules or rule in rules)


def _rules_in(comment: bytes) -> set[str] | None:
    match = _IGNORE.search(comment)
    if match:
        listed = match.group(1)
        names = {n.strip().decode() for n in re.split(rb"[,\s]+", listed or b"") if n.strip()}
        return names or {Suppressions.ALL}
    match = _NOLINT.search(comment)
    if match and b"gofix-defer" in match.group(1).split(b","):
        return {Suppressions.ALL}
    return None
