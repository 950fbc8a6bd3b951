"""OT Bioelettronica: the real OT BioLab+ MATLAB export, and synthetic .otb+ / .otb4 archives."""
from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
import scipy.io
from conftest import shared_file
from reader_conformance import check_recording

import emgkit
from emgkit import FileFormatError
from emgkit.io import guess_format
from emgkit.io.otb import OT_GRIDS, grid_electrode

# ---------------------------------------------------------------------------- grid geometry


def test_gr08mm1305_numbering():
    # openhdemg sort_rawemg (orientation 180): column 0 holds 1..12 below the empty corner,
    # column 1 runs 25 (top) .. 13 (bottom), column 4 runs 52 .. 64.
    assert (grid_electrode("GR08MM1305", 1).row, grid_electrode("GR08MM1305", 1).col) == (1, 0)
    assert (grid_electrode("GR08MM1305", 13).row, grid_electrode("GR08MM1305", 13).col) == (12, 1)
    assert (grid_electrode("GR08MM1305", 25).row, grid_electrode("GR08MM1305", 25).col) == (0, 1)
    assert (grid_electrode("GR08MM1305", 64).row, grid_electrode("GR08MM1305", 64).col) == (12, 4)
    cells = {(grid_electrode("GR08MM1305", k).row, grid_electrode("GR08MM1305", k).col) for k in range(1, 65)}
    assert len(cells) == 64 and (0, 0) not in cells  # 13 x 5 = 65 sites, one empty corner
    for code, spec in OT_GRIDS.items():
        if spec.position is None:
            continue
        sites = {spec.position(k) for k in range(1, spec.n_electrodes + 1)}
        assert len(sites) == spec.n_electrodes, code
        assert all(0 <= r < spec.n_rows and 0 <= c < spec.n_cols for r, c in sites), code


# ---------------------------------------------------------------------------- real MATLAB export


def test_real_otb_mat_export(shared_data):
    path = shared_file(shared_data, "openhdemg-otb/otb_testfile.mat")
    assert guess_format(path) == "otb_mat"
    rec = check_recording(emgkit.read(path), expected_fs=2048.0)
    assert rec.format == "otb_mat"
    assert rec.n_samples == 66560
    emg_idx = [i for i, t in enumerate(rec.channel_types) if t == "emg"]
    assert len(emg_idx) == 64 and emg_idx == list(range(64))
    # Auxiliary columns never pose as EMG: 10 decomposition columns + the force reference.
    assert rec.channel_types[64:] == ["decomposition"] * 10 + ["force"]
    assert rec.units[74] == "%(MVC)" and all(u == "uV" for u in rec.units[:64])
    assert set(rec.muscles[i] for i in emg_idx) == {"Vastus Lateralis"}
    grid = [rec.electrodes[i] for i in emg_idx]
    assert {e.kind for e in grid} == {"hd_grid"} and {e.grid for e in grid} == {"GR08MM1305"}
    assert {e.ied_mm for e in grid} == {8.0}
    assert len({(e.row, e.col) for e in grid}) == 64
    assert max(e.y_mm for e in grid) == 96.0 and max(e.x_mm for e in grid) == 32.0
    data = rec.get_data()
    # PROVENANCE.md: raw EMG std ≈ 170 µV; MU firing trains with 137/154/197/293 firings;
    # force 0.87–27.2 %MVC; Time starts at 7.0 s.
    assert abs(np.std(data[:64]) - 170) < 5
    np.testing.assert_array_equal(data[64:68].sum(axis=1), [137, 154, 197, 293])
    assert set(np.unique(data[64:68])) <= {0.0, 1.0}
    assert 0.86 < data[74].min() < 0.88 and 27.1 < data[74].max() < 27.3
    assert rec.meta["start_time_s"] == 7.0
    assert rec.meta["aux_descriptions"]["force 1"] == "acquired data[ %(MVC)]"
    # Values identical to the file's float32 columns.
    raw = scipy.io.loadmat(path, variable_names=["Data"])["Data"][0, 0]
    np.testing.assert_array_equal(rec.get_data(1000, 1100, channels=[0, 63, 74]), raw[1000:1100, [0, 63, 74]].T)


def test_otb_mat_sniff_rejects_other_mat(tmp_path):
    path = tmp_path / "generic.mat"
    scipy.io.savemat(path, {"data": np.zeros((100, 2)), "fs": 1000.0})
    assert guess_format(path) == "matlab"


def _otb_mat(tmp_path, descriptions, data, fs=2048):
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = data.astype(np.float32)
    desc = np.empty((len(descriptions), 1), dtype=object)
    for i, d in enumerate(descriptions):
        desc[i, 0] = d
    path = tmp_path / "export.mat"
    scipy.io.savemat(path, {"Data": cell, "Description": desc, "SamplingFrequency": float(fs)})
    return path


def test_synthetic_otb_mat_units_and_types(tmp_path):
    descs = ["Biceps - AUX 1 (Channel 1->1) - HD10MM0808 (1)[mV]",
             "Biceps - AUX 1 (Channel 1->1) - HD10MM0808 (2)[mV]",
             "performed path[ %(MVC)]", "Torque sensor[Nm]"]
    data = np.arange(40, dtype=float).reshape(10, 4)
    rec = check_recording(emgkit.read(_otb_mat(tmp_path, descs, data)), expected_fs=2048.0, expected_shape=(4, 10))
    assert rec.channel_types == ["emg", "emg", "force", "misc"]
    np.testing.assert_allclose(rec.get_data()[:2], data[:, :2].T * 1000.0)  # mV -> µV
    assert rec.electrodes[0].grid == "HD10MM0808" and rec.electrodes[0].ied_mm == 10.0


def test_otb_mat_broken(tmp_path):
    descs = ["Biceps - AUX 1 (Channel 1->1) - GR08MM1305 (1)[uV]"]
    path = _otb_mat(tmp_path, descs, np.zeros((10, 2)))  # 2 columns, 1 description
    with pytest.raises(FileFormatError, match="export.mat.*2 columns.*1 entries"):
        emgkit.read(path)


# ---------------------------------------------------------------------------- synthetic .otb+


QUATTRO_UV = 5.0 * 1000 / (2 ** 16 * 150) * 1000  # µV per adu: 5 V supply, 16 bits, gain 150
AUX_MV = 5.0 * 1000 / (2 ** 16 * 0.5)  # mV per adu on a direct AUX input (gain 0.5)


def _tar(members: dict[str, bytes], mode="w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def _otb_plus_members(n=500, total=70, seed=0):
    rng = np.random.default_rng(seed)
    frames = rng.integers(-3000, 3000, size=(n, total)).astype("<i2")
    xml = f"""<Device Name="QUATTROCENTO" SampleFrequency="2048" ad_bits="16" DeviceTotalChannels="{total}">
  <Channels>
    <Adapter ID="AD1x64" Description="Adapter for GR08MM1305 grid" Gain="150" ChannelStartIndex="0">
      {''.join(f'<Channel Index="{k}" ID="GR08MM1305" Description="Electrode grid 13x5 8mm" Muscle="Tibialis Anterior" Side="Left"/>' for k in range(64))}
    </Adapter>
    <Adapter ID="Direct connection to Auxiliary Input" Description="AUX Force" Gain="0.5" ChannelStartIndex="64">
      <Channel Index="0" ID="AUX1" Description="Force" Muscle="Not defined"/>
    </Adapter>
  </Channels>
</Device>"""
    force = np.linspace(0, 50, n)
    pro = b"<Signal><title>Force path</title><unity_of_measurement>N</unity_of_measurement><fsample>2048</fsample></Signal>"
    members = {"trial.sig": frames.tobytes(), "trial.xml": xml.encode(),
               "force.sip": force.astype("<f8").tobytes(), "force.pro": pro, "patient.xml": b"<Patient/>"}
    return members, frames, force


@pytest.mark.parametrize("mode", ["w", "w:gz"])
def test_otb_plus_archive(tmp_path, mode):
    members, frames, force = _otb_plus_members()
    path = tmp_path / "rec.otb+"
    path.write_bytes(_tar(members, mode))
    assert guess_format(path) == "otb"
    rec = check_recording(emgkit.read(path), expected_fs=2048.0, expected_shape=(66, 500))
    assert rec.channel_types == ["emg"] * 64 + ["force", "force"]
    assert rec.units[64:] == ["mV", "N"]
    assert set(rec.muscles[:64]) == {"Tibialis Anterior"}
    data = rec.get_data()
    np.testing.assert_allclose(data[:64], frames[:, :64].T * QUATTRO_UV, rtol=1e-12)
    np.testing.assert_allclose(data[64], frames[:, 64] * AUX_MV, rtol=1e-12)
    np.testing.assert_array_equal(data[65], force)
    e = rec.electrodes[24]  # channel 25 of the grid: top of column 1
    assert (e.kind, e.grid, e.row, e.col, e.ied_mm) == ("hd_grid", "GR08MM1305", 0, 1, 8.0)
    assert rec.meta["otb_power_supply_v"] == 5.0 and not rec.meta["otb_power_supply_assumed"]
    # An uncompressed archive is read by seeking into the .sig member, never extracted whole.
    assert rec._source.archive.seekable is (mode == "w")


def test_otb_plus_unknown_device_assumes_supply(tmp_path, caplog):
    members, frames, _ = _otb_plus_members()
    members["trial.xml"] = members["trial.xml"].replace(b"QUATTROCENTO", b"FUTURO")
    path = tmp_path / "rec.otb+"
    path.write_bytes(_tar(members))
    rec = emgkit.read(path)
    assert rec.meta["otb_power_supply_assumed"] and "assuming 5 V" in caplog.text
    rec33 = emgkit.read(path, power_supply_v=3.3)
    np.testing.assert_allclose(rec33.get_data(0, 10, [0])[0], frames[:10, 0] * QUATTRO_UV * 3.3 / 5.0)


def test_otb_broken_archives(tmp_path):
    bad = tmp_path / "notatar.otb+"
    bad.write_bytes(b"definitely not a tar archive" * 50)
    with pytest.raises(FileFormatError, match="notatar.otb\\+.*not a readable tar"):
        emgkit.read(bad)
    members, _, _ = _otb_plus_members()
    no_xml = tmp_path / "noxml.otb+"
    no_xml.write_bytes(_tar({"trial.sig": members["trial.sig"]}))
    with pytest.raises(FileFormatError, match="noxml.otb\\+.*trial.xml"):
        emgkit.read(no_xml)
    no_sig = tmp_path / "nosig.otb+"
    no_sig.write_bytes(_tar({"trial.xml": members["trial.xml"]}))
    with pytest.raises(FileFormatError, match="nosig.otb\\+.*no .sig"):
        emgkit.read(no_sig)
    odd = tmp_path / "odd.otb+"
    odd.write_bytes(_tar({"trial.sig": members["trial.sig"][:-6], "trial.xml": members["trial.xml"]}))
    with pytest.raises(FileFormatError, match="odd.otb\\+.*not a multiple of the frame size 140"):
        emgkit.read(odd)


# ---------------------------------------------------------------------------- synthetic .otb4


def test_otb4_archive(tmp_path):
    n = 300
    rng = np.random.default_rng(4)
    frames = rng.integers(-2000, 2000, size=(n, 65)).astype("<i2")
    tracks = f"""<ArrayOfTrackInfo>
  <TrackInfo><Device>Quattrocento</Device><Title>Vastus medialis</Title><SubTitle>HD08MM1305</SubTitle>
    <Gain>150</Gain><ADC_Nbits>16</ADC_Nbits><ADC_Range>5</ADC_Range><SamplingFrequency>2048</SamplingFrequency>
    <SignalStreamPath>Signal_000.sig</SignalStreamPath><NumberOfChannels>64</NumberOfChannels>
    <AcquisitionChannel>0</AcquisitionChannel></TrackInfo>
  <TrackInfo><Device>Quattrocento</Device><Title>AUX Torque</Title><SubTitle>AUX</SubTitle>
    <Gain>0.5</Gain><ADC_Nbits>16</ADC_Nbits><ADC_Range>5</ADC_Range><SamplingFrequency>2048</SamplingFrequency>
    <SignalStreamPath>Signal_000.sig</SignalStreamPath><NumberOfChannels>1</NumberOfChannels>
    <AcquisitionChannel>64</AcquisitionChannel></TrackInfo>
</ArrayOfTrackInfo>"""
    path = tmp_path / "rec.otb4"
    path.write_bytes(_tar({"Tracks_000.xml": tracks.encode(), "Signal_000.sig": frames.tobytes()}))
    rec = check_recording(emgkit.read(path), expected_fs=2048.0, expected_shape=(65, n))
    assert rec.channel_types == ["emg"] * 64 + ["torque"]
    uv = 5.0 / 2 ** 16 * 1000 / 150 * 1000
    np.testing.assert_allclose(rec.get_data()[:64], frames[:, :64].T * uv, rtol=1e-12)
    np.testing.assert_allclose(rec.get_data()[64], frames[:, 64] * 5.0 / 2 ** 16 * 1000 / 0.5, rtol=1e-12)
    e = rec.electrodes[0]  # HD08MM1305 channel 1: row 1 of column 0 (empty corner first)
    assert (e.grid, e.row, e.col, e.ied_mm) == ("HD08MM1305", 1, 0, 8.0)
