"""The one helper that adds an import, returning the edit and the name to use.

Handles a file with no imports, single `import "x"` lines (turned into a
grouped block, as gofmt-minded humans write it), grouped blocks (the new
path is placed in sorted order inside the standard-library group, so gofmt
has nothing to reorder), and existing or aliased imports (no edit; the
alias is the name to use).
"""

from __future__ import annotations

from tree_sitter import Node

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.imports import import_declarations, imported_name, is_grouped, spec_path, specs_of
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.model import Edit


def add_import(source: SourceFile, path: str) -> tuple[bytes, list[Edit]]:
    """Return (name to use, edits adding the import when it is missing)."""
    raw = path.encode()
    existing = imported_name(source, raw)
    if existing is not None:
        return existing, []
    name = raw.rsplit(b"/", 1)[-1]
    nl = source.newline
    quoted = b'"' + raw + b'"'
    declarations = import_declarations(source)

    grouped = [d for d in declarations if is_grouped(d)]
    if grouped:
        return name, [_insert_into_group(source, grouped[0], quoted)]

    if declarations:
        # Single-line imports: fold the first one and the new path into a grouped block.
        first = declarations[0]
        specs = specs_of(first)
        lines = sorted([source.text(s) for s in specs] + [quoted], key=_spec_sort_key)
        body = b"".join(b"\t" + line + nl for line in lines)
        return name, [Edit(first.start_byte, first.end_byte, b"import (" + nl + body + b")")]

    package = syntax.package_clause(source.root)
    if package is None:
        return name, []
    return name, [Edit.insert(package.end_byte, nl + nl + b"import " + quoted)]


def _spec_sort_key(spec_text: bytes) -> bytes:
    # gofmt orders by import path, ignoring the alias.
    quote = spec_text.find(b'"')
    return spec_text[quote:] if quote >= 0 else spec_text


def _insert_into_group(source: SourceFile, declaration: Node, quoted: bytes) -> Edit:
    nl = source.newline
    specs = specs_of(declaration)
    if not specs:
        close = declaration.children[-1]
        return Edit.insert(source.line_start(close.start_byte), b"\t" + quoted + nl)
    # Runs of specs separated by blank lines are gofmt's sorting groups.
    groups: list[list[Node]] = [[specs[0]]]
    for previous, spec in zip(specs, specs[1:]):
        if spec.start_point[0] - previous.end_point[0] > 1:
            groups.append([spec])
        else:
            groups[-1].append(spec)

    def is_std(spec: Node) -> bool:
        path = spec_path(source, spec)
        return b"." not in path.split(b"/", 1)[0]

    group = next((g for g in groups if all(is_std(s) for s in g)), groups[0])
    for spec in group:
        if _spec_sort_key(source.text(spec)) > quoted:
            at = source.line_start(spec.start_byte)
            return Edit.insert(at, source.indentation(spec.start_byte) + quoted + nl)
    last = group[-1]
    at = source.line_end(last.end_byte) + 1
    return Edit.insert(at, source.indentation(last.start_byte) + quoted + nl)
