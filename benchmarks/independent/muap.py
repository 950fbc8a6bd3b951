"""MUAP shapes: Hermite-Rodriguez sums for needles, a propagating line source for surface electrodes.

Each model returns a :class:`UnitShape`: a small bank of waveform variants
sampled ``oversample`` times finer than the recording, so a discharge can be
placed at any sub-sample time and its shape varied (jitter, fibre blocking)
by mixing variants.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import eval_hermite

from .params import MuapParams


@dataclass
class UnitShape:
    """variants: (n_variants, n_channels, n_fine) at fs * oversample; main: the channel of largest
    peak-to-peak; lead_s: time from the window start to the activation time."""

    variants: np.ndarray
    oversample: int
    fs: float
    main: int
    lead_s: float

    def render(self, t_activation: float, weights: np.ndarray, gain: float):
        """The waveform of one discharge: (first sample index, (n_channels, n) array)."""
        fine_fs = self.fs * self.oversample
        t0 = t_activation - self.lead_s
        first = math.ceil(t0 * self.fs)
        # fine index of sample `first`: (first / fs - t0) * fine_fs
        offset = int(round((first / self.fs - t0) * fine_fs))
        shape = np.tensordot(weights, self.variants[:, :, offset::self.oversample], axes=1)
        return first, gain * shape


def _hermite_function(order: int, x: np.ndarray) -> np.ndarray:
    norm = 1.0 / math.sqrt(2.0 ** order * math.factorial(order) * math.sqrt(math.pi))
    return norm * eval_hermite(order, x) * np.exp(-0.5 * x * x)


def _dominant(wave: np.ndarray, fs_fine: float, min_sep_s: float, factor: float) -> bool:
    """True when the largest |peak| beats every other local |peak| further than min_sep_s by factor."""
    mag = np.abs(wave)
    top = int(np.argmax(mag))
    inner = mag[1:-1]
    peaks = np.flatnonzero((inner >= mag[:-2]) & (inner >= mag[2:])) + 1
    far = peaks[np.abs(peaks - top) > min_sep_s * fs_fine]
    return not len(far) or mag[top] >= factor * mag[far].max()


def needle_unit(rng: np.random.Generator, fs: float, amplitude_uv: float, unstable: bool,
                params: MuapParams, min_sep_s: float) -> UnitShape:
    """A needle MUAP: a sharp main spike (Hermite functions of orders 1-4, 0.12-0.45 ms scale),
    0-4 late/early satellite fibre spikes and a slow bi/triphasic envelope (total 5-18 ms)."""
    oversample = 4
    lead_s, window_s = 0.010, 0.030
    fine_fs = fs * oversample
    t = np.arange(int(window_s * fine_fs)) / fine_fs - lead_s
    for _ in range(200):
        scale = rng.uniform(0.12e-3, 0.45e-3)
        orders = rng.choice([1, 2, 3, 4], size=rng.integers(1, 4), replace=False)
        main = sum(rng.normal(0, 1) * _hermite_function(int(n), (t - rng.normal(0, 0.1e-3)) / scale)
                   for n in orders)
        slow_scale = rng.uniform(0.8e-3, 3.0e-3)
        slow = rng.uniform(0.05, 0.25) * np.abs(main).max() * rng.choice([-1, 1]) * \
            _hermite_function(int(rng.integers(1, 3)), (t - rng.uniform(-1e-3, 2e-3)) / slow_scale) / 0.6
        satellites = []
        for _ in range(int(rng.choice([0, 0, 1, 2, 3, 4]))):
            lat = rng.choice([-1, 1]) * rng.uniform(1.5e-3, 8e-3)
            sc = rng.uniform(0.1e-3, 0.3e-3)
            amp = rng.uniform(0.05, 0.35) * np.abs(main).max() * rng.choice([-1, 1])
            satellites.append((lat, sc, amp, int(rng.integers(1, 3))))

        def build(block: float, jitter_s: float) -> np.ndarray:
            wave = main + slow
            for lat, sc, amp, n in satellites:
                if rng.random() < block:
                    continue
                wave = wave + amp * _hermite_function(n, (t - lat - rng.normal(0, jitter_s)) / sc) / 0.7
            return wave

        base = build(0.0, 0.0)
        if not _dominant(base, fine_fs, min_sep_s, params.dominance):
            continue
        variants = [base]
        if unstable:
            variants += [build(0.3, 150e-6), build(0.3, 150e-6)]
        variants = np.stack(variants)[:, None, :]
        if not all(_dominant(v[0], fine_fs, min_sep_s, params.dominance) for v in variants):
            continue
        variants *= rng.choice([-1, 1]) * amplitude_uv / np.ptp(base)
        return UnitShape(variants, oversample, fs, 0, lead_s)
    raise RuntimeError("could not draw a needle MUAP with a dominant peak in 200 tries")


# ------------------------------------------------------------------ surface line source
_DX_MM = 0.25
_U = np.arange(-200.0, 200.0 + _DX_MM, _DX_MM)  # front-to-electrode offset along the fibre (mm)
_RHO = np.concatenate([np.arange(1.0, 10.0, 0.5), np.arange(10.0, 60.0, 2.0)])  # transverse distance (mm)
#: Radial / axial conductivity ratio of muscle (anisotropy ~ 0.1-0.3 in the literature).
_ANISOTROPY = 0.2
_TRIPOLE_MM = 20.0
_GENERATION_MM = 10.0


def _ramp(x: np.ndarray) -> np.ndarray:
    """Raised-cosine step: 0 below 0, 1 above 1."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))


@lru_cache(maxsize=1)
def _front_potential() -> np.ndarray:
    """Potential (a.u.) at transverse distance rho and axial offset u from one propagating
    depolarisation front: the second spatial derivative of Rosenfalck's intracellular action
    potential V(s) = 96 s^3 e^-s - 90 (s in mm behind the front) convolved with 1/r."""
    s = np.arange(0.0, _TRIPOLE_MM, _DX_MM)
    source = 96.0 * (6 * s - 6 * s ** 2 + s ** 3) * np.exp(-s)  # d2V/ds2
    source -= source.mean()  # zero net current over the truncated window
    out = np.empty((len(_RHO), len(_U)))
    for i, rho in enumerate(_RHO):
        x = np.arange(-220.0, 220.0 + _DX_MM, _DX_MM)
        kernel = 1.0 / np.sqrt(_ANISOTROPY * x ** 2 + rho ** 2)
        # sources at u - s: potential(u) = sum_s source(s) kernel(u - s)
        full = np.convolve(kernel, source, mode="full")[: len(x)]
        out[i] = np.interp(_U, x, full) * _DX_MM
    return out


def _front_at(rho: np.ndarray) -> np.ndarray:
    """Front potential curves for each transverse distance in rho: (len(rho), len(_U))."""
    table = _front_potential()
    rho = np.clip(rho, _RHO[0], _RHO[-1])
    idx = np.clip(np.searchsorted(_RHO, rho) - 1, 0, len(_RHO) - 2)
    w = (rho - _RHO[idx]) / (_RHO[idx + 1] - _RHO[idx])
    return table[idx] * (1 - w)[:, None] + table[idx + 1] * w[:, None]


def surface_unit(rng: np.random.Generator, fs: float, electrodes_xy: np.ndarray, bipolar_mm: float | None,
                 centre_xy: tuple, amplitude_uv: float, unstable: bool, params: MuapParams,
                 min_sep_s: float) -> UnitShape:
    """A surface MUAP from 12-30 fibres of one unit, each two fronts leaving the end plate at
    conduction velocity 3-5.5 m/s and fading at the tendons, seen through 3-22 mm of tissue.

    electrodes_xy: (n_channels, 2) positions (mm), x along the fibres. bipolar_mm: when given, each
    channel is the difference of two points bipolar_mm apart along x (centred on the position).
    """
    oversample = 8
    lead_s, window_s = 0.008, 0.045
    fine_fs = fs * oversample
    t = np.arange(int(window_s * fine_fs)) / fine_fs - lead_s
    cx, cy = centre_xy
    for _ in range(100):
        depth = rng.uniform(3.0, 22.0)
        cv = rng.uniform(3.0, 5.5)  # m/s = mm/ms
        territory = rng.uniform(2.0, 6.0)
        n_fibres = int(rng.integers(12, 31))
        endplate = cx + rng.normal(0, 3.0)
        half_lengths = rng.uniform(30.0, 70.0, size=2)
        y_unit = cy + rng.normal(0, 6.0)

        fibres = []
        for _ in range(n_fibres):
            fibres.append(dict(y=y_unit + rng.normal(0, territory / 2), z=depth + rng.normal(0, territory / 2),
                               x0=endplate + rng.normal(0, 2.5), delay=rng.uniform(0, 0.4e-3),
                               left=half_lengths[0] + rng.normal(0, 3), right=half_lengths[1] + rng.normal(0, 3)))

        def build(block: float, jitter_s: float) -> np.ndarray:
            if bipolar_mm is None:
                points = [(electrodes_xy, 1.0)]
            else:
                points = [(electrodes_xy + [bipolar_mm / 2, 0], 1.0), (electrodes_xy - [bipolar_mm / 2, 0], -1.0)]
            wave = np.zeros((len(electrodes_xy), len(t)))
            for f in fibres:
                if rng.random() < block:
                    continue
                tt = (t - f["delay"] - rng.normal(0, jitter_s)) * 1e3  # ms
                travelled = np.clip(cv * tt, 0.0, None)
                for direction, length in ((1.0, f["right"]), (-1.0, f["left"])):
                    front = f["x0"] + direction * travelled
                    # the tripole builds up as the front leaves the end plate (generation) and dies
                    # away past the tendon (extinction): smooth ramps over the tripole's length
                    fade = _ramp(travelled / _GENERATION_MM) * _ramp(1 - (travelled - length) / _TRIPOLE_MM)
                    for pts, sign in points:
                        rho = np.hypot(pts[:, 1] - f["y"], max(f["z"], 1.0))
                        curves = _front_at(rho)
                        u = direction * (front[None, :] - pts[:, 0:1])
                        for ch in range(len(pts)):
                            wave[ch] += sign * fade * np.interp(u[ch], _U, curves[ch])
            return wave

        base = build(0.0, 0.0)
        main = int(np.argmax(np.ptp(base, axis=1)))
        if np.ptp(base[main]) <= 0 or not _dominant(base[main], fine_fs, min_sep_s, params.dominance):
            continue
        variants = [base]
        if unstable:
            variants += [build(0.15, 100e-6), build(0.15, 100e-6)]
        if not all(_dominant(v[main], fine_fs, min_sep_s, params.dominance) for v in variants):
            continue
        variants = np.stack(variants) * (amplitude_uv / np.ptp(base[main]))
        return UnitShape(variants, oversample, fs, main, lead_s)
    raise RuntimeError("could not draw a surface MUAP with a dominant peak in 100 tries")
