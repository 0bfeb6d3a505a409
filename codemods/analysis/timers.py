"""Timer drains that wait for a value another case already took.

`if !t.Stop() { <-t.C }` empties a timer's channel before a `Reset`: Stop
returns false once the timer has fired (or was stopped), and the receive
takes the value the firing left. When another case of the same `select`, in
a loop, receives from `t.C` itself and nothing re-arms `t` before the loop's
next turn, that value is gone: Stop returns false and the drain waits for a
value nothing will send (GoKer's Istio18454). Under either timer
implementation: before Go 1.23 the firing's one value sits in a buffer the
other case emptied; from 1.23 on, Stop returns false only once the value was
received or the timer stopped.

``stale_drains(source, index)`` finds such drains. What counts as re-arming
is read widely, so that only a drain that truly waits for ever is reported:
a `Reset(` spelled anywhere in the taking case or in the loop outside the
`select` (or in a function of the package they call, three calls deep), an
assignment to the timer there, and a `t.Reset(` anywhere else in the package
(another goroutine may re-arm it while the drain waits).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.control import terminates
from gofix_defer.codemods.analysis.index import PackageIndex
from gofix_defer.codemods.analysis.lexical import TIMER_DRAIN
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types

_MAX_CALL_DEPTH = 3


@dataclass(frozen=True)
class StaleDrain:
    timer: bytes  # the timer as written: `s.timer`
    drain: Node  # the `<-t.C` statement that waits
    check: Node  # the `if !t.Stop() {` around it
    taker: Node  # the select clause `case <-t.C:` that takes the value first
    select: Node


def stale_drains(source, index: PackageIndex) -> list[StaleDrain]:
    """The drains of ``source`` that can wait for a timer value already taken, in
    document order."""
    if TIMER_DRAIN.search(source.data) is None:
        return []
    found: list[StaleDrain] = []
    for select in nodes_of_types(source, syntax.SELECT_KINDS):
        loop = _loop_around(select)
        if loop is None:
            continue  # without a next turn, the other case cannot have run before
        clauses = syntax.switch_cases(select)
        takers: dict[bytes, list[Node]] = {}
        for clause in clauses:
            timer = _timer_received(source, syntax.select_communication(clause))
            if timer is not None:
                takers.setdefault(timer, []).append(clause)
        for clause in clauses:
            drain = _first_drain(source, clause)
            if drain is None:
                continue
            check, statement, timer = drain
            for taker in takers.get(timer, ()):
                if syntax.same_node(taker, clause) or not _falls_through(source, taker):
                    continue
                if _rearmed_between(source, index, timer, taker, select, loop) or _reset_elsewhere(source, timer, clause):
                    continue
                found.append(StaleDrain(timer, statement, check, taker, select))
                break
    return found


def _loop_around(select: Node) -> Node | None:
    """The loop of the same function that runs ``select`` again."""
    for ancestor in syntax.ancestors(select):
        if syntax.is_loop(ancestor):
            return ancestor
        if syntax.is_function(ancestor):
            return None
    return None


def _timer_received(source, communication: Node | None) -> bytes | None:
    """`t` of a select case that receives from `t.C` (`case <-t.C:`, `case now := <-t.C:`)."""
    if communication is None:
        return None
    if syntax.is_expression_statement(communication):
        expression = syntax.expression_of(communication)
    elif syntax.is_receive_statement(communication):
        items = syntax.expression_list_items(syntax.right_node(communication))
        expression = items[0] if len(items) == 1 else None
    else:
        expression = communication
    expression = syntax.unparen(expression) if expression is not None else None
    if not syntax.is_receive(expression):
        return None
    return _timer_of_channel(source, syntax.unary_operand(expression))


def _timer_of_channel(source, channel: Node | None) -> bytes | None:
    parts = syntax.selector_parts(syntax.unparen(channel)) if channel is not None else None
    if parts is None or source.text(parts[1]) != b"C" or not syntax.is_plain_path(parts[0]):
        return None
    return source.text(parts[0])


def _first_drain(source, clause: Node) -> tuple[Node, Node, bytes] | None:
    """The clause's own `if !t.Stop() { <-t.C }` statement (not under another condition),
    with nothing before it that mentions the timer: (the if, the receive statement, t)."""
    seen: list[Node] = []
    for statement in syntax.statements(clause):
        drain = _drain(source, statement)
        if drain is not None:
            receive, timer = drain
            last = _last_name(timer)
            if any(last in source.text(before) for before in seen):
                return None
            return statement, receive, timer
        seen.append(statement)
    return None


def _drain(source, statement: Node) -> tuple[Node, bytes] | None:
    if not syntax.is_if(statement) or syntax.else_branch(statement) is not None or statement.child_by_field_name("initializer") is not None:
        return None
    condition = syntax.condition(statement)
    condition = syntax.unparen(condition) if condition is not None else None
    if not syntax.is_unary(condition, b"!"):
        return None
    stopped = syntax.selector_call(syntax.unary_operand(condition))
    if stopped is None or source.text(stopped[1]) != b"Stop" or syntax.call_arguments(stopped[2]) or not syntax.is_plain_path(stopped[0]):
        return None
    body = syntax.statements(syntax.then_branch(statement))
    if len(body) != 1 or not syntax.is_expression_statement(body[0]):
        return None
    receive = syntax.expression_of(body[0])
    receive = syntax.unparen(receive) if receive is not None else None
    if not syntax.is_receive(receive):
        return None
    timer = _timer_of_channel(source, syntax.unary_operand(receive))
    if timer is None or timer != source.text(stopped[0]):
        return None
    return body[0], timer


def _falls_through(source, clause: Node) -> bool:
    """Can the loop's next turn follow the clause: it does not end in a return, a panic
    or a jump out (a plain `break` leaves only the select)?"""
    body = syntax.statements(clause)
    if not body:
        return True
    last = body[-1]
    if terminates(source, last) or syntax.is_goto(last):
        return False
    if syntax.is_jump(last) and source.text(last) not in (b"break", b"continue"):
        return False  # a labelled break or continue may leave the loop
    return True


def _rearmed_between(source, index: PackageIndex, timer: bytes, taker: Node, select: Node, loop: Node) -> bool:
    """May the timer be armed again after ``taker`` runs and before the select's next
    turn: in the case, or in the loop outside the select (its header included)?"""
    nodes = [taker, *_outside(loop, select)]
    return any(_may_rearm(source, index, node, timer, 0, set()) for node in nodes)


def _outside(loop: Node, select: Node) -> list[Node]:
    """The parts of ``loop`` that are not ``select`` and do not hold it."""
    parts: list[Node] = []
    node = select
    while not syntax.same_node(node, loop) and node.parent is not None:
        parts.extend(c for c in node.parent.children if not syntax.same_node(c, node))
        node = node.parent
    return parts


def _may_rearm(source, index: PackageIndex, node: Node, timer: bytes, depth: int, seen: set) -> bool:
    text = source.text(node)
    if b"Reset(" in text:
        return True
    last = _last_name(timer)
    for inner in syntax.walk(node):
        if syntax.is_assignment(inner) or syntax.is_short_var_declaration(inner):
            for target in syntax.left_side(inner):
                spelled = source.text(target)
                if spelled == timer or timer.startswith(spelled + b".") or spelled.endswith(b"." + last) or spelled == last:
                    return True
        elif syntax.is_call(inner):
            name = syntax.callee_name(inner)
            if not (syntax.is_identifier(name) or syntax.is_field_identifier(name)):
                continue
            for info in index.callables_named(source.text(name)):
                key = (getattr(info.source, "path", ""), info.node.start_byte)
                if key in seen:
                    continue
                seen.add(key)
                if depth + 1 >= _MAX_CALL_DEPTH or _may_rearm(info.source, index, info.node, timer, depth + 1, seen):
                    return True
    return False


def _reset_elsewhere(source, timer: bytes, drain_clause: Node) -> bool:
    """Does the package spell `….t.Reset(` (t the timer's last name) anywhere but in
    the clause that drains it? Another goroutine could re-arm the timer while the drain
    waits."""
    pattern = re.compile(rb"\b" + re.escape(_last_name(timer)) + rb"\s*\.\s*Reset\s*\(")
    for other in source.package.files_saying(_last_name(timer)):
        for match in pattern.finditer(other.data):
            inside = other.path == source.path and drain_clause.start_byte <= match.start() < drain_clause.end_byte
            if not inside:
                return True
    return False


def _last_name(timer: bytes) -> bytes:
    return timer.rsplit(b".", 1)[-1]
