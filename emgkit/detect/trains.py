"""Discharges of a high-frequency train read from its periodic signal.

At 150–300 Hz a train's MUAPs (surface 10–30 ms, needle a few ms with late phases) overlap, so
candidates and template peeling find only some of its discharges: on surface electrodes the sum
is a wave at the train's rate whose peaks may stay under the candidate threshold. Where
segmentation found the signal periodic at a train's interval (``segment.PeriodicSpan``), each
period's peak is a discharge. A surface train's MUAPs have a large net area and sum into a
step with a ripple of a few µV at the train's rate: the ripple is read from the signal
band-passed around that rate (``train_band``), whose noise is measured on a quiet window.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import butter, find_peaks, sosfiltfilt

from .params import PatternParams, SegmentParams, UnitParams
from .patterns import find_trains


def train_band(x: np.ndarray, fs: float, interval_s: float, unit_params: UnitParams | None = None) -> np.ndarray:
    """``x`` (samples last) band-passed around a train's rate 1 / ``interval_s``
    (`UnitParams.train_band`; 2nd-order Butterworth, zero phase, upper edge at most 0.45 × ``fs``)."""
    up = unit_params or UnitParams()
    x = np.nan_to_num(np.asarray(x, dtype=np.float64))
    if not up.train_band or not interval_s > 0:
        return np.zeros_like(x)
    rate = 1.0 / interval_s
    low, high = up.train_band[0] * rate, min(up.train_band[1] * rate, 0.45 * fs)
    if not 0 < low < high or x.shape[-1] < 16:
        return np.zeros_like(x)
    sos = butter(2, [low, high], btype="band", fs=fs, output="sos")
    return sosfiltfilt(sos, x, axis=-1, padlen=min(x.shape[-1] - 1, 3 * int(np.ceil(fs / low))))


def fundamental_interval(x: np.ndarray, fs: float, interval_s: float, max_rate_hz: float,
                         unit_params: UnitParams | None = None, core: slice = slice(None)) -> float:
    """``interval_s`` or the sub-multiple of it (÷2, ÷3, up to ``max_rate_hz``) whose band
    (`train_band`) holds the most power in ``core``: a surface train's signal also repeats at
    twice its interval (periodicity may pick 2L), but a surface MUAP's spectrum falls with
    frequency, so its train's power lies at its own rate, not at a multiple of it."""
    up = unit_params or UnitParams()
    if not up.train_band or not interval_s > 0:
        return interval_s
    best, best_power = interval_s, -1.0
    for k in (1, 2, 3):
        if k / interval_s > max_rate_hz:
            break
        y = train_band(x, fs, interval_s / k, up)[core]
        power = float(np.mean(y * y)) if y.size else 0.0
        if power > best_power:
            best, best_power = interval_s / k, power
    return best


def _chained(peaks: np.ndarray, fs: float, pp: PatternParams) -> np.ndarray:
    """``peaks`` (sample indices) kept where they chain into a train as the events stage defines
    one; the signal is periodic here by construction, so no regularity test."""
    kept = [peaks[a:b + 1] for a, b in find_trains(peaks / fs, pp, periodic=[(-np.inf, np.inf)])]
    return np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)


def band_envelope(y: np.ndarray, fs: float, interval_s: float, periods: float) -> np.ndarray:
    """Amplitude of ``y`` (a `train_band` reading) averaged over ``periods`` train intervals."""
    from scipy.ndimage import uniform_filter1d
    from scipy.signal import hilbert

    width = max(1, int(round(periods * interval_s * fs)))
    return uniform_filter1d(np.abs(hilbert(y)), width, mode="nearest")


def two_sided_envelope(y: np.ndarray, fs: float, interval_s: float, periods: float) -> np.ndarray:
    """Per sample of ``y`` (a `train_band` reading): the smaller of its amplitude averaged over
    the ``periods`` / 2 train intervals before and the ``periods`` / 2 after (fewer at the ends).
    Where a train stops, the stretch after holds only noise, however strong the train before."""
    from scipy.signal import hilbert

    amp = np.abs(hilbert(y))
    n = amp.size
    width = max(1, int(round(periods / 2 * interval_s * fs)))
    total = np.r_[0.0, np.cumsum(amp)]
    at = np.arange(n)
    ahead = np.minimum(at + width, n)
    behind = np.maximum(at + 1 - width, 0)
    return np.minimum((total[ahead] - total[at]) / (ahead - at), (total[at + 1] - total[behind]) / (at + 1 - behind))


def continued_train(train: np.ndarray, peaks: np.ndarray, max_gap: float, interval_share: tuple) -> np.ndarray:
    """``train`` (sorted sample indices of a train's discharges, one or more chains ``max_gap``
    apart) with the ``peaks`` (sorted) that continue it: inside each chain of at least three,
    every peak; beyond its ends, peak after peak, each at ``interval_share`` (low, high) × the
    median of the chain's last five intervals from the one before, the nearest to one interval
    on (or, where none is there, to two: one cycle missed), until none is. Missing more cycles
    in a row ran on into the noise after a train (a peak whose two-sided amplitude passes the
    floor by chance within a longest gap)."""
    train = np.sort(np.asarray(train, dtype=np.int64))
    peaks = np.asarray(peaks, dtype=np.int64)
    if train.size < 3 or peaks.size == 0:
        return train
    low, high = interval_share
    added = [train]
    taken = set(train.tolist())
    for chain in np.split(train, np.nonzero(np.diff(train) > max_gap)[0] + 1):
        if chain.size < 3:
            continue
        inside = peaks[(peaks > chain[0]) & (peaks < chain[-1])]
        added.append(inside)
        taken.update(inside.tolist())
        for direction in (1, -1):
            seq = list(chain if direction == 1 else chain[::-1])
            while True:
                step = float(np.median(np.abs(np.diff(seq[-6:]))))
                nxt = None
                for cycles in (1, 2):
                    a, b = sorted((seq[-1] + direction * (cycles - 1 + low) * step,
                                   seq[-1] + direction * (cycles - 1 + high) * step))
                    near = peaks[(peaks >= a) & (peaks <= b)]
                    if near.size:
                        nxt = int(near[np.argmin(np.abs(near - (seq[-1] + direction * cycles * step)))])
                        break
                if nxt is None or nxt in taken:
                    break
                seq.append(nxt)
                taken.add(nxt)
                added.append(np.array([nxt], dtype=np.int64))
    return np.unique(np.concatenate(added))


def train_discharges(x: np.ndarray, fs: float, interval_s: float, sigma: float,
                     pattern_params: PatternParams | None = None,
                     unit_params: UnitParams | None = None, core: slice = slice(None),
                     band_sigma: float | None = None, by_cycle: bool = True) -> np.ndarray:
    """Sample indices in ``x`` (one channel's filtered signal, µV) of a train's discharges.

    Peaks of one polarity at least ``unit_params.train_peak_floor_sd`` × ``sigma`` high, and at
    least ``train_peak_min_share`` of the train's typical peak (the 90th percentile of the peaks in
    ``core``, where the signal was found periodic), at least
    ``unit_params.train_peak_min_interval`` × ``interval_s`` apart; kept where they chain
    into a train as ``patterns.find_trains`` defines one (gaps of at most
    ``neuromyotonic_max_gap_ms``, lasting ``neuromyotonic_min_duration_s`` at a detected rate of
    ``neuromyotonic_min_detected_rate_hz``), so noise and isolated MUAPs beside the train are left
    out. The polarity giving more such peaks wins (a train's MUAP has one dominant phase).
    Where ``band_sigma`` (the noise SD of ``train_band`` of a quiet stretch of this channel) is
    given (and `UnitParams.train_band` is not empty), the band-passed signal is read the same
    way against it and, with ``by_cycle`` (surface electrodes), also cycle by cycle: each of its
    peaks where its amplitude averaged over `train_envelope_periods` intervals stands
    `train_envelope_floor_sd` × ``band_sigma`` high and at least `train_envelope_min_share` of its
    90th percentile in ``core`` (a surface ripple of 2–3 noise SD loses single peaks to the noise,
    but not its cycle amplitude). The reading with more discharges wins. Where the cycle-by-cycle
    reading wins it is continued (`continued_train`) through the peaks whose amplitude, averaged
    over `train_extend_periods` intervals on each side (`two_sided_envelope`, the smaller side),
    stands `train_extend_floor_sd` × ``band_sigma`` high: a waning train's tail and weak
    stretches keep its rhythm below the cycle-by-cycle floor.
    """
    pp = pattern_params or PatternParams()
    up = unit_params or UnitParams()
    x = np.nan_to_num(np.asarray(x, dtype=np.float64))
    if x.size < 3 or not (interval_s > 0) or not (sigma > 0):
        return np.zeros(0, dtype=np.int64)
    distance = max(1, int(np.floor(up.train_peak_min_interval * interval_s * fs)))
    lo, hi = core.indices(x.size)[:2]
    readings = [(x, sigma)]
    band = None
    if up.train_band and band_sigma is not None and band_sigma > 0:
        band = train_band(x, fs, interval_s, up)
        readings.append((band, band_sigma))
    best = np.zeros(0, dtype=np.int64)
    for (signal, noise), sign in ((r, sign) for r in readings for sign in (1.0, -1.0)):
        peaks, props = find_peaks(sign * signal, height=up.train_peak_floor_sd * noise, distance=distance)
        typical = props["peak_heights"][(peaks >= lo) & (peaks < hi)]
        if typical.size:
            peaks = peaks[props["peak_heights"] >= up.train_peak_min_share * np.percentile(typical, 90)]
        found = _chained(peaks, fs, pp)
        if found.size > best.size:
            best = found
    if by_cycle and band is not None and up.train_envelope_floor_sd > 0 and hi > lo:
        envelope = band_envelope(band, fs, interval_s, up.train_envelope_periods)
        level = max(up.train_envelope_floor_sd * band_sigma,
                    up.train_envelope_min_share * float(np.percentile(envelope[lo:hi], 90)))
        cycle_peaks = None
        for sign in (1.0, -1.0):
            peaks, _ = find_peaks(sign * band, distance=distance)
            found = _chained(peaks[envelope[peaks] >= level], fs, pp)
            if found.size > best.size:
                best, cycle_peaks = found, peaks
        if cycle_peaks is not None and up.train_extend_floor_sd > 0:
            steady = two_sided_envelope(band, fs, interval_s, up.train_extend_periods)
            kept = cycle_peaks[steady[cycle_peaks] >= up.train_extend_floor_sd * band_sigma]
            best = continued_train(best, kept, pp.neuromyotonic_max_gap_ms / 1000 * fs, up.train_extend_interval)
    return best.astype(np.int64)


def periodic_channel(core: np.ndarray, fs: float, interval_s: float) -> int:
    """The channel of ``core`` (channels × samples) that repeats best at ``interval_s``: the
    largest smallest normalised autocorrelation at one, two and three intervals (linearly
    interpolated between samples). A train is read there: on a grid another unit's discharges can
    hold more power, even at the train's rate, but do not repeat at its interval."""
    x = np.nan_to_num(np.asarray(core, dtype=np.float64))
    if x.ndim != 2 or x.shape[0] == 1 or not interval_s > 0:
        return 0
    n = x.shape[1]
    lag = interval_s * fs
    if n < 3 * lag + 2:
        return int(np.argmax(np.einsum("ij,ij->i", x, x)))
    from .segment import normalised_autocorrelation

    ac = normalised_autocorrelation(x)
    score = np.full(x.shape[0], np.inf)
    for k in (1, 2, 3):
        at = k * lag
        i = int(np.floor(at))
        frac = at - i
        score = np.minimum(score, (1 - frac) * ac[:, i] + frac * ac[:, i + 1])
    return int(np.argmax(np.nan_to_num(score, nan=-np.inf)))


#: Relative tolerance (log) of a multiple of a train's interval where its autocorrelation peaks again.
_MULTIPLE_TOLERANCE = float(np.log(1.08))


def second_train(core: np.ndarray, fs: float, main: int, interval_s: float,
                 segment_params: SegmentParams | None = None) -> tuple[int, float] | None:
    """(channel, interval s) of a second unit's train beside the one at ``interval_s`` on channel
    ``main``, or None: the channel of ``core`` (channels × samples, where the signal was found
    periodic) whose windows (`SegmentParams.window_s`) repeat best (``segment.window_periodicity``
    ≥ `train_periodicity`) at an interval that is neither ``interval_s`` nor a multiple or
    sub-multiple of it (within `train_interval_step` of it, within 8 % of twice, thrice, a half or a
    third of it: the autocorrelation of one train peaks at each multiple of its interval). On an
    HD grid two units' trains often overlap in time, each largest on electrodes of its own."""
    from .segment import window_periodicity

    sp = segment_params or SegmentParams()
    window = max(1, int(round(sp.window_s * fs)))
    tolerance = np.log(sp.train_interval_step)
    best, best_score = None, sp.train_periodicity
    for ch in range(core.shape[0]):
        if ch == main:
            continue
        for start in range(0, max(core.shape[1] - window // 2, 1), window):
            x = core[ch, start:start + window]
            if x.size < window // 2:
                continue
            score, lag = window_periodicity(x, fs, sp.train_rate_hz)
            if not score >= best_score or not lag > 0:
                continue
            ratio = np.log(lag / fs / interval_s)
            if abs(ratio) < tolerance or any(abs(ratio - np.log(k)) < _MULTIPLE_TOLERANCE for k in (1 / 3, 1 / 2, 2, 3)):
                continue
            best, best_score = (ch, lag / fs), score
    return best
