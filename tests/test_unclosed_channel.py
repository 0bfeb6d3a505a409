"""Unit tests for unclosed-channel beyond the fixtures: CRLF files, shadowed
names, every way a channel can escape (no evidence, so no report), consumers
with another way out, and where the close goes."""

from __future__ import annotations

import textwrap

import pytest

from gofix_defer.codemods.engine.process import Settings, process
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
    ],
)
def test_escaping_channel_is_reported_without_a_fix(escape):
    # Issue 3: no fix when the channel escapes; report it instead.
    messages, fixed = run(function("\tch <- 1\n" + escape))
    assert len(messages) == 1 and "no fix:" in messages[0] and "may or may not close it" in messages[0]
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
