"""deferred-goroutine-awaited: a function waits for work that only a goroutine started by its own defer would do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.scope import Declaration, FunctionScopes
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import (
    FUNCTION_KINDS,
    ancestors,
    called_function_literal,
    enclosing_function,
    identifiers,
    is_inside,
    statements,
    walk,
    walk_no_funcs,
)
from gofix_defer.codemods.edits.insertion import ends_line, starts_line
from gofix_defer.codemods.model import Diagnostic, Edit, Fix, Rule

_WAITGROUP_METHODS = frozenset({b"Add", b"Done", b"Wait"})


@dataclass(frozen=True)
class _Goroutine:
    """A goroutine started by a deferred function of the function under check."""

    defer_statement: Node
    deferred: Node  # the deferred func literal
    go_statement: Node
    literal: Node  # the goroutine's func literal


@dataclass(frozen=True)
class _Finding:
    goroutine: _Goroutine
    variable: Declaration  # the WaitGroup or channel that ties the wait to the goroutine
    wait: Node  # the Wait() call, receive or range the function blocks in
    wait_text: str  # "wg.Wait()", "<-done", "range results"
    signal: Node  # the goroutine's Done / send / close that the wait needs
    signal_text: str  # "wg.Done()", "done <- v", "close(done)"


class DeferredGoroutineAwaited(Rule):
    """
    ## What it does
    Finds a function that waits — `wg.Wait()`, `<-done`, `for v := range ch`
    — for work that only a goroutine started inside one of its own deferred
    functions does: `defer func() { go func() { defer wg.Done(); … }() }()`
    followed by `wg.Wait()`. The evidence must be complete: the WaitGroup or
    channel is local to the function, made there (`var wg sync.WaitGroup`,
    `make(chan …)`), never handed to other code, the function itself adds to
    the WaitGroup before waiting, and every `Done` (every send or `close` of
    the channel) is in goroutines that deferred functions start. A wait in a
    `select`, in a deferred call or in another goroutine is not this bug.

    ## Why is this bad
    Deferred functions run when the function returns, which is after the
    wait. The goroutine that would end the wait is never started, so the
    function blocks for ever, and with it every caller waiting on it: a
    deadlock, or a leaked goroutine when the function runs in one.

    ## Example
    ```go
    func save(records []string) int {
        var wg sync.WaitGroup
        saved := 0
        wg.Add(1)
        defer func() {
            go func() {
                defer wg.Done()
                saved = write(records)
            }()
        }()
        wg.Wait()
        return saved
    }
    ```

    ## Fix
    Start the goroutine where the defer statement stands, without the
    deferred wrapper:
    ```go
    func save(records []string) int {
        var wg sync.WaitGroup
        saved := 0
        wg.Add(1)
        go func() {
            defer wg.Done()
            saved = write(records)
        }()
        wg.Wait()
        return saved
    }
    ```
    Only when the deferred function does nothing but start that goroutine
    (no arguments, no other statements or comments), the defer is not in a
    loop, the wait comes after it, and the goroutine shares no variable with
    the code between the defer statement and the wait (and reads no named
    result, which `return` sets); otherwise report only.

    ## Fix safety
    Safe: as written the function never gets past the wait, so nothing can
    depend on the goroutine starting late. Starting it at the defer
    statement runs the same goroutine, with the same captured variables,
    before the wait that was written for it, and no code it shares state
    with runs in between.
    """

    name = "deferred-goroutine-awaited"
    summary = "The function waits for a goroutine that only its own deferred function starts: start it directly"
    fix_availability = "sometimes"
    triggers = (b"defer",)

    def applies_to(self, source) -> bool:
        # A defer, a go statement, and a wait: X.Wait() or a channel the function makes.
        data = source.data
        return super().applies_to(source) and b"go" in data and (b"Wait" in data or b"chan" in data)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        by_function: dict[tuple[int, int], tuple[Node, list[_Goroutine]]] = {}
        for statement in nodes_of_types(source, ("defer_statement",)):
            deferred = called_function_literal(statement)
            if deferred is None or b"go" not in source.text(deferred):
                continue
            function = enclosing_function(statement)
            if function is None or function.child_by_field_name("body") is None:
                continue
            for go_statement in walk_no_funcs(deferred.child_by_field_name("body")):
                if go_statement.type != "go_statement":
                    continue
                literal = called_function_literal(go_statement)
                if literal is None:
                    continue
                key = (function.start_byte, function.end_byte)
                by_function.setdefault(key, (function, []))[1].append(_Goroutine(statement, deferred, go_statement, literal))
        for function, goroutines in by_function.values():
            scopes = source.scopes(function)
            for goroutine in goroutines:
                finding = _waitgroup_finding(source, scopes, function, goroutine, goroutines) or _channel_finding(
                    source, scopes, function, goroutine, goroutines
                )
                if finding is not None:
                    yield self._report(source, scopes, function, finding)

    def _report(self, source: SourceFile, scopes: FunctionScopes, function: Node, finding: _Finding) -> Diagnostic:
        go_line = source.line_col(finding.goroutine.go_statement.start_byte)[0]
        message = (
            f"{finding.wait_text} waits for {finding.signal_text}, which only a goroutine started by a deferred function"
            f" (line {go_line}) does; deferred functions run after the wait, so it never returns:"
            " start the goroutine where the defer statement stands"
        )
        fix, reason = _build_fix(source, scopes, function, finding)
        if fix is None:
            message += f" (no fix: {reason})"
        return self.diagnostic(finding.wait, message, fix)


RULE = DeferredGoroutineAwaited()


# -- evidence -------------------------------------------------------------------


def _runs_in_function(node: Node, function: Node) -> bool:
    """``node`` runs in ``function`` itself, in order: not in a func literal, a deferred call or a go statement."""
    for parent in ancestors(node):
        if parent == function:
            return True
        if parent.type in FUNCTION_KINDS or parent.type in ("defer_statement", "go_statement"):
            return False
    return False


def _in_deferred_goroutine(node: Node, goroutines: list[_Goroutine]) -> bool:
    return any(is_inside(node, g.literal) for g in goroutines)


def _local_declaration(scopes: FunctionScopes, function: Node, ident: Node) -> Declaration | None:
    """The declaration of ``ident`` when it is a variable the function declares in its own body."""
    declaration = scopes.resolve(ident)
    if declaration is None or declaration.kind not in ("var", "short"):
        return None
    if any(p.type == "function_literal" and p != function for p in ancestors(declaration.ident) if is_inside(p, function)):
        return None  # declared in a nested literal: another function's variable
    return declaration


def _method_call(source: SourceFile, ident: Node) -> tuple[bytes, Node] | None:
    """For an identifier used as `ident.M(…)`: (M, the call)."""
    selector = ident.parent
    if selector is None or selector.type != "selector_expression" or selector.child_by_field_name("operand") != ident:
        return None
    call = selector.parent
    if call is None or call.type != "call_expression" or call.child_by_field_name("function") != selector:
        return None
    return source.text(selector.child_by_field_name("field")), call


def _is_waitgroup(source: SourceFile, declaration: Declaration) -> bool:
    if declaration.type_node is not None:
        return source.text(declaration.type_node).lstrip(b"*").split(b".")[-1] == b"WaitGroup"
    if declaration.value is not None:
        text = b"".join(source.text(declaration.value).split())
        return text.endswith((b"WaitGroup{}", b"(sync.WaitGroup)"))
    return False


def _waitgroup_finding(source, scopes, function: Node, goroutine: _Goroutine, goroutines: list[_Goroutine]) -> _Finding | None:
    for node in walk_no_funcs(goroutine.literal.child_by_field_name("body")):
        if node.type != "identifier":
            continue
        method = _method_call(source, node)
        if method is None or method[0] != b"Done":
            continue
        declaration = _local_declaration(scopes, function, node)
        if declaration is None or not _is_waitgroup(source, declaration):
            continue
        calls = []
        for reference in scopes.references(declaration):
            used = _method_call(source, reference)
            if used is None or used[0] not in _WAITGROUP_METHODS:
                calls = None  # handed to other code, or copied: its Done may come from anywhere
                break
            calls.append(used)
        if not calls:
            continue
        if any(m == b"Done" and not _in_deferred_goroutine(c, goroutines) for m, c in calls):
            continue  # something else calls Done: the wait may end
        adds = [c for m, c in calls if m == b"Add" and _runs_in_function(c, function) and _positive(source, c)]
        waits = [c for m, c in calls if m == b"Wait" and _runs_in_function(c, function)]
        waits = [w for w in waits if adds and any(a.start_byte < w.start_byte for a in adds)]
        if not waits:
            continue
        name = source.text(node).decode()
        return _Finding(goroutine, declaration, waits[0], f"{name}.Wait()", method[1], f"{name}.Done()")
    return None


def _positive(source: SourceFile, add: Node) -> bool:
    arguments = add.child_by_field_name("arguments")
    if arguments is None or arguments.named_child_count != 1:
        return False
    text = source.text(arguments.named_children[0]).strip()
    return text != b"0" and not text.startswith(b"-")


def _channel_use(source: SourceFile, ident: Node) -> tuple[str, Node] | None:
    """How ``ident`` (a channel) is used: send, close, receive, range, len; None for anything else (an escape)."""
    parent = ident.parent
    if parent is None:
        return None
    if parent.type == "send_statement" and parent.child_by_field_name("channel") == ident:
        return "send", parent
    if parent.type == "unary_expression" and parent.child_by_field_name("operand") == ident and source.text(parent).startswith(b"<-"):
        return "receive", parent
    if parent.type == "range_clause" and parent.child_by_field_name("right") == ident:
        return "range", parent
    if parent.type == "arguments" and parent.named_child_count == 1:
        call = parent.parent
        callee = source.text(call.child_by_field_name("function"))
        if callee == b"close":
            return "close", call
        if callee in (b"len", b"cap"):
            return "len", call
    return None


def _is_made_channel(source: SourceFile, declaration: Declaration) -> bool:
    value = declaration.value
    if value is None or value.type != "call_expression" or source.text(value.child_by_field_name("function")) != b"make":
        return False
    arguments = value.child_by_field_name("arguments")
    return arguments is not None and arguments.named_child_count >= 1 and arguments.named_children[0].type == "channel_type"


def _channel_finding(source, scopes, function: Node, goroutine: _Goroutine, goroutines: list[_Goroutine]) -> _Finding | None:
    for node in walk_no_funcs(goroutine.literal.child_by_field_name("body")):
        if node.type != "identifier":
            continue
        use = _channel_use(source, node)
        if use is None or use[0] not in ("send", "close"):
            continue
        declaration = _local_declaration(scopes, function, node)
        if declaration is None or not _is_made_channel(source, declaration):
            continue
        uses = []
        for reference in scopes.references(declaration):
            found = _channel_use(source, reference)
            if found is None:
                uses = None  # escapes: other code may send or close
                break
            uses.append(found)
        if not uses:
            continue
        if any(kind in ("send", "close") and not _in_deferred_goroutine(at, goroutines) for kind, at in uses):
            continue
        waits = [
            at
            for kind, at in uses
            if kind in ("receive", "range")
            and _runs_in_function(at, function)
            and not any(p.type == "select_statement" for p in ancestors(at) if is_inside(p, function))
        ]
        if not waits:
            continue
        name = source.text(node).decode()
        wait = waits[0]
        wait_text = f"<-{name}" if wait.type == "unary_expression" else f"range {name}"
        signal_text = f"close({name})" if use[0] == "close" else f"{name} <- …"
        if wait.type == "range_clause":
            wait = wait.parent  # report the for statement
        return _Finding(goroutine, declaration, wait, wait_text, use[1], signal_text)
    return None


# -- fixing ---------------------------------------------------------------------


def _build_fix(source: SourceFile, scopes: FunctionScopes, function: Node, finding: _Finding) -> tuple[Fix | None, str]:
    goroutine = finding.goroutine
    statement, deferred, go_statement = goroutine.defer_statement, goroutine.deferred, goroutine.go_statement
    parameters = deferred.child_by_field_name("parameters")
    call = deferred.parent
    while call is not None and call.type == "parenthesized_expression":
        call = call.parent
    arguments = call.child_by_field_name("arguments") if call is not None else None
    if (parameters is not None and parameters.named_child_count) or (arguments is not None and arguments.named_child_count):
        return None, "the deferred function takes arguments"
    body = deferred.child_by_field_name("body")
    if [(s.start_byte, s.end_byte) for s in statements(body)] != [(go_statement.start_byte, go_statement.end_byte)]:
        return None, "the deferred function does more than start the goroutine"
    if any(n.type == "comment" and not is_inside(n, go_statement) for n in walk(body)):
        return None, "the deferred function has comments that would be lost"
    if any(p.type == "for_statement" for p in ancestors(statement) if is_inside(p, function) and p != function):
        return None, "the defer statement is in a loop"
    if finding.wait.start_byte < statement.end_byte:
        return None, "the wait comes before the defer statement"
    if not starts_line(source, statement) or not ends_line(source, statement):
        return None, "the defer statement shares its line with other code"

    window_end = finding.wait.start_byte if _signals_last(source, finding) else function.end_byte
    for name, reason in _shared_variables(source, scopes, function, finding, window_end):
        return None, reason.format(name=name)

    text = _dedented(source, go_statement, source.indentation(statement.start_byte))
    if text is None:
        return None, "the goroutine's lines cannot be re-indented without changing a raw string"
    title = "Start the goroutine directly instead of from a deferred function"
    return Fix(title, (Edit(statement.start_byte, statement.end_byte, text),)), ""


def _signals_last(source: SourceFile, finding: _Finding) -> bool:
    """The goroutine's Done/send/close is deferred or its last statement: its other work is over when the wait ends."""
    top_level = statements(finding.goroutine.literal.child_by_field_name("body"))
    for statement in top_level:
        if statement.type == "defer_statement" and is_inside(finding.signal, statement):
            return True
    return bool(top_level) and is_inside(finding.signal, top_level[-1]) and top_level[-1].type in ("expression_statement", "send_statement")


def _shared_variables(source: SourceFile, scopes: FunctionScopes, function: Node, finding: _Finding, window_end: int) -> Iterator[tuple[str, str]]:
    """Variables the goroutine captures that other code of the function touches while it may run early.

    Reads on both sides are harmless; a write on either side (as far as the
    syntax shows: assignment, ++/--, &x, a method call or passing x to a
    call) makes the early start a data race.
    """
    goroutine = finding.goroutine
    seen: set[tuple[int, int]] = set()
    for ident in identifiers(goroutine.go_statement):
        declaration = scopes.resolve(ident)
        if declaration is None or is_inside(declaration.ident, goroutine.go_statement) or declaration.key in seen:
            continue
        seen.add(declaration.key)
        name = declaration.name.decode()
        if declaration.kind == "result":
            yield name, "the goroutine reads the named result {name}, which return sets"
            continue
        if declaration.key == finding.variable.key:
            continue
        references = scopes.references(declaration)
        goroutine_writes = any(_may_write(source, r) for r in references if is_inside(r, goroutine.go_statement))
        for reference in references:
            if is_inside(reference, goroutine.deferred):
                continue
            if goroutine.defer_statement.end_byte <= reference.start_byte < window_end and (goroutine_writes or _may_write(source, reference)):
                yield name, "the goroutine would share {name} with code that runs before the wait"
                break


def _may_write(source: SourceFile, reference: Node) -> bool:
    """``reference`` (an identifier) is, or may be, written through where it stands."""
    node = reference
    while node.parent is not None and (
        (node.parent.type in ("selector_expression", "index_expression", "slice_expression") and node.parent.child_by_field_name("operand") == node)
        or node.parent.type == "parenthesized_expression"
        or (node.parent.type == "unary_expression" and source.text(node.parent).startswith(b"*"))
    ):
        node = node.parent
    parent = node.parent
    if parent is None:
        return True
    if parent.type in ("inc_dec_statement",):
        return True
    if parent.type in ("assignment", "short_var_declaration"):
        left = parent.child_by_field_name("left")
        return left is not None and is_inside(node, left)
    if parent.type == "expression_list" and parent.parent is not None and parent.parent.type in ("assignment", "short_var_declaration"):
        left = parent.parent.child_by_field_name("left")
        return left is not None and is_inside(node, left)
    if parent.type == "unary_expression" and source.text(parent).startswith(b"&"):
        return True
    if parent.type == "call_expression" and parent.child_by_field_name("function") == node:
        return node.type == "selector_expression"  # a method call may change its receiver
    if parent.type == "arguments":
        call = parent.parent
        return source.text(call.child_by_field_name("function")) not in (b"len", b"cap")
    if parent.type == "range_clause":
        left = parent.child_by_field_name("left")
        return left is not None and is_inside(node, left)
    return False


def _dedented(source: SourceFile, go_statement: Node, indent: bytes) -> bytes | None:
    """The go statement's text, its later lines moved from its own indentation to ``indent``."""
    text = source.text(go_statement)
    if b"\n" not in text:
        return text
    if not starts_line(source, go_statement):
        return None
    for node in walk(go_statement):
        if node.type == "raw_string_literal" and b"\n" in source.text(node):
            return None
    own = source.indentation(go_statement.start_byte)
    lines = text.split(b"\n")
    out = [lines[0]]
    for line in lines[1:]:
        if not line.strip():
            out.append(b"\r" if line.endswith(b"\r") else b"")
        elif line.startswith(own):
            out.append(indent + line[len(own) :])
        else:
            return None
    return b"\n".join(out)
