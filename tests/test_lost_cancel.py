"""Unit tests for lost-cancel beyond the fixtures: the paths the rule follows
(control.exit_missing), the packages and constructors it knows, which later
cancel calls the fix removes and which it keeps, where the context goes
(safe or unsafe), and the documentation `--explain` prints."""

from __future__ import annotations

import textwrap

import pytest

from gofix_defer.codemods.analysis import control, syntax
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.codemods.model import Applicability
from gofix_defer.rules import ALL_RULES, by_name

RULE = by_name("lost-cancel")
HEADER = 'package p\n\nimport (\n\t"context"\n\t"errors"\n\t"time"\n)\n\nvar _, _ = errors.New, time.Second\n\n'


def check(body: str, header: str = HEADER) -> tuple[list, bytes]:
    """(diagnostics, the text after --write --unsafe-fixes) for Go code after ``header``."""
    data = (header + textwrap.dedent(body).lstrip("\n")).encode()
    found = process("x.go", data, Settings(rules=[RULE]))
    fixed = process("x.go", data, Settings(rules=[RULE], unsafe_fixes=True, apply_fixes=True))
    assert not found.errors and not fixed.errors, (found.errors, fixed.errors)
    return found.diagnostics, fixed.fixed if fixed.fixed is not None else data


def body_of(fixed: bytes) -> str:
    return fixed.decode()[len(HEADER) :]


# -- the rule is registered and documented ------------------------------------------------


def test_registered_with_its_facts_and_doc_sections():
    assert RULE is not None and RULE in ALL_RULES
    assert RULE.requires is not None
    doc = RULE.doc()
    for section in ("## What it does", "## Why is this bad", "## Example", "## Fix", "## Fix safety"):
        assert section in doc


def test_explain_prints_the_rule():
    from typer.testing import CliRunner

    from gofix_defer.codemods.cli import app

    result = CliRunner().invoke(app, ["--explain", "lost-cancel"])
    assert result.exit_code == 0, result.output
    assert "lostcancel" in result.output and "## Fix safety" in result.output


# -- what is reported -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "constructor,call",
    [
        ("WithCancel", "context.WithCancel(parent)"),
        ("WithTimeout", "context.WithTimeout(parent, time.Second)"),
        ("WithDeadline", "context.WithDeadline(parent, time.Now())"),
        ("WithCancelCause", "context.WithCancelCause(parent)"),
        ("WithTimeoutCause", 'context.WithTimeoutCause(parent, time.Second, errors.New("slow"))'),
        ("WithDeadlineCause", 'context.WithDeadlineCause(parent, time.Now(), errors.New("late"))'),
    ],
)
def test_every_constructor_with_a_cancel(constructor, call):
    found, fixed = check(f"func f(parent context.Context) error {{\n\tctx, _ := {call}\n\treturn ctx.Err()\n}}\n")
    assert [d.line for d in found] == [12]
    assert f"returned by context.{constructor} is discarded" in found[0].message
    expected = "defer cancel(nil)" if constructor == "WithCancelCause" else "defer cancel()"
    assert f"ctx, cancel := {call}\n\t{expected}\n" in body_of(fixed)


def test_an_aliased_import_and_golang_org_x_net_context():
    for path, name in (("context", "ctxpkg"), ("golang.org/x/net/context", "context")):
        header = f'package p\n\nimport {name} "{path}"\n\n' if name != "context" else f'package p\n\nimport "{path}"\n\n'
        found, fixed = check(
            f"func f(parent {name}.Context) error {{\n\tvar ctx {name}.Context\n\tctx, _ = {name}.WithCancel(parent)\n\treturn ctx.Err()\n}}\n", header
        )
        assert len(found) == 1, path
        assert f"var cancel {name}.CancelFunc\n\tctx, cancel = {name}.WithCancel(parent)\n\tdefer cancel()\n" in fixed.decode()


def test_not_the_context_package():
    found, _ = check(
        """
        type pool struct{}

        func (pool) WithCancel(p context.Context) (context.Context, func()) { return p, nil }

        func f(parent context.Context, context pool) error {
        	ctx, _ := context.WithCancel(parent)
        	return ctx.Err()
        }
        """
    )
    assert found == []


def test_without_the_import_nothing_is_looked_at():
    data = b"package p\n\nfunc f(context T) { ctx, _ := context.WithCancel(nil); _ = ctx }\n"
    assert process("x.go", data, Settings(rules=[RULE])).diagnostics == []


@pytest.mark.parametrize(
    "body",
    [
        # a cancel declared outside the function is not its own to call
        "var cancel context.CancelFunc\n\nfunc f(parent context.Context) error {\n\tvar ctx context.Context\n\tctx, cancel = context.WithCancel(parent)\n\treturn ctx.Err()\n}\n",
        # a goto: the paths are not followed
        "func f(parent context.Context, n int) error {\n\tctx, cancel := context.WithCancel(parent)\nagain:\n\tif n > 0 {\n\t\tn--\n\t\tgoto again\n\t}\n\tcancel()\n\treturn ctx.Err()\n}\n",
        # a t.Fatal-like method ends the path
        'type T struct{}\n\nfunc (T) Fatalf(string, ...any) {}\n\nfunc f(t T, parent context.Context, n int) error {\n\tctx, cancel := context.WithCancel(parent)\n\tif n > 0 {\n\t\tt.Fatalf("n")\n\t}\n\tdefer cancel()\n\treturn ctx.Err()\n}\n',
        # a fallthrough into a clause that cancels: not followed, not reported
        "func f(parent context.Context, n int) error {\n\tswitch n {\n\tcase 0:\n\t\tctx, cancel := context.WithCancel(parent)\n\t\t_ = ctx\n\t\tfallthrough\n\tcase 1:\n\t}\n\treturn nil\n}\n",
    ],
)
def test_left_alone(body):
    found, _ = check(body)
    assert found == []


def test_paths_through_loops_labels_and_select():
    found, _ = check(
        """
        func f(parent context.Context, items []int, stop <-chan struct{}) error {
        	ctx, cancel := context.WithCancel(parent)
        outer:
        	for _, item := range items {
        		for {
        			select {
        			case <-stop:
        				break outer
        			default:
        			}
        			if item > 0 {
        				cancel()
        				return nil
        			}
        			continue outer
        		}
        	}
        	return ctx.Err()
        }
        """
    )
    assert len(found) == 1
    assert "the return on line 28 leaves without it" in found[0].message


# -- contexts that end without their cancel (precision: false reports on Debian's sources) --------


@pytest.mark.parametrize(
    "call",
    [
        "context.WithTimeout(parent, -time.Second)",
        "context.WithTimeout(parent, 0)",
        "context.WithTimeout(parent, -5*time.Millisecond)",
        "context.WithTimeout(parent, (-(2 * time.Minute)))",
        "context.WithTimeout(parent, time.Duration(-1))",
        'context.WithTimeoutCause(parent, -1, errors.New("late"))',
        "context.WithDeadline(parent, time.Unix(0, 0))",
        "context.WithDeadline(parent, time.Unix(86400, 0))",
        "context.WithDeadline(parent, time.Time{})",
        'context.WithDeadlineCause(parent, time.Unix(0, 0), errors.New("late"))',
    ],
)
def test_a_deadline_already_past_is_cancelled_as_it_is_made(call):
    found, _ = check(f"func f(parent context.Context, skip bool) error {{\n\tctx, _ := {call}\n\treturn ctx.Err()\n}}\n")
    assert found == []
    found, _ = check(f"func f(parent context.Context, skip bool) error {{\n\tctx, cancel := {call}\n\tif skip {{\n\t\treturn nil\n\t}}\n\tcancel()\n\treturn ctx.Err()\n}}\n")
    assert found == []


@pytest.mark.parametrize(
    "call",
    [
        "context.WithTimeout(parent, d)",
        "context.WithTimeout(parent, -d)",  # d may be negative
        "context.WithTimeout(parent, time.Second)",
        "context.WithTimeout(parent, -time.Second*d)",
        "context.WithTimeout(parent, 1)",
        "context.WithDeadline(parent, time.Unix(4102444800, 0))",  # 2100
        "context.WithDeadline(parent, time.Unix(n, 0))",
        "context.WithDeadline(parent, time.Now().Add(time.Second))",
        "context.WithDeadline(parent, time.Time{}.Add(d))",
    ],
)
def test_a_deadline_that_may_be_ahead_is_still_reported(call):
    found, _ = check(f"func f(parent context.Context, d time.Duration, n int64) error {{\n\tctx, _ := {call}\n\treturn ctx.Err()\n}}\n")
    assert len(found) == 1, call


def test_time_must_be_the_package():
    found, _ = check(
        """
        type clock struct{ Second int }

        func f(parent context.Context, time clock) error {
        	ctx, _ := context.WithTimeout(parent, -time.Second)
        	return ctx.Err()
        }
        """
    )
    assert len(found) == 1


def test_a_return_after_the_parent_is_done_leaves_nothing_uncancelled():
    found, _ = check(
        """
        func f(ctx context.Context, errs <-chan error) {
        	sub, cancel := context.WithCancel(ctx)
        	_ = sub
        	for {
        		select {
        		case <-errs:
        			cancel()
        			sub, cancel = context.WithCancel(ctx)
        			_ = sub
        		case <-ctx.Done():
        			return
        		}
        	}
        }

        func g(parent context.Context, fast bool) error {
        	ctx, cancel := context.WithTimeout(parent, time.Second)
        	if fast {
        		<-parent.Done()
        		return ctx.Err()
        	}
        	defer cancel()
        	return ctx.Err()
        }
        """
    )
    assert found == []


@pytest.mark.parametrize(
    "body",
    [
        # the derived context's Done is not the parent's
        "func f(parent context.Context, other context.Context) {\n\tctx, cancel := context.WithCancel(parent)\n\tselect {\n\tcase <-other.Done():\n\t\treturn\n\tcase <-ctx.Done():\n\t}\n\tcancel()\n}\n",
        # another case leaves too
        "func f(parent context.Context, stop <-chan struct{}) {\n\tctx, cancel := context.WithCancel(parent)\n\t_ = ctx\n\tselect {\n\tcase <-stop:\n\t\treturn\n\tcase <-parent.Done():\n\t\treturn\n\t}\n}\n",
        # the parent variable may hold another context by the time it is waited on
        "func f(parent context.Context, again bool) {\n\tctx, cancel := context.WithCancel(parent)\n\t_ = ctx\n\tif again {\n\t\tparent = context.Background()\n\t}\n\t<-parent.Done()\n\tif again {\n\t\treturn\n\t}\n\tcancel()\n}\n",
        # a goroutine waiting on the parent does not make this function wait
        "func f(parent context.Context, fast bool) {\n\tctx, cancel := context.WithCancel(parent)\n\t_ = ctx\n\tgo func() { <-parent.Done() }()\n\tif fast {\n\t\treturn\n\t}\n\tcancel()\n}\n",
    ],
)
def test_a_return_that_does_not_wait_for_the_parent_is_still_reported(body):
    found, _ = check(body)
    assert len(found) == 1, body


# -- control.exit_missing -------------------------------------------------------------------


def _exit_line(text: str, **options) -> int | None:
    source = SourceFile("x.go", text.encode(), (1, 22))
    statement = next(n for n in nodes_of_types(source, syntax.CALL_KINDS) if source.text(n).startswith(b"mark("))
    while not syntax.is_statement(statement):
        statement = statement.parent
    function = syntax.enclosing_function(statement)
    marks = [n for n in syntax.walk(function) if syntax.is_identifier(n) and source.text(n) == b"seen"]
    found = control.exit_missing(source, function, statement, marks, **options)
    if found is None:
        return None
    return source.line_col(found.start_byte if syntax.is_return(found) else found.end_byte - 1)[0]


def test_exit_missing_follows_branches_and_the_end_of_the_function():
    assert _exit_line("package p\nfunc f(a bool) {\n\tmark()\n\tif a {\n\t\tseen()\n\t\treturn\n\t}\n}\n") == 8
    assert _exit_line("package p\nfunc f(a bool) {\n\tmark()\n\tif a {\n\t\treturn\n\t}\n\tseen()\n}\n") == 5
    assert _exit_line("package p\nfunc f(a bool) {\n\tmark()\n\tif a {\n\t\tseen()\n\t} else {\n\t\tseen()\n\t}\n}\n") is None


def test_exit_missing_knows_what_ends_a_path():
    assert _exit_line('package p\nfunc f(a bool) {\n\tmark()\n\tif a {\n\t\tpanic("x")\n\t}\n\tseen()\n}\n') is None
    text = "package p\nfunc f(a bool) {\n\tmark()\n\tif a {\n\t\tstop()\n\t} else {\n\t\tseen()\n\t}\n}\n"
    assert _exit_line(text) == 9  # stop() returns, then the function ends
    assert _exit_line(text, ends_path=lambda call: call.text.startswith(b"stop")) is None


def test_exit_missing_bare_returns_of_a_named_result():
    text = "package p\nfunc f(a bool) (seen func()) {\n\tmark()\n\treturn\n}\n"
    assert _exit_line(text) == 4
    assert _exit_line(text, bare_return_marks=True) is None


def test_exit_missing_loops_run_again():
    # the second turn reaches the return before any mark
    text = "package p\nfunc f(n int) {\n\tfor i := 0; i < n; i++ {\n\t\tif i > 5 {\n\t\t\treturn\n\t\t}\n\t\tmark()\n\t\tseen()\n\t}\n}\n"
    assert _exit_line(text) is None
    text = "package p\nfunc f(n int) {\n\tfor i := 0; i < n; i++ {\n\t\tif i > 5 {\n\t\t\treturn\n\t\t}\n\t\tmark()\n\t\tif i > 2 {\n\t\t\tcontinue\n\t\t}\n\t\tseen()\n\t}\n}\n"
    assert _exit_line(text) == 5


# -- the fix ----------------------------------------------------------------------------------


def test_removes_a_later_defer_and_a_final_cancel_only_where_nothing_changes():
    found, fixed = check(
        """
        func f(parent context.Context, fast bool) error {
        	ctx, cancel := context.WithTimeout(parent, time.Second)
        	if fast {
        		return ctx.Err()
        	}
        	defer cancel()
        	return nil
        }

        func g(parent context.Context, n int) (int, error) {
        	ctx, cancel := context.WithCancel(parent)
        	if n < 0 {
        		return 0, errors.New("negative")
        	}
        	n += len(ctx.Value("k").(string))

        	cancel()

        	return n, nil
        }
        """
    )
    assert len(found) == 2 and all(d.fix.applicability is Applicability.SAFE for d in found)
    assert body_of(fixed) == textwrap.dedent(
        """\
        func f(parent context.Context, fast bool) error {
        	ctx, cancel := context.WithTimeout(parent, time.Second)
        	defer cancel()
        	if fast {
        		return ctx.Err()
        	}
        	return nil
        }

        func g(parent context.Context, n int) (int, error) {
        	ctx, cancel := context.WithCancel(parent)
        	defer cancel()
        	if n < 0 {
        		return 0, errors.New("negative")
        	}
        	n += len(ctx.Value("k").(string))

        	return n, nil
        }
        """
    )


@pytest.mark.parametrize(
    "tail,why",
    [
        ("\tcancel()\n\treturn ctx.Err()\n", "the return calls something after the cancel"),
        ("\tcancel()\n\tfmt()\n\treturn nil\n", "code runs after the cancel"),
        ("\tdefer fmt()\n\tcancel()\n\treturn nil\n", "a defer registered after the call would run after the cancel"),
        ("\tfor range 2 {\n\t\tcancel()\n\t}\n\treturn nil\n", "the cancel is in a loop"),
        ("\tctx, cancel = context.WithCancel(parent)\n\tcancel()\n\treturn nil\n", "the name holds another cancel by then"),
    ],
)
def test_keeps_later_cancels_that_do_more_than_repeat(tail, why):
    body = (
        "func fmt() {}\n\nfunc f(parent context.Context, n int) error {\n\tctx, cancel := context.WithCancel(parent)\n\tif n < 0 {\n\t\treturn nil\n\t}\n"
        + tail
        + "}\n"
    )
    found, fixed = check(body)
    assert found, why
    assert body_of(fixed).count("cancel()") == body.count("cancel()") + 1, why


def test_the_fixed_code_is_not_reported_again():
    found, fixed = check("func f(parent context.Context) error {\n\tctx, _ := context.WithCancel(parent)\n\treturn ctx.Err()\n}\n")
    assert found and process("x.go", fixed, Settings(rules=[RULE])).diagnostics == []


def test_crlf_files_keep_their_line_endings():
    data = (HEADER + "func f(parent context.Context) error {\n\tctx, _ := context.WithCancel(parent)\n\treturn ctx.Err()\n}\n").replace("\n", "\r\n").encode()
    fixed = process("x.go", data, Settings(rules=[RULE], apply_fixes=True)).fixed
    assert fixed is not None and b"\tctx, cancel := context.WithCancel(parent)\r\n\tdefer cancel()\r\n" in fixed
    assert b"\n" not in fixed.replace(b"\r\n", b"")


# -- fix safety ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "use,unsafe",
    [
        ("\treturn ctx.Err()\n", None),
        ("\terr := use(ctx)\n\treturn err\n", None),
        ("\tgo use(ctx)\n\treturn nil\n", "ctx reaches the goroutine started on line"),
        ("\tf := func() { use(ctx) }\n\tgo f()\n\treturn nil\n", "ctx is captured by the function value made on line"),
        ("\tkeep <- ctx\n\treturn nil\n", "ctx is stored on line"),
        ("\treq := &request{ctx: ctx}\n\tgo req.run()\n\treturn nil\n", "ctx is stored on line"),
        ("\tsub, stop := context.WithCancel(ctx)\n\tdefer stop()\n\tgo use(sub)\n\treturn nil\n", "sub reaches the goroutine"),
        ("\tdefer use(ctx)\n\treturn nil\n", None),
        ("\tfunc() { _ = use(ctx) }()\n\treturn nil\n", None),
    ],
)
def test_unsafe_when_the_context_outlives_the_function(use, unsafe):
    body = (
        "type request struct{ ctx context.Context }\n\nfunc (r *request) run() {}\n\nfunc use(ctx context.Context) error { return ctx.Err() }\n\n"
        "func f(parent context.Context, keep chan<- context.Context) error {\n\tctx, _ := context.WithCancel(parent)\n" + use + "}\n"
    )
    found, _ = check(body)
    (diagnostic,) = found
    assert diagnostic.fix is not None
    if unsafe is None:
        assert diagnostic.fix.applicability is Applicability.SAFE, diagnostic.message
        assert "unsafe" not in diagnostic.message
    else:
        assert diagnostic.fix.applicability is Applicability.UNSAFE
        assert unsafe in diagnostic.message


def test_returned_values_that_cannot_hold_a_context_are_safe():
    found, _ = check(
        'func f(parent context.Context) (string, error) {\n\tctx, _ := context.WithCancel(parent)\n\treturn describe(ctx)\n}\n\nfunc describe(context.Context) (string, error) { return "", nil }\n'
    )
    assert found[0].fix.applicability is Applicability.SAFE
    found, _ = check(
        "type box struct{ c context.Context }\n\nfunc f(parent context.Context) *box {\n\tctx, _ := context.WithCancel(parent)\n\treturn wrap(ctx)\n}\n\nfunc wrap(c context.Context) *box { return &box{c} }\n"
    )
    # A value that may hold it is returned: used after the return, which a deferred
    # cancel would end, so there is no fix (grpc-middleware's SimpleCtx broke its tests).
    assert found[0].fix is None
    assert "ctx reaches the value returned on line" in found[0].message and "no fix" in found[0].message


def test_later_cancels_stay_when_the_call_does_not_declare_the_name():
    # On the path that skips the assignment the later defer cancels what the name held.
    found, fixed = check(
        """
        func f(parent context.Context, slow bool) error {
        	ctx, cancel := parent, context.CancelFunc(func() {})
        	if slow {
        		ctx, cancel = context.WithTimeout(parent, time.Second)
        		if ctx.Err() != nil {
        			return nil
        		}
        	}
        	defer cancel()
        	return ctx.Err()
        }
        """
    )
    assert len(found) == 1
    assert body_of(fixed).count("defer cancel()") == 2
