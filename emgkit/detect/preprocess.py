"""Stage 1: preprocessing plan and filtered, chunked access to a recording.

``plan_preprocessing(rec, params)`` looks at a few windows of the recording and
returns a :class:`Preprocessing`: which channels are EMG, how they group into
muscles, the band-pass filter for the electrode type, the mains frequency found
(its sinusoids are fitted away from discharges and subtracted), and each channel's
robust noise σ. ``filtered(rec, prep, start,
stop)`` then gives any span filtered (zero-phase, float32), reading only that
span plus a margin.
"""
from __future__ import annotations

import dataclasses
import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from ..errors import ParameterError
from . import dsp
from .params import PreprocessParams

log = logging.getLogger("emgkit")

#: Blocks with fewer channels are filtered as overlapping time pieces (``dsp.filter_zero_phase_split``).
_SPLIT_BELOW_CHANNELS = 8


@dataclass
class MuscleGroup:
    """The EMG channels of one muscle (indices into ``Preprocessing.channels``)."""

    muscle: str
    channels: np.ndarray
    kind: str  # "needle" or "surface"


@dataclass
class Preprocessing:
    fs: float
    rec_channel_indices: np.ndarray  # EMG channels of the recording, in order
    channels: list
    kind: list                      # per EMG channel: "needle" or "surface"
    groups: list                     # MuscleGroup per muscle
    sos: np.ndarray
    band_hz: tuple
    mains_hz: float | None
    noise_uv: np.ndarray             # robust σ per EMG channel after filtering
    margin: int                      # samples of context around any filtered span
    chunk: int                       # samples per streamed chunk
    qc: dict = field(default_factory=dict)
    mains_freqs: np.ndarray = field(default_factory=lambda: np.zeros(0))  # removed sinusoids (Hz)
    mains_window: int = 0            # samples per mains fit
    mains_mask_sd: float = 4.0
    mains_mask_half: int = 0
    frozen_run: int = 0              # equal consecutive samples that make a frozen stretch (0: off)

    @property
    def n_channels(self) -> int:
        return len(self.channels)


def channel_kind(electrode, fs: float) -> str:
    """'needle' or 'surface' processing for a channel's electrode (unknown: by sampling rate)."""
    if electrode.is_needle:
        return "needle"
    if electrode.is_surface:
        return "surface"
    return "needle" if fs >= 8000 else "surface"


def _channel_spectra(x: np.ndarray, fs: float):
    """(frequencies, Welch power per channel (channels, frequencies)) at ≈ 1 Hz resolution, or None
    for under 0.5 s."""
    if x.shape[-1] < int(fs) // 2:
        return None
    nper = int(min(x.shape[-1], 2 ** int(np.ceil(np.log2(fs)))))
    f, p = signal.welch(np.nan_to_num(x), fs=fs, nperseg=nper, axis=-1)
    return f, np.atleast_2d(p)


def _mean_spectrum(x: np.ndarray, fs: float, spectra=None):
    """(frequencies, channel-mean Welch power) at ≈ 1 Hz resolution, or None for under 0.5 s."""
    spectra = spectra if spectra is not None else _channel_spectra(x, fs)
    return None if spectra is None else (spectra[0], spectra[1].mean(axis=0))


def _line_ratio(f: np.ndarray, p: np.ndarray, f0: float, half_width: float = 1.0):
    """Power of the line at ``f0`` over the median of its neighbourhood (3–10 Hz away); per row of a
    2-D ``p``."""
    line = p[..., np.abs(f - f0) <= half_width].max(axis=-1, initial=0)
    around = (np.abs(f - f0) > 3) & (np.abs(f - f0) < 10)
    near = np.median(p[..., around], axis=-1) if around.any() else np.zeros_like(line)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(near > 0, line / np.where(near > 0, near, 1), 0.0)
    return float(ratio) if np.ndim(ratio) == 0 else ratio


def detect_mains(x: np.ndarray, fs: float, ratio: float, spectra=None, channel_ratio: float | None = None
                 ) -> float | None:
    """50, 60 or None: the mains line whose power stands above its neighbourhood by ``ratio`` in
    the channels' mean spectrum, or by ``channel_ratio`` in any one channel's (``spectra``:
    ``_channel_spectra(x, fs)`` when already computed; None: the mean only). Each muscle's
    electrodes pick up mains of their own size, and a line on one muscle of several can stand
    under ``ratio`` in the mean."""
    spectra = spectra if spectra is not None else _channel_spectra(x, fs)
    if spectra is None or fs < 200:
        return None
    f, p = spectra
    best, best_score = None, 1.0
    for f0 in (50.0, 60.0):
        if f0 >= fs / 2:
            continue
        score = _line_ratio(f, p.mean(axis=0), f0) / ratio
        if channel_ratio is not None:
            score = max(score, float(np.max(_line_ratio(f, p, f0))) / channel_ratio)
        if score > best_score:
            best, best_score = f0, score
    return best


def present_harmonics(x: np.ndarray, fs: float, f0: float, ratio: float, first: int, last: int,
                      f_max: float, spectrum=None) -> list[int]:
    """Multiples k of ``f0`` (``first`` ≤ k ≤ ``last``, k·f0 < ``f_max``) whose line stands above its
    neighbourhood in the mean spectrum by ``ratio``, as ``detect_mains`` judges the fundamental
    (the line ±1 % of k·f0 wide: a drift of the fundamental multiplies)."""
    spectrum = spectrum if spectrum is not None else _mean_spectrum(x, fs)
    if spectrum is None:
        return []
    out = []
    for k in range(first, last + 1):
        if k * f0 >= min(f_max, fs / 2):
            break
        if _line_ratio(*spectrum, k * f0, 1.0 + 0.01 * k) > ratio:
            out.append(k)
    return out


def plan_preprocessing(rec, params: PreprocessParams | None = None) -> Preprocessing:
    params = params or PreprocessParams()
    fs = rec.fs
    emg = np.array([i for i, t in enumerate(rec.channel_types) if t == "emg"], dtype=np.int64)
    if emg.size == 0:
        raise ParameterError(
            f"{rec.path or 'recording'}: no EMG channels (channel types: {sorted(set(rec.channel_types))})"
        )
    channels = [rec.channels[i] for i in emg]
    kinds = [channel_kind(rec.electrodes[i], fs) for i in emg]
    # One filter for the whole recording: the electrode kind of the majority of EMG channels.
    kind = max(set(kinds), key=kinds.count)
    lo, hi = params.needle_band_hz if kind == "needle" else params.surface_band_hz
    hi = min(hi, 0.45 * fs)
    lo = min(lo, 0.25 * hi)
    margin = int(round(params.margin_s * fs))
    chunk = max(int(round(params.chunk_s * fs)), -(-params.chunk_min_values // max(len(emg), 1)), 4 * margin, 1)

    # Sample windows spread over the recording for mains detection and noise.
    win = max(int(round(params.noise_window_s * fs)), 16)
    n_win = int(min(params.noise_max_windows, max(1, rec.n_samples // win)))
    starts = np.linspace(0, max(rec.n_samples - win, 0), n_win).astype(np.int64)
    mains = params.mains_hz
    # Raw windows' spectrum: for the mains line ("auto") and, on surface electrodes, its harmonics.
    # Each window detrended: joined as they are, their offsets and drift make steps whose broad
    # spectrum buries the line (a 60-Hz line 14× its neighbourhood measured 2.4×).
    # The quietest of the windows spread over the whole recording: a line is judged against the
    # background it stands in, which a contraction or a burst of activity raises many-fold (a
    # bipolar muscle whose 12-µV mains stood 2× above a contraction's spectrum), and the
    # recording's first seconds may be such a stretch. Flat windows (a disconnected electrode)
    # hold no line.
    raw_probe = None
    if mains == "auto" or (mains and kind != "needle"):
        windows = [signal.detrend(np.nan_to_num(rec.get_data(s, min(s + win, rec.n_samples), channels=emg)),
                                  axis=-1).astype(np.float32) for s in starts]
        power = np.array([float(np.mean(w * w)) for w in windows])
        alive = np.nonzero(power > params.mains_flat_power * max(float(np.median(power)), 1e-30))[0]
        quiet = np.sort(alive[np.argsort(power[alive], kind="stable")[:params.mains_probe_windows]])
        raw_probe = np.concatenate([windows[i] for i in quiet], axis=1) if quiet.size else None
    spectra = _channel_spectra(raw_probe, fs) if raw_probe is not None else None
    spectrum = _mean_spectrum(raw_probe, fs, spectra) if spectra is not None else None
    if mains == "auto":
        mains = detect_mains(raw_probe, fs, params.mains_detect_ratio, spectra, params.mains_channel_ratio) \
            if raw_probe is not None else None
    sos = dsp.design_sos(fs, band=(lo, hi))
    frozen_run = max(16, int(round(params.frozen_run_ms * fs / 1000))) if params.frozen_run_ms > 0 else 0
    prep = Preprocessing(fs=fs, rec_channel_indices=emg, channels=channels, kind=kinds, groups=[],
                         sos=sos, band_hz=(lo, hi), mains_hz=mains, noise_uv=np.zeros(emg.size),
                         margin=margin, chunk=chunk, frozen_run=frozen_run)
    if mains:
        # Mains drifts around its nominal frequency; a fit over hundreds of ms must follow it.
        span = min(rec.n_samples, int(2 * fs))
        pos = np.linspace(0, rec.n_samples - span, min(4, max(1, rec.n_samples // span))).astype(np.int64)
        probe = filtered_spans(rec, prep, [(int(s), int(s) + span) for s in pos])
        prep.mains_hz = dsp.refine_mains(probe, fs, float(mains))
        freqs = dsp.mains_harmonics(prep.mains_hz, fs, params.mains_harmonics)
        # Surface: higher harmonics where the recording has them (odd ones from rectifier loads):
        # their residue repeats at 150–300 Hz like a neuromyotonic train (PreprocessParams).
        more = present_harmonics(raw_probe, fs, prep.mains_hz, params.mains_harmonic_ratio, params.mains_harmonics + 1,
                                 params.mains_max_harmonic, hi, spectrum) \
            if raw_probe is not None and kind != "needle" else []
        prep.mains_freqs = np.r_[freqs, prep.mains_hz * np.asarray(more, dtype=np.float64)]
        prep.mains_window = max(8, int(round(params.mains_window_s * fs)))
        prep.mains_mask_sd = params.mains_mask_sd
        prep.mains_mask_half = max(1, int(round(params.noise_mask_ms * fs / 1000)))
    half_width = max(1, int(round(params.noise_mask_ms * fs / 1000)))
    noise_prep = dataclasses.replace(prep, margin=min(prep.margin, max(int(0.1 * fs), 1)))
    blocks = filtered_spans(rec, noise_prep, [(s, min(s + win, rec.n_samples)) for s in starts])
    # One call over every window's rows: one parallel region, the rows spread over the threads.
    sig = dsp.masked_noise_sigma(np.concatenate(blocks), half_width).reshape(len(blocks), emg.size) \
        if blocks else np.zeros((0, emg.size))  # (n_windows, n_ch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a channel invalid everywhere: NaN σ, flagged in QC
        if sig.size:
            # The quiet windows: within noise_quiet_factor of a low percentile (zeros, i.e. digital
            # silence, and NaN, i.e. invalid windows, left out of that reference).
            ref = np.nanpercentile(np.where(sig > 0, sig, np.nan), params.noise_reference_percentile, axis=0)
            quiet = sig <= params.noise_quiet_factor * np.where(np.isfinite(ref), ref, np.inf)
            prep.noise_uv = np.nanpercentile(np.where(quiet, sig, np.nan), params.noise_percentile, axis=0)
        else:
            prep.noise_uv = np.zeros(emg.size)

    muscles = [rec.muscles[i] for i in emg]
    order = list(dict.fromkeys(muscles))
    prep.groups = [
        MuscleGroup(m, np.array([k for k, mm in enumerate(muscles) if mm == m], dtype=np.int64),
                    kinds[muscles.index(m)])
        for m in order
    ]
    log.info("preprocess: %d EMG channels, %d muscles, band %.0f-%.0f Hz, mains %s",
             emg.size, len(order), lo, hi, mains)
    return prep


def filtered(rec, prep: Preprocessing, start: int, stop: int, clip_run: int = 4,
             return_bad: bool = False, slow: tuple | None = None, channels=None):
    """EMG channels ``start:stop`` band-passed (zero phase), mains removed, float32 (n_ch, stop-start);
    only the EMG channels at positions ``channels`` (in ``prep.channels``) when given.

    Invalid (NaN), clipped and frozen samples (``dsp.rail_runs``) are bridged by straight lines
    before filtering and are NaN afterwards, so no stage finds a discharge in them. With
    ``return_bad`` also returns their mask (or None).
    With ``slow=(a, b, step)`` (``start <= a <= b <= stop``) also returns the raw signal's mean
    over each step ``k·step : (k + 1)·step`` (absolute samples) that starts within ``a:b``
    (n_ch, ceil(b / step) − ceil(a / step); a step running past the recording's end is padded
    with its last sample): the slow content the band-pass removes, where movement artifacts and
    electrode pops show. Consecutive spans give consecutive steps, whatever their lengths.
    """
    span = _read_bridged(rec, prep, start, stop, clip_run, slow, channels)
    if span.raw.shape[0] < _SPLIT_BELOW_CHANNELS:  # a needle: time pieces side by side fill the SIMD lanes
        out = dsp.filter_zero_phase_split(span.raw, prep.sos, pad=span.pad, pieces=max(2, 16 // span.raw.shape[0]))
    else:
        out = dsp.filter_zero_phase(span.raw, prep.sos, pad=span.pad)
    out, bad = _finish(prep, span, out)
    result = (out, bad) if return_bad else (out,)
    if slow:
        result = result + (span.slow_means,)
    return result if len(result) > 1 else result[0]


def filtered_spans(rec, prep: Preprocessing, spans, clip_run: int = 4) -> list:
    """``filtered(rec, prep, start, stop)`` of each ``(start, stop)`` in ``spans``, with the spans of
    equal length filtered together as one block: a few short windows (noise, probes) then cost one
    parallel filtering call, not one each (on a needle, one row each would leave the SIMD lanes and
    the second core idle). Equal to filtering them one by one to float32 rounding."""
    parts = [_read_bridged(rec, prep, int(a), int(b), clip_run, None) for a, b in spans]
    outs = [None] * len(parts)
    same = {}
    for i, part in enumerate(parts):
        same.setdefault((part.raw.shape, part.pad), []).append(i)
    for (shape, pad), idx in same.items():
        stacked = np.concatenate([parts[i].raw for i in idx]) if len(idx) > 1 else parts[idx[0]].raw
        done = dsp.filter_zero_phase(stacked, prep.sos, pad=pad)
        for j, i in enumerate(idx):
            outs[i] = _finish(prep, parts[i], done[j * shape[0]:(j + 1) * shape[0]])[0]
    return outs


def recorded_windows(rec, prep: Preprocessing, starts, length: int, channel: int,
                     highpass_hz: float = 0.0) -> np.ndarray:
    """Windows ``[start, start + length)`` of recording channel ``channel`` as recorded, less
    drift and mains: (len(starts), length) float64 µV, a row of NaN where a window leaves the
    recording or it or its context holds invalid samples.

    For reading a MUAP's shape as recorded, not band-passed (``units.recorded_peak_offsets``):
    a mains line of a few tens of µV, at another phase in each window, varies a window's value
    at a MUAP's phases more than the phases differ. Each window is read with context (one mains
    fit window, ``prep.mains_window``, on either side, as far as the recording goes),
    high-passed at ``highpass_hz`` (2nd-order Butterworth, zero-phase; 0: not) so the mains fit
    sees no drift, and cleared of the sinusoids preprocessing removes, fitted as there away from
    discharges (``dsp.remove_mains``).
    """
    starts = np.asarray(starts, dtype=np.int64)
    out = np.full((starts.size, int(length)), np.nan)
    n = rec.n_samples
    mains = prep.mains_freqs.size > 0
    pad = prep.mains_window if mains else 0
    if highpass_hz > 0:
        pad = max(pad, int(np.ceil(2 * prep.fs / highpass_hz)))
    sos = signal.butter(2, highpass_hz, "highpass", fs=prep.fs, output="sos") if highpass_hz > 0 else None
    by_span: dict = {}
    for row, a in enumerate(starts):
        if a < 0 or a + length > n:
            continue
        lo, hi = max(0, int(a) - pad), min(n, int(a) + int(length) + pad)
        by_span.setdefault(hi - lo, []).append((row, lo, int(a) - lo))
    # Windows away from the recording's ends share one span length: filtered and fitted together.
    for span, items in by_span.items():
        x = np.stack([rec.get_data(lo, lo + span, channels=[channel])[0] for _, lo, _ in items])
        good = np.all(np.isfinite(x), axis=1)
        x = x[good]
        if x.size and (sos is not None or mains):
            x = x - x.mean(axis=1, keepdims=True)
            if sos is not None:
                x = signal.sosfiltfilt(sos, x, axis=1, padlen=min(span - 1, 3 * (2 * len(sos) + 1)))
            if mains:
                x32 = np.ascontiguousarray(x, dtype=np.float32)
                dsp.remove_mains(x32, prep.fs, prep.mains_freqs, 0, prep.mains_window, prep.mains_mask_sd,
                                 prep.mains_mask_half)
                x = x32.astype(np.float64)
        kept = [item for item, ok in zip(items, good) if ok]
        for (row, _, off), y in zip(kept, x):
            out[row] = y[off:off + length]
    return out


@dataclass
class _BridgedSpan:
    """A span's raw samples with context, bad samples bridged, ready to filter."""

    raw: np.ndarray          # float32 (n_ch, hi − lo)
    bad: np.ndarray | None   # bool like raw, or None
    lo: int                  # absolute sample of raw's first column
    core: slice              # the requested span within raw
    pad: int | None          # edge extension for the filter (at the recording's own edges)
    slow_means: np.ndarray | None


def _read_bridged(rec, prep: Preprocessing, start: int, stop: int, clip_run: int, slow,
                  channels=None) -> _BridgedSpan:
    lo = max(0, start - prep.margin)
    hi = min(rec.n_samples, stop + prep.margin)
    rows = prep.rec_channel_indices if channels is None else prep.rec_channel_indices[np.asarray(channels)]
    raw = rec.get_data(lo, hi, channels=rows, dtype=np.float32)
    slow_means = None
    if slow:
        a, b, step = slow
        # Steps at absolute multiples of `step`: the one straddling `b` is read into the margin.
        first, last = -(-a // step) * step - lo, min(-(-b // step) * step - lo, raw.shape[1])
        slow_means = dsp.step_means(raw, step, first, last) if last > first else np.zeros((raw.shape[0], 0))
    bad = np.isnan(raw)
    if bad.any():
        raw[bad] = 0.0
    else:
        bad = None
    clip = dsp.rail_runs(raw, clip_run, prep.frozen_run)
    if clip is not None:
        bad = clip if bad is None else (bad | clip)
    if bad is not None:
        # Bridged by straight lines, not zeros: a step at a gap's ends would ring through the
        # band-pass beyond the blanked samples and be found as discharges.
        dsp.bridge_gaps(raw, bad)
    # At the recording's own edges there is no context to read: extend it (odd reflection) by the
    # margin so the filters' start-up transient stays outside.
    at_edge = lo == 0 or hi == rec.n_samples
    return _BridgedSpan(raw, bad, lo, slice(start - lo, start - lo + (stop - start)),
                        prep.margin if at_edge else None, slow_means)


def _finish(prep: Preprocessing, span: _BridgedSpan, out: np.ndarray):
    """Filtered ``out`` of a span: bad samples NaN, mains removed, cut to the span -> (out, bad)."""
    bad = span.bad
    if bad is not None:
        # Filtering spreads a rail or a gap a little: blank a few samples around it too.
        spread = max(1, int(prep.fs * 0.002))
        wide = bad.copy()
        for k in range(1, spread + 1):
            wide[:, k:] |= bad[:, :-k]
            wide[:, :-k] |= bad[:, k:]
        out[wide] = np.nan
        bad = wide[:, span.core]
    if prep.mains_freqs.size:
        dsp.remove_mains(out, prep.fs, prep.mains_freqs, span.lo, prep.mains_window, prep.mains_mask_sd,
                         prep.mains_mask_half)
    # One contiguous copy of the core here, not one in every kernel wrapper that reads it.
    return np.ascontiguousarray(out[:, span.core]), bad
