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
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxntk import _validate, distributed, divergence, layout, losses, masks, rounds, runner
from jaxntk import checkpoint as checkpoint_io


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
        _validate.allocation(  # the history of local losses (rounds, K, tau)
            "the local-step loss history",
            {"num_rounds": self.num_rounds, "num_subnets": self.num_subnets,
             "local_steps": self.local_steps},
        )  # fmt: skip
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


def _plan(cfg: MaskedConfig, path: str, capacity: int, mesh, buckets=()) -> rounds.Plan:
    return rounds.Plan(
        cfg.num_subnets, cfg.local_steps, cfg.num_rounds, cfg.mask, cfg.unsampled, cfg.loss,
        path, capacity, mesh, buckets,
    )  # fmt: skip


def round_masks(key, params: dict, cfg: MaskedConfig):
    """All the masks ``train_masked(key, params, ...)`` samples: (num_rounds, num_subnets, width).

    Round r's masks are ``jaxntk.masks.sample(fold_in(key, r), cfg.mask, cfg.num_subnets, width,
    cfg.surrogate_keep_prob, dtype=params["w"].dtype)``, i.e. ``masks.bernoulli`` (or
    ``masks.categorical``) of the round key. For checks and plots (e.g. feeding the same masks to
    another implementation). Bernoulli draws compare uniforms of the weights' dtype with
    keep_prob, hence ``params`` rather than a width.
    """
    _validate.key(key)
    w = params["w"]
    return jax.vmap(
        lambda r: masks.sample(
            jax.random.fold_in(key, r), cfg.mask, cfg.num_subnets, w.shape[0],
            cfg.surrogate_keep_prob, dtype=w.dtype,
        )  # fmt: skip
    )(jnp.arange(cfg.num_rounds))


def _batched(*trees) -> bool:
    """Whether any argument is being traced by ``jax.vmap`` (see ``rounds.choose_path``)."""
    # JAX has no public name for vmap's tracer type across 0.4.23 .. current; its class name is
    # stable. Missing it only costs speed (the compact paths' cond becomes a select).
    leaves = jax.tree_util.tree_leaves(trees)
    return any(type(leaf).__name__ == "BatchTracer" for leaf in leaves)


def check_mesh(mesh, num_subnets: int) -> None:
    """A ``jax.sharding.Mesh`` (or None) whose surrogates axis (``jaxntk.layout``) divides the
    surrogates."""
    if mesh is None:
        return
    _validate.instance("mesh", mesh, jax.sharding.Mesh, "jax.sharding.Mesh or None")
    axis = layout.surrogates_axis(mesh)
    devices = layout.size(mesh, axis)
    if num_subnets % devices:
        raise ValueError(
            f"num_subnets={num_subnets} must be a multiple of the {devices} devices on mesh axis "
            f"{axis!r}: every device trains the same number of surrogates"
        )


def train_masked(key, params: dict, x, y, cfg: MaskedConfig, *, node_scale=None, path="auto",
                 mesh=None, checkpoint=None, checkpoint_every=None, resume=False,
                 divergence_factor=divergence.DEFAULT_FACTOR):  # fmt: skip
    """Train W by rounds of masked surrogates trained in parallel and averaged.

    Args:
      key: PRNG key; round r's masks come from ``fold_in(key, r)`` (see ``round_masks``).
      params: from ``jaxntk.init_params``; only ``params["w"]`` changes.
      x: (n, in_dim) inputs, same dtype as ``params["w"]``.
      y: (n, out_dim) targets.
      cfg: a ``MaskedConfig``.
      node_scale: optional (width,) base node scale (e.g. sqrt(lam) of an asymmetrically scaled
        network); surrogates use ``node_scale * mask / keep_prob``.
      path: how a round is computed: "plain", "compact", "gram", "gram_compact" or "auto" (the
        cheapest for the shapes); all give the same numbers up to float rounding (see
        ``jaxntk.rounds``).
      mesh: optional ``jax.sharding.Mesh``: the surrogates of a round are split over the
        devices of its ``"surrogates"`` axis, or of the only axis of a one-axis mesh
        (``jaxntk.layout``; ``num_subnets`` a multiple of their number), and the aggregation
        becomes a cross-device reduction. Over several processes (``jaxntk.distributed``) every
        process must pass the same inputs (checked) and process 0 alone writes the checkpoint.
      checkpoint: optional path of a ``.npz`` checkpoint (``jaxntk.checkpoint``): the rounds run
        in chunks of ``checkpoint_every`` (one compiled chunk, reused), and after every chunk the
        state (weights, rounds done, history so far; the key and inputs as a fingerprint) is
        written there atomically. The file of a finished run is kept.
      checkpoint_every: rounds per chunk (default: all of them in one chunk).
      resume: continue from ``checkpoint`` if it exists (it must come from the same key, inputs
        and configuration, else ``CheckpointError``); the result is bitwise that of an
        uninterrupted run with the same ``checkpoint_every``. False starts again and overwrites it.
      divergence_factor: raise ``jaxntk.DivergenceError`` when the full-network loss becomes
        non-finite or exceeds this multiple of the initial loss (None: no check). Checked on the
        host after the run (after every chunk with ``checkpoint``); skipped under jit/vmap.

    Returns:
      ``(params, history)``: the trained parameters and a ``MaskedHistory``.

    Works under ``jax.vmap`` (e.g. over keys for repetitions) and ``jax.jit`` (without
    ``checkpoint``); for grids of configurations ``jaxntk.sweep_masked`` runs them as one
    program with the fast paths.
    """
    _validate.key(key)
    _validate.instance("cfg", cfg, MaskedConfig, "jaxntk.MaskedConfig")
    _validate.model_data(params, x, y, node_scale)
    check_mesh(mesh, cfg.num_subnets)
    factor = divergence.factor(divergence_factor)
    traced = divergence.is_traced(key, params, x, y)
    every = _validate.checkpointing(checkpoint, checkpoint_every, resume, traced=traced)
    if not divergence.is_traced(node_scale, traced):
        distributed.check_same("train_masked", key=key, params=params, x=x, y=y, cfg=cfg,
                               node_scale=node_scale)  # fmt: skip
    n, in_dim = x.shape
    width, out_dim = params["a"].shape
    path, capacity = rounds.resolve(
        path, n, in_dim, width, out_dim, cfg, cfg.surrogate_keep_prob,
        batched=_batched(key, params, x, y, node_scale),
    )  # fmt: skip
    dtype = params["w"].dtype
    run = rounds.Run(
        key=key,
        params={**params, "in_scale": params.get("in_scale", jnp.ones((), dtype))},
        node_scale=jnp.ones((width,), dtype) if node_scale is None else node_scale,
        keep_prob=jnp.asarray(cfg.surrogate_keep_prob, dtype),
        lr=jnp.asarray(cfg.lr, dtype),
        num_valid=jnp.asarray(cfg.num_subnets, jnp.int32),
    )
    one = jax.tree_util.tree_map(lambda leaf: leaf[None], run)
    sizes = rounds.plan_buckets(
        path, n, in_dim, width, out_dim, cfg, cfg.surrogate_keep_prob, 1, capacity
    )
    plan = _plan(cfg, path, capacity, mesh, sizes)
    initial = rounds.initial_loss(one, x, y, cfg.loss)

    def advance(w, first, size):
        chunk = one._replace(params={**one.params, "w": w})
        return rounds.run(chunk, x, y, plan._replace(num_rounds=size), first)

    def history_of(logs) -> MaskedHistory:
        loss, local, dead = logs
        loss = jnp.concatenate([initial[:, None], jnp.asarray(loss, initial.dtype)], axis=1)
        return MaskedHistory(loss[0], jnp.asarray(local)[0], jnp.asarray(dead)[0])

    def check(logs):
        _check_divergence(history_of(logs), factor, cfg, params, x, node_scale)

    fingerprint = None
    if checkpoint is not None:
        fingerprint = {
            "kind": "train_masked",
            "config": {**dataclasses.asdict(cfg), "path": path},
            "inputs": checkpoint_io.input_digests(
                params, key=checkpoint_io.key_data(key), x=x, y=y, node_scale=node_scale
            ),
        }
    w, logs = runner.run(
        advance, one.params["w"], cfg.num_rounds, every=every, checkpoint=checkpoint,
        fingerprint=fingerprint, resume=resume, check=None if factor is None else check,
        log_axis=1,
    )  # fmt: skip
    return distributed.whole(({**params, "w": w[0]}, history_of(logs)))


def _cut(history: MaskedHistory, i: int) -> MaskedHistory:
    """The history up to and including the loss after round i."""
    return MaskedHistory(history.loss[: i + 1], history.local_loss[:i], history.dead_fraction[:i])


def _check_divergence(history, factor, cfg, params, x, node_scale):
    loss = np.asarray(history.loss)
    divergence.check(
        loss, np.arange(loss.shape[0]), what="train_masked", unit="round", lr=cfg.lr,
        divergence_factor=factor, cut=lambda i: _cut(history, i), params=params, x=x,
        loss=cfg.loss, node_scale=node_scale, keep_prob=cfg.surrogate_keep_prob,
    )  # fmt: skip
