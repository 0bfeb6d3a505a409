"""Moving a channel's final `close(ch)` into a `defer` right after its `make`.

``defer_close_fix(source, proof)`` builds the edits for a ``DeferrableClose``
(codemods/analysis/closes.py): `defer close(ch)` on the line after the
`make`, and the explicit close's line removed (with any comment at its end).
It returns ``NoFix`` when the layout does not allow it without reflowing a
line: the close shares its line with other code, or the `make` is followed
by code on its line.
"""

from __future__ import annotations

from gofix_defer.codemods.analysis.closes import DeferrableClose
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.edits.insertion import ends_line, insert_after, starts_line
from gofix_defer.codemods.model import Applicability, Edit, Fix, NoFix


def defer_close_fix(source: SourceFile, proof: DeferrableClose) -> Fix | NoFix:
    """`defer close(ch)` after the make, the final close removed.

    Safe when every consumer ends with its `range` loop; unsafe when one
    receives single values or goes on after its loop (on the early-return
    path it now goes on too).
    """
    close_statement = proof.close_statement
    if not (starts_line(source, close_statement) and ends_line(source, close_statement)):
        return NoFix("the close shares its line with code: removing it would need a reflow")
    name = source.text(proof.declaration.ident)
    deferred = insert_after(source, proof.make_statement, [b"defer close(" + name + b")"])
    if deferred is None:
        return NoFix("the make shares its line with code")
    data = source.data
    start = source.line_start(close_statement.start_byte)
    end = source.line_end(close_statement.end_byte)
    if end < len(data) and data[end : end + 1] == b"\n":
        end += 1
    applicability = Applicability.SAFE if proof.consumers_only_range else Applicability.UNSAFE
    return Fix(f"Defer close({name.decode()}) right after making it", (deferred, Edit.delete(start, end)), applicability)
