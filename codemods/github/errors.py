"""The bot's failures, as types its callers can tell apart.

No import of the GitHub SDK here: the review planner and the offline dry run
use these without the ``github`` extra installed.
"""

from __future__ import annotations


class GitHubError(Exception):
    """A failed API call, with the status and GitHub's message (never the token)."""

    def __init__(self, what: str, status: int | None, message: str, errors: list[str] | None = None) -> None:
        self.what, self.status, self.message, self.errors = what, status, message, list(errors or [])
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


class UnexpectedReply(GitHubError):
    """The server answered, but not as GitHub's REST API does (not JSON, wrong shape, a redirect)."""


class DeadlineExceeded(GitHubError):
    """The run's overall deadline passed (or a wait would pass it)."""


class GitError(Exception):
    """A local git command failed or was given something that is not a commit."""
