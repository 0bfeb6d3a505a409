"""Parallel subtests: `t.Run(name, func(t *testing.T) { t.Parallel(); … })`.

A subtest whose function calls `t.Parallel()` pauses there and goes on only
after the function that called `t.Run` has returned (the parent test waits for
its parallel subtests at its end). So the statements after the `t.Parallel()`
call run later, like a goroutine's: a loop variable they read has, before Go
1.22, its last value by then.

As go vet's `loopclosure` does, only the statements of the literal's own body
that follow a `t.Parallel()` call on the literal's own `*testing.T` are
counted, and a labelled statement starts the count again (a jump could skip
the `t.Parallel()` call).
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.imports import imported_name
from gofix_defer.codemods.analysis.scope import Declaration, FunctionScopes
from gofix_defer.codemods.analysis.source import SourceFile


@dataclass(frozen=True)
class ParallelSubtest:
    statement: Node  # the `t.Run(…)` expression statement
    call: Node  # the `t.Run(…)` call
    literal: Node  # the subtest's function literal
    tester: Declaration  # the literal's `*testing.T` parameter
    after: tuple[Node, ...]  # the literal's top-level statements after its `t.Parallel()` call


def _is_testing_t(source: SourceFile, type_node: Node | None, testing: bytes) -> bool:
    return type_node is not None and b"".join(source.text(type_node).split()) == b"*" + testing + b".T"


def parallel_subtest(source: SourceFile, scopes: FunctionScopes, statement: Node) -> ParallelSubtest | None:
    """``statement`` as `t.Run(name, func(t *testing.T) { …; t.Parallel(); … })`, where the
    receiver is a variable of the stated type `*testing.T`; None otherwise (also when
    the literal never calls `t.Parallel()` at its top level)."""
    testing = imported_name(source, b"testing")
    if testing is None or not syntax.is_expression_statement(statement):
        return None
    expression = next((c for c in statement.named_children if not syntax.is_comment(c)), None)
    call = syntax.unparen(expression) if expression is not None else None
    if not syntax.is_call(call):
        return None
    parts = syntax.selector_call(call)
    if parts is None or source.text(parts[1]) != b"Run" or not syntax.is_identifier(parts[0]):
        return None
    receiver = scopes.resolve(parts[0])
    if receiver is None or not _is_testing_t(source, receiver.type_node, testing):
        return None
    arguments = syntax.call_arguments(call)
    if len(arguments) != 2 or not syntax.is_function_literal(syntax.unparen(arguments[1])):
        return None
    literal = syntax.unparen(arguments[1])
    parameters = syntax.parameters_of(syntax.parameter_list(literal))
    if not parameters or not parameters[0].names or not _is_testing_t(source, parameters[0].type, testing):
        return None
    tester = scopes.resolve(parameters[0].names[0])
    if tester is None:
        return None
    after: list[Node] = []
    parallel = False
    for top in syntax.statements(syntax.function_body(literal)):
        inner = syntax.unlabelled_statement(top)
        if inner != top:
            after, parallel = [], False  # a jump to the label could skip t.Parallel()
        if parallel:
            after.append(inner)
        elif _is_parallel_call(source, scopes, inner, tester):
            parallel = True
    if not parallel:
        return None
    return ParallelSubtest(statement, call, literal, tester, tuple(after))


def _is_parallel_call(source: SourceFile, scopes: FunctionScopes, statement: Node, tester: Declaration) -> bool:
    if not syntax.is_expression_statement(statement):
        return False
    expression = next((c for c in statement.named_children if not syntax.is_comment(c)), None)
    call = syntax.unparen(expression) if expression is not None else None
    parts = syntax.selector_call(call) if syntax.is_call(call) else None
    if parts is None or source.text(parts[1]) != b"Parallel" or not syntax.is_identifier(parts[0]):
        return False
    return scopes.resolve(parts[0]) is tester


_TESTING_TYPES = frozenset({b"*T", b"*B", b"*F", b"TB"})
_STOPPING_METHODS = frozenset({b"Fatal", b"Fatalf", b"FailNow", b"Skip", b"Skipf", b"SkipNow"})


def stops_the_test(source: SourceFile, scopes: FunctionScopes, statement: Node) -> bool:
    """``statement`` is `t.Fatal(…)`, `t.Fatalf`, `t.FailNow()`, `t.Skip…` on a variable of the
    stated type `*testing.T`, `*testing.B`, `*testing.F` or `testing.TB`: it ends the
    test's goroutine (runtime.Goexit), like a return."""
    testing = imported_name(source, b"testing")
    if testing is None or not syntax.is_expression_statement(statement):
        return False
    expression = next((c for c in statement.named_children if not syntax.is_comment(c)), None)
    call = syntax.unparen(expression) if expression is not None else None
    parts = syntax.selector_call(call) if syntax.is_call(call) else None
    if parts is None or source.text(parts[1]) not in _STOPPING_METHODS or not syntax.is_identifier(parts[0]):
        return False
    decl = scopes.resolve(parts[0])
    if decl is None or decl.type_node is None:
        return False
    spelled = b"".join(source.text(decl.type_node).split())
    prefix = b"*" + testing + b"."
    return any(spelled == (prefix + kind[1:] if kind.startswith(b"*") else testing + b"." + kind) for kind in _TESTING_TYPES)
