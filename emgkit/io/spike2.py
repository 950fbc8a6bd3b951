"""CED Spike2 ``.smr`` / ``.smrx`` via Neo's ``Spike2RawIO`` (formats.md §3.14).

Needs the optional extra ``pip install 'emgkit[spike2]'`` (neo). Spike2
channels each have their own rate; Neo groups channels of one rate into a
stream. The recording is the stream at the highest rate (the EMG; e.g. "SMU"
at 20 kHz in EMGlab's sample), or the one picked with ``rate=`` (Hz); the
other streams are listed in ``rec.meta["channels_at_other_rates"]`` and never
resampled. Samples are integers scaled on read with Neo's per-channel gain and
offset; voltage channels are converted from Neo's unit to µV and count as EMG
unless their title says force/torque/acc/trigger (those keep the file's unit).
Spike2 files say nothing about the electrode, so it is "unknown". ``.smrx``
(64-bit SON) goes through Neo's ``CedRawIO``, which needs CED's ``sonpy``.
"""
from __future__ import annotations

import logging
import os
import re

import numpy as np

from ..errors import ParameterError, UnsupportedFormatError, file_error
from ..recording import Recording

log = logging.getLogger("emgkit")

INSTALL_HINT = "install it with: pip install 'emgkit[spike2]'  (or: pip install neo)"
SMRX_HINT = ("pip install sonpy (wheels exist for Windows, and for Linux/macOS from Python 3.14), "
             "or save the file as .smr from Spike2")
_AUX_TITLES = ((re.compile(r"(?i)force|load"), "force"), (re.compile(r"(?i)torque"), "torque"),
               (re.compile(r"(?i)\bacc"), "acc"), (re.compile(r"(?i)trig|sync|marker|ttl"), "trigger"))
_RATE_RTOL = 1e-6


def _spike2_rawio(path):
    try:
        from neo.rawio import CedRawIO, Spike2RawIO
    except ImportError:
        raise file_error(path, "reading Spike2 files needs the 'neo' package, which is not installed",
                         INSTALL_HINT, cls=UnsupportedFormatError) from None
    # Spike2RawIO is pure Python but reads only 32-bit SON (.smr); .smrx needs CED's sonpy.
    return CedRawIO if os.fspath(path).lower().endswith(".smrx") else Spike2RawIO


def _open(path):
    rawio_class = _spike2_rawio(path)
    try:
        rawio = rawio_class(filename=path)
        rawio.parse_header()
    except ImportError as exc:
        raise file_error(path, f".smrx (64-bit SON) files need CED's 'sonpy' package ({exc})",
                         SMRX_HINT, cls=UnsupportedFormatError) from None
    except Exception as exc:  # neo raises assorted errors on damaged files
        raise file_error(path, f"Neo cannot parse it as a Spike2 file ({type(exc).__name__}: {exc})",
                         "the file may be truncated or not a CED SON file") from None
    return rawio


def _to_uv_factor(unit: str) -> float | None:
    """Microvolts per ``unit``, or None when ``unit`` is not a voltage."""
    import quantities as pq

    try:
        return float(pq.Quantity(1.0, unit.strip()).rescale(pq.uV).magnitude)
    except (ValueError, LookupError, AttributeError, TypeError):
        return None


class _Spike2Source:
    """Reads one Neo stream with ``get_analogsignal_chunk``; reopens the file after unpickling."""

    def __init__(self, path, stream_index, segment, gains, offsets):
        self.path, self.stream_index, self.segment = path, stream_index, segment
        self.gains, self.offsets = np.asarray(gains), np.asarray(offsets)
        self._rawio = None

    def read(self, start, stop, channel_indices):
        if self._rawio is None:
            self._rawio = _open(self.path)
        raw = self._rawio.get_analogsignal_chunk(
            block_index=0, seg_index=self.segment, i_start=start, i_stop=stop,
            stream_index=self.stream_index, channel_indexes=np.asarray(channel_indices),
        )
        return raw.T.astype(np.float64) * self.gains[channel_indices, None] + self.offsets[channel_indices, None]

    def __getstate__(self):
        return {**self.__dict__, "_rawio": None}


def read(path, *, rate: float | None = None, segment: int = 0) -> Recording:
    """Read a Spike2 file: the fastest channel group, or the group at ``rate=`` Hz; ``segment=`` for multi-segment files."""
    path = os.fspath(path)
    if os.path.getsize(path) == 0:
        raise file_error(path, "is empty (0 bytes)")
    if path.lower().endswith(".smr"):
        with open(path, "rb") as fh:
            head = fh.read(12)
        if head[2:12] != b"(C) CED 87":
            raise file_error(path, "is not a CED Spike2 SON file (no '(C) CED 87' signature at byte 2)")
    rawio = _open(path)
    n_segments = rawio.segment_count(0)
    if not 0 <= segment < n_segments:
        raise file_error(path, f"segment={segment} is out of range: the file has {n_segments} segment(s)",
                         cls=ParameterError)
    n_streams = rawio.signal_streams_count()
    if n_streams == 0:
        raise file_error(path, "holds no waveform (ADC) channels; emgkit reads sampled signals only")
    streams = rawio.header["signal_streams"]
    all_channels = rawio.header["signal_channels"]
    rates = [float(rawio.get_signal_sampling_rate(i)) for i in range(n_streams)]
    if rate is None:
        chosen = int(np.argmax(rates))
    else:
        matches = [i for i, r in enumerate(rates) if abs(r - float(rate)) <= _RATE_RTOL * r]
        if not matches:
            raise file_error(path, f"no channels at rate={rate} Hz; the file's rates are "
                                   f"{', '.join(f'{r:g}' for r in sorted(set(rates)))} Hz", cls=ParameterError)
        chosen = matches[0]
    stream_id = streams[chosen]["id"]
    channels = all_channels[all_channels["stream_id"] == stream_id]

    names, gains, offsets, types, units, file_units = [], [], [], [], [], {}
    for ch in channels:
        name = str(ch["name"]).strip() or f"chan {ch['id']}"
        unit = str(ch["units"]).strip()
        file_units[name] = unit
        aux = next((kind for pattern, kind in _AUX_TITLES if pattern.search(name)), None)
        to_uv = _to_uv_factor(unit) if unit else None
        if aux is None and to_uv is not None:
            types.append("emg")
            units.append("uV")
        else:
            types.append(aux or "misc")
            units.append(unit)
            to_uv = 1.0
        gains.append(float(ch["gain"]) * to_uv)
        offsets.append(float(ch["offset"]) * to_uv)
        names.append(name)

    others = {}
    for i, r in enumerate(rates):
        if i != chosen:
            ids = streams[i]["id"]
            others[f"{r:g} Hz"] = [str(c["name"]).strip() for c in all_channels if c["stream_id"] == ids]
    if others:
        log.info("%s: Spike2 channels at other rates not loaded (no resampling): %s", path, others)
    n_samples = int(rawio.get_signal_size(block_index=0, seg_index=segment, stream_index=chosen))
    meta = {
        "device": "CED Spike2",
        "units_in_file": file_units,
        "t_start_s": float(rawio.get_signal_t_start(block_index=0, seg_index=segment, stream_index=chosen)),
        "n_segments": n_segments,
        "rates_in_file_hz": sorted(set(rates)),
        "calibration": "Spike2 channel scale/offset as set at recording time (the amplifier gain may not be included)",
    }
    if others:
        meta["channels_at_other_rates"] = others
    source = _Spike2Source(path, chosen, segment, gains, offsets)
    source._rawio = rawio
    return Recording(source, rates[chosen], names, n_samples, channel_types=types, units=units,
                     meta=meta, path=path, format="spike2")


__all__ = ["read", "INSTALL_HINT"]
