"""Ground-truth simulator of spontaneous motor-unit activity.

::

    rec, truth = emgkit.simulate("isaacs", electrode="needle", duration=60, seed=0)
    truth.events                      # fasciculations, doublets, multiplets, myokymic, neuromyotonic ...
    emgkit.simulate.save(rec, truth, "isaacs.hea")   # recording + isaacs.truth.json
    rec2, truth2 = emgkit.simulate.inject(real_recording, scenario="benign", seed=1)

``emgkit.simulate`` is both this package and the function: calling the module
calls :func:`simulate`.
"""
from __future__ import annotations

import sys
import types

from .generate import simulate
from .params import ELECTRODES, SCENARIOS, ElectrodeModel, SimulationParams, resolve_params
from .truth import Truth, load_truth

__all__ = ["simulate", "Truth", "load_truth", "save", "inject", "SimulationParams", "ElectrodeModel",
           "SCENARIOS", "ELECTRODES", "resolve_params"]


from .inject import inject
from .writers import save

# ``emgkit.simulate`` may resolve to the function (emgkit's lazy export) or to this package:
# give the function the package's public names so ``emgkit.simulate.inject(...)`` works either way.
for _name in ("Truth", "load_truth", "save", "inject", "SimulationParams", "ElectrodeModel", "SCENARIOS",
              "ELECTRODES", "resolve_params"):
    setattr(simulate, _name, globals()[_name])
del _name


class _CallableModule(types.ModuleType):
    """Lets ``emgkit.simulate(...)`` work although ``emgkit.simulate`` is also this package."""

    def __call__(self, *args, **kwargs):
        return simulate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
