"""Time or sample intervals: merging, total covered length and membership (one implementation for all stages)."""
from __future__ import annotations

import numpy as np


def merge_intervals(starts, ends) -> list[tuple]:
    """Sorted ``(start, end)`` pairs of the union of [start, end) intervals (touching ones merge).

    Values keep their type (Python ints for integer arrays, floats otherwise).
    """
    starts, ends = np.asarray(starts), np.asarray(ends)
    if starts.size == 0:
        return []
    order = np.argsort(starts, kind="stable")
    out = []
    a, b = None, None
    for x, y in zip(starts[order].tolist(), ends[order].tolist()):
        if b is not None and x <= b:
            b = max(b, y)
        else:
            if b is not None:
                out.append((a, b))
            a, b = x, y
    out.append((a, b))
    return out


def covered_length(starts, ends) -> float:
    """Total length covered by the union of [start, end) intervals."""
    return float(sum(b - a for a, b in merge_intervals(starts, ends)))


def in_intervals(times, intervals) -> np.ndarray:
    """Per time, True when it lies in one of ``intervals`` ((start, end, ...) rows, [start, end))."""
    t = np.asarray(times, dtype=np.float64)
    merged = merge_intervals([row[0] for row in intervals], [row[1] for row in intervals])
    if not merged:
        return np.zeros(t.shape, dtype=bool)
    starts, ends = np.array(merged, dtype=np.float64).T
    j = np.searchsorted(starts, t, side="right") - 1
    return (j >= 0) & (t < ends[np.maximum(j, 0)])
