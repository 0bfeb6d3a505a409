"""never-signalled: a goroutine waits on a channel or a sync.Cond that nothing in the
package can ever signal."""

from __future__ import annotations

import os
from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.calls import CallSummaries
from gofix_defer.codemods.analysis.channels import Channels, ChannelUse, Direction, UseKind
from gofix_defer.codemods.analysis.conds import CondFields
from gofix_defer.codemods.analysis.fieldchannels import FieldChannels, FieldOp, FieldOpKind
from gofix_defer.codemods.analysis.index import PackageIndex
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.scope import Scopes
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.model import Diagnostic, NoFix, Rule

_SIGNALS = (FieldOpKind.SEND, FieldOpKind.CLOSE)


class NeverSignalled(Rule):
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
    - `c.Wait()` on a `sync.Cond` field that nothing in the package signals:
      no `Signal()`, no `Broadcast()` on that field, and no other use of it
      that could lead to one (GoKer's Moby30408).

    The search is the package's: every function and method, the functions a
    channel is handed to (`CallSummaries`), the field's every use
    (`FieldChannels`). Left alone, for lack of evidence: a channel or field
    that leaves what the package shows (passed to another package or a
    function value, stored, returned, sent, an exported field or getter
    outside `package main`, a field of a type another type embeds, a field
    some file spells a send or close on whatever its owner), a channel
    handed to a stub (a function with an empty body), a receive that
    is one case of a `select` with others, a channel nothing is handed to
    (`done := make(chan struct{}); <-done` may be meant to block for ever),
    and a Cond other packages can reach.

    ## Why is this bad
    A receive from a channel no one sends on or closes, and a `Wait` no one
    signals, block for ever: the goroutine leaks with everything it holds,
    and whoever waits for it leaks too.

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
    ```

    ## Fix
    None: report only. Which code should signal — close the channel when
    the callee returns (`defer close(doneChan)`, the upstream fix of
    Grpc1424), close a stop channel in a `Stop` method, `Broadcast` when
    the condition changes — is a design decision the code does not state.

    ## Fix safety
    No fix is offered.
    """

    name = "never-signalled"
    summary = "A receive or sync.Cond.Wait that nothing in the package can ever wake: the goroutine blocks for ever"
    fix_availability = "never"
    triggers = (b"<-", b"range", b".Wait()")
    requires = (Scopes, PackageIndex, FieldChannels, CallSummaries, Channels, CondFields)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        found = [*self._local_channels(source), *self._field_channels(source), *self._conds(source)]
        return sorted(found, key=lambda d: (d.start, d.end, d.message))

    # -- channels the function makes --------------------------------------------------
    def _local_channels(self, source: SourceFile) -> Iterator[Diagnostic]:
        if b"make(" not in source.data:
            return
        channels = source.facts(Channels)
        for function in nodes_of_types(source, syntax.FUNCTION_KINDS):
            for made in channels.made_in(function):
                if made.make.direction is not Direction.BOTH:
                    continue
                uses = channels.uses(function, made.declaration).uses
                handed = self._handed_to(source, function, uses)
                if not handed:
                    continue
                for wait in (u for u in uses if u.kind in (UseKind.RECEIVE, UseKind.RANGE) and _waits(u.kind, u.node, u.select_case)):
                    names = ", ".join(sorted(set(handed)))
                    message = (
                        f"{made.name.decode()} is made at line {source.line_col(made.statement.start_byte)[0]} "
                        f"and handed only to {names}, which neither sends on it nor closes it, and nothing else in the package can: "
                        "this receive waits for ever"
                    )
                    yield self.diagnostic(wait.node, NoFix(_NO_FIX).annotate(message))
                    break

    def _handed_to(self, source: SourceFile, function: Node, uses: list[ChannelUse]) -> list[str]:
        """The package functions the channel is handed to, when those are its only uses
        besides receiving (and each neither sends on it, closes it nor lets it go); else
        none."""
        summaries = source.facts(CallSummaries)
        resolver = source.facts(FieldChannels).resolver(source, function)
        handed = []
        for use in uses:
            if use.kind in (UseKind.RECEIVE, UseKind.RANGE, UseKind.LEN_CAP):
                continue
            if use.kind is not UseKind.PASSED or use.argument_index < 0:
                return []
            callee = resolver.callee(use.node)
            body = syntax.function_body(callee.node) if callee is not None else None
            if body is None or not syntax.statements(body):
                return []  # a stub (`func fetch(ch chan T) {}`): its body is left to the reader
            effects = summaries.argument_effects(callee, use.argument_index) if callee is not None else None
            if effects is None or effects.sends or effects.closes or effects.escapes or effects.async_use or effects.in_closure:
                return []
            handed.append(callee.name.decode() if callee is not None else "")
        return handed

    # -- channels held in struct fields -------------------------------------------------
    def _field_channels(self, source: SourceFile) -> Iterator[Diagnostic]:
        fields = source.facts(FieldChannels)
        reported: set[tuple[bytes, bytes]] = set()
        for op in fields.ops_in(source):
            if op.kind not in (FieldOpKind.RECEIVE, FieldOpKind.RANGE) or not _waits(op.kind, op.node, op.select_case):
                continue
            key = (op.type_name, op.field)
            if key in reported or not self._never_signalled(source, op):
                continue
            reported.add(key)
            made = next(o for o in fields.ops(*key) if o.kind is FieldOpKind.MADE)
            spelled = f"{op.type_name.decode()}.{op.field.decode()}"
            message = (
                f"{_spelled(source, op.expression)} waits on {spelled}, made at {_where(made)}, which no function or method "
                "of the package sends on or closes (through the field, an alias, a getter or a function it is passed to): "
                "this receive waits for ever"
            )
            yield self.diagnostic(op.node, NoFix(_NO_FIX).annotate(message))

    def _never_signalled(self, source: SourceFile, op: FieldOp) -> bool:
        fields = source.facts(FieldChannels)
        key = (op.type_name, op.field)
        if fields.escape(*key) is not None:
            return False
        ops = fields.ops(*key)
        if not any(o.kind is FieldOpKind.MADE for o in ops):
            return False  # never made: a nil channel, or set where the analysis does not see
        if any(o.kind in _SIGNALS for o in ops + fields.unknown_owner(op.field)):
            return False
        if fields.embedded(op.type_name):
            return False  # `outer.f` reaches the field through a type that embeds it
        return not fields.signal_spelled(op.field)

    # -- sync.Cond fields --------------------------------------------------------------
    def _conds(self, source: SourceFile) -> Iterator[Diagnostic]:
        if b".Wait()" not in source.data:
            return
        conds = source.facts(CondFields)
        for call in nodes_of_types(source, syntax.CALL_KINDS):
            parts = syntax.selector_call(call)
            if parts is None or source.text(parts[1]) != b"Wait" or syntax.call_arguments(call):
                continue
            operand = syntax.unparen(parts[0])
            field_parts = syntax.selector_parts(operand) if syntax.is_selector(operand) else None
            if field_parts is None:
                continue
            name = source.text(field_parts[1])
            if not conds.unsignalled(name):
                continue
            spelled = name.decode()
            message = (
                f"{_spelled(source, operand)}.Wait() waits on the sync.Cond field {spelled}, which nothing in the package "
                f"signals: no {spelled}.Signal() or {spelled}.Broadcast(), and no other use of a field {spelled} that could "
                "lead to one; this Wait never returns"
            )
            yield self.diagnostic(call, NoFix(_NO_FIX).annotate(message))


RULE = NeverSignalled()

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


def _where(op: FieldOp) -> str:
    return f"{os.path.basename(getattr(op.source, 'path', ''))}:{op.line}"


def _spelled(source: SourceFile, node: Node) -> str:
    return " ".join(source.text(node).decode("utf-8", "replace").split())
