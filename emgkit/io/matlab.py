"""MATLAB ``.mat`` recordings (v5 via scipy.io, v7.3 via h5py) in the layouts of public EMG datasets.

Layouts (formats.md §3.5, §3.8, §3.11), tried in this order unless ``variable=`` names the matrix:

- **DEMUSE**: ``SIG`` cell (grid rows x cols, one vector per electrode; empty cells are
  unused electrodes), ``fsamp``, ``IED`` (mm). Units: not stated by the format; µV assumed.
- **Ninapro**: ``emg`` (samples x channels) with ``stimulus``/``restimulus``/``repetition``/
  ``rerepetition`` label vectors, kept as ``trigger`` channels. The file holds no sampling
  rate: pass ``fs=`` (DB1 100 Hz, DB2/3/4/6/7 2000 Hz, DB5 200 Hz, DB8 1111 Hz). Units: V
  assumed (Delsys databases); DB1 is Otto Bock RMS-rectified output, not raw EMG (noted in
  ``meta`` when fs is 100 Hz), DB5 holds raw Myo counts.
- **CapgMyo**: ``data`` (samples x 128) with ``gesture``/``subject``/``trial``; normalised
  ±1 ↔ ±2.5 mV (so x2500 µV), 1000 Hz, 8 arrays of 8 x 2 electrodes.
- **Generic**: the first 2-D numeric matrix among ``data``/``emg``/``signal``/``Data``/``EMG``/
  ``SIG`` (or ``variable=``), sampling rate from ``fs``/``fsamp``/``Fs``/``SamplingFrequency``/...
  or ``fs=``; the longer axis is time unless ``channels_first=`` says otherwise. µV assumed
  unless ``units=``.

Laziness: a v7.3 file is HDF5, so a slice reads only that slice (h5py dataset slicing; h5py
sees MATLAB's column-major arrays transposed, so a MATLAB samples x channels matrix is a
channels x samples dataset). A v5 file cannot be sliced: the matrix is loaded once on the
first data access and cached; the header is read without loading it (``scipy.io.whosmat``).
"""
from __future__ import annotations

import logging
import os
import threading

import numpy as np

from ..errors import ParameterError, check_option, file_error
from ..recording import Electrode, Recording

logger = logging.getLogger("emgkit")

#: µV per unit for the ``units=`` option.
UNIT_TO_UV = {"uV": 1.0, "mV": 1e3, "V": 1e6}
#: Variable names holding a sampling rate, in order of preference.
FS_NAMES = ("fs", "fsamp", "Fs", "FS", "fsample", "SamplingFrequency", "sampling_frequency",
            "sampling_rate", "samplingRate", "srate", "sfreq", "Fsamp")
#: Variable names of a generic EMG matrix, in order of preference.
MATRIX_NAMES = ("data", "emg", "signal", "Data", "EMG", "SIG", "sig", "Signal", "signals")
#: Ninapro sampling rates per database (formats.md §3.8), for the fs= hint.
NINAPRO_RATES_HZ = {"DB1": 100, "DB2": 2000, "DB3": 2000, "DB4": 2000, "DB5": 200,
                    "DB6": 2000, "DB7": 2000, "DB8": 1111}
NINAPRO_LABELS = ("stimulus", "restimulus", "repetition", "rerepetition")
#: CapgMyo: ±1 in the file is ±2.5 mV (formats.md §3.11).
CAPGMYO_UV_PER_UNIT = 2500.0
CAPGMYO_FS_HZ = 1000.0

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


# --------------------------------------------------------------------------- file access


def mat_version(path) -> str | None:
    """``"v5"``, ``"v7.3"`` or None (not a MAT file) from the 128-byte header / HDF5 signature."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(128)
            fh.seek(512)
            sig512 = fh.read(8)
    except OSError:
        return None
    if head[:8] == _HDF5_SIGNATURE or sig512 == _HDF5_SIGNATURE:
        return "v7.3"
    if head.startswith(b"MATLAB 7.3 MAT-file"):
        return "v7.3"
    if head.startswith(b"MATLAB 5.0 MAT-file") or (len(head) == 128 and head[126:128] in (b"IM", b"MI")):
        return "v5"
    return None


class MatFile:
    """Uniform access to a MATLAB file's variables, v5 (scipy.io) or v7.3 (h5py).

    Shapes and loaded arrays are in MATLAB orientation (rows x cols as MATLAB shows them).
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self.version = mat_version(self.path)
        if self.version is None:
            raise file_error(self.path, "is not a MATLAB .mat file (no v5 header, no HDF5 signature)")
        self._cache: dict[str, object] = {}
        if self.version == "v5":
            import scipy.io

            try:
                whos = scipy.io.whosmat(self.path)
            except Exception as exc:  # scipy raises several types for corrupt files
                raise file_error(self.path, f"cannot read the MATLAB v5 header ({exc})") from None
            self._info = {name: (tuple(shape), cls) for name, shape, cls in whos}
        else:
            import h5py

            try:
                self._h5 = h5py.File(self.path, "r")
            except OSError as exc:
                raise file_error(self.path, f"cannot open the MATLAB v7.3 (HDF5) file ({exc})") from None
            self._info = {}
            for name, obj in self._h5.items():
                if name.startswith("#"):
                    continue
                cls = obj.attrs.get("MATLAB_class", b"")
                cls = cls.decode() if isinstance(cls, bytes) else str(cls)
                shape = tuple(reversed(obj.shape)) if isinstance(obj, h5py.Dataset) else ()
                if isinstance(obj, h5py.Group):
                    cls = cls or "struct"
                self._info[name] = (shape, cls)

    def names(self) -> list[str]:
        return list(self._info)

    def __contains__(self, name) -> bool:
        return name in self._info

    def shape(self, name) -> tuple:
        return self._info[name][0]

    def matlab_class(self, name) -> str:
        return self._info[name][1]

    def is_numeric_matrix(self, name) -> bool:
        shape, cls = self._info[name]
        return cls not in ("cell", "char", "struct", "object", "logical_cell") and len(shape) == 2 \
            and min(shape) >= 1 and max(shape) > 1

    def load(self, name):
        """The variable's value (numeric array in MATLAB orientation, str, or object array for cells)."""
        if name not in self._cache:
            if self.version == "v5":
                import scipy.io

                try:
                    value = scipy.io.loadmat(self.path, variable_names=[name])[name]
                except Exception as exc:
                    raise file_error(self.path, f"cannot load variable {name!r} ({exc})") from None
                if value.dtype.kind == "U":
                    value = "".join(np.atleast_1d(value).ravel().tolist())
            else:
                value = self._h5_value(self._h5[name])
            self._cache[name] = value
        return self._cache[name]

    def _h5_value(self, obj):
        import h5py

        if isinstance(obj, h5py.Group):
            return {k: self._h5_value(v) for k, v in obj.items()}
        cls = obj.attrs.get("MATLAB_class", b"")
        cls = cls.decode() if isinstance(cls, bytes) else str(cls)
        if obj.attrs.get("MATLAB_empty", 0):
            return np.zeros((0, 0))
        raw = obj[()]
        if cls == "char":
            return "".join(chr(c) for c in np.asarray(raw).T.ravel())
        if cls == "cell" or raw.dtype == h5py.ref_dtype:
            refs = np.asarray(raw).T  # MATLAB orientation
            out = np.empty(refs.shape, dtype=object)
            for idx in np.ndindex(refs.shape):
                out[idx] = self._h5_value(self._h5[refs[idx]])
            return out
        return np.asarray(raw).T

    def h5_dataset(self, name):
        """The h5py dataset of a v7.3 numeric variable (channels-major view of a MATLAB samples x channels matrix)."""
        return self._h5[name]

    def scalar(self, name) -> float | None:
        if name not in self._info:
            return None
        value = self.load(name)
        try:
            arr = np.asarray(value, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            return None
        return float(arr[0]) if arr.size == 1 else None


# --------------------------------------------------------------------------- sources


class _MatrixSource:
    """Channels of one numeric matrix: lazily sliced (v7.3) or loaded once and cached (v5)."""

    def __init__(self, mat: MatFile, name: str, time_axis: int, scale: np.ndarray, columns=None):
        self.mat = mat
        self.name = name
        self.time_axis = time_axis  # in MATLAB orientation
        self.scale = scale
        self.columns = columns  # channel -> index along the channel axis
        self._lock = threading.Lock()
        self._data = None

    def _channels_first(self):
        # Whole matrix as (channels, samples), loaded once (v5).
        with self._lock:
            if self._data is None:
                arr = np.asarray(self.mat.load(self.name))
                self._data = arr.T if self.time_axis == 0 else arr
            return self._data

    def read(self, start, stop, channel_indices):
        cols = np.asarray(channel_indices) if self.columns is None else self.columns[channel_indices]
        if self.mat.version == "v7.3":
            ds = self.mat.h5_dataset(self.name)
            # h5py wants increasing, unique indices; MATLAB time axis 0 is h5 axis 1.
            uniq, inverse = np.unique(cols, return_inverse=True)
            if self.time_axis == 0:
                block = ds[uniq.tolist(), start:stop]
            else:
                block = ds[start:stop, uniq.tolist()].T
            data = np.asarray(block, dtype=np.float64)[inverse]
        else:
            data = np.asarray(self._channels_first()[cols, start:stop], dtype=np.float64)
        return data * self.scale[channel_indices][:, None]


class _StackSource:
    """Several sources stacked channel-wise (EMG matrix + label vectors ...)."""

    def __init__(self, parts: list[tuple[object, int]]):
        self.parts = parts  # (source, n_channels)

    def read(self, start, stop, channel_indices):
        out = np.empty((len(channel_indices), stop - start), dtype=np.float64)
        idx = np.asarray(channel_indices)
        first = 0
        for src, n in self.parts:
            sel = np.flatnonzero((idx >= first) & (idx < first + n))
            if sel.size:
                out[sel] = src.read(start, stop, idx[sel] - first)
            first += n
        return out


class _ArrayListSource:
    """Channels held as separate in-memory vectors (DEMUSE SIG cells), loaded on first access."""

    def __init__(self, loader, scale: float):
        self.loader = loader
        self.scale = scale
        self._data = None
        self._lock = threading.Lock()

    def read(self, start, stop, channel_indices):
        with self._lock:
            if self._data is None:
                self._data = self.loader()
        return self._data[channel_indices, start:stop].astype(np.float64) * self.scale


# --------------------------------------------------------------------------- helpers


def _units_scale(units, default: str, path) -> tuple[float, str, bool]:
    """(µV per file unit, unit name, assumed?)."""
    if units is None:
        return UNIT_TO_UV[default], default, True
    check_option("units", units, tuple(UNIT_TO_UV))
    return UNIT_TO_UV[units], units, False


def _check_fs(fs, path) -> float:
    try:
        fs = float(fs)
    except (TypeError, ValueError):
        raise ParameterError(f"fs (Hz) must be a positive number; got {fs!r}") from None
    if not np.isfinite(fs) or fs <= 0:
        raise ParameterError(f"fs (Hz) must be a positive number; got {fs}")
    return fs


def _file_fs(mat: MatFile) -> tuple[float | None, str | None]:
    for name in FS_NAMES:
        if name in mat:
            value = mat.scalar(name)
            if value is not None and np.isfinite(value) and value > 0:
                return value, name
    return None, None


def _orient(shape: tuple, channels_first, path, name) -> int:
    """The MATLAB axis that is time."""
    if channels_first is None:
        return 0 if shape[0] >= shape[1] else 1
    return 1 if channels_first else 0


def _vector_length(mat: MatFile, name) -> int | None:
    shape = mat.shape(name)
    if len(shape) == 2 and min(shape) == 1:
        return max(shape)
    return None


class _VectorSource:
    def __init__(self, mat: MatFile, name: str):
        self.mat, self.name = mat, name

    def read(self, start, stop, channel_indices):
        v = np.asarray(self.mat.load(self.name), dtype=np.float64).ravel()
        return np.repeat(v[None, start:stop], len(channel_indices), axis=0)


# --------------------------------------------------------------------------- layouts


def _layout(mat: MatFile, variable) -> str:
    if variable is not None:
        return "generic"
    if "SIG" in mat and mat.matlab_class("SIG") == "cell":
        return "demuse"
    if "emg" in mat and any(n in mat for n in NINAPRO_LABELS):
        return "ninapro"
    if "data" in mat and "gesture" in mat and mat.is_numeric_matrix("data") and 128 in mat.shape("data"):
        return "capgmyo"
    return "generic"


def _read_matrix(mat: MatFile, name: str, *, fs, units, default_units, channels_first, path, layout,
                 prefix="EMG", labels=(), meta=None, electrodes=None):
    shape = mat.shape(name)
    if not mat.is_numeric_matrix(name):
        raise file_error(path, f"variable {name!r} is not a 2-D numeric matrix (shape {shape}, "
                               f"class {mat.matlab_class(name)})", "pass variable= naming the EMG matrix")
    time_axis = _orient(shape, channels_first, path, name)
    n_samples, n_ch = shape[time_axis], shape[1 - time_axis]
    if layout == "capgmyo" and units is None:
        scale, unit_name, assumed = CAPGMYO_UV_PER_UNIT, "normalised ±1 = ±2.5 mV", False
    else:
        scale, unit_name, assumed = _units_scale(units, default_units, path)
    channels = [f"{prefix}{i + 1}" for i in range(n_ch)]
    types = ["emg"] * n_ch
    units_out = ["uV"] * n_ch
    els = list(electrodes) if electrodes is not None else [Electrode("unknown")] * n_ch
    parts = [(_MatrixSource(mat, name, time_axis, np.full(n_ch, scale)), n_ch)]
    for label in labels:
        if label in mat and _vector_length(mat, label) == n_samples:
            parts.append((_VectorSource(mat, label), 1))
            channels.append(label)
            types.append("trigger")
            units_out.append("")
            els.append(Electrode("unknown"))
    meta = dict(meta or {})
    meta.update({"layout": layout, "variable": name, "mat_version": mat.version,
                 "file_units": unit_name, "units_assumed": assumed,
                 "variables": mat.names()})
    if assumed:
        logger.info("%s: %s units not stated in the file; assuming %s (pass units=)", path, name, unit_name)
    source = parts[0][0] if len(parts) == 1 else _StackSource(parts)
    return Recording(source, fs, channels, n_samples, electrodes=els, channel_types=types,
                     units=units_out, meta=meta, path=path, format="matlab")


def _capgmyo_electrodes(n_ch: int) -> list[Electrode]:
    # 8 arrays of 8 x 2 electrodes; channel order within an array assumed column-major
    # (8 down the first column, then the second) [formats.md §3.11, third-party loaders].
    out = []
    for i in range(n_ch):
        within = i % 16
        out.append(Electrode("hd_grid", grid=f"CapgMyo array {i // 16 + 1}", row=within % 8, col=within // 8))
    return out


def _read_demuse(mat: MatFile, *, fs, units, path) -> Recording:
    sig = mat.load("SIG")
    if not isinstance(sig, np.ndarray) or sig.dtype != object:
        raise file_error(path, "DEMUSE variable SIG is not a cell array")
    if fs is None:
        fs = mat.scalar("fsamp")
        if fs is None:
            raise file_error(path, "DEMUSE file lacks fsamp", "pass fs= (Hz)", cls=ParameterError)
    fs = _check_fs(fs, path)
    ied = mat.scalar("IED")
    sig = np.atleast_2d(sig)
    positions, vectors = [], []
    for c in range(sig.shape[1]):  # MATLAB column-major order, as DEMUSE numbers channels
        for r in range(sig.shape[0]):
            v = np.asarray(sig[r, c]).ravel()
            if v.size:
                positions.append((r, c))
                vectors.append(v)
    if not vectors:
        raise file_error(path, "DEMUSE SIG cell holds no signals")
    lengths = {v.size for v in vectors}
    if len(lengths) > 1:
        raise file_error(path, f"DEMUSE SIG vectors differ in length ({sorted(lengths)})")
    n_samples = lengths.pop()
    scale, unit_name, assumed = _units_scale(units, "uV", path)
    electrodes = [Electrode("hd_grid", grid="DEMUSE", row=r, col=c,
                            x_mm=c * ied if ied else None, y_mm=r * ied if ied else None, ied_mm=ied)
                  for r, c in positions]

    def loader():
        return np.vstack(vectors)

    meta = {"layout": "demuse", "mat_version": mat.version, "file_units": unit_name,
            "units_assumed": assumed, "ied_mm": ied, "grid_shape": tuple(sig.shape),
            "variables": mat.names()}
    for extra in ("MUPulses", "IPTs", "ref_signal"):
        if extra in mat:
            meta.setdefault("not_read", []).append(extra)
    return Recording(_ArrayListSource(loader, scale), fs, [f"R{r + 1}C{c + 1}" for r, c in positions],
                     n_samples, electrodes=electrodes, meta=meta, path=path, format="matlab")


def read(path, *, fs: float | None = None, variable: str | None = None, units: str | None = None,
         channels_first: bool | None = None) -> Recording:
    """Read a MATLAB v5 or v7.3 ``.mat`` recording (DEMUSE, Ninapro, CapgMyo or a generic matrix).

    Parameters
    ----------
    fs : float, optional
        Sampling rate (Hz); required when the file holds none (Ninapro).
    variable : str, optional
        Name of the EMG matrix (generic layout).
    units : {"uV", "mV", "V"}, optional
        Unit of the values in the file; default per layout (see module docstring).
    channels_first : bool, optional
        Orientation of a generic matrix; default: the longer axis is time.
    """
    path = os.fspath(path)
    if units is not None:
        check_option("units", units, tuple(UNIT_TO_UV))
    mat = MatFile(path)
    layout = _layout(mat, variable)
    if layout == "demuse":
        return _read_demuse(mat, fs=fs, units=units, path=path)

    if layout == "ninapro":
        if fs is None:
            rates = ", ".join(f"{db} {hz} Hz" for db, hz in NINAPRO_RATES_HZ.items())
            raise file_error(path, "Ninapro files hold no sampling rate",
                             f"pass fs= (Hz); Ninapro rates: {rates}", cls=ParameterError)
        fs = _check_fs(fs, path)
        meta = {"dataset": "Ninapro"}
        for key in ("subject", "exercise"):
            value = mat.scalar(key) if key in mat else None
            if value is not None:
                meta[key] = int(value)
        if fs == NINAPRO_RATES_HZ["DB1"]:
            meta["note"] = ("Ninapro DB1 (Otto Bock electrodes): 'emg' is the electrodes' RMS-rectified "
                            "output at 100 Hz, not raw EMG; spike detection does not apply")
        return _read_matrix(mat, "emg", fs=fs, units=units, default_units="V", channels_first=False,
                            path=path, layout="ninapro", labels=NINAPRO_LABELS, meta=meta)

    if layout == "capgmyo":
        fs = _check_fs(fs if fs is not None else CAPGMYO_FS_HZ, path)
        meta = {"dataset": "CapgMyo"}
        for key in ("gesture", "subject", "trial"):
            value = mat.scalar(key)
            if value is not None:
                meta[key] = int(value)
        shape = mat.shape("data")
        n_ch = shape[1 - _orient(shape, channels_first, path, "data")]
        return _read_matrix(mat, "data", fs=fs, units=units, default_units="uV", channels_first=channels_first,
                            path=path, layout="capgmyo", meta=meta, electrodes=_capgmyo_electrodes(n_ch))

    # Generic matrix.
    if variable is not None:
        if variable not in mat:
            raise file_error(path, f"no variable named {variable!r}; variables are {', '.join(mat.names())}",
                             cls=ParameterError)
        name = variable
    else:
        name = next((n for n in MATRIX_NAMES if n in mat and mat.is_numeric_matrix(n)), None)
        if name is None:
            raise file_error(path, f"no EMG matrix found among the variables {', '.join(mat.names()) or '(none)'}",
                             f"pass variable= naming the matrix (looked for {', '.join(MATRIX_NAMES)})")
    file_fs, fs_name = _file_fs(mat)
    if fs is None:
        if file_fs is None:
            raise file_error(path, "the file holds no sampling rate variable "
                                   f"({', '.join(FS_NAMES[:6])}, ...)", "pass fs= (Hz)", cls=ParameterError)
        fs = file_fs
    fs = _check_fs(fs, path)
    meta = {"fs_variable": fs_name} if fs_name and file_fs == fs else {}
    return _read_matrix(mat, name, fs=fs, units=units, default_units="uV", channels_first=channels_first,
                        path=path, layout="generic", meta=meta)


def sniff(path) -> bool:
    """True for any MATLAB file (the generic reader is the last .mat candidate)."""
    return mat_version(path) is not None
