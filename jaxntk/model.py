r"""The one model of both papers: a shallow ReLU network with fixed output signs.

.. math::

    f(x) = c_{\mathrm{out}} \sum_{j=1}^{m} s_j \, a_j \, \mathrm{relu}(w_j \cdot x),
    \qquad a_j \in \{\pm 1\}^C \text{ fixed}, \quad W = (w_1, \dots, w_m) \text{ trained}.

The per-node scale ``s`` is what distinguishes the papers:

* randomly masked neurons (Liao & Kyrillidis 2022, §2): a surrogate uses ``s = mask / keep_prob``;
* asymmetrical node scaling (Caron et al. 2023, §1): ``s = sqrt(lam)`` with ``sum(lam) = 1``.

The input may be multiplied by a fixed ``in_scale`` first (the official asymmetric-scaling code's
1/sqrt(d) input layer): f(x) = c_out sum_j s_j a_j relu(w_j . (in_scale x)).

Parameterizations (``init_params(..., parameterization=...)``):

========  ===========================  ===========================  ==========================
name      w_j at init                  c_out                        source
========  ===========================  ===========================  ==========================
"ntk"     N(0, init_scale^2 I)         1/sqrt(width)                the theory (Du et al. 2019)
"code"    N(0, I/width)                1/sqrt(out_dim)              official MaskedNTK-TMLR code
"scaled"  N(0, init_scale^2 I)         1                            node-scaling theory (below)
"asym_    N(0, 2 I), in_scale          1                            official asymmetrical_
code"     1/sqrt(in_dim)                                            scaling code
========  ===========================  ===========================  ==========================

"scaled" and "asym_code" are meant for node scales ``s = sqrt(lam)`` with ``sum(lam) = 1``
(``jaxntk.scaling.node_scales``): lam = 1/m already carries the NTK parameterization's 1/sqrt(m),
so "scaled" with lam = 1/m *is* "ntk" (same key, same function), and "ntk" with a node scale
sqrt(lam) would apply 1/sqrt(m) twice. "asym_code" reproduces the official code's numbers: its
gradients, weight movements and NTK are w.r.t. the N(0, 2I) weights behind the 1/sqrt(d) input
layer (an NTK 1/d of "scaled"'s on the same inputs).

Because relu is positively homogeneous the two describe the same functions: with
``w = w_ntk / sqrt(m)``, ``f_code(w) = f_ntk(w_ntk) / sqrt(C)``; gradient descent at learning rate
``lr`` on the "code" weights is descent at ``m * lr`` on the "ntk" ones, so a fixed ``lr`` is a
different effective step at every width there.

``params`` is a dict pytree: ``"w"`` (width, in_dim) — the only trainable array —, ``"a"``
(width, out_dim) fixed signs, ``"out_scale"`` and ``"in_scale"`` (0-d arrays) fixed.
Differentiate with respect to ``params["w"]`` only (see ``jaxntk.train``).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxntk import _validate

PARAMETERIZATIONS = ("ntk", "code", "scaled", "asym_code")
# Parameterizations meant for node scales sqrt(lam), sum(lam) = 1 (output scale 1).
NODE_SCALED = ("scaled", "asym_code")


class ShallowReLU(nn.Module):
    """The network as a flax module. Its only parameter is ``w`` (width, in_dim).

    The fixed output signs ``a``, the output scale and the per-node scale are call arguments, not
    parameters, so ``jax.grad`` of ``apply`` with respect to the flax parameters is the gradient
    with respect to W alone. ``x`` may be one example (in_dim,) or a batch (n, in_dim).
    """

    width: int
    init_std: float = 1.0

    @nn.compact
    def __call__(self, x, a, out_scale, node_scale=None, in_scale=None):
        w = self.param(
            "w", nn.initializers.normal(stddev=self.init_std), (self.width, x.shape[-1]), x.dtype
        )
        params = {"w": w, "a": a, "out_scale": out_scale}
        if in_scale is not None:
            params["in_scale"] = in_scale
        return readout(preactivations(params, x), output_weights(params, node_scale))


# The forward pass in three pieces, shared by ``apply``, pruning, transfer and every round path of
# masked training (which steps in pre-activation space): f = readout(preactivations, out weights).


def preactivations(params: dict, x):
    """Z = (in_scale x) W^T: (..., width) pre-activations (a dict without "in_scale": 1)."""
    in_scale = params.get("in_scale")
    if in_scale is not None:
        x = x * in_scale
    return x @ params["w"].T


def output_weights(params: dict, node_scale=None):
    """(width, C) weights of the linear readout: out_scale * s_j * a_j (s = 1 without a scale).

    Scaling the (width, C) signs is cheaper than scaling the (n, width) activations.
    """
    a = params["a"] if node_scale is None else node_scale[:, None] * params["a"]
    return params["out_scale"] * a


def readout(pre, out_weights):
    """relu(Z) @ out_weights; relu'(0) = 0, so a zeroed node stays dead."""
    return jax.nn.relu(pre) @ out_weights


def features(params: dict, x):
    """relu((in_scale x) W^T): (..., width) hidden features, before any node scale."""
    return jax.nn.relu(preactivations(params, x))


def init_params(
    key,
    in_dim: int,
    width: int,
    out_dim: int = 1,
    *,
    parameterization: str = "ntk",
    init_scale: float = 1.0,
    dtype=None,
) -> dict:
    """Initial parameters of the shallow ReLU network.

    Args:
      key: a JAX PRNG key (``jax.random.key(seed)``).
      in_dim: input dimension d.
      width: number of hidden nodes m.
      out_dim: number of outputs C.
      parameterization: ``"ntk"``, ``"code"``, ``"scaled"`` or ``"asym_code"`` (see the module
        docstring).
      init_scale: kappa, the std of the "ntk" and "scaled" initializations. The official codes
        fix their own, so "code" and "asym_code" accept only 1.0.
      dtype: floating dtype of the arrays (default: JAX's default float, float64 under x64).

    Returns:
      ``{"w": (width, in_dim), "a": (width, out_dim) in {-1, +1}, "out_scale": (),
      "in_scale": ()}``.
    """
    _validate.key(key)
    in_dim = _validate.integer("in_dim", in_dim, minimum=1)
    width = _validate.integer("width", width, minimum=1)
    out_dim = _validate.integer("out_dim", out_dim, minimum=1)
    _validate.choice("parameterization", parameterization, PARAMETERIZATIONS)
    _validate.positive("init_scale", init_scale)
    dtype = _validate.dtype("dtype", dtype)
    _validate.allocation("params['w']", {"width": width, "in_dim": in_dim}, dtype)
    _validate.allocation("params['a']", {"width": width, "out_dim": out_dim}, dtype)

    if parameterization in ("code", "asym_code") and init_scale != 1.0:
        raise ValueError(
            f"init_scale applies to parameterization='ntk' or 'scaled' only: {parameterization!r} "
            f"fixes its own initialization as the official code does; got init_scale={init_scale}"
        )
    in_scale = 1.0
    if parameterization == "ntk":
        init_std, out_scale = float(init_scale), 1.0 / math.sqrt(width)
    elif parameterization == "code":
        init_std, out_scale = 1.0 / math.sqrt(width), 1.0 / math.sqrt(out_dim)
    elif parameterization == "scaled":
        init_std, out_scale = float(init_scale), 1.0
    else:  # asym_code: x / sqrt(d) input layer, He-style N(0, 2 I) first layer
        init_std, out_scale, in_scale = math.sqrt(2.0), 1.0, 1.0 / math.sqrt(in_dim)

    key_w, key_a = jax.random.split(key)
    a = jax.random.rademacher(key_a, (width, out_dim)).astype(dtype)
    variables = ShallowReLU(width, init_std).init(
        key_w, jnp.zeros((in_dim,), dtype), a, jnp.asarray(out_scale, dtype)
    )
    return {
        "w": variables["params"]["w"],
        "a": a,
        "out_scale": jnp.asarray(out_scale, dtype),
        "in_scale": jnp.asarray(in_scale, dtype),
    }


def apply(params: dict, x, *, node_scale=None):
    """The network's output ``out_scale * relu(in_scale x W^T) (node_scale * a)``.

    Args:
      params: from ``init_params`` (a dict without ``"in_scale"`` means in_scale = 1).
      x: (n, in_dim) inputs, or one example (in_dim,).
      node_scale: optional (width,) per-node scale s (masks/keep_prob, sqrt(lam)); default 1.

    Returns:
      (n, out_dim) outputs, or (out_dim,) for one example.
    """
    _validate.network(params, finite=False)
    w = params["w"]
    if x.shape[-1] != w.shape[1]:
        raise ValueError(
            f"x has {x.shape[-1]} features but the network was built for in_dim={w.shape[1]}"
        )
    if node_scale is not None and jnp.shape(node_scale) != (w.shape[0],):
        raise ValueError(
            f"node_scale must have shape (width,) = ({w.shape[0]},), got {jnp.shape(node_scale)}"
        )
    return _apply(w, params["a"], params["out_scale"], params.get("in_scale"), x, node_scale)


@jax.jit  # one program per shape, not one per operation when called eagerly
def _apply(w, a, out_scale, in_scale, x, node_scale):
    return ShallowReLU(w.shape[0]).apply(
        {"params": {"w": w}}, x, a, out_scale, node_scale, in_scale
    )
