"""Bounded memory on long recordings: candidate waveforms beyond a budget live in a temporary file.

The spilled store must index exactly like the in-memory float16 array it replaces (units and
the detector index it with ints, slices, boolean masks and integer arrays), detection must give
the same results whether or not waveforms were spilled, and the detection stage's peak memory
must not grow with the recording's duration.
"""
import tracemalloc

import numpy as np
import pytest

import emgkit
from emgkit.detect import detect
from emgkit.detect import spikes
from emgkit.detect.params import PreprocessParams
from emgkit.detect.preprocess import plan_preprocessing
from emgkit.detect.spikes import SpilledWaveforms, _WaveformCollector, detect_candidates


@pytest.fixture(scope="module")
def waveforms():
    rng = np.random.default_rng(0)
    full = rng.normal(0, 100, (1000, 8, 21)).astype(np.float16)
    store = _WaveformCollector((8, 21), np.float16, ram_bytes=0)
    for lo in range(0, 1000, 137):  # uneven chunks, as detection appends them
        store.append(full[lo:lo + 137])
    spilled = store.result()
    assert isinstance(spilled, SpilledWaveforms)
    return full, spilled


def test_spilled_waveforms_index_like_the_array(waveforms):
    full, spilled = waveforms
    assert spilled.shape == full.shape and len(spilled) == len(full)
    assert spilled.dtype == full.dtype and spilled.ndim == 3 and spilled.nbytes == full.nbytes
    rng = np.random.default_rng(1)
    mask = rng.random(len(full)) < 0.3
    keys = [0, 999, -1, np.int64(517), np.array(12), slice(None), slice(10, 600, 7), slice(-5, None), slice(5, 5),
            mask, np.zeros(len(full), bool), rng.integers(-1000, 1000, 300),  # unsorted, repeats, negatives
            [3, 2, 1], np.array([], np.int64), rng.integers(0, 1000, (4, 5)),
            (7, 3), (mask, 2), (slice(100, 200), slice(None), slice(5, 9)), (np.array([9, 4]), 0, 10)]
    for key in keys:
        got, want = spilled[key], full[key]
        assert isinstance(got, np.ndarray) and got.dtype == want.dtype, key
        np.testing.assert_array_equal(got, want, err_msg=repr(key))
    # One candidate at a time (the detector's loops), in any order.
    for i in rng.permutation(len(full))[:200]:
        np.testing.assert_array_equal(spilled[i, i % 8], full[i, i % 8])
    np.testing.assert_array_equal(np.asarray(spilled), full)
    np.testing.assert_array_equal(spilled[mask].astype(np.float32), full[mask].astype(np.float32))
    assert spilled.astype(np.float32).dtype == np.float32


def test_spilled_waveforms_reorder_and_bad_indices(waveforms):
    full, spilled = waveforms
    order = np.random.default_rng(2).permutation(len(full))
    reordered = spilled.reordered(order)
    np.testing.assert_array_equal(reordered[:], full[order])
    np.testing.assert_array_equal(reordered[10:20], full[order][10:20])
    np.testing.assert_array_equal(reordered[5], full[order[5]])
    for bad in (1000, -1001, np.array([0, 1000]), np.ones(999, bool), np.array([0.5])):
        with pytest.raises(IndexError):
            spilled[bad]
    # A returned row is a copy: writing to it leaves the store unchanged.
    row = spilled[3]
    row[:] = 0
    np.testing.assert_array_equal(spilled[3], full[3])


def test_collector_keeps_small_sets_in_memory():
    store = _WaveformCollector((2, 3), np.float16, ram_bytes=1 << 20)
    store.append(np.ones((4, 2, 3)))
    out = store.result()
    assert type(out) is np.ndarray and out.shape == (4, 2, 3) and out.dtype == np.float16
    empty = _WaveformCollector((2, 3), np.float16, ram_bytes=0).result()
    assert type(empty) is np.ndarray and empty.shape == (0, 2, 3)


def test_detection_identical_with_spilled_waveforms(monkeypatch):
    rec, _ = emgkit.simulate("benign", electrode="grid", duration=20, seed=0)
    in_memory = detect(rec, hash_input=False)
    monkeypatch.setattr(spikes, "WAVEFORM_RAM_BYTES", 1)
    prep = plan_preprocessing(rec)
    assert all(isinstance(g.snippets, SpilledWaveforms) for g in detect_candidates(rec, prep) if len(g.samples))
    spilled = detect(rec, hash_input=False)
    assert len(in_memory.discharges) > 0
    # Same waveforms bit for bit, so the same discharges, units and templates.
    assert in_memory.discharges.equals(spilled.discharges)
    assert in_memory.events.equals(spilled.events)
    assert in_memory.templates.keys() == spilled.templates.keys()
    for key, tmpl in in_memory.templates.items():
        np.testing.assert_array_equal(tmpl, spilled.templates[key])


def _grid_recording(duration_s: float, n_channels: int = 32, fs: float = 2048.0):
    """Noise plus biphasic discharges (60 /s) spread over 4 neighbouring electrodes of a grid."""
    rng = np.random.default_rng(4)
    n = int(duration_s * fs)
    data = rng.normal(0, 10, (n_channels, n)).astype(np.float32)
    t = np.linspace(-1.5, 1.5, 9)
    shape = (-t * np.exp(-t * t) / 0.43).astype(np.float32)
    times = rng.integers(100, n - 100, int(60 * duration_s))
    first = rng.integers(0, n_channels - 4, times.size)
    for at, ch in zip(times, first):
        data[ch:ch + 4, at:at + shape.size] += 150 * shape
    return emgkit.Recording.from_array(data, fs, electrodes=emgkit.Electrode("hd_grid"), muscles="TA")


def _detection_peak_bytes(duration_s: float) -> tuple[int, int]:
    """(peak bytes allocated during detect_candidates, bytes of all candidate waveforms)."""
    rec = _grid_recording(duration_s)  # held in memory before tracing starts: not counted
    prep = plan_preprocessing(rec, PreprocessParams(chunk_s=2.0, chunk_min_values=0))
    tracemalloc.start()
    try:
        groups = detect_candidates(rec, prep)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, sum(g.snippets.nbytes for g in groups)


def test_detection_memory_does_not_grow_with_duration(monkeypatch):
    # Small budgets so that a short recording shows what a long one does.
    monkeypatch.setattr(spikes, "WAVEFORM_RAM_BYTES", 1 << 20)
    monkeypatch.setattr(spikes, "REGION_CACHE_BYTES", 1 << 20)
    short_peak, short_waveforms = _detection_peak_bytes(20.0)
    long_peak, long_waveforms = _detection_peak_bytes(80.0)
    assert long_waveforms > 3.5 * short_waveforms > 0
    assert long_waveforms > long_peak      # the waveforms are not all held at once...
    assert long_peak < 1.25 * short_peak   # ...and 4x the duration needs no more memory (25 % slack)


def test_benchmark_report_shows_stages_and_memory_growth():
    from benchmarks import speed

    def row(minutes, rss):
        return dict(case=f"hd_64ch_2.048kHz_{minutes}min", n_channels=64, fs=2048.0, duration_s=60.0 * minutes,
                    size=64 * 2048 * 60 * minutes, pipeline=dict(stages={"detect": 1.0, "units": 2.0}, total=4.0,
                                                                 max_rss_mb=rss))
    text = "\n".join(speed.format_pipeline([row(10, 500.0), row(60, 600.0), dict(case="failed", pipeline=dict(error="x"))]))
    assert "hd_64ch_2.048kHz_60min" in text and "failed" not in text
    assert "6x the duration, 1.20x the peak RSS" in text
