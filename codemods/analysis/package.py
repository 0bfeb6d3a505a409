"""The unit of analysis: a Go package, the `.go` files of one directory that
share a package clause (an external `_test` package is a package of its own).

Rules still report per file, but facts may be about the whole package: who
closes a channel a function passes on, which methods of a type serve a
field. A Package parses its other files only when such a fact is asked for,
once, and every rule shares those parses. What it read (path and content
hash) is what a cached result of one of its files depends on.
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import TYPE_CHECKING, Callable, Iterable, TypeVar

from gofix_defer.codemods.analysis.facts import Fact

if TYPE_CHECKING:  # pragma: no cover
    from gofix_defer.codemods.analysis.source import SourceFile

F = TypeVar("F", bound=Fact)

# The package clause, found without parsing: `package name` at the start of a
# line (gofmt puts it there), after the file's leading comments.
_PACKAGE_CLAUSE = re.compile(rb"(?m)^[ \t]*package[ \t]+([A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)")


def package_name_of(data: bytes) -> bytes | None:
    """The name in the file's package clause, read from its bytes (None when absent)."""
    position = 0
    length = len(data)
    # Skip the leading comments, so that `package x` written inside one is not taken.
    while position < length:
        while position < length and data[position : position + 1] in b" \t\r\n\xef\xbb\xbf":
            position += 1
        if data.startswith(b"//", position):
            end = data.find(b"\n", position)
            position = length if end < 0 else end + 1
        elif data.startswith(b"/*", position):
            end = data.find(b"*/", position + 2)
            position = length if end < 0 else end + 2
        else:
            break
    match = _PACKAGE_CLAUSE.match(data, position)
    return match.group(1) if match else None


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


Loader = Callable[[str], "SourceFile | None"]


class Package:
    """The files of one Go package, parsed on demand."""

    def __init__(self, directory: str, name: bytes | None, paths: Iterable[str], load: Loader):
        self.directory = directory
        self.name = name
        self.paths = sorted(set(paths))
        self._load = load
        self._files: dict[str, SourceFile | None] = {}
        self._facts: dict[type[Fact], Fact] = {}
        # path -> content hash of every file this package parsed through its loader.
        self.read: dict[str, str] = {}

    @classmethod
    def of_file(cls, source: "SourceFile") -> "Package":
        """A package of this one file (a file checked on its own, as in a unit test)."""
        package = cls(os.path.dirname(source.path), package_name_of(source.data), [source.path], lambda path: None)
        package.adopt(source)
        return package

    def adopt(self, source: "SourceFile") -> None:
        """Make ``source`` this package's version of its file (already parsed by the caller)."""
        if source.path not in self.paths:
            self.paths = sorted({*self.paths, source.path})
        self._files[source.path] = source
        source._package = self

    def with_file(self, source: "SourceFile") -> "Package":
        """This package with ``source`` in place of its file: the parses of the other
        files are shared, the package facts are computed afresh (a fixed file may
        change them)."""
        other = Package(self.directory, self.name, self.paths, self._load)
        other._files = {path: parsed for path, parsed in self._files.items() if path != source.path}
        other.read = dict(self.read)
        other.adopt(source)
        return other

    def file(self, path: str) -> "SourceFile | None":
        """The parsed file at ``path`` (None when it cannot be read or parsed)."""
        if path not in self._files:
            loaded = self._load(path)
            if loaded is not None:
                loaded._package = self
                self.read[path] = digest(loaded.data)
            self._files[path] = loaded
        return self._files[path]

    def files(self) -> list["SourceFile"]:
        """Every file of the package that can be read and parsed, in path order."""
        found = []
        for path in self.paths:
            parsed = self.file(path)
            if parsed is not None and not parsed.has_syntax_error():
                found.append(parsed)
        return found

    def facts(self, kind: type[F]) -> F:
        found = self._facts.get(kind)
        if found is None:
            found = self._facts[kind] = kind(self)  # type: ignore[arg-type]
        return found  # type: ignore[return-value]

    def dependencies(self, path: str) -> dict[str, str]:
        """The files other than ``path`` whose contents the analysis read."""
        return {p: d for p, d in sorted(self.read.items()) if p != path}
