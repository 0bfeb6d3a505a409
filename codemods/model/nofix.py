"""Why a finding carries no fix: a value, never a string protocol."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NoFix:
    """A finding stands, but no edit can be proven right; ``reason`` says why.

    Rules' fix builders return ``Fix | NoFix``; the message then carries
    ``(no fix: reason)``.
    """

    reason: str

    def annotate(self, message: str) -> str:
        return f"{message} (no fix: {self.reason})"
