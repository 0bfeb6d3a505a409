"""Call sites: the package's calls to one of its functions, and what each caller
does with the result (codemods/analysis/callers.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.callers import CallSites, ResultKind, result_use
from gofix_defer.codemods.analysis.index import PackageIndex
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.engine.process import Settings
from gofix_defer.codemods.run import workers

HELPER = """
package p

type T struct{}

func Make() (chan int, error) { return nil, nil }

func (t *T) Start() chan int { return nil }

func (t *T) run() { t.Start() }
"""

USERS = """
package p

func use(t *T) int {
	Make()
	go Make()
	_, _ = Make()
	ch, err := Make()
	_ = err
	var kept, _ = Make()
	other := func() (chan int, error) { return nil, nil }
	other()
	consume(Make())
	t.Start()
	n := <-t.Start()
	return <-ch + <-kept + n
}

func consume(chan int, error) {}
"""


def package_files(tmp_path: Path) -> tuple[SourceFile, CallSites]:
    (tmp_path / "go.mod").write_text("module m\n\ngo 1.22\n")
    for name, text in (("helper.go", HELPER), ("users.go", USERS), ("other.go", "package q\n\nfunc f() { Make() }\n")):
        (tmp_path / name).write_text(textwrap.dedent(text).lstrip())
    path = tmp_path / "helper.go"
    source = SourceFile(str(path), path.read_bytes(), (1, 22))
    package = workers.Packages(Settings(rules=[])).of(str(path), source.data)
    package.adopt(source)
    return source, source.package.facts(CallSites)


def test_calls_are_found_in_the_other_files_of_the_package_only(tmp_path: Path) -> None:
    source, sites = package_files(tmp_path)
    index = source.package.facts(PackageIndex)
    make = index.function(b"Make")
    assert make is not None
    found = sites.to(make)
    # `other()` is a local function value, other.go is another package
    assert [(Path(s.source.path).name, s.source.line_col(s.call.start_byte)[0]) for s in found] == [
        ("users.go", 4),
        ("users.go", 5),
        ("users.go", 6),
        ("users.go", 7),
        ("users.go", 9),
        ("users.go", 12),
    ]
    kinds = [result_use(s, 0, 2).kind for s in found]
    assert kinds == [ResultKind.DROPPED, ResultKind.DROPPED, ResultKind.DROPPED, ResultKind.BOUND, ResultKind.BOUND, ResultKind.OTHER]
    bound = result_use(found[3], 0, 2)
    assert bound.declaration is not None and bound.declaration.name == b"ch"
    # the error result of `ch, err := Make()`: a variable the caller declares
    assert result_use(found[3], 1, 2).kind is ResultKind.BOUND
    # the count must match the targets
    assert result_use(found[3], 0, 1).kind is ResultKind.OTHER


def test_methods_called_on_the_receiver_or_a_typed_parameter(tmp_path: Path) -> None:
    source, sites = package_files(tmp_path)
    start = source.package.facts(PackageIndex).method(b"T", b"Start")
    assert start is not None
    found = sites.to(start)
    assert [(Path(s.source.path).name, syntax.function_name(s.function).text) for s in found] == [  # type: ignore[union-attr]
        ("helper.go", b"run"),
        ("users.go", b"use"),
        ("users.go", b"use"),
    ]
    assert [result_use(s, 0, 1).kind for s in found] == [ResultKind.DROPPED, ResultKind.DROPPED, ResultKind.RECEIVED]
    received = result_use(found[2], 0, 1)
    assert received.receive is not None and syntax.is_receive(received.receive)
