"""How one use of a variable touches it: read, written, its address taken, a method
called on it. As far as the syntax shows (no types): a method call may change its
receiver, passing a value to a call may change what it points to.

Two questions, for two kinds of caller:

- ``access(reference)``: what the use does to the variable itself, looking
  through the paths that still mean the variable (`v.f`, `v[i]`, `v[a:b]`, `(v)`):
  ``Access.WRITE`` (`v = …`, `v.f = …`, `v++`, a `:=`/range/receive target),
  ``Access.ADDRESS`` (`&v`, `&v.f`), ``Access.METHOD`` (`v.M(…)`), else
  ``Access.READ``. A variable as an index or slice bound (`a[v]`) is a read.
- ``may_write(source, reference)``: may the use write the variable or what it
  reaches (`*p = …`, `p.f++`, `&v`, `v.M()`, `f(v)` other than `len`/`cap`)?
"""

from __future__ import annotations

import enum

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax


class Access(str, enum.Enum):
    READ = "read"
    WRITE = "write"
    ADDRESS = "address"
    METHOD = "method"


def _is_path_step(parent: Node) -> bool:
    """A selector, index, slice or parenthesised expression: `v.f`, `v[i]`, `v[a:b]`, `(v)`."""
    return syntax.is_selector(parent) or syntax.is_index(parent) or syntax.is_slice_expression(parent) or syntax.is_parenthesized(parent)


def access(reference: Node) -> Access:
    """What this use of a variable (an identifier) does to the variable."""
    node = reference
    parent = node.parent
    while parent is not None and _is_path_step(parent):
        if syntax.is_selector(parent):
            if syntax.operand(parent) != node:
                return Access.READ
            if syntax.is_part_of_call_callee(parent):
                return Access.METHOD
        elif syntax.is_index(parent) or syntax.is_slice_expression(parent):
            if syntax.operand(parent) != node:
                return Access.READ
        node, parent = parent, parent.parent
    if parent is None:
        return Access.READ
    if syntax.is_address_of(parent):
        return Access.ADDRESS
    if syntax.is_inc_dec(parent):
        return Access.WRITE
    if syntax.is_expression_list(parent):
        holder = parent.parent
        if holder is not None and _has_targets(holder) and syntax.left_node(holder) == parent:
            return Access.WRITE
    return Access.READ


def _has_targets(statement: Node) -> bool:
    """An assignment, short variable declaration, range clause or receive statement."""
    return (
        syntax.is_assignment(statement)
        or syntax.is_short_var_declaration(statement)
        or syntax.is_range_clause(statement)
        or syntax.is_receive_statement(statement)
    )


def may_write(source, reference: Node) -> bool:
    """Is ``reference`` (an identifier) written, or may it be written through, where it stands?

    Follows `v.f`, `v[i]`, `v[a:b]`, `(v)` and `*v` outwards; then an assignment or `:=`
    target, `++`/`--`, `&…`, a method call, an argument of a call other than `len`/`cap`,
    and a range target write; anything else reads. A node with no parent is taken as
    written (nothing is known).
    """
    node = reference
    while node.parent is not None and _is_write_path_step(node.parent, node):
        node = node.parent
    parent = node.parent
    if parent is None:
        return True
    if syntax.is_inc_dec(parent):
        return True
    if syntax.is_assignment(parent) or syntax.is_short_var_declaration(parent):
        return _in_left(parent, node)
    if syntax.is_expression_list(parent) and (syntax.is_assignment(parent.parent) or syntax.is_short_var_declaration(parent.parent)):
        return _in_left(parent.parent, node)
    if syntax.is_address_of(parent):
        return True
    if syntax.is_call(parent) and syntax.callee(parent) == node:
        return syntax.is_selector(node)  # a method call may change its receiver
    if syntax.is_arguments(parent) and parent.parent is not None:
        return syntax.call_name(parent.parent, source.data) not in (b"len", b"cap")
    if syntax.is_range_clause(parent):
        return _in_left(parent, node)
    return False


def _is_write_path_step(parent: Node, node: Node) -> bool:
    """`node.f`, `node[i]`, `node[a:b]` (``node`` the operand), `(node)` or `*node`."""
    if syntax.is_selector(parent) or syntax.is_index(parent) or syntax.is_slice_expression(parent):
        return syntax.operand(parent) == node
    return syntax.is_parenthesized(parent) or syntax.is_unary(parent, b"*")


def _in_left(statement: Node, node: Node) -> bool:
    left = syntax.left_node(statement)
    return left is not None and syntax.is_inside(node, left)
