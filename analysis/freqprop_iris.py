"""Anisetti Fig. 2 (c, d): Iris trained by frequency propagation in the time domain. Runs the spec
through `tdsim run`'s path into a Zarr store (runs/out/<name>.zarr, or --store=; a complete store
of the same spec is read back instead of retrained), then prints the per-epoch RMS error and
accuracies from the store and writes docs/freqprop_iris.png (or --out).

    python analysis/freqprop_iris.py runs/freqprop_iris.toml [key=value ...]

key=value overrides protocol keys (TOML values), e.g. epochs=20 'nudge.waveform="abs_sin"'.
"""
import sys
import tomllib
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tdsim.io.spec import read  # noqa: E402
from tdsim.runs.jobs import run_from_dict  # noqa: E402
from tdsim.runs.store import complete_store_of, open_run  # noqa: E402
from tdsim.studies.freqprop_iris import IrisTrainer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main(argv):
    out, store = ROOT / "docs" / "freqprop_iris.png", None
    args = []
    for a in argv:
        if a.startswith("--out="):
            out = Path(a[6:])
        elif a.startswith("--store="):
            store = Path(a[8:])
        else:
            args.append(a)
    spec_path = Path(args[0] if args else ROOT / "runs" / "freqprop_iris.toml")
    d = read(spec_path)
    for kv in args[1:]:
        k, _, v = kv.partition("=")
        d.setdefault("parameters", {})[k] = tomllib.loads(f"x = {v}")["x"]
    run = run_from_dict(d, spec_path.parent, spec_path.stem)
    cfg = run.config
    if store is None and args[1:]:                  # overrides: a store of their own
        import hashlib
        tag = hashlib.sha256(" ".join(args[1:]).encode()).hexdigest()[:8]
        store = run.output.with_name(f"{run.output.stem}-{tag}.zarr")
    store = store or run.output
    tr = IrisTrainer(cfg)
    print(f"# Iris, frequency propagation: {cfg.nodes} nodes, {cfg.edges} edges, seed {cfg.seed}, "
          f"{cfg.nudge.waveform} nudge γ = {cfg.nudge.gamma:g} S at {cfg.nudge.frequency:g} Hz, α = {cfg.alpha:g}, "
          f"{cfg.options.integrator}; slowest ωτ at start {tau_range(tr):.3g}")
    if not complete_store_of(store, d):
        run.run(store, progress=False)
    ds = open_run(store)
    print(f"# store {store}")
    h = {k: ds[k].values for k in ("epoch", "rms_error", "train_acc", "test_acc", "test_acc_test_prototypes")}
    h["sample_errors"] = ds["sample_error"].values.reshape(len(h["epoch"]) - 1, -1)
    for ep in range(1, len(h["epoch"])):
        print(f"epoch {ep:4d}  rms error {h['rms_error'][ep]:.4g}  train acc {h['train_acc'][ep]:.3f}  "
              f"test acc {h['test_acc'][ep]:.3f} (test prototypes {h['test_acc_test_prototypes'][ep]:.3f})")
    sep0 = target_separation(tr)
    tr.theta = ds["theta_final"].values
    print(f"# class targets (train-set means): smallest distance between two {sep0:.4g} V untrained, "
          f"{target_separation(tr):.4g} V trained (the RMS error is measured against these moving targets)")
    print(f"final: train acc {h['train_acc'][-1]:.3f}, test acc {h['test_acc'][-1]:.3f} "
          f"(test prototypes, as the paper: {h['test_acc_test_prototypes'][-1]:.3f}); untrained test acc "
          f"{h['test_acc'][0]:.3f} ({h['test_acc_test_prototypes'][0]:.3f}); "
          f"best test acc {h['test_acc'].max():.3f}; slowest ωτ at end {tau_range(tr):.3g}; "
          f"wall {ds.attrs['stats']['wall_s']:.0f} s")
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    E = h["sample_errors"]
    ep = np.repeat(np.arange(1, E.shape[0] + 1), E.shape[1]) + np.tile(np.linspace(-0.5, 0.5, E.shape[1]), E.shape[0])
    ax[0].semilogy(ep, E.ravel(), ".", ms=1.5, color="C0", alpha=0.4, label="per example")
    ax[0].semilogy(h["epoch"][1:], h["rms_error"][1:], "r-", label="epoch mean")
    ax[0].set_xlabel("epoch")
    ax[0].set_ylabel("RMS error of the output pairs (V)")
    ax[0].legend()
    ax[1].plot(h["epoch"], h["test_acc"], "C0-", label="test (train-set prototypes)")
    ax[1].plot(h["epoch"], h["test_acc_test_prototypes"], "C2--", label="test (test-set prototypes, paper)")
    ax[1].plot(h["epoch"], h["train_acc"], "C1:", label="train")
    ax[1].set_ylim(0, 1.02)
    ax[1].axhline(1 / 3, color="gray", lw=0.5)
    ax[1].set_xlabel("epoch")
    ax[1].set_ylabel("accuracy")
    ax[1].legend(loc="lower right")
    net = f"{cfg.edges} edges" + (f", {cfg.diodes} of them fixed diodes" if cfg.diodes else "")
    fig.suptitle(f"Iris by frequency propagation ({net}; {cfg.nudge.waveform} nudge, full-RC time domain)")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


def target_separation(tr) -> float:
    """The smallest distance between two class targets (train-set class means), V."""
    T = tr.targets(tr.Xtr, tr.ytr)
    return float(min(np.linalg.norm(T[i] - T[j]) for i in range(3) for j in range(i + 1, 3)))


def tau_range(tr) -> float:
    """ω × the slowest relaxation time of the network at the current conductances (Conductance
    edges only: diode edges, if any, are left out, so with diodes this is an upper bound)."""
    c = tr.ev.comp
    N = c.N
    L = np.zeros((N, N))
    lin = tr.ev.trainable
    for a, b, k in zip(c.ea[lin], c.eb[lin], tr.theta[lin]):
        L[a, a] += k
        L[b, b] += k
        L[a, b] -= k
        L[b, a] -= k
    G = L[1:, 1:]
    Cn = c.cap[0, 1:]
    lam = np.linalg.eigvalsh(G / np.sqrt(np.outer(Cn, Cn)))[0]
    return 2 * np.pi * tr.cfg.nudge.frequency / lam


if __name__ == "__main__":
    main(sys.argv[1:])
