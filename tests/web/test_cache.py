"""The app's one cache (forecast/cache.py)."""

from __future__ import annotations

from forecast.cache import Cache, cached


def test_a_value_is_computed_once_per_version():
    cache, calls = Cache(maxsize=2), []

    def compute(v):
        calls.append(v)
        return v * 10

    assert cache.get(("q", 1), lambda: compute(1), version=0) == 10
    assert cache.get(("q", 1), lambda: compute(99), version=0) == 10
    assert cache.get(("q", 2), lambda: compute(3)) == 30  # no version: None
    assert cache.get(("q", 1), lambda: compute(2), version=1) == 20  # the trade count moved
    assert cache.get(("q", 1), lambda: compute(99), version=1) == 20
    assert calls == [1, 3, 2]
    assert len(cache) == 2  # one entry per key: the new version replaced the old


def test_the_least_recently_used_entry_falls_out():
    cache = Cache(maxsize=2)
    cache.get("a", lambda: 1)
    cache.get("b", lambda: 2)
    cache.get("a", lambda: 0)  # a is used again: b is the oldest
    cache.get("c", lambda: 3)
    assert len(cache) == 2
    assert cache.get("b", lambda: "again") == "again"
    assert cache.get("c", lambda: "again") == 3


def test_cached_uses_the_apps_cache_and_computes_without_an_app(app):
    assert cached(("k",), lambda: 1) == 1
    assert cached(("k",), lambda: 2) == 2  # no app context: nothing kept
    with app.app_context():
        assert cached(("k",), lambda: 1) == 1
        assert cached(("k",), lambda: 2) == 1
    assert len(app.extensions["forecast_cache"]) == 1


def test_threads_that_miss_the_same_version_at_once_compute_it_once():
    """A cold leaderboard asked for by every server thread at once is computed once."""
    import threading

    cache, calls, started, release = Cache(), [], threading.Event(), threading.Event()

    def compute():
        calls.append(1)
        started.set()
        release.wait(5)
        return "standings"

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get("s", compute, version=7)))
        for _ in range(6)
    ]
    threads[0].start()
    assert started.wait(5)
    for t in threads[1:]:
        t.start()
    release.set()
    for t in threads:
        t.join(5)
    assert results == ["standings"] * 6
    assert calls == [1]


def test_a_computation_that_fails_lets_the_next_caller_compute():
    import threading

    cache, started, release = Cache(), threading.Event(), threading.Event()

    def fail():
        started.set()
        release.wait(5)
        raise RuntimeError("database went away")

    errors, results = [], []

    def first():
        try:
            cache.get("s", fail, version=1)
        except RuntimeError as e:
            errors.append(e)

    a = threading.Thread(target=first)
    a.start()
    assert started.wait(5)
    b = threading.Thread(target=lambda: results.append(cache.get("s", lambda: "ok", version=1)))
    b.start()
    release.set()
    a.join(5)
    b.join(5)
    assert len(errors) == 1 and results == ["ok"]
