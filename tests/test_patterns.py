"""Pattern classification from discharge times: exact small cases."""
import numpy as np
import pytest

from emgkit.detect.params import PatternParams
from emgkit.detect.patterns import classify_fibre, classify_unit, runs

P = PatternParams()


def kinds(events):
    return [k for k, _, _ in events]


def test_runs_edges():
    assert runs(np.array([], bool)) == []
    assert runs(np.array([True, True])) == [(0, 1)]
    assert runs(np.array([False, True, False, True])) == [(1, 1), (3, 3)]


def test_isolated_discharges_are_fasciculations():
    t = np.array([0.5, 3.1, 7.9, 12.0])
    labels, ev = classify_unit(t, P)
    assert kinds(ev) == ["fasciculation"] * 4
    assert list(labels) == ["fasciculation"] * 4


def test_doublet_and_multiplet_at_interval_edges():
    lo, hi = P.group_isi_ms
    t = np.array([1.0, 1.0 + lo / 1000, 5.0, 5.0 + hi / 1000, 9.0, 9.004, 9.011, 14.0])
    _, ev = classify_unit(t, P)
    assert kinds(ev) == ["doublet", "doublet", "multiplet", "fasciculation"]
    assert ev[2][1:] == (4, 6)
    # Just outside the group range: not a doublet, and neither discharge is isolated
    # (ISI > isolated_isi_ms on both sides), so neither is a fasciculation.
    labels, ev = classify_unit(np.array([1.0, 1.0 + (hi + 1) / 1000]), P)
    assert ev == [] and list(labels) == ["", ""]
    # Discharges exactly isolated_isi_ms apart are not isolated; a little more apart they are.
    gap = P.isolated_isi_ms / 1000
    _, ev = classify_unit(np.array([1.0, 1.0 + gap * 1.01, 1.0 + gap * 2.02]), P)
    assert kinds(ev) == ["fasciculation"] * 3


def test_neuromyotonic_train():
    isi = np.linspace(1 / 250, 1 / 160, 200)           # lengthening ISI, ~1 s
    t = np.concatenate([[0.2], 2.0 + np.cumsum(isi), [6.0]])
    _, ev = classify_unit(t, P)
    assert kinds(ev) == ["fasciculation", "neuromyotonic", "fasciculation"]
    assert ev[1][2] - ev[1][1] + 1 == 200   # every train discharge, none left as a fasciculation


def test_short_fast_run_is_not_neuromyotonic():
    t = 1.0 + np.arange(20) * 0.004                     # 80 ms at 250 Hz: a multiplet, too short for a train
    _, ev = classify_unit(t, P)
    assert "neuromyotonic" not in kinds(ev)


def test_myokymic_bursts_recur():
    bursts = [s + np.arange(4) * 0.05 for s in (1.0, 3.0, 5.1, 7.0)]   # 20 Hz bursts of 4, every ~2 s
    _, ev = classify_unit(np.concatenate(bursts), P)
    assert kinds(ev) == ["myokymic"] * 4
    # A single burst does not make a myokymic discharge.
    _, ev = classify_unit(bursts[0], P)
    assert "myokymic" not in kinds(ev)


def test_regular_firing_is_a_look_alike():
    rng = np.random.default_rng(0)
    steady = np.cumsum(np.full(40, 1 / 6.3) * (1 + 0.03 * rng.standard_normal(40)))   # CoV 3 %
    _, ev = classify_unit(steady, P)
    assert kinds(ev) == ["continuous"]
    vol = np.cumsum(np.full(40, 0.1) * (1 + 0.2 * rng.standard_normal(40)).clip(0.5))  # 10 Hz, CoV ~0.2
    _, ev = classify_unit(vol, P)
    assert "voluntary" in kinds(ev) and "fasciculation" not in kinds(ev)[:1]


def test_slow_regular_bursts_set_off_by_silence_are_myokymic_not_continuous():
    # Bursts of 10 discharges at a steady 6 Hz (1.5 s, as long as a voluntary run) every ~4 s:
    # a myokymic discharge; 5 s of the same firing without silence stays a look-alike.
    bursts = [s + np.arange(10) / 6.0 for s in (1.0, 5.2, 9.1, 13.3)]
    _, ev = classify_unit(np.concatenate(bursts), P)
    assert kinds(ev) == ["myokymic"] * 4
    _, ev = classify_unit(1.0 + np.arange(31) / 6.0, P)
    assert kinds(ev) == ["continuous"]


def test_a_myokymic_units_two_discharge_burst_at_its_own_rate_is_no_doublet():
    # Bursts at ~57–60 Hz (intervals 17.5 and 16.5 ms, the latter also a doublet's interval):
    # once the unit's bursts are established, its pairs at that interval are bursts too.
    bursts = [s + np.arange(3) * 0.0175 for s in (1.0, 2.1, 3.3)]
    pairs = [s + np.array([0.0, 0.0165]) for s in (4.4, 5.6)]
    _, ev = classify_unit(np.concatenate(bursts + pairs), P)
    assert kinds(ev) == ["myokymic"] * 5
    # Without the established bursts the pairs stay doublets.
    _, ev = classify_unit(np.concatenate(pairs), P)
    assert kinds(ev) == ["doublet"] * 2


def test_empty_and_single():
    labels, ev = classify_unit(np.array([]), P)
    assert labels.size == 0 and ev == []
    _, ev = classify_unit(np.array([3.0]), P)
    assert ev == [("fasciculation", 0, 0)]


def test_fibre_trains():
    t = np.concatenate([np.arange(10) * 0.2, [1.8 + P.fibrillation_max_gap_s + 0.1]])  # 5 Hz train, then a lone spike
    _, ev = classify_fibre(t, P)
    assert ev == [("fibrillation", 0, 9), ("fibrillation", 10, 10)]
    # A small fibre seen only now and then (missed discharges): one train.
    sporadic = np.array([0.0, 0.2, 3.4, 3.6, 7.0, 12.2])
    _, ev = classify_fibre(sporadic, P)
    assert ev == [("fibrillation", 0, 5)]


def test_params_toml_round_trip(tmp_path):
    from emgkit import ParameterError
    from emgkit.detect.params import DetectionParams

    f = tmp_path / "p.toml"
    f.write_text('[spikes]\nthreshold_sd = 6.0\n[patterns]\ngroup_isi_ms = [2.5, 20.0]\n')
    p = DetectionParams.from_toml(f)
    assert p.spikes.threshold_sd == 6.0 and p.patterns.group_isi_ms == (2.5, 20.0)
    assert DetectionParams.from_dict(p.to_dict()) == p
    f.write_text("[spikes]\nthreshold = 6\n")
    with pytest.raises(ParameterError, match="threshold"):
        DetectionParams.from_toml(f)
    f.write_text("[spikes\n")
    with pytest.raises(ParameterError, match="TOML"):
        DetectionParams.from_toml(f)


def test_myokymic_bursts_recurring_fast_are_split_at_silences():
    # Bursts of 6 at 19 Hz every 0.43 s: the silences (~160 ms) are themselves within 2–60 Hz.
    bursts = [s + np.arange(6) / 19 for s in np.arange(10) * 0.43 + 0.1]
    _, ev = classify_unit(np.concatenate(bursts), P)
    assert kinds(ev) == ["myokymic"] * 10
    assert all(b - a + 1 == 6 for _, a, b in ev)


def test_find_trains_tolerates_missed_discharges():
    from emgkit.detect.patterns import find_trains

    rng = np.random.default_rng(1)
    train = 2.0 + np.arange(200) / 200.0               # 1 s at 200 Hz
    kept = np.sort(rng.choice(train, 160, replace=False))  # 80 % detected: gaps are multiples of 5 ms
    t = np.concatenate([[0.5], kept, [4.0]])
    assert find_trains(t, P) == [(1, 160)]
    # Several units firing at random (Poisson, 100/s) for 1 s are not a train.
    poisson = np.cumsum(rng.exponential(0.01, 100))
    assert find_trains(poisson, P) == []


def test_find_trains_ignores_intervals_no_unit_can_fire_at():
    from emgkit.detect.patterns import find_trains

    rng = np.random.default_rng(2)
    train = 2.0 + np.cumsum(rng.normal(1.0, 0.02, 150)) / 180.0     # ~0.8 s at 180 Hz
    kept = np.sort(rng.choice(train, 110, replace=False))
    # Another unit's discharges (or one discharge found twice) 0.2–1.5 ms from some of the train's:
    # with them the intervals' CoV is ~0.65, though the train's own stays regular.
    extra = rng.choice(kept, 30, replace=False) + rng.uniform(0.0002, 0.0015, 30)
    t = np.sort(np.concatenate([[0.5], kept, extra, [4.0]]))
    isi = np.diff(t[1:-1])
    assert isi.std() / isi.mean() > P.neuromyotonic_max_cov
    assert find_trains(t, P, rest_only=True) == [(1, t.size - 2)]
    assert find_trains(t, P) == []


def test_pairs_of_isolated_discharges_are_fasciculations_not_bursts():
    # A fasciculating unit firing every 0.3–1.5 s: pairs 300–450 ms apart recur by chance, each
    # discharge isolated (> 250 ms on both sides), which a 2 Hz "burst" rate would also admit.
    times = np.array([0.0, 0.35, 2.0, 2.42, 4.5, 4.8, 7.0, 7.45, 9.0])
    labels, ev = classify_unit(times, P)
    assert kinds(ev) == ["fasciculation"] * times.size
    # Three discharges at a uniform 3 Hz, recurring, are bursts at the same slow rate.
    bursts = np.concatenate([s + np.arange(3) / 3.0 for s in (0.0, 3.0, 6.0)])
    _, ev = classify_unit(bursts, P)
    assert kinds(ev) == ["myokymic"] * 3


def test_burst_of_an_established_myokymic_unit_needs_no_silence():
    # Bursts of 20 Hz recurring every ~0.45 s; the third one (intervals 50-60 ms) is followed
    # by the next burst after only 105 ms, less than twice its mean interval of silence.
    b1 = 0.0 + np.arange(5) * 0.05
    b2 = 0.45 + np.arange(5) * 0.05
    b3 = 0.9 + np.cumsum([0, 0.05, 0.05, 0.06, 0.06])
    b4 = b3[-1] + 0.105 + np.arange(5) * 0.05
    b5 = b4[-1] + 0.25 + np.arange(5) * 0.05
    times = np.concatenate([b1, b2, b3, b4, b5])
    labels, ev = classify_unit(times, P)
    assert set(labels[np.isin(times, b3)]) == {"myokymic"}
    assert kinds(ev) == ["myokymic"] * 5
    # Without established bursts, a run of discharges at burst rates is not myokymic.
    _, ev = classify_unit(np.concatenate([b3, b4[:1]]), P)
    assert "myokymic" not in kinds(ev)


def test_periodic_chains_share_no_discharges():
    from emgkit.detect.patterns import periodic_chains

    # Dense random discharges: many links lead to the same later discharge. Each discharge
    # must join one chain at most (shared tails once made work and memory grow quadratically).
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 60, 135 * 60))
    chains = periodic_chains(t, P.continuous_rate_hz, P.continuous_min_discharges, P.continuous_max_cov, max_skip=1)
    members = np.concatenate(chains) if chains else np.zeros(0, int)
    assert members.size == np.unique(members).size <= t.size
    # A steady 8 Hz rhythm among them is still one chain.
    steady = np.arange(0, 10, 0.125)
    chains = periodic_chains(steady, P.continuous_rate_hz, P.continuous_min_discharges, P.continuous_max_cov)
    assert len(chains) == 1 and chains[0].size == steady.size


@pytest.mark.parametrize("stage, name, value", [
    ("units", "unmix_min_share", 1.5), ("units", "unmix_ridge", 0.0), ("units", "recorded_peak_min_shift_ms", -1.0),
    ("units", "compound_min_explained", 1.5), ("units", "compound_max_share", -0.1), ("units", "merge_full_distance", -1.0),
    ("spikes", "grid_lone_merge_ms", -2.0), ("segments", "recruitment_margin_s", -1.0),
    ("segments", "recruitment_min_neighbours", -1), ("units", "train_band", (1.5, 0.6)),
    ("units", "train_band", (0.6,)), ("segments", "unsorted_max_sorted_share", 1.5),
    ("units", "same_unit_max_shift_ms", -1.0), ("units", "recorded_peak_min_t", -1.0),
    ("units", "same_unit_tolerance", -0.1), ("units", "same_unit_tolerance", 0.9),
    ("patterns", "crowded_min_discharges", -1), ("patterns", "crowded_window_s", -0.1),
    ("patterns", "burst_rhythm_tolerance", 1.0), ("patterns", "family_min_correlation", 0.0),
    ("segments", "needle_train_max_units", 0.5), ("units", "phase_copy_distance", -0.1),
    ("units", "phase_copy_min_ratio", 1.5), ("units", "phase_copy_max_ms", -1.0),
    ("units", "train_envelope_floor_sd", -1.0), ("units", "train_envelope_periods", 0.0),
    ("units", "train_envelope_min_share", 1.5), ("units", "recorded_peak_highpass_hz", -1.0),
    ("units", "recorded_peak_context_gap", 5.0), ("units", "doublet_scales", ((0.8, 1.25),)),
    ("units", "doublet_scales", ((1.2, 0.8), (0.6, 1.25))), ("units", "doublet_scales", 3.0),
    ("units", "pair_refit_min_gain", -1.0), ("units", "pair_refit_states", ("artifact",)),
    ("units", "contraction_compound_min_explained", 1.5),
    ("preprocess", "mains_detect_ratio", 0.5), ("preprocess", "mains_harmonic_ratio", 0.0),
])
def test_out_of_range_params_are_named(stage, name, value):
    from emgkit import ParameterError
    from emgkit.detect.params import DetectionParams

    with pytest.raises(ParameterError, match=f"{stage}.{name}"):
        DetectionParams.from_dict({stage: {name: value}})


def test_shared_rhythm_chance_is_small_for_chains_at_one_rr_and_not_for_spread_ones():
    from emgkit.detect.patterns import shared_rhythm_chance_p

    p_one, members = shared_rhythm_chance_p([0.85, 0.86, 0.84, 0.85, 0.87, 1.3])
    assert p_one < 1e-3 and members.tolist() == [True] * 5 + [False]
    p_spread, members = shared_rhythm_chance_p([0.45, 0.6, 0.85, 1.1, 1.5])
    assert p_spread == 1.0 and members.sum() == 1
    assert shared_rhythm_chance_p([0.9])[0] == 1.0
