"""numba kernel of mains removal (private; called by ``dsp.remove_mains``): subtract cross-faded sinusoids.

Windows of ``2·hop`` samples start at absolute multiples of ``hop``; window ``k`` has, per channel,
least-squares coefficients of cos/sin at each mains frequency. Sample ``t`` lies in windows
``j = t // hop`` and ``j − 1``, weighted sin² and cos² of ``π (t − j·hop) / (2·hop)`` (they sum to
one); where only one of them has an estimate for a channel, it gets all the weight. cos/sin of
ω·i within a hop are tabulated once; each hop turns its coefficients by the phase at its start,
so a sample costs a few multiply-adds instead of several trigonometric calls. NumPy twin: ``_naive.mains_subtract``.

``mains_fit`` estimates those coefficients (twin: ``_naive.mains_fit``).
"""
from __future__ import annotations

import numpy as np
from numba import prange

from .._numba import jit

#: E|x| / σ for Gaussian x (trimming at k σ keeps 1 − exp(−k²/2) of E|x|).
_MEAN_ABS_TO_SIGMA = float(np.sqrt(2 / np.pi))


@jit()
def _cholesky(g):
    """g ← its lower Cholesky factor, in place (g small, symmetric positive-definite)."""
    m = g.shape[0]
    for j in range(m):
        d = g[j, j]
        for k in range(j):
            d -= g[j, k] * g[j, k]
        d = np.sqrt(max(d, 1e-300))
        g[j, j] = d
        for i in range(j + 1, m):
            s = g[i, j]
            for k in range(j):
                s -= g[i, k] * g[j, k]
            g[i, j] = s / d


@jit()
def _cholesky_solve(low, rhs, out):
    """out = (low lowᵀ)⁻¹ rhs for a lower Cholesky factor ``low``."""
    m = low.shape[0]
    for i in range(m):
        s = rhs[i]
        for k in range(i):
            s -= low[i, k] * out[k]
        out[i] = s / low[i, i]
    for i in range(m - 1, -1, -1):
        s = out[i]
        for k in range(i + 1, m):
            s -= low[k, i] * out[k]
        out[i] = s / low[i, i]


@jit()
def _fit_without(basis, seg, dropped, n_dropped, gram_all, rhs_all, out, g, rhs, n_kept):
    """Least squares of ``basis`` (m, L) to ``seg`` without the samples ``dropped[:n_dropped]`` (ascending),
    into ``out`` (m,): the Gram matrix of all L samples (shared by every channel) and ``rhs_all``, the
    projection of all of ``seg``, each less the terms of the dropped samples (few away from discharges).
    """
    m = basis.shape[0]
    for p in range(m):
        rhs[p] = rhs_all[p]
    for q in range(m):
        for p in range(q, m):
            g[p, q] = gram_all[p, q]
    for j in range(n_dropped):
        i = dropped[j]
        for p in range(m):
            bp = basis[p, i]
            rhs[p] -= bp * seg[i]
            for q in range(p + 1):
                g[p, q] -= bp * basis[q, i]
    for p in range(m):
        g[p, p] += 1e-9 * max(n_kept, 1.0)
    _cholesky(g)
    _cholesky_solve(g, rhs, out)


@jit()
def _dot(a, b):
    # 1-D helpers on whole arrays or row slices: these loops vectorise.
    total = 0.0
    for i in range(a.shape[0]):
        total += a[i] * b[i]
    return total


@jit()
def _project(basis, seg, out):
    """out[p] = basis[p] · seg for every row p."""
    m, length = basis.shape
    for p in range(m):
        total = 0.0
        for i in range(length):
            total += basis[p, i] * seg[i]
        out[p] = total


@jit()
def _residual(basis, seg, coef, out):
    """out = seg − coef · basis."""
    m, length = basis.shape
    for i in range(length):
        out[i] = seg[i]
    for p in range(m):
        c = coef[p]
        for i in range(length):
            out[i] -= c * basis[p, i]


@jit()
def _sum(a):
    total = 0.0
    for i in range(a.shape[0]):
        total += a[i]
    return total


@jit()
def _abs_sum(dev):
    """dev ← |dev|; returns the sum."""
    total = 0.0
    for i in range(dev.shape[0]):
        dev[i] = abs(dev[i])
        total += dev[i]
    return total


@jit()
def _calm_sum(dev, limit):
    """Sum of dev ≤ limit, and how many samples that is."""
    total = 0.0
    count = 0.0
    for i in range(dev.shape[0]):
        calm = dev[i] <= limit
        total += dev[i] if calm else 0.0
        count += 1.0 if calm else 0.0
    return total, count


@jit()
def _count_above(dev, limit):
    count = 0
    for i in range(dev.shape[0]):
        count += 1 if dev[i] > limit else 0
    return count


@jit(parallel=True)
def mains_fit(x, start, stride, hop, k_first, k_last, omega, mask_sd, half_s, min_kept):
    """Per window k_first..k_last and channel: cos/sin coefficients (W, c, 2F) and whether they hold.

    ``x`` (c, n) starts at absolute sample ``start``; window k spans [k·hop, k·hop + 2·hop). Every
    ``stride``-th absolute sample is fitted: first all finite ones, then those farther than
    ``half_s`` fitted samples from a residual above ``mask_sd`` robust σ (mean |residual|, trimmed at
    ``mask_sd``); a channel keeping fewer than ``min_kept`` of them has no estimate.
    """
    c, n = x.shape
    n_freq = omega.shape[0]
    m = 2 * n_freq
    n_win = k_last - k_first + 1
    coef = np.zeros((n_win, c, m))
    enough = np.zeros((n_win, c), dtype=np.bool_)
    trim = 1.0 - np.exp(-mask_sd * mask_sd / 2.0)
    # The fitted samples (every stride-th absolute sample) once, contiguous: a sample lies in two windows.
    first = start + (-start) % stride
    n_fit = max(0, (start + n - first + stride - 1) // stride)
    fitted = np.empty((c, n_fit))
    for ch in prange(c):
        for j in range(n_fit):
            fitted[ch, j] = x[ch, first - start + j * stride]
    for w in prange(n_win):
        k = k_first + w
        a = max(k * hop, start)
        b = min(k * hop + 2 * hop, start + n)
        a_s = a + (-a) % stride
        if b - a_s < 8 * stride:
            continue
        length = (b - a_s + stride - 1) // stride
        basis = np.empty((m, length))
        for f in range(n_freq):  # exact at the window start, then rotated (trig calls cost more than the fit)
            re = np.cos(omega[f] * a_s)
            im = np.sin(omega[f] * a_s)
            step_re = np.cos(omega[f] * stride)
            step_im = np.sin(omega[f] * stride)
            for i in range(length):
                basis[f, i] = re
                basis[n_freq + f, i] = im
                re, im = re * step_re - im * step_im, re * step_im + im * step_re
        gram_all = np.zeros((m, m))  # lower triangle
        for p in range(m):
            for q in range(p + 1):
                gram_all[p, q] = _dot(basis[p], basis[q])
        # Its factor with every sample kept serves every channel whose window is all finite.
        full = np.zeros((m, m))
        for p in range(m):
            for q in range(p + 1):
                full[p, q] = gram_all[p, q]
            full[p, p] += 1e-9 * max(length, 1.0)
        _cholesky(full)
        seg = np.empty(length)
        keep = np.empty(length, dtype=np.bool_)
        dev = np.empty(length)
        dropped = np.empty(length, dtype=np.int64)
        g = np.empty((m, m))
        rhs = np.empty(m)
        rhs_all = np.empty(m)
        sol = np.empty(m)
        j0 = (a_s - first) // stride
        for ch in range(c):
            seg[:] = fitted[ch, j0:j0 + length]
            all_finite = np.isfinite(_sum(seg))  # no NaN (bridged or invalid samples) in this window
            n_dropped = 0  # the invalid samples, ascending
            if not all_finite:
                for i in range(length):
                    keep[i] = np.isfinite(seg[i])
                    if not keep[i]:
                        seg[i] = 0.0
                        dropped[n_dropped] = i
                        n_dropped += 1
            n_finite = length - n_dropped
            _project(basis, seg, rhs_all)
            if all_finite:
                _cholesky_solve(full, rhs_all, sol)
            else:
                _fit_without(basis, seg, dropped, n_dropped, gram_all, rhs_all, sol, g, rhs, n_finite)
            _residual(basis, seg, sol, dev)
            for j in range(n_dropped):
                dev[dropped[j]] = 0.0
            # The window's robust σ: mean |residual|, then again over the residuals within mask_sd of
            # it (invalid samples, at 0, are always within: they are not counted).
            sigma = _abs_sum(dev) / max(n_finite, 1) / _MEAN_ABS_TO_SIGMA
            calm_sum, n_calm = _calm_sum(dev, mask_sd * sigma)
            n_calm -= length - n_finite
            sigma = calm_sum / max(n_calm, 1.0) / _MEAN_ABS_TO_SIGMA / trim
            limit = mask_sd * max(sigma, 1e-12)
            n_big = _count_above(dev, limit)
            n_kept = n_finite
            if n_big:
                if all_finite:
                    keep[:] = True
                last_big = -(1 << 30)
                for i in range(length):  # dilation by half_s: forward pass, then backward
                    if dev[i] > limit:
                        last_big = i
                    keep[i] = keep[i] and i - last_big > half_s
                next_big = 1 << 30
                n_dropped = 0
                for i in range(length - 1, -1, -1):
                    if dev[i] > limit:
                        next_big = i
                    keep[i] = keep[i] and next_big - i > half_s
                    if not keep[i]:
                        dropped[n_dropped] = i
                        n_dropped += 1
                n_kept = length - n_dropped
                for j in range(n_dropped // 2):  # ascending, as the first fit subtracts them
                    dropped[j], dropped[n_dropped - 1 - j] = dropped[n_dropped - 1 - j], dropped[j]
            if n_kept >= min_kept * length:
                if n_big:  # else the first fit, over the same samples, stands
                    _fit_without(basis, seg, dropped, n_dropped, gram_all, rhs_all, sol, g, rhs, n_kept)
                for p in range(m):
                    coef[w, ch, p] = sol[p]
                enough[w, ch] = True
    return coef, enough


@jit()
def _subtract_sinusoid(seg, cos_t, sin_t, weight, ca, sa, cb, sb):
    # On slices: vectorises (an index loop into the whole row did not).
    for i in range(seg.shape[0]):
        w = weight[i]
        seg[i] -= (w * ca + (1.0 - w) * cb) * cos_t[i] + (w * sa + (1.0 - w) * sb) * sin_t[i]


@jit(parallel=True)
def mains_subtract(x, start, hop, k_first, coef, enough, omega):
    """x (c, n) float32 in place; coef (W, c, 2F) = [cos..., sin...] per window; omega (F,) rad/sample."""
    c, n = x.shape
    if n == 0:
        return
    n_freq = omega.shape[0]
    W = coef.shape[0]
    # cos/sin of ω·i for i within a hop, shared by every job; a job turns its coefficients by
    # the phase at its hop's start, so no table as long as the data is needed.
    cos_h = np.empty((n_freq, hop))
    sin_h = np.empty((n_freq, hop))
    for f in range(n_freq):  # exact every 256 samples, rotated between (a 48 kHz hop is 9600 samples)
        step_re = np.cos(omega[f])
        step_im = np.sin(omega[f])
        re = im = 0.0
        for i in range(hop):
            if i % 256 == 0:
                re = np.cos(omega[f] * i)
                im = np.sin(omega[f] * i)
            cos_h[f, i] = re
            sin_h[f, i] = im
            re, im = re * step_re - im * step_im, re * step_im + im * step_re
    fade = np.empty(hop)
    for i in range(hop):
        s = np.sin(np.pi * i / (2 * hop))
        fade[i] = s * s
    ones = np.ones(hop)
    zeros = np.zeros(hop)
    j0 = start // hop
    n_hops = (start + n - 1) // hop - j0 + 1
    cos_j = np.empty((n_hops, n_freq))  # the phase at each hop's start
    sin_j = np.empty((n_hops, n_freq))
    for jj in range(n_hops):
        for f in range(n_freq):
            cos_j[jj, f] = np.cos(omega[f] * ((j0 + jj) * hop))
            sin_j[jj, f] = np.sin(omega[f] * ((j0 + jj) * hop))
    for job in prange(c * n_hops):      # (hop, channel) pairs: parallel on one channel too; a
        j = j0 + job // c               # thread's consecutive jobs share the hop
        ch = job % c
        t0 = max(j * hop, start)
        t1 = min((j + 1) * hop, start + n)
        a = j - k_first          # window j (weight fade) and window j − 1 (weight 1 − fade)
        b = a - 1
        has_a = 0 <= a < W and enough[a, ch]
        has_b = 0 <= b < W and enough[b, ch]
        if not (has_a or has_b):
            continue
        # A window without an estimate gives its weight to the other one.
        weight = fade if has_a and has_b else (ones if has_a else zeros)
        i0 = t0 - j * hop
        i1 = t1 - j * hop
        for f in range(n_freq):
            # c·cos(ω(jh + i)) + s·sin(ω(jh + i)) = c'·cos(ωi) + s'·sin(ωi)
            ct = cos_j[j - j0, f]
            st = sin_j[j - j0, f]
            ca = coef[a, ch, f] if has_a else 0.0
            sa = coef[a, ch, n_freq + f] if has_a else 0.0
            cb = coef[b, ch, f] if has_b else 0.0
            sb = coef[b, ch, n_freq + f] if has_b else 0.0
            _subtract_sinusoid(x[ch, t0 - start: t1 - start], cos_h[f, i0:i1], sin_h[f, i0:i1], weight[i0:i1],
                               ca * ct + sa * st, sa * ct - ca * st, cb * ct + sb * st, sb * ct - cb * st)
