"""Stage 3: tell motor units apart, and resolve overlapping discharges.

1. ``cluster_candidates``: greedy template clustering of the candidates' waveforms
   (in noise-σ units, on the channels where the unit or the waveform stands out),
   allowing a small shift and an amplitude scale (doublets' second potential is
   smaller, neuromyotonic trains wane, ALS units are unstable). Templates that are
   shifted copies of each other (two phases of one MUAP detected separately) merge.
2. ``peel_region``: template peeling (greedy matching pursuit) over an active
   region, so a doublet 3 ms apart or a 250 Hz train yields each discharge, each
   with its unit, time at the template's peak, and amplitude.

All arrays are plain NumPy; the waveform-comparison loops are vectorised.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
from dataclasses import dataclass, field

import numpy as np
import scipy.signal

from .params import UnitParams
from .spikes import GroupCandidates

log = logging.getLogger("emgkit")

#: Channels where a template or waveform exceeds this many σ take part in a comparison.
_SIGNIFICANT_SD = 3.0
#: Greedy clustering runs on at most this many waveforms (the largest first, then evenly
#: spread); the rest are assigned to the resulting templates.
_MAX_GREEDY = 1500
#: Waveforms are decimated to about this many samples per channel for clustering.
_CLUSTER_SAMPLES = 64
#: Template merging compares each template with at most this many others (the most frequent).
_MAX_MERGE_COMPARE = 200
#: At most this many templates per muscle (a muscle has tens of units; more means noise or overlaps).
_MAX_TEMPLATES = 256
#: A template is the median of at most this many of its members (evenly spread in time).
_MAX_TEMPLATE_MEMBERS = 2000


@dataclass
class UnitBank:
    """The templates of one muscle, in noise-σ units, with where each one peaks."""

    templates: np.ndarray      # float32 (K, c, w), σ units
    counts: np.ndarray         # members per template
    main_channel: np.ndarray   # (K,) index into the group's channels: largest peak-to-peak in σ units
    peak_offset: np.ndarray    # (K,) sample in the window of the largest |value| on the timing channel
    masks: np.ndarray          # (K, c) bool: channels that take part in fits
    sigma: np.ndarray          # (c,) µV per σ unit
    #: (K,) the channel of largest peak-to-peak in µV, where discharges are timed and reported.
    #: Electrodes differ in noise, and a propagating MUAP peaks on each of a grid's electrodes at
    #: another time: timed on the largest in σ units, a discharge could lie several ms from its
    #: largest deflection.
    timing_channel: np.ndarray

    @property
    def n_units(self) -> int:
        return len(self.templates)

    def templates_uv(self) -> np.ndarray:
        return self.templates * self.sigma[None, :, None]


def _shift_windows(x: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """Windows x (n, c, w) each moved later by its lag (samples; negative: earlier), zero-filled
    (``x`` itself when no lag is non-zero)."""
    if not np.any(lags):
        return x
    out = x.copy()
    for i in np.nonzero(lags)[0]:
        s = int(lags[i])
        out[i] = 0
        if s > 0:
            out[i, :, s:] = x[i, :, :-s]
        else:
            out[i, :, :s] = x[i, :, -s:]
    return out


class _LaggedWindows:
    """Candidate windows, each moved by its lag (``_shift_windows``) when read: ``[idx]`` only."""

    def __init__(self, snippets, lag: np.ndarray):
        self.snippets, self.lag = snippets, lag
        self.shape = snippets.shape

    def __len__(self) -> int:
        return len(self.snippets)

    def __getitem__(self, idx):
        idx = np.asarray(idx)
        return _shift_windows(np.asarray(self.snippets[idx], dtype=np.float32), self.lag[idx])


def spread_over_grid(templates: np.ndarray) -> np.ndarray:
    """Per template (K, channels, w): True when half its largest peak-to-peak reaches at least half
    the electrodes (the QRS on a grid; a MUAP stays near its fibres)."""
    if len(templates) == 0:
        return np.zeros(0, dtype=bool)
    p2p = np.ptp(templates, axis=2)
    return (p2p >= 0.5 * p2p.max(axis=1, keepdims=True)).mean(axis=1) >= 0.5


def _lands_on_another(samples: np.ndarray, labels: np.ndarray, reach: np.ndarray) -> np.ndarray:
    """Per candidate with ``reach`` > 0: True when another candidate of its label (≥ 0) lies within
    ``reach`` samples of its ``samples``."""
    order = np.lexsort((samples, labels))
    s, lab = samples[order], labels[order]
    far = np.iinfo(np.int64).max
    gap = np.where(lab[1:] == lab[:-1], np.diff(s), far)        # to the next of the same label
    nearest = np.minimum(np.r_[far, gap], np.r_[gap, far])
    out = np.zeros(samples.size, dtype=bool)
    out[order] = (lab >= 0) & (reach[order] > 0) & (nearest < reach[order])
    return out


def _confirm_merges(snippets, sigma: np.ndarray, labels: np.ndarray, into: np.ndarray, lag: np.ndarray,
                    kept: np.ndarray, w: int, params: UnitParams) -> np.ndarray:
    """Per early template: whether it stays part of the unit ``into`` it was merged into at ``lag``,
    judged on full-resolution medians of its members (moved by the lag) and of the members of the
    template the unit was kept as (``kept[unit]``), at ``params.merge_full_distance``. The kept
    templates themselves are confirmed."""
    confirmed = np.ones(into.size, dtype=bool)
    full = dataclasses.replace(params, merge_distance=params.merge_full_distance)

    def median_of(k, shift):
        idx = np.nonzero(labels == k)[0]
        idx = idx[np.linspace(0, idx.size - 1, min(idx.size, 200)).astype(np.int64)]
        x = np.asarray(snippets[idx], dtype=np.float32) / sigma[None, :, None]
        return np.median(_shift_windows(x, np.full(idx.size, shift)), axis=0)

    for k in np.nonzero(kept[into] != np.arange(into.size))[0]:
        unit = kept[into[k]]
        if (labels == unit).sum() < 3 or (labels == k).sum() < 3:
            confirmed[k] = False
            continue
        pair = np.stack([median_of(unit, 0), median_of(k, lag[k])])
        merged, _ = _merge_shifted(pair, np.array([2.0, 1.0]), np.ones(pair.shape[:2], bool), w, full)
        confirmed[k] = len(merged) == 1
    return confirmed


def _shifted(x: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """x (..., c, w) shifted by each of ``shifts`` samples with zero fill -> (..., S, c, w)."""
    w = x.shape[-1]
    s_max = int(np.abs(shifts).max(initial=0))
    padded = np.zeros(x.shape[:-1] + (w + 2 * s_max,), x.dtype)
    padded[..., s_max:s_max + w] = x
    out = np.empty(x.shape[:-2] + (len(shifts),) + x.shape[-2:], x.dtype)
    for j, s in enumerate(shifts):
        out[..., j, :, :] = padded[..., s_max - s: s_max - s + w]
    return out


def _shifted_in_blocks(X, order: np.ndarray, shifts: np.ndarray):
    """(i, ``_shifted(X[i], shifts)``) for each i of ``order``, computed a block of ~8 MB at a time:
    one feature read and one shift per candidate cost a third of the greedy clustering."""
    c, wd = X[order[:1]].shape[1:] if len(order) else (1, 1)
    block = int(np.clip((8 << 20) // max(1, len(shifts) * c * wd * 4), 1, 256))
    for b0 in range(0, len(order), block):
        part = order[b0:b0 + block]
        yield from zip(part, _shifted(X[part], shifts))


class _TemplateParts:
    """What ``_fit`` needs of the templates, kept up to date one template at a time.

    The greedy clustering changes one template per candidate; recomputing these products for
    every template at every candidate cost most of the units stage on a busy grid.
    """

    def __init__(self, templates: np.ndarray, masks: np.ndarray, dtype=np.float32):
        K, c, w = templates.shape
        self.dtype = np.dtype(dtype)
        self.shape = (c, w)
        self.on = np.zeros((K, c * w), self.dtype)      # template on its mask
        self.off = np.zeros((K, c * w), self.dtype)     # template off its mask
        self.te = np.zeros((K, c))                      # energy per channel
        self.M = np.zeros((K, c), self.dtype)
        self.M64 = np.zeros((K, c))
        self.off64 = np.zeros((K, c))
        self.te_on = np.zeros(K)                        # energy on the mask
        self.te_off = np.zeros((K, c))                  # energy per channel off the mask
        for k in range(K):
            self.update(k, templates[k], masks[k])

    @property
    def n(self) -> int:
        return len(self.M)

    def update(self, k: int, template: np.ndarray, mask: np.ndarray) -> None:
        M = mask.astype(self.dtype)
        T = template.astype(self.dtype, copy=False)
        self.on[k] = (T * M[:, None]).ravel()
        self.off[k] = (T * (1 - M)[:, None]).ravel()
        self.te[k] = (T.astype(np.float64) ** 2).sum(axis=1)
        self.M[k] = M
        self.M64[k] = M
        self.off64[k] = 1 - M
        self.te_on[k] = (self.te[k] * M).sum()
        self.te_off[k] = self.te[k] * (1 - M)

    def append(self, template: np.ndarray, mask: np.ndarray) -> None:
        for name in ("on", "off", "te", "M", "M64", "off64", "te_on", "te_off"):
            a = getattr(self, name)
            setattr(self, name, np.concatenate([a, np.zeros((1,) + a.shape[1:], a.dtype)]))
        self.update(self.n - 1, template, mask)


def _fit(xs: np.ndarray, templates: np.ndarray, masks: np.ndarray, params: UnitParams, w: int,
         parts: _TemplateParts | None = None):
    """Fit of shifted waveforms xs (B, S, c, w) to every template (K, c, w).

    Returns (residual, allowed, scale), each (B, K, S): the residual energy after the best
    scaled fit, the residual allowed for a match, and the fitted scale. Only channels where
    the template or the (unshifted) waveform stands out take part. ``parts``: the templates'
    products already computed (``templates`` and ``masks`` are then not read).
    """
    B, S, c, _ = xs.shape
    parts = parts if parts is not None else _TemplateParts(templates, masks, xs.dtype)
    K = parts.n
    x_sig = (np.abs(xs[:, S // 2]).max(axis=2) > _SIGNIFICANT_SD).astype(xs.dtype)   # (B, c)
    M = parts.M                                                                     # (K, c)
    off = 1 - M
    # The channel set is template mask ∪ significant waveform channels; splitting it as
    # M + x_sig·(1 − M) turns every masked sum into plain matrix products (BLAS).
    X = xs.reshape(B * S, c * w)
    Xs = (xs * x_sig[:, None, :, None]).reshape(B * S, c * w)
    d = X @ parts.on.T + Xs @ parts.off.T                                           # (B·S, K)
    e_t = parts.te_on[None, :] + x_sig.astype(np.float64) @ parts.te_off.T           # (B, K)
    xe = (xs.astype(np.float64) ** 2).sum(axis=3)                                    # (B, S, c)
    e_x = xe @ parts.M64.T + (xe * x_sig[:, None, :]) @ parts.off64.T                # (B, S, K)
    n_ch = M.sum(axis=1)[None, :] + x_sig @ off.T                                    # (B, K)
    d = d.reshape(B, S, K).transpose(0, 2, 1).astype(np.float64)                     # (B, K, S)
    e_x = e_x.transpose(0, 2, 1)
    e_t = e_t[:, :, None]
    a = np.clip(d / np.maximum(e_t, 1e-12), params.min_scale, params.max_scale)
    resid = e_x - 2 * a * d + a * a * e_t
    n_eff = n_ch[:, :, None] * w
    allowed = params.match_noise_factor * n_eff + params.match_shape_tolerance * a * a * e_t
    return resid, allowed, a


def _finalise(templates: np.ndarray, counts: np.ndarray, sigma: np.ndarray) -> UnitBank:
    k = len(templates)
    if k == 0:
        c = len(sigma)
        return UnitBank(np.zeros((0, c, 1), np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64),
                        np.zeros(0, np.int64), np.zeros((0, c), bool), sigma, np.zeros(0, np.int64))
    p2p = templates.max(axis=2) - templates.min(axis=2)   # (K, c), σ units
    main = p2p.argmax(axis=1)
    timing = (p2p * np.asarray(sigma, np.float64)[None, :]).argmax(axis=1)
    peak = np.abs(templates[np.arange(k), timing]).argmax(axis=1)
    masks = np.abs(templates).max(axis=2) > _SIGNIFICANT_SD
    masks[np.arange(k), main] = True
    return UnitBank(templates.astype(np.float32), counts.astype(np.int64), main, peak, masks, sigma, timing)


def cluster_candidates(gc: GroupCandidates, sigma_uv: np.ndarray, fs: float,
                       params: UnitParams | None = None, return_lag: bool = False,
                       founders: np.ndarray | None = None):
    """Label each candidate with a unit; return (labels, UnitBank). Label −1: not assigned.

    ``founders`` (bool per candidate, default all): only these found and grow templates; the
    others are assigned to the templates afterwards.

    With ``return_lag`` also returns, per candidate, the samples by which its own peak lies after
    its unit's alignment (non-zero for a unit caught at another phase, see
    ``UnitParams.assign_merged_copies``): ``gc.samples - lag`` is the candidate in its unit's timing.
    """
    params = params or UnitParams()
    sigma = np.where(sigma_uv > 0, sigma_uv, 1.0).astype(np.float32)
    n = len(gc.samples)
    if n == 0:
        empty = (np.zeros(0, np.int64), _finalise(np.zeros((0,) + gc.snippets.shape[1:], np.float32),
                                                   np.zeros(0), sigma))
        return empty + (np.zeros(0, np.int64),) if return_lag else empty
    c, w = gc.snippets.shape[1:]
    # Cluster on waveforms decimated to ~64 samples: shapes, not 48 kHz detail, tell units apart;
    # below cluster_alignment_rate_hz interpolated, so alignment can reach half a recorded sample.
    q = max(1, w // _CLUSTER_SAMPLES)
    up = 1 if q > 1 or params.cluster_alignment_rate_hz <= fs else int(np.ceil(params.cluster_alignment_rate_hz / fs))
    X = _Features(gc.snippets, sigma, q, up)
    wd = X.wd
    s_max = max(0, int(round(params.max_shift_ms * fs * up / 1000 / q)), up // 2)
    shifts = np.arange(-s_max, s_max + 1)
    amp = np.concatenate([np.abs(X[lo:lo + 4096]).max(axis=(1, 2)) for lo in range(0, n, 4096)])
    order = np.argsort(-amp, kind="stable")
    if founders is not None:
        order = order[np.asarray(founders, dtype=bool)[order]]
    if order.size > _MAX_GREEDY:
        order = np.concatenate([order[: _MAX_GREEDY // 2],
                                np.sort(order[_MAX_GREEDY // 2:])[:: max(1, (order.size - _MAX_GREEDY // 2) // (_MAX_GREEDY // 2))]])
    sums = []
    counts = []
    born, n_founded = [], 0   # when each template was founded (the oldest one-waveform one makes way at the cap)
    tmpl = np.zeros((0, c, wd), np.float32)
    masks = np.zeros((0, c), bool)
    parts = _TemplateParts(tmpl, masks, X.dtype)
    for i, xs in _shifted_in_blocks(X, order, shifts):
        if len(tmpl):
            resid, allowed, _ = _fit(xs[None], tmpl, masks, params, wd, parts=parts)
            resid, allowed = resid[0], allowed[0]
            k, s = np.unravel_index(np.argmin(resid - allowed), resid.shape)
            if resid[k, s] <= allowed[k, s]:
                sums[k] += xs[s]
                counts[k] += 1
                tmpl[k] = sums[k] / counts[k]
                masks[k] = np.abs(tmpl[k]).max(axis=1) > _SIGNIFICANT_SD
                parts.update(k, tmpl[k], masks[k])
                continue
        m = np.abs(X[i]).max(axis=1) > _SIGNIFICANT_SD
        if len(tmpl) >= _MAX_TEMPLATES:
            # Bounded cost. At the cap the oldest template still holding only the waveform that
            # founded it (an overlap, noise) makes way: in a busy record a contraction's overlaps
            # would otherwise take every place before a rest unit's first discharge (real OTB grid:
            # 189 of 256 such; units injected at rest were left unsorted).
            single = np.nonzero(np.asarray(counts) == 1)[0]
            if not single.size:
                continue  # waveforms like no one else's stay unassigned (kept as lone candidates)
            k = int(single[np.argmin(np.asarray(born)[single])])
            sums[k], born[k] = xs[len(shifts) // 2].astype(np.float64), n_founded
            n_founded += 1
            tmpl[k], masks[k] = X[i], m
            parts.update(k, tmpl[k], masks[k])
            continue
        sums.append(xs[len(shifts) // 2].astype(np.float64))
        counts.append(1)
        born.append(n_founded)
        n_founded += 1
        tmpl = np.concatenate([tmpl, X[i][None]])
        masks = np.concatenate([masks, m[None]])
        parts.append(tmpl[-1], m)
    pre_tmpl, pre_counts = tmpl, np.asarray(counts, float)
    tmpl, counts, into, lag, kept = _merge_shifted(pre_tmpl, pre_counts, masks, wd, params, return_map=True)
    labels = assign(X, _finalise(tmpl, counts, sigma), shifts, params, wd)
    member_lag = np.zeros(n, dtype=np.int64)
    grid = gc.kind != "needle" and 0 < params.grid_copies_min_channels <= c
    if params.assign_merged_copies and (gc.kind == "needle" or grid):
        # Candidates assigned to the templates as clustered take the unit their template was merged
        # into, at its lag: a copy merged at a lag (the unit caught at another phase) keeps its
        # members, which the merged template, searched within ± max_shift_ms, would not match.
        # Only where the copy's full-resolution median matches the unit's at full-resolution
        # strictness: the early merge also joins different units alike at some lag.
        pre_labels = assign(X, _finalise(pre_tmpl, pre_counts, sigma), shifts, params, wd)
        confirmed = _confirm_merges(gc.snippets, sigma, pre_labels, into, lag * q, kept, w, params)
        use = (pre_labels >= 0) & confirmed[np.maximum(pre_labels, 0)]
        if grid:
            # Not a waveform spread over most of the grid: the QRS's slow phases match each other.
            use &= ~spread_over_grid(tmpl)[into[np.maximum(pre_labels, 0)]]
        copy_labels = np.where(use, into[np.maximum(pre_labels, 0)], labels)
        copy_lag = np.where(use, lag[np.maximum(pre_labels, 0)] * q, 0)
        if grid:
            # A candidate its lag moves nearer to another of its unit's than the lag itself is a
            # discharge of its own (a doublet's second MUAP, 2–10 ms after the first), not a copy.
            use &= ~_lands_on_another(gc.samples - copy_lag, copy_labels, np.abs(copy_lag))
        labels = np.where(use, copy_labels, labels)
        member_lag = np.where(use, copy_lag, 0)
    # Full-resolution templates: medians of their members (robust to overlaps), means of few.
    keep = [k for k in range(len(tmpl)) if (labels == k).any()]
    remap = np.full(len(tmpl), -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    labels = np.where(labels >= 0, remap[np.maximum(labels, 0)], -1)
    full = np.zeros((len(keep), c, w), np.float32)
    for j in range(len(keep)):
        idx = np.nonzero(labels == j)[0]
        # A median over an even spread of members is the same template; all of them would put a
        # long recording's waveforms in memory at once.
        idx = idx[np.linspace(0, idx.size - 1, min(idx.size, _MAX_TEMPLATE_MEMBERS)).astype(np.int64)]
        members = gc.snippets[idx].astype(np.float32) / sigma[None, :, None]
        members = _shift_windows(members, member_lag[idx])
        full[j] = np.median(members, axis=0) if len(members) >= 3 else members.mean(axis=0)
    # Once more on the full-resolution medians: a unit whose candidates were caught at its other
    # phase (a biphasic MUAP with two near-equal peaks) has its own copy of the template, shifted
    # by the phases' distance, which the noisy early templates did not show (independent
    # simulator, myokymia needle: two copies 0.7 ms apart, one burst split into "fasciculations").
    # Needles only (see UnitParams.merge_full_templates).
    counts_full = np.bincount(labels[labels >= 0], minlength=len(keep)).astype(float)
    align_search = max(1, int(round(params.max_shift_ms * fs / 1000)))   # samples, full resolution
    if params.merge_full_templates and gc.kind == "needle" and len(keep) > 1:
        masks_full = np.abs(full).max(axis=2) > _SIGNIFICANT_SD
        full, _, into, full_lag, _ = _merge_shifted(full, counts_full, masks_full, w,
                                       dataclasses.replace(params, merge_distance=params.merge_full_distance),
                                       return_map=True)
        # A copy's members take its lag, in the unit's timing as after the early merge; a lag within
        # the alignment search (± max_shift_ms) is the same phase, left as it is.
        full_lag = np.where(np.abs(full_lag) > align_search, full_lag, 0)
        member_lag = np.where(labels >= 0, member_lag + full_lag[np.maximum(labels, 0)], member_lag)
        labels = np.where(labels >= 0, into[np.maximum(labels, 0)], labels)
    if params.phase_copy_distance > 0 and gc.kind == "needle" and len(full) > 1:
        full, labels, member_lag = _merge_phase_copies(
            full, labels, member_lag, params.phase_copy_distance, params.phase_copy_min_ratio,
            int(round(params.phase_copy_max_ms * fs / 1000)), gc.before, align_search, params.min_recurring)
    bank = _finalise(full, np.bincount(labels[labels >= 0], minlength=len(full)), sigma)
    # Members caught at another phase, in their unit's timing and alignment.
    samples = gc.samples - member_lag
    windows = _LaggedWindows(gc.snippets, member_lag) if member_lag.any() else gc.snippets
    bank = _unmix_overlaps(samples, labels, windows, bank, params)
    labels, bank = _merge_cofiring(samples, labels, bank, w, sigma, gc.peak_uv)
    labels, bank = _drop_small(labels, bank, params.min_peak_sd, sigma)
    log.info("units: %s: %d candidates -> %d templates (%d unassigned)", gc.muscle, n, bank.n_units,
             int((labels < 0).sum()))
    return (labels, bank, member_lag) if return_lag else (labels, bank)


def _phase_copy_distance(a: np.ndarray, b: np.ndarray, s: int) -> float:
    """Normalised distance of b(t) from a(t + s) over their overlap, plus the share shifted out
    (``_merge_shifted``'s measure at one shift, both energies taken over the overlap)."""
    w = a.shape[-1]
    if abs(s) >= w:
        return np.inf
    x = a[..., max(s, 0): w + min(s, 0)]
    y = b[..., max(-s, 0): w - max(s, 0)]
    num = float(((x - y) ** 2).sum())
    den = float((x ** 2).sum() + (y ** 2).sum())
    return num / max(den, 1e-12) + abs(s) / w


def _merge_phase_copies(full: np.ndarray, labels: np.ndarray, member_lag: np.ndarray, max_distance: float,
                        min_ratio: float, max_lag: int, centre: int, max_off: int, min_members: int):
    """Fold a template that is another's MUAP timed at its second, near-equal phase into that one.

    A MUAP with two same-sign peaks of nearly equal size (≥ ``min_ratio``, ≤ ``max_lag`` samples
    apart) is caught at either, and its discharges split into two units whose templates are the
    same waveform shifted by the peaks' distance, timed that far apart (EMGLAB R00108 unit 7:
    peaks of 958 and 834 µV 1.9 ms apart). Where template b matches a shifted by the distance of
    one of a's such peaks (normalised distance ≤ ``max_distance``), b's members join a, their lag
    the shift. The larger unit (more members) stays.
    """
    K, c, w = full.shape
    counts = np.bincount(labels[labels >= 0], minlength=K)
    order = np.argsort(-counts, kind="stable")
    alive = np.ones(K, dtype=bool)
    into = np.arange(K)
    shift = np.zeros(K, dtype=np.int64)
    ch = np.abs(full).max(axis=2).argmax(axis=1)
    main = np.abs(full[np.arange(K), ch]).argmax(axis=1)
    # Only templates of recurring units timed at their window's centre (noise and overlaps are not).
    clean = (counts >= min_members) & (np.abs(main - centre) <= max_off)
    for a in order:
        if not alive[a] or not clean[a]:
            continue
        x = full[a, ch[a]]
        pa = int(main[a])
        sign = np.sign(x[pa])
        y = sign * x
        # Other phases of the same sign: the largest within ± max_off of themselves.
        peaks = [p for p in range(max_off, w - max_off) if y[p] == y[p - max_off: p + max_off + 1].max()
                 and y[p] >= min_ratio * y[pa] and 2 * max_off < abs(p - pa) <= max_lag]
        if not peaks:
            continue
        for b in order:
            if b == a or not alive[b] or not clean[b] or counts[b] > counts[a] or ch[b] != ch[a]:
                continue
            xb = full[b, ch[b]]
            pb = int(main[b])
            if np.sign(xb[pb]) != sign:
                continue
            best = min((_phase_copy_distance(full[a], full[b], p - pb), p - pb) for p in peaks)
            if best[0] <= max_distance:
                alive[b], into[b], shift[b] = False, a, best[1]
    if alive.all():
        return full, labels, member_lag
    keep = np.nonzero(alive)[0]
    remap = np.full(K, -1, dtype=np.int64)
    remap[keep] = np.arange(keep.size)
    old = np.maximum(labels, 0)
    member_lag = np.where(labels >= 0, member_lag + shift[old], member_lag)
    labels = np.where(labels >= 0, remap[into[old]], labels)
    return full[keep], labels, member_lag


def _paired_t_reaches(d: np.ndarray, min_t: float) -> bool:
    """Whether the members' paired differences ``d`` are positive by a t statistic of at least
    ``min_t`` (their mean positive where they do not spread)."""
    spread = d.std(ddof=1) / np.sqrt(d.size)
    return bool(d.mean() >= min_t * spread) if spread > 0 else bool(d.mean() > 0)


def _larger_in_members(windows: np.ndarray, new: int, old: int, sign: np.ndarray, min_t: float) -> bool:
    """Whether the members' signed values at ``new`` exceed those at ``old`` by more than their
    spread allows: a paired t statistic of at least ``min_t`` (0 skips the test)."""
    if min_t <= 0:
        return True
    return _paired_t_reaches(sign[new] * windows[:, new] - sign[old] * windows[:, old], min_t)


def recorded_peak_offsets(read_windows, samples: np.ndarray, labels: np.ndarray, bank: UnitBank,
                          before: int, min_shift: int = 1, max_members: int = 48, min_phase: float = 0.5,
                          min_margin: float = 1.1, robust: bool = False, min_t: float = 0.0,
                          context_gap: int = 0, channel_share: float = 0.0, channel_min_t: float = 2.0,
                          return_timing: bool = False):
    """Per template: the sample in its window where the unit's MUAP *as recorded* peaks.

    Discharge times are at the MUAP's largest |peak| (the convention of expert annotations
    and of simulators' truth), but templates are band-passed for detection, and a band-pass
    can swap which of two similar phases of a surface MUAP is the largest (a 20 Hz high-pass
    shrinks the broader phase). The recorded shape is the mean of up to ``max_members`` raw
    windows of the unit's main channel, each less a quadratic fitted to a window of context
    on either side (mains and other units average out). Only members with no other
    candidate within a window, nor in the context the baseline is read from, take part (a
    cramp's or a contraction's overlaps would pose as phases, and a burst's previous discharge
    in the context shifts the baseline; candidates labelled −2, the unit's own other phases, do
    not count). With ``robust``
    the shape is instead the median of the windows, each less the median of the window of
    context before it: a quadratic fitted to the context on both sides takes part of a long
    MUAP's broad last phase for slow content and flattens it. The recorded
    peak is taken only where the band-passed template also has a phase of at least
    ``min_phase`` × its peak (the swap of two similar phases, not a move to a neighbour's
    MUAP), at least ``min_shift`` samples from the band-passed peak (another phase, not the
    same apex nudged by noise in a mean of few windows), and standing ``min_margin`` × above
    the recorded value there; from a mean (not ``robust``), also larger in the members than their
    spread allows (paired t ≥ ``min_t``: a mean of a few windows, each with other units' MUAPs
    and noise, often ranks two near-equal phases wrongly; the median's members keep slow content
    that would swamp such a test). Without ``robust`` the context starts ``context_gap``
    samples from the window on each side: a surface MUAP caught at an early phase runs on past
    the window, and a quadratic fitted to its tail takes the tail's phase for slow content.
    ``samples`` must be sorted. ``read_windows(starts, length, channel)`` returns those windows
    of the recording as recorded, in µV (n, length), a row of NaN where one cannot be read
    (``preprocess.recorded_windows`` also removes mains and drift). Templates with fewer than 3
    such members keep their band-passed peak.

    With ``channel_share`` > 0, on several electrodes, the unit is timed on the electrode where its
    recorded shape is largest peak-to-peak, of those whose band-passed template is at least that
    share of its largest (its peak there, then as above), where the members' peak-to-peak there
    exceeds that on the electrode chosen so far by a paired t of at least ``channel_min_t``: a
    propagating MUAP peaks on each electrode at another time, and the band-pass ranks electrodes
    whose MUAPs differ in width otherwise than the recording does. With ``return_timing`` returns
    (offsets, timing channels).
    """
    K, _, w = bank.templates.shape
    offsets = bank.peak_offset.copy()
    if K == 0:
        return (offsets, bank.timing_channel.copy()) if return_timing else offsets
    # Candidates labelled −2 are other phases of a unit's own discharges, not neighbours.
    own = np.nonzero(labels != -2)[0]
    gaps = np.diff(samples[own])
    isolated = np.zeros(samples.size, bool)
    isolated[own] = True
    # The baseline's context must hold no other discharge either (a myokymic burst's previous
    # discharge in the context before shifted the baseline of the next by ~20 µV).
    gap = 0 if robust else max(0, int(context_gap))
    isolated[own[1:]] &= gaps >= 2 * w + gap
    isolated[own[:-1]] &= gaps >= (w if robust else 2 * w + gap)
    # Slow content (wander, movement) is removed by a quadratic fitted to a window's length of
    # context on each side, ``gap`` samples away from the window.
    edge = w
    length = w + 2 * (edge + gap)
    pos = np.arange(length, dtype=np.float64)
    outside = np.r_[np.arange(edge), np.arange(length - edge, length)]
    basis = np.vander((pos - pos.mean()) / pos.size, 3)
    fit = np.linalg.pinv(basis[outside])
    timing = bank.timing_channel.copy()
    p2p_uv = np.ptp(bank.templates, axis=2) * np.asarray(bank.sigma, np.float64)[None, :]

    def recorded_shape(idx, ch):
        x = np.asarray(read_windows(samples[idx].astype(np.int64) - before - edge - gap, length, int(ch)),
                       dtype=np.float64)
        x = x[np.all(np.isfinite(x), axis=1)]
        if len(x) < 3:
            return None, None
        x = x - np.median(x[:, :edge], axis=1, keepdims=True) if robust else x - (basis @ (fit @ x[:, outside].T)).T
        windows = x[:, edge + gap:edge + gap + w]
        return windows, np.median(windows, axis=0) if robust else windows.mean(axis=0)

    def member_p2p(windows, total):
        # Each member's peak-to-peak at the shape's extremes.
        return windows[:, int(np.argmax(total))] - windows[:, int(np.argmin(total))]

    for k in range(K):
        idx = np.nonzero((labels == k) & isolated)[0]
        if idx.size < 3:
            continue
        idx = idx[np.linspace(0, idx.size - 1, min(idx.size, max_members)).astype(np.int64)]
        windows, total = recorded_shape(idx, timing[k])
        if channel_share > 0 and windows is not None:
            # Another electrode where the members are larger by more than their spread allows
            # (a median of a few windows ranks near-equal electrodes by chance).
            others = np.nonzero(p2p_uv[k] >= channel_share * p2p_uv[k].max())[0]
            best = member_p2p(windows, total)
            for ch in others[others != timing[k]]:
                wins, tot = recorded_shape(idx, ch)
                if wins is None or len(wins) != len(best):
                    continue
                d = member_p2p(wins, tot) - best
                if d.mean() > 0 and _paired_t_reaches(d, channel_min_t):
                    best, windows, total, timing[k] = best + d, wins, tot, ch
                    offsets[k] = int(np.abs(bank.templates[k, ch]).argmax())
        if windows is not None:
            recorded = np.abs(total)
            peak = int(np.argmax(recorded))
            main = np.abs(bank.templates[k, timing[k]])
            if (abs(peak - offsets[k]) >= min_shift and main[peak] >= min_phase * main[offsets[k]]
                    and recorded[peak] >= min_margin * recorded[offsets[k]]
                    and (robust or _larger_in_members(windows, peak, int(offsets[k]), np.sign(total), min_t))):
                offsets[k] = peak
    return (offsets, timing) if return_timing else offsets


def _member_pairs(samples: np.ndarray, w: int, max_neighbours: int = 64):
    """(first, second, lag) of every pair of sorted ``samples`` less than ``w`` apart (lag ≥ 0)."""
    first, second, lag = [], [], []
    n = samples.size
    for k in range(1, min(n, max_neighbours + 1)):
        d = samples[k:] - samples[:-k]
        near = np.nonzero(d < w)[0]
        if near.size == 0:
            break
        first.append(near)
        second.append(near + k)
        lag.append(d[near])
    if not first:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(first), np.concatenate(second), np.concatenate(lag).astype(np.int64)


def _unmix_overlaps(samples: np.ndarray, labels: np.ndarray, snippets, bank: UnitBank,
                    params: UnitParams) -> UnitBank:
    """Least-squares templates for units whose member discharges overlap each other within one window.

    The recording is modelled as Σ_units Σ_members template(t − sample + before): the normal
    equations' right side is each unit's sum of member windows, and their matrix is made of
    the units' cross-correlograms (how often a member of one unit lies a given lag from a
    member of another), so the solve needs no pass over the signal. Units are solved in small
    connected groups (a unit with the units its members overlap, largest first) and pulled
    toward their medians by a ridge, since a nearly periodic train leaves some components
    barely determined. Units whose members rarely overlap keep their median templates.
    """
    K, c, w = bank.templates.shape
    if K == 0 or params.unmix_min_share >= 1 or params.unmix_max_unknowns < w:
        return bank
    member = np.nonzero(labels >= 0)[0]
    s, lab = samples[member].astype(np.int64), labels[member]
    order = np.argsort(s, kind="stable")
    member, s, lab = member[order], s[order], lab[order]
    first, second, lag = _member_pairs(s, w)
    # Units on different electrodes of a grid do not overlap, whenever they fire.
    shared = (bank.masks.astype(np.float32) @ bank.masks.T.astype(np.float32)) > 0
    near = shared[lab[first], lab[second]]
    first, second, lag = first[near], second[near], lag[near]
    if first.size == 0:
        return bank
    counts = np.bincount(lab, minlength=K)
    # A unit overlapping its own discharges (a train, a doublet) has a systematic neighbour in
    # its window; overlaps with other units at random lags (a contraction) mostly cancel in the
    # median, and modelling them all would be costly and fragile.
    own = lab[first] == lab[second]
    paired = np.zeros(s.size, bool)
    paired[first[own]] = paired[second[own]] = True
    share = np.bincount(lab, weights=paired, minlength=K) / np.maximum(counts, 1)
    targets = [k for k in np.argsort(-counts, kind="stable")
               if counts[k] >= params.min_recurring and share[k] >= params.unmix_min_share]
    if not targets:
        return bank
    # How often each pair of units overlaps: the partners worth modelling with a target.
    link = np.zeros((K, K))
    np.add.at(link, (lab[first], lab[second]), 1.0)
    link = link + link.T
    cap = max(1, params.unmix_max_unknowns // w)
    templates = bank.templates.copy()
    solved = np.zeros(K, bool)
    for t in targets:
        if solved[t]:
            continue
        partners = [k for k in np.argsort(-link[t], kind="stable")
                    if k != t and link[t, k] >= params.min_recurring and counts[k] >= params.min_recurring]
        group = np.array([t] + partners[: cap - 1], dtype=np.int64)
        solution = _solve_unmixing(group, s, lab, member, first, second, lag, counts, snippets,
                                   bank, params.unmix_ridge)
        for j, k in enumerate(group):
            if share[k] >= params.unmix_min_share and not solved[k] and np.all(np.isfinite(solution[j])):
                templates[k] = solution[j]
                solved[k] = True
    if not solved.any():
        return bank
    log.info("units: %d templates unmixed from overlapping discharges", int(solved.sum()))
    return _finalise(templates, bank.counts, bank.sigma)


def _solve_unmixing(group, s, lab, member, first, second, lag, counts, snippets, bank: UnitBank,
                    ridge: float) -> np.ndarray:
    """Templates (len(group), c, w), σ units, of ``group``'s units solved jointly (see _unmix_overlaps)."""
    from scipy import linalg

    K, c, w = bank.templates.shape
    m = group.size
    slot = np.full(K, -1, np.int64)
    slot[group] = np.arange(m)
    # Normal matrix: block (i, j) at (τ, τ') counts member pairs with lag τ − τ' (unit i earlier).
    a, b = slot[lab[first]], slot[lab[second]]
    inside = (a >= 0) & (b >= 0)
    a, b, d = a[inside], b[inside], lag[inside]
    key, n_pairs = np.unique((a * m + b) * w + d, return_counts=True)
    ka, kb, kd = key // w // m, key // w % m, key % w
    lengths = w - kd
    rep = np.repeat(np.arange(key.size), lengths)
    tau = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    # Member of unit a at sample s_a, of unit b at s_a + d: a's sample τ' + d meets b's τ'.
    rows = ka[rep] * w + tau + kd[rep]
    cols = kb[rep] * w + tau
    size = m * w
    G = np.bincount(rows * size + cols, weights=n_pairs[rep].astype(np.float64), minlength=size * size)
    G = G.reshape(size, size)
    G += G.T.copy()
    lam = ridge * counts[group].astype(np.float64)
    G[np.diag_indices(size)] += np.repeat(counts[group] + lam, w)
    # Right side: each unit's sum of member windows (σ units), plus the ridge's pull to the median.
    B = np.zeros((m, w, c))
    sigma = bank.sigma.astype(np.float64)
    for j, k in enumerate(group):
        idx = np.sort(member[lab == k])
        for lo in range(0, idx.size, 4096):
            part = np.asarray(snippets[idx[lo:lo + 4096]], dtype=np.float64)
            B[j] += (part.sum(axis=0) / sigma[:, None]).T
        B[j] += lam[j] * bank.templates[k].astype(np.float64).T
    try:
        x = linalg.solve(G, B.reshape(size, c), assume_a="pos", check_finite=False)
    except (linalg.LinAlgError, ValueError):
        return np.full((m, c, w), np.nan)
    return x.reshape(m, w, c).transpose(0, 2, 1).astype(np.float32)


class _Features:
    """Clustering features computed on demand: σ-normalised, decimated float32 waveforms.

    Indexing returns float32 arrays; nothing of the size of all candidates is materialised.
    """

    dtype = np.dtype(np.float32)

    def __init__(self, snippets: np.ndarray, sigma: np.ndarray, q: int, up: int = 1):
        self.snippets, self.sigma, self.q = snippets, sigma, q
        w = snippets.shape[2]
        self.wd = w * up if up > 1 else w // q
        # Interpolation as one matrix product (windows are short: tens of samples).
        self._interp = scipy.signal.resample_poly(np.eye(w, dtype=np.float64), up, 1, axis=1).astype(np.float32) \
            if up > 1 else None

    def __len__(self) -> int:
        return len(self.snippets)

    def __getitem__(self, idx):
        x = self.snippets[idx].astype(np.float32) / self.sigma[:, None]
        if self.q > 1:
            x = x[..., : self.wd * self.q]
            x = x.reshape(x.shape[:-1] + (self.wd, self.q)).mean(axis=-1) * np.float32(np.sqrt(self.q))
        elif self._interp is not None:
            # Amplitudes kept: noise keeps about unit variance per interpolated sample.
            x = x @ self._interp
        return x


def assign(X: np.ndarray, bank: UnitBank, shifts: np.ndarray, params: UnitParams, w: int,
           batch: int = 256) -> np.ndarray:
    """Nearest acceptable template for each waveform (σ units), −1 when none fits."""
    labels = np.full(len(X), -1, dtype=np.int64)
    if bank.n_units == 0 or len(X) == 0:
        return labels
    T = bank.templates.astype(X.dtype)
    parts = _TemplateParts(T, bank.masks, X.dtype)
    big = 2 * min(batch, len(X)) * len(shifts) * T[0].size * bank.n_units >= _PARALLEL_BLAS_MACS
    with _all_blas_threads() if big else contextlib.nullcontext():
        _assign_batches(X, T, bank, parts, shifts, params, w, batch, labels)
    return labels


#: Multiply-adds per batch above which ``assign`` gives BLAS every thread: fitting each candidate
#: to every template of a busy grid is large products (a dense 10-min 64-channel file: 84 of
#: 1280 × 2624 × 256, 14.4 → 7.6 ms each on two threads), unlike the greedy clustering's small
#: ones, which stay on one thread (see ``emgkit.detect.detect``).
_PARALLEL_BLAS_MACS = 50_000_000


def _all_blas_threads():
    """BLAS on as many threads as emgkit's kernels (``EMGKIT_NUM_THREADS``), for a block of large products."""
    from numba import get_num_threads

    from . import _thread_pools

    return _thread_pools().limit(limits=get_num_threads(), user_api="blas")


def _assign_batches(X, T, bank, parts, shifts, params, w, batch, labels):
    """``assign``'s fits, ``batch`` waveforms at a time, into ``labels``."""
    for lo in range(0, len(X), batch):
        xb = X[lo:lo + batch]
        xs = _shifted(xb, shifts)                                         # (B, S, c, w)
        resid, allowed, _ = _fit(xs, T, bank.masks, params, w, parts=parts)
        score = (resid - allowed).reshape(len(xb), -1)
        best = score.argmin(axis=1)
        ok = score[np.arange(len(xb)), best] <= 0
        labels[lo:lo + batch][ok] = best[ok] // len(shifts)


def _merge_shifted(tmpl: np.ndarray, counts: np.ndarray, masks: np.ndarray, w: int, params: UnitParams,
                   return_map: bool = False):
    """Merge templates that are (possibly shifted) copies of each other.

    For each template (most frequent first) and every kept one, the normalised distance at
    every shift up to half a window comes from one FFT cross-correlation; the part shifted
    out of the window counts against the match. With ``return_map`` also returns, per input
    template, the index of the kept template it is now part of and the lag (samples) at which it
    matched that one (0 for the kept ones), and the input index of each kept template.
    """
    k = len(tmpl)
    if k < 2:
        return (tmpl, counts, np.arange(k), np.zeros(k, dtype=np.int64), np.arange(k)) if return_map \
            else (tmpl, counts)
    order = np.argsort(-counts, kind="stable")
    size = 2 * w
    spec = np.fft.rfft(tmpl.astype(np.float64), size, axis=2)          # (K, c, F)
    energy = (tmpl.astype(np.float64) ** 2).sum(axis=1)                 # (K, w) energy per sample
    cum = np.concatenate([np.zeros((k, 1)), np.cumsum(energy, axis=1)], axis=1)
    total = cum[:, -1]
    shifts = np.arange(-(w // 2), w // 2 + 1)
    lag_index = np.where(shifts >= 0, shifts, size + shifts)
    overlap = (w - np.abs(shifts)) / w
    keep: list[int] = []
    merged_counts: list[float] = []
    into = np.zeros(k, dtype=np.int64)
    lag = np.zeros(k, dtype=np.int64)
    for i in order:
        if keep and not (counts[i] < 2 and len(keep) >= _MAX_MERGE_COMPARE):
            J = np.asarray(keep[:_MAX_MERGE_COMPARE])
            xc = np.fft.irfft((spec[J] * np.conj(spec[i])[None]).sum(axis=1), size)[:, lag_index]  # (J, S)
            shifted_energy = np.where(shifts >= 0, cum[i, w - np.maximum(shifts, 0)],
                                      total[i] - cum[i, np.maximum(-shifts, 0)])
            num = shifted_energy[None] + total[J][:, None] - 2 * xc
            den = np.maximum(total[J][:, None] + shifted_energy[None], 1e-12)
            dist = num / den + (1 - overlap)[None]
            best = np.unravel_index(np.argmin(dist), dist.shape)
            if dist[best] < params.merge_distance:
                merged_counts[best[0]] += counts[i]
                into[i] = best[0]
                lag[i] = shifts[best[1]]
                continue
        into[i] = len(keep)
        keep.append(int(i))
        merged_counts.append(float(counts[i]))
    if return_map:
        return tmpl[keep], np.asarray(merged_counts), into, lag, np.asarray(keep, dtype=np.int64)
    return tmpl[keep], np.asarray(merged_counts)


def _drop_small(labels: np.ndarray, bank: UnitBank, min_peak_sd: float, sigma: np.ndarray):
    """Remove templates whose main-channel peak is below ``min_peak_sd`` σ (label −1 for their members)."""
    if bank.n_units == 0:
        return labels, bank
    peak = np.abs(bank.templates[np.arange(bank.n_units), bank.main_channel]).max(axis=1)
    keep = np.nonzero(peak >= min_peak_sd)[0]
    if keep.size == bank.n_units:
        return labels, bank
    remap = np.full(bank.n_units, -1, dtype=np.int64)
    remap[keep] = np.arange(keep.size)
    new = np.where(labels >= 0, remap[np.maximum(labels, 0)], labels)
    return new, _finalise(bank.templates[keep], np.bincount(new[new >= 0], minlength=keep.size), sigma)


def _merge_cofiring(samples: np.ndarray, labels: np.ndarray, bank: UnitBank, w: int, sigma: np.ndarray,
                    peak_uv: np.ndarray | None = None, min_share: float = 0.7, max_lag_spread: int = 3,
                    min_own: int = 3):
    """Drop units that are another phase of a bigger unit's MUAP.

    A polyphasic MUAP can give two candidates a fixed lag apart; they cluster into two
    units that always fire together. Unit B is such a shadow of unit A when most of B's
    candidates have one of A's within the waveform window at a constant lag. B's
    candidates become label −2 (duplicates) and its template is removed. The larger phase
    stays, unless the smaller one also fires on its own (at least ``min_own`` times).
    """
    K = bank.n_units
    if K < 2:
        return labels, bank
    times = [np.sort(samples[labels == k]) for k in range(K)]
    tu = bank.templates_uv()
    p2p = np.ptp(tu[np.arange(K), bank.main_channel], axis=1)
    # Which phase is larger: the members' own peaks (|x| at the candidate), which no window
    # truncates; a template centred on a far phase of a propagating MUAP may miss the main one.
    size = p2p if peak_uv is None else np.array(
        [np.median(peak_uv[labels == k]) if (labels == k).any() else 0.0 for k in range(K)])
    order = np.argsort([-t.size for t in times], kind="stable")
    alive = np.ones(K, dtype=bool)
    big = [a for a in order if times[a].size >= 3][:_MAX_MERGE_COMPARE]
    for ib, b in enumerate(order[::-1]):          # smallest first
        tb = times[b]
        if tb.size == 0:
            alive[b] = False
            continue
        if tb.size < 3:
            continue  # too few discharges to tell co-firing from chance
        for a in big:
            if a == b or not alive[a] or times[a].size == 0:
                continue
            ta = times[a]
            j = np.clip(np.searchsorted(ta, tb), 1, max(ta.size - 1, 1))
            cand = np.stack([ta[j - 1], ta[np.minimum(j, ta.size - 1)]])
            lag = cand - tb[None, :]
            lag = lag[np.argmin(np.abs(lag), axis=0), np.arange(tb.size)]
            near = np.abs(lag) <= w
            if near.mean() >= min_share and ta.size >= tb.size:
                q1, q3 = np.percentile(lag[near], [25, 75])
                if q3 - q1 <= max_lag_spread:
                    # One MUAP seen as two phases: the larger phase stays (its peak is the
                    # discharge's time), unless the smaller one also fires on its own.
                    share_a = _cofiring_share(tb, ta, w)
                    if size[b] > size[a] and (share_a >= min_share or ta.size * (1 - share_a) < min_own):
                        alive[a] = False
                        continue
                    alive[b] = False
                    break
            # Far phases of a long MUAP, beyond the waveform window: nearly always within two
            # windows of a bigger unit's discharge.
            if (np.abs(lag) <= 2 * w).mean() >= 0.9 and p2p[b] < 0.6 * p2p[a] and tb.size >= 3:
                alive[b] = False
                break
    if alive.all():
        return labels, bank
    keep = np.nonzero(alive)[0]
    remap = np.full(K, -2, dtype=np.int64)
    remap[keep] = np.arange(keep.size)
    new = np.where(labels >= 0, remap[np.maximum(labels, 0)], labels)
    bank = _finalise(bank.templates[keep], np.bincount(new[new >= 0], minlength=keep.size), sigma)
    return new, bank


def _cofiring_share(ta: np.ndarray, tb: np.ndarray, w: int) -> float:
    """Share of sorted times ``tb`` that have one of sorted ``ta`` within ``w`` samples."""
    if ta.size == 0 or tb.size == 0:
        return 0.0
    j = np.searchsorted(ta, tb)
    left = np.abs(tb - ta[np.maximum(j - 1, 0)])
    right = np.abs(ta[np.minimum(j, ta.size - 1)] - tb)
    return float((np.minimum(left, right) <= w).mean())


def remnant_discharges(times: np.ndarray, units: np.ndarray, snr: np.ndarray, reach_s: float,
                       max_share: float, sources: np.ndarray | None = None, near_s: float = 0.0) -> np.ndarray:
    """Rows (bool mask) within ``reach_s`` of another unit's discharge at least 1 / ``max_share``
    times as large (``snr``, peak in noise SD), or within ``near_s`` of another unit's larger one:
    the remnant a varying MUAP leaves after its own unit's fit, which another template fits inside
    the same MUAP. A doublet's second discharge is the same unit, about as large; two units
    overlapping that unequally at rest are rare, and closer than a unit's shortest interval
    rarer still. Rows without a size (NaN) neither go nor make others go, nor do rows outside
    ``sources`` (when given) make others go. ``max_share`` 0 and ``near_s`` 0 mark none."""
    t = np.asarray(times, dtype=np.float64)
    u = np.asarray(units)
    size = np.asarray(snr, dtype=np.float64)
    drop = np.zeros(t.size, dtype=bool)
    near_s = near_s if near_s > 0 else -1.0
    if t.size < 2 or not (max_share > 0 or near_s > 0):
        return drop
    reach = max(reach_s if max_share > 0 else -1.0, near_s)
    order = np.argsort(t, kind="stable")
    ts, us, ss = t[order], u[order], np.where(np.isfinite(size[order]), size[order], -np.inf)
    cover = ss if sources is None else np.where(np.asarray(sources, dtype=bool)[order], ss, -np.inf)
    # The largest other-unit neighbour within each reach, k rows away on either side (k stays small).
    largest = np.full(ts.size, -np.inf)
    nearest = np.full(ts.size, -np.inf)
    for k in range(1, ts.size):
        gap = ts[k:] - ts[:-k]
        if not (gap <= reach).any():
            break
        other = us[k:] != us[:-k]
        for out, within in ((largest, reach_s), (nearest, near_s)):
            close = (gap <= within) & other
            out[k:] = np.where(close, np.maximum(out[k:], cover[:-k]), out[k:])
            out[:-k] = np.where(close, np.maximum(out[:-k], cover[k:]), out[:-k])
    drop[order] = np.isfinite(ss) & ((largest * max_share > ss) | (nearest > ss))
    return drop


def _explained(c1, c2, g11: float, g12, g22: float, lo: float, hi: float) -> np.ndarray:
    """Energy two templates with these data (c) and Gram (g) products explain at their
    least-squares scales (arrays); −inf where a scale leaves [lo, hi] or the pair is degenerate."""
    det = g11 * g22 - g12 * g12
    ok = det > 1e-9 * g11 * g22
    det = np.where(ok, det, 1.0)
    a1 = (g22 * c1 - g12 * c2) / det
    a2 = (g11 * c2 - g12 * c1) / det
    ok &= (a1 >= lo) & (a1 <= hi) & (a2 >= lo) & (a2 <= hi)
    return np.where(ok, a1 * c1 + a2 * c2, -np.inf)


def same_unit_pairs(samples: np.ndarray, units: np.ndarray, read_sd, bank: UnitBank, lags: tuple,
                    max_shift: int, min_scale: float, max_scale: float, tolerance: float = 0.0):
    """Surface doublets fitted as two units: relabel each pair one unit's template explains better.

    A surface MUAP lasts 10–30 ms, so a doublet's two discharges overlap; peeling fits the first
    imperfectly and then the second's residual with another unit of similar shape, and the
    doublet reads as two fasciculations. For each two consecutive discharges ``lags`` (min, max
    samples) apart, fitted by different units of ``bank``, the window is explained by least
    squares as template A at the first time and B at the second (each within ``max_shift``
    samples of its discharge), or as A at its discharge and again any doublet interval later, or
    as B at its discharge and any doublet interval earlier (a unit's two templates may be timed
    at different phases; one unit's scales within [``min_scale``, ``max_scale``]); when one unit
    at both times explains at least (1 − ``tolerance``) × the energy the two units explain (two
    free scales on two shapes fit noise better than one shape twice), both discharges become
    that unit's, timed at its fitted copies, unless the unit already fires within ``lags[0]`` of
    either. ``samples`` (sorted)
    are discharge times at each unit's ``peak_offset``; ``read_sd(start, stop)`` returns the
    band-passed group (c, stop − start) in noise σ units, or None out of range. Returns new
    (units, samples) arrays; rows outside the bank are left alone.
    """
    units = np.asarray(units, dtype=np.int64).copy()
    samples = np.asarray(samples, dtype=np.int64).copy()
    K, _, w = bank.templates.shape
    lo_lag, hi_lag = lags
    for i in range(samples.size - 1):
        j = i + 1
        a_unit, b_unit = int(units[i]), int(units[j])
        if a_unit == b_unit or not (0 <= a_unit < K and 0 <= b_unit < K):
            continue
        if not lo_lag <= samples[j] - samples[i] <= hi_lag:
            continue
        starts = {k: (int(samples[i]) - int(bank.peak_offset[k]), int(samples[j]) - int(bank.peak_offset[k]))
                  for k in (a_unit, b_unit)}
        first = min(min(v) for v in starts.values()) - max_shift - hi_lag
        stop = max(max(v) for v in starts.values()) + w + max_shift + hi_lag
        x = read_sd(first, stop)
        if x is None or not np.all(np.isfinite(x)):
            continue
        rows = bank.masks[a_unit] | bank.masks[b_unit]
        x = x[rows].astype(np.float64)
        T = {k: bank.templates[k][rows].astype(np.float64) for k in (a_unit, b_unit)}
        n_pos = x.shape[1] - w + 1
        # Each template's product with the data at every start, and with itself and the other at
        # every lag (index lag + w − 1: the first at s, the second at s + lag).
        view = np.lib.stride_tricks.sliding_window_view(x, w, axis=1)            # (c, n_pos, w)
        corr = {k: np.einsum("cpw,cw->p", view, T[k]) for k in T}
        gram = {(k1, k2): sum(np.correlate(T[k1][c], T[k2][c], mode="full") for c in range(x.shape[0]))
                for k1 in T for k2 in T}
        near = np.arange(-max_shift, max_shift + 1)
        spread = np.arange(lo_lag, hi_lag + 1)

        def best(k1, k2, p1s, p2s):
            p1s, p2s = p1s - first, p2s - first
            inside = (p1s >= 0) & (p1s < n_pos) & (p2s >= 0) & (p2s < n_pos)
            p1s, p2s = p1s[inside], p2s[inside]
            if p1s.size == 0:
                return -np.inf, None
            lag = p2s - p1s
            g12 = np.where(np.abs(lag) < w, gram[k1, k2][np.clip(lag + w - 1, 0, 2 * w - 2)], 0.0)
            bound = (min_scale, max_scale) if k1 == k2 else (-np.inf, np.inf)
            e = _explained(corr[k1][p1s], corr[k2][p2s], gram[k1, k1][w - 1], g12, gram[k2, k2][w - 1], *bound)
            top = int(np.argmax(e))
            return (float(e[top]), (int(p1s[top] + first), int(p2s[top] + first))) if np.isfinite(e[top]) \
                else (-np.inf, None)

        # Two units, each near its own discharge; or one unit near its own discharge and again a
        # doublet interval later (or earlier): a unit's two templates may be timed at different phases.
        p1s, p2s = np.meshgrid(starts[a_unit][0] + near, starts[b_unit][1] + near, indexing="ij")
        two, _ = best(a_unit, b_unit, p1s.ravel(), p2s.ravel())
        p1s, lag = np.meshgrid(starts[a_unit][0] + near, spread, indexing="ij")
        same_a = best(a_unit, a_unit, p1s.ravel(), (p1s + lag).ravel())
        p2s, lag = np.meshgrid(starts[b_unit][1] + near, spread, indexing="ij")
        same_b = best(b_unit, b_unit, (p2s - lag).ravel(), p2s.ravel())
        (e, at), k = max([(same_a, a_unit), (same_b, b_unit)], key=lambda v: v[0][0])
        if at is None or e < (1 - tolerance) * two:
            continue
        # Not onto another discharge of the same unit (a unit does not fire twice within lo_lag).
        new_times = np.array(at) + bank.peak_offset[k]
        around = np.r_[max(i - 3, 0):i, j + 1:min(j + 4, samples.size)]
        if np.any((units[around] == k) & (np.abs(samples[around][:, None] - new_times[None, :]) < lo_lag).any(axis=1)):
            continue
        units[i] = units[j] = k
        samples[i], samples[j] = new_times
    return units, samples


@dataclass
class PeeledDischarges:
    samples: np.ndarray      # int64, at the unit template's peak
    units: np.ndarray        # int64
    scales: np.ndarray       # float, amplitude relative to the template
    snr: np.ndarray          # float, matched-filter SNR (σ units)
    residual: np.ndarray | None = None   # (len(used), L) σ units: the region left after the fits
    used: np.ndarray | None = None       # channels (into the region's rows) of ``residual``


#: Memory for the template cross-correlations peeling keeps per muscle (rows of fitted templates).
PEEL_XCORR_BYTES = 32 << 20


@dataclass
class PeelPlan:
    """What peeling needs of a bank, prepared once per muscle and shared by all its regions."""

    units: np.ndarray          # (K,) template indices into the bank
    used: np.ndarray           # (c,) channels any template uses
    T: np.ndarray              # (K, c, w) float64, σ units, zero outside each template's mask
    masks: np.ndarray          # (K, c) bool
    core_first: np.ndarray     # (K,) first/last sample of each template's core (main channel ≥ 20 % of peak)
    core_last: np.ndarray
    e_t: np.ndarray            # (K,) template energy
    e_core: np.ndarray         # (K,) energy in the core
    n_core: np.ndarray         # (K,) samples·channels in the core
    peak_sd: np.ndarray        # (K,) |peak| on the main channel (σ)
    floor: np.ndarray          # (K,) σ a fit must reach on its main channel
    peak_offset: np.ndarray    # (K,)
    limits: np.ndarray         # scalars of the kernel (see _peel)
    max_iter: int
    xc: np.ndarray             # (slots, K, 2w − 1) cross-correlation cache
    slot_of: np.ndarray
    owner: np.ndarray
    last_use: np.ndarray
    spectra: dict = field(default_factory=dict)   # FFT size -> conjugate template spectra (K, c, F)
    pair_xcorr: np.ndarray | None = None          # (K, K, 2w) template cross-correlations (refit_overlap_pairs)

    @property
    def n_units(self) -> int:
        return len(self.units)


def peel_plan(bank: UnitBank, params: UnitParams | None = None, units: np.ndarray | None = None,
              min_peak_sd=None) -> PeelPlan:
    """Prepare peeling with ``bank``'s templates ``units`` (default all), each fit reaching ``min_peak_sd`` σ."""
    from . import _peel

    params = params or UnitParams()
    floor = np.broadcast_to(np.asarray(params.min_peak_sd if min_peak_sd is None else min_peak_sd,
                                       dtype=np.float64), (bank.n_units,))
    units = np.arange(bank.n_units) if units is None else np.asarray(units, dtype=np.int64)
    K, w = len(units), bank.templates.shape[2]
    # Only the channels some template uses take part (the others never change).
    used = np.nonzero(bank.masks[units].any(axis=0))[0]
    masks = np.ascontiguousarray(bank.masks[units][:, used])
    T = np.ascontiguousarray(bank.templates[units][:, used].astype(np.float64) * masks[:, :, None])
    main_ch = np.searchsorted(used, bank.main_channel[units])
    # The fit is judged on each template's core (where its main channel exceeds 20 % of its
    # peak): in a fast train the window's tails hold the neighbours' MUAPs, the core does not.
    main = np.abs(T[np.arange(K), main_ch]) if K else np.zeros((0, w))
    core = main >= 0.2 * main.max(axis=1, keepdims=True, initial=0.0)
    first = core.argmax(axis=1)
    last = w - 1 - core[:, ::-1].argmax(axis=1)
    core_mask = (np.arange(w)[None, :] >= first[:, None]) & (np.arange(w)[None, :] <= last[:, None])
    limits = np.zeros(6)
    limits[[_peel.MIN_SCALE, _peel.MAX_SCALE, _peel.MIN_ENERGY, _peel.NOISE_FACTOR, _peel.SHAPE_TOLERANCE,
            _peel.MIN_EXPLAINED]] = (params.min_scale, params.max_scale, params.peel_min_snr ** 2,
                                     params.match_noise_factor, params.match_shape_tolerance,
                                     params.peel_min_explained)
    row_bytes = max(1, K * (2 * w - 1) * 8)
    slots = int(np.clip(PEEL_XCORR_BYTES // row_bytes, 1, max(K, 1)))
    return PeelPlan(
        units=units, used=used, T=T, masks=masks,
        core_first=first.astype(np.int64), core_last=last.astype(np.int64), e_t=(T ** 2).sum(axis=(1, 2)),
        e_core=((T ** 2) * core_mask[:, None, :]).sum(axis=(1, 2)),
        n_core=(masks.sum(axis=1) * core_mask.sum(axis=1)).astype(np.float64),
        peak_sd=main.max(axis=1, initial=0.0), floor=np.ascontiguousarray(floor[units]),
        peak_offset=bank.peak_offset[units], limits=limits, max_iter=int(params.peel_max_iter),
        xc=np.zeros((slots, K, 2 * w - 1)), slot_of=np.full(K, -1, np.int64), owner=np.full(slots, -1, np.int64),
        last_use=np.zeros(slots, np.int64))


def _matched_filter(r: np.ndarray, plan: PeelPlan, n_pos: int) -> np.ndarray:
    """out[k, p] = Σ_c Σ_i r[c, p + i] T[k, c, i] for p < n_pos (FFT over the whole region)."""
    from scipy import fft

    K, c, w = plan.T.shape
    # Circular correlation of n_pos + w − 1 samples is exact for the first n_pos lags.
    size = fft.next_fast_len(n_pos + w - 1, real=True)
    t_spec = plan.spectra.get(size)
    if t_spec is None:  # pieces of a muscle mostly share a few lengths
        if len(plan.spectra) >= 8:
            plan.spectra.clear()
        t_spec = plan.spectra[size] = np.conj(fft.rfft(plan.T, size, axis=2))        # (K, c, F)
    spec = fft.rfft(r[:, : n_pos + w - 1], size, axis=1)                             # (c, F)
    return fft.irfft(np.einsum("cf,kcf->kf", spec, t_spec), size, axis=1)[:, :n_pos]


def peel_region(region_uv: np.ndarray, start: int, bank: UnitBank, fs: float,
                params: UnitParams | None = None, refractory_ms: float = 1.5,
                units: np.ndarray | None = None, min_peak_sd=None, plan: PeelPlan | None = None,
                kernel: bool = True) -> PeeledDischarges:
    """Explain an active region (c, L) µV as a sum of scaled unit templates (greedy matching pursuit).

    ``units`` restricts the fit to these template indices (default: all). ``min_peak_sd``
    (scalar or one value per template) is the σ a fitted discharge must reach on its main
    channel (default ``params.min_peak_sd``). ``plan`` (from :func:`peel_plan` with the same
    bank, units and floors) is reused across the regions of a muscle. ``kernel=False`` runs
    the plain-NumPy twin.
    """
    from . import _naive, _peel

    plan = plan if plan is not None else peel_plan(bank, params, units, min_peak_sd)
    empty = PeeledDischarges(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
    if plan.n_units == 0:
        return empty
    r = region_uv / bank.sigma[:, None]
    if not np.isfinite(r).all():   # most regions hold none: a needle hour peels ~3·10³ of them
        r = np.nan_to_num(r)
    r = r.astype(np.float64)
    w = plan.T.shape[2]
    if r.shape[1] < w:
        r = np.pad(r, ((0, 0), (0, w - r.shape[1])))
    n_pos = r.shape[1] - w + 1
    r = np.ascontiguousarray(r[plan.used])
    corr = _matched_filter(r, plan, n_pos)
    refr = max(1, int(round(refractory_ms * fs / 1000)))
    run = _peel.peel if kernel else _naive.peel
    pos, k, a, snr = run(r, plan.T, plan.masks, plan.core_first,
                         plan.core_last, plan.e_t, plan.e_core, plan.n_core, plan.peak_sd, plan.floor, corr,
                         plan.xc, plan.slot_of, plan.owner, plan.last_use, plan.limits, refr, plan.max_iter)
    if pos.size == 0:
        empty.residual, empty.used = r, plan.used
        return empty
    order = np.argsort(pos, kind="stable")
    pos, k = pos[order], k[order]
    return PeeledDischarges(start + pos + plan.peak_offset[k], plan.units[k], a[order], snr[order], r, plan.used)


#: Largest template cross-correlation table (floats) a plan keeps for pair re-fits (64 MB).
_PAIR_XCORR_MAX = 8 << 20


def _template_xcorr(T: np.ndarray) -> np.ndarray:
    """xc[a, b, d] = Σ_c Σ_i T[a, c, i] T[b, c, i + d] for lags d in 0 … 2w − 1 (negative lags at
    2w + d; zero beyond ±(w − 1))."""
    w = T.shape[2]
    spec = np.fft.rfft(T, 2 * w, axis=2)
    return np.fft.irfft(np.einsum("acf,bcf->abf", spec.conj(), spec), 2 * w, axis=2)


def refit_overlap_pairs(peeled: PeeledDischarges, start: int, plan: PeelPlan, params: UnitParams, fs: float,
                        allowed: np.ndarray, refractory_ms: float = 1.5, kernel: bool = True) -> PeeledDischarges:
    """``peeled`` (from :func:`peel_region` with ``plan``, region starting at sample ``start``)
    with each ``allowed`` fit re-fitted as two discharges of two other units where that pair
    explains its window better.

    Greedy peeling takes the template that explains most of a window first: where two units'
    MUAPs overlap 1–3 ms apart, a third unit's template shifted between them can explain more of
    the sum than either unit alone, and what it leaves stays under the fitting floors (EMGLAB
    R00108: an expert unit's firing missed beside another's, a third unit fitted between them).
    Each allowed fit whose window (its template's length, half of it either side) still holds
    more than `peel_min_snr`² of energy beyond the noise is put back, and the best pair of
    templates of different units at their two best local maxima of the matched filter (least-squares
    scales within `min_scale`–`max_scale`, each reaching its fitting floor) replaces it when it
    explains at least `pair_refit_min_gain` × `peel_min_snr`² more energy than the best single
    template and leaves no more of the window than a fit may (`match_noise_factor` × its noise
    energy plus `match_shape_tolerance` × what the pair explains); neither discharge may fall
    within the refractory time of another fit, nor within half a window of a fit of its own unit.
    The residual is updated. The search runs in a numba kernel (``_peel.pair_search``);
    ``kernel=False`` runs its plain-NumPy twin.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    from . import _naive, _peel

    search = _peel.pair_search if kernel else _naive.pair_search
    r = peeled.residual
    allowed = np.asarray(allowed, dtype=bool)
    if r is None or peeled.samples.size == 0 or not allowed.any() or params.pair_refit_min_gain <= 0:
        return peeled
    T, e = plan.T, plan.e_t
    K, c, w = T.shape
    L = r.shape[1]
    index = np.full(int(plan.units.max()) + 1, -1, dtype=np.int64)
    index[plan.units] = np.arange(K)
    k_of = index[peeled.units]
    pos = (peeled.samples - start - plan.peak_offset[k_of]).astype(np.int64)
    scale, snr = peeled.scales.astype(np.float64), peeled.snr.astype(np.float64)
    half = w // 2
    refr = max(1, int(round(refractory_ms * fs / 1000)))
    min_energy = params.peel_min_snr ** 2
    gain = params.pair_refit_min_gain * min_energy
    flat = T.reshape(K, c * w)
    # Every pair of templates at every lag, once per plan while small (else per fit, for the
    # units it tries): xc[a, b, d] = Σ_i T_a[i] T_b[i + d].
    xc = plan.pair_xcorr
    if xc is None and K * K * 2 * w <= _PAIR_XCORR_MAX:
        xc = plan.pair_xcorr = _template_xcorr(T)
    new_pos, new_k, new_scale, new_snr = [], [], [], []
    for i in np.nonzero(allowed)[0]:
        p, k, a = int(pos[i]), int(k_of[i]), float(scale[i])
        a0, b0 = p - half, p + w + half
        if a0 < 0 or b0 > L:
            continue
        window = r[:, a0:b0]
        if float(np.einsum("ij,ij->", window, window)) - window.size < min_energy:
            continue
        y = window.copy()
        y[:, half:half + w] += a * T[k]
        windows = sliding_window_view(y, w, axis=1).transpose(1, 0, 2).reshape(2 * half + 1, c * w)
        corr = flat @ windows.T                                                    # (K, 2·half + 1)
        if xc is not None:
            rows, table = slice(None), xc
        else:   # only the units that could take part, their table for this window
            rows = np.nonzero(np.max(corr, axis=1) ** 2 / e >= min_energy)[0]
            if rows.size < 2:
                continue
            table = _template_xcorr(T[rows])
        best1, explained, ja, sa, xa, jb, sb, xb = search(
            corr[rows], e[rows], table, plan.peak_sd[rows], plan.floor[rows], min_energy, refr,
            params.min_scale, params.max_scale)
        if not explained - best1 >= gain:
            continue
        if xc is None:
            ja, jb = int(rows[ja]), int(rows[jb])
        ca, cb = corr[ja, sa], corr[jb, sb]
        # The pair must fit as any fit must (what it leaves within the noise and shape tolerance).
        if float(np.einsum("ij,ij->", y, y)) - explained > params.match_noise_factor * y.size \
                + params.match_shape_tolerance * explained:
            continue
        pair = ((a0 + int(sa), int(ja), float(xa), float(ca / np.sqrt(e[ja]))),
                (a0 + int(sb), int(jb), float(xb), float(cb / np.sqrt(e[jb]))))
        # Neither discharge onto another fit: that discharge is already counted.
        near = np.nonzero(np.abs(pos - p) <= 2 * w)[0]
        near = near[near != i]
        at = np.r_[pos[near] + plan.peak_offset[k_of[near]],
                   [q + plan.peak_offset[j] for q, j in zip(new_pos, new_k) if abs(q - p) <= 2 * w]]
        if any(np.any(np.abs(at - (pp + plan.peak_offset[jj])) < refr)
               or np.any((k_of[near] == jj) & (np.abs(pos[near] - pp) < half)) for pp, jj, _, _ in pair):
            continue
        r[:, a0:b0] = y
        for pp, jj, xx, _ in pair:
            r[:, pp:pp + w] -= xx * T[jj]
        (pos[i], k_of[i], scale[i], snr[i]), second = pair[0], pair[1]
        new_pos.append(second[0]); new_k.append(second[1]); new_scale.append(second[2]); new_snr.append(second[3])
    if not new_pos:
        return peeled
    pos = np.r_[pos, new_pos].astype(np.int64)
    k_of = np.r_[k_of, new_k].astype(np.int64)
    scale, snr = np.r_[scale, new_scale], np.r_[snr, new_snr]
    order = np.argsort(pos, kind="stable")
    pos, k_of = pos[order], k_of[order]
    return PeeledDischarges(start + pos + plan.peak_offset[k_of], plan.units[k_of], scale[order], snr[order],
                            r, peeled.used)


def compound_templates(bank: UnitBank, candidates: np.ndarray, fs: float, params: UnitParams | None = None,
                       same_unit_lags: tuple | None = None) -> np.ndarray:
    """Which of the templates ``candidates`` are two or more other units' MUAPs overlapping.

    In a contraction or a burst, MUAPs of different units often overlap; a cluster of such
    overlaps has a template of its own, and peeling with it explains two discharges with one
    fit (one missed, one mistimed). Template k is compound when peeling it (placed in a silent
    region) with the units that have at least 1 / ``params.compound_max_share`` times its members
    (overlaps at one lag are rare beside their units) fits at least two discharges that together
    leave at most 1 − ``params.compound_min_explained`` of its energy, where the best of those
    discharges alone leaves more than twice that. With ``same_unit_lags`` (min, max samples) only
    templates that are two discharges of one unit that far apart count (a unit's doublet learnt as
    a template of its own). Returns a bool mask over ``candidates``.
    """
    params = params or UnitParams()
    candidates = np.asarray(candidates, dtype=np.int64)
    out = np.zeros(candidates.size, dtype=bool)
    if params.compound_min_explained >= 1 or bank.n_units < 3 or candidates.size < 3:
        return out
    K, c, w = bank.templates.shape
    tu = bank.templates_uv().astype(np.float64)
    sigma = bank.sigma.astype(np.float64)[:, None]
    plans = {}
    for j, k in enumerate(candidates):
        # Only units at least 1/compound_max_share as frequent can make k up.
        others = candidates[(bank.counts[candidates] * params.compound_max_share >= bank.counts[k])
                            & (candidates != k)]
        if others.size < 2:
            continue
        key = others.tobytes()
        if key not in plans:   # the rare templates mostly share one set of frequent units
            plans[key] = peel_plan(bank, params, units=others)
        plan = plans[key]
        region = np.zeros((c, 3 * w))
        region[:, w:2 * w] = tu[k]
        peeled = peel_region(region, 0, bank, fs, params, plan=plan)
        if peeled.samples.size < 2:
            continue
        target = region / sigma
        fit = np.zeros_like(target)
        single = []
        for sample, unit, scale in zip(peeled.samples, peeled.units, peeled.scales):
            pos = int(sample - bank.peak_offset[unit])
            lo, hi = max(pos, 0), min(pos + w, 3 * w)
            if hi <= lo:
                continue
            part = np.zeros_like(target)
            part[:, lo:hi] = scale * bank.templates[unit][:, lo - pos:hi - pos]
            fit += part
            single.append(((target - part) ** 2).sum())
        energy = (target ** 2).sum()
        left = ((target - fit) ** 2).sum()
        out[j] = energy > 0 and bool(single) and left <= (1 - params.compound_min_explained) * energy \
            and min(single) > 2 * left
        if out[j] and same_unit_lags is not None:
            lag = int(np.ptp(peeled.samples))
            out[j] = peeled.samples.size == 2 and peeled.units[0] == peeled.units[1] \
                and same_unit_lags[0] <= lag <= same_unit_lags[1]
    return out


#: A doublet template's first copy, at ≥ 0.8 of its unit's size beside a second of ≤ 1.25, holds
#: about a third of its energy or more: units whose best single copy explains under this share
#: are not tried further (most of a muscle's templates against each other: the cost).
_DOUBLET_MIN_SINGLE_SHARE = 0.2


def doublet_templates(bank: UnitBank, candidates: np.ndarray, lags: tuple, params: UnitParams) -> dict:
    """Templates of ``candidates`` that are two discharges of another, at least as frequent unit
    ``lags`` (min, max samples) apart (a unit's doublets, learnt as a template of their own):
    {k: (unit, (offset1, offset2), (scale1, scale2))}, offsets of the unit's window starts from
    k's. Two copies at their least-squares scales, fitted within k's window (the copies run on
    past it), must leave at most 1 − ``compound_min_explained`` of k's energy, one copy alone more
    than twice what the two leave, and the copies' scales lie within ``doublet_scales`` (the
    first discharge is an ordinary one of the unit). Every lag is tried, one copy within 2 samples
    of where a single copy fits best: a greedy peel of the template takes the best-fitting unit
    first, often another, and then needs three or four.
    """
    from scipy import fft

    K, c, w = bank.templates.shape
    out = {}
    if K < 2 or params.compound_min_explained >= 1:
        return out
    candidates = np.asarray(candidates, dtype=np.int64)
    T = bank.templates.astype(np.float64) * bank.masks[:, :, None]
    spread = np.arange(max(1, lags[0]), min(lags[1], w - 1) + 1)
    if spread.size == 0:
        return out
    # Copy starts p (region coordinates: k's window is [w, 2w) of a 3w region), 0..2w.
    n_pos = 2 * w + 1
    pos = np.arange(n_pos)
    p1 = np.broadcast_to(pos[:, None], (n_pos, spread.size))
    lag = np.broadcast_to(spread[None, :], (n_pos, spread.size))
    p2 = p1 + lag
    inside = p2 < n_pos
    p1, p2, lag = p1[inside], p2[inside], lag[inside]
    li = np.searchsorted(spread, lag)
    # A copy at p covers its samples j in [lo(p), hi(p)) of k's window.
    lo_j, hi_j = np.clip(w - pos, 0, w), np.clip(2 * w - pos, 0, w)
    # Samples j both copies of a pair cover: [j_lo, j_hi) of the first copy.
    j_lo = np.maximum(np.maximum(lag, w - p1), 0)
    j_hi = np.minimum(w, 2 * w - p1)
    overlap = j_hi > j_lo
    j_lo, j_hi = np.clip(j_lo, 0, w), np.clip(j_hi, 0, w)
    prefix = {}
    # Every candidate's products with a template placed anywhere in the region, by FFT (as in
    # ``_matched_filter``): one pass per template instead of one correlation per pair.
    size = fft.next_fast_len(4 * w, real=True)
    t_spec = np.conj(fft.rfft(T[candidates], size, axis=2))                       # (n, c, F)
    sq_all = np.concatenate([np.zeros((candidates.size, 1)),
                             np.cumsum((T[candidates] ** 2).sum(axis=1), axis=1)], axis=1)
    g_all = sq_all[:, hi_j] - sq_all[:, lo_j]                                      # (n, n_pos)
    ok_all = g_all > 1e-9 * sq_all[:, -1:]
    for k in candidates:
        target = np.zeros((c, 3 * w))
        target[:, w:2 * w] = T[k]
        energy = float((target ** 2).sum())
        if energy <= 0:
            continue
        corr_all = fft.irfft(np.einsum("cf,ncf->nf", fft.rfft(target, size, axis=1), t_spec), size,
                             axis=1)[:, :n_pos]
        a_all = np.where(ok_all, np.clip(corr_all / np.where(ok_all, g_all, 1.0), params.min_scale,
                                         params.max_scale), 0.0)
        one_all = (2 * a_all * corr_all - a_all * a_all * g_all).max(axis=1)
        best = None
        # The first discharge is an ordinary one of the unit: one copy explains a fair share.
        tried = (bank.counts[candidates] >= bank.counts[k]) & (candidates != k) \
            & (one_all >= _DOUBLET_MIN_SINGLE_SHARE * energy)
        for iu in np.nonzero(tried)[0]:
            u = int(candidates[iu])
            if u not in prefix:
                # Products of the copy's sample j with the other copy's j − lag, summed up to j.
                cross = np.zeros((spread.size, w + 1))
                for i, L in enumerate(spread):
                    cross[i, L + 1:] = np.cumsum((T[u][:, L:] * T[u][:, :w - L]).sum(axis=0))
                prefix[u] = cross
            cross = prefix[u]
            g_pos, corr, one = g_all[iu], corr_all[iu], float(one_all[iu])
            # One of the two copies lies where a single copy fits best (± 2 samples).
            at = int(np.argmax(2 * a_all[iu] * corr - a_all[iu] ** 2 * g_pos))
            near = (np.abs(p1 - at) <= 2) | (np.abs(p2 - at) <= 2)
            g12 = np.zeros(p1.size)
            g12[near] = np.where(overlap[near], cross[li[near], j_hi[near]] - cross[li[near], j_lo[near]], 0.0)
            e = np.full(p1.size, -np.inf)
            e[near] = _explained(corr[p1[near]], corr[p2[near]], g_pos[p1[near]], g12[near], g_pos[p2[near]],
                                 params.min_scale, params.max_scale)
            top = int(np.argmax(e))
            left = energy - float(e[top])
            if not np.isfinite(e[top]) or left > (1 - params.compound_min_explained) * energy \
                    or energy - one <= 2 * left or (best is not None and left >= best[0]):
                continue
            g11, g22, g = g_pos[p1[top]], g_pos[p2[top]], g12[top]
            det = g11 * g22 - g * g
            a1 = (g22 * corr[p1[top]] - g * corr[p2[top]]) / det
            a2 = (g11 * corr[p2[top]] - g * corr[p1[top]]) / det
            (lo1, hi1), (lo2, hi2) = params.doublet_scales
            if lo1 <= a1 <= hi1 and lo2 <= a2 <= hi2:
                best = (left, int(u), (int(p1[top]) - w, int(p2[top]) - w), (float(a1), float(a2)))
        if best is not None:
            out[int(k)] = best[1:]
    return out


def unit_families(bank: UnitBank, min_correlation: float = 0.95, amplitude_ratio: tuple = (0.6, 1.6),
                  max_lag: int = 2) -> np.ndarray:
    """Family id per template: templates of nearly the same shape and size (one unit split in two).

    Pattern classification works on families, so a burst whose discharges landed in two
    templates of one unit is still one burst.
    """
    K = bank.n_units
    family = np.arange(K)
    if K < 2:
        return family
    T = bank.templates.reshape(K, -1).astype(np.float64)
    norm = np.linalg.norm(T, axis=1)
    best = np.full((K, K), -1.0)
    for lag in range(-max_lag, max_lag + 1):
        shifted = np.roll(bank.templates, lag, axis=2).reshape(K, -1).astype(np.float64)
        c = (T @ shifted.T) / np.maximum(np.outer(norm, norm), 1e-12)
        best = np.maximum(best, c)
    p2p = np.ptp(bank.templates[np.arange(K), bank.main_channel], axis=1)
    ratio = p2p[:, None] / np.maximum(p2p[None, :], 1e-12)
    same = (best >= min_correlation) & (ratio >= amplitude_ratio[0]) & (ratio <= amplitude_ratio[1])
    # Union-find over the similarity graph.
    parent = np.arange(K)

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(same, 1))):
        ri, rj = root(i), root(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    return np.array([root(i) for i in range(K)])
