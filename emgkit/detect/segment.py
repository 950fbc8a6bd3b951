"""Stage 4: split each muscle's time into rest and excluded stretches.

Excluded: ``voluntary`` (units firing in regular runs at voluntary rates, or several
units active under an interference pattern), ``cramp`` (the same with irregular
firing, ISI CoV ≥ ``cramp_min_cov``), ``invalid`` (invalid or clipped samples),
``noisy`` / ``flat`` (the whole muscle, from its noise level). Decisions are made per
window of ``window_s`` seconds, then neighbouring excluded windows are joined.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .params import PatternParams, SegmentParams
from .patterns import VOLUNTARY, classify_unit, find_trains
from .spikes import GroupCandidates

log = logging.getLogger("emgkit")


def _intervals(flags: np.ndarray, window_s: float, join_windows: int) -> list[tuple[float, float]]:
    """Time intervals (s) of True windows, joining gaps of at most ``join_windows`` windows."""
    idx = np.nonzero(flags)[0]
    if idx.size == 0:
        return []
    out = []
    a = b = int(idx[0])
    for i in idx[1:]:
        if i - b - 1 <= join_windows:
            b = int(i)
        else:
            out.append((a, b))
            a = b = int(i)
    out.append((a, b))
    return [(a * window_s, (b + 1) * window_s) for a, b in out]


def segment_group(gc: GroupCandidates, unit_times: dict, noise_uv: np.ndarray, duration: float,
                  params: SegmentParams | None = None, pattern_params: PatternParams | None = None
                  ) -> pd.DataFrame:
    """Excluded segments of one muscle: DataFrame (muscle, state, start, end)."""
    params = params or SegmentParams()
    pattern_params = pattern_params or PatternParams()
    rows = []
    sigma = float(np.median(noise_uv)) if noise_uv.size else 0.0
    max_noise = params.max_noise_uv_needle if gc.kind == "needle" else params.max_noise_uv_surface
    if sigma < params.flat_uv:
        return pd.DataFrame([{"muscle": gc.muscle, "state": "flat", "start": 0.0, "end": duration}])
    if sigma > max_noise:
        return pd.DataFrame([{"muscle": gc.muscle, "state": "noisy", "start": 0.0, "end": duration}])
    n_win = len(gc.window_power)
    ws = params.window_s
    # Per window: units in regular runs at voluntary rates, units active, the busiest unit's share.
    regular_units = np.zeros(n_win, dtype=np.int64)
    active_units = np.zeros(n_win, dtype=np.int64)
    top_count = np.zeros(n_win, dtype=np.int64)
    total_count = np.zeros(n_win, dtype=np.int64)
    isi_cov_sum = np.zeros(n_win)
    isi_cov_n = np.zeros(n_win)
    lo_isi, hi_isi = 1 / pattern_params.voluntary_rate_hz[1], 1 / pattern_params.voluntary_rate_hz[0]
    for unit, t in unit_times.items():
        if t.size == 0:
            continue
        labels, events = classify_unit(t, pattern_params)
        hit = np.zeros(n_win, dtype=bool)
        for kind, a, b in events:
            if kind == VOLUNTARY:
                hit[int(t[a] // ws): int(t[b] // ws) + 1] = True
        regular_units += hit
        win_idx = np.minimum((t // ws).astype(np.int64), n_win - 1)
        counts = np.bincount(win_idx, minlength=n_win)
        active_units += counts >= 2
        top_count = np.maximum(top_count, counts)
        total_count += counts
        # Irregularity (CV2, Holt et al. 1996) of this unit's firing at voluntary/cramp rates.
        if t.size >= 3:
            isi = np.diff(t)
            ok = (isi >= lo_isi) & (isi <= hi_isi)
            okk = ok[1:] & ok[:-1]
            if okk.any():
                local = 2 * np.abs(np.diff(isi)) / (isi[1:] + isi[:-1])
                w = np.minimum((t[1:-1][okk] // ws).astype(np.int64), n_win - 1)
                np.add.at(isi_cov_sum, w, local[okk])
                np.add.at(isi_cov_n, w, 1)
    # Power relative to the muscle's typical window (most of a recording is rest), never below noise.
    all_times = np.sort(np.concatenate([t for t in unit_times.values()] or [np.zeros(0)]))
    rest_power = max(float(np.median(gc.window_power)) if n_win else 0.0, sigma ** 2, 1e-12)
    ratio = gc.window_power / rest_power
    # An interference pattern: power well above rest, several units, none dominating (a single
    # unit's neuromyotonic train or myokymic burst is spontaneous activity, not voluntary).
    interference = ((ratio > params.interference_power_ratio)
                    & (active_units >= params.voluntary_min_units + 1)
                    & (top_count < 0.5 * np.maximum(total_count, 1)))
    # Voluntary effort recruits units together; one unit firing regularly alone is a look-alike
    # (continuous single discharges, Posa 2020) that patterns reports, not excluded time.
    # A sustained discharge density no spontaneous pattern reaches across several units (a steady
    # contraction fills the whole recording, so relative power alone cannot see it).
    dense = ((gc.window_count / ws >= params.interference_min_rate_hz)
             & ((active_units >= params.voluntary_min_units)
                # An interference pattern too dense to sort (most waveforms fit no template).
                | (ratio > params.interference_power_ratio)))
    d = dense.astype(np.int64)
    dense &= (d + np.r_[0, d[:-1]] + np.r_[d[1:], 0]) >= 2  # at least two neighbouring windows
    voluntary = (regular_units >= params.voluntary_min_units) | interference | dense
    # A high-frequency train of one unit is spontaneous activity however dense it is.
    for a, b in find_trains(all_times, pattern_params):
        voluntary[int(all_times[a] // ws): int(all_times[b] // ws) + 1] = False
    with np.errstate(invalid="ignore", divide="ignore"):
        cv2 = np.where(isi_cov_n > 0, isi_cov_sum / np.maximum(isi_cov_n, 1), np.nan)
    join = int(round(params.join_gap_s / ws))
    for a, b in _intervals(voluntary, ws, join):
        w0, w1 = int(a / ws), int(round(b / ws))
        seg_cv = np.nanmean(cv2[w0:w1]) if np.isfinite(cv2[w0:w1]).any() else np.nan
        many = np.max(active_units[w0:w1], initial=0) >= 3
        state = "cramp" if (many and seg_cv >= pattern_params.cramp_min_cov) else "voluntary"
        log.debug("segment %s %.1f-%.1f s: %s (CV2 %.2f)", gc.muscle, a, b, state, seg_cv)
        rows.append({"muscle": gc.muscle, "state": state, "start": a, "end": min(b, duration)})
    for a, b in _intervals(gc.window_bad > 0.5, ws, join):
        rows.append({"muscle": gc.muscle, "state": "invalid", "start": a, "end": min(b, duration)})
    for a, b in artifact_intervals(gc, noise_uv, params):
        rows.append({"muscle": gc.muscle, "state": "artifact", "start": max(0.0, a), "end": min(b, duration)})
    return pd.DataFrame(rows, columns=["muscle", "state", "start", "end"])


def state_of_times(times: np.ndarray, segments: pd.DataFrame) -> np.ndarray:
    """State per time: the state of the segment containing it, else 'rest'."""
    states = np.full(times.size, "rest", dtype=object)
    for row in segments.itertuples(index=False):
        inside = (times >= row.start) & (times < row.end)
        states[inside & (states == "rest")] = row.state
    return states


def artifact_intervals(gc: GroupCandidates, noise_uv: np.ndarray, params: SegmentParams) -> list:
    """(start, end) s of movement artifacts and electrode pops, from the raw signal's slow content."""
    if gc.slow is None or gc.slow.size == 0 or not gc.slow_step:
        return []
    from scipy.ndimage import median_filter

    step_s = gc.slow_step / (gc.window / params.window_s)
    size = max(3, int(round(params.slow_baseline_s / step_s)) | 1)
    baseline = median_filter(gc.slow, size=(1, size), mode="nearest")
    limit = np.maximum(params.artifact_min_uv, params.artifact_noise_factor * noise_uv)[:, None]
    hit = (np.abs(gc.slow - baseline) > limit).any(axis=0)
    out = []
    pad = params.artifact_pad_s
    for a, b in _intervals(hit, step_s, int(round(0.2 / step_s))):
        if out and a - pad <= out[-1][1]:
            out[-1] = (out[-1][0], b + pad)
        else:
            out.append((a - pad, b + pad))
    return out
