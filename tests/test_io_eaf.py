"""EMGlab .eaf annotations: real R00108 / N2001 files and malformed inputs."""
from __future__ import annotations

import numpy as np
import pytest

import emgkit
from emgkit.errors import EmgkitFileNotFoundError, FileFormatError
from emgkit.io.eaf import Annotations, Template, read_annotations

from conftest import shared_file


def test_r00108_firings_and_templates(shared_data):
    ann = read_annotations(shared_file(shared_data, "emglab-R001/R00108.eaf"))
    assert isinstance(ann, Annotations) and ann.meta["version"] == "0.01"
    f = ann.firings
    # PROVENANCE.md: 659 firings of 8 units (1..8), channel 1, t = 0.0045–9.982 s, min ISI 62–98 ms.
    assert list(f.columns) == ["time", "unit", "channel"]
    assert len(f) == 659 and ann.units == list(range(1, 9))
    assert f["time"].is_monotonic_increasing
    assert f["time"].iloc[0] == pytest.approx(0.00451) and f["time"].iloc[-1] == pytest.approx(9.982, abs=5e-4)
    assert (f["channel"] == 1).all()
    assert f["unit"].dtype.kind == "i" and f["time"].dtype == np.float64
    min_isi = min(np.diff(ann.times(u)).min() for u in ann.units)
    assert 0.060 <= min_isi <= 0.065
    assert sorted(ann.templates) == list(range(1, 9))
    for t in ann.templates.values():
        assert isinstance(t, Template)
        assert t.data_uv.shape == (405,) and t.index == 202 and t.rate == 10000.0 and t.channel == 1
    # First value of template 1 data is "0 -0 ... -1" adu; gain 500 adu/mV → 2 µV per adu.
    assert ann.templates[1].data_uv[7] == pytest.approx(-2.0)
    # Unit 7 is aligned 1.8 ms after its largest phase, units 3 and 8 0.4 ms before theirs, the rest on it.
    offsets = ann.peak_offsets()
    assert offsets[7] == pytest.approx(-0.0018) and offsets[3] == offsets[8] == pytest.approx(0.0004)
    assert all(offsets[u] == 0 for u in (1, 2, 4, 5, 6))


def test_r00108_templates_match_spike_triggered_average(shared_data):
    """Independent check of firing times, template alignment and the µV scale of signal and template."""
    rec = emgkit.read(shared_file(shared_data, "emglab-R001/R00108.hea"))
    ann = read_annotations(shared_file(shared_data, "emglab-R001/R00108.eaf"))
    x = rec.get_data()[0]
    for unit, t in ann.templates.items():
        starts = np.round(ann.times(unit) * rec.fs).astype(int) - t.index
        starts = starts[(starts >= 0) & (starts + t.data_uv.size <= x.size)]
        average = np.mean([x[s:s + t.data_uv.size] for s in starts], axis=0)
        # Superimposed other units blur the average: demand strong likeness, amplitude within 20 %.
        assert np.corrcoef(average, t.data_uv)[0, 1] > 0.9, unit
        assert np.ptp(average) == pytest.approx(np.ptp(t.data_uv), rel=0.2), unit


@pytest.mark.parametrize("name,n_firings,n_units", [("N2001A01BB01", 318, 17), ("N2001A01BB02", 264, 12),
                                                    ("N2001C01BB51", 453, 11), ("N2001C01BB55", 148, 4)])
def test_n2001_eaf(shared_data, name, n_firings, n_units):
    # Counts from emglab-N2001/PROVENANCE.md; templates are <var1> structs, 625 samples at 11718.75 Hz, µV.
    ann = read_annotations(shared_file(shared_data, f"emglab-N2001/{name}.eaf"))
    assert len(ann.firings) == n_firings and ann.meta["n_units"] == n_units
    assert len(ann.templates) == n_units
    for t in ann.templates.values():
        assert t.data_uv.shape == (625,) and t.rate == 11718.75
        assert 1 < np.ptp(t.data_uv) < 10_000                 # µV, not adu or V


def test_lazy_export_from_emgkit():
    assert emgkit.read_annotations is read_annotations


GOOD_HEAD = """<?xml version="1.0" encoding="ASCII"?>
<emglab_annotation_file xmlns="http://ece.wpi.edu/~ted">
<emglab_version>0.01</emglab_version>
"""


def _eaf(tmp_path, body: str, name="a.eaf"):
    path = tmp_path / name
    path.write_text(GOOD_HEAD + body + "\n</emglab_annotation_file>\n")
    return path


def test_generated_column_order_and_units(tmp_path):
    body = """<emglab_spike_header><chan></chan><time></time><unit></unit></emglab_spike_header>
<emglab_spike_events>
2 0.5 3
1 0.25 1
<!-- a comment inside -->
</emglab_spike_events>
<emglab_freeform><template class="struct" size="1 1"><I1>
<chan class="double" size="1 1">2</chan><unit class="double" size="1 1">3</unit>
<data class="double" size="3 1">10 -20 5</data><index class="double" size="1 1">1</index>
<rate class="double" size="1 1">5000</rate><gain class="double" size="1 1">10</gain>
<units class="char" size="1 2">V</units></I1></template></emglab_freeform>"""
    ann = read_annotations(_eaf(tmp_path, body))
    assert ann.firings.to_dict("list") == {"time": [0.25, 0.5], "unit": [1, 3], "channel": [1, 2]}
    t = ann.templates[3]
    np.testing.assert_allclose(t.data_uv, [1e6, -2e6, 5e5])
    assert (t.index, t.rate, t.channel) == (1, 5000.0, 2)
    # The template is aligned on its peak: firing times are already at the MUAP's peak.
    assert ann.peak_offsets() == {3: 0.0}
    ann.templates[3] = Template(np.array([10.0, -20.0, 5.0, 1.0]), 3, 5000.0, 2)   # aligned 2 samples after
    assert ann.peak_offsets() == {3: pytest.approx(-2 / 5000)}
    moved = ann.firings_at_peaks()
    assert moved.to_dict("list") == {"time": [0.25, pytest.approx(0.5 - 2 / 5000)], "unit": [1, 3], "channel": [1, 2]}
    assert ann.firings["time"].tolist() == [0.25, 0.5]   # the annotation itself is untouched


MALFORMED = [
    ("<emglab_spike_header><time></time><unit></unit><chan></chan></emglab_spike_header>", "no <emglab_spike_events>"),
    ("<emglab_spike_events>\n0.1 1 1\n0.2 x 1\n</emglab_spike_events>", "line 3 .* not numeric"),
    ("<emglab_spike_events>\n0.1 1\n</emglab_spike_events>", "has 2 values"),
    ("<emglab_spike_events>\n0.1 1.5 1\n</emglab_spike_events>", "unit 1.5 is not a positive integer"),
    ("<emglab_spike_events>\n-1 1 1\n</emglab_spike_events>", "time '-1'"),
    ("<emglab_spike_header><time></time><chan></chan></emglab_spike_header>"
     "<emglab_spike_events>\n0.1 1\n</emglab_spike_events>", "needs at least 'time' and 'unit'"),
    ("<emglab_spike_events>\n0.1 1 1\n</emglab_spike_events><emglab_freeform><template class=\"struct\" "
     "size=\"1 1\"><I1><unit class=\"double\" size=\"1 1\">1</unit><data class=\"double\" size=\"4 1\">1 2 3"
     "</data><rate class=\"double\" size=\"1 1\">1</rate></I1></template></emglab_freeform>", "declares size"),
    ("<emglab_spike_events>\n0.1 1 1\n</emglab_spike_events><emglab_freeform><template class=\"struct\" "
     "size=\"1 1\"><I1><unit class=\"double\" size=\"1 1\">1</unit><data class=\"double\" size=\"1 1\">1"
     "</data><rate class=\"double\" size=\"1 1\">1</rate><units class=\"char\" size=\"1 2\">kg</units>"
     "</I1></template></emglab_freeform>", "units 'kg'"),
]


@pytest.mark.parametrize("body,message", MALFORMED)
def test_malformed_eaf(tmp_path, body, message):
    with pytest.raises(FileFormatError, match=message) as info:
        read_annotations(_eaf(tmp_path, body, name="broken.eaf"))
    assert "broken.eaf" in str(info.value)


def test_not_an_eaf(tmp_path):
    p = tmp_path / "x.eaf"
    p.write_text("<html><body>hello</body></html>")
    with pytest.raises(FileFormatError, match=r"x\.eaf: no <emglab_annotation_file>"):
        read_annotations(p)
    p.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(FileFormatError, match=r"x\.eaf: binary content"):
        read_annotations(p)
    with pytest.raises(EmgkitFileNotFoundError, match="missing.eaf"):
        read_annotations(tmp_path / "missing.eaf")
