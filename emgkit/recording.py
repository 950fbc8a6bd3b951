"""The Recording: one EMG recording, channels × samples, each channel knowing its muscle.

A Recording holds the header (rate, channel names, muscles, electrodes, types,
units, metadata) and a *source* that reads samples on demand. Readers build a
source that implements one small contract::

    source.read(start, stop, channel_indices) -> float64 array (n_channels, stop - start)

in physical units (µV for EMG channels, the unit in ``rec.units`` for
auxiliary channels), with NaN where the file marks a sample invalid. Sources
read only the requested samples, so a slice of a long file costs only that
slice. A source may also offer ``read_float32(start, stop, channel_indices)``,
the same values rounded to float32 without a float64 copy (the detector streams
float32); ``get_data(dtype=np.float32)`` then uses it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

import numpy as np

from .errors import ParameterError

ELECTRODE_KINDS = (
    "needle_concentric",
    "needle_monopolar",
    "needle",
    "surface_bipolar",
    "surface_monopolar",
    "hd_grid",
    "unknown",
)

CHANNEL_TYPES = ("emg", "force", "torque", "acc", "gyro", "mag", "trigger", "decomposition", "misc")


@dataclass(frozen=True)
class Electrode:
    """What recorded one channel.

    kind: one of ``ELECTRODE_KINDS``. For HD grids, ``grid`` is the grid model
    (e.g. ``"GR08MM1305"``), ``row``/``col`` the electrode's 0-based position,
    ``x_mm``/``y_mm`` its coordinates and ``ied_mm`` the inter-electrode distance,
    each when known.
    """

    kind: str = "unknown"
    grid: str | None = None
    row: int | None = None
    col: int | None = None
    x_mm: float | None = None
    y_mm: float | None = None
    ied_mm: float | None = None

    def __post_init__(self):
        if self.kind not in ELECTRODE_KINDS:
            raise ParameterError(
                f"electrode kind must be one of {', '.join(ELECTRODE_KINDS)}; got {self.kind!r}"
            )

    @property
    def is_needle(self) -> bool:
        return self.kind.startswith("needle")

    @property
    def is_surface(self) -> bool:
        return self.kind.startswith("surface") or self.kind == "hd_grid"


def electrode_from_text(text: str | None) -> Electrode:
    """Guess the electrode kind from free header text such as 'concentric needle'."""
    t = (text or "").lower()
    if "concentric" in t:
        return Electrode("needle_concentric")
    if "monopolar" in t and ("needle" in t or "wire" in t):
        return Electrode("needle_monopolar")
    if "needle" in t or "intramuscular" in t or "fine wire" in t or "fine-wire" in t:
        return Electrode("needle")
    if "grid" in t or "hd-semg" in t or "high-density" in t or "high density" in t:
        return Electrode("hd_grid")
    if "bipolar" in t or "surface" in t:
        return Electrode("surface_bipolar")
    return Electrode("unknown")


class ArraySource:
    """A source over an in-memory array already in physical units."""

    def __init__(self, data: np.ndarray):
        self.data = data

    def read(self, start: int, stop: int, channel_indices: np.ndarray) -> np.ndarray:
        return np.asarray(self.data[channel_indices, start:stop], dtype=np.float64)


def _as_list(value, n: int, name: str) -> list:
    if isinstance(value, (str, Electrode)) or value is None:
        return [value] * n
    out = list(value)
    if len(out) != n:
        raise ParameterError(f"{name} has {len(out)} entries but the recording has {n} channels")
    return out


class Recording:
    """One EMG recording: channels × samples, with each channel's muscle, electrode, type and unit.

    Attributes
    ----------
    fs : float
        Sampling rate in Hz (all channels share it; readers resample nothing
        and keep channels at other rates out, saying so in ``meta``).
    channels : list of str
        Channel names.
    muscles : list of str
        One muscle per channel: from the file where the format says it, else the channel name.
    electrodes : list of Electrode
    channel_types : list of str
        ``"emg"`` or an auxiliary type (``"force"``, ``"decomposition"``, ...).
    units : list of str
        ``"uV"`` for EMG channels; the physical unit of auxiliary channels.
    n_samples : int
    meta : dict
        What the header says: subject, muscle, protocol, filters, ...
    path : str or None
        The file it was read from (for a format of several files, the one named to read it).
    files : list of str
        Every file its header and samples come from, ``path`` first (a WFDB record's ``.hea``
        and ``.dat`` files, an EDF's BIDS sidecars); ``[path]`` unless the reader says more.
    format : str or None
        The reader that read it.
    """

    def __init__(
        self,
        source,
        fs: float,
        channels: Sequence[str],
        n_samples: int,
        *,
        muscles=None,
        electrodes=None,
        channel_types=None,
        units=None,
        meta: Mapping | None = None,
        path=None,
        format: str | None = None,
        files=None,
    ):
        fs = float(fs)
        if not np.isfinite(fs) or fs <= 0:
            raise ParameterError(f"fs (Hz) must be a positive number; got {fs}")
        self._source = source
        self.fs = fs
        self.channels = [str(c) for c in channels]
        n = len(self.channels)
        if n == 0:
            raise ParameterError("a Recording needs at least one channel")
        if len(set(self.channels)) != n:
            # Duplicate names make channel selection ambiguous: number them.
            seen: dict[str, int] = {}
            renamed = []
            for c in self.channels:
                k = seen.get(c, 0)
                seen[c] = k + 1
                renamed.append(c if k == 0 else f"{c}#{k}")
            self.channels = renamed
        self.n_samples = int(n_samples)
        if self.n_samples < 0:
            raise ParameterError(f"n_samples must be >= 0; got {n_samples}")
        types = _as_list(channel_types if channel_types is not None else "emg", n, "channel_types")
        self.channel_types = [str(t) for t in types]
        self.units = [
            str(u) if u is not None else ("uV" if t == "emg" else "")
            for u, t in zip(_as_list(units, n, "units"), self.channel_types)
        ]
        el = _as_list(electrodes if electrodes is not None else Electrode(), n, "electrodes")
        self.electrodes = [e if isinstance(e, Electrode) else Electrode(str(e)) for e in el]
        file_muscles = _as_list(muscles, n, "muscles")
        self.muscles = [str(m) if m else c for m, c in zip(file_muscles, self.channels)]
        self.meta = dict(meta or {})
        self.path = os.fspath(path) if path is not None else None
        self.format = format
        listed = [os.fspath(f) for f in files] if files else []
        self.files = list(dict.fromkeys(([self.path] if self.path else []) + listed))

    # ------------------------------------------------------------------ header
    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.n_samples / self.fs

    @property
    def emg_channels(self) -> list[str]:
        return [c for c, t in zip(self.channels, self.channel_types) if t == "emg"]

    @property
    def electrode_kind(self) -> str:
        """The electrode kind shared by the EMG channels ("mixed" when they differ)."""
        kinds = {e.kind for e, t in zip(self.electrodes, self.channel_types) if t == "emg"}
        if not kinds:
            return "unknown"
        return kinds.pop() if len(kinds) == 1 else "mixed"

    def __repr__(self) -> str:
        n_emg = len(self.emg_channels)
        src = f" from {os.path.basename(self.path)!r}" if self.path else ""
        return (
            f"<Recording{src}: {self.n_channels} channels ({n_emg} EMG), "
            f"{self.n_samples} samples at {self.fs:g} Hz ({self.duration:.3f} s), "
            f"muscles {sorted(set(m for m, t in zip(self.muscles, self.channel_types) if t == 'emg'))}>"
        )

    def channel_indices(self, channels=None) -> np.ndarray:
        """Indices of ``channels`` (names or integer indices; None = all)."""
        if channels is None:
            return np.arange(self.n_channels)
        if isinstance(channels, (str, int, np.integer)):
            channels = [channels]
        idx = []
        for c in channels:
            if isinstance(c, (int, np.integer)):
                if not -self.n_channels <= int(c) < self.n_channels:
                    raise ParameterError(
                        f"channel index {int(c)} is out of range for {self.n_channels} channels"
                    )
                idx.append(int(c) % self.n_channels)
            else:
                try:
                    idx.append(self.channels.index(str(c)))
                except ValueError:
                    raise ParameterError(
                        f"no channel named {c!r}; channels are {', '.join(self.channels[:20])}"
                        + (" ..." if self.n_channels > 20 else "")
                    ) from None
        return np.asarray(idx, dtype=np.int64)

    # ------------------------------------------------------------------ data
    def get_data(self, start: int = 0, stop: int | None = None, channels=None, dtype=np.float64) -> np.ndarray:
        """Samples ``start:stop`` of ``channels`` as an array (n_channels, n_samples).

        EMG channels are in µV; auxiliary channels in ``rec.units``. Samples
        the file marks invalid are NaN. Only the requested samples are read.
        """
        start, stop = self._check_span(start, stop)
        idx = self.channel_indices(channels)
        if stop == start or idx.size == 0:
            return np.zeros((idx.size, stop - start), dtype=dtype)
        # A source may also offer float32 directly (the same values rounded, without a float64 copy).
        fast = getattr(self._source, "read_float32", None) if np.dtype(dtype) == np.float32 else None
        data = fast(start, stop, idx) if fast is not None else self._source.read(start, stop, idx)
        if data.shape != (idx.size, stop - start):
            raise RuntimeError(
                f"reader {self.format} returned shape {data.shape} for "
                f"{idx.size} channels x {stop - start} samples"
            )
        return np.asarray(data, dtype=dtype)

    def _check_span(self, start, stop) -> tuple[int, int]:
        start = int(start)
        stop = self.n_samples if stop is None else int(stop)
        if start < 0 or stop > self.n_samples or start > stop:
            raise ParameterError(
                f"sample range {start}:{stop} is outside 0:{self.n_samples} "
                f"(the recording has {self.n_samples} samples)"
            )
        return start, stop

    def iter_chunks(self, chunk_samples: int, margin: int = 0, channels=None, dtype=np.float64
                    ) -> Iterator[tuple[int, int, int, np.ndarray]]:
        """Yield ``(start, stop, left_margin, data)`` blocks covering the recording.

        ``data`` spans ``start - left_margin`` to ``min(stop + margin, n_samples)``
        so a stage that needs context at the edges sees it; ``start:stop`` tile
        the recording exactly once.
        """
        if chunk_samples <= 0:
            raise ParameterError(f"chunk_samples must be > 0; got {chunk_samples}")
        for start in range(0, self.n_samples, chunk_samples):
            stop = min(start + chunk_samples, self.n_samples)
            lo = max(0, start - margin)
            hi = min(self.n_samples, stop + margin)
            yield start, stop, start - lo, self.get_data(lo, hi, channels, dtype=dtype)

    def invalid_mask(self, start: int = 0, stop: int | None = None, channels=None) -> np.ndarray:
        """Boolean mask (n_channels, n_samples) of samples the file marks invalid."""
        return np.isnan(self.get_data(start, stop, channels))

    @property
    def invalid(self) -> np.ndarray:
        """Number of invalid samples per channel (read in blocks; cached)."""
        if not hasattr(self, "_invalid_counts"):
            counts = np.zeros(self.n_channels, dtype=np.int64)
            for _, _, _, block in self.iter_chunks(max(1, 2**22 // self.n_channels)):
                counts += np.isnan(block).sum(axis=1)
            self._invalid_counts = counts
        return self._invalid_counts

    # ------------------------------------------------------------------ derived recordings
    def pick(self, channels) -> "Recording":
        """A Recording with only ``channels`` (no samples are read)."""
        idx = self.channel_indices(channels)
        parent = self

        class _Picked:
            def read(self, start, stop, channel_indices):
                return parent._source.read(start, stop, idx[channel_indices])

        if hasattr(parent._source, "read_float32"):
            _Picked.read_float32 = lambda self, start, stop, channel_indices: \
                parent._source.read_float32(start, stop, idx[channel_indices])

        return Recording(
            _Picked(), self.fs, [self.channels[i] for i in idx], self.n_samples,
            muscles=[self.muscles[i] for i in idx],
            electrodes=[self.electrodes[i] for i in idx],
            channel_types=[self.channel_types[i] for i in idx],
            units=[self.units[i] for i in idx], meta=self.meta, path=self.path, format=self.format,
            files=self.files,
        )

    def pick_emg(self) -> "Recording":
        """The EMG channels only."""
        return self.pick([i for i, t in enumerate(self.channel_types) if t == "emg"])

    def set_muscles(self, muscles) -> "Recording":
        """Set muscles in place from one string (all channels) or a mapping channel → muscle; returns self."""
        self.muscles = resolve_muscles(self.channels, self.muscles, muscles)
        return self

    # ------------------------------------------------------------------ constructors / MNE
    @classmethod
    def from_array(cls, data_uv, fs: float, channels=None, muscles=None, electrodes=None,
                   channel_types=None, units=None, meta=None) -> "Recording":
        """A Recording over an in-memory array (n_channels, n_samples), EMG in µV."""
        data = np.asarray(data_uv)
        if data.ndim == 1:
            data = data[np.newaxis, :]
        if data.ndim != 2:
            raise ParameterError(f"data must be 1-D or 2-D (n_channels, n_samples); got shape {data.shape}")
        if not np.issubdtype(data.dtype, np.number):
            raise ParameterError(f"data must be numeric; got dtype {data.dtype}")
        if channels is None:
            channels = [f"EMG{i + 1}" for i in range(data.shape[0])]
        if len(channels) != data.shape[0]:
            raise ParameterError(
                f"{len(channels)} channel names for data with {data.shape[0]} rows; "
                "data must be (n_channels, n_samples)"
            )
        rec = cls(ArraySource(data), fs, channels, data.shape[1], electrodes=electrodes,
                  channel_types=channel_types, units=units, meta=meta, format="array")
        if muscles is not None:
            rec.set_muscles(muscles)
        return rec

    def to_mne(self):
        """This recording as an ``mne.io.RawArray`` (EMG as 'emg' in volts, auxiliary channels as 'misc')."""
        import mne

        data = self.get_data()
        scale = np.array([1e-6 if t == "emg" else 1.0 for t in self.channel_types])[:, None]
        ch_types = ["emg" if t == "emg" else "misc" for t in self.channel_types]
        info = mne.create_info(self.channels, self.fs, ch_types, verbose=False)
        raw = mne.io.RawArray(data * scale, info, verbose=False)
        raw.info["description"] = f"emgkit muscles: {dict(zip(self.channels, self.muscles))}"
        return raw

    @classmethod
    def from_mne(cls, raw, muscles=None) -> "Recording":
        """A Recording from an MNE Raw: 'emg' channels become EMG in µV, others auxiliary in SI units."""
        ch_types = raw.get_channel_types()
        types = ["emg" if t == "emg" else "misc" for t in ch_types]
        units = ["uV" if t == "emg" else "" for t in types]
        src = _MneSource(raw)
        rec = cls(src, raw.info["sfreq"], raw.ch_names, raw.n_times, channel_types=types, units=units,
                  meta={"mne_description": raw.info.get("description")},
                  path=(raw.filenames[0] if getattr(raw, "filenames", None) and raw.filenames[0] else None),
                  format="mne")
        if muscles is not None:
            rec.set_muscles(muscles)
        return rec


class _MneSource:
    def __init__(self, raw):
        self.raw = raw
        self.scale = np.array([1e6 if t == "emg" else 1.0 for t in raw.get_channel_types()])

    def read(self, start, stop, channel_indices):
        d = self.raw.get_data(picks=list(channel_indices), start=start, stop=stop)
        return d * self.scale[channel_indices][:, None]


def resolve_muscles(channels: Sequence[str], current: Sequence[str], override) -> list[str]:
    """Apply a ``muscles=`` override: None keeps ``current``; a string sets all; a mapping sets named channels."""
    if override is None:
        return list(current)
    if isinstance(override, str):
        return [override] * len(channels)
    if isinstance(override, Mapping):
        unknown = [k for k in override if k not in channels]
        if unknown:
            raise ParameterError(
                f"muscles= names channels that do not exist: {', '.join(map(str, unknown))}; "
                f"channels are {', '.join(channels[:20])}"
            )
        return [str(override.get(c, m)) for c, m in zip(channels, current)]
    out = [str(m) for m in override]
    if len(out) != len(channels):
        raise ParameterError(f"muscles= has {len(out)} entries for {len(channels)} channels")
    return out
