"""Identifier resolution inside one function, with Go's block scoping.

Go's rules that matter here: a name declared in a block is visible from the
end of its declaring statement (so in `x := x` the right-hand x is the outer
one); `:=` only declares names that are new in its own scope (the others are
assigned); parameters, results and the receiver share the function's
outermost block; `for`, `if` and `switch` open an implicit block for their
init statement; every case clause is a block; range and for-clause variables
live in the loop's implicit block.

Names not declared inside the function resolve to None (package level,
imports or universe): rules treat them as "declared outside".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.facts import Fact
from gofix_defer.codemods.analysis.syntax import expression_list_items, identifiers

_SCOPE_TYPES = frozenset(
    {
        "function_declaration",
        "method_declaration",
        "function_literal",
        "block",
        "for_statement",
        "if_statement",
        "expression_switch_statement",
        "type_switch_statement",
        "select_statement",
        "expression_case_clause",
        "type_case_clause",
        "communication_clause",
    }
)


@dataclass
class Declaration:
    name: bytes
    ident: Node  # the identifier node where the name is declared
    kind: str  # param, result, receiver, var, const, short, range, for, typeswitch, recv, type, func
    statement: Node  # the declaring node (parameter_declaration, short_var_declaration, ...)
    visible_from: int  # byte offset from which references resolve to it
    scope: Node
    type_node: Node | None = None  # stated type, when the source says it
    value: Node | None = None  # initialiser expression, when there is one
    index: int = 0  # position in a multi-name declaration
    variadic: bool = False  # a `xs ...T` parameter

    @property
    def key(self) -> tuple[int, int]:
        return (self.ident.start_byte, self.ident.end_byte)


@dataclass
class _Scope:
    node: Node
    parent: "_Scope | None"
    decls: dict[bytes, list[Declaration]] = field(default_factory=dict)

    def add(self, decl: Declaration) -> None:
        self.decls.setdefault(decl.name, []).append(decl)


class FunctionScopes:
    """Resolves identifiers within ``function`` (a function/method declaration or literal)."""

    def __init__(self, data: bytes, function: Node):
        self.data = data
        self.function = function
        self._scopes: dict[tuple[int, int, str], _Scope] = {}
        self._decl_by_ident: dict[tuple[int, int], Declaration] = {}
        # What Go refuses: `:=` declaring nothing new, a name declared twice in one scope.
        self.conflicts: list[Node] = []
        self._by_name: dict[bytes, list[Node]] | None = None
        self._build(function, None)

    # -- public API -------------------------------------------------------
    def resolve(self, ident: Node) -> Declaration | None:
        """The declaration ``ident`` refers to, or None when declared outside the function."""
        key = (ident.start_byte, ident.end_byte)
        if key in self._decl_by_ident:
            return self._decl_by_ident[key]
        name = self.data[ident.start_byte : ident.end_byte]
        scope = self._innermost_scope(ident)
        while scope is not None:
            best = None
            for decl in scope.decls.get(name, ()):
                if decl.visible_from <= ident.start_byte and (best is None or decl.visible_from > best.visible_from):
                    best = decl
            if best is not None:
                return best
            scope = scope.parent
        return None

    def declarations(self) -> list[Declaration]:
        return sorted(self._decl_by_ident.values(), key=lambda d: d.ident.start_byte)

    def references(self, decl: Declaration, within: Node | None = None) -> list[Node]:
        """Identifier nodes (declaration excluded) that resolve to ``decl``."""
        found = []
        for ident in self._identifiers_named(decl.name):
            if within is not None and not (within.start_byte <= ident.start_byte and ident.end_byte <= within.end_byte):
                continue
            if (ident.start_byte, ident.end_byte) == decl.key:
                continue
            if self.resolve(ident) is decl:
                found.append(ident)
        return found

    def _identifiers_named(self, name: bytes) -> list[Node]:
        """The function's value identifiers spelling ``name``, in document order: one walk
        of the function serves every declaration's references."""
        if self._by_name is None:
            self._by_name = {}
            for ident in identifiers(self.function):
                self._by_name.setdefault(self.data[ident.start_byte : ident.end_byte], []).append(ident)
        return self._by_name.get(name, [])

    # -- construction -----------------------------------------------------
    def _innermost_scope(self, node: Node) -> _Scope | None:
        current = node.parent
        while current is not None:
            scope = self._scopes.get(_node_key(current))
            if scope is not None:
                return scope
            current = current.parent
        return None

    def _declare(self, scope: _Scope, ident: Node, kind: str, statement: Node, visible_from: int, **extra) -> None:
        name = self.data[ident.start_byte : ident.end_byte]
        if name == b"_":
            return
        # (A type switch's `t` lives in each clause, in Go: it may shadow the init's.)
        if kind not in ("type", "func", "typeswitch") and any(d.kind not in ("type", "func", "typeswitch") for d in scope.decls.get(name, ())):
            self.conflicts.append(ident)  # declared twice in one scope
        decl = Declaration(name=name, ident=ident, kind=kind, statement=statement, visible_from=visible_from, scope=scope.node, **extra)
        scope.add(decl)
        self._decl_by_ident[decl.key] = decl

    def _build(self, node: Node, parent: _Scope | None) -> None:
        scope = parent
        node_type = node.type
        if node_type in _SCOPE_TYPES:
            # A function body block shares the function's scope (params live there).
            if node_type == "block" and node.parent is not None and node.parent.type in (
                "function_declaration",
                "method_declaration",
                "function_literal",
            ) and node.parent.child_by_field_name("body") == node:
                pass
            else:
                scope = _Scope(node, parent)
                self._scopes[_node_key(node)] = scope
        if scope is None:  # should not happen: the function itself is a scope
            scope = _Scope(node, None)
            self._scopes[_node_key(node)] = scope

        handler = _DECLARERS.get(node_type)
        if handler is not None:
            handler(self, node, scope)
        # Scopes and declarations are named nodes with children: punctuation, keywords
        # and leaves (a third of the nodes or more) hold neither.
        for child in node.named_children:
            if child.child_count:
                self._build(child, scope)

    # Declaration handlers, keyed by node type ---------------------------
    def _params(self, function: Node, scope: _Scope) -> None:
        start = function.start_byte
        for field_name, kind in (("receiver", "receiver"), ("parameters", "param"), ("result", "result")):
            plist = function.child_by_field_name(field_name)
            for parameter in syntax.parameters_of(plist):
                for ident in parameter.names:
                    self._declare(scope, ident, kind, parameter.declaration, start, type_node=parameter.type, variadic=parameter.variadic)

    def _short_var(self, node: Node, scope: _Scope) -> None:
        left = expression_list_items(node.child_by_field_name("left"))
        right = expression_list_items(node.child_by_field_name("right"))
        target = scope
        names = [self.data[i.start_byte : i.end_byte] for i in left if i.type == "identifier"]
        declared = {n for n, found in target.decls.items() if any(d.kind != "typeswitch" for d in found)}
        if names and all(n == b"_" or n in declared for n in names):
            self.conflicts.append(node)  # no new variables on the left side of :=
        for index, ident in enumerate(left):
            if ident.type != "identifier":
                continue
            name = self.data[ident.start_byte : ident.end_byte]
            if name in target.decls:
                continue  # redeclaration: an assignment to the existing variable
            value = right[index] if len(right) == len(left) else None
            self._declare(target, ident, "short", node, node.end_byte, value=value, index=index)

    def _var_spec(self, node: Node, scope: _Scope) -> None:
        kind = "const" if node.type == "const_spec" else "var"
        type_node = node.child_by_field_name("type")
        values = expression_list_items(node.child_by_field_name("value"))
        names = node.children_by_field_name("name")
        for index, ident in enumerate(names):
            value = values[index] if len(values) == len(names) else None
            self._declare(scope, ident, kind, node, node.end_byte, type_node=type_node, value=value, index=index)

    def _range(self, node: Node, scope: _Scope) -> None:
        if not any(c.type == ":=" for c in node.children):
            return
        for index, ident in enumerate(expression_list_items(node.child_by_field_name("left"))):
            if ident.type == "identifier":
                self._declare(scope, ident, "range", node, node.end_byte, value=node.child_by_field_name("right"), index=index)

    def _type_switch(self, node: Node, scope: _Scope) -> None:
        alias = node.child_by_field_name("name")
        if alias is not None and alias.type == "identifier":
            value = node.child_by_field_name("operand")
            visible = value.end_byte if value is not None else node.start_byte
            self._declare(scope, alias, "typeswitch", node, visible)

    def _receive(self, node: Node, scope: _Scope) -> None:
        if not any(c.type == ":=" for c in node.children):
            return
        for index, ident in enumerate(expression_list_items(node.child_by_field_name("left"))):
            if ident.type == "identifier":
                self._declare(scope, ident, "recv", node, node.end_byte, index=index)

    def _type_spec(self, node: Node, scope: _Scope) -> None:
        name = node.child_by_field_name("name")
        if name is not None:
            name_text = self.data[name.start_byte : name.end_byte]
            # Types are declared like variables for shadowing purposes.
            decl = Declaration(name=name_text, ident=name, kind="type", statement=node, visible_from=node.start_byte, scope=scope.node)
            scope.add(decl)
            self._decl_by_ident[decl.key] = decl


_DECLARERS = {
    "function_declaration": FunctionScopes._params,
    "method_declaration": FunctionScopes._params,
    "function_literal": FunctionScopes._params,
    "short_var_declaration": FunctionScopes._short_var,
    "var_spec": FunctionScopes._var_spec,
    "const_spec": FunctionScopes._var_spec,
    "range_clause": FunctionScopes._range,
    "type_switch_statement": FunctionScopes._type_switch,
    "receive_statement": FunctionScopes._receive,
    "type_definition": FunctionScopes._type_spec,
    "alias_declaration": FunctionScopes._type_spec,
}


def _node_key(node: Node) -> tuple[int, int, str]:
    return (node.start_byte, node.end_byte, node.type)


def declaration_conflicts(source) -> int:
    """How many declarations of the file Go would refuse: a `:=` that declares
    nothing new, a name declared twice in one scope (functions and literals at
    every level; package-level declarations are not counted)."""
    from gofix_defer.codemods.analysis.nodeindex import outermost_functions

    return sum(len(FunctionScopes(source.data, function).conflicts) for function in outermost_functions(source))


def names_used(data: bytes, node: Node) -> set[bytes]:
    """All identifier-like names spelled under ``node``: a conservative set for fresh names."""
    names = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type in syntax.NAME_KINDS:
            names.add(data[current.start_byte : current.end_byte])
        stack.extend(current.children)
    return names


def fresh_name(data: bytes, root: Node, base: str, taken: set[bytes] | None = None) -> str:
    """``base``, or ``base2``, ``base3``… whichever no identifier in ``root`` spells.

    Checking every name spelled in the whole file is stricter than Go's scopes
    require, and that is the point: the result can never shadow or clash.
    """
    used = names_used(data, root) | (taken or set())
    candidate, number = base, 2
    while candidate.encode() in used:
        candidate = f"{base}{number}"
        number += 1
    return candidate





def same_variable(scopes: FunctionScopes, a: Node, b: Node) -> bool:
    """Do two operands (`s.mu`, `wg`) start from the same variable?

    Operands containing a call are never the same (`get().Lock()` twice may
    be two mutexes). Names declared outside the function match by spelling.
    """
    walk = syntax.walk
    if any(n.type == "call_expression" for n in walk(a)) or any(n.type == "call_expression" for n in walk(b)):
        return False
    root_a, root_b = syntax.root_identifier(a), syntax.root_identifier(b)
    if root_a is None or root_b is None:
        return False
    decl_a, decl_b = scopes.resolve(root_a), scopes.resolve(root_b)
    if decl_a is None and decl_b is None:
        return scopes.data[root_a.start_byte : root_a.end_byte] == scopes.data[root_b.start_byte : root_b.end_byte]
    return decl_a is decl_b


def initialiser(decl: Declaration) -> tuple[Node | None, int]:
    """The expression a variable was set from, and which of its results it took:
    (`f()`, 1) for `b` in `a, b := f()` or `var a, b = f()`; (`y`, 0) for `b` in
    `a, b := x, y`; the ranged expression for a range variable; (None, 0) when none."""
    if decl.value is not None:
        return decl.value, 0
    statement = decl.statement
    if statement.type == "short_var_declaration":
        right = expression_list_items(statement.child_by_field_name("right"))
    elif statement.type == "var_spec":
        right = expression_list_items(statement.child_by_field_name("value"))
    else:
        return None, 0
    if len(right) == 1:
        return right[0], decl.index
    return None, 0


def visible_declarations(scopes: FunctionScopes, node: Node) -> dict[bytes, Declaration]:
    """The names declared in the function that are visible at ``node`` (types left out), each
    with the declaration that shadows the others there."""
    visible: dict[bytes, Declaration] = {}
    for decl in scopes.declarations():
        if decl.kind == "type" or decl.visible_from > node.start_byte or not syntax.is_inside(node, decl.scope):
            continue
        current = visible.get(decl.name)
        if current is None or _shadows(decl, current):
            visible[decl.name] = decl
    return visible


def _shadows(decl: Declaration, other: Declaration) -> bool:
    if decl.scope == other.scope:
        return decl.visible_from > other.visible_from
    return syntax.is_inside(decl.scope, other.scope)


class Scopes(Fact):
    """The FunctionScopes of each function of a file, built once and shared by every rule."""

    def __init__(self, source) -> None:
        super().__init__(source)
        self._by_function: dict[tuple[int, int, str], FunctionScopes] = {}

    def of(self, function: Node) -> FunctionScopes:
        key = (function.start_byte, function.end_byte, function.type)
        found = self._by_function.get(key)
        if found is None:
            found = self._by_function[key] = FunctionScopes(self.source.data, function)
        return found


def loop_variables(scopes: FunctionScopes, loop: Node) -> list[Declaration]:
    """The variables a for statement declares for the loop (before Go 1.22, one per loop;
    since, one per iteration): `i` of `for i := 0; …`, `k, v` of `for k, v := range …`."""
    clause = syntax.for_clause(loop)
    owner: Node | None
    if clause is not None:
        owner = syntax.init_statement(loop)
        if owner is None or not syntax.is_short_var_declaration(owner):
            return []
    else:
        owner = syntax.range_clause(loop)
        if owner is None:
            return []
    span = (owner.start_byte, owner.end_byte)
    return [d for d in scopes.declarations() if (d.statement.start_byte, d.statement.end_byte) == span and d.kind in ("short", "range")]
