"""What the lock-in readout costs: one frequency-propagation evaluation of the Iris network
(40 nodes, 239 edges, full RC, Rosenbrock) with the engine recording `samples` points a period
(steps land on them; the lock-in is a numpy reduction over the recorded samples) against the same
AC segment integrated without recording (what an in-loop accumulator would integrate). Prints
ratios and memory; never fails.

    python benchmarks/freqprop_lockin.py
"""
import time
import tracemalloc

import numpy as np

from tdsim.rules.freqprop import FreqProp, lockin_sin
from tdsim.studies.freqprop_iris import IrisConfig, IrisTrainer
from tdsim.simulation.simulate import simulate


def timed(f, n=20):
    f()
    t0 = time.perf_counter()
    for _ in range(n):
        r = f()
    return (time.perf_counter() - t0) / n, r


def main():
    for samples in (20, 64, 256):
        cfg = IrisConfig(nudge=FreqProp(1.0, 1.0, "sin", periods=5, settle=1, samples=samples))
        tr = IrisTrainer(cfg)
        ev = tr.ev
        x, y = tr.Xtr[0], tr.targets(tr.Xtr, tr.ytr)[tr.ytr[0]]
        inputs, labels = tr.inputs(x), dict(zip(ev.names, y))
        V0 = ev.free(tr.theta, inputs)
        tab = ev._table(inputs, cfg.nudge.gamma * (y - ev.readout(V0[0])))
        rec = ev.opt
        norec = type(rec)(**{**rec.__dict__, "record_interval": 0.0})
        t_rec, tr_rec = timed(lambda: simulate(ev.comp, tab, rec, theta0=tr.theta, V0=V0))
        t_no, tr_no = timed(lambda: simulate(ev.comp, tab, norec, theta0=tr.theta, V0=V0))
        Vs = tr_rec.V[:, 0, :]
        t_lock, _ = timed(lambda: lockin_sin(tr_rec.t, Vs, 2 * np.pi), n=200)
        t_eval, _ = timed(lambda: ev.evaluate(tr.theta, inputs, labels))
        tracemalloc.start()
        ev.evaluate(tr.theta, inputs, labels)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"samples/period {samples:4d}: steps recorded/unrecorded {tr_rec.stats['steps']}/{tr_no.stats['steps']}"
              f"  time ratio {t_rec / t_no:.2f}  lock-in / simulate {t_lock / t_rec:.3f}"
              f"  evaluation {t_eval * 1e3:.1f} ms  peak Python memory {peak / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
