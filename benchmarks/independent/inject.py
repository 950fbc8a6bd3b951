"""Simulated spontaneous units injected into real recordings from ../shared/data.

The injected units (fasciculating with doublets/multiplets, and one myokymic unit) are
drawn by the independent simulator's MUAP models and firing generators, placed only in the
record's quietest stretches (250 ms windows whose high-passed RMS is at most
QUIET_RMS_FACTOR x the record's 10th-percentile window RMS), and scored on recall only: the real
record has its own, unknown activity, so a found discharge that matches no injected one
cannot be called false. As a chance level, the same detector runs on the unmodified record and
its discharges are matched against the injected times (a coincidence rate).
"""
from __future__ import annotations

import math
import os
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import butter, sosfiltfilt

from emgkit import schema

from . import firing
from .muap import needle_unit, surface_unit
from .params import FasciculationParams, MuapParams, MyokymicParams, Range

#: (path under the shared data folder, electrode model to draw MUAPs with).
BACKGROUNDS = (
    ("physionet-emgdb/emg_healthy.hea", "needle"),
    ("openhdemg-otb/otb_testfile.mat", "grid"),
    ("biosignalsnotebooks-opensignals/emg_bursts.h5", "bipolar"),
    ("emglab-N2001/N2001C01BB51.hea", "needle"),
    ("emglab-R001/R00108.hea", "needle"),
    ("emglab-N2001/N2001C03BB52.hea", "needle"),
    ("physionet-emgdb/emg_neuropathy.hea", "needle"),
)
QUICK_BACKGROUNDS = 3
QUIET_WINDOW_S = 0.25
QUIET_RMS_FACTOR = 1.5
MIN_REST_S = 2.0
#: Injected MUAPs stand this many times above the quiet-stretch noise RMS at least (a clinic's SNR).
MIN_SNR = 6.0
TOLERANCE_S = {"needle": 0.0015, "bipolar": 0.003, "grid": 0.003}
#: Dense injected firing (30/min per unit, still isolated) so short quiet stretches hold enough events.
INJECTED_FASC = FasciculationParams(rate_per_min_median=30.0, rate_per_min=Range(10.0, 60.0),
                                    p_doublet=0.25, p_multiplet=0.1, min_gap_s=0.4)


def _data_root(arg) -> Path:
    if arg:
        return Path(arg)
    env = os.environ.get("EMGKIT_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _quiet_mask(x: np.ndarray, fs: float) -> tuple[np.ndarray, float]:
    """Per-sample mask of the quietest stretches (any channel), and their noise RMS."""
    sos = butter(2, [20.0, min(0.45 * fs, 5000.0)], btype="band", fs=fs, output="sos")
    y = sosfiltfilt(sos, np.nan_to_num(x), axis=1)
    w = max(int(QUIET_WINDOW_S * fs), 1)
    n_win = y.shape[1] // w
    rms = np.sqrt((y[:, :n_win * w].reshape(y.shape[0], n_win, w) ** 2).mean(axis=2)).max(axis=0)
    floor = np.percentile(rms, 10)
    quiet_win = rms <= QUIET_RMS_FACTOR * floor
    mask = np.zeros(x.shape[1], bool)
    mask[:n_win * w] = np.repeat(quiet_win, w)
    return mask, float(np.median(rms[quiet_win]))


def _inside(mask: np.ndarray, fs: float, a: float, b: float) -> bool:
    i, j = int(a * fs), int(math.ceil(b * fs)) + 1
    return i >= 0 and j <= len(mask) and bool(mask[i:j].all())


def _excluded_mask(segments, n: int, fs: float) -> np.ndarray:
    mask = np.zeros(n, bool)
    for row in segments.itertuples():
        mask[max(int(row.start * fs), 0):min(int(math.ceil(row.end * fs)) + 1, n)] = True
    return mask


def inject(rec, electrode: str, seed: int, base_segments=None):
    """(recording with injected units, truth, info).

    Units go into stretches that are quiet by this module's own measure and that the
    detector, run on the unmodified record (``base_segments``), did not exclude as voluntary,
    artifact or noisy time, so that their events can be scored as spontaneous. Where such
    stretches add up to under MIN_REST_S, units go anywhere and only discharges are scored.
    """
    from emgkit.recording import Recording

    rng = np.random.default_rng([seed, zlib.crc32(str(rec.path).encode())])
    emg = rec.pick_emg()
    data = emg.get_data()
    fs, n = emg.fs, data.shape[1]
    duration = n / fs
    quiet, noise_rms = _quiet_mask(data, fs)
    mask = quiet.copy()
    if base_segments is not None and len(base_segments):
        mask &= ~_excluded_mask(base_segments, n, fs)
    rest_like = mask.sum() / fs >= MIN_REST_S
    if not rest_like:
        mask = np.ones(n, bool)
    muap = MuapParams()
    min_sep = TOLERANCE_S[electrode]
    muscle = emg.muscles[0]
    if electrode == "grid":
        xy = np.array([(e.x_mm or 0.0, e.y_mm or 0.0) for e in emg.electrodes], float)
    rows, ev_rows, event_id = [], [], 0
    roles = ["fasciculating"] * 3 + ["myokymic"]
    for unit, role in enumerate(roles):
        if electrode == "needle":
            amp = float(np.clip(muap.needle_uv_median * np.exp(rng.normal(0, muap.needle_uv_sigma)),
                                muap.needle_uv.low, muap.needle_uv.high))
        else:
            amp = float(np.clip(muap.surface_uv_median * np.exp(rng.normal(0, muap.surface_uv_sigma)),
                                muap.surface_uv.low, muap.surface_uv.high))
        amp = max(amp, MIN_SNR * noise_rms * rng.uniform(1.0, 2.0))
        unstable = bool(rng.random() < muap.p_unstable)
        if electrode == "needle":
            shape = needle_unit(rng, fs, amp, unstable, muap, min_sep)
        elif electrode == "bipolar":
            shape = surface_unit(rng, fs, np.zeros((1, 2)), 15.0, (rng.normal(0, 15), 0.0), amp, unstable, muap,
                                 min_sep)
        else:
            centre = (rng.uniform(xy[:, 0].min(), xy[:, 0].max()), rng.uniform(xy[:, 1].min(), xy[:, 1].max()))
            shape = surface_unit(rng, fs, xy, None, centre, amp, unstable, muap, min_sep)
        groups = (firing.fasciculating(rng, duration, INJECTED_FASC) if role == "fasciculating"
                  else firing.myokymic(rng, duration, MyokymicParams()))
        for kind, times, gains in groups:
            if not _inside(mask, fs, times[0] - 0.05, times[-1] + 0.06):
                continue
            peaks = []
            for t_act, g in zip(times, gains):
                k = shape.variants.shape[0]
                weights = np.array([1.0]) if k == 1 else rng.dirichlet([4.0] + [1.0] * (k - 1))
                first, wave = shape.render(float(t_act), weights, g * rng.normal(1.0, muap.gain_jitter_sd))
                a, b = max(first, 0), min(first + wave.shape[1], n)
                data[:, a:b] += wave[:, a - first:b - first] if wave.shape[0] == data.shape[0] else \
                    wave[0, a - first:b - first]
                peak = first + int(np.argmax(np.abs(wave[shape.main])))
                peaks.append(peak / fs)
                rows.append(dict(time=peak / fs, muscle=muscle, channel=int(shape.main), unit=unit,
                                 amplitude=float(np.ptp(wave[shape.main])), event=event_id, state="rest"))
            ev_rows.append(dict(event=event_id, muscle=muscle, unit=unit, kind=kind, start=min(peaks), end=max(peaks),
                                n_discharges=len(peaks), rate=(len(peaks) - 1) / max(max(peaks) - min(peaks), 1e-9)
                                if len(peaks) > 1 else 0.0, confidence=1.0))
            event_id += 1
    truth = pd.DataFrame(rows, columns=list(schema.DISCHARGE_COLUMNS)).sort_values("time").reset_index(drop=True)
    events = pd.DataFrame(ev_rows, columns=list(schema.EVENT_COLUMNS))
    out = Recording.from_array(data, fs, channels=emg.channels, muscles=emg.muscles, electrodes=emg.electrodes)
    truth_obj = _Truth(truth, events, pd.DataFrame(columns=list(schema.SEGMENT_COLUMNS)), electrode, duration)
    info = dict(quiet_share=float(quiet.mean()), injected_share=float(mask.mean()), rest_like=bool(rest_like),
                noise_rms_uv=noise_rms)
    return out, truth_obj, info


class _Truth:
    def __init__(self, discharges, events, segments, electrode, duration):
        self.discharges, self.events, self.segments = discharges, events, segments
        self.electrode, self.duration = electrode, duration


def _recall(truth, result, tol) -> tuple[dict, dict]:
    import emgkit

    s = emgkit.evaluate(truth, result, tolerance=tol)
    d = s.discharges
    d = d[(d["muscle"] == "ALL") & (d["states"] == "all")].iloc[0]
    dis = dict(n=int(d.n_true), tp=int(d.tp))
    ev = s.events[s.events["muscle"] == "ALL"]
    kinds = {r.kind: dict(n=int(r.n_true), tp=int(r.tp)) for r in ev.itertuples() if r.n_true > 0}
    return dis, kinds


def run_injection(args) -> dict:
    import emgkit

    root = _data_root(args.data)
    if not root.is_dir():
        print(f"--inject: shared recordings folder {root} is absent; nothing to inject into "
              "(set --data or EMGKIT_SHARED_DATA)")
        return dict(skipped=f"{root} absent")
    seeds = [int(s) for s in args.seeds.split(",")]
    backgrounds = BACKGROUNDS[:QUICK_BACKGROUNDS] if args.quick else BACKGROUNDS
    print("injection into real recordings: recall of the injected units' discharges (any state) and events; "
          "false positives are not scored (the real records have their own unknown activity); "
          "'chance' = the same detector on the unmodified record matched against the injected times")
    cases = []
    for rel, electrode in backgrounds:
        path = root / rel
        if not path.exists():
            print(f"  {rel}: absent, skipped")
            continue
        rec = emgkit.read(path)
        base = emgkit.detect(rec.pick_emg(), hash_input=False)
        for seed in seeds:
            injected, truth, info = inject(rec, electrode, seed, base.segments)
            if len(truth.discharges) == 0:
                print(f"  {rel} s{seed}: no quiet stretch long enough for an injected event, skipped")
                continue
            result = emgkit.detect(injected, hash_input=False)
            tol = TOLERANCE_S[electrode]
            dis, kinds = _recall(truth, result, tol)
            chance, _ = _recall(truth, base, tol)
            if not info["rest_like"]:
                kinds = {}  # injected into voluntary/artifact time: events are not expected there
            case = dict(record=rel, electrode=electrode, seed=seed, fs=rec.fs, **info,
                        n=dis["n"], tp=dis["tp"], chance_tp=chance["tp"], kinds=kinds)
            cases.append(case)
            ev = " ".join(f"{k[:5]}:{v['tp']}/{v['n']}" for k, v in kinds.items())
            where = (f"rest-like {info['injected_share']:.0%}" if info["rest_like"]
                     else "no rest: whole record, events not scored")
            print(f"  {rel:<46} s{seed} {electrode:<7} {where} | discharges recall "
                  f"{dis['tp'] / max(dis['n'], 1):.3f} ({dis['tp']}/{dis['n']}), chance {chance['tp'] / max(dis['n'], 1):.3f}"
                  f" | events found/true {ev}", flush=True)
    if not cases:
        return dict(cases=[])
    n, tp, ch = sum(c["n"] for c in cases), sum(c["tp"] for c in cases), sum(c["chance_tp"] for c in cases)
    for label, sub in (("rest-like stretches", [c for c in cases if c["rest_like"]]),
                       ("voluntary/busy records", [c for c in cases if not c["rest_like"]])):
        if sub:
            sn, st, sc = (sum(c[k] for c in sub) for k in ("n", "tp", "chance_tp"))
            print(f"\n{label}: injected discharge recall {st / sn:.3f} ({st}/{sn}); chance {sc / sn:.3f}")
    print(f"pooled: injected discharge recall {tp / n:.3f} ({tp}/{n}); chance level {ch / n:.3f}")
    for kind in ("fasciculation", "doublet", "multiplet", "myokymic"):
        kn = sum(c["kinds"].get(kind, {}).get("n", 0) for c in cases)
        kt = sum(c["kinds"].get(kind, {}).get("tp", 0) for c in cases)
        if kn:
            print(f"  {kind} event recall {kt / kn:.3f} ({kt}/{kn})")
    return dict(cases=cases, recall=tp / n, chance=ch / n)
