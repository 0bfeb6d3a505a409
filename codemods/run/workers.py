"""Read files and process them; the one place that does file I/O for checks.

Files are processed in one process or spread over a process pool; either
way results come back in the order of ``files``, so the output is
byte-identical for any number of jobs. The work is split by Go package: a
worker task holds whole packages (the files of one directory), so the
files of a package share one Package and its parses. With a cache, a file
whose content, path, Go version, selected rules, settings and tool code
are unchanged — and, when its result read package facts, whose package's
other files are unchanged too — gets its stored result back without being
parsed (see cache.py).
"""

from __future__ import annotations

import errno
import gc
import os
import signal
import stat
import sys
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterable, Iterator, Sequence

from gofix_defer.codemods.analysis.facts import needs_package
from gofix_defer.codemods.analysis.goversion import GoModError, effective_go_version
from gofix_defer.codemods.analysis.package import Package, go_files_in, package_name_of
from gofix_defer.codemods.engine.budget import too_large
from gofix_defer.codemods.engine.process import Settings, process, unparsed_result
from gofix_defer.codemods.engine.siblings import SiblingFiles
from gofix_defer.codemods.engine.suppress import is_generated
from gofix_defer.codemods.model import FileResult
from gofix_defer.codemods.run.cache import ResultCache

# Below this many files a pool costs more to start than it saves.
MIN_FILES_FOR_POOL = 16
# Files to parse per worker task (whole packages, so a task may hold more):
# small enough to balance uneven files and start the workers early, large
# enough that the round trip stays negligible.
BATCH = 8


class Packages:
    """The Package of each file, for files that come a directory at a time.

    Discovery yields a directory's files together, so only the packages of
    the current directory are kept: memory stays that of one package.
    """

    def __init__(self, settings: Settings):
        self._override = settings.go_version
        self._directory: str | None = None
        self._by_name: dict[bytes | None, Package] = {}
        self._siblings = SiblingFiles(_read_sibling, self._override)

    def of(self, path: str, data: bytes) -> Package:
        directory = os.path.dirname(path)
        if directory != self._directory:
            self.release()
            self._directory = directory
        name = package_name_of(data)
        package = self._by_name.get(name)
        if package is None:
            package = self._by_name[name] = self._siblings.package(directory, data, lambda: go_files_in(directory))
        return package

    def release(self) -> None:
        """Done with the current directory: free its packages' trees and facts now, and
        hand the freed memory back to the system (the next package may be smaller).
        Released, they hold no reference cycle: reference counting frees them at once,
        with no full collection (tests/test_package_model.py checks it)."""
        for package in self._by_name.values():
            package.release()
        self._directory, self._by_name = None, {}
        self._siblings = SiblingFiles(_read_sibling, self._override)
        _return_freed_memory()


def _return_freed_memory() -> None:
    """glibc keeps freed memory for reuse; a large package's trees would hold the
    worker's size at its peak for the rest of the run. (Elsewhere: nothing to do.)"""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _find_malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc (musl has no malloc_trim)


_MALLOC_TRIM = _find_malloc_trim()


def _read_sibling(path: str) -> bytes | None:
    try:
        return read_source(path)
    except (OSError, _NotRegular):
        return None


class _NotRegular(Exception):
    pass


class _TooLarge(Exception):
    pass


def read_source(path: str, limit: int = 0) -> bytes:
    """The bytes of ``path``, which must be a regular file (a FIFO or device is never
    opened for reading: it is checked first, and opened non-blocking besides in case
    it changed in between). Raises OSError, _NotRegular, or _TooLarge past ``limit``."""
    info = os.stat(path)
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory", path)
    if not stat.S_ISREG(info.st_mode):
        raise _NotRegular(path)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _NotRegular(path)
        if limit and limit > 0 and info.st_size > limit:
            # Generated files are skipped anyway, budget or not: their header says so.
            raise _TooLarge(info.st_size, is_generated(os.pread(fd, 1 << 16, 0)))
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


def read_and_process(
    path: str, settings: Settings, cache: ResultCache | None = None, packages: Packages | None = None, *, prefilter: bool = True
) -> FileResult:
    """The result of one file. ``prefilter=False``: the caller already knows the prefilter
    lets it through (a worker's file, sent by the parent that asked)."""
    try:
        data = read_source(path, settings.max_file_size)
    except IsADirectoryError:
        return FileResult(path=path, errors=[f"{path}: is a directory"])
    except _NotRegular:
        return FileResult(path=path, errors=[f"{path}: is not a regular file (a FIFO, device or socket); not read"])
    except _TooLarge as size:
        if size.args[1]:
            return FileResult(path=path, skipped="generated")
        message = too_large(path, size.args[0], settings.max_file_size)
        return FileResult(path=path, skipped="too large", errors=[message or f"{path}: skipped: too large"])
    except OSError as error:
        return FileResult(path=path, errors=[f"{path}: cannot read: {error.strerror or error}"])
    key = None
    if cache is not None and prefilter:
        unparsed, key = _remembered_prefilter(path, data, settings, cache)
    else:
        unparsed = unparsed_result(path, data, settings) if prefilter else None
    if unparsed is not None:
        return unparsed
    if cache is not None:
        key = key or cache.key(path, data, effective_go_version(path, settings.go_version, data))
        cached = cache.get(key, path, data)
        if cached is not None:
            return cached
    try:
        result = process(path, data, settings, packages.of(path, data) if packages is not None else None)
    except RecursionError:
        return FileResult(path=path, original=data, errors=[f"{path}: internal error: nesting too deep to analyse"])
    if result.skipped == "timeout" and packages is not None:
        packages.release()  # the package may hold half-computed facts
    if cache is not None and key is not None:
        cache.put(key, result)
    return result


def run(
    files: Iterable[str],
    settings: Settings,
    *,
    jobs: int | None = 1,
    cache: ResultCache | None = None,
    on_result: Callable[[FileResult], None] | None = None,
) -> Iterator[FileResult]:
    """Results in the order of ``files`` (already sorted by discovery).

    ``jobs``: worker processes (None: one per CPU; 1: this process only).
    ``on_result`` is called once per file as results arrive (for progress).
    """
    paths = list(files)
    workers = _worker_count(jobs, len(paths))
    try:
        if workers <= 1:
            packages = Packages(settings)
            try:
                for path in paths:
                    result = read_and_process(path, settings, cache, packages)
                    if on_result is not None:
                        on_result(result)
                    yield result
            finally:
                packages.release()
            return
        yield from _run_pool(paths, settings, workers, cache, on_result)
    finally:
        if cache is not None:
            cache.finish_run()


def _run_pool(
    paths: list[str],
    settings: Settings,
    workers: int,
    cache: ResultCache | None,
    on_result: Callable[[FileResult], None] | None,
) -> Iterator[FileResult]:
    """This process reads, prefilters and looks up each file; workers parse the rest.

    Most files of a large tree need no parse (prefilter) or are cached, and
    that is cheaper done here than shipped to a worker; a warm run never even
    starts the pool. Files that must be parsed go to the workers in small
    batches, and every result is yielded in the order of ``paths``.
    """
    whole_packages = any(needs_package(rule.requires or ()) for rule in settings.rules)
    pending: deque = deque()  # FileResult, or the _Slot of a file sent to a worker
    batch: list[tuple[str, _Slot]] = []
    pool: ProcessPoolExecutor | None = None

    def submit() -> None:
        nonlocal pool
        if pool is None:
            # Settings and the cache travel once per worker (initializer), not
            # per file; rules, parser and compiled queries live on in each worker.
            pool = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(settings, cache))
        try:
            future = pool.submit(_process_chunk, [path for path, _ in batch])
        except BrokenProcessPool as error:  # an earlier batch killed the pool
            future = Future()
            future.set_exception(error)
        for index, (_, slot) in enumerate(batch):
            slot.future, slot.index = future, index
        batch.clear()

    def ready(block: bool) -> Iterator[FileResult]:
        while pending:
            head = pending[0]
            if isinstance(head, FileResult):
                result = head
            elif head.future is None:
                return  # its batch is not submitted yet
            else:
                if not block and not head.future.done():
                    return
                try:
                    result = head.future.result()[head.index]
                except BrokenProcessPool:
                    # A worker died (e.g. killed, or a crash in native code):
                    # its files become errors, the run reports and goes on.
                    result = FileResult(path=head.path, errors=[f"{head.path}: internal error: the worker process checking it died"])
            pending.popleft()
            if on_result is not None:
                on_result(result)
            yield result

    interrupted = False
    try:
        for path in paths:
            known = _known_result(path, settings, cache)
            if known is not None:
                pending.append(_slim(known))
            else:
                # When a rule reads package facts, a task holds whole directories
                # (packages), so that their files share one analysis of the package;
                # otherwise files are independent and tasks stay small and even.
                if len(batch) >= BATCH and (not whole_packages or os.path.dirname(batch[-1][0]) != os.path.dirname(path)):
                    submit()
                slot = _Slot(path)
                pending.append(slot)
                batch.append((path, slot))
            yield from ready(block=False)
        if batch:
            submit()
        yield from ready(block=True)
    except BaseException:  # Ctrl-C, SIGTERM, or the consumer stopped: do not wait for the batches
        interrupted = True
        raise
    finally:
        if pool is not None:
            if interrupted:
                _stop_workers(pool)
            pool.shutdown(wait=True, cancel_futures=True)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """End the workers now (they ignore SIGINT; see _init_worker)."""
    for worker in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            worker.terminate()
        except (OSError, AttributeError):  # pragma: no cover - already gone
            pass


class _Slot:
    """A file's place in the output while a worker parses it."""

    __slots__ = ("path", "future", "index")

    def __init__(self, path: str) -> None:
        self.path = path
        self.future: Future | None = None  # None until its batch is submitted
        self.index = 0


def _known_result(path: str, settings: Settings, cache: ResultCache | None) -> FileResult | None:
    """The result without parsing (unreadable, generated, prefiltered, cached), or None."""
    try:
        data = read_source(path, settings.max_file_size)
    except (OSError, _NotRegular, _TooLarge):
        return read_and_process(path, settings, None)  # the error result, worded in one place
    if cache is None:
        return unparsed_result(path, data, settings)
    unparsed, key = _remembered_prefilter(path, data, settings, cache)
    if unparsed is not None or key is None:
        return unparsed
    return cache.get(key, path, data)


def _remembered_prefilter(path: str, data: bytes, settings: Settings, cache: ResultCache) -> tuple[FileResult | None, str | None]:
    """``unparsed_result``, answered from the cache when an earlier run's prefilter saw
    the same key (same bytes, path, Go version, rules and code), and the file's cache
    key (None when its Go version is unknown: the prefilter reports why). A file it let
    through goes straight to the lookup; should that miss, processing it runs the
    prefilter again, so a verdict never decides more than the prefilter would."""
    try:
        key = cache.key(path, data, effective_go_version(path, settings.go_version, data))
    except GoModError:
        return unparsed_result(path, data, settings), None
    known = cache.prefilter_verdict(path, key)
    if known is not None:
        return (FileResult(path=path, original=data) if known else None), key
    unparsed = unparsed_result(path, data, settings)
    if unparsed is None:
        cache.note_prefilter_verdict(path, key, clean=False)
    elif not unparsed.skipped and not unparsed.errors and not unparsed.diagnostics:
        cache.note_prefilter_verdict(path, key, clean=True)
    return unparsed, key


def _worker_count(jobs: int | None, file_count: int) -> int:
    wanted = jobs if jobs is not None and jobs > 0 else (os.cpu_count() or 1)
    if file_count < MIN_FILES_FOR_POOL:
        return 1
    return min(wanted, file_count)


_worker_settings: Settings | None = None
_worker_cache: ResultCache | None = None


def _init_worker(settings: Settings, cache: ResultCache | None) -> None:
    global _worker_settings, _worker_cache
    _worker_settings, _worker_cache = settings, cache
    # Ctrl-C reaches the whole process group: the parent stops the workers and
    # reports; a worker printing its own KeyboardInterrupt traceback helps no one.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, signal.SIG_DFL)  # not the parent's clean-up handler, when forked
    # What the worker starts with (modules, rules, compiled queries, what a fork inherits)
    # lives as long as it does: frozen, the collector's full passes no longer walk it.
    gc.freeze()


def _process_chunk(paths: Sequence[str]) -> list[FileResult]:
    assert _worker_settings is not None
    packages = Packages(_worker_settings)
    try:
        # The parent ran the prefilter on these files: they are the ones it let through.
        return [_slim(read_and_process(path, _worker_settings, _worker_cache, packages, prefilter=False)) for path in paths]
    finally:
        packages.release()


def _slim(result: FileResult) -> FileResult:
    """Do not ship back the bytes of a file with nothing to show or write.

    ``original`` is only read for findings (their context) and fixes (diff,
    stale check before writing); for the clean majority of a large tree,
    sending it back would copy the whole tree through a pipe.
    """
    if not result.diagnostics and result.fixed is None and not result.applied:
        result.original = None
    return result
