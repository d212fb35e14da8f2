"""The Ω training loop: frozen edges stay put, training lowers the loss, the nanowire deposit is
a connected graph with inputs/outputs on loops, and specs with unknown keys are refused."""
import networkx as nx
import numpy as np
import pytest

from tdsim.errors import SpecError
from tdsim.studies.omega_train import TrainConfig, linear_regression, load_protocol, mesh, nanowire, train


def small_task():
    net = mesh(3, 3, [((0, 0), (1, 0)), ((1, 0), (2, 0))], [((0, 2), (1, 2)), ((1, 2), (2, 2))], gamma=2.0)
    M = np.array([[0.3, 0.1], [0.05, 0.2]])
    return net, linear_regression(M, 40, 40, 0.0, 1)


@pytest.mark.parametrize("estimator", ["omega", "two_phase"])
def test_training_lowers_the_loss_and_keeps_frozen_edges(estimator):
    net, data = small_task()
    cfg = TrainConfig(estimator=estimator, steps=60, batch=8, lr=0.5, beta=0.01, p_freeze=0.4, seed=3,
                      eval_every=60, freeze_outputs=True)
    h = train(net, data, cfg)
    assert 0 < h.mask.sum() < net.E and not h.mask[net.outputs].any()
    np.testing.assert_array_equal(h.r[-1][~h.mask], 1.0)          # frozen at the homogeneous start
    assert np.any(h.r[-1][h.mask] != 1.0)
    assert h.test_loss[-1] < 0.8 * h.test_loss[0], h.test_loss
    assert h.runs == 2 * cfg.steps + 2 * 2                        # a pair per step, 2 per evaluation


def test_nanowire_deposit_is_connected_with_io_on_loops():
    net = nanowire(60, 0.3, 0)
    g = nx.Graph([tuple(e) for e in net.edges])
    assert nx.is_connected(g) and g.number_of_nodes() == net.n_nodes
    for e in net.inputs + net.outputs:                 # not a bridge: the edge lies on a cycle
        h = g.copy()
        h.remove_edge(*net.edges[e])
        assert nx.is_connected(h)


def test_specs_name_the_bad_field(tmp_path):
    with pytest.raises(SpecError, match="training.lrate"):
        TrainConfig.from_dict({"lrate": 1.0})
    with pytest.raises(SpecError, match="p_freeze"):
        TrainConfig(p_freeze=1.0).validate()
    p = tmp_path / "x.toml"
    p.write_text('kind = "omega_training"\n[task]\ndataset = "iris"\n[network]\nkind = "mesh"\n[training]\n')
    with pytest.raises(SpecError, match="task.dataset"):
        load_protocol(p)
