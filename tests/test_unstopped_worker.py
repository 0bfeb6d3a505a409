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
