"""The app's one cache: a bounded LRU of results that are expensive to compute.

It holds only what costs real work to build again: a question's history and
recent trades (by the question's id, at its trade count) and their drawing (at
the minute too; web/questions.py), each question's holder values (at its trade
count), a competition's standings (at what changes them; services/standings.py)
and its leaderboard's lines (web/leaderboard.py).  An entry is kept under its
key with the version it was computed at: a different version is computed again
and replaces it, so nothing is ever invalidated by hand and one thing holds one
entry.  The least recently used entries fall out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TypeVar

from cachetools import LRUCache
from flask import Flask, current_app, has_app_context

T = TypeVar("T")

MAXSIZE = 1024  # entries; a company's standings (10,000 lines) are one entry


class Cache:
    """A thread-safe LRU of computed values."""

    def __init__(self, maxsize: int = MAXSIZE) -> None:
        self._lru: LRUCache = LRUCache(maxsize)
        self._changed = threading.Condition()
        self._computing: set[tuple[Hashable, Hashable]] = set()

    def get(self, key: Hashable, compute: Callable[[], T], version: Hashable = None) -> T:
        """The value kept under ``key`` at ``version``, or ``compute()``'s result, kept
        under it in place of any other version's.

        One thread computes a missing value while others that want the same key and
        version wait for it: a cold leaderboard asked for by every thread at once is
        computed once, not once a thread (each holding its own copy of the work).
        """
        wanted = (key, version)
        with self._changed:
            while True:
                kept = self._lru.get(key)
                if kept is not None and kept[0] == version:
                    return kept[1]
                if wanted not in self._computing:
                    self._computing.add(wanted)
                    break
                self._changed.wait()
        try:
            value = compute()
            with self._changed:
                self._lru[key] = (version, value)
        finally:
            with self._changed:
                self._computing.discard(wanted)
                self._changed.notify_all()
        return value

    def clear(self) -> None:
        with self._changed:
            self._lru.clear()

    def __len__(self) -> int:
        return len(self._lru)


def init_app(app: Flask) -> None:
    app.extensions["forecast_cache"] = Cache(app.config.get("CACHE_SIZE", MAXSIZE))


def cached(key: tuple, compute: Callable[[], T], *, version: Hashable = None) -> T:
    """``compute()``'s result through the current app's cache (see Cache.get): for
    example ``cached(("chart", question.id), draw, version=question.trade_count)``.

    Outside an app context (a script, a service test) it computes every time.
    """
    if not has_app_context():
        return compute()
    return current_app.extensions["forecast_cache"].get(key, compute, version)
