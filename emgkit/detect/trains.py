"""Discharges of a high-frequency train read from its periodic signal.

At 150–300 Hz a train's MUAPs (surface 10–30 ms, needle a few ms with late phases) overlap, so
candidates and template peeling find only some of its discharges: on surface electrodes the sum
is a wave at the train's rate whose peaks may stay under the candidate threshold. Where
segmentation found the signal periodic at a train's interval (``segment.PeriodicSpan``), each
period's peak is a discharge.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import find_peaks

from .params import PatternParams, UnitParams
from .patterns import find_trains


def train_discharges(x: np.ndarray, fs: float, interval_s: float, sigma: float,
                     pattern_params: PatternParams | None = None,
                     unit_params: UnitParams | None = None, core: slice = slice(None)) -> np.ndarray:
    """Sample indices in ``x`` (one channel's filtered signal, µV) of a train's discharges.

    Peaks of one polarity at least ``unit_params.train_peak_floor_sd`` × ``sigma`` high, and at
    least ``train_peak_min_share`` of the train's typical peak (the 90th percentile of the peaks in
    ``core``, where the signal was found periodic), at least
    ``unit_params.train_peak_min_interval`` × ``interval_s`` apart; kept where they chain
    into a train as ``patterns.find_trains`` defines one (gaps of at most
    ``neuromyotonic_max_gap_ms``, lasting ``neuromyotonic_min_duration_s`` at a detected rate of
    ``neuromyotonic_min_detected_rate_hz``), so noise and isolated MUAPs beside the train are left
    out. The polarity giving more such peaks wins (a train's MUAP has one dominant phase).
    """
    pp = pattern_params or PatternParams()
    up = unit_params or UnitParams()
    x = np.nan_to_num(np.asarray(x, dtype=np.float64))
    if x.size < 3 or not (interval_s > 0) or not (sigma > 0):
        return np.zeros(0, dtype=np.int64)
    distance = max(1, int(np.floor(up.train_peak_min_interval * interval_s * fs)))
    best = np.zeros(0, dtype=np.int64)
    for sign in (1.0, -1.0):
        peaks, props = find_peaks(sign * x, height=up.train_peak_floor_sd * sigma, distance=distance)
        lo, hi = core.indices(x.size)[:2]
        typical = props["peak_heights"][(peaks >= lo) & (peaks < hi)]
        if typical.size:
            peaks = peaks[props["peak_heights"] >= up.train_peak_min_share * np.percentile(typical, 90)]
        # The events stage's definition of a train; the signal is periodic here by construction,
        # so no regularity test (``periodic`` covers everything).
        kept = [peaks[a:b + 1] for a, b in find_trains(peaks / fs, pp, periodic=[(-np.inf, np.inf)])]
        found = np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)
        if found.size > best.size:
            best = found
    return best.astype(np.int64)
