"""Lin 2026 Fig. 3 (Wisconsin breast cancer, 3 PCA components, mesh, hinge loss): training curves of
the Ω-projector gradient and the two-phase estimate, each a voltage-mode + current-mode (or free +
clamped) pair of tdsim runs per mini-batch.

    PYTHONPATH=$PWD python analysis/omega_breast_cancer.py runs/omega_breast_cancer.toml

Writes docs/omega_breast_cancer.png and prints the final and best test accuracies."""
import dataclasses
import pathlib
import sys
import time
import tomllib

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from tdsim.omega_train import load_protocol, train  # noqa: E402

LABEL = {"omega": "Ω projector (Alg. 2)", "two_phase": "two-phase (Alg. 1)"}


def main(spec_path, out="docs/omega_breast_cancer.png"):
    spec_path = pathlib.Path(spec_path)
    spec = tomllib.loads(spec_path.read_text())
    proto = load_protocol(spec_path.parent / spec["protocol"])
    net, data = proto["network"], proto["data"]
    ref = LogisticRegression(fit_intercept=False).fit(data["X_train"], data["Y_train"])
    best_linear = ref.score(data["X_test"], data["Y_test"])
    print(f"{net.name}: {net.E} edges; logistic regression without intercept (the best a linear map "
          f"through 0 does): test accuracy {best_linear:.3f}")
    variants = spec.get("variants", [{"name": "all edges trained"}])
    fig, axes = plt.subplots(2, len(variants), figsize=(5.2 * len(variants), 6.4), squeeze=False, sharex=True)
    for col, var in enumerate(variants):
        var = dict(var)
        name = var.pop("name")
        for est in spec["estimators"]:
            cfg = dataclasses.replace(proto["training"], estimator=est, seed=spec.get("seed", 0), **var)
            t0 = time.time()
            h = train(net, data, cfg)
            acc = np.asarray(h.test_accuracy)
            print(f"[{name}] {est:9s}: final test accuracy {acc[-1]:.3f}, best {acc.max():.3f}, final train hinge "
                  f"{h.train_loss[-1]:.4f} ({cfg.steps} steps of {cfg.batch}, {h.runs} tdsim runs, "
                  f"{time.time() - t0:.1f} s)")
            axes[0, col].plot(h.step, h.train_loss, label=LABEL[est])
            axes[1, col].plot(h.step, acc, label=f"{LABEL[est]}: {acc[-1]:.1%}")
        axes[0, col].set_title(name)
        axes[0, col].set_ylabel("train hinge loss")
        axes[1, col].axhline(best_linear, color="k", ls=":", lw=1, label=f"best linear map {best_linear:.1%}")
        axes[1, col].set_ylabel("test accuracy")
        axes[1, col].set_xlabel("training step (batch of 16)")
        axes[1, col].set_ylim(0, 1)
        axes[0, col].legend()
        axes[1, col].legend(loc="lower right")
    fig.suptitle(f"Wisconsin breast cancer, 3 PCA components, {net.name} (Lin Fig. 3)")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print("wrote", out)


if __name__ == "__main__":
    main(*sys.argv[1:])
