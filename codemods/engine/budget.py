"""Per-file budgets: a size and a time limit beyond which a file is skipped, not checked.

A hostile or unlucky input must not stall a run or exhaust memory: a 50 MB
file once took 350 s and 11.7 GB. Each file gets

* a size budget (``Settings.max_file_size``, ``--max-file-size``; default
  2 MiB, which keeps the worst case measured — a file that is all fixes —
  under 1 GB of memory); a larger file is never parsed, and when read
  through ``run/workers.py`` never even read;
* a time budget (``Settings.file_timeout``, ``--file-timeout``; default 20 s)
  for parsing, checking and fixing it. In the main thread of a process (the
  CLI, each worker of the pool) a ``SIGALRM`` timer interrupts the work where
  it is; elsewhere (an editor's worker thread) the engine checks the clock
  between rules and fix rounds.

Either way the file's result is an error (the run was not complete: exit
2) saying it was skipped and which option raises the budget; 0 turns a
budget off. A generated file over the size budget is skipped as generated,
as it would be anyway, with no error.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from typing import Iterator

MAX_FILE_SIZE = 2 * 1024 * 1024
FILE_TIMEOUT = 20.0


class BudgetExceeded(BaseException):
    """The file's time budget ran out (a BaseException: a rule's ``except Exception`` must not swallow it)."""


class _State(threading.local):
    deadline: float | None = None
    armed: bool = False  # this thread's SIGALRM timer belongs to a deadline block still running


_state = _State()

# How soon the alarm rings again. Raised where Python cannot pass an exception on (a
# finaliser, a gc callback: "Exception ignored in ..."), BudgetExceeded is lost; the next
# ring interrupts the work again, until the deadline's block is left.
_RING_AGAIN = 0.05


def _on_alarm(signal_number: int, frame: object) -> None:
    if not _state.armed:
        return  # the block is being left: nothing to interrupt
    signal.setitimer(signal.ITIMER_REAL, _RING_AGAIN)
    raise BudgetExceeded()


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise BudgetExceeded in the body once ``seconds`` have passed (0 or less: never)."""
    if not seconds or seconds <= 0:
        yield
        return
    previous = _state.deadline
    _state.deadline = time.monotonic() + seconds
    alarm = _can_use_alarm()
    old_handler = None
    if alarm:
        old_handler = signal.signal(signal.SIGALRM, _on_alarm)
        _state.armed = True
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if alarm:
            _disarm(old_handler)
        _state.deadline = previous


def _disarm(old_handler) -> None:
    """Stop the timer and put the old handler back. An alarm that rings before ``armed``
    is cleared raises here; the exception already on its way out (if any) stands, and the
    timer must still be stopped, or it would interrupt whatever runs next."""
    while True:
        try:
            _state.armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old_handler)
            return
        except BudgetExceeded:
            continue


def _can_use_alarm() -> bool:
    """A timer of our own: main thread, POSIX, and nobody else's SIGALRM in use."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        return False
    try:
        return signal.getsignal(signal.SIGALRM) is signal.SIG_DFL and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    except (ValueError, OSError):  # pragma: no cover
        return False


def checkpoint() -> None:
    """Raise BudgetExceeded when the current file's time is up (for code off the main thread)."""
    limit = _state.deadline
    if limit is not None and time.monotonic() > limit:
        raise BudgetExceeded()


def size_text(size: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


def too_large(path: str, size: int, limit: int) -> str | None:
    """The message for a file over the size budget, or None."""
    if limit and limit > 0 and size > limit:
        return f"{path}: skipped: {size_text(size)} is over the {size_text(limit)} per-file budget (raise it with --max-file-size)"
    return None


def too_slow(path: str, seconds: float) -> str:
    return f"{path}: skipped: checking it took longer than the {seconds:g} s per-file budget (raise it with --file-timeout)"


_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}


def parse_size(text: str | int) -> int:
    """``2097152``, ``2M``, ``2MiB``, ``512k`` (binary units) as bytes; 0 means no limit. Raises ValueError."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"not a size: {text!r} (expected e.g. 2MiB, 512KiB or a number of bytes; 0 for no limit)")
        return text
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(text))
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS:
        raise ValueError(f"not a size: {text!r} (expected e.g. 2MiB, 512KiB or a number of bytes; 0 for no limit)")
    return int(float(match.group(1)) * _UNITS[unit])


def parse_seconds(text: str | float | int) -> float:
    """``20``, ``2.5``, ``20s`` as seconds; 0 means no limit. Raises ValueError."""
    value = str(text).strip()
    if value.endswith("s"):
        value = value[:-1]
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"not a number of seconds: {text!r} (expected e.g. 20 or 2.5; 0 for no limit)")
    return seconds
