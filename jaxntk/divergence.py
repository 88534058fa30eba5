r"""Divergence: stop a run whose loss blew up, keep its history, and name a stable step size.

``train_masked`` and ``train_gd`` check the logged loss on the host after the compiled run (or
after every checkpoint chunk): a non-finite value, or one above ``divergence_factor`` times the
initial loss, raises ``DivergenceError`` naming the step, the loss and the learning rate, with the
history up to that step attached. The check needs concrete values: under ``jax.jit``/``jax.vmap``
the loss is a tracer and the check is skipped (a compiled function cannot raise on values).

The stable step size (the suggestion in the message). Linearise the network around the initial
weights, f(w) ~ f_0 + J (w - w_0) with J the (nC x P) Jacobian, and let the loss have Hessian
c I in the predictions (the squared losses of ``jaxntk.losses``). A GD step w <- w - lr J^T grad L
moves the residual r = f - y by r <- (I - lr c J J^T) r, and J J^T = Theta is the empirical NTK
over all (point, output) pairs (``ntk.closed_form(..., trace_axes=())`` as an nC x nC matrix). So
GD converges iff |1 - lr c lambda| < 1 for every eigenvalue lambda of Theta:

    lr < 2 / (c lambda_max(Theta)),   c = 1 ("half_sum"), 1/n ("half_mean"), 2/(nC) ("mean").

For "softmax_ce" (mean over n of cross-entropy) the Hessian diag(p) - p p^T has eigenvalues at most
1/2, so c <= 1/(2n) and 2/(c lambda_max) = 4n/lambda_max is a bound beyond which GD is not
guaranteed stable. A masked surrogate has node scale s_j m_j / xi, so its NTK is Theta / xi in
expectation over the masks, and its local steps are stable for lr < 2 xi / (c lambda_max).

Outside the linear (NTK) regime a finite network can exceed the bound and still converge after a
spike (the catapult phase), which is why the stop rule is a loss multiple, not the bound itself.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxntk import _validate, ntk

DEFAULT_FACTOR = 1e3
# eigvalsh of the (P C) x (P C) NTK: keep it at most this size (P points of C outputs each).
MAX_KERNEL_SIZE = 1024


class DivergenceError(FloatingPointError):
    """A training run whose loss became non-finite or grew beyond the allowed multiple.

    Attributes:
      step: the step (``train_gd``) or round (``train_masked``) of the first bad loss.
      loss: that loss value.
      lr: the learning rate of the run.
      stable_lr: the NTK bound 2/(c lambda_max) at the initial parameters (module docstring).
      history: the run's history up to and including ``step`` (a ``MaskedHistory`` or
        ``GDHistory`` cut at that point).
    """

    def __init__(self, message, *, step, loss, lr, stable_lr, history):
        super().__init__(message)
        self.step, self.loss, self.lr = step, loss, lr
        self.stable_lr, self.history = stable_lr, history


def factor(value) -> float | None:
    """A valid ``divergence_factor``: a number > 1, or None (no check)."""
    if value is None:
        return None
    _validate.positive("divergence_factor", value)
    if value <= 1:
        raise ValueError(
            f"divergence_factor must be > 1 (a multiple of the initial loss) or None to turn the "
            f"check off, got {value!r}"
        )
    return float(value)


def curvature(loss: str, n: int, out_dim: int) -> float:
    """c, the Hessian of the loss in the predictions (an upper bound for "softmax_ce")."""
    values = {"half_sum": 1.0, "half_mean": 1.0 / n, "mean": 2.0 / (n * out_dim)}
    values["softmax_ce"] = 0.5 / n
    return values[_validate.choice("loss", loss, values)]


def top_eigenvalue(params, x, *, node_scale=None) -> tuple[float, int]:
    """(lambda_max of the nC x nC empirical NTK, points used): at most MAX_KERNEL_SIZE rows.

    On P < n points the value is scaled by n / P: the top eigenvalue of an NTK Gram (its mean
    mode) grows about linearly with the number of points.
    """
    n, out_dim = x.shape[0], params["a"].shape[1]
    points = max(1, min(n, MAX_KERNEL_SIZE // out_dim))
    theta = ntk.closed_form(params, x[:points], node_scale=node_scale, trace_axes=())
    size = points * out_dim
    matrix = np.asarray(jnp.transpose(theta, (0, 2, 1, 3)).reshape(size, size), np.float64)
    top = float(np.linalg.eigvalsh(0.5 * (matrix + matrix.T))[-1])
    return top * n / points, points


def stable_lr(params, x, *, loss="half_sum", node_scale=None, keep_prob=1.0) -> float:
    """The largest stable GD step 2 keep_prob / (c lambda_max) at ``params`` (module docstring)."""
    top, _ = top_eigenvalue(params, x, node_scale=node_scale)
    c = curvature(loss, x.shape[0], params["a"].shape[1])
    return 2.0 * float(keep_prob) / (c * top) if top > 0 else math.inf


def first_bad(values, divergence_factor) -> int | None:
    """Index of the first non-finite value or one above factor x values[0]; None if none."""
    values = np.asarray(values, np.float64)
    bad = ~np.isfinite(values)
    initial = values[0]
    if divergence_factor is not None and np.isfinite(initial) and initial > 0:
        with np.errstate(invalid="ignore"):
            bad |= values > divergence_factor * initial
    index = np.flatnonzero(bad)
    return int(index[0]) if index.size else None


def is_traced(*values) -> bool:
    return any(isinstance(v, jax.core.Tracer) for v in jax.tree_util.tree_leaves(values))


def check(
    values, steps, *, what, unit, lr, divergence_factor, cut, params, x, loss, node_scale=None,
    keep_prob=1.0, quantity="loss",
) -> None:  # fmt: skip
    """Raise ``DivergenceError`` if ``values`` (the logged loss at ``steps``) diverged.

    ``cut(i)`` returns the history up to and including log index i.
    """
    i = first_bad(values, divergence_factor)
    if i is None:
        return
    value, initial, step = float(values[i]), float(values[0]), int(steps[i])
    reason = (
        "not finite"
        if not math.isfinite(value)
        else f"> {divergence_factor:g} x the initial {initial:.4g}"
    )
    bound = stable_lr(params, x, loss=loss, node_scale=node_scale, keep_prob=keep_prob)
    masked = "" if keep_prob == 1.0 else f" x keep_prob {float(keep_prob):g}"
    raise DivergenceError(
        f"{what} diverged at {unit} {step}: {quantity} {value:.4g} ({reason}) with lr={lr:g}. "
        f"For the {loss!r} loss GD is stable for lr < 2/(c lambda_max){masked} = {bound:.3g} "
        f"(lambda_max: top eigenvalue of the empirical NTK at the initial parameters, see "
        f"jaxntk.divergence); try lr < {bound:.3g}. The history up to {unit} {step} is in this "
        "error's .history (divergence_factor=None turns the check off)",
        step=step,
        loss=value,
        lr=float(lr),
        stable_lr=bound,
        history=cut(i),
    )
