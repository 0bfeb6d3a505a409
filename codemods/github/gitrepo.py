"""The local checkout, read through git with arguments that cannot become options.

Commit ids from the API or the event are taken only when they are full hex
SHAs; refs given on the command line are resolved with ``rev-parse`` to one
first. Every command puts ``--end-of-options`` before revisions and ``--``
before paths, so a "sha" of ``--output=/path`` is refused, never run.
File names from the API are refused when absolute, when not normalised
(``..``, ``.``, empty parts), when they hold control characters, or when
they lead outside the repository once symlinks are resolved.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from typing import Callable

from gofix_defer.codemods.github.errors import GitError

SHA_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
GIT_TIMEOUT = 120.0
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
REGULAR_MODES = ("100644", "100755")


def valid_sha(value: object) -> bool:
    return isinstance(value, str) and SHA_RE.fullmatch(value) is not None


def path_problem(name: object) -> str | None:
    """Why ``name`` (a file name from the API) may not be read, or None when it may."""
    if not isinstance(name, str) or not name:
        return "no file name"
    if _CONTROL.search(name):
        return "the file name holds control characters"
    if name.startswith("/") or re.match(r"[A-Za-z]:[\\/]", name):
        return "an absolute file name"
    parts = name.split("/")
    if ".." in parts:
        return "the file name leaves the repository"
    if any(part in ("", ".") for part in parts):
        return "the file name is not a plain relative path"
    return None


def inside(root: str, name: str) -> bool:
    """Does ``root/name`` stay inside ``root`` once symlinks are resolved?"""
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(root, name))
    try:
        return os.path.commonpath([real_root, real]) == real_root
    except ValueError:
        return False


@dataclass(frozen=True)
class ChangedFile:
    filename: str
    status: str
    previous_filename: str | None = None


class GitRepo:
    def __init__(self, root: str, remaining: Callable[[], float] | None = None) -> None:
        self.root = root
        self._remaining = remaining

    def _timeout(self) -> float:
        left = self._remaining() if self._remaining is not None else GIT_TIMEOUT
        if left <= 0:
            raise GitError("the run's deadline passed")
        return min(GIT_TIMEOUT, left)

    def run(self, *args: str) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(["git", "-c", "core.quotePath=false", *args], cwd=self.root, capture_output=True,
                                  check=False, timeout=self._timeout(), stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise GitError(f"git {args[0]} took too long") from None
        except OSError as error:
            raise GitError(f"cannot run git: {error.strerror or error}") from None

    @staticmethod
    def _sha(sha: str) -> str:
        if not valid_sha(sha):
            raise GitError(f"{str(sha)[:80]!r} is not a commit id (40 or 64 hex digits)")
        return sha

    def resolve(self, ref: str) -> str:
        """A command-line ref (branch, tag, SHA, ``HEAD~1``) as the commit id it names."""
        if not ref or ref.startswith("-") or _CONTROL.search(ref) or len(ref) > 256:
            raise GitError(f"{ref[:80]!r} is not a ref")
        done = self.run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
        sha = done.stdout.decode("ascii", "replace").strip()
        if done.returncode != 0 or not valid_sha(sha):
            raise GitError(f"{ref!r} is not a commit in {self.root}")
        return sha

    def head_commit(self) -> str | None:
        """The checked-out commit, or None when ``root`` is not a git checkout."""
        try:
            done = self.run("rev-parse", "--verify", "--quiet", "HEAD")
        except GitError:
            return None
        sha = done.stdout.decode("ascii", "replace").strip()
        return sha if done.returncode == 0 and valid_sha(sha) else None

    def has_commit(self, sha: str) -> bool:
        done = self.run("cat-file", "-e", "--end-of-options", f"{self._sha(sha)}^{{commit}}")
        return done.returncode == 0

    def entry(self, sha: str, path: str) -> tuple[str, str] | None:
        """(mode, type) of ``path`` in commit ``sha``, or None when it is not there."""
        done = self.run("ls-tree", "-z", "--full-tree", "--end-of-options", self._sha(sha), "--", path)
        if done.returncode != 0:
            return None
        for record in done.stdout.split(b"\0"):
            meta, _, name = record.partition(b"\t")
            if name.decode("utf-8", "surrogateescape") == path:
                mode, kind, _ = meta.decode("ascii", "replace").split(" ", 2)
                return mode, kind
        return None

    def blob(self, sha: str, path: str) -> bytes:
        """The bytes of regular file ``path`` at commit ``sha``."""
        entry = self.entry(sha, path)
        if entry is None:
            raise GitError(f"not in commit {sha[:12]}")
        if entry[0] not in REGULAR_MODES:
            kind = {"120000": "a symbolic link", "160000": "a submodule"}.get(entry[0], f"not a regular file ({entry[0]})")
            raise GitError(f"is {kind} in commit {sha[:12]}")
        done = self.run("cat-file", "blob", "--end-of-options", f"{sha}:{path}")
        if done.returncode != 0:
            raise GitError(f"git cannot read it at {sha[:12]}")
        return done.stdout

    def go_files(self, sha: str, directory: str) -> list[str]:
        """Regular ``.go`` files directly in ``directory`` (repository-relative) at ``sha``."""
        spec = f"{directory}/" if directory else "."
        done = self.run("ls-tree", "-z", "--full-tree", "--end-of-options", self._sha(sha), "--", spec)
        if done.returncode != 0:
            return []
        names = []
        for record in done.stdout.split(b"\0"):
            meta, _, name_bytes = record.partition(b"\t")
            if not meta:
                continue
            mode = meta.decode("ascii", "replace").split(" ", 1)[0]
            name = name_bytes.decode("utf-8", "surrogateescape")
            base = name.rsplit("/", 1)[-1]
            if mode in REGULAR_MODES and base.endswith(".go") and not base.startswith(("_", ".")):
                names.append(name)
        return sorted(names)

    def changed_files(self, base: str, head: str) -> list[ChangedFile]:
        """The files a pull request from ``base`` to ``head`` changes (three dots: against the merge base)."""
        done = self.run("diff", "--name-status", "-z", "-M", "--no-ext-diff", "--no-textconv", "--end-of-options",
                        f"{self._sha(base)}...{self._sha(head)}")
        if done.returncode != 0:
            raise GitError(f"git diff {base[:12]}...{head[:12]} failed: "
                           f"{done.stderr.decode('utf-8', 'replace').strip()[:200]}")
        fields = done.stdout.split(b"\0")
        files: list[ChangedFile] = []
        index = 0
        while index < len(fields) and fields[index]:
            code = fields[index].decode("ascii", "replace")
            status = {"A": "added", "D": "removed", "M": "modified", "T": "changed", "R": "renamed", "C": "copied"}.get(code[:1], "modified")
            if code[:1] in ("R", "C"):
                old, new = fields[index + 1], fields[index + 2]
                files.append(ChangedFile(new.decode("utf-8", "surrogateescape"), status, old.decode("utf-8", "surrogateescape")))
                index += 3
            else:
                files.append(ChangedFile(fields[index + 1].decode("utf-8", "surrogateescape"), status))
                index += 2
        return files

    def patch(self, base: str, head: str, path: str, previous: str | None = None) -> str | None:
        """The hunks of ``git diff base...head`` for one file (None when git cannot tell)."""
        paths = [previous, path] if previous and previous != path else [path]
        try:
            done = self.run("diff", "--no-color", "--no-ext-diff", "--no-textconv", "-M", "--unified=3",
                            "--end-of-options", f"{self._sha(base)}...{self._sha(head)}", "--", *paths)
        except GitError:
            return None
        if done.returncode != 0:
            return None
        text = done.stdout.decode("utf-8", "replace")
        if text.startswith("@@"):
            return text
        return text[text.find("\n@@") + 1 :] if "\n@@" in text else ""
