"""The native NTK backends against neural-tangents, the oracle, in both environments.

neural-tangents comes through ``jaxntk.ntk.import_neural_tangents`` (on current JAX with the
compatibility layer of ``jaxntk._nt_compat``; on jax 0.4.23 unpatched). The ``nt`` fixture skips
these where it is not installed, and fails them when JAXNTK_REQUIRE_NT=1 (``make test``).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_ntk import AXES, node_scales, rel_err

import jaxntk
from jaxntk import ntk, scaling

from helpers import unit_rows


def kernel(params, x1, x2=None, **kw):
    """ntk.empirical as one compiled program (eagerly each new shape compiles op by op)."""
    node_scale = kw.pop("node_scale", None)
    return jax.jit(lambda p, a, b, s: ntk.empirical(p, a, b, node_scale=s, **kw))(
        params, x1, x2, node_scale
    )


def problem(key, dtype, out_dim, scale_kind, two_inputs):
    """params, x1, x2 (None or 5 other points) and node scales."""
    k_p, k_1, k_2, k_s = jax.random.split(key, 4)
    params = jaxntk.init_params(k_p, 6, 40, out_dim, dtype=dtype)
    x2 = unit_rows(k_2, 5, 6, dtype) if two_inputs else None
    return params, unit_rows(k_1, 7, 6, dtype), x2, node_scales(scale_kind, k_s, 40, dtype)


@pytest.mark.parametrize(("dtype", "tol"), [(jnp.float32, 1e-5), (jnp.float64, 1e-10)])
@pytest.mark.parametrize("out_dim", [1, 10])
@pytest.mark.parametrize("scale_kind", [None, "mask", "lam"])
@pytest.mark.parametrize("two_inputs", [False, True])
def test_native_backends_equal_every_nt_implementation(
    nt, key, dtype, tol, out_dim, scale_kind, two_inputs
):
    params, x1, x2, s = problem(key, dtype, out_dim, scale_kind, two_inputs)
    kw = dict(node_scale=s, trace_axes=())
    closed = kernel(params, x1, x2, backend="closed_form", **kw)
    auto = kernel(params, x1, x2, backend="autodiff", **kw)
    for implementation in ntk.NT_IMPLEMENTATIONS:
        oracle = ntk.empirical(
            params, x1, x2, backend="neural_tangents", implementation=implementation, **kw
        )
        assert oracle.shape == closed.shape and oracle.dtype == dtype
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
    closed = kernel(params, x1, x2, backend="closed_form", **kw)
    for implementation in ntk.NT_IMPLEMENTATIONS:
        oracle = ntk.empirical(
            params, x1, x2, backend="neural_tangents", implementation=implementation, **kw
        )
        assert rel_err(closed, oracle) < tol, implementation


@pytest.mark.parametrize(("trace_axes", "diagonal_axes"), AXES)
def test_output_axis_conventions_match_nt(nt, key, trace_axes, diagonal_axes):
    params, x1, _, _ = problem(key, jnp.float64, 3, None, False)
    x2 = x1[::-1] ** 2  # as many rows as x1: batch traces/diagonals pair x1[i] with x2[i]
    kw = dict(trace_axes=trace_axes, diagonal_axes=diagonal_axes)
    for second in (None, x2):
        mine = [kernel(params, x1, second, backend=b, **kw) for b in ("closed_form", "autodiff")]
        for implementation in ntk.NT_IMPLEMENTATIONS:
            oracle = ntk.empirical(
                params, x1, second, backend="neural_tangents", implementation=implementation, **kw
            )
            for backend, value in zip(("closed_form", "autodiff"), mine):
                assert value.shape == oracle.shape
                assert rel_err(value, oracle) < 1e-10, (backend, implementation, second is None)


def test_infinite_width_relu_equals_nt_stax_kernels(nt):
    # NT's ntk parameterization: z = (W_std / sqrt(d)) W x, all layers trained. With W_std = sqrt(d)
    # (so w ~ N(0, I) as ours) and a unit-std readout, the NNGP kernel is the degree-1 arc-cosine
    # kernel |x||x'| (sin t + (pi - t) cos t) / (2 pi) (Cho & Saul 2009) and the NTK is that (the
    # readout's part) plus ours, (x.x') (pi - t) / (2 pi), t the angle between x and x'.
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
        other = x1 if second is None else second
        cos = np.clip(np.asarray(x1) @ np.asarray(other).T, -1.0, 1.0)  # unit rows (NumPy)
        angle = np.arccos(cos)
        nngp = (np.sin(angle) + (np.pi - angle) * cos) / (2 * np.pi)
        mine = np.asarray(ntk.infinite_width_relu(x1, second))
        nt_ntk, nt_nngp = np.asarray(k.ntk), np.asarray(k.nngp)
        assert rel_err(nngp, nt_nngp) < 1e-5
        assert rel_err(nngp + mine, nt_ntk) < 1e-5
        assert rel_err(mine, nt_ntk - nt_nngp) < 1e-5
