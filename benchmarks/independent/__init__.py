"""An independent simulator to check emgkit's detector (issue 4).

It shares no code with ``emgkit.simulate``: other MUAP models (Hermite-function
needle MUAPs; a propagating line source seen through tissue for surface and
grid electrodes), other firing statistics, noise and artifacts. emgkit's tests
never import it. Run ``python -m benchmarks.independent --help``.
"""
from .check import TruthError, check_truth
from .generate import ELECTRODES, TOLERANCE_S, Truth, simulate
from .params import SCENARIOS

__all__ = ["simulate", "check_truth", "Truth", "TruthError", "SCENARIOS", "ELECTRODES", "TOLERANCE_S"]
