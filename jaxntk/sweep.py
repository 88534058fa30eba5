r"""Grids of masked-training runs as one compiled program.

A figure like the masked paper's Fig. 2b is seeds x K x xi runs of ``train_masked``. Here they are
one ``jit``: the cells are a batch axis, K is padded to the grid's largest with a validity mask
(surrogates l >= K hold no neuron and are left out of every average), and the keep probability,
learning rate and node scale are traced per cell. Because masks are drawn per surrogate
(``jaxntk.rounds.sample_masks``), cell (s, g) gives the numbers of its own run,

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

import jax
import jax.numpy as jnp
import numpy as np

from jaxntk import _validate, rounds
from jaxntk.train import MaskedConfig, MaskedHistory, _plan, check_mesh


def _cells(name, values, default, num_cells, kind=float):
    """Per-cell values as a NumPy array of length ``num_cells`` (``default`` when None)."""
    if values is None:
        return np.full(num_cells, default, dtype=kind)
    values = np.asarray(values, dtype=kind)
    if values.ndim != 1 or values.shape[0] != num_cells:
        raise ValueError(
            f"{name} must be one value per cell, shape ({num_cells},), got {values.shape}; "
            "build the grid with np.meshgrid(...) and ravel it"
        )
    return values


def sweep_masked(
    keys,
    params: dict,
    x,
    y,
    cfg: MaskedConfig,
    *,
    num_subnets=None,
    keep_prob=None,
    lr=None,
    node_scale=None,
    path: str = "auto",
    mesh=None,
):
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
      path, mesh: as in ``train_masked``.

    Returns:
      ``(w, history)``: w (S, G, width, in_dim) and a ``MaskedHistory`` with leading axes (S, G).
    """
    if not isinstance(cfg, MaskedConfig):
        raise ValueError(f"cfg must be a jaxntk.MaskedConfig, got {type(cfg).__name__}")
    keys = jnp.asarray(keys) if not isinstance(keys, jax.Array) else keys
    if keys.ndim != 1 or not jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        raise ValueError(
            "keys must be a 1-d array of typed PRNG keys, e.g. jax.random.split(jax.random.key(0), "
            f"num_seeds); got shape {keys.shape} and dtype {keys.dtype}"
        )
    num_seeds = keys.shape[0]
    w = params["w"]
    if w.ndim == 2:
        params = jax.tree_util.tree_map(
            lambda a: jnp.broadcast_to(a, (num_seeds,) + a.shape), params
        )
    elif w.ndim != 3 or w.shape[0] != num_seeds:
        raise ValueError(
            f"params must be one init_params output or one per key (leading axis {num_seeds}); "
            f"got params['w'] of shape {w.shape}"
        )
    width, in_dim = params["w"].shape[1:]
    out_dim = params["a"].shape[-1]
    _validate.model_data(jax.tree_util.tree_map(lambda a: a[0], params), x, y)
    check_mesh(mesh, cfg.num_subnets)

    lengths = {len(v) for v in (num_subnets, keep_prob, lr, node_scale) if v is not None}
    if len(lengths) > 1:
        raise ValueError(
            "num_subnets, keep_prob, lr and node_scale need one entry per cell; got lengths "
            f"{sorted(lengths)}"
        )
    num_cells = lengths.pop() if lengths else 1
    ks = _cells("num_subnets", num_subnets, cfg.num_subnets, num_cells, int)
    if ks.min() < 1 or ks.max() > cfg.num_subnets:
        raise ValueError(
            f"num_subnets must lie in [1, cfg.num_subnets={cfg.num_subnets}] (cfg.num_subnets is "
            f"the grid's largest K); got {ks.min()}..{ks.max()}"
        )
    if cfg.mask == "categorical" and cfg.keep_prob is None and keep_prob is None:
        xis = 1.0 / ks
    else:
        xis = _cells("keep_prob", keep_prob, cfg.surrogate_keep_prob, num_cells)
    if xis.min() <= 0 or xis.max() > 1:
        raise ValueError(f"keep_prob must lie in (0, 1], got {xis.min()}..{xis.max()}")
    lrs = _cells("lr", lr, cfg.lr, num_cells)
    if not np.all(np.isfinite(lrs) & (lrs > 0)):
        raise ValueError(f"lr must be finite and > 0 in every cell, got {lrs}")
    dtype = w.dtype
    if node_scale is None:
        scales = jnp.ones((num_cells, width), dtype)
    else:
        scales = jnp.asarray(node_scale, dtype)
        if scales.shape != (num_cells, width):
            raise ValueError(
                f"node_scale must have shape (cells, width) = ({num_cells}, {width}), "
                f"got {scales.shape}"
            )

    n = x.shape[0]
    path, capacity = rounds.resolve(path, n, in_dim, width, out_dim, cfg, float(xis.max()))
    params = {**params, "in_scale": params.get("in_scale", jnp.ones((num_seeds,), dtype))}

    # The batch: seed-major, every seed with every cell.
    def tile_seed(a):
        return jnp.repeat(a, num_cells, axis=0)

    def tile_cell(a):
        return jnp.tile(jnp.asarray(a), (num_seeds,) + (1,) * (np.ndim(a) - 1))

    batch = rounds.Run(
        key=tile_seed(keys),
        params=jax.tree_util.tree_map(tile_seed, params),
        node_scale=tile_cell(scales),
        keep_prob=tile_cell(jnp.asarray(xis, dtype)),
        lr=tile_cell(jnp.asarray(lrs, dtype)),
        num_valid=tile_cell(jnp.asarray(ks, jnp.int32)),
    )
    w_out, (loss, local, dead) = rounds.run(batch, x, y, _plan(cfg, path, capacity, mesh))

    def grid(a):
        return a.reshape((num_seeds, num_cells) + a.shape[1:])

    return grid(w_out), MaskedHistory(grid(loss), grid(local), grid(dead))
