"""Readers (one module per format) and writers, behind ``emgkit.read``.

See ``_registry.py`` for how a format registers and ``tests/reader_conformance.py``
for the contract every reader passes.
"""
from ._registry import FORMATS, FormatSpec, guess_format, read, supported_formats

__all__ = ["FORMATS", "FormatSpec", "guess_format", "read", "supported_formats",
           "read_annotations", "write_wfdb", "write_edf", "write_h5"]


def __getattr__(name):
    # Writers and annotations load on first use so ``import emgkit`` stays cheap.
    if name == "read_annotations":
        from .eaf import read_annotations
        return read_annotations
    if name == "write_wfdb":
        from .wfdb import write_wfdb
        return write_wfdb
    if name == "write_edf":
        from .edf import write_edf
        return write_edf
    if name == "write_h5":
        from .emgkit_h5 import write_h5
        return write_h5
    raise AttributeError(f"module 'emgkit.io' has no attribute {name!r}")
