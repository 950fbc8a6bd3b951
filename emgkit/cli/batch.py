"""``emgkit batch INPUT... --out DIR``: detect in many recordings; per-file results and one combined summary.

Examples::

    emgkit batch sample_data --out results
    emgkit batch ../shared/data/emglab-N2001 --pattern 'N2001A*' --out results --jobs 2
    emgkit batch study/ --out results --dask local --jobs 4 --params strict.toml
    emgkit batch study/ --out results --dask tcp://scheduler:8786 --continue-on-error

Writes ``DIR/<stem>.result.h5``, ``DIR/<stem>_tables/*.csv`` and ``DIR/<stem>.report.html``
per recording, and ``DIR/summary.csv`` (one row per file x muscle), ``DIR/errors.csv``
and ``DIR/index.html``. Exit status: 0 when every file succeeded; 1 when any failed
(0 with ``--continue-on-error``); 2 for usage errors (no recordings, bad parameters).
"""
from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("batch", help="detect in many recordings (folders searched recursively); combined summary",
                       description="Run the detector on every recording in the inputs and write per-file results, "
                                   "reports and a combined summary.csv / index.html.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="recording files or folders (searched recursively)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created when missing)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="worker processes (default 1); with --dask local, the number of Dask workers")
    p.add_argument("--dask", metavar="SCHEDULER", help="run on Dask: a scheduler address or 'local' "
                                                       "(pip install 'emgkit[dask]')")
    p.add_argument("--pattern", metavar="GLOB", help="only files (in folders) whose name or relative path matches")
    p.add_argument("--params", metavar="TOML", help="detection parameters (TOML file)")
    p.add_argument("--continue-on-error", action="store_true",
                   help="exit 0 even when some files failed (they are listed in errors.csv)")
    p.add_argument("--no-plots", action="store_true", help="leave plots out of the HTML reports (faster)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run)


def run(args) -> int:
    import os
    import sys

    import logging

    from ..batch import BatchError, _naming_file, run_batch

    if args.dask and not getattr(args, "verbose", False):
        try:
            import distributed  # noqa: F401  (it sets its loggers' levels on import)
        except ImportError:
            pass  # run_batch says how to install it
        logging.getLogger("distributed").setLevel(logging.WARNING)  # its INFO lines would bury the progress

    def progress(record, done, total):
        width = len(str(total))
        if record["ok"]:
            n = len(record["summary"])
            line = f"[{done:>{width}}/{total}] {record['file']}: ok, {n} muscle(s), {record['seconds']:.1f} s"
        else:
            line = f"[{done:>{width}}/{total}] FAILED: {_naming_file(record)}"
        if not args.quiet or not record["ok"]:
            print(line, file=sys.stdout if record["ok"] else sys.stderr, flush=True)

    try:
        summary = run_batch(args.inputs, args.out, params=args.params, jobs=args.jobs, scheduler=args.dask,
                            continue_on_error=args.continue_on_error, pattern=args.pattern,
                            plots=not args.no_plots, progress=progress)
        failed = False
    except BatchError as exc:
        summary, failed = exc.summary, True
        print(f"emgkit batch: {exc}", file=sys.stderr)
    if not args.quiet:
        n_files = summary["file"].nunique() if len(summary) else 0
        print(f"{n_files} file(s) analysed; summary: {os.path.join(args.out, 'summary.csv')}, "
              f"index: {os.path.join(args.out, 'index.html')}, failures: {os.path.join(args.out, 'errors.csv')}")
    return 1 if failed else 0
