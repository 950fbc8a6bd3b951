"""Mains removal: the mains is gone, a MUAP keeps its shape and rings nowhere, chunks agree."""
import numpy as np
import pytest

from emgkit.detect import dsp
from emgkit.detect.params import DetectionParams
from emgkit.detect.preprocess import (_channel_spectra, _line_ratio, filtered, filtered_spans, plan_preprocessing,
                                      present_harmonics, recorded_windows)
from emgkit.recording import Electrode, Recording

FS = 2048.0


def _muap(fs, amp=400.0, width_ms=3.0):
    t = np.arange(-int(0.02 * fs), int(0.02 * fs) + 1) / fs * 1000
    return amp * (-(t / width_ms) * np.exp(-0.5 * (t / width_ms) ** 2))


def test_remove_mains_leaves_a_muap_without_ringing():
    rng = np.random.default_rng(0)
    n = int(4 * FS)
    t = np.arange(n) / FS
    f0 = 50.03                                    # a little off nominal, as mains is
    mains = 30 * np.sin(2 * np.pi * f0 * t + 0.4) + 8 * np.sin(2 * np.pi * 2 * f0 * t + 1.0)
    clean = rng.normal(0, 3.0, n)
    m = _muap(FS)
    at = n // 2
    clean[at - m.size // 2: at + m.size // 2 + 1] += m
    x = (clean + mains)[None].astype(np.float32)
    freqs = dsp.mains_harmonics(dsp.refine_mains([x], FS, 50.0), FS, 3)
    assert abs(freqs[0] - f0) < 0.02
    out = dsp.remove_mains(x.copy(), FS, freqs, 0, int(0.4 * FS), mask_half=int(0.005 * FS))[0]
    err = out - clean
    # Away from the MUAP and at one mains period from it (where a notch rings), what is left of
    # the mains is a small fraction of the 3 µV noise.
    assert np.std(err[int(0.5 * FS): at - int(0.1 * FS)]) < 1.0
    for period in (1, 2):
        lag = int(round(period * FS / f0))
        window = err[at + lag - 10: at + lag + 10]
        assert np.abs(window).max() < 3.0
    # The MUAP itself is not eaten by the mains fit.
    core = slice(at - m.size // 2, at + m.size // 2 + 1)
    assert np.ptp(out[core]) == pytest.approx(np.ptp(clean[core]), rel=0.03)


def test_a_notch_would_ring_where_the_fit_does_not():
    """Why the fit: a Q = 10 notch leaves a MUAP's 50 Hz content ringing one period away."""
    from scipy import signal

    n = int(2 * FS)
    x = np.zeros(n)
    m = _muap(FS, width_ms=4.0)
    at = n // 2
    x[at - m.size // 2: at + m.size // 2 + 1] += m
    b, a = signal.iirnotch(50.0, 10.0, fs=FS)
    notched = signal.filtfilt(b, a, x)
    fitted = dsp.remove_mains(x[None].astype(np.float32).copy(), FS, [50.0], 0, int(0.4 * FS),
                              mask_half=int(0.005 * FS))[0]
    lag = int(round(FS / 50))
    ring_notch = np.abs((notched - x)[at + lag - 5: at + lag + 5]).max()
    ring_fit = np.abs((fitted - x)[at + lag - 5: at + lag + 5]).max()
    assert ring_notch > 5.0 and ring_fit < 0.2 * ring_notch


def test_filtered_spans_agree_with_the_whole_and_mains_is_found():
    rng = np.random.default_rng(3)
    n = int(6 * FS)
    t = np.arange(n) / FS
    x = rng.normal(0, 4.0, (2, n)) + 40 * np.sin(2 * np.pi * 60.02 * t)[None]
    m = _muap(FS, amp=300.0)
    for at in rng.integers(m.size, n - m.size, 25):           # discharges the fits must mask
        x[:, at - m.size // 2: at + m.size // 2 + 1] += m
    rec = Recording.from_array(x.astype(np.float32), FS, channels=["a", "b"], muscles=["m", "m"],
                               electrodes=Electrode("surface_bipolar"))
    prep = plan_preprocessing(rec, DetectionParams().preprocess)
    assert prep.mains_hz == pytest.approx(60.02, abs=0.03)
    whole = filtered(rec, prep, 0, n)
    part = filtered(rec, prep, int(2 * FS), int(3 * FS))
    np.testing.assert_allclose(part, whole[:, int(2 * FS): int(3 * FS)], atol=1e-3)
    resid = whole - filtered(Recording.from_array((x - 40 * np.sin(2 * np.pi * 60.02 * t)[None]).astype(np.float32),
                                                  FS, channels=["a", "b"], muscles=["m", "m"],
                                                  electrodes=Electrode("surface_bipolar")), prep, 0, n)
    assert np.abs(resid[:, int(FS): -int(FS)]).max() < 0.25 * 4.0   # the mains is gone, nothing else


@pytest.mark.parametrize("electrode, fs, n_ch", [("surface_bipolar", FS, 2), ("needle_concentric", 48000.0, 1)])
def test_spans_filtered_together_equal_spans_filtered_one_by_one(electrode, fs, n_ch):
    """filtered_spans stacks equal-length spans into one block; each must equal its own filtered()
    (at the recording's edges, inside, with a NaN gap, of another length)."""
    rng = np.random.default_rng(5)
    n = int(8 * fs)
    t = np.arange(n) / fs
    x = rng.normal(0, 5.0, (n_ch, n)) + 30 * np.sin(2 * np.pi * 50.0 * t)[None]
    m = _muap(fs, amp=300.0)
    for at in rng.integers(m.size, n - m.size, 20):
        x[:, at - m.size // 2: at + m.size // 2 + 1] += m
    x[0, int(3.2 * fs): int(3.25 * fs)] = np.nan
    rec = Recording.from_array(x.astype(np.float32), fs, channels=[f"c{i}" for i in range(n_ch)],
                               muscles=["m"] * n_ch, electrodes=Electrode(electrode))
    prep = plan_preprocessing(rec, DetectionParams().preprocess)
    w = int(0.5 * fs)
    spans = [(0, w), (int(3 * fs), int(3 * fs) + w), (int(5 * fs), int(5 * fs) + w), (n - w, n), (int(1 * fs), int(2 * fs))]
    for (a, b), got in zip(spans, filtered_spans(rec, prep, spans)):
        one = filtered(rec, prep, a, b)
        assert got.shape == one.shape == (n_ch, b - a)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(one))
        np.testing.assert_allclose(got, one, atol=1e-3, equal_nan=True)


def test_mains_window_must_fit_the_margin():
    from emgkit.errors import ParameterError

    with pytest.raises(ParameterError, match="mains_window_s"):
        DetectionParams().replace(preprocess={"mains_window_s": 2.0})


def test_mains_kernel_matches_its_numpy_twin():
    rng = np.random.default_rng(5)
    for fs, c, start in ((2048.0, 3, 0), (2048.0, 2, 12345), (30000.0, 1, 777)):
        n = int(1.3 * fs)
        t = (np.arange(n) + start) / fs
        x = (rng.normal(0, 4, (c, n)) + 25 * np.sin(2 * np.pi * 59.97 * t + 0.3)[None]).astype(np.float32)
        x[0, n // 2: n // 2 + 40] += 300.0                       # a deflection the fit must mask
        x[-1, 10:30] = np.nan                                    # invalid samples stay invalid
        freqs = dsp.mains_harmonics(59.97, fs, 3)
        window = int(0.4 * fs)
        fast = dsp.remove_mains(x.copy(), fs, freqs, start, window, mask_half=int(0.005 * fs))
        slow = dsp.remove_mains(x.copy(), fs, freqs, start, window, mask_half=int(0.005 * fs), kernel=False)
        np.testing.assert_allclose(fast, slow, atol=2e-3)
        assert np.isnan(fast[-1, 10:30]).all() and np.isfinite(fast[-1, 30:]).all()


def test_mains_fit_kernel_matches_its_numpy_twin():
    from emgkit.detect import _mains, _naive

    rng = np.random.default_rng(11)
    for fs, c, start, stride, half_s in ((2048.0, 4, 0, 3, 4), (2048.0, 2, 12345, 3, 0), (30000.0, 1, 777, 50, 3)):
        n = int(1.1 * fs)
        t = (np.arange(n) + start) / fs
        x = (rng.normal(0, 4, (c, n)) + 25 * np.sin(2 * np.pi * 50.02 * t + 0.3)[None]).astype(np.float32)
        x[0, n // 3: n // 3 + 60] += 400.0                       # a deflection the fit must mask
        x[-1, 5:200] = np.nan                                    # invalid samples are not fitted
        x[0, n // 3 + 70: n // 3 + 75] = np.nan                  # ...also beside a masked deflection
        if c > 2:
            x[1, : int(0.8 * fs)] += 300 * np.sign(np.sin(np.arange(int(0.8 * fs)) / 3))  # too busy to fit
        omega = 2 * np.pi * dsp.mains_harmonics(50.02, fs, 3) / fs
        hop = int(0.2 * fs)
        k_first, k_last = start // hop - 1, -(-(start + n) // hop)
        args = (start, stride, hop, k_first, k_last, omega, 4.0, half_s, 0.3)
        fast_coef, fast_ok = _mains.mains_fit(x, *args)
        slow_coef, slow_ok = _naive.mains_fit(x, *args)
        np.testing.assert_array_equal(fast_ok, slow_ok)
        assert fast_ok.any() and (~fast_ok).any()
        np.testing.assert_allclose(fast_coef[fast_ok], slow_coef[slow_ok], rtol=1e-7, atol=1e-7)


def test_mains_fit_of_an_empty_or_short_span_holds_nothing():
    from emgkit.detect import _mains

    omega = 2 * np.pi * np.array([50.0]) / 2048.0
    coef, ok = _mains.mains_fit(np.zeros((2, 10), np.float32), 0, 3, 400, -1, 1, omega, 4.0, 1, 0.3)
    assert coef.shape == (3, 2, 2) and not ok.any()


def test_noise_of_a_record_mostly_in_contraction_is_its_rest_noise():
    # 85 % of the record is an interference pattern (σ ≈ 60 µV), 15 % rest (σ = 8 µV): the noise
    # (and so the thresholds) must come from the rest windows, as on the OTB grid file.
    rng = np.random.default_rng(4)
    n = int(40 * FS)
    x = rng.normal(0, 8.0, (1, n))
    rest = int(0.15 * n)
    x[:, rest:] += rng.normal(0, 60.0, (1, n - rest))
    rec = Recording.from_array(x.astype(np.float32), FS, electrodes=Electrode("surface_bipolar"))
    sigma = plan_preprocessing(rec, DetectionParams().preprocess).noise_uv[0]
    band = filtered(rec, plan_preprocessing(rec, DetectionParams().preprocess), 0, rest)[0, 1000:-1000]
    assert sigma == pytest.approx(np.std(band), rel=0.15)
    # Steady noise: every window is quiet and the estimate is the usual one.
    steady = Recording.from_array(rng.normal(0, 8.0, (1, n)).astype(np.float32), FS,
                                  electrodes=Electrode("surface_bipolar"))
    base = DetectionParams().preprocess
    plain = DetectionParams().replace(preprocess={"noise_quiet_factor": 1e6}).preprocess
    assert plan_preprocessing(steady, base).noise_uv[0] == plan_preprocessing(steady, plain).noise_uv[0]


def test_higher_mains_harmonics_are_removed_where_the_recording_has_them():
    # 50 Hz with its 5th and 7th harmonics (rectifier loads): the first three are always fitted,
    # higher ones only where their line stands out, and never above the band.
    fs, rng = 2048.0, np.random.default_rng(2)
    t = np.arange(int(20 * fs)) / fs
    x = rng.normal(0, 5.0, t.size) + 20 * np.sin(2 * np.pi * 50 * t) + 6 * np.sin(2 * np.pi * 250 * t + 1) \
        + 4 * np.sin(2 * np.pi * 350 * t + 2)
    assert present_harmonics(x[None], fs, 50.0, 4.0, 4, 10, 450.0) == [5, 7]
    assert present_harmonics(x[None], fs, 50.0, 4.0, 4, 10, 300.0) == [5]
    rec = Recording.from_array(x[None], fs, electrodes=Electrode("surface_bipolar"))
    prep = plan_preprocessing(rec)
    assert sorted(np.round(prep.mains_freqs / prep.mains_hz).astype(int).tolist()) == [1, 2, 3, 5, 7]
    y = filtered(rec, prep, int(5 * fs), int(15 * fs))[0]
    spectrum = np.abs(np.fft.rfft(y)) / y.size
    f = np.fft.rfftfreq(y.size, 1 / fs)
    for harmonic in (250, 350):
        line = spectrum[np.abs(f - harmonic) < 1].max()
        assert line < 0.5    # left unfitted these lines read 2.9 and 1.6 here
    # Without harmonics in the recording nothing beyond the first three is fitted.
    clean = Recording.from_array((rng.normal(0, 5.0, t.size) + 20 * np.sin(2 * np.pi * 50 * t))[None], fs,
                                 electrodes=Electrode("surface_bipolar"))
    assert plan_preprocessing(clean).mains_freqs.size == 3


def test_mains_is_found_under_an_offset_and_drift_that_differ_between_probe_windows():
    # A raw surface recording: electrode offset and slow drift of hundreds of µV, a 60-Hz line of a
    # few µV. The probe windows, joined as read, step from one offset to the next; their steps'
    # broad spectrum must not bury the line.
    fs, rng = 1000.0, np.random.default_rng(4)
    t = np.arange(int(60 * fs)) / fs
    drift = 1500.0 + 400 * np.sin(2 * np.pi * 0.07 * t + 1) + 150 * np.sin(2 * np.pi * 0.5 * t)
    x = rng.normal(0, 2.0, t.size) + 3.0 * np.sin(2 * np.pi * 60 * t) + drift
    rec = Recording.from_array(x[None].astype(np.float32), fs, electrodes=Electrode("surface_bipolar"))
    assert plan_preprocessing(rec).mains_hz == pytest.approx(60.0, abs=0.5)
    # The same drift with no line: no mains is found.
    quiet = Recording.from_array((rng.normal(0, 2.0, t.size) + drift)[None].astype(np.float32), fs,
                                 electrodes=Electrode("surface_bipolar"))
    assert plan_preprocessing(quiet).mains_hz is None


def test_mains_on_one_muscle_of_four_is_found_and_probed_over_the_whole_recording():
    # Four bipolar muscles; only the second picks up a 60-Hz line (5 µV in 4 µV noise). The other
    # three are busy (broadband activity of 40 µV RMS), so in the mean spectrum over the muscles
    # the line stands under the detection ratio: each muscle's spectrum is judged.
    fs, rng = 2048.0, np.random.default_rng(8)
    n = int(30 * fs)
    t = np.arange(n) / fs
    x = rng.normal(0, 4.0, (4, n))
    x[[0, 2, 3]] += rng.normal(0, 40.0, (3, n))
    x[1] += 5.0 * np.sin(2 * np.pi * 60 * t)
    rec = Recording.from_array(x.astype(np.float32), fs, channels=["a", "b", "c", "d"],
                               muscles=["a", "b", "c", "d"], electrodes=Electrode("surface_bipolar"))
    spectra = _channel_spectra(x[:, :int(4 * fs)], fs)
    assert _line_ratio(spectra[0], spectra[1].mean(axis=0), 60.0) < DetectionParams().preprocess.mains_detect_ratio
    assert plan_preprocessing(rec).mains_hz == pytest.approx(60.0, abs=0.5)
    # A line under a loud burst of activity in the recording's first 6 s (where all the probe
    # windows used to lie) is found: the probe windows spread over the whole recording.
    y = rng.normal(0, 4.0, (1, n)) + 12.0 * np.sin(2 * np.pi * 50 * t)
    y[0, : int(6 * fs)] += rng.normal(0, 150.0, int(6 * fs))
    late = Recording.from_array(y.astype(np.float32), fs, electrodes=Electrode("surface_bipolar"))
    assert plan_preprocessing(late).mains_hz == pytest.approx(50.0, abs=0.5)
    # Busy muscles with no line anywhere: no mains.
    none = Recording.from_array(x[[0, 2, 3]].astype(np.float32), fs, channels=["a", "c", "d"],
                                muscles=["a", "c", "d"], electrodes=Electrode("surface_bipolar"))
    assert plan_preprocessing(none).mains_hz is None


def test_mains_is_judged_on_the_quietest_windows_of_a_busy_recording():
    # A 5-µV line in 4-µV noise, with broadband activity of 100 µV RMS (a contraction's interference)
    # in 60 % of the recording's half-seconds: in the mean spectrum over the recording the line stands
    # ~2× above its neighbourhood; in the quiet windows it stands far above it.
    fs, rng = 2048.0, np.random.default_rng(9)
    n = int(30 * fs)
    t = np.arange(n) / fs
    x = rng.normal(0, 4.0, n) + 5.0 * np.sin(2 * np.pi * 50 * t)
    half = int(0.5 * fs)
    for k in rng.choice(n // half, int(0.6 * (n // half)), replace=False):
        x[k * half:(k + 1) * half] += rng.normal(0, 100.0, half)
    spectra = _channel_spectra(x[None], fs)
    assert _line_ratio(spectra[0], spectra[1][0], 50.0) < DetectionParams().preprocess.mains_detect_ratio
    rec = Recording.from_array(x[None].astype(np.float32), fs, electrodes=Electrode("surface_bipolar"))
    assert plan_preprocessing(rec).mains_hz == pytest.approx(50.0, abs=0.5)


def test_recorded_windows_keep_the_muap_as_recorded_less_mains_and_drift():
    # A broad two-phase surface MUAP under a 30-µV mains line and electrode drift: each window
    # read for the recorded shape is the MUAP (as recorded, not band-passed) and the noise.
    rng = np.random.default_rng(5)
    n = int(20 * FS)
    t = np.arange(n) / FS
    tt = (np.arange(int(0.04 * FS)) - int(0.01 * FS)) / FS * 1000         # ms, sharp phase at 0
    shape = -35 * np.exp(-0.5 * (tt / 1.0) ** 2) + 60 * np.exp(-0.5 * ((tt - 9) / 3.5) ** 2)
    clean = rng.normal(0, 1.0, n)
    at = np.arange(int(1 * FS), n - int(1 * FS), int(0.61 * FS))
    for a in at:
        clean[a - int(0.01 * FS): a - int(0.01 * FS) + shape.size] += shape
    x = clean + 30 * np.sin(2 * np.pi * 50.0 * t + 0.3) + 800 + 200 * np.sin(2 * np.pi * 0.3 * t)
    rec = Recording.from_array(x[None].astype(np.float32), FS, electrodes=Electrode("surface_bipolar"))
    prep = plan_preprocessing(rec)
    assert prep.mains_hz == pytest.approx(50.0, abs=0.1)
    length = shape.size
    starts = at - int(0.01 * FS)
    got = recorded_windows(rec, prep, starts, length, 0, highpass_hz=5.0)
    want = np.stack([clean[a:a + length] for a in starts])
    err = (got - got[:, :5].mean(axis=1, keepdims=True)) - (want - want[:, :5].mean(axis=1, keepdims=True))
    assert np.abs(err).max() < 6.0 and np.std(err) < 2.0        # the raw window's mains alone is 30 µV
    # The broad phase, a 5-Hz high-pass keeps: still the larger one in every window.
    i_sharp, i_broad = int(0.01 * FS), int(0.01 * FS) + int(round(9e-3 * FS))
    assert np.all(got[:, i_broad] - got[:, 0] > -(got[:, i_sharp] - got[:, 0]))
    # Out of the recording, or with invalid samples: a row of NaN, the others unchanged.
    holed = x.copy()
    holed[starts[2] + 3] = np.nan
    rec2 = Recording.from_array(holed[None].astype(np.float32), FS, electrodes=Electrode("surface_bipolar"))
    rows = recorded_windows(rec2, prep, np.r_[-5, starts[:3], n - 2], length, 0, highpass_hz=5.0)
    assert np.isnan(rows[[0, 3, 4]]).all() and np.isfinite(rows[1:3]).all()
    np.testing.assert_allclose(rows[1:3], got[:2], atol=1e-3)
