"""Unit tests for async-unlock beyond the fixtures: CRLF files, blank lines
around a removed goroutine, deferred functions with arguments, a single-line
`time` import that a fix leaves unused, and the import-removal helper."""

from __future__ import annotations

import textwrap

from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.edits.import_removal import remove_import_if_unused
from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.rules import by_name

RULE = by_name("async-unlock")


def run(text: str) -> tuple[list[str], bytes]:
    data = textwrap.dedent(text).lstrip("\n").encode()
    found = process("x.go", data, Settings(rules=[RULE]))
    result = process("x.go", data, Settings(rules=[RULE], apply_fixes=True))
    assert not found.errors and not result.errors, (found.errors, result.errors)
    return [d.message for d in found.diagnostics], (result.fixed if result.fixed is not None else data)


def test_single_import_line_removed_with_the_only_sleep():
    messages, fixed = run(
        """
        package p

        import "time"

        type T struct{ mu interface{ Lock(); Unlock() } }

        func (t *T) f() {
        	t.mu.Lock()
        	defer func() {
        		go func() {
        			time.Sleep(time.Second)
        			t.mu.Unlock()
        		}()
        	}()
        }
        """
    )
    assert len(messages) == 1
    assert fixed == textwrap.dedent(
        """\
        package p

        type T struct{ mu interface{ Lock(); Unlock() } }

        func (t *T) f() {
        	t.mu.Lock()
        	defer t.mu.Unlock()
        }
        """
    ).encode()


def test_crlf_file_keeps_its_line_endings():
    text = "package p\r\n\r\nimport \"sync\"\r\n\r\nfunc f(mu *sync.Mutex) {\r\n\tmu.Lock()\r\n\tdefer func() {\r\n\t\tprintln(\"bye\")\r\n\t\tgo mu.Unlock()\r\n\t}()\r\n}\r\n"
    result = process("x.go", text.encode(), Settings(rules=[RULE], apply_fixes=True))
    assert result.fixed == (
        b"package p\r\n\r\nimport \"sync\"\r\n\r\nfunc f(mu *sync.Mutex) {\r\n\tmu.Lock()\r\n\tdefer mu.Unlock()\r\n"
        b"\tdefer func() {\r\n\t\tprintln(\"bye\")\r\n\t}()\r\n}\r\n"
    )


def test_blank_lines_around_the_removed_goroutine_do_not_double():
    _, fixed = run(
        """
        package p

        import "sync"

        func f(mu *sync.Mutex) {
        	mu.Lock()
        	defer func() {
        		println("a")

        		go mu.Unlock()

        		println("b")
        	}()
        }
        """
    )
    assert b"println(\"a\")\n\n\t\tprintln(\"b\")" in fixed


def test_deferred_call_with_arguments_keeps_the_call():
    # The arguments are evaluated at the defer statement; dropping the call would drop them.
    _, fixed = run(
        """
        package p

        import "sync"

        func f(mu *sync.Mutex, next func() int) {
        	mu.Lock()
        	defer func(n int) {
        		go mu.Unlock()
        	}(next())
        }
        """
    )
    assert b"\tdefer mu.Unlock()\n\tdefer func(n int) {\n\t}(next())\n" in fixed


def test_go_statement_inside_a_loop_is_reported_without_fix():
    messages, fixed = run(
        """
        package p

        import "sync"

        func f(mu *sync.Mutex) {
        	mu.Lock()
        	defer func() {
        		for i := 0; i < 1; i++ {
        			go mu.Unlock()
        		}
        	}()
        }
        """
    )
    assert len(messages) == 1 and "no fix: the goroutine is started conditionally or in a loop" in messages[0]
    assert b"go mu.Unlock()" in fixed


def test_remove_import_if_unused_keeps_a_used_import():
    data = b'package p\n\nimport (\n\t"fmt"\n\t"time"\n)\n\nfunc f() { time.Sleep(1); fmt.Println() }\n'
    source = SourceFile("x.go", data, (1, 22))
    use = data.index(b"time.Sleep")
    assert remove_import_if_unused(source, b"time", []) == []
    edits = remove_import_if_unused(source, b"time", [(use, use + len(b"time.Sleep(1);"))])
    assert len(edits) == 1 and data[edits[0].start : edits[0].end] == b'\t"time"\n'


def test_deferred_context_cancel_between_lock_and_defer_keeps_the_fix():
    # cancel() touches no guarded state, so it may run after the direct unlock
    # (this is the shape deferred-goroutine-no-cancel leaves behind).
    messages, fixed = run(
        """
        package p

        import (
        	"context"
        	"sync"
        )

        func f(mu *sync.Mutex) {
        	mu.Lock()
        	ctx, cancel := context.WithCancel(context.Background())
        	defer cancel()
        	defer func() {
        		go func() {
        			<-ctx.Done()
        			mu.Unlock()
        		}()
        	}()
        }
        """
    )
    assert len(messages) == 1 and "no fix" not in messages[0]
    assert b"\tdefer cancel()\n\tdefer mu.Unlock()\n\tdefer func() {\n\t\tgo func() {\n\t\t\t<-ctx.Done()\n\t\t}()\n" in fixed


def test_other_deferred_call_between_lock_and_defer_withholds_the_fix():
    messages, fixed = run(
        """
        package p

        import "sync"

        func f(mu *sync.Mutex, cancel func()) {
        	mu.Lock()
        	defer cancel()
        	defer func() { go mu.Unlock() }()
        }
        """
    )
    assert len(messages) == 1 and "no fix: calls deferred between the lock" in messages[0]
    assert b"go mu.Unlock()" in fixed


def test_deferred_unlock_inside_the_goroutine():
    messages, fixed = run(
        """
        package p

        import "sync"

        func f(mu *sync.Mutex, notify func(string)) {
        	mu.Lock()
        	defer func() {
        		go func() {
        			defer mu.Unlock()
        			notify("done")
        		}()
        	}()
        }
        """
    )
    assert len(messages) == 1 and "no fix" not in messages[0]
    assert b"\tdefer mu.Unlock()\n\tdefer func() {\n\t\tgo func() {\n\t\t\tnotify(\"done\")\n\t\t}()\n\t}()\n" in fixed


def test_deferred_unlock_after_guarded_work_is_reported_without_fix():
    messages, _ = run(
        """
        package p

        import "sync"

        type S struct {
        	mu sync.Mutex
        	n  int
        }

        func (s *S) f() {
        	s.mu.Lock()
        	defer func() {
        		go func() {
        			defer s.mu.Unlock()
        			println(s.n)
        		}()
        	}()
        }
        """
    )
    assert len(messages) == 1 and "no fix: the goroutine does other work while it still holds the lock" in messages[0]
