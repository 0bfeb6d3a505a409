"""The unit of analysis: a Go package, the `.go` files of one directory that
share a package clause (an external `_test` package is a package of its own).

Rules still report per file, but facts may be about the whole package: who
closes a channel a function passes on, which methods of a type serve a
field. A Package parses another file only when a fact needs it, once, and
every rule shares those parses. Most questions name something (a function,
a type, a field), and a file that can answer must hold that name: its bytes
are searched first (``files_mentioning``, ``files_declaring``), so a
package fact about one function parses the few files that could matter,
not the whole package. What a cached result of one of its files depends on
is every file of the package (path and content hash): a file left unparsed
was left so because of its bytes.
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import TYPE_CHECKING, Callable, Iterable, TypeVar

from gofix_defer.codemods.analysis.facts import Fact
from gofix_defer.codemods.analysis.lexical import function_declaration_end, inside_literal, may_declare, says_word, starts_name

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


# A function or method declaration, read from bytes: `func name`, `func (r *T) name`,
# followed by its type parameters or parameters. Comments or a parenthesised type
# inside a receiver can hide one (no real code is written so): its calls are then
# calls out of the package, whose effects are unknown, as without the package model.
# The name is never `func` itself: a comment ending in "func" must not swallow the
# declaration on the next line (`// … func` + `\nfunc (c *Client) do(`). The pattern
# starts with its literal, not `\b` (checked after: `myfunc(x) y(` is no declaration),
# so that the regex engine searches for it at C speed: eleven times faster.
# `func` then a receiver, or blanks (`funcType(` is a call of `funcType`), then the name.
_DECLARED_FUNCTION = re.compile(rb"func(?:\s*(\([^()]*\))\s*|\s+)(?!func\b)([A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)\s*[\[(]")
_NAME = re.compile(rb"[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*")


def declared_functions(data: bytes) -> Iterable[tuple[bytes, int]]:
    """(name, offset of its `func` keyword) of the functions and methods a Go file
    declares, read from its bytes: a superset of what its parse declares (a func
    literal's parameters may look like one), but for the odd formatting
    _DECLARED_FUNCTION describes."""
    for name, start, _ in _declarations(data):
        yield name, start


def declares_method(data: bytes, names: "frozenset[bytes] | tuple[bytes, ...]") -> bool:
    """Does the Go file declare a method (a function with a receiver) of one of ``names``?
    Read from its bytes, as ``declared_functions``."""
    return any(receiver and name in names for name, _, receiver in _declarations(data))


def _declarations(data: bytes) -> Iterable[tuple[bytes, int, bytes]]:
    """``declared_functions``, with each one's receiver, `(s *Server)` (b"" for none)."""
    for match in _DECLARED_FUNCTION.finditer(data):
        if starts_name(data, match.start()):
            yield match.group(2), match.start(), match.group(1) or b""


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


Loader = Callable[[str], "SourceFile | None"]
Lister = Callable[[], Iterable[str]]


def go_files_in(directory: str) -> list[str]:
    """The `.go` files of a directory the go tool would consider (not `_x.go` / `.x.go`)."""
    found = []
    try:
        # scandir knows each entry's type from the directory itself: no stat per file
        # (but for a symbolic link, followed as os.path.isfile follows it).
        with os.scandir(directory or ".") as entries:
            for entry in entries:
                name = entry.name
                if not name.endswith(".go") or name.startswith(("_", ".")):
                    continue
                try:
                    if entry.is_file():
                        found.append(os.path.join(directory, name))
                except OSError:
                    continue
    except OSError:
        return []
    return sorted(found)


def listing_key(directory: str) -> str:
    """The dependency entry that stands for a directory's list of Go files."""
    return os.path.join(directory or ".", "")


class Package:
    """The files of one Go package, parsed on demand.

    ``lister`` gives the candidate paths (a directory's Go files); a path
    belongs to the package when its package clause names the package.
    ``peek`` gives a listed file's bytes without parsing it (None: it cannot
    be read, or is left out, as generated files are), so that membership and
    the byte searches cost no parse; without it, they parse. The list is only
    taken, and other files only read, when a package fact is asked for.
    """

    def __init__(
        self,
        directory: str,
        name: bytes | None,
        load: Loader,
        lister: Lister | None = None,
        paths: Iterable[str] = (),
        peek: "Callable[[str], bytes | None] | None" = None,
    ):
        self.directory = directory
        self.name = name
        self._load = load
        self._lister = lister
        self._peek = peek
        self._paths: list[str] | None = sorted(set(paths)) if lister is None else None
        self._adopted: dict[str, SourceFile] = {}
        self._files: dict[str, SourceFile | None] = {}
        self._facts: dict[type[Fact], Fact] = {}
        # name -> (path, offset) of each declaration of a function or method of that name
        # the files' bytes may hold, in path order.
        self._declaring: dict[bytes, list[tuple[str, int]]] | None = None
        self._receiving: dict[bytes, dict[str, None]] = {}  # receiver word -> paths (with _declaring)
        self._texts: dict[bytes, list[bytes] | None] = {}  # name -> declaration_texts(name)
        self._declared_from: dict[str, bytes] = {}  # path -> the bytes _declaring was read from
        self._digests: dict[str, str] = {}

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
                data = self.raw(path)
                if data is not None and package_name_of(data) == self.name:
                    found.add(path)
            self._paths = sorted(found)
        return self._paths

    def raw(self, path: str) -> bytes | None:
        """The bytes of a file of the directory, parsed only when there is no ``peek``
        (None when it cannot be read, parsed, or is left out)."""
        known = self._files.get(path)
        if known is not None:
            return known.data
        if self._peek is not None:
            return self._peek(path) if path not in self._files else None
        parsed = self.file(path)
        return parsed.data if parsed is not None else None

    def parse_of(self, path: str, data: bytes, go_version: tuple[int, int]) -> "SourceFile | None":
        """The package's parse of ``path`` when it already parsed these very bytes at this
        Go version (for an earlier file's package facts): parsing them again is waste."""
        known = self._files.get(path)
        if known is not None and known.data == data and known.go_version == go_version:
            return known
        return None

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
        read = known.data if known is not None else self._declared_from.get(source.path)
        if read is not None and read != source.data:  # what was read of the file is stale
            self._declaring = None
            self._texts = {}
            self._digests.pop(source.path, None)
        self._adopted[source.path] = source
        self._files[source.path] = source
        if self._paths is not None and source.path not in self._paths:
            self._paths = sorted({*self._paths, source.path})
            self._declaring, self._texts = None, {}  # read without the new file
        source._package = self
        return source

    def release(self) -> None:
        """Forget the package's parses and facts, once none of its files will be checked
        again (see SourceFile.release)."""
        for source in self._files.values():  # the adopted files are among them
            if source is not None:
                source.release()
        self._files.clear()
        self._adopted.clear()
        self._facts.clear()

    def forget_facts(self) -> None:
        """Forget the package facts, not the files: for a package ``with_file`` made, once
        its file is checked (the files it shares with the original live on there)."""
        self._facts.clear()

    def with_file(self, source: "SourceFile") -> "Package":
        """This package with ``source`` in place of its file: the parses of the other
        files are shared, the package facts are computed afresh (a fixed file may
        change them)."""
        other = Package(self.directory, self.name, self._load, self._lister, self._paths or (), self._peek)
        other._paths = self._paths
        other._files = {path: parsed for path, parsed in self._files.items() if path != source.path}
        other._adopted = {path: parsed for path, parsed in self._adopted.items() if path != source.path}
        other._digests = {path: value for path, value in self._digests.items() if path != source.path}
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
        return self._parsed(self.paths)

    def files_mentioning(self, *words: bytes) -> list["SourceFile"]:
        """The files of the package whose bytes hold one of ``words``, parsed, in path
        order: every file that can declare, call or use a name (and a few more)."""
        return self.files_matching(lambda data: any(word in data for word in words))

    def files_saying(self, *words: bytes) -> list["SourceFile"]:
        """The files of the package whose bytes hold one of ``words`` as a whole name
        (``lexical.says_word``), parsed, in path order."""
        return self.files_matching(lambda data: any(says_word(data, word) for word in words))

    def files_that_may_declare(self, name: bytes) -> list["SourceFile"]:
        """The files of the package whose bytes may declare a type or variable ``name``
        at the top level (``lexical.may_declare``), parsed, in path order."""
        return self.files_matching(lambda data: may_declare(data, name))

    def files_matching(self, says: Callable[[bytes], bool]) -> list["SourceFile"]:
        """The files of the package whose bytes ``says`` yes for (a question of
        lexical.py, which never says no where the parse would say yes), parsed, in path
        order."""
        return self._parsed([path for path in self.paths if says(self.raw(path) or b"")])

    def files_declaring(self, name: bytes, mentioning: bytes = b"") -> list["SourceFile"]:
        """The files of the package that may declare a function or method ``name``
        (``declared_functions``) and whose bytes hold ``mentioning`` (a method's
        receiver type), parsed, in path order."""
        paths = dict.fromkeys(path for path, _ in self._declarations_of(name))
        return self._parsed([path for path in paths if not mentioning or mentioning in (self.raw(path) or b"")])

    def declaration_texts(self, name: bytes) -> list[bytes] | None:
        """The bytes of every declaration of a function or method ``name`` the package's
        files may hold, each from its `func` keyword to the end of its body
        (``lexical.function_declaration_end``), read without parsing: each declaration
        the parse finds lies in one of them, but for the odd formatting
        ``declared_functions`` misses (a `func` in a comment or a string is none).
        None when the bytes of one do not say where it ends."""
        if name not in self._texts:  # asked by several lock-chain questions per name
            self._texts[name] = self._read_declaration_texts(name)
        return self._texts[name]

    def _read_declaration_texts(self, name: bytes) -> list[bytes] | None:
        found = []
        for path, start in self._declarations_of(name):
            data = self.raw(path) or b""
            end = function_declaration_end(data, start)
            if end is None:
                if inside_literal(data, start):
                    continue  # `//\tfunc f() {` in a comment, or a string: no declaration
                return None
            found.append(data[start:end])
        return found

    def _declarations_of(self, name: bytes) -> list[tuple[str, int]]:
        return self._read_declarations().get(name, [])

    def _read_declarations(self) -> dict[bytes, list[tuple[str, int]]]:
        """``_declaring`` (and ``_receiving`` with it), read from the files' bytes once,
        and again after an edit resets them."""
        if self._declaring is None:
            declaring: dict[bytes, list[tuple[str, int]]] = {}
            receiving: dict[bytes, dict[str, None]] = {}
            self._declared_from = {}
            for path in self.paths:
                data = self._declared_from[path] = self.raw(path) or b""
                for declared, start, receiver in _declarations(data):
                    declaring.setdefault(declared, []).append((path, start))
                    for word in _NAME.findall(receiver):
                        receiving.setdefault(word, {})[path] = None
            self._declaring, self._receiving = declaring, receiving
        return self._declaring

    def files_declaring_methods_of(self, type_name: bytes) -> list["SourceFile"]:
        """The files of the package that may declare a method of ``type_name`` (a
        receiver of ``declared_functions`` names it), parsed, in path order."""
        self._read_declarations()
        return self._parsed(list(self._receiving.get(type_name, {})))

    def _parsed(self, paths: Iterable[str]) -> list["SourceFile"]:
        found = []
        for path in paths:
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
        """What a result for ``path`` that read package facts depends on: the content
        hash of every other file of the package (the ones parsed, and the ones whose
        bytes said they need not be), and the directory's list of Go files (a file
        added or removed changes the package)."""
        found = {}
        for other in self.paths:
            if other == path:
                continue
            value = self._digests.get(other)
            if value is None:
                data = self.raw(other)
                if data is None:
                    continue
                value = self._digests[other] = digest(data)
            found[other] = value
        if self._lister is not None:
            names = sorted(os.path.basename(p) for p in self._lister())
            found[listing_key(self.directory)] = digest("\n".join(names).encode())
        return found
