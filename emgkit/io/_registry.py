"""Format registry and the ``emgkit.read`` dispatcher.

A format is one module in ``emgkit.io`` exposing::

    read(path, **options) -> Recording        # header first, samples lazily
    sniff(path) -> bool                        # optional: True when the content is this format

Register it by adding one ``FormatSpec`` to ``FORMATS``. Where several formats
share an extension (``.mat``, ``.h5``, ``.csv``), candidates are tried in table
order by ``sniff``; the last candidate without a sniff (or whose sniff passed) reads it.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

from ..errors import EmgkitFileNotFoundError, ParameterError, UnsupportedFormatError, file_error
from ..recording import Recording, resolve_muscles


@dataclass(frozen=True)
class FormatSpec:
    name: str
    module: str  # module inside emgkit.io
    extensions: tuple[str, ...]
    description: str
    entry_hint: dict | None = None  # data-file extension -> header extension ("did you mean")


FORMATS: tuple[FormatSpec, ...] = (
    FormatSpec("wfdb", "wfdb", (".hea",),
               "WFDB/PhysioNet record (.hea + .dat/.bin): formats 16, 61, 80, 160, 212, 24, 32; emgdb, EMGLAB, Hyser, GRABMyo",
               {".dat": ".hea", ".bin": ".hea"}),
    FormatSpec("edf", "edf", (".edf", ".bdf", ".rec"),
               "EDF / EDF+ / BDF via MNE, with BIDS-EMG sidecars (channels.tsv, electrodes.tsv) when present"),
    FormatSpec("otb", "otb", (".otb+", ".otb", ".otb4"),
               "OT Bioelettronica native archives (.otb+, .otb, .otb4)"),
    FormatSpec("otb_mat", "otb_mat", (".mat",),
               "OT BioLab+ MATLAB export (Data, Description, SamplingFrequency)"),
    FormatSpec("matlab", "matlab", (".mat",),
               "MATLAB v5/v7.3 layouts of public datasets (Ninapro, CapgMyo, generic matrix; fs= when the file lacks it)"),
    FormatSpec("emgkit_h5", "emgkit_h5", (".h5", ".hdf5"),
               "emgkit's own HDF5 recording (written by the simulator / emgkit.io.write_h5)"),
    FormatSpec("opensignals", "opensignals", (".h5", ".hdf5"),
               "PLUX OpenSignals HDF5 (biosignalsplux / BITalino)"),
    FormatSpec("spike2", "spike2", (".smr", ".smrx"),
               "CED Spike2 SON via Neo (pip install 'emgkit[spike2]')"),
    FormatSpec("delsys_csv", "delsys_csv", (".csv",),
               "Delsys EMGworks / Trigno CSV export"),
    FormatSpec("plain", "plain", (".csv", ".txt", ".tsv", ".npy"),
               "plain CSV/TSV/text columns or a NumPy .npy array, with fs= given"),
)


def supported_formats() -> str:
    """One line per format: name, extensions, description."""
    return "\n".join(f"  {f.name:<12} {' '.join(f.extensions):<22} {f.description}" for f in FORMATS)


def _format_list() -> str:
    """The formats on one line (errors stay one line; ``emgkit formats`` gives the table)."""
    return ", ".join(f"{f.name} ({' '.join(f.extensions)})" for f in FORMATS)


def _extension(path: str) -> str:
    name = os.path.basename(path).lower()
    for f in FORMATS:
        for ext in f.extensions:
            if name.endswith(ext):
                return ext
    return os.path.splitext(name)[1]


def format_module(name: str):
    for f in FORMATS:
        if f.name == name:
            return importlib.import_module(f".{f.module}", __package__)
    raise UnsupportedFormatError(
        f"unknown format {name!r}; supported formats: {_format_list()}"
    )


def _candidates(path: str) -> list[FormatSpec]:
    ext = _extension(path)
    return [f for f in FORMATS if ext in f.extensions]


def guess_format(path) -> str:
    """The format name that would read ``path`` (by extension, then by content)."""
    path = os.fspath(path)
    cands = _candidates(path)
    if not cands:
        ext = _extension(path)
        hint = ""
        for f in FORMATS:
            if f.entry_hint and ext in f.entry_hint:
                sibling = os.path.splitext(path)[0] + f.entry_hint[ext]
                hint = f" (did you mean {sibling!r}? {f.name} records are opened by their {f.entry_hint[ext]} header)"
        raise file_error(
            path,
            f"no reader for extension {ext or '(none)'!r}{hint}; supported formats: {_format_list()}",
            cls=UnsupportedFormatError,
        )
    for spec in cands[:-1]:
        mod = importlib.import_module(f".{spec.module}", __package__)
        sniff = getattr(mod, "sniff", None)
        if sniff is not None and sniff(path):
            return spec.name
    return cands[-1].name


def _check_options(path: str, name: str, reader, options: dict) -> None:
    """Refuse options the reader does not take, with a ParameterError rather than a TypeError."""
    import inspect

    params = inspect.signature(reader).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    accepted = [p.name for p in params if p.kind is p.KEYWORD_ONLY or
                (p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "path")]
    unknown = [k for k in options if k not in accepted]
    if unknown:
        raise file_error(path, f"the {name} reader does not take {', '.join(unknown)}= "
                               f"(it takes {', '.join(a + '=' for a in accepted) or 'no options'})",
                         cls=ParameterError)


def read(path, *, format: str | None = None, muscles=None, **options) -> Recording:
    """Read an EMG recording into a :class:`~emgkit.Recording`.

    Parameters
    ----------
    path : path-like
        The file (for WFDB, the ``.hea`` header).
    format : str, optional
        Force a reader (see ``emgkit formats``); default: by extension, then by content.
    muscles : str or mapping, optional
        Override the muscles: one name for every channel, or a mapping channel → muscle.
    **options
        Reader options, e.g. ``fs=`` for formats whose files lack a sampling rate.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise file_error(path, "file not found", cls=EmgkitFileNotFoundError)
    if os.path.isdir(path):
        raise file_error(path, "is a directory; pass the recording file inside it", cls=UnsupportedFormatError)
    name = format or guess_format(path)
    reader = format_module(name).read
    _check_options(path, name, reader, options)
    rec = reader(path, **options)
    if rec.format is None:
        rec.format = name
    if muscles is not None:
        rec.muscles = resolve_muscles(rec.channels, rec.muscles, muscles)
    return rec
