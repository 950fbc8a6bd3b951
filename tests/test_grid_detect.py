"""HD-grid detection on spatial energy (spikes.GridStatistic): kernel vs twin, neighbourhoods,
the threshold's false-alarm rate on correlated noise, and weak spread MUAPs vs lone spikes."""
import dataclasses

import numpy as np
import pytest
from scipy import stats

from emgkit.detect import _naive
from emgkit.detect.params import DetectionParams
from emgkit.detect.preprocess import filtered, plan_preprocessing
from emgkit.detect.spikes import GridStatistic, detect_candidates, grid_neighbours, grid_statistic
from emgkit.recording import Electrode, Recording

FS = 2048.0
ROWS = COLS = 8


def grid_electrodes(rows=ROWS, cols=COLS):
    return [Electrode("hd_grid", "GR08MM0808", r, c, c * 8.0, r * 8.0, 8.0) for r in range(rows) for c in range(cols)]


def grid_noise(seconds, seed, sigma_uv=5.0, common=0.3, smooth=0.0):
    """White noise per electrode plus a component shared by all (share ``common`` of the variance)
    and, with ``smooth``, one that decays over neighbouring electrodes (its share of the variance)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    own = rng.standard_normal((ROWS * COLS, n))
    x = np.sqrt(1 - common - smooth) * own + np.sqrt(common) * rng.standard_normal(n)[None, :]
    if smooth:
        field = rng.standard_normal((ROWS + 2, COLS + 2, n))
        blur = sum(field[1 + dr: 1 + dr + ROWS, 1 + dc: 1 + dc + COLS] for dr in (-1, 0, 1) for dc in (-1, 0, 1)) / 3.0
        x += np.sqrt(smooth) * blur.reshape(ROWS * COLS, n)
    return sigma_uv * x


def recording(data, electrodes=None):
    return Recording.from_array(data, FS, muscles="biceps", electrodes=electrodes or grid_electrodes())


# ----------------------------------------------------------------------------- kernel vs twin
@pytest.mark.parametrize("n", [0, 1, 255, 256, 257, 3000])
@pytest.mark.parametrize("n_common", [0, 1, 2])
def test_kernel_matches_twin_exactly(n, n_common):
    from emgkit.detect._spatial import neighbourhood_energy

    rng = np.random.default_rng(n + 10 * n_common)
    c = ROWS * COLS
    x = (rng.standard_normal((c, n)) * 20).astype(np.float32)
    if n > 3:
        x[3, 1::7] = np.nan          # invalid samples
        x[5, :] = np.nan             # a channel invalid throughout
    q, _ = np.linalg.qr(rng.standard_normal((c, max(n_common, 1))))
    common = np.ascontiguousarray(q[:, :n_common].T, dtype=np.float32)
    neighbours = grid_neighbours(grid_electrodes(), 1)
    neighbours[7] = -1               # an unusable electrode
    args = (rng.uniform(0.05, 0.2, c).astype(np.float32), common, rng.uniform(1, 2, c).astype(np.float32),
            neighbours, rng.uniform(10, 40, c).astype(np.float32), rng.uniform(0.01, 0.05, c).astype(np.float32))
    got = neighbourhood_energy(x, *args)
    want = _naive.neighbourhood_energy(x, *args)
    assert got.dtype == np.float32 and got.shape == (n,)
    np.testing.assert_array_equal(got, want)
    assert np.all(np.isfinite(got))


def test_grid_neighbours_of_corner_edge_and_centre():
    nb = grid_neighbours(grid_electrodes(3, 3), 1)
    counts = (nb >= 0).sum(axis=1)
    assert counts.tolist() == [4, 6, 4, 6, 9, 6, 4, 6, 4]
    assert np.all(nb[:, 0] == np.arange(9))                          # itself first
    assert sorted(nb[0][nb[0] >= 0].tolist()) == [0, 1, 3, 4]
    assert (grid_neighbours(grid_electrodes(3, 3), 2) >= 0).sum(axis=1).tolist() == [9] * 9


def test_grid_neighbours_need_a_known_layout():
    els = grid_electrodes(3, 3)
    assert grid_neighbours(els[:4] + [Electrode("hd_grid")] + els[5:], 1) is None
    assert grid_neighbours(els[:4] + [els[0]] + els[5:], 1) is None   # two electrodes in one place


def test_grid_without_layout_is_detected_per_channel():
    rec = recording(grid_noise(4, 0), electrodes=[Electrode("hd_grid")] * (ROWS * COLS))
    prep = plan_preprocessing(rec)
    g = prep.groups[0]
    assert grid_statistic(rec, prep, g.channels, prep.noise_uv[g.channels], DetectionParams().spikes) is None


# ----------------------------------------------------------------------------- threshold calibration
def _one_electrode(stat: GridStatistic, c: int) -> GridStatistic:
    nb = np.full_like(stat.neighbours, -1)
    nb[c] = stat.neighbours[c]
    return dataclasses.replace(stat, neighbours=nb)


@pytest.mark.parametrize("common, smooth", [(0.3, 0.0), (0.3, 0.4)])
def test_energy_threshold_has_its_false_alarm_rate_on_correlated_noise(common, smooth):
    # At 3 σ the per-sample rate (2.7e-3) is measurable in 40 s; each neighbourhood's statistic must
    # cross its threshold at that rate (Satterthwaite approximation: within a factor of 1.6).
    rec = recording(grid_noise(40, 1, common=common, smooth=smooth))
    prep = plan_preprocessing(rec)
    g = prep.groups[0]
    params = dataclasses.replace(DetectionParams().spikes, threshold_sd=3.0, spatial_max_share=1e6,
                                 spatial_weak_muaps=True)
    stat = grid_statistic(rec, prep, g.channels, prep.noise_uv[g.channels], params)
    assert stat is not None and len(stat.common) >= 1   # the shared component is projected out
    x = filtered(rec, prep, int(FS), rec.n_samples - int(FS))
    p = 2 * stats.norm.sf(3.0)
    for c in (0, 3, 27, 63):                            # corner, edge, centre, corner
        rate = np.mean(_one_electrode(stat, c)(x) > 1)
        assert p / 1.6 < rate < 1.6 * p, (c, rate, p)


def test_common_noise_is_not_summed_as_activity():
    # Without projecting the shared component out, 9 neighbours sharing 60 % of their variance
    # would cross a plain χ²(9) threshold far more often than one channel does.
    rec = recording(grid_noise(30, 2, common=0.6))
    prep = plan_preprocessing(rec)
    g = prep.groups[0]
    params = dataclasses.replace(DetectionParams().spikes, spatial_weak_muaps=True)
    stat = grid_statistic(rec, prep, g.channels, prep.noise_uv[g.channels], params)
    x = filtered(rec, prep, int(FS), rec.n_samples - int(FS))
    assert np.count_nonzero(stat(x) > 1) == 0
    gc = detect_candidates(rec, prep, params)[0]
    assert gc.samples.size == 0


# ----------------------------------------------------------------------------- weak spread MUAPs
def _muap(fs=FS, ms=12.0):
    """A triphasic surface-MUAP-like waveform (second derivative of a Gaussian), peak |1|."""
    t = np.arange(-int(ms / 2000 * fs), int(ms / 2000 * fs) + 1) / fs
    s = 1.5e-3
    w = (1 - (t / s) ** 2) * np.exp(-0.5 * (t / s) ** 2)
    return w / np.abs(w).max()


def test_weak_spread_muaps_are_found_and_lone_spikes_are_not():
    data = grid_noise(30, 3)
    w = _muap()
    half = w.size // 2
    # A MUAP at ~4.5 σ (after filtering) on a 3×3 block of electrodes, every 0.9 s, with a
    # delay of one sample per column (propagation); and one at ~7 σ on a lone electrode.
    muap_times = np.arange(int(1.2 * FS), data.shape[1] - int(1.2 * FS), int(0.9 * FS))
    block = [r * COLS + c for r in (3, 4, 5) for c in (2, 3, 4)]
    spike_times = muap_times[:-1] + int(0.45 * FS)
    for t in muap_times:
        for ch in block:
            d = ch % COLS - 3
            data[ch, t + d - half: t + d + half + 1] += 13.0 * w
    for t in spike_times:
        data[60, t - half: t + half + 1] += 21.0 * w
    rec = recording(data)
    prep = plan_preprocessing(rec)
    x = filtered(rec, prep, 0, rec.n_samples)
    z = np.abs(x) / prep.noise_uv[:, None]
    peak_sd = np.array([z[block, t - 6: t + 7].max(axis=1) for t in muap_times])
    assert 3.5 < np.median(peak_sd) < 5.5                      # below the 5.5 σ channel threshold
    assert 6.0 < np.median([z[60, t - 6: t + 7].max() for t in spike_times]) < 9.0   # a lone one above

    params = DetectionParams().spikes
    weak = dataclasses.replace(params, spatial_weak_muaps=True)
    gc = detect_candidates(rec, prep, weak)[0]
    found = np.array([np.min(np.abs(gc.samples - t)) for t in muap_times])
    assert np.mean(found <= int(0.003 * FS)) >= 0.9, found
    # A lone 7 σ electrode reaches the threshold only where its neighbours' noise adds ~20 more
    # (χ²(5) > 20 on ~25 samples around it: a few per cent of them), where the channel envelope
    # finds them all.
    lone = np.array([np.min(np.abs(gc.samples - t)) for t in spike_times]) <= int(0.005 * FS)
    assert lone.sum() <= 0.1 * lone.size, lone.sum()
    # Little else: noise crosses the energy threshold about as often as one channel crosses 5.5 σ
    # (64 neighbourhoods × 3.8e-8 per sample: < 0.2 in 30 s, more next to a MUAP's tail).
    others = gc.samples[[np.min(np.abs(spike_times - s)) > int(0.005 * FS) for s in gc.samples]]
    assert sum(np.min(np.abs(muap_times - s)) > int(0.01 * FS) for s in others) <= 1
    # By default only threshold crossings with neighbours' support are candidates: the MUAPs whose
    # largest electrode happens to reach 5.5 σ, never the lone spikes.
    default = detect_candidates(rec, prep, params)[0].samples
    assert 0 < default.size < 0.8 * np.sum(found <= int(0.003 * FS))
    assert all(np.min(np.abs(muap_times - s)) <= int(0.005 * FS) for s in default)


def test_spread_crossings_are_kept_and_lone_crossings_dropped():
    # MUAPs crossing 5.5 σ on their largest electrode, seen by its neighbours at about half that,
    # stay candidates; the same waveform on one electrode alone does not.
    data = grid_noise(20, 6)
    w = _muap()
    half = w.size // 2
    muap_times = np.arange(int(1.0 * FS), data.shape[1] - int(1.0 * FS), int(0.8 * FS))
    lone_times = muap_times[:-1] + int(0.4 * FS)
    for t in muap_times:
        data[27, t - half: t + half + 1] += 24.0 * w
        for ch in (19, 26, 28, 35):
            data[ch, t - half + 2: t + half + 3] += 12.0 * w
    for t in lone_times:
        data[45, t - half: t + half + 1] += 24.0 * w
    rec = recording(data)
    prep = plan_preprocessing(rec)
    gc = detect_candidates(rec, prep)[0]
    near = lambda times: np.array([np.min(np.abs(gc.samples - t)) if gc.samples.size else 99 for t in times])  # noqa: E731
    assert np.mean(near(muap_times) <= int(0.003 * FS)) >= 0.95
    assert np.mean(near(lone_times) <= int(0.005 * FS)) <= 0.1
    # The channel envelope alone (no layout) finds both.
    flat = recording(data, electrodes=[Electrode("hd_grid")] * (ROWS * COLS))
    gc0 = detect_candidates(flat, plan_preprocessing(flat))[0]
    assert np.mean([np.min(np.abs(gc0.samples - t)) <= int(0.005 * FS) for t in lone_times]) >= 0.9


def test_grid_candidates_do_not_depend_on_chunking():
    data = grid_noise(24, 4)
    w = _muap()
    for t in np.arange(int(1.0 * FS), data.shape[1] - int(1.0 * FS), int(0.37 * FS)):
        data[20:30, t - w.size // 2: t + w.size // 2 + 1] += 40.0 * w
    rec = recording(data)
    prep = plan_preprocessing(rec)
    for weak in (False, True):
        params = dataclasses.replace(DetectionParams().spikes, spatial_weak_muaps=weak)
        whole = detect_candidates(rec, prep, params)[0]
        small = detect_candidates(rec, dataclasses.replace(prep, chunk=int(2 * FS)), params)[0]
        assert whole.samples.size > 40
        np.testing.assert_array_equal(whole.samples, small.samples)
        np.testing.assert_array_equal(whole.main_channel, small.main_channel)


def test_weighted_chi2_quantile():
    from emgkit.detect.spikes import weighted_chi2_isf

    for m in (1, 4, 9):
        for p in (1e-2, 3.8e-8):
            assert weighted_chi2_isf(np.ones(m), p) == pytest.approx(stats.chi2.isf(p, m), rel=0.01)
    # Unequal weights (correlated neighbours) against simulation: 2·10⁶ draws give the 1 % quantile to ±0.5 %.
    lam = np.array([3.0, 1.0, 0.5, 0.2])
    rng = np.random.default_rng(5)
    q = (lam[:, None] * rng.chisquare(1, (lam.size, 2_000_000))).sum(axis=0)
    assert weighted_chi2_isf(lam, 1e-2) == pytest.approx(np.quantile(q, 0.99), rel=0.02)


def test_largest_apart_keeps_the_largest_first_and_none_within_reach():
    from emgkit.detect import _largest_apart

    samples = np.array([0, 5, 8, 20, 26, 26])
    size = np.array([1.0, 3.0, 2.0, 1.0, 0.5, 0.7])
    # 5 first; 8 and 0 lie within 5 of it; 20 next; 26 (two candidates on one sample) is 6 away.
    assert _largest_apart(np.arange(6), samples, size, 5) == [1, 3, 5]
    assert _largest_apart(np.array([0, 2, 4]), samples, size, 5) == [0, 2, 4]
    assert _largest_apart(np.array([], dtype=np.int64), samples, size, 5) == []


def test_a_lone_discharge_is_timed_on_its_electrode_of_largest_peak_to_peak():
    from emgkit.detect import _lone_timing

    # Caught at sample 10 on electrode 0 (its largest |value| in noise SD); electrode 2 holds the
    # largest peak-to-peak in µV, peaking 4 samples later.
    snip = np.zeros((3, 21), np.float16)
    snip[0, 10] = 30.0
    snip[1, 8], snip[1, 12] = 20.0, -15.0
    snip[2, 14], snip[2, 17] = -40.0, 25.0
    assert _lone_timing(snip, 10) == (2, 4)
    assert _lone_timing(snip[:1], 10) == (0, 0)
