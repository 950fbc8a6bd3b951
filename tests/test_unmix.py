"""Templates of overlapping discharges unmixed by least squares, and discharge times at the
MUAP's recorded peak; exact answers on hand-built signals."""
import numpy as np

from emgkit.detect.params import UnitParams
from emgkit.detect.units import (_finalise, _member_pairs, _solve_unmixing, _unmix_overlaps,
                                 recorded_peak_offsets)

W = 61
BEFORE = 30


def muap(width=4.0):
    t = np.arange(W) - BEFORE
    return -(t / width) * np.exp(-0.5 * (t / width) ** 2) * 10 + 4 * np.exp(-0.5 * ((t - 9) / width) ** 2)


def render(times_by_unit, shapes, n, noise=0.0, seed=0):
    x = np.random.default_rng(seed).normal(0, noise, n) if noise else np.zeros(n)
    for times, shape in zip(times_by_unit, shapes):
        for s in times:
            x[s - BEFORE:s - BEFORE + W] += shape
    return x


def windows_of(signal, reads=None):
    """``recorded_peak_offsets``' reader over one array: NaN rows outside it."""
    def read_windows(starts, length, ch):
        out = np.full((len(starts), length), np.nan)
        for row, a in enumerate(starts):
            if reads is not None:
                reads.append((int(a), int(a) + length, ch))
            if 0 <= a and a + length <= signal.size:
                out[row] = signal[a:a + length]
        return out
    return read_windows


def candidates(x, times_by_unit):
    samples = np.concatenate(times_by_unit)
    labels = np.concatenate([np.full(len(t), k) for k, t in enumerate(times_by_unit)])
    order = np.argsort(samples, kind="stable")
    samples, labels = samples[order], labels[order]
    snippets = np.stack([x[s - BEFORE:s - BEFORE + W] for s in samples])[:, None, :]
    return samples, labels, snippets


def median_bank(snippets, labels, k_units):
    tmpl = np.stack([np.median(snippets[labels == k], axis=0) for k in range(k_units)]).astype(np.float32)
    return _finalise(tmpl, np.bincount(labels, minlength=k_units), np.ones(1, np.float32))


def test_member_pairs_lists_every_close_pair_once():
    s = np.array([0, 5, 30, 31, 100])
    first, second, lag = _member_pairs(s, 10)
    got = sorted(zip(first.tolist(), second.tolist(), lag.tolist()))
    assert got == [(0, 1, 5), (2, 3, 1)]
    assert _member_pairs(np.array([0, 50]), 10)[0].size == 0
    assert _member_pairs(np.zeros(0, np.int64), 10)[0].size == 0


def test_solve_equals_least_squares_over_the_explicit_design_matrix():
    rng = np.random.default_rng(3)
    shapes = [muap(), -0.7 * muap(width=6.0)]
    times = [np.sort(rng.choice(np.arange(40, 1900), 25, replace=False)),
             np.sort(rng.choice(np.arange(40, 1900), 20, replace=False))]
    times = [np.unique(t) for t in times]
    x = render(times, shapes, 2000, noise=1.0, seed=4)
    samples, labels, snippets = candidates(x, times)
    bank = median_bank(snippets, labels, 2)
    first, second, lag = _member_pairs(samples, W)
    counts = np.bincount(labels, minlength=2)
    ridge = 0.05
    got = _solve_unmixing(np.array([0, 1]), samples, labels, np.arange(samples.size), first, second, lag,
                          counts, snippets, bank, ridge)
    # Twin: least squares on the whole signal with the design matrix written out, plus the ridge
    # toward the median templates (as extra rows).
    A = np.zeros((x.size, 2 * W))
    for k in range(2):
        for s in times[k]:
            A[np.arange(s - BEFORE, s - BEFORE + W), k * W + np.arange(W)] += 1
    lam = np.repeat(ridge * counts, W)
    A_aug = np.vstack([A, np.diag(np.sqrt(lam))])
    b_aug = np.concatenate([x, np.sqrt(lam) * bank.templates[:, 0, :].reshape(-1)])
    want = np.linalg.lstsq(A_aug, b_aug, rcond=None)[0].reshape(2, W)
    np.testing.assert_allclose(got[:, 0, :], want, atol=1e-4)


def test_train_template_is_unmixed_and_isolated_units_keep_their_median():
    rng = np.random.default_rng(5)
    shape = muap()
    # A 250-Hz-like train (ISI 22–26 samples, less than half a window) and an isolated unit.
    isi = rng.integers(22, 27, 120)
    train = 100 + np.concatenate([[0], np.cumsum(isi)])
    lone = np.arange(4000, 9000, 250)
    x = render([train, lone], [shape, 0.8 * muap(width=6.0)], 9500, noise=0.5, seed=6)
    samples, labels, snippets = candidates(x, [train, lone])
    bank = median_bank(snippets, labels, 2)
    err_median = np.abs(bank.templates[0, 0] - shape).max()
    out = _unmix_overlaps(samples, labels, snippets, bank, UnitParams())
    err_unmixed = np.abs(out.templates[0, 0] - shape).max()
    assert err_median > 3.0                      # the median holds the neighbours
    assert err_unmixed < 0.1 * err_median
    np.testing.assert_array_equal(out.templates[1], bank.templates[1])
    # Off: nothing changes.
    same = _unmix_overlaps(samples, labels, snippets, bank, UnitParams(unmix_min_share=1.0))
    np.testing.assert_array_equal(same.templates, bank.templates)


def test_recorded_peak_picks_the_larger_phase_of_the_raw_muap():
    # The band-passed template peaks at its first phase; the recorded MUAP's second phase is larger.
    filtered_tmpl = np.zeros(W)
    filtered_tmpl[20], filtered_tmpl[40] = -10.0, 8.0
    bank = _finalise(filtered_tmpl[None, None].astype(np.float32), np.array([5]), np.ones(1, np.float32))
    assert bank.peak_offset[0] == 20
    raw_shape = np.zeros(W)
    raw_shape[20], raw_shape[40] = -7.0, 9.0
    times = np.arange(1000, 6000, 500)
    signal = render([times], [raw_shape], 7000) + 300.0 + np.linspace(0, 50, 7000)   # offset and drift
    labels = np.zeros(times.size, np.int64)
    reads = []
    read_windows = windows_of(signal, reads)

    got = recorded_peak_offsets(read_windows, times, labels, bank, BEFORE)
    assert got[0] == 40 and all(ch == 0 for *_, ch in reads)
    # Too few members, or windows unreadable: the band-passed peak stays.
    assert recorded_peak_offsets(read_windows, times[:2], labels[:2], bank, BEFORE)[0] == 20
    assert recorded_peak_offsets(windows_of(signal[:10]), times, labels, bank, BEFORE)[0] == 20
    nan_signal = signal.copy()
    nan_signal[:] = np.nan
    assert recorded_peak_offsets(windows_of(nan_signal), times, labels, bank, BEFORE)[0] == 20


def test_robust_recorded_peak_keeps_a_broad_last_phase():
    # A monopolar grid MUAP: a sharp first phase, then a broad larger one lasting past the window,
    # which a quadratic fitted to the context on both sides partly takes for slow content.
    filtered_tmpl = 6.0 * np.exp(-0.5 * ((np.arange(W) - 52) / 5.0) ** 2)
    filtered_tmpl[20] = -10.0
    bank = _finalise(filtered_tmpl[None, None].astype(np.float32), np.array([5]), np.ones(1, np.float32))
    t = np.arange(3 * W) - W - 52
    raw_shape = 9.0 * np.exp(-0.5 * (t / 7.0) ** 2)
    raw_shape[W + 20] -= 7.0
    times = np.arange(1000, 6000, 500)
    signal = np.random.default_rng(0).normal(0, 0.1, 7000) + 300.0
    for s in times:
        signal[s - BEFORE - W:s - BEFORE + 2 * W] += raw_shape
    signal[times[3] - 5:times[3] + 5] += 200.0          # one member overlapped by a large artefact

    read_windows = windows_of(signal)
    assert recorded_peak_offsets(read_windows, times, np.zeros(times.size, np.int64), bank, BEFORE)[0] == 20
    got = recorded_peak_offsets(read_windows, times, np.zeros(times.size, np.int64), bank, BEFORE, robust=True)
    assert abs(got[0] - 52) <= 1


def test_recorded_peak_moves_only_where_the_members_agree():
    # Two near-equal phases; one member's neighbour raises the mean at the second: the mean alone
    # would move the time, the members (paired t) do not support it.
    filtered_tmpl = np.zeros(W)
    filtered_tmpl[20], filtered_tmpl[40] = -10.0, 8.0
    bank = _finalise(filtered_tmpl[None, None].astype(np.float32), np.array([5]), np.ones(1, np.float32))
    raw_shape = np.zeros(W)
    raw_shape[20], raw_shape[40] = -9.0, 8.5
    times = np.arange(1000, 3500, 500)
    signal = render([times], [raw_shape], 4000, noise=0.05)
    signal[times[2] - BEFORE + 40] += 12.0
    labels = np.zeros(times.size, np.int64)
    assert recorded_peak_offsets(windows_of(signal), times, labels, bank, BEFORE, min_t=0.0)[0] == 40
    assert recorded_peak_offsets(windows_of(signal), times, labels, bank, BEFORE, min_t=2.0)[0] == 20
    # Every member larger there: it moves.
    signal = render([times], [np.where(np.arange(W) == 40, 11.0, raw_shape)], 4000, noise=0.05)
    assert recorded_peak_offsets(windows_of(signal), times, labels, bank, BEFORE, min_t=2.0)[0] == 40


def multi_channel_reader(signals):
    """``recorded_peak_offsets``' reader over one array per electrode."""
    readers = [windows_of(x) for x in signals]

    def read_windows(starts, length, ch):
        return readers[ch](starts, length, ch)
    return read_windows


def test_a_unit_is_timed_on_the_electrode_where_its_recorded_muap_is_largest():
    # A MUAP propagating along a column: it peaks on electrode 1 eight samples after electrode 0.
    # Band-passed, electrode 0 is the larger (its MUAP is narrower and keeps more of the band);
    # as recorded, electrode 1 is. Electrode 2 is far below the share and is not read.
    tmpl = np.zeros((3, W), np.float32)
    tmpl[0, 20], tmpl[0, 26] = -10.0, 6.0
    tmpl[1, 28], tmpl[1, 36] = -9.5, 5.0
    tmpl[2, 30] = -3.0
    bank = _finalise(tmpl[None], np.array([8]), np.ones(3, np.float32))
    assert bank.timing_channel[0] == 0 and bank.peak_offset[0] == 20
    times = np.arange(1000, 9000, 500)
    labels = np.zeros(times.size, np.int64)

    def electrode(at, p2p, noise, seed):
        shape = np.zeros(W)
        shape[at] = -p2p
        return render([times], [shape], 10000, noise=noise, seed=seed)

    signals = [electrode(20, 10.0, 0.3, 1), electrode(28, 12.0, 0.3, 2), electrode(30, 40.0, 0.3, 3)]
    reads = []
    read3 = multi_channel_reader(signals)

    def read_windows(starts, length, ch):
        reads.append(ch)
        return read3(starts, length, ch)

    offsets, timing = recorded_peak_offsets(read_windows, times, labels, bank, BEFORE, robust=True,
                                            channel_share=0.9, return_timing=True)
    assert timing[0] == 1 and offsets[0] == 28
    assert 2 not in reads                       # below the share of the band-passed template
    # Off (the default): timed on the largest band-passed electrode, as before.
    offsets, timing = recorded_peak_offsets(read3, times, labels, bank, BEFORE, robust=True, return_timing=True)
    assert timing[0] == 0 and offsets[0] == 20
    # Larger by less than the members' spread allows (a few noisy windows): it stays.
    noisy = [electrode(20, 10.0, 3.0, 4), electrode(28, 10.5, 3.0, 5), signals[2]]
    offsets, timing = recorded_peak_offsets(multi_channel_reader(noisy), times[:4], labels[:4], bank, BEFORE,
                                            robust=True, channel_share=0.9, channel_min_t=2.0,
                                            return_timing=True)
    assert timing[0] == 0 and offsets[0] == 20
    # No templates: empty answers of both kinds.
    empty = _finalise(np.zeros((0, 3, W), np.float32), np.zeros(0), np.ones(3, np.float32))
    offsets, timing = recorded_peak_offsets(read3, times, np.full(times.size, -1), empty, BEFORE,
                                            channel_share=0.9, return_timing=True)
    assert offsets.size == 0 and timing.size == 0


def test_recorded_peak_baseline_context_holds_no_other_discharge():
    # A grid unit bursting in triplets: a sharp first phase (largest once band-passed) and a broad
    # larger second phase with a long positive tail. The second and third discharges of each burst
    # have the previous one's tail in their baseline context, which lowers their recorded shape:
    # only members whose context is free of other discharges show the recorded peak.
    filtered_tmpl = np.zeros(W)
    filtered_tmpl[20], filtered_tmpl[40] = -10.0, 8.0
    bank = _finalise(filtered_tmpl[None, None].astype(np.float32), np.array([5]), np.ones(1, np.float32))
    t = np.arange(3 * W)
    raw_shape = np.zeros(3 * W)
    raw_shape[W + 20], raw_shape[W + 40] = -7.0, 8.0
    raw_shape[W + 41:] = 5.0 * np.exp(-(t[W + 41:] - W - 41) / 60.0)       # long last phase
    gap = int(1.5 * W)
    starts = np.arange(1000, 20000, 1000)
    times = np.sort(np.concatenate([starts, starts + gap, starts + 2 * gap]))
    signal = np.random.default_rng(1).normal(0, 0.1, 21000) + 300.0
    for s in times:
        signal[s - BEFORE - W:s - BEFORE + 2 * W] += raw_shape

    read_windows = windows_of(signal)
    labels = np.zeros(times.size, np.int64)
    assert recorded_peak_offsets(read_windows, times, labels, bank, BEFORE, robust=True)[0] == 40
    # The same from the bursts' first discharges alone (what the check keeps).
    first = np.isin(times, starts)
    assert recorded_peak_offsets(read_windows, times[first], labels[first], bank, BEFORE, robust=True)[0] == 40


def test_detect_times_a_surface_unit_at_its_recorded_peak_under_mains():
    # A bipolar unit whose MUAP has a sharp first phase and a broad, larger second phase 9 ms
    # later (the largest once band-passed is the sharp one), under a 25-µV mains line: the
    # discharges are timed at the broad phase, the MUAP's largest |peak| as recorded.
    import emgkit
    from emgkit.recording import Electrode, Recording

    fs, rng = 2048.0, np.random.default_rng(7)
    n = int(60 * fs)
    t = np.arange(n) / fs
    tt = (np.arange(int(0.04 * fs)) - int(0.01 * fs)) / fs * 1000              # ms, sharp phase at 0
    shape = -40 * np.exp(-0.5 * (tt / 1.0) ** 2) + 70 * np.exp(-0.5 * ((tt - 9) / 3.5) ** 2)
    peak = int(np.argmax(np.abs(shape)))
    x = rng.normal(0, 4.0, n) + 25 * np.sin(2 * np.pi * 50.0 * t + 0.3)
    starts = np.cumsum((0.4 + rng.exponential(1.2, 60)) * fs).astype(int)     # fasciculations
    starts = starts[starts < n - shape.size]
    for a in starts:
        x[a:a + shape.size] += shape
    rec = Recording.from_array(x[None].astype(np.float32), fs, muscles=["tibialis anterior"],
                               electrodes=Electrode("surface_bipolar"))
    truth = (starts + peak) / fs
    found = emgkit.detect(rec, hash_input=False).discharges
    found = np.sort(found.loc[found["state"] == "rest", "time"].to_numpy())
    assert found.size == truth.size
    j = np.clip(np.searchsorted(found, truth), 1, max(found.size - 1, 1))
    nearest = np.minimum(np.abs(found[j] - truth), np.abs(found[j - 1] - truth))
    assert np.mean(nearest <= 0.003) >= 0.9


def test_recorded_peak_read_again_from_the_fits_retimes_the_units_discharges():
    # The band-passed template peaks at its first phase (20); as recorded, the second (40) is
    # larger. The unit's discharges, timed at 20, move to 40 (every state); a unit whose recorded
    # peak is its template's, and discharges of no bank unit, stay.
    import pandas as pd

    from emgkit.detect import _recorded_peak_from_fits
    from emgkit.detect.params import DetectionParams

    fs = 2000.0
    first = np.zeros(W)
    first[20], first[40] = -10.0, 8.0
    other = np.zeros(W)
    other[30] = 10.0
    bank = _finalise(np.stack([first, other])[:, None].astype(np.float32), np.array([9, 9]), np.ones(1, np.float32))
    assert bank.peak_offset.tolist() == [20, 30]
    raw_first = np.where(np.arange(W) == 40, 11.0, 0.0)
    raw_first[20] = -7.0
    starts0 = np.arange(1000, 9000, 400)            # window starts of unit 0 and of unit 1
    starts1 = starts0 + 200
    signal = render([starts0 + BEFORE, starts1 + BEFORE], [raw_first, other], 10000, noise=0.05)
    times = np.r_[(starts0 + 20) / fs, (starts1 + 30) / fs, 9500 / fs]
    units = np.r_[np.zeros(starts0.size, np.int64), np.ones(starts1.size, np.int64), [5]]
    state = np.array(["rest"] * times.size, dtype=object)
    state[0] = "voluntary"
    dis = pd.DataFrame({"time": times, "unit": units, "state": state}).sort_values("time").reset_index(drop=True)
    u = DetectionParams().units
    options = dict(min_shift=1, robust=False, min_t=u.recorded_peak_min_t,
                   context_gap=int(round(u.recorded_peak_context_gap * W)))
    got = _recorded_peak_from_fits(dis, bank, windows_of(signal), BEFORE, fs, options)
    assert bank.peak_offset.tolist() == [40, 30]
    moved = got[got.unit == 0].time.to_numpy()
    np.testing.assert_allclose(np.sort(moved), (starts0 + 40) / fs)
    np.testing.assert_allclose(np.sort(got[got.unit == 1].time.to_numpy()), (starts1 + 30) / fs)
    assert got[got.unit == 5].time.tolist() == [9500 / fs]
    assert (got.time.diff().dropna() >= 0).all()
