"""emgkit.read: dispatch by extension then content, overrides, and the errors users see."""
from __future__ import annotations

import importlib

import h5py
import numpy as np
import pytest

import emgkit
from emgkit.errors import EmgkitFileNotFoundError, ParameterError, UnsupportedFormatError
from emgkit.io import FORMATS, guess_format
from emgkit.io.emgkit_h5 import write_h5

DELSYS_CSV = (
    "Label: Trigno sensor 1: EMG 1 Sampling frequency: 2.000000e+003 Number of points: 4 start: 0.000000e+000 "
    "Unit: V Domain Unit: s\n"
    "Start Trigger Method: None\nStop Trigger Method: None\n\n"
    'X[s],"Trigno sensor 1: EMG 1"\n'
    "0,1e-5\n0.0005,2e-5\n0.001,-1e-5\n0.0015,0\n"
)


@pytest.fixture
def plain_csv(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("time,TA,GM\n0,1,2\n0.001,3,4\n0.002,5,6\n0.003,7,8\n")
    return path


def test_every_registered_format_has_a_reader():
    for spec in FORMATS:
        module = importlib.import_module(f"emgkit.io.{spec.module}")
        assert callable(module.read), spec.name
        assert all(ext.startswith(".") and ext == ext.lower() for ext in spec.extensions)
    shared = {}
    for spec in FORMATS:
        for ext in spec.extensions:
            shared.setdefault(ext, []).append(spec)
    for ext, specs in shared.items():
        # All but the last reader of a shared extension must tell their files by content.
        for spec in specs[:-1]:
            assert callable(getattr(importlib.import_module(f"emgkit.io.{spec.module}"), "sniff", None)), (ext, spec)


def test_missing_file(tmp_path):
    path = tmp_path / "nothere.csv"
    with pytest.raises(EmgkitFileNotFoundError, match="nothere.csv: file not found"):
        emgkit.read(path)
    with pytest.raises(FileNotFoundError):  # the builtin still catches it
        emgkit.read(path)


def test_unknown_extension_lists_formats(tmp_path):
    path = tmp_path / "rec.xyz"
    path.write_text("1,2\n")
    with pytest.raises(UnsupportedFormatError) as info:
        emgkit.read(path)
    msg = str(info.value)
    assert "rec.xyz" in msg and "'.xyz'" in msg
    for spec in FORMATS:
        assert spec.name in msg


def test_dat_suggests_header(tmp_path):
    path = tmp_path / "R00108.dat"
    path.write_bytes(b"\x00" * 16)
    with pytest.raises(UnsupportedFormatError, match=r"did you mean '.*R00108\.hea'"):
        emgkit.read(path)


def test_directory(tmp_path):
    with pytest.raises(UnsupportedFormatError, match="is a directory"):
        emgkit.read(tmp_path)


def test_format_override(tmp_path, plain_csv):
    disguised = tmp_path / "delsys_export.txt"
    disguised.write_text(DELSYS_CSV)
    assert guess_format(disguised) == "plain"
    rec = emgkit.read(disguised, format="delsys_csv")
    assert rec.format == "delsys_csv" and rec.fs == 2000.0
    np.testing.assert_allclose(rec.get_data()[0], [10.0, 20.0, -10.0, 0.0])
    with pytest.raises(UnsupportedFormatError, match="unknown format 'nope'"):
        emgkit.read(plain_csv, format="nope")


def test_muscles_override(plain_csv):
    assert emgkit.read(plain_csv).muscles == ["TA", "GM"]  # names stand in when the file has no muscle
    assert emgkit.read(plain_csv, muscles="soleus").muscles == ["soleus", "soleus"]
    rec = emgkit.read(plain_csv, muscles={"GM": "gastrocnemius medialis"})
    assert rec.muscles == ["TA", "gastrocnemius medialis"]
    with pytest.raises(ParameterError, match="do not exist: XX"):
        emgkit.read(plain_csv, muscles={"XX": "biceps"})


def test_options_reach_the_reader(tmp_path):
    path = tmp_path / "REC.NPY"  # extensions match case-insensitively
    with open(path, "wb") as fh:
        np.save(fh, np.ones((2, 50)))
    rec = emgkit.read(path, fs=1000, units="mV")
    assert rec.format == "plain" and rec.fs == 1000 and rec.get_data()[0, 0] == 1000.0


def test_csv_resolved_by_content(tmp_path, plain_csv):
    delsys = tmp_path / "delsys.csv"
    delsys.write_text(DELSYS_CSV)
    assert guess_format(delsys) == "delsys_csv"
    assert guess_format(plain_csv) == "plain"
    assert emgkit.read(delsys).format == "delsys_csv"
    assert emgkit.read(plain_csv).format == "plain"


def test_h5_resolved_by_content(tmp_path):
    ours = write_h5(emgkit.Recording.from_array(np.zeros((1, 10)), 100.0), tmp_path / "ours.h5")
    plux = tmp_path / "plux.hdf5"
    with h5py.File(plux, "w") as f:
        g = f.create_group("00:07:80:00:00:01")
        g.attrs.update({"sampling rate": 1000, "resolution": [16], "channels": [1], "nsamples": 10})
        g.create_dataset("raw/channel_1", data=np.full((10, 1), 2**15, np.uint16)).attrs["sensor"] = "EMG"
    assert guess_format(ours) == "emgkit_h5"
    assert guess_format(plux) == "opensignals"
    assert emgkit.read(plux).get_data().tolist() == [[0.0] * 10]


def test_mat_resolved_by_content(tmp_path):
    pytest.importorskip("emgkit.io.matlab")
    pytest.importorskip("emgkit.io.otb_mat")
    from scipy.io import savemat

    generic = tmp_path / "generic.mat"
    savemat(generic, {"data": np.zeros((1000, 4)), "fs": 2000.0})
    assert guess_format(generic) == "matlab"
    otb = tmp_path / "otb_export.mat"
    data = np.empty((1, 1), dtype=object)
    data[0, 0] = np.zeros((100, 2))
    description = np.empty((2, 1), dtype=object)
    description[0, 0] = "Tibialis - MULTIPLE IN 1 (Channel 1->64) - GR08MM1305 (1)[uV]"
    description[1, 0] = "Tibialis - MULTIPLE IN 1 (Channel 1->64) - GR08MM1305 (2)[uV]"
    savemat(otb, {"Data": data, "Description": description, "SamplingFrequency": 2048.0})
    assert guess_format(otb) == "otb_mat"


def test_unknown_option_is_a_parameter_error(tmp_path):
    delsys = tmp_path / "delsys.csv"
    delsys.write_text(DELSYS_CSV)
    with pytest.raises(ParameterError, match=r"delsys_csv reader does not take fs= \(it takes rate=\)"):
        emgkit.read(delsys, fs=1000)
    plux = tmp_path / "x.npy"
    np.save(plux, np.zeros((1, 20)))
    with pytest.raises(ParameterError, match="does not take sampling_rate="):
        emgkit.read(plux, sampling_rate=1000)
