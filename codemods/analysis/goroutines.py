"""Goroutine facts: every `go` statement of a function, and what its body blocks on.

The ``Goroutines`` family lists, per function, the `go` statements of its
own code (``Goroutine``: the statement, the function literal it starts when
it starts one, whether a deferred function starts it and which, whether it
sits in a loop, whether the function is `main` or `init`), and classifies what a
goroutine's body blocks on (``blocking``), once per literal.

``classify(source, literal)`` walks one goroutine's function literal (never
entering nested literals, whose bodies run elsewhere) and returns a
``GoroutineBlocking``:

- ``managed_by``: a node showing the goroutine's lifetime is already bound on
  purpose — a receive from a ``Done()`` channel (``<-ctx.Done()``), or any
  ``select`` statement (it may carry a stop case the tool cannot tell apart
  from data). Rules must leave such goroutines alone.
- ``operations``: every ``BlockingOperation`` found, in document order:

  ========================  =====================================================
  kind                      example
  ========================  =====================================================
  ``SLEEP``                 ``time.Sleep(d)``
  ``TIMER``                 ``<-time.After(d)``, ``<-time.Tick(d)``
  ``RECEIVE``               ``<-ch``, ``v := <-ch``, ``v, ok = <-ch``
  ``SEND``                  ``ch <- v``
  ``RANGE``                 ``for v := range ch`` (ch provably a channel)
  ``ENDLESS_LOOP``          ``for { … }`` with no return/break/goto/panic out of it
  ``WAIT``                  ``X.Wait()`` (WaitGroup, Cond, …): blocks, not selectable
  ========================  =====================================================

  ``BlockingOperation.standalone`` says the operation is a whole statement
  in a statement list, so it can be rewritten as a ``select`` case; an
  operation buried in an expression (``f(<-ch)``, ``if v := <-ch; …``) is not.

``SELECTABLE`` names the kinds a ``select`` on ``ctx.Done()`` can interrupt;
``channel_predicate`` decides from source-stated types whether a ``range``
operand is a channel. Classification is syntactic, so callers treat it as
evidence, not proof, and stay silent when in doubt.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Callable

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.channels import is_done_receive
from gofix_defer.codemods.analysis.control import loop_exits
from gofix_defer.codemods.analysis.facts import Fact
from gofix_defer.codemods.analysis.imports import imported_name
from gofix_defer.codemods.analysis.nodeindex import descendants_of_types
from gofix_defer.codemods.analysis.scope import FunctionScopes
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import selector_call, unparen, walk_no_funcs
from gofix_defer.codemods.analysis.typeinfer import TypeInference


class Kind(str, enum.Enum):
    SLEEP = "sleep"
    TIMER = "timer"
    RECEIVE = "receive"
    SEND = "send"
    RANGE = "range"
    ENDLESS_LOOP = "endless-loop"
    WAIT = "wait"


# Kinds a `select` with a `<-ctx.Done()` case can interrupt.
SELECTABLE = frozenset({Kind.SLEEP, Kind.TIMER, Kind.RECEIVE, Kind.SEND, Kind.RANGE})


@dataclass(frozen=True)
class BlockingOperation:
    kind: Kind
    node: Node  # the operation itself: the call, the unary `<-`, the send or the for statement
    statement: Node  # the statement holding it (the for statement for RANGE / ENDLESS_LOOP)
    channel: Node | None = None  # RECEIVE / SEND / RANGE / TIMER: the channel expression
    standalone: bool = True  # the operation is the whole statement, in a statement list

    def describe(self, source: SourceFile) -> str:
        line = source.line_col(self.node.start_byte)[0]
        channel = source.text(self.channel).decode("utf-8", "replace") if self.channel is not None else ""
        what = {
            Kind.SLEEP: "sleeps",
            Kind.TIMER: "waits on a timer",
            Kind.RECEIVE: f"blocks receiving from {channel}",
            Kind.SEND: f"blocks sending on {channel}",
            Kind.RANGE: f"ranges over channel {channel}",
            Kind.ENDLESS_LOOP: "loops forever",
            Kind.WAIT: "waits",
        }[self.kind]
        return f"{what} (line {line})"


@dataclass
class GoroutineBlocking:
    literal: Node
    managed_by: Node | None = None
    operations: list[BlockingOperation] = field(default_factory=list)


def _is_method_call(source: SourceFile, node: Node | None, method: bytes) -> bool:
    parts = selector_call(node)
    return parts is not None and source.text(parts[1]) == method


def _package_call(source: SourceFile, node: Node | None, package: bytes | None, names: tuple[bytes, ...]) -> bool:
    """``package.Name(…)`` for one of ``names`` (``package`` is the file's import name)."""
    parts = selector_call(node) if package is not None else None
    if parts is None:
        return False
    operand, field_node, _ = parts
    return operand.type == "identifier" and source.text(operand) == package and source.text(field_node) in names


def _in_statement_list(statement: Node) -> bool:
    return syntax.holds_statements(statement.parent)


def _receive_statement(source: SourceFile, node: Node) -> tuple[Node | None, bool]:
    """For a `<-ch` unary expression: (its statement, whether it is the whole right-hand side)."""
    parent = node.parent
    while parent is not None and parent.type == "parenthesized_expression":
        node, parent = parent, parent.parent
    if parent is None:
        return None, False
    if parent.type == "expression_statement":
        return parent, _in_statement_list(parent)
    if parent.type == "expression_list":
        holder = parent.parent
        if holder is not None and holder.type in ("short_var_declaration", "assignment"):
            right = holder.child_by_field_name("right")
            operator = holder.child_by_field_name("operator")
            whole = (
                right == parent
                and len(parent.named_children) == 1
                and (holder.type == "short_var_declaration" or (operator is not None and source.text(operator) == b"="))
            )
            return holder, whole and _in_statement_list(holder)
        return holder, False
    return parent, False


def _argument_nodes(call: Node) -> list[Node]:
    """The named children of a call's `(…)`, comments included (`x.Wait(/* c */)` has one)."""
    arguments = syntax.call_arguments_node(call)
    return arguments.named_children if arguments is not None else []


def _in_select_case(node: Node) -> bool:
    parent = node.parent
    while parent is not None and parent.type in ("parenthesized_expression", "expression_list", "receive_statement"):
        parent = parent.parent
    return parent is not None and parent.type == "communication_clause"


def classify(
    source: SourceFile,
    literal: Node,
    is_channel: Callable[[Node], bool] | None = None,
) -> GoroutineBlocking:
    """Blocking operations of the goroutine body ``literal`` (a func_literal).

    ``is_channel(expr)`` decides whether a ``range`` operand is a channel;
    without it only ``range time.Tick(d)`` counts.
    """
    time_name = imported_name(source, b"time")
    result = GoroutineBlocking(literal)
    body = syntax.body(literal)
    if body is None:
        return result
    for node in walk_no_funcs(body):
        kind = node.type
        if kind == "select_statement":
            result.managed_by = result.managed_by or node
        elif syntax.is_receive(node):
            if is_done_receive(source, node):
                result.managed_by = result.managed_by or node
                continue
            if _in_select_case(node):
                continue
            operand = node.child_by_field_name("operand")
            statement, standalone = _receive_statement(source, node)
            timer = _package_call(source, operand, time_name, (b"After", b"Tick"))
            result.operations.append(
                BlockingOperation(Kind.TIMER if timer else Kind.RECEIVE, node, statement or node, unparen(operand) if operand is not None else None, standalone)
            )
        elif kind == "send_statement":
            if _in_select_case(node):
                continue
            result.operations.append(BlockingOperation(Kind.SEND, node, node, node.child_by_field_name("channel"), _in_statement_list(node)))
        elif kind == "call_expression":
            if _package_call(source, node, time_name, (b"Sleep",)):
                parent = node.parent
                standalone = parent is not None and parent.type == "expression_statement" and _in_statement_list(parent)
                statement = parent if standalone and parent is not None else node
                result.operations.append(BlockingOperation(Kind.SLEEP, node, statement, None, standalone))
            elif _is_method_call(source, node, b"Wait") and not _argument_nodes(node):
                result.operations.append(BlockingOperation(Kind.WAIT, node, node, None, False))
        elif kind == "for_statement":
            clause = syntax.range_clause(node)
            if clause is not None:
                operand = syntax.range_operand(node)
                if operand is None:
                    continue
                operand = unparen(operand)
                ticks = _package_call(source, operand, time_name, (b"Tick",))
                if ticks or (is_channel is not None and is_channel(operand)):
                    statement = node.parent if node.parent is not None and node.parent.type == "labeled_statement" else node
                    result.operations.append(BlockingOperation(Kind.RANGE, node, node, operand, _in_statement_list(statement)))
            elif syntax.is_endless_loop(node) and not loop_exits(source, node):
                statement = node.parent if node.parent is not None and node.parent.type == "labeled_statement" else node
                result.operations.append(BlockingOperation(Kind.ENDLESS_LOOP, node, node, None, _in_statement_list(statement)))
    return result


def channel_predicate(source: SourceFile, scopes: FunctionScopes) -> Callable[[Node], bool]:
    """``is_channel`` for ``classify``: an identifier whose source-stated type is a
    channel (``make(chan T)``, ``var c chan T``, a ``<-chan T`` parameter, …)."""
    types = TypeInference(source, scopes)

    def is_channel(expr: Node) -> bool:
        expr = unparen(expr)
        if expr.type != "identifier":
            return False
        decl = scopes.resolve(expr)
        if decl is None:
            return False
        spelled = types.variable_type(decl)
        return spelled is not None and (spelled.startswith(b"chan") or spelled.startswith(b"<-chan"))

    return is_channel


@dataclass(frozen=True)
class Goroutine:
    """One `go` statement of a function's own code."""

    statement: Node  # the go statement
    literal: Node | None  # the function literal it starts (`go func(){…}()`), if any
    from_defer: bool  # a deferred function literal of the function starts it
    in_loop: bool  # a for statement of the function holds it
    in_main_or_init: bool  # the function is `main` or `init`: lives as long as the program
    deferred_by: Node | None = None  # from_defer: the deferred function literal whose own code holds it

    @property
    def call(self) -> Node | None:
        return syntax.call_of(self.statement)


class Goroutines(Fact):
    """Per function: its goroutines; per goroutine literal: what it blocks on."""

    def __init__(self, source) -> None:
        super().__init__(source)
        self._started: dict[tuple[int, int], list[Goroutine]] = {}
        self._blocking: dict[tuple[int, int, int, int], GoroutineBlocking] = {}
        self._predicates: dict[tuple[int, int], Callable[[Node], bool]] = {}

    def started_by(self, function: Node) -> list[Goroutine]:
        """The `go` statements in ``function``'s own code and in the deferred literals
        it calls (those run in the function too), in document order."""
        key = (function.start_byte, function.end_byte)
        found = self._started.get(key)
        if found is None:
            found = self._started[key] = self._find(function)
        return found

    def _find(self, function: Node) -> list[Goroutine]:
        body = syntax.function_body(function)
        if body is None or b"go" not in self.source.data[body.start_byte : body.end_byte]:
            return []
        name = syntax.function_name(function)
        program_long = name is not None and name.text in (b"main", b"init") and not syntax.is_method(function)
        found = []
        # The file's go statements come from the node index (found from the `go`
        # keyword, no Python walk of the tree), in document order.
        for node in descendants_of_types(self.source, body, syntax.GO_KINDS):
            owner = syntax.enclosing_function(node)
            from_defer = False
            deferred_by = None
            if owner != function:
                if owner is None or not syntax.is_function_literal(owner) or syntax.how_started(owner) != "defer":
                    continue
                if syntax.enclosing_function(owner) != function:
                    continue
                from_defer = True
                deferred_by = owner
            in_loop = any(syntax.is_loop(a) for a in _ancestors_within(node, function))
            found.append(Goroutine(node, syntax.called_function_literal(node), from_defer, in_loop, program_long, deferred_by))
        return found

    def blocking(self, literal: Node, scopes: FunctionScopes) -> GoroutineBlocking:
        """What the goroutine body ``literal`` blocks on, a ``range`` operand counting
        as a channel when ``scopes`` (a function around the literal) states it is one.
        Cached per literal and scope."""
        key = (literal.start_byte, literal.end_byte, scopes.function.start_byte, scopes.function.end_byte)
        found = self._blocking.get(key)
        if found is None:
            found = self._blocking[key] = classify(self.source, literal, self.is_channel(scopes))
        return found

    def is_channel(self, scopes: FunctionScopes) -> Callable[[Node], bool]:
        """The ``channel_predicate`` of ``scopes``, built once."""
        key = (scopes.function.start_byte, scopes.function.end_byte)
        found = self._predicates.get(key)
        if found is None:
            found = self._predicates[key] = channel_predicate(self.source, scopes)
        return found


def _ancestors_within(node: Node, function: Node):
    for parent in syntax.ancestors(node):
        if parent == function:
            return
        yield parent


def blocking_operation(source: SourceFile, node: Node) -> BlockingOperation | None:
    """A send statement or a `<-ch` expression, wherever it stands (a case body included),
    as the BlockingOperation ``classify`` would list (None for anything else)."""
    if syntax.is_send(node):
        return BlockingOperation(Kind.SEND, node, node, node.child_by_field_name("channel"), _in_statement_list(node))
    if syntax.is_receive(node):
        operand = node.child_by_field_name("operand")
        statement, standalone = _receive_statement(source, node)
        return BlockingOperation(Kind.RECEIVE, node, statement or node, unparen(operand) if operand is not None else None, standalone)
    return None


_TIME_UNITS = {b"Nanosecond": 1, b"Microsecond": 10**3, b"Millisecond": 10**6, b"Second": 10**9, b"Minute": 60 * 10**9, b"Hour": 3600 * 10**9}


def duration_nanoseconds(source: SourceFile, expr: Node | None, depth: int = 0) -> float | None:
    """How long a `time.Duration` the source spells as a constant is, in nanoseconds:
    `time.Hour`, `10 * time.Minute`, `time.Duration(5) * time.Second`, `1500` (None when
    any part is not a literal or a `time` unit)."""
    if expr is None or depth > 8:
        return None
    expr = unparen(expr)
    if syntax.is_int_literal(expr) or syntax.is_float_literal(expr):
        try:
            return float(source.text(expr).replace(b"_", b"").decode())
        except ValueError:
            return None
    parts = syntax.selector_parts(expr)
    if parts is not None:
        time_name = imported_name(source, b"time")
        if syntax.is_identifier(parts[0]) and time_name is not None and source.text(parts[0]) == time_name:
            return _TIME_UNITS.get(source.text(parts[1]))
        return None
    if syntax.is_call(expr):
        callee = syntax.callee(expr)
        arguments = syntax.call_arguments(expr)
        callee_parts = syntax.selector_parts(unparen(callee)) if callee is not None else None
        if callee_parts is not None and source.text(callee_parts[1]) == b"Duration" and len(arguments) == 1:
            return duration_nanoseconds(source, arguments[0], depth + 1)
        return None
    binary = syntax.binary_parts(expr) if syntax.is_binary(expr) else None
    if binary is not None:
        left, operator, right = binary
        a, b = duration_nanoseconds(source, left, depth + 1), duration_nanoseconds(source, right, depth + 1)
        if a is None or b is None:
            return None
        if operator == b"*":
            return a * b
        if operator == b"+":
            return a + b
        if operator == b"-":
            return a - b
        if operator == b"/" and b:
            return a / b
    return None


def waits_for(source: SourceFile, op: BlockingOperation) -> float | None:
    """For a SLEEP or TIMER operation: how long it waits, in nanoseconds, when constant."""
    if op.kind == Kind.SLEEP:
        arguments = syntax.call_arguments(op.node)
        return duration_nanoseconds(source, arguments[0]) if len(arguments) == 1 else None
    if op.kind == Kind.TIMER and op.channel is not None and syntax.is_call(op.channel):
        arguments = syntax.call_arguments(op.channel)
        return duration_nanoseconds(source, arguments[0]) if len(arguments) == 1 else None
    return None
