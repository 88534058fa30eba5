"""Synthetic data drawn from a key.

``unit_norm_regression`` stands in for the masked-neurons paper's data (Liao & Kyrillidis 2022,
§4): 2048-dimensional ResNet50 features of CIFAR-10 with the fine-tuned head's 10 logits as targets,
preprocessed by the official ``load_data`` (rows to unit L2 norm, targets divided by max |y|).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxntk import _validate


def _checked(key, n, in_dim, noise=0.0, dtype=None):
    """Validated (n, in_dim, dtype) of a synthetic draw."""
    _validate.key(key)
    n = _validate.integer("n", n, minimum=1)
    in_dim = _validate.integer("in_dim", in_dim, minimum=1)
    _validate.nonnegative("noise", noise)
    return n, in_dim, dtype or jnp.zeros(()).dtype


def _unit_rows(key, n, in_dim, dtype):
    """n points uniform on the unit sphere S^{d-1} (normalised Gaussians)."""
    g = jax.random.normal(key, (n, in_dim), dtype)
    return g / jnp.linalg.norm(g, axis=1, keepdims=True)


def unit_norm_regression(key, n: int, in_dim: int, out_dim: int = 10, *, dtype=None):
    r"""Unit-norm inputs and smooth targets scaled to max |y| = 1.

    x_i = g_i / ||g_i|| with g_i ~ N(0, I_d); y = tanh(sqrt(d) X T) with T ~ N(0, I/d) (d x C),
    then y / max |y| as the official ``load_data`` does. No two x_i are parallel (almost surely),
    so the infinite-width NTK Gram is positive definite.

    Returns:
      ``(x, y)`` of shapes (n, in_dim) and (n, out_dim).
    """
    n, in_dim, dtype = _checked(key, n, in_dim, dtype=dtype)
    out_dim = _validate.integer("out_dim", out_dim, minimum=1)
    key_x, key_t = jax.random.split(key)
    x = _unit_rows(key_x, n, in_dim, dtype)
    teacher = jax.random.normal(key_t, (in_dim, out_dim), dtype)  # x . t ~ N(0, 1) for unit x
    y = jnp.tanh(x @ teacher)
    return x, y / jnp.max(jnp.abs(y))


def sphere_sin(key, n: int, in_dim: int = 50, *, noise: float = 0.1, dtype=None):
    r"""The asymmetric-scaling paper's simulated data (official ``simulations/sample_data.py``).

    x uniform on the unit sphere S^{d-1} (a normalised Gaussian),
    y = mean_k 5 sin(pi x_k) + noise * eps, eps ~ N(0, 1); d = 50 and n = 100 train + 100 test in
    the paper. Draw train and test together (one call, then split) so they share the law.

    Returns:
      ``(x, y)`` of shapes (n, in_dim) and (n, 1).
    """
    n, in_dim, dtype = _checked(key, n, in_dim, noise, dtype)
    key_x, key_e = jax.random.split(key)
    x = _unit_rows(key_x, n, in_dim, dtype)
    eps = jax.random.normal(key_e, (n, 1), dtype)
    y = jnp.mean(5.0 * jnp.sin(jnp.pi * x), axis=1, keepdims=True) + noise * eps
    return x, y


def relu_teacher(key, n: int, in_dim: int, *, noise: float = 0.0, dtype=None):
    r"""A single-ReLU teacher: y = relu(w* . x) + noise * eps, x uniform on S^{d-1}, ||w*|| = 1.

    For checking that the large-lam nodes of an asymmetrically scaled network turn towards w*
    (the v2 summary of Caron et al.'s "single ReLU unit teacher" figure).

    Returns:
      ``(x, y, w_star)`` of shapes (n, in_dim), (n, 1) and (in_dim,).
    """
    n, in_dim, dtype = _checked(key, n, in_dim, noise, dtype)
    key_x, key_w, key_e = jax.random.split(key, 3)
    x = _unit_rows(key_x, n, in_dim, dtype)
    w_star = jax.random.normal(key_w, (in_dim,), dtype)
    w_star = w_star / jnp.linalg.norm(w_star)
    y = jax.nn.relu(x @ w_star)[:, None] + noise * jax.random.normal(key_e, (n, 1), dtype)
    return x, y, w_star
