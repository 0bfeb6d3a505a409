"""deferred-goroutine-no-cancel: a deferred function starts a goroutine nothing can stop."""

from __future__ import annotations

from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.callers import CallSites
from gofix_defer.codemods.analysis.channels import Channels, ChannelUse, UseKind, declared_channel, make_channel
from gofix_defer.codemods.analysis.control import code_may_follow
from gofix_defer.codemods.analysis.goroutines import BlockingOperation, Goroutines, Kind, waits_for
from gofix_defer.codemods.analysis.index import PackageIndex
from gofix_defer.codemods.analysis.lexical import starts_literal_from_deferred_literal
from gofix_defer.codemods.analysis.nodeindex import descendants_of_types, outermost_functions
from gofix_defer.codemods.analysis.scope import FunctionScopes, Scopes
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.edits.cancel_rewrite import CancelNames, ChosenNames, build_cancel_fix, build_stop_select_fix, context_parameter, releases_a_lock
from gofix_defer.codemods.model import Applicability, Diagnostic, Edit, Fix, NoFix, Rule

# A goroutine parked this long after its work (a trailing sleep or timer) is a leak for as long.
LONG_PARK_NANOSECONDS = 60 * 10**9
# Calls whose second result cancels the context they return.
_CANCEL_CONSTRUCTORS = frozenset(
    {
        b"context.WithCancel",
        b"context.WithCancelCause",
        b"context.WithTimeout",
        b"context.WithTimeoutCause",
        b"context.WithDeadline",
        b"context.WithDeadlineCause",
    }
)


class DeferredGoroutineNoCancel(Rule):
    """
    ## What it does
    Finds a deferred function literal (`defer func() { … }()`) that starts a
    goroutine which outlives the function with no way to stop it: the
    goroutine blocks on a channel send or receive, ranges over a channel,
    loops with no exit, or sleeps / waits on a timer before acting.

    Left alone, for lack of evidence: a goroutine that already waits on a
    `Done()` channel or holds any `select` (its lifetime is bound on
    purpose, e.g. `<-ctx.Done(); conn.Close()`), a watchdog that waits on a
    timer and then only cancels a context (`<-time.After(d); cancel()`: it
    always ends, and the cancel after the grace period is its point), a goroutine with no
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
    requires = (Scopes, Goroutines, Channels, CancelNames, PackageIndex, CallSites)

    def applies_to(self, source) -> bool:
        # `defer func() { … go func() { … }() … }()`: both literals are in the bytes.
        return super().applies_to(source) and starts_literal_from_deferred_literal(source)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        # Names chosen by earlier fixes (this rule's and goroutine-no-cancel's), per
        # enclosing function: two fixes in one function must not both declare `ctx`.
        chosen = source.facts(CancelNames).start(self.name)
        for function in outermost_functions(source):
            defers = [n for n in descendants_of_types(source, function, syntax.DEFER_KINDS) if syntax.called_function_literal(n) is not None]
            if not any(_started_by_deferred(source, d) for d in defers):
                continue
            scopes = source.scopes(function)
            for statement in defers:
                yield from self._check_defer(source, function, scopes, statement, chosen)

    def _check_defer(self, source: SourceFile, function: Node, scopes: FunctionScopes, statement: Node, chosen: ChosenNames) -> Iterator[Diagnostic]:
        deferred = syntax.called_function_literal(statement)
        if deferred is None:
            return
        leaking: list[tuple[Node, list[BlockingOperation], list[BlockingOperation]]] = []
        given: list[tuple[Node, Node, list[BlockingOperation]]] = []  # (go, literal, operations on parameter channels)
        for go_statement, literal in _started_by_deferred(source, statement):
            if releases_a_lock(source, literal):
                # Cancelling it would skip the unlock and hold the lock for ever;
                # moving the unlock out is async-unlock's fix.
                continue
            blocking = source.facts(Goroutines).blocking(literal, scopes)
            if blocking.managed_by is not None:
                continue
            evidence = [op for op in blocking.operations if _is_evidence(source, function, scopes, op, deferred, go_statement, literal)]
            if evidence:
                leaking.append((go_statement, evidence, blocking.operations))
                continue
            on_parameters = [op for op in blocking.operations if _parameter_channel(scopes, statement, op) is not None]
            if on_parameters:
                given.append((go_statement, literal, on_parameters))
        if not leaking:
            if given:
                found = self._given_channels(source, scopes, statement, given)
                if found is not None:
                    yield found
            return
        first_go, evidence, _ = leaking[0]
        what = evidence[0].describe(source)
        more = f" (and {len(leaking) - 1} more goroutine{'s' if len(leaking) > 2 else ''})" if len(leaking) > 1 else ""
        message = f"goroutine started by a deferred function outlives the function and cannot be stopped: it {what}{more}"
        fix = build_cancel_fix(source, scopes, statement, [(go, ops) for go, _, ops in leaking], chosen)
        if isinstance(fix, NoFix):
            yield self.diagnostic(first_go, fix.annotate(message), None)
        else:
            yield self.diagnostic(first_go, message, fix)


    def _given_channels(self, source: SourceFile, scopes: FunctionScopes, statement: Node, given: list[tuple[Node, Node, list[BlockingOperation]]]) -> Diagnostic | None:
        """Deferred goroutines blocked on channels the caller passed in: stopped by the
        caller's own context when the function has one; else reported when the package
        shows callers that hand in a channel nobody else serves."""
        first_go, _, ops = given[0]
        what = ops[0].describe(source)
        channel = source.text(ops[0].channel).decode("utf-8", "replace")
        context = context_parameter(source, scopes, statement)
        if context is not None:
            message = (
                f"goroutine started by a deferred function outlives the function and ignores {context.decode()}: "
                f"it {what}, a channel the caller passed, and blocks for ever once the caller stops serving it"
            )
            edits: list[Edit] = []
            for _, literal, operations in given:
                fix = build_stop_select_fix(source, literal, operations, b"<-" + context + b".Done()", [b"return"], f"Stop the goroutine when {context.decode()} is done")
                if isinstance(fix, NoFix):
                    return self.diagnostic(first_go, fix.annotate(message), None)
                edits.extend(fix.edits)
            return self.diagnostic(first_go, message, Fix(f"Stop the goroutine when {context.decode()} is done", tuple(edits), Applicability.UNSAFE))
        proof = _abandoned_by_callers(source, statement, given)
        if proof is None:
            return None
        message = (
            f"goroutine started by a deferred function outlives the function and cannot be stopped: it {what}, "
            f"and every caller in the package ({proof}) hands in a channel it makes and never uses again: nobody serves {channel}"
        )
        return self.diagnostic(first_go, NoFix("the function has no context.Context parameter to stop the goroutine with").annotate(message), None)


RULE = DeferredGoroutineNoCancel()


# -- finding --------------------------------------------------------------------
def _started_by_deferred(source: SourceFile, statement: Node) -> list[tuple[Node, Node]]:
    """The `go func(){…}()` statements the deferred literal of ``statement`` runs itself
    (not those in literals nested in it), with the literal each starts, in document order."""
    deferred = syntax.called_function_literal(statement)
    owner = syntax.enclosing_function(statement)
    if deferred is None or owner is None:
        return []
    return [(g.statement, g.literal) for g in source.facts(Goroutines).started_by(owner) if g.deferred_by == deferred and g.literal is not None]


def _is_evidence(source: SourceFile, function: Node, scopes: FunctionScopes, op: BlockingOperation, deferred: Node, go_statement: Node, literal: Node) -> bool:
    """Does this operation show the goroutine can outlive the function?"""
    if op.kind == Kind.WAIT:
        return False  # the waited-for work is out of sight
    if op.kind == Kind.ENDLESS_LOOP:
        return True
    if op.kind in (Kind.SLEEP, Kind.TIMER):
        if _delayed_cancel(source, scopes, op, literal):
            return False  # a watchdog: it ends after the wait, and its cancel is the point
        # A sleep matters when something runs after it: a later statement, or the next turn
        # of a loop. A long one after the work only parks the goroutine (and all it holds).
        if code_may_follow(op.statement):
            return True
        waited = waits_for(source, op)
        return waited is not None and waited >= LONG_PARK_NANOSECONDS
    if op.channel is None:
        return False
    if op.kind == Kind.RANGE and syntax.is_call(syntax.unparen(op.channel)):
        return True  # `range time.Tick(d)`: a ticker channel is never closed
    return _unserved_local_channel(source, function, scopes, op, deferred, go_statement, literal)


def _delayed_cancel(source: SourceFile, scopes: FunctionScopes, op: BlockingOperation, literal: Node) -> bool:
    """`<-time.After(d)` (or `time.Sleep(d)`) then only `cancel()` calls, at the top of the
    goroutine: a grace period before forcing a context to end. The goroutine always ends
    after the wait, and stopping it early would skip the cancel the wait is for (what the
    context bounds could then run, or wait, for ever)."""
    items = syntax.statements(syntax.function_body(literal))
    if not op.standalone or op.statement not in items:
        return False
    after = items[items.index(op.statement) + 1 :]
    return bool(after) and all(_cancel_call(source, scopes, s) for s in after)


def _cancel_call(source: SourceFile, scopes: FunctionScopes, statement: Node) -> bool:
    """`cancel()` as a statement, `cancel` declared by `ctx, cancel := context.WithCancel(…)`
    (or WithTimeout, WithDeadline, their Cause forms) or as a context.CancelFunc."""
    call = syntax.expression_of(statement)
    call = syntax.unparen(call) if call is not None else None
    if call is None or not syntax.is_call(call) or len(syntax.call_arguments(call)) > 1:
        return False
    function = syntax.callee(call)
    function = syntax.unparen(function) if function is not None else None
    if function is None or not syntax.is_identifier(function):
        return False
    declaration = scopes.resolve(function)
    if declaration is None:
        return False
    if declaration.type_node is not None and source.text(declaration.type_node) in (b"context.CancelFunc", b"context.CancelCauseFunc"):
        return True
    if declaration.kind != "short" or declaration.index != 1:
        return False
    values = syntax.right_side(declaration.statement)
    value = syntax.unparen(values[0]) if len(values) == 1 else None
    return value is not None and syntax.is_call(value) and syntax.call_name(value, source.data) in _CANCEL_CONSTRUCTORS


def _parameter_channel(scopes: FunctionScopes, statement: Node, op: BlockingOperation):
    """The declaration of the parameter channel ``op`` sends on, receives from or ranges
    over, when it is a channel parameter of the function holding the defer ``statement``."""
    if op.kind not in (Kind.SEND, Kind.RECEIVE, Kind.RANGE) or op.channel is None or not syntax.is_identifier(op.channel):
        return None
    declaration = scopes.resolve(op.channel)
    owner = syntax.enclosing_function(statement)
    if declaration is None or declaration.kind != "param" or declaration.type_node is None or owner is None:
        return None
    if not syntax.is_channel_type(syntax.unparen_type(declaration.type_node)):
        return None
    if not syntax.is_inside(declaration.ident, owner):
        return None
    parameters = syntax.parameter_list(owner)
    return declaration if parameters is not None and syntax.is_inside(declaration.ident, parameters) else None


def _abandoned_by_callers(source: SourceFile, statement: Node, given: list[tuple[Node, Node, list[BlockingOperation]]]) -> str | None:
    """The callers (for the message) when the package calls the function and every call
    hands in, for each parameter channel the goroutines block on, a channel the caller
    makes and never uses again; else None (the other side is out of sight)."""
    owner = syntax.enclosing_function(statement)
    if owner is None or not syntax.is_declared_function(owner):
        return None
    info = source.facts(PackageIndex).declaration(source, owner)
    if info is None:
        return None
    scopes = source.scopes(owner)
    indexes = set()
    for _, _, operations in given:
        for op in operations:
            declaration = _parameter_channel(scopes, statement, op)
            index = _parameter_index(owner, declaration.ident) if declaration is not None else None
            if index is None:
                return None
            indexes.add(index)
    sites = source.facts(CallSites).to(info)
    if not sites:
        return None
    for site in sites:
        arguments = syntax.call_arguments(site.call)
        for index in indexes:
            if index >= len(arguments) or not _made_and_dropped(site, arguments[index]):
                return None
    names = []
    for site in sites:
        holder = syntax.outermost_function(site.call) or site.function
        name = syntax.function_name(holder)
        names.append(f"{name.text.decode() if name is not None and name.text else 'a function literal'} (line {site.source.line_col(site.call.start_byte)[0]})")
    return ", ".join(names)


def _made_and_dropped(site, argument: Node) -> bool:
    """The argument is a channel the caller makes (`ch := make(chan T)`) and uses nowhere
    else: nothing but the goroutine will ever touch it."""
    argument = syntax.unparen(argument)
    if not syntax.is_identifier(argument):
        return False
    outermost = syntax.outermost_function(site.call) or site.function
    scopes = site.source.scopes(outermost)
    declaration = scopes.resolve(argument)
    if declaration is None or declaration.kind not in ("short", "var") or make_channel(declaration.value) is None:
        return False
    uses = [r for r in scopes.references(declaration) if not syntax.same_node(r, argument)]
    return not uses


def _parameter_index(function: Node, ident: Node) -> int | None:
    position = 0
    for parameter in syntax.parameters_of(syntax.parameter_list(function)):
        if parameter.variadic:
            return None
        for name in parameter.names or (None,):
            if name is not None and syntax.same_node(name, ident):
                return position
            position += 1
    return None


def _unserved_local_channel(
    source: SourceFile, function: Node, scopes: FunctionScopes, op: BlockingOperation, deferred: Node, go_statement: Node, literal: Node
) -> bool:
    """The channel is made (or declared nil) in this function and nothing can serve it.

    A channel from a parameter, a field or a package variable has another
    side the tool cannot see (a caller reading results, a scheduler taking
    workers back): no evidence. For a local channel every use outside the
    goroutine must be visible and unable to unblock it: a send or receive
    that happens before the goroutine starts, or len/cap. A close, a use
    after the `go` statement, a use in another func literal, or any escape
    (passed to a call, assigned, returned, sent) means it may be served.
    """
    channel = declared_channel(scopes, op.channel)
    if channel is None:
        return False
    if op.kind == Kind.SEND and channel.make is not None and channel.make.buffered:
        return False  # a send into a buffer does not block
    for use in source.facts(Channels).uses(function, channel.declaration).uses:
        if syntax.is_inside(use.reference, literal):
            continue
        if not _harmless_use(function, use, deferred, go_statement):
            return False
    return True


def _harmless_use(function: Node, use: ChannelUse, deferred: Node, go_statement: Node) -> bool:
    """A use of the channel outside the goroutine that cannot unblock it."""
    if _in_another_literal(function, use, deferred):
        return False  # another goroutine or callback may serve it at any time
    if use.kind is UseKind.LEN_CAP:
        return True
    # A send or receive that completes before the goroutine exists cannot serve it.
    return use.kind in (UseKind.SEND, UseKind.RECEIVE) and use.reference.end_byte <= go_statement.start_byte


def _in_another_literal(function: Node, use: ChannelUse, deferred: Node) -> bool:
    """Does a function literal other than ``deferred`` hold the use? Within ``deferred``:
    one nested in it. Outside it: any, the function itself included when it is a literal
    (a package-level `var f = func() {…}`)."""
    literals = [literal.node for literal in use.chain]
    if deferred in literals:
        return literals.index(deferred) < len(literals) - 1
    return bool(literals) or syntax.is_function_literal(function)
