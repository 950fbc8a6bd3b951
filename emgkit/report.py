"""Readable reports of a :class:`~emgkit.DetectionResult`: a text table, a self-contained HTML page, a batch index.

::

    from emgkit.report import summary_text, write_report
    print(summary_text(result))                  # per-muscle table for a terminal
    write_report(result, "R00108.report.html")   # one HTML file: tables, flags, plots (when matplotlib is there)
    write_report(result, "R00108.report.txt")    # the same content as plain text

Pattern flags are descriptions of what was found, never a diagnosis. Every file
is written atomically (a temporary file renamed over the target), so a crash
never leaves a half-written report.
"""
from __future__ import annotations

import base64
import contextlib
import html
import json
import logging
import math
import numbers
import os
import pathlib
import uuid

logger = logging.getLogger("emgkit")

#: Event kinds shown as count and rate per minute of rest, in this order (schema.SPONTANEOUS_KINDS + look-alike).
REPORT_KINDS = ("fasciculation", "doublet", "multiplet", "myokymic", "neuromyotonic", "continuous")

#: Column headings of the per-muscle table (kinds in plural, as clinicians say them).
_KIND_HEADINGS = {"fasciculation": "FPs", "doublet": "doublets", "multiplet": "multiplets",
                  "myokymic": "myokymic", "neuromyotonic": "neuromyot.", "continuous": "continuous"}

COUNTS_NOTE = "Kind columns: count (per minute of rest). FP interval: exact Poisson 95 % CI."
NOT_A_DIAGNOSIS = "Pattern flags describe what was detected; they are not a diagnosis."

_MISSING = "-"


# ---------------------------------------------------------------- atomic files
@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it over ``path`` only when the block succeeds.

    The temporary file is created by whoever writes it, so it gets the usual (umask) permissions.
    """
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path, text: str) -> pathlib.Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return the path."""
    path = pathlib.Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_csv_atomic(table, path) -> pathlib.Path:
    """Write a DataFrame to ``path`` as CSV (no index) atomically; return the path."""
    path = pathlib.Path(path)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return path


# ---------------------------------------------------------------- numbers
def _is_missing(value) -> bool:
    if value is None:
        return True
    try:
        return bool(math.isnan(value))
    except TypeError:
        return False


def _fmt(value, digits: int = 2) -> str:
    if _is_missing(value):
        return _MISSING
    if type(value).__name__ in ("bool", "bool_"):
        return "yes" if value else "no"
    if digits == 0 or isinstance(value, numbers.Integral):
        return f"{int(round(float(value)))}"
    return f"{float(value):.{digits}f}"


def _rate_with_ci(rate, low, high) -> str:
    if _is_missing(rate):
        return _MISSING
    return f"{_fmt(rate)} ({_fmt(low)}-{_fmt(high)})"


def muscle_rows(result) -> list[dict]:
    """One dict per muscle with the numbers the reports show (display strings and raw values).

    Keys: muscle, electrode, rest_s, duration_s, excluded_s, noise_uv, n_units, fp_rate, fp_ci_low,
    fp_ci_high, n_<kind> and <kind>_per_min for each of ``REPORT_KINDS``, flags.
    Counts come from the summary table when it has them, else from the events table.
    """
    summary = result.summary
    events = result.events
    rows = []
    for muscle in result.muscles:
        sel = summary[summary["muscle"] == muscle] if "muscle" in summary.columns else summary.iloc[0:0]
        s = sel.iloc[0].to_dict() if len(sel) else {}
        rest_s = s.get("rest_s", math.nan)
        rest_min = rest_s / 60.0 if not _is_missing(rest_s) and rest_s > 0 else math.nan
        ev = events[events["muscle"] == muscle] if {"muscle", "kind"} <= set(events.columns) else events.iloc[0:0]
        row = {
            "muscle": muscle, "electrode": s.get("electrode", ""), "rest_s": rest_s,
            "duration_s": s.get("duration_s", math.nan), "excluded_s": s.get("excluded_s", math.nan),
            "noise_uv": s.get("noise_uv", math.nan), "n_units": s.get("n_units", math.nan),
            "fp_ci_low": s.get("fasciculations_per_min_ci_low", math.nan),
            "fp_ci_high": s.get("fasciculations_per_min_ci_high", math.nan),
            "p_miss_fp": s.get("p_miss_fp", math.nan),
            "flags": s.get("flags", "") if isinstance(s.get("flags", ""), str) else "",
        }
        for kind in REPORT_KINDS:
            count = s.get("n_fasciculations" if kind == "fasciculation" else f"n_{kind}")
            if _is_missing(count):
                count = int((ev["kind"] == kind).sum()) if len(ev) else 0
            row[f"n_{kind}"] = int(count)
            row[f"{kind}_per_min"] = count / rest_min if not _is_missing(rest_min) else math.nan
        row["fp_rate"] = s.get("fasciculations_per_min", row["fasciculation_per_min"])
        rows.append(row)
    return rows


def _display_row(row: dict) -> dict:
    """The per-muscle table row as text cells (same cells in the terminal, the HTML page and the index)."""
    cells = {
        "muscle": str(row["muscle"]),
        "electrode": str(row["electrode"] or _MISSING),
        "rest/total s": f"{_fmt(row['rest_s'], 1)}/{_fmt(row['duration_s'], 1)}",
        "noise uV": _fmt(row["noise_uv"], 1),
        "units": _fmt(row["n_units"], 0),
        "FP/min (95% CI)": _rate_with_ci(row["fp_rate"], row["fp_ci_low"], row["fp_ci_high"]),
    }
    for kind in REPORT_KINDS:
        cells[_KIND_HEADINGS[kind]] = f"{row[f'n_{kind}']} ({_fmt(row[f'{kind}_per_min'])})"
    return cells


def summary_cells(result) -> list[dict]:
    """The per-muscle table as rows of text cells (column heading -> text)."""
    return [_display_row(r) for r in muscle_rows(result)]


def _text_table(rows: list[dict]) -> str:
    if not rows:
        return "(no muscles)"
    headers = list(rows[0])
    widths = {h: max(len(h), *(len(r[h]) for r in rows)) for h in headers}
    left = {"muscle", "electrode"}

    def line(cells):
        return "  ".join(cells[h].ljust(widths[h]) if h in left else cells[h].rjust(widths[h])
                         for h in headers).rstrip()

    out = [line({h: h for h in headers}), line({h: "-" * widths[h] for h in headers})]
    out += [line(r) for r in rows]
    return "\n".join(out)


def summary_text(result) -> str:
    """The per-muscle summary as a fixed-width table, then each muscle's flags."""
    rows = muscle_rows(result)
    text = [_text_table([_display_row(r) for r in rows]), COUNTS_NOTE]
    flagged = [(r["muscle"], r["flags"]) for r in rows if r["flags"]]
    if flagged:
        text.append("")
        text += [f"{muscle}: {flags}" for muscle, flags in flagged]
        text.append(NOT_A_DIAGNOSIS)
    return "\n".join(text)


# ---------------------------------------------------------------- header facts
def _input_name(result) -> str:
    path = result.provenance.get("input_path")
    return os.path.basename(path) if path else "(recording in memory)"


def _header_facts(result) -> list[tuple[str, str]]:
    prov = result.provenance
    facts = [("input", str(prov.get("input_path") or "(recording in memory)")),
             ("format", str(prov.get("input_format") or _MISSING))]
    fs, n = prov.get("fs"), prov.get("n_samples")
    if fs and n:
        facts.append(("duration", f"{n / fs:.1f} s ({n} samples at {fs:g} Hz, {prov.get('n_channels', '?')} channels)"))
    if prov.get("mains_hz"):
        facts.append(("mains notch", f"{prov['mains_hz']:g} Hz"))
    if prov.get("band_hz"):
        facts.append(("band-pass", "-".join(f"{b:g}" for b in prov["band_hz"]) + " Hz"))
    if prov.get("input_sha256"):
        facts.append(("input sha256", str(prov["input_sha256"])))
    facts.append(("emgkit", f"{prov.get('emgkit_version', '?')}, created {prov.get('created', '?')}"))
    return facts


def text_report(result) -> str:
    """A plain-text report: header facts, per-muscle summary, units and excluded time."""
    lines = [f"emgkit report: {_input_name(result)}", ""]
    lines += [f"{k:>13}: {v}" for k, v in _header_facts(result)]
    lines += ["", "Per-muscle summary (rates per minute of rest time)", summary_text(result)]
    units = result.units
    if len(units):
        lines += ["", "Motor units with spontaneous discharges", _frame_text(units)]
    if len(result.segments):
        lines += ["", "Excluded or flagged time", _frame_text(result.segments)]
    return "\n".join(lines) + "\n"


def _frame_text(table, max_rows: int = 200) -> str:
    import pandas as pd

    shown = table.head(max_rows)
    with pd.option_context("display.width", 200, "display.max_columns", 50):
        text = shown.to_string(index=False, float_format=lambda v: f"{v:.3f}")
    if len(table) > max_rows:
        text += f"\n... {len(table) - max_rows} more rows (see the CSV tables)"
    return text


# ---------------------------------------------------------------- HTML
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em auto;max-width:1200px;
padding:0 1em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right}
th{background:#f3f3f3}td.text,th.text{text-align:left}
.flags{color:#8a4b00}.note{color:#666;font-size:.85em}.error{color:#a00}
img{max-width:100%;border:1px solid #eee;margin:.3em 0}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:.1em 1em}dl.facts dt{font-weight:600}
dl.facts dd{margin:0;font-family:monospace}
"""

_TEXT_COLUMNS = {"muscle", "electrode", "file", "flags", "error", "error_type", "state", "kind", "channel",
                 "pattern", "report"}


def _html_table(rows: list[dict], raw_html_columns=()) -> str:
    if not rows:
        return "<p class='note'>(none)</p>"
    headers = list(rows[0])

    def cls(h):
        return " class='text'" if h in _TEXT_COLUMNS else ""

    out = ["<table><thead><tr>"]
    out += [f"<th{cls(h)}>{html.escape(h)}</th>" for h in headers]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>")
        for h in headers:
            value = row[h]
            cell = value if h in raw_html_columns else html.escape(str(value))
            out.append(f"<td{cls(h)}>{cell}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _frame_html(table, max_rows: int = 500) -> str:
    if table is None or len(table) == 0:
        return "<p class='note'>(none)</p>"
    shown = table.head(max_rows)
    body = shown.to_html(index=False, na_rep=_MISSING, float_format=lambda v: f"{v:.3f}", border=0)
    if len(table) > max_rows:
        body += f"<p class='note'>... {len(table) - max_rows} more rows (see the CSV tables)</p>"
    return body


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n{body}\n</body></html>\n")


def _png_tag(png: bytes, alt: str) -> str:
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{base64.b64encode(png).decode('ascii')}'>"


def _plot_section(result, pngs: dict | None = None) -> str:
    """The plots as inline PNGs; a note instead when matplotlib is missing or a plot fails."""
    from . import plots

    if pngs:
        return "\n".join(_png_tag(png, name) for name, png in pngs.items())
    if not plots.available():
        return "<p class='note'>Plots need matplotlib: pip install 'emgkit[plot]'.</p>"
    parts = []
    for name, make in plots.PLOTS.items():
        try:
            png = plots.to_png(make(result))
        except Exception as exc:  # a plot must never cost the user the report
            logger.warning("plot %s failed: %s", name, exc)
            parts.append(f"<p class='note'>{html.escape(name)} plot failed: {html.escape(str(exc))}</p>")
            continue
        parts.append(_png_tag(png, name))
    return "\n".join(parts)


def html_report(result, *, title: str | None = None, plots: bool = True, pngs: dict | None = None) -> str:
    """A self-contained HTML page (inline CSS and images, no network) describing ``result``.

    ``plots`` embeds the figures of :mod:`emgkit.plots` (when matplotlib is installed); ``pngs``
    (from ``emgkit.plots.render``) embeds figures already drawn.
    """
    title = title or f"emgkit report: {_input_name(result)}"
    rows = muscle_rows(result)
    body = [f"<h1>{html.escape(title)}</h1>", "<dl class='facts'>"]
    body += [f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in _header_facts(result)]
    body.append("</dl>")
    body.append("<h2>Per-muscle summary</h2><p class='note'>Rates are per minute of rest time "
                "(recording time less excluded voluntary, cramp, noisy or invalid time); the FP interval "
                "is an exact Poisson 95 % confidence interval.</p>")
    body.append(_html_table([_display_row(r) for r in rows]))
    flagged = [r for r in rows if r["flags"]]
    if flagged:
        body.append("<ul class='flags'>")
        body += [f"<li><b>{html.escape(r['muscle'])}</b>: {html.escape(r['flags'])}</li>" for r in flagged]
        body.append(f"</ul><p class='note'>{html.escape(NOT_A_DIAGNOSIS)}</p>")
    if plots:
        body.append("<h2>Plots</h2>")
        body.append(_plot_section(result, pngs))
    body.append("<h2>Motor units with spontaneous discharges</h2>")
    body.append(_frame_html(result.units))
    if len(result.events) and {"muscle", "kind"} <= set(result.events.columns):
        counts = result.events.groupby(["muscle", "kind"]).size().unstack(fill_value=0).reset_index()
        body.append("<h2>Events per muscle and kind</h2>")
        body.append(_frame_html(counts))
    body.append("<h2>Excluded or flagged time</h2>")
    body.append(_frame_html(result.segments))
    body.append("<h2>Full summary table</h2>")
    body.append(_frame_html(result.summary.set_index("muscle").T.reset_index(names="quantity")
                            if "muscle" in result.summary.columns and len(result.summary) else result.summary))
    body.append("<h2>Signal quality</h2>")
    body.append(_frame_html(result.qc))
    body.append("<h2>Parameters and provenance</h2><details><summary>parameters</summary><pre>"
                f"{html.escape(json.dumps(result.params, indent=2, default=str))}</pre></details>"
                "<details><summary>provenance</summary><pre>"
                f"{html.escape(json.dumps(result.provenance, indent=2, default=str))}</pre></details>")
    return _page(title, "\n".join(body))


def write_report(result, path, *, plots: bool = True, pngs: dict | None = None) -> pathlib.Path:
    """Write an HTML (``.html``/``.htm``) or text (any other extension) report of ``result`` atomically."""
    from .errors import ResultFileError, file_error

    path = pathlib.Path(path)
    if not path.parent.is_dir():
        raise file_error(path, "the folder does not exist", "create it first", cls=ResultFileError)
    if path.suffix.lower() in (".html", ".htm"):
        text = html_report(result, plots=plots, pngs=pngs)
    else:
        text = text_report(result)
    write_text_atomic(path, text)
    logger.info("wrote report %s", path)
    return path


# ---------------------------------------------------------------- batch index
#: Numeric columns of the batch index page, from the combined summary: column -> (heading, decimals).
_INDEX_COLUMNS = {"rest_s": ("rest s", 1), "n_units": ("units", 0), "doublets_per_min": ("doublets/min", 2),
                  "multiplets_per_min": ("multiplets/min", 2), "myokymic_per_min": ("myokymic/min", 2),
                  "neuromyotonic_per_min": ("neuromyotonic/min", 2)}


def index_html(summary, errors, *, title: str = "emgkit batch results") -> str:
    """The batch index page: one row per file x muscle linking to each report, then the failed files.

    ``summary`` is the combined summary (columns ``file``, ``muscle``, the per-muscle summary numbers and
    optionally ``report``, a path relative to the page); ``errors`` has ``file`` and ``error``.
    """
    rows = []
    for rec in summary.to_dict("records"):
        name = html.escape(os.path.basename(str(rec.get("file", ""))))
        report = rec.get("report")
        file_cell = f"<a href='{html.escape(str(report))}'>{name}</a>" if isinstance(report, str) and report else name
        row = {"file": file_cell, "muscle": html.escape(str(rec.get("muscle", "")))}
        for col, (heading, digits) in _INDEX_COLUMNS.items():
            row[heading] = html.escape(_fmt(rec.get(col, math.nan), digits))
            if col == "n_units":
                row["FP/min (95% CI)"] = html.escape(_rate_with_ci(
                    rec.get("fasciculations_per_min", math.nan), rec.get("fasciculations_per_min_ci_low", math.nan),
                    rec.get("fasciculations_per_min_ci_high", math.nan)))
        flags = rec.get("flags")
        row["flags"] = html.escape(flags) if isinstance(flags, str) else ""
        rows.append(row)
    n_files = summary["file"].nunique() if "file" in summary.columns and len(summary) else 0
    body = [f"<h1>{html.escape(title)}</h1>",
            f"<p>{n_files} file(s) analysed, {len(errors)} failed. Combined table: "
            "<a href='summary.csv'>summary.csv</a>"
            + (", failures: <a href='errors.csv'>errors.csv</a>" if len(errors) else "") + ".</p>",
            _html_table(rows, raw_html_columns=set(rows[0]) if rows else ()),
            f"<p class='note'>{html.escape(NOT_A_DIAGNOSIS)}</p>"]
    if len(errors):
        body.append("<h2 class='error'>Files that failed</h2>")
        body.append(_html_table([{"file": str(e.get("file", "")), "error": str(e.get("error", ""))}
                                 for e in errors.to_dict("records")]))
    return _page(title, "\n".join(body))


__all__ = ["summary_text", "summary_cells", "muscle_rows", "text_report", "html_report", "write_report",
           "index_html", "atomic_path", "write_text_atomic", "write_csv_atomic", "REPORT_KINDS"]
