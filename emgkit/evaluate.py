"""Score a detection against ground truth: discharges, events, units, rates and excluded time.

``evaluate(truth, result)`` accepts anything with ``discharges``, ``events`` and
``segments`` DataFrames (columns in :mod:`emgkit.schema`): the simulator's
``Truth``, a :class:`~emgkit.results.DetectionResult`, or hand-built tables, so
truth can be scored against itself.

Conventions (stated in every table):

* Matching is one-to-one and optimal: the largest possible number of pairs,
  and among those the smallest total time offset (``_match``).
* Two times match when ``|t_found - t_true| <= tolerance`` (inclusive; a 1 ns
  allowance absorbs floating-point rounding). The tolerance is in the
  ``tolerance_ms`` column of every table and in ``Scores.tolerance`` (s).
* Empty denominators: precision = 1.0 when nothing is found, recall = 1.0 when
  nothing is true, F1 = 2TP / (2TP + FP + FN) and 1.0 when both are empty.
  So an empty result against a non-empty truth has precision 1.0, recall 0.0,
  F1 0.0; and anything found where nothing is true has precision 0, F1 0.
* Relative rate errors are (found - true) / true: 0.0 when both are 0, NaN
  when only the true rate is 0 (``rate_diff`` is then the defined number).
"""
from __future__ import annotations

import logging
import math
import sys
import types
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import schema
from .errors import ParameterError

logger = logging.getLogger("emgkit")

#: Allowance added to the tolerance so that offsets equal to it in decimal
#: (e.g. 0.301 - 0.300 s vs 1 ms) are not lost to binary rounding. 1 ns is far
#: below any EMG sample period.
FLOAT_ALLOWANCE_S = 1e-9
#: Components of the matching graph up to this many nodes are solved for max
#: pairs and min total offset (scipy's dense assignment, small components
#: batched up to this many nodes per call); larger ones by Hopcroft-Karp (max
#: pairs only).
_ASSIGNMENT_MAX_NODES = 200
ALL = "ALL"


@dataclass(frozen=True)
class ToleranceDefaults:
    """Default discharge/event timing tolerance (seconds) by electrode.

    needle_s: ±1 ms, the decomposition convention for intramuscular recordings
        (MUniverse; SpikeInterface uses ±0.4 ms for sorted spikes).
    surface_s: ±3 ms for surface bipolar, monopolar and HD-grid recordings: a
        surface MUAP's largest peak differs by a few ms between electrodes
        (docs/clinical-criteria.md, "Scoring conventions").
    unknown_s: used when the truth names no electrode (the looser value, so
        an unknown setup is not scored as if it were a needle).
    """

    needle_s: float = 0.001
    surface_s: float = 0.003
    unknown_s: float = 0.003

    def for_electrode(self, electrode) -> float:
        """The tolerance for ``electrode``: an Electrode, a kind string (``Electrode`` kinds or
        the simulator's names: "needle*", "bipolar", "grid*"), or None."""
        kind = getattr(electrode, "kind", electrode)
        kind = str(kind).lower() if kind is not None else "unknown"
        if kind.startswith("needle"):
            return self.needle_s
        if kind.startswith("surface") or "grid" in kind or "bipolar" in kind:
            return self.surface_s
        return self.unknown_s


DEFAULT_TOLERANCES = ToleranceDefaults()


@dataclass
class Scores:
    """The scores of one result against one truth.

    discharges : per muscle and ``states`` ("rest": both sides' state == "rest";
        "all": every discharge) plus an ``ALL`` muscle row: n_true, n_found, tp, fp, fn,
        precision, recall, f1, offset_ms_median (found - true), tolerance_ms.
    events : per muscle and kind (plus ``ALL`` muscle rows): the same counts.
    units : per muscle, Hungarian pairing of true and found units (rest
        discharges): true_unit, found_unit (-1 = none), tp, fp, fn, precision,
        recall, f1, rate_true, rate_found (discharges/min of rest time), rate_error.
    rates : per muscle and kind: n_true, n_found, rest_min_true, rest_min_found,
        rate_true, rate_found (per min of rest time), rate_diff, rate_error.
    segments : per muscle: voluntary time recall/precision (true contraction time on a
        truly flat channel left out: no signal there to recognise) and the share of
        true rest time the result excluded.
    tolerance : seconds.
    """

    discharges: pd.DataFrame
    events: pd.DataFrame
    units: pd.DataFrame
    rates: pd.DataFrame
    segments: pd.DataFrame
    tolerance: float
    duration: float = math.nan
    notes: list = field(default_factory=list)

    TABLES = ("discharges", "events", "units", "rates", "segments")

    @property
    def tolerance_ms(self) -> float:
        return self.tolerance * 1e3

    def _discharge_row(self, states="rest"):
        d = self.discharges
        rows = d[(d["muscle"] == ALL) & (d["states"] == states)]
        return rows.iloc[0] if len(rows) else None

    def to_dict(self) -> dict:
        """Plain dict (JSON-ready apart from NaN): tolerance, duration and each table as records."""
        out = {"tolerance_s": self.tolerance, "tolerance_ms": self.tolerance_ms,
               "duration_s": self.duration, "notes": list(self.notes)}
        for name in self.TABLES:
            out[name] = getattr(self, name).to_dict(orient="records")
        return out

    def report(self) -> str:
        """Readable multi-line text of every table."""
        lines = [f"emgkit scores (tolerance ±{self.tolerance_ms:g} ms, duration {self.duration:g} s)"]
        lines += [f"note: {n}" for n in self.notes]
        with pd.option_context("display.width", 160, "display.max_columns", 30):
            for name in self.TABLES:
                table = getattr(self, name).drop(columns="tolerance_ms", errors="ignore")
                lines.append(f"\n{name}:")
                lines.append(table.to_string(index=False, float_format=lambda v: f"{v:.3f}")
                             if len(table) else "  (none)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        parts = [f"tolerance ±{self.tolerance_ms:g} ms"]
        row = self._discharge_row("rest")
        if row is not None:
            parts.append(f"rest discharges F1 {row.f1:.3f} (tp {row.tp}, fp {row.fp}, fn {row.fn})")
        ev = self.events[self.events["muscle"] == ALL]
        if len(ev):
            parts.append("events " + ", ".join(f"{r.kind} F1 {r.f1:.3f}" for r in ev.itertuples()))
        if len(self.units):
            paired = self.units[(self.units["true_unit"] >= 0) & (self.units["found_unit"] >= 0)]
            parts.append(f"units {len(paired)} paired of {int((self.units['true_unit'] >= 0).sum())} true")
        return "<Scores " + "; ".join(parts) + ">"

    def __str__(self) -> str:
        return self.report()


def evaluate(truth, result, tolerance: float | None = None, *, kinds=None,
             tolerances: ToleranceDefaults = DEFAULT_TOLERANCES) -> Scores:
    """Score ``result`` against ``truth`` (both: objects with discharges/events/segments DataFrames).

    Parameters
    ----------
    truth, result
        Anything with ``discharges``, ``events`` and ``segments`` DataFrames
        (a missing attribute counts as an empty table). ``truth.duration`` (s)
        gives the recording length, else ``result.duration``, else the latest
        time in either.
    tolerance : float, optional
        Timing tolerance in seconds. Default from ``truth.electrode`` via
        ``tolerances`` (needle ±1 ms, surface/grid ±3 ms).
    kinds : sequence of str, optional
        Event kinds to score (default: every kind present on either side).

    Discharges are scored twice: "rest" compares only discharges whose
    ``state`` is "rest" on both sides (the spontaneous discharges), "all"
    compares every discharge. Units are paired on rest discharges; a found
    unit id < 0 means "not assigned to a unit" and is left out of unit
    pairing. Events match when they have the same muscle and kind and the
    found interval widened by the tolerance overlaps the true interval
    (``found.start - tol <= true.end`` and ``true.start <= found.end + tol``),
    one-to-one. Rest time per muscle is the duration minus the union of that
    muscle's segments (every segment state counts as excluded time), each
    side using its own segments.
    """
    t_dis = _table(truth, "discharges", "truth", ("time", "muscle", "unit", "state"))
    f_dis = _table(result, "discharges", "result", ("time", "muscle", "unit", "state"))
    t_ev = _table(truth, "events", "truth", ("muscle", "kind", "start", "end"))
    f_ev = _table(result, "events", "result", ("muscle", "kind", "start", "end"))
    t_seg = _table(truth, "segments", "truth", ("muscle", "state", "start", "end"))
    f_seg = _table(result, "segments", "result", ("muscle", "state", "start", "end"))

    notes = []
    if tolerance is None:
        electrode = getattr(truth, "electrode", None)
        tolerance = tolerances.for_electrode(electrode)
        if electrode is None:
            notes.append(f"truth names no electrode: default tolerance ±{tolerance * 1e3:g} ms")
    try:
        tolerance = float(tolerance)
    except (TypeError, ValueError):
        raise ParameterError(f"tolerance (s) must be a number; got {tolerance!r}") from None
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ParameterError(f"tolerance (s) must be a finite number >= 0; got {tolerance!r}")
    if tolerance > 1:
        notes.append(f"tolerance {tolerance:g} s is large: it is in seconds, not ms")

    present = list(dict.fromkeys(list(t_ev["kind"].astype(str)) + list(f_ev["kind"].astype(str))))
    if kinds is None:
        kinds = [k for k in schema.EVENT_KINDS if k in present] + \
                [k for k in present if k not in schema.EVENT_KINDS]
    else:
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        for k in kinds:
            if k not in schema.EVENT_KINDS and k not in present:
                raise ParameterError(f"kinds: {k!r} is not an event kind; use some of "
                                     f"{', '.join(schema.EVENT_KINDS)}")

    muscles = list(dict.fromkeys(
        str(m) for table in (t_dis, t_ev, t_seg, f_dis, f_ev, f_seg) for m in pd.unique(table["muscle"])))
    duration = _duration(truth, result, (t_dis, f_dis), (t_ev, f_ev, t_seg, f_seg))
    rest_true = {m: _rest_seconds(t_seg, m, duration) for m in muscles}
    rest_found = {m: _rest_seconds(f_seg, m, duration) for m in muscles}
    tol_ms = tolerance * 1e3

    return Scores(
        discharges=_score_discharges(t_dis, f_dis, muscles, tolerance, tol_ms),
        events=_score_events(t_ev, f_ev, muscles, kinds, tolerance, tol_ms),
        units=_score_units(t_dis, f_dis, muscles, tolerance, tol_ms, rest_true, rest_found),
        rates=_score_rates(t_dis, f_dis, t_ev, f_ev, muscles, kinds, tol_ms, rest_true, rest_found),
        segments=_score_segments(t_seg, f_seg, muscles, duration, tol_ms),
        tolerance=tolerance, duration=duration, notes=notes)


# ------------------------------------------------------------------ matching
def _match(n_a: int, n_b: int, ia: np.ndarray, ib: np.ndarray, cost: np.ndarray):
    """Optimal one-to-one matching on a bipartite graph given as edges (ia[k], ib[k], cost[k]).

    Returns the matched (a, b) index arrays: as many pairs as possible, and
    among those the least total cost. Solved per connected component: a
    component with one node on either side (most are a single edge) keeps its
    cheapest edge; the others go, many at a time, to scipy's dense
    assignment solver; a component above ``_ASSIGNMENT_MAX_NODES`` nodes gets
    a maximum-cardinality matching (Hopcroft-Karp) without the cost.
    """
    from scipy.sparse import coo_matrix, csr_matrix
    from scipy.sparse.csgraph import connected_components, maximum_bipartite_matching

    ia, ib = np.asarray(ia, np.int64), np.asarray(ib, np.int64)
    cost = np.asarray(cost, np.float64)
    if len(ia) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    n = n_a + n_b
    graph = coo_matrix((np.ones(len(ia)), (ia, ib + n_a)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    comp = labels[ia]
    n_comp = int(comp.max()) + 1
    a_nodes = np.bincount(labels[np.unique(ia)], minlength=n_comp)
    b_nodes = np.bincount(labels[n_a + np.unique(ib)], minlength=n_comp)
    # A star (one node on either side) has one pair at most: its cheapest edge.
    star = ((a_nodes == 1) | (b_nodes == 1))[comp]
    by_cost = np.flatnonzero(star)
    by_cost = by_cost[np.lexsort((cost[by_cost], comp[by_cost]))]
    first = by_cost[np.r_[True, comp[by_cost][1:] != comp[by_cost][:-1]]] if len(by_cost) else by_cost
    out_a, out_b = [ia[first]], [ib[first]]

    rest = np.flatnonzero(~star)
    rest = rest[np.argsort(comp[rest], kind="stable")]
    nodes = a_nodes + b_nodes
    large = nodes[comp[rest]] > _ASSIGNMENT_MAX_NODES
    # Small components: batches of about _ASSIGNMENT_MAX_NODES nodes per solver call.
    small = rest[~large]
    if len(small):
        first_of_comp = np.r_[True, comp[small][1:] != comp[small][:-1]]
        batch = np.cumsum(np.where(first_of_comp, nodes[comp[small]], 0)) // _ASSIGNMENT_MAX_NODES
        for group in np.split(small, np.flatnonzero(np.diff(batch)) + 1):
            ua, la = np.unique(ia[group], return_inverse=True)
            ub, lb = np.unique(ib[group], return_inverse=True)
            ra, rb = _min_cost_max_matching(len(ua), len(ub), la, lb, cost[group])
            out_a.append(ua[ra])
            out_b.append(ub[rb])
    for group in np.split(rest[large], np.flatnonzero(np.diff(comp[rest[large]])) + 1):
        if len(group) == 0:
            continue
        ua, la = np.unique(ia[group], return_inverse=True)
        ub, lb = np.unique(ib[group], return_inverse=True)
        sub = csr_matrix((np.ones(len(group)), (la, lb)), shape=(len(ua), len(ub)))
        match = maximum_bipartite_matching(sub, perm_type="column")
        rows = np.flatnonzero(match >= 0)
        out_a.append(ua[rows])
        out_b.append(ub[match[rows]])
    return np.concatenate(out_a), np.concatenate(out_b)


def _min_cost_max_matching(n_a, n_b, ia, ib, cost):
    """Most pairs, then least total cost, by scipy's linear_sum_assignment on a dense matrix.

    Absent edges cost more than all present ones together could save, so
    the assignment never trades a pair for a smaller total offset.
    """
    from scipy.optimize import linear_sum_assignment

    absent = (min(n_a, n_b) + 1) * (float(cost.max()) + 1.0)
    matrix = np.full((n_a, n_b), absent)
    matrix[ia, ib] = cost
    rows, cols = linear_sum_assignment(matrix)
    keep = matrix[rows, cols] < absent
    return rows[keep], cols[keep]


def _time_edges(t_true: np.ndarray, t_found: np.ndarray, tol: float):
    """All (true, found) index pairs with |t_found - t_true| <= tol, and their offsets."""
    order = np.argsort(t_found, kind="stable")
    sorted_found = t_found[order]
    reach = tol + FLOAT_ALLOWANCE_S
    lo = np.searchsorted(sorted_found, t_true - reach, side="left")
    hi = np.searchsorted(sorted_found, t_true + reach, side="right")
    counts = hi - lo
    ia = np.repeat(np.arange(len(t_true)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    ib = order[np.repeat(lo, counts) + offsets]
    delta = t_found[ib] - t_true[ia]
    keep = np.abs(delta) <= reach
    return ia[keep], ib[keep], delta[keep]


def _interval_edges(t_start, t_end, f_start, f_end, tol: float):
    """All (true, found) pairs whose intervals overlap once the found one is widened by tol."""
    reach = tol + FLOAT_ALLOWANCE_S
    order = np.argsort(t_start, kind="stable")
    sorted_start = t_start[order]
    longest = float(np.max(t_end - t_start)) if len(t_start) else 0.0
    lo = np.searchsorted(sorted_start, f_start - reach - longest, side="left")
    hi = np.searchsorted(sorted_start, f_end + reach, side="right")
    counts = hi - lo
    ib = np.repeat(np.arange(len(f_start)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    ia = order[np.repeat(lo, counts) + offsets]
    keep = (t_end[ia] >= f_start[ib] - reach) & (t_start[ia] <= f_end[ib] + reach)
    return ia[keep], ib[keep]


# ------------------------------------------------------------------ scores
def _prf(tp, fp, fn):
    """precision, recall, F1 with the module's conventions for empty denominators."""
    tp, fp, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn))
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 1.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 1.0)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 1.0)
    return precision, recall, f1


def _counts_frame(rows: list[dict], keys: list[str], tol_ms: float, extra=()) -> pd.DataFrame:
    columns = keys + ["n_true", "n_found", "tp", "fp", "fn", *extra]
    table = pd.DataFrame(rows, columns=columns)
    for c in ("n_true", "n_found", "tp", "fp", "fn"):
        table[c] = table[c].astype(np.int64)
    for c in keys:
        table[c] = table[c].astype(str)
    table["precision"], table["recall"], table["f1"] = _prf(table["tp"], table["fp"], table["fn"])
    table["tolerance_ms"] = tol_ms
    return table


def _score_discharges(t_dis, f_dis, muscles, tol, tol_ms) -> pd.DataFrame:
    rows = []
    for states in ("rest", "all"):
        t = t_dis if states == "all" else t_dis[t_dis["state"].astype(str) == "rest"]
        f = f_dis if states == "all" else f_dis[f_dis["state"].astype(str) == "rest"]
        total = {"muscle": ALL, "states": states, "n_true": 0, "n_found": 0, "tp": 0, "fp": 0, "fn": 0}
        all_offsets = []
        for muscle in muscles:
            tt = t.loc[t["muscle"].astype(str) == muscle, "time"].to_numpy(np.float64)
            ft = f.loc[f["muscle"].astype(str) == muscle, "time"].to_numpy(np.float64)
            ia, ib, delta = _time_edges(tt, ft, tol)
            ma, mb = _match(len(tt), len(ft), ia, ib, np.abs(delta))
            offsets = ft[mb] - tt[ma]
            all_offsets.append(offsets)
            tp = len(ma)
            row = {"muscle": muscle, "states": states, "n_true": len(tt), "n_found": len(ft),
                   "tp": tp, "fp": len(ft) - tp, "fn": len(tt) - tp,
                   "offset_ms_median": float(np.median(offsets)) * 1e3 if tp else math.nan}
            rows.append(row)
            for k in ("n_true", "n_found", "tp", "fp", "fn"):
                total[k] += row[k]
        offsets = np.concatenate(all_offsets) if all_offsets else np.zeros(0)
        total["offset_ms_median"] = float(np.median(offsets)) * 1e3 if len(offsets) else math.nan
        rows.append(total)
    table = _counts_frame(rows, ["muscle", "states"], tol_ms, extra=["offset_ms_median"])
    table["offset_ms_median"] = table["offset_ms_median"].astype(np.float64)
    return table[["muscle", "states", "n_true", "n_found", "tp", "fp", "fn", "precision", "recall",
                  "f1", "offset_ms_median", "tolerance_ms"]]


def _score_events(t_ev, f_ev, muscles, kinds, tol, tol_ms) -> pd.DataFrame:
    rows = []
    totals = {k: {"muscle": ALL, "kind": k, "n_true": 0, "n_found": 0, "tp": 0, "fp": 0, "fn": 0}
              for k in kinds}
    for muscle in muscles:
        t_m = t_ev[t_ev["muscle"].astype(str) == muscle]
        f_m = f_ev[f_ev["muscle"].astype(str) == muscle]
        for kind in kinds:
            t = t_m[t_m["kind"].astype(str) == kind]
            f = f_m[f_m["kind"].astype(str) == kind]
            if len(t) == 0 and len(f) == 0:
                continue
            ts, te = t["start"].to_numpy(np.float64), t["end"].to_numpy(np.float64)
            fs, fe = f["start"].to_numpy(np.float64), f["end"].to_numpy(np.float64)
            ia, ib = _interval_edges(ts, te, fs, fe, tol)
            cost = np.abs(fs[ib] - ts[ia]) + np.abs(fe[ib] - te[ia])
            ma, _ = _match(len(ts), len(fs), ia, ib, cost)
            tp = len(ma)
            row = {"muscle": muscle, "kind": kind, "n_true": len(ts), "n_found": len(fs), "tp": tp,
                   "fp": len(fs) - tp, "fn": len(ts) - tp}
            rows.append(row)
            for k in ("n_true", "n_found", "tp", "fp", "fn"):
                totals[kind][k] += row[k]
    rows += list(totals.values())
    return _counts_frame(rows, ["muscle", "kind"], tol_ms)


def _relative_error(found, true):
    found, true = np.asarray(found, np.float64), np.asarray(true, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        err = (found - true) / true
    return np.where((true == 0) & (found == 0), 0.0, np.where(true == 0, np.nan, err))


def _per_min(count, seconds):
    return count / (seconds / 60.0) if seconds > 0 else math.nan


def _score_units(t_dis, f_dis, muscles, tol, tol_ms, rest_true, rest_found) -> pd.DataFrame:
    rows = []
    t_rest = t_dis[t_dis["state"].astype(str) == "rest"]
    f_rest = f_dis[(f_dis["state"].astype(str) == "rest")]
    f_rest = f_rest[f_rest["unit"].to_numpy() >= 0]
    from scipy.optimize import linear_sum_assignment

    for muscle in muscles:
        t = t_rest[t_rest["muscle"].astype(str) == muscle]
        f = f_rest[f_rest["muscle"].astype(str) == muscle]
        t_units, t_of = np.unique(t["unit"].to_numpy(), return_inverse=True)
        f_units, f_of = np.unique(f["unit"].to_numpy(), return_inverse=True)
        if len(t_units) == 0 and len(f_units) == 0:
            continue
        n_t = np.bincount(t_of, minlength=len(t_units))
        n_f = np.bincount(f_of, minlength=len(f_units))
        tt, ft = t["time"].to_numpy(np.float64), f["time"].to_numpy(np.float64)
        ia, ib, delta = _time_edges(tt, ft, tol)
        # Each unit pair is matched on its own: copy the nodes per pair so the
        # pairs' matchings are independent yet solved in one call.
        pair = t_of[ia] * max(len(f_units), 1) + f_of[ib]
        _, node_a = np.unique(np.stack([pair, ia]), axis=1, return_inverse=True)
        _, node_b = np.unique(np.stack([pair, ib]), axis=1, return_inverse=True)
        node_a, node_b = node_a.ravel(), node_b.ravel()
        ma, _ = _match(int(node_a.max(initial=-1)) + 1, int(node_b.max(initial=-1)) + 1,
                       node_a, node_b, np.abs(delta))
        first_edge = np.zeros(int(node_a.max(initial=-1)) + 1, np.int64)
        first_edge[node_a] = np.arange(len(node_a))
        matched_pair = pair[first_edge[ma]]
        common = np.zeros((len(t_units), len(f_units)), np.int64)
        np.add.at(common, (matched_pair // max(len(f_units), 1), matched_pair % max(len(f_units), 1)), 1)
        f1 = 2 * common / (n_t[:, None] + n_f[None, :]) if common.size else common.astype(float)
        rows_i, cols_j = linear_sum_assignment(f1, maximize=True) if common.size else ([], [])
        paired_t, paired_f = set(), set()
        rt_s, rf_s = rest_true[muscle], rest_found[muscle]
        for i, j in zip(rows_i, cols_j):
            if common[i, j] == 0:
                continue
            paired_t.add(i)
            paired_f.add(j)
            rows.append(_unit_row(muscle, t_units[i], f_units[j], common[i, j], n_t[i], n_f[j], rt_s, rf_s))
        rows += [_unit_row(muscle, t_units[i], -1, 0, n_t[i], 0, rt_s, rf_s)
                 for i in range(len(t_units)) if i not in paired_t]
        rows += [_unit_row(muscle, -1, f_units[j], 0, 0, n_f[j], rt_s, rf_s)
                 for j in range(len(f_units)) if j not in paired_f]
    columns = ["muscle", "true_unit", "found_unit", "n_true", "n_found", "tp", "fp", "fn",
               "rate_true", "rate_found"]
    table = pd.DataFrame(rows, columns=columns)
    table["muscle"] = table["muscle"].astype(str)
    for c in columns[1:8]:
        table[c] = table[c].astype(np.int64)
    for c in ("rate_true", "rate_found"):
        table[c] = table[c].astype(np.float64)
    table["precision"], table["recall"], table["f1"] = _prf(table["tp"], table["fp"], table["fn"])
    table["rate_error"] = _relative_error(table["rate_found"], table["rate_true"])
    table["tolerance_ms"] = tol_ms
    return table[["muscle", "true_unit", "found_unit", "n_true", "n_found", "tp", "fp", "fn",
                  "precision", "recall", "f1", "rate_true", "rate_found", "rate_error", "tolerance_ms"]]


def _unit_row(muscle, true_unit, found_unit, tp, n_true, n_found, rest_true_s, rest_found_s):
    return {"muscle": muscle, "true_unit": int(true_unit), "found_unit": int(found_unit),
            "n_true": int(n_true), "n_found": int(n_found), "tp": int(tp),
            "fp": int(n_found - tp), "fn": int(n_true - tp),
            "rate_true": _per_min(n_true, rest_true_s), "rate_found": _per_min(n_found, rest_found_s)}


def _score_rates(t_dis, f_dis, t_ev, f_ev, muscles, kinds, tol_ms, rest_true, rest_found):
    rows = []
    for muscle in muscles:
        sources = [("rest_discharges",
                    int(((t_dis["muscle"].astype(str) == muscle) & (t_dis["state"].astype(str) == "rest")).sum()),
                    int(((f_dis["muscle"].astype(str) == muscle) & (f_dis["state"].astype(str) == "rest")).sum()))]
        for kind in kinds:
            sources.append((kind,
                            int(((t_ev["muscle"].astype(str) == muscle) & (t_ev["kind"].astype(str) == kind)).sum()),
                            int(((f_ev["muscle"].astype(str) == muscle) & (f_ev["kind"].astype(str) == kind)).sum())))
        for kind, n_true, n_found in sources:
            rows.append({"muscle": muscle, "kind": kind, "n_true": n_true, "n_found": n_found,
                         "rest_min_true": rest_true[muscle] / 60, "rest_min_found": rest_found[muscle] / 60,
                         "rate_true": _per_min(n_true, rest_true[muscle]),
                         "rate_found": _per_min(n_found, rest_found[muscle])})
    columns = ["muscle", "kind", "n_true", "n_found", "rest_min_true", "rest_min_found",
               "rate_true", "rate_found"]
    table = pd.DataFrame(rows, columns=columns)
    for c in ("muscle", "kind"):
        table[c] = table[c].astype(str)
    for c in ("n_true", "n_found"):
        table[c] = table[c].astype(np.int64)
    for c in columns[4:]:
        table[c] = table[c].astype(np.float64)
    table["rate_diff"] = table["rate_found"] - table["rate_true"]
    table["rate_error"] = _relative_error(table["rate_found"], table["rate_true"])
    table["tolerance_ms"] = tol_ms
    return table


# ------------------------------------------------------------------ time sets
def _intervals(segments: pd.DataFrame, muscle: str, duration: float, state=None):
    rows = segments[segments["muscle"].astype(str) == muscle]
    if state is not None:
        rows = rows[rows["state"].astype(str) == state]
    start = np.clip(rows["start"].to_numpy(np.float64), 0.0, duration)
    end = np.clip(rows["end"].to_numpy(np.float64), 0.0, duration)
    return start, end


def _covered_seconds(*sets) -> float:
    """Length of the time covered by every one of ``sets`` (each a (starts, ends) pair; overlaps allowed)."""
    points, deltas = [], []
    for k, (start, end) in enumerate(sets):
        points += [start, end]
        d = np.zeros((len(sets), 2 * len(start)))
        d[k, :len(start)], d[k, len(start):] = 1, -1
        deltas.append(d)
    if not points:
        return 0.0
    points = np.concatenate(points)
    if len(points) == 0:
        return 0.0
    deltas = np.concatenate(deltas, axis=1)
    order = np.argsort(points, kind="stable")
    coverage = np.cumsum(deltas[:, order], axis=1)[:, :-1]
    widths = np.diff(points[order])
    return float(widths[(coverage > 0).all(axis=0)].sum())


def _rest_seconds(segments, muscle, duration) -> float:
    return duration - _covered_seconds(_intervals(segments, muscle, duration))


def _score_segments(t_seg, f_seg, muscles, duration, tol_ms) -> pd.DataFrame:
    rows = []
    for muscle in muscles:
        t_vol = _intervals(t_seg, muscle, duration, "voluntary")
        f_vol = _intervals(f_seg, muscle, duration, "voluntary")
        t_excl = _intervals(t_seg, muscle, duration)
        f_excl = _intervals(f_seg, muscle, duration)
        # Contraction time on a truly flat (disconnected) channel holds no signal to recognise.
        t_flat = _intervals(t_seg, muscle, duration, "flat")
        vol_true = _covered_seconds(t_vol) - _covered_seconds(t_vol, t_flat)
        vol_found = _covered_seconds(f_vol)
        vol_both = _covered_seconds(t_vol, f_vol) - _covered_seconds(t_vol, f_vol, t_flat)
        rest_true = duration - _covered_seconds(t_excl)
        # true rest wrongly excluded = found-excluded time minus the part that is truly excluded
        rest_excluded = _covered_seconds(f_excl) - _covered_seconds(f_excl, t_excl)
        rows.append({
            "muscle": muscle, "voluntary_true_s": vol_true, "voluntary_found_s": vol_found,
            "voluntary_overlap_s": vol_both,
            "voluntary_recall": vol_both / vol_true if vol_true > 0 else 1.0,
            "voluntary_precision": vol_both / vol_found if vol_found > 0 else 1.0,
            "rest_true_s": rest_true, "rest_excluded_s": rest_excluded,
            "rest_excluded_share": rest_excluded / rest_true if rest_true > 0 else 0.0})
    columns = ["muscle", "voluntary_true_s", "voluntary_found_s", "voluntary_overlap_s", "voluntary_recall",
               "voluntary_precision", "rest_true_s", "rest_excluded_s", "rest_excluded_share"]
    table = pd.DataFrame(rows, columns=columns)
    table["muscle"] = table["muscle"].astype(str)
    for c in columns[1:]:
        table[c] = table[c].astype(np.float64)
    table["tolerance_ms"] = tol_ms
    return table


# ------------------------------------------------------------------ inputs
def _table(obj, name: str, side: str, required) -> pd.DataFrame:
    from .results import empty_table

    table = getattr(obj, name, None)
    if table is None:
        return empty_table(name)
    if not isinstance(table, pd.DataFrame):
        raise ParameterError(f"{side}.{name} must be a pandas DataFrame; got {type(table).__name__}")
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ParameterError(f"{side}.{name} lacks the column(s) {', '.join(missing)} "
                             f"(see emgkit.schema for the table columns)")
    for column in ("time", "start", "end"):
        if column in required:
            values = pd.to_numeric(table[column], errors="coerce").to_numpy(np.float64)
            bad = np.flatnonzero(~np.isfinite(values))
            if len(bad):
                raise ParameterError(f"{side}.{name} row {table.index[bad[0]]!r}: {column} is "
                                     f"{table[column].iloc[bad[0]]!r}, not a finite number of seconds")
    if "start" in required:
        bad = np.flatnonzero(table["end"].to_numpy(np.float64) < table["start"].to_numpy(np.float64))
        if len(bad):
            raise ParameterError(f"{side}.{name} row {table.index[bad[0]]!r}: end is before start")
    return table


def _duration(truth, result, discharge_tables, other_tables) -> float:
    for obj in (truth, result):
        value = getattr(obj, "duration", None)
        if value is None:
            value = (getattr(obj, "provenance", None) or {}).get("duration_s")
        if value is not None:
            value = float(value)
            if not (math.isfinite(value) and value > 0):
                raise ParameterError(f"duration (s) must be a positive number; got {value!r}")
            return value
    latest = [0.0]
    latest += [float(t["time"].max()) for t in discharge_tables if len(t)]
    latest += [float(t["end"].max()) for t in other_tables if len(t)]
    return max(latest)


__all__ = ["evaluate", "Scores", "ToleranceDefaults", "DEFAULT_TOLERANCES"]


class _CallableModule(types.ModuleType):
    """Importing ``emgkit.evaluate`` (the module) rebinds the package attribute
    ``emgkit.evaluate`` from the function to this module; calling it still scores."""

    def __call__(self, *args, **kwargs) -> Scores:
        return evaluate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
