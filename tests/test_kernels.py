"""The detector's numba kernels (through ``emgkit.detect.dsp``) against hand-made exact cases and their NumPy twins."""
import subprocess
import sys

import numpy as np
import pytest
from scipy import signal

from emgkit.errors import EmgkitError, ParameterError
from emgkit.detect import _naive, dsp

RNG_SEED = 1234


def spiky_noise(n_ch, n, seed=RNG_SEED, spike_every=400, dtype=np.float32):
    """Gaussian noise (σ = 1) plus sparse biphasic spikes of ±5..20 σ."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_ch, n))
    for c in range(n_ch):
        for s in rng.integers(5, max(n - 5, 6), size=max(1, n // spike_every)):
            amp = rng.uniform(5, 20) * rng.choice([-1, 1])
            x[c, s - 2:s + 3] += amp * np.array([0.3, 1.0, -0.6, -0.2, 0.1])[: x[c, s - 2:s + 3].size]
    return x.astype(dtype)


def assert_filtered_close(y, ref):
    # float32 samples, float64 state: agreement to ~100 float32 ulps of the channel's peak.
    scale = np.maximum(np.abs(ref).max(axis=-1, keepdims=True), 1e-30)
    np.testing.assert_array_less(np.abs(y - ref) / scale, 1e-5)


def assert_peaks_equal(got, want):
    for g, w, name in zip(got, want, ("channels", "samples", "values")):
        np.testing.assert_array_equal(g, w, err_msg=name)


# ----------------------------------------------------------------------------- import cost
def test_importing_dsp_does_not_load_numba():
    code = "import sys, emgkit, emgkit.detect.dsp; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------- design_sos
def test_design_sos_band_and_notches_have_the_intended_response():
    fs = 2048.0
    sos = dsp.design_sos(fs, band=(20, 450), notch_hz=50, order=2, n_harmonics=3, notch_q=30)
    assert sos.dtype == np.float64 and sos.shape == (2 + 3, 6)
    np.testing.assert_allclose(sos[:, 3], 1.0)
    f, h = signal.sosfreqz(sos, worN=[10.0, 50.0, 100.0, 150.0, 200.0, 1000.0], fs=fs)
    gain = np.abs(h)
    assert gain[1] < 1e-6 and gain[2] < 1e-6 and gain[3] < 1e-6  # notched harmonics
    assert 0.95 < gain[4] <= 1.0 + 1e-9  # pass band between harmonics
    assert gain[0] < 0.3 and gain[5] < 0.3  # outside the band


def test_design_sos_skips_harmonics_above_nyquist_and_accepts_one_sided_bands():
    sos = dsp.design_sos(250.0, band=None, notch_hz=50, n_harmonics=5)
    assert sos.shape == (2, 6)  # 50 and 100 Hz; 150 Hz >= fs/2
    assert dsp.design_sos(1000.0, band=(None, 100)).shape == (1, 6)
    assert dsp.design_sos(1000.0, band=(10, None)).shape == (1, 6)
    assert dsp.design_sos(1000.0).shape == (0, 6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(fs=4000, band=(20, 2500)), "band high edge (Hz) must be below fs/2 = 2000.0, got 2500.0"),
    (dict(fs=4000, band=(2100, 2500)), "band low edge (Hz) must be below fs/2"),
    (dict(fs=4000, band=(450, 20)), "must be below the high edge"),
    (dict(fs=4000, band=(-5, 100)), "band low edge (Hz) must be a positive number"),
    (dict(fs=0, band=(20, 450)), "fs (Hz) must be a positive number"),
    (dict(fs=4000, band=20), "band must be (low_hz, high_hz)"),
    (dict(fs=100, notch_hz=60), "notch_hz (Hz) must be below fs/2 = 50.0, got 60.0"),
    (dict(fs=1000, notch_hz=50, notch_q=0), "notch_q must be a positive number"),
])
def test_design_sos_rejects_bad_parameters_naming_them(kwargs, message):
    with pytest.raises(ParameterError) as err:
        dsp.design_sos(**kwargs)
    assert message in str(err.value)


# ----------------------------------------------------------------------------- filter_zero_phase
@pytest.mark.parametrize("n_ch", [1, 4, 6, 8, 21])
@pytest.mark.parametrize("n_harmonics", [1, 3, 6])
def test_filter_matches_sosfiltfilt(n_ch, n_harmonics):
    # 3..8 sections: every group shape of the generated kernels (odd and even counts for the
    # 8-lane pairs); 6 channels = one 4-lane group + 2 single; 21 = 2 8-lane groups + 4 + 1.
    x = spiky_noise(n_ch, 3000) + 50.0  # an offset exercises the steady-state initial conditions
    sos = dsp.design_sos(2048.0, band=(20, 450), notch_hz=50, n_harmonics=n_harmonics)
    for pad in (None, 0, 7, 2999, 10_000):
        assert_filtered_close(dsp.filter_zero_phase(x, sos, pad=pad), _naive.filter_zero_phase(x, sos, pad=pad))


def test_filter_single_section_and_no_section():
    x = spiky_noise(2, 500)
    sos = dsp.design_sos(1000.0, band=(None, 100))
    assert_filtered_close(dsp.filter_zero_phase(x, sos), _naive.filter_zero_phase(x, sos))
    np.testing.assert_array_equal(dsp.filter_zero_phase(x, np.zeros((0, 6))), x)


def test_filter_edge_sizes():
    sos = dsp.design_sos(1000.0, band=(10, 200), notch_hz=50)
    assert dsp.filter_zero_phase(np.zeros((3, 0), np.float32), sos).shape == (3, 0)
    one = dsp.filter_zero_phase(np.array([[2.5]], np.float32), sos)
    # a band-pass of one constant sample is ~0; both agree to float32 precision of the input
    np.testing.assert_allclose(one, _naive.filter_zero_phase(np.array([[2.5]]), sos), atol=2.5e-6)
    for n in (2, 3, 31):
        x = spiky_noise(2, n, seed=n)
        assert_filtered_close(dsp.filter_zero_phase(x, sos), _naive.filter_zero_phase(x, sos))


def test_filter_input_conversions_and_in_place():
    sos = dsp.design_sos(2048.0, band=(20, 450), notch_hz=50)
    x = spiky_noise(5, 2000)
    ref = _naive.filter_zero_phase(x, sos)
    # float64, non-contiguous (every other channel of a wider block), read-only, 1-D
    assert_filtered_close(dsp.filter_zero_phase(x.astype(np.float64), sos), ref)
    wide = np.repeat(x, 2, axis=0)[::2]
    assert not wide.flags.c_contiguous
    assert_filtered_close(dsp.filter_zero_phase(wide, sos), ref)
    ro = x.copy()
    ro.setflags(write=False)
    assert_filtered_close(dsp.filter_zero_phase(ro, sos), ref)
    one = dsp.filter_zero_phase(x[2], sos)
    assert one.shape == (2000,) and one.dtype == np.float32
    assert_filtered_close(one, ref[2])
    # in place: out is x
    y = x.copy()
    result = dsp.filter_zero_phase(y, sos, out=y)
    assert result is y
    assert_filtered_close(y, ref)
    with pytest.raises(ParameterError, match="out must be"):
        dsp.filter_zero_phase(x, sos, out=np.empty((5, 2000), np.float64))


def test_filter_rejects_bad_input():
    sos = dsp.design_sos(1000.0, band=(10, 200))
    with pytest.raises(ParameterError, match="1-D .* or 2-D"):
        dsp.filter_zero_phase(np.zeros((2, 2, 2)), sos)
    with pytest.raises(ParameterError, match="sos must be"):
        dsp.filter_zero_phase(np.zeros((2, 20)), np.zeros((2, 5)))
    with pytest.raises(ParameterError, match="real numeric"):
        dsp.filter_zero_phase(np.zeros((2, 20), complex), sos)
    with pytest.raises(EmgkitError, match="pad must be >= 0"):
        dsp.filter_zero_phase(np.zeros((2, 20)), sos, pad=-1)


# ----------------------------------------------------------------------------- noise_sigma
def test_noise_sigma_exact_small_cases():
    x = np.array([[1.0, 2.0, 3.0, 4.0, 100.0],      # median 3, |dev| 2 1 0 1 97 -> MAD 1
                  [5.0, 5.0, 5.0, 5.0, 5.0],        # constant -> 0
                  [np.nan, 1.0, np.nan, 3.0, 2.0],  # NaN ignored: MAD of 1 2 3 = 1
                  [np.nan] * 5])                    # no valid sample -> NaN
    sigma = dsp.noise_sigma(x)
    np.testing.assert_allclose(sigma[:3], [1 / 0.6744897501960817, 0.0, 1 / 0.6744897501960817], rtol=1e-12)
    assert np.isnan(sigma[3])
    np.testing.assert_allclose(dsp.noise_sigma(x[:3]), _naive.noise_sigma(x[:3]), rtol=1e-12)
    assert dsp.noise_sigma(np.zeros((2, 0))).shape == (2,)


def test_noise_sigma_histogram_path_within_1e_3_of_exact():
    # Long channels take the one-pass histogram path; the twin is the exact np.median MAD.
    n = 300_000
    rng = np.random.default_rng(7)
    base = spiky_noise(3, n, spike_every=50)
    x = np.vstack([
        base * 12.0 + 3000.0,                                    # large DC offset
        rng.standard_t(3, size=(1, n)).astype(np.float32),       # heavy tails
        np.where(rng.random((1, n)) < 0.01, np.nan, base[1:2]),  # 1 % NaN
        base[2:3],
    ]).astype(np.float32)
    got, want = dsp.noise_sigma(x), _naive.noise_sigma(x)
    np.testing.assert_array_less(np.abs(got / want - 1), 1e-3)
    sub, sub_want = dsp.noise_sigma(x, subsample=3), _naive.noise_sigma(x, subsample=3)
    np.testing.assert_array_less(np.abs(sub / sub_want - 1), 1e-3)
    for n_short in (5000, 20_000, 61_440):  # chunk-sized channels take the histogram path too
        short = x[:, :n_short]
        np.testing.assert_array_less(np.abs(dsp.noise_sigma(short) / _naive.noise_sigma(short) - 1), 1e-3)


def test_noise_sigma_degenerate_long_channels_fall_back_to_exact():
    n = 200_000
    rng = np.random.default_rng(3)
    mostly_zero = np.where(rng.random(n) < 0.6, 0.0, rng.normal(size=n))  # MAD of the subsample is 0
    constant = np.full(n, -7.0)
    x = np.vstack([mostly_zero, constant]).astype(np.float32)
    np.testing.assert_allclose(dsp.noise_sigma(x), _naive.noise_sigma(x), rtol=1e-12)


# ----------------------------------------------------------------------------- find_abs_peaks
def peaks(x, thr, exclusion, **kw):
    got = dsp.find_abs_peaks(x, thr, exclusion, **kw)
    assert_peaks_equal(got, _naive.find_abs_peaks(x, thr, exclusion, **kw))
    return got


def test_masked_noise_sigma_matches_its_twin_exactly():
    rng = np.random.default_rng(3)
    x = rng.normal(0, 5, (5, 3000)).astype(np.float32)
    x[0, 100:160] += 400 * np.hanning(60).astype(np.float32)   # a burst the mask sets aside
    x[1, ::7] = np.nan                                         # NaN ignored
    x[2] = np.nan                                              # all NaN: NaN
    x[3, :2700] = 500 * np.sign(np.sin(np.arange(2700) / 2))   # mostly busy: too few quiet samples
    long = rng.normal(0, 5, (2, 30000)).astype(np.float32)       # long rows: many partition rounds
    long[0, 5000:5600] += 300 * np.hanning(600).astype(np.float32)
    np.testing.assert_allclose(dsp.masked_noise_sigma(long, 20), dsp.masked_noise_sigma(long, 20, kernel=False),
                               rtol=1e-12)
    for half_width in (0, 5, 20, 400):
        fast = dsp.masked_noise_sigma(x, half_width)
        slow = dsp.masked_noise_sigma(x, half_width, kernel=False)
        np.testing.assert_array_equal(np.isnan(fast), np.isnan(slow))
        np.testing.assert_allclose(fast, slow, rtol=1e-12, equal_nan=True)
    assert dsp.masked_noise_sigma(x, 5)[0] == pytest.approx(5.0, rel=0.1)   # the burst is left out
    assert np.isnan(dsp.masked_noise_sigma(x, 5)[2])
    assert dsp.masked_noise_sigma(np.zeros((2, 0), np.float32), 3).shape == (2,)


def test_group_statistics_match_their_twins():
    rng = np.random.default_rng(4)
    x = rng.normal(0, 3, (6, 1000)).astype(np.float32)
    x[2, 100:140] = np.nan
    x[:, 500] = np.nan                                          # every channel invalid at one sample
    scale = rng.uniform(0.1, 1, 6).astype(np.float32)
    scale[4] = 0                                                # a flat channel never fires
    for rows in (None, [0, 2, 5], [3]):
        env = dsp.group_envelope(x, scale, rows)
        np.testing.assert_array_equal(env, dsp.group_envelope(x, scale, rows, kernel=False))
        for start, stop, win in ((0, 1000, 100), (37, 991, 64), (10, 11, 5)):
            np.testing.assert_allclose(dsp.window_power(x, win, start, stop, rows),
                                       dsp.window_power(x, win, start, stop, rows, kernel=False), rtol=1e-12)
            fast = dsp.window_power(x, win, start, stop, rows, return_loudest=True)
            twin = dsp.window_power(x, win, start, stop, rows, kernel=False, return_loudest=True)
            np.testing.assert_array_equal(fast[1], twin[1])
            np.testing.assert_allclose(fast[2], twin[2], rtol=1e-12)
            np.testing.assert_array_equal(fast[3], twin[3])
            sub = np.arange(6) if rows is None else np.asarray(rows)
            np.testing.assert_allclose(dsp.window_median_power(x, win, scale[sub], start, stop, rows),
                                       dsp.window_median_power(x, win, scale[sub], start, stop, rows, kernel=False),
                                       rtol=1e-12)
    assert dsp.group_envelope(x, scale)[500] == 0
    assert dsp.window_power(x, 100, 0, 0).shape == (0,)
    loud = np.zeros((3, 300), np.float32)
    loud[2, 10:20], loud[0, 150:160] = 5.0, 4.0
    loud[1, 200:300] = 1.0                                                # steady over a whole window
    loud[2, 200:300] = 0.5                                                # and a weaker steady row
    loud[0, 250:260] = 8.0                                                # under a louder burst
    power, loudest, steady, steady_row = dsp.window_power(loud, 100, return_loudest=True)
    assert loudest.tolist() == [2, 0, 0]                                  # ties: the first
    np.testing.assert_allclose(power, [2.5 / 3, 1.6 / 3, (6.4 + 1.0 + 0.25) / 3])
    # Over rows, the most power in a row's quietest quarter: a 10-sample burst fills one quarter.
    np.testing.assert_allclose(steady, [0.0, 0.0, 1.0])
    # ...on the steady row, not the loudest (row 0's burst); 0 where no row is steady.
    assert steady_row.tolist() == [0, 0, 1]
    assert dsp.window_power(loud, 100, return_loudest=True, kernel=False)[3].tolist() == [0, 0, 1]
    assert dsp.window_median_power(x, 100, np.ones(6), 5, 5).shape == (0,)
    # A broad event (every channel) raises the median; the same power on one channel does not.
    y = np.zeros((5, 300), np.float32)
    y[:, 100:110] = 3.0
    y[2, 200:210] = 30.0
    med = dsp.window_median_power(y, 10, np.ones(5))
    assert med[10] == 9.0 and med[20] == 0.0 and med.shape == (30,)
    with pytest.raises(ParameterError, match="scale"):
        dsp.window_median_power(y, 10, np.ones(3))
    for start, stop, step in ((0, 1000, 10), (3, 997, 7), (0, 5, 8)):
        np.testing.assert_allclose(dsp.step_means(x, step, start, stop),
                                   dsp.step_means(x, step, start, stop, kernel=False), rtol=1e-12, atol=1e-12)


def test_rail_runs_match_their_twin_and_skip_flat_channels():
    x = np.zeros((4, 200), np.float32)
    x[0, 50:56] = 900.0                                         # a rail of 6 at the extreme
    x[0, 80:83] = -900.0                                        # 3 equal samples: too short for 4
    x[1, 10:30] = 5.0                                           # equal but small next to the extreme
    x[1, 40] = 100.0
    x[3, 190:] = 7.0                                            # a rail running to the end
    fast = dsp.rail_runs(x, 4)
    np.testing.assert_array_equal(fast, dsp.rail_runs(x, 4, kernel=False))
    assert fast[0, 50:56].all() and fast[0].sum() == 6 and not fast[1].any() and not fast[2].any()
    assert fast[3, 190:].all()
    assert dsp.rail_runs(np.zeros((2, 50), np.float32), 4) is None
    assert dsp.rail_runs(x, 1) is None and dsp.rail_runs(x[:, :3], 4) is None


def test_frozen_runs_at_any_level_match_their_twin():
    rng = np.random.default_rng(6)
    x = rng.normal(0, 5, (3, 400)).astype(np.float32)
    x[0, 100:160] = x[0, 100]                                   # a channel holding its value: frozen
    x[1, 50:59] = 2.0                                           # 9 equal samples: shorter than 20
    x[2, :] = np.round(x[2])                                    # quantised noise repeats briefly only
    x[2, 300:] = 0.0                                            # ...and a dropout to the end
    for run, frozen in ((4, 20), (1, 20), (4, 0)):
        fast = dsp.rail_runs(x, run, frozen)
        slow = dsp.rail_runs(x, run, frozen, kernel=False)
        if fast is None:
            assert slow is None or not slow.any()
            continue
        np.testing.assert_array_equal(fast, slow)
    mask = dsp.rail_runs(x, 4, 20)
    assert mask[0, 100:160].all() and mask[0].sum() == 60
    assert not mask[1].any() and mask[2, 300:].all() and not mask[2, :300].any()
    assert dsp.rail_runs(x, 4, 0) is None


def test_rail_runs_searched_in_time_parts_match_their_twin():
    """Quantised signals repeat values everywhere; runs crossing part edges are found whole."""
    from emgkit.detect import _kernels, _naive

    rng = np.random.default_rng(11)
    x = np.round(rng.normal(0, 3, (3, 3000))).astype(np.float32)
    x[0, 990:1010] = 40.0                                      # a rail across the edge of 3 parts
    x[0, 1500] = -60.0
    x[1, 1995:2030] = x[1, 1995]                               # frozen across an edge
    x[1, 2500:2519] = 1.0                                      # 19 equal: one short of frozen
    x[2, 2997:] = 60.0                                         # a 3-sample rail at the end: too short
    for n_parts in (1, 2, 3, 7):
        for run, frozen in ((4, 20), (4, 0), (3, 30)):
            mask, found = _kernels.rail_runs(x, run, frozen, n_parts)
            twin, twin_found = _naive.rail_runs(x, run, frozen)
            np.testing.assert_array_equal(found, twin_found)
            if found.any():
                np.testing.assert_array_equal(mask, twin)
            else:
                assert mask.shape == (0, 0)
    mask, _ = _kernels.rail_runs(x, 4, 20, 3)
    assert mask[0, 990:1010].all() and mask[1, 1995:2030].all() and not mask[1, 2500:2519].any()
    assert not mask[2].any()
    flat = np.zeros((1, 500), np.float32)                       # dead: neither railed nor frozen
    assert _kernels.rail_runs(flat, 4, 20, 2)[1].tolist() == _naive.rail_runs(flat, 4, 20)[1].tolist() == [False]


def test_bridged_gaps_leave_no_step_for_the_filter():
    fs = 2048.0
    t = np.arange(int(2 * fs)) / fs
    x = (30 * np.sin(2 * np.pi * 3 * t) + 200)[None].astype(np.float32)   # slow content and an offset
    bad = np.zeros_like(x, dtype=bool)
    bad[0, 1500:2500] = True
    held = x.copy()
    held[bad] = x[0, 1500]                                      # frozen at its last value
    sos = dsp.design_sos(fs, (20, 450))
    zeroed = held.copy()
    zeroed[bad] = 0.0
    ring_zero = np.abs(dsp.filter_zero_phase(zeroed, sos)[0, 2510:2600]).max()
    ring_bridge = np.abs(dsp.filter_zero_phase(dsp.bridge_gaps(held.copy(), bad), sos)[0, 2510:2600]).max()
    assert ring_zero > 20 and ring_bridge < 1.0              # a step rings past the gap; a line does not
    empty = np.ones((1, 10), bool)
    assert not dsp.bridge_gaps(np.ones((1, 10), np.float32), empty).any()


def test_in_place_median_equals_numpy_median():
    from emgkit.detect import _kernels

    rng = np.random.default_rng(8)
    for n in list(range(1, 40)) + [1000, 1001]:
        for values in (rng.normal(size=n), rng.integers(0, 4, n).astype(float), np.full(n, 2.5)):
            assert _kernels._median_in_place(values.copy()) == np.median(values)
    # Long arrays, ties, sorted and reversed input, a median between two modes: the branch-free
    # partition must make progress and leave a[:k] <= a[k] <= a[k+1:].
    for n in (1024, 4097, 24000, 24001):
        bimodal = np.r_[rng.normal(-5, 1, n // 2), rng.normal(5, 1, n - n // 2)]
        for values in (rng.normal(size=n), rng.exponential(size=n), rng.integers(0, 4, n).astype(float),
                       np.sort(rng.normal(size=n)), np.sort(rng.normal(size=n))[::-1].copy(), bimodal,
                       np.full(n, -1.5)):
            assert _kernels._median_in_place(values.copy()) == np.median(values)
            for k in (0, n // 3, n - 1):
                part = values.copy()
                kth = _kernels._select(part, k)
                assert kth == np.sort(values)[k] == part[k]
                assert (part[:k] <= kth).all() and (part[k + 1:] >= kth).all()


def test_peaks_exact_small_cases():
    # empty and one sample
    ch, s, v = peaks(np.zeros((2, 0), np.float32), [1.0, 1.0], 3)
    assert ch.size == s.size == v.size == 0 and ch.dtype == np.int64 and v.dtype == np.float32
    assert peaks(np.array([[5.0]]), [1.0], 3)[1].tolist() == [0]
    assert peaks(np.array([[0.5]]), [1.0], 3)[1].tolist() == []
    # peaks at the very first and last sample, negative polarity found by |x|
    x = np.array([[-9.0, 1, 0, 0, 0, 0, 0, 2, 8]])
    ch, s, v = peaks(x, [1.5], 2)
    assert s.tolist() == [0, 8] and v.tolist() == [-9.0, 8.0]
    # a plateau gives one peak, its first sample; equal peaks further apart than exclusion both count
    x = np.array([[0, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 3, 0]], np.float32)
    assert peaks(x, [1.0], 2)[1].tolist() == [1, 11]
    # exactly at the threshold is not above it
    assert peaks(np.array([[0, 2.0, 0]]), [2.0], 1)[1].tolist() == []
    # NaN is never a peak and never blocks a neighbour
    x = np.array([[0, np.nan, 4.0, np.nan, 0, 0, np.nan]])
    assert peaks(x, [1.0], 2)[1].tolist() == [2]
    # a larger sample within exclusion suppresses; beyond it does not
    x = np.array([[0, 5, 0, 6, 0, 0, 0, 0, 5, 0]])
    assert peaks(x, [1.0], 2)[1].tolist() == [3, 8]
    # NaN threshold disables its channel; order is (sample, channel)
    x = np.array([[0, 5, 0, 0], [0, 5, 0, 4], [0, 0, 0, 4]])
    ch, s, _ = peaks(x, [1.0, 1.0, np.nan], 1)
    assert list(zip(s.tolist(), ch.tolist())) == [(1, 0), (1, 1), (3, 1)]


def test_peaks_match_twin_on_random_data_including_dense_overflow():
    x = spiky_noise(5, 20_000)
    thr = dsp.noise_sigma(x) * 4
    for exclusion in (0, 1, 3, 30):
        peaks(x, thr, exclusion)
    # threshold 0: about a third of all samples are peaks, far beyond the first-pass buffer
    ch, s, _ = peaks(x, np.zeros(5), 1)
    assert s.size > 20_000


def test_peaks_start_stop_and_chunks_find_each_peak_once():
    x = spiky_noise(4, 30_000, spike_every=30)
    thr = np.full(4, 3.0)
    exclusion = 7
    whole = peaks(x, thr, exclusion)
    # windows of one array
    parts = [dsp.find_abs_peaks(x, thr, exclusion, start=a, stop=min(a + 997, 30_000)) for a in range(0, 30_000, 997)]
    assert_peaks_equal([np.concatenate(p) for p in zip(*parts)], whole)
    # separate chunks with `exclusion` samples of context on each side, as a chunked caller reads them
    chunk, margin, chunks = 4096, exclusion, []
    for a in range(0, 30_000, chunk):
        lo, hi = max(0, a - margin), min(30_000, a + chunk + margin)
        ch, s, v = dsp.find_abs_peaks(x[:, lo:hi], thr, exclusion, start=a - lo, stop=min(a + chunk, 30_000) - lo)
        chunks.append((ch, s + lo, v))
    assert_peaks_equal([np.concatenate(p) for p in zip(*chunks)], whole)
    assert peaks(x, thr, exclusion, start=100, stop=100)[0].size == 0


def test_peaks_input_conversions():
    x = spiky_noise(3, 5000)
    thr = np.full(3, 4.0)
    want = _naive.find_abs_peaks(x, thr, 5)
    assert_peaks_equal(dsp.find_abs_peaks(x.astype(np.float64), thr, 5), want)
    assert_peaks_equal(dsp.find_abs_peaks(np.repeat(x, 2, axis=0)[::2], thr, 5), want)
    ro = x.copy()
    ro.setflags(write=False)
    assert_peaks_equal(dsp.find_abs_peaks(ro, thr, 5), want)
    ch, s, v = dsp.find_abs_peaks(x[1], 4.0, 5)  # 1-D: channel 0
    assert_peaks_equal((ch, s, v), _naive.find_abs_peaks(x[1:2], [4.0], 5))
    # a float64 threshold between two float32 values keeps its float64 meaning
    y = np.array([[0, np.float32(1.1), 0]], np.float32)
    assert dsp.find_abs_peaks(y, [float(np.float32(1.1)) - 1e-12], 1)[1].tolist() == [1]
    assert dsp.find_abs_peaks(y, [float(np.float32(1.1))], 1)[1].tolist() == []


@pytest.mark.parametrize("kwargs, message", [
    (dict(thresholds=[1.0, 2.0], exclusion=2), "one value per channel"),
    (dict(thresholds=[-1.0, 1.0, 1.0], exclusion=2), "thresholds must be >= 0"),
    (dict(thresholds=[1.0] * 3, exclusion=-1), "exclusion (samples) must be >= 0"),
    (dict(thresholds=[1.0] * 3, exclusion=1.5), "exclusion (samples) must be an integer"),
    (dict(thresholds=[1.0] * 3, exclusion=1, start=50, stop=20), "must lie within 0:100"),
    (dict(thresholds=[1.0] * 3, exclusion=1, stop=101), "must lie within 0:100"),
])
def test_peaks_reject_bad_parameters(kwargs, message):
    with pytest.raises(ParameterError) as err:
        dsp.find_abs_peaks(np.zeros((3, 100)), **kwargs)
    assert message in str(err.value)


# ----------------------------------------------------------------------------- snippets
def test_snippets_match_twin_with_zero_padding_at_edges():
    x = spiky_noise(3, 100)
    channels = np.array([0, 2, 1, 1, 0])
    samples = np.array([0, 99, 50, 3, 97])
    for all_channels in (False, True):
        got = dsp.snippets(x, channels, samples, 5, 7, all_channels=all_channels)
        want = _naive.snippets(x, channels, samples, 5, 7, all_channels=all_channels)
        assert got.shape == (5, 3 if all_channels else 1, 12)
        np.testing.assert_array_equal(got, want)
    first = dsp.snippets(x, channels, samples, 5, 7)[0, 0]
    np.testing.assert_array_equal(first[:5], 0)
    np.testing.assert_array_equal(first[5:], x[0, :7])
    assert dsp.snippets(x, [], np.array([], np.int64), 2, 2).shape == (0, 1, 4)
    with pytest.raises(ParameterError, match="channels must lie"):
        dsp.snippets(x, [3], [10], 2, 2)


@pytest.mark.parametrize("n_ch,fs,band", [(1, 48000.0, (100, 8000)), (3, 2048.0, (20, 450))])
def test_split_filter_equals_whole_span_filter_to_float32_rounding(n_ch, fs, band):
    sos = dsp.design_sos(fs, band)
    x = spiky_noise(n_ch, int(4 * fs)) + 40.0          # an offset exercises the edge extensions
    for pad in (None, int(0.3 * fs)):
        whole = dsp.filter_zero_phase(x, sos, pad=pad)
        split = dsp.filter_zero_phase_split(x, sos, pad=pad, pieces=16)
        assert np.abs(split - whole).max() <= 1e-6 * np.abs(whole).max()
    short = x[:, :100]                                  # too short to split: the whole-span result
    np.testing.assert_array_equal(dsp.filter_zero_phase_split(short, sos), dsp.filter_zero_phase(short, sos))
    np.testing.assert_array_equal(dsp.filter_zero_phase_split(x[0], sos, pieces=1), dsp.filter_zero_phase(x[0], sos))
