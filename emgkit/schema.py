"""Column names of emgkit's tables, shared by the detector, the simulator's truth and the scorer.

These names are public API: results files, the truth beside simulated
recordings and user scripts rely on them.
"""

#: One row per discharge (MUAP firing).
#: time (s, at the MUAP's largest absolute peak), muscle, channel (largest amplitude),
#: unit (id within the muscle), amplitude (µV peak-to-peak), event (id or -1),
#: state ("rest", "voluntary", "artifact", ...).
DISCHARGE_COLUMNS = ("time", "muscle", "channel", "unit", "amplitude", "event", "state")

#: One row per event. kind in EVENT_KINDS; start/end in s; rate in Hz within the event.
EVENT_COLUMNS = ("event", "muscle", "unit", "kind", "start", "end", "n_discharges", "rate", "confidence")

#: Spontaneous discharge patterns (plus look-alikes the detector reports separately).
EVENT_KINDS = ("fasciculation", "doublet", "multiplet", "myokymic", "neuromyotonic",
               "cramp", "fibrillation", "positive_sharp_wave", "continuous")

#: Kinds scored as spontaneous activity.
SPONTANEOUS_KINDS = ("fasciculation", "doublet", "multiplet", "myokymic", "neuromyotonic")

#: Excluded or flagged time: state in SEGMENT_STATES.
SEGMENT_COLUMNS = ("muscle", "state", "start", "end")
SEGMENT_STATES = ("voluntary", "cramp", "artifact", "noisy", "clipped", "invalid", "flat")

#: Discharge states.
DISCHARGE_STATES = ("rest", "voluntary", "cramp", "artifact")
