"""Remove an import that a fix leaves unused.

A fix that deletes statements can delete the last use of a package (the
only `time.Sleep` of a file, say); Go refuses to compile an unused import,
so the fix must remove it too. The check is by spelling: any identifier
outside the deleted ranges that spells the import's name keeps it (a local
that shadows the package keeps it too, which at worst leaves a fix
withheld-looking but never breaks compilation of code that used it).
"""

from __future__ import annotations

from gofix_defer.codemods.analysis.imports import import_specs, is_grouped, specs_of
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.analysis.syntax import walk
from gofix_defer.codemods.model import Edit


def remove_import_if_unused(source: SourceFile, path: bytes, deleted: list[tuple[int, int]]) -> list[Edit] | None:
    """Edits that delete the import of ``path`` when nothing outside ``deleted`` uses it.

    Returns [] when the import is absent or still used, and None when it
    would become unused but cannot be removed cleanly (an import line shared
    with other code, a dot or blank import): callers should then not fix.
    """
    specs = [spec for spec in import_specs(source) if spec.path == path]
    if len(specs) != 1:
        return [] if not specs else None
    spec = specs[0]
    if spec.alias in (b"_", b"."):
        return []
    name = spec.alias if spec.alias is not None else path.rsplit(b"/", 1)[-1]
    for node in walk(source.root):
        if node.type not in ("identifier", "package_identifier") or source.text(node) != name:
            continue
        if spec.node.start_byte <= node.start_byte < spec.node.end_byte:
            continue
        if any(start <= node.start_byte < end for start, end in deleted):
            continue
        return []
    declaration = spec.declaration
    target = declaration
    if is_grouped(declaration) and len(specs_of(declaration)) > 1:
        target = spec.node
    start = source.line_start(target.start_byte)
    end = source.line_end(target.end_byte)
    before = source.data[start : target.start_byte].strip(b" \t")
    after = source.data[target.end_byte : end].strip(b" \t\r")
    if before or (after and not after.startswith(b"//")):
        return None
    end = min(end + 1, len(source.data))
    if target is declaration:
        # A whole import declaration sits between blank lines; keep only one.
        previous_blank = source.data[max(0, start - 2) : start] in (b"\n\n",) or source.data[max(0, start - 4) : start] == b"\r\n\r\n"
        following = source.data[end : source.line_end(end) + 1] if end < len(source.data) else b""
        if previous_blank and following.strip() == b"":
            end += len(following)
    return [Edit.delete(start, end)]
