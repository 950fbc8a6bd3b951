"""A tiny run of the benchmark harness: the code works and writes its report. No timing assertions."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import data, speed  # noqa: E402


def test_synthetic_source_is_reproducible_per_span(tmp_path):
    case = data.Case("hd", 3, 2048.0, 70.0)
    source = data.SyntheticSource(case.n_channels, case.n_samples, case.fs, seed=2)
    whole = source.read(0, 140_000, np.arange(3))
    np.testing.assert_array_equal(source.read(65_000, 70_000, np.array([2, 0])), whole[[2, 0], 65_000:70_000])
    assert 5 < np.median(np.abs(whole)) / 0.6745 < 15  # ~10 µV noise under sparse spikes


def test_kernel_chain_and_baselines_run_on_a_small_file(tmp_path):
    case = data.Case("hd", 4, 2048.0, 2.0)
    path = data.ensure_file(case, tmp_path)
    assert path.exists() and path.with_suffix(".dat").stat().st_size == case.size * 2
    chain = speed.child_kernels(str(path), chunk_values=4 * 1024)  # several chunks
    assert set(chain["stages"]) == {"read", "filter", "noise", "peaks"} and chain["size"] == case.size
    assert chain["n_peaks"] > 0
    base = speed.child_baselines(str(path), span_s=1.0)
    assert base["size"] == 4 * 2048 and base["emgkit"]["total"] > 0 and base["scipy"]["total"] > 0
    assert "spikeinterface" in base  # measured or skipped with a note


def test_report_formatting_and_cli_quick_grid_subset(tmp_path):
    from benchmarks.__main__ import main

    assert main(["speed", "--quick", "--cases", "needle_1ch_48kHz_0.25min", "--no-pipeline", "--no-startup", "--baseline-span", "1",
                 "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out")]) == 0
    report = json.loads(next((tmp_path / "out").glob("speed_quick_*.json")).read_text())
    rows = report["speed"]["cases"]
    assert [r["case"] for r in rows] == ["needle_1ch_48kHz_0.25min"]
    assert "error" not in rows[0]["kernels"], rows[0]["kernels"]
    assert rows[0]["kernels"]["max_rss_mb"] > 0
    assert "threads_1" in report["speed"]["bandwidth"]
    text = speed.format_report(report["speed"])
    assert "needle_1ch_48kHz_0.25min" in text and "bandwidth" in text


def test_rest_activity_has_spread_units_and_mains():
    case = data.Case("hd", 16, 2048.0, 40.0, "rest")
    assert case.name == "hd_16ch_2.048kHz_0.666667min_rest_grid"
    rec = data.synthetic_recording(case)
    # The grid layout the units' footprints are drawn on: 8 columns, each electrode placed once.
    assert [(e.row, e.col) for e in rec.electrodes] == [(i // 8, i % 8) for i in range(16)]
    assert data.Case("hd", 16, 2048.0, 40.0).name == "hd_16ch_2.048kHz_0.666667min"   # dense: no layout
    x = rec.get_data()
    spectrum = np.abs(np.fft.rfft(x[0] - x[0].mean()))
    f = np.fft.rfftfreq(x.shape[1], 1 / case.fs)
    line = spectrum[np.argmin(np.abs(f - 50))]
    assert line > 20 * np.median(spectrum[(f > 60) & (f < 90)])           # the 50 Hz mains is there
    big = np.abs(x) > 8 * data.NOISE_UV
    assert 1 < big.any(axis=1).sum()                                       # units seen on several channels
    assert big.any(axis=0).mean() < 0.02                                   # and rarely: rest, not a contraction
    with pytest.raises(ValueError, match="activity"):
        data.SyntheticSource(4, 100, 2048.0, activity="busy")


def test_accuracy_suite_scores_r00108_per_expert_unit(shared_data):
    """The accuracy suite's real-data check runs end to end and reports the issue's per-unit figures."""
    from benchmarks.accuracy import emglab_check, format_accuracy

    from conftest import shared_file

    shared_file(shared_data, "emglab-R001/R00108.eaf")
    e = emglab_check(shared_data)
    assert e["n_expert"] == 659 and e["tolerance_ms"] == pytest.approx(1.0)
    units = {u["unit"]: u for u in e["units"]}
    assert set(units) == {1, 2, 3, 4, 5, 6, 7}   # unit 8's MUAP is 1.9× RMS, below the issue's 2.5×
    assert all(0 <= u["sensitivity"] <= 1 and 0 < u["best_unit_share"] <= u["sensitivity"] for u in units.values())
    text = format_accuracy(dict(simulator=[], emglab_R00108=e))
    assert "unit 7" in text and "rate error" in text


def test_detector_grid_names_a_bad_case_and_the_valid_ones():
    import subprocess

    run = subprocess.run([sys.executable, "-m", "benchmarks.detector_grid", "isaacs:needl"], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert "'isaacs:needl' is not scenario:electrode" in run.stderr and "bipolar" in run.stderr
    run = subprocess.run([sys.executable, "-m", "benchmarks.detector_grid"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 2 and "usage" in run.stderr
