"""Batch processing: finding recordings, per-file outputs, combined summary, errors, exit codes, engines."""
from __future__ import annotations

import pandas as pd
import pytest

import emgkit
from emgkit.batch import BatchError, find_recordings, output_stems, run_batch
from emgkit.cli import main
from emgkit.errors import EmgkitFileNotFoundError, ParameterError
from emgkit.results import empty_result

DURATION_S = 5.0


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A folder: two 5 s simulated recordings (WFDB, EDF in a subfolder) with their truth, a broken EDF,
    and files a batch must leave alone (truth, a previous result, a BIDS-like sidecar, a stray .dat)."""
    root = tmp_path_factory.mktemp("study")
    (root / "sub").mkdir()
    rec_a, truth_a = emgkit.simulate("benign", electrode="bipolar", duration=DURATION_S, seed=21)
    rec_b, truth_b = emgkit.simulate("isaacs", electrode="bipolar", duration=DURATION_S, seed=22)
    emgkit.simulate.save(rec_a, truth_a, root / "a.hea")
    emgkit.simulate.save(rec_b, truth_b, root / "sub" / "b.edf")
    (root / "broken.edf").write_bytes(b"0       not an EDF header")
    (root / "sub" / "b_channels.tsv").write_text("name\ttype\nbiceps\tEMG\n")
    (root / "notes.txt").write_text("a note, not a recording\n")
    empty_result().save(root / "old.h5")  # an emgkit result, not a recording
    return root, {"a.hea": list(dict.fromkeys(rec_a.muscles)), "b.edf": list(dict.fromkeys(rec_b.muscles))}


@pytest.fixture(scope="module")
def cli_run(study, tmp_path_factory):
    """``emgkit batch STUDY --out OUT`` (no --continue-on-error): (exit code, out dir)."""
    root, _ = study
    out = tmp_path_factory.mktemp("batch_out") / "results"
    code = main(["batch", str(root), "--out", str(out), "--quiet"])
    return code, out


def test_find_recordings_takes_recordings_only(study):
    root, _ = study
    found = find_recordings([root])
    assert [p.relative_to(root).as_posix() for p in found] == ["a.hea", "broken.edf", "sub/b.edf"]
    assert [p.name for p in find_recordings([root], pattern="*.edf")] == ["broken.edf", "b.edf"]
    assert [p.name for p in find_recordings([root], pattern="sub/*")] == ["b.edf"]
    # a file named explicitly is taken whatever it is; the output folder is never searched
    assert find_recordings([root / "notes.txt"]) == [root / "notes.txt"]
    assert find_recordings([root], exclude=[root / "sub"])[-1].name == "broken.edf"
    assert len(find_recordings([root, root / "a.hea", (root / "a.hea").resolve()])) == 3  # each file once
    with pytest.raises(EmgkitFileNotFoundError, match="nope"):
        find_recordings([root / "nope"])


def test_find_recordings_skips_wfdb_segment_headers(tmp_path):
    rec, _ = emgkit.simulate("quiet", electrode="bipolar", duration=1.0, seed=1)
    emgkit.write_wfdb(rec, tmp_path / "seg1.hea")
    emgkit.write_wfdb(rec, tmp_path / "seg2.hea")
    n = rec.n_samples
    (tmp_path / "multi.hea").write_text(f"multi/2 {rec.n_channels} {rec.fs:g} {2 * n}\nseg1 {n}\nseg2 {n}\n")
    assert emgkit.read(tmp_path / "multi.hea").n_samples == 2 * n
    assert find_recordings([tmp_path]) == [tmp_path / "multi.hea"]


def test_output_stems_are_distinct(tmp_path):
    paths = [tmp_path / "x" / "rec.hea", tmp_path / "y" / "rec.hea", tmp_path / "rec.edf", tmp_path / "g.otb+"]
    stems = output_stems(paths)
    assert len(set(stems)) == 4 and stems[3] == "g"
    assert stems[2] == "rec_edf" and stems[0] == "x_rec_hea"


def test_failed_file_listed_and_exit_nonzero(cli_run, study):
    code, out = cli_run
    root, _ = study
    assert code == 1
    errors = pd.read_csv(out / "errors.csv")
    assert errors["file"].tolist() == [str(root / "broken.edf")]
    assert "broken.edf" in errors["error"][0] and "\n" not in errors["error"][0]
    assert errors["error_type"][0].endswith("Error")


def test_summary_has_one_row_per_file_and_muscle(cli_run, study):
    _, out = cli_run
    root, muscles = study
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns[:2]) == ["file", "muscle"]
    expected = [(str(root / "a.hea"), m) for m in muscles["a.hea"]] + \
               [(str(root / "sub" / "b.edf"), m) for m in muscles["b.edf"]]
    assert sorted(zip(summary["file"], summary["muscle"])) == sorted(expected)
    # each row carries the numbers of that file's saved result
    for stem, name in (("a", "a.hea"), ("b", "b.edf")):
        result = emgkit.load_result(out / f"{stem}.result.h5")
        rows = summary[summary["file"].str.endswith(name)].set_index("muscle")
        for _, row in result.summary.iterrows():
            assert rows.loc[row["muscle"], "fasciculations_per_min"] == pytest.approx(row["fasciculations_per_min"])
            assert rows.loc[row["muscle"], "rest_s"] == pytest.approx(row["rest_s"])


def test_per_file_outputs_and_index(cli_run):
    _, out = cli_run
    for stem in ("a", "b"):
        assert (out / f"{stem}.report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
        assert (out / f"{stem}_tables" / "discharges.csv").exists()
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "href='a.report.html'" in index and "href='b.report.html'" in index and "broken.edf" in index
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]  # nothing half-written left


def test_continue_on_error_exits_zero(study, tmp_path, capsys):
    root, _ = study
    code = main(["batch", str(root / "broken.edf"), str(root / "a.hea"), "--out", str(tmp_path / "r"),
                 "--continue-on-error", "--no-plots"])
    assert code == 0
    assert len(pd.read_csv(tmp_path / "r" / "errors.csv")) == 1
    printed = capsys.readouterr()
    assert "FAILED" in printed.err and "broken.edf" in printed.err and "[2/2]" in printed.out + printed.err


def test_api_raises_batch_error_after_writing_everything(study, tmp_path):
    root, muscles = study
    with pytest.raises(BatchError, match="1 of 2 file") as info:
        run_batch([root / "broken.edf", root / "a.hea"], tmp_path, plots=False)
    assert len(info.value.errors) == 1 and len(info.value.summary) == len(muscles["a.hea"])
    assert (tmp_path / "a.result.h5").exists() and (tmp_path / "index.html").exists()


def test_user_errors_before_any_work(study, tmp_path, capsys):
    root, _ = study
    with pytest.raises(ParameterError, match="jobs"):
        run_batch([root], tmp_path / "x", jobs=0)
    with pytest.raises(ParameterError, match="threshold_sd"):
        run_batch([root], tmp_path / "x", params={"spikes": {"threshold_sd": 1000}})
    assert not (tmp_path / "x").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["batch", str(empty), "--out", str(tmp_path / "y")]) == 2
    assert "no recordings found" in capsys.readouterr().err


@pytest.fixture(scope="module")
def sequential(cli_run):
    """The combined summary of the CLI run (one process), to compare the parallel engines with."""
    _, out = cli_run
    return pd.read_csv(out / "summary.csv")


def _same_numbers(summary: pd.DataFrame, reference: pd.DataFrame):
    cols = ["file", "muscle", "rest_s", "n_units", "n_fasciculations", "fasciculations_per_min"]
    a = summary[cols].sort_values(["file", "muscle"]).reset_index(drop=True)
    b = reference[cols].sort_values(["file", "muscle"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_process_pool_gives_the_same_summary(study, sequential, tmp_path):
    root, _ = study
    summary = run_batch([root], tmp_path, jobs=2, continue_on_error=True, plots=False)
    _same_numbers(summary, sequential)
    assert len(pd.read_csv(tmp_path / "errors.csv")) == 1


def test_dask_local_cluster_gives_the_same_summary(study, sequential, tmp_path):
    distributed = pytest.importorskip("distributed")
    root, _ = study
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        # by address, as `emgkit batch --dask tcp://host:port` does
        summary = run_batch([root], tmp_path, scheduler=cluster.scheduler_address, continue_on_error=True,
                            plots=False)
    _same_numbers(summary, sequential)
    errors = pd.read_csv(tmp_path / "errors.csv")
    assert errors["file"].str.endswith("broken.edf").tolist() == [True]


# ---------------------------------------------------------------- real recordings (skipped without shared/data)
def test_find_recordings_in_the_real_data_folders(shared_data):
    found = find_recordings([shared_data])
    names = {p.name for p in found}
    assert not [p for p in found if p.suffix in (".dat", ".bin", ".eaf", ".json", ".md")]
    # every PhysioNet emgdb record, by its header (the .dat beside it is data, not a recording)
    assert {"emg_healthy.hea", "emg_myopathy.hea", "emg_neuropathy.hea"} <= names
    # a Delsys export names its rate, so it is taken; a bare CSV (needs fs=) and Hyser's label text are not
    delsys = shared_data / "delsys-trigno-emgio" / "truncated_trigno_sample.csv"
    if delsys.exists():
        assert delsys.name in names
    assert "emg_data_myo.csv" not in names and "label_maintenance.txt" not in names


def test_batch_on_a_real_needle_record(shared_data, tmp_path):
    folder = shared_data / "physionet-emgdb"
    if not (folder / "emg_healthy.hea").exists():
        pytest.skip(f"{folder / 'emg_healthy.hea'} is not present")
    summary = run_batch([folder], tmp_path, pattern="emg_healthy*", plots=False)
    # PROVENANCE.md: 1 channel, tibialis anterior, 50 860 samples at 4000 Hz
    assert summary["muscle"].tolist() == ["tibialis anterior"]
    assert summary["duration_s"].iloc[0] == pytest.approx(50860 / 4000)
    assert summary["file"].iloc[0].endswith("emg_healthy.hea")
    assert emgkit.load_result(tmp_path / "emg_healthy.result.h5").provenance["input_sha256"]
