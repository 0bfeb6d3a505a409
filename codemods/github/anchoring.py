"""Where on a pull request's diff a suggestion may be anchored.

GitHub accepts a review comment on side RIGHT only on lines of the head file
that appear in the diff (added or context lines), and a multi-line comment
only when start_line and line are in the same hunk. A hunk's RIGHT lines are
one contiguous range, so a block fits when it lies inside one such range.
"""

from __future__ import annotations

import subprocess

from unidiff import PatchSet
from unidiff.errors import UnidiffParseError


def hunk_ranges_from_patch(path: str, patch: str) -> list[tuple[int, int]]:
    """RIGHT-side (first, last) line ranges of the hunks in GitHub's ``patch`` field."""
    if not patch:
        return []
    text = patch if patch.endswith("\n") else patch + "\n"
    if not text.startswith("--- "):
        text = f"--- a/{path}\n+++ b/{path}\n" + text
    try:
        patch_set = PatchSet(text)
    except UnidiffParseError:
        return []
    ranges = []
    for patched in patch_set:
        for hunk in patched:
            if hunk.target_length > 0:
                ranges.append((hunk.target_start, hunk.target_start + hunk.target_length - 1))
    return ranges


def hunk_ranges_from_git(repo_root: str, base_sha: str, head_sha: str, path: str) -> list[tuple[int, int]] | None:
    """The same ranges from a local ``git diff base...head`` (None when git cannot tell).

    Three dots: against the merge base, as GitHub's pull request diff is.
    """
    try:
        completed = subprocess.run(
            ["git", "diff", "--no-color", "--no-ext-diff", "--unified=3", f"{base_sha}...{head_sha}", "--", path],
            cwd=repo_root, capture_output=True, check=False, timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if completed.returncode != 0:
        return None
    text = completed.stdout.decode("utf-8", "replace")
    hunks = text[text.find("\n@@") + 1 :] if "\n@@" in text else ""
    return hunk_ranges_from_patch(path, hunks)


def fits(ranges: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(first <= start and end <= last for first, last in ranges)
