"""McGinnis et al. 2026 Fig. 6: Coupled Learning of a random circuit (inputs red, outputs blue,
hidden grey) on 40 incommensurate Gaussian points, in the time domain, with vanishing edges
removed. Top: each conductance (grey) and the RMS √(2K/M) (black) for η = 0 and η = 1, and the
number of edges left. Bottom: the network before training and after each run (edges touching an
output green, the others blue; removed edges dotted).

    python analysis/mcginnis_random.py   # analysis/mcginnis_random.toml -> docs/mcginnis_fig6.png
"""
import pathlib
import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402

from tdsim.studies.mcginnis import gaussian_points, random_circuit, task_of, train  # noqa: E402
from tdsim.analysis.plots import save_small  # noqa: E402
from tdsim.io.spec import read  # noqa: E402
from tdsim.model.units import quantity  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
ROLE_COLOR = {"input": "tab:red", "output": "tab:blue", "hidden": "0.6"}


def setup(cfg):
    def make():
        return random_circuit(cfg["n_nodes"], cfg["n_in"], cfg["n_out"], cfg["p"], seed=cfg["seed"],
                              kappa=tuple(cfg["kappa"]), leak=cfg["leak"])
    rc = make()
    x = gaussian_points(cfg["points"], cfg["n_in"] + cfg["n_out"], seed=cfg["seed"])
    return make, rc, task_of(rc.inputs, rc.outputs, x)


def surviving(rc, run) -> nx.Graph:
    """The trained graph with the edges whose κ is still > 0 at the end of ``run``."""
    g = nx.Graph()
    g.add_nodes_from(rc.graph.nodes(data=True))
    g.add_edges_from(tuple(e.split("-")) for e, k in zip(run.edges, run.kappa[-1]) if k > 0)
    return g


def io_connected(rc, g) -> bool:
    return any(nx.has_path(g, a, b) for a in rc.inputs for b in rc.outputs)


def draw(ax, rc, g, pos, title):
    roles = nx.get_node_attributes(rc.graph, "role")
    for u, v in rc.graph.edges:
        col = "tab:green" if "output" in (roles[u], roles[v]) else "tab:blue"
        alive = g.has_edge(u, v)
        nx.draw_networkx_edges(rc.graph, pos, [(u, v)], ax=ax, edge_color=col if alive else "0.8",
                               style="solid" if alive else "dotted", width=2 if alive else 1)
    nx.draw_networkx_nodes(rc.graph, pos, ax=ax, node_size=160,
                           node_color=[ROLE_COLOR[roles[n]] for n in rc.graph])
    nx.draw_networkx_labels(rc.graph, pos, ax=ax, font_size=6, font_color="w")
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def main(spec=ROOT / "analysis" / "mcginnis_random.toml", out=ROOT / "docs" / "mcginnis_fig6.png"):
    cfg = read(spec)
    make, rc, task = setup(cfg)
    t_h = quantity(cfg["t_h"], "time", "t_h")
    print(f"graph: {rc.graph.number_of_nodes()} nodes ({len(rc.inputs)} inputs, {len(rc.outputs)} outputs), "
          f"{rc.graph.number_of_edges()} edges; {cfg['points']} points; T = {cfg['passes'] * cfg['points'] * t_h:g} s")
    fig, axes = plt.subplots(2, 3, figsize=(12, 7.4))
    pos = nx.spring_layout(rc.graph, seed=cfg["seed"])
    draw(axes[1, 0], rc, rc.graph, pos, "before training (inputs red, outputs blue)")
    t0 = time.perf_counter()
    for j, rcfg in enumerate(cfg["runs"]):
        r = train(make().circuit, task, rcfg["eta"], symmetric=rcfg["symmetric"], A=cfg["A"], t_h=t_h,
                  passes=cfg["passes"])
        ax = axes[0, j]
        ax.plot(r.t, r.kappa, color="0.6", lw=0.7)
        ax.plot(r.t, r.rms, "k", lw=2, label="RMS κ = √(2K/M)")
        ax.set(xlabel="t (s)", ylabel="κ (S)", title=rcfg["label"])
        ax.legend(fontsize=8)
        alive = (r.kappa > 0).sum(1)
        axes[0, 2].step(r.t, alive, where="post", label=rcfg["label"])
        g = surviving(rc, r)
        draw(axes[1, j + 1], rc, g, pos, f"after {rcfg['label']}, t = {r.t[-1]:g} s")
        K = r.K
        gone = r.removal_times()
        tail = r.t >= r.t[-1] - 0.1 * r.t[-1]
        kdot = np.polyfit(r.t[tail], K[tail], 1)[0]
        print(f"{rcfg['label']:>24}: K(T)/K(0) = {K[-1] / K[0]:.6g}, max |K/K0 - 1| = {np.max(np.abs(K / K[0] - 1)):.2e}; "
              f"dK/dt over the last 10% = {kdot:.2e} S²/s; {len(gone)}/{len(r.edges)} edges removed; "
              f"input-output path left: {io_connected(rc, g)}" + (f"; stopped: {r.error}" if r.error else ""))
        roles = nx.get_node_attributes(rc.graph, "role")
        for e, t in gone.items():
            u, v = e.split("-")
            print(f"{'':>26}{e:>8} at {t:6.2f} s{'  (touches an output)' if 'output' in (roles[u], roles[v]) else ''}")
    axes[0, 2].set(xlabel="t (s)", ylabel="edges with κ > 0", title="edges left")
    axes[0, 2].legend(fontsize=8)
    fig.suptitle(f"Random circuit, batched CL on {cfg['points']} Gaussian points (McGinnis Fig. 6), "
                 f"at_zero = remove, t_h = {t_h * 1e3:g} ms", fontsize=10)
    fig.tight_layout()
    save_small(fig, out, dpi=80)
    print(f"wrote {out} ({time.perf_counter() - t0:.1f} s of runs)")


if __name__ == "__main__":
    main()
