"""Unit tests for waitgroup-add-in-goroutine: what the fixtures cannot show.

The fixtures (fixtures/waitgroup-add-in-goroutine/) prove the fix with the
Go toolchain; these pin CRLF files, the fix's applicability, and the
handshake that orders an Add before the Wait.
"""

from __future__ import annotations

import textwrap

from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.codemods.model import Applicability
from gofix_defer.rules import by_name

RULE = by_name("waitgroup-add-in-goroutine")

SOURCE = textwrap.dedent(
    """\
    package p

    import "sync"

    func run(jobs []func()) {
    	var wg sync.WaitGroup
    	for _, job := range jobs {
    		go func() {
    			wg.Add(1) // counts this job
    			defer wg.Done()
    			job()
    		}()
    	}
    	wg.Wait()
    }
    """
)

FIXED = textwrap.dedent(
    """\
    package p

    import "sync"

    func run(jobs []func()) {
    	var wg sync.WaitGroup
    	for _, job := range jobs {
    		wg.Add(1) // counts this job
    		go func() {
    			defer wg.Done()
    			job()
    		}()
    	}
    	wg.Wait()
    }
    """
)


def fixed(data: bytes) -> bytes:
    result = process("x.go", data, Settings(rules=[RULE], apply_fixes=True))
    assert not result.errors, result.errors
    return result.fixed if result.fixed is not None else data


def test_fix_moves_the_add_with_its_comment():
    assert fixed(SOURCE.encode()) == FIXED.encode()


def test_crlf_file_keeps_crlf():
    crlf = SOURCE.replace("\n", "\r\n").encode()
    assert fixed(crlf) == FIXED.replace("\n", "\r\n").encode()


def test_fix_is_safe_and_reported_on_the_add():
    source = SourceFile("x.go", SOURCE.encode(), (1, 22))
    (diagnostic,) = list(RULE.check(source))
    assert diagnostic.fix is not None and diagnostic.fix.applicability is Applicability.SAFE
    assert source.data[diagnostic.start : diagnostic.end] == b"wg.Add(1)"


def test_a_signal_the_function_receives_after_the_go_statement_is_a_handshake():
    # Add, Done, send; receive, Wait: the receive orders the Add (and Done) before the Wait.
    text = textwrap.dedent(
        """\
        package p

        import "sync"

        func run(c chan bool) {
        	var wg sync.WaitGroup
        	go func() {
        		wg.Add(1)
        		wg.Done()
        		c <- true
        	}()
        	<-c
        	wg.Wait()
        }
        """
    )
    assert list(RULE.check(SourceFile("x.go", text.encode(), (1, 22)))) == []


def test_a_receive_after_the_wait_is_no_handshake():
    text = textwrap.dedent(
        """\
        package p

        import "sync"

        func run(c chan bool) {
        	var wg sync.WaitGroup
        	go func() {
        		wg.Add(1)
        		c <- true
        		wg.Done()
        	}()
        	wg.Wait()
        	<-c
        }
        """
    )
    assert len(list(RULE.check(SourceFile("x.go", text.encode(), (1, 22))))) == 1
