"""``simulate()``: build a Recording of spontaneous motor-unit activity and its exact Truth.

Per muscle: draw units (shape, size, spatial footprint, firing pattern),
render every discharge at its sub-sample firing time on every channel, add
background and artifacts, then tabulate the truth from what was rendered
(peak sample and peak-to-peak amplitude of each discharge on its main channel).
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from .. import schema
from .._intervals import covered_length
from ..errors import ParameterError, check_option
from ..recording import Electrode, Recording
from . import background, firing
from .firing import Group
from .muap import MuapShape, fibrillation_shape, measure, positive_sharp_wave_shape, random_muap
from .params import (DEFAULT_MUSCLES, ELECTRODES, PROXIMAL_MUSCLES, SCENARIOS, ElectrodeModel,
                     SimulationParams, resolve_params)
from .truth import SEGMENT_EXTRA, SUMMARY_COLUMNS, UNIT_COLUMNS, Truth

log = logging.getLogger("emgkit")

#: Keyword aliases accepted by simulate(): short name -> SimulationParams field.
ALIASES = {"n_units": "n_fasciculating_units", "fasciculation_rate": "fasciculation_rate_hz"}
#: Spontaneous discharges are kept this far from voluntary/cramp epochs (s) so rest is rest [ENG].
EPOCH_MARGIN_S = 0.3
_RENDER_CHUNK = 256


# ----------------------------------------------------------------------------- units
@dataclass
class Footprint:
    """How one unit appears on each channel: gain, propagation delay, time stretch, end-of-fibre waves."""

    gain: np.ndarray
    delay_ms: np.ndarray
    stretch: np.ndarray
    end_gain: np.ndarray = None  # (n_ends, K)
    end_time_ms: np.ndarray = None  # (n_ends,)
    end_width_ms: float = 2.0
    info: dict = field(default_factory=dict)

    @property
    def n_channels(self) -> int:
        return self.gain.size

    def span_ms(self, shape: MuapShape) -> tuple[float, float]:
        lo, hi = shape.support_ms
        lo = min(lo * self.stretch.max(), lo) + self.delay_ms.min()
        hi = hi * self.stretch.max() + self.delay_ms.max()
        if self.end_time_ms is not None and self.end_time_ms.size:
            hi = max(hi, self.end_time_ms.max() + 5 * self.end_width_ms)
        return lo, hi


def single_channel_footprint() -> Footprint:
    return Footprint(np.ones(1), np.zeros(1), np.ones(1))


def grid_footprint(rng, positions: np.ndarray) -> Footprint:
    """A unit under an HD grid: fibres along x, end-plate at (x0, y0), depth d, two waves at conduction velocity.

    Amplitude falls with lateral distance (ρ = √(Δy² + d²), gain (d/ρ)^p), is reduced near the end-plate
    where the two waves cancel, and beyond the fibre ends; the waveform widens with distance. Small
    non-propagating end-of-fibre waves appear on all channels at L/CV.
    """
    x, y = positions[:, 0], positions[:, 1]
    x0 = rng.uniform(x.min() - 5.0, x.max() + 5.0)
    y0 = rng.uniform(y.min() - 8.0, y.max() + 8.0)
    depth = rng.uniform(3.0, 15.0)
    cv = rng.uniform(3.0, 5.0)  # m/s = mm/ms
    half = rng.uniform(25.0, 70.0, 2)  # fibre half-lengths towards -x and +x (mm)
    p = rng.uniform(1.5, 2.5)
    dx = x - x0
    length = np.where(dx > 0, half[1], half[0])
    rho = np.sqrt((y - y0) ** 2 + depth ** 2)
    along = 0.35 + 0.65 * np.minimum(1.0, np.abs(dx) / 10.0)
    along = along * np.where(np.abs(dx) > length, np.exp(-(np.abs(dx) - length) / 8.0), 1.0)
    gain = (depth / rho) ** p * along
    delay = np.minimum(np.abs(dx), length) / cv
    stretch = (1.0 + 0.6 * (rho - depth) / (rho + 10.0)) * (1.0 + 0.004 * np.minimum(np.abs(dx), length))
    end_gain = np.stack([rng.uniform(0.05, 0.2) * rng.choice([-1, 1]) * (depth / rho) ** (0.5 * p) for _ in range(2)])
    return Footprint(gain, delay, stretch, end_gain, half / cv, float(rng.uniform(1.5, 3.0)),
                     info={"x0_mm": float(x0), "y0_mm": float(y0), "depth_mm": float(depth), "cv_m_s": float(cv)})


@dataclass
class Unit:
    uid: int
    pattern: str
    shape: MuapShape
    footprint: Footprint
    scale: float  # µV per unit of the footprint-weighted shape
    main: int  # main channel (index within the muscle)
    amplitude_jitter: float
    jiggle: float = 0.0
    groups: list = field(default_factory=list)
    duration_ms: float = 0.0
    n_phases: int = 0


def _u(rng, r):
    return float(rng.uniform(r[0], r[1])) if r[1] > r[0] else float(r[0])


def _count(rng, r) -> int:
    return int(rng.integers(int(r[0]), int(r[1]) + 1))


def _truncated_normal(rng, mean, sd, lo, hi) -> float:
    for _ in range(200):
        v = rng.normal(mean, sd)
        if lo <= v <= hi:
            return float(v)
    return float(np.clip(mean, lo, hi))


def _truncated_lognormal(rng, median, log_sd, lo, hi) -> float:
    for _ in range(200):
        v = median * np.exp(rng.normal(0.0, log_sd))
        if lo <= v <= hi:
            return float(v)
    return float(np.clip(median, lo, hi))


def _channel_waveforms(shape: MuapShape, fp: Footprint, t_ms: np.ndarray, gains=None, shifts=None) -> np.ndarray:
    """Waveforms (K, ..., L) on every channel at times ``t_ms`` (..., L) relative to the firing instant."""
    t = np.asarray(t_ms, dtype=np.float64)
    k_shape = (fp.n_channels,) + (1,) * t.ndim
    tk = (t[np.newaxis] - fp.delay_ms.reshape(k_shape)) / fp.stretch.reshape(k_shape)
    out = fp.gain.reshape(k_shape) * shape.evaluate(tk, gains, shifts)
    if fp.end_gain is not None:
        for g, te in zip(fp.end_gain, fp.end_time_ms):
            x = (t[np.newaxis] - te) / fp.end_width_ms
            out = out + g.reshape(k_shape) * (-x * np.exp(-0.5 * x * x) * 1.6487)
    return out


def make_unit(rng, uid: int, pattern: str, model: ElectrodeModel, p: SimulationParams, fp: Footprint,
              noise_rms: float, fs: float) -> Unit:
    """Draw a unit's shape and size; scale it so its main-channel template has the drawn peak-to-peak."""
    if pattern in ("fibrillation", "positive_sharp_wave"):
        spike = _u(rng, p.fibrillation_duration_ms)
        shape = (fibrillation_shape(rng, spike) if pattern == "fibrillation"
                 else positive_sharp_wave_shape(rng, spike, _u(rng, p.psw_tail_ms)))
        target = float(np.exp(rng.uniform(*np.log(p.fibrillation_amplitude_uv))))
    else:
        lo, hi = model.muap_duration_ms
        duration = _truncated_normal(rng, model.muap_duration_mean_ms, model.muap_duration_sd_ms, lo, hi)
        shape = random_muap(rng, duration)
        if p.snr_db is not None:
            target = noise_rms * 10 ** ((p.snr_db + rng.uniform(0, p.snr_spread_db)) / 20.0)
        else:
            target = _truncated_lognormal(rng, model.muap_amplitude_median_uv, model.muap_amplitude_log_sd,
                                          *model.muap_amplitude_uv)
    lo, hi = fp.span_ms(shape)
    dt = min(0.02, 1000.0 / fs / 4)
    t = np.arange(lo, hi, dt)
    w = _channel_waveforms(shape, fp, t)
    pp = w.max(axis=-1) - w.min(axis=-1)
    main = int(np.argmax(pp))
    scale = target / pp[main]
    duration_ms, _, phases = measure(w[main], dt)
    jiggle = 0.0
    if pattern == "fasciculating" and rng.random() < p.unstable_fraction:
        jiggle = _u(rng, p.jiggle_cov)
    return Unit(uid, pattern, shape, fp, scale, main, _u(rng, p.amplitude_jitter), jiggle,
                duration_ms=duration_ms, n_phases=phases)


# ----------------------------------------------------------------------------- rendering
def render(block: np.ndarray, fs: float, unit: Unit, times: np.ndarray, gains: np.ndarray, rng
           ) -> tuple[np.ndarray, np.ndarray]:
    """Add ``unit``'s discharges at ``times`` (s) into ``block``; return (peak sample, main-channel p-p) each."""
    n = block.shape[1]
    lo, hi = unit.footprint.span_ms(unit.shape)
    length = int(np.ceil((hi - lo) * fs / 1000.0)) + 2
    offs = np.arange(length)
    peaks = np.zeros(times.size, dtype=np.int64)
    pps = np.zeros(times.size)
    m = unit.shape.n_components
    for a in range(0, times.size, _RENDER_CHUNK):
        tt = times[a:a + _RENDER_CHUNK]
        g = gains[a:a + _RENDER_CHUNK] * rng.normal(1.0, unit.amplitude_jitter, tt.size)
        comp_gains = comp_shifts = None
        if unit.jiggle:
            comp_gains = rng.normal(1.0, unit.jiggle, (tt.size, m))
            comp_gains[:, 0] = rng.normal(1.0, unit.jiggle / 3.0, tt.size)  # the main spike varies least
            comp_shifts = rng.normal(0.0, 0.5 * unit.jiggle, (tt.size, m))  # ms
        first = np.floor(tt * fs + lo * fs / 1000.0).astype(np.int64)
        idx = first[:, None] + offs[None, :]
        t_rel = (idx / fs - tt[:, None]) * 1000.0
        waves = _channel_waveforms(unit.shape, unit.footprint, t_rel, comp_gains, comp_shifts)
        waves *= (unit.scale * g)[None, :, None]
        main = waves[unit.main]
        j = np.argmax(np.abs(main), axis=1)
        peaks[a:a + tt.size] = first + j
        pps[a:a + tt.size] = main.max(axis=1) - main.min(axis=1)
        valid = (idx >= 0) & (idx < n)
        flat_idx = idx[valid]
        for k in range(block.shape[0]):
            np.add.at(block[k], flat_idx, waves[k][valid])
    return peaks, pps


# ----------------------------------------------------------------------------- layout helpers
def _place_intervals(rng, count: int, length_range, duration: float, taken: list, gap: float = 2.0) -> list:
    out = []
    for _ in range(count):
        for _attempt in range(50):
            length = min(_u(rng, length_range), max(duration - 2 * gap, 0.5))
            start = rng.uniform(gap, max(gap, duration - length - gap))
            if all(start > e + gap or start + length < s - gap for s, e in taken + out):
                out.append((start, start + length))
                break
    return out


def _electrodes_for(name: str, model: ElectrodeModel, muscle: str):
    if not model.is_grid:
        return [muscle], [Electrode(model.kind)], None
    grid_name = f"GR{int(model.ied_mm):02d}MM{model.grid_rows:02d}{model.grid_cols:02d}"
    chans, els, pos = [], [], []
    for r in range(model.grid_rows):
        for c in range(model.grid_cols):
            x, y = r * model.ied_mm, c * model.ied_mm
            chans.append(f"{muscle}_R{r + 1}C{c + 1}")
            els.append(Electrode("hd_grid", grid_name, r, c, x, y, model.ied_mm))
            pos.append((x, y))
    return chans, els, np.asarray(pos, dtype=np.float64)


def _resolve_muscles(electrode: str, scenario, muscles) -> dict[str, str]:
    family = "needle" if electrode.startswith("needle") else ("grid" if electrode.startswith("grid") else "bipolar")
    if isinstance(scenario, dict):
        if muscles is not None:
            raise ParameterError("give muscles either in scenario={muscle: scenario} or in muscles=, not both")
        muscles, scenario = scenario, None
    if muscles is None:
        muscles = DEFAULT_MUSCLES[family]
    if isinstance(muscles, str):
        muscles = [muscles]
    if isinstance(muscles, dict):
        out = {str(m): (s or scenario) for m, s in muscles.items()}
    else:
        out = {str(m): scenario for m in muscles}
    if not out:
        raise ParameterError("muscles= must name at least one muscle")
    for m, s in out.items():
        if s is None:
            raise ParameterError(f"no scenario for muscle {m!r}; give scenario= or muscles={{muscle: scenario}}")
        check_option(f"scenario for muscle {m!r}", s, tuple(SCENARIOS))
        if not m or any(ch in m for ch in "/\\,"):
            raise ParameterError(f"muscle names must be non-empty without '/', '\\' or ','; got {m!r}")
    return out


# ----------------------------------------------------------------------------- public API
def simulate(scenario="isaacs", electrode: str = "needle", duration: float = 60.0, seed: int | None = 0, *,
             muscles=None, **params) -> tuple[Recording, Truth]:
    """Simulate an EMG recording of spontaneous motor-unit activity with its exact ground truth.

    Parameters
    ----------
    scenario : str or mapping
        A preset (``quiet``, ``benign``, ``als``, ``isaacs``, ``myokymia``, ``neuromyotonia``, ``cramp``,
        ``voluntary``) or a mapping muscle → preset for a multi-muscle recording.
    electrode : str
        ``needle`` (concentric), ``needle_monopolar``, ``bipolar``, ``grid`` (8×8, 8 mm), ``grid_13x5``.
    duration : float
        Seconds.
    seed : int
        Everything is drawn from ``np.random.default_rng(seed)``; the same seed gives the same data.
    muscles : str, list or mapping, optional
        Muscle names (one channel or one grid each), or muscle → scenario.
    **params
        Any :class:`~emgkit.simulate.params.SimulationParams` field (``snr_db=``, ``fs=``, ``mains_hz=``,
        ``artifacts=``, ...), plus ``n_units=`` (FP units per muscle) and ``fasciculation_rate=`` (Hz).

    Returns
    -------
    (Recording, Truth)
    """
    check_option("electrode", electrode, tuple(ELECTRODES))
    try:
        duration = float(duration)
    except (TypeError, ValueError):
        raise ParameterError(f"duration (s) must be a number; got {duration!r}") from None
    if not np.isfinite(duration) or duration < 1.0:
        raise ParameterError(f"duration (s) must be at least 1 s; got {duration}")
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2 ** 63))
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"seed must be a non-negative integer; got {seed!r}")
    seed = int(seed)
    overrides = {ALIASES.get(k, k): v for k, v in params.items()}
    muscle_scenarios = _resolve_muscles(electrode, scenario, muscles)
    model = ELECTRODES[electrode]
    per_muscle = {m: resolve_params(s, overrides) for m, s in muscle_scenarios.items()}
    first = next(iter(per_muscle.values()))
    fs = float(first.fs or model.fs)
    n = int(round(duration * fs))

    root = np.random.SeedSequence(seed)
    rec_rng, *muscle_seeds = [np.random.default_rng(s) for s in root.spawn(1 + len(per_muscle))]
    mains_hz = first.mains_hz if first.mains_hz is not None else float(rec_rng.choice([50.0, 60.0]))

    blocks, all_channels, all_muscles, all_electrodes = [], [], [], []
    rows_d, rows_e, rows_s, rows_u, resolved = [], [], [], [], {}
    event_counter = [0]
    for (muscle, scen), rng in zip(muscle_scenarios.items(), muscle_seeds):
        p = per_muscle[muscle]
        block, channels, electrodes, info = _simulate_muscle(
            rng, muscle, p, model, electrode, fs, n, mains_hz, rows_d, rows_e, rows_s, rows_u, event_counter)
        blocks.append(block)
        all_channels += channels
        all_muscles += [muscle] * len(channels)
        all_electrodes += electrodes
        resolved[muscle] = {"scenario": scen, **info, **asdict(p)}

    data = np.concatenate(blocks, axis=0).astype(np.float32)
    scen_attr = scenario if isinstance(scenario, str) else dict(muscle_scenarios)
    truth_params = {"scenario": scen_attr, "electrode": electrode, "duration": duration, "seed": seed, "fs": fs,
                    "mains_hz": mains_hz, "muscles": resolved}
    truth = _build_truth(rows_d, rows_e, rows_s, rows_u, list(muscle_scenarios), duration, fs, electrode,
                         scen_attr, seed, truth_params)
    from .. import __version__

    meta = {"simulator": "emgkit.simulate", "emgkit_version": __version__, "scenario": scen_attr,
            "electrode": electrode, "seed": seed, "duration_s": duration, "mains_hz": mains_hz,
            "params": truth_params["muscles"]}
    rec = Recording.from_array(data, fs, channels=all_channels, electrodes=all_electrodes, meta=meta)
    rec.muscles = all_muscles
    return rec, truth


def _simulate_muscle(rng, muscle, p: SimulationParams, model: ElectrodeModel, electrode: str, fs: float, n: int,
                     mains_hz: float, rows_d, rows_e, rows_s, rows_u, event_counter, *, layout=None,
                     noise_rms: float | None = None, window: tuple | None = None, synthetic_background: bool = True):
    """Units, firing, rendering (and, unless ``synthetic_background`` is False, background and artifacts).

    ``layout`` = (channels, electrodes, positions or None) overrides the electrode's own layout and
    ``window`` = (t0, t1) in s limits where discharges are placed: both used by ``inject``.
    """
    duration = n / fs
    channels, electrodes, positions = layout or _electrodes_for(electrode, model, muscle)
    k = len(channels)
    if noise_rms is None:
        noise_rms = _u(rng, p.noise_rms_uv or model.noise_rms_uv)
    block = np.zeros((k, n), dtype=np.float64)

    def footprint():
        return grid_footprint(rng, positions) if positions is not None else single_channel_footprint()

    # Epochs first: spontaneous firing is kept out of them.
    voluntary = _place_intervals(rng, int(rng.poisson(p.voluntary_epochs_per_min * duration / 60.0))
                                 if p.voluntary_epochs_per_min else 0, p.voluntary_epoch_s, duration, [])
    cramps = _place_intervals(rng, _count(rng, p.n_cramps), p.cramp_duration_s, duration, voluntary)
    busy = [(s - EPOCH_MARGIN_S, e + EPOCH_MARGIN_S) for s, e in voluntary + cramps]

    units: list[Unit] = []

    def new_unit(pattern):
        u = make_unit(rng, len(units), pattern, model, p, footprint(), noise_rms, fs)
        units.append(u)
        return u

    edge = 0.05  # keep whole MUAPs inside the recording (s)
    t0, t1 = edge, duration - edge
    if window is not None:
        t0, t1 = max(t0, window[0]), min(t1, window[1])
    for _ in range(_count(rng, p.n_fasciculating_units)):
        u = new_unit("fasciculating")
        u.groups = firing.fasciculating_unit(rng, p, t0, t1)
    for _ in range(_count(rng, p.n_myokymic_units)):
        u = new_unit("myokymic")
        u.groups = firing.myokymic_unit(rng, p, t0, t1)
    for _ in range(_count(rng, p.n_neuromyotonic_units)):
        u = new_unit("neuromyotonic")
        u.groups = firing.neuromyotonic_unit(rng, p, t0, t1)
    if model.is_needle:
        for _ in range(_count(rng, p.n_fibrillating_fibres)):
            kind = "positive_sharp_wave" if rng.random() < p.positive_sharp_wave_fraction else "fibrillation"
            u = new_unit(kind)
            length = _u(rng, p.fibrillation_train_s)
            start = rng.uniform(t0 - length * 0.5, t1 - length * 0.5)
            u.groups = [firing.regular_train(rng, kind, _u(rng, p.fibrillation_rate_hz), _u(rng, p.fibrillation_cov),
                                             max(t0, start), min(t1, start + length))]
    for _ in range(_count(rng, p.n_continuous_units)):
        u = new_unit("continuous")
        u.groups = [firing.regular_train(rng, "continuous", _u(rng, p.continuous_rate_hz), _u(rng, p.continuous_cov),
                                         t0, t1)]
    # Spontaneous groups stay inside rest; trains (fibrillation, continuous) are cut at epochs.
    for u in units:
        kept = []
        for g in u.groups:
            if g.times.size == 0 or g.times[0] < t0 or g.times[-1] > t1:
                continue
            inside = np.zeros(g.times.size, bool)
            for s, e in busy:
                inside |= (g.times >= s) & (g.times <= e)
            if g.kind in ("fibrillation", "positive_sharp_wave", "continuous"):
                for piece in _split(g, ~inside):
                    kept.append(piece)
            elif not inside.any():
                kept.append(g)
        u.groups = kept
    # Cramp episodes: many units each.
    for ep, (s, e) in enumerate(cramps):
        n_units = _count(rng, p.cramp_units)
        for g in firing.cramp_episode(rng, p, s, e - s, n_units, ep):
            u = new_unit("cramp")
            u.groups = [g]
    # Voluntary epochs: one pool of units recruited by threshold in every epoch.
    if voluntary:
        n_vol = _count(rng, p.voluntary_units)
        pool = [new_unit("voluntary") for _ in range(n_vol)]
        thresholds = np.sort(rng.uniform(0, 1, n_vol) ** 2 * 0.85)
        covs = rng.uniform(*p.voluntary_cov, n_vol)
        max_rates = rng.uniform(*p.voluntary_max_rate_hz, n_vol)
        for s, e in voluntary:
            for u, g in zip(pool, firing.voluntary_epoch(rng, p, s, e - s, thresholds, covs, max_rates)):
                if g.times.size:
                    u.groups.append(g)

    # Render, and tabulate what was rendered.
    temp_events = []
    cramp_event = {}
    first_row = len(rows_d)
    for u in units:
        for g in u.groups:
            if g.times.size == 0:
                continue
            g.times = g.times[(g.times >= t0) & (g.times <= t1)]
            g.gains = g.gains[:g.times.size] if g.gains.size >= g.times.size else np.ones(g.times.size)
            peaks, pps = render(block, fs, u, g.times, g.gains, rng)
            ptimes = peaks / fs
            if g.kind is None:
                ev = None
            elif g.kind == "cramp":
                if g.episode not in cramp_event:
                    cramp_event[g.episode] = len(temp_events)
                    temp_events.append({"kind": "cramp", "unit": -1, "times": [], "unit_rates": []})
                ev = cramp_event[g.episode]
                temp_events[ev]["times"].append(ptimes)
                if ptimes.size > 1:
                    temp_events[ev]["unit_rates"].append((ptimes.size - 1) / (ptimes[-1] - ptimes[0]))
            else:
                ev = len(temp_events)
                temp_events.append({"kind": g.kind, "unit": u.uid, "times": [ptimes], "unit_rates": []})
            for t, a in zip(ptimes, pps):
                rows_d.append([float(t), muscle, channels[u.main], u.uid, float(a), ev, g.state])
        rows_u.append([muscle, u.uid, u.pattern, float(u.scale * 1.0 * _template_pp(u)), channels[u.main],
                       u.duration_ms, u.n_phases, u.footprint.info.get("x0_mm", np.nan),
                       u.footprint.info.get("cv_m_s", np.nan)])
    # Background and artifacts.
    ecg = p.ecg if p.ecg is not None else (not model.is_needle and muscle.lower().startswith(PROXIMAL_MUSCLES))
    segments = [("voluntary", s, e, "") for s, e in voluntary] + [("cramp", s, e, "") for s, e in cramps]
    if synthetic_background:
        background.add_background(rng, block, fs, model, p, noise_rms, mains_hz, ecg, positions)
        if p.artifacts:
            segments += background.add_artifacts(rng, block, fs, model, p, channels)
        else:
            np.clip(block, -model.rail_uv, model.rail_uv, out=block)
            segments += background.clipped_segments(block, fs, model.rail_uv, channels)
    for state, s, e, ch in segments:
        rows_s.append([muscle, state, float(s), float(e), ch])
    # Discharge states: artifact where the main channel is under an artifact/clipped/flat segment.
    bad = [(s, e, ch) for state, s, e, ch in segments if state in ("artifact", "clipped", "flat")]
    for row in rows_d[first_row:]:
        if row[6] == "rest" and any(s <= row[0] <= e and (ch == "" or ch == row[2]) for s, e, ch in bad):
            row[6] = "artifact"
        if row[5] is not None:
            row[5] = ("tmp", muscle, row[5])
    for i, ev in enumerate(temp_events):
        times = np.concatenate(ev["times"])
        rate = (float(np.mean(ev["unit_rates"])) if ev["kind"] == "cramp" and ev["unit_rates"]
                else ((times.size - 1) / (times.max() - times.min()) if times.max() > times.min() else 0.0))
        rows_e.append([("tmp", muscle, i), muscle, ev["unit"], ev["kind"], float(times.min()), float(times.max()),
                       int(times.size), float(rate), 1.0])
    info = {"noise_rms_uv": noise_rms, "ecg": bool(ecg), "n_channels": k}
    return block, channels, electrodes, info


def _template_pp(u: Unit) -> float:
    lo, hi = u.footprint.span_ms(u.shape)
    t = np.arange(lo, hi, 0.02)
    w = _channel_waveforms(u.shape, u.footprint, t)[u.main]
    return float(w.max() - w.min())


def _split(g: Group, keep: np.ndarray) -> list[Group]:
    """Runs of kept discharges of a regular train, each its own train (an epoch cut it)."""
    out = []
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        return out
    breaks = np.flatnonzero(np.diff(idx) > 1)
    for run in np.split(idx, breaks + 1):
        if run.size >= 2:
            out.append(Group(g.kind, g.times[run], g.gains[run], g.state))
    return out


def _build_truth(rows_d, rows_e, rows_s, rows_u, muscles, duration, fs, electrode, scenario, seed, params) -> Truth:
    events = pd.DataFrame(rows_e, columns=list(schema.EVENT_COLUMNS))
    events = events.sort_values(["start", "muscle", "unit"], kind="stable").reset_index(drop=True)
    id_map = {key: i for i, key in enumerate(events["event"])}
    events["event"] = np.arange(len(events), dtype=np.int64)
    for row in rows_d:
        row[5] = -1 if row[5] is None else id_map[row[5]]
    discharges = pd.DataFrame(rows_d, columns=list(schema.DISCHARGE_COLUMNS))
    discharges = discharges.sort_values(["time", "muscle", "unit"], kind="stable").reset_index(drop=True)
    discharges = discharges.astype({"time": "float64", "unit": "int64", "amplitude": "float64", "event": "int64"})
    events = events.astype({"unit": "int64", "start": "float64", "end": "float64", "n_discharges": "int64",
                            "rate": "float64", "confidence": "float64"})
    segments = pd.DataFrame(rows_s, columns=[*schema.SEGMENT_COLUMNS, *SEGMENT_EXTRA])
    segments = segments.sort_values(["muscle", "start"], kind="stable").reset_index(drop=True)
    segments = segments.astype({"start": "float64", "end": "float64"})
    units = pd.DataFrame(rows_u, columns=[*UNIT_COLUMNS, "endplate_x_mm", "cv_m_s"])
    units = units.astype({"unit": "int64", "amplitude": "float64", "duration_ms": "float64", "n_phases": "int64"})
    summary = summarise(events, segments, units, muscles, duration)
    return Truth(discharges, events, segments, summary, units, fs, electrode, scenario, seed, params, duration)


def summarise(events: pd.DataFrame, segments: pd.DataFrame, units: pd.DataFrame, muscles, duration: float
              ) -> pd.DataFrame:
    """One row per muscle: rest vs excluded time and events per minute of rest, by kind.

    Excluded time is the union of the muscle's segments that cover all its channels (or, for a
    one-channel muscle, any segment). Events count when they start in rest time.
    """
    rows = []
    for m in muscles:
        seg = segments[segments["muscle"] == m]
        whole = seg[seg["channel"] == ""]  # one-channel muscles record every segment with channel ""
        spans = list(zip(whole["start"], whole["end"]))
        excluded = covered_length(whole["start"], whole["end"])
        rest = max(duration - excluded, 0.0)
        ev = events[events["muscle"] == m]
        in_rest = np.array([not any(s <= t <= e for s, e in spans) for t in ev["start"]], dtype=bool)
        ev_rest = ev[in_rest] if len(ev) else ev
        per_min = {k: (float((ev_rest["kind"] == k).sum()) / (rest / 60.0) if rest > 0 else 0.0)
                   for k in schema.EVENT_KINDS}
        spontaneous_units = ev[ev["kind"].isin(schema.SPONTANEOUS_KINDS)]["unit"].nunique()
        fp_firings = per_min["fasciculation"] + per_min["doublet"] + per_min["multiplet"]
        rows.append([m, rest, excluded, int(spontaneous_units), fp_firings,
                     *(per_min[k] for k in schema.EVENT_KINDS)])
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
