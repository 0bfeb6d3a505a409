"""query-without-context beyond the fixtures: applicability and shadowed contexts."""

from __future__ import annotations

from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.rules import by_name

RULE = by_name("query-without-context")


def _run(source: bytes, unsafe: bool = False):
    return process("main.go", source, Settings(rules=[RULE], unsafe_fixes=unsafe, apply_fixes=True))


DEFERRED_CANCEL = b"""package main

import (
	"context"
	"database/sql"
)

func vacuum(db *sql.DB) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		db.Exec("VACUUM")
	}()
}
"""


def test_context_cancelled_by_a_defer_of_the_starter_is_unsafe() -> None:
    safe = _run(DEFERRED_CANCEL)
    assert safe.fixed is None
    assert [d.fix.applicability.value for d in safe.diagnostics] == ["unsafe"]
    unsafe = _run(DEFERRED_CANCEL, unsafe=True)
    assert unsafe.fixed is not None and b'db.ExecContext(ctx, "VACUUM")' in unsafe.fixed


def test_a_shadowing_non_context_hides_the_outer_context() -> None:
    source = b"""package main

import (
	"context"
	"database/sql"
)

func run(ctx context.Context, db *sql.DB) {
	go func() {
		ctx := "not a context"
		db.Exec("DELETE FROM t", ctx)
	}()
}
"""
    result = _run(source, unsafe=True)
    assert result.fixed is None
    assert len(result.diagnostics) == 1
    assert "no context.Context in scope" in result.diagnostics[0].message


def test_the_innermost_context_wins() -> None:
    source = b"""package main

import (
	"context"
	"database/sql"
)

func run(ctx context.Context, db *sql.DB) {
	go func(jobCtx context.Context) {
		db.Exec("DELETE FROM t")
	}(ctx)
}
"""
    result = _run(source)
    assert result.fixed is not None
    assert b'db.ExecContext(jobCtx, "DELETE FROM t")' in result.fixed
