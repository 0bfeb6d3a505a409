"""Close facts: a channel whose `close(ch)` can move into a `defer` right after its `make`.

``Closes.deferrable(function)`` lists, per function, each channel it makes
whose only close sits near the end of its body, so that an early `return`
leaves its consumers blocked, together with the proof that
`defer close(ch)` right after the `make` closes it at the same point on the
normal path (``DeferrableClose``):

- the `make` (`ch := make(chan T)`, one name, not receive-only) and the
  `close(ch)` are statements of the function's own body, not in a branch or
  loop, and the function has no `goto`;
- after the close only a `return` of plain values (names, literals)
  follows, so the close never moves past a `wg.Wait()`, a receive or
  anything else that waits for the consumer;
- no `defer` is registered after the `make` (it would run before the
  deferred close and may wait for the consumer);
- every other use of the channel is a send of the function's own code
  before the close, `len`/`cap`, or a receive/range in a goroutine that the
  function's own code starts before the close (a goroutine that sends,
  closes, passes the channel on or uses it in a nested literal breaks the
  proof, and so does any other escape);
- at least one consumer exists, and a `return` can run after the first one
  starts and before the close (the early return).

The proof says nothing about layout: whether the statements can be moved
textually is the fix's question (codemods/edits/close_deferral.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.channels import Channels, ChannelUse, ChannelUses, Direction, UseKind, declared_channel, is_close_of
from gofix_defer.codemods.analysis.control import Control, runs_after
from gofix_defer.codemods.analysis.facts import Fact
from gofix_defer.codemods.analysis.goroutines import Goroutines, Kind
from gofix_defer.codemods.analysis.nodeindex import own_descendants
from gofix_defer.codemods.analysis.scope import Declaration, FunctionScopes, Scopes
from gofix_defer.codemods.analysis.syntax import unparen

# Return values whose evaluation cannot observe whether the channel is closed yet.
_PURE_VALUES = frozenset({"identifier", "int_literal", "float_literal", "interpreted_string_literal", "raw_string_literal", "rune_literal"})


@dataclass
class DeferrableClose:
    """The proof that ``close(ch)`` can move into a ``defer`` right after ``make``."""

    declaration: Declaration
    make_statement: Node  # `ch := make(chan T)`, a top-level statement of the function body
    close_statement: Node  # the only `close(ch)`, a top-level statement of the function body
    consumers: list[tuple[Node, Node]]  # (go statement, the first receive/range on ch in it)
    early_return: Node  # a return after a consumer starts and before the close
    consumers_only_range: bool  # every consumer ends with its `for … range ch` loop


class Closes(Fact):
    """Per function: the channels whose close can be deferred, with the proof."""

    requires = (Scopes, Channels, Goroutines, Control)

    def __init__(self, source) -> None:
        super().__init__(source)
        self._deferrable: dict[tuple[int, int], list[DeferrableClose]] = {}

    def deferrable(self, function: Node) -> list[DeferrableClose]:
        """Every channel of ``function`` whose close can be deferred, in the order of the closes."""
        key = (function.start_byte, function.end_byte)
        found = self._deferrable.get(key)
        if found is None:
            found = self._deferrable[key] = self._find(function)
        return found

    def _find(self, function: Node) -> list[DeferrableClose]:
        body = syntax.function_body(function)
        top_level = syntax.statements(body)
        closes = [s for s in top_level if is_close_of(self.source, s) is not None]
        if not closes or body is None or own_descendants(self.source, body, syntax.GOTO_KINDS):
            return []
        scopes = self.source.scopes(function)
        found = []
        for close_statement in closes:
            proof = self._prove(scopes, function, body, top_level, close_statement)
            if proof is not None:
                found.append(proof)
        return found

    def _prove(self, scopes: FunctionScopes, function: Node, body: Node, top_level: list[Node], close_statement: Node) -> DeferrableClose | None:
        channel = is_close_of(self.source, close_statement)
        declared = declared_channel(scopes, channel)
        if declared is None or declared.make is None or declared.make.direction is Direction.RECEIVE:
            return None
        decl = declared.declaration
        make_statement = decl.statement
        # `var ch = make(…)` is rare; keep the proof to one shape, and the edit to one plain statement.
        if not syntax.is_short_var_declaration(make_statement) or make_statement not in top_level:
            return None
        if len(syntax.left_side(make_statement)) != 1:
            return None  # `a, ch := …`
        if not _only_plain_return_after(top_level, close_statement):
            return None
        if any(d.start_byte > make_statement.start_byte for d in self.source.facts(Control).defers(function)):
            return None  # it would run before the deferred close and may wait for the consumer

        uses = self.source.facts(Channels).uses(function, decl)
        consumers: dict[int, tuple[Node, Node]] = {}
        consumers_only_range = True
        for use in uses.uses:
            if use.reference == channel:
                continue
            if use.in_function_body:
                if not _own_use(use, close_statement):
                    return None
                continue
            literal = use.chain[0]
            go_statement = syntax.go_or_defer_of(literal.node) if literal.started == "go" else None
            if go_statement is None:
                return None  # a callback or deferred literal: it may send or close at any time
            if go_statement.start_byte > close_statement.start_byte:
                return None
            if go_statement.start_byte not in consumers:
                wait, only_range = self._consumer(scopes, literal.node, uses)
                if wait is None:
                    return None  # the goroutine sends, closes or passes the channel on
                consumers[go_statement.start_byte] = (go_statement, wait)
                consumers_only_range = consumers_only_range and only_range
        if not consumers:
            return None
        ordered = sorted(consumers.values(), key=lambda pair: pair[0].start_byte)
        early = _early_return(ordered[0][0], close_statement, own_descendants(self.source, body, syntax.RETURN_KINDS))
        if early is None:
            return None
        return DeferrableClose(decl, make_statement, close_statement, ordered, early, consumers_only_range)

    def _consumer(self, scopes: FunctionScopes, literal: Node, uses: ChannelUses) -> tuple[Node | None, bool]:
        """(first receive/range on the channel, whether the goroutine ends with its only range over it).

        (None, _) when the goroutine does anything else with the channel (sends,
        closes, passes it on) or uses it in a nested func literal.
        """
        operations = {
            (op.channel.start_byte, op.channel.end_byte): op
            for op in self.source.facts(Goroutines).blocking(literal, scopes).operations
            if op.kind in (Kind.RECEIVE, Kind.RANGE) and op.channel is not None
        }
        first = None
        ranges = []
        receives = False
        for use in uses.uses:
            if not use.chain or use.chain[0].node != literal:
                continue
            if len(use.chain) > 1:
                return None, False
            op = operations.get((use.reference.start_byte, use.reference.end_byte))
            if op is None:
                return None, False
            first = first or op.node
            if op.kind == Kind.RANGE:
                ranges.append(op.node)
            else:
                receives = True
        if first is None:
            return None, False
        own = syntax.statements(syntax.body(literal))
        last = own[-1] if own else None
        if last is not None and syntax.is_labeled(last):
            last = _after_label(last)
        return first, not receives and len(ranges) == 1 and last == ranges[0]


def _only_plain_return_after(top_level: list[Node], close_statement: Node) -> bool:
    """After the close: nothing, or one `return` of names and literals."""
    after = [s for s in top_level if s.start_byte > close_statement.start_byte]
    if not after:
        return True
    if len(after) != 1 or not syntax.is_return(after[0]):
        return False
    # The first named child, a comment included: `return /* c */ x` is not plain.
    values = after[0].named_children[0] if after[0].named_children else None
    if values is None:
        return True
    items = values.named_children if syntax.is_expression_list(values) else [values]
    return all(unparen(item).type in _PURE_VALUES for item in items)


def _own_use(use: ChannelUse, close_statement: Node) -> bool:
    """A use in the function's own code that cannot outlive it: a send before the close, len/cap."""
    if use.kind is UseKind.SEND:
        return use.node.end_byte <= close_statement.start_byte
    return use.kind is UseKind.LEN_CAP


def _after_label(labeled: Node) -> Node:
    """The first named child after the label: the labelled statement, or a comment
    written between the label and it (then the goroutine does not end with its loop)."""
    return next((c for c in labeled.named_children if c.type != "label"), labeled)


def _early_return(first_consumer: Node, close_statement: Node, returns: list[Node]) -> Node | None:
    """A `return` that can run after the first consumer starts and before the close."""
    for candidate in returns:
        if candidate.start_byte < close_statement.start_byte and runs_after(first_consumer, candidate):
            return candidate
    return None
