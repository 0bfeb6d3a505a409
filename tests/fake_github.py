"""A local stand-in for the GitHub REST API calls `gofix-defer review` makes.

It listens on 127.0.0.1 (random port) in a thread and behaves like GitHub
where the bot depends on it:

* authentication: 401 "Bad credentials" unless ``Authorization`` carries the token;
* ``GET /user``: the token's user when ``user_login`` is set, else 403
  "Resource not accessible by integration", as for an Actions token;
* ``Link`` pagination with ``per_page`` (capped by ``page_size``) and ``page``;
* review validation with GitHub's own 422 texts: a comment's ``line`` must be
  a RIGHT-side line of one of the file's hunks, ``start_line`` in the same hunk;
* reviews and comments it creates carry ``user.login`` = ``bot_login``;
* rate-limit headers on every response, and scripted failures (403/429 with
  ``Retry-After``/``x-ratelimit-reset``, 5xx) via ``fail_next``;
* hostile answers via ``respond``: any status, headers, raw (non-JSON) body,
  a body trickled a few bytes at a time, for one request or all of them;
* a read-only mode (403 "Resource not accessible by integration" on writes);
* pending reviews (no ``event``), one per user, deletable;
* a record of every request (with its Authorization header and body) and of
  every review posted.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from unidiff import PatchSet

DOCS = "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request"
LINE_NOT_IN_DIFF = "Pull request review thread line must be part of the diff and Pull request review thread diff hunk can't be blank"
START_NOT_IN_HUNK = "Pull request review thread start line must be part of the same hunk as the line."
NOT_ACCESSIBLE = "Resource not accessible by integration"


@dataclass
class Scripted:
    method: str
    path_suffix: str
    status: int
    headers: dict
    body: object = None
    perform: bool = False  # do the work, then fail anyway (a 5xx after the write)
    raw: bytes | None = None  # sent as is instead of JSON
    times: int | None = 1  # None: every matching request
    trickle: tuple[float, int] | None = None  # (seconds between chunks, bytes per chunk)


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict
    trickle: tuple[float, int] | None = None


def hunks_of(filename: str, patch: str) -> list[tuple[int, int]]:
    text = f"--- a/{filename}\n+++ b/{filename}\n{patch}\n"
    return [(h.target_start, h.target_start + h.target_length - 1) for pf in PatchSet(text) for h in pf if h.target_length]


@dataclass
class Request:
    method: str
    path: str
    authorization: str
    body: bytes


@dataclass
class FakeGitHub:
    token: str
    owner: str = "octo"
    repo: str = "demo"
    number: int = 7
    head_sha: str = ""
    base_sha: str = ""
    page_size: int = 100
    files: list[dict] = field(default_factory=list)  # filename, status, patch (or no patch)
    # The diff GitHub validates comments against, per file; defaults to the files' patches.
    true_patches: dict[str, str] = field(default_factory=dict)
    review_comments: list[dict] = field(default_factory=list)
    reviews: list[dict] = field(default_factory=list)
    read_only: bool = False
    requests: list[tuple[str, str]] = field(default_factory=list)
    received: list[Request] = field(default_factory=list)
    posted: list[dict] = field(default_factory=list)  # submitted reviews' payloads
    scripted: list[Scripted] = field(default_factory=list)
    rate_remaining: int = 4999
    rate_headers: dict = field(default_factory=dict)  # override the x-ratelimit-* values sent
    user_login: str | None = None  # GET /user; None: 403 as for an Actions token
    bot_login: str = "github-actions[bot]"  # author of what the bot creates
    pull_overrides: dict = field(default_factory=dict)  # keys to replace in GET /pulls/N (value None: drop)
    echo_authorization: bool = False  # 422 texts quote the request's Authorization header, as a leaky proxy might

    # --- control ---------------------------------------------------------
    def fail_next(self, method: str, path_suffix: str, status: int, headers: dict | None = None,
                  body: dict | None = None, perform: bool = False) -> None:
        self.scripted.append(Scripted(method, path_suffix, status, headers or {}, body or {"message": "Server Error"}, perform))

    def respond(self, method: str, path_suffix: str, status: int = 200, body: object = None, raw: bytes | None = None,
                headers: dict | None = None, times: int | None = None, trickle: tuple[float, int] | None = None) -> None:
        """Answer matching requests this way instead (``times`` None: all of them)."""
        self.scripted.append(Scripted(method, path_suffix, status, headers or {}, body, False, raw, times, trickle))

    def start(self) -> "FakeGitHub":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_DELETE(self) -> None:
                fake._handle(self, "DELETE")

        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def repo_url(self) -> str:
        return f"{self.url}/repos/{self.owner}/{self.repo}"

    # --- HTTP ------------------------------------------------------------
    def _reply(self, status: int, body, headers: dict | None = None, raw: bytes | None = None,
               trickle: tuple[float, int] | None = None) -> Reply:
        data = raw if raw is not None else json.dumps(body).encode()
        merged = {
            "content-type": "application/json; charset=utf-8",
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": str(self.rate_remaining),
            "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-used": str(5000 - self.rate_remaining),
        }
        merged.update({key.lower(): value for key, value in self.rate_headers.items()})
        merged.update({key.lower(): value for key, value in (headers or {}).items()})
        return Reply(status, data, merged, trickle)

    @staticmethod
    def _send(handler, reply: Reply) -> None:
        try:
            handler.send_response(reply.status)
            for key, value in reply.headers.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(reply.body)))
            handler.end_headers()
            if reply.trickle is None:
                handler.wfile.write(reply.body)
                return
            interval, size = reply.trickle
            for offset in range(0, len(reply.body), size):
                handler.wfile.write(reply.body[offset : offset + size])
                handler.wfile.flush()
                time.sleep(interval)
        except OSError:  # the client hung up (e.g. it timed out)
            handler.close_connection = True

    def _handle(self, handler, method: str) -> None:
        parsed = urlparse(handler.path)
        path, query = parsed.path, parse_qs(parsed.query)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        with self._lock:
            reply = self._decide(handler, method, path, query, raw)
        self._send(handler, reply)

    def _decide(self, handler, method: str, path: str, query: dict, raw: bytes) -> Reply:
        auth = handler.headers.get("Authorization", "")
        self.requests.append((method, handler.path))
        self.received.append(Request(method, handler.path, auth, raw))
        if auth not in (f"token {self.token}", f"Bearer {self.token}"):
            return self._reply(401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"})
        for i, scripted in enumerate(self.scripted):
            if scripted.method == method and path.endswith(scripted.path_suffix):
                if scripted.times is not None:
                    scripted.times -= 1
                    if scripted.times <= 0:
                        del self.scripted[i]
                if scripted.perform:
                    self._route(method, path, query, json.loads(raw) if raw else None, auth)
                return self._reply(scripted.status, scripted.body, scripted.headers, scripted.raw, scripted.trickle)
        self.rate_remaining -= 1
        body = json.loads(raw) if raw else None
        return self._route(method, path, query, body, auth)

    def _page(self, path: str, query: dict, items: list) -> Reply:
        per_page = min(int(query.get("per_page", ["30"])[0]), 100, self.page_size)
        page = int(query.get("page", ["1"])[0])
        last = max(1, -(-len(items) // per_page))
        links = []
        if page < last:
            links.append(f'<{self.url}{path}?per_page={per_page}&page={page + 1}>; rel="next"')
            links.append(f'<{self.url}{path}?per_page={per_page}&page={last}>; rel="last"')
        if page > 1:
            links.append(f'<{self.url}{path}?per_page={per_page}&page=1>; rel="first"')
            links.append(f'<{self.url}{path}?per_page={per_page}&page={page - 1}>; rel="prev"')
        headers = {"Link": ", ".join(links)} if links else {}
        return self._reply(200, items[(page - 1) * per_page : page * per_page], headers)

    def _pull(self) -> dict:
        pull = {
            "url": f"{self.repo_url}/pulls/{self.number}",
            "number": self.number,
            "state": "open",
            "head": {"sha": self.head_sha, "ref": "feature"},
            "base": {"sha": self.base_sha, "ref": "main"},
        }
        for key, value in self.pull_overrides.items():
            if value is None:
                pull.pop(key, None)
            else:
                pull[key] = value
        return pull

    def _route(self, method: str, path: str, query: dict, body, auth: str) -> Reply:
        pulls = f"/repos/{self.owner}/{self.repo}/pulls/{self.number}"
        if method == "GET" and path == "/user":
            if self.user_login is None:
                return self._reply(403, {"message": NOT_ACCESSIBLE, "documentation_url": "https://docs.github.com/rest/users/users#get-the-authenticated-user", "status": "403"})
            return self._reply(200, {"login": self.user_login, "id": 1, "type": "User"})
        if method == "GET" and path == f"/repos/{self.owner}/{self.repo}":
            return self._reply(200, {"url": self.repo_url, "full_name": f"{self.owner}/{self.repo}"})
        if method == "GET" and path == pulls:
            return self._reply(200, self._pull())
        if method == "GET" and re.fullmatch(rf"/repos/{self.owner}/{self.repo}/commits/[0-9a-f]+", path):
            sha = path.rsplit("/", 1)[1]
            return self._reply(200, {"sha": sha, "url": f"{self.repo_url}/commits/{sha}"})
        if method == "GET" and path == pulls + "/files":
            return self._page(path, query, self.files)
        if method == "GET" and path == pulls + "/comments":
            return self._page(path, query, self.review_comments)
        if method == "GET" and path == pulls + "/reviews":
            return self._page(path, query, [r for r in self.reviews if r["state"] != "PENDING"])
        match = re.fullmatch(pulls + r"/reviews/(\d+)", path)
        if match:
            review = next((r for r in self.reviews if r["id"] == int(match.group(1))), None)
            if review is None:
                return self._reply(404, {"message": "Not Found"})
            if method == "GET":
                return self._reply(200, review)
            if method == "DELETE":
                if review["state"] != "PENDING":
                    return self._reply(422, {"message": "Unprocessable Entity", "errors": ["Can not delete a non-pending pull request review"]})
                self.reviews.remove(review)
                return self._reply(200, review)
        if method == "POST" and path == pulls + "/reviews":
            return self._create_review(body, auth)
        return self._reply(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})

    def _validate(self, comment: dict) -> str | None:
        patches = {f["filename"]: self.true_patches.get(f["filename"], f.get("patch"))
                   for f in self.files if isinstance(f, dict) and isinstance(f.get("filename"), str)}
        if comment.get("path") not in patches or comment.get("side", "RIGHT") != "RIGHT":
            return LINE_NOT_IN_DIFF
        patch = patches[comment["path"]]
        ranges = hunks_of(comment["path"], patch if isinstance(patch, str) else "")
        line = comment.get("line")
        hunk = next(((a, b) for a, b in ranges if a <= line <= b), None)
        if hunk is None:
            return LINE_NOT_IN_DIFF
        start = comment.get("start_line")
        if start is not None and not (hunk[0] <= start <= hunk[1] and start <= line):
            return START_NOT_IN_HUNK
        return None

    def _create_review(self, body: dict, auth: str) -> Reply:
        if self.read_only:
            return self._reply(403, {"message": NOT_ACCESSIBLE, "documentation_url": DOCS, "status": "403"})
        if body.get("commit_id") not in (None, self.head_sha):
            return self._reply(422, {"message": "Unprocessable Entity", "errors": ["commit_id is not part of the pull request"], "status": "422"})
        errors = [e for e in (self._validate(c) for c in body.get("comments") or []) if e]
        if errors:
            error = errors[0] + (f" (request: Authorization: {auth})" if self.echo_authorization else "")
            return self._reply(422, {"message": "Unprocessable Entity", "errors": [error], "documentation_url": DOCS, "status": "422"})
        event = body.get("event")
        if event is None and any(r["state"] == "PENDING" for r in self.reviews):
            return self._reply(422, {"message": "Unprocessable Entity", "errors": ["User can only have one pending review per pull request"], "status": "422"})
        review_id = 1000 + len(self.posted) + len(self.reviews) + len(self.requests)
        review = {
            "id": review_id,
            "body": body.get("body") or "",
            "state": "PENDING" if event is None else "COMMENTED",
            "commit_id": self.head_sha,
            "user": {"login": self.bot_login, "type": "Bot"},
            "pull_request_url": f"{self.repo_url}/pulls/{self.number}",
            "html_url": f"https://github.com/{self.owner}/{self.repo}/pull/{self.number}#pullrequestreview-{review_id}",
        }
        self.reviews.append(review)
        if event is not None:
            self.posted.append(body)
            for comment in body.get("comments") or []:
                comment_id = len(self.review_comments) + 1
                self.review_comments.append({
                    "id": comment_id,
                    "url": f"{self.repo_url}/pulls/comments/{comment_id}",
                    "pull_request_review_id": review_id,
                    "path": comment["path"],
                    "line": comment["line"],
                    "start_line": comment.get("start_line"),
                    "side": "RIGHT",
                    "body": comment["body"],
                    "commit_id": self.head_sha,
                    "user": {"login": self.bot_login, "type": "Bot"},
                })
        return self._reply(200, review)
