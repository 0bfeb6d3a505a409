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


def test_context_cancelled_by_a_defer_of_the_starter_is_detached() -> None:
    # The goroutine outlives vacuum, whose deferred cancel ends ctx: passing ctx itself
    # would cancel the query; context.WithoutCancel keeps its values, not its end.
    safe = _run(DEFERRED_CANCEL)
    assert safe.fixed is not None
    assert b'db.ExecContext(context.WithoutCancel(ctx), "VACUUM")' in safe.fixed
    assert b'db.ExecContext(ctx, "VACUUM")' not in safe.fixed


def test_without_cancel_is_not_offered_before_go_1_21() -> None:
    result = process("main.go", DEFERRED_CANCEL, Settings(rules=[RULE], unsafe_fixes=True, apply_fixes=True, go_version=(1, 20)))
    assert result.fixed is None
    (finding,) = result.diagnostics
    assert finding.fix is None and "context.WithoutCancel (Go 1.21) is not available at go 1.20" in finding.message


def test_a_lone_argument_is_respaced_as_gofmt_does() -> None:
    source = DEFERRED_CANCEL.replace(b'db.Exec("VACUUM")', b'db.Exec("VACUUM " + table)').replace(b"vacuum(db *sql.DB)", b"vacuum(db *sql.DB, table string)")
    result = _run(source)
    assert result.fixed is not None
    assert b'db.ExecContext(context.WithoutCancel(ctx), "VACUUM "+table)' in result.fixed


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
