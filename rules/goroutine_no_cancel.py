"""goroutine-no-cancel: a goroutine waits on a channel its function serves only
after an early return may have left."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.calls import CallSummaries
from gofix_defer.codemods.analysis.channels import Channels, ChannelUse, Direction, LocalChannel, UseKind, declared_channel, is_close_of
from gofix_defer.codemods.analysis.closes import Closes
from gofix_defer.codemods.analysis.control import leaving_jumps, loops_between
from gofix_defer.codemods.analysis.fieldchannels import FieldChannels, stop_cases
from gofix_defer.codemods.analysis.goroutines import BlockingOperation, Goroutine, Goroutines, Kind, blocking_operation
from gofix_defer.codemods.analysis.index import PackageIndex
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types, own_descendants
from gofix_defer.codemods.analysis.scope import Declaration, FunctionScopes, Scopes
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.edits.cancel_rewrite import CancelNames, ChosenNames, build_cancel_fix, build_stop_select_fix, releases_a_lock, zero_values
from gofix_defer.codemods.edits.close_deferral import defer_close_fix
from gofix_defer.codemods.model import Applicability, Diagnostic, Fix, NoFix, Rule, says

# Operations that make a goroutine a background job (a ticker, a poller, a
# worker waiting on something out of sight) rather than a helper waiting for
# this function: no evidence that it should end when the function returns.
_NOT_A_HELPER = frozenset({Kind.SLEEP, Kind.TIMER, Kind.ENDLESS_LOOP, Kind.WAIT})

_BUFFERED = NoFix("the channel is buffered, cancelling could drop queued items")

# Fields of a command value (urfave/cli's Action, cobra's Run and RunE) holding the
# command's handler: in package main, the process ends once the command returns.
_COMMAND_HANDLERS = frozenset({b"Action", b"Run", b"RunE"})


@dataclass
class _Serving:
    """How the function itself serves the channel, outside the goroutine."""

    operations: list[Node]  # the send statements and close(ch) statements, in document order
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
    keeps the goroutine's code as it is), functions with `goto`, and a
    command's handler in package main (`Action: func(…) error {…}` of a
    cli.Command, `Run`/`RunE` of a cobra.Command: once it returns the
    process exits, and the goroutine with it). The
    early return must be in the block that starts the goroutine (or nested
    in it), so it runs after the `go` statement, and not in a loop that
    also serves the channel.

    It also finds the mirror case: a goroutine that keeps sending on an
    unbuffered channel the function made (more than one send, or a send in
    a loop) and closes it when done, consumed by the function's one `for v
    := range ch` loop, which a `return`, a `break` or a `goto` can leave
    before the channel is closed: the goroutine's next send waits for a
    receiver that is gone. Left alone there: a buffered channel (its buffer
    may hold what is left), unless the range leaves only once a context the
    goroutine can see is done (`case <-ctx.Done(): return`) while the
    goroutine sends regardless; a single send (unbuffered-result-channel's
    case), a sender that never closes the channel (unclosed-channel's case),
    and a `break` of an inner loop, `switch` or `select`.

    Across a call, when the range leaves only once the function's context
    is done (`case <-ctx.Done(): return` in the loop) and the goroutine
    hands the channel and that context to one function of the file, which
    keeps sending on the channel without looking at the context (GoKer's
    Cockroach18101). A buffer does not help there: the producer sends until
    it is done, whoever listens. Left alone: a range that can also leave for
    another reason (the producer could not know), a producer handed another
    context, one that already selects on it, does more with the channel than
    send, or is called elsewhere in the package.

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
    For a sender left behind, each of its sends becomes `select { case ch
    <- v: case <-ctx.Done(): return }`; when the range leaves once the
    function's context is done, that `ctx` is that context (no new one: the
    range already stops when it ends), or across a call the producer's own
    context parameter, and the `return` gives zero values for unnamed
    results. A `for v := range ch` becomes
    `for { select { case v, ok := <-ch: if !ok {…} … case <-ctx.Done():
    return } }`, as in
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
    summary = "Goroutine waits on a channel the function serves only after an early return, or stops ranging over, may have left"
    fix_availability = "sometimes"
    applicability = Applicability.UNSAFE
    triggers = (b"make(chan",)
    requires = (Scopes, Goroutines, Channels, Closes, CancelNames, PackageIndex, FieldChannels, CallSummaries)

    def applies_to(self, source) -> bool:
        # The same byte test as each function's below, on the whole file.
        return super().applies_to(source) and says(source, b"go ")

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        chosen = source.facts(CancelNames).start(self.name)
        for function in nodes_of_types(source, syntax.FUNCTION_KINDS):
            body = syntax.function_body(function)
            # Cheap byte tests first: most functions start no goroutine and make no channel.
            if body is None or b"make(chan" not in source.text(body) or b"go " not in source.text(body):
                continue
            if _command_handler(source, function):
                continue  # its return ends the command, and the process with it
            goroutines = [g for g in source.facts(Goroutines).started_by(function) if not g.from_defer and g.literal is not None]
            if not goroutines:
                continue
            returns = own_descendants(source, body, syntax.RETURN_KINDS)  # none: a break may still leave a loop early
            if own_descendants(source, body, syntax.GOTO_KINDS):
                continue  # jumps defeat the textual path reasoning below
            scopes = source.scopes(function)
            for goroutine in goroutines:
                yield from self._check_go(source, function, scopes, goroutine, returns, chosen)

    def _check_go(
        self, source: SourceFile, function: Node, scopes: FunctionScopes, goroutine: Goroutine, returns: list[Node], chosen: ChosenNames
    ) -> Iterator[Diagnostic]:
        if goroutine.in_loop:
            return  # one goroutine per turn: a context per turn would be deferred in a loop
        go_statement, literal = goroutine.statement, goroutine.literal
        if literal is None or releases_a_lock(source, literal):
            return  # cancelling it would skip the unlock
        producer = self._abandoned_producer(source, function, scopes, goroutine)
        if producer is not None:
            yield producer
            return  # one finding per goroutine
        blocking = source.facts(Goroutines).blocking(literal, scopes)
        if blocking.managed_by is not None or any(op.kind in _NOT_A_HELPER for op in blocking.operations):
            return
        by_channel: dict[tuple[int, int], tuple[Declaration, bool, list[BlockingOperation]]] = {}
        for op in blocking.operations:
            if op.kind not in (Kind.RECEIVE, Kind.RANGE, Kind.SEND):
                continue
            channel = declared_channel(scopes, op.channel)
            if channel is None or channel.make is None or channel.make.direction is Direction.RECEIVE:
                continue  # only `ch := make(chan T[, n])` of this function
            by_channel.setdefault(channel.declaration.key, (channel.declaration, channel.make.buffered, []))[2].append(op)
        for decl, buffered, ops in by_channel.values():
            if any(op.kind == Kind.SEND for op in ops):
                found = self._abandoned_sender(source, function, scopes, goroutine, decl, buffered, ops, chosen)
                if found is not None:
                    yield found
                    return  # one finding per goroutine: the fix covers one channel
                continue  # other senders of results: unbuffered-result-channel's case
            serving = _serving(source, function, decl, literal, go_statement)
            if serving is None:
                continue
            if any(op.kind == Kind.RANGE for op in ops) and not serving.closes:
                continue  # never closed on any path: unclosed-channel's case
            early = _early_return(go_statement, serving.operations[0], serving.operations, returns)
            if early is None:
                continue
            if _close_can_be_deferred(source, function, decl):
                continue  # deferred-close moves the close into a defer: the simpler fix
            name = decl.name.decode()
            serve_line = source.line_col(serving.operations[0].start_byte)[0]
            return_line = source.line_col(early.start_byte)[0]
            message = (
                f"goroutine {ops[0].describe(source)}, but the return on line {return_line} "
                f"leaves before the function serves {name} (line {serve_line}): the goroutine blocks for ever"
            )
            if buffered:
                yield self.diagnostic(go_statement, _BUFFERED.annotate(message), None)
                return
            fix = build_cancel_fix(source, scopes, go_statement, [(go_statement, ops)], chosen, "the go statement")
            if isinstance(fix, NoFix):
                yield self.diagnostic(go_statement, fix.annotate(message), None)
            else:
                yield self.diagnostic(go_statement, message, fix)
            return  # one finding per goroutine: the fix covers one channel

    def _abandoned_sender(
        self,
        source: SourceFile,
        function: Node,
        scopes: FunctionScopes,
        goroutine: Goroutine,
        decl: Declaration,
        buffered: bool,
        ops: list[BlockingOperation],
        chosen: ChosenNames,
    ) -> Diagnostic | None:
        """A goroutine that keeps sending on ``decl`` (in a loop, or more than once) and
        closes it, consumed by the function's `for … range` loop, which a return or a
        break can leave before the channel is closed: the next send waits for ever."""
        go_statement, literal = goroutine.statement, goroutine.literal
        if literal is None or any(op.kind != Kind.SEND for op in ops):
            return None
        if len(ops) < 2 and not any(loops_between(op.node, literal) for op in ops):
            return None  # one value: unbuffered-result-channel's case
        if not _closes_in(source, function, decl, literal):
            return None  # never closed: unclosed-channel's case
        loop = _consuming_loop(source, function, decl, literal, go_statement)
        jumps = leaving_jumps(source, loop) if loop is not None else []
        if loop is None or not jumps:
            return None
        leaves = jumps[0]
        name = decl.name.decode()
        how = "return" if syntax.is_return(leaves) else "goto" if syntax.is_goto(leaves) else "break"
        where = (
            f"the {how} on line {source.line_col(leaves.start_byte)[0]} leaves the range over {name} (line "
            f"{source.line_col(loop.start_byte)[0]})"
        )
        if buffered:
            # A buffer may hold what is left, unless the range leaves only when a context
            # the goroutine can see ends while the goroutine goes on sending regardless.
            context = _context_left_on(source, scopes, jumps, loop)
            if context is None or not _same_name_at(scopes, context, [op.node for op in ops]):
                return None
            ctx = source.text(context).decode()
            message = (
                f"goroutine {ops[0].describe(source)} until it closes {name}, but {where} once {ctx} is done: "
                f"its next send blocks for ever once the buffer is full"
            )
            stop = b"<-" + source.text(context) + b".Done()"
            values = zero_values(source, literal)
            if values is None:
                return self.diagnostic(go_statement, NoFix("the goroutine's function returns a value whose zero the source does not spell").annotate(message), None)
            leave = [b"return " + b", ".join(values) if values else b"return"]
            fix = build_stop_select_fix(source, literal, ops, stop, leave, f"Stop the goroutine's sends when {ctx} is done")
            if isinstance(fix, NoFix):
                return self.diagnostic(go_statement, fix.annotate(message), None)
            return self.diagnostic(go_statement, f"{message}; make its sends wait on {stop.decode()} too", fix)
        message = f"goroutine {ops[0].describe(source)} until it closes {name}, but {where} before that: its next send blocks for ever"
        fix = build_cancel_fix(source, scopes, go_statement, [(go_statement, ops)], chosen, "the go statement")
        if isinstance(fix, NoFix):
            return self.diagnostic(go_statement, fix.annotate(message), None)
        return self.diagnostic(go_statement, message, fix)


    def _abandoned_producer(self, source: SourceFile, function: Node, scopes: FunctionScopes, goroutine: Goroutine) -> Diagnostic | None:
        """A goroutine that hands the function's channel, with the function's context, to
        one package function that keeps sending on it, and closes the channel after; the
        function ranges over the channel and leaves the range when that context is done
        (`case <-ctx.Done(): return`). The callee's next send then waits for ever, buffer
        or not, as its sends ignore the context it was given (GoKer's Cockroach18101)."""
        literal = goroutine.literal
        if literal is None:
            return None
        channels = source.facts(Channels)
        for made in channels.made_in(function):
            if made.make.direction is Direction.RECEIVE or made.statement.start_byte > goroutine.statement.start_byte:
                continue
            for use in channels.uses(function, made.declaration).uses:
                if use.kind is UseKind.PASSED and len(use.chain) == 1 and syntax.same_node(use.chain[0].node, literal):
                    found = self._producer_of(source, function, scopes, goroutine, made, use)
                    if found is not None:
                        return found
        return None

    def _producer_of(
        self, source: SourceFile, function: Node, scopes: FunctionScopes, goroutine: Goroutine, made: LocalChannel, handed: ChannelUse
    ) -> Diagnostic | None:
        decl = made.declaration
        literal = goroutine.literal
        assert literal is not None
        inside = [u for u in source.facts(Channels).uses(function, decl).uses if syntax.is_inside(u.reference, literal)]
        if any(u.kind not in (UseKind.PASSED, UseKind.CLOSE, UseKind.LEN_CAP) for u in inside) or sum(u.kind is UseKind.PASSED for u in inside) != 1:
            return None  # the goroutine does more with the channel than hand it on and close it
        if not _closes_in(source, function, decl, literal):
            return None  # never closed: unclosed-channel's case
        loop = _consuming_loop(source, function, decl, literal, go_statement=goroutine.statement)
        jumps = leaving_jumps(source, loop) if loop is not None else []
        if loop is None or not jumps:
            return None
        context = _context_left_on(source, scopes, jumps, loop)
        if context is None:
            return None  # a way out that is not the context ending: the producer cannot tell
        callee = source.facts(FieldChannels).resolver(source, function).callee(handed.node)
        if callee is None or callee.source is not source or source.facts(PackageIndex).mentions(callee.name) != 2:
            return None  # the fix edits the callee: it must be this file's, called only here
        effects = source.facts(CallSummaries).argument_effects(callee, handed.argument_index)
        if effects is None or not effects.sends or effects.receives or effects.ranges or effects.closes or effects.escapes or effects.async_use or effects.in_closure:
            return None
        call_arguments = syntax.call_arguments(handed.node)
        given = [
            i
            for i, a in enumerate(call_arguments)
            if syntax.is_identifier(syntax.unparen(a))
            and source.text(syntax.unparen(a)) == source.text(context)
            and scopes.resolve(syntax.unparen(a)) == scopes.resolve(context)
        ]
        if len(given) != 1:
            return None  # the callee is not handed the context the range stops on
        parameters = syntax.parameter_list(callee.node)
        stop_name = syntax.parameter_name_at(parameters, given[0])
        channel_name = syntax.parameter_name_at(parameters, handed.argument_index)
        if stop_name is None or channel_name is None or b"_" in (source.text(stop_name), source.text(channel_name)):
            return None
        if b"".join(source.text(syntax.parameter_type(callee.node, stop_name) or stop_name).split()) != b"context.Context":
            return None
        sends = _sends_on_parameter(source, callee.node, channel_name, stop_name)
        if not sends:
            return None  # the callee's sends are not all plain send statements on the parameter
        name, producer, ctx = decl.name.decode(), callee.name.decode(), source.text(context).decode()
        how = "return" if syntax.is_return(jumps[0]) else "goto" if syntax.is_goto(jumps[0]) else "break"
        message = (
            f"goroutine hands {name} and {ctx} to {producer}, which keeps sending on it (line "
            f"{source.line_col(sends[0].node.start_byte)[0]}) until the goroutine closes {name}, but the {how} on line "
            f"{source.line_col(jumps[0].start_byte)[0]} leaves the range over {name} (line {source.line_col(loop.start_byte)[0]}) "
            f"once {ctx} is done: {producer}'s next send blocks for ever"
            + ("" if made.make.unbuffered else " once the buffer is full")
        )
        stop = b"<-" + source.text(stop_name) + b".Done()"
        values = zero_values(source, callee.node)
        if values is None:
            return self.diagnostic(goroutine.statement, NoFix(f"{producer} returns a value whose zero the source does not spell").annotate(message), None)
        leave = [b"return " + b", ".join(values) if values else b"return"]
        fix = build_stop_select_fix(source, callee.node, sends, stop, leave, f"Stop {producer}'s sends when {source.text(stop_name).decode()} is done")
        if isinstance(fix, NoFix):
            return self.diagnostic(goroutine.statement, fix.annotate(message), None)
        return self.diagnostic(goroutine.statement, f"{message}; make its sends wait on {stop.decode()} too", fix)


RULE = GoroutineNoCancel()


def _context_left_on(source: SourceFile, scopes: FunctionScopes, jumps: list[Node], loop: Node) -> Node | None:
    """The one context name ``ctx`` every jump out of ``loop`` leaves in a
    `case <-ctx.Done():` of (all of them the same variable), else None."""
    contexts = [_done_case_context(source, jump, loop) for jump in jumps]
    if not contexts or any(c is None for c in contexts):
        return None
    first = contexts[0]
    assert first is not None
    if any(c is not None and (source.text(c) != source.text(first) or scopes.resolve(c) != scopes.resolve(first)) for c in contexts):
        return None
    return first


def _same_name_at(scopes: FunctionScopes, name: Node, sites: list[Node]) -> bool:
    """``name`` would mean, at each of ``sites``, what it means where it is written: no
    other declaration of it is in scope there."""
    meant = scopes.resolve(name)
    for decl in scopes.declarations():
        if decl.name != name.text or decl == meant:
            continue
        if any(syntax.is_inside(site, decl.scope) and decl.visible_from <= site.start_byte for site in sites):
            return False
    return True


def _done_case_context(source: SourceFile, jump: Node, loop: Node) -> Node | None:
    """The identifier ``ctx`` of the `case <-ctx.Done():` whose body holds ``jump``, in
    ``loop``'s body; None when the jump is not in such a case."""
    for ancestor in syntax.ancestors(jump):
        if syntax.same_node(ancestor, loop):
            return None
        select = ancestor.parent
        if not syntax.is_select_case(ancestor) or select is None or not syntax.is_select(select):
            continue
        case = next((c for c in stop_cases(source, select) if syntax.same_node(c.clause, ancestor)), None)
        done = syntax.selector_call(case.channel) if case is not None else None
        if case is None or done is None or source.text(done[1]) != b"Done" or syntax.call_arguments(case.channel):
            return None
        holder = syntax.unparen(done[0])
        return holder if syntax.is_identifier(holder) else None
    return None


def _sends_on_parameter(source: SourceFile, function: Node, channel: Node, stop: Node) -> list[BlockingOperation]:
    """The callee's send statements on its channel parameter, when those (and len/cap)
    are all it does with it, none sits in a select already, and neither parameter is
    declared again or assigned in the callee: else none."""
    scopes = source.scopes(function)
    channel_decl, stop_decl = scopes.resolve(channel), scopes.resolve(stop)
    if channel_decl is None or stop_decl is None:
        return []
    if any(d.name in (channel_decl.name, stop_decl.name) and d not in (channel_decl, stop_decl) for d in scopes.declarations()):
        return []  # declared again somewhere: `<-ctx.Done()` at a send might name another value
    if any(_assigned(reference) for reference in scopes.references(stop_decl) + scopes.references(channel_decl)):
        return []
    sends = []
    for use in source.facts(Channels).uses(function, channel_decl).uses:
        if use.kind is UseKind.LEN_CAP:
            continue
        if use.kind is not UseKind.SEND or use.select_case is not None or not use.in_function_body:
            return []
        operation = blocking_operation(source, use.node)
        if operation is None or not operation.standalone:
            return []
        sends.append(operation)
    return sorted(sends, key=lambda op: op.node.start_byte)


def _assigned(reference: Node) -> bool:
    """Is ``reference`` on the left of an assignment (`ctx = …`, `a, ctx = …`)?"""
    parent = reference.parent
    while parent is not None and syntax.is_expression_list(parent):
        parent = parent.parent
    return parent is not None and syntax.is_assignment(parent) and any(syntax.is_inside(reference, n) for n in syntax.left_side(parent))


def _command_handler(source: SourceFile, function: Node) -> bool:
    """A function literal in package main given as a command's handler (`Action: func(…)
    error {…}` in a cli.Command, `RunE:` in a cobra.Command): when it returns, the command
    is over and main exits, so a goroutine it leaves waiting dies with the process."""
    if not syntax.is_function_literal(function) or syntax.package_name(source.root) != b"main":
        return False
    holder = function.parent
    for _ in range(4):  # literal element, keyed element, literal value, composite literal
        if holder is None or syntax.is_composite_literal(holder):
            break
        holder = holder.parent
    if holder is None or not syntax.is_composite_literal(holder):
        return False
    for key, item in syntax.composite_elements(holder):
        if key is not None and syntax.is_inside(function, item) and syntax.same_node(syntax.unparen(_sole(item)), function):
            return source.text(key).strip() in _COMMAND_HANDLERS
    return False


def _sole(item: Node) -> Node:
    """The element's expression (through a wrapper holding only it)."""
    while item.named_child_count == 1 and not syntax.is_function_literal(item):
        item = item.named_children[0]
    return item


def _serving(source: SourceFile, function: Node, decl: Declaration, literal: Node, go_statement: Node) -> _Serving | None:
    """The function's own sends to / closes of the channel, after the ``go`` statement.

    None when the channel may be served by anything the tool cannot follow:
    a use in another func literal (including a deferred one), a `defer
    close(ch)` (every path serves it), a receive by the function (it competes
    with the goroutine), or any escape — passed to a call, assigned, sent,
    returned, stored. len/cap are harmless.
    """
    operations: list[Node] = []
    closes = False
    for use in source.facts(Channels).uses(function, decl).uses:
        if syntax.is_inside(use.reference, literal):
            continue
        if not use.in_function_body:
            return None
        if use.kind is UseKind.LEN_CAP:
            continue
        statement = use.node.parent  # for a close: the `close(ch)` statement, when it is one
        if use.kind is UseKind.CLOSE and statement is not None and is_close_of(source, statement) is not None:
            if use.reference.start_byte < go_statement.end_byte:
                return None
            operations.append(statement)
            closes = True
            continue
        if use.kind is UseKind.SEND:
            if use.reference.start_byte < go_statement.end_byte:
                return None
            operations.append(use.node)
            continue
        return None  # received, passed to a call (or closed by defer), stored, sent, returned
    if not operations:
        return None
    operations.sort(key=lambda n: n.start_byte)
    return _Serving(operations, closes)


def _closes_in(source: SourceFile, function: Node, decl: Declaration, literal: Node) -> bool:
    """Does the goroutine's own code close the channel (`close(ch)`, `defer close(ch)`)?"""
    for use in source.facts(Channels).uses(function, decl).uses:
        if use.kind is UseKind.CLOSE and len(use.chain) == 1 and syntax.same_node(use.chain[0].node, literal):
            return True
    return False


def _consuming_loop(source: SourceFile, function: Node, decl: Declaration, literal: Node, go_statement: Node) -> Node | None:
    """The function's one `for … range` over the channel after the ``go`` statement, when
    that is all the function does with it outside the goroutine (len/cap aside)."""
    loop = None
    for use in source.facts(Channels).uses(function, decl).uses:
        if syntax.is_inside(use.reference, literal) or use.kind is UseKind.LEN_CAP:
            continue
        if use.kind is not UseKind.RANGE or not use.in_function_body or loop is not None or use.reference.start_byte < go_statement.end_byte:
            return None  # received, passed on, stored, ranged twice, or in another literal
        loop = use.node
    return loop


def _early_return(go_statement: Node, first_serve: Node, serving: list[Node], returns: list[Node]) -> Node | None:
    """A `return` that runs after the `go` statement and before any serving operation.

    It must lie in the statement list holding the `go` statement (so
    reaching it means the goroutine was started), textually before the
    first serving operation (so no path to it has served the channel), and
    in no loop that also serves (a later turn could serve before it).
    """
    block = syntax.statement_list_of(go_statement)
    if block is None:
        return None  # a labelled go statement: nothing follows it under its label
    for candidate in returns:
        if not (go_statement.end_byte <= candidate.start_byte < first_serve.start_byte and syntax.is_inside(candidate, block)):
            continue
        # The loops around the return inside that list (none of them holds the go statement).
        if any(syntax.is_inside(serve, loop) for loop in loops_between(candidate, go_statement) for serve in serving):
            continue
        return candidate
    return None


def _close_can_be_deferred(source: SourceFile, function: Node, decl: Declaration) -> bool:
    """deferred-close's case: the channel's close can move into a defer right after the make."""
    return any(proof.declaration.key == decl.key and isinstance(defer_close_fix(source, proof), Fix) for proof in source.facts(Closes).deferrable(function))
