"""deferred-close: a channel's consumer waits for a close(ch) that only the
function's last statements reach, so an early return leaves it blocked."""

from __future__ import annotations

from typing import Iterable

from gofix_defer.codemods.analysis import syntax
from gofix_defer.codemods.analysis.closes import Closes, DeferrableClose
from gofix_defer.codemods.analysis.lexical import GO_STATEMENT, MADE_CHANNEL
from gofix_defer.codemods.analysis.nodeindex import nodes_of_types
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.edits.close_deferral import defer_close_fix
from gofix_defer.codemods.model import Applicability, Diagnostic, NoFix, Rule, says


class DeferredClose(Rule):
    """
    ## What it does
    Finds a channel made in the function (`ch := make(chan T)`) that a
    goroutine started by the function ranges over or receives from, where
    the function's only `close(ch)` sits near the end of its body, so a
    `return` between starting the goroutine and the close (an error branch)
    leaves without closing: the goroutine waits for ever. This is GFix's
    second strategy for channels: perform the missing unblocking operation
    on every path by deferring it.

    Reported only with a proof that the close can move: the `make` and the
    single `close(ch)` are statements of the function's own body (not in a
    branch or loop); after the close only a `return` of plain values
    (names, literals) follows, so the close never moves past a `wg.Wait()`,
    a receive or anything else that waits for the consumer; every send on
    the channel is in the function's own code (no goroutine or callback
    sends, so no send can come after the deferred close); the channel goes
    nowhere else (no call, assignment, return); no `defer` is registered
    after the `make` (it would run before the close and could wait for the
    consumer); the function has no `goto`. Where this proof fails but the
    consumer can be cancelled instead, goroutine-no-cancel reports it.

    ## Why is this bad
    `for v := range ch` ends only when the channel is closed. The error path
    returns without closing, so the consumer blocks for ever — with
    everything it references — once per failed call.

    ## Example
    ```go
    func save(rows []row, w io.Writer) error {
        ch := make(chan row)
        go func() {
            for r := range ch {
                fmt.Fprintln(w, r)
            }
        }()
        for _, r := range rows {
            if !r.valid() {
                return errInvalid // the printer waits for ever
            }
            ch <- r
        }
        close(ch)
        return nil
    }
    ```

    ## Fix
    ```go
        ch := make(chan row)
        defer close(ch)
    ```
    and the explicit `close(ch)` is removed. The normal path closes at the
    same point as before (only the plain return values are evaluated in
    between); the early return now closes too. The close's line goes,
    with any comment at its end.

    ## Fix safety
    Safe when every consumer ends with its `for … range ch` loop: on the
    early-return path it simply stops ranging. Unsafe when a consumer
    receives single values or runs code after its loop: on the early-return
    path it now goes on (with a zero value, or to the code after its loop,
    e.g. committing a partial batch) — that is the point of the fix, but
    you must opt in with `--unsafe-fixes`.
    """

    name = "deferred-close"
    summary = "A channel is closed only at the end of the function, so an early return leaves its consumer blocked"
    fix_availability = "always"
    applicability = Applicability.SAFE
    triggers = (b"close(",)
    requires = (Closes,)

    def applies_to(self, source) -> bool:
        # A channel the function makes, a goroutine that consumes it and a return that
        # leaves before the close: the bytes say whether all can be there.
        return super().applies_to(source) and says(source, b"return") and says(source, MADE_CHANNEL) and says(source, GO_STATEMENT)

    def check(self, source: SourceFile) -> Iterable[Diagnostic]:
        closes = source.facts(Closes)
        for function in nodes_of_types(source, syntax.FUNCTION_KINDS):
            body = syntax.function_body(function)
            # Cheap byte test first: most functions close nothing.
            if body is None or b"close(" not in source.text(body):
                continue
            for proof in closes.deferrable(function):
                diagnostic = self._report(source, proof)
                if diagnostic is not None:
                    yield diagnostic

    def _report(self, source: SourceFile, proof: DeferrableClose) -> Diagnostic | None:
        fix = defer_close_fix(source, proof)
        if isinstance(fix, NoFix):
            return None  # the statements cannot move without a reflow: report only what can be fixed
        name = source.text(proof.declaration.ident).decode()
        _, wait = proof.consumers[0]
        how = "ranges over" if syntax.is_loop(wait) else "receives from"
        message = (
            f"close({name}) is reached only at the end: the return on line {source.line_col(proof.early_return.start_byte)[0]} "
            f"leaves the goroutine that {how} {name} (line {source.line_col(wait.start_byte)[0]}) blocked for ever; "
            f"defer close({name}) after making it"
        )
        return self.diagnostic(proof.close_statement, message, fix)


RULE = DeferredClose()
