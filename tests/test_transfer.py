"""Transfer curves (jaxntk.transfer_curve): padded heads, the PyTorch init, standardization."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxntk
from jaxntk import prune, scaling, transfer

from helpers import regression_data


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
