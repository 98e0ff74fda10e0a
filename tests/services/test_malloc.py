"""The allocator settings: harmless calls that say whether they applied."""

from __future__ import annotations

from forecast import malloc


def test_trim_and_one_arena_apply_on_glibc_and_do_nothing_elsewhere():
    on_glibc = malloc._LIBC is not None
    assert malloc.trim() is on_glibc
    assert malloc.one_arena() is on_glibc
