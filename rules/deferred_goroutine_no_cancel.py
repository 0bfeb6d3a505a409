"""deferred-goroutine-no-cancel: a deferred function starts a goroutine nothing can stop."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.blocking import (
    SELECTABLE,
    BlockingOperation,
    Kind,
    channel_predicate,
    classify,
    loop_label,
    unlabelled_breaks_of,
)
from gofix_defer.codemods.imports import add_import
from gofix_defer.codemods.insertion import insert_before
from gofix_defer.codemods.merge import apply_edits
from gofix_defer.codemods.model import Applicability, Diagnostic, Edit, Fix, Rule
from gofix_defer.codemods.scope import FunctionScopes, fresh_name, names_used
from gofix_defer.codemods.source import SourceFile
from gofix_defer.codemods.tree import FUNCTION_TYPES, called_func_literal, enclosing_function, is_inside, statements, unparen, walk, walk_no_funcs


class DeferredGoroutineNoCancel(Rule):
    """
    ## What it does
    Finds a deferred function literal (`defer func() { … }()`) that starts a
    goroutine which outlives the function with no way to stop it: the
    goroutine blocks on a channel send or receive, ranges over a channel,
    loops with no exit, or sleeps / waits on a timer before acting.

    Left alone, for lack of evidence: a goroutine that already waits on a
    `Done()` channel or holds any `select` (its lifetime is bound on
    purpose, e.g. `<-ctx.Done(); conn.Close()`), a goroutine with no
    blocking operation, one that only calls a function whose body the tool
    cannot see (`go s.Run(x)`). Channel operations count as evidence only on
    a channel made (or declared nil) in the function that nothing else can
    serve: a parameter, field or package channel has another side out of
    sight, and a local one that is closed, used after the `go` statement,
    used in another func literal, or handed to a call is served elsewhere.

    ## Why is this bad
    The deferred call runs as the function returns, so the goroutine it
    starts belongs to nobody: no caller can wait for it or cancel it. If it
    blocks on a channel nobody serves, it leaks for the life of the process
    (with everything it references); if it sleeps before acting, it acts
    long after the request or lock it was about has gone.

    ## Example
    ```go
    func (s *Server) handle(req string) {
        s.mu.Lock()
        defer s.mu.Unlock()
        defer func() {
            go func() {
                time.Sleep(time.Second)
                fmt.Println("handled", req)
            }()
        }()
        s.served++
    }
    ```

    ## Fix
    Give the goroutine a context that ends when the function returns, and
    make each blocking operation also wait on it:
    ```go
    func (s *Server) handle(req string) {
        s.mu.Lock()
        defer s.mu.Unlock()
        ctx, cancel := context.WithCancel(context.Background())
        defer cancel()
        defer func() {
            go func() {
                select {
                case <-time.After(time.Second):
                case <-ctx.Done():
                    return
                }
                fmt.Println("handled", req)
            }()
        }()
        s.served++
    }
    ```
    Defers run last-in first-out: the goroutine is started, then told to
    stop. The parent is the function's own `context.Context` parameter when
    it has one, else `context.Background()`. `v := <-ch`, `ch <- v` and
    `<-ch` become `select` cases; `for v := range ch` becomes
    `for { select { case v, ok := <-ch: if !ok {…} … } }`; an endless loop
    checks `ctx.Done()` each turn. The `context` import is added when
    missing; `ctx`/`cancel` get fresh names when taken. No fix (report only)
    when an operation is buried in an expression, the goroutine also calls
    `Wait()`, returns values, or the function uses `goto`.

    ## Fix safety
    Unsafe: it changes when background work stops. A delayed action after a
    sleep no longer happens once the function has returned, and a consumer
    stops consuming — that is the point of the fix, but you must opt in with
    `--unsafe-fixes`.
    """

    name = "deferred-goroutine-no-cancel"
    summary = "Deferred function starts a goroutine that outlives the function and cannot be stopped"
    fix_availability = "sometimes"
    applicability = Applicability.UNSAFE
    triggers = (b"defer",)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        # Names chosen by earlier fixes, per enclosing function: two fixes in one
        # function must not both declare `ctx` in the same scope.
        taken: dict[tuple[int, int], set[bytes]] = {}
        for function in _outermost_functions(source.root):
            defers = [n for n in walk(function) if n.type == "defer_statement" and called_func_literal(n) is not None]
            if not any(_go_literals(called_func_literal(d)) for d in defers):
                continue
            scopes = FunctionScopes(source.data, function)
            is_channel = channel_predicate(source, scopes)
            for statement in defers:
                yield from self._check_defer(source, scopes, is_channel, statement, taken)

    def _check_defer(self, source, scopes, is_channel, statement: Node, taken: dict) -> Iterator[Diagnostic]:
        deferred = called_func_literal(statement)
        leaking: list[tuple[Node, list[BlockingOperation], list[BlockingOperation]]] = []
        for go_statement, literal in _go_literals(deferred):
            if _releases_a_lock(source, literal):
                # Cancelling it would skip the unlock and hold the lock for ever;
                # moving the unlock out is async-unlock's fix.
                continue
            blocking = classify(source, literal, is_channel)
            if blocking.managed_by is not None:
                continue
            evidence = [op for op in blocking.operations if _is_evidence(source, scopes, op, deferred, go_statement)]
            if evidence:
                leaking.append((go_statement, evidence, blocking.operations))
        if not leaking:
            return
        first_go, evidence, _ = leaking[0]
        what = evidence[0].describe(source)
        more = f" (and {len(leaking) - 1} more goroutine{'s' if len(leaking) > 2 else ''})" if len(leaking) > 1 else ""
        message = f"goroutine started by a deferred function outlives the function and cannot be stopped: it {what}{more}"
        fix, reason = _build_fix(source, scopes, statement, [(go, ops) for go, _, ops in leaking], taken)
        if fix is None:
            message += f" (no fix: {reason})"
        yield self.diagnostic(first_go, message, fix)


RULE = DeferredGoroutineNoCancel()


# -- finding --------------------------------------------------------------------
def _outermost_functions(root: Node) -> Iterator[Node]:
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type in FUNCTION_TYPES:
            yield node
            continue
        stack.extend(reversed(node.children))


def _releases_a_lock(source: SourceFile, literal: Node) -> bool:
    """Does the goroutine call `X.Unlock()` / `X.RUnlock()` (directly or deferred)?"""
    for node in walk_no_funcs(literal.child_by_field_name("body")):
        if node.type != "call_expression":
            continue
        function = node.child_by_field_name("function")
        if function is not None and function.type == "selector_expression":
            field = function.child_by_field_name("field")
            if field is not None and source.text(field) in (b"Unlock", b"RUnlock"):
                return True
    return False


def _go_literals(deferred: Node) -> list[tuple[Node, Node]]:
    """`go func(){…}()` statements the deferred literal runs itself (not in nested literals)."""
    body = deferred.child_by_field_name("body")
    found = []
    for node in walk_no_funcs(body) if body is not None else ():
        if node.type == "go_statement":
            literal = called_func_literal(node)
            if literal is not None:
                found.append((node, literal))
    return found


def _is_evidence(source: SourceFile, scopes: FunctionScopes, op: BlockingOperation, deferred: Node, go_statement: Node) -> bool:
    """Does this operation show the goroutine can outlive the function?"""
    if op.kind == Kind.WAIT:
        return False  # the waited-for work is out of sight
    if op.kind == Kind.ENDLESS_LOOP:
        return True
    if op.kind in (Kind.SLEEP, Kind.TIMER):
        return _acts_afterwards(op)
    if op.channel is None:
        return False
    if op.kind == Kind.RANGE and unparen(op.channel).type == "call_expression":
        return True  # `range time.Tick(d)`: a ticker channel is never closed
    return _unserved_local_channel(source, scopes, op, deferred, go_statement)


def _unserved_local_channel(source: SourceFile, scopes: FunctionScopes, op: BlockingOperation, deferred: Node, go_statement: Node) -> bool:
    """The channel is made (or declared nil) in this function and nothing can serve it.

    A channel from a parameter, a field or a package variable has another
    side the tool cannot see (a caller reading results, a scheduler taking
    workers back): no evidence. For a local channel every use outside the
    goroutine must be visible and unable to unblock it: a send or receive
    that happens before the goroutine starts, or len/cap. A close, a use
    after the `go` statement, a use in another func literal, or any escape
    (passed to a call, assigned, returned, sent) means it may be served.
    """
    channel = unparen(op.channel)
    if channel.type != "identifier":
        return False
    decl = scopes.resolve(channel)
    if decl is None or decl.kind not in ("short", "var"):
        return False
    if decl.value is not None:
        value = unparen(decl.value)
        if value.type != "call_expression" or source.text(value.child_by_field_name("function")) != b"make":
            return False
        if op.kind == Kind.SEND and _has_capacity(source, value):
            return False  # a send into a buffer does not block
    elif decl.type_node is None or decl.type_node.type != "channel_type":
        return False
    literal = called_func_literal(go_statement)
    for use in scopes.references(decl):
        if is_inside(use, literal):
            continue
        if not _harmless_use(source, use, deferred, go_statement):
            return False
    return True


def _has_capacity(source: SourceFile, make_call: Node) -> bool:
    args = [a for a in make_call.child_by_field_name("arguments").named_children if a.type != "comment"]
    return len(args) == 2 and source.text(args[1]) != b"0"


def _harmless_use(source: SourceFile, use: Node, deferred: Node, go_statement: Node) -> bool:
    """A use of the channel outside the goroutine that cannot unblock it."""
    if _inside_literal_other_than(use, deferred):
        return False  # another goroutine or callback may serve it at any time
    parent = use.parent
    while parent is not None and parent.type == "parenthesized_expression":
        parent = parent.parent
    if parent is None:
        return False
    if parent.type == "argument_list":
        call = parent.parent
        return source.text(call.child_by_field_name("function")) in (b"len", b"cap")
    is_channel_op = (parent.type == "send_statement" and parent.child_by_field_name("channel") is not None) or (
        parent.type == "unary_expression" and source.text(parent.child_by_field_name("operator")) == b"<-"
    )
    if parent.type == "send_statement" and unparen(parent.child_by_field_name("channel")) != use:
        return False  # the channel itself is sent somewhere
    # A send or receive that completes before the goroutine exists cannot serve it.
    return is_channel_op and use.end_byte <= go_statement.start_byte


def _inside_literal_other_than(node: Node, deferred: Node) -> bool:
    for parent in _up(node):
        if parent == deferred:
            return False
        if parent.type == "func_literal":
            return True
    return False


def _acts_afterwards(op: BlockingOperation) -> bool:
    """A sleep matters when something runs after it: a later statement, or the next turn of a loop."""
    node = op.statement
    while node is not None and node.type not in FUNCTION_TYPES:
        sibling = node.next_named_sibling
        while sibling is not None and sibling.type == "comment":
            sibling = sibling.next_named_sibling
        if sibling is not None or node.type == "for_statement" and node != op.statement:
            return True
        node = node.parent
    return False


# -- fixing ---------------------------------------------------------------------
class _NoFix(Exception):
    pass


@dataclass
class _Names:
    source: SourceFile
    taken: set[bytes]
    chosen: set[bytes] = field(default_factory=set)

    def fresh(self, base: str) -> bytes:
        name = fresh_name(self.source.data, self.source.root, base, self.taken | self.chosen).encode()
        self.chosen.add(name)
        return name


def _build_fix(source, scopes, statement: Node, goroutines: list[tuple[Node, list[BlockingOperation]]], taken_by_function: dict):
    function = enclosing_function(statement)
    if function is None:
        return None, "not inside a function"
    taken = taken_by_function.setdefault(_key(function), set())
    if any(n.type == "goto_statement" for n in walk(function)):
        return None, "the function uses goto, which may jump over the new declarations"
    for go_statement, ops in goroutines:
        literal = called_func_literal(go_statement)
        if literal.child_by_field_name("result") is not None:
            return None, "the goroutine's function literal returns values"
        for op in ops:
            if op.kind == Kind.WAIT:
                return None, f"the goroutine also {op.describe(source)}, which a context cannot interrupt"
            if not op.standalone:
                return None, f"the goroutine {op.describe(source)} inside an expression"

    context_name, import_edits = add_import(source, "context")
    if import_edits and b"context" in names_used(source.data, source.root):
        return None, "the name context is already used in this file"
    names = _Names(source, taken)
    ctx = names.fresh("ctx")
    cancel = names.fresh("cancel")
    parent = _context_parameter(source, scopes, function, statement, context_name) or context_name + b".Background()"
    header = insert_before(source, statement, [ctx + b", " + cancel + b" := " + context_name + b".WithCancel(" + parent + b")", b"defer " + cancel + b"()"])
    if header is None:
        return None, "the defer statement does not start its own line"
    edits = [header, *import_edits]
    try:
        for go_statement, ops in goroutines:
            rewriter = _Rewriter(source, ctx, names, ops)
            literal = called_func_literal(go_statement)
            edits.extend(rewriter.top_block(literal.child_by_field_name("body")))
            missed = [op for op in ops if op.kind in SELECTABLE | {Kind.ENDLESS_LOOP} and _key(op.node) not in rewriter.done]
            if missed:
                raise _NoFix(f"the goroutine {missed[0].describe(source)} where no select can be placed")
    except _NoFix as why:
        return None, str(why)
    taken |= names.chosen
    return Fix(f"Cancel the goroutine with {ctx.decode()} when the function returns", tuple(edits), Applicability.UNSAFE), ""


def _context_parameter(source, scopes: FunctionScopes, function: Node, statement: Node, context_name: bytes) -> bytes | None:
    """The function's own `context.Context` parameter, if one reaches ``statement`` unshadowed."""
    parameters = function.child_by_field_name("parameters")
    if parameters is None:
        return None
    for declaration in parameters.named_children:
        type_node = declaration.child_by_field_name("type")
        if declaration.type != "parameter_declaration" or type_node is None:
            continue
        if source.text(type_node) != context_name + b".Context":
            continue
        for ident in declaration.children_by_field_name("name"):
            name = source.text(ident)
            if name == b"_":
                continue
            shadows = [
                d
                for d in scopes.declarations()
                if d.name == name and d.key != (ident.start_byte, ident.end_byte) and is_inside(statement, d.scope) and d.visible_from <= statement.start_byte
            ]
            if not shadows:
                return name
    return None


_INDENT = b"\t"


class _Rewriter:
    """Turns each blocking statement of one goroutine into a select on ctx.Done().

    Works over the original bytes: nested rewrites inside a statement that is
    itself rebuilt (a range loop, the statements moved into a receive's case)
    are rendered into its new text, so the edits never overlap.
    """

    def __init__(self, source: SourceFile, ctx: bytes, names: _Names, ops: list[BlockingOperation]):
        self.source = source
        self.ctx = ctx
        self.names = names
        self.by_statement = {(op.statement.start_byte, op.statement.end_byte): op for op in ops if op.kind in SELECTABLE | {Kind.ENDLESS_LOOP}}
        self.done: set[tuple[int, int]] = set()  # operations rewritten, by node range
        self.top: Node | None = None

    @property
    def nl(self) -> bytes:
        return self.source.newline

    def top_block(self, body: Node) -> list[Edit]:
        self.top = body
        return self.block(statements(body))

    # -- statement lists ------------------------------------------------------
    def block(self, stmts: list[Node]) -> list[Edit]:
        edits: list[Edit] = []
        for index, stmt in enumerate(stmts):
            inner = stmt
            if stmt.type == "labeled_statement":
                inner = next((c for c in stmt.named_children if c.type != "label_name"), stmt)
            op = self.by_statement.get((inner.start_byte, inner.end_byte))
            if op is None:
                edits.extend(self.nested(stmt))
            elif op.kind == Kind.RANGE:
                edits.append(self.range_loop(stmt, op, last=index == len(stmts) - 1 and stmt.parent is not None and stmt.parent.parent == self.top))
            elif op.kind == Kind.ENDLESS_LOOP:
                edits.extend(self.endless_loop(op))
            elif inner.type == "short_var_declaration":
                edits.append(self.receive_declaration(stmt, op, stmts[index + 1 :]))
                break  # the rest of the list moved into the case
            else:
                edits.append(self.simple(stmt, op))
        return edits

    def nested(self, stmt: Node) -> list[Edit]:
        """Rewrites inside the blocks of a statement that is not itself blocking."""
        edits: list[Edit] = []
        for child in stmt.named_children:
            if child.type in ("block", "expression_case", "default_case", "type_case"):
                edits.extend(self.block(statements(child)))
            elif child.type.endswith("_statement"):  # an else-if, a labelled loop
                edits.extend(self.block([child]))
        return edits

    # -- single statements ----------------------------------------------------
    def _one_line(self, node: Node) -> bytes:
        text = self.source.text(node)
        if b"\n" in text:
            raise _NoFix("a blocking statement spans several lines")
        return text

    def _case(self, stmt: Node, op: BlockingOperation) -> bytes:
        """The select case header for a standalone operation."""
        if op.kind == Kind.SLEEP:
            call = op.node
            function = call.child_by_field_name("function")
            package = self.source.text(function.child_by_field_name("operand"))
            arguments = self._one_line(call.child_by_field_name("arguments"))
            return b"case <-" + package + b".After" + arguments + b":"
        return b"case " + self._one_line(stmt) + b":"

    def _select(self, indent: bytes, case: bytes, case_body: list[bytes] | bytes = b"") -> bytes:
        nl = self.nl
        parts = [b"select {", indent + case]
        if isinstance(case_body, list):
            parts.extend((indent + _INDENT + line) if line else b"" for line in case_body)
        elif case_body:
            parts.append(case_body)
        parts += [indent + b"case <-" + self.ctx + b".Done():", indent + _INDENT + b"return", indent + b"}"]
        return nl.join(parts)

    def simple(self, stmt: Node, op: BlockingOperation) -> Edit:
        self._must_own_lines(stmt)
        indent = self.source.indentation(stmt.start_byte)
        self.done.add(_key(op.node))
        return Edit(stmt.start_byte, stmt.end_byte, self._select(indent, self._case(stmt, op)))

    def receive_declaration(self, stmt: Node, op: BlockingOperation, rest: list[Node]) -> Edit:
        """`v := <-ch` declares v for the statements after it: they move into the case."""
        self._must_own_lines(stmt)
        indent = self.source.indentation(stmt.start_byte)
        self.done.add(_key(op.node))
        case = self._case(stmt, op)
        if not rest:
            return Edit(stmt.start_byte, stmt.end_byte, self._select(indent, case))
        for moved in rest:
            if moved.type == "fallthrough_statement":
                raise _NoFix("a fallthrough follows the receive")
            for node in walk_no_funcs(moved):
                if node.type == "break_statement" and not node.named_children and _leaves(node, moved):
                    raise _NoFix("a break after the receive would leave the new select instead")
        end = rest[-1].end_byte
        start = self.source.line_end(stmt.end_byte) + 1
        tail = self.render(start, end, self.block(rest))
        body = _indent_lines(tail, self.nl)
        return Edit(stmt.start_byte, end, self._select(indent, case, body))

    def endless_loop(self, op: BlockingOperation) -> list[Edit]:
        loop = op.node
        body = loop.child_by_field_name("body")
        inner = statements(body)
        edits = self.block(inner)
        self.done.add(_key(loop))
        rewritten_here = any(
            (s.start_byte, s.end_byte) in self.by_statement and self.by_statement[(s.start_byte, s.end_byte)].kind in SELECTABLE for s in inner
        )
        if rewritten_here:
            return edits  # a turn already waits on ctx.Done()
        open_brace = body.children[0]
        if self.source.data[open_brace.end_byte : self.source.line_end(open_brace.end_byte)].strip():
            raise _NoFix("the loop body does not start on a new line")
        indent = self.source.indentation(loop.start_byte) + _INDENT
        at = self.source.line_end(open_brace.end_byte) + 1
        check = [b"select {", b"case <-" + self.ctx + b".Done():", _INDENT + b"return", b"default:", b"}"]
        edits.append(Edit.insert(at, b"".join(indent + line + self.nl for line in check)))
        return edits

    def range_loop(self, stmt: Node, op: BlockingOperation, last: bool) -> Edit:
        loop = op.node
        clause = next(c for c in loop.named_children if c.type == "range_clause")
        if any(c.type == "=" for c in clause.children):
            raise _NoFix("the range assigns existing variables")
        if unparen(op.channel).type not in ("identifier", "selector_expression"):
            raise _NoFix("the ranged channel is recomputed by an expression")
        left = clause.child_by_field_name("left")
        value = self._one_line(left) if left is not None else b"_"
        channel = self._one_line(op.channel)
        body = loop.child_by_field_name("body")
        indent = self.source.indentation(loop.start_byte)
        label = loop_label(self.source, loop)
        new_label = None
        breaks = unlabelled_breaks_of(loop)
        if label is None and (breaks or not last):
            new_label = self.names.fresh("recv")
        exit_label = label or new_label
        ok = self.names.fresh("ok")
        self.done.add(_key(loop))

        inner_edits = self.block(statements(body))
        # `break` inside a select leaves the select: name the loop instead.
        inner_edits += [Edit(b.start_byte, b.end_byte, b"break " + exit_label) for b in breaks]
        open_brace, close_brace = body.children[0], body.children[-1]
        if self.source.data[open_brace.end_byte : self.source.line_end(open_brace.end_byte)].strip() or not _starts_own_line(self.source, close_brace):
            raise _NoFix("the loop body is not laid out one statement per line")
        start = self.source.line_end(open_brace.end_byte) + 1
        end = self.source.line_start(close_brace.start_byte)
        rendered = self.render(start, end, inner_edits) if end > start else b""
        case_body = _indent_lines(rendered.rstrip(b"\r\n"), self.nl) if rendered.strip() else b""
        in1, in2 = indent + _INDENT, indent + _INDENT + _INDENT
        leave = b"break " + exit_label if exit_label is not None else b"return"
        lines = [
            b"for {",
            in1 + b"select {",
            in1 + b"case " + value + b", " + ok + b" := <-" + channel + b":",
            in2 + b"if !" + ok + b" {",
            in2 + _INDENT + leave,
            in2 + b"}",
        ]
        if case_body:
            lines.append(case_body)
        lines += [in1 + b"case <-" + self.ctx + b".Done():", in2 + b"return", in1 + b"}", indent + b"}"]
        text = self.nl.join(lines)
        if new_label is not None:
            if not indent.endswith(_INDENT):
                raise _NoFix("unusual indentation around the loop")
            self._must_own_lines(loop)
            label_line = indent[: -len(_INDENT)] + new_label + b":" + self.nl
            return Edit(self.source.line_start(loop.start_byte), loop.end_byte, label_line + indent + text)
        return Edit(loop.start_byte, loop.end_byte, text)

    # -- helpers ----------------------------------------------------------------
    def render(self, start: int, end: int, edits: list[Edit]) -> bytes:
        """The original bytes [start, end) with ``edits`` (all inside) applied."""
        chunk = self.source.data[start:end]
        if any(_multiline_literal(self.source, n) for n in _nodes_between(self.source.root, start, end)):
            raise _NoFix("moving the code would re-indent a multi-line string or comment")
        shifted = [Edit(e.start - start, e.end - start, e.text) for e in edits]
        return apply_edits(chunk, shifted)

    def _must_own_lines(self, node: Node) -> None:
        data = self.source.data
        before = data[self.source.line_start(node.start_byte) : node.start_byte]
        after = data[node.end_byte : self.source.line_end(node.end_byte)]
        if before.strip() or after.strip():
            raise _NoFix("the blocking statement shares its line with other code")


def _leaves(break_statement: Node, container: Node) -> bool:
    """An unlabelled break whose target lies outside ``container`` (or is none at all)."""
    for parent in _up(break_statement):
        if parent.type in FUNCTION_TYPES:
            return True
        if parent.type in ("for_statement", "expression_switch_statement", "type_switch_statement", "select_statement"):
            return not is_inside(parent, container)
        if parent == container:
            break
    return True


def _key(node: Node) -> tuple[int, int]:
    return (node.start_byte, node.end_byte)


def _up(node: Node):
    current = node.parent
    while current is not None:
        yield current
        current = current.parent


def _starts_own_line(source: SourceFile, node: Node) -> bool:
    return not source.data[source.line_start(node.start_byte) : node.start_byte].strip()


def _indent_lines(text: bytes, nl: bytes) -> bytes:
    """One more tab on every non-blank line of ``text`` (lines split on the file's newline)."""
    lines = text.split(b"\n")
    out = []
    for line in lines:
        bare = line.rstrip(b"\r")
        out.append(_INDENT + bare if bare.strip() else b"")
    return nl.join(out)


def _multiline_literal(source: SourceFile, node: Node) -> bool:
    return node.type in ("raw_string_literal", "comment") and b"\n" in source.text(node)


def _nodes_between(root: Node, start: int, end: int) -> Iterator[Node]:
    stack = [root]
    while stack:
        node = stack.pop()
        if node.end_byte <= start or node.start_byte >= end:
            continue
        yield node
        stack.extend(node.children)
