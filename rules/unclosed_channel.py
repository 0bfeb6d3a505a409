"""unclosed-channel: a goroutine waits for the end of a channel nobody closes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.control import break_target, loop_exits
from gofix_defer.codemods.analysis.goroutines import is_done_receive
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.scope import Declaration, FunctionScopes
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import FUNCTION_KINDS, ancestors, expression_list_items, statements, unparen, walk_no_funcs
from gofix_defer.codemods.edits.insertion import insert_after, insert_before, starts_line
from gofix_defer.codemods.model import Diagnostic, Fix, Rule


class UnclosedChannel(Rule):
    """
    ## What it does
    Finds a channel made in the function (`ch := make(chan T)`) that a
    goroutine started in the function ranges over (`for v := range ch`), or
    waits on in a loop until it is closed (`v, ok := <-ch; if !ok {…}`), and
    that nothing ever closes: no `close(ch)` anywhere in the function.

    Left alone, for lack of evidence: channels that leave the function
    (returned, stored, sent, assigned, passed to a call whose body is not a
    func literal of the function: the other side may close them), channels
    used in a `select` with a `Done()` case, and consumers whose loop has
    another way out (a sentinel value, a return, a break).

    ## Why is this bad
    `range` over a channel ends only when the channel is closed. When the
    producer is done and returns without closing, every consumer blocks for
    ever, with everything it references: a goroutine leak per call.

    ## Example
    ```go
    func process(items []int) {
        ch := make(chan int)
        go func() {
            for v := range ch {
                fmt.Println(v)
            }
        }()
        for _, item := range items {
            ch <- item
        }
    }
    ```

    ## Fix
    Close the channel where every send has happened: a `close(ch)` statement
    after the function's last send, when the function itself does all the
    sending in its straight-line code,
    ```go
        for _, item := range items {
            ch <- item
        }
        close(ch)
    ```
    or `defer close(ch)` at the top of the single producer goroutine when one
    `go func(){…}()` literal, started once, does all the sending. No fix
    (report only) when several goroutines send, when sends happen in
    deferred or nested functions, or when a return or break could skip the
    close or a send could follow it.

    ## Fix safety
    Safe: the close happens after the last send on every path the fix
    accepts, the channel is visible only to this function, and the consumers
    were waiting for exactly that signal.
    """

    name = "unclosed-channel"
    summary = "Goroutine ranges over a channel the function makes and never closes"
    fix_availability = "sometimes"
    triggers = (b"make(chan",)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        for function in nodes_of_types(source, FUNCTION_KINDS):
            # Cheap byte test first: most functions make no channel at all.
            if function.child_by_field_name("body") is None or b"make(chan" not in source.text(function):
                continue
            made = _channel_declarations(source, function)
            if not made:
                continue
            scopes = source.scopes(function)
            for declaration_ident in made:
                decl = _declaration_of(scopes, declaration_ident)
                if decl is not None:
                    yield from self._check_channel(source, scopes, function, decl)

    def _check_channel(self, source: SourceFile, scopes: FunctionScopes, function: Node, decl: Declaration) -> Iterator[Diagnostic]:
        uses = _Uses()
        if not _collect_uses(source, scopes, function, decl, decl, uses, depth=0):
            return  # the channel leaves the function, or is closed: no evidence
        if uses.closed or uses.guarded_by_done:
            return
        consumers = [c for c in uses.consumers if _waits_for_close(source, c)]
        if not consumers or len(consumers) != len(uses.consumers):
            return
        name = decl.name.decode()
        line = source.line_col(consumers[0].loop.start_byte)[0]
        if uses.escapes:
            yield self.diagnostic(
                decl.ident,
                f"channel {name} is not closed in this function and the goroutine waiting on it (line {line}) "
                f"exits only when it is (no fix: {uses.escapes[0]}, which may or may not close it)",
            )
            return
        message = f"channel {name} is never closed: the goroutine waiting on it (line {line}) never exits"
        fix, reason = _build_fix(source, function, decl, uses)
        if fix is None and reason is None:
            return
        if fix is None:
            message += f" (no fix: {reason})"
        else:
            message += "; close it after the last send"
        yield self.diagnostic(decl.ident, message, fix)


RULE = UnclosedChannel()


# -- finding --------------------------------------------------------------------


def _is_channel_make(source: SourceFile, value: Node | None) -> bool:
    if value is None:
        return False
    value = unparen(value)
    if value.type != "call_expression" or source.text(value.child_by_field_name("function")) != b"make":
        return False
    arguments = [a for a in value.child_by_field_name("arguments").named_children if a.type != "comment"]
    return bool(arguments) and arguments[0].type == "channel_type" and source.text(arguments[0]).startswith(b"chan")


def _channel_declarations(source: SourceFile, function: Node) -> list[Node]:
    """Identifiers declared in the function's own code (not nested literals) by `x := make(chan T)` / `var x = make(chan T)`."""
    found = []
    for node in walk_no_funcs(function.child_by_field_name("body")):
        if node.type == "short_var_declaration":
            left = expression_list_items(node.child_by_field_name("left"))
            right = expression_list_items(node.child_by_field_name("right"))
        elif node.type == "var_spec":
            left = node.children_by_field_name("name")
            right = expression_list_items(node.child_by_field_name("value"))
        else:
            continue
        if len(left) != len(right):
            continue
        for ident, value in zip(left, right):
            if ident.type == "identifier" and _is_channel_make(source, value):
                found.append(ident)
    return found


def _declaration_of(scopes: FunctionScopes, ident: Node) -> Declaration | None:
    return next((d for d in scopes.declarations() if d.key == (ident.start_byte, ident.end_byte)), None)


@dataclass
class _Use:
    node: Node  # the send statement, or the consumer loop
    chain: list[Node]  # func literals between the function and the use, outermost first
    name: bytes  # the channel's name where used (a parameter alias inside a func literal)


@dataclass
class _Consumer:
    loop: Node  # the for statement
    goroutine: Node  # the go-started func literal that holds it
    channel_name: bytes
    ok_name: bytes | None = None  # for `v, ok := <-ch` loops: the name that turns false on close


@dataclass
class _Uses:
    sends: list[_Use] = field(default_factory=list)
    receives: list[_Use] = field(default_factory=list)
    consumers: list[_Consumer] = field(default_factory=list)
    closed: bool = False
    guarded_by_done: bool = False
    # Where the channel leaves the function's sight (passed to an unseen call,
    # stored, sent, assigned): reported without a fix, since whoever receives
    # it might close it — or might not.
    escapes: list[str] = field(default_factory=list)


def _literal_chain(function: Node, node: Node) -> list[Node]:
    chain = []
    for parent in ancestors(node):
        if parent == function:
            break
        if parent.type == "function_literal":
            chain.append(parent)
    return list(reversed(chain))


def _started_by(literal: Node) -> str:
    """How a func literal runs: "go", "defer", "call" (invoked in place) or "value" (stored, passed…)."""
    call = literal.parent
    while call is not None and call.type == "parenthesized_expression":
        call = call.parent
    if call is None or call.type != "call_expression" or unparen(call.child_by_field_name("function")) != literal:
        return "value"
    holder = call.parent
    if holder is not None and holder.type == "go_statement":
        return "go"
    if holder is not None and holder.type == "defer_statement":
        return "defer"
    return "call"


def _collect_uses(source: SourceFile, scopes: FunctionScopes, function: Node, origin: Declaration, decl: Declaration, uses: _Uses, depth: int) -> bool:
    """Classify every reference to ``decl``; False when the channel escapes the function's sight."""
    if depth > 4:
        return False
    for ref in scopes.references(decl):
        node = ref
        while node.parent is not None and node.parent.type == "parenthesized_expression":
            node = node.parent
        parent = node.parent
        chain = _literal_chain(function, ref)
        if _in_select_with_done(source, ref, function):
            uses.guarded_by_done = True
        if parent.type == "send_statement" and parent.child_by_field_name("channel") == node:
            uses.sends.append(_Use(parent, chain, decl.name))
        elif parent.type == "unary_expression" and source.text(parent.child_by_field_name("operator")) == b"<-":
            uses.receives.append(_Use(parent, chain, decl.name))
            consumer = _receive_loop(source, parent, decl.name, chain)
            if consumer is not None:
                uses.consumers.append(consumer)
        elif parent.type == "range_clause" and parent.child_by_field_name("right") == node:
            loop = parent.parent
            uses.receives.append(_Use(loop, chain, decl.name))
            if chain and len(chain) == 1 and _started_by(chain[0]) == "go":
                uses.consumers.append(_Consumer(loop, chain[0], decl.name))
        elif parent.type == "arguments":
            call = parent.parent
            callee = unparen(call.child_by_field_name("function"))
            arguments = [a for a in parent.named_children if a.type != "comment"]
            if callee.type == "identifier" and source.text(callee) in (b"len", b"cap") and scopes.resolve(callee) is None:
                continue
            if callee.type == "identifier" and source.text(callee) == b"close" and scopes.resolve(callee) is None:
                uses.closed = True
                continue
            if _in_return(function, call):
                return False  # handed to the caller, who owns closing it
            if callee.type == "identifier":
                # `f := func(c chan int) {…}; f(ch)`: follow the literal f is bound to.
                bound = scopes.resolve(callee)
                if bound is not None and bound.value is not None and unparen(bound.value).type == "function_literal":
                    callee = unparen(bound.value)
            if callee.type != "function_literal":
                uses.escapes.append(f"it is passed to {_one_line(source, callee)}")
                continue
            alias = _parameter_for(scopes, callee, arguments.index(node))
            if alias is None or not _collect_uses(source, scopes, function, origin, alias, uses, depth + 1):
                uses.escapes.append("it is passed to a function literal that lets it go")
        elif _in_return(function, node):
            return False  # returned (or returned inside a value): the caller owns it
        else:
            uses.escapes.append(f"it escapes in `{_one_line(source, syntax.statement_of(parent))}`")  # stored, assigned, sent…
    return True


def _in_return(function: Node, node: Node) -> bool:
    """Is ``node`` part of a return statement of ``function`` itself (not of a nested literal)?"""
    for parent in ancestors(node):
        if parent == function or parent.type == "function_literal":
            return False
        if parent.type == "return_statement":
            return True
    return False


def _one_line(source: SourceFile, node: Node) -> str:
    text = source.text(node).decode("utf-8", "replace").split("\n", 1)[0].strip()
    return text if len(text) <= 40 else text[:37] + "..."


def _parameter_for(scopes: FunctionScopes, literal: Node, index: int) -> Declaration | None:
    """The declaration of the ``index``-th parameter of ``literal`` (None for variadic or unnamed)."""
    position = 0
    for parameter in syntax.parameters_of(syntax.parameter_list(literal)):
        if parameter.variadic:
            return None
        for ident in parameter.names:
            if position == index:
                return _declaration_of(scopes, ident)
            position += 1
    return None


def _in_select_with_done(source: SourceFile, ref: Node, function: Node) -> bool:
    for parent in ancestors(ref):
        if parent == function:
            return False
        if parent.type == "select_statement":
            return any(is_done_receive(source, n) for n in walk_no_funcs(parent) if n.type == "unary_expression")
    return False


def _receive_loop(source: SourceFile, receive: Node, name: bytes, chain: list[Node]) -> _Consumer | None:
    """`for { v, ok := <-ch; … }` in a goroutine: a loop that waits for the close."""
    if len(chain) != 1 or _started_by(chain[0]) != "go":
        return None
    holder = receive.parent
    if holder is None or holder.type != "expression_list":
        return None
    statement = holder.parent
    if statement is None or statement.type not in ("short_var_declaration", "assignment", "receive_statement"):
        return None
    left = expression_list_items(statement.child_by_field_name("left"))
    if len(left) != 2 or left[1].type != "identifier":
        return None
    loop = next((a for a in ancestors(statement) if a.type == "for_statement" or a.type in FUNCTION_KINDS), None)
    if loop is None or loop.type != "for_statement":
        return None
    ok = source.text(left[1])
    return _Consumer(loop, chain[0], name, ok) if _ok_name_checked(source, loop, ok) else None


def _ok_name_checked(source: SourceFile, loop: Node, ok: bytes) -> bool:
    return any(n.type == "if_statement" and source.text(n.child_by_field_name("condition")) == b"!" + ok for n in walk_no_funcs(loop))


def _waits_for_close(source: SourceFile, consumer: _Consumer) -> bool:
    """The consumer's loop ends only when the channel is closed (no sentinel, no other way out)."""
    loop = consumer.loop
    if any(n.type == "select_statement" for n in walk_no_funcs(loop)):
        return False  # another case may end it
    if loop.child_by_field_name("body") is None:
        return False
    is_range = any(c.type == "range_clause" for c in loop.named_children)
    if is_range:
        return not loop_exits(source, loop)
    # A receive loop: every way out must sit under `if !ok`.
    for node in walk_no_funcs(loop.child_by_field_name("body")):
        if node.type in ("return_statement", "goto_statement") or (node.type == "break_statement" and break_target(node) == loop):
            guard = next((a for a in ancestors(node) if a.type == "if_statement"), None)
            if guard is None or source.text(guard.child_by_field_name("condition")) != b"!" + consumer.ok_name:
                return False
    return True


# -- fixing ---------------------------------------------------------------------


def _build_fix(source: SourceFile, function: Node, decl: Declaration, uses: _Uses) -> tuple[Fix | None, str | None]:
    """The fix, or why there is none; (None, None) when the finding turns out not to be a leak."""
    name = decl.name.decode()
    if not uses.sends:
        return None, f"nothing in this function sends on {name}"
    contexts = {tuple((c.start_byte, c.end_byte) for c in use.chain) for use in uses.sends}
    if len(contexts) > 1:
        return None, f"several goroutines or functions send on {name}; close it once they are all done"
    chain = uses.sends[0].chain
    if not chain:
        return _close_after_last_send(source, function, decl, uses)
    if len(chain) == 1 and _started_by(chain[0]) == "go":
        return _close_in_producer(source, function, chain[0], uses)
    return None, f"the sends on {name} run in a deferred or nested function; a close could precede one of them"


def _close_in_producer(source: SourceFile, function: Node, producer: Node, uses: _Uses) -> tuple[Fix | None, str]:
    go_statement = producer.parent
    while go_statement is not None and go_statement.type != "go_statement":
        go_statement = go_statement.parent
    if any(a.type == "for_statement" for a in ancestors(go_statement) if _inside(a, function) and a != function):
        return None, "the producer goroutine is started in a loop: several goroutines send"
    if any(r.chain and r.chain[0] == producer for r in uses.receives) or any(c.goroutine == producer for c in uses.consumers):
        return None, "the producer goroutine also receives from the channel"
    channel_name = uses.sends[0].name
    body_statements = statements(producer.child_by_field_name("body"))
    if not body_statements or not starts_line(source, body_statements[0]):
        return None, "the producer goroutine is written on one line"
    edit = insert_before(source, body_statements[0], [b"defer close(" + channel_name + b")"])
    if edit is None:
        return None, "the producer goroutine is written on one line"
    return Fix(f"Close {channel_name.decode()} when its producer goroutine returns", (edit,)), ""


def _inside(node: Node, container: Node) -> bool:
    return container.start_byte <= node.start_byte and node.end_byte <= container.end_byte


def _close_after_last_send(source: SourceFile, function: Node, decl: Declaration, uses: _Uses) -> tuple[Fix | None, str | None]:
    """A `close(ch)` statement after the statement, in the declaring block, that holds the last send."""
    name = decl.name.decode()
    declaring = decl.statement
    while declaring.parent is not None and not syntax.holds_statements(declaring.parent):
        declaring = declaring.parent
    home = declaring.parent
    siblings = statements(home)
    position = next(i for i, s in enumerate(siblings) if (s.start_byte, s.end_byte) == (declaring.start_byte, declaring.end_byte))
    holders = []
    for send in uses.sends:
        holder = next((s for s in siblings[position + 1 :] if _inside(send.node, s)), None)
        if holder is None:
            return None, f"a send on {name} is outside the block that makes it"
        holders.append(holder)
    last = max(holders, key=lambda s: s.start_byte)
    if _never_ends(source, last):
        return None, None  # the function never stops sending: its consumers are not left behind
    span = [s for s in siblings[position + 1 :] if s.start_byte <= last.start_byte]
    for statement in span:
        for node in walk_no_funcs(statement):
            if node.type in ("return_statement", "goto_statement"):
                return None, f"a {node.type.split('_')[0]} before the last send would skip the close"
            if node.type in ("break_statement", "continue_statement"):
                target = break_target(node) if node.type == "break_statement" else next(
                    (a for a in ancestors(node) if a.type in ("for_statement",) or a.type in FUNCTION_KINDS), None
                )
                if node.named_children or target is None or not _inside(target, statement):
                    return None, f"a {node.type.split('_')[0]} before the last send would skip the close"
    for receive in uses.receives:
        if not receive.chain and receive.node.start_byte > last.end_byte:
            return None, f"the function receives from {name} after its last send"
    edit = insert_after(source, last, [f"close({name})".encode()])
    if edit is None:
        return None, "the last send shares its line with other code"
    return Fix(f"Close {name} after the last send", (edit,)), ""


def _never_ends(source: SourceFile, statement: Node) -> bool:
    """`for { … }` with no way out: code after it is unreachable (and go vet says so)."""
    if statement.type == "labeled_statement":
        statement = statement.named_children[-1]
    if statement.type != "for_statement":
        return False
    body = statement.child_by_field_name("body")
    has_header = any(c != body for c in statement.named_children if c.type != "comment")
    return not has_header and not loop_exits(source, statement)
