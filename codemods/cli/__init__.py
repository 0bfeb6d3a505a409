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
from gofix_defer.codemods.cli import server as _server_module

DEFAULT_COMMAND = "check"


# Options of the group itself (shell completion); everything else goes to a command.
_GROUP_OPTIONS = ("--install-completion", "--show-completion")


class _DefaultCommandGroup(TyperGroup):
    """Sub-commands by name; anything else is the default command's arguments."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for command in self.commands.values():
            _plain_help(command)

    def parse_args(self, ctx, args: list[str]) -> list[str]:  # ctx: typer's click.Context
        if not args or (args[0] not in self.commands and args[0].split("=", 1)[0] not in _GROUP_OPTIONS):
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


def _plain_help(command) -> None:
    """`--help` says VALUE names, never Python types (`<list[str]>`, `<bool>`).

    Typer labels a parameter without a metavar with its annotation; give every
    parameter a metavar instead (flags an empty one), keeping explicit ones.
    """
    help_option = getattr(command, "get_help_option", None)
    if help_option is not None:  # -h/--help is made when asked for, not listed in params

        def get_help_option(ctx, _made=help_option):
            option = _made(ctx)
            if option is not None and option.metavar is None:
                option.metavar = ""
            return option

        command.get_help_option = get_help_option
    for param in getattr(command, "params", ()):
        if getattr(param, "param_type_name", "") == "argument":
            if param.metavar is None:
                param.metavar = (param.name or "value").upper().rstrip("S") or "VALUE"
            if hasattr(param, "display_type_rich"):  # typer >= 0.17 shows the type beside the name
                param.display_type_rich = lambda ctx: None
        elif param.metavar is None:
            if getattr(param, "is_flag", False) or getattr(param, "count", False):
                param.metavar = ""
            else:
                param.metavar = (param.name or "value").upper()


app = typer.Typer(
    cls=_DefaultCommandGroup,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command(DEFAULT_COMMAND, epilog="The GitHub pull-request bot: gofix-defer review --help")(_check_module.check)
app.command("review")(_review_module.review)
app.command("server")(_server_module.server)


def main() -> None:
    """Console-script entry point."""
    try:
        app(prog_name="gofix-defer")
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)
