"""`gofix-defer review`: post the fixes for one pull request as suggestions.

The GitHub SDK is imported only when the API is used, so a plain install
(without the ``github`` extra) runs ``gofix-defer`` and the offline dry run,
and says what to install for the rest. Everything this command prints goes
through the redactor, and no exception leaves it: an unexpected one is
reported in one line (redacted, no traceback, no local variables) and exits 2.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Callable, List, Optional

import typer

from gofix_defer.codemods.cli.options import default_names, select_rules, split_names

EXIT_ERROR = 2
INSTALL_HINT = ("gofix-defer review needs the GitHub extra, which a plain install leaves out: "
                "pip install 'gofix-defer[github]' (pipx: pipx inject gofix-defer PyGithub; "
                "uv: uv tool install 'gofix-defer[github]')")


def event_payload(path: str | None) -> tuple[dict, str | None]:
    """The Actions event (``$GITHUB_EVENT_PATH``) and, when it cannot be used, why."""
    if not path:
        return {}, None
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as error:
        return {}, f"cannot read the event file {path}: {error.strerror or error}"
    except (ValueError, RecursionError):
        return {}, f"the event file {path} is not JSON"
    return (data, None) if isinstance(data, dict) else ({}, f"the event file {path} is not a JSON object")


def pr_number(value: object) -> int | None:
    """A pull request number from the event: a positive integer, or its decimal digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value < 10**12 else None
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,12}", value.strip()):
        number = int(value.strip())
        return number if number > 0 else None
    return None


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _printers(redact: Callable[[str], str]) -> tuple[Callable[[str], None], Callable[[str], None]]:
    def log(message: str) -> None:
        sys.stderr.write(redact(message) + "\n")
        sys.stderr.flush()

    def write(text: str) -> None:
        sys.stdout.write(redact(text))
        sys.stdout.flush()

    return log, write


def review(
    repository: Optional[str] = typer.Option(None, "--repo", metavar="OWNER/NAME", help="owner/name (default: $GITHUB_REPOSITORY)."),
    number_option: Optional[int] = typer.Option(None, "--pr", min=1, metavar="NUMBER", help="Pull request number (default: from $GITHUB_EVENT_PATH)."),
    head: Optional[str] = typer.Option(None, "--head", "--head-sha", metavar="REF", help="Head commit or ref (default: the event payload, else the API)."),
    base: Optional[str] = typer.Option(None, "--base", "--base-sha", metavar="REF", help="Base commit or ref (default: the event payload, else the API)."),
    api_url: Optional[str] = typer.Option(None, "--api-url", metavar="URL", help="REST API base (default: $GITHUB_API_URL or https://api.github.com)."),
    token_env: str = typer.Option("GITHUB_TOKEN", "--token-env", metavar="NAME", help="Environment variable holding the token (never a flag, so it stays out of process lists)."),
    repo_root: str = typer.Option(".", "--repo-root", metavar="DIR", help="The local git checkout of the repository."),
    unsafe_fixes: bool = typer.Option(False, "--unsafe-fixes", help="Also suggest fixes marked unsafe."),
    select: Optional[List[str]] = typer.Option(None, "--select", metavar="RULES", help="Only these rules (comma-separated)."),
    ignore: Optional[List[str]] = typer.Option(None, "--ignore", metavar="RULES", help="Skip these rules (comma-separated)."),
    config: Optional[str] = typer.Option(None, "--config", metavar="FILE", help="Use this configuration file for every file (else: the nearest gofix-defer.toml above each)."),
    isolated: bool = typer.Option(False, "--isolated", help="Read no configuration file."),
    include_all: bool = typer.Option(False, "--all", help="Also review findings on lines the pull request does not change (summarised in the body)."),
    max_comments: int = typer.Option(25, "--max-comments", min=0, metavar="N", help="Suggestion comments per review; the rest go into the body."),
    max_wait: float = typer.Option(900.0, "--max-wait", min=0, metavar="SECONDS", help="Longest single wait for a rate limit, in seconds."),
    timeout: float = typer.Option(1200.0, "--timeout", min=1, metavar="SECONDS", help="Deadline for the whole run, in seconds; what it cuts short is reported."),
    request_timeout: float = typer.Option(60.0, "--request-timeout", min=1, metavar="SECONDS", help="Longest one API response may take, in seconds, however slowly it trickles."),
    max_pages: int = typer.Option(30, "--max-pages", min=1, metavar="N", help="Pages (of 100) read per listing; what lies beyond is reported as skipped."),
    bot_logins: Optional[List[str]] = typer.Option(None, "--bot-login", metavar="LOGIN", help="Another login whose earlier comments are this bot's own, besides the token's user and the Actions bot (repeatable)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the review as JSON instead of posting it; with --base and --head, offline: local git only, no token, no network."),
) -> None:
    """Post gofix-defer's fixes on a pull request as one review with suggestions."""
    from gofix_defer.codemods.github.redact import Redactor
    from gofix_defer.codemods.github.transport import Deadline

    env = os.environ
    token = env.get(token_env) or None
    redact = Redactor([token])
    log, write = _printers(redact)
    deadline = Deadline(timeout)
    try:
        code = _review(env, token, redact, log, write, deadline, repository, number_option, head, base, api_url,
                       token_env, repo_root, unsafe_fixes, select, ignore, config, isolated, include_all, max_comments,
                       max_wait, request_timeout, max_pages, list(bot_logins or ()), dry_run)
    except typer.Exit:
        raise
    except Exception as error:  # the boundary: one redacted line, never a traceback with locals
        log(f"error: internal error in gofix-defer review: {type(error).__name__}: {error}")
        code = EXIT_ERROR
    raise typer.Exit(code)


def _config_settings(select: list[str] | None, ignore: list[str], unsafe_fixes: bool, config: str | None,
                     isolated: bool):  # -> Callable[[str], Settings | None]
    """Each file's settings as `gofix-defer` would give it: the nearest gofix-defer.toml, the flags on top."""
    from gofix_defer.codemods.engine.process import Settings
    from gofix_defer.codemods.run.config import ConfigFinder, Overrides, Resolver
    from gofix_defer.rules import ALL_RULES

    by_name = {rule.name: rule for rule in ALL_RULES}
    names = list(by_name)
    overrides = Overrides(select=tuple(select) if select is not None else None, ignore=tuple(ignore),
                          unsafe_fixes=True if unsafe_fixes else None)
    resolver = Resolver(ConfigFinder(names, explicit=config, isolated=isolated), overrides, names, default_names())

    def settings(path: str):
        decision = resolver.decide(path)
        if decision.settings is None:
            return None
        chosen = decision.settings
        return Settings(rules=[by_name[name] for name in chosen.rules], go_version=chosen.go_version,
                        unsafe_fixes=chosen.unsafe_fixes, apply_fixes=False)

    return settings


def _review(env, token, redact, log, write, deadline, repository, number_option, head, base, api_url, token_env,
            repo_root, unsafe_fixes, select, ignore, config, isolated, include_all, max_comments, max_wait,
            request_timeout, max_pages, bot_logins, dry_run) -> int:
    from gofix_defer.codemods.github.errors import GitError
    from gofix_defer.codemods.github.gitrepo import GitRepo, valid_sha
    from gofix_defer.codemods.github.review import HeadTree, PullRequest, RunOptions, run_offline, run_review

    try:
        rules = select_rules(split_names(select), split_names(ignore))
    except typer.BadParameter as error:
        log(f"error: {error}")
        return EXIT_ERROR
    if config is not None and isolated:
        log("error: --config and --isolated cannot be combined")
        return EXIT_ERROR
    try:
        settings_for = _config_settings(split_names(select) if select is not None else None, split_names(ignore),
                                        unsafe_fixes, config, isolated)
    except Exception as error:  # run.config.ConfigError: a bad --config file, named with its key and line
        log(f"error: {error}")
        return EXIT_ERROR
    options = RunOptions(rules, unsafe_fixes, max_comments, include_all, dry_run, settings_for)
    repo = GitRepo(repo_root, deadline.remaining)

    if dry_run and head and base:
        # Offline: the range is local; nothing is asked of GitHub, no token is read.
        try:
            head_sha, base_sha = repo.resolve(head), repo.resolve(base)
        except GitError as error:
            log(f"error: {error}")
            return EXIT_ERROR
        pr = PullRequest(repository, number_option, head_sha, base_sha)
        return run_offline(HeadTree(repo_root, head_sha, repo), pr, options, write, log, deadline)

    event, event_problem = event_payload(env.get("GITHUB_EVENT_PATH"))
    pull = _dict(event.get("pull_request"))
    repository = repository or env.get("GITHUB_REPOSITORY")
    number = number_option
    if number is None:
        raw = pull.get("number", event.get("number"))
        number = pr_number(raw)
        if number is None and raw is not None:
            log(f"error: the pull request number in the event ({str(raw)[:40]!r}) is not a number")
            return EXIT_ERROR
    shas: dict[str, str | None] = {}
    for side, given in (("head", head), ("base", base)):
        if given:
            try:
                shas[side] = given if valid_sha(given) else repo.resolve(given)
            except GitError as error:
                log(f"error: --{side}: {error}")
                return EXIT_ERROR
            continue
        entry = pull.get(side)
        sha = entry.get("sha") if isinstance(entry, dict) else None
        if sha is not None and not valid_sha(sha):
            log(f"error: the event's {side} commit ({str(sha)[:80]!r}) is not a commit id")
            return EXIT_ERROR
        shas[side] = sha
    missing = [name for name, value in (("--repo / GITHUB_REPOSITORY", repository),
                                        ("--pr / a pull_request event", number)) if not value]
    if not token:
        missing.append(f"a token in ${token_env}" + (" (or, for an offline dry run, --base and --head)" if dry_run else ""))
    try:
        from gofix_defer.codemods.github.client import GitHubClient, RetryPolicy
    except ImportError as error:
        log(f"error: {INSTALL_HINT}" + ("" if getattr(error, "name", "") in ("github", None) else f" ({error})"))
        return EXIT_ERROR
    if missing:
        log(f"error: missing {', '.join(missing)}" + (f"; {event_problem}" if event_problem else ""))
        return EXIT_ERROR
    assert repository is not None and number is not None
    api = api_url or env.get("GITHUB_API_URL") or "https://api.github.com"
    try:
        client = GitHubClient(token, api, repository, RetryPolicy(max_wait=max_wait, sleep=SLEEP), throttle=THROTTLE,
                              deadline=deadline, response_timeout=request_timeout, max_pages=max_pages, redact=redact,
                              own_logins=tuple(bot_logins))
    except ValueError as error:
        log(f"error: {error}")
        return EXIT_ERROR
    try:
        pr = PullRequest(repository, number, shas["head"], shas["base"])
        return run_review(client, pr, HeadTree(repo_root, pr.head_sha, repo), options, write, log, deadline)
    finally:
        client.close()


def _sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


# Tests replace these: count waits instead of waiting, no request spacing.
SLEEP = _sleep
THROTTLE = True
