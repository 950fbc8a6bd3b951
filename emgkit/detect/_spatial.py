"""numba kernel of the grid detection statistic (private; see ``spikes.GridStatistic``).

Same contract as ``_kernels.py``: C-contiguous float32 samples ``(n_channels, n_samples)``,
plain index and coefficient arrays, no domain errors. Twin: ``_naive.neighbourhood_energy``.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from .._numba import jit

#: Samples per parallel block (64 channels × 1024 float32 = 256 KiB: stays in L2).
_BLOCK = 1024


# No fastmath: the float32 sums keep the twin's order, so both give identical bits.
@jit(parallel=True, fastmath=None)
def neighbourhood_energy(z, weight, neighbours, cap, inv_threshold):
    """Per sample, max over electrodes c of Σ_{j ∈ neighbours[c]} min(weight[j]·z[j]², cap[c]) · inv_threshold[c].

    ``neighbours`` is (n_channels, m) int64 padded with −1. NaN samples count as 0. float32 (n_samples,).
    """
    n_ch, n = z.shape
    m = neighbours.shape[1]
    out = np.zeros(n, np.float32)
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    for b in prange(n_blocks):
        i0 = b * _BLOCK
        i1 = min(n, i0 + _BLOCK)
        q = np.empty(n_ch, np.float32)
        for i in range(i0, i1):
            for j in range(n_ch):
                v = z[j, i]
                e = weight[j] * v * v
                q[j] = e if e == e else np.float32(0.0)  # NaN -> 0
            best = np.float32(0.0)
            for c in range(n_ch):
                s = np.float32(0.0)
                cc = cap[c]
                for k in range(m):
                    j = neighbours[c, k]
                    if j < 0:
                        break
                    s += min(q[j], cc)
                s *= inv_threshold[c]
                if s > best:
                    best = s
            out[i] = best
    return out
