"""Segmentation: voluntary and cramp time versus spontaneous activity (detect stage 4)."""
import dataclasses

import numpy as np
import pytest

import emgkit
from emgkit.detect.params import PatternParams, SegmentParams
from emgkit.detect.segment import (_effective_units, excluded_state, one_unit_trains, plateau_share,
                                   segment_group, train_periodicity, window_periodicity)
from emgkit.detect.spikes import GroupCandidates

WS = SegmentParams().window_s


def group(unit_times: dict, duration: float, power=None, kind: str = "needle") -> GroupCandidates:
    """A one-channel muscle whose candidates are exactly ``unit_times`` (window stats from them)."""
    n_win = int(np.ceil(duration / WS))
    times = np.sort(np.concatenate(list(unit_times.values()) or [np.zeros(0)]))
    count = np.bincount(np.minimum((times // WS).astype(int), n_win - 1), minlength=n_win).astype(float)
    return GroupCandidates(
        muscle="m", channels=np.array([0]), kind=kind, samples=(times * 10000).astype(np.int64),
        main_channel=np.zeros(times.size, dtype=np.int64), peak_uv=np.full(times.size, 500, np.float32),
        snippets=np.zeros((times.size, 1, 2), np.float16), before=1, after=1, window=int(WS * 10000),
        window_power=np.full(n_win, 100.0) if power is None else power, window_bad=np.zeros(n_win),
        window_count=count)


def regular_train(rng, start, end, rate_hz, cov):
    t, out = start + rng.uniform(0, 1 / rate_hz), []
    while t < end:
        out.append(t)
        t += max(rng.normal(1 / rate_hz, cov / rate_hz), 0.3 / rate_hz)
    return np.array(out)


def myokymic_unit(rng, duration, intraburst_hz=20.0, n_per_burst=6, silence_s=0.15):
    """Bursts of ``n_per_burst`` discharges at ``intraburst_hz``, separated by ``silence_s`` (AANEM, Gutmann 1991)."""
    out, t = [], rng.uniform(0, 0.1)
    while t < duration - 1:
        out.extend(t + np.arange(n_per_burst) / intraburst_hz + rng.normal(0, 0.001, n_per_burst))
        t = out[-1] + silence_s + rng.uniform(0, 0.05)
    return np.sort(np.array(out))


# ---------------------------------------------------------------- helpers, exact small cases
def test_effective_units_counts_equal_shares_and_ignores_stray_discharges():
    win = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2])
    units = np.array([5, 5, 5, 5, 1, 2, 3, 4, 7, 7, 7, 7, 7, 7, 7, 7, 8])
    eff = _effective_units(units, win, 4)
    assert eff[0] == pytest.approx(1.0)          # one unit
    assert eff[1] == pytest.approx(4.0)          # four units, one discharge each
    assert eff[2] == pytest.approx(81 / 65)      # 8 + 1 discharges: 9² / (8² + 1²)
    assert eff[3] == 0.0                         # empty window
    assert _effective_units(np.zeros(0, int), np.zeros(0, int), 3).tolist() == [0, 0, 0]


def test_one_unit_trains_keeps_a_neuromyotonic_train_and_drops_many_units_chaining():
    rng = np.random.default_rng(0)
    times = np.sort(rng.uniform(2.0, 3.0, 1) + np.arange(200) / 200.0)    # 200 Hz for 1 s
    pp = PatternParams()
    one = one_unit_trains(times, np.zeros(times.size, int), pp, max_units=8)
    assert len(one) == 1 and one[0] == (0, times.size - 1)
    split = one_unit_trains(times, np.arange(times.size) % 3, pp, max_units=8)   # one unit over 3 templates
    assert len(split) == 1
    many = one_unit_trains(times, np.arange(times.size) % 20, pp, max_units=8)   # 20 units in turn
    assert many == []


def test_needle_train_needs_its_busiest_unit_at_a_train_rate():
    # Four contracting units at 25 Hz, interleaved: a 0.5-s run at ~100 Hz detected rate on
    # four units (effective units ≤ 4), none of them fast (N2001C01BB51).
    rng = np.random.default_rng(1)
    parts = [1.0 + k * 0.01 + np.arange(13) / 25 + rng.normal(0, 0.002, 13) for k in range(4)]
    times = np.concatenate(parts)
    units = np.concatenate([np.full(p.size, k) for k, p in enumerate(parts)])
    order = np.argsort(times)
    times, units = times[order], units[order]
    pp = PatternParams()
    assert len(one_unit_trains(times, units, pp, max_units=4)) == 1      # chains without the check
    assert one_unit_trains(times, units, pp, max_units=4, own_rate=True) == []
    # A 200-Hz train split over two templates in turn is still one unit's train.
    train = 2.0 + np.arange(200) / 200.0
    assert len(one_unit_trains(train, np.arange(200) % 2, pp, max_units=4, own_rate=True)) == 1


def test_plateau_share_separates_rise_and_fall_from_held_effort():
    rise_fall = np.r_[np.linspace(0.1, 1, 10), np.linspace(1, 0.1, 10)] ** 2 * 1000    # power ~ amplitude²
    held = np.r_[np.linspace(0.1, 1, 2), np.ones(16), np.linspace(1, 0.1, 2)] ** 2 * 1000
    assert plateau_share(rise_fall) <= PatternParams().cramp_max_plateau_share
    assert plateau_share(held) >= 0.8
    assert plateau_share(np.array([1.0, 2.0])) == 1.0     # too short to have a shape


def test_excluded_state_needs_both_irregular_firing_and_rise_and_fall():
    pp = PatternParams()
    rise_fall = np.r_[np.linspace(0.1, 1, 10), np.linspace(1, 0.1, 10)] ** 2
    held = np.r_[0.2, np.ones(18), 0.2]
    irregular, regular = np.full(20, 0.5), np.full(20, 0.15)     # CV2: cramp ≈ 0.45, voluntary 0.1–0.25
    assert excluded_state(rise_fall, irregular, pp) == "cramp"
    assert excluded_state(held, irregular, pp) == "voluntary"
    assert excluded_state(rise_fall, regular, pp) == "voluntary"
    assert excluded_state(rise_fall, np.full(20, np.nan), pp) == "cramp"     # no sorted unit: envelope decides


def _muap(fs):
    t = np.arange(-0.004, 0.004, 1 / fs)
    return -np.exp(-((t + 0.0005) / 0.0005) ** 2) + 0.7 * np.exp(-((t - 0.001) / 0.0008) ** 2)


def _signal(times, fs, n, rng, amplitudes=None, noise=2.0):
    x = rng.normal(0, noise, n)
    m = _muap(fs)
    for k, s in enumerate(times):
        i = int(round(s * fs)) - m.size // 2
        if 0 <= i and i + m.size <= n:
            x[i:i + m.size] += 100.0 * m * (1.0 if amplitudes is None else amplitudes[k])
    return x


def test_train_periodicity_sees_one_units_train_not_asynchronous_units():
    fs, rng = 10000.0, np.random.default_rng(4)
    rate = SegmentParams().train_rate_hz
    train = np.cumsum(rng.normal(1.0, 0.02, 100)) / 220.0           # 220 Hz, 2 % jitter
    x = _signal(train, fs, 5000, rng, amplitudes=np.linspace(1.0, 0.5, train.size))   # waning
    assert train_periodicity(x, fs, rate) > 0.6
    # Fifteen units at voluntary rates (~100 discharges in the window too), and one lone MUAP.
    many = np.concatenate([regular_train(rng, 0.0, 0.5, rng.uniform(8, 25), 0.15) for _ in range(15)])
    assert train_periodicity(_signal(many, fs, 5000, rng, amplitudes=rng.uniform(0.3, 2.0, many.size)), fs, rate) < 0.15
    assert train_periodicity(_signal([0.25], fs, 5000, rng), fs, rate) < 0.15
    # Too short to hold three intervals, and empty or constant: nothing to say.
    assert train_periodicity(x[:40], fs, rate) == 0.0
    assert train_periodicity(np.zeros(5000), fs, rate) == 0.0


def test_train_periodicity_between_samples_at_a_low_sampling_rate():
    # 156 Hz at 1 kHz: 6.4 samples per interval. On whole-sample lags 2L and 3L miss the repeats
    # (this window scored 0.29 on whole-sample lags, 0.86 interpolated).
    fs, rng = 1000.0, np.random.default_rng(6)
    t = np.arange(-0.012, 0.012, 1 / fs)
    muap = 20.0 * (np.exp(-((t + 0.0015) / 0.0012) ** 2) - 0.8 * np.exp(-((t - 0.002) / 0.0016) ** 2))
    x = rng.normal(0.0, 2.0, 500)
    for s in np.cumsum(rng.normal(1.0, 0.02, 80)) / 156.0:
        i = int(round(s * fs))
        if i + muap.size <= x.size:
            x[i:i + muap.size] += muap
    score, lag = train_periodicity(x, fs, SegmentParams().train_rate_hz, return_lag=True)
    assert score > 0.5
    assert lag == pytest.approx(fs / 156.0, abs=0.2)
    assert train_periodicity(rng.normal(0.0, 2.0, 500), fs, SegmentParams().train_rate_hz) < 0.25


@pytest.mark.parametrize("fs", [2048.0, 10000.0])
def test_slow_content_is_not_a_train(fs):
    # A 22-Hz wave under the band-pass edge, and an ECG-like QRS: their autocorrelation falls from
    # lag 0 through a train's shortest intervals, high at L, 2L and 3L, with no peak there.
    rng = np.random.default_rng(3)
    rate = SegmentParams().train_rate_hz
    t = np.arange(int(0.5 * fs)) / fs
    wave = 20.0 * np.sin(2 * np.pi * 22.0 * t + 0.3) + rng.normal(0, 2.0, t.size)
    qrs = 60.0 * np.exp(-((t - 0.2) / 0.02) ** 2) * np.cos(2 * np.pi * 20.0 * (t - 0.2)) + rng.normal(0, 2.0, t.size)
    for x in (wave, qrs):
        assert window_periodicity(x, fs, rate)[0] < 0.1
    # A train on top of the slow wave still repeats at its interval.
    train = np.cumsum(rng.normal(1.0, 0.02, 100)) / 220.0
    score, lag = window_periodicity(_signal(train, fs, t.size, rng) + 0.2 * wave, fs, rate)
    assert score > 0.5 and lag == pytest.approx(fs / 220.0, rel=0.05)


def test_a_window_in_which_a_train_starts_repeats_after_its_onset():
    # A train from 0.1 s to the window's end; its onset (the first MUAPs, not yet overlapped by
    # earlier ones) is one large transient that dominates the whole window's autocorrelation.
    fs, rng = 10000.0, np.random.default_rng(0)
    rate = SegmentParams().train_rate_hz
    train = 0.1 + np.cumsum(rng.normal(1.0, 0.02, 95)) / 220.0
    t = np.arange(5000) / fs
    x = _signal(train, fs, 5000, rng) + 1500.0 * np.exp(-((t - 0.1) / 0.004) ** 2)
    assert train_periodicity(x, fs, rate) < SegmentParams().train_periodicity
    score, lag = window_periodicity(x, fs, rate)
    assert score > 0.6 and lag == pytest.approx(fs / 220.0, abs=1.0)
    # Never below the whole window's score; asynchronous units stay far below the threshold.
    many = np.concatenate([regular_train(rng, 0.0, 0.5, rng.uniform(8, 25), 0.15) for _ in range(15)])
    y = _signal(many, fs, 5000, rng, amplitudes=rng.uniform(0.3, 2.0, many.size))
    assert train_periodicity(y, fs, rate) <= window_periodicity(y, fs, rate)[0] < 0.15


def test_a_contraction_around_a_train_does_not_take_in_the_train():
    # Units recruited at 10–11 s and 11.5–12.5 s, and one unit's train at 11.0–11.5 s between
    # them: joining the contraction's windows across the train's window, or padding them, would
    # exclude the train.
    fs, rng, duration = 10000.0, np.random.default_rng(8), 30.0
    units = {k: np.concatenate([regular_train(rng, 10.0, 11.0, rate_hz=rng.uniform(10, 20), cov=0.15),
                                regular_train(rng, 11.5, 12.5, rate_hz=rng.uniform(10, 20), cov=0.15)])
             for k in range(10)}
    train = 11.0 + np.cumsum(rng.normal(1.0, 0.02, 108)) / 220.0
    contraction = np.concatenate(list(units.values()))
    units[10] = np.sort(rng.choice(train, 60, replace=False))     # the train, sparsely found
    power = np.full(60, 100.0)
    power[20:25] = 2000.0
    gc = group(units, duration, power)
    signal = _signal(np.r_[contraction, train], fs, int(duration * fs), rng,
                     amplitudes=np.r_[rng.uniform(0.3, 2.0, contraction.size), np.ones(train.size)])
    segs, spans = segment_group(gc, units, np.array([2.0]), duration, read_window=lambda a, b: signal[None, a:b],
                                return_periodic=True)
    assert [(s.start, s.end) for s in spans] == [(11.0, 11.5)]
    assert set(segs.state) <= {"voluntary", "cramp"} and len(segs) == 2
    assert not ((segs.start < 11.5) & (segs.end > 11.0)).any()
    # Without the train's signal the contraction is one, across 11.0–11.5 s.
    quiet = _signal(contraction, fs, int(duration * fs), rng, amplitudes=rng.uniform(0.3, 2.0, contraction.size))
    joined = segment_group(gc, units, np.array([2.0]), duration, read_window=lambda a, b: quiet[None, a:b])
    assert len(joined) == 1 and joined.start.iloc[0] < 11.0 and joined.end.iloc[0] > 11.5


def test_a_waning_train_is_followed_into_windows_it_no_longer_makes_loud():
    # A surface muscle with an ECG in most windows (power 2 σ², quiet windows σ²) and a train at
    # 10–12 s whose MUAPs wane: its first window is loud, its last barely above the noise. Windows
    # are tested where they are loud against the quiet windows, and beside periodic ones.
    # A second, small train at 20–21 s is never louder than 2.6 σ² (under 1.5 × the typical window).
    fs, rng, duration, sigma = 10000.0, np.random.default_rng(9), 30.0, 2.0
    train = 10.0 + np.cumsum(rng.normal(1.0, 0.02, 440)) / 220.0
    small = 20.0 + np.cumsum(rng.normal(1.0, 0.02, 200)) / 200.0
    signal = _signal(np.r_[train, small], fs, int(duration * fs), rng, noise=sigma,
                     amplitudes=np.r_[np.linspace(0.6, 0.08, train.size), np.full(small.size, 0.1)])
    power = np.where(np.arange(60) % 3 == 0, 1.0, 2.0) * sigma ** 2
    power[20:24] = [20.0 * sigma ** 2, 4.0 * sigma ** 2, 2.6 * sigma ** 2, 1.4 * sigma ** 2]
    power[40:42] = 2.6 * sigma ** 2
    units = {0: np.array([3.0, 17.0, 25.0])}
    gc = dataclasses.replace(group(units, duration, power), kind="surface")
    read = lambda a, b: signal[None, a:b]
    scores = [window_periodicity(signal[int(t * fs):int((t + WS) * fs)], fs, SegmentParams().train_rate_hz)[0]
              for t in (10.0, 10.5, 11.0, 11.5, 20.0, 20.5)]
    assert min(scores) >= SegmentParams().train_periodicity
    segs, spans = segment_group(gc, units, np.array([sigma]), duration, read_window=read, return_periodic=True)
    assert segs.empty
    assert [(s.start, s.end) for s in spans] == [(10.0, 12.0), (20.0, 21.0)]


def test_one_units_train_taking_over_from_anothers_is_a_span_of_its_own():
    # A 220-Hz train at 10–11 s, then another unit's 150-Hz train at 11–12 s: each is read from
    # its own electrode at its own interval (one span would take the first train's).
    fs, rng, duration, sigma = 10000.0, np.random.default_rng(11), 30.0, 2.0
    first = 10.0 + np.cumsum(rng.normal(1.0, 0.02, 220)) / 220.0
    second = first[-1] + np.cumsum(rng.normal(1.0, 0.02, 148)) / 150.0
    signal = _signal(np.r_[first, second], fs, int(duration * fs), rng, noise=sigma)
    power = np.full(60, sigma ** 2)
    power[20:24] = 30 * sigma ** 2
    gc = dataclasses.replace(group({}, duration, power), kind="surface")
    segs, spans = segment_group(gc, {}, np.array([sigma]), duration, read_window=lambda a, b: signal[None, a:b],
                                return_periodic=True)
    assert segs.empty
    assert [(s.start, s.end) for s in spans] == [(10.0, 11.0), (11.0, 12.0)]
    assert spans[0].interval == pytest.approx(1 / 220.0, rel=0.05)
    assert spans[1].interval == pytest.approx(1 / 150.0, rel=0.05)


def test_a_train_on_a_few_electrodes_of_a_grid_is_tested_by_its_loudest_electrode():
    # 64 electrodes; one unit's train at 10–12 s on electrode 5 alone: four times the noise power
    # there, 5 % more in the mean over the grid, and no candidates.
    fs, rng, duration, sigma, n_ch = 10000.0, np.random.default_rng(10), 30.0, 2.0, 64
    train = 10.0 + np.cumsum(rng.normal(1.0, 0.02, 440)) / 220.0
    on_five = _signal(train, fs, int(duration * fs), rng, amplitudes=np.full(train.size, 0.07), noise=sigma)
    n_win = int(duration / WS)
    win = int(WS * fs)
    five = np.add.reduceat(on_five ** 2, np.arange(0, on_five.size, win)) / win
    steady_power = np.maximum(five, 1.1 * sigma ** 2)    # the train fills every quarter
    power = (five + (n_ch - 1) * sigma ** 2) / n_ch
    assert power[20:24].max() < 1.1 * sigma ** 2 and steady_power[20:24].min() > 3 * sigma ** 2
    gc = GroupCandidates(
        muscle="m", channels=np.arange(n_ch), kind="surface", samples=np.zeros(0, np.int64),
        main_channel=np.zeros(0, np.int64), peak_uv=np.zeros(0, np.float32),
        snippets=np.zeros((0, n_ch, 2), np.float16), before=1, after=1, window=win,
        window_power=power, window_bad=np.zeros(n_win), window_count=np.zeros(n_win),
        window_loudest=np.where(five >= 1.1 * sigma ** 2, 5, 0), window_steady_power=steady_power)

    def read(a, b, rows=None):
        rows = np.arange(n_ch) if rows is None else np.asarray(rows)
        out = rng.normal(0, sigma, (rows.size, b - a))
        out[rows == 5] = on_five[a:b]
        return out

    segs, spans = segment_group(gc, {}, np.full(n_ch, sigma), duration, read_window=read, return_periodic=True)
    assert segs.empty
    assert [(s.start, s.end) for s in spans] == [(10.0, 12.0)]


def test_a_small_train_on_a_bipolar_muscle_near_the_heart_is_tested_by_its_steady_power():
    # One electrode pair; a QRS in 85 % of the windows (2.2 σ², one quarter of the window), so the
    # quiet level is 2.2 σ²; a small train at 20–21 s fills its windows at 2.6 σ², under 1.5 × that.
    fs, rng, duration, sigma = 10000.0, np.random.default_rng(12), 30.0, 2.0
    small = 20.0 + np.cumsum(rng.normal(1.0, 0.02, 200)) / 200.0
    signal = _signal(small, fs, int(duration * fs), rng, noise=sigma, amplitudes=np.full(small.size, 0.1))
    power = np.where(rng.random(60) < 0.85, 2.2, 1.0) * sigma ** 2
    power[40:42] = 2.6 * sigma ** 2
    steady = np.full(60, 1.05 * sigma ** 2)   # a QRS fills one quarter of its window
    steady[40:42] = 2.6 * sigma ** 2          # the train all four
    gc = dataclasses.replace(group({}, duration, power), kind="surface", window_steady_power=steady)
    read = lambda a, b, rows=None: signal[None, a:b]
    segs, spans = segment_group(gc, {}, np.array([sigma]), duration, read_window=read, return_periodic=True)
    assert [(s.start, s.end) for s in spans] == [(20.0, 21.0)]
    without = dataclasses.replace(gc, window_steady_power=None)
    assert segment_group(without, {}, np.array([sigma]), duration, read_window=read, return_periodic=True)[1] == []


def test_a_train_split_over_many_templates_is_not_voluntary_when_the_signal_repeats():
    fs, rng, duration = 10000.0, np.random.default_rng(5), 30.0
    train = 10.0 + np.cumsum(rng.normal(1.0, 0.02, 440)) / 220.0    # 2 s at 220 Hz
    found = np.sort(rng.choice(train, 300, replace=False))          # sparsely found, split over 12 templates
    units = {k: found[k::12] for k in range(12)}
    power = np.full(60, 100.0)
    power[20:24] = 2000.0
    gc = group(units, duration, power)
    assert list(segment_group(gc, units, np.array([2.0]), duration).state) == ["voluntary"]

    def reader(signal):
        return lambda a, b: signal[None, a:b]

    periodic = _signal(train, fs, int(duration * fs), rng)
    segs, spans = segment_group(gc, units, np.array([2.0]), duration, read_window=reader(periodic),
                                return_periodic=True)
    assert segs.empty
    assert spans and spans[0][0] <= 10.5 and spans[-1][1] >= 11.5
    # The same discharges over asynchronous activity in the signal stay voluntary.
    shuffled = _signal(rng.uniform(10.0, 12.0, 440), fs, int(duration * fs), rng)
    segs, spans = segment_group(gc, units, np.array([2.0]), duration, read_window=reader(shuffled),
                                return_periodic=True)
    assert list(segs.state) == ["voluntary"] and spans == []


# ---------------------------------------------------------------- segment_group on synthetic firing
def test_two_myokymic_units_bursting_back_to_back_stay_rest():
    """One or two units' bursts can be as dense as voluntary firing; they are spontaneous activity."""
    rng = np.random.default_rng(1)
    units = {0: myokymic_unit(rng, 30.0), 1: myokymic_unit(rng, 30.0, intraburst_hz=30, n_per_burst=5)}
    gc = group(units, 30.0)
    assert gc.window_count.mean() / WS >= SegmentParams().interference_min_rate_hz   # dense by count alone
    segs = segment_group(gc, units, np.array([10.0]), 30.0)
    assert segs.empty


def test_one_units_loud_burst_is_rest_and_an_unsortable_interference_pattern_is_voluntary():
    """High power and many candidates: one myokymic unit of large MUAPs (its other phases are
    candidates too, half of them sorted, all to it) stays rest; a contraction too dense to sort
    (a tenth of its candidates sorted, over a few units) is voluntary, with the loud windows of
    one unit just before it."""
    rng = np.random.default_rng(3)
    bursts = np.arange(2.0, 28.0, 3.0)
    myokymic = np.sort(np.concatenate([b + np.arange(10) / 12.0 for b in bursts]))    # 12 Hz, 0.75 s
    phases = myokymic + 0.004                                                         # a second phase each
    power = np.full(60, 100.0)
    for b in bursts:
        power[int(b // WS): int((b + 0.75) // WS) + 1] = 1500.0
    gc = group({0: np.sort(np.r_[myokymic, phases])}, 30.0, power)
    assert np.max(gc.window_count) / WS >= SegmentParams().interference_min_rate_hz
    assert segment_group(gc, {0: myokymic}, np.array([10.0]), 30.0).empty
    # The interference pattern: 60 candidates/s for 6 s at 15× rest power, 6/s sorted over 3 units.
    cands = np.sort(rng.uniform(10.0, 16.0, 360))
    sorted_units = {k: np.sort(rng.choice(cands, 12, replace=False)) for k in range(3)}
    power = np.full(60, 100.0)
    power[20:32] = 1500.0
    segs = segment_group(group({0: cands}, 30.0, power), sorted_units, np.array([10.0]), 30.0)
    assert list(segs.state) == ["voluntary"]
    assert segs.start.iloc[0] <= 10.5 and segs.end.iloc[0] >= 15.5
    # The same contraction begun by one unit firing fast and loud for a second (as a cramp
    # begins): that second joins it.
    onset = np.arange(9.0, 10.0, 1 / 20.0)
    power[18:20] = 1500.0
    units = {**sorted_units, 3: onset}
    gc = group({0: np.sort(np.r_[cands, onset, onset + 0.004])}, 30.0, power)
    joined = segment_group(gc, units, np.array([10.0]), 30.0)
    assert list(joined.state) == ["voluntary"]
    assert joined.start.iloc[0] <= 9.0 - SegmentParams().voluntary_pad_s + 0.01


def test_many_units_recruited_together_are_voluntary():
    rng = np.random.default_rng(2)
    units = {k: regular_train(rng, 10.0, 16.0, rate_hz=rng.uniform(8, 20), cov=0.15) for k in range(10)}
    units[10] = np.sort(rng.uniform(0, 30, 8))        # a fasciculating unit throughout
    power = np.full(60, 100.0)
    power[20:32] = 2000.0                              # held effort: a plateau
    params = SegmentParams()
    segs = segment_group(group(units, 30.0, power), units, np.array([10.0]), 30.0, params)
    assert list(segs.state) == ["voluntary"]
    # Found on whole windows, then widened by the recruitment/derecruitment pad on each side.
    pad = params.voluntary_pad_s
    assert segs.start.iloc[0] == pytest.approx(10.0 - pad, abs=WS) and segs.end.iloc[0] == pytest.approx(16.0 + pad, abs=WS)
    bare = segment_group(group(units, 30.0, power), units, np.array([10.0]), 30.0,
                         SegmentParams(voluntary_pad_s=0.0))
    assert bare.start.iloc[0] - segs.start.iloc[0] == pytest.approx(pad)
    assert segs.end.iloc[0] - bare.end.iloc[0] == pytest.approx(pad)


def test_a_movement_inside_a_held_contraction_does_not_make_it_a_cramp():
    # Units fire irregularly (sorting errors inflate CV2 on surface electrodes), effort is held; a
    # movement at 13 s rings through the band-pass: its windows' power would be the envelope's peak.
    rng = np.random.default_rng(6)
    units = {k: regular_train(rng, 10.0, 17.0, rate_hz=rng.uniform(8, 20), cov=0.45) for k in range(12)}
    power = np.full(60, 100.0)
    power[20:34] = 2000.0
    power[26:28] = 40000.0
    gc = group(units, 30.0, power)
    assert list(segment_group(gc, units, np.array([10.0]), 30.0).state) == ["cramp"]   # no slow content seen
    step = int(SegmentParams().slow_step_s * 10000)
    slow = np.zeros((1, int(30.0 * 10000) // step))
    slow[0, int(13.0 / 0.05):int(13.6 / 0.05)] = 800.0                    # the movement (µV, raw mean)
    gc.slow, gc.slow_step = slow, step
    segs = segment_group(gc, units, np.array([10.0]), 30.0)
    assert sorted(segs.state) == ["artifact", "voluntary"]


def test_plateau_share_leaves_out_windows_set_aside():
    held = np.r_[0.2, np.ones(18), 0.2] * 1000
    assert plateau_share(np.r_[held[:9], 50.0 * held[9:11], held[11:]]) < 0.3        # a spike is the peak
    assert plateau_share(np.r_[held[:9], [np.nan, np.nan], held[11:]]) >= 0.8


def test_a_contraction_reaches_back_to_its_first_recruited_unit():
    # Ten units held 10–16 s; the first one was recruited at 8.0 s and fires alone at 6 Hz until the
    # others join (Henneman), and derecruited last at 17.5 s. A fasciculating unit fires at 7.2 s.
    rng = np.random.default_rng(7)
    units = {k: regular_train(rng, 10.0, 16.0, rate_hz=rng.uniform(8, 20), cov=0.15) for k in range(10)}
    rate = lambda t: np.interp(t, [8.0, 10.0, 16.0, 17.5], [6.0, 12.0, 12.0, 6.0])   # ramp, hold, ramp
    t = [8.0]
    while t[-1] < 17.5:
        t.append(t[-1] + 1.0 / rate(t[-1]))
    units[0] = np.array(t[:-1])
    units[10] = np.array([2.0, 7.2, 20.0, 25.0])
    power = np.full(60, 100.0)
    power[20:32] = 2000.0
    params = SegmentParams(voluntary_pad_s=0.0)
    segs = segment_group(group(units, 30.0, power), units, np.array([10.0]), 30.0, params)
    assert list(segs.state) == ["voluntary"]
    assert segs.start.iloc[0] == pytest.approx(8.0) and segs.end.iloc[0] == pytest.approx(units[0][-1])
    # A myokymic unit bursting at 20 Hz from 15.6 s on: its silences end the walk at its first burst.
    bursts = 15.6 + myokymic_unit(rng, 8.0)
    units[11] = bursts
    segs = segment_group(group(units, 30.0, power), units, np.array([10.0]), 30.0, params)
    assert list(segs.state) == ["voluntary"] and segs.end.iloc[0] <= units[0][-1] + 0.5


def test_a_cramp_reaches_over_one_long_interval_of_its_first_and_last_units():
    # A cramp's units fire irregularly: the first unit fires at 6-7 Hz from 8.0 s, pauses 0.4 s
    # (longer than the slowest voluntary interval, 0.25 s) and fires on into the contraction
    # found at 10-16 s; the last fires on after it, pauses 0.45 s and fires three more times.
    from emgkit.detect.segment import _recruitment_span

    onset = np.array([8.0, 8.16, 8.31, 8.47])
    inside = 8.87 + np.arange(0, 7.3, 0.1)
    tail = inside[-1] + 0.45 + np.array([0.0, 0.15, 0.31])
    span = lambda times, factor: _recruitment_span(10.0, 16.0, {0: times}, 0.04, 0.25, 2.0, factor)
    assert span(np.r_[onset, inside, tail], 2.0) == pytest.approx((8.0, tail[-1]))
    assert span(np.r_[onset, inside, tail], 0.0) == pytest.approx((8.87, inside[-1]))
    # Two discharges beyond the pause are not a unit firing steadily, nor is a pause beyond twice the interval.
    assert span(np.r_[onset[2:], inside, tail[:2]], 2.0) == pytest.approx((8.87, inside[-1]))
    assert span(np.r_[onset - 0.2, inside, tail + 0.1], 2.0) == pytest.approx((8.87, inside[-1]))
    # Held effort (regular firing) is not followed over such pauses: only a cramp's irregular units.
    rng = np.random.default_rng(8)
    units = {k: regular_train(rng, 10.0, 16.0, rate_hz=rng.uniform(8, 20), cov=0.15) for k in range(10)}
    units[0] = np.r_[onset, inside[inside < 16.0]]
    power = np.full(60, 100.0)
    power[20:32] = 2000.0
    segs = segment_group(group(units, 30.0, power), units, np.array([10.0]), 30.0, SegmentParams(voluntary_pad_s=0.0))
    assert list(segs.state) == ["voluntary"] and segs.start.iloc[0] == pytest.approx(8.87)


def test_irregular_rise_and_fall_recruitment_is_a_cramp():
    """Minetto 2009: many units, 6–25 pps, ISI CoV ≈ 0.45, recruited then derecruited."""
    rng = np.random.default_rng(3)
    start, end, peak = 8.0, 20.0, 14.0
    units = {}
    for k, threshold in enumerate(np.linspace(0.05, 0.8, 15)):
        times, t = [], start
        while t < end:
            drive = (t - start) / (peak - start) if t < peak else (end - t) / (end - peak)
            if drive > threshold:
                times.append(t)
                rate = 6 + 19 * (drive - threshold) / (1 - threshold)
                t += rng.gamma(1 / 0.45 ** 2, 0.45 ** 2 / rate)
            else:
                t += 0.02
        if len(times) > 2:
            units[k] = np.array(times)
    count = group(units, 30.0).window_count
    power = 100.0 + 50.0 * count ** 2                  # interference power grows with recruitment
    segs = segment_group(group(units, 30.0, power), units, np.array([10.0]), 30.0)
    assert list(segs.state) == ["cramp"]
    assert segs.start.iloc[0] <= 10.0 and segs.end.iloc[0] >= 18.0


# ---------------------------------------------------------------- end to end on the simulator
def test_simulated_cramp_is_one_cramp_segment_and_one_cramp_event():
    rec, truth = emgkit.simulate("cramp", electrode="needle", duration=30, seed=0)
    true_cramp = truth.segments[truth.segments.state == "cramp"]
    assert len(true_cramp) == 1
    res = emgkit.detect(rec, hash_input=False)
    cramp = res.segments[res.segments.state == "cramp"]
    assert len(cramp) == 1
    t0, t1 = true_cramp.start.iloc[0], true_cramp.end.iloc[0]
    overlap = min(t1, cramp.end.iloc[0]) - max(t0, cramp.start.iloc[0])
    assert overlap >= 0.8 * (t1 - t0)
    assert (res.events.kind == "cramp").sum() == 1
    s = emgkit.evaluate(truth, res, tolerance=0.0015)
    ev = s.events[(s.events.muscle == "ALL") & (s.events.kind == "cramp")].iloc[0]
    assert ev.f1 == 1.0


def test_two_units_firing_tonically_with_missed_discharges_are_a_weak_contraction():
    """Two units at ~11 Hz (CoV 0.2) with a fifth of their discharges missed: a weak contraction.

    Missed discharges push each unit's interval CoV past the voluntary limit, and two units stay
    below the dense rule's effective-unit count; the units still fire without silences.
    """
    rng = np.random.default_rng(4)
    units = {}
    for k, rate in enumerate((11.0, 12.0)):
        t = regular_train(rng, 16.0, 19.5, rate_hz=rate, cov=0.2)
        units[k] = t[rng.uniform(size=t.size) > 0.2]
    segs = segment_group(group(units, 30.0), units, np.array([10.0]), 30.0)
    vol = segs[segs.state == "voluntary"]
    assert len(vol) == 1
    assert vol.start.iloc[0] <= 16.5 and vol.end.iloc[0] >= 19.0


def test_a_train_split_over_many_templates_is_not_voluntary():
    """A 200-Hz neuromyotonic train whose discharges a waning MUAP spreads over 5 templates in turn
    (and a sixth for stray pieces) stays rest: each template fires faster than any voluntary rate."""
    rng = np.random.default_rng(5)
    train = 5.0 + np.cumsum(rng.normal(0.005, 0.0005, 300))            # 200 Hz for 1.5 s
    stage = np.minimum((train - 5.0) // 0.3, 4).astype(int)           # the template drifts
    split = np.where(rng.uniform(size=train.size) < 0.5, stage, (stage + 1) % 5)
    units = {k: np.sort(train[split == k]) for k in range(5)}
    units[5] = np.sort(rng.uniform(0, 30, 10))                        # a fasciculating unit
    power = np.full(60, 100.0)
    power[10:13] = 5000.0                                             # a train is loud
    segs = segment_group(group(units, 30.0, power), units, np.array([10.0]), 30.0)
    assert segs.empty


def test_long_myokymic_bursts_filling_most_of_the_time_stay_rest():
    """Two units bursting 10 discharges at 25 Hz with silences of ~3 intervals (as the simulator's
    myokymia): the bursts fill ~75 % of the time at voluntary rates, but the units fall silent."""
    rng = np.random.default_rng(6)
    units = {0: myokymic_unit(rng, 30.0, intraburst_hz=25.0, n_per_burst=10, silence_s=0.09),
             1: myokymic_unit(rng, 30.0, intraburst_hz=24.0, n_per_burst=10, silence_s=0.1)}
    gc = group(units, 30.0)
    assert gc.window_count.mean() / WS >= SegmentParams().interference_min_rate_hz
    segs = segment_group(gc, units, np.array([10.0]), 30.0)
    assert segs.empty


def test_lone_discharges_crowded_next_to_a_contraction_are_its_recruitment():
    import pandas as pd
    from emgkit.detect.params import SegmentParams
    from emgkit.detect.segment import recruitment_states

    fs = 1000.0
    segs = pd.DataFrame([{"muscle": "m", "state": "voluntary", "start": 10.0, "end": 20.0},
                         {"muscle": "m", "state": "artifact", "start": 40.0, "end": 41.0}])
    ramp = np.arange(9550, 10000, 50)                          # 20 Hz, just before the contraction
    lone_near = np.array([20500, 20510, 20520])                # a triplet 0.5 s after it: its own crowd
    far_crowd = np.array([30000, 30100, 30200])                # crowded, but 10 s away
    by_artifact = np.array([41200, 41300, 41400])              # next to an artifact, not a contraction
    all_samples = np.sort(np.concatenate([ramp, lone_near, far_crowd, by_artifact]))
    params = SegmentParams()
    states = recruitment_states(ramp, all_samples, fs, segs, params)
    assert list(states) == ["voluntary"] * 9
    assert list(recruitment_states(lone_near, all_samples, fs, segs, params)) == ["rest"] * 3
    assert list(recruitment_states(far_crowd, all_samples, fs, segs, params)) == ["rest"] * 3
    assert list(recruitment_states(by_artifact, all_samples, fs, segs, params)) == ["rest"] * 3
    # Beyond the margin, or with too few neighbours, nothing changes.
    assert list(recruitment_states(ramp, all_samples, fs, segs, SegmentParams(recruitment_margin_s=0.35))) == \
        ["rest"] * 2 + ["voluntary"] * 7
    assert list(recruitment_states(ramp[:1], ramp[:2], fs, segs, params)) == ["rest"]
    cramp = segs.assign(state=["cramp", "artifact"])
    assert list(recruitment_states(ramp[2:3], all_samples, fs, cramp, params)) == ["cramp"]
    assert recruitment_states(np.zeros(0, np.int64), all_samples, fs, segs, params).size == 0


def test_continuous_spontaneous_activity_of_several_units_on_a_grid_stays_rest():
    """emgkit's simulated Isaacs' syndrome on an HD grid (seed 2: three myokymic units bursting
    throughout, two neuromyotonic units, fasciculations with doublets and multiplets): dense
    across many templates like a contraction, but no unit fires steadily at voluntary rates. At
    most 5 % of its rest time is excluded (the detector issue's limit); with density alone 76 %
    was called voluntary."""
    rec, truth = emgkit.simulate("isaacs", electrode="grid", duration=30.0, seed=2)
    res = emgkit.detect(rec, hash_input=False)
    seg = emgkit.evaluate(truth, res, tolerance=0.003).segments
    assert seg["rest_excluded_share"].max() <= 0.05


def test_a_contractions_unsteady_onset_window_joins_it_on_surface():
    """A window dense across several templates but with no steady unit (recruitment) beside a
    steady contraction joins it; the same window alone stays rest."""
    rng = np.random.default_rng(12)
    steady = {k: regular_train(rng, 10.0, 16.0, rate_hz=rng.uniform(10, 18), cov=0.1) for k in range(4)}
    onset = {100 + k: np.sort(rng.uniform(9.5, 10.0, 3)) for k in range(6)}
    units = {**steady, **onset}
    power = np.full(60, 100.0)
    segs = segment_group(group(units, 30.0, power, kind="surface"), units, np.array([10.0]), 30.0,
                         SegmentParams(voluntary_pad_s=0.0))
    assert list(segs.state) == ["voluntary"] and segs.start.iloc[0] <= 9.5 + 1e-9
    alone = {k: t + 10.0 for k, t in onset.items()}
    assert segment_group(group(alone, 30.0, power, kind="surface"), alone, np.array([10.0]), 30.0).empty


def test_a_trains_onset_and_end_windows_are_periodic_at_its_interval_but_a_contraction_beside_it_is_not():
    from emgkit.detect.segment import continued_periodicity, continued_windows
    fs, window = 2048.0, 1024
    params = SegmentParams()
    t = np.arange(-0.012, 0.012, 1 / fs)
    muap = 20.0 * (np.exp(-((t + 0.0015) / 0.0012) ** 2) - 0.8 * np.exp(-((t - 0.002) / 0.0016) ** 2))

    def add(x, times, amplitudes):
        for s, a in zip(times, amplitudes):
            i = int(round(s * fs)) - muap.size // 2
            if 0 <= i and i + muap.size <= x.size:
                x[i:i + muap.size] += a * muap
        return x

    lowest_contraction = []
    for seed in range(10):
        rng = np.random.default_rng(40 + seed)
        # A 220-Hz train from 0.4 s to 1.6 s: it fills windows 1 and 2, a fifth of window 0 (its
        # onset, the first MUAPs the largest) and of window 3.
        train = 0.4 + np.cumsum(rng.normal(1.0, 0.02, 264)) / 220.0
        x = add(rng.normal(0.0, 2.0, 4 * window), train, np.r_[np.linspace(2.5, 1.0, 8), np.ones(256)])
        read = lambda a, b, rows=None: x[None, a:b]
        periodic = np.array([False, True, True, False])
        lags = np.array([0.0, *(window_periodicity(x[i * window:(i + 1) * window], fs, params.train_rate_hz)[1]
                                for i in (1, 2)), 0.0])
        got, got_lags = continued_windows(periodic, lags, read, window, fs, params)
        assert got.tolist() == [True, True, True, True]
        assert got_lags[0] == pytest.approx(fs / 220.0, rel=0.1) and got_lags[3] == pytest.approx(fs / 220.0, rel=0.1)
        off = dataclasses.replace(params, train_continuation_periodicity=1.0)
        assert continued_windows(periodic, lags, read, window, fs, off)[0].tolist() == periodic.tolist()
        # Fifteen units contracting at voluntary rates in the windows beside the train instead.
        y = x.copy()
        for i in (0, 3):
            y[i * window:(i + 1) * window] = rng.normal(0.0, 2.0, window)
            many = np.concatenate([regular_train(rng, i * 0.5, (i + 1) * 0.5, rng.uniform(8, 25), 0.15)
                                   for _ in range(15)])
            add(y, many, rng.uniform(0.5, 2.0, many.size))
            lowest_contraction.append(continued_periodicity(y[i * window:(i + 1) * window], fs, lags[1 if i == 0 else 2] / fs,
                                                            params.train_interval_step)[0])
        read_y = lambda a, b, rows=None: y[None, a:b]
        assert continued_windows(periodic, lags, read_y, window, fs, params)[0].tolist() == periodic.tolist()
    assert max(lowest_contraction) < params.train_continuation_periodicity


def test_a_read_trains_stretch_leaves_voluntary_segments_and_nothing_else():
    import pandas as pd
    from emgkit.detect import _release_trains
    segs = pd.DataFrame({"muscle": "m", "state": ["voluntary", "artifact", "voluntary"],
                         "start": [14.0, 14.2, 20.0], "end": [15.25, 14.4, 21.0]})
    out = _release_trains(segs, [(13.6, 14.96), (20.3, 20.5)])
    assert out[["state", "start", "end"]].values.tolist() == [
        ["voluntary", 14.96, 15.25], ["artifact", 14.2, 14.4], ["voluntary", 20.0, 20.3], ["voluntary", 20.5, 21.0]]
    # A train covering a whole contraction segment removes it; no trains: unchanged.
    assert _release_trains(segs.iloc[:1], [(13.0, 16.0)]).empty
    assert _release_trains(segs, []).equals(segs)
