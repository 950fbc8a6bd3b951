"""Regenerate emgkit's sample recordings, byte for byte, from fixed seeds.

Usage::

    python sample_data/make_sample_data.py            # rewrites the files beside this script
    python sample_data/make_sample_data.py OUT_DIR    # or somewhere else

Each recording is written with its ground truth (``<stem>.truth.json``, or inside the ``.h5``).
Samples are rounded to ``QUANTUM_UV`` (what a 16-bit ADC resolves) so the HDF5 grid compresses.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

#: Sample resolution of the written data (µV): a typical EMG amplifier's ADC step [ENG].
QUANTUM_UV = 0.125

#: (file name, simulate() arguments). Seeds are fixed: change one and the committed files change.
SAMPLES = (
    ("isaacs_needle.hea", dict(scenario="isaacs", electrode="needle", duration=30.0, seed=101, fs=10000.0,
                               muscles=["fdi"])),
    ("als_benign_bipolar.edf", dict(scenario={"biceps": "als", "triceps": "benign", "tib_ant": "quiet"},
                                    electrode="bipolar", duration=60.0, seed=102)),
    ("als_grid.h5", dict(scenario="als", electrode="grid", duration=15.0, seed=103, muscles=["biceps"])),
)


def make(out_dir) -> list[Path]:
    """Write every sample (recording + truth) into ``out_dir``; return the files written."""
    from emgkit import Recording
    from emgkit.simulate import save, simulate

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, kwargs in SAMPLES:
        rec, truth = simulate(**kwargs)
        data = (np.round(rec.get_data() / QUANTUM_UV) * QUANTUM_UV).astype(np.float32)
        meta = {**rec.meta, "quantum_uv": QUANTUM_UV}
        quantised = Recording.from_array(data, rec.fs, channels=rec.channels, electrodes=rec.electrodes, meta=meta)
        quantised.muscles = list(rec.muscles)
        rec_path, truth_path = save(quantised, truth, out_dir / name)
        written += sorted({rec_path, truth_path} | set(out_dir.glob(Path(name).stem + ".*")))
    return sorted(set(written))


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    for path in make(target):
        print(path)
