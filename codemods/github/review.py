"""One pull request, one review: plan the suggestions, dedupe, post, fall back.

The flow:
1. list the PR's changed files (paginated);
2. for each changed `.go` file, read it at the head commit and run the
   engine to its fixpoint (the exact `--write` result); the result keeps
   the findings against the head file for their messages;
3. split head -> fixed into line blocks; a block whose lines lie inside one
   hunk of the PR diff becomes a ```suggestion comment, the others go into
   the review body as a collapsed unified diff; past the comment cap too;
4. drop what an earlier run already posted (hidden fingerprints);
5. post one review (event COMMENT); on 422 find the refused comments,
   move them into the body and post again; on 403 print instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from typing import Callable, Sequence, TextIO

from gofix_defer.codemods.engine.process import Settings, process
from gofix_defer.codemods.github.anchoring import fits, hunk_ranges_from_git, hunk_ranges_from_patch
from gofix_defer.codemods.github.client import GitHubClient, GitHubError, PermissionDenied, Unprocessable
from gofix_defer.codemods.github.suggestions import Block, apply_blocks, attach_diagnostics, change_blocks, fence_for
from gofix_defer.codemods.model import Applicability, Rule
from gofix_defer.codemods.output.diff import unified_diff
from gofix_defer.codemods.output.formats import github_annotation

FINGERPRINT_RE = re.compile(r"<!-- gofix-defer:fp=([0-9a-f]+) -->")
REVIEW_MARK_RE = re.compile(r"<!-- gofix-defer:review=([0-9a-f]+) -->")
SKIPPED_DIRS = frozenset({"vendor", "testdata"})
GITHUB_FILE_LIST_CAP = 3000  # GitHub lists at most this many files of a pull request
BODY_LIMIT = 60000  # GitHub refuses review bodies over 65,536 characters


@dataclass
class PullRequest:
    repository: str
    number: int
    head_sha: str | None
    base_sha: str | None


@dataclass
class Outside:
    """A block posted in the review body instead of as a comment, and why."""

    block: Block
    reason: str


@dataclass
class Plan:
    comments: list[Block] = field(default_factory=list)
    outside: list[Outside] = field(default_factory=list)
    already_posted: int = 0
    unfixable: int = 0  # findings with no fix we may apply
    heads: dict[str, bytes] = field(default_factory=dict)  # path -> head bytes
    fixed: dict[str, bytes] = field(default_factory=dict)  # path -> --write result
    errors: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.comments and not self.outside


# --- reading the head commit -------------------------------------------------


def _git(repo_root: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo_root, capture_output=True, check=False, timeout=120)


def read_head_file(repo_root: str, head_sha: str, path: str) -> bytes:
    """The file as of the head commit, whatever is checked out.

    `actions/checkout` on a pull_request event checks out the merge commit,
    whose lines need not match the head's; suggestions are anchored on the
    head, so read the head itself when git has it.
    """
    shown = _git(repo_root, "show", f"{head_sha}:{path}")
    if shown.returncode == 0:
        return shown.stdout
    local = _git(repo_root, "rev-parse", "HEAD")
    if local.returncode == 0 and local.stdout.decode().strip() != head_sha:
        raise GitHubError("read head file", None, f"commit {head_sha[:12]} is not available locally and the "
                          "checkout is another commit; check out the pull request head "
                          "(actions/checkout with ref: ${{ github.event.pull_request.head.sha }})")
    with open(os.path.join(repo_root, path), "rb") as handle:
        return handle.read()


def wanted(filename: str, status: str) -> bool:
    if not filename.endswith(".go") or status == "removed":
        return False
    parts = filename.split("/")[:-1]
    return not any(part in SKIPPED_DIRS or part.startswith((".", "_")) for part in parts)


# --- planning ---------------------------------------------------------------


def plan_review(
    files: Sequence[dict],
    pr: PullRequest,
    repo_root: str,
    rules: Sequence[Rule],
    unsafe_fixes: bool,
    already: set[str],
    max_comments: int,
) -> Plan:
    plan = Plan()
    fix_settings = Settings(rules=rules, unsafe_fixes=unsafe_fixes, apply_fixes=True)
    allowed = fix_settings.allowed
    anchored: list[Block] = []
    for info in sorted(files, key=lambda f: f["filename"]):
        filename = info["filename"]
        if not wanted(filename, info.get("status", "")):
            continue
        disk_path = os.path.join(repo_root, filename)
        try:
            head = read_head_file(repo_root, pr.head_sha, filename) if pr.head_sha else open(disk_path, "rb").read()
        except (GitHubError, OSError) as error:
            plan.errors.append(f"{filename}: {error}")
            continue
        result = process(disk_path, head, fix_settings)
        plan.errors.extend(f"{filename}: {message}" for message in result.errors)
        findings = result.found  # against the head file, with their fixes
        plan.unfixable += sum(1 for d in findings if d.fix is None or d.fix.applicability not in allowed)
        rewrite = result.rewrite
        if rewrite is None:
            continue
        fixed = rewrite[1]
        plan.heads[filename], plan.fixed[filename] = head, fixed
        blocks = change_blocks(filename, head, fixed)
        fixable = [d for d in findings if d.fix is not None and d.fix.applicability in allowed]
        attach_diagnostics(blocks, fixable)
        patch = info.get("patch")
        ranges: list[tuple[int, int]] | None
        if patch:
            ranges = hunk_ranges_from_patch(filename, patch)
        else:
            ranges = hunk_ranges_from_git(repo_root, pr.base_sha, pr.head_sha, filename) if pr.base_sha and pr.head_sha else None
        for block in blocks:
            if block.fingerprint in already:
                plan.already_posted += 1
            elif ranges is None:
                plan.outside.append(Outside(block, "GitHub sent no diff for this file and git could not compute it"))
            elif fits(ranges, block.start, block.end):
                anchored.append(block)
            else:
                plan.outside.append(Outside(block, "outside the lines this pull request changes"))
    plan.comments = anchored[:max_comments]
    for block in anchored[max_comments:]:
        plan.outside.append(Outside(block, f"over the limit of {max_comments} comments per review"))
    return plan


# --- rendering --------------------------------------------------------------


def _describe(block: Block) -> str:
    if not block.diagnostics:
        return "**gofix-defer** suggests this change (a follow-up of the fixes nearby)."
    parts = []
    for d in block.diagnostics:
        fix = d.fix
        if fix is None:
            continue
        safety = "" if fix.applicability is Applicability.SAFE else f" ({fix.applicability.value} fix)"
        parts.append(f"**gofix-defer** `{d.rule}`: {d.message}\n\nFix{safety}: {fix.title}")
    return "\n\n".join(parts)


def comment_body(block: Block) -> str:
    text = block.replacement.decode("utf-8", "replace")
    if text and not text.endswith("\n"):
        text += "\n"
    fence = fence_for(text)
    return (f"{_describe(block)}\n\n{fence}suggestion\n{text}{fence}\n"
            f"<!-- gofix-defer:fp={block.fingerprint} -->")


def comment_payload(block: Block) -> dict:
    payload = {"path": block.path, "body": comment_body(block), "side": "RIGHT", "line": block.end}
    if block.start != block.end:
        payload["start_line"] = block.start
        payload["start_side"] = "RIGHT"
    return payload


def review_body(plan: Plan, refused: Sequence[str] = ()) -> str:
    total = len(plan.comments) + len(plan.outside)
    lines = [f"**gofix-defer** suggests {total} fix(es) for this pull request."]
    if plan.comments:
        lines.append(f"- {len(plan.comments)} as suggestions on the changed lines: review and commit them from the comments.")
    if plan.outside:
        lines.append(f"- {len(plan.outside)} below, as a unified diff (`git apply` takes it).")
    if plan.unfixable:
        lines.append(f"- {plan.unfixable} more finding(s) have no fix applied here "
                     "(no automatic fix, or an unsafe one: run `gofix-defer --unsafe-fixes --diff` locally).")
    if plan.already_posted:
        lines.append(f"- {plan.already_posted} suggestion(s) from an earlier run are still open and not repeated.")
    for message in refused:
        lines.append(f"- GitHub refused a comment ({message}); its fix is in the diff below.")
    if plan.outside:
        by_reason: dict[str, list[Outside]] = {}
        for item in plan.outside:
            by_reason.setdefault(item.reason, []).append(item)
        for reason, items in by_reason.items():
            # One diff section per file, so `git apply` takes the whole text.
            paths = sorted({item.block.path for item in items})
            diff = b"".join(
                unified_diff(path, plan.heads[path],
                             apply_blocks(plan.heads[path], [i.block for i in items if i.block.path == path]))
                for path in paths
            ).decode("utf-8", "replace")
            fence = fence_for(diff)
            where = ", ".join(f"`{i.block.path}:{i.block.start}`" for i in items)
            lines.append(f"\n<details><summary>{len(items)} fix(es) {reason}: {where}</summary>\n\n"
                         f"{fence}diff\n{diff}{fence}\n\n</details>")
    body = "\n".join(lines)
    if len(body) > BODY_LIMIT:
        cut = body.find("\n<details>")
        cut = cut if cut >= 0 else BODY_LIMIT
        body = body[:cut] + ("\n\nThe diff of these fixes is too long for a review body; "
                             "run `gofix-defer --diff` on the pull request's head to see it.")
    fingerprints = "".join(f"\n<!-- gofix-defer:fp={i.block.fingerprint} -->" for i in plan.outside)
    digest = hashlib.sha256((body + fingerprints).encode()).hexdigest()[:20]
    return f"{body}{fingerprints}\n<!-- gofix-defer:review={digest} -->"


# --- posting ----------------------------------------------------------------


def existing_fingerprints(comments: Sequence[dict], reviews: Sequence[dict]) -> set[str]:
    """Fingerprints an earlier run posted and that still stand.

    Outdated comments (GitHub sets their ``line`` to null) are left alone and
    do not count: if the fix is still needed on the new code, it is posted anew.
    """
    found: set[str] = set()
    for comment in comments:
        if comment.get("line") is not None:
            found.update(FINGERPRINT_RE.findall(comment.get("body") or ""))
    for review in reviews:
        found.update(FINGERPRINT_RE.findall(review.get("body") or ""))
    return found


@dataclass
class Outcome:
    posted: dict | None = None
    refused: list[str] = field(default_factory=list)
    fallback: str | None = None


def find_refused(client: GitHubClient, pr: PullRequest, comments: list[dict]) -> list[tuple[int, str]]:
    """Which comments GitHub refuses, by bisection with pending reviews.

    GitHub's 422 does not say which comment is wrong. A pending review is
    visible only to its author and is deleted right away, so probing with
    halves finds the culprits in O(k log n) calls without posting anything.
    """
    refused: list[tuple[int, str]] = []

    def probe(indexes: list[int]) -> None:
        try:
            review = client.create_review(pr.number, pr.head_sha, "", [comments[i] for i in indexes], event=None)
        except Unprocessable as error:
            if len(indexes) == 1:
                refused.append((indexes[0], "; ".join(error.errors) or error.message))
                return
            middle = len(indexes) // 2
            probe(indexes[:middle])
            probe(indexes[middle:])
            return
        client.delete_pending_review(pr.number, review["id"])

    probe(list(range(len(comments))))
    return sorted(refused)


def post_review(client: GitHubClient, pr: PullRequest, plan: Plan, log: Callable[[str], None]) -> Outcome:
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
        plan.outside.append(Outside(block, "refused by GitHub as a comment"))
    plan.comments = [b for i, b in enumerate(plan.comments) if i not in refused_indexes]
    payload = [comment_payload(block) for block in plan.comments]
    outcome.posted = client.create_review(pr.number, pr.head_sha, review_body(plan, outcome.refused), payload)
    return outcome


def print_fallback(plan: Plan, out: TextIO) -> None:
    """Without permission to post: the suggestions as annotations and as a diff in the log."""
    for block in plan.comments + [item.block for item in plan.outside]:
        title = ", ".join(sorted({d.rule for d in block.diagnostics})) or "follow-up"
        message = "Suggested change:\n" + block.replacement.decode("utf-8", "replace")
        out.write(github_annotation(block.path, block.start, block.end, 0, f"gofix-defer: {title}", message) + "\n")
    for path in sorted(plan.fixed):
        out.write(unified_diff(path, plan.heads[path], plan.fixed[path]).decode("utf-8", "replace"))


def run_review(
    client: GitHubClient,
    pr: PullRequest,
    repo_root: str,
    rules: Sequence[Rule],
    unsafe_fixes: bool,
    max_comments: int,
    dry_run: bool,
    out: TextIO,
    log: Callable[[str], None],
) -> int:
    """The whole bot; returns the exit code (0 done, 2 failed)."""
    try:
        if pr.head_sha is None or pr.base_sha is None:
            head, base = client.pull_request_shas(pr.number)
            pr.head_sha, pr.base_sha = pr.head_sha or head, pr.base_sha or base
        files = client.list_files(pr.number)
        already = existing_fingerprints(client.list_review_comments(pr.number), client.list_reviews(pr.number))
    except GitHubError as error:
        log(f"error: {error}")
        return 2
    if len(files) >= GITHUB_FILE_LIST_CAP:
        log(f"note: GitHub lists at most {GITHUB_FILE_LIST_CAP} files of a pull request; files past that are not checked")
    go_files = [f for f in files if wanted(f["filename"], f.get("status", ""))]
    log(f"pull request #{pr.number}: {len(files)} changed file(s), {len(go_files)} Go file(s) to check")
    plan = plan_review(files, pr, repo_root, rules, unsafe_fixes, already, max_comments)
    for message in plan.errors:
        log(f"error: {message}")
    for note in client.retries:
        log(note)
    client.retries.clear()
    if plan.empty:
        log("nothing new to suggest" + (f" ({plan.already_posted} already posted)" if plan.already_posted else ""))
        return 2 if plan.errors else 0
    if dry_run:
        review = {"commit_id": pr.head_sha, "event": "COMMENT", "body": review_body(plan),
                  "comments": [comment_payload(block) for block in plan.comments]}
        out.write(json.dumps(review, indent=2, ensure_ascii=False) + "\n")
        log(f"dry run: would post 1 review with {len(plan.comments)} comment(s)")
        return 2 if plan.errors else 0
    try:
        outcome = post_review(client, pr, plan, log)
    except PermissionDenied as error:
        log(f"cannot post the review ({error}); a read-only token, e.g. on a pull request from a fork. "
            "The suggestions follow as annotations and a diff.")
        print_fallback(plan, out)
        return 2 if plan.errors else 0
    except GitHubError as error:
        log(f"error: {error}")
        return 2
    finally:
        for note in client.retries:
            log(note)
        client.retries.clear()
    review_id = outcome.posted.get("id") if outcome.posted else None
    log(f"posted review {review_id} with {len(plan.comments)} suggestion(s); {len(plan.outside)} fix(es) in its body")
    return 2 if plan.errors else 0
