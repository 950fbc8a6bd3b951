"""The ground truth of a simulated recording: what fired, when, where, and which time is excluded.

Tables use the public column names of :mod:`emgkit.schema` (the detector
outputs the same names), plus a few extra columns said below.

- ``discharges``: DISCHARGE_COLUMNS. ``time`` (s) is the sample of the MUAP's
  largest absolute peak on its ``channel`` (the unit's main channel) divided by fs.
- ``events``: EVENT_COLUMNS. Cramp events have ``unit`` −1 (many units).
- ``segments``: SEGMENT_COLUMNS plus ``channel`` ("" = every channel of the muscle).
- ``summary``: one row per muscle (see :data:`SUMMARY_COLUMNS`).
- ``units``: ``muscle, unit, pattern, amplitude, channel, duration_ms, n_phases``
  (template peak-to-peak µV and duration on the main channel).

Saved as one JSON file beside the recording (``<stem>.truth.json``) or as
tables inside an emgkit HDF5 file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import schema
from .._json import json_default_or_str
from ..errors import EmgkitFileNotFoundError, FileFormatError, ResultFileError, file_error

TABLES = ("discharges", "events", "segments", "summary", "units")
SEGMENT_EXTRA = ("channel",)
UNIT_COLUMNS = ("muscle", "unit", "pattern", "amplitude", "channel", "duration_ms", "n_phases")
#: Summary per muscle: rest time (s) analysed, excluded time (s), units with spontaneous events,
#: fasciculation-potential firings per minute of rest (single + doublet + multiplet events, each counted once)
#: and events per minute of rest for each kind.
SUMMARY_COLUMNS = ("muscle", "rest_time_s", "excluded_time_s", "n_spontaneous_units",
                   "fasciculations_per_min", *(f"{k}_per_min" for k in schema.EVENT_KINDS))
TRUTH_FORMAT = "emgkit_truth"
TRUTH_VERSION = 1


def empty_tables() -> dict[str, pd.DataFrame]:
    return {
        "discharges": pd.DataFrame({c: [] for c in schema.DISCHARGE_COLUMNS}),
        "events": pd.DataFrame({c: [] for c in schema.EVENT_COLUMNS}),
        "segments": pd.DataFrame({c: [] for c in (*schema.SEGMENT_COLUMNS, *SEGMENT_EXTRA)}),
        "summary": pd.DataFrame({c: [] for c in SUMMARY_COLUMNS}),
        "units": pd.DataFrame({c: [] for c in UNIT_COLUMNS}),
    }


@dataclass
class Truth:
    """Ground truth of one simulated (or injected) recording.

    Attributes: the five tables (pandas DataFrames), ``fs`` (Hz), ``electrode`` (simulator electrode
    name), ``scenario`` (name, or mapping muscle → name), ``seed``, ``params`` (every resolved
    parameter, per muscle), ``duration`` (s).
    """

    discharges: pd.DataFrame
    events: pd.DataFrame
    segments: pd.DataFrame
    summary: pd.DataFrame
    units: pd.DataFrame
    fs: float
    electrode: str
    scenario: object
    seed: int | None
    params: dict = field(default_factory=dict)
    duration: float = 0.0

    def __repr__(self) -> str:
        kinds = self.events["kind"].value_counts().to_dict() if len(self.events) else {}
        return (f"<Truth {self.scenario!r} {self.electrode} seed={self.seed}: {len(self.discharges)} discharges, "
                f"{len(self.events)} events {kinds}, {len(self.segments)} segments, {self.duration:g} s>")

    def tables(self) -> dict[str, pd.DataFrame]:
        return {name: getattr(self, name) for name in TABLES}

    def attributes(self) -> dict:
        return {"format": TRUTH_FORMAT, "version": TRUTH_VERSION, "fs": self.fs, "electrode": self.electrode,
                "scenario": self.scenario, "seed": self.seed, "duration": self.duration, "params": self.params}

    def save(self, path) -> Path:
        """Write the truth: ``.json`` = one JSON file; ``.h5``/``.hdf5`` = tables added to that emgkit HDF5 file."""
        path = Path(path)
        if path.suffix.lower() in (".h5", ".hdf5"):
            _save_into_h5(self, path)
            return path
        payload = {**self.attributes(), "tables": {name: _frame_to_json(df) for name, df in self.tables().items()}}
        try:
            text = json.dumps(payload, default=json_default_or_str, separators=(",", ":"), sort_keys=False)
            path.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise file_error(path, f"cannot write the truth ({exc.strerror})", cls=ResultFileError) from None
        return path


def _frame_to_json(df: pd.DataFrame) -> dict:
    kinds = {}
    data = {}
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_bool_dtype(s):
            kinds[col] = "bool"
            data[col] = [bool(v) for v in s]
        elif pd.api.types.is_integer_dtype(s):
            kinds[col] = "int"
            data[col] = [int(v) for v in s]
        elif pd.api.types.is_float_dtype(s):
            kinds[col] = "float"
            data[col] = [float(v) for v in s]
        else:
            kinds[col] = "str"
            data[col] = ["" if v is None else str(v) for v in s]
    return {"columns": list(map(str, df.columns)), "kinds": kinds, "data": data}


def _frame_from_json(obj: dict) -> pd.DataFrame:
    dtypes = {"int": "int64", "float": "float64", "bool": "bool", "str": object}
    cols = obj["columns"]
    return pd.DataFrame({c: pd.Series(obj["data"][c], dtype=dtypes[obj["kinds"][c]]) for c in cols}, columns=cols)


def _save_into_h5(truth: Truth, path: Path) -> None:
    """Add the truth to an existing emgkit HDF5 recording (tables ``truth_<name>`` + attribute ``truth``)."""
    import h5py

    from ..io.emgkit_h5 import _write_table  # the writer's own table layout

    if not path.exists():
        raise file_error(path, "file not found; write the recording first (emgkit.simulate.save does both)",
                         cls=EmgkitFileNotFoundError)
    with h5py.File(path, "a", track_order=True) as f:
        tg = f.require_group("tables")
        for name, df in truth.tables().items():
            if f"truth_{name}" in tg:
                del tg[f"truth_{name}"]
            _write_table(tg, f"truth_{name}", df)
        f.attrs["truth"] = json.dumps(truth.attributes(), default=json_default_or_str)


def truth_path_for(recording_path) -> Path:
    """Where the truth of a recording saved as ``recording_path`` lives (``<stem>.truth.json`` or the .h5 itself)."""
    p = Path(recording_path)
    if p.suffix.lower() in (".h5", ".hdf5"):
        return p
    return p.with_name(p.stem + ".truth.json")


def load_truth(path) -> Truth:
    """Read a truth written by :meth:`Truth.save` or :func:`emgkit.simulate.save`.

    ``path`` may be the truth JSON, an emgkit HDF5 recording holding the truth, or a recording
    file (``.hea``/``.edf``) with ``<stem>.truth.json`` beside it.
    """
    path = Path(path)
    if path.suffix.lower() not in (".json", ".h5", ".hdf5"):
        path = truth_path_for(path)
    if not path.exists():
        raise file_error(path, "truth file not found",
                         "simulated recordings keep their truth in <stem>.truth.json or inside the .h5",
                         cls=EmgkitFileNotFoundError)
    if path.suffix.lower() in (".h5", ".hdf5"):
        return _load_from_h5(path)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        if payload.get("format") != TRUTH_FORMAT:
            raise file_error(path, f"not an emgkit truth file (format {payload.get('format')!r})")
        tables = {name: _frame_from_json(payload["tables"][name]) for name in TABLES}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, FileFormatError):
            raise
        raise file_error(path, f"unreadable truth file ({type(exc).__name__}: {exc})") from None
    return Truth(**tables, fs=float(payload["fs"]), electrode=payload["electrode"], scenario=payload["scenario"],
                 seed=payload["seed"], params=payload["params"], duration=float(payload["duration"]))


def _load_from_h5(path: Path) -> Truth:
    import h5py

    from ..io.emgkit_h5 import read_tables

    with h5py.File(path, "r") as f:
        text = f.attrs.get("truth")
    if text is None:
        raise file_error(path, "holds no simulation truth (no 'truth' attribute)",
                         "only files written by emgkit.simulate.save carry one")
    attrs = json.loads(text)
    stored = read_tables(path)
    tables = {}
    for name in TABLES:
        df = stored.get(f"truth_{name}")
        if df is None:
            raise file_error(path, f"truth table {name!r} is missing")
        tables[name] = df.astype({c: object for c in df.columns if df[c].dtype.kind in "OUT" or str(df[c].dtype) == "str"})
    return Truth(**tables, fs=float(attrs["fs"]), electrode=attrs["electrode"], scenario=attrs["scenario"],
                 seed=attrs["seed"], params=attrs["params"], duration=float(attrs["duration"]))
