"""gofix-defer.toml: found per file, every key, flags over the file, errors that say where."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from gofix_defer.codemods.run.config import ConfigError, Glob, load_config

from .test_cli import FIXED, LEAKY, invoke, module

UNSAFE = """package main

import "os"

func main() {
	for _, name := range os.Args {
		f, err := os.Open(name)
		if err != nil {
			panic(err)
		}
		defer f.Close()
		process(f)
	}
}

func process(f *os.File) {}
"""
TEST_FILE = LEAKY.replace("func main()", "func TestMain()")


def reported(result) -> set[str]:
    return {line.split(":", 1)[0] for line in result.stdout.splitlines() if line}


def test_the_nearest_config_file_wins_whole(tmp_path):
    module(tmp_path, files={"main.go": LEAKY, "sub/a.go": LEAKY, "sub/deeper/b.go": LEAKY, "other/c.go": LEAKY})
    (tmp_path / "gofix-defer.toml").write_text('ignore = ["loop-var-capture"]\n')
    (tmp_path / "sub" / ".gofix-defer.toml").write_text("# nothing set: every rule, keys are not merged upwards\n")
    result = invoke(".", "--no-cache", cwd=tmp_path)
    assert reported(result) == {"sub/a.go", "sub/deeper/b.go"}
    # The same from inside a folder, and for a file named directly.
    assert reported(invoke("deeper/b.go", "--no-cache", cwd=tmp_path / "sub")) == {"deeper/b.go"}
    assert invoke("other/c.go", "--no-cache", cwd=tmp_path).exit_code == 0


def test_config_flag_and_isolated(tmp_path):
    module(tmp_path, files={"main.go": LEAKY, "sub/a.go": LEAKY})
    (tmp_path / "gofix-defer.toml").write_text('ignore = ["loop-var-capture"]\n')
    (tmp_path / "sub" / "gofix-defer.toml").write_text("")
    elsewhere = tmp_path / "shared.toml"
    elsewhere.write_text('select = ["loop-var-capture"]\n')
    assert reported(invoke(".", "--no-cache", cwd=tmp_path)) == {"sub/a.go"}
    assert reported(invoke(".", "--no-cache", "--config", str(elsewhere), cwd=tmp_path)) == {"main.go", "sub/a.go"}
    assert reported(invoke(".", "--no-cache", "--isolated", cwd=tmp_path)) == {"main.go", "sub/a.go"}
    both = invoke(".", "--config", str(elsewhere), "--isolated", cwd=tmp_path)
    assert both.exit_code == 2 and "cannot be combined" in both.stderr
    missing = invoke(".", "--config", "nope.toml", cwd=tmp_path)
    assert missing.exit_code == 2 and "nope.toml: cannot read" in missing.stderr


def test_select_and_ignore_with_flags_on_top(tmp_path):
    module(tmp_path, files={"main.go": LEAKY, "unsafe.go": UNSAFE.replace("func main()", "func other()")})
    config = tmp_path / "gofix-defer.toml"
    config.write_text('select = ["defer-in-loop"]\n')
    assert reported(invoke(".", "--no-cache", cwd=tmp_path)) == {"unsafe.go"}
    # --select replaces the file's selection (its select and ignore).
    assert reported(invoke(".", "--no-cache", "--select", "loop-var-capture", cwd=tmp_path)) == {"main.go"}
    config.write_text('ignore = ["defer-in-loop"]\n')
    assert reported(invoke(".", "--no-cache", cwd=tmp_path)) == {"main.go"}
    assert reported(invoke(".", "--no-cache", "--select", "defer-in-loop", cwd=tmp_path)) == {"unsafe.go"}
    # --ignore adds to the file's ignore.
    assert invoke(".", "--no-cache", "--ignore", "loop-var-capture", cwd=tmp_path).exit_code == 0


def test_unsafe_fixes_from_the_file_and_the_flag_that_wins(tmp_path):
    module(tmp_path, version="1.22", files={"main.go": UNSAFE})
    config = tmp_path / "gofix-defer.toml"
    config.write_text("unsafe-fixes = true\n")
    diff = invoke(".", "--no-cache", "--diff", cwd=tmp_path)
    assert diff.exit_code == 1 and "+\t\tfunc() {" in diff.stdout
    assert invoke(".", "--no-cache", "--diff", "--no-unsafe-fixes", cwd=tmp_path).stdout == ""
    config.write_text("unsafe-fixes = false\n")
    assert invoke(".", "--no-cache", "--diff", cwd=tmp_path).stdout == ""
    assert "+\t\tfunc() {" in invoke(".", "--no-cache", "--diff", "--unsafe-fixes", cwd=tmp_path).stdout


def test_go_version_key_and_the_flag_that_wins(tmp_path):
    module(tmp_path, version="1.21")
    config = tmp_path / "gofix-defer.toml"
    config.write_text('go-version = "1.22"\n')
    assert invoke(".", "--no-cache", cwd=tmp_path).exit_code == 0  # Go 1.22 loop variables: nothing to report
    assert invoke(".", "--no-cache", "--go-version", "1.21", cwd=tmp_path).exit_code == 1


def test_exclude_globs_in_the_file_and_on_the_command_line(tmp_path):
    files = {name: LEAKY for name in ("main.go", "gen/a.go", "pkg/gen/b.go", "pkg/x_mock.go", "internal/legacy/old.go", "internal/keep.go")}
    module(tmp_path, files=files)
    config = tmp_path / "gofix-defer.toml"
    config.write_text('exclude = ["gen/", "*_mock.go", "/internal/legacy/**"]\n')
    assert reported(invoke(".", "--no-cache", cwd=tmp_path)) == {"main.go", "internal/keep.go"}
    # Globs are relative to the file that holds them, from wherever the run starts.
    assert reported(invoke("keep.go", "legacy", "--no-cache", cwd=tmp_path / "internal")) == {"keep.go"}
    # --extend-exclude adds, --exclude replaces.
    assert reported(invoke(".", "--no-cache", "--extend-exclude", "main.go", cwd=tmp_path)) == {"internal/keep.go"}
    replaced = invoke(".", "--no-cache", "--exclude", "internal", cwd=tmp_path)
    assert reported(replaced) == {"main.go", "gen/a.go", "pkg/gen/b.go", "pkg/x_mock.go"}
    # A file named on the command line (as pre-commit names them) is excluded too, with a note.
    named = invoke("gen/a.go", "main.go", "--no-cache", cwd=tmp_path)
    assert reported(named) == {"main.go"}
    assert "note: gen/a.go: not checked: excluded by 'gen/'" in named.stderr
    # --write leaves excluded files alone.
    assert invoke(".", "--no-cache", "--write", cwd=tmp_path).exit_code == 0
    assert (tmp_path / "gen/a.go").read_text() == LEAKY and (tmp_path / "main.go").read_text() == FIXED


def test_per_file_ignores(tmp_path):
    module(tmp_path, files={"main.go": LEAKY, "legacy/a.go": LEAKY, "legacy/b.go": LEAKY})
    (tmp_path / "gofix-defer.toml").write_text('[per-file-ignores]\n"legacy/a.go" = ["loop-var-capture"]\n"b.go" = ["defer-in-loop"]\n')
    assert reported(invoke(".", "--no-cache", cwd=tmp_path)) == {"main.go", "legacy/b.go"}
    # Fixes of an ignored rule are not applied either, and output keeps the discovery order.
    written = invoke(".", "--no-cache", "--write", cwd=tmp_path)
    assert written.exit_code == 0
    assert (tmp_path / "legacy/a.go").read_text() == LEAKY and (tmp_path / "legacy/b.go").read_text() == FIXED


def test_output_order_is_kept_across_settings_groups(tmp_path):
    names = [f"p/f{n}.go" for n in range(6)]
    module(tmp_path, files={name: LEAKY for name in names})
    (tmp_path / "gofix-defer.toml").write_text('[per-file-ignores]\n"f1.go" = ["defer-in-loop"]\n"f4.go" = ["defer-in-loop"]\n')
    lines = [line.split(":", 1)[0] for line in invoke(".", "--no-cache", cwd=tmp_path).stdout.splitlines()]
    assert lines == names


def test_tests_key_and_flag(tmp_path):
    module(tmp_path, files={"main.go": LEAKY, "main_test.go": TEST_FILE})
    config = tmp_path / "gofix-defer.toml"
    assert reported(invoke(".", "--no-cache", cwd=tmp_path)) == {"main.go", "main_test.go"}
    config.write_text("tests = false\n")
    assert reported(invoke(".", "--no-cache", cwd=tmp_path)) == {"main.go"}
    assert reported(invoke(".", "--no-cache", "--tests", cwd=tmp_path)) == {"main.go", "main_test.go"}
    config.write_text("tests = true\n")
    assert reported(invoke(".", "--no-cache", "--no-tests", cwd=tmp_path)) == {"main.go"}


def test_verify_is_passed_on_to_the_engine(tmp_path, monkeypatch):
    import gofix_defer.codemods.cli.check as check
    from gofix_defer.codemods.engine.process import Settings

    seen: list[bool] = []

    @dataclass
    class WithVerify(Settings):
        verify: bool = True

        def __post_init__(self) -> None:
            super().__post_init__()
            seen.append(self.verify)

    monkeypatch.setattr(check, "Settings", WithVerify)
    module(tmp_path)
    config = tmp_path / "gofix-defer.toml"
    config.write_text("verify = false\n")
    invoke(".", "--no-cache", cwd=tmp_path)
    invoke(".", "--no-cache", "--verify", cwd=tmp_path)
    config.write_text("verify = true\n")
    invoke(".", "--no-cache", cwd=tmp_path)
    invoke(".", "--no-cache", "--no-verify", cwd=tmp_path)
    assert seen == [False, True, True, False]


@pytest.mark.parametrize(
    "text,line,expected",
    [
        ('select = ["loop-var-capture"]\nselct = ["x"]\n', 2, "key 'selct': unknown key; did you mean 'select'?"),
        ('# rules\nignore = [\n  "loop-var-captur",\n]\n', 2, "key 'ignore': unknown rule 'loop-var-captur' (did you mean 'loop-var-capture'?)"),
        ("tests = 1\n", 1, "key 'tests': expected true or false, got the number 1"),
        ("\n\nunsafe-fixes = \"yes\"\n", 3, "key 'unsafe-fixes': expected true or false, got the string 'yes'"),
        ("go-version = 1.20\n", 1, "key 'go-version': expected a Go version as a string"),
        ('go-version = "banana"\n', 1, "key 'go-version': not a Go version"),
        ("exclude = [1]\n", 1, "key 'exclude': expected a list of globs"),
        ('exclude = ["a/**b"]\n', 1, "key 'exclude': bad glob"),
        ('[per-file-ignores]\n"*_test.go" = ["defer-in-loop"]\n"x.go" = ["nope"]\n', 3, "key 'per-file-ignores.\"x.go\"': unknown rule 'nope'"),
        ("per-file-ignores = [1]\n", 1, "key 'per-file-ignores': expected a table"),
        ("tests = true\nselect = [1,,]\n", 2, "invalid TOML"),
        ("tests = true\nselect = [\n", 2, "invalid TOML"),
    ],
)
def test_bad_config_is_an_error_naming_file_key_and_line(tmp_path, text, line, expected):
    module(tmp_path)
    (tmp_path / "gofix-defer.toml").write_text(text)
    result = invoke(".", "--no-cache", cwd=tmp_path)
    assert result.exit_code == 2
    assert f"error: gofix-defer.toml:{line}: {expected}" in result.stderr
    assert result.stdout == ""  # nothing was checked with a half-read configuration


def test_two_config_files_in_one_folder_are_an_error(tmp_path):
    module(tmp_path)
    (tmp_path / "gofix-defer.toml").write_text("")
    (tmp_path / ".gofix-defer.toml").write_text("")
    result = invoke(".", cwd=tmp_path)
    assert result.exit_code == 2 and "keep one" in result.stderr


def test_load_config_reads_every_key(tmp_path):
    path = tmp_path / "gofix-defer.toml"
    path.write_text(
        'select = ["loop-var-capture", "defer-in-loop"]\nignore = ["defer-in-loop"]\nunsafe-fixes = true\n'
        'go-version = "1.21"\nexclude = ["gen/"]\ntests = false\nverify = false\n'
        '[per-file-ignores]\n"*_test.go" = ["loop-var-capture"]\n'
    )
    config = load_config(str(path), ["loop-var-capture", "defer-in-loop"])
    assert config.select == ("loop-var-capture", "defer-in-loop") and config.ignore == ("defer-in-loop",)
    assert config.unsafe_fixes is True and config.tests is False and config.verify is False
    assert config.go_version == (1, 21)
    assert [g.pattern for g in config.exclude] == ["gen/"]
    assert [(g.pattern, names) for g, names in config.per_file_ignores] == [("*_test.go", ("loop-var-capture",))]
    with pytest.raises(ConfigError, match="unknown key"):
        path.write_text("[tool]\nx = 1\n")
        load_config(str(path), [])


@pytest.mark.parametrize(
    "pattern,path,matched",
    [
        ("gen", "gen/a.go", True),
        ("gen", "pkg/gen/a.go", True),
        ("gen", "pkg/generated/a.go", False),
        ("gen/", "pkg/gen", False),  # a file named gen: folders only
        ("*_mock.go", "a/b/x_mock.go", True),
        ("*.go", "a/b.txt", False),
        ("/internal", "internal/a.go", True),
        ("/internal", "pkg/internal/a.go", False),
        ("cmd/*/main.go", "cmd/tool/main.go", True),
        ("cmd/*/main.go", "cmd/a/b/main.go", False),
        ("cmd/**/main.go", "cmd/a/b/main.go", True),
        ("cmd/**/main.go", "cmd/main.go", True),
        ("**/testdata/**", "a/testdata/x.go", True),
        ("[ab].go", "b.go", True),
        ("?.go", "ab.go", False),
    ],
)
def test_glob_semantics(tmp_path, pattern, path, matched):
    assert Glob(pattern, str(tmp_path)).matches(str(tmp_path / path)) is matched


def test_a_pathological_glob_does_not_hang(tmp_path):
    glob = Glob("**/" + "a*" * 12 + "b/**/" + "*a" * 12 + "c", str(tmp_path))
    deep = tmp_path / "/".join(["a" * 60] * 30)
    started = time.perf_counter()
    assert not glob.matches(str(deep / ("a" * 200 + ".go")))
    assert time.perf_counter() - started < 2.0


def test_a_bad_command_line_glob_is_a_usage_error(tmp_path):
    module(tmp_path)
    result = invoke(".", "--extend-exclude", "a/**b", cwd=tmp_path)
    assert result.exit_code == 2 and "error: --extend-exclude: bad glob: 'a/**b'" in result.stderr


AB_BA = """package main

import "sync"

type Store struct {
	mu       sync.Mutex
	replicas []*Replica
}

type Replica struct {
	mu    sync.Mutex
	store *Store
}

func (r *Replica) clean() {
	r.mu.Lock()
	defer r.mu.Unlock()
}

func (s *Store) record() {
	s.mu.Lock()
	defer s.mu.Unlock()
}

func (s *Store) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.replicas {
		r.clean()
	}
}

func (r *Replica) split() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.store.record()
}

func main() {}
"""


def test_an_opt_in_rule_runs_only_when_selected_by_name(tmp_path):
    # lock-order reads below the precision bar on real code (Rule.opt_in): not a default rule.
    module(tmp_path, files={"main.go": AB_BA})
    assert invoke(str(tmp_path)).exit_code == 0
    chosen = invoke("--select", "lock-order", str(tmp_path))
    assert chosen.exit_code == 1 and "[lock-order]" in chosen.stdout
    (tmp_path / "gofix-defer.toml").write_text('select = ["lock-order"]\n')
    assert "[lock-order]" in invoke(str(tmp_path)).stdout
    (tmp_path / "gofix-defer.toml").write_text('ignore = ["loop-var-capture"]\n')
    assert invoke(str(tmp_path)).exit_code == 0  # ignoring others does not select it
    listed = invoke("--list-rules").stdout
    assert any(line.startswith("lock-order") and "opt-in" in line for line in listed.splitlines())
