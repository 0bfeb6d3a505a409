"""lost-cancel: the cancel function of context.WithCancel/WithTimeout/WithDeadline… is discarded or not called on every path."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.access import Access, access
from gofix_defer.codemods.analysis.calls import CallSummaries
from gofix_defer.codemods.analysis.control import exit_kind, exit_missing, in_return_of, inside_loop, only_followed_by
from gofix_defer.codemods.analysis.escapes import assigned_from, stores_value
from gofix_defer.codemods.analysis.imports import imported_name
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types, own_descendants
from gofix_defer.codemods.analysis.scope import Declaration, FunctionScopes, Scopes, fresh_name
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.edits.insertion import insert_after, insert_before
from gofix_defer.codemods.model import Applicability, Diagnostic, Edit, Fix, NoFix, Rule

# The constructors whose second result is a cancel function, and whether that
# function takes a cause (`context.CancelCauseFunc`: `cancel(nil)`).
_CONSTRUCTORS = {
    b"WithCancel": False,
    b"WithTimeout": False,
    b"WithDeadline": False,
    b"WithCancelCause": True,
    b"WithTimeoutCause": False,
    b"WithDeadlineCause": False,
}
# golang.org/x/net/context has been an alias of the standard package since Go 1.7.
_CONTEXT_PACKAGES = (b"context", b"golang.org/x/net/context")
# Methods that end the goroutine or the program, whoever the receiver is: t.Fatal,
# logger.Fatalf, klog.Exit, s.FailNow… (a path ending there returns nowhere).
_ENDING_METHODS = frozenset(
    {
        b"Fatal",
        b"Fatalf",
        b"Fatalln",
        b"FailNow",
        b"Skip",
        b"Skipf",
        b"SkipNow",
        b"Exit",
        b"Exitf",
        b"Panic",
        b"Panicf",
        b"Panicln",
        b"Goexit",
    }
)
# Result types that cannot carry a context back to the caller.
_PLAIN_TYPES = frozenset(
    b.encode()
    for b in (
        "error bool string byte rune int int8 int16 int32 int64 uint uint8 uint16 uint32 uint64 uintptr"
        " float32 float64 complex64 complex128 []byte []string []int time.Duration time.Time"
    ).split()
)


class LostCancel(Rule):
    """
    ## What it does
    Finds the cancel function returned by `context.WithCancel`,
    `WithTimeout`, `WithDeadline`, `WithCancelCause`, `WithTimeoutCause` or
    `WithDeadlineCause` (also through `golang.org/x/net/context`) when it is
    discarded (`ctx, _ := context.WithTimeout(parent, d)`), or when some path
    from the call to a `return` (or to the end of the function) never
    mentions it: no `cancel()`, no `defer cancel()`, and nothing that hands it
    on. This is what `go vet`'s `lostcancel` analyzer reports. Paths that end
    in `panic`, `os.Exit`, `log.Fatal*`, `t.Fatal*` or `runtime.Goexit` do not
    count, nor do the paths of `main.main` (the process ends there; a cancel
    `main` discards is still reported, as vet does). A cancel stored in a
    field, or declared outside the function, is someone else's to call.
    Unlike vet, it leaves alone a context whose deadline is already past when
    it is made (`WithTimeout(ctx, -time.Second)`, `WithTimeout(ctx, 0)`,
    `WithDeadline(ctx, time.Unix(0, 0))`: the context package cancels it
    before returning it, and starts no timer), and a path that leaves only
    after receiving from the parent's `Done()` (`case <-parent.Done():
    return`): the parent's cancellation has cancelled the derived context too.

    ## Why is this bad
    A derived context lives until it is cancelled or its parent is done.
    Until then the parent keeps a reference to it, and `WithTimeout` keeps a
    timer. When the parent is not one of the context package's own types (a
    request or job type of your own with a `Done()` channel), `context`
    starts a goroutine per derived context that waits for either to end:
    every call that loses its cancel leaves one goroutine behind until the
    parent is done, which for a long-lived parent is for ever.

    ## Example
    ```go
    func fetch(parent context.Context, fast bool) error {
        ctx, cancel := context.WithTimeout(parent, time.Second)
        if fast {
            return work(ctx) // leaves without cancel()
        }
        defer cancel()
        return work(ctx)
    }
    ```

    ## Fix
    Defer the cancel right after the call, naming it first when it was
    discarded (`ctx, cancel := …`; `defer cancel(nil)` for a
    `CancelCauseFunc`):
    ```go
    func fetch(parent context.Context, fast bool) error {
        ctx, cancel := context.WithTimeout(parent, time.Second)
        defer cancel()
        if fast {
            return work(ctx)
        }
        return work(ctx)
    }
    ```
    A later `defer cancel()` is removed when no other defer is registered
    between the two (so every deferred call still runs in the same order),
    and a later `cancel()` when nothing but a `return` of plain values follows
    it and no defer is registered after the call; other calls stay (calling a
    cancel function twice is harmless). No fix (report only) when the cancel
    is handed to someone else (passed, stored, returned, called by a goroutine
    or a function value) on another path, when the call is in a loop (a
    deferred cancel would wait for the function to return), or when it sits
    in an `if` or `switch` header or shares its line with other code. Also
    no fix when the context (or a value derived from it) is returned, or
    assigned to a field, an element or a variable declared outside the
    function: it is kept to be used after the function returns, and a
    deferred cancel would end it right then (the cancel belongs with whoever
    keeps the context, which takes a change of signature).

    ## Fix safety
    Safe when the context does not outlive the function as far as the source
    shows: it (or a value derived from it, such as a request made with it)
    does not reach a goroutine, a function value, a value it is stored in or
    a channel, and no function of the package it is passed to uses it in a
    goroutine; calls to other packages are taken to use it while they run.
    Otherwise unsafe, and the message says where the context goes:
    cancelling it when the function returns stops the work that still uses
    it.
    """

    name = "lost-cancel"
    summary = "The cancel function of context.WithCancel/WithTimeout/WithDeadline is discarded or not called on every path"
    fix_availability = "sometimes"
    applicability = Applicability.SAFE
    triggers = (b".WithCancel", b".WithTimeout", b".WithDeadline")
    requires = (Scopes, CallSummaries)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        packages = [name for name in (imported_name(source, path) for path in _CONTEXT_PACKAGES) if name is not None]
        if not packages:
            return
        for call in nodes_of_types(source, syntax.CALL_KINDS):
            constructor = _constructor(source, call, packages)
            if constructor is not None:
                yield from self._check_call(source, constructor)

    def _check_call(self, source: SourceFile, made: _Made) -> Iterator[Diagnostic]:
        function, cancel = made.function, made.cancel
        scopes = source.scopes(syntax.outermost_function(made.call) or function)
        if scopes.resolve(made.package) is not None:
            return  # a local variable named like the package
        if _expired_at_once(source, scopes, made):
            return  # a deadline already past: the context is cancelled as it is made
        if _is_blank(source, cancel):
            message = f"the cancel function returned by {made.spelled} is discarded: {_what_leaks(made, discarded=True)} (possible context leak)"
            yield self._report(source, scopes, made, cancel, None, [], message, "name it and defer it")
            return
        if not syntax.is_identifier(cancel):
            return  # stored in a field or an element: its owner calls it
        decl = scopes.resolve(cancel)
        if decl is None or not syntax.is_inside(decl.ident, function):
            return  # declared outside the function: not this function's to call
        if _is_main(source, function):
            return  # returning from main.main ends the process (a discarded cancel is still reported)
        marks = scopes.references(decl)
        ending = _path_ender(source)
        # A path that has received from the parent's Done() leaves a context already cancelled.
        parent_done = _parent_done_receives(source, scopes, made)
        exit_node = exit_missing(source, function, made.statement, [*marks, *parent_done], bare_return_marks=decl.kind == "result", ends_path=ending)
        if exit_node is None:
            return
        name = decl.name.decode()
        if syntax.is_return(exit_node):
            where = f"the return on line {source.line_col(exit_node.start_byte)[0]}"
        else:
            where = f"the end of the function (line {source.line_col(exit_node.end_byte - 1)[0]})"
        message = (
            f"{name} (from {made.spelled}) is not called on every path: {where} leaves without it,"
            f" and {_what_leaks(made, discarded=False)} (possible context leak)"
        )
        uses = [_classify(source, function, decl, r) for r in marks if not syntax.is_inside(r, made.statement)]
        span = (made.left[0].start_byte, made.call.end_byte)
        yield self._report(source, scopes, made, span, decl, uses, message, f"defer {_call_text(made, name)} right after the call")

    def _report(
        self,
        source: SourceFile,
        scopes: FunctionScopes,
        made: _Made,
        where: Node | tuple[int, int],
        decl: Declaration | None,
        uses: list[_Use],
        message: str,
        advice: str,
    ) -> Diagnostic:
        escape = _context_escape(source, scopes, made)
        unsafe = escape.where if escape is not None else None
        fix = _fix(source, made, decl, uses, unsafe)
        if escape is not None and escape.kept and not isinstance(fix, NoFix):
            # Returned, or kept in a field or a variable of elsewhere, the context is
            # used after the function returns: a deferred cancel would end it right then.
            fix = NoFix(f"{escape.where}, so it is used after the function returns and a deferred cancel would end it then: the cancel belongs with whoever keeps the context")
        if isinstance(fix, NoFix):
            return self.diagnostic(where, fix.annotate(message))
        message = f"{message}; {advice}"
        if unsafe is not None:
            message += f" (unsafe fix: {unsafe}, and cancelling it at return stops that work)"
        return self.diagnostic(where, message, fix)


RULE = LostCancel()


# -- finding ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Made:
    """`ctx, cancel := context.WithTimeout(…)`, and where it stands."""

    call: Node
    package: Node  # the package name the call is made through
    constructor: bytes  # WithTimeout…
    spelled: str  # "context.WithTimeout", as the file writes it
    takes_cause: bool  # the cancel is a CancelCauseFunc
    assignment: Node  # the short variable declaration, assignment or var spec
    statement: Node  # the statement holding it (the var declaration for a spec)
    left: tuple[Node, ...]  # (ctx, cancel) targets
    function: Node  # the function whose code makes the call

    @property
    def cancel(self) -> Node:
        return self.left[1]


def _constructor(source: SourceFile, call: Node, packages: list[bytes]) -> _Made | None:
    parts = syntax.selector_call(call)
    if parts is None or not syntax.same_node(parts[2], call):
        return None
    operand, field, _ = parts
    name = source.text(field)
    if name not in _CONSTRUCTORS or not syntax.is_identifier(operand) or source.text(operand) not in packages:
        return None
    found = _assignment_of(call)
    if found is None:
        return None
    assignment, left = found
    if len(left) != 2:
        return None
    statement: Node | None = assignment
    if syntax.is_var_spec(assignment):
        while statement is not None and not syntax.is_var_declaration(statement):
            statement = statement.parent
    if statement is None:
        return None
    function = syntax.enclosing_function(call)
    if function is None:
        return None
    spelled = f"{source.text(operand).decode()}.{name.decode()}"
    return _Made(call, operand, name, spelled, _CONSTRUCTORS[name], assignment, statement, tuple(left), function)


def _assignment_of(call: Node) -> tuple[Node, list[Node]] | None:
    """The `:=`, `=` or var spec whose only value is ``call``, with its targets."""
    statement = syntax.listing_statement(call)
    if statement is not None:
        if not (syntax.is_short_var_declaration(statement) or syntax.is_plain_assignment(statement)):
            return None
        right = syntax.right_side(statement)
        return (statement, syntax.left_side(statement)) if len(right) == 1 and syntax.same_node(right[0], call) else None
    items = call.parent
    spec = items.parent if items is not None and syntax.is_expression_list(items) else None
    if spec is None or not syntax.is_var_spec(spec) or syntax.var_spec_type(spec) is not None:
        return None
    values = syntax.var_spec_values(spec)
    return (spec, syntax.var_spec_names(spec)) if len(values) == 1 and syntax.same_node(values[0], call) else None


# -- contexts that end without their cancel ----------------------------------------------

# The units of time.Duration, as constants of the time package.
_TIME_UNITS = frozenset({b"Nanosecond", b"Microsecond", b"Millisecond", b"Second", b"Minute", b"Hour"})
# time.Unix seconds below this (September 2001) are long past.
_PAST_UNIX_SECONDS = 1_000_000_000


def _expired_at_once(source: SourceFile, scopes: FunctionScopes, made: _Made) -> bool:
    """Is the deadline already past when the context is made (`WithTimeout(ctx, -time.Second)`,
    `WithTimeout(ctx, 0)`, `WithDeadline(ctx, time.Unix(0, 0))`, `WithDeadline(ctx, time.Time{})`)?
    Then the context package cancels the context before it returns it: no timer is started
    and the parent keeps no reference, so the cancel has nothing left to release."""
    arguments = syntax.call_arguments(made.call)
    if len(arguments) < 2:
        return False
    time_package = imported_name(source, b"time")
    if made.constructor.startswith(b"WithTimeout"):
        return _non_positive_duration(source, scopes, arguments[1], time_package)
    if made.constructor.startswith(b"WithDeadline"):
        return _past_time(source, scopes, arguments[1], time_package)
    return False


def _time_member(source: SourceFile, scopes: FunctionScopes, node: Node, time_package: bytes | None, names: frozenset[bytes]) -> bool:
    """`time.X` for X in ``names``, with `time` the imported package (not a local variable)."""
    parts = syntax.selector_parts(syntax.unparen(node))
    if parts is None or time_package is None:
        return False
    package, member = parts
    return syntax.is_identifier(package) and source.text(package) == time_package and scopes.resolve(package) is None and source.text(member) in names


def _time_call(source: SourceFile, scopes: FunctionScopes, node: Node, time_package: bytes | None, name: bytes) -> list[Node] | None:
    """The arguments of a call `time.<name>(…)`, or None when ``node`` is not one."""
    node = syntax.unparen(node)
    if not syntax.is_call(node) or syntax.is_spread_call(node):
        return None
    function = syntax.callee(node)
    if function is None or not _time_member(source, scopes, function, time_package, frozenset({name})):
        return None
    return syntax.call_arguments(node)


def _int_value(source: SourceFile, node: Node) -> int | None:
    """The value of an integer literal, `-` literal included."""
    node = syntax.unparen(node)
    sign = 1
    if syntax.is_unary(node, b"-"):
        operand = syntax.unary_operand(node)
        if operand is None:
            return None
        node, sign = syntax.unparen(operand), -1
    if not syntax.is_int_literal(node):
        return None
    try:
        return sign * int(source.text(node).decode().replace("_", ""), 0)
    except ValueError:
        return None


def _non_negative_constant(source: SourceFile, scopes: FunctionScopes, node: Node, time_package: bytes | None) -> bool:
    """A product of number literals and units of time (`5 * time.Second`): never negative."""
    node = syntax.unparen(node)
    if syntax.is_int_literal(node) or syntax.is_float_literal(node):
        return True
    if _time_member(source, scopes, node, time_package, _TIME_UNITS):
        return True
    parts = syntax.binary_parts(node)
    if parts is not None and parts[1] == b"*":
        return _non_negative_constant(source, scopes, parts[0], time_package) and _non_negative_constant(source, scopes, parts[2], time_package)
    converted = _time_call(source, scopes, node, time_package, b"Duration")
    return converted is not None and len(converted) == 1 and _non_negative_constant(source, scopes, converted[0], time_package)


def _non_positive_duration(source: SourceFile, scopes: FunctionScopes, node: Node, time_package: bytes | None) -> bool:
    """A duration written as zero or as the negation of a constant: `0`, `-time.Second`,
    `-5 * time.Millisecond`, `time.Duration(-1)` (a product of constants with one such factor)."""
    node = syntax.unparen(node)
    if _int_value(source, node) == 0:
        return True
    if syntax.is_unary(node, b"-"):
        operand = syntax.unary_operand(node)
        return operand is not None and _non_negative_constant(source, scopes, operand, time_package)
    parts = syntax.binary_parts(node)
    if parts is not None and parts[1] == b"*":  # `-5 * time.Second` is `(-5) * time.Second`
        left, right = parts[0], parts[2]
        return (_non_positive_duration(source, scopes, left, time_package) and _non_negative_constant(source, scopes, right, time_package)) or (
            _non_negative_constant(source, scopes, left, time_package) and _non_positive_duration(source, scopes, right, time_package)
        )
    converted = _time_call(source, scopes, node, time_package, b"Duration")
    return converted is not None and len(converted) == 1 and _non_positive_duration(source, scopes, converted[0], time_package)


def _past_time(source: SourceFile, scopes: FunctionScopes, node: Node, time_package: bytes | None) -> bool:
    """A time long past, as written: `time.Unix(0, 0)` (any literal seconds before 2001), or
    the zero `time.Time{}`."""
    node = syntax.unparen(node)
    unix = _time_call(source, scopes, node, time_package, b"Unix")
    if unix is not None:
        seconds = _int_value(source, unix[0]) if len(unix) == 2 else None
        return seconds is not None and seconds < _PAST_UNIX_SECONDS and _int_value(source, unix[1]) is not None
    if syntax.is_composite_literal(node):
        parts = syntax.qualified_parts(syntax.composite_type(node) or node)
        return (
            parts is not None
            and time_package is not None
            and source.text(parts[0]) == time_package
            and source.text(parts[1]) == b"Time"
            and not syntax.composite_elements(node)
        )
    return False


def _parent_done_receives(source: SourceFile, scopes: FunctionScopes, made: _Made) -> list[Node]:
    """The receives `<-parent.Done()` of the function's own code, where ``parent`` is the
    variable the context is derived from and is never assigned again: once one is done,
    the parent is cancelled, and with it every context derived from it."""
    arguments = syntax.call_arguments(made.call)
    parent = syntax.unparen(arguments[0]) if arguments else None
    if not syntax.is_identifier(parent):
        return []
    decl = scopes.resolve(parent)
    if decl is None or any(access(r) in (Access.WRITE, Access.ADDRESS) for r in scopes.references(decl)):
        return []  # declared outside the function, or it may hold another context by then
    found = []
    for node in syntax.walk_no_funcs(syntax.function_body(made.function)):
        if not syntax.is_receive(node):
            continue
        operand = syntax.unary_operand(node)
        call = syntax.selector_call(operand) if operand is not None else None
        if call is None or source.text(call[1]) != b"Done" or syntax.call_arguments(call[2]):
            continue
        receiver = syntax.unparen(call[0])
        if syntax.is_identifier(receiver) and scopes.resolve(receiver) is decl:
            found.append(node)
    return found


def _what_leaks(made: _Made, discarded: bool) -> str:
    if made.constructor.startswith((b"WithTimeout", b"WithDeadline")):
        return "the context and its timer stay until the deadline passes or the parent is done"
    if discarded:
        return "the context is never cancelled and leaks until its parent is done"
    return "the context leaks until its parent is done"


def _is_blank(source: SourceFile, node: Node) -> bool:
    return syntax.is_identifier(node) and source.text(node) == b"_"


def _is_main(source: SourceFile, function: Node) -> bool:
    name = syntax.function_name(function)
    return name is not None and not syntax.is_method(function) and source.text(name) == b"main" and syntax.package_name(source.root) == b"main"


def _path_ender(source: SourceFile) -> Callable[[Node], bool]:
    """Calls after which the function never returns: the usual exits, and a Fatal,
    FailNow, Skip or Exit method of any receiver (test helpers, loggers)."""

    def ends(call: Node) -> bool:
        kind = exit_kind(source, call)
        if kind is not None:
            return True
        parts = syntax.selector_call(call)
        return parts is not None and source.text(parts[1]) in _ENDING_METHODS

    return ends


class _UseKind(enum.Enum):
    CALL = "call"  # `cancel()` in the function's own flow (or a literal it calls or defers)
    DEFERRED = "deferred"  # `defer cancel()`
    WRITE = "write"  # assigned again
    CHECK = "check"  # `cancel != nil`
    HANDOFF = "handoff"  # passed, stored, returned, called by a goroutine or a function value


@dataclass(frozen=True)
class _Use:
    kind: _UseKind
    reference: Node
    how: str = ""  # for a hand-off: where it goes


def _classify(source: SourceFile, function: Node, decl: Declaration, reference: Node) -> _Use:
    line = source.line_col(reference.start_byte)[0]
    if decl.kind == "result":
        return _Use(_UseKind.HANDOFF, reference, f"it is a named result, returned to the caller (line {line})")
    touched = access(reference)
    if touched is Access.WRITE:
        return _Use(_UseKind.WRITE, reference)
    if touched is Access.ADDRESS:
        return _Use(_UseKind.HANDOFF, reference, f"its address is taken on line {line}")
    outer, parent = syntax.paren_parent(reference)
    if parent is not None and syntax.is_binary(parent):
        return _Use(_UseKind.CHECK, reference)
    if parent is None or not syntax.is_call(parent) or not syntax.same_node(syntax.callee(parent), outer):
        return _Use(_UseKind.HANDOFF, reference, _handed_how(source, function, reference, line))
    for holder in syntax.ancestors(parent):
        if syntax.same_node(holder, function):
            break
        if syntax.is_go(holder):
            return _Use(_UseKind.HANDOFF, reference, f"the goroutine started on line {source.line_col(holder.start_byte)[0]} calls it")
        if syntax.is_function_literal(holder):
            started = syntax.how_started(holder)
            if started == "go":
                return _Use(_UseKind.HANDOFF, reference, f"the goroutine started on line {source.line_col(holder.start_byte)[0]} calls it")
            if started == "value":
                return _Use(_UseKind.HANDOFF, reference, f"the function value made on line {source.line_col(holder.start_byte)[0]} calls it")
    statement = parent.parent
    if statement is not None and syntax.is_defer(statement) and syntax.same_node(syntax.call_of(statement), parent):
        return _Use(_UseKind.DEFERRED, reference)
    return _Use(_UseKind.CALL, reference)


def _handed_how(source: SourceFile, function: Node, reference: Node, line: int) -> str:
    if in_return_of(function, reference):
        return f"it is returned on line {line}"
    outer, parent = syntax.paren_parent(reference)
    call = parent.parent if parent is not None and syntax.is_arguments(parent) else None
    if call is not None:
        callee = syntax.callee(call)
        spelled = source.text(callee).decode("utf-8", "replace") if callee is not None else "a call"
        return f"it is passed to {spelled} on line {line}"
    if stores_value(source, reference):
        return f"it is stored on line {line}"
    return f"it is used as a value on line {line}"


# -- fixing ---------------------------------------------------------------------------


def _call_text(made: _Made, name: str) -> str:
    return f"{name}(nil)" if made.takes_cause else f"{name}()"


def _fix(source: SourceFile, made: _Made, decl: Declaration | None, uses: list[_Use], unsafe: str | None) -> Fix | NoFix:
    handoff = next((use for use in uses if use.kind is _UseKind.HANDOFF), None)
    if handoff is not None:
        return NoFix(f"{handoff.how}: whoever gets it decides when to cancel, and a deferred cancel could cut that short")
    statement, function = made.statement, made.function
    if not syntax.is_statement(statement):
        return NoFix("the call is in the header of a statement: there is no place right after it for a defer")
    if inside_loop(statement, function):
        return NoFix("the call is in a loop: a deferred cancel would run only when the function returns, after every turn")
    edits: list[Edit] = []
    if decl is None:
        outermost = syntax.outermost_function(made.call) or function
        name = fresh_name(source.data, outermost, "cancel")
        edits.append(Edit(made.cancel.start_byte, made.cancel.end_byte, name.encode()))
        if syntax.is_assignment(made.assignment):
            package = made.spelled.split(".", 1)[0]
            kind = "CancelCauseFunc" if made.takes_cause else "CancelFunc"
            declaration = insert_before(source, statement, [f"var {name} {package}.{kind}".encode()])
            if declaration is None:
                return NoFix("the call shares its line with other code")
            edits.append(declaration)
        title = f"Name the cancel function of {made.spelled} and defer it"
    else:
        name = decl.name.decode()
        title = f"Defer {_call_text(made, name)} right after {made.spelled}"
    deferred = insert_after(source, statement, [f"defer {_call_text(made, name)}".encode()])
    if deferred is None:
        return NoFix("the call shares its line with other code")
    edits.append(deferred)
    if decl is not None and syntax.same_node(decl.statement, made.assignment):
        # Only a cancel this statement declares: every later use is reached through it.
        edits.extend(_redundant(source, made, uses))
    return Fix(title, tuple(edits), Applicability.SAFE if unsafe is None else Applicability.UNSAFE)


def _plain_cancel_call(source: SourceFile, made: _Made, call: Node) -> bool:
    """`cancel()`, or `cancel(nil)` for a CancelCauseFunc, with nothing else between the parentheses."""
    arguments = syntax.call_arguments(call, with_comments=True)
    if made.takes_cause:
        return len(arguments) == 1 and source.text(arguments[0]) == b"nil"
    return not arguments


def _redundant(source: SourceFile, made: _Made, uses: list[_Use]) -> list[Edit]:
    """Deletions of the later `defer cancel()` and `cancel()` statements that the new defer
    makes redundant without changing what runs when, on any path."""
    if any(use.kind is _UseKind.WRITE for use in uses):
        return []  # the name may hold another cancel function by then
    function = made.function
    after = made.statement.end_byte
    defers = [d for d in own_descendants(source, function, syntax.DEFER_KINDS) if d.start_byte >= after]
    removed: list[Node] = []
    for use in uses:
        if use.kind is not _UseKind.DEFERRED:
            continue
        call = use.reference.parent
        statement = call.parent if call is not None else None
        if call is None or statement is None or not _own_statement(statement, function) or not _plain_cancel_call(source, made, call):
            continue
        if any(d.start_byte < statement.start_byte for d in defers if d not in removed):
            continue  # another defer registered in between would now run before the cancel
        removed.append(statement)
    if any(d not in removed for d in defers):
        return [edit for edit in map(lambda s: _delete_line(source, s), removed) if edit is not None]
    body = syntax.function_body(function)
    for use in uses:
        if use.kind is not _UseKind.CALL:
            continue
        _, call = syntax.paren_parent(use.reference)
        statement = call.parent if call is not None else None
        if call is None or statement is None or not syntax.is_expression_statement(statement) or not _own_statement(statement, function):
            continue
        if not syntax.same_node(syntax.expression_of(statement), call) or not _plain_cancel_call(source, made, call):
            continue
        if body is not None and only_followed_by(statement, body, (), ends=_inert_return):
            removed.append(statement)
    return [edit for edit in map(lambda s: _delete_line(source, s), removed) if edit is not None]


def _own_statement(statement: Node, function: Node) -> bool:
    """A statement of ``function``'s own code, in a statement list, outside any loop."""
    return syntax.is_statement(statement) and syntax.same_node(syntax.enclosing_function(statement), function) and not inside_loop(statement, function)


def _inert_return(statement: Node) -> bool:
    """A return whose values call nothing and receive nothing: evaluating them cannot
    see whether the context is cancelled yet."""
    return not any(syntax.is_call(n) or syntax.is_receive(n) for value in syntax.return_values(statement) for n in syntax.walk(value))


def _delete_line(source: SourceFile, statement: Node) -> Edit | None:
    """Delete the line ``statement`` has to itself (and a blank line it leaves doubled)."""
    start, end = source.line_start(statement.start_byte), source.line_end(statement.end_byte)
    if source.data[start : statement.start_byte].strip() or source.data[statement.end_byte : end].strip():
        return None
    end = min(end + 1, len(source.data))
    before = source.data[source.line_start(max(start - 1, 0)) : start] if start > 0 else b""
    following_end = source.line_end(end) if end < len(source.data) else end
    following = source.data[end:following_end]
    if not before.strip() and not following.strip() and end < len(source.data):
        end = min(following_end + 1, len(source.data))
    return Edit.delete(start, end)


# -- does the context outlive the function? ---------------------------------------------


@dataclass(frozen=True)
class _Escape:
    where: str  # a clause for the message
    # Kept by whoever gets it (returned, kept in a field or a variable declared outside
    # the function): it is meant to be used after the function returns, which a
    # deferred cancel ends. Otherwise it reaches work that may run on (a goroutine, a
    # function value, a value it is stored in).
    kept: bool


def _context_escape(source: SourceFile, scopes: FunctionScopes, made: _Made) -> _Escape | None:
    """Where the context (or a value made from it) goes beyond the function; None when,
    as far as the source shows, it goes nowhere."""
    ctx, function = made.left[0], made.function
    if _is_blank(source, ctx):
        return None
    line = source.line_col(ctx.start_byte)[0]
    if not syntax.is_identifier(ctx):
        return _Escape(f"the context is stored in {source.text(ctx).decode()} on line {line}", kept=True)
    decl = scopes.resolve(ctx)
    if decl is None or not syntax.is_inside(decl.ident, function):
        return _Escape(f"the context is assigned to {source.text(ctx).decode()}, declared outside the function", kept=True)
    followed, seen = [decl], {decl.key}
    after = made.statement.end_byte
    while followed and len(seen) < 32:
        current = followed.pop(0)
        name = current.name.decode()
        for reference in scopes.references(current):
            if reference.start_byte < after or not syntax.is_inside(reference, function):
                continue
            reason = _escape_of(source, scopes, function, reference, name)
            if reason is not None:
                return reason
            for target in assigned_from(reference):
                if _is_blank(source, target) or not syntax.is_identifier(target):
                    continue
                derived = scopes.resolve(target)
                if derived is None or not syntax.is_inside(derived.ident, function):
                    return _Escape(f"{name} is assigned to {source.text(target).decode()}, declared outside the function", kept=True)
                if derived.key not in seen:
                    seen.add(derived.key)
                    followed.append(derived)
    return None


def _escape_of(source: SourceFile, scopes: FunctionScopes, function: Node, reference: Node, name: str) -> _Escape | None:
    line = source.line_col(reference.start_byte)[0]
    for holder in syntax.ancestors(reference):
        if syntax.same_node(holder, function):
            break
        if syntax.is_go(holder):
            return _Escape(f"{name} reaches the goroutine started on line {source.line_col(holder.start_byte)[0]}", kept=False)
        if syntax.is_function_literal(holder):
            started = syntax.how_started(holder)
            if started == "go":
                return _Escape(f"{name} reaches the goroutine started on line {source.line_col(holder.start_byte)[0]}", kept=False)
            if started == "value":
                return _Escape(f"{name} is captured by the function value made on line {source.line_col(holder.start_byte)[0]}, which may run later", kept=False)
    if in_return_of(function, reference) and _results_can_hold(source, function):
        return _Escape(f"{name} reaches the value returned on line {line}", kept=True)
    if stores_value(source, reference):
        # In a field or an element (`s.ctx = ctx`) it is kept; in a value that may be
        # used now (a request built with it) or later, the fix is unsafe.
        return _Escape(f"{name} is stored on line {line}", kept=_assigned_to_a_place(reference))
    outer, arguments = syntax.paren_parent(reference)
    call = arguments.parent if arguments is not None and syntax.is_arguments(arguments) else None
    if call is not None:
        index = next((i for i, a in enumerate(syntax.call_arguments(call)) if syntax.same_node(a, outer)), -1)
        effects = source.facts(CallSummaries).callee_effects(source, scopes, call, index) if index >= 0 else None
        if effects is not None and effects.async_use:
            callee = syntax.callee(call)
            spelled = source.text(callee).decode() if callee is not None else "a function"
            return _Escape(f"{name} is passed to {spelled}, which uses it in a goroutine", kept=False)
    return None


def _assigned_to_a_place(reference: Node) -> bool:
    """`x.f = ctx`, `m[k] = ctx`: assigned, as it is, to a field or an element."""
    parent = reference.parent
    while parent is not None and syntax.is_parenthesized(parent):
        parent = parent.parent
    holder = parent.parent if parent is not None and syntax.is_expression_list(parent) else None
    if holder is None or not syntax.is_assignment(holder) or syntax.right_node(holder) != parent:
        return False
    return any(not syntax.is_identifier(target) for target in syntax.left_side(holder))


def _results_can_hold(source: SourceFile, function: Node) -> bool:
    """Could a value the function returns hold a context? Not when every result is an
    error, a string, a number, a bool, a time or a slice of bytes or strings."""
    declared = syntax.result(function)
    if declared is None:
        return False
    groups = syntax.parameters_of(declared)
    types = [g.type for g in groups] if groups else [declared]
    return any(t is None or b"".join(source.text(t).split()) not in _PLAIN_TYPES for t in types)
