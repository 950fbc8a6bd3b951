"""Stage 5: name the pattern of each unit's discharges from their times alone.

For one unit's sorted discharge times, in this order:

1. neuromyotonic trains: runs of intervals shorter than 1/``neuromyotonic_min_rate_hz``
   lasting at least ``neuromyotonic_min_duration_s``;
2. look-alikes: runs of regular firing at voluntary rates lasting ``voluntary_min_run_s``
   — ``continuous`` when very regular (CoV < ``continuous_max_cov``), else voluntary;
3. doublets (2) and multiplets (3+): discharges linked by intervals in ``group_isi_ms``;
4. myokymic bursts: ≥ ``myokymic_min_discharges`` discharges at an intraburst rate in
   ``myokymic_rate_hz``, set off by silence, recurring at least ``myokymic_min_bursts`` times;
5. every remaining isolated discharge (``isolated_isi_ms`` on both sides) is a
   fasciculation; other leftovers get no event.

The kernels here are small NumPy run-finding helpers; every threshold comes from
:class:`~emgkit.detect.params.PatternParams`.
"""
from __future__ import annotations

import numpy as np

from .params import PatternParams

#: Labels returned per discharge by ``classify_unit``.
FASCICULATION, DOUBLET, MULTIPLET, MYOKYMIC, NEUROMYOTONIC, VOLUNTARY, CONTINUOUS = (
    "fasciculation", "doublet", "multiplet", "myokymic", "neuromyotonic", "voluntary", "continuous")


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index pairs of the True runs of a boolean array over intervals.

    Interval i links discharge i and i+1, so a run (a, b) of intervals covers discharges a..b+1.
    """
    if mask.size == 0:
        return []
    m = np.concatenate([[False], mask.astype(bool), [False]])
    d = np.diff(m.astype(np.int8))
    starts = np.nonzero(d == 1)[0]
    ends = np.nonzero(d == -1)[0] - 1
    return list(zip(starts.tolist(), ends.tolist()))


def classify_fibre(times: np.ndarray, params: PatternParams | None = None, kind: str = "fibrillation"):
    """Events of a single-fibre unit: one train per stretch of discharges no faster than
    fibrillation rates and with no gap over ``fibrillation_max_gap_s`` (missed discharges)."""
    p = params or PatternParams()
    t = np.asarray(times, dtype=np.float64)
    labels = np.array([kind] * t.size, dtype=object)
    events = []
    isi = np.diff(t)
    lo, hi = 1.0 / p.fibrillation_rate_hz[1], max(1.0 / p.fibrillation_rate_hz[0], p.fibrillation_max_gap_s)
    covered = np.zeros(t.size, dtype=bool)
    for a, b in runs((isi >= lo) & (isi <= hi)):
        events.append((kind, a, b + 1))
        covered[a:b + 2] = True
    for i in np.nonzero(~covered)[0]:
        events.append((kind, int(i), int(i)))
    events.sort(key=lambda e: e[1])
    return labels, events


def _silent_around(t: np.ndarray, a: int, b: int, silence: float) -> bool:
    """Whether the discharges ``t[a..b+1]`` (the run of intervals ``a..b``) are set off by at
    least ``silence`` (s) from the unit's discharges before and after them."""
    before = t[a] - t[a - 1] if a > 0 else np.inf
    after = t[b + 2] - t[b + 1] if b + 2 < t.size else np.inf
    return bool(before >= silence and after >= silence)


def classify_unit(times: np.ndarray, params: PatternParams | None = None):
    """Group one motor unit's discharge times into events.

    Returns (labels per discharge, list of (kind, first_index, last_index)) with discharges
    first..last (inclusive) forming each event, in time order.
    """
    p = params or PatternParams()
    t = np.asarray(times, dtype=np.float64)
    n = t.size
    labels = np.array([""] * n, dtype=object)
    events: list[tuple[str, int, int]] = []
    if n == 0:
        return labels, events
    isi = np.diff(t)
    free = np.ones(n, dtype=bool)

    def claim(kind, a, b):
        labels[a:b + 1] = kind
        free[a:b + 1] = False
        events.append((kind, a, b))

    # 1. Neuromyotonic trains.
    fast = isi < 1.0 / p.neuromyotonic_min_rate_hz
    for a, b in runs(fast):
        if t[b + 1] - t[a] >= p.neuromyotonic_min_duration_s:
            claim(NEUROMYOTONIC, a, b + 1)
    # 2. Regular runs at voluntary rates: not spontaneous.
    lo_isi, hi_isi = 1.0 / p.voluntary_rate_hz[1], 1.0 / p.voluntary_rate_hz[0]
    steady = (isi >= lo_isi) & (isi <= hi_isi) & free[:-1] & free[1:]
    for a, b in runs(steady):
        if t[b + 1] - t[a] < p.voluntary_min_run_s:
            continue
        seg = isi[a:b + 1]
        # Shorter than continuous firing and set off by silence on both sides: a burst (step 4
        # names it myokymic when bursts recur), not a look-alike.
        if t[b + 1] - t[a] < p.continuous_min_duration_s and \
                _silent_around(t, a, b, p.myokymic_silence_factor * seg.mean()):
            continue
        cov = seg.std() / seg.mean()
        if cov < p.continuous_max_cov:
            claim(CONTINUOUS, a, b + 1)
        elif cov < p.voluntary_max_cov:
            claim(VOLUNTARY, a, b + 1)
    # 3. Doublets and multiplets.
    g_lo, g_hi = p.group_isi_ms[0] / 1000, p.group_isi_ms[1] / 1000
    grouped = (isi >= g_lo) & (isi <= g_hi) & free[:-1] & free[1:]
    group_runs = runs(grouped)
    # 4. Myokymic bursts: candidate bursts over the free discharges, groups counted as one firing.
    burst_lo, burst_hi = 1.0 / p.myokymic_rate_hz[1], 1.0 / p.myokymic_rate_hz[0]
    in_burst = (isi >= burst_lo * 0.999) & (isi <= burst_hi) & free[:-1] & free[1:]
    bursts = []
    pieces = []
    for a, b in runs(in_burst):
        # Bursts recurring every few hundred ms chain into one run of in-range intervals: split
        # it where an interval is much longer than the run's typical one (the silences).
        seg = isi[a:b + 1]
        cut = np.nonzero(seg > p.myokymic_silence_factor * np.median(seg))[0]
        edges = [a] + [a + c + 1 for c in cut]
        ends = [a + c - 1 for c in cut] + [b]
        pieces.extend((x, y) for x, y in zip(edges, ends) if y >= x)
    for a, b in pieces:
        if b + 2 - a < p.myokymic_min_discharges:
            continue
        # Two discharges further apart than `isolated_isi_ms` are each isolated by the FP
        # definition (de Carvalho & Swash): two fasciculations, not a burst whose rate is uniform.
        if b == a and isi[a] > p.isolated_isi_ms / 1000:
            continue
        if _silent_around(t, a, b, p.myokymic_silence_factor * isi[a:b + 1].mean()):
            bursts.append((a, b + 1))
    if len(bursts) >= p.myokymic_min_bursts:
        # Once a unit's recurring bursts are established, a burst need not be set off by
        # silence on both sides: a discharge of another unit assigned to this one, or a
        # burst starting soon after the last, fills it.
        # Established means recurring bursts of several discharges: two-discharge "bursts" at
        # 2–4 Hz also arise by chance when fasciculating units share a template.
        n_min = p.myokymic_established_min_discharges
        if sum(b - a + 1 >= n_min for a, b in bursts) >= p.myokymic_min_bursts:
            claimed = set(bursts)
            bursts += [(a, b + 1) for a, b in pieces if b + 2 - a >= n_min and (a, b + 1) not in claimed]
            # A group at the unit's own intraburst interval (± `burst_rhythm_tolerance`), set off by
            # silence, is one of its bursts, not a doublet: a burst at ~60 Hz has doublet intervals.
            if p.burst_rhythm_tolerance > 0:
                own = np.median(np.concatenate([isi[a:b] for a, b in bursts]))
                lo_i, hi_i = (1 - p.burst_rhythm_tolerance) * own, (1 + p.burst_rhythm_tolerance) * own
                taken = np.zeros(n, dtype=bool)
                for a, b in bursts:
                    taken[a:b + 1] = True
                for a, b in group_runs:
                    seg = isi[a:b + 1]
                    if (not taken[a:b + 2].any() and free[a:b + 2].all() and np.all((seg >= lo_i) & (seg <= hi_i))
                            and _silent_around(t, a, b, p.myokymic_silence_factor * seg.mean())):
                        bursts.append((a, b + 1))
        for a, b in sorted(bursts):
            claim(MYOKYMIC, a, b)
    for a, b in group_runs:
        if not free[a:b + 2].all():
            continue
        claim(DOUBLET if b == a else MULTIPLET, a, b + 1)
    # 5. Fasciculations: every other single discharge that is isolated (no discharge of the
    #    unit within ``isolated_isi_ms`` on either side). The rest fit no named pattern (the
    #    remains of bursts or trains split over units, or residuals): they stay discharges
    #    without an event, never counted as fasciculations.
    gap = p.isolated_isi_ms / 1000
    prev_gap = np.r_[np.inf, isi]
    next_gap = np.r_[isi, np.inf]
    for i in np.nonzero(free)[0]:
        if prev_gap[i] > gap and next_gap[i] > gap:
            claim(FASCICULATION, int(i), int(i))
    events.sort(key=lambda e: e[1])
    return labels, events


def periodic_chains(times: np.ndarray, rate_hz: tuple, min_beats: int, tolerance: float,
                    max_skip: int = 1, sole: bool = False) -> list[np.ndarray]:
    """Chains of sorted times that repeat at one steady interval (index arrays, in time order).

    The interval is the most common pairwise interval within ``rate_hz``; consecutive members
    of a chain are that interval ± ``tolerance`` (relative) apart; chains shorter than
    ``min_beats`` are dropped; with ``max_skip`` > 1 a link may span that many intervals (a
    missed discharge). Each time belongs to at most one chain. Heartbeats and continuous
    single discharges chain like this; fasciculations, irregular by nature, do not.

    With ``sole``, a link is made only where exactly one time lies within the tolerance of the
    expected one: amid dense activity (bursts, trains) some discharge falls near any expected
    time by chance, and chains of such chance links are no rhythm.
    """
    t = np.asarray(times, dtype=np.float64)
    if t.size < min_beats:
        return []
    lo, hi = 1.0 / rate_hz[1], 1.0 / rate_hz[0]
    bin_s = (hi - lo) / 60
    edges = np.arange(lo, hi + bin_s, bin_s)

    def pair_intervals():
        """Intervals t[j] - t[i] within [lo, hi], one index offset at a time (memory O(n))."""
        for k in range(1, t.size):
            later, earlier = t[k:], t[:-k]
            ok = (later >= earlier + lo) & (later <= earlier + hi)
            if ok.any():
                yield later[ok] - earlier[ok]
            elif not (later <= earlier + hi).any():
                return  # t is sorted: larger offsets only give longer intervals

    counts = np.zeros(len(edges) - 1, dtype=np.int64)
    n_pairs = 0
    for d in pair_intervals():
        counts += np.histogram(d, bins=edges)[0]
        n_pairs += d.size
    if n_pairs < min_beats - 1:
        return []
    k = int(np.argmax(counts + np.r_[counts[1:], 0] + np.r_[0, counts[:-1]]))
    e0, e1 = edges[max(k - 1, 0)], edges[min(k + 2, len(edges) - 1)]
    interval = float(np.median(np.concatenate([d[(d >= e0) & (d < e1)] for d in pair_intervals()])))
    tol = tolerance * interval
    nxt = np.full(t.size, -1)
    for skip in range(max_skip, 0, -1):  # the nearest link wins: write it last
        a_idx = np.searchsorted(t, t + skip * (interval - tol))
        b_idx = np.searchsorted(t, t + skip * (interval + tol))
        for i in np.nonzero((b_idx - a_idx == 1) if sole else (b_idx > a_idx))[0]:
            a, b = a_idx[i], b_idx[i]
            nxt[i] = a + int(np.argmin(np.abs(t[a:b] - t[i] - skip * interval)))
    has_prev = np.zeros(t.size, dtype=bool)
    has_prev[nxt[nxt >= 0]] = True
    chains = []
    used = np.zeros(t.size, dtype=bool)  # two links may lead to one time: it joins the first kept chain only
    for i in np.nonzero(~has_prev & (nxt >= 0))[0]:   # chain starts
        chain = [i]
        while nxt[chain[-1]] >= 0 and not used[nxt[chain[-1]]]:
            chain.append(nxt[chain[-1]])
        if len(chain) >= min_beats:
            used[chain] = True
            chains.append(np.asarray(chain))
    return chains


def ecg_beats(times: np.ndarray, params: PatternParams | None = None, min_beats: int = 4) -> np.ndarray:
    """Mask of the sorted times that form a heartbeat chain (surface ECG pick-up), across all units.

    Each beat must be the only discharge where the rhythm puts it (``periodic_chains(sole=True)``):
    a 1 Hz rhythm with 8 % tolerance is met by chance in a myokymic burst or a neuromyotonic
    train; a heartbeat the muscle's own activity crowds is still caught per unit (:func:`ecg_unit`).
    """
    p = params or PatternParams()
    mask = np.zeros(np.size(times), dtype=bool)
    for chain in periodic_chains(times, p.ecg_rate_hz, min_beats, p.ecg_rr_tolerance, sole=True):
        mask[chain] = True
    return mask


def heartbeat_chains(times: np.ndarray, params: PatternParams | None = None, min_beats: int = 4) -> list:
    """One unit's heartbeat chains (index arrays): its sorted times at one RR interval, each beat the
    only discharge where the rhythm puts it, up to ``ecg_max_missed_beats`` beats missed in a row."""
    p = params or PatternParams()
    return periodic_chains(times, p.ecg_rate_hz, min_beats, p.ecg_rr_tolerance,
                           max_skip=p.ecg_max_missed_beats + 1, sole=True)


def qrs_complexes(times: np.ndarray, max_ms: float, amplitude: np.ndarray | None = None) -> np.ndarray:
    """Index of one discharge per complex: sorted times within ``max_ms`` of a complex's first one are
    one complex (one QRS lasts ≤ 120 ms: its Q, R and S waves may be found as several discharges).

    The complex is represented by its largest discharge (``amplitude``; the R wave), else its first.
    """
    t = np.asarray(times, dtype=np.float64)
    if t.size == 0:
        return np.zeros(0, dtype=np.int64)
    span = max_ms / 1000
    starts = []
    i = 0
    while i < t.size:   # greedy: a complex never grows past max_ms from its first discharge
        starts.append(i)
        i = int(np.searchsorted(t, t[i] + span, side="right"))
    starts = np.asarray(starts, dtype=np.int64)
    if amplitude is None:
        return starts
    amp = np.nan_to_num(np.abs(np.asarray(amplitude, dtype=np.float64)), nan=0.0)
    ends = np.r_[starts[1:], t.size]
    return np.array([a + int(np.argmax(amp[a:b])) for a, b in zip(starts, ends)], dtype=np.int64)


def common_power_beats(power: np.ndarray, step_s: float, params: PatternParams | None = None) -> np.ndarray:
    """Heartbeat times (s) from a surface muscle's power series (``dsp.window_median_power`` per ``step_s``:
    the median over a grid's electrodes, one bipolar electrode's own).

    Stretches above half of ``qrs_common_power`` × the series' median that reach it, lasting
    ``qrs_min_ms`` to ``qrs_max_ms`` (shorter: a MUAP; longer: a contraction or an artifact), are
    QRS candidates, timed at their maximum; those that
    chain at a heart rhythm (``periodic_chains``), when irregular candidates at their rate would
    rarely chain as much (``chains_chance_p`` below ``ecg_chance_p``), are the beats, with the
    beats the chains skip put back. Empty when there is no such rhythm.
    """
    p = params or PatternParams()
    x = np.asarray(power, dtype=np.float64)
    empty = np.zeros(0)
    if x.size < 4 or step_s <= 0:
        return empty
    level = float(np.median(x))
    if not level > 0:
        return empty
    thr = p.qrs_common_power * level
    # Extents above half the threshold, holding a bin above it: a QRS's power lasts 30–120 ms,
    # a surface MUAP's 10–20 ms (even one spread over most of a grid).
    above = np.r_[False, x > thr / 2, False]
    edges = np.flatnonzero(np.diff(above.astype(np.int8)))
    starts, stops = edges[::2], edges[1::2]
    length = (stops - starts) * step_s
    peaks = np.array([a + int(np.argmax(x[a:b])) for a, b in zip(starts, stops)], dtype=np.int64)
    qrs = (length >= p.qrs_min_ms / 1000 - 1e-9) & (length <= p.qrs_max_ms / 1000 + 1e-9) & (x[peaks] > thr)
    if qrs.sum() < 4:
        return empty
    peaks = peaks[qrs]
    times = (peaks + 0.5) * step_s
    keep = qrs_complexes(times, p.qrs_max_ms, x[peaks])
    times = times[keep]
    # No beat skipped within a chain: the chance test counts links of consecutive beats only.
    chains = periodic_chains(times, p.ecg_rate_hz, 4, p.ecg_rr_tolerance, sole=True)
    if not chains:
        return empty
    span = x.size * step_s
    if chains_chance_p([c.size for c in chains], times.size / span, span, p) >= p.ecg_chance_p:
        return empty
    chained = np.sort(np.concatenate([times[c] for c in chains]))
    # A steady rhythm faster than a heart (a unit firing regularly at 4 Hz, its MUAPs long enough
    # to pass for QRS complexes) chains at sub-multiples of its interval: candidates mostly closer
    # than the shortest RR interval, and regularly so, are no heart.
    isi = np.diff(times)
    short = isi[isi < 1 / p.ecg_rate_hz[1]]
    if short.size > (1 - p.ecg_chained_share) * isi.size and short.std() < p.ecg_max_cov * short.mean():
        return empty
    # The chains are pieces of one rhythm: beats missed between them are put back.
    return beats_with_missed(chained, p.ecg_max_missed_beats)


def chains_chance_p(lengths, rate_hz: float, duration_s: float, params: PatternParams | None = None) -> float:
    """Chance (p) of heartbeat chains at least as long and as many as ``lengths`` (beats each) among
    irregular (Poisson, like fasciculations) discharges at ``rate_hz`` over ``duration_s``.

    A link needs exactly one discharge within ± ``ecg_rr_tolerance`` of the expected beat, so a
    chain of L beats starts at a given discharge with chance q^(L-1) and the number of chance
    chains of ≥ L beats is Poisson with mean rate·duration·q^(L-1). The scan takes the least
    likely L over the chains found; the RR interval was picked from the data among the heart-rate
    range (about one choice per link window) and each L tried: Bonferroni over both.
    """
    from scipy.stats import poisson

    p = params or PatternParams()
    lengths = np.sort(np.asarray(lengths, dtype=np.int64))[::-1]
    if lengths.size == 0:
        return 1.0
    rr = 2.0 / (p.ecg_rate_hz[0] + p.ecg_rate_hz[1])          # a mid-range RR interval (s)
    window = 2 * p.ecg_rr_tolerance * rr
    q = min(rate_hz * window * np.exp(-rate_hz * window), 1.0)
    n_intervals = max(1.0, (1 / p.ecg_rate_hz[0] - 1 / p.ecg_rate_hz[1]) / window)
    starts = max(rate_hz * duration_s, 1.0)
    best = 1.0
    for k, length in enumerate(lengths, start=1):     # k chains of at least `length` beats
        best = min(best, float(poisson.sf(k - 1, starts * q ** (int(length) - 1))))
    return min(1.0, best * n_intervals * np.unique(lengths).size)


def shared_rhythm_chance_p(rr_s, params: PatternParams | None = None) -> tuple[float, np.ndarray]:
    """(chance p, mask of the chains in it) that as many of the chains as share one RR interval
    (``rr_s``: each chain's median interval, s; all within a window ± ``ecg_rr_tolerance`` wide)
    would by chance.

    A heart's chains, broken where beats go undetected or a fasciculation takes a link, all beat
    at its RR; chance chains among irregular discharges take any interval in the heart-rate
    range. With that range cut into n windows of ± ``ecg_rr_tolerance``, k of N chance chains fall
    in one window with chance at most C(N, k)·n^(1 − k) (union bound over windows and groups).
    """
    from math import comb

    p = params or PatternParams()
    log_rr = np.log(np.asarray(rr_s, dtype=np.float64))
    if log_rr.size < 2:
        return 1.0, np.ones(log_rr.size, dtype=bool)
    rr = np.sort(log_rr)
    width = np.log1p(p.ecg_rr_tolerance)
    n_windows = max(1.0, np.log(p.ecg_rate_hz[1] / p.ecg_rate_hz[0]) / (2 * width))
    # The largest group within 2·width (one window) of its first member.
    ends = np.searchsorted(rr, rr + 2 * width, side="right")
    first = int(np.argmax(ends - np.arange(rr.size)))
    k = int(ends[first] - first)
    mask = (log_rr >= rr[first]) & (log_rr <= rr[ends[first] - 1])
    return min(1.0, comb(rr.size, k) * n_windows ** (1 - k)), mask


def ecg_unit(times: np.ndarray, params: PatternParams | None = None, min_beats: int = 4) -> bool:
    """A surface unit is the ECG when it beats regularly at heart rates: most of its discharges
    (``ecg_chained_share``) lie in heartbeat chains (missed beats allowed), or its intervals
    mostly lie at heart rates with CoV below ``ecg_max_cov``."""
    p = params or PatternParams()
    t = np.sort(np.asarray(times, dtype=np.float64))
    if t.size < min_beats:
        return False
    isi = np.diff(t)
    lo, hi = 1 / p.ecg_rate_hz[1], 1 / p.ecg_rate_hz[0]
    # A unit firing faster than a heart (a regular 6 Hz unit chains at sub-multiples of its rate) is none.
    if np.mean(isi < lo) > 1 - p.ecg_chained_share:
        return False
    chained = sum(c.size for c in heartbeat_chains(t, p, min_beats))
    if chained >= p.ecg_chained_share * t.size:
        return True
    in_range = (isi >= lo) & (isi <= hi)
    if in_range.mean() < 0.6:
        return False
    r = isi[in_range]
    return bool(r.std() / r.mean() < p.ecg_max_cov)


def beats_with_missed(chain_times: np.ndarray, max_missed: int | None = None) -> np.ndarray:
    """A heartbeat chain's times with the beats it skipped put back, evenly between their neighbours
    (gaps of more than ``max_missed`` beats, when given, are left as they are)."""
    t = np.asarray(chain_times, dtype=np.float64)
    if t.size < 2:
        return t
    gaps = np.diff(t)
    rr = float(np.median(gaps[gaps <= 1.5 * gaps.min()]))
    out = [t[:1]]
    for t0, g in zip(t[:-1], gaps):
        m = max(1, int(round(g / rr)))
        if max_missed is not None and m > max_missed + 1:
            out.append(np.array([t0 + g]))
            continue
        out.append(t0 + g * np.arange(1, m + 1) / m)
    return np.concatenate(out)


def beats_put_back(beats: np.ndarray, params: PatternParams | None = None) -> np.ndarray:
    """A muscle's beat times (from several units and chains) with the beats none of them caught put
    back: one time per QRS complex; a gap of 2 … ``ecg_max_missed_beats`` + 1 beat intervals, each
    within ``ecg_rr_tolerance`` of the typical one (the median interval at heart rates), is filled
    evenly. A beat found past a chain's end would otherwise put the beats missed between them
    inside the span ``qrs_locked`` judges, as unlocked."""
    p = params or PatternParams()
    b = np.unique(np.asarray(beats, dtype=np.float64))
    if b.size < 3:
        return b
    complexes = b[qrs_complexes(b, p.qrs_max_ms)]
    gaps = np.diff(complexes)
    heart = (gaps >= 1 / p.ecg_rate_hz[1]) & (gaps <= 1 / p.ecg_rate_hz[0])
    if not heart.any():
        return b
    rr = float(np.median(gaps[heart]))
    m = np.rint(gaps / rr).astype(np.int64)
    fill = (m >= 2) & (m <= p.ecg_max_missed_beats + 1) \
        & (np.abs(gaps / np.maximum(m, 1) - rr) <= p.ecg_rr_tolerance * rr)
    added = [complexes[i] + gaps[i] * np.arange(1, m[i]) / m[i] for i in np.nonzero(fill)[0]]
    return np.unique(np.concatenate([b] + added)) if added else b


def qrs_locked(times: np.ndarray, beats: np.ndarray, params: PatternParams | None = None):
    """(mask of ``times`` within ± ``qrs_max_ms``/2 of a beat, one-sided binomial p of that many by chance).

    Chance is the share of the beats' span covered by their QRS windows; only times inside the
    span are counted.
    """
    p = params or PatternParams()
    t = np.asarray(times, dtype=np.float64)
    b = np.unique(np.asarray(beats, dtype=np.float64))
    mask = np.zeros(t.size, dtype=bool)
    if b.size < 2 or t.size == 0:
        return mask, 1.0
    half = p.qrs_max_ms / 2000
    i = np.clip(np.searchsorted(b, t), 1, b.size - 1)
    mask = np.minimum(np.abs(t - b[i - 1]), np.abs(t - b[i])) <= half
    lo, hi = b[0] - half, b[-1] + half
    inside = (t >= lo) & (t <= hi)
    from .._intervals import covered_length

    covered = covered_length(b - half, b + half)
    chance = min(1.0, covered / (hi - lo))
    n, k = int(inside.sum()), int((mask & inside).sum())
    if n == 0:
        return mask, 1.0
    from scipy.stats import binomtest

    return mask, float(binomtest(k, n, chance, alternative="greater").pvalue)


def find_trains(times: np.ndarray, params: PatternParams | None = None, rest_only: bool = False,
                periodic=()) -> list[tuple[int, int]]:
    """(first, last) indices of high-frequency trains among a muscle's sorted discharge times.

    A train is a run with no gap above ``neuromyotonic_max_gap_ms``, lasting at least
    ``neuromyotonic_min_duration_s`` at a detected rate of at least
    ``neuromyotonic_min_detected_rate_hz``, whose intervals are regular enough (CoV below
    ``neuromyotonic_max_cov``) to come from one unit: missed discharges make intervals multiples
    of the true one, while several voluntary units firing together give random intervals.
    With ``rest_only`` (the times are rest discharges: contractions and cramps are set aside),
    intervals under the shortest a unit can fire at (``group_isi_ms[0]``), which join another
    unit's or a doubly detected discharge to the train's, are left out of the regularity test.
    Not before segmentation: the merged candidates of a cramp's few units then look as regular.
    A run overlapping one of the ``periodic`` (start, end, ...) s spans — where the signal itself repeats
    at a train's interval (``segment.periodic_windows``) — needs no regularity of its sorted
    discharges: a train's overlapping MUAPs are found sparsely and irregularly.
    """
    p = params or PatternParams()
    t = np.asarray(times, dtype=np.float64)
    out = []
    if t.size < 3:
        return out
    isi = np.diff(t)
    for a, b in runs(isi <= p.neuromyotonic_max_gap_ms / 1000):
        span = t[b + 1] - t[a]
        if span < p.neuromyotonic_min_duration_s or (b + 1 - a) / span < p.neuromyotonic_min_detected_rate_hz:
            continue
        seg = isi[a:b + 1]
        if any(s[0] < t[b + 1] and s[1] > t[a] for s in periodic):
            out.append((a, b + 1))
            continue
        if rest_only:
            seg = seg[seg >= p.group_isi_ms[0] / 1000]
        if seg.size < 2 or seg.std() / seg.mean() > p.neuromyotonic_max_cov:
            continue
        out.append((a, b + 1))
    return out
