"""Does a function wait for the goroutines it starts before it returns?

As far as the syntax shows: a *wait* is a `Wait()` method call (`sync.WaitGroup`,
errgroup), a receive (`<-done`, `v := <-ch`) or a `select`; a call of a function
literal the function binds to a name (`wait := func() { wg.Wait() }`) waits when
its body does. A wait counts where it runs: a deferred one (`defer wg.Wait()`,
`defer wait()`, `defer func() { <-done }()`) when the function returns, any other
after the statements before it.

Two answers, for two kinds of caller:

- ``waits_after(source, scopes, statement)``: some wait runs after ``statement``
  on some path (a deferred wait anywhere in the function, or a wait after it):
  the lenient reading, for a report that must not fire when a wait exists.
- ``waits_on_every_path(source, scopes, statement)``: every way out of the
  function after ``statement`` waits first: a deferred wait registered before
  ``statement`` at the top level of the function body, or one after it in a
  block that holds ``statement`` with no `return` in between; the strict
  reading, for a fix that is only right when the goroutine has finished.
"""

from __future__ import annotations

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.scope import FunctionScopes, initialiser
from gofix_defer.codemods.analysis.source import SourceFile


def _is_wait_node(source: SourceFile, node: Node) -> bool:
    if syntax.is_select(node) or syntax.is_receive(node):
        return True
    parts = syntax.selector_call(node) if syntax.is_call(node) else None
    return parts is not None and source.text(parts[1]) == b"Wait" and not syntax.call_arguments(parts[2])


def _literal_of_name(scopes: FunctionScopes, call: Node) -> Node | None:
    """For `wait()`, the function literal bound to `wait` in this function."""
    function = syntax.callee(call)
    function = syntax.unparen(function) if function is not None else None
    if not syntax.is_identifier(function):
        return None
    decl = scopes.resolve(function)
    value = initialiser(decl)[0] if decl is not None else None
    value = syntax.unparen(value) if value is not None else None
    return value if syntax.is_function_literal(value) else None


def contains_wait(source: SourceFile, scopes: FunctionScopes, node: Node, depth: int = 0) -> bool:
    """A wait in ``node``'s own code (nested literals left out), or a call of a bound literal that waits."""
    for inner in syntax.walk_no_funcs(node):
        if _is_wait_node(source, inner):
            return True
        if depth < 3 and syntax.is_call(inner):
            literal = _literal_of_name(scopes, inner)
            if literal is not None and contains_wait(source, scopes, syntax.function_body(literal) or literal, depth + 1):
                return True
    return False


def _deferred_wait(source: SourceFile, scopes: FunctionScopes, defer: Node) -> bool:
    literal = syntax.called_function_literal(defer)
    if literal is not None:
        body = syntax.function_body(literal)
        return body is not None and contains_wait(source, scopes, body)
    call = syntax.call_of(defer)
    return call is not None and contains_wait(source, scopes, call)


def waits_after(source: SourceFile, scopes: FunctionScopes, statement: Node) -> bool:
    """Some wait of the function holding ``statement`` runs after it (see the module doc)."""
    body = syntax.function_body(syntax.enclosing_function(statement))
    if body is None:
        return False
    for node in syntax.walk_no_funcs(body):
        if syntax.is_defer(node) and _deferred_wait(source, scopes, node):
            return True
        if node.start_byte < statement.end_byte:
            continue
        if _is_wait_node(source, node):
            return True
        if syntax.is_call(node):
            literal = _literal_of_name(scopes, node)
            if literal is not None and contains_wait(source, scopes, syntax.function_body(literal) or literal):
                return True
    return False


def waits_on_every_path(source: SourceFile, scopes: FunctionScopes, statement: Node, not_before: Node | None = None) -> bool:
    """Every way out of the function after ``statement`` waits first (see the module doc).

    With ``not_before``, a deferred wait counts only when registered after it (a
    `defer cancel()` registered later runs first, before the wait)."""
    function = syntax.enclosing_function(statement)
    body = syntax.function_body(function)
    if body is None:
        return False
    for top in syntax.statements(body):
        if top.start_byte >= statement.start_byte:
            break
        if syntax.is_defer(top) and _deferred_wait(source, scopes, top):
            if not_before is None or top.start_byte > not_before.end_byte:
                return True
    node = statement
    while node != body:
        holder = node.parent
        if holder is None:
            return False
        for following in syntax.following_statements(node):
            if syntax.is_defer(following):
                continue  # runs at return: after the cancels registered before it
            first_return = next((n.start_byte for n in syntax.walk_no_funcs(following) if syntax.is_return(n)), None)
            first_wait = _first_wait(source, scopes, following)
            if first_wait is not None and (first_return is None or first_wait < first_return or syntax.is_return(following)):
                return True
            if first_return is not None:
                return False
        node = holder
        while node != body and not syntax.holds_statements(node.parent):
            if node.parent is None:
                return False
            node = node.parent
    return False


def _first_wait(source: SourceFile, scopes: FunctionScopes, statement: Node) -> int | None:
    """Where the first wait of ``statement`` starts (None: it does not wait)."""
    for inner in syntax.walk_no_funcs(statement):
        if _is_wait_node(source, inner):
            return inner.start_byte
        if syntax.is_call(inner):
            literal = _literal_of_name(scopes, inner)
            if literal is not None and contains_wait(source, scopes, syntax.function_body(literal) or literal):
                return inner.start_byte
    return None
