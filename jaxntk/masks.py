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


def bernoulli(key, num_subnets: int, width: int, keep_prob, *, dtype=None):
    """(num_subnets, width) masks with i.i.d. Bernoulli(keep_prob) entries in {0., 1.}.

    ``keep_prob`` may be a traced scalar (a sweep over keep probabilities under vmap).
    """
    _validate.key(key)
    num_subnets = _validate.integer("num_subnets", num_subnets, minimum=1)
    width = _validate.integer("width", width, minimum=1)
    _validate.probability("keep_prob", keep_prob)
    dtype = dtype or jnp.zeros(()).dtype
    return jax.random.bernoulli(key, keep_prob, (num_subnets, width)).astype(dtype)


def categorical(key, num_subnets: int, width: int, *, dtype=None):
    """(num_subnets, width) masks in which every column holds exactly one 1 (a partition)."""
    _validate.key(key)
    num_subnets = _validate.integer("num_subnets", num_subnets, minimum=1)
    width = _validate.integer("width", width, minimum=1)
    dtype = dtype or jnp.zeros(()).dtype
    owner = jax.random.randint(key, (width,), 0, num_subnets)
    return jax.nn.one_hot(owner, num_subnets, dtype=dtype).T


def sample(key, kind: str, num_subnets: int, width: int, keep_prob=None, *, dtype=None):
    """Masks of the named ``kind``; ``keep_prob`` is used by "bernoulli" only."""
    _validate.choice("mask", kind, MASK_KINDS)
    if kind == "categorical":
        return categorical(key, num_subnets, width, dtype=dtype)
    return bernoulli(key, num_subnets, width, keep_prob, dtype=dtype)


def aggregate(w, w_sub, masks, *, unsampled: str = "keep"):
    """Average each neuron over the surrogates that held it.

    Args:
      w: (width, in_dim) weights at the start of the round.
      w_sub: (num_subnets, width, in_dim) each surrogate's weights after its local steps.
      masks: (num_subnets, width) the round's masks.
      unsampled: "keep" leaves a neuron no surrogate held unchanged (bit for bit); "zero" sets it
        to zero like the official code.

    Returns:
      (width, in_dim) aggregated weights.
    """
    _validate.choice("unsampled", unsampled, UNSAMPLED_RULES)
    holders = jnp.sum(masks, axis=0)  # N_j
    held = holders > 0
    mean_delta = (
        jnp.einsum("kj,kjd->jd", masks, w_sub - w[None]) / jnp.where(held, holders, 1)[:, None]
    )
    fallback = w if unsampled == "keep" else jnp.zeros_like(w)
    return jnp.where(held[:, None], w + mean_delta, fallback)
