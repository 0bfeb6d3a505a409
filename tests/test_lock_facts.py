"""The Locks family's path facts: which locks each path holds, at each exit once the
defers ran; and control.same_path on alternative branches."""

from __future__ import annotations

import textwrap

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.control import same_path
from gofix_defer.codemods.analysis.locks import LockFlow, Locks, lock_statement, same_lock
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.source import SourceFile


def parse(body: str) -> SourceFile:
    text = 'package p\n\nimport (\n\t"os"\n\t"sync"\n)\n\nvar _ = os.Exit\n\n' + textwrap.dedent(body).lstrip()
    return SourceFile("x.go", text.encode(), (1, 22))


def function_named(source: SourceFile, name: bytes):
    for function in nodes_of_types(source, syntax.FUNCTION_KINDS):
        found = syntax.function_name(function) if not syntax.is_function_literal(function) else None
        if found is not None and source.text(found) == name:
            return function
    raise AssertionError(name)


def flow_of(source: SourceFile, name: bytes) -> LockFlow:
    found = source.facts(Locks).flow(function_named(source, name))
    assert found is not None
    return found


def lock_named(source: SourceFile, flow: LockFlow, function, receiver: bytes):
    for node in syntax.walk(function):
        call = lock_statement(source, node)
        if call is not None and call.receiver == receiver:
            return flow.identity(call)
    raise AssertionError(receiver)


def line_of(source: SourceFile, text: bytes) -> int:
    return source.data[: source.data.index(text)].count(b"\n") + 1


def exit_counts(source: SourceFile, name: bytes, receiver: bytes) -> list[tuple[int, frozenset[int]]]:
    """Per exit: its line and the counts the lock is held with once the defers ran."""
    function = function_named(source, name)
    flow = flow_of(source, name)
    lock = lock_named(source, flow, function, receiver)
    return [(source.line_col(e.node.start_byte if syntax.is_return(e.node) else e.node.end_byte)[0], e.after_defers(lock)) for e in flow.exits]


def test_a_deferred_unlock_covers_the_returns_of_an_unlock_relock_dance() -> None:
    source = parse(
        """
        func f(n *sync.Mutex, bad bool) error {
        	n.Lock()
        	defer n.Unlock()
        	n.Unlock()
        	n.Lock()
        	if bad {
        		return nil
        	}
        	n.Unlock()
        	n.Lock()
        	return nil
        }
        """
    )
    flow = flow_of(source, b"f")
    lock = lock_named(source, flow, function_named(source, b"f"), b"n")
    assert [e.after_defers(lock) for e in flow.exits] == [frozenset({0}), frozenset({0})]
    assert all(p.holds(lock) == 1 and p.defers(lock) == 1 for e in flow.exits for p in e.paths)
    assert flow.known(lock)


def test_exits_hold_what_their_paths_took_and_dead_branches_are_no_paths() -> None:
    source = parse(
        """
        func f(mu *sync.Mutex, a, b bool) {
        	mu.Lock()
        	if false {
        		return
        	}
        	if a {
        		return
        	}
        	if b {
        		mu.Unlock()
        		os.Exit(1)
        	}
        	mu.Unlock()
        }
        """
    )
    # The return under `if false` is never reached, os.Exit ends its path: two exits.
    end = source.data.rindex(b"}")
    assert exit_counts(source, b"f", b"mu") == [
        (line_of(source, b"if a {") + 1, frozenset({1})),
        (source.line_col(end)[0], frozenset({0})),
    ]


def test_paths_through_branches_loops_and_switches_are_kept_apart() -> None:
    source = parse(
        """
        func f(mu *sync.Mutex, items []int, k int) int {
        	for _, item := range items {
        		mu.Lock()
        		switch k {
        		case 0:
        			continue
        		case 1:
        			break
        		default:
        			return item
        		}
        		mu.Unlock()
        	}
        	return 0
        }
        """
    )
    # `continue` carries the lock into the next turn: later turns hold it more.
    counts = exit_counts(source, b"f", b"mu")
    assert counts[0][0] == line_of(source, b"return item") and min(counts[0][1]) == 1
    assert counts[1][0] == line_of(source, b"return 0") and counts[1][1] >= {0, 1}


def test_closures_called_in_place_count_and_unknown_uses_are_said() -> None:
    source = parse(
        """
        func f(mu *sync.Mutex, other *sync.Mutex) {
        	mu.Lock()
        	unlock := func() { mu.Unlock() }
        	defer unlock()
        	if other.TryLock() {
        		other.Unlock()
        	}
        }

        func g(mu *sync.Mutex, release func()) {
        	mu.Lock()
        	defer release()
        }
        """
    )
    function = function_named(source, b"f")
    flow = flow_of(source, b"f")
    mu = lock_named(source, flow, function, b"mu")
    other = lock_named(source, flow, function, b"other")
    assert [e.after_defers(mu) for e in flow.exits] == [frozenset({0})]
    assert flow.known(mu) and not flow.known(other)
    assert flow_of(source, b"g").opaque  # a deferred function value may release anything


def test_same_lock_needs_the_same_spelling_from_the_same_variable() -> None:
    source = parse(
        """
        type s struct{ a, b sync.Mutex }

        func (x *s) f(y *s) {
        	x.a.Lock()
        	x.b.Lock()
        	y.a.Lock()
        	x.a.Unlock()
        }
        """
    )
    function = function_named(source, b"f")
    calls = [lock_statement(source, s) for s in syntax.statements(syntax.function_body(function))]
    scopes = source.scopes(function)
    assert not same_lock(scopes, calls[0], calls[1])  # x.a, x.b
    assert not same_lock(scopes, calls[0], calls[2])  # x.a, y.a
    assert same_lock(scopes, calls[0], calls[3])


def test_same_path_is_false_on_alternative_branches() -> None:
    source = parse(
        """
        func f(a bool, ch chan int) {
        	if a {
        		ch <- 1
        	} else {
        		ch <- 2
        	}
        	switch {
        	case a:
        		ch <- 3
        	default:
        		ch <- 4
        	}
        	select {
        	case ch <- 5:
        	case ch <- 6:
        	}
        	ch <- 7
        }
        """
    )
    sends = [n for n in syntax.walk(function_named(source, b"f")) if syntax.is_send(n)]
    assert len(sends) == 7
    one, two, three, four, five, six, seven = sends
    assert not same_path(one, two) and not same_path(two, one)
    assert not same_path(three, four)
    assert not same_path(five, six)
    assert same_path(one, three) and same_path(two, seven) and same_path(four, seven) and same_path(one, five)
