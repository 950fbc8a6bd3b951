"""The simulator checks its own truth before anything is scored against it, and fails loudly.

* every discharge time sits on the largest |peak| of the clean signal on its main channel
  (checked where no other discharge of the muscle is near, so the clean signal is that MUAP's);
* each event obeys its kind's definition (clinical-criteria.md) on the truth times;
* rest discharges lie outside every excluded stretch; tables carry the scorer's columns.
"""
from __future__ import annotations

import numpy as np

from emgkit import schema

#: Definitions checked on the truth (clinical-criteria.md).
ISOLATION_S = 0.25
GROUP_ISI_S = (0.002, 0.020)
MYOKYMIC_HZ = (5.0 * 0.85, 60.0 * 1.1)
NEUROMYOTONIC_HZ = (150.0 * 0.95, 300.0 * 1.05)


class TruthError(AssertionError):
    """The simulator's truth contradicts its own signal or the definitions."""


def check_truth(truth, clean: np.ndarray, window_s: float = 0.03, min_checked: int = 0) -> dict:
    """Raise TruthError listing every problem; return counts of what was checked."""
    problems = []
    d, ev, seg = truth.discharges, truth.events, truth.segments
    for table, cols in ((d, schema.DISCHARGE_COLUMNS), (ev, schema.EVENT_COLUMNS), (seg, schema.SEGMENT_COLUMNS)):
        missing = [c for c in cols if c not in table.columns]
        if missing:
            problems.append(f"table lacks columns {missing}")
    fs = truth.fs
    times = d["time"].to_numpy()
    if len(times) and (times.min() < 0 or times.max() >= truth.duration):
        problems.append("discharge times outside the recording")

    # 1. peak convention on isolated discharges
    checked = 0
    half = int(round(window_s * fs))
    for muscle, group in d.groupby("muscle"):
        t = group["time"].to_numpy()
        order = np.argsort(t)
        t, ch = t[order], group["channel"].to_numpy()[order]
        gaps = np.diff(t)
        alone = np.ones(len(t), bool)
        alone[1:] &= gaps > 2 * window_s
        alone[:-1] &= gaps > 2 * window_s
        for k in np.flatnonzero(alone):
            s = int(round(t[k] * fs))
            a, b = max(s - half, 0), min(s + half + 1, clean.shape[1])
            got = a + int(np.argmax(np.abs(clean[ch[k], a:b])))
            checked += 1
            if got != s:
                problems.append(f"{muscle} discharge at {t[k]:.5f} s: clean |peak| is at sample {got}, truth says {s}")
    if checked < min_checked:
        problems.append(f"only {checked} isolated discharges to check the peak convention on")

    # 2. event definitions on truth times
    by_event = {e: g["time"].sort_values().to_numpy() for e, g in d[d["event"] >= 0].groupby("event")}
    rest = d[d["state"] == "rest"]
    unit_times = {k: g["time"].sort_values().to_numpy() for k, g in rest.groupby(["muscle", "unit"])}
    for row in ev.itertuples():
        if row.kind == "cramp":
            continue
        t = by_event.get(row.event)
        if t is None or len(t) != row.n_discharges:
            problems.append(f"event {row.event}: {row.n_discharges} discharges listed, {0 if t is None else len(t)} found")
            continue
        isi = np.diff(t)
        others = unit_times[(row.muscle, row.unit)]
        others = others[(others < t[0] - 1e-9) | (others > t[-1] + 1e-9)]
        before = t[0] - others[others < t[0]].max() if (others < t[0]).any() else np.inf
        after = others[others > t[-1]].min() - t[-1] if (others > t[-1]).any() else np.inf
        if row.kind in ("fasciculation", "doublet", "multiplet"):
            want = {"fasciculation": 1, "doublet": 2}.get(row.kind)
            if (want is not None and len(t) != want) or (row.kind == "multiplet" and len(t) < 3):
                problems.append(f"event {row.event} {row.kind}: {len(t)} discharges")
            # one sample of slack: truth times are sample times
            if len(isi) and (isi.min() < GROUP_ISI_S[0] - 1.0 / fs - 1e-9 or isi.max() > GROUP_ISI_S[1] + 1.0 / fs):
                problems.append(f"event {row.event} {row.kind}: intervals {np.round(isi * 1e3, 2)} ms")
            if min(before, after) <= ISOLATION_S:
                problems.append(f"event {row.event} {row.kind}: not isolated ({before:.3f}/{after:.3f} s)")
        elif row.kind == "myokymic":
            rate = 1.0 / isi.mean() if len(isi) else 0.0
            if len(t) < 2 or not MYOKYMIC_HZ[0] <= rate <= MYOKYMIC_HZ[1]:
                problems.append(f"event {row.event} myokymic: {len(t)} discharges at {rate:.1f} Hz")
        elif row.kind == "neuromyotonic":
            rate = 1.0 / isi.mean() if len(isi) else 0.0
            if not NEUROMYOTONIC_HZ[0] <= rate <= NEUROMYOTONIC_HZ[1]:
                problems.append(f"event {row.event} neuromyotonic: {rate:.1f} Hz")

    # 3. rest discharges outside excluded time
    for muscle, group in seg.groupby("muscle"):
        r = rest[rest["muscle"] == muscle]["time"].to_numpy()
        for s in group.itertuples():
            inside = (r >= s.start) & (r <= s.end)
            if inside.any():
                problems.append(f"{muscle}: {inside.sum()} rest discharges inside {s.state} {s.start:.2f}-{s.end:.2f} s")
    if problems:
        head = "\n  ".join(problems[:15])
        raise TruthError(f"independent simulator truth is inconsistent ({truth.scenario}/{truth.electrode} "
                         f"seed {truth.seed}; {len(problems)} problems):\n  {head}")
    return {"peaks_checked": checked, "events_checked": int(len(ev))}
