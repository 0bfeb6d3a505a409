"""deferred-goroutine-awaited: a function waits for work that only a goroutine started by its own defer would do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from tree_sitter import Node

from gofix_defer.codemods.analysis import control, syntax
from gofix_defer.codemods.analysis.access import may_write
from gofix_defer.codemods.analysis.channels import Channels, ChannelUse, UseKind, classify_use, make_channel
from gofix_defer.codemods.analysis.lexical import starts_literal_from_deferred_literal
from gofix_defer.codemods.analysis.locks import states_waitgroup, waitgroup_call
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.scope import Declaration, FunctionScopes, Scopes
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import ancestors, called_function_literal, enclosing_function, identifiers, is_inside, statements, walk, walk_no_funcs
from gofix_defer.codemods.edits.insertion import ends_line, starts_line
from gofix_defer.codemods.model import Diagnostic, Edit, Fix, NoFix, Rule, says

# The uses of a channel the rule follows; any other use (passed to a call, sent,
# stored, returned) hands it to code that may send or close.
_FOLLOWED_USES = frozenset({UseKind.SEND, UseKind.RECEIVE, UseKind.RANGE, UseKind.CLOSE, UseKind.LEN_CAP})
_SIGNALS = frozenset({UseKind.SEND, UseKind.CLOSE})
_WAITS = frozenset({UseKind.RECEIVE, UseKind.RANGE})
_BUILTINS_BY_NAME = {b"close": UseKind.CLOSE, b"len": UseKind.LEN_CAP, b"cap": UseKind.LEN_CAP}


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
    wait: Node  # the Wait() call, receive or range loop the function blocks in
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
    requires = (Scopes, Channels)

    def applies_to(self, source) -> bool:
        # A deferred literal starting a literal, and a wait: X.Wait() or a channel the
        # function makes.
        return super().applies_to(source) and (says(source, b"Wait") or says(source, b"chan")) and starts_literal_from_deferred_literal(source)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        by_function: dict[tuple[int, int], tuple[Node, list[_Goroutine]]] = {}
        for statement in nodes_of_types(source, syntax.DEFER_KINDS):
            deferred = called_function_literal(statement)
            if deferred is None or b"go" not in source.text(deferred):
                continue
            function = enclosing_function(statement)
            if function is None or syntax.function_body(function) is None:
                continue
            for go_statement in walk_no_funcs(syntax.function_body(deferred)):
                if not syntax.is_go(go_statement):
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
        fix = _build_fix(source, scopes, function, finding)
        if isinstance(fix, NoFix):
            return self.diagnostic(finding.wait, fix.annotate(message))
        return self.diagnostic(finding.wait, message, fix)


RULE = DeferredGoroutineAwaited()


# -- evidence -------------------------------------------------------------------


def _in_deferred_goroutine(node: Node, goroutines: list[_Goroutine]) -> bool:
    return any(is_inside(node, g.literal) for g in goroutines)


def _local_declaration(scopes: FunctionScopes, function: Node, ident: Node) -> Declaration | None:
    """The declaration of ``ident`` when it is a variable the function declares in its own body."""
    declaration = scopes.resolve(ident)
    if declaration is None or declaration.kind not in ("var", "short"):
        return None
    if any(syntax.is_function_literal(p) and p != function for p in ancestors(declaration.ident) if is_inside(p, function)):
        return None  # declared in a nested literal: another function's variable
    return declaration


def _waitgroup_finding(source, scopes, function: Node, goroutine: _Goroutine, goroutines: list[_Goroutine]) -> _Finding | None:
    for node in walk_no_funcs(syntax.function_body(goroutine.literal)):
        if not syntax.is_identifier(node):
            continue
        method = waitgroup_call(source, node)
        if method is None or method[0] != b"Done":
            continue
        declaration = _local_declaration(scopes, function, node)
        if declaration is None or not states_waitgroup(source, declaration):
            continue
        calls: list[tuple[bytes, Node]] | None = []
        for reference in scopes.references(declaration):
            used = waitgroup_call(source, reference)
            if used is None:
                calls = None  # handed to other code, or copied: its Done may come from anywhere
                break
            calls.append(used)  # type: ignore[union-attr]
        if not calls:
            continue
        if any(m == b"Done" and not _in_deferred_goroutine(c, goroutines) for m, c in calls):
            continue  # something else calls Done: the wait may end
        adds = [c for m, c in calls if m == b"Add" and control.runs_in_sequence(c, function) and _positive(source, c)]
        waits = [c for m, c in calls if m == b"Wait" and control.runs_in_sequence(c, function)]
        waits = [w for w in waits if adds and any(a.start_byte < w.start_byte for a in adds)]
        if not waits:
            continue
        name = source.text(node).decode()
        return _Finding(goroutine, declaration, waits[0], f"{name}.Wait()", method[1], f"{name}.Done()")
    return None


def _positive(source: SourceFile, add: Node) -> bool:
    """`wg.Add(n)` with n not 0 and not negative as written."""
    arguments = syntax.call_arguments_node(add)
    if arguments is None or arguments.named_child_count != 1:
        return False  # no count, several, or a comment beside it: no evidence
    text = source.text(arguments.named_children[0]).strip()
    return text != b"0" and not text.startswith(b"-")


def _channel_finding(source, scopes, function: Node, goroutine: _Goroutine, goroutines: list[_Goroutine]) -> _Finding | None:
    channels = source.facts(Channels)
    for node in walk_no_funcs(syntax.function_body(goroutine.literal)):
        if not syntax.is_identifier(node):
            continue
        declaration = _local_declaration(scopes, function, node)
        if declaration is None or not _made_plainly(declaration):
            continue
        signal = classify_use(source, scopes, function, node)
        signal_kind = _counted(signal)
        if signal_kind not in _SIGNALS:
            continue
        uses = [(use, _counted(use)) for use in channels.uses(function, declaration).uses]
        if not uses or any(kind is None for _, kind in uses):
            continue  # escapes: other code may send or close
        if any(kind in _SIGNALS and not _in_deferred_goroutine(use.node, goroutines) for use, kind in uses):
            continue
        waits = [
            (use, kind)
            for use, kind in uses
            if kind in _WAITS
            and control.runs_in_sequence(use.node, function)
            and not any(syntax.is_select(p) for p in ancestors(use.node) if is_inside(p, function))
        ]
        if not waits:
            continue
        name = source.text(node).decode()
        wait, wait_kind = waits[0]
        wait_text = f"<-{name}" if wait_kind is UseKind.RECEIVE else f"range {name}"
        signal_text = f"close({name})" if signal_kind is UseKind.CLOSE else f"{name} <- …"
        return _Finding(goroutine, declaration, wait.node, wait_text, signal.node, signal_text)  # a range: the for statement
    return None


def _made_plainly(declaration: Declaration) -> bool:
    """The variable is set from `make(chan T[, n])`, written the usual way (not in
    parentheses, no comment before the type: other spellings are not followed)."""
    made = make_channel(declaration.value)
    return made is not None and made.call == declaration.value and not made.comment_before_type


def _counted(use: ChannelUse) -> UseKind | None:
    """How the rule counts a use of the channel; None: the channel escapes to code
    that may send on it or close it.

    Followed: sends, receives, ranges, and the calls `close(ch)`, `len(ch)`,
    `cap(ch)` — written the usual way (the channel and the callee not in
    parentheses, the channel the call's only argument, no comment in the call).
    Those calls count by their spelling, even where a local function shadows the
    builtin's name (as the rule has always done).
    """
    if use.parenthesized or use.callee_parenthesized or use.call_commented:
        return None
    if use.kind in (UseKind.CLOSE, UseKind.LEN_CAP, UseKind.PASSED):
        if len(syntax.call_arguments(use.node)) != 1:
            return None
        if use.kind is UseKind.PASSED:
            callee = use.callee
            if callee is None or not syntax.is_identifier(callee):
                return None
            return _BUILTINS_BY_NAME.get(callee.text or b"")
    return use.kind if use.kind in _FOLLOWED_USES else None


# -- fixing ---------------------------------------------------------------------


def _build_fix(source: SourceFile, scopes: FunctionScopes, function: Node, finding: _Finding) -> Fix | NoFix:
    goroutine = finding.goroutine
    statement, deferred, go_statement = goroutine.defer_statement, goroutine.deferred, goroutine.go_statement
    call = syntax.called_in_place(deferred)
    if _written(syntax.parameter_list(deferred)) or (call is not None and _written(syntax.call_arguments_node(call))):
        return NoFix("the deferred function takes arguments")
    body = syntax.function_body(deferred)
    if [(s.start_byte, s.end_byte) for s in statements(body)] != [(go_statement.start_byte, go_statement.end_byte)]:
        return NoFix("the deferred function does more than start the goroutine")
    if any(syntax.is_comment(n) and not is_inside(n, go_statement) for n in walk(body)):
        return NoFix("the deferred function has comments that would be lost")
    if control.inside_loop(statement, function):
        return NoFix("the defer statement is in a loop")
    if finding.wait.start_byte < statement.end_byte:
        return NoFix("the wait comes before the defer statement")
    if not starts_line(source, statement) or not ends_line(source, statement):
        return NoFix("the defer statement shares its line with other code")

    window_end = finding.wait.start_byte if _signals_last(finding) else function.end_byte
    shared = _shared_variable(source, scopes, finding, window_end)
    if shared is not None:
        return shared

    text = _dedented(source, go_statement, source.indentation(statement.start_byte))
    if text is None:
        return NoFix("the goroutine's lines cannot be re-indented without changing a raw string")
    title = "Start the goroutine directly instead of from a deferred function"
    return Fix(title, (Edit(statement.start_byte, statement.end_byte, text),))


def _written(parenthesised: Node | None) -> bool:
    """Anything written between the parentheses of a parameter or argument list, comments included."""
    return parenthesised is not None and parenthesised.named_child_count > 0


def _signals_last(finding: _Finding) -> bool:
    """The goroutine's Done/send/close is deferred or its last statement: its other work is over when the wait ends."""
    top_level = statements(syntax.function_body(finding.goroutine.literal))
    for statement in top_level:
        if syntax.is_defer(statement) and is_inside(finding.signal, statement):
            return True
    if not top_level or not is_inside(finding.signal, top_level[-1]):
        return False
    return syntax.is_expression_statement(top_level[-1]) or syntax.is_send(top_level[-1])


def _shared_variable(source: SourceFile, scopes: FunctionScopes, finding: _Finding, window_end: int) -> NoFix | None:
    """A variable the goroutine captures that other code of the function touches while it may run early.

    Reads on both sides are harmless; a write on either side (as far as the
    syntax shows: see ``access.may_write``) makes the early start a data race.
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
            return NoFix(f"the goroutine reads the named result {name}, which return sets")
        if declaration.key == finding.variable.key:
            continue
        references = scopes.references(declaration)
        goroutine_writes = any(may_write(source, r) for r in references if is_inside(r, goroutine.go_statement))
        for reference in references:
            if is_inside(reference, goroutine.deferred):
                continue
            if goroutine.defer_statement.end_byte <= reference.start_byte < window_end and (goroutine_writes or may_write(source, reference)):
                return NoFix(f"the goroutine would share {name} with code that runs before the wait")
    return None


def _dedented(source: SourceFile, go_statement: Node, indent: bytes) -> bytes | None:
    """The go statement's text, its later lines moved from its own indentation to ``indent``."""
    text = source.text(go_statement)
    if b"\n" not in text:
        return text
    if not starts_line(source, go_statement):
        return None
    for node in walk(go_statement):
        if syntax.is_raw_string(node) and b"\n" in source.text(node):
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
