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
            device_name = str(_attr(attrs, "device", "")).lower()
            transfer = BITALINO_EMG if "bitalino" in device_name else BIOSIGNALSPLUX_EMG
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
                is_emg = sensor is None or "EMG" in str(sensor).upper()
                full = 2.0 ** resolution
                if is_emg:
                    scale = transfer.vcc_v / transfer.gain * 1e6
                    gains.append(scale / full)
                    offsets.append(-0.5 * scale)
                    types.append("emg")
                    units.append("uV")
                else:
                    gains.append(1.0)
                    offsets.append(0.0)
                    types.append("misc")
                    units.append("adc")
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


__all__ = ["read", "EmgTransfer", "BIOSIGNALSPLUX_EMG", "BITALINO_EMG"]
