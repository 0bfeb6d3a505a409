"""async-unlock: a deferred goroutine releases a lock the function took."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis.imports import imported_name
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types, own_descendants
from gofix_defer.codemods.analysis.scope import FunctionScopes, same_variable
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import (
    FUNCTION_KINDS,
    call_of,
    called_function_literal,
    expression_list_items,
    root_identifier,
    statements,
    unparen,
    walk,
    walk_no_funcs,
)
from gofix_defer.codemods.edits.import_removal import remove_import_if_unused
from gofix_defer.codemods.edits.insertion import ends_line, insert_before, starts_line
from gofix_defer.codemods.model import Diagnostic, Edit, Fix, Rule

# Each release method and the acquire method it pairs with.
_RELEASE_OF = {b"Unlock": b"Lock", b"RUnlock": b"RLock"}
_ACQUIRE = frozenset(_RELEASE_OF.values())


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

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        for function in nodes_of_types(source, FUNCTION_KINDS):
            if function.child_by_field_name("body") is None:
                continue
            defers = own_descendants(source, function.child_by_field_name("body"), ("defer_statement",))
            defers = [d for d in defers if called_function_literal(d) is not None and b"Unlock" in source.text(d)]
            if not defers:
                continue
            scopes = source.scopes(function)
            for statement in defers:
                yield from self._check_defer(source, scopes, function, statement)

    def _check_defer(self, source: SourceFile, scopes: FunctionScopes, function: Node, statement: Node) -> Iterator[Diagnostic]:
        deferred = called_function_literal(statement)
        releases, locks = [], []
        for release in _async_releases(source, deferred):
            lock = _held_by(source, scopes, function, statement, release)
            if lock is not None:
                releases.append(release)
                locks.append(lock)
        if not releases:
            return
        names = ", ".join(dict.fromkeys(f"{r.receiver.decode()}.{r.method.decode()}()" for r in releases))
        message = (
            f"lock taken by this function is released asynchronously ({names} in a goroutine started by a deferred function):"
            " other callers stall until the goroutine runs, or for ever if it blocks first; unlock directly with defer"
        )
        fix, reason = _build_fix(source, statement, deferred, releases)
        earliest_lock = min(lock.start_byte for lock in locks)
        if fix is not None and any(
            n.type == "defer_statement" and earliest_lock < n.start_byte < statement.start_byte and not _is_context_cancel(source, scopes, n)
            for n in walk_no_funcs(function.child_by_field_name("body"))
        ):
            # Those deferred calls ran with the lock still held; a direct unlock here would run before them.
            fix, reason = None, "calls deferred between the lock and this defer would run after a direct unlock"
        if fix is None:
            message += f" (no fix: {reason})"
        yield self.diagnostic(releases[0].call, message, fix)


RULE = AsyncUnlock()


@dataclass(frozen=True)
class _Release:
    call: Node  # the X.Unlock() call_expression
    receiver: bytes  # X, as spelled
    method: bytes  # Unlock or RUnlock
    go_statement: Node  # the go statement that runs it
    goroutine: Node | None  # the goroutine's func literal; None for `go X.Unlock()`


def _lock_call(source: SourceFile, node: Node) -> tuple[bytes, bytes, Node] | None:
    """For `X.M()` with M a lock method and no arguments: (X's text, M, X)."""
    if node.type != "call_expression":
        return None
    function = unparen(node.child_by_field_name("function"))
    arguments = node.child_by_field_name("arguments")
    if function.type != "selector_expression" or arguments is None or arguments.named_child_count:
        return None
    method = source.text(function.child_by_field_name("field"))
    if method not in _RELEASE_OF and method not in _ACQUIRE:
        return None
    operand = function.child_by_field_name("operand")
    return source.text(operand), method, operand


def _async_releases(source: SourceFile, deferred: Node) -> list[_Release]:
    """Unlock calls run by goroutines the deferred literal starts (not by nested literals of theirs)."""
    found = []
    for node in walk_no_funcs(deferred.child_by_field_name("body")):
        if node.type != "go_statement":
            continue
        call = call_of(node)
        if call is None:
            continue
        direct = _lock_call(source, call)
        if direct is not None:
            if direct[1] in _RELEASE_OF:
                found.append(_Release(call, direct[0], direct[1], node, None))
            continue
        goroutine = called_function_literal(node)
        if goroutine is None:
            continue
        calls = []
        for inner in walk_no_funcs(goroutine):
            found_call = _lock_call(source, inner)
            if found_call is not None:
                calls.append((*found_call, inner))
        # A goroutine that takes the lock itself releases its own acquisition: not this bug.
        own = {receiver for receiver, method, _, _ in calls if method in _ACQUIRE}
        for receiver, method, _, call_node in calls:
            if method in _RELEASE_OF and receiver not in own:
                found.append(_Release(call_node, receiver, method, node, goroutine))
    return found






def _held_by(source: SourceFile, scopes: FunctionScopes, function: Node, statement: Node, release: _Release) -> Node | None:
    """The Lock call by which the function itself holds the lock when the defer
    statement runs (None when it does not, or releases it elsewhere too)."""
    release_operand = unparen(release.call.child_by_field_name("function")).child_by_field_name("operand")
    acquire = _RELEASE_OF[release.method]
    last_before: tuple[bytes, Node] | None = None
    for node in walk_no_funcs(function.child_by_field_name("body")):
        found = _lock_call(source, node)
        if found is None or found[0] != release.receiver or not same_variable(scopes, found[2], release_operand):
            continue
        receiver, method, _ = found
        if node.start_byte < statement.start_byte:
            last_before = (method, node)
        elif method == release.method:
            return None  # released again later by the function: not a lock the goroutine owns
    return last_before[1] if last_before is not None and last_before[0] == acquire else None


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
    time_name = imported_name(source, b"time")
    if statement.type != "expression_statement" or time_name is None:
        return False
    call = unparen(statement.named_children[0])
    if call.type != "call_expression":
        return False
    function = unparen(call.child_by_field_name("function"))
    return function.type == "selector_expression" and source.text(function) == time_name + b".Sleep"


def _root_name(source: SourceFile, release: _Release) -> bytes | None:
    """The variable that owns the lock: `s` for `s.mu.Unlock()`, `mu` for `mu.Unlock()`."""
    operand = unparen(release.call.child_by_field_name("function")).child_by_field_name("operand")
    root = root_identifier(operand)
    return source.text(root) if root is not None else None


def _may_touch_guarded_state(source: SourceFile, statement: Node, owners: set[bytes | None]) -> bool:
    """Assignments, or any use of a lock owner's name: work that may need the lock held."""
    for node in walk(statement):
        if node.type in ("assignment", "inc_dec_statement", "short_var_declaration"):
            return True
        if node.type == "identifier" and source.text(node) in owners:
            return True
    return False


def _build_fix(source: SourceFile, statement: Node, deferred: Node, releases: list[_Release]) -> tuple[Fix | None, str]:
    body = deferred.child_by_field_name("body")
    top_level = statements(body)
    deleted: list[tuple[int, int]] = []
    removed: set[tuple[int, int]] = set()  # statements of the deferred literal that go away entirely
    by_go: dict[tuple[int, int], list[_Release]] = {}
    for release in releases:
        if _span(release.go_statement) not in {_span(s) for s in top_level}:
            return None, "the goroutine is started conditionally or in a loop"
        by_go.setdefault((release.go_statement.start_byte, release.go_statement.end_byte), []).append(release)

    for group in by_go.values():
        go_statement = group[0].go_statement
        goroutine = group[0].goroutine
        if goroutine is None:
            removed.add((go_statement.start_byte, go_statement.end_byte))
            continue
        if goroutine.child_by_field_name("parameters").named_child_count:
            return None, "the goroutine takes arguments"
        inner = statements(goroutine.child_by_field_name("body"))
        inner_spans = {_span(s) for s in inner}
        unlock_statements = []
        for release in group:
            # `X.Unlock()` as a statement, or `defer X.Unlock()` (then everything else runs before it).
            holder = release.call.parent
            if holder is None or holder.type not in ("expression_statement", "defer_statement") or _span(holder) not in inner_spans:
                return None, f"{release.receiver.decode()}.{release.method.decode()}() is not a plain statement of the goroutine"
            unlock_statements.append(holder)
        if any(s.type == "defer_statement" for s in unlock_statements):
            first_unlock = goroutine.end_byte
        else:
            first_unlock = min(s.start_byte for s in unlock_statements)
        unlock_spans = {_span(s) for s in unlock_statements}
        owners = {_root_name(source, r) for r in group}
        for earlier in inner:
            if earlier.start_byte >= first_unlock or _span(earlier) in unlock_spans or _is_sleep(source, earlier):
                continue
            if _may_touch_guarded_state(source, earlier, owners):
                return None, "the goroutine does other work while it still holds the lock; moving the unlock would run it unlocked"
        remaining = [s for s in inner if _span(s) not in unlock_spans]
        if all(_is_sleep(source, s) for s in remaining):
            removed.add((go_statement.start_byte, go_statement.end_byte))
        else:
            for unlock in unlock_statements:
                span = _whole_lines(source, unlock)
                if span is None:
                    return None, "the unlock shares its line with other code"
                deleted.append(span)

    direct_unlocks = [f"defer {r.receiver.decode()}.{r.method.decode()}()".encode() for r in releases]
    direct_unlocks = list(dict.fromkeys(direct_unlocks))
    edits: list[Edit] = []
    arguments = call_of(statement).child_by_field_name("arguments")
    if all(_span(s) in removed for s in top_level) and not _has_comments(body, removed) and not arguments.named_child_count:
        # Nothing else happened in the deferred function: it becomes the direct unlock.
        indent = source.indentation(statement.start_byte)
        text = (source.newline + indent).join(direct_unlocks)
        if not starts_line(source, statement):
            return None, "the defer statement shares its line with other code"
        edits.append(Edit(statement.start_byte, statement.end_byte, text))
        deleted.append((statement.start_byte, statement.end_byte))
    else:
        for start, end in sorted(removed):
            go_statement = next(s for s in top_level if (s.start_byte, s.end_byte) == (start, end))
            span = _whole_lines(source, go_statement)
            if span is None:
                return None, "the go statement shares its line with other code"
            deleted.append(span)
        insertion = insert_before(source, statement, direct_unlocks)
        if insertion is None:
            return None, "the defer statement shares its line with other code"
        edits.append(insertion)
    edits.extend(Edit.delete(start, end) for start, end in deleted if (start, end) != (statement.start_byte, statement.end_byte))
    import_edits = remove_import_if_unused(source, b"time", deleted)
    if import_edits is None:
        return None, "the time import would become unused"
    edits.extend(import_edits)
    title = "Unlock directly: " + "; ".join(u.decode() for u in direct_unlocks)
    return Fix(title, tuple(edits)), ""


def _has_comments(body: Node, removed: set[tuple[int, int]]) -> bool:
    """Comments of the deferred function outside the statements that go away (they would be lost)."""
    return any(
        node.type == "comment" and not any(start <= node.start_byte < end for start, end in removed) for node in walk(body)
    )


def _span(node: Node) -> tuple[int, int]:
    return (node.start_byte, node.end_byte)


def _is_context_cancel(source: SourceFile, scopes: FunctionScopes, defer_statement: Node) -> bool:
    """`defer cancel()` for the cancel function of `ctx, cancel := context.With…(…)`: it
    touches no guarded state, so it may run after the direct unlock."""
    call = call_of(defer_statement)
    callee = unparen(call.child_by_field_name("function")) if call is not None else None
    context_name = imported_name(source, b"context")
    if callee is None or callee.type != "identifier" or context_name is None:
        return False
    decl = scopes.resolve(callee)
    if decl is None or decl.kind != "short" or decl.index != 1:
        return False
    values = expression_list_items(decl.statement.child_by_field_name("right"))
    if len(values) != 1 or unparen(values[0]).type != "call_expression":
        return False
    function = unparen(unparen(values[0]).child_by_field_name("function"))
    return source.text(function).startswith(context_name + b".With")
