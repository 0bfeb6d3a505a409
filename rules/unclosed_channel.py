"""unclosed-channel: a goroutine waits for the end of a channel nobody closes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.callers import CallSites, ResultKind, result_use
from gofix_defer.codemods.analysis.calls import CallSummaries, called_name
from gofix_defer.codemods.analysis.channels import (
    Channels,
    ChannelUse,
    Direction,
    LocalChannel,
    UseKind,
    called_literal,
    in_select_with_done,
    literal_parameter,
)
from gofix_defer.codemods.analysis.control import (
    break_target,
    continue_target,
    innermost_loop,
    inside_loop,
    loop_exits,
    loops_for_ever,
    never_ends,
)
from gofix_defer.codemods.analysis.goroutines import Goroutines
from gofix_defer.codemods.analysis.index import FunctionInfo, PackageIndex
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.scope import Declaration, FunctionScopes, Scopes
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import FUNCTION_KINDS, ancestors, is_inside, statements, walk_no_funcs
from gofix_defer.codemods.edits.insertion import insert_after, insert_before, starts_line
from gofix_defer.codemods.model import Applicability, Diagnostic, Fix, NoFix, Rule


class UnclosedChannel(Rule):
    """
    ## What it does
    Finds a channel made in the function (`ch := make(chan T)`) that a
    goroutine started in the function ranges over (`for v := range ch`), or
    waits on in a loop until it is closed (`v, ok := <-ch; if !ok {…}`), and
    that nothing in the package can close.

    The search for a close crosses function boundaries. The channel counts
    as closed, and nothing is reported, when it is closed in the function,
    in a func literal it runs, or by a function or method of the package it
    is passed to: directly, deferred, through a close helper
    (`defer closeIfOpen(ch)`), or by the producer it is handed to
    (`go produce(ch)` where `produce` does `defer close(out)`). The
    consumer may also be a function of the package started as a goroutine
    (`go worker(ch)` where `worker` ranges over its parameter), or a
    goroutine started by a deferred function (`defer func() { go func() {
    for v := range ch {…} }() }()`) on a buffered channel the function fills.

    Left alone, for lack of evidence: a channel that leaves what the package
    shows — passed to a function of another package (`signal.Notify(ch, …)`,
    `conn.Subscribe(ch)`) or to a function value, stored in a struct, slice
    or map (`chans = append(chans, ch)` may be closed later by
    `for _, c := range chans { close(c) }`), sent on another channel,
    assigned, used by a closure kept as a value, or passed to a package
    function that lets it go, keeps it in a closure or is declared once per
    build target (`f_unix.go` / `f_windows.go`: which one is built is not in
    the source); channels used in a `select` with a `Done()` case;
    consumers whose loop has another way out (a sentinel value, a return, a
    break); and goroutines that live as long as the program (those `main`
    or `init` starts). The message says what was looked at.

    **Generators.** A function that returns its channel as a receive-only
    `<-chan T` hands the receiving side to its callers, who cannot close it.
    When its only sender is one goroutine the function starts, which sends
    in a loop and returns without closing, callers that `range` over the
    result wait for ever once the values run out. Reported, with the
    package's callers that range over it named when there are any.

    ## Why is this bad
    `range` over a channel ends only when the channel is closed. When the
    producer is done and returns without closing, every consumer blocks for
    ever, with everything it references: a goroutine leak per call.

    ## Example
    ```go
    func process(items []int) {
        ch := make(chan int)
        go func() {
            for v := range ch {
                fmt.Println(v)
            }
        }()
        for _, item := range items {
            ch <- item
        }
    }

    func numbers(n int) <-chan int {
        out := make(chan int)
        go func() {
            for i := 0; i < n; i++ {
                out <- i
            }
        }()
        return out
    }
    ```

    ## Fix
    Close the channel where every send has happened: a `close(ch)` statement
    after the function's last send, when the function itself does all the
    sending in its straight-line code (a call to a package function that
    sends on it, synchronously, counts as a send there),
    ```go
        for _, item := range items {
            ch <- item
        }
        close(ch)
    ```
    or `defer close(ch)` at the top of the single producer goroutine when one
    `go func(){…}()` literal, started once, does all the sending — for a
    generator too (the caller cannot close a receive-only channel):
    ```go
        go func() {
            defer close(out)
            for i := 0; i < n; i++ {
                out <- i
            }
        }()
    ```
    No fix (report only) when several goroutines send, when sends happen in
    deferred or nested functions or in a package function started as a
    goroutine, or when a return or break could skip the close or a send
    could follow it.

    ## Fix safety
    Safe: the close happens after the last send on every path the fix
    accepts, the channel is visible only to this function (and to the
    package functions it is passed to, none of which keeps it), and the
    consumers were waiting for exactly that signal. A consumer that never
    checks for the close (`for { v := <-ch … }`) is not waiting for it and
    gets no fix: a close would turn its block into a busy loop. For a
    generator the fix is safe when the function is unexported and every
    call of the package ranges over its result; otherwise it is unsafe: a
    caller out of sight that keeps receiving after the last value gets zero
    values instead of blocking.
    """

    name = "unclosed-channel"
    summary = "Goroutine ranges over a channel nothing in the package closes, or a generator never closes the channel it returns"
    fix_availability = "sometimes"
    triggers = (b"make(chan",)
    requires = (Channels, Scopes, Goroutines, PackageIndex, CallSummaries, CallSites)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        channels = source.facts(Channels)
        for function in nodes_of_types(source, FUNCTION_KINDS):
            # Cheap byte test first: most functions make no channel at all.
            if syntax.function_body(function) is None or b"make(chan" not in source.text(function):
                continue
            # `make(<-chan T)` makes a channel nobody could send on or close: not this bug.
            made = [c for c in channels.made_in(function) if c.make.direction is not Direction.RECEIVE]
            if not made:
                continue
            started = source.facts(Goroutines).started_by(function)
            if started and started[0].in_main_or_init:
                continue  # `main` / `init`: its goroutines live as long as the program
            scopes = source.scopes(function)
            for channel in made:
                yield from self._check_channel(source, channels, scopes, function, channel)

    def _check_channel(
        self, source: SourceFile, channels: Channels, scopes: FunctionScopes, function: Node, channel: LocalChannel
    ) -> Iterator[Diagnostic]:
        decl = channel.declaration
        uses = _Uses()
        if not _collect_uses(source, channels, scopes, function, decl, uses, depth=0):
            return  # the channel leaves what the package shows, or is closed: no evidence
        if uses.closed or uses.guarded_by_done:
            return
        if uses.returned:
            yield from self._check_generator(source, function, decl, uses)
            return
        consumers = [c for c in uses.consumers if _waits_for_close(c)]
        if not consumers or len(consumers) != len(uses.consumers):
            return
        if any(c.deferred for c in consumers) and channel.make.unbuffered and any(s.in_function_body for s in uses.sends):
            return  # the function's own send blocks before the deferred consumer starts: another bug
        name = decl.name.decode()
        where = _looked_at(source, function, uses)
        message = f"channel {name} is never closed: the goroutine waiting on it ({consumers[0].describe(source)}) never exits (no close in {where})"
        fix = _build_fix(source, function, decl, uses)
        if fix is None:
            return  # not a leak after all
        if isinstance(fix, NoFix):
            yield self.diagnostic(decl.ident, fix.annotate(message))
        else:
            yield self.diagnostic(decl.ident, message + "; close it after the last send", fix)

    def _check_generator(self, source: SourceFile, function: Node, decl: Declaration, uses: _Uses) -> Iterator[Diagnostic]:
        """`func gen() <-chan T { ch := make(chan T); go func() { … ch <- v … }(); return ch }`."""
        if not _returned_receive_only(function, uses.returned):
            return  # a bidirectional or send-only result: the caller may own closing it
        if uses.consumers or uses.receives or uses.late_senders or not uses.sends:
            return  # received here too, or sent on from out of sight: not the generator shape
        producers = {s.goroutine.node if s.goroutine is not None else None for s in uses.sends}
        producer = next(iter(producers))
        if len(producers) != 1 or producer is None:
            return  # one goroutine literal of the function must do all the sending
        if syntax.how_started(producer) != "go" or inside_loop(syntax.go_or_defer_of(producer) or producer, function):
            return
        if not _ends_by_itself(producer):
            return  # it waits on other channels too (a stop or cancel protocol the caller drives)
        streamed = [s for s in uses.sends if inside_loop(s.node, producer) and not _then_leaves(s.node)]
        if not streamed:
            return  # a single value (a future, an error): callers receive it once, no close needed
        if any(loops_for_ever(source, loop) for loop in _outer_loops(streamed, producer)):
            return  # the producer sends for ever: no caller is left waiting for an end
        name = decl.name.decode()
        callers = _caller_evidence(source, function)
        where = _looked_at(source, function, uses)
        line = source.line_col(producer.start_byte)[0]
        ranged = f" (as {callers.ranged[0]} does)" if callers.ranged else ""
        message = (
            f"channel {name} is returned as a receive-only channel and never closed: the goroutine that sends on it "
            f"(line {line}) returns without closing it, so a caller that ranges over it{ranged} waits for ever "
            f"(no close in {where})"
        )
        fix = _close_in_producer(source, function, producer, uses)
        if isinstance(fix, NoFix):
            yield self.diagnostic(decl.ident, fix.annotate(message))
            return
        if not callers.all_range:
            fix = Fix(fix.title, fix.edits, Applicability.UNSAFE)
        yield self.diagnostic(decl.ident, message + "; close it when the producer returns", fix)


RULE = UnclosedChannel()


# -- finding --------------------------------------------------------------------


@dataclass
class _Consumer:
    loop: Node  # the for statement
    goroutine: Node  # the go-started func literal that holds it, or the go statement of a package function
    source: SourceFile  # the file holding the loop
    ok_name: bytes | None = None  # for `v, ok := <-ch` loops: the name that turns false on close
    deferred: bool = False  # started by a deferred function literal: runs when the function returns
    callee: str | None = None  # a package function started as a goroutine: its name

    def describe(self, source: SourceFile) -> str:
        line = self.source.line_col(self.loop.start_byte)[0]
        if self.source is source:
            return f"line {line}"
        return f"{self.callee or 'a function'} in {os.path.basename(self.source.path)}:{line}"


@dataclass
class _Uses:
    """The uses of a channel, and of the parameters of the literals it is passed to."""

    sends: list[ChannelUse] = field(default_factory=list)
    receives: list[ChannelUse] = field(default_factory=list)  # receives and range loops
    consumers: list[_Consumer] = field(default_factory=list)
    returned: list[ChannelUse] = field(default_factory=list)
    closed: bool = False
    guarded_by_done: bool = False
    # Package functions the channel is passed to and that neither close it nor let it go.
    callees: list[str] = field(default_factory=list)
    # Package functions that send on it from a goroutine or a deferred call: a close
    # placed in this function could come before one of their sends.
    late_senders: list[str] = field(default_factory=list)


def _collect_uses(
    source: SourceFile, channels: Channels, scopes: FunctionScopes, function: Node, decl: Declaration, uses: _Uses, depth: int
) -> bool:
    """Gather every use of ``decl``, following it into the function literals and the package
    functions it is passed to; False when the channel leaves what the package shows."""
    if depth > 4:
        return False
    for use in channels.uses(function, decl).uses:
        if any(literal.started == "value" for literal in use.chain):
            return False  # a closure kept as a value may be stored, returned and run anywhere
        if in_select_with_done(source, use.reference, function):
            uses.guarded_by_done = True
        kind = use.kind
        if kind is UseKind.SEND:
            uses.sends.append(use)
        elif kind is UseKind.RECEIVE:
            uses.receives.append(use)
            consumer = _receive_loop(source, use)
            if consumer is not None:
                uses.consumers.append(consumer)
        elif kind is UseKind.RANGE:
            uses.receives.append(use)
            goroutine = _consumer_goroutine(use)
            if goroutine is not None:
                uses.consumers.append(_Consumer(use.node, goroutine, source, deferred=len(use.chain) > 1))
        elif kind is UseKind.LEN_CAP:
            continue
        elif kind is UseKind.CLOSE:
            uses.closed = True
        elif kind is UseKind.PASSED:
            literal = called_literal(scopes, use)
            if literal is not None:
                alias = literal_parameter(scopes, literal, use.argument_index)
                if alias is None or not _collect_uses(source, channels, scopes, function, alias, uses, depth + 1):
                    return False  # the literal lets it go
            elif not _passed_to_package_function(source, scopes, use, uses):
                return False
        elif kind is UseKind.RETURNED:
            uses.returned.append(use)
        else:  # sent, stored, assigned…: whoever gets it may close it
            return False
    return True


def _passed_to_package_function(source: SourceFile, scopes: FunctionScopes, use: ChannelUse, uses: _Uses) -> bool:
    """``use`` hands the channel to a function of the package: what does it do with it?
    False when it closes it, lets it go, or is out of sight (another package, a function
    value, a variant per build target): the channel may well be closed there."""
    if called_name(source, scopes, use.node) is None:
        return False  # another package's function, a function value: out of sight (and no package parse)
    passed = source.facts(CallSummaries).passed_effects(source, scopes, use.node, use.argument_index)
    if passed is None:
        return False
    callee, effects = passed
    if effects.closes or effects.deferred_close or effects.escapes or effects.in_closure:
        return False
    uses.callees.append(_describe_function(source, callee))
    how = _how_called(use.node)
    asynchronous = how != "call" or effects.async_use
    if effects.sends:
        if asynchronous:
            uses.late_senders.append(callee.name.decode())
        else:
            uses.sends.append(use)
    if effects.receives or effects.ranges:
        uses.receives.append(use)
        if effects.ranges and how == "go" and use.in_function_body:
            uses.consumers.extend(_callee_consumers(callee, use))
        elif effects.ranges and how == "call" and use.goroutine is not None:
            uses.consumers.extend(_callee_consumers(callee, use, goroutine=use.goroutine.node))
    return True


def _callee_consumers(callee: FunctionInfo, use: ChannelUse, goroutine: Node | None = None) -> list[_Consumer]:
    """The loops of ``callee``'s own code that range over the parameter the channel is
    passed as. A range the callee leaves to a callee of its own is not seen: such a consumer
    stays unknown, and an unknown consumer makes no finding (see ``_waits_for_close``)."""
    parameter = syntax.parameter_name_at(syntax.parameter_list(callee.node), use.argument_index)
    source = callee.source
    found: list[_Consumer] = []
    if parameter is None:
        return [_Consumer(use.node, goroutine or use.node, source, callee=callee.name.decode())]
    scopes = source.scopes(callee.node)
    decl = next((d for d in scopes.declarations() if d.key == (parameter.start_byte, parameter.end_byte)), None)
    ranges = [u for u in source.facts(Channels).uses(callee.node, decl).uses if u.kind is UseKind.RANGE and u.in_function_body] if decl else []
    for ranged in ranges:
        found.append(_Consumer(ranged.node, goroutine or use.node, source, callee=callee.name.decode()))
    # Ranged only through a deeper call: a consumer this rule cannot check.
    return found or [_Consumer(use.node, goroutine or use.node, source, callee=callee.name.decode())]


def _how_called(call: Node) -> str:
    """"go", "defer" or "call" for a call expression."""
    _, holder = syntax.paren_parent(call)
    if syntax.is_go(holder):
        return "go"
    if syntax.is_defer(holder):
        return "defer"
    return "call"


def _consumer_goroutine(use: ChannelUse) -> Node | None:
    """The goroutine literal a receiving use runs in: `go func(){…}()` in the function's
    own code, or in a deferred function literal of it (`defer func() { go func(){…}() }()`)."""
    if use.goroutine is not None:
        return use.goroutine.node
    chain = use.chain
    if len(chain) == 2 and chain[0].started == "defer" and chain[1].started == "go":
        return chain[1].node
    return None


def _describe_function(source: SourceFile, info: FunctionInfo) -> str:
    line = info.source.line_col(info.node.start_byte)[0]
    name = info.name.decode()
    if info.receiver_type is not None:
        name = f"{info.receiver_type.decode()}.{name}"
    if info.source is source:
        return f"{name} (line {line})"
    return f"{name} ({os.path.basename(info.source.path)}:{line})"


def _looked_at(source: SourceFile, function: Node, uses: _Uses) -> str:
    name = syntax.function_name(function)
    own = f"{source.text(name).decode()}, its func literals" if name is not None else "this func literal, its func literals"
    if not uses.callees:
        return own.replace(", its", " or its")
    return f"{own} or {', '.join(dict.fromkeys(uses.callees))}"


def _receive_loop(source: SourceFile, receive: ChannelUse) -> _Consumer | None:
    """`for { v, ok := <-ch; … }` in a goroutine: a loop that waits for the close."""
    goroutine = _consumer_goroutine(receive)
    if goroutine is None:
        return None
    statement = syntax.listing_statement(receive.node)
    if statement is None:
        return None
    left = syntax.left_side(statement)
    if len(left) != 2 or not syntax.is_identifier(left[1]):
        return None
    loop = innermost_loop(statement)
    if loop is None:
        return None
    ok = source.text(left[1])
    if not _ok_name_checked(source, loop, ok):
        return None  # never asks whether the channel was closed: not waiting for a close
    return _Consumer(loop, goroutine, source, ok, deferred=len(receive.chain) > 1)


def _ok_name_checked(source: SourceFile, loop: Node, ok: bytes) -> bool:
    return any(syntax.is_if(n) and source.text(syntax.condition(n)) == b"!" + ok for n in walk_no_funcs(loop))


def _waits_for_close(consumer: _Consumer) -> bool:
    """The consumer's loop ends only when the channel is closed (no sentinel, no other way out)."""
    source = consumer.source
    loop = consumer.loop
    if not syntax.is_loop(loop):
        return False  # a package function whose range this rule cannot see
    if any(syntax.is_select(n) for n in walk_no_funcs(loop)):
        return False  # another case may end it
    body = syntax.body(loop)
    if body is None:
        return False
    if syntax.range_clause(loop) is not None:
        return not loop_exits(source, loop)
    # A receive loop: every way out must sit under `if !ok`.
    for node in walk_no_funcs(body):
        if syntax.is_return(node) or syntax.is_goto(node) or (syntax.is_break(node) and break_target(node) == loop):
            guard = next((a for a in ancestors(node) if syntax.is_if(a)), None)
            if guard is None or source.text(syntax.condition(guard)) != b"!" + (consumer.ok_name or b""):
                return False
    return True


# -- generators -------------------------------------------------------------------


def _returned_receive_only(function: Node, returned: list[ChannelUse]) -> bool:
    """Every return of the channel is `return …, ch, …` at a `<-chan T` result."""
    types = syntax.result_types(function)
    for use in returned:
        values = [syntax.unparen(v) for v in syntax.return_values(use.node)] if syntax.is_return(use.node) else []
        index = next((i for i, v in enumerate(values) if syntax.same_node(v, use.reference)), -1)
        if index < 0 or index >= len(types) or len(values) != len(types):
            return False
        stated = types[index]
        stated = syntax.unparen_type(stated) if stated is not None else None
        if not syntax.is_channel_type(stated) or syntax.channel_direction(stated) != "receive":
            return False
    return True


def _ends_by_itself(producer: Node) -> bool:
    """The producer's own code neither selects nor receives (ranging over a slice, a map
    or an input channel is fine) nor jumps with goto: it ends when its work is done, not
    when a stop channel or a context its caller holds says so."""
    body = syntax.body(producer)
    if body is None:
        return False
    return not any(syntax.is_select(n) or syntax.is_receive(n) or syntax.is_goto(n) for n in walk_no_funcs(body))


def _then_leaves(send: Node) -> bool:
    """The statement after the send returns or breaks: a last value, not a stream."""
    statement = syntax.statement_of(send)
    holder = statement.parent
    if holder is None or not syntax.holds_statements(holder):
        return False
    following = [s for s in statements(holder) if s.start_byte >= statement.end_byte]
    return bool(following) and (syntax.is_return(following[0]) or syntax.is_break(following[0]))


def _outer_loops(sends: list[ChannelUse], producer: Node) -> list[Node]:
    """The outermost loop of ``producer`` around each send."""
    found = []
    for send in sends:
        outer = None
        for parent in ancestors(send.node):
            if parent == producer:
                break
            if syntax.is_loop(parent):
                outer = parent
        if outer is not None and outer not in found:
            found.append(outer)
    return found


@dataclass
class _Callers:
    ranged: list[str] = field(default_factory=list)  # "file.go:12" of package callers that range over the result
    all_range: bool = False  # the function is unexported, has package callers, and every one ranges


def _caller_evidence(source: SourceFile, function: Node) -> _Callers:
    """What the package's callers of a generator do with the channel it returns."""
    found = _Callers()
    info = source.facts(PackageIndex).declaration(source, function)
    if info is None:
        return found  # a func literal (its callers are not known by name), or another file's variant
    sites = source.facts(CallSites).to(info)
    count = syntax.result_count(function)
    every = bool(sites)
    for site in sites:
        ranged = False
        for position in range(count):
            ranged = ranged or _caller_ranges(site, position, count)
        if ranged:
            line = site.source.line_col(site.call.start_byte)[0]
            found.ranged.append(f"line {line}" if site.source is source else f"{os.path.basename(site.source.path)}:{line}")
        every = every and ranged
    exported = info.name[:1].isupper() if info.name else True
    found.all_range = every and not exported
    return found


def _caller_ranges(site, index: int, count: int) -> bool:
    """The call's ``index``-th result is ranged over: `for v := range gen()`, or bound to
    a variable whose every use is a range loop."""
    node, parent = syntax.paren_parent(site.call)
    if count == 1 and syntax.is_range_clause(parent) and syntax.same_node(syntax.right_node(parent), node):
        return True
    used = result_use(site, index, count)
    if used.kind is not ResultKind.BOUND or used.declaration is None:
        return False
    channel_uses = site.source.facts(Channels).uses(site.function, used.declaration).uses
    return bool(channel_uses) and all(u.kind is UseKind.RANGE for u in channel_uses)


# -- fixing ---------------------------------------------------------------------


def _build_fix(source: SourceFile, function: Node, decl: Declaration, uses: _Uses) -> Fix | NoFix | None:
    """The fix, or why there is none; None when the finding turns out not to be a leak."""
    name = decl.name.decode()
    if uses.late_senders:
        return NoFix(f"{uses.late_senders[0]} sends on {name} from a goroutine or a deferred call; close it once that is done")
    if not uses.sends:
        return NoFix(f"nothing in this function sends on {name}")
    contexts = {tuple((c.node.start_byte, c.node.end_byte) for c in use.chain) for use in uses.sends}
    if len(contexts) > 1:
        return NoFix(f"several goroutines or functions send on {name}; close it once they are all done")
    first = uses.sends[0]
    if first.in_function_body:
        return _close_after_last_send(source, function, decl, uses)
    if first.goroutine is not None:
        return _close_in_producer(source, function, first.goroutine.node, uses)
    return NoFix(f"the sends on {name} run in a deferred or nested function; a close could precede one of them")


def _close_in_producer(source: SourceFile, function: Node, producer: Node, uses: _Uses) -> Fix | NoFix:
    go_statement = syntax.go_or_defer_of(producer)
    if go_statement is None or inside_loop(go_statement, function):
        return NoFix("the producer goroutine is started in a loop: several goroutines send")
    if any(r.chain and r.chain[0].node == producer for r in uses.receives) or any(c.goroutine == producer for c in uses.consumers):
        return NoFix("the producer goroutine also receives from the channel")
    channel_name = source.text(uses.sends[0].reference)
    body_statements = statements(syntax.body(producer))
    if not body_statements or not starts_line(source, body_statements[0]):
        return NoFix("the producer goroutine is written on one line")
    edit = insert_before(source, body_statements[0], [b"defer close(" + channel_name + b")"])
    if edit is None:
        return NoFix("the producer goroutine is written on one line")
    return Fix(f"Close {channel_name.decode()} when its producer goroutine returns", (edit,))


def _close_after_last_send(source: SourceFile, function: Node, decl: Declaration, uses: _Uses) -> Fix | NoFix | None:
    """A `close(ch)` statement after the statement, in the declaring block, that holds the last send."""
    name = decl.name.decode()
    declaring = decl.statement
    while declaring.parent is not None and not syntax.holds_statements(declaring.parent):
        declaring = declaring.parent
    siblings = statements(declaring.parent)
    position = next(i for i, s in enumerate(siblings) if (s.start_byte, s.end_byte) == (declaring.start_byte, declaring.end_byte))
    holders = []
    for send in uses.sends:
        holder = next((s for s in siblings[position + 1 :] if is_inside(send.node, s)), None)
        if holder is None:
            return NoFix(f"a send on {name} is outside the block that makes it")
        holders.append(holder)
    last = max(holders, key=lambda s: s.start_byte)
    if _never_ends(source, last):
        return None  # the function never stops sending: its consumers are not left behind
    span = [s for s in siblings[position + 1 :] if s.start_byte <= last.start_byte]
    for statement in span:
        for node in walk_no_funcs(statement):
            if syntax.is_return(node) or syntax.is_goto(node):
                return NoFix(f"a {_jump_word(node)} before the last send would skip the close")
            if syntax.is_break(node) or syntax.is_continue(node):
                target = break_target(node) if syntax.is_break(node) else continue_target(node)
                if syntax.jump_label(node) is not None or target is None or not is_inside(target, statement):
                    return NoFix(f"a {_jump_word(node)} before the last send would skip the close")
    for receive in uses.receives:
        if receive.in_function_body and receive.node.start_byte > last.end_byte:
            return NoFix(f"the function receives from {name} after its last send")
    edit = insert_after(source, last, [f"close({name})".encode()])
    if edit is None:
        return NoFix("the last send shares its line with other code")
    return Fix(f"Close {name} after the last send", (edit,))


def _jump_word(jump: Node) -> str:
    if syntax.is_return(jump):
        return "return"
    if syntax.is_goto(jump):
        return "goto"
    return "break" if syntax.is_break(jump) else "continue"


def _never_ends(source: SourceFile, statement: Node) -> bool:
    """`for { … }` with no way out: code after it is unreachable (and go vet says so).
    Only one label is looked through: `L1: L2: for {…}` counts as ending."""
    if syntax.is_labeled(syntax.labeled_body(statement)):
        return False
    return never_ends(source, statement)
