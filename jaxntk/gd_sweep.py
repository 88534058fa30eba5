r"""Grids of full-batch GD runs (configurations x seeds) as one program: ``sweep_gd``.

The asymmetric-scaling figures are R = G configurations (gamma, alpha: a node scale each) x S
seeds of ``train_gd`` on shared data. ``sweep_gd`` runs them as one compiled program: the runs
are a batch axis of ``train_gd``'s pure pieces (``gd.start`` / ``advance`` / ``finish``), driven
by the one chunked runner (``jaxntk.runner``: checkpoint and resume), and run r gives the numbers
of its own call

    train_gd(params[r], x, y, cfg, node_scale=node_scale[r], x_test=x_test, y_test=y_test)

as ``jax.jit(jax.vmap(train_gd))`` over the runs computes them (the experiments' form before
``sweep_gd``; on CPU the runs go one after another: ``gd._in_turn``): bit for bit on jax 0.10,
to float rounding on jax 0.4.23 (one ulp in a logged risk), and to float rounding as one
unbatched call (one ulp measured in float64). With a ``mesh`` whose axes include
``"runs"`` the runs are split over that axis (``shard_map``: each device trains its own runs, no
collective); R is padded to a multiple of the axis size with copies of the last run, and the
padding dropped from the results. Over several processes (``jaxntk.distributed``) every process
must pass the same inputs (checked: a ``ValueError`` on all of them otherwise), process 0 alone
writes the checkpoint, and the results come back whole on every process.

Example (4 configurations x 5 seeds of one width)::

    params = jax.vmap(lambda k: jaxntk.init_params(k, d, m, parameterization="asym_code"))(keys)
    scales = jnp.stack([jnp.sqrt(scaling.node_scales(None, m, gamma=g)) for g in gammas])
    p, hist = jaxntk.sweep_gd(jax.tree.map(lambda a: jnp.tile(a, (4,) + (1,) * (a.ndim - 1)),
                                           params), x, y, cfg, node_scale=jnp.repeat(scales, 5, 0))
    hist.train_risk.shape  # (20, num_logs)
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxntk import _validate, distributed, divergence, gd, layout, runner
from jaxntk import checkpoint as checkpoint_io
from jaxntk.gd import GDConfig, GDHistory

RUNS = layout.RUNS  # the mesh axis the runs are split over


def _shard_map():
    if hasattr(jax, "shard_map"):
        return jax.shard_map
    from jax.experimental.shard_map import shard_map  # jax < 0.6

    return shard_map


def _num_runs(params, node_scale) -> int:
    """R from the leading axis of params (one per run) or of node_scale (R, width)."""
    w = params["w"] if isinstance(params, dict) and "w" in params else None
    if w is None or getattr(w, "ndim", 0) not in (2, 3):
        raise ValueError(
            "params must be one jaxntk.init_params output shared by every run, or one per run "
            "(a leading axis R on every leaf, e.g. jax.vmap(init_params) over keys); got "
            f"params['w'] of shape {getattr(w, 'shape', None)}"
        )
    counts = {}
    if w.ndim == 3:
        counts["params"] = w.shape[0]
    scale_ndim = getattr(node_scale, "ndim", None)
    if node_scale is not None and scale_ndim == 2:
        counts["node_scale"] = node_scale.shape[0]
    if len(set(counts.values())) > 1:
        raise ValueError(
            f"params hold {counts['params']} runs but node_scale {counts['node_scale']}: give "
            "both one entry per run (a leading axis R), or share one of them"
        )
    if not counts:
        raise ValueError(
            "sweep_gd needs a leading run axis R on params (one per run) or on node_scale "
            "(R, width); for a single run call jaxntk.train_gd"
        )
    runs = next(iter(counts.values()))
    if runs < 1:
        raise ValueError(f"sweep_gd needs at least one run, got R = {runs}")
    return runs


def _per_run(tree, runs: int):
    """Every leaf with the leading run axis R (a shared tree broadcast to it)."""
    return jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (runs,) + a.shape), tree)


def _check_mesh(mesh, runs: int) -> int:
    """The size of the mesh's "runs" axis (1 without one)."""
    if mesh is None:
        return 1
    _validate.instance("mesh", mesh, jax.sharding.Mesh, "jax.sharding.Mesh or None")
    if RUNS not in mesh.axis_names:
        raise ValueError(
            f"sweep_gd splits its runs over a mesh axis named {RUNS!r}; got axes "
            f"{mesh.axis_names}: build it as Mesh(np.array(jax.devices()), ('runs',))"
        )
    return mesh.shape[RUNS]


def sweep_gd(params, x, y, cfg: GDConfig, *, node_scale=None, x_test=None, y_test=None,
             mesh=None, checkpoint=None, checkpoint_every=None, resume=False, fingerprint=None,
             divergence_factor=divergence.DEFAULT_FACTOR):  # fmt: skip
    """R runs of ``train_gd`` on shared data as one program (module docstring).

    Args:
      params: one ``jaxntk.init_params`` output shared by every run, or one per run (leading
        axis R on every leaf).
      x, y, cfg, x_test, y_test: as in ``train_gd``, shared by every run.
      node_scale: None, (width,) shared, or (R, width): one sqrt(lam) per run.
      mesh: optional ``jax.sharding.Mesh`` with an axis named ``"runs"``: the runs are split
        over it (other axes, if any, hold copies).
      checkpoint, checkpoint_every, resume: as in ``train_gd``, for the whole batch (one file).
      fingerprint: optional JSON-serialisable fields stored with the checkpoint beside the
        sweep's own (its configuration and input digests, under ``"sweep_gd"``) and compared on
        resume: a caller's configuration (the experiments' stages).
      divergence_factor: as in ``train_gd``, checked for every run on the host after the run
        (after every chunk with ``checkpoint``); the error names the first run that diverged.

    Returns:
      ``(params, history)``: the trained parameters and a ``GDHistory``, every leaf with the
      leading axis R.
    """
    _validate.instance("cfg", cfg, GDConfig, "jaxntk.GDConfig")
    runs = _num_runs(params, node_scale)
    distributed.check_same("sweep_gd", params=params, x=x, y=y, cfg=cfg, node_scale=node_scale,
                           x_test=x_test, y_test=y_test)  # fmt: skip
    params = params if params["w"].ndim == 3 else _per_run(params, runs)
    if node_scale is not None:
        node_scale = jnp.asarray(node_scale)
        node_scale = node_scale if node_scale.ndim == 2 else _per_run(node_scale, runs)
    # Host checks only: the data and run 0 as train_gd checks them, then every run's scale
    # (finite, and sqrt(lam) only on params whose output scale does not already carry 1/sqrt(m)).
    scale0 = None if node_scale is None else node_scale[0]
    gd.check_inputs(_row(params, 0), x, y, scale0, x_test, y_test)
    if node_scale is not None:
        _validate.finite_array("node_scale", node_scale)
        for r in range(1, runs):
            gd.check_node_scale(_row(params, r), node_scale[r])
    factor, every = gd.check_run(cfg, params, x, y, checkpoint, checkpoint_every, resume,
                                 divergence_factor)  # fmt: skip
    devices = _check_mesh(mesh, runs)

    batch = {"params": params, "node_scale": node_scale}
    padded = -runs % devices  # copies of the last run, dropped from the results
    if padded:
        batch = jax.tree_util.tree_map(
            lambda a: jnp.concatenate([a, jnp.repeat(a[-1:], padded, axis=0)]), batch
        )
    shared = {"x": x, "y": y, "x_test": x_test, "y_test": y_test}
    start, chunk, finish = _programs(cfg, mesh)

    stored = None
    if checkpoint is not None:
        own = {
            "config": dataclasses.asdict(cfg),
            "inputs": checkpoint_io.input_digests(
                params, x=x, y=y, node_scale=node_scale, x_test=x_test, y_test=y_test
            ),
        }
        stored = {**(fingerprint or {}), "sweep_gd": own}
    carry, first = start(batch, shared)

    def history_of(logs) -> GDHistory:
        return finish(batch, shared, first, logs)

    def check(logs):
        risk = np.concatenate(
            [distributed.to_host(first.train_risk)[:, None], distributed.to_host(logs.train_risk)],
            axis=1,
        )
        for r in range(runs):
            if divergence.first_bad(risk[r], factor) is None:
                continue  # the common case: no run's arrays sliced out after every chunk
            one = _row(batch, r)
            gd.check_divergence(
                risk[r], lambda r=r: _row(history_of(logs), r), factor, cfg, one["params"], x,
                one["node_scale"], what=f"sweep_gd run {r}",
            )  # fmt: skip

    carry, logs = runner.run(
        lambda c, done, size: chunk(batch, shared, c, done + 1, size),
        carry, cfg.num_logs - 1, every=every, checkpoint=checkpoint, fingerprint=stored,
        resume=resume, check=None if factor is None else check, log_axis=1,
    )  # fmt: skip
    trained = {**batch["params"], "w": carry[0]}
    out = distributed.whole((trained, history_of(logs)))  # complete on every process
    return jax.tree_util.tree_map(lambda a: a[:runs], out)


def _row(tree, r):
    return jax.tree_util.tree_map(lambda a: a[r], tree)


@functools.lru_cache(maxsize=64)
def _programs(cfg: GDConfig, mesh):
    """The jitted batch pieces for ``cfg``: start, chunk (``num_logs`` static) and finish, each
    ``train_gd``'s piece vmapped over the runs, and with a mesh a ``shard_map`` over its
    ``"runs"`` axis. Cached: a second sweep with the same configuration compiles nothing new."""

    def start(batch, shared):
        def one(p, s):
            return gd.start(p, shared["x"], shared["y"], cfg, node_scale=s,
                            x_test=shared["x_test"], y_test=shared["y_test"])  # fmt: skip

        return jax.vmap(one)(batch["params"], batch["node_scale"])

    def chunk(num_logs, batch, shared, carry, first_log):
        def one(p, s, c):
            test = {"x_test": shared["x_test"], "y_test": shared["y_test"]}
            return gd.advance(p, shared["x"], shared["y"], cfg, c, first_log, num_logs,
                              node_scale=s, **test)  # fmt: skip

        return jax.vmap(one)(batch["params"], batch["node_scale"], carry)

    def finish(batch, shared, first, logs):
        def one(p, s, f, h):
            return gd.finish(p, shared["x"], cfg, gd.join(f, h), node_scale=s)

        return jax.vmap(one)(batch["params"], batch["node_scale"], first, logs)

    runs, same = jax.sharding.PartitionSpec(RUNS), jax.sharding.PartitionSpec()
    if mesh is not None:  # in_specs: the runs split, the shared data and log index replicated
        start = _over_runs(start, mesh, (runs, same))
        finish = _over_runs(finish, mesh, (runs, same, runs, runs))
    chunks = {}

    def chunk_of(num_logs):  # one compiled chunk per size (the last may be shorter)
        if num_logs not in chunks:
            fn = functools.partial(chunk, num_logs)
            if mesh is not None:
                fn = _over_runs(fn, mesh, (runs, same, runs, same))
            chunks[num_logs] = jax.jit(fn)
        return chunks[num_logs]

    return (
        jax.jit(start),
        lambda batch, shared, carry, first_log, num_logs: chunk_of(num_logs)(
            batch, shared, carry, first_log
        ),
        jax.jit(finish),
    )


def _over_runs(fn, mesh, in_specs):
    """``fn`` on each device's share of the runs (``shard_map``; no collective inside)."""
    unchecked = {"check_vma": False} if hasattr(jax, "shard_map") else {"check_rep": False}
    return _shard_map()(
        fn, mesh=mesh, in_specs=in_specs, out_specs=jax.sharding.PartitionSpec(RUNS), **unchecked
    )
