"""The shallow model: closed-form outputs, the two parameterizations, initialization statistics."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxntk

from helpers import numpy_forward, unit_rows


@pytest.mark.parametrize("out_dim", [1, 10])
@pytest.mark.parametrize("parameterization", ["ntk", "code"])
def test_apply_equals_numpy_formula(key, out_dim, parameterization):
    k_p, k_x, k_s = jax.random.split(key, 3)
    params = jaxntk.init_params(k_p, 7, 33, out_dim, parameterization=parameterization)
    x = unit_rows(k_x, 12, 7)
    scale = jax.random.uniform(k_s, (33,))
    for node_scale in (None, scale):
        got = jaxntk.apply(params, x, node_scale=node_scale)
        want = numpy_forward(params["w"], params["a"], params["out_scale"], x, node_scale)
        assert got.shape == (12, out_dim)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_out_scales_and_shapes(key):
    ntk = jaxntk.init_params(key, 5, 64, 10)
    code = jaxntk.init_params(key, 5, 64, 10, parameterization="code")
    assert ntk["w"].shape == (64, 5) and ntk["a"].shape == (64, 10)
    assert float(ntk["out_scale"]) == pytest.approx(1 / 8)  # 1/sqrt(width)
    assert float(code["out_scale"]) == pytest.approx(1 / math.sqrt(10))  # 1/sqrt(out_dim)
    assert set(np.unique(np.asarray(ntk["a"]))) == {-1.0, 1.0}


def test_single_example_equals_batch_row(key):
    params = jaxntk.init_params(key, 4, 16, 3)
    x = unit_rows(jax.random.key(1), 6, 4)
    np.testing.assert_allclose(jaxntk.apply(params, x[2]), jaxntk.apply(params, x)[2], rtol=1e-14)


def test_code_parameterization_is_rescaled_ntk(key):
    # relu is homogeneous: with w = w_ntk / sqrt(m), f_code(w) = f_ntk(w_ntk) / sqrt(C).
    width, out_dim = 50, 10
    code = jaxntk.init_params(key, 6, width, out_dim, parameterization="code")
    ntk = jaxntk.init_params(key, 6, width, out_dim)
    ntk = {**ntk, "a": code["a"], "w": code["w"] * math.sqrt(width)}
    x = unit_rows(jax.random.key(3), 9, 6)
    np.testing.assert_allclose(
        jaxntk.apply(code, x), jaxntk.apply(ntk, x) / math.sqrt(out_dim), rtol=1e-12
    )


@pytest.mark.parametrize(
    ("parameterization", "init_scale", "std"),
    [("ntk", 1.0, 1.0), ("ntk", 0.3, 0.3), ("code", 1.0, 1 / math.sqrt(400))],
)
def test_init_std(key, parameterization, init_scale, std):
    params = jaxntk.init_params(
        key, 50, 400, parameterization=parameterization, init_scale=init_scale
    )
    w = np.asarray(params["w"])
    # 20000 N(0, std^2) draws: the sample std is within 4 * std / sqrt(2 * 20000) of std.
    assert abs(w.std() - std) < 4 * std / math.sqrt(2 * w.size)
    assert abs(w.mean()) < 4 * std / math.sqrt(w.size)
    # the signs are fair coins: |mean| within 4 sigma of 0.
    assert abs(float(params["a"].mean())) < 4 / math.sqrt(params["a"].size)


def test_permuting_nodes_leaves_f_unchanged(key):
    params = jaxntk.init_params(key, 5, 40, 2)
    perm = jax.random.permutation(jax.random.key(7), 40)
    permuted = {**params, "w": params["w"][perm], "a": params["a"][perm]}
    x = unit_rows(jax.random.key(8), 10, 5)
    np.testing.assert_allclose(jaxntk.apply(permuted, x), jaxntk.apply(params, x), rtol=1e-12)


def test_flax_module_is_the_pure_apply(key):
    params = jaxntk.init_params(key, 5, 20, 2)
    x = unit_rows(jax.random.key(1), 4, 5)
    s = jnp.linspace(0.0, 2.0, 20)
    module = jaxntk.ShallowReLU(20)
    got = module.apply({"params": {"w": params["w"]}}, x, params["a"], params["out_scale"], s)
    np.testing.assert_array_equal(got, jaxntk.apply(params, x, node_scale=s))
    # the gradient through flax is the closed form dF/dw_j = out_scale * s_j * 1[w_j.x > 0] x a_j
    grad = jax.grad(lambda w: jaxntk.apply({**params, "w": w}, x[0], node_scale=s)[1])(params["w"])
    active = (params["w"] @ x[0] > 0).astype(x.dtype)
    want = params["out_scale"] * (s * active * params["a"][:, 1])[:, None] * x[0][None, :]
    np.testing.assert_allclose(grad, want, rtol=1e-12, atol=1e-15)


def test_same_key_same_params_and_dtype(key):
    p1 = jaxntk.init_params(key, 3, 8, dtype=jnp.float32)
    p2 = jaxntk.init_params(key, 3, 8, dtype=jnp.float32)
    assert p1["w"].dtype == p1["a"].dtype == p1["out_scale"].dtype == jnp.float32
    np.testing.assert_array_equal(p1["w"], p2["w"])
    p3 = jaxntk.init_params(jax.random.key(1), 3, 8, dtype=jnp.float32)
    assert not np.array_equal(p1["w"], p3["w"])


def test_vmap_over_keys_is_an_ensemble(key):
    keys = jax.random.split(key, 4)
    batched = jax.vmap(lambda k: jaxntk.init_params(k, 3, 8))(keys)
    assert batched["w"].shape == (4, 8, 3)
    np.testing.assert_array_equal(batched["w"][2], jaxntk.init_params(keys[2], 3, 8)["w"])
