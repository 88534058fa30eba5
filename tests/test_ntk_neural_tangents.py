"""The native NTK backends against neural-tangents, the oracle (nt environment only).

The ``nt`` fixture skips these where neural-tangents cannot import, and fails them when
JAXNTK_REQUIRE_NT=1 (set by ``make test`` in the nt environment).
"""

import math

import jax
import jax.numpy as jnp
import pytest
from test_ntk import AXES, node_scales, rel_err

import jaxntk
from jaxntk import ntk, scaling

from helpers import unit_rows


@pytest.mark.parametrize(("dtype", "tol"), [(jnp.float32, 1e-5), (jnp.float64, 1e-10)])
@pytest.mark.parametrize("out_dim", [1, 10])
@pytest.mark.parametrize("scale_kind", [None, "mask", "lam"])
@pytest.mark.parametrize("two_inputs", [False, True])
def test_native_backends_equal_every_nt_implementation(
    nt, key, dtype, tol, out_dim, scale_kind, two_inputs
):
    k_p, k_1, k_2, k_s = jax.random.split(key, 4)
    params = jaxntk.init_params(k_p, 6, 40, out_dim, dtype=dtype)
    x1 = unit_rows(k_1, 7, 6, dtype)
    x2 = unit_rows(k_2, 5, 6, dtype) if two_inputs else None
    s = node_scales(scale_kind, k_s, 40, dtype)
    kw = dict(node_scale=s, trace_axes=())
    closed = ntk.empirical(params, x1, x2, backend="closed_form", **kw)
    auto = ntk.empirical(params, x1, x2, backend="autodiff", **kw)
    for implementation in (1, 2, 3):
        oracle = ntk.empirical(
            params, x1, x2, backend="neural_tangents", implementation=implementation, **kw
        )
        assert oracle.shape == closed.shape
        assert rel_err(closed, oracle) < tol, implementation
        assert rel_err(auto, oracle) < tol, implementation


@pytest.mark.parametrize(("dtype", "tol"), [(jnp.float32, 1e-5), (jnp.float64, 1e-10)])
@pytest.mark.parametrize("out_dim", [1, 10])
def test_asym_code_input_scale_matches_nt(nt, key, dtype, tol, out_dim):
    """The official asymmetric-scaling model (x / sqrt(d) input layer, sqrt(lam) node scale)."""
    params = jaxntk.init_params(key, 6, 40, out_dim, parameterization="asym_code", dtype=dtype)
    lam = scaling.node_scales(None, 40, gamma=0.5, kind="zipf", alpha=0.7, dtype=dtype)
    x1, x2 = unit_rows(jax.random.key(1), 7, 6, dtype), unit_rows(jax.random.key(2), 5, 6, dtype)
    kw = dict(node_scale=jnp.sqrt(lam), trace_axes=())
    closed = ntk.empirical(params, x1, x2, backend="closed_form", **kw)
    for implementation in (1, 2, 3):
        oracle = ntk.empirical(
            params, x1, x2, backend="neural_tangents", implementation=implementation, **kw
        )
        assert rel_err(closed, oracle) < tol, implementation


@pytest.mark.parametrize(("trace_axes", "diagonal_axes"), AXES)
def test_output_axis_conventions_match_nt(nt, key, trace_axes, diagonal_axes):
    params = jaxntk.init_params(key, 5, 30, 3)
    x = unit_rows(jax.random.key(1), 6, 5)
    kw = dict(trace_axes=trace_axes, diagonal_axes=diagonal_axes)
    oracle = ntk.empirical(params, x, backend="neural_tangents", **kw)
    for backend in ("closed_form", "autodiff"):
        mine = ntk.empirical(params, x, backend=backend, **kw)
        assert mine.shape == oracle.shape
        assert rel_err(mine, oracle) < 1e-10


def test_auto_backend_is_neural_tangents_here(nt, key):
    assert ntk.neural_tangents_available()
    params = jaxntk.init_params(key, 5, 30, 2)
    x = unit_rows(jax.random.key(1), 6, 5)
    assert (
        rel_err(ntk.empirical(params, x), ntk.empirical(params, x, backend="closed_form")) < 1e-10
    )


def test_infinite_width_relu_equals_nt_stax_kernel(nt):
    # NT's ntk parameterization: z = (W_std / sqrt(d)) W x, all layers trained. With W_std = sqrt(d)
    # (so w ~ N(0, I) as ours) and a unit-std readout, its NTK is the readout's part (= the NNGP
    # kernel) plus ours: (x.x') (pi - theta) / (2 pi). So ours = ntk - nngp.
    d = 6
    x1 = unit_rows(jax.random.key(0), 9, d)
    x2 = unit_rows(jax.random.key(1), 4, d)
    _, _, kernel_fn = nt.stax.serial(
        nt.stax.Dense(512, W_std=math.sqrt(d), b_std=None),
        nt.stax.Relu(),
        nt.stax.Dense(1, W_std=1.0, b_std=None),
    )
    for second in (None, x2):
        k = kernel_fn(x1, second, ("ntk", "nngp"))
        mine = ntk.infinite_width_relu(x1, second)
        assert rel_err(mine, k.ntk - k.nngp) < 1e-5
