"""Stage 4: split each muscle's time into rest and excluded stretches.

Excluded: ``voluntary`` (units firing in regular runs at voluntary rates, or several
units active under an interference pattern), ``cramp`` (the same with irregular firing,
CV2 ≥ ``cramp_min_cov``, under a rising-then-falling envelope), ``invalid`` (invalid or clipped samples),
``noisy`` / ``flat`` (the whole muscle, from its noise level). Decisions are made per
window of ``window_s`` seconds, then neighbouring excluded windows are joined.
"""
from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
from scipy import ndimage
import pandas as pd

from .params import PatternParams, SegmentParams
from .patterns import VOLUNTARY, classify_unit, ecg_unit, find_trains, runs
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


def _effective_units(unit_ids: np.ndarray, win_idx: np.ndarray, n_win: int) -> np.ndarray:
    """Per window: the effective number of units (inverse Simpson index, Hill 1973) of its discharges.

    n²/Σ n_u² over the units u firing n_u of the window's n discharges: 1 for one unit, k for k
    units firing equally often; a unit with a stray discharge or two barely adds to it.
    """
    out = np.zeros(n_win)
    if unit_ids.size == 0:
        return out
    key = unit_ids.astype(np.int64) * n_win + win_idx
    uniq, counts = np.unique(key, return_counts=True)
    w = uniq % n_win
    total = np.bincount(w, weights=counts, minlength=n_win)
    squares = np.bincount(w, weights=counts.astype(np.float64) ** 2, minlength=n_win)
    np.divide(total ** 2, squares, out=out, where=squares > 0)
    return out


def tonic_cover(times: np.ndarray, n_win: int, window_s: float, rate_hz: tuple, max_missed: int,
                base_intervals: int = 5) -> np.ndarray:
    """Per window: seconds during which one unit fires tonically at ``rate_hz`` (voluntary rates).

    An interval is tonic when the unit's running base interval (median of ``base_intervals``
    neighbouring intervals) lies at ``rate_hz`` and the interval is at most ``max_missed`` + 1
    base intervals long with half a base of slack (discharges the detector missed). A longer
    interval at such a base is a silence: a window where the unit falls silent gets 0, so a
    myokymic unit's bursts (silences of several intervals, Gutmann 1991) never count, however
    much of the window they fill. A neuromyotonic train (faster than voluntary rates) is not tonic.
    """
    from scipy.ndimage import median_filter

    out = np.zeros(n_win)
    t = np.asarray(times, dtype=np.float64)
    if t.size < 3 or n_win == 0:
        return out
    isi = np.diff(t)
    base = median_filter(isi, size=min(base_intervals, isi.size), mode="nearest")
    at_rate = (base >= 1.0 / rate_hz[1]) & (base <= 1.0 / rate_hz[0]) & (isi >= 0.5 * base)
    short = isi <= (max_missed + 1.5) * base
    silent = np.zeros(n_win)
    for ok, acc in ((at_rate & short, out), (at_rate & ~short, silent)):
        a, b = t[:-1][ok], t[1:][ok]
        # Split each interval over the windows it overlaps.
        wa = np.minimum((a // window_s).astype(np.int64), n_win - 1)
        wb = np.minimum((b // window_s).astype(np.int64), n_win - 1)
        for k in range(int((wb - wa).max(initial=0)) + 1):
            w = wa + k
            lo = np.maximum(a, w * window_s)
            hi = np.minimum(b, (w + 1) * window_s)
            keep = (w <= wb) & (hi > lo)
            np.add.at(acc, w[keep], (hi - lo)[keep])
    out[silent > 0] = 0.0
    return out


def one_unit_trains(times: np.ndarray, unit_ids: np.ndarray, pattern_params: PatternParams,
                    max_units: float, own_rate: bool = False) -> list[tuple[int, int]]:
    """``patterns.find_trains`` over a muscle's sorted discharges, keeping trains of one unit.

    A train whose discharges spread over more than ``max_units`` effective units is many units
    firing together (cramp, strong effort), not a neuromyotonic discharge. With ``own_rate`` the
    train's busiest unit must itself fire at a train's detected rate (median interval at most
    1 / ``neuromyotonic_min_detected_rate_hz``): a few contracting units at 10–40 Hz each chain
    into a fast run too, but none of them is fast.
    """
    out = []
    for a, b in find_trains(times, pattern_params):
        units = unit_ids[a:b + 1]
        if _effective_units(units, np.zeros(units.size, dtype=np.int64), 1)[0] > max_units:
            continue
        if own_rate:
            ids, n = np.unique(units, return_counts=True)
            own = times[a:b + 1][units == ids[np.argmax(n)]]
            if own.size < 3 or np.median(np.diff(own)) > 1 / pattern_params.neuromyotonic_min_detected_rate_hz:
                continue
        out.append((a, b))
    return out


def one_unit_train_spans(candidate_times: np.ndarray, times: np.ndarray, unit_ids: np.ndarray,
                         pattern_params: PatternParams, max_units: float,
                         sorted_only: bool = False, own_rate: bool = False) -> list[tuple[float, float]]:
    """(start, end) s of one unit's high-frequency trains, found over all of a muscle's candidates.

    The overlapping MUAPs of a 150–300 Hz train (Bednařík & Kadaňka 2001) often fit no template,
    so the sorted discharges (``times``, ``unit_ids``, sorted) alone leave gaps that break the
    train; the candidates keep it whole. The train is one unit's when the sorted discharges
    within it spread over at most ``max_units`` effective units (see :func:`one_unit_trains`).
    With ``sorted_only`` the sorted discharges' trains alone; ``own_rate``: see :func:`one_unit_trains`.
    """
    spans = [(times[a], times[b]) for a, b in one_unit_trains(times, unit_ids, pattern_params, max_units,
                                                              own_rate=own_rate)]
    if sorted_only:
        return spans
    cand = np.sort(np.asarray(candidate_times, dtype=np.float64))
    for a, b in find_trains(cand, pattern_params):
        lo, hi = np.searchsorted(times, cand[a]), np.searchsorted(times, cand[b], side="right")
        units = unit_ids[lo:hi]
        if units.size and _effective_units(units, np.zeros(units.size, dtype=np.int64), 1)[0] <= max_units:
            spans.append((cand[a], cand[b]))
    return spans


def plateau_share(power: np.ndarray) -> float:
    """Share of a stretch's windows whose 3-window mean power is at least half its peak.

    ≈ 0.5 for a symmetric rise and fall (cramp recruitment), near 1 for effort held at a plateau.
    """
    power = np.asarray(power, dtype=np.float64)
    power = power[np.isfinite(power)]   # windows set aside (artifacts) leave the envelope
    if power.size < 3:
        return 1.0
    from scipy.ndimage import uniform_filter1d

    envelope = uniform_filter1d(power, 3, mode="nearest")
    return float(np.mean(envelope >= 0.5 * envelope.max()))


_PERIODICITY_RATE_HZ = 8000.0


def normalised_autocorrelation(x: np.ndarray, up: int = 1) -> np.ndarray:
    """Autocorrelation of each row of ``x`` (samples last, mean removed) over lags 0 … n − 1 in
    steps of 1/``up`` sample (zero-padded spectrum), divided by its value at lag 0; NaN for a
    row that is constant."""
    x = x - x.mean(axis=-1, keepdims=True)
    n = x.shape[-1]
    spec = np.fft.rfft(x, 2 * n, axis=-1)
    ac = np.fft.irfft(spec.real ** 2 + spec.imag ** 2, 2 * n * up, axis=-1)[..., :n * up]
    zero = ac[..., :1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(zero > 0, ac / zero, np.nan)


def train_periodicity(x: np.ndarray, fs: float, rate_hz: tuple, return_lag: bool = False):
    """How strongly ``x`` (one channel's window) repeats at one interval of a high-frequency train.

    The largest, over lags L from 1/``rate_hz``[1] to 1/``rate_hz``[0] s where the normalised
    autocorrelation has a peak, of the smallest of the normalised autocorrelations at L, 2L and 3L
    (1: a perfectly periodic train; a single MUAP or asynchronous units stay near or below 0; −1
    where no lag is a peak). Lags whose 3L exceeds the window are not tried.
    With ``return_lag`` returns (periodicity, L in samples, fractional; 0 when no lag was tried).
    """
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = x.size
    # At low rates a train's interval falls between samples (250 Hz at 1 kHz: 4 samples, 156 Hz:
    # 6.4), and 2L, 3L on whole samples miss the repeats: the autocorrelation is interpolated
    # (zero-padded spectrum) to steps of at most 1/`_PERIODICITY_RATE_HZ` s.
    up = max(1, int(np.ceil(_PERIODICITY_RATE_HZ / fs)))
    lo = max(1, int(np.ceil(up * fs / rate_hz[1])))
    hi = min(int(np.floor(up * fs / rate_hz[0])), (up * n - 1) // 3)
    if hi < lo:
        return (0.0, 0.0) if return_lag else 0.0
    ac = normalised_autocorrelation(x, up)
    if not np.isfinite(ac[0]):
        return (0.0, 0.0) if return_lag else 0.0
    lags = np.arange(lo, hi + 1)
    score = np.minimum(np.minimum(ac[lags], ac[2 * lags]), ac[3 * lags])
    # A train's autocorrelation peaks at its interval; slow content (an ECG's QRS, wander under
    # the band-pass edge) makes it fall from lag 0 through the shortest lags, high at L, 2L, 3L.
    score = np.where((ac[lags] >= ac[lags - 1]) & (ac[lags] >= ac[lags + 1]), score, -1.0)
    best = int(np.argmax(score))
    return (float(score[best]), float(lags[best]) / up) if return_lag else float(score[best])


def window_periodicity(x: np.ndarray, fs: float, rate_hz: tuple, parts: tuple = (1, 2)) -> tuple[float, float]:
    """(periodicity, lag) of a window: the best of ``train_periodicity`` over the whole window and,
    for each p in ``parts`` above 1, over its 2p − 1 overlapping pieces of 1/p of it (starting
    every 1/(2p)): with the default, its three overlapping halves (starting at 0, ¼ and ½ of it).

    A train that starts or stops inside the window leaves part of it silent, and its onset (the
    first MUAPs, not yet overlapped by earlier ones) is one large transient that dominates the
    whole window's autocorrelation; within a half the train can fill the stretch. A waning rate
    also repeats more exactly over a shorter stretch.
    """
    n = x.shape[-1]
    best = None
    for p in parts:
        for k in range(2 * p - 1):
            start = k * n // (2 * p)
            score = train_periodicity(x[start:start + n // p], fs, rate_hz, return_lag=True)
            if best is None or score[0] > best[0]:
                best = score
    return best


def continued_periodicity(x: np.ndarray, fs: float, interval_s: float, step: float) -> tuple[float, float]:
    """(periodicity, lag) of a window beside a train's: ``window_periodicity`` at lags within
    ``step`` × of the train's ``interval_s``, over the window, its halves and its seven
    overlapping quarters (a train that starts or ends in the window can fill a quarter of it only)."""
    return window_periodicity(x, fs, (1.0 / (interval_s * step), step / interval_s), parts=(1, 2, 4))


def continued_windows(periodic: np.ndarray, lags: np.ndarray, read_window, window: int, fs: float,
                      params: SegmentParams, loudest: np.ndarray | None = None):
    """(periodic, lags) with windows beside periodic ones added, outward, where their signal
    repeats at the neighbour's interval (``continued_periodicity`` within
    ``params.train_interval_step`` of it) at least ``params.train_continuation_periodicity``
    on the window's loudest channel."""
    periodic, lags = periodic.copy(), lags.copy()
    tried = periodic.copy()
    threshold = params.train_continuation_periodicity
    while threshold < 1:
        left = np.r_[False, periodic[:-1]] & ~tried
        right = np.r_[periodic[1:], False] & ~tried
        todo = np.nonzero(left | right)[0]
        if todo.size == 0:
            break
        tried[todo] = True
        grew = False
        for i in todo:
            ref = lags[i - 1] if left[i] else lags[i + 1]
            block = read_window(i * window, (i + 1) * window) if loudest is None else \
                read_window(i * window, (i + 1) * window, [int(loudest[i])])
            if block is None or ref <= 0:
                continue
            block = np.nan_to_num(np.asarray(block, dtype=np.float64))
            if block.shape[1] < window // 2:
                continue
            ch = int(np.argmax(np.einsum("ij,ij->i", block, block)))
            score, lag = continued_periodicity(block[ch], fs, ref / fs, params.train_interval_step)
            if score >= threshold:
                periodic[i], lags[i], grew = True, lag, True
        if not grew:
            break
    return periodic, lags


def periodic_windows(test: np.ndarray, read_window, window: int, fs: float, params: SegmentParams,
                     max_read_s: float = 20.0, return_lags: bool = False, loudest: np.ndarray | None = None,
                     steady_loudest: np.ndarray | None = None):
    """Per window: True where ``test`` is set and the window repeats at a train's interval
    (``window_periodicity`` ≥ ``params.train_periodicity`` on its channel with most power).
    With ``return_lags`` also returns each periodic window's interval L in samples (0 elsewhere).

    Runs of tested windows are read at once (a filtered read carries margins), ``max_read_s`` at
    most. With ``loudest`` (each window's channel with most power, as ``dsp.window_power`` gives
    it) only those channels are read: ``read_window(start, stop, rows)``; with ``steady_loudest``
    (each window's channel of most steady power) that channel is tested too, and the better
    score counts: on a grid another unit's discharge can make a window's loudest electrode while
    a small train fills the window on its own electrodes.
    """
    out = np.zeros(test.size, dtype=bool)
    lags = np.zeros(test.size)
    step = max(1, int(max_read_s * fs / window))
    for a, b in runs(test):
        for p0 in range(a, b + 1, step):
            p1 = min(b + 1, p0 + step)
            rows = None
            if loudest is not None:
                rows = np.unique(np.r_[loudest[p0:p1], [] if steady_loudest is None else steady_loudest[p0:p1]]
                                 .astype(np.int64))
            block = read_window(p0 * window, p1 * window) if rows is None else \
                read_window(p0 * window, p1 * window, rows)
            if block is None:
                continue
            block = np.nan_to_num(np.asarray(block, dtype=np.float32))
            for i in range(p0, p1):
                x = block[:, (i - p0) * window:(i - p0 + 1) * window]
                if x.shape[1] < window // 2:
                    continue
                if rows is None:
                    tried = [int(np.argmax(np.einsum("ij,ij->i", x, x)))]
                else:
                    tried = [int(np.searchsorted(rows, loudest[i]))]
                    if steady_loudest is not None and steady_loudest[i] != loudest[i]:
                        tried.append(int(np.searchsorted(rows, steady_loudest[i])))
                score, lag = max(window_periodicity(x[ch], fs, params.train_rate_hz) for ch in tried)
                out[i] = score >= params.train_periodicity
                lags[i] = lag if out[i] else 0
    return (out, lags) if return_lags else out


class PeriodicSpan(NamedTuple):
    """A stretch of windows whose signal repeats at a high-frequency train's interval."""

    start: float      # s
    end: float        # s
    interval: float   # s, the shortest of its windows' intervals


def segment_group(gc: GroupCandidates, unit_times: dict, noise_uv: np.ndarray, duration: float,
                  params: SegmentParams | None = None, pattern_params: PatternParams | None = None,
                  read_window=None, return_periodic: bool = False):
    """Excluded segments of one muscle: DataFrame (muscle, state, start, end).

    ``read_window(start, stop, rows)`` returns the group's filtered signal (channels, samples; only
    the group channels at positions ``rows`` when given), µV, for
    the periodicity test (``SegmentParams.train_periodicity``) of windows that would be voluntary or
    whose candidates come at a train's detected rate or whose power is well above rest; without it
    the test is skipped. With ``return_periodic`` also returns the ``PeriodicSpan``s of windows found
    periodic, voluntary or not (a train's stretch, for ``patterns.find_trains`` and
    ``trains.train_discharges``).
    """
    from scipy.ndimage import median_filter

    params = params or SegmentParams()
    pattern_params = pattern_params or PatternParams()
    rows = []
    sigma = float(np.median(noise_uv)) if noise_uv.size else 0.0
    max_noise = params.max_noise_uv_needle if gc.kind == "needle" else params.max_noise_uv_surface
    if sigma < params.flat_uv or sigma > max_noise:
        whole = pd.DataFrame([{"muscle": gc.muscle, "state": "flat" if sigma < params.flat_uv else "noisy",
                               "start": 0.0, "end": duration}])
        return (whole, []) if return_periodic else whole
    n_win = len(gc.window_power)
    ws = params.window_s
    # Per window: units in regular runs at voluntary rates, units active, the busiest unit's share.
    regular_units = np.zeros(n_win, dtype=np.int64)
    active_units = np.zeros(n_win, dtype=np.int64)
    top_count = np.zeros(n_win, dtype=np.int64)
    total_count = np.zeros(n_win, dtype=np.int64)
    fast_count = np.zeros(n_win, dtype=np.int64)
    tonic_units = np.zeros(n_win, dtype=np.int64)
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
        # Discharges of a unit firing faster than any voluntary rate (a neuromyotonic train,
        # a myokymic burst): the unit's running median interval around them (irregular
        # cramp or voluntary firing has short single intervals at a voluntary median rate).
        if t.size >= 2:
            isi = np.diff(t)
            median_isi = median_filter(isi, size=min(params.rate_intervals, isi.size), mode="nearest")
            local = np.minimum(np.r_[np.inf, median_isi], np.r_[median_isi, np.inf])
            fast_count += np.bincount(win_idx[local < lo_isi], minlength=n_win)
        # Firing tonically (at voluntary rates, no silences) over most of the window.
        cover = tonic_cover(t, n_win, ws, pattern_params.voluntary_rate_hz, params.tonic_max_missed,
                            params.rate_intervals)
        tonic_units += cover >= params.tonic_min_cover * ws
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
    nonempty = [(u, t) for u, t in unit_times.items() if t.size]
    all_times = np.concatenate([t for _, t in nonempty]) if nonempty else np.zeros(0)
    all_units = np.concatenate([np.full(t.size, u, dtype=np.int64) for u, t in nonempty]) if nonempty \
        else np.zeros(0, dtype=np.int64)
    order = np.argsort(all_times, kind="stable")
    all_times, all_units = all_times[order], all_units[order]
    effective_units = _effective_units(all_units, np.minimum((all_times // ws).astype(np.int64), n_win - 1), n_win) \
        if n_win else np.zeros(0)
    # Power relative to the muscle's typical window (most of a recording is rest), never below noise.
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
    # contraction fills the whole recording, so relative power alone cannot see it). Several
    # units: one or two myokymic units bursting back to back are as dense, but stay one or two.
    crowded = gc.window_count / ws >= params.interference_min_rate_hz
    strong = ratio > params.interference_power_ratio
    # Dense across several units; on surface electrodes also with a unit firing steadily at
    # voluntary rates (continuous spontaneous activity of bursting units is as dense). On needles
    # a contraction's overlapping units are missed within their runs (N2001 control contractions
    # have few windows with one steady unit): there density alone decides.
    several = crowded & (active_units >= params.voluntary_min_units) & (effective_units >= params.min_effective_units)
    min_steady = params.dense_min_steady_units if gc.kind != "needle" else 0
    dense = crowded & ((several & (np.maximum(tonic_units, regular_units) >= min_steady))
                       # Few units, each firing tonically at voluntary rates: a weak contraction.
                       | ((tonic_units >= params.voluntary_min_units)
                          & (effective_units >= params.tonic_min_effective_units))
                       # An interference pattern too dense to sort (most waveforms fit no template),
                       # not one unit's burst of large MUAPs (its other phases are candidates too).
                       | (strong & ((effective_units >= params.tonic_min_effective_units)
                                    | (total_count < params.unsorted_max_sorted_share * gc.window_count))))
    # ...but a strong window of one unit beside a contraction is its onset or end (a cramp begins
    # with one unit firing fast): it joins the contraction.
    edge = crowded & strong & ~dense
    while True:
        joined = edge & ~dense & (np.r_[False, dense[:-1]] | np.r_[dense[1:], False])
        if not joined.any():
            break
        dense |= joined
    # A contraction's onset and end recruit units that do not yet fire steadily: a window dense
    # across several units beside one joins it (one window each way, not a whole busy record).
    dense |= several & (np.r_[False, dense[:-1]] | np.r_[dense[1:], False])
    d = dense.astype(np.int64)
    dense &= (d + np.r_[0, d[:-1]] + np.r_[d[1:], 0]) >= 2  # at least two neighbouring windows
    # Voluntary units fire at 5–25 Hz each: a window where most sorted discharges come from units
    # firing faster than that is a spontaneous train or burst, whatever templates it is split over.
    fast = fast_count >= params.spontaneous_min_fast_share * np.maximum(total_count, 1)
    voluntary = (regular_units >= params.voluntary_min_units) | ((interference | dense) & ~fast)
    # A high-frequency train of one unit is spontaneous activity however dense it is.
    # Surface MUAPs (10–30 ms) of a 150–300 Hz train overlap so much that most fit no template:
    # there the trains are sought over all candidates. Needle MUAPs are sorted within trains, and a
    # needle's steady contraction gives dense candidates that would chain into "trains".
    fs = gc.window / ws
    cand_times = gc.samples / fs if gc.kind != "needle" else np.zeros(0)
    # On a grid a strong contraction's candidates (one per MUAP across 64 electrodes, ~90/s, few
    # templates) chain like a train too: there only the periodicity test below releases them.
    grid = gc.channels.size >= params.grid_train_min_channels and read_window is not None \
        and params.train_periodicity < 1
    max_units = params.needle_train_max_units if gc.kind == "needle" else params.train_max_units
    for t0, t1 in one_unit_train_spans(cand_times, all_times, all_units, pattern_params, max_units,
                                       sorted_only=grid,
                                       own_rate=gc.kind == "needle" and params.needle_train_own_rate):
        voluntary[int(t0 // ws): int(t1 // ws) + 1] = False
    periodic = np.zeros(n_win, dtype=bool)
    lags = np.zeros(n_win)
    if read_window is not None and params.train_periodicity < 1:
        # Windows that would be voluntary, rest windows with candidates at a train's detected rate,
        # and loud ones: a surface train's overlapping MUAPs can stay under the candidate threshold
        # (on a needle one MUAP makes a window loud: there candidates must come often too).
        busy = gc.window_count / ws >= pattern_params.neuromyotonic_min_detected_rate_hz
        quiet_power = max(float(np.percentile(gc.window_power, params.train_test_quiet_percentile))
                          if n_win else 0.0, sigma ** 2, 1e-12)
        loud = gc.window_power >= params.train_test_power_ratio * quiet_power
        if gc.kind != "needle" and gc.window_steady_power is not None and n_win:
            # A unit on a few of a grid's electrodes barely moves the mean over all of them, and
            # QRS windows raise a bipolar muscle's quiet level: the steady power (over electrodes,
            # the most power in an electrode's quietest quarter of the window: a train fills all
            # four, a lone MUAP or a QRS one), against its quiet level.
            top = gc.window_steady_power
            loud |= top >= params.train_test_power_ratio * max(
                float(np.percentile(top, params.train_test_quiet_percentile)), sigma ** 2, 1e-12)
        if gc.kind == "needle":
            loud &= gc.window_count / ws >= params.train_test_min_rate_hz
        tested = voluntary | busy | loud
        steady_loudest = gc.window_steady_loudest if params.train_test_steady_channel else None
        periodic, lags = periodic_windows(tested, read_window, gc.window, fs, params,
                                          return_lags=True, loudest=gc.window_loudest,
                                          steady_loudest=steady_loudest)
        # A train goes on beside a periodic window where it no longer makes the window loud or
        # busy (its MUAPs wane, on a grid a small unit barely moves the mean power): the windows
        # next to periodic ones are tested too, until no new one is periodic.
        while True:
            beside = (np.r_[False, periodic[:-1]] | np.r_[periodic[1:], False]) & ~tested
            if not beside.any():
                break
            tested |= beside
            more, more_lags = periodic_windows(beside, read_window, gc.window, fs, params,
                                               return_lags=True, loudest=gc.window_loudest,
                                               steady_loudest=steady_loudest)
            periodic |= more
            lags = np.where(more, more_lags, lags)
        # A surface train's onset and end leave part of their window silent, and its repeats
        # there are tested at the neighbour's interval only (needle trains are sorted).
        if gc.kind != "needle":
            periodic, lags = continued_windows(periodic, lags, read_window, gc.window, fs, params,
                                               loudest=gc.window_loudest)
        voluntary &= ~periodic
    with np.errstate(invalid="ignore", divide="ignore"):
        cv2 = np.where(isi_cov_n > 0, isi_cov_sum / np.maximum(isi_cov_n, 1), np.nan)
    join = int(round(params.join_gap_s / ws))
    # Surface units that are the ECG (a QRS template at a heart rhythm) time its beats.
    beats = [t for t in unit_times.values() if gc.kind != "needle" and ecg_unit(t, pattern_params)]
    beats = np.concatenate(beats) if beats else None
    artifacts = artifact_intervals(gc, noise_uv, params, pattern_params, heartbeats=beats)
    # A movement or pop inside a contraction is not its activity: its windows' power would be the
    # envelope's peak, and the contraction a "rise and fall".
    power = gc.window_power.astype(np.float64, copy=True)
    for a, b in artifacts:
        power[max(int(a // ws), 0): int(np.ceil(b / ws))] = np.nan
    for a, b in _intervals(voluntary, ws, join):
        w0, w1 = int(round(a / ws)), int(round(b / ws))
        state = excluded_state(power[w0:w1], cv2[w0:w1], pattern_params)
        # Recruitment and derecruitment: the first and last units fire before and after the
        # windows are dense enough to be recognised (followed along their firing, then padded).
        pad = params.voluntary_pad_s
        # Only a cramp's walk crosses a longer interval: its units fire irregularly, while beside a
        # contraction wrongly found in myokymic activity the next burst lies a pause away.
        a, b = _recruitment_span(a, b, unit_times, lo_isi, hi_isi, pattern_params.myokymic_silence_factor,
                                 params.recruitment_gap_factor if state == "cramp" else 0.0)
        # Joining, recruitment and padding never take in a window that repeats at a train's
        # interval: one unit's train there, not a contraction's interference.
        for a, b in _outside(max(0.0, a - pad), min(b + pad, duration), periodic, ws):
            rows.append({"muscle": gc.muscle, "state": state, "start": a, "end": b})
    for a, b in _intervals(gc.window_bad > 0.5, ws, join):
        rows.append({"muscle": gc.muscle, "state": "invalid", "start": a, "end": min(b, duration)})
    for a, b in artifacts:
        rows.append({"muscle": gc.muscle, "state": "artifact", "start": max(0.0, a), "end": min(b, duration)})
    segments = pd.DataFrame(rows, columns=["muscle", "state", "start", "end"])
    if return_periodic:
        spans = []
        for a, b in _intervals(periodic, ws, 0):
            w0 = int(round(a / ws))
            # One train's rate wanes by a few % from window to window; a step in the interval is
            # another unit's train taking over (its own electrode, its own rate).
            w = lags[w0:int(round(b / ws))]
            step = np.maximum(w[1:], w[:-1]) > params.train_interval_step * np.minimum(w[1:], w[:-1])
            steps = np.nonzero(step)[0] + 1
            for p0, p1 in zip(np.r_[0, steps], np.r_[steps, w.size]):
                spans.append(PeriodicSpan((w0 + p0) * ws, (w0 + p1) * ws, float(w[p0:p1].min()) / fs))
        return segments, spans
    return segments


def _outside(a: float, b: float, windows: np.ndarray, window_s: float) -> list[tuple[float, float]]:
    """The parts of (a, b) s outside the True ``windows`` (each ``window_s`` long)."""
    out = []
    for w0, w1 in runs(windows):
        lo, hi = w0 * window_s, (w1 + 1) * window_s
        if hi <= a or lo >= b:
            continue
        if lo > a:
            out.append((a, lo))
        a = max(a, hi)
        if a >= b:
            break
    if a < b:
        out.append((a, b))
    return out


def _recruitment_span(a: float, b: float, unit_times: dict, lo_isi: float, hi_isi: float,
                      silence_factor: float, gap_factor: float = 0.0) -> tuple[float, float]:
    """(start, end) of a contraction found on windows (a, b), widened to where the units firing in
    it began and stopped firing steadily at voluntary rates (recruitment starts with one unit at its
    onset rate, Henneman): each interval within ``lo_isi``..``hi_isi`` and within ``silence_factor``
    of the next (a myokymic burst's silence, at least that many of its intervals, ends the walk).
    With ``gap_factor`` > 0 the walk crosses one longer interval at each end, up to ``gap_factor`` ×
    ``hi_isi``, where at least three discharges beyond it fire steadily at voluntary rates (a
    cramp's irregular onset and end)."""
    start, end = a, b
    for t in unit_times.values():
        inside = np.nonzero((t >= a) & (t <= b))[0]
        if inside.size == 0:
            continue
        isi = np.diff(t)
        ok = (isi >= lo_isi) & (isi <= hi_isi)
        # steady[k]: intervals k and k + 1 both at voluntary rates and within silence_factor of each other.
        near = np.maximum(isi[:-1], isi[1:]) < silence_factor * np.minimum(isi[:-1], isi[1:])
        steady = np.r_[ok[:-1] & ok[1:] & near, False]
        crossable = (isi >= lo_isi) & (isi <= gap_factor * hi_isi)

        def back(i):
            while i > 0 and ok[i - 1] and (i >= isi.size or steady[i - 1]):
                i -= 1
            return i

        def forward(j):
            while j < t.size - 1 and ok[j] and (j == 0 or steady[j - 1]):
                j += 1
            return j

        i, j = back(inside[0]), forward(inside[-1])
        if gap_factor > 0 and i >= 3 and crossable[i - 1] and steady[i - 3]:
            i = back(i - 2)
        if gap_factor > 0 and j + 3 < t.size and crossable[j] and steady[j + 1]:
            j = forward(j + 2)
        start, end = min(start, t[i]), max(end, t[j])
    return start, end


def excluded_state(window_power: np.ndarray, window_cv2: np.ndarray, pattern_params: PatternParams) -> str:
    """'cramp' or 'voluntary' for one stretch of many-unit activity.

    Cramp (Minetto et al. 2009): recruitment rises then falls and units fire irregularly (ISI CoV
    ≈ 0.45); voluntary effort is held at a plateau with regular firing (CoV 0.1–0.25). A stretch
    whose firing irregularity is unknown (no sorted unit at voluntary rates) is judged by its
    envelope alone.
    """
    finite = np.isfinite(window_cv2)
    cv2 = float(np.mean(window_cv2[finite])) if finite.any() else np.nan
    irregular = not (cv2 < pattern_params.cramp_min_cov)   # NaN: unknown, not regular
    plateau = plateau_share(window_power)
    state = "cramp" if (irregular and plateau <= pattern_params.cramp_max_plateau_share) else "voluntary"
    log.debug("excluded stretch of %d windows: %s (CV2 %.2f, plateau %.2f)", window_power.size, state, cv2, plateau)
    return state


def state_of_times(times: np.ndarray, segments: pd.DataFrame) -> np.ndarray:
    """State per time: the state of the segment containing it, else 'rest'."""
    states = np.full(times.size, "rest", dtype=object)
    for row in segments.itertuples(index=False):
        inside = (times >= row.start) & (times < row.end)
        states[inside & (states == "rest")] = row.state
    return states


def recruitment_states(samples: np.ndarray, all_samples: np.ndarray, fs: float, segments: pd.DataFrame,
                       params: SegmentParams | None = None) -> np.ndarray:
    """State of lone discharges at rest: the contraction's ("voluntary" or "cramp") for those within
    ``params.recruitment_margin_s`` of one with at least ``recruitment_min_neighbours`` other
    candidates (sorted ``all_samples``) within ± ``recruitment_gap_s``, else "rest".
    """
    params = params or SegmentParams()
    samples = np.asarray(samples, dtype=np.int64)
    states = np.full(samples.size, "rest", dtype=object)
    contractions = segments[segments["state"].isin(["voluntary", "cramp"])]
    if samples.size == 0 or len(contractions) == 0:
        return states
    gap = int(round(params.recruitment_gap_s * fs))
    crowd = (np.searchsorted(all_samples, samples + gap, side="right")
             - np.searchsorted(all_samples, samples - gap, side="left"))
    crowded = crowd - np.isin(samples, all_samples) >= params.recruitment_min_neighbours
    t = samples / fs
    margin = params.recruitment_margin_s
    for row in contractions.itertuples(index=False):
        near = crowded & (states == "rest") & (t >= row.start - margin) & (t <= row.end + margin)
        states[near] = row.state
    return states


def artifact_intervals(gc: GroupCandidates, noise_uv: np.ndarray, params: SegmentParams,
                       pattern_params: PatternParams | None = None, heartbeats: np.ndarray | None = None) -> list:
    """(start, end) s of movement artifacts and electrode pops: large, fast excursions of the raw signal's slow content.

    The slow content (``gc.slow``: the raw mean per ``slow_step_s``) less its baseline wander
    (below ``wander_max_hz``, see :func:`slow_excursions`) must depart from zero by more than
    ``artifact_min_uv`` and ``artifact_noise_factor`` × σ on some channel. Brief excursions
    (≤ ``qrs_max_s``) that beat at a heart rhythm (``patterns.ecg_unit``) are QRS complexes, not artifacts.
    """
    if gc.slow is None or gc.slow.size == 0 or not gc.slow_step:
        return []
    step_s = gc.slow_step / (gc.window / params.window_s)
    limit = np.maximum(params.artifact_min_uv, params.artifact_noise_factor * noise_uv)[:, None]
    fast = slow_excursions(gc.slow, step_s, params.wander_max_hz, limit)
    hit = (np.abs(fast) > limit).any(axis=0)
    if hit.any() and params.artifact_release < 1:
        # Hysteresis: an excursion's stretch reaches as far as it stays above the release level.
        held = (np.abs(fast) > params.artifact_release * limit).any(axis=0)
        runs, _ = ndimage.label(held)
        hit = held & np.isin(runs, np.unique(runs[hit]))
    found = _intervals(hit, step_s, int(round(0.2 / step_s)))
    # Brief excursions that beat at a heart rhythm, or coincide with the beats of a unit that is
    # the ECG (``heartbeats``), are QRS complexes.
    pattern_params = pattern_params or PatternParams()
    brief = np.array([b - a <= params.qrs_max_s + 1e-9 for a, b in found], dtype=bool)
    centres = np.array([(a + b) / 2 for a, b in found])
    qrs = np.zeros(len(found), dtype=bool)
    if brief.any() and ecg_unit(centres[brief], pattern_params):
        qrs = brief
    elif brief.any() and heartbeats is not None and np.size(heartbeats) >= 2:
        reach = pattern_params.qrs_max_ms / 2000 + step_s
        beats = np.sort(np.asarray(heartbeats, dtype=np.float64))
        i = np.clip(np.searchsorted(beats, centres), 1, beats.size - 1)
        qrs = brief & (np.minimum(np.abs(centres - beats[i - 1]), np.abs(centres - beats[i])) <= reach)
    found = [ab for ab, beat in zip(found, qrs) if not beat]
    out = []
    pad = params.artifact_pad_s
    for a, b in found:
        if out and a - pad <= out[-1][1]:
            out[-1] = (out[-1][0], b + pad)
        else:
            out.append((a - pad, b + pad))
    return out


def slow_excursions(slow: np.ndarray, step_s: float, wander_max_hz: float, limit=None) -> np.ndarray:
    """Slow means (n_channels, n_steps) µV less their baseline wander.

    The wander is the zero-phase low-pass (Butterworth, order 2 each way) at ``wander_max_hz``
    (capped below the steps' Nyquist rate). With ``limit`` (µV per channel) the baseline is
    taken again (up to 3 times) with the stretches beyond the limit bridged by straight lines,
    so a large artifact does not drag the baseline and ring around itself.
    """
    from scipy.signal import butter, sosfiltfilt

    slow = np.asarray(slow, dtype=np.float64)
    n = slow.shape[-1]
    rate = 1.0 / step_s
    cutoff = min(wander_max_hz, 0.4 * rate)
    if cutoff <= 0 or n < 2:
        return slow - np.median(slow, axis=-1, keepdims=True)
    sos = butter(2, cutoff, btype="lowpass", fs=rate, output="sos")
    pad = min(n - 1, int(round(3 * rate / cutoff)))

    def baseline(x):
        return sosfiltfilt(sos, x, axis=-1, padtype="odd", padlen=pad)

    fast = slow - baseline(slow)
    if limit is None:
        return fast
    limit = np.broadcast_to(np.asarray(limit, dtype=np.float64).reshape(-1, 1), slow.shape)
    idx = np.arange(n)
    for _ in range(3):   # the excursions shrink to the artifact itself as the baseline stops following it
        beyond = np.abs(fast) > limit
        if not beyond.any():
            break
        bridged = slow.copy()
        for c in np.nonzero(beyond.any(axis=1) & ~beyond.all(axis=1))[0]:
            out = beyond[c]
            bridged[c, out] = np.interp(idx[out], idx[~out], slow[c, ~out])
        fast = slow - baseline(bridged)
    return fast
