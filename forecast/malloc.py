"""glibc's allocator, tuned for a worker that keeps large arrays (the leaderboard's
marks) and redoes them in a thread of its own.

By default glibc gives threads arenas of their own (up to 8 a core), and memory
freed in one is kept there: each leaderboard refresh thread left megabytes behind
in its arena, and RSS moved by 20 MB from one benchmark run to the next.  The
GIL serializes Python's allocations anyway, so one arena costs nothing.  Both
functions do nothing where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_ARENA_MAX = -8  # mallopt parameter (malloc.h)


def _glibc():  # noqa: ANN202
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _glibc()


def one_arena() -> bool:
    """Every thread allocates from the main arena (call it before starting threads)."""
    return bool(_LIBC and _LIBC.mallopt(M_ARENA_MAX, 1))


def trim() -> bool:
    """Give freed memory back to the system (after a large piece of work)."""
    return bool(_LIBC and _LIBC.malloc_trim(0))
