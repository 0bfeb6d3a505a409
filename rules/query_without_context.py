"""query-without-context: a goroutine runs a database/sql query without the context in scope."""

from __future__ import annotations

from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis.imports import imported_name
from gofix_defer.codemods.analysis.nodeindex import outermost_functions
from gofix_defer.codemods.analysis.scope import Declaration, FunctionScopes
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import called_function_literal, expression_list_items, is_inside, selector_call, unparen, walk
from gofix_defer.codemods.model import Applicability, Diagnostic, Edit, Fix, Rule

# The methods this rule rewrites, and their context-taking variants. The
# same names exist on *sql.DB, *sql.Tx and *sql.Stmt (and *sql.Conn has only
# the Context forms), each taking the context as a new first argument.
_METHODS = {b"Query": b"QueryContext", b"QueryRow": b"QueryRowContext", b"Exec": b"ExecContext"}
_SQL_TYPES = (b"DB", b"Tx", b"Stmt", b"Conn")
# Methods of sql values that return another sql value (at result index 0).
_SQL_RESULTS = frozenset({b"Begin", b"BeginTx", b"Prepare", b"PrepareContext", b"Conn", b"Stmt", b"StmtContext"})
# Functions of package context whose first result is a context.Context.
_CONTEXT_CONSTRUCTORS = frozenset(
    {
        b"Background",
        b"TODO",
        b"WithCancel",
        b"WithCancelCause",
        b"WithDeadline",
        b"WithDeadlineCause",
        b"WithTimeout",
        b"WithTimeoutCause",
        b"WithValue",
        b"WithoutCancel",
    }
)


class QueryWithoutContext(Rule):
    """
    ## What it does
    Finds `Query`, `QueryRow` and `Exec` calls on a `database/sql` value
    (`*sql.DB`, `*sql.Tx`, `*sql.Stmt`) inside a goroutine's function
    literal (`go func() { … }()`), while a `context.Context` is in scope at
    the call.

    The receiver must be known to be a `database/sql` value from the file
    itself: a variable, parameter or struct field whose stated type is
    `*sql.DB`, `*sql.Tx`, `*sql.Stmt` or `*sql.Conn`, or a variable set from
    `sql.Open`, `sql.OpenDB`, or `Begin`/`BeginTx`/`Prepare`/… on such a
    value. A context is in scope when a visible variable or parameter has
    the stated type `context.Context`, or was set from `context.Background()`,
    `context.TODO()`, `context.WithCancel(…)` and the other `context.With…`
    functions, or from `r.Context()` on an `*http.Request`.

    Left alone: calls that already take a context (`QueryContext`, …),
    files that do not import `database/sql`, calls outside goroutines
    (the caller's own code decides there), and receivers of unknown type.

    ## Why is this bad
    The plain methods run with `context.Background()`: nothing can cancel
    them. A query stuck on a lock, a slow replica or a dead connection keeps
    the goroutine — and the connection it holds from the pool — forever,
    even after the request or job that started it has been cancelled.

    ## Example
    ```go
    func record(ctx context.Context, db *sql.DB, event string) {
        go func() {
            db.Exec("INSERT INTO events VALUES (?)", event)
        }()
    }
    ```

    ## Fix
    Call the context-taking variant with the context in scope (the innermost
    one when there are several):
    ```go
    func record(ctx context.Context, db *sql.DB, event string) {
        go func() {
            db.ExecContext(ctx, "INSERT INTO events VALUES (?)", event)
        }()
    }
    ```
    When no context is in scope the call is reported without a fix.

    ## Fix safety
    Safe: the query now stops when the context is cancelled, which is what
    the context is for. Unsafe when the context's cancel function is
    deferred by the function that starts the goroutine: the query would then
    be cancelled as soon as that function returns, while the goroutine may
    still be running it.
    """

    name = "query-without-context"
    summary = "database/sql query in a goroutine ignores the context in scope"
    fix_availability = "sometimes"
    applicability = Applicability.SAFE
    triggers = (b"database/sql",)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        sql = imported_name(source, b"database/sql")
        if sql is None:
            return
        names = _Names(sql, imported_name(source, b"context"), imported_name(source, b"net/http"))
        for function in outermost_functions(source):
            goroutines = [n for n in walk(function) if n.type == "go_statement" and called_function_literal(n) is not None]
            if not goroutines:
                continue
            scopes = source.scopes(function)
            seen: set[tuple[int, int]] = set()
            for statement in goroutines:
                literal = called_function_literal(statement)
                for call in walk(literal):
                    key = (call.start_byte, call.end_byte)
                    if call.type != "call_expression" or key in seen:
                        continue
                    seen.add(key)  # a call in nested goroutines is reported once
                    yield from self._check_call(source, scopes, names, call, literal)

    def _check_call(self, source: SourceFile, scopes: FunctionScopes, names: "_Names", call: Node, literal: Node) -> Iterator[Diagnostic]:
        selector = call.child_by_field_name("function")
        arguments = call.child_by_field_name("arguments")
        if selector is None or selector.type != "selector_expression" or arguments is None:
            return
        method_node = selector.child_by_field_name("field")
        receiver = selector.child_by_field_name("operand")
        if method_node is None or receiver is None:
            return
        method = source.text(method_node)
        if method not in _METHODS or not _is_sql_value(source, scopes, names, receiver, 0):
            return
        call_text = f"{source.text(receiver).decode()}.{method.decode()}"
        context_decl = _context_in_scope(source, scopes, names, call)
        if context_decl is None:
            yield self.diagnostic(
                call,
                f"{call_text} in a goroutine runs without a context: nothing can cancel it "
                f"(no fix: no context.Context in scope; use {_METHODS[method].decode()})",
            )
            return
        context_name = context_decl.name
        args = [a for a in arguments.named_children if a.type != "comment"]
        if args:
            argument_edit = Edit.insert(args[0].start_byte, context_name + b", ")
        else:
            argument_edit = Edit(arguments.start_byte + 1, arguments.end_byte - 1, context_name)
        edits = (Edit(method_node.start_byte, method_node.end_byte, _METHODS[method]), argument_edit)
        applicability = Applicability.SAFE
        title = f"Use {_METHODS[method].decode()} with {context_name.decode()}"
        if _cancel_deferred_outside(source, scopes, context_decl, literal):
            applicability = Applicability.UNSAFE
            title += " (cancelled when the starting function returns)"
        yield self.diagnostic(
            call,
            f"{call_text} in a goroutine ignores the context {context_name.decode()} in scope: the query cannot be cancelled",
            Fix(title, edits, applicability),
        )


RULE = QueryWithoutContext()


class _Names:
    """How this file spells the packages the rule recognises."""

    def __init__(self, sql: bytes, context: bytes | None, http: bytes | None):
        self.sql = sql
        self.context = context
        self.http = http
        self.sql_types = {b"*" + sql + b"." + t for t in _SQL_TYPES}


def _spelled(source: SourceFile, node: Node | None) -> bytes:
    return b"".join(source.text(node).split()) if node is not None else b""


def _initialiser(decl: Declaration) -> tuple[Node | None, int]:
    """The expression a variable was set from and which of its results it took."""
    if decl.value is not None:
        return decl.value, 0
    statement = decl.statement
    if statement.type in ("short_var_declaration", "var_spec"):
        right = expression_list_items(statement.child_by_field_name("right") or statement.child_by_field_name("value"))
        if len(right) == 1:
            return right[0], decl.index
    return None, 0


# -- is this a database/sql value? -------------------------------------------
def _is_sql_value(source: SourceFile, scopes: FunctionScopes, names: _Names, node: Node, depth: int) -> bool:
    node = unparen(node)
    if depth > 4:
        return False
    if node.type == "identifier":
        decl = scopes.resolve(node)
        if decl is None:
            return _package_var_is_sql(source, names, source.text(node))
        if _spelled(source, decl.type_node) in names.sql_types:
            return True
        value, index = _initialiser(decl)
        return value is not None and index == 0 and _returns_sql_value(source, scopes, names, value, depth + 1)
    if node.type == "selector_expression":
        field = node.child_by_field_name("field")
        return field is not None and _struct_field_is_sql(source, names, source.text(field))
    return False


def _returns_sql_value(source: SourceFile, scopes: FunctionScopes, names: _Names, value: Node, depth: int) -> bool:
    parts = selector_call(value)
    if parts is None:
        return False
    operand, field, _ = parts
    if source.text(operand) == names.sql and scopes.resolve(operand) is None:
        return source.text(field) in (b"Open", b"OpenDB")
    return source.text(field) in _SQL_RESULTS and _is_sql_value(source, scopes, names, operand, depth)


def _package_var_is_sql(source: SourceFile, names: _Names, name: bytes) -> bool:
    for declaration in source.root.named_children:
        if declaration.type != "var_declaration":
            continue
        for spec in walk(declaration):
            if spec.type == "var_spec" and any(source.text(n) == name for n in spec.children_by_field_name("name")):
                return _spelled(source, spec.child_by_field_name("type")) in names.sql_types
    return False


def _struct_field_is_sql(source: SourceFile, names: _Names, field: bytes) -> bool:
    """True when every struct field of that name in the file has a database/sql type."""
    found = False
    for node in walk(source.root):
        if node.type != "field_declaration":
            continue
        if not any(source.text(n) == field for n in node.children_by_field_name("name")):
            continue
        if _spelled(source, node.child_by_field_name("type")) not in names.sql_types:
            return False
        found = True
    return found


# -- is a context in scope? ----------------------------------------------------
def _context_in_scope(source: SourceFile, scopes: FunctionScopes, names: _Names, call: Node) -> Declaration | None:
    """The innermost visible variable known to hold a context.Context at ``call``."""
    visible: dict[bytes, Declaration] = {}
    for decl in scopes.declarations():
        if decl.kind == "type" or decl.visible_from > call.start_byte or not is_inside(call, decl.scope):
            continue
        current = visible.get(decl.name)
        if current is None or _deeper(decl, current):
            visible[decl.name] = decl  # the one that shadows the others here
    contexts = [d for d in visible.values() if _is_context(source, scopes, names, d)]
    if not contexts:
        return None
    return max(contexts, key=lambda d: (d.scope.start_byte, d.visible_from, -d.scope.end_byte))


def _deeper(decl: Declaration, other: Declaration) -> bool:
    if decl.scope == other.scope:
        return decl.visible_from > other.visible_from
    return is_inside(decl.scope, other.scope)


def _is_context(source: SourceFile, scopes: FunctionScopes, names: _Names, decl: Declaration) -> bool:
    if names.context is not None and _spelled(source, decl.type_node) == names.context + b".Context":
        return True
    if decl.type_node is not None:
        return False
    value, index = _initialiser(decl)
    if value is None or index != 0:
        return False
    parts = selector_call(value)
    if parts is None or parts[0].type != "identifier":
        return False
    operand, field, _ = parts
    if names.context is not None and source.text(operand) == names.context and scopes.resolve(operand) is None:
        return source.text(field) in _CONTEXT_CONSTRUCTORS
    if source.text(field) == b"Context" and names.http is not None:
        request = scopes.resolve(operand)
        return request is not None and _spelled(source, request.type_node) == b"*" + names.http + b".Request"
    return False


def _cancel_deferred_outside(source: SourceFile, scopes: FunctionScopes, context_decl: Declaration, literal: Node) -> bool:
    """True when `ctx, cancel := context.With…(…)` is followed by `defer cancel()` outside the goroutine."""
    statement = context_decl.statement
    if statement.type != "short_var_declaration" or context_decl.index != 0:
        return False
    left = expression_list_items(statement.child_by_field_name("left"))
    if len(left) < 2 or left[1].type != "identifier":
        return False
    cancel = scopes.resolve(left[1])
    if cancel is None:
        return False
    for ref in scopes.references(cancel):
        if is_inside(ref, literal):
            continue
        call = ref.parent
        if call is not None and call.type == "call_expression" and call.parent is not None and call.parent.type == "defer_statement":
            return True
    return False

