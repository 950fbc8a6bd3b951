"""emgkit.evaluate on hand-built tables whose right answers are known by construction."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import emgkit
from emgkit.errors import ParameterError
from emgkit.evaluate import (ALL, DEFAULT_TOLERANCES, Scores, ToleranceDefaults, _match, _time_edges,
                             evaluate)
from emgkit.recording import Electrode
from emgkit.results import DetectionResult, empty_result, empty_table

MS = 1e-3


def discharges(times, muscle="biceps", units=0, states="rest"):
    n = len(times)
    return pd.DataFrame({
        "time": np.asarray(times, dtype=float), "muscle": [muscle] * n, "channel": ["ch1"] * n,
        "unit": np.broadcast_to(np.asarray(units), (n,)).astype(np.int64),
        "amplitude": np.full(n, 300.0), "event": np.full(n, -1, np.int64),
        "state": list(np.broadcast_to(np.asarray(states), (n,)))})


def events(spans, kind="fasciculation", muscle="biceps"):
    n = len(spans)
    return pd.DataFrame({
        "event": np.arange(n), "muscle": [muscle] * n, "unit": np.zeros(n, np.int64), "kind": [kind] * n,
        "start": [float(s) for s, _ in spans], "end": [float(e) for _, e in spans],
        "n_discharges": np.ones(n, np.int64), "rate": np.full(n, np.nan), "confidence": np.ones(n)})


def segments(spans, state="voluntary", muscle="biceps"):
    return pd.DataFrame({"muscle": [muscle] * len(spans), "state": [state] * len(spans),
                         "start": [float(s) for s, _ in spans], "end": [float(e) for _, e in spans]})


def obj(dis=None, ev=None, seg=None, **attrs):
    return SimpleNamespace(discharges=empty_table("discharges") if dis is None else dis,
                           events=empty_table("events") if ev is None else ev,
                           segments=empty_table("segments") if seg is None else seg, **attrs)


def row(table, **keys):
    sel = np.ones(len(table), bool)
    for k, v in keys.items():
        sel &= (table[k] == v).to_numpy()
    assert sel.sum() == 1, (keys, table)
    return table[sel].iloc[0]


def counts(r):
    return int(r.tp), int(r.fp), int(r.fn)


def rich_truth():
    rng = np.random.default_rng(3)
    times_a = np.sort(rng.uniform(0, 60, 40))
    dis = pd.concat([
        discharges(times_a, "biceps", units=rng.integers(0, 3, 40)),
        discharges(np.sort(rng.uniform(0, 60, 25)), "tibialis", units=rng.integers(0, 2, 25),
                   states=rng.choice(["rest", "voluntary"], 25)),
    ], ignore_index=True)
    ev = pd.concat([events([(t, t) for t in times_a[:10]]),
                    events([(5.0, 5.012), (7.0, 7.02)], kind="doublet"),
                    events([(20.0, 20.6)], kind="myokymic", muscle="tibialis")], ignore_index=True)
    seg = pd.concat([segments([(30, 40)], muscle="tibialis"),
                     segments([(50, 51)], state="artifact")], ignore_index=True)
    return obj(dis, ev, seg, duration=60.0, electrode="needle")


# ---------------------------------------------------------------- identity and empties
def test_truth_against_itself_is_perfect():
    truth = rich_truth()
    scores = evaluate(truth, truth)
    assert isinstance(scores, Scores)
    for table in (scores.discharges, scores.events, scores.units):
        assert len(table) and (table["f1"] == 1.0).all(), table
        assert (table["fp"] == 0).all() and (table["fn"] == 0).all()
    assert (scores.units["true_unit"] == scores.units["found_unit"]).all()
    assert (scores.rates["rate_error"] == 0).all() and (scores.rates["rate_diff"] == 0).all()
    assert (scores.segments["voluntary_recall"] == 1).all()
    assert (scores.segments["rest_excluded_s"] == 0).all()
    assert row(scores.discharges, muscle=ALL, states="rest").offset_ms_median == 0


def test_truth_against_detection_result_with_same_tables():
    truth = rich_truth()
    result = DetectionResult(discharges=truth.discharges, events=truth.events, segments=truth.segments)
    scores = evaluate(truth, result)
    assert (scores.discharges["f1"] == 1).all() and (scores.events["f1"] == 1).all()


def test_empty_result_has_recall_zero_and_precision_one():
    truth = rich_truth()
    scores = evaluate(truth, empty_result())
    for table in (scores.discharges, scores.events):
        nonempty = table[table["n_true"] > 0]
        assert (nonempty["recall"] == 0).all() and (nonempty["precision"] == 1).all()
        assert (nonempty["f1"] == 0).all() and (nonempty["tp"] == 0).all()
    assert (scores.units["found_unit"] == -1).all() and (scores.units["recall"] == 0).all()
    # the result has no segments: nothing excluded, voluntary time not found
    vol = row(scores.segments, muscle="tibialis")
    assert vol.voluntary_recall == 0 and vol.voluntary_precision == 1


def test_finds_without_truth_and_both_empty():
    found = obj(discharges([1.0, 2.0]))
    r = row(evaluate(obj(), found, 0.001).discharges, muscle="biceps", states="rest")
    assert counts(r) == (0, 2, 0) and (r.precision, r.recall, r.f1) == (0.0, 1.0, 0.0)
    both_empty = evaluate(obj(), obj(), 0.001)
    r = row(both_empty.discharges, muscle=ALL, states="rest")
    assert counts(r) == (0, 0, 0) and (r.precision, r.recall, r.f1) == (1.0, 1.0, 1.0)
    assert both_empty.units.empty and list(both_empty.units.columns)[:3] == ["muscle", "true_unit", "found_unit"]


# ---------------------------------------------------------------- discharge matching
def test_tolerance_edges_give_exact_counts():
    tol = 1 * MS
    truth = obj(discharges([0.3, 1.0, 2.0, 3.0, 4.0, 5.0]))
    found = obj(discharges([
        0.301,          # exactly +1 ms (0.301 - 0.3 > 0.001 in binary): inclusive -> match
        1.0 - 0.999e-3,  # just inside
        2.0 + 1.001e-3,  # just outside
        3.0 - 1.001e-3,  # just outside, other side
        # 4.0 missing
        5.0,            # exact
        9.0,            # extra
    ]))
    r = row(evaluate(truth, found, tol).discharges, muscle="biceps", states="rest")
    assert counts(r) == (3, 3, 3)
    assert r.precision == pytest.approx(0.5) and r.recall == pytest.approx(0.5) and r.f1 == pytest.approx(0.5)
    assert r.tolerance_ms == pytest.approx(1.0)


def test_two_candidates_for_one_truth_uses_one_and_the_closest():
    truth = obj(discharges([1.0]))
    found = obj(discharges([1.0 - 0.5 * MS, 1.0 + 0.3 * MS]))
    r = row(evaluate(truth, found, MS).discharges, muscle="biceps", states="rest")
    assert counts(r) == (1, 1, 0)
    assert r.offset_ms_median == pytest.approx(0.3)
    # one found between two truths is used once
    r = row(evaluate(obj(discharges([2.0, 2.0015])), obj(discharges([2.0008])), MS).discharges,
            muscle="biceps", states="rest")
    assert counts(r) == (1, 0, 1)


def test_matching_is_optimal_where_closest_pairs_first_is_not():
    # closest pair (T2, F1) first would leave T1 and F2 unmatched; the optimum pairs all four
    truth = obj(discharges([10.0, 10.0010]))
    found = obj(discharges([10.0009, 10.00195]))
    r = row(evaluate(truth, found, MS).discharges, muscle="biceps", states="rest")
    assert counts(r) == (2, 0, 0)


def test_matching_equals_maximum_bipartite_matching_on_random_cases():
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_bipartite_matching

    rng = np.random.default_rng(7)
    for _ in range(200):
        t = np.sort(rng.uniform(0, 0.02, rng.integers(0, 12)))
        f = np.sort(rng.uniform(0, 0.02, rng.integers(0, 12)))
        tol = 1 * MS
        ia, ib, delta = _time_edges(t, f, tol)
        dense = np.abs(f[None, :] - t[:, None]) <= tol + 1e-9
        assert sorted(zip(ia, ib)) == sorted(zip(*np.nonzero(dense)))
        ma, mb = _match(len(t), len(f), ia, ib, np.abs(delta))
        assert len(set(ma)) == len(ma) and len(set(mb)) == len(mb) and dense[ma, mb].all()
        best = (maximum_bipartite_matching(csr_matrix(dense.astype(float)), perm_type="column") >= 0).sum() \
            if dense.size else 0
        assert len(ma) == best
        if best:  # least total offset among maximum matchings
            cost = np.where(dense, np.abs(f[None, :] - t[:, None]), 1e3)
            r, c = linear_sum_assignment(cost)
            keep = dense[r, c]
            assert keep.sum() == best
            assert np.abs(f[mb] - t[ma]).sum() == pytest.approx(cost[r[keep], c[keep]].sum(), abs=1e-12)


def test_matching_count_is_maximum_on_dense_random_trains():
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_bipartite_matching

    rng = np.random.default_rng(5)
    for density_hz in (300, 1500):  # small batched components, then components above the batch size
        t = np.sort(rng.uniform(0, 0.5, int(density_hz * 0.5)))
        f = np.sort(rng.uniform(0, 0.5, int(density_hz * 0.5)))
        ia, ib, delta = _time_edges(t, f, MS)
        ma, mb = _match(len(t), len(f), ia, ib, np.abs(delta))
        assert len(set(ma)) == len(ma) and len(set(mb)) == len(mb)
        assert (np.abs(f[mb] - t[ma]) <= MS + 1e-9).all()
        dense = csr_matrix((np.ones(len(ia)), (ia, ib)), shape=(len(t), len(f)))
        assert len(ma) == (maximum_bipartite_matching(dense, perm_type="column") >= 0).sum()


def test_large_dense_component_uses_maximum_matching():
    t = np.arange(1000) * 0.5 * MS  # one connected component of 2000 nodes at tol 1 ms
    shifted = obj(discharges(t + 0.2 * MS))
    r = row(evaluate(obj(discharges(t)), shifted, MS).discharges, muscle="biceps", states="rest")
    assert counts(r) == (1000, 0, 0)
    half = obj(discharges(t[::2] + 0.2 * MS))
    r = row(evaluate(obj(discharges(t)), half, MS).discharges, muscle="biceps", states="rest")
    assert counts(r) == (500, 0, 500)


def test_rest_row_and_all_states_row():
    truth = obj(discharges([1.0, 2.0, 3.0], states=["rest", "voluntary", "rest"]))
    found = obj(discharges([1.0, 2.0, 3.0], states=["rest", "rest", "voluntary"]))
    scores = evaluate(truth, found, MS)
    assert counts(row(scores.discharges, muscle="biceps", states="rest")) == (1, 1, 1)
    assert counts(row(scores.discharges, muscle="biceps", states="all")) == (3, 0, 0)


def test_muscles_are_scored_separately_and_summed_in_all_row():
    truth = obj(pd.concat([discharges([1.0, 2.0], "a"), discharges([1.0], "b")], ignore_index=True))
    found = obj(pd.concat([discharges([1.0], "a"), discharges([1.0, 2.0, 3.0], "b")], ignore_index=True))
    d = evaluate(truth, found, MS).discharges
    assert counts(row(d, muscle="a", states="rest")) == (1, 0, 1)
    assert counts(row(d, muscle="b", states="rest")) == (1, 2, 0)
    total = row(d, muscle=ALL, states="rest")
    assert counts(total) == (2, 2, 1) and total.f1 == pytest.approx(4 / 7)


# ---------------------------------------------------------------- events
def test_event_overlap_rule():
    tol = 1 * MS
    truth = obj(ev=pd.concat([events([(1.0, 1.010)], "doublet"), events([(3.0, 3.0)])], ignore_index=True))
    cases = {  # found doublet span -> matches?
        (1.0105, 1.02): True,    # starts 0.5 ms after the true end
        (1.0115, 1.02): False,   # 1.5 ms after
        (0.990, 0.9991): True,   # ends 0.9 ms before the true start
        (0.990, 0.9985): False,
        (1.002, 1.004): True,    # inside
        (0.5, 2.0): True,        # contains
    }
    for span, expected in cases.items():
        e = evaluate(truth, obj(ev=events([span], "doublet")), tol).events
        assert counts(row(e, muscle="biceps", kind="doublet")) == ((1, 0, 0) if expected else (0, 1, 1)), span
    # a fasciculation is a zero-length event: same rule as discharges
    e = evaluate(truth, obj(ev=events([(3.0009, 3.0009)])), tol).events
    assert counts(row(e, muscle="biceps", kind="fasciculation")) == (1, 0, 0)
    # same time, other kind: no match
    e = evaluate(truth, obj(ev=events([(1.0, 1.01)], "multiplet")), tol).events
    assert counts(row(e, muscle="biceps", kind="doublet")) == (0, 0, 1)
    assert counts(row(e, muscle="biceps", kind="multiplet")) == (0, 1, 0)


def test_events_are_matched_one_to_one():
    truth = obj(ev=events([(0.0, 1.0)], "myokymic"))
    found = obj(ev=events([(0.1, 0.2), (0.5, 0.6)], "myokymic"))  # a burst split in two
    r = row(evaluate(truth, found, MS).events, muscle="biceps", kind="myokymic")
    assert counts(r) == (1, 1, 0)
    # two true bursts, one found spanning both: one tp, one fn
    r = row(evaluate(found, truth, MS).events, muscle="biceps", kind="myokymic")
    assert counts(r) == (1, 0, 1)
    # nested true events: the optimal pairing uses both found events
    truth = obj(ev=events([(0.0, 1.0), (0.4, 0.45)], "myokymic"))
    found = obj(ev=events([(0.42, 0.43), (0.9, 0.95)], "myokymic"))
    r = row(evaluate(truth, found, MS).events, muscle="biceps", kind="myokymic")
    assert counts(r) == (2, 0, 0)


def test_kinds_filter():
    truth = rich_truth()
    scores = evaluate(truth, truth, kinds=["doublet"])
    assert set(scores.events["kind"]) == {"doublet"}
    assert set(scores.rates["kind"]) == {"rest_discharges", "doublet"}
    with pytest.raises(ParameterError, match="kinds"):
        evaluate(truth, truth, kinds=["fasiculation"])


# ---------------------------------------------------------------- units
def test_hungarian_pairs_permuted_unit_ids():
    rng = np.random.default_rng(11)
    trains = [np.sort(rng.uniform(0, 60, n)) for n in (12, 8, 5)]
    times = np.concatenate(trains)
    true_units = np.repeat([0, 1, 2], [12, 8, 5])
    renamed = {0: 7, 1: 3, 2: 5}
    truth = obj(discharges(times, units=true_units), duration=60.0)
    found = obj(discharges(times, units=[renamed[u] for u in true_units]), duration=60.0)
    u = evaluate(truth, found, MS).units
    assert len(u) == 3
    for true_unit, found_unit in renamed.items():
        r = row(u, true_unit=true_unit)
        assert r.found_unit == found_unit and counts(r) == ((12, 8, 5)[true_unit], 0, 0) and r.f1 == 1


def test_merged_units_pair_with_the_best_and_leave_the_other_unmatched():
    a = np.arange(10) * 2.0 + 1.0
    b = np.array([0.5, 4.5])
    truth = obj(discharges(np.r_[a, b], units=[0] * 10 + [1] * 2), duration=60.0)
    found = obj(discharges(np.r_[a, b], units=9), duration=60.0)
    u = evaluate(truth, found, MS).units
    r0 = row(u, true_unit=0)
    assert r0.found_unit == 9 and counts(r0) == (10, 2, 0) and r0.f1 == pytest.approx(20 / 22)
    r1 = row(u, true_unit=1)
    assert r1.found_unit == -1 and counts(r1) == (0, 0, 2)
    assert r0.rate_true == pytest.approx(10.0) and r0.rate_found == pytest.approx(12.0)
    assert r0.rate_error == pytest.approx(0.2)


def test_units_counted_per_pair_not_across_units():
    # true units 0 and 1 fire together; found units swap ids on half of them: per-pair counts
    t = np.arange(20) * 1.0
    truth = obj(pd.concat([discharges(t, units=0), discharges(t + 0.0002, units=1)], ignore_index=True),
                duration=20.0)
    found = obj(pd.concat([discharges(t, units=4), discharges(t + 0.0002, units=6),
                           discharges([50.0], units=-1)], ignore_index=True), duration=60.0)
    u = evaluate(truth, found, MS).units
    assert row(u, true_unit=0).found_unit == 4 and row(u, true_unit=1).found_unit == 6
    assert (u["f1"] == 1).all() and len(u) == 2  # unit -1 (unassigned) is not a unit


def test_unmatched_found_unit_row():
    truth = obj(discharges([1.0, 2.0], units=0), duration=60.0)
    found = obj(discharges([1.0, 2.0, 30.0, 31.0], units=[0, 0, 5, 5]), duration=60.0)
    u = evaluate(truth, found, MS).units
    extra = row(u, found_unit=5)
    assert extra.true_unit == -1 and counts(extra) == (0, 2, 0)
    assert extra.rate_found == pytest.approx(2.0) and np.isnan(extra.rate_error)


# ---------------------------------------------------------------- rates and segments
def test_rates_use_each_sides_rest_time():
    truth = obj(ev=events([(t, t) for t in (31, 33, 35, 37, 39, 41)]), seg=segments([(0, 30)]), duration=60.0)
    found = obj(ev=events([(31, 31), (35, 35), (39, 39)]), duration=60.0)
    r = row(evaluate(truth, found, MS).rates, muscle="biceps", kind="fasciculation")
    assert r.rest_min_true == pytest.approx(0.5) and r.rest_min_found == pytest.approx(1.0)
    assert r.rate_true == pytest.approx(12.0) and r.rate_found == pytest.approx(3.0)
    assert r.rate_diff == pytest.approx(-9.0) and r.rate_error == pytest.approx(-0.75)
    # nothing true, something found: relative error undefined, difference defined
    r = row(evaluate(obj(duration=60.0), found, MS).rates, muscle="biceps", kind="fasciculation")
    assert np.isnan(r.rate_error) and r.rate_diff == pytest.approx(3.0)


def test_rest_discharge_rate_and_duration_fallback():
    truth = obj(discharges([10.0, 20.0, 30.0, 40.0], states=["rest", "rest", "rest", "voluntary"]))
    found = obj(discharges([10.0, 20.0]))
    scores = evaluate(truth, found, MS)  # no duration anywhere: the latest time (40 s)
    assert scores.duration == pytest.approx(40.0)
    r = row(scores.rates, muscle="biceps", kind="rest_discharges")
    assert (r.n_true, r.n_found) == (3, 2)
    assert r.rate_true == pytest.approx(3 / (40 / 60)) and r.rate_error == pytest.approx(-1 / 3)


def test_segment_scores():
    truth = obj(seg=segments([(10, 20), (30, 40)]), duration=60.0)
    found = obj(seg=pd.concat([segments([(15, 35)]), segments([(16, 18), (50, 55), (58, 70)], "artifact")],
                              ignore_index=True))
    s = row(evaluate(truth, found, MS).segments, muscle="biceps")
    assert s.voluntary_true_s == pytest.approx(20) and s.voluntary_found_s == pytest.approx(20)
    assert s.voluntary_recall == pytest.approx(0.5) and s.voluntary_precision == pytest.approx(0.5)
    assert s.rest_true_s == pytest.approx(40)
    # found excluded: [15,35] + [50,55] + [58,60] = 27 s, of which 10 s truly excluded
    assert s.rest_excluded_s == pytest.approx(17) and s.rest_excluded_share == pytest.approx(17 / 40)


# ---------------------------------------------------------------- tolerance defaults and output
@pytest.mark.parametrize("electrode, expected_ms", [
    ("needle", 1.0), ("needle_concentric", 1.0), (Electrode("needle_monopolar"), 1.0),
    ("surface_bipolar", 3.0), ("hd_grid", 3.0), (Electrode("surface_monopolar"), 3.0), ("unknown", 3.0),
    ("bipolar", 3.0), ("grid_8x8", 3.0)])
def test_default_tolerance_from_electrode(electrode, expected_ms):
    truth = obj(discharges([1.0]), ev=events([(1.0, 1.0)]), seg=segments([(2, 3)]), electrode=electrode)
    scores = evaluate(truth, truth)
    assert scores.tolerance == pytest.approx(expected_ms * MS)
    for name in Scores.TABLES:
        np.testing.assert_allclose(getattr(scores, name)["tolerance_ms"], expected_ms, err_msg=name)
    assert not scores.notes


def test_default_tolerance_without_electrode_and_explicit_override():
    truth = obj(discharges([1.0]))
    scores = evaluate(truth, obj(discharges([1.0025])))
    assert scores.tolerance == DEFAULT_TOLERANCES.unknown_s and scores.notes
    assert row(scores.discharges, muscle="biceps", states="rest").tp == 1
    assert row(evaluate(truth, obj(discharges([1.0025])), 0.002).discharges,
               muscle="biceps", states="rest").tp == 0
    custom = ToleranceDefaults(needle_s=0.0005)
    assert evaluate(obj(electrode="needle"), obj(), tolerances=custom).tolerance == 0.0005


def test_bad_input_is_a_parameter_error():
    truth = obj(discharges([1.0]))
    with pytest.raises(ParameterError, match="tolerance"):
        evaluate(truth, truth, -0.001)
    with pytest.raises(ParameterError, match="tolerance"):
        evaluate(truth, truth, "1ms")
    with pytest.raises(ParameterError, match="result.discharges lacks the column.*state"):
        evaluate(truth, obj(discharges([1.0]).drop(columns="state")))
    with pytest.raises(ParameterError, match="truth.discharges row 0: time"):
        evaluate(obj(discharges([np.nan])), truth)
    with pytest.raises(ParameterError, match="end is before start"):
        evaluate(obj(ev=events([(2.0, 1.0)])), truth)
    with pytest.raises(ParameterError, match="DataFrame"):
        evaluate(SimpleNamespace(discharges=[1.0]), truth)


def test_to_dict_report_and_repr():
    truth = rich_truth()
    scores = evaluate(truth, truth)
    d = scores.to_dict()
    assert d["tolerance_ms"] == pytest.approx(1.0) and d["duration_s"] == 60.0
    assert {"discharges", "events", "units", "rates", "segments"} <= set(d)
    assert d["discharges"][0]["muscle"] == "biceps"
    text = scores.report()
    assert "tolerance ±1 ms" in text and "myokymic" in text and "segments:" in text
    assert repr(scores).startswith("<Scores tolerance ±1 ms; rest discharges F1 1.000")
    # `emgkit.evaluate` is the function, or the module once `emgkit.evaluate` was imported: both score
    truth_only = obj(discharges([1.0]))
    assert (emgkit.evaluate(truth_only, truth_only, MS).discharges["f1"] == 1).all()


@pytest.mark.parametrize("electrode, tolerance_ms", [("needle", 1.0), ("bipolar", 3.0)])
def test_simulated_truth_against_itself(electrode, tolerance_ms):
    try:
        simulate = emgkit.simulate
    except (AttributeError, ImportError) as exc:
        pytest.skip(f"simulator not available: {exc}")
    _, truth = simulate("isaacs", electrode=electrode, duration=10, seed=0)
    scores = evaluate(truth, truth)
    assert scores.tolerance == pytest.approx(tolerance_ms * MS) and not scores.notes
    assert (scores.discharges["f1"] == 1).all() and (scores.events["f1"] == 1).all()
    assert len(scores.units) and (scores.units["f1"] == 1).all()
    assert (scores.rates["rate_error"] == 0).all()
    assert row(scores.discharges, muscle=ALL, states="all").n_true == len(truth.discharges)
    # rest time from the segments agrees with the simulator's own summary
    for summary in truth.summary.itertuples():
        r = row(scores.rates, muscle=summary.muscle, kind="rest_discharges")
        assert r.rest_min_true * 60 == pytest.approx(summary.rest_time_s, abs=1e-6)


def test_voluntary_time_on_a_flat_channel_is_not_asked_for():
    # A contraction 10–20 s whose channel is disconnected 14–20 s: only 10–14 s can be recognised.
    truth = obj(seg=pd.concat([segments([(10, 20)]), segments([(14, 20)], "flat")], ignore_index=True),
                duration=60.0)
    found = obj(seg=pd.concat([segments([(10, 13)]), segments([(14, 20)], "invalid")], ignore_index=True))
    s = row(evaluate(truth, found, MS).segments, muscle="biceps")
    assert s.voluntary_true_s == pytest.approx(4) and s.voluntary_recall == pytest.approx(3 / 4)
