"""A high-frequency train's discharges read from its periodic signal (trains.train_discharges)."""
import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt

from emgkit.detect.params import PatternParams, PreprocessParams, UnitParams
from emgkit.detect.trains import train_discharges

FS = 2048.0


def surface_muap(amplitude, fs=FS):
    """A biphasic surface MUAP about 8 ms long."""
    t = np.arange(-0.012, 0.012, 1 / fs)
    return amplitude * (np.exp(-((t + 0.0015) / 0.0012) ** 2) - 0.8 * np.exp(-((t - 0.002) / 0.0016) ** 2))


def add_muaps(x, times, muap, fs=FS):
    peak = int(np.argmax(np.abs(muap)))
    for s in times:
        i = int(round(s * fs)) - peak
        if 0 <= i and i + muap.size <= x.size:
            x[i:i + muap.size] += muap
    return x


def jittered_train(rng, start, duration, rate_hz):
    n = int(duration * rate_hz)
    return start + np.cumsum(rng.normal(1.0, 0.02, n)) / rate_hz


def nearest_gap(found, times):
    if found.size == 0:
        return np.full(times.size, np.inf)
    j = np.clip(np.searchsorted(found, times), 1, max(found.size - 1, 1))
    return np.minimum(np.abs(times - found[j - 1]), np.abs(found[np.minimum(j, found.size - 1)] - times))


def test_each_period_of_a_train_under_the_candidate_threshold_is_a_discharge():
    rng = np.random.default_rng(0)
    train = jittered_train(rng, 0.6, 1.0, 200.0)
    x = add_muaps(rng.normal(0.0, 1.0, int(2.2 * FS)), train, surface_muap(6.0))
    # A lone MUAP well away from the train is no part of it.
    x = add_muaps(x, [1.9], surface_muap(15.0))
    peaks = train_discharges(x, FS, 1 / 200.0, 1.0)
    found = peaks / FS
    # The summed wave peaks at one phase of the overlapping MUAPs, a little off each MUAP's own
    # peak: within the surface tolerance (±3 ms), one peak per discharge.
    assert np.mean(nearest_gap(found, train) <= 0.003) >= 0.95
    assert 0.95 * train.size <= found.size <= 1.02 * train.size
    assert found.min() >= train[0] - 0.01 and found.max() <= train[-1] + 0.01
    # The same train of a MUAP whose main phase is negative.
    y = add_muaps(rng.normal(0.0, 1.0, int(2.2 * FS)), train, -surface_muap(6.0))
    assert np.mean(nearest_gap(train_discharges(y, FS, 1 / 200.0, 1.0) / FS, train) <= 0.003) >= 0.95


def test_noise_lone_muaps_and_short_runs_are_no_train():
    rng = np.random.default_rng(1)
    noise = rng.normal(0.0, 1.0, int(5 * FS))
    assert train_discharges(noise, FS, 1 / 200.0, 1.0).size == 0
    lone = add_muaps(noise.copy(), rng.uniform(0.1, 4.9, 20), surface_muap(20.0))
    assert train_discharges(lone, FS, 1 / 200.0, 1.0).size == 0
    # 0.2 s at 200 Hz: shorter than a neuromyotonic discharge (a multiplet's business, not a train's).
    short = add_muaps(noise.copy(), jittered_train(rng, 1.0, 0.2, 200.0), surface_muap(6.0))
    assert PatternParams().neuromyotonic_min_duration_s > 0.2
    assert train_discharges(short, FS, 1 / 200.0, 1.0).size == 0


def test_peaks_under_the_floor_are_left_out():
    rng = np.random.default_rng(2)
    train = jittered_train(rng, 0.5, 1.0, 180.0)
    x = add_muaps(rng.normal(0.0, 1.0, int(2 * FS)), train, surface_muap(6.0))
    assert train_discharges(x, FS, 1 / 180.0, 1.0).size > 0
    assert train_discharges(x, FS, 1 / 180.0, 1.0, unit_params=UnitParams(train_peak_floor_sd=50.0)).size == 0


def test_degenerate_input_gives_no_discharges():
    x = np.zeros(100)
    assert train_discharges(x, FS, 1 / 200.0, 1.0).size == 0
    assert train_discharges(np.ones(1000), FS, 0.0, 1.0).size == 0       # no interval
    assert train_discharges(np.ones(1000), FS, 1 / 200.0, 0.0).size == 0  # no noise level
    assert train_discharges(np.full(1000, np.nan), FS, 1 / 200.0, 1.0).size == 0


def broad_muap(amplitude, fs):
    """A surface MUAP with a large net area: a broad phase 6 ms wide and a sharper one on it."""
    t = np.arange(-0.02, 0.02, 1 / fs)
    return amplitude * (np.exp(-(t / 0.006) ** 2) + 0.35 * np.exp(-((t - 0.001) / 0.0012) ** 2))


def test_a_waning_train_summing_into_a_step_is_read_in_the_band_of_its_rate():
    from emgkit.detect.trains import train_band
    fs, rate = 1024.0, 240.0
    rng = np.random.default_rng(3)
    train = jittered_train(rng, 0.8, 1.2, rate)
    # A neuromyotonic discharge wanes (45 -> 16 µV); its MUAPs overlap ~5 deep and, through the
    # surface band-pass (20–450 Hz), sum into a sloping step with a small ripple at the rate.
    sos = butter(2, PreprocessParams().surface_band_hz, btype="band", fs=fs, output="sos")
    summed = np.zeros(int(2.8 * fs))
    for t, a in zip(train, 45.0 * np.linspace(1, 0.35, train.size) * rng.normal(1, 0.05, train.size)):
        add_muaps(summed, [t], broad_muap(a, fs), fs)
    x = sosfiltfilt(sos, summed) + rng.normal(0.0, 1.0, summed.size)
    interval, core = 1 / rate, slice(int(0.8 * fs), int(2.0 * fs))
    # On the slope many of the ripple's peaks are no local maxima of the wide-band signal.
    assert train_discharges(x, fs, interval, 1.0, core=core).size < 0.7 * train.size
    # The noise of the band-passed reading, measured on a quiet stretch of the same channel.
    quiet = train_band(rng.normal(0.0, 1.0, int(0.5 * fs)), fs, interval)
    band_sigma = 1.4826 * np.median(np.abs(quiet - np.median(quiet)))
    assert 0.3 < band_sigma < 1.0   # a part of the wide band's noise
    found = train_discharges(x, fs, interval, 1.0, core=core, band_sigma=band_sigma) / fs
    # One per discharge, each within the surface tolerance (±3 ms) of one.
    assert np.mean(nearest_gap(np.sort(found), train) <= 0.003) >= 0.9
    assert 0.9 * train.size <= found.size <= 1.05 * train.size
    assert found.min() >= train[0] - 0.01 and found.max() <= train[-1] + 0.01
    # Noise alone and lone MUAPs read in the band are no train; the band can be turned off.
    noise = rng.normal(0.0, 1.0, int(5 * fs))
    assert train_discharges(noise, fs, interval, 1.0, band_sigma=band_sigma).size == 0
    lone = add_muaps(noise.copy(), rng.uniform(0.1, 4.9, 20), sosfiltfilt(sos, broad_muap(40.0, fs)), fs)
    assert train_discharges(lone, fs, interval, 1.0, band_sigma=band_sigma).size == 0
    assert train_discharges(x, fs, interval, 1.0, core=core, band_sigma=band_sigma,
                            unit_params=UnitParams(train_band=())).size < 0.7 * train.size


def test_a_surface_train_is_read_at_its_own_rate_not_at_half_of_it():
    from emgkit.detect.trains import fundamental_interval
    fs = 2048.0
    sos = butter(2, PreprocessParams().surface_band_hz, btype="band", fs=fs, output="sos")
    core = slice(int(0.6 * fs), int(1.6 * fs))
    for rate in (120.0, 240.0):
        rng = np.random.default_rng(int(rate))
        train = jittered_train(rng, 0.5, 1.2, rate)
        summed = add_muaps(np.zeros(int(2.2 * fs)), train, broad_muap(30.0, fs), fs)
        x = sosfiltfilt(sos, summed) + rng.normal(0.0, 1.0, summed.size)
        # The signal repeats at twice the interval too: read from there, the train's own rate.
        assert fundamental_interval(x, fs, 2 / rate, 350.0, core=core) == pytest.approx(1 / rate)
        assert fundamental_interval(x, fs, 1 / rate, 350.0, core=core) == pytest.approx(1 / rate)
    # No sub-multiple faster than the highest train rate; the band off, nothing changes.
    assert fundamental_interval(x, fs, 2 / 240.0, 200.0, core=core) == pytest.approx(2 / 240.0)
    assert fundamental_interval(x, fs, 2 / 240.0, 350.0, UnitParams(train_band=()), core=core) == 2 / 240.0


def test_a_ripple_of_two_noise_sd_is_read_cycle_by_cycle_from_its_band_amplitude():
    from emgkit.detect.trains import train_band
    fs, rate = 2048.0, 220.0
    interval, core = 1 / rate, slice(int(0.8 * fs), int(2.0 * fs))
    for seed in (10, 11, 12):
        rng = np.random.default_rng(seed)
        train = jittered_train(rng, 0.8, 1.2, rate)
        # A small surface train: its ripple in the band of its rate stands ~2.3–2.5 noise SD high.
        x = add_muaps(rng.normal(0.0, 1.0, int(2.8 * fs)), train, surface_muap(2.0, fs), fs)
        quiet = train_band(rng.normal(0.0, 1.0, int(0.5 * fs)), fs, interval)
        band_sigma = 1.4826 * np.median(np.abs(quiet - np.median(quiet)))
        found = train_discharges(x, fs, interval, 1.0, core=core, band_sigma=band_sigma) / fs
        assert np.mean(nearest_gap(np.sort(found), train) <= 0.003) >= 0.85
        assert found.size <= 1.05 * train.size
        assert found.min() >= train[0] - 0.015 and found.max() <= train[-1] + 0.015
        # Peak by peak, the noise hides many of its cycles.
        single = train_discharges(x, fs, interval, 1.0, core=core, band_sigma=band_sigma,
                                  unit_params=UnitParams(train_envelope_floor_sd=0.0)) / fs
        assert np.mean(nearest_gap(np.sort(single), train) <= 0.003) < 0.6
    # Band-passed noise alone averages 1.25 SD: 100 s of it hold no train.
    for seed in range(20):
        noise = np.random.default_rng(100 + seed).normal(0.0, 1.0, int(5 * fs))
        assert train_discharges(noise, fs, interval, 1.0, band_sigma=band_sigma).size == 0


def test_a_second_units_train_on_electrodes_of_its_own_is_found_beside_the_first():
    from emgkit.detect.trains import second_train
    rng = np.random.default_rng(8)
    n = int(1.5 * FS)
    first = jittered_train(rng, 0.0, 1.5, 290.0)
    second = jittered_train(rng, 0.1, 1.3, 206.0)
    grid = rng.normal(0.0, 1.0, (20, n))
    for ch in range(10):              # the first unit's electrodes, largest on 0
        add_muaps(grid[ch], first, surface_muap(12.0 / (1 + ch)))
    for ch in range(10, 20):          # the second unit's, largest on 15
        add_muaps(grid[ch], second, surface_muap(10.0 / (1 + abs(ch - 15))))
    found = second_train(grid, FS, 0, 1 / 290.0)
    assert found is not None and 10 <= found[0] < 20
    assert found[1] == pytest.approx(1 / 206.0, rel=0.06)
    # One train alone, seen on several electrodes: no second one (nor its interval's multiples).
    alone = rng.normal(0.0, 1.0, (20, n))
    for ch in range(20):
        add_muaps(alone[ch], first, surface_muap(12.0 / (1 + ch)))
    assert second_train(alone, FS, 0, 1 / 290.0) is None
    assert second_train(rng.normal(0.0, 1.0, (20, n)), FS, 0, 1 / 290.0) is None


def test_two_units_trains_overlapping_on_a_grid_are_both_read():
    import pandas as pd

    from emgkit.detect import _train_rows
    from emgkit.detect.params import DetectionParams
    from emgkit.detect.segment import PeriodicSpan

    rng = np.random.default_rng(9)
    duration = 3.0
    first = jittered_train(rng, 0.6, 1.2, 290.0)
    second = jittered_train(rng, 0.8, 0.8, 206.0)
    grid = rng.normal(0.0, 1.0, (20, int(duration * FS)))
    for ch in range(10):
        add_muaps(grid[ch], first, surface_muap(12.0 / (1 + ch)))
    for ch in range(10, 20):
        add_muaps(grid[ch], second, surface_muap(10.0 / (1 + abs(ch - 15))))

    def read_filtered(a, b, rows=None):
        if not 0 <= a < b <= grid.shape[1]:
            return None
        return grid[:, a:b] if rows is None else grid[rows, a:b]

    rows = pd.DataFrame({"time": [], "unit": [], "ch": [], "amplitude": [], "state": [], "snr": []})
    # Segmentation gives the span the interval of the train on its loudest electrode.
    core = grid[:, int(0.75 * FS):int(1.5 * FS)]
    loudest = int(np.argmax(np.sum(core * core, axis=1)))
    span = [PeriodicSpan(0.75, 1.5, 1 / 290.0 if loudest < 10 else 1 / 206.0)]
    quiet = ((int(2.5 * FS), int(3.0 * FS)),)
    p = DetectionParams()
    assert grid.shape[0] >= p.spikes.grid_min_channels
    found, new_units, read = _train_rows(rows, span, read_filtered, np.ones(20), FS, duration, p, 0, quiet,
                                         surface=True)
    assert len(read) == 2 and len(new_units) == 2
    for train in (first, second):
        times = np.sort(found["time"].to_numpy())
        assert np.mean(nearest_gap(times, train) <= 0.003) >= 0.9
    # Each train is one unit of its own, read on its own electrodes.
    units = found.groupby("unit")["ch"].first()
    assert sorted(units.map(lambda ch: ch >= 10)) == [False, True]


def test_a_small_train_beside_a_louder_units_discharge_is_found_and_read_on_its_own_electrode():
    import pandas as pd

    from emgkit.detect import _train_rows, dsp
    from emgkit.detect.params import DetectionParams, SegmentParams
    from emgkit.detect.segment import PeriodicSpan, periodic_windows
    from emgkit.detect.trains import train_band

    rng = np.random.default_rng(11)
    duration = 3.0
    train = jittered_train(rng, 0.5, 2.0, 222.0)
    grid = rng.normal(0.0, 1.0, (20, int(duration * FS)))
    for ch in range(4, 8):                     # a small unit's train, largest on electrode 5
        add_muaps(grid[ch], train, surface_muap(8.0 / (1 + abs(ch - 5))))
    for ch in range(14, 18):                   # another unit's large discharges, one per window
        add_muaps(grid[ch], np.arange(0.6, 2.6, 0.5), surface_muap(120.0 / (1 + abs(ch - 15))))
    core = grid[:, int(0.5 * FS):int(2.5 * FS)]
    assert np.argmax(np.sum(train_band(core, FS, 1 / 222.0) ** 2, axis=1)) == 15   # even at the train's rate
    sp = SegmentParams()
    win = int(round(sp.window_s * FS))
    power, loudest, steady, steady_loudest = dsp.window_power(grid, win, return_loudest=True)
    inside = [1, 2, 3, 4]                      # windows within the train
    assert all(loudest[inside] == 15) and all(steady_loudest[inside] == 5)

    def read_window(a, b, rows=None):
        return grid[:, a:b] if rows is None else grid[rows, a:b]

    test = np.zeros(power.size, dtype=bool)
    test[inside] = True
    only_loudest = periodic_windows(test, read_window, win, FS, sp, loudest=loudest)
    both = periodic_windows(test, read_window, win, FS, sp, loudest=loudest, steady_loudest=steady_loudest)
    assert not only_loudest[inside].any() and both[inside].all()

    # The train is read on its own electrode, where it holds the power at its rate.
    rows = pd.DataFrame({"time": [], "unit": [], "ch": [], "amplitude": [], "state": [], "snr": []})
    found, _, _ = _train_rows(rows, [PeriodicSpan(0.5, 2.5, 1 / 222.0)], read_window, np.ones(20), FS, duration,
                              DetectionParams(), 0, ((0, int(0.4 * FS)),), surface=True)
    assert np.mean(nearest_gap(np.sort(found["time"].to_numpy()), train) <= 0.003) >= 0.9
    assert set(found["ch"]) == {5}


def test_a_waning_trains_weak_stretches_are_read_on_at_its_rhythm_and_not_beyond_its_end():
    from emgkit.detect.trains import train_band
    fs, rate = 2048.0, 220.0
    interval = 1 / rate
    off = UnitParams(train_extend_floor_sd=0.0)
    hits = {"with": [], "without": []}
    precision = {"with": [], "without": []}
    for seed in (20, 21, 22):
        rng = np.random.default_rng(seed)
        train = jittered_train(rng, 0.8, 1.5, rate)
        # Its MUAPs wane to 40 % (a surface train's last third falls under the cycle-by-cycle floor).
        x = rng.normal(0.0, 1.0, int(3.3 * fs))
        for t, a in zip(train, np.linspace(2.5, 1.0, train.size)):
            add_muaps(x, [t], surface_muap(a, fs), fs)
        quiet = train_band(rng.normal(0.0, 1.0, int(0.5 * fs)), fs, interval)
        band_sigma = 1.4826 * np.median(np.abs(quiet - np.median(quiet)))
        core = slice(int(0.8 * fs), int(1.3 * fs))
        later = train[train.size // 3:]
        for name, params in (("with", None), ("without", off)):
            found = np.sort(train_discharges(x, fs, interval, 1.0, core=core, band_sigma=band_sigma,
                                             unit_params=params)) / fs
            hits[name].append(nearest_gap(found, later) <= 0.002)
            precision[name].append(np.mean(nearest_gap(train, found) <= 0.002))
            # Never read on into the noise after the train.
            assert found.max() <= train[-1] + 3 * interval
    recall = {k: np.mean(np.concatenate(v)) for k, v in hits.items()}
    assert recall["with"] >= recall["without"] + 0.1
    assert np.mean(precision["with"]) >= np.mean(precision["without"]) - 0.05


def test_a_train_is_continued_through_its_peaks_inside_and_at_its_rhythm_beyond_its_ends():
    from emgkit.detect.trains import continued_train
    train = np.arange(100, 201, 10)                        # a chain, interval 10
    peaks = np.array([40, 79, 90, 125, 130, 211, 221, 229, 250, 262, 300])
    got = continued_train(train[train != 130], peaks, max_gap=30, interval_share=(0.8, 1.25))
    # Inside: every peak (125, 130); after: 211, 221, 229, then 250 one cycle missed, then 262
    # (12 on: within 1.25 × 10); 300 is too far; before: 90, 79; 40 lies beyond a missed cycle.
    assert got.tolist() == sorted(set(train.tolist()) | {79, 90, 125, 211, 221, 229, 250, 262})
    # A chain shorter than three, or no peaks: unchanged.
    assert continued_train(np.array([100, 110]), peaks, 30, (0.8, 1.25)).tolist() == [100, 110]
    assert continued_train(train, np.zeros(0, np.int64), 30, (0.8, 1.25)).tolist() == train.tolist()


def test_extension_parameters_are_checked():
    from emgkit.errors import ParameterError
    with pytest.raises(ParameterError, match="train_extend_interval"):
        UnitParams(train_extend_interval=(1.1, 1.2)).validate()
    with pytest.raises(ParameterError, match="train_extend_floor_sd"):
        UnitParams(train_extend_floor_sd=-1.0).validate()
