"""Give the heap that finished work freed back to the operating system.

A run allocates and frees hundreds of MB of tensors per step from several threads. glibc's
malloc keeps what they free in per-thread arenas for reuse, so a long-lived app's resident
memory (what a Space or a container limit counts) swings by 60% or more from one run to the
next and creeps up with the arenas it has touched, although nothing is leaked: measured on
2 cores, 15 pairs of concurrent 5-step runs ranged 1.3–2.4 GB; with `malloc_trim` after each
pair they stayed at 1.05 GB. A trim costs ~8 ms after a run and well under 1 ms otherwise.
"""

from __future__ import annotations

import ctypes
import functools


@functools.cache
def _malloc_trim():
    """glibc's `malloc_trim` (the process's own C library), or None where there is none
    (macOS, musl)."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> bool:
    """Return the free pages of every malloc arena to the OS; False where not possible."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
