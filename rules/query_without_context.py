"""query-without-context: a goroutine runs a database/sql query without the context in scope."""

from __future__ import annotations

from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.imports import imported_name
from gofix_defer.codemods.analysis.index import Declarations, ValueKind, value_kind
from gofix_defer.codemods.analysis.nodeindex import descendants_of_types, outermost_functions
from gofix_defer.codemods.analysis.scope import Declaration, FunctionScopes, Scopes, initialiser, visible_declarations
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import is_inside
from gofix_defer.codemods.analysis.waits import waits_on_every_path
from gofix_defer.codemods.edits.argument_layout import respaced_text
from gofix_defer.codemods.edits.imports import add_import
from gofix_defer.codemods.model import Applicability, Diagnostic, Edit, Fix, NoFix, Rule

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

    When the context ends with the function that starts the goroutine (the
    handler's `r.Context()`, which the server cancels once the handler
    returns, or a context whose `cancel` that function defers) and nothing
    waits for the goroutine, passing it would cancel the query the moment
    the function returns: a fire-and-forget write that always landed would
    then never land. The fix passes `context.WithoutCancel(ctx)` instead
    (Go 1.21 on): the context's values (trace IDs, deadlines set inside the
    goroutine) without its cancellation. Before Go 1.21 such a call is
    reported without a fix.

    ## Fix safety
    Safe: the query now stops when the context is cancelled, which is what
    the context is for, and a context that ends before the goroutine does
    is detached with `context.WithoutCancel`, so no query is cancelled that
    ran to completion before. `fixtures/query-without-context/outlives_request`
    runs 25 such writes before and after the fix: all 25 land both times.
    """

    name = "query-without-context"
    summary = "database/sql query in a goroutine ignores the context in scope"
    fix_availability = "sometimes"
    applicability = Applicability.SAFE
    triggers = (b"database/sql",)
    requires = (Scopes, Declarations)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        sql = imported_name(source, b"database/sql")
        if sql is None:
            return
        names = _Names(source, sql, imported_name(source, b"context"), imported_name(source, b"net/http"))
        for function in outermost_functions(source):
            started = [syntax.called_function_literal(n) for n in descendants_of_types(source, function, syntax.GO_KINDS)]
            literals = [literal for literal in started if literal is not None]
            if not literals:
                continue
            scopes = source.scopes(function)
            seen: set[tuple[int, int]] = set()
            for literal in literals:
                for call in syntax.walk(literal):
                    key = (call.start_byte, call.end_byte)
                    if not syntax.is_call(call) or key in seen:
                        continue
                    seen.add(key)  # a call in nested goroutines is reported once
                    yield from self._check_call(source, scopes, names, call, literal)

    def _check_call(self, source: SourceFile, scopes: FunctionScopes, names: "_Names", call: Node, literal: Node) -> Iterator[Diagnostic]:
        parts = syntax.selector_parts(syntax.callee(call))
        arguments = syntax.call_arguments_node(call)
        if parts is None or arguments is None:
            return
        receiver, method_node = parts
        method = source.text(method_node)
        if method not in _METHODS or not _is_sql_value(source, scopes, names, receiver, 0):
            return
        call_text = f"{source.text(receiver).decode()}.{method.decode()}"
        context_decl = _context_in_scope(source, scopes, names, call)
        if context_decl is None:
            message = f"{call_text} in a goroutine runs without a context: nothing can cancel it"
            yield self.diagnostic(call, NoFix(f"no context.Context in scope; use {_METHODS[method].decode()}").annotate(message))
            return
        ending = _ends_with_starter(source, scopes, names, context_decl, literal)
        if ending is None or _starter_waits(source, scopes, context_decl, literal):
            message = f"{call_text} in a goroutine ignores the context {context_decl.name.decode()} in scope: the query cannot be cancelled"
            fix = _context_fix(source, scopes, call, arguments, method_node, context_decl, literal)
            yield self.diagnostic(call, fix.annotate(message)) if isinstance(fix, NoFix) else self.diagnostic(call, message, fix)
            return
        name = context_decl.name.decode()
        message = (
            f"{call_text} in a goroutine runs without a context; the context {name} in scope is cancelled {ending}, "
            "while the goroutine may still run"
        )
        fix = _detached_fix(source, call, arguments, method_node, context_decl)
        if isinstance(fix, NoFix):
            yield self.diagnostic(call, fix.annotate(message))
        else:
            yield self.diagnostic(call, message + f" (the fix passes context.WithoutCancel({name}): its values, not its cancellation)", fix)


RULE = QueryWithoutContext()


class _Names:
    """How this file spells the packages the rule recognises, and what it declares at its top level."""

    def __init__(self, source: SourceFile, sql: bytes, context: bytes | None, http: bytes | None):
        self.sql = sql
        self.context = context
        self.http = http
        self.sql_types = {b"*" + sql + b"." + t for t in _SQL_TYPES}
        self.declarations = source.facts(Declarations)


def _spelled(source: SourceFile, node: Node | None) -> bytes:
    return b"".join(source.text(node).split()) if node is not None else b""


# -- the fix -------------------------------------------------------------------
def _context_fix(
    source: SourceFile, scopes: FunctionScopes, call: Node, arguments: Node, method_node: Node, context_decl: Declaration, literal: Node
) -> Fix | NoFix:
    """`x.Exec(args)` -> `x.ExecContext(ctx, args)`."""
    method = source.text(method_node)
    context_name = context_decl.name
    argument_edit = _leading_argument(source, call, arguments, context_name)
    if argument_edit is None:
        return NoFix(_UNSURE_LAYOUT)
    edits = (Edit(method_node.start_byte, method_node.end_byte, _METHODS[method]), argument_edit)
    # A context that ends with the starting function reaches here only when that function
    # waits for the goroutine first (see check): the query then ends before its context.
    return Fix(f"Use {_METHODS[method].decode()} with {context_name.decode()}", edits, Applicability.SAFE)


_UNSURE_LAYOUT = "gofmt would re-space the query's argument once the context goes first, in a way this fix cannot reproduce"


def _leading_argument(source: SourceFile, call: Node, arguments: Node, context: bytes) -> Edit | None:
    """The edit putting ``context`` first among the call's arguments, gofmt-clean: a lone
    argument becomes one of two, which gofmt spaces more tightly (`"a "+b`)."""
    args = syntax.call_arguments(call)
    if not args:
        return Edit(arguments.start_byte + 1, arguments.end_byte - 1, context)
    if len(args) > 1:
        return Edit.insert(args[0].start_byte, context + b", ")
    respaced = respaced_text(source.data, args[0])
    return Edit(args[0].start_byte, args[0].end_byte, context + b", " + respaced) if respaced is not None else None


def _detached_fix(source: SourceFile, call: Node, arguments: Node, method_node: Node, context_decl: Declaration) -> Fix | NoFix:
    """`x.Exec(args)` -> `x.ExecContext(context.WithoutCancel(ctx), args)`, from Go 1.21 on."""
    name = context_decl.name.decode()
    if source.go_version < (1, 21):
        return NoFix(
            f"{name} ends before the goroutine does, and context.WithoutCancel (Go 1.21) is not available at go "
            f"{source.go_version[0]}.{source.go_version[1]}: give the query its own context and deadline"
        )
    package, import_edits = add_import(source, "context")
    detached = package + b".WithoutCancel(" + context_decl.name + b")"
    method = source.text(method_node)
    argument_edit = _leading_argument(source, call, arguments, detached)
    if argument_edit is None:
        return NoFix(_UNSURE_LAYOUT)
    edits = (Edit(method_node.start_byte, method_node.end_byte, _METHODS[method]), argument_edit, *import_edits)
    return Fix(f"Use {_METHODS[method].decode()} with context.WithoutCancel({name})", edits, Applicability.SAFE)


# -- does the context end before the goroutine? -------------------------------
def _ends_with_starter(source: SourceFile, scopes: FunctionScopes, names: _Names, decl: Declaration, literal: Node, depth: int = 0) -> str | None:
    """How ``decl``'s context ends when the function starting the goroutine returns, or None:
    the request context of the handler (`r.Context()`), a context whose cancel the function
    defers, one derived from those, or a goroutine parameter given one of those."""
    if depth > 4:
        return None
    if is_inside(decl.ident, literal):
        if decl.kind != "param" or decl.scope != literal:
            return None  # made inside the goroutine: its own lifetime
        value = _argument_for(literal, decl)
        return _expression_ends(source, scopes, names, value, literal, depth + 1) if value is not None else None
    if _cancel_deferred_outside(scopes, decl, literal):
        return "when the function that starts the goroutine returns (it defers the cancel)"
    value, index = initialiser(decl)
    if value is None or index != 0:
        return None
    return _expression_ends(source, scopes, names, value, literal, depth + 1)


def _expression_ends(source: SourceFile, scopes: FunctionScopes, names: _Names, value: Node, literal: Node, depth: int) -> str | None:
    value = syntax.unparen(value)
    if syntax.is_identifier(value):
        found = scopes.resolve(value)
        return _ends_with_starter(source, scopes, names, found, literal, depth) if found is not None else None
    parts = syntax.selector_call(value)
    if parts is None or not syntax.is_identifier(parts[0]):
        return None
    operand, field, _ = parts
    if source.text(field) == b"Context" and names.http is not None:
        request = scopes.resolve(operand)
        if request is not None and request.kind == "param" and _is_handler_request(source, names, request):
            return f"when the handler returns ({source.text(operand).decode()}.Context())"
        return None
    if names.context is not None and source.text(operand) == names.context and scopes.resolve(operand) is None:
        if source.text(field) in (b"Background", b"TODO", b"WithoutCancel"):
            return None
        arguments = syntax.call_arguments(value)
        return _expression_ends(source, scopes, names, arguments[0], literal, depth + 1) if arguments else None
    return None


def _is_handler_request(source: SourceFile, names: _Names, request: Declaration) -> bool:
    """An `*http.Request` parameter of a function that also takes an `http.ResponseWriter`."""
    if _spelled(source, request.type_node) != b"*" + (names.http or b"") + b".Request":
        return False
    plist = request.statement.parent
    writer = (names.http or b"") + b".ResponseWriter"
    return plist is not None and any(_spelled(source, p.type) == writer for p in syntax.parameters_of(plist))


def _argument_for(literal: Node, decl: Declaration) -> Node | None:
    """The argument the go statement passes for the literal's parameter ``decl``."""
    call = syntax.called_in_place(literal)
    if call is None:
        return None
    position = 0
    for parameter in syntax.parameters_of(syntax.parameter_list(literal)):
        for name in parameter.names or (None,):
            if name is not None and (name.start_byte, name.end_byte) == decl.key:
                arguments = syntax.call_arguments(call)
                return arguments[position] if position < len(arguments) else None
            position += 1
    return None


def _starter_waits(source: SourceFile, scopes: FunctionScopes, decl: Declaration, literal: Node) -> bool:
    """The function that starts the goroutine waits for it on every path before it returns
    (and before a deferred cancel of ``decl`` runs)."""
    go = syntax.go_or_defer_of(literal)
    if go is None or not syntax.is_go(go):
        return False
    cancel_defer = _cancel_defer(scopes, decl, literal)
    return waits_on_every_path(source, scopes, go, not_before=cancel_defer)


def _cancel_defer(scopes: FunctionScopes, decl: Declaration, literal: Node) -> Node | None:
    statement = decl.statement
    if not syntax.is_short_var_declaration(statement) or decl.index != 0:
        return None
    left = syntax.left_side(statement)
    cancel = scopes.resolve(left[1]) if len(left) > 1 and syntax.is_identifier(left[1]) else None
    if cancel is None:
        return None
    for ref in scopes.references(cancel):
        call = ref.parent
        if not is_inside(ref, literal) and syntax.is_call(call) and syntax.is_defer(call.parent):
            return call.parent
    return None


# -- is this a database/sql value? -------------------------------------------
def _is_sql_value(source: SourceFile, scopes: FunctionScopes, names: _Names, node: Node, depth: int) -> bool:
    node = syntax.unparen(node)
    if depth > 4:
        return False
    if syntax.is_identifier(node):
        decl = scopes.resolve(node)
        if decl is None:
            variable = names.declarations.variables.get(source.text(node))
            return variable is not None and _spelled(source, variable.type) in names.sql_types
        if _spelled(source, decl.type_node) in names.sql_types:
            return True
        value, index = initialiser(decl)
        return value is not None and index == 0 and _returns_sql_value(source, scopes, names, value, depth + 1)
    parts = syntax.selector_parts(node)
    if parts is not None:
        # Every struct field of that name in the file must have a database/sql type.
        fields = [f for f in names.declarations.fields_named(source.text(parts[1])) if not f.embedded]
        return bool(fields) and all(_spelled(source, f.type) in names.sql_types for f in fields)
    return False


def _returns_sql_value(source: SourceFile, scopes: FunctionScopes, names: _Names, value: Node, depth: int) -> bool:
    parts = syntax.selector_call(value)
    if parts is None:
        return False
    operand, field, _ = parts
    if source.text(operand) == names.sql and scopes.resolve(operand) is None:
        return source.text(field) in (b"Open", b"OpenDB")
    return source.text(field) in _SQL_RESULTS and _is_sql_value(source, scopes, names, operand, depth)


# -- is a context in scope? ----------------------------------------------------
def _context_in_scope(source: SourceFile, scopes: FunctionScopes, names: _Names, call: Node) -> Declaration | None:
    """The innermost visible variable known to hold a context.Context at ``call``."""
    contexts = [d for d in visible_declarations(scopes, call).values() if _is_context(source, scopes, names, d)]
    if not contexts:
        return None
    return max(contexts, key=lambda d: (d.scope.start_byte, d.visible_from, -d.scope.end_byte))


def _is_context(source: SourceFile, scopes: FunctionScopes, names: _Names, decl: Declaration) -> bool:
    if value_kind(source, decl.type_node, pointers=False) is ValueKind.CONTEXT:
        return True
    if decl.type_node is not None:
        return False
    value, index = initialiser(decl)
    if value is None or index != 0:
        return False
    parts = syntax.selector_call(value)
    if parts is None or not syntax.is_identifier(parts[0]):
        return False
    operand, field, _ = parts
    if names.context is not None and source.text(operand) == names.context and scopes.resolve(operand) is None:
        return source.text(field) in _CONTEXT_CONSTRUCTORS
    if source.text(field) == b"Context" and names.http is not None:
        request = scopes.resolve(operand)
        return request is not None and _spelled(source, request.type_node) == b"*" + names.http + b".Request"
    return False


def _cancel_deferred_outside(scopes: FunctionScopes, context_decl: Declaration, literal: Node) -> bool:
    """True when `ctx, cancel := context.With…(…)` is followed by `defer cancel()` outside the goroutine."""
    statement = context_decl.statement
    if not syntax.is_short_var_declaration(statement) or context_decl.index != 0:
        return False
    left = syntax.left_side(statement)
    if len(left) < 2 or not syntax.is_identifier(left[1]):
        return False
    cancel = scopes.resolve(left[1])
    if cancel is None:
        return False
    for ref in scopes.references(cancel):
        if syntax.is_inside(ref, literal):
            continue
        call = ref.parent
        if syntax.is_call(call) and syntax.is_defer(call.parent):
            return True
    return False
