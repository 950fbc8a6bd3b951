"""The detector: every spontaneous discharge, its motor unit and its pattern, per muscle.

``emgkit.detect(recording, params=None) -> DetectionResult``. Stages, each a function
of the previous stage's output plus its parameter object:

1. ``preprocess.plan_preprocessing`` — EMG channels and muscles, band-pass + mains
   notch by electrode type, robust noise σ per channel;
2. ``spikes.detect_candidates`` — one streamed pass: filtered chunks, candidate
   discharges (one per discharge across a muscle's channels), waveforms, window stats;
3. ``units.cluster_candidates`` — motor-unit templates;
4. ``segment.segment_group`` — voluntary / cramp / invalid / noisy / flat time;
5. ``units.peel_region`` — overlap resolution in rest time (doublets, trains);
6. ``patterns.classify_unit`` — fasciculation, doublet, multiplet, myokymic,
   neuromyotonic (and the look-alikes voluntary / continuous);
7. ``summary`` — per-unit and per-muscle tables.
"""
from __future__ import annotations

import bisect
import concurrent.futures
import dataclasses
import functools
import logging
import os
import sys
import time

import numpy as np
import pandas as pd

from .params import DetectionParams

log = logging.getLogger("emgkit")

__all__ = ["detect", "DetectionParams"]

#: Kinds that are spontaneous events (look-alikes get their own kind but are not counted as such).
_EVENT_KIND_OF_LABEL = {"fasciculation": "fasciculation", "doublet": "doublet", "multiplet": "multiplet",
                        "myokymic": "myokymic", "neuromyotonic": "neuromyotonic", "continuous": "continuous"}


def _pieces(intervals, max_len: int, overlap: int):
    """Split [a, b) intervals longer than ``max_len`` into pieces overlapping by 2·``overlap``.

    Yields (start, stop, core_start, core_stop); the cores tile each interval exactly once.
    """
    for a, b in intervals:
        if b - a <= max_len:
            yield a, b, a, b
            continue
        p0 = a
        while True:
            p1 = min(p0 + max_len, b)
            c0 = a if p0 == a else p0 + overlap
            c1 = b if p1 == b else p1 - overlap
            yield p0, p1, c0, c1
            if p1 == b:
                break
            p0 = p1 - 2 * overlap


def _lone_timing(snippet, before: int) -> tuple[int, int]:
    """(channel, offset from the candidate's sample) where one discharge's waveform (channels,
    window; µV, the candidate at ``before``) peaks on its channel of largest peak-to-peak."""
    x = np.asarray(snippet, dtype=np.float32)
    ch = int(np.argmax(np.ptp(x, axis=1)))
    return ch, int(np.argmax(np.abs(x[ch]))) - before


def _broad_units(bank, spike_params) -> np.ndarray:
    """Per template: True when it spreads over most of a grid (half its peak on ≥ half the electrodes)."""
    from .units import spread_over_grid

    c = bank.templates.shape[1] if bank.n_units else 0
    if c < spike_params.grid_min_channels:
        return np.zeros(bank.n_units, dtype=bool)
    return spread_over_grid(bank.templates)


def _fibre_like(waveforms_uv: np.ndarray, counts: np.ndarray, noise_uv: np.ndarray, fs: float,
                pattern_params, level_fraction: float = 0.05, bridge_ms: float = 1.0) -> np.ndarray:
    """Per main-channel waveform (K, w) µV: True when it is a single muscle fibre's spike.

    The spike is the stretch around the peak where the waveform stays above a level —
    ``level_fraction`` of the peak, and 3 of the template's own noise σ (``noise_uv``/√count) so a small averaged
    waveform's noise is not counted — bridging dips shorter than ``bridge_ms`` (zero crossings
    between the phases of a polyphasic MUAP). A noise outlier far from the spike is not part of it.
    """
    K = len(waveforms_uv)
    out = np.zeros(K, dtype=bool)
    if K == 0:
        return out
    p2p = np.ptp(waveforms_uv, axis=1)
    mag = np.abs(waveforms_uv)
    level = np.maximum(level_fraction * mag.max(axis=1), 3.0 * noise_uv / np.sqrt(np.maximum(counts, 1)))
    bridge = max(1, int(round(bridge_ms * fs / 1000)))
    for k in range(K):
        above = np.nonzero(mag[k] >= level[k])[0]
        peak = int(np.argmax(mag[k]))
        # Connected stretch of above-level samples (gaps ≤ bridge) that holds the peak.
        breaks = np.nonzero(np.diff(above) > bridge)[0]
        starts = np.r_[above[0], above[breaks + 1]]
        ends = np.r_[above[breaks], above[-1]]
        j = np.searchsorted(starts, peak, side="right") - 1
        spike_ms = (ends[j] - starts[j] + 1) / fs * 1000
        out[k] = spike_ms <= pattern_params.fibrillation_max_spike_ms and p2p[k] <= pattern_params.fibrillation_max_uv
    return out


def _fibre_units(waveforms_uv: np.ndarray, counts: np.ndarray, noise_uv: np.ndarray, times: list, fs: float,
                 pattern_params, p2p_sd: np.ndarray | None = None) -> np.ndarray:
    """Per unit (main-channel waveform, discharge times): True when it is a single muscle fibre.

    A fibrillation's whole spike is short (level 5 % of its peak). A positive sharp wave has a
    long low tail, so a unit whose main spike (level 20 %) is short counts as a fibre when it
    also fires like one: regularly at fibrillation rates (textbook: 0.5–15 Hz, CoV < 0.1), which
    fasciculations never do. A short spike whose intervals are mostly shorter than the fastest
    fibrillation's (myokymic bursts, trains) is a small motor unit's. So is one whose discharges
    stand far above the detection threshold (``p2p_sd``, per unit the median p-p in noise SD, at
    least `fibrillation_clear_p2p_sd`) but that does not fire at fibrillation rates: such a fibre
    is found at each of its discharges, so its intervals are its firing's.
    """
    short = _fibre_like(waveforms_uv, counts, noise_uv, fs, pattern_params, 0.05)
    sharp = _fibre_like(waveforms_uv, counts, noise_uv, fs, pattern_params, 0.2)
    for k in np.nonzero(sharp & ~short)[0]:
        short[k] = _fires_like_a_fibre(times[k], pattern_params)
    # A short spike firing mostly faster than any fibrillation (bursts, trains) is a small motor unit.
    for k in np.nonzero(short)[0]:
        isi = np.diff(np.sort(np.asarray(times[k], dtype=np.float64)))
        short[k] = not (isi.size >= 2 and np.mean(isi < 1.0 / pattern_params.fibrillation_rate_hz[1]) > 0.5)
        if short[k] and p2p_sd is not None and p2p_sd[k] >= pattern_params.fibrillation_clear_p2p_sd:
            short[k] = isi.size >= 2 and np.median(isi) <= 1.0 / pattern_params.fibrillation_rate_hz[0]
    return short


def _fires_like_a_fibre(times: np.ndarray, pattern_params, min_intervals: int = 5) -> bool:
    """Most intervals at fibrillation rates lie within the regularity tolerance of their median
    (missed discharges give longer intervals; they do not make a train irregular)."""
    isi = np.diff(np.sort(np.asarray(times, dtype=np.float64)))
    lo, hi = 1.0 / pattern_params.fibrillation_rate_hz[1], 1.0 / pattern_params.fibrillation_rate_hz[0]
    isi = isi[(isi >= lo) & (isi <= hi)]
    if isi.size < min_intervals:
        return False
    m = np.median(isi)
    return bool(np.mean(np.abs(isi - m) <= pattern_params.fibrillation_max_cov * m) >= 0.5)


def _params(params) -> DetectionParams:
    if params is None:
        return DetectionParams()
    if isinstance(params, DetectionParams):
        return params
    if isinstance(params, dict):
        return DetectionParams.from_dict(params)
    if isinstance(params, (str, os.PathLike)):
        return DetectionParams.from_toml(params)
    from ..errors import ParameterError

    raise ParameterError(f"params must be a DetectionParams, a dict or a TOML file path; got {type(params).__name__}")


def detect(recording, params=None, *, hash_input: bool = True):
    """Detect spontaneous discharges in ``recording`` and summarise them per muscle.

    Parameters
    ----------
    recording : Recording or path
        A :class:`~emgkit.Recording` or a file ``emgkit.read`` can open.
    params : DetectionParams, dict or TOML path, optional
        Parameters per stage (default: the documented defaults).
    hash_input : bool
        Record the SHA-256 of the input's files (``Recording.files``: a WFDB record's header and
        data files, an EDF's sidecars) in the provenance; read in a background thread while the
        detector runs.

    Returns
    -------
    DetectionResult
    """
    # The waveform fits are many small matrix products: one BLAS thread is as fast, and several
    # threads spin against each other (and against numba's) when cores are shared (measured:
    # 20.6 s vs 3.7 s for a 30-s 64-channel file on a loaded 2-core machine).
    with _thread_pools().limit(limits=1, user_api="blas"):
        return _detect(recording, params, hash_input=hash_input)


def _hash_in_background(files):
    """``files_sha256`` at the lowest CPU priority (Linux: per thread) so that it takes the cores the
    detector leaves idle (its single-threaded stages) rather than theirs: 1 h of 64 channels is
    944 MB, ~0.5 s of SHA-256 on one core."""
    from ..results import files_sha256

    try:
        import threading

        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):   # no per-thread priority here: the hash just competes
        pass
    return files_sha256(files)


@functools.lru_cache(maxsize=1)
def _thread_pools():
    """threadpoolctl's view of the loaded thread pools, found once (a search costs ~10 ms per call);
    scipy's BLAS is loaded first so that it is among them."""
    import scipy.linalg  # noqa: F401
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _residual_peak_sd(peeled, data: np.ndarray, sigma: np.ndarray, channel: int, at: int) -> float:
    """|residual| (σ) of a peeled region on ``channel`` within one sample of ``at``."""
    lo, hi = max(at - 1, 0), at + 2
    row = np.searchsorted(peeled.used, channel) if peeled.used is not None else 0
    if peeled.residual is not None and row < len(peeled.used) and peeled.used[row] == channel:
        part = peeled.residual[row, lo:hi]
    else:  # a channel no template uses: nothing was subtracted there
        part = data[channel, lo:hi] / max(sigma[channel], 1e-12)
    return float(np.abs(part).max()) if part.size else 0.0


def _largest_apart(idx: np.ndarray, samples: np.ndarray, size: np.ndarray, apart: int) -> list:
    """Of candidates ``idx`` (in time order), the largest first, each further than ``apart`` samples
    from every one kept; returned in time order."""
    kept, at = [], []   # kept candidates, and their samples in sorted order
    for i in idx[np.argsort(-size[idx], kind="stable")]:
        s = int(samples[i])
        j = bisect.bisect_left(at, s)
        # Only the nearest kept sample on each side can be within `apart`.
        if (j < len(at) and at[j] - s <= apart) or (j > 0 and s - at[j - 1] <= apart):
            continue
        kept.append(int(i))
        at.insert(j, s)
    return sorted(kept, key=lambda i: samples[i])


def _offsets(sorted_times: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Each of ``t`` minus the nearest of ``sorted_times`` (inf when there is none)."""
    if sorted_times.size == 0:
        return np.full(np.shape(t), np.inf)
    j = np.searchsorted(sorted_times, t)
    before = t - sorted_times[np.maximum(j - 1, 0)]
    after = t - sorted_times[np.minimum(j, sorted_times.size - 1)]
    return np.where(np.abs(before) <= np.abs(after), before, after)


def _gaps(sorted_times: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Distance from each of ``t`` to the nearest of ``sorted_times`` (inf when there is none)."""
    return np.abs(_offsets(sorted_times, t))


def _train_rows(dis: pd.DataFrame, spans, read_filtered, sigma: np.ndarray, fs: float, duration: float,
                p: DetectionParams, next_unit: int, quiet: tuple = (),
                surface: bool = False) -> tuple[pd.DataFrame, dict, list]:
    """A muscle's discharge rows with each periodic span's train read from its signal
    (``trains.train_discharges``), the new units' (main channel, waveform) by unit id, and the
    (first, last) times of each train read.

    The train's unit is the one most of its peaks were already found as (else a new unit). Its
    rows inside the train that are on no peak are the train's other phases and leave; peaks no
    row marks yet are added. Spans are searched half a window beyond their ends, where trains
    start and stop inside a window that is not periodic as a whole. ``quiet``: (start, stop)
    samples of the muscle's quiet windows, on which the noise of the band-passed reading is
    measured (the one nearest the span). On ``surface`` electrodes the train is read at the
    sub-multiple of the span's interval that holds its power (``trains.fundamental_interval``).
    The train is read on the span's loudest channel or on the one that repeats best at its
    interval (``trains.periodic_channel``), whichever reads more discharges.
    On HD grids a second unit's train at another interval, on electrodes of its own
    (``trains.second_train``), is read as well; rows of the span's first train take no part in it.
    """
    from .trains import periodic_channel, second_train

    new_units = {}
    read = []
    pad = p.segments.window_s
    for span in spans:
        a = max(0, int((span.start - pad) * fs))
        b = min(int(np.ceil((span.end + pad) * fs)), int(round(duration * fs)))
        data = read_filtered(a, b)
        if data is None:
            continue
        data = np.nan_to_num(np.asarray(data, dtype=np.float64))
        c0, c1 = int(span.start * fs) - a, int(span.end * fs) - a
        # The train is read on the loudest channel or where the signal repeats best at its
        # interval, whichever reads more of it: on a grid another unit's discharges can make
        # the loudest electrode of the span.
        loudest = int(np.argmax(np.einsum("ij,ij->i", data[:, c0:c1], data[:, c0:c1])))
        readings = []
        for ch in dict.fromkeys((loudest, periodic_channel(data[:, c0:c1], fs, span.interval))):
            scratch = dict(new_units)
            got = _read_train(dis, data[ch], a, slice(c0, c1), ch, span.interval, read_filtered, sigma, fs, p,
                              next_unit + len(new_units), quiet, surface, (), scratch)
            readings.append((0 if got[2] is None else got[2].size, got, scratch, ch))
        _, (dis, unit, times, interval), new_units, main = max(readings, key=lambda r: r[0])
        if unit is None:
            continue
        read.append((float(times[0]), float(times[-1])))
        if not (surface and data.shape[0] >= p.spikes.grid_min_channels and p.units.grid_second_trains):
            continue
        other = second_train(data[:, c0:c1], fs, main, interval, p.segments)
        if other is None:
            continue
        added_units = dict(new_units)
        more, unit2, times2, _ = _read_train(dis, data[other[0]], a, slice(c0, c1), other[0], other[1],
                                             read_filtered, sigma, fs, p, next_unit + len(new_units),
                                             quiet, surface, (unit,), added_units)
        # The first train read again (its other electrodes, a multiple of its interval) fires at
        # its rate: no second train.
        if unit2 is None or times2.size < 3 or abs(np.log(np.median(np.diff(times2)) / np.median(np.diff(times)))) \
                < np.log(p.segments.train_interval_step):
            continue
        dis = more
        new_units.update(added_units)
        read.append((float(times2[0]), float(times2[-1])))
    return dis, new_units, read


def _read_train(dis, x, a, core, ch, interval, read_filtered, sigma, fs, p, new_unit, quiet, surface,
                claimed, new_units):
    """One train read from channel ``ch``'s signal ``x`` (starting at sample ``a``) into the rows
    (``_train_rows``); rows of the ``claimed`` units take no part. Returns (rows, unit, times,
    interval read at); unit None where no train was read. A new unit's (channel, waveform) goes
    into ``new_units``."""
    from .trains import fundamental_interval, train_band, train_discharges

    if surface:
        interval = fundamental_interval(x, fs, interval, p.segments.train_rate_hz[1], p.units, core=core)
    band_sigma = None
    if p.units.train_band and len(quiet):
        q0, q1 = min(quiet, key=lambda q: abs(q[0] - a))
        noise = read_filtered(q0, q1, rows=[ch])
        if noise is not None:
            y = train_band(noise[0], fs, interval, p.units)
            band_sigma = 1.4826 * float(np.median(np.abs(y - np.median(y))))
    peaks = train_discharges(x, fs, interval, float(sigma[ch]), p.patterns, p.units,
                             core=core, band_sigma=band_sigma, by_cycle=surface)
    if peaks.size == 0:
        return dis, None, None, interval
    times = (peaks + a) / fs
    near = interval * 0.5
    t = dis["time"].to_numpy()
    inside = np.nonzero((t >= times[0] - near) & (t <= times[-1] + near)
                        & ~np.isin(dis["unit"].to_numpy(), claimed))[0]
    on = _gaps(times, t[inside]) <= near
    units = dis["unit"].to_numpy()[inside]
    if on.sum() >= 3:
        values, counts = np.unique(units[on], return_counts=True)
        unit = int(values[np.argmax(counts)])
        # The wave peaks at one phase of the unit's MUAP; the unit's discharges are timed at
        # its template's peak: the train takes the unit's timing.
        times = times + float(np.median(_offsets(times, t[inside[on & (units == unit)]])))
        on = _gaps(times, t[inside]) <= near
    else:
        unit = new_unit
        idx = peaks[:, None] + np.arange(-int(near * fs), int(near * fs) + 1)[None, :]
        idx = np.clip(idx, 0, x.size - 1)
        new_units[unit] = (ch, np.median(x[idx], axis=0))
    drop = inside[~on & (units == unit)]
    free = _gaps(np.sort(t[inside[on]]), times) > near
    half = max(1, int(near * fs))
    amp = np.array([np.ptp(x[max(0, k - half):k + half + 1]) for k in peaks[free]])
    added = pd.DataFrame({"time": times[free], "unit": unit, "ch": ch, "amplitude": amp, "state": "rest",
                          "snr": np.abs(x[peaks[free]]) / max(float(sigma[ch]), 1e-12)})
    dis = pd.concat([dis.drop(index=dis.index[drop]), added], ignore_index=True) \
        .sort_values("time", kind="stable").reset_index(drop=True)
    return dis, unit, times, interval


def _split_doublets(dis: pd.DataFrame, doublets: dict, bank, p2p: np.ndarray, fs: float) -> pd.DataFrame:
    """Rows of a doublet template (``units.doublet_templates``) as the two discharges of its unit,
    each timed at that unit's peak in its copy and sized by its copy's scale (``p2p``: each
    template's peak-to-peak in µV on its timing channel)."""
    unit = dis["unit"].to_numpy()
    split = np.isin(unit, list(doublets))
    if not split.any():
        return dis
    rows = dis[split]
    norm = np.sqrt((bank.templates.astype(np.float64) ** 2).sum(axis=(1, 2)))
    new = []
    for row in rows.itertuples(index=False):
        k = int(row.unit)
        u, offsets, scales = doublets[k]
        start = row.time * fs - bank.peak_offset[k]
        fit_scale = row.amplitude / p2p[k] if p2p[k] > 0 else 1.0
        for off, a in zip(offsets, scales):
            new.append(dict(time=(start + off + bank.peak_offset[u]) / fs, unit=u, ch=int(bank.timing_channel[u]),
                            amplitude=float(fit_scale * a * p2p[u]), state=row.state,
                            snr=float(row.snr * a * norm[u] / max(norm[k], 1e-12))))
    out = pd.concat([dis[~split], pd.DataFrame(new, columns=dis.columns)], ignore_index=True)
    return out.astype(dis.dtypes.to_dict()).sort_values("time", kind="stable").reset_index(drop=True)


def _recorded_peak_from_fits(dis: pd.DataFrame, bank, read_windows, before: int, fs: float,
                              options: dict) -> pd.DataFrame:
    """Rows with each surface unit's discharges re-timed where its MUAP *as recorded*, read
    again around its fits (``units.recorded_peak_offsets``), peaks at another phase than the one
    its discharges were timed at; ``bank.peak_offset`` is updated.

    The first reading takes the unit's clustered candidates that no other candidate comes near;
    in dense activity (many units, candidates of noise and of other phases) few are, and the
    unit keeps the band-passed peak. Its fits are more, and only other units' fits count as
    neighbours here. Called before states are given, so "rest" rows are every fit peeling made
    (rest, contraction and cramp pieces alike: one MUAP shape), not rows set aside as excluded.
    ``options``: the keyword arguments of the first reading."""
    from .units import recorded_peak_offsets

    unit = dis["unit"].to_numpy()
    sel = np.nonzero((unit >= 0) & (unit < bank.n_units) & (dis["state"].to_numpy() == "rest"))[0]
    if sel.size == 0:
        return dis
    sel = sel[np.argsort(dis["time"].to_numpy()[sel], kind="stable")]
    k = unit[sel]
    # Each fit's window start, plus ``before``: where recorded_peak_offsets expects a candidate.
    at = np.round(dis["time"].to_numpy()[sel] * fs).astype(np.int64) - bank.peak_offset[k] + before
    new, timing = recorded_peak_offsets(read_windows, at, k, bank, before, return_timing=True, **options)
    if np.array_equal(new, bank.peak_offset) and np.array_equal(timing, bank.timing_channel):
        return dis
    # Every discharge of a unit is timed at one phase, whatever its state, and reported on its
    # timing electrode (amplitude: the fitted scale times the template's there).
    rows = np.nonzero((unit >= 0) & (unit < bank.n_units))[0]
    dis = dis.copy()
    u = unit[rows]
    dis.loc[dis.index[rows], "time"] = dis["time"].to_numpy()[rows] + (new - bank.peak_offset)[u] / fs
    moved = timing != bank.timing_channel
    if moved.any():
        p2p = np.ptp(bank.templates_uv(), axis=2)
        ratio = p2p[np.arange(bank.n_units), timing] / np.maximum(p2p[np.arange(bank.n_units), bank.timing_channel], 1e-12)
        on = moved[u]
        dis.loc[dis.index[rows[on]], "ch"] = timing[u[on]]
        dis.loc[dis.index[rows[on]], "amplitude"] = dis["amplitude"].to_numpy()[rows[on]] * ratio[u[on]]
    bank.peak_offset, bank.timing_channel = new, timing
    return dis.sort_values("time", kind="stable").reset_index(drop=True)


def _release_trains(segs: pd.DataFrame, trains: list) -> pd.DataFrame:
    """Segments with the stretches of the trains read from the signal ((first, last) s each) taken
    out of voluntary ones: one unit's train is spontaneous however dense its window looked."""
    rows = []
    for r in segs.itertuples(index=False):
        if r.state != "voluntary":
            rows.append(r._asdict())
            continue
        pieces = [(r.start, r.end)]
        for a, b in sorted(trains):
            pieces = [q for x, y in pieces for q in ((x, min(y, a)), (max(x, b), y)) if q[1] > q[0]]
        rows.extend({**r._asdict(), "start": x, "end": y} for x, y in pieces)
    return pd.DataFrame(rows, columns=segs.columns)


def _same_unit_rows(dis: pd.DataFrame, segs, periodic, bank, read_filtered, fs: float, p) -> pd.DataFrame:
    """Rest discharges a doublet's interval apart fitted by two units, relabelled where one unit's
    template explains both (``units.same_unit_pairs``); other rows unchanged. Not within periodic
    spans: a high-frequency train's discharges lie a doublet's interval apart too, and its
    discharges are read from the signal (``_train_rows``)."""
    from .._intervals import in_intervals
    from .segment import state_of_times
    from .units import same_unit_pairs

    dis = dis.sort_values("time", kind="stable").reset_index(drop=True)
    t = dis["time"].to_numpy()
    rest = np.nonzero((state_of_times(t, segs) == "rest") & ~in_intervals(t, periodic))[0]
    if rest.size < 2:
        return dis
    samples = np.round(t[rest] * fs).astype(np.int64)
    units = dis["unit"].to_numpy()[rest]

    def read_sd(a, b):
        x = read_filtered(a, b) if a >= 0 else None
        return None if x is None or x.shape[1] != b - a else x / bank.sigma[:, None]

    lags = tuple(int(round(v * fs / 1000)) for v in p.patterns.group_isi_ms)
    shift = max(1, int(round(p.units.same_unit_max_shift_ms * fs / 1000)))
    new_units, new_samples = same_unit_pairs(samples, units, read_sd, bank, lags, shift,
                                             p.units.min_scale, p.units.max_scale, p.units.same_unit_tolerance)
    changed = (new_units != units) | (new_samples != samples)
    if changed.any():
        rows = rest[changed]
        dis.loc[rows, "unit"] = new_units[changed]
        dis.loc[rows, "time"] = new_samples[changed] / fs
        dis.loc[rows, "ch"] = bank.timing_channel[new_units[changed]]
        dis = dis.sort_values("time", kind="stable").reset_index(drop=True)
    log.debug("same-unit pairs: %d of %d rest discharges relabelled", int(changed.sum()), rest.size)
    return dis


def _shared_heartbeats(reclassify: list, all_dis: list, all_ev: list, summaries: list, duration: float,
                       next_event: int, p) -> int:
    """Surface muscles that show the ECG are classified again with the heartbeats every surface
    muscle found (``events.classify_muscle``'s ``beats``), where those add beats of their own:
    one heart beats under every electrode at once, and a QRS near threshold on one muscle is
    missed at beats another muscle catches (its discharges there were "fasciculations"). Muscles
    where no beat was found are left alone (a leg far from the heart may show none). Events are
    numbered afresh in muscle order when any muscle was classified again. Returns next_event."""
    from .events import classify_muscle
    from .summary import muscle_summary

    found = [own for *_, own, _ in reclassify if own.size]
    if len(found) < 1 or len(reclassify) < 2:
        return next_event
    every = np.unique(np.concatenate(found))
    half = p.patterns.qrs_max_ms / 2000
    changed = False
    for i, dis_in, inputs, signal_beats, own, noise in reclassify:
        if own.size == 0 or not np.any(_gaps(own, every) > half):
            continue
        beats = every if signal_beats is None else np.r_[signal_beats, every]
        dis, ev, next_event = classify_muscle(dis_in, next_event=next_event, beats=beats, **inputs)
        all_dis[i], all_ev[i] = dis, ev
        summaries[i] = muscle_summary(inputs["muscle"], inputs["kind"], duration, noise, dis, ev,
                                      inputs["segments"], p.summary)
        changed = True
    if not changed:
        return next_event
    # Event ids in muscle order again (a muscle classified again numbered its events last).
    next_event = 0
    for i, (dis, ev) in enumerate(zip(all_dis, all_ev)):
        if not len(ev):
            continue
        new_id = dict(zip(ev["event"].to_numpy(), range(next_event, next_event + len(ev))))
        next_event += len(ev)
        # -1 (no event) is no key: it maps to NaN and back to -1.
        all_ev[i] = ev.assign(event=ev["event"].map(new_id))
        all_dis[i] = dis.assign(event=dis["event"].map(new_id).fillna(-1).astype(np.int64))
    return next_event


def _detect(recording, params, *, hash_input: bool):
    from .. import __version__
    from ..io import read
    from ..recording import Recording
    from ..results import DetectionResult, now_iso
    from .preprocess import filtered, plan_preprocessing, recorded_windows
    from .segment import recruitment_states, segment_group, state_of_times
    from .._intervals import in_intervals, merge_intervals
    from .spikes import _windows, detect_candidates
    from .summary import muscle_summary, unit_table
    from .events import classify_muscle
    from .patterns import common_power_beats
    from .units import (cluster_candidates, compound_templates, doublet_templates, peel_plan, peel_region,
                        refit_overlap_pairs,
                        recorded_peak_offsets, remnant_discharges, unit_families)

    timings = {}
    t0 = time.perf_counter()
    rec = recording if isinstance(recording, Recording) else read(recording)
    p = _params(params)
    timings["read"] = time.perf_counter() - t0
    # hashlib and file reads release the GIL: the hash reads the files beside the detector's work.
    hashing = None
    if hash_input and rec.files and all(os.path.isfile(f) for f in rec.files):
        hashing = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="emgkit-hash")
        digest = hashing.submit(_hash_in_background, rec.files)
    fs = rec.fs
    duration = rec.duration

    t = time.perf_counter()
    prep = plan_preprocessing(rec, p.preprocess)
    timings["preprocess"] = time.perf_counter() - t
    t = time.perf_counter()
    groups = detect_candidates(rec, prep, p.spikes, p.segments)
    timings["detect"] = time.perf_counter() - t

    all_dis, all_ev, all_seg, templates, summaries, qc_rows = [], [], [], {}, [], []
    # Surface muscles: (position, discharges before classification, classify_muscle's inputs,
    # beats read from the signal, heartbeats found, noise σ), for _shared_heartbeats.
    reclassify = []
    timings["units"] = timings["patterns"] = timings["segments"] = 0.0
    next_event = 0
    for gc in groups:
        sigma = prep.noise_uv[gc.channels]
        ch_names = np.array([prep.channels[i] for i in gc.channels], dtype=object)
        t = time.perf_counter()
        # Candidates nearer the ends than the surface guard are discharges but found no template:
        # a few candidates more or less change which waveforms found the greedy clustering's
        # templates, and a record's first and last tens of ms (settling) are its least typical.
        founders = None
        wide = int(round(p.spikes.edge_guard_ms * fs / 1000))
        if p.spikes.edge_guard_s(gc.kind) * fs < wide:
            founders = (gc.samples >= wide) & (gc.samples < rec.n_samples - wide)
        labels, bank, member_lag = cluster_candidates(gc, sigma, fs, p.units, return_lag=True, founders=founders)
        if p.units.recorded_peak_times and gc.kind != "needle":
            rec_channels = prep.rec_channel_indices[gc.channels]

            def read_windows(starts, length, ch):
                return recorded_windows(rec, prep, starts, length, int(rec_channels[ch]),
                                        p.units.recorded_peak_highpass_hz)

            recorded_peak = dict(
                min_shift=max(1, int(round(p.units.recorded_peak_min_shift_ms * fs / 1000))),
                robust=p.units.recorded_peak_robust_grids and len(gc.channels) >= p.spikes.grid_min_channels,
                min_t=p.units.recorded_peak_min_t,
                context_gap=int(round(p.units.recorded_peak_context_gap * bank.templates.shape[2])),
                channel_share=p.units.recorded_timing_channel_share if len(gc.channels) > 1 else 0.0,
                channel_min_t=p.units.recorded_peak_min_t)
            # Members of a copy merged at a lag were caught at another phase: they time no unit
            # (their windows are not aligned with the unit's) but are discharges beside others.
            timing_labels = np.where(member_lag != 0, -1, labels) if member_lag.any() else labels
            bank.peak_offset, bank.timing_channel = recorded_peak_offsets(
                read_windows, gc.samples, timing_labels, bank, gc.before, return_timing=True, **recorded_peak)
        off = gc.before
        cand_times = np.where(labels >= 0,
                              gc.samples - member_lag - off + bank.peak_offset[np.maximum(labels, 0)]
                              if bank.n_units else gc.samples,
                              gc.samples) / fs
        timings["units"] += time.perf_counter() - t
        t = time.perf_counter()
        unit_times = {k: np.sort(cand_times[labels == k]) for k in range(bank.n_units)}
        def read_filtered(a, b, rows=None, channels=gc.channels):
            b = min(b, rec.n_samples)
            chosen = channels if rows is None else channels[np.asarray(rows)]
            return filtered(rec, prep, a, b, clip_run=p.spikes.clip_run, channels=chosen) if b > a else None

        segs, periodic = segment_group(gc, unit_times, sigma, duration, p.segments, p.patterns,
                                       read_window=read_filtered, return_periodic=True)
        timings["segments"] += time.perf_counter() - t

        # Overlap resolution over the active regions in peeled states (rest, voluntary, cramp).
        t = time.perf_counter()
        cand_state = state_of_times(cand_times, segs)
        excluded_rows = []
        peeled_state = np.isin(cand_state, list(p.units.peel_states))
        for i in np.nonzero(~peeled_state & (labels != -2))[0]:  # -2: another phase of a unit
            k = int(labels[i])
            excluded_rows.append((cand_times[i], k, gc.main_channel[i] if k < 0 else bank.timing_channel[k],
                                  float(np.ptp(gc.snippets[i, gc.main_channel[i]].astype(np.float32))), cand_state[i], np.nan))
        peel_idx = np.nonzero(peeled_state)[0]
        doublets = {}
        w = gc.before + gc.after
        peeled_rows = []
        peeled_parts = []
        next_unit = bank.n_units
        lone_channel = {}   # lone discharge's unit -> its main channel
        if peel_idx.size:
            s = gc.samples[peel_idx]
            lo = np.maximum(s - w, 0)
            hi = np.minimum(s + w + 1, rec.n_samples)
            tmpl_uv = bank.templates_uv()
            p2p = np.ptp(tmpl_uv[np.arange(bank.n_units), bank.timing_channel], axis=1) if bank.n_units else np.zeros(0)
            # Units seen often are tried everywhere; rare ones only where their candidates lie.
            common = np.nonzero(bank.counts >= p.units.min_recurring)[0]
            # A template of overlapping MUAPs would fit two discharges as one (needles only: see
            # UnitParams.compound_min_explained).
            if gc.kind == "needle":
                common = common[~compound_templates(bank, common, fs, p.units)]
                # In a contraction overlaps of different units are common: there a looser test
                # (UnitParams.contraction_compound_min_explained).
                contraction_common = common
                if np.any(cand_state[peel_idx] == "voluntary"):
                    loose = dataclasses.replace(p.units,
                                                compound_min_explained=p.units.contraction_compound_min_explained)
                    contraction_common = common[~compound_templates(bank, common, fs, loose)]
            else:
                # On surface electrodes only a unit's own doublet learnt as a template: two other
                # units' long, smooth MUAPs sum into look-alikes (see UnitParams.compound_min_explained).
                lags = tuple(int(round(v * fs / 1000)) for v in p.patterns.group_isi_ms)
                common = common[~compound_templates(bank, common, fs, p.units, same_unit_lags=lags)]
                # A template learnt from one unit's doublets peels as one: its fits are two discharges.
                if p.units.split_doublet_templates:
                    doublets = doublet_templates(bank, common, lags, p.units)
                contraction_common = common
            # Many electrodes give many chances for noise to cross a threshold once.
            confirm = p.spikes.grid_confirm_sd if len(gc.channels) >= p.spikes.grid_min_channels else p.spikes.confirm_sd
            floors = np.where(bank.counts >= p.units.min_recurring, p.units.min_peak_sd, confirm)
            # On a grid a MUAP lasts 10–30 ms and peaks on different electrodes up to ~10 ms apart;
            # a polyphasic needle MUAP's phases lie a few ms apart: unexplained candidates that
            # close are its other phases.
            merge_ms = p.spikes.grid_lone_merge_ms if len(gc.channels) >= p.spikes.grid_min_channels else \
                p.spikes.needle_lone_merge_ms if gc.kind == "needle" else 0.0
            lone_merge = int(round(merge_ms * fs / 1000))
            peak_sd = gc.peak_uv / np.maximum(sigma[gc.main_channel], 1e-12)
            # A candidate farther than the candidate stage's exclusion window from every fit, and
            # still standing above the confirmation threshold in the residual, is a discharge the
            # fits missed: in a fast train a template that holds its neighbours' MUAPs explains one
            # discharge of two, and each fit lies within half a window of both.
            apart = _windows(p.spikes, gc.kind, fs)[2]
            peeling_units = set(common.tolist())
            # A lone discharge on several electrodes is timed as units are (UnitBank.timing_channel):
            # at the largest |peak| of its electrode of largest peak-to-peak in µV, not where the
            # candidate was caught (a propagating grid MUAP peaks on each electrode at another time).
            multi = len(gc.channels) > 1 and p.units.lone_timing_channel
            lone_rows = []
            # Long active regions are peeled in overlapping pieces; each keeps the discharges of its core.
            max_piece = max(int(p.units.peel_piece_s * fs), 8 * w)
            plan = peel_plan(bank, p.units, units=common, min_peak_sd=floors)
            # Rest time is peeled only with units seen at rest: a template learnt from a cramp's or
            # a contraction's overlapping MUAPs would "explain" a fasciculation at a wrong phase.
            at_rest = np.bincount(labels[(labels >= 0) & (cand_state == "rest")], minlength=bank.n_units)
            seen_at_rest = common[at_rest[common] >= p.units.min_recurring]
            # Mostly the same units: then one plan (and one cross-correlation cache) serves both.
            rest_plan = plan if seen_at_rest.size == common.size else \
                peel_plan(bank, p.units, units=seen_at_rest, min_peak_sd=floors)
            contraction_plan = None   # peels a contraction's pieces on needles (built when first needed)
            # A needle's overlapping MUAPs in a contraction: a third template fitted between two
            # units' discharges is re-fitted as the pair (UnitParams.pair_refit_min_gain).
            refit_spans = [] if gc.kind != "needle" or p.units.pair_refit_min_gain <= 0 else \
                [(r.start, r.end) for r in segs.itertuples(index=False) if r.state in p.units.pair_refit_states]
            for a, b, c0, c1 in _pieces(merge_intervals(lo, hi), max_piece, w):
                data = gc.regions.get((a, b))
                if data is None:
                    data = filtered(rec, prep, a, b, clip_run=p.spikes.clip_run)[gc.channels]
                # Candidates are in time order: the piece's core is one slice of them.
                inside = slice(*np.searchsorted(s, [c0, c1]))
                # Only recurring templates peel: a rare template is one candidate's own waveform,
                # overlaps included, and would "explain" its neighbours with a wrong unit and time.
                # Candidates they leave unexplained are kept below, at their own peak.
                only_rest = bool(np.all(cand_state[peel_idx[inside]] == "rest"))
                piece_plan = rest_plan if only_rest else plan
                if contraction_common.size < common.size and np.any(cand_state[peel_idx[inside]] == "voluntary"):
                    if contraction_plan is None:
                        contraction_plan = peel_plan(bank, p.units, units=contraction_common, min_peak_sd=floors)
                    piece_plan = contraction_plan
                peeled = peel_region(data, a, bank, fs, p.units, plan=piece_plan)
                if refit_spans and in_intervals(peeled.samples / fs, refit_spans).any():
                    allowed = np.isin(state_of_times(peeled.samples / fs, segs), p.units.pair_refit_states)
                    peeled = refit_overlap_pairs(peeled, a, piece_plan, p.units, fs, allowed)
                keep = (peeled.samples >= c0) & (peeled.samples < c1)
                peeled.samples, peeled.units = peeled.samples[keep], peeled.units[keep]
                peeled.scales, peeled.snr = peeled.scales[keep], peeled.snr[keep]
                # Columns, not per-discharge tuples: a long busy recording has ~10⁵–10⁶ discharges
                # (and one DataFrame per piece cost more than the peeling on a quiet file).
                if peeled.samples.size:
                    peeled_parts.append((peeled.samples / fs, peeled.units.astype(np.int64),
                                         bank.timing_channel[peeled.units].astype(np.int64),
                                         peeled.scales * p2p[peeled.units], peeled.snr))
                # A candidate no template explained is still a discharge: its own unit.
                lone, between = [], []
                for i in peel_idx[inside]:
                    if labels[i] == -2 or gc.peak_uv[i] < confirm * sigma[gc.main_channel[i]]:
                        continue
                    gap = np.abs(peeled.samples - gc.samples[i]).min(initial=w)
                    if gap > w // 2:
                        lone.append(i)
                    elif gap > apart and _residual_peak_sd(peeled, data, sigma, int(gc.main_channel[i]),
                                                           int(gc.samples[i]) - a) >= confirm:
                        # Between fits: a discharge of its own clustered unit when that unit peels
                        # (timed at that unit's peak, which must not be a fit's either).
                        if labels[i] not in peeling_units:
                            lone.append(i)
                        elif np.abs(peeled.samples - cand_times[i] * fs).min(initial=w) > apart:
                            between.append(i)
                for i in between:
                    k = int(labels[i])
                    peeled_rows.append((cand_times[i], k, int(bank.timing_channel[k]),
                                        float(np.ptp(gc.snippets[i, gc.main_channel[i]].astype(np.float32))), "rest",
                                        float(gc.peak_uv[i] / max(sigma[gc.main_channel[i]], 1e-12))))
                if lone_merge and len(lone) > 1:
                    if gc.kind == "needle":
                        # In a contraction a needle's overlapping discharges are different units'.
                        at_rest = [i for i in lone if cand_state[i] == "rest"]
                        lone = sorted([i for i in lone if cand_state[i] != "rest"] + (
                            _largest_apart(np.asarray(at_rest), gc.samples, peak_sd, lone_merge)
                            if len(at_rest) > 1 else at_rest), key=lambda i: gc.samples[i])
                    else:
                        lone = _largest_apart(np.asarray(lone), gc.samples, peak_sd, lone_merge)
                for i in lone:
                    mc, at = _lone_timing(gc.snippets[i], gc.before) if multi else (int(gc.main_channel[i]), 0)
                    lone_rows.append((len(peeled_rows), int(gc.samples[i])))
                    peeled_rows.append(((gc.samples[i] + at) / fs, next_unit, mc,
                                        float(np.ptp(gc.snippets[i, mc].astype(np.float32))),
                                        "rest", float(gc.peak_uv[i] / max(sigma[gc.main_channel[i]], 1e-12))))
                    # One waveform per lone discharge: its main channel only (a grid has ~10⁴ of
                    # them per hour; all channels would grow memory with the recording's length).
                    templates[(gc.muscle, next_unit)] = gc.snippets[i, mc][None].astype(np.float32)
                    lone_channel[next_unit] = mc
                    next_unit += 1
            # Lone discharges crowded next to a contraction are its recruitment.
            if lone_rows:
                rows, lone_samples = zip(*lone_rows)
                states = recruitment_states(np.array(lone_samples), gc.samples, fs, segs, p.segments)
                for r, state in zip(rows, states):
                    if state != "rest":
                        peeled_rows[r] = peeled_rows[r][:4] + (state,) + peeled_rows[r][5:]
        columns = ["time", "unit", "ch", "amplitude", "state", "snr"]
        parts = [pd.DataFrame(excluded_rows + peeled_rows, columns=columns)]
        if peeled_parts:
            cols = [np.concatenate(c) for c in zip(*peeled_parts)]
            parts.append(pd.DataFrame({"time": cols[0], "unit": cols[1], "ch": cols[2], "amplitude": cols[3],
                                       "state": "rest", "snr": cols[4]}))
        dis = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        dis = dis.astype({"time": "float64", "unit": "int64", "ch": "int64", "amplitude": "float64", "snr": "float64"})
        if doublets and len(dis):
            dis = _split_doublets(dis, doublets, bank, p2p, fs)
        broad = _broad_units(bank, p.spikes)
        if p.units.recorded_peak_times and p.units.recorded_peak_from_fits and gc.kind != "needle" and len(dis):
            dis = _recorded_peak_from_fits(dis, bank, read_windows, gc.before, fs, recorded_peak)
        if gc.kind != "needle" and len(dis):
            # A surface MUAP whose shape varies leaves a remnant after its unit's fit, which
            # another template then fits within the same MUAP. A far field spread over a grid
            # (the ECG) makes no remnants: a MUAP beside a QRS is its own.
            u_dis = dis["unit"].to_numpy()
            in_bank = (u_dis >= 0) & (u_dis < broad.size)
            far_field = np.zeros(len(dis), dtype=bool)
            far_field[in_bank] = broad[u_dis[in_bank]]
            # Closer than a unit's shortest interval (UnitParams.coincident_max_ms), the smaller of
            # two units' discharges is the other's remnant however large.
            remnant = remnant_discharges(dis["time"].to_numpy(), u_dis, dis["snr"].to_numpy(),
                                         w / fs, p.units.remnant_max_share, sources=~far_field,
                                         near_s=p.units.coincident_max_ms / 1000)
            dis = dis[~remnant].reset_index(drop=True)
        elif gc.kind == "needle" and p.units.needle_remnant_max_share > 0 and len(dis):
            # A lone candidate (no template) beside a far larger fitted MUAP is that MUAP's late
            # phase the fit left: its satellite potentials vary from discharge to discharge.
            u_dis = dis["unit"].to_numpy()
            remnant = remnant_discharges(dis["time"].to_numpy(), u_dis, dis["snr"].to_numpy(), w / fs,
                                         p.units.needle_remnant_max_share,
                                         sources=(u_dis >= 0) & (u_dis < bank.n_units))
            dis = dis[~(remnant & (u_dis >= bank.n_units))].reset_index(drop=True)
        if gc.kind != "needle" and p.units.same_unit_pairs and bank.n_units and len(dis) > 1:
            dis = _same_unit_rows(dis, segs, periodic, bank, read_filtered, fs, p)
        trains_read = []
        if periodic:
            # The quietest tenth of the muscle's valid windows (their noise, not a train's ripple;
            # not a flat or invalid stretch).
            power = gc.window_power
            valid = np.nonzero((gc.window_bad == 0) & (power > 0))[0]
            quiet_idx = valid[power[valid] <= np.percentile(power[valid], 10)] if valid.size else valid
            quiet = tuple((int(i) * gc.window, (int(i) + 1) * gc.window) for i in quiet_idx)
            dis, trained, trains_read = _train_rows(dis, periodic, read_filtered, sigma, fs, duration, p,
                                                    next_unit, quiet, surface=gc.kind != "needle")
            for k, (mc, wave) in trained.items():
                templates[(gc.muscle, k)] = wave[None].astype(np.float32)
                lone_channel[k] = mc
            next_unit += len(trained)
            if p.segments.read_trains_spontaneous and trains_read and len(segs):
                segs = _release_trains(segs, trains_read)
        if len(dis):
            dis["state"] = np.where(dis["state"] == "rest", state_of_times(dis["time"].to_numpy(), segs), dis["state"])
        guard = p.spikes.edge_guard_s(gc.kind)
        dis = dis[(dis["time"] >= guard) & (dis["time"] < duration - guard)]
        dis = dis.sort_values("time", kind="stable").reset_index(drop=True)
        dis["muscle"] = gc.muscle
        dis["channel"] = ch_names[dis["ch"].to_numpy(dtype=np.int64)] if len(dis) else []
        dis["event"] = -1
        dis["kind"] = ""
        timings["units"] += time.perf_counter() - t

        # Patterns per unit over rest discharges.
        t = time.perf_counter()
        fibre = np.zeros(next_unit, dtype=bool)
        if gc.kind == "needle" and next_unit:
            # Main-channel waveform of every unit: bank templates, then lone candidates.
            waves = [t_uv[m] for t_uv, m in zip(bank.templates_uv(), bank.main_channel)]
            noise = list(sigma[bank.main_channel]) if bank.n_units else []
            for k in range(bank.n_units, next_unit):
                waves.append(templates[(gc.muscle, k)][0])
                noise.append(sigma[lone_channel[k]])
            counts = np.r_[bank.counts, np.ones(next_unit - bank.n_units)]
            rest_dis = dis[dis["state"] == "rest"]
            ru, rt = rest_dis["unit"].to_numpy(), rest_dis["time"].to_numpy()
            order = np.argsort(ru, kind="stable")
            bounds = np.searchsorted(ru[order], np.arange(next_unit + 1))
            times = [rt[order[bounds[k]:bounds[k + 1]]] for k in range(next_unit)]
            # Sizes in noise SD from p-p amplitudes (a fit's ``snr`` is a matched filter's, a lone
            # candidate's its peak: not comparable); per-unit medians from one sort by (unit,
            # amplitude), as a needle hour has ~10⁴ lone units.
            ra = rest_dis["amplitude"].to_numpy()
            ra = ra[np.lexsort((ra, ru))]
            n = np.diff(bounds)
            has = n > 0
            p2p_sd = np.zeros(next_unit)
            p2p_sd[has] = 0.5 * (ra[bounds[:-1][has] + (n[has] - 1) // 2] + ra[bounds[:-1][has] + n[has] // 2])
            p2p_sd /= np.maximum(np.asarray(noise, dtype=np.float64), 1e-12)
            fibre = _fibre_units(np.stack(waves), counts, np.asarray(noise), times, fs, p.patterns, p2p_sd)
        families = unit_families(bank, min_correlation=p.patterns.family_min_correlation)
        signal_beats = None if gc.common_power is None else \
            common_power_beats(gc.common_power, gc.common_step / fs, p.patterns)
        inputs = dict(muscle=gc.muscle, kind=gc.kind, fibre=fibre, segments=segs, params=p, families=families,
                      broad=broad, n_channels=len(gc.channels), periodic=periodic, trains=trains_read)
        own_beats = []
        dis_in = dis   # classify_muscle returns new frames
        dis, ev, next_event = classify_muscle(dis_in, next_event=next_event, beats=signal_beats,
                                              heartbeats_out=own_beats, **inputs)
        if gc.kind != "needle":
            reclassify.append((len(all_dis), dis_in, inputs, signal_beats,
                               own_beats[0] if own_beats else np.zeros(0), float(np.median(sigma))))
        timings["patterns"] += time.perf_counter() - t

        t = time.perf_counter()
        for k, tmpl in enumerate(bank.templates_uv()):
            templates[(gc.muscle, int(k))] = tmpl.astype(np.float32)
        summaries.append(muscle_summary(gc.muscle, gc.kind, duration, float(np.median(sigma)), dis, ev, segs,
                                        p.summary))
        for ci, name in zip(gc.channels, ch_names):
            qc_rows.append({"muscle": gc.muscle, "channel": name, "noise_uv": float(prep.noise_uv[ci]),
                            "mains_hz": float(prep.mains_hz) if prep.mains_hz else np.nan,
                            "band_low_hz": prep.band_hz[0], "band_high_hz": prep.band_hz[1],
                            "flat": bool(prep.noise_uv[ci] < p.segments.flat_uv)})
        all_dis.append(dis)
        all_ev.append(ev)
        all_seg.append(segs)
        timings["summary"] = timings.get("summary", 0.0) + time.perf_counter() - t

    if p.patterns.shared_heartbeats:
        t = time.perf_counter()
        next_event = _shared_heartbeats(reclassify, all_dis, all_ev, summaries, duration, next_event, p)
        timings["patterns"] += time.perf_counter() - t
    discharges = pd.concat(all_dis, ignore_index=True) if all_dis else pd.DataFrame()
    discharges = discharges[["time", "muscle", "channel", "unit", "amplitude", "event", "state", "kind", "snr"]]
    discharges = discharges.astype({"time": "float64", "unit": "int64", "amplitude": "float64", "event": "int64"})
    events = pd.concat(all_ev, ignore_index=True) if all_ev else pd.DataFrame()
    segments = pd.concat([s for s in all_seg if len(s)], ignore_index=True) if any(len(s) for s in all_seg) \
        else pd.DataFrame(columns=["muscle", "state", "start", "end"])
    rest_s = {s["muscle"]: s["rest_s"] for s in summaries}
    units = unit_table(discharges, rest_s)
    timings["total"] = time.perf_counter() - t0
    input_sha256, input_files = None, [{"path": f, "sha256": None} for f in rec.files]
    if hashing is not None:
        input_sha256, input_files = digest.result()
        hashing.shutdown()
    provenance = {
        "emgkit_version": __version__, "created": now_iso(), "input_path": rec.path,
        "input_sha256": input_sha256, "input_files": input_files,
        "input_format": rec.format, "fs": fs, "n_samples": rec.n_samples, "n_channels": rec.n_channels,
        "mains_hz": prep.mains_hz, "band_hz": list(prep.band_hz), "timings": timings,
    }
    from ..results import SCHEMA_VERSION

    provenance["schema_version"] = SCHEMA_VERSION
    return DetectionResult(discharges=discharges, events=events, segments=segments, units=units,
                           templates=templates, summary=pd.DataFrame(summaries), qc=pd.DataFrame(qc_rows),
                           params=p.to_dict(), provenance=provenance)


class _CallableModule(sys.modules[__name__].__class__):
    """``emgkit.detect`` stays callable after ``import emgkit.detect.<stage>`` replaces the lazy attribute."""

    def __call__(self, *args, **kwargs):
        return detect(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
