"""Compiled before written: prove the fixes of a package build with the Go toolchain.

When a Go toolchain is found (``GOFIX_DEFER_GO``, else `go` on PATH) and a
package built before its fixes, its fixed files are compiled and vetted
through `go build -overlay` / `go vet -overlay` — a JSON overlay naming the
fixed contents, written to a temporary folder, so the user's tree is never
touched. One build (and one vet) per package; only when that fails is each
fix tried alone, and a fix that breaks the build is dropped with the
compiler's first error. When the fixes that pass alone still fail together,
they are bisected until a set that builds is found.

Only packages of a Go module are checked (GOPATH-mode code has no module to
build it with). GOTOOLCHAIN=local unless the user set GOTOOLCHAIN: a
verification never downloads a toolchain; a module that needs one counts
as not building before, and its fixes are kept unverified, with a note.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Iterator, Sequence

from gofix_defer.codemods.analysis import grammar
from gofix_defer.codemods.engine.merge import merge
from gofix_defer.codemods.model import Diagnostic, FileResult, apply_edits

GO_ENV = "GOFIX_DEFER_GO"
# A package build slower than this is given up (its fixes stay unverified).
BUILD_TIMEOUT = 600.0


@dataclass(frozen=True)
class Toolchain:
    go: str

    @classmethod
    def find(cls, environ: dict[str, str] | None = None) -> "Toolchain | None":
        environ = dict(os.environ if environ is None else environ)
        configured = environ.get(GO_ENV)
        if configured:
            return cls(configured) if os.path.isfile(configured) and os.access(configured, os.X_OK) else None
        found = shutil.which("go", path=environ.get("PATH"))
        return cls(found) if found else None

    def run(self, args: Sequence[str], cwd: str) -> subprocess.CompletedProcess:
        env = dict(os.environ)
        env.setdefault("GOTOOLCHAIN", "local")
        env.setdefault("GOFLAGS", "")
        try:
            return subprocess.run([self.go, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess([self.go, *args], 124, "", f"go {args[0]} took longer than {BUILD_TIMEOUT:.0f} s")
        except OSError as error:
            return subprocess.CompletedProcess([self.go, *args], 127, "", f"cannot run {self.go}: {error}")


@dataclass
class _Outcome:
    ok: bool
    error: str = ""


@dataclass
class PackageCheck:
    """Builds one package directory with chosen file contents in an overlay."""

    toolchain: Toolchain
    directory: str
    vet_before: bool = False
    notes: list[str] = field(default_factory=list)

    def build(self, contents: dict[str, bytes]) -> _Outcome:
        with tempfile.TemporaryDirectory(prefix="gofix-defer-verify-") as scratch:
            overlay_file, shown = _write_overlay(scratch, contents)
            flag = f"-overlay={overlay_file}"
            result = self.toolchain.run(["build", flag, "-o", os.devnull, "."], self.directory)
            if result.returncode != 0:
                return _Outcome(False, _first_error(result.stderr, shown, scratch))
            if self.vet_before:
                result = self.toolchain.run(["vet", flag, "."], self.directory)
                if result.returncode != 0:
                    return _Outcome(False, _first_error(result.stderr, shown, scratch))
        return _Outcome(True)

    def vet(self, contents: dict[str, bytes]) -> bool:
        """Does `go vet` pass on the package with these contents?"""
        saved, self.vet_before = self.vet_before, False
        try:
            with tempfile.TemporaryDirectory(prefix="gofix-defer-verify-") as scratch:
                overlay_file = _write_overlay(scratch, contents)[0]
                return self.toolchain.run(["vet", f"-overlay={overlay_file}", "."], self.directory).returncode == 0
        finally:
            self.vet_before = saved


def _write_overlay(scratch: str, contents: dict[str, bytes]) -> tuple[str, dict[str, str]]:
    """Write ``contents`` as overlay copies in ``scratch``: (the overlay file, copy -> path)."""
    overlay = {}
    shown = {}
    for index, (path, data) in enumerate(sorted(contents.items())):
        copy = os.path.join(scratch, f"{index}", os.path.basename(path))
        os.makedirs(os.path.dirname(copy))
        with open(copy, "wb") as handle:
            handle.write(data)
        overlay[os.path.abspath(path)] = copy
        shown[copy] = path
    overlay_file = os.path.join(scratch, "overlay.json")
    with open(overlay_file, "w", encoding="utf-8") as handle:
        json.dump({"Replace": overlay}, handle)
    return overlay_file, shown


def _first_error(stderr: str, shown: dict[str, str], scratch: str) -> str:
    """The first error line, with overlay copies named by the user's paths."""
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("#")]
    text = lines[0] if lines else stderr.strip() or "the build failed"
    for copy, path in shown.items():
        text = text.replace(copy, path)
        relative = os.path.relpath(copy, os.getcwd())
        text = text.replace(relative, path)
    return text.replace(scratch, "<overlay>").strip()


def _special_go_files(directory: str) -> str | None:
    """The first `*.go` entry of the folder that is not a regular file (a FIFO, device, socket)."""
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return None
    for entry in entries:
        if entry.name.endswith(".go"):
            try:
                if not entry.is_dir() and not entry.is_file():
                    return entry.name
            except OSError:
                return entry.name
    return None


def module_root(directory: str) -> str | None:
    current = os.path.abspath(directory)
    while True:
        if os.path.isfile(os.path.join(current, "go.mod")):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


Rechecker = Callable[[str, bytes], list[Diagnostic]]


@dataclass
class Verifier:
    """Proves, per package, that the fixed files build; drops the fixes that do not."""

    toolchain: Toolchain
    allowed: frozenset  # the applicabilities the run applies
    recheck: Rechecker  # the findings left in a file's new text
    notes: list[str] = field(default_factory=list)
    builds: int = 0

    def verify(self, results: Iterable[FileResult]) -> Iterator[FileResult]:
        """``results`` in order, those of each package directory verified together."""
        group: list[FileResult] = []
        directory: str | None = None
        for result in results:
            here = os.path.dirname(result.path)
            if group and here != directory:
                yield from self._package(directory or ".", group)
                group = []
            directory = here
            group.append(result)
        if group:
            yield from self._package(directory or ".", group)

    def _package(self, directory: str, results: list[FileResult]) -> list[FileResult]:
        changed = [r for r in results if r.rewrite is not None]
        if not changed:
            return results
        if module_root(directory) is None:
            self.notes.append(f"{directory or '.'}: not in a Go module; its fixes were not compiled")
            return results
        special = _special_go_files(directory or ".")
        if special:
            # `go build` would open a FIFO named x.go and wait for ever.
            self.notes.append(f"{directory or '.'}: {special} is not a regular file; the package's fixes were not compiled")
            return results
        check = PackageCheck(self.toolchain, directory or ".")
        # "Before" is the package with the texts the fixes were made on (an editor's
        # buffer or standard input may differ from the file on disk, or be a new file).
        originals = {r.path: r.original for r in changed if r.original is not None}
        before = self._build(check, originals)
        if not before.ok:
            self.notes.append(f"{directory or '.'}: the package does not build before the fixes ({before.error}); its fixes were not compiled")
            return results
        check.vet_before = self._vet_passes(check, originals)
        fixed = {r.path: r.fixed for r in changed if r.fixed is not None}
        if self._build(check, fixed).ok:
            return results
        repaired = [self._repair(check, r) if r.rewrite is not None else r for r in results]
        final = {r.path: r.fixed for r in repaired if r.rewrite is not None and r.fixed is not None}
        if final and not self._build(check, final).ok:
            # Each file's fixes build over the others' originals, not together: keep none.
            for result in repaired:
                if result.rewrite is not None:
                    result.notes.append(f"{result.path}: its fixes do not build together with those of the other files of the package; none applied")
            repaired = [_unfixed(r) if r.rewrite is not None else r for r in repaired]
        return repaired

    def _build(self, check: PackageCheck, contents: dict[str, bytes]) -> _Outcome:
        self.builds += 1
        return check.build(contents)

    def _vet_passes(self, check: PackageCheck, originals: dict[str, bytes]) -> bool:
        self.builds += 1
        return check.vet(originals)

    def _repair(self, check: PackageCheck, result: FileResult) -> FileResult:
        """Keep the fixes of ``result`` that build, added one at a time over the original
        package (the file's later fixpoint rounds are left for the next run)."""
        original = result.original
        assert original is not None
        candidates = [d for d in result.found if d.fix is not None and d.fix.applicability in self.allowed]
        kept: list[Diagnostic] = []
        for diagnostic in candidates:
            text = _apply([*kept, diagnostic], original)
            if text is None:
                continue  # overlaps a kept fix: a later run retries it
            outcome = self._build(check, {result.path: text})
            if outcome.ok:
                kept.append(diagnostic)
            else:
                result.notes.append(_dropped(diagnostic, outcome.error))
        new_text = _apply(kept, original) if kept else None
        if new_text is None or new_text == original:
            return _unfixed(result)
        return replace(result, fixed=new_text, applied=kept, diagnostics=self.recheck(result.path, new_text))


def _unfixed(result: FileResult) -> FileResult:
    return replace(result, fixed=None, applied=[], diagnostics=list(result.found))


def _apply(diagnostics: list[Diagnostic], original: bytes) -> bytes | None:
    merged = merge(diagnostics)
    if len(merged.accepted) != len(diagnostics):
        return None  # they overlap: not a set the engine would apply together
    text = apply_edits(original, merged.edits)
    return None if grammar.parse(text).root_node.has_error else text


def _dropped(diagnostic: Diagnostic, error: str) -> str:
    title = diagnostic.fix.title if diagnostic.fix is not None else "fix"
    return f"{diagnostic.path}:{diagnostic.line}: dropped the fix \"{title}\" [{diagnostic.rule}]: with it the package does not compile: {error}"
