"""Cancelling a goroutine when the function that starts it returns.

Shared by the rules whose fix gives a goroutine a stop signal
(deferred-goroutine-no-cancel, goroutine-no-cancel):

- ``build_cancel_fix(source, scopes, anchor, goroutines, taken_by_function)``
  inserts ``ctx, cancel := context.WithCancel(parent)`` and ``defer cancel()``
  before the ``anchor`` statement (the function's own ``context.Context``
  parameter is the parent when one reaches it, else ``context.Background()``),
  adds the ``context`` import, and rewrites each given blocking operation of
  each goroutine into a ``select`` that also waits on ``<-ctx.Done()`` and
  returns. It returns ``(Fix, "")`` or ``(None, reason)``: the reason says why
  no fix can be built (goto, a value-returning literal, an operation buried in
  an expression, an unusual layout, a Wait() no context interrupts).
- ``cancel_names(source, rule_name)``: the ``taken_by_function`` a rule passes,
  shared with the other rules checking the same file in the same pass.
- ``releases_a_lock(source, literal)``: the goroutine calls ``X.Unlock()`` or
  ``X.RUnlock()``; cancelling it would skip the unlock.

The rewriting works over the original bytes: nested rewrites inside a
statement that is itself rebuilt are rendered into its new text, so the
edits never overlap. ``taken_by_function`` (keyed by the enclosing function's
byte range) remembers the names earlier fixes chose, so two fixes in one
function never both declare ``ctx``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.control import loop_label, unlabelled_breaks_of
from gofix_defer.codemods.analysis.goroutines import SELECTABLE, BlockingOperation, Kind
from gofix_defer.codemods.analysis.scope import FunctionScopes, fresh_name, names_used
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import called_function_literal, enclosing_function, is_inside, statements, unparen, walk, walk_no_funcs
from gofix_defer.codemods.edits.imports import add_import
from gofix_defer.codemods.edits.insertion import insert_before
from gofix_defer.codemods.model import Applicability, Edit, Fix, apply_edits


def releases_a_lock(source: SourceFile, literal: Node) -> bool:
    """Does the goroutine call `X.Unlock()` / `X.RUnlock()` (directly or deferred)?"""
    for node in walk_no_funcs(syntax.body(literal)):
        parts = syntax.selector_call(node) if syntax.is_call(node) else None
        if parts is not None and source.text(parts[1]) in (b"Unlock", b"RUnlock"):
            return True
    return False


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


_REGISTRY = "_cancel_fix_names_by_rule"


def cancel_names(source: SourceFile, rule_name: str) -> dict[tuple[int, int], set[bytes]]:
    """A fresh ``taken_by_function`` for one rule's check of ``source``, shared with the other rules.

    Every rule that declares ``ctx``/``cancel`` runs over the same SourceFile
    in one pass and the engine applies their fixes together: a name one rule
    chose in a function is taken for the others, so two fixes never both
    declare ``ctx`` in the same scope. The registry lives on the SourceFile
    (one parse, one pass); a new check by the same rule starts it afresh.
    """
    registry = source.__dict__.setdefault(_REGISTRY, {})
    registry[rule_name] = {}
    return registry[rule_name]


def _chosen_by_other_rules(source: SourceFile, own: dict, function_key: tuple[int, int]) -> set[bytes]:
    registry = source.__dict__.get(_REGISTRY, {})
    chosen: set[bytes] = set()
    for taken in registry.values():
        if taken is not own:
            chosen |= taken.get(function_key, set())
    return chosen


def build_cancel_fix(
    source: SourceFile,
    scopes: FunctionScopes,
    statement: Node,
    goroutines: list[tuple[Node, list[BlockingOperation]]],
    taken_by_function: dict,
    anchor_description: str = "the defer statement",
):
    """Cancel ``goroutines`` (go statement, operations to interrupt) when the function returns; the
    context is declared just before ``statement``. Returns (Fix, "") or (None, why not)."""
    function = enclosing_function(statement)
    if function is None:
        return None, "not inside a function"
    taken = taken_by_function.setdefault(_key(function), set())
    if any(syntax.is_goto(n) for n in walk(function)):
        return None, "the function uses goto, which may jump over the new declarations"
    for go_statement, ops in goroutines:
        literal = called_function_literal(go_statement)
        if syntax.result(literal) is not None:
            return None, "the goroutine's function literal returns values"
        for op in ops:
            if op.kind == Kind.WAIT:
                return None, f"the goroutine also {op.describe(source)}, which a context cannot interrupt"
            if not op.standalone:
                return None, f"the goroutine {op.describe(source)} inside an expression"

    context_name, import_edits = add_import(source, "context")
    if import_edits and b"context" in names_used(source.data, source.root):
        return None, "the name context is already used in this file"
    names = _Names(source, taken | _chosen_by_other_rules(source, taken_by_function, _key(function)))
    ctx = names.fresh("ctx")
    cancel = names.fresh("cancel")
    parent = _context_parameter(source, scopes, function, statement, context_name) or context_name + b".Background()"
    header = insert_before(source, statement, [ctx + b", " + cancel + b" := " + context_name + b".WithCancel(" + parent + b")", b"defer " + cancel + b"()"])
    if header is None:
        return None, f"{anchor_description} does not start its own line"
    edits = [header, *import_edits]
    try:
        for go_statement, ops in goroutines:
            rewriter = _Rewriter(source, ctx, names, ops)
            literal = called_function_literal(go_statement)
            edits.extend(rewriter.top_block(syntax.body(literal)))
            missed = [op for op in ops if op.kind in SELECTABLE | {Kind.ENDLESS_LOOP} and _key(op.node) not in rewriter.done]
            if missed:
                raise _NoFix(f"the goroutine {missed[0].describe(source)} where no select can be placed")
    except _NoFix as why:
        return None, str(why)
    taken |= names.chosen
    return Fix(f"Cancel the goroutine with {ctx.decode()} when the function returns", tuple(edits), Applicability.UNSAFE), ""


def _context_parameter(source, scopes: FunctionScopes, function: Node, statement: Node, context_name: bytes) -> bytes | None:
    """The function's own `context.Context` parameter, if one reaches ``statement`` unshadowed."""
    for parameter in syntax.parameters_of(syntax.parameter_list(function)):
        if parameter.variadic or parameter.type is None:
            continue
        if source.text(parameter.type) != context_name + b".Context":
            continue
        for ident in parameter.names:
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
            if syntax.is_labeled(stmt):
                inner = syntax.labeled_body(stmt) or stmt
            op = self.by_statement.get((inner.start_byte, inner.end_byte))
            if op is None:
                edits.extend(self.nested(stmt))
            elif op.kind == Kind.RANGE:
                edits.append(self.range_loop(stmt, op, last=index == len(stmts) - 1 and syntax.same_node(stmt.parent, self.top)))
            elif op.kind == Kind.ENDLESS_LOOP:
                edits.extend(self.endless_loop(op))
            elif syntax.is_short_var_declaration(inner):
                edits.append(self.receive_declaration(stmt, op, stmts[index + 1 :]))
                break  # the rest of the list moved into the case
            else:
                edits.append(self.simple(stmt, op))
        return edits

    def nested(self, stmt: Node) -> list[Edit]:
        """Rewrites inside the blocks of a statement that is not itself blocking."""
        edits: list[Edit] = []
        for child in stmt.named_children:
            if syntax.is_block(child) or (syntax.is_case_clause(child) and not syntax.is_select_case(child)):
                edits.extend(self.block(statements(child)))
            elif syntax.is_statement_kind(child):  # an else-if, a labelled loop
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
            operand, _, call = syntax.selector_call(op.node)  # type: ignore[misc]
            package = self.source.text(operand)
            arguments = self._one_line(syntax.call_arguments_node(call))  # type: ignore[arg-type]
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
            if syntax.is_fallthrough(moved):
                raise _NoFix("a fallthrough follows the receive")
            for node in walk_no_funcs(moved):
                if syntax.is_break(node) and syntax.jump_label(node) is None and _leaves(node, moved):
                    raise _NoFix("a break after the receive would leave the new select instead")
        end = rest[-1].end_byte
        start = self.source.line_end(stmt.end_byte) + 1
        tail = self.render(start, end, self.block(rest))
        body = _indent_lines(tail, self.nl)
        return Edit(stmt.start_byte, end, self._select(indent, case, body))

    def endless_loop(self, op: BlockingOperation) -> list[Edit]:
        loop = op.node
        body = syntax.body(loop)
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
        if syntax.range_assigns(loop):
            raise _NoFix("the range assigns existing variables")
        channel_expression = unparen(op.channel)
        if not (syntax.is_identifier(channel_expression) or syntax.is_selector(channel_expression)):
            raise _NoFix("the ranged channel is recomputed by an expression")
        variables = syntax.range_variables(loop)
        value = self._one_line(syntax.left_node(syntax.range_clause(loop))) if variables else b"_"  # type: ignore[arg-type]
        channel = self._one_line(op.channel)
        body = syntax.body(loop)
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
        if syntax.is_function(parent):
            return True
        if syntax.is_breakable(parent):
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
    return (syntax.is_raw_string(node) or syntax.is_comment(node)) and b"\n" in source.text(node)


def _nodes_between(root: Node, start: int, end: int) -> Iterator[Node]:
    stack = [root]
    while stack:
        node = stack.pop()
        if node.end_byte <= start or node.start_byte >= end:
            continue
        yield node
        stack.extend(node.children)
