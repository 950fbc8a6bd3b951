"""numba settings for emgkit's kernels, kept in one place (cf. stumpy's ``config.py``, MNE's ``_numba.py``).

Nothing here imports numba at module import: ``jit`` imports it when a kernel
module is first imported, so ``import emgkit`` stays cheap. Kernels are
compiled once and cached on disk (``cache=True``; numba's ``NUMBA_CACHE_DIR``
moves the cache); editing a kernel module invalidates its cache.

Thread count: numba's default (one thread per core). ``EMGKIT_NUM_THREADS``
caps it for emgkit's parallel kernels, e.g. when several processes share a
machine.
"""
from __future__ import annotations

import os

#: Compile once, load from the on-disk cache afterwards (~0.7 s instead of ~25 s).
CACHE = True

#: fastmath flags for the kernels. Deliberately without ``nnan``/``ninf``:
#: the kernels rely on NaN comparing false (a NaN is never a peak, never counted).
#: ``reassoc`` lets reductions (counts, sums) vectorise; ``contract`` allows FMA.
FASTMATH = frozenset({"nsz", "arcp", "contract", "reassoc"})

#: Environment variable capping the threads of emgkit's parallel kernels.
THREADS_ENV = "EMGKIT_NUM_THREADS"

#: Idle OpenMP threads sleep instead of spinning (unless the user chose otherwise). On a busy
#: machine (another process, a batch running several files) spinning workers starved the thread
#: doing the work and every parallel kernel waited a scheduler time slice: a 10-min 64-channel
#: file took 14.6 s instead of 1.65 s beside one other busy process on 2 cores (2026-11-26).
#: Set before numba's OpenMP runtime starts, i.e. before the first kernel module is imported.
OMP_WAIT_POLICY = "PASSIVE"


def jit(*, parallel: bool = False, fastmath=FASTMATH):
    """``numba.njit`` with emgkit's settings (imports numba on first use)."""
    os.environ.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)
    import numba

    return numba.njit(cache=CACHE, parallel=parallel, fastmath=set(fastmath) if fastmath else False, nogil=True)


def configure_threads() -> int:
    """Apply ``EMGKIT_NUM_THREADS`` (if set) and return the number of threads kernels will use."""
    import numba

    wanted = os.environ.get(THREADS_ENV)
    if wanted:
        try:
            n = int(wanted)
        except ValueError:
            n = 0
        if n >= 1:
            numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    return numba.get_num_threads()
