"""Assemble one simulated recording and its truth: units, firing, noise, artifacts, exclusions."""
from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from emgkit import schema
from emgkit.recording import Electrode, Recording

from . import firing, noise
from .muap import UnitShape, needle_unit, surface_unit
from .params import (BIPOLAR_FS, GRID_FS, GRID_LAYOUTS, NEEDLE_FS, NOISE, SCENARIOS, CrampParams, MuapParams,
                     MyokymicParams, NeuromyotonicParams, Scenario, VoluntaryParams)

logger = logging.getLogger("emgkit")

ELECTRODES = ("needle", "bipolar", "grid")
BIPOLAR_MUSCLES = ("biceps brachii", "first dorsal interosseous", "tibialis anterior", "vastus lateralis")
#: Scoring tolerance of the detector issue: ±1.5 ms needle, ±3 ms surface.
TOLERANCE_S = {"needle": 0.0015, "bipolar": 0.003, "grid": 0.003}
#: Spontaneous events closer than this to an excluded stretch are not generated (s).
EXCLUSION_MARGIN_S = {"voluntary": 0.3, "cramp": 0.3, "artifact": 0.05}


@dataclass
class Truth:
    """What was simulated: the tables emgkit.evaluate reads, plus the units and setup."""

    discharges: pd.DataFrame
    events: pd.DataFrame
    segments: pd.DataFrame
    electrode: str
    duration: float
    fs: float
    scenario: str
    seed: int
    units: pd.DataFrame
    info: dict = field(default_factory=dict)


@dataclass
class _Unit:
    muscle: str
    unit: int
    role: str
    shape: UnitShape
    channel_offset: int
    channel_index: np.ndarray  # recording channels the shape's rows go to
    amplitude_uv: float
    unstable: bool
    groups: list = field(default_factory=list)  # (kind or None, times, gains, state)


def _seed(scenario: str, electrode: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(f"{scenario}/{electrode}".encode())])


def _amplitude(rng, electrode: str, m: MuapParams, scale: float = 1.0) -> float:
    if electrode == "needle":
        return float(np.clip(m.needle_uv_median * scale * np.exp(rng.normal(0, m.needle_uv_sigma)),
                             m.needle_uv.low, m.needle_uv.high))
    return float(np.clip(m.surface_uv_median * scale * np.exp(rng.normal(0, m.surface_uv_sigma)),
                         m.surface_uv.low, m.surface_uv.high))


class _Setup:
    """Channels, muscles and electrode geometry of one electrode kind."""

    def __init__(self, rng, electrode: str):
        self.kind = electrode
        if electrode == "needle":
            self.fs = float(rng.choice(NEEDLE_FS))
            self.channels, self.muscles = ["EMG"], ["simulated muscle"]
            self.electrodes = [Electrode("needle_concentric")]
        elif electrode == "bipolar":
            self.fs = float(rng.choice(BIPOLAR_FS))
            n = int(rng.integers(1, 5))
            self.muscles = list(BIPOLAR_MUSCLES[:n])
            self.channels = [f"{m.split()[0]}" for m in self.muscles]
            self.electrodes = [Electrode("surface_bipolar")] * n
            self.ied_mm = float(rng.uniform(10, 20))
        elif electrode == "grid":
            self.fs = GRID_FS
            self.layout = str(rng.choice(list(GRID_LAYOUTS)))
            rows, cols, ied = GRID_LAYOUTS[self.layout]
            self.rows, self.cols, self.ied_mm = rows, cols, ied
            # a 13x5 grid has 64 electrodes: the first corner is empty (as on OT Bioelettronica GR08MM1305)
            cells = [(r, c) for r in range(rows) for c in range(cols)][rows * cols - 64:]
            self.xy = np.array([(r * ied, c * ied) for r, c in cells], float)
            self.channels = [f"R{r + 1}C{c + 1}" for r, c in cells]
            self.muscles = ["simulated muscle"] * len(self.channels)
            self.electrodes = [Electrode("hd_grid", grid=f"sim{self.layout}", row=r, col=c, x_mm=r * ied,
                                         y_mm=c * ied, ied_mm=ied) for r, c in cells]
        else:
            raise ValueError(f"electrode must be one of {', '.join(ELECTRODES)}; got {electrode!r}")
        self.muscle_names = list(dict.fromkeys(self.muscles))

    def channels_of(self, muscle: str) -> np.ndarray:
        return np.flatnonzero(np.array(self.muscles) == muscle)

    def draw_shape(self, rng, amplitude: float, unstable: bool, m: MuapParams) -> UnitShape:
        min_sep = TOLERANCE_S[self.kind]
        if self.kind == "needle":
            return needle_unit(rng, self.fs, amplitude, unstable, m, min_sep)
        if self.kind == "bipolar":
            return surface_unit(rng, self.fs, np.zeros((1, 2)), self.ied_mm, (rng.normal(0, 15), 0.0),
                                amplitude, unstable, m, min_sep)
        centre = (rng.uniform(-10, self.xy[:, 0].max() + 10), rng.uniform(-5, self.xy[:, 1].max() + 5))
        return surface_unit(rng, self.fs, self.xy, None, centre, amplitude, unstable, m, min_sep)


def _overlaps(a0, a1, spans, margin) -> bool:
    return any(a0 - margin < s1 and s0 < a1 + margin for s0, s1 in spans)


def simulate(scenario: str, electrode: str = "needle", duration: float = 60.0, seed: int = 0,
             muap: MuapParams = MuapParams()) -> tuple[Recording, Truth, np.ndarray]:
    """One recording of ``scenario`` on ``electrode``.

    Returns (recording, truth, clean) where ``clean`` is the noise-free sum of all MUAPs
    (n_channels, n_samples), kept for the truth's self-check.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}; got {scenario!r}")
    sc: Scenario = SCENARIOS[scenario]
    rng = _seed(scenario, electrode, seed)
    setup = _Setup(rng, electrode)
    fs, n = setup.fs, int(round(duration * setup.fs))
    n_ch = len(setup.channels)
    factor = sc.needle_unit_factor if electrode == "needle" else 1.0

    def count(r) -> int:
        if r.high <= 0:
            return 0
        return max(1, int(round(rng.integers(int(r.low), int(r.high) + 1) * factor)))

    units: list[_Unit] = []
    excluded: dict[str, list] = {m: [] for m in setup.muscle_names}  # (state, start, end)
    data = np.zeros((n_ch, n))
    p_noise = NOISE[electrode]

    for muscle in setup.muscle_names:
        chans = setup.channels_of(muscle)
        next_id = 0

        def add_unit(role, amp_scale=1.0, unstable_p=muap.p_unstable):
            nonlocal next_id
            amp = _amplitude(rng, electrode, muap, amp_scale)
            unstable = bool(rng.random() < unstable_p)
            shape = setup.draw_shape(rng, amp, unstable, muap)
            u = _Unit(muscle, next_id, role, shape, int(chans[0]), chans, amp, unstable)
            next_id += 1
            units.append(u)
            return u

        # -- involuntary many-unit episodes and voluntary contractions first: they shape the rest time
        if sc.voluntary:
            vp = VoluntaryParams()
            n_vol = max(3, int(round(rng.integers(int(vp.n_units.low), int(vp.n_units.high) + 1) * factor)))
            vol_units = [add_unit("voluntary", amp_scale=s, unstable_p=0.0)
                         for s in np.linspace(0.4, 1.3, n_vol)]
            thresholds = np.sort(rng.uniform(0.0, 0.85, n_vol))
            t = rng.uniform(2.0, 6.0)
            per_min = rng.uniform(vp.episodes_per_min.low, vp.episodes_per_min.high)
            while t < duration - 4.0:
                trains, end = firing.voluntary_episode(rng, t, vp, thresholds)
                if end > duration - 0.5:
                    break
                for u, times in zip(vol_units, trains):
                    if len(times):
                        u.groups.append((None, times, np.ones(len(times)), "voluntary"))
                first = min((tr[0] for tr in trains if len(tr)), default=None)
                last = max((tr[-1] for tr in trains if len(tr)), default=None)
                if first is not None:
                    excluded[muscle].append(["voluntary", first, last])
                t = end + max(rng.exponential(60.0 / per_min), 3.0)
        n_cramps = int(rng.integers(int(sc.cramps.low), int(sc.cramps.high) + 1)) if sc.cramps.high > 0 else 0
        if n_cramps:
            cp = CrampParams()
            n_cu = max(4, int(round(rng.integers(int(cp.n_units.low), int(cp.n_units.high) + 1) * factor)))
            cramp_units = [add_unit("cramp", amp_scale=rng.uniform(0.6, 1.4), unstable_p=0.0) for _ in range(n_cu)]
            slots = np.sort(rng.uniform(0.1, 0.9, n_cramps)) * duration
            last_end = 0.0
            for start in slots:
                start = max(start, last_end + 5.0)
                trains, end = firing.cramp_episode(rng, start, cp, n_cu)
                if end > duration - 1.0:
                    break
                for u, times in zip(cramp_units, trains):
                    if len(times):
                        u.groups.append((None, times, np.ones(len(times)), "cramp"))
                first = min(tr[0] for tr in trains if len(tr))
                last = max(tr[-1] for tr in trains if len(tr))
                excluded[muscle].append(["cramp", first, last])
                last_end = end

        # -- spontaneous units
        for _ in range(count(sc.n_fasc_units)):
            u = add_unit("fasciculating", unstable_p=muap.p_unstable)
            for kind, times, gains in firing.fasciculating(rng, duration, sc.fasc):
                u.groups.append((kind, times, gains, "rest"))
        for _ in range(count(sc.n_myokymic_units)):
            u = add_unit("myokymic", unstable_p=0.2)
            for kind, times, gains in firing.myokymic(rng, duration, MyokymicParams()):
                u.groups.append((kind, times, gains, "rest"))
        for _ in range(count(sc.n_neuromyotonic_units)):
            u = add_unit("neuromyotonic", unstable_p=0.0)
            for kind, times, gains in firing.neuromyotonic(rng, duration, NeuromyotonicParams()):
                u.groups.append((kind, times, gains, "rest"))

    # -- noise, then artifacts (labelled where they are)
    common = 0.0 if electrode == "needle" else (0.6 if electrode == "grid" else 0.2)
    background, noise_info = noise.background(rng, n_ch, n, fs, p_noise, common)
    artifacts = np.zeros((n_ch, n))
    n_art = rng.poisson(rng.uniform(sc.artifacts_per_min.low, sc.artifacts_per_min.high) * duration / 60.0)
    for t0 in np.sort(rng.uniform(0.5, duration - 1.5, n_art)):
        if rng.random() < 0.55:
            a, b = noise.movement(rng, artifacts, fs, p_noise, t0)
            for muscle in setup.muscle_names:
                excluded[muscle].append(["artifact", a - 0.02, b + 0.02])
        else:
            a, b, ch = noise.pop(rng, artifacts, fs, p_noise, t0)
            excluded[setup.muscles[ch]].append(["artifact", a - 0.01, b])
    # ECG is a look-alike to reject, not time to exclude: its QRS spans go to truth.info, not to
    # the segments (labelling ~15 % of the record would bias every FP rate by that much).
    has_ecg = electrode != "needle" and rng.random() < sc.p_ecg
    ecg_spans = noise.ecg(rng, artifacts, fs, p_noise) if has_ecg else []

    # -- drop spontaneous events that would touch an excluded stretch
    dropped = 0
    for u in units:
        spans = [(s, e, st) for st, s, e in excluded[u.muscle]]
        kept = []
        for g in u.groups:
            kind, times, gains, state = g
            if state == "rest":
                if any(_overlaps(times[0], times[-1] + 0.02, [(s, e)], EXCLUSION_MARGIN_S[st]) for s, e, st in spans):
                    dropped += 1
                    continue
                if times[-1] + 0.05 >= duration or times[0] < 0.05:
                    continue
            kept.append(g)
        u.groups = kept

    # -- render
    clean = np.zeros((n_ch, n))
    dis_rows, ev_rows, unit_rows = [], [], []
    event_id = 0
    for u in units:
        n_var = u.shape.variants.shape[0]
        unit_rows.append(dict(muscle=u.muscle, unit=u.unit, role=u.role, amplitude_uv=u.amplitude_uv,
                              channel=int(u.channel_index[u.shape.main]), unstable=u.unstable,
                              n_discharges=int(sum(len(g[1]) for g in u.groups))))
        for kind, times, gains, state in u.groups:
            peaks = []
            this_event = event_id if kind is not None else -1
            for t_act, g in zip(times, gains):
                weights = np.array([1.0]) if n_var == 1 else rng.dirichlet([4.0] + [1.0] * (n_var - 1))
                first, wave = u.shape.render(float(t_act), weights, g * rng.normal(1.0, muap.gain_jitter_sd))
                a, b = max(first, 0), min(first + wave.shape[1], n)
                if b <= a:
                    continue
                clean[u.channel_index, a:b] += wave[:, a - first:b - first]
                main = wave[u.shape.main]
                peak_sample = first + int(np.argmax(np.abs(main)))
                if not 0 <= peak_sample < n:
                    continue
                peaks.append(peak_sample / fs)
                dis_rows.append(dict(time=peak_sample / fs, muscle=u.muscle,
                                     channel=int(u.channel_index[u.shape.main]), unit=u.unit,
                                     amplitude=float(np.ptp(main)), event=this_event, state=state))
            if kind is not None and peaks:
                start, end = min(peaks), max(peaks)
                ev_rows.append(dict(event=event_id, muscle=u.muscle, unit=u.unit, kind=kind, start=start, end=end,
                                    n_discharges=len(peaks),
                                    rate=(len(peaks) - 1) / (end - start) if len(peaks) > 1 else 0.0,
                                    confidence=1.0))
                event_id += 1
    for muscle, spans in excluded.items():
        for state, s, e in spans:
            if state == "cramp":
                n_d = sum(1 for r in dis_rows if r["muscle"] == muscle and r["state"] == "cramp" and s <= r["time"] <= e)
                ev_rows.append(dict(event=event_id, muscle=muscle, unit=-1, kind="cramp", start=s, end=e,
                                    n_discharges=n_d, rate=0.0, confidence=1.0))
                event_id += 1

    discharges = pd.DataFrame(dis_rows, columns=list(schema.DISCHARGE_COLUMNS))
    discharges = discharges.sort_values(["muscle", "time"], kind="stable").reset_index(drop=True)
    events = pd.DataFrame(ev_rows, columns=list(schema.EVENT_COLUMNS)).sort_values("start").reset_index(drop=True)
    seg_rows = [dict(muscle=m, state=st, start=max(s, 0.0), end=min(e, duration))
                for m, spans in excluded.items() for st, s, e in spans]
    segments = pd.DataFrame(seg_rows, columns=list(schema.SEGMENT_COLUMNS))
    segments = segments.sort_values(["muscle", "start"]).reset_index(drop=True)

    signal = clean + background + artifacts
    rec = Recording.from_array(signal, fs, channels=setup.channels, muscles=setup.muscles,
                               electrodes=setup.electrodes,
                               meta={"simulator": "benchmarks.independent", "scenario": scenario, "seed": seed})
    info = dict(noise_info, ecg=has_ecg, ecg_qrs=ecg_spans, dropped_events=dropped, n_channels=n_ch,
                layout=getattr(setup, "layout", None))
    truth = Truth(discharges, events, segments, electrode, float(n / fs), fs, scenario, int(seed),
                  pd.DataFrame(unit_rows), info)
    return rec, truth, clean
