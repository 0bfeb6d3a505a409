"""`gofix-defer review` against a hostile or broken server, and hostile pull requests.

Each test stands for one guarantee of the bot (issue 15, items 2-6): the
token never leaves in a review or the log, nothing from the API produces a
traceback, file names and commit ids from the API cannot read outside the
repository or become git options, runs are bounded in time and pages, and
only the bot's own earlier comments can suppress a suggestion.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

import gofix_defer.codemods.github.review as review_module
from gofix_defer.codemods.cli import app as cli_app
from gofix_defer.codemods.github.redact import Redactor

from . import test_github_review as scenario
from .fake_github import FakeGitHub
from .test_github_review import LOCK_TYPO, TOKEN, run_review

# The pull request, the fake GitHub and the injected sleep of the main review tests.
pr_repo = scenario.pr_repo
fake = scenario.fake
sleeps = scenario.sleeps


def no_traceback(result) -> None:
    text = result.output + (result.stderr or "")
    assert "Traceback" not in text and 'File "' not in text
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


@pytest.fixture
def other_host():
    """Another origin (same address, other port): it must never hear from the bot."""
    server = FakeGitHub(token=TOKEN).start()
    yield server
    server.stop()


# --- 2. the token never reaches the review or the output ------------------------


def test_an_error_echoing_the_authorization_header_is_redacted_everywhere(fake, pr_repo, tmp_path, sleeps):
    fake.echo_authorization = True
    lines = pr_repo.head_file("extra.go").decode().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("func Second"))
    # GitHub's diff of extra.go ends before Second: its comment is refused, with the header quoted back.
    fake.true_patches = {"extra.go": f"@@ -0,0 +1,{first} @@\n" + "".join(f"+{line}\n" for line in lines[:first])}
    result = run_review(fake, pr_repo, tmp_path)
    assert result.exit_code == 0, result.output
    [review] = fake.posted
    assert "refused by GitHub as a comment" in review["body"] and "Authorization: ***" in review["body"]
    for request in fake.received:
        assert TOKEN.encode() not in request.body
    assert TOKEN not in result.stderr and "Authorization: ***" in result.stderr


def test_the_redactor_masks_tokens_headers_and_basic_auth():
    import base64

    redact = Redactor(["s3cr3t-value"])
    basic = base64.b64encode(b"x-access-token:s3cr3t-value").decode()
    text = redact(f"a s3cr3t-value b; Authorization: Bearer abc.def; {basic}; ghp_{'a' * 36}; authorization=token xyz")
    assert "s3cr3t" not in text and "abc.def" not in text and basic not in text and "ghp_" not in text and "xyz" not in text
    assert redact("plain text, no secret") == "plain text, no secret"


def test_a_suggestion_that_would_be_redacted_is_not_posted(fake, pr_repo, tmp_path, sleeps, monkeypatch):
    """Committing a suggestion whose text was masked would break the code: it is left out instead."""
    original = review_module.comment_body
    monkeypatch.setattr(review_module, "comment_body",
                        lambda block: original(block) + (f"\n{TOKEN}" if block.path == "demo.go" else ""))
    result = run_review(fake, pr_repo, tmp_path)
    assert result.exit_code == 0, result.output
    [review] = fake.posted
    assert [c["path"] for c in review["comments"]] == ["extra.go", "extra.go"]
    assert "shaped like a credential" in review["body"]


# --- 3. no traceback, whatever the server sends --------------------------------


def test_an_unexpected_exception_is_one_redacted_line_and_exit_2(fake, pr_repo, tmp_path, sleeps, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError(f"boom with {TOKEN} inside")

    monkeypatch.setattr(review_module, "plan_review", explode)
    result = run_review(fake, pr_repo, tmp_path)
    assert result.exit_code == 2
    assert "internal error in gofix-defer review: RuntimeError: boom with *** inside" in result.stderr
    no_traceback(result)


def test_no_traceback_in_the_installed_command_either(fake, pr_repo, tmp_path):
    """A subprocess: typer's exception hook shows no locals, and the boundary catches first."""
    if pr_repo.scenario.rule == LOCK_TYPO.name:
        pytest.skip("the test-only rule cannot be injected into a subprocess")
    program = """
import sys
import gofix_defer.codemods.github.review as review
SECRET = sys.argv[-1]
def explode(*args, **kwargs):
    secret = SECRET  # a local holding the token: a traceback with locals would show it
    raise ValueError("planner failed")
review.files_from_api = explode
from gofix_defer.codemods.cli import main
sys.argv = ["gofix-defer"] + sys.argv[1:-1]
main()
"""
    env = dict(os.environ, GITHUB_TOKEN=TOKEN, GITHUB_REPOSITORY="octo/demo", GITHUB_API_URL=fake.url)
    env.pop("GITHUB_EVENT_PATH", None)
    completed = subprocess.run([sys.executable, "-c", program, "review", "--pr", "7", "--repo-root", str(pr_repo.root),
                                "--select", pr_repo.scenario.rule, TOKEN], capture_output=True, text=True, env=env, timeout=120)
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr and TOKEN not in completed.stderr + completed.stdout
    assert "internal error in gofix-defer review: ValueError: planner failed" in completed.stderr


@pytest.mark.parametrize("raw", [b"<html>Unicorn!</html>", b"{\"truncated\": ", b""])
def test_a_non_json_listing_is_an_error_not_a_traceback(fake, pr_repo, tmp_path, sleeps, raw):
    fake.respond("GET", "/files", status=200, raw=raw, headers={"content-type": "text/html"})
    result = run_review(fake, pr_repo, tmp_path)
    no_traceback(result)
    assert result.exit_code == 2 and "list pull request files failed" in result.stderr
    assert fake.posted == []


def test_file_entries_of_the_wrong_type_are_reported_and_the_rest_reviewed(fake, pr_repo, tmp_path, sleeps):
    fake.files = [{"filename": None, "status": "added"}, {"filename": 17, "status": "added", "patch": "@@ -0,0 +1 @@\n+x"},
                  "not an object", *fake.files]
    # An integer patch is no patch: the diff comes from local git.
    fake.files[-2] = dict(fake.files[-2], patch=12345)
    fake.true_patches = {f["filename"]: f["patch"] for f in pr_repo.github_files()}
    result = run_review(fake, pr_repo, tmp_path)
    no_traceback(result)
    assert result.exit_code == 2  # the entries it could not use are errors
    assert "no valid filename (NoneType)" in result.stderr and "no valid filename (int)" in result.stderr
    assert "not an object" in result.stderr
    [review] = fake.posted
    assert sorted(c["path"] for c in review["comments"]) == ["demo.go", "extra.go", "extra.go"]


def test_comments_with_a_string_line_do_not_count_and_do_not_crash(fake, pr_repo, tmp_path, sleeps):
    assert run_review(fake, pr_repo, tmp_path).exit_code == 0
    for comment in fake.review_comments:
        comment["line"] = str(comment["line"])
    fake.reviews.append({"id": 1, "body": None, "state": "COMMENTED", "user": "not an object"})
    again = run_review(fake, pr_repo, tmp_path)
    no_traceback(again)
    assert again.exit_code == 0 and len(fake.posted) == 2


@pytest.mark.parametrize("override", [{"head": None}, {"head": "main"}, {"head": {"sha": 42}}, {"base": {"sha": "--output=x"}}])
def test_a_pull_request_without_a_valid_head_or_base_is_an_error(fake, pr_repo, tmp_path, sleeps, override):
    fake.pull_overrides = override
    result = run_review(fake, pr_repo, tmp_path, "--repo", "octo/demo", "--pr", "7", event=False)
    no_traceback(result)
    assert result.exit_code == 2 and "get pull request failed" in result.stderr and "valid" in result.stderr


@pytest.mark.parametrize("status", [301, 302, 307])
def test_a_redirect_to_another_host_is_not_followed(fake, pr_repo, tmp_path, sleeps, other_host, status):
    fake.respond("GET", "/files", status=status, headers={"Location": f"{other_host.url}/steal?x=1"}, body={"message": "Moved"})
    result = run_review(fake, pr_repo, tmp_path)
    no_traceback(result)
    assert result.exit_code == 2 and "redirect" in result.stderr and "not followed" in result.stderr
    assert other_host.received == []


def test_a_page_link_to_another_host_is_not_followed(fake, pr_repo, tmp_path, sleeps, other_host):
    fake.respond("GET", "/files", body=fake.files[:1], headers={"Link": f'<{other_host.url}/repos/octo/demo/pulls/7/files?page=2>; rel="next"'})
    result = run_review(fake, pr_repo, tmp_path)
    no_traceback(result)
    assert result.exit_code == 2 and "outside the API; it was not followed" in result.stderr
    assert other_host.received == []
    assert fake.posted == []


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "soon"])
def test_rate_limit_headers_that_are_not_numbers_are_ignored(fake, pr_repo, tmp_path, sleeps, value):
    fake.rate_headers = {"x-ratelimit-remaining": value, "x-ratelimit-reset": value, "x-ratelimit-limit": value}
    result = run_review(fake, pr_repo, tmp_path)
    no_traceback(result)
    assert result.exit_code == 0, result.output
    assert len(fake.posted) == 1


def test_a_nan_retry_after_is_no_wait_of_nan_seconds(fake, pr_repo, tmp_path, sleeps):
    fake.fail_next("POST", "/reviews", 429, {"Retry-After": "nan"}, {"message": "Too Many Requests"})
    result = run_review(fake, pr_repo, tmp_path)
    no_traceback(result)
    assert result.exit_code == 0 and sleeps == [60.0]


@pytest.mark.parametrize("payload", [
    {"number": "seven", "pull_request": {"number": "seven"}},
    {"pull_request": {"number": -3}},
    {"pull_request": {"number": True}},
    {"pull_request": {"number": [7]}},
])
def test_a_non_numeric_pull_request_number_in_the_event_is_an_error(fake, pr_repo, tmp_path, sleeps, payload):
    result = run_review(fake, pr_repo, tmp_path, event=payload)
    no_traceback(result)
    assert result.exit_code == 2 and "is not a number" in result.stderr
    assert fake.requests == []


def test_a_malformed_event_does_not_crash(fake, pr_repo, tmp_path, sleeps):
    result = run_review(fake, pr_repo, tmp_path, event={"pull_request": "seven", "number": 7})
    no_traceback(result)
    assert result.exit_code == 0 and len(fake.posted) == 1  # the number is still there; the shas come from the API


@pytest.mark.parametrize("raw", [b"<html>ok</html>", b"{\"id\": \"1001\"}", b"[]"])
def test_a_review_post_answered_without_json_or_id_is_a_failure(fake, pr_repo, tmp_path, sleeps, raw):
    fake.respond("POST", "/reviews", status=200, raw=raw)
    result = run_review(fake, pr_repo, tmp_path)
    no_traceback(result)
    assert result.exit_code == 2
    assert "posted review" not in result.stderr and "create review failed" in result.stderr


# --- 4. file names and commit ids from the API -----------------------------------


def _added(path: str, text: str) -> dict:
    lines = text.splitlines()
    return {"filename": path, "status": "added",
            "patch": f"@@ -0,0 +1,{len(lines)} @@\n" + "".join(f"+{line}\n" for line in lines).rstrip("\n")}


def test_absolute_and_escaping_file_names_are_refused_never_read(fake, pr_repo, tmp_path, sleeps):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = (pr_repo.root / "extra.go").read_text().replace("func First", "func Secret")
    (outside / "secret.go").write_text(secret)
    (pr_repo.root / "linked").symlink_to(outside, target_is_directory=True)
    fake.files = [_added(str(outside / "secret.go"), secret), _added("../outside/secret.go", secret),
                  _added("linked/secret.go", secret), _added("./extra.go", secret), *fake.files]
    result = run_review(fake, pr_repo, tmp_path)
    no_traceback(result)
    assert result.exit_code == 2
    assert result.stderr.count("refused:") == 4 and "an absolute file name" in result.stderr
    assert "leaves the repository" in result.stderr and "through a symbolic link" in result.stderr
    [review] = fake.posted
    assert "Secret" not in json.dumps(review)
    assert sorted(c["path"] for c in review["comments"]) == ["demo.go", "extra.go", "extra.go"]


def test_a_symlink_committed_in_the_head_is_not_followed(fake, pr_repo, tmp_path, sleeps):
    outside = tmp_path / "elsewhere.go"
    outside.write_text((pr_repo.root / "extra.go").read_text().replace("func First", "func Elsewhere"))
    (pr_repo.root / "link.go").symlink_to(outside)
    fake.head_sha = pr_repo.commit("a symlink")
    fake.files = [*pr_repo.github_files(), _added("link.go", "x")]
    result = run_review(fake, pr_repo, tmp_path)
    no_traceback(result)
    assert result.exit_code == 2 and "link.go: refused" in result.stderr
    assert "Elsewhere" not in json.dumps(fake.posted)


def test_a_head_sha_that_looks_like_an_option_never_reaches_git(fake, pr_repo, tmp_path, sleeps):
    target = tmp_path / "pwned"
    payload = {"number": 7, "pull_request": {"number": 7, "head": {"sha": f"--output={target}"}, "base": {"sha": pr_repo.base}}}
    result = run_review(fake, pr_repo, tmp_path, event=payload)
    no_traceback(result)
    assert result.exit_code == 2 and "is not a commit id" in result.stderr
    assert not list(tmp_path.glob("pwned*"))
    assert fake.posted == []


def test_command_line_refs_are_resolved_to_commit_ids(fake, pr_repo, tmp_path, sleeps):
    result = run_review(fake, pr_repo, tmp_path, "--head", "HEAD", "--base", "HEAD~1", event={"number": 7})
    assert result.exit_code == 0, result.output
    assert fake.posted[0]["commit_id"] == pr_repo.head
    bad = run_review(fake, pr_repo, tmp_path, "--head", "--output=x", event={"number": 7})
    assert bad.exit_code == 2 and "is not a ref" in bad.stderr


# --- 5. deadlines and page caps -------------------------------------------------


def test_a_trickling_server_cannot_stretch_a_response(fake, pr_repo, tmp_path, sleeps):
    body = json.dumps(fake.files[:1]).encode()
    fake.respond("GET", "/files", raw=body, trickle=(0.05, 1))  # len(body) * 0.05 s: far over the limit
    assert len(body) * 0.05 > 10
    started = time.monotonic()
    result = run_review(fake, pr_repo, tmp_path, "--request-timeout", "1")
    elapsed = time.monotonic() - started
    no_traceback(result)
    assert result.exit_code == 2 and "no complete reply within 1s (--request-timeout)" in result.stderr
    assert elapsed < 8, elapsed  # four tries of at most 1 s (the retry sleeps are not waited in tests)
    assert sleeps == [1.0, 2.0, 4.0]


def test_the_run_deadline_bounds_a_slow_listing(fake, pr_repo, tmp_path, sleeps):
    body = json.dumps([]).encode() * 1
    fake.respond("GET", "/comments", raw=body + b" " * 200, trickle=(0.05, 1))
    started = time.monotonic()
    result = run_review(fake, pr_repo, tmp_path, "--timeout", "2")
    elapsed = time.monotonic() - started
    no_traceback(result)
    assert result.exit_code == 2 and "deadline of 2s (--timeout)" in result.stderr
    assert elapsed < 6, elapsed
    assert fake.posted == []


def test_a_rate_limit_wait_past_the_deadline_is_not_waited(fake, pr_repo, tmp_path, sleeps):
    fake.fail_next("POST", "/reviews", 429, {"Retry-After": "120"}, {"message": "Too Many Requests"})
    result = run_review(fake, pr_repo, tmp_path, "--timeout", "60")
    no_traceback(result)
    assert result.exit_code == 2 and "would have to wait 120s, past the run's deadline of 60s" in result.stderr
    assert sleeps == [] and fake.posted == []


def test_files_past_the_deadline_are_reported_as_not_checked(fake, pr_repo, tmp_path, sleeps, monkeypatch):
    original = review_module.process
    calls = []

    def slow_process(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 1:
            time.sleep(3.2)  # the first file takes the run past its deadline
        return original(*args, **kwargs)

    monkeypatch.setattr(review_module, "process", slow_process)
    result = run_review(fake, pr_repo, tmp_path, "--timeout", "3", "--dry-run")
    no_traceback(result)
    assert result.exit_code == 2
    assert "passed: 1 file(s) not checked: extra.go" in result.stderr
    assert len(calls) == 1


def test_the_page_cap_stops_listing_and_says_what_was_skipped(fake, pr_repo, tmp_path, sleeps):
    result = run_review(fake, pr_repo, tmp_path, "--max-pages", "2")  # page_size 1: demo.go, extra.go, README.md
    no_traceback(result)
    assert result.exit_code == 0, result.output
    assert "read for 2 page(s) only (--max-pages)" in result.stderr
    [review] = fake.posted
    assert "read for 2 page(s) only" in review["body"]
    assert not any("page=3" in path for _, path in fake.requests)


# --- 6. only the bot's own earlier comments count ---------------------------------


def test_a_strangers_comment_with_the_fingerprint_does_not_suppress(fake, pr_repo, tmp_path, sleeps):
    planned = json.loads(run_review(fake, pr_repo, tmp_path, "--dry-run").stdout)
    for index, comment in enumerate(planned["comments"]):
        fake.review_comments.append({"id": 500 + index, "path": comment["path"], "line": comment["line"],
                                     "body": "lgtm " + comment["body"], "user": {"login": "mallory", "type": "User"}})
    fake.reviews.append({"id": 600, "state": "COMMENTED", "body": planned["body"], "user": {"login": "mallory"}})
    result = run_review(fake, pr_repo, tmp_path)
    assert result.exit_code == 0, result.output
    [review] = fake.posted
    assert len(review["comments"]) == 3


def test_the_tokens_own_user_counts_as_the_bot(fake, pr_repo, tmp_path, sleeps):
    fake.user_login = fake.bot_login = "gofix-bot"
    assert run_review(fake, pr_repo, tmp_path).exit_code == 0
    again = run_review(fake, pr_repo, tmp_path)
    assert again.exit_code == 0 and len(fake.posted) == 1 and "nothing new" in again.stderr
    assert any(path == "/user" for _, path in fake.requests)


def test_a_bot_login_can_be_named(fake, pr_repo, tmp_path, sleeps):
    fake.bot_login = "my-app[bot]"  # a GitHub App's installation token: GET /user is refused
    assert run_review(fake, pr_repo, tmp_path).exit_code == 0
    assert run_review(fake, pr_repo, tmp_path).exit_code == 0 and len(fake.posted) == 2  # not recognised
    third = run_review(fake, pr_repo, tmp_path, "--bot-login", "my-app[bot]")
    assert third.exit_code == 0 and len(fake.posted) == 2 and "nothing new" in third.stderr


def test_typer_never_prints_a_traceback_with_locals():
    """The guard under the review boundary: typer's rich tracebacks (which list locals) stay off."""
    assert cli_app.pretty_exceptions_enable is False or cli_app.pretty_exceptions_show_locals is False


def test_page_links_are_followed_only_on_the_apis_own_origin_and_prefix():
    from gofix_defer.codemods.github.client import GitHubClient
    from gofix_defer.codemods.github.errors import UnexpectedReply

    client = GitHubClient("t0ken-value", "https://ghe.example.com/api/v3", "octo/demo", throttle=False)
    try:
        assert client._follow("list", "https://ghe.example.com/api/v3/repos/octo/demo/pulls/7/files?page=2") == \
            "/repos/octo/demo/pulls/7/files?page=2"
        assert client._follow("list", "https://ghe.example.com:443/api/v3/x?page=3") == "/x?page=3"
        for url in ("https://evil.example.com/api/v3/x", "https://ghe.example.com.evil.io/api/v3/x",
                    "http://ghe.example.com/api/v3/x", "https://ghe.example.com:8443/api/v3/x",
                    "https://ghe.example.com/other/x", "https://user@evil.io/api/v3/x", "javascript:alert(1)"):
            with pytest.raises(UnexpectedReply, match="not followed"):
                client._follow("list", url)
    finally:
        client.close()
    for name in ("../x", "octo/demo/extra", "octo", "octo/de mo", "octo/..", "octo/."):
        with pytest.raises(ValueError):
            GitHubClient("t", "https://api.github.com", name)
