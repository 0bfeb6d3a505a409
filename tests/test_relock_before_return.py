"""relock-before-return: the two Lock calls must be on one lock, not one variable."""

from __future__ import annotations

from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.rules import by_name

RULE = by_name("relock-before-return")


def findings(source: bytes) -> list[str]:
    return [d.message for d in RULE.check(SourceFile("x.go", source, (1, 22)))]


def test_two_fields_of_one_variable_are_two_locks() -> None:
    source = (
        b"package p\n\nimport \"sync\"\n\ntype s struct {\n\ta, b sync.Mutex\n\tn    int\n}\n\n"
        b"func (x *s) f() {\n\tx.a.Lock()\n\tif x.n > 0 {\n\t\tx.b.Lock()\n\t\treturn\n\t}\n\tx.a.Unlock()\n}\n"
    )
    assert findings(source) == []


def test_the_same_field_is_still_a_relock() -> None:
    source = (
        b"package p\n\nimport \"sync\"\n\ntype s struct {\n\ta, b sync.Mutex\n\tn    int\n}\n\n"
        b"func (x *s) f() {\n\tx.a.Lock()\n\tif x.n > 0 {\n\t\tx.a.Lock()\n\t\treturn\n\t}\n\tx.a.Unlock()\n}\n"
    )
    (message,) = findings(source)
    assert message.startswith("x.a.Lock() right before returning")
