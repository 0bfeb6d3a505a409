"""deferred-unblock beyond the fixtures: CRLF files, and the two fix forms."""

from __future__ import annotations

from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.rules import by_name

RULE = by_name("deferred-unblock")


def fix(source: bytes) -> bytes:
    result = process("x.go", source, Settings(rules=[RULE], apply_fixes=True))
    assert not result.errors
    return result.fixed


def test_function_body_lock_is_deferred_and_explicit_unlocks_go_crlf() -> None:
    source = (
        b"package p\r\n\r\nimport \"sync\"\r\n\r\nfunc f(mu *sync.Mutex, a, b bool) {\r\n\tmu.Lock()\r\n"
        b"\tif a {\r\n\t\tmu.Unlock()\r\n\t\treturn\r\n\t}\r\n\tif b {\r\n\t\treturn\r\n\t}\r\n\tmu.Unlock()\r\n}\r\n"
    )
    assert fix(source) == (
        b"package p\r\n\r\nimport \"sync\"\r\n\r\nfunc f(mu *sync.Mutex, a, b bool) {\r\n\tmu.Lock()\r\n\tdefer mu.Unlock()\r\n"
        b"\tif a {\r\n\t\treturn\r\n\t}\r\n\tif b {\r\n\t\treturn\r\n\t}\r\n}\r\n"
    )


def test_work_after_the_unlock_keeps_the_explicit_form() -> None:
    # A deferred unlock would hold the lock across work(): release on the exit instead.
    source = (
        b"package p\n\nimport \"sync\"\n\nfunc work() {}\n\nfunc f(mu *sync.Mutex, a bool) {\n\tmu.Lock()\n"
        b"\tif a {\n\t\treturn\n\t}\n\tmu.Unlock()\n\twork()\n}\n"
    )
    assert fix(source) == source.replace(b"\tif a {\n\t\treturn", b"\tif a {\n\t\tmu.Unlock()\n\t\treturn")


def test_a_lock_carried_out_of_the_loop_is_not_reported() -> None:
    source = (
        b"package p\n\nimport \"sync\"\n\nfunc f(mu *sync.Mutex, ok func() bool) {\n\tfor {\n\t\tmu.Lock()\n"
        b"\t\tif ok() {\n\t\t\tbreak\n\t\t}\n\t\tmu.Unlock()\n\t}\n\tmu.Unlock()\n}\n"
    )
    assert list(RULE.check(SourceFile("x.go", source, (1, 22)))) == []
