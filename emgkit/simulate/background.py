"""Background and artifacts: coloured noise, mains, baseline wander, ECG, movement, pops, clipping, flat spans.

Each function adds into a float64 block ``(n_channels, n_samples)`` of one
muscle in place and draws only from the ``rng`` it is given. Artifact
functions return the segments they placed as ``(state, start_s, end_s, channel)``
with ``channel`` = "" when every channel of the muscle is affected.
"""
from __future__ import annotations

import numpy as np

from .params import ElectrodeModel, SimulationParams


def _u(rng, r):
    return float(rng.uniform(r[0], r[1])) if r[1] > r[0] else float(r[0])


def coloured_noise(rng, n_channels: int, n_samples: int, fs: float, band_hz, pink_exponent: float) -> np.ndarray:
    """Unit-RMS noise per channel: white noise shaped to 1/f^a inside ``band_hz`` (smooth band edges)."""
    white = rng.standard_normal((n_channels, n_samples))
    spec = np.fft.rfft(white, axis=1)
    f = np.fft.rfftfreq(n_samples, 1.0 / fs)
    lo, hi = band_hz
    hi = min(hi, 0.45 * fs)
    f_safe = np.maximum(f, 1e-3)
    gain = (np.maximum(f_safe, lo) / lo) ** (-pink_exponent / 2.0)
    gain = gain / np.sqrt(1.0 + (lo / f_safe) ** 4) / np.sqrt(1.0 + (f_safe / hi) ** 8)
    gain[0] = 0.0
    out = np.fft.irfft(spec * gain, n=n_samples, axis=1)
    rms = np.sqrt(np.mean(out ** 2, axis=1, keepdims=True))
    return out / np.where(rms > 0, rms, 1.0)


def add_background(rng, block: np.ndarray, fs: float, model: ElectrodeModel, p: SimulationParams,
                   noise_rms_uv: float, mains_hz: float, ecg: bool, spatial: np.ndarray | None) -> None:
    """Coloured noise (per channel + common) at ``noise_rms_uv``, then mains, wander and ECG when on.

    ``spatial``: (n_channels, 2) electrode positions (mm) so mains/ECG vary smoothly over a grid.
    """
    n_ch, n = block.shape
    pink = _u(rng, p.noise_pink_exponent)
    common_frac = _u(rng, p.common_noise_fraction) if n_ch > 1 else 0.0
    noise = coloured_noise(rng, n_ch, n, fs, model.band_hz, pink)
    if common_frac:
        common = coloured_noise(rng, 1, n, fs, model.band_hz, pink)
        noise = np.sqrt(1 - common_frac) * noise + np.sqrt(common_frac) * common
    block += noise_rms_uv * noise
    t = np.arange(n) / fs
    gradient = np.ones(n_ch)
    if spatial is not None and n_ch > 1:
        direction = rng.normal(size=2)
        proj = spatial @ direction
        span = np.ptp(proj) or 1.0
        gradient = 1.0 + 0.5 * (proj - proj.mean()) / span
    if mains_hz:
        amp = _u(rng, p.mains_uv or model.mains_uv)
        per_channel = gradient * rng.uniform(0.8, 1.2, n_ch)
        mains = np.zeros(n)
        for h in (1, 2, 3, 5):
            if h * mains_hz >= fs / 2:
                continue
            a = amp if h == 1 else amp * rng.uniform(0.02, 0.35) / h
            mains += a * np.sin(2 * np.pi * h * mains_hz * t + rng.uniform(0, 2 * np.pi))
        block += per_channel[:, None] * mains[None, :]
    if p.wander:
        amp = _u(rng, model.wander_uv)
        for _ in range(3):
            f = rng.uniform(0.05, 0.8)
            block += (amp / 3 * rng.uniform(0.5, 1.0, n_ch))[:, None] * np.sin(
                2 * np.pi * f * t + rng.uniform(0, 2 * np.pi, n_ch)[:, None])
    if ecg:
        block += (gradient * rng.uniform(0.9, 1.1, n_ch))[:, None] * ecg_trace(rng, n, fs, _u(rng, model.ecg_uv))[None, :]


def ecg_trace(rng, n_samples: int, fs: float, amplitude_uv: float) -> np.ndarray:
    """An ECG as surface EMG sees it: QRS-dominated beats at 50–100 bpm with heart-rate variability."""
    out = np.zeros(n_samples)
    rr = 60.0 / rng.uniform(50, 100)
    t_beat = np.arange(-0.3, 0.5, 1.0 / fs)
    qrs_w = rng.uniform(0.008, 0.014)
    beat = (-0.15 * np.exp(-0.5 * ((t_beat + 0.025) / qrs_w) ** 2)
            + 1.0 * np.exp(-0.5 * (t_beat / qrs_w) ** 2)
            - 0.3 * np.exp(-0.5 * ((t_beat - 0.03) / qrs_w) ** 2)
            + 0.25 * np.exp(-0.5 * ((t_beat - 0.25) / 0.04) ** 2)
            + 0.1 * np.exp(-0.5 * ((t_beat + 0.16) / 0.025) ** 2))
    beat *= amplitude_uv * rng.choice([-1.0, 1.0])
    t = rng.uniform(0, rr)
    while t < n_samples / fs:
        i0 = int(round((t - 0.3) * fs))
        lo, hi = max(i0, 0), min(i0 + beat.size, n_samples)
        if hi > lo:
            out[lo:hi] += beat[lo - i0:hi - i0] * rng.normal(1.0, 0.03)
        t += rr * rng.normal(1.0, 0.03)
    return out


def _onsets(rng, per_min: float, duration: float, margin: float) -> np.ndarray:
    n = rng.poisson(per_min * duration / 60.0)
    if duration <= 2 * margin:
        return np.zeros(0)
    return np.sort(rng.uniform(margin, duration - margin, n))


def add_artifacts(rng, block: np.ndarray, fs: float, model: ElectrodeModel, p: SimulationParams,
                  channels: list[str]) -> list[tuple]:
    """Movement (all channels), pops (one channel), saturating transients (clipped at the rail), flat spans."""
    n_ch, n = block.shape
    duration = n / fs
    segments = []
    scale = 1.0 if model.is_needle else 0.5
    for t0 in _onsets(rng, p.movement_per_min, duration, 1.0):
        length = rng.uniform(0.2, 1.0)
        i0, i1 = int(t0 * fs), min(n, int((t0 + length) * fs))
        tt = np.arange(i1 - i0) / fs
        window = np.sin(np.pi * tt / length) ** 2
        wave = np.sin(2 * np.pi * rng.uniform(1.0, 8.0) * tt + rng.uniform(0, 2 * np.pi)) + rng.uniform(-1, 1)
        amp = rng.uniform(200, 2000) * scale
        block[:, i0:i1] += (amp * rng.uniform(0.6, 1.0, n_ch))[:, None] * (window * wave)[None, :]
        segments.append(("artifact", i0 / fs, i1 / fs, ""))
    for t0 in _onsets(rng, p.pops_per_min, duration, 1.0):
        ch = int(rng.integers(n_ch))
        tau = rng.uniform(0.05, 0.5)
        i0 = int(t0 * fs)
        i1 = min(n, i0 + int(3 * tau * fs))
        tt = np.arange(i1 - i0) / fs
        block[ch, i0:i1] += rng.choice([-1, 1]) * rng.uniform(200, 3000) * scale * np.exp(-tt / tau)
        segments.append(("artifact", i0 / fs, i1 / fs, channels[ch] if n_ch > 1 else ""))
    for t0 in _onsets(rng, p.clipping_per_min, duration, 1.0):
        length = rng.uniform(0.1, 0.6)
        i0, i1 = int(t0 * fs), min(n, int((t0 + length) * fs))
        tt = np.arange(i1 - i0) / fs
        bump = np.sin(np.pi * tt / length) * rng.uniform(1.5, 3.0) * model.rail_uv * rng.choice([-1, 1])
        block[:, i0:i1] += rng.uniform(0.7, 1.0, n_ch)[:, None] * bump[None, :]
        segments.append(("artifact", i0 / fs, i1 / fs, ""))
    np.clip(block, -model.rail_uv, model.rail_uv, out=block)
    segments += clipped_segments(block, fs, model.rail_uv, channels)
    if rng.random() < p.flat_probability:
        ch = int(rng.integers(n_ch))
        if n_ch > 1 and rng.random() < 0.5:
            i0, i1 = 0, n  # a dead grid electrode
        else:
            length = rng.uniform(1.0, 5.0)
            t0 = rng.uniform(0.5, max(0.6, duration - length - 0.5))
            i0, i1 = int(t0 * fs), min(n, int((t0 + length) * fs))
        block[ch, i0:i1] = block[ch, i0] if i0 < n else 0.0
        segments.append(("flat", i0 / fs, i1 / fs, channels[ch] if n_ch > 1 else ""))
    return segments


def clipped_segments(block: np.ndarray, fs: float, rail: float, channels: list[str], join_s: float = 0.05
                     ) -> list[tuple]:
    """Spans where any channel sits at the rail, joined when closer than ``join_s``."""
    at_rail = np.any(np.abs(block) >= rail * (1 - 1e-9), axis=0)
    idx = np.flatnonzero(at_rail)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > join_s * fs)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    stops = np.concatenate([idx[breaks], [idx[-1]]]) + 1
    out = []
    for a, b in zip(starts, stops):
        hit = np.flatnonzero(np.any(np.abs(block[:, a:b]) >= rail * (1 - 1e-9), axis=1))
        name = channels[hit[0]] if (len(channels) > 1 and hit.size == 1) else ""
        out.append(("clipped", a / fs, b / fs, name))
    return out
