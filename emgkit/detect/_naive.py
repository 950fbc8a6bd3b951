"""Plain NumPy/scipy twins of the kernels in ``dsp.py`` (cf. stumpy's ``tests/naive.py``).

Same inputs, same outputs, written for clarity rather than speed: the tests
compare the kernels with these on small and random data.
"""
from __future__ import annotations

import numpy as np
from scipy import signal

from .dsp import MAD_TO_SIGMA, default_pad


def filter_zero_phase(x, sos, pad=None) -> np.ndarray:
    """``sosfiltfilt(padtype="odd")`` in float64, returned as float32 (pad clipped to n - 1)."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    sos = np.asarray(sos, dtype=np.float64)
    n = x.shape[1]
    if n == 0:
        return x.astype(np.float32)
    if sos.shape[0] == 0:
        return x.astype(np.float32)
    pad = default_pad(sos) if pad is None else pad
    pad = min(pad, n - 1)
    return signal.sosfiltfilt(sos, x, axis=-1, padtype="odd", padlen=pad).astype(np.float32)


def noise_sigma(x, subsample: int = 1) -> np.ndarray:
    """Exact MAD / Φ⁻¹(0.75) per channel with ``np.nanmedian`` (NaN ignored; all-NaN: NaN)."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))[:, ::subsample]
    out = np.full(x.shape[0], np.nan)
    for c, row in enumerate(x):
        row = row[~np.isnan(row)]
        if row.size:
            out[c] = np.median(np.abs(row - np.median(row))) / MAD_TO_SIGMA
    return out


def find_abs_peaks(x, thresholds, exclusion, start=0, stop=None):
    """Direct definition: |x[i]| > thr, > every |x| in the `exclusion` samples before, >= every one after."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float32))
    n_ch, n = x.shape
    stop = n if stop is None else stop
    thr = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (n_ch,))
    mag = np.abs(x).astype(np.float64)
    chans, samples = [], []
    for c in range(n_ch):
        for i in np.flatnonzero(mag[c, start:stop] > thr[c]) + start:
            left = mag[c, max(0, i - exclusion):i]
            right = mag[c, i + 1:i + exclusion + 1]
            # comparisons with NaN are False: a NaN neighbour never blocks
            if not np.any(left >= mag[c, i]) and not np.any(right > mag[c, i]):
                chans.append(c)
                samples.append(i)
    chans = np.asarray(chans, dtype=np.int64)
    samples = np.asarray(samples, dtype=np.int64)
    order = np.lexsort((chans, samples))
    chans, samples = chans[order], samples[order]
    return chans, samples, x[chans, samples]


def snippets(x, channels, samples, before, after, all_channels=False) -> np.ndarray:
    """Zero-pad the signal by the window on both sides and slice."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float32))
    width = before + after
    padded = np.pad(x, ((0, 0), (width, width)))
    out = []
    for c, s in zip(np.asarray(channels), np.asarray(samples)):
        lo = int(s) - before + width
        lo_clip = min(max(lo, 0), padded.shape[1])
        hi_clip = min(max(lo + width, 0), padded.shape[1])
        win = np.zeros((x.shape[0], width), np.float32)
        win[:, lo_clip - lo:hi_clip - lo] = padded[:, lo_clip:hi_clip]
        out.append(win if all_channels else win[int(c):int(c) + 1])
    n_rows = x.shape[0] if all_channels else 1
    return np.stack(out) if out else np.zeros((0, n_rows, width), np.float32)
