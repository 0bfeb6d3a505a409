"""The one helper that adds an import, returning the edit and the name to use.

Handles a file with no imports, single `import "x"` lines (turned into a
grouped block, as gofmt-minded humans write it), grouped blocks (the new
path is placed in sorted order inside the standard-library group, so gofmt
has nothing to reorder), and existing or aliased imports (no edit; the
alias is the name to use).
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

from gofix_defer.codemods.model import Edit
from gofix_defer.codemods.analysis.source import SourceFile


@dataclass(frozen=True)
class ImportSpec:
    path: bytes
    alias: bytes | None
    node: Node
    declaration: Node


def import_specs(source: SourceFile) -> list[ImportSpec]:
    specs = []
    for declaration in source.root.named_children:
        if declaration.type != "import_declaration":
            continue
        for spec in _specs_of(declaration):
            path_node = spec.child_by_field_name("path")
            if path_node is None:
                continue
            path = source.text(path_node).strip(b'"`')
            name_node = spec.child_by_field_name("name")
            alias = source.text(name_node) if name_node is not None else None
            specs.append(ImportSpec(path, alias, spec, declaration))
    return specs


def _specs_of(declaration: Node) -> list[Node]:
    found = []
    for child in declaration.named_children:
        if child.type == "import_spec":
            found.append(child)
        elif child.type == "import_spec_list":
            found.extend(c for c in child.named_children if c.type == "import_spec")
    return found


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


def add_import(source: SourceFile, path: str) -> tuple[bytes, list[Edit]]:
    """Return (name to use, edits adding the import when it is missing)."""
    raw = path.encode()
    existing = imported_name(source, raw)
    if existing is not None:
        return existing, []
    name = raw.rsplit(b"/", 1)[-1]
    nl = source.newline
    quoted = b'"' + raw + b'"'
    declarations = [d for d in source.root.named_children if d.type == "import_declaration"]

    grouped = [d for d in declarations if any(c.type == "import_spec_list" for c in d.named_children)]
    if grouped:
        return name, [_insert_into_group(source, grouped[0], quoted)]

    if declarations:
        # Single-line imports: fold the first one and the new path into a grouped block.
        first = declarations[0]
        specs = _specs_of(first)
        lines = sorted([source.text(s) for s in specs] + [quoted], key=_spec_sort_key)
        body = b"".join(b"\t" + line + nl for line in lines)
        return name, [Edit(first.start_byte, first.end_byte, b"import (" + nl + body + b")")]

    package = next((c for c in source.root.named_children if c.type == "package_clause"), None)
    if package is None:
        return name, []
    return name, [Edit.insert(package.end_byte, nl + nl + b"import " + quoted)]


def _spec_sort_key(spec_text: bytes) -> bytes:
    # gofmt orders by import path, ignoring the alias.
    quote = spec_text.find(b'"')
    return spec_text[quote:] if quote >= 0 else spec_text


def _insert_into_group(source: SourceFile, declaration: Node, quoted: bytes) -> Edit:
    nl = source.newline
    spec_list = next(c for c in declaration.named_children if c.type == "import_spec_list")
    specs = [c for c in spec_list.named_children if c.type == "import_spec"]
    if not specs:
        close = spec_list.children[-1]
        return Edit.insert(source.line_start(close.start_byte), b"\t" + quoted + nl)
    # Runs of specs separated by blank lines are gofmt's sorting groups.
    groups: list[list[Node]] = [[specs[0]]]
    for previous, spec in zip(specs, specs[1:]):
        if spec.start_point[0] - previous.end_point[0] > 1:
            groups.append([spec])
        else:
            groups[-1].append(spec)

    def is_std(spec: Node) -> bool:
        path = source.text(spec.child_by_field_name("path")).strip(b'"')
        return b"." not in path.split(b"/", 1)[0]

    group = next((g for g in groups if all(is_std(s) for s in g)), groups[0])
    for spec in group:
        if _spec_sort_key(source.text(spec)) > quoted:
            at = source.line_start(spec.start_byte)
            return Edit.insert(at, source.indentation(spec.start_byte) + quoted + nl)
    last = group[-1]
    at = source.line_end(last.end_byte) + 1
    return Edit.insert(at, source.indentation(last.start_byte) + quoted + nl)
