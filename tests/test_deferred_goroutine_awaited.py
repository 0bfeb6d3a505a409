"""Unit tests for deferred-goroutine-awaited: what the fixtures cannot show.

The fixtures (fixtures/deferred-goroutine-awaited/) prove the fix with the Go
toolchain; these pin CRLF files, the read/write reasoning about variables
the moved goroutine shares, and applicability.
"""

from __future__ import annotations

import textwrap

from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.codemods.model import Applicability
from gofix_defer.rules import by_name

RULE = by_name("deferred-goroutine-awaited")


def program(between: str = "") -> str:
    return textwrap.dedent(
        """\
        package p

        import "sync"

        func count(items []int) int {
        	var wg sync.WaitGroup
        	n := 0
        	wg.Add(1)
        	defer func() {
        		go func() {
        			defer wg.Done()

        			n = len(items)
        		}()
        	}()
        BETWEEN	wg.Wait()
        	return n
        }
        """
    ).replace("BETWEEN", between)


FIXED = textwrap.dedent(
    """\
    package p

    import "sync"

    func count(items []int) int {
    	var wg sync.WaitGroup
    	n := 0
    	wg.Add(1)
    	go func() {
    		defer wg.Done()

    		n = len(items)
    	}()
    	wg.Wait()
    	return n
    }
    """
)


def fixed(data: bytes) -> bytes:
    result = process("x.go", data, Settings(rules=[RULE], apply_fixes=True))
    assert not result.errors, result.errors
    return result.fixed if result.fixed is not None else data


def diagnostics(text: str):
    return list(RULE.check(SourceFile("x.go", text.encode(), (1, 22))))


def test_fix_dedents_the_goroutine_into_the_defer_statement():
    assert fixed(program().encode()) == FIXED.encode()


def test_crlf_file_keeps_crlf():
    crlf = program().replace("\n", "\r\n").encode()
    assert fixed(crlf) == FIXED.replace("\n", "\r\n").encode()


def test_fix_is_safe_and_reported_on_the_wait():
    (diagnostic,) = diagnostics(program())
    assert diagnostic.fix is not None and diagnostic.fix.applicability is Applicability.SAFE
    assert program().encode()[diagnostic.start : diagnostic.end] == b"wg.Wait()"


def test_reading_what_the_goroutine_only_reads_keeps_the_fix():
    (diagnostic,) = diagnostics(program("\tprintln(len(items))\n"))
    assert diagnostic.fix is not None


def test_touching_what_the_goroutine_writes_is_report_only():
    (diagnostic,) = diagnostics(program("\tprintln(n)\n"))
    assert diagnostic.fix is None
    assert "no fix: the goroutine would share n with code that runs before the wait" in diagnostic.message


def test_writing_what_the_goroutine_reads_is_report_only():
    (diagnostic,) = diagnostics(program("\titems[0] = 1\n"))
    assert diagnostic.fix is None and "share items" in diagnostic.message


def test_an_add_after_the_wait_is_no_evidence():
    text = program().replace("\twg.Add(1)\n", "").replace("\treturn n\n", "\twg.Add(1)\n\treturn n\n")
    assert diagnostics(text) == []
