"""Keep the process's resident memory close to what it really holds while long logs are processed.

An audit of a long log makes many large numpy temporaries (a few MB each, one per stage). glibc's malloc serves a
block of that size from its heap once an equally large block has been freed (its mmap threshold adapts upwards,
up to 32 MB), and freed heap memory in the middle of the heap stays resident: on a 1M-line audit about 35 MB of
the peak was memory already freed. A fixed threshold makes such blocks separate mappings that go back to the
system when freed. Only on glibc; elsewhere nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

MMAP_THRESHOLD = 256 * 1024  # blocks at least this large are mapped on their own (glibc's default is 128 KiB)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_done = False


def bound_heap() -> bool:
    """Fix glibc's mmap threshold (once per process); whether it was set."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl, or no libc to load: nothing to tune
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, 2 * MMAP_THRESHOLD))
    _done = ok
    return ok
