"""The GitHub REST calls the bot makes, with an honest retry policy.

PyGithub does the HTTP, authentication, `Link` pagination and object model.
Its own urllib3-level retry (GithubRetry) is switched off and this module
retries one level up instead: only here can a failed review POST be checked
for having been created after all before it is sent again, every wait be
named in the log, and the sleep be injected so tests never wait.

* 403/429 rate limits: wait ``Retry-After`` seconds when given, else until
  ``x-ratelimit-reset`` when ``x-ratelimit-remaining`` is 0, else (secondary
  limits without headers) back off from 60 s, doubling; never longer than
  ``max_wait`` in one go, and at most ``max_attempts`` tries.
* 5xx and connection errors: a bounded number of retries with short backoff.
* Anything else is raised as a typed error for the caller to handle.

``sleep`` and ``clock`` are injectable so tests never wait.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import requests
from github import Auth, Github, GithubException

T = TypeVar("T")

SECONDARY_LIMIT_FIRST_WAIT = 60.0  # GitHub: "wait at least one minute" before retrying


class GitHubError(Exception):
    """A failed API call, with the status and GitHub's message (never the token)."""

    def __init__(self, what: str, status: int | None, message: str, errors: list[str] | None = None) -> None:
        self.what, self.status, self.message, self.errors = what, status, message, errors or []
        detail = "; ".join(self.errors)
        text = f"{what} failed" + (f" (HTTP {status})" if status else "") + f": {message}"
        super().__init__(text + (f" ({detail})" if detail else ""))


class AuthenticationError(GitHubError):
    """401: the token was rejected."""


class PermissionDenied(GitHubError):
    """403 that is not a rate limit: e.g. a read-only token on a fork's pull request."""


class Unprocessable(GitHubError):
    """422: GitHub refused the payload (e.g. a comment line outside the diff)."""


class RateLimited(GitHubError):
    """A rate limit that would need a longer wait (or more tries) than allowed."""


@dataclass
class RetryPolicy:
    max_attempts: int = 5
    max_wait: float = 900.0  # one wait, seconds
    server_error_retries: int = 3
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time


def _headers(error: GithubException) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (error.headers or {}).items()}


def _message(error: GithubException) -> tuple[str, list[str]]:
    data = error.data if isinstance(error.data, dict) else {}
    message = str(data.get("message") or error.data or "")
    errors = []
    for item in data.get("errors") or []:
        if isinstance(item, dict):
            errors.append(str(item.get("message") or item.get("code") or item))
        else:
            errors.append(str(item))
    return message, errors


def rate_limit_wait(status: int, headers: dict[str, str], message: str, attempt: int, now: float) -> float | None:
    """Seconds to wait before retrying a rate-limited call, or None if it is not one."""
    if status not in (403, 429):
        return None
    retry_after = headers.get("retry-after")
    if retry_after is not None:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            pass
    if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
        try:
            return max(1.0, float(headers["x-ratelimit-reset"]) - now + 1.0)
        except ValueError:
            pass
    if status == 429 or "rate limit" in message.lower():
        return SECONDARY_LIMIT_FIRST_WAIT * (2**attempt)
    return None


class GitHubClient:
    def __init__(self, token: str | None, api_url: str, repository: str, policy: RetryPolicy | None = None,
                 throttle: bool = True) -> None:
        self.policy = policy or RetryPolicy()
        self.retries: list[str] = []  # what was retried and why, for the log
        # PyGithub's own throttle spaces writes 1 s apart (GitHub's advice
        # against secondary limits); tests switch it off.
        self._github = Github(
            auth=Auth.Token(token) if token else None,
            base_url=api_url.rstrip("/"),
            retry=None,
            per_page=100,
            lazy=True,
            seconds_between_requests=0.25 if throttle else None,
            seconds_between_writes=1.0 if throttle else None,
            user_agent="gofix-defer-review",
        )
        self._repo = self._github.get_repo(repository)

    def call(self, what: str, fn: Callable[[], T]) -> T:
        policy = self.policy
        rate_attempt = server_attempt = 0
        while True:
            try:
                return fn()
            except GithubException as error:
                status = error.status
                message, errors = _message(error)
                headers = _headers(error)
                if status == 401:
                    raise AuthenticationError(what, status, message or "bad credentials", errors) from None
                wait = rate_limit_wait(status, headers, message, rate_attempt, policy.clock())
                if wait is not None:
                    rate_attempt += 1
                    if rate_attempt >= policy.max_attempts or wait > policy.max_wait:
                        raise RateLimited(what, status, f"rate limited; would need to wait {wait:.0f}s "
                                          f"(attempt {rate_attempt}, limit {policy.max_wait:.0f}s)", errors) from None
                    self.retries.append(f"{what}: rate limited (HTTP {status}), waiting {wait:.0f}s")
                    policy.sleep(wait)
                    continue
                if status == 403:
                    raise PermissionDenied(what, status, message, errors) from None
                if status == 422:
                    raise Unprocessable(what, status, message, errors) from None
                if status is not None and status >= 500 and server_attempt < policy.server_error_retries:
                    server_attempt += 1
                    self.retries.append(f"{what}: HTTP {status}, retry {server_attempt}")
                    policy.sleep(float(2 ** (server_attempt - 1)))
                    continue
                raise GitHubError(what, status, message, errors) from None
            except requests.RequestException as error:
                if server_attempt < policy.server_error_retries:
                    server_attempt += 1
                    self.retries.append(f"{what}: {type(error).__name__}, retry {server_attempt}")
                    policy.sleep(float(2 ** (server_attempt - 1)))
                    continue
                raise GitHubError(what, None, f"connection failed: {type(error).__name__}") from None

    # --- the calls -----------------------------------------------------
    def _pull(self, number: int):
        return self._repo.get_pull(number)

    def pull_request_shas(self, number: int) -> tuple[str, str]:
        """(head sha, base sha) of the pull request."""

        def fetch() -> tuple[str, str]:
            data = self._pull(number).raw_data
            return data["head"]["sha"], data["base"]["sha"]

        return self.call("get pull request", fetch)

    def list_files(self, number: int) -> list[dict[str, Any]]:
        """Changed files: filename, status, patch (absent for large diffs)."""
        # Attributes, not raw_data: raw_data would fetch each listed object again.
        return self.call("list pull request files", lambda: [
            {"filename": f.filename, "status": f.status, "patch": f.patch} for f in self._pull(number).get_files()
        ])

    def list_review_comments(self, number: int) -> list[dict[str, Any]]:
        return self.call("list review comments", lambda: [
            {"id": c.id, "path": c.path, "line": c.line, "body": c.body} for c in self._pull(number).get_review_comments()
        ])

    def list_reviews(self, number: int) -> list[dict[str, Any]]:
        return self.call("list reviews", lambda: [
            {"id": r.id, "body": r.body, "state": r.state} for r in self._pull(number).get_reviews()
        ])

    def create_review(self, number: int, head_sha: str | None, body: str, comments: list[dict], event: str | None = "COMMENT") -> dict:
        """POST one review; ``event=None`` makes a pending review (used to probe comments).
        Without ``head_sha`` GitHub reviews the pull request's latest commit."""

        attempts: list[int] = []
        mark = re.search(r"<!-- gofix-defer:review=[0-9a-f]+ -->", body)

        def post() -> dict:
            # A POST that failed with 5xx may still have created the review:
            # before trying again, look for it by its hidden mark.
            if attempts and mark and event is not None:
                for review in self._pull(number).get_reviews():
                    if mark.group(0) in (review.body or ""):
                        return {"id": review.id, "body": review.body}
            attempts.append(1)
            kwargs: dict[str, Any] = {"body": body, "comments": comments}
            if head_sha:
                kwargs["commit"] = self._repo.get_commit(head_sha)
            if event is not None:
                kwargs["event"] = event
            review = self._pull(number).create_review(**kwargs)
            return {"id": review.id, "body": review.body}

        return self.call("create review", post)

    def delete_pending_review(self, number: int, review_id: int) -> None:
        self.call("delete pending review", lambda: self._pull(number).get_review(review_id).delete())
