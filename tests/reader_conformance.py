"""The one conformance check every reader passes (cf. MNE's _test_raw_reader, Neo's rawio compliance).

Use::

    from reader_conformance import check_recording
    rec = check_recording(emgkit.read(path), expected_fs=..., expected_shape=(n_ch, n_samp))
"""
from __future__ import annotations

import os

import numpy as np

from emgkit.recording import CHANNEL_TYPES, ELECTRODE_KINDS, Electrode, Recording


def check_recording(rec: Recording, expected_fs=None, expected_shape=None, expected_std_uv=None,
                    std_rtol=0.02, n_random_slices=6, seed=0) -> Recording:
    assert isinstance(rec, Recording)
    # Header complete and consistent.
    n = rec.n_channels
    assert n >= 1
    assert rec.fs > 0 and np.isfinite(rec.fs)
    assert len(rec.channels) == len(rec.muscles) == len(rec.electrodes) == len(rec.channel_types) == len(rec.units) == n
    assert all(isinstance(e, Electrode) and e.kind in ELECTRODE_KINDS for e in rec.electrodes)
    assert all(t in CHANNEL_TYPES for t in rec.channel_types), rec.channel_types
    assert all(u == "uV" for u, t in zip(rec.units, rec.channel_types) if t == "emg")
    assert all(isinstance(m, str) and m for m in rec.muscles)
    assert isinstance(rec.meta, dict)
    assert rec.format is not None
    # Every file the recording comes from is listed (the provenance hash covers them), path first.
    assert isinstance(rec.files, list) and len(set(rec.files)) == len(rec.files)
    if rec.path is not None:
        assert rec.files[0] == rec.path and all(os.path.isfile(f) for f in rec.files), rec.files
    assert abs(rec.duration - rec.n_samples / rec.fs) < 1e-9
    if expected_fs is not None:
        assert rec.fs == expected_fs
    if expected_shape is not None:
        assert (rec.n_channels, rec.n_samples) == tuple(expected_shape)

    full = rec.get_data()
    assert full.shape == (n, rec.n_samples)
    assert full.dtype == np.float64
    # Lazy reads agree with the full read on random channel/time slices.
    rng = np.random.default_rng(seed)
    for _ in range(n_random_slices):
        a, b = sorted(rng.integers(0, rec.n_samples + 1, size=2))
        k = int(rng.integers(1, n + 1))
        chans = np.sort(rng.choice(n, size=k, replace=False))
        part = rec.get_data(int(a), int(b), channels=chans)
        np.testing.assert_array_equal(part, full[chans, a:b])
    # Edges: the first and last sample, an empty slice, channels by name.
    np.testing.assert_array_equal(rec.get_data(0, 1), full[:, :1])
    np.testing.assert_array_equal(rec.get_data(rec.n_samples - 1), full[:, -1:])
    assert rec.get_data(3, 3).shape == (n, 0)
    np.testing.assert_array_equal(rec.get_data(channels=[rec.channels[-1]]), full[-1:])
    # float32 (a source's read_float32 where it has one) is the float64 read rounded.
    np.testing.assert_array_equal(rec.get_data(dtype=np.float32), full.astype(np.float32))
    # Chunked iteration tiles the recording exactly once.
    if rec.n_samples:
        pieces = [blk[:, lm:lm + (stop - start)] for start, stop, lm, blk in rec.iter_chunks(max(1, rec.n_samples // 3 + 7), margin=5)]
        np.testing.assert_array_equal(np.concatenate(pieces, axis=1), full)
    # Physical scale: EMG in µV, no sentinel values posing as data.
    emg = full[[i for i, t in enumerate(rec.channel_types) if t == "emg"]]
    finite = emg[np.isfinite(emg)]
    if finite.size:
        assert np.abs(finite).max() < 1e6, "EMG beyond 1 V: a scale or sentinel error"
    if expected_std_uv is not None:
        std = np.nanstd(emg)
        assert abs(std - expected_std_uv) <= std_rtol * expected_std_uv, (std, expected_std_uv)
    return rec
