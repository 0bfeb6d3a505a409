"""Every Python package under codemods/ and rules/ is shipped by pyproject.toml.

setuptools' explicit `packages` list (needed for the package-dir mapping to
gofix_defer.*) does not pick up subpackages on its own: a new subfolder that
is not listed works in an editable install and vanishes from the wheel.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_folder_is_listed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = config["package-dir"]
    expected = set()
    for name, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            expected.add(".".join([name, *relative.parts]))
    assert set(config["packages"]) == expected
