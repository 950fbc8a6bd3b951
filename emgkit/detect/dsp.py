"""Signal-processing building blocks of the detector: filter design, zero-phase filtering,
robust noise, peaks of |x|, snippet extraction.

Each function validates and converts its input once (scipy style: float32,
C-contiguous, channels × samples; a 1-D signal is one channel) and hands it to
a numba kernel in ``_kernels.py``; ``_naive.py`` holds plain NumPy/scipy twins
with the same semantics, used by the tests. numba loads on the first call, not
on import.

NaN: ``filter_zero_phase`` does not treat NaN specially (a NaN spreads through
the IIR state to the rest of its channel), so callers replace NaN by 0 before
filtering and mask afterwards. ``noise_sigma`` ignores NaN; ``find_abs_peaks``
never reports a NaN and ignores NaN neighbours.
"""
from __future__ import annotations

import logging
import functools
import operator

import numpy as np

from ..errors import ParameterError

log = logging.getLogger("emgkit")

#: σ = MAD / Φ⁻¹(3/4) for Gaussian noise (Φ⁻¹(0.75) = 0.6744897...; often rounded to 0.6745).
MAD_TO_SIGMA = 0.6744897501960817

#: Samples per block in the filter kernel (float64 work buffer of 16 KiB: stays in L1).
_FILTER_BLOCK = 2048


def _kernels():
    from . import _kernels
    from .._numba import configure_threads

    configure_threads()
    return _kernels


def _as_block(x, name: str = "x", *, writable: bool = False) -> tuple[np.ndarray, bool]:
    """``x`` as float32 C-contiguous (n_channels, n_samples), converting at most once; (block, was_1d)."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise ParameterError(f"{name} must be a real numeric array; got dtype {arr.dtype}")
    if arr.ndim not in (1, 2):
        raise ParameterError(f"{name} must be 1-D (n_samples) or 2-D (n_channels, n_samples); got shape {arr.shape}")
    was_1d = arr.ndim == 1
    if was_1d:
        arr = arr[np.newaxis, :]
    if arr.dtype != np.float32 or not arr.flags.c_contiguous or (writable and not arr.flags.writeable):
        arr = np.ascontiguousarray(arr, dtype=np.float32)
    return arr, was_1d


def _positive_number(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number; got {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise ParameterError(f"{name} must be a positive number; got {value!r}")
    return v


def _count(name: str, value, minimum: int = 0) -> int:
    try:
        v = operator.index(value)
    except TypeError:
        if isinstance(value, float) and value.is_integer():
            v = int(value)
        else:
            raise ParameterError(f"{name} must be an integer; got {value!r}") from None
    if v < minimum:
        raise ParameterError(f"{name} must be >= {minimum}; got {v}")
    return int(v)


# ----------------------------------------------------------------------------- filter design
def design_sos(fs: float, band=None, notch_hz: float | None = None, *, order: int = 2,
               n_harmonics: int = 3, notch_q: float = 30.0) -> np.ndarray:
    """Second-order sections of a Butterworth band-pass plus mains notches.

    Parameters
    ----------
    fs : float
        Sampling rate (Hz).
    band : (low, high) or None
        Pass band edges in Hz; ``low`` None/0 gives a low-pass, ``high`` None a
        high-pass, ``band=None`` no band filter. ``scipy.signal.butter(order,
        ..., output="sos")``: a band-pass has ``2 * order`` poles.
    notch_hz : float or None
        Mains frequency f0: IIR notches (``scipy.signal.iirnotch(f, notch_q, fs)``)
        at f0, 2·f0, ..., the first ``n_harmonics`` below Nyquist.
    order, n_harmonics, notch_q
        Butterworth order per edge, number of notched harmonics, notch quality factor.

    Returns
    -------
    sos : float64 array (n_sections, 6), a0 = 1 in every section; (0, 6) for no filter.
    """
    from scipy import signal

    fs = _positive_number("fs (Hz)", fs)
    nyquist = fs / 2
    order = _count("filter order", order, 1)
    sections = []
    if band is not None:
        try:
            low, high = band
        except (TypeError, ValueError):
            raise ParameterError(f"band must be (low_hz, high_hz) or None; got {band!r}") from None
        low = None if low is None or float(low) == 0 else _positive_number("band low edge (Hz)", low)
        high = None if high is None else _positive_number("band high edge (Hz)", high)
        if low is not None and low >= nyquist:
            raise ParameterError(f"band low edge (Hz) must be below fs/2 = {nyquist}, got {low}")
        if high is not None and high >= nyquist:
            raise ParameterError(f"band high edge (Hz) must be below fs/2 = {nyquist}, got {high}")
        if low is not None and high is not None and low >= high:
            raise ParameterError(f"band low edge ({low} Hz) must be below the high edge ({high} Hz)")
        if low is not None and high is not None:
            sections.append(signal.butter(order, [low, high], btype="bandpass", fs=fs, output="sos"))
        elif low is not None:
            sections.append(signal.butter(order, low, btype="highpass", fs=fs, output="sos"))
        elif high is not None:
            sections.append(signal.butter(order, high, btype="lowpass", fs=fs, output="sos"))
    if notch_hz is not None:
        f0 = _positive_number("notch_hz (mains frequency, Hz)", notch_hz)
        if f0 >= nyquist:
            raise ParameterError(f"notch_hz (Hz) must be below fs/2 = {nyquist}, got {f0}")
        q = _positive_number("notch_q", notch_q)
        n_harmonics = _count("n_harmonics", n_harmonics, 1)
        for k in range(1, n_harmonics + 1):
            f = k * f0
            if f >= nyquist:
                log.debug("design_sos: harmonic %g Hz is above fs/2 = %g Hz; not notched", f, nyquist)
                break
            b, a = signal.iirnotch(f, q, fs=fs)
            sections.append(signal.tf2sos(b, a))
    if not sections:
        return np.zeros((0, 6))
    sos = np.ascontiguousarray(np.concatenate(sections, axis=0), dtype=np.float64)
    return sos / sos[:, 3:4]


def default_pad(sos: np.ndarray) -> int:
    """scipy.signal.sosfiltfilt's default pad length for ``sos``."""
    sos = np.asarray(sos)
    n_sections = sos.shape[0]
    if n_sections == 0:
        return 0
    zeros = min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    return 3 * (2 * n_sections + 1 - zeros)


def _check_sos(sos) -> np.ndarray:
    arr = np.asarray(sos, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 6:
        raise ParameterError(f"sos must be an array (n_sections, 6) of second-order sections; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ParameterError("sos contains NaN or infinite coefficients")
    if arr.shape[0] and np.any(arr[:, 3] == 0):
        raise ParameterError("sos has a section with a0 = 0")
    return np.ascontiguousarray(arr / arr[:, 3:4]) if arr.shape[0] else arr.reshape(0, 6)


# ----------------------------------------------------------------------------- filtering
def filter_zero_phase(x, sos, pad: int | None = None, out=None) -> np.ndarray:
    """Zero-phase IIR filtering of each channel: ``scipy.signal.sosfiltfilt(x, padtype="odd", padlen=pad)``.

    Edges: odd extension of ``pad`` samples (default: sosfiltfilt's,
    ``3 * (2 * n_sections + 1 - ...)``) and steady-state initial conditions
    (``sosfilt_zi``), exactly as sosfiltfilt; a channel with ``n <= pad``
    samples uses ``pad = n - 1``. Samples are float32 in and out; the filter
    state is float64. Parallel over channels. ``out`` may be ``x`` itself (in
    place) when ``x`` is float32, C-contiguous and writable. NaN is not special:
    replace it (e.g. by 0) before filtering.

    Returns float32 (n_channels, n_samples) (1-D in, 1-D out).
    """
    block, was_1d = _as_block(x)
    sos = _check_sos(sos)
    n = block.shape[1]
    pad = default_pad(sos) if pad is None else _count("pad", pad)
    pad = min(pad, max(n - 1, 0))
    if out is None:
        result = np.empty_like(block)
    else:
        result = out[np.newaxis, :] if (was_1d and np.ndim(out) == 1) else out
        if (not isinstance(result, np.ndarray) or result.dtype != np.float32 or not result.flags.c_contiguous
                or not result.flags.writeable or result.shape != block.shape):
            raise ParameterError(
                f"out must be a writable C-contiguous float32 array of shape {block.shape}; "
                f"got {getattr(out, 'dtype', type(out).__name__)} {np.shape(out)}"
            )
    if block.size:
        zi = _steady_state(sos.tobytes(), sos.shape[0]) if sos.shape[0] else np.zeros((0, 2))
        _kernels().filtfilt(block, result, sos, zi, pad, _FILTER_BLOCK)
    if was_1d:
        return out if out is not None and np.ndim(out) == 1 else result[0]
    return result


@functools.lru_cache(maxsize=16)
def _steady_state(sos_bytes: bytes, n_sections: int) -> np.ndarray:
    """``scipy.signal.sosfilt_zi`` of a filter (computed once per filter: each chunk asked again)."""
    from scipy import signal

    return np.ascontiguousarray(signal.sosfilt_zi(np.frombuffer(sos_bytes, dtype=np.float64).reshape(n_sections, 6)))


@functools.lru_cache(maxsize=16)
def _decay_length(sos_bytes: bytes, n_sections: int) -> int:
    """Samples after which the filter's impulse response stays below 1e-9 of its peak."""
    from scipy import signal

    sos = np.frombuffer(sos_bytes, dtype=np.float64).reshape(n_sections, 6).copy()
    n = 1024
    while n < 1 << 24:
        impulse = np.zeros(n)
        impulse[0] = 1.0
        h = np.abs(signal.sosfilt(sos, impulse))
        above = np.flatnonzero(h > 1e-9 * h.max())
        if above[-1] < n // 2:
            return int(above[-1]) + 1
        n *= 2
    return n


def filter_zero_phase_split(x, sos, pad: int | None = None, pieces: int = 16) -> np.ndarray:
    """``filter_zero_phase`` of a few long channels, each cut into ``pieces`` overlapping pieces
    filtered side by side.

    The IIR recursion runs along time, so one channel keeps one SIMD lane of one core busy; as
    pieces it fills the lanes of both cores. Each piece carries, on each inner side, the samples
    over which the filter's impulse response decays below 1e-9 of its peak (fewer pieces when that
    is long, so each is at least one such overlap), and the first and last pieces end at the span's
    own edges (with the same odd extension of ``pad``): the result equals the whole-span filtering
    to float32 rounding. Short spans are filtered whole.
    """
    block, was_1d = _as_block(x)
    sos = _check_sos(sos)
    n_ch, n = block.shape
    pieces = _count("pieces", pieces, 1)
    if sos.shape[0] == 0 or pieces == 1:
        return filter_zero_phase(x, sos, pad=pad)
    overlap = _decay_length(sos.tobytes(), sos.shape[0])
    # Pieces at least one overlap long (the overlaps then at most triple the work, which full
    # 8-lane groups repay: they run ~4x faster than one lane; partial groups do not): half as
    # many pieces when they would be shorter, else the span whole (notches ring long).
    fits = [k for k in (pieces, pieces // 2) if k >= 2 and n // k >= overlap]
    if not fits:
        return filter_zero_phase(x, sos, pad=pad)
    pieces = fits[0]
    core = -(-n // pieces)
    length = core + 2 * overlap
    pad_outer = default_pad(sos) if pad is None else _count("pad", pad)
    if n < 2 * length or pad_outer > length - 1:  # too short to gain
        return filter_zero_phase(x, sos, pad=pad)
    starts = np.clip(np.arange(pieces) * core - overlap, 0, n - length)
    stacked = np.empty((n_ch * pieces, length), np.float32)
    for k, a in enumerate(starts):
        stacked[k::pieces] = block[:, a:a + length]
    # Every piece gets the span's edge extension; at inner edges it decays within the overlap.
    filtered = filter_zero_phase(stacked, sos, pad=pad_outer, out=stacked)
    result = np.empty_like(block)
    for k, a in enumerate(starts):
        lo, hi = k * core, min(n, (k + 1) * core)
        if lo < hi:
            result[:, lo:hi] = filtered[k::pieces, lo - a:hi - a]
    return result[0] if was_1d else result


# ----------------------------------------------------------------------------- noise
def noise_sigma(x, subsample: int = 1) -> np.ndarray:
    """Robust noise σ per channel: median(|x − median(x)|) / 0.6745 (MAD), NaN ignored.

    One histogram pass per channel after a rough estimate from ~8192 strided
    samples; relative error vs the exact MAD ≤ 1e-3 (tested against the
    ``np.median`` twin), exact for channels under 4096 samples and when the
    histogram window misses (then the channel is copied). For integer-valued
    (quantised) data the histogram interpolates between quantisation levels
    where the exact median jumps between them. ``subsample=k`` reads every
    k-th sample only. A constant channel gives 0, an all-NaN channel NaN.

    Returns float64 (n_channels,) (a 1-D input gives shape (1,)).
    """
    block, _ = _as_block(x)
    stride = _count("subsample", subsample, 1)
    n_ch, n = block.shape
    if n == 0:
        return np.full(n_ch, np.nan)
    from numba import get_num_threads

    kernels = _kernels()
    n_parts = max(1, -(-get_num_threads() // n_ch)) if n >= 1 << 20 else 1  # split long single channels over threads
    return kernels.mad(block, stride, n_parts) / MAD_TO_SIGMA


# ----------------------------------------------------------------------------- peaks
def masked_noise_sigma(x, half_width: int, n_iter: int = 2, clip_sd: float = 3.0, min_quiet: float = 0.2,
                       kernel: bool = True) -> np.ndarray:
    """Robust noise σ per channel: MAD / Φ⁻¹(0.75) of the samples away from large deflections.

    Dense activity (a muscle full of myokymic bursts) inflates a plain MAD; samples within
    ``half_width`` of any |x − median| > ``clip_sd``·σ are set aside and σ re-estimated, ``n_iter``
    times (a channel keeps its last σ when fewer than ``min_quiet`` of its samples are left). On
    pure Gaussian noise this removes a few per cent of samples at random and leaves σ unchanged.
    NaN is ignored; an all-NaN channel gives NaN. ``kernel=False`` runs the NumPy twin.
    """
    block, _ = _as_block(x)
    half_width = _count("half_width", half_width, 0)
    n_iter = _count("n_iter", n_iter, 0)
    if not kernel:
        from . import _naive

        return _naive.masked_noise_sigma(block, half_width, n_iter, clip_sd, min_quiet)
    if block.shape[1] == 0:
        return np.full(block.shape[0], np.nan)
    return _kernels().masked_mad(block, half_width, n_iter, float(clip_sd), float(min_quiet))


def find_abs_peaks(x, thresholds, exclusion: int, start: int = 0, stop: int | None = None):
    """Samples where |x| crosses a channel's threshold and is the largest |x| within ± ``exclusion`` samples.

    Sample i of channel c is reported when |x[c, i]| > thresholds[c] and
    |x[c, i]| is the maximum of |x[c]| over [i − exclusion, i + exclusion]; on
    ties the first sample wins (a plateau gives one peak). NaN is never a peak
    and is ignored as a neighbour. Only peaks with start <= i < stop are
    reported, but samples outside that window serve as context, so chunked
    calls whose data overlap by >= ``exclusion`` samples find each peak once.
    A NaN threshold disables its channel.

    Returns ``(channels int64, samples int64, values float32)`` sorted by
    (sample, channel); ``values`` are the signed x at the peaks.
    """
    block, _ = _as_block(x)
    n_ch, n = block.shape
    thr = np.asarray(thresholds, dtype=np.float64)
    if thr.ndim == 0:
        thr = np.full(n_ch, float(thr))
    if thr.shape != (n_ch,):
        raise ParameterError(f"thresholds must have one value per channel ({n_ch}); got shape {thr.shape}")
    if np.any(thr < 0):
        raise ParameterError(f"thresholds must be >= 0; got {thr[thr < 0][:5].tolist()}")
    exclusion = _count("exclusion (samples)", exclusion, 0)
    start, stop = _span(start, stop, n, "peak window")
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    if n_ch == 0 or stop == start:
        return empty
    # float32 thresholds rounded down: |x| > thr64  <=>  |x| > thr32 for float32 |x|.
    thr32 = thr.astype(np.float32)
    over = thr32.astype(np.float64) > thr
    thr32[over] = np.nextafter(thr32[over], np.float32(-np.inf))

    kernels = _kernels()
    rows = np.arange(n_ch, dtype=np.int64)
    cap = int(min(stop - start, max(256, (stop - start) // 128)))
    counts, samples = kernels.abs_peaks(block, thr32, exclusion, start, stop, rows, cap)
    overflow = np.flatnonzero(counts > cap)
    if overflow.size == 0:
        peak_channels, peak_samples = kernels.merge_rows_by_sample(counts, samples, start, stop)
        return peak_channels, peak_samples, block[peak_channels, peak_samples]
    per_channel = [samples[c, :counts[c]] for c in range(n_ch)]
    if overflow.size:  # dense channels: rescan them with room for every peak
        counts2, samples2 = kernels.abs_peaks(block, thr32, exclusion, start, stop, overflow,
                                              int(counts[overflow].max()))
        for k, c in enumerate(overflow):
            per_channel[c] = samples2[k, :counts2[k]]
    peak_samples = np.concatenate(per_channel) if per_channel else empty[1]
    peak_channels = np.repeat(rows, counts)
    order = np.argsort(peak_samples, kind="stable")  # stable: channel order kept within a sample
    peak_samples = peak_samples[order]
    peak_channels = peak_channels[order]
    return peak_channels, peak_samples, block[peak_channels, peak_samples]


# ----------------------------------------------------------------------------- per-group statistics
def _rows(block, rows):
    rows = np.arange(block.shape[0], dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    if rows.ndim != 1 or (rows.size and (rows.min() < 0 or rows.max() >= block.shape[0])):
        raise ParameterError(f"rows must be 1-D indices into the {block.shape[0]} channels")
    return rows


def _span(start, stop, n: int, what: str) -> tuple[int, int]:
    """(start, stop) as integers within 0..n (stop None: n), or a ParameterError naming ``what``."""
    stop = n if stop is None else _count("stop", stop, 0)
    start = _count("start", start, 0)
    if not start <= stop <= n:
        raise ParameterError(f"{what} start:stop = {start}:{stop} must lie within 0:{n}")
    return start, stop


def group_envelope(x, scale, rows=None, kernel: bool = True) -> np.ndarray:
    """Per sample, the largest |x[r]|·scale[r] over channels ``rows`` (default all); NaN ignored,
    0 where every channel is NaN. float32 (n_samples,)."""
    block, _ = _as_block(x)
    rows = _rows(block, rows)
    scale = np.asarray(scale, dtype=np.float32)
    if scale.shape != (block.shape[0],):
        raise ParameterError(f"scale must have one value per channel ({block.shape[0]}); got shape {scale.shape}")
    if not kernel:
        from . import _naive

        return _naive.group_envelope(block, rows, scale)
    return _kernels().group_envelope(block, rows, scale)


def window_power(x, win: int, start: int = 0, stop: int | None = None, rows=None, kernel: bool = True,
                 return_loudest: bool = False):
    """Mean x² over channels ``rows`` (default all) and each ``win`` samples of ``start:stop``
    (NaN counts as 0; the last window may be shorter). float64 (n_windows,). With
    ``return_loudest`` also each window's channel (position in ``rows``) with most power, the
    steady power, over channels the largest mean x² of a channel's quietest quarter of the
    window (a MUAP fills one quarter, a train all four), and that channel: (power, loudest,
    steady, steady_loudest)."""
    block, _ = _as_block(x)
    rows = _rows(block, rows)
    start, stop = _span(start, stop, block.shape[1], "window")
    win = _count("win", win, 1)
    if rows.size == 0 or stop == start:
        n = -(-(stop - start) // win) if rows.size else 0
        return (np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n), np.zeros(n, dtype=np.int64)) \
            if return_loudest else np.zeros(n)
    if not kernel:
        from . import _naive

        power, loudest, steady, steady_loudest = _naive.window_power(block, rows, start, stop, win)
    else:
        power, loudest, steady, steady_loudest = _kernels().window_power(block, rows, start, stop, win)
    return (power, loudest, steady, steady_loudest) if return_loudest else power


def window_median_power(x, win: int, scale, start: int = 0, stop: int | None = None, rows=None,
                        kernel: bool = True) -> np.ndarray:
    """Median over channels ``rows`` (default all) of each channel's mean (x·scale)² over each
    ``win`` samples of ``start:stop`` (``scale``: one value per row; NaN counts as 0; the last
    window may be shorter). Signals spread over most of a grid (the ECG's QRS) raise it, a MUAP on
    a few electrodes does not. float64 (n_windows,)."""
    block, _ = _as_block(x)
    rows = _rows(block, rows)
    start, stop = _span(start, stop, block.shape[1], "window")
    win = _count("win", win, 1)
    scale = np.ascontiguousarray(scale, dtype=np.float64)
    if scale.shape != rows.shape:
        raise ParameterError(f"scale must have one value per row ({rows.size}); got shape {scale.shape}")
    if rows.size == 0 or stop == start:
        return np.zeros(-(-(stop - start) // win) if rows.size else 0)
    if not kernel:
        from . import _naive

        return _naive.window_median_power(block, rows, scale, start, stop, win)
    return _kernels().window_median_power(block, rows, scale, start, stop, win)


def step_means(x, step: int, start: int = 0, stop: int | None = None, kernel: bool = True) -> np.ndarray:
    """Mean of each ``step`` samples of ``x[:, start:stop]`` (NaN as 0; the last step padded with
    the span's last sample). float64 (n_channels, ceil((stop − start) / step))."""
    block, _ = _as_block(x)
    start, stop = _span(start, stop, block.shape[1], "step_means")
    step = _count("step", step, 1)
    if stop == start:
        return np.zeros((block.shape[0], 0))
    if not kernel:
        from . import _naive

        return _naive.step_means(block, start, stop, step)
    return _kernels().step_means(block, start, stop, step)


def rail_runs(x, run: int, frozen_run: int = 0, kernel: bool = True) -> np.ndarray | None:
    """Samples on a rail: ≥ ``run`` equal consecutive values at ≥ half the channel's extreme |x|
    (a flat channel is flat, not clipped); and, with ``frozen_run`` ≥ 2, ≥ ``frozen_run`` equal
    consecutive values at any level (a channel holding its value: disconnected, dropped packets).
    Boolean mask like ``x``, or None when there is none."""
    block, _ = _as_block(x)
    run = _count("run", run, 0)
    frozen_run = _count("frozen_run", frozen_run, 0)
    run = run if run >= 2 else block.shape[1] + 1        # < 2: no rail test
    frozen_run = frozen_run if frozen_run >= 2 else 0
    if block.shape[1] < min(run, frozen_run or run):
        return None
    if not kernel:
        from . import _naive

        mask, found = _naive.rail_runs(block, run, frozen_run)
    else:
        from numba import get_num_threads

        n_parts = max(1, -(-get_num_threads() // block.shape[0])) if block.shape[1] >= 1 << 16 else 1
        mask, found = _kernels().rail_runs(block, run, frozen_run, n_parts)
    return mask if found.any() else None


def bridge_gaps(x: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """``x`` (c, n) float32 with each run of ``bad`` samples replaced, in place, by the straight line
    between its good neighbours (the nearest good value at an edge; 0 on a channel with none), so
    filtering sees no step where a gap, a rail or a frozen stretch begins and ends."""
    idx = np.arange(x.shape[1])
    for ch in np.flatnonzero(bad.any(axis=1)):
        good = ~bad[ch]
        if good.any():
            x[ch, ~good] = np.interp(idx[~good], idx[good], x[ch, good])
        else:
            x[ch] = 0.0
    return x


# ----------------------------------------------------------------------------- snippets
def snippets(x, channels, samples, before: int, after: int, all_channels: bool = False) -> np.ndarray:
    """Windows ``x[ch, s - before : s + after]`` around each (channel, sample), zero-padded at the edges.

    Returns float32 (n, 1, before + after), or (n, n_channels, before + after)
    with ``all_channels=True`` (every channel around each sample).
    """
    block, _ = _as_block(x)
    n_ch, n = block.shape
    samples = np.asarray(samples)
    channels = np.zeros_like(samples) if channels is None else np.asarray(channels)
    if samples.ndim != 1 or channels.shape != samples.shape:
        raise ParameterError(f"channels and samples must be 1-D of equal length; got {channels.shape} and {samples.shape}")
    if samples.size and (samples.dtype.kind not in "iu" or channels.dtype.kind not in "iu"):
        raise ParameterError("channels and samples must be integer arrays")
    if samples.size and (channels.min() < 0 or channels.max() >= n_ch):
        raise ParameterError(f"snippet channels must lie in 0..{n_ch - 1}")
    before = _count("before (samples)", before, 0)
    after = _count("after (samples)", after, 0)
    out = np.zeros((samples.size, n_ch if all_channels else 1, before + after), np.float32)
    if samples.size and before + after:
        _kernels().snippets(block, channels.astype(np.int64), samples.astype(np.int64), before, after,
                            bool(all_channels), out)
    return out


def mains_harmonics(f0: float, fs: float, n_harmonics: int = 3) -> np.ndarray:
    """f0, 2·f0, … (the first ``n_harmonics`` below fs/2)."""
    f = f0 * np.arange(1, _count("n_harmonics", n_harmonics, 1) + 1)
    return f[f < fs / 2]


def refine_mains(windows, fs: float, f0: float, span_hz: float = 0.5, step_hz: float = 0.005) -> float:
    """The mains frequency near ``f0`` (Hz): where the summed power of contiguous ``windows`` peaks.

    Each window is (n_channels, n) and should span ≥ 1 s; mains drifts ±0.1 Hz from its nominal value,
    which a regression over hundreds of ms must follow.
    """
    # Block means down to ~1 kHz: the mains band is untouched, the DFT below is 20–50× cheaper.
    q = max(1, int(fs // 1000))
    blocks = []
    for x in windows:
        x = np.nan_to_num(np.atleast_2d(np.asarray(x, dtype=np.float64)))
        n = x.shape[1] // q * q
        x = x[:, :n].reshape(x.shape[0], -1, q).mean(axis=2)
        if x.shape[1] >= 16:
            t = (np.arange(x.shape[1]) * q + (q - 1) / 2) / fs
            blocks.append((x, t, np.hanning(x.shape[1])))

    def power(grid):
        total = np.zeros(grid.size)
        for x, t, taper in blocks:
            phasor = np.exp(-2j * np.pi * grid[:, None] * t[None, :]) * taper[None, :]
            total += (np.abs(phasor @ x.T) ** 2).sum(axis=1)
        return total

    if not blocks:
        return float(f0)
    # Coarse then fine (±2 coarse steps): a ≥ 1-s tapered window's peak is ~1 Hz wide.
    coarse = np.arange(f0 - span_hz, f0 + span_hz + step_hz / 2, 10 * step_hz)
    p = power(coarse)
    if not p.any():
        return float(f0)
    centre = coarse[np.argmax(p)]
    fine = np.arange(max(centre - 20 * step_hz, f0 - span_hz), min(centre + 20 * step_hz, f0 + span_hz) + step_hz / 2,
                     step_hz)
    p = power(fine)
    return float(fine[np.argmax(p)]) if p.any() else float(centre)


def remove_mains(x: np.ndarray, fs: float, freqs, start: int, window: int, mask_sd: float = 4.0,
                 mask_half: int = 0, min_kept: float = 0.3, kernel: bool = True) -> np.ndarray:
    """Subtract mains sinusoids, fitted per window of samples away from discharges, from ``x`` in place.

    ``x`` (c, n) float32 starts at absolute sample ``start``; windows of ``window`` samples (made
    even) are placed at absolute multiples of ``window // 2`` (so any span of a recording gets the
    same estimate when ``window`` samples of context surround it) and cross-faded with sin²
    weights. In each window and channel the amplitude and phase of every frequency in ``freqs``
    are fitted by least squares to the samples farther than ``mask_half`` from any deflection
    above ``mask_sd`` robust σ of what a first, unmasked fit leaves, so a MUAP does not leak
    into the estimate (a notch filter spreads a
    MUAP's mains-band content into ringing at the mains period, which the detector then finds as
    discharges one period away). The fit uses every few samples (≥ 4 per period of the highest
    frequency). A window of a channel with fewer than ``min_kept`` of its samples away from
    discharges (a train, a contraction) gives no estimate: its neighbours' estimates cover it, or
    nothing is removed. ``kernel=False`` fits and subtracts with the plain-NumPy twins. Returns ``x``.
    """
    freqs = np.asarray(freqs, dtype=np.float64)
    c, n = x.shape
    hop = window // 2
    if freqs.size == 0 or n == 0 or hop < 4:
        return x
    # The fit needs only a few samples per period of the highest harmonic: it runs on every
    # `stride`-th sample (at absolute positions, so chunks agree); the subtraction on all.
    stride = max(1, int(fs // (4 * freqs.max())))
    half_s = max(0, -(-mask_half // stride))
    k_first = int(np.floor(start / hop)) - 1
    k_last = int(np.ceil((start + n) / hop))
    omega = 2 * np.pi * freqs / fs
    if kernel:
        from . import _mains

        block, _ = _as_block(x, writable=True)
        coef, enough = _mains.mains_fit(block, int(start), int(stride), int(hop), k_first, k_last, omega,
                                        float(mask_sd), int(half_s), float(min_kept))
    else:
        from . import _naive

        coef, enough = _naive.mains_fit(x, int(start), int(stride), int(hop), k_first, k_last, omega,
                                        float(mask_sd), int(half_s), float(min_kept))
    if kernel:
        _mains.mains_subtract(block, int(start), int(hop), k_first, coef, enough, omega)
        if block is not x:
            x[...] = block
    else:
        _naive.mains_subtract(x, int(start), int(hop), k_first, coef, enough, omega)
    return x
