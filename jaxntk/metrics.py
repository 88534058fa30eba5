r"""What the papers measure on a network, in one place.

* ``risk``: mean((f - y)^2) over rows and outputs — the quantity the asymmetrical-scaling figures
  plot, whatever loss the steps descend (it is ``jaxntk.losses.mean``);
* ``accuracy``: argmax agreement with one-hot targets;
* ``node_movement``: ||w_j(t) - w_j(0)|| of every node (feature learning iff it stays O(1) for
  the heavy nodes as m grows, i.e. gamma < 1);
* ``ntg_min_eig`` and ``ntg_change``: the smallest eigenvalue of a Neural Tangent Gram and
  ||Theta_t - Theta_0||_2 (a symmetric matrix's spectral norm: its largest |eigenvalue|);
* ``importance``: sum_c (s_j a_cj)^2, the order in which pruning removes nodes;
* ``target_energy``: the fraction of the targets' energy in a kernel's top eigenvectors (how
  easy the targets are for kernel GD: the top directions converge first).
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxntk import losses

risk = losses.mean


def accuracy(pred, y):
    """Fraction of rows whose argmax output is the argmax target (one-hot classification)."""
    return jnp.mean(jnp.argmax(pred, axis=-1) == jnp.argmax(y, axis=-1))


def node_movement(w, w0):
    """(..., width) ||w_j - w0_j||: how far every node's weight vector moved."""
    return jnp.linalg.norm(w - w0, axis=-1)


def _eigenvalues(matrices):
    """Ascending eigenvalues of the symmetrised (..., P, P) matrices."""
    return jnp.linalg.eigvalsh(0.5 * (matrices + jnp.swapaxes(matrices, -1, -2)))


def ntg_min_eig(thetas):
    """(...,) the smallest eigenvalue of each (..., P, P) NTG."""
    return _eigenvalues(thetas)[..., 0]


def ntg_change(thetas, theta0):
    """(...,) ||Theta_t - Theta_0||_2 for each (..., P, P) Theta_t."""
    change = thetas - jnp.broadcast_to(theta0, thetas.shape)  # explicit: rank promotion may raise
    return jnp.max(jnp.abs(_eigenvalues(change)), axis=-1)


def importance(params, node_scale=None):
    """(width,) sum_c (s_j a_cj)^2: lam_j times sum_c a_cj^2 (C lam_j for +-1 signs)."""
    scale = 1.0 if node_scale is None else node_scale[:, None]
    return jnp.sum((scale * params["a"]) ** 2, axis=1)


def target_energy(kernel, y, ks):
    """(len(ks),) fraction of ||y||^2 in the span of the kernel's top-k eigenvectors, each k.

    kernel: (n, n) symmetric PSD; y: (n,) or (n, C). Kernel GD fits the component of y along an
    eigenvector of eigenvalue mu at rate (1 - lr mu)^t: targets whose energy sits in the top
    directions are fitted fast, the rest is optimisation error for a long time (one-hot labels
    of raw pixels against a trained head's logits, ``jaxntk.data.logits``).
    """
    _, vectors = jnp.linalg.eigh(0.5 * (kernel + kernel.T))  # ascending eigenvalues
    y = jnp.reshape(y, (y.shape[0], -1))
    per_direction = jnp.sum((vectors[:, ::-1].T @ y) ** 2, axis=1)  # largest eigenvalue first
    return (jnp.cumsum(per_direction) / jnp.sum(per_direction))[jnp.asarray(ks) - 1]
