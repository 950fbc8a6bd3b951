"""``emgkit simulate``: write a simulated recording (with its ground truth beside it).

Examples::

    emgkit simulate --scenario isaacs --electrode needle --duration 30 --seed 1 --out isaacs.hea
    emgkit simulate --scenario als --electrode grid --duration 60 --out als.h5 --set snr_db=20 --no-artifacts
    emgkit simulate --muscle biceps=als --muscle fdi=benign --electrode bipolar --out arm.edf

The format follows the extension: ``.hea`` (WFDB), ``.edf``/``.bdf``, ``.h5`` (emgkit HDF5, truth inside);
for WFDB and EDF the truth is written to ``<stem>.truth.json``.
"""
from __future__ import annotations

import ast


def add_parser(sub):
    from ..simulate.params import ELECTRODES, SCENARIOS

    p = sub.add_parser("simulate", help="write a simulated recording of spontaneous activity with its ground truth")
    p.add_argument("--scenario", default="isaacs", choices=sorted(SCENARIOS), help="preset (default isaacs)")
    p.add_argument("--electrode", default="needle", choices=sorted(ELECTRODES), help="electrode (default needle)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--fs", type=float, help="sampling rate in Hz (default: the electrode's)")
    p.add_argument("--snr-db", type=float, help="unit peak-to-peak over background RMS, dB")
    p.add_argument("--muscle", action="append", metavar="NAME[=SCENARIO]",
                   help="a muscle (repeat for several); NAME=SCENARIO gives it its own preset")
    p.add_argument("--no-artifacts", action="store_true", help="no movement, pops, clipping or flat spans")
    p.add_argument("--set", action="append", default=[], metavar="PARAM=VALUE",
                   help="any simulation parameter, e.g. --set fasciculation_rate_hz=(0.1,0.5) --set mains_hz=60")
    p.add_argument("--out", required=True, help="output file: .hea, .edf, .bdf or .h5")
    p.set_defaults(func=run)


def _parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def run(args) -> int:
    from ..errors import ParameterError
    from ..simulate import save, simulate

    params = {}
    for item in args.set:
        if "=" not in item:
            raise ParameterError(f"--set expects PARAM=VALUE; got {item!r}")
        key, value = item.split("=", 1)
        params[key.strip()] = _parse_value(value.strip())
    if args.fs:
        params["fs"] = args.fs
    if args.snr_db is not None:
        params["snr_db"] = args.snr_db
    if args.no_artifacts:
        params["artifacts"] = False
    muscles = None
    if args.muscle:
        muscles = {}
        for item in args.muscle:
            name, _, scen = item.partition("=")
            muscles[name] = scen or args.scenario
    rec, truth = simulate(args.scenario, electrode=args.electrode, duration=args.duration, seed=args.seed,
                          muscles=muscles, **params)
    rec_path, truth_path = save(rec, truth, args.out)
    kinds = truth.events["kind"].value_counts().to_dict()
    print(f"wrote {rec_path} ({rec.n_channels} channels, {rec.duration:g} s at {rec.fs:g} Hz)")
    print(f"truth {truth_path}: {len(truth.discharges)} discharges, {len(truth.events)} events {kinds}")
    return 0
