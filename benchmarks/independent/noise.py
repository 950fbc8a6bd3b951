"""Background noise (white + 1/f^a, mains with harmonics, baseline wander) and artifacts
(movement, electrode pops, ECG). Artifacts return the stretches they occupy so the truth can
label them."""
from __future__ import annotations

import numpy as np

from .params import NoiseParams


def _uniform(rng, r) -> float:
    return float(rng.uniform(r.low, r.high))


def _coloured(rng, n: int, fs: float, exponent: float, rows: int) -> np.ndarray:
    """Unit-RMS noise with power ~ 1/f^exponent above 1 Hz (flat below, so no drift)."""
    spectrum = rng.normal(size=(rows, n // 2 + 1)) + 1j * rng.normal(size=(rows, n // 2 + 1))
    f = np.fft.rfftfreq(n, 1.0 / fs)
    spectrum *= np.maximum(f, 1.0) ** (-exponent / 2)
    spectrum[:, 0] = 0
    x = np.fft.irfft(spectrum, n=n, axis=1)
    return x / x.std(axis=1, keepdims=True)


def background(rng, n_channels: int, n: int, fs: float, p: NoiseParams, common_share: float) -> tuple[np.ndarray, dict]:
    """(n_channels, n) µV of noise; common_share of the coloured noise, mains and wander is shared
    by all channels (monopolar grids pick up much common-mode)."""
    t = np.arange(n) / fs
    white = _uniform(rng, p.white_uv) * rng.uniform(0.8, 1.25, (n_channels, 1))
    out = white * rng.normal(size=(n_channels, n))
    pink_exp = rng.uniform(0.8, 1.6)
    pink = _coloured(rng, n, fs, pink_exp, n_channels)
    if common_share > 0:
        pink = (1 - common_share) * pink + common_share * _coloured(rng, n, fs, pink_exp, 1)
    out += _uniform(rng, p.pink_uv) * pink
    mains_hz = float(rng.choice([50.0, 60.0]))
    mains_uv = _uniform(rng, p.mains_uv)
    decay = rng.uniform(0.2, 0.6)
    mains = np.zeros(n)
    for k in range(1, 8):
        if k * mains_hz >= fs / 2:
            break
        mains += mains_uv * decay ** (k - 1) * (1 + (k % 2 == 1) * 0.5) * np.sin(
            2 * np.pi * k * mains_hz * t + rng.uniform(0, 2 * np.pi))
    mains *= 1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.02, 0.2) * t)
    gains = 1 - common_share + common_share * rng.uniform(0.5, 1.5, (n_channels, 1))
    out += gains * mains
    wander = np.zeros(n)
    for _ in range(int(rng.integers(3, 7))):
        wander += np.sin(2 * np.pi * rng.uniform(0.05, 0.8) * t + rng.uniform(0, 2 * np.pi))
    out += _uniform(rng, p.wander_uv) / np.sqrt(3) * rng.uniform(0.7, 1.3, (n_channels, 1)) * wander
    return out, {"mains_hz": mains_hz, "mains_uv": mains_uv, "white_uv": float(white.mean()),
                 "pink_exponent": pink_exp}


def movement(rng, data: np.ndarray, fs: float, p: NoiseParams, t0: float) -> tuple[float, float]:
    """A slow 1-8 Hz bump of 0.2-1.2 s on every channel (scaled per channel); returns its span."""
    length = rng.uniform(0.2, 1.2)
    i0, n = int(t0 * fs), int(length * fs)
    n = min(n, data.shape[1] - i0)
    if n <= 2:
        return t0, t0
    x = np.linspace(0, 1, n)
    bump = np.zeros(n)
    for _ in range(int(rng.integers(1, 4))):
        bump += rng.normal() * np.sin(2 * np.pi * rng.uniform(1, 8) * length * x + rng.uniform(0, 6.3))
    bump *= np.sin(np.pi * x) ** 2
    bump *= _uniform(rng, p.movement_uv) / max(np.abs(bump).max(), 1e-9)
    data[:, i0:i0 + n] += rng.uniform(0.5, 1.5, (data.shape[0], 1)) * bump
    return t0, t0 + n / fs


def pop(rng, data: np.ndarray, fs: float, p: NoiseParams, t0: float) -> tuple[float, float, int]:
    """An electrode pop on one channel: a step that decays with tau 30-300 ms; returns its span."""
    channel = int(rng.integers(data.shape[0]))
    tau = rng.uniform(0.03, 0.3)
    i0 = int(t0 * fs)
    n = min(int(5 * tau * fs), data.shape[1] - i0)
    if n <= 0:
        return t0, t0, channel
    data[channel, i0:i0 + n] += rng.choice([-1, 1]) * _uniform(rng, p.pop_uv) * np.exp(-np.arange(n) / (tau * fs))
    return t0, t0 + n / fs, channel


def ecg(rng, data: np.ndarray, fs: float, p: NoiseParams) -> list[tuple[float, float]]:
    """ECG on every surface channel: 50-95 bpm with beat-to-beat variation; returns each QRS span."""
    n = data.shape[1]
    rr_mean, rr_cov = 60.0 / rng.uniform(50, 95), rng.uniform(0.02, 0.08)
    amp = _uniform(rng, p.ecg_uv)
    gains = amp * rng.uniform(0.3, 1.0, (data.shape[0], 1)) * rng.choice([-1, 1], (data.shape[0], 1))
    w = np.arange(-0.3, 0.45, 1.0 / fs)
    r_width = rng.uniform(0.008, 0.014)
    beat = (-0.15 * np.exp(-0.5 * ((w + 0.025) / 0.008) ** 2) + np.exp(-0.5 * (w / r_width) ** 2)
            - 0.25 * np.exp(-0.5 * ((w - 0.03) / 0.01) ** 2) + 0.2 * np.exp(-0.5 * ((w - 0.25) / 0.04) ** 2)
            + 0.08 * np.exp(-0.5 * ((w + 0.16) / 0.025) ** 2))
    spans, t = [], rng.uniform(0.1, rr_mean)
    while t < n / fs:
        i = int(t * fs) + int(round(w[0] * fs))
        a, b = max(i, 0), min(i + len(w), n)
        if b > a:
            data[:, a:b] += gains * beat[a - i:b - i]
        spans.append((max(t - 0.06, 0.0), min(t + 0.08, n / fs)))
        t += rr_mean * rng.normal(1, rr_cov)
    return spans
