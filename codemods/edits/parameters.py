"""Giving a func literal that is called in place new parameters and arguments.

`go func(a int) {…}(x)` becomes `go func(a int, v T) {…}(x, v)`. Shared by the
rules that pass values into a closure instead of letting it read them later
(loop-var-capture, request-escape).
"""

from __future__ import annotations

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.edits.argument_layout import respaced_text
from gofix_defer.codemods.model import Edit


def add_parameters(literal: Node, parameters: list[tuple[bytes, bytes]], arguments: list[bytes]) -> list[Edit] | None:
    """Edits adding ``name type`` parameters to ``literal`` and the matching ``arguments`` to its call.

    New parameters go last, or first when the literal ends with a variadic
    parameter (nothing may follow it; the arguments then go first too, which
    also keeps a spread call `f(xs...)` valid). None when no clean edit exists:
    the literal is not called in place, or it has unnamed parameters (named
    and unnamed ones cannot be mixed).
    """
    plist = syntax.parameter_list(literal)
    call = syntax.called_in_place(literal)
    args_node = syntax.call_arguments_node(call) if call is not None else None
    if plist is None or call is None or args_node is None:
        return None
    declared = syntax.parameters_of(plist)
    if any(not p.names for p in declared):
        return None
    variadic_last = bool(declared) and declared[-1].variadic
    if syntax.is_spread_call(call) and not variadic_last:
        return None
    new_params = b", ".join(name + b" " + type_text for name, type_text in parameters)
    new_args = b", ".join(arguments)
    current = syntax.call_arguments(call)
    edits = []
    if not declared:
        edits.append(Edit(plist.start_byte + 1, plist.end_byte - 1, new_params))
    elif variadic_last:
        edits.append(Edit.insert(declared[0].declaration.start_byte, new_params + b", "))
    else:
        edits.append(Edit.insert(declared[-1].declaration.end_byte, b", " + new_params))
    if not current:
        edits.append(Edit(args_node.start_byte + 1, args_node.end_byte - 1, new_args))
        return edits
    only = current[0]
    old_text = only.text or b""
    if len(current) == 1:
        # The call's only argument becomes one of several: gofmt re-spaces it.
        respaced = respaced_text(_file_bytes(only), only)
        if respaced is None:
            return None
        old_text = respaced
    if variadic_last:
        edits.append(Edit(only.start_byte, only.end_byte, new_args + b", " + old_text))
    elif len(current) == 1:
        edits.append(Edit(only.start_byte, only.end_byte, old_text + b", " + new_args))
    else:
        edits.append(Edit.insert(current[-1].end_byte, b", " + new_args))
    return edits


def _file_bytes(node: Node) -> bytes:
    root = node
    while root.parent is not None:
        root = root.parent
    return root.text or b""
