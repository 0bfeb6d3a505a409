"""Fixture cases in the go/analysis `analysistest` style.

fixtures/<rule>/<case>/ is a small Go module. Lines that must be reported
carry `// want "regex"` (several strings for several findings); the fixed
file, as `gofix-defer --write --unsafe-fixes` leaves it with only that rule
selected, sits beside it as `<file>.go.golden`. A .go file without a golden
file must stay byte-identical. `fixtures/multi-rule/` runs every rule.

Runtime proof, when present: `stdout.before.txt` / `stdout.after.txt` are the
program's expected output before and after the fix; a main that calls
`checkLeaks()` (helper in fixtures/_support) must leak before the fix and
not after.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SUPPORT = FIXTURES / "_support"
MULTI_RULE = "multi-rule"

_WANT = re.compile(r"//\s*want\s+(.*)$")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"|`([^`]*)`')


@dataclass(frozen=True)
class Case:
    rule: str
    directory: Path

    @property
    def id(self) -> str:
        return f"{self.rule}/{self.directory.name}"

    @property
    def go_files(self) -> list[Path]:
        return sorted(self.directory.glob("*.go"))

    def golden(self, go_file: Path) -> Path:
        return go_file.with_name(go_file.name + ".golden")

    @property
    def has_golden(self) -> bool:
        return any(self.golden(f).exists() for f in self.go_files)

    @property
    def expected_before(self) -> str | None:
        path = self.directory / "stdout.before.txt"
        return path.read_text() if path.exists() else None

    @property
    def expected_after(self) -> str | None:
        path = self.directory / "stdout.after.txt"
        return path.read_text() if path.exists() else None

    @property
    def checks_leaks(self) -> bool:
        return any("checkLeaks()" in f.read_text(errors="replace") for f in self.go_files)

    @property
    def runs(self) -> bool:
        return self.checks_leaks or self.expected_before is not None or self.expected_after is not None


def all_cases() -> list[Case]:
    cases = []
    for rule_dir in sorted(p for p in FIXTURES.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        for case_dir in sorted(p for p in rule_dir.iterdir() if (p / "go.mod").exists()):
            cases.append(Case(rule_dir.name, case_dir))
    return cases


def wants(data: bytes) -> dict[int, list[str]]:
    """Line number -> the regexes that line's `// want` comment lists."""
    found: dict[int, list[str]] = {}
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        match = _WANT.search(line)
        if not match:
            continue
        patterns = []
        for quoted, raw in _QUOTED.findall(match.group(1)):
            patterns.append(raw if raw else re.sub(r"\\(.)", r"\1", quoted))
        found[number] = patterns
    return found
