"""Unit tests for blocked-holding-lock and the lock facts it reads (held_at, lock_id).

The fixtures (fixtures/blocked-holding-lock/) prove the fixes at run time;
these tests pin which locks count as held, what the other end must do to
need the lock, and when the fix is refused.
"""

from __future__ import annotations

import textwrap

import pytest

from gofix_defer.codemods.analysis.fieldchannels import FieldChannels
from gofix_defer.codemods.analysis.held import LockId, held_at, lock_id
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import walk
from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.codemods.model import Applicability
from gofix_defer.rules import by_name

RULE = by_name("blocked-holding-lock")

MANAGER = """
import "sync"

type m struct {
	mu sync.Mutex
	ch chan int
	n  int
}

func newM() *m { return &m{ch: make(chan int)} }

func (x *m) serve() {
	for v := range x.ch {
		SERVE
	}
}

func (x *m) put(v int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.n++
	x.ch <- v
}
"""


def source_of(body: str) -> bytes:
    return ("package main\n\n" + textwrap.dedent(body).lstrip("\n")).encode()


def check(data: bytes) -> list:
    result = process("x.go", data, Settings(rules=[RULE]))
    assert not result.errors, result.errors
    return result.diagnostics


def fixed(data: bytes) -> str:
    result = process("x.go", data, Settings(rules=[RULE], unsafe_fixes=True, apply_fixes=True))
    assert not result.errors, result.errors
    return (result.fixed or data).decode()


@pytest.mark.parametrize(
    "serve, reason",
    [
        ("x.mu.Lock()\n\t\tx.n -= v\n\t\tx.mu.Unlock()", "is in a loop that takes it each turn"),
        ("x.count(v)", "is in a loop that takes it each turn"),  # through a method that locks
    ],
)
def test_the_other_end_needs_the_lock(serve, reason):
    data = source_of(MANAGER.replace("SERVE", serve) + "\nfunc (x *m) count(v int) {\n\tx.mu.Lock()\n\tdefer x.mu.Unlock()\n\tx.n -= v\n}\n")
    [diagnostic] = check(data)
    assert "waits while holding x.mu" in diagnostic.message and reason in diagnostic.message
    assert diagnostic.fix is not None and diagnostic.fix.applicability is Applicability.UNSAFE
    out = fixed(data)
    assert "\tx.mu.Lock()\n\tx.n++\n\tx.mu.Unlock()\n\tx.ch <- v\n}" in out
    assert check(out.encode()) == []


@pytest.mark.parametrize(
    "serve",
    [
        "println(v)",  # the other end never takes the lock
        "x.other.Lock()\n\t\tx.other.Unlock()",  # another lock
    ],
)
def test_the_other_end_does_not_need_the_lock(serve):
    data = source_of(MANAGER.replace("SERVE", serve).replace("n  int\n", "n  int\n\tother sync.Mutex\n"))
    assert check(data) == []


def test_no_fix_when_code_after_the_operation_relies_on_the_deferred_unlock():
    data = source_of(MANAGER.replace("SERVE", "x.mu.Lock()\n\t\tx.mu.Unlock()").replace("\tx.ch <- v\n}", "\tx.ch <- v\n\tx.n--\n}"))
    [diagnostic] = check(data)
    assert diagnostic.fix is None and "code follows the operation" in diagnostic.message


def test_no_fix_when_an_early_return_relies_on_the_deferred_unlock():
    data = source_of(MANAGER.replace("SERVE", "x.mu.Lock()\n\t\tx.mu.Unlock()").replace("\tx.n++\n", "\tif v < 0 {\n\t\treturn\n\t}\n"))
    [diagnostic] = check(data)
    assert diagnostic.fix is None and "a return before the operation" in diagnostic.message


def test_no_fix_for_a_send_on_a_channel_the_package_closes():
    data = source_of(MANAGER.replace("SERVE", "x.mu.Lock()\n\t\tx.mu.Unlock()") + "\nfunc (x *m) stop() {\n\tx.mu.Lock()\n\tclose(x.ch)\n\tx.mu.Unlock()\n}\n")
    [diagnostic] = check(data)
    assert diagnostic.fix is None and "closes the channel" in diagnostic.message


def test_a_buffered_channel_or_a_released_lock_is_left_alone():
    buffered = MANAGER.replace("SERVE", "x.mu.Lock()\n\t\tx.mu.Unlock()").replace("make(chan int)", "make(chan int, 8)")
    assert check(source_of(buffered)) == []
    released = MANAGER.replace("SERVE", "x.mu.Lock()\n\t\tx.mu.Unlock()").replace("\tdefer x.mu.Unlock()\n\tx.n++\n", "\tx.n++\n\tx.mu.Unlock()\n")
    assert check(source_of(released)) == []


def test_the_explicit_unlock_after_the_operation_moves_before_it():
    text = MANAGER.replace("SERVE", "x.mu.Lock()\n\t\tx.mu.Unlock()").replace(
        "\tdefer x.mu.Unlock()\n\tx.n++\n\tx.ch <- v\n", "\tx.n++\n\tx.ch <- v\n\tprintln()\n\tx.mu.Unlock()\n"
    )
    out = fixed(source_of(text))
    assert "\tx.n++\n\tx.mu.Unlock()\n\tx.ch <- v\n\tprintln()\n}" in out
    touches = text.replace("\tprintln()\n\tx.mu.Unlock()", "\tprintln(x.n)\n\tx.mu.Unlock()")
    [diagnostic] = check(source_of(touches))
    assert diagnostic.fix is None and "uses x" in diagnostic.message


def test_held_at_replays_locks_on_every_path():
    data = source_of(
        """
        import "sync"

        type t struct{ mu, other sync.Mutex }

        func (x *t) f(err error) {
        	x.mu.Lock()
        	if err != nil {
        		x.mu.Unlock()
        		return
        	}
        	x.other.Lock()
        	if err == nil {
        		x.other.Unlock()
        	}
        	println("here")
        }
        """
    )
    source = SourceFile("x.go", data, (1, 22))
    method = next(n for n in walk(source.root) if n.type == "method_declaration")
    here = next(n for n in walk(method) if n.type == "call_expression" and n.text.startswith(b"println"))
    held = held_at(source, method, here)
    assert [h.lock.key for h in held] == [b"x.mu"]  # the early-return unlock leaves mu held; other maybe not
    resolver = source.facts(FieldChannels).resolver(source, method)
    assert lock_id(resolver, source, held[0].lock.operand) == LockId(b"t", b"mu")


def test_lock_held_by_a_goroutine_literal_is_not_its_parents():
    data = source_of(
        """
        import "sync"

        type t struct {
        	mu sync.Mutex
        	ch chan int
        }

        func newT() *t { return &t{ch: make(chan int)} }

        func (x *t) f() {
        	x.mu.Lock()
        	defer x.mu.Unlock()
        	go func() {
        		x.ch <- 1
        	}()
        }

        func (x *t) g() {
        	x.mu.Lock()
        	<-x.ch
        	x.mu.Unlock()
        }
        """
    )
    # The goroutine's send holds nothing; g's receive holds mu, and the only sender
    # (the goroutine) does not need it.
    assert check(data) == []


def test_a_file_with_no_operation_under_a_lock_asks_no_package_fact():
    # The send comes after the unlock: nothing to report, decided from the file alone
    # (the package's channel fields would read every file that says the field).
    released = MANAGER.replace("SERVE", "x.mu.Lock()\n\t\tx.mu.Unlock()").replace("\tdefer x.mu.Unlock()\n\tx.n++\n", "\tx.n++\n\tx.mu.Unlock()\n")
    source = SourceFile("x.go", source_of(released), (1, 22))
    assert list(RULE.check(source)) == []
    assert FieldChannels not in source.package._facts
    held = SourceFile("x.go", source_of(MANAGER.replace("SERVE", "x.mu.Lock()\n\t\tx.mu.Unlock()")), (1, 22))
    assert len(list(RULE.check(held))) == 1 and FieldChannels in held.package._facts
