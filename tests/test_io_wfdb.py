"""WFDB reader and writer: real records, generated files for every format, broken inputs, lazy I/O.

Generated files are encoded here with numpy bit operations written from the WFDB
signal(5) man page, independently of the reader's decoders.
"""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

import emgkit
from emgkit.errors import (EmgkitError, EmgkitFileNotFoundError, FileFormatError, ParameterError,
                           TruncatedFileError, UnsupportedFormatError)
from emgkit.io.wfdb import INVALID_SAMPLE, read_header, verify_checksums, write_wfdb
from emgkit.recording import Electrode, Recording

from conftest import shared_file
from reader_conformance import check_recording

# ---------------------------------------------------------------------------- encoders (test side)
RANGES = {8: (-128, 127), 16: (-32768, 32767), 61: (-32768, 32767), 160: (-32768, 32767), 80: (-128, 127),
          24: (-2**23, 2**23 - 1), 32: (-2**31, 2**31 - 1), 212: (-2048, 2047), 310: (-512, 511), 311: (-512, 511)}


def encode(fmt: int, digital: np.ndarray, initial=None) -> bytes:
    """Frames (n_frames, n_signals) of digital values → bytes in WFDB format ``fmt``."""
    flat = np.asarray(digital, dtype=np.int64).ravel()
    if fmt == 16:
        return flat.astype("<i2").tobytes()
    if fmt == 61:
        return flat.astype(">i2").tobytes()
    if fmt == 160:
        return (flat + 32768).astype("<u2").tobytes()
    if fmt == 80:
        return (flat + 128).astype("u1").tobytes()
    if fmt == 32:
        return flat.astype("<i4").tobytes()
    if fmt == 24:
        v = flat & 0xFFFFFF
        return np.stack([v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF], axis=1).astype("u1").tobytes()
    if fmt == 212:
        v = flat & 0xFFF
        if v.size % 2:
            v = np.append(v, 0)
        a, b = v[0::2], v[1::2]
        out = np.stack([a & 0xFF, ((a >> 8) & 0x0F) | ((b >> 8) << 4), b & 0xFF], axis=1).astype("u1").ravel()
        return out[: (flat.size // 2) * 3 + (2 if flat.size % 2 else 0)].tobytes()
    if fmt in (310, 311):
        v = flat & 0x3FF
        pad = (-v.size) % 3
        v = np.append(v, np.zeros(pad, dtype=np.int64))
        a, b, c = v[0::3], v[1::3], v[2::3]
        if fmt == 310:
            w0 = (a << 1) | ((c & 0x1F) << 11)
            w1 = (b << 1) | ((c >> 5) << 11)
            out = np.stack([w0, w1], axis=1).astype("<u2").view("u1").ravel()
        else:
            out = ((a) | (b << 10) | (c << 20)).astype("<u4").view("u1")
        keep = {0: 0, 1: 2, 2: 4 if fmt == 310 else 3}[flat.size % 3]
        return out[: (flat.size // 3) * 4 + keep].tobytes()
    if fmt == 8:
        d = np.asarray(digital, dtype=np.int64)
        diffs = np.diff(np.vstack([initial[None, :], d]), axis=0)
        return diffs.astype("i1").tobytes()
    raise AssertionError(fmt)


def make_record(tmp_path, fmt=16, n_frames=1000, n_signals=3, *, seed=0, gain="200(10)/uV", fs="1000",
                nsamp=True, offset=0, trailing=b"", newline="\n", invalid_at=(), name="rec", files=1,
                comments=(), description=True):
    """Write a generated WFDB record; returns (header path, digital (n_frames, n_signals))."""
    rng = np.random.default_rng(seed)
    lo, hi = RANGES[fmt]
    if fmt == 8:
        digital = np.cumsum(rng.integers(-100, 101, size=(n_frames, n_signals)), axis=0) + 50
    else:
        digital = rng.integers(lo + 1, hi + 1, size=(n_frames, n_signals), dtype=np.int64)
    for frame, sig in invalid_at:
        digital[frame, sig] = INVALID_SAMPLE[fmt]
    initial = digital[0]
    per_file = np.array_split(np.arange(n_signals), files)
    sig_lines = []
    for k, idx in enumerate(per_file):
        dat = f"{name}_{k}.dat" if files > 1 else f"{name}.dat"
        payload = b"\xAA" * offset + encode(fmt, digital[:, idx], initial[idx] if fmt == 8 else None) + trailing
        (tmp_path / dat).write_bytes(payload)
        for i in idx:
            fmt_field = f"{fmt}+{offset}" if offset else str(fmt)
            desc = f" sig{i}" if description else ""
            sig_lines.append(f"{dat} {fmt_field} {gain} 16 0 {int(initial[i])} 0 0{desc}")
    record = f"{name} {n_signals} {fs}" + (f" {n_frames}" if nsamp else "")
    lines = [record, *sig_lines, *[f"# {c}" for c in comments]]
    hea = tmp_path / f"{name}.hea"
    hea.write_bytes(newline.join(lines).encode() + newline.encode())
    return hea, digital


def physical(digital, gain=200.0, baseline=10, scale=1.0, fmt=16):
    out = (digital - baseline) / gain * scale
    if fmt in INVALID_SAMPLE:
        out = np.where(digital == INVALID_SAMPLE[fmt], np.nan, out)
    return out.T


# ---------------------------------------------------------------------------- real records
EMGDB = [("emg_healthy", 50_860, 81.6), ("emg_myopathy", 110_337, None), ("emg_neuropathy", 147_858, None)]


@pytest.mark.parametrize("name,n,std", EMGDB)
def test_emgdb(shared_data, name, n, std):
    hea = shared_file(shared_data, f"physionet-emgdb/{name}.hea")
    rec = check_recording(emgkit.read(hea), expected_fs=4000.0, expected_shape=(1, n), expected_std_uv=std,
                          std_rtol=0.005)
    assert rec.format == "wfdb" and rec.units == ["uV"]
    assert rec.muscles == ["tibialis anterior"]          # from "placed in tibialis anterior muscle"
    assert rec.electrodes[0].kind == "needle_concentric"
    assert "diagnoses" in rec.meta and rec.meta["sex"] == "M"
    # The header's checksum and initial value are independent ground truth for the decoding.
    assert verify_checksums(hea) == [True]
    hdr = read_header(hea)
    assert hdr.signals[0].initial_value == round(rec.get_data(0, 1)[0, 0] * 10)  # 10 adu/µV
    if name == "emg_myopathy":
        assert hdr.signals[0].units == "mv"                 # lower-case spelling read as mV
    if name == "emg_neuropathy":
        assert rec.meta["diagnoses"].endswith("right L5 radiculopathy")  # continuation line joined


def test_emgdb_documented_range(shared_data):
    # PROVENANCE.md: emg_healthy min/max -0.515 / 1.113 mV.
    rec = emgkit.read(shared_file(shared_data, "physionet-emgdb/emg_healthy.hea"))
    d = rec.get_data()
    assert d.min() == pytest.approx(-515, abs=0.5) and d.max() == pytest.approx(1113, abs=0.5)


def test_r00108(shared_data):
    rec = check_recording(emgkit.read(shared_file(shared_data, "emglab-R001/R00108.hea")),
                          expected_fs=10000.0, expected_shape=(1, 100_000), expected_std_uv=305.0, std_rtol=0.005)
    assert "biceps" in rec.muscles[0]
    assert rec.electrodes[0].kind == "needle_monopolar"
    assert rec.meta["wfdb"]["n_samples_inferred"] is True   # no nsamp in the CR-only header
    assert rec.meta["level"] == "10% MVC" and rec.meta["gender"] == "f"
    d = rec.get_data()                                       # PROVENANCE: -1.704 … 3.792 mV
    assert d.min() == pytest.approx(-1704, abs=1) and d.max() == pytest.approx(3792, abs=1)


def test_n2001_a01bb01(shared_data):
    hea = shared_file(shared_data, "emglab-N2001/N2001A01BB01.hea")
    rec = check_recording(emgkit.read(hea), expected_fs=23437.5, expected_shape=(1, 262_124),
                          expected_std_uv=68.4, std_rtol=0.005)
    assert rec.electrodes[0].kind == "needle_concentric"
    assert rec.muscles[0] == "Biceps brachii (long head)"
    assert rec.meta["diagnosis"] == "ALS"
    # PROVENANCE: µV = int16(bin[20 bytes:]) / 13.107; the file has 20 trailing bytes beyond nsamp.
    raw = np.fromfile(hea.with_suffix(".bin"), dtype="<i2", offset=20, count=262_124)
    np.testing.assert_allclose(rec.get_data()[0], raw / 13.107, rtol=0, atol=1e-9)


def test_n2001_invalid_samples(shared_data):
    rec = emgkit.read(shared_file(shared_data, "emglab-N2001/N2001M02BB03.hea"))
    assert rec.invalid.tolist() == [3095]


def test_all_n2001_headers(shared_data):
    folder = shared_data / "emglab-N2001"
    headers = sorted(folder.glob("*.hea"))
    if not headers:
        pytest.skip(f"no N2001 headers in {folder}")
    muscles = set()
    for hea in headers:
        rec = emgkit.read(hea)
        assert (rec.n_channels, rec.n_samples, rec.fs) == (1, 262_124, 23437.5), hea
        assert rec.electrodes[0].kind == "needle_concentric", hea
        muscles.add(rec.muscles[0].lower())
        assert np.isfinite(rec.get_data(0, 1000)).sum() > 0
    assert len(headers) == 71
    assert {"biceps brachii", "vastus medialis"} <= muscles


def test_hyser_header_only(shared_data, tmp_path):
    hea = shared_file(shared_data, "hyser-format-sample/maintenance_preprocess_sample1.hea")
    hdr = read_header(hea)
    assert (hdr.n_signals, hdr.fs, hdr.n_samples) == (256, 2048.0, 8192)
    first, last = hdr.signals[0], hdr.signals[-1]
    assert (first.gain, first.baseline, first.units, first.description) == (88998.8869, -4218, "V", "ED-8-8")
    assert (last.gain, last.baseline, last.description) == (84811.451, 4934, "FP-1-1")
    assert (first.initial_value, first.checksum) == (-4222, -4506)
    with pytest.raises(EmgkitFileNotFoundError, match=r"maintenance_preprocess_sample1\.dat"):
        emgkit.read(hea)
    # With a generated .dat beside a copy of the header: per-channel baseline/gain, V → µV, grid positions.
    shutil.copy(hea, tmp_path / hea.name)
    rng = np.random.default_rng(1)
    digital = rng.integers(-20000, 20000, size=(8192, 256), dtype=np.int64)
    (tmp_path / "maintenance_preprocess_sample1.dat").write_bytes(digital.astype("<i2").tobytes())
    rec = emgkit.read(tmp_path / hea.name)
    gains = np.array([s.gain for s in hdr.signals])
    bases = np.array([s.baseline for s in hdr.signals])
    np.testing.assert_allclose(rec.get_data(100, 200), ((digital[100:200] - bases) / gains * 1e6).T, rtol=1e-12)
    assert rec.electrode_kind == "hd_grid"
    e = rec.electrodes[0]
    assert (e.grid, e.row, e.col) == ("ED", 7, 7)
    assert rec.electrodes[-1].grid == "FP" and (rec.electrodes[-1].row, rec.electrodes[-1].col) == (0, 0)
    assert rec.muscles[0] == "forearm extensors" and rec.muscles[-1] == "forearm flexors"


# ---------------------------------------------------------------------------- generated formats
ALL_FORMATS = [8, 16, 24, 32, 61, 80, 160, 212, 310, 311]


@pytest.mark.parametrize("fmt", ALL_FORMATS)
@pytest.mark.parametrize("n_frames", [1000, 333, 30001])  # 30001 × 3 values: the numba conversion
def test_every_format_reads_exactly(tmp_path, fmt, n_frames):
    invalid = [(5, 0), (n_frames - 1, 2)] if fmt in INVALID_SAMPLE else []
    gain = {24: 20000.0, 32: 5e6}.get(fmt, 200.0)  # keep full-range values below 1 V
    hea, digital = make_record(tmp_path, fmt, n_frames=n_frames, invalid_at=invalid, gain=f"{gain:g}(10)/uV")
    rec = check_recording(emgkit.read(hea), expected_fs=1000.0, expected_shape=(3, n_frames))
    np.testing.assert_array_equal(rec.get_data(), physical(digital, gain=gain, fmt=fmt))
    if invalid:
        assert np.isnan(rec.get_data(5, 6, channels=[0]))[0, 0]
        assert rec.invalid.tolist() == [1, 0, 1]
    assert rec.channels == ["sig0", "sig1", "sig2"]


def test_frame_conversion_kernel_matches_its_numpy_twin():
    from emgkit.io._frames import frames_to_rows as kernel
    from emgkit.io.wfdb import frames_to_rows as twin

    rng = np.random.default_rng(2)
    for dtype, sentinel in ((np.int16, -(2 ** 15)), (np.int32, -(2 ** 31)), (np.int64, 0)):
        digital = rng.integers(-3000, 3000, (1000, 5)).astype(dtype)
        digital[::97, 3] = sentinel
        cols, rows = np.array([4, 3, 0]), np.array([2, 0, 1])
        args = (cols, rows, np.array([1.0, -2.0, 0.0]), np.array([200.0, 0.5, 3.0]), np.array([1e3, 1.0, 1.0]),
                sentinel, dtype != np.int64)
        fast = np.zeros((3, 1200))
        slow = np.zeros((3, 1200))
        kernel(digital, *args, fast, 100)
        twin(digital, *args, slow, 100)
        np.testing.assert_array_equal(fast, slow)
        assert np.isnan(fast[0, 100:1100:97]).all() == (dtype != np.int64)


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_every_format_missing_nsamp(tmp_path, fmt):
    hea, digital = make_record(tmp_path, fmt, n_frames=600, nsamp=False)
    rec = emgkit.read(hea)
    assert rec.n_samples == 600
    np.testing.assert_array_equal(rec.get_data(), physical(digital, fmt=fmt))


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_line_endings(tmp_path, newline):
    hea, digital = make_record(tmp_path, 16, newline=newline, comments=["muscle: deltoid", "electrode: surface bipolar"])
    rec = emgkit.read(hea)
    assert rec.n_channels == 3 and rec.muscles == ["deltoid"] * 3
    assert rec.electrodes[0].kind == "surface_bipolar"
    np.testing.assert_array_equal(rec.get_data(), physical(digital))


@pytest.mark.parametrize("fmt", [16, 212, 24])
def test_byte_offset_and_trailing_bytes(tmp_path, fmt):
    hea, digital = make_record(tmp_path, fmt, n_frames=501, offset=20, trailing=b"\x55" * 20)
    rec = check_recording(emgkit.read(hea), expected_shape=(3, 501))
    np.testing.assert_array_equal(rec.get_data(), physical(digital, fmt=fmt))


def test_fractional_fs_and_counter_freq(tmp_path):
    hea, _ = make_record(tmp_path, 16, fs="23437.5/1000(5)")
    assert emgkit.read(hea).fs == 23437.5


def test_missing_fs_uses_option_or_wfdb_default(tmp_path):
    hea = tmp_path / "r.hea"
    (tmp_path / "r.dat").write_bytes(np.arange(10, dtype="<i2").tobytes())
    hea.write_text("r 1\nr.dat 16 200/mV\n")
    assert emgkit.read(hea).fs == 250.0                      # header(5): default 250 Hz
    assert emgkit.read(hea, fs=4000).fs == 4000.0


def test_multi_file_record(tmp_path):
    hea, digital = make_record(tmp_path, 16, n_signals=5, files=3)
    rec = check_recording(emgkit.read(hea), expected_shape=(5, 1000))
    np.testing.assert_array_equal(rec.get_data(), physical(digital))
    assert len(rec.meta["wfdb"]["files"]) == 3
    assert rec.files[0] == str(hea) and sorted(os.path.basename(f) for f in rec.files[1:]) == \
        sorted(rec.meta["wfdb"]["files"])
    np.testing.assert_array_equal(rec.get_data(10, 20, channels=[4, 0]), physical(digital)[[4, 0], 10:20])


@pytest.mark.parametrize("unit,scale", [("mV", 1e3), ("mv", 1e3), ("MV", 1e3), ("uV", 1.0), ("µV", 1.0),
                                        ("μV", 1.0), ("UV", 1.0), ("V", 1e6), ("v", 1e6), ("nV", 1e-3)])
def test_unit_spellings(tmp_path, unit, scale):
    hea, digital = make_record(tmp_path, 16, gain=f"500/{unit}")
    rec = emgkit.read(hea)
    assert rec.units == ["uV"] * 3 and rec.channel_types == ["emg"] * 3
    np.testing.assert_allclose(rec.get_data(), physical(digital, gain=500.0, baseline=0, scale=scale), rtol=1e-14)


def test_gain_defaults(tmp_path):
    # Gain absent or 0 → 200 adu/mV; baseline defaults to ADC zero.
    (tmp_path / "r.dat").write_bytes(np.array([[400, 0], [600, 100]], dtype="<i2").tobytes())
    (tmp_path / "r.hea").write_text("r 2 1000 2\nr.dat 16\nr.dat 16 0/mV 12 100 0 0 0 b\n")
    rec = emgkit.read(tmp_path / "r.hea")
    np.testing.assert_allclose(rec.get_data(), [[2000.0, 3000.0], [-500.0, 0.0]])
    assert rec.channels == ["signal1", "b"]


def test_aux_channel_types(tmp_path):
    (tmp_path / "r.dat").write_bytes(np.array([[100, 50, 7]], dtype="<i2").tobytes())
    (tmp_path / "r.hea").write_text("r 3 1000 1\nr.dat 16 10/mV 16 0 0 0 0 EMG biceps\n"
                                    "r.dat 16 10/N 16 0 0 0 0 grip\nr.dat 16 1/mV 16 0 0 0 0 Force sensor\n")
    rec = emgkit.read(tmp_path / "r.hea")
    assert rec.channel_types == ["emg", "force", "force"]
    assert rec.units == ["uV", "N", "mV"]
    np.testing.assert_allclose(rec.get_data()[:, 0], [10_000.0, 5.0, 7.0])
    assert rec.emg_channels == ["EMG biceps"]


def test_registry_hint_for_data_file(tmp_path):
    hea, _ = make_record(tmp_path, 16)
    with pytest.raises(UnsupportedFormatError, match=r"did you mean .*rec\.hea"):
        emgkit.read(tmp_path / "rec.dat")


# ---------------------------------------------------------------------------- multi-segment records
def _segment(tmp_path, name, digital, descriptions, gain=100):
    (tmp_path / f"{name}.dat").write_bytes(np.asarray(digital, dtype="<i2").tobytes())
    lines = [f"{name} {len(descriptions)} 500 {len(digital)}"]
    lines += [f"{name}.dat 16 {gain}/uV 16 0 0 0 0 {d}" for d in descriptions]
    (tmp_path / f"{name}.hea").write_text("\n".join(lines) + "\n")


def test_multisegment_fixed_layout_with_gap(tmp_path):
    rng = np.random.default_rng(5)
    a = rng.integers(-1000, 1000, size=(40, 2))
    b = rng.integers(-1000, 1000, size=(25, 2))
    _segment(tmp_path, "m_1", a, ["x", "y"])
    _segment(tmp_path, "m_2", b, ["x", "y"])
    (tmp_path / "m.hea").write_text("m/3 2 500 75\nm_1 40\n~ 10\nm_2 25\n# muscle: soleus\n")
    rec = check_recording(emgkit.read(tmp_path / "m.hea"), expected_fs=500.0, expected_shape=(2, 75))
    expected = np.vstack([a / 100, np.full((10, 2), np.nan), b / 100]).T
    np.testing.assert_array_equal(rec.get_data(), expected)
    assert rec.channels == ["x", "y"] and rec.muscles == ["soleus", "soleus"]
    assert [os.path.basename(f) for f in rec.files] == ["m.hea", "m_1.hea", "m_1.dat", "m_2.hea", "m_2.dat"]
    assert rec.invalid.tolist() == [10, 10]
    with pytest.raises(UnsupportedFormatError, match="verify each segment"):
        verify_checksums(tmp_path / "m.hea")


def test_multisegment_variable_layout(tmp_path):
    rng = np.random.default_rng(6)
    a = rng.integers(-1000, 1000, size=(30, 2))
    b = rng.integers(-1000, 1000, size=(20, 1))
    (tmp_path / "v_layout.hea").write_text("v_layout 3 500 0\n~ 0 100/uV 16 0 0 0 0 x\n"
                                           "~ 0 100/uV 16 0 0 0 0 y\n~ 0 100/uV 16 0 0 0 0 z\n")
    _segment(tmp_path, "v_1", a, ["z", "x"])
    _segment(tmp_path, "v_2", b, ["y"], gain=50)
    (tmp_path / "v.hea").write_text("v/3 3 500 50\nv_layout 0\nv_1 30\nv_2 20\n")
    rec = check_recording(emgkit.read(tmp_path / "v.hea"), expected_shape=(3, 50))
    d = rec.get_data()
    assert rec.channels == ["x", "y", "z"]
    assert [os.path.basename(f) for f in rec.files] == ["v.hea", "v_layout.hea", "v_1.hea", "v_1.dat", "v_2.hea",
                                                        "v_2.dat"]
    np.testing.assert_array_equal(d[0, :30], a[:, 1] / 100)
    np.testing.assert_array_equal(d[2, :30], a[:, 0] / 100)
    np.testing.assert_array_equal(d[1, 30:], b[:, 0] / 50)
    assert np.isnan(d[1, :30]).all() and np.isnan(d[[0, 2], 30:]).all()


def test_multisegment_length_mismatch(tmp_path):
    _segment(tmp_path, "s_1", np.zeros((40, 1)), ["x"])
    (tmp_path / "s.hea").write_text("s/1 1 500 40\ns_1 41\n")
    with pytest.raises(FileFormatError, match=r"s\.hea: segment s_1 has 40 samples but the master header says 41"):
        emgkit.read(tmp_path / "s.hea")


# ---------------------------------------------------------------------------- broken inputs
def _write(tmp_path, header: str, data: bytes | None = b"\x00" * 200, name="bad"):
    if data is not None:
        (tmp_path / f"{name}.dat").write_bytes(data)
    hea = tmp_path / f"{name}.hea"
    hea.write_text(header)
    return hea


BROKEN = [
    ("bad 1 1000 10\n", FileFormatError, "declares 1 signals but the header has 0"),
    ("bad 1 1000 10\nbad.dat 16\nbad.dat 16\n", FileFormatError, "declares 1 signals but the header has 2"),
    ("bad x 1000 10\nbad.dat 16\n", FileFormatError, "number of signals"),
    ("bad 1 fast 10\nbad.dat 16\n", FileFormatError, "sampling frequency"),
    ("bad 1 0 10\nbad.dat 16\n", FileFormatError, "sampling frequency"),
    ("bad 1 -5 10\nbad.dat 16\n", FileFormatError, "sampling frequency"),
    ("bad 1 2e7 10\nbad.dat 16\n", FileFormatError, "sampling frequency"),
    ("bad 1 1000 ten\nbad.dat 16\n", FileFormatError, "number of samples"),
    ("bad 1 1000 2e12\nbad.dat 16\n", FileFormatError, "number of samples"),
    ("bad 200000 1000 10\nbad.dat 16\n", FileFormatError, "200000 signals"),
    ("bad 0 1000 10\n", FileFormatError, "0 signals"),
    ("bad 1 1000 0\nbad.dat 16\n", FileFormatError, "zero samples"),
    ("bad 1 1000 10\nbad.dat 99\n", UnsupportedFormatError, "format 99 is not supported; supported formats: 8, 16"),
    ("bad 1 1000 10\nbad.dat 516\n", UnsupportedFormatError, "FLAC"),
    ("bad 1 1000 10\nbad.dat sixteen\n", FileFormatError, "format field"),
    ("bad 1 1000 10\nbad.dat 16 abc/mV\n", FileFormatError, "gain field"),
    ("bad 1 1000 10\nbad.dat 16 200/mV 16 zero\n", FileFormatError, "ADC zero"),
    ("bad 1 1000 10\nbad.dat 16x2 200/mV\n", UnsupportedFormatError, "samples per frame"),
    ("bad 1 1000 10\nbad.dat 16:3 200/mV\n", UnsupportedFormatError, "skew"),
    ("bad/3 1 1000 10\nbad.dat 16\n", FileFormatError, "declares 3 segments but the header has 1"),
    ("bad/2 1 1000 10\nseg_a 5\nseg_b\n", FileFormatError, "not 'name n_samples'"),
    ("bad/1 1 1000 10\nmissing_seg 10\n", EmgkitFileNotFoundError, "segment header 'missing_seg.hea' not found"),
    ("bad/1 1 1000 10\n~ 10\n", FileFormatError, "every segment is a gap"),
    ("# only a comment\n", FileFormatError, "no record line"),
    ("", FileFormatError, "no record line"),
    ("bad 2 1000 10\nbad.dat 16\nbad.dat 212\n", FileFormatError, "mix formats"),
    ("bad 1 1000 10\nbad.dat 16 200/kg\n# emgkit channel: {\"index\": 0, \"type\": \"emg\"}\n",
     FileFormatError, "not a voltage"),
    ("bad 1 1000 10\nbad.dat 16\n# emgkit channel: {broken\n", FileFormatError, "malformed"),
]


@pytest.mark.parametrize("header,cls,message", BROKEN)
def test_broken_headers(tmp_path, header, cls, message):
    hea = _write(tmp_path, header)
    with pytest.raises(cls, match=message) as info:
        emgkit.read(hea)
    assert "bad.hea" in str(info.value) and "\n" not in str(info.value)


def test_binary_junk_header(tmp_path):
    hea = tmp_path / "junk.hea"
    hea.write_bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes() + b"\x00")
    with pytest.raises(FileFormatError, match=r"junk\.hea: binary content"):
        emgkit.read(hea)


def test_missing_header(tmp_path):
    with pytest.raises(EmgkitFileNotFoundError, match="nothere.hea"):
        emgkit.io.wfdb.read(tmp_path / "nothere.hea")
    with pytest.raises(EmgkitFileNotFoundError, match="nothere.hea"):
        read_header(tmp_path / "nothere.hea")


def test_missing_data_file(tmp_path):
    hea = _write(tmp_path, "bad 1 1000 10\nbad_signal.dat 16\n", data=None)
    with pytest.raises(EmgkitFileNotFoundError, match=r"bad\.hea: data file 'bad_signal\.dat' not found"):
        emgkit.read(hea)


@pytest.mark.parametrize("fmt,need", [(16, 2 * 3 * 100 + 20), (212, 450 + 20), (24, 900 + 20)])
def test_truncated_data_file(tmp_path, fmt, need):
    hea, _ = make_record(tmp_path, fmt, n_frames=100, offset=20)
    dat = tmp_path / "rec.dat"
    dat.write_bytes(dat.read_bytes()[:-7])
    with pytest.raises(TruncatedFileError, match=rf"rec\.dat: data file is truncated.* need {need} bytes.*has {need - 7}"):
        emgkit.read(hea)


def test_empty_data_file_without_nsamp(tmp_path):
    hea = _write(tmp_path, "bad 1 1000\nbad.dat 16\n", data=b"")
    with pytest.raises(FileFormatError, match=r"bad\.hea: the record holds zero samples"):
        emgkit.read(hea)


def test_fuzzed_headers_raise_only_emgkit_errors(tmp_path):
    """Random corruptions of a valid header either read or raise an EmgkitError, never a stray exception."""
    hea, _ = make_record(tmp_path, 16, n_frames=50)
    good = hea.read_bytes()
    rng = np.random.default_rng(0)
    alphabet = np.frombuffer(b"0123456789 +-()/.:x#\n\rabcV~\t", dtype=np.uint8)
    for _ in range(300):
        data = bytearray(good)
        for _ in range(int(rng.integers(1, 6))):
            pos = int(rng.integers(0, len(data)))
            op = rng.integers(0, 3)
            if op == 0:
                data[pos] = int(rng.choice(alphabet))
            elif op == 1:
                del data[pos]
            else:
                data.insert(pos, int(rng.choice(alphabet)))
        hea.write_bytes(bytes(data))
        try:
            rec = emgkit.read(hea)
            rec.get_data(0, min(rec.n_samples, 10))
        except EmgkitError:
            pass


# ---------------------------------------------------------------------------- lazy I/O
def _rchar() -> int | None:
    try:
        with open("/proc/self/io") as f:
            for line in f:
                if line.startswith("rchar:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


@pytest.mark.parametrize("fmt,bits", [(16, 16), (212, 12), (24, 24)])
def test_lazy_slice_reads_only_the_slice(tmp_path, fmt, bits):
    if _rchar() is None:
        pytest.skip("/proc/self/io is not available")
    fs, n_ch, n = 2048, 64, 3600 * 2048
    lines = [f"big {n_ch} {fs} {n}"] + [f"big.dat {fmt} 1000/mV 16 0 0 0 0 ch{i}" for i in range(n_ch)]
    (tmp_path / "big.hea").write_text("\n".join(lines) + "\n")
    with open(tmp_path / "big.dat", "wb") as f:
        f.truncate(n * n_ch * bits // 8)             # sparse: ~943 MB (format 16) that take no disk
    before = _rchar()
    rec = emgkit.read(tmp_path / "big.hea")
    header_bytes = _rchar() - before
    assert header_bytes < 1_000_000, header_bytes
    start = 1800 * fs
    before = _rchar()
    data = rec.get_data(start, start + 10 * fs)
    read_bytes = _rchar() - before
    slice_bytes = 10 * fs * n_ch * bits // 8
    assert data.shape == (64, 10 * fs) and not data.any()
    assert read_bytes <= 2 * slice_bytes + 1_000_000, (read_bytes, slice_bytes)
    assert read_bytes >= slice_bytes


# ---------------------------------------------------------------------------- writer
def _generated_recording(n=5000, fs=2048.0, seed=3):
    rng = np.random.default_rng(seed)
    emg = rng.normal(0, 80, size=(3, n))
    emg[1] *= 20
    emg[2, 100:110] = np.nan
    force = np.linspace(0, 250, n)[None, :]
    data = np.vstack([emg, force])
    rec = Recording.from_array(
        data, fs, channels=["bic 1", "bic2", "tri", "force"],
        channel_types=["emg", "emg", "emg", "force"], units=["uV", "uV", "uV", "N"],
        electrodes=[Electrode("hd_grid", grid="GR08MM1305", row=0, col=1, ied_mm=8.0),
                    Electrode("needle_concentric"), Electrode("surface_bipolar"), Electrode()],
        meta={"subject": "S01", "age": 44, "filters": [20, 500], "note": "résumé: ok"})
    rec.set_muscles({"bic 1": "biceps brachii", "bic2": "biceps brachii", "tri": "triceps brachii"})
    return rec, data


@pytest.mark.parametrize("fmt", ["16", "24", "32"])
def test_write_read_round_trip(tmp_path, fmt):
    rec, data = _generated_recording()
    hea = write_wfdb(rec, tmp_path / "out", fmt=fmt)
    assert hea == tmp_path / "out.hea" and (tmp_path / "out.dat").exists()
    back = check_recording(emgkit.read(hea), expected_fs=2048.0, expected_shape=(4, 5000))
    hdr = read_header(hea)
    gains = np.array([s.gain for s in hdr.signals])
    got = back.get_data()
    assert np.array_equal(np.isnan(got), np.isnan(data))
    err = np.nanmax(np.abs(got - data), axis=1)
    assert np.all(err <= 0.5 / gains * (1 + 1e-9)), (err, 0.5 / gains)
    # Gains use the range: each channel's peak lands near full scale.
    full_scale = 2 ** (int(fmt) - 1) - 1
    assert np.all(np.nanmax(np.abs(data), axis=1) * gains > 0.99 * full_scale - 2)
    assert back.channels == rec.channels and back.muscles == rec.muscles
    assert back.electrodes == rec.electrodes and back.channel_types == rec.channel_types
    assert back.units == ["uV", "uV", "uV", "N"]
    for key, value in rec.meta.items():
        assert back.meta[key] == value
    assert verify_checksums(hea) == [True] * 4


def test_written_header_fields_are_correct(tmp_path):
    rec, _ = _generated_recording(n=300)
    hea = write_wfdb(rec, tmp_path / "w.hea")
    hdr = read_header(hea)
    raw = np.fromfile(tmp_path / "w.dat", dtype="<i2").reshape(300, 4)
    for i, sig in enumerate(hdr.signals):
        assert sig.initial_value == raw[0, i]
        total = int(raw[:, i].astype(np.int64).sum()) & 0xFFFF
        assert sig.checksum == (total - 0x10000 if total >= 0x8000 else total)
    assert (raw[100:110, 2] == -32768).all()                 # NaN → invalid sentinel
    assert hdr.fs == 2048.0 and hdr.n_samples == 300


def test_checksum_detects_corruption(tmp_path):
    rec, _ = _generated_recording(n=300)
    hea = write_wfdb(rec, tmp_path / "c")
    dat = tmp_path / "c.dat"
    raw = bytearray(dat.read_bytes())
    raw[2 * 4 * 50 + 2] ^= 0x01                               # frame 50, channel 1, low byte
    dat.write_bytes(bytes(raw))
    assert verify_checksums(hea) == [True, False, True, True]


def test_write_explicit_gain_and_fractional_fs(tmp_path):
    rec = Recording.from_array(np.array([[0.0, 1.0, -2.5, 100.0]]), 23437.5)
    hea = write_wfdb(rec, tmp_path / "g", gain=10)
    np.testing.assert_array_equal(emgkit.read(hea).get_data(), [[0.0, 1.0, -2.5, 100.0]])
    assert read_header(hea).fs == 23437.5


def test_write_failure_leaves_nothing(tmp_path):
    rec = Recording.from_array(np.array([[0.0, 1e6]]), 1000.0)
    with pytest.raises(ParameterError, match="beyond format 16's range"):
        write_wfdb(rec, tmp_path / "fail", gain=1.0)
    assert os.listdir(tmp_path) == []


def test_write_bad_parameters(tmp_path):
    rec = Recording.from_array(np.zeros((2, 10)), 1000.0)
    with pytest.raises(ParameterError, match="fmt"):
        write_wfdb(rec, tmp_path / "x", fmt="212")
    with pytest.raises(ParameterError, match="gain has 3 entries"):
        write_wfdb(rec, tmp_path / "x", gain=[1, 2, 3])
    with pytest.raises(ParameterError, match="spaces"):
        write_wfdb(rec, tmp_path / "a b")
    with pytest.raises(ParameterError, match="zero samples"):
        write_wfdb(Recording.from_array(np.zeros((1, 0)), 1000.0), tmp_path / "x")
    # An all-zero channel still writes (gain 1) and reads back as zeros.
    np.testing.assert_array_equal(emgkit.read(write_wfdb(rec, tmp_path / "z")).get_data(), np.zeros((2, 10)))


def test_rewrite_real_record(shared_data, tmp_path):
    rec = emgkit.read(shared_file(shared_data, "emglab-R001/R00108.hea"))
    back = emgkit.read(emgkit.write_wfdb(rec, tmp_path / "copy"))
    assert back.muscles == rec.muscles and back.electrodes == rec.electrodes
    assert back.meta["contributor"] == rec.meta["contributor"]
    np.testing.assert_allclose(back.get_data(), rec.get_data(), atol=0.5 / read_header(tmp_path / "copy.hea").signals[0].gain)
