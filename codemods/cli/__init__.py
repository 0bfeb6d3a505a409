"""The `gofix-defer` command line: `check` (the default) and `review`.

`gofix-defer [PATH…]` runs `check`; a first argument naming a sub-command
runs that one instead. A folder that happens to share a sub-command's name
is checked as `gofix-defer ./review` or `gofix-defer -- review`.
"""

from __future__ import annotations

import sys

import typer
from typer.core import TyperGroup

from gofix_defer.codemods.cli import check as _check_module
from gofix_defer.codemods.cli import review as _review_module

DEFAULT_COMMAND = "check"


class _DefaultCommandGroup(TyperGroup):
    """Sub-commands by name; anything else is the default command's arguments."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:  # ctx: typer's click.Context
        if not args or args[0] not in self.commands:
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_DefaultCommandGroup,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command(DEFAULT_COMMAND, epilog="The GitHub pull-request bot: gofix-defer review --help")(_check_module.check)
app.command("review")(_review_module.review)


def main() -> None:
    """Console-script entry point."""
    try:
        app(prog_name="gofix-defer")
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)
