r"""The full-batch training loss of W with its gradient written out: what ``jaxntk.gd`` descends.

With Xs = in_scale X (n, d), Z = Xs W^T (n, m) and the readout weights V = out_scale (s * a)
(m, C) of ``jaxntk.model``, f = relu(Z) V, L = loss(f, Y) and G = dL/df (n, C):

.. math::

    \frac{\partial L}{\partial W} = \big((G V^\top) \odot 1[Z > 0]\big)^\top X_s,
    \qquad C = 1: \ v \odot \big(U^\top 1[Z > 0]\big)^\top, \quad U = X_s \odot G,

the gradient autodiff takes through ``model.apply`` (relu'(0) = 0, as ``jax.nn.relu``), with the
same sums in another order; G comes from autodiff of the loss on the (n, C) outputs, so every
``jaxntk.losses`` entry works. Why by hand: at the asymmetrical-scaling paper's shapes (n 100-3827,
d 4-50, m 2000-4000, C = 1) autodiff left XLA:CPU 2-18x above the step's arithmetic floor,
2 (2ndm + 2nm) FLOP at the machine's matmul rate: its (n, m) arrays Z, relu(Z) and dZ each went
through memory, and its gradient product contracted over the wrong axis. The written-out step
(``_plan`` says which way each d takes, as measured by ``benchmarks/gd_step.py``)

* works on W^T (d, m), so both products, (n, d) (d, m) and (d, n) (n, m), keep m minor;
* for C = 1 never forms G V^T: the mask 1[Z > 0] meets U in one product and v scales the sum;
* runs the backward pass over row blocks for d <= 16, so a block's Z and mask stay in cache
  between the product that makes them and the one that reads them (the loss needs all of f
  first, so the forward pass runs before it: whole, with Z's product, relu, v and the sum over
  nodes fused by XLA, or over the same blocks for d <= 5);
* for d <= 5 forms Z as d multiply-adds inside the elementwise loop that consumes it: a d-term
  matmul costs as much as writing its output, which that loop never writes.

``IMPLEMENTATIONS``: "fused" (that) and "autodiff" (``jax.grad`` through ``model.apply``, the
reference the tests compare it with, and what ``jaxntk.gd`` ran before).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxntk import _validate, losses, model

IMPLEMENTATIONS = ("fused", "autodiff")


class _Plan(NamedTuple):
    """How the fused passes run for d inputs (``_plan``).

    Attributes:
      unrolled: Z as d multiply-adds inside the elementwise loop that consumes it (relu, the
        mask), never written out; else a matmul.
      block_rows: rows per block of the backward pass (and of the forward pass when
        ``unrolled``); None: all rows at once. n <= block_rows is one block.
      node_sum: the C = 1 readout as sum_j relu(z_j) v_j, which XLA:CPU fuses with Z's matmul
        into one loop; else relu(Z) V as a matmul (``model.readout``).
    """

    unrolled: bool
    block_rows: int | None
    node_sum: bool


def _plan(in_dim: int) -> _Plan:
    """The fastest of the ways measured at m = 2000, 5 seeds (``benchmarks/gd_step.py``).

    * d <= 5 (plant 4, airfoil 5): memory bound, a d-term matmul costs as much as writing its
      output: unrolled, both passes over 128-row blocks (a block's (rows, m) array is 1 MB and
      stays in the 2 MB L2). Plant: 1.3x faster than the d <= 16 way (airfoil: a tie); 32, 64
      or 256 rows and a whole-n forward pass lost 5-30 %.
    * d <= 16 (concrete 8): the matmul, with relu, v and the node sum fused after it, makes f
      without an (n, m) array; the backward pass runs over 32-row blocks (128 rows and whole n
      were 1.4x slower, unrolling 1.3x slower, the matmul readout 1.2x).
    * d > 16 (the simulated and teacher d = 50, MNIST 784): the products are compute bound and
      blocks only cut their rows: all rows at once (32-row blocks: 1.4x slower at d = 32, 1.9x at
      MNIST's shape), readout as a matmul (1.2x faster than the node sum at d = 50).
    """
    if in_dim <= 5:
        return _Plan(unrolled=True, block_rows=128, node_sum=False)
    if in_dim <= 16:
        return _Plan(unrolled=False, block_rows=32, node_sum=True)
    return _Plan(unrolled=False, block_rows=None, node_sum=False)


def loss_fn(params: dict, x, y, loss: str, *, node_scale=None, implementation: str = "fused"
            ) -> Callable:  # fmt: skip
    """``w -> loss(apply({**params, "w": w}, x, node_scale=node_scale), y)``, differentiable.

    Args:
      params: the network (``jaxntk.init_params``); its ``"w"`` is not read.
      x, y: (n, in_dim) inputs and (n, out_dim) targets.
      loss: a ``jaxntk.losses`` name.
      node_scale: optional (width,) per-node scale.
      implementation: "fused" (the gradient written out, see the module docstring) or
        "autodiff" (``jax.grad`` through ``model.apply``); the same values and gradients up to
        rounding.

    Returns:
      A function of w (width, in_dim) to the scalar loss, for ``jax.value_and_grad`` (and
      ``jaxntk.steps.descend``).
    """
    _validate.choice("implementation", implementation, IMPLEMENTATIONS)
    loss_of_pred = losses.get(loss)
    if implementation == "autodiff":
        return lambda w: loss_of_pred(model.apply({**params, "w": w}, x, node_scale=node_scale), y)
    in_scale = params.get("in_scale")
    scaled = x if in_scale is None else x * in_scale  # as model.preactivations
    out_weights = model.output_weights(params, node_scale)
    return lambda w: _fused_loss(w, scaled, y, out_weights, loss_of_pred)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _fused_loss(w, x, y, out_weights, loss):
    """loss(relu(x w^T) out_weights, y); its gradient in w is ``_value_and_grad``'s."""
    return loss(_outputs(w.T, x, out_weights, _plan(x.shape[1])), y)


def _fused_loss_bwd(loss, grad, cotangent):
    # Data, targets and readout weights are constants of the descent: no cotangent.
    return cotangent * grad, None, None, None


def _value_and_grad(w, x, y, out_weights, loss):
    """(loss, dL/dw): the forward pass, then G by autodiff of the loss alone, then dL/dw."""
    plan = _plan(x.shape[1])
    w_t = w.T  # (d, m): products with m minor (see the module docstring)
    value, g = jax.value_and_grad(loss)(_outputs(w_t, x, out_weights, plan), y)
    return value, _weight_grad(w_t, x, out_weights, g, plan).T


# The forward rule returns (value, residual): the gradient itself is the residual.
_fused_loss.defvjp(_value_and_grad, _fused_loss_bwd)


def _preactivations(w_t, x, plan: _Plan):
    """Z = x w_t (rows, m)."""
    if not plan.unrolled:
        return x @ w_t
    z = x[:, :1] * w_t[:1]
    for k in range(1, x.shape[1]):
        z = z + x[:, k : k + 1] * w_t[k : k + 1]
    return z


def _outputs(w_t, x, out_weights, plan: _Plan):
    """f = relu(Z) out_weights (n, C)."""

    def readout(xb):
        z = _preactivations(w_t, xb, plan)
        if plan.node_sum and out_weights.shape[1] == 1:
            return jnp.sum(jax.nn.relu(z) * out_weights.T, axis=1, keepdims=True)
        return model.readout(z, out_weights)

    if not plan.unrolled or x.shape[0] <= plan.block_rows:
        return readout(x)
    blocks = jax.lax.map(readout, _blocks(x, plan.block_rows))
    return blocks.reshape(-1, out_weights.shape[1])[: x.shape[0]]


def _weight_grad(w_t, x, out_weights, g, plan: _Plan):
    """dL/dW^T (d, m) from G = dL/df (n, C), summed over row blocks."""
    single = out_weights.shape[1] == 1

    def block(xb, gb):
        active = _preactivations(w_t, xb, plan) > 0
        if single:  # v (.) U^T 1[Z > 0]: v leaves the sum over rows
            return (xb * gb).T @ active.astype(xb.dtype)
        return xb.T @ jnp.where(active, gb @ out_weights.T, 0)

    rows = plan.block_rows
    if rows is None or x.shape[0] <= rows:
        total = block(x, g)
    else:
        total = jax.lax.scan(
            lambda acc, xg: (acc + block(*xg), None),
            jnp.zeros_like(w_t),
            (_blocks(x, rows), _blocks(g, rows)),
        )[0]
    return out_weights.T * total if single else total


def _blocks(a, rows: int):
    """(n, k) -> (ceil(n / rows), rows, k), zero rows appended.

    A zero input row has Z = 0, so no active node, and a zero G row adds nothing: padding
    changes neither f's real rows nor any gradient.
    """
    count = -(-a.shape[0] // rows)
    padded = jnp.pad(a, ((0, count * rows - a.shape[0]), (0, 0)))
    return padded.reshape(count, rows, a.shape[1])
