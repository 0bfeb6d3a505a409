"""The rule-author guide's example rule is real code: it runs and does what it says."""

from __future__ import annotations

import re
from pathlib import Path

from gofix_defer.codemods.engine.process import Settings, process

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "CONTRIBUTING-RULES.md"


def _example_rule():
    text = GUIDE.read_text()
    match = re.search(r"## A whole rule\n\n```python\n(.*?)\n```\n", text, re.S)
    assert match, "the guide lost its example"
    namespace: dict = {}
    exec(compile(match.group(1), str(GUIDE), "exec"), namespace)
    return namespace["RULE"]


def test_the_guides_example_rule_reports_and_fixes():
    rule = _example_rule()
    source = b"package p\n\nfunc f() {\n\tdone := make(chan struct{})\n\tused := make(chan int)\n\tgo func() { used <- 1 }()\n\t<-used\n}\n"
    checked = process("x.go", source, Settings(rules=[rule]))
    assert [(d.rule, d.line, d.message) for d in checked.diagnostics] == [("lonely-channel", 4, "channel done is made and never used")]
    fixed = process("x.go", source, Settings(rules=[rule], apply_fixes=True))
    assert fixed.fixed == source.replace(b"\tdone := make(chan struct{})\n", b"")
    assert not fixed.errors


def test_the_guides_example_rule_says_why_it_has_no_fix():
    rule = _example_rule()
    source = b"package p\n\nfunc f() {\n\ta, b := make(chan int), 1\n\t_ = b\n}\n"
    [diagnostic] = process("x.go", source, Settings(rules=[rule])).diagnostics
    assert diagnostic.fix is None and diagnostic.message.endswith("(no fix: the statement declares more than the channel)")
