"""Background work gives way to requests being served, and never to a request that waits for it."""

from __future__ import annotations

import threading
import time

from forecast.services import foreground


def test_outside_background_work_give_way_returns_at_once():
    with foreground.serving():
        assert foreground.give_way(max_wait=1.0) == 0.0


def test_background_work_waits_while_a_request_is_served_and_not_after():
    with foreground.background():
        assert foreground.give_way(max_wait=1.0) == 0.0  # nothing served: no wait
        with foreground.serving():
            assert foreground.busy()
            waited = foreground.give_way(max_wait=0.05)
        assert 0.04 <= waited < 0.5  # bounded: under full load the work still moves on
        assert not foreground.busy()


def test_background_work_goes_on_as_soon_as_the_request_ends():
    done = threading.Event()

    def request() -> None:
        with foreground.serving():
            done.wait(5)
            time.sleep(0.03)

    t = threading.Thread(target=request)
    t.start()
    time.sleep(0.01)
    with foreground.background():
        done.set()
        waited = foreground.give_way(max_wait=5.0)
    t.join()
    assert 0.02 <= waited < 1.0


def test_background_work_waits_a_bounded_time_in_all():
    with foreground.background(budget=0.05), foreground.serving():
        first = foreground.give_way(max_wait=0.04)
        second = foreground.give_way(max_wait=0.04)
        third = foreground.give_way(max_wait=0.04)
    assert first >= 0.03 and second < 0.03 and third == 0.0


def test_background_work_does_not_wait_for_a_request_that_waits_for_it():
    with foreground.background(), foreground.serving():
        assert foreground.give_way(max_wait=5.0, unless=lambda: True) == 0.0


def test_the_app_counts_its_requests(app):
    seen = []
    real = foreground.busy

    @app.before_request
    def probe():
        seen.append(real())

    app.test_client().get("/")  # whatever it answers (no site is seeded here)
    assert seen == [True] and not foreground.busy()
