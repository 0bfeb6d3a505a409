"""unbuffered-result-channel: goroutines send results on an unbuffered channel the
function may stop receiving from (timeout, early return, first result wins)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.scope import Declaration, FunctionScopes
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import (
    FUNCTION_KINDS,
    ancestors,
    called_function_literal,
    enclosing_function,
    identifiers,
    is_inside,
    statements,
    unparen,
    walk,
    walk_no_funcs,
)
from gofix_defer.codemods.analysis.typeinfer import TypeInference
from gofix_defer.codemods.model import Applicability, Diagnostic, Edit, Fix, Rule

# Statements whose branches are alternatives: two nodes whose nearest common
# ancestor is one of these lie on different paths.
_BRANCHING = frozenset({"if_statement", "expression_switch_statement", "type_switch_statement", "select_statement"})
_BREAKABLE = frozenset({"for_statement", "expression_switch_statement", "type_switch_statement", "select_statement"})
_INT_TYPES = frozenset(b"int int8 int16 int32 int64 uint uint8 uint16 uint32 uint64 uintptr".split())
_ASSIGNING = frozenset({"assignment", "inc_dec_statement"})


@dataclass
class _Sender:
    go: Node  # the go statement
    sends: int  # the most values one run of it sends on the channel
    certain: int  # the values every run sends (unconditional sends, no return before them)
    loops: list[Node]  # loops around the go statement that do not also hold the make


@dataclass
class _Channel:
    decl: Declaration
    make: Node  # the make(chan T) call
    senders: list[_Sender] = field(default_factory=list)
    receives: list[Node] = field(default_factory=list)  # the unary `<-ch` expressions in the function
    reason: str = ""  # why its senders may block for ever


class UnbufferedResultChannel(Rule):
    """
    ## What it does
    Finds an unbuffered channel made in a function (`ch := make(chan T)`)
    that goroutines started by the function send one result on, while the
    function may stop receiving before every sender is received: the receive
    sits in a `select` with another case (a timeout, `ctx.Done()`), a
    `return` can run between starting the goroutines and receiving, or
    several senders race for a single receive ("first result wins").

    ## Why is this bad
    A send on an unbuffered channel waits until someone receives. Once the
    function has returned nobody ever will: every sender left over blocks for
    ever, with everything it references. This is the most common goroutine
    leak in production Go (the Timeout, EarlyReturn and NCastLeak patterns of
    Uber's study; GFix's first fix strategy).

    ## Example
    ```go
    func fetch(ctx context.Context) (string, error) {
        ch := make(chan string)
        go func() { ch <- slowLookup() }()
        select {
        case v := <-ch:
            return v, nil
        case <-ctx.Done():
            return "", ctx.Err() // the sender now blocks for ever
        }
    }
    ```

    ## Fix
    Give the channel room for every sender, so each send completes whether
    or not anyone receives: `make(chan string, 1)` for one sender, the
    loop's bound for senders started in `for i := 0; i < n; i++`, or
    `len(xs)` for senders started in `for … range xs`.

    ## Fix safety
    Safe. Offered only when the channel never leaves the function (it is
    only received from in the function and only sent to by goroutines the
    function starts directly), each goroutine sends at most once and ends
    right after its send (so no goroutine relies on the send waiting for the
    receiver), and the number of senders is an expression whose value cannot
    change between the `make` and the loop. Otherwise the finding is
    reported without a fix. Left alone: channels with a buffer, receivers
    that always drain every sender, sends already in a `select`.
    """

    name = "unbuffered-result-channel"
    summary = "Goroutines send on an unbuffered channel the function may stop receiving from"
    fix_availability = "sometimes"
    applicability = Applicability.SAFE
    triggers = (b"make(chan",)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        for function in nodes_of_types(source, FUNCTION_KINDS):
            if function.child_by_field_name("body") is None:
                continue
            if b"make(chan" not in source.text(function):
                continue
            scopes: FunctionScopes | None = None
            for make in walk_no_funcs(function.child_by_field_name("body")):
                if make.type != "call_expression" or not _is_unbuffered_make(source, make):
                    continue
                scopes = scopes or source.scopes(function)
                channel = _channel_declared_by(scopes, function, make)
                if channel is None:
                    continue
                diagnostic = self._check_channel(source, scopes, function, channel)
                if diagnostic is not None:
                    yield diagnostic

    def _check_channel(self, source: SourceFile, scopes: FunctionScopes, function: Node, channel: _Channel) -> Diagnostic | None:
        if not _classify_references(source, scopes, function, channel):
            return None  # the channel escapes, or is used in a way we do not model: no evidence
        if not channel.senders or not channel.receives:
            return None
        reason = _leak_reason(source, function, channel)
        if reason is None:
            return None
        name = channel.decl.name.decode()
        message = f"senders on unbuffered channel {name} block for ever when {reason}"
        channel.reason = reason
        count, why_not = _sender_count(source, scopes, function, channel)
        if count is None:
            return self.diagnostic(channel.make, f"{message} (no fix: {why_not})")
        edit = _buffer_edit(source, channel.make, count)
        fix = Fix(f"Give {name} a buffer of {count.decode()}", (edit,), Applicability.SAFE)
        return self.diagnostic(channel.make, f"{message}; give it a buffer of {count.decode()}", fix)


RULE = UnbufferedResultChannel()


# -- finding the channel ---------------------------------------------------------


def _is_unbuffered_make(source: SourceFile, call: Node) -> bool:
    if source.text(call.child_by_field_name("function") or call) != b"make":
        return False
    args = [a for a in (call.child_by_field_name("arguments") or call).named_children if a.type != "comment"]
    if not args or args[0].type != "channel_type":
        return False
    if len(args) == 1:
        return True
    return len(args) == 2 and source.text(args[1]) == b"0"


def _channel_declared_by(scopes: FunctionScopes, function: Node, make: Node) -> _Channel | None:
    """The variable `ch := make(chan T)` / `var ch = make(chan T)` declares in this function."""
    statement = make.parent.parent if make.parent is not None else None
    if statement is None or statement.type not in ("short_var_declaration", "var_spec"):
        return None
    if enclosing_function(statement) != function:
        return None
    for decl in scopes.declarations():
        if decl.statement == statement and decl.value is not None and decl.value == make:
            return _Channel(decl, make)
    return None


def _classify_references(source: SourceFile, scopes: FunctionScopes, function: Node, channel: _Channel) -> bool:
    """Sort every use of the channel into receives (in the function) and sends (in
    goroutines it starts, directly or through a function of this file the goroutine
    calls last). False when any use is something else: the channel escapes."""
    uses: dict[int, list[Node]] = {}
    gos: dict[int, Node] = {}
    for ref in scopes.references(channel.decl):
        owner = enclosing_function(ref)
        if owner == function:
            if _is_receive_operand(ref):
                channel.receives.append(ref.parent)
                continue
            return False
        go = _direct_goroutine(function, owner)
        if go is None:
            return False
        gos[go.start_byte] = go
        uses.setdefault(go.start_byte, []).append(ref)
    for key, refs in uses.items():
        go = gos[key]
        literal = called_function_literal(go)
        counted = _sends_per_run(source, literal, refs)
        if counted is None:
            return False
        channel.senders.append(_Sender(go, counted[0], counted[1], _loops_between(go, channel.make)))
    channel.senders.sort(key=lambda s: s.go.start_byte)
    return True


def _is_receive_operand(ident: Node) -> bool:
    parent = ident.parent
    if parent is None or parent.type != "unary_expression" or parent.child_by_field_name("operand") != ident:
        return False
    operator = parent.child_by_field_name("operator")
    return operator is not None and operator.type == "<-"


def _direct_goroutine(function: Node, literal: Node | None) -> Node | None:
    """The `go func(){…}()` statement, directly in ``function``, that runs ``literal``."""
    if literal is None or literal.type != "function_literal":
        return None
    call = literal.parent
    while call is not None and call.type == "parenthesized_expression":
        call = call.parent
    if call is None or call.type != "call_expression":
        return None
    go = call.parent
    if go is None or go.type != "go_statement" or called_function_literal(go) != literal:
        return None
    args = call.child_by_field_name("arguments")
    if args is not None and args.named_child_count:
        return None  # arguments would need their own escape analysis
    return go if enclosing_function(go) == function else None


def _sends_per_run(source: SourceFile, literal: Node, refs: list[Node]) -> tuple[int, int] | None:
    """The most values one run of the goroutine can send on the channel, and the values
    every run sends, when every use
    of the channel in it is a plain send after which it only sends again or ends (so
    nothing it does relies on a receiver having taken the value). None otherwise."""
    body = literal.child_by_field_name("body")
    sends = [ref.parent for ref in refs if _is_send_channel(ref)]
    closes = [statement for ref in refs if (statement := _close_statement(ref)) is not None]
    if sends and len(sends) + len(closes) == len(refs):
        if len(closes) > 1 or (closes and not _only_sends_follow(closes[0], body, set())):
            return None  # a close must be the goroutine's last act
        most = _checked_count(body, set(sends), set(closes))
        return None if most is None else (most, _certain_sends(body, sends))
    if len(refs) != 1:
        return None
    # go func() { helper(ch, …) }(): the call must end the goroutine, and the helper
    # (a function of this file) may only send on its parameter.
    call = refs[0].parent.parent if refs[0].parent is not None else None
    if call is None or call.type != "call_expression" or refs[0].parent.type != "arguments":
        return None
    statement = call.parent
    if statement is None or statement.type != "expression_statement" or not _only_sends_follow(statement, body, set()):
        return None
    callee = _same_file_function(source, call)
    if callee is None:
        return None
    index = [a for a in refs[0].parent.named_children if a.type != "comment"].index(refs[0])
    parameter = _parameter_at(callee, index)
    if parameter is None:
        return None
    scopes = source.scopes(callee)
    decl = scopes.resolve(parameter)
    if decl is None or decl.kind != "param":
        return None
    callee_refs = scopes.references(decl)
    if not callee_refs or not all(_is_send_channel(r) and enclosing_function(r) == callee for r in callee_refs):
        return None
    callee_body = callee.child_by_field_name("body")
    most = _checked_count(callee_body, {r.parent for r in callee_refs})
    if most is None:
        return None
    certain = _certain_sends(callee_body, [r.parent for r in callee_refs]) if _certain_sends(body, [statement]) else 0
    return most, certain


def _certain_sends(body: Node, statements_: list[Node]) -> int:
    """How many of ``statements_`` every run of ``body`` executes: those that are
    statements of the body block itself with no return (or panic) before them."""
    top = set(statements(body))
    first_exit = min(
        (n.start_byte for n in walk_no_funcs(body) if n.type == "return_statement" or (n.type == "call_expression" and n.child_by_field_name("function").text == b"panic")),
        default=body.end_byte,
    )
    return sum(1 for s in statements_ if s in top and s.start_byte < first_exit)


def _checked_count(body: Node, sends: set, closes: set = frozenset()) -> int | None:
    """Closing after the last send is fine: a receiver still gets the buffered values
    first, in order, exactly as it got them handed over before."""
    if not sends or not all(_only_sends_follow(send, body, sends | closes) for send in sends):
        return None
    return _max_sends(body, sends)


def _close_statement(ident: Node) -> Node | None:
    """The `close(ch)` statement when ``ident`` is its argument."""
    arguments = ident.parent
    if arguments is None or arguments.type != "arguments" or arguments.named_child_count != 1:
        return None
    call = arguments.parent
    if call is None or call.type != "call_expression" or call.child_by_field_name("function").type != "identifier":
        return None
    if call.child_by_field_name("function").text != b"close":
        return None
    statement = call.parent
    return statement if statement is not None and statement.type == "expression_statement" else None


def _is_send_channel(ident: Node) -> bool:
    send = ident.parent
    return send is not None and send.type == "send_statement" and send.child_by_field_name("channel") == ident


def _same_file_function(source: SourceFile, call: Node) -> Node | None:
    function = call.child_by_field_name("function")
    if function is None or function.type != "identifier":
        return None
    name = source.text(function)
    for node in source.root.named_children:
        if node.type == "function_declaration" and source.text(node.child_by_field_name("name")) == name:
            if node.child_by_field_name("type_parameters") is not None:
                return None
            return node
    return None


def _parameter_at(function: Node, index: int) -> Node | None:
    return syntax.parameter_name_at(syntax.parameter_list(function), index)


def _only_sends_follow(statement: Node, body: Node, sends: set) -> bool:
    """After ``statement`` the function runs nothing but the given sends and bare
    returns before it ends (no loops around it, no other statements after it)."""
    current = statement
    while True:
        block = current.parent
        if block is None:
            return False
        siblings = statements(block)
        if current not in siblings:
            return False
        for following in siblings[siblings.index(current) + 1 :]:
            if following in sends:
                continue
            if following.type == "return_statement" and following.named_child_count == 0:
                return True  # the function ends here
            return False
        if block == body:
            return True
        holder = block.parent
        if syntax.is_case_clause(block) and not syntax.is_select_case(block):
            if holder is not None and holder.type in ("expression_switch_statement", "type_switch_statement"):
                current = holder
                continue
            return False
        if holder is None or block.type != "block":
            return False
        if holder.type == "if_statement":
            while holder.parent is not None and holder.parent.type == "if_statement":
                holder = holder.parent  # an `else if` chain: climb to the outermost if
            current = holder
            continue
        if holder.type == "block":
            current = block
            continue
        return False


_NEVER = float("-inf")  # no path of this kind exists


def _max_sends(body: Node, sends: set) -> int | None:
    """The most of ``sends`` one run through ``body`` can execute (None: a loop or a
    select holds one, so there is no bound we can state). A return ends the count of
    its path, so `if err != nil { ch <- e; return }; ch <- v` sends at most once."""
    counts = _path_counts(body, sends)
    if counts is None:
        return None
    best = max(counts)
    return None if best == _NEVER else int(best)


def _path_counts(node: Node, sends: set) -> tuple[float, float] | None:
    """(most sends on paths that continue after ``node``, most on paths that return in it)."""
    if node in sends:
        return (1, _NEVER)
    if node.type == "return_statement":
        return (_NEVER, 0)
    if not any(is_inside(send, node) for send in sends):
        returns = any(n.type == "return_statement" for n in walk_no_funcs(node))
        return (0, 0 if returns else _NEVER)
    if node.type in ("for_statement", "select_statement", "function_literal", "go_statement", "defer_statement", "labeled_statement"):
        return None
    if node.type == "if_statement":
        branches = [node.child_by_field_name("body"), node.child_by_field_name("else")]
        counts = [_path_counts(b, sends) if b is not None else (0, _NEVER) for b in branches]
        if None in counts:
            return None
        return (max(c[0] for c in counts), max(c[1] for c in counts))
    if node.type in ("expression_switch_statement", "type_switch_statement"):
        cases = syntax.switch_cases(node)
        counts = [_path_counts(c, sends) for c in cases]
        if None in counts:
            return None
        if not any(syntax.is_default_clause(c) for c in cases):
            counts.append((0, _NEVER))
        return (max(c[0] for c in counts), max(c[1] for c in counts))
    # A block, statement list or case clause: its statements in sequence.
    fall, returned = 0.0, _NEVER
    for child in node.named_children:
        if child.type == "comment" or not any(is_inside(send, child) for send in sends) and not _is_statement(child):
            continue
        counts = _path_counts(child, sends)
        if counts is None:
            return None
        returned = max(returned, fall + counts[1])
        fall = fall + counts[0]
    return (fall, returned)


def _is_statement(node: Node) -> bool:
    return syntax.is_statement_kind(node) or syntax.is_block(node)


def _loops_between(go: Node, make: Node) -> list[Node]:
    """Loops around the go statement that do not also hold the make (those multiply senders)."""
    loops = []
    for parent in ancestors(go):
        if parent.type in FUNCTION_KINDS:
            break
        if parent.type == "for_statement" and not is_inside(make, parent):
            loops.append(parent)
    return loops


# -- evidence of a leak -------------------------------------------------------------


def _leak_reason(source: SourceFile, function: Node, channel: _Channel) -> str | None:
    first_go = channel.senders[0].go
    receive_loops = {loop.start_byte: loop for r in channel.receives for loop in _loops_between(r, channel.make)}

    # 1. A receive in a select that can take another case and leave.
    for receive in channel.receives:
        select = _select_of(receive)
        if select is None:
            continue
        # Other cases that leave without receiving (one that waits for the value in its
        # own body, as `case <-timer.C: kill(); <-done` does, leaves no one behind).
        others = [
            c
            for c in syntax.switch_cases(select)
            if not is_inside(receive, c)
            and not any(is_inside(r, c) for r in channel.receives)
        ]
        if not others:
            continue
        if not _loops_between(receive, channel.make):
            if _plain_receive_after(select, channel):
                continue  # the function waits for the sender after the select anyway
            return "the select takes another case"
        if any(_exits_loop(case) for case in others):
            return "the select takes another case and leaves the loop"

    # 2. A return (or a break out of the receiving loop) after a goroutine started
    #    and before the receives are done.
    # With one value to receive, leaving the loop right after receiving it leaves no one behind.
    single_value = not any(s.loops for s in channel.senders) and sum(s.sends for s in channel.senders) == 1
    for node in walk_no_funcs(function.child_by_field_name("body")):
        if node.type == "return_statement":
            if node.start_byte < first_go.end_byte or not _same_path(first_go, node):
                continue
            if not _after_receive(node, channel):
                return "the function returns before receiving"  # no receive on this path yet
            if single_value:
                continue  # the one value was received on the way here
            if any(node.end_byte <= r.start_byte and _same_path(node, r) for r in channel.receives):
                return "the function returns before receiving"  # between receives
            if any(is_inside(node, loop) and _bounded(loop) for loop in receive_loops.values()):
                return "the function returns before receiving"  # from inside the receiving loop
        if node.type in ("break_statement", "goto_statement") and any(is_inside(node, loop) and _bounded(loop) for loop in receive_loops.values()):
            if _leaves_loop(node, receive_loops.values()) and not (single_value and _after_receive(node, channel)):
                return "the receiving loop stops early"

    # 3. More senders than receives: the first result wins, the others block.
    looped_senders = any(s.loops for s in channel.senders)
    if receive_loops:
        return None  # a receiving loop may drain every sender: no evidence
    # Evidence needs senders that certainly send (a goroutine that sends only when
    # some condition holds may be the only one that ever does), or one goroutine
    # with a path that sends twice (the DoubleSend bug).
    if looped_senders:
        if len(channel.receives) < 2 and all(s.certain >= 1 for s in channel.senders if s.loops):
            return "only the first of several senders is received"
        return None
    values = sum(s.sends for s in channel.senders)
    if len(channel.receives) < values:
        if any(s.sends > 1 for s in channel.senders):
            return f"a sender sends more than once: {values} sends, {len(channel.receives)} receives"
        if sum(s.certain for s in channel.senders) > len(channel.receives):
            return "fewer receives than senders run"
    return None


def _bounded(loop: Node) -> bool:
    """A loop with a condition or a range ends by itself once it has received enough; in
    an endless `for { … }` an exit is the designed way out (often after counting down
    the senders), so it is no evidence of leaving early."""
    return any(c.type in ("for_clause", "range_clause") or c.is_named and c.type not in ("block", "comment") for c in loop.named_children if c != loop.child_by_field_name("body"))


def _after_receive(exit_node: Node, channel: _Channel) -> bool:
    """A receive of the channel runs before ``exit_node`` on its path."""
    return any(r.end_byte <= exit_node.end_byte and _same_path(r, exit_node) for r in channel.receives)


def _plain_receive_after(select: Node, channel: _Channel) -> bool:
    return any(
        r.start_byte >= select.end_byte and _select_of(r) is None and _same_path(select, r) for r in channel.receives
    )


def _select_of(receive: Node) -> Node | None:
    """The select statement when ``receive`` is a case's communication."""
    clause = syntax.enclosing_select_case(receive)
    return clause.parent if clause is not None else None


def _exits_loop(case: Node) -> bool:
    """The select case returns or jumps out (an unlabelled break leaves only the select)."""
    for node in walk_no_funcs(case):
        if node.type in ("return_statement", "goto_statement"):
            return True
        if node.type == "break_statement" and node.named_children:
            return True
    return False


def _leaves_loop(jump: Node, loops) -> bool:
    if jump.type == "goto_statement" or jump.named_children:
        return True  # a labelled break or a goto: assume it leaves
    for parent in ancestors(jump):
        if parent.type in _BREAKABLE:
            return any(parent == loop for loop in loops)
    return False


def _same_path(a: Node, b: Node) -> bool:
    """False when ``a`` and ``b`` lie in alternative branches of one if/switch/select."""
    a_chain = [a, *ancestors(a)]
    for parent in ancestors(b):
        if parent in a_chain:
            return parent.type not in _BRANCHING
    return True


# -- the number of senders ----------------------------------------------------------


def _sender_count(source: SourceFile, scopes: FunctionScopes, function: Node, channel: _Channel) -> tuple[bytes | None, str]:
    """The buffer that lets every send complete: all the values senders can send, less
    the receives every run performs (only when those are certain: plain receives in
    the function's own top-level statements, with no looped senders)."""
    terms: list[bytes] = []
    constant = 0
    for sender in channel.senders:
        if not sender.loops:
            constant += sender.sends
            continue
        if len(sender.loops) > 1:
            return None, "senders started in nested loops"
        if sender.sends > 1:
            return None, "a sender started in a loop sends more than once"
        count, why_not = _loop_count(source, scopes, sender.loops[0], channel)
        if count is None:
            return None, why_not
        terms.append(count)
    if not terms:
        certain = [r for r in channel.receives if _unconditional(r, function)]
        if len(certain) == len(channel.receives) and not _leaves_early(channel):
            constant -= len(certain)
        return str(max(constant, 1)).encode(), ""
    if constant:
        terms.append(str(constant).encode())
    return b" + ".join(terms), ""


def _leaves_early(channel: _Channel) -> bool:
    """True when the evidence is a receiver that may leave (select, return, break):
    then no receive is certain and the buffer must hold every value."""
    return not channel.reason.startswith(("fewer receives", "a sender sends more"))


def _unconditional(receive: Node, function: Node) -> bool:
    """A plain receive in a statement of the function's body block itself."""
    if _select_of(receive) is not None:
        return False
    body = function.child_by_field_name("body")
    for parent in ancestors(receive):
        if parent.type in FUNCTION_KINDS or parent.type in ("function_literal",):
            return False
        if parent.parent is not None and parent.parent == body:
            return parent.type in ("expression_statement", "short_var_declaration", "assignment", "var_declaration")
        if parent.type in ("if_statement", "for_statement", "expression_switch_statement", "type_switch_statement", "select_statement", "block"):
            return False
    return False


def _loop_count(source: SourceFile, scopes: FunctionScopes, loop: Node, channel: _Channel) -> tuple[bytes | None, str]:
    clause = next((c for c in loop.named_children if c.type in ("for_clause", "range_clause")), None)
    if clause is None:
        return None, "the senders' loop has no bound"
    if clause.type == "for_clause":
        init = clause.child_by_field_name("init_statement")
        condition = clause.child_by_field_name("condition")
        update = clause.child_by_field_name("post_statement")
        if init is None or condition is None or update is None or init.type != "short_var_declaration":
            return None, "the senders' loop is not `for i := 0; i < n; i++`"
        left = [c for c in init.child_by_field_name("left").named_children]
        right = [c for c in init.child_by_field_name("right").named_children]
        if len(left) != 1 or len(right) != 1 or source.text(right[0]) != b"0":
            return None, "the senders' loop does not count from 0"
        index = source.text(left[0])
        if condition.type != "binary_expression" or source.text(condition.child_by_field_name("left")) != index:
            return None, "the senders' loop is not `for i := 0; i < n; i++`"
        if condition.child_by_field_name("operator").type != "<" or update.type != "inc_dec_statement" or syntax.assignment_operator(update) != b"++" or source.text(update.named_children[0]) != index:
            return None, "the senders' loop is not `for i := 0; i < n; i++`"
        if _body_assigns(source, loop, index):
            return None, "the loop body changes its counter"
        bound = condition.child_by_field_name("right")
        return _stable_expression(source, scopes, bound, channel)
    # for … range xs
    ranged = clause.child_by_field_name("right")
    ranged = unparen(ranged)
    if ranged.type == "int_literal":
        return source.text(ranged), ""
    if ranged.type != "identifier":
        return None, "the senders' loop ranges over an expression, not a variable"
    decl = scopes.resolve(ranged)
    if decl is None:
        return None, f"{source.text(ranged).decode()} is declared outside the function"
    spelled = TypeInference(source, scopes).variable_type(decl)
    if spelled is None:
        return None, f"the type of {decl.name.decode()} is not spelled in the source"
    count, why_not = _stable_expression(source, scopes, ranged, channel)
    if count is None:
        return None, why_not
    if spelled in _INT_TYPES:
        return count, ""
    if spelled.startswith((b"[]", b"[", b"map[")) or spelled == b"string":
        if spelled == b"string":
            return None, "the senders' loop ranges over a string (one per rune, not per byte)"
        return b"len(" + count + b")", ""
    return None, f"cannot count the elements of {decl.name.decode()} ({spelled.decode()})"


def _body_assigns(source: SourceFile, loop: Node, name: bytes) -> bool:
    body = loop.child_by_field_name("body")
    for node in walk(body):
        if node.type in _ASSIGNING:
            target = node.child_by_field_name("left") or (node.named_children[0] if node.named_children else None)
            if target is not None and any(source.text(i) == name for i in identifiers(target)):
                return True
        if node.type == "unary_expression" and source.text(node).startswith(b"&") and any(source.text(i) == name for i in identifiers(node)):
            return True
    return False


def _stable_expression(source: SourceFile, scopes: FunctionScopes, expr: Node, channel: _Channel) -> tuple[bytes | None, str]:
    """``expr``'s text when it means the same at the make as at the loop: literals and
    local variables (or parameters) declared before the make and never assigned again."""
    expr = unparen(expr)
    if expr.type == "int_literal":
        return source.text(expr), ""
    if expr.type == "call_expression" and source.text(expr.child_by_field_name("function")) == b"len":
        args = expr.child_by_field_name("arguments").named_children
        if len(args) == 1:
            inner, why_not = _stable_expression(source, scopes, args[0], channel)
            return (b"len(" + inner + b")" if inner is not None else None), why_not
    if expr.type != "identifier":
        return None, f"the number of senders ({source.text(expr).decode()}) is not a variable or a constant"
    decl = scopes.resolve(expr)
    name = source.text(expr).decode()
    if decl is None:
        return None, f"{name} is declared outside the function"
    if decl.kind not in ("param", "short", "var", "const") or decl.visible_from > channel.make.start_byte:
        return None, f"{name} is not declared before the channel"
    for ref in scopes.references(decl):
        parent = ref.parent
        while parent is not None and parent.type == "expression_list":
            parent = parent.parent
        if parent is not None and parent.type in _ASSIGNING and is_inside(ref, parent.child_by_field_name("left") or parent.named_children[0]):
            return None, f"{name} is assigned after its declaration"
        if parent is not None and parent.type == "unary_expression" and source.text(parent).startswith(b"&"):
            return None, f"the address of {name} is taken"
    return source.text(expr), ""


def _buffer_edit(source: SourceFile, make: Node, count: bytes) -> Edit:
    args = [a for a in make.child_by_field_name("arguments").named_children if a.type != "comment"]
    if len(args) == 2:  # make(chan T, 0)
        return Edit(args[1].start_byte, args[1].end_byte, count)
    return Edit.insert(args[0].end_byte, b", " + count)
