"""emgkit's benchmark suites: ``python -m benchmarks [speed|accuracy] [--quick] [--out bench_out/]``.

Speed: every figure is measured together with its baselines (scipy,
SpikeInterface when installed, the machine's streaming bandwidth) in the same
run, so ratios stay meaningful on a shared machine. Accuracy: the simulator's
ground truth and EMGLAB's expert annotations scored with ``emgkit.evaluate``.
Timing never goes in a unit test; ``tests/test_benchmarks_smoke.py`` only runs
a tiny grid to keep this code working.
"""
