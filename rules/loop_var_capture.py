"""loop-var-capture: closures run by `defer`/`go` in a loop that read the loop variable."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis import control, syntax
from gofix_defer.codemods.analysis.access import Access, access
from gofix_defer.codemods.analysis.facts import PackageFact
from gofix_defer.codemods.analysis.imports import imported_name
from gofix_defer.codemods.analysis.lexical import loop_closure_may_read_loop_variable
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types, outermost_functions
from gofix_defer.codemods.analysis.scope import Declaration, FunctionScopes, Scopes, loop_variables
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.subtests import parallel_subtest, stops_the_test
from gofix_defer.codemods.analysis.syntax import ancestors, called_function_literal, identifiers, is_inside, unparen, walk_no_funcs
from gofix_defer.codemods.analysis.typeinfer import TypeInference, Types, ranges_over_integer_or_function
from gofix_defer.codemods.edits.insertion import insert_before
from gofix_defer.codemods.edits.parameters import add_parameters
from gofix_defer.codemods.model import Applicability, Diagnostic, Edit, Fix, NoFix, Rule, says


# -- tables of one entry: a range over them has no later value ------------------------
def _holds_at_most_one(value: Node | None) -> bool:
    """``value`` is a slice literal of at most one unkeyed element, or a map literal of at most one entry."""
    literal = unparen(value) if value is not None else None
    if not syntax.is_composite_literal(literal):
        return False
    kind = syntax.composite_type(literal)
    elements = syntax.composite_elements(literal)
    if syntax.is_map_type(kind):
        return len(elements) <= 1
    return syntax.is_slice_or_array_type(kind) and not syntax.is_array_type(kind) and len(elements) <= 1 and all(key is None for key, _ in elements)


def _assigned_at_most_one(ident: Node) -> bool:
    """``ident`` is a target of a plain assignment whose value is a one-entry literal."""
    holder = ident.parent.parent if ident.parent is not None and syntax.is_expression_list(ident.parent) else None
    if holder is None or not syntax.is_plain_assignment(holder):
        return False
    left, right = syntax.left_side(holder), syntax.right_side(holder)
    return len(left) == len(right) and ident in left and _holds_at_most_one(right[left.index(ident)])


class _OneEntryTables(PackageFact):
    """Package-level variables that never hold more than one element: every value any file
    of the package gives them (their declaration, a plain assignment, as in an `init` per
    build target) is a slice or map literal of at most one entry, and every other use
    only reads them (no append, no element or address taken for writing)."""

    requires = (Scopes,)

    def __init__(self, package) -> None:
        super().__init__(package)
        self._known: dict[bytes, bool] = {}

    def holds_at_most_one(self, name: bytes) -> bool:
        found = self._known.get(name)
        if found is None:
            found = self._known[name] = self._compute(name)
        return found

    def _compute(self, name: bytes) -> bool:
        declared = False
        for source in self.package.files():
            if name not in source.data:
                continue
            for declaration in syntax.top_level_declarations(source.root):
                if not syntax.is_var_declaration(declaration):
                    continue
                for spec in syntax.var_specs(declaration):
                    names, values = syntax.var_spec_names(spec), syntax.var_spec_values(spec)
                    for index, ident in enumerate(names):
                        if source.text(ident) != name:
                            continue
                        declared = True
                        if values and not (len(values) == len(names) and _holds_at_most_one(values[index])):
                            return False
            for function in outermost_functions(source):
                if name not in source.text(function):
                    continue
                scopes = source.scopes(function)
                for ident in identifiers(function):
                    if source.text(ident) != name or scopes.resolve(ident) is not None:
                        continue
                    kind = access(ident)
                    if kind is Access.WRITE and _assigned_at_most_one(ident):
                        continue
                    if kind is not Access.READ:
                        return False
        return declared


def _one_round_at_most(source: SourceFile, scopes: FunctionScopes, loop: Node) -> bool:
    """``loop`` ranges over a table of at most one entry (`range []T{{…}}`, a local variable
    bound to such a literal and only read, or a package variable that never holds more):
    its variables never take a later value."""
    operand = syntax.range_operand(loop) if syntax.range_clause(loop) is not None else None
    operand = unparen(operand) if operand is not None else None
    if operand is None:
        return False
    if syntax.is_composite_literal(operand):
        return _holds_at_most_one(operand)
    if not syntax.is_identifier(operand):
        return False
    decl = scopes.resolve(operand)
    if decl is None:
        return source.facts(_OneEntryTables).holds_at_most_one(source.text(operand))
    return decl.kind in ("short", "var") and _holds_at_most_one(decl.value) and all(access(ref) is Access.READ for ref in scopes.references(decl))


@dataclass
class _Capture:
    decl: Declaration
    loop: Node  # the for statement that declares the variable
    first_use: Node


class _How(enum.Enum):
    """How the closure comes to run after the iteration."""

    LITERAL = "literal"  # `go func(){…}()` / `defer func(){…}()`
    BOUND = "bound"  # `f := func(){…}` earlier in the body, then `go f()` / `defer f()`
    SUBTEST = "subtest"  # `t.Run(name, func(t *testing.T) { t.Parallel(); … })`


@dataclass(eq=False)
class _Site:
    """One closure of a loop body that runs after its iteration, and what it reads."""

    how: _How
    statement: Node  # what is reported: the go/defer statement, or the t.Run statement
    literal: Node  # the closure
    anchor: Node  # the statement a copy of the variables must come before
    regions: tuple[Node, ...]  # where the closure's reads count
    keyword: str  # "go", "defer" or "t.Run"
    captures: list[_Capture] = field(default_factory=list)
    outcome: Fix | NoFix | None = None  # decided: an argument fix, or why there is no fix
    bound_name: str = ""


class LoopVarCapture(Rule):
    """
    ## What it does
    Finds closures that run after their loop iteration and read the loop's
    iteration variables (anywhere in the loop body, nested blocks included):
    - function literals run by `defer` or `go` (`go func() { … }()`);
    - a literal bound to a name earlier in the loop body and run later by
      `go f()`, `go f(x)` or `defer f()`;
    - parallel subtests, `t.Run(name, func(t *testing.T) { t.Parallel(); … })`:
      a subtest that calls `t.Parallel()` goes on only once the test function
      that started it has returned, so the statements after `t.Parallel()`
      (as go vet counts them: those of the literal's own body, none before a
      later label) see the loop variable's last value.

    Silent for a goroutine the iteration waits for before it can move on: the
    goroutine signals as it ends (`defer close(done)`, `defer wg.Done()`, a
    deferred literal that signals, `defer func() { …; done <- v }()`, or a
    last `close(done)` / `done <- v` / `wg.Done()`), and a later statement of
    the loop body, with no `continue` or `goto` in between, waits for it
    (`<-done`, `v := <-done`, `if v := <-done; …`, `if !<-done {`, `wg.Wait()`,
    or a `select` whose every other case stops: return, panic, `t.Fatal`…).
    Also when a counted loop starts one goroutine per round
    (`for i := 0; i < n; i++ { go … }`) and a later loop with the same header
    receives one signal per round. Such a goroutine reads the variable while
    it still holds its own iteration's value.

    Silent for loops whose syntax exists only since Go 1.22 — ranging over an
    integer (`for i := range 10`, `range len(xs)`, a constant or a variable of
    a stated integer type) or over a function (a func literal, an `iter.Seq`,
    `maps.Keys(m)`, …): such a loop has per-iteration variables whatever the
    go.mod says, since no older Go compiles it.

    ## Why is this bad
    Before Go 1.22 a loop has one variable for all iterations. A closure that
    runs later — a goroutine, a deferred call at function exit, a parallel
    subtest — reads the value the variable has by then, usually the last one.
    Every goroutine processes the same item; every deferred call closes the
    same file; every subtest checks the last test case.

    ## Example
    ```go
    for _, name := range names {
        go func() {
            fmt.Println(name) // every goroutine prints the last name
        }()
    }
    ```

    ## Fix
    Pass the variable as an argument, with its type spelled as the source
    states it:
    ```go
    for _, name := range names {
        go func(name string) {
            fmt.Println(name)
        }(name)
    }
    ```
    Where the source does not state the type, and for bound literals and
    subtests (whose signatures are fixed), a copy is inserted instead
    (`name := name`). All closures of one loop body that need a copy of a
    variable share one: it goes right before the first of them, in the block
    that holds them all, so a body never gets a second `name := name` (which
    would not compile). For a bound literal the copy goes before the
    statement that binds it. Either way each closure sees the value Go 1.22's
    per-iteration variables would give it.

    ## Fix safety
    Safe: offered only when nothing writes the variable after the closure is
    made in that iteration (no assignment or `++` inside the closure or later
    in the loop body, no method call on it later in the body, no address taken
    outside the closure), nor between where a shared copy goes and the
    closure. Otherwise the finding is reported without a fix. Silent for
    modules whose go.mod says `go 1.22` or later, and for files with no
    go.mod.
    """

    name = "loop-var-capture"
    summary = "Closure run by defer/go in a loop reads the shared pre-Go 1.22 loop variable"
    fix_availability = "sometimes"
    applicability = Applicability.SAFE
    max_go_version = (1, 22)
    triggers = (b"go ", b"go\t", b"defer", b".Run(")
    requires = (Scopes, Types, _OneEntryTables)
    scans_bytes = True  # loop_closure_may_read_loop_variable

    def applies_to(self, source) -> bool:
        # Every site is a go or defer statement or a subtest's Run inside a loop: most
        # files that start goroutines or defer do it outside loops, as their bytes say.
        return super().applies_to(source) and says(source, loop_closure_may_read_loop_variable)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        # The statements that may run a closure after its iteration, by the outermost
        # function holding them (found in the file once, not asked of every function).
        candidates = [s for s in nodes_of_types(source, syntax.GO_AND_DEFER_KINDS) if control.enclosing_loops(s)]
        if imported_name(source, b"testing") is not None:
            candidates += [c.parent for c in nodes_of_types(source, syntax.CALL_KINDS) if c.parent is not None and _may_be_subtest(source, c)]
        by_function: dict[tuple[int, int], tuple[Node, list[Node]]] = {}
        for statement in candidates:
            outermost = syntax.outermost_function(statement)
            if outermost is not None:
                by_function.setdefault((outermost.start_byte, outermost.end_byte), (outermost, []))[1].append(statement)
        for _, (function, statements) in sorted(by_function.items()):
            scopes = source.scopes(function)
            types = source.facts(Types).of(function)
            sites = [site for s in sorted(statements, key=lambda n: n.start_byte) if (site := _site(source, scopes, types, s)) is not None]
            if not sites:
                continue
            _decide(source, scopes, types, sites)
            for site in sites:
                yield self._diagnostic(source, site)

    def _diagnostic(self, source: SourceFile, site: _Site) -> Diagnostic:
        names = ", ".join(c.decl.name.decode() for c in site.captures)
        noun = "variable" if len(site.captures) == 1 else "variables"
        if site.how is _How.SUBTEST:
            message = f"loop {noun} {names} read by a parallel subtest after t.Parallel(); before Go 1.22 every subtest sees the last value"
        elif site.how is _How.BOUND:
            message = (
                f"loop {noun} {names} captured by func literal {site.bound_name} run by {site.keyword} statement; "
                "before Go 1.22 every call sees the last value"
            )
        else:
            message = f"loop {noun} {names} captured by func literal in {site.keyword} statement; before Go 1.22 every call sees the last value"
        if isinstance(site.outcome, Fix):
            return self.diagnostic(site.statement, message, site.outcome)
        reason = site.outcome if isinstance(site.outcome, NoFix) else NoFix("no fix was found")
        return self.diagnostic(site.statement, reason.annotate(message))


RULE = LoopVarCapture()


# -- the closures of loop bodies that run after their iteration --------------------
def _may_be_subtest(source: SourceFile, call: Node) -> bool:
    """A cheap first look: a `x.Run(…)` call standing as a statement, inside a loop."""
    function = syntax.callee(call)
    return (
        function is not None
        and source.text(function).endswith(b".Run")
        and syntax.is_expression_statement(call.parent)
        and bool(control.enclosing_loops(call))
    )


def _site(source: SourceFile, scopes: FunctionScopes, types: TypeInference, statement: Node) -> _Site | None:
    """The closure ``statement`` runs after the iteration, with the loop variables it reads."""
    site: _Site | None
    if syntax.is_expression_statement(statement):
        subtest = parallel_subtest(source, scopes, statement)
        if subtest is None:
            return None
        site = _Site(_How.SUBTEST, statement, subtest.literal, statement, subtest.after, "t.Run")
    else:
        keyword = _keyword(source, statement)
        literal = called_function_literal(statement)
        if literal is not None:
            site = _Site(_How.LITERAL, statement, literal, statement, (literal,), keyword)
        else:
            site = _bound_site(source, scopes, statement, keyword)
    if site is None:
        return None
    loops = [
        loop
        for loop in control.enclosing_loops(site.statement)
        if not ranges_over_integer_or_function(types, loop) and not _one_round_at_most(source, scopes, loop)
    ]
    site.captures = _captures(scopes, site.regions, loops)
    if site.keyword == "go":
        site.captures = [c for c in site.captures if not _awaited_in_iteration(source, scopes, site, c)]
    return site if site.captures else None


def _bound_site(source: SourceFile, scopes: FunctionScopes, statement: Node, keyword: str) -> _Site | None:
    """`f := func(){…}` earlier in the loop body, then `go f()` / `defer f(x)`."""
    call = syntax.call_of(statement)
    function = syntax.callee(call) if call is not None else None
    function = unparen(function) if function is not None else None
    if not syntax.is_identifier(function):
        return None
    decl = scopes.resolve(function)
    if decl is None or decl.kind not in ("short", "var") or decl.value is None:
        return None
    literal = unparen(decl.value)
    if not syntax.is_function_literal(literal) or literal.start_byte > statement.start_byte:
        return None
    if any(access(ref) is not Access.READ for ref in scopes.references(decl)):
        return None  # assigned again, or its address taken: which literal runs is not known
    binding = syntax.statement_of(decl.statement)
    if syntax.is_var_spec(binding) and binding.parent is not None:
        binding = binding.parent
    if not syntax.holds_statements(binding.parent):
        return None
    site = _Site(_How.BOUND, statement, literal, syntax.with_labels(binding), (literal,), keyword)
    site.bound_name = source.text(function).decode()
    return site


def _keyword(source: SourceFile, statement: Node) -> str:
    """"go" or "defer"."""
    return source.text(statement).split(None, 1)[0].decode()


def _captures(scopes: FunctionScopes, regions: tuple[Node, ...], loops: list[Node]) -> list[_Capture]:
    by_key: dict[tuple[int, int], tuple[Declaration, Node]] = {}
    for loop in loops:
        for decl in loop_variables(scopes, loop):
            by_key[decl.key] = (decl, loop)
    if not by_key:
        return []
    found: dict[tuple[int, int], _Capture] = {}
    for region in regions:
        for ident in identifiers(region):
            resolved = scopes.resolve(ident)
            if resolved is None or resolved.key not in by_key or resolved.key in found:
                continue
            found[resolved.key] = _Capture(resolved, by_key[resolved.key][1], ident)
    return sorted(found.values(), key=lambda c: c.decl.ident.start_byte)


# -- goroutines the iteration waits for -----------------------------------------
_Signal = tuple[str, object]  # ("chan", the channel's declaration key) or ("wg", the WaitGroup's key)


def _awaited_in_iteration(source: SourceFile, scopes: FunctionScopes, site: _Site, capture: _Capture) -> bool:
    """The iteration of ``capture.loop`` waits for the goroutine before it can move on, so the
    goroutine reads the variable while it still holds this iteration's value.

    The goroutine signals as it ends (a top-level `defer close(ch)` / `defer wg.Done()`, or a
    last statement `close(ch)`, `ch <- v`, `wg.Done()`) and reads the variable nowhere in a
    nested function literal; a later top-level statement of the loop body waits for that
    signal (`<-ch`, `v := <-ch`, `wg.Wait()`, or a select without default whose every case
    receives the signal or stops: return, panic, t.Fatal…); and no goto, and no continue of
    that loop, lies between. A channel counts only when the go statement runs once per
    iteration (no loop between it and ``capture.loop``) and no other go statement of the
    body names the channel: one receive waits for one goroutine. Or, counted: the go
    statement runs once per round of a counted loop (`for i := 0; i < n; i++ { go … }`, a
    top-level statement of the body, with no jump) and a later top-level loop with the same
    header, whose rounds each first receive the signal, drains one signal per goroutine
    (each goroutine names the channel once)."""
    body = syntax.body(capture.loop)
    if body is None:
        return False
    for ref in scopes.references(capture.decl, within=site.literal):
        if any(syntax.is_function(parent) for parent in _ancestors_until(ref, site.literal)):
            return False  # read in a nested closure, which may run later still
    signals = _final_signals(source, scopes, site.literal)
    if any(_other_go_names(scopes, body, site.statement, key) for kind, key in signals if kind == "chan"):
        signals = {s for s in signals if s[0] != "chan"}
    items = syntax.statements(body)
    counted: set[_Signal] = set()
    fan: Node | None = None
    if control.inside_loop(site.statement, body):
        fan = _fan_out_loop(site.statement, body, items)
        if fan is not None:
            counted = {s for s in signals if s[0] == "chan" and _named_once(scopes, site.literal, s[1])}
        signals = {s for s in signals if s[0] != "chan"}
    if not signals and not counted:
        return False
    top = next((i for i, s in enumerate(items) if is_inside(site.statement, s)), None)
    if top is None or _leaves_iteration(items[top], capture.loop):
        return False
    for statement in items[top + 1 :]:
        if signals and _waits_for(source, scopes, statement, signals):
            return True
        if fan is not None and counted and _drains(source, scopes, statement, fan, body, counted):
            return True
        if _leaves_iteration(statement, capture.loop):
            return False
    return False


def _fan_out_loop(statement: Node, body: Node, items: list[Node]) -> Node | None:
    """The counted loop, a top-level statement of ``body``, that runs ``statement`` (a
    top-level statement of its own body) once per round: `for i := 0; i < n; i++ { …; go …; … }`
    with no break, continue or goto. None for any other shape."""
    loops = [loop for loop in control.enclosing_loops(statement) if is_inside(loop, body)]
    if len(loops) != 1 or loops[0] not in items:
        return None
    fan = loops[0]
    fan_body = syntax.body(fan)
    if fan_body is None or statement not in syntax.statements(fan_body) or _counter(fan) is None:
        return None
    if any(syntax.is_jump(node) for node in walk_no_funcs(fan_body)):
        return None
    return fan


def _counter(loop: Node) -> tuple[Node, Node, Node] | None:
    """The init, condition and post of `for i := 0; i < n; i++`: a clause that declares its
    counter and steps it, with no call in its condition."""
    init, condition, post = syntax.init_statement(loop), syntax.condition(loop), syntax.post_statement(loop)
    if init is None or condition is None or post is None or syntax.for_clause(loop) is None:
        return None
    if not syntax.is_short_var_declaration(init) or not syntax.is_inc_dec(post):
        return None
    if any(syntax.is_call(node) for node in syntax.walk(condition)):
        return None
    return init, condition, post


def _same_rounds(source: SourceFile, scopes: FunctionScopes, fan: Node, drain: Node, body: Node) -> bool:
    """``fan`` and ``drain`` run the same number of rounds: the same counted header, their
    counters written only by their post statements, and what the condition bounds by not
    written in ``body``."""
    fan_header, drain_header = _counter(fan), _counter(drain)
    if fan_header is None or drain_header is None:
        return False
    spelled = [b"".join(source.text(part).split()) for part in (*fan_header, *drain_header)]
    if spelled[:3] != spelled[3:]:
        return False
    counters: set[tuple[int, int]] = set()
    for loop, (_, _, post) in ((fan, fan_header), (drain, drain_header)):
        for decl in loop_variables(scopes, loop):
            counters.add(decl.key)
            if any(access(ref) is not Access.READ and not is_inside(ref, post) for ref in scopes.references(decl, within=loop)):
                return False
    for ident in identifiers(fan_header[1]):
        bound = scopes.resolve(ident)
        if bound is None or bound.key in counters:
            continue
        if any(access(ref) is not Access.READ for ref in scopes.references(bound, within=body)):
            return False
    return True


def _drains(source: SourceFile, scopes: FunctionScopes, statement: Node, fan: Node, body: Node, signals: set[_Signal]) -> bool:
    """``statement`` is a loop of as many rounds as ``fan`` whose every round first waits for
    one of ``signals`` (and no break, goto or labelled continue cuts it short)."""
    if not syntax.is_loop(statement) or not _same_rounds(source, scopes, fan, statement, body):
        return False
    drain_body = syntax.body(statement)
    rounds = syntax.statements(drain_body) if drain_body is not None else []
    if not rounds or not _waits_for(source, scopes, rounds[0], signals):
        return False
    for node in walk_no_funcs(drain_body):
        if syntax.is_break(node) or syntax.is_goto(node) or (syntax.is_continue(node) and syntax.jump_label(node) is not None):
            return False
    return True


def _named_once(scopes: FunctionScopes, literal: Node, key: object) -> bool:
    """The literal names the variable declared at ``key`` exactly once (its one signal)."""
    return sum(1 for ident in identifiers(literal) if (decl := scopes.resolve(ident)) is not None and decl.key == key) == 1


def _ancestors_until(node: Node, container: Node) -> Iterator[Node]:
    """The ancestors of ``node`` strictly inside ``container``."""
    for parent in ancestors(node):
        if parent == container:
            return
        yield parent


def _other_go_names(scopes: FunctionScopes, body: Node, statement: Node, key: object) -> bool:
    """Another go statement in ``body`` names the variable declared at ``key``."""
    for node in walk_no_funcs(body):
        if syntax.is_go(node) and node != statement:
            if any((decl := scopes.resolve(i)) is not None and decl.key == key for i in identifiers(node)):
                return True
    return False


def _leaves_iteration(statement: Node, loop: Node) -> bool:
    """``statement`` holds a goto, or a continue of ``loop``: the rest of the iteration may be skipped."""
    for node in walk_no_funcs(statement):
        if syntax.is_goto(node):
            return True
        if syntax.is_continue(node) and control.jump_target(node) in (None, loop):
            return True
    return False


def _key(scopes: FunctionScopes, source: SourceFile, expression: Node, kind: str) -> _Signal | None:
    """What names a channel (a local variable) or a WaitGroup (a local variable, or a field path)."""
    expression = unparen(expression)
    if syntax.is_identifier(expression):
        decl = scopes.resolve(expression)
        return (kind, decl.key) if decl is not None else None
    if kind == "wg" and syntax.is_selector(expression):
        return (kind, b"".join(source.text(expression).split()))
    return None


def _signal_of_call(source: SourceFile, scopes: FunctionScopes, call: Node | None) -> _Signal | None:
    """`close(ch)` or `wg.Done()`."""
    if call is None:
        return None
    call = unparen(call)
    if syntax.is_builtin_call(call, b"close"):
        function = syntax.callee(call)
        arguments = syntax.call_arguments(call)
        if function is not None and scopes.resolve(function) is None and len(arguments) == 1:
            return _key(scopes, source, arguments[0], "chan")
        return None
    parts = syntax.selector_call(call)
    if parts is not None and source.text(parts[1]) == b"Done" and not syntax.call_arguments(call):
        return _key(scopes, source, parts[0], "wg")
    return None


def _expression_of(statement: Node) -> Node | None:
    if not syntax.is_expression_statement(statement):
        return None
    expression = next((c for c in statement.named_children if not syntax.is_comment(c)), None)
    return unparen(expression) if expression is not None else None


def _final_signals(source: SourceFile, scopes: FunctionScopes, literal: Node) -> set[_Signal]:
    """The signals the goroutine gives once it is done with everything it reads: a top-level
    `defer close(ch)` / `defer wg.Done()`, a signal among the top-level statements of a
    deferred literal (`defer func() { …; ch <- v }()`), or a signal as the last statement."""
    found: set[_Signal] = set()
    items = syntax.statements(syntax.function_body(literal))
    for statement in items:
        if not syntax.is_defer(statement):
            continue
        if (signal := _signal_of_call(source, scopes, syntax.call_of(statement))) is not None:
            found.add(signal)
        deferred = called_function_literal(statement)
        if deferred is not None:
            found.update(s for inner in syntax.statements(syntax.function_body(deferred)) if (s := _signal_of_statement(source, scopes, inner)) is not None)
    if items and (signal := _signal_of_statement(source, scopes, items[-1])) is not None:
        found.add(signal)
    return found


def _signal_of_statement(source: SourceFile, scopes: FunctionScopes, statement: Node) -> _Signal | None:
    """`ch <- v`, `close(ch)` or `wg.Done()` as a statement."""
    channel = syntax.send_channel(statement) if syntax.is_send(statement) else None
    return _key(scopes, source, channel, "chan") if channel is not None else _signal_of_call(source, scopes, _expression_of(statement))


def _received(scopes: FunctionScopes, source: SourceFile, expression: Node | None) -> _Signal | None:
    """The channel of a receive `<-ch`."""
    if expression is None:
        return None
    expression = unparen(expression)
    if not syntax.is_receive(expression):
        return None
    channel = syntax.unary_operand(expression)
    return _key(scopes, source, channel, "chan") if channel is not None else None


def _waits_for(source: SourceFile, scopes: FunctionScopes, statement: Node, signals: set[_Signal]) -> bool:
    """``statement`` returns only once one of ``signals`` was given, or stops the function."""
    expression = _expression_of(statement)
    if expression is not None:
        if _received(scopes, source, expression) in signals:
            return True
        parts = syntax.selector_call(expression)
        return parts is not None and source.text(parts[1]) == b"Wait" and not syntax.call_arguments(expression) and _key(scopes, source, parts[0], "wg") in signals
    if syntax.is_short_var_declaration(statement) or syntax.is_assignment(statement):
        right = syntax.right_side(statement)
        return len(right) == 1 and _received(scopes, source, right[0]) in signals
    if syntax.is_if(statement):
        init = syntax.init_statement(statement)
        if init is not None and _waits_for(source, scopes, init, signals):
            return True  # `if v := <-ch; …`
        condition = syntax.condition(statement)
        condition = unparen(condition) if condition is not None else None
        if syntax.is_unary(condition, b"!"):
            condition = syntax.unary_operand(condition)
        return _received(scopes, source, condition) in signals  # `if <-ok {`, `if !<-ok {`
    if not syntax.is_select(statement):
        return False
    clauses = syntax.switch_cases(statement)
    awaited = False
    for clause in clauses:
        if syntax.is_default_clause(clause):
            return False
        communication = syntax.select_communication(clause)
        if communication is not None and syntax.is_receive_statement(communication) and _received(scopes, source, syntax.right_node(communication)) in signals:
            awaited = True
            continue
        if not _stops(source, scopes, syntax.statements(clause)):
            return False
    return awaited


def _stops(source: SourceFile, scopes: FunctionScopes, items: list[Node]) -> bool:
    """The statements end with return, panic, os.Exit, log.Fatal… or t.Fatal…: the loop goes no further."""
    if not items:
        return False
    last = items[-1]
    if control.terminates(source, last) or stops_the_test(source, scopes, last):
        return True
    expression = _expression_of(last)
    return expression is not None and control.is_exit_call(source.data, expression)


def _fix_blockers(source: SourceFile, scopes: FunctionScopes, capture: _Capture, site: _Site) -> Iterator[str]:
    """Why giving the closure the current value would not equal Go 1.22 semantics (nothing: it would)."""
    body = syntax.body(capture.loop)
    name = capture.decl.name.decode()
    statement, literal = site.statement, site.literal
    for ref in scopes.references(capture.decl, within=body):
        kind = access(ref)
        if kind is Access.READ:
            continue
        if is_inside(ref, literal):
            if kind is Access.WRITE:
                yield f"{name} is assigned inside the closure"
            continue
        if kind is Access.ADDRESS:
            yield f"the address of {name} is taken in the loop"
            continue
        if ref.start_byte > statement.end_byte or _shares_inner_loop(ref, statement, capture.loop):
            what = "assigned" if kind is Access.WRITE else "used in a method call that may modify it"
            yield f"{name} is {what} after the {site.keyword} statement"


def _shares_inner_loop(ref: Node, statement: Node, outer: Node) -> bool:
    """True when a loop inside ``outer`` contains both nodes (so ``ref`` also runs after ``statement``)."""
    for parent in ancestors(ref):
        if parent == outer:
            return False
        if syntax.is_loop(parent) and is_inside(statement, parent):
            return True
    return False


# -- fixes -------------------------------------------------------------------
def _decide(source: SourceFile, scopes: FunctionScopes, types: TypeInference, sites: list[_Site]) -> None:
    """Give every site its fix: an argument fix of its own, or a share of the copies.

    Copies are shared: for each variable, one copy serves every closure that
    needs one, placed before the first of them in the block that holds them
    all. A copy that cannot go there (the name is declared in that block, the
    statement shares its line, a goto, a write between the copy and a closure)
    leaves each closure that needed it without a fix; the others are placed
    again.
    """
    copying: list[_Site] = []
    for site in sites:
        reason = next((r for c in site.captures for r in _fix_blockers(source, scopes, c, site)), None)
        if reason is not None:
            site.outcome = NoFix(reason)
            continue
        if site.how is _How.LITERAL:
            argument = _argument_fix(source, scopes, types, site.literal, site.captures)
            if argument is not None:
                site.outcome = argument
                continue
        copying.append(site)
    if copying and control.has_goto(scopes.function, in_literals=True):
        for site in copying:
            site.outcome = NoFix(f"{_copy_reason(site)} and a goto could jump over a copy")
        return
    while copying:
        places, failed = _place_copies(source, scopes, copying)
        if not failed:
            break
        for site, reason in failed.items():
            site.outcome = NoFix(reason)
        copying = [s for s in copying if s not in failed]
    else:
        return
    edits: dict[int, tuple[Node, list[Declaration]]] = {}
    for statement, decl in places.values():
        edits.setdefault(statement.start_byte, (statement, []))[1].append(decl)
    made: dict[int, Edit] = {}
    for start, (statement, decls) in edits.items():
        decls.sort(key=lambda d: d.ident.start_byte)
        edit = insert_before(source, statement, [d.name + b" := " + d.name for d in decls])
        assert edit is not None  # _place_copies checked that the statement starts its line
        made[start] = edit
    users: dict[int, int] = {}
    for site in copying:
        for start in {places[c.decl.key][0].start_byte for c in site.captures}:
            users[start] = users.get(start, 0) + 1
    for site in copying:
        mine = sorted({places[c.decl.key][0].start_byte for c in site.captures})
        shared = any(start != site.anchor.start_byte or users[start] > 1 for start in mine)
        names = ", ".join(c.decl.name.decode() for c in site.captures)
        if shared:
            title = f"Copy {names} once, before the first closure of the loop body that reads it"
        else:
            title = f"Copy {names} before the {'statement binding ' + site.bound_name if site.how is _How.BOUND else site.keyword + ' statement'}"
        site.outcome = Fix(title, tuple(made[start] for start in mine), Applicability.SAFE)


def _copy_reason(site: _Site) -> str:
    names = ", ".join(c.decl.name.decode() for c in site.captures)
    if site.how is _How.LITERAL:
        return f"the type of {names} is not stated"
    if site.how is _How.BOUND:
        return f"{site.bound_name} is bound before it runs, so {names} must be copied"
    return f"a subtest's signature is fixed, so {names} must be copied"


def _place_copies(
    source: SourceFile, scopes: FunctionScopes, sites: list[_Site]
) -> tuple[dict[tuple[int, int], tuple[Node, Declaration]], dict[_Site, str]]:
    """Where each variable's one copy goes (the statement it goes before), or why a site cannot have it."""
    users: dict[tuple[int, int], list[_Site]] = {}
    decls: dict[tuple[int, int], Declaration] = {}
    for site in sites:
        for capture in site.captures:
            users.setdefault(capture.decl.key, []).append(site)
            decls[capture.decl.key] = capture.decl
    places: dict[tuple[int, int], tuple[Node, Declaration]] = {}
    failed: dict[_Site, str] = {}
    for key, group in users.items():
        decl = decls[key]
        name = decl.name.decode()
        statement = _copy_point([s.anchor for s in group])
        reason = None
        if statement is None:
            reason = f"no single place before every closure that reads {name} can hold its copy"
        elif any(d.name == decl.name and d.scope == statement.parent for d in scopes.declarations()):
            reason = f"{name} is already declared in the block where its copy would go"
        elif insert_before(source, statement, [b"_"]) is None:
            reason = "the statement where the copy would go does not start its own line"
        else:
            reason = _written_before_closure(scopes, decl, statement, group)
        if reason is not None:
            for site in group:
                failed.setdefault(site, f"{_copy_reason(site)}, but {reason}")
            continue
        assert statement is not None
        places[key] = (statement, decl)
    return places, failed


def _copy_point(anchors: list[Node]) -> Node | None:
    """The statement, in the innermost block holding every anchor, that holds the first one."""
    first = min(anchors, key=lambda n: n.start_byte)
    for holder in ancestors(first):
        if syntax.is_function(holder):
            return None
        if syntax.holds_statements(holder) and all(is_inside(a, holder) for a in anchors):
            return next((s for s in syntax.statements(holder) if is_inside(first, s)), None)
    return None


def _written_before_closure(scopes: FunctionScopes, decl: Declaration, statement: Node, group: list[_Site]) -> str | None:
    """A write to the variable between where its copy goes and a closure's statement would
    reach the copy, not the loop's variable."""
    for site in group:
        for ref in scopes.references(decl, within=statement.parent):
            if not (statement.start_byte <= ref.start_byte < site.statement.start_byte) or is_inside(ref, site.literal):
                continue
            if access(ref) is not Access.READ:
                return f"{decl.name.decode()} is written between there and the {site.keyword} statement"
    return None


def _argument_fix(source: SourceFile, scopes: FunctionScopes, types: TypeInference, literal: Node, captures: list[_Capture]) -> Fix | None:
    """`func(i int) {…}(i)`; None when a type is not stated (or not visible in the literal)."""
    body_scope_names = _names_declared_at_top(scopes, literal)
    typed = []
    for capture in captures:
        spelled = types.variable_type(capture.decl)
        if spelled is None or capture.decl.name in body_scope_names or not _type_visible(scopes, spelled):
            return None
        typed.append((capture.decl.name, spelled))
    edits = add_parameters(literal, typed, [name for name, _ in typed])
    if edits is None:
        return None
    names = ", ".join(n.decode() for n, _ in typed)
    plural = "as arguments" if len(typed) > 1 else "as an argument"
    return Fix(f"Pass {names} {plural}", tuple(edits), Applicability.SAFE)


def _names_declared_at_top(scopes: FunctionScopes, literal: Node) -> set[bytes]:
    """Names the literal declares in its outermost block (a new parameter of that name would clash)."""
    return {d.name for d in scopes.declarations() if d.scope == literal}


def _type_visible(scopes: FunctionScopes, spelled: bytes) -> bool:
    """Reject a spelled type that names a type declared inside this function (scoping may differ)."""
    local_types = {d.name for d in scopes.declarations() if d.kind == "type"}
    if not local_types:
        return True
    return not any(word in local_types for word in re.findall(rb"[A-Za-z_][A-Za-z0-9_]*", spelled))
