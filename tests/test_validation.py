"""Bad input gets a ValueError that names the argument and what is allowed."""

import math

import jax
import jax.numpy as jnp
import pytest

import jaxntk
from jaxntk import masks


def good_problem():
    params = jaxntk.init_params(jax.random.key(0), 3, 8, 2)
    x = jnp.ones((5, 3)) / math.sqrt(3)
    y = jnp.zeros((5, 2))
    return params, x, y


CONFIG_CASES = [
    (dict(keep_prob=0.0), "keep_prob must be a probability in \\(0, 1\\]"),
    (dict(keep_prob=1.5), "keep_prob must be a probability in \\(0, 1\\]"),
    (dict(keep_prob=float("nan")), "keep_prob must be a probability"),
    (dict(keep_prob=None), "keep_prob is required for Bernoulli masks"),
    (dict(num_subnets=0), "num_subnets must be an integer >= 1"),
    (dict(num_subnets=2.0), "num_subnets must be an integer >= 1"),
    (dict(local_steps=-1), "local_steps must be an integer >= 0"),
    (dict(num_rounds=-2), "num_rounds must be an integer >= 0"),
    (dict(lr=0.0), "lr must be a finite number > 0"),
    (dict(lr=-0.1), "lr must be a finite number > 0"),
    (dict(lr=float("inf")), "lr must be a finite number > 0"),
    (dict(mask="gaussian"), "unknown mask 'gaussian'; choose one of 'bernoulli', 'categorical'"),
    (
        dict(loss="mse"),
        "unknown loss 'mse'; choose one of 'half_sum', 'half_mean', 'mean', 'softmax_ce'",
    ),
    (dict(unsampled="drop"), "unknown unsampled 'drop'; choose one of 'keep', 'zero'"),
]


@pytest.mark.parametrize(("change", "message"), CONFIG_CASES)
def test_bad_config(change, message):
    fields = dict(num_subnets=2, keep_prob=0.5, local_steps=1, lr=0.1, num_rounds=1) | change
    with pytest.raises(ValueError, match=message):
        jaxntk.MaskedConfig(**fields)


INIT_CASES = [
    (dict(width=0), "width must be an integer >= 1"),
    (dict(in_dim=0), "in_dim must be an integer >= 1"),
    (dict(out_dim=0), "out_dim must be an integer >= 1"),
    (dict(parameterization="mup"), "unknown parameterization 'mup'; choose one of 'ntk', 'code'"),
    (dict(init_scale=-1.0), "init_scale must be a finite number > 0"),
    (dict(parameterization="code", init_scale=0.5), "init_scale applies to parameterization='ntk'"),
    (dict(key=0), "key must be a JAX PRNG key, got int; make one with jax.random.key"),
    (dict(key=jnp.zeros(3)), "key must be a JAX PRNG key, got an array of dtype float"),
    (dict(dtype=jnp.int32), "dtype must be a floating dtype"),
]


@pytest.mark.parametrize(("change", "message"), INIT_CASES)
def test_bad_init(change, message):
    args = dict(key=jax.random.key(0), in_dim=3, width=8) | change
    with pytest.raises(ValueError, match=message):
        jaxntk.init_params(**args)


def _bad_data(params, x, y):
    return {
        "x with the wrong feature count": (
            x[:, :2],
            y,
            "x must have 3 columns, got shape \\(5, 2\\)",
        ),
        "1-D y": (x, y[:, 0], "y must be 2-D .* use y\\[:, None\\]"),
        "y with the wrong row count": (x, y[:3], "y must have 5 rows"),
        "y with the wrong output count": (x, y[:, :1], "y must have 2 columns"),
        "integer x": (x.astype(jnp.int32), y, "x must hold floats, got dtype int32"),
        "float32 x for float64 weights": (
            x.astype(jnp.float32),
            y,
            "x has dtype float32 but the weights are float64",
        ),
        "NaN in x": (x.at[1, 1].set(jnp.nan), y, "x holds 1 NaN/inf value"),
        "inf in y": (x, y.at[0, 0].set(jnp.inf), "y holds 1 NaN/inf value"),
        "empty data": (x[:0], y[:0], "x is empty"),
    }


@pytest.mark.parametrize("case", list(_bad_data(*good_problem())))
def test_bad_training_data(case):
    params, x, y = good_problem()
    bad_x, bad_y, message = _bad_data(params, x, y)[case]
    cfg = jaxntk.MaskedConfig(2, 0.5, 1, 0.1, 1)
    with pytest.raises(ValueError, match=message):
        jaxntk.train_masked(jax.random.key(0), params, bad_x, bad_y, cfg)


def test_bad_node_scale_and_apply_inputs():
    params, x, y = good_problem()
    cfg = jaxntk.MaskedConfig(2, 0.5, 1, 0.1, 1)
    with pytest.raises(ValueError, match="node_scale must have shape \\(width,\\) = \\(8,\\)"):
        jaxntk.train_masked(jax.random.key(0), params, x, y, cfg, node_scale=jnp.ones(7))
    with pytest.raises(ValueError, match="node_scale holds 1 NaN/inf"):
        jaxntk.train_masked(
            jax.random.key(0), params, x, y, cfg, node_scale=jnp.ones(8).at[0].set(jnp.nan)
        )
    with pytest.raises(ValueError, match="x has 4 features but the network was built for in_dim=3"):
        jaxntk.apply(params, jnp.ones((2, 4)))
    with pytest.raises(ValueError, match="cfg must be a jaxntk.MaskedConfig"):
        jaxntk.train_masked(jax.random.key(0), params, x, y, {"num_subnets": 2})
    with pytest.raises(ValueError, match="key must be a JAX PRNG key"):
        jaxntk.train_masked(42, params, x, y, cfg)


def test_bad_mask_arguments():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="keep_prob must be a probability in \\(0, 1\\]"):
        masks.bernoulli(key, 2, 5, 0.0)
    with pytest.raises(ValueError, match="num_subnets must be an integer >= 1"):
        masks.categorical(key, 0, 5)
    with pytest.raises(ValueError, match="width must be an integer >= 1"):
        masks.bernoulli(key, 2, 0, 0.5)
    with pytest.raises(ValueError, match="unknown mask 'uniform'"):
        masks.sample(key, "uniform", 2, 5, 0.5)
    with pytest.raises(ValueError, match="unknown unsampled 'drop'"):
        masks.aggregate(jnp.ones((5, 2)), jnp.ones((2, 5, 2)), jnp.ones((2, 5)), unsampled="drop")
