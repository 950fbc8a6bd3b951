"""emgkit's own HDF5 format: exact round trip, reproducible bytes, tables, clear errors on damaged files."""
from __future__ import annotations

import hashlib
import os
import pickle
import time

import h5py
import numpy as np
import pandas as pd
import pytest

import emgkit
from emgkit import Electrode, Recording
from emgkit.errors import EmgkitFileNotFoundError, FileFormatError, ParameterError
from emgkit.io import emgkit_h5
from emgkit.io.emgkit_h5 import read_tables, write_h5
from reader_conformance import check_recording


def _recording(n=5000, fs=2048.0, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.normal(scale=40.0, size=(4, n))
    data[1, 100:110] = np.nan  # invalid samples survive the trip
    data[3] = np.linspace(0, 50, n)  # force in N
    electrodes = [Electrode("hd_grid", "GR08MM1305", 0, 0, 0.0, 0.0, 8.0),
                  Electrode("hd_grid", "GR08MM1305", 0, 1, 8.0, 0.0, 8.0),
                  Electrode("needle_concentric"), Electrode()]
    rec = Recording.from_array(data, fs, channels=["R1C1", "R1C2", "needle", "force"],
                               electrodes=electrodes, channel_types=["emg", "emg", "emg", "force"],
                               units=["uV", "uV", "uV", "N"],
                               meta={"subject": "S01", "seed": np.int64(7), "filters": {"hp_hz": 20.0},
                                     "gains": np.array([1.0, 2.0]), "note": "µV ✓"})
    rec.set_muscles({"R1C1": "tibialis anterior", "R1C2": "tibialis anterior", "needle": "biceps"})
    return rec


def _sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_round_trip_float32_exact(tmp_path):
    rec = _recording()
    path = write_h5(rec, tmp_path / "rec.h5")
    assert emgkit_h5.sniff(path)
    back = check_recording(emgkit.read(path), expected_fs=2048.0, expected_shape=(4, 5000))
    assert back.format == "emgkit_h5"
    np.testing.assert_array_equal(back.get_data(), rec.get_data().astype(np.float32).astype(np.float64))
    assert back.invalid.tolist() == [0, 10, 0, 0]
    for attr in ("channels", "muscles", "electrodes", "channel_types", "units"):
        assert getattr(back, attr) == getattr(rec, attr), attr
    assert back.meta["subject"] == "S01" and back.meta["seed"] == 7
    assert back.meta["filters"] == {"hp_hz": 20.0} and back.meta["gains"] == [1.0, 2.0]
    assert back.meta["note"] == "µV ✓"
    assert back.meta["source_format"] == "array"


@pytest.mark.parametrize("compression", [None, "gzip", "lzf"])
def test_round_trip_float64_and_compressions(tmp_path, compression):
    rec = _recording(n=3001)
    path = write_h5(rec, tmp_path / "rec.h5", dtype="float64", compression=compression)
    back = emgkit.read(path)
    np.testing.assert_array_equal(back.get_data(), rec.get_data())
    with h5py.File(path) as f:
        assert f["emg"].dtype == np.float64
        assert f["emg"].compression == compression
        assert f["emg"].chunks == (4, 2048)  # 1 s x all channels
        assert f.attrs["schema_version"] == emgkit_h5.SCHEMA_VERSION


def test_rewrite_is_byte_identical(tmp_path):
    rec = _recording(n=2000)
    tables = {"discharges": pd.DataFrame({"time": [0.5, 1.25], "muscle": ["TA", "TA"], "unit": [0, 1]})}
    a = write_h5(rec, tmp_path / "a.h5", tables=tables, attrs={"seed": 3})
    time.sleep(1.05)  # HDF5 timestamps have 1 s resolution: any stored time would now differ
    b = write_h5(rec, tmp_path / "b.h5", tables=tables, attrs={"seed": 3})
    assert _sha256(a) == _sha256(b)
    c = write_h5(rec, tmp_path / "a.h5", tables=tables, attrs={"seed": 3})  # overwrite in place
    assert _sha256(c) == _sha256(b)
    assert sorted(os.listdir(tmp_path)) == ["a.h5", "b.h5"]  # no temporary files left behind


def test_tables_round_trip(tmp_path):
    truth = pd.DataFrame({
        "time": [0.1, 0.2, 0.35],
        "muscle": ["tibialis anterior", "biceps", "µ-muscle"],
        "unit": np.array([0, 1, 2], dtype=np.int32),
        "event": [0, -1, 1],
        "in_event": [True, False, True],
        "kind": pd.Categorical(["doublet", "fasciculation", "doublet"]),
        "note": ["a", None, "c"],
        "when": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
        "count": pd.array([1, None, 3], dtype="Int64"),
    })
    empty = pd.DataFrame({"muscle": pd.Series([], dtype=str), "start": pd.Series([], dtype=float)})
    path = write_h5(_recording(n=500), tmp_path / "sim.h5", tables={"discharges": truth, "segments": empty})
    tables = read_tables(path)
    assert list(tables) == ["discharges", "segments"]
    got = tables["discharges"]
    assert list(got.columns) == list(truth.columns)
    np.testing.assert_array_equal(got["time"], truth["time"])
    assert got["muscle"].tolist() == truth["muscle"].tolist()
    assert got["unit"].tolist() == [0, 1, 2] and got["unit"].dtype == np.int64
    assert got["event"].tolist() == [0, -1, 1]
    assert got["in_event"].dtype == bool and got["in_event"].tolist() == [True, False, True]
    assert got["kind"].tolist() == ["doublet", "fasciculation", "doublet"]
    assert got["note"].tolist()[0] == "a" and got["note"].isna().tolist() == [False, True, False]
    assert (got["when"] == truth["when"]).all()
    np.testing.assert_array_equal(got["count"], [1.0, np.nan, 3.0])
    assert len(tables["segments"]) == 0 and list(tables["segments"].columns) == ["muscle", "start"]
    # A file without tables gives an empty dict; the recording still reads.
    plain = write_h5(_recording(n=100), tmp_path / "plain.h5")
    assert read_tables(plain) == {}


def test_user_attrs_and_pickle(tmp_path):
    path = write_h5(_recording(n=300), tmp_path / "r.h5", attrs={"simulator": "isaacs", "seed": 11})
    back = emgkit.read(path)
    assert back.meta["h5_attrs"] == {"simulator": "isaacs", "seed": 11}
    again = pickle.loads(pickle.dumps(back))
    np.testing.assert_array_equal(again.get_data(10, 20), back.get_data(10, 20))


def test_writer_reads_source_in_blocks(tmp_path):
    n, fs = 200_000, 10_000.0

    class Guarded:
        largest = 0

        def read(self, start, stop, idx):
            Guarded.largest = max(Guarded.largest, stop - start)
            return np.tile(np.arange(start, stop, dtype=np.float64), (idx.size, 1))

    rec = Recording(Guarded(), fs, ["a", "b"], n)
    path = write_h5(rec, tmp_path / "big.h5", compression=None)
    assert Guarded.largest < n  # never the whole recording at once
    np.testing.assert_array_equal(emgkit.read(path).get_data(150_000, 150_010)[1], np.arange(150_000, 150_010))


def test_write_errors(tmp_path):
    rec = _recording(n=100)
    with pytest.raises(ParameterError, match="dtype"):
        write_h5(rec, tmp_path / "x.h5", dtype="int16")
    with pytest.raises(ParameterError, match="compression"):
        write_h5(rec, tmp_path / "x.h5", compression="zstd")
    with pytest.raises(ParameterError, match="reserved attribute 'fs'"):
        write_h5(rec, tmp_path / "x.h5", attrs={"fs": 1})
    with pytest.raises(ParameterError, match="DataFrame"):
        write_h5(rec, tmp_path / "x.h5", tables={"t": [1, 2]})
    with pytest.raises(ParameterError, match="column names"):
        write_h5(rec, tmp_path / "x.h5", tables={"t": pd.DataFrame({"a/b": [1]})})
    with pytest.raises(ParameterError, match="Recording"):
        write_h5(np.zeros((2, 10)), tmp_path / "x.h5")
    with pytest.raises(EmgkitFileNotFoundError, match="does not exist"):
        write_h5(rec, tmp_path / "missing" / "x.h5")
    assert os.listdir(tmp_path) == []  # failed writes leave nothing behind


def _corrupt(tmp_path, edit):
    path = write_h5(_recording(n=1000), tmp_path / "c.h5")
    with h5py.File(path, "a") as f:
        edit(f)
    return path


def test_damaged_files(tmp_path):
    good = write_h5(_recording(n=1000), tmp_path / "good.h5")
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(FileFormatError, match=str(truncated)):
        emgkit_h5.read(truncated)

    def shorter(f):
        f.attrs["n_samples"] = 2000
    with pytest.raises(FileFormatError, match="holds 1000 samples but the header promises 2000"):
        emgkit.read(_corrupt(tmp_path, shorter))

    def one_name_less(f):
        names = f["channels/name"][:-1]
        del f["channels/name"]
        f["channels/name"] = names
    with pytest.raises(FileFormatError, match="lists 3 channels"):
        emgkit.read(_corrupt(tmp_path, one_name_less))

    def no_muscles(f):
        del f["channels/muscle"]
    with pytest.raises(FileFormatError, match="missing /channels/muscle"):
        emgkit.read(_corrupt(tmp_path, no_muscles))

    def future(f):
        f.attrs["schema_version"] = 99
    with pytest.raises(FileFormatError, match="newer"):
        emgkit.read(_corrupt(tmp_path, future))

    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.zeros(3)
    assert not emgkit_h5.sniff(other)
    with pytest.raises(FileFormatError, match="not an emgkit recording"):
        emgkit_h5.read(other)
    with pytest.raises(ParameterError, match="no options"):
        emgkit_h5.read(good, fs=10)
    assert not emgkit_h5.sniff(tmp_path / "nope.h5")


def test_public_entry_points_and_edge_recordings(tmp_path):
    assert emgkit.write_h5 is write_h5 and emgkit.io.write_h5 is write_h5
    empty = Recording.from_array(np.zeros((2, 0)), 100.0, meta={(1, 2): "tuple key", 3: [np.float32(1.5)]})
    back = emgkit.read(write_h5(empty, tmp_path / "empty.h5"))
    assert (back.n_channels, back.n_samples) == (2, 0)
    assert back.meta["(1, 2)"] == "tuple key" and back.meta["3"] == [1.5]  # keys become strings
    # Channel order requested out of order / repeated comes back as asked.
    rec = emgkit.read(write_h5(_recording(n=50), tmp_path / "r.h5"))
    full = rec.get_data()
    np.testing.assert_array_equal(rec.get_data(channels=[3, 0, 3]), full[[3, 0, 3]])
