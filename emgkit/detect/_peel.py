"""numba kernel of template peeling (private; called by ``units.peel_region``).

Greedy matching pursuit over one active region. After each accepted fit
(template k, position tau, scale a) the matched-filter outputs of every
template near tau change by ``-a * xcorr(T_j, T_k)``; those template
cross-correlations are computed once per fitted template and kept in a small
slot cache shared by all regions of a muscle, so a fit costs O(K·w) instead of
the O(K·c·w²) of correlating the residual again. The best (template, position)
is found through per-position and per-block maxima.

Plain NumPy twin: ``_naive.peel`` (same inputs and outputs, recomputes the
matched filter from the residual after each fit); the tests compare the two.
"""
from __future__ import annotations

import numpy as np

from .._numba import jit

_BLOCK = 64
#: Indices into the ``limits`` float array.
MIN_SCALE, MAX_SCALE, MIN_ENERGY, NOISE_FACTOR, SHAPE_TOLERANCE, MIN_EXPLAINED = range(6)


@jit()
def _xcorr_row(T, masks, k, out):
    """out[j, d + w - 1] = Σ_c Σ_i T[j, c, i] · T[k, c, i + d] for d in −(w−1)..w−1."""
    K, C, W = T.shape
    out[:, :] = 0.0
    for c in range(C):
        if not masks[k, c]:
            continue
        for j in range(K):
            if not masks[j, c]:
                continue
            for d in range(-(W - 1), W):
                i0 = max(0, -d)
                i1 = min(W, W - d)
                s = 0.0
                for i in range(i0, i1):
                    s += T[j, c, i] * T[k, c, i + d]
                out[j, d + W - 1] += s


@jit()
def _slot_for(k, T, masks, xc, slot_of, owner, last_use):
    """The cache slot holding template k's cross-correlations (computed on first use, LRU eviction)."""
    now = last_use.max() + 1
    s = slot_of[k]
    if s < 0:
        s = 0
        for i in range(owner.shape[0]):
            if owner[i] < 0:
                s = i
                break
            if last_use[i] < last_use[s]:
                s = i
        if owner[s] >= 0:
            slot_of[owner[s]] = -1
        owner[s] = k
        slot_of[k] = s
        _xcorr_row(T, masks, k, xc[s])
    last_use[s] = now
    return s


@jit()
def _gain(c, e_t, limits):
    if not e_t > 0.0:
        return -np.inf, 0.0
    raw = c / e_t
    sc = min(max(raw, limits[MIN_SCALE]), limits[MAX_SCALE])
    # A best scale under min_scale is a different (smaller) waveform, not this unit.
    if not raw >= limits[MIN_SCALE]:
        return -np.inf, sc
    return 2.0 * sc * c - sc * sc * e_t, sc


@jit()
def _best_in_block(best, b, n_pos):
    p0 = b * _BLOCK
    p_best = p0
    for p in range(p0 + 1, min(n_pos, p0 + _BLOCK)):
        if best[p] > best[p_best]:
            p_best = p
    return p_best


@jit()
def peel(r, T, masks, core_first, core_last, e_t, e_core, n_core, peak_sd, floor, corr,
         xc, slot_of, owner, last_use, limits, refr, max_iter):
    """Peel region ``r`` (c, L) float64 in place; ``corr`` (K, L − w + 1) is its matched-filter output.

    Returns (positions, templates, scales, snr) of the accepted fits, in fit order.
    """
    K, C, W = T.shape
    n_pos = corr.shape[1]
    gain = np.empty((K, n_pos))
    scale = np.empty((K, n_pos))
    for k in range(K):
        for p in range(n_pos):
            gain[k, p], scale[k, p] = _gain(corr[k, p], e_t[k], limits)
    blocked = np.zeros((K, n_pos), np.bool_)
    best = np.full(n_pos, -np.inf)
    best_k = np.zeros(n_pos, np.int64)
    for p in range(n_pos):
        for k in range(K):
            if gain[k, p] > best[p]:
                best[p] = gain[k, p]
                best_k[p] = k
    n_blocks = (n_pos + _BLOCK - 1) // _BLOCK
    block_p = np.empty(n_blocks, np.int64)
    for b in range(n_blocks):
        block_p[b] = _best_in_block(best, b, n_pos)

    out_p = np.empty(max_iter, np.int64)
    out_k = np.empty(max_iter, np.int64)
    out_a = np.empty(max_iter)
    out_snr = np.empty(max_iter)
    n_found = 0
    for it in range(max_iter):
        bb = 0
        for b in range(1, n_blocks):
            if best[block_p[b]] > best[block_p[bb]]:
                bb = b
        tau = block_p[bb]
        k = best_k[tau]
        g = best[tau]
        if not g >= limits[MIN_ENERGY]:
            break
        ak = scale[k, tau]
        accept = ak * peak_sd[k] >= floor[k]
        if accept:
            # The fit must explain the waveform (on the template's core), or a large share of
            # the local energy when an overlapping neighbour is still in the residual.
            resid = 0.0
            local = 0.0
            for c in range(C):
                if not masks[k, c]:
                    continue
                for i in range(W):
                    v = r[c, tau + i]
                    local += v * v
                    if core_first[k] <= i <= core_last[k]:
                        d = v - ak * T[k, c, i]
                        resid += d * d
            allowed = limits[NOISE_FACTOR] * n_core[k] + limits[SHAPE_TOLERANCE] * ak * ak * e_core[k]
            accept = resid <= allowed or g >= limits[MIN_EXPLAINED] * local
        if not accept:
            # Rejected until a neighbouring fit changes the residual here.
            gain[k, tau] = -np.inf
            best[tau] = -np.inf
            for j in range(K):
                if gain[j, tau] > best[tau]:
                    best[tau] = gain[j, tau]
                    best_k[tau] = j
            block_p[tau // _BLOCK] = _best_in_block(best, tau // _BLOCK, n_pos)
            continue
        out_p[n_found] = tau
        out_k[n_found] = k
        out_a[n_found] = ak
        out_snr[n_found] = np.sqrt(g)
        n_found += 1
        for c in range(C):
            if masks[k, c]:
                for i in range(W):
                    r[c, tau + i] -= ak * T[k, c, i]
        for p in range(max(0, tau - refr), min(n_pos, tau + refr + 1)):
            blocked[k, p] = True
        s = _slot_for(k, T, masks, xc, slot_of, owner, last_use)
        lo = max(0, tau - W + 1)
        hi = min(n_pos, tau + W)
        for p in range(lo, hi):
            best[p] = -np.inf
        for j in range(K):
            row = xc[s, j]
            for p in range(lo, hi):
                corr[j, p] -= ak * row[p - tau + W - 1]
                if blocked[j, p]:
                    gain[j, p] = -np.inf
                    scale[j, p] = 0.0
                else:
                    gain[j, p], scale[j, p] = _gain(corr[j, p], e_t[j], limits)
                if gain[j, p] > best[p]:
                    best[p] = gain[j, p]
                    best_k[p] = j
        for b in range(lo // _BLOCK, (hi - 1) // _BLOCK + 1):
            block_p[b] = _best_in_block(best, b, n_pos)
    return out_p[:n_found].copy(), out_k[:n_found].copy(), out_a[:n_found].copy(), out_snr[:n_found].copy()


@jit()
def pair_search(corr, e, xc, peak_sd, floor, min_energy, refr, min_scale, max_scale):
    """Best single template and best pair of two units' templates for one window
    (``units.refit_overlap_pairs``).

    ``corr`` (K, S): each template's correlation with the window at each of S placements; ``e``
    template energies; ``xc`` (K, K, 2w) template cross-correlations (``units._template_xcorr``).
    Candidates: each unit's two best local maxima of ``corr``² / ``e`` (at least ``min_energy``,
    inner placements), first the best of every unit, then the second. Pairs of different units at
    least ``refr`` placements apart, least-squares scales within ``min_scale``–``max_scale`` and
    each scale × ``peak_sd`` reaching ``floor``. Returns (best single energy, best pair energy
    (−inf if none), unit a, placement a, scale a, unit b, placement b, scale b).
    """
    K, S = corr.shape
    W2 = xc.shape[2]
    best1 = 0.0
    top_s = np.full((2, K), -1, np.int64)
    top_e = np.zeros((2, K))
    for j in range(K):
        for s in range(S):
            v = corr[j, s]
            en = v * v / e[j] if v > 0 else 0.0
            if en > best1:
                best1 = en
            if s == 0 or s == S - 1 or en < min_energy:
                continue
            u = corr[j, s - 1]
            before = u * u / e[j] if u > 0 else 0.0
            u = corr[j, s + 1]
            after = u * u / e[j] if u > 0 else 0.0
            if en < before or en < after:
                continue
            if en > top_e[0, j]:
                top_e[1, j], top_s[1, j] = top_e[0, j], top_s[0, j]
                top_e[0, j], top_s[0, j] = en, s
            elif en > top_e[1, j]:
                top_e[1, j], top_s[1, j] = en, s
    cj = np.empty(2 * K, np.int64)
    cs = np.empty(2 * K, np.int64)
    n = 0
    for rank in range(2):
        for j in range(K):
            if top_e[rank, j] > 0:
                cj[n] = j
                cs[n] = top_s[rank, j]
                n += 1
    best = -np.inf
    out_a = out_b = out_sa = out_sb = -1
    out_xa = out_xb = 0.0
    for x in range(n):
        ja, sa = cj[x], cs[x]
        for y in range(x + 1, n):
            jb, sb = cj[y], cs[y]
            if ja == jb or abs(sb - sa) < refr:
                continue
            x12 = xc[ja, jb, (sa - sb) % W2]
            det = e[ja] * e[jb] - x12 * x12
            if not det > 1e-9 * e[ja] * e[jb]:
                continue
            ca, cb = corr[ja, sa], corr[jb, sb]
            xa = (e[jb] * ca - x12 * cb) / det
            xb = (e[ja] * cb - x12 * ca) / det
            if xa < min_scale or xa > max_scale or xb < min_scale or xb > max_scale:
                continue
            if xa * peak_sd[ja] < floor[ja] or xb * peak_sd[jb] < floor[jb]:
                continue
            ex = xa * ca + xb * cb
            if ex > best:
                best, out_a, out_sa, out_xa, out_b, out_sb, out_xb = ex, ja, sa, xa, jb, sb, xb
    return best1, best, out_a, out_sa, out_xa, out_b, out_sb, out_xb
