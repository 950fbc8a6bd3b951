"""Discharge times of one unit for each firing pattern.

Each generator returns a list of events; an event is ``(kind, times, gains)``
with activation times in seconds and a gain per discharge (1 = the unit's
template amplitude). Voluntary and cramp firing return kind ``None`` groups
(one per unit and episode) whose discharges belong to no event.
"""
from __future__ import annotations

import numpy as np

from .params import CrampParams, FasciculationParams, MyokymicParams, NeuromyotonicParams, Range, VoluntaryParams


def _uniform(rng, r: Range) -> float:
    return float(rng.uniform(r.low, r.high))


def fasciculating(rng, duration: float, p: FasciculationParams, rate_scale: float = 1.0) -> list:
    """Isolated FPs at a gamma-renewal rate, some turned into doublets/multiplets."""
    rate = float(np.clip(p.rate_per_min_median * rate_scale * np.exp(rng.normal(0, p.rate_per_min_sigma)),
                         p.rate_per_min.low, p.rate_per_min.high)) / 60.0
    shape = _uniform(rng, p.isi_gamma_shape)
    events, t = [], rng.uniform(0, 1.0 / rate)
    while True:
        t += max(rng.gamma(shape, 1.0 / (rate * shape)), p.min_gap_s)
        if t >= duration - 0.2:
            break
        u = rng.random()
        if u < p.p_multiplet:
            n = int(rng.integers(p.multiplet_size.low, p.multiplet_size.high + 1))
            kind = "multiplet"
        elif u < p.p_multiplet + p.p_doublet:
            n, kind = 2, "doublet"
        else:
            n, kind = 1, "fasciculation"
        times, gains = [t], [1.0]
        isi = float(np.clip(np.exp(np.log(p.doublet_isi_ms_median) + rng.normal(0, p.doublet_isi_ms_sigma)),
                            p.doublet_isi_ms.low, p.doublet_isi_ms.high - 1.0)) * 1e-3
        for k in range(1, n):
            times.append(times[-1] + isi)
            gains.append(_uniform(rng, p.second_gain) if k == 1 else gains[-1] * rng.uniform(0.95, 1.02))
            # 1 ms below the limit: the peak-time interval may drift from the activation interval
            isi = min(isi * _uniform(rng, p.later_isi_factor), (p.doublet_isi_ms.high - 1.0) * 1e-3)
        events.append((kind, np.array(times), np.array(gains)))
        t = times[-1]
    return events


def myokymic(rng, duration: float, p: MyokymicParams) -> list:
    """Semi-rhythmic bursts of 2-10 discharges at a uniform-ish 5-60 Hz."""
    hz = float(np.exp(rng.uniform(np.log(p.intraburst_hz.low), np.log(p.intraburst_hz.high))))
    growth = _uniform(rng, p.isi_growth)
    interval = _uniform(rng, p.burst_interval_s)
    cov = _uniform(rng, p.burst_interval_cov)
    sizes = np.arange(int(p.discharges_per_burst.low), int(p.discharges_per_burst.high) + 1)
    weights = np.where(sizes == 2, 0.3, np.where(sizes <= 8, 1.0, 0.5))
    weights = weights / weights.sum()
    mean_size = int(rng.choice(sizes, p=weights))
    events, t = [], rng.uniform(0.2, interval)
    decrement = _uniform(rng, p.burst_gain_decrement)
    while t < duration - 0.2:
        n = int(np.clip(mean_size + rng.integers(-1, 2), sizes[0], sizes[-1]))
        isi = 1.0 / hz
        times = [t]
        for _ in range(n - 1):
            times.append(times[-1] + isi * rng.normal(1.0, 0.03))
            isi *= 1.0 + growth
        times = np.array(times)
        if times[-1] >= duration - 0.05:
            break
        gains = 1.0 - decrement * np.linspace(0, 1, n)
        events.append(("myokymic", times, gains))
        gap = max(interval * max(rng.normal(1.0, cov), 0.3), p.min_silence_s + (times[-1] - times[0]))
        t = times[0] + gap
        if t - times[-1] < p.min_silence_s:
            t = times[-1] + p.min_silence_s
    return events


def neuromyotonic(rng, duration: float, p: NeuromyotonicParams) -> list:
    """Trains at 150-300 Hz for 0.5-2 s, rate and amplitude waning."""
    events, t = [], rng.uniform(0.3, 4.0)
    while True:
        length = _uniform(rng, p.duration_s)
        if t + length >= duration - 0.1:
            break
        start_hz = _uniform(rng, p.start_hz)
        end_hz = max(start_hz * (1 - _uniform(rng, p.rate_wane)), p.min_rate_hz)
        times = [t]
        while times[-1] - t < length:
            frac = (times[-1] - t) / length
            hz = start_hz + (end_hz - start_hz) * frac
            times.append(times[-1] + rng.normal(1.0, 0.02) / hz)
        times = np.array(times)
        wane = _uniform(rng, p.gain_wane)
        gains = 1.0 - wane * (times - t) / (times[-1] - t)
        events.append(("neuromyotonic", times, gains))
        t = times[-1] + _uniform(rng, p.train_interval_s)
    return events


def _lognormal_isis(rng, mean_isi: np.ndarray | float, cov: float, size: int | None = None):
    sigma = np.sqrt(np.log(1 + cov ** 2))
    return mean_isi * np.exp(rng.normal(-sigma ** 2 / 2, sigma, size=size))


def voluntary_episode(rng, start: float, p: VoluntaryParams, thresholds: np.ndarray) -> tuple[list, float]:
    """One trapezoid contraction: each unit fires while the drive exceeds its threshold, from
    its onset rate up to its maximum. Returns (per-unit time arrays, end time)."""
    ramp, hold = _uniform(rng, p.ramp_s), _uniform(rng, p.hold_s)
    peak = rng.uniform(0.5, 1.0)
    total = 2 * ramp + hold

    def drive(t):
        x = t - start
        return peak * np.clip(np.minimum(x / ramp, (total - x) / ramp), 0, 1)

    trains = []
    for thr in thresholds:
        onset, top, cov = _uniform(rng, p.onset_hz), _uniform(rng, p.max_hz), _uniform(rng, p.isi_cov)
        times, t = [], start
        while t < start + total:
            d = drive(t)
            if d <= thr:
                t += 0.01
                continue
            hz = onset + (top - onset) * (d - thr) / max(1 - thr, 1e-3)
            times.append(t)
            t += float(_lognormal_isis(rng, 1.0 / hz, cov))
        trains.append(np.array([x for x in times if x < start + total]))
    return trains, start + total


def cramp_episode(rng, start: float, p: CrampParams, n_units: int) -> tuple[list, float]:
    """Involuntary recruitment rising then falling (a raised-cosine drive); irregular firing."""
    length = _uniform(rng, p.duration_s)
    thresholds = np.sort(rng.uniform(0.02, 0.8, n_units))
    trains = []
    for thr in thresholds:
        cov = _uniform(rng, p.isi_cov)
        times, t = [], start
        while t < start + length:
            d = 0.5 - 0.5 * np.cos(2 * np.pi * (t - start) / length)
            if d <= thr:
                t += 0.01
                continue
            hz = p.rate_hz.low + (p.rate_hz.high - p.rate_hz.low) * (d - thr) / max(1 - thr, 1e-3)
            times.append(t)
            t += max(float(_lognormal_isis(rng, 1.0 / hz, cov)), 0.02)
        trains.append(np.array(times))
    return trains, start + length
