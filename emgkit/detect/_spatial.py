"""numba kernel of the grid detection statistic (private; see ``spikes.GridStatistic``).

Same contract as ``_kernels.py``: C-contiguous float32 samples ``(n_channels, n_samples)``,
plain index and coefficient arrays, no domain errors. Twin: ``_naive.neighbourhood_energy``.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from .._numba import jit

#: Samples per block: the block's (channels × samples) work arrays stay in L1/L2, and the loops
#: over a block's samples vectorise.
_BLOCK = 256


# No fastmath: every float32 operation keeps the twin's order, so both give identical bits.
@jit(parallel=True, fastmath=None)
def neighbourhood_energy(x, inv_sigma, common, weight, neighbours, cap, inv_threshold):
    """Per sample, the largest over electrodes c of Σ_{j ∈ neighbours[c]} min(q_j, cap[c]) · inv_threshold[c].

    q_j = weight[j] · z_j², z = x · inv_sigma (NaN as 0) minus its projection on each row of
    ``common`` (orthonormal, float32 (k, n_channels)), taken one row after the other.
    ``neighbours`` is (n_channels, m) int64 padded with −1. float32 (n_samples,).
    """
    n_ch, n = x.shape
    m = neighbours.shape[1]
    n_common = common.shape[0]
    out = np.zeros(n, np.float32)
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    for b in prange(n_blocks):
        i0 = b * _BLOCK
        w = min(n, i0 + _BLOCK) - i0
        z = np.empty((n_ch, w), np.float32)
        for j in range(n_ch):
            g = inv_sigma[j]
            for i in range(w):
                v = x[j, i0 + i] * g
                z[j, i] = v if v == v else np.float32(0.0)  # NaN -> 0
        dot = np.empty(w, np.float32)
        for k in range(n_common):
            dot[:] = 0.0
            for j in range(n_ch):
                u = common[k, j]
                for i in range(w):
                    dot[i] += u * z[j, i]
            for j in range(n_ch):
                u = common[k, j]
                for i in range(w):
                    z[j, i] -= u * dot[i]
        for j in range(n_ch):
            g = weight[j]
            for i in range(w):
                z[j, i] = g * z[j, i] * z[j, i]
        best = np.zeros(w, np.float32)
        acc = np.empty(w, np.float32)
        for c in range(n_ch):
            if neighbours[c, 0] < 0:
                continue
            cc = cap[c]
            acc[:] = 0.0
            for k in range(m):
                j = neighbours[c, k]
                if j < 0:
                    break
                for i in range(w):
                    acc[i] += min(z[j, i], cc)
            t = inv_threshold[c]
            for i in range(w):
                v = acc[i] * t
                if v > best[i]:
                    best[i] = v
        out[i0:i0 + w] = best
    return out
