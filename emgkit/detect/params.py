"""Detection parameters: one frozen dataclass per stage, every clinical number with its source.

Sources (see ``shared/docs/clinical-criteria.md`` in the project's reference material):

- AANEM–IFCN glossary of EMG terms, Muscle Nerve 2020, doi 10.1002/mus.26868 ("AANEM").
- de Carvalho & Swash, JNNP 2013 (fasciculation potentials).
- Sleutjes et al., Muscle Nerve 2016;53:227 (FP amplitude/duration on needle).
- Garland & Griffin 1999 (doublets); Simpson (doublet interval 2.5–20 ms).
- Gutmann, Muscle Nerve 1991;14:1043 (myokymic discharges).
- Bednařík & Kadaňka, JNNP 2001;70:406 (neuromyotonic discharges, 150–300 Hz, 0.5–2 s).
- Minetto et al., J Neurophysiol 2009;102:1890 (cramp discharges).
- Posa et al., Muscle Nerve 2020;61:387 (continuous single discharges, ~6 Hz, CoV ≈ 3.5 %).
- Mills, Muscle Nerve 2011; Zhou et al., J NeuroEng Rehabil 2012;9:78 (how long to record).
- Bashford et al., Clin Neurophysiol 2019;130:1083 / 2020 (SPiQE: surface FP rates, 100 µV noise limit).

Parameters are plain data: ``DetectionParams.from_toml(path)``, ``.to_dict()``, ``.replace(stage=..., field=...)``;
every result file stores the parameters it was made with.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields

from ..errors import ParameterError


def _tuples(value):
    """Lists (as TOML and JSON give them back), nested too, as tuples."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _range(name, lo, hi, value):
    if not (lo <= value <= hi):
        raise ParameterError(f"{name} must be within [{lo}, {hi}]; got {value}")


@dataclass(frozen=True)
class PreprocessParams:
    """Filtering and noise estimation, by electrode type."""

    #: Band-pass (Hz) for needle EMG. High edge is capped at 0.45·fs. The 100 Hz high-pass removes
    #: slow potentials and wander so MUAP spikes stand on a flat baseline (standard needle EMG band
    #: is 10–20 Hz … 10 kHz for display; spike detection uses a higher high-pass, as EMGLAB does).
    needle_band_hz: tuple = (100.0, 8000.0)
    #: Band-pass (Hz) for surface (bipolar and HD grid) EMG: surface MUAP energy lies in 20–450 Hz.
    surface_band_hz: tuple = (20.0, 450.0)
    #: Butterworth order of each band edge (the band-pass has 2·order poles).
    filter_order: int = 2
    #: Mains frequency: "auto" (detect 50 vs 60 Hz from the spectrum), 50, 60 or None (no notch).
    mains_hz: object = "auto"
    #: Mains removal: sinusoids at the mains frequency (refined to ±0.5 Hz of 50/60 Hz) and its first
    #: `mains_harmonics` multiples are fitted per window of `mains_window_s` (cross-faded, at most
    #: `margin_s`) to the samples away from discharges (> `mains_mask_sd` robust σ, ± `noise_mask_ms`)
    #: and subtracted. A notch filter would spread each MUAP's mains-band content into ringing at
    #: the mains period (Q = 10 at 50 Hz: ~5 % of the MUAP for ~64 ms), found as discharges 20 ms away.
    mains_harmonics: int = 3
    #: ...and, on surface electrodes, the higher multiples up to this one below the band's upper
    #: edge whose line stands above the neighbouring spectrum (`mains_harmonic_ratio`). Left in,
    #: their residue repeats at a neuromyotonic train's interval and inflates the noise level
    #: (independent simulator, bipolar rest windows with a train periodicity above 0.2: 12.7 %
    #: with 3 harmonics fitted, 0.2 % with 9; bipolar discharge F1, hyperexcitable 0.15/0.57 →
    #: 0.56/0.77 on seeds 0/1, cramp 0.46 → 0.69 on seed 1). Needles keep three: there the
    #: higher ones cost discharges (myokymia seed 1: 8 % of rest excluded, F1 1.0 → 0.90) [ENG].
    mains_max_harmonic: int = 10
    mains_window_s: float = 0.4
    mains_mask_sd: float = 4.0
    #: A mains line is notched when its power exceeds the neighbouring spectrum by this factor
    #: (the mean spectrum of a few windows, each detrended: joined as read, their offsets and drift
    #: made steps whose broad spectrum buried a 60-Hz line 14× its neighbourhood — independent
    #: simulator, neuromyotonia bipolar seed 2 at 1 kHz, read at 2.4× and left in: its trains were
    #: not found periodic; discharge F1 0.772 → 0.826).
    mains_detect_ratio: float = 4.0
    #: ...or on any one channel this many times: each muscle's electrodes pick up mains of their
    #: own size (emgkit's simulated Isaacs bipolar seed 0: a triceps line 198× its neighbourhood
    #: was 5× in the mean over four muscles and left in, the muscle's noise read as 14 µV for 7).
    #: One channel's spectrum is noisier than the mean: on 64 noise-only grid channels the largest
    #: ratio reached 4.1 [ENG].
    mains_channel_ratio: float = 10.0
    #: Mains is judged on this many of the recording's noise windows (`noise_window_s`, spread over
    #: it), the quietest: a contraction's broad spectrum buries a line it does not change.
    mains_probe_windows: int = 8
    #: ...leaving out windows under this share of the median window's power (flat: no line there).
    mains_flat_power: float = 1e-3
    #: ...and a higher harmonic (`mains_max_harmonic`) fitted where its line stands this many times
    #: above its neighbourhood: on the detrended spectrum weak lines (4–8×, a few tenths of a µV)
    #: pass the fundamental's ratio, and fitting them moved borderline decisions — independent
    #: simulator, 3 seeds, with the ratio at 4: grid discharge F1 0.884 → 0.871 (sparse
    #: fasciculation grid seed 2 0.943 → 0.600 with the 7th harmonic fitted), voluntary time recall
    #: 0.978 → 0.942. At 8: bipolar 0.866 → 0.874, grid 0.884 → 0.881, fasciculation events 0.762 →
    #: 0.769, myokymic 0.891 → 0.903, doublet 0.650 → 0.642, multiplet 0.542 → 0.528, voluntary
    #: recall 0.978 → 0.940 (one contraction, voluntary_rest bipolar seed 0, called a cramp; both
    #: are left out of the rest counts) [ENG].
    mains_harmonic_ratio: float = 8.0
    #: Seconds of data per streamed chunk, at least...
    chunk_s: float = 10.0
    #: ...and at least this many samples × channels: every chunk pays fixed costs (each parallel
    #: kernel wakes the second core, ~20–50 µs; Python per chunk), which on one 48-kHz channel
    #: (480 000 samples per 10 s) took a sixth of the time (1-h needle file 1.8 → 1.55 s with
    #: 2 M per chunk; a 64-channel grid's 10 s already hold 1.3 M and gained nothing from more).
    chunk_min_values: int = 2_000_000
    #: Seconds of context read on each side of a chunk so the filter's edge transient stays outside it.
    margin_s: float = 0.5
    #: Noise is the robust MAD σ of the filtered signal, taken as this percentile over windows, so
    #: stretches of voluntary activity do not inflate it.
    noise_window_s: float = 0.5
    noise_percentile: float = 20.0
    #: ...of the quiet windows: those whose σ is at most `noise_quiet_factor` × the
    #: `noise_reference_percentile` window's. A recording mostly in contraction (the OTB grid file:
    #: ~85 % of windows, σ 88 µV against 11–14 µV at rest) then still gets its rest noise; when the
    #: noise is steady every window is quiet (window σ estimates spread ~±10 %) [ENG].
    noise_reference_percentile: float = 5.0
    noise_quiet_factor: float = 1.5
    #: Samples within this many ms of a deflection above 3 σ are left out of the noise estimate
    #: (half a MUAP: needle FPs last 12.6 ± 4.4 ms, Sleutjes 2016).
    noise_mask_ms: float = 5.0
    #: A channel repeating exactly the same value for this long (ms) is frozen (disconnected, an
    #: amplifier or wireless link holding its last value): those samples are invalid, like NaN.
    #: EMG with noise of even one ADC step does not repeat a value for 20 ms (≥ 40 samples at
    #: 2 kHz) [ENG]; 0 disables.
    frozen_run_ms: float = 20.0
    #: At most this many noise windows, spread evenly over the recording.
    noise_max_windows: int = 40

    def validate(self):
        for name in ("needle_band_hz", "surface_band_hz"):
            lo, hi = getattr(self, name)
            if not 0 < lo < hi:
                raise ParameterError(f"preprocess.{name} must be (low, high) with 0 < low < high; got {(lo, hi)}")
        if self.mains_hz not in ("auto", 50, 60, 50.0, 60.0, None):
            raise ParameterError(f"preprocess.mains_hz must be 'auto', 50, 60 or None; got {self.mains_hz!r}")
        _range("preprocess.chunk_s", 0.5, 3600, self.chunk_s)
        _range("preprocess.chunk_min_values", 0, 1 << 28, self.chunk_min_values)
        _range("preprocess.mains_window_s", 0.05, self.margin_s, self.mains_window_s)
        _range("preprocess.mains_harmonics", 1, 20, self.mains_harmonics)
        _range("preprocess.mains_max_harmonic", 1, 50, self.mains_max_harmonic)
        _range("preprocess.mains_detect_ratio", 1.0, 1e6, self.mains_detect_ratio)
        _range("preprocess.mains_channel_ratio", 1.0, 1e6, self.mains_channel_ratio)
        _range("preprocess.mains_probe_windows", 1, 10_000, self.mains_probe_windows)
        _range("preprocess.mains_flat_power", 0.0, 1.0, self.mains_flat_power)
        _range("preprocess.mains_harmonic_ratio", 1.0, 1e6, self.mains_harmonic_ratio)
        _range("preprocess.noise_percentile", 0, 100, self.noise_percentile)
        _range("preprocess.noise_reference_percentile", 0, 100, self.noise_reference_percentile)
        _range("preprocess.noise_quiet_factor", 1, 1e6, self.noise_quiet_factor)
        _range("preprocess.frozen_run_ms", 0, 60_000, self.frozen_run_ms)


@dataclass(frozen=True)
class SpikeParams:
    """Discharge detection: thresholds and windows."""

    #: Candidate threshold in robust noise σ on |filtered signal|. A candidate counts when a unit
    #: template seen several times explains it, or when it reaches `confirm_sd` on its own. Lower
    #: values find smaller MUAPs but let noise clusters pose as recurring units (measured: a 4 σ
    #: threshold invented ~1 discharge/s on simulated quiet needle EMG), hence equal defaults.
    threshold_sd: float = 5.5
    #: Noise σ used for thresholds is at least this (µV): EMG amplifiers' own noise is of this order,
    #: so a near-noiseless trace (a synthetic or pure-mains channel after the notch) does not turn
    #: numerical ripple into discharges.
    min_noise_uv: float = 0.5
    #: A discharge no recurring template explains counts when its peak reaches this many σ: at
    #: 5.5 σ Gaussian noise crosses ~4e-8 per sample, and the smallest needle FP (123 µV, Sleutjes
    #: 2016) is ≥ 6 σ over typical 5–20 µV needle noise.
    confirm_sd: float = 5.5
    #: A detection must be the largest |x| within ± this window (ms); one per MUAP main spike.
    needle_exclusion_ms: float = 2.5
    surface_exclusion_ms: float = 4.0
    #: Waveform window (ms) before/after the peak for units: needle MUAPs last 5–15 ms, FPs
    #: 12.6 ± 4.4 ms (Sleutjes 2016); surface MUAPs 10–30 ms.
    needle_window_ms: tuple = (5.0, 6.0)
    surface_window_ms: tuple = (10.0, 10.0)
    #: On multi-channel muscles, peaks on other channels within ± this window (ms) belong to the
    #: same discharge (grid propagation delays are a few ms).
    surface_merge_ms: float = 3.0
    #: On HD grids, candidates no unit template explains ("lone" discharges) closer than this (ms)
    #: to a larger one are other phases of its MUAP: surface MUAPs last 10–30 ms and a propagating
    #: one peaks on different electrodes up to ~10 ms apart (see `spatial_reach_ms`). Not on
    #: bipolar muscles, where it cost real-data recall (simulated units injected into a bipolar
    #: record between voluntary bursts: 30/41 → 26/41 found) [ENG].
    grid_lone_merge_ms: float = 10.0
    #: Needles, at rest: the same for lone candidates closer than this (ms): a polyphasic or
    #: satellite needle MUAP that fits no recurring template gave two lone "fasciculations" 4–7 ms
    #: apart (independent simulator, 3 seeds: voluntary_rest needle discharge F1 0.62/0.80/0.50 →
    #: 0.67/1.00/1.00, cramp needle seed 1 0.38 → 0.50, no needle cell worse by more than 0.001;
    #: a doublet's second discharge is its recurring unit's, found by peeling). Not in a
    #: contraction, where overlapping needle discharges are different units' (units injected into
    #: busy real records: 706 → 675 of 754 found when merged there too) [ENG].
    needle_lone_merge_ms: float = 8.0
    #: On muscles with at least `grid_min_channels` channels (HD grids) the lone-candidate
    #: confirmation threshold is `grid_confirm_sd`: with 64 electrodes and a common noise component,
    #: 5.5 σ crossings on a few neighbouring channels occur every few seconds in pure noise.
    grid_min_channels: int = 16
    grid_confirm_sd: float = 6.5
    #: No discharge is reported this close (ms) to the recording's first or last sample: a MUAP
    #: (10–30 ms on the surface) and the context its fit reads must lie in the record. No longer:
    #: the zero-phase filters run over an odd-reflected margin (no start-up transient) and mains
    #: is subtracted, not notched (250 ms guarded a Q = 10 notch's ringing); a start-up step or
    #: settling amplifier is an artefact segment. 250 ms cost 5 % of a 10-s EMGLAB record: R00108
    #: sensitivity ±1 ms 0.89/0.84/0.89/0.78/0.86/0.89/0.72 → 0.96/0.87/0.94/0.88/0.93/0.92/0.74
    #: (with `UnitParams.phase_copy_distance`: 0.60 for the last without it) and discharge F1 0.769
    #: → 0.784; independent simulator, 3 seeds × 60 s: every cell within ±0.003; emgkit's
    #: simulator, 17 cases × 3 seeds × 30 s: 11 cases higher (benign bipolar 0.920 → 0.946,
    #: voluntary bipolar 0.931 → 0.940, ALS grid 0.819 → 0.832), voluntary grid 0.871 → 0.760 (seed
    #: 0: a unit seen nearly equally on two electrodes, each peaking at another phase 3.4 ms apart,
    #: is now timed on the other one: that ranking changes with any two discharges more) [ENG].
    edge_guard_ms: float = 50.0
    #: ...on needles this many ms: a needle MUAP lasts 5–15 ms and the waveform window a fit
    #: reads (about 11 ms) fits in 12. Candidates between this and `edge_guard_ms` from the ends
    #: are discharges but found no template (`units.cluster_candidates`' ``founders``): with them
    #: founding too, the greedy clustering of a control contraction changed (N2001C01VM73:
    #: voluntary 89 → 52 % of the record) and units injected into real records 791 → 786 of 863.
    #: EMGLAB R00108 (10 s), 6 expert firings within 50 ms of its ends: at 50 → 12 ms discharge F1
    #: 0.803 → 0.811, sensitivity ±1 ms of units 1, 2, 4, 7 0.93 / 0.89 / 0.88 / 0.88 → 0.96 /
    #: 0.91 / 0.90 / 0.90; injected units 791 → 793; N2001 controls 21/22 (C01VM73: voluntary 89 %,
    #: fasciculations 2 → 0); the simulators (which place no spontaneous event within 50 ms of the
    #: ends) unchanged [ENG].
    needle_edge_guard_ms: float = 12.0
    #: On muscles with at least this many channels (grids), a discharge must reach
    #: `support_fraction` × the threshold on at least this many channels (grid MUAPs spread over
    #: many electrodes; a lone crossing is noise).
    min_support_channels: int = 3
    support_fraction: float = 0.5
    #: Samples whose |value| reaches this fraction of the channel's extreme on ≥ `clip_run` consecutive
    #: samples are treated as clipped.
    clip_run: int = 4
    #: HD grids (≥ `grid_min_channels` electrodes with known rows/columns) use spatial energy: per
    #: electrode, Σ (x_j/σ_j)² over its neighbours within `spatial_radius` rows/columns, against that
    #: sum's own noise quantile (measured correlations, see below). Surface MUAPs spread over several
    #: cm, so 8–10 mm IED grids see each on many electrodes (Merletti & Farina, Surface
    #: Electromyography, 2016), while a spike on one electrode (bad contact, pop) is not a MUAP.
    #: The full sum's threshold has the per-sample false-alarm rate of one channel at `threshold_sd`.
    spatial_radius: int = 1
    #: The spatial energy of a propagating MUAP peaks where most electrodes see it, up to ~10 ms
    #: from the peak of its largest electrode (surface MUAPs last 10–30 ms and cross an 8 mm IED
    #: grid at 3–5 m/s); the candidate is timed at the largest |x| within ± this (ms), never past
    #: half-way to the next energy peak [ENG].
    spatial_reach_ms: float = 10.0
    #: One electrode contributes at most this share of the threshold: a spike on a lone electrode
    #: (bad contact, pop) is not spread activity, while a MUAP on ≥ 2 neighbours still counts [ENG].
    spatial_max_share: float = 0.5
    #: Also report candidates found by spatial energy alone: weak MUAPs spread over many electrodes
    #: that cross no channel's threshold. Off by default: on the simulator's grids (4 scenarios ×
    #: 6 seeds) none of them became a reported discharge (a lone candidate must reach
    #: `grid_confirm_sd` on its own electrode, a template `units.min_peak_sd`), while a movement
    #: artifact's spread energy passes the test and added false discharges [ENG].
    spatial_weak_muaps: bool = False
    #: A candidate crossing the channel threshold is kept when the energy on its electrode's
    #: neighbours alone (its own left out) is more than noise there gives with this probability per
    #: sample: grid MUAPs reach neighbouring electrodes 8–10 mm away, a lone electrode's spike does not.
    spatial_support_p: float = 1e-3
    #: Noise shared by the whole grid (reference, amplifier, mains residue; monopolar grids measure
    #: neighbour correlations of 0.3–0.9 at rest) would be summed as if it were a MUAP: components
    #: of the grid's noise correlation carrying at least this many channels' variance, at most
    #: `spatial_common_max` of them, are projected out before summing; what is left over is
    #: accounted for in the quantile (``weighted_chi2_isf``) [ENG].
    spatial_common_min_eig: float = 4.0
    spatial_common_max: int = 1
    #: ...and only components spread over the grid: participation ratio (Σu²)²/Σu⁴ of at least this
    #: share of the electrodes (a common reference gives ~1; a MUAP, seen by a region, ~0.1–0.3) [ENG].
    spatial_common_min_spread: float = 0.5
    #: The noise correlation is measured once per grid on up to this many windows of
    #: `spatial_window_s`, spread over the recording; only the quietest windows (robust σ within
    #: `spatial_quiet_ratio` of the quietest) and their samples farther than `spatial_quiet_ms` from any
    #: excursion over `spatial_quiet_sd` σ on any electrode are used, so activity and contraction do
    #: not pose as noise (64 electrodes of Gaussian noise cross 4.5 σ at ~4e-4 of samples: ~2 % of
    #: pure noise is set aside).
    spatial_windows: int = 10
    spatial_window_s: float = 0.5
    spatial_quiet_ratio: float = 1.5
    spatial_quiet_sd: float = 4.5
    spatial_quiet_ms: float = 10.0

    def edge_guard_s(self, kind: str) -> float:
        """No discharge closer than this (s) to the recording's ends, by electrode kind."""
        return (self.needle_edge_guard_ms if kind == "needle" else self.edge_guard_ms) / 1000

    def validate(self):
        _range("spikes.threshold_sd", 2.0, 50.0, self.threshold_sd)
        _range("spikes.edge_guard_ms", 0.0, 10000.0, self.edge_guard_ms)
        _range("spikes.needle_edge_guard_ms", 0.0, 10000.0, self.needle_edge_guard_ms)
        _range("spikes.grid_lone_merge_ms", 0.0, 100.0, self.grid_lone_merge_ms)
        _range("spikes.needle_lone_merge_ms", 0.0, 100.0, self.needle_lone_merge_ms)


@dataclass(frozen=True)
class UnitParams:
    """Unit assignment: template clustering and overlap resolution."""

    #: A waveform joins a unit when its residual energy after the best scaled fit is at most
    #: `match_noise_factor` × the noise energy of the window plus `match_shape_tolerance` × the
    #: template energy (ALS units are unstable: shapes vary between discharges, de Carvalho 2013).
    match_noise_factor: float = 2.0
    match_shape_tolerance: float = 0.25
    #: Amplitude scale a template may take in a fit (the second discharge of a doublet is slightly
    #: smaller; neuromyotonic trains wane, Bednařík 2001).
    min_scale: float = 0.4
    max_scale: float = 1.6
    #: Alignment search (ms) when comparing a waveform with a template.
    max_shift_ms: float = 0.2
    #: Records sampled below this rate (Hz) are clustered on waveforms interpolated to at least it
    #: (an integer factor), aligned within ± half a recorded sample: a candidate's peak sample lies
    #: anywhere within half a sample (±0.5 ms at 1 kHz) of its MUAP's peak, and one surface MUAP
    #: read at two such phases differs by more than `match_shape_tolerance` (a 200-Hz component
    #: half a sample apart at 1024 Hz: 36 % of its energy). Independent simulator, hyperexcitable
    #: bipolar seed 0 (1024 Hz): a 141-µV unit's five discharges were five one-member units, its
    #: doublets "fasciculations" [ENG]. 3 seeds × 60 s (only the 1-kHz bipolar cases change):
    #: myokymia bipolar 0.927 → 0.956, artifacts 0.894 → 0.899, cramp 0.853 → 0.859,
    #: hyperexcitable 0.914 → 0.909, neuromyotonia 0.886 → 0.884, voluntary_rest 0.938 → 0.924
    #: (bipolar pooled 0.8943 → 0.8922); events doublet 0.683 → 0.693, multiplet 0.509 → 0.526,
    #: myokymic 0.905 → 0.917, fasciculation 0.831 → 0.832; voluntary time recall 0.983 → 0.946
    #: (one contraction, voluntary_rest bipolar seed 0, now a cramp: its units' CV2 0.32 → 0.49).
    #: At 4000 (2-kHz grids too): grid 0.937 → 0.936, artifacts grid 0.907 → 0.811. 0: never.
    cluster_alignment_rate_hz: float = 2000.0
    #: Templates whose normalised distance is below this are merged (same unit split in two).
    merge_distance: float = 0.15
    #: ...once more on the full-resolution needle templates (medians of their members), where a
    #: unit split into copies shifted by a phase's distance shows clearly [ENG] (independent
    #: simulator, 3 seeds: myokymia needle discharge F1 0.94 → 1.00 and fasciculations found 25 → 11
    #: for 8 true; needle pooled 0.789 → 0.801). Needles only: on bipolar and grid muscles it
    #: merged contraction units with rest ones (at distance 0.15: voluntary_rest grid
    #: fasciculations found 33 → 97 for 15 true; cramp bipolar 0.58 → 0.45).
    #: A copy's members take the lag it merged at (beyond ± `max_shift_ms`, the alignment search),
    #: as after the early merge; without it they stayed timed at their own phase (independent
    #: simulator, hyperexcitable needle: discharge F1 0.986 → 0.987, fasciculation 0.82 → 0.87,
    #: doublet 0.86 → 0.89, multiplet 0.83 → 0.92; emgkit's simulator's needle cases unchanged).
    merge_full_templates: bool = True
    #: ...below this distance: full-resolution medians are less noisy than the early templates, so
    #: a unit's copies lie closer; overlaps of a cramp's units lay at 0.10–0.15 and merged them
    #: with rest units (emgkit's simulator, cramp needle seed 2: discharge F1 0.35 → 0.14 at 0.15).
    merge_full_distance: float = 0.1
    #: Needle candidates are assigned to the templates as clustered, before copies were merged,
    #: and a copy's members then join the unit it was merged into, at the copy's lag, where the
    #: copy's full-resolution median matches the unit's at `merge_full_distance` (the early merge
    #: also joins different units alike at some lag): a unit caught at either of two near-equal
    #: phases keeps all its discharges (searched within ± `max_shift_ms` of the merged template
    #: alone, half of them stayed unassigned and counted as lone discharges) [ENG]. Independent
    #: simulator, 3 seeds: needle discharge F1 0.80 → 0.84 (hyperexcitable 0.82 → 0.86,
    #: neuromyotonia 0.73 → 0.78); without the full-resolution check 0.87, but multiplet event F1
    #: fell 0.47 → 0.43 and units injected into busy real needle records 651 → 636 of 754 were
    #: found (653 with it). Costs: emgkit's neuromyotonia needle 0.45 → 0.42, cramp needle 0.63 →
    #: 0.62. Not on surface muscles: there it merged contraction units (all muscles, before the
    #: lag was applied to the members: voluntary time recall 0.81 → 0.68).
    assign_merged_copies: bool = True
    #: ...and on surface muscles of at least this many electrodes (0, the default: needles only).
    #: A propagating MUAP peaks on each electrode at another time; where two electrodes are about
    #: as large, noise decides at whose peak a candidate is caught, so its windows come in two
    #: alignments 1–5 ms apart and half of them matched no template within ± `max_shift_ms` (lone
    #: candidates or templates of their own). emgkit's simulator, myokymia grid seed 1: a 48-µV
    #: unit bursting at 40 Hz split into 8 templates each firing at voluntary rates, 17 of 30 s
    #: called voluntary. Not for templates spread over most of the grid (the QRS: its slow phases
    #: match each other at a lag, and joined its copies no longer time the heartbeat), nor for a
    #: candidate its lag moves nearer to another of its unit's than the lag (a doublet's second
    #: MUAP). Grid cases of emgkit's simulator (8 scenarios × 3 seeds × 30 s): rest discharge F1
    #: 0.646 → 0.665 (voluntary 0.63 → 0.95, myokymia 0.57 → 0.64 with rest wrongly excluded
    #: 39 → 30 %; Isaacs 0.728 → 0.718, 2.1 → 3.5 %). Independent simulator, grids (8 scenarios ×
    #: 3 seeds × 60 s): 0.937 → 0.935 (neuromyotonic trains read at the other phase in a few
    #: windows; one doublet 3.9 ms apart found as one discharge), fasciculation events 0.767 →
    #: 0.768, doublet 0.581 → 0.565, the other figures unchanged [ENG]. Off by default: the
    #: segmentation then calls more of a grid's bursting activity voluntary (emgkit's Isaacs grid
    #: seed 2: rest wrongly excluded 4.2 → 8.3 %, over the detector issue's 5 %): a bursting unit
    #: found at one or two discharges per burst looks like a unit firing tonically at 5–10 Hz, which
    #: the split units' fragments hid. 16 (an HD grid) turns it on; not for bipolar muscles (one
    #: electrode: no such split).
    grid_copies_min_channels: int = 0
    #: A needle MUAP with two same-sign peaks of nearly equal size (the smaller at least
    #: `phase_copy_min_ratio` × the larger, at most `phase_copy_max_ms` apart) is caught at either
    #: peak; its discharges split into two units whose templates are one waveform shifted by the
    #: peaks' distance, timed that far apart (EMGLAB R00108 unit 7: 958 and 834 µV, 1.9 ms apart).
    #: A template of a recurring unit that matches another's shifted by the distance of such a
    #: peak (normalised distance at most `phase_copy_distance`; 0 turns this off) joins it [ENG].
    #: R00108: discharge F1 ±1 ms 0.751 → 0.784, unit 7 sensitivity 0.60 → 0.74; independent
    #: simulator, 3 seeds: needle rest discharge F1 0.982 → 0.983 (hyperexcitable 0.984 → 0.986),
    #: no needle cell lower. Only templates timed at their window's centre with at least
    #: `min_recurring` members take part: at 0.25 without that, noisy one-off templates with many
    #: "peaks" merged (voluntary_rest needle seed 2: 0.90 → 0.42).
    phase_copy_distance: float = 0.25
    phase_copy_min_ratio: float = 0.7
    phase_copy_max_ms: float = 5.0
    #: Overlap resolution (template peeling) keeps a fit when its matched-filter SNR exceeds this.
    peel_min_snr: float = 5.0
    #: A template, or a fitted discharge, must reach this many noise σ on its main channel
    #: (0.8 × the default candidate threshold ``spikes.threshold_sd`` = 5.5).
    min_peak_sd: float = 4.4
    #: Templates seen fewer times than this are "rare": their fits must reach
    #: ``spikes.confirm_sd`` on their own, like unexplained candidates.
    min_recurring: int = 3
    #: ...or when it explains at least this share of the signal energy in its window (two
    #: overlapping MUAPs: the first fit leaves the second in the residual, the next fit takes it).
    peel_min_explained: float = 0.5
    #: On needles, in these states, a fit whose window still holds more than `peel_min_snr`²
    #: of energy beyond the noise is re-fitted as the best pair of two other units' templates
    #: where that explains at least this × `peel_min_snr`² more of the window than one template
    #: and fits as a fit must (`units.refit_overlap_pairs`; 0 turns it off). In a contraction two
    #: units' MUAPs often overlap 1–3 ms apart, and greedy peeling took a third unit's template
    #: fitted between them [ENG]. EMGLAB R00108 (all voluntary), ±1 ms: discharge F1 0.782 →
    #: 0.797, recall 0.780 → 0.822, precision 0.785 → 0.773; expert units' sensitivity
    #: 0.96/0.83/0.94/0.90/0.95/0.92/0.75 → 0.96/0.87/0.95/0.90/0.95/0.94/0.83. Simulated needle
    #: contractions, all discharges (3 seeds; emgkit's voluntary 30 s / the independent
    #: simulator's voluntary_rest 60 s): recall 0.772 → 0.803 / 0.871 → 0.890, precision 0.891 →
    #: 0.850 / 0.876 → 0.847, F1 0.827 → 0.826 / 0.873 → 0.868. Gains of 0.5–10 gave the same.
    #: Not at rest: there the overlaps are a train's or a burst's neighbouring discharges, and
    #: pairs added false ones (independent simulator, neuromyotonia needle seed 2 0.994 → 0.976;
    #: emgkit's Isaacs needle seed 0 0.815 → 0.770).
    pair_refit_min_gain: float = 1.0
    pair_refit_states: tuple = ("voluntary",)
    #: A needle template that peeling explains as two or more overlapping MUAPs of more frequent
    #: units, leaving at most 1 − this share of its energy, is a cluster of overlaps, not a unit:
    #: it does not peel (its members are fitted with those units). 1 turns it off [ENG].
    #: Needles only: a needle MUAP lasts a few ms, so two overlapping ones fit a third unit only
    #: when that is their overlap; long, smooth surface MUAPs sum into look-alikes (independent
    #: simulator, 3 seeds: needle discharge F1 0.780 → 0.789; on bipolar it added neuromyotonic
    #: multiplet and myokymic false events, multiplet event F1 0.453 → 0.432). On surface
    #: electrodes only a unit's own doublet learnt as a template (two fits of one unit,
    #: `PatternParams.group_isi_ms` apart) is compound: one fit of it had explained both discharges
    #: (independent simulator, dense fasciculation bipolar 0.794 → 0.797, doublet events 0.526 →
    #: 0.540, no cell worse).
    compound_min_explained: float = 0.9
    #: ...in a needle contraction (peel pieces holding voluntary candidates) at this share: there
    #: different units' MUAPs overlap often, and clusters of their overlaps (3–6 members, two
    #: more frequent units explaining 78–90 % of each) had peeled as units [ENG]. EMGLAB R00108,
    #: with the pair re-fit (`pair_refit_min_gain`): discharge F1 0.797 → 0.803, recall 0.822 →
    #: 0.845; expert units' sensitivity 0.96/0.87/0.95/0.90/0.95/0.94/0.83 →
    #: 0.93/0.89/0.94/0.88/1.00/0.97/0.88. emgkit's simulated needle contractions (all
    #: discharges, 3 seeds) 0.826 → 0.832, the independent simulator's unchanged (0.868); units
    #: injected into busy real records 744 → 742 of 754. At rest 0.8 cost emgkit's Isaacs needle
    #: seed 0 0.815 → 0.761 (a train's neighbours), so rest keeps `compound_min_explained`.
    contraction_compound_min_explained: float = 0.75
    #: On surface electrodes a recurring template that is two copies of another, at least as
    #: frequent unit a doublet interval apart (`units.doublet_templates`: every lag and placement,
    #: leaving ≤ 1 − `compound_min_explained` of its energy) keeps peeling, and each of its fits
    #: is two discharges of that unit: a unit firing some of its discharges as doublets has them
    #: clustered apart (the MUAP pair 4.5 ms apart is one waveform) and each doublet was one
    #: "fasciculation" (a bipolar unit with 20 single discharges and 7 doublets: 0 → 7 doublets
    #: found) [ENG]. Independent simulator, 3 seeds × 60 s: doublet events 0.654 → 0.665, multiplet
    #: 0.522 → 0.531, fasciculation 0.793 → 0.794; bipolar discharges 0.880 → 0.878 (neuromyotonia
    #: bipolar 0.874 → 0.870; with every placement of the copies searched, not only beside the best
    #: single copy, 0.873, but 1.5 s more on a busy 60-s four-muscle record).
    split_doublet_templates: bool = True
    #: ...where the first copy's scale lies within the first range (an ordinary discharge of the
    #: unit) and the second's within the second (a doublet's second MUAP is often smaller) [ENG].
    #: Without these bounds other units' templates that resemble two copies split too (doublet
    #: events 0.615 → 0.551; at 98 % explained instead, the 7 doublets above were not found).
    doublet_scales: tuple = ((0.8, 1.25), (0.6, 1.25))
    #: ...and when it has at most this share of the members of each unit fitted in it: overlaps
    #: at one lag are rare beside their units (a unit of its own fires about as often) [ENG].
    compound_max_share: float = 0.25
    #: On surface electrodes two rest discharges `PatternParams.group_isi_ms` apart fitted by two
    #: different units are refitted together: when one unit's template at both times explains the
    #: window at least as well, both are that unit's (a doublet's overlapping MUAPs distort the
    #: first fit, and the second's residual is fitted by a unit of similar shape) [ENG]. The second
    #: copy is searched over every doublet interval (a unit's two templates may be timed at
    #: different phases). Not within periodic spans (a train's discharges are read from the
    #: signal). Independent simulator, 3 seeds: doublet event F1 0.562 → 0.614, multiplet 0.481 →
    #: 0.494, fasciculation 0.730 → 0.741; dense fasciculation bipolar doublets 0.62 → 0.72;
    #: discharge F1 unchanged but cramp bipolar 0.790 → 0.783. Injection into real records identical.
    same_unit_pairs: bool = True
    #: ...each copy searched within this many ms of its discharge's time.
    same_unit_max_shift_ms: float = 1.5
    #: ...and one unit at both times is preferred while it explains at least (1 − this) × what the
    #: two units explain: two free shapes fit noise and overlap better than one shape twice, and
    #: rest discharges a doublet's interval apart are mostly one unit's (independent simulator,
    #: bipolar, 3 seeds × 4 scenarios: of 89 such pairs fitted by two units, 72 were one unit's).
    #: Measured (same 12 cases): 0 → 0.05 doublet events 0.659 → 0.674, fasciculations 0.792 →
    #: 0.801, multiplets 0.444 → 0.439; 0.1: doublets 0.657 [ENG].
    same_unit_tolerance: float = 0.05
    #: Active regions longer than this (s) are peeled in overlapping pieces (bounded memory).
    peel_piece_s: float = 2.0
    #: At most this many peeling iterations per active region.
    peel_max_iter: int = 4000
    #: Discharge times at the largest |peak| of the unit's MUAP as recorded (mean of raw windows
    #: of its main channel), not of the band-passed template: the band-pass can swap which of two
    #: similar phases of a surface MUAP is the largest, moving the time by several ms. Surface
    #: muscles: on bipolar muscles it gained (independent simulator: myokymia 0.73 → 0.87, cramp
    #: 0.50 → 0.60); on HD grids, once units are timed on their largest electrode in µV
    #: (`UnitBank.timing_channel`), artifacts grid 0.740 → 0.860, dense fasciculation grid 0.718 →
    #: 0.715, the others unchanged (timed on the largest in noise SD it had moved correct times:
    #: sparse fasciculation grids 0.62 → 0.36). Not on needles: it gained nothing on simulations and
    #: lost real-data recall (units injected into a neuropathy record: 131 → 123 of 176).
    recorded_peak_times: bool = True
    #: ...and read again around the unit's fitted rest discharges once peeling is done, where only
    #: other units' fits count as neighbours: in dense activity few clustered candidates stand
    #: alone, and a unit kept its band-passed peak (`detect._recorded_peak_from_fits`) [ENG].
    #: Independent simulator, 3 seeds × 60 s: fasciculation event F1 bipolar 0.807 → 0.813 and
    #: grid 0.694 → 0.715 (neuromyotonia, hyperexcitable, myokymia, dense and sparse
    #: fasciculation, and cramp on bipolar), no case lower; rest discharges 36282 → 36289 and
    #: 14614 → 14617 found.
    recorded_peak_from_fits: bool = True
    #: ...when that peak is at least this far (ms) from the band-passed one: another phase lies
    #: a phase's half-width away or more (surface MUAP phases last several ms), while a mean of a
    #: few raw windows can nudge one apex by a sample or two [ENG].
    recorded_peak_min_shift_ms: float = 2.0
    #: On HD grids the recorded shape is the median of the unit's windows, each less the median
    #: of the window of context before it, not the mean less a quadratic fitted to the context on
    #: both sides: a grid's monopolar MUAPs end in a long broad phase the quadratic partly takes
    #: for slow content [ENG]. Independent simulator, 3 seeds (grid cells, before → after):
    #: dense fasciculation 0.713 → 0.806, 0.752 → 0.857 (seeds 0, 1), sparse fasciculation seed 2
    #: 0.923 → 0.943, no grid case lower. Not on bipolar muscles: there slow content (movement,
    #: the ECG) is as large as a MUAP and the constant baseline kept it (artifacts bipolar seed 0
    #: 0.746 → 0.537, myokymia bipolar seed 1 0.976 → 0.944). All cases, 3 seeds: grid pooled
    #: 0.876 → 0.877 (dense fasciculation 0.741 → 0.825, sparse 0.941 → 0.953, doublet events
    #: 0.614 → 0.620, fasciculation 0.741 → 0.747); units injected into the real grid record unchanged.
    recorded_peak_robust_grids: bool = True
    #: On bipolar muscles (a mean of the windows) the recorded peak replaces the band-passed one
    #: only where the members are larger there by a paired t of at least this (0 turns the test off):
    #: two near-equal phases of a few noisy windows' mean were often ranked wrongly [ENG]
    #: (independent simulator, 3 seeds: dense fasciculation bipolar 0.824 → 0.846, hyperexcitable
    #: bipolar 0.836 → 0.833, others unchanged; fasciculation events 0.751 → 0.758).
    recorded_peak_min_t: float = 2.0
    #: The recorded windows are read less the mains sinusoids preprocessing removes and drift
    #: (high-passed at this many Hz, zero-phase, before the mains fit; 0: not), each with a mains
    #: fit window of context (`preprocess.recorded_windows`): the independent simulator's surface
    #: records carry 50/60 Hz lines of tens of µV, at another phase in each window, so a unit's
    #: members' values at its band-passed peak spread over −4…59 µV (23 ± 3 cleared) and the
    #: paired t rarely reached `recorded_peak_min_t`. 5 Hz lies below a surface MUAP's slowest
    #: phase (≥ ~5 ms wide) [ENG]. Independent simulator, 3 seeds, with the context gap below
    #: (before → after): myokymia bipolar 0.895 → 0.926, dense fasciculation bipolar 0.845 →
    #: 0.866, hyperexcitable grid 0.927 → 0.948, cramp grid 0.555 → 0.672, dense fasciculation
    #: grid 0.833 → 0.818, others unchanged. Mains removed without the high-pass: grid 0.933 →
    #: 0.927 (cramp grid 0.672 → 0.555); the high-pass without mains removal: bipolar 0.880 →
    #: 0.872 (myokymia bipolar 0.741).
    recorded_peak_highpass_hz: float = 5.0
    #: On bipolar muscles the quadratic baseline is fitted to context this share of the waveform
    #: window away from it: a surface MUAP caught at a sharp early phase runs on ~10 ms past the
    #: window (independent simulator, dense fasciculation bipolar seed 0: a broad second phase
    #: 1.7× the first, 9 ms after it), and fitted to that tail the baseline took the phase for
    #: slow content [ENG]. Independent simulator, 3 seeds, with cleared windows: dense
    #: fasciculation bipolar 0.839 → 0.862 (0 → 0.5), at 1.0 0.843 (fewer members have that much
    #: free context). HD grids read the context before the window only (above).
    recorded_peak_context_gap: float = 0.5
    #: On muscles of several electrodes a unit is timed on the electrode where its recorded shape
    #: (as read for `recorded_peak_times`) is largest peak-to-peak, of those whose band-passed
    #: template reaches this share of its largest (0: on the largest band-passed one), where its
    #: members are larger than on the band-passed choice by a paired t of `recorded_peak_min_t`:
    #: a MUAP propagating along a grid's column peaks ~2 ms later on each row, and the band-pass
    #: ranks electrodes whose MUAPs differ in width otherwise than the recording does [ENG].
    #: Independent simulator, hyperexcitable grid seed 0: a 248-µV fasciculating unit recorded
    #: 218 / 215 / 214 / 210 / 183 µV p-p on rows 4, 5, 3, 2, 6 of one column, band-passed largest
    #: on row 6 (168 against 154 on row 4), was timed 3.9 ms late — 29 of its 30 fasciculations
    #: missed. Grid cells, 3 seeds × 60 s: hyperexcitable 0.953 → 0.958 (its fasciculation events
    #: 0.43 → 0.53), every other grid cell unchanged. At 0.8: myokymia grid 0.979 → 0.897 (a
    #: template of one unstable unit's variant, 0.9 of its band-passed largest on another row and
    #: larger there as recorded; the truth times a unit on one electrode); without the paired t:
    #: dense and sparse fasciculation grid 0.858 → 0.842 and 0.952 → 0.940 (units of 3–8 members),
    #: cramp grid 0.678 → 0.746.
    recorded_timing_channel_share: float = 0.9
    #: On muscles of several electrodes a lone discharge (no template explains it) is timed at the
    #: largest |peak| of its electrode of largest peak-to-peak in µV, as units are, not where its
    #: candidate was caught [ENG].
    lone_timing_channel: bool = True
    #: Templates of units whose discharges overlap each other (a neuromyotonic train at 250 Hz
    #: puts 2–4 discharges in one waveform window; doublets) are re-estimated by least squares over
    #: the whole recording, every member discharge of the overlapping units modelled at once, when
    #: at least this share of a unit's members has another of its members within one window. A mean or
    #: median of such windows is the MUAP plus its neighbours, and peeling with it explains two
    #: discharges with one fit. 1 or more turns it off.
    unmix_min_share: float = 0.2
    #: Ridge weight of the unmixing, per member discharge, pulling each template toward its
    #: median: a nearly periodic train leaves some template components barely determined.
    unmix_ridge: float = 0.001
    #: At most this many template samples (units × window samples) are solved jointly.
    unmix_max_unknowns: int = 2000
    #: Time states whose discharges are resolved by peeling. Voluntary and cramp discharges are
    #: excluded from spontaneous counts but still reported per unit (firing rates, expert
    #: comparisons such as EMGLAB); artifact, invalid and noisy time keep raw candidates.
    peel_states: tuple = ("rest", "voluntary", "cramp")
    #: Where the signal repeats at a train's interval (`SegmentParams.train_periodicity`), each
    #: period's peak of one polarity is a discharge of the train (`trains.train_discharges`) when
    #: it stands at least `train_peak_floor_sd` noise SD high (under the candidate threshold: the
    #: periodicity and the chain at a train's rate are the evidence) and at least
    #: `train_peak_min_interval` × the train's interval from a higher one (a needle MUAP's late
    #: phases and its neighbours' spikes come closer). Independent simulator, 3 seeds: at 0.55
    #: a tenth of needle train peaks were other phases; at 0.75 none of the surface cells changed
    #: by more than 0.015; a floor of 2.5 SD instead of 3 found hyperexcitable bipolar trains
    #: 0.46 → 0.57 and 0.59 → 0.65 with no cell worse by more than 0.005 [ENG].
    #: Surface muscles: after peeling, a discharge within a
    #: waveform window of another unit's discharge more than 1 / this times its size (peak in
    #: noise SD) is a remnant of that MUAP (`units.remnant_discharges`). Independent simulator,
    #: bipolar, 3 seeds: dense fasciculation 0.701/0.850/0.753 → 0.711/0.872/0.794, sparse
    #: 0.810/0.814/0.754 → 0.805/0.828/0.754, the others within ±0.005 (grids then: −0.06…+0.01,
    #: so at first not applied there; they also merge lone phases by
    #: `spikes.grid_lone_merge_ms`). Within a whole window rather than half (a surface MUAP's tail lasts past 10 ms: half the remnants lay 10–13 ms
    #: away): dense fasciculation 0.797 → 0.821, sparse 0.806 → 0.829, cramp 0.766 → 0.790,
    #: no bipolar cell lower by more than 0.001; emgkit's bipolar cases +0.002…+0.005. On grids
    #: too once a far field spread over the grid (`_broad_units`, the ECG) makes no remnants (a
    #: MUAP 16 ms before a QRS, injected into the real OTB grid record, had gone): grid 0.872 →
    #: 0.876 (dense fasciculation 0.715 → 0.741, artifacts 0.860 → 0.878), no cell lower,
    #: injection unchanged; emgkit's benign grid 0.807 → 0.823, ALS grid 0.811 → 0.819, Isaacs
    #: grid 0.552 → 0.548 [ENG]. 0 turns it off.
    remnant_max_share: float = 0.3
    #: Needles: a lone candidate (one no template explains) within a waveform window of a fitted
    #: discharge more than 1 / this times its size is that MUAP's remnant (a polyphasic MUAP's
    #: late phases vary, jiggle, and the fit leaves them). Sizes are a fit's matched-filter SNR
    #: against a lone candidate's peak in noise SD, which is 5–10× smaller for one MUAP at needle
    #: rates, hence the small share [ENG]. Independent simulator, myokymia needle seed 2: a 410-µV
    #: fasciculating unit's five discharges each had a 6-SD lone candidate 8 ms later, five false
    #: fasciculations. There, needle, 3 seeds × 60 s: rest discharges 0.9836 → 0.9849,
    #: fasciculation events 0.952 → 0.975; emgkit's simulator, needle cases (3 × 30 s): 0.6685 →
    #: 0.6692 (fasciculation events better in 11 of 21 runs, Isaacs seed 2 9 true train
    #: discharges fewer), `python -m benchmarks accuracy --quick` Isaacs needle 0.684 → 0.807;
    #: EMGLAB R00108 F1 0.811 either way (one true firing fewer), N2001 controls unchanged.
    #: 0 turns it off.
    needle_remnant_max_share: float = 0.1
    #: ...and within this many ms of another unit's larger discharge, a surface discharge is its
    #: remnant whatever its size: at rest two units' discharges that close are rare (a muscle's
    #: fasciculations at ~1/s coincide within ±2 ms 0.4 % of the time), while a template that does
    #: not match a MUAP leaves a remnant that another template fits (independent simulator, bipolar
    #: dense fasciculation, 3 seeds: 54 pairs of found discharges for one true one, 1–2 ms apart,
    #: 49 of two units, the smaller 0.33–0.78 of the larger). 2 ms is a doublet's shortest interval
    #: (`PatternParams.group_isi_ms`). Independent simulator, 3 seeds × 60 s: dense fasciculation
    #: grid 0.818 → 0.858 and bipolar 0.868 → 0.876, sparse fasciculation grid 0.941 → 0.952,
    #: artifacts grid 0.898 → 0.907, voluntary_rest bipolar 0.931 → 0.938, cramp grid 0.672 →
    #: 0.678, myokymia grid 0.982 → 0.979; surface events fasciculation 0.800 → 0.806, doublet
    #: 0.646 → 0.649 (grid 0.581 → 0.565), fasciculation rate within 15 % in 15 of 24 cells (was
    #: 14); emgkit's Isaacs grid seeds 0 / 2 0.898 / 0.647 → 0.896 / 0.640 and voluntary bipolar
    #: seed 0 0.975 → 0.972 (trains' and contractions' own near-coincident discharges), ALS bipolar
    #: seed 2 0.903 → 0.905 [ENG]. 0 turns it off.
    coincident_max_ms: float = 2.0
    train_peak_floor_sd: float = 2.5
    train_peak_min_interval: float = 0.75
    #: ...and at least this share of the train's typical peak (90th percentile of the peaks where
    #: the signal is periodic): a needle's wide band puts hundreds of noise peaks a second above a
    #: few SD, which would chain at a train's rate beside a strong train [ENG].
    train_peak_min_share: float = 0.4
    #: Band (× the train's rate) in which a train's ripple is also read (`trains.train_band`),
    #: against that band's noise on the muscle's quietest windows: a surface MUAP with a large net
    #: area sums at 150–300 Hz into a sloping step (a waning train) whose ripple has few local
    #: maxima above the wide-band floor. Independent simulator, 3 seeds × 60 s: hyperexcitable
    #: bipolar 0.731 → 0.819, neuromyotonia bipolar 0.786 → 0.829, neuromyotonia grid 0.866 →
    #: 0.885, neuromyotonic events 0.899 → 0.919, no cell lower; emgkit's Isaacs grid 0.499 →
    #: 0.543, Isaacs bipolar 0.685 → 0.703. On surface electrodes the train is read at the
    #: sub-multiple of the span's interval (÷1–3) whose band holds most power
    #: (`trains.fundamental_interval`; periodicity may pick 2L): hyperexcitable bipolar 0.819 →
    #: 0.836, neuromyotonia bipolar 0.833 → 0.838, Isaacs bipolar 0.703 → 0.717 [ENG]. Empty
    #: turns it off.
    train_band: tuple = (0.6, 1.6)
    #: On surface electrodes the band-passed signal is also read cycle by cycle
    #: (`trains.train_discharges`): each of its peaks is a discharge where its amplitude, averaged
    #: over `train_envelope_periods` train intervals, is at least `train_envelope_floor_sd` × the
    #: band's noise SD (measured on the muscle's quietest windows; band-passed noise alone averages
    #: 1.25 SD) and at least `train_envelope_min_share` of its 90th percentile where the signal is
    #: periodic (active stretches beside a train raise the band's level above a quiet window's). A
    #: surface train's ripple of 2–3 SD loses single peaks under the peak floor but not its cycle
    #: amplitude. Independent simulator, 3 seeds × 60 s: bipolar 0.838 → 0.866 (neuromyotonia
    #: 0.838 → 0.858, hyperexcitable 0.833 → 0.889), grid 0.878 → 0.884 (neuromyotonia 0.888 →
    #: 0.898), neuromyotonic events 0.927 → 0.936, no cell lower by more than 0.001; emgkit's
    #: Isaacs bipolar 0.717 → 0.725, Isaacs grid 0.549 → 0.568. A floor of 1.63 SD read noise as
    #: trains in falsely periodic spans (sparse fasciculation bipolar 0.833 → 0.637, artifacts
    #: bipolar 0.873 → 0.706); on needles (whose trains stand far above the noise) it cost
    #: 0.001–0.002 in three cells [ENG]. 0 turns it off.
    train_envelope_floor_sd: float = 2.0
    train_envelope_periods: float = 3.0
    train_envelope_min_share: float = 0.4
    #: A train read cycle by cycle is continued (`trains.continued_train`) through the band's
    #: peaks whose amplitude, averaged over `train_extend_periods` / 2 intervals before and as many
    #: after (the smaller: where a train stops the stretch after it holds only noise), stands at
    #: least `train_extend_floor_sd` × the band's noise SD — noise alone averages 1.25 SD
    #: (Rayleigh) — inside the train and, beyond its ends, peak after peak at
    #: `train_extend_interval` × its last intervals (one cycle may be missed). A train's MUAPs
    #: wane by 30–70 % and its last third fell under the cycle-by-cycle floor (independent
    #: simulator, bipolar neuromyotonia: recall by third of a train 0.90 / 0.88 / 0.80) [ENG].
    #: 0 turns it off. Independent simulator, 3 seeds × 60 s: neuromyotonia bipolar 0.870 → 0.882,
    #: hyperexcitable bipolar 0.897 → 0.907 (bipolar pooled 0.878 → 0.888), neuromyotonia grid
    #: 0.926 → 0.925, neuromyotonic events 0.934 → 0.940, no other cell changed; a floor of 1.3 or
    #: 1.7 SD, or 6 or 16 periods, within ±0.003 of these; missing more than one cycle in a row ran
    #: on into the noise (0.878 / 0.906). emgkit's Isaacs bipolar seeds 0–2 0.660 / 0.735 / 0.817 →
    #: 0.663 / 0.737 / 0.826.
    train_extend_floor_sd: float = 1.5
    train_extend_periods: float = 10.0
    train_extend_interval: tuple = (0.8, 1.25)
    #: On HD grids a periodic span is also searched for a second unit's train at another
    #: interval, on electrodes of its own (`trains.second_train`), and both are read: two units'
    #: trains often overlap in time (independent simulator, neuromyotonia grid seed 0: four of
    #: fifteen trains ran beside another, 1 100 of 3 494 train discharges; only the louder of each
    #: pair was read). Independent simulator, 3 seeds × 60 s: neuromyotonia grid 0.887 → 0.925,
    #: grids pooled 0.881 → 0.904, no other cell changed [ENG].
    grid_second_trains: bool = True

    def validate(self):
        _range("units.unmix_min_share", 0.0, 1.0, self.unmix_min_share)
        _range("units.train_peak_floor_sd", 0.0, 1e3, self.train_peak_floor_sd)
        _range("units.remnant_max_share", 0.0, 1.0, self.remnant_max_share)
        _range("units.needle_remnant_max_share", 0.0, 1.0, self.needle_remnant_max_share)
        _range("units.coincident_max_ms", 0.0, 50.0, self.coincident_max_ms)
        _range("units.same_unit_max_shift_ms", 0.0, 20.0, self.same_unit_max_shift_ms)
        _range("units.same_unit_tolerance", 0.0, 0.5, self.same_unit_tolerance)
        _range("units.train_peak_min_interval", 0.0, 1.0, self.train_peak_min_interval)
        _range("units.train_peak_min_share", 0.0, 1.0, self.train_peak_min_share)
        _range("units.train_envelope_floor_sd", 0.0, 1e3, self.train_envelope_floor_sd)
        _range("units.train_envelope_periods", 0.5, 100.0, self.train_envelope_periods)
        _range("units.train_envelope_min_share", 0.0, 1.0, self.train_envelope_min_share)
        _range("units.train_extend_floor_sd", 0.0, 1e3, self.train_extend_floor_sd)
        _range("units.train_extend_periods", 1.0, 1000.0, self.train_extend_periods)
        if not (len(self.train_extend_interval) == 2 and 0 < self.train_extend_interval[0] < 1 < self.train_extend_interval[1] < 2):
            raise ParameterError(f"units.train_extend_interval must be (low, high) with 0 < low < 1 < high < 2 "
                                 f"(shares of the train's interval), got {self.train_extend_interval!r}")
        if self.train_band and not (len(self.train_band) == 2 and 0 < self.train_band[0] < 1 < self.train_band[1]):
            raise ParameterError(f"units.train_band must be empty or (low, high) with 0 < low < 1 < high "
                                 f"(multiples of the train's rate), got {self.train_band!r}")
        _range("units.compound_min_explained", 0.0, 1.0, self.compound_min_explained)
        _range("units.compound_max_share", 0.0, 1.0, self.compound_max_share)
        _range("units.contraction_compound_min_explained", 0.0, 1.0, self.contraction_compound_min_explained)
        _range("units.pair_refit_min_gain", 0.0, 1e3, self.pair_refit_min_gain)
        if not all(state in ("rest", "voluntary", "cramp") for state in self.pair_refit_states):
            raise ParameterError(f"units.pair_refit_states must name peeled states (rest, voluntary, cramp); "
                                 f"got {self.pair_refit_states!r}")
        _range("units.merge_full_distance", 0.0, 2.0, self.merge_full_distance)
        _range("units.grid_copies_min_channels", 0, 1 << 20, self.grid_copies_min_channels)
        _range("units.cluster_alignment_rate_hz", 0.0, 1e6, self.cluster_alignment_rate_hz)
        _range("units.recorded_peak_min_shift_ms", 0.0, 50.0, self.recorded_peak_min_shift_ms)
        _range("units.recorded_peak_min_t", 0.0, 100.0, self.recorded_peak_min_t)
        _range("units.recorded_peak_highpass_hz", 0.0, 100.0, self.recorded_peak_highpass_hz)
        _range("units.recorded_peak_context_gap", 0.0, 4.0, self.recorded_peak_context_gap)
        _range("units.recorded_timing_channel_share", 0.0, 1.0, self.recorded_timing_channel_share)
        try:
            ok = len(self.doublet_scales) == 2 and all(len(r) == 2 and 0 < float(r[0]) <= float(r[1])
                                                        for r in self.doublet_scales)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ParameterError(f"units.doublet_scales must be two (low, high) ranges with 0 < low <= high; "
                                 f"got {self.doublet_scales!r}")
        _range("units.phase_copy_distance", 0.0, 2.0, self.phase_copy_distance)
        _range("units.phase_copy_min_ratio", 0.0, 1.0, self.phase_copy_min_ratio)
        _range("units.phase_copy_max_ms", 0.0, 50.0, self.phase_copy_max_ms)
        _range("units.unmix_ridge", 1e-6, 1e6, self.unmix_ridge)
        _range("units.unmix_max_unknowns", 0, 100_000, self.unmix_max_unknowns)


@dataclass(frozen=True)
class PatternParams:
    """Classification of each unit's discharges into patterns. All intervals in ms unless named _s."""

    #: Doublet/multiplet intra-group interval range: 2–20 ms (AANEM; Simpson 2.5–20 ms).
    group_isi_ms: tuple = (2.0, 20.0)
    #: An FP is isolated when its ISI exceeds 250 ms on both sides (de Carvalho & Swash 2013).
    isolated_isi_ms: float = 250.0
    #: Myokymic intraburst frequency 2–60 Hz (AANEM); bursts of 2–10+ discharges recurring at
    #: 0.1–10 Hz (Gutmann 1991).
    myokymic_rate_hz: tuple = (2.0, 60.0)
    myokymic_min_discharges: int = 2
    #: A burst is followed by silence at least this many times its mean intraburst ISI.
    myokymic_silence_factor: float = 2.0
    #: The unit must show at least this many bursts for the pattern to be myokymic (semi-rhythmic recurrence).
    myokymic_min_bursts: int = 2
    #: A unit's myokymic pattern is established (its bursts then need no silence on both sides)
    #: by ``myokymic_min_bursts`` bursts of at least this many discharges [ENG].
    myokymic_established_min_discharges: int = 3
    #: Neuromyotonic: 150–300 Hz for 0.5–2 s (Bednařík & Kadaňka 2001). The lower limits below are
    #: set a little under the textbook values to keep trains whose ISI lengthens as they wane.
    neuromyotonic_min_rate_hz: float = 100.0
    neuromyotonic_min_duration_s: float = 0.3
    #: Across a muscle's rest discharges, a train is a run with no gap above this (ms) whose detected
    #: rate is at least `neuromyotonic_min_detected_rate_hz`: waning discharges dropping under the
    #: threshold leave gaps of a few ISIs (150–300 Hz → 3–7 ms) but never a myokymic silence.
    neuromyotonic_max_gap_ms: float = 30.0
    neuromyotonic_min_detected_rate_hz: float = 50.0
    neuromyotonic_max_cov: float = 0.6
    #: Templates of nearly the same shape (correlation at least this at a lag of ≤ 2 samples) and size
    #: (ratio 0.6–1.6) are one unit split in two for pattern classification (`units.unit_families`):
    #: a burst whose discharges landed in both is one burst [ENG]. At 0.9 (independent simulator, 3
    #: seeds): myokymic event F1 0.893 → 0.897 (myokymia bipolar false bursts 21 → 9, a 1-kHz unit split
    #: in two), but different dense-fasciculation units joined (fasciculations found there 709 → 698
    #: of 846; fasciculation F1 0.758 → 0.757, doublet 0.639 → 0.635): kept at 0.95.
    family_min_correlation: float = 0.95
    #: On surface electrodes a lone discharge one intraburst interval (± this share of it) before a
    #: myokymic burst or after it continues the burst's rhythm: a piece of the burst fitted by
    #: another template, not a fasciculation (0 turns it off) [ENG]. Independent simulator, 3 seeds:
    #: fasciculation events found on myokymia grid 24 → 13 (13 true), hyperexcitable bipolar 153 →
    #: 132 (82 true); with the burst rule at `voluntary_min_run_s` fasciculation event F1 0.747 →
    #: 0.751, myokymic 0.882 → 0.888. Also on every electrode: once a unit's myokymic bursts are established, a
    #: group at its own intraburst interval (± this share) set off by silence is one of its bursts,
    #: not a doublet or multiplet (a burst at ~60 Hz has doublet intervals): doublet event F1 0.627 →
    #: 0.639, multiplet 0.497 → 0.523, myokymic 0.888 → 0.893 (hyperexcitable bipolar 161 → 172 of
    #: 210 found; hyperexcitable grid 6 → 12 false).
    burst_rhythm_tolerance: float = 0.25
    #: A fasciculation is an isolated discharge (de Carvalho & Swash 2013): one with at least
    #: `crowded_min_discharges` other rest discharges within ± `crowded_window_s` that no burst
    #: or train event holds is a piece of dense activity the sorter split (a surface
    #: neuromyotonic train read only in part, its other MUAPs fitted by many templates), not a
    #: fasciculation; it stays a discharge without an event (0 turns it off) [ENG]. At 2
    #: fasciculations/s in a muscle (ALS-like), 8 others within ±0.2 s happen by chance with
    #: p ≈ 10⁻⁵. Independent simulator, 3 seeds × 60 s, no true fasciculation lost: false ones on
    #: bipolar (neuromyotonia, hyperexcitable, myokymia, dense and sparse fasciculation, cramp)
    #: 334 → 322, grid (the same but cramp) 113 → 108, needle (neuromyotonia, hyperexcitable,
    #: myokymia, dense) 15 → 12; fasciculation event F1 0.804 → 0.807, 0.688 → 0.694, 0.910 →
    #: 0.920. At 6 instead of 8, 5 true dense-fasciculation ones (bipolar) would go.
    crowded_min_discharges: int = 8
    crowded_window_s: float = 0.2
    #: Voluntary firing: 5–25 Hz with ISI CoV 0.1–0.25 (textbook); runs of regular firing lasting at
    #: least `voluntary_min_run_s` are not spontaneous, unless shorter than continuous firing
    #: (`continuous_min_duration_s`) and set off by silence (`myokymic_silence_factor` × their
    #: interval) on both sides: a slow myokymic burst of 9–10 discharges at 6 Hz lasts 1.5 s
    #: (independent simulator, hyperexcitable needle: myokymic bursts found 64 → 70 of 84).
    voluntary_rate_hz: tuple = (4.0, 30.0)
    voluntary_max_cov: float = 0.35
    voluntary_min_run_s: float = 1.5
    #: ECG on surface channels: ~1 Hz, regular, broad (clinical-criteria.md, look-alikes). A surface
    #: unit firing at these rates with an interval CoV below `ecg_max_cov` is ECG, not a motor unit.
    ecg_rate_hz: tuple = (0.6, 2.5)
    ecg_max_cov: float = 0.2
    #: Heartbeats chain at one RR interval ± this share of it (resting RR varies a few % beat to
    #: beat, and by ~5–10 % over a breath: respiratory sinus arrhythmia, HRV Task Force 1996) [ENG].
    ecg_rr_tolerance: float = 0.08
    #: A QRS at the detection threshold is found at some beats only: a unit's heartbeat chain may
    #: skip up to this many beats in a row (measured on irregular Poisson units at 0.3–2 Hz, 60 s:
    #: ≤ 1 % taken for a heartbeat; a QRS found at 40 % of beats is caught 8 times in 10) [ENG].
    ecg_max_missed_beats: int = 3
    #: Surface muscles showing the ECG are classified with the heartbeats every surface muscle of
    #: the recording found (`detect._shared_heartbeats`): one heart beats under every electrode, and
    #: a QRS near threshold on one muscle is caught at only some beats, by units too small to be
    #: shown the ECG on their own, whose discharges were "fasciculations". Muscles where no beat
    #: was found are left alone (a leg far from the heart may show none) [ENG]. Independent
    #: simulator, bipolar, 3 seeds × 60 s: false fasciculation events at a QRS 59 → 19; bipolar
    #: fasciculation events 0.822 → 0.833 (false 337 → 293, true found 1281 → 1279), rest
    #: discharges 0.8943 either way (38028 → 37977 found, false 2733 → 2678); dense fasciculation
    #: 0.876 → 0.884, cramp 0.839 → 0.853, artifacts 0.882 → 0.894, neuromyotonia 0.887 → 0.886,
    #: hyperexcitable 0.915 → 0.914 (multiplet events there 0.40 → 0.33 in neuromyotonia);
    #: emgkit's simulator's bipolar cases and units injected into real records unchanged.
    shared_heartbeats: bool = True
    #: A surface unit is the ECG when at least this share of its discharges lie in heartbeat chains
    #: (a template of one QRS: consistent shape at a regular rhythm).
    ecg_chained_share: float = 0.6
    #: The Q and S waves around each R wave are found as discharges of templates of their own. A
    #: unit whose discharges lie within ± `qrs_max_ms`/2 of a heartbeat (normal QRS ≤ 120 ms,
    #: textbook ECG) at least `ecg_locked_share` of the time, far more often than chance would put
    #: them there (binomial p < `ecg_locked_p`), is part of the ECG: those discharges are artifact.
    qrs_max_ms: float = 120.0
    ecg_locked_share: float = 0.5
    ecg_locked_p: float = 0.01
    #: Units with fewer rest discharges than this cannot be tested that way (nor chain into
    #: beats): once heartbeats are found, their discharges within a QRS window are artifact, since
    #: a MUAP coinciding with a QRS cannot be told from it (chance: QRS windows cover ~10–25 % of
    #: the time at 50–120 bpm).
    ecg_min_unit_discharges: int = 4
    #: ... except a discharge larger than this many times the QRS's waves on the muscle (the 95th
    #: percentile of the amplitudes of its discharges labelled ECG): a MUAP that fired during a
    #: heartbeat. A QRS's amplitude varies by ~10–30 % over a breath (respiratory modulation of
    #: the ECG), and a MUAP beside a QRS sums with it, so twice the QRS is no QRS [ENG].
    #: Independent simulator, sparse fasciculations bipolar seed 1: fasciculations of 53–147 µV
    #: beside a 4–8 µV QRS were reported as artifact. There, 3 seeds × 60 s: sparse fasciculation
    #: bipolar rest discharges 0.862 → 0.885 (fasciculation events 0.86 → 0.87), bipolar pooled
    #: 0.8922 → 0.8927, grid 0.9370 → 0.9371 (cramp bipolar 0.859 → 0.856: a cramp's last
    #: discharge, beyond the stretch found, now at rest); emgkit's simulator: 1 grid discharge more.
    #: The same holds for a discharge in a heartbeat chain across units (`events._heartbeats`) more
    #: than this many times the chain's median: a MUAP that fired at a beat whose QRS was missed.
    #: Independent simulator: surface fasciculation events 0.8192 → 0.8246 (sparse fasciculation
    #: grid rest discharges 0.952 → 0.977, bipolar 0.885 → 0.896, dense fasciculation grid 0.858 →
    #: 0.864, artifacts grid 0.907 → 0.918; myokymia grid 0.981 → 0.980), emgkit's simulator
    #: (surface cases) unchanged.
    ecg_rare_max_amplitude_ratio: float = 2.0
    #: Heartbeats chained across a surface muscle's units (on HD grids over QRS complexes: each QRS
    #: is found as several discharges, its Q, R, S waves on different electrodes, mostly lone
    #: candidates) are kept when irregular (Poisson) discharges at the muscle's rate would form as
    #: many, as long chains with chance below this (``patterns.chains_chance_p``), or as many
    #: chains sharing one RR interval (``patterns.shared_rhythm_chance_p``: a heart's chains broken
    #: by missed beats), Bonferroni over the two; a significance level [ENG]. Dense
    #: fasciculations chain by chance: an ALS-like bipolar muscle (12 units at 8/min) lost 4–14
    #: true fasciculations to "artifact" in 8 of 20 draws without the test.
    ecg_chance_p: float = 0.001
    #: On HD grids the QRS also shows where it crosses no electrode's threshold: the median over
    #: electrodes of each one's power (σ² units, per `segments.common_power_step_ms`) rises at each
    #: beat over the whole grid, while a MUAP covers a few electrodes (measured on the independent
    #: simulator's grid ECG: 3.9–6.4 at the beats against a 99th percentile of 1.4–1.8 elsewhere at
    #: rest). Stretches above half of this × the series' median that reach it, lasting from
    #: `qrs_min_ms` to `qrs_max_ms`, that chain at a heart rhythm (kept as chains across units
    #: are, by `ecg_chance_p`) are heartbeats [ENG]. A QRS's power lasts 40–80 ms there (simulator
    #: ECG), a MUAP's 10–30 ms even when it covers most of a grid (emgkit's simulator).
    #: Bipolar and other few-channel surface muscles use the same series (one electrode's power):
    #: a QRS near the candidate threshold is found as a discharge at only some beats and forms no
    #: unit beating at a heart rhythm, while its 40–120 ms of power rises at every beat and a
    #: fasciculation's lasts 10–30 ms (independent simulator, bipolar: sparse fasciculations
    #: F1 0.767 → 0.839 and artifacts 0.636 → 0.746 on the seeds with an ECG) [ENG].
    qrs_common_power: float = 3.0
    qrs_min_ms: float = 35.0
    #: Continuous single discharges: ~6.3 Hz with CoV ≈ 3.5 % (Posa et al. 2020). Across a
    #: muscle, a chain of at least `continuous_min_discharges` discharges at one steady interval
    #: (each within `continuous_max_cov` of it) at 6.3 ± 4 Hz (widened to 3–15 Hz), lasting at least
    #: `continuous_min_duration_s`, is continuous: long enough not to be one slow myokymic burst
    #: (bursts are followed by silence, Gutmann 1991).
    continuous_max_cov: float = 0.1
    #: A chain found at `continuous_max_cov` continues with intervals within this of its interval
    #: (a firing rhythm is recognised strictly and followed loosely; one stray interval split it
    #: into pieces otherwise counted as fasciculations) [ENG].
    continuous_extend_cov: float = 0.2
    continuous_rate_hz: tuple = (3.0, 15.0)
    continuous_min_discharges: int = 8
    continuous_min_duration_s: float = 3.0
    #: Cramp: many units, 6–25 pps, ISI CoV ≈ 0.45 (Minetto et al. 2009), against 0.1–0.25 for
    #: voluntary firing (textbook). Measured as the mean local CV2 (Holt et al. 1996) of the active
    #: units' intervals at voluntary rates; a stretch whose units fire more regularly than this
    #: (upper end of the voluntary CoV range, widened for unit-assignment jitter) is voluntary
    #: whatever its envelope. Unit-assignment errors inflate CV2 (real steady contractions measure
    #: 0.2–0.5), so irregularity alone never makes a cramp: see `cramp_max_plateau_share`.
    cramp_min_cov: float = 0.35
    #: Cramp recruitment rises then falls (Minetto et al. 2009), while voluntary effort is held
    #: at a plateau. A many-unit stretch is a cramp when its activity envelope (power over three
    #: segmentation windows) stays above half its peak for at most this share of the stretch:
    #: a symmetric rise-and-fall keeps ~0.5 of its length above half peak, a held contraction with
    #: sub-second ramps ≥ 0.6 [ENG].
    cramp_max_plateau_share: float = 0.55
    #: Fibrillation potentials (needle): single-fibre spikes of 1–5 ms, 20–200 µV, firing regularly
    #: at 0.5–15 Hz with CoV < 0.1; positive sharp waves have a 10–100 ms tail (textbook, AANEM).
    #: A unit whose template's main spike lasts at most `fibrillation_max_spike_ms` with p-p at most
    #: `fibrillation_max_uv` is a fibre, not a motor unit.
    fibrillation_max_spike_ms: float = 5.0
    fibrillation_max_uv: float = 250.0
    #: A unit whose intervals are mostly shorter than 1 / `fibrillation_rate_hz`[1] (bursts, trains)
    #: is a motor unit however short its spike (independent simulator, myokymia needle seed 1: a
    #: small unit's 27-Hz bursts were 119 "fibrillations"; myokymic events 17 → 46 of 46 found).
    fibrillation_rate_hz: tuple = (0.5, 15.0)
    fibrillation_max_cov: float = 0.15
    #: A fibre fires for long stretches; small fibrillations are detected only where noise adds
    #: to them, so gaps up to this long (s) in one fibre's discharges are missed discharges of
    #: one train, not new trains [ENG].
    fibrillation_max_gap_s: float = 10.0
    #: A fibre whose discharges are at least this many noise SD peak-to-peak (so their largest
    #: phase peaks at twice the candidate threshold `spikes.threshold_sd`, 5.5, or more) is found
    #: at each of them: it must fire at fibrillation rates (a median interval at most
    #: 1 / `fibrillation_rate_hz`[0], at least three discharges) to be one; else its short spike is
    #: a small motor unit's (independent simulator, cramp needle
    #: seed 0: a 110–130 µV unit at 66–78 SD firing four times in 46 s, 9–36 s apart, was four
    #: "fibrillations" instead of fasciculations) [ENG]. There, needle, 3 seeds × 60 s: fasciculation
    #: events 0.938 → 0.952 (cramp 0.67 → 1.00, neuromyotonia 0.60 → 1.00; sparse fasciculation and
    #: voluntary_rest one false event more each), doublet 0.904 → 0.919, rest discharges unchanged;
    #: emgkit's simulator (its ALS fibrillations included) unchanged; EMGLAB N2001 (ALS and myopathy
    #: records) fibrillation events 143 → 129, controls unchanged.
    fibrillation_clear_p2p_sd: float = 22.0

    def validate(self):
        if not 0.0 < self.family_min_correlation <= 1.0:
            raise ParameterError(f"patterns.family_min_correlation must be in (0, 1] (a correlation), "
                                 f"got {self.family_min_correlation!r}")
        if self.crowded_min_discharges < 0 or not 0.0 <= self.crowded_window_s <= 10.0:
            raise ParameterError(f"patterns.crowded_min_discharges must be >= 0 and patterns.crowded_window_s "
                                 f"within [0, 10] s, got {self.crowded_min_discharges!r}, {self.crowded_window_s!r}")
        if not 0.0 <= self.burst_rhythm_tolerance < 1.0:
            raise ParameterError(f"patterns.burst_rhythm_tolerance must be in [0, 1) (a share of the "
                                 f"intraburst interval), got {self.burst_rhythm_tolerance!r}")
        _range("patterns.fibrillation_clear_p2p_sd", 0.0, float("inf"), self.fibrillation_clear_p2p_sd)
        if not self.ecg_rare_max_amplitude_ratio >= 1.0:
            raise ParameterError(f"patterns.ecg_rare_max_amplitude_ratio must be >= 1 (a multiple of the QRS's "
                                 f"amplitude; inf keeps every lone discharge at a QRS as artifact), "
                                 f"got {self.ecg_rare_max_amplitude_ratio!r}")


@dataclass(frozen=True)
class SegmentParams:
    """Segmentation into rest, voluntary, cramp, artifact, noisy, clipped, flat time."""

    #: Window length (s) for segment decisions.
    window_s: float = 0.5
    #: A window is voluntary when at least this many units fire in regular runs at voluntary rates
    #: (voluntary effort recruits several units together: AANEM "recruitment")...
    voluntary_min_units: int = 2
    #: ...or the signal power rises this many times above the muscle's median window power while
    #: several units fire and none dominates (interference pattern).
    interference_power_ratio: float = 4.0
    #: ...or several units together fire more than this many discharges per second in the muscle
    #: for a second or more: voluntary units fire at 5–25 Hz each (textbook), so two already give
    #: ~15/s, while even ALS muscles show ~40 FP/min (Bashford 2020), under one per second.
    #: One unit's high-frequency train is exempt (neuromyotonic, see PatternParams).
    interference_min_rate_hz: float = 15.0
    #: ...where "several units" means an effective number of units (inverse Simpson index of
    #: the units' shares of the window's sorted discharges, Hill 1973) of at least this. One
    #: myokymic or neuromyotonic unit (AANEM: a single unit's burst or train), even split over
    #: two templates, stays below it; voluntary recruitment spreads discharges over many units.
    min_effective_units: float = 3.0
    #: ...and at least this many units fire steadily at voluntary rates in the window (tonically,
    #: see `tonic_min_cover`, or in a regular run). Continuous spontaneous activity of bursting
    #: units (Isaacs' syndrome: myokymic bursts, multiplets and trains of several units, their
    #: overlaps spread over many templates) is as dense across as many templates, but no unit of
    #: it fires steadily at 5–25 Hz [ENG; Gutmann 1991]. Surface electrodes only: within a needle's
    #: small pickup a contraction's units overlap and are missed within their runs (EMGLAB N2001
    #: control contractions: 21 → 14 of 22 ≥ 90 % voluntary with it). 0 turns it off.
    dense_min_steady_units: int = 1
    #: A high-frequency train across a muscle's discharges is one unit's neuromyotonic discharge
    #: (Bednařík & Kadaňka 2001) and exempt from voluntary time only when its discharges fall on
    #: an effective number of units of at most this: template splitting of a waning, overlapping
    #: train spreads it over a few templates, while the merged discharges of many units firing
    #: together (cramp, strong voluntary effort) also chain into a "train" [ENG].
    train_max_units: float = 8.0
    #: ...on needles, whose units are sorted reliably (a needle train is one unit, at most split
    #: over a few templates): a steady contraction's sorted discharges on 4–8 effective units
    #: chained into a "train" once busy records keep room for rest units' templates (N2001C03BB54:
    #: 0.4 s of contraction released, 4 "fasciculations") [ENG]. With that eviction
    #: (`units.cluster_candidates`) and this limit, independent simulator, 3 seeds: voluntary time
    #: recall 0.962 → 0.978, doublet 0.639 → 0.643, multiplet 0.523 → 0.532, myokymic 0.893 → 0.890;
    #: voluntary_rest bipolar 0.679 → 0.826, cramp needle 0.727 → 0.800, cramp grid 0.362 → 0.397,
    #: cramp bipolar 0.783 → 0.679 (a unit timed at its other near-equal phase), voluntary_rest needle
    #: 0.895 → 0.810 and grid 0.333 → 0.238 (17 and 15 true discharges); units injected into busy real
    #: needle records 703 → 744 of 754 found; N2001 controls 21/22 as before.
    needle_train_max_units: float = 4.0
    #: ...and there the train's busiest unit must itself fire at a train's detected rate
    #: (`PatternParams.neuromyotonic_min_detected_rate_hz`): four or five contracting units at
    #: 10–40 Hz each, interleaved, chain into a 66-Hz run of interval CoV 0.5 (N2001C01BB51, 0.3 s
    #: of a steady contraction released as a "train", with 2 "fasciculations", once the first
    #: 50 ms of the record were read: `SpikeParams.edge_guard_ms`) [ENG]; no needle cell of the
    #: independent simulator changed. Not on surface electrodes: there a train's overlapping
    #: MUAPs are sorted too sparsely.
    needle_train_own_rate: bool = True
    #: On muscles with at least this many channels (HD grids) a train chained over all candidates
    #: is spontaneous only where its windows also repeat (`train_periodicity`): a strong grid
    #: contraction gives ~90 candidates/s on few templates, which chain like a train (independent
    #: simulator, voluntary_rest grid: 3 s of contraction kept as rest, 144 false discharges).
    #: Not on bipolar muscles, where a train's MUAPs do not always repeat clearly (emgkit's Isaacs
    #: bipolar lost most of its train time under the same rule) [ENG].
    grid_train_min_channels: int = 16
    #: A window whose filtered signal repeats at one period of a high-frequency train is spontaneous,
    #: however its discharges were sorted: on the channel with most power, the window's normalised
    #: autocorrelation reaches at least `train_periodicity` at a lag L *and* at 2L and 3L, for L
    #: a train's interval (`train_rate_hz`: 150–300 Hz, Bednařík & Kadaňka 2001, widened as the
    #: neuromyotonic limits are). One MUAP's own autocorrelation does not recur at 2L and 3L,
    #: and asynchronous units do not repeat. Measured on simulated 0.5-s windows (emgkit's and the
    #: independent simulator, needle and bipolar): ~600 voluntary and cramp windows at most 0.14;
    #: windows overlapping a neuromyotonic train above 0.3 in 31–81 % (a train split over many
    #: templates was taken for recruitment) [ENG]. Checked where a window would be voluntary, and
    #: where its candidates come at a train's detected rate (`PatternParams.neuromyotonic_*`): those
    #: periodic stretches let `patterns.find_trains` keep a train its sorted discharges break up.
    #: A window scores the best of itself and its three overlapping halves
    #: (`segment.window_periodicity`): a train's onset is one large transient that hides the
    #: repeats of a window it starts in. Only lags where the autocorrelation peaks count: slow
    #: content (a QRS, wander at the band's lower edge) falls through the shortest lags and scored
    #: high at L, 2L, 3L there. Independent simulator, 3 seeds, 0.5-s windows at least 80 % inside
    #: a train above 0.25: bipolar 81 % (whole windows) → 90 % (halves, peaks only), grid 85 → 86 %;
    #: voluntary and cramp windows at most 0.09; rest windows of dense fasciculation 0.6 % (2.4 %
    #: with halves but without the peak rule) [ENG]. Contraction windows are never joined or
    #: padded across a periodic window.
    train_periodicity: float = 0.25
    train_rate_hz: tuple = (100.0, 350.0)
    #: Windows whose power is at least this many times the muscle's quiet windows (the
    #: `train_test_quiet_percentile` of its windows' power, never below σ²) are tested for
    #: periodicity too: a surface train's overlapping MUAPs (10–30 ms at 150–300 Hz) sum to a wave
    #: that can stay under the candidate threshold while it raises the power several-fold. Not the
    #: median window: on a surface muscle near the heart most windows hold a QRS (independent
    #: simulator: quiet windows at 1.1–1.3 σ², the median 2–4 σ², a small train's windows 2.6 σ²).
    #: On surface muscles the steady power counts too (over electrodes, the most
    #: power in an electrode's quietest quarter of the window: a train fills all four quarters, a
    #: lone MUAP one), against its own quiet level: a unit on a few of a grid's 64 electrodes
    #: barely moves their mean (independent simulator, hyperexcitable grid seed 1, a 30-µV unit's
    #: trains: F1 0.49 → 0.81; grids pooled 0.786 → 0.82); on bipolar muscles too, where QRS
    #: windows raise the quiet level of the whole-window power (neuromyotonia bipolar seed 1: a
    #: waning 30-µV vastus train's windows at 2.6–2.9 σ² were never tested; bipolar pooled 0.831
    #: → 0.833, neuromyotonic events 0.921 → 0.925). The loudest electrode's whole-window
    #: power found a little more (seed 1: 0.86) but flagged a third of a rest grid hour's windows,
    #: each then read and filtered again (+2 s per hour). Windows beside a periodic window are
    #: tested as well, until no new one is periodic (a train's MUAPs wane). On a
    #: needle one large MUAP makes a window loud, so a needle window also needs candidates at
    #: `train_test_min_rate_hz` or more (a train's spikes cross the threshold; testing every loud
    #: needle window made "segments" of a 10-min rest record 0.55 s instead of 0.004 s) [ENG].
    train_test_power_ratio: float = 1.5
    #: A tested window's periodicity is also measured on its electrode of most steady power (the
    #: quietest quarter's), not only on its loudest: on a grid another unit's discharge can make
    #: the loudest electrode while a small train fills the window on electrodes of its own
    #: (independent simulator, hyperexcitable grid seed 1: a 29-µV unit's 0.9-s train beside a
    #: 97-µV doublet and a myokymic burst was not found periodic). With the train then read on
    #: the electrode that repeats best at its interval where that reads more of it than the loudest
    #: (`detect._train_rows`), 3 seeds × 60 s: hyperexcitable grid 0.867 → 0.905, grids pooled
    #: 0.904 → 0.917, neuromyotonic events 0.938 → 0.941, no cell lower; emgkit's Isaacs grid 0.568 →
    #: 0.628 [ENG].
    train_test_steady_channel: bool = True
    train_test_quiet_percentile: float = 25.0
    train_test_min_rate_hz: float = 10.0
    #: Neighbouring periodic windows whose intervals differ by more than this factor are two
    #: trains (of two units, each read from its own electrode), not one: one train's rate wanes
    #: gradually, by up to ~30 % over 0.5–2 s (Bednařík & Kadaňka 2001) [ENG].
    train_interval_step: float = 1.2
    #: A window beside a periodic one is periodic too where it repeats at its neighbour's interval
    #: (within `train_interval_step`) at least this much (`segment.continued_windows`), over
    #: itself, its halves or its quarters: a train's onset and end leave most of their window
    #: silent or hold its largest transient, and were taken for a contraction's (independent
    #: simulator, neuromyotonia bipolar seed 1: a 131-µV unit's 1.8-s train lost its first and last
    #: 0.25–0.6 s to "voluntary"; 798 true rest discharges over the bipolar neuromyotonia and
    #: hyperexcitable records were found but set aside so). Tested at one known interval, a
    #: lower bar than `train_periodicity` (every interval of a rate range) holds: voluntary and
    #: cramp windows scored at most 0.14 over all intervals [ENG]. Independent simulator, 3 seeds
    #: × 60 s, with `UnitParams.train_extend_floor_sd`: hyperexcitable bipolar 0.907 → 0.913 (rest
    #: wrongly excluded 2.3 → 2.0 %), neuromyotonia bipolar 0.882 (doublet events 0.33 → 0.42, rest
    #: wrongly excluded 1.0 → 0.6 %), neuromyotonia grid 0.925 → 0.926; emgkit's Isaacs bipolar
    #: seeds 0–2 0.663 / 0.737 / 0.826 → 0.663 / 0.750 / 0.822. Surface electrodes only: a
    #: needle's trains are sorted, and there it moved emgkit's Isaacs needle seed 2 0.849 → 0.843
    #: and no independent needle cell. 1 or more turns it off.
    train_continuation_periodicity: float = 0.15
    #: The stretch of a train read from the signal (`detect._train_rows`: one unit's discharges
    #: chained at a train's rate inside a periodic span) leaves any voluntary segment: one unit's
    #: train is spontaneous however dense its windows looked [ENG]. Independent simulator, 3 seeds ×
    #: 60 s: neuromyotonia bipolar 0.882 → 0.885, hyperexcitable bipolar 0.913 → 0.915 (its
    #: multiplet events 0.19 → 0.15), hyperexcitable grid 0.949 → 0.953, voluntary_rest and cramp
    #: bipolar and grid unchanged; emgkit's Isaacs grid seed 0 0.893 → 0.898, Isaacs bipolar seed 2
    #: 0.822 → 0.824, voluntary bipolar and grid unchanged.
    read_trains_spontaneous: bool = True
    #: A window is spontaneous activity, not an interference pattern, when at least this share of
    #: its sorted discharges are of units firing faster than voluntary rates (the unit's running
    #: median interval below 1 / `PatternParams.voluntary_rate_hz`[1]): voluntary units
    #: fire at 5–25 Hz (textbook), neuromyotonic trains at 150–300 Hz (Bednařík & Kadaňka 2001) and
    #: myokymic bursts at up to 60 Hz (Gutmann 1991), however many templates a train is split over.
    spontaneous_min_fast_share: float = 0.5
    #: A unit's firing rate around a discharge is the median of this many of its neighbouring
    #: intervals (a missed or extra discharge does not change it).
    rate_intervals: int = 5
    #: ...or (a weak contraction of few units) at least `voluntary_min_units` units fire
    #: tonically — at voluntary rates with no silence longer than `tonic_max_missed` missed
    #: discharges — over at least `tonic_min_cover` of the window.
    #: Voluntary units fire continuously and regularly (CoV 0.1–0.25, textbook); a myokymic unit
    #: falls silent between bursts (Gutmann 1991) for several of its intervals [ENG].
    tonic_max_missed: int = 1
    tonic_min_cover: float = 0.6
    #: ...while the window's discharges spread over an effective number of units of at least this
    #: (two units sharing them 1:2 give 1.8; one unit with a stray neighbour stays near 1).
    tonic_min_effective_units: float = 1.5
    #: A window whose power is `interference_power_ratio` above rest at `interference_min_rate_hz`
    #: candidates is an interference pattern too dense to sort when its sorted discharges spread
    #: over `tonic_min_effective_units`, or fewer than this share of its candidates are sorted:
    #: one myokymic unit's burst of large MUAPs (9–15 Hz, its other phases candidates too) sorts
    #: ~half of them, all to itself. Such a window beside a contraction still joins it (a cramp
    #: begins with one unit firing fast). Independent simulator, 3 seeds: myokymia bipolar 0.869 →
    #: 0.892 (rest wrongly excluded 5.8 → 3.6 %), every other cell and emgkit's simulator
    #: unchanged [ENG].
    unsorted_max_sorted_share: float = 0.25
    #: Movement artifacts and electrode pops are large, fast excursions of the raw signal's slow
    #: content (its mean over `slow_step_s`): movement artifact energy lies at 1–20 Hz (De Luca et
    #: al., J Biomech 2010;43:1573), a pop is a step. Baseline wander (respiration, electrode
    #: drift, 0.05–1 Hz, up to ~150 µV on the skin) is slower, and the band-pass removes it from
    #: the filtered signal anyway: the slow content is first high-passed at `wander_max_hz`
    #: (zero-phase Butterworth), and what is left must exceed `artifact_min_uv` and
    #: `artifact_noise_factor` × σ. MUAPs are near zero-mean, so they do not reach it.
    slow_step_s: float = 0.05
    wander_max_hz: float = 1.0
    artifact_min_uv: float = 100.0
    artifact_noise_factor: float = 10.0
    #: An artifact's stretch extends while its excursion stays above this fraction of that limit
    #: (hysteresis: a movement's rise and fall are smaller than its peak but still ring through
    #: the band-pass and were found as discharges at its ends) [ENG]; 1 disables.
    artifact_release: float = 0.25
    #: A heartbeat's QRS complex (≤ 0.12 s, textbook ECG) is a large, fast excursion too: excursions
    #: no longer than this that recur at a heart rhythm (`PatternParams.ecg_rate_hz`, see
    #: `patterns.ecg_beats`) are the ECG, whose discharges are labelled artifact one by one, not
    #: artifact time.
    qrs_max_s: float = 0.12
    #: Surface electrodes: step (ms) of the power series (median over a grid's electrodes) in
    #: which heartbeats are sought (`patterns.qrs_common_power`; a QRS lasts 60–120 ms).
    common_power_step_ms: float = 10.0
    #: Stretches flagged as artifact are widened by this much (s) on each side (the filtered signal
    #: rings around a step).
    artifact_pad_s: float = 0.1
    #: Neighbouring excluded windows closer than this (s) are joined.
    join_gap_s: float = 0.5
    #: Voluntary and cramp stretches are widened by this much (s) on each side: at the onset and end
    #: of a contraction single units fire at 5–8 Hz before and after recruitment fills the windows
    #: (orderly recruitment, Henneman; onset firing rates, De Luca & Hostage 2010) [ENG].
    voluntary_pad_s: float = 0.25
    #: Following a cramp's units outward (recruitment and derecruitment, see `voluntary_pad_s`),
    #: one interval at each end may be up to this many times the longest voluntary interval
    #: (1 / `voluntary_rate_hz`[0]) where at least three discharges beyond it fire steadily at
    #: voluntary rates: a cramp's units fire irregularly (Minetto et al. 2009), and its onset's and
    #: end's discharges were left at rest as "myokymic bursts" [ENG]. Independent simulator, 3 seeds
    #: × 60 s: cramp grid rest discharges 0.678 → 0.708; emgkit's simulator: cramp needle 0.782 →
    #: 0.822; no other case changed. For every contraction (voluntary too) it gained more there
    #: (cramp needle 0.80 → 0.94: those cramps are called voluntary) but took myokymic bursts beside
    #: wrongly found contractions out of the rest time on emgkit's simulator (Isaacs bipolar rest
    #: wrongly excluded 22 → 27 %). 0: never.
    recruitment_gap_factor: float = 2.0
    #: A discharge at rest that no unit seen at rest explains, within `recruitment_margin_s` of a
    #: voluntary or cramp stretch, with at least `recruitment_min_neighbours` other candidates
    #: within ± `recruitment_gap_s`, is part of that contraction's recruitment or derecruitment,
    #: not a fasciculation (an isolated discharge): a ramp's first units fire at ≥ 4 Hz
    #: (`voluntary_rate_hz`) before the 0.5-s windows are dense enough to be recognised [ENG].
    #: Three neighbours, not two: a spontaneous doublet or triplet is crowded by its own
    #: discharges. Half a second, not one: at 1 s, simulated fasciculations injected into a real
    #: bipolar record between voluntary bursts were lost (fasciculation recall 8/15 → 6/15).
    recruitment_margin_s: float = 0.5
    recruitment_gap_s: float = 0.25
    recruitment_min_neighbours: int = 3
    #: SPiQE discards surface data whose noise exceeds 100 µV (Bashford 2019).
    max_noise_uv_surface: float = 100.0
    max_noise_uv_needle: float = 100.0
    #: A channel whose robust σ is below this (µV) is flat.
    flat_uv: float = 0.05

    def validate(self):
        _range("segments.recruitment_margin_s", 0.0, 60.0, self.recruitment_margin_s)
        _range("segments.unsorted_max_sorted_share", 0.0, 1.0, self.unsorted_max_sorted_share)
        _range("segments.train_periodicity", 0.0, 1.0, self.train_periodicity)
        _range("segments.needle_train_max_units", 1.0, 1000.0, self.needle_train_max_units)
        _range("segments.grid_train_min_channels", 1, 1 << 20, self.grid_train_min_channels)
        _range("segments.train_test_power_ratio", 0.0, 1e6, self.train_test_power_ratio)
        _range("segments.train_test_quiet_percentile", 0.0, 100.0, self.train_test_quiet_percentile)
        _range("segments.train_interval_step", 1.0, 1e3, self.train_interval_step)
        _range("segments.train_continuation_periodicity", -1.0, 10.0, self.train_continuation_periodicity)
        _range("segments.dense_min_steady_units", 0, 1000, self.dense_min_steady_units)
        _range("segments.train_test_min_rate_hz", 0.0, 1e6, self.train_test_min_rate_hz)
        if not (0 < self.train_rate_hz[0] < self.train_rate_hz[1]):
            raise ParameterError(f"segments.train_rate_hz must be (low, high) with 0 < low < high; got {self.train_rate_hz}")
        _range("segments.common_power_step_ms", 1.0, 100.0, self.common_power_step_ms)
        _range("segments.recruitment_gap_s", 0.0, 10.0, self.recruitment_gap_s)
        _range("segments.recruitment_gap_factor", 0.0, 100.0, self.recruitment_gap_factor)
        _range("segments.recruitment_min_neighbours", 0, 1000, self.recruitment_min_neighbours)


@dataclass(frozen=True)
class SummaryParams:
    """Per-muscle summary."""

    #: Confidence level of the Poisson interval of FP rates.
    confidence: float = 0.95
    #: Rest time (s) below which the summary warns the analysis may miss FPs: needle up to 90 s to
    #: see one FP (Mills 2011); HD surface ~120 s for P(≥5 FPs) ≈ 0.95 (Zhou et al. 2012).
    min_rest_s_needle: float = 90.0
    min_rest_s_surface: float = 120.0
    #: P(missing an FP) is reported as exp(−rate·T) for this reference FP rate (per minute): the
    #: chance that a muscle fasciculating at 1/min shows none in the rest time analysed
    #: (clinical-criteria.md, "How much recording is enough").
    reference_fp_rate_per_min: float = 1.0


@dataclass(frozen=True)
class DetectionParams:
    """All stages' parameters. ``DetectionParams()`` gives the documented defaults."""

    preprocess: PreprocessParams = field(default_factory=PreprocessParams)
    spikes: SpikeParams = field(default_factory=SpikeParams)
    units: UnitParams = field(default_factory=UnitParams)
    patterns: PatternParams = field(default_factory=PatternParams)
    segments: SegmentParams = field(default_factory=SegmentParams)
    summary: SummaryParams = field(default_factory=SummaryParams)

    def __post_init__(self):
        self.preprocess.validate()
        self.spikes.validate()
        self.units.validate()
        self.patterns.validate()
        self.segments.validate()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "DetectionParams":
        stages = {f.name: f.type for f in fields(cls)}
        kwargs = {}
        for stage, values in (data or {}).items():
            if stage not in stages:
                raise ParameterError(f"unknown parameter section [{stage}]; sections are {', '.join(stages)}")
            stage_cls = type(getattr(cls(), stage))
            known = {f.name for f in fields(stage_cls)}
            unknown = set(values) - known
            if unknown:
                raise ParameterError(
                    f"unknown parameter(s) in [{stage}]: {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
                )
            defaults = stage_cls()
            conv = {}
            for k, v in values.items():
                if isinstance(getattr(defaults, k), tuple) and isinstance(v, list):
                    v = _tuples(v)
                conv[k] = v
            kwargs[stage] = stage_cls(**conv)
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, path) -> "DetectionParams":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python < 3.11
            import tomli as tomllib
        from ..errors import file_error

        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            raise file_error(path, "parameter file not found", cls=ParameterError) from None
        except tomllib.TOMLDecodeError as exc:
            raise file_error(path, f"not valid TOML: {exc}", cls=ParameterError) from None
        try:
            return cls.from_dict(data)
        except ParameterError as exc:
            raise file_error(path, str(exc), cls=ParameterError) from None

    def replace(self, **stage_changes) -> "DetectionParams":
        """``params.replace(spikes={"threshold_sd": 6})`` → a new DetectionParams."""
        kwargs = {}
        for stage, changes in stage_changes.items():
            kwargs[stage] = dataclasses.replace(getattr(self, stage), **changes)
        return dataclasses.replace(self, **kwargs)
