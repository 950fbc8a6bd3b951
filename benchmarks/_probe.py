"""Streaming-bandwidth probe: a numba sum over a float32 array (vectorises; numpy.sum does not reach the limit)."""
import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True, fastmath=True)
def stream_sum(a):
    s = 0.0
    for i in prange(a.shape[0]):
        s += a[i]
    return s
