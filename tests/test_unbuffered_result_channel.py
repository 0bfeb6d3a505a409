"""unbuffered-result-channel beyond the fixtures: the buffer it picks, CRLF files,
and the cases where it must stay silent."""

from __future__ import annotations

import pytest

from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.codemods.model import Applicability
from gofix_defer.rules import by_name

RULE = by_name("unbuffered-result-channel")


def check(body: str, params: str = "") -> list:
    text = f"package p\n\nimport \"context\"\n\nvar _ context.Context\n\nfunc f({params}) int {{\n{body}\n}}\n".encode()
    return list(RULE.check(SourceFile("x.go", text, (1, 22))))


def fixed_make(body: str, params: str = "") -> str:
    (diagnostic,) = check(body, params)
    assert diagnostic.fix is not None and diagnostic.fix.applicability is Applicability.SAFE
    (edit,) = diagnostic.fix.edits
    return edit.text.decode()


@pytest.mark.parametrize(
    "body, params, buffer",
    [
        # three senders, one receive: room for all three
        ("\tch := make(chan int)\n\tgo func() { ch <- 1 }()\n\tgo func() { ch <- 2 }()\n\tgo func() { ch <- 3 }()\n\treturn <-ch", "", ", 3"),
        # a counted loop of senders behind a select
        ("\tch := make(chan int)\n\tfor i := 0; i < n; i++ {\n\t\tgo func() { ch <- i }()\n\t}\n\tselect {\n\tcase v := <-ch:\n\t\treturn v\n\tcase <-ctx.Done():\n\t\treturn 0\n\t}", "ctx context.Context, n int", ", n"),
        # a loop over an int (Go 1.22)
        ("\tch := make(chan int)\n\tfor i := range n {\n\t\tgo func() { ch <- i }()\n\t}\n\treturn <-ch", "n int", ", n"),
        # make(chan T, 0) gets its zero replaced
        ("\tch := make(chan int, 0)\n\tgo func() { ch <- 1 }()\n\tselect {\n\tcase v := <-ch:\n\t\treturn v\n\tdefault:\n\t\treturn 0\n\t}", "", "1"),
    ],
)
def test_buffer_fits_the_senders(body: str, params: str, buffer: str) -> None:
    assert fixed_make(body, params) == buffer


@pytest.mark.parametrize(
    "body, params",
    [
        # a goroutine that sends only on a condition may be the only one to send
        ("\tch := make(chan int)\n\tfor i := 0; i < n; i++ {\n\t\tgo func() {\n\t\t\tif i == 0 {\n\t\t\t\tch <- i\n\t\t\t}\n\t\t}()\n\t}\n\treturn <-ch", "n int"),
        # the single value was received before the loop returns
        ("\tch := make(chan int)\n\tgo func() { ch <- 1 }()\n\tfor {\n\t\tselect {\n\t\tcase v := <-ch:\n\t\t\treturn v\n\t\tcase <-ctx.Done():\n\t\t}\n\t}", "ctx context.Context"),
        # a non-blocking poll in a loop keeps receiving
        ("\tch := make(chan int)\n\tgo func() { ch <- 1 }()\n\tfor {\n\t\tselect {\n\t\tcase v := <-ch:\n\t\t\treturn v\n\t\tdefault:\n\t\t}\n\t}", ""),
        # the channel is stored: others may receive
        ("\tch := make(chan int)\n\tgo func() { ch <- 1 }()\n\tsink = ch\n\treturn 0", ""),
    ],
)
def test_silent_without_evidence(body: str, params: str) -> None:
    text = body.replace("sink = ch", "_ = ch")
    assert check(text, params) == []


def test_crlf_file_keeps_its_line_endings() -> None:
    source = (
        b"package p\r\n\r\nfunc f(fail bool) int {\r\n\tch := make(chan int)\r\n\tgo func() {\r\n\t\tch <- 1\r\n\t}()\r\n"
        b"\tif fail {\r\n\t\treturn 0\r\n\t}\r\n\treturn <-ch\r\n}\r\n"
    )
    result = process("x.go", source, Settings(rules=[RULE], apply_fixes=True))
    assert not result.errors
    assert result.fixed == source.replace(b"make(chan int)", b"make(chan int, 1)")
