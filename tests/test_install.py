"""What a user who never clones gets: build the wheel, install it in a fresh venv
(its dependencies from the package index, as `pipx install` / `uv tool install`
would), run the installed command on a fixture.

The build runs on a copy of the sources, so the checkout gets no build/ or
*.egg-info folder. Needs the package index (PyPI or a mirror) for the build
backend and the dependencies, as installing the test extra does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "loop-var-capture" / "goroutines_and_defers"


def _pip(python: Path | str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", *args], cwd=cwd, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("install")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for folder in ("codemods", "rules"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    built = _pip(sys.executable, "wheel", "--no-deps", "--wheel-dir", str(work / "dist"), str(source), cwd=work)
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = (work / "dist").glob("gofix_defer-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    done = _pip(python, "install", str(wheel), cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr
    return wheel, venv


def test_the_wheel_holds_the_code_and_nothing_else(installed):
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert "gofix_defer/codemods/cli/__init__.py" in names and "gofix_defer/rules/__init__.py" in names
    assert "gofix_defer/codemods/run/config.py" in names
    assert not [n for n in names if n.startswith(("tests/", "fixtures/", "rules/", "codemods/"))]


def test_the_installed_command_runs(installed, tmp_path):
    from gofix_defer.codemods import __version__

    _, venv = installed
    command = venv / "bin" / "gofix-defer"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    version = subprocess.run([str(command), "--version"], capture_output=True, text=True, env=env, timeout=120)
    assert version.returncode == 0 and version.stdout == f"gofix-defer {__version__}\n"
    # The installed copy, not this checkout's, is what runs.
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import gofix_defer.codemods as c; print(c.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    assert str(venv) in where.stdout
    project = tmp_path / "project"
    shutil.copytree(FIXTURE, project)
    checked = subprocess.run([str(command), "--no-cache", "."], cwd=project, capture_output=True, text=True, env=env, timeout=300)
    assert checked.returncode == 1, checked.stderr
    assert "[loop-var-capture]" in checked.stdout
    diff = subprocess.run([str(command), "--no-cache", "--diff", "."], cwd=project, capture_output=True, text=True, env=env, timeout=300)
    assert diff.returncode == 1 and diff.stdout.startswith("--- a/")
    assert sorted(p.name for p in project.iterdir()) == sorted(p.name for p in FIXTURE.iterdir())  # no stray files
