"""Lint and type checks are part of the test command: ruff and mypy, clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return found


def test_ruff_is_clean():
    result = subprocess.run([_tool("ruff"), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean(tmp_path):
    # The source folders install as gofix_defer.codemods and gofix_defer.rules
    # (setuptools package-dir); lay them out that way for mypy to follow imports.
    package = tmp_path / "gofix_defer"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "codemods").symlink_to(ROOT / "codemods", target_is_directory=True)
    (package / "rules").symlink_to(ROOT / "rules", target_is_directory=True)
    result = subprocess.run(
        [_tool("mypy"), "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(tmp_path / ".mypy_cache"), "-p", "gofix_defer"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"MYPYPATH": str(tmp_path), "PATH": str(Path(sys.executable).parent)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
