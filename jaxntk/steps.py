r"""The one local-step loop: ``num_steps`` optax updates under ``lax.scan``.

Every trainer in jaxntk runs it: the masked surrogates' local steps on W (``jaxntk.rounds``'
weight-space paths) or on the pre-activations Z (its Gram paths, where the update direction is
K G rather than the gradient G, see ``transform``), full-batch GD (``jaxntk.gd``) and the transfer
heads (``jaxntk.transfer``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import optax


class Descent(NamedTuple):
    """What ``descend`` returns.

    Attributes:
      params: the parameters after the steps.
      opt_state: the optimizer state after them (pass it back to continue).
      losses: (num_steps,) the loss before every step.
      grad_sum: the sum of the steps' gradients (``sum_grads=True``), else None.
    """

    params: object
    opt_state: object
    losses: jax.Array
    grad_sum: object


def descend(loss_fn, params, optimizer: optax.GradientTransformation, num_steps: int, *,
            opt_state=None, transform=None, sum_grads: bool = False) -> Descent:  # fmt: skip
    """``num_steps`` steps of ``optimizer`` on ``loss_fn(params)``, one ``lax.scan``.

    Args:
      loss_fn: ``params -> scalar``.
      params: the starting point (any pytree).
      optimizer: an optax transformation (``optax.sgd(lr)`` throughout jaxntk).
      num_steps: static number of steps (0 returns the inputs).
      opt_state: the state to continue from (default: ``optimizer.init(params)``, a fresh one).
      transform: optional map from the gradient to the direction the optimizer sees.
      sum_grads: also return the sum of the (untransformed) gradients.
    """
    if opt_state is None:
        opt_state = optimizer.init(params)
    zeros = jax.tree_util.tree_map(jax.numpy.zeros_like, params) if sum_grads else None

    def step(carry, _):
        p, state, total = carry
        value, grad = jax.value_and_grad(loss_fn)(p)
        direction = grad if transform is None else transform(grad)
        updates, state = optimizer.update(direction, state, p)
        if sum_grads:
            total = jax.tree_util.tree_map(jax.numpy.add, total, grad)
        return (optax.apply_updates(p, updates), state, total), value

    (params, opt_state, total), values = jax.lax.scan(
        step, (params, opt_state, zeros), None, length=num_steps
    )
    return Descent(params, opt_state, values, total)
