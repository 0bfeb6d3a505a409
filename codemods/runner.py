"""Read files and process them; the one place that does file I/O for checks.

Files are processed in one process or spread over a process pool; either
way results come back in the order of ``files``, so the output is
byte-identical for any number of jobs. With a cache, a file whose content,
path, Go version, selected rules, settings and tool code are unchanged gets
its stored result back without being parsed (see cache.py).
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable, Iterator, Sequence

from .cache import ResultCache
from .engine import Settings, process, unparsed_result
from .goversion import effective_go_version
from .model import FileResult

# Below this many files a pool costs more to start than it saves.
MIN_FILES_FOR_POOL = 16
# Chunks per worker: enough to balance uneven files, few enough that the
# per-chunk round trip stays negligible.
CHUNKS_PER_JOB = 16
MAX_CHUNK = 64


def read_and_process(path: str, settings: Settings, cache: ResultCache | None = None) -> FileResult:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except IsADirectoryError:
        return FileResult(path=path, errors=[f"{path}: is a directory"])
    except OSError as error:
        return FileResult(path=path, errors=[f"{path}: cannot read: {error.strerror or error}"])
    unparsed = unparsed_result(path, data, settings)
    if unparsed is not None:
        return unparsed  # files the prefilter skips are cheaper to re-check than to look up
    key = None
    if cache is not None:
        key = cache.key(path, data, effective_go_version(path, settings.go_version))
        cached = cache.get(key, path, data)
        if cached is not None:
            return cached
    try:
        result = process(path, data, settings)
    except RecursionError:
        return FileResult(path=path, original=data, errors=[f"{path}: internal error: nesting too deep to analyse"])
    if key is not None:
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
    if workers <= 1:
        for path in paths:
            result = read_and_process(path, settings, cache)
            if on_result is not None:
                on_result(result)
            yield result
        return
    chunk = max(1, min(MAX_CHUNK, len(paths) // (workers * CHUNKS_PER_JOB)))
    chunks = [paths[i : i + chunk] for i in range(0, len(paths), chunk)]
    # Settings and the cache travel once per worker (initializer), not per
    # file; rules, parser and compiled queries live on in each worker.
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(settings, cache)) as pool:
        # map() yields in submission order: deterministic merge for free.
        for results in pool.map(_process_chunk, chunks):
            for result in results:
                if on_result is not None:
                    on_result(result)
                yield result


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


def _process_chunk(paths: Sequence[str]) -> list[FileResult]:
    assert _worker_settings is not None
    return [_slim(read_and_process(path, _worker_settings, _worker_cache)) for path in paths]


def _slim(result: FileResult) -> FileResult:
    """Do not ship back the bytes of a file with nothing to show or write.

    ``original`` is only read for findings (their context) and fixes (diff,
    stale check before writing); for the clean majority of a large tree,
    sending it back would copy the whole tree through a pipe.
    """
    if not result.diagnostics and result.fixed is None and not result.applied:
        result.original = None
    return result
