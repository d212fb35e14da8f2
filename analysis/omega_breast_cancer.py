"""Lin 2026 Fig. 3 (Wisconsin breast cancer, 3 PCA components, mesh, hinge loss): training curves of
the Ω-projector gradient and the two-phase estimate, each a voltage-mode + current-mode (or free +
clamped) pair of tdsim runs per mini-batch.

    python analysis/omega_breast_cancer.py runs/omega_breast_cancer.toml [--store=PATH]

Runs the spec as `tdsim run` does into a Zarr store (default runs/out/omega_breast_cancer.zarr; a
complete store of the same spec is read back instead of retrained), then prints the final and best
test accuracies from the store and writes docs/omega_breast_cancer.png."""
import pathlib
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from tdsim.io.spec import read  # noqa: E402
from tdsim.runs.jobs import run_from_dict  # noqa: E402
from tdsim.runs.store import complete_store_of, open_run  # noqa: E402

LABEL = {"omega": "Ω projector (Alg. 2)", "two_phase": "two-phase (Alg. 1)"}


def main(spec_path, *opts, out="docs/omega_breast_cancer.png"):
    spec_path = pathlib.Path(spec_path)
    d = read(spec_path)
    run = run_from_dict(d, spec_path.parent, spec_path.stem)
    store = next((pathlib.Path(o[8:]) for o in opts if o.startswith("--store=")), run.output)
    net = run.config.protocol["network"]
    if not complete_store_of(store, d):
        run.run(store, progress=False)
    ds = open_run(store)
    ref = LogisticRegression(fit_intercept=False).fit(ds["X_train"].values, ds["Y_train"].values)
    best_linear = ref.score(ds["X_test"].values, ds["Y_test"].values)
    print(f"{net.name}: {net.E} edges; logistic regression without intercept (the best a linear map "
          f"through 0 does): test accuracy {best_linear:.3f}")
    print(f"# store {store}")
    variants = list(dict.fromkeys(str(v) for v in ds["variant"].values))
    fig, axes = plt.subplots(2, len(variants), figsize=(5.2 * len(variants), 6.4), squeeze=False, sharex=True)
    step = ds["step"].values
    walls = ds.attrs["stats"]["training_wall_s"]
    for k, (_, cfg) in enumerate(run.config.trainings):
        name, est = str(ds["variant"].values[k]), str(ds["estimator"].values[k])
        col = variants.index(name)
        acc, loss = ds["test_accuracy"].values[k], ds["train_loss"].values[k]
        print(f"[{name}] {est:9s}: final test accuracy {acc[-1]:.3f}, best {acc.max():.3f}, final train hinge "
              f"{loss[-1]:.4f} ({cfg.steps} steps of {cfg.batch}, {int(ds['tdsim_runs'].values[k])} tdsim runs, "
              f"{walls[k]:.1f} s)")
        axes[0, col].plot(step, loss, label=LABEL[est])
        axes[1, col].plot(step, acc, label=f"{LABEL[est]}: {acc[-1]:.1%}")
    for col, name in enumerate(variants):
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
    args = [a for a in sys.argv[1:] if not a.startswith("--out=")]
    outs = [a[6:] for a in sys.argv[1:] if a.startswith("--out=")]
    main(*args, **({"out": outs[0]} if outs else {}))
