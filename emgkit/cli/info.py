"""``emgkit info FILE``: show what a recording holds (rate, duration, channels, muscles, header).

Example::

    emgkit info ../shared/data/emglab-R001/R00108.hea
    emgkit info recording.csv --fs 2000
"""
from __future__ import annotations

import json


def add_parser(sub):
    p = sub.add_parser("info", help="show a recording's header: rate, duration, channels, muscles")
    p.add_argument("file")
    p.add_argument("--format", help="force a reader (see 'emgkit formats')")
    p.add_argument("--fs", type=float, help="sampling rate (Hz) for formats whose files lack it")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..io import read

    options = {"fs": args.fs} if args.fs else {}
    rec = read(args.file, format=args.format, **options)
    info = {
        "file": rec.path, "format": rec.format, "fs_hz": rec.fs, "n_samples": rec.n_samples,
        "duration_s": round(rec.duration, 6), "n_channels": rec.n_channels,
        "n_emg_channels": len(rec.emg_channels), "electrode": rec.electrode_kind,
        "channels": [
            {"name": c, "type": t, "muscle": m, "unit": u, "electrode": e.kind}
            for c, t, m, u, e in zip(rec.channels, rec.channel_types, rec.muscles, rec.units, rec.electrodes)
        ],
        "meta": {k: (v if isinstance(v, (str, int, float, bool, type(None))) else str(v)) for k, v in rec.meta.items()},
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{rec.path}  [{rec.format}]")
    print(f"  {rec.n_channels} channels ({info['n_emg_channels']} EMG), {rec.n_samples} samples "
          f"at {rec.fs:g} Hz = {rec.duration:.3f} s, electrode {info['electrode']}")
    shown = info["channels"][:16]
    for ch in shown:
        print(f"  {ch['name']:<24} {ch['type']:<14} {ch['unit']:<6} {ch['muscle']}")
    if len(info["channels"]) > len(shown):
        print(f"  ... {len(info['channels']) - len(shown)} more channels")
    for k, v in info["meta"].items():
        print(f"  {k}: {v}")
    return 0
