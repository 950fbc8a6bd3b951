"""Heart rhythms for the ECG tests (shared by test_artifacts.py and test_grid_ecg.py)."""
import numpy as np


def heartbeat_times(rng, duration, bpm=70.0, rsa=0.06, jitter=0.02):
    """Beats at ``bpm`` with respiratory sinus arrhythmia (± ``rsa`` over a 4-s breath) and beat-to-beat jitter."""
    out, t = [], rng.uniform(0.3, 0.9)
    while t < duration:
        out.append(t)
        t += 60.0 / bpm * (1 + rsa * np.sin(2 * np.pi * 0.25 * t)) * rng.normal(1.0, jitter)
    return np.array(out)
