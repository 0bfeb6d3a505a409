"""blocked-field-channel: a send or receive on a struct's channel field that blocks for
ever once the goroutine serving the channel has stopped."""

from __future__ import annotations

from typing import Iterable

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.fieldchannels import (
    FieldChannels,
    FieldOp,
    FieldOpKind,
    StopCase,
    enclosing_stop,
    runs_after,
    stop_cases,
    unconditional_after,
)
from gofix_defer.codemods.analysis.index import PackageIndex, ValueKind
from gofix_defer.codemods.analysis.scope import Scopes
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.edits.field_stop import StopSignal, local_stop, stop_fix
from gofix_defer.codemods.model import Applicability, Diagnostic, NoFix, Rule

_PARTNERS = {
    FieldOpKind.SEND: (FieldOpKind.RECEIVE, FieldOpKind.RANGE),
    FieldOpKind.RECEIVE: (FieldOpKind.SEND, FieldOpKind.CLOSE),
}


class BlockedFieldChannel(Rule):
    """
    ## What it does
    Finds a send on, or a receive from, a channel held in a struct field
    (`s.ch`) that waits on nothing else, while the goroutine at the other
    end can stop: every receive (for a send) or send (for a receive) the
    package makes on `s.ch` sits in a `select` with a case that stops
    waiting — `case <-s.stop: return`, `case <-ctx.Done(): return`, a timeout.
    It also finds such an operation inside the case body or `default` of a
    `select` of its own function that can stop: the function knows the
    stop signal, but the operation ignores it.

    The package is read as a whole (the methods of the type, its
    constructors, the functions the channel is passed to, local aliases
    `c := s.ch` and getters `func (s *S) C() chan T { return s.ch }`).
    Left alone: a channel some other package can reach (an exported field
    or getter of an exported type outside `package main`, a channel passed
    to or stored where the analysis does not follow, a field set from a
    parameter), a serving loop that never stops (`for v := range s.ch`, a
    `select` with no stop case), a serving loop that stops only on a signal
    its caller hands it (`func (a *agent) Run(ctx context.Context)` stopping
    on `ctx.Done()`: a service's context usually lasts as long as the
    process, and the rule cannot see how long; it was a false report 5 times
    in 6 on real code), a use of `x.ch` whose `x` has no stated
    type, and an operation that already sits in a `select`. Also left alone,
    as the order is fixed: a send on a channel the package closes from another
    function (the close releases the sender, with a panic: a bug of another
    kind); a stop signal nothing in the package sends or closes; a stop signal
    only the operation's own function gives, after the operation (the
    serving side waits for it: `<-s.stop; close(s.done)`); and an operation
    of a test function on a value it makes, when the test calls nothing that
    may signal the stop before it (only its deferred clean-up, or, for a
    goroutine the test starts, nothing at all).

    ## Why is this bad
    Once the serving goroutine has returned, nobody will ever take the value
    or send one: the method blocks for ever, with its goroutine and
    everything it holds (GoKer's etcd#6857, kubernetes#25331,
    cockroach#1462).

    ## Example
    ```go
    func (n *node) Status() Status {
        c := make(chan Status)
        n.status <- c // blocks for ever once run has returned
        return <-c
    }

    func (n *node) run() {
        for {
            select {
            case c := <-n.status:
                c <- Status{}
            case <-n.stop:
                close(n.done)
                return
            }
        }
    }
    ```

    ## Fix
    Wait on the same stop signal the serving goroutine stops on:
    ```go
        select {
        case n.status <- c:
        case <-n.done:
            return Status{}
        }
    ```
    The signal is, in this order: a stop case of the operation's own
    `select`; a channel field the serving goroutine closes when it stops
    (`close(n.done)` in the stop case, or `defer close(n.done)`); the
    stopping channel itself when it is a field the package only ever closes
    (never sends on: waiting on a channel that carries one stop message
    would steal it); `s.ctx.Done()` for a context field. The case then
    returns (zero values for unnamed results, a bare `return` for named
    ones), or does nothing when the operation is the function's last
    statement. No fix (report only) when the serving goroutine stops on
    something the operation cannot reach (its own `ctx` parameter, a
    timeout), or the operation sits inside an expression.

    ## Fix safety
    Unsafe: once the serving goroutine has stopped the value is dropped (or
    not received) and the function returns early: callers that relied on
    the operation completing no longer wait for it. Opt in with
    `--unsafe-fixes`.
    """

    name = "blocked-field-channel"
    summary = "Send or receive on a struct's channel field blocks for ever once the goroutine serving it stops"
    fix_availability = "sometimes"
    opt_in = (
        "9 of 13 findings on Debian's Go sources were real (precision/blocked-field-channel.tsv): whether the"
        " serving goroutine can stop while callers remain is lifecycle the rule often cannot see"
    )
    applicability = Applicability.UNSAFE
    triggers = (b"<-",)  # every send and receive spells it
    requires = (Scopes, PackageIndex, FieldChannels)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        fields = source.facts(FieldChannels)
        if not fields.channel_fields():
            return
        for op in fields.ops_in(source):
            if op.kind not in _PARTNERS or op.in_select:
                continue
            found = self._check(source, fields, op)
            if found is not None:
                yield found

    def _check(self, source: SourceFile, fields: FieldChannels, op: FieldOp) -> Diagnostic | None:
        if fields.escape(op.type_name, op.field) is not None:
            return None
        if not fields.unbuffered(op.type_name, op.field):
            return None  # a buffered channel: a queue, a pool or a semaphore, whose protocol is its own
        wanted = _PARTNERS[op.kind]
        if any(u.kind in wanted for u in fields.unknown_owner(op.field)):
            return None  # an `x.ch` of unknown type may be the other side
        all_ops = fields.ops(op.type_name, op.field)
        if any(o.kind is FieldOpKind.LEN_CAP for o in all_ops):
            return None  # len/cap: a buffered channel used as a queue, its protocol is elsewhere
        if op.kind is FieldOpKind.SEND and _closed_elsewhere(fields, op):
            return None  # a close of the channel releases the sender (with a panic): it does not block for ever
        partners = [p for p in all_ops if p.kind in wanted and not syntax.same_node(p.node, op.node)]
        local = [s for s in enclosing_stop(source, op.node, op.function)]
        serving: list[tuple[FieldOp, list[StopCase]]] = []
        for partner in partners:
            select = partner.select_case.parent if partner.select_case is not None else None
            stops = stop_cases(partner.source, select, besides=partner.select_case) if select is not None else []
            # Stops that cannot come before the operation: signalled by its own function after
            # it, never signalled, or signalled only after a test's step.
            stops = [
                case
                for case in stops
                if not _signalled_after(fields, op, partner, case)
                and not _stops_after_test_step(source, fields, op, partner, case)
                and (local or not _given_signal(partner, case))
            ]
            if not stops:
                serving = []
                break  # this partner waits with no way out: it may serve the operation yet
            serving.append((partner, stops))
        if partners and not serving:
            return None  # a serving loop that never stops: it will take the value
        if not partners and (not local or (fields.may_be_unserved(source) and fields.never_served(op))):
            return None  # nobody in the package serves it: never-woken's finding (and fix, when the function knows a stop)
        what = _describe(source, op)
        if serving:
            partner, stops = serving[0]
            where = f"{_function_name(partner)} (line {partner.line})"
            message = f"{what} blocks for ever once {where} has stopped on {_text(partner.source, stops[0].channel)}: it waits on nothing else"
        else:
            message = f"{what} blocks for ever: nothing in the package {'receives from' if op.kind is FieldOpKind.SEND else 'sends on or closes'} it, and the function's select stops on {_text(source, local[0].channel)}"
        stop = local_stop(source, fields, op) or self._server_stop(source, fields, op, serving)
        if stop is None:
            reason = "the serving goroutine stops on a signal this function cannot reach" if serving else "the stop signal is not a channel this operation can wait on again"
            return self.diagnostic(op.node, NoFix(reason).annotate(message), None)
        fix = stop_fix(source, fields, op, stop)
        if isinstance(fix, NoFix):
            return self.diagnostic(op.node, fix.annotate(message + f"; it should also wait on {stop.text.decode()}"), None)
        return self.diagnostic(op.node, message + f"; wait on {stop.text.decode()} too ({stop.why})", fix)

    # -- the stop signal --------------------------------------------------------------
    def _server_stop(self, source: SourceFile, fields: FieldChannels, op: FieldOp, serving: list[tuple[FieldOp, list[StopCase]]]) -> StopSignal | None:
        if op.owner is None or not syntax.is_plain_path(op.owner):
            return None
        owner = source.text(op.owner)
        info = fields.type_info(op.type_name)
        for partner, stops in serving:
            for case in stops:
                # The serving goroutine closes a field when it stops: wait for that.
                for closed in _closed_fields(fields, op.type_name, partner, case):
                    return StopSignal(b"<-" + owner + b"." + closed, f"{_function_name(partner)} closes it when it stops")
                channel = case.channel
                parts = syntax.selector_parts(channel)
                if parts is not None and partner.owner is not None and _same_text(partner.source, parts[0], partner.owner):
                    name = partner.source.text(parts[1])
                    if _closed_only(fields, op.type_name, name):
                        return StopSignal(b"<-" + owner + b"." + name, f"{_function_name(partner)} stops when it is closed")
                done = syntax.selector_call(channel)
                if done is not None and partner.source.text(done[1]) == b"Done" and partner.owner is not None:
                    context = syntax.selector_parts(done[0])
                    if context is not None and _same_text(partner.source, context[0], partner.owner):
                        name = partner.source.text(context[1])
                        declared = info.field(name) if info is not None else None
                        if declared is not None and declared.kind is ValueKind.CONTEXT:
                            return StopSignal(b"<-" + owner + b"." + name + b".Done()", f"{_function_name(partner)} stops when it is cancelled")
        return None

RULE = BlockedFieldChannel()


def _describe(source: SourceFile, op: FieldOp) -> str:
    channel = _text(source, op.expression)
    if op.kind is FieldOpKind.SEND:
        return f"the send on {channel}"
    return f"the receive from {channel}"


def _text(source, node: Node) -> str:
    return " ".join(source.text(node).decode("utf-8", "replace").split())


def _function_name(op: FieldOp) -> str:
    function = op.function
    if syntax.is_function_literal(function):
        outer = syntax.outermost_function(function)
        name = syntax.function_name(outer) if outer is not None else None
        return f"a goroutine in {name.text.decode()}" if name is not None and name.text else "a function literal"
    name = syntax.function_name(function)
    return name.text.decode() if name is not None and name.text else "a function"


def _same_text(source, a: Node, b: Node) -> bool:
    return b"".join(source.text(a).split()) == b"".join(source.text(b).split())


def _closed_only(fields: FieldChannels, type_name: bytes, name: bytes) -> bool:
    """A channel field of the type that the package closes and never sends on or resets."""
    if (type_name, name) not in set(fields.channel_fields()) or fields.escape(type_name, name) is not None:
        return False
    ops = fields.ops(type_name, name)
    if any(o.kind in (FieldOpKind.SEND, FieldOpKind.SET) for o in ops) or fields.unknown_owner(name):
        return False
    return any(o.kind is FieldOpKind.CLOSE for o in ops)


def _closed_elsewhere(fields: FieldChannels, op: FieldOp) -> bool:
    """The package closes the channel ``op`` sends on from another function than the
    send's own (a close there, after the send, would not release it)."""
    if any(u.kind is FieldOpKind.CLOSE for u in fields.unknown_owner(op.field)):
        return True
    return any(o.kind is FieldOpKind.CLOSE and not (_same_file(o.source, op.source) and syntax.same_node(o.function, op.function)) for o in fields.ops(op.type_name, op.field))


def _signalled_after(fields: FieldChannels, op: FieldOp, partner: FieldOp, case: StopCase) -> bool:
    """The partner's stop case waits on a field of its own value (`<-x.done`) that only the
    operation's function signals, after the operation: the partner can stop on it only
    once the operation is done (`<-s.stop; close(s.done)` against
    `select { case s.stop <- v: case <-s.done: }`). One unconditional close after the
    operation is enough: a second closer would panic, so none closes it before."""
    parts = syntax.selector_parts(case.channel)
    if parts is None or partner.owner is None or op.owner is None or not _same_text(partner.source, parts[0], partner.owner):
        return False
    name = partner.source.text(parts[1])
    if (op.type_name, name) not in set(fields.channel_fields()):
        return False
    signals = [o for o in fields.ops(op.type_name, name) if o.kind in (FieldOpKind.SEND, FieldOpKind.CLOSE)]
    own = [
        s
        for s in signals
        if _same_file(s.source, op.source)
        and syntax.same_node(s.function, op.function)
        and s.owner is not None
        and _same_text(op.source, s.owner, op.owner)
        and runs_after(op.node, s.node, op.function)
    ]
    if any(s.kind is FieldOpKind.CLOSE and unconditional_after(op.node, s.node, op.function) for s in own):
        return True
    if not signals or len(own) != len(signals) or fields.escape(op.type_name, name) is not None:
        return False
    return not any(u.kind in (FieldOpKind.SEND, FieldOpKind.CLOSE) for u in fields.unknown_owner(name))


def _given_signal(partner: FieldOp, case: StopCase) -> bool:
    """The partner stops on a signal its caller hands it: `<-ctx.Done()`, `<-stop`,
    `<-stream.Context().Done()` for a parameter (not the receiver) of the serving
    function. The serving loop then lives as long as its caller says, and the caller's
    lifecycle is out of sight: a service's context usually lasts the process, and the
    callers of the blocked method with it (6 such reports on Debian's Go sources and
    the stdlib, 1 real). Asked only when the operation's own function knows no stop
    signal: one in a select that stops on `s.stopper.ShouldStop()` knows the
    lifecycle, and ignoring that signal in the operation is the bug."""
    node = _call_chain_root(case.channel)
    root = syntax.root_identifier(node) if node is not None else None
    if root is None:
        return False
    outer = syntax.outermost_function(partner.function) or partner.function
    decl = partner.source.scopes(outer).resolve(root)
    return decl is not None and decl.kind == "param"


def _call_chain_root(node: Node) -> Node | None:
    """The operand a chain of calls and selectors starts from: `s.ctx.Done()` -> s.ctx,
    `stream.Context().Done()` -> stream."""
    node = syntax.unparen(node)
    while syntax.is_call(node):
        callee = syntax.callee(node)
        parts = syntax.selector_parts(syntax.unparen(callee)) if callee is not None else None
        if parts is None:
            return None  # a plain call (`time.After(d)` has a selector; `after(d)` names a function)
        node = syntax.unparen(parts[0])
    return node


def _stop_field(fields: FieldChannels, op: FieldOp, partner: FieldOp, case: StopCase) -> bytes | None:
    """The channel field of the partner's own value its stop case waits on (`<-x.done`)."""
    parts = syntax.selector_parts(case.channel)
    if parts is None or partner.owner is None or not _same_text(partner.source, parts[0], partner.owner):
        return None
    name = partner.source.text(parts[1])
    return name if (op.type_name, name) in set(fields.channel_fields()) else None


def _stops_after_test_step(source: SourceFile, fields: FieldChannels, op: FieldOp, partner: FieldOp, case: StopCase) -> bool:
    """The operation runs in a test function, on a value the test makes, and nothing that
    may signal the partner's stop channel can run before it: for a step of the test
    itself, the test calls no such function or method before it, nor in a goroutine or
    closure, only after it or in its deferred clean-up; for a step of a goroutine the
    test starts, the test calls none at all (its clean-up may run before the goroutine's
    step). Also when nothing in the package signals the channel. A call reaches a signal
    only through calls whose method the source states (``signallers(exact=True)``)."""
    name = _stop_field(fields, op, partner, case)
    if name is None or fields.escape(op.type_name, name) is not None:
        return False
    keys = fields.signallers(op.type_name, name)
    if keys is None:
        return False
    if not keys:
        return True  # nothing in the package signals it: the partner never stops on it
    test = syntax.outermost_function(op.function) or op.function
    if not source.path.endswith("_test.go") or not _test_function(source, test):
        return False
    if op.owner is None or not syntax.is_plain_path(op.owner) or not _made_here(source, test, op.owner):
        return False
    # Only calls the source resolves count as steps that stop it: which implementation an
    # interface call runs (a supervisor's `service.Stop()`) is not stated, and a test
    # that drives a service through one also sees it restarted.
    exact = fields.signallers(op.type_name, name, exact=True) or set()
    in_goroutine = not syntax.same_node(test, op.function)
    for key, node in fields.call_keys_in(source, test):
        if key not in exact:
            continue
        if syntax.same_node(syntax.enclosing_function(node), op.function) and runs_after(op.node, node, op.function):
            continue  # after the operation, on its own goroutine
        if not in_goroutine and syntax.runs_in_defer_of(node, test):
            continue  # the test's clean-up, after its steps (a goroutine's step may come later still)
        if not in_goroutine and _restarted_between(source, fields, op, partner, node):
            continue  # the test waits for the server to announce it runs again
        return False
    return True


def _test_function(source: SourceFile, function: Node) -> bool:
    """`func TestX(t *testing.T)` (or a benchmark or fuzz target), `func ExampleX()`: run
    on its own goroutine."""
    if not syntax.is_declared_function(function) or syntax.is_method(function):
        return False
    name = syntax.function_name(function)
    text = source.text(name) if name is not None else b""
    parameters = len(syntax.parameters_of(syntax.parameter_list(function)))
    if text.startswith(b"Example"):
        return parameters == 0
    return any(text.startswith(prefix) for prefix in (b"Test", b"Benchmark", b"Fuzz")) and parameters == 1


def _restarted_between(source: SourceFile, fields: FieldChannels, op: FieldOp, partner: FieldOp, stop: Node) -> bool:
    """Between the step that stops the server (``stop``) and the operation, does the test
    receive from a field of the same value that only the serving function sends on, before
    its serving loop (`s.started <- true` at the top of Serve): the server runs again (a
    supervisor restarted it) when the operation comes."""
    if op.owner is None:
        return False
    owner = b"".join(source.text(op.owner).split())
    loop = next((a for a in syntax.ancestors(partner.node) if syntax.is_loop(a) and syntax.is_inside(a, partner.function)), None)
    if loop is None:
        return False
    for other in fields.ops_in(source):
        if other.kind is not FieldOpKind.RECEIVE or other.type_name != op.type_name or other.owner is None or other.in_select:
            continue
        if not syntax.same_node(other.function, op.function) or b"".join(source.text(other.owner).split()) != owner:
            continue
        if not (runs_after(stop, other.node, op.function) and runs_after(other.node, op.node, op.function)):
            continue
        senders = [o for o in fields.ops(op.type_name, other.field) if o.kind in (FieldOpKind.SEND, FieldOpKind.CLOSE)]
        if senders and all(
            o.source is partner.source and syntax.same_node(o.function, partner.function) and o.node.end_byte <= loop.start_byte for o in senders
        ):
            return True
    return False


def _made_here(source: SourceFile, function: Node, owner: Node) -> bool:
    """The owner's root is a local of ``function`` it makes itself: from a call or a
    composite literal (not a package variable other tests share)."""
    root = syntax.root_identifier(syntax.unparen(owner))
    if root is None:
        return False
    decl = source.scopes(function).resolve(root)
    if decl is None or decl.kind not in ("short", "var"):
        return False
    statement = decl.statement
    if syntax.is_short_var_declaration(statement):
        values = syntax.right_side(statement)
    elif syntax.is_var_spec(statement):
        values = syntax.var_spec_values(statement)
    else:
        return False
    for value in values:
        value = syntax.unparen(value)
        if syntax.is_address_of(value):
            inner = syntax.unary_operand(value)
            value = syntax.unparen(inner) if inner is not None else value
        if not (syntax.is_call(value) or syntax.is_composite_literal(value)):
            return False
    return True



def _same_file(a, b) -> bool:
    return a is b or (getattr(a, "path", None) is not None and getattr(a, "path", None) == getattr(b, "path", None))


def _closed_fields(fields: FieldChannels, type_name: bytes, partner: FieldOp, case: StopCase) -> list[bytes]:
    """Fields the serving goroutine closes as it stops: in the stop case's body, or by a
    `defer close(…)` of its function."""
    found = []
    for (owner, name) in fields.channel_fields():
        if owner != type_name or not _closed_only(fields, owner, name):
            continue
        for closing in fields.ops(owner, name):
            if closing.kind is not FieldOpKind.CLOSE or closing.source.path != partner.source.path:
                continue
            if syntax.is_inside(closing.node, case.clause):
                found.append(name)
            elif syntax.same_node(closing.function, partner.function) and any(syntax.is_defer(a) for a in syntax.ancestors(closing.node) if syntax.is_inside(a, partner.function)):
                found.append(name)
    return found
