"""Core value types shared by the engine and every rule.

All offsets are byte offsets into the original file bytes (never indexes
into a decoded ``str``), in the style of go/analysis TextEdit and Ruff's Edit.
"""

from gofix_defer.codemods.model.diagnostic import Diagnostic
from gofix_defer.codemods.model.fix import Applicability, Edit, Fix, apply_edits
from gofix_defer.codemods.model.nofix import NoFix
from gofix_defer.codemods.model.result import INTERNAL_ERROR, SYNTAX_ERROR, FileResult
from gofix_defer.codemods.model.rule import Rule, says

__all__ = ["Applicability", "Diagnostic", "Edit", "FileResult", "Fix", "INTERNAL_ERROR", "NoFix", "Rule", "SYNTAX_ERROR", "apply_edits", "says"]
