"""JSON encoding of the numpy, path, date and set values emgkit writes into result and data files."""
from __future__ import annotations

import datetime as _dt
import os

import numpy as np


def json_default(value):
    """``json.dumps(default=...)`` for numpy scalars and arrays, paths, dates and sets; TypeError otherwise."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_default_or_str(value):
    """As :func:`json_default`, but anything else is written as its ``str`` (free-form metadata)."""
    try:
        return json_default(value)
    except TypeError:
        return str(value)
