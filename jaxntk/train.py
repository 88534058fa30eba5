r"""Training with randomly masked neurons (Liao & Kyrillidis 2022, §2, Fig. 1).

One round (global iteration) k:

1. sample K masks M^1..M^K (``jaxntk.masks``), fresh every round;
2. surrogate l is the network with node scale ``node_scale * M^l / keep_prob``;
3. every surrogate runs ``local_steps`` full-batch gradient steps (optax SGD, a fresh optimizer
   state per surrogate and round, as the official code's new Keras SGD) from the round's weights —
   all K at once: ``vmap`` over surrogates, ``lax.scan`` over steps;
4. each neuron is averaged over the surrogates that held it (``jaxntk.masks.aggregate``).

Rounds run under ``lax.scan`` inside one ``jit``: no Python loop over rounds, surrogates or steps.
Only the structure of the run (K, tau, rounds, mask kind, aggregation rule, loss) is static; the
learning rate and keep probability are traced, so changing them does not recompile.

Special cases: dropout (K = 1, tau = 1), multi-sample dropout (K > 1, tau = 1), IST (categorical,
keep_prob = 1/K), full GD (keep_prob = 1, K = 1); see ``jaxntk.presets``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxntk import _validate, losses, masks
from jaxntk.model import apply


@dataclasses.dataclass(frozen=True)
class MaskedConfig:
    """Settings of ``train_masked``.

    Attributes:
      num_subnets: K, surrogates per round (the official code's ``p``).
      keep_prob: xi, probability that a surrogate keeps a neuron; the surrogate output is scaled
        by 1/xi. Required for Bernoulli masks. For categorical masks leave it ``None`` (xi = 1/K);
        any other value reproduces the official code, which scales IST surrogates by 1/``-x``.
      local_steps: tau, full-batch GD steps of every surrogate per round (0 is allowed).
      lr: learning rate of the local steps.
      num_rounds: number of rounds (global iterations).
      mask: "bernoulli" or "categorical".
      unsampled: "keep" (the theory: a neuron no surrogate held is unchanged) or "zero" (the
        official code: it is zeroed and stays dead).
      loss: "half_sum" (default, the theory's 1/2 sum (f-y)^2), "half_mean" (official masked
        code) or "mean" (official asymmetric-scaling code); see ``jaxntk.losses``.
    """

    num_subnets: int
    keep_prob: float | None
    local_steps: int
    lr: float
    num_rounds: int
    mask: str = "bernoulli"
    unsampled: str = "keep"
    loss: str = "half_sum"

    def __post_init__(self):
        _validate.integer("num_subnets", self.num_subnets, minimum=1)
        _validate.integer("local_steps", self.local_steps, minimum=0)
        _validate.integer("num_rounds", self.num_rounds, minimum=0)
        _validate.positive("lr", self.lr)
        _validate.choice("mask", self.mask, masks.MASK_KINDS)
        _validate.choice("unsampled", self.unsampled, masks.UNSAMPLED_RULES)
        _validate.choice("loss", self.loss, losses.LOSSES)
        if self.keep_prob is None:
            if self.mask == "bernoulli":
                raise ValueError(
                    "keep_prob is required for Bernoulli masks: pass a value in (0, 1]"
                )
        else:
            _validate.probability("keep_prob", self.keep_prob)

    @property
    def surrogate_keep_prob(self) -> float:
        """xi used for the 1/xi output scale (1/K for categorical masks unless overridden)."""
        return 1.0 / self.num_subnets if self.keep_prob is None else self.keep_prob


class MaskedHistory(NamedTuple):
    """What ``train_masked`` records (arrays; a leading batch axis when vmapped).

    Attributes:
      loss: (num_rounds + 1,) loss of the full network at the start and after every round.
      local_loss: (num_rounds, local_steps) surrogate loss before every local step, averaged over
        the K surrogates (the official code's ``error_local``).
      dead_fraction: (num_rounds,) fraction of neurons whose weight vector is exactly zero after
        every round (grows only under ``unsampled="zero"``).
    """

    loss: jax.Array
    local_loss: jax.Array
    dead_fraction: jax.Array


class _Structure(NamedTuple):
    """The static (shape- and branch-determining) part of a MaskedConfig."""

    num_subnets: int
    local_steps: int
    num_rounds: int
    mask: str
    unsampled: str
    loss: str

    @classmethod
    def of(cls, cfg: MaskedConfig) -> _Structure:
        return cls(
            cfg.num_subnets, cfg.local_steps, cfg.num_rounds, cfg.mask, cfg.unsampled, cfg.loss
        )


def _round_masks(key, round_index, width, keep_prob, structure: _Structure, dtype):
    # fold_in keeps round r's masks independent of how many rounds are run.
    round_key = jax.random.fold_in(key, round_index)
    return masks.sample(
        round_key, structure.mask, structure.num_subnets, width, keep_prob, dtype=dtype
    )


def round_masks(key, params: dict, cfg: MaskedConfig):
    """All the masks ``train_masked(key, params, ...)`` samples: (num_rounds, num_subnets, width).

    For checks and plots (e.g. feeding the same masks to another implementation). The masks
    depend on the dtype of ``params["w"]`` (Bernoulli draws compare uniforms of that dtype with
    keep_prob), hence ``params`` rather than a width.
    """
    _validate.key(key)
    w = params["w"]
    structure = _Structure.of(cfg)
    keep_prob = jnp.asarray(cfg.surrogate_keep_prob, w.dtype)
    return jax.vmap(lambda r: _round_masks(key, r, w.shape[0], keep_prob, structure, w.dtype))(
        jnp.arange(cfg.num_rounds)
    )


def train_masked(key, params: dict, x, y, cfg: MaskedConfig, *, node_scale=None):
    """Train W by rounds of masked surrogates trained in parallel and averaged.

    Args:
      key: PRNG key; round r's masks come from ``fold_in(key, r)`` (see ``round_masks``).
      params: from ``jaxntk.init_params``; only ``params["w"]`` changes.
      x: (n, in_dim) inputs, same dtype as ``params["w"]``.
      y: (n, out_dim) targets.
      cfg: a ``MaskedConfig``.
      node_scale: optional (width,) base node scale (e.g. sqrt(lam) of an asymmetrically scaled
        network); surrogates use ``node_scale * mask / keep_prob``.

    Returns:
      ``(params, history)``: the trained parameters and a ``MaskedHistory``.

    Works under ``jax.vmap`` (e.g. over keys for repetitions) and ``jax.jit``.
    """
    _validate.key(key)
    if not isinstance(cfg, MaskedConfig):
        raise ValueError(f"cfg must be a jaxntk.MaskedConfig, got {type(cfg).__name__}")
    _validate.model_data(params, x, y, node_scale)
    dtype = params["w"].dtype
    keep_prob = jnp.asarray(cfg.surrogate_keep_prob, dtype)
    lr = jnp.asarray(cfg.lr, dtype)
    return _train_masked(key, params, x, y, node_scale, keep_prob, lr, _Structure.of(cfg))


@functools.partial(jax.jit, static_argnames=("structure",))
def _train_masked(key, params, x, y, node_scale, keep_prob, lr, structure: _Structure):
    loss_fn = losses.get(structure.loss)
    width = params["w"].shape[0]
    base_scale = jnp.ones((width,), x.dtype) if node_scale is None else node_scale
    optimizer = optax.sgd(lr)

    def loss_of_w(w, scale):
        return loss_fn(apply({**params, "w": w}, x, node_scale=scale), y)

    def local_training(w, scale):
        def step(carry, _):
            w, opt_state = carry
            value, grad = jax.value_and_grad(loss_of_w)(w, scale)
            updates, opt_state = optimizer.update(grad, opt_state, w)
            return (optax.apply_updates(w, updates), opt_state), value

        (w, _), values = jax.lax.scan(
            step, (w, optimizer.init(w)), None, length=structure.local_steps
        )
        return w, values

    def one_round(w, round_index):
        round_masks_ = _round_masks(key, round_index, width, keep_prob, structure, x.dtype)
        scales = base_scale[None, :] * round_masks_ / keep_prob  # (K, width)
        w_sub, local_values = jax.vmap(local_training, in_axes=(None, 0))(w, scales)
        w = masks.aggregate(w, w_sub, round_masks_, unsampled=structure.unsampled)
        dead = jnp.mean(jnp.all(w == 0, axis=1).astype(x.dtype))
        return w, (loss_of_w(w, node_scale), jnp.mean(local_values, axis=0), dead)

    w0 = params["w"]
    w, (round_loss, local_loss, dead) = jax.lax.scan(
        one_round, w0, jnp.arange(structure.num_rounds)
    )
    initial_loss = loss_of_w(w0, node_scale)
    history = MaskedHistory(
        loss=jnp.concatenate([initial_loss[None], round_loss]),
        local_loss=local_loss.reshape(structure.num_rounds, structure.local_steps),
        dead_fraction=dead,
    )
    return {**params, "w": w}, history
