"""jaxntk.metrics against closed forms."""

import jax.numpy as jnp
import numpy as np

import jaxntk
from jaxntk import losses, metrics


def test_risk_and_accuracy(key):
    pred = jnp.array([[0.2, 0.9], [0.8, 0.1], [0.3, 0.4]])
    y = jnp.array([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    assert float(metrics.risk(pred, y)) == float(losses.mean(pred, y))
    np.testing.assert_allclose(metrics.risk(pred, y), np.mean((np.asarray(pred) - y) ** 2))
    np.testing.assert_allclose(metrics.accuracy(pred, y), 2 / 3)


def test_ntg_spectra_of_known_matrices():
    # Rotations of diagonal matrices: eigenvalues are the diagonal entries.
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(4, 4)))
    theta0 = q @ np.diag([1.0, 2.0, 3.0, 4.0]) @ q.T
    thetas = np.stack([q @ np.diag(d) @ q.T for d in ([1.0, 2.0, 3.0, 4.0], [0.5, 2.0, 3.5, 4.0])])
    np.testing.assert_allclose(metrics.ntg_min_eig(thetas), [1.0, 0.5], rtol=1e-12)
    np.testing.assert_allclose(metrics.ntg_change(thetas, theta0), [0.0, 0.5], atol=1e-12)


def test_node_movement_and_importance(key):
    params = jaxntk.init_params(key, 3, 6, 2, parameterization="scaled")
    w1 = params["w"].at[2].add(jnp.array([3.0, 0.0, 4.0]))
    np.testing.assert_allclose(
        metrics.node_movement(w1, params["w"]), [0, 0, 5.0, 0, 0, 0], atol=1e-12
    )
    s = jnp.sqrt(jaxntk.scaling.node_scales(None, 6, gamma=0.5, kind="zipf"))
    # a = +-1 with C = 2 outputs: sum_c (s_j a_cj)^2 = 2 lam_j.
    np.testing.assert_allclose(metrics.importance(params, s), 2 * s**2, rtol=1e-12)
    np.testing.assert_allclose(metrics.importance(params), 2.0)
    assert jaxntk.prune.importance is metrics.importance


def test_target_energy_of_a_rotated_diagonal_kernel():
    # Kernel q diag(mu) q^T with distinct mu: its eigenvectors are q's columns; y built from
    # known coefficients along them has energy c_i^2 / sum c^2 in direction i.
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(5, 5)))
    kernel = q @ np.diag([5.0, 4.0, 3.0, 2.0, 1.0]) @ q.T
    coefficients = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [0.0, 0.0], [3.0, 0.0]])
    energy = (coefficients**2).sum(axis=1)
    got = metrics.target_energy(jnp.asarray(kernel), jnp.asarray(q @ coefficients), [1, 2, 3, 5])
    np.testing.assert_allclose(got, np.cumsum(energy)[[0, 1, 2, 4]] / energy.sum(), rtol=1e-10)
