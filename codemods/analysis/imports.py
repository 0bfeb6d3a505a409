"""What a file imports, and under which name."""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

from gofix_defer.codemods.analysis.source import SourceFile


@dataclass(frozen=True)
class ImportSpec:
    path: bytes
    alias: bytes | None
    node: Node
    declaration: Node


def import_declarations(source: SourceFile) -> list[Node]:
    return [d for d in source.root.named_children if d.type == "import_declaration"]


def is_grouped(declaration: Node) -> bool:
    """`import ( … )`, as opposed to `import "x"`."""
    return any(c.type == "(" for c in declaration.children)


def specs_of(declaration: Node) -> list[Node]:
    return [c for c in declaration.named_children if c.type == "import_spec"]


def import_specs(source: SourceFile) -> list[ImportSpec]:
    """The file's import specs, in order (read once per file: every type question asks)."""
    found = source._memo.get(import_specs)
    if found is None:
        found = source._memo[import_specs] = _import_specs(source)
    return found


def _import_specs(source: SourceFile) -> list[ImportSpec]:
    specs = []
    for declaration in import_declarations(source):
        for spec in specs_of(declaration):
            path_node = spec.child_by_field_name("path")
            if path_node is None:
                continue
            path = source.text(path_node).strip(b'"`')
            name_node = spec.child_by_field_name("name")
            alias = source.text(name_node) if name_node is not None else None
            specs.append(ImportSpec(path, alias, spec, declaration))
    return specs


def spec_path(source: SourceFile, spec: Node) -> bytes:
    path_node = spec.child_by_field_name("path")
    return source.text(path_node).strip(b'"`') if path_node is not None else b""


def imported_name(source: SourceFile, path: bytes) -> bytes | None:
    """The name under which ``path`` is usable in this file, or None."""
    for spec in import_specs(source):
        if spec.path != path:
            continue
        if spec.alias is None:
            return path.rsplit(b"/", 1)[-1]
        if spec.alias not in (b"_", b"."):
            return spec.alias
    return None


def imported_names(source: SourceFile) -> frozenset[bytes]:
    """The names under which the file's imports are usable (an alias, else the last element
    of the path, as Go packages are conventionally named; `_` and `.` imports name nothing)."""
    found = source._memo.get(imported_names)
    if found is None:
        names = set()
        for spec in import_specs(source):
            name = spec.alias if spec.alias is not None else spec.path.rsplit(b"/", 1)[-1]
            if name not in (b"_", b"."):
                names.add(name)
        found = source._memo[imported_names] = frozenset(names)
    return found
