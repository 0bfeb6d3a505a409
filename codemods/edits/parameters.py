"""Giving a func literal that is called in place new parameters and arguments.

`go func(a int) {…}(x)` becomes `go func(a int, v T) {…}(x, v)`. Shared by the
rules that pass values into a closure instead of letting it read them later
(loop-var-capture, request-escape).
"""

from __future__ import annotations

from tree_sitter import Node

from gofix_defer.codemods.model import Edit


def called_in_place(literal: Node) -> Node | None:
    """The call_expression that calls ``literal`` right where it stands, or None."""
    call = literal.parent
    while call is not None and call.type == "parenthesized_expression":
        call = call.parent
    if call is None or call.type != "call_expression":
        return None
    return call


def add_parameters(literal: Node, parameters: list[tuple[bytes, bytes]], arguments: list[bytes]) -> list[Edit] | None:
    """Edits adding ``name type`` parameters to ``literal`` and the matching ``arguments`` to its call.

    New parameters go last, or first when the literal ends with a variadic
    parameter (nothing may follow it; the arguments then go first too, which
    also keeps a spread call `f(xs...)` valid). None when no clean edit exists:
    the literal is not called in place, or it has unnamed parameters (named
    and unnamed ones cannot be mixed).
    """
    plist = literal.child_by_field_name("parameters")
    call = called_in_place(literal)
    args_node = call.child_by_field_name("arguments") if call is not None else None
    if plist is None or args_node is None:
        return None
    declared = [p for p in plist.named_children if p.type in ("parameter_declaration", "variadic_parameter_declaration")]
    if any(p.child_by_field_name("name") is None for p in declared):
        return None
    variadic_last = bool(declared) and declared[-1].type == "variadic_parameter_declaration"
    spread_call = any(c.type == "..." for c in args_node.children)
    if spread_call and not variadic_last:
        return None
    new_params = b", ".join(name + b" " + type_text for name, type_text in parameters)
    new_args = b", ".join(arguments)
    current = [a for a in args_node.named_children if a.type != "comment"]
    edits = []
    if not declared:
        edits.append(Edit(plist.start_byte + 1, plist.end_byte - 1, new_params))
    elif variadic_last:
        edits.append(Edit.insert(declared[0].start_byte, new_params + b", "))
    else:
        edits.append(Edit.insert(declared[-1].end_byte, b", " + new_params))
    if not current:
        edits.append(Edit(args_node.start_byte + 1, args_node.end_byte - 1, new_args))
    elif variadic_last:
        edits.append(Edit.insert(current[0].start_byte, new_args + b", "))
    else:
        edits.append(Edit.insert(current[-1].end_byte, b", " + new_args))
    return edits
