"""The .gitignore matcher agrees with git itself, and no pattern makes it backtrack."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gofix_defer.codemods.run import gitignore

TREE = [
    "main.go", "api.pb.go", "keep.go", "KEEP.GO", "a.go", "b.go", "d.go", "bx.go", "9lives.go", "x1y.go", "xy.go",
    "#hash.go", "!bang.go", "trailing", "escaped ", "a-b.go", "a]b.go", "ab.go", "aXYZb.go",
    "build/out.go", "build/sub/deep.go", "src/build/inner.go", "docs/one.go", "docs/more/two.go",
    "gen/g.go", "pkg/gen/g.go", "pkg/gen/more/g.go", "a/x/b", "a/x/y/b", "a/b/c.go",
    "sub/one/deep.go", "sub/two/three/deep.go", "sub/one/other.go", "x/y.go", "x/m/y.go", "x/m/n/y.go",
    "src/keep/k.go", "src/drop.go", "vendor/v.go",
]

PATTERN_SETS = [
    "*.pb.go\n",
    "/build\n",
    "build/\n",
    "docs/*.go\n",
    "**/gen\n",
    "gen/**\n",
    "a/**/b\n",
    "*.go\n!keep.go\n",
    "[abc].go\n",
    "[!a]*.go\n",
    "[a-c]x.go\n[^b]*.GO\n",
    "\\#hash.go\n\\!bang.go\n",
    "trailing   \nescaped\\ \n",
    "x?y.go\n",
    "[[:digit:]]*.go\n",
    "sub/*/deep.go\n",
    "**\n!*/\n!main.go\n",
    "/*\n!/src/\n/src/*\n!/src/keep/\n",
    "a**b.go\n",
    "**/x/**/y.go\n",
    "a[]-]b.go\n",
    "# a comment\n\n   \n*.pb.go\n",
    "build/**\n",
    "src/build/\n",
    "vendor\n!vendor/v.go\n",
    "[z-a].go\na[\n",
    "*\n",
    "**/\n",
    "a/**\n",
    "[a-]b.go\n*.go/\n",
    "sub/**/deep.go\n",
    "docs\n",
    "/docs/more\n**/more/**\n",
    "*/\n!src/\n",
    "x/*/y.go\n!x/m/\n",
    "\\[abc].go\n[[:alpha:]]b.go\n[[:bogus:]].go\n",
    "a\\\n",
]


def _git_ignored(root: Path, paths: list[str]) -> set[str]:
    done = subprocess.run(
        ["git", "-c", "core.ignorecase=false", "check-ignore", "--no-index", "--stdin", "-z"],
        cwd=root,
        input=b"\0".join(p.encode() for p in paths) + b"\0",
        capture_output=True,
    )
    assert done.returncode in (0, 1), done.stderr
    return {p.decode() for p in done.stdout.split(b"\0") if p}


def _ours(root: Path, path: str) -> bool:
    """Git's full rule: ignored when a leading folder is, else by the path's own match."""
    files = []
    for folder in [root, *[root / Path(path).parents[i] for i in range(len(Path(path).parents) - 2, -1, -1)]]:
        loaded = gitignore.load(str(folder))
        if loaded is not None:
            files.append(loaded)
    parts = path.split("/")
    for depth in range(1, len(parts)):
        if gitignore.decide(files, str(root / "/".join(parts[:depth])), True):
            return True
    return gitignore.decide(files, str(root / path), (root / path).is_dir())


@pytest.mark.parametrize("patterns", PATTERN_SETS)
def test_matcher_agrees_with_git_check_ignore(tmp_path, patterns):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    for name in TREE:
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("x\n")
    (tmp_path / ".gitignore").write_text(patterns)
    folders = sorted({str(Path(p).parent) for p in TREE if "/" in p})
    paths = TREE + folders
    expected = _git_ignored(tmp_path, paths)
    ours = {p for p in paths if _ours(tmp_path, p)}
    assert ours == expected, patterns


def test_nested_ignore_files_take_precedence(tmp_path):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    for name in ("sub/a.go", "sub/b.go", "sub/deeper/c.go", "top.go"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n")
    (tmp_path / ".gitignore").write_text("*.go\n")
    (tmp_path / "sub" / ".gitignore").write_text("!a.go\n/deeper/\n")
    paths = ["sub/a.go", "sub/b.go", "sub/deeper/c.go", "top.go", "sub/deeper"]
    assert {p for p in paths if _ours(tmp_path, p)} == _git_ignored(tmp_path, paths)


def test_crlf_ignore_files_are_read_like_git(tmp_path):
    ignore = gitignore.IgnoreFile.parse(str(tmp_path), "api.pb.go\r\n!keep\r\n".split("\n"))
    assert [p.text for p in ignore.patterns] == ["api.pb.go", "!keep"]
    assert gitignore.decide([ignore], str(tmp_path / "api.pb.go"), False)


@pytest.mark.parametrize("stars", [8, 10, 30])
def test_pathological_patterns_match_in_linear_time(stars):
    pattern = gitignore.parse_line("a*" * stars + "b")
    anchored = gitignore.parse_line("/x/" + "a*" * stars + "b/**/" + "*a" * stars + "c")
    assert pattern is not None and anchored is not None
    name = "a" * 250
    start = time.perf_counter()
    for _ in range(20):
        assert not pattern.matches(name, False)
        assert not anchored.matches("x/" + name + "/" + "/".join([name] * 10), False)
    assert pattern.matches("a" * 40 + "b", False)
    assert time.perf_counter() - start < 2.0


def test_wholesale_patterns_of_enclosing_files(tmp_path):
    ignore = gitignore.IgnoreFile.parse(str(tmp_path), ["build/**", "*.pb.go", "*", "!keep/", "gen/"])
    exempt = gitignore.wholesale([ignore], os.path.join(str(tmp_path), "build"))
    texts = {p.text for p in ignore.patterns if id(p) in exempt}
    assert texts == {"build/**", "*"}  # content-wide patterns; not *.pb.go, not the dir-only gen/


_PARTS = st.sampled_from(["a", "b", ".", "..", "", ".venv", "..b", "b..", "c.go"])


@given(st.lists(_PARTS, max_size=5), st.lists(_PARTS, max_size=5), st.booleans(), st.booleans())
@settings(max_examples=2000, deadline=None)
def test_the_relative_path_a_pattern_sees_is_relpaths(path_parts, base_parts, shared, trailing):
    # The shortcut for a normal path under the .gitignore's folder gives what relpath gives,
    # for any spelling of either path ("." and ".." parts, doubled and trailing slashes).
    base = "/" + "/".join(base_parts)
    path = (base + "/" if shared else "/") + "/".join(path_parts) + ("/" if trailing else "")
    assert gitignore._relative(path, base) == os.path.relpath(path, base).replace(os.sep, "/")
