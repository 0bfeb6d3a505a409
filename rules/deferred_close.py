"""deferred-close: a channel's consumer waits for a close(ch) that only the
function's last statements reach, so an early return leaves it blocked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.goroutines import Kind, channel_predicate, classify
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.scope import Declaration, FunctionScopes
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import FUNCTION_KINDS, ancestors, called_function_literal, is_inside, statements, unparen, walk_no_funcs
from gofix_defer.codemods.edits.insertion import ends_line, insert_after, starts_line
from gofix_defer.codemods.model import Applicability, Diagnostic, Edit, Fix, Rule

# Return values whose evaluation cannot observe whether the channel is closed yet.
_PURE_VALUES = frozenset({"identifier", "int_literal", "float_literal", "interpreted_string_literal", "raw_string_literal", "rune_literal"})


@dataclass
class DeferrableClose:
    """The proof that ``close(ch)`` can move into a ``defer`` right after ``make``."""

    declaration: Declaration
    make_statement: Node  # `ch := make(chan T)`, a top-level statement of the function body
    close_statement: Node  # the only `close(ch)`, a top-level statement of the function body
    consumers: list[tuple[Node, Node]]  # (go statement, the first receive/range on ch in it)
    early_return: Node  # a return after a consumer starts and before the close
    consumers_only_range: bool  # every consumer ends with its `for … range ch` loop


class DeferredClose(Rule):
    """
    ## What it does
    Finds a channel made in the function (`ch := make(chan T)`) that a
    goroutine started by the function ranges over or receives from, where
    the function's only `close(ch)` sits near the end of its body, so a
    `return` between starting the goroutine and the close (an error branch)
    leaves without closing: the goroutine waits for ever. This is GFix's
    second strategy for channels: perform the missing unblocking operation
    on every path by deferring it.

    Reported only with a proof that the close can move: the `make` and the
    single `close(ch)` are statements of the function's own body (not in a
    branch or loop); after the close only a `return` of plain values
    (names, literals) follows, so the close never moves past a `wg.Wait()`,
    a receive or anything else that waits for the consumer; every send on
    the channel is in the function's own code (no goroutine or callback
    sends, so no send can come after the deferred close); the channel goes
    nowhere else (no call, assignment, return); no `defer` is registered
    after the `make` (it would run before the close and could wait for the
    consumer); the function has no `goto`. Where this proof fails but the
    consumer can be cancelled instead, goroutine-no-cancel reports it.

    ## Why is this bad
    `for v := range ch` ends only when the channel is closed. The error path
    returns without closing, so the consumer blocks for ever — with
    everything it references — once per failed call.

    ## Example
    ```go
    func save(rows []row, w io.Writer) error {
        ch := make(chan row)
        go func() {
            for r := range ch {
                fmt.Fprintln(w, r)
            }
        }()
        for _, r := range rows {
            if !r.valid() {
                return errInvalid // the printer waits for ever
            }
            ch <- r
        }
        close(ch)
        return nil
    }
    ```

    ## Fix
    ```go
        ch := make(chan row)
        defer close(ch)
    ```
    and the explicit `close(ch)` is removed. The normal path closes at the
    same point as before (only the plain return values are evaluated in
    between); the early return now closes too. The close's line goes,
    with any comment at its end.

    ## Fix safety
    Safe when every consumer ends with its `for … range ch` loop: on the
    early-return path it simply stops ranging. Unsafe when a consumer
    receives single values or runs code after its loop: on the early-return
    path it now goes on (with a zero value, or to the code after its loop,
    e.g. committing a partial batch) — that is the point of the fix, but
    you must opt in with `--unsafe-fixes`.
    """

    name = "deferred-close"
    summary = "A channel is closed only at the end of the function, so an early return leaves its consumer blocked"
    fix_availability = "always"
    applicability = Applicability.SAFE
    triggers = (b"close(",)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        for function in nodes_of_types(source, FUNCTION_KINDS):
            body = function.child_by_field_name("body")
            # Cheap byte test first: most functions close nothing.
            if body is None or b"close(" not in source.data[body.start_byte : body.end_byte]:
                continue
            for proof in deferrable_closes(source, function):
                yield from self._report(source, proof)

    def _report(self, source: SourceFile, proof: DeferrableClose) -> Iterator[Diagnostic]:
        name = source.text(proof.declaration.ident)
        go_statement, wait = proof.consumers[0]
        how = "ranges over" if wait.type == "for_statement" else "receives from"
        message = (
            f"close({name.decode()}) is reached only at the end: the return on line {source.line_col(proof.early_return.start_byte)[0]} "
            f"leaves the goroutine that {how} {name.decode()} (line {source.line_col(wait.start_byte)[0]}) blocked for ever; "
            f"defer close({name.decode()}) after making it"
        )
        data = source.data
        start = source.line_start(proof.close_statement.start_byte)
        end = source.line_end(proof.close_statement.end_byte)
        if end < len(data) and data[end : end + 1] == b"\n":
            end += 1
        deferred = insert_after(source, proof.make_statement, [b"defer close(" + name + b")"])
        applicability = Applicability.SAFE if proof.consumers_only_range else Applicability.UNSAFE
        fix = Fix(f"Defer close({name.decode()}) right after making it", (deferred, Edit.delete(start, end)), applicability)
        yield self.diagnostic(proof.close_statement, message, fix)


RULE = DeferredClose()


def deferrable_closes(source: SourceFile, function: Node) -> list[DeferrableClose]:
    """Every channel of ``function`` whose close can be deferred, with the proof."""
    body = function.child_by_field_name("body")
    top_level = statements(body)
    closes = [s for s in top_level if _closed_channel(source, s) is not None]
    if not closes:
        return []
    own_nodes = list(walk_no_funcs(body))
    if any(n.type == "goto_statement" for n in own_nodes):
        return []
    returns = [n for n in own_nodes if n.type == "return_statement"]
    defers = [n for n in own_nodes if n.type == "defer_statement"]
    scopes = source.scopes(function)
    is_channel = channel_predicate(source, scopes)
    found = []
    for close_statement in closes:
        proof = _prove(source, scopes, is_channel, function, top_level, close_statement, returns, defers)
        if proof is not None:
            found.append(proof)
    return found


def _closed_channel(source: SourceFile, statement: Node) -> Node | None:
    """``ch`` for a statement that is exactly ``close(ch)``."""
    if statement.type != "expression_statement":
        return None
    call = unparen(statement.named_children[0]) if statement.named_children else None
    if call is None or call.type != "call_expression" or source.text(call.child_by_field_name("function")) != b"close":
        return None
    arguments = [a for a in call.child_by_field_name("arguments").named_children if a.type != "comment"]
    if len(arguments) != 1 or unparen(arguments[0]).type != "identifier":
        return None
    return unparen(arguments[0])


def _prove(source, scopes: FunctionScopes, is_channel, function: Node, top_level: list[Node], close_statement: Node, returns, defers) -> DeferrableClose | None:
    channel = _closed_channel(source, close_statement)
    decl = scopes.resolve(channel)
    if decl is None or decl.kind not in ("short", "var") or decl.value is None:
        return None
    make_statement = decl.statement
    if make_statement.type != "short_var_declaration":
        make_statement = None  # `var ch = make(…)` is rare; keep the proof to one shape
    if make_statement is None or make_statement not in top_level or not _makes_channel(source, decl.value):
        return None
    if len(_names_declared(make_statement)) != 1:
        return None  # `a, ch := …`: keep the edit to one plain statement
    if not _only_plain_return_after(top_level, close_statement):
        return None
    if any(d.start_byte > make_statement.start_byte for d in defers):
        return None  # it would run before the deferred close and may wait for the consumer
    if not (starts_line(source, close_statement) and ends_line(source, close_statement)):
        return None  # the close shares its line with code: removing it would need a reflow
    if insert_after(source, make_statement, [b"x"]) is None:
        return None

    consumers: dict[int, tuple[Node, Node]] = {}
    consumers_only_range = True
    for use in scopes.references(decl):
        if use == channel:
            continue
        literal = _enclosing_literal(use, function)
        if literal is None:
            if not _own_use(source, use, close_statement):
                return None
            continue
        go_statement = literal.parent.parent if literal.parent is not None and literal.parent.type == "call_expression" else None
        if go_statement is None or go_statement.type != "go_statement" or called_function_literal(go_statement) != literal:
            return None  # a callback or deferred literal: it may send or close at any time
        if _enclosing_literal(go_statement, function) is not None or go_statement.start_byte > close_statement.start_byte:
            return None
        if go_statement.start_byte not in consumers:
            wait, only_range = _consumer(source, is_channel, literal, decl, scopes)
            if wait is None:
                return None  # the goroutine sends, closes or passes the channel on
            consumers[go_statement.start_byte] = (go_statement, wait)
            consumers_only_range = consumers_only_range and only_range
    if not consumers:
        return None
    ordered = sorted(consumers.values(), key=lambda pair: pair[0].start_byte)
    early = _early_return(ordered[0][0], close_statement, returns)
    if early is None:
        return None
    return DeferrableClose(decl, make_statement, close_statement, ordered, early, consumers_only_range)


def _makes_channel(source: SourceFile, value: Node) -> bool:
    value = unparen(value)
    if value.type != "call_expression" or source.text(value.child_by_field_name("function")) != b"make":
        return False
    arguments = [a for a in value.child_by_field_name("arguments").named_children if a.type != "comment"]
    return bool(arguments) and arguments[0].type == "channel_type" and not source.text(arguments[0]).startswith(b"<-")


def _names_declared(statement: Node) -> list[Node]:
    if statement.type == "short_var_declaration":
        left = statement.child_by_field_name("left")
        return [c for c in left.named_children] if left is not None else []
    return []


def _only_plain_return_after(top_level: list[Node], close_statement: Node) -> bool:
    """After the close: nothing, or one `return` of names and literals."""
    after = [s for s in top_level if s.start_byte > close_statement.start_byte and s.type != "comment"]
    if not after:
        return True
    if len(after) != 1 or after[0].type != "return_statement":
        return False
    values = after[0].named_children[0] if after[0].named_children else None
    items = values.named_children if values is not None and values.type == "expression_list" else ([values] if values is not None else [])
    return all(unparen(item).type in _PURE_VALUES for item in items)


def _enclosing_literal(node: Node, function: Node) -> Node | None:
    """The outermost func literal between ``node`` and ``function``."""
    outermost = None
    for parent in ancestors(node):
        if parent == function:
            return outermost
        if parent.type == "function_literal":
            outermost = parent
    return outermost


def _own_use(source: SourceFile, use: Node, close_statement: Node) -> bool:
    """A use in the function's own code that cannot outlive it: a send before the close, len/cap."""
    parent = use.parent
    while parent is not None and parent.type == "parenthesized_expression":
        parent = parent.parent
    if parent is None:
        return False
    if parent.type == "send_statement" and unparen(parent.child_by_field_name("channel")) == use:
        return parent.end_byte <= close_statement.start_byte
    if parent.type == "arguments":
        return source.text(parent.parent.child_by_field_name("function")) in (b"len", b"cap")
    return False


def _consumer(source: SourceFile, is_channel, literal: Node, decl: Declaration, scopes: FunctionScopes) -> tuple[Node | None, bool]:
    """(first receive/range on the channel, whether the goroutine ends with its only range over it).

    (None, _) when the goroutine does anything else with the channel (sends,
    closes, passes it on) or uses it in a nested func literal.
    """
    operations = {
        (op.channel.start_byte, op.channel.end_byte): op
        for op in classify(source, literal, is_channel).operations
        if op.kind in (Kind.RECEIVE, Kind.RANGE) and op.channel is not None
    }
    first = None
    ranges = []
    receives = False
    for use in scopes.references(decl, within=literal):
        if _enclosing_literal(use, literal) is not None:
            return None, False
        op = operations.get((use.start_byte, use.end_byte))
        if op is None:
            return None, False
        first = first or op.node
        if op.kind == Kind.RANGE:
            ranges.append(op.node)
        else:
            receives = True
    if first is None:
        return None, False
    own = [s for s in statements(literal.child_by_field_name("body")) if s.type != "comment"]
    last = own[-1] if own else None
    if last is not None and last.type == "labeled_statement":
        last = next((c for c in last.named_children if c.type != "label"), last)
    return first, not receives and len(ranges) == 1 and last == ranges[0]


def _early_return(first_consumer: Node, close_statement: Node, returns: list[Node]) -> Node | None:
    """A `return` that can run after the first consumer starts and before the close."""
    for candidate in returns:
        if candidate.start_byte < close_statement.start_byte and runs_after(first_consumer, candidate):
            return candidate
    return None


def runs_after(statement: Node, later: Node) -> bool:
    """Can ``later`` run after ``statement`` without jumping back (a loop's next turn)?

    True when ``later`` lies in a statement that follows ``statement``, or
    follows one of its enclosing statements, in the same statement list —
    never in a sibling branch (an `else`, another `case`).
    """
    node = statement
    while node.parent is not None and node.type not in FUNCTION_KINDS:
        parent = node.parent
        if syntax.holds_statements(parent):
            sibling = node.next_named_sibling
            while sibling is not None:
                if is_inside(later, sibling):
                    return True
                sibling = sibling.next_named_sibling
        node = parent
    return False
