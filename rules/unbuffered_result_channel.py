"""unbuffered-result-channel: goroutines send results on an unbuffered channel the
function may stop receiving from (timeout, early return, first result wins)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.model import Applicability, Diagnostic, Edit, Fix, Rule
from gofix_defer.codemods.scope import Declaration, FunctionScopes, identifiers
from gofix_defer.codemods.source import SourceFile
from gofix_defer.codemods.tree import FUNCTION_TYPES, ancestors, called_func_literal, enclosing_function, is_inside, statements, unparen, walk, walk_no_funcs
from gofix_defer.codemods.typeinfer import TypeInference

# Statements whose branches are alternatives: two nodes whose nearest common
# ancestor is one of these lie on different paths.
_BRANCHING = frozenset({"if_statement", "expression_switch_statement", "type_switch_statement", "select_statement"})
_BREAKABLE = frozenset({"for_statement", "expression_switch_statement", "type_switch_statement", "select_statement"})
_INT_TYPES = frozenset(b"int int8 int16 int32 int64 uint uint8 uint16 uint32 uint64 uintptr".split())
_ASSIGNING = frozenset({"assignment_statement", "inc_statement", "dec_statement"})


@dataclass
class _Sender:
    go: Node  # the go statement
    send: list[Node]  # its send statements on the channel (each ends the goroutine)
    loops: list[Node]  # loops around the go statement that do not also hold the make


@dataclass
class _Channel:
    decl: Declaration
    make: Node  # the make(chan T) call
    senders: list[_Sender] = field(default_factory=list)
    receives: list[Node] = field(default_factory=list)  # the unary `<-ch` expressions in the function


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
        for function in walk(source.root):
            if function.type not in FUNCTION_TYPES or function.child_by_field_name("body") is None:
                continue
            if b"make(chan" not in source.text(function):
                continue
            scopes: FunctionScopes | None = None
            for make in walk_no_funcs(function.child_by_field_name("body")):
                if make.type != "call_expression" or not _is_unbuffered_make(source, make):
                    continue
                scopes = scopes or FunctionScopes(source.data, function)
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
        count, why_not = _sender_count(source, scopes, channel)
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
    goroutines it starts). False when any use is something else: the channel escapes."""
    senders: dict[int, _Sender] = {}
    for ref in scopes.references(channel.decl):
        owner = enclosing_function(ref)
        if owner == function:
            if _is_receive_operand(ref):
                channel.receives.append(ref.parent)
                continue
            return False
        go = _direct_goroutine(function, owner)
        if go is None or not _is_tail_send(ref, owner):
            return False
        sender = senders.get(go.start_byte)
        if sender is None:
            sender = senders[go.start_byte] = _Sender(go, [], _loops_between(go, channel.make))
        sender.send.append(ref.parent)
    channel.senders = sorted(senders.values(), key=lambda s: s.go.start_byte)
    return True


def _is_receive_operand(ident: Node) -> bool:
    parent = ident.parent
    if parent is None or parent.type != "unary_expression" or parent.child_by_field_name("operand") != ident:
        return False
    operator = parent.child_by_field_name("operator")
    return operator is not None and operator.type == "<-"


def _direct_goroutine(function: Node, literal: Node | None) -> Node | None:
    """The `go func(){…}()` statement, directly in ``function``, that runs ``literal``."""
    if literal is None or literal.type != "func_literal":
        return None
    call = literal.parent
    while call is not None and call.type == "parenthesized_expression":
        call = call.parent
    if call is None or call.type != "call_expression":
        return None
    go = call.parent
    if go is None or go.type != "go_statement" or called_func_literal(go) != literal:
        return None
    args = call.child_by_field_name("arguments")
    if args is not None and args.named_child_count:
        return None  # arguments would need their own escape analysis
    return go if enclosing_function(go) == function else None


def _is_tail_send(ident: Node, literal: Node) -> bool:
    """`ch <- v` as a plain statement after which the goroutine ends, outside any loop:
    each run of the goroutine then sends at most once and waits for nothing after."""
    send = ident.parent
    if send is None or send.type != "send_statement" or send.child_by_field_name("channel") != ident:
        return False
    return _ends_goroutine(send, literal)


def _ends_goroutine(statement: Node, literal: Node) -> bool:
    body = literal.child_by_field_name("body")
    current = statement
    while True:
        block = current.parent
        if block is not None and block.type == "statement_list":
            block = block.parent
        if block is None:
            return False
        siblings = statements(block)
        if current not in siblings:
            return False
        rest = siblings[siblings.index(current) + 1 :]
        if rest:
            # Only a bare return may follow.
            return len(rest) == 1 and rest[0].type == "return_statement" and rest[0].named_child_count == 0
        if block == body:
            return True
        # The block ends: the statement holding it must itself end the goroutine.
        holder = block.parent
        if block.type in ("expression_case", "default_case", "type_case"):
            holder = block.parent
            if holder is not None and holder.type in ("expression_switch_statement", "type_switch_statement"):
                current = holder
                continue
            return False
        if holder is None or block.type != "block":
            return False
        if holder.type == "if_statement":
            # an `else if` chain: climb to the outermost if.
            while holder.parent is not None and holder.parent.type == "if_statement":
                holder = holder.parent
            current = holder
            continue
        if holder.type == "block":
            current = block
            continue
        return False


def _loops_between(go: Node, make: Node) -> list[Node]:
    """Loops around the go statement that do not also hold the make (those multiply senders)."""
    loops = []
    for parent in ancestors(go):
        if parent.type in FUNCTION_TYPES:
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
        others = [c for c in select.named_children if c.type in ("communication_case", "default_case") and not is_inside(receive, c)]
        if not others:
            continue
        if not _loops_between(receive, channel.make):
            if _plain_receive_after(select, channel):
                continue  # the function waits for the sender after the select anyway
            return "the select takes another case"
        if any(_exits_loop(source, case, function) for case in others):
            return "the select takes another case and leaves the loop"

    # 2. A return (or a break out of the receiving loop) after a goroutine started
    #    and before the receives are done.
    last_receive_start = max(r.start_byte for r in channel.receives)
    for node in walk_no_funcs(function.child_by_field_name("body")):
        if node.type == "return_statement":
            if node.start_byte < first_go.end_byte or not _same_path(first_go, node):
                continue
            if node.end_byte <= last_receive_start or any(is_inside(node, loop) for loop in receive_loops.values()):
                return "the function returns before receiving"
        if node.type in ("break_statement", "goto_statement") and any(is_inside(node, loop) for loop in receive_loops.values()):
            if _leaves_loop(node, receive_loops.values()):
                return "the receiving loop stops early"

    # 3. More senders than receives: the first result wins, the others block.
    looped_senders = any(s.loops for s in channel.senders)
    if receive_loops:
        return None  # a receiving loop may drain every sender: no evidence
    if looped_senders and len(channel.receives) < 2:
        return "only the first of several senders is received"
    if not looped_senders and len(channel.receives) < len(channel.senders):
        return "fewer receives than senders run"
    return None


def _plain_receive_after(select: Node, channel: _Channel) -> bool:
    return any(
        r.start_byte >= select.end_byte and _select_of(r) is None and _same_path(select, r) for r in channel.receives
    )


def _select_of(receive: Node) -> Node | None:
    """The select statement when ``receive`` is a case's communication."""
    parent = receive.parent
    if parent is not None and parent.type in ("receive_statement", "expression_statement"):
        parent = parent.parent
    if parent is not None and parent.type == "communication_case":
        return parent.parent
    return None


def _exits_loop(source: SourceFile, case: Node, function: Node) -> bool:
    if case.type == "default_case":
        return True
    for node in walk_no_funcs(case):
        if node.type in ("return_statement", "goto_statement"):
            return True
        if node.type == "break_statement":
            label = node.named_children
            if label:
                return True
            # an unlabelled break in a select case leaves only the select
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


def _sender_count(source: SourceFile, scopes: FunctionScopes, channel: _Channel) -> tuple[bytes | None, str]:
    terms: list[bytes] = []
    constant = 0
    for sender in channel.senders:
        if not sender.loops:
            constant += 1
            continue
        if len(sender.loops) > 1:
            return None, "senders started in nested loops"
        count, why_not = _loop_count(source, scopes, sender.loops[0], channel)
        if count is None:
            return None, why_not
        terms.append(count)
    if constant:
        terms.append(str(constant).encode())
    return b" + ".join(terms), ""


def _loop_count(source: SourceFile, scopes: FunctionScopes, loop: Node, channel: _Channel) -> tuple[bytes | None, str]:
    clause = next((c for c in loop.named_children if c.type in ("for_clause", "range_clause")), None)
    if clause is None:
        return None, "the senders' loop has no bound"
    if clause.type == "for_clause":
        init = clause.child_by_field_name("initializer")
        condition = clause.child_by_field_name("condition")
        update = clause.child_by_field_name("update")
        if init is None or condition is None or update is None or init.type != "short_var_declaration":
            return None, "the senders' loop is not `for i := 0; i < n; i++`"
        left = [c for c in init.child_by_field_name("left").named_children]
        right = [c for c in init.child_by_field_name("right").named_children]
        if len(left) != 1 or len(right) != 1 or source.text(right[0]) != b"0":
            return None, "the senders' loop does not count from 0"
        index = source.text(left[0])
        if condition.type != "binary_expression" or source.text(condition.child_by_field_name("left")) != index:
            return None, "the senders' loop is not `for i := 0; i < n; i++`"
        if condition.child_by_field_name("operator").type != "<" or update.type != "inc_statement" or source.text(update.named_children[0]) != index:
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
