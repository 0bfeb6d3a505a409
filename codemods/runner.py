"""Read files and process them; the one place that does file I/O for checks."""

from __future__ import annotations

from typing import Iterable, Iterator

from .engine import Settings, process
from .model import FileResult


def read_and_process(path: str, settings: Settings) -> FileResult:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except IsADirectoryError:
        return FileResult(path=path, errors=[f"{path}: is a directory"])
    except OSError as error:
        return FileResult(path=path, errors=[f"{path}: cannot read: {error.strerror or error}"])
    try:
        return process(path, data, settings)
    except RecursionError:
        return FileResult(path=path, original=data, errors=[f"{path}: internal error: nesting too deep to analyse"])


def run(files: Iterable[str], settings: Settings) -> Iterator[FileResult]:
    """Results in the order of ``files`` (already sorted by discovery)."""
    for path in files:
        yield read_and_process(path, settings)
