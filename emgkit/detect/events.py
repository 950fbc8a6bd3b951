"""Stage 5 (muscle level): turn one muscle's rest discharges into events.

Order matters: heartbeat chains (surface ECG) become artifacts; high-frequency trains are
found across units (a 150–300 Hz train's overlapping MUAPs are easily split over several
templates, which must not become fasciculations); then each unit's remaining discharges are
classified (``patterns.classify_unit`` / ``classify_fibre``); cramp segments become one event
each. Works on NumPy columns and writes the table once.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .._intervals import in_intervals
from .patterns import (FASCICULATION, beats_put_back, beats_with_missed, chains_chance_p, classify_fibre,
                       classify_unit, ecg_unit, find_trains, heartbeat_chains, periodic_chains, qrs_complexes, qrs_locked,
                       shared_rhythm_chance_p)

#: Events during which a surface electrode cannot show another unit's discharge to be isolated.
BURST_KINDS = ("doublet", "multiplet", "myokymic", "neuromyotonic")

EVENT_COLUMNS = ["event", "muscle", "unit", "kind", "start", "end", "n_discharges", "rate", "confidence"]


def is_ecg(times: np.ndarray, pattern_params) -> bool:
    """A surface 'unit' beating regularly at heart rates is the ECG (see ``patterns.ecg_unit``)."""
    return ecg_unit(times, pattern_params)


def _heartbeats(t_all: np.ndarray, unit: np.ndarray, rest: np.ndarray, state: np.ndarray, pp,
                across_units: bool, amplitude: np.ndarray | None = None, grid: bool = False,
                far: np.ndarray | None = None, signal_beats: np.ndarray | None = None,
                in_train: np.ndarray | None = None) -> np.ndarray:
    """Label a surface muscle's ECG discharges artifact (``state``, ``rest`` updated in place);
    returns the heartbeat times found (empty where none).

    Heartbeats are found as chains across units (``across_units``) and as units beating at a heart
    rhythm (a template of one QRS, beats missed where it is near threshold). Other units whose
    discharges keep to the beats' QRS windows far more often than chance (the Q and S waves split
    off as templates of their own) are ECG too.

    On a ``grid`` one QRS is found as several discharges (its waves on different electrodes, many
    of them lone candidates): the chains across units link QRS complexes (``qrs_complexes``, each
    represented by its largest discharge in ``amplitude``; only complexes holding a discharge of a
    broad template, ``far``, a far field like the ECG), and are kept only when irregular
    complexes at the muscle's rate would rarely form as many, as long chains (``chains_chance_p``).
    ``signal_beats`` are beats found in the signal itself (a QRS below every threshold).
    ``in_train``: per discharge, True inside a train read from the signal; such discharges are
    the train's, and a unit is tested as the ECG on its others.
    """
    beats = [] if signal_beats is None or np.size(signal_beats) < 2 else [np.asarray(signal_beats, np.float64)]
    pos = np.nonzero(rest)[0]
    chained = np.zeros(pos.size, dtype=bool)
    lo_heart = 1.0 / pp.ecg_rate_hz[1]   # a heart's shortest interval
    if across_units and pos.size:
        # Units firing faster than a heart (continuous single discharges at ~6 Hz) chain at
        # sub-multiples of their interval: chains made mostly of their discharges are no heartbeat.
        # Intervals between QRS complexes: an ECG template matched at both the R and the S wave of
        # each beat fires twice per beat, not faster than a heart.
        fast_units = set()
        by_unit = pos[np.argsort(unit[pos], kind="stable")]   # one sort: a grid has ~10⁴ lone units
        for idx in np.split(by_unit, np.flatnonzero(np.diff(unit[by_unit])) + 1):
            if idx.size < 3:
                continue
            t_unit = t_all[idx]
            isi = np.diff(t_unit[qrs_complexes(t_unit, pp.qrs_max_ms)])
            if isi.size and np.mean(isi < lo_heart) > 1 - pp.ecg_chained_share:
                fast_units.add(int(unit[idx[0]]))
        nodes = np.arange(pos.size)
        fast_nodes = np.zeros(pos.size, dtype=bool)
        if grid:
            nodes = qrs_complexes(t_all[pos], pp.qrs_max_ms, None if amplitude is None else amplitude[pos])
            if far is not None:
                # The ECG is a far field over most of the grid: only complexes holding a discharge of
                # a broad template are beats (lone candidates of a split fast rhythm chain too).
                first = qrs_complexes(t_all[pos], pp.qrs_max_ms)
                has_far = np.add.reduceat(far[pos].astype(np.int64), first) > 0 if first.size else first.astype(bool)
                nodes = nodes[has_far]
            fast_nodes = np.zeros(nodes.size, dtype=bool)
            # A fast regular rhythm split over lone candidates (one "unit" each) chains at
            # sub-multiples too: complexes in a continuous-rate chain are no heartbeats.
            for c in periodic_chains(t_all[pos[nodes]], pp.continuous_rate_hz, pp.continuous_min_discharges,
                                     pp.continuous_max_cov, max_skip=1):
                fast_nodes[c] = True
        chains = [c for c in periodic_chains(t_all[pos[nodes]], pp.ecg_rate_hz, 4, pp.ecg_rr_tolerance, sole=True)
                  if np.mean(np.array([int(u) in fast_units for u in unit[pos[nodes[c]]]]) | fast_nodes[c]) <= 0.5]
        if chains:
            # Chains of irregular discharges form by chance, the more so the denser they are (an
            # ALS muscle's fasciculations): kept when they are too long and many for chance, or
            # when too many share one RR interval (a heart's chains broken by missed beats).
            span = t_all[pos[-1]] - t_all[pos[0]]
            rate = nodes.size / span if span > 0 else np.inf
            p_length = chains_chance_p([c.size for c in chains], rate, span, pp)
            p_shared, shared = shared_rhythm_chance_p([np.median(np.diff(t_all[pos[nodes[c]]])) for c in chains], pp)
            if 2 * min(p_length, p_shared) >= pp.ecg_chance_p:
                chains = []
            elif p_shared < p_length:
                chains = [c for c, keep in zip(chains, shared) if keep]
        for chain in chains:
            members = nodes[chain]
            if amplitude is not None:
                # A MUAP far larger than the chain's QRS waves that fired at a beat is no QRS.
                size = amplitude[pos[members]]
                members = members[~(size > pp.ecg_rare_max_amplitude_ratio * np.median(size))]
            chained[members] = True
        if grid and chains:
            # The chains are pieces of one rhythm (a beat lost to voluntary time or crowding breaks
            # them): beats missed between them are put back as within a unit's heartbeat chain.
            beats.append(beats_with_missed(np.sort(t_all[pos[chained]]), pp.ecg_max_missed_beats))
        else:
            beats.extend(beats_with_missed(t_all[pos[nodes[c]]]) for c in chains)
    others, rare, ecg_rows = [], [], []
    # Each unit's rest discharges, grouped in one sort (a grid has ~10⁴ one-discharge units).
    sel = np.nonzero(rest & (unit >= 0))[0]
    sel = sel[np.argsort(unit[sel], kind="stable")]
    bounds = np.flatnonzero(np.diff(unit[sel])) + 1
    for idx in np.split(sel, bounds) if sel.size else []:
        idx = np.sort(idx)
        if idx.size < pp.ecg_min_unit_discharges:
            rare.append(idx)
            continue
        if in_train is not None and in_train[idx].any():
            # A template learnt on a QRS can also fit a train's overlapping MUAPs: the unit is
            # tested on its discharges outside trains; those inside stay the train's.
            others.append(idx[in_train[idx]])
            idx = idx[~in_train[idx]]
            if idx.size < pp.ecg_min_unit_discharges:
                if idx.size:
                    others.append(idx)
                continue
        ecg = idx if ecg_unit(t_all[idx], pp) else None
        if ecg is None:
            # A template learnt on a QRS can also hold a train's or a burst's overlapping MUAPs
            # (a slow wave under the band-pass fits it): its discharges with no other of its own
            # within a heart's shortest interval are tested as a unit of their own.
            isi = np.diff(t_all[idx])
            apart = np.r_[True, isi >= lo_heart] & np.r_[isi >= lo_heart, True]
            if pp.ecg_min_unit_discharges <= apart.sum() < idx.size and ecg_unit(t_all[idx[apart]], pp):
                ecg = idx[apart]
                others.append(idx[~apart])
            else:
                others.append(idx)
        if ecg is not None:
            # One beat per QRS complex (a template may match both its R and its S wave).
            t_unit = t_all[ecg[qrs_complexes(t_all[ecg], pp.qrs_max_ms,
                                             None if amplitude is None else amplitude[ecg])]]
            beats.extend(beats_with_missed(t_unit[c]) for c in heartbeat_chains(t_unit, pp))
            beats.append(t_unit)
            state[ecg] = "artifact"
            rest[ecg] = False
            ecg_rows.append(ecg)
    state[pos[chained]] = "artifact"
    rest[pos[chained]] = False
    if not beats:
        return np.zeros(0)
    # The QRS's own size on this muscle: the discharges just labelled its waves.
    qrs_uv = np.nan
    if amplitude is not None:
        waves = np.concatenate([amplitude[pos[chained]]] + [amplitude[idx] for idx in ecg_rows])
        if waves.size:
            qrs_uv = float(np.percentile(waves, 95))
    beats = beats_put_back(np.concatenate(beats), pp)
    for idx in others:
        idx = idx[rest[idx]]
        locked, p_chance = qrs_locked(t_all[idx], beats, pp)
        if locked.mean() >= pp.ecg_locked_share and p_chance < pp.ecg_locked_p:
            state[idx[locked]] = "artifact"
            rest[idx[locked]] = False
    # A discharge whose waveform recurs too rarely to test its unit and that coincides with a QRS
    # cannot be told from it (the QRS overlapping a MUAP fits no template either) -- unless it is
    # far larger than the QRS's waves: a MUAP that fired during a heartbeat.
    if rare:
        idx = np.concatenate(rare)
        idx = idx[rest[idx]]
        locked, _ = qrs_locked(t_all[idx], beats, pp)
        if np.isfinite(qrs_uv):
            locked &= ~(amplitude[idx] > pp.ecg_rare_max_amplitude_ratio * qrs_uv)
        state[idx[locked]] = "artifact"
        rest[idx[locked]] = False
    return beats


def _inside_bursts(single: list, rows: list, t_all: np.ndarray, pattern_params) -> np.ndarray:
    """Per lone discharge (members, unit): True when it falls within another unit's burst.

    A fasciculation is an *isolated* discharge (de Carvalho & Swash 2013). On surface electrodes
    MUAPs last 10–30 ms, so the overlapping discharges of a doublet, multiplet, myokymic burst or
    neuromyotonic train are split over several templates; a lone discharge of another template
    within such a burst, or within one group interval (``group_isi_ms``) of its ends, cannot be
    shown to be isolated, and most often is a piece of that burst. It stays a discharge without an
    event, like the other remains of split bursts. So does one lying about one intraburst interval
    (± ``burst_rhythm_tolerance`` of it) before a myokymic burst's first discharge or after its
    last: it continues the burst's rhythm (a slow burst's first or last MUAP, fitted by another
    template, is otherwise a "fasciculation" one interval from it).
    """
    out = np.zeros(len(single), dtype=bool)
    pad = pattern_params.group_isi_ms[1] / 1000
    bursts = [(r["start"] - pad, r["end"] + pad, r["unit"]) for r in rows if r["kind"] in BURST_KINDS]
    tol = pattern_params.burst_rhythm_tolerance
    for r in rows:
        if r["kind"] == "myokymic" and r["n_discharges"] >= 2 and r["end"] > r["start"] and tol > 0:
            isi = (r["end"] - r["start"]) / (r["n_discharges"] - 1)
            bursts.append((r["start"] - (1 + tol) * isi, r["start"] - (1 - tol) * isi, r["unit"]))
            bursts.append((r["end"] + (1 - tol) * isi, r["end"] + (1 + tol) * isi, r["unit"]))
    if not single or not bursts:
        return out
    start, end, owner = (np.array(v, dtype=np.float64) for v in zip(*bursts))
    t = np.array([t_all[members[0]] for members, _ in single], dtype=np.float64)
    unit = np.array([k for _, k in single], dtype=np.float64)

    def covering(times, a, b):
        """How many intervals [a, b] contain each time (sorted bounds, two binary searches)."""
        return np.searchsorted(np.sort(a), times, side="right") - np.searchsorted(np.sort(b), times, side="left")

    # Bursts of any unit around each discharge, less those of its own unit.
    count = covering(t, start, end)
    for k in np.intersect1d(unit, owner):
        mine, own = unit == k, owner == k
        count[mine] -= covering(t[mine], start[own], end[own])
    out[:] = count > 0
    return out


def _crowded(single: list, t_all: np.ndarray, loose: np.ndarray, pattern_params) -> np.ndarray:
    """Per lone discharge (members, unit): True when at least ``crowded_min_discharges`` other
    ``loose`` discharges (rest, in no myokymic burst or train) lie within ± ``crowded_window_s``:
    not isolated (``PatternParams.crowded_min_discharges``)."""
    out = np.zeros(len(single), dtype=bool)
    need, reach = pattern_params.crowded_min_discharges, pattern_params.crowded_window_s
    if not single or need <= 0:
        return out
    t = np.sort(t_all[loose])
    at = np.array([t_all[members[0]] for members, _ in single], dtype=np.float64)
    around = np.searchsorted(t, at + reach, side="right") - np.searchsorted(t, at - reach, side="left")
    # The discharge itself is one of them.
    return around - 1 >= need


#: Continuous rhythms sought in one muscle, one after another (see ``classify_muscle``).
_MAX_RHYTHMS = 3


def _rhythm_chains(t: np.ndarray, pp) -> list:
    """Chains of sorted times ``t`` at one steady rhythm: found at ``continuous_max_cov`` of the most
    common interval and followed at ``continuous_extend_cov`` (a stray interval would split the
    rhythm into pieces counted as fasciculations); a loose chain also counts where it is strict on
    its own interval (a rhythm a little off the most common one, or the estimate moved by other
    discharges)."""
    strict = periodic_chains(t, pp.continuous_rate_hz, pp.continuous_min_discharges, pp.continuous_max_cov,
                             max_skip=1)
    if pp.continuous_extend_cov <= pp.continuous_max_cov:
        return strict
    seeds = np.zeros(t.size, dtype=bool)
    for chain in strict:
        seeds[chain] = True
    loose = periodic_chains(t, pp.continuous_rate_hz, pp.continuous_min_discharges, pp.continuous_extend_cov,
                            max_skip=1)
    return [chain for chain in loose if seeds[chain].any()
            or _steady_run(np.diff(t[chain]), pp.continuous_max_cov) >= pp.continuous_min_discharges - 1]


def _steady_run(intervals: np.ndarray, tolerance: float) -> int:
    """The most consecutive ``intervals`` within ± ``tolerance`` (relative) of their median."""
    if intervals.size == 0:
        return 0
    med = float(np.median(intervals))
    ok = np.abs(intervals - med) <= tolerance * med
    best = run = 0
    for good in ok:
        run = run + 1 if good else 0
        best = max(best, run)
    return best


def classify_muscle(dis: pd.DataFrame, muscle: str, kind: str, fibre: np.ndarray, segments: pd.DataFrame,
                    params, next_event: int, families: np.ndarray | None = None,
                    broad: np.ndarray | None = None, n_channels: int = 1, beats: np.ndarray | None = None,
                    periodic=(), trains=(), heartbeats_out: list | None = None):
    """Events of one muscle. ``dis`` is sorted by time; returns (dis, events, next_event).

    ``beats``: heartbeat times found in the signal itself (``patterns.common_power_beats``), added
    to those the discharges give. ``periodic``: (start, end) s spans where the signal repeats at a
    train's interval (``segment.periodic_windows``), for ``patterns.find_trains``. ``trains``:
    (first, last) s of the trains read from the signal there (a unit is tested as the ECG on its
    discharges outside them). ``heartbeats_out``: a list the heartbeat times found are appended to
    (surface muscles).

    ``families`` maps template index → family (templates of one unit split in two): discharges
    are classified per family and reported under the family's first template.
    """
    pp = params.patterns
    t_all = dis["time"].to_numpy()
    unit = dis["unit"].to_numpy().copy()
    if families is not None and families.size:
        in_bank = (unit >= 0) & (unit < families.size)
        unit[in_bank] = families[unit[in_bank]]
    state = dis["state"].to_numpy().astype(object).copy()
    event = np.full(len(dis), -1, dtype=np.int64)
    kinds = np.full(len(dis), "", dtype=object)
    snr = dis["snr"].to_numpy()
    rest = state == "rest"
    rows = []
    confidence_snr = 2 * params.units.peel_min_snr

    def add(kind_name, members, unit_id):
        nonlocal next_event
        times = t_all[members]
        n = members.size
        event[members] = next_event
        kinds[members] = kind_name
        duration = times[-1] - times[0]
        # The mean SNR of its discharges that have one (plain reductions: a needle hour has ~10⁴ events).
        values = snr[members]
        values = values[values == values]
        confidence = min(max(float(values.mean()) / confidence_snr, 0.0), 1.0) if np.isfinite(values).any() else 0.5
        rows.append({"event": next_event, "muscle": muscle, "unit": int(unit_id), "kind": kind_name,
                     "start": float(times[0]), "end": float(times[-1]), "n_discharges": int(n),
                     "rate": float((n - 1) / duration) if n > 1 and duration > 0 else 0.0,
                     "confidence": confidence})
        next_event += 1

    far = np.zeros(len(dis), dtype=bool)
    if broad is not None and broad.size:
        far = (unit >= 0) & (unit < broad.size) & rest
        far[far] = broad[unit[far]]
    if kind == "surface":
        # Before broad templates are set aside: an ECG template spread over the grid gives the beats
        # that its Q/S-wave templates and lone QRS candidates are locked to.
        # A train's last discharge is in it: [first, last] as [first, last + ε).
        in_train = in_intervals(t_all, [(a, b + 1e-9) for a, b in trains]) if len(trains) else None
        found = _heartbeats(t_all, unit, rest, state, pp, across_units=True, amplitude=dis["amplitude"].to_numpy(),
                            grid=n_channels >= params.spikes.grid_min_channels, far=far, signal_beats=beats,
                            in_train=in_train)
        if heartbeats_out is not None:
            heartbeats_out.append(found)
    if broad is not None and broad.size:
        # Grid "units" spread over most electrodes are far-field signals (ECG, movement), not MUAPs.
        far &= rest
        state[far] = "artifact"
        rest[far] = False
    pos = np.nonzero(rest)[0]
    if pos.size > 2:
        for a, b in find_trains(t_all[pos], pp, rest_only=True, periodic=periodic):
            members = pos[a:b + 1]
            ids, counts = np.unique(unit[members], return_counts=True)
            unit[members] = ids[np.argmax(counts)]
            add("neuromyotonic", members, unit[members[0]])
            rest[members] = False
    # Continuous single discharges (Posa 2020): one steady rhythm across the muscle's discharges,
    # however its unit was split; a look-alike, never fasciculations.
    # (Fibrillations fire regularly too, and are classified per fibre below.)
    of_fibre = (unit >= 0) & (unit < fibre.size)
    of_fibre[of_fibre] = fibre[unit[of_fibre]]
    # Rhythm by rhythm: the chains follow the muscle's most common interval, which is one
    # rhythm's; with its discharges set aside another rhythm's interval becomes the most common.
    for _ in range(_MAX_RHYTHMS):
        pos = np.nonzero(rest & ~of_fibre)[0]
        found = False
        for chain in _rhythm_chains(t_all[pos], pp):
            members = pos[chain]
            if t_all[members[-1]] - t_all[members[0]] < pp.continuous_min_duration_s:
                continue
            ids, counts = np.unique(unit[members], return_counts=True)
            add("continuous", members, ids[np.argmax(counts)])
            rest[members] = False
            found = True
        if not found:
            break
    single = []   # (members, unit): fasciculations, added once every unit's bursts are known
    for k in np.unique(unit[rest & (unit >= 0)]):
        idx = np.nonzero(rest & (unit == k))[0]
        times = t_all[idx]
        _, events = (classify_fibre if k < fibre.size and fibre[k] else classify_unit)(times, pp)
        for name, a, b in events:
            if name == FASCICULATION:
                single.append((idx[a:b + 1], k))
                continue
            # A lone unit firing regularly at voluntary rates outside voluntary time is a
            # look-alike, reported as continuous activity, never as fasciculations.
            add("continuous" if name == "voluntary" else name, idx[a:b + 1], k)
    inside = _inside_bursts(single, rows, t_all, pp) if kind == "surface" else np.zeros(len(single), dtype=bool)
    # Doublets and multiplets count: a split train's pieces pair up by chance.
    inside |= _crowded(single, t_all, rest & ((event < 0) | np.isin(kinds, ("doublet", "multiplet"))), pp)
    for (members, k), crowded in zip(single, inside):
        if not crowded:
            add(FASCICULATION, members, k)
    for seg in segments[segments["state"] == "cramp"].itertuples(index=False):
        members = np.nonzero((t_all >= seg.start) & (t_all < seg.end))[0]
        if members.size:
            add("cramp", members, -1)
    dis = dis.assign(unit=unit, state=state, event=event, kind=kinds)
    return dis, pd.DataFrame(rows, columns=EVENT_COLUMNS), next_event
