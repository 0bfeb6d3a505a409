"""Per-file result cache, in the spirit of ruff's `.ruff_cache`.

Where: ``.gofix-defer-cache/`` in the current directory by default (like
``.ruff_cache``: next to the project, easy to find, easy to delete, and
listed in the usual ``.gitignore``); ``--cache-dir`` or the environment
variable ``GOFIX_DEFER_CACHE_DIR`` move it, ``--no-cache`` bypasses it.

What: one small entry per file, named by a hash of everything that can
change the file's result:

* the file's content and its path as given (results carry the path),
* the tool's version *and* a hash of the engine and rule sources, so an edited
  rule never serves stale results during development,
* the names (and classes) of the selected rules, in order,
* the file's effective Go version (from ``--go-version`` or its go.mod),
* the settings that change results: ``unsafe_fixes``, ``apply_fixes`` and
  ``max_iterations``.

A hit gives back the complete FileResult (diagnostics with their fixes and
edits, the applied fixes, the fixed bytes) so that ``--diff`` and ``--write``
behave exactly as without the cache; ``original`` is the file's current
content, which the caller just read. Results with errors (or a crashed rule)
are never stored: they are retried on the next run.

Safety: entries are written to a temporary file and renamed into place, so
two runs sharing the folder never see half an entry; any entry that cannot
be read or decoded (truncated, corrupt, from another format version) counts
as a miss and is overwritten. Entries hold only plain values encoded with
``marshal`` (no pickle), so loading an entry never runs code. Deleting the
folder at any time is safe: it only costs one cold run.
"""

from __future__ import annotations

import functools
import hashlib
import marshal
import os
import sys
import tempfile
from typing import Sequence

from gofix_defer.codemods import __version__
from gofix_defer.codemods.model import Applicability, Diagnostic, Edit, FileResult, Fix, Rule

DEFAULT_CACHE_DIR = ".gofix-defer-cache"
CACHE_DIR_ENV = "GOFIX_DEFER_CACHE_DIR"
# Bump when the entry layout changes; old entries then read as misses.
FORMAT_VERSION = 2
_MAGIC = b"gofix-defer-cache\x00"


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A hash of the tool's version, its engine sources and the grammar's version."""
    from importlib import metadata

    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{__version__}\x00{FORMAT_VERSION}\x00".encode())
    codemods = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for folder, subfolders, names in os.walk(codemods):
        subfolders.sort()
        for name in sorted(names):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, "rb") as handle:
                    relative = os.path.relpath(path, codemods)
                    digest.update(relative.encode() + b"\x00" + handle.read() + b"\x00")
    for distribution in ("tree-sitter", "tree-sitter-golang"):
        try:
            digest.update(metadata.version(distribution).encode() + b"\x00")
        except metadata.PackageNotFoundError:  # pragma: no cover
            pass
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def _module_fingerprint(module_name: str) -> str:
    """A hash of the source of the module defining a rule (an edited rule is a new key)."""
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    try:
        with open(path, "rb") as handle:  # type: ignore[arg-type]
            return hashlib.blake2b(handle.read(), digest_size=16).hexdigest()
    except (OSError, TypeError):
        return "unknown"


def settings_fingerprint(rules: Sequence[Rule], unsafe_fixes: bool, apply_fixes: bool, max_iterations: int) -> bytes:
    """Everything run-wide that the key depends on, computed once per run."""
    # Name, class and source: a test's or plugin's rule may reuse a built-in name.
    names = ",".join(
        f"{rule.name}={type(rule).__module__}.{type(rule).__qualname__}@{_module_fingerprint(type(rule).__module__)}" for rule in rules
    )
    return f"{code_fingerprint()}\x00{names}\x00{int(unsafe_fixes)}{int(apply_fixes)}{max_iterations}".encode()


class ResultCache:
    """A folder of per-file entries; see the module doc for the key and safety."""

    def __init__(self, directory: str, run_fingerprint: bytes):
        self.directory = directory
        self._run = run_fingerprint
        self._prepared = False

    def key(self, path: str, data: bytes, go_version: tuple[int, int]) -> str:
        digest = hashlib.blake2b(self._run, digest_size=20)
        digest.update(f"\x00{path}\x00{go_version[0]}.{go_version[1]}\x00".encode())
        digest.update(data)
        return digest.hexdigest()

    def _entry_path(self, key: str) -> str:
        return os.path.join(self.directory, f"v{FORMAT_VERSION}", key[:2], key)

    def get(self, key: str, path: str, data: bytes) -> FileResult | None:
        try:
            with open(self._entry_path(key), "rb") as handle:
                blob = handle.read()
        except OSError:
            return None
        try:
            if not blob.startswith(_MAGIC):
                return None
            result = decode(marshal.loads(blob[len(_MAGIC) :]), path, data)
        except Exception:  # corrupt or partial entry: a miss, rewritten below
            return None
        # A result that read other files of its package is stale once any changed.
        return result if dependencies_unchanged(result.dependencies) else None

    def put(self, key: str, result: FileResult) -> None:
        """Store ``result`` unless it holds errors; never fails the run."""
        if not cacheable(result):
            return
        target = self._entry_path(key)
        try:
            blob = _MAGIC + marshal.dumps(encode(result))
            folder = os.path.dirname(target)
            if not self._prepared:
                self._prepare()
            os.makedirs(folder, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=".tmp-", dir=folder)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(blob)
                os.replace(temporary, target)
            except BaseException:
                try:
                    os.unlink(temporary)
                except OSError:
                    pass
                raise
        except OSError:
            return  # a read-only or full disk only costs speed

    def _prepare(self) -> None:
        """Mark the folder as a cache for backup tools and git, once."""
        os.makedirs(self.directory, exist_ok=True)
        for name, text in (
            ("CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n# gofix-defer result cache; safe to delete.\n"),
            (".gitignore", "# Automatically created by gofix-defer.\n*\n"),
        ):
            marker = os.path.join(self.directory, name)
            if not os.path.exists(marker):
                try:
                    with open(marker, "w", encoding="utf-8") as handle:
                        handle.write(text)
                except OSError:
                    pass
        self._prepared = True


def cacheable(result: FileResult) -> bool:
    from gofix_defer.codemods.model import INTERNAL_ERROR

    return not result.errors and not any(d.rule == INTERNAL_ERROR for d in result.diagnostics)


# Encoding: plain tuples of str/int/bytes/None, in field order.


def _encode_fix(fix: Fix | None):
    if fix is None:
        return None
    return (fix.title, fix.applicability.value, tuple((e.start, e.end, e.text) for e in fix.edits))


def _decode_fix(value) -> Fix | None:
    if value is None:
        return None
    title, applicability, edits = value
    return Fix(title=title, edits=tuple(Edit(s, e, t) for s, e, t in edits), applicability=Applicability(applicability))


def _encode_diagnostic(d: Diagnostic):
    return (d.rule, d.start, d.end, d.message, _encode_fix(d.fix), d.line, d.column, d.end_line, d.end_column, d.path)


def _decode_diagnostic(value) -> Diagnostic:
    rule, start, end, message, fix, line, column, end_line, end_column, path = value
    return Diagnostic(
        rule=rule,
        start=start,
        end=end,
        message=message,
        fix=_decode_fix(fix),
        line=line,
        column=column,
        end_line=end_line,
        end_column=end_column,
        path=path,
    )


def encode(result: FileResult):
    """Everything but ``path`` and ``original`` (both known to the reader)."""
    # The original findings are stored only when they differ from what is left.
    found = None if result.found == result.diagnostics else tuple(_encode_diagnostic(d) for d in result.found)
    return (
        tuple(_encode_diagnostic(d) for d in result.diagnostics),
        result.fixed,
        tuple(_encode_diagnostic(d) for d in result.applied),
        tuple(result.errors),
        result.skipped,
        found,
        tuple(sorted(result.dependencies.items())),
    )


def decode(value, path: str, data: bytes) -> FileResult:
    diagnostics, fixed, applied, errors, skipped, found, dependencies = value
    left = [_decode_diagnostic(d) for d in diagnostics]
    return FileResult(
        path=path,
        diagnostics=left,
        original=data,
        fixed=fixed,
        applied=[_decode_diagnostic(d) for d in applied],
        errors=list(errors),
        skipped=skipped,
        found=list(left) if found is None else [_decode_diagnostic(d) for d in found],
        dependencies=dict(dependencies),
    )


def dependencies_unchanged(dependencies: dict[str, str]) -> bool:
    """Do the files (and directory listings) a cached result depends on still hash the same?"""
    from gofix_defer.codemods.analysis.package import digest, go_files_in, listing_key

    for path, expected in dependencies.items():
        if path == listing_key(os.path.dirname(path)):
            directory = path[:-1]
            names = sorted(os.path.basename(p) for p in go_files_in(directory))
            actual = digest("\n".join(names).encode())
        else:
            try:
                with open(path, "rb") as handle:
                    actual = digest(handle.read())
            except OSError:
                return False
        if actual != expected:
            return False
    return True
