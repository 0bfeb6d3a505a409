"""goroutine-no-cancel: a goroutine waits on a channel its function serves only
after an early return may have left."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis.goroutines import BlockingOperation, Kind, channel_predicate, classify
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.scope import Declaration, FunctionScopes
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import FUNCTION_KINDS, ancestors, called_function_literal, is_inside, unparen, walk_no_funcs
from gofix_defer.codemods.edits.cancel_rewrite import build_cancel_fix, cancel_names, releases_a_lock
from gofix_defer.codemods.model import Applicability, Diagnostic, Rule
from gofix_defer.rules.deferred_close import deferrable_closes

# Operations that make a goroutine a background job (a ticker, a poller, a
# worker waiting on something out of sight) rather than a helper waiting for
# this function: no evidence that it should end when the function returns.
_NOT_A_HELPER = frozenset({Kind.SLEEP, Kind.TIMER, Kind.ENDLESS_LOOP, Kind.WAIT})


@dataclass
class _Serving:
    """How the function itself serves the channel, outside the goroutine."""

    operations: list[Node]  # the send statements and close(ch) calls, in document order
    closes: bool  # one of them is close(ch)


class GoroutineNoCancel(Rule):
    """
    ## What it does
    Finds a goroutine (`go func() { … }()`, started directly in a function
    body, not in a loop) that waits to receive from a channel the function
    made, where the function serves that channel itself — sends to it or
    closes it — but a `return` between the `go` statement and the first
    serving operation (an error branch) leaves without serving it.

    Left alone, for lack of evidence: a goroutine that already waits on a
    `Done()` channel or holds any `select`, one that sleeps, waits on a
    timer, loops for ever or calls `Wait()` (a background job may be meant
    to live as long as the program), one that sends on the channel (that is
    unbuffered-result-channel's case), channels that escape (passed to a
    call, assigned, returned, used in another func literal, received by the
    function itself), channels closed by `defer`, a `for range` consumer of
    a channel nothing closes (unclosed-channel's case), channels whose
    close deferred-close can move into a `defer` (its fix is simpler and
    keeps the goroutine's code as it is), and functions with `goto`. The
    early return must be in the block that starts the goroutine (or nested
    in it), so it runs after the `go` statement, and not in a loop that
    also serves the channel.

    ## Why is this bad
    The goroutine was started to consume what the function sends, but the
    error path returns first: nobody will ever send or close, so the
    goroutine blocks for ever, with everything it references — one leaked
    goroutine per failed call.

    ## Example
    ```go
    func lookup(table map[string]int, key string) (int, error) {
        keys := make(chan string)
        found := make(chan int, 1)
        go func() {
            k := <-keys
            found <- table[k]
        }()
        if table == nil {
            return 0, errors.New("no table") // the helper waits on keys for ever
        }
        keys <- key
        return <-found, nil
    }
    ```

    ## Fix
    Give the goroutine a context that ends when the function returns, and
    make each wait on the channel also wait on it:
    ```go
        keys := make(chan string)
        found := make(chan int, 1)
        ctx, cancel := context.WithCancel(context.Background())
        defer cancel()
        go func() {
            select {
            case k := <-keys:
                found <- table[k]
            case <-ctx.Done():
                return
            }
        }()
    ```
    A `for v := range ch` becomes `for { select { case v, ok := <-ch: if
    !ok {…} … case <-ctx.Done(): return } }`, as in
    deferred-goroutine-no-cancel (the rewriting is shared).
    The parent is the function's own `context.Context` parameter when it
    has one, else `context.Background()`; `ctx`/`cancel` get fresh names
    when taken, and the `context` import is added when missing. Only the
    operations on the channel are rewritten. No fix (report only) for a
    buffered channel (cancelling could drop items still queued), or when an
    operation is buried in an expression or laid out so no `select` fits.

    ## Fix safety
    Unsafe: once the function has returned, the goroutine stops at its next
    wait on the channel even on the normal path — when the channel is closed
    and the context cancelled at once, Go picks either case, so code after
    the goroutine's loop may be skipped. Opt in with `--unsafe-fixes`.
    """

    name = "goroutine-no-cancel"
    summary = "Goroutine waits on a channel the function serves only after an early return may have left"
    fix_availability = "sometimes"
    applicability = Applicability.UNSAFE
    triggers = (b"make(chan",)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        taken = cancel_names(source, self.name)
        for function in nodes_of_types(source, FUNCTION_KINDS):
            body = function.child_by_field_name("body")
            # Cheap byte tests first: most functions start no goroutine and make no channel.
            if body is None or b"make(chan" not in source.data[body.start_byte : body.end_byte] or b"go " not in source.data[body.start_byte : body.end_byte]:
                continue
            nodes = list(walk_no_funcs(body))
            go_statements = [n for n in nodes if n.type == "go_statement" and called_function_literal(n) is not None]
            if not go_statements or not any(n.type == "return_statement" for n in nodes):
                continue
            if any(n.type == "goto_statement" for n in nodes):
                continue  # jumps defeat the textual path reasoning below
            returns = [n for n in nodes if n.type == "return_statement"]
            scopes = source.scopes(function)
            is_channel = channel_predicate(source, scopes)
            for go_statement in go_statements:
                yield from self._check_go(source, function, scopes, is_channel, go_statement, returns, taken)

    def _check_go(self, source, function: Node, scopes: FunctionScopes, is_channel, go_statement: Node, returns: list[Node], taken) -> Iterator[Diagnostic]:
        if _inside_loop(go_statement, function):
            return  # one goroutine per turn: a context per turn would be deferred in a loop
        literal = called_function_literal(go_statement)
        if releases_a_lock(source, literal):
            return  # cancelling it would skip the unlock
        blocking = classify(source, literal, is_channel)
        if blocking.managed_by is not None or any(op.kind in _NOT_A_HELPER for op in blocking.operations):
            return
        by_channel: dict[tuple[int, int], tuple[Declaration, list[BlockingOperation]]] = {}
        for op in blocking.operations:
            decl = _local_channel(source, scopes, op)
            if decl is not None:
                by_channel.setdefault(decl.key, (decl, []))[1].append(op)
        for decl, ops in by_channel.values():
            if any(op.kind == Kind.SEND for op in ops):
                continue  # a goroutine sending results: unbuffered-result-channel's case
            serving = _serving(source, scopes, decl, function, literal, go_statement)
            if serving is None:
                continue
            if any(op.kind == Kind.RANGE for op in ops) and not serving.closes:
                continue  # never closed on any path: unclosed-channel's case
            early = _early_return(go_statement, serving.operations[0], serving.operations, returns)
            if early is None:
                continue
            if any(proof.declaration.key == decl.key for proof in deferrable_closes(source, function)):
                continue  # deferred-close moves the close into a defer: the simpler fix
            name = decl.name.decode()
            serve_line = source.line_col(serving.operations[0].start_byte)[0]
            return_line = source.line_col(early.start_byte)[0]
            message = (
                f"goroutine {ops[0].describe(source)}, but the return on line {return_line} "
                f"leaves before the function serves {name} (line {serve_line}): the goroutine blocks for ever"
            )
            if _has_capacity(source, decl.value):
                yield self.diagnostic(go_statement, message + " (no fix: the channel is buffered, cancelling could drop queued items)", None)
                return
            fix, reason = build_cancel_fix(source, scopes, go_statement, [(go_statement, ops)], taken, "the go statement")
            if fix is None:
                message += f" (no fix: {reason})"
            yield self.diagnostic(go_statement, message, fix)
            return  # one finding per goroutine: the fix covers one channel


RULE = GoroutineNoCancel()


def _inside_loop(node: Node, function: Node) -> bool:
    for parent in ancestors(node):
        if parent == function:
            return False
        if parent.type == "for_statement":
            return True
    return False


def _local_channel(source: SourceFile, scopes: FunctionScopes, op: BlockingOperation) -> Declaration | None:
    """The declaration of ``op``'s channel when it is ``ch := make(chan T[, n])`` in this function."""
    if op.kind not in (Kind.RECEIVE, Kind.RANGE, Kind.SEND) or op.channel is None:
        return None
    channel = unparen(op.channel)
    if channel.type != "identifier":
        return None
    decl = scopes.resolve(channel)
    if decl is None or decl.kind not in ("short", "var") or decl.value is None:
        return None
    value = unparen(decl.value)
    if value.type != "call_expression" or source.text(value.child_by_field_name("function")) != b"make":
        return None
    arguments = [a for a in value.child_by_field_name("arguments").named_children if a.type != "comment"]
    if not arguments or arguments[0].type != "channel_type" or source.text(arguments[0]).startswith(b"<-"):
        return None
    return decl


def _has_capacity(source: SourceFile, make_call: Node) -> bool:
    arguments = [a for a in unparen(make_call).child_by_field_name("arguments").named_children if a.type != "comment"]
    return len(arguments) == 2 and source.text(arguments[1]) != b"0"


def _serving(source: SourceFile, scopes: FunctionScopes, decl: Declaration, function: Node, literal: Node, go_statement: Node) -> _Serving | None:
    """The function's own sends to / closes of the channel, after the ``go`` statement.

    None when the channel may be served by anything the tool cannot follow:
    a use in another func literal (including a deferred one), a `defer
    close(ch)` (every path serves it), a receive by the function (it competes
    with the goroutine), or any escape — passed to a call, assigned, sent,
    returned, stored. len/cap are harmless.
    """
    operations: list[Node] = []
    closes = False
    for use in scopes.references(decl):
        if is_inside(use, literal):
            continue
        if _inside_func_literal(use, function):
            return None
        parent = use.parent
        while parent is not None and parent.type == "parenthesized_expression":
            parent = parent.parent
        if parent is None:
            return None
        if parent.type == "arguments":
            call = parent.parent
            callee = source.text(call.child_by_field_name("function"))
            if callee in (b"len", b"cap"):
                continue
            holder = call.parent
            if callee == b"close" and len(parent.named_children) == 1 and holder is not None and holder.type == "expression_statement":
                if use.start_byte < go_statement.end_byte:
                    return None
                operations.append(holder)
                closes = True
                continue
            return None  # passed to a call (or deferred close): served elsewhere or on every path
        if parent.type == "send_statement" and unparen(parent.child_by_field_name("channel")) == use:
            if use.start_byte < go_statement.end_byte:
                return None
            operations.append(parent)
            continue
        return None
    if not operations:
        return None
    operations.sort(key=lambda n: n.start_byte)
    return _Serving(operations, closes)


def _inside_func_literal(node: Node, function: Node) -> bool:
    for parent in ancestors(node):
        if parent == function:
            return False
        if parent.type == "function_literal":
            return True
    return False


def _early_return(go_statement: Node, first_serve: Node, serving: list[Node], returns: list[Node]) -> Node | None:
    """A `return` that runs after the `go` statement and before any serving operation.

    It must lie in the statement list holding the `go` statement (so
    reaching it means the goroutine was started), textually before the
    first serving operation (so no path to it has served the channel), and
    in no loop that also serves (a later turn could serve before it).
    """
    block = go_statement.parent
    if block is None:
        return None
    for candidate in returns:
        if not (go_statement.end_byte <= candidate.start_byte < first_serve.start_byte and is_inside(candidate, block)):
            continue
        loops = [p for p in ancestors(candidate) if p.type == "for_statement" and is_inside(p, block)]
        if any(is_inside(serve, loop) for loop in loops for serve in serving):
            continue
        return candidate
    return None
