"""double-lock finds a lock taken again through every way a callee can reach it, and the
gate that spares most functions the path analysis (``LockChains._calls_a_locker``)
never refuses one of them.

A callee reaches the caller's lock through what the call hands it (its receiver, an
argument, `&` a field) or, for a package variable's lock, by name. A call that hands on
neither (`s.conn.Close()` while `s.mu` is held) cannot take it again, so its function's
paths are not followed."""

from __future__ import annotations

import textwrap

import pytest

from gofix_defer.codemods.analysis import lockchains, syntax
from gofix_defer.codemods.analysis.index import PackageIndex
from gofix_defer.codemods.analysis.lockchains import LockChains
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.rules import by_name

RULE = by_name("double-lock")

TYPES = """
import "sync"

type conn struct {
	mu sync.Mutex
	n  int
}

func (c *conn) Close() {
	c.mu.Lock()
	c.n = 0
	c.mu.Unlock()
}

type server struct {
	mu    sync.Mutex
	inner struct{ mu sync.Mutex }
	conn  *conn
	n     int
}

func (s *server) bump() {
	s.mu.Lock()
	s.n++
	s.mu.Unlock()
}

func bumpServer(s *server) {
	s.mu.Lock()
	s.n++
	s.mu.Unlock()
}

func bumpMutex(mu *sync.Mutex) {
	mu.Lock()
	mu.Unlock()
}

func bumpInner(s *server) {
	s.inner.mu.Lock()
	s.inner.mu.Unlock()
}

var registryMu sync.Mutex

func register() {
	registryMu.Lock()
	registryMu.Unlock()
}
"""


def source_of(body: str) -> bytes:
    return ("package main\n\n" + textwrap.dedent(TYPES).lstrip("\n") + textwrap.dedent(body)).encode()


def messages(body: str) -> list[str]:
    result = process("x.go", source_of(body), Settings(rules=[RULE]))
    assert not result.errors, result.errors
    return [d.message for d in result.diagnostics]


# Each hands the held lock to the callee in one way: the tests pin that the gate lets
# every one of them through to the analysis.
REACHED = [
    ("receiver", "func (s *server) f() {\n\ts.mu.Lock()\n\ts.bump()\n\ts.mu.Unlock()\n}\n", "s.mu"),
    ("argument", "func (s *server) f() {\n\ts.mu.Lock()\n\tbumpServer(s)\n\ts.mu.Unlock()\n}\n", "s.mu"),
    ("address of the lock", "func (s *server) f() {\n\ts.mu.Lock()\n\tbumpMutex(&s.mu)\n\ts.mu.Unlock()\n}\n", "s.mu"),
    ("parenthesised argument", "func (s *server) f() {\n\ts.mu.Lock()\n\tbumpServer((s))\n\ts.mu.Unlock()\n}\n", "s.mu"),
    ("a prefix of a longer path", "func f(s *server) {\n\ts.inner.mu.Lock()\n\tbumpInner(s)\n\ts.inner.mu.Unlock()\n}\n", "s.inner.mu"),
    ("a parameter's lock", "func f(c *conn) {\n\tc.mu.Lock()\n\tc.Close()\n\tc.mu.Unlock()\n}\n", "c.mu"),
    ("a local's lock", "func f() {\n\tc := &conn{}\n\tc.mu.Lock()\n\tc.Close()\n\tc.mu.Unlock()\n}\n", "c.mu"),
    ("a package variable, by name", "func f() {\n\tregistryMu.Lock()\n\tregister()\n\tregistryMu.Unlock()\n}\n", "registryMu"),
]


@pytest.mark.parametrize("how, body, lock", REACHED, ids=[case[0] for case in REACHED])
def test_a_lock_the_callee_is_handed_or_reaches_by_name_is_a_double_lock(how: str, body: str, lock: str):
    found = messages(body)
    assert len(found) == 1 and found[0].startswith(f"{lock} is locked again"), found


NOT_REACHED = [
    ("another value's method", "func (s *server) f() {\n\ts.mu.Lock()\n\ts.conn.Close()\n\ts.mu.Unlock()\n}\n"),
    ("a field handed on, not its owner", "func (s *server) f() {\n\ts.mu.Lock()\n\tbumpMutex(&s.inner.mu)\n\ts.mu.Unlock()\n}\n"),
    ("a name that only starts like the lock's path", "func f(s, ss *server) {\n\tss.mu.Lock()\n\tbumpServer(s)\n\tss.mu.Unlock()\n}\n"),
]


def _gate_answers(body: str) -> dict[bytes, bool]:
    """``_calls_a_locker`` of each function the body declares, by name."""
    source = SourceFile("x.go", source_of(body), (1, 22))
    chains = source.facts(LockChains)
    index = source.facts(PackageIndex)
    answers = {}
    for name in (b"f",):
        (info,) = index.callables_named(name)
        answers[name] = chains._calls_a_locker(info)
    return answers


@pytest.mark.parametrize("how, body", NOT_REACHED, ids=[case[0] for case in NOT_REACHED])
def test_a_call_that_hands_on_neither_the_lock_nor_its_owner_is_not_followed(how: str, body: str):
    assert messages(body) == []
    assert _gate_answers(body) == {b"f": False}


@pytest.mark.parametrize("how, body, lock", REACHED, ids=[case[0] for case in REACHED])
def test_the_gate_lets_every_reaching_call_through(how: str, body: str, lock: str):
    assert _gate_answers(body) == {b"f": True}


@pytest.mark.parametrize(
    "call, key, expected",
    [
        ("s.bump()", b"s.mu", True),
        ("bumpServer(s)", b"s.mu", True),
        ("bumpMutex(&s.mu)", b"s.mu", True),
        ("bumpMutex(& s . mu)", b"s.mu", True),  # spelled with blanks: one path
        ("bumpServer(s)", b"s.m[0]", True),
        ("s.conn.Close()", b"s.mu", False),
        ("bumpServer(ss)", b"s.mu", False),
        ("bumpServer(s)", b"ss.mu", False),
        ("bumpMutex(&s.inner.mu)", b"s.mu", False),
        ("bumpServer(nil)", b"s.mu", False),
    ],
)
def test_what_a_call_hands_on(call: str, key: bytes, expected: bool):
    source = SourceFile("x.go", source_of(f"func g(s, ss *server) {{\n\t{call}\n}}\n"), (1, 22))
    (info,) = source.facts(PackageIndex).callables_named(b"g")
    (node,) = [node for node, _ in lockchains._own_calls(source, info.node) if syntax.is_call(node)]
    assert lockchains._hands_on(source, node, key) is expected
