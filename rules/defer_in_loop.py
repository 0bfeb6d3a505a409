"""defer-in-loop: a `defer` directly in a loop body runs only when the function returns."""

from __future__ import annotations

from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.scope import FunctionScopes
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import FUNCTION_KINDS, ancestors, expression_list_items, identifiers, is_inside, statements, unparen, walk_no_funcs
from gofix_defer.codemods.model import Applicability, Diagnostic, Edit, Fix, Rule

# Statements an unlabelled `break` can leave, and those a `continue` can resume.
_BREAKABLE = frozenset({"for_statement", "expression_switch_statement", "type_switch_statement", "select_statement"})


class DeferInLoop(Rule):
    """
    ## What it does
    Finds a `defer` statement that sits in the body of a `for` loop of its
    own function (not inside a function literal within the loop), where the
    loop can go round again after the defer ran.

    Left alone, because holding until the function returns is then what the
    code means, or the defer runs at most once:
    - nothing of the iteration runs after the `defer` (it is the last
      statement of its block, and that block the last of the body):
      releasing at the end of the iteration would undo the acquisition at
      once, e.g. locking every mutex of a list for the rest of the function;
    - no path after the `defer` leads back into the loop: the statements
      after it end in `return` or `panic(…)`, or in a `break` of the loop
      (when no outer loop of the function could bring control back), with
      no `continue` or `goto` on the way;
    - the defer sits in a lazy set-up, `if x == nil { x = …; defer … }`,
      whose condition tests a variable from outside the loop that the
      branch assigns;
    - the resource outlives the iteration on purpose: a variable declared
      in the body that the deferred call uses (or a field of it) is
      assigned to another variable, appended, sent on a channel, put in a
      composite literal, captured by a function literal or used by a `go`
      statement; or the deferred call releases an element of a collection
      declared outside the loop (`defer servers[i].Close()`).

    ## Why is this bad
    Deferred calls run when the surrounding *function* returns, not at the
    end of the loop iteration. Every iteration adds one more pending call:
    files and database rows stay open, and locks stay held, until the loop
    and everything after it have finished. A long loop runs out of file
    descriptors or connections; a lock taken with `mu.Lock(); defer
    mu.Unlock()` in a loop blocks every goroutine that needs it — and the
    second iteration deadlocks on it.

    ## Example
    ```go
    for _, name := range names {
        f, err := os.Open(name)
        if err != nil {
            log.Fatal(err)
        }
        defer f.Close() // every file stays open until the function returns
        process(f)
    }
    ```

    ## Fix
    When nothing in the loop body leaves the iteration early (`break`,
    `continue`, `return`, `goto`, or a jump to a label outside the body;
    jumps that stay within the body, such as a `break` out of a nested
    `switch` or a `continue` of a nested loop, are fine), the body is
    wrapped in a function literal that is called at once, so each
    iteration's defers run at the end of that iteration:
    ```go
    for _, name := range names {
        func() {
            f, err := os.Open(name)
            if err != nil {
                log.Fatal(err)
            }
            defer f.Close()
            process(f)
        }()
    }
    ```
    The body is re-indented one tab deeper, as gofmt lays it out. Reported
    without a fix: bodies that leave the iteration early (turning a
    `continue` into a `return` is left to the author), bodies that call
    `recover()` (it would stop recovering), bodies holding a multi-line raw
    string or block comment (re-indenting would change them), and bodies
    whose braces do not stand on lines of their own.

    ## Fix safety
    Unsafe: the deferred calls now run at the end of each iteration instead
    of when the function returns. That is the point, but code after the loop
    that still used one of those resources (a file, a held lock) would now
    see it closed or unlocked.
    """

    name = "defer-in-loop"
    summary = "defer inside a loop body holds every resource until the function returns"
    fix_availability = "sometimes"
    applicability = Applicability.UNSAFE
    triggers = (b"defer",)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        scopes_by_function: dict[tuple[int, int], FunctionScopes] = {}
        for node in nodes_of_types(source, ("defer_statement",)):
            loop = _innermost_loop(node)
            if loop is None:
                continue
            body = loop.child_by_field_name("body")
            if body is None or not is_inside(node, body):
                continue
            function = _function_of(node)
            if function is None:
                continue
            key = (function.start_byte, function.end_byte)
            if key not in scopes_by_function:
                scopes_by_function[key] = source.scopes(function)
            scopes = scopes_by_function[key]
            if _runs_once_or_on_purpose(source, scopes, node, loop, body):
                continue
            yield from self._report(source, node, loop, body)

    def _report(self, source: SourceFile, defer: Node, loop: Node, body: Node) -> Iterator[Diagnostic]:
        message = "defer in a loop body runs only when the function returns; every iteration holds its resource until then"
        blocker = _fix_blocker(source, body)
        if blocker is not None:
            yield self.diagnostic(defer, f"{message} (no fix: {blocker})")
            return
        edit = _wrap_body(source, body)
        if edit is None:
            yield self.diagnostic(defer, f"{message} (no fix: the loop body's braces do not stand on their own lines)")
            return
        fix = Fix("Wrap the loop body in a function literal called at once", (edit,), Applicability.UNSAFE)
        yield self.diagnostic(defer, message, fix)


RULE = DeferInLoop()


# -- where the defer is ------------------------------------------------------
def _function_of(node: Node) -> Node | None:
    """The function holding ``node`` (None only in code that does not parse)."""
    for parent in ancestors(node):
        if parent.type in FUNCTION_KINDS:
            return parent
    return None


def _innermost_loop(node: Node) -> Node | None:
    """The nearest for statement around ``node`` within its own function."""
    for parent in ancestors(node):
        if parent.type in FUNCTION_KINDS:
            return None
        if parent.type == "for_statement":
            return parent
    return None


# -- when the report would be noise -------------------------------------------
def _runs_once_or_on_purpose(source: SourceFile, scopes: FunctionScopes, defer: Node, loop: Node, body: Node) -> bool:
    if _ends_iteration(defer, body):
        return True
    if not _may_run_again(source, defer, loop, body):
        return True
    if _guarded_once(source, scopes, defer, body, loop):
        return True
    return _deferred_resource_escapes(source, scopes, defer, body)


def _ends_iteration(defer: Node, body: Node) -> bool:
    """True when nothing of the iteration runs after ``defer`` (it is last in every block up to the body).

    Releasing at the end of the iteration would then undo the acquisition at
    once, so holding the resource until the function returns is the intent
    (e.g. locking every mutex of a list, keeping duplicated handles open for
    code after the loop).
    """
    node = defer
    while node != body:
        container = node.parent
        if container is None:
            return False
        siblings = [c for c in container.named_children if c.type != "comment"]
        if siblings and siblings[-1] != node and syntax.is_block(container):
            return False
        if not (syntax.is_block(container) or syntax.is_if(container) or syntax.is_labeled(container)):
            return False  # a case clause or other construct: do not guess
        node = container
    return True


def _may_run_again(source: SourceFile, defer: Node, loop: Node, body: Node) -> bool:
    """False when, once ``defer`` has run, no path leads back into ``loop``.

    Follows the statements after the defer outwards, block by block, as
    control falls through them: a `return` or `panic(…)` ending the rest of
    a block leaves the function; a `break` of the loop leaves it (when no
    outer loop of the same function could bring control back); a `continue`
    or `goto` may lead back, and so does reaching the end of the loop body.
    """
    in_outer_loop = _innermost_loop(loop) is not None
    node = defer
    while True:
        container = node.parent
        if container is None:
            return True
        siblings = [c for c in container.named_children if c.type != "comment"]
        rest = siblings[siblings.index(node) + 1 :]
        verdict = _rest_verdict(source, rest, loop, in_outer_loop)
        if verdict != "falls through":
            return verdict == "loops"
        holder = container
        if holder is None or holder == body:
            return True
        if holder.type == "block":
            parent = holder.parent
            if parent is not None and parent.type == "if_statement":
                node = parent
                while node.parent is not None and node.parent.type == "if_statement":
                    node = node.parent  # an else-if chain falls through as one statement
            elif syntax.holds_statements(parent):
                node = holder
            else:
                return True
        elif syntax.is_case_clause(holder) and holder.parent is not None:
            node = holder.parent  # falling off a case clause continues after the switch/select
        else:
            return True
        while node.parent is not None and node.parent.type == "labeled_statement":
            node = node.parent


def _rest_verdict(source: SourceFile, rest: list[Node], loop: Node, in_outer_loop: bool) -> str:
    """"loops", "exits" or "falls through", for the statements after a defer in one block."""
    for statement in rest:
        for node in walk_no_funcs(statement):
            if node.type == "goto_statement":
                return "loops"
            if node.type not in ("break_statement", "continue_statement"):
                continue
            target = _resolve_jump(source, node)
            if target is not None and any(is_inside(target, s) for s in rest):
                continue  # a jump within the rest of the block
            if node.type == "continue_statement" or target is None:
                return "loops"
            if target.type == "for_statement" and (target != loop or in_outer_loop):
                return "loops"
            # A break of the loop ends it; a break of an enclosing switch or
            # select continues after it, which the caller follows outwards.
    if rest and _terminates(source, rest[-1]):
        return "exits"
    if rest and rest[-1].type == "break_statement" and _resolve_jump(source, rest[-1]) == loop and not in_outer_loop:
        return "exits"
    return "falls through"


def _resolve_jump(source: SourceFile, jump: Node) -> Node | None:
    """The statement a break/continue leaves or resumes (None: not found in this function)."""
    label = _label_of(source, jump)
    if label is None:
        return _jump_target(jump, continue_only=jump.type == "continue_statement")
    for parent in ancestors(jump):
        if parent.type in FUNCTION_KINDS:
            return None
        if parent.type == "labeled_statement":
            name = parent.child_by_field_name("label")
            if name is not None and source.text(name) == label:
                return syntax.labeled_body(parent)
    return None


def _guarded_once(source: SourceFile, scopes: FunctionScopes, defer: Node, body: Node, loop: Node) -> bool:
    """`if cache == nil { cache = …; defer release(cache) }`: a lazy set-up that runs once.

    True when an `if` around the defer tests a variable declared outside the
    loop that its own branch assigns.
    """
    for parent in ancestors(defer):
        if parent == body:
            return False
        if parent.type != "if_statement":
            continue
        consequence = parent.child_by_field_name("body")
        condition = parent.child_by_field_name("condition")
        if consequence is None or condition is None or not is_inside(defer, consequence):
            continue
        tested = {source.text(i) for i in identifiers(condition) if _declared_outside(scopes, i, loop)}
        for node in walk_no_funcs(consequence):
            if node.type == "assignment":
                for target in expression_list_items(node.child_by_field_name("left")):
                    if target.type == "identifier" and source.text(target) in tested:
                        return True
    return False


def _declared_outside(scopes: FunctionScopes, ident: Node, loop: Node) -> bool:
    decl = scopes.resolve(ident)
    return decl is None or not is_inside(decl.ident, loop)


def _terminates(source: SourceFile, statement: Node) -> bool:
    """A Go terminating statement (the cases that matter here)."""
    if statement.type == "return_statement":
        return True
    if statement.type == "expression_statement":
        call = unparen(statement.named_children[0]) if statement.named_children else None
        if call is not None and call.type == "call_expression":
            function = call.child_by_field_name("function")
            return function is not None and source.text(function) == b"panic"
        return False
    if statement.type == "block":
        inner = statements(statement)
        return bool(inner) and _terminates(source, inner[-1])
    if statement.type == "if_statement":
        consequence = statement.child_by_field_name("body")
        alternative = statement.child_by_field_name("else")
        if consequence is None or alternative is None:
            return False
        return _terminates(source, consequence) and _terminates(source, alternative)
    return False


def _deferred_resource_escapes(source: SourceFile, scopes: FunctionScopes, defer: Node, body: Node) -> bool:
    """True when what the deferred call releases is kept beyond the iteration.

    Either a variable declared in the loop body that the call uses is stored
    somewhere that outlives the iteration (see ``_stored``), or the call
    releases an element of a collection declared outside the loop
    (`defer servers[i].Close()`).
    """
    local = []
    for ident in identifiers(defer):
        decl = scopes.resolve(ident)
        if decl is None or is_inside(decl.ident, defer):
            continue
        if not is_inside(decl.ident, body):
            parent = ident.parent
            if parent is not None and parent.type == "index_expression" and parent.child_by_field_name("operand") == ident:
                return True
            continue
        if decl not in local:
            local.append(decl)
    for decl in local:
        for ref in scopes.references(decl, within=body):
            if not is_inside(ref, defer) and _stored(source, ref, body):
                return True
    return False


def _stored(source: SourceFile, ref: Node, body: Node) -> bool:
    """True when this use of a variable keeps its value beyond the iteration.

    Captured by a function literal or used by a `go` statement (either may
    run after the iteration), or the value itself is assigned, appended,
    sent on a channel or put into a composite literal.
    """
    for parent in ancestors(ref):
        if parent == body:
            break
        if parent.type in ("function_literal", "go_statement"):
            return True
    node = ref
    parent = node.parent
    while parent is not None and (
        parent.type == "parenthesized_expression"
        or (parent.type == "unary_expression" and source.text(parent).startswith(b"&"))
        or (parent.type == "selector_expression" and not _is_called(parent))  # a field: `ch = timer.C`
    ):
        node, parent = parent, parent.parent
    if parent is None:
        return False
    if parent.type == "send_statement" and parent.child_by_field_name("value") == node:
        return True
    if parent.type in ("keyed_element", "literal_value"):
        return True
    if parent.type == "arguments":
        call = parent.parent
        function = call.child_by_field_name("function") if call is not None else None
        return function is not None and source.text(function) == b"append"
    if parent.type == "expression_list":
        holder = parent.parent
        if holder is None or holder.type != "assignment" or holder.child_by_field_name("right") != parent:
            return False
        targets = expression_list_items(holder.child_by_field_name("left"))
        return any(source.text(t) != b"_" for t in targets)  # `_ = f` keeps nothing
    return False


def _is_called(selector: Node) -> bool:
    parent = selector.parent
    return parent is not None and parent.type == "call_expression" and parent.child_by_field_name("function") == selector


# -- the fix -----------------------------------------------------------------
def _fix_blocker(source: SourceFile, body: Node) -> str | None:
    """Why wrapping ``body`` in `func() { … }()` would change more than the defers."""
    labels_inside = {source.text(n.child_by_field_name("label") or n.named_children[0]) for n in walk_no_funcs(body) if n.type == "labeled_statement"}
    for node in walk_no_funcs(body):
        kind = node.type
        if kind == "return_statement":
            return "the loop body returns from the function"
        if kind == "call_expression":
            function = node.child_by_field_name("function")
            if function is not None and source.text(function) == b"recover":
                return "the loop body calls recover()"
        if kind in ("raw_string_literal", "comment") and b"\n" in source.text(node).rstrip(b"\r\n"):
            return "the loop body holds a multi-line string or comment"
        if kind in ("break_statement", "continue_statement", "goto_statement"):
            label = _label_of(source, node)
            if label is not None:
                if label not in labels_inside:
                    return f"the loop body jumps to label {label.decode()} outside it"
                continue
            if kind == "goto_statement":
                continue
            target = _jump_target(node, continue_only=kind == "continue_statement")
            if target is None or not is_inside(target, body):
                word = "break" if kind == "break_statement" else "continue"
                return f"the loop body leaves the iteration with {word}"
    return None


def _label_of(source: SourceFile, jump: Node) -> bytes | None:
    label = next((c for c in jump.named_children if c.type == "label"), None)
    return source.text(label) if label is not None else None


def _jump_target(jump: Node, continue_only: bool) -> Node | None:
    """The statement an unlabelled break/continue leaves (None: none in this function)."""
    for parent in ancestors(jump):
        if parent.type in FUNCTION_KINDS:
            return None
        if parent.type == "for_statement" or (not continue_only and parent.type in _BREAKABLE):
            return parent
    return None


def _wrap_body(source: SourceFile, body: Node) -> Edit | None:
    """Replace the inside of ``{ … }`` with `func() { … }()`, one tab deeper.

    Needs the braces on lines of their own (the usual gofmt layout), so that
    the new lines can be laid out exactly as gofmt would.
    """
    data = source.data
    open_end = body.start_byte + 1
    close_start = body.end_byte - 1
    after_open = data[open_end : source.line_end(open_end)].strip(b" \t\r")
    if after_open:
        return None  # something (code or a comment) follows `{` on its line
    if data[source.line_start(close_start) : close_start].strip(b" \t") != b"":
        return None
    indent = source.indentation(close_start)
    nl = source.newline
    first_line = source.line_end(open_end) + 1
    inner = data[first_line : source.line_start(close_start)]
    lines = inner.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    deeper = []
    for line in lines:
        content = line.rstrip(b"\r")
        deeper.append(b"\t" + content if content.strip() else b"")
    text = nl.join([b"", indent + b"\tfunc() {", *deeper, indent + b"\t}()", indent])
    start = source.line_end(open_end)
    if data[start - 1 : start] == b"\r":
        start -= 1  # replace the whole line ending after `{`, CRLF included
    return Edit(start, close_start, text)
