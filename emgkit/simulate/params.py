"""Parameters of the simulator: electrode models, firing statistics and scenario presets.

Every clinical number lives here with its source; the generator code reads
them from these frozen dataclasses. Ranges are ``(low, high)`` tuples: each
unit (or episode) draws its own value inside the range, so a seed gives a
different but plausible patient. Sources are those collected in
``shared/docs/clinical-criteria.md``:

- [dCS13] de Carvalho & Swash, JNNP 2013 (FP amplitude 560 ± 367 µV, 123–1480; duration 12.6 ± 4.4 ms).
- [S16] Sleutjes et al., Muscle Nerve 2016;53:227 (FP isolation: ISI > 250 ms on both sides).
- [AANEM] AANEM–IFCN glossary, Muscle Nerve 2020 (doublet/multiplet 2–20 ms, myokymic 2–60 Hz, fibrillation) — textbook.
- [GG99] Garland & Griffin 1999 (pathological doublets mostly ≤ 9 ms; pause after ~50 % longer).
- [G91] Gutmann, Muscle Nerve 1991;14:1043 (myokymic bursts of 2–10+ discharges recurring at 0.1–10 Hz).
- [BK01] Bednařík & Kadaňka, JNNP 2001;70:406 (neuromyotonic 150–300 Hz for 0.5–2 s, waning amplitude).
- [K08] Kleine et al., Muscle Nerve 2008;37:269 (ISIs lengthen within a burst).
- [M09] Minetto et al., J Neurophysiol 2009;102:1890 (cramp: 6–25 pps, mean 14.5, ISI CoV ≈ 0.45, doublets ≈ 4 %).
- [P20] Posa et al., Muscle Nerve 2020;61:387 (continuous single discharges 6.3 ± 4 Hz, CoV ≈ 3.5 %).
- [VOL] voluntary firing: 5–8 Hz at onset (onset interval 132 ± 32 ms), up to ~26 Hz, ISI CoV 0.1–0.25 (textbook).
- [TXT] textbook values (Preston & Shapiro; Dumitru) quoted in clinical-criteria.md.
- [ENG] engineering choice of the simulator (not a clinical number), stated as such.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Mapping

from ..errors import ParameterError, check_option

Range = tuple  # (low, high)


@dataclass(frozen=True)
class ElectrodeModel:
    """How one electrode type records: sampling, background and MUAP size/duration.

    Attributes
    ----------
    kind : str
        ``Electrode.kind`` of its channels.
    fs : float
        Default sampling rate (Hz). Needle 4–50 kHz in practice (24 kHz default, [ENG]); surface 1–4 kHz (2048 Hz, [ENG]).
    noise_rms_uv : Range
        Background RMS (µV): needle ~5–20, surface ~2–10 (clinic-realistic, [ENG] from the brief).
    muap_duration_ms : Range
        Spontaneous MUAP duration (ms): needle 5–15 [dCS13: 12.6 ± 4.4], surface 10–30 [TXT].
    muap_duration_mean_ms, muap_duration_sd_ms : float
        Truncated normal inside ``muap_duration_ms`` (needle 12.6 ± 4.4 [dCS13]).
    muap_amplitude_uv : Range
        MUAP peak-to-peak on the main channel (µV): needle 100–3000 [TXT 0.1–3 mV], surface 20–500 [TXT].
    muap_amplitude_median_uv, muap_amplitude_log_sd : float
        Log-normal inside the range; needle fitted to 560 ± 367 µV [dCS13] (median 468, log-sd 0.60).
    grid_rows, grid_cols, ied_mm : int, int, float
        HD grid geometry (8×8 at 8 mm by default; ``grid_13x5`` = 13×5 at 8 mm).
    mains_uv : Range
        Mains fundamental amplitude (µV) [ENG].
    wander_uv : Range
        Baseline wander amplitude (µV) [ENG]; needle amplifiers high-pass it away.
    ecg_uv : Range
        ECG amplitude on trunk/proximal surface channels (µV) [ENG].
    rail_uv : float
        Saturation level (µV) of the amplifier, where clipping happens [ENG].
    band_hz : Range
        Band of the recorded background noise (Hz): needle 10 Hz–10 kHz, surface 10–500 Hz [TXT filter settings].
    """

    kind: str
    fs: float
    noise_rms_uv: Range
    muap_duration_ms: Range
    muap_duration_mean_ms: float
    muap_duration_sd_ms: float
    muap_amplitude_uv: Range
    muap_amplitude_median_uv: float
    muap_amplitude_log_sd: float
    mains_uv: Range
    wander_uv: Range
    ecg_uv: Range
    rail_uv: float
    band_hz: Range
    grid_rows: int = 0
    grid_cols: int = 0
    ied_mm: float = 0.0

    @property
    def is_grid(self) -> bool:
        return self.kind == "hd_grid"

    @property
    def is_needle(self) -> bool:
        return self.kind.startswith("needle")


_NEEDLE = dict(
    fs=24000.0, noise_rms_uv=(5.0, 20.0), muap_duration_ms=(5.0, 15.0),
    muap_duration_mean_ms=12.6, muap_duration_sd_ms=4.4,
    muap_amplitude_uv=(100.0, 3000.0), muap_amplitude_median_uv=468.0, muap_amplitude_log_sd=0.60,
    mains_uv=(0.5, 8.0), wander_uv=(0.0, 5.0), ecg_uv=(0.0, 0.0), rail_uv=8000.0, band_hz=(10.0, 10000.0),
)
_SURFACE = dict(
    fs=2048.0, noise_rms_uv=(2.0, 10.0), muap_duration_ms=(10.0, 30.0),
    muap_duration_mean_ms=18.0, muap_duration_sd_ms=5.0,
    muap_amplitude_uv=(20.0, 500.0), muap_amplitude_median_uv=100.0, muap_amplitude_log_sd=0.7,
    mains_uv=(1.0, 20.0), wander_uv=(5.0, 60.0), ecg_uv=(5.0, 60.0), rail_uv=5000.0, band_hz=(10.0, 500.0),
)

ELECTRODES: dict[str, ElectrodeModel] = {
    "needle": ElectrodeModel("needle_concentric", **_NEEDLE),
    "needle_concentric": ElectrodeModel("needle_concentric", **_NEEDLE),
    "needle_monopolar": ElectrodeModel("needle_monopolar", **{**_NEEDLE, "muap_amplitude_median_uv": 560.0}),
    "bipolar": ElectrodeModel("surface_bipolar", **_SURFACE),
    "grid": ElectrodeModel("hd_grid", **{**_SURFACE, "noise_rms_uv": (2.0, 8.0)}, grid_rows=8, grid_cols=8, ied_mm=8.0),
    "grid_8x8": ElectrodeModel("hd_grid", **{**_SURFACE, "noise_rms_uv": (2.0, 8.0)}, grid_rows=8, grid_cols=8, ied_mm=8.0),
    "grid_13x5": ElectrodeModel("hd_grid", **{**_SURFACE, "noise_rms_uv": (2.0, 8.0)}, grid_rows=13, grid_cols=5, ied_mm=8.0),
}

#: Trunk/proximal muscles whose surface channels pick up the ECG (clinical-criteria.md, look-alikes) [TXT].
PROXIMAL_MUSCLES = ("biceps", "triceps", "deltoid", "trapezius", "pectoralis", "paraspinal", "rectus_abd",
                    "infraspin", "supraspin", "latissimus", "rhomboid", "serratus", "biceps_brachii")

#: Default muscles per electrode family: one needle insertion, several bipolar pairs, one grid.
DEFAULT_MUSCLES = {"needle": ("biceps",), "bipolar": ("biceps", "triceps", "fdi", "tib_ant"), "grid": ("biceps",)}


@dataclass(frozen=True)
class SimulationParams:
    """Everything that shapes one simulated muscle. Scenario presets override fields; keywords override presets.

    Counts are ``(low, high)`` inclusive integer ranges drawn per muscle; rates and sizes are ranges drawn
    per unit or per episode.
    """

    # --- recording ---------------------------------------------------------------------------
    fs: float | None = None  #: sampling rate (Hz); None = the electrode's default.
    snr_db: float | None = None  #: None = physiological amplitudes; else each unit's main-channel p-p / background RMS in dB is drawn in [snr_db, snr_db + snr_spread_db] [ENG].
    snr_spread_db: float = 6.0  #: width of that draw (dB) [ENG].
    noise_rms_uv: Range | None = None  #: background RMS range (µV); None = electrode default.
    common_noise_fraction: Range = (0.05, 0.3)  #: share of background variance common to a muscle's channels [ENG].
    noise_pink_exponent: Range = (0.3, 1.2)  #: 1/f^a exponent of the background spectrum [ENG].
    mains_hz: float | None = None  #: 50 or 60 Hz; None = drawn from the seed; 0 = no mains.
    mains_uv: Range | None = None  #: mains amplitude (µV); None = electrode default.
    wander: bool = True  #: baseline wander on.
    ecg: bool | None = None  #: ECG on; None = on for surface channels of PROXIMAL_MUSCLES.
    artifacts: bool = True  #: place movement artifacts, electrode pops, clipping and flat spans.
    movement_per_min: float = 0.4  #: movement artifacts per minute per muscle [ENG].
    pops_per_min: float = 0.4  #: electrode pops per minute per muscle [ENG].
    clipping_per_min: float = 0.2  #: saturating transients per minute per muscle [ENG].
    flat_probability: float = 0.2  #: chance a muscle has one flat (disconnected) channel span [ENG].
    amplitude_jitter: Range = (0.01, 0.04)  #: per-discharge MUAP amplitude CoV of stable units [ENG].
    # --- fasciculating units (singles, doublets, multiplets) ----------------------------------
    n_fasciculating_units: Range = (0, 0)  #: FP units per muscle.
    fasciculation_rate_hz: Range = (0.05, 1.0)  #: per-unit FP rate, Poisson-like [dCS13; brief 0.05–1 Hz].
    isolation_s: float = 0.3  #: minimum gap between a unit's FP groups; isolated = ISI > 250 ms both sides [S16].
    doublet_probability: float = 0.0  #: chance an FP firing is a doublet.
    multiplet_probability: float = 0.0  #: chance an FP firing is a triplet or longer.
    doublet_isi_ms: Range = (2.0, 20.0)  #: intra-group intervals (ms) [AANEM: 2–20; Simpson 2.5–20].
    doublet_isi_median_ms: float = 5.0  #: log-normal median of the intervals: mostly ≤ 9 ms [GG99].
    doublet_isi_log_sd: float = 0.45  #: log-normal spread of the intervals [ENG].
    multiplet_size: Range = (3, 6)  #: discharges in a multiplet [AANEM: 3 = triplet, ≥ 4 multiplet].
    multiplet_second_interval_longer: float = 0.7  #: chance the 2nd interval is longer than the 1st [AANEM].
    second_potential_ratio: Range = (0.8, 0.97)  #: 2nd potential slightly smaller [AANEM/GG99].
    post_group_pause_factor: float = 1.5  #: pause after a doublet ~50 % longer than usual [GG99].
    unstable_fraction: float = 0.0  #: share of FP units with unstable shapes (jiggle), as in ALS [TXT].
    jiggle_cov: Range = (0.08, 0.3)  #: per-discharge component amplitude CoV of unstable units [TXT].
    # --- myokymic units ------------------------------------------------------------------------
    n_myokymic_units: Range = (0, 0)
    myokymic_rate_hz: Range = (2.0, 60.0)  #: uniform intraburst rate [AANEM 2–60 Hz].
    myokymic_discharges: Range = (2, 12)  #: discharges per burst [G91: 2–10+].
    myokymic_recurrence_hz: Range = (0.1, 10.0)  #: burst recurrence, semi-rhythmic [G91: 0.1–10 Hz].
    myokymic_recurrence_cov: Range = (0.05, 0.25)  #: period CoV ("semi-rhythmic") [ENG].
    myokymic_isi_lengthening: Range = (0.0, 0.05)  #: fractional ISI increase per discharge in a burst [K08].
    myokymic_min_silence_factor: float = 3.0  #: silence between bursts ≥ this × intraburst ISI [ENG].
    # --- neuromyotonic units -------------------------------------------------------------------
    n_neuromyotonic_units: Range = (0, 0)
    neuromyotonic_rate_hz: Range = (150.0, 300.0)  #: instantaneous rate stays inside [BK01].
    neuromyotonic_duration_s: Range = (0.5, 2.0)  #: train duration [BK01].
    neuromyotonic_rate_end_ratio: Range = (0.7, 0.95)  #: end rate / start rate: ISIs lengthen [BK01, K08].
    neuromyotonic_amplitude_end_ratio: Range = (0.3, 0.8)  #: waning amplitude [BK01].
    neuromyotonic_interval_s: Range = (4.0, 20.0)  #: silence between trains [ENG].
    # --- fibrillations / positive sharp waves (needle only) ------------------------------------
    n_fibrillating_fibres: Range = (0, 0)
    fibrillation_rate_hz: Range = (0.5, 15.0)  #: regular firing [TXT].
    fibrillation_cov: Range = (0.01, 0.08)  #: ISI CoV < 0.1 [TXT].
    fibrillation_amplitude_uv: Range = (20.0, 200.0)  #: spike p-p [TXT].
    fibrillation_duration_ms: Range = (1.0, 5.0)  #: spike duration, initially positive [TXT].
    positive_sharp_wave_fraction: float = 0.3  #: share of fibres firing as PSWs [ENG].
    psw_tail_ms: Range = (10.0, 100.0)  #: PSW negative tail [TXT].
    fibrillation_train_s: Range = (5.0, 60.0)  #: train length [ENG].
    # --- continuous single discharges (look-alike) ---------------------------------------------
    n_continuous_units: Range = (0, 0)
    continuous_rate_hz: Range = (3.0, 10.0)  #: 6.3 ± 4 Hz [P20].
    continuous_cov: Range = (0.02, 0.05)  #: CoV ≈ 3.5 % [P20].
    # --- cramp -------------------------------------------------------------------------------
    n_cramps: Range = (0, 0)  #: cramp episodes per muscle.
    cramp_duration_s: Range = (5.0, 20.0)  #: episode length [ENG].
    cramp_units: Range = (10, 30)  #: units recruited [M09: "many MUs"].
    cramp_rate_pps: Range = (6.0, 25.0)  #: per-unit rate [M09].
    cramp_isi_cov: Range = (0.35, 0.55)  #: ISI CoV ≈ 0.45 [M09].
    cramp_doublet_fraction: float = 0.04  #: doublets ≈ 4 % [M09].
    # --- voluntary contraction (look-alike) ----------------------------------------------------
    voluntary_epochs_per_min: float = 0.0  #: contraction epochs per minute.
    voluntary_epoch_s: Range = (2.0, 8.0)  #: epoch length [ENG].
    voluntary_units: Range = (8, 30)  #: units recruited at full force [ENG].
    voluntary_onset_rate_hz: Range = (5.0, 8.0)  #: rate at recruitment [VOL].
    voluntary_max_rate_hz: Range = (20.0, 26.0)  #: rate at maximal effort [VOL].
    voluntary_cov: Range = (0.1, 0.25)  #: ISI CoV [VOL].
    voluntary_force: Range = (0.2, 0.9)  #: peak drive of an epoch, 0–1 [ENG].

    def replace(self, **changes) -> "SimulationParams":
        return replace(self, **changes)


PARAM_NAMES = tuple(f.name for f in fields(SimulationParams))

#: Scenario presets: field overrides of SimulationParams (per muscle).
SCENARIOS: dict[str, dict] = {
    "quiet": dict(),
    # Benign fasciculation: few units, low rates (ALS biceps rates are 10–40× BFS rates, Bashford 2020).
    "benign": dict(n_fasciculating_units=(1, 3), fasciculation_rate_hz=(0.05, 0.15), doublet_probability=0.02),
    # ALS: surface median 40.5 FP/min, IQR 10.6–79.4 (Bashford 2020) -> ~4–12 units at 0.05–0.3 Hz.
    "als": dict(n_fasciculating_units=(4, 12), fasciculation_rate_hz=(0.05, 0.3), doublet_probability=0.08,
                multiplet_probability=0.02, unstable_fraction=0.6, n_fibrillating_fibres=(1, 4)),
    "isaacs": dict(n_fasciculating_units=(2, 5), fasciculation_rate_hz=(0.1, 1.0), doublet_probability=0.35,
                   multiplet_probability=0.25, n_myokymic_units=(1, 3), n_neuromyotonic_units=(1, 2)),
    "myokymia": dict(n_myokymic_units=(2, 5), n_fasciculating_units=(0, 2), fasciculation_rate_hz=(0.05, 0.5)),
    "neuromyotonia": dict(n_neuromyotonic_units=(2, 4), n_fasciculating_units=(1, 3), doublet_probability=0.3,
                          multiplet_probability=0.2),
    "cramp": dict(n_cramps=(1, 2), n_fasciculating_units=(2, 6), fasciculation_rate_hz=(0.05, 0.6),
                  doublet_probability=0.05),
    "voluntary": dict(voluntary_epochs_per_min=3.0, n_fasciculating_units=(1, 4), fasciculation_rate_hz=(0.05, 0.5),
                      n_continuous_units=(0, 1)),
}


def _as_range(name: str, value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (value, value)
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number or a (low, high) pair; got {value!r}") from None
    if hi < lo:
        raise ParameterError(f"{name} must have low <= high; got {value!r}")
    return (lo, hi)


def resolve_params(scenario: str, overrides: Mapping) -> SimulationParams:
    """Defaults, then the scenario preset, then ``overrides`` (validated field by field)."""
    check_option("scenario", scenario, tuple(SCENARIOS))
    values = dict(SCENARIOS[scenario])
    unknown = [k for k in overrides if k not in PARAM_NAMES]
    if unknown:
        raise ParameterError(
            f"unknown simulation parameter(s) {', '.join(unknown)}; known: {', '.join(PARAM_NAMES)}"
        )
    values.update(overrides)
    defaults = SimulationParams()
    for name, value in list(values.items()):
        default = getattr(defaults, name)
        if isinstance(default, tuple) and value is not None:
            values[name] = _as_range(name, value)
    params = SimulationParams(**values)
    _validate(params)
    return params


def _validate(p: SimulationParams) -> None:
    if p.fs is not None and not p.fs > 0:
        raise ParameterError(f"fs (Hz) must be > 0; got {p.fs}")
    if p.mains_hz not in (None, 0, 0.0, 50, 50.0, 60, 60.0):
        raise ParameterError(f"mains_hz must be 50, 60, 0 (off) or None (random); got {p.mains_hz}")
    for name in ("doublet_probability", "multiplet_probability", "unstable_fraction", "flat_probability",
                 "positive_sharp_wave_fraction", "cramp_doublet_fraction"):
        v = getattr(p, name)
        if not 0.0 <= v <= 1.0:
            raise ParameterError(f"{name} must be in [0, 1]; got {v}")
    if p.doublet_probability + p.multiplet_probability > 1.0:
        raise ParameterError("doublet_probability + multiplet_probability must be <= 1")
    lo, hi = p.fasciculation_rate_hz
    if lo <= 0:
        raise ParameterError(f"fasciculation_rate_hz (Hz) must be > 0; got {p.fasciculation_rate_hz}")
    if p.doublet_isi_ms[0] <= 0:
        raise ParameterError(f"doublet_isi_ms must be > 0; got {p.doublet_isi_ms}")
    for name in PARAM_NAMES:
        v = getattr(p, name)
        if name.startswith("n_") and isinstance(v, tuple) and v[0] < 0:
            raise ParameterError(f"{name} must be >= 0; got {v}")
