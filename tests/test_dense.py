"""Dense spontaneous activity (Isaacs: myokymic bursts, neuromyotonic trains) on surface electrodes.

Chance heartbeat chains, pieces of split bursts posing as fasciculations, and trains the
sorted discharges break apart (issue 4).
"""
import numpy as np
import pandas as pd

import emgkit
from emgkit.detect.events import classify_muscle
from emgkit.detect.params import DetectionParams, PatternParams
from emgkit.detect.patterns import ecg_beats
from emgkit.detect.segment import one_unit_train_spans

P = PatternParams()


def myokymic_bursts(rng, duration, recur_s=1.0, n_per_burst=10, intraburst_hz=35.0, start=0.3):
    """Bursts of ``n_per_burst`` discharges at ``intraburst_hz`` recurring every ~``recur_s`` (Gutmann 1991)."""
    out, t = [], start
    while t < duration - 0.5:
        out.extend(t + np.arange(n_per_burst) / intraburst_hz + rng.normal(0, 0.001, n_per_burst))
        t += recur_s * rng.normal(1.0, 0.1)
    return np.sort(np.array(out))


# ---------------------------------------------------------------- heartbeats
def test_heartbeat_chain_found_among_sparse_fasciculations():
    rng = np.random.default_rng(1)
    beats = np.cumsum(np.full(25, 0.85) * rng.normal(1.0, 0.02, 25))           # ~70 bpm, 2 % variability
    fps = rng.uniform(0, beats[-1], 8)                                          # ~0.4 FP/s
    t = np.sort(np.r_[beats, fps])
    mask = ecg_beats(t, P)
    # A fasciculation within 8 % of where a beat is expected leaves that link ambiguous, so a
    # chain can lose its first few beats (here 3 of 25: an FP lies 0.12 s before beat 3).
    assert mask[np.isin(t, beats)].mean() >= 0.8
    assert not mask[np.isin(t, fps)].any()


def test_myokymic_bursts_recurring_near_heart_rate_are_no_heartbeat():
    # Dense bursts (~10 discharges per second) put some discharge within 8 % of any expected beat:
    # chains of such chance links labelled most of an Isaacs bipolar muscle "artifact".
    rng = np.random.default_rng(2)
    t = np.sort(np.r_[myokymic_bursts(rng, 30.0), myokymic_bursts(rng, 30.0, recur_s=1.3, start=0.7)])
    assert ecg_beats(t, P).sum() == 0


def _surface_muscle_events(times):
    """classify_muscle on a bipolar muscle whose every discharge is a unit of its own (lone
    candidates): only the heartbeat chains across units can call them ECG."""
    times = np.sort(times)
    dis = pd.DataFrame({"time": times, "unit": np.arange(times.size, dtype=np.int64), "ch": 0,
                        "amplitude": 100.0, "state": "rest", "snr": 20.0})
    segs = pd.DataFrame(columns=["muscle", "state", "start", "end"])
    return classify_muscle(dis, "m", "surface", np.zeros(times.size, dtype=bool), segs, DetectionParams(), 0)[0]


def test_dense_fasciculations_on_a_bipolar_muscle_form_no_chance_heartbeat_chains():
    # 12 units at ~8 fasciculations/min (ALS-like; 1.6 discharges/s): some four discharges lie a
    # heart's interval apart by chance. Without the chance test on bipolar muscles 8 of these 20
    # draws lost 4-14 true fasciculations each to "artifact".
    for seed in range(20):
        rng = np.random.default_rng(seed)
        t = rng.uniform(0, 60.0, rng.poisson(12 * 8))
        dis = _surface_muscle_events(t)
        assert (dis.state == "artifact").sum() == 0, seed


def test_a_heart_among_dense_fasciculations_on_a_bipolar_muscle_is_still_found():
    # 70 % of beats detected among 1.6 fasciculations/s: the heart's chains break into 4–6 pieces
    # of 4–12 beats, too short to pass the chance test on their lengths alone (seeds 1, 4, 6
    # were lost to it), but they share one RR interval. Not found: draws whose heart forms one
    # chain, or four (the first 8 draws hold two such, seeds 0 and 7).
    for seed in range(1, 7):
        rng = np.random.default_rng(seed)
        beats = np.cumsum(np.full(70, 0.85) * rng.normal(1.0, 0.02, 70))       # ~70 bpm for 60 s
        seen = beats[rng.random(beats.size) < 0.7]
        fps = rng.uniform(0, beats[-1], rng.poisson(12 * 8))
        dis = _surface_muscle_events(np.r_[seen, fps])
        artifact = dis.state.to_numpy() == "artifact"
        is_beat = np.isin(dis.time.to_numpy(), seen)
        # Beats outside the chains stay rest (a lone discharge is labelled only on a QRS window).
        assert artifact[is_beat].mean() >= 0.4, seed
        assert artifact[~is_beat].mean() <= 0.1, seed       # a QRS window (±60 ms) covers ~14 % of the time


# ---------------------------------------------------------------- split bursts are no fasciculations
def _muscle(kind, unit_times: dict):
    times = np.concatenate(list(unit_times.values()))
    units = np.concatenate([np.full(v.size, k) for k, v in unit_times.items()])
    order = np.argsort(times)
    dis = pd.DataFrame({"time": times[order], "unit": units[order].astype(np.int64), "ch": 0,
                        "amplitude": 100.0, "state": "rest", "snr": 20.0})
    segs = pd.DataFrame(columns=["muscle", "state", "start", "end"])
    return classify_muscle(dis, "m", kind, np.zeros(len(unit_times), dtype=bool), segs, DetectionParams(), 0)


def test_lone_discharge_inside_another_units_burst_is_not_a_fasciculation_on_surface():
    rng = np.random.default_rng(3)
    bursts = myokymic_bursts(rng, 20.0, recur_s=2.0)
    inside = bursts[25] + 0.012                        # a piece of a burst given another template
    gap = int(np.argmax(np.diff(bursts)))
    lone = np.array([(bursts[gap] + bursts[gap + 1]) / 2])     # mid-silence, far from every burst
    assert np.min(np.abs(bursts - lone[0])) > 0.5
    unit_times = {0: bursts, 1: np.array([inside]), 2: lone}
    dis, ev, _ = _muscle("surface", unit_times)
    fas = ev[ev.kind == "fasciculation"]
    assert fas.unit.tolist() == [2]
    assert (ev[ev.unit == 0].kind == "myokymic").all() and len(ev[ev.unit == 0]) >= 8
    # The burst piece stays a rest discharge, without an event.
    piece = dis[dis.unit == 1].iloc[0]
    assert piece.state == "rest" and piece.event == -1
    # A needle separates units inside bursts: there the lone discharge of another unit is isolated.
    _, ev_needle, _ = _muscle("needle", unit_times)
    assert sorted(ev_needle[ev_needle.kind == "fasciculation"].unit.tolist()) == [1, 2]


def test_pieces_of_a_split_train_are_not_fasciculations_but_an_isolated_discharge_is():
    # A 250-Hz train read only in part: 25 of its 100 discharges over 0.4 s, each fitted by
    # another template (irregular gaps: no train, no shared unit). An isolated discharge 2 s away.
    rng = np.random.default_rng(4)
    pieces = np.sort(3.0 + rng.choice(100, 25, replace=False) * 0.004)
    unit_times = {k: np.array([t]) for k, t in enumerate(pieces)}
    unit_times[99] = np.array([5.5])
    for kind in ("surface", "needle"):
        dis, ev, _ = _muscle(kind, unit_times)
        assert ev[ev.kind == "fasciculation"].unit.tolist() == [99], kind
        assert (dis[dis.unit != 99].event == -1).all()
    # Dense fasciculations are isolated discharges (12 units at ~8/min, 20 draws): none crowded.
    for seed in range(20):
        rng = np.random.default_rng(seed)
        unit_times = {k: np.sort(rng.uniform(0, 60.0, rng.poisson(8))) for k in range(12)}
        n = sum(v.size for v in unit_times.values())
        off = DetectionParams.from_dict({"patterns": {"crowded_min_discharges": 0}})
        counted = [len(classify_muscle(*_rows(unit_times), np.zeros(12, dtype=bool), _no_segments(), p, 0)[1])
                   for p in (DetectionParams(), off)]
        assert counted[0] == counted[1], seed


def _rows(unit_times):
    times = np.concatenate(list(unit_times.values()))
    units = np.concatenate([np.full(v.size, k) for k, v in unit_times.items()])
    order = np.argsort(times)
    return (pd.DataFrame({"time": times[order], "unit": units[order].astype(np.int64), "ch": 0,
                          "amplitude": 100.0, "state": "rest", "snr": 20.0}), "m", "surface")


def _no_segments():
    return pd.DataFrame(columns=["muscle", "state", "start", "end"])


# ---------------------------------------------------------------- trains across unsorted candidates
def test_train_found_over_candidates_when_most_are_unsorted():
    # 200 Hz for 1 s (Bednařík & Kadaňka 2001); overlapping MUAPs: only every 8th candidate fits
    # a template, so the sorted discharges alone (25 Hz) are no train.
    cand = 2.0 + np.arange(200) / 200.0
    sorted_times = cand[::8]
    one = one_unit_train_spans(cand, sorted_times, np.zeros(sorted_times.size, np.int64), P, max_units=8)
    assert len(one) == 1 and one[0][0] == cand[0] and one[0][1] == cand[-1]
    # The same candidates, sorted into 20 units in turn, are many units firing together.
    many = one_unit_train_spans(cand, cand, np.arange(cand.size) % 20, P, max_units=8)
    assert many == []


# ---------------------------------------------------------------- simulated Isaacs bipolar, end to end
def test_isaacs_bipolar_rest_discharges_are_not_artifact_where_there_is_no_ecg():
    rec, truth = emgkit.simulate("isaacs", electrode="bipolar", duration=20, seed=0)
    res = emgkit.detect(rec, hash_input=False)
    tol = 0.003
    for muscle in ("fdi", "tib_ant"):       # distal muscles: the simulator adds no ECG there
        true_t = np.sort(truth.discharges[(truth.discharges.muscle == muscle)
                                          & (truth.discharges.state == "rest")].time.to_numpy())
        found = res.discharges[res.discharges.muscle == muscle]
        i = np.clip(np.searchsorted(true_t, found.time.to_numpy()), 1, true_t.size - 1)
        d = np.minimum(np.abs(true_t[i] - found.time.to_numpy()), np.abs(true_t[i - 1] - found.time.to_numpy()))
        matched = found[d <= tol]
        assert len(matched) > 100
        # Truth has no artifact in these muscles; before the fix ~60 % of tib_ant's were "artifact".
        assert (matched.state == "artifact").mean() < 0.05, muscle
