import numpy as np
import pytest

import emgkit
from emgkit import Electrode, ParameterError, Recording
from reader_conformance import check_recording


def make(n_ch=3, n=1000, fs=2000.0):
    rng = np.random.default_rng(1)
    return rng.normal(0, 20, (n_ch, n))


def test_from_array_conforms():
    data = make()
    rec = Recording.from_array(data, 2000.0, channels=["a", "b", "c"], muscles="biceps",
                               electrodes=Electrode("surface_bipolar"))
    check_recording(rec, expected_fs=2000.0, expected_shape=(3, 1000))
    assert rec.muscles == ["biceps"] * 3
    assert rec.electrode_kind == "surface_bipolar"
    np.testing.assert_array_equal(rec.get_data(10, 20, ["b"]), data[1:2, 10:20])


def test_muscles_default_to_channel_names_and_mapping_override():
    rec = Recording.from_array(make(), 1000.0, channels=["a", "b", "c"])
    assert rec.muscles == ["a", "b", "c"]
    rec.set_muscles({"b": "deltoid"})
    assert rec.muscles == ["a", "deltoid", "c"]
    with pytest.raises(ParameterError, match="do not exist"):
        rec.set_muscles({"zz": "x"})


def test_bad_arguments_give_clear_errors():
    with pytest.raises(ParameterError, match="fs"):
        Recording.from_array(make(), -1)
    with pytest.raises(ParameterError, match="channel names"):
        Recording.from_array(make(), 1000.0, channels=["a"])
    rec = Recording.from_array(make(), 1000.0)
    with pytest.raises(ParameterError, match="outside"):
        rec.get_data(0, 10**6)
    with pytest.raises(ParameterError, match="no channel named"):
        rec.get_data(channels=["nope"])
    with pytest.raises(ParameterError, match="electrode kind"):
        Electrode("banana")


def test_invalid_samples_are_nan_and_counted():
    data = make()
    data[1, 5:9] = np.nan
    rec = Recording.from_array(data, 1000.0)
    assert rec.invalid.tolist() == [0, 4, 0]
    assert rec.invalid_mask(0, 10)[1].sum() == 4


def test_mne_round_trip():
    data = make()
    rec = Recording.from_array(data, 2000.0, channels=["a", "b", "c"])
    raw = rec.to_mne()
    assert raw.get_channel_types() == ["emg"] * 3
    back = Recording.from_mne(raw, muscles="tibialis")
    np.testing.assert_allclose(back.get_data(), data, rtol=1e-12, atol=1e-9)
    assert back.muscles == ["tibialis"] * 3
    check_recording(back)


def test_pick_and_lazy_exports():
    rec = Recording.from_array(make(), 1000.0, channel_types=["emg", "force", "emg"], units=[None, "N", None])
    emg = rec.pick_emg()
    assert emg.channels == ["EMG1", "EMG3"] and emg.units == ["uV", "uV"]
    assert callable(emgkit.read)
