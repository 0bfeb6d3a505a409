"""never-woken: a goroutine waits on a channel, a sync.Cond or a sync.WaitGroup that
nothing in the package can ever release."""

from __future__ import annotations

import os
import re
from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis import control, syntax
from gofix_defer.codemods.analysis.access import Access, access
from gofix_defer.codemods.analysis.calls import CallSummaries
from gofix_defer.codemods.analysis.channels import Channels, ChannelUse, Direction, UseKind
from gofix_defer.codemods.analysis.fieldchannels import FieldChannels, FieldOp, FieldOpKind
from gofix_defer.codemods.analysis.held import held_at
from gofix_defer.codemods.analysis.index import FunctionInfo, PackageIndex, ValueKind
from gofix_defer.codemods.analysis.lexical import FIELD_WAIT, MADE_CHANNEL, SELECTOR_CHANNEL_OPERATION, SELECTOR_SEND, TIMER_DRAIN, made_channel_names
from gofix_defer.codemods.analysis.locks import states_waitgroup
from gofix_defer.codemods.analysis.nodeindex import method_calls_named, nodes_of_types
from gofix_defer.codemods.analysis.scope import Scopes
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syncfields import ADDS, WAITS, SyncFields, never_done, use_of
from gofix_defer.codemods.analysis.timers import stale_drains
from gofix_defer.codemods.edits.field_stop import local_stop, stop_fix
from gofix_defer.codemods.edits.insertion import delete_line, ends_line, insert_after, insert_before, line_text, starts_line
from gofix_defer.codemods.model import Applicability, Diagnostic, Edit, Fix, NoFix, Rule, says


class NeverWoken(Rule):
    """
    ## What it does
    Finds a goroutine that waits for something nothing in the package can
    ever give it:

    - a receive (`<-ch`, `v := <-ch`, a `select` with that one case) or a
      `range` over a channel the function makes and hands only to functions
      of the package that neither send on it nor close it (GoKer's
      Grpc1424: `doneChan` is passed to `lbWatcher`, which ignores it);
    - a receive or `range` over a struct field's channel (`<-s.quit`) that
      the package makes but never sends on nor closes, in any function or
      method, through an alias, a getter or a function it is passed to
      (GoKer's Cockroach25456: a stopper whose quiesce channel nothing
      closes; Grpc1275);
    - a send on a struct field's channel that no function or method of the
      package receives from, made unbuffered or with a capacity the source
      does not fix (`make(chan T, size)`; GoKer's Kubernetes38669): it
      blocks as soon as the buffer, if any, is full;
    - `Wait()` on a `sync.Cond` field that nothing in the package signals (no
      `Signal()`, no `Broadcast()`, no other use that could lead to one;
      GoKer's Moby30408), or on a `sync.WaitGroup` field or local the
      package adds to and never marks done (GoKer's Cockroach1055);
    - `c.Wait()` in a `for flag {` (or `for !flag {`) loop on a local that
      nothing changes after its declaration, with no other way out of the
      loop (GoKer's Moby27782): however often it is woken, it waits again;
    - `wg.Wait()` as the last statement of a `for … range xs` loop that
      starts one goroutine per turn, after `wg.Add(len(xs))` before the loop
      (GoKer's Moby25348): the first turn waits for goroutines the loop only
      starts after Wait returns.
    - a send on a struct field's channel, in a function that only afterwards
      starts the package's one serving loop for that field (a function
      literal that receives from it in a loop, or ranges over it; GoKer's
      Cockroach24808): unbuffered, it waits at once; with a buffer of a
      size the source states, when the package sends on the field elsewhere
      too, those sends may have filled it. Left alone: a receive that is
      not in a loop of its goroutine (a semaphore's release, which an
      earlier call started), a receiver anywhere else, the only send on a
      buffered field, and a field set to other channels.
    - `if !t.Stop() { <-t.C }` in one case of a `select` in a loop, when
      another case of it receives from `t.C` and nothing re-arms `t` before
      the next turn (GoKer's Istio18454): that case took the timer's value,
      so Stop returns false and the drain waits for one that never comes.
      Re-arming is read widely: a `Reset(` in the taking case, in the loop
      outside the select or in a package function they call, an assignment
      to the timer there, or a `t.Reset(` anywhere else in the package (another
      goroutine may re-arm it) leaves the drain alone, as does a taking case
      that leaves the loop and a drain under another condition.

    The search is the package's: every function and method, the functions a
    channel is handed to (`CallSummaries`), the field's every use
    (`FieldChannels`, `SyncFields`: a use `x.f` counts whenever `x` may be the
    field's type). Left alone, for lack of evidence: a channel or field that
    leaves what the package shows (passed to another package or a function
    value, stored, returned, sent, an exported field or getter outside
    `package main`, a field of a type another type embeds, a field some file
    spells a send or close on — or, for a send, a receive from — whatever its
    owner), a send into a buffer of a size the source states (a box nobody
    needs to empty), a send made holding a lock (`blocked-holding-lock`
    reports it, naming the lock), a channel handed to a stub (a function with an empty
    body), a receive that is one case of a `select` with others, a channel
    nothing is handed to (`done := make(chan struct{}); <-done` may be meant
    to block for ever), and a WaitGroup used through a pointer, `Go`, or an
    `Add` whose count may be negative. To stay cheap, the rule reads only the
    files whose bytes show one of its shapes: a field channel is looked at
    where the file sends on or receives from a selector other than
    `ctx.Done()`, a timer's `C` or `time.After`/`Tick` (a file that only
    ranges over it is not), and a field's `Wait()` where it is written
    `x.f.Wait()`.

    ## Why is this bad
    A receive from a channel no one sends on or closes, a send no one
    receives, and a `Wait` no one signals or marks done block for ever: the
    goroutine leaks with everything it holds, and whoever waits for it leaks
    too.

    ## Example
    ```go
    func (cc *ClientConn) lbWatcher(doneChan chan bool) {
        for addr := range cc.balancer.Notify() {
            cc.update(addr)
        }
    }

    func dial(cc *ClientConn) {
        doneChan := make(chan bool)
        go cc.lbWatcher(doneChan)
        <-doneChan // lbWatcher never closes it
    }

    func (pm *Manager) init() {
        var group sync.WaitGroup
        group.Add(len(pm.plugins))
        for _, p := range pm.plugins {
            go func(p *plugin) {
                defer group.Done()
                p.activate()
            }(p)
            group.Wait() // waits for every plugin; only the first started
        }
    }
    ```

    ## Fix
    The Wait in the loop moves below the loop, as the upstream fix of
    Moby25348 did:
    ```go
        for _, p := range pm.plugins {
            go func(p *plugin) { … }(p)
        }
        group.Wait()
    ```
    Only when it is the loop body's last statement, the loop starts one
    goroutine per turn and no turn can leave early (`break`, `continue`).

    The send before the serving loop starts, on a buffered `chan struct{}`
    whose receivers drop the value (a wake-up signal), is made only if there
    is room, as the upstream fix of Cockroach24808 did (its `poke`):
    ```go
        select {
        case c.ch <- struct{}{}:
        default:
        }
        stopper.RunWorker(ctx, func(ctx context.Context) { … })
    ```

    The stale timer drain takes a value only if one is there:
    ```go
        case <-s.resetChan:
            if !s.timer.Stop() {
                select {
                case <-s.timer.C:
                default:
                }
            }
            s.timer.Reset(s.timerFrequency)
    ```

    A channel handed to one function of the file, whose only use in the
    package that call is, is closed by it when it returns, as the upstream
    fix of Grpc1424 did:
    ```go
    func (cc *ClientConn) lbWatcher(doneChan chan bool) {
        defer close(doneChan)
        …
    ```
    A send or receive on a field channel nothing serves, in the case body or
    `default` of a `select` of its own function that stops on a signal
    (`case <-w.ctx.Done():`, `case <-p.stop: return`), waits on that signal
    too, as blocked-field-channel's fix does (GoKer's Kubernetes25331):
    ```go
        case err := <-wc.errChan:
            wc.cancel()
            select {
            case wc.resultChan <- err != nil:
            case <-wc.ctx.Done():
                return
            }
    ```
    The new case returns (zero values for unnamed results), or does nothing
    when the operation is the function's last statement.

    The other shapes are reported without a fix: which code should signal —
    close a stop channel in a `Stop` method, receive the results,
    `Broadcast` when the condition changes, `Done` at the end of the task —
    is a design decision the code does not state.

    ## Fix safety
    The moved Wait is safe: with two elements or more the loop, as written,
    blocks on its first turn for ever, so no working run depends on it; with
    one element or none, starting the goroutine then waiting after the loop
    does exactly what waiting inside it did.

    The drain without waiting is safe: when the timer's value is there it
    takes it as before; when it is not, the receive as written waits for ever
    (nothing re-arms the timer, nothing else sends on its channel), so no
    working run depends on it.

    The wake-up sent only if there is room is unsafe: a wake-up already
    waiting in the buffer stands for this one, so the loop wakes once where,
    had the send not blocked for ever, it would have woken twice.

    The wait on the function's stop signal is unsafe: the operation could
    never complete, so no working run changes, but once the signal comes the
    function now returns where it blocked for ever, and what its callers do
    next is new behaviour.

    The close in the callee is unsafe: the receiver now wakes when the callee
    returns and gets the zero value, which is new behaviour for the code
    after the receive (until now it never ran). The callee cannot close a
    channel anyone else sends on or closes: its one call site hands it a
    channel nothing else in the package uses but to receive.
    """

    name = "never-woken"
    summary = "A receive, send or Wait that nothing in the package can ever complete: the goroutine blocks for ever"
    fix_availability = "sometimes"
    triggers = (b"<-", b".Wait()")  # every receive, send and Wait spells one (refined in applies_to)
    scans_bytes = True
    requires = (Scopes, PackageIndex, FieldChannels, CallSummaries, Channels, SyncFields)

    def applies_to(self, source) -> bool:
        # From the bytes, what each shape needs: a channel the file makes and then waits
        # on; a send on or receive from a selector (`x.f <- v`, `<-x.f`) other than the
        # usual ones of other packages' values (`<-ctx.Done()`, `<-t.C`,
        # `<-time.After(d)`); a `Wait()` on a field (`x.f.Wait()`) or in a file that
        # declares a WaitGroup. A range over a field channel is looked at only in files
        # that also send or receive.
        if (says(source, b"<-") or says(source, b"range")) and says(source, MADE_CHANNEL):
            return True
        if says(source, b"<-") and says(source, SELECTOR_CHANNEL_OPERATION):
            return True
        if says(source, b".Stop()") and says(source, TIMER_DRAIN):
            return True
        return says(source, b".Wait()") and (says(source, b"WaitGroup") or says(source, FIELD_WAIT))

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        found = [
            *self._local_channels(source),
            *self._field_channels(source),
            *self._sync_fields(source),
            *self._local_waitgroups(source),
            *self._endless_wait_loops(source),
            *self._stale_timer_drains(source),
            *self._sends_before_receivers(source),
        ]
        return sorted(found, key=lambda d: (d.start, d.end, d.message))

    # -- channels the function makes --------------------------------------------------
    def _local_channels(self, source: SourceFile) -> Iterator[Diagnostic]:
        if b"make(" not in source.data:
            return
        channels = source.facts(Channels)
        for function in nodes_of_types(source, syntax.FUNCTION_KINDS):
            text = source.text(function)
            if b"make(" not in text or b"chan" not in text:
                continue  # makes no channel
            given = made_channel_names(text)
            if given is not None and not any(_passed_somewhere(text, name) for name in given):
                continue  # no channel it makes is handed to a call: the bytes say so, before the scopes
            for made in channels.made_in(function):
                if made.make.direction is not Direction.BOTH or not _passed_somewhere(text, made.name):
                    continue
                uses = channels.uses(function, made.declaration).uses
                handed = self._handed_to(source, function, uses)
                if not handed:
                    continue
                for wait in (u for u in uses if u.kind in (UseKind.RECEIVE, UseKind.RANGE) and _waits(u.kind, u.node, u.select_case)):
                    names = ", ".join(sorted({callee.name.decode() for callee, _ in handed}))
                    message = (
                        f"{made.name.decode()} is made at line {source.line_col(made.statement.start_byte)[0]} "
                        f"and handed only to {names}, which neither sends on it nor closes it, and nothing else in the package can: "
                        "this receive waits for ever"
                    )
                    found = self._close_in_callee(source, handed)
                    if isinstance(found, NoFix):
                        yield self.diagnostic(wait.node, found.annotate(message))
                    else:
                        fix, closed = found
                        callee = handed[0][0].name.decode()
                        note = f"whoever receives from it now wakes when {callee} returns, with the zero value"
                        yield self.diagnostic(wait.node, f"{message}; defer close({closed}) at the top of {callee} (unsafe: {note})", fix)
                    break

    def _close_in_callee(self, source: SourceFile, handed: list[tuple[FunctionInfo, int]]) -> tuple[Fix, str] | NoFix:
        """`defer close(p)` at the top of the one callee the channel is handed to, when
        that call is the package's only use of the callee and the callee is this file's:
        the fix and the parameter it closes."""
        if len(handed) != 1:
            return NoFix("the channel is handed to more than one call")
        callee, index = handed[0]
        name = callee.name.decode()
        if callee.source is not source:
            return NoFix(f"{name} is declared in another file")
        if source.facts(PackageIndex).reachable_from_outside(callee.name):
            return NoFix(f"other packages may call {name} with a channel someone else closes")
        parameter = syntax.parameter_name_at(syntax.parameter_list(callee.node), index)
        stated = syntax.parameter_type(callee.node, parameter)
        if parameter is None or source.text(parameter) == b"_" or not syntax.is_channel_type(stated) or syntax.channel_direction(stated) == "receive":
            return NoFix(f"{name}'s parameter cannot be closed as it is declared")
        if source.facts(PackageIndex).mentions(callee.name) != 2:
            return NoFix(f"{name} is used elsewhere in the package, with channels this finding did not look at")
        body = syntax.function_body(callee.node)
        first = syntax.statements(body)[0] if body is not None else None
        edit = insert_before(source, first, [b"defer close(" + source.text(parameter) + b")"]) if first is not None else None
        if edit is None:
            return NoFix(f"{name}'s first statement shares its line with other code")
        closed = source.text(parameter).decode()
        return Fix(f"Close {closed} when {name} returns", (edit,), Applicability.UNSAFE), closed

    def _handed_to(self, source: SourceFile, function: Node, uses: list[ChannelUse]) -> list[tuple[FunctionInfo, int]]:
        """The package functions the channel is handed to (with the argument's position),
        when those are its only uses besides receiving (and each neither sends on it,
        closes it nor lets it go); else none."""
        summaries = source.facts(CallSummaries)
        resolver = source.facts(FieldChannels).resolver(source, function)
        handed: list[tuple[FunctionInfo, int]] = []
        for use in uses:
            if use.kind in (UseKind.RECEIVE, UseKind.RANGE, UseKind.LEN_CAP):
                continue
            if use.kind is not UseKind.PASSED or use.argument_index < 0:
                return []
            callee = resolver.callee(use.node)
            if callee is None:
                return []
            body = syntax.function_body(callee.node)
            if body is None or not syntax.statements(body):
                return []  # a stub (`func fetch(ch chan T) {}`): its body is left to the reader
            effects = summaries.argument_effects(callee, use.argument_index)
            if effects is None or effects.sends or effects.closes or effects.escapes or effects.async_use or effects.in_closure:
                return []
            handed.append((callee, use.argument_index))
        return handed

    # -- channels held in struct fields -------------------------------------------------
    def _field_channels(self, source: SourceFile) -> Iterator[Diagnostic]:
        if b"<-" not in source.data:
            return  # ranges only (applies_to): left to files that send or receive
        fields = source.facts(FieldChannels)
        if not fields.may_be_unserved(source):
            return  # decided from the bytes: the package's field channels need not be computed
        reported: set[tuple[bytes, bytes, bool]] = set()
        for op in fields.ops_in(source):
            if op.kind not in (FieldOpKind.RECEIVE, FieldOpKind.RANGE, FieldOpKind.SEND) or not _waits(op.kind, op.node, op.select_case):
                continue
            sending = op.kind is FieldOpKind.SEND
            if sending and held_at(source, op.function, op.node):
                continue  # a send made holding a lock: blocked-holding-lock says more about it
            key = (op.type_name, op.field)
            if (*key, sending) in reported or not fields.never_served(op):
                continue
            reported.add((*key, sending))
            made = [o for o in fields.ops(*key) if o.kind is FieldOpKind.MADE]
            spelled = f"{op.type_name.decode()}.{op.field.decode()}"
            seen = "(through the field, an alias, a getter or a function it is passed to)"
            if sending:
                capacity = next((m.make.capacity for m in made if m.make is not None and m.make.buffered), None)
                held = "at once" if capacity is None else f"once {_spelled(made[0].source, capacity)} values are waiting (at once if that is 0)"
                message = (
                    f"{_spelled(source, op.expression)} is sent on, but {spelled}, made at {_where(made[0])}, is received from by no "
                    f"function or method of the package {seen}: this send blocks for ever {held}"
                )
            else:
                message = (
                    f"{_spelled(source, op.expression)} waits on {spelled}, made at {_where(made[0])}, which no function or method "
                    f"of the package sends on or closes {seen}: this receive waits for ever"
                )
            stop = local_stop(source, fields, op) if op.select_case is None else None
            if stop is None:
                yield self.diagnostic(op.node, NoFix(_NO_FIX).annotate(message))
                continue
            # The function already stops on a signal the operation ignores: waiting on it
            # too can only end a wait that would otherwise last for ever.
            fix = stop_fix(source, fields, op, stop)
            if isinstance(fix, NoFix):
                yield self.diagnostic(op.node, fix.annotate(f"{message}; it should also wait on {stop.text.decode()}"))
            else:
                yield self.diagnostic(op.node, f"{message}; wait on {stop.text.decode()} too ({stop.why})", fix)

    # -- sync.Cond and sync.WaitGroup fields --------------------------------------------
    def _sync_fields(self, source: SourceFile) -> Iterator[Diagnostic]:
        fields = source.facts(SyncFields)
        for call in _wait_calls(source):
            operand = syntax.unparen(syntax.selector_parts(syntax.callee(call))[0])  # type: ignore[index]
            key = fields.field_of(source, operand) if syntax.is_selector(operand) else None
            if key is None:
                continue
            spelled, field, owner = _spelled(source, operand), key[1].decode(), f"{key[0].decode()}.{key[1].decode()}"
            if fields.unsignalled_cond(key):
                message = (
                    f"{spelled}.Wait() waits on the sync.Cond {owner}, which nothing in the package signals: "
                    f"no {field}.Signal() or {field}.Broadcast(), and no other use of a field {field} that could lead to one; "
                    "this Wait never returns"
                )
            elif fields.never_done_waitgroup(key):
                message = (
                    f"{spelled}.Wait() waits on the sync.WaitGroup {owner}, which the package adds to and never marks done: "
                    f"no {field}.Done(), and no other use of a field {field} that could lead to one; once anything was added, "
                    "this Wait never returns"
                )
            else:
                continue
            yield self.diagnostic(call, NoFix(_NO_FIX).annotate(message))

    # -- a Wait in a loop nothing can end -----------------------------------------------
    def _endless_wait_loops(self, source: SourceFile) -> Iterator[Diagnostic]:
        for call in _wait_calls(source):
            statement = call.parent
            loop = syntax.loop_of_body_statement(statement) if statement is not None and syntax.is_expression_statement(statement) else None
            if loop is None or syntax.for_clause(loop) is not None or syntax.range_clause(loop) is not None:
                continue  # only `for cond { … }`
            if control.loop_exits(source, loop):
                continue
            flag = _loop_flag(source, loop)
            if flag is None:
                continue
            name, declared = flag
            message = (
                f"{_spelled(source, call)} waits in a loop that runs while {name} holds, and nothing changes {name} after "
                f"line {source.line_col(declared.start_byte)[0]}: however often it is woken, it waits again, for ever"
            )
            yield self.diagnostic(call, NoFix("what should end the loop is for the code to say").annotate(message))

    # -- a send made before the only receivers are started ----------------------------
    def _sends_before_receivers(self, source: SourceFile) -> Iterator[Diagnostic]:
        candidates = _sends_before_spelled_receivers(source)
        if not candidates:
            return  # decided from the file alone: the package's field channels are not needed
        fields = source.facts(FieldChannels)
        for send in candidates:
            op = fields.op_at(source, send)
            if op is None or op.kind is not FieldOpKind.SEND or held_at(source, op.function, send):
                continue
            key = (op.type_name, op.field)
            if fields.escape(*key) is not None or fields.embedded(op.type_name):
                continue
            ops = fields.ops(*key)
            made_ops = [o for o in ops if o.kind is FieldOpKind.MADE]
            made = [o.make for o in made_ops if o.make is not None]
            if not made or len(made) != len(made_ops):
                continue
            if any(o.kind is FieldOpKind.SET for o in ops):
                continue  # the field may hold another channel, with other receivers
            receivers = [o for o in ops + fields.unknown_owner(op.field) if o.kind in (FieldOpKind.RECEIVE, FieldOpKind.RANGE)]
            if not receivers or not all(_started_after(r, op) for r in receivers):
                continue
            others = [o for o in ops if o.kind is FieldOpKind.SEND and not syntax.same_node(o.node, send)]
            capacities = {_squeezed(o.source, o.make.capacity) if o.make is not None and o.make.capacity is not None else b"0" for o in made_ops}
            if any(m.unbuffered for m in made):
                if len(made) != 1:
                    continue
                filled = "unbuffered, it waits for a receiver at once"
            elif len(capacities) == 1 and all(syntax.is_basic_literal(m.capacity) for m in made) and others:
                places = capacities.pop().decode()
                filled = f"its buffer of {places} may be full already: the package also sends on it at {', '.join(_where(o) for o in others[:3])}"
            else:
                continue
            channel = _spelled(source, op.expression)
            first = min(receivers, key=lambda r: r.node.start_byte)
            message = (
                f"{channel} is sent on before the function starts the only receivers of {op.type_name.decode()}.{op.field.decode()} "
                f"(line {first.line}); {filled}, and then this send waits for ever"
            )
            fix = _send_without_waiting(source, op, made_ops, receivers)
            if isinstance(fix, NoFix):
                yield self.diagnostic(send, fix.annotate(message))
            else:
                yield self.diagnostic(send, f"{message}; send only if there is room (the wake-up already waiting stands for this one)", fix)

    # -- a timer drained after another case took its value ----------------------------
    def _stale_timer_drains(self, source: SourceFile) -> Iterator[Diagnostic]:
        for found in stale_drains(source, source.facts(PackageIndex)):
            timer = found.timer.decode("utf-8", "replace")
            taker_line = source.line_col(found.taker.start_byte)[0]
            message = (
                f"<-{timer}.C waits for a value the timer no longer holds: the `case <-{timer}.C:` at line {taker_line} "
                f"takes it, and nothing re-arms {timer} before this case can run on a later turn, so {timer}.Stop() "
                "returns false and the receive waits for ever"
            )
            fix = _drain_without_waiting(source, found.drain)
            if isinstance(fix, NoFix):
                yield self.diagnostic(found.drain, fix.annotate(message))
            else:
                yield self.diagnostic(found.drain, f"{message}; drain it only if a value is there", fix)

    # -- WaitGroups the function declares ------------------------------------------------
    def _local_waitgroups(self, source: SourceFile) -> Iterator[Diagnostic]:
        if b"WaitGroup" not in source.data:
            return
        for function in nodes_of_types(source, syntax.DECLARED_FUNCTION_KINDS):
            if b"WaitGroup" not in source.text(function):
                continue  # declares no WaitGroup: `var wg sync.WaitGroup` and `&sync.WaitGroup{}` say it
            scopes = source.scopes(function)
            for declaration in scopes.declarations():
                if declaration.kind not in ("var", "short") or not states_waitgroup(source, declaration):
                    continue
                if declaration.type_node is not None and syntax.is_pointer_type(syntax.unparen_type(declaration.type_node)):
                    continue  # a pointer: the WaitGroup may be anyone's
                uses = [(r, use_of(source, r, ValueKind.WAITGROUP)) for r in scopes.references(declaration)]
                waits = [r for r, use in uses if use == WAITS]
                if not waits:
                    continue
                name = declaration.name.decode()
                if never_done(use for _, use in uses):
                    message = (
                        f"{name}.Wait() waits on a sync.WaitGroup the function adds to and never marks done: "
                        f"no {name}.Done(), and no other use of {name} that could lead to one; this Wait never returns"
                    )
                    yield self.diagnostic(_call_of_method(waits[0]), NoFix(_NO_FIX).annotate(message))
                    continue
                for wait in waits:
                    found = _wait_in_starting_loop(source, declaration, uses, wait)
                    if found is not None:
                        yield self.diagnostic(*found)


RULE = NeverWoken()

_NO_FIX = "which code should signal it is a design decision the code does not state"


def _waits(kind, node: Node, case: Node | None) -> bool:
    """A receive or range that waits on this channel alone: not one case among others
    of a select (a lone case with no default waits the same)."""
    if kind in (UseKind.RANGE, FieldOpKind.RANGE):
        return True
    if case is None:
        return True
    select = case.parent
    return select is not None and syntax.is_select(select) and len(syntax.switch_cases(select)) == 1


def _wait_in_starting_loop(source: SourceFile, declaration, uses: list[tuple[Node, str]], wait: Node) -> tuple[Node, str, Fix | None] | None:
    """`wg.Add(len(xs))` before `for … range xs { go …; wg.Wait() }`: the first turn's
    Wait waits for goroutines the loop starts only after it returns. ``uses``: every
    reference to the WaitGroup with what it does (``use_of``). The finding, its message
    and its fix (the Wait moved after the loop), or None."""
    call = _call_of_method(wait)
    statement = call.parent
    if statement is None or not syntax.is_expression_statement(statement):
        return None
    loop = syntax.loop_of_body_statement(statement)
    over = syntax.range_operand(loop) if loop is not None else None
    if loop is None or over is None or syntax.next_statement(statement) is not None:
        return None  # the Wait is not the last statement of a range loop's body
    references = [r for r, _ in uses]
    adds = [r for r, use in uses if use == ADDS]
    if len(adds) != 1 or syntax.is_inside(adds[0], loop):
        return None
    add = _call_of_method(adds[0])
    add_statement = add.parent
    counted = syntax.unparen(syntax.call_arguments(add)[0])
    if add_statement is None or not syntax.same_node(add_statement.parent, loop.parent) or add_statement.start_byte > loop.start_byte:
        return None
    if not (syntax.is_builtin_call(counted, b"len") and _squeezed(source, syntax.call_arguments(counted)[0]) == _squeezed(source, over)):
        return None  # counts something else than one goroutine per element
    starts = [g for g in syntax.statements(syntax.body(loop)) if syntax.is_go(g)]
    if len(starts) != 1 or not any(syntax.is_inside(r, starts[0]) for r in references):
        return None  # not one goroutine per turn that marks the group done
    if any(syntax.is_break(j) or syntax.is_continue(j) for j in syntax.walk_no_funcs(syntax.body(loop)) if syntax.same_node(control.jump_target(j), loop)):
        return None  # a turn may leave before the Wait
    name = declaration.name.decode()
    message = (
        f"{name}.Wait() waits, on the loop's first turn, for all the goroutines {_spelled(source, add)} at line "
        f"{source.line_col(add.start_byte)[0]} counts, one per element of {_spelled(source, over)}, but the loop starts the next "
        "one only after Wait returns: with two elements or more it never does"
    )
    removed = delete_line(source, statement, with_comment=True)
    moved = insert_after(source, loop, [line_text(source, statement)])
    if removed is None or moved is None:
        return call, NoFix("the Wait or the loop shares its line with other code").annotate(message), None
    fix = Fix(f"Wait for the goroutines after the loop: move {name}.Wait() below it", (removed, moved), Applicability.SAFE)
    return call, message, fix


def _sends_before_spelled_receivers(source: SourceFile) -> list[Node]:
    """Sends on a selector (`x.f <- v`) standing in a declared function's body, outside any
    loop, select or function literal, when the function spells a receive from or a range
    over that same selector later on: a cheap, necessary condition, read from the file
    alone."""
    if not says(source, SELECTOR_SEND):
        return []  # no send on a selector: the file's channel operations need not be found
    found = []
    for send in nodes_of_types(source, (*syntax.CHANNEL_OPERATION_KINDS,)):
        if not syntax.is_send(send):
            continue
        channel = syntax.send_channel(send)
        if channel is None or not syntax.is_selector(syntax.unparen(channel)):
            continue
        function = syntax.enclosing_function(send)
        if not syntax.is_declared_function(function):
            continue
        if any(syntax.is_loop(a) or syntax.is_select(a) for a in syntax.ancestors(send) if syntax.is_inside(a, function) and not syntax.same_node(a, function)):
            continue
        spelled = re.escape(source.text(syntax.unparen(channel)))
        later = source.data[send.end_byte : function.end_byte]
        if re.search(rb"(<-\s*|\brange\s+)" + spelled + rb"(?![\w.(\[])", later):
            found.append(send)
    return found


def _started_after(receiver: FieldOp, send: FieldOp) -> bool:
    """Is ``receiver`` a serving loop the send's own function starts after the send: a
    receive in a loop of a function literal written there (or a range over the channel)?
    It cannot run before the send does. A receive that is not in a loop of its own
    goroutine is left alone: a semaphore's release (`defer func() { <-s.tokens }()`)
    runs once per send, and earlier calls of the function started the ones that free
    this send's place. A receiver reached through a call may be anywhere."""
    if receiver.source is not send.source or receiver.via.startswith("call"):
        return False
    if not syntax.is_inside(receiver.node, send.function) or receiver.node.start_byte <= send.node.end_byte:
        return False
    if receiver.kind is FieldOpKind.RANGE:
        looped = True
    else:
        looped = False
        for ancestor in syntax.ancestors(receiver.node):
            if syntax.is_loop(ancestor):
                looped = True
            if syntax.is_function(ancestor):
                break
    return looped and syntax.is_function_literal(syntax.enclosing_function(receiver.node))


def _send_without_waiting(source: SourceFile, op: FieldOp, made: list[FieldOp], receivers: list[FieldOp]) -> Fix | NoFix:
    """`x.f <- struct{}{}` as `select { case x.f <- struct{}{}: default: }`, for a buffered
    channel of empty structs whose receivers never keep the value: a wake-up signal, where
    one waiting in the buffer wakes the receiver as well as two would."""
    if any(m.make is None or m.make.unbuffered for m in made):
        return NoFix("unbuffered: a send that does not wait would always be dropped; start the receivers before it")
    elements = {_element_spelled(m) for m in made}
    if elements != {b"struct{}"}:
        return NoFix("the values sent may matter: only a wake-up signal (chan struct{}) may be dropped when one is waiting")
    if any(r.kind is FieldOpKind.RECEIVE and _value_kept(r.node) for r in receivers):
        return NoFix("a receiver keeps the value it receives")
    edit = _without_waiting(source, op.node)
    if edit is None:
        return NoFix("the send shares its line with other code")
    return Fix("Send the wake-up only if there is room", (edit,), Applicability.UNSAFE)


def _element_spelled(made: FieldOp) -> bytes | None:
    element = syntax.channel_element(made.make.type) if made.make is not None else None
    return _squeezed(made.source, element) if element is not None else None


def _value_kept(receive: Node) -> bool:
    """Is the value of ``receive`` (a `<-x.f` expression) used: anything but a statement of
    its own or a select case that drops it."""
    parent = receive.parent
    while syntax.is_parenthesized(parent):
        parent = parent.parent
    if parent is None:
        return True
    if syntax.is_expression_statement(parent):
        return False
    if syntax.is_receive_statement(parent):
        return any(n.text != b"_" for n in syntax.left_side(parent))
    return True


def _drain_without_waiting(source: SourceFile, drain: Node) -> Fix | NoFix:
    """`<-t.C` as `select { case <-t.C: default: }`: it takes a value that is there and
    goes on when there is none, where the receive waited for ever."""
    edit = _without_waiting(source, drain)
    if edit is None:
        return NoFix("the drain shares its line with other code")
    return Fix("Drain the timer's channel without waiting", (edit,), Applicability.SAFE)


def _without_waiting(source: SourceFile, operation: Node) -> Edit | None:
    """A send or receive statement as `select { case OP: default: }`, which goes on where
    the statement would wait (None when it shares its lines with other code)."""
    if not starts_line(source, operation) or not ends_line(source, operation) or b"\n" in source.text(operation):
        return None
    indent, nl = source.indentation(operation.start_byte), source.newline
    text = b"select {" + nl + indent + b"case " + source.text(operation) + b":" + nl + indent + b"default:" + nl + indent + b"}"
    return Edit(operation.start_byte, operation.end_byte, text)


def _loop_flag(source: SourceFile, loop: Node) -> tuple[str, Node] | None:
    """For `for flag {` or `for !flag {` on a local the function declares and never writes
    after (nor takes the address of, nor uses in a function literal): the flag's name and
    its declaration."""
    condition = syntax.condition(loop)
    if condition is None:
        return None
    test = syntax.unparen(condition)
    if syntax.is_unary(test, b"!"):
        operand = syntax.unary_operand(test)
        test = syntax.unparen(operand) if operand is not None else test
    function = syntax.enclosing_function(loop)
    if not syntax.is_identifier(test) or function is None:
        return None
    scopes = source.scopes(syntax.outermost_function(function) or function)
    declaration = scopes.resolve(test)
    if declaration is None or declaration.kind not in ("short", "var") or not syntax.same_node(syntax.enclosing_function(declaration.statement), function):
        return None
    for reference in scopes.references(declaration):
        if access(reference) is not Access.READ or not syntax.same_node(syntax.enclosing_function(reference), function):
            return None
    return declaration.name.decode(), declaration.statement


def _passed_somewhere(text: bytes, name: bytes) -> bool:
    """Do the bytes of a function show ``name`` as an argument of a call (`f(a, name)`),
    as a channel handed to a callee must be?"""
    return re.search(rb"[(,]\s*" + re.escape(name) + rb"\s*[,)]", text) is not None


def _squeezed(source: SourceFile, node: Node) -> bytes:
    return b"".join(source.text(node).split())


def _wait_calls(source: SourceFile) -> Iterator[Node]:
    """`X.Wait()` calls of the file."""
    for call in method_calls_named(source, b"Wait"):
        if not syntax.call_arguments(call):
            yield call


def _call_of_method(reference: Node) -> Node:
    """The call `x.M()` of the method selected on the identifier ``reference``."""
    selector = reference.parent
    call = selector.parent if selector is not None else None
    return call if call is not None and syntax.is_call(call) else reference


def _where(op: FieldOp) -> str:
    return f"{os.path.basename(getattr(op.source, 'path', ''))}:{op.line}"


def _spelled(source: SourceFile, node: Node) -> str:
    return " ".join(source.text(node).decode("utf-8", "replace").split())
