"""Go syntax, asked in Go's words: the vocabulary rules use instead of node kinds.

Only the analysis layer knows the grammar (tree-sitter-golang, whose trees
follow go/ast). Rules ask questions here — "is this a loop?", "which
statements does this block hold?", "what does this `go` statement call?" —
and never spell a node kind or field name, so a grammar change stays in this
folder. Every function takes and returns tree-sitter nodes and never raises
on an unexpected shape: it answers False, None or an empty list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, TypeGuard

from tree_sitter import Node

# -- kinds the rest of the analysis layer names ---------------------------------

FUNCTION_KINDS = frozenset({"function_declaration", "method_declaration", "function_literal"})
DECLARED_FUNCTION_KINDS = frozenset({"function_declaration", "method_declaration"})
LOOP_KINDS = frozenset({"for_statement"})
SWITCH_KINDS = frozenset({"expression_switch_statement", "type_switch_statement"})
# What an unlabelled `break` leaves.
BREAKABLE_KINDS = frozenset({"for_statement", "expression_switch_statement", "type_switch_statement", "select_statement"})
# Statements whose parts are alternatives: two nodes meeting first in one of
# these lie on different paths.
BRANCHING_KINDS = frozenset({"if_statement", "expression_switch_statement", "type_switch_statement", "select_statement"})
CASE_CLAUSE_KINDS = frozenset({"expression_case_clause", "type_case_clause", "communication_clause"})
# Nodes whose named children are statements.
STATEMENT_LIST_KINDS = frozenset({"block"}) | CASE_CLAUSE_KINDS
JUMP_KINDS = frozenset({"break_statement", "continue_statement", "goto_statement", "fallthrough_statement"})
ASSIGNMENT_KINDS = frozenset({"assignment", "inc_dec_statement"})
BASIC_LITERAL_KINDS = frozenset(
    {"int_literal", "float_literal", "imaginary_literal", "rune_literal", "interpreted_string_literal", "raw_string_literal"}
)
STRING_LITERAL_KINDS = frozenset({"interpreted_string_literal", "raw_string_literal"})
TYPE_KINDS = frozenset(
    {
        "array_type",
        "channel_type",
        "function_type",
        "generic_type",
        "implicit_length_array_type",
        "interface_type",
        "map_type",
        "parenthesized_type",
        "pointer_type",
        "qualified_identifier",
        "slice_type",
        "struct_type",
        "type_identifier",
    }
)
PREDECLARED_CONSTANTS = frozenset({b"nil", b"true", b"false", b"iota"})


# -- walking -----------------------------------------------------------------------


def walk(node: Node | None) -> Iterator[Node]:
    """All descendants of ``node`` (itself included) in document order; nothing for None."""
    if node is None:
        return
    cursor = node.walk()
    visited_children = False
    while True:
        if not visited_children:
            current = cursor.node
            if current is not None:
                yield current
            if cursor.goto_first_child():
                continue
        if cursor.goto_next_sibling():
            visited_children = False
            continue
        if not cursor.goto_parent() or cursor.node == node:
            return
        visited_children = True


def walk_no_funcs(node: Node | None) -> Iterator[Node]:
    """Descendants of ``node`` in document order, not entering nested function literals;
    nothing for None."""
    stack = [node] if node is not None else []
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed([c for c in current.children if c.type != "function_literal"]))


def ancestors(node: Node) -> Iterator[Node]:
    current = node.parent
    while current is not None:
        yield current
        current = current.parent


def is_inside(node: Node, container: Node) -> bool:
    return container.start_byte <= node.start_byte and node.end_byte <= container.end_byte


def same_node(a: Node | None, b: Node | None) -> bool:
    return a is not None and b is not None and (a.start_byte, a.end_byte, a.type) == (b.start_byte, b.end_byte, b.type)


# -- kinds ---------------------------------------------------------------------------


def is_function(node: Node | None) -> TypeGuard[Node]:
    """A function or method declaration, or a function literal."""
    return node is not None and node.type in FUNCTION_KINDS


def is_function_literal(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "function_literal"


def is_declared_function(node: Node | None) -> TypeGuard[Node]:
    """A top-level `func name(…)` or `func (r T) name(…)`."""
    return node is not None and node.type in DECLARED_FUNCTION_KINDS


def is_method(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "method_declaration"


def is_block(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "block"


def holds_statements(node: Node | None) -> TypeGuard[Node]:
    """A block or a case clause: a node whose children are statements."""
    return node is not None and node.type in STATEMENT_LIST_KINDS


def is_loop(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type in LOOP_KINDS


def is_if(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "if_statement"


def is_switch(node: Node | None) -> TypeGuard[Node]:
    """An expression or type switch."""
    return node is not None and node.type in SWITCH_KINDS


def is_type_switch(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "type_switch_statement"


def is_select(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "select_statement"


def is_breakable(node: Node | None) -> TypeGuard[Node]:
    """A statement an unlabelled `break` leaves: for, switch, select."""
    return node is not None and node.type in BREAKABLE_KINDS


def is_branching(node: Node | None) -> TypeGuard[Node]:
    """if, switch or select: statements whose parts are alternative paths."""
    return node is not None and node.type in BRANCHING_KINDS


def is_case_clause(node: Node | None) -> TypeGuard[Node]:
    """A `case …:` or `default:` clause of a switch or select."""
    return node is not None and node.type in CASE_CLAUSE_KINDS


def is_select_case(node: Node | None) -> TypeGuard[Node]:
    """A `case …:` or `default:` clause of a select."""
    return node is not None and node.type == "communication_clause"


def is_go(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "go_statement"


def is_defer(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "defer_statement"


def is_return(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "return_statement"


def is_break(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "break_statement"


def is_continue(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "continue_statement"


def is_goto(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "goto_statement"


def is_fallthrough(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "fallthrough_statement"


def is_statement_kind(node: Node | None) -> TypeGuard[Node]:
    """A statement other than a declaration: `x = y`, `x++`, `if`, `for`, `go`, …"""
    return node is not None and (node.type.endswith("_statement") or node.type == "assignment")


def is_labeled(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "labeled_statement"


def is_expression_statement(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "expression_statement"


def is_short_var_declaration(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "short_var_declaration"


def is_var_declaration(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "var_declaration"


def is_var_spec(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "var_spec"


def is_assignment(node: Node | None) -> TypeGuard[Node]:
    """`a = b`, `a += b` (not `:=`, which is a short variable declaration)."""
    return node is not None and node.type == "assignment"


def is_inc_dec(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "inc_dec_statement"


def is_send(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "send_statement"


def is_receive_statement(node: Node | None) -> TypeGuard[Node]:
    """The communication of a select case that receives: `v := <-ch`, `<-ch`."""
    return node is not None and node.type == "receive_statement"


def is_receive(node: Node | None) -> TypeGuard[Node]:
    """A receive expression `<-ch`."""
    return is_unary(node, b"<-")


def is_unary(node: Node | None, operator: bytes | None = None) -> TypeGuard[Node]:
    if node is None or node.type != "unary_expression":
        return False
    if operator is None:
        return True
    found = node.child_by_field_name("operator")
    return found is not None and found.text == operator


def is_address_of(node: Node | None) -> TypeGuard[Node]:
    return is_unary(node, b"&")


def is_binary(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "binary_expression"


def is_call(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "call_expression"


def is_selector(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "selector_expression"


def is_index(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "index_expression"


def is_slice_expression(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "slice_expression"


def is_parenthesized(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "parenthesized_expression"


def is_identifier(node: Node | None) -> TypeGuard[Node]:
    """A value name (not a field, type, package or label name)."""
    return node is not None and node.type == "identifier"


def is_composite_literal(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "composite_literal"


def is_literal_value(node: Node | None) -> TypeGuard[Node]:
    """The `{…}` of a composite literal, or a nested one."""
    return node is not None and node.type == "literal_value"


def is_keyed_element(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "keyed_element"


def is_expression_list(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "expression_list"


def is_basic_literal(node: Node | None) -> TypeGuard[Node]:
    """An int, float, imaginary, rune or string literal."""
    return node is not None and node.type in BASIC_LITERAL_KINDS


def is_int_literal(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "int_literal"


def is_float_literal(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "float_literal"


def is_rune_literal(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "rune_literal"


def is_field_identifier(node: Node | None) -> TypeGuard[Node]:
    """The field or method name of a selector (`f` in `x.f`), or a field name in a struct type."""
    return node is not None and node.type == "field_identifier"


def is_package_identifier(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "package_identifier"


def holds_nothing(node: Node | None) -> bool:
    """A `(…)` list, `{…}` block or statement with nothing written inside, comments
    included: `()` does, `(/* none */)` does not."""
    return node is not None and node.named_child_count == 0


def is_string_literal(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type in STRING_LITERAL_KINDS


def is_raw_string(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "raw_string_literal"


def is_comment(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "comment"


def is_channel_type(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "channel_type"


def is_type(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type in TYPE_KINDS


def is_type_identifier(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "type_identifier"


def is_pointer_type(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "pointer_type"


def is_qualified_type(node: Node | None) -> TypeGuard[Node]:
    """`pkg.Name` in a type position."""
    return node is not None and node.type == "qualified_identifier"


def is_struct_type(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "struct_type"


def is_statement(node: Node | None) -> TypeGuard[Node]:
    """A statement or a declaration in a statement list (not a comment)."""
    return node is not None and node.is_named and node.parent is not None and holds_statements(node.parent) and node.type != "comment"


def is_predeclared_constant(node: Node | None) -> TypeGuard[Node]:
    """`nil`, `true`, `false` or `iota`, spelled as such (they parse as identifiers)."""
    return node is not None and is_identifier(node) and (node.text or b"") in PREDECLARED_CONSTANTS


# -- functions -----------------------------------------------------------------------


def enclosing_function(node: Node) -> Node | None:
    for parent in ancestors(node):
        if parent.type in FUNCTION_KINDS:
            return parent
    return None


def outermost_function(node: Node) -> Node | None:
    """The function or method declaration (or package-level literal) holding ``node``."""
    found = None
    for parent in ancestors(node):
        if parent.type in FUNCTION_KINDS:
            found = parent
    return found


def function_body(function: Node | None) -> Node | None:
    return function.child_by_field_name("body") if function is not None else None


def function_name(function: Node) -> Node | None:
    """The name of a declared function or method (None for a literal)."""
    return function.child_by_field_name("name") if is_declared_function(function) else None


def receiver(function: Node) -> Node | None:
    """The `(r *T)` parameter list of a method."""
    return function.child_by_field_name("receiver") if is_method(function) else None


def type_parameters(node: Node) -> Node | None:
    return node.child_by_field_name("type_parameters")


def parameter_list(function: Node) -> Node | None:
    return function.child_by_field_name("parameters")


def result(function: Node) -> Node | None:
    """The result type or `(…)` result list of a function or function type."""
    return function.child_by_field_name("result")


@dataclass(frozen=True)
class Parameter:
    """One `a, b T` group of a parameter list."""

    declaration: Node
    names: tuple[Node, ...]  # empty for an unnamed parameter
    type: Node | None
    variadic: bool


def parameters_of(parameter_list_node: Node | None) -> list[Parameter]:
    """The parameter groups of a `(…)` parameter list (receiver, parameters or results)."""
    if parameter_list_node is None or parameter_list_node.type != "parameters":
        return []
    found = []
    for declaration in parameter_list_node.named_children:
        if declaration.type != "parameter_declaration":
            continue
        names = tuple(declaration.children_by_field_name("name"))
        variadic = any(child.type == "..." for child in declaration.children)
        found.append(Parameter(declaration, names, declaration.child_by_field_name("type"), variadic))
    return found


def signature_names(function: Node) -> list[Node]:
    """The names a function's signature declares: its receiver's, its parameters' and its
    named results' (every name the body can use without declaring it itself)."""
    lists = (receiver(function), parameter_list(function), result(function))
    return [name for names in lists for group in parameters_of(names) for name in group.names]


def result_count(function: Node) -> int:
    """How many values the function returns."""
    found = result(function)
    if found is None:
        return 0
    if found.type == "parameters":
        return sum(max(1, len(p.names)) for p in parameters_of(found))
    return 1


def result_types(function: Node) -> list[Node | None]:
    """The type of each value the function returns, one per value (`(a, b T)` gives T twice)."""
    found = result(function)
    if found is None:
        return []
    if found.type == "parameters":
        return [p.type for p in parameters_of(found) for _ in range(max(1, len(p.names)))]
    return [found]


def parameter_type(function: Node, name: Node | None) -> Node | None:
    """The stated type of the parameter of ``function`` whose name node is ``name``
    (parentheses dropped); None when there is none."""
    for parameter in parameters_of(parameter_list(function)):
        if any(same_node(n, name) for n in parameter.names):
            return unparen_type(parameter.type) if parameter.type is not None else None
    return None


def is_plain_path(node: Node) -> bool:
    """A name or a field path (`t`, `s.timer`): something a later read reaches again."""
    node = unparen(node)
    while is_selector(node):
        parts = selector_parts(node)
        if parts is None:
            return False
        node = unparen(parts[0])
    return is_identifier(node)


def parameter_is_pointer(function: Node, position: int) -> bool:
    """Is the ``position``-th parameter of ``function`` stated as a pointer (so the locks
    its value holds are the caller's, not a copy's)?"""
    index = 0
    for parameter in parameters_of(parameter_list(function)):
        for _ in parameter.names or (None,):
            if index == position:
                return parameter.type is not None and is_pointer_type(unparen_type(parameter.type))
            index += 1
    return False


def parameter_name_at(parameter_list_node: Node | None, index: int) -> Node | None:
    """The name of the ``index``-th parameter (None when unnamed, variadic or absent)."""
    position = 0
    for parameter in parameters_of(parameter_list_node):
        if parameter.variadic:
            return None
        for name in parameter.names or (None,):
            if position == index:
                return name
            position += 1
    return None


# -- statements ----------------------------------------------------------------------


def statements(node: Node | None) -> list[Node]:
    """The statements of a block or case clause, comments left out."""
    if node is None:
        return []
    if node.type == "block" or node.type in CASE_CLAUSE_KINDS:
        return [c for c in node.named_children if c.type != "comment" and not _is_clause_head(node, c)]
    return []


def _is_clause_head(clause: Node, child: Node) -> bool:
    """The `case x, y` / `case v := <-ch` part of a clause, which is not a statement."""
    if clause.type == "block":
        return False
    name = _field_of(clause, child)
    return name in ("value", "type", "communication")


def _field_of(parent: Node, child: Node) -> str | None:
    for index, candidate in enumerate(parent.children):
        if candidate == child:
            return parent.field_name_for_child(index)
    return None


def body_statements(function: Node) -> list[Node]:
    return statements(function_body(function))


def body(node: Node | None) -> Node | None:
    """The `{…}` of a function, loop, or if's then-branch."""
    return node.child_by_field_name("body") if node is not None else None


def statement_list_of(statement: Node) -> Node | None:
    """The block or case clause that holds ``statement`` directly."""
    parent = statement.parent
    return parent if holds_statements(parent) else None


def sibling_statements(statement: Node) -> list[Node] | None:
    """The statements of the block or case clause holding ``statement`` (None if it is not one of them)."""
    holder = statement_list_of(statement)
    if holder is None:
        return None
    items = statements(holder)
    return items if statement in items else None


def next_statement(statement: Node) -> Node | None:
    items = sibling_statements(statement)
    if items is None:
        return None
    index = items.index(statement)
    return items[index + 1] if index + 1 < len(items) else None


def previous_statement(statement: Node) -> Node | None:
    items = sibling_statements(statement)
    if items is None:
        return None
    index = items.index(statement)
    return items[index - 1] if index > 0 else None


def statement_of(node: Node) -> Node:
    """The innermost statement, declaration or spec holding ``node``; itself if it is one."""
    current = node
    while current.parent is not None and not (
        current.type.endswith(("statement", "declaration", "var_spec")) or current.type == "assignment"
    ):
        current = current.parent
    return current


def enclosing_statement_list(node: Node) -> Node | None:
    """The innermost block or case clause around ``node``."""
    for parent in ancestors(node):
        if holds_statements(parent):
            return parent
    return None


# -- if / for / switch / select ------------------------------------------------------


def condition(node: Node) -> Node | None:
    """The condition of an if, or of a `for cond {` / `for init; cond; post {` loop."""
    if node.type == "for_statement":
        clause = for_clause(node)
        if clause is not None:
            return clause.child_by_field_name("condition")
    return node.child_by_field_name("condition")


def then_branch(if_statement: Node) -> Node | None:
    return if_statement.child_by_field_name("body")


def else_branch(if_statement: Node) -> Node | None:
    """The `else` block or `else if` statement."""
    return if_statement.child_by_field_name("else")


def init_statement(node: Node) -> Node | None:
    """The init statement of an if or a switch (`if v := f(); …`), or of a for clause."""
    if node.type == "for_statement":
        clause = for_clause(node)
        return clause.child_by_field_name("init_statement") if clause is not None else None
    return node.child_by_field_name("init_statement")


def for_clause(loop: Node) -> Node | None:
    """The `init; cond; post` clause of a loop."""
    return next((c for c in loop.named_children if c.type == "for_clause"), None)


def post_statement(loop: Node) -> Node | None:
    clause = for_clause(loop)
    return clause.child_by_field_name("post_statement") if clause is not None else None


def range_clause(loop: Node) -> Node | None:
    """The `k, v := range x` clause of a loop."""
    return next((c for c in loop.named_children if c.type == "range_clause"), None)


def is_range_clause(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "range_clause"


def loop_of_body_statement(statement: Node) -> Node | None:
    """The loop whose body ``statement`` is one of the statements of (None: it is not)."""
    block = statement.parent
    loop = block.parent if block is not None else None
    return loop if is_loop(loop) and same_node(body(loop), block) else None


def range_operand(loop: Node) -> Node | None:
    """What a range loop ranges over."""
    clause = range_clause(loop)
    return clause.child_by_field_name("right") if clause is not None else None


def range_variables(loop: Node) -> list[Node]:
    clause = range_clause(loop)
    return expression_list_items(clause.child_by_field_name("left")) if clause is not None else []


def range_declares(loop: Node) -> bool:
    """`for k, v := range x` (declares), as opposed to `for k, v = range x`."""
    clause = range_clause(loop)
    return clause is not None and any(c.type == ":=" for c in clause.children)


def range_assigns(loop: Node) -> bool:
    """`for k, v = range x` (assigns existing variables)."""
    clause = range_clause(loop)
    return clause is not None and any(c.type == "=" for c in clause.children)


def is_endless_loop(loop: Node) -> bool:
    """`for { … }`: no condition, no clause."""
    return is_loop(loop) and all(c.type in ("for", "block", "comment") for c in loop.children)


def has_loop_header(loop: Node) -> bool:
    """The loop has a condition, a for clause or a range clause."""
    loop_body = body(loop)
    return any(c != loop_body and c.type != "comment" for c in loop.named_children)


def switch_cases(node: Node) -> list[Node]:
    """The case clauses of a switch or select, `default` included."""
    return [c for c in node.named_children if c.type in CASE_CLAUSE_KINDS]


def is_default_clause(clause: Node) -> bool:
    return is_case_clause(clause) and any(c.type == "default" for c in clause.children)


def select_communication(clause: Node) -> Node | None:
    """The send or receive statement of a select case (None for `default`)."""
    return clause.child_by_field_name("communication") if is_select_case(clause) else None


def type_switch_alias(node: Node) -> Node | None:
    """The `t` of `switch t := x.(type)`."""
    return node.child_by_field_name("name") if is_type_switch(node) else None


def type_switch_operand(node: Node) -> Node | None:
    return node.child_by_field_name("operand") if is_type_switch(node) else None


def enclosing_select_case(node: Node) -> Node | None:
    """The select clause whose communication is (or holds) ``node``."""
    current = node
    while current.parent is not None and current.parent.type in ("parenthesized_expression", "expression_list", "receive_statement", "expression_statement"):
        current = current.parent
    parent = current.parent
    if parent is not None and parent.type == "communication_clause" and same_node(parent.child_by_field_name("communication"), current):
        return parent
    return None


def listing_statement(expression: Node) -> Node | None:
    """The assignment, short variable declaration or select-case receive statement
    with an expression list that holds ``expression`` itself as an item (`v, ok := <-ch`
    for `<-ch`; `a, b = x, y` for `y`); None otherwise (parentheses are not looked through)."""
    items = expression.parent
    if items is None or items.type != "expression_list":
        return None
    statement = items.parent
    if statement is None or statement.type not in ("short_var_declaration", "assignment", "receive_statement"):
        return None
    return statement


# -- jumps and labels ----------------------------------------------------------------


def is_jump(node: Node | None) -> TypeGuard[Node]:
    """break, continue, goto or fallthrough."""
    return node is not None and node.type in JUMP_KINDS


def jump_label(jump: Node) -> Node | None:
    """The label a break/continue/goto names (None when unlabelled)."""
    return jump.child_by_field_name("label") if jump.type in JUMP_KINDS else None


def statement_label(labeled: Node) -> Node | None:
    return labeled.child_by_field_name("label") if is_labeled(labeled) else None


def labeled_body(labeled: Node) -> Node | None:
    """The statement a label stands before."""
    return labeled.child_by_field_name("statement") if is_labeled(labeled) else None


def label_of_statement(statement: Node) -> Node | None:
    """The label directly in front of ``statement``, if any."""
    parent = statement.parent
    return statement_label(parent) if parent is not None and is_labeled(parent) else None


def unlabelled_statement(statement: Node) -> Node:
    """``statement`` without the labels in front of it."""
    while is_labeled(statement):
        inner = labeled_body(statement)
        if inner is None:
            break
        statement = inner
    return statement


def with_labels(statement: Node) -> Node:
    """``statement`` with the labels in front of it (the node that sits in the statement list)."""
    while statement.parent is not None and is_labeled(statement.parent):
        statement = statement.parent
    return statement


# -- calls and expressions -----------------------------------------------------------


def unparen(node: Node) -> Node:
    while node.type == "parenthesized_expression" and node.named_child_count == 1:
        node = node.named_children[0]
    return node


def paren_parent(node: Node) -> tuple[Node, Node | None]:
    """(``node`` with the parentheses around it, the parent of that)."""
    parent = node.parent
    while parent is not None and parent.type == "parenthesized_expression":
        node, parent = parent, parent.parent
    return node, parent


def callee(call: Node) -> Node | None:
    """The function a call expression calls (parentheses kept)."""
    return call.child_by_field_name("function") if is_call(call) else None


def call_arguments_node(call: Node) -> Node | None:
    return call.child_by_field_name("arguments") if is_call(call) else None


def is_arguments(node: Node | None) -> TypeGuard[Node]:
    """The `(…)` argument list of a call."""
    return node is not None and node.type == "arguments"


def call_arguments(call: Node, *, with_comments: bool = False) -> list[Node]:
    """The arguments of a call, comments left out (a type argument of `make`/`new` included).
    ``with_comments``: comments between the parentheses are listed too, in place."""
    arguments = call_arguments_node(call)
    if arguments is None:
        return []
    return list(arguments.named_children) if with_comments else [a for a in arguments.named_children if a.type != "comment"]


def is_spread_call(call: Node) -> bool:
    """`f(xs...)`."""
    arguments = call_arguments_node(call)
    return arguments is not None and any(c.type == "..." for c in arguments.children)


def call_name(call: Node, data: bytes) -> bytes:
    """The callee's text: b"fmt.Println", b"close", …"""
    function = callee(call)
    return data[function.start_byte : function.end_byte] if function is not None else b""


def is_builtin_call(call: Node | None, name: bytes) -> bool:
    """`name(…)` spelled as a plain identifier (the caller checks it is not shadowed)."""
    if call is None or not is_call(call):
        return False
    function = callee(call)
    return function is not None and function.type == "identifier" and function.text == name


def call_of(statement: Node) -> Node | None:
    """The call of a go or defer statement (parentheses around it dropped)."""
    if statement.type not in ("go_statement", "defer_statement"):
        return None
    call = statement.child_by_field_name("call")
    if call is None:
        call = next((c for c in statement.named_children if c.type != "comment"), None)
    return unparen(call) if call is not None else None


def called_function_literal(statement: Node) -> Node | None:
    """For `defer func(){…}()` / `go func(){…}()`: the function literal being called."""
    call = call_of(statement)
    if call is None or not is_call(call):
        return None
    function = callee(call)
    if function is None:
        return None
    function = unparen(function)
    return function if function.type == "function_literal" else None


def called_in_place(literal: Node) -> Node | None:
    """The call expression that calls ``literal`` right where it stands, or None."""
    _, call = paren_parent(literal)
    if call is None or not is_call(call):
        return None
    function = callee(call)
    return call if function is not None and unparen(function) == literal else None


def how_started(literal: Node) -> str:
    """How a function literal runs: "go", "defer", "call" (called in place) or "value"."""
    call = called_in_place(literal)
    if call is None:
        return "value"
    holder = call.parent
    while holder is not None and holder.type == "parenthesized_expression":
        holder = holder.parent
    if holder is not None and holder.type == "go_statement":
        return "go"
    if holder is not None and holder.type == "defer_statement":
        return "defer"
    return "call"


def runs_in_defer_of(node: Node, function: Node) -> bool:
    """Does ``node`` run as part of a defer statement of ``function`` (its deferred call,
    or the body of a deferred literal), not in a goroutine or another literal?"""
    for parent in ancestors(node):
        if same_node(parent, function):
            return False
        if is_defer(parent):
            return True
        if is_function_literal(parent) and how_started(parent) != "defer":
            return False
    return False


def go_or_defer_of(literal: Node) -> Node | None:
    """The go or defer statement that starts ``literal``, when it does."""
    call = called_in_place(literal)
    if call is None:
        return None
    holder = call.parent
    while holder is not None and holder.type == "parenthesized_expression":
        holder = holder.parent
    return holder if holder is not None and holder.type in ("go_statement", "defer_statement") else None


def selector_parts(node: Node | None) -> tuple[Node, Node] | None:
    """For `operand.field`: (operand, field)."""
    if node is None or not is_selector(node):
        return None
    operand, field = node.child_by_field_name("operand"), node.child_by_field_name("field")
    if operand is None or field is None:
        return None
    return operand, field


def selector_call(node: Node | None) -> tuple[Node, Node, Node] | None:
    """For a call `operand.field(args)` (parentheses around it allowed): (operand, field, call)."""
    if node is None:
        return None
    node = unparen(node)
    if not is_call(node):
        return None
    parts = selector_parts(callee(node))
    if parts is None:
        return None
    return parts[0], parts[1], node


def method_call(node: Node | None) -> tuple[Node, Node, Node] | None:
    """For a call `operand.method(args)`: (operand, method, call). Unlike ``selector_call``
    the callee may stand in parentheses (`(x.m)()`), and ``node`` itself must be the call
    (parentheses around it are not looked through)."""
    if node is None or not is_call(node):
        return None
    function = callee(node)
    parts = selector_parts(unparen(function)) if function is not None else None
    if parts is None:
        return None
    return parts[0], parts[1], node


def callee_name(call: Node) -> Node | None:
    """The name a call is known by: `m` in `x.m(…)`, else the callee itself (`f` in `f(…)`)."""
    function = callee(call)
    if function is not None and is_selector(function):
        parts = selector_parts(function)
        return parts[1] if parts is not None else None
    return function


def expression_list_items(node: Node | None) -> list[Node]:
    if node is None:
        return []
    if node.type == "expression_list":
        return [c for c in node.named_children if c.type != "comment"]
    return [node]


def left_side(node: Node) -> list[Node]:
    """The targets of an assignment, short variable declaration, range or receive statement."""
    if node.type == "inc_dec_statement":
        operand = node.child_by_field_name("operand")
        return [operand] if operand is not None else []
    return expression_list_items(node.child_by_field_name("left"))


def left_node(node: Node) -> Node | None:
    """The whole left-hand side node (the operand of `x++`)."""
    if node.type == "inc_dec_statement":
        return node.child_by_field_name("operand")
    return node.child_by_field_name("left")


def right_side(node: Node) -> list[Node]:
    return expression_list_items(node.child_by_field_name("right"))


def right_node(node: Node) -> Node | None:
    return node.child_by_field_name("right")


def assignment_operator(node: Node) -> bytes:
    operator = node.child_by_field_name("operator")
    return operator.text or b"" if operator is not None else b""


def is_plain_assignment(node: Node) -> bool:
    """`a = b` (not `a += b`)."""
    return is_assignment(node) and assignment_operator(node) == b"="


def declares(node: Node) -> bool:
    """A receive or range clause that declares with `:=`."""
    return any(c.type == ":=" for c in node.children)


def var_spec_names(spec: Node) -> list[Node]:
    return list(spec.children_by_field_name("name"))


def var_spec_values(spec: Node) -> list[Node]:
    return expression_list_items(spec.child_by_field_name("value"))


def var_spec_type(spec: Node) -> Node | None:
    return spec.child_by_field_name("type")


def var_specs(declaration: Node) -> list[Node]:
    """The specs of a var or const declaration, grouped or not."""
    return [c for c in declaration.named_children if c.type in ("var_spec", "const_spec")]


def return_values(statement: Node) -> list[Node]:
    return expression_list_items(statement.child_by_field_name("result")) if is_return(statement) else []


def send_channel(send: Node) -> Node | None:
    return send.child_by_field_name("channel") if is_send(send) else None


def send_value(send: Node) -> Node | None:
    return send.child_by_field_name("value") if is_send(send) else None


def unary_operand(node: Node) -> Node | None:
    return node.child_by_field_name("operand") if is_unary(node) else None


def operand(node: Node) -> Node | None:
    """The operand of a selector, index, slice, unary or type assertion expression."""
    return node.child_by_field_name("operand")


def binary_parts(node: Node) -> tuple[Node, bytes, Node] | None:
    """For `a op b`: (a, op, b)."""
    if not is_binary(node):
        return None
    left, operator, right = node.child_by_field_name("left"), node.child_by_field_name("operator"), node.child_by_field_name("right")
    if left is None or operator is None or right is None:
        return None
    return left, operator.text or b"", right


def composite_type(literal: Node) -> Node | None:
    return literal.child_by_field_name("type") if is_composite_literal(literal) else None


def composite_elements(literal: Node) -> list[tuple[Node | None, Node]]:
    """The (key, value) elements of a composite literal (key None when unkeyed)."""
    value = literal.child_by_field_name("value") if is_composite_literal(literal) else None
    if value is None:
        return []
    found: list[tuple[Node | None, Node]] = []
    for element in value.named_children:
        if element.type == "comment":
            continue
        if element.type == "keyed_element":
            key, item = element.child_by_field_name("key"), element.child_by_field_name("element")
            if item is not None:
                found.append((key, item))
        else:
            found.append((None, element))
    return found


def root_identifier(node: Node) -> Node | None:
    """The variable an operand starts from: `s.mu` -> s, `locks[i]` -> locks, `(*p).mu` -> p."""
    node = unparen(node)
    while node.type in ("selector_expression", "index_expression", "unary_expression", "parenthesized_expression"):
        child = node.child_by_field_name("operand")
        if child is None:
            if node.type == "parenthesized_expression" and node.named_child_count == 1:
                child = node.named_children[0]
            else:
                return None
        node = unparen(child)
    return node if node.type == "identifier" else None


def is_value_name(node: Node) -> bool:
    """An identifier that names a value (not the field of a selector, not a label)."""
    return node.type == "identifier"


def identifiers(node: Node) -> Iterator[Node]:
    """Every value identifier under ``node`` (not fields, types, packages or labels)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type == "identifier":
            yield current
            continue
        stack.extend(reversed(current.children))


NAME_KINDS = frozenset({"identifier", "type_identifier", "package_identifier", "field_identifier", "label"})


def names_spelled(node: Node) -> Iterator[Node]:
    """Every name under ``node``: values, fields, types, packages and labels."""
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type in NAME_KINDS:
            yield current
        stack.extend(current.children)


def is_part_of_call_callee(node: Node) -> bool:
    """``node`` (a selector) is the function a call calls: `x.f` in `x.f()`."""
    parent = node.parent
    return parent is not None and is_call(parent) and same_node(callee(parent), node)


# -- types -----------------------------------------------------------------------------


def channel_element(channel_type: Node) -> Node | None:
    return channel_type.child_by_field_name("element") if is_channel_type(channel_type) else None


def channel_direction(channel_type: Node) -> str:
    """"both" for `chan T`, "send" for `chan<- T`, "receive" for `<-chan T`."""
    tokens = [c.type for c in channel_type.children if not c.is_named]
    if tokens[:1] == ["<-"]:
        return "receive"
    if tokens[:2] == ["chan", "<-"]:
        return "send"
    return "both"


def element_type(collection_type: Node) -> Node | None:
    """The element type of a slice, array, map (its values) or channel type."""
    return collection_type.child_by_field_name("element")


def map_key_type(map_type: Node) -> Node | None:
    return map_type.child_by_field_name("key") if map_type.type == "map_type" else None


def is_map_type(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "map_type"


def is_slice_or_array_type(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type in ("slice_type", "array_type", "implicit_length_array_type")


def pointee(pointer_type: Node) -> Node | None:
    children = [c for c in pointer_type.named_children if c.type != "comment"]
    return children[0] if is_pointer_type(pointer_type) and children else None


def unparen_type(node: Node) -> Node:
    while node.type == "parenthesized_type" and node.named_child_count == 1:
        node = node.named_children[0]
    return node


def qualified_parts(node: Node) -> tuple[Node, Node] | None:
    """For `pkg.Name` as a type: (pkg, Name)."""
    if not is_qualified_type(node):
        return None
    package, name = node.child_by_field_name("package"), node.child_by_field_name("name")
    return (package, name) if package is not None and name is not None else None


def base_type_name(type_node: Node | None) -> Node | None:
    """`T`, `*T`, `T[int]`, `pkg.T`: the name node (`T`); None for other types."""
    if type_node is None:
        return None
    node = unparen_type(type_node)
    if is_pointer_type(node):
        inner = pointee(node)
        if inner is None:
            return None
        node = unparen_type(inner)
    if node.type == "generic_type":
        inner = node.child_by_field_name("type")
        if inner is None:
            return None
        node = inner
    if is_qualified_type(node):
        parts = qualified_parts(node)
        return parts[1] if parts is not None else None
    return node if is_type_identifier(node) else None


# -- declarations at package level ---------------------------------------------------


def is_type_declaration(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "type_declaration"


def type_specs(declaration: Node) -> list[Node]:
    """The `Name T` / `Name = T` specs of a type declaration, grouped or not."""
    return [c for c in declaration.named_children if c.type in ("type_definition", "alias_declaration")]


def is_alias_spec(spec: Node) -> bool:
    return spec.type == "alias_declaration"


def type_spec_name(spec: Node) -> Node | None:
    return spec.child_by_field_name("name")


def type_spec_type(spec: Node) -> Node | None:
    return spec.child_by_field_name("type")


def is_import_declaration(node: Node | None) -> TypeGuard[Node]:
    return node is not None and node.type == "import_declaration"


def struct_fields(struct_type: Node) -> list[tuple[list[Node], Node | None, bool]]:
    """The fields of a struct type: (names, type, embedded)."""
    if not is_struct_type(struct_type):
        return []
    found = []
    for field in struct_type.named_children:
        if field.type != "field_declaration":
            continue
        names = list(field.children_by_field_name("name"))
        found.append((names, field.child_by_field_name("type"), not names))
    return found


def top_level_declarations(root: Node) -> list[Node]:
    return [c for c in root.named_children if c.type != "comment"]


def package_clause(root: Node) -> Node | None:
    return next((c for c in root.named_children if c.type == "package_clause"), None)


def package_name(root: Node) -> bytes | None:
    clause = package_clause(root)
    name = clause.child_by_field_name("name") if clause is not None else None
    return name.text if name is not None else None


# -- selectors, writes, expression statements; kind sets for nodeindex ---------------

GO_KINDS = frozenset({"go_statement"})
STRUCT_TYPE_KINDS = frozenset({"struct_type"})


def selector_chain(node: Node) -> Node:
    """The longest selector chain `node.A.B…` that starts at ``node`` (``node`` itself when
    it is not the operand of a selector)."""
    parent = node.parent
    while parent is not None and parent.type == "selector_expression" and parent.child_by_field_name("operand") == node:
        node, parent = parent, parent.parent
    return node


def method_called_on(node: Node) -> Node | None:
    """For `node.M(…)`: the name M; None when ``node`` is not the operand of a called selector."""
    selector = node.parent
    if selector is None or selector.type != "selector_expression" or selector.child_by_field_name("operand") != node:
        return None
    call = selector.parent
    if call is None or call.type != "call_expression" or call.child_by_field_name("function") != selector:
        return None
    return selector.child_by_field_name("field")


def is_write_target(node: Node) -> bool:
    """``node`` is written where it stands: a target of an assignment (`node = …`, `node += …`,
    `a, node = …`), incremented or decremented, or its address taken (`&node`). Parentheses
    around ``node`` are not looked through."""
    parent = node.parent
    if parent is None:
        return False
    if parent.type == "inc_dec_statement" or is_address_of(parent):
        return True
    if parent.type == "expression_list" and parent.parent is not None and parent.parent.type == "assignment":
        return parent.parent.child_by_field_name("left") == parent
    return False


def expression_of(statement: Node) -> Node | None:
    """The expression an expression statement evaluates (the call in `f(x)`), else None."""
    if not is_expression_statement(statement) or not statement.named_children:
        return None
    return statement.named_children[0]


# -- defer/go kind sets; the statements after one ------------------------------------

DEFER_KINDS = frozenset({"defer_statement"})
EXPRESSION_STATEMENT_KINDS = frozenset({"expression_statement"})
GO_AND_DEFER_KINDS = frozenset({"go_statement", "defer_statement"})
# More kind sets for nodeindex: every return statement, block or call of a file.
RETURN_KINDS = frozenset({"return_statement"})
BLOCK_KINDS = frozenset({"block"})
CALL_KINDS = frozenset({"call_expression"})
SELECTOR_KINDS = frozenset({"selector_expression"})
# Where a send (`ch <- v`) or a receive (`<-ch`, a unary expression: is_receive) is written.
CHANNEL_OPERATION_KINDS = frozenset({"send_statement", "unary_expression"})
GOTO_KINDS = frozenset({"goto_statement"})
SELECT_KINDS = frozenset({"select_statement"})


def following_statements(statement: Node) -> list[Node]:
    """The statements after ``statement`` in its block or case clause, comments left out
    (empty when it is the last, or not itself in a statement list, as under a label)."""
    items = sibling_statements(statement)
    if items is None:
        return []
    return items[items.index(statement) + 1 :]


# -- types whose zero value is spelled `nil`; parameter lists ------------------------

_NIL_ZERO_TYPE_KINDS = frozenset({"pointer_type", "slice_type", "map_type", "channel_type", "function_type", "interface_type"})


def zero_is_nil(type_node: Node | None) -> bool:
    """A pointer, slice, map, channel, function or interface type (written out): its zero is nil."""
    return type_node is not None and unparen_type(type_node).type in _NIL_ZERO_TYPE_KINDS


def is_array_type(node: Node | None) -> TypeGuard[Node]:
    """`[N]T` (`[...]T` included)."""
    return node is not None and node.type in ("array_type", "implicit_length_array_type")


def is_parameter_list(node: Node | None) -> TypeGuard[Node]:
    """A `(…)` list of parameters or results (a single unnamed result type is not one)."""
    return node is not None and node.type == "parameters"
