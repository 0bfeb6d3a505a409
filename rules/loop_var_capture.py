"""loop-var-capture: closures run by `defer`/`go` in a loop that read the loop variable."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis import control, syntax
from gofix_defer.codemods.analysis.access import Access, access
from gofix_defer.codemods.analysis.imports import imported_name
from gofix_defer.codemods.analysis.nodeindex import descendants_of_types, outermost_functions
from gofix_defer.codemods.analysis.scope import Declaration, FunctionScopes, Scopes, loop_variables
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.subtests import parallel_subtest
from gofix_defer.codemods.analysis.syntax import ancestors, called_function_literal, identifiers, is_inside, unparen
from gofix_defer.codemods.analysis.typeinfer import TypeInference, Types, ranges_over_integer_or_function
from gofix_defer.codemods.edits.insertion import insert_before
from gofix_defer.codemods.edits.parameters import add_parameters
from gofix_defer.codemods.model import Applicability, Diagnostic, Edit, Fix, NoFix, Rule


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
    requires = (Scopes, Types)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        subtests = imported_name(source, b"testing") is not None
        for function in outermost_functions(source):
            statements = [s for s in descendants_of_types(source, function, syntax.GO_AND_DEFER_KINDS) if control.enclosing_loops(s)]
            if subtests:
                statements += [c.parent for c in descendants_of_types(source, function, syntax.CALL_KINDS) if c.parent is not None and _may_be_subtest(source, c)]
            if not statements:
                continue
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
    loops = [loop for loop in control.enclosing_loops(site.statement) if not ranges_over_integer_or_function(types, loop)]
    site.captures = _captures(scopes, site.regions, loops)
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
