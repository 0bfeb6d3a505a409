"""Channel facts: the channels a function makes, and how each is used.

``make_channel(expr)`` answers "is this `make(chan T[, n])`?" once for every
rule, with the channel's direction and capacity. The ``Channels`` family
lists, per function, the channel variables its own code declares with a
`make` (`ch := make(chan T)`, `var ch = make(chan T)`), and classifies every
use of a channel variable:

=================  ===================================================
kind               example
=================  ===================================================
``SEND``           ``ch <- v``
``RECEIVE``        ``<-ch``, ``v := <-ch``, ``v, ok = <-ch``
``RANGE``          ``for v := range ch``
``CLOSE``          ``close(ch)`` (the builtin, not shadowed)
``LEN_CAP``        ``len(ch)``, ``cap(ch)``
``PASSED``         an argument of any other call: ``f(ch)``, ``go g(ch)``
``SENT``           the value of a send: ``out <- ch``
``RETURNED``       ``return ch`` (the function's own return)
``STORED``         anything else: assigned, put in a literal, captured
=================  ===================================================

Each use also says where it runs: the function literals between the
function and the use (``chain``, outermost first, each with how it is
started: go, defer, call or value), the select case it is the
communication of, and whether the use sits in a deferred call.

``called_literal`` and ``literal_parameter`` follow a channel handed to a
function literal (`func(c chan T){…}(ch)`, `f := func…; f(ch)`) to the
parameter that receives it, whose uses ``Channels.uses`` classifies in turn;
``in_select_with_done`` says whether a use sits in a select that also waits
on a `Done()` channel.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.facts import Fact
from gofix_defer.codemods.analysis.scope import Declaration, FunctionScopes, Scopes
from gofix_defer.codemods.analysis.syntax import ancestors, unparen, walk_no_funcs


class Direction(str, enum.Enum):
    BOTH = "both"  # chan T
    SEND = "send"  # chan<- T
    RECEIVE = "receive"  # <-chan T


@dataclass(frozen=True)
class MakeChannel:
    """A `make(chan T[, capacity])` call."""

    call: Node
    type: Node  # the channel type node
    direction: Direction
    capacity: Node | None  # the capacity argument, when written

    @property
    def unbuffered(self) -> bool:
        """No capacity, or a literal 0."""
        return self.capacity is None or self.capacity.text == b"0"

    @property
    def buffered(self) -> bool:
        """A capacity other than a literal 0 (it may still be 0 at run time)."""
        return not self.unbuffered

    @property
    def comment_before_type(self) -> bool:
        """A comment is written between `make(` and the channel type: `make(/* … */ chan T)`
        (for rules that accept only the usual spelling)."""
        arguments = syntax.call_arguments_node(self.call)
        return arguments is not None and bool(arguments.named_children) and arguments.named_children[0] != self.type


def make_channel(expression: Node | None) -> MakeChannel | None:
    """``expression`` as a `make(chan T[, n])` call (parentheses allowed), else None.

    `make` must be spelled as the builtin; a local shadowing it is the
    caller's to rule out when it matters.
    """
    if expression is None:
        return None
    call = unparen(expression)
    if not syntax.is_builtin_call(call, b"make"):
        return None
    arguments = syntax.call_arguments(call)
    if not arguments or not syntax.is_channel_type(arguments[0]) or len(arguments) > 2:
        return None
    direction = Direction(syntax.channel_direction(arguments[0]))
    return MakeChannel(call, arguments[0], direction, arguments[1] if len(arguments) == 2 else None)


@dataclass(frozen=True)
class LocalChannel:
    """A channel variable the function's own code declares with `make`."""

    declaration: Declaration
    make: MakeChannel
    statement: Node  # the short variable declaration or var spec

    @property
    def name(self) -> bytes:
        return self.declaration.name


class UseKind(str, enum.Enum):
    SEND = "send"
    RECEIVE = "receive"
    RANGE = "range"
    CLOSE = "close"
    LEN_CAP = "len-cap"
    PASSED = "passed"
    SENT = "sent"
    RETURNED = "returned"
    STORED = "stored"


@dataclass(frozen=True)
class Literal:
    """A function literal between the function and a use, and how it runs."""

    node: Node
    started: str  # "go", "defer", "call" (called in place) or "value"


@dataclass(frozen=True)
class ChannelUse:
    kind: UseKind
    reference: Node  # the identifier
    node: Node  # the operation: the send statement, the `<-` expression, the loop, the call…
    chain: tuple[Literal, ...] = ()  # function literals around the use, outermost first
    select_case: Node | None = None  # the select clause whose communication this is
    callee: Node | None = None  # PASSED: the function called
    argument_index: int = -1  # PASSED: the position among the call's arguments

    @property
    def in_function_body(self) -> bool:
        """The use is in the function's own code, not in a function literal."""
        return not self.chain

    @property
    def innermost(self) -> Literal | None:
        return self.chain[-1] if self.chain else None

    @property
    def parenthesized(self) -> bool:
        """The reference is written in parentheses: `(ch) <- v`, `<-(ch)`, `close((ch))`."""
        return syntax.is_parenthesized(self.reference.parent)

    @property
    def goroutine(self) -> Literal | None:
        """The function literal the use runs in when that literal is started by a `go`
        statement of the function's own code (`go func(){ … ch … }()`), else None."""
        if len(self.chain) == 1 and self.chain[0].started == "go":
            return self.chain[0]
        return None

    @property
    def callee_parenthesized(self) -> bool:
        """For a use as a call's argument (CLOSE, LEN_CAP, PASSED): the function called is
        written in parentheses, `(close)(ch)` (for rules that accept only the usual spelling)."""
        if self.kind not in (UseKind.CLOSE, UseKind.LEN_CAP, UseKind.PASSED):
            return False
        return syntax.is_parenthesized(syntax.callee(self.node))

    @property
    def call_commented(self) -> bool:
        """For a use as a call's argument (CLOSE, LEN_CAP, PASSED): a comment is written
        between the call's parentheses, `close(ch /* … */)`."""
        if self.kind not in (UseKind.CLOSE, UseKind.LEN_CAP, UseKind.PASSED):
            return False
        arguments = syntax.call_arguments_node(self.node)
        return arguments is not None and any(syntax.is_comment(c) for c in arguments.named_children)


@dataclass
class ChannelUses:
    channel: Declaration
    uses: list[ChannelUse] = field(default_factory=list)


class Channels(Fact):
    """Per function: the channels it makes and how every channel variable is used."""

    requires = (Scopes,)

    def __init__(self, source) -> None:
        super().__init__(source)
        self._made: dict[tuple[int, int], list[LocalChannel]] = {}
        self._uses: dict[tuple[tuple[int, int], tuple[int, int]], ChannelUses] = {}

    def made_in(self, function: Node) -> list[LocalChannel]:
        """Channels declared by `x := make(chan T)` / `var x = make(chan T)` in the
        function's own code (not in nested literals), in document order."""
        key = (function.start_byte, function.end_byte)
        found = self._made.get(key)
        if found is None:
            found = self._made[key] = self._find_made(function)
        return found

    def _find_made(self, function: Node) -> list[LocalChannel]:
        body = syntax.function_body(function)
        if body is None or b"make(" not in self.source.data[body.start_byte : body.end_byte]:
            return []
        # The scopes hold every `x := v` / `var x = v` that declares a name, with its value
        # when one stands for it (as many values as names): those of the function's own
        # code, not of nested literals, whose value makes a channel.
        found = []
        for decl in self.source.scopes(function).declarations():
            if decl.kind not in ("short", "var") or decl.value is None or not syntax.is_inside(decl.statement, body):
                continue
            made = make_channel(decl.value)
            if made is not None and syntax.same_node(syntax.enclosing_function(decl.statement), function):
                found.append(LocalChannel(decl, made, decl.statement))
        return found

    def uses(self, function: Node, declaration: Declaration) -> ChannelUses:
        """Every reference to ``declaration`` within ``function``, classified."""
        key = ((function.start_byte, function.end_byte), declaration.key)
        found = self._uses.get(key)
        if found is None:
            scopes = self.source.scopes(function)
            found = self._uses[key] = ChannelUses(declaration, [classify_use(self.source, scopes, function, ref) for ref in scopes.references(declaration)])
        return found


def literal_chain(function: Node, node: Node) -> tuple[Literal, ...]:
    """The function literals between ``function`` and ``node``, outermost first."""
    chain = []
    for parent in ancestors(node):
        if parent == function:
            break
        if syntax.is_function_literal(parent):
            chain.append(Literal(parent, syntax.how_started(parent)))
    return tuple(reversed(chain))


def classify_use(source, scopes: FunctionScopes, function: Node, reference: Node) -> ChannelUse:
    """What one reference to a channel variable does with it."""
    node, parent = syntax.paren_parent(reference)
    chain = literal_chain(function, reference)
    if parent is None:
        return ChannelUse(UseKind.STORED, reference, reference, chain)
    if syntax.is_send(parent):
        if syntax.same_node(syntax.send_channel(parent), node):
            return ChannelUse(UseKind.SEND, reference, parent, chain, syntax.enclosing_select_case(parent))
        return ChannelUse(UseKind.SENT, reference, parent, chain)
    if syntax.is_receive(parent):
        return ChannelUse(UseKind.RECEIVE, reference, parent, chain, syntax.enclosing_select_case(parent))
    if syntax.is_range_clause(parent) and syntax.same_node(syntax.right_node(parent), node):
        return ChannelUse(UseKind.RANGE, reference, parent.parent or parent, chain)
    if syntax.is_arguments(parent) and parent.parent is not None:
        call = parent.parent
        function_node = syntax.callee(call)
        callee = unparen(function_node) if function_node is not None else None
        arguments = syntax.call_arguments(call)
        index = next((i for i, a in enumerate(arguments) if syntax.same_node(a, node)), -1)
        if callee is not None and syntax.is_identifier(callee) and scopes.resolve(callee) is None:
            if callee.text in (b"len", b"cap"):
                return ChannelUse(UseKind.LEN_CAP, reference, call, chain)
            if callee.text == b"close":
                return ChannelUse(UseKind.CLOSE, reference, call, chain)
        return ChannelUse(UseKind.PASSED, reference, call, chain, callee=callee, argument_index=index)
    if _in_own_return(function, node):
        return ChannelUse(UseKind.RETURNED, reference, syntax.statement_of(node), chain)
    return ChannelUse(UseKind.STORED, reference, syntax.statement_of(parent), chain)


def _in_own_return(function: Node, node: Node) -> bool:
    for parent in ancestors(node):
        if parent == function or syntax.is_function_literal(parent):
            return False
        if syntax.is_return(parent):
            return True
    return False


def is_close_of(source, statement: Node) -> Node | None:
    """``ch`` for a statement that is exactly ``close(ch)`` with ``ch`` a name."""
    if not syntax.is_expression_statement(statement) or not statement.named_children:
        return None
    call = unparen(statement.named_children[0])
    if not syntax.is_builtin_call(call, b"close"):
        return None
    arguments = syntax.call_arguments(call)
    if len(arguments) != 1 or not syntax.is_identifier(unparen(arguments[0])):
        return None
    return unparen(arguments[0])


def is_done_receive(source, node: Node) -> bool:
    """``<-X.Done()`` (any receiver: context, stopper, tomb, …)."""
    node = unparen(node)
    if not syntax.is_receive(node):
        return False
    parts = syntax.selector_call(syntax.unary_operand(node))
    return parts is not None and source.text(parts[1]) == b"Done"


def select_has_done_case(source, select: Node) -> bool:
    """Does the select (any of its cases or bodies, nested literals aside) receive from `X.Done()`?"""
    return any(syntax.is_receive(n) and is_done_receive(source, n) for n in walk_no_funcs(select))


def in_select_with_done(source, node: Node, function: Node) -> bool:
    """Is the innermost select around ``node``, within ``function``, one with a `Done()`
    case (``select_has_done_case``)? Function literals in between are no boundary: in
    `case v := <-in: go func() { out <- v }()` the send counts as in the select."""
    for parent in ancestors(node):
        if parent == function:
            return False
        if syntax.is_select(parent):
            return select_has_done_case(source, parent)
    return False


# -- following a channel into the function literal it is passed to ------------------


def called_literal(scopes: FunctionScopes, use: ChannelUse) -> Node | None:
    """For a PASSED use: the function literal its call runs, when the function shows it:
    the callee itself (`func(c chan T) {…}(ch)`) or the literal a name of the function is
    bound to (`f := func(c chan T) {…}; f(ch)`). None for any other callee."""
    callee = use.callee
    if callee is None:
        return None
    if syntax.is_identifier(callee):
        bound = scopes.resolve(callee)
        if bound is not None and bound.value is not None and syntax.is_function_literal(unparen(bound.value)):
            callee = unparen(bound.value)
    return callee if syntax.is_function_literal(callee) else None


def literal_parameter(scopes: FunctionScopes, literal: Node, index: int) -> Declaration | None:
    """The declaration of the parameter of ``literal`` (a function literal of the function
    ``scopes`` covers) that takes the ``index``-th argument: None when the parameter is
    unnamed, `_` or absent, or a variadic parameter comes at or before it."""
    name = syntax.parameter_name_at(syntax.parameter_list(literal), index)
    if name is None:
        return None
    key = (name.start_byte, name.end_byte)
    return next((d for d in scopes.declarations() if d.key == key), None)


# -- the channel variable an expression names -----------------------------------------


@dataclass(frozen=True)
class DeclaredChannel:
    """A variable the function declares (`:=` or `var`) as a channel."""

    declaration: Declaration
    make: MakeChannel | None  # its `make(chan T[, n])`; None for `var ch chan T` (nil)


def declared_channel(scopes: FunctionScopes, expression: Node | None) -> DeclaredChannel | None:
    """The variable ``expression`` (a name, parentheses allowed) refers to, when the code
    ``scopes`` covers declares it with `:=` or `var` as a channel: set from a
    `make(chan T[, n])`, or declared `var ch chan T` with no value. None for anything
    else: a parameter, a package variable, a channel set from a call or another variable.
    """
    if expression is None:
        return None
    name = unparen(expression)
    if not syntax.is_identifier(name):
        return None
    decl = scopes.resolve(name)
    if decl is None or decl.kind not in ("short", "var"):
        return None
    if decl.value is None:
        return DeclaredChannel(decl, None) if syntax.is_channel_type(decl.type_node) else None
    made = make_channel(decl.value)
    return DeclaredChannel(decl, made) if made is not None else None
