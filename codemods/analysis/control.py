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
    label = loop_label(source, loop)
    for node in walk_no_funcs(body):
        if syntax.is_return(node) or syntax.is_goto(node):
            return True
        if syntax.is_break(node):
            target = syntax.jump_label(node)
            if target is not None:
                if label is not None and source.text(target) == label:
                    return True
            elif break_target(node) == loop:
                return True
        if is_exit_call(source.data, node):
            return True
    return False


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


def innermost_loop(node: Node) -> Node | None:
    """The nearest for statement around ``node`` within its own function."""
    for parent in ancestors(node):
        if syntax.is_function(parent):
            return None
        if syntax.is_loop(parent):
            return parent
    return None


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


def returns_in(node: Node) -> list[Node]:
    """The return statements of ``node``'s own function code (nested literals left out)."""
    return [n for n in walk_no_funcs(node) if syntax.is_return(n)]


def has_goto(node: Node) -> bool:
    return any(syntax.is_goto(n) for n in walk_no_funcs(node))


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
    names = set()
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
