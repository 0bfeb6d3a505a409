"""The GitHub REST calls the bot makes, with an honest retry policy and hard bounds.

PyGithub (the ``github`` extra) does authentication, the request encoding and
the typed HTTP errors; its ``Requester`` runs over ``transport.GuardedConnection``,
which talks only to the API's origin, bounds every response in time and size,
and follows no redirect. Pagination is done here, not by PyGithub: a ``Link``
page on another origin is refused (the token never leaves the API's host),
and at most ``max_pages`` pages are read, the listing saying when it stopped
early. Replies are checked for their shape before anything reads them.

Retries live here too, one level above PyGithub (whose own urllib3 retry is
off): only here can a failed review POST be checked for having been created
after all before it is sent again, every wait be named in the log, waits be
kept inside the run's deadline, and the sleep be injected so tests never wait.

* 403/429 rate limits: wait ``Retry-After`` seconds when given, else until
  ``x-ratelimit-reset`` when ``x-ratelimit-remaining`` is 0, else (secondary
  limits without headers) back off from 60 s, doubling; never longer than
  ``max_wait`` in one go, never past the deadline, at most ``max_attempts`` tries.
* 5xx, dropped connections and timed-out responses: a bounded number of
  retries with short backoff.
* Anything else is raised as a typed error (``errors.py``), its text redacted.
"""

from __future__ import annotations

import math
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from github import Auth, Github, GithubException
from github.Requester import Requester

from gofix_defer.codemods.github.errors import (
    AuthenticationError,
    DeadlineExceeded,
    GitHubError,
    PermissionDenied,
    RateLimited,
    UnexpectedReply,
    Unprocessable,
)
from gofix_defer.codemods.github.gitrepo import valid_sha
from gofix_defer.codemods.github.redact import Redactor
from gofix_defer.codemods.github.transport import (
    Deadline,
    DeadlinePassed,
    Limits,
    TransportError,
    connection_classes,
    origin_of,
    plain_number,
)

T = TypeVar("T")

SECONDARY_LIMIT_FIRST_WAIT = 60.0  # GitHub: "wait at least one minute" before retrying
ACTIONS_BOT = "github-actions[bot]"
REPOSITORY_RE = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")
_LINK_RE = re.compile(r'<([^>]*)>\s*;\s*rel="?([^";,]+)"?')


@dataclass
class RetryPolicy:
    max_attempts: int = 5
    max_wait: float = 900.0  # one wait, seconds
    server_error_retries: int = 3
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time


@dataclass
class Listing:
    """The items of a paginated listing; ``truncated`` when the page cap stopped it early."""

    items: list[Any] = field(default_factory=list)
    pages: int = 0
    truncated: bool = False


def _headers(error: GithubException) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (error.headers or {}).items()}


def _message(error: GithubException) -> tuple[str, list[str]]:
    data = error.data if isinstance(error.data, dict) else {}
    message = data.get("message")
    message = str(message) if isinstance(message, (str, int, float)) and message != "" else str(error.data or "")
    errors = []
    listed = data.get("errors")
    for item in listed if isinstance(listed, list) else []:
        if isinstance(item, dict):
            errors.append(str(item.get("message") or item.get("code") or item))
        else:
            errors.append(str(item))
    return message[:2000], [e[:2000] for e in errors[:20]]


def rate_limit_wait(status: int, headers: dict[str, str], message: str, attempt: int, now: float) -> float | None:
    """Seconds to wait before retrying a rate-limited call, or None if it is not one."""
    if status not in (403, 429):
        return None
    retry_after = plain_number(headers.get("retry-after", ""))
    if retry_after is not None:
        return retry_after
    reset = plain_number(headers.get("x-ratelimit-reset", ""))
    if plain_number(headers.get("x-ratelimit-remaining", "")) == 0 and reset is not None:
        return max(1.0, reset - now + 1.0)
    if status == 429 or "rate limit" in message.lower():
        return SECONDARY_LIMIT_FIRST_WAIT * (2 ** min(attempt, 16))
    return None


def next_link(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    for url, rel in _LINK_RE.findall(value):
        if "next" in rel.split():
            return url
    return None


class GitHubClient:
    def __init__(self, token: str | None, api_url: str, repository: str, policy: RetryPolicy | None = None,
                 throttle: bool = True, deadline: Deadline | None = None, response_timeout: float = 60.0,
                 max_pages: int = 30, redact: Redactor | None = None, own_logins: tuple[str, ...] = ()) -> None:
        if not REPOSITORY_RE.fullmatch(repository) or any(part in (".", "..") for part in repository.split("/")):
            raise ValueError(f"not a repository name (owner/name): {repository!r}")
        self.policy = policy or RetryPolicy()
        self.deadline = deadline or Deadline(None)
        self.max_pages = max_pages
        self.redact = redact or Redactor([token])
        self.retries: list[str] = []  # what was retried and why, for the log
        self.own_logins = {ACTIONS_BOT, *own_logins}
        base = api_url.rstrip("/")
        self.origin = origin_of(base)
        self.prefix = urllib.parse.urlsplit(base).path.rstrip("/")
        self.repo_path = "/repos/" + "/".join(urllib.parse.quote(part, safe="") for part in repository.split("/"))
        limits = Limits(self.origin, self.deadline, response_timeout)
        # The connection class is chosen when the Requester is made: inject first.
        Requester.injectConnectionClasses(*connection_classes(limits))  # type: ignore[arg-type]
        # PyGithub's own throttle spaces writes 1 s apart (GitHub's advice
        # against secondary limits); tests switch it off.
        self._github = Github(
            auth=Auth.Token(token) if token else None,
            base_url=base,
            timeout=max(1, math.ceil(response_timeout)),
            retry=None,
            per_page=100,
            lazy=True,
            seconds_between_requests=0.25 if throttle else None,
            seconds_between_writes=1.0 if throttle else None,
            user_agent="gofix-defer-review",
        )
        self._requester = self._github.requester

    def close(self) -> None:
        Requester.resetConnectionClasses()

    # --- retries ----------------------------------------------------------
    def _wait(self, what: str, seconds: float) -> None:
        if seconds >= self.deadline.remaining():
            raise DeadlineExceeded(what, None, f"would have to wait {seconds:.0f}s, past {self.deadline.describe()}")
        self.policy.sleep(seconds)

    def call(self, what: str, fn: Callable[[], T]) -> T:
        policy = self.policy
        rate_attempt = server_attempt = 0
        while True:
            if self.deadline.expired():
                raise DeadlineExceeded(what, None, f"{self.deadline.describe()} passed")
            try:
                return fn()
            except GithubException as error:
                status = error.status
                message, errors = _message(error)
                message, errors = self.redact(message), [self.redact(e) for e in errors]
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
                    self._wait(what, wait)
                    continue
                if status == 403:
                    raise PermissionDenied(what, status, message, errors) from None
                if status == 422:
                    raise Unprocessable(what, status, message, errors) from None
                if status is not None and status >= 500 and server_attempt < policy.server_error_retries:
                    server_attempt += 1
                    self.retries.append(f"{what}: HTTP {status}, retry {server_attempt}")
                    self._wait(what, float(2 ** (server_attempt - 1)))
                    continue
                raise GitHubError(what, status, message, errors) from None
            except DeadlinePassed as error:
                raise DeadlineExceeded(what, None, self.redact(str(error))) from None
            except TransportError as error:
                text = self.redact(str(error))
                if error.retry and server_attempt < policy.server_error_retries:
                    server_attempt += 1
                    self.retries.append(f"{what}: {text}, retry {server_attempt}")
                    self._wait(what, float(2 ** (server_attempt - 1)))
                    continue
                raise UnexpectedReply(what, None, text) from None
            except (ValueError, TypeError, KeyError, AttributeError, AssertionError, RuntimeError, RecursionError) as error:
                # PyGithub choking on a reply it did not expect.
                raise UnexpectedReply(what, None, f"unexpected reply from the API ({type(error).__name__})") from None

    # --- requests ---------------------------------------------------------
    def _request(self, verb: str, url: str, parameters: dict[str, Any] | None = None,
                 body: dict[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
        headers, data = self._requester.requestJsonAndCheck(verb, url, parameters=parameters, input=body)
        return {str(k).lower(): v for k, v in (headers or {}).items()}, data

    def _follow(self, what: str, url: str) -> str:
        """A ``Link`` URL as a path on the API, or refused when it leaves the API's origin."""
        absolute = urllib.parse.urljoin(f"{self.origin[0]}://{self.origin[1]}:{self.origin[2]}{self.prefix}/", url)
        try:
            origin = origin_of(absolute)
        except ValueError:
            origin = None
        parsed = urllib.parse.urlsplit(absolute)
        if origin != self.origin or not (parsed.path + "/").startswith(self.prefix + "/"):
            where = f"{parsed.scheme}://{parsed.hostname}" + (f":{parsed.port}" if parsed.port else "") if parsed.hostname else "an unreadable address"
            raise UnexpectedReply(what, None, f"a page link points to {where}, outside the API; it was not followed "
                                  "(the token is only sent to the API's own host)")
        path = parsed.path[len(self.prefix):] or "/"
        return path + (f"?{parsed.query}" if parsed.query else "")

    def paginate(self, what: str, path: str) -> Listing:
        listing = Listing()
        url: str | None = path
        parameters: dict[str, Any] | None = {"per_page": 100}
        seen: set[str] = set()
        while url is not None:
            if listing.pages >= self.max_pages:
                listing.truncated = True
                break
            def fetch(current: str = url, query: dict[str, Any] | None = parameters) -> tuple[dict[str, Any], Any]:
                return self._request("GET", current, query)

            headers, data = self.call(what, fetch)
            listing.pages += 1
            if not isinstance(data, list):
                raise UnexpectedReply(what, None, "the reply is not a list")
            listing.items.extend(data)
            following = next_link(headers.get("link"))
            if following is None:
                break
            url, parameters = self._follow(what, following), None
            if url in seen:
                raise UnexpectedReply(what, None, "the page links go round in a circle")
            seen.add(url)
        return listing

    # --- the calls --------------------------------------------------------
    def authenticated_login(self) -> str | None:
        """The token's user, when the token may ask (an Actions token may not: 403)."""
        try:
            _, data = self.call("get the authenticated user", lambda: self._request("GET", "/user"))
        except (PermissionDenied, UnexpectedReply, RateLimited):
            return None
        except GitHubError as error:
            if isinstance(error, (AuthenticationError, DeadlineExceeded)) or error.status is None or error.status >= 500:
                raise
            return None
        login = data.get("login") if isinstance(data, dict) else None
        return login if isinstance(login, str) and login else None

    def pull_request_shas(self, number: int) -> tuple[str, str]:
        """(head sha, base sha) of the pull request, checked to be commit ids."""
        what = "get pull request"
        _, data = self.call(what, lambda: self._request("GET", f"{self.repo_path}/pulls/{number}"))
        if not isinstance(data, dict):
            raise UnexpectedReply(what, None, "the reply is not an object")
        shas: list[str] = []
        for side in ("head", "base"):
            entry = data.get(side)
            sha = entry.get("sha") if isinstance(entry, dict) else None
            if not isinstance(sha, str) or not valid_sha(sha):
                raise UnexpectedReply(what, None, f"the pull request has no valid {side} commit")
            shas.append(sha)
        return shas[0], shas[1]

    def list_files(self, number: int) -> Listing:
        """Changed files (raw entries: filename, status, patch, previous_filename); checked by the caller."""
        return self.paginate("list pull request files", f"{self.repo_path}/pulls/{number}/files")

    def list_review_comments(self, number: int) -> Listing:
        return self.paginate("list review comments", f"{self.repo_path}/pulls/{number}/comments")

    def list_reviews(self, number: int) -> Listing:
        return self.paginate("list reviews", f"{self.repo_path}/pulls/{number}/reviews")

    def is_own(self, item: object) -> bool:
        """Was this comment or review written by the bot (the token's user or the Actions bot)?"""
        user = item.get("user") if isinstance(item, dict) else None
        login = user.get("login") if isinstance(user, dict) else None
        return isinstance(login, str) and login in self.own_logins

    def create_review(self, number: int, head_sha: str | None, body: str, comments: list[dict],
                      event: str | None = "COMMENT") -> dict:
        """POST one review; ``event=None`` makes a pending review (used to probe comments).
        Without ``head_sha`` GitHub reviews the pull request's latest commit."""
        what = "create review" if event is not None else "probe comments with a pending review"
        attempts: list[int] = []
        body = self.redact(body)
        comments = [dict(c, body=self.redact(str(c.get("body", "")))) for c in comments]
        mark = re.search(r"<!-- gofix-defer:review=[0-9a-f]+ -->", body)
        payload: dict[str, Any] = {"body": body, "comments": comments}
        if head_sha:
            payload["commit_id"] = head_sha
        if event is not None:
            payload["event"] = event

        def post() -> tuple[dict[str, Any], Any]:
            # A POST that failed with 5xx may still have created the review:
            # before trying again, look for it by its hidden mark.
            if attempts and mark and event is not None:
                for review in self.list_reviews(number).items:
                    if self.is_own(review) and mark.group(0) in str(review.get("body") or ""):
                        return {}, review
            attempts.append(1)
            return self._request("POST", f"{self.repo_path}/pulls/{number}/reviews", body=payload)

        _, data = self.call(what, post)
        review_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(review_id, int) or isinstance(review_id, bool):
            raise UnexpectedReply(what, None, "GitHub's reply names no review id; whether the review was created is unknown")
        return {"id": review_id, "body": data.get("body")}

    def delete_pending_review(self, number: int, review_id: int) -> None:
        self.call("delete pending review",
                  lambda: self._request("DELETE", f"{self.repo_path}/pulls/{number}/reviews/{review_id}"))
