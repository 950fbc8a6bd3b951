"""MATLAB v5 / v7.3 layouts: Ninapro, CapgMyo, DEMUSE, generic matrices."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.io
from reader_conformance import check_recording

import emgkit
from emgkit import FileFormatError, ParameterError
from emgkit.io import guess_format
from emgkit.io.matlab import mat_version


def _write_v73(path, variables: dict):
    """A file laid out as MATLAB -v7.3 writes it: HDF5 with a 512-byte userblock holding the
    MAT header text, arrays stored transposed, MATLAB_class attributes, cells as references."""
    with h5py.File(path, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")
        for name, value in variables.items():
            if isinstance(value, np.ndarray) and value.dtype == object:  # cell array
                ref_arr = np.empty(value.shape[::-1], dtype=h5py.ref_dtype)
                for idx in np.ndindex(value.shape):
                    elem = np.asarray(value[idx], dtype=np.float64)
                    ds = refs.create_dataset(f"{name}_{'_'.join(map(str, idx))}", data=elem.T)
                    ds.attrs["MATLAB_class"] = np.bytes_("double")
                    ref_arr[idx[::-1]] = ds.ref
                ds = f.create_dataset(name, data=ref_arr)
                ds.attrs["MATLAB_class"] = np.bytes_("cell")
            else:
                arr = np.atleast_2d(np.asarray(value, dtype=np.float64))
                ds = f.create_dataset(name, data=arr.T)
                ds.attrs["MATLAB_class"] = np.bytes_("double")
    text = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    header = text.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    with open(path, "r+b") as fh:
        fh.write(header)
    return path


def _ninapro(n=600, n_ch=10, seed=0):
    rng = np.random.default_rng(seed)
    emg = rng.normal(0, 2e-5, (n, n_ch))  # volts, as the Delsys databases hold them
    stim = (np.arange(n) * 6 // n)[:, None].astype(float)
    return {"emg": emg, "stimulus": stim, "restimulus": stim, "repetition": (stim > 0).astype(float),
            "subject": 3.0, "exercise": 1.0}


def test_ninapro_v5_needs_fs(tmp_path):
    path = tmp_path / "S3_E1_A1.mat"
    scipy.io.savemat(path, _ninapro())
    assert guess_format(path) == "matlab"
    with pytest.raises(ParameterError, match=r"S3_E1_A1.mat.*no sampling rate.*DB2 2000 Hz"):
        emgkit.read(path)


def test_ninapro_v5(tmp_path):
    variables = _ninapro()
    path = tmp_path / "S3_E1_A1.mat"
    scipy.io.savemat(path, variables)
    rec = check_recording(emgkit.read(path, fs=2000), expected_fs=2000.0, expected_shape=(13, 600))
    assert rec.channel_types == ["emg"] * 10 + ["trigger"] * 3
    assert rec.channels[10:] == ["stimulus", "restimulus", "repetition"]
    np.testing.assert_allclose(rec.get_data()[:10], variables["emg"].T * 1e6)  # V -> µV
    np.testing.assert_array_equal(rec.get_data()[10], variables["stimulus"][:, 0])
    assert rec.meta["subject"] == 3 and rec.meta["dataset"] == "Ninapro"
    db1 = emgkit.read(path, fs=100)
    assert "RMS" in db1.meta["note"]


def test_capgmyo_v5(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.uniform(-1, 1, (1000, 128))
    path = tmp_path / "001-001-001.mat"
    scipy.io.savemat(path, {"data": data, "gesture": 1.0, "subject": 1.0, "trial": 1.0})
    rec = check_recording(emgkit.read(path), expected_fs=1000.0, expected_shape=(128, 1000))
    np.testing.assert_allclose(rec.get_data(), data.T * 2500.0)  # ±1 = ±2.5 mV
    assert rec.electrodes[17].grid == "CapgMyo array 2" and (rec.electrodes[17].row, rec.electrodes[17].col) == (1, 0)
    assert rec.meta["gesture"] == 1


def test_generic_v5_orientation_units_fs(tmp_path):
    rng = np.random.default_rng(2)
    sig = rng.normal(0, 1, (3, 500))  # channels x samples
    path = tmp_path / "generic.mat"
    scipy.io.savemat(path, {"signal": sig, "fsamp": 4000.0})
    rec = check_recording(emgkit.read(path, units="mV"), expected_fs=4000.0, expected_shape=(3, 500))
    np.testing.assert_allclose(rec.get_data(), sig * 1000.0)
    assert rec.meta["units_assumed"] is False
    forced = emgkit.read(path, channels_first=False)  # says rows are samples: 500 channels of 3 samples
    assert forced.n_channels == 500 and forced.n_samples == 3
    assert emgkit.read(path, fs=1000).fs == 1000.0


def test_generic_errors(tmp_path):
    path = tmp_path / "nofs.mat"
    scipy.io.savemat(path, {"data": np.zeros((100, 2))})
    with pytest.raises(ParameterError, match="nofs.mat.*no sampling rate.*fs="):
        emgkit.read(path)
    path = tmp_path / "nomatrix.mat"
    scipy.io.savemat(path, {"name": "x", "fs": 1000.0})
    with pytest.raises(FileFormatError, match="nomatrix.mat.*no EMG matrix.*variable="):
        emgkit.read(path)
    with pytest.raises(ParameterError, match="no variable named 'nope'"):
        emgkit.read(path, variable="nope")
    with pytest.raises(ParameterError, match="units"):
        emgkit.read(path, units="furlongs")
    garbage = tmp_path / "garbage.mat"
    garbage.write_bytes(b"\x00\x01 not a MAT file at all" * 20)
    with pytest.raises(FileFormatError, match="garbage.mat.*not a MATLAB"):
        emgkit.read(garbage)


def test_demuse_v5(tmp_path):
    rng = np.random.default_rng(5)
    sig = np.empty((2, 3), dtype=object)
    vectors = {}
    for r in range(2):
        for c in range(3):
            v = rng.normal(0, 10, 200) if (r, c) != (0, 0) else np.zeros(0)
            sig[r, c] = v[None, :] if v.size else np.zeros((0, 0))
            vectors[(r, c)] = v
    path = tmp_path / "demuse.mat"
    scipy.io.savemat(path, {"SIG": sig, "fsamp": 2048.0, "IED": 8.0})
    rec = check_recording(emgkit.read(path), expected_fs=2048.0, expected_shape=(5, 200))
    # Column-major order of the non-empty cells: (1,0), (0,1), (1,1), (0,2), (1,2).
    order = [(1, 0), (0, 1), (1, 1), (0, 2), (1, 2)]
    np.testing.assert_allclose(rec.get_data(), np.vstack([vectors[p] for p in order]))
    assert [(e.row, e.col) for e in rec.electrodes] == order
    assert rec.electrodes[2].x_mm == 8.0 and rec.electrodes[2].ied_mm == 8.0


def test_v73_generic_and_ninapro(tmp_path):
    variables = _ninapro(n=800, n_ch=12)
    path = _write_v73(tmp_path / "S1_E1_A1.mat", variables)
    assert mat_version(path) == "v7.3"
    with open(path, "rb") as fh:
        assert fh.read(19) == b"MATLAB 7.3 MAT-file"
    with h5py.File(path, "r") as f:
        assert f["emg"].shape == (12, 800)  # h5py sees MATLAB's 800 x 12 transposed
    rec = check_recording(emgkit.read(path, fs=2000), expected_fs=2000.0, expected_shape=(15, 800))
    np.testing.assert_allclose(rec.get_data()[:12], variables["emg"].T * 1e6)
    assert rec.meta["mat_version"] == "v7.3"

    rng = np.random.default_rng(7)
    data = rng.normal(0, 50, (1000, 4))  # MATLAB samples x channels
    path = _write_v73(tmp_path / "generic73.mat", {"data": data, "fs": 2000.0})
    rec = check_recording(emgkit.read(path), expected_fs=2000.0, expected_shape=(4, 1000))
    np.testing.assert_array_equal(rec.get_data(10, 20, channels=[3, 1]), data[10:20, [3, 1]].T)


def test_v73_demuse_cells(tmp_path):
    sig = np.empty((1, 2), dtype=object)
    sig[0, 0] = np.arange(50.0)[None, :]
    sig[0, 1] = -np.arange(50.0)[None, :]
    path = _write_v73(tmp_path / "demuse73.mat", {"SIG": sig, "fsamp": 2048.0, "IED": 4.0})
    rec = check_recording(emgkit.read(path), expected_fs=2048.0, expected_shape=(2, 50))
    np.testing.assert_array_equal(rec.get_data(), np.vstack([np.arange(50.0), -np.arange(50.0)]))
