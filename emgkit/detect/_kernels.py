"""numba kernels of the detector (private; call them through ``emgkit.detect.dsp``).

Contract (cf. scipy's ``_peak_finding``): the wrappers in ``dsp.py`` validate and
convert inputs once; kernels take C-contiguous float32 sample blocks
``(n_channels, n_samples)``, float64 coefficients and plain integers, return
arrays, and never raise domain errors. Importing this module imports numba.
Every kernel has a plain NumPy/scipy twin in ``_naive.py`` the tests compare against.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from .._numba import jit

# ----------------------------------------------------------------------------- IIR filtering
# Direct form II transposed biquads, state in float64. Sections are applied in
# groups of four (then two, one) inside one sample loop with the state in
# registers: the groups' recurrences are independent chains the CPU overlaps,
# where one section at a time would be latency-bound.


@jit()
def _sections4(buf, m, sos, z, s):
    b0a, b1a, b2a, a1a, a2a = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
    b0b, b1b, b2b, a1b, a2b = sos[s + 1, 0], sos[s + 1, 1], sos[s + 1, 2], sos[s + 1, 4], sos[s + 1, 5]
    b0c, b1c, b2c, a1c, a2c = sos[s + 2, 0], sos[s + 2, 1], sos[s + 2, 2], sos[s + 2, 4], sos[s + 2, 5]
    b0d, b1d, b2d, a1d, a2d = sos[s + 3, 0], sos[s + 3, 1], sos[s + 3, 2], sos[s + 3, 4], sos[s + 3, 5]
    z0a, z1a = z[s, 0], z[s, 1]
    z0b, z1b = z[s + 1, 0], z[s + 1, 1]
    z0c, z1c = z[s + 2, 0], z[s + 2, 1]
    z0d, z1d = z[s + 3, 0], z[s + 3, 1]
    for i in range(m):
        v = buf[i]
        ya = b0a * v + z0a
        z0a = b1a * v - a1a * ya + z1a
        z1a = b2a * v - a2a * ya
        yb = b0b * ya + z0b
        z0b = b1b * ya - a1b * yb + z1b
        z1b = b2b * ya - a2b * yb
        yc = b0c * yb + z0c
        z0c = b1c * yb - a1c * yc + z1c
        z1c = b2c * yb - a2c * yc
        yd = b0d * yc + z0d
        z0d = b1d * yc - a1d * yd + z1d
        z1d = b2d * yc - a2d * yd
        buf[i] = yd
    z[s, 0], z[s, 1] = z0a, z1a
    z[s + 1, 0], z[s + 1, 1] = z0b, z1b
    z[s + 2, 0], z[s + 2, 1] = z0c, z1c
    z[s + 3, 0], z[s + 3, 1] = z0d, z1d


@jit()
def _sections2(buf, m, sos, z, s):
    b0a, b1a, b2a, a1a, a2a = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
    b0b, b1b, b2b, a1b, a2b = sos[s + 1, 0], sos[s + 1, 1], sos[s + 1, 2], sos[s + 1, 4], sos[s + 1, 5]
    z0a, z1a = z[s, 0], z[s, 1]
    z0b, z1b = z[s + 1, 0], z[s + 1, 1]
    for i in range(m):
        v = buf[i]
        ya = b0a * v + z0a
        z0a = b1a * v - a1a * ya + z1a
        z1a = b2a * v - a2a * ya
        yb = b0b * ya + z0b
        z0b = b1b * ya - a1b * yb + z1b
        z1b = b2b * ya - a2b * yb
        buf[i] = yb
    z[s, 0], z[s, 1] = z0a, z1a
    z[s + 1, 0], z[s + 1, 1] = z0b, z1b


@jit()
def _sections1(buf, m, sos, z, s):
    b0a, b1a, b2a, a1a, a2a = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
    z0a, z1a = z[s, 0], z[s, 1]
    for i in range(m):
        v = buf[i]
        ya = b0a * v + z0a
        z0a = b1a * v - a1a * ya + z1a
        z1a = b2a * v - a2a * ya
        buf[i] = ya
    z[s, 0], z[s, 1] = z0a, z1a


@jit()
def _apply_sos(buf, m, sos, z):
    n_sec = sos.shape[0]
    s = 0
    while s + 4 <= n_sec:
        _sections4(buf, m, sos, z, s)
        s += 4
    if s + 2 <= n_sec:
        _sections2(buf, m, sos, z, s)
        s += 2
    if s < n_sec:
        _sections1(buf, m, sos, z, s)


@jit()
def _filtfilt_channel(x, y, sos, zi, pad, block):
    """Zero-phase filter one channel exactly as ``sosfiltfilt(padtype='odd', padlen=pad)``.

    ``y`` may be ``x`` (in place). Needs 0 <= pad < len(x). The forward pass is
    stored in ``y`` as float32 (no float64 copy of the channel); only the right
    pad's forward output is kept in float64.
    """
    n = x.shape[0]
    n_sec = sos.shape[0]
    if n == 0:
        return
    if n_sec == 0:
        for i in range(n):
            y[i] = x[i]
        return
    # Right-edge inputs saved first: y may overwrite x.
    edge = np.empty(pad + 1, np.float64)
    for j in range(pad + 1):
        edge[j] = x[n - 1 - pad + j]
    x_first = np.float64(x[0])
    x_last = edge[pad]
    tail = np.empty(max(pad, 1), np.float64)
    buf = np.empty(block, np.float64)
    z = np.empty((n_sec, 2), np.float64)

    start = 2.0 * x_first - x[pad] if pad > 0 else x_first
    for s in range(n_sec):
        z[s, 0] = zi[s, 0] * start
        z[s, 1] = zi[s, 1] * start
    # forward: left odd extension, body, right odd extension
    k = 0
    while k < pad:
        m = min(block, pad - k)
        for i in range(m):
            buf[i] = 2.0 * x_first - x[pad - (k + i)]
        _apply_sos(buf, m, sos, z)
        k += m
    last = 0.0
    k = 0
    while k < n:
        m = min(block, n - k)
        for i in range(m):
            buf[i] = x[k + i]
        _apply_sos(buf, m, sos, z)
        for i in range(m):
            y[k + i] = buf[i]
        last = buf[m - 1]
        k += m
    k = 0
    while k < pad:
        m = min(block, pad - k)
        for i in range(m):
            buf[i] = 2.0 * x_last - edge[pad - 1 - (k + i)]
        _apply_sos(buf, m, sos, z)
        for i in range(m):
            tail[k + i] = buf[i]
        last = buf[m - 1]
        k += m
    # backward, from the steady state of the last forward output
    for s in range(n_sec):
        z[s, 0] = zi[s, 0] * last
        z[s, 1] = zi[s, 1] * last
    k = 0
    while k < pad:
        m = min(block, pad - k)
        for i in range(m):
            buf[i] = tail[pad - 1 - (k + i)]
        _apply_sos(buf, m, sos, z)
        k += m
    k = 0
    while k < n:
        m = min(block, n - k)
        for i in range(m):
            buf[i] = y[n - 1 - (k + i)]
        _apply_sos(buf, m, sos, z)
        for i in range(m):
            y[n - 1 - (k + i)] = buf[i]
        k += m


@jit(parallel=True)
def filtfilt(x, y, sos, zi, pad, block):
    """Zero-phase filter every row of ``x`` into ``y`` (float32, may be ``x``), in parallel over channels."""
    for c in prange(x.shape[0]):
        _filtfilt_channel(x[c], y[c], sos, zi, pad, block)


# ----------------------------------------------------------------------------- robust noise (MAD)
# median(|x - median(x)|) from one histogram pass: a strided subsample (~8192
# samples) gives a rough median and MAD; a fine histogram over median ± 8 MAD
# (8192 bins, bin width ≈ MAD/512) then gives both exactly enough, reading the
# empirical CDF piecewise-linearly inside bins. Channels where that window
# misses the median or the MAD, short channels and degenerate ones fall back
# to the exact median (a copy of that channel).

_N_BINS = 8192
_HALF_WIDTH_MADS = 8.0
_SUBSAMPLE = 8192
_EXACT_BELOW = 65536  # channels shorter than this: exact medians are cheap


@jit()
def _exact_median_mad(x, stride):
    """Exact (median, MAD) of every ``stride``-th sample, NaN ignored (a copy of those samples)."""
    n = x.shape[0]
    count = 0
    for i in range(0, n, stride):
        if x[i] == x[i]:
            count += 1
    if count == 0:
        return np.nan, np.nan
    values = np.empty(count, np.float64)
    k = 0
    for i in range(0, n, stride):
        if x[i] == x[i]:
            values[k] = x[i]
            k += 1
    med = np.median(values)
    for i in range(count):
        values[i] = abs(values[i] - med)
    return med, np.median(values)


@jit()
def _cdf(cum, hist, lo, inv_width, n_bins, v):
    # Empirical CDF at v, linear inside a bin; v must lie in [lo, hi].
    t = (v - lo) * inv_width
    k = int(t)
    if k >= n_bins:
        return cum[n_bins]
    if k < 0:
        return cum[0]
    return cum[k] + (t - k) * hist[k]


@jit()
def _mad_from_histogram(hist, below, count, lo, width):
    n_bins = hist.shape[0]
    cum = np.empty(n_bins + 1, np.float64)
    cum[0] = below
    for k in range(n_bins):
        cum[k + 1] = cum[k] + hist[k]
    half = 0.5 * count
    if cum[0] >= half or cum[n_bins] <= half:
        return np.nan  # median outside the window
    k = np.searchsorted(cum, half, side="right") - 1
    med = lo + (k + (half - cum[k]) / hist[k]) * width
    hi = lo + n_bins * width
    r_max = min(med - lo, hi - med)
    inv_width = 1.0 / width
    if _cdf(cum, hist, lo, inv_width, n_bins, med + r_max) - _cdf(cum, hist, lo, inv_width, n_bins, med - r_max) < half:
        return np.nan  # MAD larger than the window
    r_lo, r_hi = 0.0, r_max
    for _ in range(64):
        r = 0.5 * (r_lo + r_hi)
        if _cdf(cum, hist, lo, inv_width, n_bins, med + r) - _cdf(cum, hist, lo, inv_width, n_bins, med - r) < half:
            r_lo = r
        else:
            r_hi = r
    return 0.5 * (r_lo + r_hi)


@jit(parallel=True)
def mad(x, stride, n_parts):
    """median(|x - median(x)|) per row, NaN ignored (all-NaN row: NaN), reading every ``stride``-th sample."""
    n_ch, n = x.shape
    result = np.full(n_ch, np.nan)
    lo = np.zeros(n_ch)
    width = np.ones(n_ch)
    use_hist = np.zeros(n_ch, np.bool_)
    n_strided = (n + stride - 1) // stride
    # 1. rough window from a strided subsample (or the exact answer for short rows)
    for c in prange(n_ch):
        row = x[c]
        if n_strided <= _EXACT_BELOW:
            result[c] = _exact_median_mad(row, stride)[1]
            continue
        step = stride * max(1, n_strided // _SUBSAMPLE)
        med_sub, rough = _exact_median_mad(row, step)
        if rough == rough and rough > 0:
            lo[c] = med_sub - _HALF_WIDTH_MADS * rough
            width[c] = 2.0 * _HALF_WIDTH_MADS * rough / _N_BINS
            use_hist[c] = True
    # 2. one histogram pass, each row split in n_parts so one channel uses every thread
    hist = np.zeros((n_ch, n_parts, _N_BINS), np.int64)
    below = np.zeros((n_ch, n_parts), np.int64)
    finite = np.zeros((n_ch, n_parts), np.int64)
    part_len = (n_strided + n_parts - 1) // n_parts
    for job in prange(n_ch * n_parts):
        c = job // n_parts
        p = job - c * n_parts
        if not use_hist[c]:
            continue
        row = x[c]
        h = hist[c, p]
        lo_c = lo[c]
        inv_w = 1.0 / width[c]
        j0 = p * part_len
        j1 = min(n_strided, j0 + part_len)
        nb = 0
        nf = 0
        for j in range(j0, j1):
            v = row[j * stride]
            if v == v:
                nf += 1
                t = (v - lo_c) * inv_w
                if t < 0.0:
                    nb += 1
                elif t < _N_BINS:
                    h[int(t)] += 1
        below[c, p] = nb
        finite[c, p] = nf
    # 3. median and MAD from the histogram; exact fallback where the window missed
    for c in prange(n_ch):
        if not use_hist[c]:
            if n_strided > _EXACT_BELOW:
                result[c] = _exact_median_mad(x[c], stride)[1]
            continue
        h = hist[c, 0].astype(np.float64)
        for p in range(1, n_parts):
            h += hist[c, p]
        value = _mad_from_histogram(h, below[c].sum(), finite[c].sum(), lo[c], width[c])
        if value != value:
            value = _exact_median_mad(x[c], stride)[1]
        result[c] = value
    return result


# ----------------------------------------------------------------------------- peaks of |x|
_BLOCK = 64


@jit()
def _n_above(a, i0, i1, thr):
    # Branch-free float32 count: vectorises, so empty blocks cost one SIMD sweep.
    count = np.float32(0.0)
    for i in range(i0, i1):
        count += np.float32(1.0) if abs(a[i]) > thr else np.float32(0.0)
    return count


@jit()
def _scan_channel(a, thr, exclusion, start, stop, out, cap):
    """Peaks of |a| in [start, stop) (context from all of ``a``); first ``cap`` stored in ``out``; returns the count."""
    n = a.shape[0]
    count = 0
    resume = start  # samples within `exclusion` after a peak cannot be peaks
    b0 = start
    while b0 < stop:
        b1 = min(b0 + _BLOCK, stop)
        if b1 > resume and _n_above(a, b0, b1, thr) > 0:
            for i in range(max(b0, resume), b1):
                v = abs(a[i])
                if not v > thr:
                    continue
                ok = True
                for j in range(max(0, i - exclusion), i):  # an equal earlier sample wins
                    if abs(a[j]) >= v:
                        ok = False
                        break
                if ok:
                    for j in range(i + 1, min(n, i + exclusion + 1)):
                        if abs(a[j]) > v:
                            ok = False
                            break
                if ok:
                    if count < cap:
                        out[count] = i
                    count += 1
                    resume = i + exclusion + 1
                    if resume >= b1:
                        break
        b0 = b1
    return count


@jit(parallel=True)
def abs_peaks(x, thresholds, exclusion, start, stop, rows, cap):
    """Peaks of |x[rows[k]]| per listed row: (counts (len(rows),), samples (len(rows), cap))."""
    n_rows = rows.shape[0]
    counts = np.zeros(n_rows, np.int64)
    samples = np.empty((n_rows, cap), np.int64)
    for k in prange(n_rows):
        c = rows[k]
        counts[k] = _scan_channel(x[c], thresholds[c], exclusion, start, stop, samples[k], cap)
    return counts, samples


# ----------------------------------------------------------------------------- snippets
@jit(parallel=True)
def snippets(x, channels, samples, before, after, all_channels, out):
    """Windows x[ch, s - before : s + after] into ``out`` (zeros where the window leaves the signal)."""
    n_ch, n = x.shape
    width = before + after
    for k in prange(samples.shape[0]):
        s0 = samples[k] - before
        i0 = max(0, -s0)
        i1 = min(width, n - s0)
        if all_channels:
            for c in range(n_ch):
                for i in range(i0, i1):
                    out[k, c, i] = x[c, s0 + i]
        else:
            c = channels[k]
            for i in range(i0, i1):
                out[k, 0, i] = x[c, s0 + i]
