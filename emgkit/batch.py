"""Detect spontaneous activity in many recordings: local processes or a Dask cluster.

::

    summary = emgkit.run_batch(["sample_data"], "results", jobs=2)
    summary = emgkit.run_batch(files, "results", scheduler="local")            # Dask LocalCluster
    summary = emgkit.run_batch(files, "results", scheduler="tcp://host:8786")  # running Dask scheduler

Inputs are files or folders; folders are searched recursively for every file a
reader handles (``emgkit.io.FORMATS``), leaving out data files that belong to a
header (``.dat``, ``.bin``), sidecars, simulator truth (``*.truth.*``), emgkit
result files and the output folder itself. For each recording ``<stem>`` the
output folder gets::

    <stem>.result.h5        the DetectionResult (emgkit.load_result)
    <stem>_tables/*.csv     its tables
    <stem>.report.html      a self-contained report

and for the batch ``summary.csv`` (one row per file x muscle), ``errors.csv``
(one row per failed file, with its one-line error) and ``index.html``. Every
file is written to a temporary name and renamed, so none is ever half-written.

With ``jobs > 1`` the local workers are separate processes (``spawn``): a
script calling ``run_batch`` must guard its entry point with
``if __name__ == "__main__":``. With a Dask scheduler the workers must see the
input files and the output folder at the same paths (a shared file system).
"""
from __future__ import annotations

import fnmatch
import logging
import os
import pathlib
import time
import traceback

from .errors import EmgkitError, EmgkitFileNotFoundError, ParameterError, file_error

logger = logging.getLogger("emgkit")

#: Columns of errors.csv.
ERROR_COLUMNS = ("file", "error_type", "error")
#: Columns placed first in summary.csv (then the detector's per-muscle summary columns, then the outputs).
SUMMARY_KEY_COLUMNS = ("file", "muscle")
OUTPUT_COLUMNS = ("result", "report", "seconds")

#: Extensions that plain text/NumPy readers also claim: in a folder scan such files are taken only when
#: their content names a self-describing format (Delsys CSV, OpenSignals text), since a bare table needs fs=.
_TABLE_EXTENSIONS = (".csv", ".txt", ".tsv", ".npy")


class BatchError(EmgkitError, RuntimeError):
    """Some files of a batch failed (``continue_on_error=False``); every other file's outputs are written.

    ``summary`` is the combined summary of the files that succeeded, ``errors`` the failed files.
    """

    def __init__(self, message, summary=None, errors=None):
        super().__init__(message)
        self.summary = summary
        self.errors = errors


# ---------------------------------------------------------------- finding recordings
def _recording_extensions() -> tuple[str, ...]:
    from .io import FORMATS

    return tuple(dict.fromkeys(ext for f in FORMATS for ext in f.extensions))


def _extension(name: str) -> str:
    from .io._registry import _extension as registry_extension

    return registry_extension(name)


def _is_result_or_truth(path: pathlib.Path) -> bool:
    name = path.name.lower()
    if ".truth." in name or name.endswith(".result.h5"):
        return True
    if name.endswith((".h5", ".hdf5")):
        import h5py

        try:
            if not h5py.is_hdf5(path):
                return False
            with h5py.File(path, "r") as h5:
                return "emgkit_result" in h5.attrs
        except OSError:
            return False  # let the reader report what is wrong with it
    return False


def _self_describing_table(path: pathlib.Path) -> bool:
    from .io import delsys_csv, opensignals

    if path.suffix.lower() == ".csv" and delsys_csv.sniff(path):
        return True
    return path.suffix.lower() == ".txt" and opensignals.sniff_txt(path)


def _wfdb_segment_headers(folder: pathlib.Path, headers: list[pathlib.Path]) -> set[pathlib.Path]:
    """Headers of segments that a multi-segment WFDB record in ``folder`` lists (read through that record)."""
    from .io.wfdb import read_header

    segments = set()
    for hea in headers:
        try:
            header = read_header(hea)
        except EmgkitError:
            continue  # reported when the file itself is processed
        for name, _ in header.segments or ():
            if name != "~":
                segments.add((folder / f"{name}.hea").resolve())
    return segments


def find_recordings(inputs, *, pattern: str | None = None, exclude=()) -> list[pathlib.Path]:
    """The recordings named by ``inputs`` (files, or folders searched recursively), in a stable order.

    Files given explicitly are always taken. In folders: files a reader handles, matching ``pattern``
    (a glob on the file name or its path relative to the folder) when given; hidden files and folders,
    ``exclude``\\ d folders, simulator truth, emgkit result files, WFDB segment headers and plain tables
    without a self-describing header are left out.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    extensions = _recording_extensions()
    excluded = {pathlib.Path(e).resolve() for e in exclude}
    found: dict[pathlib.Path, pathlib.Path] = {}  # resolved -> as named, so a file given twice runs once
    for item in inputs:
        root = pathlib.Path(item)
        if not root.exists():
            raise file_error(root, "no such file or folder", cls=EmgkitFileNotFoundError)
        if root.is_file():
            found.setdefault(root.resolve(), root)
            continue
        for folder, dirs, files in os.walk(root):
            folder_path = pathlib.Path(folder)
            dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                             and (folder_path / d).resolve() not in excluded)
            candidates = []
            for name in sorted(files):
                path = folder_path / name
                ext = _extension(name)
                if name.startswith(".") or ext not in extensions:
                    continue
                if pattern and not (fnmatch.fnmatch(name, pattern)
                                    or fnmatch.fnmatch(path.relative_to(root).as_posix(), pattern)):
                    continue
                if _is_result_or_truth(path):
                    continue
                if ext in _TABLE_EXTENSIONS and not _self_describing_table(path):
                    continue
                candidates.append(path)
            segments = _wfdb_segment_headers(folder_path, [p for p in candidates if _extension(p.name) == ".hea"])
            for path in candidates:
                if path.resolve() not in segments:
                    found.setdefault(path.resolve(), path)
    return list(found.values())


def output_stems(paths) -> list[str]:
    """A distinct output name per input: the file name without its extension, disambiguated when needed."""
    paths = [pathlib.Path(p) for p in paths]

    def base(p):
        ext = _extension(p.name)
        return p.name[: len(p.name) - len(ext)] if ext and p.name.lower().endswith(ext) else p.stem

    stems = [base(p) for p in paths]
    for attempt in range(3):
        counts: dict[str, int] = {}
        for s in stems:
            counts[s] = counts.get(s, 0) + 1
        if all(c == 1 for c in counts.values()):
            return stems
        for i, p in enumerate(paths):
            if counts[stems[i]] > 1:
                if attempt == 0:
                    stems[i] = f"{stems[i]}_{_extension(p.name).lstrip('.').replace('+', 'plus')}"
                elif attempt == 1:
                    stems[i] = f"{p.parent.name}_{stems[i]}"
                else:
                    stems[i] = f"{stems[i]}_{i}"
    return stems


# ---------------------------------------------------------------- one file
def process_file(path, out_dir, stem: str, params=None, *, plots: bool = True) -> dict:
    """Detect in one recording and write its outputs; never raises (the error is in the returned record).

    Returns a dict: file, stem, ok, seconds, error_type, error, summary (list of per-muscle dicts),
    result and report (file names inside ``out_dir``).
    """
    t0 = time.perf_counter()
    record = {"file": os.fspath(path), "stem": stem, "ok": False, "error_type": "", "error": "",
              "summary": [], "result": "", "report": "", "seconds": 0.0}
    try:
        from .detect import detect
        from .report import write_csv_atomic, write_report

        out_dir = pathlib.Path(out_dir)
        result = detect(path, params)
        result_name, report_name = f"{stem}.result.h5", f"{stem}.report.html"
        result.save(out_dir / result_name)
        tables = out_dir / f"{stem}_tables"
        tables.mkdir(exist_ok=True)
        from .results import TABLE_NAMES

        for name in TABLE_NAMES:
            write_csv_atomic(getattr(result, name), tables / f"{name}.csv")
        write_report(result, out_dir / report_name, plots=plots)
        record.update(ok=True, summary=result.summary.to_dict("records"), result=result_name, report=report_name)
    except EmgkitError as exc:
        record.update(error_type=type(exc).__name__, error=_one_line(exc))
    except OSError as exc:  # writing the outputs: disk full, permissions
        record.update(error_type=type(exc).__name__, error=f"{os.fspath(path)}: cannot write its outputs: "
                                                          f"{_one_line(exc)}")
    except Exception as exc:  # a bug on one file must not lose the rest of the batch
        logger.error("internal error on %s:\n%s", path, traceback.format_exc())
        record.update(error_type=type(exc).__name__, error=f"internal error: {_one_line(exc)}")
    record["seconds"] = round(time.perf_counter() - t0, 3)
    return record


def _naming_file(record) -> str:
    """The error of a failed file, prefixed with the file unless the message already names it."""
    error, path = str(record["error"]), str(record["file"])
    return error if path in error else f"{path}: {error}"


def _one_line(exc) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


# ---------------------------------------------------------------- engines
def _thread_env(jobs: int) -> dict:
    """Kernel threads per worker: the cores split between the workers rather than oversubscribed."""
    threads = str(max(1, (os.cpu_count() or 1) // max(jobs, 1)))
    return {name: os.environ.get(name, threads) for name in ("NUMBA_NUM_THREADS", "EMGKIT_NUM_THREADS")}


def _worker_init(env: dict) -> None:
    os.environ.update(env)  # before numba is imported in this worker


def _run_local(tasks, out_dir, jobs: int, plots: bool, params, on_done) -> None:
    if jobs <= 1 or len(tasks) <= 1:
        for path, stem in tasks:
            on_done(process_file(path, out_dir, stem, params, plots=plots))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=multiprocessing.get_context("spawn"),
                             initializer=_worker_init, initargs=(_thread_env(jobs),)) as pool:
        futures = {pool.submit(process_file, path, out_dir, stem, params, plots=plots): (path, stem)
                   for path, stem in tasks}
        try:
            for fut in as_completed(futures):
                path, stem = futures[fut]
                try:
                    on_done(fut.result())
                except BrokenProcessPool as exc:  # a worker died (killed, out of memory)
                    on_done(_failed(path, stem, "WorkerError", f"the worker process died: {exc}"))
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)  # do not start the files still queued
            raise


def _failed(path, stem, error_type, error) -> dict:
    return {"file": os.fspath(path), "stem": stem, "ok": False, "error_type": error_type, "error": error,
            "summary": [], "result": "", "report": "", "seconds": 0.0}


def _dask_client(scheduler, jobs: int):
    """(client, close) for ``scheduler``: a distributed.Client, "local" (a LocalCluster) or an address."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ParameterError("the Dask scheduler needs dask.distributed: pip install 'emgkit[dask]'") from None
    if isinstance(scheduler, Client):
        return scheduler, []
    if scheduler == "local":
        import dask

        # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which made detection ~2.5x
        # slower here (memory handed back to the OS after every large temporary array).
        environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {})
        environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            cluster = LocalCluster(n_workers=max(jobs, 1), threads_per_worker=1, processes=True,
                                   dashboard_address=None, env=_thread_env(jobs))
        client = Client(cluster)
        return client, [client, cluster]
    try:
        client = Client(str(scheduler), timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise ParameterError(f"cannot reach the Dask scheduler at {scheduler!r}: {_one_line(exc)} "
                             "(start one with 'dask scheduler', or use --dask local)") from None
    return client, [client]


def _run_dask(tasks, out_dir, scheduler, jobs: int, plots: bool, params, on_done) -> None:
    from distributed import as_completed

    client, to_close = _dask_client(scheduler, jobs)
    try:
        futures = {}
        for path, stem in tasks:
            fut = client.submit(process_file, os.fspath(path), os.fspath(out_dir), stem, params,
                                plots=plots, pure=False)
            futures[fut] = (path, stem)
        for fut in as_completed(list(futures)):
            path, stem = futures[fut]
            try:
                on_done(fut.result())
            except Exception as exc:  # the worker was lost, or the task could not be sent
                on_done(_failed(path, stem, "WorkerError", f"the Dask task failed: {_one_line(exc)}"))
    finally:
        for obj in to_close:
            obj.close()


# ---------------------------------------------------------------- the batch
def _resolve_params(params):
    from .detect import _params

    return _params(params)


def run_batch(inputs, out_dir, *, params=None, jobs: int = 1, scheduler=None, continue_on_error: bool = False,
              pattern: str | None = None, plots: bool = True, progress=None):
    """Run ``emgkit.detect`` on every recording in ``inputs`` and write per-file and combined outputs.

    Parameters
    ----------
    inputs : path or list of paths
        Recording files and/or folders (searched recursively, see :func:`find_recordings`).
    out_dir : path
        Output folder (created when missing).
    params : DetectionParams, dict or TOML path, optional
        Detection parameters, the same for every file.
    jobs : int
        Local worker processes (default 1: in this process), or Dask workers with ``scheduler="local"``.
    scheduler : None, "local", an address ("tcp://host:8786") or a ``distributed.Client``
        Run on Dask instead of local processes (``pip install 'emgkit[dask]'``).
    continue_on_error : bool
        When False (default) and any file failed, raise :class:`BatchError` after writing all outputs.
    pattern : str, optional
        Glob that files found in folders must match (file name or path relative to the folder).
    plots : bool
        Embed plots in the HTML reports (when matplotlib is installed).
    progress : callable, optional
        Called as ``progress(record, n_done, n_total)`` after each file (record: see :func:`process_file`).

    Returns
    -------
    pandas.DataFrame
        The combined summary, one row per file x muscle (also written to ``out_dir/summary.csv``).
    """
    import pandas as pd

    from .report import index_html, write_csv_atomic, write_text_atomic

    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ParameterError(f"jobs must be a whole number >= 1; got {jobs!r}")
    out_dir = pathlib.Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise file_error(out_dir, "exists and is not a folder", "choose another --out", cls=ParameterError)
    resolved = _resolve_params(params)  # bad parameters fail before any work
    paths = find_recordings(inputs, pattern=pattern, exclude=[out_dir])
    if not paths:
        names = ", ".join(map(os.fspath, [inputs] if isinstance(inputs, (str, os.PathLike)) else inputs))
        raise file_error(names, "no recordings found" + (f" matching {pattern!r}" if pattern else ""),
                         f"looked for {' '.join(_recording_extensions())}", cls=EmgkitFileNotFoundError)
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = list(zip(paths, output_stems(paths)))
    logger.info("batch: %d recording(s) -> %s", len(tasks), out_dir)

    records: dict[str, dict] = {}

    def on_done(record):
        records[record["stem"]] = record
        if record["ok"]:
            logger.info("%s: done in %.1f s", record["file"], record["seconds"])
        else:  # the progress callback shows failures itself
            (logger.info if progress is not None else logger.warning)("%s", _naming_file(record))
        if progress is not None:
            progress(record, len(records), len(tasks))

    if scheduler is not None:
        _run_dask(tasks, out_dir, scheduler, jobs, plots, resolved, on_done)
    else:
        _run_local(tasks, out_dir, jobs, plots, resolved, on_done)

    ordered = [records[stem] for _, stem in tasks if stem in records]
    rows = []
    for rec in ordered:
        for muscle_row in rec["summary"]:
            rows.append({"file": rec["file"], **muscle_row,
                         "result": rec["result"], "report": rec["report"], "seconds": rec["seconds"]})
    summary = pd.DataFrame(rows)
    if summary.empty:
        summary = pd.DataFrame(columns=[*SUMMARY_KEY_COLUMNS, *OUTPUT_COLUMNS])
    front = [c for c in SUMMARY_KEY_COLUMNS if c in summary.columns]
    back = [c for c in OUTPUT_COLUMNS if c in summary.columns]
    summary = summary[front + [c for c in summary.columns if c not in front and c not in back] + back]
    errors = pd.DataFrame([{k: rec[k] for k in ERROR_COLUMNS} for rec in ordered if not rec["ok"]],
                          columns=list(ERROR_COLUMNS))
    write_csv_atomic(summary, out_dir / "summary.csv")
    write_csv_atomic(errors, out_dir / "errors.csv")
    write_text_atomic(out_dir / "index.html", index_html(summary, errors))
    logger.info("batch: %d ok, %d failed; summary in %s", len(ordered) - len(errors), len(errors), out_dir)
    if len(errors) and not continue_on_error:
        raise BatchError(f"{len(errors)} of {len(tasks)} file(s) failed (see {out_dir / 'errors.csv'}); "
                         f"first: {_naming_file(errors.iloc[0])}",
                         summary=summary, errors=errors)
    return summary


__all__ = ["run_batch", "find_recordings", "output_stems", "process_file", "BatchError"]
