"""The layout is the pipeline, and the dependencies point down it.

    model < analysis < edits < rules < engine < run < output < github < cli

Rules use the model, the analysis and the edit helpers, never each other,
the engine or anything that does I/O; the output never imports the command
line; nothing imports the tests. And the grammar stays in the analysis
layer: no rule spells a node kind or a field name of the grammar, so rules
ask the analysis questions instead of walking the tree.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import tree_sitter

from gofix_defer.codemods.analysis import grammar

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"codemods": "gofix_defer.codemods", "rules": "gofix_defer.rules"}
LAYERS = ["model", "analysis", "edits", "rules", "engine", "run", "output", "github", "server", "cli"]
# What each layer may import besides itself (and the standard library and third-party packages).
ALLOWED = {
    "model": set(),
    "analysis": {"model"},
    "edits": {"model", "analysis"},
    "rules": {"model", "analysis", "edits"},
    "engine": {"model", "analysis", "edits"},
    "run": {"model", "analysis", "engine"},
    "output": {"model"},
    "github": {"model", "analysis", "engine", "run", "output"},
    "server": {"model", "analysis", "engine", "run", "output"},
    "cli": {"model", "analysis", "engine", "run", "output", "github", "server", "rules"},
}


def _modules() -> list[tuple[str, Path]]:
    found = []
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in relative.parts if p != "__init__"]
            found.append((".".join([package, *parts]), path))
    return found


def _layer(module: str) -> str | None:
    if module == "gofix_defer.rules" or module.startswith("gofix_defer.rules."):
        return "rules"
    if module in ("gofix_defer.codemods", "gofix_defer.codemods.__version__"):
        return "model"  # the package itself holds only __version__
    prefix = "gofix_defer.codemods."
    if not module.startswith(prefix):
        return None
    return module[len(prefix) :].split(".", 1)[0]


def _runtime_imports(path: Path, module: str) -> list[tuple[int, str]]:
    """Imported module names, outside `if TYPE_CHECKING:` blocks."""
    tree = ast.parse(path.read_text(), str(path))
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for n in ast.walk(node))
    found = []
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            for alias in node.names:  # `from pkg import module`
                found.append((node.lineno, f"{name}.{alias.name}"))
    return found


def test_every_module_sits_in_a_known_layer():
    unknown = [module for module, _ in _modules() if _layer(module) not in LAYERS]
    assert unknown == []


@pytest.mark.parametrize("module,path", _modules(), ids=lambda v: v if isinstance(v, str) else "")
def test_imports_point_down_the_pipeline(module, path):
    own = _layer(module)
    problems = []
    for line, imported in _runtime_imports(path, module):
        if imported == "tests" or imported.startswith("tests."):
            problems.append(f"{path.name}:{line}: imports the tests ({imported})")
            continue
        target = _layer(imported) if imported.startswith("gofix_defer") else None
        if target is None or target == own:
            if own == "rules" and target == "rules" and module != "gofix_defer.rules" and imported.startswith("gofix_defer.rules."):
                if imported.rsplit(".", 1)[0] == "gofix_defer.rules" and imported != module:
                    problems.append(f"{path.name}:{line}: a rule imports another rule ({imported})")
            continue
        if target not in ALLOWED[own]:
            problems.append(f"{path.name}:{line}: {own} imports {target} ({imported})")
    assert problems == []


def _grammar_names() -> set[str]:
    language: tree_sitter.Language = grammar.go_language()
    kinds = {language.node_kind_for_id(i) for i in range(language.node_kind_count) if language.node_kind_is_named(i)}
    fields = {language.field_name_for_id(i) for i in range(1, language.field_count + 1)}
    # Kinds, and the fields that cannot be plain words of a message; the field
    # accessors themselves are refused by name below.
    return {k for k in kinds if k} | {f for f in fields if f and "_" in f}


def _rule_modules() -> list[Path]:
    return sorted(p for p in (ROOT / "rules").glob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("path", _rule_modules(), ids=lambda p: p.stem)
def test_rules_never_name_the_grammar(path):
    """No node kind or field name of the grammar in a rule: the analysis layer answers."""
    names = _grammar_names()
    tree = ast.parse(path.read_text(), str(path))
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
            problems.append(f"{path.name}:{node.lineno}: names the grammar: {node.value!r}")
        if isinstance(node, ast.Attribute) and node.attr in ("child_by_field_name", "children_by_field_name", "field_name_for_child"):
            problems.append(f"{path.name}:{node.lineno}: reads a grammar field ({node.attr})")
    assert problems == []


def test_the_grammar_names_check_knows_the_grammar():
    names = _grammar_names()
    assert {"call_expression", "function_literal", "go_statement", "selector_expression", "block", "init_statement"} <= names
