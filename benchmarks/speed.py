"""Speed, memory and start-up benchmarks. Each measurement runs in its own subprocess (peak RSS per case).

Stages of the kernel chain (streamed in chunks, as the detector streams):
read (``emgkit.read`` → float32), filter (``filter_zero_phase``; ``filter_zero_phase_split``
below 8 channels, as the detector does), noise
(``noise_sigma``), peaks (``find_abs_peaks``). The whole pipeline is
``emgkit.detect(emgkit.read(path))`` with its ``provenance["timings"]``.
Baselines run on the same in-memory span in the same subprocess: scipy
(``sosfiltfilt`` + exact MAD + ``find_peaks`` per channel) and SpikeInterface
(``bandpass_filter`` + ``detect_peaks``, and ``detect_peaks`` alone), n_jobs=1.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .data import Case, ensure_file

THRESHOLD_SIGMAS = 5.0
EXCLUSION_S = 0.0006  # the detector's needle exclusion (0.6 ms); surface uses more — scan cost hardly depends on it


def grid(quick: bool) -> list[Case]:
    if quick:
        return [Case("needle", 1, 48000.0, 15.0), Case("hd", 64, 2048.0, 30.0),
                Case("needle", 1, 48000.0, 60.0, "rest"), Case("hd", 64, 2048.0, 60.0, "rest")]
    cases = [Case("needle", 1, fs, d) for fs in (10000.0, 24000.0, 48000.0) for d in (60.0, 600.0)]
    cases += [Case("needle", 1, 48000.0, 3600.0)]
    cases += [Case("hd", n, 2048.0, d) for n in (64, 128, 256) for d in (60.0, 600.0)]
    cases += [Case("hd", 64, 2048.0, 3600.0)]
    cases += [Case("needle", 1, 48000.0, d, "rest") for d in (60.0, 600.0, 3600.0)]
    cases += [Case("hd", 64, 2048.0, d, "rest") for d in (60.0, 600.0, 3600.0)]
    cases += [Case("hd", n, 2048.0, 600.0, "rest") for n in (128, 256)]
    return cases


def band_for(case: Case) -> tuple[float, float]:
    return (100.0, min(8000.0, 0.45 * case.fs)) if case.kind == "needle" else (20.0, 450.0)


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _warm_kernels():
    from emgkit.detect import dsp

    x = np.random.default_rng(0).normal(size=(5, 4096)).astype(np.float32)
    sos = dsp.design_sos(2048.0, (20, 450), 50)
    y = dsp.filter_zero_phase(x, sos)
    dsp.find_abs_peaks(y, dsp.noise_sigma(y) * 4, 2)


def _filter(x, sos, in_place=False):
    """The detector's filtering: whole rows on many channels, time pieces side by side on a few."""
    from emgkit.detect import dsp

    if x.shape[0] < 8:
        return dsp.filter_zero_phase_split(x, sos, pieces=max(2, 16 // x.shape[0]))
    return dsp.filter_zero_phase(x, sos, out=x if in_place else None)


# ----------------------------------------------------------------------------- child measurements
def child_kernels(path: str, chunk_values: int = 1 << 23) -> dict:
    """Streamed kernel chain over the whole file; seconds per stage."""
    import emgkit
    from emgkit.detect import dsp

    _warm_kernels()
    t = dict(read=0.0, filter=0.0, noise=0.0, peaks=0.0)
    t0 = time.perf_counter()
    rec = emgkit.read(path)
    t["read"] += time.perf_counter() - t0
    sos = dsp.design_sos(rec.fs, band_for(Case("needle" if rec.n_channels == 1 else "hd", 1, rec.fs, 1)), 50)
    margin = 4 * dsp.default_pad(sos) + int(rec.fs * 0.01)
    exclusion = max(1, int(round(EXCLUSION_S * rec.fs)))
    chunk = max(4 * margin, chunk_values // rec.n_channels)
    n_peaks = 0
    chunks = rec.iter_chunks(chunk, margin, dtype=np.float32)
    while True:
        t0 = time.perf_counter()
        try:
            start, stop, left, raw = next(chunks)
        except StopIteration:
            break
        t1 = time.perf_counter()
        y = _filter(raw, sos, in_place=True)  # no second copy of the chunk
        t2 = time.perf_counter()
        sigma = dsp.noise_sigma(y)
        t3 = time.perf_counter()
        ch, s, v = dsp.find_abs_peaks(y, sigma * THRESHOLD_SIGMAS, exclusion, start=left, stop=left + stop - start)
        t4 = time.perf_counter()
        t["read"] += t1 - t0
        t["filter"] += t2 - t1
        t["noise"] += t3 - t2
        t["peaks"] += t4 - t3
        n_peaks += s.size
    total = sum(t.values())
    return dict(stages=t, total=total, n_peaks=n_peaks, size=rec.n_samples * rec.n_channels)


def child_pipeline(path: str) -> dict:
    import emgkit
    from emgkit.detect import detect  # not emgkit.detect: once the subpackage is imported that name is the module

    from .data import synthetic_recording

    # Steady state: a 3-s recording of the same layout first loads every kernel from numba's
    # cache (start-up is measured on its own).
    head = emgkit.read(path)
    t_warm = time.perf_counter()
    detect(synthetic_recording(Case("needle" if head.n_channels == 1 else "hd", head.n_channels, head.fs, 3.0, "rest")),
           hash_input=False)
    warm_up = time.perf_counter() - t_warm
    t0 = time.perf_counter()
    rec = emgkit.read(path)
    result = detect(rec)
    total = time.perf_counter() - t0
    timings = dict(getattr(result, "provenance", {}).get("timings", {}))
    n = len(getattr(result, "discharges", []))
    return dict(stages=timings, total=total, n_discharges=n, size=rec.n_samples * rec.n_channels, warm_up_s=warm_up)


def child_baselines(path: str, span_s: float) -> dict:
    """emgkit kernels vs scipy vs SpikeInterface on the same in-memory float32 span."""
    import emgkit
    from scipy import signal
    from emgkit.detect import dsp

    _warm_kernels()
    rec = emgkit.read(path)
    n = min(rec.n_samples, int(span_s * rec.fs))
    x = rec.get_data(0, n, dtype=np.float32)
    band = band_for(Case("needle" if rec.n_channels == 1 else "hd", 1, rec.fs, 1))
    sos = dsp.design_sos(rec.fs, band, 50)
    exclusion = max(1, int(round(EXCLUSION_S * rec.fs)))
    out = dict(size=x.size, span_s=n / rec.fs)

    def best(fn, repeat=2):
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            r = fn()
            times.append(time.perf_counter() - t)
        return min(times), r

    tf, y = best(lambda: _filter(x, sos))
    tn, sigma = best(lambda: dsp.noise_sigma(y))
    tp, _ = best(lambda: dsp.find_abs_peaks(y, sigma * THRESHOLD_SIGMAS, exclusion))
    out["emgkit"] = dict(filter=tf, noise=tn, peaks=tp, total=tf + tn + tp)
    tk, _ = best(lambda: dsp.find_abs_peaks(y, sigma * THRESHOLD_SIGMAS, exclusion), repeat=5)
    out["emgkit_scan_known_thresholds"] = tk

    def scipy_chain():
        t0 = time.perf_counter()
        yy = signal.sosfiltfilt(sos, x, axis=-1, padtype="odd")
        t1 = time.perf_counter()
        mads = np.median(np.abs(yy - np.median(yy, axis=1, keepdims=True)), axis=1) / dsp.MAD_TO_SIGMA
        t2 = time.perf_counter()
        for c in range(yy.shape[0]):
            signal.find_peaks(np.abs(yy[c]), height=mads[c] * THRESHOLD_SIGMAS, distance=exclusion + 1)
        t3 = time.perf_counter()
        return dict(filter=t1 - t0, noise=t2 - t1, peaks=t3 - t2, total=t3 - t0)

    out["scipy"] = scipy_chain()
    out["scipy_rss_mb"] = _max_rss_mb()
    try:
        import spikeinterface.core as sic
        import spikeinterface.preprocessing as spre
        from spikeinterface.sortingcomponents.peak_detection import detect_peaks
    except ImportError as err:
        out["spikeinterface"] = dict(skipped=f"spikeinterface not installed ({err}); pip install 'emgkit[bench]'")
        return out
    try:
        import logging

        logging.getLogger("spikeinterface").setLevel(logging.ERROR)
        lo, hi = band
        job = dict(n_jobs=1, chunk_duration="1s", progress_bar=False)

        def si_record(traces):
            r = sic.NumpyRecording([np.ascontiguousarray(traces.T)], sampling_frequency=rec.fs)
            r.set_dummy_probe_from_locations(np.c_[np.arange(r.get_num_channels()) * 8.0, np.zeros(r.get_num_channels())])
            return r

        def si_bandpass(r):
            try:  # SI >= 0.101 refuses low cut-offs unless told (chunk edge effects; a 1 s chunk here)
                return spre.bandpass_filter(r, freq_min=lo, freq_max=hi, ignore_low_freq_error=True)
            except TypeError:
                return spre.bandpass_filter(r, freq_min=lo, freq_max=hi)

        def si_detect(r):
            return detect_peaks(r, method="by_channel", method_kwargs=dict(peak_sign="both", detect_threshold=THRESHOLD_SIGMAS,
                                exclude_sweep_ms=EXCLUSION_S * 1000), job_kwargs=job)

        small = si_record(x[:, : int(rec.fs)])
        si_detect(si_bandpass(small))  # compile SI's numba outside the timing
        raw_rec, filt_rec = si_record(x), si_record(y)
        t0 = time.perf_counter()
        si_detect(si_bandpass(raw_rec))
        t1 = time.perf_counter()
        si_detect(filt_rec)
        t2 = time.perf_counter()
        import spikeinterface

        out["spikeinterface"] = dict(filter_detect=t1 - t0, detect=t2 - t1, version=spikeinterface.__version__)
    except Exception as err:  # a baseline failing must not sink the run
        out["spikeinterface"] = dict(skipped=f"{type(err).__name__}: {err}")
    return out


def child_bandwidth(n_values: int = 1 << 26) -> dict:
    import numba
    from ._probe import stream_sum

    a = np.ones(n_values, np.float32)
    stream_sum(a[:1024])
    res = {}
    for threads in (1, 2):
        if threads > numba.config.NUMBA_NUM_THREADS:
            continue
        numba.set_num_threads(threads)
        best = min(_timed(stream_sum, a) for _ in range(5))
        res[f"threads_{threads}"] = a.size / best
    return res


def _timed(fn, *args):
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def child_startup() -> dict:
    t0 = time.perf_counter()
    import emgkit  # noqa: F401

    t1 = time.perf_counter()
    _warm_kernels()
    # Every kernel the detector uses: a 3-s surface and a 3-s needle recording through emgkit.detect.
    from emgkit.detect import detect

    from .data import synthetic_recording

    for case in (Case("hd", 16, 2048.0, 3.0, "rest"), Case("needle", 1, 48000.0, 3.0, "rest")):
        detect(synthetic_recording(case), hash_input=False)
    t2 = time.perf_counter()
    return dict(import_s=t1 - t0, first_kernels_s=t2 - t1)


CHILDREN = dict(kernels=child_kernels, pipeline=child_pipeline, baselines=child_baselines,
                bandwidth=child_bandwidth, startup=child_startup)


def child_main(argv: list[str]) -> None:
    mode, kwargs = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    try:
        result = CHILDREN[mode](**kwargs)
    except Exception as err:
        result = dict(error=f"{type(err).__name__}: {err}")
    result["max_rss_mb"] = _max_rss_mb()
    print("BENCH-RESULT " + json.dumps(result))


def run_child(mode: str, env: dict | None = None, timeout: float = 3600, **kwargs) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.speed", mode, json.dumps(kwargs)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=Path(__file__).resolve().parents[1])
    wall = time.perf_counter() - t0
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH-RESULT "):
            result = json.loads(line[len("BENCH-RESULT "):])
            result["process_wall_s"] = wall
            return result
    return dict(error=f"exit {proc.returncode}: {proc.stderr.strip()[-800:]}", process_wall_s=wall)


# ----------------------------------------------------------------------------- suite
def startup_figures(data_dir: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="emgkit_numba_cache_") as cache:
        env = {"NUMBA_CACHE_DIR": cache}
        cold = run_child("startup", env=env)
        warm = run_child("startup", env=env)
    out = dict(cold=cold, warm=warm)
    try:
        import importlib

        importlib.import_module("emgkit.cli.detect")
        has_cli_detect = True
    except ImportError:
        has_cli_detect = False
    if has_cli_detect:
        path = ensure_file(Case("hd", 64, 2048.0, 60.0), data_dir)
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "emgkit", "detect", str(path), "--out", str(Path(tmp) / "r.h5")]
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            first = proc.stdout.readline()
            t_first = time.perf_counter() - t0
            proc.communicate(timeout=600)
        out["cli_detect_first_output_s"] = t_first
        out["cli_detect_first_line"] = first.strip()[:200]
        out["cli_detect_rc"] = proc.returncode
    else:
        out["cli_detect_first_output_s"] = None
        out["cli_detect_note"] = "emgkit detect CLI not available yet (no emgkit.cli.detect)"
    return out


def run_speed(quick: bool, data_dir: Path, pipeline: bool = True, baseline_span_s: float = 600.0,
              case_filter: str | None = None, startup: bool = True, log=print) -> dict:
    wanted = [w for w in (case_filter or "").split(",") if w]
    cases = [c for c in grid(quick) if not wanted or any(w in c.name for w in wanted)]
    report = dict(bandwidth=run_child("bandwidth"), cases=[])
    log(f"bandwidth: {report['bandwidth']}")
    for case in cases:
        path = ensure_file(case, data_dir)
        row = dict(case=case.name, n_channels=case.n_channels, fs=case.fs, duration_s=case.duration_s, size=case.size,
                   activity=case.activity,
                   file_bytes=os.path.getsize(path.with_suffix(".dat")))
        row["kernels"] = run_child("kernels", path=str(path))
        if pipeline:
            try:
                row["pipeline"] = run_child("pipeline", timeout=900, path=str(path))
            except subprocess.TimeoutExpired:
                row["pipeline"] = dict(error="emgkit.detect took over 900 s (stopped)")
        if case.duration_s == min(
                c.duration_s for c in cases
                if (c.kind, c.n_channels, c.fs, c.activity) == (case.kind, case.n_channels, case.fs, case.activity)):
            row["baselines"] = run_child("baselines", path=str(path), span_s=baseline_span_s)
        report["cases"].append(row)
        log(format_row(row))
    if startup:
        report["startup"] = startup_figures(data_dir)
    return report


# ----------------------------------------------------------------------------- table
def _rate(size, seconds):
    return size / seconds / 1e6 if seconds and seconds > 0 else float("nan")


def format_row(row: dict) -> str:
    k = row.get("kernels", {})
    s = f"{row['case']:<28} {row['size'] / 1e6:9.1f} M"
    if "error" in k:
        return s + f"  kernels failed: {k['error']}"
    st = k["stages"]
    s += "  read {:6.0f}  filter {:6.0f}  noise {:6.0f}  peaks {:6.0f}  chain {:6.0f} M/s  rss {:5.0f} MB".format(
        _rate(row["size"], st["read"]), _rate(row["size"], st["filter"]), _rate(row["size"], st["noise"]),
        _rate(row["size"], st["peaks"]), _rate(row["size"], k["total"]), k["max_rss_mb"])
    p = row.get("pipeline")
    if p:
        s += (f"  | pipeline failed: {p['error'][:120]}" if "error" in p else
              f"  | pipeline {_rate(row['size'], p['total']):6.1f} M/s ({p['total']:.1f} s) rss {p['max_rss_mb']:.0f} MB")
    return s


PIPELINE_STAGES = ("preprocess", "detect", "units", "segments", "patterns", "summary")


def format_pipeline(rows: list) -> list:
    """Seconds per emgkit.detect stage, and peak RSS against duration for each channel set-up."""
    done = [r for r in rows if r.get("pipeline") and "error" not in r["pipeline"]]
    if not done:
        return []
    lines = ["", "== emgkit.detect per stage (seconds; whole pipeline in M samples·channels/s) =="]
    lines.append(f"{'case':<28} " + " ".join(f"{s:>10}" for s in PIPELINE_STAGES) + f" {'total':>8} {'M/s':>7} {'RSS MB':>7}")
    for r in done:
        p = r["pipeline"]
        st = p.get("stages", {})
        lines.append(f"{r['case']:<28} " + " ".join(f"{st.get(s, float('nan')):10.2f}" for s in PIPELINE_STAGES)
                     + f" {p['total']:8.1f} {_rate(r['size'], p['total']):7.1f} {p['max_rss_mb']:7.0f}")
    setups = {}
    for r in done:
        setups.setdefault((r["case"].split("_")[0], r["n_channels"], r["fs"], r.get("activity", "dense")), []).append(r)
    growth = []
    for (kind, n_ch, fs, activity), rs in setups.items():
        if len(rs) < 2:
            continue
        rs = sorted(rs, key=lambda r: r["duration_s"])
        short, long = rs[0], rs[-1]
        growth.append(f"  {kind} {n_ch} ch {fs / 1000:g} kHz {activity}: " + ", ".join(
            f"{r['duration_s'] / 60:g} min {r['pipeline']['max_rss_mb']:.0f} MB" for r in rs)
            + f" -> {long['duration_s'] / short['duration_s']:.0f}x the duration, "
              f"{long['pipeline']['max_rss_mb'] / short['pipeline']['max_rss_mb']:.2f}x the peak RSS")
    if growth:
        lines += ["", "== Peak RSS of emgkit.detect against duration =="] + growth
    return lines


def format_report(report: dict) -> str:
    bw = report["bandwidth"]
    lines = ["", "== Streaming bandwidth (numba float32 sum) ==",
             "  " + "  ".join(f"{k}: {v / 1e9:.2f} G samples/s" for k, v in bw.items() if k.startswith("threads"))]
    bw_best = max([v for k, v in bw.items() if k.startswith("threads")], default=float("nan"))
    lines += ["", "== Speed per case (M samples·channels/s; kernels streamed from the file) =="]
    lines += [format_row(r) for r in report["cases"]]
    lines += format_pipeline(report["cases"])
    lines += ["", "== Same in-memory span: emgkit kernels vs baselines (seconds; ratio = baseline / emgkit) =="]
    for r in report["cases"]:
        b = r.get("baselines")
        if not b:
            continue
        if "error" in b:
            lines.append(f"{r['case']:<28} baselines failed: {b['error'][:200]}")
            continue
        e, sc, si = b["emgkit"], b["scipy"], b.get("spikeinterface", {})
        lines.append(f"{r['case']:<28} span {b['span_s']:.0f} s: emgkit {_rate(b['size'], e['total']):6.0f} M/s "
                     f"(filter {_rate(b['size'], e['filter']):.0f}, noise {_rate(b['size'], e['noise']):.0f}, "
                     f"peaks {_rate(b['size'], e['peaks']):.0f})")
        lines.append(f"{'':<28} scipy {_rate(b['size'], sc['total']):6.1f} M/s -> emgkit is {sc['total'] / e['total']:.1f}x "
                     f"(scipy filter {sc['filter'] / e['filter']:.1f}x, MAD {sc['noise'] / e['noise']:.1f}x, "
                     f"find_peaks {sc['peaks'] / e['peaks']:.1f}x); scipy peak RSS {b['scipy_rss_mb']:.0f} MB")
        if "skipped" in si:
            lines.append(f"{'':<28} SpikeInterface skipped: {si['skipped']}")
        elif si:
            lines.append(f"{'':<28} SpikeInterface {si['version']}: filter+detect {_rate(b['size'], si['filter_detect']):.1f} M/s "
                         f"-> emgkit chain {si['filter_detect'] / e['total']:.1f}x; detect_peaks alone "
                         f"{_rate(b['size'], si['detect']):.1f} M/s -> emgkit noise+peaks {si['detect'] / (e['noise'] + e['peaks']):.1f}x")
        scan = b["size"] / b["emgkit_scan_known_thresholds"]
        lines.append(f"{'':<28} scan with thresholds known {scan / 1e9:.2f} G/s = {scan / bw_best:.2f}x bandwidth")
    su = report.get("startup", {})
    if su:
        c, w = su.get("cold", {}), su.get("warm", {})
        lines += ["", "== Start-up (fresh NUMBA_CACHE_DIR, then the same again) =="]
        lines.append(f"  cold: import {c.get('import_s', float('nan')):.2f} s, all detector kernels (two 3-s detects) "
                     f"{c.get('first_kernels_s', float('nan')):.2f} s; warm: import {w.get('import_s', float('nan')):.2f} s, "
                     f"all detector kernels {w.get('first_kernels_s', float('nan')):.2f} s "
                     f"(process wall {w.get('process_wall_s', float('nan')):.2f} s)")
        if su.get("cli_detect_first_output_s") is not None:
            lines.append(f"  emgkit detect, 1-min 64-ch file, warm: first output after {su['cli_detect_first_output_s']:.2f} s")
        else:
            lines.append(f"  {su.get('cli_detect_note', '')}")
    return "\n".join(lines)


if __name__ == "__main__":
    child_main(sys.argv[1:])
