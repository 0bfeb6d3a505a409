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

# The package clause, found without parsing: `package name` after the file's
# leading comments and white space.
_PACKAGE_CLAUSE = re.compile(rb"package[ \t]+([A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)")


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
Lister = Callable[[], Iterable[str]]


def go_files_in(directory: str) -> list[str]:
    """The `.go` files of a directory the go tool would consider (not `_x.go` / `.x.go`)."""
    try:
        names = os.listdir(directory or ".")
    except OSError:
        return []
    found = []
    for name in sorted(names):
        if not name.endswith(".go") or name.startswith(("_", ".")):
            continue
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            found.append(path)
    return found


def listing_key(directory: str) -> str:
    """The dependency entry that stands for a directory's list of Go files."""
    return os.path.join(directory or ".", "")


class Package:
    """The files of one Go package, parsed on demand.

    ``lister`` gives the candidate paths (a directory's Go files); a path
    belongs to the package when its package clause names the package. The
    list is only taken, and other files only read, when a package fact is
    asked for.
    """

    def __init__(
        self,
        directory: str,
        name: bytes | None,
        load: Loader,
        lister: Lister | None = None,
        paths: Iterable[str] = (),
        clause: "Callable[[str], bytes | None] | None" = None,
    ):
        self.directory = directory
        self.name = name
        self._load = load
        self._lister = lister
        # The package clause of a listed file without parsing it (None: parse to know),
        # so the files of the directory's other package (`x_test`) are never parsed here.
        self._clause = clause
        self._paths: list[str] | None = sorted(set(paths)) if lister is None else None
        self._adopted: dict[str, SourceFile] = {}
        self._files: dict[str, SourceFile | None] = {}
        self._facts: dict[type[Fact], Fact] = {}
        # path -> content hash of every file the package facts were computed from.
        self.read: dict[str, str] = {}

    @classmethod
    def of_file(cls, source: "SourceFile") -> "Package":
        """A package of this one file (a file checked on its own, as in a unit test)."""
        package = cls(os.path.dirname(source.path), package_name_of(source.data), lambda path: None, paths=[source.path])
        package.adopt(source)
        return package

    @property
    def paths(self) -> list[str]:
        if self._paths is None:
            found = set(self._adopted)
            for path in self._lister() if self._lister is not None else ():
                if path in self._adopted:
                    continue
                if self._clause is not None and self._clause(path) != self.name:
                    continue
                parsed = self.file(path)
                if parsed is not None and package_name_of(parsed.data) == self.name:
                    found.add(path)
            self._paths = sorted(found)
        return self._paths

    def adopt(self, source: "SourceFile") -> "SourceFile":
        """Make ``source`` this package's version of its file (already parsed by the caller)
        and return the version to check: the package's own parse when it already read the
        same bytes at the same Go version for an earlier file's package facts. Those facts
        point into that parse; checking a second parse of the file against them would make
        every "is this the same node?" question answer no."""
        known = self._files.get(source.path)
        if known is not None and known is not source and known.data == source.data and known.go_version == source.go_version:
            source = known
        elif known is not None and known is not source and self._facts:
            self._facts = {}  # computed from other bytes: compute them again, lazily
            self.read = {}
        self._adopted[source.path] = source
        self._files[source.path] = source
        if self._paths is not None and source.path not in self._paths:
            self._paths = sorted({*self._paths, source.path})
        source._package = self
        return source

    def with_file(self, source: "SourceFile") -> "Package":
        """This package with ``source`` in place of its file: the parses of the other
        files are shared, the package facts are computed afresh (a fixed file may
        change them)."""
        other = Package(self.directory, self.name, self._load, self._lister, self._paths or (), self._clause)
        other._paths = self._paths
        other._files = {path: parsed for path, parsed in self._files.items() if path != source.path}
        other._adopted = {path: parsed for path, parsed in self._adopted.items() if path != source.path}
        other.adopt(source)
        return other

    def file(self, path: str) -> "SourceFile | None":
        """The parsed file at ``path`` (None when it cannot be read or parsed)."""
        if path not in self._files:
            loaded = self._load(path)
            if loaded is not None:
                loaded._package = self
            self._files[path] = loaded
        return self._files[path]

    def files(self) -> list["SourceFile"]:
        """Every file of the package that can be read and parsed, in path order."""
        found = []
        for path in self.paths:
            parsed = self.file(path)
            if parsed is not None:
                self.read[path] = digest(parsed.data)
                if not parsed.has_syntax_error():
                    found.append(parsed)
        return found

    def facts(self, kind: type[F]) -> F:
        found = self._facts.get(kind)
        if found is None:
            found = self._facts[kind] = kind(self)  # type: ignore[arg-type]
        return found  # type: ignore[return-value]

    def dependencies(self, path: str) -> dict[str, str]:
        """What a result for ``path`` that read package facts depends on: the content
        hash of every other file of the package, and the directory's list of Go
        files (a file added or removed changes the package)."""
        found = {p: d for p, d in sorted(self.read.items()) if p != path}
        if self._lister is not None:
            names = sorted(os.path.basename(p) for p in self._lister())
            found[listing_key(self.directory)] = digest("\n".join(names).encode())
        return found
