"""Plain numeric files: CSV / TSV / whitespace text columns and NumPy ``.npy`` arrays.

Text files hold one channel per column and one sample per row. An optional
first row names the channels; a column named like a time axis (``time``, ``t``,
``X[s]``, ``time (ms)``, ...) gives the sampling rate when its steps are
uniform and is not a channel. Lines starting with ``#`` are comments; an empty
cell (or ``nan``) is an invalid sample (NaN). Text is parsed once with pandas
(the file is held in memory); ``.npy`` files are memory-mapped and read lazily.

Options
-------
fs : float
    Sampling rate (Hz); required unless the file has a time column.
units : "uV" (default), "mV", "V" or "nV"
    The unit of the numbers in the file; samples are scaled to µV.
channels_first : bool, optional
    ``.npy`` orientation: True = (n_channels, n_samples). Default: the longer
    axis is time.
delimiter : str, optional
    Column separator (default: tab for .tsv, else guessed from the first line).

A ``.txt`` file starting with ``# OpenSignals Text File Format`` is handed to
:func:`emgkit.io.opensignals.read_txt` (its header gives rate and scaling).
"""
from __future__ import annotations

import csv
import logging
import os
import re

import numpy as np

from ..errors import ParameterError, file_error
from ..recording import ArraySource, Recording

log = logging.getLogger("emgkit")

#: Scale from each accepted unit to µV.
UNIT_SCALE_TO_UV = {"uV": 1.0, "µV": 1.0, "μV": 1.0, "mV": 1e3, "V": 1e6, "nV": 1e-3}

_TIME_NAME = re.compile(
    r"^\s*(?:(?:time|t|timestamp|seconds?|sec|elapsed(?:\s*time)?)\s*"
    r"(?:[\[(]\s*(?P<unit>s|sec|ms)\s*[\])]|_(?P<unit2>s|ms))?"
    r"|x\s*[\[(]\s*(?P<unit3>s|ms)\s*[\])])\s*$",
    re.IGNORECASE,
)
_BARE_MS = re.compile(r"^\s*(?:ms|msec|milliseconds?)\s*$", re.IGNORECASE)
#: Relative spread of time steps tolerated before a time column counts as non-uniform
#: (files round times to a few digits; real gaps are whole sample periods).
_TIME_STEP_RTOL = 0.05
_FS_AGREEMENT_RTOL = 0.01


def _unit_scale(path, units) -> float:
    if units not in UNIT_SCALE_TO_UV:
        raise file_error(path, f"units={units!r} is not one of {', '.join(UNIT_SCALE_TO_UV)}",
                         cls=ParameterError)
    return UNIT_SCALE_TO_UV[units]


def _check_fs(path, fs):
    if fs is None:
        return None
    try:
        fs = float(fs)
    except (TypeError, ValueError):
        raise file_error(path, f"fs (Hz) must be a number; got {fs!r}", cls=ParameterError) from None
    if not np.isfinite(fs) or fs <= 0:
        raise file_error(path, f"fs (Hz) must be a positive number; got {fs}", cls=ParameterError)
    return fs


def _time_scale(name: str) -> float | None:
    """Seconds per unit of a time column called ``name``, or None when it is not a time column."""
    if _BARE_MS.match(name):
        return 1e-3
    m = _TIME_NAME.match(name)
    if not m:
        return None
    unit = (m.group("unit") or m.group("unit2") or m.group("unit3") or "s").lower()
    return 1e-3 if unit == "ms" else 1.0


def _missing_fs(path) -> ParameterError:
    return file_error(path, "the sampling rate is unknown: the file has no time column",
                      "pass it: emgkit.read(path, fs=...)", cls=ParameterError)


# ----------------------------------------------------------------------------- .npy
class _NpySource:
    def __init__(self, path, scale, channels_first):
        self.path, self.scale, self.channels_first = path, scale, channels_first
        self._array = None

    def _data(self):
        if self._array is None:
            self._array = np.load(self.path, mmap_mode="r", allow_pickle=False)
            if self._array.ndim == 1:
                self._array = self._array[np.newaxis, :] if self.channels_first else self._array[:, np.newaxis]
        return self._array

    def read(self, start, stop, channel_indices):
        a = self._data()
        block = a[channel_indices, start:stop] if self.channels_first else a[start:stop, channel_indices].T
        out = np.asarray(block, dtype=np.float64)
        if self.scale != 1.0:
            out *= self.scale
        return out

    def __getstate__(self):
        return {**self.__dict__, "_array": None}


def _read_npy(path, fs, units, channels_first) -> Recording:
    scale = _unit_scale(path, units)
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise file_error(path, f"not a numeric .npy array ({exc})",
                         "save plain numbers with numpy.save(path, array)") from None
    except (OSError, EOFError) as exc:
        raise file_error(path, f"not a readable .npy file ({exc})", "the file may be empty or truncated") from None
    if not isinstance(array, np.ndarray):
        raise file_error(path, "holds an archive, not one array", "save one array with numpy.save")
    if array.dtype.kind not in "iuf":
        raise file_error(path, f"holds dtype {array.dtype}; emgkit reads integer or real arrays")
    if array.ndim not in (1, 2):
        raise file_error(path, f"holds a {array.ndim}-D array of shape {array.shape}; "
                               "expected 1-D or 2-D (channels x samples)")
    if array.ndim == 1:
        channels_first = True
        n_ch, n = 1, array.shape[0]
    else:
        if channels_first is None:
            channels_first = array.shape[1] >= array.shape[0]
        n_ch, n = array.shape if channels_first else array.shape[::-1]
    if n == 0 or n_ch == 0:
        raise file_error(path, f"holds an empty array of shape {array.shape}")
    if fs is None:
        raise _missing_fs(path)
    del array
    source = _NpySource(path, scale, channels_first)
    names = [f"EMG{i + 1}" for i in range(n_ch)]
    meta = {"units_in_file": units, "orientation": "channels_first" if channels_first else "samples_first"}
    return Recording(source, fs, names, n, meta=meta, path=path, format="plain")


# ----------------------------------------------------------------------------- text
def _data_lines(path, encoding):
    """Yield (line_number, text) for lines that are neither blank nor comments."""
    with open(path, encoding=encoding, newline="") as fh:
        for number, line in enumerate(fh, start=1):
            stripped = line.strip()
            if stripped and not stripped.startswith("#"):
                yield number, line.rstrip("\r\n")


def _split(line: str, delimiter: str | None) -> list[str]:
    if delimiter is None:
        return line.split()
    return next(csv.reader([line], delimiter=delimiter))


def _is_number(cell: str) -> bool:
    cell = cell.strip()
    if not cell:
        return True  # empty = invalid sample
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _guess_delimiter(path, first_line: str) -> str | None:
    ext = os.path.splitext(path)[1].lower()
    if ext == ".tsv" or "\t" in first_line:
        return "\t"
    if "," in first_line:
        return ","
    if ";" in first_line:
        return ";"
    return None  # runs of whitespace


def _locate_bad_cell(path, encoding, delimiter, header, n_fields):
    """Scan the file to name the first ragged row or non-numeric cell (slow path, errors only)."""
    names = header or [f"column {i + 1}" for i in range(n_fields)]
    lines = _data_lines(path, encoding)
    if header:
        next(lines)
    for number, line in lines:
        cells = _split(line, delimiter)
        if delimiter is not None and len(cells) == n_fields + 1 and not cells[-1].strip():
            cells = cells[:-1]  # trailing delimiter
        if len(cells) != n_fields:
            raise file_error(path, f"line {number} has {len(cells)} fields but the file has {n_fields} columns "
                                   "(ragged rows)")
        for col, cell in enumerate(cells):
            if not _is_number(cell):
                raise file_error(path, f"line {number}, column {col + 1} ({names[col]!r}): "
                                       f"{cell.strip()!r} is not a number")
    return None


def _read_text(path, fs, units, delimiter) -> Recording:
    import pandas as pd

    scale = _unit_scale(path, units)
    encoding = "utf-8-sig"
    try:
        first = next(_data_lines(path, encoding), None)
    except UnicodeDecodeError:
        raise file_error(path, "is not a text file (not UTF-8)") from None
    if first is None:
        raise file_error(path, "is empty (no data rows)")
    first_number, first_line = first
    if delimiter is None:
        delimiter = _guess_delimiter(path, first_line)
    cells = _split(first_line, delimiter)
    if delimiter is not None and len(cells) > 1 and not cells[-1].strip():
        cells = cells[:-1]
    has_header = not all(_is_number(c) for c in cells) or all(not c.strip() for c in cells)
    header = [c.strip() for c in cells] if has_header else None
    n_fields = len(cells)

    skip = first_number if has_header else first_number - 1
    try:
        frame = pd.read_csv(
            path, sep=r"\s+" if delimiter is None else delimiter, header=None, skiprows=skip,
            comment="#", skip_blank_lines=True, dtype=np.float64, encoding=encoding,
            engine="c", na_values=["nan", "NaN", "NAN", ""], keep_default_na=True,
        )
        data = frame.to_numpy(dtype=np.float64)
    except pd.errors.EmptyDataError:
        raise file_error(path, "has a header but no data rows") from None
    except (ValueError, pd.errors.ParserError):
        _locate_bad_cell(path, encoding, delimiter, header, n_fields)
        raise file_error(path, "could not be parsed as numeric columns") from None
    if data.shape[1] == n_fields + 1 and np.isnan(data[:, -1]).all():
        data = data[:, :-1]  # every row ends with the delimiter
    if data.shape[1] != n_fields or np.isnan(data).any():
        # Tell ragged rows (an error) from empty cells (invalid samples).
        _locate_bad_cell(path, encoding, delimiter, header, n_fields)
        if data.shape[1] != n_fields:
            raise file_error(path, f"rows have {data.shape[1]} fields but the first line has {n_fields}")
    if data.shape[0] == 0:
        raise file_error(path, "has a header but no data rows")

    names = header or [f"EMG{i + 1}" for i in range(n_fields)]
    time_cols = [i for i, name in enumerate(names) if header and _time_scale(name) is not None]
    meta = {"units_in_file": units}
    if len(time_cols) > 1:
        raise file_error(path, f"has {len(time_cols)} time columns ({', '.join(names[i] for i in time_cols)}); "
                               "channels at different rates are not a plain table",
                         "for a Delsys export use format='delsys_csv'")
    if time_cols:
        t_col = time_cols[0]
        t = data[:, t_col] * _time_scale(names[t_col])
        fs_time = _fs_from_time(path, t, names[t_col])
        if fs is not None and fs_time is not None and abs(fs - fs_time) > _FS_AGREEMENT_RTOL * fs:
            raise file_error(path, f"fs={fs:g} Hz disagrees with the time column {names[t_col]!r} "
                                   f"({fs_time:.6g} Hz)", "leave fs= out or fix the time column",
                             cls=ParameterError)
        fs = fs if fs is not None else fs_time
        meta["time_column"] = names[t_col]
        meta["start_time_s"] = float(t[0])
        keep = [i for i in range(n_fields) if i != t_col]
        if not keep:
            raise file_error(path, "has only a time column, no channels")
        data = data[:, keep]
        names = [names[i] for i in keep]
    if fs is None:
        raise _missing_fs(path)
    names = [n if n else f"EMG{i + 1}" for i, n in enumerate(names)]
    samples = np.ascontiguousarray(data.T)
    if scale != 1.0:
        samples *= scale
    return Recording(ArraySource(samples), fs, names, samples.shape[1], meta=meta, path=path, format="plain")


def _fs_from_time(path, t: np.ndarray, name: str) -> float | None:
    if t.size < 2:
        return None
    if not np.isfinite(t).all():
        raise file_error(path, f"time column {name!r} has empty or non-numeric cells")
    steps = np.diff(t)
    step = (t[-1] - t[0]) / (t.size - 1)
    if step <= 0:
        raise file_error(path, f"time column {name!r} does not increase")
    worst = np.abs(steps - step).max()
    if worst > _TIME_STEP_RTOL * step:
        raise file_error(path, f"time column {name!r} is not uniform (steps from {steps.min():.6g} to "
                               f"{steps.max():.6g} s); emgkit does not resample",
                         "resample the file, or drop the time column and pass fs=")
    return 1.0 / step


# ----------------------------------------------------------------------------- entry points
def read(path, *, fs=None, units: str = "uV", channels_first: bool | None = None,
         delimiter: str | None = None) -> Recording:
    """Read a plain CSV/TSV/text table or a ``.npy`` array (see the module docstring for the options)."""
    path = os.fspath(path)
    fs = _check_fs(path, fs)
    if path.lower().endswith(".npy"):
        if delimiter is not None:
            raise file_error(path, "delimiter= applies to text files, not .npy", cls=ParameterError)
        return _read_npy(path, fs, units, channels_first)
    if channels_first is not None:
        raise file_error(path, "channels_first= applies to .npy arrays; text files hold one channel per column",
                         cls=ParameterError)
    if os.path.getsize(path) == 0:
        raise file_error(path, "is empty (0 bytes)")
    from . import opensignals

    if opensignals.sniff_txt(path):
        # OpenSignals text exports carry their own rate and ADC scaling.
        if fs is not None or units != "uV" or delimiter is not None:
            raise file_error(path, "is an OpenSignals text export: its header gives the rate and units",
                             "leave out fs=, units= and delimiter=", cls=ParameterError)
        return opensignals.read_txt(path)
    return _read_text(path, fs, units, delimiter)


__all__ = ["read", "UNIT_SCALE_TO_UV"]
