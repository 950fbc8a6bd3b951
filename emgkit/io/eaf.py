"""EMGlab annotation files (``.eaf``): motor-unit firing times and MUAP templates.

An ``.eaf`` is XML (namespace ``http://ece.wpi.edu/~ted``) whose firing list is a
whitespace text body, one firing per line (``time_s unit chan``, column order
declared in ``<emglab_spike_header>``), followed by ``<emglab_freeform>`` holding
MATLAB variables serialised as XML: a struct array (``<template>`` in EMGLAB
R001 files, ``<var1>`` in N2001 ones) with one ``<I1>``, ``<I2>``... per unit,
each with ``chan``, ``unit``, ``data`` (adu), ``index``, ``rate``, ``gain`` and
``units``. See ``shared/docs/formats.md`` §3.2.

Units and channels are 1-based, as in the file.
"""
from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import EmgkitFileNotFoundError, file_error

log = logging.getLogger("emgkit")

#: Column order when a file has no ``<emglab_spike_header>`` (EMGlab's own order).
DEFAULT_COLUMNS = ("time", "unit", "chan")
#: Template amplitude units → factor to µV.
_TO_UV = {"v": 1e6, "mv": 1e3, "uv": 1.0, "µv": 1.0, "μv": 1.0, "nv": 1e-3}
MAX_EAF_BYTES = 512 * 2**20

_COMMENT_RE = re.compile(r"<!--.*?-->", re.S)
_STRUCT_RE = re.compile(r"<(\w+)\s+class=\"struct\"[^>]*>(.*?)</\1\s*>", re.S)
_ITEM_RE = re.compile(r"<I(\d+)\s*>(.*?)</I\1\s*>", re.S)
_FIELD_RE = re.compile(r"<(\w+)\s+class=\"(\w+)\"\s+size=\"([^\"]*)\"\s*>(.*?)</\1\s*>", re.S)


@dataclass
class Template:
    """One unit's MUAP template: ``data_uv`` in µV sampled at ``rate`` Hz, aligned at sample ``index``."""

    data_uv: np.ndarray
    index: int
    rate: float
    channel: int


@dataclass
class Annotations:
    """Firings and templates from an EMGlab annotation file.

    firings : DataFrame with columns ``time`` (s), ``unit`` (1-based), ``channel`` (1-based), sorted by time.
    templates : dict unit → :class:`Template`.
    """

    firings: pd.DataFrame
    templates: dict = field(default_factory=dict)
    path: str | None = None
    meta: dict = field(default_factory=dict)

    @property
    def units(self) -> list[int]:
        return sorted(int(u) for u in self.firings["unit"].unique())

    def times(self, unit: int) -> np.ndarray:
        """Firing times (s) of one unit."""
        return self.firings.loc[self.firings["unit"] == unit, "time"].to_numpy()

    def peak_offsets(self) -> dict:
        """Per unit with a template: seconds from its firing time (the template's alignment sample
        ``index``) to the template's largest |value|. EMGlab times a firing at the sample the
        expert aligned the template on, usually but not always the MUAP's peak."""
        return {int(u): (int(np.argmax(np.abs(t.data_uv))) - t.index) / t.rate
                for u, t in self.templates.items() if np.size(t.data_uv)}

    def firings_at_peaks(self) -> pd.DataFrame:
        """``firings`` with each time moved to its unit's MUAP peak (:meth:`peak_offsets`; units without
        a template keep their time): the convention of emgkit's discharge times, so the two compare."""
        offsets = self.peak_offsets()
        out = self.firings.copy()
        out["time"] = out["time"] + out["unit"].map(lambda u: offsets.get(int(u), 0.0)).astype(float)
        return out.sort_values("time", kind="stable").reset_index(drop=True)


def _section(text: str, tag: str) -> str | None:
    m = re.search(rf"<{tag}\b[^>]*>(.*?)</{tag}\s*>", text, re.S)
    return m.group(1) if m else None


def _integer(path, value: float, what: str, line_no: int) -> int:
    if not math.isfinite(value) or value != int(value) or value < 1:
        raise file_error(path, f"firing line {line_no}: {what} {value!r} is not a positive integer")
    return int(value)


def _parse_firings(path, text: str) -> tuple[pd.DataFrame, tuple[str, ...]]:
    header = _section(text, "emglab_spike_header")
    if header is None:
        columns = DEFAULT_COLUMNS
        log.warning("%s: no <emglab_spike_header>; assuming columns %s", path, " ".join(columns))
    else:
        columns = tuple(re.findall(r"<(\w+)\s*/?>", _COMMENT_RE.sub("", header)))
        columns = tuple(dict.fromkeys(columns))  # <time></time> names each column once
    if "time" not in columns or "unit" not in columns:
        raise file_error(path, f"<emglab_spike_header> declares columns {list(columns)}; "
                               "an EMGlab firing list needs at least 'time' and 'unit'")
    body = _section(text, "emglab_spike_events")
    if body is None:
        raise file_error(path, "no <emglab_spike_events> section", "is this an EMGlab annotation file?")
    body = _COMMENT_RE.sub("", body)
    ti, ui = columns.index("time"), columns.index("unit")
    ci = columns.index("chan") if "chan" in columns else None
    times, units, chans = [], [], []
    for line_no, line in enumerate(body.splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != len(columns):
            raise file_error(path, f"firing line {line_no} ({line.strip()[:60]!r}) has {len(tokens)} values; "
                                   f"the header declares {len(columns)} ({' '.join(columns)})")
        try:
            values = [float(t) for t in tokens]
        except ValueError:
            raise file_error(path, f"firing line {line_no} ({line.strip()[:60]!r}) is not numeric") from None
        t = values[ti]
        if not (math.isfinite(t) and t >= 0):
            raise file_error(path, f"firing line {line_no}: time {tokens[ti]!r} is not a time >= 0 s")
        times.append(t)
        units.append(_integer(path, values[ui], "unit", line_no))
        chans.append(_integer(path, values[ci], "channel", line_no) if ci is not None else 1)
    firings = pd.DataFrame({"time": np.asarray(times, dtype=np.float64),
                            "unit": np.asarray(units, dtype=np.int64),
                            "channel": np.asarray(chans, dtype=np.int64)})
    firings = firings.sort_values("time", kind="mergesort").reset_index(drop=True)
    return firings, columns


def _field_value(path, cls: str, size: str, body: str, name: str):
    if cls == "char":
        return body.strip()
    try:
        shape = [int(s) for s in size.split()]
        values = np.array(body.split(), dtype=np.float64) if body.strip() else np.zeros(0)
    except ValueError:
        raise file_error(path, f"template field {name!r} is not numeric") from None
    if values.size != int(np.prod(shape)):
        raise file_error(path, f"template field {name!r} declares size {size!r} but holds {values.size} values")
    return values


def _parse_templates(path, text: str) -> dict:
    freeform = _section(text, "emglab_freeform")
    if freeform is None:
        return {}
    templates: dict = {}
    for struct in _STRUCT_RE.finditer(freeform):
        for item in _ITEM_RE.finditer(struct.group(2)):
            fields = {m.group(1): _field_value(path, m.group(2), m.group(3), m.group(4), m.group(1))
                      for m in _FIELD_RE.finditer(item.group(2))}
            if "data" not in fields:
                continue  # another MATLAB variable, not a template
            missing = [k for k in ("unit", "rate") if k not in fields or np.size(fields[k]) != 1]
            if missing:
                raise file_error(path, f"template {struct.group(1)}({item.group(1)}) lacks scalar "
                                       f"{', '.join(missing)}")
            gain = float(fields["gain"][0]) if "gain" in fields and np.size(fields["gain"]) == 1 else 1.0
            units = fields.get("units", "")
            scale = _TO_UV.get(str(units).strip().lower())
            if scale is None:
                raise file_error(path, f"template {struct.group(1)}({item.group(1)}) has units {units!r}; "
                                       "expected V, mV, uV or nV")
            if gain == 0 or not math.isfinite(gain):
                raise file_error(path, f"template {struct.group(1)}({item.group(1)}) has gain {gain}")
            unit = int(fields["unit"][0])
            index = int(fields["index"][0]) if "index" in fields and np.size(fields["index"]) == 1 else 0
            chan = int(fields["chan"][0]) if "chan" in fields and np.size(fields["chan"]) == 1 else 1
            templates[unit] = Template(fields["data"] / gain * scale, index, float(fields["rate"][0]), chan)
    return templates


def read_annotations(path) -> Annotations:
    """Read an EMGlab ``.eaf`` annotation file: firings (time, unit, channel) and MUAP templates (µV)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise file_error(path, "annotation file not found", cls=EmgkitFileNotFoundError)
    if os.path.getsize(path) > MAX_EAF_BYTES:
        raise file_error(path, f"file is {os.path.getsize(path)} bytes, too large for an EMGlab annotation file")
    with open(path, "rb") as f:
        raw = f.read()
    if b"\x00" in raw:
        raise file_error(path, "binary content; not an EMGlab annotation file (.eaf is XML text)")
    text = raw.decode("utf-8", errors="replace")
    if "<emglab_annotation_file" not in text:
        raise file_error(path, "no <emglab_annotation_file> element; not an EMGlab annotation file")
    firings, columns = _parse_firings(path, text)
    templates = _parse_templates(path, text)
    version = _section(text, "emglab_version")
    meta = {"version": version.strip() if version else None, "columns": list(columns),
            "n_firings": len(firings), "n_units": int(firings["unit"].nunique())}
    return Annotations(firings, templates, path, meta)
