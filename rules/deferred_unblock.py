"""deferred-unblock: a lock taken in a block and released at its end, with an exit
in between (return, break, continue) that leaves without releasing it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis.nodeindex import nodes_of_types, own_descendants
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import FUNCTION_KINDS, ancestors, next_statement, previous_statement, statements, unparen, walk, walk_no_funcs
from gofix_defer.codemods.edits.insertion import insert_after, insert_before, starts_line
from gofix_defer.codemods.model import Applicability, Diagnostic, Edit, Fix, Rule

_RELEASE = {b"Lock": b"Unlock", b"RLock": b"RUnlock"}
_LOOPS = frozenset({"for_statement"})
_SWITCHES = frozenset({"expression_switch_statement", "type_switch_statement", "select_statement"})
# Names of functions whose job may be to return holding a lock for the caller.
_ACQUIRING_NAME = re.compile(rb"(?i)lock|acquire|grab|hold|enter|begin")
_ERROR_CONSTRUCTORS = frozenset({b"errors.New", b"fmt.Errorf"})
_HANDOVER = ("hands over:",)


@dataclass
class _Pair:
    lock: Node  # the `X.Lock()` statement
    unlock: Node  # the matching `X.Unlock()` statement later in the same block
    receiver: bytes  # X
    release: bytes  # b"Unlock" or b"RUnlock"
    block: Node


class DeferredUnblock(Rule):
    """
    ## What it does
    Finds `X.Lock()` (or `X.RLock()`) followed, in the same block, by the
    matching `X.Unlock()` (or `X.RUnlock()`), where a `return`, `break` or
    `continue` in between leaves the block on a path that never released
    the lock. This is GFix's second strategy applied to locks: the
    unblocking operation that only some paths reach is added to the paths
    that miss it.

    ## Why is this bad
    A lock left held blocks every later `Lock` on it for ever: the next
    caller, and every goroutine behind it, leaks (Cockroach584, Etcd5509,
    gRPC 3017 and Moby 17176 in GoBench).

    ## Example
    ```go
    func (g *gossip) bootstrap() {
        for {
            g.mu.Lock()
            if g.closed {
                break // leaves the loop holding g.mu
            }
            g.mu.Unlock()
        }
    }
    ```

    ## Fix
    When the lock is taken in the function's own body and only a return of
    plain values follows the final unlock, the unlock is deferred right
    after the lock and the explicit unlocks of this pair are removed, so
    every path (panics included) unlocks exactly once:
    ```go
    d.Lock()
    defer d.Unlock()
    if d.deleted == 0 {
        return nil
    }
    ```
    Inside a loop body (where a `defer` would hold the lock until the
    function returns), the lock is released on the path that misses it,
    just before the exit:
    ```go
            if g.closed {
                g.mu.Unlock()
                break
            }
    ```

    ## Fix safety
    Safe where the path cannot be a deliberate hand-over of the lock to the
    caller: a `break`/`continue`, a `return` from a function with no
    results, a `return` of a non-nil error, or any `return` of a function
    whose callers in the same file never unlock after calling it. A
    function named for acquiring (lock, acquire, hold, …) or whose callers
    unlock after calling it is not reported at all: it hands the lock over
    by design, and a `break` out of a loop whose code after the loop
    releases the lock carries it out on purpose. The return's
    values must not read shared state (only literals, variables, and
    `errors.New`/`fmt.Errorf` of those), since they are now evaluated
    after the unlock. Otherwise the finding is reported without a fix.
    Left alone: paths that already unlock, locks released by `defer`,
    blocks that lock or unlock the same lock again in between.
    """

    name = "deferred-unblock"
    summary = "A lock is released at the end of its block, but an early exit leaves it held"
    fix_availability = "sometimes"
    applicability = Applicability.SAFE
    triggers = (b"Unlock()",)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        for function in nodes_of_types(source, FUNCTION_KINDS):
            # A cheap byte test first: most functions release no lock.
            if function.child_by_field_name("body") is None or b"Unlock()" not in source.text(function):
                continue
            for block in own_descendants(source, function.child_by_field_name("body"), ("block",)):
                for pair in _pairs(source, block):
                    yield from self._check_pair(source, function, pair)

    def _check_pair(self, source: SourceFile, function: Node, pair: _Pair) -> Iterator[Diagnostic]:
        between = _statements_between(pair)
        if any(_touches_lock_elsewhere(source, s, pair) for s in between):
            return
        exits = [e for s in between for e in _exits(s, pair.block)]
        held = [e for e in exits if not _released_before(source, e, pair) and not _carried_out(source, function, e, pair)]
        if any(e.type == "goto_statement" or (e.type in ("break_statement", "continue_statement") and e.named_children) for e in held):
            return  # a labelled jump: where it lands is beyond this analysis
        lock_text = f"{pair.receiver.decode()}.{_lock_name(pair).decode()}()"
        release_text = f"{pair.receiver.decode()}.{pair.release.decode()}()"
        release = pair.receiver + b"." + pair.release + b"()"
        blockers = {e.start_byte: _fix_blocker(source, function, e) for e in held}
        # A function named for acquiring, or whose callers unlock after it, returns
        # holding the lock by design: that is no evidence of a bug, so no report.
        held = [e for e in held if not (blockers[e.start_byte] or "").startswith(_HANDOVER)]
        deferred = None
        if held and not any(blockers.values()):
            deferred = _defer_fix(source, function, pair, exits, release, release_text)
        for exit_node in held:
            keyword = source.text(exit_node).split(None, 1)[0].decode()
            message = f"{keyword} leaves the block holding {pair.receiver.decode()} (locked by {lock_text}, released only at the end by {release_text})"
            if deferred is not None:
                yield self.diagnostic(exit_node, f"{message}; defer {release_text} after locking", deferred)
                continue
            blocker = blockers[exit_node.start_byte]
            edit = None
            if blocker is None:
                edit = insert_before(source, exit_node, [release])
                if edit is None:
                    blocker = f"the {keyword} does not start its own line"
            if blocker is not None:
                yield self.diagnostic(exit_node, f"{message} (no fix: {blocker})")
                continue
            fix = Fix(f"Call {release_text} before the {keyword}", (edit,), Applicability.SAFE)
            yield self.diagnostic(exit_node, f"{message}; call {release_text} first", fix)


RULE = DeferredUnblock()


# -- lock / unlock pairs -------------------------------------------------------------


def _lock_call(source: SourceFile, statement: Node) -> tuple[bytes, bytes] | None:
    """`X.M()` as a statement, X a plain name or field path: (X, M)."""
    if statement.type != "expression_statement" or not statement.named_children:
        return None
    call = statement.named_children[0]
    if call.type != "call_expression" or call.child_by_field_name("arguments").named_child_count:
        return None
    function = call.child_by_field_name("function")
    if function is None or function.type != "selector_expression":
        return None
    receiver = unparen(function.child_by_field_name("operand"))
    node = receiver
    while node.type == "selector_expression":
        node = unparen(node.child_by_field_name("operand"))
    if node.type != "identifier":
        return None
    return source.text(receiver), source.text(function.child_by_field_name("field"))


def _lock_name(pair: _Pair) -> bytes:
    return b"Lock" if pair.release == b"Unlock" else b"RLock"


def _pairs(source: SourceFile, block: Node) -> Iterator[_Pair]:
    items = statements(block)
    for index, statement in enumerate(items):
        call = _lock_call(source, statement)
        if call is None or call[1] not in _RELEASE:
            continue
        receiver, method = call
        release = _RELEASE[method]
        for later in items[index + 1 :]:
            other = _lock_call(source, later)
            if other is not None and other[0] == receiver and other[1] in (b"Lock", b"RLock", b"Unlock", b"RUnlock"):
                if other[1] == release:
                    yield _Pair(statement, later, receiver, release, block)
                break


def _statements_between(pair: _Pair) -> list[Node]:
    items = statements(pair.block)
    return items[items.index(pair.lock) + 1 : items.index(pair.unlock)]


def _mentions_lock_call(source: SourceFile, node: Node, pair: _Pair) -> list[Node]:
    found = []
    for inner in walk(node):
        if inner.type == "expression_statement":
            call = _lock_call(source, inner)
            if call is not None and call[0] == pair.receiver and call[1] in (b"Lock", b"RLock", b"Unlock", b"RUnlock"):
                found.append(inner)
        elif inner.type in ("defer_statement", "go_statement") and pair.receiver + b"." in source.text(inner):
            found.append(inner)
    return found


def _touches_lock_elsewhere(source: SourceFile, statement: Node, pair: _Pair) -> bool:
    """True when the lock is taken or released in ways other than `X.Unlock()` right
    before an exit (those are the paths that already release it)."""
    for use in _mentions_lock_call(source, statement, pair):
        if use.type != "expression_statement" or _lock_call(source, use)[1] != pair.release:
            return True
        following = next_statement(use)
        if following is None or following.type not in ("return_statement", "break_statement", "continue_statement"):
            return True
    return False


def _exits(statement: Node, block: Node) -> list[Node]:
    """Returns, gotos, and breaks/continues inside ``statement`` that leave ``block``."""
    found = []
    for node in walk_no_funcs(statement):
        if node.type in ("return_statement", "goto_statement"):
            found.append(node)
        elif node.type in ("break_statement", "continue_statement"):
            if node.named_children:
                found.append(node)  # labelled: handled (left alone) by the caller
                continue
            targets = _LOOPS | (_SWITCHES if node.type == "break_statement" else frozenset())
            inner = False
            for parent in ancestors(node):
                if parent == block:
                    break
                if parent.type in targets:
                    inner = True
                    break
            if not inner:
                found.append(node)
    return found


def _carried_out(source: SourceFile, function: Node, exit_node: Node, pair: _Pair) -> bool:
    """A break that leaves the loop holding the lock on purpose: code after the loop
    releases it (`break` out of a retry loop, then `defer X.Unlock()`)."""
    if exit_node.type != "break_statement":
        return False
    loop = next((a for a in ancestors(exit_node) if a.type in _LOOPS), None)
    if loop is None:
        return False
    releases = (pair.receiver + b"." + pair.release + b"(", pair.receiver + b".Unlock(", pair.receiver + b".RUnlock(")
    for node in walk_no_funcs(function.child_by_field_name("body")):
        if node.start_byte >= loop.end_byte and node.type in ("expression_statement", "defer_statement"):
            if any(r in source.text(node) for r in releases):
                return True
    return False


def _released_before(source: SourceFile, exit_node: Node, pair: _Pair) -> bool:
    previous = previous_statement(exit_node)
    if previous is None:
        return False
    call = _lock_call(source, previous)
    return call is not None and call[0] == pair.receiver and call[1] == pair.release


# -- is the fix right? ------------------------------------------------------------


def _defer_fix(source: SourceFile, function: Node, pair: _Pair, exits: list[Node], release: bytes, release_text: str) -> Fix | None:
    """When the lock is taken in the function's own body: `defer X.Unlock()` right after
    the lock, and every explicit unlock of this pair removed (the final one and those
    just before exits), so each path, panics included, unlocks exactly once.

    Only when nothing but a return of lock-free values follows the final unlock: the
    deferred unlock then runs where the explicit one did, give or take evaluating those
    values."""
    if pair.block != function.child_by_field_name("body"):
        return None
    items = statements(pair.block)
    after = items[items.index(pair.unlock) + 1 :]
    if after:
        if len(after) != 1 or after[0].type != "return_statement" or _fix_blocker(source, function, after[0], values_only=True):
            return None
    removals = [pair.unlock] + [previous_statement(e) for e in exits if _released_before(source, e, pair)]
    edits = []
    for statement in removals:
        edit = _delete_line(source, statement)
        if edit is None:
            return None
        edits.append(edit)
    insertion = insert_after(source, pair.lock, [b"defer " + release])
    if insertion is None:
        return None
    edits.append(insertion)
    return Fix(f"Defer {release_text} right after locking", tuple(edits), Applicability.SAFE)


def _delete_line(source: SourceFile, statement: Node) -> Edit | None:
    """Delete a statement that is alone on its line, line ending included."""
    if not starts_line(source, statement):
        return None
    end = source.line_end(statement.end_byte)
    if source.data[statement.end_byte : end].strip(b" \t\r"):
        return None  # a trailing comment or another statement shares the line
    return Edit.delete(source.line_start(statement.start_byte), min(end + 1, len(source.data)))


def _fix_blocker(source: SourceFile, function: Node, exit_node: Node, values_only: bool = False) -> str | None:
    if exit_node.type != "return_statement":
        return None
    values = [c for c in exit_node.named_children if c.type != "comment"]
    if values and values[0].type == "expression_list":
        values = [c for c in values[0].named_children if c.type != "comment"]
    for value in values:
        if not _reads_no_shared_state(source, value):
            return "the returned values would be read after the unlock"
    if values_only:
        return None
    if not values and _result_count(function) == 0:
        return None
    if values and _is_error_value(source, values[-1]):
        return None
    name = function.child_by_field_name("name") if function.type != "function_literal" else None
    if name is None:
        return "the function may hand the lock to its caller"
    if _ACQUIRING_NAME.search(source.text(name)):
        return f"hands over: {source.text(name).decode()} is named for acquiring"
    callers = _callers(source, source.text(name))
    if not callers:
        return "no caller in this file shows whether the lock is handed over"
    if any(_unlocks_after(source, caller) for caller in callers):
        return "hands over: a caller unlocks after calling it"
    return None


def _result_count(function: Node) -> int:
    result = function.child_by_field_name("result")
    if result is None:
        return 0
    if result.type == "parameters":
        return max(1, result.named_child_count)
    return 1


def _reads_no_shared_state(source: SourceFile, value: Node) -> bool:
    value = unparen(value)
    if value.type in ("identifier", "int_literal", "float_literal", "interpreted_string_literal", "raw_string_literal", "rune_literal"):
        return True
    if value.type == "call_expression" and source.text(value.child_by_field_name("function")) in _ERROR_CONSTRUCTORS:
        return all(_reads_no_shared_state(source, a) for a in value.child_by_field_name("arguments").named_children)
    return False


def _is_error_value(source: SourceFile, value: Node) -> bool:
    value = unparen(value)
    if value.type == "call_expression":
        return source.text(value.child_by_field_name("function")) in _ERROR_CONSTRUCTORS
    return value.type == "identifier" and re.match(rb"(Err|err)", source.text(value)) is not None


def _callers(source: SourceFile, name: bytes) -> list[Node]:
    """Statements' enclosing functions that call ``name`` (as f(…) or x.f(…))."""
    callers = []
    for node in walk(source.root):
        if node.type != "call_expression":
            continue
        function = node.child_by_field_name("function")
        if function is None:
            continue
        if function.type == "selector_expression":
            function = function.child_by_field_name("field")
        if function is not None and source.text(function) == name:
            callers.append(node)
    return callers


def _unlocks_after(source: SourceFile, call: Node) -> bool:
    owner = next((a for a in ancestors(call) if a.type in FUNCTION_KINDS), None)
    if owner is None:
        return False
    body = owner.child_by_field_name("body")
    for node in walk_no_funcs(body):
        if node.type == "call_expression" and node.start_byte > call.start_byte:
            function = node.child_by_field_name("function")
            if function is not None and function.type == "selector_expression" and source.text(function.child_by_field_name("field")) in (b"Unlock", b"RUnlock"):
                return True
    return False
