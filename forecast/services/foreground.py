"""Requests this process is serving now, so that work in a background thread gives way.

The web app counts its requests (``serving``, around every WSGI call).  A
thread doing slow work that nobody waits for (a large leaderboard redone
while the old one is shown) marks itself with ``background`` and calls
``give_way`` between short steps: while a request is being served it waits,
up to a bound, so that the request has the worker (and the GIL) to itself.
When the worker is idle the work runs at full speed; under full load it
still moves on, a step each ``MAX_WAIT`` at least, and after ``MAX_TOTAL``
of waiting in all it stops waiting.  Everywhere else
``give_way`` returns at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

MAX_WAIT = 0.02  # seconds a background step waits for requests at most
MAX_TOTAL = 5.0  # seconds a piece of background work waits in all at most
POLL = 0.001  # seconds between looks

_lock = threading.Lock()
_serving = 0
_local = threading.local()


@contextmanager
def serving() -> Iterator[None]:
    """Count a request as being served for the duration of the block."""
    global _serving
    with _lock:
        _serving += 1
    try:
        yield
    finally:
        with _lock:
            _serving -= 1


def busy() -> bool:
    """Whether a request is being served now."""
    return _serving > 0


@contextmanager
def background(budget: float = MAX_TOTAL) -> Iterator[None]:
    """Mark this thread's work as background work for the duration of the block, which
    waits ``budget`` seconds in all at most (it may hold a read snapshot open: on
    SQLite the write-ahead log cannot be reset meanwhile)."""
    _local.background = True
    _local.left = budget
    try:
        yield
    finally:
        _local.background = False


def give_way(max_wait: float = MAX_WAIT, *, unless: Callable[[], bool] = lambda: False) -> float:
    """In background work: wait while a request is being served, ``max_wait`` at most,
    and not at all, or no longer, once ``unless()`` is true (someone waits for what
    the background work holds: it had better finish).

    Returns the seconds waited (0.0 outside background work).
    """
    if not getattr(_local, "background", False) or _local.left <= 0 or not _serving or unless():
        return 0.0
    started = time.monotonic()
    end = started + min(max_wait, _local.left)
    while _serving and not unless() and time.monotonic() < end:
        time.sleep(POLL)
    waited = time.monotonic() - started
    _local.left = max(0.0, _local.left - waited)
    return waited
