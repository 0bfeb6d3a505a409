"""`gofix-defer review`: post the fixes for one pull request as suggestions."""

from __future__ import annotations

import json
import os
import sys
from typing import List, Optional

import typer

from gofix_defer.codemods.cli.options import select_rules, split_names
from gofix_defer.codemods.github.client import GitHubClient, RetryPolicy
from gofix_defer.codemods.github.review import PullRequest, run_review


def event_payload(path: str | None) -> dict:
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def redacting_log(token: str | None):
    def log(message: str) -> None:
        if token:
            message = message.replace(token, "***")
        sys.stderr.write(message + "\n")
        sys.stderr.flush()

    return log


def review(
    repository: Optional[str] = typer.Option(None, "--repo", help="owner/name (default: $GITHUB_REPOSITORY)."),
    pr_number: Optional[int] = typer.Option(None, "--pr", help="Pull request number (default: from $GITHUB_EVENT_PATH)."),
    head_sha: Optional[str] = typer.Option(None, "--head-sha", help="Head commit (default: event payload, else the API)."),
    base_sha: Optional[str] = typer.Option(None, "--base-sha", help="Base commit (default: event payload, else the API)."),
    api_url: Optional[str] = typer.Option(None, "--api-url", help="REST API base (default: $GITHUB_API_URL or https://api.github.com)."),
    token_env: str = typer.Option("GITHUB_TOKEN", "--token-env", help="Environment variable holding the token (never a flag, so it stays out of process lists)."),
    repo_root: str = typer.Option(".", "--repo-root", help="The local git checkout of the repository."),
    unsafe_fixes: bool = typer.Option(False, "--unsafe-fixes", help="Also suggest fixes marked unsafe."),
    select: Optional[List[str]] = typer.Option(None, "--select", help="Only these rules (comma-separated)."),
    ignore: Optional[List[str]] = typer.Option(None, "--ignore", help="Skip these rules (comma-separated)."),
    max_comments: int = typer.Option(25, "--max-comments", min=0, help="Suggestion comments per review; the rest go into the body."),
    max_wait: float = typer.Option(900.0, "--max-wait", help="Longest single wait for a rate limit, in seconds."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the review as JSON instead of posting it."),
) -> None:
    """Post gofix-defer's fixes on a pull request as one review with suggestions."""
    env = os.environ
    token = env.get(token_env) or None
    log = redacting_log(token)
    event = event_payload(env.get("GITHUB_EVENT_PATH"))
    pull = event.get("pull_request") or {}
    repository = repository or env.get("GITHUB_REPOSITORY")
    number = pr_number or pull.get("number") or event.get("number")
    head_sha = head_sha or (pull.get("head") or {}).get("sha")
    base_sha = base_sha or (pull.get("base") or {}).get("sha")
    api_url = api_url or env.get("GITHUB_API_URL") or "https://api.github.com"
    missing = [name for name, value in (("--repo / GITHUB_REPOSITORY", repository),
                                        ("--pr / a pull_request event", number)) if not value]
    if not token and not dry_run:
        missing.append(f"a token in ${token_env}")
    if missing:
        log(f"error: missing {', '.join(missing)}")
        raise typer.Exit(2)
    try:
        rules = select_rules(split_names(select), split_names(ignore))
    except typer.BadParameter as error:
        log(f"error: {error}")
        raise typer.Exit(2) from None
    try:
        pull_number = int(number)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        log(f"error: the pull request number {number!r} is not a number")
        raise typer.Exit(2) from None
    assert repository is not None  # checked with the other missing values above
    client = GitHubClient(token, api_url, repository, RetryPolicy(max_wait=max_wait, sleep=SLEEP),
                          throttle=THROTTLE)
    pr = PullRequest(repository, pull_number, head_sha, base_sha)
    code = run_review(client, pr, repo_root, rules, unsafe_fixes, max_comments, dry_run, sys.stdout, log)
    raise typer.Exit(code)


def _sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


# Tests replace these: count waits instead of waiting, no request spacing.
SLEEP = _sleep
THROTTLE = True
