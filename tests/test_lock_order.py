"""Unit tests for lock-order (report only): which pairs of opposite orders are
reported, and the shapes left alone (two values of one type, a callee that
releases the held lock first, read locks with no writer, a lock taken only as
the value's last reference is dropped)."""

from __future__ import annotations

import textwrap

import pytest

from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.rules import by_name

RULE = by_name("lock-order")

TYPES = """
import (
	"sync"
	"sync/atomic"
)

type A struct {
	mu   sync.RWMutex
	b    *B
	refs int32
	n    int
}

type B struct {
	mu sync.Mutex
	a  *A
	n  int
}

func (b *B) bump() {
	b.mu.Lock()
	b.n++
	b.mu.Unlock()
}
"""


def source_of(body: str) -> bytes:
    return ("package main\n\n" + textwrap.dedent(TYPES).lstrip("\n") + textwrap.dedent(body)).encode()


def check(body: str) -> list:
    result = process("x.go", source_of(body), Settings(rules=[RULE]))
    assert not result.errors, result.errors
    return result.diagnostics


def test_opposite_orders_through_calls_are_reported_once_at_one_side() -> None:
    found = check(
        """
        func (a *A) touch() {
        	a.mu.Lock()
        	a.n++
        	a.mu.Unlock()
        }

        func (a *A) push() {
        	a.mu.Lock()
        	defer a.mu.Unlock()
        	a.b.bump()
        }

        func (b *B) pull() {
        	b.mu.Lock()
        	defer b.mu.Unlock()
        	b.a.touch()
        }
        """
    )
    assert len(found) == 1
    assert "A.mu then B.mu here" in found[0].message and "B.mu then A.mu in pull" in found[0].message
    assert found[0].fix is None


def test_two_values_of_one_type_have_no_order() -> None:
    assert not check(
        """
        func transfer(from, to *B) {
        	from.mu.Lock()
        	defer from.mu.Unlock()
        	to.mu.Lock()
        	to.n++
        	to.mu.Unlock()
        }
        """
    )


def test_a_callee_that_releases_the_held_lock_first_takes_no_order() -> None:
    assert not check(
        """
        func (a *A) handOff() {
        	a.mu.Unlock()
        	a.b.bump()
        	a.mu.Lock()
        }

        func (a *A) push() {
        	a.mu.Lock()
        	defer a.mu.Unlock()
        	a.handOff()
        }

        func (b *B) pull() {
        	b.mu.Lock()
        	defer b.mu.Unlock()
        	b.a.mu.Lock()
        	b.a.n++
        	b.a.mu.Unlock()
        }
        """
    )


@pytest.mark.parametrize("writer", ["", "func (a *A) set() { a.mu.Lock(); a.n = 1; a.mu.Unlock() }"])
def test_read_locks_on_both_sides_need_a_writer(writer: str) -> None:
    found = check(
        """
        func (a *A) size() int {
        	a.mu.RLock()
        	defer a.mu.RUnlock()
        	return a.n
        }

        func (a *A) push() {
        	a.mu.RLock()
        	defer a.mu.RUnlock()
        	a.b.bump()
        }

        func (b *B) pull() int {
        	b.mu.Lock()
        	defer b.mu.Unlock()
        	return b.a.size()
        }
        """
        + writer
    )
    assert len(found) == (1 if writer else 0)


@pytest.mark.parametrize(
    "drop, reported",
    [
        ("atomic.AddInt32(&a.refs, -1) == 0", False),
        ("0 == atomic.AddInt32(&a.refs, -1)", False),
        ("atomic.AddInt32(&a.refs, 1) == 0", True),  # an increment: not the last reference
        ("atomic.AddInt32(&a.b.a.refs, -1) == 0 && a.n > 0", True),  # not a plain count test
        ("a.n == 0", True),
    ],
)
def test_a_lock_taken_as_the_last_reference_is_dropped_has_no_order(drop: str, reported: bool) -> None:
    found = check(
        """
        func (a *A) unref() {
        	if DROP {
        		a.mu.Lock()
        		a.n = 0
        		a.mu.Unlock()
        	}
        }

        func (b *B) evict() {
        	b.mu.Lock()
        	defer b.mu.Unlock()
        	b.a.unref()
        }

        func (a *A) push() {
        	a.mu.Lock()
        	defer a.mu.Unlock()
        	a.b.bump()
        }
        """.replace("DROP", drop)
    )
    assert bool(found) == reported


def test_the_last_reference_must_be_the_locked_value() -> None:
    """Dropping another value's count says nothing about this lock."""
    found = check(
        """
        func (a *A) unrefPeer(peer *A) {
        	if atomic.AddInt32(&peer.refs, -1) == 0 {
        		a.mu.Lock()
        		a.n = 0
        		a.mu.Unlock()
        	}
        }

        func (b *B) evict(peer *A) {
        	b.mu.Lock()
        	defer b.mu.Unlock()
        	b.a.unrefPeer(peer)
        }

        func (a *A) push() {
        	a.mu.Lock()
        	defer a.mu.Unlock()
        	a.b.bump()
        }
        """
    )
    assert len(found) == 1
