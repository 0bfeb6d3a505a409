"""One pull request, one review: plan the suggestions, dedupe, post, fall back.

The flow:
1. list the PR's changed files (paginated; or, offline, ask local git);
2. for each changed `.go` file, read it at the head commit (its package's
   other files too, from the same commit) and run the rules on it; each
   finding keeps its fix against the head file;
3. by default keep the findings on lines the pull request changed (its
   added lines); ``--all`` keeps the others too, for the review body;
4. each kept finding's fix becomes one block of head lines (all of its
   edits, see suggestions.py). A block inside one hunk of the PR diff is a
   ```suggestion comment; any other fix goes whole into the review body as
   a diff, never part of it as a suggestion;
5. drop what the bot's own earlier reviews already posted (hidden
   fingerprints; comments and reviews by anyone else do not count);
6. post one review (event COMMENT); on 422 find the refused comments,
   move them into the body and post again; on 403 print instead.

No import of the GitHub SDK here: the offline dry run plans with local git only.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import stat
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

from gofix_defer.codemods.analysis import grammar as parsing
from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.codemods.github.anchoring import DiffLines, parse_patch
from gofix_defer.codemods.github.errors import DeadlineExceeded, GitError, GitHubError, PermissionDenied, Unprocessable
from gofix_defer.codemods.github.gitrepo import GitRepo, inside, path_problem
from gofix_defer.codemods.github.redact import Redactor
from gofix_defer.codemods.github.suggestions import FixBlock, assign_occurrences, fence_for, finding_lines, fix_block
from gofix_defer.codemods.github.transport import Deadline
from gofix_defer.codemods.model import INTERNAL_ERROR, SYNTAX_ERROR, Applicability, Diagnostic, Rule
from gofix_defer.codemods.output.diff import unified_diff
from gofix_defer.codemods.output.formats import github_annotation

FINGERPRINT_RE = re.compile(r"<!-- gofix-defer:fp=([0-9a-f]+) -->")
REVIEW_MARK_RE = re.compile(r"<!-- gofix-defer:review=([0-9a-f]+) -->")
SKIPPED_DIRS = frozenset({"vendor", "testdata"})
GITHUB_FILE_LIST_CAP = 3000  # GitHub lists at most this many files of a pull request
BODY_LIMIT = 60000  # GitHub refuses review bodies over 65,536 characters
# A block that keeps more untouched head lines than this between its edits
# is not offered as one suggestion (it would be a wall of unchanged code).
MAX_UNCHANGED_IN_SUGGESTION = 30

# Why a fix is in the review body instead of a comment.
# Each completes "N fix(es) that ...".
NOT_IN_DIFF = "also edit lines outside this pull request's diff (an import, say), so no single suggestion can carry them"
SPREAD = f"edit lines too far apart for one suggestion (more than {MAX_UNCHANGED_IN_SUGGESTION} unchanged lines between)"
NO_DIFF = "are in a file GitHub sent no diff for (and git could not compute one)"
UNCHANGED = "on lines this pull request does not change"
REFUSED = "were refused by GitHub as a comment"
OVERLAP = ("change lines another suggestion changes (two suggestions on the same lines cannot both be committed); "
           "commit that one first, or apply this diff instead")


def over_cap(count: int) -> str:
    return f"are over the limit of {count} comments per review"


@dataclass
class PullRequest:
    repository: str | None
    number: int | None
    head_sha: str | None
    base_sha: str | None


@dataclass(frozen=True)
class ReviewFile:
    """A changed file as the planner needs it (from the API, checked, or from git)."""

    filename: str
    status: str = "modified"
    patch: str | None = None  # None: not sent
    previous_filename: str | None = None


@dataclass
class Outside:
    """A fix posted in the review body instead of as a comment, and why."""

    block: FixBlock
    reason: str


@dataclass
class Unfixed:
    """A finding with no fix the bot may suggest."""

    path: str
    diagnostic: Diagnostic
    line: int
    reason: str
    on_changed_lines: bool
    fingerprint: str = ""


@dataclass
class Plan:
    comments: list[FixBlock] = field(default_factory=list)
    outside: list[Outside] = field(default_factory=list)
    unfixed: list[Unfixed] = field(default_factory=list)
    already_posted: int = 0  # findings an earlier run posted
    unchanged_skipped: int = 0  # findings on lines the PR did not change (reviewed only with --all)
    include_all: bool = False
    heads: dict[str, bytes] = field(default_factory=dict)  # path -> head bytes
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # limits reached, files skipped: said in the log and the body

    @property
    def empty(self) -> bool:
        return not self.comments and not self.outside and not self.unfixed

    def fixes(self) -> list[FixBlock]:
        return self.comments + [item.block for item in self.outside]


# --- reading the head commit -------------------------------------------------


class HeadTree:
    """The files of the head commit: from git when it has the commit, else the checkout when it is the head."""

    def __init__(self, repo_root: str, head_sha: str | None, repo: GitRepo) -> None:
        self.root = repo_root
        self.head_sha = head_sha
        self.repo = repo
        self._from_git: bool | None = None
        self._packages: dict[tuple[str, bytes | None], object] = {}

    def _git_has_head(self) -> bool:
        if self._from_git is None:
            self._from_git = bool(self.head_sha) and self.repo.has_commit(self.head_sha or "")
        return self._from_git

    def check_path(self, name: str) -> None:
        problem = path_problem(name)
        if problem is None and not inside(self.root, name):
            problem = "the file name leads outside the repository (through a symbolic link)"
        if problem is not None:
            raise GitError(f"refused: {problem}; it was not read")

    def read(self, name: str) -> bytes:
        """The file as of the head commit, whatever is checked out.

        `actions/checkout` on a pull_request event checks out the merge commit,
        whose lines need not match the head's; suggestions are anchored on the
        head, so read the head itself when git has it.
        """
        self.check_path(name)
        if self._git_has_head():
            assert self.head_sha is not None
            return self.repo.blob(self.head_sha, name)
        local = self.repo.head_commit()
        if self.head_sha and local is not None and local != self.head_sha:
            raise GitError(f"commit {self.head_sha[:12]} is not available locally and the checkout is another "
                           "commit; check out the pull request head "
                           "(actions/checkout with ref: ${{ github.event.pull_request.head.sha }})")
        path = os.path.join(self.root, name)
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode):
            raise GitError("not a regular file in the checkout; it was not read")
        with open(path, "rb") as handle:
            return handle.read()

    def package(self, name: str, data: bytes):  # -> Package | None
        """The Go package of ``name`` at the head commit (its sibling files read from git, lazily)."""
        from gofix_defer.codemods.analysis.package import go_files_in, package_name_of
        from gofix_defer.codemods.engine.siblings import SiblingFiles

        directory = posixpath.dirname(name)
        disk_directory = os.path.join(self.root, directory) if directory else self.root
        key = (directory, package_name_of(data))
        if key in self._packages:
            return self._packages[key]
        if self._git_has_head():
            sha = self.head_sha or ""

            def lister() -> list[str]:
                return [os.path.join(self.root, p) for p in self.repo.go_files(sha, directory)]

            def read(path: str) -> bytes | None:
                relative = os.path.relpath(path, self.root).replace(os.sep, "/")
                try:
                    self.check_path(relative)
                    return self.repo.blob(sha, relative)
                except GitError:
                    return None
        else:
            def lister() -> list[str]:
                return [p for p in go_files_in(disk_directory)
                        if inside(self.root, os.path.relpath(p, self.root)) and os.path.isfile(p) and not os.path.islink(p)]

            def read(path: str) -> bytes | None:
                try:
                    with open(path, "rb") as handle:
                        return handle.read()
                except OSError:
                    return None

        package = SiblingFiles(read).package(disk_directory, data, lister)
        self._packages[key] = package
        return package


def wanted(filename: str, status: str) -> bool:
    if not filename.endswith(".go") or status == "removed":
        return False
    *parts, base = filename.split("/")
    if base.startswith((".", "_")):  # the go tool ignores these files
        return False
    return not any(part in SKIPPED_DIRS or part.startswith((".", "_")) for part in parts)


def files_from_api(items: Sequence[object], errors: list[str]) -> list[ReviewFile]:
    """The API's /files entries, checked: a wrong type is an error for that entry, never a crash."""
    files = []
    for index, entry in enumerate(items):
        if not isinstance(entry, dict):
            errors.append(f"ignored file entry {index + 1} of the pull request: not an object")
            continue
        name, status, patch = entry.get("filename"), entry.get("status"), entry.get("patch")
        previous = entry.get("previous_filename")
        if not isinstance(name, str) or not name:
            errors.append(f"ignored file entry {index + 1} of the pull request: no valid filename ({type(name).__name__})")
            continue
        files.append(ReviewFile(name, status if isinstance(status, str) else "",
                                patch if isinstance(patch, str) else None,
                                previous if isinstance(previous, str) and previous else None))
    return files


# --- planning ---------------------------------------------------------------


def _safety(diagnostic: Diagnostic) -> str:
    fix = diagnostic.fix
    if fix is None:
        return "no fix"
    return {Applicability.SAFE: "safe fix", Applicability.UNSAFE: "unsafe fix"}.get(fix.applicability, f"{fix.applicability.value} fix")


def _unfixed_reason(diagnostic: Diagnostic, allowed: frozenset[Applicability]) -> str | None:
    fix = diagnostic.fix
    if fix is None or not fix.edits:
        return "no automatic fix"
    if fix.applicability in allowed:
        return None
    if fix.applicability is Applicability.UNSAFE:
        return "its fix is unsafe: --unsafe-fixes suggests it"
    return "its fix is shown only, never applied"


def _unfixed_fingerprint(path: str, head: bytes, d: Diagnostic, first: int, last: int, occurrence: int) -> str:
    digest = hashlib.sha256()
    lines = b"".join(head.split(b"\n")[first - 1 : last])
    for part in (path.encode(), d.rule.encode(), d.message.encode(), lines, str(occurrence).encode()):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:20]


SettingsFor = Callable[[str], "Settings | None"]


def plan_review(
    files: Sequence[ReviewFile],
    pr: PullRequest,
    tree: HeadTree,
    rules: Sequence[Rule],
    unsafe_fixes: bool,
    already: set[str],
    max_comments: int,
    include_all: bool = False,
    deadline: Deadline | None = None,
    settings_for: SettingsFor | None = None,
) -> Plan:
    """``settings_for`` gives a file's settings from the project's configuration (None: excluded);
    without it every file gets ``rules`` and ``unsafe_fixes``."""
    plan = Plan(include_all=include_all)
    default_settings = Settings(rules=rules, unsafe_fixes=unsafe_fixes, apply_fixes=False)
    anchored: list[FixBlock] = []
    candidates = []
    for info in sorted(files, key=lambda f: f.filename):
        if info.filename.endswith(".go") and info.status != "removed" and path_problem(info.filename):
            shown = json.dumps(info.filename) if re.search(r"[\x00-\x1f\x7f]", info.filename) else info.filename
            plan.errors.append(f"{shown}: refused: {path_problem(info.filename)}; it was not read")
        elif wanted(info.filename, info.status):
            candidates.append(info)
    for position, info in enumerate(candidates):
        if deadline is not None and deadline.expired():
            left = [f.filename for f in candidates[position:]]
            plan.errors.append(f"{deadline.describe()} passed: {len(left)} file(s) not checked: " + ", ".join(left[:20])
                               + (" …" if len(left) > 20 else ""))
            break
        filename = info.filename
        try:
            head = tree.read(filename)
        except (GitError, OSError) as error:
            plan.errors.append(f"{filename}: {getattr(error, 'strerror', None) or error}")
            continue
        disk_path = os.path.join(tree.root, filename)
        settings = default_settings
        if settings_for is not None:
            try:
                configured = settings_for(disk_path)
            except Exception as error:  # a configuration error (run.config.ConfigError) names file, key and line
                plan.errors.append(f"{filename}: {error}")
                continue
            if configured is None:
                continue  # excluded by the configuration
            settings = configured
        allowed = settings.allowed
        try:
            result = process(disk_path, head, settings, tree.package(filename, head))
        except RecursionError:
            plan.errors.append(f"{filename}: internal error: nesting too deep to analyse")
            continue
        plan.errors.extend(f"{filename}: {message}" for message in result.errors)
        diff: DiffLines | None = parse_patch(info.patch) if info.patch is not None else None
        if diff is None and pr.base_sha and tree.head_sha:
            diff = parse_patch(tree.repo.patch(pr.base_sha, tree.head_sha, filename, info.previous_filename))
        file_blocks: list[FixBlock] = []
        file_unfixed: list[Unfixed] = []
        for d in result.found:
            first, last = finding_lines(head, d)
            if d.rule == SYNTAX_ERROR:
                plan.notes.append(f"{filename}:{first}: does not parse at the head commit ({d.message}); not reviewed")
                continue
            if d.rule == INTERNAL_ERROR:
                plan.errors.append(f"{filename}: {d.message}")
                continue
            on_changed = diff is None or diff.touches(first, last)
            if not on_changed and not include_all:
                plan.unchanged_skipped += 1
                continue
            reason = _unfixed_reason(d, allowed)
            if reason is not None:
                file_unfixed.append(Unfixed(filename, d, first, reason, on_changed))
                continue
            assert d.fix is not None
            try:
                block = fix_block(filename, head, d.fix.edits)
            except ValueError as error:
                plan.errors.append(f"{filename}:{first}: the {d.rule} fix cannot be applied ({error}); left out")
                continue
            if block is None:
                continue
            if parsing.parse(block.fixed).root_node.has_error:
                plan.errors.append(f"{filename}:{first}: internal error: the {d.rule} fix would introduce a syntax "
                                   "error; left out")
                continue
            same = next((b for b in file_blocks if (b.start, b.end, b.new) == (block.start, block.end, block.new)), None)
            if same is not None:  # two findings, one identical change: one suggestion naming both
                same.diagnostics.append(d)
                continue
            block.diagnostics.append(d)
            file_blocks.append(block)
        assign_occurrences(file_blocks)
        seen: dict[tuple[str, str, int, int], int] = {}
        for item in file_unfixed:
            key = (item.diagnostic.rule, item.diagnostic.message, *finding_lines(head, item.diagnostic))
            seen[key] = seen.get(key, 0) + 1
            item.fingerprint = _unfixed_fingerprint(filename, head, item.diagnostic, key[2], key[3], seen[key])
            if item.fingerprint in already:
                plan.already_posted += 1
            else:
                plan.unfixed.append(item)
        if file_blocks:
            plan.heads[filename] = head
        for block in file_blocks:
            first_line = min(finding_lines(head, d)[0] for d in block.diagnostics)
            last_line = max(finding_lines(head, d)[1] for d in block.diagnostics)
            on_changed = diff is None or diff.touches(first_line, last_line)
            if block.fingerprint in already:
                plan.already_posted += len(block.diagnostics)
            elif not on_changed:
                plan.outside.append(Outside(block, UNCHANGED))
            elif diff is None:
                plan.outside.append(Outside(block, NO_DIFF))
            elif not diff.fits(block.start, block.end):
                plan.outside.append(Outside(block, NOT_IN_DIFF))
            elif block.unchanged_inside > MAX_UNCHANGED_IN_SUGGESTION:
                plan.outside.append(Outside(block, SPREAD))
            elif any(other.path == block.path and other.start <= block.end and block.start <= other.end for other in anchored):
                plan.outside.append(Outside(block, OVERLAP))
            else:
                anchored.append(block)
    plan.comments = anchored[:max_comments]
    for block in anchored[max_comments:]:
        plan.outside.append(Outside(block, over_cap(max_comments)))
    return plan


# --- rendering --------------------------------------------------------------


def _finding_text(d: Diagnostic) -> str:
    fix = d.fix
    text = f"**gofix-defer** · `{d.rule}` · {_safety(d)}\n\n{d.message}"
    if fix is not None:
        text += f"\n\n**Fix:** {fix.title}"
        if fix.applicability is Applicability.UNSAFE:
            text += " — *unsafe*: it may change behaviour beyond removing the bug (suggested because of `--unsafe-fixes`); review it before committing."
    return text


def comment_body(block: FixBlock) -> str:
    text = block.replacement.decode("utf-8", "replace")
    if text and not text.endswith("\n"):
        text += "\n"
    fence = fence_for(text)
    described = "\n\n---\n\n".join(_finding_text(d) for d in block.diagnostics)
    return (f"{described}\n\n{fence}suggestion\n{text}{fence}\n"
            f"<!-- gofix-defer:fp={block.fingerprint} -->")


def comment_payload(block: FixBlock) -> dict:
    payload: dict = {"path": block.path, "body": comment_body(block), "side": "RIGHT", "line": block.end}
    if block.start != block.end:
        payload["start_line"] = block.start
        payload["start_side"] = "RIGHT"
    return payload


def _where(path: str, d: Diagnostic, line: int) -> str:
    return f"`{path}:{line}` `{d.rule}`"


def _block_entry(item: Outside, heads: dict[str, bytes], with_diff: bool) -> str:
    block = item.block
    lines = []
    for d in block.diagnostics:
        fix = d.fix
        title = f" — {fix.title}" if fix is not None else ""
        lines.append(f"- {_where(block.path, d, finding_lines(heads.get(block.path, b''), d)[0])} ({_safety(d)}): {d.message}{title}")
    text = "\n".join(lines)
    if with_diff:
        diff = unified_diff(block.path, heads.get(block.path, b""), block.fixed).decode("utf-8", "replace")
        fence = fence_for(diff)
        text += f"\n\n{fence}diff\n{diff}{fence}"
    return text


def review_body(plan: Plan, refused: Sequence[str] = ()) -> str:
    by_reason: dict[str, list[Outside]] = {}
    for item in plan.outside:
        by_reason.setdefault(item.reason, []).append(item)
    unchanged_fixes = by_reason.pop(UNCHANGED, [])
    unfixed_changed = [u for u in plan.unfixed if u.on_changed_lines]
    unfixed_unchanged = [u for u in plan.unfixed if not u.on_changed_lines]
    suggested = sum(len(b.diagnostics) for b in plan.comments)
    in_body = sum(len(i.block.diagnostics) for items in by_reason.values() for i in items)
    on_changed = suggested + in_body + len(unfixed_changed)
    unchanged = sum(len(i.block.diagnostics) for i in unchanged_fixes) + len(unfixed_unchanged)

    lines = [f"**gofix-defer** found {on_changed} finding(s) on the lines this pull request changes."]
    if suggested:
        lines.append(f"- {suggested} with a suggested change in a comment: each suggestion is one whole fix and "
                     "can be committed on its own.")
    if in_body:
        lines.append(f"- {in_body} with a fix that no single suggestion can carry: its whole fix is below as a diff "
                     "(`git apply` takes each one on the pull request's head).")
    if unfixed_changed:
        lines.append(f"- {len(unfixed_changed)} without a fix to suggest (listed below).")
    if plan.include_all and unchanged:
        lines.append(f"- {unchanged} more on lines this pull request does not change (summarised below).")
    if plan.already_posted:
        lines.append(f"- {plan.already_posted} already suggested by an earlier run of this bot and not repeated.")
    for message in refused:
        lines.append(f"- GitHub refused a comment ({message}); its fix is in a diff below.")
    for note in plan.notes:
        lines.append(f"- Note: {note}")
    if not plan.include_all and plan.unchanged_skipped:
        lines.append(f"- {plan.unchanged_skipped} finding(s) on lines this pull request does not change were not "
                     "reviewed (`gofix-defer review --all` includes them).")

    sections: list[tuple[str, list[str], list[str]]] = []  # (summary, entries with diff, entries without)
    for reason, items in by_reason.items():
        count = sum(len(i.block.diagnostics) for i in items)
        sections.append((f"{count} fix(es) that {reason}", [_block_entry(i, plan.heads, True) for i in items],
                         [_block_entry(i, plan.heads, False) for i in items]))
    if unfixed_changed:
        entries = [f"- {_where(u.path, u.diagnostic, u.line)}: {u.diagnostic.message} — *{u.reason}*" for u in unfixed_changed]
        sections.append((f"{len(unfixed_changed)} finding(s) without a fix to suggest", entries, entries))
    if plan.include_all and unchanged:
        entries = [_block_entry(i, plan.heads, True) for i in unchanged_fixes]
        short = [_block_entry(i, plan.heads, False) for i in unchanged_fixes]
        listed = [f"- {_where(u.path, u.diagnostic, u.line)}: {u.diagnostic.message} — *{u.reason}*" for u in unfixed_unchanged]
        sections.append((f"{unchanged} finding(s) {UNCHANGED}", entries + listed, short + listed))

    def render(with_diffs: int) -> str:
        """The body with the first ``with_diffs`` diff entries in full, the others by location only."""
        out = list(lines)
        shown = 0
        left_out = False
        for summary, full, short in sections:
            chosen = []
            for long_entry, short_entry in zip(full, short):
                if long_entry != short_entry and shown >= with_diffs:
                    chosen.append(short_entry)
                    left_out = True
                else:
                    shown += long_entry != short_entry
                    chosen.append(long_entry)
            out.append(f"\n<details><summary>{summary}</summary>\n\n" + "\n\n".join(chosen) + "\n\n</details>")
        if left_out:
            out.append("\nSome diffs are left out to keep this review under GitHub's size limit; "
                       "run `gofix-defer --diff` on the pull request's head to see them.")
        return "\n".join(out)

    total_diffs = sum(1 for _, full, short in sections for a, b in zip(full, short) if a != b)
    body = render(total_diffs)
    low, high = 0, total_diffs
    if len(body) > BODY_LIMIT:  # the most diffs that fit, found by bisection
        while low < high:
            middle = (low + high + 1) // 2
            if len(render(middle)) <= BODY_LIMIT:
                low = middle
            else:
                high = middle - 1
        body = render(low)
    if len(body) > BODY_LIMIT:
        body = body[:BODY_LIMIT] + "\n\n(The rest of this review is too long for GitHub; run `gofix-defer --diff`.)"
    hidden = [i.block.fingerprint for i in plan.outside] + [u.fingerprint for u in plan.unfixed]
    fingerprints = "".join(f"\n<!-- gofix-defer:fp={fp} -->" for fp in hidden)
    digest = hashlib.sha256((body + fingerprints).encode()).hexdigest()[:20]
    return f"{body}{fingerprints}\n<!-- gofix-defer:review={digest} -->"


# --- posting ----------------------------------------------------------------


class ReviewClient(Protocol):
    """What the planner needs of ``client.GitHubClient`` (so this module never imports the SDK)."""

    retries: list[str]
    redact: Redactor

    def is_own(self, item: object) -> bool: ...

    def create_review(self, number: int, head_sha: str | None, body: str, comments: list[dict],
                      event: str | None = "COMMENT") -> dict: ...

    def delete_pending_review(self, number: int, review_id: int) -> None: ...


def _is_line(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def existing_fingerprints(comments: Sequence[object], reviews: Sequence[object], is_own: Callable[[object], bool]) -> set[str]:
    """Fingerprints the bot's own earlier runs posted and that still stand.

    Only the bot's own comments and reviews count: a stranger who pastes a
    fingerprint cannot hide a suggestion. Outdated comments (GitHub sets
    their ``line`` to null) do not count either: if the fix is still needed
    on the new code, it is posted anew.
    """
    found: set[str] = set()
    for comment in comments:
        if isinstance(comment, dict) and is_own(comment) and _is_line(comment.get("line")):
            body = comment.get("body")
            found.update(FINGERPRINT_RE.findall(body if isinstance(body, str) else ""))
    for review in reviews:
        if isinstance(review, dict) and is_own(review) and review.get("state") != "PENDING":
            body = review.get("body")
            found.update(FINGERPRINT_RE.findall(body if isinstance(body, str) else ""))
    return found


@dataclass
class Outcome:
    posted: dict | None = None
    refused: list[str] = field(default_factory=list)


def find_refused(client: ReviewClient, pr: PullRequest, comments: list[dict]) -> list[tuple[int, str]]:
    """Which comments GitHub refuses, by bisection with pending reviews.

    GitHub's 422 does not say which comment is wrong. A pending review is
    visible only to its author and is deleted right away, so probing with
    halves finds the culprits in O(k log n) calls without posting anything.
    """
    assert pr.number is not None
    number = pr.number
    refused: list[tuple[int, str]] = []

    def probe(indexes: list[int]) -> None:
        try:
            review = client.create_review(number, pr.head_sha, "", [comments[i] for i in indexes], event=None)
        except Unprocessable as error:
            if len(indexes) == 1:
                refused.append((indexes[0], client.redact("; ".join(error.errors) or error.message)))
                return
            middle = len(indexes) // 2
            probe(indexes[:middle])
            probe(indexes[middle:])
            return
        client.delete_pending_review(number, review["id"])

    probe(list(range(len(comments))))
    return sorted(refused)


def _drop_redacted(plan: Plan, redact: Redactor, log: Callable[[str], None]) -> None:
    """A suggestion whose text the redactor would change is not posted: committing it would break the code."""
    kept = []
    for block in plan.comments:
        if redact.changes(comment_body(block)):
            note = f"{block.path}:{block.start}: a suggestion holds text shaped like a credential; it is not posted"
            log(f"note: {note}")
            plan.notes.append(note)
        else:
            kept.append(block)
    plan.comments = kept


def post_review(client: ReviewClient, pr: PullRequest, plan: Plan, log: Callable[[str], None]) -> Outcome:
    assert pr.number is not None
    outcome = Outcome()
    payload = [comment_payload(block) for block in plan.comments]
    try:
        outcome.posted = client.create_review(pr.number, pr.head_sha, review_body(plan), payload)
        return outcome
    except Unprocessable as error:
        if not payload:
            raise
        log(f"GitHub refused the review ({'; '.join(error.errors) or error.message}); finding the comment(s) at fault")
    refused = find_refused(client, pr, payload)
    if not refused:
        raise GitHubError("create review", 422, "GitHub refused the review but accepts each comment alone")
    refused_indexes = {index for index, _ in refused}
    for index, message in refused:
        block = plan.comments[index]
        log(f"GitHub refused the comment on {block.path}:{block.start}-{block.end}: {message}")
        outcome.refused.append(f"{block.path}:{block.start}: {message}")
        plan.outside.append(Outside(block, REFUSED))
    plan.comments = [b for i, b in enumerate(plan.comments) if i not in refused_indexes]
    payload = [comment_payload(block) for block in plan.comments]
    outcome.posted = client.create_review(pr.number, pr.head_sha, review_body(plan, outcome.refused), payload)
    return outcome


def print_fallback(plan: Plan, write: Callable[[str], None]) -> None:
    """Without permission to post: the suggestions as annotations and their diffs in the log."""
    for block in plan.fixes():
        title = ", ".join(block.rules) or "follow-up"
        message = "; ".join(f"{d.message} ({_safety(d)})" for d in block.diagnostics)
        message += "\nSuggested change:\n" + block.replacement.decode("utf-8", "replace")
        write(github_annotation(block.path, block.start, block.end, 0, f"gofix-defer: {title}", message) + "\n")
    for item in plan.unfixed:
        d = item.diagnostic
        write(github_annotation(item.path, item.line, item.line, 0, f"gofix-defer: {d.rule}", f"{d.message} ({item.reason})") + "\n")
    for block in plan.fixes():
        write(unified_diff(block.path, plan.heads[block.path], block.fixed).decode("utf-8", "replace"))


def dry_run_review(plan: Plan, pr: PullRequest) -> dict:
    return {"commit_id": pr.head_sha, "event": "COMMENT", "body": review_body(plan),
            "comments": [comment_payload(block) for block in plan.comments]}


@dataclass
class RunOptions:
    rules: Sequence[Rule]
    unsafe_fixes: bool = False
    max_comments: int = 25
    include_all: bool = False
    dry_run: bool = False
    settings_for: SettingsFor | None = None  # per-file settings from gofix-defer.toml


def _summary(plan: Plan) -> str:
    suggested = sum(len(b.diagnostics) for b in plan.comments)
    in_body = sum(len(i.block.diagnostics) for i in plan.outside)
    return (f"{len(plan.comments)} suggestion(s) for {suggested} finding(s); {in_body} finding(s) with their fix in the "
            f"body; {len(plan.unfixed)} without a fix")


def finish_plan(plan: Plan, log: Callable[[str], None]) -> None:
    for message in plan.errors:
        log(f"error: {message}")
    for note in plan.notes:
        log(f"note: {note}")
    if not plan.include_all and plan.unchanged_skipped:
        log(f"note: {plan.unchanged_skipped} finding(s) on lines the pull request does not change are not reviewed (--all)")


def run_offline(tree: HeadTree, pr: PullRequest, options: RunOptions, write: Callable[[str], None],
                log: Callable[[str], None], deadline: Deadline | None = None) -> int:
    """``--dry-run --base B --head H``: plan from local git only (no token, no network) and print the review."""
    assert pr.base_sha is not None and pr.head_sha is not None
    try:
        changed = tree.repo.changed_files(pr.base_sha, pr.head_sha)
    except GitError as error:
        log(f"error: {error}")
        return 2
    files = [ReviewFile(c.filename, c.status, None, c.previous_filename) for c in changed]
    go_files = [f for f in files if wanted(f.filename, f.status)]
    log(f"{pr.base_sha[:12]}...{pr.head_sha[:12]}: {len(files)} changed file(s), {len(go_files)} Go file(s) to check")
    plan = plan_review(files, pr, tree, options.rules, options.unsafe_fixes, set(), options.max_comments,
                       options.include_all, deadline, options.settings_for)
    finish_plan(plan, log)
    write(json.dumps(dry_run_review(plan, pr), indent=2, ensure_ascii=False) + "\n")
    log(f"dry run: would post 1 review with {_summary(plan)}" if not plan.empty else "dry run: nothing to suggest")
    return 2 if plan.errors else 0


def run_review(client, pr: PullRequest, tree: HeadTree, options: RunOptions, write: Callable[[str], None],
               log: Callable[[str], None], deadline: Deadline | None = None) -> int:
    """The whole bot against the API; returns the exit code (0 done, 2 failed)."""
    assert pr.number is not None

    def flush_retries() -> None:
        for note in client.retries:
            log(note)
        client.retries.clear()

    try:
        if pr.head_sha is None or pr.base_sha is None:
            head, base = client.pull_request_shas(pr.number)
            pr.head_sha, pr.base_sha = pr.head_sha or head, pr.base_sha or base
        tree.head_sha = pr.head_sha
        login = client.authenticated_login()
        if login:
            client.own_logins.add(login)
        listing = client.list_files(pr.number)
        comments = client.list_review_comments(pr.number)
        reviews = client.list_reviews(pr.number)
    except GitHubError as error:
        flush_retries()
        log(f"error: {error}")
        return 2
    flush_retries()
    errors: list[str] = []
    files = files_from_api(listing.items, errors)
    notes = []
    if listing.truncated:
        notes.append(f"the pull request's file list was read for {listing.pages} page(s) only (--max-pages); "
                     "files past those were not checked")
    elif len(listing.items) >= GITHUB_FILE_LIST_CAP:
        notes.append(f"GitHub lists at most {GITHUB_FILE_LIST_CAP} files of a pull request; files past that were not checked")
    for name, other in (("review comments", comments), ("reviews", reviews)):
        if other.truncated:
            notes.append(f"only {other.pages} page(s) of earlier {name} were read (--max-pages): a suggestion "
                         "posted before may be posted again")
    already = existing_fingerprints(comments.items, reviews.items, client.is_own)
    go_files = [f for f in files if wanted(f.filename, f.status)]
    log(f"pull request #{pr.number}: {len(files)} changed file(s), {len(go_files)} Go file(s) to check")
    plan = plan_review(files, pr, tree, options.rules, options.unsafe_fixes, already, options.max_comments,
                       options.include_all, deadline, options.settings_for)
    plan.errors[:0] = errors
    plan.notes[:0] = notes
    finish_plan(plan, log)
    _drop_redacted(plan, client.redact, log)
    if plan.empty:
        log("nothing new to suggest" + (f" ({plan.already_posted} already posted)" if plan.already_posted else ""))
        return 2 if plan.errors else 0
    if options.dry_run:
        write(json.dumps(dry_run_review(plan, pr), indent=2, ensure_ascii=False) + "\n")
        log(f"dry run: would post 1 review with {_summary(plan)}")
        return 2 if plan.errors else 0
    try:
        outcome = post_review(client, pr, plan, log)
    except PermissionDenied as error:
        log(f"cannot post the review ({error}); a read-only token, e.g. on a pull request from a fork. "
            "The suggestions follow as annotations and a diff.")
        print_fallback(plan, write)
        return 2 if plan.errors else 0
    except DeadlineExceeded as error:
        log(f"error: {error}; the review was not posted")
        return 2
    except GitHubError as error:
        log(f"error: {error}")
        return 2
    finally:
        flush_retries()
    review_id = outcome.posted.get("id") if outcome.posted else None
    log(f"posted review {review_id} with {_summary(plan)}")
    return 2 if plan.errors else 0

