"""OT BioLab+ MATLAB export (formats.md §3.4; what openhdemg calls an "OTB .mat").

Variables: ``Data`` (1x1 cell -> samples x columns), ``Description`` (columns x 1 cell of
text), ``SamplingFrequency``, ``Time`` (1x1 cell -> samples x 1, may not start at 0),
``OTBFile``. Columns are identified by their description text, as openhdemg does:

- raw EMG: ``<Muscle> - <adapter> (Channel a->b) - <GRID> (k)[uV]`` -> EMG in µV, with the
  grid's electrode geometry (``emgkit.io.otb.OT_GRIDS``) and the muscle from the text;
- ``Decomposition of ...`` -> binary motor-unit firing trains, channel type ``decomposition``;
- ``Source for decomposition of ...`` -> innervation pulse trains, type ``decomposition``;
- ``acquired data`` / ``performed path`` -> force reference (type ``force``, unit from the text,
  e.g. ``%(MVC)``);
- anything else -> ``misc`` (never EMG unless its unit is a voltage).

A v5 export cannot be sliced: ``Data`` is loaded once on the first data access and cached
(the header comes from ``Description``/``Time`` alone). A v7.3 export is read lazily via h5py.
"""
from __future__ import annotations

import logging
import os
import re
import threading

import numpy as np

from ..errors import file_error
from ..recording import Electrode, Recording
from .matlab import MatFile, mat_version
from .otb import find_grid_code, grid_electrode

logger = logging.getLogger("emgkit")

_REQUIRED = ("Data", "Description", "SamplingFrequency")
_EMG_UNITS = {"uv": 1.0, "µv": 1.0, "mv": 1e3, "v": 1e6}
_RAW = re.compile(
    r"^(?P<muscle>.*?)\s+-\s+(?P<adapter>.*?)\s*(?:\((?P<route>Channel[^)]*)\))?\s*"
    r"(?:-\s*(?P<grid>\S+)\s*)?\((?P<k>\d+)\)\s*\[(?P<unit>[^\]]*)\]\s*$")
_UNIT = re.compile(r"\[\s*(?P<unit>[^\]]*?)\s*\]\s*$")


def sniff(path) -> bool:
    """True only for OT BioLab+ exports (Data, Description and SamplingFrequency variables)."""
    if mat_version(path) is None:
        return False
    try:
        mat = MatFile(path)
    except Exception:  # any unreadable .mat is left to the generic reader's error
        return False
    return all(name in mat for name in _REQUIRED) and mat.matlab_class("Description") == "cell"


def _text(cell) -> str:
    value = np.asarray(cell, dtype=object).ravel()
    if value.size == 0:
        return ""
    if value.size == 1 and not isinstance(value[0], str):
        return _text(value[0])
    return "".join(str(v) for v in value)


def _classify(desc: str):
    """(type, unit, muscle, grid, k) for one Description entry."""
    unit_m = _UNIT.search(desc)
    unit = unit_m.group("unit").strip() if unit_m else ""
    low = desc.lower()
    if "source for decomposition" in low or "decomposition of" in low:
        return "decomposition", unit, None, None, None
    if "acquired data" in low or "performed path" in low:
        return "force", unit.replace(" ", ""), None, None, None
    m = _RAW.match(desc)
    if m and unit.lower() in _EMG_UNITS:
        grid = find_grid_code(m.group("grid") or "") or find_grid_code(desc)
        return "emg", unit, m.group("muscle").strip(), grid, int(m.group("k"))
    if unit.lower() in _EMG_UNITS:
        return "emg", unit, None, find_grid_code(desc), None
    return "misc", unit, None, None, None


class _ColumnSource:
    def __init__(self, mat: MatFile, columns: np.ndarray, scale: np.ndarray):
        self.mat = mat
        self.columns = columns
        self.scale = scale
        self._lock = threading.Lock()
        self._data = None  # samples x columns, loaded once (v5)
        self._dataset = None

    def _matrix(self):
        with self._lock:
            if self._data is None and self._dataset is None:
                cell = self.mat.load("Data")
                inner = cell.ravel()[0] if isinstance(cell, np.ndarray) and cell.dtype == object else cell
                if self.mat.version == "v7.3":
                    # Keep it lazy: find the referenced dataset (h5 shape columns x samples).
                    ref = self.mat.h5_dataset("Data")[()].ravel()[0]
                    self._dataset = self.mat._h5[ref]
                else:
                    self._data = np.asarray(inner)
        return self._data if self._data is not None else self._dataset

    def read(self, start, stop, channel_indices):
        cols = self.columns[channel_indices]
        m = self._matrix()
        if self._dataset is not None:
            uniq, inverse = np.unique(cols, return_inverse=True)
            block = np.asarray(m[uniq.tolist(), start:stop], dtype=np.float64)[inverse]
        else:
            block = np.asarray(m[start:stop, cols], dtype=np.float64).T
        return block * self.scale[channel_indices][:, None]


def _samples_columns(mat: MatFile, path) -> tuple[int, int]:
    """(n_samples, n_columns) of the Data matrix, without loading it where possible."""
    if mat.version == "v7.3":
        ref = mat.h5_dataset("Data")[()].ravel()[0]
        shape = mat._h5[ref].shape  # columns x samples
        return shape[1], shape[0]
    if "Time" in mat:
        t = mat.load("Time")
        inner = t.ravel()[0] if isinstance(t, np.ndarray) and t.dtype == object else t
        n = int(np.asarray(inner).size)
        n_cols = mat.shape("Description")[0] * max(1, mat.shape("Description")[1])
        if n:
            return n, n_cols
    cell = mat.load("Data")
    inner = np.asarray(cell.ravel()[0] if cell.dtype == object else cell)
    if inner.ndim != 2:
        raise file_error(path, f"Data holds a {inner.ndim}-D array; an OT BioLab+ export holds samples x columns")
    return inner.shape


def read(path) -> Recording:
    """Read an OT BioLab+ MATLAB export: EMG in µV with grid geometry; force and decomposition kept apart."""
    path = os.fspath(path)
    mat = MatFile(path)
    missing = [n for n in _REQUIRED if n not in mat]
    if missing:
        raise file_error(path, f"not an OT BioLab+ export: variables {', '.join(missing)} are missing "
                               f"(it holds {', '.join(mat.names())})", "read it with format='matlab'")
    descriptions = [_text(d) for d in np.asarray(mat.load("Description"), dtype=object).ravel()]
    fs = mat.scalar("SamplingFrequency")
    if fs is None or not np.isfinite(fs) or fs <= 0:
        raise file_error(path, f"SamplingFrequency is not a positive number ({mat.load('SamplingFrequency')!r})")
    n_samples, n_cols = _samples_columns(mat, path)
    if n_cols != len(descriptions):
        raise file_error(path, f"Data has {n_cols} columns but Description has {len(descriptions)} entries")

    channels, muscles, electrodes, types, units, columns, scales = [], [], [], [], [], [], []
    counters: dict[str, int] = {}
    grids = set()
    for col, desc in enumerate(descriptions):
        ctype, unit, muscle, grid, k = _classify(desc)
        if ctype == "emg":
            scale = _EMG_UNITS[unit.lower()]
            unit_out = "uV"
            if grid:
                grids.add(grid)
                electrode = grid_electrode(grid, k)
                name = f"{grid}-{k}" if k is not None else f"{grid}-col{col + 1}"
            else:
                electrode = Electrode("unknown")
                name = f"EMG{col + 1}"
        else:
            scale, unit_out, electrode = 1.0, unit, Electrode("unknown")
            base = {"decomposition": "MU firings" if "source for" not in desc.lower() else "MU source",
                    "force": "force", "misc": "aux"}[ctype]
            counters[base] = counters.get(base, 0) + 1
            name = f"{base} {counters[base]}"
        channels.append(name)
        muscles.append(muscle or "")
        electrodes.append(electrode)
        types.append(ctype)
        units.append(unit_out)
        columns.append(col)
        scales.append(scale)
    if "emg" not in types:
        logger.warning("%s: no column of the OT BioLab+ export is raw EMG", path)

    n_emg = types.count("emg")
    meta = {
        "source": "OT BioLab+ MATLAB export", "mat_version": mat.version,
        # What each non-EMG column is, in OT BioLab+'s words (the EMG columns are all alike).
        "aux_descriptions": {c: d for c, d, t in zip(channels, descriptions, types) if t != "emg"},
        "grids": sorted(grids),
        "n_decomposition_channels": types.count("decomposition"),
    }
    if "OTBFile" in mat:
        meta["otb_file"] = str(mat.load("OTBFile"))
    if "Time" in mat and mat.version == "v5":
        t = mat.load("Time")
        inner = np.asarray(t.ravel()[0] if t.dtype == object else t).ravel()
        if inner.size:
            meta["start_time_s"] = float(inner[0])
    for grid in grids:
        from .otb import OT_GRIDS

        spec = OT_GRIDS.get(grid)
        n_grid = sum(1 for e in electrodes if e.grid == grid)
        if spec and n_grid != spec.n_electrodes:
            meta.setdefault("notes", []).append(
                f"{n_grid} raw columns for grid {grid}, which has {spec.n_electrodes} electrodes")
    logger.debug("%s: %d EMG channels, %d auxiliary", path, n_emg, len(types) - n_emg)
    return Recording(_ColumnSource(mat, np.asarray(columns), np.asarray(scales, dtype=np.float64)), fs,
                     channels, n_samples, muscles=muscles, electrodes=electrodes, channel_types=types,
                     units=units, meta=meta, path=path, format="otb_mat")
