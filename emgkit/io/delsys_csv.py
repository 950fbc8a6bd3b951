"""Delsys EMGworks / Trigno Discover CSV export (formats.md §3.13).

Layout: one ``Label: <sensor>: <signal> Sampling frequency: <Hz> Number of
points: <N> start: <s> Unit: <unit> Domain Unit: s`` line per channel, trigger
lines, a blank line, then a column header of pairs ``X[s],"<label>"`` (every
channel has its own time column because sensors run at different rates) and
rows in which slower channels leave empty cells once they run out.

The recording holds the channels at one rate: by default the EMG rate (the
highest rate among EMG channels); ``rate=`` picks another group (e.g. the IMU
at 148.1 Hz, as auxiliary channels). Channels at other rates are not resampled:
they are listed in ``rec.meta["channels_at_other_rates"]``. EMG is scaled from
the file's unit (V) to µV; auxiliary channels keep their unit (g, °/s, ...).
The sensor part of a label becomes the muscle unless it is a default Delsys
sensor name ("Mini sensor 10", "Avanti sensor 3", ...). Trigno sensors are
bipolar surface electrodes. The whole table is parsed into memory once.
"""
from __future__ import annotations

import logging
import os
import re

import numpy as np

from ..errors import ParameterError, file_error
from ..recording import ArraySource, Electrode, Recording

log = logging.getLogger("emgkit")

_LABEL_LINE = re.compile(
    r"^Label:\s*(?P<label>.*?)\s+Sampling frequency:\s*(?P<fs>\S+)"
    r"(?:\s+Number of points:\s*(?P<n>\S+))?(?:\s+start:\s*(?P<start>\S+))?"
    r"(?:\s+Unit:\s*(?P<unit>.*?))?(?:\s+Domain Unit:\s*(?P<domain>\S+))?\s*$"
)
_TIME_HEADER = re.compile(r"^\s*\"?X\s*\[\s*s\s*\]\"?\s*,")
#: Sensor names Delsys software assigns by default (they say nothing about the muscle).
_DEFAULT_SENSOR = re.compile(r"(?i)^\s*(?:(?:trigno|avanti|mini|duo|quattro|galileo|maize|legacy|analog)\s*)*"
                             r"(?:sensor|adapter|input)\s*\d*\s*(?:\(\d+\))?\s*$")
_UNIT_TO_UV = {"V": 1e6, "mV": 1e3, "uV": 1.0, "µV": 1.0}
_AUX_TYPES = (("ACC", "acc"), ("GYRO", "gyro"), ("MAG", "mag"), ("FORCE", "force"), ("TRIG", "trigger"))
#: Rates within this relative distance are the same rate (headers print 7 digits).
_RATE_RTOL = 1e-4
_SNIFF_BYTES = 4096


def sniff(path) -> bool:
    """True when the file starts like a Delsys CSV export (a ``Label: ... Sampling frequency:`` line)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_SNIFF_BYTES).decode("utf-8", "replace").lstrip("\ufeff")
    except OSError:
        return False
    first = head.splitlines()[0] if head else ""
    return first.startswith("Label:") and "Sampling frequency:" in first


def _channel_type(signal: str) -> str:
    upper = signal.upper()
    if "EMG" in upper:
        return "emg"
    for key, kind in _AUX_TYPES:
        if key in upper:
            return kind
    return "misc"


def _parse_header(path):
    channels, extra, n_lines = [], {}, 0
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for line in fh:
            n_lines += 1
            text = line.rstrip("\r\n")
            if text.startswith("Label:"):
                m = _LABEL_LINE.match(text)
                if not m:
                    raise file_error(path, f"line {n_lines}: cannot read the channel description {text[:80]!r}")
                try:
                    fs = float(m.group("fs"))
                except ValueError:
                    raise file_error(path, f"line {n_lines}: sampling frequency {m.group('fs')!r} is not a number") from None
                channels.append({
                    "label": m.group("label").strip(), "fs": fs,
                    "n_points": int(float(m.group("n"))) if m.group("n") else None,
                    "start": float(m.group("start")) if m.group("start") else 0.0,
                    "unit": (m.group("unit") or "").strip(),
                })
            elif _TIME_HEADER.match(text):
                return channels, extra, n_lines, text
            elif ":" in text:
                key, _, value = text.partition(":")
                extra[key.strip()] = value.strip()
    raise file_error(path, "no column header line (X[s],\"<label>\",...) after the channel descriptions",
                     "the export is incomplete or not a Delsys CSV")


def read(path, *, rate: float | None = None) -> Recording:
    """Read a Delsys CSV export; ``rate=`` (Hz) picks the channel group at that rate (default: the EMG rate)."""
    import pandas as pd

    path = os.fspath(path)
    if os.path.getsize(path) == 0:
        raise file_error(path, "is empty (0 bytes)")
    channels, extra, header_line, column_header = _parse_header(path)
    if not channels:
        raise file_error(path, "has no 'Label: ... Sampling frequency: ...' channel descriptions")
    columns = next(iter(pd.read_csv(pd.io.common.StringIO(column_header), header=None).itertuples(index=False)))
    columns = [str(c) for c in columns]
    if len(columns) != 2 * len(channels):
        raise file_error(path, f"the column header has {len(columns)} columns; {len(channels)} channels need "
                               f"{2 * len(channels)} (time, value pairs)")
    for k, ch in enumerate(channels):
        if columns[2 * k + 1].strip() != ch["label"]:
            raise file_error(path, f"column {2 * k + 2} is {columns[2 * k + 1]!r} but channel {k + 1} "
                                   f"is labelled {ch['label']!r}")
    try:
        table = pd.read_csv(path, header=None, skiprows=header_line, dtype=np.float64, encoding="utf-8-sig",
                            skip_blank_lines=True, engine="c")
    except pd.errors.EmptyDataError:
        raise file_error(path, "has a column header but no data rows") from None
    except (ValueError, pd.errors.ParserError) as exc:
        raise file_error(path, f"data rows are not numeric or are ragged ({str(exc).splitlines()[0]})") from None
    data = table.to_numpy()
    if data.shape[1] == len(columns) + 1 and np.isnan(data[:, -1]).all():
        data = data[:, :-1]  # rows end with a comma
    if data.shape[1] != len(columns):
        raise file_error(path, f"data rows have {data.shape[1]} fields; the column header has {len(columns)}")
    if data.shape[0] == 0:
        raise file_error(path, "has a column header but no data rows")

    for k, ch in enumerate(channels):
        values = data[:, 2 * k + 1]
        finite = np.flatnonzero(np.isfinite(data[:, 2 * k]))
        ch["n"] = int(finite[-1]) + 1 if finite.size else 0
        ch["type"] = _channel_type(ch["label"].rsplit(":", 1)[-1])
        ch["values"] = values

    if rate is None:
        emg_rates = [ch["fs"] for ch in channels if ch["type"] == "emg"]
        target = max(emg_rates) if emg_rates else max(ch["fs"] for ch in channels)
    else:
        target = float(rate)
    chosen = [ch for ch in channels if abs(ch["fs"] - target) <= _RATE_RTOL * target]
    rates = sorted({round(ch["fs"], 3) for ch in channels})
    if not chosen:
        raise file_error(path, f"no channel runs at rate={rate} Hz; the file's rates are "
                               f"{', '.join(f'{r:g}' for r in rates)} Hz", cls=ParameterError)
    others = {}
    for ch in channels:
        if ch not in chosen:
            others.setdefault(f"{ch['fs']:.6g} Hz", []).append(ch["label"])
    if others:
        emg_left_out = [ch["label"] for ch in channels if ch not in chosen and ch["type"] == "emg"]
        level = logging.WARNING if emg_left_out and rate is None else logging.INFO
        log.log(level, "%s: channels at other rates not loaded (no resampling; pick them with rate=): %s",
                path, others)

    n = max(ch["n"] for ch in chosen)
    signals = [ch["label"].rsplit(":", 1)[-1].strip() for ch in chosen]
    names = signals if len(set(signals)) == len(signals) else [ch["label"] for ch in chosen]
    samples = np.full((len(chosen), n), np.nan)
    units, types, muscles, electrodes, sensors = [], [], [], [], {}
    for i, ch in enumerate(chosen):
        values = ch["values"][:ch["n"]]
        sensor = ch["label"].rsplit(":", 1)[0].strip() if ":" in ch["label"] else ""
        sensors[names[i]] = sensor
        if ch["type"] == "emg":
            if ch["unit"] not in _UNIT_TO_UV:
                raise file_error(path, f"EMG channel {ch['label']!r} has unit {ch['unit']!r}; expected V or mV")
            samples[i, :ch["n"]] = values * _UNIT_TO_UV[ch["unit"]]
            units.append("uV")
            electrodes.append(Electrode("surface_bipolar"))
        else:
            samples[i, :ch["n"]] = values
            units.append(ch["unit"])
            electrodes.append(Electrode())
        types.append(ch["type"])
        muscles.append(sensor if sensor and not _DEFAULT_SENSOR.match(sensor) else None)
        if ch["n_points"] is not None and ch["n_points"] != ch["n"]:
            log.info("%s: %s holds %d samples; its header says %d (truncated export?)",
                     path, ch["label"], ch["n"], ch["n_points"])

    meta = {
        "device": "Delsys",
        "sensors": sensors,
        "start_time_s": chosen[0]["start"],
        "n_points_in_header": {names[i]: ch["n_points"] for i, ch in enumerate(chosen)},
        "rates_in_file_hz": rates,
    }
    if others:
        meta["channels_at_other_rates"] = others
    meta.update({k: v for k, v in extra.items() if k in ("Start Trigger Method", "Stop Trigger Method")})
    return Recording(ArraySource(samples), chosen[0]["fs"], names, n, muscles=muscles, electrodes=electrodes,
                     channel_types=types, units=units, meta=meta, path=path, format="delsys_csv")


__all__ = ["read", "sniff"]
