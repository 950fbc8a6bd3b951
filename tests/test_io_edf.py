"""EDF/EDF+/BDF reader and writer: round trips, BIDS-EMG sidecars, header checks."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from reader_conformance import check_recording

import emgkit
from emgkit import FileFormatError, TruncatedFileError
from emgkit.io.edf import aux_type_from_text, read_header


def _recording(n=4096, fs=2048.0, seed=0):
    rng = np.random.default_rng(seed)
    data = np.vstack([rng.normal(0, 50, n), rng.normal(0, 400, n), rng.uniform(0, 20, n),
                      rng.integers(0, 2, n).astype(float)])
    rec = emgkit.Recording.from_array(
        data, fs, channels=["TA", "GM", "Force", "Trig"],
        channel_types=["emg", "emg", "force", "trigger"], units=["uV", "uV", "N", "V"],
        electrodes=[emgkit.Electrode("needle_concentric"), emgkit.Electrode("surface_bipolar"),
                    emgkit.Electrode(), emgkit.Electrode()])
    rec.set_muscles({"TA": "tibialis anterior", "GM": "gastrocnemius medialis"})
    return rec, data


@pytest.mark.parametrize("bdf, levels", [(False, 65535), (True, 2 ** 24 - 1)])
def test_write_read_round_trip(tmp_path, bdf, levels):
    rec, data = _recording()
    path = emgkit.write_edf(rec, tmp_path / ("r.bdf" if bdf else "r.edf"), bdf=bdf)
    back = check_recording(emgkit.read(path), expected_fs=2048.0, expected_shape=data.shape)
    assert back.format == "edf"
    assert back.channels == rec.channels
    assert back.channel_types == ["emg", "emg", "force", "trigger"]
    assert back.units == ["uV", "uV", "N", "V"]
    assert back.muscles[:2] == ["tibialis anterior", "gastrocnemius medialis"]
    assert [e.kind for e in back.electrodes[:2]] == ["needle_concentric", "surface_bipolar"]
    # Equal within one quantisation step of each channel's written physical range.
    step = (data.max(axis=1) - data.min(axis=1)) / levels
    err = np.abs(back.get_data() - data).max(axis=1)
    assert np.all(err <= step * 1.0001 + 1e-12), (err, step)
    assert read_header(path).bdf is bdf


@pytest.mark.parametrize("fs, n", [(23437.5, 375 * 29), (2000.0, 10007)])
def test_write_odd_length_and_rate(tmp_path, fs, n):
    # 23437.5 Hz (EMGLAB N2001; 375 samples = 0.016 s exactly) and a prime sample count:
    # records must still tile the samples exactly.
    rng = np.random.default_rng(1)
    data = rng.normal(0, 100, (2, n))
    rec = emgkit.Recording.from_array(data, fs)
    back = emgkit.read(emgkit.write_edf(rec, tmp_path / "odd.edf"))
    assert back.fs == fs and back.n_samples == n
    step = (data.max(axis=1) - data.min(axis=1)) / 65535
    assert np.all(np.abs(back.get_data() - data).max(axis=1) <= step * 1.0001)


def test_write_pads_when_no_record_length_tiles(tmp_path, caplog):
    data = np.arange(10007.0)[None, :]
    rec = emgkit.Recording.from_array(data, 23437.5)
    back = emgkit.read(emgkit.write_edf(rec, tmp_path / "pad.edf"))
    assert "padded" in caplog.text
    assert back.n_samples > 10007 and back.fs == 23437.5
    step = 10006 / 65535
    np.testing.assert_allclose(back.get_data(0, 10007)[0], data[0], atol=step)
    np.testing.assert_allclose(back.get_data(10007)[0], 10006.0, atol=step)


def test_write_leaves_no_partial_file(tmp_path):
    rec = emgkit.Recording.from_array(np.zeros((1, 0)), 1000.0)
    with pytest.raises(emgkit.ParameterError):
        emgkit.write_edf(rec, tmp_path / "empty.edf")
    assert list(tmp_path.iterdir()) == []


def _raw_edf(path, signals, record_duration=1.0, n_records=None, reserved="", annotations_spr=0, tal=b""):
    """Write an EDF by hand: signals = [(label, unit, transducer, spr, int16 data)]."""
    ns = len(signals) + (1 if annotations_spr else 0)
    if n_records is None:
        n_records = len(signals[0][4]) // signals[0][3]

    def f(x, w):
        return str(x).encode("latin-1")[:w].ljust(w, b" ")

    rows = [(lab, unit, trans, spr, -32768, 32767, -3276.8, 3276.7) for lab, unit, trans, spr, _ in signals]
    if annotations_spr:
        rows.append(("EDF Annotations", "", "", annotations_spr, -32768, 32767, -1, 1))
    head = (f("0", 8) + f("X X X X", 80) + f("Startdate X X X X", 80) + f("01.02.03", 8) + f("04.05.06", 8)
            + f(256 * (ns + 1), 8) + f(reserved, 44) + f(n_records, 8) + f(record_duration, 8) + f(ns, 4))
    head += b"".join(f(r[0], 16) for r in rows) + b"".join(f(r[2], 80) for r in rows)
    head += b"".join(f(r[1], 8) for r in rows) + b"".join(f(r[6], 8) for r in rows)
    head += b"".join(f(r[7], 8) for r in rows) + b"".join(f(r[4], 8) for r in rows)
    head += b"".join(f(r[5], 8) for r in rows) + b"".join(f("HP:20Hz", 80) for r in rows)
    head += b"".join(f(r[3], 8) for r in rows) + b"".join(f("", 32) for r in rows)
    body = b""
    for k in range(n_records):
        for _, _, _, spr, data in signals:
            body += np.asarray(data[k * spr:(k + 1) * spr], dtype="<i2").tobytes()
        if annotations_spr:
            text = (b"+%d\x14\x14\x00" % k) + (tal if k == 0 else b"")
            body += text.ljust(2 * annotations_spr, b"\x00")
    path.write_bytes(head + body)
    return path


def test_edf_plus_annotations_and_header_meta(tmp_path):
    emg = np.arange(-1000, 1000, dtype=np.int16)  # 2 records of 1000 samples
    tal = b"+0.5\x150.25\x14fasciculation\x14\x00"
    path = _raw_edf(tmp_path / "a.edf", [("EMG L TA", "uV", "concentric needle", 1000, emg)],
                    reserved="EDF+C", annotations_spr=30, tal=tal)
    rec = check_recording(emgkit.read(path), expected_fs=1000.0, expected_shape=(1, 2000))
    # physical = digital * 0.1 µV for this header (pmin -3276.8 .. pmax 3276.7).
    np.testing.assert_allclose(rec.get_data()[0], emg * 0.1, atol=1e-9)
    assert rec.electrodes[0].kind == "needle_concentric"
    assert rec.meta["edf_type"] == "EDF+"
    assert rec.meta["prefiltering"]["EMG L TA"] == "HP:20Hz"
    assert {"onset": 0.5, "duration": 0.25, "description": "fasciculation"} in rec.meta["annotations"]


def test_mixed_rates_keep_emg_rate_and_say_so(tmp_path):
    a = np.arange(4000, dtype=np.int16) % 100
    b = np.arange(4000, dtype=np.int16) % 50
    slow = np.arange(200, dtype=np.int16)
    path = _raw_edf(tmp_path / "m.edf", [("EMG1", "uV", "", 2000, a), ("EMG2", "uV", "", 2000, b),
                                         ("Force", "N", "load cell", 100, slow)], n_records=2)
    rec = check_recording(emgkit.read(path), expected_fs=2000.0, expected_shape=(2, 4000))
    assert rec.channels == ["EMG1", "EMG2"]
    assert rec.meta["channels_not_read"] == ["Force (100 Hz)"]
    np.testing.assert_allclose(rec.get_data(channels=["EMG2"])[0], b * 0.1, atol=1e-9)
    # Choosing the slow channel reads it at its own rate.
    force = emgkit.read(path, channels=["Force"])
    assert force.fs == 100.0 and force.channel_types == ["force"] and force.units == ["N"]
    np.testing.assert_allclose(force.get_data()[0], slow * 0.1, atol=1e-9)


def test_truncated_edf_is_a_clear_error(tmp_path):
    rec, _ = _recording()
    path = emgkit.write_edf(rec, tmp_path / "t.edf")
    raw = open(path, "rb").read()
    open(path, "wb").write(raw[:-100])
    with pytest.raises(TruncatedFileError, match="t.edf.*truncated.*2 data records"):
        emgkit.read(path)


@pytest.mark.parametrize("content, match", [
    (b"hello world" * 40, "version field"),
    (b"0       " + b"x" * 248, "not a number"),
    (b"0       ", "fewer than the 256-byte"),
])
def test_garbage_header_is_a_clear_error(tmp_path, content, match):
    path = tmp_path / "bad.edf"
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match="bad.edf"):
        emgkit.read(path)
    with pytest.raises(FileFormatError, match=match):
        emgkit.read(path)


def test_bids_layout_sidecars(tmp_path):
    folder = tmp_path / "sub-01" / "emg"
    folder.mkdir(parents=True)
    n = 2000
    rng = np.random.default_rng(3)
    data = rng.normal(0, 30, (5, n))
    names = ["e1", "e2", "e3", "e4", "aux"]
    # 2 x 2 grid at 8 mm... plus 4 more electrodes so it counts as a grid (8 electrodes, 2 rows x 4 cols).
    rec = emgkit.Recording.from_array(data, 2000.0, channels=names)
    emgkit.write_edf(rec, folder / "sub-01_task-rest_emg.edf")
    (folder / "sub-01_task-rest_channels.tsv").write_text(
        "name\ttype\tunits\ttarget_muscle\tsignal_electrode\n"
        "e1\tEMG\tuV\tvastus lateralis\tE1\n"
        "e2\tEMG\tuV\tvastus lateralis\tE2\n"
        "e3\tEMG\tuV\tvastus medialis\tE6\n"
        "e4\tEMG\tuV\tn/a\tE8\n"
        "aux\tTRIG\tV\tn/a\tn/a\n")
    rows = "".join(f"E{k + 1}\t{(k % 4) * 0.8}\t{(k // 4) * 0.8}\t0\tGR08MM1305\n" for k in range(8))
    (folder / "sub-01_electrodes.tsv").write_text("name\tx\ty\tz\tcoordinate_system\n" + rows)
    (folder / "sub-01_coordsystem.json").write_text(json.dumps({"EMGCoordinateUnits": "cm"}))
    (folder / "sub-01_task-rest_emg.json").write_text(json.dumps({"EMGPlacementScheme": "Other",
                                                                  "SamplingFrequency": 2000}))
    back = check_recording(emgkit.read(folder / "sub-01_task-rest_emg.edf"), expected_shape=(5, n))
    assert back.channel_types == ["emg", "emg", "emg", "emg", "trigger"]
    assert back.muscles[:3] == ["vastus lateralis", "vastus lateralis", "vastus medialis"]
    assert back.muscles[3] == "e4"  # n/a -> the label
    e6 = back.electrodes[2]
    assert e6.kind == "hd_grid" and e6.grid == "GR08MM1305"
    assert (e6.row, e6.col) == (1, 1) and e6.x_mm == pytest.approx(8.0) and e6.y_mm == pytest.approx(8.0)
    assert e6.ied_mm == pytest.approx(8.0)
    assert (back.electrodes[3].row, back.electrodes[3].col) == (1, 3)
    assert back.meta["EMGPlacementScheme"] == "Other"
    assert len(back.meta["bids_sidecars"]) >= 3
    assert {os.path.basename(f) for f in back.files} == {
        "sub-01_task-rest_emg.edf", "sub-01_task-rest_channels.tsv", "sub-01_electrodes.tsv",
        "sub-01_coordsystem.json", "sub-01_task-rest_emg.json"}


def test_channel_type_inference():
    assert aux_type_from_text("Force sensor") == "force"
    assert aux_type_from_text("ACC X") == "acc"
    assert aux_type_from_text("Trigger") == "trigger"
    assert aux_type_from_text("EDF Annotations") == "misc"
    assert aux_type_from_text("EMG R biceps") is None
    assert aux_type_from_text("Vastus Lateralis (Channel 1)") is None


def test_older_emg_channels_tsv_and_channel_choice(tmp_path):
    rec = emgkit.Recording.from_array(np.random.default_rng(4).normal(0, 20, (2, 1000)), 1000.0,
                                      channels=["a", "b"])
    path = emgkit.write_edf(rec, tmp_path / "sub-02_task-x_emg.edf")
    (tmp_path / "sub-02_task-x_emg_channels.tsv").write_text(
        "name\ttype\tunits\tmuscle\na\tEMG\tuV\tdeltoid\nb\tMISC\tuV\tn/a\n")
    back = emgkit.read(path)
    assert back.channel_types == ["emg", "misc"] and back.muscles[0] == "deltoid"
    assert back.units == ["uV", "uV"]
    with pytest.raises(emgkit.ParameterError, match="channels= names signals not in .*: zz"):
        emgkit.read(path, channels=["zz"])
