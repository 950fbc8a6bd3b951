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


def peel(r, T, masks, core_first, core_last, e_t, e_core, n_core, peak_sd, floor, corr,
         xc, slot_of, owner, last_use, limits, refr, max_iter):
    """Twin of ``_peel.peel``: the matched filter is recomputed from the residual after each fit.

    ``xc``, ``slot_of``, ``owner`` and ``last_use`` (the kernel's cross-correlation cache) are ignored.
    """
    from ._peel import MAX_SCALE, MIN_ENERGY, MIN_EXPLAINED, MIN_SCALE, NOISE_FACTOR, SHAPE_TOLERANCE

    K, C, W = T.shape
    n_pos = corr.shape[1]
    corr = corr.copy()
    w_idx = np.arange(W)
    core = (w_idx[None, :] >= core_first[:, None]) & (w_idx[None, :] <= core_last[:, None])

    def gains(c):
        with np.errstate(divide="ignore", invalid="ignore"):
            raw = c / e_t[:, None]
        sc = np.clip(raw, limits[MIN_SCALE], limits[MAX_SCALE])
        ok = (raw >= limits[MIN_SCALE]) & (e_t[:, None] > 0)
        return sc, np.where(ok, 2 * sc * c - sc * sc * e_t[:, None], -np.inf)

    a, gain = gains(corr)
    blocked = np.zeros((K, n_pos), bool)
    found = []
    for _ in range(max_iter):
        k, tau = np.unravel_index(np.argmax(gain), gain.shape)
        g = gain[k, tau]
        if not g >= limits[MIN_ENERGY]:
            break
        ak = a[k, tau]
        m = masks[k]
        seg = r[m, tau: tau + W]
        resid = (((seg - ak * T[k, m]) ** 2)[:, core[k]]).sum()
        local = (seg ** 2).sum()
        allowed = limits[NOISE_FACTOR] * n_core[k] + limits[SHAPE_TOLERANCE] * ak * ak * e_core[k]
        if ak * peak_sd[k] < floor[k] or (resid > allowed and g < limits[MIN_EXPLAINED] * local):
            gain[k, tau] = -np.inf
            continue
        found.append((tau, k, ak, np.sqrt(g)))
        r[:, tau: tau + W] -= ak * T[k]
        blocked[k, max(0, tau - refr): tau + refr + 1] = True
        lo, hi = max(0, tau - W + 1), min(n_pos, tau + W)
        windows = np.lib.stride_tricks.sliding_window_view(r[:, lo: hi + W - 1], W, axis=1)  # (c, n, W)
        corr[:, lo:hi] = np.einsum("cpw,kcw->kp", windows, T)
        a[:, lo:hi], gain[:, lo:hi] = gains(corr[:, lo:hi])
        gain[:, lo:hi][blocked[:, lo:hi]] = -np.inf
    cols = list(zip(*found)) if found else [[], [], [], []]
    return (np.asarray(cols[0], np.int64), np.asarray(cols[1], np.int64), np.asarray(cols[2], np.float64),
            np.asarray(cols[3], np.float64))


def mains_subtract(x, start, hop, k_first, coef, enough, omega):
    """Twin of ``_mains.mains_subtract``: trigonometric functions evaluated at every sample."""
    c, n = x.shape
    t = np.arange(start, start + n, dtype=np.float64)
    j = (t // hop).astype(np.int64)
    fade = np.sin(np.pi * (t - j * hop) / (2 * hop)) ** 2
    basis = np.concatenate([np.cos(omega[:, None] * t), np.sin(omega[:, None] * t)])      # (2F, n)
    W = coef.shape[0]
    est, on = [], []
    for idx in (j - k_first, j - k_first - 1):
        valid = (idx >= 0) & (idx < W)
        ii = np.clip(idx, 0, W - 1)
        on.append(enough[ii].T & valid[None, :])                          # (c, n)
        est.append(np.einsum("ncm,mn->cn", coef[ii], basis))
    # A window without an estimate gives its weight to the other one.
    sub = np.where(on[0] & on[1], fade * est[0] + (1 - fade) * est[1],
                   np.where(on[0], est[0], np.where(on[1], est[1], 0.0)))
    x -= sub.astype(x.dtype)
    return x


def mains_fit(x, start, stride, hop, k_first, k_last, omega, mask_sd, half_s, min_kept):
    """Twin of ``_mains.mains_fit``: one Gram matrix and ``np.linalg.solve`` per window and channel."""
    from scipy.ndimage import maximum_filter1d

    c, n = x.shape
    m = 2 * omega.size
    iu = np.triu_indices(m)
    coef = np.zeros((k_last - k_first + 1, c, m))
    enough = np.zeros((k_last - k_first + 1, c), dtype=bool)
    mean_abs = np.sqrt(2 / np.pi)

    def fit(seg0, wk, basis):
        rhs = (seg0 * wk) @ basis.T
        g = wk @ (basis[iu[0]] * basis[iu[1]]).T
        gram = np.zeros((c, m, m))
        gram[:, iu[0], iu[1]] = g
        gram[:, iu[1], iu[0]] = g
        gram += np.eye(m)[None] * (1e-9 * np.maximum(wk.sum(axis=1), 1.0))[:, None, None]
        return np.linalg.solve(gram, rhs[:, :, None])[:, :, 0]

    for k in range(k_first, k_last + 1):
        a, b = max(k * hop, start), min(k * hop + 2 * hop, start + n)
        a_s = a + (-a) % stride
        if b - a_s < 8 * stride:
            continue
        t_s = np.arange(a_s, b, stride, dtype=np.float64)
        phase = omega[:, None] * t_s[None, :]
        basis = np.concatenate([np.cos(phase), np.sin(phase)])
        seg = x[:, a_s - start: b - start: stride].astype(np.float64)
        finite = np.isfinite(seg)
        seg0 = np.where(finite, seg, 0.0)
        resid = seg0 - fit(seg0, finite.astype(np.float64), basis) @ basis
        dev = np.abs(resid) * finite
        sigma = dev.sum(axis=1, keepdims=True) / np.maximum(finite.sum(axis=1, keepdims=True), 1) / mean_abs
        calm = dev <= mask_sd * sigma
        sigma = (dev * calm).sum(axis=1, keepdims=True) / np.maximum((calm & finite).sum(axis=1, keepdims=True), 1) \
            / mean_abs / (1 - np.exp(-mask_sd ** 2 / 2))
        big = dev > mask_sd * np.maximum(sigma, 1e-12)
        if half_s:
            big = maximum_filter1d(big.astype(np.uint8), 2 * half_s + 1, axis=1).astype(bool)
        keep = ~big & finite
        ok = keep.mean(axis=1) >= min_kept
        coef[k - k_first] = np.where(ok[:, None], fit(seg0, keep.astype(np.float64), basis), 0.0)
        enough[k - k_first] = ok
    return coef, enough


def masked_noise_sigma(block, half_width: int, n_iter: int = 2, clip_sd: float = 3.0, min_quiet: float = 0.2):
    """Twin of ``_kernels.masked_mad`` with ``np.nanmedian``."""
    import warnings as _warnings

    x = np.atleast_2d(np.asarray(block, dtype=np.float64))
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore", RuntimeWarning)  # an all-invalid window gives NaN, ignored later
        med = np.nanmedian(x, axis=1, keepdims=True)
        sigma = np.nanmedian(np.abs(x - med), axis=1) / MAD_TO_SIGMA
    if x.shape[1] < 8 * half_width:
        return sigma
    kernel = np.ones(2 * half_width + 1)
    for _ in range(n_iter):
        big = np.abs(x - med) > clip_sd * sigma[:, None]
        near = np.stack([np.convolve(b, kernel, mode="same") > 0 for b in big])
        quiet = np.where(near | np.isnan(x), np.nan, x)
        enough = np.isfinite(quiet).mean(axis=1) >= min_quiet
        if not enough.any():
            break
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore", RuntimeWarning)  # channels with no quiet sample keep σ
            med_q = np.nanmedian(quiet, axis=1, keepdims=True)
            new = np.nanmedian(np.abs(quiet - med_q), axis=1) / MAD_TO_SIGMA
        sigma = np.where(enough & np.isfinite(new), new, sigma)
    return sigma


def group_envelope(x, rows, scale):
    """Twin of ``_kernels.group_envelope``."""
    env = np.abs(x[rows]) * scale[rows][:, None]
    return np.nan_to_num(env, nan=0.0).max(axis=0, initial=0.0).astype(np.float32)


def window_power(x, rows, start, stop, win):
    """Twin of ``_kernels.window_power``."""
    sq = np.nan_to_num(x[rows, start:stop].astype(np.float64) ** 2)
    edges = np.arange(0, stop - start, win)
    if not edges.size:
        return np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=np.int64)
    per_row = np.add.reduceat(sq, edges, axis=1)
    lengths = np.diff(np.r_[edges, stop - start])
    loudest = np.argmax(per_row, axis=0).astype(np.int64)
    steady = np.empty(edges.size)
    steady_row = np.zeros(edges.size, dtype=np.int64)
    for w, (e, n) in enumerate(zip(edges, lengths)):
        cuts = [n * q // 4 for q in range(5)]
        parts = [sq[:, e + a:e + b].mean(axis=1) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]
        quietest = np.min(parts, axis=0)
        steady[w] = quietest.max()
        steady_row[w] = int(np.argmax(quietest)) if steady[w] > 0 else 0
    return per_row.sum(axis=0) / (len(rows) * lengths), loudest, steady, steady_row


def window_median_power(x, rows, scale, start, stop, win):
    """Twin of ``_kernels.window_median_power``."""
    sq = np.nan_to_num(x[rows, start:stop].astype(np.float64)) ** 2 * (np.asarray(scale, np.float64) ** 2)[:, None]
    edges = np.arange(0, stop - start, win)
    if edges.size == 0:
        return np.zeros(0)
    means = np.add.reduceat(sq, edges, axis=1) / np.diff(np.r_[edges, stop - start])[None, :]
    return np.median(means, axis=0)


def step_means(x, start, stop, step):
    """Twin of ``_kernels.step_means``."""
    part = np.nan_to_num(x[:, start:stop].astype(np.float64), nan=0.0)
    n_steps = -(-part.shape[1] // step)
    pad = n_steps * step - part.shape[1]
    padded = np.pad(part, ((0, 0), (0, pad)), mode="edge") if pad else part
    return padded.reshape(part.shape[0], n_steps, step).mean(axis=2)


def rail_runs(x, run, frozen_run=0):
    """Twin of ``_kernels.rail_runs`` by convolution."""
    c, n = x.shape
    mask = np.zeros((c, n), dtype=bool)
    extreme = np.nanmax(np.abs(x), axis=1, keepdims=True) if n else np.zeros((c, 1))
    big = (np.abs(x) >= 0.5 * extreme) & (extreme > 0)
    same = x[:, 1:] == x[:, :-1]
    for length, level in ((run, same & big[:, 1:] & big[:, :-1]), (frozen_run, same)):
        if length < 2 or n < length:
            continue
        kernel = np.ones(length - 1, dtype=np.int32)
        for ch in range(c):
            counts = np.convolve(level[ch].astype(np.int32), kernel, mode="valid")
            if length == frozen_run and np.all(x[ch] == x[ch, 0]):
                continue                                  # constant throughout: dead, not frozen
            for i in np.flatnonzero(counts >= length - 1):
                mask[ch, i:i + length] = True
    return mask, mask.any(axis=1)


def neighbourhood_energy(x, inv_sigma, common, weight, neighbours, cap, inv_threshold):
    """Twin of ``_spatial.neighbourhood_energy`` (float32, the kernel's order of operations)."""
    z = np.nan_to_num(np.asarray(x, np.float32) * inv_sigma[:, None], nan=0.0).astype(np.float32)
    for u in common:
        dot = np.zeros(z.shape[1], np.float32)
        for j in range(z.shape[0]):
            dot = dot + u[j] * z[j]
        z = z - u[:, None] * dot[None, :]
    q = weight[:, None] * z * z
    out = np.zeros(z.shape[1], np.float32)
    for c in range(z.shape[0]):
        s = np.zeros(z.shape[1], np.float32)
        for j in neighbours[c]:
            if j < 0:
                break
            s = s + np.minimum(q[j], cap[c])
        out = np.maximum(out, s * inv_threshold[c])
    return out


def pair_search(corr, e, xc, peak_sd, floor, min_energy, refr, min_scale, max_scale):
    """Twin of ``_peel.pair_search`` (same inputs and outputs), vectorised over the pairs."""
    K, S = corr.shape
    W2 = xc.shape[2]
    single = np.where(corr > 0, corr * corr / e[:, None], 0.0)
    best1 = float(single.max(initial=0.0))
    none = (best1, -np.inf, -1, -1, 0.0, -1, -1, 0.0)
    if S < 3:
        return none
    peak = (single[:, 1:-1] >= single[:, :-2]) & (single[:, 1:-1] >= single[:, 2:]) & (single[:, 1:-1] >= min_energy)
    energy = np.where(peak, single[:, 1:-1], 0.0)
    rows = np.arange(K)
    first = energy.argmax(axis=1)
    top = energy[rows, first]
    energy[rows, first] = 0.0
    second = energy.argmax(axis=1)
    J = np.r_[rows[top > 0], rows[energy[rows, second] > 0]]
    P = np.r_[first[top > 0], second[energy[rows, second] > 0]] + 1
    ia, ib = np.triu_indices(J.size, 1)
    ja, sa, jb, sb = J[ia], P[ia], J[ib], P[ib]
    ok = (ja != jb) & (np.abs(sb - sa) >= refr)
    ja, sa, jb, sb = ja[ok], sa[ok], jb[ok], sb[ok]
    if ja.size == 0:
        return none
    x12 = xc[ja, jb, (sa - sb) % W2]
    det = e[ja] * e[jb] - x12 * x12
    ok = det > 1e-9 * e[ja] * e[jb]
    det = np.where(ok, det, 1.0)
    ca, cb = corr[ja, sa], corr[jb, sb]
    xa = (e[jb] * ca - x12 * cb) / det
    xb = (e[ja] * cb - x12 * ca) / det
    ok &= (xa >= min_scale) & (xa <= max_scale) & (xb >= min_scale) & (xb <= max_scale)
    ok &= (xa * peak_sd[ja] >= floor[ja]) & (xb * peak_sd[jb] >= floor[jb])
    explained = np.where(ok, xa * ca + xb * cb, -np.inf)
    q = int(np.argmax(explained))
    if not np.isfinite(explained[q]):
        return none
    return (best1, float(explained[q]), int(ja[q]), int(sa[q]), float(xa[q]), int(jb[q]), int(sb[q]), float(xb[q]))
