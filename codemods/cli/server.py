"""`gofix-defer server`: the language server for editors, on stdin/stdout.

The protocol side lives in ``codemods.server`` and needs pygls, which the
plain install leaves out: `pip install 'gofix-defer[server]'` brings it.

Each checked file gets the settings `gofix-defer` gives it on the command
line: the nearest `gofix-defer.toml` / `.gofix-defer.toml` above it (or
`--config FILE`, or none with `--isolated`), with `--select` / `--ignore`
on top. The configuration is read again for every check, so an edit to it
shows at the next keystroke; a bad one is shown to the user, not a crash.
"""

from __future__ import annotations

from typing import Callable, List, Optional

import typer

from gofix_defer.codemods.cli.options import EXIT_ERROR, default_names, split_names
from gofix_defer.codemods.engine.process import Settings
from gofix_defer.codemods.model import Rule
from gofix_defer.codemods.run.config import ConfigError, ConfigFinder, Overrides, Resolver

INSTALL_HINT = (
    "gofix-defer server needs the language-server extra, which a plain install leaves out: "
    "pip install 'gofix-defer[server]' (pipx: pipx inject gofix-defer pygls; uv: uv tool install 'gofix-defer[server]')"
)


def server(
    select: Optional[List[str]] = typer.Option(None, "--select", metavar="RULES", help="Only these rules, comma-separated (instead of the config's select and ignore)."),
    ignore: Optional[List[str]] = typer.Option(None, "--ignore", metavar="RULES", help="Skip these rules, comma-separated (besides the config's)."),
    config: Optional[str] = typer.Option(
        None, "--config", metavar="FILE", help="Use this configuration file for every file (else: the nearest gofix-defer.toml above each)."
    ),
    isolated: bool = typer.Option(False, "--isolated", help="Read no configuration file."),
) -> None:
    """Run the language server over stdin/stdout: diagnostics, quick fixes and fix-all in an editor."""
    try:
        from gofix_defer.codemods.server.lsp import serve
    except ImportError as error:
        typer.echo(f"error: {INSTALL_HINT} ({error})", err=True)
        raise typer.Exit(EXIT_ERROR) from None
    try:
        settings_for = file_settings(split_names(select) if select is not None else None, split_names(ignore), config, isolated)
    except (ConfigError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_ERROR) from None
    serve(settings_for)


def file_settings(select: list[str] | None, ignore: list[str], config: str | None, isolated: bool) -> Callable[[str], Optional[Settings]]:
    """The settings of each file the server checks; None for a file the
    configuration excludes. Raises for a bad command line or ``config``."""
    from gofix_defer.rules import ALL_RULES

    by_name: dict[str, Rule] = {rule.name: rule for rule in ALL_RULES}
    names = list(by_name)
    if config is not None and isolated:
        raise ValueError("--config and --isolated cannot be combined")
    for option, chosen in (("--select", select or []), ("--ignore", ignore)):
        unknown = sorted(set(chosen) - set(names))
        if unknown:
            raise ValueError(f"{option}: unknown rule(s): {', '.join(unknown)} (see gofix-defer --list-rules)")
    overrides = Overrides(select=tuple(select) if select is not None else None, ignore=tuple(ignore))
    ConfigFinder(names, explicit=config, isolated=isolated)  # a bad --config is a usage error now, not at the first file

    def settings(path: str) -> Optional[Settings]:
        # A new finder each time: the files may have changed since the last check.
        decision = Resolver(ConfigFinder(names, explicit=config, isolated=isolated), overrides, names, default_names()).decide(path)
        if decision.settings is None:
            return None
        chosen = decision.settings
        return Settings(rules=[by_name[name] for name in chosen.rules], go_version=chosen.go_version, unsafe_fixes=chosen.unsafe_fixes)

    return settings
