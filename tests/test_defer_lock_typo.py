"""Unit tests for defer-lock-typo: the edit touches only the method name."""

from __future__ import annotations

from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.codemods.model import Applicability
from gofix_defer.rules import by_name

RULE = by_name("defer-lock-typo")

SOURCE = b"package p\r\n\r\nimport \"sync\"\r\n\r\nfunc f(mu *sync.RWMutex) {\r\n\tmu.RLock()\r\n\tdefer mu.RLock() // r\xc3\xa9ad\r\n}\r\n"


def test_fix_renames_the_method_only_and_keeps_crlf_and_comment():
    result = process("x.go", SOURCE, Settings(rules=[RULE], apply_fixes=True))
    assert not result.errors
    assert result.fixed == SOURCE.replace(b"defer mu.RLock()", b"defer mu.RUnlock()")


def test_diagnostic_spans_the_defer_statement_and_is_safe():
    source = SourceFile("x.go", SOURCE, (1, 22))
    (diagnostic,) = list(RULE.check(source))
    assert SOURCE[diagnostic.start : diagnostic.end] == b"defer mu.RLock()"
    assert diagnostic.fix.applicability is Applicability.SAFE


def test_a_release_in_between_is_the_relock_idiom():
    text = b"package p\n\nimport \"sync\"\n\nfunc f(mu *sync.Mutex) {\n\tmu.Lock()\n\tmu.Unlock()\n\tdefer mu.Lock()\n}\n"
    assert list(RULE.check(SourceFile("x.go", text, (1, 22)))) == []
