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


def findings(source: bytes) -> list[str]:
    return [d.message for d in RULE.check(SourceFile("x.go", source, (1, 22)))]


def test_a_return_covered_by_a_deferred_unlock_taken_before_the_dance_is_left_alone() -> None:
    # nats-server's raft snapshot shape: an added n.Unlock() would make the deferred one
    # unlock an unlocked mutex ("fatal error: sync: Unlock of unlocked RWMutex").
    source = (
        b"package p\n\nimport \"sync\"\n\nfunc work() {}\n\nfunc f(n *sync.RWMutex, closed bool) {\n\tn.Lock()\n\tdefer n.Unlock()\n"
        b"\tn.Unlock()\n\twork()\n\tn.Lock()\n\tif closed {\n\t\treturn\n\t}\n\tn.Unlock()\n\twork()\n\tn.Lock()\n}\n"
    )
    assert findings(source) == []


def test_the_same_return_without_the_defer_is_still_a_leak() -> None:
    source = (
        b"package p\n\nimport \"sync\"\n\nfunc work() {}\n\nfunc f(n *sync.RWMutex, closed bool) {\n\tn.Lock()\n"
        b"\tn.Unlock()\n\twork()\n\tn.Lock()\n\tif closed {\n\t\treturn\n\t}\n\tn.Unlock()\n\twork()\n}\n"
    )
    assert fix(source) == source.replace(b"\tif closed {\n\t\treturn", b"\tif closed {\n\t\tn.Unlock()\n\t\treturn")


def test_a_continue_that_carries_the_lock_the_next_turn_releases_is_left_alone() -> None:
    source = (
        b"package p\n\nimport \"sync\"\n\nfunc work() {}\n\nfunc f(mu *sync.Mutex, xs []string) {\n\tmu.Lock()\n"
        b"\tfor _, x := range xs {\n\t\tmu.Unlock()\n\t\twork()\n\t\tmu.Lock()\n\t\tif x == \"\" {\n\t\t\tcontinue\n\t\t}\n"
        b"\t\tmu.Unlock()\n\t\twork()\n\t\tmu.Lock()\n\t}\n\tmu.Unlock()\n}\n"
    )
    assert findings(source) == []


def test_an_exit_in_a_dead_branch_is_no_path() -> None:
    source = b"package p\n\nimport \"sync\"\n\nfunc f(mu *sync.Mutex) {\n\tmu.Lock()\n\tif false {\n\t\treturn\n\t}\n\tmu.Unlock()\n}\n"
    assert findings(source) == []


def test_a_function_called_holding_the_lock_that_relocks_before_returning_is_left_alone() -> None:
    source = (
        b"package p\n\nimport \"sync\"\n\nfunc work() {}\n\nfunc waitLocked(mu *sync.Mutex, ready func() bool) {\n\tmu.Unlock()\n"
        b"\twork()\n\tmu.Lock()\n\tif ready() {\n\t\treturn\n\t}\n\tmu.Unlock()\n\twork()\n\tmu.Lock()\n}\n"
    )
    assert findings(source) == []


def test_a_helper_that_releases_the_lock_on_the_way_out_is_left_alone() -> None:
    # An added s.mu.Unlock() would unlock a mutex the helper already released.
    source = (
        b"package p\n\nimport \"sync\"\n\ntype s struct{ mu sync.Mutex }\n\n"
        b"func (x *s) unlockAndFail() { x.mu.Unlock() }\n\n"
        b"func (x *s) f(b bool) {\n\tx.mu.Lock()\n\tif b {\n\t\tx.unlockAndFail()\n\t\treturn\n\t}\n\tx.mu.Unlock()\n}\n"
    )
    assert findings(source) == []


def test_a_helper_that_only_takes_another_lock_is_still_a_leak() -> None:
    source = (
        b"package p\n\nimport \"sync\"\n\ntype s struct{ mu sync.Mutex }\n\ntype o struct{ mu sync.Mutex }\n\n"
        b"func (l *o) log() { l.mu.Lock(); l.mu.Unlock() }\n\n"
        b"func (x *s) f(l *o, b bool) {\n\tx.mu.Lock()\n\tif b {\n\t\tl.log()\n\t\treturn\n\t}\n\tx.mu.Unlock()\n\tl.log()\n}\n"
    )
    assert len(findings(source)) == 1
