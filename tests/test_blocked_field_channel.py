"""Unit tests for blocked-field-channel and the facts it reads (FieldChannels, stop cases).

The fixtures (fixtures/blocked-field-channel/) prove the fixes at run time;
these tests pin the decisions: which stop signal is chosen, what counts as
the other end of the channel, what escapes, the zero values a stop case
returns, and the package read across files.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gofix_defer.codemods.analysis.fieldchannels import FieldChannels, FieldOpKind, TypeResolver
from gofix_defer.codemods.analysis.index import PackageIndex
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import walk
from gofix_defer.codemods.edits.cancel_rewrite import TypeLookup, zero_values
from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.codemods.model import Applicability
from gofix_defer.codemods.run.discovery import discover
from gofix_defer.codemods.run.workers import run as run_files
from gofix_defer.rules import by_name

RULE = by_name("blocked-field-channel")

NODE = """
type node struct {
	status chan int
	stop   chan struct{}
	done   chan struct{}
}

func newNode() *node {
	return &node{status: make(chan int), stop: make(chan struct{}), done: make(chan struct{})}
}

func (n *node) run() {
	for {
		select {
		case v := <-n.status:
			println(v)
		case <-n.stop:
			STOP_BODY
			return
		}
	}
}

func (n *node) Status(v int) {
	n.status <- v
	println("sent")
}
"""

# Something must signal the stop channel: one nothing signals never stops the server.
STOPPER = "\nfunc (n *node) Stop() { n.stop <- struct{}{} }\n"


def source_of(body: str, package: str = "main") -> bytes:
    return (f"package {package}\n\n" + textwrap.dedent(body).lstrip("\n")).encode()


def check(data: bytes) -> list:
    result = process("x.go", data, Settings(rules=[RULE]))
    assert not result.errors, result.errors
    return result.diagnostics


def fixed(data: bytes) -> str:
    result = process("x.go", data, Settings(rules=[RULE], unsafe_fixes=True, apply_fixes=True))
    assert not result.errors, result.errors
    return (result.fixed or data).decode()


def test_prefers_the_channel_the_server_closes_when_it_stops():
    data = source_of(NODE.replace("STOP_BODY", "close(n.done)") + "\nfunc (n *node) Stop() { n.stop <- struct{}{} }\n")
    [diagnostic] = check(data)
    assert "once run (line" in diagnostic.message and "has stopped on n.stop" in diagnostic.message
    assert diagnostic.fix is not None and diagnostic.fix.applicability is Applicability.UNSAFE
    out = fixed(data)
    # n.stop carries one stop message: waiting on it would steal it. n.done is closed.
    assert "case n.status <- v:\n\tcase <-n.done:\n\t\treturn\n\t}" in out
    assert "<-n.stop:\n\t\treturn" not in out


def test_a_stop_channel_that_is_only_closed_is_waited_on_itself():
    data = source_of(NODE.replace("STOP_BODY", "println()") + "\nfunc (n *node) Stop() { close(n.stop) }\n")
    out = fixed(data)
    assert "case <-n.stop:\n\t\treturn\n\t}" in out.split("func (n *node) Status")[1]


def test_a_stop_channel_that_is_sent_on_gives_no_fix():
    data = source_of(NODE.replace("STOP_BODY", "println()") + "\nfunc (n *node) Stop() { n.stop <- struct{}{} }\n")
    [diagnostic] = check(data)
    assert diagnostic.fix is None and "cannot reach" in diagnostic.message


def test_a_server_that_never_stops_or_an_operation_in_a_select_is_left_alone():
    forever = NODE.replace("case <-n.stop:\n\t\t\tSTOP_BODY\n\t\t\treturn\n", "case <-n.stop:\n\t\t\tprintln()\n")
    assert check(source_of(forever)) == []
    careful = NODE.replace("STOP_BODY", "close(n.done)").replace("\tn.status <- v\n", "\tselect {\n\tcase n.status <- v:\n\tcase <-n.done:\n\t}\n")
    assert check(source_of(careful)) == []


@pytest.mark.parametrize(
    "change",
    [
        ("status: make(chan int)", "status: make(chan int, 4)"),  # buffered: a queue
        ("func (n *node) Status(v int) {", "func (n *node) Len() int { return len(n.status) }\n\nfunc (n *node) Status(v int) {"),
        ("func (n *node) Status(v int) {", "func (n *node) C() chan int { return n.status }\n\nfunc (n *node) Status(v int) {"),
        ("func (n *node) Status(v int) {", "func feed(c chan int) { consume(c) }\n\nfunc (n *node) Status(v int) {"),
    ],
)
def test_what_makes_the_other_end_unknown(change):
    text = NODE.replace("STOP_BODY", "close(n.done)").replace(*change)
    if "consume(c)" in text:
        text += "\nfunc use(n *node) { feed(n.status) }\n"  # passed on to an unknown consume
    if "C() chan int" in text:
        text = text.replace("package main", "package lib")
        assert check(source_of(text, "lib")) == []
        return
    assert check(source_of(text)) == []


def test_exported_field_outside_main_escapes_but_not_in_main():
    text = NODE.replace("STOP_BODY", "close(n.done)").replace("status", "Status_").replace("func (n *node) Status_(", "func (n *node) Send(") + STOPPER
    assert check(source_of(text, "lib")) == []
    assert len(check(source_of(text, "main"))) == 1


def test_a_field_set_from_a_parameter_is_the_callers_channel():
    text = NODE.replace("STOP_BODY", "close(n.done)").replace("status: make(chan int)", "status: c").replace("func newNode()", "func newNode(c chan int)")
    assert check(source_of(text)) == []


def test_an_owner_of_unknown_type_counts_as_a_possible_other_end():
    text = NODE.replace("STOP_BODY", "close(n.done)") + STOPPER + "\nfunc drain(x interface{ get() *node }, y *other) { <-y.status }\n\ntype other struct{ status chan int }\n"
    # y.status is other's field: no effect. An untyped `z.status` would be.
    assert len(check(source_of(text))) == 1
    untyped = text + "\nfunc mystery() {\n\tz := lookup()\n\t<-z.status\n}\n\nfunc lookup() interface{} { return nil }\n"
    assert check(source_of(untyped)) == []


def test_an_operation_nothing_serves_is_left_to_never_woken_with_the_same_stop():
    text = """
    type w struct {
    	quit    chan struct{}
    	errc    chan error
    	results chan string
    }

    func newW() *w { return &w{quit: make(chan struct{}), errc: make(chan error), results: make(chan string)} }

    func (x *w) run() {
    	select {
    	case err := <-x.errc:
    		x.results <- err.Error()
    	case <-x.quit:
    	}
    }
    """
    # Nothing in the package receives from x.results: never-woken reports it (one
    # finding, not two) and makes it wait on the stop case of its own select.
    assert [d for d in check(source_of(text)) if "results" in d.message] == []
    never_woken = by_name("never-woken")
    reported = process("x.go", source_of(text), Settings(rules=[never_woken]))
    [diagnostic] = [d for d in reported.diagnostics if "results" in d.message]
    assert "is received from by no function or method of the package" in diagnostic.message
    assert "wait on <-x.quit too (the select around it stops on it)" in diagnostic.message
    assert diagnostic.fix is not None and diagnostic.fix.applicability is Applicability.UNSAFE
    result = process("x.go", source_of(text), Settings(rules=[never_woken], unsafe_fixes=True, apply_fixes=True))
    out = (result.fixed or b"").decode()
    assert "case x.results <- err.Error():\n\t\tcase <-x.quit:\n\t\t\treturn\n\t\t}" in out


def test_zero_values_of_results():
    data = source_of(
        """
        type Status struct{ A int }
        type Level int
        type Names []string

        func a() (Status, error) { return Status{}, nil }
        func b() (n int, err error) { return }
        func c() (*Status, Level, string, bool, Names, [2]int) { return nil, 0, "", false, nil, [2]int{} }
        func d() time.Time { return time.Time{} }
        func e() {}
        """
    )
    source = SourceFile("x.go", data, (1, 22))
    functions = {n.child_by_field_name("name").text: n for n in walk(source.root) if n.type == "function_declaration"}
    index = source.facts(PackageIndex)
    lookup = TypeLookup({name: (info.source, info.spec.child_by_field_name("type")) for name, info in index.types.items()})
    assert zero_values(source, functions[b"a"], lookup) == [b"Status{}", b"nil"]
    assert zero_values(source, functions[b"b"], lookup) == []  # named results: a bare return
    assert zero_values(source, functions[b"c"], lookup) == [b"nil", b"0", b'""', b"false", b"nil", b"[2]int{}"]
    assert zero_values(source, functions[b"d"], lookup) is None  # another package's type
    assert zero_values(source, functions[b"e"], lookup) == []


def test_type_resolver_follows_fields_ranges_maps_and_assertions():
    data = source_of(
        """
        type inner struct{ ch chan int }
        type outer struct {
        	in   *inner
        	all  map[string]*inner
        	list []inner
        }

        func newOuter() *outer { return &outer{} }

        func (o *outer) f(v interface{}) {
        	a := o.in
        	for _, b := range o.all {
        		_ = b
        	}
        	c, ok := o.all["x"]
        	d := v.(*inner)
        	e := newOuter()
        	_, _, _, _, _ = a, c, ok, d, e
        }
        """
    )
    source = SourceFile("x.go", data, (1, 22))
    method = next(n for n in walk(source.root) if n.type == "method_declaration")
    resolver = TypeResolver(source.facts(PackageIndex), source, source.scopes(method))
    names = {n.text: n for n in walk(method) if n.type == "identifier"}
    assert resolver.type_name(names[b"a"]) == b"inner"
    assert resolver.type_name(names[b"b"]) == b"inner"
    assert resolver.type_name(names[b"c"]) == b"inner"
    assert resolver.type_name(names[b"ok"]) is None
    assert resolver.type_name(names[b"d"]) == b"inner"
    assert resolver.type_name(names[b"e"]) == b"outer"


def test_field_operations_through_aliases_getters_and_callees():
    data = source_of(
        """
        type s struct{ ch chan int }

        func newS() *s { return &s{ch: make(chan int)} }

        func (x *s) C() <-chan int { return x.ch }

        func (x *s) a() {
        	c := x.ch
        	c <- 1
        	<-x.C()
        	drain(x.ch)
        }

        func drain(in chan int) {
        	for range in {
        	}
        }
        """
    )
    source = SourceFile("x.go", data, (1, 22))
    facts = source.facts(FieldChannels)
    ops = {(op.kind, op.via) for op in facts.ops(b"s", b"ch")}
    assert (FieldOpKind.MADE, "") in ops
    assert (FieldOpKind.SEND, "alias") in ops
    assert (FieldOpKind.RECEIVE, "getter") in ops
    assert (FieldOpKind.RANGE, "call drain") in ops
    assert facts.escape(b"s", b"ch") is None
    assert facts.unbuffered(b"s", b"ch")


def _run_package(folder: Path, files: dict[str, str]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "go.mod").write_text("module m\n\ngo 1.22\n")
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text).lstrip())
    found = []
    for result in run_files(discover([str(folder)]).files, Settings(rules=[RULE]), jobs=1):
        assert not result.errors, result.errors
        found += [f"{Path(result.path).name}:{d.line}: {d.message}" for d in result.diagnostics]
    return found


def test_the_server_in_another_file_is_found(tmp_path):
    files = {
        "node.go": "package main\n\n" + NODE.replace("STOP_BODY", "close(n.done)").split("func (n *node) run()")[0],
        "run.go": "package main\n\nfunc (n *node) run() {" + NODE.replace("STOP_BODY", "close(n.done)").split("func (n *node) run() {")[1].split("func (n *node) Status")[0],
        "status.go": "package main\n\nfunc (n *node) Status(v int) {\n\tn.status <- v\n}\n" + STOPPER,
    }
    found = _run_package(tmp_path, files)
    assert len(found) == 1 and found[0].startswith("status.go:4: ") and "run (line" in found[0]


SESSION = """
type session struct {
	refs   chan int
	closeC chan struct{}
}

func newSession() *session {
	s := &session{refs: make(chan int), closeC: make(chan struct{})}
	go s.refLoop()
	return s
}

func (s *session) refLoop() {
	for {
		select {
		case <-s.refs:
		case <-s.closeC:
			return
		}
	}
}

func (s *session) close() { close(s.closeC) }

func (s *session) shutdown() { s.close() }
"""


def _test_file(body: str) -> list:
    data = ("package main\n\nimport \"testing\"\n\n" + textwrap.dedent(SESSION).lstrip("\n") + textwrap.dedent(body)).encode()
    result = process("x_test.go", data, Settings(rules=[RULE]))
    assert not result.errors, result.errors
    return result.diagnostics


def test_a_test_step_before_the_deferred_clean_up_is_left_alone():
    assert _test_file("\nfunc TestA(t *testing.T) {\n\ts := newSession()\n\tdefer s.close()\n\ts.refs <- 1\n}\n") == []
    assert _test_file("\nfunc TestA(t *testing.T) {\n\ts := newSession()\n\ts.refs <- 1\n\ts.shutdown()\n}\n") == []


def test_a_goroutine_of_a_test_that_nothing_stops_is_left_alone():
    assert _test_file("\nfunc TestA(t *testing.T) {\n\ts := newSession()\n\tgo func() {\n\t\ts.refs <- 1\n\t}()\n}\n") == []


@pytest.mark.parametrize(
    "body",
    [
        # the test's clean-up may run before the goroutine's send
        "\ts := newSession()\n\tdefer s.close()\n\tgo func() {\n\t\ts.refs <- 1\n\t}()\n",
        "\ts := newSession()\n\ts.close()\n\ts.refs <- 1\n",  # stopped first: the send after it blocks
        "\ts := newSession()\n\ts.shutdown()\n\ts.refs <- 1\n",  # through a method that closes it
        "\ts := newSession()\n\tgo s.close()\n\ts.refs <- 1\n",  # a goroutine may stop it first
        "\ts := newSession()\n\tfor i := 0; i < 2; i++ {\n\t\ts.refs <- i\n\t\ts.close()\n\t}\n",  # the next turn comes after the close
    ],
)
def test_a_test_step_after_a_stop_is_still_found(body):
    assert len(_test_file("\nfunc TestA(t *testing.T) {\n" + body + "}\n")) == 1


def test_a_literal_that_sets_the_fields_by_position_makes_them():
    data = source_of(
        """
        type s struct {
        	name string
        	ch   chan int
        	out  chan int
        }

        func newS(out chan int) *s { return &s{"x", make(chan int), out} }
        """
    )
    facts = SourceFile("x.go", data, (1, 22)).facts(FieldChannels)
    assert facts.unbuffered(b"s", b"ch")
    assert facts.escape(b"s", b"ch") is None
    assert "set from out" in (facts.escape(b"s", b"out") or "")


def test_a_stop_reached_only_through_an_interface_is_not_a_step_before():
    # A supervisor stops its services through an interface: which one it stops, and
    # whether it starts it again, the package's code does not say.
    supervisor = """
type service interface{ shutdown() }

type supervisor struct{ services []service }

func (v *supervisor) stopAll() {
	for _, s := range v.services {
		s.shutdown()
	}
}
"""
    body = "\tv := &supervisor{}\n\ts := newSession()\n\tv.services = append(v.services, s)\n\tgo v.stopAll()\n\ts.refs <- 1\n"
    assert _test_file(supervisor + "\nfunc TestA(t *testing.T) {\n" + body + "}\n") == []
    # The same stop called on the session itself is a step before the send.
    direct = body.replace("go v.stopAll()", "go s.shutdown()")
    assert len(_test_file(supervisor + "\nfunc TestA(t *testing.T) {\n" + direct + "}\n")) == 1


def test_an_example_is_a_test_step():
    assert _test_file("\nfunc ExampleA() {\n\ts := newSession()\n\ts.refs <- 1\n\ts.shutdown()\n}\n") == []
    assert len(_test_file("\nfunc ExampleA() {\n\ts := newSession()\n\ts.shutdown()\n\ts.refs <- 1\n}\n")) == 1


RESTARTING = """
type job struct {
	started chan bool
	take    chan int
	quit    chan bool
}

func newJob() *job {
	return &job{make(chan bool), make(chan int), make(chan bool)}
}

func (j *job) serve() {
	j.started <- true
	for {
		select {
		case <-j.take:
		case <-j.quit:
			return
		}
	}
}

func (j *job) stop() { j.quit <- true }
"""


def test_a_step_after_the_server_announces_its_restart_is_left_alone():
    # The test stops the job, then waits until serve runs again (something restarts it).
    body = "\tj := newJob()\n\tgo j.serve()\n\t<-j.started\n\tj.stop()\n\t<-j.started\n\tj.take <- 1\n"
    assert _test_file(RESTARTING + "\nfunc TestA(t *testing.T) {\n" + body + "}\n") == []
    # Without the wait for the restart, the send after the stop blocks for ever.
    stopped = body.replace("\tj.stop()\n\t<-j.started\n", "\tj.stop()\n")
    assert len(_test_file(RESTARTING + "\nfunc TestA(t *testing.T) {\n" + stopped + "}\n")) == 1


def test_only_a_close_from_elsewhere_releases_a_sender():
    closer = NODE.replace("STOP_BODY", "close(n.done)") + STOPPER
    assert check(source_of(closer + "\nfunc (n *node) Close() { close(n.status) }\n")) == []
    # the sender closing its own channel after the send does not release it
    own = closer.replace('\tn.status <- v\n\tprintln("sent")\n', "\tn.status <- v\n\tclose(n.status)\n")
    assert len(check(source_of(own))) == 1


def test_a_stop_signalled_before_the_operation_still_counts():
    text = """
    type server struct {
    	stop chan struct{}
    	done chan struct{}
    }

    func newServer() *server { return &server{stop: make(chan struct{}), done: make(chan struct{})} }

    func (s *server) HardStop() {
    	select {
    	case s.stop <- struct{}{}:
    	case <-s.done:
    	}
    }

    func (s *server) after() {
    	<-s.stop
    	close(s.done)
    }

    func (s *server) before() {
    	close(s.done)
    	<-s.stop
    }
    """
    lines = source_of(text).decode().splitlines()
    assert [d.line for d in check(source_of(text))] == [lines.index("func (s *server) before() {") + 3]
