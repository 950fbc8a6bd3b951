"""OT Bioelettronica native archives: ``.otb+`` / ``.otb`` (OT BioLab+) and ``.otb4`` (OT BioLab+ 4 / Novecento+).

Both are tar archives (formats.md §3.3; structure cross-checked with the public
readers hdsemg-shared ``fileio/otb_plus_file_io.py`` / ``otb_4_file_io.py`` and
muniverse ``utils/_otb_io.py``):

``.otb+`` / ``.otb``
    ``<trial>.sig``: signed integers, int16 when ``ad_bits`` is 16 else int32,
    sample-interleaved over ``DeviceTotalChannels`` (frame = one sample of every
    device channel). ``<trial>.xml``: root attributes ``Name`` (device),
    ``SampleFrequency``, ``ad_bits``, ``DeviceTotalChannels``; children
    ``<Channels><Adapter ID Description Gain ChannelStartIndex><Channel Index ID
    Description Muscle [Gain]/>``. Optional auxiliary tracks ``<name>.sip``
    (float64 samples, already physical) + ``<name>.pro`` (XML with
    ``unity_of_measurement``, ``fsample``, ``title``).
    Scale: ``mV = adu * PowerSupply * 1000 / (2**ad_bits * gain)`` with
    ``gain = adapter gain * channel gain`` (``POWER_SUPPLY_V`` per device).

``.otb4``
    ``Tracks_000.xml`` with ``<TrackInfo>`` entries (``Device``, ``Gain``,
    ``ADC_Nbits``, ``ADC_Range``, ``SamplingFrequency``, ``SignalStreamPath``,
    ``NumberOfChannels``, ``SubTitle`` = grid). Each ``.sig`` is interleaved over
    the channels of the tracks that name it; int32 for Novecento+ (or
    ``ADC_Nbits`` > 16), else int16. Scale: ``mV = adu * ADC_Range / 2**ADC_Nbits
    * 1000 / Gain``.

Samples are read lazily: for an uncompressed tar the ``.sig`` member's byte
range is read with seek (only the frames asked for); a compressed archive is
decompressed into memory once on first data access.

This module also holds the geometry of OT electrode grids (``OT_GRIDS``,
``grid_electrode``), shared with the OT BioLab+ MATLAB export reader.
"""
from __future__ import annotations

import logging
import os
import re
import tarfile
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import FileFormatError, ParameterError, file_error
from ..recording import Electrode, Recording

logger = logging.getLogger("emgkit")

# --------------------------------------------------------------------------- grid geometry


@dataclass(frozen=True)
class GridSpec:
    """One OT electrode grid model.

    ``position(k)`` maps the 1-based channel number printed in OT software
    (``GR08MM1305 (k)``) to the 0-based (row, col) of the electrode on the grid,
    or None where the model's numbering is not known here.
    """

    code: str
    n_rows: int
    n_cols: int
    ied_mm: float
    n_electrodes: int
    position: Callable[[int], tuple[int, int]] | None


def _gr1305(k: int) -> tuple[int, int]:
    # GR04/GR08MM1305: serpentine numbering down/up the 5 columns, the empty
    # electrode at row 0 of column 0. Source: openhdemg ``electrodes.sort_rawemg``
    # (orientation 180, its default; channel-order table in its docstring).
    if k <= 12:
        return k, 0
    if k <= 25:
        return 25 - k, 1
    if k <= 38:
        return k - 26, 2
    if k <= 51:
        return 51 - k, 3
    return k - 52, 4


def _hd1305(k: int) -> tuple[int, int]:
    # HD04/HD08MM1305: columns filled top to bottom, the empty electrode first
    # (openhdemg ``sort_rawemg``, orientation 180).
    return k % 13, k // 13


def _gr0808(k: int) -> tuple[int, int]:
    # GR10MM0808 / HD10MM0808: 8 per column, bottom to top (openhdemg ``sort_rawemg``, orientation 180).
    return 7 - (k - 1) % 8, (k - 1) // 8


def _hd0804(k: int) -> tuple[int, int]:
    # HD05/HD10MM0804: 8 per column, top to bottom (openhdemg ``sort_rawemg``, orientation 180).
    return (k - 1) % 8, (k - 1) // 8


#: OT grid models: rows x cols, inter-electrode distance, electrode count
#: (IED and counts: openhdemg ``electrodes.OTBelectrodes_ied`` / ``_Nelectrodes``).
OT_GRIDS: dict[str, GridSpec] = {
    g.code: g for g in (
        GridSpec("GR04MM1305", 13, 5, 4.0, 64, _gr1305),
        GridSpec("GR08MM1305", 13, 5, 8.0, 64, _gr1305),
        GridSpec("HD04MM1305", 13, 5, 4.0, 64, _hd1305),
        GridSpec("HD08MM1305", 13, 5, 8.0, 64, _hd1305),
        GridSpec("GR10MM0808", 8, 8, 10.0, 64, _gr0808),
        GridSpec("HD10MM0808", 8, 8, 10.0, 64, _gr0808),
        GridSpec("HD05MM0804", 8, 4, 5.0, 32, _hd0804),
        GridSpec("HD10MM0804", 8, 4, 10.0, 32, _hd0804),
        GridSpec("GR10MM0804", 8, 4, 10.0, 32, None),
        GridSpec("GR100ML1305", 13, 5, 2.5, 64, None),
    )
}

_GRID_CODE = re.compile(r"\b((?:GR|HD)\d{2,3}M[ML]\d{4})\b", re.IGNORECASE)


def find_grid_code(text: str | None) -> str | None:
    """The OT grid code (e.g. ``GR08MM1305``) named in free text, or None."""
    m = _GRID_CODE.search(text or "")
    return m.group(1).upper() if m else None


def grid_electrode(code: str, k: int | None) -> Electrode:
    """The ``hd_grid`` Electrode of channel ``k`` (1-based, as OT numbers it) on grid ``code``.

    Row/col/x/y are filled where the model's numbering is known (``OT_GRIDS``);
    otherwise only the grid name (and the IED parsed from the code) is kept.
    """
    spec = OT_GRIDS.get(code.upper())
    if spec is None:
        m = re.match(r"(?:GR|HD)(\d{2})MM", code.upper())
        return Electrode("hd_grid", grid=code.upper(), ied_mm=float(m.group(1)) if m else None)
    if spec.position is None or k is None or not 1 <= k <= spec.n_electrodes:
        return Electrode("hd_grid", grid=spec.code, ied_mm=spec.ied_mm)
    row, col = spec.position(k)
    return Electrode("hd_grid", grid=spec.code, row=row, col=col,
                     x_mm=col * spec.ied_mm, y_mm=row * spec.ied_mm, ied_mm=spec.ied_mm)


# --------------------------------------------------------------------------- scaling

#: Amplifier supply voltage (V) per device, used as the ADC range in the OT
#: scale ``adu * PowerSupply * 1000 / (2**ad_bits * gain)``. Values as in the OT
#: MATLAB reference reader (``OpenOTBfilesConvFact.m``) and hdsemg-shared's port
#: of it: Quattrocento 5 V, Due/Due+/Quattro+ 3.3 V, Sessantaquattro/SyncStation/
#: Muovi 4.8 V. Devices not listed fall back to ``DEFAULT_POWER_SUPPLY_V`` (the
#: choice is recorded in ``rec.meta['otb_power_supply_v']``); override with
#: ``power_supply_v=``.
POWER_SUPPLY_V: dict[str, float] = {
    "QUATTROCENTO": 5.0,
    "QUATTRO+": 3.3,
    "DUE+": 3.3,
    "DUE": 3.3,
    "SESSANTAQUATTRO": 4.8,
    "SYNCSTATION": 4.8,
    "MUOVI": 4.8,
}
#: Supply assumed for a device not in ``POWER_SUPPLY_V`` (muniverse's choice for Quattrocento-class devices).
DEFAULT_POWER_SUPPLY_V = 5.0


def power_supply_for(device: str) -> tuple[float, bool]:
    """(supply in V, whether the device was recognised) for an OT device name."""
    name = (device or "").upper()
    # Longest names first so "DUE+" wins over "DUE" and "QUATTRO+" over nothing.
    for key in sorted(POWER_SUPPLY_V, key=len, reverse=True):
        if key in name:
            return POWER_SUPPLY_V[key], True
    return DEFAULT_POWER_SUPPLY_V, False


# --------------------------------------------------------------------------- archive access


class _Archive:
    """Random access to members of a tar archive (seek into the file when uncompressed)."""

    def __init__(self, path: str):
        self.path = path
        try:
            self._tar = tarfile.open(path, "r:*")
            self.members = {m.name.lstrip("./"): m for m in self._tar.getmembers() if m.isfile()}
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise file_error(path, f"is not a readable tar archive ({exc})",
                             "an OT .otb+/.otb/.otb4 file is a tar archive; was it renamed or truncated?") from None
        # An uncompressed tar keeps each member's bytes contiguous at offset_data.
        self.seekable = not _is_compressed(path)
        self._lock = threading.Lock()
        self._cache: dict[str, bytes] = {}

    def names(self, suffix: str) -> list[str]:
        return sorted(n for n in self.members if n.lower().endswith(suffix))

    def text(self, name: str) -> bytes:
        f = self._tar.extractfile(self.members[name])
        return f.read()

    def read_range(self, name: str, offset: int, size: int) -> bytes:
        member = self.members[name]
        if self.seekable:
            with self._lock, open(self.path, "rb") as fh:
                fh.seek(member.offset_data + offset)
                return fh.read(size)
        with self._lock:
            if name not in self._cache:
                self._cache[name] = self._tar.extractfile(member).read()
        return self._cache[name][offset:offset + size]


def _is_compressed(path: str) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(6)
    return head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00"


def _parse_xml(archive: _Archive, name: str) -> ET.Element:
    try:
        return ET.fromstring(archive.text(name))
    except ET.ParseError as exc:
        raise file_error(archive.path, f"member {name!r} is not valid XML ({exc})") from None


# --------------------------------------------------------------------------- sources


@dataclass
class _SigBlock:
    """One interleaved .sig member: which of its columns become which recording channels."""

    member: str
    dtype: np.dtype
    frame_channels: int
    columns: np.ndarray  # column in the frame, per recording channel of this block
    scale: np.ndarray  # µV (EMG) or physical unit per adu, per recording channel of this block
    first_channel: int  # index of this block's first channel in the recording


class _OtbSource:
    def __init__(self, archive: _Archive, blocks: list[_SigBlock], sips: list[tuple[str, int]], n_channels: int):
        self.archive = archive
        self.blocks = blocks
        self.sips = sips  # (member, recording channel index) of float64 aux tracks
        self.n_channels = n_channels

    def read(self, start, stop, channel_indices):
        out = np.empty((len(channel_indices), stop - start), dtype=np.float64)
        wanted = np.asarray(channel_indices)
        for blk in self.blocks:
            local = wanted - blk.first_channel
            sel = np.flatnonzero((local >= 0) & (local < blk.columns.size))
            if sel.size == 0:
                continue
            item = blk.dtype.itemsize
            frame = blk.frame_channels * item
            raw = self.archive.read_range(blk.member, start * frame, (stop - start) * frame)
            frames = np.frombuffer(raw, dtype=blk.dtype).reshape(stop - start, blk.frame_channels)
            cols = blk.columns[local[sel]]
            out[sel] = frames[:, cols].T * blk.scale[local[sel]][:, None]
        for member, ch in self.sips:
            sel = np.flatnonzero(wanted == ch)
            if sel.size:
                raw = self.archive.read_range(member, start * 8, (stop - start) * 8)
                out[sel] = np.frombuffer(raw, dtype="<f8")[None, :]
        return out


# --------------------------------------------------------------------------- readers


def _aux_type(text: str) -> str | None:
    from .edf import aux_type_from_text

    return aux_type_from_text(text)


def _float_attr(el: ET.Element, key: str, default=None, path=None) -> float:
    value = el.attrib.get(key)
    if value is None:
        if default is None:
            raise file_error(path, f"XML element <{el.tag}> lacks the {key!r} attribute")
        return default
    try:
        return float(value.replace(",", "."))
    except ValueError:
        raise file_error(path, f"XML attribute {key}={value!r} of <{el.tag}> is not a number") from None


def _member_samples(archive: _Archive, member: str, frame_bytes: int) -> int:
    size = archive.members[member].size
    if size % frame_bytes:
        raise file_error(archive.path,
                         f"member {member!r} holds {size} bytes, not a multiple of the frame size "
                         f"{frame_bytes} bytes (channels x bytes per sample)",
                         "the archive is truncated or its XML channel count is wrong",
                         cls=FileFormatError)
    return size // frame_bytes


def _read_otb_plus(path: str, archive: _Archive, power_supply_v: float | None) -> Recording:
    sigs = archive.names(".sig")
    if not sigs:
        raise file_error(path, "the archive holds no .sig member (raw samples)",
                         "is this an OT BioLab+ .otb+ file?")
    sig = sigs[0]
    stem = sig[:-4]
    xml_name = stem + ".xml"
    if xml_name not in archive.members:
        raise file_error(path, f"the archive holds {sig!r} but not its header {xml_name!r}")
    root = _parse_xml(archive, xml_name)
    device = root.attrib.get("Name", "")
    fs = _float_attr(root, "SampleFrequency", path=path)
    ad_bits = int(_float_attr(root, "ad_bits", 16.0, path))
    total = int(_float_attr(root, "DeviceTotalChannels", path=path))
    if total <= 0:
        raise file_error(path, f"DeviceTotalChannels is {total} in {xml_name!r}")
    dtype = np.dtype("<i2" if ad_bits <= 16 else "<i4")
    n_samples = _member_samples(archive, sig, total * dtype.itemsize)
    if power_supply_v is None:
        supply, known = power_supply_for(device)
    else:
        supply, known = float(power_supply_v), True

    channels, muscles, electrodes, types, units, columns, scales = [], [], [], [], [], [], []
    adapters_meta = []
    adapters = root.findall("./Channels/Adapter")
    if not adapters:
        raise file_error(path, f"{xml_name!r} has no <Channels><Adapter> elements (no channel description)")
    for ad in adapters:
        ad_id = ad.attrib.get("ID", "")
        ad_desc = ad.attrib.get("Description", "")
        ad_gain = _float_attr(ad, "Gain", 1.0, path)
        start_idx = int(_float_attr(ad, "ChannelStartIndex", 0.0, path))
        adapters_meta.append({"id": ad_id, "description": ad_desc, "gain": ad_gain, "start": start_idx})
        for ch in ad.findall("Channel"):
            index = int(_float_attr(ch, "Index", path=path))
            col = start_idx + index
            if not 0 <= col < total:
                raise file_error(path, f"channel {ch.attrib.get('ID', '?')} of adapter {ad_id!r} sits at "
                                       f"column {col}, outside the {total} device channels")
            gain = ad_gain * _float_attr(ch, "Gain", 1.0, path)
            if gain == 0:
                raise file_error(path, f"gain 0 for channel at column {col}")
            ch_id = ch.attrib.get("ID", "")
            ch_desc = ch.attrib.get("Description", "")
            muscle = ch.attrib.get("Muscle", "")
            muscle = "" if muscle.lower() in ("", "not defined") else muscle
            text = " ".join((ad_id, ad_desc, ch_id, ch_desc))
            aux = _aux_type(text)
            grid = find_grid_code(" ".join((ad_desc, ch_id, ch_desc)))
            mv_per_adu = supply * 1000.0 / (2 ** ad_bits * gain)
            if aux is None:
                types.append("emg")
                units.append("uV")
                scales.append(mv_per_adu * 1000.0)
                electrodes.append(grid_electrode(grid, index + 1) if grid else Electrode("unknown"))
            else:
                types.append(aux)
                units.append("mV")  # adapter output voltage; its transducer calibration is not in the XML
                scales.append(mv_per_adu)
                electrodes.append(Electrode("unknown"))
            name = f"{ch_id or ad_id or 'ch'}-{index + 1}" if grid or not ch_id else ch_id
            channels.append(name)
            muscles.append(muscle)
            columns.append(col)
    blocks = [_SigBlock(sig, dtype, total, np.asarray(columns), np.asarray(scales, dtype=np.float64), 0)]

    # Auxiliary float64 tracks (.sip + .pro).
    sips = []
    aux_notes = []
    for sip in archive.names(".sip"):
        pro = sip[:-4] + ".pro"
        title, unit, afs = os.path.basename(sip[:-4]), "", None
        if pro in archive.members:
            proot = _parse_xml(archive, pro)
            title = (proot.findtext(".//title") or title).strip()
            unit = (proot.findtext(".//unity_of_measurement") or "").strip()
            fs_text = proot.findtext(".//fsample")
            afs = float(fs_text) if fs_text else None
        n_aux = archive.members[sip].size // 8
        if (afs is not None and abs(afs - fs) > 1e-9) or n_aux < n_samples:
            aux_notes.append(f"{sip}: {n_aux} samples at {afs or '?'} Hz not at the EMG rate {fs:g} Hz; not read")
            continue
        sips.append((sip, len(channels)))
        channels.append(title)
        types.append(_aux_type(title) or "misc")
        units.append(unit)
        muscles.append("")
        electrodes.append(Electrode("unknown"))

    meta = {
        "device": device, "ad_bits": ad_bits, "device_total_channels": total,
        "otb_power_supply_v": supply, "otb_power_supply_assumed": not known,
        "adapters": adapters_meta, "trial": os.path.basename(stem),
    }
    if not known:
        logger.warning("%s: device %r has no known power supply; assuming %g V (pass power_supply_v=)",
                       path, device, supply)
    if aux_notes:
        meta["channels_not_read"] = aux_notes
    return Recording(_OtbSource(archive, blocks, sips, len(channels)), fs, channels, n_samples,
                     muscles=muscles, electrodes=electrodes, channel_types=types, units=units,
                     meta=meta, path=path, format="otb")


def _child_text(el: ET.Element, tag: str, path, required=True):
    value = el.findtext(tag)
    if value is None and required:
        raise file_error(path, f"<TrackInfo> lacks <{tag}> in Tracks_000.xml")
    return value.strip() if value is not None else None


def _child_float(el: ET.Element, tag: str, path, default=None) -> float:
    value = _child_text(el, tag, path, required=default is None)
    if value is None:
        return default
    try:
        return float(value.replace(",", "."))
    except ValueError:
        raise file_error(path, f"<{tag}>{value}</{tag}> in Tracks_000.xml is not a number") from None


def _read_otb4(path: str, archive: _Archive) -> Recording:
    root = _parse_xml(archive, "Tracks_000.xml")
    tracks = root.findall(".//TrackInfo")
    if not tracks:
        raise file_error(path, "Tracks_000.xml has no <TrackInfo> entries")
    sigs = archive.names(".sig")
    if not sigs:
        raise file_error(path, "the archive holds no .sig member (raw samples)")
    info = []
    for tr in tracks:
        info.append({
            "device": _child_text(tr, "Device", path, required=False) or "",
            "gain": _child_float(tr, "Gain", path, 1.0),
            "bits": int(_child_float(tr, "ADC_Nbits", path, 16.0)),
            "range": _child_float(tr, "ADC_Range", path),
            "fs": _child_float(tr, "SamplingFrequency", path),
            "stream": _child_text(tr, "SignalStreamPath", path, required=False) or "",
            "n": int(_child_float(tr, "NumberOfChannels", path)),
            "title": _child_text(tr, "Title", path, required=False) or "",
            "subtitle": _child_text(tr, "SubTitle", path, required=False) or "",
        })
    # Tracks without a stream path share the first .sig (standard OTB4 files).
    by_member: dict[str, list[dict]] = {}
    for tr in info:
        member = tr["stream"] if tr["stream"] in archive.members else None
        if member is None:
            matches = [s for s in sigs if os.path.basename(s) == os.path.basename(tr["stream"])]
            member = matches[0] if matches else sigs[0]
        by_member.setdefault(member, []).append(tr)
    fs_values = {tr["fs"] for tr in info}
    fs = info[0]["fs"]

    channels, muscles, electrodes, types, units = [], [], [], [], []
    blocks: list[_SigBlock] = []
    lengths, notes = [], []
    for member, trs in by_member.items():
        wide = any(t["bits"] > 16 or "NOVECENTO" in t["device"].upper() for t in trs)
        dtype = np.dtype("<i4" if wide else "<i2")
        frame_ch = sum(t["n"] for t in trs)
        n = _member_samples(archive, member, frame_ch * dtype.itemsize)
        if any(t["fs"] != fs for t in trs):
            notes.append(f"{member}: sampled at {sorted({t['fs'] for t in trs})} Hz, not {fs:g} Hz; not read")
            continue
        cols, scales = [], []
        first = len(channels)
        col = 0
        for tr in trs:
            if tr["gain"] == 0:
                raise file_error(path, f"track {tr['title'] or tr['subtitle']!r} has gain 0")
            mv = tr["range"] / 2 ** tr["bits"] * 1000.0 / tr["gain"]
            label = tr["subtitle"] or tr["title"] or os.path.basename(member)
            grid = find_grid_code(tr["subtitle"] + " " + tr["title"])
            aux = None if grid else _aux_type(tr["title"] + " " + tr["subtitle"])
            for c in range(tr["n"]):
                cols.append(col + c)
                channels.append(f"{label}-{c + 1}")
                muscles.append("")
                if aux is None:
                    types.append("emg")
                    units.append("uV")
                    scales.append(mv * 1000.0)
                    electrodes.append(grid_electrode(grid, c + 1) if grid else Electrode("unknown"))
                else:
                    types.append(aux)
                    units.append("mV")
                    scales.append(mv)
                    electrodes.append(Electrode("unknown"))
            col += tr["n"]
        blocks.append(_SigBlock(member, dtype, frame_ch, np.asarray(cols), np.asarray(scales, dtype=np.float64), first))
        lengths.append(n)
    if not blocks:
        raise file_error(path, "no .sig stream at a common sampling rate could be read: " + "; ".join(notes))
    n_samples = min(lengths)
    if len(set(lengths)) > 1:
        notes.append(f"streams hold {sorted(set(lengths))} samples; the recording keeps the shortest ({n_samples})")
    meta = {"device": info[0]["device"], "tracks": info}
    if len(fs_values) > 1 or notes:
        meta["channels_not_read"] = notes
    return Recording(_OtbSource(archive, blocks, [], len(channels)), fs, channels, n_samples,
                     muscles=muscles, electrodes=electrodes, channel_types=types, units=units,
                     meta=meta, path=path, format="otb")


def read(path, *, power_supply_v: float | None = None) -> Recording:
    """Read an OT Bioelettronica ``.otb+`` / ``.otb`` / ``.otb4`` archive.

    Parameters
    ----------
    path : path-like
    power_supply_v : float, optional
        ADC supply voltage for ``.otb+`` scaling when the device is not in
        ``POWER_SUPPLY_V`` (or to override it).

    EMG channels come back in µV with grid geometry where the adapter/channel
    description names an OT grid; adapter channels naming force/torque/aux
    inputs are auxiliary (in mV at the adapter input); ``.sip`` tracks keep
    their own unit.
    """
    path = os.fspath(path)
    if power_supply_v is not None and not (np.isfinite(power_supply_v) and power_supply_v > 0):
        raise ParameterError(f"power_supply_v (V) must be a positive number; got {power_supply_v}")
    archive = _Archive(path)
    if "Tracks_000.xml" in archive.members:
        return _read_otb4(path, archive)
    return _read_otb_plus(path, archive, power_supply_v)
