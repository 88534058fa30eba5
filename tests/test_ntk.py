"""NTK engine in both environments: closed form = autodiff, Monte Carlo limits, exact identities."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxntk
from jaxntk import masks, ntk

from helpers import unit_rows

AXES = [
    ((-1,), ()), ((), ()), ((), (-1,)), ((), (0,)), ((0,), ()), ((0, -1), ()), ((), (0, -1)),
    ((0,), (1,)), ((1,), (0,)),
]  # fmt: skip


def rel_err(a, b):
    # NumPy, in the arrays' own dtype as jnp would: eager jnp compiles a program per new shape.
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def node_scales(kind, key, width, dtype):
    if kind is None:
        return None
    if kind == "mask":
        return masks.bernoulli(key, 1, width, 0.5, dtype=dtype)[0] / 0.5
    lam = jax.random.uniform(key, (width,), dtype) ** 4  # an uneven sqrt(lam) with sum(lam) = 1
    return jnp.sqrt(lam / lam.sum())


@pytest.mark.parametrize(("dtype", "tol"), [(jnp.float32, 1e-5), (jnp.float64, 1e-10)])
@pytest.mark.parametrize("out_dim", [1, 10])
@pytest.mark.parametrize("scale_kind", [None, "mask", "lam"])
@pytest.mark.parametrize("two_inputs", [False, True])
def test_closed_form_equals_autodiff(key, dtype, tol, out_dim, scale_kind, two_inputs):
    k_p, k_1, k_2, k_s = jax.random.split(key, 4)
    params = jaxntk.init_params(k_p, 7, 48, out_dim, dtype=dtype)
    x1 = unit_rows(k_1, 9, 7, dtype)
    x2 = unit_rows(k_2, 6, 7, dtype) if two_inputs else None
    s = node_scales(scale_kind, k_s, 48, dtype)
    for trace_axes, diagonal_axes in AXES:
        if two_inputs and 0 in {a % 2 for a in trace_axes + diagonal_axes}:
            continue  # batch traces/diagonals pair x1[i] with x2[i]: needs equal row counts
        kw = dict(node_scale=s, trace_axes=trace_axes, diagonal_axes=diagonal_axes)
        closed = ntk.empirical(params, x1, x2, backend="closed_form", **kw)
        auto = ntk.empirical(params, x1, x2, backend="autodiff", **kw)
        assert closed.shape == auto.shape and closed.dtype == dtype
        assert rel_err(closed, auto) < tol, (trace_axes, diagonal_axes)


def test_empirical_fn_takes_any_apply_fn(key):
    # A two-layer net with both layers trained: Theta = (1 + Kernel of the hidden features) form
    # is not what we check; we check the generic path against an explicit Jacobian product.
    k1, k2, kx = jax.random.split(key, 3)
    params = {"w1": jax.random.normal(k1, (4, 3)), "w2": jax.random.normal(k2, (3, 2))}

    def apply_fn(p, x):
        return jnp.tanh(x @ p["w1"]) @ p["w2"]

    x = jax.random.normal(kx, (5, 4))
    kernel = ntk.empirical_fn(apply_fn, trace_axes=())(params, x)
    jac = jax.jacrev(apply_fn)(params, x)  # leaves (5, 2, *leaf)
    flat = jnp.concatenate([j.reshape(5, 2, -1) for j in jax.tree_util.tree_leaves(jac)], axis=2)
    np.testing.assert_allclose(kernel, jnp.einsum("icp,jep->ijce", flat, flat), rtol=1e-12)


def test_mean_over_inits_approaches_the_infinite_width_kernel(key):
    # Each entry of the mean over R inits is an average of m R i.i.d. terms
    # (x.x') 1[w.x > 0] 1[w.x' > 0] in [-1, 1] with variance <= 1/4: sd <= 1 / (2 sqrt(m R)).
    # 6 sd bounds all 64 entries with room to spare (a Gaussian tail of 2e-9 per entry).
    width, reps = 512, 64
    x = unit_rows(jax.random.key(11), 8, 5)
    kernels = jax.vmap(
        lambda k: ntk.empirical(jaxntk.init_params(k, 5, width), x, backend="closed_form")
    )(jax.random.split(key, reps))
    limit = ntk.infinite_width_relu(x)
    sd = 1 / (2 * math.sqrt(width * reps))
    assert float(jnp.max(jnp.abs(kernels.mean(axis=0) - limit))) < 6 * sd
    # a single init is much further off (the test has power): O(1/sqrt(m)) per entry
    assert float(jnp.max(jnp.abs(kernels[0] - limit))) > 6 * sd


def test_code_parameterization_limit_grows_with_width(key):
    x = unit_rows(jax.random.key(1), 6, 4)
    width, out_dim, reps = 256, 10, 64
    kernels = jax.vmap(
        lambda k: ntk.empirical(
            jaxntk.init_params(k, 4, width, out_dim, parameterization="code"),
            x,
            backend="closed_form",
        )
    )(jax.random.split(key, reps))
    limit = ntk.infinite_width_relu(x, parameterization="code", width=width, out_dim=out_dim)
    # same bound as above, scaled by width / out_dim
    sd = width / out_dim / (2 * math.sqrt(width * reps))
    assert float(jnp.max(jnp.abs(kernels.mean(axis=0) - limit))) < 6 * sd


def test_masked_kernel_expectation_is_theta_over_keep_prob(key):
    # Theta^M_ij = (x.x') (1/(xi^2 m)) sum_k M_k D_ik D_jk with M_k ~ Bernoulli(xi):
    # Var <= (1 - xi) / (xi^3 m) per entry, so the mean of N draws has
    # sd <= sqrt((1 - xi) / (xi^3 m N)); we allow 6 sd.
    width, draws, xi = 256, 4096, 0.5
    k_p, k_x, k_m = jax.random.split(key, 3)
    params = jaxntk.init_params(k_p, 5, width)
    x = unit_rows(k_x, 8, 5)
    kernels, mean = ntk.masked(
        params, x, masks.bernoulli(k_m, draws, width, xi), xi, backend="closed_form"
    )
    assert kernels.shape == (draws, 8, 8)
    full = ntk.empirical(params, x, backend="closed_form")
    sd = math.sqrt((1 - xi) / (xi**3 * width * draws))
    assert float(jnp.max(jnp.abs(mean - full / xi))) < 6 * sd


def test_categorical_surrogate_kernels_sum_exactly(key):
    # With a partition and s = K M^l, sum_l Theta^{M^l} = K^2 Theta: the mean is K Theta = Theta/xi.
    k_p, k_x, k_m = jax.random.split(key, 3)
    params = jaxntk.init_params(k_p, 5, 90, 3)
    x = unit_rows(k_x, 7, 5)
    num_subnets = 6
    m = masks.categorical(k_m, num_subnets, 90)
    kernels, mean = ntk.masked(params, x, m, 1 / num_subnets, backend="closed_form", trace_axes=())
    full = ntk.empirical(params, x, backend="closed_form", trace_axes=())
    np.testing.assert_allclose(kernels.sum(axis=0), num_subnets**2 * full, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(mean, num_subnets * full, rtol=1e-12, atol=1e-14)


def test_infinite_width_kernel_is_positive_definite_on_non_parallel_data():
    x = unit_rows(jax.random.key(3), 30, 5)
    limit = ntk.infinite_width_relu(x)
    lam0 = float(ntk.min_eig(limit))
    assert lam0 > 1e-4
    np.testing.assert_allclose(lam0, np.linalg.eigvalsh(np.asarray(limit))[0], rtol=1e-10)
    np.testing.assert_allclose(jnp.diag(limit), 0.5 * jnp.ones(30), rtol=1e-12)  # ||x||^2 / 2
    # a repeated (parallel) point makes it singular: lam0 > 0 needs non-parallel data
    repeated = ntk.infinite_width_relu(jnp.concatenate([x, x[:1]]))
    assert abs(float(ntk.min_eig(repeated))) < 1e-12


def test_spectral_distance_is_the_norm_not_its_square_root(key):
    a = jax.random.normal(key, (6, 6))
    b = jax.random.normal(jax.random.key(1), (6, 6))
    np.testing.assert_allclose(
        ntk.spectral_distance(a, b), np.linalg.norm(np.asarray(a - b), ord=2), rtol=1e-12
    )
    batched = ntk.spectral_distance(jnp.stack([a, 2 * a]), jnp.stack([b, 2 * b]))
    np.testing.assert_allclose(batched[1], 2 * batched[0], rtol=1e-12)
    sym_a, sym_b = a @ a.T, b @ b.T  # symmetric, indefinite difference
    np.testing.assert_allclose(
        ntk.spectral_distance(sym_a, sym_b, symmetric=True),
        np.linalg.norm(np.asarray(sym_a - sym_b), ord=2),
        rtol=1e-12,
    )


def test_vmap_over_seeds_and_jit(key):
    x = unit_rows(jax.random.key(1), 5, 4)
    keys = jax.random.split(key, 3)
    batched = jax.vmap(
        lambda k: ntk.empirical(jaxntk.init_params(k, 4, 32), x, backend="autodiff")
    )(keys)
    jitted = jax.jit(lambda p: ntk.empirical(p, x, backend="closed_form"))
    for i, k in enumerate(keys):
        np.testing.assert_allclose(batched[i], jitted(jaxntk.init_params(k, 4, 32)), rtol=1e-12)


def test_auto_backend_is_the_closed_form(key):
    # auto picks the exact and fastest backend for this model: the closed form, in both environments
    params = jaxntk.init_params(key, 4, 16, 3)
    x = unit_rows(jax.random.key(1), 5, 4)
    for kw in ({}, {"trace_axes": ()}, {"node_scale": jnp.linspace(0.5, 1.5, 16)}):
        np.testing.assert_array_equal(
            ntk.empirical(params, x, **kw), ntk.empirical(params, x, backend="closed_form", **kw)
        )


def test_bad_ntk_arguments(key):
    params = jaxntk.init_params(key, 4, 16)
    x = unit_rows(jax.random.key(1), 5, 4)
    with pytest.raises(ValueError, match="unknown backend 'jax'"):
        ntk.empirical(params, x, backend="jax")
    with pytest.raises(ValueError, match="implementation must be 1, 2 or 3"):
        ntk.empirical(params, x, implementation=4)
    with pytest.raises(ValueError, match="trace_axes must hold axes of the \\(n, C\\) output"):
        ntk.empirical(params, x, trace_axes=(2,))
    with pytest.raises(ValueError, match="cannot be in both trace_axes"):
        ntk.empirical(params, x, trace_axes=(-1,), diagonal_axes=(1,))
    with pytest.raises(ValueError, match="need the same number of rows"):
        ntk.empirical(params, x, x[:3], diagonal_axes=(0,), backend="closed_form")
    with pytest.raises(ValueError, match="pass width"):
        ntk.infinite_width_relu(x, parameterization="code")
    if not ntk.neural_tangents_available():
        with pytest.raises(ImportError, match="pip install --no-deps neural-tangents==0.6.5"):
            ntk.empirical(params, x, backend="neural_tangents")
