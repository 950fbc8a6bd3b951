"""Stage 2: stream the recording once, find candidate discharges, keep their waveforms.

Per muscle, a discharge seen on several channels is one candidate: detection runs
on the group's envelope max_c |x_c| / threshold_c, so a grid discharge gives one
peak, and its channel is the one with the largest |x| at that sample. Chunks are
read with enough context that a spike on a chunk edge is found exactly once.

Also collected on the way, per muscle and window: signal power, candidate count
and the share of bad (invalid or clipped) samples, which segmentation uses; and
the filtered signal of active regions (while a memory budget allows), which the
overlap resolution reuses instead of reading the file again.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from .. import _intervals
from . import dsp
from .params import SegmentParams, SpikeParams
from .preprocess import Preprocessing, filtered

log = logging.getLogger("emgkit")

#: Filtered active regions are cached up to this many bytes; beyond, they are re-read.
REGION_CACHE_BYTES = 64 * 2**20


@dataclass
class GroupCandidates:
    """Candidate discharges of one muscle group."""

    muscle: str
    channels: np.ndarray          # indices into Preprocessing.channels
    kind: str
    samples: np.ndarray           # int64, MUAP peak sample of the envelope
    main_channel: np.ndarray      # int64, index into ``channels``
    peak_uv: np.ndarray           # float32 |x| at the peak on the main channel
    snippets: np.ndarray          # float16 (n, n_group_channels, w) µV, aligned so the peak is at ``before``
    before: int
    after: int
    window: int                   # samples per segmentation window
    window_power: np.ndarray      # mean x² over the group's channels per window (µV²)
    window_bad: np.ndarray        # share of bad samples per window
    window_count: np.ndarray      # candidates per window
    regions: dict = field(default_factory=dict)  # (start, stop) -> float32 (n_group_channels, stop-start)
    slow: np.ndarray | None = None   # raw-signal means per `slow_step` samples (n_group_channels, n_steps)
    slow_step: int = 0


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
            samples=[], main_channel=[], peak_uv=[], snippets=[], before=before, after=after, window=win,
            window_power=np.zeros(n_windows), window_bad=np.zeros(n_windows), window_count=np.zeros(n_windows),
        ))
        spans.append(excl)
    ctx = max(max(c.before, c.after) for c in out) + max(spans) + 1
    guard = int(round(params.edge_guard_ms * fs / 1000))
    # Chunks are whole windows so window statistics never straddle chunks.
    chunk = max(win, (prep.chunk // win) * win)
    slow_step = max(1, int(round(segment_params.slow_step_s * fs)))
    if win % slow_step:
        slow_step = win // max(1, round(win / slow_step))
    slow_parts = []
    cached = 0
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        lo, hi = max(0, start - ctx), min(n, stop + ctx)
        block, bad, slow = filtered(rec, prep, lo, hi, clip_run=params.clip_run, return_bad=True,
                                    slow=(start, stop, slow_step))
        slow_parts.append(slow)
        core = slice(start - lo, stop - lo)
        for gc, excl in zip(out, spans):
            x = block[gc.channels]
            thr = thresholds[gc.channels]
            # Window statistics over the core of the chunk.
            xc = x[:, core]
            w0 = start // win
            nw = (stop - start + win - 1) // win
            pad = nw * win - (stop - start)
            sq = np.nan_to_num(xc.astype(np.float64) ** 2)
            if pad:
                sq = np.pad(sq, ((0, 0), (0, pad)))
            gc.window_power[w0:w0 + nw] = sq.reshape(sq.shape[0], nw, win).mean(axis=(0, 2)) * (
                win / np.r_[np.full(nw - 1, win), win - pad])
            if bad is not None:
                bc = bad[gc.channels][:, core].astype(np.float64)
                if pad:
                    bc = np.pad(bc, ((0, 0), (0, pad)))
                gc.window_bad[w0:w0 + nw] = bc.reshape(bc.shape[0], nw, win).mean(axis=(0, 2))
            # Envelope over the group's channels in threshold units (flat channels never fire).
            with np.errstate(divide="ignore", invalid="ignore"):
                scale = np.where(thr > 0, 1.0 / thr, 0.0).astype(np.float32)
            env = np.abs(x) * scale[:, None] if x.shape[0] > 1 else (np.abs(x) * scale[:, None])
            env = np.nanmax(env, axis=0, keepdims=True) if x.shape[0] > 1 else env
            _, peaks, _ = dsp.find_abs_peaks(env, np.ones(1, dtype=np.float32), excl,
                                             start=start - lo, stop=stop - lo)
            if peaks.size == 0:
                continue
            ok = (peaks - gc.before >= 0) & (peaks + gc.after < x.shape[1])
            ok &= (peaks + lo >= guard) & (peaks + lo < n - guard)
            peaks = peaks[ok]
            main = np.nanargmax(np.abs(x[:, peaks]), axis=0)
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
    for gc in out:
        gc.slow_step = slow_step
        gc.slow = slow_all[gc.channels]
        c = len(gc.channels)
        w = gc.before + gc.after + 1
        gc.samples = np.concatenate(gc.samples) if gc.samples else np.zeros(0, np.int64)
        gc.main_channel = np.concatenate(gc.main_channel) if gc.main_channel else np.zeros(0, np.int64)
        gc.peak_uv = np.concatenate(gc.peak_uv).astype(np.float32) if gc.peak_uv else np.zeros(0, np.float32)
        gc.snippets = np.concatenate(gc.snippets) if gc.snippets else np.zeros((0, c, w), np.float16)
        # Chunks come in order and each chunk's peaks are sorted; reorder only if that ever fails.
        if gc.samples.size > 1 and np.any(np.diff(gc.samples) < 0):
            order = np.argsort(gc.samples, kind="stable")
            for name in ("samples", "main_channel", "peak_uv", "snippets"):
                setattr(gc, name, getattr(gc, name)[order])
        log.info("spikes: %s: %d candidates", gc.muscle, gc.samples.size)
    return out
