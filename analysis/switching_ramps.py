"""Switching ramps against instant switching on the default job (2+1 edges, Fig. 2B tasks,
τ = 20 ms, full RC, rodas4, to the limit cycle), with and without the measured bias: the
protocol's ``rise`` (docs/protocol-format.md) at 0, 100 ns and 1 µs.

    python analysis/switching_ramps.py      # prints the table of docs/results/switching-ramps.md
"""
import tempfile
import tomllib
from pathlib import Path

from tdsim import open_run
from tdsim.analysis.stats import summary
from tdsim.runs.jobs import run_from_dict
from tdsim.runs.runner import run_spec

ROOT = Path(__file__).resolve().parent.parent
RISES = (0.0, 100e-9, 1e-6)


def main():
    base = tomllib.loads((ROOT / "runs" / "two_plus_one.toml").read_text())
    print("| bias | rise | Ē (V²) | D (V) | D / D(rise = 0) − 1 |\n|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for bias in (True, False):
            d0 = None
            for rise in RISES:
                d = {**base, "parameters": {**base["parameters"], "rise": f"{rise} s"}}
                if not bias:
                    d["imperfections"] = {}
                path, _ = run_spec(run_from_dict(d, ROOT / "runs"), Path(tmp) / f"{bias}{rise}.zarr", progress=False)
                s = summary(open_run(path))
                assert s["converged"]
                d0 = s["D"] if d0 is None else d0
                print(f"| {'measured' if bias else 'none'} | {rise * 1e9:g} ns | {s['E_bar']:.4g} | {s['D']:.4g} | "
                      f"{s['D'] / d0 - 1:+.2%} |")


if __name__ == "__main__":
    main()
