"""Configuration files: ``gofix-defer.toml`` / ``.gofix-defer.toml``.

Each checked file gets the settings of the nearest configuration file in its
folder or above it (walking up to the file system's root); the nearest file
wins whole, keys are not merged with files further up. ``--config PATH``
names one file for every checked file, ``--isolated`` reads none. Command-line
flags win over the file.

Keys (all optional; see README "Configuration")::

    select = ["loop-var-capture"]            # only these rules
    ignore = ["defer-in-loop"]               # never these
    unsafe-fixes = false                     # also apply unsafe fixes with --write
    go-version = "1.21"                      # instead of the nearest go.mod's
    exclude = ["internal/legacy/", "*_mock.go"]
    tests = true                             # check _test.go files
    verify = true                            # compile before writing (engine setting)

    [per-file-ignores]
    "*_test.go" = ["defer-in-loop"]

Globs are relative to the folder of the file that holds them (command-line
ones to the current folder), with ``/`` as separator: a glob without a ``/``
matches a file or folder name at any depth; one with a ``/`` matches the path
from that folder (a leading ``/`` only anchors); ``*`` and ``?`` stay within
one name, ``**`` spans folders, ``[abc]`` is a class; a trailing ``/`` matches
folders only. A glob that matches a folder matches everything below it.
Matching never backtracks exponentially, whatever the glob.

Errors (invalid TOML, unknown keys, values of the wrong type, unknown rule
names, bad globs or Go versions) are ``ConfigError`` naming the file, the key
and its line.

This module knows nothing of the rules themselves: the caller passes the
known rule names, and gets rule *names* back.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from gofix_defer.codemods.analysis.goversion import GoVersionError, parse_go_version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_NAMES = ("gofix-defer.toml", ".gofix-defer.toml")

# key -> what the value must be, as said in an error message.
KEYS = {
    "select": "a list of rule names",
    "ignore": "a list of rule names",
    "unsafe-fixes": "true or false",
    "go-version": 'a Go version as a string, e.g. "1.21"',
    "exclude": "a list of globs",
    "per-file-ignores": 'a table of glob = [rule names], e.g. "*_test.go" = ["defer-in-loop"]',
    "tests": "true or false",
    "verify": "true or false",
}


class ConfigError(Exception):
    """A configuration file (or a command-line glob) that cannot be used."""

    def __init__(self, path: str, message: str, key: str | None = None, line: int | None = None):
        self.path, self.key, self.line, self.message = path, key, line, message
        shown = display_path(path)
        where = shown if line is None else f"{shown}:{line}"
        super().__init__(f"{where}: {message}" if key is None else f"{where}: key '{key}': {message}")


def display_path(path: str) -> str:
    """A path below the current folder relative to it, anything else absolute."""
    if path.startswith("-"):
        return path  # a command-line option, not a file
    relative = os.path.relpath(os.path.abspath(path))
    return relative if relative != ".." and not relative.startswith(".." + os.sep) else os.path.abspath(path)


# -- globs -----------------------------------------------------------------------


class Glob:
    """One exclude / per-file-ignores glob (syntax in the module doc)."""

    def __init__(self, pattern: str, base: str):
        self.pattern = pattern
        self.base = base  # absolute folder the glob is relative to
        text = pattern.strip()
        if not text or text in ("/", "./"):
            raise ValueError("an empty glob")
        if "\\" in text:
            raise ValueError(f"{pattern!r}: write globs with '/' (a backslash is not a separator here)")
        self.folders_only = text.endswith("/")
        text = text.rstrip("/")
        while text.startswith("./"):
            text = text[2:]
        self.anchored = "/" in text
        text = text.lstrip("/")
        parts = [p for p in text.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise ValueError(f"{pattern!r}: '..' cannot be used in a glob")
        for part in parts:
            if "**" in part and part != "**":
                raise ValueError(f"{pattern!r}: '**' must be a whole path segment (as in 'a/**/b')")
            if part.count("[") > part.count("]"):
                raise ValueError(f"{pattern!r}: unclosed '['")
        if not parts:
            raise ValueError("an empty glob")
        self.parts = parts

    def matches(self, path: str) -> bool:
        """Whether ``path`` (a file) or a folder above it matches."""
        relative = os.path.relpath(os.path.abspath(path), self.base).replace(os.sep, "/")
        inside = relative != ".." and not relative.startswith("../")
        names = relative.split("/") if inside else os.path.normpath(path).replace(os.sep, "/").split("/")
        names = [n for n in names if n not in ("", ".", "..")]
        if not names:
            return False
        last = len(names) if not self.folders_only else len(names) - 1
        if not self.anchored:
            pattern = self.parts[0]
            return any(fnmatch.fnmatchcase(name, pattern) for name in names[:last])
        if not inside:
            return False
        return any(_match_parts(self.parts, names[:length]) for length in range(1, last + 1))

    def __repr__(self) -> str:
        return f"Glob({self.pattern!r})"


def _match_parts(pattern: Sequence[str], names: Sequence[str]) -> bool:
    """Segment-wise match with ``**`` spanning folders, by dynamic programming
    (quadratic at worst; fnmatch itself matches one name without blow-up)."""
    # reachable[j]: pattern[:i] can match names[:j]
    reachable = [True] + [False] * len(names)
    for part in pattern:
        if part == "**":
            seen = False
            for j in range(len(names) + 1):
                seen = seen or reachable[j]
                reachable[j] = seen
            continue
        following = [False] * (len(names) + 1)
        for j in range(len(names)):
            if reachable[j] and fnmatch.fnmatchcase(names[j], part):
                following[j + 1] = True
        reachable = following
        if not any(reachable):
            return False
    return reachable[len(names)]


def compile_globs(patterns: Iterable[str], base: str, source: str, key: str | None = None, line: int | None = None) -> tuple[Glob, ...]:
    """Globs relative to ``base``; ``source`` (a file, or the option that gave them) names them in errors."""
    globs = []
    for pattern in patterns:
        try:
            globs.append(Glob(pattern, base))
        except ValueError as error:
            raise ConfigError(source, f"bad glob: {error}", key, line) from None
    return tuple(globs)


# -- one configuration file ------------------------------------------------------


@dataclass(frozen=True)
class FileConfig:
    """The settings one configuration file gives (None: the file does not say)."""

    path: str | None = None  # None: no configuration file
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    unsafe_fixes: bool | None = None
    go_version: tuple[int, int] | None = None
    exclude: tuple[Glob, ...] = ()
    per_file_ignores: tuple[tuple[Glob, tuple[str, ...]], ...] = ()
    tests: bool | None = None
    verify: bool | None = None


NO_CONFIG = FileConfig()


def _key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Where each key is written: (table…, key) -> 1-based line.

    A light scan of the TOML text (tomllib keeps no positions): table headers
    and ``key =`` lines; a key inside an inline table gets its line too.
    """
    found: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    key_pattern = r'(?:"(?:[^"\\]|\\.)*"|\'[^\']*\'|[A-Za-z0-9_-]+)'
    header = re.compile(rf"^\s*\[\s*({key_pattern}(?:\s*\.\s*{key_pattern})*)\s*\]\s*(?:#.*)?$")
    assignment = re.compile(rf"({key_pattern}(?:\s*\.\s*{key_pattern})*)\s*=")
    for number, line in enumerate(text.splitlines(), start=1):
        match = header.match(line)
        if match:
            table = tuple(_unquote(k) for k in _split_dotted(match.group(1)))
            found.setdefault(table, number)
            continue
        stripped = line.lstrip()
        match = assignment.match(stripped)
        if match:
            key = table + tuple(_unquote(k) for k in _split_dotted(match.group(1)))
            found.setdefault(key, number)
            # Keys of an inline table on the same line: key = { "a" = 1, b = 2 }
            rest = stripped[match.end() :]
            if rest.lstrip().startswith("{"):
                for inner in re.finditer(rf"[{{,]\s*({key_pattern})\s*=", rest):
                    found.setdefault(key + (_unquote(inner.group(1)),), number)
    return found


def _split_dotted(text: str) -> list[str]:
    return [part.strip() for part in re.findall(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'|[^.]+', text) if part.strip()]


def _unquote(key: str) -> str:
    key = key.strip()
    if len(key) >= 2 and key[0] == key[-1] and key[0] in "\"'":
        inner = key[1:-1]
        if key[0] == '"':
            try:
                return tomllib.loads(f"k = {key}")["k"]
            except tomllib.TOMLDecodeError:
                return inner
        return inner
    return key


def load_config(path: str, known_rules: Iterable[str]) -> FileConfig:
    """Read and check one configuration file."""
    known = set(known_rules)
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as error:
        raise ConfigError(path, f"cannot read: {error.strerror or error}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(path, "not UTF-8 text") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        line_match = re.search(r"at line (\d+)", message)
        line = int(line_match.group(1)) if line_match else None
        if line is None and "end of document" in message:
            line = max(1, len(text.splitlines()))
        raise ConfigError(path, f"invalid TOML: {message}", line=line) from None
    lines = _key_lines(text)
    base = os.path.dirname(os.path.abspath(path))

    def fail(key: str, message: str, *where: str) -> ConfigError:
        label = key + "".join(f".{_quote(part)}" for part in where)
        return ConfigError(path, message, label, lines.get((key, *where)) or lines.get((key,)))

    values: dict[str, Any] = {}
    for key, value in document.items():
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(KEYS)}"
            raise fail(key, f"unknown key{hint}")
        values[key] = value

    def rule_list(key: str, value: Any, *where: str) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail(key, f"expected {KEYS[key] if not where else 'a list of rule names'}, got {_describe(value)}", *where)
        names = [v.strip() for v in value]
        unknown = [n for n in names if n not in known]
        if unknown:
            close = difflib.get_close_matches(unknown[0], known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else " (see gofix-defer --list-rules)"
            raise fail(key, f"unknown rule {unknown[0]!r}{hint}", *where)
        return tuple(names)

    def boolean(key: str) -> bool | None:
        if key not in values:
            return None
        value = values[key]
        if not isinstance(value, bool):
            raise fail(key, f"expected {KEYS[key]}, got {_describe(value)}")
        return value

    config: dict[str, Any] = {"path": path}
    if "select" in values:
        config["select"] = rule_list("select", values["select"])
    if "ignore" in values:
        config["ignore"] = rule_list("ignore", values["ignore"])
    config["unsafe_fixes"] = boolean("unsafe-fixes")
    config["tests"] = boolean("tests")
    config["verify"] = boolean("verify")
    if "go-version" in values:
        value = values["go-version"]
        if not isinstance(value, str):
            raise fail("go-version", f"expected {KEYS['go-version']}, got {_describe(value)} (TOML reads 1.20 as the number 1.2)")
        try:
            config["go_version"] = parse_go_version(value)
        except GoVersionError as error:
            raise fail("go-version", str(error)) from None
    if "exclude" in values:
        value = values["exclude"]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail("exclude", f"expected {KEYS['exclude']}, got {_describe(value)}")
        config["exclude"] = compile_globs(value, base, path, "exclude", lines.get(("exclude",)))
    if "per-file-ignores" in values:
        table = values["per-file-ignores"]
        if not isinstance(table, dict):
            raise fail("per-file-ignores", f"expected {KEYS['per-file-ignores']}, got {_describe(table)}")
        entries = []
        for pattern, rules in table.items():
            names = rule_list("per-file-ignores", rules, pattern)
            line = lines.get(("per-file-ignores", pattern)) or lines.get(("per-file-ignores",))
            (glob,) = compile_globs([pattern], base, path, f"per-file-ignores.{_quote(pattern)}", line)
            entries.append((glob, names))
        config["per_file_ignores"] = tuple(entries)
    return FileConfig(**config)


def _quote(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list" + (" holding a non-string" if any(not isinstance(v, str) for v in value) else "")
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


# -- finding the file that applies -----------------------------------------------


class ConfigFinder:
    """The configuration of each checked file: the nearest one above it.

    ``explicit``: one file for every checked file (``--config``);
    ``isolated``: no file at all.
    """

    def __init__(self, known_rules: Iterable[str], explicit: str | None = None, isolated: bool = False):
        self._known = tuple(known_rules)
        self._isolated = isolated
        self._explicit = load_config(explicit, self._known) if explicit is not None else None
        self._by_dir: dict[str, FileConfig] = {}
        self._loaded: dict[str, FileConfig] = {}

    def for_file(self, path: str) -> FileConfig:
        if self._isolated:
            return NO_CONFIG
        if self._explicit is not None:
            return self._explicit
        return self._for_dir(os.path.dirname(os.path.abspath(path)))

    def _for_dir(self, directory: str) -> FileConfig:
        walked = []
        current = directory
        found = NO_CONFIG
        while True:
            known = self._by_dir.get(current)
            if known is not None:
                found = known
                break
            walked.append(current)
            here = [os.path.join(current, name) for name in CONFIG_NAMES if os.path.isfile(os.path.join(current, name))]
            if len(here) > 1:
                raise ConfigError(here[1], f"both {CONFIG_NAMES[0]} and {CONFIG_NAMES[1]} are in this folder; keep one")
            if here:
                found = self._load(here[0])
                break
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
        for folder in walked:
            self._by_dir[folder] = found
        return found

    def _load(self, path: str) -> FileConfig:
        loaded = self._loaded.get(path)
        if loaded is None:
            loaded = self._loaded[path] = load_config(path, self._known)
        return loaded


# -- what a file gets ------------------------------------------------------------


@dataclass(frozen=True)
class Overrides:
    """What the command line says; None (or empty) where it says nothing."""

    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    unsafe_fixes: bool | None = None
    go_version: tuple[int, int] | None = None
    exclude: tuple[Glob, ...] | None = None  # --exclude: instead of the file's
    extend_exclude: tuple[Glob, ...] = ()  # --extend-exclude: besides the file's
    tests: bool | None = None
    verify: bool | None = None


@dataclass(frozen=True)
class FileSettings:
    """The settings of one checked file; files with equal settings run together."""

    rules: tuple[str, ...]
    unsafe_fixes: bool = False
    go_version: tuple[int, int] | None = None
    verify: bool = True


@dataclass
class Decision:
    settings: FileSettings | None  # None: not checked
    reason: str = ""  # why not


@dataclass
class Resolver:
    """Combine the nearest configuration file with the command line, per file."""

    finder: ConfigFinder
    overrides: Overrides
    all_rules: Sequence[str]  # every rule name, in output order
    default_rules: Sequence[str] | None = None  # what runs unless selected otherwise (None: all)
    _settings: dict[FileSettings, FileSettings] = field(default_factory=dict)

    def decide(self, path: str) -> Decision:
        config = self.finder.for_file(path)
        cli = self.overrides
        excludes = (cli.exclude if cli.exclude is not None else config.exclude) + cli.extend_exclude
        for glob in excludes:
            if glob.matches(path):
                origin = "--exclude" if glob in cli.extend_exclude or cli.exclude is not None else f"exclude in {display_path(config.path or '')}"
                return Decision(None, f"excluded by {glob.pattern!r} ({origin})")
        tests = cli.tests if cli.tests is not None else config.tests if config.tests is not None else True
        if not tests and os.path.basename(path).endswith("_test.go"):
            origin = "--no-tests" if cli.tests is not None else f"tests = false in {display_path(config.path or '')}"
            return Decision(None, f"a test file ({origin})")
        if cli.select is not None:
            chosen = set(cli.select)
        else:
            defaults = self.all_rules if self.default_rules is None else self.default_rules
            chosen = set(config.select) if config.select is not None else set(defaults)
            chosen -= set(config.ignore)
        chosen -= set(cli.ignore)
        for glob, names in config.per_file_ignores:
            if glob.matches(path):
                chosen -= set(names)
        settings = FileSettings(
            rules=tuple(name for name in self.all_rules if name in chosen),
            unsafe_fixes=cli.unsafe_fixes if cli.unsafe_fixes is not None else bool(config.unsafe_fixes),
            go_version=cli.go_version if cli.go_version is not None else config.go_version,
            verify=cli.verify if cli.verify is not None else config.verify if config.verify is not None else True,
        )
        return Decision(self._settings.setdefault(settings, settings))
