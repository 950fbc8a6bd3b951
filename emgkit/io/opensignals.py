"""PLUX OpenSignals (r)evolution HDF5 (biosignalsplux, bioplux, BITalino; formats.md §3.12).

Layout: one top-level group per device, named by its MAC address, with attrs
``sampling rate``, ``resolution`` (bits per analog channel, in the order of
``channels``), ``nsamples``, ``device``, ``date``, ``time``, ...; analog data in
``raw/channel_<n>`` (N×1 ADC counts, attrs ``sensor`` and ``label``);
``raw/nSeq`` (sequence numbers), ``digital/*``, ``events/*`` and
``support/*`` (zoom pyramids) are not channels.

EMG channels are scaled with PLUX's EMG sensor transfer function::

    EMG[µV] = (ADC / 2**bits - 0.5) * VCC / G * 1e6

biosignalsplux / bioplux / channeller: VCC = 3 V, G = 1000 (range ±1.5 mV);
BITalino: VCC = 3.3 V, G = 1009 (PLUX EMG sensor datasheets). A channel counts
as EMG when its ``sensor`` attribute says EMG. **Assumption:** files from
OpenSignals versions that write no ``sensor`` attribute are taken to hold EMG
sensors (``rec.meta["sensor_assumed"]`` says so); other sensors (ACC, EDA, ...)
are kept as auxiliary channels in raw ADC counts (unit "adc"), since emgkit
knows no transfer function for them. The electrode is bipolar surface
(PLUX EMG sensors with gelled Ag/AgCl electrodes). Samples are read lazily.

OpenSignals ``.txt`` exports (``# OpenSignals Text File Format``, a JSON header
line, ``# EndOfHeader``, tab-separated ADC counts) are read by :func:`read_txt`,
which ``emgkit.read`` uses for such ``.txt`` files.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

import numpy as np

from ..errors import EmgkitFileNotFoundError, ParameterError, file_error
from ..recording import Electrode, Recording

log = logging.getLogger("emgkit")


@dataclass(frozen=True)
class EmgTransfer:
    """PLUX EMG sensor transfer function: µV = (ADC / 2**bits - 0.5) * vcc_v / gain * 1e6."""

    vcc_v: float
    gain: float
    source: str


#: biosignalsplux EMG sensor datasheet (also bioplux / channeller hubs): VCC 3 V, gain 1000.
BIOSIGNALSPLUX_EMG = EmgTransfer(3.0, 1000.0, "PLUX biosignalsplux EMG sensor datasheet")
#: BITalino (r)evolution EMG sensor datasheet: VCC 3.3 V, gain 1009.
BITALINO_EMG = EmgTransfer(3.3, 1009.0, "PLUX BITalino (r)evolution EMG sensor datasheet")

_CHANNEL = re.compile(r"^channel_(\d+)$")


def _attr(attrs, key, default=None):
    value = attrs.get(key, default)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        value = value.item()
    return value


def _device_groups(f) -> list[str]:
    return [name for name, obj in f.items() if hasattr(obj, "keys") and "raw" in obj]


class _OpenSignalsSource:
    """Reads ``<device>/raw/channel_<n>`` slices and applies each channel's linear scale."""

    def __init__(self, path, datasets, gains, offsets):
        self.path, self.datasets = path, datasets
        self.gains, self.offsets = np.asarray(gains), np.asarray(offsets)
        self._file = None

    def read(self, start, stop, channel_indices):
        if self._file is None or not self._file.id.valid:
            import h5py

            self._file = h5py.File(self.path, "r")
        out = np.empty((len(channel_indices), stop - start))
        for row, i in enumerate(channel_indices):
            try:
                out[row] = self._file[self.datasets[i]][start:stop, 0]
            except OSError as exc:
                raise file_error(self.path, f"cannot read samples {start}:{stop} of {self.datasets[i]} ({exc})",
                                 "the file is damaged") from None
        return out * self.gains[channel_indices, None] + self.offsets[channel_indices, None]

    def __getstate__(self):
        return {**self.__dict__, "_file": None}


def _transfer_for(device_name) -> EmgTransfer:
    return BITALINO_EMG if "bitalino" in str(device_name or "").lower() else BIOSIGNALSPLUX_EMG


def _channel_scale(sensor, resolution: int, transfer: EmgTransfer):
    """(gain, offset, channel type, unit) turning ADC counts into physical values."""
    if sensor is None or "EMG" in str(sensor).upper():
        span_uv = transfer.vcc_v / transfer.gain * 1e6
        return span_uv / 2.0 ** resolution, -0.5 * span_uv, "emg", "uV"
    return 1.0, 0.0, "misc", "adc"


def _lost_samples(seq: np.ndarray) -> int:
    """Samples missing according to the sequence counter (0 for a clean acquisition).

    BITalino counts 0..15 and wraps; OpenSignals .h5 files store a sample index
    that stops at 65535 (uint16), so only forward jumps > 1 count there.
    """
    if seq.size < 2:
        return 0
    steps = np.diff(seq.astype(np.int64))
    if seq.max() <= 15:
        steps %= 16
        return int(np.sum((steps[steps != 1] - 1) % 16))
    return int(np.sum(steps[steps > 1] - 1))


def read(path, *, device: str | None = None) -> Recording:
    """Read an OpenSignals ``.h5``; ``device=`` (MAC address) picks one device when the file holds several."""
    import h5py

    path = os.fspath(path)
    if not os.path.exists(path):
        raise file_error(path, "file not found", cls=EmgkitFileNotFoundError)
    if not h5py.is_hdf5(path):
        raise file_error(path, "is not an HDF5 file (OpenSignals .h5 expected)",
                         "the file may be empty or truncated")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise file_error(path, f"cannot be opened as HDF5 ({exc})", "the file may be truncated") from None
    with f:
        macs = _device_groups(f)
        if not macs:
            raise file_error(path, "is HDF5 but neither an emgkit recording nor an OpenSignals file "
                                   "(no device group holding raw/channel_<n>)")
        if device is not None:
            if device not in macs:
                raise file_error(path, f"no device {device!r}; devices are {', '.join(macs)}", cls=ParameterError)
            macs = [device]
        rates = {mac: _attr(f[mac].attrs, "sampling rate") for mac in macs}
        if any(r is None for r in rates.values()):
            raise file_error(path, "a device group has no 'sampling rate' attribute")
        if len(set(rates.values())) > 1:
            raise file_error(path, f"devices record at different rates ({rates}); emgkit does not resample",
                             "pick one with device='<MAC>'", cls=ParameterError)

        names, datasets, gains, offsets, types, units, labels = [], [], [], [], [], [], {}
        sensor_assumed, n_samples, meta_devices, lost = [], None, {}, {}
        for mac in macs:
            group = f[mac]
            attrs = group.attrs
            transfer = _transfer_for(_attr(attrs, "device", ""))
            numbers = [int(c) for c in np.atleast_1d(_attr(attrs, "channels", []))]
            bits = [int(b) for b in np.atleast_1d(_attr(attrs, "resolution", []))]
            promised = _attr(attrs, "nsamples")
            meta_devices[mac] = {k: _attr(attrs, k) for k in ("device", "device name", "firmware version", "date",
                                                               "time", "mode", "comments", "keywords")
                                 if k in attrs}
            meta_devices[mac]["transfer_function"] = transfer.source
            present = sorted((int(m.group(1)), key) for key in group["raw"]
                             if (m := _CHANNEL.match(key)))
            if not present:
                raise file_error(path, f"device {mac} has no raw/channel_<n> datasets")
            for number, key in present:
                ds = group["raw"][key]
                if ds.ndim not in (1, 2) or (ds.ndim == 2 and ds.shape[1] != 1):
                    raise file_error(path, f"{mac}/raw/{key} has shape {ds.shape}; expected (N, 1)")
                n = ds.shape[0]
                if promised is not None and n != int(promised):
                    raise file_error(path, f"{mac}/raw/{key} holds {n} samples but the device header promises "
                                           f"nsamples={promised}", "the file is truncated or damaged")
                if n_samples is not None and n != n_samples:
                    raise file_error(path, f"{mac}/raw/{key} holds {n} samples; other channels hold {n_samples}")
                n_samples = n
                if numbers and number in numbers and len(bits) == len(numbers):
                    resolution = bits[numbers.index(number)]
                elif len(bits) == 1:
                    resolution = bits[0]
                else:
                    raise file_error(path, f"cannot tell the ADC resolution of {mac}/raw/{key} "
                                           f"(channels {numbers}, resolution {bits})")
                sensor = _attr(ds.attrs, "sensor")
                label = str(_attr(ds.attrs, "label", "") or key)
                if sensor is None:
                    sensor_assumed.append(label)
                gain, offset, kind, unit = _channel_scale(sensor, resolution, transfer)
                gains.append(gain)
                offsets.append(offset)
                types.append(kind)
                units.append(unit)
                names.append(label if len(macs) == 1 else f"{mac} {label}")
                labels[names[-1]] = {"dataset": f"{mac}/raw/{key}", "sensor": sensor, "resolution_bits": resolution}
                datasets.append(ds.name)
            if "nSeq" in group["raw"]:
                missing = _lost_samples(group["raw"]["nSeq"][:, 0] if group["raw"]["nSeq"].ndim == 2
                                        else group["raw"]["nSeq"][()])
                if missing:
                    lost[mac] = missing
                    log.warning("%s: device %s lost %d samples (sequence-number gaps); "
                                "times after a gap are shifted", path, mac, missing)
        fs = float(rates[macs[0]])
        other_devices = [m for m in _device_groups(f) if m not in macs]

    meta = {"device": "PLUX OpenSignals", "devices": meta_devices, "channels": labels,
            "not_channels": "raw/nSeq, digital/*, events/*, support/* are not loaded"}
    if sensor_assumed:
        meta["sensor_assumed"] = f"no 'sensor' attribute on {', '.join(sensor_assumed)}: taken as EMG"
    if lost:
        meta["lost_samples"] = lost
    if other_devices:
        meta["other_devices"] = other_devices
    electrodes = [Electrode("surface_bipolar") if t == "emg" else Electrode() for t in types]
    return Recording(_OpenSignalsSource(path, datasets, gains, offsets), fs, names, n_samples or 0,
                     electrodes=electrodes, channel_types=types, units=units, meta=meta, path=path,
                     format="opensignals")


# ----------------------------------------------------------------------------- .txt export
TXT_MAGIC = "# OpenSignals Text File Format"
_NOT_ANALOG = re.compile(r"^(nSeq|DI|I\d|O\d)$")


def sniff_txt(path) -> bool:
    """True when ``path`` is an OpenSignals text export (first line ``# OpenSignals Text File Format``)."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            return fh.readline().startswith(TXT_MAGIC)
    except OSError:
        return False


def read_txt(path, *, device: str | None = None) -> Recording:
    """Read an OpenSignals ``.txt`` export: JSON header line, ``# EndOfHeader``, tab-separated ADC counts.

    Same scaling and assumptions as the ``.h5`` reader; the samples are parsed into memory.
    ``emgkit.read`` sends ``.txt`` files starting with the OpenSignals line here.
    """
    import json

    import pandas as pd

    from ..recording import ArraySource

    path = os.fspath(path)
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        first, second = fh.readline(), fh.readline()
        n_header = 2
        for line in fh:
            n_header += 1
            if line.startswith("# EndOfHeader"):
                break
        else:
            raise file_error(path, "OpenSignals text header has no '# EndOfHeader' line")
    if not first.startswith(TXT_MAGIC):
        raise file_error(path, f"does not start with {TXT_MAGIC!r}")
    try:
        header = json.loads(second.lstrip("#").strip())
    except json.JSONDecodeError as exc:
        raise file_error(path, f"line 2: the OpenSignals JSON header is not valid JSON ({exc})") from None
    if not isinstance(header, dict) or not header or not all(isinstance(v, dict) for v in header.values()):
        raise file_error(path, "line 2: the OpenSignals header names no device")
    macs = sorted(header, key=lambda m: header[m].get("position", 0))
    try:
        table = pd.read_csv(path, sep="\t", header=None, skiprows=n_header, dtype=np.float64, comment="#",
                            engine="c", encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise file_error(path, "has an OpenSignals header but no data rows") from None
    except (ValueError, pd.errors.ParserError) as exc:
        raise file_error(path, f"data rows are not tab-separated numbers ({str(exc).splitlines()[0]})") from None
    data = table.to_numpy()
    if data.shape[1] and np.isnan(data[:, -1]).all():
        data = data[:, :-1]  # rows end with a tab
    n_columns = sum(len(header[m].get("column", [])) for m in macs)
    if data.shape[1] != n_columns:
        raise file_error(path, f"rows have {data.shape[1]} columns; the header lists {n_columns}")
    if np.isnan(data).any():
        raise file_error(path, "has empty or missing cells (ragged rows)")
    if device is not None and device not in header:
        raise file_error(path, f"no device {device!r}; devices are {', '.join(macs)}", cls=ParameterError)

    names, types, units, blocks, sensor_assumed, meta_channels = [], [], [], [], [], {}
    rates, offset_col = set(), 0
    for mac in macs:
        info = header[mac]
        columns = list(info.get("column", []))
        block = data[:, offset_col:offset_col + len(columns)]
        offset_col += len(columns)
        if device is not None and mac != device:
            continue
        if info.get("convertedValues"):
            raise file_error(path, f"device {mac} holds converted values, not ADC counts",
                             "export raw data from OpenSignals")
        if "sampling rate" not in info:
            raise file_error(path, f"device {mac} has no 'sampling rate' in the header")
        rates.add(float(info["sampling rate"]))
        transfer = _transfer_for(info.get("device"))
        analog = [i for i, c in enumerate(columns) if not _NOT_ANALOG.match(str(c))]
        sensors = list(info.get("sensor", [None] * len(analog)))
        labels = list(info.get("label", [columns[i] for i in analog]))
        bits = list(info.get("resolution", []))
        if len(sensors) != len(analog) or len(labels) != len(analog):
            raise file_error(path, f"device {mac}: {len(analog)} analog columns but {len(sensors)} sensors "
                                   f"and {len(labels)} labels in the header")
        for k, i in enumerate(analog):
            if len(bits) == len(columns):
                resolution = int(bits[i])  # BITalino lists a resolution for every column
            elif len(bits) == len(analog):
                resolution = int(bits[k])
            else:
                raise file_error(path, f"device {mac}: cannot tell the ADC resolution of {columns[i]} "
                                       f"(resolution {bits})")
            gain, offset, kind, unit = _channel_scale(sensors[k], resolution, transfer)
            if sensors[k] is None:
                sensor_assumed.append(str(labels[k]))
            name = str(labels[k]) if len(macs) == 1 or device else f"{mac} {labels[k]}"
            names.append(name)
            types.append(kind)
            units.append(unit)
            blocks.append(block[:, i] * gain + offset)
            meta_channels[name] = {"column": columns[i], "sensor": sensors[k], "resolution_bits": resolution}
    if len(rates) != 1:
        raise file_error(path, f"devices record at different rates ({sorted(rates)}); emgkit does not resample",
                         "pick one with device='<MAC>'", cls=ParameterError)
    if not names:
        raise file_error(path, "has no analog channels")
    meta = {"device": "PLUX OpenSignals", "channels": meta_channels,
            "devices": {m: {k: header[m].get(k) for k in ("device", "date", "time", "firmware version")
                            if k in header[m]} for m in macs}}
    if sensor_assumed:
        meta["sensor_assumed"] = f"no sensor listed for {', '.join(sensor_assumed)}: taken as EMG"
    samples = np.vstack(blocks)
    electrodes = [Electrode("surface_bipolar") if t == "emg" else Electrode() for t in types]
    return Recording(ArraySource(samples), rates.pop(), names, samples.shape[1], electrodes=electrodes,
                     channel_types=types, units=units, meta=meta, path=path, format="opensignals")


__all__ = ["read", "read_txt", "sniff_txt", "EmgTransfer", "BIOSIGNALSPLUX_EMG", "BITALINO_EMG"]
