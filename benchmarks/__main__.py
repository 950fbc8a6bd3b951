"""``python -m benchmarks [speed|accuracy|all] [--quick] [--out bench_out/]``: prints tables, writes JSON.

    python -m benchmarks --quick                 # small speed grid, < 1 min once data files exist
    python -m benchmarks speed --out bench_out/  # the full grid (writes ~3 GB of WFDB files once)
    python -m benchmarks accuracy --quick
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", nargs="?", default="speed", choices=("speed", "accuracy", "all"))
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--out", type=Path, default=Path("bench_out"), help="folder for the JSON report")
    parser.add_argument("--data", type=Path, default=None, help="folder caching the generated recordings")
    parser.add_argument("--cases", default=None, help="only cases whose name contains one of these comma-separated texts")
    parser.add_argument("--no-pipeline", action="store_true", help="skip emgkit.detect (kernels and baselines only)")
    parser.add_argument("--no-startup", action="store_true", help="skip the cold/warm start-up figures (cold compile takes ~30-60 s)")
    parser.add_argument("--baseline-span", type=float, default=600.0, help="seconds of data the baselines process")
    parser.add_argument("--shared-data", type=Path, default=None, help="shared/data folder (EMGLAB R00108)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from .data import default_data_dir

    data_dir = args.data or default_data_dir()
    report = dict(started=time.strftime("%Y-%m-%d %H:%M:%S"), quick=args.quick, python=sys.version.split()[0],
                  machine=platform.machine(), processor=platform.processor())
    try:
        import numba

        report["numba"] = numba.__version__
        report["threads"] = numba.config.NUMBA_NUM_THREADS
    except ImportError:
        pass
    if args.suite in ("speed", "all"):
        from .speed import format_report, run_speed

        report["speed"] = run_speed(args.quick, data_dir, pipeline=not args.no_pipeline,
                                    baseline_span_s=args.baseline_span, case_filter=args.cases,
                                    startup=not args.no_startup)
        print(format_report(report["speed"]))
    if args.suite in ("accuracy", "all"):
        from .accuracy import format_accuracy, run_accuracy

        shared = args.shared_data or Path(__file__).resolve().parents[2] / "shared" / "data"
        report["accuracy"] = run_accuracy(args.quick, shared if shared.is_dir() else None)
        print(format_accuracy(report["accuracy"]))
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"{args.suite}{'_quick' if args.quick else ''}_{time.strftime('%Y%m%d_%H%M%S')}.json"
    (args.out / name).write_text(json.dumps(report, indent=1, default=str))
    print(f"\nreport written to {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
