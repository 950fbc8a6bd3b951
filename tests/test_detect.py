"""The detector end to end: ground truth from emgkit's simulator, real records, pathological input.

Tolerances follow the detector issue: ±1.5 ms (needle) / ±3 ms (surface) for discharges.
The accuracy floors asserted here are the figures the detector reaches today on these
scenarios; the issue's targets (discharge F1 ≥ 0.95 everywhere) are not yet met and are
tracked in the issue, not hidden by these tests.
"""
import numpy as np
import pytest

import emgkit
from emgkit import Electrode, Recording
from emgkit.detect import DetectionParams, detect
from conftest import shared_file


def score(truth, res, electrode):
    tol = 0.0015 if electrode.startswith("needle") else 0.003
    return emgkit.evaluate(truth, res, tolerance=tol)


def nearest_gap(found, times):
    """Seconds from each of ``times`` to the nearest of the sorted ``found`` (at least two)."""
    j = np.clip(np.searchsorted(found, times), 1, len(found) - 1)
    return np.minimum(np.abs(found[j] - times), np.abs(found[j - 1] - times))


def row(table, **where):
    m = np.ones(len(table), bool)
    for k, v in where.items():
        m &= (table[k] == v).to_numpy()
    return table[m].iloc[0]


def test_emgkit_detect_stays_callable_after_submodule_imports():
    import emgkit.detect.params  # noqa: F401  (replaces the lazy attribute by the package)

    rec = Recording.from_array(np.random.default_rng(0).normal(0, 10, (1, 4000)), 4000.0,
                               electrodes=Electrode("needle_concentric"))
    assert callable(emgkit.detect)
    assert len(emgkit.detect(rec).summary) == 1


@pytest.fixture(scope="module")
def myokymia():
    rec, truth = emgkit.simulate("myokymia", electrode="needle", duration=30, seed=0)
    return rec, truth, detect(rec, hash_input=False)


def test_myokymic_discharges_found(myokymia):
    rec, truth, res = myokymia
    s = score(truth, res, "needle")
    assert row(s.discharges, muscle="ALL", states="rest").f1 >= 0.95
    assert row(s.events, muscle="ALL", kind="myokymic").f1 >= 0.9
    assert "myokymic discharges present" in res.summary["pattern_flags"].iloc[0]


def test_benign_fasciculations_counted():
    rec, truth = emgkit.simulate("benign", electrode="needle", duration=60, seed=3)
    res = detect(rec, hash_input=False)
    s = score(truth, res, "needle")
    d = row(s.discharges, muscle="ALL", states="rest")
    # Every true FP is found. Precision is a known gap (far phases of long MUAPs counted as
    # extra units), reported in the detector issue rather than asserted here.
    assert d.recall >= 0.9
    assert "fasciculations present" in res.summary["pattern_flags"].iloc[0]


def test_voluntary_epochs_excluded_and_rest_kept():
    rec, truth = emgkit.simulate("voluntary", electrode="needle", duration=30, seed=0)
    res = detect(rec, hash_input=False)
    s = score(truth, res, "needle")
    seg = s.segments.iloc[0]
    assert seg.voluntary_recall >= 0.8
    assert seg.rest_excluded_share <= 0.05
    assert row(s.discharges, muscle="ALL", states="rest").recall >= 0.9


def test_quiet_muscle_has_no_events():
    rec, truth = emgkit.simulate("quiet", electrode="needle", duration=20, seed=1)
    res = detect(rec, hash_input=False)
    assert len(truth.events) == 0
    assert len(res.events) <= 1


def test_a_flat_stretch_is_no_quiet_window_for_the_noise_of_a_train_reading():
    # This quiet bipolar record holds a flat stretch and, at an artifact, a window that repeats at a train's
    # interval by chance; the band reading's noise measured on the flat stretch (≈ 0) turned
    # its noise into two neuromyotonic discharges of 110 and 121 "discharges".
    rec, truth = emgkit.simulate("quiet", electrode="bipolar", duration=30, seed=2)
    res = detect(rec, hash_input=False)
    assert len(truth.discharges) == 0
    assert not (res.events["kind"] == "neuromyotonic").any()
    assert (res.discharges["state"] == "rest").sum() <= 2


def test_bipolar_als_multi_muscle():
    rec, truth = emgkit.simulate("als", electrode="bipolar", duration=30, seed=0)
    res = detect(rec, hash_input=False)
    assert set(res.summary.muscle) == set(rec.muscles)
    s = score(truth, res, "bipolar")
    # Regression floor (measured 0.59 on this seed); the target is 0.95.
    assert row(s.discharges, muscle="ALL", states="rest").f1 >= 0.5


def test_result_tables_schema_and_save(tmp_path, myokymia):
    from emgkit.schema import DISCHARGE_COLUMNS, EVENT_COLUMNS, SEGMENT_COLUMNS

    _, _, res = myokymia
    assert tuple(res.discharges.columns[:len(DISCHARGE_COLUMNS)]) == DISCHARGE_COLUMNS
    assert tuple(res.events.columns) == EVENT_COLUMNS
    assert tuple(res.segments.columns) == SEGMENT_COLUMNS
    assert {"fasciculations_per_min", "fasciculations_per_min_ci_low", "p_miss_fp", "pattern_flags"} <= set(res.summary.columns)
    assert set(res.provenance["timings"]) >= {"read", "preprocess", "detect", "units", "patterns", "summary"}
    back = emgkit.load_result(res.save(tmp_path / "r.h5"))
    assert len(back.discharges) == len(res.discharges)
    assert DetectionParams.from_dict(back.params) == DetectionParams.from_dict(res.params)


def test_spike_on_chunk_edge_found_once():
    fs = 10000.0
    x = np.random.default_rng(2).normal(0, 5, 40000)
    t = np.arange(-50, 51) / fs
    spike = -400 * (t / 3e-4) * np.exp(-0.5 * (t / 3e-4) ** 2) + 150 * np.exp(-0.5 * (t / 3e-4) ** 2)
    edge = 20000  # the chunk boundary with chunk_s = 2.0
    for centre in (edge, 5000, 33000):
        x[centre - 50:centre + 51] += spike
    rec = Recording.from_array(x[None], fs, electrodes=Electrode("needle_concentric"))
    params = DetectionParams().replace(preprocess={"chunk_s": 2.0, "chunk_min_values": 0, "mains_hz": None})
    res = detect(rec, params)
    times = np.sort(res.discharges.time.to_numpy())
    peak = np.abs(spike).argmax() - 50
    expected = (np.array([5000, edge, 33000]) + peak) / fs
    assert len(times) == 3
    np.testing.assert_allclose(times, expected, atol=0.0003)


def test_discharges_near_the_recording_edges_are_found():
    # A 10-s EMGLAB record lost 5 % of its firings to a 250-ms guard at each end, and 1 % to a
    # 50-ms one (a needle MUAP and its fit's window lie within 12 ms).
    fs = 10000.0
    x = np.random.default_rng(3).normal(0, 5, 40000)
    t = np.arange(-50, 51) / fs
    spike = -400 * (t / 3e-4) * np.exp(-0.5 * (t / 3e-4) ** 2) + 150 * np.exp(-0.5 * (t / 3e-4) ** 2)
    # 20 and 60 ms from the start, 70 and 20 ms from the end.
    centres = np.array([200, 600, 20000, 40000 - 700, 40000 - 200])
    for centre in centres:
        x[centre - 50:centre + 51] += spike
    rec = Recording.from_array(x[None], fs, electrodes=Electrode("needle_concentric"))
    res = detect(rec, DetectionParams().replace(preprocess={"mains_hz": None}), hash_input=False)
    times = np.sort(res.discharges.time.to_numpy())
    expected = (centres + np.abs(spike).argmax() - 50) / fs
    assert len(times) == 5
    np.testing.assert_allclose(times, expected, atol=0.0003)


@pytest.mark.parametrize("case", ["flat", "nan_run", "mains", "offset", "clipped", "settling"])
def test_pathological_input_gives_result_without_invented_events(case):
    fs = 4000.0
    rng = np.random.default_rng(0)
    n = int(10 * fs)
    x = rng.normal(0, 10, n)
    if case == "flat":
        x = np.zeros(n)
    elif case == "nan_run":
        x[10000:20000] = np.nan
    elif case == "mains":
        x = 500 * np.sin(2 * np.pi * 50 * np.arange(n) / fs)
    elif case == "offset":
        x = x + 1e5
    elif case == "clipped":
        x = np.clip(rng.normal(0, 400, n), -300, 300)
    elif case == "settling":   # an amplifier settling at the start, a step at the end
        x[:int(fs)] += 3000 * np.exp(-np.arange(int(fs)) / (0.03 * fs))
        x[-int(0.02 * fs):] += 2000
    rec = Recording.from_array(x[None], fs, electrodes=Electrode("surface_bipolar"))
    res = detect(rec)
    assert len(res.summary) == 1
    assert len(res.events) <= 1, res.events
    if case == "flat":
        assert (res.segments.state == "flat").any()


def test_no_emg_channels_is_a_clear_error():
    rec = Recording.from_array(np.zeros((1, 100)), 100.0, channel_types=["force"])
    with pytest.raises(emgkit.ParameterError, match="no EMG channels"):
        detect(rec)


def test_r00108_expert_firings(shared_data):
    """EMGLAB R00108 vs its expert annotation (±1 ms), for units whose MUAP exceeds 2.5× signal RMS.

    Expert times are moved to each unit's MUAP peak (``Annotations.firings_at_peaks``): EMGlab
    times a firing where the expert aligned the template, 1.8 ms after the largest phase for
    unit 7, while emgkit times discharges at the peak. The issue asks for sensitivity ≥ 0.95;
    today's detector reaches 0.88–1.00 on these seven units (unit 7, whose two phases of nearly
    equal size, 958 and 834 µV, take turns at being the largest: 0.88; 0.74 before overlaps in a
    contraction were re-fitted as pairs, `units.refit_overlap_pairs`, and 0.83 before clusters of
    overlaps were left out of a contraction's peeling at 75 % explained,
    `UnitParams.contraction_compound_min_explained`). This test holds the floor it reaches so a
    regression shows; the gap is in the issue note.
    """
    rec = emgkit.read(shared_file(shared_data, "emglab-R001/R00108.hea"))
    ann = emgkit.read_annotations(shared_file(shared_data, "emglab-R001/R00108.eaf"))
    res = detect(rec, hash_input=False)
    found = np.sort(res.discharges.time.to_numpy())
    rms = np.nanstd(rec.get_data())
    sens = []
    for unit, g in ann.firings_at_peaks().groupby("unit"):
        if np.ptp(ann.templates[unit].data_uv) < 2.5 * rms:
            continue
        tt = g.time.to_numpy()
        sens.append((nearest_gap(found, tt) <= 0.001).mean())
    assert len(sens) >= 5
    assert np.median(sens) >= 0.92 and min(sens) >= 0.85
    # A steady 10 % MVC contraction: mostly voluntary, not fasciculations.
    summary = res.summary.iloc[0]
    assert summary.voluntary_s >= 0.8 * summary.duration_s


def test_units_injected_into_real_background(shared_data):
    """Simulated units injected into a real needle record (N2001 control, steady contraction).

    The background is voluntary activity, so injected discharges are scored in all states.
    Measured recall 0.89 (myokymic units, voluntary time peeled too); the issue's target is 0.95.
    """
    from emgkit.simulate import inject

    real = emgkit.read(shared_file(shared_data, "emglab-N2001/N2001C01BB55.hea"))
    rec, truth = inject(real, scenario="myokymia", seed=0)
    res = detect(rec, hash_input=False)
    s = emgkit.evaluate(truth, res, tolerance=0.0015)
    assert row(s.discharges, muscle="ALL", states="all").recall >= 0.7


def test_n2001_controls_are_voluntary(shared_data):
    """N2001 control records (steady low-level contraction): mostly voluntary, few fasciculations."""
    fractions, fps = [], []
    # The last three failed the criterion until contractions were followed back to their first
    # recruited unit (C03BB51: one large unit at ~11 Hz through the record, 0.49 voluntary, 4 FPs).
    for name in ("N2001C01BB51", "N2001C03VM61", "N2001C03BB52", "N2001C01VM71",
                 "N2001C03BB51", "N2001C01BB76", "N2001C01BB55"):
        res = detect(emgkit.read(shared_file(shared_data, f"emglab-N2001/{name}.hea")), hash_input=False)
        s = res.summary.iloc[0]
        fractions.append((s.voluntary_s + s.cramp_s) / s.duration_s)
        fps.append(s.n_fasciculations)
    # The criterion, record by record (measured 0.96–1.00 voluntary and no FP on these seven;
    # 21 of the 22 controls meet it, C01VM73 is 0.85 voluntary with one FP).
    assert min(fractions) >= 0.9
    assert max(fps) <= 1


def test_electrode_pop_is_an_artifact_not_discharges():
    fs = 4000.0
    n = int(12 * fs)
    x = np.random.default_rng(3).normal(0, 8, n)
    t0 = int(5 * fs)
    x[t0:] += 1500 * np.exp(-np.arange(n - t0) / (0.2 * fs))   # step then decay (a pop)
    rec = Recording.from_array(x[None], fs, electrodes=Electrode("needle_concentric"))
    res = detect(rec)
    art = res.segments[res.segments.state == "artifact"]
    assert ((art.start <= 5.0) & (art.end >= 5.05)).any()
    assert (res.discharges.state == "rest").sum() == 0
    assert len(res.events) == 0


@pytest.mark.parametrize("scenario, electrode", [("isaacs", "needle"), ("als", "grid")])
def test_results_do_not_depend_on_the_chunk_length(scenario, electrode):
    """Streaming in 3-s or 10-s chunks gives the same discharges, events and segments (chunk edges
    are read with context; window and step series sit at absolute positions)."""
    import pandas as pd

    rec, _ = emgkit.simulate(scenario, electrode=electrode, duration=30, seed=1)
    a, b = (detect(rec, DetectionParams.from_dict({"preprocess": {"chunk_s": s, "chunk_min_values": 0}}), hash_input=False)
            for s in (10.0, 3.0))
    default = detect(rec, hash_input=False)   # chunks of at least chunk_min_values samples × channels
    for other in (b, default):
        assert len(a.discharges) == len(other.discharges) > 0
        np.testing.assert_allclose(a.discharges.time, other.discharges.time, atol=1.5 / rec.fs)
        assert (a.discharges.unit.to_numpy() == other.discharges.unit.to_numpy()).all()
        assert a.events.kind.tolist() == other.events.kind.tolist()
        pd.testing.assert_frame_equal(a.segments, other.segments, atol=1e-6)


def test_a_strong_grid_contraction_is_voluntary_though_its_candidates_chain_like_a_train():
    """On a grid, a contraction's candidates (one per MUAP across the electrodes, tens per second,
    few templates) chain like a neuromyotonic train; only where the signal also repeats at a train's
    interval is such a chain spontaneous (emgkit's voluntary grid seed 0: 13 % of the contraction
    was kept as rest before)."""
    rec, truth = emgkit.simulate("voluntary", electrode="grid", duration=30, seed=0)
    res = detect(rec, hash_input=False)
    seg = score(truth, res, "grid").segments.iloc[0]
    assert seg["voluntary_recall"] >= 0.95
    assert seg["rest_excluded_share"] <= 0.05


def _train_only_needle_unit(seed=0, fs=24000.0, duration=20.0):
    """One needle unit firing only in 150–260 Hz trains, its MUAP (with a late phase 5 ms after the
    spike) longer than the intervals: the unit's template holds its neighbours' MUAPs."""
    rng = np.random.default_rng(seed)
    t = np.arange(-0.008, 0.008, 1 / fs)
    muap = 400.0 * (-np.exp(-((t + 0.0006) / 0.0004) ** 2) + 0.6 * np.exp(-((t - 0.0009) / 0.0007) ** 2)
                    - 0.6 * np.exp(-((t - 0.005) / 0.0012) ** 2))
    x = rng.normal(0.0, 10.0, int(duration * fs))
    times, _ = _trains(rng, 1.0, duration - 2.0, (150.0, 260.0), (0.5, 1.0), (2.0, 4.0))
    _add_muaps(x, times, muap, fs)
    return Recording.from_array(x[None], fs, electrodes=Electrode("needle_concentric")), times


def _trains(rng, first, last, rate_hz, length_s, pause_s):
    """Discharge times of trains at ``rate_hz`` (2 % interval jitter) lasting ``length_s``, ``pause_s``
    apart (each a uniform range), starting at ``first`` until ``last``; and the number of trains."""
    times, n_trains, start = [], 0, first
    while start < last:
        hz, s, end = rng.uniform(*rate_hz), start, start + rng.uniform(*length_s)
        n_trains += 1
        while s < end:
            times.append(s)
            s += rng.normal(1.0, 0.02) / hz
        start = s + rng.uniform(*pause_s)
    return np.array(times), n_trains


def _add_muaps(x, times, muap, fs):
    peak = int(np.argmax(np.abs(muap)))
    for s in times:
        i = int(round(s * fs)) - peak
        x[i:i + muap.size] += muap


def test_every_discharge_of_a_fast_train_is_found():
    # Peeling with a template that holds the neighbours explains one discharge of two; the
    # candidates left standing in the residual between the fits are discharges of that unit
    # (before: 93 % of 716 found).
    rec, times = _train_only_needle_unit()
    res = detect(rec, hash_input=False)
    rest = res.discharges[res.discharges["state"] == "rest"]
    found = np.sort(rest["time"].to_numpy())
    assert np.mean(nearest_gap(found, times) <= 0.0015) >= 0.97
    assert len(found) <= 1.02 * len(times)
    # ...and they stay in their trains: no train discharge is reported as a fasciculation.
    assert set(res.events["kind"]) == {"neuromyotonic"}
    assert res.events["n_discharges"].sum() >= 0.97 * len(times)


def _surface_trains(seed=0, fs=2048.0, duration=30.0, amplitude=20.0):
    """One bipolar surface unit firing only in 150–250 Hz trains: its 8-ms MUAPs overlap into a
    wave whose peaks mostly stay under the candidate threshold."""
    rng = np.random.default_rng(seed)
    t = np.arange(-0.012, 0.012, 1 / fs)
    muap = amplitude * (np.exp(-((t + 0.0015) / 0.0012) ** 2) - 0.8 * np.exp(-((t - 0.002) / 0.0016) ** 2))
    x = rng.normal(0.0, 5.0, int(duration * fs))
    times, n_trains = _trains(rng, 2.0, duration - 3.0, (150.0, 250.0), (0.6, 1.2), (3.0, 5.0))
    _add_muaps(x, times, muap, fs)
    return Recording.from_array(x[None], fs, electrodes=Electrode("surface_bipolar")), times, n_trains


def test_a_surface_train_under_the_candidate_threshold_is_read_from_its_wave():
    # Candidates and peeling alone found 23 % of these discharges and called most trains myokymic
    # bursts; each period's peak of the periodic wave finds 93 % (±3 ms, the surface tolerance).
    rec, times, n_trains = _surface_trains()
    res = detect(rec, hash_input=False)
    rest = res.discharges[res.discharges["state"] == "rest"]
    found = np.sort(rest["time"].to_numpy())
    assert np.mean(nearest_gap(found, times) <= 0.003) >= 0.9
    assert len(found) <= 1.05 * len(times)
    assert res.events["kind"].tolist() == ["neuromyotonic"] * n_trains


def _short_spike_unit(firing, fs=24000.0, duration=30.0, seed=1):
    """A needle unit with a 2-ms, 150-µV spike (as short and small as a fibrillation potential)."""
    rng = np.random.default_rng(seed)
    t = np.arange(-0.002, 0.002, 1 / fs)
    spike = 150.0 * (-np.exp(-((t + 0.0002) / 0.00025) ** 2) + 0.5 * np.exp(-((t - 0.0004) / 0.0004) ** 2))
    x = rng.normal(0.0, 8.0, int(duration * fs))
    _add_muaps(x, firing, spike, fs)
    return Recording.from_array(x[None], fs, electrodes=Electrode("needle_concentric"))


def test_a_short_spike_firing_in_myokymic_bursts_is_a_motor_unit_not_a_fibre():
    # Bursts of five at 27 Hz every ~2 s: no fibrillation fires faster than 15 Hz, so however short
    # its spike this is a small motor unit's myokymic discharge (before: 53 "fibrillations", no burst).
    rng = np.random.default_rng(2)
    starts = 1.0 + np.cumsum(rng.uniform(1.6, 2.4, 13))
    bursts = np.concatenate([s + np.arange(5) / 27.0 for s in starts if s < 28.5])
    res = detect(_short_spike_unit(bursts), hash_input=False)
    kinds = res.events["kind"].value_counts()
    assert "fibrillation" not in kinds
    assert kinds.get("myokymic", 0) >= 0.9 * len([s for s in starts if s < 28.5])
    # The same spike firing regularly at 5 Hz (CoV 3 %) is still a fibre.
    regular = 1.0 + np.cumsum(rng.normal(0.2, 0.006, 130))
    res = detect(_short_spike_unit(regular[regular < 29.0]), hash_input=False)
    assert res.events["kind"].value_counts().idxmax() == "fibrillation"


def test_a_rare_polyphasic_needle_muap_is_one_discharge_not_two():
    # A unit seen twice fits no recurring template; its MUAP's late phase, 5 ms after the spike
    # and 0.7 of its size, was a second lone "fasciculation" (needle_lone_merge_ms 0: 8 for 6).
    fs, rng = 24000.0, np.random.default_rng(3)
    t = np.arange(-0.004, 0.01, 1 / fs)
    muap = 300.0 * (-np.exp(-((t + 0.0002) / 0.0003) ** 2) + 0.4 * np.exp(-((t - 0.0006) / 0.0004) ** 2)
                    - 0.7 * np.exp(-((t - 0.005) / 0.0003) ** 2))
    x = rng.normal(0.0, 8.0, int(20 * fs))
    times = np.array([2.3, 5.1, 9.7, 12.2, 15.8, 18.1])
    for k, s in enumerate(times):   # three units, twice each: shapes differ by scale and sign
        i = int(round(s * fs)) - int(np.argmax(np.abs(muap)))
        x[i:i + muap.size] += (1.0, -0.8, 1.3)[k % 3] * muap
    rec = Recording.from_array(x[None], fs, electrodes=Electrode("needle_concentric"))
    counts = {}
    for merge_ms in (8.0, 0.0):
        res = detect(rec, DetectionParams().replace(spikes={"needle_lone_merge_ms": merge_ms}), hash_input=False)
        rest = res.discharges[res.discharges["state"] == "rest"]
        counts[merge_ms] = len(rest)
        if merge_ms:
            assert np.all(nearest_gap(np.sort(rest["time"].to_numpy()), times) <= 0.0015)
    assert counts[8.0] == times.size
    assert counts[0.0] > times.size      # the late phases counted too


def test_a_needle_muaps_varying_late_phase_is_not_a_discharge_of_its_own():
    # A 400-µV fasciculating MUAP whose late satellite, 8 ms after its spike, varies from 0 to
    # 9 noise SD discharge by discharge (jiggle): the fit leaves the satellite, and it was reported
    # as a fasciculation of its own after each discharge (independent simulator, myokymia needle).
    fs = 30000.0
    rng = np.random.default_rng(4)
    x = rng.normal(0, 5, int(30 * fs))
    t = np.arange(-60, 61) / fs
    spike = -400 * (t / 3e-4) * np.exp(-0.5 * (t / 3e-4) ** 2)
    satellite = -(t / 2e-4) * np.exp(-0.5 * (t / 2e-4) ** 2)
    fires = np.array([2.1, 7.4, 11.9, 16.2, 21.7, 26.3])
    for at, size in zip(fires, [0.0, 60.0, 30.0, 80.0, 70.0, 50.0]):
        c = int(at * fs)
        x[c - 60:c + 61] += spike
        x[c + 240 - 60:c + 240 + 61] += size * satellite
    rec = Recording.from_array(x[None], fs, electrodes=Electrode("needle_concentric"))
    params = DetectionParams().replace(preprocess={"mains_hz": None})
    res = detect(rec, params, hash_input=False)
    found = res.discharges[res.discharges.state == "rest"].time.to_numpy()
    near = np.abs(found[:, None] - (fires + t[np.abs(spike).argmax()])[None, :]).min(axis=1) <= 0.001
    assert near.sum() == fires.size and found.size == fires.size
    assert (res.events.kind == "fasciculation").sum() == fires.size
    # The check off: the larger satellites are discharges of their own.
    off = detect(rec, params.replace(units={"needle_remnant_max_share": 0.0}), hash_input=False)
    assert (off.discharges.state == "rest").sum() > fires.size
