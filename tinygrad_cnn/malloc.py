"""glibc's allocator, tuned for training steps: freed arrays are reused, not returned and faulted
back in.

A training step allocates and frees the same large arrays every step (activations, their
gradients, temporaries of a few MiB to tens of MiB). glibc serves allocations above its mmap
threshold with fresh pages from the kernel and returns the heap's free top to the kernel above
its trim threshold, so each step paid thousands of page faults: the article CNN's step on two
cores took 30-45 ms with 4,640 minor faults per step, and 18-20 ms with none after

    mallopt(M_MMAP_THRESHOLD, 32 MiB)   # allocations below this come from the heap (the most
                                        # glibc accepts; larger ones are still mmapped)
    mallopt(M_TRIM_THRESHOLD, 256 MiB)  # give the heap's top back only once 256 MiB is free

at the same peak RSS of the step (docs/benchmarks.md). A whole training process at 224 px with
two loader workers peaked at 1,385-1,416 MB of RSS against 1,271 MB untuned (the heap holds what
mmap would have returned), within the 1.5 GB that issue 12 set. Freed memory stays with the
process for the next step, as a GPU framework's caching allocator keeps it; the process's
resident size stays near its peak instead of dropping between steps.

Applied once when tinygrad_cnn is imported, on Linux with glibc only, and not at all when
``TINYGRAD_CNN_MALLOC=0`` or when the user set glibc's own knobs (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_TOP_PAD_``, ``GLIBC_TUNABLES``), which then stand.
"""

from __future__ import annotations

import ctypes
import os
import platform

ENV_SWITCH = "TINYGRAD_CNN_MALLOC"
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 256 * 2**20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
_USER_KNOBS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
               "GLIBC_TUNABLES")

tuned = False  # whether tune() changed the allocator in this process
reason = "not tried yet"


def tune() -> bool:
    """Apply the settings above where they apply; True if they were applied."""
    global tuned, reason
    if os.environ.get(ENV_SWITCH, "1") == "0":
        reason = f"${ENV_SWITCH}=0"
    elif any(k in os.environ for k in _USER_KNOBS):
        reason = "the environment sets glibc's malloc knobs"
    elif platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        reason = "not Linux with glibc"
    else:
        try:
            libc = ctypes.CDLL("libc.so.6")
            ok = (libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                  and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)
        except (OSError, AttributeError) as e:
            ok, reason = False, f"mallopt unavailable ({e})"
        else:
            reason = "applied" if ok else "glibc refused the values"
        tuned = tuned or ok
    return tuned
