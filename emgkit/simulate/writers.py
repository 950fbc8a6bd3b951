"""Write a simulated recording in a real format with its truth beside it (or inside it, for HDF5)."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from ..errors import ParameterError
from ..recording import Recording
from .._json import json_default_or_str
from .truth import Truth, truth_path_for

log = logging.getLogger("emgkit")

#: Recording extensions save() writes, and the writer used.
WRITERS = {".hea": "wfdb", ".edf": "edf", ".bdf": "bdf", ".h5": "emgkit_h5", ".hdf5": "emgkit_h5"}


def save(rec: Recording, truth: Truth, path) -> tuple[Path, Path]:
    """Write ``rec`` in the format its extension names and ``truth`` beside it; return (recording, truth) paths.

    ``.hea`` → WFDB (16-bit, gain chosen per channel), ``.edf``/``.bdf`` → EDF/BDF, ``.h5`` → emgkit HDF5
    with the truth tables inside (``/tables/truth_*``). For WFDB and EDF the truth goes to
    ``<stem>.truth.json``. Reading the file back with ``emgkit.read`` gives samples aligned with the
    truth times (sample index = round(time × fs)).
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in WRITERS:
        raise ParameterError(f"cannot tell the format from {path.name!r}: use one of {', '.join(WRITERS)}")
    kind = WRITERS[ext]
    if kind == "wfdb":
        from ..io.wfdb import write_wfdb

        write_wfdb(rec, path)
    elif kind in ("edf", "bdf"):
        from ..io.edf import write_edf

        write_edf(rec, path, bdf=(kind == "bdf"))
    else:
        from ..io.emgkit_h5 import write_h5

        tables = {f"truth_{name}": df for name, df in truth.tables().items()}
        write_h5(rec, path, tables=tables, attrs={"truth": json.dumps(truth.attributes(), default=json_default_or_str)})
        return path, path
    truth_path = truth_path_for(path)
    truth.save(truth_path)
    log.info("wrote %s and %s", path, truth_path)
    return path, truth_path
