"""Unit tests for goroutine-no-cancel and the shared codemods.cancel_rewrite.

The fixtures (fixtures/goroutine-no-cancel/) prove the fixes with the Go
toolchain; these tests pin what a fixture cannot show: opt-in, CRLF files,
a second run, two goroutines in one function, and where the proof stops.
"""

from __future__ import annotations

import textwrap

import pytest

from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.codemods.model import Applicability
from gofix_defer.rules import by_name

RULE = by_name("goroutine-no-cancel")

HEADER = 'package p\n\nimport (\n\t"errors"\n\t"fmt"\n)\n\n'

LEAKY = HEADER + textwrap.dedent(
    """
    func f(items []int) error {
    	ch := make(chan int)
    	done := make(chan bool)
    	go func() {
    		for v := range ch {
    			fmt.Println(v)
    		}
    		close(done)
    	}()
    	if len(items) == 0 {
    		return errors.New("empty")
    	}
    	for _, v := range items {
    		ch <- v
    	}
    	close(ch)
    	<-done
    	return nil
    }
    """
).lstrip("\n")

# The same goroutine, where the close could simply be deferred.
DEFERRABLE = LEAKY.replace("\t<-done\n", "")


def run(text: str | bytes, unsafe: bool = True):
    data = text.encode() if isinstance(text, str) else text
    result = process("x.go", data, Settings(rules=[RULE], unsafe_fixes=unsafe, apply_fixes=True))
    assert not result.errors, result.errors
    return result


def fixed(text: str | bytes) -> bytes:
    result = run(text)
    return result.fixed if result.fixed is not None else (text.encode() if isinstance(text, str) else text)


def messages(body: str) -> list[str]:
    return [d.message for d in run(HEADER + textwrap.dedent(body).lstrip("\n"), unsafe=False).diagnostics]


def test_reports_and_fixes_the_early_return():
    result = run(LEAKY)
    assert [d.line for d in result.applied] == [11]
    assert "return on line 18 leaves before the function serves ch (line 21)" in result.applied[0].message
    assert result.diagnostics == []  # nothing left on the fixed text
    out = result.fixed.decode()
    assert "ctx, cancel := context.WithCancel(context.Background())\n\tdefer cancel()\n\tgo func() {" in out
    assert "case v, ok := <-ch:" in out and "case <-ctx.Done():" in out
    assert '\t"context"\n' in out


def test_fix_is_unsafe_and_needs_opt_in():
    result = run(LEAKY, unsafe=False)
    assert result.diagnostics[0].fix.applicability == Applicability.UNSAFE
    assert result.fixed is None or result.fixed == LEAKY.encode()


def test_second_run_is_a_no_op():
    once = fixed(LEAKY)
    again = run(once)
    assert again.diagnostics == []
    assert fixed(once) == once


def test_leaves_a_deferrable_close_to_deferred_close():
    assert run(DEFERRABLE, unsafe=False).diagnostics == []
    both = Settings(rules=[RULE, by_name("deferred-close")], unsafe_fixes=True, apply_fixes=True)
    result = process("x.go", DEFERRABLE.encode(), both)
    assert [d.rule for d in result.applied] == ["deferred-close"]
    assert b"defer close(ch)" in result.fixed and b"context" not in result.fixed


def test_crlf_file_keeps_crlf():
    crlf = LEAKY.replace("\n", "\r\n").encode()
    out = fixed(crlf)
    assert out != crlf
    assert b"\n" not in out.replace(b"\r\n", b"")


def test_two_goroutines_in_one_function_get_distinct_names():
    out = fixed(
        HEADER
        + textwrap.dedent(
            """
            func f(items []int) error {
            	a := make(chan int)
            	b := make(chan int)
            	go func() {
            		fmt.Println("a")
            		<-a
            	}()
            	go func() {
            		<-b
            	}()
            	if len(items) == 0 {
            		return errors.New("empty")
            	}
            	a <- 1
            	b <- 2
            	return nil
            }
            """
        ).lstrip("\n")
    ).decode()
    assert "ctx, cancel := context.WithCancel" in out
    assert "ctx2, cancel2 := context.WithCancel" in out
    assert "case <-ctx.Done():" in out and "case <-ctx2.Done():" in out


@pytest.mark.parametrize(
    "body",
    [
        # the return runs before the goroutine starts
        """
        func f(items []int) error {
        	ch := make(chan int)
        	if len(items) == 0 {
        		return errors.New("empty")
        	}
        	go func() {
        		<-ch
        	}()
        	ch <- 1
        	return nil
        }
        """,
        # served only by a send before the go statement
        """
        func f(items []int) error {
        	ch := make(chan int, 1)
        	ch <- 1
        	go func() {
        		<-ch
        	}()
        	if len(items) == 0 {
        		return errors.New("empty")
        	}
        	return nil
        }
        """,
        # goto defeats the path reasoning
        """
        func f(items []int) error {
        	ch := make(chan int)
        	go func() {
        		<-ch
        	}()
        	if len(items) == 0 {
        		goto out
        	}
        	if len(items) > 9 {
        		return errors.New("too many")
        	}
        	ch <- 1
        out:
        	return nil
        }
        """,
        # the function receives from the channel itself
        """
        func f(items []int) error {
        	ch := make(chan int)
        	go func() {
        		<-ch
        	}()
        	if len(items) == 0 {
        		return errors.New("empty")
        	}
        	ch <- 1
        	<-ch
        	return nil
        }
        """,
        # a receive-only channel type is not one this function serves
        """
        func f(items []int, src <-chan int) error {
        	go func() {
        		<-src
        	}()
        	if len(items) == 0 {
        		return errors.New("empty")
        	}
        	return nil
        }
        """,
        # the channel is reassigned
        """
        func f(items []int, other chan int) error {
        	ch := make(chan int)
        	go func() {
        		<-ch
        	}()
        	if len(items) == 0 {
        		return errors.New("empty")
        	}
        	ch = other
        	ch <- 1
        	return nil
        }
        """,
    ],
)
def test_no_report_without_proof(body):
    assert messages(body) == []


def test_return_in_nested_block_after_go_counts():
    assert len(
        messages(
            """
            func f(items []int) error {
            	ch := make(chan int)
            	go func() {
            		<-ch
            	}()
            	for _, v := range items {
            		if v < 0 {
            			return errors.New("negative")
            		}
            	}
            	ch <- 1
            	return nil
            }
            """
        )
    ) == 1


def test_shares_fresh_names_with_deferred_goroutine_no_cancel():
    """Both rules' fixes land in one pass: they must not both declare ctx in one function."""
    text = HEADER + textwrap.dedent(
        """
        func f(items []int) error {
        	keys := make(chan int)
        	flushed := make(chan struct{})
        	defer func() {
        		go func() {
        			<-flushed
        			fmt.Println("flushed")
        		}()
        	}()
        	go func() {
        		k := <-keys
        		fmt.Println(k)
        	}()
        	if len(items) == 0 {
        		return errors.New("empty")
        	}
        	keys <- items[0]
        	return nil
        }
        """
    ).lstrip("\n")
    both = Settings(rules=[by_name("deferred-goroutine-no-cancel"), RULE], unsafe_fixes=True, apply_fixes=True)
    result = process("x.go", text.encode(), both)
    assert sorted(d.rule for d in result.applied) == ["deferred-goroutine-no-cancel", "goroutine-no-cancel"]
    out = result.fixed.decode()
    assert out.count("ctx, cancel := context.WithCancel") == 1
    assert out.count("ctx2, cancel2 := context.WithCancel") == 1


def test_cancel_names_are_a_fact_shared_by_the_rules_of_one_pass():
    from gofix_defer.codemods.analysis.source import SourceFile
    from gofix_defer.codemods.analysis.syntax import walk
    from gofix_defer.codemods.edits.cancel_rewrite import CancelNames

    source = SourceFile("x.go", LEAKY.encode(), (1, 22))
    function = next(n for n in walk(source.root) if n.type == "function_declaration")
    family = source.facts(CancelNames)
    assert source.facts(CancelNames) is family  # one per SourceFile, so one per pass
    mine, theirs = family.start("a"), family.start("b")
    theirs.record(function, {b"ctx", b"cancel"})
    mine.record(function, {b"ok"})
    assert mine.taken(function) == {b"ctx", b"cancel", b"ok"}
    assert theirs.taken(function) == {b"ctx", b"cancel", b"ok"}
    again = family.start("b")  # a new check by the same rule starts afresh
    assert again.taken(function) == {b"ok"} and mine.taken(function) == {b"ok"}


COMMAND = textwrap.dedent(
    """
    package PKG

    import "errors"

    type Command struct {
    	Action func(args []string) error
    }

    var command = Command{
    	Action: func(args []string) error {
    		ch := make(chan string)
    		go func() {
    			println(<-ch)
    		}()
    		if len(args) == 0 {
    			return errors.New("no args")
    		}
    		ch <- args[0]
    		return nil
    	},
    }
    """
).lstrip("\n")


@pytest.mark.parametrize("package, reported", [("main", False), ("cmd", True)])
def test_a_command_handler_in_package_main_ends_the_process(package, reported):
    # Once a command's Action returns, main exits: the goroutine dies with the process.
    assert bool(run(COMMAND.replace("PKG", package), unsafe=False).diagnostics) is reported


PRODUCER = textwrap.dedent(
    """
    package p

    import "context"

    func restore(ctx context.Context) int {
    	ready := make(chan int, 1)
    	go func() {
    		defer close(ready)
    		scatter(ctx, ready)
    	}()
    	for span := range ready {
    		select {
    		case <-ctx.Done():
    			return span
    		default:
    		}
    	}
    	return 0
    }

    func scatter(ctx context.Context, ready chan int) {
    	for i := 0; i < 4; i++ {
    		ready <- i
    	}
    }
    """
).lstrip()


def _producer_findings(text: str) -> list:
    result = process("p.go", text.encode(), Settings(rules=[RULE]))
    assert not result.errors, result.errors
    return [d for d in result.diagnostics if "keeps sending" in d.message]


def test_a_producer_across_a_call_is_found_and_its_sends_wait_on_its_own_context():
    [diagnostic] = _producer_findings(PRODUCER)
    assert "goroutine hands ready and ctx to scatter" in diagnostic.message
    assert diagnostic.fix is not None and diagnostic.fix.applicability is Applicability.UNSAFE
    fixed = process("p.go", PRODUCER.encode(), Settings(rules=[RULE], unsafe_fixes=True, apply_fixes=True)).fixed
    assert fixed is not None and b"case ready <- i:\n\t\tcase <-ctx.Done():\n\t\t\treturn\n\t\t}" in fixed


@pytest.mark.parametrize(
    "change",
    [
        # scatter is also called elsewhere: its other callers may not stop on ctx
        lambda t: t + "\nfunc again(ctx context.Context, c chan int) { scatter(ctx, c) }\n",
        # the callee's ctx is declared again around its sends
        lambda t: t.replace("\t\tready <- i\n", "\t\tctx := context.Background()\n\t\t_ = ctx\n\t\tready <- i\n"),
        # the callee also receives from the channel
        lambda t: t.replace("\t\tready <- i\n", "\t\tready <- i\n\t\t<-ready\n"),
        # the range can also leave on a value
        lambda t: t.replace("\tfor span := range ready {\n", "\tfor span := range ready {\n\t\tif span > 2 {\n\t\t\tbreak\n\t\t}\n"),
        # another context is handed to the producer
        lambda t: t.replace("scatter(ctx, ready)", "scatter(context.Background(), ready)"),
    ],
)
def test_a_producer_across_a_call_is_left_alone_when_the_proof_stops(change):
    assert _producer_findings(change(PRODUCER)) == []
