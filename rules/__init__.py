"""The registry of all rules: every module in this package that defines RULE.

Rules register by existing: a module `rules/<name>.py` with a module-level
`RULE` instance is picked up, in sorted module order, so adding a rule never
means editing a central list.
"""

from __future__ import annotations

import importlib
import pkgutil

from gofix_defer.codemods.model import Rule


def _load() -> tuple[Rule, ...]:
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        rule = getattr(module, "RULE", None)
        if isinstance(rule, Rule):
            found.append(rule)
    names = [r.name for r in found]
    if len(set(names)) != len(names):
        raise RuntimeError(f"duplicate rule names: {names}")
    return tuple(sorted(found, key=lambda r: r.name))


ALL_RULES: tuple[Rule, ...] = _load()


def by_name(name: str) -> Rule | None:
    return next((rule for rule in ALL_RULES if rule.name == name), None)
