"""Stage 2: stream the recording once, find candidate discharges, keep their waveforms.

Per muscle, a discharge seen on several channels is one candidate: detection runs
on the group's envelope max_c |x_c| / threshold_c, so a grid discharge gives one
peak, and its channel is the one with the largest |x| at that sample. Chunks are
read with enough context that a spike on a chunk edge is found exactly once.

Also collected on the way, per muscle and window: signal power, candidate count
and the share of bad (invalid or clipped) samples, which segmentation uses; and
the filtered signal of active regions (while a memory budget allows), which the
overlap resolution reuses instead of reading the file again.

Memory does not grow with the recording's length: the candidates' waveforms (the one
per-discharge array of any size) stay in memory up to ``WAVEFORM_RAM_BYTES`` and beyond
that go to an anonymous temporary file read back on demand (:class:`SpilledWaveforms`).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from dataclasses import dataclass, field

import numpy as np

from .. import _intervals
from . import dsp
from .params import SegmentParams, SpikeParams
from .preprocess import Preprocessing, filtered, filtered_spans

log = logging.getLogger("emgkit")

#: Filtered active regions are cached up to this many bytes; beyond, they are re-read.
REGION_CACHE_BYTES = 64 * 2**20
#: Candidate waveforms are held in memory up to this many bytes; beyond, in a temporary file
#: (a 1-hour 64-channel grid recording has ~2 GB of them).
WAVEFORM_RAM_BYTES = 128 * 2**20
#: Rows read together when waveforms are indexed one candidate at a time.
_ROW_BLOCK = 512
#: Bytes per read call (Linux returns at most ~2 GiB per read).
_MAX_READ = 1 << 30


@dataclass
class GroupCandidates:
    """Candidate discharges of one muscle group."""

    muscle: str
    channels: np.ndarray          # indices into Preprocessing.channels
    kind: str
    samples: np.ndarray           # int64, MUAP peak sample of the envelope
    main_channel: np.ndarray      # int64, index into ``channels``
    peak_uv: np.ndarray           # float32 |x| at the peak on the main channel
    snippets: np.ndarray          # float16 (n, n_group_channels, w) µV, peak at ``before`` (or SpilledWaveforms)
    before: int
    after: int
    window: int                   # samples per segmentation window
    window_power: np.ndarray      # mean x² over the group's channels per window (µV²)
    window_bad: np.ndarray        # share of bad samples per window
    window_count: np.ndarray      # candidates per window
    regions: dict = field(default_factory=dict)  # (start, stop) -> float32 (n_group_channels, stop-start)
    slow: np.ndarray | None = None   # raw-signal means per `slow_step` samples (n_group_channels, n_steps)
    slow_step: int = 0
    common_power: np.ndarray | None = None   # surface: median over electrodes of power (σ²) per `common_step`
    common_step: int = 0
    window_loudest: np.ndarray | None = None   # per window, the group channel (position) with most power
    window_steady_power: np.ndarray | None = None   # per window, max over channels of the quietest quarter's mean x² (µV²)
    window_steady_loudest: np.ndarray | None = None  # per window, the channel (position in the group) of that steady power


class SpilledWaveforms:
    """A read-only (n, channels, w) array kept in an anonymous temporary file, not in memory.

    Indexing like an ndarray on the first axis (int, slice, bool mask, integer array),
    optionally followed by further indices, returns ndarrays read with ``os.preadv``:
    only what is asked for enters the process (pages stay in the OS cache, which the
    kernel may evict). The file disappears when this object is garbage collected.
    """

    ndim = 3

    def __init__(self, file, n_rows: int, row_shape: tuple, dtype, rows: np.ndarray | None = None):
        self._file = file
        self._n_stored = n_rows
        self._row_shape = tuple(int(s) for s in row_shape)
        self.dtype = np.dtype(dtype)
        self._row_bytes = int(np.prod(self._row_shape)) * self.dtype.itemsize
        self._rows = rows  # logical row -> stored row (None: identity)
        self._cache = (0, np.empty((0,) + self._row_shape, self.dtype))

    @property
    def shape(self) -> tuple:
        n = self._n_stored if self._rows is None else len(self._rows)
        return (n,) + self._row_shape

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"SpilledWaveforms(shape={self.shape}, dtype={self.dtype})"

    def reordered(self, order: np.ndarray) -> "SpilledWaveforms":
        """The same waveforms in another row order (no data moved)."""
        stored = np.asarray(order, dtype=np.int64) if self._rows is None else self._rows[order]
        return SpilledWaveforms(self._file, self._n_stored, self._row_shape, self.dtype, stored)

    def _read_stored(self, stored: np.ndarray) -> np.ndarray:
        """Rows at stored positions ``stored`` (any order, repeats allowed), one read per run of rows."""
        stored = np.asarray(stored, dtype=np.int64)
        direct = stored.size < 2 or bool(np.all(np.diff(stored) > 0))
        uniq = stored if direct else np.unique(stored)
        buf = np.empty((uniq.size,) + self._row_shape, self.dtype)
        if uniq.size == 0:
            return buf
        breaks = np.nonzero(np.diff(uniq) != 1)[0] + 1
        view = memoryview(buf.reshape(-1).view(np.uint8))
        fd = self._file.fileno()
        rb = self._row_bytes
        for a, b in zip(np.r_[0, breaks].tolist(), np.r_[breaks, uniq.size].tolist()):
            pos, end, offset = a * rb, b * rb, int(uniq[a]) * rb
            while pos < end:  # one read returns at most ~2 GiB
                got = os.preadv(fd, [view[pos: min(end, pos + _MAX_READ)]], offset)
                if got <= 0:
                    raise OSError(f"short read from the temporary waveform file at byte {offset}")
                pos, offset = pos + got, offset + got
        return buf if direct else buf[np.searchsorted(uniq, stored)]

    def _logical_rows(self, key) -> np.ndarray | int:
        n = len(self)
        if isinstance(key, np.ndarray) and key.ndim == 0 and key.dtype.kind in "iu":
            key = int(key)
        if isinstance(key, (int, np.integer)):
            k = int(key)
            if not -n <= k < n:
                raise IndexError(f"index {k} is out of bounds for axis 0 with size {n}")
            return k % n
        if isinstance(key, slice):
            return np.arange(*key.indices(n))
        idx = np.asarray(key)
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise IndexError(f"boolean index of shape {idx.shape} does not match axis 0 of size {n}")
            return np.nonzero(idx)[0]
        if idx.dtype.kind not in "iu":
            raise IndexError(f"only integers, slices and boolean or integer arrays index waveforms, not {idx.dtype}")
        idx = idx.astype(np.int64).reshape(-1)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"index out of bounds for axis 0 with size {n}")
        return np.where(idx < 0, idx + n, idx)

    def __getitem__(self, key):
        rest = ()
        if isinstance(key, tuple):
            key, rest = (key[0], key[1:]) if key else (slice(None), ())
        rows = self._logical_rows(key)
        if isinstance(rows, int):
            row = self._row(rows)
            return row[rest] if rest else row
        stored = rows if self._rows is None else self._rows[rows]
        out = self._read_stored(stored)
        if np.ndim(key) > 1:
            out = out.reshape(np.shape(key) + self._row_shape)
        return out[(slice(None),) + rest] if rest else out

    def _row(self, i: int) -> np.ndarray:
        """One row, read with its neighbours: loops over candidates one by one stay cheap."""
        start, block = self._cache
        if not start <= i < start + len(block):
            start = i - i % _ROW_BLOCK
            block = self[start: min(start + _ROW_BLOCK, len(self))]
            self._cache = (start, block)
        return block[i - start].copy()

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def astype(self, dtype) -> np.ndarray:
        return self[:].astype(dtype)


class _WaveformCollector:
    """Collects per-chunk waveform arrays; beyond ``ram_bytes`` they go to a temporary file."""

    def __init__(self, row_shape: tuple, dtype, ram_bytes: int):
        self.row_shape, self.dtype, self.ram_bytes = tuple(row_shape), np.dtype(dtype), ram_bytes
        self.parts: list[np.ndarray] = []
        self.n = 0
        self.nbytes = 0
        self.file = None

    def append(self, part: np.ndarray) -> None:
        part = np.ascontiguousarray(part, dtype=self.dtype)
        self.n += len(part)
        self.nbytes += part.nbytes
        if self.file is None and self.nbytes > self.ram_bytes:
            self.file = tempfile.TemporaryFile(prefix="emgkit_waveforms_")
            log.info("spikes: candidate waveforms over %d MiB: kept in a temporary file", self.ram_bytes >> 20)
            for p in self.parts:
                self.file.write(p.data)
            self.parts = []
        if self.file is None:
            self.parts.append(part)
        else:
            self.file.write(part.data)

    def result(self):
        if self.file is None:
            return np.concatenate(self.parts) if self.parts else np.zeros((0,) + self.row_shape, self.dtype)
        self.file.flush()
        return SpilledWaveforms(self.file, self.n, self.row_shape, self.dtype)


@dataclass
class GridStatistic:
    """Spatial energy of an HD grid over each electrode's neighbourhood N(c) (itself first).

    For filtered µV samples ``x`` (the group's channels), ``z = x / σ`` with the grid's common
    noise components ``common`` projected out, and q_j = z_j² / r_j with r_j the noise variance
    left on channel j. ``supported`` asks, at threshold crossings, whether Σ_{j ∈ N(c), j ≠ c} q_j
    exceeds its noise quantile ``around_threshold``; calling the statistic gives per sample the
    largest over c of Σ_{j ∈ N(c)} min(q_j, cap_c) / threshold_c (weak-MUAP detection: a value
    above 1 is a candidate; ``inv_threshold`` is 0 where that is off).
    """

    inv_sigma: np.ndarray     # float32 (c,) 1/σ (0 for flat or unknown channels)
    common: np.ndarray        # float32 (k, c) orthonormal common components (z units)
    weight: np.ndarray        # float32 (c,) 1 / residual variance
    neighbours: np.ndarray    # int64 (c, m), padded with −1
    cap: np.ndarray           # float32 (c,)
    inv_threshold: np.ndarray  # float32 (c,)
    around_threshold: np.ndarray | None = None  # float32 (c,) noise quantile of the neighbours' sum alone

    def supported(self, x: np.ndarray, samples: np.ndarray, channels: np.ndarray, half: int) -> np.ndarray:
        """Whether the neighbours of ``channels`` (each candidate's own electrode left out) carry
        more energy than noise within ± ``half`` of ``samples``: a lone electrode's spike does not."""
        if self.around_threshold is None or samples.size == 0:
            return np.ones(samples.size, dtype=bool)
        idx = np.clip(samples[:, None] + np.arange(-half, half + 1)[None, :], 0, x.shape[1] - 1)
        z = np.nan_to_num(x[:, idx] * self.inv_sigma[:, None, None])          # (c, n, w)
        if len(self.common):
            flat = z.reshape(z.shape[0], -1)
            flat -= self.common.T @ (self.common @ flat)
        q = self.weight[:, None, None] * z * z
        nb = self.neighbours[channels][:, 1:]                                  # (n, m − 1)
        rows = np.arange(samples.size)
        energy = np.where(nb[:, :, None] >= 0, q[np.maximum(nb, 0), rows[:, None], :], 0).sum(axis=1).max(axis=1)
        need = self.around_threshold[channels]
        return (need <= 0) | (energy > need)

    def __call__(self, x: np.ndarray, kernel: bool = True) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        args = (self.inv_sigma, self.common, self.weight, self.neighbours, self.cap, self.inv_threshold)
        if not kernel:
            from . import _naive

            return _naive.neighbourhood_energy(x, *args)
        from ._spatial import neighbourhood_energy

        return neighbourhood_energy(x, *args)


def grid_neighbours(electrodes, radius: int) -> np.ndarray | None:
    """(c, m) indices of the electrodes within ``radius`` rows and columns of each (itself first),
    padded with −1; None when some electrode's row or column is unknown or two share a place."""
    rc = [(e.row, e.col) for e in electrodes]
    if any(r is None or c is None for r, c in rc) or len(set(rc)) != len(rc):
        return None
    rc = np.array(rc, dtype=np.int64)
    near = np.abs(rc[:, None, :] - rc[None, :, :]).max(axis=2) <= radius
    m = int(near.sum(axis=1).max())
    out = np.full((len(rc), m), -1, dtype=np.int64)
    for c in range(len(rc)):
        others = np.flatnonzero(near[c] & (np.arange(len(rc)) != c))
        out[c, :1 + others.size] = np.r_[c, others]
    return out


def weighted_chi2_isf(weights: np.ndarray, p: float) -> float:
    """x with P(Σ_j weights_j·χ²₁ > x) = p, by the Lugannani–Rice saddlepoint approximation
    (Kuonen, Biometrika 1999: relative error of a few per cent far into the tail, where a
    moment-matched scaled χ² underestimates the tail of correlated sums several-fold)."""
    from scipy import optimize, special, stats

    lam = np.asarray(weights, dtype=np.float64)
    lam = lam[lam > 1e-12 * lam.max()]
    s_max = 0.5 / lam.max()

    # Saddle point ŝ of x: K'(ŝ) = Σ λ/(1 − 2λŝ) = x, with K(s) = −½ Σ log(1 − 2λs). K' increases
    # with s, so the search runs over ŝ (one root search, not one nested in another).
    def x_of(s):
        return np.sum(lam / (1 - 2 * lam * s))

    def s_of(x):
        return optimize.brentq(lambda v: x_of(v) - x, 0.0, s_max * (1 - 1e-12), xtol=1e-14 * s_max)

    def log_tail(s):
        x = x_of(s)
        k = -0.5 * np.sum(np.log1p(-2 * lam * s))
        k2 = np.sum(2 * lam ** 2 / (1 - 2 * lam * s) ** 2)
        w = np.sqrt(max(2 * (s * x - k), 1e-300))
        v = s * np.sqrt(k2)
        return np.log(special.ndtr(-w) + np.exp(-0.5 * w * w) / np.sqrt(2 * np.pi) * (1 / v - 1 / w))

    lo, hi = 1.5 * lam.sum(), 2 * lam.max() * stats.chi2.isf(p, lam.size)   # above the mean; Q ≤ λmax·χ²(m)
    s_lo = s_of(lo)
    if log_tail(s_lo) <= np.log(p):
        return float(lo)
    s_hat = optimize.brentq(lambda s: log_tail(s) - np.log(p), s_lo, s_of(hi), xtol=1e-14 * s_max, rtol=1e-12)
    return float(x_of(s_hat))


def grid_statistic(rec, prep: Preprocessing, channels: np.ndarray, sigma: np.ndarray,
                   params: SpikeParams) -> GridStatistic | None:
    """The :class:`GridStatistic` of one muscle's grid, or None where the grid's layout is unknown
    or too little quiet signal shows its noise (the per-channel envelope is used then)."""
    from scipy import stats

    usable = np.isfinite(sigma) & (sigma > 0)
    electrodes = [rec.electrodes[i] for i in prep.rec_channel_indices[channels]]
    neighbours = grid_neighbours(electrodes, params.spatial_radius)
    if neighbours is None or usable.sum() < params.grid_min_channels:
        return None
    # Neighbourhoods over usable channels only (a dead electrode has no noise σ).
    keep = usable[np.maximum(neighbours, 0)] & (neighbours >= 0)
    neighbours = np.array([np.r_[row[k], np.full(row.size - k.sum(), -1)] for row, k in zip(neighbours, keep)],
                          dtype=np.int64)
    neighbours[~usable] = -1

    # Noise correlation from the quietest windows' quiet samples.
    fs, n = prep.fs, rec.n_samples
    win = max(16, int(round(params.spatial_window_s * fs)))
    starts = np.linspace(0, max(n - win, 0), int(min(params.spatial_windows, max(1, n // win)))).astype(np.int64)
    from scipy import ndimage

    parts, levels = [], []
    # Samples near a deflection are activity, not noise (half a surface MUAP on each side).
    mask_half = max(1, int(round(params.spatial_quiet_ms * fs / 1000)))
    # Short windows need less filter context than whole chunks (as for the noise σ, preprocess.py).
    short = dataclasses.replace(prep, margin=min(prep.margin, max(int(0.1 * fs), 1)))
    for block in filtered_spans(rec, short, [(int(s0), int(min(s0 + win, n))) for s0 in starts],
                                clip_run=params.clip_run):
        block = block[channels][usable]
        sd = dsp.noise_sigma(block)
        if not np.all(np.isfinite(sd) & (sd > 0)):
            continue
        # Quiet samples chosen on the window's own σ; kept in units of the detector's σ, so the
        # threshold is that of the noise the detector actually sees there.
        loud = ~np.all(np.abs(block) < params.spatial_quiet_sd * sd[:, None], axis=0)  # NaN is loud
        quiet = ~ndimage.maximum_filter1d(loud, 2 * mask_half + 1) if loud.size else ~loud
        parts.append(block[:, quiet] / sigma[usable][:, None])
        levels.append(float(np.median(sd / sigma[usable])))
    if not parts:
        return None
    levels = np.array(levels)
    z = np.concatenate([p for p, lv in zip(parts, levels) if lv <= params.spatial_quiet_ratio * levels.min()], axis=1)
    if z.shape[1] < 10 * z.shape[0]:
        log.info("spikes: too little quiet signal to measure the grid's noise; per-channel detection")
        return None
    # ~10⁴ samples pin each correlation down to ±0.01 (its standard error ~ 1/√n); more only costs.
    z = z[:, ::max(1, z.shape[1] // 10000)].astype(np.float64)
    cov = z @ z.T / z.shape[1]   # band-passed: zero mean
    eig, vec = np.linalg.eigh(cov)
    top = np.argsort(eig)[::-1][: params.spatial_common_max]
    top = top[eig[top] >= params.spatial_common_min_eig * np.trace(cov) / len(cov)]
    # Common noise is on every electrode alike; a MUAP's pattern (a unit firing through the quiet
    # windows) covers a region: its participation ratio (Σu²)²/Σu⁴ is a fraction of the grid.
    spread = (vec[:, top] ** 2).sum(axis=0) ** 2 / (vec[:, top] ** 4).sum(axis=0)
    top = top[spread >= params.spatial_common_min_spread * len(cov)]
    u = vec[:, top]
    left = cov - u @ (u.T @ cov) - (cov @ u) @ u.T + u @ ((u.T @ cov @ u) @ u.T)  # (I−UUᵀ) K (I−UUᵀ)
    resid = np.maximum(np.diag(left), 1e-3 * np.trace(cov) / len(cov))
    left = left / np.sqrt(np.outer(resid, resid))

    c = len(channels)
    idx = np.flatnonzero(usable)
    pos = np.full(c, -1)
    pos[idx] = np.arange(idx.size)
    p_false = 2 * stats.norm.sf(params.threshold_sd)  # one channel's two-sided rate at threshold_sd
    inv_threshold = np.zeros(c)
    cap = np.zeros(c)
    around = np.zeros(c)   # 0: no neighbours to ask
    for ch in idx:
        members = pos[neighbours[ch][neighbours[ch] >= 0]]
        sub = left[np.ix_(members, members)]
        if params.spatial_weak_muaps:   # the whole neighbourhood's sum: weak MUAPs only
            thr = weighted_chi2_isf(np.linalg.eigvalsh(sub), p_false)   # Σ z² = Σ λ_j χ²₁ in noise
            inv_threshold[ch] = 1.0 / thr
            cap[ch] = params.spatial_max_share * thr
        if members.size > 1:   # the neighbours alone (the electrode itself is first)
            around[ch] = weighted_chi2_isf(np.linalg.eigvalsh(sub[1:, 1:]), params.spatial_support_p)
    common = np.zeros((len(top), c))
    common[:, idx] = u.T
    weight = np.zeros(c)
    weight[idx] = 1.0 / resid
    inv_sigma = np.where(usable, 1.0 / np.where(usable, sigma, 1.0), 0.0)
    log.info("spikes: grid of %d electrodes, %d common noise component(s) removed", idx.size, len(top))
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    return GridStatistic(f32(inv_sigma), f32(common), f32(weight), neighbours, f32(cap), f32(inv_threshold),
                         f32(around))


def _largest_near(x: np.ndarray, peaks: np.ndarray, reach: int) -> tuple[np.ndarray, np.ndarray]:
    """For each of the sorted ``peaks``: the channel with the largest peak-to-peak within ± ``reach``
    samples (never past half-way to a neighbouring peak) and the sample of its largest |x| there,
    as ``(samples, channels)``; peaks that land on the same sample are reported once."""
    offsets = np.arange(-reach, reach + 1)
    idx = peaks[:, None] + offsets[None, :]
    left = np.r_[0, (peaks[:-1] + peaks[1:]) // 2 + 1]
    right = np.r_[(peaks[:-1] + peaks[1:]) // 2, x.shape[1] - 1]
    inside = (idx >= np.maximum(left, 0)[:, None]) & (idx <= np.minimum(right, x.shape[1] - 1)[:, None])
    idx = np.where(inside, idx, peaks[:, None])
    seg = np.nan_to_num(x[:, idx])                         # (c, n, 2·reach + 1)
    main = np.ptp(seg, axis=2).argmax(axis=0)               # (n,)
    at = np.abs(seg[main, np.arange(len(peaks))]).argmax(axis=1)
    samples, first = np.unique(idx[np.arange(len(peaks)), at], return_index=True)
    return samples, main[first]


def _grid_peaks(x: np.ndarray, grid: GridStatistic, scale: np.ndarray, excl: int, reach: int,
                start: int, stop: int, weak: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Candidate (samples, main channels) of a grid in ``start:stop`` of ``x``.

    Crossings of a channel's own threshold are candidates as on any multi-channel muscle (peaks
    of the channel envelope, one per ± ``excl``), kept when their electrode's neighbours show
    activity too (``GridStatistic.supported``). With ``weak``, MUAPs spread over many electrodes
    that cross no channel's threshold are added, found by their spatial energy (one per
    ± 2·``reach``, timed at their largest channel, see ``_largest_near``) farther than ``reach``
    from any crossing.
    """
    n = x.shape[1]
    # With weak MUAPs, envelope peaks over a margin too, so energy peaks near the edge see them.
    a, b = (max(0, start - 2 * reach), min(n, stop + 2 * reach)) if weak else (start, stop)
    env = dsp.group_envelope(x, scale)[None, :]
    _, e_all, _ = dsp.find_abs_peaks(env, np.ones(1, dtype=np.float32), excl, start=a, stop=b)
    e_main_all = np.nanargmax(np.abs(x[:, e_all]) * grid.inv_sigma[:, None], axis=0) if e_all.size \
        else np.zeros(0, np.int64)
    e_peaks = e_all[grid.supported(x, e_all, e_main_all, excl)]
    e_peaks = e_peaks[(e_peaks >= start) & (e_peaks < stop)]
    e_main = np.nanargmax(np.abs(x[:, e_peaks]), axis=0) if e_peaks.size else np.zeros(0, np.int64)
    if not weak:
        return e_peaks, e_main
    # Energy swings with the MUAP's phases and its tail adds to the noise after it: one energy
    # peak per ± 2·reach (a surface MUAP's length).
    _, s_peaks, _ = dsp.find_abs_peaks(grid(x)[None, :], np.ones(1, dtype=np.float32), 2 * reach,
                                       start=start, stop=stop)
    s_main = np.zeros(0, np.int64)
    if s_peaks.size:
        s_peaks, s_main = _largest_near(x, s_peaks, reach)
        if e_all.size:   # not where a channel crossed its threshold, supported or not
            j = np.clip(np.searchsorted(e_all, s_peaks), 1, e_all.size)
            gap = np.minimum(np.abs(s_peaks - e_all[j - 1]), np.abs(e_all[np.minimum(j, e_all.size - 1)] - s_peaks))
            s_peaks, s_main = s_peaks[gap > reach], s_main[gap > reach]
    peaks = np.r_[e_peaks, s_peaks].astype(np.int64)
    order = np.argsort(peaks, kind="stable")
    return peaks[order], np.r_[e_main, s_main].astype(np.int64)[order]


def _windows(params: SpikeParams, kind: str, fs: float) -> tuple[int, int, int]:
    """(before, after, exclusion) in samples for an electrode kind."""
    wb, wa = params.needle_window_ms if kind == "needle" else params.surface_window_ms
    ex = params.needle_exclusion_ms if kind == "needle" else params.surface_exclusion_ms
    return (int(round(wb * fs / 1000)), int(round(wa * fs / 1000)), max(1, int(round(ex * fs / 1000))))


def detect_candidates(rec, prep: Preprocessing, params: SpikeParams | None = None,
                      segment_params: SegmentParams | None = None) -> list[GroupCandidates]:
    params = params or SpikeParams()
    segment_params = segment_params or SegmentParams()
    fs = prep.fs
    n = rec.n_samples
    thresholds = (params.threshold_sd * np.maximum(prep.noise_uv, params.min_noise_uv)).astype(np.float32)
    win = max(1, int(round(segment_params.window_s * fs)))
    n_windows = (n + win - 1) // win
    out = []
    spans = []
    for g in prep.groups:
        before, after, excl = _windows(params, g.kind, fs)
        out.append(GroupCandidates(
            muscle=g.muscle, channels=g.channels, kind=g.kind,
            samples=[], main_channel=[], peak_uv=[], before=before, after=after, window=win,
            snippets=_WaveformCollector((len(g.channels), before + after + 1), np.float16,
                                        WAVEFORM_RAM_BYTES // len(prep.groups)),
            window_power=np.zeros(n_windows), window_bad=np.zeros(n_windows), window_count=np.zeros(n_windows),
            window_loudest=np.zeros(n_windows, dtype=np.int64), window_steady_power=np.zeros(n_windows),
            window_steady_loudest=np.zeros(n_windows, dtype=np.int64),
        ))
        spans.append(excl)
    # HD grids detect on spatial energy (see GridStatistic); other groups on the channel envelope.
    sigma_used = np.maximum(prep.noise_uv, params.min_noise_uv)
    stats_of = [grid_statistic(rec, prep, g.channels, sigma_used[g.channels], params)
                if len(g.channels) >= params.grid_min_channels else None for g in prep.groups]
    reach = max(1, int(round(params.spatial_reach_ms * fs / 1000)))
    ctx = max(max(c.before, c.after) for c in out) + max(spans) + 1
    if params.spatial_weak_muaps and any(st is not None for st in stats_of):
        ctx += 4 * reach
    # Chunks are whole windows so window statistics never straddle chunks.
    chunk = max(win, (prep.chunk // win) * win)
    # Step series (slow content; grid power) are cut at absolute multiples of their step, so step k
    # starts at sample k·step whether or not the step divides a chunk.
    slow_step = max(1, int(round(segment_params.slow_step_s * fs)))
    slow_parts = []
    # Surface power series (median over electrodes, σ²) for heartbeats (patterns.common_power_beats):
    # a QRS below the candidate threshold, or found at a third of the beats, still rises in it.
    common_step = max(1, int(round(segment_params.common_power_step_ms * fs / 1000)))
    common_parts = [[] for _ in out]
    cached = 0
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        lo, hi = max(0, start - ctx), min(n, stop + ctx)
        block, bad, slow = filtered(rec, prep, lo, hi, clip_run=params.clip_run, return_bad=True,
                                    slow=(start, stop, slow_step))
        slow_parts.append(slow)
        core = slice(start - lo, stop - lo)
        for gc, excl, grid, common in zip(out, spans, stats_of, common_parts):
            whole = gc.channels.size == block.shape[0] and np.array_equal(gc.channels, np.arange(block.shape[0]))
            x = block if whole else block[gc.channels]
            thr = thresholds[gc.channels]
            # Window statistics over the core of the chunk.
            w0 = start // win
            power, loudest, steady, steady_loudest = dsp.window_power(x, win, start - lo, stop - lo,
                                                                      return_loudest=True)
            gc.window_power[w0:w0 + power.size] = power
            gc.window_loudest[w0:w0 + power.size] = loudest
            gc.window_steady_power[w0:w0 + power.size] = steady
            gc.window_steady_loudest[w0:w0 + power.size] = steady_loudest
            if bad is not None:
                bc = bad[gc.channels][:, core].astype(np.float64)
                nw = power.size
                pad = nw * win - (stop - start)
                if pad:
                    bc = np.pad(bc, ((0, 0), (0, pad)))
                gc.window_bad[w0:w0 + nw] = bc.reshape(bc.shape[0], nw, win).mean(axis=(0, 2))
            # Envelope over the group's channels in threshold units (flat channels never fire).
            with np.errstate(divide="ignore", invalid="ignore"):
                scale = np.where(thr > 0, 1.0 / thr, 0.0).astype(np.float32)
            if gc.kind != "needle":   # surface: the ECG's QRS shows in the power (patterns.common_power_beats)
                first = -(-start // common_step) * common_step - lo
                last = min(-(-stop // common_step) * common_step - lo, x.shape[1])
                if last > first:
                    common.append(dsp.window_median_power(x, common_step, scale * np.float32(params.threshold_sd),
                                                          first, last))
            if grid is None and x.shape[0] == 1:   # one channel: its own |x| is the envelope
                _, peaks, _ = dsp.find_abs_peaks(x, thr if thr[0] > 0 else np.full(1, np.inf), excl,
                                                 start=start - lo, stop=stop - lo)
                main = None
            elif grid is None:
                env = dsp.group_envelope(x, scale)[None, :]
                _, peaks, _ = dsp.find_abs_peaks(env, np.ones(1, dtype=np.float32), excl,
                                                 start=start - lo, stop=stop - lo)
                main = None
            else:
                peaks, main = _grid_peaks(x, grid, scale, excl, reach, start - lo, stop - lo,
                                          params.spatial_weak_muaps)
            if peaks.size == 0:
                continue
            ok = (peaks - gc.before >= 0) & (peaks + gc.after < x.shape[1])
            guard = int(round(params.edge_guard_s(gc.kind) * fs))
            ok &= (peaks + lo >= guard) & (peaks + lo < n - guard)
            peaks = peaks[ok]
            main = np.nanargmax(np.abs(x[:, peaks]), axis=0) if main is None else main[ok]
            idx = peaks[:, None] + np.arange(-gc.before, gc.after + 1)[None, :]
            snips = np.transpose(x[:, idx], (1, 0, 2))  # (n, c, w)
            if x.shape[0] >= params.min_support_channels:
                # On a grid a discharge spreads over neighbouring electrodes; a crossing on a
                # single electrode is noise (64 channels give 64× the false crossings).
                half = max(1, int(round(params.surface_merge_ms * fs / 1000)))
                core_w = np.abs(np.nan_to_num(snips[:, :, gc.before - half: gc.before + half + 1])).max(axis=2)
                support = (core_w > params.support_fraction * thr[None, :]).sum(axis=1)
                keep = support >= params.min_support_channels
                peaks, main, snips = peaks[keep], main[keep], snips[keep]
                if peaks.size == 0:
                    continue
            gc.samples.append(peaks + lo)
            gc.main_channel.append(main)
            gc.peak_uv.append(np.abs(x[main, peaks]))
            # float16 halves the largest array of a long grid recording; clustering needs no more.
            gc.snippets.append(np.nan_to_num(snips).astype(np.float16))
            np.add.at(gc.window_count, (peaks + lo) // win, 1)
            # Cache the active regions of this chunk (merged waveform windows).
            reg_lo = np.maximum(peaks - gc.before - gc.after, 0)
            reg_hi = np.minimum(peaks + gc.before + gc.after + 1, x.shape[1])
            for a, b in _intervals.merge_intervals(reg_lo, reg_hi):
                nbytes = x.shape[0] * (b - a) * 4
                if cached + nbytes > REGION_CACHE_BYTES:
                    break
                gc.regions[(a + lo, b + lo)] = np.array(x[:, a:b])
                cached += nbytes
    slow_all = np.concatenate(slow_parts, axis=1) if slow_parts else np.zeros((prep.n_channels, 0))
    for gc, common in zip(out, common_parts):
        if common:
            gc.common_power, gc.common_step = np.concatenate(common), common_step
        gc.slow_step = slow_step
        gc.slow = slow_all[gc.channels]
        gc.samples = np.concatenate(gc.samples) if gc.samples else np.zeros(0, np.int64)
        gc.main_channel = np.concatenate(gc.main_channel) if gc.main_channel else np.zeros(0, np.int64)
        gc.peak_uv = np.concatenate(gc.peak_uv).astype(np.float32) if gc.peak_uv else np.zeros(0, np.float32)
        gc.snippets = gc.snippets.result()
        # Chunks come in order and each chunk's peaks are sorted; reorder only if that ever fails.
        if gc.samples.size > 1 and np.any(np.diff(gc.samples) < 0):
            order = np.argsort(gc.samples, kind="stable")
            for name in ("samples", "main_channel", "peak_uv"):
                setattr(gc, name, getattr(gc, name)[order])
            gc.snippets = gc.snippets.reordered(order) if isinstance(gc.snippets, SpilledWaveforms) \
                else gc.snippets[order]
        log.info("spikes: %s: %d candidates", gc.muscle, gc.samples.size)
    return out
