"""waitgroup-add-in-goroutine: `wg.Add` inside the goroutine it counts, racing the `wg.Wait` that should wait for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from tree_sitter import Node

from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.scope import FunctionScopes, same_variable
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import (
    FUNCTION_KINDS,
    ancestors,
    called_function_literal,
    enclosing_function,
    identifiers,
    is_inside,
    root_identifier,
    statements,
    unparen,
    walk,
    walk_no_funcs,
)
from gofix_defer.codemods.edits.insertion import ends_line, insert_before, starts_line
from gofix_defer.codemods.model import Diagnostic, Edit, Fix, Rule

# Expression nodes an Add argument may be built from and still be evaluated
# just as well before the `go` statement: no calls except len/cap.
_PURE_ARGUMENT_NODES = frozenset(
    {
        "int_literal",
        "identifier",
        "selector_expression",
        "field_identifier",
        "package_identifier",
        "binary_expression",
        "unary_expression",
        "parenthesized_expression",
        "index_expression",
        "arguments",
        "call_expression",  # only len/cap, checked separately
        "comment",
    }
)
_PURE_CALLS = frozenset({b"len", b"cap"})
_ASSIGNMENTS = frozenset({"assignment", "short_var_declaration", "inc_dec_statement"})
# Statements before the Add that could leave the goroutine (or skip the Add)
# before it counts itself: moving the Add would then count a goroutine that
# never calls Done.
_EXITS = frozenset({"return_statement", "goto_statement", "labeled_statement"})


@dataclass(frozen=True)
class _Finding:
    go_statement: Node
    goroutine: Node  # the func literal
    add_call: Node
    add_statement: Node | None  # the Add's expression_statement, when it is a top-level statement of the goroutine
    receiver: bytes
    wait_call: Node


class WaitGroupAddInGoroutine(Rule):
    """
    ## What it does
    Finds `wg.Add(n)` run by the goroutine it counts — `go func() {
    wg.Add(1); defer wg.Done(); … }()` — where the function that starts the
    goroutine later calls `wg.Wait()` on the same WaitGroup (directly or in
    another goroutine of its own). The Add must be the goroutine's first use
    of the WaitGroup and a `Done` must follow it: a goroutine that is itself
    counted and adds for the goroutines it starts is correct. `wg.Go(f)`
    (Go 1.25) and a goroutine that adds to and waits on its own WaitGroup
    are not this bug, and neither is a goroutine that signals on a channel
    after its Add while the function receives before it waits (the receive
    may order the Add first). go vet (`waitgroup`) and staticcheck (SA2000)
    report it without a fix.

    ## Why is this bad
    Nothing orders the goroutine's `Add` before the `Wait`: if `Wait` runs
    first it sees a zero counter and returns at once, and the function goes
    on while the work it meant to wait for has not even started. Results
    are lost, shared state races, and goroutines that report back later
    block on channels nobody reads any more.

    ## Example
    ```go
    for _, url := range urls {
        go func() {
            wg.Add(1)
            defer wg.Done()
            fetch(url)
        }()
    }
    wg.Wait()
    ```

    ## Fix
    Count the goroutine before it starts: the Add moves, with its argument
    text unchanged, to just before the `go` statement.
    ```go
    for _, url := range urls {
        wg.Add(1)
        go func() {
            defer wg.Done()
            fetch(url)
        }()
    }
    wg.Wait()
    ```
    Report only when the argument uses the goroutine's own variables or
    parameters, calls anything but `len`/`cap`, or may be changed by the
    statements before it; when a statement before the Add could leave the
    goroutine (`return`, `goto`, labels); when the Add is nested in a
    condition or loop of the goroutine; or when it shares its line with
    other code.

    ## Fix safety
    Safe: the goroutine is counted from the moment it exists, which is what
    the Add/Done pair inside it claimed; the argument is evaluated from the
    same variables, only earlier, and nothing before the Add in the
    goroutine can change it or skip the matching Done.
    """

    name = "waitgroup-add-in-goroutine"
    summary = "wg.Add inside the goroutine it counts races wg.Wait: move the Add before the go statement"
    fix_availability = "sometimes"
    triggers = (b"Add",)

    def applies_to(self, source) -> bool:
        # A goroutine that adds, and a Wait: all three words must be there.
        return super().applies_to(source) and b"go" in source.data and b"Wait" in source.data

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        scopes_of: dict[tuple[int, int], FunctionScopes] = {}
        for go_statement in nodes_of_types(source, ("go_statement",)):
            goroutine = called_function_literal(go_statement)
            if goroutine is None or b"Add" not in source.text(goroutine):
                continue
            function = enclosing_function(go_statement)
            if function is None:
                continue
            outermost = _outermost_function(go_statement)
            key = (outermost.start_byte, outermost.end_byte)
            if key not in scopes_of:
                scopes_of[key] = source.scopes(outermost)
            finding = _find(source, scopes_of[key], function, go_statement, goroutine)
            if finding is not None:
                yield self._report(source, scopes_of[key], finding)

    def _report(self, source: SourceFile, scopes: FunctionScopes, finding: _Finding) -> Diagnostic:
        wg = finding.receiver.decode()
        wait_line = source.line_col(finding.wait_call.start_byte)[0]
        message = (
            f"{wg}.Add inside the goroutine it counts: {wg}.Wait() (line {wait_line}) may run first, see a zero counter"
            " and return before the goroutine starts; call Add before the go statement"
        )
        fix, reason = _build_fix(source, scopes, finding)
        if fix is None:
            message += f" (no fix: {reason})"
        return self.diagnostic(finding.add_call, message, fix)


RULE = WaitGroupAddInGoroutine()


def _outermost_function(node: Node) -> Node:
    outermost = None
    for parent in ancestors(node):
        if parent.type in FUNCTION_KINDS:
            outermost = parent
    return outermost


def _wg_call(source: SourceFile, node: Node, methods: tuple[bytes, ...]) -> tuple[bytes, Node] | None:
    """For `W.M(…)` with M in ``methods``: (W as spelled without spaces, W)."""
    if node.type != "call_expression":
        return None
    function = unparen(node.child_by_field_name("function"))
    if function.type != "selector_expression" or source.text(function.child_by_field_name("field")) not in methods:
        return None
    operand = function.child_by_field_name("operand")
    return b"".join(source.text(operand).split()), operand






def _find(source: SourceFile, scopes: FunctionScopes, function: Node, go_statement: Node, goroutine: Node) -> _Finding | None:
    body = goroutine.child_by_field_name("body")
    if body is None:
        return None
    # The goroutine's own uses of WaitGroups, in order (nested literals run elsewhere).
    uses = []
    for node in walk_no_funcs(body):
        found = _wg_call(source, node, (b"Add", b"Done", b"Wait", b"Go"))
        if found is not None:
            method = source.text(unparen(node.child_by_field_name("function")).child_by_field_name("field"))
            uses.append((node, method, *found))
    top_level = statements(body)
    for call, method, receiver, operand in uses:
        if method != b"Add":
            continue
        same = [u for u in uses if u[2] == receiver and same_variable(scopes, u[3], operand)]
        if not same or same[0][0] is not call:
            # (empty: a receiver computed by a call, or with no variable at its root)
            continue  # not the goroutine's first use: it is already counted, or adds for others
        if not any(u[1] == b"Done" and u[0].start_byte > call.end_byte for u in same):
            continue  # no Done after it: the Add does not count this goroutine
        if any(u[1] in (b"Wait", b"Go") for u in same):
            continue  # the goroutine runs its own protocol on this WaitGroup
        arguments = call.child_by_field_name("arguments")
        if arguments is None or arguments.named_child_count != 1:
            continue
        argument_text = source.text(arguments.named_children[0]).strip()
        if argument_text == b"0" or argument_text.startswith(b"-"):
            continue
        if _declared_inside(scopes, operand, goroutine):
            continue  # the goroutine's own WaitGroup
        wait = _later_wait(source, scopes, function, go_statement, goroutine, receiver, operand)
        if wait is None:
            continue
        if _handshake_before_wait(source, body, call, function, go_statement, goroutine, wait):
            continue
        holder = call.parent
        add_statement = holder if holder is not None and holder.type == "expression_statement" and any(_span(s) == _span(holder) for s in top_level) else None
        return _Finding(go_statement, goroutine, call, add_statement, receiver, wait)
    return None


def _declared_inside(scopes: FunctionScopes, operand: Node, container: Node) -> bool:
    root = root_identifier(operand)
    if root is None:
        return True
    declaration = scopes.resolve(root)
    return declaration is not None and is_inside(declaration.ident, container)


def _later_wait(source, scopes, function: Node, go_statement: Node, goroutine: Node, receiver: bytes, operand: Node) -> Node | None:
    """A `W.Wait()` of ``function`` on the same WaitGroup, after the go statement and outside the goroutine."""
    body = function.child_by_field_name("body")
    for node in walk(body):
        if node.start_byte <= go_statement.start_byte or is_inside(node, goroutine):
            continue
        found = _wg_call(source, node, (b"Wait",))
        if found is None or found[0] != receiver or not same_variable(scopes, found[1], operand):
            continue
        # A Wait inside a func literal that is neither called at once nor
        # started as a goroutine may never run: no evidence.
        if all(_literal_runs(f) for f in ancestors(node) if f.type == "function_literal" and is_inside(f, body)):
            return node
    return None


def _handshake_before_wait(source, body: Node, add: Node, function: Node, go_statement: Node, goroutine: Node, wait: Node) -> bool:
    """The goroutine signals on a channel after its Add, and the function receives before it waits.

    Then the Add may well happen before the Wait (the runtime's race tests do
    this on purpose: `wg.Add(1); waiting <- true` … `<-waiting` … `wg.Wait()`);
    which receive pairs with which send is beyond a syntactic check, so no
    report.
    """
    signals = any(
        add.end_byte <= node.start_byte
        and (node.type == "send_statement" or (node.type == "call_expression" and source.text(node.child_by_field_name("function")) == b"close"))
        for node in walk_no_funcs(body)
    )
    if not signals:
        return False
    for node in walk(function.child_by_field_name("body")):
        if go_statement.end_byte <= node.start_byte < wait.start_byte and not is_inside(node, goroutine):
            if node.type == "unary_expression" and source.text(node).startswith(b"<-"):
                return True
            if node.type == "range_clause":
                return True
    return False


def _literal_runs(literal: Node) -> bool:
    call = literal.parent
    while call is not None and call.type == "parenthesized_expression":
        call = call.parent
    if call is None or call.type != "call_expression":
        return False
    return call.parent is not None and call.parent.type in ("go_statement", "expression_statement", "defer_statement")


# -- fixing ---------------------------------------------------------------------


def _build_fix(source: SourceFile, scopes: FunctionScopes, finding: _Finding) -> tuple[Fix | None, str]:
    add = finding.add_statement
    if add is None:
        return None, "the Add is not a plain statement of the goroutine's body"
    argument = finding.add_call.child_by_field_name("arguments").named_children[0]
    for node in walk(argument):
        if not node.is_named:
            continue  # punctuation and operators
        if node.type not in _PURE_ARGUMENT_NODES:
            return None, "the Add argument is more than variables, constants and len/cap"
        if node.type == "call_expression" and source.text(unparen(node.child_by_field_name("function"))) not in _PURE_CALLS:
            return None, "the Add argument calls a function"
    argument_names = {source.text(i) for i in identifiers(argument)}
    for ident in list(identifiers(argument)) + [i for i in identifiers(unparen(finding.add_call.child_by_field_name("function")))]:
        declaration = scopes.resolve(ident)
        if declaration is not None and is_inside(declaration.ident, finding.goroutine):
            return None, f"the Add uses {source.text(ident).decode()}, which the goroutine declares"
    body = finding.goroutine.child_by_field_name("body")
    for earlier in statements(body):
        if earlier.start_byte >= add.start_byte:
            break
        for node in walk(earlier):
            if node.type in _EXITS or (node.type == "call_expression" and source.text(unparen(node.child_by_field_name("function"))) in (b"panic", b"runtime.Goexit")):
                return None, "a statement before the Add can leave the goroutine"
            if node.type == "call_expression" and argument_names - _PURE_CALLS:
                return None, "a call before the Add could change its argument"
            if node.type in _ASSIGNMENTS:
                left = node.named_children[0] if node.type in ("inc_dec_statement",) else node.child_by_field_name("left")
                if left is not None and {source.text(i) for i in identifiers(left)} & argument_names:
                    return None, "a statement before the Add changes its argument"
    if not starts_line(source, add) or not ends_line(source, add):
        return None, "the Add shares its line with other code"
    if not starts_line(source, finding.go_statement):
        return None, "the go statement shares its line with other code"
    # The Add line moves whole, trailing comment included.
    line_start = source.line_start(add.start_byte)
    line_end = source.line_end(add.end_byte)
    moved = source.data[add.start_byte : line_end].rstrip(b"\r").rstrip(b" \t")
    insertion = insert_before(source, finding.go_statement, [moved])
    if insertion is None:
        return None, "the go statement shares its line with other code"
    delete = Edit.delete(line_start, min(line_end + 1, len(source.data)))
    title = f"Move {source.text(finding.add_call).decode()} before the go statement"
    return Fix(title, (insertion, delete)), ""


def _span(node: Node) -> tuple[int, int]:
    return (node.start_byte, node.end_byte)
