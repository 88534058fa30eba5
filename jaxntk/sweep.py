r"""Grids of masked-training runs as one compiled program.

A figure like the masked paper's Fig. 2b is seeds x K x xi runs of ``train_masked``. Here they are
one ``jit``: the cells are a batch axis, K is padded to the grid's largest with a validity mask
(surrogates l >= K hold no neuron and are left out of every average), and the keep probability,
learning rate and node scale are traced per cell. Because the first K rows of
``jaxntk.masks.sample`` do not depend on how many rows are drawn, cell (s, g) gives the numbers of
its own run,

    train_masked(keys[s], params[s], x, y, cfg_g, node_scale=node_scale[g]),

with cfg_g = cfg with K, xi and lr of cell g — up to float rounding, and bit for bit on the same
path. The compact paths size their capacity for the largest keep probability of the grid and
test overflow once per round for the whole batch.

Example (Fig. 2b: K = 1..10 x xi = 0.1..1.0, 10 repetitions)::

    ks, xis = np.meshgrid(range(1, 11), np.linspace(0.1, 1.0, 10), indexing="ij")
    cfg = jaxntk.MaskedConfig(num_subnets=10, keep_prob=1.0, local_steps=5, lr=0.1, num_rounds=20)
    params = jax.vmap(lambda k: jaxntk.init_params(k, d, 500, 10))(init_keys)
    _, hist = jaxntk.sweep_masked(keys, params, x, y, cfg, num_subnets=ks.ravel(),
                                  keep_prob=xis.ravel())
    hist.loss.shape  # (10 seeds, 100 cells, 21)
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxntk import _validate, distributed, layout, rounds
from jaxntk.train import MaskedConfig, MaskedHistory, _plan, check_mesh


def _cells(name, values, default, num_cells, check, kind=float):
    """Per-cell values as a NumPy array of length ``num_cells`` (``default`` when None), each
    checked as ``train_masked`` checks that argument (``check``, from ``jaxntk._validate``)."""
    if values is None:
        return np.full(num_cells, default, dtype=kind)
    return _validate.per_cell(name, values, num_cells, check).astype(kind)


def _whole(name, value):
    """num_subnets of one cell: an integer >= 1 (1.5 is refused, not truncated)."""
    _validate.integer(name, value, minimum=1)


def sweep_masked(keys, params: dict, x, y, cfg: MaskedConfig, *, num_subnets=None,
                 keep_prob=None, lr=None, node_scale=None, path: str = "auto", mesh=None,
                 pad: bool = False):  # fmt: skip
    """Seeds x cells of ``train_masked`` as one program.

    Args:
      keys: (S,) PRNG keys, one per repetition (every cell of a repetition uses its key, so
        cells are compared on common random numbers).
      params: ``init_params`` output for every repetition (leading axis S on every leaf), or one
        set shared by all.
      x, y: the training data, shared.
      cfg: the structure: ``cfg.num_subnets`` is the largest K of the grid, and ``local_steps``,
        ``num_rounds``, ``mask``, ``unsampled``, ``loss`` hold for every cell.
      num_subnets: (G,) ints in [1, cfg.num_subnets], K of every cell (default cfg.num_subnets).
      keep_prob: (G,) xi of every cell (default cfg.keep_prob; for categorical masks the default
        is 1/K of the cell).
      lr: (G,) learning rates (default cfg.lr).
      node_scale: (G, width) base node scales, e.g. sqrt(lam) for a grid of gamma (default 1).
      path: as in ``train_masked``.
      mesh: optional ``jax.sharding.Mesh`` (``jaxntk.layout``): the runs (seeds x cells) are
        split over its ``"runs"`` axis (no collective; each group's runs padded to a multiple of
        its size with copies of the last, dropped from the results), a round's surrogates over
        its ``"surrogates"`` axis (``cfg.num_subnets`` a multiple of its size; one all-reduce per
        round); either or both. A one-axis mesh with another name splits the surrogates. Over
        several processes (``jaxntk.distributed``) every process must pass the same inputs
        (checked) and the results come back whole on every process.
      pad: run every cell in one batch, K padded to the grid's largest with a validity mask and
        the compact capacity sized for the grid's largest keep probability. The default groups
        the cells by (K, capacity) instead, each group a batch of its own inside the same
        program: no padded surrogates or slots, at a longer compilation.

    Returns:
      ``(w, history)``: w (S, G, width, in_dim) and a ``MaskedHistory`` with leading axes (S, G).
    """
    _validate.instance("cfg", cfg, MaskedConfig, "jaxntk.MaskedConfig")
    num_seeds = _validate.keys(keys)
    keys = jnp.asarray(keys) if not isinstance(keys, jax.Array) else keys
    shared = getattr(params.get("w") if isinstance(params, dict) else None, "ndim", 2) == 2
    # One network for all keys, or one per key: the same check as train_masked's, per run.
    _validate.network(params, runs=() if shared else (num_seeds,))
    if shared:
        params = jax.tree_util.tree_map(
            lambda a: jnp.broadcast_to(a, (num_seeds,) + jnp.shape(a)), params
        )
    w = params["w"]
    width, in_dim = w.shape[1:]
    out_dim = params["a"].shape[-1]
    _validate.model_data(jax.tree_util.tree_map(lambda a: a[0], params), x, y)
    check_mesh(mesh, cfg.num_subnets)
    distributed.check_same("sweep_masked", keys=keys, params=params, x=x, y=y, cfg=cfg,
                           num_subnets=num_subnets, keep_prob=keep_prob, lr=lr,
                           node_scale=node_scale)  # fmt: skip
    devices = layout.size(mesh, layout.runs_axis(mesh))
    pad = _validate.boolean("pad", pad)

    num_cells = _validate.grid_size(
        {"num_subnets": num_subnets, "keep_prob": keep_prob, "lr": lr, "node_scale": node_scale}
    )
    ks = _cells("num_subnets", num_subnets, cfg.num_subnets, num_cells, _whole, int)
    if ks.max() > cfg.num_subnets:
        raise ValueError(
            f"num_subnets must lie in [1, cfg.num_subnets={cfg.num_subnets}] (cfg.num_subnets is "
            f"the grid's largest K); got {ks.min()}..{ks.max()}"
        )
    if cfg.mask == "categorical" and cfg.keep_prob is None and keep_prob is None:
        xis = 1.0 / ks
    else:
        xis = _cells(
            "keep_prob", keep_prob, cfg.surrogate_keep_prob, num_cells, _validate.probability
        )
    lrs = _cells("lr", lr, cfg.lr, num_cells, _validate.positive)
    dtype = w.dtype
    if node_scale is None:
        scales = jnp.ones((num_cells, width), dtype)
    else:
        _validate.per_node("node_scale", node_scale, width, cells=num_cells)
        scales = jnp.asarray(node_scale, dtype)

    params = {**params, "in_scale": params.get("in_scale", jnp.ones((num_seeds,), dtype))}
    cells = {
        "node_scale": scales,
        "keep_prob": jnp.asarray(xis, dtype),
        "lr": jnp.asarray(lrs, dtype),
        "num_valid": jnp.asarray(ks, jnp.int32),
    }
    n = x.shape[0]
    if pad:  # one batch, K padded to the grid's largest, capacity for its largest xi
        groups = [(cfg.num_subnets, float(xis.max()), np.arange(num_cells))]
    else:  # one batch per (K, capacity): no padded surrogates, each its own compact size
        by_shape = {}
        for g in range(num_cells):
            by_shape.setdefault((int(ks[g]), rounds.capacity(width, float(xis[g]))), []).append(g)
        groups = [(k, float(xis[idx].max()), np.asarray(idx)) for (k, _), idx in by_shape.items()]
    batches, plans = [], []
    for k, max_xi, idx in groups:
        cfg_g = dataclasses.replace(cfg, num_subnets=k) if not pad else cfg
        path_g, capacity = rounds.resolve(path, n, in_dim, width, out_dim, cfg_g, max_xi)
        # Seed-major: every seed with every cell of the group.
        size = len(idx)
        sizes = rounds.plan_buckets(
            path_g, n, in_dim, width, out_dim, cfg_g, max_xi, size * num_seeds, capacity
        )
        plans.append(_plan(cfg_g, path_g, capacity, mesh, sizes))
        batch = rounds.Run(
            key=jnp.repeat(keys, size, axis=0),
            params=jax.tree_util.tree_map(lambda a, r=size: jnp.repeat(a, r, 0), params),
            **{
                name: jnp.tile(v[idx], (num_seeds,) + (1,) * (v.ndim - 1))
                for name, v in cells.items()
            },
        )
        batches.append(_pad(batch, -(size * num_seeds) % devices))
    outputs = _program(tuple(batches), x, y, tuple(plans))
    # Complete on every process, the runs axis's padding dropped.
    outputs = distributed.whole(outputs)
    sizes = [len(g[2]) * num_seeds for g in groups]
    outputs = [jax.tree_util.tree_map(lambda a, r=r: a[:r], o) for o, r in zip(outputs, sizes)]

    # Back to (seeds, cells) in the caller's cell order.
    order = np.argsort(np.concatenate([idx for _, _, idx in groups]))

    def grid(*parts):
        joined = jnp.concatenate(
            [p.reshape((num_seeds, len(g[2])) + p.shape[1:]) for p, g in zip(parts, groups)],
            axis=1,
        )
        return joined[:, order]

    w_out = grid(*(o[0] for o in outputs))
    loss, local, dead = (grid(*(o[1][i] for o in outputs)) for i in range(3))
    return w_out, MaskedHistory(loss, local, dead)


def _pad(batch: rounds.Run, count: int) -> rounds.Run:
    """``batch`` with ``count`` copies of its last run appended (a whole number per device)."""
    if not count:
        return batch
    return jax.tree_util.tree_map(
        lambda a: jnp.concatenate([a, jnp.repeat(a[-1:], count, axis=0)]), batch
    )


@functools.partial(jax.jit, static_argnames=("plans",))
def _program(batches, x, y, plans):
    """All groups of a sweep in one compiled program."""
    outputs = []
    for batch, plan in zip(batches, plans):
        w, (loss, local, dead) = rounds.run(batch, x, y, plan)
        initial = rounds.initial_loss(batch, x, y, plan.loss)
        outputs.append((w, (jnp.concatenate([initial[:, None], loss], axis=1), local, dead)))
    return tuple(outputs)
