"""Aligned arrays for the ``fast`` simulator's per-chunk frames, reused from one chunk to the next (issue 17).

Every chunk makes the same large arrays again: each population's spike frames cast to float, a signed
pair's difference frames, the compiled window ops' outputs, the spikes. Fresh from numpy each time, every
page of them is a page fault in which the kernel zeroes the page before the first write: on the shipped
model at 8 images that was 7.5 % of the run's CPU time (perf, hand measurement), most of it under the
compiled cast. Inside :func:`pooled` the arrays of :func:`aligned_empty` come from a :class:`BufferPool` of
the thread instead, whose memory stays mapped: a buffer is handed out again once no array is left that
views it (its reference count says so; numpy keeps each view's ``base`` pointing to the buffer itself).
"""

from __future__ import annotations

import math
import sys
import threading
from contextlib import contextmanager

import numpy as np

_local = threading.local()

#: Smaller arrays come from numpy as before: its allocator already reuses them without new pages.
MIN_POOLED_BYTES = 1 << 20


class BufferPool:
    """Buffers (uint8 arrays) for :func:`aligned_empty`, oldest first; at most ``limit`` bytes of them are
    kept, in use or not, so the memory held beyond the arrays still alive is at most ``limit``."""

    def __init__(self, limit: int):
        self.limit, self.bufs = int(limit), []

    def take(self, nbytes: int) -> np.ndarray:
        """A buffer of at least ``nbytes`` bytes that no array uses: the smallest kept one no more than twice
        as large, else a new one."""
        free, best = self._free(), None
        for i, raw in enumerate(self.bufs):
            if free[i] and nbytes <= raw.size <= 2 * nbytes and (best is None or raw.size < self.bufs[best].size):
                best = i
        buf = np.empty(nbytes, np.uint8) if best is None else self.bufs.pop(best)
        self.bufs.append(buf)
        self._trim()
        return buf

    def _free(self) -> list[bool]:
        """Which buffers no array uses: referenced only by the list (and getrefcount's argument); numpy keeps
        each view's ``base`` pointing to the buffer itself, so every live view is one reference more."""
        return [sys.getrefcount(self.bufs[i]) <= 2 for i in range(len(self.bufs))]

    def _trim(self) -> None:
        """Forget the oldest buffers (free ones first) while more than ``limit`` bytes are kept; the newest stays.
        A forgotten buffer in use is freed as usual when its last array goes."""
        held = sum(raw.size for raw in self.bufs)
        for in_use in (False, True):
            i = 0
            while held > self.limit and i < len(self.bufs) - 1:
                if (sys.getrefcount(self.bufs[i]) > 2) == in_use:
                    held -= self.bufs.pop(i).size
                else:
                    i += 1


def counts_views() -> bool:
    """Whether this interpreter's reference counts show a buffer's live views as :class:`BufferPool` reads them:
    CPython 3.11's do; an interpreter whose counts leave out borrowed references would make a buffer in use
    look free, so :func:`pooled` keeps no pool there."""
    bufs = [np.empty(8, np.uint8)]
    alone = sys.getrefcount(bufs[0])
    view = bufs[0][1:]
    viewed = sys.getrefcount(bufs[0])
    del view
    return alone == 2 and viewed == 3


@contextmanager
def pooled(limit: int):
    """Inside: :func:`aligned_empty` of this thread reuses up to ``limit`` bytes of buffers (none with 0, or where
    :func:`counts_views` is false)."""
    before = getattr(_local, "pool", None)
    _local.pool = BufferPool(limit) if limit > 0 and _COUNTS_VIEWS else None
    try:
        yield _local.pool
    finally:
        _local.pool = before


_COUNTS_VIEWS = counts_views()


def aligned_empty(shape, dtype, align: int = 64) -> np.ndarray:
    """``np.empty(shape, dtype)`` starting on an ``align``-byte boundary, from this thread's pool inside
    :func:`pooled`. TensorFlow wraps a 64-byte aligned numpy array without copying it and copies any other
    (its ``EIGEN_MAX_ALIGN_BYTES`` check); numpy's large arrays start 16 bytes into a page. Converting 128
    frames of 96×128×16 float32: 12–18 ms unaligned, 0.03–0.05 ms aligned (issue 17, hand measurement)."""
    dtype = np.dtype(dtype)
    n = math.prod(map(int, shape)) * dtype.itemsize  # np.prod costs 50 times as much, on every chunk's array
    pool = getattr(_local, "pool", None)
    raw = pool.take(n + align) if pool is not None and n >= MIN_POOLED_BYTES else np.empty(n + align, np.uint8)
    start = -raw.ctypes.data % align
    return raw[start:start + n].view(dtype).reshape(shape)
