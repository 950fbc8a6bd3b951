"""emgkit: detect and summarise spontaneous motor-unit activity in EMG.

Public verbs::

    rec = emgkit.read("R00108.hea")                       # any supported format -> Recording
    rec, truth = emgkit.simulate("isaacs", electrode="needle", duration=60, seed=0)
    result = emgkit.detect(rec)                            # DetectionResult (DataFrames)
    scores = emgkit.evaluate(truth, result)                # precision / recall / F1 vs ground truth
    result.save("out.h5"); emgkit.load_result("out.h5")

Importing emgkit is cheap: numba kernels, MNE and h5py load on first use.
"""
from __future__ import annotations

from importlib import import_module

from .errors import (EmgkitError, EmgkitFileNotFoundError, FileFormatError, ParameterError,
                     ResultFileError, TruncatedFileError, UnsupportedFormatError)
from .recording import Electrode, Recording

__version__ = "0.1.0"

_LAZY = {
    "read": ("emgkit.io", "read"),
    "read_annotations": ("emgkit.io.eaf", "read_annotations"),
    "supported_formats": ("emgkit.io", "supported_formats"),
    "write_wfdb": ("emgkit.io.wfdb", "write_wfdb"),
    "write_edf": ("emgkit.io.edf", "write_edf"),
    "write_h5": ("emgkit.io.emgkit_h5", "write_h5"),
    "simulate": ("emgkit.simulate", "simulate"),
    "Truth": ("emgkit.simulate", "Truth"),
    "evaluate": ("emgkit.evaluate", "evaluate"),
    "detect": ("emgkit.detect", "detect"),
    "DetectionParams": ("emgkit.detect.params", "DetectionParams"),
    "DetectionResult": ("emgkit.results", "DetectionResult"),
    "load_result": ("emgkit.results", "load_result"),
    "run_batch": ("emgkit.batch", "run_batch"),
}

__all__ = ["Recording", "Electrode", "EmgkitError", "EmgkitFileNotFoundError", "FileFormatError",
           "ParameterError", "ResultFileError", "TruncatedFileError", "UnsupportedFormatError",
           "__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'emgkit' has no attribute {name!r}")
