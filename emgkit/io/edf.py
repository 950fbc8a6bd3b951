"""EDF / EDF+ / BDF recordings via MNE, with BIDS-EMG sidecars, and an EDF/BDF writer.

Reading: emgkit parses the fixed-width header itself (formats.md §3.15) to validate it
(garbage header -> FileFormatError, fewer data records than the header promises ->
TruncatedFileError; MNE would only warn) and to keep header facts (patient, recording,
transducer, prefiltering) in ``rec.meta``; samples come lazily from MNE
(``read_raw_edf``/``read_raw_bdf`` with ``preload=False``; ``raw.get_data(picks, start, stop)``
reads only the data records a slice touches).

Channel types, muscles and electrodes, in order of precedence:

- BIDS-EMG (BEP042) sidecars next to ``*_emg.edf|bdf``: ``*_channels.tsv`` (also the older
  ``*_emg_channels.tsv``; columns ``name``, ``type`` EMG/MISC/TRIG/..., ``units``,
  ``target_muscle`` or ``muscle``, ``signal_electrode``), ``*_electrodes.tsv`` (``name``, ``x``,
  ``y``, ``z``, ``coordinate_system`` = grid model, ``group``, ``type``), ``*_coordsystem.json``
  (``EMGCoordinateUnits``), ``*_emg.json`` (``TargetMuscle``, ``EMGPlacementScheme``). Sidecars
  apply when their entities are a subset of the recording's (BIDS inheritance within the folder).
- the transducer field: ``muscle=<name>; electrode=<kind>`` (what :func:`write_edf` writes), or
  free text such as "concentric needle";
- else the label: a label/transducer naming force, torque, acceleration, a trigger ... is an
  auxiliary channel, a channel whose physical dimension is not a voltage is ``misc``, the rest is
  EMG with its label as muscle.

Channels at a sampling rate other than the most common rate among the EMG channels are left
out (named in ``meta["channels_not_read"]``); nothing is resampled. Pass ``channels=`` to choose.
"""
from __future__ import annotations

import csv
import json
import logging
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..errors import ParameterError, TruncatedFileError, file_error
from ..recording import Electrode, Recording, electrode_from_text

logger = logging.getLogger("emgkit")

#: Physical dimensions that are voltages, with their factor to µV.
VOLT_UNITS_TO_UV = {"uv": 1.0, "µv": 1.0, "μv": 1.0, "mv": 1e3, "v": 1e6, "nv": 1e-3}
#: BIDS channels.tsv ``type`` -> emgkit channel type.
BIDS_TYPES = {"EMG": "emg", "MISC": "misc", "TRIG": "trigger", "TRIGGER": "trigger", "ACCEL": "acc",
              "ACC": "acc", "GYRO": "gyro", "MAGN": "mag", "FORCE": "force", "TORQUE": "torque",
              "SYSCLOCK": "misc", "REF": "misc", "ECG": "misc", "EOG": "misc", "HEOG": "misc",
              "VEOG": "misc", "LATENCY": "misc", "EEG": "misc", "RESP": "misc", "TEMP": "misc"}
#: Coordinate units -> mm.
COORD_UNITS_TO_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0}

_AUX_PATTERNS = (
    ("force", re.compile(r"force|load ?cell|dynamometer|%\(?mvc", re.I)),
    ("torque", re.compile(r"torque|moment", re.I)),
    ("acc", re.compile(r"(?<![a-z])acc(el)?|accelero", re.I)),
    ("gyro", re.compile(r"gyro", re.I)),
    ("mag", re.compile(r"(?<![a-z])mag(n|netometer)?(?![a-z])", re.I)),
    ("trigger", re.compile(r"trig|(?<![a-z])stim|marker|(?<![a-z])status(?![a-z])|(?<![a-z])sync|"
                           r"(?<![a-z])event", re.I)),
    ("misc", re.compile(r"annotation|quaternion|(?<![a-z])(ecg|ekg|resp|temp|battery|counter)(?![a-z])|"
                        r"(?<![a-z])aux", re.I)),
)


def aux_type_from_text(text: str | None) -> str | None:
    """The auxiliary channel type a label/transducer names (force, torque, acc, trigger ...), or None."""
    for ctype, pattern in _AUX_PATTERNS:
        if pattern.search(text or ""):
            return ctype
    return None


# --------------------------------------------------------------------------- header


@dataclass
class EdfHeader:
    """The fixed-width EDF/BDF header, one list entry per signal."""

    bdf: bool
    patient: str
    recording: str
    startdate: str
    starttime: str
    header_bytes: int
    reserved: str
    n_records: int
    record_duration: float
    labels: list[str]
    transducers: list[str]
    units: list[str]
    physical_min: np.ndarray
    physical_max: np.ndarray
    digital_min: np.ndarray
    digital_max: np.ndarray
    prefilters: list[str]
    samples_per_record: np.ndarray
    notes: list[str] = field(default_factory=list)

    @property
    def sample_bytes(self) -> int:
        return 3 if self.bdf else 2

    @property
    def record_bytes(self) -> int:
        return int(self.samples_per_record.sum()) * self.sample_bytes

    @property
    def rates(self) -> np.ndarray:
        return self.samples_per_record / self.record_duration

    def is_annotation(self, i: int) -> bool:
        return self.labels[i].strip() in ("EDF Annotations", "BDF Annotations")


def _ascii(raw: bytes) -> str:
    return raw.decode("latin-1").strip()


def read_header(path) -> EdfHeader:
    """Parse and check an EDF/BDF header; raise FileFormatError / TruncatedFileError naming the file."""
    path = os.fspath(path)
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(256)
        if len(head) < 256:
            raise file_error(path, f"holds {size} bytes, fewer than the 256-byte EDF/BDF header",
                             "the file is empty or truncated", cls=TruncatedFileError)
        bdf = head[:8] == b"\xffBIOSEMI"
        if not bdf and head[:8] != b"0       ":
            raise file_error(path, f"does not start with an EDF ('0       ') or BDF ('\\xffBIOSEMI') "
                                   f"version field (found {head[:8]!r})", "is it really an EDF/BDF file?")

        def number(raw: bytes, what: str, kind=float):
            text = _ascii(raw)
            try:
                value = kind(float(text)) if kind is int else float(text)
            except ValueError:
                raise file_error(path, f"header field '{what}' is not a number ({text!r})") from None
            return value

        header_bytes = number(head[184:192], "number of bytes in header", int)
        n_records = number(head[236:244], "number of data records", int)
        record_duration = number(head[244:252], "duration of a data record", float)
        ns = number(head[252:256], "number of signals", int)
        if ns <= 0:
            raise file_error(path, f"header says {ns} signals")
        if header_bytes != 256 * (ns + 1):
            raise file_error(path, f"header size field says {header_bytes} bytes but {ns} signals need "
                                   f"{256 * (ns + 1)}")
        rest = fh.read(256 * ns)
        if len(rest) < 256 * ns:
            raise file_error(path, f"header is cut short ({256 + len(rest)} of {header_bytes} bytes)",
                             cls=TruncatedFileError)

    offsets = {}
    pos = 0
    for name, width in (("label", 16), ("transducer", 80), ("unit", 8), ("pmin", 8), ("pmax", 8),
                        ("dmin", 8), ("dmax", 8), ("prefilter", 80), ("spr", 8), ("reserved", 32)):
        offsets[name] = [rest[pos + i * width: pos + (i + 1) * width] for i in range(ns)]
        pos += width * ns
    labels = [_ascii(b) for b in offsets["label"]]

    def column(name, what, kind=float):
        return np.array([number(b, f"{what} of signal {labels[i]!r}", kind) for i, b in enumerate(offsets[name])])

    hdr = EdfHeader(
        bdf=bdf, patient=_ascii(head[8:88]), recording=_ascii(head[88:168]), startdate=_ascii(head[168:176]),
        starttime=_ascii(head[176:184]), header_bytes=header_bytes, reserved=_ascii(head[192:236]),
        n_records=n_records, record_duration=record_duration, labels=labels,
        transducers=[_ascii(b) for b in offsets["transducer"]], units=[_ascii(b) for b in offsets["unit"]],
        physical_min=column("pmin", "physical minimum"), physical_max=column("pmax", "physical maximum"),
        digital_min=column("dmin", "digital minimum"), digital_max=column("dmax", "digital maximum"),
        prefilters=[_ascii(b) for b in offsets["prefilter"]], samples_per_record=column("spr", "samples per record", int),
    )
    if np.any(hdr.samples_per_record <= 0):
        raise file_error(path, "a signal has no samples per data record")
    bad = [labels[i] for i in range(ns) if hdr.digital_max[i] <= hdr.digital_min[i]]
    if bad:
        raise file_error(path, f"digital maximum <= digital minimum for signals {', '.join(bad)}")
    flat = [labels[i] for i in range(ns) if hdr.physical_max[i] == hdr.physical_min[i] and not hdr.is_annotation(i)]
    if flat:
        raise file_error(path, f"physical maximum equals physical minimum for signals {', '.join(flat)}")
    if record_duration < 0:
        raise file_error(path, f"negative data-record duration {record_duration}")
    data_bytes = size - header_bytes
    if n_records == -1:  # recording still in progress when written
        n_records = data_bytes // hdr.record_bytes
        hdr.n_records = n_records
        hdr.notes.append(f"header gave -1 data records; {n_records} complete records found from the file size")
    expected = header_bytes + n_records * hdr.record_bytes
    if size < expected:
        have = max(0, data_bytes) // hdr.record_bytes
        raise file_error(path, f"is truncated: the header promises {n_records} data records "
                               f"({expected} bytes) but the file holds {size} bytes ({have} complete records)",
                         "re-copy the file; a partial file cannot be trusted", cls=TruncatedFileError)
    if size > expected:
        hdr.notes.append(f"{size - expected} bytes after the last data record ignored")
    if record_duration == 0 and not all(hdr.is_annotation(i) for i in range(ns)):
        raise file_error(path, "data-record duration is 0 for a file with signals")
    return hdr


# --------------------------------------------------------------------------- BIDS sidecars


def _entities(filename: str) -> tuple[dict[str, str], str]:
    stem = os.path.basename(filename)
    parts = stem.split("_")
    ents = {}
    for p in parts[:-1]:
        if "-" in p:
            k, v = p.split("-", 1)
            ents[k] = v
    return ents, parts[-1]


def _sidecars(path: str, suffix: str) -> list[str]:
    """Sidecars ``*_<suffix>`` in the recording's folder whose entities (bar ``space``) it inherits."""
    folder = os.path.dirname(os.path.abspath(path))
    rec_ents, _ = _entities(path)
    found = []
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    for name in names:
        if not name.endswith("_" + suffix):
            continue
        ents, _ = _entities(name[: -len(suffix)] + "x")
        ents.pop("space", None)
        if ents and all(rec_ents.get(k) == v for k, v in ents.items()):
            found.append((len(ents), os.path.join(folder, name)))
    return [p for _, p in sorted(found, reverse=True)]


def _read_tsv(path: str) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    if rows and None in rows[0]:
        raise file_error(path, "a row has more fields than the header line")
    return [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in rows]


def _na(value) -> bool:
    return value is None or str(value).strip().lower() in ("", "n/a", "nan")


def _bids(path: str) -> dict:
    """Channel rows by name, electrode rows by name, coordinate units and emg.json, where present."""
    out: dict = {"channels": {}, "electrodes": {}, "coord_units": "mm", "emg_json": {}, "files": []}
    stem = os.path.basename(path)
    if not re.search(r"_emg\.(edf|bdf)$", stem, re.I) and not _sidecars(path, "channels.tsv"):
        return out
    channel_files = _sidecars(path, "channels.tsv")
    older = os.path.splitext(path)[0] + "_channels.tsv"  # *_emg_channels.tsv
    if os.path.exists(older):
        channel_files.insert(0, older)
    if channel_files:
        out["files"].append(channel_files[0])
        for row in _read_tsv(channel_files[0]):
            if "name" not in row:
                raise file_error(channel_files[0], "has no 'name' column (BIDS channels.tsv)")
            out["channels"][row["name"]] = row
    for ef in _sidecars(path, "electrodes.tsv"):
        out["files"].append(ef)
        for row in _read_tsv(ef):
            if "name" in row:
                out["electrodes"].setdefault(row["name"], row)
    for cf in _sidecars(path, "coordsystem.json"):
        try:
            with open(cf, encoding="utf-8") as fh:
                units = json.load(fh).get("EMGCoordinateUnits")
        except (OSError, json.JSONDecodeError) as exc:
            raise file_error(cf, f"is not valid JSON ({exc})") from None
        if units in COORD_UNITS_TO_MM:
            out["coord_units"] = units
            out["files"].append(cf)
            break
    for jf in _sidecars(path, "emg.json"):
        try:
            with open(jf, encoding="utf-8") as fh:
                out["emg_json"] = json.load(fh)
        except (OSError, json.JSONDecodeError) as exc:
            raise file_error(jf, f"is not valid JSON ({exc})") from None
        out["files"].append(jf)
        break
    return out


def _bids_electrodes(rows: dict[str, dict], units: str, path) -> dict[str, Electrode]:
    """Electrode per electrodes.tsv name; HD-grid row/col from the lattice of each grid."""
    to_mm = COORD_UNITS_TO_MM.get(units, 1.0)
    groups: dict[str, list[tuple[str, float, float]]] = {}
    kinds: dict[str, str] = {}
    for name, row in rows.items():
        try:
            x = float(row.get("x", "nan")) * to_mm
            y = float(row.get("y", "nan")) * to_mm
        except ValueError:
            raise file_error(path, f"electrode {name!r} has a non-numeric coordinate") from None
        grid = next((row[k] for k in ("coordinate_system", "group") if not _na(row.get(k))), "")
        groups.setdefault(grid, []).append((name, x, y))
        kinds[name] = row.get("type", "")
    out = {}
    for grid, members in groups.items():
        xs = np.array([m[1] for m in members])
        ys = np.array([m[2] for m in members])
        finite = np.isfinite(xs) & np.isfinite(ys)
        is_grid = len(members) >= 8 and finite.all()
        ied = None
        if is_grid:
            steps = np.concatenate([np.diff(np.unique(np.round(xs, 6))), np.diff(np.unique(np.round(ys, 6)))])
            steps = steps[steps > 0]
            ied = float(steps.min()) if steps.size else None
        for (name, x, y) in members:
            if is_grid:
                row_i = int(round((y - ys.min()) / ied)) if ied else None
                col_i = int(round((x - xs.min()) / ied)) if ied else None
                out[name] = Electrode("hd_grid", grid=grid or None, row=row_i, col=col_i, x_mm=x, y_mm=y, ied_mm=ied)
            else:
                base = electrode_from_text(kinds.get(name))
                out[name] = Electrode(base.kind, grid=grid or None,
                                      x_mm=x if np.isfinite(x) else None, y_mm=y if np.isfinite(y) else None)
    return out


# --------------------------------------------------------------------------- reading


class _EdfSource:
    def __init__(self, raw, scale: np.ndarray):
        self.raw = raw
        self.scale = scale

    def read(self, start, stop, channel_indices):
        picks = np.asarray(channel_indices)
        order = np.argsort(picks, kind="stable")
        data = self.raw.get_data(picks=picks[order].tolist(), start=start, stop=stop)
        out = np.empty_like(data)
        out[order] = data
        return out * self.scale[picks][:, None]


_TRANSDUCER_TOKEN = re.compile(r"(muscle|electrode)\s*=\s*([^;]*)", re.I)


def _tokens(text: str) -> dict[str, str]:
    return {k.lower(): v.strip() for k, v in _TRANSDUCER_TOKEN.findall(text or "")}


def read(path, *, channels=None) -> Recording:
    """Read an EDF/EDF+/BDF file (lazily, via MNE) with BIDS-EMG sidecars when present.

    Parameters
    ----------
    channels : list of str, optional
        Labels of the signals to read (default: all at the EMG channels' sampling rate).
    """
    import mne

    path = os.fspath(path)
    hdr = read_header(path)
    signals = [i for i in range(len(hdr.labels)) if not hdr.is_annotation(i)]
    if not signals:
        raise file_error(path, "holds only annotation signals, no samples")
    if channels is not None:
        if isinstance(channels, str):
            channels = [channels]
        unknown = [c for c in channels if c not in [hdr.labels[i] for i in signals]]
        if unknown:
            raise ParameterError(f"channels= names signals not in {path}: {', '.join(unknown)}; "
                                 f"signals are {', '.join(hdr.labels[i] for i in signals)}")
        signals = [i for i in signals if hdr.labels[i] in channels]
    bids = _bids(path)
    emg_json = bids["emg_json"]

    # Type, unit factor, muscle per signal.
    types, muscles = {}, {}
    for i in signals:
        label, unit = hdr.labels[i], hdr.units[i]
        row = bids["channels"].get(label)
        tokens = _tokens(hdr.transducers[i])
        if row is not None and not _na(row.get("type")):
            ctype = BIDS_TYPES.get(row["type"].upper(), "misc")
        else:
            ctype = aux_type_from_text(label) or aux_type_from_text(hdr.transducers[i]) or "emg"
        if ctype == "emg" and unit.lower() not in VOLT_UNITS_TO_UV:
            # An EMG channel is a voltage; anything else cannot pose as EMG.
            ctype = "misc"
        types[i] = ctype
        muscle = None
        if row is not None:
            muscle = next((row[k] for k in ("target_muscle", "muscle", "TargetMuscle") if not _na(row.get(k))), None)
        if muscle is None and isinstance(emg_json.get("TargetMuscle"), str) and ctype == "emg":
            muscle = emg_json["TargetMuscle"]
        muscles[i] = muscle or tokens.get("muscle") or label

    # One sampling rate: the most common among EMG channels (else among all).
    rates = hdr.rates
    pool = [i for i in signals if types[i] == "emg"] or signals
    values, counts = np.unique(rates[pool], return_counts=True)
    fs = float(values[np.argmax(counts)])
    kept = [i for i in signals if rates[i] == fs]
    not_read = [f"{hdr.labels[i]} ({rates[i]:g} Hz)" for i in signals if rates[i] != fs]
    if not_read:
        logger.warning("%s: %d signals at other rates than %g Hz not read: %s", path, len(not_read), fs,
                       ", ".join(not_read))
    exclude = [hdr.labels[i] for i in range(len(hdr.labels)) if i not in kept and not hdr.is_annotation(i)]

    reader = mne.io.read_raw_bdf if hdr.bdf else mne.io.read_raw_edf
    try:
        raw = reader(path, preload=False, verbose="error", exclude=exclude, infer_types=False)
    except Exception as exc:  # MNE raises ValueError/RuntimeError/... on malformed files
        raise file_error(path, f"MNE cannot read it ({type(exc).__name__}: {exc})") from None
    if len(raw.ch_names) != len(kept) or abs(raw.info["sfreq"] - fs) > 1e-6 * fs:
        raise file_error(path, f"MNE returned {len(raw.ch_names)} channels at {raw.info['sfreq']} Hz; "
                               f"expected {len(kept)} at {fs} Hz", "pass channels= to choose signals")

    # MNE returns voltages in V (for uV/mV/V dimensions) and other units as in the file.
    scale = np.empty(len(kept))
    units_out = []
    for j, i in enumerate(kept):
        unit = hdr.units[i]
        volts = unit.lower() in VOLT_UNITS_TO_UV
        if types[i] == "emg":
            scale[j] = 1e6 if volts else 1.0
            units_out.append("uV")
        else:
            scale[j] = 1.0 / (VOLT_UNITS_TO_UV[unit.lower()] * 1e-6) if volts else 1.0
            units_out.append(unit)
    scale = _verify_scale(raw, hdr, kept, scale, path)

    # Electrodes.
    by_name = _bids_electrodes(bids["electrodes"], bids["coord_units"], path) if bids["electrodes"] else {}
    placement = str(emg_json.get("EMGPlacementScheme", "") or "")
    electrodes = []
    for i in kept:
        row = bids["channels"].get(hdr.labels[i], {})
        key = row.get("signal_electrode") if not _na(row.get("signal_electrode")) else hdr.labels[i]
        if key in by_name:
            electrodes.append(by_name[key])
            continue
        tokens = _tokens(hdr.transducers[i])
        kind = tokens.get("electrode")
        if kind:
            try:
                electrodes.append(Electrode(kind))
                continue
            except ParameterError:
                pass
        electrodes.append(electrode_from_text(hdr.transducers[i] + " " + placement))

    annotations = [{"onset": float(a["onset"]), "duration": float(a["duration"]), "description": str(a["description"])}
                   for a in raw.annotations]
    meta = {
        "patient": hdr.patient, "recording": hdr.recording, "startdate": hdr.startdate,
        "starttime": hdr.starttime, "edf_type": "BDF" if hdr.bdf else ("EDF+" if hdr.reserved.startswith("EDF+") else "EDF"),
        "edf_reserved": hdr.reserved, "n_records": hdr.n_records, "record_duration_s": hdr.record_duration,
        "transducer": {hdr.labels[i]: hdr.transducers[i] for i in kept},
        "prefiltering": {hdr.labels[i]: hdr.prefilters[i] for i in kept},
        "annotations": annotations,
    }
    if hdr.reserved.startswith("EDF+D") or hdr.reserved.startswith("BDF+D"):
        meta["discontinuous"] = True
        logger.warning("%s: EDF+D (discontinuous) file; samples are read back to back", path)
    if raw.info.get("meas_date") is not None:
        meta["meas_date"] = raw.info["meas_date"].isoformat()
    if not_read:
        meta["channels_not_read"] = not_read
    if hdr.notes:
        meta["header_notes"] = hdr.notes
    if bids["files"]:
        meta["bids_sidecars"] = bids["files"]
        for key in ("EMGPlacementScheme", "EMGReference", "EMGGround", "PowerLineFrequency", "TaskName"):
            if key in emg_json:
                meta[key] = emg_json[key]
    return Recording(_EdfSource(raw, scale), fs, [hdr.labels[i] for i in kept], raw.n_times,
                     muscles=[muscles[i] for i in kept], electrodes=electrodes,
                     channel_types=[types[i] for i in kept], units=units_out, meta=meta, path=path, format="edf",
                     files=bids["files"])


def _verify_scale(raw, hdr: EdfHeader, kept, scale, path) -> np.ndarray:
    """Check our unit factors against MNE's on the first record: physical values must match the header formula."""
    n = int(hdr.samples_per_record[kept[0]]) if kept else 0
    if n == 0 or raw.n_times == 0:
        return scale
    n = min(n, raw.n_times)
    mne_vals = raw.get_data(start=0, stop=n)
    # Physical values straight from the file's first record.
    ours = np.empty_like(mne_vals)
    with open(path, "rb") as fh:
        fh.seek(hdr.header_bytes)
        record = fh.read(hdr.record_bytes)
    offsets = np.concatenate([[0], np.cumsum(hdr.samples_per_record)]) * hdr.sample_bytes
    for j, i in enumerate(kept):
        chunk = record[offsets[i]: offsets[i] + n * hdr.sample_bytes]
        if hdr.bdf:
            b = np.frombuffer(chunk, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
            d = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
            d = np.where(d >= 1 << 23, d - (1 << 24), d)
        else:
            d = np.frombuffer(chunk, dtype="<i2").astype(np.int64)
        gain = (hdr.physical_max[i] - hdr.physical_min[i]) / (hdr.digital_max[i] - hdr.digital_min[i])
        ours[j] = (d - hdr.digital_min[i]) * gain + hdr.physical_min[i]
    fixed = scale.copy()
    for j, i in enumerate(kept):
        a, b = mne_vals[j], ours[j]
        big = np.abs(b) > 0
        if not big.any():
            continue
        ratio = np.median(a[big] / b[big])
        unit = hdr.units[i].lower()
        want = 1e-6 * VOLT_UNITS_TO_UV[unit] if unit in VOLT_UNITS_TO_UV else 1.0
        if not np.isclose(ratio, want, rtol=1e-6):
            # MNE applied another factor than expected: correct so the output stays in our units.
            logger.debug("%s: MNE scale for %s is %g, expected %g", path, hdr.labels[i], ratio, want)
            fixed[j] = scale[j] * want / ratio
    return fixed


def sniff(path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return False
    return head in (b"0       ", b"\xffBIOSEMI")


# --------------------------------------------------------------------------- writing


def _fit(value: float, width: int = 8, round_up: bool = False) -> str:
    """``value`` as at most ``width`` ASCII characters, rounded outward (down for minima, up for maxima)."""
    for decimals in range(width, -1, -1):
        q = 10.0 ** decimals
        v = (math.ceil(value * q) if round_up else math.floor(value * q)) / q
        text = f"{v:.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        if text == "-0":
            text = "0"
        if len(text) <= width:
            return text
    raise ParameterError(f"value {value} does not fit the {width}-character EDF field")


def _record_length(fs: float, n_samples: int) -> tuple[int, str]:
    """(samples per record, duration text): a record length that divides n_samples, near 1 s, exact in 8 chars."""
    frac = Fraction(fs).limit_denominator(10 ** 6)
    if abs(float(frac) - fs) > 1e-9 * fs:
        raise ParameterError(f"sampling rate {fs} Hz cannot be written exactly to EDF")

    def duration_text(length: int) -> str | None:
        d = Fraction(length) / frac
        text = _fit(float(d), 8, round_up=False) if d < 10 ** 8 else None
        if text is not None and Fraction(text) == d:
            return text
        return None

    target = max(1, round(fs))
    divisors = set()
    k = 1
    while k * k <= n_samples:
        if n_samples % k == 0:
            divisors.update((k, n_samples // k))
        k += 1
    for length in sorted(divisors, key=lambda d: (abs(math.log(d / target)), d)):
        text = duration_text(length)
        if text is not None:
            return length, text
    # No exact record length divides n_samples: the caller pads the last record.
    for length in range(target, 0, -1):
        text = duration_text(length)
        if text is not None:
            return length, text
    raise ParameterError(f"sampling rate {fs} Hz has no data-record duration that EDF can state exactly")


def _field(text: str, width: int) -> bytes:
    raw = str(text).encode("ascii", "replace")[:width]
    return raw.ljust(width, b" ")


def write_edf(rec: Recording, path, bdf: bool = False) -> str:
    """Write ``rec`` as EDF (int16) or BDF (int24); return the path written.

    Each channel's physical range is its data's min/max (rounded outward to fit the 8-character
    field), so the quantisation step is (max - min) / 65535 (EDF) or / 16777215 (BDF). EMG is
    written in µV; auxiliary channels in their ``rec.units``. The transducer field holds
    ``muscle=<muscle>; electrode=<kind>``, which :func:`read` takes back. EDF has no NaN: NaN
    samples are written as the digital minimum. Where no record duration that EDF can state
    exactly tiles the samples, the last record is padded with the last sample (logged). The file is written to a temporary name and
    renamed, so a failed write leaves no partial file.
    """
    path = os.fspath(path)
    if rec.n_samples == 0:
        raise ParameterError("cannot write an empty recording (0 samples) to EDF")
    dmin, dmax = (-(1 << 23), (1 << 23) - 1) if bdf else (-32768, 32767)
    spr, duration = _record_length(rec.fs, rec.n_samples)
    n_records = -(-rec.n_samples // spr)
    n_pad = n_records * spr - rec.n_samples
    if n_pad:
        logger.warning("%s: no EDF record length tiles %d samples at %g Hz; the last record is padded with "
                       "%d copies of the last sample", path, rec.n_samples, rec.fs, n_pad)
    ns = rec.n_channels

    # Physical ranges from the data (one pass, in blocks).
    lo = np.full(ns, np.inf)
    hi = np.full(ns, -np.inf)
    for _, _, _, block in rec.iter_chunks(max(spr, (2 ** 22 // ns) // spr * spr)):
        with np.errstate(invalid="ignore"):
            lo = np.fmin(lo, np.nanmin(np.where(np.isnan(block), np.inf, block), axis=1))
            hi = np.fmax(hi, np.nanmax(np.where(np.isnan(block), -np.inf, block), axis=1))
    lo[~np.isfinite(lo)] = 0.0
    hi[~np.isfinite(hi)] = 0.0
    pmin_txt = [_fit(v - (1.0 if v == h else 0.0), 8, round_up=False) for v, h in zip(lo, hi)]
    pmax_txt = [_fit(h + (1.0 if v == h else 0.0), 8, round_up=True) for v, h in zip(lo, hi)]
    pmin = np.array([float(t) for t in pmin_txt])
    pmax = np.array([float(t) for t in pmax_txt])

    labels = [c[:16] for c in rec.channels]
    if len(set(labels)) != len(labels):
        logger.warning("%s: channel names cut to 16 characters collide; readers will rename duplicates", path)
    units = ["uV" if t == "emg" else (u or "").replace("µ", "u").replace("μ", "u") for t, u in
             zip(rec.channel_types, rec.units)]
    transducers = [f"muscle={m}; electrode={e.kind}" for m, e in zip(rec.muscles, rec.electrodes)]
    header_bytes = 256 * (ns + 1)
    head = b"".join([
        b"\xffBIOSEMI" if bdf else _field("0", 8),
        _field(rec.meta.get("patient", "X X X X") if isinstance(rec.meta.get("patient"), str) else "X X X X", 80),
        _field(rec.meta.get("recording", "emgkit") if isinstance(rec.meta.get("recording"), str) else "emgkit", 80),
        _field("01.01.85", 8), _field("00.00.00", 8), _field(str(header_bytes), 8),
        _field("24BIT" if bdf else "", 44), _field(str(n_records), 8), _field(duration, 8), _field(str(ns), 4),
    ])
    sig = b"".join([
        b"".join(_field(x, 16) for x in labels),
        b"".join(_field(x, 80) for x in transducers),
        b"".join(_field(x, 8) for x in units),
        b"".join(_field(x, 8) for x in pmin_txt),
        b"".join(_field(x, 8) for x in pmax_txt),
        b"".join(_field(str(dmin), 8) for _ in range(ns)),
        b"".join(_field(str(dmax), 8) for _ in range(ns)),
        b"".join(_field("", 80) for _ in range(ns)),
        b"".join(_field(str(spr), 8) for _ in range(ns)),
        b"".join(_field("", 32) for _ in range(ns)),
    ])
    assert len(head) == 256 and len(sig) == 256 * ns
    gain = (pmax - pmin) / (dmax - dmin)

    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".emgkit-", suffix=".edf.tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(head)
            fh.write(sig)
            records_per_block = max(1, (2 ** 22 // ns) // spr)
            for start in range(0, n_records * spr, records_per_block * spr):
                stop = min(start + records_per_block * spr, n_records * spr)
                data = rec.get_data(start, min(stop, rec.n_samples))
                if data.shape[1] < stop - start:
                    data = np.pad(data, ((0, 0), (0, stop - start - data.shape[1])), mode="edge")
                with np.errstate(invalid="ignore"):
                    d = np.round((data - pmin[:, None]) / gain[:, None] + dmin)
                d = np.where(np.isnan(d), dmin, np.clip(d, dmin, dmax)).astype(np.int32)
                nrec = (stop - start) // spr
                # (channels, records, spr) -> records-major, channel blocks within each record.
                blocks = d.reshape(ns, nrec, spr).transpose(1, 0, 2).reshape(-1)
                if bdf:
                    u = (blocks & 0xFFFFFF).astype("<u4").view(np.uint8).reshape(-1, 4)[:, :3]
                    fh.write(u.tobytes())
                else:
                    fh.write(blocks.astype("<i2").tobytes())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
