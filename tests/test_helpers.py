"""Shared engine helpers: scopes, imports, insertion, suppression, Go versions."""

from __future__ import annotations

import pytest

from gofix_defer.codemods.analysis.goversion import GoVersionError, effective_go_version, go_mod_version, parse_go_version
from gofix_defer.codemods.analysis.scope import FunctionScopes, fresh_name
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import identifiers, walk
from gofix_defer.codemods.edits.imports import add_import
from gofix_defer.codemods.edits.insertion import insert_after, insert_before
from gofix_defer.codemods.engine.suppress import Suppressions, is_generated
from gofix_defer.codemods.model import apply_edits


def src(text: str) -> SourceFile:
    return SourceFile("x.go", text.encode(), (1, 21))


def function(source: SourceFile, name: bytes = b"f"):
    return next(n for n in walk(source.root) if n.type == "function_declaration" and source.text(n.child_by_field_name("name")) == name)


def resolved(source: SourceFile, fn) -> list[tuple[int, str]]:
    """(line of use, kind@line of declaration) for every identifier use of `x`."""
    scopes = FunctionScopes(source.data, fn)
    out = []
    for ident in identifiers(fn):
        if source.text(ident) != b"x":
            continue
        decl = scopes.resolve(ident)
        where = "outside" if decl is None else f"{decl.kind}@{decl.ident.start_point[0] + 1}"
        out.append((ident.start_point[0] + 1, where))
    return out


def test_scope_resolution_follows_go_shadowing():
    source = src(
        "package p\n"            # 1
        "func f(x int) {\n"      # 2
        "\tx := x\n"             # 3  redeclared? no: same block as params -> assignment... see below
        "\t{\n"                  # 4
        "\t\tx := x + 1\n"       # 5
        "\t\t_ = x\n"            # 6
        "\t}\n"                  # 7
        "\tfor x := range x {\n" # 8
        "\t\t_ = x\n"            # 9
        "\t}\n"                  # 10
        "\tfunc(x string) { _ = x }(\"\")\n"  # 11
        "\t_ = x\n"              # 12
        "}\n"
    )
    got = resolved(source, function(source))
    # Line 3: `x := x` in the body block, which is the parameters' block: no new variable.
    assert got == [
        (2, "param@2"),
        (3, "param@2"), (3, "param@2"),
        (5, "short@5"), (5, "param@2"),
        (6, "short@5"),
        (8, "range@8"), (8, "param@2"),
        (9, "range@8"),
        (11, "param@11"), (11, "param@11"),
        (12, "param@2"),
    ]


def test_scope_outside_names_resolve_to_none_and_fresh_names_avoid_all():
    source = src("package p\nvar x int\nfunc f() { _ = x; ctx := 1; _ = ctx }\n")
    assert resolved(source, function(source)) == [(3, "outside")]
    assert fresh_name(source.data, source.root, "ctx") == "ctx2"
    assert fresh_name(source.data, source.root, "cancel") == "cancel"


@pytest.mark.parametrize(
    "before, after",
    [
        ("package p\n\nfunc f() {}\n", 'package p\n\nimport "context"\n\nfunc f() {}\n'),
        ('package p\n\nimport "fmt"\n', 'package p\n\nimport (\n\t"context"\n\t"fmt"\n)\n'),
        ('package p\n\nimport (\n\t"errors"\n\t"fmt"\n\n\t"example.com/x"\n)\n',
         'package p\n\nimport (\n\t"context"\n\t"errors"\n\t"fmt"\n\n\t"example.com/x"\n)\n'),
        ('package p\n\nimport (\n\t"example.com/x"\n\n\t"sync"\n)\n', 'package p\n\nimport (\n\t"example.com/x"\n\n\t"context"\n\t"sync"\n)\n'),
        ('package p\n\nimport (\n\t"a"\n\t"b"\n)\n', 'package p\n\nimport (\n\t"a"\n\t"b"\n\t"context"\n)\n'),
        ('package p\r\n\r\nimport "fmt"\r\n', 'package p\r\n\r\nimport (\r\n\t"context"\r\n\t"fmt"\r\n)\r\n'),
    ],
)
def test_add_import_forms(before, after):
    source = src(before)
    name, edits = add_import(source, "context")
    assert name == b"context"
    assert apply_edits(source.data, edits).decode() == after


def test_add_import_reuses_existing_and_alias():
    assert add_import(src('package p\nimport "context"\n'), "context") == (b"context", [])
    assert add_import(src('package p\nimport stdctx "context"\n'), "context") == (b"stdctx", [])
    name, edits = add_import(src('package p\nimport _ "context"\n'), "context")
    assert name == b"context" and edits


def test_insert_before_and_after_keep_indentation_and_newlines():
    source = src("package p\r\n\r\nfunc f() {\r\n\tif true {\r\n\t\tg()\r\n\t}\r\n}\r\n")
    call = next(n for n in walk(source.root) if n.type == "expression_statement")
    before = insert_before(source, call, [b"a()", b"b()"])
    after = insert_after(source, call, [b"c()"])
    out = apply_edits(source.data, [before, after])
    assert out == b"package p\r\n\r\nfunc f() {\r\n\tif true {\r\n\t\ta()\r\n\t\tb()\r\n\t\tg()\r\n\t\tc()\r\n\t}\r\n}\r\n"
    inline = src("package p\nfunc f() { g() }\n")
    call = next(n for n in walk(inline.root) if n.type == "expression_statement")
    assert insert_before(inline, call, [b"a()"]) is None


def test_suppressions_and_generated():
    source = src(
        "package p\n"
        "func f() {\n"
        "\tg() //gofix-defer:ignore\n"
        "\t//gofix-defer:ignore rule-a, rule-b\n"
        "\tg()\n"
        "\tg() //nolint:errcheck,gofix-defer\n"
        "\tg() //nolint:errcheck\n"
        "}\n"
    )
    s = Suppressions(source)
    assert s.suppressed("anything", 3)
    assert s.suppressed("rule-b", 5) and not s.suppressed("rule-c", 5)
    assert s.suppressed("rule-c", 6)
    assert not s.suppressed("rule-a", 7)
    assert is_generated(b"// Code generated by stringer; DO NOT EDIT.\n\npackage p\n")
    assert not is_generated(b"package p\n\n// Code generated by stringer; DO NOT EDIT.\n")


def test_go_versions(tmp_path):
    assert parse_go_version("1.21") == (1, 21)
    assert parse_go_version("go1.22.3") == (1, 22)
    with pytest.raises(GoVersionError):
        parse_go_version("latest")
    assert go_mod_version(b"module m\n\ngo 1.21.5 // pinned\n") == (1, 21)
    (tmp_path / "go.mod").write_text("module m\n\ngo 1.20\n")
    (tmp_path / "sub").mkdir()
    assert effective_go_version(str(tmp_path / "sub" / "x.go")) == (1, 20)
    assert effective_go_version(str(tmp_path / "x.go"), (1, 23)) == (1, 23)
