"""What the sub-commands share: exit codes and rule selection."""

from __future__ import annotations

from typing import List, Optional

import typer

from gofix_defer.codemods.model import Rule

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class UsageError(ValueError):
    """A command-line value that cannot be used (exit 2)."""


def split_names(values: Optional[List[str]]) -> list[str]:
    """`--select a,b --select c` -> ["a", "b", "c"]."""
    names: list[str] = []
    for value in values or []:
        names.extend(part.strip() for part in value.split(",") if part.strip())
    return names


def default_names() -> list[str]:
    """The rules that run when none are selected: all but the opt-in ones."""
    from gofix_defer.rules import ALL_RULES

    return [rule.name for rule in ALL_RULES if rule.opt_in is None]


def select_rules(select: list[str], ignore: list[str]) -> list[Rule]:
    from gofix_defer.rules import ALL_RULES

    known = {rule.name for rule in ALL_RULES}
    unknown = sorted(set(select + ignore) - known)
    if unknown:
        raise typer.BadParameter(f"unknown rule(s): {', '.join(unknown)} (see --list-rules)")
    return [r for r in ALL_RULES if (r.name in select if select else r.opt_in is None) and r.name not in ignore]
