"""Pruning curves (jaxntk.prune_curve) and transfer curves (jaxntk.transfer_curve)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxntk
from jaxntk import prune, scaling, transfer

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


def test_padded_heads_equal_heads_on_k_inputs(key):
    """A head on max_k zero-padded features is a head on k features, up to the summation order
    of differently shaped matmuls (~1e-8 after 30 steps, asserted to 1e-6; an init or masking
    error would be O(1))."""
    phi = jax.random.normal(key, (25, 9))
    y = jnp.sin(phi[:, :2].sum(1, keepdims=True))
    head = transfer.HeadConfig((6, 5), lr=0.05, num_steps=30)
    ks = jnp.array([2, 4, 9])
    keys = jax.random.split(jax.random.key(1), 3)
    curve = transfer.fit_heads(keys, ks, phi[:20], y[:20], phi[20:], y[20:], head)
    for i, k in enumerate([2, 4, 9]):
        module, padded = transfer.init_head(keys[i], head, k, 9, 1, phi.dtype)
        p = jax.tree_util.tree_map(lambda v: v, padded)
        p["Dense_0"] = {
            "kernel": padded["Dense_0"]["kernel"][:k],
            "bias": padded["Dense_0"]["bias"],
        }
        small = transfer.MLPHead(head.hidden, 1)

        def loss(q, k=k, small=small, rows=slice(0, 20)):
            return jnp.mean((small.apply({"params": q}, phi[rows, :k]) - y[rows]) ** 2)

        @jax.jit
        def sgd_step(q, loss=loss):  # plain SGD, written out
            return jax.tree_util.tree_map(lambda v, g: v - 0.05 * g, q, jax.grad(loss)(q))

        for _ in range(30):
            p = sgd_step(p)
        test_risk = loss(p, rows=slice(20, None))
        assert float(curve.train_risk[i]) == pytest.approx(float(loss(p)), rel=1e-6)
        assert float(curve.test_risk[i]) == pytest.approx(float(test_risk), rel=1e-6)
        assert isinstance(module, nn.Module)


def test_head_init_is_pytorch_default(key):
    head = transfer.HeadConfig((64, 64))
    _, params = transfer.init_head(key, head, 40, 100, 1, jnp.float64)
    first = params["Dense_0"]["kernel"]
    assert float(jnp.max(jnp.abs(first[:40]))) <= 40**-0.5
    assert bool(jnp.all(first[40:] == 0))
    # U(-b, b) has variance b^2 / 3: 2560 draws give a relative sd of ~2.8 %.
    assert float(jnp.var(first[:40])) == pytest.approx(1 / (3 * 40), rel=0.12)
    assert float(jnp.max(jnp.abs(params["Dense_1"]["kernel"]))) <= 64**-0.5


@pytest.fixture
def transfer_setup(key):
    width = 60
    params = jaxntk.init_params(key, 5, width, parameterization="scaled")
    lam = scaling.node_scales(None, width, gamma=0.5, kind="zipf", alpha=0.7)
    x, y = regression_data(jax.random.key(4), 80, 5)
    return params, jnp.sqrt(lam), x[:40], y[:40], x[40:], y[40:]


def test_standardized_features_ignore_the_feature_scale(transfer_setup):
    params, scale, xa, ya, xb, yb = transfer_setup
    head = transfer.HeadConfig((16, 16), lr=0.1, num_steps=100)
    ks = jnp.array([3, 10])
    run = lambda s, std: jaxntk.transfer_curve(  # noqa: E731
        jax.random.key(0), params, s, xa, ya, xb, yb, ks, head, standardize_features=std
    )
    np.testing.assert_allclose(
        run(scale, True).test_risk, run(7 * scale, True).test_risk, rtol=1e-8
    )
    assert not np.allclose(run(scale, False).test_risk, run(7 * scale, False).test_risk, rtol=1e-3)


def test_top_feature_is_the_largest_scale_node(transfer_setup):
    params, scale, xa, *_ = transfer_setup
    top = prune.order(params, scale, descending=True)
    assert int(top[0]) == 0  # zipf: node 0 has the largest lam
    phi = transfer.features(params, xa, scale)
    np.testing.assert_allclose(phi[:, 0], scale[0] * jax.nn.relu(xa @ params["w"][0]), rtol=1e-13)


def test_bad_transfer_arguments(transfer_setup):
    params, scale, xa, ya, xb, yb = transfer_setup
    with pytest.raises(ValueError, match=r"every k must lie in \[1, width=60\]"):
        jaxntk.transfer_curve(jax.random.key(0), params, scale, xa, ya, xb, yb, jnp.array([0, 5]))
    with pytest.raises(ValueError, match="hidden must be"):
        transfer.HeadConfig(())
