"""Detector accuracy on the simulator grid, one line per case (what the README table quotes).

Usage: python -m benchmarks.detector_grid isaacs:needle,benign:bipolar [duration_s] [seed]
Tolerance ±1.5 ms needle, ±3 ms surface (the detector issue's convention). ``vis`` is the recall of
rest discharges of clearly visible units only (true main-channel peak-to-peak at least 10× the
muscle's noise σ as the detector measured it): losses there are the detector's, not the noise's.
"""
import argparse, time, types, numpy as np, pandas as pd, emgkit, warnings
import emgkit.simulate as simulator

warnings.filterwarnings("ignore")


def _cases(text: str) -> list:
    """'scenario:electrode,...' -> [(scenario, electrode)], each name checked against the simulator's."""
    cases = []
    for item in (c.strip() for c in text.split(",") if c.strip()):
        parts = item.split(":")
        if len(parts) != 2 or parts[0] not in simulator.SCENARIOS or parts[1] not in simulator.ELECTRODES:
            raise argparse.ArgumentTypeError(
                f"{item!r} is not scenario:electrode; scenarios {', '.join(simulator.SCENARIOS)}; "
                f"electrodes {', '.join(simulator.ELECTRODES)}")
        cases.append((parts[0], parts[1]))
    if not cases:
        raise argparse.ArgumentTypeError("no case given (e.g. isaacs:needle,benign:bipolar)")
    return cases


ap = argparse.ArgumentParser(prog="python -m benchmarks.detector_grid", description=__doc__,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("cases", type=_cases, help="comma-separated scenario:electrode pairs")
ap.add_argument("duration_s", nargs="?", type=float, default=30.0, help="simulated seconds per case (default 30)")
ap.add_argument("seed", nargs="?", type=int, default=0, help="simulator seed (default 0)")
args = ap.parse_args()
if not args.duration_s > 0:
    ap.error(f"duration_s must be > 0, got {args.duration_s:g}")
for sc, el in args.cases:
    rec, truth = emgkit.simulate(sc, electrode=el, duration=args.duration_s, seed=args.seed)
    t0=time.time(); res = emgkit.detect(rec, hash_input=False); dt=time.time()-t0
    tol = 0.0015 if el.startswith("needle") else 0.003
    s = emgkit.evaluate(truth, res, tolerance=tol)
    d = s.discharges; d = d[(d.muscle=="ALL")&(d.states=="rest")].iloc[0]
    ev = s.events[s.events.muscle=="ALL"].set_index("kind")
    evs = " ".join(f"{k[:5]}:{r.f1:.2f}({r.n_true}/{r.n_found})" for k, r in ev.iterrows())
    seg = s.segments
    rates = s.rates[s.rates.kind=="fasciculation"]
    fe = " ".join(f"{r.rate_error:+.2f}" for r in rates.itertuples())
    # Recall of the visible units' rest discharges: evaluate's own matching on a truth cut down to them.
    noise = res.summary.set_index("muscle")["noise_uv"]
    amp = truth.units.set_index(["muscle", "unit"])["amplitude"]
    td = truth.discharges
    visible = np.array([amp[(m, u)] >= 10 * noise.get(m, np.inf) for m, u in zip(td.muscle, td.unit)], bool)
    seen = emgkit.evaluate(types.SimpleNamespace(discharges=td[visible], segments=truth.segments,
                                                 duration=truth.duration), res, tolerance=tol).discharges
    seen = seen[(seen.muscle == "ALL") & (seen.states == "rest")].iloc[0]
    vis_hit, vis_n = int(seen.tp), int(seen.n_true)
    vis = f"vis {vis_hit / vis_n:.2f} ({vis_n})" if vis_n else "vis n/a"
    print(f"{sc:>9} {el:<7} {dt:5.1f}s disF1 {d.f1:.3f} P {d.precision:.2f} R {d.recall:.2f} ({d.n_true}/{d.n_found}) | {vis} | {evs} | volR {seg.voluntary_recall.min():.2f} restX {seg.rest_excluded_share.max():.3f} | fpErr {fe}", flush=True)
