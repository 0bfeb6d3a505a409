"""Statement insertion and re-indentation that keep the file's style.

Rules describe code as lines of Go without indentation; these helpers add
the indentation found at the insertion point and the file's line ending.
"""

from __future__ import annotations

from tree_sitter import Node

from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.model import Edit


def starts_line(source: SourceFile, node: Node) -> bool:
    """True when only whitespace precedes ``node`` on its line."""
    return source.data[source.line_start(node.start_byte) : node.start_byte].strip(b" \t") == b""


def ends_line(source: SourceFile, node: Node) -> bool:
    """True when only whitespace (or a trailing comment) follows ``node`` on its line."""
    rest = source.data[node.end_byte : source.line_end(node.end_byte)].strip(b" \t\r")
    return rest == b"" or rest.startswith(b"//")


def insert_before(source: SourceFile, statement: Node, lines: list[bytes]) -> Edit | None:
    """Insert ``lines`` as statements just before ``statement``, at its indentation.

    None when the statement does not start its own line (then no insertion
    can be gofmt-clean without reflowing the line, and the rule should not fix).
    """
    if not starts_line(source, statement):
        return None
    indent = source.indentation(statement.start_byte)
    nl = source.newline
    text = b"".join((indent + line if line else b"") + nl for line in lines)
    return Edit.insert(source.line_start(statement.start_byte), text)


def insert_after(source: SourceFile, statement: Node, lines: list[bytes]) -> Edit | None:
    if not ends_line(source, statement):
        return None
    indent = source.indentation(statement.start_byte)
    nl = source.newline
    end = source.line_end(statement.end_byte)
    text = b"".join(nl + (indent + line if line else b"") for line in lines)
    # Insert before the "\r" of a CRLF so the inserted lines end the same way.
    if end > 0 and source.data[end - 1 : end] == b"\r":
        end -= 1
    return Edit.insert(end, text)


def delete_line(source: SourceFile, statement: Node, *, with_comment: bool = False) -> Edit | None:
    """Delete a statement that is alone on its line, line ending included (None when other
    code, or unless ``with_comment`` a trailing comment, shares the line)."""
    if not starts_line(source, statement):
        return None
    end = source.line_end(statement.end_byte)
    rest = source.data[statement.end_byte : end].strip(b" \t\r")
    if rest and not (with_comment and rest.startswith(b"//")):
        return None
    return Edit.delete(source.line_start(statement.start_byte), min(end + 1, len(source.data)))


def line_text(source: SourceFile, statement: Node) -> bytes:
    """``statement`` as written with what follows it on its line (a trailing comment), for
    moving it elsewhere whole."""
    return source.data[statement.start_byte : source.line_end(statement.end_byte)].rstrip(b" \t\r")
