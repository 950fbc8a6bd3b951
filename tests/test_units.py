"""Unit assignment and overlap resolution on hand-built waveforms with exact answers."""
import dataclasses

import numpy as np
import pytest

from emgkit.detect.params import UnitParams
from emgkit.detect.units import (_finalise, _merge_shifted, compound_templates, peel_plan, peel_region,
                                 refit_overlap_pairs, remnant_discharges, unit_families)

FS = 10000.0


def muap(w=81, width=4.0, phase=1.0):
    t = np.arange(w) - w // 2
    return (-(t / width) * np.exp(-0.5 * (t / width) ** 2) + phase * 0.6 * np.exp(-0.5 * ((t - 6) / width) ** 2))


def bank_of(*shapes, sigma=1.0):
    tmpl = np.stack([s[None, :] for s in shapes]).astype(np.float32) / sigma
    return _finalise(tmpl, np.full(len(shapes), 10), np.full(1, sigma, np.float32))


def test_shifted_copy_merges_and_different_shape_does_not():
    a = muap() * 20
    shifted = np.roll(a, 5)
    other = muap(width=9.0, phase=-1.0) * 20
    tmpl = np.stack([a[None], shifted[None], other[None]]).astype(np.float32)
    masks = np.ones((3, 1), bool)
    kept, counts = _merge_shifted(tmpl, np.array([5.0, 3.0, 4.0]), masks, tmpl.shape[2], UnitParams())
    assert len(kept) == 2
    assert sorted(counts.tolist()) == [4.0, 8.0]


def test_peel_resolves_a_doublet_3_ms_apart():
    sigma = 5.0
    shape = muap() * 60                       # ~12 σ peak
    bank = bank_of(shape, sigma=sigma)
    rng = np.random.default_rng(0)
    x = rng.normal(0, sigma, 600)
    first, gap = 200, int(0.003 * FS)        # 3 ms doublet, second 80 % of the first
    x[first:first + 81] += shape
    x[first + gap:first + gap + 81] += 0.8 * shape
    out = peel_region(x[None, :], 0, bank, FS, UnitParams())
    peak = int(bank.peak_offset[0])
    assert sorted(out.samples.tolist()) == [first + peak, first + gap + peak]
    # Greedy peeling biases the amplitudes of overlapping fits a little; the order survives.
    scales = out.scales[np.argsort(out.samples)]
    assert scales[0] > scales[1] and 0.7 <= scales[1] <= 0.95 and 0.85 <= scales[0] <= 1.15


def test_peel_on_noise_finds_nothing():
    bank = bank_of(muap() * 60, sigma=5.0)
    x = np.random.default_rng(1).normal(0, 5.0, (1, 5000))
    assert peel_region(x, 0, bank, FS, UnitParams()).samples.size == 0


def test_peel_train_at_250_hz():
    sigma = 5.0
    shape = muap() * 60
    bank = bank_of(shape, sigma=sigma)
    x = np.random.default_rng(2).normal(0, sigma, 3000)
    starts = 100 + np.arange(20) * 40          # 4 ms apart at 10 kHz, waning to 60 %
    for i, s in enumerate(starts):
        x[s:s + 81] += (1 - 0.02 * i) * shape
    out = peel_region(x[None, :], 0, bank, FS, UnitParams())
    expected = starts + int(bank.peak_offset[0])
    matched = sum(np.min(np.abs(out.samples - e)) <= 2 for e in expected)
    assert matched >= 19 and out.samples.size <= 21


def test_unit_families_join_same_shape_only():
    a = muap() * 20
    bank = bank_of(a, a * 1.1, muap(width=9.0, phase=-1.0) * 20)
    fam = unit_families(bank)
    assert fam[0] == fam[1] != fam[2]


def test_interval_union_helpers():
    from emgkit._intervals import covered_length, in_intervals, merge_intervals

    assert merge_intervals([], []) == []
    assert merge_intervals(np.array([5, 0, 3]), np.array([8, 3, 4])) == [(0, 4), (5, 8)]  # touching merge
    assert covered_length([0.0, 0.5, 2.0], [1.0, 1.5, 2.5]) == 2.0
    # [start, end): overlapping and unsorted rows, extra fields ignored, none at all.
    t = np.array([-1.0, 0.0, 0.7, 1.5, 1.9, 2.0, 2.2, 2.5, 3.0])
    rows = [(2.0, 2.5, "x"), (0.0, 1.0, "y"), (0.5, 1.5, "z")]
    assert in_intervals(t, rows).tolist() == [False, True, True, False, False, True, True, False, False]
    assert not in_intervals(t, []).any() and in_intervals(np.zeros(0), rows).size == 0


def test_fibre_like_spikes_vs_motor_unit_potentials():
    from emgkit.detect import _fibre_like
    from emgkit.detect.params import PatternParams

    fs = 48000.0
    t = (np.arange(int(0.011 * fs)) - int(0.005 * fs)) / fs * 1000      # ms, 11 ms window
    rng = np.random.default_rng(0)
    fibre = 30 * np.sin(2 * np.pi * t / 2.0) * (np.abs(t) < 1.0)           # 2 ms biphasic spike, 60 µV p-p
    muap = 170 * np.exp(-(t / 0.5) ** 2) - 40 * np.exp(-((t - 2.5) / 2.0) ** 2) - 30 * np.exp(-((t + 2.5) / 2.0) ** 2)
    noise_uv = 12.0
    count = 5
    waves = np.stack([fibre, muap]) + rng.normal(0, noise_uv / np.sqrt(count), (2, t.size))
    waves[0, 10] += 3.5 * noise_uv / np.sqrt(count)    # one noise outlier far from the spike
    flags = _fibre_like(waves, np.array([count, count]), np.array([noise_uv, noise_uv]), fs, PatternParams())
    assert flags.tolist() == [True, False]


def test_positive_sharp_wave_is_a_fibre_only_when_it_fires_like_one():
    from emgkit.detect import _fibre_units
    from emgkit.detect.params import PatternParams

    fs = 48000.0
    t = (np.arange(int(0.04 * fs)) - int(0.005 * fs)) / fs * 1000       # ms, 40 ms window
    # Sharp 1.5 ms spike running into a slow negative tail of ~20 ms (10 % of the peak): a PSW.
    psw = 120 * np.exp(-(t / 0.5) ** 2) - 15 * (t > 0) * (1 - np.exp(-np.clip(t, 0, None) / 0.7)) * np.exp(-np.clip(t, 0, None) / 12)
    waves = np.stack([psw, psw])
    counts = np.array([50, 50])
    noise = np.array([10.0, 10.0])
    rng = np.random.default_rng(0)
    regular = np.cumsum(rng.normal(0.1, 0.004, 60))                      # 10 Hz, CoV 4 %
    regular = np.delete(regular, [7, 20, 33])                            # a few missed discharges
    irregular = np.sort(rng.uniform(0, 30, 60))                          # fasciculation-like
    flags = _fibre_units(waves, counts, noise, [regular, irregular], fs, PatternParams())
    assert flags.tolist() == [True, False]


def test_a_short_spike_far_above_threshold_is_a_fibre_only_when_it_fires_at_fibrillation_rates():
    # A 2-ms biphasic spike of 120 µV p-p at noise 1 µV (120 SD) fires four times in 46 s: a
    # fibre that large is found at each discharge, so this is a small motor unit (fasciculations).
    # Firing at 5 Hz it is a fibre; at 6 SD p-p (found only where noise adds to it) the same sparse
    # firing is a fibre's discharges with the others missed.
    from emgkit.detect import _fibre_units
    from emgkit.detect.params import PatternParams

    fs = 48000.0
    t = (np.arange(int(0.02 * fs)) - int(0.005 * fs)) / fs * 1000
    spike = 60 * np.sin(2 * np.pi * t / 2.0) * (np.abs(t) < 1.0)
    waves = np.stack([spike, spike, spike / 20])
    counts = np.array([4, 200, 4])
    noise = np.array([1.0, 1.0, 1.0])
    sparse = np.array([8.37, 17.55, 53.83, 54.95])
    regular = 5.0 + np.arange(200) * 0.2
    p = PatternParams()
    p2p_sd = np.array([120.0, 120.0, 6.0])
    assert _fibre_units(waves, counts, noise, [sparse, regular, sparse], fs, p, p2p_sd).tolist() == [False, True, True]
    # Without sizes, or with the test off, a short spike is a fibre by its shape.
    assert _fibre_units(waves, counts, noise, [sparse, regular, sparse], fs, p).tolist() == [True, True, True]
    off = dataclasses.replace(p, fibrillation_clear_p2p_sd=np.inf)
    assert _fibre_units(waves, counts, noise, [sparse, regular, sparse], fs, off, p2p_sd).tolist() == [True, True, True]


def _busy_region(seed, n_ch=4, n=3000, n_units=3, sigma=5.0):
    """Several multichannel units firing with overlaps (doublets, trains) in noise, and their bank."""
    rng = np.random.default_rng(seed)
    w = 81
    shapes = []
    for u in range(n_units):
        base = muap(w, width=3.0 + 2.0 * u, phase=(-1.0) ** u) * rng.uniform(40, 90)
        gains = rng.uniform(0.0, 1.0, n_ch)
        gains[u % n_ch] = 1.0
        shapes.append(base[None, :] * gains[:, None])
    tmpl = np.stack(shapes).astype(np.float32) / sigma
    bank = _finalise(tmpl, np.full(n_units, 10), np.full(n_ch, sigma, np.float32))
    x = rng.normal(0, sigma, (n_ch, n + w))
    for u in range(n_units):
        for s in np.sort(rng.choice(n - w, 12, replace=False)):
            x[:, s:s + w] += rng.uniform(0.6, 1.3) * shapes[u]
    return x, bank


def test_peel_kernel_matches_its_numpy_twin():
    for seed in range(4):
        x, bank = _busy_region(seed)
        params = UnitParams()
        fast = peel_region(x, 100, bank, FS, params)
        slow = peel_region(x, 100, bank, FS, params, kernel=False)
        assert fast.samples.size >= 20
        np.testing.assert_array_equal(fast.samples, slow.samples)
        np.testing.assert_array_equal(fast.units, slow.units)
        np.testing.assert_allclose(fast.scales, slow.scales, rtol=1e-9)
        np.testing.assert_allclose(fast.snr, slow.snr, rtol=1e-9)


def test_peel_plan_is_reused_and_its_cache_evicts(monkeypatch):
    import emgkit.detect.units as units

    x, bank = _busy_region(7, n_units=4)
    params = UnitParams()
    reference = peel_region(x, 0, bank, FS, params, kernel=False)
    monkeypatch.setattr(units, "PEEL_XCORR_BYTES", 1)   # one cache slot: every new template evicts
    plan = units.peel_plan(bank, params)
    assert plan.xc.shape[0] == 1
    for _ in range(2):                                   # second region reuses the plan's cache
        out = peel_region(x, 0, bank, FS, params, plan=plan)
        np.testing.assert_array_equal(out.samples, reference.samples)
        np.testing.assert_array_equal(out.units, reference.units)


def test_peel_edge_cases():
    bank = bank_of(muap() * 60, sigma=5.0)
    short = np.zeros((1, 10))                           # shorter than a template
    assert peel_region(short, 0, bank, FS, UnitParams()).samples.size == 0
    x = np.full((1, 500), np.nan)                        # invalid samples count as zero
    assert peel_region(x, 0, bank, FS, UnitParams()).samples.size == 0
    x = np.zeros((1, 500))
    x[0, 100:181] += muap() * 60
    gap = x.copy()
    gap[0, 300:340] = np.nan                             # a NaN run beside a MUAP reads as zeros
    a, b = peel_region(x, 0, bank, FS, UnitParams()), peel_region(gap, 0, bank, FS, UnitParams())
    assert a.samples.tolist() == b.samples.tolist() == [100 + int(bank.peak_offset[0])]
    np.testing.assert_array_equal(a.residual, b.residual)
    empty = _finalise(np.zeros((0, 1, 81), np.float32), np.zeros(0), np.ones(1, np.float32))
    assert peel_region(np.zeros((1, 500)), 0, empty, FS, UnitParams()).samples.size == 0
    # A template exactly at the region's edges is found at both ends.
    shape = muap() * 60
    x = np.zeros((1, 400))
    x[0, :81] += shape
    x[0, -81:] += shape
    out = peel_region(x, 0, bank, FS, UnitParams())
    assert out.samples.tolist() == [int(bank.peak_offset[0]), 400 - 81 + int(bank.peak_offset[0])]


def test_a_template_of_two_overlapping_units_is_compound_and_a_unit_of_its_own_is_not():
    """Template C = A + B 2 ms later (a cluster of overlaps, 3 members) is explained by A and B and
    flagged; D (another shape, 5 members) and the frequent A and B themselves are not, nor is C
    when it fires as often as A and B (then it is a unit)."""
    a = muap() * 60
    b = muap(width=7.0, phase=-1.0) * 45
    c = a + np.roll(b, 20)
    d = muap(width=2.5, phase=-0.5) * 50
    tmpl = np.stack([s[None, :] for s in (a, b, c, d)]).astype(np.float32) / 5.0
    bank = _finalise(tmpl, np.array([40, 30, 3, 5]), np.full(1, 5.0, np.float32))
    all_units = np.arange(4)
    assert compound_templates(bank, all_units, FS, UnitParams()).tolist() == [False, False, True, False]
    bank.counts = np.array([40, 30, 30, 5])
    assert not compound_templates(bank, all_units, FS, UnitParams()).any()
    off = UnitParams(compound_min_explained=1.0)
    bank.counts = np.array([40, 30, 3, 5])
    assert not compound_templates(bank, all_units, FS, off).any()


def test_a_template_of_one_units_doublet_is_compound_on_surface_and_two_units_overlap_is_not():
    """On surface electrodes only a unit's own doublet counts as compound: E = A + A 2.5 ms later
    (its doublet, learnt as a template of its own) is flagged; C = A + B 2 ms later is not."""
    a = muap() * 60
    b = muap(width=7.0, phase=-1.0) * 45
    c = a + np.roll(b, 20)
    e = a + np.roll(a, 25)
    d = muap(width=2.5, phase=-0.5) * 50
    tmpl = np.stack([s[None, :] for s in (a, b, c, d, e)]).astype(np.float32) / 5.0
    bank = _finalise(tmpl, np.array([40, 30, 3, 5, 4]), np.full(1, 5.0, np.float32))
    doublet_lags = (int(0.002 * FS), int(0.020 * FS))                # 2–20 ms
    assert compound_templates(bank, np.arange(5), FS, UnitParams()).tolist() == [False, False, True, False, True]
    assert compound_templates(bank, np.arange(5), FS, UnitParams(),
                              same_unit_lags=doublet_lags).tolist() == [False, False, False, False, True]
    # A 2.5-ms doublet is no doublet when the allowed lags start at 5 ms.
    assert not compound_templates(bank, np.arange(5), FS, UnitParams(), same_unit_lags=(50, 200)).any()


def test_a_template_of_one_units_doublet_splits_into_that_units_two_copies():
    """E = A + 0.9 A 2.5 ms later (cut to the window: the second copy runs on past it) is two
    copies of A, at their offsets and scales; C = A + B 2 ms later, and E beside a rarer A, not."""
    from emgkit.detect.units import doublet_templates
    a = muap() * 60
    b = muap(width=7.0, phase=-1.0) * 45
    c = a + np.r_[np.zeros(20), b[:-20]]
    e = a + 0.9 * np.r_[np.zeros(25), a[:-25]]
    d = muap(width=2.5, phase=-0.5) * 50
    tmpl = np.stack([s[None, :] for s in (a, b, c, d, e)]).astype(np.float32) / 5.0
    bank = _finalise(tmpl, np.array([40, 30, 3, 5, 4]), np.full(1, 5.0, np.float32))
    lags = (int(0.002 * FS), int(0.020 * FS))                         # 2–20 ms
    got = doublet_templates(bank, np.arange(5), lags, UnitParams())
    assert list(got) == [4]
    unit, offsets, scales = got[4]
    assert unit == 0 and offsets == (0, 25)
    np.testing.assert_allclose(scales, (1.0, 0.9), atol=0.02)
    assert doublet_templates(bank, np.arange(5), (50, 200), UnitParams()) == {}
    rare = _finalise(tmpl, np.array([3, 30, 3, 5, 4]), np.full(1, 5.0, np.float32))
    assert doublet_templates(rare, np.arange(5), lags, UnitParams()) == {}
    # Two half-size copies: another unit's shape, not A firing twice (its first copy is A's size).
    half = np.stack([s[None, :] for s in (a, b, c, d, 0.5 * e)]).astype(np.float32) / 5.0
    assert doublet_templates(_finalise(half, np.array([40, 30, 3, 5, 4]), np.full(1, 5.0, np.float32)),
                             np.arange(5), lags, UnitParams()) == {}


def test_merge_map_sends_a_shifted_copy_to_its_unit():
    """The full-resolution merge relabels members: each input template maps to the kept one it joined."""
    a = muap() * 20
    b = muap(width=9.0, phase=-1.0) * 20
    tmpl = np.stack([b[None], np.roll(a, 12)[None], a[None]]).astype(np.float32)   # a copy 1.2 ms later
    kept, counts, into, lag, source = _merge_shifted(tmpl, np.array([4.0, 3.0, 9.0]), np.ones((3, 1), bool),
                                                     tmpl.shape[2], UnitParams(), return_map=True)
    assert len(kept) == 2 and np.array_equal(kept[0], tmpl[2]) and np.array_equal(kept[1], tmpl[0])
    assert into.tolist() == [1, 0, 0] and counts.tolist() == [12.0, 4.0] and source.tolist() == [2, 0]
    assert lag[0] == lag[2] == 0 and abs(lag[1]) == 12   # the copy matched 12 samples (1.2 ms) off


def two_phase_needle_unit(sigma=5.0, before=60, after=60):
    """80 candidates of one needle MUAP with two peaks of nearly equal size, each centred on one of
    them (noise decides which): (GroupCandidates, the MUAP on samples −200..200, before)."""
    from emgkit.detect.spikes import GroupCandidates

    rng = np.random.default_rng(4)
    t = np.arange(-200, 201)
    wave = 60 * (np.exp(-0.5 * ((t + 7) / 2.5) ** 2) + 0.97 * np.exp(-0.5 * ((t - 8) / 2.5) ** 2)
                 - 0.5 * np.exp(-0.5 * (t / 3.0) ** 2))               # peaks at −7 and +8 (0.7 and 0.8 ms)
    centres = np.where(rng.random(80) < 0.5, -7, 8)
    snippets = np.stack([wave[200 + c - before: 200 + c + after + 1] for c in centres])[:, None, :]
    snippets = (snippets + rng.normal(0, sigma, snippets.shape)).astype(np.float16)
    n = len(centres)
    gc = GroupCandidates(muscle="m", channels=np.array([0]), kind="needle",
                         samples=np.arange(n, dtype=np.int64) * 5000 + centres, main_channel=np.zeros(n, np.int64),
                         peak_uv=np.abs(snippets[:, 0, before]).astype(np.float32), snippets=snippets,
                         before=before, after=after, window=5000, window_power=np.zeros(1), window_bad=np.zeros(1),
                         window_count=np.zeros(1))
    return gc, wave, before


def test_a_needle_unit_caught_at_either_of_two_equal_phases_is_one_unit():
    """A MUAP with two peaks of nearly equal size: noise decides which one a candidate is centred on,
    so its windows come in two alignments 1.5 ms apart. Clustering must end with one unit holding
    every candidate, not one unit and half of its discharges unassigned (which then count as lone
    discharges: "fasciculations")."""
    from emgkit.detect.units import cluster_candidates

    sigma = 5.0
    gc, wave, before = two_phase_needle_unit(sigma)
    n = len(gc.samples)
    labels, bank, lag = cluster_candidates(gc, np.array([sigma]), FS, UnitParams(), return_lag=True)
    assert bank.n_units == 1 and (labels == 0).all()
    # In the unit's timing every candidate sits on the same phase, and the template is that MUAP.
    aligned = gc.samples - lag - np.arange(n) * 5000
    assert np.unique(aligned).size == 1 and abs(int(aligned[0])) in (7, 8)
    ref = wave[200 + aligned[0] - before: 200 + aligned[0] + gc.after + 1]
    assert np.sqrt(np.mean((bank.templates[0, 0] * sigma - ref) ** 2)) < 0.3 * sigma
    # Assigned only to the merged template (± max_shift_ms), the other alignment's half is left out.
    labels, _ = cluster_candidates(gc, np.array([sigma]), FS, UnitParams(assign_merged_copies=False))
    assert 0.3 < (labels == -1).mean() < 0.7


def test_candidates_that_are_not_founders_join_templates_but_found_none():
    """Candidates near a record's ends (``founders`` False) are assigned to the templates the others
    build, and a waveform seen only there founds no template of its own."""
    from emgkit.detect.units import cluster_candidates

    sigma = 5.0
    gc, _, _ = two_phase_needle_unit(sigma)
    n = len(gc.samples)
    rng = np.random.default_rng(8)
    odd = np.convolve(rng.normal(0, 1, gc.snippets.shape[2]), np.ones(5) / 5, "same")
    odd = (odd * 40 * sigma / np.abs(odd).max()).astype(np.float16)
    gc.snippets = np.concatenate([gc.snippets, odd[None, None], odd[None, None]])
    gc.samples = np.r_[gc.samples, gc.samples[-1] + 5000, gc.samples[-1] + 10000]
    gc.main_channel = np.zeros(n + 2, np.int64)
    gc.peak_uv = np.r_[gc.peak_uv, np.abs(odd).max(), np.abs(odd).max()].astype(np.float32)
    founders = np.ones(n + 2, bool)
    founders[[0, n, n + 1]] = False                   # one of the unit's, and the odd waveform twice
    labels, bank = cluster_candidates(gc, np.array([sigma]), FS, UnitParams(), founders=founders)
    assert bank.n_units == 1 and (labels[:n] == 0).all() and (labels[n:] == -1).all()
    labels, bank = cluster_candidates(gc, np.array([sigma]), FS, UnitParams())
    assert bank.n_units == 2 and labels[n] == labels[n + 1] == 1


def test_copies_merged_at_full_resolution_put_their_members_in_the_units_timing():
    """The same unit caught at either of two near-equal phases, its two copies merged only on the
    full-resolution templates: the members of the copy take its lag, so every candidate sits on one
    phase in the unit's timing (independent simulator, hyperexcitable needle seed 1: 6 → 2
    fasciculations found for 2 true)."""
    from emgkit.detect.units import cluster_candidates

    sigma = 5.0
    gc, _, _ = two_phase_needle_unit(sigma)
    n = len(gc.samples)
    only_full = UnitParams(merge_distance=0.0, assign_merged_copies=False, phase_copy_distance=0.0,
                           merge_full_distance=0.2)
    labels, bank, lag = cluster_candidates(gc, np.array([sigma]), FS, only_full, return_lag=True)
    assert bank.n_units == 1 and (labels == 0).all()
    assert np.unique(gc.samples - lag - np.arange(n) * 5000).size == 1


def test_a_small_discharge_of_another_unit_inside_a_large_muap_is_its_remnant():
    times = np.array([1.000, 1.006, 2.000, 2.008, 3.000, 3.004, 5.000])
    units = np.array([0, 1, 0, 0, 2, 3, 4])
    snr = np.array([60.0, 12.0, 50.0, 48.0, 20.0, 15.0, np.nan])
    drop = remnant_discharges(times, units, snr, 0.01, 0.3)
    # 12 SD beside 60 SD of another unit 6 ms away goes; a doublet (one unit, equal sizes) stays,
    # and so do two units of similar size overlapping; a row without a size is left alone.
    assert drop.tolist() == [False, True, False, False, False, False, False]
    assert not remnant_discharges(times, units, snr, 0.01, 0.0).any()          # turned off
    assert not remnant_discharges(times, units, snr, 0.004, 0.3).any()         # out of reach
    assert remnant_discharges(np.zeros(0), np.zeros(0, int), np.zeros(0), 0.01, 0.3).size == 0
    # A far field (unit 0 as the ECG spread over a grid) makes no remnants, though it can be one.
    far_field = units == 0
    assert not remnant_discharges(times, units, snr, 0.01, 0.3, sources=~far_field).any()
    assert remnant_discharges(np.array([1.0, 1.005]), np.array([0, 1]), np.array([5.0, 40.0]), 0.01, 0.3,
                              sources=np.array([False, True])).tolist() == [True, False]


def test_a_unit_is_timed_and_reported_on_its_largest_electrode_in_microvolts():
    # A propagating MUAP: 120 µV on a noisy electrode (σ 2.5 µV), peaking at sample 20, and 95 µV
    # on a quiet one (σ 1.8 µV) 10 samples later. In σ units the quiet electrode is larger (53 vs
    # 48); the discharge is timed at the largest deflection in µV.
    w = 60
    t = np.arange(w)
    sigma = np.array([2.5, 1.8, 2.0], np.float32)
    muap_uv = np.zeros((1, 3, w))
    muap_uv[0, 0] = 120.0 * np.exp(-0.5 * ((t - 20) / 2.0) ** 2) - 20.0
    muap_uv[0, 1] = 95.0 * np.exp(-0.5 * ((t - 30) / 2.0) ** 2)
    bank = _finalise(muap_uv / sigma[None, :, None], np.array([10]), sigma)
    assert bank.main_channel.tolist() == [1]            # the fits' reference: largest in σ units
    assert bank.timing_channel.tolist() == [0]
    assert bank.peak_offset.tolist() == [20]


def _pair_signal(parts, n=300, seed=0):
    """One channel of unit-σ noise with (shape, start) MUAPs added."""
    x = np.random.default_rng(seed).normal(0, 1, n)
    for shape, start in parts:
        x[start:start + shape.size] += shape
    return lambda a, b: x[None, a:b] if a >= 0 and b <= n else None


def test_doublet_fitted_as_two_units_becomes_one_units_doublet():
    from emgkit.detect.units import same_unit_pairs
    a = muap(w=41, width=4.0) * 15
    b = muap(w=41, width=5.0, phase=-0.5) * 15      # a similar unit that fitted the overlapped second MUAP
    bank = bank_of(a, b)
    lags = (4, 40)                                   # 2–20 ms at 2 kHz
    read = _pair_signal([(a, 100), (0.85 * a, 112)])
    samples = np.array([100 + bank.peak_offset[0], 112 + bank.peak_offset[1] + 1])
    units, times = same_unit_pairs(samples, np.array([0, 1]), read, bank, lags, 3, 0.4, 1.6)
    assert units.tolist() == [0, 0]
    assert np.abs(times - (np.array([100, 112]) + bank.peak_offset[0])).max() <= 1
    # Two different units that fire within a doublet's interval keep their own labels.
    read = _pair_signal([(a, 100), (b, 112)])
    samples = np.array([100 + bank.peak_offset[0], 112 + bank.peak_offset[1]])
    units, times = same_unit_pairs(samples, np.array([0, 1]), read, bank, lags, 3, 0.4, 1.6)
    assert units.tolist() == [0, 1] and times.tolist() == samples.tolist()
    # Never onto another discharge of the unit: here unit 0 already has one where the second would go.
    read = _pair_signal([(a, 100), (0.85 * a, 112)])
    samples = np.array([100, 112, 113]) + bank.peak_offset[[0, 1, 0]]
    units, times = same_unit_pairs(samples, np.array([0, 1, 0]), read, bank, lags, 3, 0.4, 1.6)
    assert units.tolist() == [0, 1, 0] and times.tolist() == samples.tolist()


def test_a_doublets_distorted_second_muap_stays_the_units_within_the_tolerance():
    # The second MUAP 38 % of the way to a similar unit's shape: that unit's free scale and shape
    # explain a little more than the first unit twice. Within the tolerance the pair is one unit's.
    from emgkit.detect.units import same_unit_pairs
    a = muap(w=41, width=4.0) * 15
    b = muap(w=41, width=5.0, phase=-0.5) * 15
    bank = bank_of(a, b)
    second = 0.85 * (0.62 * a + 0.38 * b)
    samples = np.array([100 + bank.peak_offset[0], 112 + bank.peak_offset[1] + 1])
    relabelled = {0.0: 0, 0.05: 0}
    for seed in range(6):
        read = _pair_signal([(a, 100), (second, 112)], seed=seed)
        for tolerance in relabelled:
            units, _ = same_unit_pairs(samples, np.array([0, 1]), read, bank, (4, 40), 3, 0.4, 1.6, tolerance)
            relabelled[tolerance] += units.tolist() == [0, 0]
    assert relabelled[0.0] <= 2 and relabelled[0.05] >= 5
    # Two different units within a doublet's interval still keep their labels.
    for seed in range(6):
        read = _pair_signal([(a, 100), (b, 112)], seed=seed)
        samples = np.array([100 + bank.peak_offset[0], 112 + bank.peak_offset[1]])
        assert same_unit_pairs(samples, np.array([0, 1]), read, bank, (4, 40), 3, 0.4, 1.6, 0.05)[0].tolist() == [0, 1]


def _one_channel_candidates(snippets, before):
    """Surface candidates of one channel, 1000 samples apart, from their waveforms (n, 1, w)."""
    from emgkit.detect.spikes import GroupCandidates

    n, _, w = snippets.shape
    return GroupCandidates(muscle="m", channels=np.array([0]), kind="surface",
                           samples=np.arange(n, dtype=np.int64) * 1000 + 500, main_channel=np.zeros(n, np.int64),
                           peak_uv=np.abs(snippets[:, 0]).max(axis=1).astype(np.float32),
                           snippets=snippets.astype(np.float16), before=before, after=w - before - 1, window=1000,
                           window_power=np.zeros(1), window_bad=np.zeros(1), window_count=np.zeros(1))


def test_a_rest_unit_gets_a_template_after_a_busy_stretch_fills_the_template_cap():
    # Hundreds of large one-off waveforms (a contraction's overlaps) come first in the greedy
    # pass and fill every template place; the rest unit's discharges, smaller, come after.
    from emgkit.detect.units import _MAX_TEMPLATES, cluster_candidates

    rng = np.random.default_rng(7)
    w, before, sigma = 41, 20, 5.0
    n_busy, n_unit = _MAX_TEMPLATES + 40, 12
    kernel = np.exp(-0.5 * (np.arange(-6, 7) / 2.0) ** 2)
    busy = np.stack([np.convolve(rng.normal(0, 1, w), kernel, "same") for _ in range(n_busy)])
    busy *= (rng.uniform(40, 80, n_busy) * sigma / np.abs(busy).max(axis=1))[:, None]
    unit = muap(w=w, width=3.0) * 12 * sigma / np.abs(muap(w=w, width=3.0)).max()
    snippets = np.concatenate([busy, unit[None] + rng.normal(0, sigma, (n_unit, w))])[:, None, :]
    gc = _one_channel_candidates(snippets, before)
    labels, bank = cluster_candidates(gc, np.array([sigma]), 2000.0, UnitParams())
    mine = labels[n_busy:]
    assert (mine >= 0).all() and np.unique(mine).size == 1
    assert bank.counts[mine[0]] >= n_unit


def test_a_needle_template_timed_at_its_second_near_equal_peak_joins_its_unit():
    """R00108 unit 7: peaks of 958 and 834 µV 1.9 ms apart; its discharges split into two units, one
    timed at each peak (1.9 ms apart). The copy shifted by the peaks' distance joins the larger unit,
    its members lagged by that distance; a unit of another shape and a one-peaked unit stay."""
    from emgkit.detect.units import _merge_phase_copies

    t = np.arange(-60, 61)

    def two_peaks(first, second, centre):   # peaks 19 samples apart, the window centred on one
        return 20 * (first * np.exp(-0.5 * ((t - centre) / 3) ** 2)
                     + second * np.exp(-0.5 * ((t - centre - 19) / 3) ** 2)
                     - 0.3 * np.exp(-0.5 * ((t - centre - 9) / 4) ** 2))

    a = two_peaks(1.0, 0.87, 0)          # timed at its larger peak
    copy = two_peaks(0.95, 1.0, -19)     # members where noise made the second peak the larger one
    other = 20 * np.exp(-0.5 * (t / 3) ** 2) - 12 * np.exp(-0.5 * ((t - 8) / 4) ** 2)
    full = np.stack([a, copy, other])[:, None, :].astype(np.float32)
    labels = np.r_[np.zeros(40), np.ones(30), np.full(20, 2), -1].astype(np.int64)
    lag = np.zeros(labels.size, np.int64)
    merged, new, new_lag = _merge_phase_copies(full, labels, lag, 0.25, 0.7, 50, 60, 2, 3)
    assert len(merged) == 2
    assert (new[:70] == 0).all() and (new[70:90] == 1).all() and new[-1] == -1
    assert (new_lag[40:70] == 19).all() and (new_lag[:40] == 0).all() and (new_lag[70:] == 0).all()
    # Peaks farther apart than max_lag: not the same MUAP's phases.
    assert len(_merge_phase_copies(full, labels, lag, 0.25, 0.7, 10, 60, 2, 3)[0]) == 3


def test_detect_reads_a_units_doublets_learnt_as_a_template_as_doublets():
    # A bipolar unit firing 20 single discharges and 7 doublets 4.5 ms apart (the second 0.9×):
    # the doublets cluster into a template of their own, which peels each doublet as one fit.
    import emgkit
    from emgkit.recording import Electrode, Recording

    fs, rng = 2048.0, np.random.default_rng(3)
    n = int(60 * fs)
    tt = (np.arange(int(0.03 * fs)) - int(0.01 * fs)) / fs * 1000
    shape = 60 * (-(tt / 2.0) * np.exp(-0.5 * (tt / 2.0) ** 2)) + 15 * np.exp(-0.5 * ((tt - 6) / 3.0) ** 2)
    peak = int(np.argmax(np.abs(shape)))
    x = rng.normal(0, 3.0, n)
    starts = np.cumsum((0.6 + rng.exponential(1.5, 40)) * fs).astype(int)
    starts = starts[starts < n - int(0.05 * fs)]
    gap = int(round(0.0045 * fs))
    doublets, singles = [], []
    for i, a in enumerate(starts):
        x[a:a + shape.size] += shape
        if i % 4 == 2:
            x[a + gap:a + gap + shape.size] += 0.9 * shape
            doublets.append(((a + peak) / fs, (a + gap + peak) / fs))
        else:
            singles.append((a + peak) / fs)
    rec = Recording.from_array(x[None].astype(np.float32), fs, muscles=["first dorsal interosseous"],
                               electrodes=Electrode("surface_bipolar"))
    ev = emgkit.detect(rec, hash_input=False).events
    assert len(doublets) == 7
    for first, second in doublets:
        hit = ev[(ev["kind"] == "doublet") & ((ev["start"] - first).abs() <= 0.003) & ((ev["end"] - second).abs() <= 0.003)]
        assert len(hit) == 1
    assert (ev["kind"] == "fasciculation").sum() == len(singles)


def _pair_case(seed=0):
    """A (12 σ) and B 2 ms later, and C: 0.8 × their sum plus a shape of its own, a template
    greedy peeling prefers for the overlap."""
    sigma, lag = 5.0, 20
    a = muap() * 60
    b = muap(width=7.0, phase=-1.0) * 45
    c = 0.8 * (a + np.roll(b, lag)) + muap(width=2.5, phase=-0.5) * 25
    tmpl = np.stack([s[None, :] for s in (a, b, c)]).astype(np.float32) / sigma
    bank = _finalise(tmpl, np.array([40, 30, 12]), np.full(1, sigma, np.float32))
    x = np.random.default_rng(seed).normal(0, sigma, 800)
    return bank, x, (a, b, c), lag


def test_a_third_template_fitted_between_two_overlapping_units_is_refitted_as_the_pair():
    bank, x, (a, b, c), lag = _pair_case()
    at = 300
    x[at:at + 81] += a
    x[at + lag:at + lag + 81] += b
    params = UnitParams()
    plan = peel_plan(bank, params)
    greedy = peel_region(x[None], 0, bank, FS, params, plan=plan)
    assert greedy.units.tolist() == [2]          # the failure the re-fit mends: one fit of C
    out = refit_overlap_pairs(greedy, 0, plan, params, FS, np.ones(1, bool))
    assert out.units.tolist() == [0, 1]
    assert out.samples.tolist() == [at + bank.peak_offset[0], at + lag + bank.peak_offset[1]]
    assert np.allclose(out.scales, 1.0, atol=0.05)
    # The residual holds only the noise: both MUAPs left it.
    assert np.abs(out.residual).max() < 5.0
    # Not allowed (another state), or turned off: the greedy fit stays.
    kept = peel_region(x[None], 0, bank, FS, params, plan=plan)
    assert refit_overlap_pairs(kept, 0, plan, params, FS, np.zeros(1, bool)).units.tolist() == [2]
    off = UnitParams(pair_refit_min_gain=0.0)
    assert refit_overlap_pairs(kept, 0, plan, off, FS, np.ones(1, bool)).units.tolist() == [2]


def test_a_units_own_discharge_is_not_refitted_as_a_pair():
    """C firing alone, and A alone beside noise, stay one fit each."""
    bank, x, (a, b, c), lag = _pair_case(seed=1)
    x[200:281] += c
    x[500:581] += a
    params = UnitParams()
    plan = peel_plan(bank, params)
    greedy = peel_region(x[None], 0, bank, FS, params, plan=plan)
    out = refit_overlap_pairs(greedy, 0, plan, params, FS, np.ones(greedy.samples.size, bool))
    assert out.units.tolist() == greedy.units.tolist() == [2, 0]
    assert out.samples.tolist() == greedy.samples.tolist() == [200 + bank.peak_offset[2], 500 + bank.peak_offset[0]]


def test_pair_search_kernel_matches_its_numpy_twin():
    from emgkit.detect import _naive, _peel
    from emgkit.detect.units import _template_xcorr

    rng = np.random.default_rng(3)
    for trial in range(30):
        K, w = int(rng.integers(1, 7)), int(rng.integers(4, 24))
        T = rng.normal(0, 1, (K, int(rng.integers(1, 3)), w))
        S = int(rng.integers(1, 2 * w))
        corr = rng.normal(0, 8, (K, S)) + (rng.random((K, S)) < 0.1) * 30
        args = (corr, (T ** 2).sum(axis=(1, 2)), _template_xcorr(T), np.abs(T[:, 0]).max(axis=1),
                rng.uniform(0, 2, K), 2.0, int(rng.integers(1, 4)), 0.4, 1.6)
        got, want = _peel.pair_search(*args), _naive.pair_search(*args)
        assert got[2:4] + got[5:7] == want[2:4] + want[5:7], trial
        assert np.allclose([got[0], got[1], got[4], got[7]], [want[0], want[1], want[4], want[7]]), trial
    # Edges: no placement positive, one placement only.
    none = _peel.pair_search(-np.ones((3, 9)), np.ones(3), np.zeros((3, 3, 8)), np.ones(3), np.zeros(3), 1.0, 1, 0.4, 1.6)
    assert none[1] == -np.inf and none[2] == -1 and none == _naive.pair_search(
        -np.ones((3, 9)), np.ones(3), np.zeros((3, 3, 8)), np.ones(3), np.zeros(3), 1.0, 1, 0.4, 1.6)
    assert _peel.pair_search(np.ones((2, 1)), np.ones(2), np.zeros((2, 2, 8)), np.ones(2), np.zeros(2), 0.5, 1, 0.4,
                             1.6)[2] == -1


def test_pair_refit_twin_gives_the_kernels_answer():
    bank, x, (a, b, c), lag = _pair_case()
    x[300:381] += a
    x[320:401] += b
    params = UnitParams()
    plan = peel_plan(bank, params)
    outs = [refit_overlap_pairs(peel_region(x[None], 0, bank, FS, params, plan=plan), 0, plan, params, FS,
                                np.ones(1, bool), kernel=k) for k in (True, False)]
    assert outs[0].samples.tolist() == outs[1].samples.tolist() and outs[0].units.tolist() == outs[1].units.tolist()
    assert np.allclose(outs[0].scales, outs[1].scales)


def test_two_units_discharges_closer_than_a_units_shortest_interval_are_one_muap_fitted_twice():
    import dataclasses
    import emgkit
    from emgkit.detect.params import DetectionParams, UnitParams
    # The rule as the detector applies it: within 2 ms the smaller of two units' discharges goes,
    # whatever its share; 3 ms apart (a doublet's interval), or one unit's, both stay.
    times = np.array([1.000, 1.0015, 2.000, 2.003, 3.000, 3.001])
    units = np.array([0, 1, 0, 1, 2, 2])
    snr = np.array([30.0, 20.0, 30.0, 20.0, 30.0, 29.0])
    assert remnant_discharges(times, units, snr, UnitParams().coincident_max_ms / 1000, 1.0).tolist() == \
        [False, True, False, False, False, False]
    # The same as the near reach of the one pass the detector makes (share 0.3 over 10 ms beside it).
    assert remnant_discharges(times, units, snr, 0.01, 0.3, near_s=UnitParams().coincident_max_ms / 1000).tolist() == \
        [False, True, False, False, False, False]
    # In the pipeline: on this ALS bipolar record peeling fits two MUAPs twice each (two units'
    # rest discharges 1–2 ms apart); with the rule none are left.
    rec, _ = emgkit.simulate("als", electrode="bipolar", duration=30, seed=2)

    def closest_pairs(params):
        d = emgkit.detect(rec, params=params, hash_input=False).discharges
        n = 0
        for _, g in d[d.state == "rest"].groupby("muscle"):
            g = g.sort_values("time")
            gap = np.diff(g.time.to_numpy())
            n += int(np.sum((gap < 0.002) & (g.unit.to_numpy()[1:] != g.unit.to_numpy()[:-1])))
        return n

    off = DetectionParams()
    off = dataclasses.replace(off, units=dataclasses.replace(off.units, coincident_max_ms=0.0))
    assert closest_pairs(None) == 0
    assert closest_pairs(off) > 0


def test_one_muap_sampled_at_any_phase_of_a_1khz_sample_is_one_unit():
    """At 1024 Hz a candidate's peak sample lies anywhere within ±half a sample (±0.5 ms) of its
    MUAP's peak; one surface MUAP read at two such phases differs by more than the shape tolerance
    (independent simulator, hyperexcitable bipolar seed 0: a 141-µV unit's five discharges were five
    units). Clustering compares the waveforms interpolated and aligned within half a sample: one
    unit. A MUAP of another shape stays apart."""
    from emgkit.detect.units import cluster_candidates

    fs, w, before, sigma = 1024.0, 21, 10, 2.0
    rng = np.random.default_rng(3)

    def biphasic(t_ms, lead):   # phases 3 ms apart, the later one the larger
        return 100 * (lead * np.exp(-0.5 * ((t_ms + 3) / 0.45) ** 2) - np.exp(-0.5 * (t_ms / 0.5) ** 2))

    def candidates(n, lead):
        out = []
        for phase in rng.permutation(np.linspace(-0.5, 0.5, n)):   # every phase of a sample
            t = (np.arange(-before - 5, w - before + 5) + phase) * 1000 / fs
            x = biphasic(t, lead)
            peak = int(np.argmax(np.abs(x)))           # the candidate is caught at its peak sample
            out.append(x[peak - before: peak - before + w] + rng.normal(0, sigma, w))
        return out

    snippets = np.array(candidates(12, 0.9) + candidates(10, -0.6))[:, None, :]
    gc = _one_channel_candidates(snippets, before)
    labels, _ = cluster_candidates(gc, np.array([sigma]), fs, UnitParams())
    first, second = labels[:12], labels[12:]
    assert (first >= 0).all() and np.unique(first).size == 1
    assert (second >= 0).all() and np.unique(second).size == 1 and second[0] != first[0]
    # Compared at the recorded rate the first unit splits (what the parameter mends).
    plain, _ = cluster_candidates(gc, np.array([sigma]), fs, UnitParams(cluster_alignment_rate_hz=0.0))
    assert np.unique(plain[:12]).size > 1


def _propagating_grid_candidates(delay: int, broad: bool = False, n: int = 60, sigma: float = 4.0, seed: int = 5):
    """Candidates of one surface MUAP on a column of 16 electrodes, electrode k seeing it ``delay``·(k − 7)
    samples later; electrodes 7 and 8 are the largest and near-equal, so noise decides at whose peak a
    candidate is caught: its windows come in two alignments ``delay`` samples apart. ``broad``: the
    waveform is as large on every electrode (as the QRS is on a grid). Then 30 candidates of another
    unit (another shape, other electrodes). Returns (GroupCandidates, n)."""
    from emgkit.detect.spikes import GroupCandidates

    rng = np.random.default_rng(seed)
    t, c, before, after = np.arange(-200, 201), 16, 20, 20

    def muap(shift, width):
        return -np.exp(-0.5 * ((t - shift) / width) ** 2) + 0.6 * np.exp(-0.5 * ((t - shift - 3 * width) / (1.5 * width)) ** 2)

    amp = np.full(c, 40.0) if broad else 40 * np.exp(-0.5 * ((np.arange(c) - 7.5) / 3.0) ** 2)
    wave = np.stack([amp[k] * muap(delay * (k - 7), 2.5) for k in range(c)])
    other = np.stack([30 * np.exp(-0.5 * ((k - 2) / 1.5) ** 2) * (muap(0, 4.0) - muap(6, 4.0)) for k in range(c)])
    at = np.where(rng.random(n) < 0.5, 0, delay)
    rows = [wave[:, 200 + a - before: 200 + a + after + 1] for a in at] + [other[:, 200 - before: 200 + after + 1]] * 30
    samples = np.r_[np.arange(n) * 2000 + at, (n + np.arange(30)) * 2000].astype(np.int64)
    snippets = np.stack(rows) + rng.normal(0, sigma, (len(rows), c, before + after + 1))
    gc = GroupCandidates(muscle="m", channels=np.arange(c), kind="surface", samples=samples,
                         main_channel=np.argmax(np.ptp(snippets, axis=2), axis=1),
                         peak_uv=np.abs(snippets).max(axis=(1, 2)).astype(np.float32),
                         snippets=snippets.astype(np.float16), before=before, after=after, window=2000,
                         window_power=np.zeros(1), window_bad=np.zeros(1), window_count=np.zeros(1))
    return gc, n


@pytest.mark.parametrize("delay", [2, 4, 5])
def test_a_grid_unit_caught_at_either_of_two_electrodes_peaks_is_one_unit(delay):
    """A propagating MUAP peaks on each electrode at another time; where two electrodes are about as
    large, a candidate is caught at either one's peak, 1–2.5 ms apart. With
    ``UnitParams.grid_copies_min_channels`` its members join one unit at their copy's lag (every
    candidate on one phase in the unit's timing), as on needles; without (the default) half stay
    unassigned (emgkit's simulator, myokymia grid seed 1: a unit bursting at 40 Hz split into
    templates firing at voluntary rates, 17 of 30 s called voluntary)."""
    from emgkit.detect.units import cluster_candidates

    gc, n = _propagating_grid_candidates(delay)
    sigma = np.full(16, 4.0)
    on = UnitParams(grid_copies_min_channels=16)
    labels, bank, lag = cluster_candidates(gc, sigma, 2048.0, on, return_lag=True)
    assert bank.n_units == 2 and (labels[:n] == labels[0]).all() and (labels[n:] == labels[n]).all()
    assert labels[0] != labels[n]
    assert np.unique(gc.samples[:n] - lag[:n] - np.arange(n) * 2000).size == 1
    labels, _ = cluster_candidates(gc, sigma, 2048.0, UnitParams())   # off (the default)
    assert 0.3 < (labels[:n] == -1).mean() < 0.7          # the other alignment left out


def test_a_waveform_spread_over_the_whole_grid_keeps_its_copies_apart():
    """The QRS on a grid is as large on every electrode and slow: its copies caught at other phases
    look alike at a lag, and joined they no longer time the heartbeat (independent simulator,
    artifacts grid seed 0: 27 QRS then counted as fasciculations). Such a template's copies keep
    their own alignment."""
    from emgkit.detect.units import cluster_candidates, spread_over_grid

    gc, n = _propagating_grid_candidates(4, broad=True)
    labels, bank, lag = cluster_candidates(gc, np.full(16, 4.0), 2048.0, UnitParams(grid_copies_min_channels=16),
                                           return_lag=True)
    assert (lag == 0).all()
    assert spread_over_grid(bank.templates).any() and not spread_over_grid(bank.templates).all()


def test_a_candidate_moved_by_its_copys_lag_onto_another_of_its_unit_is_a_discharge_of_its_own():
    """``_lands_on_another``: a candidate its lag moves nearer to another candidate of its unit than
    the lag itself (a doublet's second MUAP read as the first one's copy) is flagged; one moved onto
    another unit's candidate, or not moved, is not."""
    from emgkit.detect.units import _lands_on_another

    samples = np.array([100, 103, 500, 506, 900, 903])
    labels = np.array([0, 0, 0, 0, 1, 0])
    reach = np.array([0, 8, 0, 4, 0, 5])
    assert _lands_on_another(samples, labels, reach).tolist() == [False, True, False, False, False, False]
    assert not _lands_on_another(samples[:0], labels[:0], reach[:0]).size
    assert not _lands_on_another(samples, np.full(6, -1), reach).any()
