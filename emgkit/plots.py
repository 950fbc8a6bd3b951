"""Figures of a :class:`~emgkit.DetectionResult` (optional extra: ``pip install 'emgkit[plot]'``).

::

    from emgkit import plots
    fig = plots.raster(result)               # discharges per unit over time, coloured by event kind
    fig = plots.templates(result)            # unit templates (main channel), µV vs ms
    fig = plots.rates(result)                # per-muscle rates per minute of rest, FP 95 % CI
    plots.save_plots(result, "figures/")     # the three as PNG files

matplotlib is imported on first use, and only its object-oriented API with the
Agg canvas is used (no pyplot): plotting never changes the caller's backend
and is safe in worker threads.
"""
from __future__ import annotations

import importlib.util
import io
import logging
import pathlib

from .errors import EmgkitError

logger = logging.getLogger("emgkit")

#: Colour of each event kind in the raster and the bar chart (matplotlib's tab10 names).
KIND_COLOURS = {"fasciculation": "tab:blue", "doublet": "tab:orange", "multiplet": "tab:red",
                "myokymic": "tab:green", "neuromyotonic": "tab:purple", "continuous": "tab:brown",
                "fibrillation": "tab:pink", "positive_sharp_wave": "tab:olive", "cramp": "tab:cyan"}
#: Rest discharges not in any event, and discharges in excluded time.
UNCLASSIFIED_COLOUR = "tab:gray"
EXCLUDED_COLOUR = "0.8"
DPI = 100


class PlotDependencyError(EmgkitError, ImportError):
    """matplotlib is not installed."""


def available() -> bool:
    """True when matplotlib can be imported."""
    return importlib.util.find_spec("matplotlib") is not None


def _figure(width: float, height: float):
    if not available():
        raise PlotDependencyError("plots need matplotlib: pip install 'emgkit[plot]'")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _muscles(result, muscle):
    if muscle is None:
        return result.muscles
    return [muscle] if isinstance(muscle, str) else list(muscle)


def raster(result, muscle=None):
    """Discharge times of each unit (one row per muscle x unit), coloured by the event kind they belong to.

    Discharges in excluded time (voluntary, cramp, artifact) are light grey; excluded segments are shaded.
    """
    import numpy as np

    dis = result.discharges
    muscles = _muscles(result, muscle)
    units = []
    if len(dis) and {"muscle", "unit", "time"} <= set(dis.columns):
        for m in muscles:
            ids = sorted(int(u) for u in dis.loc[(dis["muscle"] == m) & (dis["unit"] >= 0), "unit"].unique())
            units += [(m, u) for u in ids]
    n_rows = max(len(units), 1)
    fig = _figure(10, min(2.0 + 0.22 * n_rows, 14))
    ax = fig.add_subplot()
    row_of = {key: i for i, key in enumerate(units)}
    duration = _duration(result)
    seg = result.segments
    if len(seg) and {"muscle", "start", "end"} <= set(seg.columns):
        for m in muscles:
            rows = [row_of[k] for k in units if k[0] == m]
            if not rows:
                continue
            for a, b in zip(seg.loc[seg["muscle"] == m, "start"], seg.loc[seg["muscle"] == m, "end"]):
                ax.fill_between([a, b], min(rows) - 0.5, max(rows) + 0.5, color="0.93", lw=0)
    if units:
        sel = dis[dis["unit"] >= 0]
        sel = sel[sel["muscle"].isin(muscles)]
        y = np.array([row_of[(m, int(u))] for m, u in zip(sel["muscle"], sel["unit"])], dtype=float)
        t = sel["time"].to_numpy(dtype=float)
        state = sel["state"].astype(str).to_numpy() if "state" in sel.columns else np.full(len(sel), "rest")
        kind = sel["kind"].fillna("").astype(str).to_numpy() if "kind" in sel.columns else np.full(len(sel), "")
        excluded = state != "rest"
        groups = [("excluded time", excluded, EXCLUDED_COLOUR)]
        groups += [(k, ~excluded & (kind == k), c) for k, c in KIND_COLOURS.items()]
        groups.append(("no event", ~excluded & ~np.isin(kind, list(KIND_COLOURS)), UNCLASSIFIED_COLOUR))
        for label, mask, colour in groups:
            if mask.any():
                ax.scatter(t[mask], y[mask], marker="|", s=80, linewidths=1.2, color=colour, label=label)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
        if len(units) <= 40:
            ax.set_yticks(range(len(units)), [f"{m} u{u}" for m, u in units], fontsize=7)
        else:
            ax.set_ylabel("unit (by muscle)")
    else:
        ax.text(0.5, 0.5, "no discharges", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylim(n_rows - 0.5, -0.5)
    if duration:
        ax.set_xlim(0, duration)
    ax.set_xlabel("time (s)")
    ax.set_title("Discharges per unit, coloured by event kind")
    return fig


def _duration(result):
    prov = result.provenance
    if prov.get("fs") and prov.get("n_samples"):
        return prov["n_samples"] / prov["fs"]
    return None


def templates(result, muscle=None, max_units: int = 24):
    """Each spontaneous unit's template on its largest channel (µV vs ms), most active units first."""
    import numpy as np

    fs = result.provenance.get("fs")
    units = result.units
    keys = []
    if len(units) and {"muscle", "unit"} <= set(units.columns):
        order = units.sort_values("n_discharges", ascending=False) if "n_discharges" in units.columns else units
        keys = [(m, int(u)) for m, u in zip(order["muscle"], order["unit"]) if m in _muscles(result, muscle)]
    keys = [k for k in keys if k in result.templates][:max_units]
    n = max(len(keys), 1)
    ncols = min(n, 6)
    nrows = -(-n // ncols)
    fig = _figure(1.9 * ncols + 0.6, 1.6 * nrows + 0.6)
    if not keys:
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no unit templates", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, key in zip(axes.flat, keys):
        tmpl = np.atleast_2d(np.asarray(result.templates[key], dtype=float))
        main = int(np.argmax(np.ptp(tmpl, axis=1)))
        x = np.arange(tmpl.shape[1]) / fs * 1000.0 if fs else np.arange(tmpl.shape[1])
        ax.plot(x, tmpl[main], color="k", lw=1)
        ax.set_title(f"{key[0]} u{key[1]}", fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_axis_off()
    fig.supxlabel("ms" if fs else "samples", fontsize=8)
    fig.supylabel("µV", fontsize=8)
    return fig


def rates(result):
    """Per-muscle rates (per minute of rest) of each event kind; FPs with their 95 % CI."""
    import numpy as np

    from .report import REPORT_KINDS, muscle_rows

    rows = muscle_rows(result)
    fig = _figure(max(5.0, 1.2 + 1.4 * len(rows)), 3.6)
    ax = fig.add_subplot()
    if not rows:
        ax.text(0.5, 0.5, "no muscles", ha="center", va="center", transform=ax.transAxes)
        return fig
    x = np.arange(len(rows))
    width = 0.8 / len(REPORT_KINDS)
    for i, kind in enumerate(REPORT_KINDS):
        values = np.array([r[f"{kind}_per_min"] for r in rows], dtype=float)
        pos = x - 0.4 + (i + 0.5) * width
        ax.bar(pos, np.nan_to_num(values), width, color=KIND_COLOURS.get(kind), label=kind)
        if kind == "fasciculation":
            lo = np.array([r["fp_ci_low"] for r in rows], dtype=float)
            hi = np.array([r["fp_ci_high"] for r in rows], dtype=float)
            ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(values)
            if ok.any():
                ax.errorbar(pos[ok], values[ok], yerr=[values[ok] - lo[ok], hi[ok] - values[ok]],
                            fmt="none", ecolor="k", capsize=2, lw=0.8)
    ax.set_xticks(x, [r["muscle"] for r in rows], fontsize=8)
    ax.set_ylabel("per minute of rest")
    ax.set_title("Spontaneous activity per muscle")
    ax.legend(fontsize=7, ncols=3, frameon=False)
    return fig


#: The plots a report shows and ``save_plots`` writes: file stem -> function(result) -> Figure.
PLOTS = {"raster": raster, "templates": templates, "rates": rates}


def to_png(fig) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def render(result) -> dict[str, bytes]:
    """Each of ``PLOTS`` as PNG bytes (name -> bytes), e.g. to save and embed without drawing twice."""
    return {name: to_png(make(result)) for name, make in PLOTS.items()}


def save_plots(result, directory, prefix: str = "", pngs: dict | None = None) -> list[pathlib.Path]:
    """Write ``<directory>/<prefix><name>.png`` for each of ``PLOTS`` (atomically); return the paths.

    ``pngs`` (from :func:`render`) saves figures already drawn.
    """
    from .report import atomic_path

    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, png in (pngs or render(result)).items():
        path = directory / f"{prefix}{name}.png"
        with atomic_path(path) as tmp:
            tmp.write_bytes(png)
        written.append(path)
    logger.info("wrote %d plots to %s", len(written), directory)
    return written


__all__ = ["raster", "templates", "rates", "render", "save_plots", "to_png", "available", "PLOTS", "KIND_COLOURS",
           "PlotDependencyError"]
