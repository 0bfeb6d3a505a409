"""Suppression comments as the Go linters write them: //nolint, //nolint:all,
//nolint:gofix-defer, and //gofix-defer:ignore."""

from __future__ import annotations

import pytest

from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.engine.suppress import Suppressions

from .test_cli import LEAKY, invoke, module

DEFER_LINE = "\t\tdefer func() { fmt.Println(i) }()"


def leaky_with(comment: str) -> str:
    return LEAKY.replace(DEFER_LINE, DEFER_LINE + " " + comment)


@pytest.mark.parametrize(
    "comment,silenced",
    [
        ("//nolint", True),
        ("//nolint:all", True),
        ("//nolint:gofix-defer", True),
        ("//nolint:errcheck,gofix-defer // closed by the caller", True),
        ("// nolint:gofix-defer", True),  # golangci-lint trims the space too
        ("//nolint:loop-var-capture", True),  # a rule's own name
        ("//gofix-defer:ignore", True),
        ("//gofix-defer:ignore loop-var-capture", True),
        ("//nolint:errcheck", False),
        ("//nolint:defer-in-loop", False),
        ("//nolintx", False),
        ("//gofix-defer:ignore defer-in-loop", False),
        ("// this line is fine, says nolint", False),
    ],
)
def test_nolint_spellings(tmp_path, comment, silenced):
    module(tmp_path, files={"main.go": leaky_with(comment)})
    result = invoke(".", "--no-cache", cwd=tmp_path)
    assert (result.exit_code == 0) is silenced, result.stdout
    written = invoke(".", "--no-cache", "--write", cwd=tmp_path)
    assert ((tmp_path / "main.go").read_text() == leaky_with(comment)) is silenced, written.stdout


def test_nolint_alone_above_a_function_covers_all_of_it(tmp_path):
    source = LEAKY.replace("func main() {", "//nolint:gofix-defer // legacy\nfunc main() {")
    module(tmp_path, files={"main.go": source, "other.go": LEAKY.replace("func main()", "func other()")})
    result = invoke(".", "--no-cache", cwd=tmp_path)
    assert [line.split(":", 1)[0] for line in result.stdout.splitlines()] == ["other.go"]


def test_nolint_above_the_package_clause_covers_the_file(tmp_path):
    module(tmp_path, files={"main.go": "//nolint\n" + LEAKY})
    assert invoke(".", "--no-cache", cwd=tmp_path).exit_code == 0


def test_nolint_at_another_column_covers_only_the_next_line(tmp_path):
    # golangci-lint stretches a //nolint over the node that starts right below it
    # at the same column; a comment indented differently covers one line.
    source = LEAKY.replace("func main() {", "\t//nolint\nfunc main() {")
    module(tmp_path, files={"main.go": source})
    assert invoke(".", "--no-cache", cwd=tmp_path).exit_code == 1


def test_nolint_inside_a_string_is_not_a_comment(tmp_path):
    source = LEAKY.replace("fmt.Println(i)", 'fmt.Println(i, "//nolint:gofix-defer")')
    module(tmp_path, files={"main.go": source})
    assert invoke(".", "--no-cache", cwd=tmp_path).exit_code == 1


def test_suppressions_unit():
    data = (
        b"package p\n"
        b"\n"
        b"func f() {\n"
        b"\tg() //nolint\n"
        b'\ts := "//nolint:all"\n'
        b"\t//nolint:all\n"
        b"\tdefer func() {\n"
        b"\t\tx()\n"
        b"\t}()\n"
        b"\ty() //nolint:errcheck\n"
        b"}\n"
    )
    s = Suppressions(SourceFile("x.go", data, (1, 21)))
    assert s.suppressed("any", 4)
    assert not s.suppressed("any", 5)  # in a string
    assert all(s.suppressed("any", line) for line in (6, 7, 8, 9))  # the statement below, whole
    assert not s.suppressed("any", 10) and not s.suppressed("any", 11)
