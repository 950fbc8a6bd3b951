"""Plain CSV/TSV/.npy, Delsys CSV, OpenSignals HDF5 and Spike2 readers: real files and generated ones."""
from __future__ import annotations

import pickle
import sys

import h5py
import numpy as np
import pytest

import emgkit
from emgkit.errors import EmgkitError, FileFormatError, ParameterError, UnsupportedFormatError
from emgkit.io import delsys_csv, opensignals
from reader_conformance import check_recording
from conftest import shared_file


def _raises(cls, match, func, *args, **kwargs):
    """Call ``func`` expecting ``cls`` whose message names ``match``; return the message."""
    with pytest.raises(cls, match=match) as info:
        func(*args, **kwargs)
    return str(info.value)


# ============================================================================ plain
def test_plain_csv_with_header_and_time_column(tmp_path):
    rng = np.random.default_rng(1)
    fs, n = 2000.0, 1001
    t = np.arange(n) / fs
    x = rng.normal(size=(2, n)).round(4)
    path = tmp_path / "rec.csv"
    rows = "\n".join(f"{ti:.6f},{a},{b}" for ti, a, b in zip(t, *x))
    path.write_text("time,TA,GM\n" + rows + "\n")
    rec = check_recording(emgkit.read(path, units="mV"), expected_fs=pytest.approx(fs, rel=1e-6),
                          expected_shape=(2, n))
    assert rec.format == "plain"
    assert rec.channels == ["TA", "GM"]
    np.testing.assert_allclose(rec.get_data(), x * 1e3, rtol=1e-12)
    assert rec.meta["time_column"] == "time"


def test_plain_tsv_time_in_ms_comments_and_empty_cells(tmp_path):
    path = tmp_path / "rec.tsv"
    path.write_text("# exported by a lab script\nt (ms)\tEMG\n0\t1.5\n0.5\t\n1.0\t-2\n1.5\tnan\n")
    rec = check_recording(emgkit.read(path), expected_shape=(1, 4))
    assert rec.fs == pytest.approx(2000.0)
    np.testing.assert_array_equal(rec.get_data()[0], [1.5, np.nan, -2.0, np.nan])
    assert rec.invalid.tolist() == [2]


def test_plain_whitespace_txt_without_header_needs_fs(tmp_path):
    path = tmp_path / "rec.txt"
    path.write_text("0.1 0.2 0.3\n0.4  0.5\t0.6\n-0.1 -0.2 -0.3\n0 0 0\n")
    msg = _raises(ParameterError, "fs=", emgkit.read, path)
    assert str(path) in msg and "time column" in msg
    rec = check_recording(emgkit.read(path, fs=100, units="V"), expected_shape=(3, 4))
    expected = np.array([[0.1, 0.4, -0.1, 0], [0.2, 0.5, -0.2, 0], [0.3, 0.6, -0.3, 0]]) * 1e6
    np.testing.assert_allclose(rec.get_data(), expected, rtol=1e-12)
    assert rec.channels == ["EMG1", "EMG2", "EMG3"]


def test_plain_libemg_myo_csv(shared_data):
    path = shared_file(shared_data, "libemg-myo/emg_data_myo.csv")
    rec = check_recording(emgkit.read(path, fs=200), expected_fs=200.0, expected_shape=(8, 500))
    data = rec.get_data()
    # PROVENANCE.md: Myo int8 counts, -128..127.
    assert np.all(data == np.round(data)) and data.min() >= -128 and data.max() <= 127
    np.testing.assert_array_equal(data[:, 0], [-3, 1, 1, -8, 0, 3, 3, 2])  # the file's first line


@pytest.mark.parametrize("channels_first", [True, False])
def test_plain_npy_orientation_and_lazy_memmap(tmp_path, channels_first):
    rng = np.random.default_rng(2)
    x = rng.integers(-500, 500, size=(4, 3000)).astype(np.int16)
    path = tmp_path / "rec.npy"
    np.save(path, x if channels_first else x.T)
    rec = check_recording(emgkit.read(path, fs=4000, units="mV"), expected_shape=(4, 3000))
    np.testing.assert_array_equal(rec.get_data(), x * 1e3)
    # Forcing the other orientation is obeyed.
    flipped = emgkit.read(path, fs=4000, channels_first=not channels_first)
    assert flipped.n_channels == 3000
    # Pickles without holding the memmap (for process pools).
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(rec)).get_data(0, 10), x[:, :10] * 1e3)


def test_plain_npy_1d(tmp_path):
    path = tmp_path / "one.npy"
    np.save(path, np.arange(10.0))
    rec = check_recording(emgkit.read(path, fs=10), expected_shape=(1, 10))
    np.testing.assert_array_equal(rec.get_data()[0], np.arange(10.0))


@pytest.mark.parametrize("content, match", [
    ("", "empty"),
    ("# only a comment\n\n", "empty"),
    ("a,b\n", "no data rows"),
    ("1,2\n3,4,5\n", "line 2 has 3 fields"),
    ("1,2,3\n4,5\n6,7,8\n", "line 2 has 2 fields"),
    ("EMG1,EMG2\n1,2\n3,x7\n", r"line 3, column 2 \('EMG2'\): 'x7' is not a number"),
])
def test_plain_csv_broken(tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    msg = _raises(FileFormatError, match, emgkit.read, path, fs=1000)
    assert str(path) in msg


def test_plain_time_column_problems(tmp_path):
    path = tmp_path / "gap.csv"
    path.write_text("time,EMG\n0,1\n0.001,2\n0.003,3\n0.004,4\n")
    _raises(FileFormatError, "not uniform", emgkit.read, path)
    path = tmp_path / "ok.csv"
    path.write_text("time,EMG\n0,1\n0.001,2\n0.002,3\n")
    _raises(ParameterError, "disagrees with the time column", emgkit.read, path, fs=500)
    assert emgkit.read(path, fs=1000).fs == 1000


def test_plain_bad_options(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("1,2\n")
    _raises(ParameterError, "units=", emgkit.read, path, fs=10, units="furlongs")
    _raises(ParameterError, "fs", emgkit.read, path, fs=-5)
    _raises(ParameterError, "channels_first", emgkit.read, path, fs=10, channels_first=True)


def test_plain_npy_broken(tmp_path):
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    _raises(FileFormatError, "empty|truncated", emgkit.read, empty, fs=10)
    strings = tmp_path / "strings.npy"
    np.save(strings, np.array(["a", "b"]))
    _raises(FileFormatError, "dtype", emgkit.read, strings, fs=10)
    cube = tmp_path / "cube.npy"
    np.save(cube, np.zeros((2, 3, 4)))
    _raises(FileFormatError, "3-D", emgkit.read, cube, fs=10)
    ok = tmp_path / "ok.npy"
    np.save(ok, np.zeros((2, 30)))
    _raises(ParameterError, "fs=", emgkit.read, ok)


# ============================================================================ Delsys
def _write_delsys(path, emg_v, acc_g, fs_emg=2000.0, fs_acc=148.1481, sensor="Trigno sensor 1"):
    n_emg, n_acc = emg_v.size, acc_g.size
    lines = [
        f"Label: {sensor}: EMG 1 Sampling frequency: {fs_emg:e} Number of points: {n_emg} start: 0.000000e+000 "
        "Unit: V Domain Unit: s",
        f"Label: {sensor}: ACC.X 1 Sampling frequency: {fs_acc:e} Number of points: {n_acc} start: 0.000000e+000 "
        "Unit: g Domain Unit: s",
        "Start Trigger Method: None", "Stop Trigger Method: None", "",
        f'X[s],"{sensor}: EMG 1",X[s],"{sensor}: ACC.X 1"',
    ]
    for i in range(max(n_emg, n_acc)):
        emg = f"{i / fs_emg:.7g},{float(emg_v[i])!r}" if i < n_emg else ","
        acc = f"{i / fs_acc:.7g},{float(acc_g[i])!r}" if i < n_acc else ","
        lines.append(f"{emg},{acc}")
    path.write_text("\n".join(lines) + "\n")


def test_delsys_generated(tmp_path):
    rng = np.random.default_rng(3)
    emg = rng.normal(scale=1e-4, size=400)
    acc = rng.normal(size=30)
    path = tmp_path / "trial.csv"
    _write_delsys(path, emg, acc, sensor="R Tibialis Anterior")
    assert delsys_csv.sniff(path)
    rec = check_recording(emgkit.read(path), expected_fs=2000.0, expected_shape=(1, 400))
    assert rec.format == "delsys_csv"
    np.testing.assert_allclose(rec.get_data()[0], emg * 1e6, rtol=1e-12)
    assert rec.muscles == ["R Tibialis Anterior"]  # a user-named sensor is the muscle
    assert rec.electrode_kind == "surface_bipolar"
    assert rec.meta["channels_at_other_rates"] == {"148.148 Hz": ["R Tibialis Anterior: ACC.X 1"]}
    aux = check_recording(emgkit.read(path, rate=148.1481), expected_shape=(1, 30))
    assert aux.channel_types == ["acc"] and aux.units == ["g"]
    np.testing.assert_allclose(aux.get_data()[0], acc, rtol=1e-12)
    _raises(ParameterError, "no channel runs at rate=50", emgkit.read, path, rate=50)


def test_delsys_trigno_real(shared_data):
    path = shared_file(shared_data, "delsys-trigno-emgio/truncated_trigno_sample.csv")
    assert delsys_csv.sniff(path)
    # PROVENANCE.md: 2 EMG channels at 1259.259 Hz, 2519 samples each; ACC/GYRO at 148.148 Hz kept out.
    rec = check_recording(emgkit.read(path), expected_fs=1259.259, expected_shape=(2, 2519))
    assert rec.channels == ["EMG 10", "EMG 11"]
    assert rec.meta["sensors"] == {"EMG 10": "Mini sensor 10", "EMG 11": "Mini sensor 11"}
    assert len(rec.meta["channels_at_other_rates"]["148.148 Hz"]) == 12
    data = rec.get_data()
    # PROVENANCE.md: EMG 10 within ±0.47 mV; EMG 11 resting, about 10 µV std.
    assert 400 < np.abs(data[0]).max() <= 475
    assert 5 < data[1].std() < 20
    # Last data row of the file: 1.999588,0.0002955825,...,1.999588,-1.762417e-05
    np.testing.assert_allclose(data[:, -1], [295.5825, -17.62417], rtol=1e-9)
    imu = check_recording(emgkit.read(path, rate=148.148), expected_shape=(12, 297))
    assert set(imu.channel_types) == {"acc", "gyro"}


def test_delsys_broken(tmp_path):
    path = tmp_path / "d.csv"
    _write_delsys(path, np.zeros(20), np.zeros(3))
    lines = path.read_text().splitlines()
    cut = tmp_path / "noheader.csv"
    cut.write_text("\n".join(lines[:5]) + "\n")
    _raises(FileFormatError, "no column header", delsys_csv.read, cut)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("\n".join(lines[:8] + [lines[8] + ",9,9"] + lines[9:]) + "\n")
    _raises(FileFormatError, "ragged", delsys_csv.read, ragged)
    text = tmp_path / "text.csv"
    text.write_text("\n".join(lines[:8] + ["0.001,abc,,"] + lines[9:]) + "\n")
    _raises(FileFormatError, "not numeric", delsys_csv.read, text)
    wrong = tmp_path / "wrongcols.csv"
    wrong.write_text("\n".join(lines[:5] + ['X[s],"Trigno sensor 1: EMG 1"'] + lines[6:]) + "\n")
    _raises(FileFormatError, "time, value pairs", delsys_csv.read, wrong)


# ============================================================================ OpenSignals
def _write_opensignals(path, adc, *, bits=16, device="biosignalsplux", sensor="EMG", nsamples=None,
                       mac="00:07:80:00:00:01"):
    with h5py.File(path, "w") as f:
        f.attrs["md5TXT"] = "0"
        g = f.create_group(mac)
        g.attrs["sampling rate"] = np.int32(1000)
        g.attrs["resolution"] = np.array([bits], np.int32)
        g.attrs["channels"] = np.array([1], np.int32)
        g.attrs["nsamples"] = np.int32(adc.size if nsamples is None else nsamples)
        g.attrs["device"] = device
        ds = g.create_dataset("raw/channel_1", data=adc.reshape(-1, 1).astype(np.uint16))
        if sensor is not None:
            ds.attrs["sensor"] = sensor
        ds.attrs["label"] = "CH1"
        g.create_dataset("raw/nSeq", data=(np.arange(adc.size) % 65536).reshape(-1, 1).astype(np.uint16))
        g.create_dataset("digital/digital_1", data=np.zeros((adc.size, 1), np.uint16))


def test_opensignals_transfer_function(tmp_path):
    adc = np.array([0, 2**15, 2**16 - 1, 2**14] * 50)
    path = tmp_path / "plux.h5"
    _write_opensignals(path, adc)
    rec = check_recording(emgkit.read(path), expected_fs=1000.0, expected_shape=(1, 200))
    assert rec.format == "opensignals" and rec.channels == ["CH1"]
    # µV = (ADC / 2**16 - 0.5) * 3 V / 1000 * 1e6
    np.testing.assert_allclose(rec.get_data()[0, :4], [-1500.0, 0.0, 1500.0 - 3e6 / 1000 / 2**16, -750.0],
                               rtol=1e-12)
    assert "sensor_assumed" not in rec.meta
    bit = tmp_path / "bitalino.h5"
    _write_opensignals(bit, np.array([0, 1023] * 10), bits=10, device="BITalino", sensor=None)
    rec = check_recording(emgkit.read(bit))
    np.testing.assert_allclose(rec.get_data()[0, :2], [-0.5 * 3.3 / 1009 * 1e6, (1023 / 1024 - 0.5) * 3.3 / 1009 * 1e6])
    assert "taken as EMG" in rec.meta["sensor_assumed"]
    acc = tmp_path / "acc.h5"
    _write_opensignals(acc, np.arange(20), sensor="ACC")
    rec = emgkit.read(acc)
    assert rec.channel_types == ["misc"] and rec.units == ["adc"]


@pytest.mark.parametrize("name, bits, n, muscle_hint", [
    ("emg_bursts.h5", 16, 28519, "Biceps"),
    ("emg_fatigue.h5", 12, 126900, "Biceps"),
    ("emg_1000_hz_16_bits_solo.h5", 16, 87600, "Adductor pollicis"),
])
def test_opensignals_real(shared_data, name, bits, n, muscle_hint):
    import json

    path = shared_file(shared_data, f"biosignalsnotebooks-opensignals/{name}")
    info = json.loads(path.with_name(name.replace(".h5", "_info.json")).read_text())
    assert muscle_hint in info["Observations"]
    fs = float(info["Sample Rate"].split()[0])
    rec = check_recording(emgkit.read(path), expected_fs=fs, expected_shape=(1, n))
    assert rec.meta["channels"][rec.channels[0]]["resolution_bits"] == bits
    assert rec.electrode_kind == "surface_bipolar"
    data = rec.get_data()
    assert data.min() >= -1500 and data.max() < 1500  # the sensor's ±1.5 mV range
    if name == "emg_fatigue.h5":
        # PROVENANCE.md: this one saturates at ±1.5 mV (12-bit ADC: 0 and 4095 counts).
        assert data.min() == -1500.0 and data.max() == pytest.approx(1500 - 3000 / 4096)


def test_opensignals_broken(tmp_path):
    short = tmp_path / "short.h5"
    _write_opensignals(short, np.arange(100), nsamples=150)
    _raises(FileFormatError, "promises nsamples=150", emgkit.read, short)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.zeros(3)
    _raises(FileFormatError, "neither an emgkit recording nor an OpenSignals", emgkit.read, other)
    noth5 = tmp_path / "fake.h5"
    noth5.write_bytes(b"not hdf5 at all")
    _raises(FileFormatError, "not an HDF5 file", emgkit.read, noth5)
    ok = tmp_path / "ok.h5"
    _write_opensignals(ok, np.arange(10))
    _raises(ParameterError, "no device", opensignals.read, ok, device="AA:BB")


# ============================================================================ Spike2
def test_spike2_real(shared_data):
    pytest.importorskip("neo")
    path = shared_file(shared_data, "emglab-sample-smr/Ramp_Piece.smr")
    # PROVENANCE.md: SMU at 20 kHz, 119 300 samples, std 0.048 V, range -0.81..0.70 V; Force 200 Hz kept out.
    rec = check_recording(emgkit.read(path), expected_fs=20000.0, expected_shape=(1, 119300))
    assert rec.channels == ["SMU"] and rec.channel_types == ["emg"]
    assert rec.meta["channels_at_other_rates"] == {"200 Hz": ["Force"]}
    data = rec.get_data()[0]
    assert data.std() == pytest.approx(0.048e6, rel=0.02)
    assert -0.82e6 < data.min() < -0.80e6 and 0.69e6 < data.max() < 0.71e6
    # Integer ADC counts × 1.5259e-4 V (scale in PROVENANCE.md): every sample is a multiple of it.
    counts = data / (1e6 * 10 / 65536)
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-6)
    force = check_recording(emgkit.read(path, rate=200), expected_fs=200.0, expected_shape=(1, 1193))
    assert force.channel_types == ["force"] and force.units == ["volt"]
    again = pickle.loads(pickle.dumps(rec))
    np.testing.assert_array_equal(again.get_data(5000, 6000), rec.get_data(5000, 6000))


def test_spike2_broken(tmp_path, shared_data):
    pytest.importorskip("neo")
    garbage = tmp_path / "garbage.smr"
    garbage.write_bytes(b"\x00\x01 this is not a SON file" * 10)
    _raises(FileFormatError, "not a CED Spike2", emgkit.read, garbage)
    empty = tmp_path / "empty.smr"
    empty.write_bytes(b"")
    _raises(FileFormatError, "empty", emgkit.read, empty)
    real = shared_file(shared_data, "emglab-sample-smr/Ramp_Piece.smr")
    truncated = tmp_path / "truncated.smr"
    truncated.write_bytes(real.read_bytes()[:50000])
    _raises(FileFormatError, "Neo cannot parse", emgkit.read, truncated)
    _raises(ParameterError, "no channels at rate=1000", emgkit.read, real, rate=1000)


def test_spike2_without_neo(tmp_path, monkeypatch):
    path = tmp_path / "x.smr"
    path.write_bytes(b"\x03\x00(C) CED 87" + bytes(600))
    monkeypatch.setitem(sys.modules, "neo", None)
    monkeypatch.setitem(sys.modules, "neo.rawio", None)
    msg = _raises(UnsupportedFormatError, "needs the 'neo' package", emgkit.read, path)
    assert "pip install 'emgkit[spike2]'" in msg and str(path) in msg
    assert isinstance(UnsupportedFormatError("x"), EmgkitError)


def test_spike2_smrx_without_sonpy(tmp_path):
    pytest.importorskip("neo")
    try:
        import sonpy  # noqa: F401
        pytest.skip("sonpy is installed: the missing-sonpy message cannot be shown")
    except ImportError:
        pass
    path = tmp_path / "x.smrx"
    path.write_bytes(bytes(256))
    msg = _raises(UnsupportedFormatError, "sonpy", emgkit.read, path)
    assert str(path) in msg


# ============================================================================ OpenSignals .txt
def _opensignals_txt(path, header, rows):
    import json

    lines = ["# OpenSignals Text File Format", "# " + json.dumps(header), "# EndOfHeader"]
    lines += ["\t".join(str(int(v)) for v in row) + "\t" for row in rows]
    path.write_text("\n".join(lines) + "\n")


def test_opensignals_txt_matches_h5(tmp_path, shared_data):
    h5 = shared_file(shared_data, "biosignalsnotebooks-opensignals/emg_bursts.h5")
    with h5py.File(h5) as f:
        mac = list(f)[0]
        adc = f[mac]["raw/channel_3"][:, 0]
    n = 5000
    header = {mac: {"sensor": ["EMG"], "column": ["nSeq", "DI", "CH3"], "label": ["PORT3_CHN1"],
                    "resolution": [16], "channels": [3], "sampling rate": 1000, "device": "channeller",
                    "position": 0}}
    path = tmp_path / "export.txt"
    _opensignals_txt(path, header, np.column_stack([np.arange(n), np.zeros(n), adc[:n]]))
    assert opensignals.sniff_txt(path)
    rec = check_recording(emgkit.read(path), expected_fs=1000.0, expected_shape=(1, n))
    assert rec.format == "opensignals" and rec.channels == ["PORT3_CHN1"]
    np.testing.assert_array_equal(rec.get_data(), emgkit.read(h5).get_data(0, n))
    _raises(ParameterError, "OpenSignals text export", emgkit.read, path, fs=1000)


def test_opensignals_txt_bitalino_and_broken(tmp_path):
    header = {"20:16:04:12:01:40": {"sensor": ["EMG", "RAW"], "column": ["nSeq", "I1", "I2", "O1", "O2", "A1", "A2"],
                                    "label": ["A1", "A2"], "resolution": [4, 1, 1, 1, 1, 10, 10],
                                    "sampling rate": 1000, "device": "bitalino_rev"}}
    rows = [[i % 16, 1, 1, 0, 0, a, 7] for i, a in enumerate([0, 512, 1023, 256])]
    path = tmp_path / "bit.txt"
    _opensignals_txt(path, header, rows)
    rec = check_recording(emgkit.read(path), expected_shape=(2, 4))
    assert rec.channel_types == ["emg", "misc"] and rec.units == ["uV", "adc"]
    span = 3.3 / 1009 * 1e6  # BITalino EMG: VCC 3.3 V, gain 1009
    np.testing.assert_allclose(rec.get_data()[0], (np.array([0, 512, 1023, 256]) / 1024 - 0.5) * span)
    np.testing.assert_array_equal(rec.get_data()[1], [7, 7, 7, 7])
    bad = tmp_path / "bad.txt"
    bad.write_text("# OpenSignals Text File Format\n# {not json\n# EndOfHeader\n1\t2\n")
    _raises(FileFormatError, "line 2: .*not valid JSON", emgkit.read, bad)
    short = tmp_path / "short.txt"
    _opensignals_txt(short, header, [r[:-1] for r in rows])
    _raises(FileFormatError, "rows have 6 columns; the header lists 7", emgkit.read, short)
