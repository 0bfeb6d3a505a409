"""unbuffered-result-channel: goroutines send results on an unbuffered channel the
function may stop receiving from (timeout, early return, first result wins), a
caller in the package drops the channel the function returns, or the function
sends on it before anyone else can have it."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from typing import Callable, Iterable

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.callers import CallSite, CallSites, ResultKind, result_use
from gofix_defer.codemods.analysis.channels import Channels, ChannelUse, LocalChannel, MakeChannel, UseKind
from gofix_defer.codemods.analysis.control import (
    break_target,
    has_goto,
    is_panic_call,
    loops_between,
    most_reached,
    only_followed_by,
    same_path,
    test_parameter_names,
)
from gofix_defer.codemods.analysis.index import Declarations, PackageIndex
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.scope import Declaration, FunctionScopes, Scopes
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import FUNCTION_KINDS, ancestors, identifiers, is_inside, statements, unparen, walk, walk_no_funcs
from gofix_defer.codemods.analysis.typeinfer import Types
from gofix_defer.codemods.model import Applicability, Diagnostic, Edit, Fix, NoFix, Rule

_INT_TYPES = frozenset(b"int int8 int16 int32 int64 uint uint8 uint16 uint32 uint64 uintptr".split())


class _Evidence(enum.Enum):
    """Why the senders may block for ever (the message says "… block for ever when <this>")."""

    SELECT_TAKES_OTHER_CASE = "the select takes another case"
    SELECT_LEAVES_LOOP = "the select takes another case and leaves the loop"
    RETURNS_BEFORE_RECEIVING = "the function returns before receiving"
    LOOP_STOPS_EARLY = "the receiving loop stops early"
    FIRST_SENDER_WINS = "only the first of several senders is received"
    SENDER_SENDS_TWICE = "a sender sends more than once: {sends} sends, {receives} receives"
    MORE_SENDERS_THAN_RECEIVES = "fewer receives than senders run"
    # The channel is returned: what a caller in the package does with it.
    CALLER_DROPS = "a caller drops the returned channel"
    CALLER_SELECT = "a caller's select takes another case"
    CALLER_RETURNS = "a caller returns before receiving"
    CALLER_LOOP_STOPS = "a caller's receiving loop stops early"
    CALLER_FIRST_WINS = "a caller receives fewer values than the senders send"

    @property
    def receiver_may_leave(self) -> bool:
        """The evidence is a receiver that may stop receiving (a select, a return, a
        break, or a caller): then no receive is certain, and the buffer must hold every
        value."""
        return self not in (_Evidence.SENDER_SENDS_TWICE, _Evidence.MORE_SENDERS_THAN_RECEIVES)

    def in_caller(self) -> "_Evidence":
        """What this evidence, found in a caller that got the channel back, is called there."""
        return {
            _Evidence.SELECT_TAKES_OTHER_CASE: _Evidence.CALLER_SELECT,
            _Evidence.SELECT_LEAVES_LOOP: _Evidence.CALLER_SELECT,
            _Evidence.RETURNS_BEFORE_RECEIVING: _Evidence.CALLER_RETURNS,
            _Evidence.LOOP_STOPS_EARLY: _Evidence.CALLER_LOOP_STOPS,
        }.get(self, _Evidence.CALLER_FIRST_WINS)

    def describe(self, channel: "_Channel") -> str:
        return self.value.format(sends=sum(s.sends for s in channel.senders), receives=len(channel.receives))


@dataclass
class _Sender:
    go: Node  # the go statement
    sends: int  # the most values one run of it sends on the channel
    certain: int  # the values every run sends (unconditional sends, no return before them)
    loops: list[Node]  # loops around the go statement that do not also hold the make


@dataclass
class _Channel:
    decl: Declaration
    make: MakeChannel  # the make(chan T) call
    senders: list[_Sender] = field(default_factory=list)
    receives: list[Node] = field(default_factory=list)  # the unary `<-ch` expressions in the function
    returns: list[Node] = field(default_factory=list)  # the `return ch` statements (the channel handed to the caller)
    body_sends: list[Node] = field(default_factory=list)  # plain `ch <- v` statements of the function's own code
    result_index: int = -1  # when returned: the channel's position among the results


class UnbufferedResultChannel(Rule):
    """
    ## What it does
    Finds an unbuffered channel made in a function (`ch := make(chan T)`)
    that goroutines started by the function send one result on, while the
    function may stop receiving before every sender is received: the receive
    sits in a `select` with another case (a timeout, `ctx.Done()`), a
    `return` can run between starting the goroutines and receiving, or
    several senders race for a single receive ("first result wins"). A
    goroutine that closes the channel after its send (`defer close(ch)` at
    the top of the goroutine, or `close(ch)` as its last statement) counts as
    a sender that then ends.

    Across functions, through the package's call sites:

    - **The channel handed to the caller.** `func Go(f func() error) chan
      error { ch := make(chan error); go func() { ch <- f() }(); return ch }`:
      reported when a caller in the package drops the channel (`Go(f)`,
      `go Go(f)`, `_ = Go(f)`), or receives it in a `select` with another
      case, or returns before receiving; the message names the caller
      (`file.go:line in caller`). Callers found are calls of the function by
      name and of methods on the receiver or a parameter of the stated type;
      a caller that receives, passes the channel on, stores or returns it,
      and callers outside the package, are no evidence either way: an
      exported function nobody in the package calls is left alone.
    - **A send before the channel is shared.** `errC := make(chan error);
      if err != nil { errC <- err; return errC }`: a send of the function's
      own code that comes before any other use of the channel (outside any
      loop, with no goto) has nobody who could ever receive it, and blocks
      for ever.

    ## Why is this bad
    A send on an unbuffered channel waits until someone receives. Once the
    function has returned nobody ever will: every sender left over blocks for
    ever, with everything it references. This is the most common goroutine
    leak in production Go (the Timeout, EarlyReturn and NCastLeak patterns of
    Uber's study; GFix's first fix strategy). A function that sends before
    handing the channel over never returns at all.

    ## Example
    ```go
    func fetch(ctx context.Context) (string, error) {
        ch := make(chan string)
        go func() { ch <- slowLookup() }()
        select {
        case v := <-ch:
            return v, nil
        case <-ctx.Done():
            return "", ctx.Err() // the sender now blocks for ever
        }
    }
    ```

    ## Fix
    Give the channel room for every sender, so each send completes whether
    or not anyone receives: `make(chan string, 1)` for one sender, the
    loop's bound for senders started in `for i := 0; i < n; i++`, or
    `len(xs)` for senders started in `for … range xs`. For sends before the
    channel is shared: room for the most of them one path makes (and for
    the goroutine senders too when a caller drops the channel).

    ## Fix safety
    Safe. Offered only when the channel is only received from in the
    function (or returned to the caller), only sent to by goroutines the
    function starts directly (and by the function's own sends before it is
    shared), each goroutine sends at most once and ends right after its send
    or its close (so no goroutine relies on the send waiting for the
    receiver), and the number of senders is an expression whose value cannot
    change between the `make` and the loop. Otherwise the finding is
    reported without a fix. Unsafe (the message says why) when a caller in
    the package also sends on, closes or measures the returned channel, or
    when a send before the channel is shared is followed by uses this rule
    does not follow (a buffer lets their sends go on without a receiver).
    Left alone: channels with a buffer, receivers that always drain every
    sender, sends already in a `select`, and senders left over when the
    function then ends the process (`os.Exit`, `log.Fatal…`, a logger's
    `Fatal…`, or the end of `main`).
    """

    name = "unbuffered-result-channel"
    summary = "Goroutines send on an unbuffered channel the function may stop receiving from"
    fix_availability = "sometimes"
    applicability = Applicability.SAFE
    triggers = (b"make(chan",)
    requires = (Channels, Scopes, Declarations, Types, PackageIndex, CallSites)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        channels = source.facts(Channels)
        for function in nodes_of_types(source, FUNCTION_KINDS):
            if syntax.function_body(function) is None:
                continue
            if b"make(chan" not in source.text(function):
                continue
            for local in channels.made_in(function):
                if not _is_unbuffered(local):
                    continue
                channel = _Channel(local.declaration, local.make)
                diagnostic = self._check_channel(source, channels, source.scopes(function), function, channel)
                if diagnostic is not None:
                    yield diagnostic

    def _check_channel(self, source: SourceFile, channels: Channels, scopes: FunctionScopes, function: Node, channel: _Channel) -> Diagnostic | None:
        modelled = _classify_references(source, channels, function, channel)
        early = _early_sends(channels, function, channel)
        if early:
            return self._deadlock(source, scopes, function, channel, early, modelled and len(early) == len(channel.body_sends))
        if not modelled or channel.body_sends:
            return None  # the channel escapes, or is used in a way we do not model: no evidence
        if channel.returns:
            return self._returned(source, scopes, function, channel)
        if not channel.senders or not channel.receives:
            return None
        evidence = _leak_evidence(function, channel)
        if evidence is None:
            return None
        if not evidence.receiver_may_leave or evidence is _Evidence.FIRST_SENDER_WINS:
            if _process_ends_after(source, function, channel):
                return None  # the senders left over end with the process
        return self._buffer_diagnostic(source, scopes, function, channel, evidence, "")

    def _buffer_diagnostic(
        self, source: SourceFile, scopes: FunctionScopes, function: Node, channel: _Channel, evidence: _Evidence, where: str, unsafe: str | None = None
    ) -> Diagnostic:
        name = channel.decl.name.decode()
        message = f"senders on unbuffered channel {name} block for ever when {evidence.describe(channel)}{where}"
        count = _sender_count(source, scopes, function, channel, evidence)
        if isinstance(count, NoFix):
            return self.diagnostic(channel.make.call, count.annotate(message))
        applicability = Applicability.SAFE if unsafe is None else Applicability.UNSAFE
        note = "" if unsafe is None else f" (unsafe: {unsafe})"
        fix = Fix(f"Give {name} a buffer of {count.decode()}", (_buffer_edit(channel.make, count),), applicability)
        return self.diagnostic(channel.make.call, f"{message}; give it a buffer of {count.decode()}{note}", fix)

    def _returned(self, source: SourceFile, scopes: FunctionScopes, function: Node, channel: _Channel) -> Diagnostic | None:
        """The channel is handed to the caller, its senders are goroutines the function
        starts: a caller in the package that drops it or may stop receiving is the evidence."""
        if channel.receives or not channel.senders:
            return None
        found = _caller_evidence(source, function, channel)
        if found is None:
            return None
        evidence, where, unsafe = found
        return self._buffer_diagnostic(source, scopes, function, channel, evidence, where, unsafe)

    def _deadlock(self, source: SourceFile, scopes: FunctionScopes, function: Node, channel: _Channel, early: list[Node], modelled: bool) -> Diagnostic:
        """The function's own send comes before anyone else can have the channel."""
        name = channel.decl.name.decode()
        line = source.line_col(early[0].start_byte)[0]
        message = f"the function sends on unbuffered channel {name} (line {line}) before anyone else can receive from it: the send blocks for ever"
        body = syntax.function_body(function)
        count = most_reached(body, set(early)) if body is not None else None
        if count is None or count < 1:
            return self.diagnostic(channel.make.call, NoFix("the sends before the channel is shared cannot be counted").annotate(message))
        buffer = str(count).encode()
        unsafe = None if modelled else "the channel has other users this rule does not follow: with a buffer their sends no longer wait for a receiver"
        if modelled and channel.returns and channel.senders and not channel.receives:
            # The senders the function then starts leak too when a caller drops the channel.
            found = _caller_evidence(source, function, channel)
            senders = _sender_count(source, scopes, function, channel, found[0]) if found is not None else None
            if found is not None and body is not None and not isinstance(senders, NoFix) and senders is not None:
                exclusive = all(only_followed_by(send, body, set(early), ends=lambda _: True) for send in early)
                if exclusive and senders.isdigit():
                    buffer = str(max(count, int(senders))).encode()
                else:
                    buffer = buffer + b" + " + senders
                message += f", and its senders block for ever when {found[0].describe(channel)}{found[1]}"
                unsafe = found[2]
        note = "" if unsafe is None else f" (unsafe: {unsafe})"
        fix = Fix(f"Give {name} a buffer of {buffer.decode()}", (_buffer_edit(channel.make, buffer),), Applicability.SAFE if unsafe is None else Applicability.UNSAFE)
        return self.diagnostic(channel.make.call, f"{message}; give it a buffer of {buffer.decode()}{note}", fix)


RULE = UnbufferedResultChannel()


# -- finding the channel ---------------------------------------------------------


def _is_unbuffered(local: LocalChannel) -> bool:
    """`ch := make(chan T)` / `var ch = make(chan T, 0)`, the make written bare (not in parentheses)."""
    return local.make.unbuffered and syntax.same_node(local.declaration.value, local.make.call)


def _classify_references(source: SourceFile, channels: Channels, function: Node, channel: _Channel) -> bool:
    """Sort every use of the channel into receives (in the function) and sends (in
    goroutines it starts, directly or through a function of this file the goroutine
    calls last). False when any use is something else: the channel escapes."""
    by_goroutine: dict[int, tuple[Node, list[ChannelUse]]] = {}
    for use in channels.uses(function, channel.decl).uses:
        if use.in_function_body:
            if use.kind is UseKind.RECEIVE and not use.parenthesized:
                channel.receives.append(use.node)
                continue
            if use.kind is UseKind.SEND and not use.parenthesized and use.select_case is None:
                channel.body_sends.append(use.node)
                continue
            index = _returned_at(use)
            if index is not None and channel.result_index in (-1, index):
                channel.result_index = index
                channel.returns.append(use.node)
                continue
            return False
        go = _direct_goroutine(use)
        if go is None:
            return False
        by_goroutine.setdefault(go.start_byte, (go, []))[1].append(use)
    for go, uses in by_goroutine.values():
        literal = syntax.called_function_literal(go)
        counted = _sends_per_run(source, channels, literal, uses) if literal is not None else None
        if counted is None:
            return False
        channel.senders.append(_Sender(go, counted[0], counted[1], loops_between(go, channel.make.call)))
    channel.senders.sort(key=lambda s: s.go.start_byte)
    return True


def _returned_at(use: ChannelUse) -> int | None:
    """For `return …, ch, …` with the channel itself one of the values (parentheses
    allowed): its position among them."""
    if use.kind is not UseKind.RETURNED or not syntax.is_return(use.node):
        return None
    value, _ = syntax.paren_parent(use.reference)
    values = syntax.return_values(use.node)
    return next((i for i, v in enumerate(values) if syntax.same_node(v, value)), None)


def _direct_goroutine(use: ChannelUse) -> Node | None:
    """The `go func(){…}()` statement, directly in the function, whose literal holds ``use``."""
    goroutine = use.goroutine
    if goroutine is None:
        return None
    call = syntax.called_in_place(goroutine.node)
    # Arguments would need their own escape analysis (even a comment there keeps the rule out).
    if call is None or syntax.call_arguments(call, with_comments=True):
        return None
    return syntax.go_or_defer_of(goroutine.node)


def _sends_per_run(source: SourceFile, channels: Channels, literal: Node, uses: list[ChannelUse]) -> tuple[int, int] | None:
    """The most values one run of the goroutine can send on the channel, and the values
    every run sends, when every use
    of the channel in it is a plain send after which it only sends again or ends (so
    nothing it does relies on a receiver having taken the value). None otherwise."""
    body = syntax.body(literal)
    if body is None:
        return None
    sends = [use.node for use in uses if use.kind is UseKind.SEND and not use.parenthesized]
    closes = [statement for use in uses if (statement := _close_statement(use)) is not None]
    deferred = [statement for statement in closes if syntax.is_defer(statement)]
    if sends and len(sends) + len(closes) == len(uses):
        if len(closes) > 1 or (closes and not deferred and not only_followed_by(closes[0], body, set())):
            return None  # a close must be the goroutine's last act (a deferred one is)
        if deferred and deferred[0].parent != body:
            return None  # `defer close(ch)` only on some paths, or in a loop
        most = _checked_count(body, set(sends), set(closes))
        return None if most is None else (most, _certain_sends(source, body, sends))
    if len(uses) != 1:
        return None
    return _sends_through_helper(source, channels, body, uses[0])


def _sends_through_helper(source: SourceFile, channels: Channels, body: Node, use: ChannelUse) -> tuple[int, int] | None:
    """go func() { helper(ch, …) }(): the call must end the goroutine, and the helper
    (a function of this file) may only send on its parameter."""
    if use.parenthesized or use.kind not in (UseKind.PASSED, UseKind.CLOSE, UseKind.LEN_CAP):
        return None  # the channel is not an argument of a call
    call = use.node
    statement = call.parent
    if not syntax.is_expression_statement(statement) or not only_followed_by(statement, body, set()):
        return None
    helper = _same_file_function(source, call)
    if helper is None:
        return None
    parameter = syntax.parameter_name_at(syntax.parameter_list(helper), use.argument_index)
    if parameter is None:
        return None
    decl = source.scopes(helper).resolve(parameter)
    if decl is None or decl.kind != "param":
        return None
    helper_uses = channels.uses(helper, decl).uses
    if not helper_uses or not all(u.kind is UseKind.SEND and not u.parenthesized and u.in_function_body for u in helper_uses):
        return None
    helper_body = syntax.function_body(helper)
    if helper_body is None:
        return None
    sends = [u.node for u in helper_uses]
    most = _checked_count(helper_body, set(sends))
    if most is None:
        return None
    certain = _certain_sends(source, helper_body, sends) if _certain_sends(source, body, [statement]) else 0
    return most, certain


def _certain_sends(source: SourceFile, body: Node, statements_: list[Node]) -> int:
    """How many of ``statements_`` every run of ``body`` executes: those that are
    statements of the body block itself with no return (or panic) before them."""
    top = set(statements(body))
    first_exit = min(
        (n.start_byte for n in walk_no_funcs(body) if syntax.is_return(n) or is_panic_call(source.data, n)),
        default=body.end_byte,
    )
    return sum(1 for s in statements_ if s in top and s.start_byte < first_exit)


def _checked_count(body: Node, sends: set, closes: frozenset | set = frozenset()) -> int | None:
    """Closing after the last send is fine: a receiver still gets the buffered values
    first, in order, exactly as it got them handed over before."""
    if not sends or not all(only_followed_by(send, body, sends | closes) for send in sends):
        return None
    return most_reached(body, sends)


def _close_statement(use: ChannelUse) -> Node | None:
    """The `close(ch)` statement when ``use`` is all its parentheses hold (a local
    function named close counts too), or the `defer close(ch)` statement (the builtin:
    it runs when the goroutine ends, after its sends)."""
    if use.parenthesized or use.kind not in (UseKind.CLOSE, UseKind.PASSED):
        return None
    call = use.node
    if not syntax.is_builtin_call(call, b"close") or len(syntax.call_arguments(call, with_comments=True)) != 1:
        return None
    statement = call.parent
    if use.kind is UseKind.CLOSE and syntax.is_defer(statement) and syntax.same_node(syntax.call_of(statement), call):
        return statement
    return statement if syntax.is_expression_statement(statement) else None


def _same_file_function(source: SourceFile, call: Node) -> Node | None:
    """The non-generic function of this file that ``call`` calls by name."""
    callee = syntax.callee(call)
    if not syntax.is_identifier(callee):
        return None
    found = source.facts(Declarations).function(source.text(callee))
    if found is None or syntax.type_parameters(found.node) is not None:
        return None
    return found.node


# -- the function's own send, before the channel is shared --------------------------


def _early_sends(channels: Channels, function: Node, channel: _Channel) -> list[Node]:
    """The plain sends of the function's own code that come, in the source, before any
    other use of the channel, outside any loop that does not also make it (and with no
    goto in the function): when one runs, nobody else can have the channel yet, so
    nobody can ever receive what it sends."""
    early: list[Node] = []
    for use in sorted(channels.uses(function, channel.decl).uses, key=lambda u: u.reference.start_byte):
        if not (use.in_function_body and use.kind is UseKind.SEND and not use.parenthesized and use.select_case is None):
            break
        early.append(use.node)
    body = syntax.function_body(function)
    if not early or body is None or has_goto(body) or any(loops_between(send, channel.make.call) for send in early):
        return []
    return early


# -- the channel handed to the caller ------------------------------------------------


def _caller_evidence(source: SourceFile, function: Node, channel: _Channel) -> tuple[_Evidence, str, str | None] | None:
    """A caller in the package that drops the returned channel or may stop receiving
    from it: (the evidence, where it is, why the buffer is unsafe or None). Callers the
    package does not show (other packages, function values) are no evidence either way."""
    info = source.facts(PackageIndex).declaration(source, function)
    if info is None or channel.result_index < 0:
        return None
    count = syntax.result_count(function)
    if any(len(syntax.return_values(r)) != count for r in channel.returns):
        return None
    found: tuple[_Evidence, str] | None = None
    unsafe: str | None = None
    for site in source.facts(CallSites).to(info):
        use = result_use(site, channel.result_index, count)
        place = _place(site)
        evidence: _Evidence | None = None
        if use.kind is ResultKind.DROPPED:
            evidence = _Evidence.CALLER_DROPS
        elif use.kind is ResultKind.RECEIVED and use.receive is not None:
            evidence = _caller_receives(site, channel, [use.receive])
        elif use.kind is ResultKind.BOUND and use.declaration is not None:
            uses = site.source.facts(Channels).uses(site.function, use.declaration).uses
            if any(u.kind in (UseKind.SEND, UseKind.CLOSE, UseKind.LEN_CAP) for u in uses):
                unsafe = f"the caller at {place} also sends on, closes or measures the channel"
            elif all(u.in_function_body and u.kind is UseKind.RECEIVE and not u.parenthesized for u in uses):
                evidence = _caller_receives(site, channel, [u.node for u in uses], use.declaration)
        if evidence is not None and found is None:
            found = (evidence, f" ({place})")
    if found is None:
        return None
    return found[0], found[1], unsafe


def _caller_receives(site: CallSite, channel: _Channel, receives: list[Node], declaration: Declaration | None = None) -> _Evidence | None:
    """The evidence in a caller that receives the returned channel at ``receives`` only.
    A return under a condition on another result of the same call (`ch, err := f();
    if err != nil { return err }`) is no evidence: on that path the function most likely
    started no sender."""
    seen = _Channel(channel.decl, channel.make, channel.senders, receives)
    siblings = _other_results(site, declaration) if declaration is not None else set()

    def guarded(exit_node: Node) -> bool:
        for parent in ancestors(exit_node):
            if parent == site.function:
                return False
            condition = syntax.condition(parent) if syntax.is_if(parent) else None
            if condition is not None and any(_resolves_to(site, i, siblings) for i in identifiers(condition)):
                return True
        return False

    evidence = _leak_evidence(site.function, seen, site.call, guarded if siblings else None)
    return evidence.in_caller() if evidence is not None else None


def _other_results(site: CallSite, declaration: Declaration) -> set[tuple[int, int]]:
    """The other variables the statement binding ``declaration`` declares from the call."""
    statement = declaration.statement
    targets = syntax.var_spec_names(statement) if syntax.is_var_spec(statement) else syntax.left_side(statement)
    return {(t.start_byte, t.end_byte) for t in targets if syntax.is_identifier(t) and not syntax.same_node(t, declaration.ident)}


def _resolves_to(site: CallSite, identifier: Node, keys: set[tuple[int, int]]) -> bool:
    found = site.source.scopes(site.function).resolve(identifier)
    return found is not None and found.key in keys


def _place(site: CallSite) -> str:
    """`file.go:12 in caller`."""
    source = site.source
    line = source.line_col(site.call.start_byte)[0]
    outermost = syntax.outermost_function(site.call) or site.function
    name = syntax.function_name(outermost) if syntax.is_declared_function(outermost) else None
    called_from = f" in {source.text(name).decode()}" if name is not None else ""
    return f"{os.path.basename(source.path)}:{line}{called_from}"


# -- evidence of a leak -------------------------------------------------------------


def _leak_evidence(function: Node, channel: _Channel, start: Node | None = None, guarded: Callable[[Node], bool] | None = None) -> _Evidence | None:
    """Why the senders may be left blocked, judged from ``channel.receives`` in ``function``.
    ``start``: where the senders start and the channel appears there (the first `go`
    statement and the `make`, by default; a call that returns the channel, in a caller).
    ``guarded``: returns that are no evidence (a caller's `if err != nil { return }`)."""
    first_go = channel.senders[0].go if start is None else start
    make = channel.make.call if start is None else start
    receive_loops = {loop.start_byte: loop for r in channel.receives for loop in loops_between(r, make)}

    # 1. A receive in a select that can take another case and leave.
    for receive in channel.receives:
        select = _select_of(receive)
        if select is None:
            continue
        # Other cases that leave without receiving (one that waits for the value in its
        # own body, as `case <-timer.C: kill(); <-done` does, leaves no one behind).
        others = [
            c
            for c in syntax.switch_cases(select)
            if not is_inside(receive, c)
            and not any(is_inside(r, c) for r in channel.receives)
        ]
        if not others:
            continue
        if not loops_between(receive, make):
            if _plain_receive_after(select, channel):
                continue  # the function waits for the sender after the select anyway
            return _Evidence.SELECT_TAKES_OTHER_CASE
        if any(_exits_loop(case) for case in others):
            return _Evidence.SELECT_LEAVES_LOOP

    # 2. A return (or a break out of the receiving loop) after a goroutine started
    #    and before the receives are done.
    # With one value to receive, leaving the loop right after receiving it leaves no one behind.
    single_value = not any(s.loops for s in channel.senders) and sum(s.sends for s in channel.senders) == 1
    for node in walk_no_funcs(syntax.function_body(function)):
        if syntax.is_return(node):
            if node.start_byte < first_go.end_byte or not same_path(first_go, node) or (guarded is not None and guarded(node)):
                continue
            if not _after_receive(node, channel):
                return _Evidence.RETURNS_BEFORE_RECEIVING  # no receive on this path yet
            if single_value:
                continue  # the one value was received on the way here
            if any(node.end_byte <= r.start_byte and same_path(node, r) for r in channel.receives):
                return _Evidence.RETURNS_BEFORE_RECEIVING  # between receives
            if any(is_inside(node, loop) and _bounded(loop) for loop in receive_loops.values()):
                return _Evidence.RETURNS_BEFORE_RECEIVING  # from inside the receiving loop
        if (syntax.is_break(node) or syntax.is_goto(node)) and any(is_inside(node, loop) and _bounded(loop) for loop in receive_loops.values()):
            if _leaves_loop(node, receive_loops.values()) and not (single_value and _after_receive(node, channel)):
                return _Evidence.LOOP_STOPS_EARLY

    # 3. More senders than receives: the first result wins, the others block.
    looped_senders = any(s.loops for s in channel.senders)
    if receive_loops:
        return None  # a receiving loop may drain every sender: no evidence
    # Evidence needs senders that certainly send (a goroutine that sends only when
    # some condition holds may be the only one that ever does), or one goroutine
    # with a path that sends twice (the DoubleSend bug).
    if looped_senders:
        if len(channel.receives) < 2 and all(s.certain >= 1 for s in channel.senders if s.loops):
            return _Evidence.FIRST_SENDER_WINS
        return None
    values = sum(s.sends for s in channel.senders)
    if len(channel.receives) < values:
        if any(s.sends > 1 for s in channel.senders):
            return _Evidence.SENDER_SENDS_TWICE
        if sum(s.certain for s in channel.senders) > len(channel.receives):
            return _Evidence.MORE_SENDERS_THAN_RECEIVES
    return None


def _process_ends_after(source: SourceFile, function: Node, channel: _Channel) -> bool:
    """The function receives in its own top-level statements, from senders it starts once,
    and then ends the process: a later top-level statement calls `os.Exit`, `log.Fatal…`
    or a `Fatal…` method of a logger (not of a *testing.T), or the function is `main` of
    package main. The senders left over then live no longer than the program."""
    body = syntax.function_body(function)
    if body is None or any(s.loops for s in channel.senders):
        return False
    top = statements(body)
    holders = []
    for receive in channel.receives:
        holder = next((a for a in ancestors(receive) if a.parent == body), None)
        if holder is None or holder not in top:
            return False
        holders.append(top.index(holder))
    if syntax.is_declared_function(function) and not syntax.is_method(function):
        name = syntax.function_name(function)
        if name is not None and source.text(name) == b"main" and syntax.package_name(source.root) == b"main":
            return True
    tests = test_parameter_names(source, function)
    for statement in top[max(holders, default=len(top)) + 1 :]:
        call = syntax.expression_of(statement)
        call = unparen(call) if call is not None else None
        if call is None or not syntax.is_call(call):
            continue
        called = syntax.call_name(call, source.data)
        if called == b"os.Exit" or called.startswith(b"log.Fatal"):
            return True
        parts = syntax.selector_parts(syntax.callee(call))
        if parts is not None and syntax.is_identifier(parts[0]) and source.text(parts[0]) not in tests and source.text(parts[1]).startswith(b"Fatal"):
            return True
    return False


def _bounded(loop: Node) -> bool:
    """A loop with a condition or a range ends by itself once it has received enough; in
    an endless `for { … }` an exit is the designed way out (often after counting down
    the senders), so it is no evidence of leaving early."""
    return syntax.has_loop_header(loop)


def _after_receive(exit_node: Node, channel: _Channel) -> bool:
    """A receive of the channel runs before ``exit_node`` on its path."""
    return any(r.end_byte <= exit_node.end_byte and same_path(r, exit_node) for r in channel.receives)


def _plain_receive_after(select: Node, channel: _Channel) -> bool:
    return any(
        r.start_byte >= select.end_byte and _select_of(r) is None and same_path(select, r) for r in channel.receives
    )


def _select_of(receive: Node) -> Node | None:
    """The select statement when ``receive`` is a case's communication."""
    clause = syntax.enclosing_select_case(receive)
    return clause.parent if clause is not None else None


def _exits_loop(case: Node) -> bool:
    """The select case returns or jumps out (an unlabelled break leaves only the select)."""
    for node in walk_no_funcs(case):
        if syntax.is_return(node) or syntax.is_goto(node):
            return True
        if syntax.is_break(node) and syntax.jump_label(node) is not None:
            return True
    return False


def _leaves_loop(jump: Node, loops) -> bool:
    if syntax.is_goto(jump) or syntax.jump_label(jump) is not None:
        return True  # a labelled break or a goto: assume it leaves
    target = break_target(jump)
    return target is not None and any(target == loop for loop in loops)


# -- the number of senders ----------------------------------------------------------


def _sender_count(source: SourceFile, scopes: FunctionScopes, function: Node, channel: _Channel, evidence: _Evidence) -> bytes | NoFix:
    """The buffer that lets every send complete: all the values senders can send, less
    the receives every run performs (only when those are certain: plain receives in
    the function's own top-level statements, with no looped senders)."""
    terms: list[bytes] = []
    constant = 0
    for sender in channel.senders:
        if not sender.loops:
            constant += sender.sends
            continue
        if len(sender.loops) > 1:
            return NoFix("senders started in nested loops")
        if sender.sends > 1:
            return NoFix("a sender started in a loop sends more than once")
        count = _loop_count(source, scopes, sender.loops[0], channel)
        if isinstance(count, NoFix):
            return count
        terms.append(count)
    if not terms:
        certain = [r for r in channel.receives if _unconditional(r, function)]
        if len(certain) == len(channel.receives) and not evidence.receiver_may_leave:
            constant -= len(certain)
        return str(max(constant, 1)).encode()
    if constant:
        terms.append(str(constant).encode())
    return b" + ".join(terms)


def _unconditional(receive: Node, function: Node) -> bool:
    """A plain receive in a statement of the function's body block itself."""
    if _select_of(receive) is not None:
        return False
    body = syntax.function_body(function)
    for parent in ancestors(receive):
        if syntax.is_function(parent):
            return False
        if parent.parent is not None and parent.parent == body:
            return (
                syntax.is_expression_statement(parent)
                or syntax.is_short_var_declaration(parent)
                or syntax.is_assignment(parent)
                or syntax.is_var_declaration(parent)
            )
        if syntax.is_if(parent) or syntax.is_loop(parent) or syntax.is_switch(parent) or syntax.is_select(parent) or syntax.is_block(parent):
            return False
    return False


_NOT_COUNTED = "the senders' loop is not `for i := 0; i < n; i++`"


def _loop_count(source: SourceFile, scopes: FunctionScopes, loop: Node, channel: _Channel) -> bytes | NoFix:
    if syntax.for_clause(loop) is not None:
        init, condition, update = syntax.init_statement(loop), syntax.condition(loop), syntax.post_statement(loop)
        if init is None or condition is None or update is None or not syntax.is_short_var_declaration(init):
            return NoFix(_NOT_COUNTED)
        left, right = syntax.left_side(init), syntax.right_side(init)
        if len(left) != 1 or len(right) != 1 or source.text(right[0]) != b"0":
            return NoFix("the senders' loop does not count from 0")
        index = source.text(left[0])
        parts = syntax.binary_parts(condition)
        if parts is None or source.text(parts[0]) != index:
            return NoFix(_NOT_COUNTED)
        counter = syntax.left_node(update) if syntax.is_inc_dec(update) else None
        if parts[1] != b"<" or counter is None or syntax.assignment_operator(update) != b"++" or source.text(counter) != index:
            return NoFix(_NOT_COUNTED)
        if _body_assigns(source, loop, index):
            return NoFix("the loop body changes its counter")
        return _stable_expression(source, scopes, parts[2], channel)
    if syntax.range_clause(loop) is None:
        return NoFix("the senders' loop has no bound")
    # for … range xs
    operand = syntax.range_operand(loop)
    if operand is None:
        return NoFix("the senders' loop ranges over an expression, not a variable")
    ranged = unparen(operand)
    if syntax.is_int_literal(ranged):
        return source.text(ranged)
    if not syntax.is_identifier(ranged):
        return NoFix("the senders' loop ranges over an expression, not a variable")
    decl = scopes.resolve(ranged)
    if decl is None:
        return NoFix(f"{source.text(ranged).decode()} is declared outside the function")
    spelled = source.facts(Types).of(scopes.function).variable_type(decl)
    if spelled is None:
        return NoFix(f"the type of {decl.name.decode()} is not spelled in the source")
    count = _stable_expression(source, scopes, ranged, channel)
    if isinstance(count, NoFix):
        return count
    if spelled in _INT_TYPES:
        return count
    if spelled.startswith((b"[]", b"[", b"map[")) or spelled == b"string":
        if spelled == b"string":
            return NoFix("the senders' loop ranges over a string (one per rune, not per byte)")
        return b"len(" + count + b")"
    return NoFix(f"cannot count the elements of {decl.name.decode()} ({spelled.decode()})")


def _body_assigns(source: SourceFile, loop: Node, name: bytes) -> bool:
    for node in walk(syntax.body(loop)):
        if syntax.is_assignment(node) or syntax.is_inc_dec(node):
            target = syntax.left_node(node)
            if target is not None and any(source.text(i) == name for i in identifiers(target)):
                return True
        if syntax.is_address_of(node) and any(source.text(i) == name for i in identifiers(node)):
            return True
    return False


def _stable_expression(source: SourceFile, scopes: FunctionScopes, expr: Node, channel: _Channel) -> bytes | NoFix:
    """``expr``'s text when it means the same at the make as at the loop: literals and
    local variables (or parameters) declared before the make and never assigned again."""
    expr = unparen(expr)
    if syntax.is_int_literal(expr):
        return source.text(expr)
    if syntax.is_call(expr) and syntax.call_name(expr, source.data) == b"len":
        args = syntax.call_arguments(expr, with_comments=True)  # as before, a comment makes it another expression
        if len(args) == 1:
            inner = _stable_expression(source, scopes, args[0], channel)
            return inner if isinstance(inner, NoFix) else b"len(" + inner + b")"
    if not syntax.is_identifier(expr):
        return NoFix(f"the number of senders ({source.text(expr).decode()}) is not a variable or a constant")
    decl = scopes.resolve(expr)
    name = source.text(expr).decode()
    if decl is None:
        return NoFix(f"{name} is declared outside the function")
    if decl.kind not in ("param", "short", "var", "const") or decl.visible_from > channel.make.call.start_byte:
        return NoFix(f"{name} is not declared before the channel")
    for ref in scopes.references(decl):
        parent = ref.parent
        while syntax.is_expression_list(parent):
            parent = parent.parent
        target = syntax.left_node(parent) if syntax.is_assignment(parent) or syntax.is_inc_dec(parent) else None
        if target is not None and is_inside(ref, target):
            return NoFix(f"{name} is assigned after its declaration")
        if syntax.is_address_of(parent):
            return NoFix(f"the address of {name} is taken")
    return source.text(expr)


def _buffer_edit(make: MakeChannel, count: bytes) -> Edit:
    if make.capacity is not None:  # make(chan T, 0)
        return Edit(make.capacity.start_byte, make.capacity.end_byte, count)
    return Edit.insert(make.type.end_byte, b", " + count)
