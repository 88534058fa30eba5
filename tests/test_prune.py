"""Pruning curves (jaxntk.prune_curve): the vectorised curve, ties, zero-scale nodes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxntk
from jaxntk import prune, scaling

from helpers import regression_data


@pytest.fixture
def net(key):
    width = 24
    params = jaxntk.init_params(key, 5, width, 3, parameterization="scaled")
    lam = scaling.node_scales(None, width, gamma=0.3, kind="zipf", alpha=0.6)
    # Shuffle so importance is not the node index.
    scale = jnp.sqrt(jax.random.permutation(jax.random.key(9), lam))
    x, y = regression_data(jax.random.key(1), 30, 5, 3)
    return params, scale, x, y


def naive_prune_risks(params, scale, x, y, counts, order_):
    """One node at a time: zero its scale, recompute the output (no vectorisation)."""
    risks, s = [], np.array(scale)
    for count in range(max(counts) + 1):
        if count in counts:
            pred = jaxntk.apply(params, x, node_scale=jnp.asarray(s))
            risks.append(float(jnp.mean((pred - y) ** 2)))
        if count < len(order_):
            s[int(order_[count])] = 0.0
    return np.array(risks)


def test_vectorised_curve_equals_a_naive_loop(net):
    params, scale, x, y = net
    counts = [0, 1, 5, 10, 23, 24]
    curve = jaxntk.prune_curve(params, scale, x, y, jnp.array(counts), x_test=x[:10], y_test=y[:10])
    order_ = np.argsort(np.asarray(jnp.sum((scale[:, None] * params["a"]) ** 2, 1)), kind="stable")
    np.testing.assert_allclose(
        curve.train_risk, naive_prune_risks(params, scale, x, y, counts, order_), rtol=1e-12
    )
    np.testing.assert_allclose(
        curve.test_risk,
        naive_prune_risks(params, scale, x[:10], y[:10], counts, order_),
        rtol=1e-12,
    )
    assert curve.train_acc.shape == (6,)  # C = 3 outputs: accuracy too
    assert float(curve.train_risk[0]) == pytest.approx(
        float(jnp.mean((jaxntk.apply(params, x, node_scale=scale) - y) ** 2)), rel=1e-13
    )


def test_pruning_everything_gives_zero_output(net):
    params, scale, x, y = net
    curve = jaxntk.prune_curve(params, scale, x, y, jnp.array([24]))
    assert float(curve.train_risk[0]) == pytest.approx(float(jnp.mean(y**2)), rel=1e-14)


def test_pruning_zero_scale_nodes_changes_nothing(key):
    width = 50
    params = jaxntk.init_params(key, 4, width, parameterization="scaled")
    with pytest.warns(UserWarning):
        lam = scaling.node_scales(None, width, gamma=0.0, kind="zipf_code", alpha=0.4)
    lam = lam.at[10:20].set(0.0)  # 11 zero-scale nodes: index 0 (the code's off-by-one) and 10..19
    x, y = regression_data(jax.random.key(2), 20, 4)
    curve = jaxntk.prune_curve(params, jnp.sqrt(lam), x, y, jnp.array([0, 11, 12]))
    assert float(curve.train_risk[1]) == float(curve.train_risk[0])
    assert float(curve.train_risk[2]) != float(curve.train_risk[0])


def test_ties_by_index_or_by_key(key):
    params = jaxntk.init_params(key, 3, 8, parameterization="scaled")
    uniform = jnp.full(8, 8**-0.5)  # gamma = 1: every node ties
    np.testing.assert_array_equal(prune.order(params, uniform), np.arange(8))
    np.testing.assert_array_equal(prune.order(params, uniform, descending=True), np.arange(8))
    shuffled = prune.order(params, uniform, key=jax.random.key(3))
    assert sorted(np.asarray(shuffled).tolist()) == list(range(8))
    assert not np.array_equal(shuffled, np.arange(8))
    scale = jnp.sqrt(jnp.array([1, 3, 2, 3, 0, 1, 1, 4.0]) / 15)
    np.testing.assert_array_equal(prune.order(params, scale), [4, 0, 5, 6, 2, 1, 3, 7])
    np.testing.assert_array_equal(
        prune.order(params, scale, descending=True), [7, 1, 3, 2, 0, 5, 6, 4]
    )


def test_bad_prune_counts(net):
    params, scale, x, y = net
    with pytest.raises(ValueError, match=r"counts must lie in \[0, width=24\]"):
        jaxntk.prune_curve(params, scale, x, y, jnp.array([0, 25]))
    with pytest.raises(ValueError, match="integers"):
        jaxntk.prune_curve(params, scale, x, y, jnp.array([0.5]))
