"""jaxntk.sweep_masked: every cell of a grid over K, xi, lr or node scales equals its own run."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_rounds import F32, assert_same, problem

import jaxntk
from jaxntk import scaling


@pytest.mark.parametrize("path, pad", [("plain", True), ("gram_compact", True), ("auto", False)])
def test_sweep_cells_equal_their_own_runs(key, path, pad):
    params, x, y = problem(key)
    init_keys = jax.random.split(jax.random.key(4), 2)
    params_s = jax.vmap(lambda k: jaxntk.init_params(k, 40, 64, 3, dtype=F32))(init_keys)
    keys = jax.random.split(jax.random.key(5), 2)
    ks = np.array([1, 3, 4, 2])
    xis = np.array([0.5, 0.3, 0.8, 1.0])
    lrs = np.array([0.2, 0.1, 0.2, 0.05])
    cfg = jaxntk.MaskedConfig(4, 0.5, 2, 0.2, 4, unsampled="zero")
    w, hist = jaxntk.sweep_masked(
        keys, params_s, x, y, cfg, num_subnets=ks, keep_prob=xis, lr=lrs, path=path, pad=pad
    )
    assert hist.loss.shape == (2, 4, 5) and w.shape == (2, 4, 64, 40)
    for s in range(2):
        p_s = jax.tree_util.tree_map(lambda a, s=s: a[s], params_s)
        for g in range(4):
            cfg_g = jaxntk.MaskedConfig(
                int(ks[g]), float(xis[g]), 2, float(lrs[g]), 4, unsampled="zero"
            )
            w_g, h_g = jaxntk.train_masked(keys[s], p_s, x, y, cfg_g, path="plain")
            assert_same(w[s, g], w_g["w"])
            assert_same(hist.loss[s, g], h_g.loss)
            assert_same(hist.local_loss[s, g], h_g.local_loss)


def test_sweep_over_node_scales_is_a_gamma_grid(key):
    params, x, y = problem(key, parameterization="scaled")
    gammas = (1.0, 0.5, 0.2)
    lam = jnp.stack([scaling.node_scales(None, 64, gamma=g, dtype=F32) for g in gammas])
    cfg = jaxntk.MaskedConfig(2, 0.5, 2, 0.3, 3)
    keys = jax.random.split(key, 2)
    _, hist = jaxntk.sweep_masked(keys, params, x, y, cfg, node_scale=jnp.sqrt(lam))
    for g in range(3):
        _, h_g = jaxntk.train_masked(keys[1], params, x, y, cfg, node_scale=jnp.sqrt(lam[g]))
        assert_same(hist.loss[1, g], h_g.loss)


def test_sweep_rejects_bad_grids(key):
    params, x, y = problem(key)
    cfg = jaxntk.MaskedConfig(4, 0.5, 2, 0.2, 2)
    keys = jax.random.split(key, 2)
    with pytest.raises(ValueError, match=r"num_subnets must lie in \[1, cfg.num_subnets=4\]"):
        jaxntk.sweep_masked(keys, params, x, y, cfg, num_subnets=[2, 5])
    with pytest.raises(ValueError, match="one entry per cell"):
        jaxntk.sweep_masked(keys, params, x, y, cfg, num_subnets=[2, 3], keep_prob=[0.5])
    with pytest.raises(ValueError, match="keys must be a 1-d array of typed PRNG keys"):
        jaxntk.sweep_masked(jnp.arange(2), params, x, y, cfg)
    with pytest.raises(ValueError, match="unknown path"):
        jaxntk.train_masked(key, params, x, y, cfg, path="fastest")
