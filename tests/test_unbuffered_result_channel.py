"""unbuffered-result-channel beyond the fixtures: the buffer it picks, CRLF files,
and the cases where it must stay silent."""

from __future__ import annotations

import pytest

from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.codemods.model import Applicability
from gofix_defer.rules import by_name

RULE = by_name("unbuffered-result-channel")


def check(body: str, params: str = "") -> list:
    text = f"package p\n\nimport \"context\"\n\nvar _ context.Context\n\nvar sink chan int\n\nfunc f({params}) int {{\n{body}\n}}\n".encode()
    return list(RULE.check(SourceFile("x.go", text, (1, 22))))


def fixed_make(body: str, params: str = "") -> str:
    (diagnostic,) = check(body, params)
    assert diagnostic.fix is not None and diagnostic.fix.applicability is Applicability.SAFE
    (edit,) = diagnostic.fix.edits
    return edit.text.decode()


@pytest.mark.parametrize(
    "body, params, buffer",
    [
        # three senders, one receive: room for all three
        ("\tch := make(chan int)\n\tgo func() { ch <- 1 }()\n\tgo func() { ch <- 2 }()\n\tgo func() { ch <- 3 }()\n\treturn <-ch", "", ", 3"),
        # a counted loop of senders behind a select
        ("\tch := make(chan int)\n\tfor i := 0; i < n; i++ {\n\t\tgo func() { ch <- i }()\n\t}\n\tselect {\n\tcase v := <-ch:\n\t\treturn v\n\tcase <-ctx.Done():\n\t\treturn 0\n\t}", "ctx context.Context, n int", ", n"),
        # a loop over an int (Go 1.22)
        ("\tch := make(chan int)\n\tfor i := range n {\n\t\tgo func() { ch <- i }()\n\t}\n\treturn <-ch", "n int", ", n"),
        # make(chan T, 0) gets its zero replaced
        ("\tch := make(chan int, 0)\n\tgo func() { ch <- 1 }()\n\tselect {\n\tcase v := <-ch:\n\t\treturn v\n\tdefault:\n\t\treturn 0\n\t}", "", "1"),
    ],
)
def test_buffer_fits_the_senders(body: str, params: str, buffer: str) -> None:
    assert fixed_make(body, params) == buffer


@pytest.mark.parametrize(
    "body, params",
    [
        # a goroutine that sends only on a condition may be the only one to send
        ("\tch := make(chan int)\n\tfor i := 0; i < n; i++ {\n\t\tgo func() {\n\t\t\tif i == 0 {\n\t\t\t\tch <- i\n\t\t\t}\n\t\t}()\n\t}\n\treturn <-ch", "n int"),
        # the single value was received before the loop returns
        ("\tch := make(chan int)\n\tgo func() { ch <- 1 }()\n\tfor {\n\t\tselect {\n\t\tcase v := <-ch:\n\t\t\treturn v\n\t\tcase <-ctx.Done():\n\t\t}\n\t}", "ctx context.Context"),
        # a non-blocking poll in a loop keeps receiving
        ("\tch := make(chan int)\n\tgo func() { ch <- 1 }()\n\tfor {\n\t\tselect {\n\t\tcase v := <-ch:\n\t\t\treturn v\n\t\tdefault:\n\t\t}\n\t}", ""),
        # the channel is stored in a package variable: others may receive (without the
        # store the select's other case is evidence: see the test below)
        ("\tch := make(chan int)\n\tgo func() { ch <- 1 }()\n\tsink = ch\n\tselect {\n\tcase v := <-ch:\n\t\treturn v\n\tcase <-ctx.Done():\n\t\treturn 0\n\t}", "ctx context.Context"),
    ],
)
def test_silent_without_evidence(body: str, params: str) -> None:
    assert check(body, params) == []


def test_a_stored_channel_would_be_reported_if_it_stayed_local() -> None:
    """The "stored" case above is silent because of the store: the same function
    with the channel kept local (and a receiver that may leave) is reported."""
    stored = "\tch := make(chan int)\n\tgo func() { ch <- 1 }()\n\tsink = ch\n\tselect {\n\tcase v := <-ch:\n\t\treturn v\n\tcase <-ctx.Done():\n\t\treturn 0\n\t}"
    assert check(stored, "ctx context.Context") == []
    assert len(check(stored.replace("\tsink = ch\n", ""), "ctx context.Context")) == 1


def test_crlf_file_keeps_its_line_endings() -> None:
    source = (
        b"package p\r\n\r\nfunc f(fail bool) int {\r\n\tch := make(chan int)\r\n\tgo func() {\r\n\t\tch <- 1\r\n\t}()\r\n"
        b"\tif fail {\r\n\t\treturn 0\r\n\t}\r\n\treturn <-ch\r\n}\r\n"
    )
    result = process("x.go", source, Settings(rules=[RULE], apply_fixes=True))
    assert not result.errors
    assert result.fixed == source.replace(b"make(chan int)", b"make(chan int, 1)")


@pytest.mark.parametrize(
    "body, message, buffer",
    [
        # the senders outnumber the receives, and the one plain receive always runs: one less
        ("\tch := make(chan int)\n\tgo func() { ch <- 1 }()\n\tgo func() { ch <- 2 }()\n\tgo func() { ch <- 3 }()\n\tv := <-ch\n\treturn v", "fewer receives than senders run", ", 2"),
        # one goroutine sends twice, the function receives once: room for the one left over
        ("\tch := make(chan int)\n\tgo func() {\n\t\tch <- 1\n\t\tch <- 2\n\t}()\n\tv := <-ch\n\treturn v", "a sender sends more than once: 2 sends, 1 receives", ", 1"),
        # a receiver that may leave (the select's other case) counts no receive as certain
        ("\tch := make(chan int)\n\tgo func() { ch <- 1 }()\n\tgo func() { ch <- 2 }()\n\tselect {\n\tcase v := <-ch:\n\t\treturn v\n\tcase <-ctx.Done():\n\t\treturn 0\n\t}", "the select takes another case", ", 2"),
    ],
)
def test_the_evidence_decides_which_receives_count(body: str, message: str, buffer: str) -> None:
    (diagnostic,) = check(body, "ctx context.Context")
    assert f"block for ever when {message}; give it a buffer of {buffer[2:]}" in diagnostic.message
    assert fixed_make(body, "ctx context.Context") == buffer


# -- the channel handed to the caller (issue 13, shape 1) ---------------------------

GO_HELPER = """package p

func Go(f func() error) chan error {
	ch := make(chan error)
	go func() {
		ch <- f()
	}()
	return ch
}
"""


def check_file(text: str) -> list:
    return list(RULE.check(SourceFile("x.go", text.encode(), (1, 22))))


@pytest.mark.parametrize(
    "caller, message",
    [
        ("func use() {\n\tGo(nil)\n}\n", "a caller drops the returned channel (x.go:12 in use)"),
        ("func use() {\n\tgo Go(nil)\n}\n", "a caller drops the returned channel"),
        ("func use() {\n\t_ = Go(nil)\n}\n", "a caller drops the returned channel"),
        ("func use(stop chan bool) error {\n\tselect {\n\tcase err := <-Go(nil):\n\t\treturn err\n\tcase <-stop:\n\t\treturn nil\n\t}\n}\n", "a caller's select takes another case (x.go:13 in use)"),
        ("func use(fail bool) error {\n\terrs := Go(nil)\n\tif fail {\n\t\treturn nil\n\t}\n\treturn <-errs\n}\n", "a caller returns before receiving"),
        # a caller inside a function literal, in a loop
        ("func use(stop chan bool) {\n\tfor i := 0; i < 3; i++ {\n\t\tfunc() {\n\t\t\tselect {\n\t\t\tcase <-Go(nil):\n\t\t\tdefault:\n\t\t\t}\n\t\t}()\n\t}\n}\n", "a caller's select takes another case"),
    ],
)
def test_a_caller_that_drops_or_leaves_is_evidence(caller: str, message: str) -> None:
    (diagnostic,) = check_file(GO_HELPER + "\n" + caller)
    assert f"senders on unbuffered channel ch block for ever when {message}" in diagnostic.message
    assert diagnostic.fix is not None and diagnostic.fix.applicability is Applicability.SAFE
    assert [e.text for e in diagnostic.fix.edits] == [b", 1"]


@pytest.mark.parametrize(
    "caller",
    [
        "",  # no caller in the package: the callers elsewhere are not ours to know
        "func use() error {\n\treturn <-Go(nil)\n}\n",
        "func use() error {\n\terrs := Go(nil)\n\terr := <-errs\n\treturn err\n}\n",
        # passed on, returned, stored: who receives is not ours to know
        "func use(wait func(chan error) error) error {\n\treturn wait(Go(nil))\n}\n",
        "func use() chan error {\n\treturn Go(nil)\n}\n",
        "var kept chan error\n\nfunc use() {\n\tkept = Go(nil)\n}\n",
        # a local function value of the same name is not the package's Go
        "func use() {\n\tGo := func(func() error) chan error { return nil }\n\tGo(nil)\n}\n",
    ],
)
def test_callers_that_receive_or_are_unknown_are_no_evidence(caller: str) -> None:
    assert check_file(GO_HELPER + "\n" + caller) == []


def test_a_caller_that_sends_on_the_channel_makes_the_fix_unsafe() -> None:
    caller = "func use() {\n\tGo(nil)\n}\n\nfunc inject() {\n\terrs := Go(nil)\n\terrs <- nil\n}\n"
    (diagnostic,) = check_file(GO_HELPER + "\n" + caller)
    assert diagnostic.fix is not None and diagnostic.fix.applicability is Applicability.UNSAFE
    assert "unsafe: the caller at x.go:16 in inject also sends on" in diagnostic.message


def test_a_method_called_on_its_receiver_is_followed() -> None:
    text = (
        "package p\n\ntype s struct{}\n\nfunc (x *s) start() <-chan int {\n\tch := make(chan int)\n"
        "\tgo func() { ch <- 1 }()\n\treturn ch\n}\n\nfunc (x *s) run() {\n\tx.start()\n}\n"
    )
    (diagnostic,) = check_file(text)
    assert "a caller drops the returned channel (x.go:12 in run)" in diagnostic.message


def test_the_senders_must_be_lone_sends_that_end() -> None:
    # the goroutine works on after its send: it relies on the handover
    helper = GO_HELPER.replace("\t\tch <- f()\n", "\t\tch <- f()\n\t\tprintln(\"sent\")\n")
    assert check_file(helper + "\nfunc use() {\n\tGo(nil)\n}\n") == []
    # already buffered
    buffered = GO_HELPER.replace("make(chan error)", "make(chan error, 1)")
    assert check_file(buffered + "\nfunc use() {\n\tGo(nil)\n}\n") == []


def test_callers_in_other_files_of_the_package(tmp_path) -> None:
    """The callers are found in the package's other files (the engine's packages)."""
    from gofix_defer.codemods.run.discovery import discover
    from gofix_defer.codemods.run.workers import run

    (tmp_path / "go.mod").write_text("module m\n\ngo 1.22\n")
    (tmp_path / "helper.go").write_text(GO_HELPER)
    (tmp_path / "use.go").write_text("package p\n\nfunc use() {\n\tGo(nil)\n}\n")
    (tmp_path / "other.go").write_text("package q\n\nfunc use() {\n\tGo(nil)\n}\n")  # another package
    results = {r.path: r for r in run(discover([str(tmp_path)]).files, Settings(rules=[RULE]))}
    (diagnostic,) = results[str(tmp_path / "helper.go")].diagnostics
    assert "a caller drops the returned channel (use.go:4 in use)" in diagnostic.message
    (tmp_path / "use.go").write_text("package p\n\nfunc use() error {\n\treturn <-Go(nil)\n}\n")
    results = {r.path: r for r in run(discover([str(tmp_path)]).files, Settings(rules=[RULE]))}
    assert results[str(tmp_path / "helper.go")].diagnostics == []


# -- a send before the channel is shared (shape 2) -----------------------------------


@pytest.mark.parametrize(
    "body, buffer",
    [
        ("\terrC := make(chan error)\n\tif fail {\n\t\terrC <- nil\n\t\treturn errC\n\t}\n\tgo func() { errC <- nil }()\n\treturn errC", b", 1"),
        ("\terrC := make(chan error)\n\terrC <- nil\n\terrC <- nil\n\treturn errC", b", 2"),
        ("\terrC := make(chan error)\n\tif fail {\n\t\terrC <- nil\n\t}\n\treturn errC", b", 1"),
    ],
)
def test_a_send_before_the_channel_is_shared_blocks_for_ever(body: str, buffer: bytes) -> None:
    (diagnostic,) = check_file(f"package p\n\nfunc start(fail bool) chan error {{\n{body}\n}}\n")
    assert "before anyone else can receive from it: the send blocks for ever" in diagnostic.message
    assert diagnostic.fix is not None and diagnostic.fix.applicability is Applicability.SAFE
    assert [e.text for e in diagnostic.fix.edits] == [buffer]


def test_the_early_send_with_users_the_rule_does_not_follow_is_unsafe() -> None:
    body = "\terrC := make(chan error)\n\tif fail {\n\t\terrC <- nil\n\t\treturn errC\n\t}\n\tgo serve(errC)\n\treturn errC"
    (diagnostic,) = check_file(f"package p\n\nfunc serve(chan error)\n\nfunc start(fail bool) chan error {{\n{body}\n}}\n")
    assert diagnostic.fix is not None and diagnostic.fix.applicability is Applicability.UNSAFE
    assert "(unsafe: the channel has other users" in diagnostic.message


def test_the_early_send_and_a_dropping_caller_share_one_buffer() -> None:
    text = (
        "package p\n\nfunc start(fail bool) chan error {\n\terrC := make(chan error)\n\tif fail {\n\t\terrC <- nil\n\t\treturn errC\n\t}\n"
        "\tgo func() { errC <- nil }()\n\treturn errC\n}\n\nfunc use() {\n\tstart(false)\n}\n"
    )
    (diagnostic,) = check_file(text)
    assert "and its senders block for ever when a caller drops the returned channel (x.go:14 in use)" in diagnostic.message
    assert [e.text for e in diagnostic.fix.edits] == [b", 1"]


@pytest.mark.parametrize(
    "body",
    [
        # a goroutine that receives has the channel before the send
        "\tch := make(chan int)\n\tgo func() { <-ch }()\n\tch <- 1\n\treturn 0",
        # a non-blocking send
        "\tch := make(chan int)\n\tselect {\n\tcase ch <- 1:\n\tdefault:\n\t}\n\treturn 0",
        # the send in a loop runs again after the channel is shared
        "\tch := make(chan int)\n\tfor i := 0; i < 2; i++ {\n\t\tch <- i\n\t\tgo func() { <-ch }()\n\t}\n\treturn 0",
        # a goto may run the send after a later use
        "\tch := make(chan int)\nagain:\n\tch <- 1\n\tgo func() { <-ch }()\n\tif sink == nil {\n\t\tgoto again\n\t}\n\treturn 0",
    ],
)
def test_sends_after_the_channel_is_shared_are_not_early(body: str) -> None:
    assert check(body) == []


# -- a sender that closes when it ends (shape 4) ------------------------------------


def test_a_deferred_close_after_the_send_is_the_goroutine_ending() -> None:
    body = (
        "\tch := make(chan int)\n\tgo func() {\n\t\tdefer close(ch)\n\t\tch <- 1\n\t}()\n"
        "\tselect {\n\tcase v, ok := <-ch:\n\t\t_ = ok\n\t\treturn v\n\tcase <-ctx.Done():\n\t\treturn 0\n\t}"
    )
    assert fixed_make(body, "ctx context.Context") == ", 1"
    # a close deferred only on some paths, or twice, is not modelled
    conditional = body.replace("\t\tdefer close(ch)\n", "\t\tif sink == nil {\n\t\t\tdefer close(ch)\n\t\t}\n")
    assert check(conditional, "ctx context.Context") == []
    twice = body.replace("\t\tdefer close(ch)\n", "\t\tdefer close(ch)\n\t\tdefer close(ch)\n")
    assert check(twice, "ctx context.Context") == []


def test_senders_left_over_when_the_process_ends_are_no_leak() -> None:
    first_wins = "\terrc := make(chan error)\n\tgo func() { errc <- nil }()\n\tgo func() { errc <- nil }()\n\terr := <-errc\n"
    template = "package main\n\nimport (\n\t\"log\"\n\t\"os\"\n)\n\nvar _ = log.Fatal\nvar _ = os.Exit\n\nfunc {name}({params}) {{\n{body}}}\n"

    def findings(name: str, body: str, params: str = "") -> list:
        return check_file(template.format(name=name, params=params, body=body))

    assert len(findings("serve", first_wins + "\t_ = err\n")) == 1
    assert findings("serve", first_wins + "\tos.Exit(1)\n") == []
    assert findings("serve", first_wins + "\tlog.Fatalf(\"%v\", err)\n") == []
    assert findings("serve", first_wins + "\tlogger.Fatal(err)\n", "logger interface{ Fatal(...any) }") == []
    assert findings("main", first_wins + "\t_ = err\n") == []
    # a test's t.Fatal ends the test, not the process: the senders stay blocked
    assert len(findings("serve", first_wins + "\tt.Fatal(err)\n", "t *testing.T")) == 1


def test_a_caller_returning_on_the_other_result_is_no_evidence() -> None:
    """`ch, err := start(); if err != nil { return err }`: on that path start most likely
    started no sender; any other early return still is evidence."""
    helper = (
        "package p\n\nfunc start(fail bool) (<-chan int, error) {\n\tif fail {\n\t\treturn nil, nil\n\t}\n"
        "\tch := make(chan int)\n\tgo func() { ch <- 1 }()\n\treturn ch, nil\n}\n"
    )
    on_err = "func use(fail bool) int {\n\tch, err := start(fail)\n\tif err != nil {\n\t\treturn 0\n\t}\n\treturn <-ch\n}\n"
    assert check_file(helper + "\n" + on_err) == []
    other = on_err.replace("if err != nil {", "if err != nil || fail {").replace("if err != nil || fail {", "_ = err\n\tif fail {")
    (diagnostic,) = check_file(helper + "\n" + other)
    assert "a caller returns before receiving" in diagnostic.message
