"""The HTTP underneath PyGithub: one origin, bounded in time and size, no redirects.

PyGithub's own connection (``requests``) gives a read timeout per socket
read, so a server that trickles a byte every few seconds can hold a response
open for ever, and it follows what it is told. This connection class, given
to PyGithub through ``Requester.injectConnectionClasses``, instead:

* talks only to the API's own origin (scheme, host, port): a request for any
  other one is refused before a byte (or the token) is sent;
* gives every response one budget, ``min(response_timeout, time left in the
  run)``, for connecting, sending, the headers and the whole body; a watchdog
  shuts the socket when it runs out, however the server trickles;
* never follows a redirect (a 3xx is an error naming where it pointed);
* refuses a 2xx reply that is not JSON, and turns a non-JSON error page into
  ``{"message": ...}`` so the status still tells what happened;
* drops rate-limit headers that are not plain numbers (``nan``, ``inf``), so
  neither PyGithub nor the retry policy computes with them.
"""

from __future__ import annotations

import base64
import http.client
import json
import math
import re
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

MAX_RESPONSE_BYTES = 64 * 1024 * 1024
CONNECT_TIMEOUT = 30.0
NUMERIC_HEADERS = frozenset({"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "x-ratelimit-used", "retry-after"})
_PLAIN_NUMBER = re.compile(r"\d{1,15}(?:\.\d{1,9})?")


class TransportError(Exception):
    """A request that did not get a usable answer; ``retry`` says whether trying again may help."""

    retry = False


class Refused(TransportError):
    """Not sent or not followed: another origin, a redirect, a reply too large."""


class NotJSON(TransportError):
    """A successful status with a body that is not JSON."""


class ResponseTimeout(TransportError):
    retry = True


class ConnectionFailed(TransportError):
    retry = True


class DeadlinePassed(TransportError):
    """The run's overall deadline left no time for this request."""


@dataclass
class Deadline:
    """One overall deadline for a run; ``None`` seconds means none."""

    seconds: float | None
    clock: Callable[[], float] = time.monotonic
    _end: float = field(init=False)

    def __post_init__(self) -> None:
        self._end = math.inf if self.seconds is None else self.clock() + self.seconds

    def remaining(self) -> float:
        return max(0.0, self._end - self.clock())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def describe(self) -> str:
        return f"the run's deadline of {self.seconds:g}s (--timeout)" if self.seconds is not None else "the deadline"


def plain_number(value: object) -> float | None:
    """``value`` as a finite non-negative number when it is written as one, else None."""
    text = str(value).strip()
    if not _PLAIN_NUMBER.fullmatch(text):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def origin_of(url: str) -> tuple[str, str, int]:
    parsed = urllib.parse.urlsplit(url)
    scheme = parsed.scheme.lower()
    if scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    port = parsed.port or (443 if scheme == "https" else 80)
    return scheme, parsed.hostname.lower(), port


@dataclass
class Limits:
    origin: tuple[str, str, int]
    deadline: Deadline
    response_timeout: float = 60.0
    max_response_bytes: int = MAX_RESPONSE_BYTES
    verify: bool | str = True


class _Reply:
    """What PyGithub reads from a connection's ``getresponse()``."""

    def __init__(self, status: int, headers: list[tuple[str, str]], text: str) -> None:
        self.status = status
        self._headers = headers
        self._text = text

    def getheaders(self) -> list[tuple[str, str]]:
        return list(self._headers)

    def read(self) -> str:
        return self._text


def _ssl_context(verify: bool | str) -> ssl.SSLContext:
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if not isinstance(verify, str):
        try:
            import certifi  # PyGithub brings it (through requests); used as requests would

            context.load_verify_locations(certifi.where())
        except (ImportError, OSError):
            pass
    return context


class GuardedConnection:
    """A connection class of the shape PyGithub's Requester expects (``request`` then ``getresponse``)."""

    limits: ClassVar[Limits]
    scheme: ClassVar[str] = "https"

    def __init__(self, host: str, port: int | None = None, strict: bool = False, timeout: float | None = None,
                 retry: Any = None, pool_size: int | None = None, **kwargs: Any) -> None:
        self.host = host
        self.port = port or (443 if self.scheme == "https" else 80)
        self._request: tuple[str, str, Any, dict[str, str]] | None = None

    def request(self, verb: str, url: str, input: Any, headers: dict[str, str], stream: bool = False) -> None:
        self._request = (verb, url, input, dict(headers))

    def close(self) -> None:
        pass

    # --- one exchange -------------------------------------------------------
    def getresponse(self) -> _Reply:
        assert self._request is not None
        verb, url, body, headers = self._request
        limits = self.limits
        if (self.scheme, self.host.lower(), self.port) != limits.origin:
            raise Refused(f"a request for {self.scheme}://{self.host}:{self.port} was not sent: "
                          f"the bot talks only to {limits.origin[0]}://{limits.origin[1]}:{limits.origin[2]}")
        remaining = limits.deadline.remaining()
        if remaining <= 0:
            raise DeadlinePassed(f"{limits.deadline.describe()} passed")
        budget = min(limits.response_timeout, remaining)
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif body is not None and not isinstance(body, bytes):
            body = body.read()  # a file object (PyGithub's uploads); the bot sends none
        connection = self._connection(min(budget, CONNECT_TIMEOUT))
        fired = threading.Event()

        def abort() -> None:
            fired.set()
            sock = connection.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        watchdog = threading.Timer(budget, abort)
        watchdog.daemon = True
        started = time.monotonic()
        watchdog.start()
        try:
            connection.request(verb, url, body=body, headers=headers)
            if connection.sock is not None:
                connection.sock.settimeout(max(0.001, budget - (time.monotonic() - started)))
            response = connection.getresponse()
            chunks, size = [], 0
            while True:
                chunk = response.read1(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > limits.max_response_bytes:
                    raise Refused(f"the reply is larger than {limits.max_response_bytes // (1024 * 1024)} MB")
                chunks.append(chunk)
                if fired.is_set():
                    break
            status, raw_headers = response.status, response.getheaders()
        except TransportError:
            raise
        except (OSError, http.client.HTTPException, ValueError) as error:
            if fired.is_set():
                raise ResponseTimeout(self._timed_out(budget)) from None
            raise ConnectionFailed(f"connection failed: {type(error).__name__}") from None
        finally:
            watchdog.cancel()
            connection.close()
        if fired.is_set():
            raise ResponseTimeout(self._timed_out(budget))
        return self._reply(verb, status, raw_headers, b"".join(chunks))

    def _timed_out(self, budget: float) -> str:
        if budget < self.limits.response_timeout:
            return f"no complete reply before {self.limits.deadline.describe()}"
        return f"no complete reply within {budget:g}s (--request-timeout)"

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self.scheme == "http":
            return http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        context = _ssl_context(self.limits.verify)
        proxy = urllib.request.getproxies().get("https")
        if proxy and not urllib.request.proxy_bypass(self.host):
            parsed = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
            tunnel_headers = {}
            if parsed.username:
                credentials = f"{urllib.parse.unquote(parsed.username)}:{urllib.parse.unquote(parsed.password or '')}"
                tunnel_headers["Proxy-Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
            connection = http.client.HTTPSConnection(parsed.hostname or "", parsed.port or 80, timeout=timeout, context=context)
            connection.set_tunnel(self.host, self.port, headers=tunnel_headers)
            return connection
        return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=context)

    def _reply(self, verb: str, status: int, raw_headers: list[tuple[str, str]], data: bytes) -> _Reply:
        headers = []
        for name, value in raw_headers:
            lower = name.lower()
            if lower in NUMERIC_HEADERS and plain_number(value) is None:
                continue  # `nan`, `inf`, `-1`, text: as if absent
            headers.append((lower, value))
        if 300 <= status < 400:
            location = next((v for k, v in headers if k == "location"), "")
            where = f" to {origin_of_text(location)}" if location else ""
            raise Refused(f"the API answered with a redirect (HTTP {status}{where}); redirects are not followed")
        if status == 202 and verb == "GET":
            raise Refused("the API answered 202 Accepted (not ready) to a read")
        text = data.decode("utf-8", "replace")
        if text.strip():
            try:
                json.loads(text)
            except (ValueError, RecursionError):
                if 200 <= status < 300:
                    raise NotJSON(f"the reply (HTTP {status}) is not JSON: {_snippet(text)}") from None
                text = json.dumps({"message": _snippet(text)})
        return _Reply(status, headers, text)


def origin_of_text(url: str) -> str:
    """Where a URL points, for a message: scheme://host[:port] only (never a query that may hold a secret)."""
    try:
        parsed = urllib.parse.urlsplit(url)
        return f"{parsed.scheme}://{parsed.netloc.rsplit('@', 1)[-1]}" if parsed.netloc else "a relative location"
    except ValueError:
        return "an unreadable location"


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat[:120] + ("…" if len(flat) > 120 else "")


def connection_classes(limits: Limits) -> tuple[type[GuardedConnection], type[GuardedConnection]]:
    """(http, https) connection classes bound to ``limits``."""
    http_class = type("GuardedHTTPConnection", (GuardedConnection,), {"limits": limits, "scheme": "http"})
    https_class = type("GuardedHTTPSConnection", (GuardedConnection,), {"limits": limits, "scheme": "https"})
    return http_class, https_class
