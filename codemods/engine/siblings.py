"""How a checked file's package reads its other files, the same for every front end.

The command line, the editor server and the review bot read sibling files
from different places (the disk, unsaved editor buffers, a git commit), but
what they read must be the same package: otherwise one file gets different
findings in the editor than on the command line. This module holds that
one decision — generated files are left out, each file is read once, its Go
version is the one its go.mod and build constraint give — and leaves to the
front end only where the bytes come from.
"""

from __future__ import annotations

from typing import Callable

from gofix_defer.codemods.analysis.goversion import effective_go_version
from gofix_defer.codemods.analysis.package import Lister, Package, package_name_of
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.engine.suppress import is_generated

Reader = Callable[[str], "bytes | None"]  # a path's bytes; None when it cannot be read


class SiblingFiles:
    """The other files of checked files' packages, read through ``read``.

    Generated files are left out, as they are never checked: what they
    declare is outside the package's sight (a call into them has unknown
    effects), and their bulk (the compiler's rewrite rules, syscall tables,
    bundled packages) would cost more than the rest of a run. ``peek`` gives
    a file's bytes unparsed, for the package's byte searches; ``load`` parses
    it for package facts. Both packages of a directory (`x` and `x_test`)
    peek the same file: it is read once.
    """

    def __init__(self, read: Reader, go_version: tuple[int, int] | None = None):
        self._read = read
        self._override = go_version
        self._bytes: dict[str, bytes | None] = {}

    def peek(self, path: str) -> bytes | None:
        if path not in self._bytes:
            data = self._read(path)
            self._bytes[path] = None if data is None or is_generated(data) else data
        return self._bytes[path]

    def load(self, path: str) -> SourceFile | None:
        data = self.peek(path)
        if data is None:
            return None
        return SourceFile(path, data, effective_go_version(path, self._override, data))

    def package(self, directory: str, data: bytes, lister: Lister) -> Package:
        """The package of a checked file with bytes ``data`` in ``directory``."""
        return Package(directory, package_name_of(data), self.load, lister=lister, peek=self.peek)
