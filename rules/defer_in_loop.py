"""defer-in-loop: a `defer` directly in a loop body runs only when the function returns."""

from __future__ import annotations

import enum
import re
from typing import Iterable

from tree_sitter import Node

from gofix_defer.codemods.analysis import control, syntax
from gofix_defer.codemods.analysis.escapes import assigned_from, escaping_reference
from gofix_defer.codemods.analysis.imports import imported_names
from gofix_defer.codemods.analysis.lexical import defer_inside_loop
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.scope import Declaration, FunctionScopes, Scopes, initialiser
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.subtests import stops_the_test
from gofix_defer.codemods.analysis.syntax import ancestors, identifiers, is_inside, unparen, walk_no_funcs
from gofix_defer.codemods.model import Applicability, Diagnostic, Edit, Fix, NoFix, Rule, says

MESSAGE = "defer in a loop body runs only when the function returns; every iteration holds its resource until then"


class DeferInLoop(Rule):
    """
    ## What it does
    Finds a `defer` statement that sits in the body of a `for` loop of its
    own function (not inside a function literal within the loop), where the
    loop can go round again after the defer ran.

    Left alone, because holding until the function returns is then what the
    code means, or the defer runs at most once:
    - nothing of the iteration runs after the `defer` (it is the last
      statement of its block, and that block the last of the body):
      releasing at the end of the iteration would undo the acquisition at
      once, e.g. locking every mutex of a list for the rest of the function;
    - no path after the `defer` leads back into the loop: the statements
      after it end in `return` or `panic(…)`, or in a `break` of the loop
      (when no outer loop of the function could bring control back), with
      no `continue` or `goto` on the way;
    - the deferred call puts back process-wide state instead of releasing
      something: the environment or working directory (`os.Setenv`,
      `os.Unsetenv`, `os.Chdir`), a `Set…` function of another package
      (`defer dirs.SetRootDir("")`), or the undo of a test double (`restore
      := osutil.MockMountInfo(…); defer restore()`, `defer
      snap.MockOsOpen(f)()`, `defer cmd.Restore()`); each iteration's change
      replaces the last, and the undos, run in reverse, end where the loop
      began;
    - it unlocks a value the iteration made itself (`st := state.New(nil);
      st.Lock(); defer st.Unlock()`): no one outside the iteration can wait
      for that lock;
    - the defer sits in a lazy set-up, `if x == nil { x = …; defer … }`,
      whose condition tests a variable from outside the loop that the
      branch assigns;
    - the resource outlives the iteration on purpose: a variable declared
      in the body that the deferred call uses (or a field of it) is
      assigned to another variable, appended, sent on a channel, put in a
      composite literal, captured by a function literal or used by a `go`
      statement; a field of it goes, even through a call, to a variable
      declared before the loop (`front, err = url.Parse(ts.URL)`: the
      server must stay up for its address to be used); or the deferred
      call releases an element of a collection declared outside the loop
      (`defer servers[i].Close()`).

    ## Why is this bad
    Deferred calls run when the surrounding *function* returns, not at the
    end of the loop iteration. Every iteration adds one more pending call:
    files and database rows stay open, and locks stay held, until the loop
    and everything after it have finished. A long loop runs out of file
    descriptors or connections; a lock taken with `mu.Lock(); defer
    mu.Unlock()` in a loop blocks every goroutine that needs it — and the
    second iteration deadlocks on it.

    ## Example
    ```go
    for _, name := range names {
        f, err := os.Open(name)
        if err != nil {
            log.Fatal(err)
        }
        defer f.Close() // every file stays open until the function returns
        process(f)
    }
    ```

    ## Fix
    When nothing in the loop body leaves the iteration early (`break`,
    `continue`, `return`, `goto`, or a jump to a label outside the body;
    jumps that stay within the body, such as a `break` out of a nested
    `switch` or a `continue` of a nested loop, are fine), the body is
    wrapped in a function literal that is called at once, so each
    iteration's defers run at the end of that iteration:
    ```go
    for _, name := range names {
        func() {
            f, err := os.Open(name)
            if err != nil {
                log.Fatal(err)
            }
            defer f.Close()
            process(f)
        }()
    }
    ```
    The body is re-indented one tab deeper, as gofmt lays it out. Reported
    without a fix: bodies that leave the iteration early (turning a
    `continue` into a `return` is left to the author), bodies that call
    `recover()` (it would stop recovering), bodies holding a multi-line raw
    string or block comment (re-indenting would change them), and bodies
    whose braces do not stand on lines of their own.

    ## Fix safety
    Unsafe: the deferred calls now run at the end of each iteration instead
    of when the function returns. That is the point, but code after the loop
    that still used one of those resources (a file, a held lock) would now
    see it closed or unlocked.
    """

    name = "defer-in-loop"
    summary = "defer inside a loop body holds every resource until the function returns"
    fix_availability = "sometimes"
    applicability = Applicability.UNSAFE
    triggers = (b"defer",)
    requires = (Scopes,)
    scans_bytes = True  # defer_inside_loop

    def applies_to(self, source) -> bool:
        # Most files that defer do it outside loops: their bytes say so, unparsed.
        return super().applies_to(source) and says(source, defer_inside_loop)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        for defer in nodes_of_types(source, syntax.DEFER_KINDS):
            loop = control.innermost_loop(defer)
            body = syntax.body(loop) if loop is not None else None
            if loop is None or body is None or not is_inside(defer, body):
                continue
            function = syntax.enclosing_function(defer)
            if function is None:
                continue
            scopes = source.scopes(function)
            if _runs_once_or_on_purpose(source, scopes, defer, loop, body):
                continue
            if _released_before_iteration_ends(source, defer, loop, body):
                continue
            fix = _wrap_in_literal(source, scopes, body, defer)
            if isinstance(fix, NoFix):
                yield self.diagnostic(defer, fix.annotate(MESSAGE))
            else:
                yield self.diagnostic(defer, MESSAGE, fix)


RULE = DeferInLoop()


# -- when the report would be noise -------------------------------------------
def _runs_once_or_on_purpose(source: SourceFile, scopes: FunctionScopes, defer: Node, loop: Node, body: Node) -> bool:
    if _ends_iteration(defer, body):
        return True
    if _releases_what_the_loop_ranges_over(source, scopes, defer, loop, body):
        return True
    if _by_design_at_exit(source, scopes, defer, loop, body):
        return True
    if not _may_run_again(source, scopes, defer, loop, body):
        return True
    if _guarded_once(source, scopes, defer, body, loop):
        return True
    return _deferred_resource_escapes(source, scopes, defer, body)


def _releases_what_the_loop_ranges_over(source: SourceFile, scopes: FunctionScopes, defer: Node, loop: Node, body: Node) -> bool:
    """`for _, m := range mems { …; defer m.decref() }` with nothing taken on ``m`` in the body
    before the defer: what is released was acquired before the loop, so releasing it when the
    function returns is the plan, and no iteration holds anything new."""
    call = syntax.call_of(defer)
    parts = syntax.selector_call(call) if call is not None else None
    if parts is None:
        return False
    root = parts[0]
    while syntax.is_selector(root):
        operand = syntax.operand(root)
        if operand is None:
            return False
        root = operand
    if not syntax.is_identifier(root):
        return False
    decl = scopes.resolve(root)
    if decl is None or decl.kind != "range" or decl.statement != syntax.range_clause(loop):
        return False
    for reference in scopes.references(decl, within=body):
        if reference.start_byte >= defer.start_byte:
            break
        chain = syntax.selector_chain(reference)
        if _call_using(reference) is not None or syntax.is_part_of_call_callee(chain) or syntax.is_arguments(chain.parent):
            return False  # `acc.mu.Lock()`, `open(f)`: the iteration takes something
    return True


# Calls that put process state back (the working directory, the environment): run in reverse
# order when the function returns, they leave the same state as at the end of each iteration.
_RESTORING = frozenset({b"os.Setenv", b"os.Unsetenv", b"os.Chdir"})
# A package's own setting put back (`defer debug.SetGCPercent(old)`, `defer dirs.SetRootDir("")`).
_SETTER = re.compile(rb"Set[A-Z0-9_]")
# A test double installed for the iteration (`restore := osutil.MockMountInfo(…)`,
# `m := testutil.MockCommand(…)`): what it returns undoes it.
_MOCKING = re.compile(rb"(?:[Mm]ock|[Pp]atch)(?:[A-Z0-9_]|$)")
_UNDOING = re.compile(rb"[Rr]estore(?:[A-Z0-9_]|$)")
# What a fresh value is made by: `New…(…)` / `new…(…)` (a constructor by Go's convention).
_CONSTRUCTOR = re.compile(rb"[Nn]ew(?:[A-Z0-9_]|$)")


def _by_design_at_exit(source: SourceFile, scopes: FunctionScopes, defer: Node, loop: Node, body: Node) -> bool:
    """Defers that belong at function exit whatever loop they sit in:
    - `defer wg.Done()` after `wg.Add(…)` in the body: it marks the function's own end;
    - putting back process-wide state rather than releasing a resource (see
      ``_restores_state``), or a literal doing only that;
    - an undo on failure, `defer func() { if err != nil { os.Remove(dir) } }()`, whose
      condition reads a variable from outside the loop (usually the function's error result);
    - unlocking a value the iteration made itself (`st := state.New(nil); st.Lock(); defer
      st.Unlock()`): no one outside the iteration can wait for that lock (one the value
      escapes to is caught by ``_deferred_resource_escapes``).
    """
    call = syntax.call_of(defer)
    if call is None or not syntax.is_call(call):
        return False
    parts = syntax.selector_call(call)
    if parts is not None and source.text(parts[1]) == b"Done":
        receiver = b"".join(source.text(parts[0]).split())
        for node in walk_no_funcs(body):
            if node.start_byte >= defer.start_byte:
                break
            other = syntax.selector_call(node) if syntax.is_call(node) else None
            if other is not None and source.text(other[1]) == b"Add" and b"".join(source.text(other[0]).split()) == receiver:
                return True
    if parts is not None and source.text(parts[1]) in (b"Unlock", b"RUnlock") and _made_in(source, scopes, parts[0], body):
        return True
    literal = syntax.called_function_literal(defer)
    if literal is None:
        return _restores_state(source, scopes, call)
    inner = syntax.statements(syntax.function_body(literal))
    calls = [node for statement in inner for node in walk_no_funcs(statement) if syntax.is_call(node)]
    if calls and all(_restores_state(source, scopes, c) or _spelled_callee(source, c) in (b"t.Fatal", b"t.Fatalf") for c in calls):
        return True
    if len(inner) == 1 and syntax.is_if(inner[0]) and syntax.else_branch(inner[0]) is None:
        condition = syntax.condition(inner[0])
        if condition is not None:
            for ident in identifiers(condition):
                decl = scopes.resolve(ident)
                if decl is not None and not is_inside(decl.ident, loop):
                    return True
    return False


def _spelled_callee(source: SourceFile, call: Node) -> bytes:
    function = syntax.callee(call)
    return b"".join(source.text(function).split()) if function is not None else b""


def _restores_state(source: SourceFile, scopes: FunctionScopes, call: Node) -> bool:
    """Does ``call`` put back process-wide state the iteration changed, rather than release
    something it holds? Each iteration's change replaces the last one, and the deferred
    calls, run in reverse when the function returns, end with the state from before the
    loop: nothing piles up. By what the call says:
    - the environment or the working directory (`os.Setenv`, `os.Unsetenv`, `os.Chdir`);
    - a setting of another package (`defer dirs.SetRootDir("")`: a `Set…` function of an
      import, not a method of a value);
    - the undo of a test double (`restore := osutil.MockMountInfo(…); defer restore()`,
      `defer snap.MockOsOpen(f)()`, `defer cmd.Restore()`): a call named `restore…` /
      `Restore…`, or of what a `Mock…` / `Patch…` call returned."""
    function = syntax.callee(call)
    if function is None:
        return False
    function = unparen(function)
    if b"".join(source.text(function).split()) in _RESTORING:
        return True
    if syntax.is_call(function):  # `defer snap.MockOsOpen(f)()`
        return _is_mocking(source, function)
    name = syntax.callee_name(call)
    if name is None:
        return False
    if _UNDOING.match(source.text(name)):
        return True
    parts = syntax.selector_parts(function)
    if parts is not None:
        package = parts[0]
        return (
            _SETTER.match(source.text(name)) is not None
            and syntax.is_identifier(package)
            and scopes.resolve(package) is None
            and source.text(package) in imported_names(source)
        )
    if syntax.is_identifier(function):  # `undo := testutil.MockTime(t0); defer undo()`
        decl = scopes.resolve(function)
        value = initialiser(decl)[0] if decl is not None else None
        return value is not None and _is_mocking(source, unparen(value))
    return False


def _is_mocking(source: SourceFile, node: Node) -> bool:
    if not syntax.is_call(node):
        return False
    name = syntax.callee_name(node)
    return name is not None and _MOCKING.match(source.text(name)) is not None


def _made_in(source: SourceFile, scopes: FunctionScopes, operand: Node, body: Node) -> bool:
    """Is ``operand`` (`st`, `st.mu`, `st.shapes[k]`) part of a value the loop body made
    afresh: a variable declared in the body from a composite literal, `&T{…}`, `new(T)` or a
    `New…(…)` constructor?"""
    root = unparen(operand)
    while syntax.is_selector(root) or syntax.is_index(root):
        inner = syntax.operand(root)
        if inner is None:
            return False
        root = unparen(inner)
    if not syntax.is_identifier(root):
        return False
    decl = scopes.resolve(root)
    if decl is None or decl.kind not in ("short", "var") or not is_inside(decl.ident, body):
        return False
    value = initialiser(decl)[0]
    if value is None:
        return False
    value = unparen(value)
    if syntax.is_address_of(value):
        inner = syntax.unary_operand(value)
        if inner is None:
            return False
        value = unparen(inner)
    if syntax.is_composite_literal(value):
        return True
    if not syntax.is_call(value):
        return False
    name = syntax.callee_name(value)
    return name is not None and _CONSTRUCTOR.match(source.text(name)) is not None


def _ends_iteration(defer: Node, body: Node) -> bool:
    """True when nothing of the iteration runs after ``defer`` (it is last in every block up to the body).

    Releasing at the end of the iteration would then undo the acquisition at
    once, so holding the resource until the function returns is the intent
    (e.g. locking every mutex of a list, keeping duplicated handles open for
    code after the loop).
    """
    node = defer
    while node != body:
        container = node.parent
        if container is None:
            return False
        if syntax.is_block(container):
            inner = syntax.statements(container)
            if inner and inner[-1] != node:
                return False
        elif syntax.is_case_clause(container):
            inner = syntax.statements(container)
            if inner and inner[-1] != node:
                return False
            if container.parent is None:
                return False
            node = container.parent  # the switch or select
            continue
        elif not (syntax.is_if(container) or syntax.is_labeled(container)):
            return False  # another construct: do not guess
        node = container
    return True


class _After(enum.Enum):
    """Where control goes from the statements after a defer in one block."""

    LOOPS = "loops"  # a path may lead back into the loop
    EXITS = "exits"  # they leave the function, or the loop for good
    FALLS_THROUGH = "falls through"  # they reach the end of the block


def _may_run_again(source: SourceFile, scopes: FunctionScopes, defer: Node, loop: Node, body: Node) -> bool:
    """False when, once ``defer`` has run, no path leads back into ``loop``.

    Follows the statements after the defer outwards, block by block, as
    control falls through them: a `return` or `panic(…)` ending the rest of
    a block leaves the function; a `break` of the loop leaves it (when no
    outer loop of the same function could bring control back); a `continue`
    or `goto` may lead back, and so does reaching the end of the loop body.
    """
    in_outer_loop = control.innermost_loop(loop) is not None
    node = defer
    while True:
        holder = node.parent
        if holder is None:
            return True
        after = _after(source, scopes, syntax.following_statements(node), loop, in_outer_loop)
        if after is not _After.FALLS_THROUGH:
            return after is _After.LOOPS
        if holder == body:
            return True
        if syntax.is_block(holder):
            owner = holder.parent
            if syntax.is_if(owner):
                node = owner
                while syntax.is_if(node.parent):
                    node = node.parent  # an else-if chain falls through as one statement
            elif syntax.holds_statements(owner):
                node = holder
            else:
                return True
        elif syntax.is_case_clause(holder) and holder.parent is not None:
            node = holder.parent  # falling off a case clause continues after the switch/select
        else:
            return True
        node = syntax.with_labels(node)


def _after(source: SourceFile, scopes: FunctionScopes, rest: list[Node], loop: Node, in_outer_loop: bool) -> _After:
    """Where control goes from ``rest``, the statements after a defer in one block."""
    for statement in rest:
        for node in walk_no_funcs(statement):
            if syntax.is_goto(node):
                return _After.LOOPS
            if not (syntax.is_break(node) or syntax.is_continue(node)):
                continue
            target = control.jump_target(node)
            if target is not None and any(is_inside(target, s) for s in rest):
                continue  # a jump within the rest of the block
            if syntax.is_continue(node) or target is None:
                return _After.LOOPS
            if syntax.is_loop(target) and (target != loop or in_outer_loop):
                return _After.LOOPS
            # A break of the loop ends it; a break of an enclosing switch or
            # select continues after it, which the caller follows outwards.
    if rest and (control.terminates(source, rest[-1]) or stops_the_test(source, scopes, rest[-1])):
        return _After.EXITS
    if rest and syntax.is_break(rest[-1]) and control.jump_target(rest[-1]) == loop and not in_outer_loop:
        return _After.EXITS
    return _After.FALLS_THROUGH


def _guarded_once(source: SourceFile, scopes: FunctionScopes, defer: Node, body: Node, loop: Node) -> bool:
    """`if cache == nil { cache = …; defer release(cache) }`: a lazy set-up that runs once.

    True when an `if` around the defer tests a variable declared outside the
    loop that its own branch assigns.
    """
    for parent in ancestors(defer):
        if parent == body:
            return False
        if not syntax.is_if(parent):
            continue
        then, condition = syntax.then_branch(parent), syntax.condition(parent)
        if then is None or condition is None or not is_inside(defer, then):
            continue
        tested = {source.text(i) for i in identifiers(condition) if _declared_outside(scopes, i, loop)}
        for node in walk_no_funcs(then):
            if syntax.is_assignment(node):
                for target in syntax.left_side(node):
                    if syntax.is_identifier(target) and source.text(target) in tested:
                        return True
    return False


def _declared_outside(scopes: FunctionScopes, ident: Node, loop: Node) -> bool:
    decl = scopes.resolve(ident)
    return decl is None or not is_inside(decl.ident, loop)


def _deferred_resource_escapes(source: SourceFile, scopes: FunctionScopes, defer: Node, body: Node) -> bool:
    """True when what the deferred call releases is kept beyond the iteration.

    Either the call releases an element of a collection declared outside the
    loop (`defer servers[i].Close()`), or a value of the iteration tied to it
    outlives the iteration. The values tied to it: the variables of the loop
    body the deferred call uses, the other variables their declaration
    declares (`lkv, closeLKV := leasing.NewKV(…)`, `conn, r := dial()`; not
    `err` or `ok`), and the variables of the body made from any of those
    (`r := bufio.NewReader(conn)`, `sub, _ := nc.Subscribe(…)`). One of them
    outlives the iteration when it is stored, appended, sent, put in a
    composite literal, captured by a function literal or a `go` statement of
    the body (see ``escapes``), returned, or its file descriptor is stored
    (`fds[i] = int(r.Fd())`).
    """
    if _locked_element_kept(source, scopes, defer, body):
        return True
    related: list[Declaration] = []
    for ident in identifiers(defer):
        decl = scopes.resolve(ident)
        if decl is None or is_inside(decl.ident, defer):
            continue
        if not is_inside(decl.ident, body):
            parent = ident.parent
            if syntax.is_index(parent) and syntax.operand(parent) == ident:
                return True
            continue
        if decl not in related:
            related.append(decl)
    if any(_told_outside(source, scopes, decl, body, defer) for decl in related):
        return True
    _add_tied_values(scopes, related, body)
    if any(_outlives_iteration(source, scopes, decl, body, defer) for decl in related):
        return True
    return _kept_for_being_open(scopes, related, body, defer)


def _locked_element_kept(source: SourceFile, scopes: FunctionScopes, defer: Node, body: Node) -> bool:
    """`for _, o := range others { o.RLock(); defer o.RUnlock(); bms = append(bms, o.bitmap) }`:
    each element the loop ranges over is locked, and a part of it goes to a variable of the
    function for use after the loop; holding every lock until the function returns is the
    point (as ``_ends_iteration`` says when the defer is last)."""
    parts = syntax.selector_call(syntax.call_of(defer))
    if parts is None or source.text(parts[1]) not in (b"Unlock", b"RUnlock"):
        return False
    root = unparen(parts[0])
    while syntax.is_selector(root):
        inner = syntax.operand(root)
        if inner is None:
            return False
        root = unparen(inner)
    decl = scopes.resolve(root) if syntax.is_identifier(root) else None
    loop = body.parent
    if decl is None or decl.kind != "range" or loop is None or decl.statement != syntax.range_clause(loop):
        return False
    return _told_outside(source, scopes, decl, body, defer)


def _made_by_call(decl: Declaration) -> bool:
    value = initialiser(decl)[0]
    return value is not None and syntax.is_call(unparen(value))


def _kept_for_being_open(scopes: FunctionScopes, related: list[Declaration], body: Node, defer: Node) -> bool:
    """The iteration makes a resource (a connection, a server, a subscription) and never uses
    it but in the defer: it is made to be there, open, for the rest of the function
    (`nc := connect(t); defer nc.Close()` repeated to have N clients connected)."""
    made = [d for d in related if d.kind in ("short", "var") and _made_by_call(d)]
    if not made or len(made) != len(related):
        return False
    for decl in related:
        for reference in scopes.references(decl, within=body):
            if not is_inside(reference, defer):
                return False
    return True


_NOT_TIED = frozenset({b"err", b"ok", b"_"})


def _told_outside(source: SourceFile, scopes: FunctionScopes, decl: Declaration, body: Node, defer: Node) -> bool:
    """A field of ``decl`` goes to a variable declared outside the body (`front, err =
    url.Parse(ts.URL)`, `front` declared before the loop): a part of the resource (its
    address, listener or client) is used beyond the iteration, so the resource is (etcd's
    tcpproxy test needs its servers up after the loop)."""
    for reference in scopes.references(decl, within=body):
        if is_inside(reference, defer):
            continue
        field = reference.parent
        if field is None or not syntax.is_selector(field) or syntax.is_part_of_call_callee(field):
            continue  # what a method returns (`n, err = f.Read(buf)`) is data, not the resource
        targets = [t for t in assigned_from(reference) if syntax.is_identifier(t) and source.text(t) not in _NOT_TIED]
        if any(_declared_outside(scopes, target, body) for target in targets):
            return True
    return False


def _add_tied_values(scopes: FunctionScopes, related: list[Declaration], body: Node) -> None:
    """Grow ``related`` with the body's variables declared alongside, or made from, its members."""
    declared = [d for d in scopes.declarations() if is_inside(d.ident, body) and d.name not in _NOT_TIED and d.kind in ("short", "var")]
    for _ in range(4):  # a few steps of derivation are enough
        grown = False
        for decl in declared:
            if decl in related:
                continue
            sibling = any(other.statement == decl.statement for other in related)
            value, _ = initialiser(decl)
            made_from = value is not None and any(
                (found := scopes.resolve(ident)) is not None and found in related for ident in identifiers(value)
            )
            if sibling or made_from:
                related.append(decl)
                grown = True
        if not grown:
            return


def _outlives_iteration(source: SourceFile, scopes: FunctionScopes, decl: Declaration, body: Node, defer: Node) -> bool:
    if escaping_reference(source, scopes, decl, body, besides=defer) is not None:
        return True
    for reference in scopes.references(decl, within=body):
        if syntax.is_inside(reference, defer):
            continue
        function = syntax.enclosing_function(reference)
        if function is not None and control.in_return_of(function, reference):
            return True
        method = syntax.method_called_on(reference)
        if method is not None and source.text(method) == b"Fd" and _assigned_somewhere(reference):
            return True
        call = _call_using(reference)
        if call is not None and (_hands_a_callback(scopes, call) or _result_kept_outside(source, scopes, call, body) or _subscribes(source, call)):
            return True
        value = _assigned_value(reference)
        if value is not None and syntax.is_call(value) and (_hands_a_callback(scopes, value) or _subscribes(source, value)):
            return True  # `sub, err = nc.Subscribe(subj, cb)`: the subscription lives on
    return False


# Methods that register a subscription on a connection: it delivers later, after the iteration.
_SUBSCRIBING = (b"Subscribe", b"QueueSubscribe", b"PullSubscribe", b"ChanSubscribe", b"ChanQueueSubscribe")


def _subscribes(source: SourceFile, call: Node) -> bool:
    parts = syntax.selector_call(call)
    return parts is not None and source.text(parts[1]).startswith(_SUBSCRIBING)


def _assigned_value(reference: Node) -> Node | None:
    """The value assigned to ``reference`` when it is a target of `=`: `sub, err = f()` gives `f()`."""
    holder = reference.parent
    if not syntax.is_expression_list(holder) or not syntax.is_assignment(holder.parent):
        return None
    assignment = holder.parent
    if syntax.left_node(assignment) != holder:
        return None
    values = syntax.right_side(assignment)
    return unparen(values[0]) if len(values) == 1 else None


def _call_using(reference: Node) -> Node | None:
    """The call ``reference`` is the receiver (`r.M(…)`) or an argument (`f(r)`, `f(&r)`) of."""
    node = reference
    while node.parent is not None and (syntax.is_address_of(node.parent) or syntax.is_parenthesized(node.parent)):
        node = node.parent
    parent = node.parent
    if syntax.is_arguments(parent) and syntax.is_call(parent.parent):
        return parent.parent
    if syntax.is_selector(parent) and syntax.operand(parent) == node and syntax.is_part_of_call_callee(parent):
        call = parent.parent
        while call is not None and not syntax.is_call(call):
            call = call.parent
        return call
    return None


def _hands_a_callback(scopes: FunctionScopes, call: Node) -> bool:
    """`nc.Subscribe(subj, cb)`: a function handed over with the resource is called back later,
    through the resource, after the iteration."""
    for argument in syntax.call_arguments(call):
        argument = unparen(argument)
        if syntax.is_function_literal(argument):
            return True
        if syntax.is_identifier(argument):
            decl = scopes.resolve(argument)
            value = initialiser(decl)[0] if decl is not None else None
            if value is not None and syntax.is_function_literal(unparen(value)):
                return True
    return False


def _result_kept_outside(source: SourceFile, scopes: FunctionScopes, call: Node, body: Node) -> bool:
    """`resp, err = c.do(timer, req)`: what the call makes from the resource is assigned to a
    variable of the function outside the loop body (not `err`, `ok` or `_`), or to a field
    or element."""
    node = call
    while node.parent is not None and syntax.is_parenthesized(node.parent):
        node = node.parent
    holder = node.parent
    if not syntax.is_expression_list(holder) or not syntax.is_assignment(holder.parent) or syntax.right_node(holder.parent) != holder:
        return False
    for target in syntax.left_side(holder.parent):
        if syntax.is_identifier(target):
            if source.text(target) in _NOT_TIED:
                continue
            decl = scopes.resolve(target)
            if decl is None or not is_inside(decl.ident, body):
                return True
        elif syntax.is_selector(target) or syntax.is_index(target):
            return True
    return False


def _assigned_somewhere(node: Node) -> bool:
    """``node`` is part of the value of an assignment (not a `:=`)."""
    for parent in ancestors(node):
        if syntax.is_assignment(parent) and not syntax.is_inc_dec(parent):
            return any(is_inside(node, value) for value in syntax.right_side(parent))
        if syntax.is_statement(parent) or syntax.is_function(parent):
            return False
    return False


# -- released by the iteration itself -------------------------------------------
def _released_before_iteration_ends(source: SourceFile, defer: Node, loop: Node, body: Node) -> bool:
    """True when the deferred release also runs on every path from the defer to the end of
    the iteration (`defer f.Close()` … `f.Close()`): the defer only covers early exits.

    The statements after the defer are followed outwards, block by block, as in
    ``_may_run_again``: one of them must make the same call (as a statement, an
    assignment's value, an `if` header or an argument: `check(f.Close())`) before
    any `continue` or `goto` that could skip it. A deferred function literal's
    calls must all be made so.
    """
    releases = _release_calls(source, defer)
    if not releases:
        return False
    pending = set(releases)
    node = defer
    while True:
        holder = node.parent
        if holder is None:
            return False
        for statement in syntax.following_statements(node):
            pending -= _calls_made(source, statement)
            if not pending or _every_branch_releases(source, statement, pending, loop):
                return True
            if _may_skip_to_next_iteration(statement):
                return False
        if holder == body:
            return False
        if syntax.is_block(holder):
            owner = holder.parent
            if syntax.is_if(owner):
                node = owner
                while syntax.is_if(node.parent):
                    node = node.parent
            elif syntax.holds_statements(owner):
                node = holder
            else:
                return False
        elif syntax.is_case_clause(holder) and holder.parent is not None:
            node = holder.parent
        else:
            return False
        node = syntax.with_labels(node)


def _every_branch_releases(source: SourceFile, statement: Node, pending: set[bytes], loop: Node) -> bool:
    """`if retry { srv.Shutdown(); srv = nil } else { break }`: an if/else whose every branch
    makes the pending calls before it ends, or leaves the loop (break, return, panic)."""
    if not syntax.is_if(statement):
        return False
    branches = []
    current: Node | None = statement
    while syntax.is_if(current):
        branches.append(syntax.then_branch(current))
        otherwise = syntax.else_branch(current)
        if otherwise is None:
            return False  # no else: one path makes no call
        current = otherwise
    branches.append(current)
    for branch in branches:
        left = set(pending)
        settled = False
        for inner in syntax.statements(branch):
            left -= _calls_made(source, inner)
            if not left:
                settled = True
                break
            if _may_skip_to_next_iteration(inner):
                return False
        if settled:
            continue
        inner_statements = syntax.statements(branch)
        last = inner_statements[-1] if inner_statements else None
        if last is None:
            return False
        if control.terminates(source, last):
            continue
        if syntax.is_break(last) and control.jump_target(last) == loop:
            continue
        return False
    return True


def _spelled_call(source: SourceFile, call: Node) -> bytes:
    return b"".join(source.text(call).split())


def _release_calls(source: SourceFile, defer: Node) -> set[bytes]:
    """The calls the defer will make: its call, or the calls of its literal's statements."""
    call = syntax.call_of(defer)
    if call is None or not syntax.is_call(call):
        return set()
    literal = syntax.called_function_literal(defer)
    if literal is None:
        return {_spelled_call(source, call)}
    if syntax.call_arguments(call):
        return set()
    found: set[bytes] = set()
    for statement in syntax.statements(syntax.function_body(literal)):
        made = _calls_made(source, statement)
        if not made:
            return set()  # a statement that is not a plain call: too much to match
        found |= made
    return found


def _calls_made(source: SourceFile, statement: Node) -> set[bytes]:
    """The calls ``statement`` makes whenever it runs (not those in its nested blocks or literals)."""
    found: set[bytes] = set()
    for node in walk_no_funcs(statement):
        if not syntax.is_call(node):
            continue
        if any(syntax.is_block(parent) or syntax.is_case_clause(parent) for parent in _ancestors_within(node, statement)):
            continue
        found.add(_spelled_call(source, node))
    return found


def _ancestors_within(node: Node, top: Node) -> Iterable[Node]:
    for parent in ancestors(node):
        if parent == top:
            return
        yield parent


def _may_skip_to_next_iteration(statement: Node) -> bool:
    """A `continue` of this loop (or an outer one) or a `goto` in ``statement``."""
    for node in walk_no_funcs(statement):
        if syntax.is_goto(node):
            return True
        if syntax.is_continue(node):
            target = control.jump_target(node)
            if target is None or not is_inside(target, statement):
                return True
    return False


# -- the fix -----------------------------------------------------------------
def _wrap_in_literal(source: SourceFile, scopes: FunctionScopes, body: Node, defer: Node) -> Fix | NoFix:
    blocker = _fix_blocker(source, body) or _kept_on_purpose(source, scopes, body, defer)
    if blocker is not None:
        return blocker
    edit = _wrap_body(source, body)
    if edit is None:
        return NoFix("the loop body's braces do not stand on their own lines")
    return Fix("Wrap the loop body in a function literal called at once", (edit,), Applicability.UNSAFE)


def _kept_on_purpose(source: SourceFile, scopes: FunctionScopes, body: Node, defer: Node) -> NoFix | None:
    """Another defer of the body that must keep running at function exit: wrapping the body
    would run it at the end of each iteration too."""
    for other in walk_no_funcs(body):
        if not syntax.is_defer(other) or other == defer:
            continue
        loop = control.innermost_loop(other)
        inner = syntax.body(loop) if loop is not None else None
        if loop is None or inner is None:
            continue
        if (
            _ends_iteration(other, inner)
            or _guarded_once(source, scopes, other, inner, loop)
            or _deferred_resource_escapes(source, scopes, other, body)
        ):
            text = b" ".join(source.text(other).split()).decode()
            return NoFix(f"the loop body also has `{text}`, whose resource is kept beyond the iteration")
    return None


def _fix_blocker(source: SourceFile, body: Node) -> NoFix | None:
    """Why wrapping ``body`` in `func() { … }()` would change more than the defers."""
    labels_inside = control.labels_in(body)
    for node in walk_no_funcs(body):
        if syntax.is_return(node):
            return NoFix("the loop body returns from the function")
        if syntax.is_call(node) and syntax.call_name(node, source.data) == b"recover":
            return NoFix("the loop body calls recover()")
        if (syntax.is_raw_string(node) or syntax.is_comment(node)) and b"\n" in source.text(node).rstrip(b"\r\n"):
            return NoFix("the loop body holds a multi-line string or comment")
        if not (syntax.is_break(node) or syntax.is_continue(node) or syntax.is_goto(node)):
            continue
        label = syntax.jump_label(node)
        if label is not None:
            if source.text(label) not in labels_inside:
                return NoFix(f"the loop body jumps to label {source.text(label).decode()} outside it")
            continue
        if syntax.is_goto(node):
            continue
        target = control.unlabelled_target(node)
        if target is None or not is_inside(target, body):
            word = "break" if syntax.is_break(node) else "continue"
            return NoFix(f"the loop body leaves the iteration with {word}")
    return None


def _wrap_body(source: SourceFile, body: Node) -> Edit | None:
    """Replace the inside of ``{ … }`` with `func() { … }()`, one tab deeper.

    Needs the braces on lines of their own (the usual gofmt layout), so that
    the new lines can be laid out exactly as gofmt would.
    """
    data = source.data
    open_end = body.start_byte + 1
    close_start = body.end_byte - 1
    after_open = data[open_end : source.line_end(open_end)].strip(b" \t\r")
    if after_open:
        return None  # something (code or a comment) follows `{` on its line
    if data[source.line_start(close_start) : close_start].strip(b" \t") != b"":
        return None
    indent = source.indentation(close_start)
    nl = source.newline
    first_line = source.line_end(open_end) + 1
    inner = data[first_line : source.line_start(close_start)]
    lines = inner.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    deeper = []
    for line in lines:
        content = line.rstrip(b"\r")
        deeper.append(b"\t" + content if content.strip() else b"")
    text = nl.join([b"", indent + b"\tfunc() {", *deeper, indent + b"\t}()", indent])
    start = source.line_end(open_end)
    if data[start - 1 : start] == b"\r":
        start -= 1  # replace the whole line ending after `{`, CRLF included
    return Edit(start, close_start, text)
