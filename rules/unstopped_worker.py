"""unstopped-worker: a value whose Start (or another method, or its constructor)
launches a goroutine that only Stop/Close ends, and that the function that started
it never stops (MethodContractViolation)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.calls import called_name
from gofix_defer.codemods.analysis.channels import is_done_receive
from gofix_defer.codemods.analysis.control import inside_loop
from gofix_defer.codemods.analysis.index import Declarations, FunctionInfo, PackageIndex
from gofix_defer.codemods.analysis.lexical import GO_STATEMENT
from gofix_defer.codemods.analysis.nodeindex import descendants_of_types, nodes_of_types, own_descendants
from gofix_defer.codemods.analysis.package import declares_method
from gofix_defer.codemods.analysis.scope import Declaration, FunctionScopes, Scopes
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.typeinfer import made_type_name
from gofix_defer.codemods.edits.insertion import insert_after
from gofix_defer.codemods.model import Applicability, Diagnostic, Edit, Fix, NoFix, Rule, says

# The methods that stop a worker, in the order one is offered: the exported ones first.
_STOP_NAMES = (b"Stop", b"Close", b"stop", b"close")


@dataclass
class _StopEffects:
    """What a Stop (or Close) method does."""

    closed: set[bytes] = field(default_factory=set)  # receiver fields it closes
    cancelled: set[bytes] = field(default_factory=set)  # receiver cancel fields it calls
    blocker: str | None = None  # why `defer x.Stop()` would not be provably harmless


@dataclass(frozen=True)
class _Loop:
    """The goroutine Start launches: its body, and the receiver's name there."""

    body: Node
    receiver: bytes


@dataclass
class _WorkerType:
    name: bytes
    methods: dict[bytes, FunctionInfo]  # the type's methods, from the file's index
    stop: FunctionInfo  # the Stop (or Close, stop, close) that ends the goroutine
    effects: _StopEffects  # what that stop does
    loops: dict[bytes, _Loop]  # by starter: the goroutine each method that starts one launches

    @functools.cached_property
    def stop_arguments(self) -> "bytes | NoFix":
        """What a deferred stop is called with (``_stop_arguments``)."""
        return _stop_arguments(self.stop)

    @property
    def stops(self) -> frozenset[bytes]:
        """Every stop method the type has: calling any of them may keep the contract."""
        return frozenset(name for name in _STOP_NAMES if name in self.methods)


class UnstoppedWorker(Rule):
    """
    ## What it does
    Finds a local variable of a type declared in the same file whose `Start`
    method (or any other of its methods: `initContextClose`, `Watch`)
    launches a goroutine that waits for a field channel to be closed (or a
    context to be cancelled), and whose `Stop` (or `Close`, `stop`, `close`)
    method closes that channel (or cancels) — when the function that makes
    and starts the value never calls a stop method on it and never lets it
    escape (no return, no assignment elsewhere, no argument passing).

    It also finds a call whose result is dropped (a statement of its own)
    of a function or method of the file that makes such a value (`x :=
    &T{…}`), launches its goroutine, and returns it, using it for nothing
    else (`tx := &Tx{…}; go tx.awaitDone(); return tx`, as GoKer's
    Cockroach13197 does): once dropped, nothing can ever stop it. The
    function must be the only one of its name in the package, and the call
    must not go through an imported package.

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
    stopped on every path out of the function, panics included. For a
    dropped result, `db.begin(ctx)` becomes `defer db.begin(ctx).close()`:
    the call still runs where it did, and the value it made is stopped when
    the function returns (`T`'s stop must take a pointer receiver only when
    the function returns `*T`). A stop whose parameters are all `error`s
    (`close(err error)`: why it closes) is told `nil` for each, and the fix
    is then unsafe; no fix when the stop takes any other argument.

    ## Fix safety
    Safe when stopping cannot drop work: every other channel the worker's
    goroutine waits on is a field the function made unbuffered in the
    composite literal (so each item was taken before the sender went on),
    and nothing else — a timer, a `default` case, an outside channel —
    wakes it. Otherwise unsafe (the message says why): the worker now stops
    when the function returns, so work it would still have done in the
    background (items in a buffered queue, ticks) is dropped — that is the
    point, but a user must opt in. The fix for a dropped result is always
    unsafe: what the goroutine would still have done is not known here. So
    is a stop told `nil` for its error: that nothing went wrong is the
    fix's guess.
    Offered only when the value never escapes the function, is started by
    exactly one statement outside any loop, and `Stop` does nothing but close
    channels or call cancel functions (directly or in a `sync.Once`), so one
    deferred call cannot block and is the only one. Otherwise the finding is
    reported without a fix.
    """

    name = "unstopped-worker"
    summary = "A value whose Start (or constructor) launches a goroutine is never stopped by the function that started it"
    fix_availability = "sometimes"
    applicability = Applicability.SAFE
    triggers = tuple(name + b"(" for name in _STOP_NAMES)  # the worker's stop is declared in the file
    requires = (Scopes, Declarations, PackageIndex)
    scans_bytes = True  # _declares_a_stop_method

    def applies_to(self, source) -> bool:
        # The worker type's Start, in this file, starts a goroutine; its stop is a method
        # the file declares (most files that say `Close(` only call one).
        return super().applies_to(source) and says(source, GO_STATEMENT) and says(source, _declares_a_stop_method)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        workers = _worker_types(source)
        if not workers:
            return
        constructors = _constructors(source, workers)
        for function in nodes_of_types(source, syntax.FUNCTION_KINDS):
            if syntax.function_body(function) is not None:
                yield from self._check_function(source, workers, function)
                if constructors:
                    yield from self._check_dropped(source, constructors, function)

    def _check_dropped(self, source: SourceFile, constructors: dict[bytes, list[_Constructor]], function: Node) -> Iterator[Diagnostic]:
        """Statements that call a constructor and drop the worker it returns."""
        body = syntax.function_body(function)
        for statement in own_descendants(source, body, syntax.EXPRESSION_STATEMENT_KINDS) if body is not None else ():
            call = syntax.expression_of(statement)
            name = syntax.callee_name(call) if call is not None and syntax.is_call(call) else None
            candidates = constructors.get(source.text(name), []) if name is not None else []
            made = next((c for c in candidates if call is not None and _calls_constructor(source, source.scopes(function), call, c)), None)
            if call is None or made is None:
                continue
            worker, stop = made.worker.name.decode(), made.worker.stop.name.decode()
            called = " ".join(source.text(syntax.callee(call)).decode("utf-8", "replace").split())
            message = (
                f"{called}() returns a {worker} whose goroutine runs until its {stop}() is called, "
                f"and {_function_name(source, function)} drops it: nothing can stop that goroutine"
            )
            fix = _defer_stop_of_result(source, function, statement, call, made)
            if isinstance(fix, NoFix):
                yield self.diagnostic(call, fix.annotate(message))
            else:
                note = f"the goroutine now stops when {_function_name(source, function)} returns: work it would still do then is dropped"
                arguments = made.worker.stop_arguments
                spelled = arguments.decode() if isinstance(arguments, bytes) else ""
                if spelled:
                    note = f"{note}; {_NIL_ERRORS}"
                yield self.diagnostic(call, f"{message}; defer {stop}({spelled}) on the result (unsafe: {note})", fix)

    def _check_function(self, source: SourceFile, workers: dict[bytes, _WorkerType], function: Node) -> Iterator[Diagnostic]:
        text = source.text(function)
        if not any(b"." + starter + b"(" in text for worker in workers.values() for starter in worker.loops):
            return
        scopes = source.scopes(function)
        for decl in scopes.declarations():
            if syntax.enclosing_function(decl.statement) != function:
                continue
            worker = workers.get(made_type_name(source, decl) or b"")
            if worker is None:
                continue
            diagnostic = self._check_variable(source, scopes, function, decl, worker)
            if diagnostic is not None:
                yield diagnostic

    def _check_variable(self, source: SourceFile, scopes: FunctionScopes, function: Node, decl: Declaration, worker: _WorkerType) -> Diagnostic | None:
        starts = _starts_never_stopped(source, scopes, function, decl, worker)
        if not starts:
            return None
        name = decl.name.decode()
        stop = worker.stop.name.decode()
        starter = _method_of(source, starts[0])
        where = _function_name(source, function)
        message = f"{name}.{starter.decode()}() launches a goroutine that only {name}.{stop}() ends, and {where} never calls it"
        unsafe = _unsafe_reason(source, worker, worker.loops[starter], decl)
        fix = _defer_stop_fix(source, function, decl, worker, starts, unsafe)
        if isinstance(fix, NoFix):
            return self.diagnostic(starts[0].parent, fix.annotate(message))
        arguments = worker.stop_arguments
        spelled = arguments.decode() if isinstance(arguments, bytes) else ""
        if spelled:
            unsafe = "; ".join(filter(None, [unsafe, _NIL_ERRORS]))
        note = "" if unsafe is None else f" (unsafe: {unsafe})"
        return self.diagnostic(starts[0].parent, f"{message}; defer {name}.{stop}({spelled}){note}", fix)


def _declares_a_stop_method(data: bytes) -> bool:
    """May the file declare a method named one of ``_STOP_NAMES`` (a question of its bytes)?"""
    return declares_method(data, _STOP_NAMES)


RULE = UnstoppedWorker()


# -- the worker types of a file ---------------------------------------------------


def _worker_types(source: SourceFile) -> dict[bytes, _WorkerType]:
    """The struct types of the file whose Start launches a goroutine that their Stop (or Close) ends."""
    declarations = source.facts(Declarations)
    workers = {}
    for name, info in declarations.types.items():
        if info.fields is None:
            continue  # not a struct type
        worker = _worker_type(source, name, declarations.methods_of(name))
        if worker is not None:
            workers[name] = worker
    return workers


def _worker_type(source: SourceFile, name: bytes, methods: dict[bytes, FunctionInfo]) -> _WorkerType | None:
    """The type as a worker: a stop method that closes channel fields or cancels, and the
    other methods (`Start` first) that launch a goroutine waiting for just that."""
    fallback = None
    for stop_name in _STOP_NAMES:
        stop = methods.get(stop_name)
        if stop is None or not _receiver(stop):
            continue
        effects = _stop_effects(source, stop)
        if not (effects.closed or effects.cancelled):
            continue
        loops = {}
        for starter in sorted(methods, key=lambda method: (method != b"Start", method)):
            method = methods[starter]
            if starter in _STOP_NAMES or not _receiver(method) or _calls_stop(source, effects, method):
                continue  # a method that stops the worker itself starts nothing left running
            loop = _goroutine_waiting_for(source, methods, method, effects)
            if loop is not None:
                loops[starter] = loop
        if loops:
            return _WorkerType(name, methods, stop, effects, loops)
        fallback = fallback or _WorkerType(name, methods, stop, effects, {})
    return fallback  # no method starts it: a constructor may (_constructors)


@dataclass(frozen=True)
class _Constructor:
    """A function of the file that makes a worker, launches its goroutine and returns it."""

    info: FunctionInfo
    worker: _WorkerType
    loop: _Loop


def _constructors(source: SourceFile, workers: dict[bytes, _WorkerType]) -> dict[bytes, list[_Constructor]]:
    """By name (a function and methods may share one): the functions and methods of the file that return `*T` (or `T`, when T's
    stop has a value receiver) for a worker type T, made in their body as `x := &T{…}`,
    after launching the goroutine that waits for x's stop; x is used for nothing else
    than its own methods (none of them a stop) and `return x`."""
    declarations = source.facts(Declarations)
    infos = [info for found in declarations.part.functions.values() for info in found]
    infos.extend(info for methods in declarations.part.methods.values() for info in methods.values())
    found: dict[bytes, list[_Constructor]] = {}
    for info in sorted(infos, key=lambda info: info.node.start_byte):
        results = syntax.result_types(info.node)
        if len(results) != 1 or results[0] is None or b"go" not in source.text(info.node):
            continue
        result_type = syntax.unparen_type(results[0])
        pointer = syntax.is_pointer_type(result_type)
        named = syntax.pointee(result_type) if pointer else result_type
        worker = workers.get(source.text(named)) if named is not None and syntax.is_type_identifier(named) else None
        if worker is None or (not pointer and worker.stop.pointer_receiver):
            continue
        made = _returned_worker(source, info, worker)
        if made is None:
            continue
        loop = _goroutine_of(source, worker.methods, syntax.function_body(info.node), made.name, worker.effects)
        if loop is not None:
            found.setdefault(info.name, []).append(_Constructor(info, worker, loop))
    return found


def _returned_worker(source: SourceFile, info: FunctionInfo, worker: _WorkerType) -> Declaration | None:
    """The local every return of the function returns, made there as a ``worker``, used only
    through its methods (none of which stops it), in `go x.m()`, and in the returns."""
    scopes = source.scopes(info.node)
    body = syntax.function_body(info.node)
    returned: Declaration | None = None
    for node in own_descendants(source, body, syntax.RETURN_KINDS) if body is not None else ():
        values = syntax.return_values(node)
        decl = scopes.resolve(values[0]) if len(values) == 1 and syntax.is_identifier(values[0]) else None
        if decl is None or (returned is not None and decl != returned):
            return None
        returned = decl
    if returned is None or made_type_name(source, returned) != worker.name or syntax.enclosing_function(returned.statement) != info.node:
        return None
    for ref in scopes.references(returned):
        if _returned(ref):
            continue
        method = _method_of(source, ref)
        if method not in worker.methods or method in worker.stops or _calls_stop(source, worker.effects, worker.methods[method]):
            return None  # it escapes, or is stopped, or is used in a way the rule does not model
    return returned


def _returned(ref: Node) -> bool:
    """Is ``ref`` one of the values of a return statement (`return x`, `return x, nil`)?"""
    for parent in (ref.parent, ref.parent.parent if ref.parent is not None else None):
        if syntax.is_return(parent):
            return any(syntax.same_node(value, ref) for value in syntax.return_values(parent))
    return False


def _receiver(method: FunctionInfo) -> bytes:
    """The receiver's name inside the method (b"" when unnamed)."""
    return method.receiver_name or b""


def _field_of(source: SourceFile, node: Node | None, receiver: bytes) -> bytes | None:
    """`r.f` with r the method's receiver: b"f"."""
    parts = syntax.selector_parts(syntax.unparen(node)) if node is not None else None
    if parts is None or not syntax.is_identifier(parts[0]) or source.text(parts[0]) != receiver:
        return None
    return source.text(parts[1])


def _stop_effects(source: SourceFile, stop: FunctionInfo) -> _StopEffects:
    """Fields Stop closes and cancel fields it calls, and why a deferred Stop would not be
    provably harmless (no blocker when every statement is such a close or cancel)."""
    effects = _StopEffects()
    receiver = _receiver(stop)
    does_more = f"{stop.name.decode()} does more than close channels or cancel"

    _visit_stop(source, receiver, does_more, effects, syntax.body_statements(stop.node), False)
    return effects


def _visit_stop(source: SourceFile, receiver, does_more: str, effects: _StopEffects, statement_list: list[Node], in_once: bool) -> None:
    """_stop_effects' walk of Stop's statements (a function of its own: a recursive
    closure would hold the file in a reference cycle)."""
    for statement in statement_list:
        call = syntax.expression_of(statement)
        if call is None or not syntax.is_call(call):
            effects.blocker = effects.blocker or does_more
            continue
        function = syntax.callee(call)
        args = syntax.call_arguments(call)
        closed = _field_of(source, args[0], receiver) if len(args) == 1 else None
        if syntax.is_builtin_call(call, b"close") and closed:
            effects.closed.add(closed)
            continue
        field_name = _field_of(source, function, receiver)
        if field_name is not None and not args:
            effects.cancelled.add(field_name)
            continue
        # r.once.Do(func() { close(r.done) })
        parts = syntax.selector_parts(function)
        if parts is not None and source.text(parts[1]) == b"Do" and len(args) == 1 and syntax.is_function_literal(args[0]) and not in_once:
            if _field_of(source, parts[0], receiver) is not None:
                _visit_stop(source, receiver, does_more, effects, syntax.statements(syntax.function_body(args[0])), True)
                continue
        effects.blocker = effects.blocker or does_more


def _goroutine_waiting_for(source: SourceFile, methods: dict[bytes, FunctionInfo], start: FunctionInfo, effects: _StopEffects) -> _Loop | None:
    """The goroutine a method launches that receives from a field the stop closes (or
    waits on a Done() channel, when the stop cancels)."""
    return _goroutine_of(source, methods, syntax.function_body(start.node), _receiver(start), effects)


def _goroutine_of(source: SourceFile, methods: dict[bytes, FunctionInfo], body: Node | None, worker: bytes, effects: _StopEffects) -> _Loop | None:
    """The goroutine ``body`` launches, `go worker.m()` or a function literal, that waits
    for what the stop does (``worker``: the value's name in ``body``)."""
    for go in descendants_of_types(source, body, syntax.GO_KINDS) if body is not None else ():
        literal = syntax.called_function_literal(go)
        loop_body, receiver = None, worker
        if literal is not None:
            loop_body = syntax.function_body(literal)
        else:
            call = syntax.call_of(go)
            method = _field_of(source, syntax.callee(call), worker) if call is not None else None
            if method is not None and method in methods:
                loop_body, receiver = syntax.function_body(methods[method].node), _receiver(methods[method])
        if loop_body is None:
            continue
        for node in syntax.walk(loop_body):
            if _receives_from_stopped(source, node, receiver, effects):
                return _Loop(loop_body, receiver)
    return None


def _receives_from_stopped(source: SourceFile, node: Node, receiver: bytes, effects: _StopEffects) -> bool:
    """`<-r.f` for a field Stop closes, or `<-x.Done()` when Stop cancels."""
    if not syntax.is_receive(node):
        return False
    operand = syntax.unary_operand(node)
    if operand is None:
        return False
    return _field_of(source, operand, receiver) in effects.closed or (bool(effects.cancelled) and is_done_receive(source, node))


def _unsafe_reason(source: SourceFile, worker: _WorkerType, loop: _Loop, decl: Declaration) -> str | None:
    """Why stopping the worker when the function returns could drop work it would still
    have done; None when it cannot: every other channel its goroutine waits on is a field
    this function made unbuffered (each send was taken before the sender went on), and
    nothing else (a timer, a default case, another channel) wakes it up."""
    literal = _composite_literal(decl)
    made: dict[bytes, Node] = {}
    if literal is not None:
        for key_node, value in syntax.composite_elements(literal):
            if key_node is not None:
                made[source.text(key_node)] = value
    elif decl.value is not None:
        return "the worker is not made by a composite literal here"
    method_text = b"".join(source.text(m.node) for m in worker.methods.values())
    for node in syntax.walk(loop.body):
        if syntax.is_default_clause(node):
            return "its goroutine also runs a default case"
        if syntax.is_range_clause(node):
            return "its goroutine ranges over a channel"
        operand = syntax.unary_operand(node) if syntax.is_receive(node) else None
        if operand is None or _receives_from_stopped(source, node, loop.receiver, worker.effects):
            continue
        operand = syntax.unparen(operand)
        name = _field_of(source, operand, loop.receiver)
        if name is None:
            return f"its goroutine also waits on {source.text(operand).decode()}"
        if b"." + name + b" =" in method_text:
            return f"a method reassigns {name.decode()}"
        made_value = made.get(name)
        if made_value is None and literal is not None:
            continue  # a nil channel: receiving from it never wakes the goroutine
        if made_value is None or not syntax.is_call(made_value) or syntax.call_name(made_value, source.data) != b"make":
            return f"{name.decode()} is not made unbuffered here"
        if len(syntax.call_arguments(made_value)) != 1:
            return f"{name.decode()} is buffered: queued items would be dropped"
    return None


def _composite_literal(decl: Declaration) -> Node | None:
    """The `T{…}` (or `&T{…}`) a variable is set from."""
    value = decl.value
    if value is None:
        return None
    value = syntax.unparen(value)
    operand = syntax.unary_operand(value)
    if operand is not None:
        value = syntax.unparen(operand)
    return value if syntax.is_composite_literal(value) else None


def _calls_stop(source: SourceFile, effects: _StopEffects, method: FunctionInfo) -> bool:
    text = source.text(syntax.function_body(method.node) or method.node)
    if any(b"." + name + b"(" in text for name in _STOP_NAMES):
        return True
    receiver = _receiver(method)
    return any(b"close(" + receiver + b"." + f + b")" in text for f in effects.closed) or any(
        receiver + b"." + f + b"()" in text for f in effects.cancelled
    )


# -- the variable -----------------------------------------------------------------


def _starts_never_stopped(source: SourceFile, scopes: FunctionScopes, function: Node, decl: Declaration, worker: _WorkerType) -> list[Node]:
    """The references of a worker variable that start it (`x.Start()`, or another method
    that launches the goroutine), when the function never stops it and never lets it
    escape; empty when it does either (or uses x in a way the rule does not model)."""
    starts: list[Node] = []
    for ref in scopes.references(decl):
        method = _method_of(source, ref)
        if method not in worker.methods:
            return []  # the value escapes (or is used in a way we do not model)
        if method in worker.stops:
            return []  # stopped (or closed) somewhere: the contract may hold
        if syntax.enclosing_function(ref) != function:
            return []  # used by a closure that may outlive the function
        if _calls_stop(source, worker.effects, worker.methods[method]):
            return []  # this method stops the worker itself
        if method in worker.loops:
            starts.append(ref)
    return starts


def _defer_stop_fix(
    source: SourceFile, function: Node, decl: Declaration, worker: _WorkerType, starts: list[Node], unsafe: str | None
) -> Fix | NoFix:
    """`defer x.Stop()` right after the one `x.Start()`; unsafe when ``unsafe`` says why."""
    name, stop = decl.name.decode(), worker.stop.name.decode()
    start = f"{name}.{_method_of(source, starts[0]).decode()}()"
    if worker.effects.blocker is not None:
        return NoFix(worker.effects.blocker)
    arguments = worker.stop_arguments
    if isinstance(arguments, NoFix):
        return arguments
    if len(starts) > 1:
        if len({_method_of(source, ref) for ref in starts}) > 1:
            return NoFix(f"{name} is started by more than one call")
        return NoFix(f"{start} is called more than once")
    statement = _expression_statement(starts[0])
    if statement is None:
        return NoFix(f"the result of {start} is used")
    if inside_loop(statement, function):
        return NoFix(f"{start} runs in a loop")
    edit = insert_after(source, statement, [b"defer " + decl.name + b"." + worker.stop.name + b"(" + arguments + b")"])
    if edit is None:
        return NoFix(f"{start} does not end its line")
    applicability = Applicability.SAFE if unsafe is None and not arguments else Applicability.UNSAFE
    return Fix(f"Defer {name}.{stop}({arguments.decode()}) after {start}", (edit,), applicability)


_NIL_ERRORS = "it is told nil for its error: closed with nothing gone wrong, as far as the function knows"


def _stop_arguments(stop: FunctionInfo) -> bytes | NoFix:
    """What the deferred stop is called with: nothing, or `nil` for each parameter when
    all are of type `error` (`close(err error)`: why it closes, and nothing went wrong
    as far as the function knows); no fix for any other parameter."""
    parameters = syntax.parameters_of(syntax.parameter_list(stop.node))
    if not parameters:
        return b""
    if any(p.variadic or p.type is None or stop.source.text(p.type) != b"error" for p in parameters):
        return NoFix(f"{stop.name.decode()} takes arguments, which only the code can choose")
    return b", ".join(b"nil" for p in parameters for _ in (p.names or (None,)))


def _calls_constructor(source: SourceFile, scopes: FunctionScopes, call: Node, made: _Constructor) -> bool:
    """Does ``call`` call the constructor? A function by its name, no local shadowing it
    and no other function or method of the package so named; a method on a value whose
    type the source states (a receiver or parameter) or makes (`db := &DB{…}`) as the
    constructor's receiver type."""
    named = called_name(source, scopes, call)
    if named is None:
        callee = syntax.callee(call)
        parts = syntax.selector_parts(syntax.unparen(callee)) if callee is not None else None
        operand = syntax.unparen(parts[0]) if parts is not None else None
        decl = scopes.resolve(operand) if operand is not None and syntax.is_identifier(operand) else None
        type_name = made_type_name(source, decl) if decl is not None else None
        named = (type_name, source.text(parts[1])) if type_name is not None and parts is not None else None
    if named is None or named[1] != made.info.name or named[0] != made.info.receiver_type:
        return False
    return named[0] is not None or len(source.facts(PackageIndex).callables_named(made.info.name)) == 1


def _defer_stop_of_result(source: SourceFile, function: Node, statement: Node, call: Node, made: _Constructor) -> Fix | NoFix:
    """`defer newWorker(…).Stop()` in place of the statement `newWorker(…)`: the call still
    runs there, and the worker is stopped when the function returns."""
    stop = made.worker.stop
    if made.worker.effects.blocker is not None:
        return NoFix(made.worker.effects.blocker)
    arguments = made.worker.stop_arguments
    if isinstance(arguments, NoFix):
        return arguments
    if inside_loop(statement, function):
        return NoFix("the call runs in a loop")
    edits = (Edit.insert(statement.start_byte, b"defer "), Edit.insert(call.end_byte, b"." + stop.name + b"(" + arguments + b")"))
    return Fix(f"Defer {stop.name.decode()}({arguments.decode()}) on the result", edits, Applicability.UNSAFE)


def _method_of(source: SourceFile, ref: Node) -> bytes:
    """The method called on ``ref`` (the x of `x.Start()`); b"" when none is."""
    method_node = syntax.method_called_on(ref)
    return source.text(method_node) if method_node is not None else b""


def _expression_statement(ref: Node) -> Node | None:
    """The statement `x.Start()` when the call of ``ref`` (the x of `x.Start()`) stands alone."""
    selector = ref.parent
    call = selector.parent if selector is not None else None
    statement = call.parent if call is not None else None
    return statement if syntax.is_expression_statement(statement) else None


def _function_name(source: SourceFile, function: Node) -> str:
    name = syntax.function_name(function)
    return source.text(name).decode() if name is not None else "the function"
