"""Firing patterns: when each unit discharges, grouped into the events the truth reports.

Each generator returns a list of :class:`Group`: the firing instants (s) of one
event (a single fasciculation, a doublet, one myokymic burst, one
neuromyotonic train, ...) with a per-discharge amplitude gain. Voluntary
firing has ``kind=None`` (no event). Cramp groups of one episode share
``episode`` and become one ``cramp`` event.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import SimulationParams


@dataclass
class Group:
    kind: str | None
    times: np.ndarray
    gains: np.ndarray
    state: str = "rest"
    episode: int | None = None


def _u(rng, r):
    return float(rng.uniform(r[0], r[1])) if r[1] > r[0] else float(r[0])


def _count(rng, r) -> int:
    return int(rng.integers(int(r[0]), int(r[1]) + 1))


def _group_isi_s(rng, p: SimulationParams) -> float:
    """One doublet/multiplet interval: log-normal (mostly ≤ 9 ms) inside doublet_isi_ms."""
    lo, hi = p.doublet_isi_ms
    for _ in range(100):
        v = p.doublet_isi_median_ms * float(np.exp(rng.normal(0.0, p.doublet_isi_log_sd)))
        if lo <= v <= hi:
            return v / 1000.0
    return float(np.clip(p.doublet_isi_median_ms, lo, hi)) / 1000.0


def fasciculating_unit(rng, p: SimulationParams, t0: float, t1: float) -> list[Group]:
    """Irregular Poisson-like firings at the unit's rate, each a single, doublet or multiplet."""
    rate = _u(rng, p.fasciculation_rate_hz)
    mean_gap = 1.0 / rate
    dead = min(p.isolation_s, 0.5 * mean_gap)
    groups: list[Group] = []
    t = t0 + rng.uniform(0, mean_gap)
    while t < t1:
        u = rng.random()
        if u < p.doublet_probability:
            isis = [_group_isi_s(rng, p)]
            kind = "doublet"
        elif u < p.doublet_probability + p.multiplet_probability:
            n = _count(rng, p.multiplet_size)
            isis = [_group_isi_s(rng, p) for _ in range(n - 1)]
            if rng.random() < p.multiplet_second_interval_longer and isis[1] < isis[0]:
                isis[0], isis[1] = isis[1], isis[0]
            kind = "multiplet"
        else:
            isis = []
            kind = "fasciculation"
        times = t + np.concatenate([[0.0], np.cumsum(isis)])
        second = _u(rng, p.second_potential_ratio)
        gains = np.ones(times.size)
        gains[1:] = second * rng.uniform(0.97, 1.03, times.size - 1)
        groups.append(Group(kind, times, gains))
        pause = dead + rng.exponential(max(mean_gap - dead, 1e-3))
        if kind != "fasciculation":
            pause *= p.post_group_pause_factor
        t = times[-1] + max(pause, p.isolation_s)
    return groups


def myokymic_unit(rng, p: SimulationParams, t0: float, t1: float) -> list[Group]:
    """Bursts at a uniform intraburst rate, ISIs lengthening slightly, recurring semi-rhythmically."""
    rate = _u(rng, p.myokymic_rate_hz)
    n_typical = _count(rng, p.myokymic_discharges)
    lengthening = _u(rng, p.myokymic_isi_lengthening)
    period = 1.0 / float(np.exp(rng.uniform(np.log(p.myokymic_recurrence_hz[0]),
                                            np.log(p.myokymic_recurrence_hz[1]))))
    cov = _u(rng, p.myokymic_recurrence_cov)
    lo, hi = (int(v) for v in p.myokymic_discharges)
    groups = []
    t = t0 + rng.uniform(0, period)
    while t < t1:
        n = int(np.clip(n_typical + rng.integers(-1, 2), max(lo, 2), max(hi, 2)))
        base = 1.0 / rate
        isis = base * (1.0 + lengthening * np.arange(n - 1)) * rng.normal(1.0, 0.02, n - 1)
        isis = np.clip(isis, 1.0 / p.myokymic_rate_hz[1], 1.0 / p.myokymic_rate_hz[0])
        times = t + np.concatenate([[0.0], np.cumsum(isis)])
        groups.append(Group("myokymic", times, rng.normal(1.0, 0.02, n)))
        silence = p.myokymic_min_silence_factor * (isis[-1] if isis.size else base)
        gap = max(period * rng.normal(1.0, cov), 0.0)
        t = max(t + gap, times[-1] + max(silence, 0.1))
    return groups


def neuromyotonic_unit(rng, p: SimulationParams, t0: float, t1: float) -> list[Group]:
    """Trains at 150–300 Hz for 0.5–2 s, abrupt on/offset, ISIs lengthening and amplitude waning."""
    groups = []
    t = t0 + rng.uniform(0, _u(rng, p.neuromyotonic_interval_s))
    lo_rate, hi_rate = p.neuromyotonic_rate_hz
    while t < t1:
        duration = _u(rng, p.neuromyotonic_duration_s)
        start_rate = rng.uniform(lo_rate + 0.15 * (hi_rate - lo_rate), hi_rate)
        end_rate = max(lo_rate, start_rate * _u(rng, p.neuromyotonic_rate_end_ratio))
        times = [0.0]
        while True:
            frac = times[-1] / duration
            rate_now = start_rate + (end_rate - start_rate) * frac
            isi = np.clip(rng.normal(1.0, 0.02) / rate_now, 1.0 / hi_rate, 1.0 / lo_rate)
            if times[-1] + isi > duration:
                break
            times.append(times[-1] + isi)
        times = t + np.asarray(times)
        end_gain = _u(rng, p.neuromyotonic_amplitude_end_ratio)
        frac = (times - times[0]) / max(times[-1] - times[0], 1e-9)
        gains = end_gain ** frac * rng.normal(1.0, 0.015, times.size)
        groups.append(Group("neuromyotonic", times, gains))
        t = times[-1] + _u(rng, p.neuromyotonic_interval_s)
    return groups


def regular_train(rng, kind: str, rate_hz: float, cov: float, t0: float, t1: float, min_isi_s: float = 0.0
                  ) -> Group:
    """A regular train (fibrillation, PSW, continuous single discharges): Gaussian ISIs of CoV ``cov``."""
    mean = 1.0 / rate_hz
    n_max = int((t1 - t0) / mean * 1.5) + 3
    isis = np.maximum(rng.normal(mean, cov * mean, n_max), max(min_isi_s, 0.2 * mean))
    times = t0 + rng.uniform(0, mean) + np.concatenate([[0.0], np.cumsum(isis)])
    times = times[times < t1]
    return Group(kind, times, rng.normal(1.0, 0.01, times.size))


def cramp_episode(rng, p: SimulationParams, start: float, duration: float, n_units: int, episode: int
                  ) -> list[Group]:
    """One cramp: n_units recruited as the drive rises then falls, each firing with ISI CoV ≈ 0.45."""
    peak_at = start + duration * rng.uniform(0.25, 0.6)
    end = start + duration
    thresholds = np.sort(rng.uniform(0.0, 0.8, n_units))
    groups = []
    for th in thresholds:
        cov = _u(rng, p.cramp_isi_cov)
        lo_rate, hi_rate = p.cramp_rate_pps
        max_rate = rng.uniform(0.5 * (lo_rate + hi_rate), hi_rate)
        shape_k = 1.0 / cov ** 2
        times = []
        t = start + rng.uniform(0, 0.05)
        while t < end:
            drive = (t - start) / (peak_at - start) if t < peak_at else (end - t) / (end - peak_at)
            if drive > th:
                rate = lo_rate + (max_rate - lo_rate) * (drive - th) / (1.0 - th + 1e-9)
                times.append(t)
                if rng.random() < p.cramp_doublet_fraction:
                    times.append(t + _group_isi_s(rng, p))
                    t = times[-1]
                t = t + max(rng.gamma(shape_k, 1.0 / (rate * shape_k)), 0.02)
            else:
                t += 0.02
        if len(times) >= 2:
            groups.append(Group("cramp", np.asarray(times), rng.normal(1.0, 0.03, len(times)), state="cramp",
                                episode=episode))
    return groups


def voluntary_epoch(rng, p: SimulationParams, start: float, duration: float, thresholds: np.ndarray,
                    unit_covs: np.ndarray, unit_max_rates: np.ndarray) -> list[Group]:
    """A contraction: trapezoid drive; units fire above threshold at onset rate + gain × excess, capped."""
    force = _u(rng, p.voluntary_force)
    ramp = min(duration * 0.25, rng.uniform(0.4, 1.0))
    end = start + duration
    onset = _u(rng, p.voluntary_onset_rate_hz)
    groups = []
    for th, cov, max_rate in zip(thresholds, unit_covs, unit_max_rates):
        if th >= force:
            groups.append(Group(None, np.zeros(0), np.zeros(0), state="voluntary"))
            continue
        times = []
        t = start + ramp * th / force + rng.uniform(0, 0.05)
        while t < end:
            drive = force * min(1.0, (t - start) / ramp, (end - t) / ramp)
            if drive <= th:
                if t > start + duration / 2:
                    break
                t += 0.01
                continue
            rate = min(max_rate, onset + (max_rate - onset) * (drive - th) / max(1.0 - th, 1e-3) * 1.5)
            times.append(t)
            t += max(rng.normal(1.0, cov), 0.3) / rate
        groups.append(Group(None, np.asarray(times), rng.normal(1.0, 0.02, len(times)), state="voluntary"))
    return groups
