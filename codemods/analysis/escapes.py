"""Escapes: does a use of a variable let its value outlive a region of code?

A region is a node of the function, typically a loop body: a variable declared
in it is a new one each time the region runs, and what it holds is normally
done with when the region ends. A use keeps the value beyond the region when

- it sits in a function literal or a `go` statement inside the region (the
  closure or goroutine may run after the region is left: ``captured_within``);
- or the value itself — the variable, its address `&v`, a field `v.f` (not a
  method call `v.M()`), in parentheses or not — is assigned to a non-blank
  target, passed to `append`, sent on a channel, or put in a composite
  literal (``stores_value``).

As far as the syntax shows: passing the value to another call, returning it
or `:=` declaring another variable from it are not counted.
"""

from __future__ import annotations

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.scope import Declaration, FunctionScopes
from gofix_defer.codemods.analysis.syntax import ancestors


def captured_within(reference: Node, region: Node) -> bool:
    """A function literal or `go` statement inside ``region`` holds ``reference``."""
    for parent in ancestors(reference):
        if parent == region:
            break
        if syntax.is_function_literal(parent) or syntax.is_go(parent):
            return True
    return False


def stores_value(source, reference: Node) -> bool:
    """The value ``reference`` names (or its address, or a field of it) is kept where the
    use stands: assigned, appended, sent on a channel, put in a composite literal."""
    node = reference
    parent = node.parent
    while parent is not None and (
        syntax.is_parenthesized(parent)
        or syntax.is_address_of(parent)
        or (syntax.is_selector(parent) and not syntax.is_part_of_call_callee(parent))  # a field: `ch = timer.C`
    ):
        node, parent = parent, parent.parent
    if parent is None:
        return False
    if syntax.is_send(parent):
        return syntax.send_value(parent) == node
    if syntax.is_keyed_element(parent) or syntax.is_literal_value(parent):
        return True
    if syntax.is_arguments(parent):
        return parent.parent is not None and syntax.call_name(parent.parent, source.data) == b"append"
    if syntax.is_expression_list(parent):
        holder = parent.parent
        if holder is None or not syntax.is_assignment(holder) or syntax.right_node(holder) != parent:
            return False
        return any(source.text(target) != b"_" for target in syntax.left_side(holder))  # `_ = f` keeps nothing
    return False


def outlives(source, reference: Node, region: Node) -> bool:
    """This use of a variable keeps its value beyond ``region`` (see the module doc)."""
    return captured_within(reference, region) or stores_value(source, reference)


def escaping_reference(source, scopes: FunctionScopes, declaration: Declaration, region: Node, besides: Node | None = None) -> Node | None:
    """The first reference to ``declaration`` in ``region`` (outside ``besides``) through
    which its value outlives ``region``; None when there is none."""
    for reference in scopes.references(declaration, within=region):
        if besides is not None and syntax.is_inside(reference, besides):
            continue
        if outlives(source, reference, region):
            return reference
    return None


def assigned_from(reference: Node) -> list[Node]:
    """The targets of the `:=`, `=` or var spec whose value holds ``reference`` (not through a
    function literal): `req` in `req = req.WithContext(ctx)` for ``ctx``."""
    node: Node | None = reference
    while node is not None and not syntax.is_function_literal(node) and not syntax.is_statement(node):
        statement = syntax.listing_statement(node)
        if statement is not None and any(syntax.same_node(node, value) for value in syntax.right_side(statement)):
            return syntax.left_side(statement)
        items = node.parent
        spec = items.parent if items is not None and syntax.is_expression_list(items) else None
        if spec is not None and syntax.is_var_spec(spec) and any(syntax.same_node(node, v) for v in syntax.var_spec_values(spec)):
            return syntax.var_spec_names(spec)
        node = node.parent
    return []
