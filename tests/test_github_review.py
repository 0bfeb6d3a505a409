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
from gofix_defer.codemods.github.anchoring import fits, hunk_ranges_from_patch
from gofix_defer.codemods.github.review import comment_body
from gofix_defer.codemods.github.suggestions import Block, apply_blocks, change_blocks, fence_for
from gofix_defer.codemods.model import Applicability, Edit, Fix, Rule

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
            from gofix_defer.codemods.cli import app

            result = CliRunner().invoke(app, [str(copy), "--write", "--no-cache", "-q", "--select", self.scenario.rule])
            assert result.exit_code in (0, 1), result.output
            return copy.read_bytes()
        finally:
            copy.unlink()

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
               event: bool = True):
    payload = {"number": fake.number, "pull_request": {"number": fake.number, "head": {"sha": pr_repo.head},
                                                       "base": {"sha": pr_repo.base}}}
    event_path = tmp_path / "event.json"
    event_path.write_text(json.dumps(payload))
    env = {"GITHUB_TOKEN": token, "GITHUB_REPOSITORY": f"{fake.owner}/{fake.repo}", "GITHUB_API_URL": fake.url,
           "GITHUB_EVENT_PATH": str(event_path) if event else ""}
    # Only the scenario's rule, so rules added later cannot change the counts.
    select = [] if "--select" in args else ["--select", pr_repo.scenario.rule]
    result = CliRunner().invoke(cli_app, ["review", "--repo-root", str(pr_repo.root), *select, *args], env=env)
    assert TOKEN not in result.output and TOKEN not in (result.stderr or "")
    return result


SUGGESTION_RE = re.compile(r"^(`{3,})suggestion\n(.*?)^\1$", re.S | re.M)


def apply_suggestions(head: bytes, comments: list[dict]) -> bytes:
    lines = head.splitlines(keepends=True)
    for comment in sorted(comments, key=lambda c: c["line"], reverse=True):
        match = SUGGESTION_RE.search(comment["body"])
        start = comment.get("start_line") or comment["line"]
        lines[start - 1 : comment["line"]] = match.group(2).encode().splitlines(keepends=True)
    return b"".join(lines)


def body_diff(body: str) -> str:
    return "".join(m.group(2) for m in re.finditer(r"^(`{3,})diff\n(.*?)^\1$", body, re.S | re.M))


# --- end to end -------------------------------------------------------------


def test_one_review_whose_suggestions_equal_the_write_result(fake, pr_repo, tmp_path, sleeps):
    result = run_review(fake, pr_repo, tmp_path)
    assert result.exit_code == 0, result.output
    assert len(fake.posted) == 1
    [review] = fake.posted
    assert review["event"] == "COMMENT" and review["commit_id"] == pr_repo.head
    comments = review["comments"]
    # Added in demo.go, First and Second in extra.go; Old is outside the diff.
    assert len(comments) == 3
    for comment in comments:
        assert comment["side"] == "RIGHT" and comment["path"] in pr_repo.files
        ranges = hunk_ranges_from_patch(comment["path"], next(f["patch"] for f in fake.files if f["filename"] == comment["path"]))
        assert fits(ranges, comment.get("start_line", comment["line"]), comment["line"])
        assert re.search(r"<!-- gofix-defer:fp=[0-9a-f]{20} -->$", comment["body"])
        assert f"`{pr_repo.scenario.rule}`" in comment["body"]
    # Every suggestion, applied to the head file, gives the --write result.
    by_path = {p: [c for c in comments if c["path"] == p] for p in pr_repo.files}
    assert apply_suggestions(pr_repo.head_file("extra.go"), by_path["extra.go"]) == pr_repo.write_result("extra.go", tmp_path)
    # demo.go: the suggestion, plus the collapsed diff in the body for Old, give the --write result.
    assert "<details>" in review["body"] and "outside the lines this pull request changes" in review["body"]
    partly = apply_suggestions(pr_repo.head_file("demo.go"), by_path["demo.go"])
    work = tmp_path / "apply"
    work.mkdir()
    (work / "demo.go").write_bytes(partly)
    (work / "body.diff").write_text(body_diff(review["body"]))
    subprocess.run(["git", "apply", "body.diff"], cwd=work, check=True, capture_output=True)
    assert (work / "demo.go").read_bytes() == pr_repo.write_result("demo.go", tmp_path)
    # Pagination was followed for files (page_size 1, three files).
    assert any("/files" in path and "page=3" in path for _, path in fake.requests)
    assert sleeps == []


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
    assert len(re.findall(r"gofix-defer:fp=", review["body"])) == 3  # Old + the two over the cap


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
    git(pr_repo.root, "add", "two.go")
    git(pr_repo.root, "commit", "-q", "-m", "two")
    pr_repo.head = fake.head_sha = git(pr_repo.root, "rev-parse", "HEAD").strip()
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
    assert len(annotations) == 4  # three anchorable and Old
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


# --- units ------------------------------------------------------------------


def test_fence_is_longer_than_any_backtick_run():
    assert fence_for("no ticks") == "```"
    assert fence_for("a ``` b") == "````"
    assert fence_for("x ````` y") == "``````"
    block = Block("a.go", 1, 1, [b"s := `x`\n"], [b"s := \"```\" + `a`\n"])
    body = comment_body(block)
    match = SUGGESTION_RE.search(body)
    assert match.group(1) == "````" and match.group(2) == "s := \"```\" + `a`\n"


def test_review_body_stays_under_githubs_limit():
    from gofix_defer.codemods.github.review import BODY_LIMIT, Outside, Plan, review_body

    head = b"".join(b"line %d\n" % i for i in range(20000))
    block = Block("big.go", 1, 20000, head.splitlines(keepends=True), [b"x\n"])
    plan = Plan(outside=[Outside(block, "outside the lines this pull request changes")], heads={"big.go": head})
    body = review_body(plan)
    assert len(body) < BODY_LIMIT + 1000 and "too long for a review body" in body
    assert f"gofix-defer:fp={block.fingerprint}" in body


line_lists = st.lists(st.sampled_from([b"a\n", b"b\n", b"c\n", b"\tdefer x()\n", b"}\n"]), max_size=12)


@settings(max_examples=300, deadline=None)
@given(line_lists, line_lists)
def test_blocks_rebuild_the_fixed_file(old, new):
    head, fixed = b"".join(old), b"".join(new)
    blocks = change_blocks("a.go", head, fixed)
    if head:
        assert apply_blocks(head, blocks) == fixed
    for block in blocks:
        assert 1 <= block.start <= block.end and b"".join(block.old_lines) == b"".join(old[block.start - 1 : block.end])
    for earlier, later in zip(blocks, blocks[1:]):
        assert earlier.end < later.start


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
