"""Requests this process is serving now, so that work in a background thread gives way.

The web app counts its requests (``serving``, around every WSGI call).  A
thread doing slow work that nobody waits for (a large leaderboard redone
while the old one is shown) marks itself with ``background`` and calls
``give_way`` between short steps.  When the worker is idle the work runs at
full speed.  Under load (a request being served, or one begun since the last
step) each step is followed by a pause ``SHARE`` times as long as the step
took, ``MAX_WAIT`` at most: the work takes a third of the worker's time and
the requests the rest, spread over a few seconds, rather than all of it in
one burst that every request meanwhile waits behind.  After ``MAX_TOTAL`` of
pauses in all it pauses no more; ``wake`` ends the pauses at once, for a
request that waits for what the work holds.  Everywhere else ``give_way``
returns at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

MAX_WAIT = 0.02  # seconds a background step pauses at most
MAX_TOTAL = 5.0  # seconds a piece of background work pauses in all at most
SHARE = 2.0  # under load, a pause this many times as long as the step before it

_lock = threading.Lock()
_serving = 0  # requests being served now
_begun = 0  # requests begun, ever
_local = threading.local()
_pausing: set[threading.Event] = set()  # each background thread's, while it runs


@contextmanager
def serving() -> Iterator[None]:
    """Count a request as being served for the duration of the block."""
    global _serving, _begun
    with _lock:
        _serving += 1
        _begun += 1
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
    pauses ``budget`` seconds in all at most (it may hold a read snapshot open: on
    SQLite the write-ahead log cannot be reset meanwhile)."""
    _local.background = True
    _local.left = budget
    _local.since = time.monotonic()
    _local.begun = _begun
    _local.wake = threading.Event()
    with _lock:
        _pausing.add(_local.wake)
    try:
        yield
    finally:
        _local.background = False
        with _lock:
            _pausing.discard(_local.wake)


def wake() -> None:
    """End every background pause now: someone waits for what the work holds (call it
    after making ``unless()`` true, so a pause that begins later sees it)."""
    with _lock:
        for event in _pausing:
            event.set()


def give_way(max_wait: float = MAX_WAIT, *, unless: Callable[[], bool] = lambda: False) -> float:
    """In background work, between two steps: under load, pause SHARE times as long as
    the step just done took (``max_wait`` at most); idle, or once ``unless()`` is
    true (someone waits for what the background work holds: it had better
    finish), not at all.

    Returns the seconds paused (0.0 outside background work).
    """
    if not getattr(_local, "background", False) or _local.left <= 0:
        return 0.0
    now = time.monotonic()
    step, begun = now - _local.since, _local.begun
    _local.begun = _begun
    _local.wake.clear()  # before unless(): a wake() after this ends the pause below
    if not (_serving or _begun != begun) or unless():
        _local.since = now
        return 0.0
    # One wait, not a loop that wakes every millisecond to look (each look takes the GIL
    # from the request being served); wake() ends it early.
    _local.wake.wait(min(max_wait, SHARE * step, _local.left))
    paused = time.monotonic() - now
    _local.left = max(0.0, _local.left - paused)
    _local.since = time.monotonic()
    return paused
