"""Pruning by node importance without retraining (Caron et al., arXiv 2302.01002, §"pruning").

Node j's importance is sum_c a_cj^2 lam_j = sum_c (s_j a_cj)^2 with s = sqrt(lam) the node scale
(lam_j for a single +-1 output, C lam_j for C outputs). Pruning removes the least important
nodes first — the official code sets lam_j = 0 without renormalising the others and without
retraining, which is what is done here: after pruning the first k nodes of the order,
f_k(x) = c_out sum_{j kept} s_j a_j relu(w_j . x).

Ties (every node ties when gamma = 1) are broken by node index (stable sort), or at random by a
``key``. The whole curve is one matrix product: hidden activations (n, m) times a
(m, len(counts) * C) matrix of kept, scaled output weights — no loop over nodes, no mutation.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxntk import _validate, metrics, model
from jaxntk.gd import check_inputs


class PruneCurve(NamedTuple):
    """Risks after pruning ``counts[i]`` nodes (leading axes if vmapped).

    Attributes:
      counts: (K,) number of pruned nodes.
      train_risk, test_risk: (K,) mean((f - y)^2); test_risk None without test data.
      train_acc, test_acc: (K,) argmax accuracy for C > 1 outputs, else None.
    """

    counts: jax.Array
    train_risk: jax.Array
    test_risk: jax.Array | None
    train_acc: jax.Array | None
    test_acc: jax.Array | None


importance = metrics.importance  # (width,) sum_c (s_j a_cj)^2, see jaxntk.metrics


def order(params, node_scale=None, *, key=None, descending: bool = False):
    """Node indices by importance (ascending: the pruning order; descending: top features).

    Ties go by node index, or in a random order drawn from ``key``.
    """
    score = importance(params, node_scale)
    width = score.shape[0]
    perm = jnp.arange(width) if key is None else jax.random.permutation(key, width)
    keyed = -score[perm] if descending else score[perm]
    return perm[jnp.argsort(keyed)]  # jnp.argsort is stable by default


def outputs_after_pruning(params, x, counts, node_scale=None, *, key=None):
    """(len(counts), n, C) outputs with the ``counts[i]`` least important nodes removed."""
    counts = jnp.asarray(counts)
    scale = jnp.ones(params["w"].shape[0], params["w"].dtype) if node_scale is None else node_scale
    rank = jnp.argsort(order(params, node_scale, key=key))  # node j's place in the order
    kept = (rank[None, :] >= counts[:, None]).astype(scale.dtype)  # (K, m)
    out_weights = kept[:, :, None] * model.output_weights(params, scale)[None]
    return jnp.einsum("nm,kmc->knc", model.features(params, x), out_weights)


def prune_curve(
    params, node_scale, x, y, counts, *, x_test=None, y_test=None, key=None
) -> PruneCurve:
    """Risks (and accuracies for C > 1) after pruning each number of nodes in ``counts``.

    Args:
      params: trained parameters (e.g. from ``jaxntk.train_gd``).
      node_scale: (width,) sqrt(lam), or None for an unscaled network (ties everywhere).
      x, y: training inputs and targets.
      counts: numbers of pruned nodes, each in [0, width] (the official grid: 0, 100, ..., m).
      x_test, y_test: optional test set.
      key: optional PRNG key for random tie-breaking (default: by node index).

    Returns:
      A ``PruneCurve``. Pruning all nodes gives f = 0, so risk = mean(y^2).
    """
    check_inputs(params, x, y, node_scale, x_test, y_test)
    if key is not None:
        _validate.key(key)
    _validate.counts("counts", counts, low=0, high=params["w"].shape[0])
    counts = jnp.asarray(counts)
    classify = y.shape[1] > 1

    def risks(inputs, targets):
        pred = outputs_after_pruning(params, inputs, counts, node_scale, key=key)
        risk = jnp.mean((pred - targets[None]) ** 2, axis=(1, 2))
        acc = jax.vmap(metrics.accuracy, in_axes=(0, None))(pred, targets) if classify else None
        return risk, acc

    train_risk, train_acc = risks(x, y)
    test_risk, test_acc = (None, None) if x_test is None else risks(x_test, y_test)
    return PruneCurve(counts, train_risk, test_risk, train_acc, test_acc)
