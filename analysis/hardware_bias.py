"""Dillavou et al. App. E, rerun on the authors' measured drift tests: the update bias B of the
2+1-edge hardware for the Fig. 2B (exp1) and Fig. 2C (exp2) pairs, beside the paper's values, and
how much B moves with the choices App. E leaves open (fit window, point along the line).

    python analysis/hardware_bias.py      # prints the tables of docs/hardware.md (nothing written)
"""
import numpy as np

from tdsim.studies.dillavou_hardware import (EXPERIMENTS, app_e_bias, bias_from_rates, drift_rate,
                                             load_drift_test)

NOTEBOOK_B = {"exp1": (2.92, 4.40)}     # theoretical-model.nb, Example 1: B = {2.92, 4.4} (hard-coded)


def fmt(v, e=None):
    if e is None:
        return "(" + ", ".join(f"{x:+.3f}" for x in v) + ")"
    return "(" + ", ".join(f"{x:+.3f} ± {s:.3f}" for x, s in zip(v, e)) + ")"


def main():
    for exp, spec in EXPERIMENTS.items():
        Bp = np.array(spec["paper_B"])
        est = app_e_bias(exp)
        print(f"\n== {exp} ({spec['figure']}), central point [G1, G2] = {spec['centre']} V")
        print("task   file              t (s)   G at the point (V)   dG/dt (V/s)                   "
              "|v|     n.B_paper  ratio")
        for task, r in zip(("alpha", "beta"), est.rates):
            v = r.rate
            n = v / np.linalg.norm(v)
            print(f"{task:6s} {r.test:17s} {r.t:6.3f}  {fmt(r.G)}   {fmt(v, r.rate_err)}  "
                  f"{np.linalg.norm(v):6.3f}  {n @ Bp:6.3f}   {np.linalg.norm(v) / (n @ Bp):.3f}")
        dev = est.B - Bp
        print(f"B (central difference)  = {fmt(est.B, est.err)} V/s")
        print(f"B paper (App. E)        = {fmt(Bp)} V/s;  difference {fmt(dev)} V/s = "
              f"{100 * np.linalg.norm(dev) / np.linalg.norm(Bp):.1f}% of |B|; per component "
              + ", ".join(f"{100 * d / b:+.1f}%" for d, b in zip(dev, Bp)))
        if exp in NOTEBOOK_B:
            print(f"B notebook              = {fmt(NOTEBOOK_B[exp])} V/s")
        print("variants:")
        for hw in (2, 3):
            b = app_e_bias(exp, half_window=hw)
            print(f"  fit over {2 * hw + 1} samples       B = {fmt(b.B, b.err)}")
        for sa in (-1, 0, 1):
            for sb in (-1, 0, 1):
                if sa or sb:
                    b = app_e_bias(exp, shift={"alpha": sa, "beta": sb})
                    print(f"  point moved by (alpha {sa:+d}, beta {sb:+d}) samples  B = {fmt(b.B)}")
        # the other readings of the files, to show they are not it
        ra, rb = est.rates
        print(f"  gates swapped (GPLUS as G1)           B = {fmt(bias_from_rates([ra.rate, rb.rate])[::-1])}")
        tests = {t: load_drift_test(exp, k) for t, k in spec["tests"].items()}
        try:
            flipped = [drift_rate(tests[t], spec["centre"][::-1]).rate for t in ("alpha", "beta")]
            print(f"  central point read as [G2, G1]        B = {fmt(bias_from_rates(flipped))}")
        except ValueError as err:                # nearest sample is the starting state: no track there
            print(f"  central point read as [G2, G1]        no drift there ({err})")


if __name__ == "__main__":
    main()
