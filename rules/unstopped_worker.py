"""unstopped-worker: a value whose Start launches a goroutine that only Stop/Close
ends, started in a function that never stops it (MethodContractViolation)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.scope import Declaration, FunctionScopes
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import FUNCTION_KINDS, ancestors, call_of, called_function_literal, enclosing_function, statements, unparen, walk
from gofix_defer.codemods.edits.insertion import insert_after
from gofix_defer.codemods.model import Applicability, Diagnostic, Fix, Rule

_STOP_NAMES = (b"Stop", b"Close")


@dataclass
class _Method:
    name: bytes
    receiver: bytes  # the receiver's name inside the method ("" when unnamed)
    node: Node


@dataclass
class _WorkerType:
    name: bytes
    methods: dict[bytes, _Method] = field(default_factory=dict)
    stop: _Method | None = None  # the Stop (or Close) that ends Start's goroutine
    stop_blocker: str | None = None  # why `defer x.Stop()` would not be provably right
    loop_body: Node | None = None  # the body of the goroutine Start launches
    loop_receiver: bytes = b""  # the receiver's name in that body
    closed: set[bytes] = field(default_factory=set)  # fields Stop closes
    cancelled: set[bytes] = field(default_factory=set)  # cancel fields Stop calls


class UnstoppedWorker(Rule):
    """
    ## What it does
    Finds a local variable of a type declared in the same file whose `Start`
    method launches a goroutine that waits for a field channel to be closed
    (or a context to be cancelled), and whose `Stop` (or `Close`) method
    closes that channel (or cancels) — when the function that makes and
    starts the value never calls `Stop`/`Close` on it and never lets it
    escape (no return, no assignment elsewhere, no argument passing).

    ## Why is this bad
    The type's contract is "whoever starts it stops it". A function that
    starts the worker and returns without stopping it leaves the goroutine
    waiting for a close that can no longer come: it leaks, with everything
    it references (the MethodContractViolation pattern of Uber's study).

    ## Example
    ```go
    func process(items []any) {
        w := worker{ch: make(chan any), done: make(chan any)}
        w.Start()
        for _, item := range items {
            w.AddToQueue(item)
        }
        // returns without w.Stop(): the worker's goroutine leaks
    }
    ```

    ## Fix
    Insert `defer w.Stop()` right after `w.Start()`, so the worker is
    stopped on every path out of the function, panics included.

    ## Fix safety
    Safe when stopping cannot drop work: every other channel the worker's
    goroutine waits on is a field the function made unbuffered in the
    composite literal (so each item was taken before the sender went on),
    and nothing else — a timer, a `default` case, an outside channel —
    wakes it. Otherwise unsafe (the message says why): the worker now stops
    when the function returns, so work it would still have done in the
    background (items in a buffered queue, ticks) is dropped — that is the
    point, but a user must opt in. Offered only when the value never escapes the function, is started by
    exactly one statement outside any loop, and `Stop` does nothing but close
    channels or call cancel functions (directly or in a `sync.Once`), so one
    deferred call cannot block and is the only one. Otherwise the finding is
    reported without a fix.
    """

    name = "unstopped-worker"
    summary = "A value whose Start launches a goroutine is never stopped by the function that started it"
    fix_availability = "sometimes"
    applicability = Applicability.SAFE
    triggers = (b"Start(",)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        workers = _worker_types(source)
        if not workers:
            return
        for function in nodes_of_types(source, FUNCTION_KINDS):
            if function.child_by_field_name("body") is not None:
                yield from self._check_function(source, workers, function)

    def _check_function(self, source: SourceFile, workers: dict[bytes, _WorkerType], function: Node) -> Iterator[Diagnostic]:
        if b".Start(" not in source.text(function):
            return
        scopes = source.scopes(function)
        for decl in scopes.declarations():
            if enclosing_function(decl.statement) != function:
                continue
            worker = workers.get(_declared_type(source, decl) or b"")
            if worker is None:
                continue
            diagnostic = self._check_variable(source, scopes, function, decl, worker)
            if diagnostic is not None:
                yield diagnostic

    def _check_variable(self, source: SourceFile, scopes: FunctionScopes, function: Node, decl: Declaration, worker: _WorkerType) -> Diagnostic | None:
        starts: list[Node] = []
        for ref in scopes.references(decl):
            method = _called_method(source, ref)
            if method is None or method not in worker.methods:
                return None  # the value escapes (or is used in a way we do not model)
            if method in _STOP_NAMES:
                return None  # stopped (or closed) somewhere: the contract may hold
            if enclosing_function(ref) != function:
                return None  # used by a closure that may outlive the function
            if _calls_stop(source, worker, worker.methods[method]):
                return None  # this method stops the worker itself
            if method == b"Start":
                starts.append(ref)
        if not starts:
            return None
        name = decl.name.decode()
        stop = worker.stop.name.decode()
        where = _function_name(source, function)
        message = f"{name}.Start() launches a goroutine that only {name}.{stop}() ends, and {where} never calls it"
        blocker = worker.stop_blocker
        statement = _expression_statement(starts[0])
        if blocker is None and len(starts) > 1:
            blocker = f"{name}.Start() is called more than once"
        if blocker is None and statement is None:
            blocker = f"the result of {name}.Start() is used"
        if blocker is None and any(a.type == "for_statement" for a in _ancestors_within(statement, function)):
            blocker = f"{name}.Start() runs in a loop"
        edit = None
        if blocker is None:
            edit = insert_after(source, statement, [b"defer " + decl.name + b"." + worker.stop.name + b"()"])
            if edit is None:
                blocker = f"{name}.Start() does not end its line"
        if blocker is not None:
            return self.diagnostic(starts[0].parent, f"{message} (no fix: {blocker})")
        unsafe = _unsafe_reason(source, worker, decl)
        applicability = Applicability.SAFE if unsafe is None else Applicability.UNSAFE
        fix = Fix(f"Defer {name}.{stop}() after {name}.Start()", (edit,), applicability)
        note = "" if unsafe is None else f" (unsafe: {unsafe})"
        return self.diagnostic(starts[0].parent, f"{message}; defer {name}.{stop}(){note}", fix)


RULE = UnstoppedWorker()


# -- the worker types of a file ---------------------------------------------------


def _worker_types(source: SourceFile) -> dict[bytes, _WorkerType]:
    types: dict[bytes, _WorkerType] = {}
    for node in source.root.named_children:
        if node.type == "type_declaration":
            for spec in node.named_children:
                if spec.type == "type_definition" and spec.child_by_field_name("type") is not None and spec.child_by_field_name("type").type == "struct_type":
                    name = source.text(spec.child_by_field_name("name"))
                    types[name] = _WorkerType(name)
    for node in source.root.named_children:
        if node.type != "method_declaration":
            continue
        receiver = node.child_by_field_name("receiver")
        params = [p for p in receiver.named_children if p.type == "parameter_declaration"]
        if len(params) != 1:
            continue
        type_node = params[0].child_by_field_name("type")
        if type_node is not None and type_node.type == "pointer_type":
            type_node = type_node.named_children[0] if type_node.named_children else None
        if type_node is None or type_node.type != "type_identifier" or source.text(type_node) not in types:
            continue
        receiver_name = params[0].child_by_field_name("name")
        method = _Method(source.text(node.child_by_field_name("name")), source.text(receiver_name) if receiver_name is not None else b"", node)
        types[source.text(type_node)].methods[method.name] = method
    workers = {}
    for worker in types.values():
        start = worker.methods.get(b"Start")
        if start is None or not start.receiver:
            continue
        for stop_name in _STOP_NAMES:
            stop = worker.methods.get(stop_name)
            if stop is None or not stop.receiver:
                continue
            closed, cancelled, blocker = _stop_effects(source, stop)
            if (closed or cancelled) and _goroutine_waits_for(source, worker, start, closed, cancelled):
                worker.stop = stop
                worker.closed, worker.cancelled = closed, cancelled
                worker.stop_blocker = blocker
                workers[worker.name] = worker
                break
    return workers


def _field_of(source: SourceFile, node: Node, receiver: bytes) -> bytes | None:
    """`r.f` with r the method's receiver: b"f"."""
    node = unparen(node)
    if node.type != "selector_expression":
        return None
    operand = node.child_by_field_name("operand")
    if operand is None or operand.type != "identifier" or source.text(operand) != receiver:
        return None
    return source.text(node.child_by_field_name("field"))


def _stop_effects(source: SourceFile, stop: _Method) -> tuple[set[bytes], set[bytes], str | None]:
    """Fields Stop closes and cancel fields it calls, and why a deferred Stop would not be
    provably harmless (None when every statement is such a close or cancel)."""
    closed: set[bytes] = set()
    cancelled: set[bytes] = set()
    blocker = None
    body = stop.node.child_by_field_name("body")

    def visit(statement_list: list[Node], in_once: bool) -> None:
        nonlocal blocker
        for statement in statement_list:
            call = statement.named_children[0] if statement.type == "expression_statement" and statement.named_children else None
            if call is None or call.type != "call_expression":
                blocker = blocker or f"{stop.name.decode()} does more than close channels or cancel"
                continue
            function = call.child_by_field_name("function")
            args = [a for a in call.child_by_field_name("arguments").named_children if a.type != "comment"]
            if source.text(function) == b"close" and len(args) == 1 and _field_of(source, args[0], stop.receiver):
                closed.add(_field_of(source, args[0], stop.receiver))
                continue
            field_name = _field_of(source, function, stop.receiver)
            if field_name is not None and not args:
                cancelled.add(field_name)
                continue
            # r.once.Do(func() { close(r.done) })
            if function.type == "selector_expression" and source.text(function.child_by_field_name("field")) == b"Do" and len(args) == 1 and args[0].type == "function_literal" and not in_once:
                if _field_of(source, function.child_by_field_name("operand"), stop.receiver) is not None:
                    visit(statements(args[0].child_by_field_name("body")), True)
                    continue
            blocker = blocker or f"{stop.name.decode()} does more than close channels or cancel"

    visit(statements(body), False)
    return closed, cancelled, blocker


def _goroutine_waits_for(source: SourceFile, worker: _WorkerType, start: _Method, closed: set[bytes], cancelled: set[bytes]) -> bool:
    """Start launches a goroutine that receives from a field Stop closes (or waits on a
    Done() channel, when Stop cancels)."""
    for go in walk(start.node.child_by_field_name("body")):
        if go.type != "go_statement":
            continue
        literal = called_function_literal(go)
        body, receiver = None, start.receiver
        if literal is not None:
            body = literal.child_by_field_name("body")
        else:
            call = call_of(go)
            method = _field_of(source, call.child_by_field_name("function"), start.receiver) if call is not None else None
            if method is not None and method in worker.methods:
                body = worker.methods[method].node.child_by_field_name("body")
                receiver = worker.methods[method].receiver
        if body is None:
            continue
        for node in walk(body):
            if node.type != "unary_expression" or node.child_by_field_name("operator") is None or node.child_by_field_name("operator").type != "<-":
                continue
            operand = unparen(node.child_by_field_name("operand"))
            if _field_of(source, operand, receiver) in closed or (
                cancelled and operand.type == "call_expression" and source.text(operand.child_by_field_name("function")).endswith(b".Done")
            ):
                worker.loop_body, worker.loop_receiver = body, receiver
                return True
    return False


def _unsafe_reason(source: SourceFile, worker: _WorkerType, decl: Declaration) -> str | None:
    """Why stopping the worker when the function returns could drop work it would still
    have done; None when it cannot: every other channel its goroutine waits on is a field
    this function made unbuffered (each send was taken before the sender went on), and
    nothing else (a timer, a default case, another channel) wakes it up."""
    body = worker.loop_body
    if body is None:
        return "the worker's goroutine is not in view"
    literal = _composite_literal(decl)
    made: dict[bytes, Node] = {}
    if literal is not None:
        for key_node, value in syntax.composite_elements(literal):
            if key_node is not None:
                made[source.text(key_node)] = value
    elif decl.value is not None:
        return "the worker is not made by a composite literal here"
    method_text = b"".join(source.text(m.node) for m in worker.methods.values())
    for node in walk(body):
        if syntax.is_default_clause(node):
            return "its goroutine also runs a default case"
        if node.type == "range_clause":
            return "its goroutine ranges over a channel"
        if node.type != "unary_expression" or node.child_by_field_name("operator") is None or node.child_by_field_name("operator").type != "<-":
            continue
        operand = unparen(node.child_by_field_name("operand"))
        name = _field_of(source, operand, worker.loop_receiver)
        if name in worker.closed:
            continue
        if worker.cancelled and operand.type == "call_expression" and source.text(operand.child_by_field_name("function")).endswith(b".Done"):
            continue
        if name is None:
            return f"its goroutine also waits on {source.text(operand).decode()}"
        if b"." + name + b" =" in method_text:
            return f"a method reassigns {name.decode()}"
        value = made.get(name)
        if value is None and literal is not None:
            continue  # a nil channel: receiving from it never wakes the goroutine
        if value is None or value.type != "call_expression" or source.text(value.child_by_field_name("function")) != b"make":
            return f"{name.decode()} is not made unbuffered here"
        arguments = [a for a in value.child_by_field_name("arguments").named_children if a.type != "comment"]
        if len(arguments) != 1:
            return f"{name.decode()} is buffered: queued items would be dropped"
    return None


def _composite_literal(decl: Declaration) -> Node | None:
    value = decl.value
    if value is None:
        return None
    value = unparen(value)
    if value.type == "unary_expression" and value.child_by_field_name("operand") is not None:
        value = unparen(value.child_by_field_name("operand"))
    return value if value.type == "composite_literal" else None


def _calls_stop(source: SourceFile, worker: _WorkerType, method: _Method) -> bool:
    text = source.text(method.node.child_by_field_name("body") or method.node)
    if any(b"." + name + b"(" in text for name in _STOP_NAMES):
        return True
    closed, cancelled, _ = _stop_effects(source, worker.stop)
    return any(b"close(" + method.receiver + b"." + f + b")" in text for f in closed) or any(
        method.receiver + b"." + f + b"()" in text for f in cancelled
    )


# -- the variable -----------------------------------------------------------------


def _declared_type(source: SourceFile, decl: Declaration) -> bytes | None:
    """T for `x := T{…}`, `x := &T{…}`, `var x T`, `var x = T{…}`, `x := new(T)`."""
    if decl.kind == "var" and decl.type_node is not None and decl.value is None:
        return source.text(decl.type_node) if decl.type_node.type == "type_identifier" else None
    value = decl.value
    if value is None or decl.kind not in ("short", "var"):
        return None
    value = unparen(value)
    if value.type == "unary_expression" and source.text(value).startswith(b"&"):
        value = unparen(value.child_by_field_name("operand"))
    if value.type == "composite_literal":
        type_node = value.child_by_field_name("type")
        return source.text(type_node) if type_node is not None and type_node.type == "type_identifier" else None
    if value.type == "call_expression" and source.text(value.child_by_field_name("function")) == b"new":
        args = value.child_by_field_name("arguments").named_children
        if len(args) == 1 and args[0].type == "type_identifier":
            return source.text(args[0])
    return None


def _called_method(source: SourceFile, ref: Node) -> bytes | None:
    """For `x.M(…)`: b"M"; None for any other use of x."""
    selector = ref.parent
    if selector is None or selector.type != "selector_expression" or selector.child_by_field_name("operand") != ref:
        return None
    call = selector.parent
    if call is None or call.type != "call_expression" or call.child_by_field_name("function") != selector:
        return None
    return source.text(selector.child_by_field_name("field"))


def _expression_statement(ref: Node) -> Node | None:
    call = ref.parent.parent
    statement = call.parent
    return statement if statement is not None and statement.type == "expression_statement" else None


def _ancestors_within(node: Node, function: Node) -> list[Node]:
    out = []
    for parent in ancestors(node):
        if parent == function:
            break
        out.append(parent)
    return out


def _function_name(source: SourceFile, function: Node) -> str:
    name = function.child_by_field_name("name")
    return source.text(name).decode() if name is not None and function.type != "function_literal" else "the function"
