"""The detector's output: :class:`DetectionResult` (DataFrames + templates + provenance) and its HDF5 file.

A result holds the tables whose columns ``emgkit.schema`` names (discharges,
events, segments), the per-unit and per-muscle tables, the QC flags, the
unit templates, the parameters that produced it and its provenance.

HDF5 layout (schema version ``SCHEMA_VERSION``)::

    /                       attrs: emgkit_result="DetectionResult", schema_version,
                                   emgkit_version, params (JSON), provenance (JSON)
    /tables/<name>          one group per table; attrs: columns (JSON list of names),
                            n_rows, index_name (JSON, only when the index is not 0..n-1)
    /tables/<name>/c<i>     column i; attrs: name, dtype (pandas dtype text), codec
                            ("numeric", "string", "datetime", "timedelta", "category",
                            "masked", "json"); a "<ds>_missing" boolean dataset marks
                            missing entries of string/masked/json columns
    /tables/<name>/__index__  the index, when it is not 0..n-1 (same codecs)
    /templates/t<i>         one dataset per (muscle, unit); attr key (JSON list)

Columns are stored one dataset each, so dtypes, NaN, strings (UTF-8) and empty
tables come back exactly. Large JSON attributes (> ``_ATTR_LIMIT`` bytes)
are stored as datasets ``/params`` and ``/provenance`` instead.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import pathlib
import tempfile
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import schema
from ._json import json_default
from .errors import EmgkitFileNotFoundError, ResultFileError, file_error

logger = logging.getLogger("emgkit")

#: Version of the HDF5 layout written by :meth:`DetectionResult.save`. Files
#: with a larger version are refused by :func:`load_result`.
SCHEMA_VERSION = "1"

_MARKER = "DetectionResult"
TABLE_NAMES = ("discharges", "events", "segments", "units", "summary", "qc")
_ATTR_LIMIT = 32_000  # HDF5 compact attributes hold at most 64 KiB
_COMPRESS_MIN_ROWS = 4096

#: Columns (and dtypes) of the tables of an empty result. Tables may carry more columns.
TABLE_DTYPES: dict[str, dict[str, str]] = {
    "discharges": {"time": "float64", "muscle": "str", "channel": "str", "unit": "int64",
                   "amplitude": "float64", "event": "int64", "state": "str"},
    "events": {"event": "int64", "muscle": "str", "unit": "int64", "kind": "str", "start": "float64",
               "end": "float64", "n_discharges": "int64", "rate": "float64", "confidence": "float64"},
    "segments": {"muscle": "str", "state": "str", "start": "float64", "end": "float64"},
    "units": {"muscle": "str", "unit": "int64", "channel": "str", "n_discharges": "int64",
              "rate": "float64", "isi_median": "float64", "isi_cov": "float64",
              "amplitude": "float64", "pattern": "str"},
    "summary": {"muscle": "str"},
    "qc": {"muscle": "str", "channel": "str"},
}
assert tuple(TABLE_DTYPES["discharges"]) == schema.DISCHARGE_COLUMNS
assert tuple(TABLE_DTYPES["events"]) == schema.EVENT_COLUMNS
assert tuple(TABLE_DTYPES["segments"]) == schema.SEGMENT_COLUMNS


def empty_table(name: str) -> pd.DataFrame:
    """A zero-row table ``name`` (one of ``TABLE_NAMES``) with its columns and dtypes."""
    return pd.DataFrame({col: pd.Series([], dtype=dtype) for col, dtype in TABLE_DTYPES[name].items()})


def _table_field(name):
    return field(default_factory=lambda: empty_table(name))


@dataclass(repr=False)
class DetectionResult:
    """Everything one detection run produced.

    discharges : one row per discharge, columns ``schema.DISCHARGE_COLUMNS`` (+ extra columns).
    events : one row per event, columns ``schema.EVENT_COLUMNS``.
    segments : excluded/flagged time, columns ``schema.SEGMENT_COLUMNS``.
    units : one row per unit: muscle, unit, channel, n_discharges, rate, isi_median, isi_cov,
        amplitude, pattern, ...
    templates : (muscle, unit) -> float32 array (n_channels_used, n_samples) in µV.
    summary : one row per muscle (numbers and flag strings).
    qc : per channel/muscle quality flags (noise, mains, clipped, flat, ...).
    params : the detection parameters as a plain (nested) dict.
    provenance : emgkit version, input path and sha256, created (ISO), schema_version, timings, ...
    """

    discharges: pd.DataFrame = _table_field("discharges")
    events: pd.DataFrame = _table_field("events")
    segments: pd.DataFrame = _table_field("segments")
    units: pd.DataFrame = _table_field("units")
    templates: dict = field(default_factory=dict)
    summary: pd.DataFrame = _table_field("summary")
    qc: pd.DataFrame = _table_field("qc")
    params: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)

    @property
    def muscles(self) -> list[str]:
        """Muscles named in any table, in order of first appearance."""
        seen: dict[str, None] = {}
        for name in ("summary", "discharges", "events", "segments", "units", "qc"):
            table = getattr(self, name)
            if "muscle" in table.columns:
                seen.update(dict.fromkeys(str(m) for m in table["muscle"].dropna()))
        return list(seen)

    def __repr__(self) -> str:
        parts = []
        for muscle in self.muscles:
            d = self.discharges
            n_dis = int((d["muscle"] == muscle).sum()) if "muscle" in d.columns else 0
            text = f"{muscle}: {n_dis} discharges"
            ev = self.events
            if len(ev) and {"muscle", "kind"} <= set(ev.columns):
                counts = ev.loc[ev["muscle"] == muscle, "kind"].value_counts()
                order = [k for k in schema.EVENT_KINDS if k in counts.index]
                order += sorted(set(map(str, counts.index)) - set(order))
                text += "".join(f", {int(counts[k])} {k}" for k in order)
            parts.append(text)
        body = "; ".join(parts) if parts else "empty"
        return f"<DetectionResult {len(self.muscles)} muscle(s): {body}>"

    # ------------------------------------------------------------------ files
    def save(self, path) -> pathlib.Path:
        """Write the result to an HDF5 file at ``path`` and return the path.

        Writes a temporary file in the same folder and renames it over ``path``
        at the end: a crash never leaves a half-written file, and an existing
        file is replaced only on success.
        """
        import h5py

        path = pathlib.Path(path)
        if not path.parent.is_dir():
            raise file_error(path, "the folder does not exist", "create it first", cls=ResultFileError)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = pathlib.Path(tmp_name)
        try:
            with h5py.File(tmp, "w") as h5:
                self._write(h5, path)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        logger.info("saved result to %s", path)
        return path

    def _write(self, h5, path) -> None:
        from . import __version__

        h5.attrs["emgkit_result"] = _MARKER
        h5.attrs["schema_version"] = SCHEMA_VERSION
        h5.attrs["emgkit_version"] = __version__
        _write_json(h5, "params", self.params, path)
        _write_json(h5, "provenance", self.provenance, path)
        tables = h5.create_group("tables")
        for name in TABLE_NAMES:
            table = getattr(self, name)
            if not isinstance(table, pd.DataFrame):
                raise file_error(path, f"result.{name} is a {type(table).__name__}, not a DataFrame",
                                 cls=ResultFileError)
            _write_table(tables.create_group(name), table, path, name)
        group = h5.create_group("templates")
        for i, (key, template) in enumerate(self.templates.items()):
            ds = group.create_dataset(f"t{i}", data=np.asarray(template))
            ds.attrs["key"] = json.dumps(_key_to_json(key))

    def to_csv(self, directory, prefix: str = "") -> list[pathlib.Path]:
        """Write each table to ``directory/<prefix><table>.csv`` (for spreadsheets); return the paths.

        Templates, params and provenance are not tables: use :meth:`save` for them.
        """
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for name in TABLE_NAMES:
            out = directory / f"{prefix}{name}.csv"
            getattr(self, name).to_csv(out, index=False)
            written.append(out)
        return written


def empty_result(params: dict | None = None, provenance: dict | None = None) -> DetectionResult:
    """A result whose tables have the right columns and dtypes and zero rows."""
    return DetectionResult(params=dict(params or {}), provenance=dict(provenance or {}))


def load_result(path) -> DetectionResult:
    """Read a file written by :meth:`DetectionResult.save`.

    Raises ResultFileError when the file is not an emgkit result, is damaged,
    or has a newer schema version than this emgkit reads.
    """
    import h5py

    path = pathlib.Path(path)
    if not path.exists():
        raise file_error(path, "no such result file", cls=EmgkitFileNotFoundError)
    if not h5py.is_hdf5(path):
        raise file_error(path, "not an HDF5 file, so not an emgkit result file",
                         "results are written by DetectionResult.save / `emgkit detect`",
                         cls=ResultFileError)
    try:
        with h5py.File(path, "r") as h5:
            if _attr_text(h5.attrs.get("emgkit_result")) != _MARKER:
                raise file_error(path, "an HDF5 file but not an emgkit result file "
                                 "(no emgkit_result attribute)", cls=ResultFileError)
            _check_version(path, _attr_text(h5.attrs.get("schema_version")))
            tables = {name: _read_table(h5["tables"][name], path) for name in TABLE_NAMES
                      if name in h5["tables"]}
            templates = {}
            for name in sorted(h5["templates"], key=lambda n: int(n[1:])):
                ds = h5["templates"][name]
                templates[_key_from_json(json.loads(_attr_text(ds.attrs["key"])))] = ds[()]
            params = _read_json(h5, "params")
            provenance = _read_json(h5, "provenance")
    except ResultFileError:
        raise
    except (KeyError, ValueError, OSError, TypeError) as exc:
        raise file_error(path, f"damaged emgkit result file: {exc}", cls=ResultFileError) from exc
    for name in TABLE_NAMES:
        tables.setdefault(name, empty_table(name))
    return DetectionResult(templates=templates, params=params, provenance=provenance, **tables)


def file_sha256(path, chunk_bytes: int = 1 << 20) -> str:
    """The SHA-256 hex digest of a file, read in chunks (big files never sit in memory)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(chunk_bytes), b""):
                digest.update(chunk)
    except FileNotFoundError:
        raise file_error(path, "no such file", cls=EmgkitFileNotFoundError) from None
    return digest.hexdigest()


def files_sha256(paths) -> tuple[str, list[dict]]:
    """The SHA-256 identity of a recording stored in ``paths`` (``Recording.files``): one file's own
    digest, or for several the SHA-256 of their hex digests, one per line in order; and each file's
    ``{"path", "sha256"}``."""
    each = [{"path": os.fspath(p), "sha256": file_sha256(p)} for p in paths]
    if len(each) == 1:
        return each[0]["sha256"], each
    joined = "".join(f["sha256"] + "\n" for f in each).encode("ascii")
    return hashlib.sha256(joined).hexdigest(), each


def now_iso() -> str:
    """The current UTC time as ISO 8601 text, for ``provenance['created']``."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------- internals
def _check_version(path, version: str | None) -> None:
    try:
        number = int(version)
    except (TypeError, ValueError):
        raise file_error(path, f"unreadable schema_version {version!r}", cls=ResultFileError) from None
    if number > int(SCHEMA_VERSION):
        raise file_error(path, f"result schema version {number} is newer than this emgkit reads "
                         f"({SCHEMA_VERSION})", "upgrade emgkit", cls=ResultFileError)


def _attr_text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _attr_text(value[()])
    return value


def _write_json(h5, name: str, value, path) -> None:
    try:
        text = json.dumps(value if value is not None else {}, default=json_default)
    except (TypeError, ValueError) as exc:
        raise file_error(path, f"result.{name} cannot be stored as JSON: {exc}",
                         "keep params/provenance to numbers, strings, lists and dicts",
                         cls=ResultFileError) from exc
    if len(text.encode("utf-8")) <= _ATTR_LIMIT:
        h5.attrs[name] = text
    else:
        h5.create_dataset(name, data=text, dtype=_str_dtype())


def _read_json(h5, name: str):
    if name in h5.attrs:
        return json.loads(_attr_text(h5.attrs[name]))
    if name in h5:
        return json.loads(_attr_text(h5[name][()]))
    return {}


def _key_to_json(key):
    if isinstance(key, tuple):
        return {"tuple": [_key_to_json(k) for k in key]}
    if isinstance(key, np.generic):
        return key.item()
    return key


def _key_from_json(value):
    if isinstance(value, dict) and "tuple" in value:
        return tuple(_key_from_json(v) for v in value["tuple"])
    return value


def _str_dtype():
    import h5py
    return h5py.string_dtype("utf-8")


def _create(group, name, data, dtype=None):
    data = np.asarray(data) if dtype is None else np.asarray(data, dtype=object)
    kwargs = {}
    if data.ndim == 1 and len(data) >= _COMPRESS_MIN_ROWS:
        kwargs = {"compression": "gzip", "compression_opts": 4, "shuffle": dtype is None}
    return group.create_dataset(name, data=data, dtype=dtype, **kwargs)


def _write_column(group, name: str, series: pd.Series, path, where: str):
    """Store one column (or index) as a dataset; return it."""
    dtype = series.dtype
    values = series.to_numpy()
    if isinstance(dtype, pd.CategoricalDtype):
        cats = pd.Series(dtype.categories)
        ds = _create(group, name, series.cat.codes.to_numpy())
        _write_column(group, f"{name}_categories", cats, path, where)
        ds.attrs["codec"], ds.attrs["ordered"] = "category", bool(dtype.ordered)
    elif pd.api.types.is_datetime64_any_dtype(dtype) and not isinstance(dtype, pd.DatetimeTZDtype):
        ds = _create(group, name, series.to_numpy().view("int64"))
        ds.attrs["codec"] = "datetime"
    elif pd.api.types.is_timedelta64_dtype(dtype):
        ds = _create(group, name, series.to_numpy().view("int64"))
        ds.attrs["codec"] = "timedelta"
    elif isinstance(dtype, np.dtype) and dtype.kind in "biufc":
        ds = _create(group, name, values)
        ds.attrs["codec"] = "numeric"
    elif isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind in "biuf" \
            and not isinstance(dtype, pd.StringDtype):
        missing = series.isna().to_numpy()
        filled = series.to_numpy(dtype=dtype.numpy_dtype if hasattr(dtype, "numpy_dtype") else None,
                                 na_value=0)
        ds = _create(group, name, filled)
        _create(group, f"{name}_missing", missing)
        ds.attrs["codec"] = "masked"
    else:
        missing = series.isna().to_numpy() if len(series) else np.zeros(0, bool)
        present = values[~missing]
        if all(isinstance(v, str) for v in present):
            codec, stored = "string", ["" if m else v for v, m in zip(values, missing)]
        else:
            try:
                stored = ["" if m else json.dumps(v, default=json_default) for v, m in zip(values, missing)]
            except (TypeError, ValueError) as exc:
                raise file_error(path, f"column {series.name!r} of table {where} holds values that "
                                 f"cannot be stored ({exc})", "use numbers or strings",
                                 cls=ResultFileError) from exc
            codec = "json"
        ds = _create(group, name, np.array(stored, dtype=object), dtype=_str_dtype())
        _create(group, f"{name}_missing", missing)
        ds.attrs["codec"] = codec
    ds.attrs["dtype"] = str(dtype)
    return ds


def _read_column(group, name: str) -> pd.Series:
    ds = group[name]
    codec, dtype = _attr_text(ds.attrs["codec"]), _attr_text(ds.attrs["dtype"])
    raw = ds[()]
    if codec == "numeric":
        return pd.Series(raw, dtype=dtype)
    if codec in ("datetime", "timedelta"):
        return pd.Series(raw.view(dtype))
    if codec == "category":
        cats = _read_column(group, f"{name}_categories")
        return pd.Series(pd.Categorical.from_codes(raw, categories=pd.Index(cats),
                                                   ordered=bool(ds.attrs["ordered"])))
    missing = group[f"{name}_missing"][()].astype(bool)
    if codec == "masked":
        out = pd.Series(raw).astype(dtype)
        out[missing] = pd.NA
        return out
    texts = [v.decode("utf-8") if isinstance(v, bytes) else v for v in raw]
    if codec == "json":
        objects = np.empty(len(texts), dtype=object)
        objects[:] = [None if m else json.loads(t) for t, m in zip(texts, missing)]
        return pd.Series(objects, dtype=dtype)
    objects = np.empty(len(texts), dtype=object)
    objects[:] = texts
    na = np.nan if dtype == "str" else None
    objects[missing] = na
    return pd.Series(objects, dtype=dtype)


def _write_table(group, table: pd.DataFrame, path, where: str) -> None:
    names = list(table.columns)
    if not all(isinstance(n, str) for n in names):
        raise file_error(path, f"table {where} has non-text column names {names!r}",
                         "name every column with a string", cls=ResultFileError)
    if len(set(names)) != len(names):
        raise file_error(path, f"table {where} has duplicate column names", cls=ResultFileError)
    group.attrs["columns"] = json.dumps(names)
    group.attrs["n_rows"] = len(table)
    for i, name in enumerate(names):
        ds = _write_column(group, f"c{i}", table[name], path, where)
        ds.attrs["name"] = name
    index = table.index
    if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1):
        if isinstance(index, pd.MultiIndex):
            raise file_error(path, f"table {where} has a MultiIndex", "reset_index() first",
                             cls=ResultFileError)
        _write_column(group, "__index__", index.to_series(index=None), path, where)
        group.attrs["index_name"] = json.dumps(index.name)


def _read_table(group, path) -> pd.DataFrame:
    names = json.loads(_attr_text(group.attrs["columns"]))
    columns = {name: _read_column(group, f"c{i}") for i, name in enumerate(names)}
    table = pd.DataFrame(columns, columns=names)
    if not names:
        table = pd.DataFrame(index=pd.RangeIndex(int(group.attrs["n_rows"])))
    if "__index__" in group:
        index = pd.Index(_read_column(group, "__index__"))
        index.name = json.loads(_attr_text(group.attrs["index_name"]))
        table.index = index
    return table


__all__ = ["SCHEMA_VERSION", "DetectionResult", "load_result", "empty_result", "empty_table",
           "file_sha256", "files_sha256", "now_iso", "TABLE_NAMES", "TABLE_DTYPES"]
