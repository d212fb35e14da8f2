"""Training edge networks with the Ω-projector gradient or the two-phase estimate (Lin §II E,
§III): an outer Python loop, one pair of tdsim runs per mini-batch (``tdsim.omega``), the step
r ← clip(r − lr m ⊙ g, r_min, r_max) (Eq. 27) with m the mask of unfrozen edges (each edge frozen
with probability p_freeze, Fig. 5). Tasks: hinge classification (App. M) and squared-error
regression (App. L); networks: a square mesh and nanowire deposits (App. K)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import networkx as nx
import numpy as np

from tdsim.errors import SpecError
from tdsim.io.spec import check_keys, fields_from_dict, read
from tdsim.rules.omega import EdgeNetwork, EdgeSimulator, hinge_loss, omega_gradient, squared_loss, two_phase_gradient

ESTIMATORS = ("omega", "two_phase")
LOSSES = ("squared", "hinge")


@dataclass
class TrainConfig:
    estimator: str = "omega"        # omega (Algorithm 2) | two_phase (Algorithm 1)
    loss: str = "squared"           # squared | hinge
    steps: int = 500
    batch: int = 16                 # samples per step (one segment each in the two runs)
    lr: float = 0.1                 # on the normalized estimates (two-phase: (i_C² − i_F²)/2β)
    beta: float = 0.1               # two-phase nudge (dimensionless: β ε added to the output sources)
    eta: float = 1.0                # Ω probe scale, S (the result does not depend on it)
    margin: float = 1.0             # hinge margin, V
    readout: list = field(default_factory=lambda: [1.0, -1.0])   # hinge score f = readout · ŷ (the sign is a
    # convention: the breast-cancer protocols use [-1, 1], whose untrained start is not anti-correlated)
    r_min: float = 0.1
    r_max: float = 10.0
    p_freeze: float = 0.0
    freeze_outputs: bool = False    # output (voltmeter) edges fixed: the two-phase limit is then ∇L/r_o
    seed: int = 0
    eval_every: int = 25

    def validate(self) -> "TrainConfig":
        if self.estimator not in ESTIMATORS:
            raise SpecError("estimator", f"unknown {self.estimator!r} ({', '.join(ESTIMATORS)})")
        if self.loss not in LOSSES:
            raise SpecError("loss", f"unknown {self.loss!r} ({', '.join(LOSSES)})")
        for key in ("steps", "batch", "eval_every"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise SpecError(key, f"must be a positive integer, got {v!r}")
        for key in ("lr", "beta", "eta", "r_min", "r_max", "margin"):
            v = getattr(self, key)
            if not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
                raise SpecError(key, f"must be a positive number, got {v!r}")
        if not self.r_min < self.r_max:
            raise SpecError("r_max", f"must exceed r_min ({self.r_min})")
        if not isinstance(self.freeze_outputs, bool):
            raise SpecError("freeze_outputs", f"must be true or false, got {self.freeze_outputs!r}")
        if not 0.0 <= self.p_freeze < 1.0:
            raise SpecError("p_freeze", f"must be in [0, 1), got {self.p_freeze!r}")
        return self

    @classmethod
    def from_dict(cls, d: dict, key: str = "training") -> "TrainConfig":
        """A TrainConfig from a ``[training]`` table, read as engine specs are (tdsim.io.spec:
        units, named unknown keys)."""
        return cls(**fields_from_dict(d, TRAINING_FIELDS, key)).validate()


# the [training] keys and their kinds (dimensions take a unit: margin = "0.1 V")
TRAINING_FIELDS = {"estimator": str, "loss": str, "steps": int, "batch": int, "lr": "dimensionless",
                   "beta": "dimensionless", "eta": "conductance", "margin": "voltage", "readout": list,
                   "r_min": "resistance", "r_max": "resistance", "p_freeze": "dimensionless",
                   "freeze_outputs": bool, "seed": int, "eval_every": int}


@dataclass
class History:
    step: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    test_loss: list = field(default_factory=list)
    test_accuracy: list = field(default_factory=list)      # hinge tasks only (NaN otherwise)
    r: list = field(default_factory=list)                  # r at each evaluation
    mask: np.ndarray = None                                # True where the edge learns
    runs: int = 0                                          # tdsim runs made

    def as_dict(self):
        return {k: (np.asarray(v) if isinstance(v, list) else v) for k, v in asdict(self).items()}


def evaluate(sim: EdgeSimulator, r, X, Y, cfg: TrainConfig):
    """Mean loss and accuracy (sign of the hinge score; NaN for regression) on (X, Y): one run."""
    yhat = sim.infer(r, X)
    if cfg.loss == "hinge":
        loss, _ = hinge_loss(yhat, Y, cfg.readout, cfg.margin)
        acc = float(np.mean(np.sign(yhat @ np.asarray(cfg.readout)) == np.asarray(Y).reshape(-1)))
        return float(np.mean(loss)), acc
    return float(np.mean(squared_loss(yhat, Y)[0])), float("nan")


def train(net: EdgeNetwork, data: dict, cfg: TrainConfig, r0=None, sim: EdgeSimulator | None = None) -> History:
    """Train from r0 (default: all 1 Ω, Lin's homogeneous start) on data = {X_train, Y_train,
    X_test, Y_test}; evaluate every ``eval_every`` steps and at the end."""
    cfg.validate()
    sim = sim or EdgeSimulator(net)
    r = np.ones(net.E) if r0 is None else np.array(r0, dtype=np.float64)
    rng = np.random.default_rng([cfg.seed, 0])
    mask = np.random.default_rng([cfg.seed, 1]).random(net.E) >= cfg.p_freeze
    if cfg.freeze_outputs:
        mask[net.outputs] = False
    Xtr, Ytr = np.asarray(data["X_train"]), np.asarray(data["Y_train"])
    if cfg.loss == "hinge" and len(cfg.readout) != len(net.outputs):
        raise SpecError("readout", f"{len(cfg.readout)} weights for {len(net.outputs)} output edges")
    hist = History(mask=mask)
    runs0 = sim.runs

    def record(step):
        hist.step.append(step)
        hist.train_loss.append(evaluate(sim, r, Xtr, Ytr, cfg)[0])
        tl, acc = evaluate(sim, r, data["X_test"], data["Y_test"], cfg)
        hist.test_loss.append(tl)
        hist.test_accuracy.append(acc)
        hist.r.append(r.copy())

    record(0)
    for step in range(1, cfg.steps + 1):
        idx = rng.choice(len(Xtr), size=min(cfg.batch, len(Xtr)), replace=False)
        X, Y = Xtr[idx], Ytr[idx]
        if cfg.loss == "hinge":
            error = lambda yh: hinge_loss(yh, Y, cfg.readout, cfg.margin)[1]    # noqa: E731
        else:
            error = lambda yh: squared_loss(yh, Y)[1]                           # noqa: E731
        if cfg.estimator == "omega":
            g, _ = omega_gradient(sim, r, X, error, cfg.eta)
        else:
            g, _ = two_phase_gradient(sim, r, X, error, cfg.beta)
        r = np.clip(r - cfg.lr * np.where(mask, g, 0.0), cfg.r_min, cfg.r_max)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            record(step)
    hist.runs = sim.runs - runs0
    return hist


# ---- networks -----------------------------------------------------------------------------------

def mesh(rows: int, cols: int, inputs, outputs, gamma: float = 1.0, capacitance: float = 1e-6) -> EdgeNetwork:
    """A rows × cols square mesh (node k = row·cols + col, ground node 0); edges oriented from the
    lower node index, horizontal ones first. ``inputs`` / ``outputs``: edges as node pairs
    ((r0, c0), (r1, c1)) or edge indices."""
    if rows < 2 or cols < 2:
        raise SpecError("mesh", f"needs at least 2 x 2 nodes, got {rows} x {cols}")
    edges = [(r * cols + c, r * cols + c + 1) for r in range(rows) for c in range(cols - 1)]
    edges += [(r * cols + c, (r + 1) * cols + c) for r in range(rows - 1) for c in range(cols)]
    index = {e: k for k, e in enumerate(edges)}

    def pick(sel, key):
        out = []
        for s in sel:
            if isinstance(s, (int, np.integer)):
                out.append(int(s))
                continue
            (r0, c0), (r1, c1) = s
            e = tuple(sorted((r0 * cols + c0, r1 * cols + c1)))
            if e not in index:
                raise SpecError(key, f"{s!r} is not an edge of the {rows} x {cols} mesh")
            out.append(index[e])
        return out
    pos = {k: (k % cols, -(k // cols)) for k in range(rows * cols)}
    return EdgeNetwork(rows * cols, edges, pick(inputs, "inputs"), pick(outputs, "outputs"), 0, capacitance,
                       gamma, f"mesh_{rows}x{cols}", pos)


def nanowire(n_wires: int, length: float, seed: int, n_in: int = 2, n_out: int = 2, gamma: float = 1.0,
             capacitance: float = 1e-6) -> EdgeNetwork:
    """Lin App. K: n_wires segments of ``length`` dropped in the unit square (uniform centres and
    angles); a wire is a node, a crossing an edge. The largest connected cluster is kept; the
    input and output edges are drawn from the largest connected component of the edges left out of
    a minimum spanning tree (junction distance as weight)."""
    rng = np.random.default_rng(seed)
    c = rng.random((n_wires, 2))
    ang = rng.uniform(0, 2 * np.pi, n_wires)
    d = 0.5 * length * np.stack([np.cos(ang), np.sin(ang)], axis=1)
    p1, p2 = c - d, c + d
    g = nx.Graph()
    for i in range(n_wires):
        for j in range(i + 1, n_wires):
            t = _crossing(p1[i], p2[i], p1[j], p2[j])
            if t is not None:
                g.add_edge(i, j, weight=float(np.linalg.norm(p1[i] + t * (p2[i] - p1[i]) - c[i])) + 1e-9)
    if g.number_of_edges() == 0:
        raise SpecError("nanowire", "no two wires cross: raise n_wires or length")
    g = g.subgraph(max(nx.connected_components(g), key=len)).copy()
    tree = nx.minimum_spanning_tree(g)
    rest = nx.Graph([e for e in g.edges if not tree.has_edge(*e)])
    if rest.number_of_edges() < n_in + n_out:
        raise SpecError("nanowire", "too few loops for the input and output edges: raise n_wires")
    comp = rest.subgraph(max(nx.connected_components(rest), key=len))
    label = {n: k for k, n in enumerate(sorted(g.nodes))}
    edges = sorted(tuple(sorted((label[a], label[b]))) for a, b in g.edges)
    cand = sorted(tuple(sorted((label[a], label[b]))) for a, b in comp.edges)
    if len(cand) < n_in + n_out:
        raise SpecError("nanowire", "the largest loop cluster has too few edges: raise n_wires")
    pick = rng.choice(len(cand), n_in + n_out, replace=False)
    index = {e: k for k, e in enumerate(edges)}
    sel = [index[cand[k]] for k in pick]
    pos = {label[n]: tuple(c[n]) for n in g.nodes}
    return EdgeNetwork(len(label), edges, sel[:n_in], sel[n_in:], 0, capacitance, gamma,
                       f"nanowire_{n_wires}_{seed}", pos)


def _crossing(a1, a2, b1, b2):
    """Parameter t in [0, 1] along a where segments a and b cross (Eqs. 136–137), or None."""
    da, db = a2 - a1, b2 - b1
    den = da[0] * db[1] - da[1] * db[0]
    if abs(den) < 1e-15:
        return None
    w = b1 - a1
    t = (w[0] * db[1] - w[1] * db[0]) / den
    u = (w[0] * da[1] - w[1] * da[0]) / den
    return t if 0.0 <= t <= 1.0 and 0.0 <= u <= 1.0 else None


# ---- data ----------------------------------------------------------------------------------------

def breast_cancer(n_components: int = 3, test_fraction: float = 0.2, seed: int = 0) -> dict:
    """Wisconsin breast cancer (scikit-learn's bundled copy, no download): standardized, PCA to
    ``n_components`` whitened components (fitted on the training split), labels ±1 (+1 benign)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.decomposition import PCA
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    X, t = load_breast_cancer(return_X_y=True)
    y = 2.0 * t - 1.0
    itr, ite = train_test_split(np.arange(len(y)), test_size=test_fraction, random_state=seed, stratify=y)
    Xtr, Xte, ytr, yte = X[itr], X[ite], y[itr], y[ite]
    sc = StandardScaler().fit(Xtr)
    pca = PCA(n_components, whiten=True, random_state=seed).fit(sc.transform(Xtr))
    return {"X_train": pca.transform(sc.transform(Xtr)), "Y_train": ytr,
            "X_test": pca.transform(sc.transform(Xte)), "Y_test": yte,
            "train_index": itr, "test_index": ite}          # rows of load_breast_cancer()


def linear_regression(M, n_train: int, n_test: int, noise: float, seed: int) -> dict:
    """Lin App. L: x ~ N(0, I), y = M x + ε with ε ~ N(0, noise²) on the training labels only
    (the test labels are noiseless, so the test loss measures the learned map)."""
    rng = np.random.default_rng([seed, 7])
    M = np.asarray(M, dtype=np.float64)
    Xtr = rng.standard_normal((n_train, M.shape[1]))
    Xte = rng.standard_normal((n_test, M.shape[1]))
    return {"X_train": Xtr, "Y_train": Xtr @ M.T + noise * rng.standard_normal((n_train, M.shape[0])),
            "X_test": Xte, "Y_test": Xte @ M.T}


def transfer_matrix(sim: EdgeSimulator, r) -> np.ndarray:
    """W_R = −γ P_o Ω P_iᵀ (Eq. 121), measured column by column with voltage-mode runs."""
    n_in = len(sim.net.inputs)
    return sim.infer(r, np.eye(n_in)).T


# ---- protocol files (protocols/omega_*.toml) -----------------------------------------------------

def load_protocol(path) -> dict:
    """An Ω-training protocol: [task] (dataset), [network] (mesh or nanowire), [training]
    (TrainConfig keys). Returns {"name", "network": EdgeNetwork, "data": dict, "training":
    TrainConfig, "raw": the table}; run specs (runs/omega_*.toml) say which estimators, variants and
    seeds to run."""
    return protocol_from_dict(read(path), f"{path}: ", str(path))


def protocol_from_dict(d: dict, where: str = "", name: str = "omega_training") -> dict:
    """load_protocol's work on a protocol table (``where`` prefixes the key named by errors)."""
    if d.get("kind") != "omega_training":
        raise SpecError(f"{where}kind", f"expected 'omega_training', got {d.get('kind')!r}")
    try:
        check_keys(d, {"name", "description", "kind", "task", "network", "training"}, "")
        for key in ("task", "network", "training"):
            if key not in d:
                raise SpecError(key, "missing table")
        data = data_from(d["task"])
        net = network_from(d["network"])
        cfg = TrainConfig.from_dict(d["training"])
    except SpecError as exc:
        if not where:
            raise
        raise SpecError(where + exc.key, exc.message) from None
    return {"name": d.get("name", name), "network": net, "data": data, "training": cfg, "raw": d}


_MESH = {"kind": str, "rows": int, "cols": int, "inputs": list, "outputs": list, "gamma": "voltage",
         "capacitance": "capacitance"}
_NANOWIRE = {"kind": str, "n_wires": int, "length": "dimensionless", "seed": int, "n_in": int, "n_out": int,
             "gamma": "voltage", "capacitance": "capacitance"}
_BREAST_CANCER = {"dataset": str, "n_components": int, "test_fraction": "dimensionless", "seed": int}
_LINEAR_REGRESSION = {"dataset": str, "m_max": "dimensionless", "n_in": int, "n_out": int, "n_train": int,
                      "n_test": int, "noise": "dimensionless", "seed": int}


def network_from(d: dict, seed: int | None = None) -> EdgeNetwork:
    """The [network] table's EdgeNetwork (gamma: volts per unit input); ``seed`` replaces a
    nanowire deposit's own."""
    kind = d.get("kind")
    if kind == "mesh":
        a = fields_from_dict(d, _MESH, "network")
        if "inputs" not in a or "outputs" not in a:
            raise SpecError("network.inputs", "a mesh needs inputs and outputs (edges as [[r0, c0], [r1, c1]])")
        return mesh(a.get("rows", 4), a.get("cols", 4), a["inputs"], a["outputs"], a.get("gamma", 1.0),
                    a.get("capacitance", 1e-6))
    if kind == "nanowire":
        a = fields_from_dict(d, _NANOWIRE, "network")
        return nanowire(a.get("n_wires", 40), a.get("length", 0.3), a.get("seed", 0) if seed is None else seed,
                        a.get("n_in", 2), a.get("n_out", 2), a.get("gamma", 1.0), a.get("capacitance", 1e-6))
    raise SpecError("network.kind", f"unknown {kind!r} (mesh or nanowire)")


def data_from(d: dict, seed: int | None = None) -> dict:
    """The [task] table's dataset; ``seed`` replaces a linear regression's own."""
    kind = d.get("dataset")
    if kind == "breast_cancer":
        a = fields_from_dict(d, _BREAST_CANCER, "task")
        return breast_cancer(a.get("n_components", 3), a.get("test_fraction", 0.2), a.get("seed", 0))
    if kind == "linear_regression":
        a = fields_from_dict(d, _LINEAR_REGRESSION, "task")
        s = a.get("seed", 0) if seed is None else seed
        M = np.random.default_rng([s, 3]).uniform(0.0, a.get("m_max", 1.0), (a.get("n_out", 2), a.get("n_in", 2)))
        out = linear_regression(M, a.get("n_train", 200), a.get("n_test", 200), a.get("noise", 0.0), s)
        out["M"] = M
        return out
    raise SpecError("task.dataset", f"unknown {kind!r} (breast_cancer or linear_regression)")


# ---- loss landscapes (Lin App. N, Fig. 4) ------------------------------------------------------

def landscape_plane(traj) -> tuple:
    """App. N: the two principal directions of the offsets Δr_t = r_t − r_0 of a resistance
    trajectory (rows), each scaled so that the trajectory's largest projection on it is 1 and
    oriented so that the final state lies at q_1 > 0, q_2 < 0 (Lin draws the start at the top, the end
    at the bottom). Returns (r_0, directions (2, E)). Lin does not say how δ is scaled; with this
    scale his window q in [−1.5, 1.5]² holds the whole trajectory."""
    traj = np.asarray(traj, dtype=np.float64)
    off = traj - traj[0]
    _, _, vt = np.linalg.svd(off, full_matrices=False)
    dirs = []
    for k, sign_end in ((0, 1.0), (1, -1.0)):
        u = vt[k]
        proj = off @ u
        if np.sign(proj[-1]) not in (0.0, sign_end):
            u, proj = -u, -proj
        dirs.append(u * np.abs(proj).max())
    return traj[0].copy(), np.array(dirs)


def plane_coordinates(traj, r0, dirs) -> np.ndarray:
    """Least-squares coordinates (q_1, q_2) of each state r_t in the plane r_0 + q · dirs."""
    q, *_ = np.linalg.lstsq(np.asarray(dirs).T, (np.asarray(traj) - r0).T, rcond=None)
    return q.T


def landscape(sim: EdgeSimulator, r0, dirs, X, Y, cfg: TrainConfig, q) -> np.ndarray:
    """S(q_1, q_2) = full-batch mean loss at r' = clip(r_0 + q_1 δ_1 + q_2 δ_2, r_min, r_max) (App. N
    Eqs. 162–163; the clip keeps r' in the bounds the training uses, so r' > 0), one tdsim
    inference run per grid point; rows: q_2, columns: q_1."""
    S = np.zeros((len(q), len(q)))
    for i, q2 in enumerate(q):
        for j, q1 in enumerate(q):
            r = np.clip(r0 + q1 * dirs[0] + q2 * dirs[1], cfg.r_min, cfg.r_max)
            S[i, j] = evaluate(sim, r, X, Y, cfg)[0]
    return S
