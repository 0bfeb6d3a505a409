"""Unit tests for deferred-close.

The fixtures (fixtures/deferred-close/) prove the fixes with the Go
toolchain; these tests pin what a fixture cannot show: safe versus unsafe,
CRLF files, a second run, and the reachability helper (control.runs_after).
"""

from __future__ import annotations

import textwrap

from gofix_defer.codemods.analysis.control import runs_after
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import walk
from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.codemods.model import Applicability
from gofix_defer.rules import by_name

RULE = by_name("deferred-close")

HEADER = 'package p\n\nimport (\n\t"errors"\n\t"fmt"\n)\n\n'


def program(consumer: str) -> str:
    body = textwrap.dedent(
        """
        func f(items []int) error {
        	ch := make(chan int)
        	go func() {
        CONSUMER
        	}()
        	if len(items) == 0 {
        		return errors.New("empty")
        	}
        	for _, v := range items {
        		ch <- v
        	}
        	close(ch)
        	return nil
        }
        """
    ).lstrip("\n")
    return HEADER + body.replace("CONSUMER", textwrap.indent(textwrap.dedent(consumer).strip("\n"), "\t\t"))


def run(text: str | bytes, unsafe: bool = True):
    data = text.encode() if isinstance(text, str) else text
    result = process("x.go", data, Settings(rules=[RULE], unsafe_fixes=unsafe, apply_fixes=True))
    assert not result.errors, result.errors
    return result


RANGE_ONLY = """
for v := range ch {
	fmt.Println(v)
}
"""


def test_range_consumer_gets_a_safe_fix():
    result = run(program(RANGE_ONLY), unsafe=False)
    assert [d.rule for d in result.applied] == ["deferred-close"]
    assert result.applied[0].fix.applicability == Applicability.SAFE
    out = result.fixed.decode()
    assert "\tch := make(chan int)\n\tdefer close(ch)\n\tgo func() {" in out
    assert "\tclose(ch)\n" not in out


def test_code_after_the_loop_or_a_single_receive_makes_it_unsafe():
    for consumer in (RANGE_ONLY + 'fmt.Println("done")\n', "v := <-ch\nfmt.Println(v)\n"):
        result = run(program(consumer), unsafe=False)
        assert result.applied == [], consumer
        [diagnostic] = result.diagnostics
        assert diagnostic.fix.applicability == Applicability.UNSAFE


def test_second_run_is_a_no_op_and_crlf_is_kept():
    crlf = program(RANGE_ONLY).replace("\n", "\r\n").encode()
    once = run(crlf).fixed
    assert b"defer close(ch)\r\n" in once
    assert b"\n" not in once.replace(b"\r\n", b"")
    again = run(once)
    assert again.diagnostics == [] and again.fixed is None


def test_consumer_that_also_sends_is_not_reported():
    assert run(program("for v := range ch {\n\tch <- v\n}\n"), unsafe=False).diagnostics == []


def test_runs_after_follows_blocks_not_branches():
    source = SourceFile(
        "x.go",
        (
            HEADER
            + textwrap.dedent(
                """
                func f(a bool) {
                	for i := 0; i < 2; i++ {
                		if a {
                			go g()
                			return
                		} else {
                			return
                		}
                	}
                	return
                }
                """
            ).lstrip("\n")
        ).encode(),
        (1, 22),
    )
    go_statement = next(n for n in walk(source.root) if n.type == "go_statement")
    same_block, else_branch, after_loop = [n for n in walk(source.root) if n.type == "return_statement"]
    assert runs_after(go_statement, same_block)
    assert not runs_after(go_statement, else_branch)
    assert runs_after(go_statement, after_loop)
    assert not runs_after(same_block, go_statement)


def test_the_proof_is_a_fact_and_the_layout_is_the_fixs_question():
    from gofix_defer.codemods.analysis.closes import Closes
    from gofix_defer.codemods.edits.close_deferral import defer_close_fix
    from gofix_defer.codemods.model import Fix, NoFix

    source = SourceFile("x.go", program(RANGE_ONLY).encode(), (1, 22))
    function = next(n for n in walk(source.root) if n.type == "function_declaration")
    [proof] = source.facts(Closes).deferrable(function)
    assert proof.declaration.name == b"ch" and proof.consumers_only_range
    assert source.text(proof.early_return) == b'return errors.New("empty")'
    assert isinstance(defer_close_fix(source, proof), Fix)

    shared = SourceFile("x.go", program(RANGE_ONLY).replace("\tclose(ch)\n", "\tclose(ch); fmt.Println()\n").encode(), (1, 22))
    function = next(n for n in walk(shared.root) if n.type == "function_declaration")
    assert [p.declaration.name for p in shared.facts(Closes).deferrable(function)] == []  # a statement follows the close

    same_line = SourceFile("x.go", program(RANGE_ONLY).replace("\tclose(ch)\n\treturn nil\n", "\tclose(ch); return nil\n").encode(), (1, 22))
    function = next(n for n in walk(same_line.root) if n.type == "function_declaration")
    [proof] = same_line.facts(Closes).deferrable(function)
    assert isinstance(defer_close_fix(same_line, proof), NoFix)
    assert run(same_line.data).diagnostics == []  # no movable close: left to goroutine-no-cancel
