"""async-unlock: a deferred goroutine releases a lock the function took."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.control import Control
from gofix_defer.codemods.analysis.imports import imported_name
from gofix_defer.codemods.analysis.lexical import DEFERRED_LITERAL
from gofix_defer.codemods.analysis.locks import ACQUIRE_OF, LockCall, Locks, lock_call
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types, own_descendants
from gofix_defer.codemods.analysis.scope import FunctionScopes, Scopes, same_variable
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.edits.import_removal import remove_import_if_unused
from gofix_defer.codemods.edits.insertion import ends_line, insert_before, starts_line
from gofix_defer.codemods.model import Diagnostic, Edit, Fix, NoFix, Rule, says


class AsyncUnlock(Rule):
    """
    ## What it does
    Finds a lock the function took (`X.Lock()` / `X.RLock()`) that a
    deferred function releases from a goroutine: `defer func() { go
    mu.Unlock() }()`, or a deferred goroutine that unlocks after other work.
    The receiver must be spelled the same and name the same variable as the
    lock (embedded mutexes included: `s.Lock()` … `go s.Unlock()`). A
    goroutine that takes and releases its own lock is not this bug.

    ## Why is this bad
    The lock outlives the call: it is released whenever the goroutine gets to
    run, or never if the goroutine blocks first (on a send nobody receives,
    say). Every other caller of the lock stalls meanwhile, and a caller that
    the goroutine itself waits for deadlocks.

    ## Example
    ```go
    func (c *Cache) Refresh(events chan<- string) {
        c.mu.Lock()
        defer func() {
            go func() {
                events <- "refreshed"
                c.mu.Unlock()
            }()
        }()
        c.generation++
    }
    ```

    ## Fix
    Unlock directly, with `defer c.mu.Unlock()` before the deferred function
    (defers run last-in first-out, so the deferred function still runs while
    the lock is held, as before). What else the goroutine did stays in a
    goroutine; a goroutine left with nothing but sleeps is removed:
    ```go
    func (c *Cache) Refresh(events chan<- string) {
        c.mu.Lock()
        defer c.mu.Unlock()
        defer func() {
            go func() {
                events <- "refreshed"
            }()
        }()
        c.generation++
    }
    ```
    No fix (report only) when the goroutine does other work before the
    unlock that may touch the guarded state (assignments, or uses of the
    lock's owner): moving the unlock would run it unlocked. No fix either
    when the unlock or the `go` statement is nested in a condition.

    ## Fix safety
    Safe: the lock is released when the function returns instead of at some
    later moment, which every caller of the lock already had to allow for.
    """

    name = "async-unlock"
    summary = "Deferred goroutine releases a lock the function took: unlock directly"
    fix_availability = "sometimes"
    triggers = (b"Unlock",)
    requires = (Scopes, Locks, Control)

    def applies_to(self, source) -> bool:
        # The unlock is in a deferred function literal.
        return super().applies_to(source) and says(source, DEFERRED_LITERAL)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        for function in nodes_of_types(source, syntax.FUNCTION_KINDS):
            body = syntax.function_body(function)
            if body is None:
                continue
            defers = [
                d
                for d in own_descendants(source, body, syntax.DEFER_KINDS)
                if syntax.called_function_literal(d) is not None and b"Unlock" in source.text(d)
            ]
            if not defers:
                continue
            scopes = source.scopes(function)
            for statement in defers:
                yield from self._check_defer(source, scopes, function, statement)

    def _check_defer(self, source: SourceFile, scopes: FunctionScopes, function: Node, statement: Node) -> Iterator[Diagnostic]:
        deferred = syntax.called_function_literal(statement)
        if deferred is None:
            return
        releases, locks = [], []
        for release in _async_releases(source, deferred):
            lock = _held_by(source, scopes, function, statement, release)
            if lock is not None:
                releases.append(release)
                locks.append(lock)
        if not releases:
            return
        names = ", ".join(dict.fromkeys(f"{r.lock.receiver.decode()}.{r.lock.method.decode()}()" for r in releases))
        message = (
            f"lock taken by this function is released asynchronously ({names} in a goroutine started by a deferred function):"
            " other callers stall until the goroutine runs, or for ever if it blocks first; unlock directly with defer"
        )
        fix = _build_fix(source, statement, deferred, releases)
        earliest_lock = min(lock.start_byte for lock in locks)
        if isinstance(fix, Fix) and any(
            earliest_lock < d.start_byte < statement.start_byte and not _is_context_cancel(source, scopes, d)
            for d in source.facts(Control).defers(function)
        ):
            # Those deferred calls ran with the lock still held; a direct unlock here would run before them.
            fix = NoFix("calls deferred between the lock and this defer would run after a direct unlock")
        if isinstance(fix, NoFix):
            yield self.diagnostic(releases[0].lock.call, fix.annotate(message))
        else:
            yield self.diagnostic(releases[0].lock.call, message, fix)


RULE = AsyncUnlock()


@dataclass(frozen=True)
class _Release:
    lock: LockCall  # the X.Unlock() call
    go_statement: Node  # the go statement that runs it
    goroutine: Node | None  # the goroutine's func literal; None for `go X.Unlock()`


def _counts(call: LockCall | None) -> LockCall | None:
    """A Lock, RLock, Unlock or RUnlock call (TryLock does not count), written without a
    comment between its parentheses."""
    if call is None or call.commented or not (call.acquires or call.releases):
        return None
    return call


def _async_releases(source: SourceFile, deferred: Node) -> list[_Release]:
    """Unlock calls run by goroutines the deferred literal starts (not by nested literals of theirs)."""
    found = []
    body = syntax.function_body(deferred)
    for go_statement in own_descendants(source, body, syntax.GO_KINDS) if body is not None else ():
        call = syntax.call_of(go_statement)
        if call is None:
            continue
        direct = _counts(lock_call(source, call))
        if direct is not None:
            if direct.releases:
                found.append(_Release(direct, go_statement, None))
            continue
        goroutine = syntax.called_function_literal(go_statement)
        if goroutine is None:
            continue
        calls = [c for c in source.facts(Locks).calls(goroutine) if _counts(c) is not None]
        # A goroutine that takes the lock itself releases its own acquisition: not this bug.
        own = {c.receiver for c in calls if c.acquires}
        for c in calls:
            if c.releases and c.receiver not in own:
                found.append(_Release(c, go_statement, goroutine))
    return found


def _held_by(source: SourceFile, scopes: FunctionScopes, function: Node, statement: Node, release: _Release) -> Node | None:
    """The Lock call by which the function itself holds the lock when the defer
    statement runs (None when it does not, or releases it elsewhere too)."""
    acquire = ACQUIRE_OF[release.lock.method]
    last_before: LockCall | None = None
    for found in source.facts(Locks).calls(function):
        if _counts(found) is None or found.receiver != release.lock.receiver or not same_variable(scopes, found.operand, release.lock.operand):
            continue
        if found.call.start_byte < statement.start_byte:
            last_before = found
        elif found.method == release.lock.method:
            return None  # released again later by the function: not a lock the goroutine owns
    return last_before.call if last_before is not None and last_before.method == acquire else None


# -- fixing ---------------------------------------------------------------------


def _whole_lines(source: SourceFile, node: Node) -> tuple[int, int] | None:
    """The lines ``node`` fills, with one of the blank lines around it when both
    sides are blank (gofmt would merge the two into one)."""
    if not starts_line(source, node) or not ends_line(source, node):
        return None
    start = source.line_start(node.start_byte)
    end = min(source.line_end(node.end_byte) + 1, len(source.data))
    previous_line = source.data[source.line_start(start - 1) : start] if start > 0 else b""
    next_line = source.data[end : min(source.line_end(end) + 1, len(source.data))]
    if previous_line.strip() == b"" and start > 0 and next_line.strip() == b"" and next_line:
        end += len(next_line)
    return start, end


def _is_sleep(source: SourceFile, statement: Node) -> bool:
    """`time.Sleep(…)` as a statement (under the name the file imports time as)."""
    time_name = imported_name(source, b"time")
    expression = syntax.expression_of(statement)
    if expression is None or time_name is None:
        return False
    call = syntax.unparen(expression)
    function = syntax.callee(call)
    if function is None:
        return False
    function = syntax.unparen(function)
    return syntax.is_selector(function) and source.text(function) == time_name + b".Sleep"


def _root_name(source: SourceFile, release: _Release) -> bytes | None:
    """The variable that owns the lock: `s` for `s.mu.Unlock()`, `mu` for `mu.Unlock()`."""
    root = syntax.root_identifier(release.lock.operand)
    return source.text(root) if root is not None else None


def _may_touch_guarded_state(source: SourceFile, statement: Node, owners: set[bytes | None]) -> bool:
    """Assignments, or any use of a lock owner's name: work that may need the lock held."""
    for node in syntax.walk(statement):
        if syntax.is_assignment(node) or syntax.is_inc_dec(node) or syntax.is_short_var_declaration(node):
            return True
        if syntax.is_identifier(node) and source.text(node) in owners:
            return True
    return False


def _build_fix(source: SourceFile, statement: Node, deferred: Node, releases: list[_Release]) -> Fix | NoFix:
    body = syntax.function_body(deferred)
    if body is None:
        return NoFix("the deferred function has no body")
    top_level = syntax.statements(body)
    deleted: list[tuple[int, int]] = []
    removed: set[tuple[int, int]] = set()  # statements of the deferred literal that go away entirely
    by_go: dict[tuple[int, int], list[_Release]] = {}
    for release in releases:
        if _span(release.go_statement) not in {_span(s) for s in top_level}:
            return NoFix("the goroutine is started conditionally or in a loop")
        by_go.setdefault(_span(release.go_statement), []).append(release)

    for group in by_go.values():
        go_statement = group[0].go_statement
        goroutine = group[0].goroutine
        if goroutine is None:
            removed.add(_span(go_statement))
            continue
        if not syntax.holds_nothing(syntax.parameter_list(goroutine)):
            return NoFix("the goroutine takes arguments")
        inner = syntax.statements(syntax.function_body(goroutine))
        inner_spans = {_span(s) for s in inner}
        unlock_statements = []
        for release in group:
            # `X.Unlock()` as a statement, or `defer X.Unlock()` (then everything else runs before it).
            holder = release.lock.call.parent
            if not (syntax.is_expression_statement(holder) or syntax.is_defer(holder)) or _span(holder) not in inner_spans:
                return NoFix(f"{release.lock.receiver.decode()}.{release.lock.method.decode()}() is not a plain statement of the goroutine")
            unlock_statements.append(holder)
        if any(syntax.is_defer(s) for s in unlock_statements):
            first_unlock = goroutine.end_byte
        else:
            first_unlock = min(s.start_byte for s in unlock_statements)
        unlock_spans = {_span(s) for s in unlock_statements}
        owners = {_root_name(source, r) for r in group}
        for earlier in inner:
            if earlier.start_byte >= first_unlock or _span(earlier) in unlock_spans or _is_sleep(source, earlier):
                continue
            if _may_touch_guarded_state(source, earlier, owners):
                return NoFix("the goroutine does other work while it still holds the lock; moving the unlock would run it unlocked")
        remaining = [s for s in inner if _span(s) not in unlock_spans]
        if all(_is_sleep(source, s) for s in remaining):
            removed.add(_span(go_statement))
        else:
            for unlock in unlock_statements:
                span = _whole_lines(source, unlock)
                if span is None:
                    return NoFix("the unlock shares its line with other code")
                deleted.append(span)

    direct_unlocks = [f"defer {r.lock.receiver.decode()}.{r.lock.method.decode()}()".encode() for r in releases]
    direct_unlocks = list(dict.fromkeys(direct_unlocks))
    edits: list[Edit] = []
    deferred_call = syntax.call_of(statement)
    takes_arguments = deferred_call is None or not syntax.holds_nothing(syntax.call_arguments_node(deferred_call))
    if all(_span(s) in removed for s in top_level) and not _has_comments(body, removed) and not takes_arguments:
        # Nothing else happened in the deferred function: it becomes the direct unlock.
        indent = source.indentation(statement.start_byte)
        text = (source.newline + indent).join(direct_unlocks)
        if not starts_line(source, statement):
            return NoFix("the defer statement shares its line with other code")
        edits.append(Edit(statement.start_byte, statement.end_byte, text))
        deleted.append(_span(statement))
    else:
        for start, end in sorted(removed):
            go_statement = next(s for s in top_level if _span(s) == (start, end))
            span = _whole_lines(source, go_statement)
            if span is None:
                return NoFix("the go statement shares its line with other code")
            deleted.append(span)
        insertion = insert_before(source, statement, direct_unlocks)
        if insertion is None:
            return NoFix("the defer statement shares its line with other code")
        edits.append(insertion)
    edits.extend(Edit.delete(start, end) for start, end in deleted if (start, end) != _span(statement))
    import_edits = remove_import_if_unused(source, b"time", deleted)
    if import_edits is None:
        return NoFix("the time import would become unused")
    edits.extend(import_edits)
    title = "Unlock directly: " + "; ".join(u.decode() for u in direct_unlocks)
    return Fix(title, tuple(edits))


def _has_comments(body: Node, removed: set[tuple[int, int]]) -> bool:
    """Comments of the deferred function outside the statements that go away (they would be lost)."""
    return any(
        syntax.is_comment(node) and not any(start <= node.start_byte < end for start, end in removed) for node in syntax.walk(body)
    )


def _span(node: Node) -> tuple[int, int]:
    return (node.start_byte, node.end_byte)


def _is_context_cancel(source: SourceFile, scopes: FunctionScopes, defer_statement: Node) -> bool:
    """`defer cancel()` for the cancel function of `ctx, cancel := context.With…(…)`: it
    touches no guarded state, so it may run after the direct unlock."""
    call = syntax.call_of(defer_statement)
    callee = syntax.callee(call) if call is not None else None
    callee = syntax.unparen(callee) if callee is not None else None
    context_name = imported_name(source, b"context")
    if not syntax.is_identifier(callee) or context_name is None:
        return False
    decl = scopes.resolve(callee)
    if decl is None or decl.kind != "short" or decl.index != 1:
        return False
    values = syntax.right_side(decl.statement)
    if len(values) != 1 or not syntax.is_call(syntax.unparen(values[0])):
        return False
    function = syntax.callee(syntax.unparen(values[0]))
    return function is not None and source.text(syntax.unparen(function)).startswith(context_name + b".With")
