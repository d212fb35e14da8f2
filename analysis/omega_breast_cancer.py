"""Lin 2026 Figs. 3 and 4 (Wisconsin breast cancer, 3 PCA components, 4x4 mesh, hinge loss): the
Ω-projector gradient against the two-phase estimate, each a voltage-mode + current-mode (or free +
clamped) pair of tdsim runs per mini-batch, for both readout signs.

    python analysis/omega_breast_cancer.py runs/omega_breast_cancer.toml [--store=PATH] [--grid=N]

Runs the spec as `tdsim run` does into a Zarr store (default runs/out/omega_breast_cancer.zarr; a
complete store of the same spec is read back instead of retrained), prints the accuracies and writes

- docs/omega_breast_cancer.png: training hinge loss (Fig. 3d) and test accuracy of both estimators,
  one column per variant (readout sign x output edges trained or fixed);
- docs/omega_breast_cancer_maps.png: Fig. 3c (test confusion matrices) and 3e (decision boundaries in
  the PC1-PC2 plane) of the protocol's readout with all edges trained;
- docs/omega_landscape.png: Fig. 4 (App. N), the full-batch training loss on the plane of each
  estimator's trajectory, both trajectories drawn (N x N tdsim inference runs per panel, N = 25)."""
import pathlib
import sys
import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from tdsim.io.spec import read  # noqa: E402
from tdsim.rules.omega import EdgeSimulator  # noqa: E402
from tdsim.runs.jobs import run_from_dict  # noqa: E402
from tdsim.runs.store import complete_store_of, open_run  # noqa: E402
from tdsim.studies.omega_train import landscape, landscape_plane, plane_coordinates, transfer_matrix  # noqa: E402

LABEL = {"omega": "Ω projector (Alg. 2)", "two_phase": "two-phase (Alg. 1)"}
COLOR = {"omega": "tab:red", "two_phase": "tab:blue"}      # Lin Fig. 4: red Ω, blue two-phase


def confusion(y, pred):
    """2x2 counts, rows true (malignant −1, benign +1), columns predicted."""
    return np.array([[np.sum((y == a) & (pred == b)) for b in (-1, 1)] for a in (-1, 1)])


def main(spec_path, *opts, out="docs/omega_breast_cancer.png"):
    spec_path = pathlib.Path(spec_path)
    d = read(spec_path)
    run = run_from_dict(d, spec_path.parent, spec_path.stem)
    store = next((pathlib.Path(o[8:]) for o in opts if o.startswith("--store=")), run.output)
    n_grid = next((int(o[7:]) for o in opts if o.startswith("--grid=")), 25)
    net = run.config.protocol["network"]
    if not complete_store_of(store, d):
        run.run(store, progress=False)
    ds = open_run(store)
    Xtr, Ytr = ds["X_train"].values, ds["Y_train"].values
    Xte, Yte = ds["X_test"].values, ds["Y_test"].values
    logreg = LogisticRegression(fit_intercept=False).fit(Xtr, Ytr).score(Xte, Yte)
    print(f"{net.name}: {net.E} edges; reference, not a bound: logistic regression without intercept "
          f"(fitted on the training set) scores {logreg:.3f} on the test set")
    print(f"# store {store}")
    variants = list(dict.fromkeys(str(v) for v in ds["variant"].values))
    trainings = run.config.trainings
    step = ds["step"].values
    walls = ds.attrs["stats"]["training_wall_s"]
    fig, axes = plt.subplots(2, len(variants), figsize=(4.4 * len(variants), 6.4), squeeze=False, sharex=True)
    for k, (_, cfg) in enumerate(trainings):
        name, est = str(ds["variant"].values[k]), str(ds["estimator"].values[k])
        col = variants.index(name)
        acc, loss = ds["test_accuracy"].values[k], ds["train_loss"].values[k]
        r_out = ds["theta_final"].values[k][net.outputs]
        print(f"[{name}] {est:9s}: test accuracy start {acc[0]:.3f}, final {acc[-1]:.3f}, best {acc.max():.3f}; "
              f"final train hinge {loss[-1]:.4f}; output-edge r {np.round(r_out, 3).tolist()} "
              f"({cfg.steps} steps of {cfg.batch}, {int(ds['tdsim_runs'].values[k])} tdsim runs, {walls[k]:.1f} s)")
        axes[0, col].plot(step, loss, color=COLOR[est], label=LABEL[est])
        axes[1, col].plot(step, acc, color=COLOR[est], label=f"{LABEL[est]}: {acc[-1]:.1%}")
    for col, name in enumerate(variants):
        axes[0, col].set_title(name, fontsize=9)
        axes[0, col].set_ylabel("train hinge loss")
        axes[1, col].axhline(logreg, color="k", ls=":", lw=1, label=f"logistic regression {logreg:.1%}")
        axes[1, col].axhline(0.5, color="0.6", lw=0.8)
        axes[1, col].set_ylabel("test accuracy")
        axes[1, col].set_xlabel("training step (batch of 16)")
        axes[1, col].set_ylim(0, 1)
        axes[0, col].legend(fontsize=8)
        axes[1, col].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"Wisconsin breast cancer, 3 PCA components, {net.name} (Lin Fig. 3d and accuracy)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print("wrote", out)

    # Fig. 3c/e: the protocol's readout, all edges trained (the first variant)
    main_k = [k for k in range(len(trainings)) if str(ds["variant"].values[k]) == variants[0]]
    sim = EdgeSimulator(net)
    fig, axes = plt.subplots(2, len(main_k), figsize=(4.6 * len(main_k), 8.4), squeeze=False)
    for c, k in enumerate(main_k):
        cfg, est = trainings[k][1], str(ds["estimator"].values[k])
        r = ds["theta_final"].values[k]
        w = np.asarray(cfg.readout) @ transfer_matrix(sim, r)         # f(x) = w · x (a linear classifier)
        pred = np.where(Xte @ w > 0, 1, -1)
        cm = confusion(Yte, pred)
        print(f"Fig. 3c [{est}] test confusion (rows true malignant, benign; columns predicted): {cm.tolist()}; "
              f"f(x) = {np.round(w, 4).tolist()} · x")
        ax = axes[0, c]
        ax.imshow(cm, cmap="Blues")
        for (i, j), v in np.ndenumerate(cm):
            ax.text(j, i, str(v), ha="center", va="center", color="k" if v < cm.max() / 2 else "w")
        ax.set_xticks([0, 1], ["malignant", "benign"])
        ax.set_yticks([0, 1], ["malignant", "benign"])
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{LABEL[est]}: {np.trace(cm) / cm.sum():.1%}")
        ax = axes[1, c]
        lim = np.abs(Xte[:, :2]).max() * 1.05
        g = np.linspace(-lim, lim, 200)
        G1, G2 = np.meshgrid(g, g)
        ax.contourf(G1, G2, np.sign(w[0] * G1 + w[1] * G2), levels=[-2, 0, 2], colors=["#f4c7c3", "#c6dbef"],
                    alpha=0.6)
        for y, m, lab in ((-1, "x", "malignant"), (1, "o", "benign")):
            sel = Yte == y
            ax.scatter(Xte[sel, 0], Xte[sel, 1], marker=m, s=18, c=np.where(pred[sel] == y, "k", "tab:orange"),
                       label=lab)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_xlabel("PC1")
        ax.set_ylabel("PC2")
        ax.set_title(f"decision boundary at PC3 = 0 ({LABEL[est]})", fontsize=9)
        ax.legend(fontsize=8, title="test set (orange: wrong)", title_fontsize=7)
    fig.suptitle(f"Lin Fig. 3c/e: {variants[0]} (shading: predicted class, red malignant, blue benign)")
    fig.tight_layout()
    maps = str(pathlib.Path(out).with_name(pathlib.Path(out).stem + "_maps.png"))
    fig.savefig(maps, dpi=110)
    print("wrote", maps)

    # Fig. 4 (App. N): each estimator's plane, both trajectories
    t0 = time.time()
    q = np.linspace(-1.5, 1.5, n_grid)
    traj = {str(ds["estimator"].values[k]): ds["theta"].values[k] for k in main_k}
    cfg = trainings[main_k[0]][1]
    fig, axes = plt.subplots(1, len(main_k), figsize=(5.2 * len(main_k), 4.6), squeeze=False)
    for c, est in enumerate(("two_phase", "omega")):                # Lin: (a) two-phase, (b) projector
        r0, dirs = landscape_plane(traj[est])
        S = landscape(sim, r0, dirs, Xtr, Ytr, cfg, q)
        ax = axes[0, c]
        cs = ax.contourf(q, q, S, levels=20, cmap="viridis")
        fig.colorbar(cs, ax=ax, label="full-batch train hinge loss")
        for e in ("omega", "two_phase"):
            p = plane_coordinates(traj[e], r0, dirs)
            ax.plot(p[:, 0], p[:, 1], "-", color=COLOR[e], lw=1.6, label=LABEL[e])
            ax.plot(p[-1, 0], p[-1, 1], "s", color=COLOR[e], ms=5)
        ax.plot(0, 0, "ko", ms=4)
        ax.set_xlim(-1.5, 1.5)
        ax.set_ylim(-1.5, 1.5)
        ax.set_xlabel("q₁")
        ax.set_ylabel("q₂")
        ax.set_title(f"({'ab'[c]}) plane of the {LABEL[est]} trajectory", fontsize=9)
        ax.legend(fontsize=8, loc="upper right")
        print(f"Fig. 4 ({'ab'[c]}) {est} plane: loss at start {S[n_grid // 2, n_grid // 2]:.4f}, "
              f"min on the grid {S.min():.4f}, max {S.max():.4f}")
    fig.suptitle(f"Lin Fig. 4 / App. N: {variants[0]}; start at (0, 0), ends marked ■ "
                 f"({n_grid}x{n_grid} runs per panel, {time.time() - t0:.0f} s)", fontsize=9)
    fig.tight_layout()
    land = str(pathlib.Path(out).with_name("omega_landscape.png"))
    fig.savefig(land, dpi=110)
    print("wrote", land)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--out=")]
    outs = [a[6:] for a in sys.argv[1:] if a.startswith("--out=")]
    main(*args, **({"out": outs[0]} if outs else {}))
