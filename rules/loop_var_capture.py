"""loop-var-capture: closures run by `defer`/`go` in a loop that read the loop variable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis.nodeindex import descendants_of_types, outermost_functions
from gofix_defer.codemods.analysis.scope import Declaration, FunctionScopes
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import FUNCTION_KINDS, ancestors, called_function_literal, identifiers, is_inside, unparen, walk
from gofix_defer.codemods.analysis.typeinfer import TypeInference
from gofix_defer.codemods.edits.insertion import insert_before
from gofix_defer.codemods.edits.parameters import add_parameters
from gofix_defer.codemods.model import Applicability, Diagnostic, Fix, Rule

# Expression parents through which a use of `v` still means "v itself"
# (v.f, v[i], v[a:b], (v)) when deciding whether a statement writes v.
_PATH_PARENTS = frozenset({"selector_expression", "index_expression", "slice_expression", "parenthesized_expression"})


@dataclass
class _Capture:
    decl: Declaration
    loop: Node  # the for_statement that declares the variable
    first_use: Node


class LoopVarCapture(Rule):
    """
    ## What it does
    Finds function literals run by `defer` or `go` inside a `for` or
    `for … range` loop that read the loop's iteration variables, anywhere in
    the loop body (nested blocks included). Also reports `defer f()` /
    `go f()` of a literal bound to `f` just before (report only).

    ## Why is this bad
    Before Go 1.22 a loop has one variable for all iterations. A closure that
    runs later — a goroutine, or a deferred call at function exit — reads the
    value the variable has by then, usually the last one. Every goroutine
    processes the same item; every deferred call closes the same file.

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
    Where the source does not state the type, a copy is inserted instead
    (`name := name` right before the statement). Either way each closure sees
    the value Go 1.22's per-iteration variables would give it.

    ## Fix safety
    Safe: offered only when nothing writes the variable after the `defer`/`go`
    statement in that iteration (no assignment or `++` inside the closure or
    later in the loop body, no method call on it later in the body, no
    address taken outside the closure). Otherwise the finding is reported
    without a fix. Silent for modules whose go.mod says `go 1.22` or later,
    and for files with no go.mod.
    """

    name = "loop-var-capture"
    summary = "Closure run by defer/go in a loop reads the shared pre-Go 1.22 loop variable"
    fix_availability = "sometimes"
    applicability = Applicability.SAFE
    max_go_version = (1, 22)
    triggers = (b"go ", b"go\t", b"defer")

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        for function in outermost_functions(source):
            candidates = [s for s in descendants_of_types(source, function, _GO_AND_DEFER) if _enclosing_loops(s)]
            if not candidates:
                continue
            scopes = source.scopes(function)
            types = TypeInference(source, scopes)
            for statement in candidates:
                yield from self._check_statement(source, scopes, types, statement)

    # -- one go/defer statement -------------------------------------------
    def _check_statement(self, source: SourceFile, scopes: FunctionScopes, types: TypeInference, statement: Node) -> Iterator[Diagnostic]:
        loops = _enclosing_loops(statement)
        if not loops:
            return
        keyword = source.text(statement).split(None, 1)[0].decode()
        literal = called_function_literal(statement)
        if literal is None:
            yield from self._check_bound_literal(source, scopes, statement, loops, keyword)
            return
        captures = _captures(scopes, literal, loops)
        if not captures:
            return
        names = ", ".join(c.decl.name.decode() for c in captures)
        noun = "variable" if len(captures) == 1 else "variables"
        message = f"loop {noun} {names} captured by func literal in {keyword} statement; before Go 1.22 every call sees the last value"
        blockers = [reason for c in captures for reason in _fix_blockers(source, scopes, c, statement, literal)]
        if blockers:
            yield self.diagnostic(statement, f"{message} (no fix: {blockers[0]})")
            return
        fix = _argument_fix(source, scopes, types, statement, literal, captures)
        if fix is None:
            fix, reason = _copy_fix(source, scopes, statement, captures)
            if fix is None:
                yield self.diagnostic(statement, f"{message} (no fix: {reason})")
                return
        yield self.diagnostic(statement, message, fix)

    def _check_bound_literal(self, source: SourceFile, scopes: FunctionScopes, statement: Node, loops: list[Node], keyword: str) -> Iterator[Diagnostic]:
        """`f := func(){…}` then `defer f()`: report only (the literal may run elsewhere too)."""
        call = next((c for c in statement.named_children if c.type == "call_expression"), None)
        function = unparen(call.child_by_field_name("function")) if call is not None else None
        if function is None or function.type != "identifier":
            return
        decl = scopes.resolve(function)
        if decl is None or decl.value is None or unparen(decl.value).type != "function_literal":
            return
        previous = statement.prev_named_sibling
        while previous is not None and previous.type == "comment":
            previous = previous.prev_named_sibling
        if previous is None or previous != decl.statement:
            return
        captures = _captures(scopes, unparen(decl.value), loops)
        if captures:
            names = ", ".join(c.decl.name.decode() for c in captures)
            yield self.diagnostic(
                statement,
                f"loop variable(s) {names} captured by func literal {source.text(function).decode()} run by {keyword}; "
                "before Go 1.22 every call sees the last value (no fix: pass the values as parameters of the literal)",
            )


RULE = LoopVarCapture()


# -- analysis helpers ------------------------------------------------------
_GO_AND_DEFER = ("go_statement", "defer_statement")


def _enclosing_loops(statement: Node) -> list[Node]:
    """for_statements around ``statement`` within its own function, innermost first."""
    loops = []
    for parent in ancestors(statement):
        if parent.type in FUNCTION_KINDS:
            break
        if parent.type == "for_statement":
            loops.append(parent)
    return loops


def _loop_variable_declarations(scopes: FunctionScopes, loop: Node) -> list[Declaration]:
    """Variables a for statement declares per loop (`for i := …` or `for k, v := range …`)."""
    clause = next((c for c in loop.named_children if c.type in ("for_clause", "range_clause")), None)
    if clause is None:
        return []
    if clause.type == "for_clause":
        init = clause.child_by_field_name("init_statement")
        if init is None or init.type != "short_var_declaration":
            return []
        owners = {(init.start_byte, init.end_byte)}
    else:
        owners = {(clause.start_byte, clause.end_byte)}
    return [d for d in scopes.declarations() if (d.statement.start_byte, d.statement.end_byte) in owners and d.kind in ("short", "range")]


def _captures(scopes: FunctionScopes, literal: Node, loops: list[Node]) -> list[_Capture]:
    by_key: dict[tuple[int, int], tuple[Declaration, Node]] = {}
    for loop in loops:
        for decl in _loop_variable_declarations(scopes, loop):
            by_key[decl.key] = (decl, loop)
    if not by_key:
        return []
    found: dict[tuple[int, int], _Capture] = {}
    for ident in identifiers(literal):
        decl = scopes.resolve(ident)
        if decl is None or decl.key not in by_key or decl.key in found:
            continue
        found[decl.key] = _Capture(decl, by_key[decl.key][1], ident)
    return sorted(found.values(), key=lambda c: c.decl.ident.start_byte)


def _use_kind(source: SourceFile, ident: Node) -> str:
    """How an identifier is used: 'write', 'address', 'method' or 'read'."""
    node = ident
    parent = node.parent
    while parent is not None and parent.type in _PATH_PARENTS:
        if parent.type == "selector_expression":
            if parent.child_by_field_name("operand") != node:
                return "read"
            grand = parent.parent
            if grand is not None and grand.type == "call_expression" and grand.child_by_field_name("function") == parent:
                return "method"
        elif parent.type in ("index_expression", "slice_expression"):
            if parent.child_by_field_name("operand") != node:
                return "read"
        node, parent = parent, parent.parent
    if parent is None:
        return "read"
    if parent.type == "unary_expression" and source.text(parent.child_by_field_name("operator")) == b"&":
        return "address"
    if parent.type in ("inc_dec_statement",):
        return "write"
    if parent.type == "expression_list":
        holder = parent.parent
        if holder is not None and holder.type in ("assignment", "short_var_declaration", "range_clause", "receive_statement"):
            if holder.child_by_field_name("left") == parent:
                return "write"
    return "read"


def _fix_blockers(source: SourceFile, scopes: FunctionScopes, capture: _Capture, statement: Node, literal: Node) -> list[str]:
    """Why passing the current value would not equal Go 1.22 semantics (empty: it would)."""
    body = capture.loop.child_by_field_name("body")
    name = capture.decl.name.decode()
    reasons = []
    for ref in scopes.references(capture.decl, within=body):
        kind = _use_kind(source, ref)
        if kind == "read":
            continue
        inside = is_inside(ref, literal)
        if inside:
            if kind == "write":
                reasons.append(f"{name} is assigned inside the closure")
            continue
        if kind == "address":
            reasons.append(f"the address of {name} is taken in the loop")
            continue
        if ref.start_byte > statement.end_byte or _shares_inner_loop(ref, statement, capture.loop):
            what = "assigned" if kind == "write" else "used in a method call that may modify it"
            reasons.append(f"{name} is {what} after the {source.text(statement).split(None, 1)[0].decode()} statement")
    return reasons


def _shares_inner_loop(ref: Node, statement: Node, outer: Node) -> bool:
    """True when a loop inside ``outer`` contains both nodes (so ``ref`` also runs after ``statement``)."""
    for parent in ancestors(ref):
        if parent == outer:
            return False
        if parent.type == "for_statement" and is_inside(statement, parent):
            return True
    return False


# -- fixes -------------------------------------------------------------------
def _argument_fix(source, scopes, types, statement, literal, captures) -> Fix | None:
    body_scope_names = _names_declared_at_top(scopes, literal)
    typed = []
    for capture in captures:
        spelled = types.variable_type(capture.decl)
        if spelled is None or capture.decl.name in body_scope_names or not _type_visible(scopes, literal, spelled, source):
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


def _type_visible(scopes: FunctionScopes, literal: Node, spelled: bytes, source: SourceFile) -> bool:
    """Reject a spelled type that names a type declared inside this function (scoping may differ)."""
    local_types = {d.name for d in scopes.declarations() if d.kind == "type"}
    if not local_types:
        return True
    import re

    return not any(word in local_types for word in re.findall(rb"[A-Za-z_][A-Za-z0-9_]*", spelled))


def _copy_fix(source: SourceFile, scopes: FunctionScopes, statement: Node, captures: list[_Capture]) -> tuple[Fix | None, str]:
    """`v := v` right before the statement: needs no type, always the per-iteration value.

    Returns the fix, or None and why it cannot be offered.
    """
    names = ", ".join(c.decl.name.decode() for c in captures)
    if any(n.type == "goto_statement" for n in walk(scopes.function)):
        return None, f"the type of {names} is not stated and a goto could jump over a copy"
    block = statement.parent
    declared_here = {d.name for d in scopes.declarations() if block is not None and d.scope == _scope_node(block)}
    clash = [c.decl.name.decode() for c in captures if c.decl.name in declared_here]
    if clash:
        return None, f"the type of {names} is not stated and {clash[0]} is already declared in this block"
    edit = insert_before(source, statement, [c.decl.name + b" := " + c.decl.name for c in captures])
    if edit is None:
        return None, f"the type of {names} is not stated and the statement does not start its own line"
    keyword = source.text(statement).split(None, 1)[0].decode()
    return Fix(f"Copy {names} before the {keyword} statement", (edit,), Applicability.SAFE), ""


def _scope_node(container: Node) -> Node:
    # The resolver records the block or case clause holding the statements as the scope.
    return container
