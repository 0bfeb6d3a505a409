"""Machine-readable output formats: json, github, rdjson and sarif.

Every renderer takes the per-file results of one run and returns the whole
output as text, in a deterministic order (files as discovered, which is
sorted; diagnostics by byte offset). docs/output-formats.md documents each.

Coordinates: every range and every edit refers to the file as it is on disk
when the command finishes. Without --write that is the file as read, and the
diagnostics are the original findings with their fixes (edits in the file's
own byte offsets, as SARIF's "fixes in unmodified-file coordinates" need).
With --write it is the fixed file, and the diagnostics are what is left.
--diff prints a diff on stdout, so the CLI does not combine it with these.

``errors`` are the run's own errors that belong to no file's result (a path
that cannot be read, a file that could not be written); they come first,
then each file's errors in file order.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from gofix_defer.codemods import __version__
from gofix_defer.codemods.model import INTERNAL_ERROR, SYNTAX_ERROR, Diagnostic, Edit, FileResult, Rule
from gofix_defer.codemods.model.lines import LineIndex

TOOL_NAME = "gofix-defer"
JSON_SCHEMA_VERSION = 1
FORMATS = ("text", "json", "github", "rdjson", "sarif")

# Diagnostics the engine itself reports; they have no Rule class.
ENGINE_RULES = {
    SYNTAX_ERROR: "The file does not parse as Go; it is reported and never changed.",
    INTERNAL_ERROR: "A rule crashed on this file; the other rules still ran.",
}


@dataclass(frozen=True)
class Finding:
    """A diagnostic together with the bytes its offsets refer to."""

    diagnostic: Diagnostic
    index: LineIndex
    fingerprint: str


def _content(result: FileResult) -> bytes:
    if result.fixed is not None:
        return result.fixed
    return result.original or b""


def display_path(path: str) -> str:
    """Forward slashes, no leading ./ (as GitHub and SARIF expect)."""
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def findings(results: Iterable[FileResult]) -> list[Finding]:
    """All diagnostics in output order, each with a stable fingerprint.

    The fingerprint hashes the rule, the path and the flagged line's text
    (whitespace-trimmed), plus an occurrence counter for identical lines, so
    it survives edits elsewhere in the file that move the line.
    """
    out: list[Finding] = []
    for result in results:
        index = LineIndex(_content(result))
        seen: dict[tuple[str, bytes], int] = {}
        for diagnostic in sorted(result.diagnostics, key=Diagnostic.sort_key):
            text = index.line_text(diagnostic.line).strip() if index.data else b""
            key = (diagnostic.rule, text)
            seen[key] = seen.get(key, 0) + 1
            digest = hashlib.sha256()
            for part in (diagnostic.rule.encode(), display_path(result.path).encode(), text, str(seen[key]).encode()):
                digest.update(part + b"\0")
            out.append(Finding(diagnostic, index, digest.hexdigest()[:32]))
    return out


def _edit_json(edit: Edit, index: LineIndex) -> dict:
    line, column = index.line_col(edit.start)
    end_line, end_column = index.line_col(edit.end)
    return {
        "start": {"line": line, "column": column, "offset": edit.start},
        "end": {"line": end_line, "column": end_column, "offset": edit.end},
        "text": edit.text.decode("utf-8", "replace"),
    }


def _errors(results: Sequence[FileResult], errors: Sequence[str]) -> list[str]:
    return [*errors, *(message for result in results for message in result.errors)]


def render_json(results: Sequence[FileResult], rules: Sequence[Rule], errors: Sequence[str] = ()) -> str:
    diagnostics = []
    for finding in findings(results):
        d = finding.diagnostic
        fix = None
        if d.fix is not None:
            fix = {
                "title": d.fix.title,
                "applicability": d.fix.applicability.value,
                "edits": [_edit_json(edit, finding.index) for edit in d.fix.edits],
            }
        diagnostics.append(
            {
                "rule": d.rule,
                "path": display_path(d.path),
                "message": d.message,
                "range": {
                    "start": {"line": d.line, "column": d.column, "offset": d.start},
                    "end": {"line": d.end_line, "column": d.end_column, "offset": d.end},
                },
                "fix": fix,
                "fingerprint": finding.fingerprint,
            }
        )
    document = {
        "version": JSON_SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": __version__},
        "diagnostics": diagnostics,
        "errors": _errors(results, errors),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _escape_data(text: str) -> str:
    # The escaping of GitHub's @actions/core toCommandValue / escapeData.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(path: str, line: int, end_line: int, column: int, title: str, message: str,
                      level: str = "warning", end_column: int | None = None) -> str:
    """One workflow command line, e.g. ``::warning file=a.go,line=3,...::msg``."""
    props = [("file", path), ("line", str(line)), ("endLine", str(end_line))]
    if column:
        props.append(("col", str(column)))
        if end_column and end_line == line:
            props.append(("endColumn", str(end_column)))
    props.append(("title", title))
    rendered = ",".join(f"{key}={_escape_property(value)}" for key, value in props)
    return f"::{level} {rendered}::{_escape_data(message)}"


def render_github(results: Sequence[FileResult], rules: Sequence[Rule], errors: Sequence[str] = ()) -> str:
    lines = []
    for finding in findings(results):
        d = finding.diagnostic
        level = "error" if d.rule in ENGINE_RULES else "warning"
        message = d.message
        if d.fix is not None:
            message += f"\nFix ({d.fix.applicability.value}): {d.fix.title}"
        lines.append(github_annotation(display_path(d.path), d.line, max(d.end_line, d.line), d.column,
                                       f"gofix-defer: {d.rule}", message, level))
    for message in _errors(results, errors):
        lines.append(f"::error title={_escape_property('gofix-defer')}::{_escape_data(message)}")
    return "".join(line + "\n" for line in lines)


def _rd_position(index: LineIndex, offset: int) -> dict:
    line, column = index.line_col(offset)
    return {"line": line, "column": column}


def render_rdjson(results: Sequence[FileResult], rules: Sequence[Rule], errors: Sequence[str] = ()) -> str:
    """reviewdog's rdjson (DiagnosticResult); columns are UTF-8 byte counts, ends exclusive."""
    diagnostics = []
    for finding in findings(results):
        d = finding.diagnostic
        item: dict = {
            "message": d.message,
            "location": {
                "path": display_path(d.path),
                "range": {"start": _rd_position(finding.index, d.start), "end": _rd_position(finding.index, d.end)},
            },
            "severity": "ERROR" if d.rule in ENGINE_RULES else "WARNING",
            "code": {"value": d.rule},
        }
        if d.fix is not None:
            item["suggestions"] = [
                {
                    "range": {"start": _rd_position(finding.index, e.start), "end": _rd_position(finding.index, e.end)},
                    "text": e.text.decode("utf-8", "replace"),
                }
                for e in d.fix.edits
            ]
            item["original_output"] = f"{d.fix.title} ({d.fix.applicability.value} fix)"
        diagnostics.append(item)
    document = {"source": {"name": TOOL_NAME}, "severity": "WARNING", "diagnostics": diagnostics}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def doc_sections(doc: str) -> dict[str, str]:
    """Split a rule doc into its sections (What it does, Why is this bad, ...)."""
    sections: dict[str, str] = {}
    current = None
    for line in doc.splitlines():
        heading = re.match(r"^#*\s*(What it does|Why is this bad|Example|Fix safety|Fix)\s*:?\s*$", line.strip(), re.I)
        if heading:
            current = heading.group(1).lower()
            sections[current] = ""
        elif current is not None:
            sections[current] += line + "\n"
    return {key: value.strip() for key, value in sections.items()}


def _sarif_rule(name: str, summary: str, doc: str, default_level: str = "warning") -> dict:
    sections = doc_sections(doc)
    return {
        "id": name,
        "name": "".join(part.capitalize() for part in name.split("-")),
        "shortDescription": {"text": summary},
        "fullDescription": {"text": sections.get("what it does") or summary},
        "help": {"text": doc, "markdown": doc},
        "defaultConfiguration": {"level": default_level},
    }


def _sarif_region(index: LineIndex, start: int, end: int) -> dict:
    line, _ = index.line_col(start)
    end_line, _ = index.line_col(end)
    return {
        "startLine": line,
        "startColumn": index.char_col(start),
        "endLine": end_line,
        "endColumn": index.char_col(end),
        "byteOffset": start,
        "byteLength": end - start,
    }


def render_sarif(results: Sequence[FileResult], rules: Sequence[Rule], errors: Sequence[str] = ()) -> str:
    descriptors = [_sarif_rule(r.name, r.summary, r.doc()) for r in sorted(rules, key=lambda r: r.name)]
    for name, summary in sorted(ENGINE_RULES.items()):
        descriptors.append(_sarif_rule(name, summary, summary, "error"))
    rule_index = {d["id"]: i for i, d in enumerate(descriptors)}
    sarif_results = []
    for finding in findings(results):
        d = finding.diagnostic
        uri = display_path(d.path)
        location = {
            "physicalLocation": {
                "artifactLocation": {"uri": uri},
                "region": _sarif_region(finding.index, d.start, d.end),
            }
        }
        entry: dict = {
            "ruleId": d.rule,
            "ruleIndex": rule_index[d.rule] if d.rule in rule_index else -1,
            "level": "error" if d.rule in ENGINE_RULES else "warning",
            "message": {"text": d.message},
            "locations": [location],
            "partialFingerprints": {"gofixDefer/v1": finding.fingerprint},
        }
        if entry["ruleIndex"] < 0:
            del entry["ruleIndex"]
        if d.fix is not None:
            entry["fixes"] = [
                {
                    "description": {"text": f"{d.fix.title} ({d.fix.applicability.value})"},
                    "artifactChanges": [
                        {
                            "artifactLocation": {"uri": uri},
                            "replacements": [
                                {
                                    "deletedRegion": {"byteOffset": e.start, "byteLength": e.end - e.start},
                                    "insertedContent": {"text": e.text.decode("utf-8", "replace")},
                                }
                                for e in d.fix.edits
                            ],
                        }
                    ],
                }
            ]
        sarif_results.append(entry)
    notifications = [{"level": "error", "message": {"text": message}} for message in _errors(results, errors)]
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "version": __version__,
                        "rules": descriptors,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "invocations": [
                    {"executionSuccessful": not notifications, "toolExecutionNotifications": notifications}
                ],
                "results": sarif_results,
            }
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


RENDERERS: dict[str, Callable[[Sequence[FileResult], Sequence[Rule], Sequence[str]], str]] = {
    "json": render_json,
    "github": render_github,
    "rdjson": render_rdjson,
    "sarif": render_sarif,
}


def render(fmt: str, results: Sequence[FileResult], rules: Sequence[Rule], errors: Sequence[str] = ()) -> str:
    return RENDERERS[fmt](results, rules, errors)


def rules_json(rules: Sequence[Rule]) -> str:
    """``--list-rules --output-format json``: every rule's metadata, by name."""
    listed = [
        {
            "name": rule.name,
            "summary": rule.summary,
            "fix": rule.fix_availability,
            "applicability": rule.applicability.value,
            "max_go_version": None if rule.max_go_version is None else f"{rule.max_go_version[0]}.{rule.max_go_version[1]}",
            "opt_in": rule.opt_in,
        }
        for rule in sorted(rules, key=lambda r: r.name)
    ]
    document = {"version": JSON_SCHEMA_VERSION, "tool": {"name": TOOL_NAME, "version": __version__}, "rules": listed}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
