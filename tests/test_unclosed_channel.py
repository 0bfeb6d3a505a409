"""Unit tests for unclosed-channel beyond the fixtures: CRLF files, shadowed
names, every way a channel can escape (no evidence, so no report), consumers
with another way out, where the close goes, closes and consumers in other
functions of the package, generators, and deferred consumers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.calls import CallSummaries
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.codemods.model import Applicability
from gofix_defer.codemods.run.discovery import discover
from gofix_defer.codemods.run.workers import run as run_files
from gofix_defer.rules import by_name

RULE = by_name("unclosed-channel")

CONSUMER = """
	go func() {
		for v := range ch {
			println(v)
		}
	}()
"""


def run(body: str, data: bytes | None = None) -> tuple[list[str], bytes]:
    if data is None:
        data = ("package p\n\n" + textwrap.dedent(body).lstrip("\n")).encode()
    found = process("x.go", data, Settings(rules=[RULE]))
    result = process("x.go", data, Settings(rules=[RULE], apply_fixes=True))
    assert not found.errors and not result.errors, (found.errors, result.errors)
    return [d.message for d in found.diagnostics], (result.fixed if result.fixed is not None else data)


def function(lines: str) -> str:
    return "func f(items []int, sink chan chan int, keep *[]chan int) {\n\tch := make(chan int)" + CONSUMER + lines + "}\n"


@pytest.mark.parametrize(
    "escape",
    [
        "\tsink <- ch\n",  # sent on another channel
        "\tother := ch\n\tother <- 1\n",  # assigned to another variable
        "\t*keep = append(*keep, ch)\n",  # stored
        "\tm := map[string]chan int{\"a\": ch}\n\t_ = m\n",  # stored in a map
        "\tfeed := sink\n\t_ = feed\n\tuse(ch)\n",  # passed to a function the tool cannot see
        "\tsignal.Notify(ch)\n",  # passed to another package's function
        "\tsend := func() { ch <- 2 }\n\tsend()\n",  # used by a closure kept as a value
    ],
)
def test_escaping_channel_is_not_reported(escape):
    # Issue 12: whoever gets the channel may close it; report only when nothing
    # in the package can. (This test asserted the old report without a fix.)
    messages, fixed = run(function("\tch <- 1\n" + escape))
    assert messages == []
    assert fixed == ("package p\n\n" + function("\tch <- 1\n" + escape)).encode()


def test_channel_handed_to_the_caller_is_not_reported():
    body = "func f() chan int {\n\tch := make(chan int)" + CONSUMER + "\tch <- 1\n\treturn ch\n}\n"
    assert run(body)[0] == []
    stored = "type box struct{ c chan int }\n\nfunc f() *box {\n\tch := make(chan int)" + CONSUMER + "\treturn &box{c: ch}\n}\n"
    assert run(stored)[0] == []


def test_close_in_a_literal_bound_to_a_name_counts():
    messages, _ = run(function("\tch <- 1\n\tf := func(c chan int) { close(c) }\n\tf(ch)\n"))
    assert messages == []


def test_close_in_a_called_literal_counts():
    messages, _ = run(function("\tch <- 1\n\tfunc(c chan int) { close(c) }(ch)\n"))
    assert messages == []


def test_shadowed_name_is_another_channel():
    messages, fixed = run(function("\tch <- 1\n\tif len(items) > 0 {\n\t\tch := make(chan int, 1)\n\t\tclose(ch)\n\t}\n"))
    assert len(messages) == 1
    assert b"\tch <- 1\n\tclose(ch)\n\tif len(items)" in fixed


def test_receive_loop_with_another_exit_is_not_reported():
    messages, _ = run(
        """
        func f(items []int) {
        	ch := make(chan int)
        	go func() {
        		for {
        			v, ok := <-ch
        			if v > 10 {
        				return
        			}
        			if !ok {
        				return
        			}
        		}
        	}()
        	for _, item := range items {
        		ch <- item
        	}
        }
        """
    )
    assert messages == []


def test_one_line_producer_is_reported_without_fix():
    messages, fixed = run(function("\tgo func() { ch <- 1 }()\n"))
    assert len(messages) == 1 and "no fix: the producer goroutine is written on one line" in messages[0]


def test_send_in_a_deferred_function_is_reported_without_fix():
    messages, _ = run(function("\tdefer func() {\n\t\tch <- 1\n\t}()\n"))
    assert len(messages) == 1 and "no fix: the sends on ch run in a deferred or nested function" in messages[0]


def test_receive_by_the_function_after_the_last_send_withholds_the_fix():
    messages, _ = run(function("\tch <- 1\n\t<-ch\n"))
    assert len(messages) == 1 and "no fix: the function receives from ch after its last send" in messages[0]


def test_break_out_of_the_enclosing_loop_withholds_the_fix():
    body = """
    func f(batches [][]int) {
    	for _, batch := range batches {
    		ch := make(chan int)
    		go func() {
    			for v := range ch {
    				println(v)
    			}
    		}()
    		for _, v := range batch {
    			ch <- v
    		}
    		if len(batch) == 0 {
    			break
    		}
    		ch <- 0
    	}
    }
    """
    messages, _ = run(body)
    assert len(messages) == 1 and "no fix: a break before the last send would skip the close" in messages[0]


def test_crlf_file_keeps_its_line_endings():
    text = function("\tfor _, item := range items {\n\t\tch <- item\n\t}\n")
    data = ("package p\n\n" + text).replace("\n", "\r\n").encode()
    messages, fixed = run("", data)
    assert len(messages) == 1
    assert b"\t\tch <- item\r\n\t}\r\n\tclose(ch)\r\n}\r\n" in fixed
    assert b"\n" not in fixed.replace(b"\r\n", b"")


def test_receive_loop_exit_under_another_negation_is_not_reported():
    messages, _ = run(
        """
        func f(items []int, ready bool) {
        	ch := make(chan int)
        	go func() {
        		for {
        			v, ok := <-ch
        			if !ready {
        				return
        			}
        			if !ok {
        				return
        			}
        			println(v)
        		}
        	}()
        	for _, item := range items {
        		ch <- item
        	}
        }
        """
    )
    assert messages == []


def test_function_that_never_stops_sending_is_not_reported():
    # The consumer is never left behind: the function sends for ever.
    messages, _ = run(function("\tfor {\n\t\tch <- 1\n\t}\n"))
    assert messages == []


# -- consumers that do not wait for a close ------------------------------------------------


@pytest.mark.parametrize(
    "loop",
    [
        "\t\tfor {\n\t\t\tv, ok := <-ch\n\t\t\t_ = ok\n\t\t\tprintln(v)\n\t\t}\n",  # ok received, never checked
        "\t\tfor {\n\t\t\tprintln(<-ch)\n\t\t}\n",  # no ok at all
    ],
)
def test_consumer_that_never_checks_ok_gets_no_close_fix(loop):
    # Issue 12, honest tests: a close would turn the consumer's wait into a busy
    # loop on zero values; it is not waiting for a close, so no finding and no fix.
    body = "func f(items []int) {\n\tch := make(chan int)\n\tgo func() {\n" + loop + "\t}()\n\tfor _, item := range items {\n\t\tch <- item\n\t}\n}\n"
    messages, fixed = run(body)
    assert messages == []
    assert fixed == ("package p\n\n" + body).encode()


def test_consumer_that_checks_ok_gets_the_close():
    body = (
        "func f(items []int) {\n\tch := make(chan int)\n\tgo func() {\n\t\tfor {\n\t\t\tv, ok := <-ch\n"
        "\t\t\tif !ok {\n\t\t\t\treturn\n\t\t\t}\n\t\t\tprintln(v)\n\t\t}\n\t}()\n"
        "\tfor _, item := range items {\n\t\tch <- item\n\t}\n}\n"
    )
    messages, fixed = run(body)
    assert len(messages) == 1
    assert b"\t\tch <- item\n\t}\n\tclose(ch)\n}" in fixed


# -- closes and consumers in other functions of the package -------------------------------------

FEED = "func f(items []int) {\n\tch := make(chan int)" + CONSUMER


@pytest.mark.parametrize(
    "helpers, call",
    [
        ("func finish(c chan int) { close(c) }\n", "\tch <- 1\n\tfinish(ch)\n"),  # a callee closes
        ("func closeQuietly(c chan int) {\n\tdefer func() { _ = recover() }()\n\tclose(c)\n}\n", "\tdefer closeQuietly(ch)\n\tch <- 1\n"),
        ("func produce(out chan<- int) {\n\tdefer close(out)\n\tout <- 1\n}\n", "\tgo produce(ch)\n"),  # the producer closes
        ("func finish(c chan<- int) { close(c) }\n\nfunc produce(out chan<- int) {\n\tout <- 1\n\tfinish(out)\n}\n", "\tgo produce(ch)\n"),
        ("func keep(c chan int) { kept = append(kept, c) }\n\nvar kept []chan int\n", "\tch <- 1\n\tkeep(ch)\n"),  # a callee lets it go
        ("func feeder(c chan<- int) func() {\n\treturn func() { c <- 1 }\n}\n", "\tfeed := feeder(ch)\n\tfeed()\n"),  # kept by a closure
        ("func fill(cs ...chan int) {\n\tfor _, c := range cs {\n\t\tc <- 1\n\t}\n}\n", "\tfill(ch)\n"),  # variadic: a slice
    ],
)
def test_close_or_escape_in_a_package_function_means_no_finding(helpers, call):
    messages, _ = run(FEED + call + "}\n\n" + helpers)
    assert messages == []


def test_a_package_function_that_sends_is_a_send_where_it_is_called():
    body = FEED + "\tfill(ch, items)\n}\n\nfunc fill(c chan<- int, items []int) {\n\tfor _, item := range items {\n\t\tc <- item\n\t}\n}\n"
    messages, fixed = run(body)
    assert len(messages) == 1 and "(no close in f, its func literals or fill (line 13))" in messages[0]
    assert b"\tfill(ch, items)\n\tclose(ch)\n}" in fixed


@pytest.mark.parametrize("call", ["\tgo fill(ch, items)\n", "\tdefer fill(ch, items)\n"])
def test_a_package_function_that_sends_later_withholds_the_fix(call):
    body = FEED + call + "}\n\nfunc fill(c chan<- int, items []int) {\n\tfor _, item := range items {\n\t\tc <- item\n\t}\n}\n"
    messages, fixed = run(body)
    assert len(messages) == 1 and "no fix: fill sends on ch from a goroutine or a deferred call" in messages[0]
    assert fixed == ("package p\n\n" + body).encode()


def test_a_package_function_started_as_a_goroutine_can_be_the_consumer():
    worker = "func worker(jobs <-chan int) {\n\tfor j := range jobs {\n\t\tprintln(j)\n\t}\n}\n"
    body = "func f(items []int) {\n\tch := make(chan int)\n\tgo worker(ch)\n\tfor _, item := range items {\n\t\tch <- item\n\t}\n}\n\n" + worker
    messages, fixed = run(body)
    assert len(messages) == 1 and "waiting on it (line 12)" in messages[0] and "worker (line 11)" in messages[0]
    assert b"\t\tch <- item\n\t}\n\tclose(ch)\n}" in fixed
    # A worker with another way out does not wait for the close.
    quitting = worker.replace("\t\tprintln(j)\n", "\t\tif j < 0 {\n\t\t\treturn\n\t\t}\n")
    assert run(body.replace(worker, quitting))[0] == []


def test_goroutines_of_main_and_init_live_as_long_as_the_program():
    body = "func NAME() {\n\tch := make(chan int)" + CONSUMER + "\tch <- 1\n}\n"
    assert run(body.replace("NAME", "main"))[0] == []
    assert run(body.replace("NAME", "init"))[0] == []
    assert len(run(body.replace("NAME", "serve"))[0]) == 1


def _run_package(folder: Path, files: dict[str, str]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "go.mod").write_text("module m\n\ngo 1.22\n")
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text).lstrip())
    found = []
    for result in run_files(discover([str(folder)]).files, Settings(rules=[RULE]), jobs=1):
        assert not result.errors, result.errors
        found += [f"{Path(result.path).name}:{d.line}: {d.message}" for d in result.diagnostics]
    return found


MAIN_FILE = """
    package p

    type pump struct{}

    func (p *pump) run(items []int) {
    	ch := make(chan int)
    	go func() {
    		for v := range ch {
    			println(v)
    		}
    	}()
    	for _, item := range items {
    		ch <- item
    	}
    	p.finish(ch)
    }
    """


def test_callees_in_other_files_are_followed(tmp_path):
    found = _run_package(tmp_path, {"main.go": MAIN_FILE, "finish.go": "package p\n\nfunc (p *pump) finish(c chan int) { println(len(c)) }\n"})
    assert len(found) == 1 and found[0].startswith("main.go:6: ") and "or pump.finish (finish.go:3)" in found[0]
    closing = _run_package(tmp_path / "closing", {"main.go": MAIN_FILE, "finish.go": "package p\n\nfunc (p *pump) finish(c chan int) { close(c) }\n"})
    assert closing == []


def test_a_method_declared_once_per_build_target_proves_nothing(tmp_path):
    # The first variant the index sees does not close; the one built on Unix does.
    found = _run_package(
        tmp_path,
        {
            "main.go": MAIN_FILE,
            "finish_a_windows.go": "package p\n\nfunc (p *pump) finish(c chan int) {}\n",
            "finish_unix.go": "//go:build !windows\n\npackage p\n\nfunc (p *pump) finish(c chan int) { close(c) }\n",
        },
    )
    assert found == []


# -- generators -------------------------------------------------------------------------------

GENERATOR = """
func {name}(n int) <-chan int {{
	out := make(chan int)
	go func() {{
		for i := 0; i < n; i++ {{
			out <- i
		}}
	}}()
	return out
}}
"""


def _diagnostics(body: str):
    data = ("package p\n\n" + textwrap.dedent(body).lstrip("\n")).encode()
    result = process("x.go", data, Settings(rules=[RULE]))
    assert not result.errors
    return result.diagnostics


def test_generator_whose_producer_never_closes_is_reported_with_a_defer_close():
    body = GENERATOR.format(name="numbers") + "\nfunc sum() (t int) {\n\tfor v := range numbers(3) {\n\t\tt += v\n\t}\n\treturn t\n}\n"
    found = _diagnostics(body)
    assert len(found) == 1
    message = found[0].message
    assert "channel out is returned as a receive-only channel and never closed" in message
    assert "(as line 14 does)" in message and "close it when the producer returns" in message
    # Unexported and every caller of the package ranges over it: safe.
    assert found[0].fix is not None and found[0].fix.applicability is Applicability.SAFE
    _, fixed = run(body)
    assert b"\tgo func() {\n\t\tdefer close(out)\n\t\tfor i := 0; i < n; i++ {" in fixed


def test_generator_fix_is_unsafe_when_callers_may_be_out_of_sight():
    exported = _diagnostics(GENERATOR.format(name="Numbers"))
    assert len(exported) == 1 and exported[0].fix is not None and exported[0].fix.applicability is Applicability.UNSAFE
    counted = _diagnostics(GENERATOR.format(name="numbers") + "\nfunc first() int {\n\treturn <-numbers(3)\n}\n")
    assert len(counted) == 1 and counted[0].fix is not None and counted[0].fix.applicability is Applicability.UNSAFE


@pytest.mark.parametrize(
    "change",
    [
        ("<-chan int {", "chan int {"),  # the caller may own the channel
        ("\tgo func() {\n", "\tgo func() {\n\t\tdefer close(out)\n"),  # the producer closes
        ("\t\tfor i := 0; i < n; i++ {\n\t\t\tout <- i\n\t\t}\n", "\t\tout <- n\n"),  # a future: one value
        ("\t\t\tout <- i\n", "\t\t\tselect {\n\t\t\tcase out <- i:\n\t\t\tcase <-stop:\n\t\t\t\treturn\n\t\t\t}\n"),  # a stop protocol
        ("\t\tfor i := 0; i < n; i++ {\n", "\t\tfor i := 0; ; i++ {\n"),  # sends for ever
        ("\t\t\tout <- i\n", "\t\t\tout <- i\n\t\t\treturn\n"),  # a last value, not a stream
        ("\treturn out\n", "\tkeep(out)\n\treturn out\n"),  # leaves through a call the package does not show
        ("\tgo func() {\n", "\tfor j := 0; j < 2; j++ {\n\tgo func() {\n"),  # several producers
    ],
)
def test_generator_shapes_that_are_not_reported(change):
    old, new = change
    body = GENERATOR.format(name="numbers").replace(old, new, 1)
    if "for j := 0" in body:
        body = body.replace("\t}()\n", "\t}()\n\t}\n", 1)
    if "stop" in body:
        body = body.replace("(n int)", "(n int, stop <-chan struct{})")
    if "keep(" in body:
        body = body.replace("(n int)", "(n int, keep func(chan int))")
    assert _diagnostics(body) == []


# -- deferred consumers -----------------------------------------------------------------------

DEFERRED = """
func f(items []int) {
	ch := make(chan int, len(items))
	defer func() {
		go func() {
			for v := range ch {
				println(v)
			}
		}()
	}()
	for _, item := range items {
		ch <- item
	}
}
"""


def test_deferred_consumer_of_a_channel_the_function_fills_gets_the_close():
    messages, fixed = run(DEFERRED)
    assert len(messages) == 1 and "waiting on it (line 7)" in messages[0]
    assert b"\t\tch <- item\n\t}\n\tclose(ch)\n}" in fixed


def test_deferred_consumer_of_an_unbuffered_channel_the_function_sends_on_is_another_bug():
    # The function's own send blocks before the deferred consumer ever starts.
    assert run(DEFERRED.replace("make(chan int, len(items))", "make(chan int)"))[0] == []


# -- the analysis facts the rule reads ----------------------------------------------------------------


def _source(text: str) -> SourceFile:
    return SourceFile("x.go", ("package p\n\n" + textwrap.dedent(text).lstrip("\n")).encode(), (1, 22))


def _function(source: SourceFile, name: bytes):
    return next(f for f in nodes_of_types(source, syntax.FUNCTION_KINDS) if syntax.function_name(f) is not None and syntax.function_name(f).text == name)


def test_call_summaries_are_computed_for_what_a_query_reaches():
    source = _source(
        """
        func a(c chan int) { b(c) }
        func b(c chan int) { close(c) }
        func other(c chan int) { c <- 1 }
        """
    )
    summaries = source.facts(CallSummaries)
    first = summaries.of(source, _function(source, b"a"))
    assert first is not None and first.parameter(0).closes  # type: ignore[union-attr]
    assert len(summaries._summaries) == 2  # a and b; `other` is not summarised until asked
    assert summaries.of(source, _function(source, b"other")).parameter(0).sends  # type: ignore[union-attr]


def test_call_summaries_mark_a_value_kept_by_a_closure():
    source = _source("func keep(c chan int) func() {\n\treturn func() { c <- 1 }\n}\n\nfunc now(c chan int) {\n\tfunc() { c <- 1 }()\n}\n")
    summaries = source.facts(CallSummaries)
    kept = summaries.of(source, _function(source, b"keep")).parameter(0)  # type: ignore[union-attr]
    now = summaries.of(source, _function(source, b"now")).parameter(0)  # type: ignore[union-attr]
    assert kept.sends and kept.in_closure
    assert now.sends and not now.in_closure


def test_result_types_lists_one_type_per_value():
    source = _source("func f() (a, b <-chan int, err error) { return }\nfunc g() chan int { return nil }\nfunc h() {}\n")
    assert [source.text(t) for t in syntax.result_types(_function(source, b"f"))] == [b"<-chan int", b"<-chan int", b"error"]
    assert [source.text(t) for t in syntax.result_types(_function(source, b"g"))] == [b"chan int"]
    assert syntax.result_types(_function(source, b"h")) == []
