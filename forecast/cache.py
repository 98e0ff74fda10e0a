"""The app's one cache: a bounded LRU of results that are expensive to compute.

It holds only what costs real work to build again: a question's chart and card
(keyed by the question's id and trade count) and a competition's standings
(keyed by what changes them; see services/standings.py).  A key names everything
its value depends on, so an entry is never invalidated: a changed key simply
misses, and the least recently used entries fall out.
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
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value kept under ``key``, or ``compute()``'s result, kept under it.

        Two requests that miss at once both compute; the value is the same.
        """
        with self._lock:
            try:
                return self._lru[key]
            except KeyError:
                pass
        value = compute()
        with self._lock:
            self._lru[key] = value
        return value

    def clear(self) -> None:
        with self._lock:
            self._lru.clear()

    def __len__(self) -> int:
        return len(self._lru)


def init_app(app: Flask) -> None:
    app.extensions["forecast_cache"] = Cache(app.config.get("CACHE_SIZE", MAXSIZE))


def cached(key: tuple, compute: Callable[[], T]) -> T:
    """``compute()``'s result through the current app's cache (see Cache.get).

    Outside an app context (a script, a service test) it computes every time.
    """
    if not has_app_context():
        return compute()
    return current_app.extensions["forecast_cache"].get(key, compute)
