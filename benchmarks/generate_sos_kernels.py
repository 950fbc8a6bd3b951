"""Regenerate the unrolled biquad kernels between the GENERATED markers of ``emgkit/detect/_kernels.py``.

Run ``python -m benchmarks.generate_sos_kernels``. Why generated: numba keeps
scalar locals in registers, so unrolled sections (independent recurrences the
CPU overlaps) and lanes (channels LLVM packs into SIMD registers) run 1.5-4x
faster than loops over small state arrays; numba's on-disk cache needs the code
in a real source file, hence text, not ``exec``.
"""
from __future__ import annotations

from pathlib import Path

KERNELS = Path(__file__).resolve().parents[1] / "emgkit" / "detect" / "_kernels.py"
BEGIN = "# --- BEGIN GENERATED biquad kernels (benchmarks/generate_sos_kernels.py) ---\n"
END = "# --- END GENERATED biquad kernels ---\n"

#: (sections per group, lanes): single-channel groups up to 6 sections, 4-channel groups up to 3.
SHAPES = [(s, 1) for s in range(1, 7)] + [(s, 4) for s in range(1, 4)]


def kernel_source(n_sections: int, n_lanes: int) -> str:
    S, L = n_sections, n_lanes
    out = ["@jit()", f"def _biquads_s{S}_l{L}(buf, m, sos, z, s):"]
    for k in range(S):
        out.append(f"    b0_{k}, b1_{k}, b2_{k} = sos[s + {k}, 0], sos[s + {k}, 1], sos[s + {k}, 2]")
        out.append(f"    a1_{k}, a2_{k} = sos[s + {k}, 4], sos[s + {k}, 5]")
        for lane in range(L):
            out.append(f"    p{k}_{lane}, q{k}_{lane} = z[s + {k}, {lane}, 0], z[s + {k}, {lane}, 1]")
    out.append("    for i in range(m):")
    for lane in range(L):
        out.append(f"        v{lane} = buf[i, {lane}]")
    for k in range(S):
        for lane in range(L):
            out.append(f"        y{lane} = b0_{k} * v{lane} + p{k}_{lane}")
        for lane in range(L):
            out.append(f"        p{k}_{lane} = b1_{k} * v{lane} - a1_{k} * y{lane} + q{k}_{lane}")
        for lane in range(L):
            out.append(f"        q{k}_{lane} = b2_{k} * v{lane} - a2_{k} * y{lane}")
        for lane in range(L):
            out.append(f"        v{lane} = y{lane}")
    for lane in range(L):
        out.append(f"        buf[i, {lane}] = v{lane}")
    for k in range(S):
        for lane in range(L):
            out.append(f"    z[s + {k}, {lane}, 0], z[s + {k}, {lane}, 1] = p{k}_{lane}, q{k}_{lane}")
    return "\n".join(out) + "\n"


def dispatch_source() -> str:
    out = [
        "@jit()",
        "def _apply_sos(buf, m, sos, z):",
        '    """Run every section of ``sos`` over buf[:m] (lanes = buf.shape[1], 1 or 4), state z (n_sec, lanes, 2)."""',
        "    n_sec = sos.shape[0]",
        "    s = 0",
        "    if buf.shape[1] == 4:",
        "        while n_sec - s > 0:",
        "            g = min(3, n_sec - s)",
    ]
    for S in (1, 2, 3):
        out.append(f"            {'if' if S == 1 else 'elif'} g == {S}:")
        out.append(f"                _biquads_s{S}_l4(buf, m, sos, z, s)")
    out += ["            s += g", "    else:", "        while n_sec - s > 0:",
            "            g = n_sec - s if n_sec - s <= 6 else 4"]
    for S in range(1, 7):
        out.append(f"            {'if' if S == 1 else 'elif'} g == {S}:")
        out.append(f"                _biquads_s{S}_l1(buf, m, sos, z, s)")
    out.append("            s += g")
    return "\n".join(out) + "\n"


def generated_block() -> str:
    parts = [kernel_source(s, lanes) for s, lanes in SHAPES] + [dispatch_source()]
    return BEGIN + "\n\n".join(parts) + END


def main() -> None:
    text = KERNELS.read_text()
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    KERNELS.write_text(head + generated_block() + tail)


if __name__ == "__main__":
    main()
