"""Anisetti Fig. 2 (c, d): Iris trained by frequency propagation in the time domain. Prints the
per-epoch RMS error and accuracies, writes docs/freqprop_iris.png (or --out).

    PYTHONPATH=$PWD python analysis/freqprop_iris.py runs/freqprop_iris.toml [key=value ...]

key=value overrides protocol keys (TOML values), e.g. epochs=20 'nudge.waveform="abs_sin"'.
"""
import sys
import tomllib
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tdsim.freqprop_iris import IrisTrainer, load_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main(argv):
    out = ROOT / "docs" / "freqprop_iris.png"
    args = []
    for a in argv:
        if a.startswith("--out="):
            out = Path(a[6:])
        else:
            args.append(a)
    spec = args[0] if args else ROOT / "runs" / "freqprop_iris.toml"
    over = {}
    for kv in args[1:]:
        k, _, v = kv.partition("=")
        over[k] = tomllib.loads(f"x = {v}")["x"]
    cfg = load_config(spec, over)
    tr = IrisTrainer(cfg)
    taus = tau_range(tr)
    print(f"# Iris, frequency propagation: {cfg.nodes} nodes, {cfg.edges} edges, seed {cfg.seed}, "
          f"{cfg.nudge.waveform} nudge γ = {cfg.nudge.gamma:g} S at {cfg.nudge.frequency:g} Hz, α = {cfg.alpha:g}, "
          f"{cfg.options.integrator}; slowest ωτ at start {taus:.3g}")
    h = tr.train(log=print)
    print(f"final: train acc {h['train_acc'][-1]:.3f}, test acc {h['test_acc'][-1]:.3f} "
          f"(test prototypes, as the paper: {h['test_acc_test_prototypes'][-1]:.3f}); untrained test acc "
          f"{h['test_acc'][0]:.3f} ({h['test_acc_test_prototypes'][0]:.3f}); "
          f"best test acc {h['test_acc'].max():.3f}; slowest ωτ at end {tau_range(tr):.3g}; "
          f"wall {h['wall_s']:.0f} s")
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
    fig.suptitle(f"Iris by frequency propagation ({cfg.nudge.waveform} nudge, full-RC time domain)")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


def tau_range(tr) -> float:
    """ω × the slowest relaxation time of the network at the current conductances."""
    c = tr.ev.comp
    N = c.N
    L = np.zeros((N, N))
    for a, b, k in zip(c.ea, c.eb, tr.theta):
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
