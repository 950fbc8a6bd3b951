"""emgkit's own HDF5 recording format (``.h5``): what the simulator saves, readable by any HDF5 tool.

Layout (``schema_version`` 1)::

    /                     attrs: emgkit_format="recording", schema_version, fs (Hz),
                                 n_channels, n_samples, source_format, meta (JSON), user attrs
    /emg                  float32|float64 (n_channels, n_samples), physical units
                          (µV for EMG, ``/channels/unit`` otherwise), NaN = invalid;
                          chunked ~1 s × all channels, optionally gzip/lzf compressed
    /channels/name        UTF-8 strings, one per channel; likewise muscle, type, unit,
                          electrode_kind, electrode_grid ("" = unknown)
    /channels/electrode_row, electrode_col        int64 (-1 = unknown)
    /channels/electrode_x_mm, _y_mm, _ied_mm      float64 (NaN = unknown)
    /tables/<name>/<column>                      one dataset per DataFrame column
                          group attrs: columns (JSON list, in order), n_rows;
                          column attrs: kind ("float", "int", "bool", "str", "datetime")

Files are byte-for-byte reproducible: the same recording written twice gives the
same bytes (creation order tracked, no timestamps, deterministic compression).
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np

from .._json import json_default_or_str
from ..errors import EmgkitFileNotFoundError, ParameterError, file_error
from ..recording import ELECTRODE_KINDS, Electrode, Recording

log = logging.getLogger("emgkit")

FORMAT_TAG = "recording"
SCHEMA_VERSION = 1
#: Chunks hold about this many bytes at most (1 s × all channels when that fits).
_MAX_CHUNK_BYTES = 1 << 20
_COMPRESSIONS = (None, "gzip", "lzf")
_CHANNEL_FIELDS = ("name", "muscle", "type", "unit", "electrode_kind", "electrode_grid", "electrode_row",
                   "electrode_col", "electrode_x_mm", "electrode_y_mm", "electrode_ied_mm")
_RESERVED_ATTRS = ("emgkit_format", "schema_version", "fs", "n_channels", "n_samples",
                   "source_format", "meta")


def _h5py():
    import h5py

    return h5py


# ----------------------------------------------------------------------------- writing
def _jsonable(value):
    """``value`` with every mapping key a string, so any metadata dict serialises."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _string_dataset(group, name: str, values) -> None:
    h5py = _h5py()
    data = np.array(["" if v is None else str(v) for v in values], dtype=object)
    group.create_dataset(name, data=data, dtype=h5py.string_dtype("utf-8"), track_times=False)


def _write_table(tables_group, name: str, frame) -> None:
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise ParameterError(f"tables[{name!r}] must be a pandas DataFrame; got {type(frame).__name__}")
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise ParameterError(f"table name must be a non-empty string without '/'; got {name!r}")
    columns = [str(c) for c in frame.columns]
    bad = [c for c in columns if not c or "/" in c or c in (".", "..")]
    if bad or len(set(columns)) != len(columns):
        raise ParameterError(
            f"table {name!r}: column names must be unique non-empty strings without '/'; got {columns}"
        )
    group = tables_group.create_group(name, track_order=True)
    group.attrs["columns"] = json.dumps(columns)
    group.attrs["n_rows"] = int(len(frame))
    h5py = _h5py()
    for col_name, (_, col) in zip(columns, frame.items()):
        if isinstance(col.dtype, pd.CategoricalDtype):
            col = col.astype(object)
        dtype = col.dtype
        if pd.api.types.is_bool_dtype(dtype) and not col.isna().any():
            ds = group.create_dataset(col_name, data=col.to_numpy(dtype=bool), track_times=False)
            kind = "bool"
        elif pd.api.types.is_integer_dtype(dtype) and not col.isna().any():
            ds = group.create_dataset(col_name, data=col.to_numpy(dtype=np.int64), track_times=False)
            kind = "int"
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            values = col.to_numpy(dtype="datetime64[ns]").astype(np.int64)
            ds = group.create_dataset(col_name, data=values, track_times=False)
            kind = "datetime"
        elif pd.api.types.is_numeric_dtype(dtype):
            # Floats, and nullable ints/bools with missing values: missing -> NaN.
            ds = group.create_dataset(col_name, data=col.to_numpy(dtype=np.float64, na_value=np.nan),
                                      track_times=False)
            kind = "float"
        else:
            missing = col.isna().to_numpy()
            text = np.array(["" if m else str(v) for v, m in zip(col.to_numpy(dtype=object), missing)],
                            dtype=object)
            ds = group.create_dataset(col_name, data=text, dtype=h5py.string_dtype("utf-8"),
                                      track_times=False)
            kind = "str"
            if missing.any():
                ds.attrs["missing"] = np.flatnonzero(missing).astype(np.int64)
        ds.attrs["kind"] = kind


def write_h5(rec: Recording, path, *, dtype="float32", compression: str | None = "gzip",
             tables: Mapping | None = None, attrs: Mapping | None = None) -> Path:
    """Write ``rec`` to emgkit's HDF5 format; returns the path written.

    Parameters
    ----------
    rec : Recording
        Its samples are read in blocks, so a lazily-read recording is never held whole.
    path : path-like
        Destination (``.h5``); written to a temporary name beside it, then renamed.
    dtype : "float32" or "float64"
        Sample type on disk (float32 keeps 24 bits of precision: ample for EMG).
    compression : "gzip" (level 1, with shuffle), "lzf" or None
    tables : mapping name -> pandas.DataFrame, optional
        Stored under ``/tables/<name>`` (e.g. the simulator's ground truth);
        read back with :func:`read_tables`. The index is not stored.
    attrs : mapping, optional
        Extra root attributes (strings, numbers or arrays of them).
    """
    h5py = _h5py()
    if not isinstance(rec, Recording):
        raise ParameterError(f"write_h5 needs a Recording; got {type(rec).__name__}")
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype("float32"), np.dtype("float64")):
        raise ParameterError(f"dtype must be 'float32' or 'float64'; got {dtype}")
    if compression not in _COMPRESSIONS:
        raise ParameterError(f"compression must be one of {_COMPRESSIONS}; got {compression!r}")
    for key in attrs or {}:
        if key in _RESERVED_ATTRS:
            raise ParameterError(f"attrs= may not set the reserved attribute {key!r}")
    path = Path(path)
    if not path.parent.is_dir():
        raise file_error(path, f"folder {path.parent} does not exist", cls=EmgkitFileNotFoundError)

    n_ch, n = rec.n_channels, rec.n_samples
    chunk_t = int(min(max(1, round(rec.fs)), max(1, _MAX_CHUNK_BYTES // (n_ch * dtype.itemsize)),
                      max(1, n)))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with h5py.File(tmp_name, "w", track_order=True, libver="v110") as f:
            f.attrs["emgkit_format"] = FORMAT_TAG
            f.attrs["schema_version"] = SCHEMA_VERSION
            f.attrs["fs"] = float(rec.fs)
            f.attrs["n_channels"] = n_ch
            f.attrs["n_samples"] = n
            f.attrs["source_format"] = rec.format or ""
            f.attrs["meta"] = json.dumps(_jsonable(rec.meta), default=json_default_or_str, ensure_ascii=False)
            for key, value in (attrs or {}).items():
                f.attrs[str(key)] = value
            kwargs = {}
            if compression == "gzip":
                kwargs = dict(compression="gzip", compression_opts=1, shuffle=True)
            elif compression == "lzf":
                kwargs = dict(compression="lzf", shuffle=True)
            emg = f.create_dataset("emg", shape=(n_ch, n), dtype=dtype,
                                   chunks=(n_ch, chunk_t) if n else None,
                                   track_times=False, **(kwargs if n else {}))
            block = chunk_t * max(1, 16 // max(1, (n_ch * chunk_t * dtype.itemsize) >> 20))
            for start in range(0, n, block):
                stop = min(n, start + block)
                emg[:, start:stop] = rec.get_data(start, stop).astype(dtype)

            ch = f.create_group("channels", track_order=True)
            _string_dataset(ch, "name", rec.channels)
            _string_dataset(ch, "muscle", rec.muscles)
            _string_dataset(ch, "type", rec.channel_types)
            _string_dataset(ch, "unit", rec.units)
            _string_dataset(ch, "electrode_kind", [e.kind for e in rec.electrodes])
            _string_dataset(ch, "electrode_grid", [e.grid for e in rec.electrodes])
            for field in ("row", "col"):
                values = [-1 if getattr(e, field) is None else int(getattr(e, field)) for e in rec.electrodes]
                ch.create_dataset(f"electrode_{field}", data=np.asarray(values, np.int64), track_times=False)
            for field in ("x_mm", "y_mm", "ied_mm"):
                values = [np.nan if getattr(e, field) is None else float(getattr(e, field))
                          for e in rec.electrodes]
                ch.create_dataset(f"electrode_{field}", data=np.asarray(values, np.float64), track_times=False)

            if tables:
                tg = f.create_group("tables", track_order=True)
                for name, frame in tables.items():
                    _write_table(tg, name, frame)
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    log.info("wrote %s (%d channels x %d samples, %s)", path, n_ch, n, dtype)
    return path


# ----------------------------------------------------------------------------- reading
def sniff(path) -> bool:
    """True when ``path`` is an HDF5 file written by :func:`write_h5`."""
    try:
        h5py = _h5py()
        if not h5py.is_hdf5(os.fspath(path)):
            return False
        with h5py.File(path, "r") as f:
            tag = f.attrs.get("emgkit_format")
    except (OSError, ValueError):
        return False
    if isinstance(tag, bytes):
        tag = tag.decode("utf-8", "replace")
    return tag == FORMAT_TAG


class _H5Source:
    """Reads ``/emg`` slices; opens the file on first use and reopens after unpickling."""

    def __init__(self, path: str, dataset: str = "emg"):
        self.path = path
        self.dataset = dataset
        self._file = None

    def _data(self):
        if self._file is None or not self._file.id.valid:
            self._file = _h5py().File(self.path, "r")
        return self._file[self.dataset]

    def read(self, start, stop, channel_indices):
        data = self._data()
        idx = np.asarray(channel_indices)
        # h5py wants increasing unique indices: read those, then reorder.
        uniq, inverse = np.unique(idx, return_inverse=True)
        try:
            block = data[:, start:stop] if uniq.size == data.shape[0] else data[uniq, start:stop]
        except OSError as exc:
            raise file_error(self.path, f"cannot read samples {start}:{stop} of /emg ({exc})",
                             "the file is damaged; write it again") from None
        block = np.asarray(block, dtype=np.float64)
        return block if np.array_equal(uniq, idx) else block[inverse]

    def __getstate__(self):
        return {"path": self.path, "dataset": self.dataset, "_file": None}


def _strings(ds) -> list[str]:
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in ds[()]]


def _open(path):
    h5py = _h5py()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise file_error(path, "file not found", cls=EmgkitFileNotFoundError)
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise file_error(path, f"not a readable HDF5 file ({exc})",
                         "the file may be truncated or not HDF5") from None


def read(path, **options) -> Recording:
    """Read a recording written by :func:`write_h5` (samples stay on disk until asked for)."""
    if options:
        raise ParameterError(f"the emgkit_h5 reader takes no options; got {', '.join(options)}")
    path = os.fspath(path)
    with _open(path) as f:
        tag = f.attrs.get("emgkit_format")
        if tag != FORMAT_TAG:
            raise file_error(path, "is HDF5 but not an emgkit recording (no emgkit_format='recording' attribute)",
                             "for OpenSignals files use format='opensignals'")
        version = int(f.attrs.get("schema_version", -1))
        if version > SCHEMA_VERSION:
            raise file_error(path, f"schema_version {version} is newer than this emgkit reads ({SCHEMA_VERSION})",
                             "upgrade emgkit")
        required = ["emg"] + [f"channels/{k}" for k in _CHANNEL_FIELDS]
        missing = [f"/{k}" for k in required if k not in f] + (["the fs attribute"] if "fs" not in f.attrs else [])
        if missing:
            raise file_error(path, f"emgkit recording is missing {', '.join(missing)}",
                             "the file is incomplete; write it again with emgkit.io.write_h5")
        try:
            fs = float(f.attrs["fs"])
            emg = f["emg"]
            ch = f["channels"]
            names = _strings(ch["name"])
            columns = {k: _strings(ch[k]) for k in ("muscle", "type", "unit", "electrode_kind", "electrode_grid")}
            rows = ch["electrode_row"][()]
            cols = ch["electrode_col"][()]
            xyz = [ch[f"electrode_{k}"][()] for k in ("x_mm", "y_mm", "ied_mm")]
            meta = json.loads(f.attrs.get("meta", "{}"))
            shape = emg.shape
            n_promised = int(f.attrs.get("n_samples", shape[-1] if len(shape) == 2 else -1))
        except (KeyError, ValueError, OSError, TypeError) as exc:
            raise file_error(path, f"unreadable emgkit recording header ({exc})") from None
        if len(shape) != 2 or shape[0] != len(names):
            raise file_error(path, f"/emg has shape {shape} but the file lists {len(names)} channels")
        if shape[1] != n_promised:
            raise file_error(path, f"/emg holds {shape[1]} samples but the header promises {n_promised}",
                             "the file is incomplete; write it again")
        lengths = {k: len(v) for k, v in columns.items()}
        lengths.update(electrode_row=len(rows), electrode_col=len(cols))
        short = [k for k, v in lengths.items() if v != len(names)]
        if short or any(len(a) != len(names) for a in xyz):
            raise file_error(path, f"/channels datasets disagree on the number of channels ({lengths})")
        kinds = columns["electrode_kind"]
        bad = sorted(set(kinds) - set(ELECTRODE_KINDS))
        if bad:
            raise file_error(path, f"unknown electrode kind(s) {bad}")
        electrodes = [
            Electrode(kind, grid or None, None if r < 0 else int(r), None if c < 0 else int(c),
                      *(None if np.isnan(a[i]) else float(a[i]) for a in xyz))
            for i, (kind, grid, r, c) in enumerate(zip(kinds, columns["electrode_grid"], rows, cols))
        ]
        user_attrs = {k: (v.item() if isinstance(v, np.generic) else v)
                      for k, v in f.attrs.items() if k not in _RESERVED_ATTRS}
        source_format = f.attrs.get("source_format", "")
    if user_attrs:
        meta.setdefault("h5_attrs", user_attrs)
    if source_format:
        meta.setdefault("source_format", source_format)
    return Recording(_H5Source(path), fs, names, shape[1], muscles=columns["muscle"],
                     electrodes=electrodes, channel_types=columns["type"], units=columns["unit"],
                     meta=meta, path=path, format="emgkit_h5")


def read_tables(path) -> dict:
    """The tables stored beside a recording (``/tables/<name>``) as pandas DataFrames, in file order."""
    import pandas as pd

    path = os.fspath(path)
    out = {}
    with _open(path) as f:
        if f.attrs.get("emgkit_format") != FORMAT_TAG:
            raise file_error(path, "is not an emgkit recording file")
        if "tables" not in f:
            return out
        for name, group in f["tables"].items():
            try:
                columns = json.loads(group.attrs["columns"])
                n_rows = int(group.attrs["n_rows"])
                data = {}
                for col in columns:
                    ds = group[col]
                    kind = ds.attrs.get("kind", "float")
                    if kind == "str":
                        values = np.array(_strings(ds), dtype=object)
                        if "missing" in ds.attrs:
                            values[ds.attrs["missing"]] = None
                        data[col] = pd.Series(values, dtype="str" if "missing" not in ds.attrs else object)
                    elif kind == "datetime":
                        data[col] = pd.Series(ds[()].astype("datetime64[ns]"))
                    else:
                        data[col] = pd.Series(ds[()])
                    if len(data[col]) != n_rows:
                        raise file_error(path, f"table {name!r} column {col!r} has {len(data[col])} rows, "
                                               f"expected {n_rows}")
            except KeyError as exc:
                raise file_error(path, f"table {name!r} is missing {exc.args[0]}") from None
            out[name] = pd.DataFrame(data, columns=columns)
    return out


__all__ = ["write_h5", "read", "read_tables", "sniff", "SCHEMA_VERSION"]
