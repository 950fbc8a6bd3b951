"""numba kernel of the readers (private): frame-interleaved digital samples → channel rows in physical units.

Twin: ``wfdb.frames_to_rows`` (NumPy). Importing this module imports numba; readers import it lazily.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from .._numba import jit

_TILE = 256  # frames per parallel job: a tile's rows stay in cache while they are transposed


@jit(parallel=True, fastmath=None)  # exact IEEE division: the same numbers as the NumPy path
def frames_to_rows(digital, cols, rows, baseline, gain, scale, sentinel, has_sentinel, out, offset):
    """out[rows[k], offset + i] = (digital[i, cols[k]] − baseline[k]) / gain[k] · scale[k] (NaN at the sentinel)."""
    n = digital.shape[0]
    n_tiles = (n + _TILE - 1) // _TILE
    for t in prange(n_tiles):
        i0 = t * _TILE
        i1 = min(n, i0 + _TILE)
        for k in range(cols.shape[0]):
            c = cols[k]
            r = rows[k]
            b = baseline[k]
            g = gain[k]
            s = scale[k]
            for i in range(i0, i1):
                d = digital[i, c]
                v = (np.float64(d) - b) / g
                v *= s
                if has_sentinel and d == sentinel:
                    v = np.nan
                out[r, offset + i] = v
