"""Cancelling a goroutine when the function that starts it returns.

Shared by the rules whose fix gives a goroutine a stop signal
(deferred-goroutine-no-cancel, goroutine-no-cancel):

- ``build_cancel_fix(source, scopes, anchor, goroutines, names)``
  inserts ``ctx, cancel := context.WithCancel(parent)`` and ``defer cancel()``
  before the ``anchor`` statement (the function's own ``context.Context``
  parameter is the parent when one reaches it, else ``context.Background()``),
  adds the ``context`` import, and rewrites each given blocking operation of
  each goroutine into a ``select`` that also waits on ``<-ctx.Done()`` and
  returns. It returns a ``Fix``, or a ``NoFix`` whose reason says why no fix
  can be built (goto, a value-returning literal, an operation buried in an
  expression, an unusual layout, a Wait() no context interrupts).
- ``CancelNames``, a fact family: the fresh names (``ctx``, ``cancel``,
  loop labels, ``ok``) the fixes of one pass chose in each function, shared
  by the rules checking the file in that pass. A rule starts its check with
  ``source.facts(CancelNames).start(rule_name)`` and passes the
  ``ChosenNames`` it gets to ``build_cancel_fix``.
- ``releases_a_lock(source, literal)``: the goroutine calls ``X.Unlock()`` or
  ``X.RUnlock()``; cancelling it would skip the unlock.

The rewriting works over the original bytes: nested rewrites inside a
statement that is itself rebuilt are rendered into its new text, so the
edits never overlap. ``ChosenNames`` (keyed by the enclosing function's
byte range) remembers the names earlier fixes chose, so two fixes in one
function never both declare ``ctx``.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.control import loop_label, unlabelled_breaks_of
from gofix_defer.codemods.analysis.facts import Fact
from gofix_defer.codemods.analysis.goroutines import SELECTABLE, BlockingOperation, Kind
from gofix_defer.codemods.analysis.imports import imported_name
from gofix_defer.codemods.analysis.scope import FunctionScopes, fresh_name, names_used
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import called_function_literal, enclosing_function, is_inside, statements, unparen, walk, walk_no_funcs
from gofix_defer.codemods.edits.imports import add_import
from gofix_defer.codemods.edits.insertion import insert_before
from gofix_defer.codemods.model import Applicability, Edit, Fix, NoFix, apply_edits


def releases_a_lock(source: SourceFile, literal: Node) -> bool:
    """Does the goroutine call `X.Unlock()` / `X.RUnlock()` (directly or deferred)?"""
    body = syntax.body(literal)
    for node in walk_no_funcs(body) if body is not None else ():
        parts = syntax.selector_call(node) if syntax.is_call(node) else None
        if parts is not None and source.text(parts[1]) in (b"Unlock", b"RUnlock"):
            return True
    return False


class _CannotRewrite(Exception):
    """A blocking operation cannot become a select; the message says why."""


@dataclass
class _Names:
    source: SourceFile
    taken: set[bytes]
    chosen: set[bytes] = field(default_factory=set)

    def fresh(self, base: str) -> bytes:
        name = fresh_name(self.source.data, self.source.root, base, self.taken | self.chosen).encode()
        self.chosen.add(name)
        return name


class CancelNames(Fact):
    """The fresh names the cancel fixes of one pass chose, per rule and per function.

    Every rule that declares ``ctx``/``cancel`` runs over the same SourceFile
    in one pass and the engine applies their fixes together: a name one rule
    chose in a function is taken for the others, so two fixes never both
    declare ``ctx`` in the same scope. The family lives on the SourceFile (one
    parse, one pass); a new check by the same rule starts its names afresh.
    """

    def __init__(self, source) -> None:
        super().__init__(source)
        self._by_rule: dict[str, ChosenNames] = {}

    def start(self, rule_name: str) -> "ChosenNames":
        """The names ``rule_name``'s check is about to choose, its earlier check's forgotten."""
        chosen = self._by_rule[rule_name] = ChosenNames(self)
        return chosen

    def chosen_by_others(self, own: "ChosenNames", function: Node) -> set[bytes]:
        """The names the other rules' fixes chose in ``function`` in this pass."""
        found: set[bytes] = set()
        for chosen in self._by_rule.values():
            if chosen is not own:
                found |= chosen.in_function(function)
        return found


class ChosenNames:
    """One rule's check: the names its fixes chose so far, per enclosing function."""

    def __init__(self, family: CancelNames) -> None:
        # A weak reference: the family owns its rules' names (no cycle to collect).
        self._family = weakref.proxy(family)
        self._by_function: dict[tuple[int, int], set[bytes]] = {}

    def in_function(self, function: Node) -> set[bytes]:
        """The names this rule's fixes chose in ``function``."""
        return self._by_function.get(_key(function), set())

    def taken(self, function: Node) -> set[bytes]:
        """The names no new fix in ``function`` may choose: this rule's and the other rules'."""
        return self.in_function(function) | self._family.chosen_by_others(self, function)

    def record(self, function: Node, names: set[bytes]) -> None:
        self._by_function.setdefault(_key(function), set()).update(names)


def build_cancel_fix(
    source: SourceFile,
    scopes: FunctionScopes,
    statement: Node,
    goroutines: list[tuple[Node, list[BlockingOperation]]],
    chosen: ChosenNames,
    anchor_description: str = "the defer statement",
) -> Fix | NoFix:
    """Cancel ``goroutines`` (go statement, operations to interrupt) when the function returns; the
    context is declared just before ``statement``. ``chosen`` holds the names earlier fixes of the
    pass chose (the fix's own names are added to it)."""
    function = enclosing_function(statement)
    if function is None:
        return NoFix("not inside a function")
    if any(syntax.is_goto(n) for n in walk(function)):
        return NoFix("the function uses goto, which may jump over the new declarations")
    for go_statement, ops in goroutines:
        literal = _started_literal(go_statement)
        if syntax.result(literal) is not None:
            return NoFix("the goroutine's function literal returns values")
        for op in ops:
            if op.kind == Kind.WAIT:
                return NoFix(f"the goroutine also {op.describe(source)}, which a context cannot interrupt")
            if not op.standalone:
                return NoFix(f"the goroutine {op.describe(source)} inside an expression")

    context_name, import_edits = add_import(source, "context")
    if import_edits and b"context" in names_used(source.data, source.root):
        return NoFix("the name context is already used in this file")
    names = _Names(source, chosen.taken(function))
    ctx = names.fresh("ctx")
    cancel = names.fresh("cancel")
    parent = _context_parameter(source, scopes, function, statement, context_name) or context_name + b".Background()"
    header = insert_before(source, statement, [ctx + b", " + cancel + b" := " + context_name + b".WithCancel(" + parent + b")", b"defer " + cancel + b"()"])
    if header is None:
        return NoFix(f"{anchor_description} does not start its own line")
    edits = [header, *import_edits]
    try:
        for go_statement, ops in goroutines:
            rewriter = _Rewriter(source, ctx, names, ops)
            body = syntax.body(_started_literal(go_statement))
            assert body is not None  # a function literal has a body
            edits.extend(rewriter.top_block(body))
            missed = [op for op in ops if op.kind in SELECTABLE | {Kind.ENDLESS_LOOP} and _key(op.node) not in rewriter.done]
            if missed:
                raise _CannotRewrite(f"the goroutine {missed[0].describe(source)} where no select can be placed")
    except _CannotRewrite as why:
        return NoFix(str(why))
    chosen.record(function, names.chosen)
    return Fix(f"Cancel the goroutine with {ctx.decode()} when the function returns", tuple(edits), Applicability.UNSAFE)


def build_stop_select_fix(
    source: SourceFile,
    function: Node,
    ops: list[BlockingOperation],
    stop: bytes,
    leave: list[bytes],
    title: str,
) -> Fix | NoFix:
    """Make each of ``ops`` (standalone sends, receives and ranges over a channel of
    ``function``'s own code, a declaration or a literal) a ``select`` that also waits on
    ``stop`` (`<-s.done`, `<-ctx.Done()`) and then runs ``leave`` (`return`, `return T{}`,
    or nothing; a range's new loop always returns)."""
    for op in ops:
        if op.kind not in (Kind.SEND, Kind.RECEIVE, Kind.RANGE):
            return NoFix(f"the operation {op.describe(source)} is not a send, a receive or a range")
        if not op.standalone:
            return NoFix(f"the operation {op.describe(source)} sits inside an expression")
    if any(syntax.is_goto(n) for n in walk_no_funcs(syntax.body(function))):
        return NoFix("the function uses goto")
    outermost = syntax.outermost_function(function) or function
    names = _Names(source, names_used(source.data, outermost))
    rewriter = _Rewriter(source, b"", names, ops, stop=stop, leave=leave)
    rewriter.into_selects = True
    body = syntax.body(function)
    if body is None:
        return NoFix("the function has no body")
    try:
        edits = rewriter.top_block(body)
        missed = [op for op in ops if _key(op.node) not in rewriter.done]
        if missed:
            raise _CannotRewrite(f"the operation {missed[0].describe(source)} is laid out so that no select fits")
    except _CannotRewrite as why:
        return NoFix(str(why))
    return Fix(title, tuple(edits), Applicability.UNSAFE)


def zero_values(source: SourceFile, function: Node, types: "TypeLookup | None" = None) -> list[bytes] | None:
    """What `return` must say to leave ``function`` with zero values: [] for no results or
    named results (a bare `return` keeps them), else one zero value per result; None when
    the source does not say how to spell one (a type of another package, a generic)."""
    found = syntax.result(function)
    if found is None:
        return []
    if syntax.is_parameter_list(found) and any(p.names for p in syntax.parameters_of(found)):
        return []
    values = []
    for type_node in syntax.result_types(function):
        zero = _zero_of(source, type_node, types, 0)
        if zero is None:
            return None
        values.append(zero)
    return values


class TypeLookup:
    """Where the package declares a type name: (file, the type spec's type node)."""

    def __init__(self, declared: dict[bytes, tuple[SourceFile, Node]]):
        self.declared = declared

    def underlying(self, name: bytes) -> tuple[SourceFile, Node] | None:
        return self.declared.get(name)


_NUMERIC = frozenset(
    b"byte complex64 complex128 float32 float64 int int8 int16 int32 int64 rune uint uint8 uint16 uint32 uint64 uintptr".split()
)


def _zero_of(source: SourceFile, type_node: Node | None, types: TypeLookup | None, depth: int) -> bytes | None:
    if type_node is None or depth > 4:
        return None
    node = syntax.unparen_type(type_node)
    text = source.text(node)
    if b"\n" in text or b"/*" in text or b"//" in text:
        return None
    if syntax.zero_is_nil(node):
        return b"nil"
    if syntax.is_struct_type(node) or syntax.is_array_type(node):
        return text + b"{}"
    if not syntax.is_type_identifier(node):
        return None  # another package's type, a generic instance: its zero is not spelled here
    if node.text == b"bool":
        return b"false"
    if node.text == b"string":
        return b'""'
    if node.text in _NUMERIC:
        return b"0"
    if node.text in (b"error", b"any"):
        return b"nil"
    declared = types.underlying(text) if types is not None else None
    if declared is None:
        return None
    declaring, underlying = declared
    underlying = syntax.unparen_type(underlying)
    if syntax.is_struct_type(underlying) or syntax.is_array_type(underlying):
        return text + b"{}"
    return _zero_of(declaring, underlying, types, depth + 1)


def context_parameter(source: SourceFile, scopes: FunctionScopes, statement: Node) -> bytes | None:
    """The name of the `context.Context` parameter of the function around ``statement``
    (the innermost function declaring one that reaches it unshadowed), if any."""
    context_name = imported_name(source, b"context")
    if context_name is None:
        return None
    for function in [a for a in syntax.ancestors(statement) if syntax.is_function(a)]:
        found = _context_parameter(source, scopes, function, statement, context_name)
        if found is not None:
            return found
    return None


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

    def __init__(self, source: SourceFile, ctx: bytes, names: _Names, ops: list[BlockingOperation], stop: bytes | None = None, leave: list[bytes] | None = None):
        self.source = source
        self.ctx = ctx
        # The stop case: `case <-ctx.Done():` and `return`, or the caller's channel and body.
        self.stop = stop if stop is not None else b"<-" + ctx + b".Done()"
        self.leave = leave if leave is not None else [b"return"]
        self.names = names
        self.into_selects = False  # also rewrite inside the case bodies of selects
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
            if syntax.is_block(child) or (syntax.is_case_clause(child) and (self.into_selects or not syntax.is_select_case(child))):
                edits.extend(self.block(statements(child)))
            elif syntax.is_statement_kind(child):  # an else-if, a labelled loop
                edits.extend(self.block([child]))
        return edits

    # -- single statements ----------------------------------------------------
    def _one_line(self, node: Node) -> bytes:
        text = self.source.text(node)
        if b"\n" in text:
            raise _CannotRewrite("a blocking statement spans several lines")
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
        parts += [indent + b"case " + self.stop + b":", *(indent + _INDENT + line for line in self.leave), indent + b"}"]
        return nl.join(parts)

    def simple(self, stmt: Node, op: BlockingOperation) -> Edit:
        self._must_own_lines(stmt, trailing_comment=True)  # the comment stays after the select's brace
        indent = self.source.indentation(stmt.start_byte)
        self.done.add(_key(op.node))
        return Edit(stmt.start_byte, stmt.end_byte, self._select(indent, self._case(stmt, op)))

    def receive_declaration(self, stmt: Node, op: BlockingOperation, rest: list[Node]) -> Edit:
        """`v := <-ch` declares v for the statements after it: they move into the case."""
        self._must_own_lines(stmt, trailing_comment=True)
        indent = self.source.indentation(stmt.start_byte)
        self.done.add(_key(op.node))
        case = self._case(stmt, op)
        if not rest:
            return Edit(stmt.start_byte, stmt.end_byte, self._select(indent, case))
        comment = self.source.data[stmt.end_byte : self.source.line_end(stmt.end_byte)].strip()
        if comment:
            case += b" " + comment  # the line's comment stays on the case line
        for moved in rest:
            if syntax.is_fallthrough(moved):
                raise _CannotRewrite("a fallthrough follows the receive")
            for node in walk_no_funcs(moved):
                if syntax.is_break(node) and syntax.jump_label(node) is None and _leaves(node, moved):
                    raise _CannotRewrite("a break after the receive would leave the new select instead")
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
        assert body is not None  # an endless loop has a body
        rewritten_here = any(
            (s.start_byte, s.end_byte) in self.by_statement and self.by_statement[(s.start_byte, s.end_byte)].kind in SELECTABLE for s in inner
        )
        if rewritten_here:
            return edits  # a turn already waits on ctx.Done()
        open_brace = body.children[0]
        if self.source.data[open_brace.end_byte : self.source.line_end(open_brace.end_byte)].strip():
            raise _CannotRewrite("the loop body does not start on a new line")
        indent = self.source.indentation(loop.start_byte) + _INDENT
        at = self.source.line_end(open_brace.end_byte) + 1
        check = [b"select {", b"case " + self.stop + b":", *(_INDENT + line for line in self.leave), b"default:", b"}"]
        edits.append(Edit.insert(at, b"".join(indent + line + self.nl for line in check)))
        return edits

    def range_loop(self, stmt: Node, op: BlockingOperation, last: bool) -> Edit:
        loop = op.node
        if syntax.range_assigns(loop):
            raise _CannotRewrite("the range assigns existing variables")
        assert op.channel is not None  # a range operation names what it ranges over
        channel_expression = unparen(op.channel)
        if not (syntax.is_identifier(channel_expression) or syntax.is_selector(channel_expression)):
            raise _CannotRewrite("the ranged channel is recomputed by an expression")
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
        if breaks:
            assert exit_label is not None  # a loop with breaks gets a label
            inner_edits += [Edit(b.start_byte, b.end_byte, b"break " + exit_label) for b in breaks]
        assert body is not None  # a range loop has a body
        open_brace, close_brace = body.children[0], body.children[-1]
        if self.source.data[open_brace.end_byte : self.source.line_end(open_brace.end_byte)].strip() or not _starts_own_line(self.source, close_brace):
            raise _CannotRewrite("the loop body is not laid out one statement per line")
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
        lines += [in1 + b"case " + self.stop + b":", *(in2 + line for line in self.leave), in1 + b"}", indent + b"}"]
        text = self.nl.join(lines)
        if new_label is not None:
            if not indent.endswith(_INDENT):
                raise _CannotRewrite("unusual indentation around the loop")
            self._must_own_lines(loop)
            label_line = indent[: -len(_INDENT)] + new_label + b":" + self.nl
            return Edit(self.source.line_start(loop.start_byte), loop.end_byte, label_line + indent + text)
        return Edit(loop.start_byte, loop.end_byte, text)

    # -- helpers ----------------------------------------------------------------
    def render(self, start: int, end: int, edits: list[Edit]) -> bytes:
        """The original bytes [start, end) with ``edits`` (all inside) applied."""
        chunk = self.source.data[start:end]
        if any(_multiline_literal(self.source, n) for n in _nodes_between(self.source.root, start, end)):
            raise _CannotRewrite("moving the code would re-indent a multi-line string or comment")
        shifted = [Edit(e.start - start, e.end - start, e.text) for e in edits]
        return apply_edits(chunk, shifted)

    def _must_own_lines(self, node: Node, trailing_comment: bool = False) -> None:
        data = self.source.data
        before = data[self.source.line_start(node.start_byte) : node.start_byte]
        after = data[node.end_byte : self.source.line_end(node.end_byte)]
        if trailing_comment and after.strip().startswith(b"//"):
            after = b""
        if before.strip() or after.strip():
            raise _CannotRewrite("the blocking statement shares its line with other code")


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


def _started_literal(go_statement: Node) -> Node:
    """The function literal a goroutine given to ``build_cancel_fix`` starts (it always starts one)."""
    literal = called_function_literal(go_statement)
    assert literal is not None, "build_cancel_fix takes `go func(){…}()` statements"
    return literal


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
