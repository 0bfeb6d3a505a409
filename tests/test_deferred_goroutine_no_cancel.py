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
