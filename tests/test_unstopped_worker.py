"""unstopped-worker beyond the fixtures: when deferring Stop is safe, and when it is
only offered as an unsafe fix."""

from __future__ import annotations

from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.model import Applicability
from gofix_defer.rules import by_name

RULE = by_name("unstopped-worker")

WORKER = """package p

import "time"

var _ = time.Second

type w struct {
	in   chan int
	done chan struct{}
}

func (x *w) Start() {
	go func() {
		for {
			select {
			%s
			case <-x.done:
				return
			}
		}
	}()
}

func (x *w) Stop() { close(x.done) }

func use() {
	v := &w{in: make(chan int%s), done: make(chan struct{})}
	v.Start()
}
"""


def diagnose(case: str, buffer: str = "") -> list:
    text = (WORKER % (case, buffer)).encode()
    return list(RULE.check(SourceFile("x.go", text, (1, 22))))


def test_unbuffered_queue_makes_the_fix_safe() -> None:
    (diagnostic,) = diagnose("case <-x.in:")
    assert diagnostic.fix.applicability is Applicability.SAFE
    assert diagnostic.fix.edits[0].text.endswith(b"defer v.Stop()")


def test_buffered_queue_makes_the_fix_unsafe() -> None:
    (diagnostic,) = diagnose("case <-x.in:", ", 4")
    assert diagnostic.fix.applicability is Applicability.UNSAFE
    assert "in is buffered" in diagnostic.message


def test_a_timer_case_makes_the_fix_unsafe() -> None:
    (diagnostic,) = diagnose("case <-time.After(time.Second):")
    assert diagnostic.fix.applicability is Applicability.UNSAFE
    assert "also waits on time.After(time.Second)" in diagnostic.message


def test_a_stopped_worker_is_not_reported() -> None:
    text = (WORKER % ("case <-x.in:", "")).replace("\tv.Start()\n", "\tv.Start()\n\tdefer v.Stop()\n").encode()
    assert list(RULE.check(SourceFile("x.go", text, (1, 22)))) == []


DROPPED = """package p

import (
	"context"
	%s
)

type Tx struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func (tx *Tx) awaitDone() { <-tx.ctx.Done() }

func (tx *Tx) close() { tx.cancel() }

func begin(ctx context.Context) %s {
	ctx, cancel := context.WithCancel(ctx)
	tx := %s{ctx: ctx, cancel: cancel}
	go tx.awaitDone()
	return tx
}

%s

func use() {
	%s
}
"""


def dropped(call: str, *, imports: str = "", result: str = "*Tx", made: str = "&Tx", more: str = "") -> list:
    text = (DROPPED % (imports, result, made, more, call)).encode()
    return list(RULE.check(SourceFile("x.go", text, (1, 22))))


def test_a_dropped_worker_gets_its_stop_deferred_on_the_call() -> None:
    (diagnostic,) = dropped("begin(context.Background())")
    assert diagnostic.fix.applicability is Applicability.UNSAFE
    assert sorted(edit.text for edit in diagnostic.fix.edits) == [b".close()", b"defer "]


def test_a_kept_worker_or_another_packages_function_is_not_a_dropped_one() -> None:
    assert dropped("tx := begin(context.Background()); tx.close()") == []
    assert dropped('other.begin(context.Background())', imports='other "example.com/other"', more="var _ = other.X") == []


def test_a_name_another_type_also_declares_is_not_followed() -> None:
    more = "type Pool struct{}\n\nfunc (p *Pool) begin(ctx context.Context) {}"
    assert dropped("begin(context.Background())", more=more) == []


def test_a_value_result_whose_stop_takes_a_pointer_is_left_alone() -> None:
    # `begin(ctx).close()` on a Tx value would not compile: close has a pointer receiver.
    assert dropped("begin(context.Background())", result="Tx", made="Tx") == []
    assert len(dropped("begin(context.Background())")) == 1  # the same with *Tx


def test_a_method_constructor_is_followed_only_on_a_value_of_its_type() -> None:
    more = """type DB struct{}

func (db *DB) begin(ctx context.Context) *Tx {
	ctx, cancel := context.WithCancel(ctx)
	tx := &Tx{ctx: ctx, cancel: cancel}
	go tx.awaitDone()
	return tx
}

type Pool struct{}

func (p *Pool) Begin() {}"""
    text = (DROPPED % ("", "*Tx", "&Tx", more, "db := &DB{}\n\tdb.begin(context.Background())\n\tp := &Pool{}\n\tp.Begin()\n\tvar other interface{ begin(context.Context) *Tx }\n\tother.begin(context.Background())")).encode()
    found = list(RULE.check(SourceFile("x.go", text, (1, 22))))
    # `other` has no type the source makes; the plain function begin shares the name.
    assert [d.message.split("()")[0] for d in found] == ["db.begin"]
    text = text.replace(b"p.Begin()", b"begin(context.Background())")
    assert [d.message.split("()")[0] for d in RULE.check(SourceFile("x.go", text, (1, 22)))] == ["db.begin"]  # the package has two


def test_a_local_function_value_is_not_the_constructor() -> None:
    assert dropped("begin := func(context.Context) {}\n\tbegin(context.Background())") == []
