"""``emgkit detect FILE``: find spontaneous discharges and print the per-muscle summary.

Examples::

    emgkit detect ../shared/data/emglab-R001/R00108.hea
    emgkit detect recording.edf --muscles biceps --out result.h5 --report report.html
    emgkit detect grid.otb+ --params strict.toml --csv tables/ --plots figures/
    emgkit detect data.csv --fs 2000 --muscle-map ch1=biceps,ch2=triceps --quiet --out result.h5

The summary table is printed as soon as detection ends; the requested files are
written after it (each one atomically). ``--report`` writes HTML for ``.html``
and plain text for any other extension.
"""
from __future__ import annotations

import os
import sys
import time


def add_parser(sub):
    p = sub.add_parser("detect", help="detect spontaneous discharges in one recording and summarise them",
                       description="Detect fasciculations, doublets, multiplets, myokymic and neuromyotonic "
                                   "discharges in one recording; print the per-muscle summary.")
    p.add_argument("file", help="the recording (for WFDB, the .hea header)")
    p.add_argument("--params", metavar="TOML", help="detection parameters (TOML file; default: documented defaults)")
    p.add_argument("--format", help="force a reader (see 'emgkit formats')")
    p.add_argument("--fs", type=float, metavar="HZ", help="sampling rate for formats whose files lack it")
    muscles = p.add_mutually_exclusive_group()
    muscles.add_argument("--muscles", metavar="NAME", help="one muscle name for every channel")
    muscles.add_argument("--muscle-map", metavar="CH=MUSCLE,...",
                         help="muscle per channel, e.g. ch1=biceps,ch2=triceps (others keep the file's names)")
    p.add_argument("--out", metavar="RESULT.h5", help="write the result (HDF5, read with emgkit.load_result)")
    p.add_argument("--csv", metavar="DIR", help="write each table as DIR/<table>.csv")
    p.add_argument("--report", metavar="FILE", help="write a report: .html (self-contained) or text")
    p.add_argument("--plots", metavar="DIR", help="write raster/templates/rates PNGs to DIR (needs matplotlib)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run)


def parse_muscle_map(text: str) -> dict:
    """``"ch1=biceps,ch2=triceps"`` -> ``{"ch1": "biceps", "ch2": "triceps"}`` (ParameterError when malformed)."""
    from ..errors import ParameterError

    mapping = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        channel, sep, muscle = item.partition("=")
        if not sep or not channel.strip() or not muscle.strip():
            raise ParameterError(f"--muscle-map item {item!r} is not CHANNEL=MUSCLE "
                                 "(write e.g. --muscle-map ch1=biceps,ch2=triceps)")
        mapping[channel.strip()] = muscle.strip()
    if not mapping:
        raise ParameterError("--muscle-map is empty (write e.g. --muscle-map ch1=biceps,ch2=triceps)")
    return mapping


def _check_output_folder(path, what: str):
    import os

    from ..errors import ParameterError

    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ParameterError(f"{what} {path}: the folder {folder} does not exist (create it first)")


def run(args) -> int:
    from ..io import read

    say = (lambda *a, **k: None) if args.quiet else (lambda *a, **k: print(*a, **k, flush=True))
    # Fail on bad outputs and parameters before the (possibly long) detection.
    for path, what in ((args.out, "--out"), (args.report, "--report")):
        if path:
            _check_output_folder(path, what)
    if args.plots:
        from ..plots import PlotDependencyError, available

        if not available():
            raise PlotDependencyError("--plots needs matplotlib: pip install 'emgkit[plot]'")
    params = None
    if args.params:
        from ..detect.params import DetectionParams

        params = DetectionParams.from_toml(args.params)
    muscles = args.muscles or (parse_muscle_map(args.muscle_map) if args.muscle_map else None)
    options = {"fs": args.fs} if args.fs else {}

    t0 = time.perf_counter()
    rec = read(args.file, format=args.format, muscles=muscles, **options)
    say(f"{rec.path}  [{rec.format}]  {len(rec.emg_channels)} EMG channel(s), {rec.duration:.1f} s "
        f"at {rec.fs:g} Hz; detecting ...")

    from ..detect import detect

    result = detect(rec, params)
    elapsed = time.perf_counter() - t0
    if not args.quiet:
        from ..report import summary_text

        print(summary_text(result))
        print(f"({elapsed:.1f} s)", flush=True)

    from ..errors import ResultFileError

    try:
        written = _write_outputs(result, args)
    except ResultFileError:
        raise
    except OSError as exc:  # e.g. --csv names a file, a full disk, no permission
        raise ResultFileError(f"cannot write the outputs: {exc}") from exc
    for path in written:
        say(f"wrote {path}")
    sys.stdout.flush()
    return 0


def _write_outputs(result, args) -> list:
    written = []
    if args.out:
        written.append(result.save(args.out))
    if args.csv:
        from ..report import write_csv_atomic
        from ..results import TABLE_NAMES

        os.makedirs(args.csv, exist_ok=True)
        written += [write_csv_atomic(getattr(result, name), os.path.join(args.csv, f"{name}.csv"))
                    for name in TABLE_NAMES]
    pngs = None
    if args.plots:
        from ..plots import render, save_plots

        pngs = render(result)  # drawn once, saved and embedded in the report
        written += save_plots(result, args.plots, pngs=pngs)
    if args.report:
        from ..report import write_report

        written.append(write_report(result, args.report, pngs=pngs))
    return written
