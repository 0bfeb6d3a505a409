"""Small helpers over tree-sitter nodes, shared by all rules."""

from __future__ import annotations

from typing import Iterator

from tree_sitter import Node

FUNCTION_TYPES = frozenset({"function_declaration", "method_declaration", "func_literal"})
LOOP_TYPES = frozenset({"for_statement"})


def walk(node: Node) -> Iterator[Node]:
    """All descendants of ``node`` (itself included) in document order."""
    cursor = node.walk()
    visited_children = False
    while True:
        if not visited_children:
            yield cursor.node
            if cursor.goto_first_child():
                continue
        if cursor.goto_next_sibling():
            visited_children = False
            continue
        if not cursor.goto_parent() or cursor.node == node:
            return
        visited_children = True


def walk_no_funcs(node: Node) -> Iterator[Node]:
    """Descendants of ``node`` in document order, not entering nested func literals."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        children = current.children
        stack.extend(reversed([c for c in children if c.type != "func_literal"]))


def ancestors(node: Node) -> Iterator[Node]:
    current = node.parent
    while current is not None:
        yield current
        current = current.parent


def enclosing_function(node: Node) -> Node | None:
    for parent in ancestors(node):
        if parent.type in FUNCTION_TYPES:
            return parent
    return None


def is_inside(node: Node, container: Node) -> bool:
    return container.start_byte <= node.start_byte and node.end_byte <= container.end_byte


def statements(block: Node) -> list[Node]:
    """The statements of a block or case clause (tree-sitter-go wraps them in statement_list)."""
    for child in block.named_children:
        if child.type == "statement_list":
            return [c for c in child.named_children if c.type != "comment"]
    return [c for c in block.named_children if c.type not in ("comment",) and c.is_named and c.type.endswith(("statement", "declaration"))]


def body_statements(function: Node) -> list[Node]:
    body = function.child_by_field_name("body")
    return statements(body) if body is not None else []


def unparen(node: Node) -> Node:
    while node.type == "parenthesized_expression" and node.named_child_count == 1:
        node = node.named_children[0]
    return node


def call_name(call: Node, data: bytes) -> bytes:
    """The callee text of a call_expression: b"fmt.Println", b"close", ..."""
    function = call.child_by_field_name("function")
    if function is None:
        return b""
    return data[function.start_byte : function.end_byte]


def called_func_literal(node: Node) -> Node | None:
    """For `defer func(){…}()` / `go func(){…}()`: the func_literal being called."""
    call = next((c for c in node.named_children if c.type == "call_expression"), None)
    if call is None:
        return None
    function = call.child_by_field_name("function")
    if function is None:
        return None
    function = unparen(function)
    return function if function.type == "func_literal" else None


def deferred_or_go_call(node: Node) -> Node | None:
    """The call_expression of a go/defer statement."""
    return next((c for c in node.named_children if c.type == "call_expression"), None)


def expression_list_items(node: Node | None) -> list[Node]:
    if node is None:
        return []
    if node.type == "expression_list":
        return [c for c in node.named_children if c.type != "comment"]
    return [node]


def sibling_statements(statement: Node) -> list[Node] | None:
    """The statements of the block or case clause holding ``statement`` (None if it is not a statement of one)."""
    block = statement.parent
    if block is not None and block.type == "statement_list":
        block = block.parent
    if block is None:
        return None
    items = statements(block)
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


def selector_call(node: Node | None) -> tuple[Node, Node, Node] | None:
    """For a call `operand.field(args)` (parentheses around it allowed):
    (operand, field, call). None for any other node."""
    if node is None:
        return None
    node = unparen(node)
    if node.type != "call_expression":
        return None
    function = node.child_by_field_name("function")
    if function is None or function.type != "selector_expression":
        return None
    operand = function.child_by_field_name("operand")
    field = function.child_by_field_name("field")
    if operand is None or field is None:
        return None
    return operand, field, node
