r"""Random neuron masks and the aggregation of masked surrogates (Liao & Kyrillidis 2022, §2).

A round samples K masks M^1..M^K in {0, 1}^m, one per surrogate:

* ``bernoulli``: every entry i.i.d. Bernoulli(keep_prob) (dropout, multi-sample dropout);
* ``categorical``: every neuron belongs to exactly one surrogate, drawn uniformly (Independent
  Subnet Training); the marginal keep probability is 1/K.

Surrogate l is the network with node scale M^l / keep_prob (inverted dropout): then
E_M[f_M] = f, and for categorical masks (keep_prob = 1/K) the mean of the K surrogates is f exactly.

Aggregation: N_j = sum_l M^l_j surrogates hold neuron j; its new weight is the mean of their
weights, w_j <- w_j + (1/N_j) sum_{l: M^l_j = 1} (w^l_j - w_j). A neuron no surrogate held
(N_j = 0) is left unchanged (``unsampled="keep"``, the theory) or set to zero
(``unsampled="zero"``, what the official code does; with relu'(0) = 0 it then stays dead).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxntk import _validate

MASK_KINDS = ("bernoulli", "categorical")
UNSAMPLED_RULES = ("keep", "zero")


def _rows(num_subnets, rows):
    """The number of rows of a draw: ``rows`` (a sweep's K_max) or num_subnets (validated)."""
    if rows is None:
        return _validate.integer("num_subnets", num_subnets, minimum=1)
    return _validate.integer("rows", rows, minimum=1)


def bernoulli(key, num_subnets, width: int, keep_prob, *, dtype=None, rows=None):
    """(num_subnets, width) masks with i.i.d. Bernoulli(keep_prob) entries in {0., 1.}.

    Row l is drawn from ``fold_in(key, l)``, so the first K rows of a draw do not depend on how
    many rows are drawn: a sweep pads K to its largest value (``rows``, static) and each cell's
    first K rows are exactly its own run's masks. With ``rows``, ``num_subnets`` may be traced;
    rows l >= num_subnets hold nothing. ``keep_prob`` may be traced (a sweep under vmap). The
    uniforms compared with keep_prob have the masks' dtype, so the draw depends on ``dtype``.
    """
    _validate.key(key)
    count = _rows(num_subnets, rows)
    width = _validate.integer("width", width, minimum=1)
    _validate.probability("keep_prob", keep_prob)
    dtype = dtype or jnp.zeros(()).dtype
    keep_prob = jnp.asarray(keep_prob, dtype)
    index = jnp.arange(count)
    def row(i):
        return jax.random.bernoulli(jax.random.fold_in(key, i), keep_prob, (width,))

    held = jax.vmap(row)(index)
    if rows is not None:
        held = held & (index < num_subnets)[:, None]
    return held.astype(dtype)


def categorical(key, num_subnets, width: int, *, dtype=None, rows=None):
    """(num_subnets, width) masks in which every column holds exactly one 1 (a partition).

    Neuron j's owner is uniform on [0, num_subnets). With ``rows`` (static, >= num_subnets) the
    masks have ``rows`` rows, the last ones empty, and ``num_subnets`` may be traced.
    """
    _validate.key(key)
    count = _rows(num_subnets, rows)
    width = _validate.integer("width", width, minimum=1)
    dtype = dtype or jnp.zeros(()).dtype
    owner = jax.random.randint(key, (width,), 0, num_subnets)
    return jax.nn.one_hot(owner, count, dtype=dtype).T


def sample(key, kind: str, num_subnets, width: int, keep_prob=None, *, dtype=None, rows=None):
    """Masks of the named ``kind``; ``keep_prob`` is used by "bernoulli" only."""
    _validate.choice("mask", kind, MASK_KINDS)
    if kind == "categorical":
        return categorical(key, num_subnets, width, dtype=dtype, rows=rows)
    return bernoulli(key, num_subnets, width, keep_prob, dtype=dtype, rows=rows)


def average(w, summed_delta, masks, *, unsampled: str = "keep"):
    """Move each neuron by the mean of its holders' deltas, given their sum.

    Args:
      w: (width, in_dim) weights at the start of the round.
      summed_delta: (width, in_dim) sum over the surrogates that held neuron j of their change
        w^l_j - w_j (the fast paths form it without the per-surrogate weights).
      masks: (num_subnets, width) the round's masks.
      unsampled: "keep" leaves a neuron no surrogate held unchanged (bit for bit); "zero" sets it
        to zero like the official code.
    """
    _validate.choice("unsampled", unsampled, UNSAMPLED_RULES)
    holders = jnp.sum(masks, axis=0)  # N_j
    held = holders > 0
    moved = w + summed_delta / jnp.where(held, holders, 1)[:, None]
    fallback = w if unsampled == "keep" else jnp.zeros_like(w)
    return jnp.where(held[:, None], moved, fallback)


def aggregate(w, w_sub, masks, *, unsampled: str = "keep"):
    """Average each neuron over the surrogates that held it.

    Args:
      w: (width, in_dim) weights at the start of the round.
      w_sub: (num_subnets, width, in_dim) each surrogate's weights after its local steps.
      masks: (num_subnets, width) the round's masks.
      unsampled: "keep" or "zero", see ``average``.

    Returns:
      (width, in_dim) aggregated weights.
    """
    summed = jnp.einsum("kj,kjd->jd", masks, w_sub - w[None])
    return average(w, summed, masks, unsampled=unsampled)
