"""Keep freed heap memory for the next analysis (Linux with glibc; elsewhere nothing changes).

An analysis allocates and frees arrays of 0.1-2 MB per 30 s of audio dozens of times. glibc
serves blocks above its mmap threshold with fresh mappings and hands the top of the heap back to
the kernel once more than its trim threshold lies free there; both thresholds adapt to the sizes
seen so far, so whether a run of analyses touches new pages every time depends on the order of
its allocations. One harmless reordering (a real FFT pair instead of a complex one) turned a
30 s heart analysis from 3 to 1500 page faults: 4.5 ms of kernel time on top of 22 ms. Fixed
thresholds keep freed memory in the heap, where the next arrays reuse it.

The setting is process-wide and changes no result, only where freed memory waits: the heap keeps
up to `TRIM_THRESHOLD_BYTES` free at its top (the 10-minute 48 kHz case peaks at ~60 MiB of
arrays). It is skipped when the environment sets glibc's own `MALLOC_*_` tunables or
`STETHOSCOPE_DEFAULT_MALLOC`.
"""

from __future__ import annotations

import ctypes
import os
import sys
from functools import cache

#: mallopt parameter numbers (glibc malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: Blocks below this come from the heap (glibc's own ceiling for its adaptive threshold, 64-bit).
MMAP_THRESHOLD_BYTES = 32 * 2**20
#: Free memory at the top of the heap beyond this goes back to the kernel.
TRIM_THRESHOLD_BYTES = 64 * 2**20
_OWN_SETTINGS = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "STETHOSCOPE_DEFAULT_MALLOC",
)


@cache
def reuse_freed_memory() -> bool:
    """Fix glibc's mmap and trim thresholds, once per process; whether they were set."""
    if not sys.platform.startswith("linux") or any(name in os.environ for name in _OWN_SETTINGS):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no C library symbols to load, or no mallopt in it
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; musl's stub returns 0 and changes nothing
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) & bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
