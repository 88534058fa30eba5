"""Small data makers and an independent NumPy model for the tests."""

import jax
import jax.numpy as jnp
import numpy as np


def unit_rows(key, n, d, dtype=jnp.float64):
    """n points uniform on the unit sphere S^(d-1) (the theory's ||x|| = 1)."""
    x = jax.random.normal(key, (n, d), dtype)
    return x / jnp.linalg.norm(x, axis=1, keepdims=True)


def regression_data(key, n, d, out_dim=1, dtype=jnp.float64):
    """Unit-norm inputs and smooth O(1) targets y_c = sin(pi * x . t_c) for random directions t."""
    key_x, key_t = jax.random.split(key)
    x = unit_rows(key_x, n, d, dtype)
    t = jax.random.normal(key_t, (d, out_dim), dtype)
    return x, jnp.sin(jnp.pi * (x @ t) / jnp.sqrt(d))


def numpy_forward(w, a, out_scale, x, node_scale=None):
    """f(x) = out_scale * relu(x W^T) (s * a), written with NumPy only."""
    w, a, x = (np.asarray(v, np.float64) for v in (w, a, x))
    s = np.ones(w.shape[0]) if node_scale is None else np.asarray(node_scale, np.float64)
    return float(out_scale) * np.maximum(x @ w.T, 0.0) @ (s[:, None] * a)
