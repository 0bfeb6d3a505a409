"""Unit tests for deferred-goroutine-no-cancel and the codemods.blocking classifier.

The fixtures (fixtures/deferred-goroutine-no-cancel/) prove the fixes with the
Go toolchain; these tests pin the pieces a fixture cannot show: the
classifier's API, CRLF files, fresh names per function, applicability.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gofix_defer.codemods.analysis.control import loop_exits, unlabelled_breaks_of
from gofix_defer.codemods.analysis.goroutines import Kind, classify
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import walk
from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.codemods.model import Applicability
from gofix_defer.rules import by_name

RULE = by_name("deferred-goroutine-no-cancel")


def go_source(body: str) -> SourceFile:
    text = "package p\n\nimport (\n\t\"context\"\n\t\"time\"\n)\n\n" + textwrap.dedent(body).lstrip("\n")
    return SourceFile("x.go", text.encode(), (1, 22))


def goroutine_literals(source: SourceFile):
    return [n.named_children[0].child_by_field_name("function") for n in walk(source.root) if n.type == "go_statement"]


def kinds(body: str) -> list[tuple[str, bool]]:
    source = go_source(body)
    literal = goroutine_literals(source)[0]
    return [(op.kind.value, op.standalone) for op in classify(source, literal).operations]


def fix(text: str, unsafe: bool = True) -> bytes:
    settings = Settings(rules=[RULE], unsafe_fixes=unsafe, apply_fixes=True)
    result = process("x.go", text.encode() if isinstance(text, str) else text, settings)
    assert not result.errors, result.errors
    return result.fixed if result.fixed is not None else (text.encode() if isinstance(text, str) else text)


# -- the classifier ------------------------------------------------------------
def test_classify_kinds_and_standalone():
    body = """
    func f(ch chan int, ctx2 context.Context) {
    	go func() {
    		time.Sleep(time.Second)
    		<-time.After(time.Second)
    		v := <-ch
    		ch <- v
    		fmt.Println(<-ch)
    		if w := <-ch; w > 0 {
    		}
    		for {
    			v++
    		}
    	}()
    }
    """
    assert kinds(body) == [
        ("sleep", True),
        ("timer", True),
        ("receive", True),
        ("send", True),
        ("receive", False),
        ("receive", False),
        ("endless-loop", True),
    ]


@pytest.mark.parametrize(
    "inner",
    [
        "<-ctx2.Done()",
        "select {\n\t\tcase <-ch:\n\t\tcase <-stop:\n\t\t}",
        "select {\n\t\tcase v := <-ch:\n\t\t\t_ = v\n\t\tdefault:\n\t\t}",
    ],
)
def test_done_receive_or_select_marks_goroutine_managed(inner):
    source = go_source(f"func f(ch, stop chan int, ctx2 context.Context) {{\n\tgo func() {{\n\t\t{inner}\n\t\t<-ch\n\t}}()\n}}\n")
    blocking = classify(source, goroutine_literals(source)[0])
    assert blocking.managed_by is not None


def test_range_needs_channel_evidence():
    body = """
    func f(items []int) {
    	go func() {
    		for range items {
    		}
    	}()
    }
    """
    source = go_source(body)
    literal = goroutine_literals(source)[0]
    assert classify(source, literal).operations == []
    # With a predicate saying it is a channel, it counts.
    assert [op.kind for op in classify(source, literal, lambda expr: True).operations] == [Kind.RANGE]


def test_loop_exits_and_breaks():
    source = go_source(
        """
        func f(ch chan int) {
        	go func() {
        	outer:
        		for {
        			for {
        				break
        			}
        			switch {
        			default:
        				break
        			}
        		}
        		for {
        			if len(ch) > 0 {
        				break
        			}
        		}
        		for {
        			panic("stop")
        		}
        	}()
        }
        """
    )
    labelled, plain, panics = [n for n in walk(source.root) if n.type == "for_statement" and _depth(n) == 0]
    assert not loop_exits(source, labelled)  # its breaks leave the inner for and switch only
    assert loop_exits(source, plain)
    assert unlabelled_breaks_of(plain) and not unlabelled_breaks_of(labelled)
    assert loop_exits(source, panics)


def _depth(loop) -> int:
    depth, parent = 0, loop.parent
    while parent is not None and parent.type != "function_literal":
        if parent.type == "for_statement":
            depth += 1
        parent = parent.parent
    return depth


# -- the rule --------------------------------------------------------------------
LEAKY = """package main

import (
	"fmt"
	"time"
)

func a() {
	defer func() {
		go func() {
			time.Sleep(time.Second)
			fmt.Println("a")
		}()
	}()
}

func b() {
	in := make(chan int)
	out := make(chan int)
	defer func() {
		go func() {
			<-in
		}()
	}()
	defer func() {
		go func() {
			out <- 1
			out <- 2
		}()
	}()
}
"""


def test_fix_is_unsafe_and_needs_opt_in():
    diagnostics = process("x.go", LEAKY.encode(), Settings(rules=[RULE])).diagnostics
    assert diagnostics and all(d.fix is not None and d.fix.applicability == Applicability.UNSAFE for d in diagnostics)
    assert fix(LEAKY, unsafe=False) == LEAKY.encode()


def test_names_are_fresh_per_function_and_distinct_within_one():
    fixed = fix(LEAKY).decode()
    # a() and b() each start from ctx/cancel; b's two fixes must not clash.
    assert fixed.count("ctx, cancel := context.WithCancel(context.Background())") == 2
    assert fixed.count("ctx2, cancel2 := context.WithCancel(context.Background())") == 1
    assert fixed.count('"context"') == 1
    # Converged: running again changes nothing and reports nothing.
    assert fix(fixed) == fixed.encode()
    assert process("x.go", fixed.encode(), Settings(rules=[RULE])).diagnostics == []


def test_crlf_file_keeps_crlf():
    crlf = LEAKY.replace("\n", "\r\n").encode()
    fixed = fix(crlf)
    assert b"\n" not in fixed.replace(b"\r\n", b"")
    assert fixed.replace(b"\r\n", b"\n") == fix(LEAKY)


def test_context_name_clash_blocks_fix():
    text = LEAKY.replace('"time"\n)', '"time"\n)\n\nvar context = 1')
    diagnostics = process("x.go", text.encode(), Settings(rules=[RULE])).diagnostics
    assert diagnostics and all(d.fix is None and "context is already used" in d.message for d in diagnostics)


def test_goroutine_with_results_or_shared_line_gets_no_fix():
    text = LEAKY.replace("go func() {\n\t\t\ttime.Sleep(time.Second)", "go func() int {\n\t\t\ttime.Sleep(time.Second)")
    text = text.replace('fmt.Println("a")\n\t\t}()', 'fmt.Println("a")\n\t\t\treturn 1\n\t\t}()')
    text = text.replace("\t\t\tout <- 1\n", "\t\t\tout <- 1; fmt.Println()\n")
    messages = [d.message for d in process("x.go", text.encode(), Settings(rules=[RULE])).diagnostics if d.fix is None]
    assert any("returns values" in m for m in messages)
    assert any("shares its line" in m for m in messages)


def test_goroutine_that_releases_the_functions_lock_is_left_to_async_unlock():
    # Cancelling it would skip the unlock and hold the lock for ever.
    from gofix_defer.codemods.engine.process import Settings, process
    from gofix_defer.rules import by_name

    path = Path(__file__).resolve().parent.parent / "fixtures" / "async-unlock" / "sleep_then_unlock" / "main.go"
    data = path.read_bytes()
    result = process(str(path), data, Settings(rules=[by_name("deferred-goroutine-no-cancel")], unsafe_fixes=True, apply_fixes=True))
    assert result.diagnostics == [] and result.fixed is None


# -- the shared facts the rule asks -------------------------------------------------
def test_declared_channel_knows_made_and_nil_channels_only():
    from gofix_defer.codemods.analysis.channels import declared_channel

    source = go_source(
        """
        func f(param chan int) {
        	made := make(chan int, 2)
        	var nilChan chan int
        	other := param
        	var slice []int
        	_, _, _, _, _ = made, nilChan, other, slice, param
        }
        """
    )
    function = next(n for n in walk(source.root) if n.type == "function_declaration")
    scopes = source.scopes(function)
    last = next(n for n in walk(function) if n.type == "assignment")
    found = {source.text(ident).decode(): declared_channel(scopes, ident) for ident in last.child_by_field_name("right").named_children}
    assert found["made"] is not None and found["made"].make is not None and found["made"].make.buffered
    assert found["nilChan"] is not None and found["nilChan"].make is None
    assert found["other"] is None and found["slice"] is None and found["param"] is None


def test_code_may_follow_a_sleep():
    from gofix_defer.codemods.analysis.control import code_may_follow

    source = go_source(
        """
        func f() {
        	go func() {
        		time.Sleep(time.Second) // last: nothing runs after it
        	}()
        	go func() {
        		time.Sleep(time.Second)
        		g()
        	}()
        	go func() {
        		for i := 0; i < 3; i++ {
        			time.Sleep(time.Second) // the loop's next turn
        		}
        	}()
        }
        """
    )
    sleeps = [n for n in walk(source.root) if n.type == "expression_statement" and source.text(n).startswith(b"time.Sleep")]
    assert [code_may_follow(s) for s in sleeps] == [False, True, True]


# -- channels the caller passed; long parks after the work ---------------------------
GIVEN = """package p

import (
	"context"
	"time"
)

func send(ctx context.Context, out chan<- int) {
	defer func() {
		go func() {
			out <- 1
		}()
	}()
}

func plain(out chan<- int) {
	defer func() {
		go func() {
			out <- 1
		}()
	}()
}

CALLER

var _ = time.Second
"""


def test_a_given_channel_with_a_context_parameter_selects_on_that_context():
    text = GIVEN.replace("CALLER", "")
    diagnostics = process("x.go", text.encode(), Settings(rules=[RULE])).diagnostics
    assert len(diagnostics) == 1 and "ignores ctx" in diagnostics[0].message and "a channel the caller passed" in diagnostics[0].message
    out = fix(text).decode()
    # The caller's own context, not one cancelled when send returns: a caller that
    # still receives after the call gets the value.
    assert "case out <- 1:\n\t\t\tcase <-ctx.Done():\n\t\t\t\treturn\n\t\t\t}" in out
    assert "WithCancel" not in out


@pytest.mark.parametrize(
    "caller, reported",
    [
        ("func fire() {\n\tout := make(chan int)\n\tplain(out)\n}", True),  # made, handed in, never used again
        ("func fire() int {\n\tout := make(chan int)\n\tplain(out)\n\treturn <-out\n}", False),  # the caller serves it
        ("func fire(out chan int) {\n\tplain(out)\n}", False),  # the caller's own parameter: out of sight
        ("", False),  # no caller in the package
    ],
)
def test_a_given_channel_without_context_needs_the_callers_evidence(caller, reported):
    text = GIVEN.replace("CALLER", caller)
    found = [d for d in process("x.go", text.encode(), Settings(rules=[RULE])).diagnostics if d.line > 13]
    assert bool(found) is reported
    if reported:
        assert found[0].fix is None and "no context.Context parameter" in found[0].message and "fire (line" in found[0].message


@pytest.mark.parametrize("duration, reported", [("time.Hour", True), ("2 * time.Minute", True), ("time.Duration(90) * time.Second", True), ("time.Second", False), ("d", False)])
def test_a_long_sleep_after_the_work_parks_the_goroutine(duration, reported):
    text = f"""package p

import "time"

func f(d time.Duration) {{
	defer func() {{
		go func() {{
			println("work")
			time.Sleep({duration})
		}}()
	}}()
}}
"""
    diagnostics = process("x.go", text.encode(), Settings(rules=[RULE])).diagnostics
    assert bool(diagnostics) is reported
    if reported:
        assert "sleeps" in diagnostics[0].message
        assert "case <-time.After(" in fix(text).decode()


def test_duration_nanoseconds():
    from gofix_defer.codemods.analysis.goroutines import duration_nanoseconds

    source = go_source("var a, b, c, d, e = time.Hour, 3 * time.Millisecond, time.Duration(2) * time.Minute, 1500, x * time.Second\n")
    values = [n for n in walk(source.root) if n.type == "expression_list"][-1].named_children
    assert [duration_nanoseconds(source, v) for v in values] == [3600e9, 3e6, 120e9, 1500.0, None]


@pytest.mark.parametrize(
    "after, reported",
    [("cancel()", False), ("cancel()\n\t\t\tcancel()", False), ('println("late")', True), ('cancel()\n\t\t\tprintln("late")', True), ("stop()", True)],
)
def test_a_watchdog_that_only_cancels_after_its_wait_is_left_alone(after, reported):
    # `<-time.After(d); cancel()` forces a context to end after a grace period: it
    # always ends, and stopping it early would skip the cancel it waits for.
    text = f"""package p

import (
	"context"
	"time"
)

func f(stop func()) {{
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_ = ctx
	defer func() {{
		go func() {{
			<-time.After(time.Second)
			{after}
		}}()
	}}()
}}
"""
    diagnostics = process("x.go", text.encode(), Settings(rules=[RULE])).diagnostics
    assert bool(diagnostics) is reported
