"""Background work gives way to requests being served, and never to a request that waits for it."""

from __future__ import annotations

import threading
import time

from forecast.services import foreground


def test_outside_background_work_give_way_returns_at_once():
    with foreground.serving():
        assert foreground.give_way(max_wait=1.0) == 0.0


def test_background_work_pauses_under_load_and_not_when_idle():
    with foreground.background():
        time.sleep(0.03)  # a step of work
        assert foreground.give_way(max_wait=1.0) == 0.0  # nothing served: no pause
        with foreground.serving():
            assert foreground.busy()
            time.sleep(0.03)
            paused = foreground.give_way(max_wait=0.05)
        assert 0.04 <= paused < 0.5  # bounded: under full load the work still moves on
        assert not foreground.busy()
        time.sleep(0.01)
        assert foreground.give_way(max_wait=1.0) == 0.0  # no request since: idle


def test_a_pause_is_in_proportion_to_the_step_before_it():
    with foreground.background(), foreground.serving():
        time.sleep(0.005)
        paused = foreground.give_way(max_wait=1.0)
        time.sleep(0.1)
        longer = foreground.give_way(max_wait=1.0)
    assert 0.01 <= paused < 0.15 and 0.2 <= longer < 1.5
    assert longer > paused


def test_wake_ends_a_pause_for_a_request_that_waits_for_the_work():
    waiting = threading.Event()

    def request() -> None:
        time.sleep(0.05)
        waiting.set()  # what unless() looks at, made true first
        foreground.wake()

    with foreground.background(), foreground.serving():
        time.sleep(0.5)  # a long step: the pause would be a second
        t = threading.Thread(target=request)
        t.start()
        paused = foreground.give_way(max_wait=1.0, unless=waiting.is_set)
        t.join()
    assert 0.03 <= paused < 0.5


def test_a_request_begun_since_the_last_step_counts_as_load():
    with foreground.background():
        with foreground.serving():
            pass  # served and gone between two steps
        time.sleep(0.01)
        assert foreground.give_way(max_wait=1.0) > 0.0


def test_background_work_pauses_a_bounded_time_in_all():
    with foreground.background(budget=0.05), foreground.serving():
        time.sleep(0.03)
        first = foreground.give_way(max_wait=0.04)
        time.sleep(0.03)
        second = foreground.give_way(max_wait=0.04)
        time.sleep(0.03)
        third = foreground.give_way(max_wait=0.04)
    assert first >= 0.03 and second < 0.03 and third == 0.0


def test_background_work_does_not_wait_for_a_request_that_waits_for_it():
    with foreground.background(), foreground.serving():
        time.sleep(0.01)
        assert foreground.give_way(max_wait=5.0, unless=lambda: True) == 0.0


def test_the_app_counts_its_requests(app):
    seen = []
    real = foreground.busy

    @app.before_request
    def probe():
        seen.append(real())

    app.test_client().get("/")  # whatever it answers (no site is seeded here)
    assert seen == [True] and not foreground.busy()
