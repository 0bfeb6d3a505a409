"""The package model: packages, the index, call summaries, facts declared by
rules, per-file Go versions, and cached results that depend on other files."""

from __future__ import annotations

import contextlib
import gc
import textwrap
import weakref
from pathlib import Path

import pytest

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.calls import CallSummaries
from gofix_defer.codemods.analysis.channels import Channels, Direction, UseKind, make_channel
from gofix_defer.codemods.analysis.control import Control, ExitKind
from gofix_defer.codemods.analysis.goversion import build_constraint_version, effective_go_version
from gofix_defer.codemods.analysis.index import PackageIndex, ValueKind
from gofix_defer.codemods.analysis.locks import EventKind, Locks
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.package import Package, package_name_of
from gofix_defer.codemods.analysis.scope import Scopes
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.codemods.engine.siblings import SiblingFiles
from gofix_defer.codemods.model import INTERNAL_ERROR, Rule
from gofix_defer.codemods.run import workers
from gofix_defer.codemods.run.cache import ResultCache, settings_fingerprint
from gofix_defer.codemods.run.discovery import discover

from .fixture_cases import FIXTURES


def go(text: str) -> bytes:
    return textwrap.dedent(text).lstrip().encode()


def write_package(folder: Path, files: dict[str, str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "go.mod").write_text("module example.com/m\n\ngo 1.21\n")
    paths = []
    for name, text in files.items():
        path = folder / name
        path.write_bytes(go(text))
        paths.append(path)
    return paths


def package_of(folder: Path, path: Path) -> Package:
    packages = workers.Packages(Settings(rules=[]))
    source = SourceFile(str(path), path.read_bytes(), (1, 21))
    package = packages.of(str(path), source.data)
    package.adopt(source)
    return package


def counting_loads(monkeypatch) -> list[str]:
    """The names of the files the package model loads (parses) for package facts, in order."""
    loaded: list[str] = []
    real = SiblingFiles.load

    def counting(self, path):
        loaded.append(Path(path).name)
        return real(self, path)

    monkeypatch.setattr(SiblingFiles, "load", counting)
    return loaded


def function_named(source: SourceFile, name: bytes):
    return next(f for f in nodes_of_types(source, syntax.FUNCTION_KINDS) if syntax.function_name(f) is not None and syntax.function_name(f).text == name)


# -- packages -----------------------------------------------------------------


def test_package_clause_is_read_without_parsing():
    assert package_name_of(b"// Copyright\n/* package fake */\n\npackage real // why\n") == b"real"
    assert package_name_of(b"\xef\xbb\xbfpackage bom\n") == b"bom"
    assert package_name_of(b"func f() {}\n") is None


def test_a_package_is_the_files_of_one_directory_with_one_package_clause(tmp_path):
    a, _, _ = write_package(
        tmp_path,
        {
            "a.go": "package p\n\nfunc A() {}\n",
            "b.go": "package p\n\nfunc B() {}\n",
            "a_test.go": "package p_test\n\nfunc C() {}\n",
        },
    )
    (tmp_path / "_ignored.go").write_text("package p\n\nfunc D() {}\n")
    package = package_of(tmp_path, a)
    assert [Path(p).name for p in package.paths] == ["a.go", "b.go"]
    index = package.facts(PackageIndex)
    assert sorted(info.name for info in index.all_functions()) == [b"A", b"B"]


def test_other_files_are_read_only_when_a_package_fact_is_asked_for(tmp_path, monkeypatch):
    a, _ = write_package(tmp_path, {"a.go": "package p\n\nfunc A() { defer B() }\n", "b.go": "package p\n\nfunc B() {}\n"})
    loaded = counting_loads(monkeypatch)
    package = package_of(tmp_path, a)
    source = package.file(str(a))
    assert source is not None
    source.facts(Control).exits(function_named(source, b"A"))
    assert loaded == [] and not source.read_package
    index = source.facts(PackageIndex)
    assert loaded == [] and source.read_package  # the index reads files as it is asked
    assert index.function(b"B") is not None
    assert loaded == ["b.go"]


def test_a_question_by_name_parses_only_the_files_that_can_answer_it(tmp_path, monkeypatch):
    a, _, _, _ = write_package(
        tmp_path,
        {
            "a.go": "package p\n\nfunc A() { defer B() }\n",
            "b.go": "package p\n\n// Bee.\nfunc (t *T) B() {}\n",
            "c.go": "package p\n\nfunc C() { var b = 1; _ = b }\n",
            "t.go": "package p\n\ntype T struct{ mu sync.Mutex }\n",
        },
    )
    loaded = counting_loads(monkeypatch)
    package = package_of(tmp_path, a)
    source = package.file(str(a))
    assert source is not None
    index = source.facts(PackageIndex)
    assert [info.receiver_type for info in index.methods_named(b"B")] == [b"T"]
    assert loaded == ["b.go"]  # c.go says `b`, not a declaration of B; t.go neither
    assert index.types.get(b"T") is not None and loaded == ["b.go", "t.go"]
    assert index.function(b"Missing") is None and loaded == ["b.go", "t.go"]
    assert len(index.all_functions()) == 3 and loaded == ["b.go", "t.go", "c.go"]
    # What a result depends on is every other file, parsed or not.
    files = sorted(Path(p).name for p in package.dependencies(str(a)) if p.endswith(".go"))
    assert files == ["b.go", "c.go", "t.go"]


# -- the index ------------------------------------------------------------------


def test_the_index_knows_types_fields_methods_variables_and_constructors(tmp_path):
    a, _ = write_package(
        tmp_path,
        {
            "a.go": """
                package p

                import (
                	"context"
                	s "sync"
                )

                type Server struct {
                	mu   s.Mutex
                	s.RWMutex
                	wg   *s.WaitGroup
                	jobs chan int
                	done <-chan struct{}
                	ctx  context.Context
                	name string
                }
                """,
            "b.go": """
                package p

                var queue = make(chan int)

                func New() *Server { return &Server{jobs: make(chan int)} }

                func (s *Server) Run() {}

                func (Server) Name() string { return "" }
                """,
        },
    )
    index = package_of(tmp_path, a).facts(PackageIndex)
    fields = {f.name: (f.kind, f.embedded) for f in index.types[b"Server"].fields or []}
    assert fields == {
        b"mu": (ValueKind.MUTEX, False),
        b"RWMutex": (ValueKind.RWMUTEX, True),
        b"wg": (ValueKind.WAITGROUP, False),
        b"jobs": (ValueKind.CHANNEL, False),
        b"done": (ValueKind.CHANNEL, False),
        b"ctx": (ValueKind.CONTEXT, False),
        b"name": (ValueKind.OTHER, False),
    }
    methods = index.methods_of(b"Server")
    assert sorted(methods) == [b"Name", b"Run"]
    assert methods[b"Run"].pointer_receiver and methods[b"Run"].receiver_name == b"s"
    assert not methods[b"Name"].pointer_receiver and methods[b"Name"].receiver_name is None
    assert [c.name for c in index.constructors(b"Server")] == [b"New"]
    assert b"queue" in index.variables


# -- call summaries -------------------------------------------------------------

CALLER = """
    package p

    func produce(items []int) <-chan int {
    	ch := make(chan int)
    	go fill(ch, items)
    	return ch
    }

    func drain(ch chan int) {
    	defer closeIfOpen(ch)
    	for range ch {
    	}
    }

    func hand(ch chan int) { store = ch }

    func away(ch chan int) { other.Take(ch) }

    var store chan int
    """

CALLEE = """
    package p

    import "sync"

    func fill(out chan<- int, items []int) {
    	send(out, items)
    	close(out)
    }

    func send(out chan<- int, items []int) {
    	for _, item := range items {
    		out <- item
    	}
    }

    func closeIfOpen[T any](c chan T) {
    	defer func() { recover() }()
    	close(c)
    }

    type Worker struct {
    	mu    sync.Mutex
    	tasks chan func()
    	quit  chan struct{}
    }

    func (w *Worker) loop() {
    	for {
    		select {
    		case task := <-w.tasks:
    			task()
    		case <-w.quit:
    			return
    		}
    	}
    }

    func (w *Worker) Stop() {
    	w.mu.Lock()
    	defer w.mu.Unlock()
    	close(w.quit)
    }

    func (w *Worker) Submit(task func()) { w.send(task) }

    func (w *Worker) send(task func()) { w.tasks <- task }
    """


def summaries(tmp_path: Path):
    a, b = write_package(tmp_path, {"a.go": CALLER, "b.go": CALLEE})
    package = package_of(tmp_path, a)
    calls = package.facts(CallSummaries)
    sources = {Path(s.path).name: s for s in package.files()}
    return calls, sources


def test_call_summaries_follow_parameters_through_helpers_in_other_files(tmp_path):
    calls, sources = summaries(tmp_path)
    b = sources["b.go"]
    fill = calls.of(b, function_named(b, b"fill"))
    assert fill is not None
    out = fill.parameter(0)
    assert out is not None and out.closes and out.sends and not out.escapes  # sends through `send`
    assert not fill.parameter(1).closes  # type: ignore[union-attr]
    helper = calls.of(b, function_named(b, b"closeIfOpen")).parameter(0)  # type: ignore[union-attr]
    assert helper.closes and not helper.deferred_close


def test_call_summaries_see_deferred_closes_through_a_helper_and_escapes(tmp_path):
    calls, sources = summaries(tmp_path)
    a = sources["a.go"]
    drain = calls.of(a, function_named(a, b"drain")).parameter(0)  # type: ignore[union-attr]
    assert drain.ranges and drain.closes and drain.deferred_close
    assert calls.of(a, function_named(a, b"hand")).parameter(0).escapes  # type: ignore[union-attr]
    away = calls.of(a, function_named(a, b"away")).parameter(0)  # type: ignore[union-attr]
    assert away.escapes and not away.closes  # another package's function: unknown


def test_call_summaries_follow_receiver_fields_and_locks(tmp_path):
    calls, sources = summaries(tmp_path)
    index = calls.index
    stop = calls.of_info(index.method(b"Worker", b"Stop"))
    assert stop is not None and stop.fields[b"quit"].closes and stop.acquires == {b"mu"} and stop.releases == {b"mu"}
    loop = calls.of_info(index.method(b"Worker", b"loop"))
    assert loop.fields[b"tasks"].receives and loop.fields[b"quit"].receives  # type: ignore[union-attr]
    submit = calls.of_info(index.method(b"Worker", b"Submit"))
    assert submit is not None and submit.parameter(0).sends is False  # the task is a func, stored by send
    sender = calls.of_info(index.method(b"Worker", b"send"))
    assert sender.fields[b"tasks"].sends  # type: ignore[union-attr]


# -- per-file facts ---------------------------------------------------------------


def test_make_channel_and_channel_uses():
    source = SourceFile(
        "x.go",
        go(
            """
            package p

            func f(out chan int) {
            	a := make(chan int)
            	var b = make(<-chan int, 2)
            	c := make(chan<- int, 0)
            	go func() { a <- 1 }()
            	select {
            	case v := <-a:
            		out <- v
            	default:
            	}
            	close(a)
            	_ = len(a)
            	g(a)
            	out <- 1
            	_ = b
            	_ = c
            }
            """
        ),
        (1, 22),
    )
    function = function_named(source, b"f")
    made = source.facts(Channels).made_in(function)
    assert [(m.name, m.make.direction, m.make.unbuffered) for m in made] == [
        (b"a", Direction.BOTH, True),
        (b"b", Direction.RECEIVE, False),
        (b"c", Direction.SEND, True),
    ]
    uses = source.facts(Channels).uses(function, made[0].declaration)
    kinds = [u.kind for u in uses.uses]
    assert kinds == [UseKind.SEND, UseKind.RECEIVE, UseKind.CLOSE, UseKind.LEN_CAP, UseKind.PASSED]
    assert uses.uses[0].chain and uses.uses[0].chain[0].started == "go"
    assert uses.uses[1].select_case is not None
    assert make_channel(syntax.walk(source.root).__next__()) is None


def test_exits_and_lock_events():
    source = SourceFile(
        "x_test.go",
        go(
            """
            package p

            import "testing"

            func TestX(t *testing.T) {
            	mu.Lock()
            	defer mu.Unlock()
            	if false {
            		return
            	}
            	if bad {
            		t.Fatal("bad")
            	}
            	mu.RLock()
            	mu.RUnlock()
            	panic("no")
            }
            """
        ),
        (1, 22),
    )
    function = function_named(source, b"TestX")
    assert [e.kind for e in source.facts(Control).exits(function)] == [ExitKind.TEST_FATAL, ExitKind.PANIC]
    events = source.facts(Locks).events(function)
    assert [(e.kind, e.lock.method) for e in events] == [
        (EventKind.LOCK, b"Lock"),
        (EventKind.DEFERRED_UNLOCK, b"Unlock"),
        (EventKind.LOCK, b"RLock"),
        (EventKind.UNLOCK, b"RUnlock"),
    ]


# -- rules declare the facts they read ---------------------------------------------


class _Undeclared(Rule):
    name = "test-undeclared"
    summary = "test rule reading a fact it does not declare"
    requires = (Scopes,)

    def check(self, source):
        function = next(iter(nodes_of_types(source, syntax.FUNCTION_KINDS)))
        source.facts(Channels).made_in(function)
        return []


def test_a_rule_reading_a_fact_it_did_not_declare_is_an_internal_error():
    result = process("x.go", b"package p\n\nfunc f() { defer g() }\n", Settings(rules=[_Undeclared()]))
    [diagnostic] = result.diagnostics
    assert diagnostic.rule == INTERNAL_ERROR and "Channels" in diagnostic.message and "requires" in diagnostic.message


# -- the Go version of a file ------------------------------------------------------------


def test_a_go_build_line_raises_the_files_go_version(tmp_path):
    (tmp_path / "go.mod").write_text("module m\n\ngo 1.21\n")
    path = str(tmp_path / "x.go")
    assert effective_go_version(path, None, b"package p\n") == (1, 21)
    assert effective_go_version(path, None, b"//go:build go1.22 && linux\n\npackage p\n") == (1, 22)
    assert effective_go_version(path, None, b"//go:build go1.18\n\npackage p\n") == (1, 21)  # raised, never lowered
    assert effective_go_version(path, (1, 20), b"//go:build go1.22\n\npackage p\n") == (1, 20)  # --go-version wins
    assert build_constraint_version(b"//go:build go1.23 || go1.22\npackage p\n") == (1, 22)
    assert build_constraint_version(b"//go:build !go1.22\npackage p\n") is None
    assert build_constraint_version(b"package p\n\n//go:build go1.22\n") is None


def test_loop_var_capture_is_silent_in_a_file_built_only_for_go_1_22(tmp_path):
    from gofix_defer.rules import by_name

    (tmp_path / "go.mod").write_text("module m\n\ngo 1.21\n")
    body = "package main\n\nfunc main() {\n\tfor i := 0; i < 3; i++ {\n\t\tdefer func() { println(i) }()\n\t}\n}\n"
    settings = Settings(rules=[by_name("loop-var-capture")])
    assert process(str(tmp_path / "old.go"), body.encode(), settings).diagnostics
    assert process(str(tmp_path / "new.go"), ("//go:build go1.22\n\n" + body).encode(), settings).diagnostics == []


# -- cached results that read other files ------------------------------------------------


class _ClosedByCallee(Rule):
    """Reports `f(ch)` calls whose callee, somewhere in the package, closes that argument."""

    name = "test-closed-by-callee"
    summary = "test rule reading call summaries"
    triggers = (b"(",)
    requires = (CallSummaries, Scopes)

    def check(self, source):
        calls = source.facts(CallSummaries)
        for function in nodes_of_types(source, syntax.FUNCTION_KINDS):
            scopes = source.scopes(function)
            for node in syntax.walk(function):
                if syntax.is_call(node):
                    effects = calls.callee_effects(source, scopes, node, 0)
                    if effects is not None and effects.closes:
                        yield self.diagnostic(node, "the callee closes it")


def test_editing_a_callees_file_invalidates_its_callers_cached_result(tmp_path, monkeypatch):
    a, b = write_package(
        tmp_path,
        {
            "a.go": "package p\n\nfunc caller(ch chan int) { finish(ch) }\n",
            "b.go": "package p\n\nfunc finish(ch chan int) { close(ch) }\n",
        },
    )
    settings = Settings(rules=[_ClosedByCallee()])
    cache = ResultCache(str(tmp_path / "cache"), settings_fingerprint(settings.rules, False, False, settings.max_iterations))
    calls: list[str] = []
    real = workers.process

    def counting(path, data, settings, package=None):
        calls.append(Path(path).name)
        return real(path, data, settings, package)

    monkeypatch.setattr(workers, "process", counting)

    def findings() -> int:
        [result] = workers.run([str(a)], settings, cache=cache)
        return len(result.diagnostics)

    assert findings() == 1 and calls == ["a.go"]
    assert findings() == 1 and calls == ["a.go"]  # a hit: b.go is unchanged
    b.write_text("package p\n\nfunc finish(ch chan int) { ch <- 1 }\n")
    assert findings() == 0 and calls == ["a.go", "a.go"]  # b.go changed: a.go is checked again
    (tmp_path / "c.go").write_text("package p\n\nfunc finish2(ch chan int) { close(ch) }\n")
    assert findings() == 0 and calls == ["a.go", "a.go", "a.go"]  # a file added to the package


def test_results_that_read_no_package_fact_depend_on_no_other_file(tmp_path):
    from gofix_defer.rules import by_name

    a, _ = write_package(tmp_path, {"a.go": "package p\n\nfunc f(m interface{ Lock() }) {\n\tm.Lock()\n\tdefer m.Lock()\n}\n", "b.go": "package p\n"})
    [result] = workers.run([str(a)], Settings(rules=[by_name("defer-lock-typo")]))
    assert result.diagnostics and result.dependencies == {}


@pytest.mark.parametrize("jobs", [1, 2])
def test_workers_give_files_of_one_package_one_package(tmp_path, jobs):
    folder = tmp_path / "p"
    files = {f"f{i:02}.go": f"package p\n\nfunc f{i}(ch chan int) {{ finish(ch) }}\n" for i in range(20)}
    files["z.go"] = "package p\n\nfunc finish(ch chan int) { close(ch) }\n"
    paths = write_package(folder, files)
    results = list(workers.run([str(p) for p in paths], Settings(rules=[_ClosedByCallee()]), jobs=jobs))
    assert [len(r.diagnostics) for r in results] == [1] * 20 + [0]


class _OwnDeclarations(Rule):
    """Reports each function whose package-index entry is this very node of this file."""

    name = "test-own-declarations"
    summary = "test rule matching the package index against the file's own tree"
    triggers = (b"func",)
    requires = (PackageIndex,)

    def check(self, source):
        index = source.facts(PackageIndex)
        for function in nodes_of_types(source, syntax.FUNCTION_KINDS):
            name = syntax.function_name(function)
            info = index.function(source.text(name)) if name is not None else None
            if info is not None and info.source is source and syntax.same_node(info.node, function):
                yield self.diagnostic(function, "found in the index as itself")


def test_a_file_the_package_already_parsed_is_checked_as_that_parse(tmp_path):
    # Checking a.go builds the package index, which parses b.go. When b.go's turn comes,
    # its findings must be computed against the parse the index points into: a second
    # parse of the same bytes would make every "is this the same node?" answer no.
    a, b = write_package(tmp_path, {"a.go": "package p\n\nfunc a() {}\n", "b.go": "package p\n\nfunc b() {}\n"})
    results = list(workers.run([str(a), str(b)], Settings(rules=[_OwnDeclarations()])))
    assert [len(r.diagnostics) for r in results] == [1, 1]


@pytest.mark.parametrize("generated, findings", [(False, 1), (True, 0)])
def test_generated_files_are_left_out_of_the_package_facts(tmp_path, generated, findings):
    # Generated files are never checked; their bulk (the compiler's rewrite rules, syscall
    # tables) cost more than the rest of a run, so the package facts do not read them:
    # a call into one has unknown effects.
    header = "// Code generated by stringer; DO NOT EDIT.\n\n" if generated else ""
    a, _ = write_package(
        tmp_path,
        {"a.go": "package p\n\nfunc caller(ch chan int) { finish(ch) }\n", "b.go": header + "package p\n\nfunc finish(ch chan int) { close(ch) }\n"},
    )
    [result] = workers.run([str(a)], Settings(rules=[_ClosedByCallee()]))
    assert len(result.diagnostics) == findings


def test_the_files_of_the_directorys_other_package_are_never_parsed(tmp_path, monkeypatch):
    # `p` and its external test package `p_test` share a directory: the package
    # clause is read from the bytes, and only the package's own files are parsed.
    a, _, _ = write_package(
        tmp_path,
        {
            "a.go": "package p\n\nfunc caller(ch chan int) { finish(ch) }\n",
            "b.go": "package p\n\nfunc finish(ch chan int) { close(ch) }\n",
            "a_test.go": "package p_test\n\nfunc helper(ch chan int) { close(ch) }\n",
        },
    )
    parsed = counting_loads(monkeypatch)
    [result] = workers.run([str(a)], Settings(rules=[_ClosedByCallee()]))
    assert len(result.diagnostics) == 1
    assert parsed == ["b.go"]


def test_a_packages_files_are_released_once_its_directory_is_done(tmp_path, monkeypatch):
    # Facts point into the trees and back to their files: unless no cycle is left once
    # a directory is done, every tree of a package waits for a full collection, and a
    # worker's memory stays at the size of the largest package it has seen. Released,
    # the checked files and their siblings are freed at once, without the collector.
    first = write_package(tmp_path / "one", {"a.go": "package p\n\nfunc caller(ch chan int) { finish(ch) }\n",
                                             "b.go": "package p\n\nfunc finish(ch chan int) { close(ch) }\n"})
    second = write_package(tmp_path / "two", {"c.go": "package q\n\nfunc other(ch chan int) { finish(ch) }\n"})
    with files_alive_without_collector(monkeypatch) as alive:
        results = list(workers.run([str(first[0]), str(second[0])], Settings(rules=[_ClosedByCallee()])))
        assert [len(r.diagnostics) for r in results] == [1, 0]
        assert alive() == []


def test_no_rule_leaves_a_cycle_that_holds_a_file(monkeypatch):
    # Every rule (the opt-in ones too) over every fixture, fixes included: once the run
    # is done, reference counting alone has freed every parse. A fact or rule that
    # keeps a cycle through a file (a back reference, a recursive closure) fails here.
    from gofix_defer.rules import ALL_RULES

    paths = discover([str(FIXTURES)]).files
    with files_alive_without_collector(monkeypatch) as alive:
        results = list(workers.run(paths, Settings(rules=list(ALL_RULES), apply_fixes=True, unsafe_fixes=True)))
        assert sum(len(r.applied) for r in results) > 100 and sum(len(r.diagnostics) for r in results) > 50
        assert alive() == []


@contextlib.contextmanager
def files_alive_without_collector(monkeypatch):
    """While the block runs, the collector is off; yields a function that lists the
    paths of the SourceFiles made in the block that are still alive."""
    made: list[weakref.ref] = []
    real = SourceFile.__post_init__

    def tracking(self):
        real(self)
        made.append(weakref.ref(self))

    monkeypatch.setattr(SourceFile, "__post_init__", tracking)
    gc.collect()
    gc.disable()
    try:
        yield lambda: sorted(Path(ref().path).name for ref in made if ref() is not None)
    finally:
        gc.enable()


def test_the_methods_of_a_type_are_read_from_the_files_whose_receivers_name_it(tmp_path, monkeypatch):
    a, _, _, _ = write_package(
        tmp_path,
        {
            "a.go": "package p\n\nfunc A(t *T) { t.B() }\n",
            "b.go": "package p\n\nfunc (t *T) B() {}\n\nfunc (Other) C() {}\n",
            "c.go": "package p\n\n// A T, made here.\nfunc newT() *T { return &T{} }\n\nfunc funcT() {}\n",
            "t.go": "package p\n\ntype T struct{}\n\ntype Other struct{}\n\nfunc (s Set[T]) D() {}\n\ntype Set[E any] []E\n",
        },
    )
    loaded = counting_loads(monkeypatch)
    package = package_of(tmp_path, a)
    source = package.file(str(a))
    assert source is not None
    methods = source.facts(PackageIndex).methods_of(b"T")
    assert sorted(methods) == [b"B"]
    assert loaded == ["b.go", "t.go"]  # c.go names T, in no receiver; t.go's `Set[T]` might be one


def test_declaration_texts_come_from_the_bytes_and_follow_an_edit(tmp_path, monkeypatch):
    a, b = write_package(
        tmp_path,
        {
            "a.go": "package p\n\nfunc caller() { helper() }\n",
            "b.go": "package p\n\nimport \"sync\"\n\nvar mu sync.Mutex\n\n// helper takes mu.\nfunc helper() {\n\tmu.Lock()\n\tdefer mu.Unlock()\n}\n\nfunc (s *S) helper() struct{ n int } { return struct{ n int }{} }\n\ntype S struct{}\n",
        },
    )
    loaded = counting_loads(monkeypatch)
    package = package_of(tmp_path, a)
    texts = package.declaration_texts(b"helper")
    assert texts == [
        b"func helper() {\n\tmu.Lock()\n\tdefer mu.Unlock()\n}",
        b"func (s *S) helper() struct{ n int } { return struct{ n int }{} }",
    ]
    assert loaded == []  # read, not parsed
    assert package.declaration_texts(b"caller") == [b"func caller() { helper() }"] and package.declaration_texts(b"nothing") == []
    edited = SourceFile(str(b), b.read_bytes().replace(b"\tmu.Lock()\n\tdefer mu.Unlock()\n", b""), (1, 21))
    package.adopt(edited)
    assert package.declaration_texts(b"helper")[0] == b"func helper() {\n}"
    # A `func` the scan finds in a comment or a string declares nothing.
    commented = SourceFile(str(b), b"package p\n\n// func helper() { unfinished\nvar s = \"func helper() {\"\n", (1, 21))
    package.adopt(commented)
    assert package.declaration_texts(b"helper") == []


def test_sync_fields_are_answered_per_type_and_field_across_files(tmp_path):
    from gofix_defer.codemods.analysis.syncfields import SyncFields

    a, _ = write_package(
        tmp_path,
        {
            "a.go": """
                package p

                import "sync"

                type plugin struct {
                    ready *sync.Cond
                    busy  sync.WaitGroup
                }

                // another type's fields of the same names: their uses say nothing about plugin's
                type other struct {
                    ready *sync.Cond
                    busy  sync.WaitGroup
                }

                func (p *plugin) wait() { p.ready.Wait(); p.busy.Wait() }
                func (p *plugin) start() { p.busy.Add(1) }
                func (o *other) done() { o.ready.Broadcast(); o.busy.Done() }

                type queue struct{ more *sync.Cond; Jobs sync.WaitGroup }

                func (q *queue) pop() { q.more.Wait(); q.Jobs.Add(1); q.Jobs.Wait() }
                """,
            "b.go": """
                package p

                func wake(q *queue) { c := q.more; c.Signal() }
                """,
        },
    )
    fields = package_of(tmp_path, a).facts(SyncFields)
    assert fields.unsignalled_cond((b"plugin", b"ready"))
    assert fields.never_done_waitgroup((b"plugin", b"busy"))
    assert not fields.unsignalled_cond((b"other", b"ready"))
    assert not fields.never_done_waitgroup((b"other", b"busy"))
    assert not fields.unsignalled_cond((b"queue", b"more"))  # signalled through an alias in another file
    assert not fields.never_done_waitgroup((b"queue", b"Jobs"))  # exported outside package main
    assert not fields.never_done_waitgroup((b"plugin", b"ready"))  # not a WaitGroup


def test_the_index_says_what_other_packages_reach_and_how_often_a_name_is_used(tmp_path):
    a, _ = write_package(
        tmp_path,
        {"a.go": "package p\n\nfunc run(ch chan int) {}\n\nfunc Go() { run(nil); run(nil) }\n", "b.go": "package p\n\nvar f = run\n"},
    )
    index = package_of(tmp_path, a).facts(PackageIndex)
    assert index.reachable_from_outside(b"Go") and not index.reachable_from_outside(b"run")
    assert index.mentions(b"run") == 4
    main, _ = write_package(tmp_path / "m", {"main.go": "package main\n\nfunc Exported() {}\n", "b.go": "package main\n"})
    assert not package_of(tmp_path / "m", main).facts(PackageIndex).reachable_from_outside(b"Exported")
