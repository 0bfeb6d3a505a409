"""waitgroup-add-in-goroutine: `wg.Add` inside the goroutine it counts, racing the `wg.Wait` that should wait for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.channels import is_done_receive
from gofix_defer.codemods.analysis.lexical import STARTED_LITERAL
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.scope import FunctionScopes, Scopes, same_variable
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.edits.insertion import ends_line, insert_before, starts_line
from gofix_defer.codemods.model import Diagnostic, Edit, Fix, NoFix, Rule, says

# An Add argument may call these and still be evaluated just as well before the `go` statement.
_PURE_CALLS = frozenset({b"len", b"cap"})
# The WaitGroup methods a goroutine's own protocol is read from (`Go` since Go 1.25).
_METHODS = frozenset({b"Add", b"Done", b"Wait", b"Go"})
_WAIT = frozenset({b"Wait"})


@dataclass(frozen=True)
class _Finding:
    go_statement: Node
    goroutine: Node  # the func literal
    add_call: Node
    add_statement: Node | None  # the Add's expression statement, when it is a top-level statement of the goroutine
    receiver: bytes
    wait_call: Node
    # When the goroutine gets the WaitGroup as a parameter (`go func(w
    # *sync.WaitGroup) { w.Add(1) … }(&wg)`): the WaitGroup outside, `wg`.
    outer: Node | None = None


@dataclass(frozen=True)
class _Use:
    """`W.M(…)`: a call of a WaitGroup method."""

    call: Node
    method: bytes
    receiver: bytes  # W as spelled, without white space
    operand: Node  # W


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
    may order the Add first), nor a worker that adds for the items it finds
    in the item it received, before its Done for that item, when the
    function adds before sending the first item (every queued item is
    counted before it is sent, so the counter cannot reach zero in
    between). go vet (`waitgroup`) and staticcheck (SA2000)
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
    requires = (Scopes,)

    def applies_to(self, source) -> bool:
        # A goroutine of a function literal that adds, and a Wait: all must be there.
        return super().applies_to(source) and says(source, b"Wait") and says(source, STARTED_LITERAL)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        for go_statement in nodes_of_types(source, syntax.GO_KINDS):
            goroutine = syntax.called_function_literal(go_statement)
            if goroutine is None or b"Add" not in source.text(goroutine):
                continue
            function = syntax.enclosing_function(go_statement)
            outermost = syntax.outermost_function(go_statement)
            if function is None or outermost is None:
                continue
            scopes = source.scopes(outermost)
            finding = _find(source, scopes, function, go_statement, goroutine)
            if finding is not None:
                yield self._report(source, scopes, finding)

    def _report(self, source: SourceFile, scopes: FunctionScopes, finding: _Finding) -> Diagnostic:
        wg = finding.receiver.decode()
        wait_line = source.line_col(finding.wait_call.start_byte)[0]
        parts = syntax.selector_call(finding.add_call)
        inner = b"".join(source.text(parts[0]).split()).decode() if parts is not None else wg
        passed = f" ({inner} is {wg}, passed in)" if finding.outer is not None and inner != wg else ""
        message = (
            f"{inner}.Add inside the goroutine it counts{passed}: {wg}.Wait() (line {wait_line}) may run first, see a zero counter"
            " and return before the goroutine starts; call Add before the go statement"
        )
        fix = _build_fix(source, scopes, finding)
        if isinstance(fix, NoFix):
            return self.diagnostic(finding.add_call, fix.annotate(message))
        return self.diagnostic(finding.add_call, message, fix)


RULE = WaitGroupAddInGoroutine()


def _waitgroup_call(source: SourceFile, node: Node, methods: frozenset[bytes]) -> _Use | None:
    """``node`` as a call `W.M(…)` with M in ``methods``."""
    parts = syntax.method_call(node)
    if parts is None:
        return None
    operand, method, call = parts
    name = source.text(method)
    if name not in methods:
        return None
    return _Use(call, name, b"".join(source.text(operand).split()), operand)


def _find(source: SourceFile, scopes: FunctionScopes, function: Node, go_statement: Node, goroutine: Node) -> _Finding | None:
    body = syntax.function_body(goroutine)
    if body is None:
        return None
    # The goroutine's own uses of WaitGroups, in order (nested literals run elsewhere).
    uses = [use for use in (_waitgroup_call(source, node, _METHODS) for node in syntax.walk_no_funcs(body)) if use is not None]
    top_level = syntax.statements(body)
    for add in uses:
        if add.method != b"Add":
            continue
        call = add.call
        same = [u for u in uses if u.receiver == add.receiver and same_variable(scopes, u.operand, add.operand)]
        if not same or same[0].call is not call:
            # (empty: a receiver computed by a call, or with no variable at its root)
            continue  # not the goroutine's first use: it is already counted, or adds for others
        if not any(u.method == b"Done" and u.call.start_byte > call.end_byte for u in same):
            continue  # no Done after it: the Add does not count this goroutine
        if any(u.method in (b"Wait", b"Go") for u in same):
            continue  # the goroutine runs its own protocol on this WaitGroup
        arguments = syntax.call_arguments(call, with_comments=True)
        if len(arguments) != 1:
            continue
        argument_text = source.text(arguments[0]).strip()
        if argument_text == b"0" or argument_text.startswith(b"-"):
            continue
        outer = None
        if _declared_inside(scopes, add.operand, goroutine):
            outer = _passed_in(source, scopes, goroutine, add.operand)
            if outer is None:
                continue  # the goroutine's own WaitGroup
            add = _Use(add.call, add.method, b"".join(source.text(outer).split()), outer)
        wait = _later_wait(source, scopes, function, go_statement, goroutine, add)
        if wait is None:
            continue
        if _handshake_before_wait(source, body, call, function, go_statement, goroutine, wait):
            continue
        if _counts_queued_work(source, scopes, function, goroutine, call, same, add, wait):
            continue
        holder = call.parent
        add_statement = holder if syntax.is_expression_statement(holder) and any(_span(s) == _span(holder) for s in top_level) else None
        return _Finding(go_statement, goroutine, call, add_statement, add.receiver, wait, outer)
    return None


def _passed_in(source: SourceFile, scopes: FunctionScopes, goroutine: Node, operand: Node) -> Node | None:
    """For `go func(w *sync.WaitGroup) { w.Add(1) … }(&wg)` and the operand `w`: `wg`,
    the WaitGroup the goroutine is handed (None for anything else)."""
    operand = syntax.unparen(operand)
    if not syntax.is_identifier(operand):
        return None
    declaration = scopes.resolve(operand)
    if declaration is None or declaration.kind != "param" or declaration.variadic:
        return None
    if not syntax.same_node(syntax.enclosing_function(declaration.ident), goroutine):
        return None
    position = 0
    index = -1
    for parameter in syntax.parameters_of(syntax.parameter_list(goroutine)):
        for name in parameter.names:
            if syntax.same_node(name, declaration.ident):
                index = position
            position += 1
        if not parameter.names:
            position += 1
    call = syntax.called_in_place(goroutine)
    arguments = syntax.call_arguments(call) if call is not None else []
    if index < 0 or index >= len(arguments) or syntax.is_spread_call(call):  # type: ignore[arg-type]
        return None
    argument = syntax.unparen(arguments[index])
    if syntax.is_address_of(argument):
        inner = syntax.unary_operand(argument)
        argument = syntax.unparen(inner) if inner is not None else argument
    root = syntax.root_identifier(argument)
    plain = syntax.is_identifier(argument) or (syntax.is_selector(argument) and root is not None and b"(" not in source.text(argument))
    return argument if plain and not _declared_inside(scopes, argument, goroutine) else None


def _declared_inside(scopes: FunctionScopes, operand: Node, container: Node) -> bool:
    root = syntax.root_identifier(operand)
    if root is None:
        return True
    declaration = scopes.resolve(root)
    return declaration is not None and syntax.is_inside(declaration.ident, container)


def _later_wait(source: SourceFile, scopes: FunctionScopes, function: Node, go_statement: Node, goroutine: Node, add: _Use) -> Node | None:
    """A `W.Wait()` of ``function`` on the same WaitGroup, after the go statement and outside the goroutine."""
    body = syntax.function_body(function)
    if body is None:
        return None
    for node in syntax.walk(body):
        if node.start_byte <= go_statement.start_byte or syntax.is_inside(node, goroutine):
            continue
        found = _waitgroup_call(source, node, _WAIT)
        if found is None or found.receiver != add.receiver or not same_variable(scopes, found.operand, add.operand):
            continue
        # A Wait inside a func literal that is neither called at once nor
        # started as a goroutine may never run: no evidence.
        if all(_literal_runs(f) for f in syntax.ancestors(node) if syntax.is_function_literal(f) and syntax.is_inside(f, body)):
            return node
    return None


def _handshake_before_wait(source: SourceFile, body: Node, add: Node, function: Node, go_statement: Node, goroutine: Node, wait: Node) -> bool:
    """The goroutine signals on a channel after its Add, and the function receives before it waits.

    Then the Add may well happen before the Wait (the runtime's race tests do
    this on purpose: `wg.Add(1); waiting <- true` … `<-waiting` … `wg.Wait()`);
    which receive pairs with which send is beyond a syntactic check, so no
    report.
    """
    signals = any(
        add.end_byte <= node.start_byte and (syntax.is_send(node) or (syntax.is_call(node) and syntax.call_name(node, source.data) == b"close"))
        for node in syntax.walk_no_funcs(body)
    )
    if not signals:
        return False
    function_body = syntax.function_body(function)
    for node in syntax.walk(function_body) if function_body is not None else ():
        if go_statement.end_byte <= node.start_byte < wait.start_byte and not syntax.is_inside(node, goroutine):
            if syntax.is_unary(node) and source.text(node).startswith(b"<-"):
                return True
            if syntax.is_range_clause(node):
                return True
    return False


def _counts_queued_work(
    source: SourceFile, scopes: FunctionScopes, function: Node, goroutine: Node, add_call: Node, same: list[_Use], add: _Use, wait: Node
) -> bool:
    """The Add counts work items, not the goroutine: a worker loop receives an item from
    a channel (`case job := <-in:`, `for job := range in`), adds for the items it finds
    in it, then calls Done for the item; and the function adds before it sends the first
    item into that channel. Every queued item is counted before it is sent, and the one
    being worked on keeps the counter above zero across the worker's Add, so Wait cannot
    see zero in between (rclone's march: `traversing.Add(len(jobs))` … `traversing.Done()`)."""
    loop = next((a for a in syntax.ancestors(add_call) if syntax.is_loop(a) or syntax.same_node(a, goroutine)), None)
    if loop is None or not syntax.is_loop(loop):
        return False
    if not any(u.method == b"Done" and u.call.start_byte > add_call.end_byte and syntax.is_inside(u.call, loop) for u in same):
        return False  # no Done for the item after the Add, in the loop
    channels = _received_before(source, scopes, loop, add_call)
    return bool(channels) and _seeded(source, scopes, function, goroutine, add, wait, channels)


def _received_before(source: SourceFile, scopes: FunctionScopes, loop: Node, add_call: Node) -> set[tuple[int, int]]:
    """The channels (declaration keys) the loop's turn receives from before ``add_call``: the
    channel the loop ranges over, the receive of the select case holding the Add, and the
    receives before it in the loop (`<-X.Done()` aside)."""
    found: set[tuple[int, int]] = set()
    candidates: list[Node] = []
    ranged = syntax.range_operand(loop)
    if ranged is not None:
        candidates.append(ranged)
    for node in syntax.walk_no_funcs(loop):
        if node.start_byte >= add_call.start_byte:
            break
        if syntax.is_receive(node) and not is_done_receive(source, node):
            operand = syntax.unary_operand(node)
            if operand is not None:
                candidates.append(operand)
    for candidate in candidates:
        candidate = syntax.unparen(candidate)
        declaration = scopes.resolve(candidate) if syntax.is_identifier(candidate) else None
        if declaration is not None:
            found.add(declaration.key)
    return found


def _seeded(source: SourceFile, scopes: FunctionScopes, function: Node, goroutine: Node, add: _Use, wait: Node, channels: set[tuple[int, int]]) -> bool:
    """Outside the goroutine and before the Wait, the function adds to the WaitGroup and
    then sends on one of ``channels`` (it counts the first item before queueing it)."""
    body = syntax.function_body(function)
    added = False
    for node in syntax.walk(body) if body is not None else ():
        if node.start_byte >= wait.start_byte:
            break
        if syntax.is_inside(node, goroutine):
            continue
        found = _waitgroup_call(source, node, frozenset({b"Add"}))
        if found is not None and found.receiver == add.receiver and same_variable(scopes, found.operand, add.operand):
            added = True
            continue
        if added and syntax.is_send(node):
            channel = syntax.send_channel(node)
            channel = syntax.unparen(channel) if channel is not None else None
            declaration = scopes.resolve(channel) if channel is not None and syntax.is_identifier(channel) else None
            if declaration is not None and declaration.key in channels:
                return True
    return False


def _literal_runs(literal: Node) -> bool:
    """The literal is called where it stands, as a statement or by a go or defer statement."""
    _, call = syntax.paren_parent(literal)
    if call is None or not syntax.is_call(call):
        return False
    holder = call.parent
    return syntax.is_go(holder) or syntax.is_expression_statement(holder) or syntax.is_defer(holder)


# -- fixing ---------------------------------------------------------------------


def _is_pure_part(node: Node) -> bool:
    """What an Add argument may be built from and still be evaluated just as well before
    the `go` statement: names, int literals, selectors, operators, parentheses, indexing,
    and calls (of len/cap only, checked apart)."""
    return (
        syntax.is_int_literal(node)
        or syntax.is_identifier(node)
        or syntax.is_selector(node)
        or syntax.is_field_identifier(node)
        or syntax.is_package_identifier(node)
        or syntax.is_binary(node)
        or syntax.is_unary(node)
        or syntax.is_parenthesized(node)
        or syntax.is_index(node)
        or syntax.is_arguments(node)
        or syntax.is_call(node)
        or syntax.is_comment(node)
    )


def _called(source: SourceFile, call: Node) -> bytes:
    """The text of what a call calls, parentheses around it dropped."""
    function = syntax.callee(call)
    return source.text(syntax.unparen(function)) if function is not None else b""


def _build_fix(source: SourceFile, scopes: FunctionScopes, finding: _Finding) -> Fix | NoFix:
    add = finding.add_statement
    if add is None:
        return NoFix("the Add is not a plain statement of the goroutine's body")
    argument = syntax.call_arguments(finding.add_call, with_comments=True)[0]
    for node in syntax.walk(argument):
        if not node.is_named:
            continue  # punctuation and operators
        if not _is_pure_part(node):
            return NoFix("the Add argument is more than variables, constants and len/cap")
        if syntax.is_call(node) and _called(source, node) not in _PURE_CALLS:
            return NoFix("the Add argument calls a function")
    argument_names = {source.text(i) for i in syntax.identifiers(argument)}
    add_callee = syntax.callee(finding.add_call)
    # The receiver is checked too, unless it is the parameter the WaitGroup comes in by.
    callee_names = list(syntax.identifiers(syntax.unparen(add_callee))) if add_callee is not None and finding.outer is None else []
    for ident in list(syntax.identifiers(argument)) + callee_names:
        declaration = scopes.resolve(ident)
        if declaration is not None and syntax.is_inside(declaration.ident, finding.goroutine):
            return NoFix(f"the Add uses {source.text(ident).decode()}, which the goroutine declares")
    for earlier in syntax.statements(syntax.function_body(finding.goroutine)):
        if earlier.start_byte >= add.start_byte:
            break
        for node in syntax.walk(earlier):
            if (
                syntax.is_return(node)
                or syntax.is_goto(node)
                or syntax.is_labeled(node)
                or (syntax.is_call(node) and _called(source, node) in (b"panic", b"runtime.Goexit"))
            ):
                return NoFix("a statement before the Add can leave the goroutine")
            if syntax.is_call(node) and argument_names - _PURE_CALLS:
                return NoFix("a call before the Add could change its argument")
            if syntax.is_assignment(node) or syntax.is_short_var_declaration(node) or syntax.is_inc_dec(node):
                left = syntax.left_node(node)
                if left is not None and {source.text(i) for i in syntax.identifiers(left)} & argument_names:
                    return NoFix("a statement before the Add changes its argument")
    if not starts_line(source, add) or not ends_line(source, add):
        return NoFix("the Add shares its line with other code")
    if not starts_line(source, finding.go_statement):
        return NoFix("the go statement shares its line with other code")
    # The Add line moves whole, trailing comment included.
    line_start = source.line_start(add.start_byte)
    line_end = source.line_end(add.end_byte)
    moved = source.data[add.start_byte : line_end].rstrip(b"\r").rstrip(b" \t")
    if finding.outer is not None:
        # `w.Add(1)` in the goroutine is `wg.Add(1)` before the go statement.
        parts = syntax.selector_call(finding.add_call)
        if parts is None:
            return NoFix("the Add is not a plain method call")
        receiver = parts[0]
        moved = source.data[add.start_byte : receiver.start_byte] + source.text(finding.outer) + source.data[receiver.end_byte : line_end]
        moved = moved.rstrip(b"\r").rstrip(b" \t")
    insertion = insert_before(source, finding.go_statement, [moved])
    if insertion is None:
        return NoFix("the go statement shares its line with other code")
    delete = Edit.delete(line_start, min(line_end + 1, len(source.data)))
    title = f"Move {source.text(finding.add_call).decode()} before the go statement"
    return Fix(title, (insertion, delete))


def _span(node: Node) -> tuple[int, int]:
    return (node.start_byte, node.end_byte)
