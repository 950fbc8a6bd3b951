"""Every number the independent simulator draws from, with where it comes from.

Sources are those of ``docs/clinical-criteria.md`` (AANEM glossary values are
marked "textbook"). Where the literature gives a range, the simulator draws
across the whole range with a distribution of its own choosing (not the
obvious uniform one where a skewed one is closer to what is reported), so that
a detector tuned to another generator's choices is put to the test.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Range:
    """A closed interval [low, high]."""

    low: float
    high: float


@dataclass(frozen=True)
class FasciculationParams:
    """Isolated spontaneous discharges of one unit, with their doublet/multiplet variants.

    rate_per_min_median / _sigma: per-unit FP rate, lognormal (median, log-sd),
        clipped to rate_per_min. Brief asks for 0.1-3 per minute per unit; ALS
        muscles reach a median 40 FP/min per muscle (Bashford et al. 2020) from
        several units, and a one-minute benchmark needs enough FPs to score, so
        units here span 0.5-20 /min (median 3-6 by scenario).
    isi_gamma_shape: shape of the gamma distribution of intervals between a
        unit's events (1 = Poisson; below 1 clustered, above 1 more regular).
    min_gap_s: a unit's events are at least this far apart, so each single
        discharge is "isolated" (ISI > 250 ms both sides, de Carvalho & Swash
        2013) with a margin.
    p_doublet / p_multiplet: share of a unit's events that are doublets /
        multiplets (3-5 discharges).
    doublet_isi_ms_median / _sigma, doublet_isi_ms: intra-group interval,
        lognormal clipped to 2.5-20 ms (Simpson 2.5-20 ms; pathological usually
        <= 9 ms, AANEM textbook).
    later_isi_factor: each later interval of a multiplet is this much longer
        (second interval often longer than the first, AANEM textbook).
    second_gain: the second potential of a group is slightly smaller.
    """

    rate_per_min_median: float = 3.0
    rate_per_min_sigma: float = 0.7
    rate_per_min: Range = Range(0.5, 20.0)
    isi_gamma_shape: Range = Range(0.7, 1.6)
    min_gap_s: float = 0.35
    p_doublet: float = 0.06
    p_multiplet: float = 0.02
    multiplet_size: Range = Range(3, 5)
    doublet_isi_ms_median: float = 6.5
    doublet_isi_ms_sigma: float = 0.5
    doublet_isi_ms: Range = Range(2.5, 20.0)
    later_isi_factor: Range = Range(1.0, 1.5)
    second_gain: Range = Range(0.82, 0.98)


@dataclass(frozen=True)
class MyokymicParams:
    """One unit's recurring bursts (AANEM textbook; Gutmann, Muscle Nerve 1991).

    intraburst_hz: uniform 2-60 Hz within a burst in the literature; bursts
        here fire at 5-60 Hz (the brief's range) with the interval lengthening
        through the burst (Kleine et al. 2008) by isi_growth per interval.
    discharges_per_burst: 2-10+; drawn with weights favouring 3-8 (a two-discharge
        burst is possible but rare here).
    burst_interval_s: bursts recur semi-rhythmically every 0.5-6 s (0.1-10 Hz
        in the glossary; the slow end is what fits a one-minute record), with a
        per-unit coefficient of variation burst_interval_cov.
    burst_gain_decrement: amplitude loss from first to last discharge of a burst.
    """

    intraburst_hz: Range = Range(5.0, 60.0)
    isi_growth: Range = Range(0.0, 0.04)
    discharges_per_burst: Range = Range(2, 10)
    burst_interval_s: Range = Range(0.8, 6.0)
    burst_interval_cov: Range = Range(0.1, 0.4)
    min_silence_s: float = 0.4
    burst_gain_decrement: Range = Range(0.0, 0.15)


@dataclass(frozen=True)
class NeuromyotonicParams:
    """High-frequency trains of one unit (Bednarik & Kadanka 2001; AANEM).

    start_hz: 150-300 Hz at train onset; the rate wanes by rate_wane (share of
        the start rate lost by the end, kept >= 150 Hz).
    duration_s: 0.5-2 s trains; abrupt on- and offset.
    gain_wane: amplitude decrement from first to last discharge.
    train_interval_s: silence between a unit's trains.
    """

    start_hz: Range = Range(160.0, 300.0)
    rate_wane: Range = Range(0.0, 0.3)
    min_rate_hz: float = 150.0
    duration_s: Range = Range(0.5, 2.0)
    gain_wane: Range = Range(0.3, 0.7)
    train_interval_s: Range = Range(3.0, 12.0)


@dataclass(frozen=True)
class VoluntaryParams:
    """Voluntary contractions: many units recruited, regular firing (clinical-criteria.md).

    onset_hz / max_hz: a unit starts near 5-8 Hz and reaches up to ~25 Hz.
    isi_cov: ISI coefficient of variation 0.1-0.25; ISIs lognormal here.
    ramp_s / hold_s: trapezoid contractions.
    """

    n_units: Range = Range(8, 25)
    onset_hz: Range = Range(5.0, 8.0)
    max_hz: Range = Range(15.0, 25.0)
    isi_cov: Range = Range(0.1, 0.25)
    ramp_s: Range = Range(0.6, 2.0)
    hold_s: Range = Range(1.5, 5.0)
    episodes_per_min: Range = Range(1.5, 3.0)


@dataclass(frozen=True)
class CrampParams:
    """Cramp discharges (Minetto et al., J Neurophysiol 2009): many units, involuntary,
    rising then falling recruitment, 6-25 pps (mean 14.5), ISI CoV about 0.45."""

    n_units: Range = Range(8, 20)
    rate_hz: Range = Range(6.0, 25.0)
    isi_cov: Range = Range(0.3, 0.5)
    duration_s: Range = Range(5.0, 15.0)


@dataclass(frozen=True)
class MuapParams:
    """MUAP amplitudes (peak-to-peak on the unit's main channel, µV).

    needle: FP amplitude 560 ± 367 µV (123-1480) (de Carvalho & Swash 2013);
        lognormal median 480, clipped to 100-2000 (the brief's 0.1-2 mV).
    surface: tens to hundreds of µV (bipolar); monopolar grid similar.
    dominance: the largest |peak| of a clean MUAP on its main channel exceeds
        every other peak more than one scoring tolerance away by this factor,
        so the "time = largest |peak|" convention names one peak.
    """

    needle_uv_median: float = 480.0
    needle_uv_sigma: float = 0.55
    needle_uv: Range = Range(100.0, 2000.0)
    surface_uv_median: float = 70.0
    surface_uv_sigma: float = 0.6
    surface_uv: Range = Range(20.0, 400.0)
    dominance: float = 1.2
    gain_jitter_sd: float = 0.04
    p_unstable: float = 0.4


@dataclass(frozen=True)
class NoiseParams:
    """Background noise and artifacts per electrode (µV)."""

    white_uv: Range
    pink_uv: Range
    mains_uv: Range
    wander_uv: Range
    movement_uv: Range
    pop_uv: Range
    ecg_uv: Range | None = None


NOISE = {
    "needle": NoiseParams(white_uv=Range(5, 16), pink_uv=Range(2, 10), mains_uv=Range(1, 25),
                          wander_uv=Range(5, 40), movement_uv=Range(100, 600), pop_uv=Range(300, 3000)),
    "bipolar": NoiseParams(white_uv=Range(1.0, 3.5), pink_uv=Range(0.5, 3.0), mains_uv=Range(1, 30),
                           wander_uv=Range(10, 150), movement_uv=Range(80, 800), pop_uv=Range(300, 3000),
                           ecg_uv=Range(10, 80)),
    "grid": NoiseParams(white_uv=Range(1.5, 4.0), pink_uv=Range(0.5, 3.0), mains_uv=Range(2, 40),
                        wander_uv=Range(20, 200), movement_uv=Range(80, 800), pop_uv=Range(300, 3000),
                        ecg_uv=Range(10, 80)),
}


@dataclass(frozen=True)
class Scenario:
    """What one simulated muscle (or set of muscles) holds.

    Unit counts are per muscle for a surface electrode; a needle sees about
    half as many (needle_unit_factor) because its pickup radius is small.
    """

    name: str
    description: str
    n_fasc_units: Range = Range(0, 0)
    fasc: FasciculationParams = FasciculationParams()
    n_myokymic_units: Range = Range(0, 0)
    n_neuromyotonic_units: Range = Range(0, 0)
    voluntary: bool = False
    cramps: Range = Range(0, 0)
    artifacts_per_min: Range = Range(0.0, 1.5)
    p_ecg: float = 0.4
    needle_unit_factor: float = 0.5
    notes: tuple = field(default_factory=tuple)


SCENARIOS = {
    s.name: s for s in (
        Scenario("sparse_fasc", "benign-like: few fasciculating units, rare doublets",
                 n_fasc_units=Range(3, 6), fasc=FasciculationParams(rate_per_min_median=4.0)),
        Scenario("dense_fasc", "ALS-like: many fasciculating units, doublets and multiplets",
                 n_fasc_units=Range(8, 16),
                 fasc=FasciculationParams(rate_per_min_median=6.0, p_doublet=0.12, p_multiplet=0.04)),
        Scenario("myokymia", "myokymic bursting units among a few fasciculating ones",
                 n_fasc_units=Range(1, 3), n_myokymic_units=Range(1, 3)),
        Scenario("neuromyotonia", "neuromyotonic trains among fasciculations and doublets",
                 n_fasc_units=Range(2, 4), n_neuromyotonic_units=Range(1, 2),
                 fasc=FasciculationParams(p_doublet=0.15, p_multiplet=0.05)),
        Scenario("hyperexcitable", "Isaacs-like: doublets, multiplets, myokymic and neuromyotonic together",
                 n_fasc_units=Range(3, 6), n_myokymic_units=Range(1, 2), n_neuromyotonic_units=Range(1, 1),
                 fasc=FasciculationParams(rate_per_min_median=4.0, p_doublet=0.3, p_multiplet=0.15)),
        Scenario("voluntary_rest", "fasciculations at rest between voluntary contractions",
                 n_fasc_units=Range(3, 8), voluntary=True),
        Scenario("cramp", "fasciculations around one or two cramps", n_fasc_units=Range(3, 8),
                 cramps=Range(1, 2)),
        Scenario("artifacts", "fasciculations under movement artifacts, electrode pops and ECG",
                 n_fasc_units=Range(3, 8), artifacts_per_min=Range(3.0, 6.0), p_ecg=1.0),
    )
}

#: Electrode setups: sampling rates and layouts.
NEEDLE_FS = (20000.0, 24000.0, 25000.0, 30000.0, 44100.0, 48000.0)
BIPOLAR_FS = (1000.0, 1024.0, 2000.0, 2048.0, 4000.0)
GRID_LAYOUTS = {"8x8": (8, 8, 10.0), "13x5": (13, 5, 8.0)}
GRID_FS = 2048.0
