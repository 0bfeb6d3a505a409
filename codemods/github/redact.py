"""Keep credentials out of everything the bot sends to GitHub or prints.

A server (or a proxy in front of it) may echo the request back in an error,
Authorization header included; that text would otherwise reach the log, the
public review body, or the dry-run output. Every such string goes through
one ``Redactor``: the token itself (and the Basic-auth forms git uses for
it), any ``Authorization:`` header value, and anything shaped like a GitHub
token, become ``***``.
"""

from __future__ import annotations

import base64
import re
from typing import Iterable

MASK = "***"

# ghp_ (classic), gho_ (OAuth), ghu_ (user-to-server), ghs_ (installation /
# Actions), ghr_ (refresh), and fine-grained personal access tokens.
_TOKEN_SHAPES = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{20,})")
_AUTH_HEADER = re.compile(
    r"""(?ix)
    (\b(?:proxy-)?authorization["']?\s*[:=]\s*["']?)   # the header name and separator, kept
    (?:(?:token|bearer|basic|digest)\s+)?              # the scheme, dropped with the value
    [^\s"',;}\]]+                                      # the credential
    """
)


class Redactor:
    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if not secret or len(secret) < 4:
            return
        forms = {secret, base64.b64encode(f"x-access-token:{secret}".encode()).decode(),
                 base64.b64encode(secret.encode()).decode()}
        self._secrets = sorted(set(self._secrets) | forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        text = _AUTH_HEADER.sub(lambda m: m.group(1) + MASK, text)
        return _TOKEN_SHAPES.sub(MASK, text)

    def changes(self, text: str) -> bool:
        return self(text) != text
