"""Synthetic benchmark recordings on disk, written as WFDB format 16.

Two kinds of activity: ``dense`` (the worst case: independent MUAP-like spikes at 5 Hz on every
channel, ~320 discharges/s on 64 channels, each a different waveform; channels carry no layout,
since spikes seen on one electrode alone are not what a grid records) and ``rest`` (what a
clinic records at rest: a few motor units firing fasciculations, each seen on neighbouring grid
electrodes, plus 50 Hz mains and its harmonics). HD ``rest`` files carry the grid layout (8
columns, row/col per electrode), so the detector's grid path (spatial energy, neighbour
support, grid heartbeats) is what is timed.

Files are generated block by block (never the whole recording in memory) and
cached under the data folder by name, so a grid is written once.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger("emgkit")

#: Samples per generated block: each block is drawn from its own seed, so any span is reproducible.
GEN_BLOCK = 1 << 16
NOISE_UV = 10.0          # background σ (µV)
SPIKE_RATE_HZ = 5.0      # dense: spikes per second per channel
REST_UNITS = 6           # rest: motor units per muscle
REST_RATE_HZ = 0.15      # rest: fasciculations per second per unit
MAINS_UV = (15.0, 5.0, 3.0)  # rest: 50, 100, 150 Hz amplitudes (µV)
GAIN_ADU_PER_UV = 20.0   # int16 covers ±1638 µV
GRID_COLUMNS = 8         # rest: electrodes per grid row


@dataclass(frozen=True)
class Case:
    """One benchmark recording: channels × fs × duration, with dense or rest activity."""

    kind: str  # "needle" or "hd"
    n_channels: int
    fs: float
    duration_s: float
    activity: str = "dense"  # "dense" (worst case) or "rest"

    @property
    def grid_layout(self) -> bool:
        """Whether channels carry grid row/col (HD rest recordings)."""
        return self.kind == "hd" and self.activity == "rest"

    @property
    def name(self) -> str:
        suffix = "" if self.activity == "dense" else f"_{self.activity}"
        suffix += "_grid" if self.grid_layout else ""
        return f"{self.kind}_{self.n_channels}ch_{self.fs / 1000:g}kHz_{self.duration_s / 60:g}min{suffix}"

    @property
    def n_samples(self) -> int:
        return int(round(self.fs * self.duration_s))

    @property
    def size(self) -> int:
        """samples × channels"""
        return self.n_samples * self.n_channels


class SyntheticSource:
    """A Recording source that draws each 65536-sample block from its own seed (no data held)."""

    def __init__(self, n_channels: int, n_samples: int, fs: float, seed: int = 0, activity: str = "dense"):
        if activity not in ("dense", "rest"):
            raise ValueError(f"activity must be 'dense' or 'rest'; got {activity!r}")
        self.n_channels, self.n_samples, self.fs, self.seed = n_channels, n_samples, fs, seed
        self.activity = activity
        width = max(3, int(round(fs * 0.002)))  # ~2 ms MUAP-like biphasic shape
        t = np.linspace(-1.5, 1.5, width)
        self.shape = (-t * np.exp(-t * t)) / 0.43
        if activity == "rest":
            # Each unit: a peak amplitude and a footprint over an 8-column grid (Gaussian, σ 1.5 electrodes).
            rng = np.random.default_rng((seed, 1 << 30))
            cols = GRID_COLUMNS if n_channels >= GRID_COLUMNS else n_channels
            pos = np.stack([np.arange(n_channels) // cols, np.arange(n_channels) % cols], axis=1)
            centre = rng.uniform(0, [max(1, n_channels // cols) - 1, cols - 1], (REST_UNITS, 2))
            d2 = ((pos[None, :, :] - centre[:, None, :]) ** 2).sum(axis=2)
            self.footprint = rng.uniform(150, 500, (REST_UNITS, 1)) * np.exp(-d2 / (2 * 1.5 ** 2))
            self.mains_gain = rng.uniform(0.7, 1.3, n_channels)

    def _block(self, b: int) -> np.ndarray:
        rng = np.random.default_rng((self.seed, b))
        out = rng.standard_normal((self.n_channels, GEN_BLOCK), dtype=np.float32)
        out *= NOISE_UV
        if self.activity == "rest":
            return self._rest(rng, b, out)
        n_spikes = rng.poisson(SPIKE_RATE_HZ * GEN_BLOCK / self.fs * self.n_channels)
        ch = rng.integers(0, self.n_channels, n_spikes)
        at = rng.integers(0, GEN_BLOCK - self.shape.size, n_spikes)
        amp = rng.uniform(80, 400, n_spikes) * rng.choice([-1.0, 1.0], n_spikes)
        for c, a, g in zip(ch, at, amp):
            out[c, a:a + self.shape.size] += (g * self.shape).astype(np.float32)
        return out

    def _rest(self, rng, b: int, out: np.ndarray) -> np.ndarray:
        for unit in range(REST_UNITS):
            at = rng.integers(0, GEN_BLOCK - self.shape.size, rng.poisson(REST_RATE_HZ * GEN_BLOCK / self.fs))
            for a in at:
                out[:, a:a + self.shape.size] += (self.footprint[unit][:, None] * self.shape[None, :]).astype(np.float32)
        t = (b * GEN_BLOCK + np.arange(GEN_BLOCK)) / self.fs
        mains = sum(amp * np.sin(2 * np.pi * 50.0 * (k + 1) * t + 0.7 * k) for k, amp in enumerate(MAINS_UV))
        out += (self.mains_gain[:, None] * mains[None, :]).astype(np.float32)
        return out

    def read(self, start: int, stop: int, channel_indices) -> np.ndarray:
        out = np.empty((len(channel_indices), stop - start), np.float64)
        pos = start
        while pos < stop:
            b, off = divmod(pos, GEN_BLOCK)
            take = min(stop - pos, GEN_BLOCK - off)
            out[:, pos - start:pos - start + take] = self._block(b)[channel_indices, off:off + take]
            pos += take
        return out


def synthetic_recording(case: Case, seed: int = 0):
    from emgkit.recording import Electrode, Recording

    if case.kind == "needle":
        electrode = Electrode("needle_concentric")
    elif case.grid_layout:   # the layout the rest activity's footprints are drawn on
        cols = GRID_COLUMNS if case.n_channels >= GRID_COLUMNS else case.n_channels
        electrode = [Electrode("hd_grid", row=i // cols, col=i % cols, ied_mm=8.0) for i in range(case.n_channels)]
    else:
        electrode = Electrode("hd_grid")
    return Recording(SyntheticSource(case.n_channels, case.n_samples, case.fs, seed, case.activity), case.fs,
                     [f"EMG{i + 1}" for i in range(case.n_channels)], case.n_samples,
                     electrodes=electrode, muscles="TA", format="synthetic")


def ensure_file(case: Case, folder: Path, seed: int = 0) -> Path:
    """The case's WFDB header path, writing the record first when it is not cached yet."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    hea = folder / f"{case.name}.hea"
    if hea.exists() and (folder / f"{case.name}.dat").exists():
        return hea
    log.info("writing %s (%.0f M samples)", hea, case.size / 1e6)
    rec = synthetic_recording(case, seed)
    try:
        from emgkit.io.wfdb import write_wfdb
    except ImportError:  # before the WFDB writer existed: raw int16 + a minimal header
        write_wfdb = None
    if write_wfdb is not None:
        write_wfdb(rec, hea, fmt="16", gain=GAIN_ADU_PER_UV)
    else:
        _write_raw_wfdb(rec, hea)
    return hea


def _write_raw_wfdb(rec, hea: Path) -> None:
    dat = hea.with_suffix(".dat")
    with open(dat, "wb") as f:
        for _, _, _, block in rec.iter_chunks(max(1, 2**20 // rec.n_channels)):
            f.write(np.rint(block * GAIN_ADU_PER_UV).astype("<i2").T.tobytes())
    lines = [f"{hea.stem} {rec.n_channels} {rec.fs:g} {rec.n_samples}"]
    lines += [f"{dat.name} 16 {GAIN_ADU_PER_UV:g}/uV 16 0 0 0 0 {c}" for c in rec.channels]
    hea.write_text("\n".join(lines) + "\n")


def default_data_dir() -> Path:
    return Path(os.environ.get("EMGKIT_BENCH_DATA", Path(os.environ.get("TMPDIR", "/tmp")) / "emgkit_bench_data"))
