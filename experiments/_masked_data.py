"""Data, protocols and stopping rules of the masked-neurons figure scripts (``masked_fig2*``).

Data (Liao & Kyrillidis 2022, §4): the paper trains on 2048-d ResNet50 features of the 10,000
CIFAR-10 test images with the fine-tuned head's 10 logits as targets, preprocessed by the official
``load_data``: rows to unit norm, targets divided by max|y| over the whole file, then the first n
rows (``jaxntk.data.cifar.masked_preprocess``). That file cannot be built offline, so
``cfg.data`` picks a stand-in unless ``cfg.features`` names the real file:

* ``"fashion_logits"`` (default): the 10,000 Fashion-MNIST test images as 784 pixels, with the
  official data's *targets*: the 10 logits of a Dense(512)-ReLU-Dense(10) head trained by the
  official notebook's recipe (``jaxntk.data.logits``: SGD, batch 64, 3 epochs, 20 % validation
  split; test accuracy 0.82), preprocessed exactly as the official ``load_data``. Logits are a
  smooth function of the inputs, so, as on the official file, most of the targets' energy lies
  in the kernel's top eigenvectors; pixels are non-negative and strongly correlated, like
  post-ReLU features (a large top NTK eigenvalue, as real features have), so the official
  learning rates meet the curvature they were tuned for.
* ``"fashion_mnist"``: the same images with one-hot labels (the stand-in before
  ``fashion_logits``): hard targets, whose energy is spread over the whole spectrum, so the loss
  there is mostly optimisation error rather than the masking neighbourhood.
* ``"gaussian"``: ``unit_norm_regression`` (unit-norm Gaussian rows, smooth targets, max|y| = 1)
  of any (n, in_dim, out_dim); its NTK is nearly isotropic, so it is far easier to train.

Protocols (``cfg.protocol``, see ``protocol``): ``"official"`` runs the official code —
``parameterization="code"`` (w ~ N(0, I/m), output 1/sqrt(C)), loss 1/2 sum (f - y)^2 / n, its
learning rates, unsampled neurons zeroed (``mlp.py`` aggregation), the official stopping rules.
``"theory"`` runs the paper's conventions — ``"ntk"`` (w ~ N(0, I), output 1/sqrt(m)), loss
1/2 sum (f - y)^2, unsampled neurons kept, a fixed number of rounds — at the official effective
step: by relu's homogeneity, GD at lr on the "code" weights is GD at lr m / (n C) on the "ntk"
weights fitting sqrt(C) y, with the loss n C times larger (``tests/test_fidelity_masked.py``
checks this identity), so ``lr_factor = m / (n C)``. The parameterization and loss are thus a
change of units; what changes the figures is the aggregation and the stopping rule, which is what
the dashed "theory" curves beside the official ones show (``companion``: the official units with
the theory's aggregation).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import jaxntk
from jaxntk.data import cifar, images, unit_norm_regression

from . import _cli

DATA = ("fashion_logits", "fashion_mnist", "gaussian")
FASHION_ROWS = 10_000  # the test images, as the official file holds the 10,000 CIFAR test images


class Protocol(NamedTuple):
    """What a protocol fixes in a masked run (``protocol``)."""

    name: str
    parameterization: str
    loss: str
    unsampled: str
    lr_factor: float  # multiplies the official learning rate

    @property
    def loss_label(self) -> str:
        return "½Σ(f−y)²/n" if self.loss == "half_mean" else "½Σ(f−y)²"


def protocol(cfg, width: int, n: int | None = None) -> Protocol:
    """The ``Protocol`` of ``cfg.protocol`` at ``width`` (n defaults to ``cfg.n``)."""
    name = _cli.check_protocol(cfg)
    if name == "official":
        return Protocol(name, "code", "half_mean", "zero", 1.0)
    return Protocol(name, "ntk", "half_sum", "keep", width / ((n or cfg.n) * cfg.out_dim))


def companion(official: Protocol) -> Protocol:
    """The dashed curves beside an official run: its units and lr, the theory's aggregation."""
    return official._replace(name="theory aggregation", unsampled="keep")


def describe(cfg) -> str:
    """What the figure titles say about the data."""
    if cfg.features:
        return f"ResNet50 CIFAR-10 features ({cfg.features}, first n={cfg.n} rows)"
    if cfg.data == "fashion_logits":
        return f"Fashion-MNIST stand-in (first n={cfg.n} test images, d=784, head logits C=10)"
    if cfg.data == "fashion_mnist":
        return f"Fashion-MNIST stand-in (first n={cfg.n} test images, d=784, one-hot C=10)"
    return f"Gaussian unit-norm stand-in (n={cfg.n}, d={cfg.in_dim}, C={cfg.out_dim})"


def load(cfg):
    """``(x, y, description)``: float32 arrays (n, d) with unit rows and (n, C) with |y| <= 1.

    The feature file when ``cfg.features`` is a path, else the stand-in ``cfg.data``; the
    Gaussian one is drawn from the data key of ``_cli.seed_keys(cfg)``.
    """
    if cfg.features:
        data = jaxntk.data.load("features", path=cfg.features, n=cfg.n, preprocess="masked")
        x, y = data.x_train, data.y_train
    elif cfg.data in ("fashion_logits", "fashion_mnist"):
        if cfg.out_dim != 10:
            raise ValueError(
                f"data={cfg.data!r} has C = 10 targets, got out_dim={cfg.out_dim}; "
                "pass --out_dim 10 or --data gaussian"
            )
        if cfg.n > FASHION_ROWS:
            raise ValueError(f"n={cfg.n} exceeds the {FASHION_ROWS} Fashion-MNIST test images")
        if cfg.data == "fashion_logits":
            data = jaxntk.data.load("fashion_logits", n=cfg.n)
            x, y = data.x_train, data.y_train
        else:
            pixels, labels = images.read_mnist_family(images.fashion_mnist_dir())["test"]
            x, y = cifar.masked_preprocess(
                pixels.reshape(len(pixels), -1) / 255.0, images.one_hot(labels, 10)
            )
            x, y = x[: cfg.n], y[: cfg.n]
    elif cfg.data == "gaussian":
        key_data, _ = _cli.seed_keys(cfg)
        x, y = unit_norm_regression(key_data, cfg.n, cfg.in_dim, cfg.out_dim, dtype=jnp.float32)
    else:
        raise ValueError(f"data={cfg.data!r} is not one of {DATA}; pass --data fashion_logits")
    return jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32), describe(cfg)


def init_many(cfg, x, y, width: int, parameterization: str):
    """``(params, train_keys)``: one initialization and one training key per seed (leading axis).

    Initialized outside the jitted training so that each compiled program holds training only.
    The same keys serve every protocol: "code" weights are the "ntk" ones / sqrt(m).
    """
    _, keys = _cli.seed_keys(cfg)
    init_keys, train_keys = jax.vmap(jax.random.split, out_axes=1)(keys)

    def init(k):
        return jaxntk.init_params(
            k,
            x.shape[1],
            width,
            y.shape[1],
            parameterization=parameterization,
            init_scale=getattr(cfg, "init_scale", 1.0),
            dtype=jnp.float32,
        )

    return jax.vmap(init)(init_keys), train_keys


def converged(loss, window: int) -> np.ndarray:
    """The theory protocol's "converged error": mean of the last ``window`` rounds.

    A run that diverged (a NaN/inf anywhere in its window) gives NaN, never a small number.
    """
    loss = np.asarray(loss, np.float64)
    value = _cli.windowed_mean(loss, window)
    return np.where(np.isfinite(value), value, np.nan)


# ---------------------------------------------------------------------------- stopping rules


class Stop(NamedTuple):
    """An official stopping rule applied to recorded loss histories (leading axes kept).

    Attributes:
      error: the rule's return value, the best windowed mean up to the stopping round.
      round: the round (1-based global iteration) at which the official loop breaks; the last
        recorded round where it had not broken yet.
      stopped: whether it broke within the recorded rounds (else ``error`` is the best so far
        and a longer run could only lower it).
    """

    error: np.ndarray
    round: np.ndarray
    stopped: np.ndarray


def official_stop(loss, rule: str, window: int = 10) -> Stop:
    """The official ``IST_Converge`` loops, replayed on histories ``loss`` (..., rounds + 1).

    Both compute, after global iteration k, avg_k = mean(loss[max(0, k - window) : k + 1]) and
    keep the best (smallest) avg; they differ in when they break:

    * ``"heatmap"`` (``heatmap_exp.py``, Fig. 2b): at the first k whose avg does not improve on
      the best, or once the best is below 5e-4;
    * ``"width"`` (``resnet_cifar_experiments.py``, Fig. 2c): once more than 5 iterations did not
      improve (the count is never reset).

    Replaying on a recorded history is exact: the official loop only reads the losses up to the
    round it breaks at, and rounds after it do not change them.
    """
    if rule not in ("heatmap", "width"):
        raise ValueError(f"rule must be 'heatmap' or 'width', got {rule!r}")
    loss = np.asarray(loss, np.float64)
    rounds = loss.shape[-1] - 1
    if rounds < 1:
        raise ValueError("official_stop needs at least one round after the initial loss")
    shape = loss.shape[:-1]
    best = np.full(shape, np.inf)
    misses = np.zeros(shape, int)
    done = np.zeros(shape, bool)
    stop = np.full(shape, rounds)
    for k in range(1, rounds + 1):
        avg = loss[..., max(0, k - window) : k + 1].mean(axis=-1)
        better = avg < best  # NaN never improves, as in the official comparison
        best = np.where(done | ~better, best, avg)
        if rule == "heatmap":
            misses = np.where(done, misses, np.where(better, 0, misses + 1))
            breaks = (misses > 0) | (best < 5e-4)
        else:
            misses = np.where(done | better, misses, misses + 1)
            breaks = misses > 5
        stop = np.where(~done & breaks, k, stop)
        done = done | breaks
    return Stop(best, stop, done)


def stop_summary(results, num_rounds: int) -> str:
    """One line on the official rule's stopping rounds (``stop_round``, ``stopped`` results)."""
    return (
        f"official rule: mean stopping round {results['stop_round'].mean():.1f}, "
        f"{(~results['stopped']).mean():.0%} of runs not stopped within {num_rounds}"
    )


# ------------------------------------------------------------------------------ the runs


def masked_config(cfg, proto: Protocol, num_subnets: int, keep_prob, lr, **fields):
    """``MaskedConfig`` of one cell: ``lr`` is the official learning rate (times lr_factor)."""
    return jaxntk.MaskedConfig(
        num_subnets,
        keep_prob,
        cfg.local_steps,
        lr * proto.lr_factor,
        cfg.num_rounds,
        unsampled=proto.unsampled,
        loss=proto.loss,
        **fields,
    )


# ``cfg.pad``: True runs a sweep as one batch, K padded to its largest and the compact capacity
# sized for its largest xi (one compiled program); False (jaxntk's default) groups the cells by
# (K, capacity), one batch each: no padded work, a program per group. Which is faster depends on
# whether compilation or compute dominates; measured on 2 shared CPU cores, masked_fig2b:
# --preset quick 50 s padded vs 117 s grouped (compilation of ~10 groups per row dominates);
# paper shape (one seed, theory panel) 90 s vs 32 s per round (compute dominates: padding runs
# xi = 0.1 at xi = 1's capacity). So fig2b pads at quick and smoke, and nothing pads at paper.
ENGINE = ("path", "pad")


def sweep_cells(keys, params0, x, y, cells, *, node_scale=None, path="auto", pad=False):
    """``jaxntk.sweep_masked`` over ``cells``: ``MaskedConfig``s that differ only in K, xi and lr
    (``num_subnets``, ``surrogate_keep_prob``, ``lr``); the structure is theirs with the largest
    K. Returns its ``(w, history)``, leading axes (seed, cell)."""
    shared = ("local_steps", "num_rounds", "mask", "unsampled", "loss")
    for cell in cells[1:]:
        differ = [f for f in shared if getattr(cell, f) != getattr(cells[0], f)]
        if differ:
            raise ValueError(
                f"one sweep's cells may differ in K, keep_prob and lr only, not in {differ}; "
                "run those as separate sweeps"
            )
    structure = dataclasses.replace(cells[0], num_subnets=max(c.num_subnets for c in cells))
    return jaxntk.sweep_masked(
        keys,
        params0,
        x,
        y,
        structure,
        num_subnets=[c.num_subnets for c in cells],
        keep_prob=[c.surrogate_keep_prob for c in cells],
        lr=[c.lr for c in cells],
        node_scale=node_scale,
        path=path,
        pad=pad,
        mesh=_cli.mesh(),  # the command line's --mesh (None in a notebook)
    )


def sweep(cfg, x, y, width: int, proto: Protocol, cells, node_scale=None):
    """``MaskedHistory`` (NumPy) of every (cell, seed), leading axes in that order.

    ``cells``: as in ``sweep_cells``; ``node_scale``: optional (cells, width) base node scales.
    One compiled program on the engine the benchmarks measure: ``jaxntk.sweep_masked`` runs the
    seeds x cells, each cell's ``train_masked`` run from ``init_many``'s initialization and key
    (up to float rounding), on the exact fast path its shapes favour (compact surrogates
    included, which a hand-written vmap over cells could not use).
    """
    params0, keys = init_many(cfg, x, y, width, proto.parameterization)
    _, history = sweep_cells(
        keys, params0, x, y, cells, node_scale=node_scale, path=cfg.path, pad=cfg.pad
    )
    return jax.tree_util.tree_map(lambda a: np.swapaxes(np.asarray(a), 0, 1), history)


def seeds_by_keep_prob(cfg, x, y, width: int, proto: Protocol, keep_probs, config_of):
    """``sweep`` over the cells ``config_of(xi)``, one per keep probability (leading axes
    (keep_prob, seed))."""
    return sweep(cfg, x, y, width, proto, [config_of(float(xi)) for xi in keep_probs])


def protocols(cfg, width: int) -> list[Protocol]:
    """The protocol runs of one figure: ``cfg.protocol``'s, and under "official" the dashed
    theory-aggregation companion."""
    main = protocol(cfg, width)
    return [main, companion(main)] if main.name == "official" else [main]
