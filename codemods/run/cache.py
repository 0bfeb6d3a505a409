"""Per-file result cache, kept where Go keeps its build cache.

Where: the user cache directory (``platformdirs.user_cache_dir``:
``$XDG_CACHE_HOME/gofix-defer``, else ``~/.cache/gofix-defer`` on Linux,
``~/Library/Caches/gofix-defer`` on macOS, ``%LOCALAPPDATA%\\gofix-defer\\Cache``
on Windows), never the checked tree; ``--cache-dir`` or the environment
variable ``GOFIX_DEFER_CACHE_DIR`` move it, ``--no-cache`` bypasses it. A
cache directory chosen that way must not overlap a checked path (equal to,
inside or above one): that is refused (``cache_location``), because its
entries would sit in the tree and its ignore file would hide the tree from
later runs and from git.

What: one small entry per file, named by a hash of everything that can
change the file's result:

* the file's content and its path as given (results carry the path),
* the tool's version *and* a hash of the engine and rule sources, so an edited
  rule never serves stale results during development,
* the names (and classes) of the selected rules, in order,
* the file's effective Go version (from ``--go-version`` or its go.mod),
* the settings that change results: ``unsafe_fixes``, ``apply_fixes`` and
  ``max_iterations``.

Besides, one entry per directory holds the prefilter's verdict on each of
its files (clean: no selected rule can match its bytes at its Go version,
so the result is empty and nothing is parsed; or let through), under that
file's key as above: on a warm run the prefilter's scans of the bytes cost
more than everything else, and a key that still matches answers them. A
file let through is then looked up as usual, and processing it (on a miss)
runs the prefilter again, so a verdict never decides more than the
prefilter would. These entries are authenticated like the others: a forged
one is a miss, never a hidden finding.

A hit gives back the complete FileResult (diagnostics with their fixes and
edits, the applied fixes, the fixed text) so that ``--diff`` and ``--write``
behave exactly as without the cache; ``original`` is the file's current
content, which the caller just read. Results with errors (or a crashed rule)
are never stored: they are retried on the next run.

Trust: anyone who can write a file the tool reads must not be able to choose
what ``--write`` puts into another file. So:

* each entry carries an HMAC-SHA256 of its name and content, under a random
  32-byte key made on first use (``hmac-key``, mode 0600, in the cache
  folder); a key file that is not a regular file of this user with no group
  or other permissions is replaced by a fresh key (all entries then miss);
* the fixed text is not stored: the entry holds the edits that turn the
  file's bytes into it, and a hit re-applies them to the bytes just read;
* every value is checked for type and range (offsets within the file, known
  fix safeties, 1-based lines); anything else is a miss, never a traceback.

Safety: entries are written to a temporary file and renamed into place, so
two runs sharing the folder never see half an entry; any entry that cannot
be read, verified or decoded (truncated, corrupt, from another format
version or key) counts as a miss and is overwritten. Entries hold only plain
values encoded with ``marshal`` (no pickle), decoded only once their HMAC
matched. Deleting the folder at any time is safe: it costs one cold run.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import hmac
import marshal
import os
import stat
import sys
import tempfile
from typing import Any, Callable, Sequence

from gofix_defer.codemods import __version__
from gofix_defer.codemods.model import Applicability, Diagnostic, Edit, FileResult, Fix, Rule, apply_edits

APP_NAME = "gofix-defer"
CACHE_DIR_ENV = "GOFIX_DEFER_CACHE_DIR"
# No fixed default: see default_cache_dir() (the user cache directory).
DEFAULT_CACHE_DIR: str | None = None
# Bump when the entry layout changes; old entries then read as misses.
FORMAT_VERSION = 4
_MAGIC = b"gofix-defer-cache\x00"
KEY_FILE = "hmac-key"
_KEY_BYTES = 32
_MAC_BYTES = hashlib.sha256().digest_size
# Above this many changed lines, the stored edit is one span (difflib is quadratic at worst).
_MAX_DIFF_LINES = 20_000


def default_cache_dir() -> str:
    """The user cache directory for gofix-defer (honours XDG_CACHE_HOME on Linux)."""
    try:
        import platformdirs
    except ImportError:  # pragma: no cover - a declared dependency
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return os.path.join(base, APP_NAME)
    return platformdirs.user_cache_dir(APP_NAME, appauthor=False)


class CacheLocationError(ValueError):
    pass


def cache_location(explicit: str | None, checked: Sequence[str]) -> str:
    """The cache folder to use: ``explicit`` (``--cache-dir`` or the environment), else the default.

    An explicit folder that is a checked path, lies inside one or contains
    one is refused: its entries and ignore file would land in the checked
    tree (and the ignore file would hide the tree from later walks).
    """
    if not explicit:
        return default_cache_dir()
    cache = os.path.realpath(explicit)
    for path in checked:
        if path in ("", "-"):
            continue
        if path == "..." or path.endswith(("/...", os.sep + "...")):
            path = path[: -len("...")].rstrip("/" + os.sep) or "."
        tree = os.path.realpath(path if os.path.isdir(path) or not os.path.exists(path) else os.path.dirname(path) or ".")
        if _within(cache, tree):
            where = "is the checked tree" if cache == tree else "is inside the checked tree"
            raise CacheLocationError(
                f"cache directory {explicit} (--cache-dir, {CACHE_DIR_ENV}) {where} {path}; keep the cache outside the code it checks "
                f"(default: {default_cache_dir()})"
            )
        if _within(tree, cache):
            raise CacheLocationError(
                f"cache directory {explicit} (--cache-dir, {CACHE_DIR_ENV}) contains the checked tree {path}; keep the cache outside the code it checks "
                f"(default: {default_cache_dir()})"
            )
    return os.path.abspath(explicit)


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A hash of the tool's version, its engine sources and the grammar's version."""
    from importlib import metadata

    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{__version__}\x00{FORMAT_VERSION}\x00".encode())
    codemods = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for folder, subfolders, names in os.walk(codemods):
        subfolders.sort()
        for name in sorted(names):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, "rb") as handle:
                    relative = os.path.relpath(path, codemods)
                    digest.update(relative.encode() + b"\x00" + handle.read() + b"\x00")
    for distribution in ("tree-sitter", "tree-sitter-golang"):
        try:
            digest.update(metadata.version(distribution).encode() + b"\x00")
        except metadata.PackageNotFoundError:  # pragma: no cover
            pass
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def _module_fingerprint(module_name: str) -> str:
    """A hash of the source of the module defining a rule (an edited rule is a new key)."""
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    try:
        with open(path, "rb") as handle:  # type: ignore[arg-type]
            return hashlib.blake2b(handle.read(), digest_size=16).hexdigest()
    except (OSError, TypeError):
        return "unknown"


def settings_fingerprint(rules: Sequence[Rule], unsafe_fixes: bool, apply_fixes: bool, max_iterations: int) -> bytes:
    """Everything run-wide that the key depends on, computed once per run."""
    # Name, class and source: a test's or plugin's rule may reuse a built-in name.
    names = ",".join(
        f"{rule.name}={type(rule).__module__}.{type(rule).__qualname__}@{_module_fingerprint(type(rule).__module__)}" for rule in rules
    )
    return f"{code_fingerprint()}\x00{names}\x00{int(unsafe_fixes)}{int(apply_fixes)}{max_iterations}".encode()


class ResultCache:
    """A folder of per-file entries; see the module doc for the key, trust and safety."""

    def __init__(self, directory: str, run_fingerprint: bytes):
        self.directory = directory
        self._run = run_fingerprint
        self._prepared = False
        self._secret: bytes | None = None
        self._secret_loaded = False
        # The prefilter verdicts of one directory's files (see prefilter_verdict), while
        # its files come by: file name -> "c:" (clean) or "p:" (to parse) + its key.
        self._verdicts_directory: str | None = None
        self._verdicts: dict[str, str] = {}
        self._verdicts_changed = False
        self._seen: dict[str, str | None] = {}  # dependency -> its digest, as this run found it

    def key(self, path: str, data: bytes, go_version: tuple[int, int]) -> str:
        digest = hashlib.blake2b(self._run, digest_size=20)
        digest.update(f"\x00{path}\x00{go_version[0]}.{go_version[1]}\x00".encode())
        digest.update(data)
        return digest.hexdigest()

    def _entry_path(self, key: str) -> str:
        return os.path.join(self.directory, f"v{FORMAT_VERSION}", key[:2], key)

    # -- the key --------------------------------------------------------------

    def _key_material(self, create: bool) -> bytes | None:
        """The HMAC key; made (0600) when ``create`` and there is no trustworthy one."""
        if self._secret is not None or (self._secret_loaded and not create):
            return self._secret
        self._secret_loaded = True
        path = os.path.join(self.directory, KEY_FILE)
        self._secret = _read_key(path)
        if self._secret is None and create:
            self._secret = _make_key(self.directory, path)
        return self._secret

    def _mac(self, secret: bytes, key: str, payload: bytes) -> bytes:
        return hmac.new(secret, key.encode() + b"\x00" + payload, hashlib.sha256).digest()

    # -- entries ----------------------------------------------------------------

    def get(self, key: str, path: str, data: bytes) -> FileResult | None:
        payload = self._read(key)
        if payload is None:
            return None
        try:
            result = decode(marshal.loads(payload), path, data)
        except Exception:  # a wrongly typed or out-of-range entry: a miss
            return None
        # A result that read other files of its package is stale once any changed.
        return result if self._dependencies_unchanged(result.dependencies) else None

    def _dependencies_unchanged(self, dependencies: dict[str, str]) -> bool:
        """Do the files (and directory listings) a cached result depends on still hash
        the same? Each is hashed once per run: the files of a package are dependencies
        of every result of that package, and a run is one look at the tree (until
        finish_run)."""
        for path, expected in dependencies.items():
            if path not in self._seen:
                self._seen[path] = _current_digest(path)
            actual = self._seen[path]
            if actual is None or actual != expected:
                return False
        return True

    def put(self, key: str, result: FileResult) -> None:
        """Store ``result`` unless it holds errors; never fails the run."""
        if not cacheable(result):
            return
        try:
            payload = marshal.dumps(encode(result))
        except ValueError:
            return
        self._write(key, payload)

    def _read(self, key: str) -> bytes | None:
        """The payload of entry ``key`` when its HMAC is this cache's (else a miss)."""
        try:
            with open(self._entry_path(key), "rb") as handle:
                blob = handle.read()
        except OSError:
            return None
        if not blob.startswith(_MAGIC) or len(blob) < len(_MAGIC) + _MAC_BYTES:
            return None
        secret = self._key_material(create=False)
        if secret is None:
            return None
        mac = blob[len(_MAGIC) : len(_MAGIC) + _MAC_BYTES]
        payload = blob[len(_MAGIC) + _MAC_BYTES :]
        if not hmac.compare_digest(mac, self._mac(secret, key, payload)):
            return None  # not written by this cache's owner: a miss, overwritten below
        return payload

    def _write(self, key: str, payload: bytes) -> None:
        """Store entry ``key`` atomically; a read-only or full disk only costs speed."""
        target = self._entry_path(key)
        try:
            if not self._prepared:
                self._prepare()
            secret = self._key_material(create=True)
            if secret is None:
                return
            blob = _MAGIC + self._mac(secret, key, payload) + payload
            folder = os.path.dirname(target)
            os.makedirs(folder, mode=0o700, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=".tmp-", dir=folder)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(blob)
                os.replace(temporary, target)
            except BaseException:
                try:
                    os.unlink(temporary)
                except OSError:
                    pass
                raise
        except (OSError, ValueError):
            return

    # -- the prefilter's verdicts ---------------------------------------------------

    def prefilter_verdict(self, path: str, key: str) -> bool | None:
        """What an earlier run's prefilter said of the file of this ``key``: True, it is
        clean (no selected rule could match its bytes at its Go version, so its result
        is an empty one); False, it must be parsed (or looked up); None, unknown. On a
        warm run the prefilter's scans of the bytes cost more than all the rest. The key
        covers the bytes, path, Go version, rules and tool code, as an entry's does."""
        known = self._verdicts_of(os.path.dirname(path)).get(os.path.basename(path))
        if known is None or known[2:] != key:
            return None
        return known[:2] == "c:"

    def note_prefilter_verdict(self, path: str, key: str, clean: bool) -> None:
        names = self._verdicts_of(os.path.dirname(path))
        name, value = os.path.basename(path), ("c:" if clean else "p:") + key
        if names.get(name) != value:
            names[name] = value
            self._verdicts_changed = True

    def finish_run(self) -> None:
        """The end of one run over the files: store what it learnt, and forget the digests
        it took of the tree (the next run looks again)."""
        self.flush()
        self._seen.clear()

    def flush(self) -> None:
        """Store the current directory's prefilter verdicts, when they changed. One entry
        per directory (files come a directory at a time): a warm run reads one small
        entry per directory, not one per file. Never fails the run."""
        if not self._verdicts_changed or self._verdicts_directory is None:
            return
        self._verdicts_changed = False
        self._write(self._verdicts_key(self._verdicts_directory), marshal.dumps(dict(sorted(self._verdicts.items()))))

    def _verdicts_of(self, directory: str) -> dict[str, str]:
        if directory != self._verdicts_directory:
            self.flush()
            self._verdicts_directory, self._verdicts = directory, self._read_verdicts(directory)
        return self._verdicts

    def _verdicts_key(self, directory: str) -> str:
        digest = hashlib.blake2b(self._run, digest_size=20)
        digest.update(f"\x00prefilter verdicts of\x00{directory}\x00".encode())
        return digest.hexdigest()

    def _read_verdicts(self, directory: str) -> dict[str, str]:
        payload = self._read(self._verdicts_key(directory))
        if payload is None:
            return {}
        try:
            names = marshal.loads(payload)
        except Exception:
            return {}
        if not isinstance(names, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in names.items()):
            return {}  # not what flush writes: a miss
        return names

    def _prepare(self) -> None:
        """Create the folder (0700); mark it as a cache for backup tools and git when it is new.

        The markers go only into a folder this cache created: an ignore file
        saying ``*`` in a folder that already held something could hide it.
        """
        self._prepared = True
        if os.path.isdir(self.directory):
            return
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        for name, text in (
            ("CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n# gofix-defer result cache; safe to delete.\n"),
            (".gitignore", "# Automatically created by gofix-defer.\n*\n"),
        ):
            try:
                with open(os.path.join(self.directory, name), "x", encoding="utf-8") as handle:
                    handle.write(text)
            except OSError:
                pass


def _read_key(path: str) -> bytes | None:
    """The key in ``path`` when it is trustworthy: a regular file of ours, 0600 or stricter, of the right size."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size != _KEY_BYTES:
            return None
        if os.name == "posix" and (info.st_uid != os.geteuid() or info.st_mode & 0o077):
            return None  # others could read (or chose) it, e.g. one committed to a repository
        secret = os.read(fd, _KEY_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return secret if len(secret) == _KEY_BYTES else None


def _make_key(directory: str, path: str) -> bytes | None:
    """A fresh random key in ``path`` (mode 0600), replacing an untrusted one."""
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".key-", dir=directory)  # 0600
    except OSError:
        return None
    secret = os.urandom(_KEY_BYTES)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secret)
        try:
            os.link(temporary, path)  # first one wins when runs race
        except FileExistsError:
            theirs = _read_key(path)
            if theirs is not None:
                return theirs
            os.replace(temporary, path)  # an untrusted key: replaced, so its entries all miss
            temporary = ""
    except OSError:
        return None
    finally:
        if temporary:
            try:
                os.unlink(temporary)
            except OSError:
                pass
    return secret


def cacheable(result: FileResult) -> bool:
    from gofix_defer.codemods.model import INTERNAL_ERROR

    return not result.errors and not any(d.rule == INTERNAL_ERROR for d in result.diagnostics)


_HAS_NOTES = any(f.name == "notes" for f in dataclasses.fields(FileResult))


# -- encoding: plain tuples of str/int/bytes/None, in field order ------------------


def _encode_fix(fix: Fix | None) -> Any:
    if fix is None:
        return None
    return (fix.title, fix.applicability.value, tuple((e.start, e.end, e.text) for e in fix.edits), fix.isolation)


def _encode_diagnostic(d: Diagnostic) -> Any:
    return (d.rule, d.start, d.end, d.message, _encode_fix(d.fix), d.line, d.column, d.end_line, d.end_column, d.path)


def delta(original: bytes, fixed: bytes) -> tuple[tuple[int, int, bytes], ...]:
    """Edits (start, end, text) over ``original`` that give ``fixed``, line by line."""
    if original == fixed:
        return ()
    limit = min(len(original), len(fixed))
    prefix = _common(lambda n: original[:n] == fixed[:n], limit)
    prefix = original.rfind(b"\n", 0, prefix) + 1  # back to a line start
    suffix = _common(lambda n: original[len(original) - n :] == fixed[len(fixed) - n :], limit - prefix)
    old = original[prefix : len(original) - suffix]
    new = fixed[prefix : len(fixed) - suffix]
    a, b = old.split(b"\n"), new.split(b"\n")
    if len(a) + len(b) > _MAX_DIFF_LINES:
        return ((prefix, prefix + len(old), new),)
    a_lines = [line + b"\n" for line in a[:-1]] + [a[-1]]
    b_lines = [line + b"\n" for line in b[:-1]] + [b[-1]]
    a_offsets = [prefix]
    for line in a_lines:
        a_offsets.append(a_offsets[-1] + len(line))
    edits = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a_lines, b_lines, autojunk=False).get_opcodes():
        if tag != "equal":
            edits.append((a_offsets[i1], a_offsets[i2], b"".join(b_lines[j1:j2])))
    return tuple(edits)


def _common(same: Callable[[int], bool], limit: int) -> int:
    """The largest n <= limit with same(n), for a ``same`` true up to some n (binary search over slices)."""
    low, high = 0, limit
    while low < high:
        middle = (low + high + 1) // 2
        if same(middle):
            low = middle
        else:
            high = middle - 1
    return low


def encode(result: FileResult) -> Any:
    """Everything but ``path`` and ``original`` (both known to the reader); the fixed
    text as the edits that make it from the original."""
    # The original findings are stored only when they differ from what is left.
    found = None if result.found == result.diagnostics else tuple(_encode_diagnostic(d) for d in result.found)
    fixed = None if result.fixed is None else delta(result.original or b"", result.fixed)
    return (
        tuple(_encode_diagnostic(d) for d in result.diagnostics),
        fixed,
        tuple(_encode_diagnostic(d) for d in result.applied),
        tuple(result.errors),
        result.skipped,
        found,
        tuple(sorted(result.dependencies.items())),
        tuple(getattr(result, "notes", ())),
    )


class _Bad(ValueError):
    pass


def _need(condition: bool) -> None:
    if not condition:
        raise _Bad("invalid cache entry")


def _int(value: Any, low: int = 0, high: int | None = None) -> int:
    _need(type(value) is int and value >= low and (high is None or value <= high))
    return value


def _str(value: Any) -> str:
    _need(type(value) is str)
    return value


def _tuple(value: Any, size: int | None = None) -> tuple:
    _need(type(value) is tuple and (size is None or len(value) == size))
    return value


def _edits(value: Any, limit: int | None) -> tuple[Edit, ...]:
    edits = []
    for item in _tuple(value):
        start, end, text = _tuple(item, 3)
        _need(type(text) is bytes)
        edits.append(Edit(_int(start, 0, limit), _int(end, 0, limit), text))
    return tuple(edits)


def _decode_fix(value: Any, limit: int | None) -> Fix | None:
    if value is None:
        return None
    title, applicability, edits, isolation = _tuple(value, 4)
    _need(applicability in {a.value for a in Applicability})
    _need(isolation is None or isinstance(isolation, str))
    return Fix(title=_str(title), edits=_edits(edits, limit), applicability=Applicability(applicability), isolation=isolation)


def _decode_diagnostic(value: Any, path: str, limit: int | None) -> Diagnostic:
    rule, start, end, message, fix, line, column, end_line, end_column, where = _tuple(value, 10)
    _need(_str(where) == path)
    start, end = _int(start, 0, limit), _int(end, 0, limit)
    _need(start <= end)
    return Diagnostic(
        rule=_str(rule),
        start=start,
        end=end,
        message=_str(message),
        fix=_decode_fix(fix, limit),
        line=_int(line, 1),
        column=_int(column, 1),
        end_line=_int(end_line, 1),
        end_column=_int(end_column, 1),
        path=where,
    )


def decode(value: Any, path: str, data: bytes) -> FileResult:
    """The FileResult ``encode`` stored, for ``path`` whose bytes are ``data``.

    Raises (ValueError, TypeError) on anything not shaped as ``encode`` makes
    it or not fitting ``data``: offsets past its end, unknown fix safeties.
    """
    diagnostics, fixed_edits, applied, errors, skipped, found, dependencies, notes = _tuple(value, 8)
    fixed: bytes | None = None
    if fixed_edits is not None:
        fixed = apply_edits(data, _edits(fixed_edits, len(data)))
        _need(fixed != data)
    text_size = len(fixed if fixed is not None else data)
    left = [_decode_diagnostic(d, path, text_size) for d in _tuple(diagnostics)]
    original_findings = list(left) if found is None else [_decode_diagnostic(d, path, len(data)) for d in _tuple(found)]
    extra: dict[str, Any] = {}
    if _HAS_NOTES:
        extra["notes"] = [_str(n) for n in _tuple(notes)]
    _need(skipped is None or type(skipped) is str)
    return FileResult(
        path=path,
        diagnostics=left,
        original=data,
        fixed=fixed,
        # Fixes of later rounds have offsets into the text of their round.
        applied=[_decode_diagnostic(d, path, None) for d in _tuple(applied)],
        errors=[_str(e) for e in _tuple(errors)],
        skipped=skipped,
        found=original_findings,
        dependencies={_str(k): _str(v) for k, v in (_tuple(pair, 2) for pair in _tuple(dependencies))},
        **extra,
    )


# path -> (the stat it had, its digest): a package's files are the dependencies of
# every result of that package, so without this a warm run re-reads each of them once
# per file of the package. A changed file changes its size, mtime or inode.
_DIGESTS: dict[str, tuple[tuple[int, int, int, int], str]] = {}


def _file_digest(path: str) -> str | None:
    from gofix_defer.codemods.analysis.package import digest

    try:
        info = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None  # never open a FIFO or a device
    seen = (info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns)
    known = _DIGESTS.get(path)
    if known is not None and known[0] == seen:
        return known[1]
    try:
        with open(path, "rb") as handle:
            actual = digest(handle.read())
    except OSError:
        return None
    _DIGESTS[path] = (seen, actual)
    return actual


def _current_digest(path: str) -> str | None:
    """The digest of a dependency now: a file's bytes, or a directory's list of Go files."""
    from gofix_defer.codemods.analysis.package import digest, go_files_in, listing_key

    if path == listing_key(os.path.dirname(path)):
        names = sorted(os.path.basename(p) for p in go_files_in(path[:-1]))
        return digest("\n".join(names).encode())
    return _file_digest(path)
