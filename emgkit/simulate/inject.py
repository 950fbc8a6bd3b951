"""Inject simulated spontaneous units into a real recording: real background, known truth.

The truth lists only the injected discharges: whatever the real recording
already held (its own motor units, artifacts) is not in it. Pick a relaxed,
quiet stretch (``start``/``stop``) when scoring a detector this way.
"""
from __future__ import annotations

import numpy as np

from dataclasses import asdict

from ..errors import ParameterError, check_option
from ..recording import Recording
from .generate import ALIASES, _build_truth, _simulate_muscle
from .params import ELECTRODES, SCENARIOS, resolve_params


def _robust_rms(x: np.ndarray) -> float:
    """Background RMS from the median absolute deviation (insensitive to the MUAPs riding on it)."""
    x = x[np.isfinite(x)]
    if x.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def _model_for(electrodes) -> str:
    kinds = {e.kind for e in electrodes}
    if len(electrodes) > 1:
        return "grid"
    kind = kinds.pop()
    if kind == "needle_monopolar":
        return "needle_monopolar"
    if kind.startswith("needle"):
        return "needle"
    return "bipolar"


def _positions(electrodes) -> np.ndarray:
    """Electrode positions (mm): x/y when known, else row/col × IED, else a line 8 mm apart."""
    if all(e.x_mm is not None and e.y_mm is not None for e in electrodes):
        return np.array([[e.x_mm, e.y_mm] for e in electrodes], dtype=np.float64)
    if all(e.row is not None and e.col is not None for e in electrodes):
        ied = next((e.ied_mm for e in electrodes if e.ied_mm), 8.0)
        return np.array([[e.row * ied, e.col * ied] for e in electrodes], dtype=np.float64)
    return np.array([[8.0 * i, 0.0] for i in range(len(electrodes))], dtype=np.float64)


def inject(recording: Recording, scenario="benign", seed: int = 0, muscles=None, snr_db: float | None = None,
           start: float | None = None, stop: float | None = None, **params):
    """Add simulated spontaneous units to the EMG channels of ``recording``; return (Recording, Truth).

    Parameters
    ----------
    recording : Recording
        The real background (read whole into memory).
    scenario : str
        Simulator preset for the injected units (``benign``, ``als``, ``isaacs``, ``myokymia``, ...).
    seed : int
    muscles : str or list, optional
        Muscles to inject into (default: every EMG muscle).
    snr_db : float, optional
        Each unit's main-channel peak-to-peak over the channel's robust background RMS, in dB (drawn in
        ``[snr_db, snr_db + snr_spread_db]``); default physiological amplitudes.
    start, stop : float, optional
        Seconds: discharges are placed only inside this window.
    **params
        Other :class:`SimulationParams` fields.

    The electrode model follows the channels' electrode kind: needle, bipolar (one channel per
    muscle, any other kind), or grid (several channels: positions from the electrodes, else
    row/col × IED, else a line 8 mm apart). Synthetic background and artifacts are never added.
    """
    if not isinstance(recording, Recording):
        raise ParameterError(f"inject needs a Recording; got {type(recording).__name__}")
    check_option("scenario", scenario, tuple(SCENARIOS))
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"seed must be a non-negative integer; got {seed!r}")
    fs, n = recording.fs, recording.n_samples
    duration = n / fs
    t0 = 0.0 if start is None else float(start)
    t1 = duration if stop is None else float(stop)
    if not 0.0 <= t0 < t1 <= duration:
        raise ParameterError(f"start/stop (s) must satisfy 0 <= start < stop <= {duration:g}; got {start}, {stop}")
    emg_idx = [i for i, t in enumerate(recording.channel_types) if t == "emg"]
    if not emg_idx:
        raise ParameterError("the recording has no EMG channel to inject into")
    available = list(dict.fromkeys(recording.muscles[i] for i in emg_idx))
    if muscles is None:
        chosen = available
    else:
        chosen = [muscles] if isinstance(muscles, str) else list(muscles)
        missing = [m for m in chosen if m not in available]
        if missing:
            raise ParameterError(f"muscles {missing} are not in the recording; its EMG muscles are {available}")
    overrides = {ALIASES.get(k, k): v for k, v in params.items()}
    overrides.update(snr_db=snr_db, artifacts=False)
    p = resolve_params(scenario, overrides)

    data = recording.get_data()
    a, b = int(t0 * fs), int(np.ceil(t1 * fs))
    rows_d, rows_e, rows_s, rows_u, resolved = [], [], [], [], {}
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(len(chosen))]
    for muscle, rng in zip(chosen, rngs):
        idx = [i for i in emg_idx if recording.muscles[i] == muscle]
        electrodes = [recording.electrodes[i] for i in idx]
        model_name = _model_for(electrodes)
        model = ELECTRODES[model_name]
        positions = _positions(electrodes) if model.is_grid else None
        layout = ([recording.channels[i] for i in idx], electrodes, positions)
        rms = float(np.median([_robust_rms(data[i, a:b]) for i in idx]))
        if snr_db is not None and not rms > 0:
            raise ParameterError(f"muscle {muscle!r} has a flat background between {t0:g} and {t1:g} s: "
                                 "snr_db cannot be relative to it; give snr_db=None")
        block, _, _, info = _simulate_muscle(rng, muscle, p, model, model_name, fs, n, 0.0, rows_d, rows_e, rows_s,
                                             rows_u, None, layout=layout, noise_rms=rms, window=(t0, t1),
                                             synthetic_background=False)
        data[idx] += block
        resolved[muscle] = {"scenario": scenario, "electrode_model": model_name, "background_rms_uv": rms,
                            **asdict(p)}
    truth_params = {"scenario": scenario, "injected_into": recording.path or "array", "seed": int(seed),
                    "fs": fs, "start": t0, "stop": t1, "muscles": resolved}
    truth = _build_truth(rows_d, rows_e, rows_s, rows_u, chosen, t1 - t0, fs, "injected", scenario, int(seed),
                         truth_params)
    meta = dict(recording.meta)
    meta.update(simulator="emgkit.simulate.inject", injected_scenario=scenario, injected_seed=int(seed),
                injected_into=recording.path or "array")
    out = Recording.from_array(data, fs, channels=recording.channels, electrodes=recording.electrodes,
                               channel_types=recording.channel_types, units=recording.units, meta=meta)
    out.muscles = list(recording.muscles)
    return out, truth
