"""``emgkit formats`` and ``emgkit info``: output, --json, and one-line errors with exit code 2."""
from __future__ import annotations

import json

import numpy as np
import pytest

from emgkit.cli import main
from emgkit.io import FORMATS
from emgkit.io.emgkit_h5 import write_h5
from emgkit.recording import Electrode, Recording
from conftest import shared_file


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "rec.csv"
    path.write_text("TA,GM\n" + "\n".join(f"{i},{-i}" for i in range(100)) + "\n")
    return path


def test_formats_lists_every_reader(capsys):
    assert main(["formats"]) == 0
    out = capsys.readouterr().out
    for spec in FORMATS:
        assert spec.name in out
        assert all(ext in out for ext in spec.extensions)


def test_info_text(csv_file, capsys):
    assert main(["info", str(csv_file), "--fs", "2000"]) == 0
    out = capsys.readouterr().out
    assert str(csv_file) in out and "[plain]" in out
    assert "2 channels (2 EMG), 100 samples at 2000 Hz = 0.050 s" in out
    assert "TA" in out and "GM" in out


def test_info_json(tmp_path, capsys):
    rec = Recording.from_array(np.zeros((2, 300)), 1000.0, channels=["c1", "force"],
                               electrodes=[Electrode("needle_concentric"), Electrode()],
                               channel_types=["emg", "force"], units=["uV", "N"], meta={"subject": "S7"})
    rec.set_muscles({"c1": "deltoid"})
    path = write_h5(rec, tmp_path / "rec.h5")
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "emgkit_h5" and info["fs_hz"] == 1000.0
    assert info["n_samples"] == 300 and info["duration_s"] == 0.3
    assert info["n_channels"] == 2 and info["n_emg_channels"] == 1
    assert info["electrode"] == "needle_concentric"
    assert info["channels"][0] == {"name": "c1", "type": "emg", "muscle": "deltoid", "unit": "uV",
                                   "electrode": "needle_concentric"}
    assert info["channels"][1]["unit"] == "N" and info["meta"]["subject"] == "S7"


def test_info_real_spike2_json(shared_data, capsys):
    pytest.importorskip("neo")
    path = shared_file(shared_data, "emglab-sample-smr/Ramp_Piece.smr")
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "spike2" and info["fs_hz"] == 20000.0 and info["n_samples"] == 119300


@pytest.mark.parametrize("argv, fragment", [
    (["info", "{tmp}/missing.csv"], "file not found"),
    (["info", "{tmp}/rec.csv"], "fs="),  # no time column, no --fs
    (["info", "{tmp}/rec.csv", "--fs", "100", "--format", "nope"], "unknown format 'nope'"),
    (["info", "{tmp}/bad.csv", "--fs", "100"], "line 3, column 1"),
    (["info", "{tmp}/rec.h5", "--fs", "100"], "takes no options"),
])
def test_info_errors_exit_2_with_one_line(tmp_path, csv_file, capsys, argv, fragment):
    (tmp_path / "bad.csv").write_text("a,b\n1,2\nx,3\n")
    write_h5(Recording.from_array(np.zeros((1, 10)), 100.0), tmp_path / "rec.h5")
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("emgkit info: error: ") and fragment in lines[0]
    assert "Traceback" not in captured.err
