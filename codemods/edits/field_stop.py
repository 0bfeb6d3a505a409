"""Making a blocked operation on a struct's channel field also wait on a stop signal:
which signal its own function already knows, and the `select` that waits on both.

Shared by blocked-field-channel (the serving goroutine can stop) and never-woken
(nothing serves the channel at all): both end the wait the same way."""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.control import code_may_follow
from gofix_defer.codemods.analysis.fieldchannels import FieldChannels, FieldOp, FieldOpKind, StopCase, enclosing_stop, getter_field
from gofix_defer.codemods.analysis.goroutines import blocking_operation
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.edits.cancel_rewrite import TypeLookup, build_stop_select_fix, zero_values
from gofix_defer.codemods.model import Fix, NoFix


@dataclass(frozen=True)
class StopSignal:
    text: bytes  # the channel to wait on at the blocked operation: `<-n.done`, `<-s.ctx.Done()`
    why: str  # for the message


def local_stop(source: SourceFile, fields: FieldChannels, op: FieldOp) -> StopSignal | None:
    """A stop case of a `select` around ``op`` in its own function (``op`` in a case
    body or a `default`) whose channel can be evaluated again at ``op``, with the same
    names in sight."""
    for case in enclosing_stop(source, op.node, op.function):
        if is_pure(source, fields, op.function, case.channel) and _visible(source, op.function, case, op.node):
            return StopSignal(b"<-" + source.text(case.channel), "the select around it stops on it")
    return None


def stop_fix(source: SourceFile, fields: FieldChannels, op: FieldOp, stop: StopSignal) -> Fix | NoFix:
    """``op`` as a `select` that also waits on ``stop``, then leaves the function (zero
    values for unnamed results, a bare `return` for named ones), or does nothing more
    when ``op`` is the function's last statement."""
    operation = blocking_operation(source, op.node)
    if operation is None or not operation.standalone:
        return NoFix("the operation sits inside an expression")
    if not code_may_follow(operation.statement):
        leave: list[bytes] = []
    else:
        values = zero_values(source, op.function, _type_lookup(fields))
        if values is None:
            return NoFix("the function returns a value whose zero the source does not spell")
        leave = [b"return " + b", ".join(values) if values else b"return"]
    verb = "send" if op.kind is FieldOpKind.SEND else "receive"
    return build_stop_select_fix(source, op.function, [operation], stop.text, leave, f"Stop the {verb} on {stop.text.decode()[2:]}")


def is_pure(source: SourceFile, fields: FieldChannels, function: Node, channel: Node) -> bool:
    """The stop channel can be evaluated again with the same result: names and field
    paths, `X.Done()`, and getters of the package (`X.ShouldStop()` returning a field)."""
    node = syntax.unparen(channel)
    while True:
        if syntax.is_identifier(node):
            return True
        if syntax.is_selector(node):
            parts = syntax.selector_parts(node)
            if parts is None:
                return False
            node = syntax.unparen(parts[0])
            continue
        if syntax.is_call(node) and not syntax.call_arguments(node):
            callee = syntax.callee(node)
            parts = syntax.selector_parts(syntax.unparen(callee)) if callee is not None else None
            if parts is None:
                return False
            if source.text(parts[1]) != b"Done":
                info = fields.resolver(source, function).callee(node)
                if info is None or getter_field(info) is None:
                    return False
            node = syntax.unparen(parts[0])
            continue
        return False


def _visible(source: SourceFile, function: Node, case: StopCase, at: Node) -> bool:
    """No declaration between the select and ``at`` hides a name the stop channel uses."""
    outer = syntax.outermost_function(function) or function
    scopes = source.scopes(outer)
    names = {source.text(n) for n in syntax.identifiers(case.channel)}
    for decl in scopes.declarations():
        if decl.name in names and case.select.start_byte <= decl.visible_from <= at.start_byte and syntax.is_inside(at, decl.scope):
            return False
    return True


def _type_lookup(fields: FieldChannels) -> TypeLookup:
    declared = {}
    for name, info in fields.index.types.items():
        type_node = syntax.type_spec_type(info.spec)
        if type_node is not None and not syntax.is_alias_spec(info.spec):
            declared[name] = (info.source, type_node)
    return TypeLookup(declared)
