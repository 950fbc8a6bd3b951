"""WFDB (PhysioNet) records: a reader for ``.hea`` + ``.dat``/``.bin`` and a writer.

The header parser and sample decoders are emgkit's own (no ``wfdb`` package).
Spec: WFDB header(5) and signal(5) man pages (PhysioNet WFDB Applications Guide);
dataset quirks in ``shared/docs/formats.md`` §3.1–3.2.

Supported sample formats: 8 (first differences), 16, 24, 32, 61 (big-endian 16),
80 (8-bit offset binary), 160 (16-bit offset binary), 212 (12-bit packed),
310 and 311 (10-bit packed); byte offsets (``16+20``); several signals per file
(frame-interleaved), several files per record, and multi-segment records (fixed
or variable layout; gaps and signals a segment lacks read as NaN). Not supported
(clear error): samples-per-frame > 1, skew, FLAC formats 508/516/524.

Physical values are ``(adu - baseline) / gain``, converted to µV for EMG
channels (units mV, mv, uV, µV, V, nV, ...); WFDB's invalid-sample value
(the format's minimum, e.g. -32768 for format 16) reads as NaN.

Muscle: a ``# muscle:`` comment, else free text such as "placed in tibialis
anterior muscle", else the channel name; Hyser grid channels (``ED-8-8``) get
``hd_grid`` electrodes with 0-based row/col and muscle "forearm extensors"
(ED/EP grids) or "forearm flexors" (FD/FP), per formats.md §3.10.

Samples are read lazily: a slice ``start:stop`` reads only the bytes of those
frames (format 8, being cumulative, reads from the file start).

Header comments become ``rec.meta``: ``# key: value`` / ``#key: value`` lines,
emgdb's ``# <age>: 44 <sex>: M ...`` style, free-text lines (``meta["notes"]``)
and every raw comment line (``meta["comments"]``). The writer adds
``# emgkit channel: {json}`` and ``# emgkit meta: {json}`` lines so muscles,
electrodes, channel types and metadata survive a round trip.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .._json import json_default_or_str
from ..errors import (EmgkitFileNotFoundError, FileFormatError, ParameterError, TruncatedFileError,
                      UnsupportedFormatError, file_error)
from ..recording import Electrode, Recording, electrode_from_text

log = logging.getLogger("emgkit")

# ---------------------------------------------------------------------------- format tables

#: Sample formats this reader decodes.
SUPPORTED_FORMATS = (8, 16, 24, 32, 61, 80, 160, 212, 310, 311)
#: Formats the writer produces.
WRITE_FORMATS = (16, 24, 32)

#: Bits per stored sample (packed formats: the packed width).
_BITS = {8: 8, 16: 16, 24: 24, 32: 32, 61: 16, 80: 8, 160: 16, 212: 12, 310: 10, 311: 10}
#: Digital value WFDB uses for "no sample" (after offset-binary conversion);
#: the minimum of each format's range, as in the WFDB library / wfdb-python.
INVALID_SAMPLE = {16: -(2**15), 61: -(2**15), 160: -(2**15), 80: -(2**7), 212: -(2**11),
                  310: -(2**9), 311: -(2**9), 24: -(2**23), 32: -(2**31)}
#: WFDB defaults (header(5)): gain when absent or 0, its units, and sampling rate.
DEFAULT_GAIN_ADU_PER_MV = 200.0
DEFAULT_UNITS = "mV"
DEFAULT_FS_HZ = 250.0

# Sanity limits: beyond these a header is garbage, not a recording.
MAX_SIGNALS = 100_000
MAX_SAMPLES = 10**12
MAX_FS_HZ = 1e7
MAX_HEADER_BYTES = 64 * 2**20

#: Samples decoded per block (frames x signals in the file), bounding a read's working memory.
_BLOCK_SAMPLES = 2**22

# Voltage units → factor to µV (keys lower-case, µ/μ folded to u).
_VOLT_TO_UV = {
    "v": 1e6, "volt": 1e6, "volts": 1e6,
    "mv": 1e3, "millivolt": 1e3, "millivolts": 1e3,
    "uv": 1.0, "microvolt": 1.0, "microvolts": 1.0, "mcv": 1.0,
    "nv": 1e-3, "nanovolt": 1e-3, "nanovolts": 1e-3,
}
# Auxiliary channel kinds by unit / description (checked after voltage units).
_AUX_UNITS = {
    "n": "force", "kn": "force", "mn": "force", "kg": "force", "kgf": "force", "lb": "force", "lbf": "force",
    "nm": "torque", "n.m": "torque", "n*m": "torque", "n·m": "torque",
    "m/s^2": "acc", "m/s2": "acc", "m/s/s": "acc",
    "deg/s": "gyro", "dps": "gyro", "rad/s": "gyro",
    "ut": "mag", "gauss": "mag",
}
_AUX_WORDS = (("force", "force"), ("torque", "torque"), ("accel", "acc"), ("acc", "acc"), ("gyro", "gyro"),
              ("magnet", "mag"), ("trigger", "trigger"), ("sync", "trigger"), ("stim", "trigger"),
              ("ecg", "misc"), ("ekg", "misc"), ("eeg", "misc"), ("eog", "misc"), ("resp", "misc"))

_HYSER_NAME = re.compile(r"^(ED|EP|FD|FP)-(\d+)-(\d+)$")
_HYSER_MUSCLE = {"E": "forearm extensors", "F": "forearm flexors"}

_NUM = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_FS_RE = re.compile(rf"^({_NUM})(?:/({_NUM})(?:\(({_NUM})\))?)?$")
_FMT_RE = re.compile(r"^(\d+)(?:x(\d+))?(?::(\d+))?(?:\+(\d+))?$")
_GAIN_RE = re.compile(rf"^({_NUM})(?:\(([+-]?\d+)\))?(?:/(\S+))?$")
_KEY_VALUE_RE = re.compile(r"^([A-Za-z][\w \-()/%.]{0,60}?)\s*:\s*(.*)$")
_ANGLE_KEY_RE = re.compile(r"<([^<>]{1,60})>:?")
_EMGKIT_CHANNEL = "emgkit channel:"
_EMGKIT_META = "emgkit meta:"


# ---------------------------------------------------------------------------- header model
@dataclass
class WfdbSignal:
    """One signal line of a WFDB header."""

    file: str
    fmt: int
    samples_per_frame: int = 1
    skew: int = 0
    byte_offset: int = 0
    gain: float = DEFAULT_GAIN_ADU_PER_MV  # adu per physical unit
    baseline: int = 0
    units: str = DEFAULT_UNITS
    adc_resolution: int = 0
    adc_zero: int = 0
    initial_value: int | None = None
    checksum: int | None = None
    block_size: int = 0
    description: str = ""
    gain_given: bool = True


@dataclass
class WfdbHeader:
    """A parsed ``.hea`` file (no samples are read)."""

    path: str
    record_name: str
    n_signals: int
    fs: float | None
    n_samples: int | None
    counter_freq: float | None = None
    base_counter: float | None = None
    base_time: str | None = None
    base_date: str | None = None
    signals: list[WfdbSignal] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    #: Multi-segment records: (segment record name, n_samples) per segment ("~" = a gap).
    segments: list[tuple[str, int]] | None = None

    @property
    def directory(self) -> str:
        return os.path.dirname(os.path.abspath(self.path))

    def data_path(self, sig: WfdbSignal) -> str:
        return os.path.join(self.directory, sig.file)


def _num(path, text: str, what: str, line_no: int, kind=float):
    try:
        value = float(text)
    except ValueError:
        raise file_error(path, f"line {line_no}: {what} {text!r} is not a number",
                         "is this a WFDB header?") from None
    if not math.isfinite(value):
        raise file_error(path, f"line {line_no}: {what} {text!r} is not finite")
    if kind is int:
        if value != int(value):
            raise file_error(path, f"line {line_no}: {what} {text!r} is not an integer")
        return int(value)
    return value


def _read_header_text(path: str) -> str:
    if not os.path.exists(path):
        raise file_error(path, "WFDB header not found", cls=EmgkitFileNotFoundError)
    size = os.path.getsize(path)
    if size > MAX_HEADER_BYTES:
        raise file_error(path, f"header is {size} bytes, far beyond any WFDB header",
                         "pass the .hea header, not a data file")
    with open(path, "rb") as f:
        raw = f.read()
    if b"\x00" in raw:
        raise file_error(path, "binary content (NUL bytes) in what should be a text WFDB header",
                         "pass the .hea header, not the .dat/.bin data file")
    return raw.decode("utf-8", errors="replace")


def read_header(path) -> WfdbHeader:
    """Parse a WFDB ``.hea`` header (record line, signal lines, comments); reads no samples."""
    path = os.fspath(path)
    text = _read_header_text(path)
    lines = re.split(r"\r\n|\r|\n", text)
    comments: list[str] = []
    body: list[tuple[int, str]] = []
    for no, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            comments.append(stripped[1:].rstrip())
        else:
            body.append((no, stripped))
    if not body:
        raise file_error(path, "no record line (the header is empty or only comments)")
    no, record_line = body[0]
    fields = record_line.split()
    if len(fields) < 2:
        raise file_error(path, f"line {no}: record line {record_line[:80]!r} lacks the number of signals",
                         "expected 'name nsig [fs [nsamp]]'")
    name, _, nseg_text = fields[0].partition("/")
    n_segments = _num(path, nseg_text, "number of segments", no, int) if nseg_text else None
    if n_segments is not None and not 0 < n_segments <= MAX_SIGNALS:
        raise file_error(path, f"line {no}: record declares {n_segments} segments")
    n_signals = _num(path, fields[1], "number of signals", no, int)
    if n_signals <= 0:
        raise file_error(path, f"line {no}: record declares {n_signals} signals; there is nothing to read")
    if n_signals > MAX_SIGNALS:
        raise file_error(path, f"line {no}: record declares {n_signals} signals (more than {MAX_SIGNALS}); "
                               "the header is corrupt")
    fs = counter = base_counter = None
    if len(fields) > 2:
        m = _FS_RE.match(fields[2])
        if not m:
            raise file_error(path, f"line {no}: sampling frequency {fields[2]!r} is not a number")
        fs = float(m.group(1))
        counter = float(m.group(2)) if m.group(2) else None
        base_counter = float(m.group(3)) if m.group(3) else None
        if not (0 < fs <= MAX_FS_HZ):
            raise file_error(path, f"line {no}: sampling frequency {fields[2]} Hz is outside (0, {MAX_FS_HZ:g}]")
    n_samples = None
    if len(fields) > 3:
        n_samples = _num(path, fields[3], "number of samples", no, int)
        if n_samples < 0 or n_samples > MAX_SAMPLES:
            raise file_error(path, f"line {no}: number of samples {n_samples} is outside 0..{MAX_SAMPLES:.0e}")
    header = WfdbHeader(path, name, n_signals, fs, n_samples, counter, base_counter,
                        fields[4] if len(fields) > 4 else None, fields[5] if len(fields) > 5 else None,
                        comments=comments)
    if n_segments is not None:
        if len(body) - 1 != n_segments:
            raise file_error(path, f"the record line declares {n_segments} segments but the header has "
                                   f"{len(body) - 1} segment lines")
        header.segments = []
        for seg_no, line in body[1:]:
            parts = line.split()
            if len(parts) != 2:
                raise file_error(path, f"line {seg_no}: segment line {line[:80]!r} is not 'name n_samples'")
            seg_n = _num(path, parts[1], "segment length", seg_no, int)
            if not 0 <= seg_n <= MAX_SAMPLES:
                raise file_error(path, f"line {seg_no}: segment length {seg_n} is outside 0..{MAX_SAMPLES:.0e}")
            header.segments.append((parts[0], seg_n))
        return header
    sig_lines = body[1:]
    if len(sig_lines) != n_signals:
        raise file_error(path, f"the record line declares {n_signals} signals but the header has "
                               f"{len(sig_lines)} signal lines")
    header.signals = [_parse_signal_line(path, no, line) for no, line in sig_lines]
    return header


def _parse_signal_line(path, no: int, line: str) -> WfdbSignal:
    parts = line.split(None, 8)
    if len(parts) < 2:
        raise file_error(path, f"line {no}: signal line {line[:80]!r} lacks the format field")
    m = _FMT_RE.match(parts[1])
    if not m:
        raise file_error(path, f"line {no}: format field {parts[1]!r} is not 'fmt[xspf][:skew][+offset]'")
    fmt = int(m.group(1))
    if fmt not in SUPPORTED_FORMATS and not (fmt == 0 and parts[0] == "~"):  # "~ 0": a layout's null signal
        extra = " (FLAC-compressed; convert to format 16 first)" if fmt in (508, 516, 524) else ""
        raise file_error(path, f"line {no}: WFDB format {fmt}{extra} is not supported; supported formats: "
                               f"{', '.join(map(str, SUPPORTED_FORMATS))}", cls=UnsupportedFormatError)
    sig = WfdbSignal(parts[0], fmt, int(m.group(2) or 1), int(m.group(3) or 0), int(m.group(4) or 0))
    if len(parts) > 2:
        g = _GAIN_RE.match(parts[2])
        if not g:
            raise file_error(path, f"line {no}: gain field {parts[2]!r} is not 'gain[(baseline)][/units]'")
        sig.gain = float(g.group(1))
        if not math.isfinite(sig.gain):
            raise file_error(path, f"line {no}: gain {parts[2]!r} is not finite")
        sig.units = g.group(3) or DEFAULT_UNITS
        baseline = g.group(2)
    else:
        sig.gain_given = False
        baseline = None
    if sig.gain == 0:
        # WFDB: gain 0 means uncalibrated; the library uses the default gain.
        sig.gain = DEFAULT_GAIN_ADU_PER_MV
        sig.gain_given = False
    names = ("ADC resolution", "ADC zero", "initial value", "checksum", "block size")
    values = [_num(path, parts[3 + i], what, no, int) for i, what in enumerate(names) if len(parts) > 3 + i]
    sig.adc_resolution = values[0] if len(values) > 0 else 0
    sig.adc_zero = values[1] if len(values) > 1 else 0
    sig.initial_value = values[2] if len(values) > 2 else None
    sig.checksum = values[3] if len(values) > 3 else None
    sig.block_size = values[4] if len(values) > 4 else 0
    sig.description = parts[8].strip() if len(parts) > 8 else ""
    sig.baseline = int(baseline) if baseline is not None else sig.adc_zero
    return sig


# ---------------------------------------------------------------------------- comments → meta
def parse_comments(comments: list[str]) -> dict:
    """Header comment lines → metadata dict (see module docstring)."""
    meta: dict = {}
    notes: list[str] = []
    last_key = None
    for raw in comments:
        text = raw.strip()
        if not text:
            continue
        low = text.lower()
        if low.startswith(_EMGKIT_CHANNEL) or low.startswith(_EMGKIT_META):
            last_key = None
            continue
        if text.startswith("<"):
            pieces = list(_ANGLE_KEY_RE.finditer(text))
            if pieces and pieces[0].start() == 0:
                for i, m in enumerate(pieces):
                    end = pieces[i + 1].start() if i + 1 < len(pieces) else len(text)
                    meta[m.group(1).strip()] = text[m.end():end].strip()
                last_key = pieces[-1].group(1).strip()
                continue
        m = _KEY_VALUE_RE.match(text)
        if m and (m.group(2).strip() or not raw.startswith("  ")):
            last_key = m.group(1).strip()
            meta[last_key] = m.group(2).strip()
            continue
        if last_key is not None and raw.startswith("  "):
            # An indented line continues the previous value (emgdb neuropathy diagnosis).
            meta[last_key] = f"{meta[last_key]} {text}".strip()
            continue
        notes.append(text)
        last_key = None
    if notes:
        meta["notes"] = notes
    return meta


def _emgkit_lines(comments: list[str], path) -> tuple[dict, dict]:
    """The writer's own per-channel and metadata lines (JSON)."""
    channels: dict = {}
    meta: dict = {}
    for raw in comments:
        text = raw.strip()
        low = text.lower()
        for prefix in (_EMGKIT_CHANNEL, _EMGKIT_META):
            if low.startswith(prefix):
                try:
                    obj = json.loads(text[len(prefix):])
                except json.JSONDecodeError as exc:
                    raise file_error(path, f"malformed '# {prefix}' comment ({exc.msg})") from None
                if not isinstance(obj, dict):
                    raise file_error(path, f"'# {prefix}' comment is not a JSON object")
                if prefix == _EMGKIT_CHANNEL:
                    if "index" not in obj:
                        raise file_error(path, "'# emgkit channel:' comment lacks its channel index")
                    channels[int(obj["index"])] = obj
                else:
                    meta.update(obj)
    return channels, meta


def _lookup(meta: dict, key: str):
    """meta value whose key is ``key`` or starts with ``key`` + space/parenthesis (case-insensitive)."""
    for k, v in meta.items():
        kl = k.lower()
        if kl == key or kl.startswith(key + " ") or kl.startswith(key + "("):
            if isinstance(v, str) and v.strip():
                return v.strip()
    return None


def _muscle_from_notes(notes: list[str]) -> str | None:
    for note in notes:
        low = note.lower()
        m = (re.search(r"(?:placed|inserted|recorded)\s+(?:in|into|from|over)\s+(?:the\s+)?([a-z][a-z \-]*?)\s+muscle\b", low)
             or re.search(r"\b(?:in|into)\s+(?:the\s+)?([a-z][a-z \-]*?)\s+muscle\b", low))
        if m:
            return m.group(1).strip()
    return None


def _electrode_text(meta: dict, notes: list[str]) -> str | None:
    given = _lookup(meta, "electrode")
    if given:
        return given
    for note in notes:
        if "electrode" in note.lower() or "needle" in note.lower():
            return note
    return None


def _unit_scale(units: str) -> float | None:
    """Factor from ``units`` to µV, or None when ``units`` is not a voltage."""
    u = units.strip().replace("µ", "u").replace("μ", "u").lower()
    return _VOLT_TO_UV.get(u)


def _channel_type(sig: WfdbSignal) -> str:
    desc = sig.description.lower()
    if _unit_scale(sig.units) is not None:
        for word, kind in _AUX_WORDS:
            if re.search(rf"\b{word}", desc):
                return kind
        return "emg"
    kind = _AUX_UNITS.get(sig.units.strip().lower())
    if kind:
        return kind
    for word, k in _AUX_WORDS:
        if re.search(rf"\b{word}", desc):
            return k
    return "misc"


# ---------------------------------------------------------------------------- sample decoding
def _bytes_for_samples(fmt: int, n: int) -> int:
    """Bytes that hold ``n`` consecutive samples (a file's whole content for n = frames × signals)."""
    if fmt == 212:
        return (n // 2) * 3 + (2 if n % 2 else 0)
    if fmt in (310, 311):
        rem = n % 3
        return (n // 3) * 4 + (0 if rem == 0 else 2 if rem == 1 else (4 if fmt == 310 else 3))
    return n * _BITS[fmt] // 8


def _samples_in_bytes(fmt: int, nbytes: int) -> int:
    """Whole samples held by ``nbytes`` bytes (inverse of _bytes_for_samples)."""
    if fmt == 212:
        return (nbytes // 3) * 2 + (1 if nbytes % 3 >= 2 else 0)
    if fmt in (310, 311):
        rem = nbytes % 4
        extra = 0 if rem < 2 else 1 if (rem < 3 or fmt == 310) else 2
        return (nbytes // 4) * 3 + extra
    return nbytes // (_BITS[fmt] // 8)


def _read_exact(f, pos: int, nbytes: int) -> np.ndarray:
    """``nbytes`` bytes at ``pos`` (fewer if the file ends first) via seek + readinto."""
    buf = np.empty(nbytes, dtype=np.uint8)
    f.seek(pos)
    view = memoryview(buf)
    got = 0
    while got < nbytes:
        n = f.readinto(view[got:])
        if not n:
            break
        got += n
    return buf[:got]


def _decode(fmt: int, raw: np.ndarray) -> np.ndarray:
    """Bytes (uint8) → digital samples (a signed integer array) for non-difference formats."""
    if fmt == 16:
        return raw[: raw.size // 2 * 2].view("<i2")
    if fmt == 61:
        return raw[: raw.size // 2 * 2].view(">i2")
    if fmt == 160:
        return raw[: raw.size // 2 * 2].view("<u2").astype(np.int32) - 32768
    if fmt == 80:
        return raw.astype(np.int16) - 128
    if fmt == 32:
        return raw[: raw.size // 4 * 4].view("<i4")
    if fmt == 24:
        b = raw[: raw.size // 3 * 3].reshape(-1, 3).astype(np.int64)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        return np.where(v >= 2**23, v - 2**24, v)
    if fmt == 212:
        b = np.zeros(-(-raw.size // 3) * 3, dtype=np.int64)
        b[: raw.size] = raw
        b = b.reshape(-1, 3)
        out = np.empty((b.shape[0], 2), dtype=np.int64)
        out[:, 0] = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
        out[:, 1] = b[:, 2] | ((b[:, 1] & 0xF0) << 4)
        out = out.ravel()
        return np.where(out >= 2**11, out - 2**12, out)
    if fmt in (310, 311):
        b = np.zeros(-(-raw.size // 4) * 4, dtype=np.uint8)
        b[: raw.size] = raw
        out = np.empty((b.size // 4, 3), dtype=np.int64)
        if fmt == 310:
            w = b.view("<u2").astype(np.int64).reshape(-1, 2)
            out[:, 0] = (w[:, 0] >> 1) & 0x3FF
            out[:, 1] = (w[:, 1] >> 1) & 0x3FF
            out[:, 2] = ((w[:, 0] >> 11) & 0x1F) | (((w[:, 1] >> 11) & 0x1F) << 5)
        else:
            w = b.view("<u4").astype(np.int64)
            out[:, 0] = w & 0x3FF
            out[:, 1] = (w >> 10) & 0x3FF
            out[:, 2] = (w >> 20) & 0x3FF
        out = out.ravel()
        return np.where(out >= 2**9, out - 2**10, out)
    raise AssertionError(fmt)  # formats are validated when the header is parsed


@dataclass
class _FileGroup:
    """The signals stored in one data file (frame-interleaved)."""

    path: str
    fmt: int
    byte_offset: int
    signal_indices: list[int]
    initial_values: np.ndarray  # format 8 only

    @property
    def width(self) -> int:
        return len(self.signal_indices)

    def read_frames(self, f, start: int, stop: int) -> np.ndarray:
        """Digital samples of frames ``start:stop``, shape (stop - start, width)."""
        w = self.width
        if self.fmt == 8:
            return self._read_differences(f, start, stop)
        k0, k1 = start * w, stop * w
        if self.fmt == 212:
            unit_samples, unit_bytes = 2, 3
        elif self.fmt in (310, 311):
            unit_samples, unit_bytes = 3, 4
        else:
            unit_samples, unit_bytes = 1, _BITS[self.fmt] // 8
        u0, u1 = k0 // unit_samples, -(-k1 // unit_samples)
        raw = _read_exact(f, self.byte_offset + u0 * unit_bytes, (u1 - u0) * unit_bytes)
        samples = _decode(self.fmt, raw)
        first = k0 - u0 * unit_samples
        samples = samples[first:first + (k1 - k0)]
        if samples.size != k1 - k0:
            raise file_error(self.path, f"data ended early while reading frames {start}:{stop}",
                             "the file changed or is truncated", cls=TruncatedFileError)
        return samples.reshape(stop - start, w)

    def _read_differences(self, f, start: int, stop: int) -> np.ndarray:
        # Format 8 stores first differences: sample n = initial value + sum of differences 0..n.
        w = self.width
        running = self.initial_values.astype(np.int64).copy()
        out = np.empty((stop - start, w), dtype=np.int64)
        block = max(1, _BLOCK_SAMPLES // w)
        for b0 in range(0, stop, block):
            b1 = min(stop, b0 + block)
            raw = _read_exact(f, self.byte_offset + b0 * w, (b1 - b0) * w)
            if raw.size != (b1 - b0) * w:
                raise file_error(self.path, "data ended early", cls=TruncatedFileError)
            values = np.cumsum(raw.view(np.int8).astype(np.int64).reshape(-1, w), axis=0) + running
            running = values[-1]
            lo, hi = max(b0, start), b1
            if hi > lo:
                out[lo - start:hi - start] = values[lo - b0:hi - b0]
        return out


#: Below this many values a read converts with NumPy (no numba import for a header probe).
_KERNEL_MIN_VALUES = 1 << 16


def frames_to_rows(digital, cols, rows, baseline, gain, scale, sentinel, has_sentinel, out, offset):
    """out[rows[k], offset + i] = (digital[i, cols[k]] − baseline[k]) / gain[k] · scale[k] (NaN at the sentinel).

    NumPy; ``_frames.frames_to_rows`` is its numba twin for large reads.
    """
    part = digital[:, cols]
    values = (part - baseline) / gain
    values *= scale
    if has_sentinel:
        values[part == sentinel] = np.nan
    out[rows, offset:offset + digital.shape[0]] = values.T


def _converter(digital_dtype, n_values: int):
    if n_values < _KERNEL_MIN_VALUES or not digital_dtype.isnative:
        return frames_to_rows
    from ._frames import frames_to_rows as kernel

    return kernel


class WfdbSource:
    """Lazy sample source over a WFDB record's data files (see ``Recording``'s source contract)."""

    def __init__(self, groups: list[_FileGroup], signals: list[WfdbSignal], scales: list[float]):
        self.groups = groups
        self.signals = signals
        # Signal index → (group index, column within the group's frame).
        self.location = {}
        for gi, g in enumerate(groups):
            for col, si in enumerate(g.signal_indices):
                self.location[si] = (gi, col)
        self.gain = np.array([s.gain for s in signals], dtype=np.float64)
        self.scale = np.array(scales, dtype=np.float64)
        self.baseline = np.array([s.baseline for s in signals], dtype=np.float64)

    def read(self, start: int, stop: int, channel_indices, dtype=np.float64) -> np.ndarray:
        channel_indices = np.asarray(channel_indices, dtype=np.int64)
        out = np.empty((channel_indices.size, stop - start), dtype=dtype)
        wanted: dict[int, list[tuple[int, int]]] = {}
        for row, si in enumerate(channel_indices):
            gi, col = self.location[int(si)]
            wanted.setdefault(gi, []).append((row, col))
        for gi, pairs in wanted.items():
            group = self.groups[gi]
            rows = np.array([r for r, _ in pairs])
            cols = np.array([c for _, c in pairs])
            sig = np.asarray(group.signal_indices)[cols]
            baseline, gain, scale = self.baseline[sig], self.gain[sig], self.scale[sig]
            sentinel = INVALID_SAMPLE.get(group.fmt)
            block = max(1, _BLOCK_SAMPLES // group.width)
            # physical = (adu - baseline) / gain, then units → µV (exactly 1 for µV and aux channels)
            with open(group.path, "rb", buffering=0) as f:
                for b0 in range(start, stop, block):
                    b1 = min(stop, b0 + block)
                    digital = group.read_frames(f, b0, b1)
                    _converter(digital.dtype, digital.shape[0] * cols.size)(
                        digital, cols, rows, baseline, gain, scale, 0 if sentinel is None else sentinel,
                        sentinel is not None, out, b0 - start)
        return out

    def read_float32(self, start: int, stop: int, channel_indices) -> np.ndarray:
        """``read(...)`` rounded to float32, without a float64 copy of the span."""
        return self.read(start, stop, channel_indices, dtype=np.float32)


# ---------------------------------------------------------------------------- reader
def sniff(path) -> bool:
    """True when ``path`` parses as a WFDB header."""
    try:
        read_header(path)
    except (FileFormatError, UnsupportedFormatError, EmgkitFileNotFoundError, OSError):
        return False
    return True


def _file_groups(header: WfdbHeader) -> list[_FileGroup]:
    groups: dict[str, _FileGroup] = {}
    for i, sig in enumerate(header.signals):
        if sig.samples_per_frame != 1:
            raise file_error(header.path, f"signal {i + 1} has {sig.samples_per_frame} samples per frame "
                                          "(multi-rate records are not supported)", cls=UnsupportedFormatError)
        if sig.skew:
            raise file_error(header.path, f"signal {i + 1} has skew {sig.skew} (skewed signals are not supported)",
                             cls=UnsupportedFormatError)
        if sig.file == "~" or sig.file == "-":
            raise file_error(header.path, f"signal {i + 1} has no data file ({sig.file!r}: null or standard-input "
                                          "signal)", cls=UnsupportedFormatError)
        g = groups.get(sig.file)
        if g is None:
            groups[sig.file] = _FileGroup(header.data_path(sig), sig.fmt, sig.byte_offset, [i], np.zeros(0))
        else:
            if sig.fmt != g.fmt:
                raise file_error(header.path, f"signals in {sig.file} mix formats {g.fmt} and {sig.fmt} "
                                              "(WFDB requires one format per file)")
            g.signal_indices.append(i)
    for g in groups.values():
        g.initial_values = np.array([header.signals[i].initial_value or 0 for i in g.signal_indices],
                                    dtype=np.int64)
    return list(groups.values())


def _check_sizes(header: WfdbHeader, groups: list[_FileGroup]) -> int:
    """Check each data file exists and holds the header's samples; infer nsamp when absent."""
    inferred = []
    for g in groups:
        if not os.path.exists(g.path):
            raise file_error(header.path, f"data file {os.path.basename(g.path)!r} not found (expected at {g.path})",
                             "WFDB records need the header and its data file side by side",
                             cls=EmgkitFileNotFoundError)
        size = os.path.getsize(g.path)
        payload = size - g.byte_offset
        if header.n_samples is None:
            inferred.append(_samples_in_bytes(g.fmt, max(payload, 0)) // g.width)
        else:
            need = _bytes_for_samples(g.fmt, header.n_samples * g.width)
            if payload < need:
                raise file_error(
                    g.path, f"data file is truncated: {header.n_samples} samples x {g.width} signals in format "
                            f"{g.fmt} need {need + g.byte_offset} bytes (including a {g.byte_offset}-byte offset) "
                            f"but the file has {size}", cls=TruncatedFileError)
    if header.n_samples is not None:
        return header.n_samples
    n = min(inferred)
    if len(set(inferred)) > 1:
        log.warning("%s: data files hold different numbers of samples %s; using the shortest, %d",
                    header.path, inferred, n)
    return n


def _describe(header: WfdbHeader, comments: list[str], fs: float | None, path: str):
    """Channel names, muscles, electrodes, types, units and µV scales, plus meta and rate, from a header."""
    meta = parse_comments(comments)
    kit_channels, kit_meta = _emgkit_lines(comments, path)
    notes = meta.get("notes", [])
    record_fs = header.fs
    if record_fs is None:
        record_fs = float(fs) if fs is not None else DEFAULT_FS_HZ
        if not 0 < record_fs <= MAX_FS_HZ:
            raise ParameterError(f"fs must be in (0, {MAX_FS_HZ:g}] Hz; got {fs}")
        log.warning("%s: header gives no sampling frequency; using %g Hz%s", path, record_fs,
                    "" if fs is not None else " (the WFDB default; pass fs= to override)")
        meta["fs_assumed"] = True

    muscle_all = _lookup(meta, "muscle") or _muscle_from_notes(notes)
    electrode_all = electrode_from_text(_electrode_text(meta, notes))

    info = {k: [] for k in ("channels", "muscles", "electrodes", "channel_types", "units", "scales")}
    for i, sig in enumerate(header.signals):
        kit = kit_channels.get(i, {})
        name = kit.get("name") or sig.description or f"signal{i + 1}"
        ctype = kit.get("type") or _channel_type(sig)
        scale = _unit_scale(sig.units)
        if ctype == "emg" and scale is None:
            raise file_error(path, f"signal {i + 1} ({name}) is EMG but its units {sig.units!r} are not a voltage")
        if ctype == "emg":
            unit = "uV"
        else:
            scale = 1.0
            unit = kit.get("unit", sig.units)
        hyser = _HYSER_NAME.match(name)
        electrode = electrode_all
        muscle = kit.get("muscle") or muscle_all
        if hyser and electrode.kind == "unknown":
            electrode = Electrode("hd_grid", grid=hyser.group(1), row=int(hyser.group(2)) - 1,
                                  col=int(hyser.group(3)) - 1)
            muscle = muscle or _HYSER_MUSCLE[hyser.group(1)[0]]
        if "electrode" in kit:
            try:
                electrode = Electrode(**kit["electrode"])
            except (TypeError, ParameterError) as exc:
                raise file_error(path, f"'# emgkit channel:' comment for signal {i + 1} has a bad electrode "
                                       f"({exc})") from None
        elif ctype != "emg":
            electrode = Electrode()
        info["channels"].append(name)
        info["muscles"].append(muscle or name)
        info["electrodes"].append(electrode)
        info["channel_types"].append(ctype)
        info["units"].append(unit)
        info["scales"].append(scale)
    meta.update(kit_meta)
    meta["comments"] = list(comments)
    return info, meta, record_fs


def read(path, fs: float | None = None, **options) -> Recording:
    """Read a WFDB record from its ``.hea`` header; samples are read lazily.

    ``fs`` is used only when the header gives no sampling frequency (WFDB's
    default would be 250 Hz).
    """
    if options:
        raise ParameterError(f"the WFDB reader takes no options {sorted(options)} (only fs=)")
    path = os.fspath(path)
    header = read_header(path)
    if header.segments is not None:
        return _read_multisegment(header, fs)
    groups = _file_groups(header)
    n_samples = _check_sizes(header, groups)
    if n_samples == 0:
        raise file_error(path, "the record holds zero samples", "the data file is empty or the header says 0")
    info, meta, record_fs = _describe(header, header.comments, fs, path)
    meta["wfdb"] = {
        "record": header.record_name,
        "formats": sorted({s.fmt for s in header.signals}),
        "files": [os.path.basename(g.path) for g in groups],
        "base_time": header.base_time, "base_date": header.base_date,
        "n_samples_inferred": header.n_samples is None,
    }
    scales = info.pop("scales")
    source = WfdbSource(groups, header.signals, scales)
    return Recording(source, record_fs, info.pop("channels"), n_samples, **info, meta=meta, path=path,
                     format="wfdb", files=[g.path for g in groups])


class MultiSegmentSource:
    """Concatenates segment recordings; channels a segment lacks (and "~" gaps) read as NaN."""

    def __init__(self, segments: list[tuple[int, Recording | None, np.ndarray]]):
        # (first sample, segment recording or None for a gap, segment channel index per output channel or -1)
        self.segments = segments

    def read(self, start: int, stop: int, channel_indices) -> np.ndarray:
        channel_indices = np.asarray(channel_indices, dtype=np.int64)
        out = np.full((channel_indices.size, stop - start), np.nan)
        for first, rec, mapping in self.segments:
            if rec is None:
                continue
            lo, hi = max(start, first), min(stop, first + rec.n_samples)
            if hi <= lo:
                continue
            seg_channels = mapping[channel_indices]
            present = seg_channels >= 0
            if present.any():
                out[present, lo - start:hi - start] = rec.get_data(lo - first, hi - first,
                                                                  channels=seg_channels[present])
        return out


def _read_multisegment(header: WfdbHeader, fs: float | None) -> Recording:
    path = header.path
    segments = list(header.segments)
    layout = None
    if segments and segments[0][1] == 0 and segments[0][0] != "~":
        # Variable layout: the first, empty segment lists every signal of the record.
        layout = read_header(os.path.join(header.directory, segments[0][0] + ".hea"))
        segments = segments[1:]
    parts: list = []
    first = 0
    describe_from = layout
    for seg_name, seg_n in segments:
        if seg_name == "~":
            parts.append((first, None, None))
        else:
            seg_path = os.path.join(header.directory, seg_name + ".hea")
            if not os.path.exists(seg_path):
                raise file_error(path, f"segment header {seg_name + '.hea'!r} not found (expected at {seg_path})",
                                 cls=EmgkitFileNotFoundError)
            seg_header = read_header(seg_path)
            if seg_header.segments is not None:
                raise file_error(seg_path, "a segment is itself multi-segment (nested segments are not allowed)")
            seg_rec = read(seg_path, fs=fs if header.fs is None else header.fs)
            if header.fs is not None and seg_header.fs is not None and seg_header.fs != header.fs:
                raise file_error(seg_path, f"segment rate {seg_header.fs:g} Hz differs from the record's "
                                           f"{header.fs:g} Hz")
            if seg_rec.n_samples != seg_n:
                raise file_error(path, f"segment {seg_name} has {seg_rec.n_samples} samples but the master "
                                       f"header says {seg_n}")
            if describe_from is None:
                describe_from = seg_header
            parts.append((first, seg_rec, None))
        first += seg_n
    if describe_from is None:
        raise file_error(path, "every segment is a gap ('~'); there are no signals to read")
    info, meta, record_fs = _describe(describe_from, header.comments or describe_from.comments, fs, path)
    if header.fs is not None:
        record_fs = header.fs
    names = info["channels"]
    resolved = []
    for seg_first, seg_rec, _ in parts:
        if seg_rec is None:
            resolved.append((seg_first, None, None))
            continue
        if layout is None:
            if seg_rec.n_channels != len(names):
                raise file_error(path, f"segment {os.path.basename(seg_rec.path)} has {seg_rec.n_channels} signals; "
                                       f"the first has {len(names)} (fixed-layout records need the same signals)")
            mapping = np.arange(len(names))
        else:
            mapping = np.array([seg_rec.channels.index(c) if c in seg_rec.channels else -1 for c in names])
            units = [seg_rec.units[k] if k >= 0 else u for k, u in zip(mapping, info["units"])]
            if units != info["units"]:
                raise file_error(path, f"segment {os.path.basename(seg_rec.path)} has channel units {units}; "
                                       f"the layout says {info['units']}")
        resolved.append((seg_first, seg_rec, mapping))
    n_samples = header.n_samples if header.n_samples is not None else first
    if n_samples != first:
        raise file_error(path, f"the record line says {n_samples} samples but the segments hold {first}")
    if n_samples == 0:
        raise file_error(path, "the record holds zero samples")
    meta["wfdb"] = {"record": header.record_name, "segments": [list(s) for s in header.segments],
                    "layout": layout is not None, "base_time": header.base_time, "base_date": header.base_date}
    info.pop("scales")
    files = ([os.path.join(header.directory, header.segments[0][0] + ".hea")] if layout is not None else []) + \
        [f for _, seg_rec, _ in resolved if seg_rec is not None for f in seg_rec.files]
    return Recording(MultiSegmentSource(resolved), record_fs, info.pop("channels"), n_samples, **info, meta=meta,
                     path=path, format="wfdb", files=files)


def verify_checksums(path) -> list[bool | None]:
    """Per signal: does the header's checksum match the data (None where the header gives none)?

    Reads the whole record.
    """
    header = read_header(path)
    if header.segments is not None:
        raise file_error(path, "a multi-segment record has no checksums of its own",
                         "verify each segment's header", cls=UnsupportedFormatError)
    rec = read(path)
    groups = rec._source.groups
    sums = {}
    for g in groups:
        total = np.zeros(g.width, dtype=np.int64)
        block = max(1, _BLOCK_SAMPLES // g.width)
        with open(g.path, "rb", buffering=0) as f:
            for b0 in range(0, rec.n_samples, block):
                total += g.read_frames(f, b0, min(rec.n_samples, b0 + block)).sum(axis=0)
        for col, si in enumerate(g.signal_indices):
            sums[si] = _to_int16(int(total[col]))
    return [None if s.checksum is None else sums[i] == s.checksum for i, s in enumerate(header.signals)]


def _to_int16(value: int) -> int:
    value &= 0xFFFF
    return value - 0x10000 if value >= 0x8000 else value


# ---------------------------------------------------------------------------- writer
def _fs_text(fs: float) -> str:
    return str(int(fs)) if float(fs).is_integer() else repr(float(fs))


def _gain_text(gain: float) -> str:
    return f"{gain:.10g}"


def write_wfdb(rec: Recording, path, fmt="16", gain=None) -> Path:
    """Write ``rec`` as a WFDB record (``.hea`` + ``.dat``); returns the header path.

    Parameters
    ----------
    path : path-like
        The ``.hea`` path or the record stem (``dir/name``).
    fmt : {"16", "24", "32"}
        Sample format.
    gain : float or sequence of float, optional
        adu per µV for EMG channels (adu per unit for others), one for all or
        one per channel. Default: per channel, the largest gain that keeps the
        channel's largest absolute value inside the format's range.

    NaN samples are stored as the format's invalid-sample value. Muscles,
    electrodes, channel types and ``rec.meta`` are written as header comments
    that :func:`read` restores. The files are written under temporary names and
    renamed at the end, so a failure leaves no half-written record.
    """
    try:
        fmt_code = int(fmt)
    except (TypeError, ValueError):
        fmt_code = None
    if fmt_code not in WRITE_FORMATS:
        raise ParameterError(f"fmt must be one of {', '.join(map(str, WRITE_FORMATS))}; got {fmt!r}")
    if rec.n_samples == 0:
        raise ParameterError("cannot write a recording with zero samples as WFDB")
    path = Path(os.fspath(path))
    stem = path.with_suffix("") if path.suffix.lower() == ".hea" else path
    name = stem.name
    if not name or re.search(r"\s", name):
        raise ParameterError(f"WFDB record names cannot be empty or contain spaces; got {name!r}")
    hea_path = stem.parent / f"{name}.hea"
    dat_name = f"{name}.dat"
    dat_path = stem.parent / dat_name
    if not stem.parent.is_dir():
        raise ParameterError(f"directory {stem.parent} does not exist")

    n = rec.n_channels
    max_digital = 2 ** (_BITS[fmt_code] - 1) - 1
    sentinel = INVALID_SAMPLE[fmt_code]
    dtype = {16: "<i2", 24: None, 32: "<i4"}[fmt_code]
    chunk = max(1, 2**20 // n)
    if gain is None:
        peak = np.zeros(n)
        for _, _, _, block in rec.iter_chunks(chunk):
            with np.errstate(invalid="ignore"):
                finite = np.where(np.isfinite(block), np.abs(block), 0.0)
            peak = np.maximum(peak, finite.max(axis=1))
        gains = []
        for p in peak:
            g = (max_digital - 1) / p if p > 0 else 1.0
            # Round down to 10 significant digits so the header text is the gain used.
            text_gain = float(_gain_text(g))
            gains.append(text_gain if text_gain <= g else float(_gain_text(g * (1 - 1e-9))))
    else:
        given = np.asarray(gain, dtype=np.float64)
        if given.ndim > 1 or (given.ndim == 1 and given.size != n):
            raise ParameterError(f"gain has {given.size} entries for {n} channels; give one number or one per channel")
        gains = [float(g) for g in np.broadcast_to(given, (n,))]
        if any(not (math.isfinite(g) and g > 0) for g in gains):
            raise ParameterError(f"gain must be positive and finite (adu per µV); got {gain!r}")
        gains = [float(_gain_text(g)) for g in gains]
    gains_arr = np.array(gains)

    tmp_dat = stem.parent / f".{dat_name}.tmp{os.getpid()}"
    tmp_hea = stem.parent / f".{name}.hea.tmp{os.getpid()}"
    checksums = np.zeros(n, dtype=np.int64)
    initial = None
    try:
        with open(tmp_dat, "wb") as f:
            for _, _, _, block in rec.iter_chunks(chunk):
                scaled = block * gains_arr[:, None]
                nan = np.isnan(scaled)
                digital = np.rint(np.where(nan, 0.0, scaled))
                over = np.abs(digital) > max_digital
                if over.any():
                    ch = int(np.nonzero(over.any(axis=1))[0][0])
                    raise ParameterError(
                        f"channel {rec.channels[ch]!r} reaches {np.nanmax(np.abs(block[ch])):.6g} "
                        f"{rec.units[ch]}, beyond format {fmt_code}'s range at gain {gains[ch]:g} adu/unit "
                        "(lower the gain or use fmt='32')")
                digital = digital.astype(np.int64)
                digital[nan] = sentinel
                if initial is None:
                    initial = digital[:, 0].copy()
                checksums += digital.sum(axis=1)
                frames = np.ascontiguousarray(digital.T)
                if fmt_code == 24:
                    v = (frames.ravel() & 0xFFFFFF).astype(np.uint32)
                    out = np.empty((v.size, 3), dtype=np.uint8)
                    out[:, 0], out[:, 1], out[:, 2] = v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF
                    f.write(out.tobytes())
                else:
                    f.write(frames.astype(dtype).tobytes())
        lines = [f"{name} {n} {_fs_text(rec.fs)} {rec.n_samples}"]
        for i in range(n):
            unit_field = "uV" if rec.channel_types[i] == "emg" else (re.sub(r"\s+", "_", rec.units[i]) or "NU")
            desc = re.sub(r"[\r\n]+", " ", rec.channels[i])
            lines.append(f"{dat_name} {fmt_code} {_gain_text(gains[i])}(0)/{unit_field} {_BITS[fmt_code]} 0 "
                         f"{int(initial[i])} {_to_int16(int(checksums[i]))} 0 {desc}")
        for i in range(n):
            el = {k: v for k, v in asdict(rec.electrodes[i]).items() if v is not None}
            info = {"index": i, "name": rec.channels[i], "muscle": rec.muscles[i],
                    "type": rec.channel_types[i], "unit": rec.units[i], "electrode": el}
            lines.append("# " + _EMGKIT_CHANNEL + " " + json.dumps(info, ensure_ascii=False))
        for key, value in rec.meta.items():
            if key in ("comments", "wfdb"):
                continue  # rebuilt by the reader
            lines.append("# " + _EMGKIT_META + " " + json.dumps({str(key): value}, ensure_ascii=False,
                                                                 default=json_default_or_str))
        with open(tmp_hea, "w", encoding="utf-8", newline="\n") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp_dat, dat_path)
        os.replace(tmp_hea, hea_path)
    finally:
        for tmp in (tmp_dat, tmp_hea):
            if tmp.exists():
                tmp.unlink()
    log.info("wrote WFDB record %s (%d channels, %d samples, format %d)", hea_path, n, rec.n_samples, fmt_code)
    return hea_path
