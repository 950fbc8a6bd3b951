"""Text/HTML reports, the batch index page, atomic writes and plots, on hand-built results with known numbers."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from emgkit import report
from emgkit.results import DetectionResult

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _result(muscle="biceps") -> DetectionResult:
    """Two units on one muscle: 3 fasciculations, 1 doublet, 1 myokymic burst in 90 s of rest out of 120 s."""
    times = [10.0, 40.0, 70.0, 20.0, 20.01, 50.0, 50.1, 50.2]
    units = [0, 0, 0, 1, 1, 1, 1, 1]
    events = [0, 1, 2, 3, 3, 4, 4, 4]
    kinds = ["fasciculation"] * 3 + ["doublet"] * 2 + ["myokymic"] * 3
    discharges = pd.DataFrame({"time": times, "muscle": muscle, "channel": "ch1", "unit": units,
                               "amplitude": 200.0, "event": events, "state": "rest", "kind": kinds})
    discharges.loc[len(discharges)] = [100.0, muscle, "ch1", 0, 180.0, -1, "voluntary", ""]
    ev = pd.DataFrame({"event": [0, 1, 2, 3, 4], "muscle": muscle, "unit": [0, 0, 0, 1, 1],
                       "kind": ["fasciculation"] * 3 + ["doublet", "myokymic"],
                       "start": [10.0, 40.0, 70.0, 20.0, 50.0], "end": [10.0, 40.0, 70.0, 20.01, 50.2],
                       "n_discharges": [1, 1, 1, 2, 3], "rate": [0, 0, 0, 100.0, 10.0], "confidence": 1.0})
    summary = pd.DataFrame([{
        "muscle": muscle, "electrode": "surface", "duration_s": 120.0, "rest_s": 90.0, "excluded_s": 30.0,
        "noise_uv": 4.25, "n_units": 2, "n_fasciculations": 3, "fasciculations_per_min": 2.0,
        "fasciculations_per_min_ci_low": 0.41, "fasciculations_per_min_ci_high": 5.84,
        "n_doublet": 1, "n_multiplet": 0, "n_myokymic": 1, "n_neuromyotonic": 0, "n_continuous": 0,
        "flags": "fasciculations present; myokymic discharges present",
    }])
    segments = pd.DataFrame({"muscle": [muscle], "state": ["voluntary"], "start": [90.0], "end": [120.0]})
    unit_rows = pd.DataFrame({"muscle": muscle, "unit": [0, 1], "channel": "ch1", "n_discharges": [3, 5],
                              "rate": [2.0, 3.33], "isi_median": [30.0, 0.1], "isi_cov": [0.0, 1.2],
                              "amplitude": [200.0, 200.0], "pattern": ["fasciculation", "myokymic"]})
    wave = np.sin(np.linspace(0, 2 * np.pi, 41)).astype(np.float32)
    return DetectionResult(discharges=discharges, events=ev, segments=segments, units=unit_rows,
                           summary=summary, templates={(muscle, 0): wave[None] * 100, (muscle, 1): wave[None] * 50},
                           params={"spikes": {"threshold_sd": 5.5}},
                           provenance={"input_path": "/data/rec01.edf", "input_format": "edf", "fs": 2048.0,
                                       "n_samples": 245760, "n_channels": 1, "emgkit_version": "0.1.0"})


def test_muscle_rows_use_the_summary_and_rates_per_minute_of_rest():
    (row,) = report.muscle_rows(_result())
    assert row["fp_rate"] == 2.0 and row["n_fasciculation"] == 3
    # 1 doublet in 90 s of rest = 0.6667 per minute.
    assert row["doublet_per_min"] == pytest.approx(1 / 1.5)
    assert row["myokymic_per_min"] == pytest.approx(1 / 1.5)
    assert row["n_multiplet"] == 0


def test_counts_fall_back_to_the_events_table():
    res = _result()
    res.summary = res.summary.drop(columns=["n_doublet", "n_myokymic", "n_fasciculations"])
    (row,) = report.muscle_rows(res)
    assert (row["n_fasciculation"], row["n_doublet"], row["n_myokymic"]) == (3, 1, 1)


def test_summary_text_shows_the_numbers_and_flags():
    text = report.summary_text(_result())
    line = next(ln for ln in text.splitlines() if ln.startswith("biceps"))
    assert "90.0/120.0" in line and "4.2" in line  # rest/total s, noise
    assert "2.00 (0.41-5.84)" in line              # FP/min with CI
    assert "1 (0.67)" in line                      # doublets: count (per min)
    assert "biceps: fasciculations present; myokymic discharges present" in text
    assert report.NOT_A_DIAGNOSIS in text


def test_missing_values_show_as_a_dash():
    res = _result()
    res.summary.loc[0, ["fasciculations_per_min", "noise_uv"]] = math.nan
    line = next(ln for ln in report.summary_text(res).splitlines() if ln.startswith("biceps"))
    assert " - " in line and "nan" not in line.lower()


def test_html_report_is_self_contained_and_holds_the_summary(tmp_path):
    path = report.write_report(_result(), tmp_path / "r.html", plots=False)
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "2.00 (0.41-5.84)" in page and "90.0/120.0" in page
    assert "rec01.edf" in page and "fasciculations present" in page
    assert "http://" not in page and "https://" not in page  # nothing fetched when opened
    assert "threshold_sd" in page  # parameters travel with the report


def test_html_escapes_names(tmp_path):
    page = report.html_report(_result(muscle="<b>x&y</b>"), plots=False)
    assert "<b>x&y</b>" not in page and "&lt;b&gt;x&amp;y&lt;/b&gt;" in page


def test_text_report_by_extension(tmp_path):
    path = report.write_report(_result(), tmp_path / "r.txt")
    text = path.read_text(encoding="utf-8")
    assert not text.startswith("<") and "2.00 (0.41-5.84)" in text and "voluntary" in text


def test_report_into_a_missing_folder_is_a_clear_error(tmp_path):
    from emgkit.errors import ResultFileError

    with pytest.raises(ResultFileError, match="folder does not exist"):
        report.write_report(_result(), tmp_path / "nope" / "r.html")


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "summary.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with report.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash while writing")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.csv"]
    report.write_text_atomic(target, "new\n")
    assert target.read_text() == "new\n" and len(list(tmp_path.iterdir())) == 1


def test_index_page_links_reports_and_lists_failures():
    res = _result()
    summary = res.summary.assign(file="/data/rec01.edf", report="rec01.report.html")
    errors = pd.DataFrame({"file": ["/data/bad.edf"], "error_type": ["FileFormatError"],
                           "error": ["/data/bad.edf: not an EDF file"]})
    page = report.index_html(summary, errors)
    assert "<a href='rec01.report.html'>rec01.edf</a>" in page
    assert "2.00 (0.41-5.84)" in page and "90.0" in page
    assert "/data/bad.edf: not an EDF file" in page and "1 file(s) analysed, 1 failed" in page


def test_plots_written_as_png(tmp_path):
    pytest.importorskip("matplotlib")
    from emgkit import plots

    paths = plots.save_plots(_result(), tmp_path / "figs", prefix="rec01.")
    assert sorted(p.name for p in paths) == ["rec01.raster.png", "rec01.rates.png", "rec01.templates.png"]
    for p in paths:
        assert p.read_bytes()[:8] == PNG_SIGNATURE and p.stat().st_size > 2000


def test_plots_of_an_empty_result_and_embedded_in_html(tmp_path):
    pytest.importorskip("matplotlib")
    from emgkit import plots
    from emgkit.results import empty_result

    for make in plots.PLOTS.values():
        assert plots.to_png(make(empty_result()))[:8] == PNG_SIGNATURE
    page = report.html_report(_result(), plots=True)
    assert page.count("src='data:image/png;base64,") == len(plots.PLOTS)
