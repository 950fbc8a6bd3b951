"""DetectionResult: HDF5 round trip, atomic write, refusal of foreign/newer files, CSV export."""
from __future__ import annotations

import hashlib
import json

import h5py
import numpy as np
import pandas as pd
import pytest

import emgkit
from emgkit import schema
from emgkit.errors import EmgkitError, EmgkitFileNotFoundError, ResultFileError
from emgkit.results import (SCHEMA_VERSION, TABLE_NAMES, DetectionResult, empty_result, file_sha256,
                            load_result)


def full_result() -> DetectionResult:
    discharges = pd.DataFrame({
        "time": [0.0123, 1.5, 2.25, np.nan],
        "muscle": ["biceps", "biceps", "tibialis ant. (é)", "biceps"],
        "channel": ["ch1", "ch2", "ch3", None],
        "unit": np.array([0, 1, 0, -1], dtype=np.int64),
        "amplitude": np.array([512.5, np.nan, 80.25, 1e-9]),
        "event": np.array([0, 1, 1, -1], dtype=np.int64),
        "state": ["rest", "rest", "voluntary", "artifact"],
        "snr_db": np.array([12.5, 3.0, np.inf, -np.inf], dtype=np.float32),  # extra column
        "isolated": [True, False, True, False],
    })
    events = pd.DataFrame({
        "event": [0, 1], "muscle": ["biceps", "tibialis ant. (é)"], "unit": [0, 0],
        "kind": ["fasciculation", "doublet"], "start": [0.0123, 1.5], "end": [0.0123, 2.25],
        "n_discharges": [1, 2], "rate": [np.nan, 133.3], "confidence": [0.9, 0.5],
    })
    segments = pd.DataFrame({"muscle": ["biceps"], "state": ["voluntary"], "start": [3.0], "end": [4.5]})
    units = empty_result().units  # empty, must keep its columns and dtypes
    summary = pd.DataFrame({
        "muscle": ["biceps", "tibialis ant. (é)"], "fp_per_min": [1.5, 0.0],
        "flags": ["fasciculations present", ""], "n_units": pd.array([2, pd.NA], dtype="Int64"),
        "grade": pd.Categorical(["high", "low"], categories=["low", "high"], ordered=True),
        "started": pd.to_datetime(["2024-01-02 03:04:05", "NaT"]),
    })
    qc = pd.DataFrame({"muscle": ["biceps"], "channel": ["ch1"], "noise_rms_uv": [4.25],
                       "mains": [False], "clipped_s": [0.0]})
    templates = {("biceps", 0): np.arange(12, dtype=np.float32).reshape(3, 4),
                 ("tibialis ant. (é)", 7): np.full((1, 5), np.nan, dtype=np.float32)}
    params = {"spikes": {"threshold_sd": 5.0, "refractory_ms": 1.5, "channels": ["ch1", "ch2"]},
              "patterns": {"doublet_max_isi_ms": 20, "enabled": True, "note": None}}
    provenance = {"emgkit_version": emgkit.__version__, "input": "/data/x.edf", "input_sha256": "ab" * 32,
                  "created": "2024-01-02T03:04:05+00:00", "schema_version": SCHEMA_VERSION,
                  "timings_s": {"read": 0.5, "detect": 1.25}}
    return DetectionResult(discharges=discharges, events=events, segments=segments, units=units,
                           templates=templates, summary=summary, qc=qc, params=params,
                           provenance=provenance)


def assert_results_equal(a: DetectionResult, b: DetectionResult):
    for name in TABLE_NAMES:
        left, right = getattr(a, name), getattr(b, name)
        pd.testing.assert_frame_equal(left, right, check_exact=True)
        assert list(left.dtypes) == list(right.dtypes), name
    assert list(a.templates) == list(b.templates)
    for key in a.templates:
        assert b.templates[key].dtype == a.templates[key].dtype
        np.testing.assert_array_equal(a.templates[key], b.templates[key])
    assert a.params == b.params
    assert a.provenance == b.provenance


def test_round_trip_is_exact(tmp_path):
    result = full_result()
    path = result.save(tmp_path / "r.h5")
    assert path == tmp_path / "r.h5"
    back = load_result(path)
    assert_results_equal(result, back)
    # NaN stays NaN and missing strings stay missing (not "nan" text)
    assert np.isnan(back.discharges["time"].iloc[3])
    assert pd.isna(back.discharges["channel"].iloc[3])
    assert back.summary["n_units"].isna().tolist() == [False, True]
    assert back.discharges["muscle"].iloc[2] == "tibialis ant. (é)"
    # only the result file is left in the folder (no temporary files)
    assert [p.name for p in tmp_path.iterdir()] == ["r.h5"]


def test_empty_result_round_trip_keeps_columns_and_dtypes(tmp_path):
    result = empty_result()
    assert tuple(result.discharges.columns) == schema.DISCHARGE_COLUMNS
    assert tuple(result.events.columns) == schema.EVENT_COLUMNS
    assert tuple(result.segments.columns) == schema.SEGMENT_COLUMNS
    assert result.discharges["time"].dtype == np.float64 and result.discharges["unit"].dtype == np.int64
    back = load_result(result.save(tmp_path / "empty.h5"))
    assert_results_equal(result, back)
    assert len(back.discharges) == 0 and back.templates == {}


def test_non_default_index_and_object_and_json_columns(tmp_path):
    result = empty_result()
    index = pd.Index([10, 20], name="row")
    result.summary = pd.DataFrame({"muscle": pd.Series(["a", None], dtype=object, index=index),
                                   "lists": pd.Series([[1, 2], {"k": 1.5}], dtype=object, index=index)})
    back = load_result(result.save(tmp_path / "r.h5"))
    pd.testing.assert_frame_equal(result.summary, back.summary)
    assert back.summary["muscle"].iloc[1] is None and back.summary["lists"].iloc[0] == [1, 2]


def test_big_table_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    n = 50_000
    result = empty_result()
    result.discharges = pd.DataFrame({
        "time": np.sort(rng.uniform(0, 600, n)), "muscle": rng.choice(["a", "b"], n),
        "channel": rng.choice(["c1", "c2", "c3"], n), "unit": rng.integers(0, 9, n),
        "amplitude": rng.normal(300, 50, n), "event": rng.integers(-1, 5000, n),
        "state": rng.choice(list(schema.DISCHARGE_STATES), n)})
    back = load_result(result.save(tmp_path / "big.h5"))
    pd.testing.assert_frame_equal(result.discharges, back.discharges, check_exact=True)


def test_failed_save_leaves_no_file(tmp_path, monkeypatch):
    result = full_result()

    def crash(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("emgkit.results._write_table", crash)
    with pytest.raises(RuntimeError, match="disk on fire"):
        result.save(tmp_path / "r.h5")
    assert list(tmp_path.iterdir()) == []


def test_failed_save_keeps_old_file(tmp_path, monkeypatch):
    old = full_result()
    path = old.save(tmp_path / "r.h5")
    before = path.read_bytes()
    new = empty_result()
    calls = {"n": 0}
    real = emgkit.results._write_column

    def crash_midway(*args, **kwargs):  # fail after some columns were written
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr("emgkit.results._write_column", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        new.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.h5"]
    assert_results_equal(old, load_result(path))


def test_successful_save_replaces_existing_file(tmp_path):
    path = full_result().save(tmp_path / "r.h5")
    empty_result().save(path)
    assert len(load_result(path).discharges) == 0


def test_unstorable_column_is_a_result_file_error(tmp_path):
    result = empty_result()
    result.summary = pd.DataFrame({"muscle": ["a"], "obj": pd.Series([object()], dtype=object)})
    with pytest.raises(ResultFileError, match="obj"):
        result.save(tmp_path / "r.h5")
    assert list(tmp_path.iterdir()) == []


def test_save_into_missing_folder(tmp_path):
    with pytest.raises(ResultFileError, match="does not exist"):
        empty_result().save(tmp_path / "nope" / "r.h5")


def test_load_refuses_foreign_and_newer_files(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5 at all")
    with pytest.raises(ResultFileError, match="notes.h5.*not an HDF5 file"):
        load_result(text)

    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h5:
        h5["data"] = np.zeros(3)
    with pytest.raises(ResultFileError, match="other.h5.*not an emgkit result"):
        load_result(other)

    newer = empty_result().save(tmp_path / "newer.h5")
    with h5py.File(newer, "a") as h5:
        h5.attrs["schema_version"] = str(int(SCHEMA_VERSION) + 1)
    with pytest.raises(ResultFileError, match="newer.h5.*newer than this emgkit"):
        load_result(newer)

    damaged = empty_result().save(tmp_path / "damaged.h5")
    with h5py.File(damaged, "a") as h5:
        del h5["tables/events/c0"]
    with pytest.raises(ResultFileError, match="damaged.h5.*damaged"):
        load_result(damaged)

    with pytest.raises(EmgkitFileNotFoundError, match="missing.h5"):
        load_result(tmp_path / "missing.h5")
    assert issubclass(ResultFileError, EmgkitError)


def test_big_params_are_stored(tmp_path):
    result = empty_result(params={"channels": [f"channel {i}" for i in range(20_000)]})
    assert load_result(result.save(tmp_path / "r.h5")).params == result.params


def test_file_layout_attrs(tmp_path):
    path = full_result().save(tmp_path / "r.h5")
    with h5py.File(path, "r") as h5:
        assert h5.attrs["schema_version"] == SCHEMA_VERSION
        assert json.loads(h5.attrs["params"])["spikes"]["threshold_sd"] == 5.0
        assert json.loads(h5["tables/discharges"].attrs["columns"])[:7] == list(schema.DISCHARGE_COLUMNS)


def test_to_csv_writes_one_file_per_table(tmp_path):
    result = full_result()
    paths = result.to_csv(tmp_path / "csv", prefix="x_")
    assert [p.name for p in paths] == [f"x_{n}.csv" for n in TABLE_NAMES]
    back = pd.read_csv(paths[0])
    assert list(back.columns) == list(result.discharges.columns)
    np.testing.assert_allclose(back["time"], result.discharges["time"])


def test_repr_counts_per_kind_per_muscle():
    text = repr(full_result())
    assert "biceps: 3 discharges, 1 fasciculation" in text
    assert "tibialis ant. (é): 1 discharges, 1 doublet" in text
    assert len(text) < 200


def test_file_sha256_streams(tmp_path):
    data = np.random.default_rng(1).bytes(3_000_001)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert file_sha256(path, chunk_bytes=65536) == hashlib.sha256(data).hexdigest()
    with pytest.raises(EmgkitFileNotFoundError):
        file_sha256(tmp_path / "none.bin")


def test_the_provenance_hash_covers_every_file_of_a_record(tmp_path):
    """A WFDB record is a header and a data file: the recorded identity must change with the samples."""
    rng = np.random.default_rng(0)
    rec = emgkit.Recording.from_array(rng.normal(0, 20, (1, 4000)), 4000.0, channels=["needle"])
    from emgkit.io.wfdb import write_wfdb

    hea = write_wfdb(rec, tmp_path / "r.hea")
    dat = tmp_path / "r.dat"
    first = emgkit.detect(hea).provenance
    assert [f["path"] for f in first["input_files"]] == [str(hea), str(dat)]
    assert [f["sha256"] for f in first["input_files"]] == [file_sha256(hea), file_sha256(dat)]
    joined = "".join(f["sha256"] + "\n" for f in first["input_files"]).encode()
    assert first["input_sha256"] == hashlib.sha256(joined).hexdigest()
    raw = bytearray(dat.read_bytes())
    raw[100] ^= 1  # one sample changed, header untouched
    dat.write_bytes(bytes(raw))
    second = emgkit.detect(hea).provenance
    assert second["input_files"][0] == first["input_files"][0]
    assert second["input_sha256"] != first["input_sha256"]
    assert emgkit.detect(hea, hash_input=False).provenance["input_sha256"] is None


def test_public_exports():
    assert emgkit.DetectionResult is DetectionResult
    assert emgkit.load_result is load_result
