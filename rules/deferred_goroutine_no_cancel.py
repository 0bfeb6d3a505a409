"""deferred-goroutine-no-cancel: a deferred function starts a goroutine nothing can stop."""

from __future__ import annotations

from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis.goroutines import BlockingOperation, Kind, channel_predicate, classify
from gofix_defer.codemods.analysis.nodeindex import descendants_of_types, outermost_functions
from gofix_defer.codemods.analysis.scope import FunctionScopes
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import FUNCTION_KINDS, ancestors, called_function_literal, is_inside, unparen, walk_no_funcs
from gofix_defer.codemods.edits.cancel_rewrite import build_cancel_fix, cancel_names, releases_a_lock
from gofix_defer.codemods.model import Applicability, Diagnostic, Rule


class DeferredGoroutineNoCancel(Rule):
    """
    ## What it does
    Finds a deferred function literal (`defer func() { … }()`) that starts a
    goroutine which outlives the function with no way to stop it: the
    goroutine blocks on a channel send or receive, ranges over a channel,
    loops with no exit, or sleeps / waits on a timer before acting.

    Left alone, for lack of evidence: a goroutine that already waits on a
    `Done()` channel or holds any `select` (its lifetime is bound on
    purpose, e.g. `<-ctx.Done(); conn.Close()`), a goroutine with no
    blocking operation, one that only calls a function whose body the tool
    cannot see (`go s.Run(x)`). Channel operations count as evidence only on
    a channel made (or declared nil) in the function that nothing else can
    serve: a parameter, field or package channel has another side out of
    sight, and a local one that is closed, used after the `go` statement,
    used in another func literal, or handed to a call is served elsewhere.

    ## Why is this bad
    The deferred call runs as the function returns, so the goroutine it
    starts belongs to nobody: no caller can wait for it or cancel it. If it
    blocks on a channel nobody serves, it leaks for the life of the process
    (with everything it references); if it sleeps before acting, it acts
    long after the request or lock it was about has gone.

    ## Example
    ```go
    func (s *Server) handle(req string) {
        s.mu.Lock()
        defer s.mu.Unlock()
        defer func() {
            go func() {
                time.Sleep(time.Second)
                fmt.Println("handled", req)
            }()
        }()
        s.served++
    }
    ```

    ## Fix
    Give the goroutine a context that ends when the function returns, and
    make each blocking operation also wait on it:
    ```go
    func (s *Server) handle(req string) {
        s.mu.Lock()
        defer s.mu.Unlock()
        ctx, cancel := context.WithCancel(context.Background())
        defer cancel()
        defer func() {
            go func() {
                select {
                case <-time.After(time.Second):
                case <-ctx.Done():
                    return
                }
                fmt.Println("handled", req)
            }()
        }()
        s.served++
    }
    ```
    Defers run last-in first-out: the goroutine is started, then told to
    stop. The parent is the function's own `context.Context` parameter when
    it has one, else `context.Background()`. `v := <-ch`, `ch <- v` and
    `<-ch` become `select` cases; `for v := range ch` becomes
    `for { select { case v, ok := <-ch: if !ok {…} … } }`; an endless loop
    checks `ctx.Done()` each turn. The `context` import is added when
    missing; `ctx`/`cancel` get fresh names when taken. No fix (report only)
    when an operation is buried in an expression, the goroutine also calls
    `Wait()`, returns values, or the function uses `goto`.

    ## Fix safety
    Unsafe: it changes when background work stops. A delayed action after a
    sleep no longer happens once the function has returned, and a consumer
    stops consuming — that is the point of the fix, but you must opt in with
    `--unsafe-fixes`.
    """

    name = "deferred-goroutine-no-cancel"
    summary = "Deferred function starts a goroutine that outlives the function and cannot be stopped"
    fix_availability = "sometimes"
    applicability = Applicability.UNSAFE
    triggers = (b"defer",)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        # Names chosen by earlier fixes (this rule's and goroutine-no-cancel's), per
        # enclosing function: two fixes in one function must not both declare `ctx`.
        taken = cancel_names(source, self.name)
        for function in outermost_functions(source):
            defers = [n for n in descendants_of_types(source, function, ("defer_statement",)) if called_function_literal(n) is not None]
            if not any(_go_literals(called_function_literal(d)) for d in defers):
                continue
            scopes = source.scopes(function)
            is_channel = channel_predicate(source, scopes)
            for statement in defers:
                yield from self._check_defer(source, scopes, is_channel, statement, taken)

    def _check_defer(self, source, scopes, is_channel, statement: Node, taken: dict) -> Iterator[Diagnostic]:
        deferred = called_function_literal(statement)
        leaking: list[tuple[Node, list[BlockingOperation], list[BlockingOperation]]] = []
        for go_statement, literal in _go_literals(deferred):
            if releases_a_lock(source, literal):
                # Cancelling it would skip the unlock and hold the lock for ever;
                # moving the unlock out is async-unlock's fix.
                continue
            blocking = classify(source, literal, is_channel)
            if blocking.managed_by is not None:
                continue
            evidence = [op for op in blocking.operations if _is_evidence(source, scopes, op, deferred, go_statement)]
            if evidence:
                leaking.append((go_statement, evidence, blocking.operations))
        if not leaking:
            return
        first_go, evidence, _ = leaking[0]
        what = evidence[0].describe(source)
        more = f" (and {len(leaking) - 1} more goroutine{'s' if len(leaking) > 2 else ''})" if len(leaking) > 1 else ""
        message = f"goroutine started by a deferred function outlives the function and cannot be stopped: it {what}{more}"
        fix, reason = build_cancel_fix(source, scopes, statement, [(go, ops) for go, _, ops in leaking], taken)
        if fix is None:
            message += f" (no fix: {reason})"
        yield self.diagnostic(first_go, message, fix)


RULE = DeferredGoroutineNoCancel()


# -- finding --------------------------------------------------------------------
def _go_literals(deferred: Node) -> list[tuple[Node, Node]]:
    """`go func(){…}()` statements the deferred literal runs itself (not in nested literals)."""
    body = deferred.child_by_field_name("body")
    found = []
    for node in walk_no_funcs(body) if body is not None else ():
        if node.type == "go_statement":
            literal = called_function_literal(node)
            if literal is not None:
                found.append((node, literal))
    return found


def _is_evidence(source: SourceFile, scopes: FunctionScopes, op: BlockingOperation, deferred: Node, go_statement: Node) -> bool:
    """Does this operation show the goroutine can outlive the function?"""
    if op.kind == Kind.WAIT:
        return False  # the waited-for work is out of sight
    if op.kind == Kind.ENDLESS_LOOP:
        return True
    if op.kind in (Kind.SLEEP, Kind.TIMER):
        return _acts_afterwards(op)
    if op.channel is None:
        return False
    if op.kind == Kind.RANGE and unparen(op.channel).type == "call_expression":
        return True  # `range time.Tick(d)`: a ticker channel is never closed
    return _unserved_local_channel(source, scopes, op, deferred, go_statement)


def _unserved_local_channel(source: SourceFile, scopes: FunctionScopes, op: BlockingOperation, deferred: Node, go_statement: Node) -> bool:
    """The channel is made (or declared nil) in this function and nothing can serve it.

    A channel from a parameter, a field or a package variable has another
    side the tool cannot see (a caller reading results, a scheduler taking
    workers back): no evidence. For a local channel every use outside the
    goroutine must be visible and unable to unblock it: a send or receive
    that happens before the goroutine starts, or len/cap. A close, a use
    after the `go` statement, a use in another func literal, or any escape
    (passed to a call, assigned, returned, sent) means it may be served.
    """
    channel = unparen(op.channel)
    if channel.type != "identifier":
        return False
    decl = scopes.resolve(channel)
    if decl is None or decl.kind not in ("short", "var"):
        return False
    if decl.value is not None:
        value = unparen(decl.value)
        if value.type != "call_expression" or source.text(value.child_by_field_name("function")) != b"make":
            return False
        if op.kind == Kind.SEND and _has_capacity(source, value):
            return False  # a send into a buffer does not block
    elif decl.type_node is None or decl.type_node.type != "channel_type":
        return False
    literal = called_function_literal(go_statement)
    for use in scopes.references(decl):
        if is_inside(use, literal):
            continue
        if not _harmless_use(source, use, deferred, go_statement):
            return False
    return True


def _has_capacity(source: SourceFile, make_call: Node) -> bool:
    args = [a for a in make_call.child_by_field_name("arguments").named_children if a.type != "comment"]
    return len(args) == 2 and source.text(args[1]) != b"0"


def _harmless_use(source: SourceFile, use: Node, deferred: Node, go_statement: Node) -> bool:
    """A use of the channel outside the goroutine that cannot unblock it."""
    if _inside_literal_other_than(use, deferred):
        return False  # another goroutine or callback may serve it at any time
    parent = use.parent
    while parent is not None and parent.type == "parenthesized_expression":
        parent = parent.parent
    if parent is None:
        return False
    if parent.type == "arguments":
        call = parent.parent
        return source.text(call.child_by_field_name("function")) in (b"len", b"cap")
    is_channel_op = (parent.type == "send_statement" and parent.child_by_field_name("channel") is not None) or (
        parent.type == "unary_expression" and source.text(parent.child_by_field_name("operator")) == b"<-"
    )
    if parent.type == "send_statement" and unparen(parent.child_by_field_name("channel")) != use:
        return False  # the channel itself is sent somewhere
    # A send or receive that completes before the goroutine exists cannot serve it.
    return is_channel_op and use.end_byte <= go_statement.start_byte


def _inside_literal_other_than(node: Node, deferred: Node) -> bool:
    for parent in ancestors(node):
        if parent == deferred:
            return False
        if parent.type == "function_literal":
            return True
    return False


def _acts_afterwards(op: BlockingOperation) -> bool:
    """A sleep matters when something runs after it: a later statement, or the next turn of a loop."""
    node = op.statement
    while node is not None and node.type not in FUNCTION_KINDS:
        sibling = node.next_named_sibling
        while sibling is not None and sibling.type == "comment":
            sibling = sibling.next_named_sibling
        if sibling is not None or node.type == "for_statement" and node != op.statement:
            return True
        node = node.parent
    return False
