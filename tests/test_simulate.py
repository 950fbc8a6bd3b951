"""The simulator: determinism, each pattern's defining numbers checked from the generated truth, writers, injection.

Tolerances: truth times are peak *samples*, so intervals measured from them
carry up to ±2 samples of rounding and peak-position jitter (``TOL``); every
other bound is the clinical range the parameter docs cite.
"""
from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pandas as pd
import pytest

import emgkit
from emgkit import schema
from emgkit.errors import EmgkitError, ParameterError
from emgkit.simulate import inject, load_truth, save, simulate
from emgkit.simulate.muap import measure

NEEDLE_FS = 24000.0
TOL = 2.0 / NEEDLE_FS


@pytest.fixture(scope="module")
def isaacs():
    return simulate("isaacs", electrode="needle", duration=60.0, seed=11)


@pytest.fixture(scope="module")
def isaacs_runs():
    """Several seeds, for statistics over many events."""
    return [simulate("isaacs", electrode="needle", duration=40.0, seed=s, artifacts=False)[1] for s in range(3)]


def _intervals(truth, kind):
    d = truth.discharges
    out = []
    for ev in truth.events[truth.events["kind"] == kind].itertuples():
        t = np.sort(d.loc[d["event"] == ev.event, "time"].to_numpy())
        out.append(np.diff(t))
    return out


# ----------------------------------------------------------------------------- API and determinism
def test_same_seed_same_data_and_truth_different_seed_differs():
    a, ta = simulate("isaacs", electrode="needle", duration=5.0, seed=3)
    b, tb = simulate("isaacs", electrode="needle", duration=5.0, seed=3)
    c, tc = simulate("isaacs", electrode="needle", duration=5.0, seed=4)
    assert a.get_data(dtype=np.float32).tobytes() == b.get_data(dtype=np.float32).tobytes()
    for name in ("discharges", "events", "segments", "units", "summary"):
        pd.testing.assert_frame_equal(getattr(ta, name), getattr(tb, name))
    assert not np.array_equal(a.get_data(), c.get_data())
    assert not ta.discharges["time"].equals(tc.discharges["time"])
    assert a.meta["seed"] == ta.seed == 3 and ta.params["seed"] == 3
    assert ta.params["muscles"]["biceps"]["doublet_probability"] == 0.35  # resolved preset recorded


def test_recording_header_and_truth_schema(isaacs):
    rec, truth = isaacs
    assert rec.fs == NEEDLE_FS and rec.n_samples == int(60 * NEEDLE_FS)
    assert rec.electrodes[0].kind == "needle_concentric" and rec.units == ["uV"]
    assert list(truth.discharges.columns) == list(schema.DISCHARGE_COLUMNS)
    assert list(truth.events.columns) == list(schema.EVENT_COLUMNS)
    assert list(truth.segments.columns)[:4] == list(schema.SEGMENT_COLUMNS)
    assert set(truth.events["kind"]) <= set(schema.EVENT_KINDS)
    assert set(truth.discharges["state"]) <= set(schema.DISCHARGE_STATES)
    assert set(truth.segments["state"]) <= set(schema.SEGMENT_STATES)
    assert (truth.events["confidence"] == 1.0).all()
    assert truth.fs == rec.fs and truth.duration == 60.0 and truth.scenario == "isaacs"


def test_every_spontaneous_discharge_in_exactly_one_event(isaacs):
    _, truth = isaacs
    d, ev = truth.discharges, truth.events
    spont = d[d["state"].isin(["rest", "artifact"])]
    assert (spont["event"] >= 0).all()
    assert ev["event"].is_unique
    counts = d[d["event"] >= 0].groupby("event")["time"].agg(["size", "min", "max"])
    merged = ev.set_index("event").join(counts)
    assert (merged["size"] == merged["n_discharges"]).all()
    np.testing.assert_allclose(merged["min"], merged["start"])
    np.testing.assert_allclose(merged["max"], merged["end"])
    single = ev["n_discharges"] == 1
    assert (ev.loc[single, "kind"] == "fasciculation").all() and (ev.loc[single, "rate"] == 0).all()
    # Each event is one unit's (cramp aside) and the discharge's unit matches.
    joined = d[d["event"] >= 0].merge(ev[["event", "unit"]], on="event", suffixes=("", "_ev"))
    assert (joined["unit"] == joined["unit_ev"]).all()


@pytest.mark.parametrize("scenario, kinds", [
    ("isaacs", {"fasciculation", "doublet", "multiplet", "myokymic", "neuromyotonic"}),
    ("myokymia", {"myokymic"}),
    ("neuromyotonia", {"neuromyotonic"}),
    ("cramp", {"cramp"}),
    ("benign", {"fasciculation"}),
])
def test_scenarios_contain_their_kinds(scenario, kinds):
    _, truth = simulate(scenario, electrode="needle", duration=60.0, seed=5, fs=10000)
    assert kinds <= set(truth.events["kind"])


def test_quiet_has_no_discharges_and_als_needle_fibrillates():
    _, quiet = simulate("quiet", electrode="needle", duration=10.0, seed=1)
    assert len(quiet.discharges) == 0 and len(quiet.events) == 0
    _, als = simulate("als", electrode="needle", duration=30.0, seed=2, fs=10000)
    assert {"fibrillation", "positive_sharp_wave"} & set(als.events["kind"])
    assert (als.units["pattern"] == "fasciculating").sum() >= 4
    _, als_surface = simulate("als", electrode="bipolar", duration=10.0, seed=2)
    assert not {"fibrillation", "positive_sharp_wave"} & set(als_surface.events["kind"])  # needle only


# ----------------------------------------------------------------------------- pattern numbers from the truth
def test_doublet_and_multiplet_intervals(isaacs_runs):
    isis, ratios = [], []
    for truth in isaacs_runs:
        for kind in ("doublet", "multiplet"):
            isis += list(np.concatenate(_intervals(truth, kind) or [np.zeros(0)]))
        d = truth.discharges
        for ev in truth.events[truth.events["kind"] == "doublet"].itertuples():
            amp = d.loc[d["event"] == ev.event].sort_values("time")["amplitude"].to_numpy()
            ratios.append(amp[1] / amp[0])
    isis = np.asarray(isis)
    assert isis.size > 50
    assert isis.min() >= 0.002 - TOL and isis.max() <= 0.020 + TOL
    assert np.mean(isis <= 0.009 + TOL) > 0.7  # pathological doublets mostly <= 9 ms
    assert np.median(ratios) < 1.0  # second potential slightly smaller
    assert np.all(np.asarray(ratios) > 0.7)


def test_fasciculation_groups_isolated_and_unit_rates_in_range():
    _, truth = simulate("benign", electrode="needle", duration=120.0, seed=8, fs=10000,
                        n_units=(6, 6), fasciculation_rate_hz=(0.05, 1.0))
    from scipy.stats import poisson

    ev = truth.events[truth.events["kind"].isin(["fasciculation", "doublet", "multiplet"])]
    for unit, g in ev.groupby("unit"):
        g = g.sort_values("start")
        gaps = g["start"].to_numpy()[1:] - g["end"].to_numpy()[:-1]
        assert (gaps > 0.25).all()  # isolated: > 250 ms on both sides
        # Firings of one unit: between the Poisson 0.1 % and 99.9 % counts of 0.05 Hz and 1 Hz.
        assert poisson.ppf(0.001, 0.05 * 120) <= len(g) <= poisson.ppf(0.999, 1.0 * 120)


def test_neuromyotonic_trains(isaacs_runs):
    trains = 0
    for truth in isaacs_runs:
        d = truth.discharges
        for ev in truth.events[truth.events["kind"] == "neuromyotonic"].itertuples():
            g = d[d["event"] == ev.event].sort_values("time")
            t = g["time"].to_numpy()
            isi = np.diff(t)
            assert 150 <= ev.rate <= 300
            assert isi.min() >= 1 / 300 - TOL and isi.max() <= 1 / 150 + TOL
            assert 0.5 - 1 / 150 <= ev.end - ev.start <= 2.0  # the last ISI may not fit the drawn length
            amp = g["amplitude"].to_numpy()
            tenth = max(3, amp.size // 10)
            assert amp[-tenth:].mean() < 0.9 * amp[:tenth].mean()  # waning amplitude
            assert np.median(isi[-tenth:]) > np.median(isi[:tenth])  # ISIs lengthen
            trains += 1
    assert trains >= 3


def test_myokymic_bursts_and_recurrence(isaacs_runs):
    bursts = 0
    for truth in isaacs_runs:
        d = truth.discharges
        ev = truth.events[truth.events["kind"] == "myokymic"]
        for unit, g in ev.groupby("unit"):
            for e in g.itertuples():
                isi = np.diff(np.sort(d.loc[d["event"] == e.event, "time"].to_numpy()))
                assert 2.0 <= e.n_discharges <= 12 + 1
                assert 2.0 - 0.1 <= e.rate <= 60.0 + 1.0
                assert isi.min() >= 1 / 60 - TOL and isi.max() <= 1 / 2 + TOL
                bursts += 1
            starts = g.sort_values("start")["start"].to_numpy()
            if starts.size >= 4:
                periods = np.diff(starts)
                assert 0.1 - 0.05 <= 1 / np.median(periods) <= 10.0  # bursts recur at 0.1–10 Hz
                assert np.std(periods) / np.mean(periods) < 0.5  # semi-rhythmic
                silences = starts[1:] - g.sort_values("start")["end"].to_numpy()[:-1]
                longest_isi = (g["end"] - g["start"]).max() / max(1, g["n_discharges"].min() - 1)
                assert silences.min() > longest_isi
    assert bursts >= 10


def test_voluntary_epochs_and_cov():
    rec, truth = simulate("voluntary", electrode="bipolar", duration=60.0, seed=4, muscles=["biceps"],
                          voluntary_epochs_per_min=4.0, voluntary_epoch_s=(6.0, 8.0))
    seg = truth.segments[truth.segments["state"] == "voluntary"]
    assert len(seg) >= 2
    d = truth.discharges
    vol = d[d["state"] == "voluntary"]
    assert len(vol) > 100 and (vol["event"] == -1).all()
    covs = []
    for s in seg.itertuples():  # plateau only: ramps last at most 1 s
        inside = vol[(vol["time"] > s.start + 1.0) & (vol["time"] < s.end - 1.0)]
        for unit, g in inside.groupby("unit"):
            isi = np.diff(np.sort(g["time"].to_numpy()))
            if isi.size >= 15:
                covs.append(isi.std(ddof=1) / isi.mean())
    assert len(covs) >= 5
    assert 0.1 - 0.02 <= np.median(covs) <= 0.25 + 0.02  # sampling error of a CoV from >= 15 ISIs
    rates = vol.groupby("unit").size()
    assert rates.size >= 5  # many units recruited together
    # No spontaneous event inside a voluntary epoch.
    for s in seg.itertuples():
        assert not ((truth.events["start"] <= s.end) & (truth.events["end"] >= s.start)).any()


def test_cramp_units_rates_and_cov():
    _, truth = simulate("cramp", electrode="needle", duration=40.0, seed=6, fs=10000, n_cramps=(1, 1),
                        cramp_duration_s=(12.0, 15.0))
    seg = truth.segments[truth.segments["state"] == "cramp"]
    assert len(seg) == 1
    d = truth.discharges[truth.discharges["state"] == "cramp"]
    assert d["unit"].nunique() >= 10
    covs, rates = [], []
    for unit, g in d.groupby("unit"):
        isi = np.diff(np.sort(g["time"].to_numpy()))
        isi = isi[isi > 0.02]  # doublets aside
        if isi.size >= 20:
            covs.append(isi.std() / isi.mean())
            rates.append(1 / isi.mean())
    assert 0.3 <= np.median(covs) <= 0.6  # ≈ 0.45 (rate modulation by the drive adds a little)
    assert 6.0 <= np.median(rates) <= 25.0


def test_fibrillation_regular_and_small():
    _, truth = simulate("als", electrode="needle", duration=30.0, seed=3, fs=10000, n_fibrillating_fibres=(4, 4),
                        positive_sharp_wave_fraction=0.5)
    d = truth.discharges
    ev = truth.events[truth.events["kind"].isin(["fibrillation", "positive_sharp_wave"])]
    assert len(ev) >= 4
    for e in ev.itertuples():
        g = d[d["event"] == e.event]
        isi = np.diff(np.sort(g["time"].to_numpy()))
        assert 0.5 * 0.9 <= 1 / isi.mean() <= 15 * 1.1
        if isi.size >= 5:
            assert isi.std() / isi.mean() < 0.1
        assert g["amplitude"].between(20 * 0.8, 200 * 1.2).all()  # ±4 % amplitude jitter per discharge


def test_muap_duration_and_amplitude_ranges():
    units = pd.concat([simulate("als", electrode="needle", duration=2.0, seed=s, n_units=(20, 20))[1].units
                       for s in range(3)])
    fp = units[units["pattern"] == "fasciculating"]
    assert fp["duration_ms"].between(5.0 - 0.1, 15.0 + 0.1).all()
    assert fp["amplitude"].between(100, 3000).all()
    assert 300 <= fp["amplitude"].median() <= 700  # FP 560 ± 367 µV: median of the fitted log-normal 468
    assert (fp["n_phases"] >= 2).all() and fp["n_phases"].max() >= 4  # bi/tri/polyphasic
    surf = simulate("benign", electrode="bipolar", duration=2.0, seed=1, n_units=(20, 20))[1].units
    assert surf["duration_ms"].between(10.0 - 0.5, 30.0 + 0.5).all()
    assert surf["amplitude"].between(20, 500).all()


def test_rendered_muap_matches_truth_amplitude_and_duration():
    rec, truth = simulate("benign", electrode="needle", duration=10.0, seed=9, n_units=(1, 1),
                          fasciculation_rate_hz=(0.5, 0.5), noise_rms_uv=(1e-3, 1e-3), mains_hz=0, wander=False,
                          artifacts=False, doublet_probability=0.0, amplitude_jitter=(0.0, 0.0))
    x = rec.get_data()[0]
    unit = truth.units.iloc[0]
    for row in truth.discharges.itertuples():
        i = int(round(row.time * rec.fs))
        w = x[i - int(0.025 * rec.fs): i + int(0.025 * rec.fs)]
        assert np.argmax(np.abs(w)) == int(0.025 * rec.fs)  # truth time = largest absolute peak
        duration, pp, _ = measure(w, 1000 / rec.fs)
        assert pp == pytest.approx(row.amplitude, rel=1e-3)
        assert duration == pytest.approx(unit.duration_ms, abs=2 * 1000 / rec.fs)
        assert 5.0 - 0.1 <= duration <= 15.0 + 0.1


# ----------------------------------------------------------------------------- grids
def test_grid_discharge_spreads_over_channels_with_propagation_delays():
    rec, truth = simulate("benign", electrode="grid", duration=5.0, seed=3, n_units=(1, 1),
                          fasciculation_rate_hz=(1.0, 1.0), noise_rms_uv=(1e-3, 1e-3), mains_hz=0, wander=False,
                          ecg=False, artifacts=False, doublet_probability=0.0)
    assert rec.n_channels == 64 and {e.kind for e in rec.electrodes} == {"hd_grid"}
    assert rec.electrodes[9].row == 1 and rec.electrodes[9].col == 1 and rec.electrodes[9].x_mm == 8.0
    unit = truth.units.iloc[0]
    t = truth.discharges["time"].iloc[0]
    fs = rec.fs
    a, b = int((t - 0.05) * fs), int((t + 0.05) * fs)
    w = rec.get_data(a, b)
    pp = np.ptp(w, axis=1)
    main = rec.channels.index(unit.channel)
    assert main == int(np.argmax(pp))
    assert (pp > 0.1 * pp[main]).sum() >= 16  # one discharge seen on many channels
    x = np.array([e.x_mm for e in rec.electrodes])
    peak_t = (a + np.argmax(np.abs(w), axis=1)) / fs
    strong = pp > 0.3 * pp[main]
    dist = np.abs(x - unit.endplate_x_mm)
    far = strong & (dist > 10.0)  # away from the end-plate, where the two waves have separated
    assert far.sum() >= 4 and np.ptp(dist[far]) >= 8.0
    slope = np.polyfit(dist[far], peak_t[far], 1)[0]  # s per mm
    assert slope * 1000 == pytest.approx(1.0 / unit.cv_m_s, rel=0.35)  # delays at the conduction velocity
    assert 3.0 <= unit.cv_m_s <= 5.0


def test_grid_13x5_layout_and_multi_muscle_bipolar():
    rec, _ = simulate("quiet", electrode="grid_13x5", duration=1.0, seed=0)
    assert rec.n_channels == 65 and rec.electrodes[-1].row == 12 and rec.electrodes[-1].col == 4
    assert rec.electrodes[0].grid == "GR08MM1305"
    rec, truth = simulate({"biceps": "als", "fdi": "benign"}, electrode="bipolar", duration=20.0, seed=2)
    assert rec.muscles == ["biceps", "fdi"] and rec.electrodes[0].kind == "surface_bipolar"
    assert set(truth.summary["muscle"]) == {"biceps", "fdi"}
    s = truth.summary.set_index("muscle")
    assert s.loc["biceps", "n_spontaneous_units"] > s.loc["fdi", "n_spontaneous_units"]
    assert truth.params["muscles"]["fdi"]["scenario"] == "benign"


# ----------------------------------------------------------------------------- background and artifacts
def test_artifacts_are_placed_and_recorded():
    rec, truth = simulate("benign", electrode="needle", duration=60.0, seed=1, fs=4000, movement_per_min=3,
                          pops_per_min=3, clipping_per_min=3, flat_probability=1.0)
    seg = truth.segments
    assert {"artifact", "clipped", "flat"} <= set(seg["state"])
    x = rec.get_data()[0]
    for s in seg[seg["state"] == "clipped"].itertuples():
        part = x[int(s.start * rec.fs):int(s.end * rec.fs)]
        assert np.isclose(np.abs(part).max(), 8000.0, rtol=1e-6)  # needle rail
    for s in seg[seg["state"] == "flat"].itertuples():
        part = x[int(s.start * rec.fs) + 1:int(s.end * rec.fs)]
        assert np.ptp(part) == 0
    summary = truth.summary.iloc[0]
    assert summary["excluded_time_s"] > 0
    assert summary["rest_time_s"] + summary["excluded_time_s"] == pytest.approx(60.0)
    d = truth.discharges
    for s in seg.itertuples():
        inside = d[(d["time"] >= s.start) & (d["time"] <= s.end)]
        assert (inside["state"] == "artifact").all()


def test_background_rms_and_mains():
    rec, truth = simulate("quiet", electrode="bipolar", duration=10.0, seed=2, muscles=["fdi"], artifacts=False,
                          mains_hz=60, wander=False, ecg=False, noise_rms_uv=(5.0, 5.0), mains_uv=(20.0, 20.0))
    x = rec.get_data()[0]
    spec = np.abs(np.fft.rfft(x)) / x.size * 2
    f = np.fft.rfftfreq(x.size, 1 / rec.fs)
    assert spec[np.argmin(np.abs(f - 60))] == pytest.approx(20.0, rel=0.25)  # ±20 % per channel + noise
    assert spec[np.argmin(np.abs(f - 50))] < 2.0
    spectrum = np.fft.rfft(x)
    for h in (1, 2, 3, 5):  # notch the mains harmonics: what remains is the coloured background
        spectrum[np.abs(f - 60 * h) < 1.0] = 0
    background = np.fft.irfft(spectrum, n=x.size)
    assert np.sqrt(np.mean(background ** 2)) == pytest.approx(5.0, rel=0.05)


def test_snr_db_sets_unit_amplitude_relative_to_background():
    _, truth = simulate("benign", electrode="needle", duration=5.0, seed=1, snr_db=12.0, noise_rms_uv=(10.0, 10.0),
                        n_units=(5, 5))
    snr = 20 * np.log10(truth.units["amplitude"] / 10.0)
    assert snr.between(12.0 - 1e-6, 18.0 + 1e-6).all()


# ----------------------------------------------------------------------------- files
@pytest.mark.parametrize("ext", [".hea", ".edf", ".h5"])
def test_saved_file_reads_back_aligned_with_truth(tmp_path, ext):
    rec, truth = simulate("benign", electrode="needle", duration=20.0, seed=7, fs=10000,
                          noise_rms_uv=(0.01, 0.01), n_units=(4, 4), artifacts=False, mains_hz=0, wander=False)
    path = tmp_path / f"sim{ext}"
    rec_path, truth_path = save(rec, truth, path)
    back = emgkit.read(rec_path)
    assert back.fs == rec.fs and back.n_samples == rec.n_samples and back.muscles == rec.muscles
    assert back.electrodes[0].kind == "needle_concentric"
    loaded = load_truth(rec_path)
    pd.testing.assert_frame_equal(loaded.discharges, truth.discharges, check_dtype=False)
    pd.testing.assert_frame_equal(loaded.events, truth.events, check_dtype=False)
    assert loaded.seed == 7 and loaded.scenario == "benign"
    x = np.abs(back.get_data()[0])
    times = loaded.discharges["time"].to_numpy()
    half = int(0.001 * back.fs)
    offsets = []
    for i, t in enumerate(times):
        near = np.abs(times - t)
        near[i] = np.inf
        if near.min() < 0.02:
            continue  # overlapping MUAPs: the peak of the sum is not each one's
        k = int(round(t * back.fs))
        offsets.append(int(np.argmax(x[k - half:k + half + 1])) - half)
    offsets = np.asarray(offsets)
    assert offsets.size >= 10
    # High SNR (physiological MUAPs over 0.01 µV noise): the read-back |peak| is exactly the truth sample.
    assert np.all(offsets == 0), offsets


def test_files_are_byte_identical_for_a_seed(tmp_path):
    digests = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        rec, truth = simulate("isaacs", electrode="needle", duration=3.0, seed=5, fs=10000)
        out = []
        for ext in (".hea", ".edf", ".h5"):
            save(rec, truth, tmp_path / folder / f"x{ext}")
        for f in sorted((tmp_path / folder).iterdir()):
            out.append((f.name, hashlib.sha256(f.read_bytes()).hexdigest()))
        digests.append(out)
    assert digests[0] == digests[1]
    assert {n for n, _ in digests[0]} == {"x.hea", "x.dat", "x.edf", "x.h5", "x.truth.json"}


# ----------------------------------------------------------------------------- injection
def test_inject_into_array_adds_only_truth_units():
    rng = np.random.default_rng(0)
    fs = 10000.0
    background = rng.normal(0, 10.0, (2, int(20 * fs)))
    real = emgkit.Recording.from_array(background, fs, channels=["a", "b"], muscles=["deltoid", "fdi"],
                                       electrodes=[emgkit.Electrode("needle_concentric")] * 2)
    out, truth = inject(real, scenario="benign", seed=1, muscles=["fdi"], snr_db=20, start=5.0, stop=15.0,
                        n_units=(3, 3))
    diff = out.get_data() - background
    assert np.all(diff[0] == 0)  # deltoid untouched
    assert set(truth.discharges["muscle"]) == {"fdi"}
    assert truth.discharges["time"].between(5.0, 15.0).all()
    idx = np.round(truth.discharges["time"].to_numpy() * fs).astype(int)
    assert np.all(np.abs(diff[1, idx]) > 0)
    snr = 20 * np.log10(truth.units["amplitude"] / 10.0)
    assert snr.between(20 - 0.5, 26 + 0.5).all()  # background RMS estimated robustly (MAD)
    assert out.muscles == ["deltoid", "fdi"] and out.meta["injected_scenario"] == "benign"
    again, truth2 = inject(real, scenario="benign", seed=1, muscles=["fdi"], snr_db=20, start=5.0, stop=15.0,
                           n_units=(3, 3))
    assert np.array_equal(again.get_data(), out.get_data())


def test_inject_into_real_emgdb_record(shared_data):
    from conftest import shared_file

    path = shared_file(shared_data, "physionet-emgdb/emg_healthy.hea")
    try:
        real = emgkit.read(path)
    except (EmgkitError, ImportError) as exc:
        pytest.skip(f"WFDB reader not usable here: {exc}")
    out, truth = inject(real, scenario="isaacs", seed=2, snr_db=20, start=1.0, stop=10.0)
    assert len(truth.events) > 0
    assert truth.discharges["time"].between(1.0, 10.0).all()
    assert out.n_samples == real.n_samples and out.fs == real.fs


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("kwargs, needle", [
    (dict(scenario="nonsense"), "scenario"),
    (dict(electrode="eeg"), "electrode"),
    (dict(duration=0.1), "duration"),
    (dict(not_a_param=1), "not_a_param"),
    (dict(doublet_probability=2.0), "doublet_probability"),
    (dict(mains_hz=55), "mains_hz"),
    (dict(seed=-1), "seed"),
])
def test_bad_parameters_raise_parameter_error(kwargs, needle):
    with pytest.raises(ParameterError, match=needle):
        simulate(**{"duration": 2.0, **kwargs})


def test_load_truth_errors(tmp_path):
    with pytest.raises(EmgkitError, match="not found"):
        load_truth(tmp_path / "missing.truth.json")
    bad = tmp_path / "bad.truth.json"
    bad.write_text("{not json")
    with pytest.raises(EmgkitError, match="unreadable"):
        load_truth(bad)
    with pytest.raises(ParameterError, match="format"):
        rec, truth = simulate("quiet", duration=1.0)
        save(rec, truth, tmp_path / "x.mat")


# ----------------------------------------------------------------------------- sample_data and CLI
SAMPLE_DIR = __import__("pathlib").Path(__file__).resolve().parents[1] / "sample_data"


def _load_maker():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_sample_data", SAMPLE_DIR / "make_sample_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _same_numbers(a, b, path: str):
    """JSON values or arrays equal, floats to rounding (the last bits of a float differ between
    CPUs' SIMD paths in numpy's maths; the simulator draws the same numbers)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for k in a:
            _same_numbers(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same_numbers(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), (path, a, b)
    else:
        assert a == b, (path, a, b)


def _same_hdf5(a_path, b_path):
    import h5py

    with h5py.File(a_path, "r") as a, h5py.File(b_path, "r") as b:
        names = []
        a.visit(names.append)
        other = []
        b.visit(other.append)
        assert sorted(names) == sorted(other), a_path.name
        for name in names:
            x, y = a[name], b[name]
            assert dict(x.attrs).keys() == dict(y.attrs).keys(), name
            for k in x.attrs:
                assert np.array_equal(np.asarray(x.attrs[k]), np.asarray(y.attrs[k])), (name, k)
            if isinstance(x, h5py.Dataset):
                u, v = x[()], y[()]
                assert u.dtype == v.dtype and u.shape == v.shape, name
                if u.dtype.kind == "f":
                    tol = 1e-5 if u.dtype.itemsize == 4 else 1e-9
                    assert np.allclose(u, v, rtol=tol, atol=tol * np.nanmax(np.abs(v), initial=0), equal_nan=True), name
                else:
                    assert np.array_equal(u, v), name


def test_sample_data_regenerates(tmp_path):
    """The bundled sample data is what make_sample_data.py writes: integer-coded recordings
    (EDF, WFDB) byte for byte, float ones and truth files to rounding."""
    maker = _load_maker()
    written = maker.make(tmp_path)
    assert len(written) == 6
    for path in written:
        committed = SAMPLE_DIR / path.name
        assert committed.exists(), f"{path.name} is not committed in sample_data/"
        if path.suffix == ".json":
            _same_numbers(json.loads(path.read_text()), json.loads(committed.read_text()), path.name)
        elif path.suffix == ".h5":
            _same_hdf5(path, committed)
        else:
            assert hashlib.sha256(path.read_bytes()).hexdigest() == \
                hashlib.sha256(committed.read_bytes()).hexdigest(), path.name
    assert sum(p.stat().st_size for p in written) < 6e6  # a few MB in all


@pytest.mark.parametrize("name, electrode, kinds", [
    ("isaacs_needle.hea", "needle_concentric", {"fasciculation", "doublet", "multiplet", "myokymic", "neuromyotonic"}),
    ("als_benign_bipolar.edf", "surface_bipolar", {"fasciculation", "doublet"}),
    ("als_grid.h5", "hd_grid", {"fasciculation"}),
])
def test_sample_data_reads_with_truth_aligned(name, electrode, kinds):
    rec = emgkit.read(SAMPLE_DIR / name)
    truth = load_truth(SAMPLE_DIR / name)
    assert {e.kind for e in rec.electrodes} == {electrode}
    assert rec.fs == truth.fs and rec.duration == pytest.approx(truth.duration)
    assert kinds <= set(truth.events["kind"])
    d = truth.discharges
    times = d["time"].to_numpy()
    isolated = [i for i in range(len(d)) if np.sort(np.abs(times - times[i]))[1:2].min(initial=1.0) > 0.03]
    isolated = [i for i in isolated if d["state"].iloc[i] == "rest"]
    assert len(isolated) >= 5
    hits = 0
    for i in isolated:
        row = d.iloc[i]
        k = int(round(row["time"] * rec.fs))
        half = max(2, int(0.002 * rec.fs))
        x = np.abs(rec.get_data(k - half, k + half + 1, channels=[row["channel"]])[0])
        hits += abs(int(np.argmax(x)) - half) <= 1
    # Physiological amplitudes over real background levels: small units may hide in noise.
    assert hits / len(isolated) >= 0.75


def test_cli_simulate_writes_recording_and_truth(tmp_path, capsys):
    from emgkit.cli import main

    out = tmp_path / "cli.hea"
    rc = main(["simulate", "--scenario", "benign", "--electrode", "needle", "--duration", "5", "--seed", "3",
               "--fs", "10000", "--no-artifacts", "--set", "n_fasciculating_units=(2,2)", "--out", str(out)])
    assert rc == 0
    assert "wrote" in capsys.readouterr().out
    rec = emgkit.read(out)
    truth = load_truth(out)
    assert rec.n_samples == 50000 and truth.seed == 3 and truth.segments.empty
    direct_rec, direct_truth = simulate("benign", electrode="needle", duration=5, seed=3, fs=10000, artifacts=False,
                                        n_fasciculating_units=(2, 2))
    pd.testing.assert_frame_equal(truth.events, direct_truth.events, check_dtype=False)
    assert main(["simulate", "--out", str(tmp_path / "x.h5"), "--set", "bogus=1"]) == 2
