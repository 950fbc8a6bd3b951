"""``emgkit detect``: summary printed, outputs written and loadable, one-line errors with exit 2."""
from __future__ import annotations

import pandas as pd
import pytest

import emgkit
from emgkit.cli import main
from emgkit.report import summary_cells
from emgkit.results import file_sha256

DURATION_S = 5.0


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """A 5 s simulated bipolar recording (4 muscles) written as EDF."""
    rec, truth = emgkit.simulate("benign", electrode="bipolar", duration=DURATION_S, seed=11)
    path = tmp_path_factory.mktemp("detect") / "benign.edf"
    emgkit.simulate.save(rec, truth, path)
    return path, list(dict.fromkeys(rec.muscles))


try:
    import matplotlib  # noqa: F401
    HAVE_MATPLOTLIB = True
except ImportError:
    HAVE_MATPLOTLIB = False


@pytest.fixture(scope="module")
def detect_run(recording, tmp_path_factory):
    """One CLI run writing every output, renaming muscle 'biceps' to 'deltoid'.

    Returns (exit code, stdout, stderr, output paths).
    """
    import contextlib
    import io

    path, _ = recording
    out = tmp_path_factory.mktemp("detect_out")
    paths = {"out": out / "result.h5", "csv": out / "tables", "report": out / "report.html", "plots": out / "figs"}
    argv = ["detect", str(path), "--muscle-map", "biceps=deltoid", "--out", str(paths["out"]),
            "--csv", str(paths["csv"]), "--report", str(paths["report"])]
    if HAVE_MATPLOTLIB:
        argv += ["--plots", str(paths["plots"])]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(argv)
    return code, stdout.getvalue(), stderr.getvalue(), paths


def test_exit_zero_and_summary_printed_per_muscle(detect_run, recording):
    code, out, err, paths = detect_run
    assert code == 0, err
    _, muscles = recording
    lines = out.splitlines()
    assert "benign.edf" in lines[0] and "detecting" in lines[0]  # first line comes before detection
    assert any(ln.startswith("muscle") and "FP/min (95% CI)" in ln for ln in lines)
    result = emgkit.load_result(paths["out"])
    for cells in summary_cells(result):
        row = next(ln for ln in lines if ln.startswith(cells["muscle"] + " "))
        for value in cells.values():  # every printed number is the saved result's number
            assert value in row
    renamed = {"deltoid" if m == "biceps" else m for m in muscles}
    assert {c["muscle"] for c in summary_cells(result)} == renamed


def test_result_file_loads_with_the_recording_facts(detect_run, recording):
    _, _, _, paths = detect_run
    result = emgkit.load_result(paths["out"])
    assert result.provenance["input_path"].endswith("benign.edf")
    assert result.provenance["n_samples"] / result.provenance["fs"] == pytest.approx(DURATION_S)
    assert result.provenance["input_sha256"] == file_sha256(recording[0])
    # FP/min is the count of fasciculation events over the rest minutes.
    for _, row in result.summary.iterrows():
        n_fp = int(((result.events["muscle"] == row["muscle"]) & (result.events["kind"] == "fasciculation")).sum())
        if row["rest_s"] > 0:
            assert row["fasciculations_per_min"] == pytest.approx(n_fp / (row["rest_s"] / 60.0))


def test_csv_tables_match_the_result(detect_run):
    _, _, _, paths = detect_run
    result = emgkit.load_result(paths["out"])
    for name in ("discharges", "events", "summary", "units", "segments", "qc"):
        table = pd.read_csv(paths["csv"] / f"{name}.csv")
        assert len(table) == len(getattr(result, name)), name
    summary = pd.read_csv(paths["csv"] / "summary.csv")
    assert summary["rest_s"].tolist() == pytest.approx(result.summary["rest_s"].tolist())


def test_html_report_holds_the_printed_summary(detect_run):
    _, _, _, paths = detect_run
    page = paths["report"].read_text(encoding="utf-8")
    result = emgkit.load_result(paths["out"])
    for cells in summary_cells(result):
        assert cells["FP/min (95% CI)"] in page and cells["rest/total s"] in page


def test_muscles_override_and_quiet(tmp_path, capsys):
    rec, truth = emgkit.simulate("quiet", electrode="bipolar", duration=2.0, seed=3)
    path = emgkit.simulate.save(rec, truth, tmp_path / "quiet.hea")[0]
    out = tmp_path / "r.h5"
    assert main(["detect", str(path), "--muscles", "deltoid", "--quiet", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert emgkit.load_result(out).muscles == ["deltoid"]


@pytest.mark.parametrize("extra, message", [
    (["--muscle-map", "ch1"], "--muscle-map item 'ch1' is not CHANNEL=MUSCLE"),
    (["--out", "/nonexistent-folder/r.h5"], "does not exist"),
    (["--muscle-map", "nosuchchannel=biceps"], "nosuchchannel"),
])
def test_user_errors_are_one_line_exit_2(recording, extra, message, capsys):
    path, _ = recording
    assert main(["detect", str(path), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("emgkit detect: error:") and message in err and "\n" not in err


def test_missing_file_and_bad_params(tmp_path, capsys):
    assert main(["detect", str(tmp_path / "nope.edf")]) == 2
    assert "nope.edf" in capsys.readouterr().err
    params = tmp_path / "p.toml"
    params.write_text("[spikes]\nthreshold_sd = 1000\n")
    assert main(["detect", str(tmp_path / "nope.edf"), "--params", str(params)]) == 2
    err = capsys.readouterr().err
    assert "threshold_sd" in err and "p.toml" in err


@pytest.mark.skipif(not HAVE_MATPLOTLIB, reason="matplotlib is not installed")
def test_plots_written_as_png_and_embedded(detect_run):
    _, _, _, paths = detect_run
    pngs = sorted(paths["plots"].glob("*.png"))
    assert [p.name for p in pngs] == ["raster.png", "rates.png", "templates.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert paths["report"].read_text(encoding="utf-8").count("data:image/png;base64,") == len(pngs)
