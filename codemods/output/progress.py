"""A progress bar on stderr for long runs, and nothing otherwise.

Shown only when stderr is a terminal, the run is long (more than
``LONG_RUN_FILES`` files) and the user did not ask for --quiet; so logs,
pipes and CI output never receive bar redraws. The bar is transient: it
disappears when the run ends, leaving stderr as it would be without it.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

LONG_RUN_FILES = 200


def wanted(console: Console, file_count: int, quiet: bool) -> bool:
    return not quiet and console.is_terminal and file_count > LONG_RUN_FILES


@contextlib.contextmanager
def progress_bar(console: Console, file_count: int, quiet: bool) -> Iterator[Callable[[object], None]]:
    """Yield a per-file callback: it advances the bar, or does nothing."""
    if not wanted(console, file_count, quiet):
        yield lambda _result: None
        return
    columns = (
        TextColumn("checking"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files"),
        TimeRemainingColumn(),
    )
    # No stdout/stderr redirection: findings and diffs must reach stdout as
    # written, never through the bar's console (which is stderr).
    with Progress(*columns, console=console, transient=True, redirect_stdout=False, redirect_stderr=False) as progress:
        task = progress.add_task("check", total=file_count)
        yield lambda _result: progress.advance(task)
