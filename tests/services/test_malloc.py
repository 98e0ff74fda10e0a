"""The allocator settings the workers use: harmless calls that say whether they applied."""

from __future__ import annotations

import sys

from forecast import cli, malloc


def test_trim_and_one_arena_apply_on_glibc_and_do_nothing_elsewhere():
    on_glibc = malloc._LIBC is not None
    assert malloc.trim() is on_glibc
    assert malloc.one_arena() is on_glibc


def test_a_worker_hands_the_gil_over_sooner_and_freezes_what_it_loaded():
    import gc

    before = sys.getswitchinterval()
    try:
        cli._worker_init(None)
        assert sys.getswitchinterval() == cli.WORKER_SWITCH_INTERVAL
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        sys.setswitchinterval(before)
