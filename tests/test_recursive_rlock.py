"""Unit tests for recursive-rlock (report only): a read lock taken again through
a call by the goroutine holding it, reported only when the package also
write-locks that mutex."""

from __future__ import annotations

import textwrap

from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.rules import by_name

RULE = by_name("recursive-rlock")

STATE = """
import "sync"

type state struct {
	mu sync.RWMutex
	m  map[string]int
}

func (s *state) get(k string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.m[k]
}

func (s *state) getLocked(k string) int {
	return s.m[k]
}
"""

WRITER = """
func (s *state) set(k string, v int) {
	s.mu.Lock()
	s.m[k] = v
	s.mu.Unlock()
}
"""


def check(body: str, writer: bool = True) -> list:
    data = ("package main\n\n" + textwrap.dedent(STATE).lstrip("\n") + (WRITER if writer else "") + textwrap.dedent(body)).encode()
    result = process("x.go", data, Settings(rules=[RULE]))
    assert not result.errors, result.errors
    return result.diagnostics


CALLER = """
func (s *state) sum(a, b string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.CALLEE(a) + s.m[b]
}
"""


def test_a_second_read_lock_with_a_writer_in_the_package_is_reported() -> None:
    (found,) = check(CALLER.replace("CALLEE", "get"))
    assert "s.mu is read-locked again" in found.message
    assert "s.mu.Lock()" in found.message  # the writer is named
    assert found.fix is None


def test_no_writer_in_the_package_no_report() -> None:
    assert not check(CALLER.replace("CALLEE", "get"), writer=False)


def test_a_locked_variant_takes_no_lock() -> None:
    assert not check(CALLER.replace("CALLEE", "getLocked"))


def test_another_value_of_the_type_is_another_lock() -> None:
    assert not check(
        """
        func (s *state) compare(other *state, k string) bool {
        	s.mu.RLock()
        	defer s.mu.RUnlock()
        	return other.get(k) == s.m[k]
        }
        """
    )


def test_a_write_lock_then_a_read_lock_is_double_lock_not_this_rule() -> None:
    assert not check(
        """
        func (s *state) bump(k string) {
        	s.mu.Lock()
        	defer s.mu.Unlock()
        	s.m[k] = s.get(k) + 1
        }
        """
    )
