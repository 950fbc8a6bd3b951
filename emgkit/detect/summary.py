"""Stage 6: per-unit and per-muscle summaries of spontaneous activity.

Numbers follow the contents clinicians and researchers look for (rest time vs
excluded time, FP rate with a Poisson CI, units, doublet/multiplet intervals,
myokymic and neuromyotonic burst statistics, P(missing an FP)). Pattern flags are
descriptions, never diagnoses.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .._intervals import covered_length
from .params import SummaryParams


def poisson_rate_ci(count: int, seconds: float, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) confidence interval of a Poisson rate, in events per minute."""
    if seconds <= 0:
        return (np.nan, np.nan)
    alpha = 1 - confidence
    lo = stats.chi2.ppf(alpha / 2, 2 * count) / 2 if count > 0 else 0.0
    hi = stats.chi2.ppf(1 - alpha / 2, 2 * count + 2) / 2
    return (60.0 * lo / seconds, 60.0 * hi / seconds)


def _excluded_seconds(segments: pd.DataFrame, duration: float, state=None) -> float:
    seg = segments if state is None else segments[segments["state"] == state]
    return covered_length(seg["start"].clip(0, duration), seg["end"].clip(0, duration))


def unit_table(discharges: pd.DataFrame, rest_seconds: dict) -> pd.DataFrame:
    """One row per (muscle, unit) with spontaneous (rest) discharges."""
    rows = []
    rest = discharges[(discharges["state"] == "rest") & (discharges["unit"] >= 0)]
    for (muscle, unit), d in rest.groupby(["muscle", "unit"], sort=True):
        t = np.sort(d["time"].to_numpy())
        isi = np.diff(t)
        kinds = d["kind"].value_counts() if "kind" in d else pd.Series(dtype=int)
        rows.append({
            "muscle": muscle, "unit": int(unit), "channel": str(d["channel"].mode().iloc[0]),
            "n_discharges": int(t.size),
            "rate": t.size / rest_seconds.get(muscle, np.nan) if rest_seconds.get(muscle) else np.nan,
            "isi_median": float(np.median(isi)) if isi.size else np.nan,
            "isi_cov": float(isi.std() / isi.mean()) if isi.size > 1 and isi.mean() > 0 else np.nan,
            "amplitude": float(d["amplitude"].median()),
            "pattern": str(kinds.index[0]) if len(kinds) else "",
            "isolated_share": float((d["kind"] == "fasciculation").mean()) if "kind" in d else np.nan,
        })
    cols = ["muscle", "unit", "channel", "n_discharges", "rate", "isi_median", "isi_cov", "amplitude",
            "pattern", "isolated_share"]
    return pd.DataFrame(rows, columns=cols).astype({"unit": "int64", "n_discharges": "int64"})


def _burst_stats(ev: pd.DataFrame, disc: pd.DataFrame, prefix: str, rest_min: float) -> dict:
    out = {f"{prefix}_per_min": len(ev) / rest_min if rest_min > 0 else np.nan}
    if ev.empty:
        for k in ("discharges_per_burst", "intraburst_hz", "interburst_s", "interburst_cov",
                  "duration_s", "amplitude_decrement"):
            out[f"{prefix}_{k}"] = np.nan
        return out
    out[f"{prefix}_discharges_per_burst"] = float(ev["n_discharges"].median())
    out[f"{prefix}_intraburst_hz"] = float(ev["rate"].median())
    out[f"{prefix}_duration_s"] = float((ev["end"] - ev["start"]).median())
    ibi = []
    for _, g in ev.groupby("unit"):
        s = np.sort(g["start"].to_numpy())
        ibi.extend(np.diff(s).tolist())
    ibi = np.asarray(ibi)
    out[f"{prefix}_interburst_s"] = float(np.median(ibi)) if ibi.size else np.nan
    out[f"{prefix}_interburst_cov"] = float(ibi.std() / ibi.mean()) if ibi.size > 1 else np.nan
    # First and last discharge of each burst (one pass over the discharges, not one per burst).
    members = disc[disc["event"].isin(ev["event"])].sort_values("time", kind="stable")
    ends = members.groupby("event")["amplitude"].agg(["first", "last", "size"])
    ends = ends[(ends["size"] >= 2) & (ends["first"] > 0)]
    dec = (1.0 - ends["last"] / ends["first"]).tolist()
    out[f"{prefix}_amplitude_decrement"] = float(np.median(dec)) if dec else np.nan
    return out


def muscle_summary(muscle: str, kind: str, duration: float, noise_uv: float, discharges: pd.DataFrame,
                   events: pd.DataFrame, segments: pd.DataFrame, params: SummaryParams | None = None) -> dict:
    """The summary row of one muscle."""
    p = params or SummaryParams()
    excluded = _excluded_seconds(segments, duration)
    rest_s = max(duration - excluded, 0.0)
    rest_min = rest_s / 60.0
    ev = events
    n_fp = int((ev["kind"] == "fasciculation").sum())
    lo, hi = poisson_rate_ci(n_fp, rest_s, p.confidence)
    rest_disc = discharges[discharges["state"] == "rest"]
    fp_amp = rest_disc.loc[rest_disc["kind"] == "fasciculation", "amplitude"] if "kind" in rest_disc else pd.Series([], dtype=float)
    row = {
        "muscle": muscle, "electrode": kind, "duration_s": duration, "rest_s": rest_s, "excluded_s": excluded,
        "voluntary_s": _excluded_seconds(segments, duration, "voluntary"),
        "cramp_s": _excluded_seconds(segments, duration, "cramp"),
        "invalid_s": _excluded_seconds(segments, duration, "invalid"),
        "noise_uv": noise_uv,
        "n_units": int(rest_disc.loc[rest_disc["unit"] >= 0, "unit"].nunique()),
        "n_spontaneous_discharges": int(len(rest_disc)),
        "n_fasciculations": n_fp,
        "fasciculations_per_min": n_fp / rest_min if rest_min > 0 else np.nan,
        "fasciculations_per_min_ci_low": lo, "fasciculations_per_min_ci_high": hi,
        "fp_amplitude_median_uv": float(fp_amp.median()) if len(fp_amp) else np.nan,
        "fp_amplitude_iqr_uv": float(fp_amp.quantile(0.75) - fp_amp.quantile(0.25)) if len(fp_amp) else np.nan,
        "fp_units": int(rest_disc.loc[rest_disc.get("kind", pd.Series(dtype=str)) == "fasciculation", "unit"].nunique())
        if "kind" in rest_disc else 0,
    }
    for k in ("doublet", "multiplet", "myokymic", "neuromyotonic", "continuous", "fibrillation"):
        row[f"n_{k}"] = int((ev["kind"] == k).sum())
    for k in ("doublet", "multiplet"):
        sub = ev[ev["kind"] == k]
        row[f"{k}s_per_min"] = len(sub) / rest_min if rest_min > 0 else np.nan
        isis = []
        for eid in sub["event"]:
            t = np.sort(rest_disc.loc[rest_disc["event"] == eid, "time"].to_numpy())
            isis.extend((np.diff(t) * 1000).tolist())
        row[f"{k}_isi_median_ms"] = float(np.median(isis)) if isis else np.nan
    in_groups = rest_disc["event"].isin(ev.loc[ev["kind"].isin(["doublet", "multiplet"]), "event"]).sum()
    row["grouped_discharge_share"] = float(in_groups / len(rest_disc)) if len(rest_disc) else np.nan
    row.update(_burst_stats(ev[ev["kind"] == "myokymic"], rest_disc, "myokymic", rest_min))
    row.update(_burst_stats(ev[ev["kind"] == "neuromyotonic"], rest_disc, "neuromyotonic", rest_min))
    min_rest = p.min_rest_s_needle if kind == "needle" else p.min_rest_s_surface
    row["p_miss_fp"] = float(np.exp(-p.reference_fp_rate_per_min * rest_min))
    row["rest_time_sufficient"] = bool(rest_s >= min_rest)
    flags = []
    if n_fp > 0:
        flags.append("fasciculations present")
    grouped = row["n_doublet"] + row["n_multiplet"] > 0
    bursting = row["n_myokymic"] + row["n_neuromyotonic"] > 0
    if grouped and bursting:
        flags.append("peripheral nerve hyperexcitability pattern")
    if row["n_myokymic"]:
        flags.append("myokymic discharges present")
    if row["n_neuromyotonic"]:
        flags.append("neuromyotonic discharges present")
    if not row["rest_time_sufficient"]:
        flags.append(f"rest time {rest_s:.0f} s is shorter than the {min_rest:.0f} s recommended")
    row["pattern_flags"] = "; ".join(flags)
    return row
