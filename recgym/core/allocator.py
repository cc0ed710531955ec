"""CPU allocator tuning: keep large tensor buffers in the heap instead of mmap-ing each one.

A step returns fresh observation tensors of several MB; glibc serves each with mmap and
returns it with munmap, so every step pays page faults for every page it writes (this
halved env throughput at 4,096 users). Raising glibc's mmap and trim thresholds lets freed
buffers be reused, the effect jemalloc or tcmalloc would have. It changes this process's
allocator only, memory freed stays reserved for reuse, and ``RECGYM_ALLOCATOR_TUNING=0``
turns it off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_BYTES = 1 << 30
_TRIM_THRESHOLD_BYTES = (1 << 31) - 1
_TOP_PAD_BYTES = 256 << 20

_tuned = False


def tune_cpu_allocator() -> bool:
    """Apply the tuning once per process on glibc Linux; return whether it is in effect."""
    global _tuned
    if _tuned:
        return True
    if os.environ.get("RECGYM_ALLOCATOR_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    library = ctypes.util.find_library("c")
    if library is None:
        return False
    try:
        libc = ctypes.CDLL(library)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other libcs have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    _tuned = bool(
        mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)
        and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES)
        and mallopt(_M_TOP_PAD, _TOP_PAD_BYTES)
    )
    return _tuned
