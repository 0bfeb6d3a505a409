"""Control facts: where jumps lead, what leaves a loop or a function, which
statements lie on one path. Computed from the syntax tree of one function.

Go's rules that matter: an unlabelled `break` leaves the innermost for,
switch or select; an unlabelled `continue` resumes the innermost for; a
labelled one names a labelled statement around it; nothing crosses a
function literal. A terminating statement (the spec's term) is one after
which the statements that follow cannot run.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterator

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.facts import Fact
from gofix_defer.codemods.analysis.syntax import ancestors, walk_no_funcs

# Calls after which nothing in the function runs: they end the goroutine or the program.
_EXIT_CALLS = frozenset({b"panic", b"os.Exit", b"runtime.Goexit"})
_EXIT_CALL_PREFIXES = (b"log.Fatal", b"log.Panic")


def is_exit_call(data: bytes, node: Node) -> bool:
    """`panic(…)`, `os.Exit(…)`, `runtime.Goexit()`, `log.Fatal*(…)`, `log.Panic*(…)`."""
    if not syntax.is_call(node):
        return False
    function = syntax.callee(node)
    name = data[function.start_byte : function.end_byte] if function is not None else b""
    return name in _EXIT_CALLS or name.startswith(_EXIT_CALL_PREFIXES)


def is_panic_call(data: bytes, node: Node) -> bool:
    return syntax.is_call(node) and syntax.call_name(node, data) == b"panic"


def break_target(statement: Node) -> Node | None:
    """The statement an unlabelled ``break`` leaves (None outside any, or across a function literal)."""
    for parent in ancestors(statement):
        if syntax.is_function(parent):
            return None
        if syntax.is_breakable(parent):
            return parent
    return None


def continue_target(statement: Node) -> Node | None:
    """The loop an unlabelled ``continue`` resumes."""
    for parent in ancestors(statement):
        if syntax.is_function(parent):
            return None
        if syntax.is_loop(parent):
            return parent
    return None


def unlabelled_target(jump: Node) -> Node | None:
    """What an unlabelled break leaves or continue resumes."""
    return continue_target(jump) if syntax.is_continue(jump) else break_target(jump)


def labelled_statement_named(jump: Node, label: bytes) -> Node | None:
    """The statement under the label ``label`` around ``jump`` (None: not in this function)."""
    for parent in ancestors(jump):
        if syntax.is_function(parent):
            return None
        if syntax.is_labeled(parent):
            name = syntax.statement_label(parent)
            if name is not None and name.text == label:
                return syntax.labeled_body(parent)
    return None


def jump_target(jump: Node) -> Node | None:
    """The statement a break/continue leaves or resumes, labelled or not (None: not found)."""
    label = syntax.jump_label(jump)
    if label is None:
        return unlabelled_target(jump)
    return labelled_statement_named(jump, label.text or b"")


def loop_label(source, loop: Node) -> bytes | None:
    """The label written in front of ``loop``, if any."""
    label = syntax.label_of_statement(loop)
    return source.text(label) if label is not None else None


def loop_exits(source, loop: Node) -> bool:
    """True when something in ``loop``'s body can leave it: return, goto, a break
    bound to it (unlabelled, or naming its label), panic, os.Exit or log.Fatal*."""
    body = syntax.body(loop)
    if body is None:
        return True
    return leaving_jump(source, loop) is not None or any(is_exit_call(source.data, node) for node in walk_no_funcs(body))


def leaving_jump(source, loop: Node) -> Node | None:
    """The first return, goto or break bound to ``loop`` (unlabelled, or naming its
    label) in its body, outside function literals: a way out before the loop ends."""
    return next(_leaving_jumps(source, loop), None)


def leaving_jumps(source, loop: Node) -> list[Node]:
    """Every return, goto and break bound to ``loop`` in its body, outside function
    literals, in document order."""
    return list(_leaving_jumps(source, loop))


def _leaving_jumps(source, loop: Node) -> Iterator[Node]:
    body = syntax.body(loop)
    if body is None:
        return
    label = loop_label(source, loop)
    for node in walk_no_funcs(body):
        if syntax.is_return(node) or syntax.is_goto(node):
            yield node
        elif syntax.is_break(node):
            target = syntax.jump_label(node)
            if target is not None:
                if label is not None and source.text(target) == label:
                    yield node
            elif break_target(node) == loop:
                yield node


def unlabelled_breaks_of(loop: Node) -> list[Node]:
    """``break`` statements without a label that leave ``loop`` itself."""
    body = syntax.body(loop)
    if body is None:
        return []
    return [n for n in walk_no_funcs(body) if syntax.is_break(n) and syntax.jump_label(n) is None and break_target(n) == loop]


def never_ends(source, statement: Node) -> bool:
    """`for { … }` with no way out: code after it is unreachable (and go vet says so)."""
    statement = syntax.unlabelled_statement(statement)
    return syntax.is_loop(statement) and not syntax.has_loop_header(statement) and not loop_exits(source, statement)


def loops_for_ever(source, statement: Node) -> bool:
    """Like ``never_ends``, and also for a for clause without a condition
    (`for i := 0; ; i++ { … }`): no condition, no range, no way out."""
    statement = syntax.unlabelled_statement(statement)
    if not syntax.is_loop(statement) or syntax.range_clause(statement) is not None:
        return False
    return syntax.condition(statement) is None and not loop_exits(source, statement)


def innermost_loop(node: Node) -> Node | None:
    """The nearest for statement around ``node`` within its own function."""
    for parent in ancestors(node):
        if syntax.is_function(parent):
            return None
        if syntax.is_loop(parent):
            return parent
    return None


def enclosing_loops(node: Node) -> list[Node]:
    """The for statements around ``node`` within its own function, innermost first."""
    found = []
    for parent in ancestors(node):
        if syntax.is_function(parent):
            break
        if syntax.is_loop(parent):
            found.append(parent)
    return found


def runs_in_sequence(node: Node, function: Node) -> bool:
    """Does ``node`` run in ``function``'s own flow, when control reaches it? Not when a
    function literal, a defer statement (it runs at return) or a go statement (it runs
    elsewhere) lies between them, nor when ``node`` is not inside ``function``."""
    for parent in ancestors(node):
        if parent == function:
            return True
        if syntax.is_function(parent) or syntax.is_defer(parent) or syntax.is_go(parent):
            return False
    return False


def inside_loop(node: Node, within: Node) -> bool:
    """Is there a for statement between ``node`` and ``within`` (exclusive)?"""
    for parent in ancestors(node):
        if parent == within:
            return False
        if syntax.is_loop(parent):
            return True
    return False


def loops_between(node: Node, outer: Node) -> list[Node]:
    """The loops around ``node`` that do not also hold ``outer`` (innermost first), in its function."""
    found = []
    for parent in ancestors(node):
        if syntax.is_function(parent):
            break
        if syntax.is_loop(parent) and not syntax.is_inside(outer, parent):
            found.append(parent)
    return found


def same_path(a: Node, b: Node) -> bool:
    """False when ``a`` and ``b`` lie in alternative branches of one if, switch or select."""
    a_chain = [a, *ancestors(a)]
    for parent in ancestors(b):
        if parent in a_chain:
            return not syntax.is_branching(parent)
    return True


def terminates(source, statement: Node) -> bool:
    """A Go terminating statement, for the shapes that matter here: return, panic(…),
    a block ending in one, an if whose both branches terminate."""
    if syntax.is_return(statement):
        return True
    if syntax.is_expression_statement(statement):
        call = syntax.unparen(statement.named_children[0]) if statement.named_children else None
        return call is not None and is_panic_call(source.data, call)
    if syntax.is_block(statement):
        inner = syntax.statements(statement)
        return bool(inner) and terminates(source, inner[-1])
    if syntax.is_if(statement):
        then, otherwise = syntax.then_branch(statement), syntax.else_branch(statement)
        if then is None or otherwise is None:
            return False
        return terminates(source, then) and terminates(source, otherwise)
    return False


def only_followed_by(statement: Node, body: Node, allowed, *, ends=None) -> bool:
    """After ``statement`` the function whose block is ``body`` runs nothing but the
    statements in ``allowed`` and a bare `return` before it ends: in the statement list
    holding ``statement`` and in each one around it up to ``body``, every later
    statement is in ``allowed``, or is a bare return (which ends the path there).
    With ``ends``, a return statement for which ``ends(statement)`` is true ends the
    path instead (``ends`` decides for bare returns too).

    Climbs out of nested blocks, the branches of an if (an `else if` chain as one
    statement) and the cases of a switch; a loop, a select case, a labelled statement
    or anything else around ``statement`` answers False (it may run again, or run on)."""
    current = statement
    while True:
        block = current.parent
        if block is None:
            return False
        siblings = syntax.statements(block)
        if current not in siblings:
            return False
        for following in siblings[siblings.index(current) + 1 :]:
            if following in allowed:
                continue
            if syntax.is_return(following) and (following.named_child_count == 0 if ends is None else ends(following)):
                return True  # the function ends here
            return False
        if block == body:
            return True
        holder = block.parent
        if syntax.is_case_clause(block) and not syntax.is_select_case(block):
            if syntax.is_switch(holder):
                current = holder
                continue
            return False
        if holder is None or not syntax.is_block(block):
            return False
        if syntax.is_if(holder):
            while syntax.is_if(holder.parent):
                holder = holder.parent  # an `else if` chain: climb to the outermost if
            current = holder
            continue
        if syntax.is_block(holder):
            current = block
            continue
        return False


_NO_PATH = float("-inf")  # no path of this kind exists


def most_reached(body: Node, targets) -> int | None:
    """The most of the statements ``targets`` one run through ``body`` (a block of its
    function's own code) can execute: the best path, where a `return` ends its path's
    count, so `if err != nil { ch <- e; return }; ch <- v` reaches at most one send.

    None when no bound can be stated: a for, select, go, defer or labelled statement,
    or a function literal, holds one of them, or no path reaches the end or a return."""
    counts = _path_counts(body, targets)
    if counts is None:
        return None
    best = max(counts)
    return None if best == _NO_PATH else int(best)


def _path_counts(node: Node, targets) -> tuple[float, float] | None:
    """(most targets on paths that continue after ``node``, most on paths that return in it)."""
    if node in targets:
        return (1, _NO_PATH)
    if syntax.is_return(node):
        return (_NO_PATH, 0)
    if not any(syntax.is_inside(target, node) for target in targets):
        returns = any(syntax.is_return(n) for n in walk_no_funcs(node))
        return (0, 0 if returns else _NO_PATH)
    if (
        syntax.is_loop(node)
        or syntax.is_select(node)
        or syntax.is_function_literal(node)
        or syntax.is_go(node)
        or syntax.is_defer(node)
        or syntax.is_labeled(node)
    ):
        return None
    if syntax.is_if(node):
        branches = [syntax.then_branch(node), syntax.else_branch(node)]
        counts = [_path_counts(b, targets) if b is not None else (0, _NO_PATH) for b in branches]
        if None in counts:
            return None
        return (max(c[0] for c in counts), max(c[1] for c in counts))  # type: ignore[index]
    if syntax.is_switch(node):
        cases = syntax.switch_cases(node)
        counts = [_path_counts(c, targets) for c in cases]
        if None in counts:
            return None
        if not any(syntax.is_default_clause(c) for c in cases):
            counts.append((0, _NO_PATH))
        return (max(c[0] for c in counts), max(c[1] for c in counts))  # type: ignore[index]
    # A block, statement list or case clause: its statements in sequence.
    fall, returned = 0.0, _NO_PATH
    for child in node.named_children:
        if syntax.is_comment(child) or not any(syntax.is_inside(t, child) for t in targets) and not _is_statement(child):
            continue
        found = _path_counts(child, targets)
        if found is None:
            return None
        returned = max(returned, fall + found[1])
        fall = fall + found[0]
    return (fall, returned)


def _is_statement(node: Node) -> bool:
    return syntax.is_statement_kind(node) or syntax.is_block(node)


def has_goto(node: Node, *, in_literals: bool = False) -> bool:
    """Is there a goto in ``node``'s own code (with ``in_literals``: in nested function literals too)?"""
    nodes = syntax.walk(node) if in_literals else walk_no_funcs(node)
    return any(syntax.is_goto(n) for n in nodes)


def labels_in(node: Node) -> frozenset[bytes]:
    """The labels of the labelled statements in ``node``'s own code (nested literals left out).

    Labels are function-wide in Go, so a labelled jump of this code whose label
    is not among these leaves ``node``."""
    found = set()
    for statement in walk_no_funcs(node):
        label = syntax.statement_label(statement)
        if label is not None:
            found.add(label.text or b"")
    return frozenset(found)


def in_return_of(function: Node, node: Node) -> bool:
    """Is ``node`` part of a return statement of ``function`` itself (not of a nested literal)?"""
    for parent in ancestors(node):
        if parent == function or syntax.is_function_literal(parent):
            return False
        if syntax.is_return(parent):
            return True
    return False


class ExitKind(str, enum.Enum):
    RETURN = "return"
    PANIC = "panic"  # panic(…), log.Panic*(…)
    EXIT = "exit"  # os.Exit(…), log.Fatal*(…)
    TEST_FATAL = "test-fatal"  # t.Fatal*(…), t.FailNow(), t.Skip*(…), b.… (testing.TB)
    GOEXIT = "goexit"  # runtime.Goexit()


_TEST_FATAL_METHODS = frozenset({b"Fatal", b"Fatalf", b"FailNow", b"Skip", b"Skipf", b"SkipNow"})


@dataclass(frozen=True)
class Exit:
    kind: ExitKind
    node: Node  # the return statement or the call


def exit_kind(source, node: Node, test_names: frozenset[bytes] = frozenset()) -> ExitKind | None:
    """How ``node`` leaves its function, if it does. ``test_names`` are the names of
    the function's `*testing.T`/`B`/`F`/`TB` parameters (their Fatal ends the test)."""
    if syntax.is_return(node):
        return ExitKind.RETURN
    if not syntax.is_call(node):
        return None
    name = syntax.call_name(node, source.data)
    if name == b"panic" or name.startswith(b"log.Panic"):
        return ExitKind.PANIC
    if name == b"os.Exit" or name.startswith(b"log.Fatal"):
        return ExitKind.EXIT
    if name == b"runtime.Goexit":
        return ExitKind.GOEXIT
    parts = syntax.selector_call(node)
    if parts is not None and syntax.is_identifier(parts[0]) and parts[0].text in test_names and parts[1].text in _TEST_FATAL_METHODS:
        return ExitKind.TEST_FATAL
    return None


def test_parameter_names(source, function: Node) -> frozenset[bytes]:
    """Names of the function's parameters of type *testing.T, *testing.B, *testing.F or testing.TB."""
    names: set[bytes] = set()
    for parameter in syntax.parameters_of(syntax.parameter_list(function)):
        if parameter.type is None:
            continue
        spelled = b"".join(source.text(parameter.type).split())
        if spelled in (b"*testing.T", b"*testing.B", b"*testing.F", b"testing.TB"):
            names.update(n.text or b"" for n in parameter.names)
    return frozenset(names)


def is_dead_branch(source, node: Node) -> bool:
    """``node`` lies in the then-branch of `if false` (or the else of `if true`) within its function."""
    child = node
    for parent in ancestors(node):
        if syntax.is_function(parent):
            return False
        if syntax.is_if(parent):
            condition = syntax.condition(parent)
            spelled = source.text(condition).strip() if condition is not None else b""
            if spelled == b"false" and syntax.same_node(syntax.then_branch(parent), child):
                return True
            if spelled == b"true" and syntax.same_node(syntax.else_branch(parent), child):
                return True
        child = parent
    return False


class Control(Fact):
    """Per function: how its own code can leave it, and the defers it registers."""

    def __init__(self, source) -> None:
        super().__init__(source)
        self._exits: dict[tuple[int, int], list[Exit]] = {}
        self._defers: dict[tuple[int, int], list[Node]] = {}

    def exits(self, function: Node) -> list[Exit]:
        """Returns and the calls that end the function, goroutine or program, in its
        own code (nested literals left out), document order; dead branches left out."""
        key = (function.start_byte, function.end_byte)
        found = self._exits.get(key)
        if found is None:
            body = syntax.function_body(function)
            tests = test_parameter_names(self.source, function)
            found = []
            for node in walk_no_funcs(body) if body is not None else ():
                kind = exit_kind(self.source, node, tests)
                if kind is not None and not is_dead_branch(self.source, node):
                    found.append(Exit(kind, node))
            self._exits[key] = found
        return found

    def returns(self, function: Node) -> list[Node]:
        return [e.node for e in self.exits(function) if e.kind is ExitKind.RETURN]

    def defers(self, function: Node) -> list[Node]:
        """The defer statements of the function's own code, in the order they run when
        each is reached once: the last registered first."""
        key = (function.start_byte, function.end_byte)
        found = self._defers.get(key)
        if found is None:
            body = syntax.function_body(function)
            found = self._defers[key] = list(reversed([n for n in walk_no_funcs(body) if syntax.is_defer(n)])) if body is not None else []
        return found


def runs_after(statement: Node, later: Node) -> bool:
    """Can ``later`` run after ``statement`` without jumping back (a loop's next turn)?

    True when ``later`` lies in a statement that follows ``statement``, or
    follows one of its enclosing statements, in the same statement list —
    never in a sibling branch (an `else`, another `case`).
    """
    node = statement
    while node.parent is not None and not syntax.is_function(node):
        parent = node.parent
        if syntax.holds_statements(parent):
            sibling = node.next_named_sibling
            while sibling is not None:
                if syntax.is_inside(later, sibling):
                    return True
                sibling = sibling.next_named_sibling
        node = parent
    return False


def code_may_follow(statement: Node) -> bool:
    """May code of the function run after ``statement`` (a later statement, or a loop's
    next turn)? True when a node other than a comment follows ``statement``, or follows
    any node around it up to its function, or a loop holds it.

    Conservative: what follows may be an alternative (the `else` after a then-branch),
    which cannot run after it.
    """
    node: Node | None = statement
    while node is not None and not syntax.is_function(node):
        sibling = node.next_named_sibling
        while sibling is not None and syntax.is_comment(sibling):
            sibling = sibling.next_named_sibling
        if sibling is not None or syntax.is_loop(node) and node != statement:
            return True
        node = node.parent
    return False


# -- paths that miss some nodes ------------------------------------------------------


@dataclass
class _Unmarked:
    """How control leaves a statement on the paths that reach no mark."""

    falls: bool = True  # it reaches the statement's end
    jumps: tuple[Node, ...] = ()  # breaks and continues that leave it
    exit: Node | None = None  # a return reached (the body: control falls off its end)
    unknown: bool = False  # a path could not be followed


class _PathsMissing:
    """Follows the paths of one function's own code that reach none of the marks."""

    def __init__(self, source, function: Node, marks, bare_return_marks: bool, ends_path) -> None:
        self.source = source
        self.function = function
        self.body = syntax.function_body(function)
        self.marks = [m.start_byte for m in marks]
        self.bare_return_marks = bare_return_marks
        tests = test_parameter_names(source, function)
        self.ends_path = ends_path or (lambda call: exit_kind(source, call, tests) not in (None, ExitKind.RETURN))

    def marked(self, node: Node | None) -> bool:
        """Does a mark lie inside ``node``?"""
        return node is not None and any(node.start_byte <= mark < node.end_byte for mark in self.marks)

    # -- one statement, entered on a path that reached no mark -------------------
    def statement(self, node: Node) -> _Unmarked:
        if syntax.is_labeled(node):
            inner = syntax.labeled_body(node)
            return self.statement(inner) if inner is not None else _Unmarked()
        if syntax.is_return(node):
            if self.marked(node) or (self.bare_return_marks and not syntax.return_values(node)):
                return _Unmarked(falls=False)
            return _Unmarked(falls=False, exit=node)
        if syntax.is_block(node):
            return self.sequence(syntax.statements(node))
        if syntax.is_if(node):
            return self.if_statement(node)
        if syntax.is_loop(node):
            return self.loop(node)
        if syntax.is_switch(node) or syntax.is_select(node):
            return self.cases(node)
        if syntax.is_break(node) or syntax.is_continue(node):
            return _Unmarked(falls=False, jumps=(node,))
        if syntax.is_goto(node):
            return _Unmarked(falls=False, unknown=True)
        if syntax.is_fallthrough(node):
            return _Unmarked(falls=False, jumps=(node,))
        if self.marked(node):
            return _Unmarked(falls=False)
        expression = syntax.expression_of(node)
        call = syntax.unparen(expression) if expression is not None else None
        if call is not None and syntax.is_call(call) and self.ends_path(call):
            return _Unmarked(falls=False)
        return _Unmarked()

    def sequence(self, statements: list[Node], entry: _Unmarked | None = None) -> _Unmarked:
        flow = entry or _Unmarked()
        for statement in statements:
            if not flow.falls or flow.exit is not None:
                break
            flow = _then(flow, self.statement(statement))
        return flow

    def if_statement(self, node: Node, *, skip_init: bool = False) -> _Unmarked:
        then, otherwise = syntax.then_branch(node), syntax.else_branch(node)
        init = syntax.init_statement(node) if skip_init else None
        header = [c for c in node.named_children if not any(syntax.same_node(c, part) for part in (then, otherwise, init))]
        if any(self.marked(c) for c in header):
            return _Unmarked(falls=False)
        branches = [self.statement(then) if then is not None else _Unmarked()]
        branches.append(self.statement(otherwise) if otherwise is not None else _Unmarked())
        return _either(branches)

    def loop(self, node: Node) -> _Unmarked:
        loop_body = syntax.body(node)
        if any(self.marked(c) for c in node.named_children if not syntax.same_node(c, loop_body)):
            return _Unmarked(falls=False)
        inner = self.statement(loop_body) if loop_body is not None else _Unmarked()
        return self._leave_loop(node, inner, again=None)

    def _leave_loop(self, node: Node, inner: _Unmarked, again: _Unmarked | None) -> _Unmarked:
        """Control left the body of loop ``node`` as ``inner`` says; ``again`` is the loop
        run anew from its head when the body's end or a continue can lead back there."""
        own = [j for j in inner.jumps if syntax.same_node(jump_target(j), node)]
        others = tuple(j for j in inner.jumps if j not in own)
        unknown = inner.unknown or any(jump_target(j) is None for j in inner.jumps)
        falls = any(syntax.is_break(j) for j in own)
        if again is None:
            falls = falls or syntax.has_loop_header(node)
            return _Unmarked(falls, others, inner.exit, unknown)
        if inner.falls or any(syntax.is_continue(j) for j in own):
            return _Unmarked(falls or again.falls, others + again.jumps, inner.exit or again.exit, unknown or again.unknown)
        return _Unmarked(falls, others, inner.exit, unknown)

    def cases(self, node: Node, *, skip_init: bool = False) -> _Unmarked:
        clauses = syntax.switch_cases(node)
        init = syntax.init_statement(node) if skip_init and syntax.is_switch(node) else None
        header = [c for c in node.named_children if c not in clauses and not syntax.same_node(c, init)]
        if any(self.marked(c) for c in header):
            return _Unmarked(falls=False)
        branches = []
        for clause in clauses:
            body = syntax.statements(clause)
            if any(self.marked(c) for c in clause.named_children if c not in body):
                branches.append(_Unmarked(falls=False))  # its case or communication reaches a mark
            else:
                branches.append(self.sequence(body))
        if syntax.is_switch(node) and not any(syntax.is_default_clause(c) for c in clauses):
            branches.append(_Unmarked())  # no case matches
        return self._leave_breakable(node, _either(branches) if branches else _Unmarked(falls=False))

    def _leave_breakable(self, node: Node, inner: _Unmarked) -> _Unmarked:
        """Control left the clauses of switch or select ``node`` as ``inner`` says: its breaks
        lead after it; a fallthrough leads into the next clause, which is a path of its own."""
        own = [j for j in inner.jumps if not syntax.is_continue(j) and syntax.same_node(jump_target(j), node)]
        others = tuple(j for j in inner.jumps if j not in own)
        breaks = any(syntax.is_break(j) for j in own)
        return _Unmarked(inner.falls or breaks, others, inner.exit, inner.unknown or any(jump_target(j) is None for j in inner.jumps))

    # -- from a statement to the end of the function ------------------------------
    def after(self, statement: Node) -> _Unmarked:
        current, flow = statement, _Unmarked()
        while flow.exit is None and not flow.unknown:
            holder = current.parent
            if holder is None or syntax.same_node(current, self.function):
                return _Unmarked(unknown=True)
            if syntax.holds_statements(holder):
                items = syntax.statements(holder)
                if current not in items:
                    return _Unmarked(unknown=True)  # a case's head, not one of its statements
                flow = self.sequence(items[items.index(current) + 1 :], flow)
                if syntax.same_node(holder, self.body):
                    if flow.falls and flow.exit is None:
                        flow = _Unmarked(False, flow.jumps, holder, flow.unknown)
                    return flow
                owner = holder.parent
                if owner is None:
                    return _Unmarked(unknown=True)
                if syntax.is_case_clause(holder):
                    if any(syntax.is_fallthrough(j) for j in flow.jumps):
                        return _Unmarked(unknown=True)  # into the next clause: not followed
                    current = owner
                    flow = self._leave_breakable(current, flow)
                    continue
                if syntax.is_loop(owner):
                    flow = self._leave_loop(owner, flow, again=self.loop(owner))
                    current = owner
                    continue
                if syntax.is_function(owner):
                    return _Unmarked(unknown=True)  # another function's body
                current = holder  # a branch of an if, or a block statement
                continue
            if syntax.is_if(holder) or syntax.is_switch(holder):
                if syntax.same_node(syntax.init_statement(holder), current):
                    rest = self.if_statement(holder, skip_init=True) if syntax.is_if(holder) else self.cases(holder, skip_init=True)
                    flow = _then(flow, rest)
                elif not syntax.is_if(holder):
                    return _Unmarked(unknown=True)
                current = holder  # control goes on after the if
                continue
            if syntax.is_labeled(holder):
                current = holder
                continue
            return _Unmarked(unknown=True)  # a for clause, a select case's head, …
        return flow


def _then(first: _Unmarked, second: _Unmarked) -> _Unmarked:
    """``first`` fell through into ``second``."""
    return _Unmarked(second.falls, first.jumps + second.jumps, first.exit or second.exit, first.unknown or second.unknown)


def _either(branches: list[_Unmarked]) -> _Unmarked:
    jumps: tuple[Node, ...] = ()
    for branch in branches:
        jumps += branch.jumps
    exit_found = next((b.exit for b in branches if b.exit is not None), None)
    return _Unmarked(any(b.falls for b in branches), jumps, exit_found, any(b.unknown for b in branches))


def exit_missing(source, function: Node, statement: Node, marks, *, bare_return_marks: bool = False, ends_path=None) -> Node | None:
    """A way out of ``function`` that control can take from the end of ``statement`` (a
    statement of the function's own code) without reaching any of ``marks`` (nodes of the
    function; one inside a nested function literal counts where the literal stands): a
    return statement, or the function's body when control falls off its end.

    None when every path from ``statement`` reaches a mark, ends the goroutine or the
    program (``ends_path(call)``; by default panic, os.Exit, log.Fatal*, log.Panic*,
    t.Fatal* and runtime.Goexit) or never ends; None too when nothing can be said: a
    goto in the function, ``statement`` in a for clause, or a fallthrough out of its case.
    With ``bare_return_marks``, a bare `return` counts as reaching a mark (the marks are
    about a named result). Conditions are not evaluated: each branch of an if, switch or
    select, and each number of turns of a loop (none included), is a path; a mark in the
    header of an if, switch, select case or loop counts for all the paths through it.
    """
    if syntax.function_body(function) is None or has_goto(function):
        return None
    flow = _PathsMissing(source, function, marks, bare_return_marks, ends_path).after(statement)
    return None if flow.unknown else flow.exit
