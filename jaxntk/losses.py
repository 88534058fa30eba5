r"""Squared-loss conventions of the two papers and their official codes, by name.

With residual r = f(X) - Y of shape (n, C):

=============  =============================  ==============================================
name           value                          used by
=============  =============================  ==============================================
"half_sum"     1/2 * sum(r^2)                 the theory of both papers (Du et al. 2019)
"half_mean"    1/2 * sum(r^2) / n             official MaskedNTK-TMLR code (``mse_loss``)
"mean"         mean(r^2) = sum(r^2) / (n C)   official asymmetrical_scaling code (MSELoss)
"softmax_ce"   mean_i -sum_c y_ic log softmax  official asymmetrical_scaling CIFAR run
               (f(x_i))_c, y one-hot           (CrossEntropyLoss)
=============  =============================  ==============================================

"half_sum" is the default everywhere in jaxntk. A gradient step at ``lr`` on "half_mean" is a step
at ``lr / n`` on "half_sum", and on "mean" a step at ``2 lr / (n C)``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxntk import _validate


def half_sum(pred, y):
    return 0.5 * jnp.sum((pred - y) ** 2)


def half_mean(pred, y):
    return 0.5 * jnp.sum((pred - y) ** 2) / pred.shape[0]


def mean(pred, y):
    return jnp.mean((pred - y) ** 2)


def softmax_ce(pred, y):
    """Cross-entropy of softmax(pred) against one-hot (or probability) rows of ``y``."""
    return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(pred, axis=-1), axis=-1))


LOSSES: dict[str, Callable] = {
    "half_sum": half_sum,
    "half_mean": half_mean,
    "mean": mean,
    "softmax_ce": softmax_ce,
}


def get(name: str) -> Callable:
    """The loss ``(pred, y) -> scalar`` registered under ``name``."""
    return LOSSES[_validate.choice("loss", name, LOSSES)]
