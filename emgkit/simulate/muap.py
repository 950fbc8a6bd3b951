"""Motor-unit action potential shapes, as analytic sums of Gaussian-derivative (Hermite) components.

A shape is evaluated at any time (ms), so sub-sample firing times, per-channel
propagation delays and per-discharge jitter cost nothing extra. Times are
relative to the firing instant; ``support_ms`` bounds where the shape differs
from zero.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: |w| above this fraction of the peak counts as "inside the MUAP" when measuring duration [ENG].
DURATION_THRESHOLD = 0.03


def _basis(order: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Gaussian derivatives of order 0, 1, 2, 3 (up to sign), each with max |.| of order 1."""
    g = np.exp(-0.5 * x * x)
    return np.where(order == 0, g,
           np.where(order == 1, -x * g * 1.6487,
           np.where(order == 2, (x * x - 1.0) * g,
                    (x * x * x - 3.0 * x) * g * 0.6)))


@dataclass
class MuapShape:
    """w(t) = Σ_j amp_j · φ_{order_j}((t − center_j) / width_j), t in ms; plus an optional slow tail.

    ``tail_amp``/``tail_tau_ms``/``tail_start_ms`` add ``tail_amp · (s/τ)·exp(1 − s/τ)`` for
    s = t − tail_start > 0 (the negative tail of a positive sharp wave).
    """

    amp: np.ndarray
    center: np.ndarray
    width: np.ndarray
    order: np.ndarray
    tail_amp: float = 0.0
    tail_tau_ms: float = 1.0
    tail_start_ms: float = 0.0

    @property
    def n_components(self) -> int:
        return self.amp.size

    @property
    def support_ms(self) -> tuple[float, float]:
        lo = float(np.min(self.center - 4.5 * self.width))
        hi = float(np.max(self.center + 4.5 * self.width))
        if self.tail_amp:
            hi = max(hi, self.tail_start_ms + 9.0 * self.tail_tau_ms)
        return lo, hi

    def evaluate(self, t_ms: np.ndarray, gains: np.ndarray | None = None, shifts_ms: np.ndarray | None = None
                 ) -> np.ndarray:
        """w at ``t_ms`` (shape (..., L)); ``gains``/``shifts_ms`` (..., n_components) vary each component."""
        t = np.asarray(t_ms, dtype=np.float64)[..., np.newaxis, :]
        center = self.center[:, None]
        if shifts_ms is not None:
            center = center + shifts_ms[..., :, None]
        x = (t - center) / self.width[:, None]
        amp = self.amp[:, None] if gains is None else self.amp[:, None] * gains[..., :, None]
        out = np.sum(amp * _basis(self.order[:, None], x), axis=-2)
        if self.tail_amp:
            s = (np.asarray(t_ms, dtype=np.float64) - self.tail_start_ms) / self.tail_tau_ms
            out = out + self.tail_amp * np.where(s > 0, s * np.exp(1.0 - np.clip(s, 0, 50)), 0.0)
        return out

    def scaled_in_time(self, factor: float) -> "MuapShape":
        return MuapShape(self.amp.copy(), self.center * factor, self.width * factor, self.order.copy(),
                         self.tail_amp, self.tail_tau_ms * factor, self.tail_start_ms * factor)

    def normalised(self) -> "MuapShape":
        """Same shape with max |w| = 1."""
        lo, hi = self.support_ms
        t = np.linspace(lo, hi, 4001)
        peak = np.max(np.abs(self.evaluate(t)))
        return MuapShape(self.amp / peak, self.center, self.width, self.order,
                         self.tail_amp / peak, self.tail_tau_ms, self.tail_start_ms)


def measure(w: np.ndarray, dt_ms: float, threshold: float = DURATION_THRESHOLD) -> tuple[float, float, int]:
    """(duration_ms, peak_to_peak, n_phases) of a sampled waveform ``w``.

    Duration spans the samples where |w| exceeds ``threshold`` × max|w|; phases count
    the sign changes of the part above threshold, plus one.
    """
    w = np.asarray(w, dtype=np.float64)
    a = np.abs(w)
    peak = a.max() if a.size else 0.0
    if peak == 0:
        return 0.0, 0.0, 0
    above = np.flatnonzero(a > threshold * peak)
    duration = (above[-1] - above[0] + 1) * dt_ms
    seg = w[above[0]:above[-1] + 1]
    significant = seg[np.abs(seg) > threshold * peak]
    phases = 1 + int(np.count_nonzero(np.diff(np.sign(significant)) != 0))
    return float(duration), float(w.max() - w.min()), phases


def _fit_duration(shape: MuapShape, duration_ms: float) -> MuapShape:
    """Stretch ``shape`` in time so its measured duration equals ``duration_ms``; centre it on its peak."""
    lo, hi = shape.support_ms
    dt = (hi - lo) / 4000
    t = lo + dt * np.arange(4001)
    w = shape.evaluate(t)
    current, _, _ = measure(w, dt)
    factor = duration_ms / current
    peak_t = t[np.argmax(np.abs(w))]
    stretched = shape.scaled_in_time(factor)
    stretched.center = stretched.center - peak_t * factor
    stretched.tail_start_ms -= peak_t * factor
    return stretched.normalised()


#: The largest phase of a MUAP is at least this much larger than any other, so its peak time is well defined [ENG].
DOMINANT_PHASE_RATIO = 1.25


def _second_peak_ratio(w: np.ndarray) -> float:
    """Second-largest local maximum of |w| over the largest."""
    a = np.abs(w)
    inner = (a[1:-1] >= a[:-2]) & (a[1:-1] > a[2:])
    peaks = np.sort(a[1:-1][inner])[::-1]
    return float(peaks[1] / peaks[0]) if peaks.size > 1 else 0.0


def random_muap(rng: np.random.Generator, duration_ms: float, polyphasic_probability: float = 0.2) -> MuapShape:
    """A random bi-, tri- or polyphasic MUAP of the given duration, peak |w| = 1, largest peak at t = 0.

    Built from a main Gaussian-derivative spike (order 1–3, random sign) plus
    0–2 slower flanking components and, for polyphasic units, 1–4 late
    small satellite components at random delays. Component 0 is the main spike.
    Shapes whose two largest phases are nearly equal are redrawn
    (``DOMINANT_PHASE_RATIO``).
    """
    for _ in range(100):
        shape = _draw_muap(rng, polyphasic_probability)
        lo, hi = shape.support_ms
        if _second_peak_ratio(shape.evaluate(np.linspace(lo, hi, 2001))) <= 1.0 / DOMINANT_PHASE_RATIO:
            break
    return _fit_duration(shape, duration_ms)


def _draw_muap(rng: np.random.Generator, polyphasic_probability: float) -> MuapShape:
    main_order = int(rng.choice([1, 2, 2, 3]))
    amps = [rng.choice([-1.0, 1.0])]
    centers = [0.0]
    widths = [1.0]
    orders = [main_order]
    for _ in range(int(rng.integers(0, 3))):  # slow flanks: the initial and terminal phases
        amps.append(rng.uniform(0.1, 0.45) * rng.choice([-1.0, 1.0]))
        centers.append(rng.uniform(-2.0, 2.5))
        widths.append(rng.uniform(1.2, 2.6))
        orders.append(int(rng.choice([1, 2])))  # zero-area components: trains add no DC offset
    if rng.random() < polyphasic_probability:
        for _ in range(int(rng.integers(1, 5))):
            amps.append(rng.uniform(0.15, 0.5) * rng.choice([-1.0, 1.0]))
            centers.append(rng.uniform(1.5, 5.0))
            widths.append(rng.uniform(0.3, 0.8))
            orders.append(int(rng.choice([1, 2])))
    return MuapShape(np.array(amps), np.array(centers), np.array(widths), np.array(orders))


def fibrillation_shape(rng: np.random.Generator, duration_ms: float) -> MuapShape:
    """Fibrillation potential: bi/triphasic spike, initially positive, peak |w| = 1."""
    # Small positive onset, large negative spike, small positive end (positive = upward values here).
    shape = MuapShape(np.array([rng.uniform(0.3, 0.6), -1.0, rng.uniform(0.1, 0.4)]),
                      np.array([-1.2, 0.0, 1.3]), np.array([0.5, 0.45, 0.7]), np.array([0, 0, 0]))
    return _fit_duration(shape, duration_ms)


def positive_sharp_wave_shape(rng: np.random.Generator, spike_ms: float, tail_ms: float) -> MuapShape:
    """Positive sharp wave: a sharp positive deflection then a slow negative tail lasting ``tail_ms``."""
    width = spike_ms / 4.0
    tau = tail_ms / 6.0
    shape = MuapShape(np.array([1.0]), np.array([0.0]), np.array([width]), np.array([0]),
                      tail_amp=-rng.uniform(0.25, 0.5), tail_tau_ms=tau, tail_start_ms=0.5 * width)
    return shape.normalised()
