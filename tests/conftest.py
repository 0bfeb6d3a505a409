"""Suite-wide set-up: the result cache of every run goes to a folder of the test session.

The tool keeps its cache in the user cache directory (XDG_CACHE_HOME on
Linux); the suite points that at a temporary folder, so test runs neither
read a developer's cache nor leave entries in it. Tests that check the
location itself set XDG_CACHE_HOME (or --cache-dir) on their own. Go's
build cache also defaults to XDG_CACHE_HOME: it is pinned to where it was, so
the Go builds of the suite stay warm across sessions.
"""

from __future__ import annotations

import os
import tempfile

import pytest


@pytest.fixture(autouse=True, scope="session")
def _session_cache_home():
    previous = {name: os.environ.get(name) for name in ("XDG_CACHE_HOME", "GOCACHE")}
    if not previous["GOCACHE"]:
        home = previous["XDG_CACHE_HOME"] or os.path.join(os.path.expanduser("~"), ".cache")
        os.environ["GOCACHE"] = os.path.join(home, "go-build")
    with tempfile.TemporaryDirectory(prefix="gofix-defer-test-cache-") as folder:
        os.environ["XDG_CACHE_HOME"] = folder
        try:
            yield folder
        finally:
            for name, value in previous.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
